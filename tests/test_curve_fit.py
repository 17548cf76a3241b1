"""The curve-fitting early stopper (tuners/curve_fit.py): known answers on synthetic curves."""
from __future__ import annotations

import math
import pickle
import statistics
import time
import warnings

import numpy as np
import pytest

from tuners import registry
from tuners.curve_fit import FAMILIES, CurveFit

NAN, INF = float("nan"), float("inf")
T = 52
X = np.arange(1, T + 1, dtype=float)


def saturating(asymptote: float, start: float = 0.3, rate: float = 0.15, noise: float = 0.0, seed: int = 0):
    """An exponential learning curve rising from ``start`` towards ``asymptote``, with optional noise."""
    curve = asymptote - (asymptote - start) * np.exp(-rate * (X - 1))
    return list(curve + np.random.default_rng(seed).normal(0, noise, T))


def stopper(best: float = 0.95, **options) -> CurveFit:
    c = CurveFit(**{"max_step": T, **options})
    c.complete("done", saturating(best, rate=0.2))
    return c


# ----------------------------------------------------------------------------------- decisions

@pytest.mark.parametrize("noise", [0.0, 0.005])
def test_stops_a_curve_heading_well_below_the_best(noise):
    c = stopper(0.95)
    curve = saturating(0.80, noise=noise, seed=1)[:15]
    p = c.probability_of_improvement(curve)
    assert p is not None and p < 0.01
    assert c.should_stop("t", curve) is True


@pytest.mark.parametrize("noise", [0.0, 0.005])
def test_keeps_a_curve_heading_above_the_best(noise):
    c = stopper(0.95)
    curve = saturating(0.99, start=0.2, rate=0.08, noise=noise, seed=2)[:15]    # still below 0.95 at step 15
    assert max(curve) < 0.95
    assert c.probability_of_improvement(curve) > 0.5
    assert c.should_stop("t", curve) is False


def test_keeps_a_curve_still_climbing_steadily():
    # Linear growth in log(x), no saturation in sight: 0.87 at step 15, 0.995 at step 52 if it goes on.
    c = stopper(0.95)
    curve = list(0.6 + 0.1 * np.log(X[:15]))
    assert curve[-1] < 0.9
    assert c.should_stop("t", curve) is False


def test_close_call_is_not_stopped():
    c = stopper(0.95)
    curve = saturating(0.945, noise=0.01, seed=3)[:10]       # 0.005 below the best, noisy: uncertain
    assert c.should_stop("t", curve) is False


def test_decision_flips_as_the_best_improves():
    curve = saturating(0.85, noise=0.003, seed=4)[:15]
    c = CurveFit(max_step=T)
    c.complete("a", saturating(0.80))
    assert c.should_stop("t", curve) is False                # heading above the best so far
    c.complete("b", saturating(0.95))
    assert c.should_stop("t", curve) is True


def test_percent_scale_gives_the_same_decisions():
    # LCBench reports accuracy in percent: the model is scale-free.
    for asymptote, stop in ((0.80, True), (0.99, False)):
        curve = saturating(asymptote, start=0.2, rate=0.08 if asymptote > 0.9 else 0.15, noise=0.004, seed=5)[:15]
        unit, percent = stopper(0.95), CurveFit(max_step=T)
        percent.complete("done", [100 * v for v in saturating(0.95, rate=0.2)])
        assert unit.should_stop("t", curve) is stop
        assert percent.should_stop("t", [100 * v for v in curve]) is stop
        assert percent.probability_of_improvement([100 * v for v in curve]) == \
            pytest.approx(unit.probability_of_improvement(curve), abs=1e-6)


def test_shift_invariance():
    curve = saturating(0.8, noise=0.003, seed=6)[:15]
    a, b = stopper(0.95), CurveFit(max_step=T)
    b.complete("done", [v + 10.0 for v in saturating(0.95, rate=0.2)])
    pa = a.probability_of_improvement(curve)
    pb = b.probability_of_improvement([v + 10.0 for v in curve])
    assert pa == pytest.approx(pb, abs=1e-6)


def test_mode_min_losses():
    # A loss curve decaying to 0.3 against a finished trial at 0.1: stop; one decaying to 0.02: keep.
    c = CurveFit(max_step=T, mode="min")
    c.complete("done", [0.1 + 2.0 * math.exp(-0.2 * (x - 1)) for x in X])
    bad = [0.3 + 2.0 * math.exp(-0.15 * (x - 1)) for x in X[:15]]
    good = [0.02 + 2.5 * math.exp(-0.08 * (x - 1)) for x in X[:15]]
    assert good[-1] > 0.1                                     # not better than the best yet
    assert c.should_stop("t", bad) is True
    assert c.should_stop("t", good) is False
    assert c.best_final == pytest.approx(0.1 + 2.0 * math.exp(-0.2 * 51))
    # The same curves read as accuracies: the bad loss curve now looks great.
    m = CurveFit(max_step=T, mode="max")
    m.complete("done", [0.1 + 2.0 * math.exp(-0.2 * (x - 1)) for x in X])
    assert m.should_stop("t", bad) is False


def test_decreasing_curve_is_judged_against_the_best():
    c = stopper(0.95)
    falling = list(np.linspace(0.9, 0.6, 15))                 # overfitting: the model sees no rise
    assert c.should_stop("t", falling) is True
    lenient = stopper(0.5)
    assert lenient.should_stop("t", falling) is False


# ----------------------------------------------------------------------------------- predictions

@pytest.mark.parametrize("truth, k, tol", [
    (lambda x: 0.9 - 0.5 * x ** -0.7, 20, 0.01),                       # pow3
    (lambda x: 0.9 - 0.6 * np.exp(-x / 8), 26, 0.01),                   # exp3
    (lambda x: 0.85 - 0.6 * np.exp(-(x / 10) ** 1.5), 30, 0.02),         # weibull (sigmoid start)
    (lambda x: 80.0 - 60.0 * x ** -0.5, 15, 1.0),                       # pow3 in percent
])
def test_prediction_of_clean_curves(truth, k, tol):
    p = CurveFit(max_step=T).predict(list(truth(X[:k])))
    assert p is not None and p.step == T
    assert abs(p.mean - truth(T)) < tol
    assert abs(p.mean - truth(T)) < 4 * p.std + 1e-9          # the error is within the stated uncertainty
    assert sum(p.weights.values()) == pytest.approx(1.0)
    assert set(p.weights) <= {f.name for f in FAMILIES} | {f.name + "+log" for f in FAMILIES}


def test_prediction_uncertainty_shrinks_with_more_data_and_grows_with_noise():
    f = lambda x: 0.9 - 0.6 * np.exp(-x / 8)          # noqa: E731
    noise = np.random.default_rng(7).normal(0, 0.01, T)
    c = CurveFit(max_step=T)
    early, late = c.predict(list(f(X[:10]) + noise[:10])), c.predict(list(f(X[:35]) + noise[:35]))
    assert late.std < early.std
    assert abs(late.mean - f(T)) < 0.02
    clean = c.predict(list(f(X[:35])))
    assert clean.std < late.std


def test_prediction_mode_min_is_in_loss_units():
    loss = lambda x: 0.2 + 1.5 * x ** -0.8            # noqa: E731
    p = CurveFit(max_step=T, mode="min").predict(list(loss(X[:20])))
    assert abs(p.mean - loss(T)) < 0.01


def test_prediction_at_another_step():
    f = lambda x: 0.9 - 0.6 * np.exp(-x / 8)          # noqa: E731
    p = CurveFit(max_step=T).predict(list(f(X[:30])), step=40)
    assert p.step == 40 and abs(p.mean - f(40)) < 0.01


def test_missing_reports_keep_their_step():
    f = lambda x: 0.9 - 0.5 * x ** -0.7               # noqa: E731
    curve = list(f(X[:20]))
    holes = [None if i % 3 == 1 else (NAN if i % 5 == 2 else v) for i, v in enumerate(curve)]
    p, q = CurveFit(max_step=T).predict(curve), CurveFit(max_step=T).predict(holes)
    assert abs(q.mean - f(T)) < 0.015 and abs(q.mean - p.mean) < 0.01


def test_long_curves_are_subsampled():
    f = lambda x: 0.9 - 0.5 * x ** -0.7               # noqa: E731
    xs = np.arange(1, 501, dtype=float)
    c = CurveFit(max_step=600, max_fit_points=40)
    p = c.predict(list(f(xs)))
    assert abs(p.mean - f(600)) < 0.005


# ----------------------------------------------------------------------------------- when it abstains

def test_waits_for_start_step_and_min_completed():
    curve = saturating(0.6)[:10]
    c = CurveFit(max_step=T, start_step=8, min_completed=2)
    c.complete("a", saturating(0.95))
    assert c.should_stop("t", curve) is False                 # one finished trial, two required
    c.complete("b", saturating(0.9))
    assert c.should_stop("t", curve[:7]) is False             # before start_step
    assert c.should_stop("t", curve[:8]) is True


def test_failed_and_empty_completions_not_counted():
    c = CurveFit(max_step=T)
    c.complete("failed", saturating(0.99), success=False)
    c.complete("empty", [None, NAN, "x"])
    assert c.best_final is None
    assert c.should_stop("t", saturating(0.1)[:20]) is False
    c.complete("ok", [0.9, NAN, None])                         # final value: the last finite report
    assert c.best_final == 0.9


def test_same_trial_completing_twice_keeps_the_latest():
    c = CurveFit(max_step=T)
    c.complete("a", [0.1, 0.99])
    c.complete("a", [0.1, 0.5])
    assert c.best_final == 0.5


@pytest.mark.parametrize("curve", [
    [0.7] * 20,                                   # constant: no noise or shape to estimate
    [0.5, 0.6, None, NAN],                        # too few finite points
    [None] * 20, [NAN] * 20, [],
    [1e308, -1e308, 1e308, -1e308, 1e308],        # the range overflows
])
def test_abstains_when_it_cannot_fit(curve):
    c = stopper(0.95, start_step=1)
    assert c.predict(curve) is None
    assert c.probability_of_improvement(curve) is None
    assert c.should_stop("t", curve) is False


def test_never_judges_at_or_after_the_last_step():
    c = stopper(0.95, start_step=1)
    assert c.should_stop("t", saturating(0.5)[:T]) is False
    assert c.should_stop("t", saturating(0.5) + [0.5]) is False
    assert c.should_stop("t", saturating(0.5)[:T - 1]) is True


def test_max_step_defaults_to_the_longest_completed_curve():
    c = CurveFit()
    assert c.horizon() is None
    assert c.should_stop("t", saturating(0.5)[:20]) is False   # nothing finished: no horizon
    c.complete("a", saturating(0.95)[:40])
    c.complete("b", saturating(0.90))
    assert c.horizon() == T
    assert c.should_stop("t", saturating(0.5)[:20]) is True


IRREGULAR = [
    [], [None], [NAN], [0.5], [0.5, None], [None, 0.5, None, 0.6], [0.7] * 10, [0.0] * 30, [-1.0] * 20,
    [INF, -INF, NAN, 0.1, 0.2, 0.3], [1e308, -1e308, 1e308, 1.0, 2.0], ["abc", {}, [1], 0.1, 0.2, 0.3, 0.4],
    [True, False, 0.3, 0.4, 0.5, 0.6], list(range(100)), list(range(100, 0, -1)), [None] * 8,
    [1e-320, 5e-324, 1e-321, 2e-320, 3e-320], np.array([0.1, 0.2, 0.3, 0.35, 0.38, 0.4, 0.41]),
    (0.4, 0.5, 0.55, 0.58, 0.6, 0.61), [np.float32(0.3), np.int64(2), 0.5, 0.7, 0.8, 0.85],
    [0.1, 0.9] * 15, [1e12 * v for v in saturating(0.9)], [1e-12 * v for v in saturating(0.9)],
    list(np.random.default_rng(0).normal(0, 1, 40)), [5.0, 5.0, 5.0, 5.0, 5.0 + 1e-15, 5.0],
    [-v for v in saturating(0.9)], [50.0 + 40 * v for v in saturating(0.9, noise=0.05)],
]


@pytest.mark.parametrize("mode", ["max", "min"])
def test_irregular_curves_never_raise_nor_warn(mode):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = CurveFit(max_step=T, start_step=1, mode=mode)
        for curve in IRREGULAR:
            assert type(c.should_stop("t", curve)) is bool
        for i, curve in enumerate(IRREGULAR):
            c.complete(f"c{i}", curve, success=i % 4 != 0)
        for curve in IRREGULAR:
            for prefix in range(min(len(curve), T + 2) + 1):
                part = list(curve)[:prefix]
                assert type(c.should_stop("t", part)) is bool
                p = c.predict(part)
                assert p is None or (math.isfinite(p.mean) and math.isfinite(p.std) and p.std > 0)


# ----------------------------------------------------------------------------------- the contract

def test_registered():
    info = registry.get("NaspCurveFit")
    assert info.name == "curve_fit" and info.kind == "assessor" and info.cls is CurveFit
    assert {"max_step", "start_step", "threshold", "min_completed", "max_fit_points", "mode", "seed"} \
        <= set(info.as_dict()["options"])
    assert isinstance(registry.create("curve_fit", max_step=10), CurveFit)


def test_defaults():
    c = CurveFit()
    assert (c.max_step, c.start_step, c.threshold, c.min_completed, c.max_fit_points, c.mode) == \
        (None, 6, 0.05, 1, 64, "max")


def test_pickle_and_determinism():
    rng = np.random.default_rng(0)
    c = CurveFit(max_step=30, start_step=4, seed=3)
    for i in range(5):
        c.complete(f"t{i}", saturating(0.9 + 0.01 * i, noise=0.01, seed=i)[:30])
    probes = [saturating(rng.uniform(0.6, 1.0), rate=rng.uniform(0.05, 0.3), noise=0.01, seed=i)[:rng.integers(4, 29)]
              for i in range(30)]
    copy = pickle.loads(pickle.dumps(c))
    decisions = [c.should_stop("p", p) for p in probes]
    assert [copy.should_stop("p", p) for p in probes] == decisions
    assert True in decisions and False in decisions
    fresh = CurveFit(max_step=30, start_step=4, seed=99)      # the seed does not matter
    fresh._completed = dict(c._completed)
    assert [fresh.should_stop("p", p) for p in probes] == decisions


@pytest.mark.parametrize("options, word", [
    ({"max_step": 1}, "max_step"), ({"max_step": 0}, "max_step"), ({"max_step": 10.5}, "max_step"),
    ({"max_step": True}, "max_step"), ({"max_step": "52"}, "max_step"),
    ({"start_step": 0}, "start_step"), ({"start_step": 2.0}, "start_step"),
    ({"max_step": 10, "start_step": 10}, "start_step"),
    ({"threshold": 0}, "threshold"), ({"threshold": 1}, "threshold"), ({"threshold": 2}, "threshold"),
    ({"threshold": -0.1}, "threshold"), ({"threshold": NAN}, "threshold"), ({"threshold": True}, "threshold"),
    ({"threshold": "0.05"}, "threshold"),
    ({"min_completed": 0}, "min_completed"), ({"min_completed": False}, "min_completed"),
    ({"max_fit_points": 4}, "max_fit_points"), ({"max_fit_points": 32.0}, "max_fit_points"),
    ({"mode": "maximize"}, "mode"), ({"seed": -1}, "seed"), ({"bogus": 1}, "bogus"),
])
def test_invalid_options(options, word):
    with pytest.raises(ValueError) as info:
        registry.create("curve_fit", **options)
    assert word in str(info.value)


def test_threshold_message():
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\), got 2"):
        CurveFit(threshold=2)


def test_decision_latency():
    c = stopper(0.95)
    curve = saturating(0.9, noise=0.01, seed=8)[:T - 1]
    c.should_stop("warm-up", curve)
    times = []
    for k in (10, 25, T - 1):
        for _ in range(15):
            t0 = time.perf_counter()
            c.should_stop("t", curve[:k])
            times.append(time.perf_counter() - t0)
    assert statistics.median(times) * 1000 < 50          # about 1-3 ms on an idle core
