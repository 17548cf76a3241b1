"""Bayesian optimization with our own GP (``bo`` / ``NaspBO`` / ``nasp_bo``; tuners/skopt_bo.py, nas_plugins/gp.py).

The generic ask/tell contract is in test_contract.py; here: the GP maths, the unit-cube mapping, the
model phase, the constant liar, failures, options, a comparison with random search, and real
NNI/AutoGluon use.
"""
from __future__ import annotations

import json
import math
import pickle
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from autogluon.common.space import Categorical, Int, Real
from conftest import ask_tell, keys, nni_config
from scipy.optimize import approx_fprime
from scipy.stats import norm
from test_nni import assert_paired

from nas_plugins import gp
from nas_plugins.space import Space, config_key
from tuners import registry
from tuners.hosts.nni_experiment import free_port, run
from tuners.hosts.nni_host import ADAPTERS, build_options
from tuners.skopt_bo import BayesOpt, UnitCube


def spec(type_: str, *value) -> dict:
    return {"_type": type_, "_value": list(value)}


MIXED = Space.from_nni({
    "lr": spec("loguniform", 1e-5, 1e-1),
    "dropout": spec("quniform", 0, 0.5, 0.05),
    "layers": spec("randint", 1, 5),
    "act": spec("choice", "relu", {"kind": "leaky", "slope": 0.1}, [1, 2], None),
    "op": spec("choice", {"_name": "conv", "k": spec("randint", 1, 4), "scale": spec("loguniform", 0.1, 10)},
               {"_name": "pool", "kind": spec("choice", "max", "avg")}, {"_name": "skip"}),
    "init": spec("normal", 0, 1),
    "width": spec("qlognormal", 3, 0.5, 1),
})


def toy(config: dict) -> float:
    """A value to maximise over MIXED, best near lr=1e-3, dropout=0.2, op=conv."""
    value = -(math.log10(config["lr"]) + 3) ** 2 - 4 * (config["dropout"] - 0.2) ** 2 - 0.1 * config["layers"]
    return value + (1.0 if config["op"]["_name"] == "conv" else 0.0) - 0.1 * abs(config["init"])


# -- the GP ----------------------------------------------------------------------------------------
def test_gp_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(30, 5))
    groups = np.array([0, 1, 2, 2, 3])                    # columns 2 and 3 share a lengthscale
    y = np.sin(5 * X[:, 0]) + X[:, 1] + 0.1 * rng.normal(size=30)
    D = gp._group_sq_dists(X, groups, 4)
    for theta in (gp.prior_mode(4), gp.prior_mode(4) + rng.normal(scale=0.5, size=6)):
        value, grad = gp.neg_log_posterior(theta, D, y)
        numeric = approx_fprime(theta, lambda t: gp.neg_log_posterior(t, D, y)[0], 1e-6)
        assert np.allclose(grad, numeric, rtol=1e-4, atol=1e-3), (grad, numeric)


def test_gp_fit_finds_the_relevant_inputs_and_interpolates():
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(40, 3))
    y = np.sin(6 * X[:, 0])                               # only column 0 matters
    groups = np.arange(3)
    theta = gp.fit(X, (y - y.mean()) / y.std(), groups)
    lengthscales = np.exp(theta[:3])
    assert lengthscales[0] < 1 and lengthscales[1] > 3 * lengthscales[0] and lengthscales[2] > 3 * lengthscales[0]
    post = gp.Posterior(X, (y - y.mean()) / y.std(), groups, theta)
    Xt = rng.uniform(size=(50, 3))
    mean, var = post.predict(Xt)
    assert np.abs(mean * y.std() + y.mean() - np.sin(6 * Xt[:, 0])).max() < 0.1
    assert np.all(var > 0) and np.all(var < 0.05)
    assert np.allclose(gp.fit(X, (y - y.mean()) / y.std(), groups, theta), theta, atol=1e-3)   # warm start: a fixed point


def test_posterior_extend_equals_a_full_refactorisation():
    rng = np.random.default_rng(2)
    X, y = rng.uniform(size=(20, 2)), rng.normal(size=20)
    groups, theta = np.array([0, 1]), gp.prior_mode(2)
    extended = gp.Posterior(X[:15], y[:15], groups, theta).extend(X[15:], y[15:])
    full = gp.Posterior(X, y, groups, theta)
    Xt = rng.uniform(size=(10, 2))
    for a, b in zip(extended.predict(Xt), full.predict(Xt)):
        assert np.allclose(a, b, atol=1e-8)


def test_acquisition_functions():
    mean, var, best = np.array([0.0, 1.0, -0.5, 40.0]), np.array([1.0, 0.25, 0.04, 1.0]), 0.2
    sd = np.sqrt(var)
    u = (best - mean) / sd
    ei = sd * (norm.pdf(u) + u * norm.cdf(u))
    assert np.allclose(np.exp(gp.log_ei(mean[:3], var[:3], best)), ei[:3], rtol=1e-10)
    assert np.isfinite(gp.log_ei(mean, var, best)).all()     # far from the incumbent: EI underflows, log-EI does not
    assert gp.log_ei(mean, var, best)[3] < -700
    far = gp.log_ei(np.array([1e4, 1e5]), np.ones(2), 0.0)
    assert np.isfinite(far).all() and far[0] > far[1]
    assert np.allclose(np.exp(gp.log_pi(mean, var, best)), norm.cdf(u))
    assert np.allclose(gp.neg_lcb(mean, var, 2.0), -(mean - 2 * sd))


def test_yeo_johnson_power_is_the_maximum_likelihood_one():
    from scipy import stats
    rng = np.random.default_rng(3)
    for sign in (1, -1):                                         # a long tail of bad (or of very good) results
        x = sign * np.concatenate([rng.normal(size=40), rng.exponential(5, size=6)])
        x = (x - x.mean()) / x.std()
        warped, power = gp.yeo_johnson(x)
        assert np.allclose(warped, stats.yeojohnson(x, power))
        assert abs(power - stats.yeojohnson_normmax(x)) < 0.02
        assert stats.skew(warped) * sign < stats.skew(x) * sign     # the tail is pulled in


# -- the unit cube ---------------------------------------------------------------------------------
def test_cube_flattens_nested_choices():
    cube = UnitCube(MIXED)
    assert [d.path for d in cube.dims] == ["lr", "dropout", "layers", "act", "op", "op/conv/k", "op/conv/scale",
                                           "op/pool/kind", "init", "width"]
    assert [d.width for d in cube.dims] == [1, 1, 1, 4, 3, 1, 1, 2, 1, 1]
    assert cube.columns == 16 and cube.groups.tolist() == [0, 1, 2, 3, 3, 3, 3, 4, 4, 4, 5, 6, 7, 7, 8, 9]
    conv_k = cube.dims[5]
    assert (conv_k.parent, conv_k.option) == (4, 0)      # active when "op" chooses its branch 0


def test_encode_decode_and_inactive_filler():
    cube = UnitCube(MIXED)
    config = {"lr": 1e-3, "dropout": 0.25, "layers": 2, "act": {"kind": "leaky", "slope": 0.1},
              "op": {"_name": "pool", "kind": "avg"}, "init": 7.0, "width": 20.0}
    row = cube.encode(config)
    col = {d.path: row[d.start:d.start + d.width].tolist() for d in cube.dims}
    assert col["lr"] == [pytest.approx(0.5)] and col["dropout"] == [0.5] and col["layers"] == [0.375]
    assert col["act"] == [0, 1, 0, 0] and col["op"] == [0, 1, 0] and col["op/pool/kind"] == [0, 1]
    assert col["op/conv/k"] == [0.5] and col["op/conv/scale"] == [0.5]   # the inactive branch: filler
    assert col["init"] == [1.0]                                          # clipped to mu + 3 sigma
    assert col["width"] == [pytest.approx((math.log(20) - 1.5) / 3)]     # lognormal: in log space
    back = cube.decode(row)
    assert back == {**config, "lr": pytest.approx(1e-3), "init": 3.0}
    assert back["op"] == {"_name": "pool", "kind": "avg"}                # only the active branch
    # Quantization and clipping of a row the optimizer moved.
    moved = row.copy()
    moved[cube.dims[1].start] = 0.5248                                   # dropout 0.2624
    moved[cube.dims[9].start] = (math.log(20.4) - 1.5) / 3
    assert cube.decode(moved)["dropout"] == pytest.approx(0.25) and cube.decode(moved)["width"] == 20.0


def test_snapped_rows_are_the_rows_of_their_configurations():
    """Candidates are scored where the configuration they decode to would be told: snap(U) is a fixed
    point of encode(decode(.)), for prior samples and perturbed rows alike."""
    cube = UnitCube(MIXED)
    rng = np.random.default_rng(0)
    rows = np.vstack([cube.sample(rng, 300), cube.perturb(cube.sample(rng, 100), 0.3, rng)])
    assert np.array_equal(cube.snap(rows), rows)
    for row in rows:
        config = cube.decode(row)
        assert MIXED.check(config)
        assert np.allclose(cube.encode(config), row, atol=1e-9)


def test_cube_samples_follow_the_prior():
    space = Space.from_nni({"lr": spec("loguniform", 1e-5, 1e-1), "n": spec("randint", 0, 3),
                            "c": spec("choice", "a", "b")})
    cube = UnitCube(space)
    configs = [cube.decode(r) for r in cube.sample(np.random.default_rng(0), 3000)]
    assert abs(statistics.median(math.log10(c["lr"]) for c in configs) + 3) < 0.1
    for value in (0, 1, 2):
        assert abs(sum(c["n"] == value for c in configs) / 3000 - 1 / 3) < 0.03
    assert abs(sum(c["c"] == "a" for c in configs) / 3000 - 0.5) < 0.03


# -- proposals ---------------------------------------------------------------------------------------
def test_proposals_lie_in_the_space():
    bo = BayesOpt(MIXED, n_initial_points=6, seed=0)
    configs = ask_tell(bo, toy, 24)
    for config in configs:
        assert MIXED.check(config)                              # also: no inactive branch parameters
        assert json.loads(json.dumps(config, allow_nan=False)) == config
        assert round(config["dropout"] / 0.05, 6).is_integer() and float(config["width"]).is_integer()
    assert len(set(keys(configs))) == 24
    assert {c["op"]["_name"] for c in configs[6:]} >= {"conv"}


def test_log_dimension_is_searched_in_log_space():
    """The prior samples of a log parameter are log-uniform, and the model sees it on the log scale: an
    optimum at lr = 10^-3.5 (0.03% of the linear range) is found."""
    space = Space.from_nni({"lr": spec("loguniform", 1e-5, 1e-1), "x": spec("uniform", 0, 1)})
    bo = BayesOpt(space, n_initial_points=10, seed=3)
    objective = lambda c: -(math.log10(c["lr"]) + 3.5) ** 2 - (c["x"] - 0.3) ** 2
    initial = ask_tell(bo, objective, 10)
    model = ask_tell(bo, objective, 20)
    assert -4.5 < statistics.median(math.log10(c["lr"]) for c in initial) < -1.8     # linear would be about -1.3
    assert statistics.median(abs(math.log10(c["lr"]) + 3.5) for c in model[5:]) < 0.2
    assert abs(math.log10(bo.best.config["lr"]) + 3.5) < 0.1


def test_concurrent_asks_in_the_model_phase_are_distinct_and_lie():
    bo = BayesOpt(MIXED, n_initial_points=5, seed=1)
    ask_tell(bo, toy, 5)
    pending = []
    for i in range(8):
        # Constant liar "cl_min": the i-th ask sees the 5 results plus i pending lies at the best loss.
        post, _, z = bo._posterior(bo._training_set())
        assert len(post.y) == 5 + i and np.all(post.y[5:] == z.min())
        pending.append(bo.ask())
    assert len(set(keys(pending))) == 8 and set(bo._pending) == set(keys(pending))
    for config in reversed(pending):
        bo.tell(config, toy(config))
    assert not bo._pending
    more = [bo.ask() for _ in range(3)]
    assert not set(keys(more)) & set(keys(pending)) and len(set(keys(more))) == 3


def test_failed_and_nan_results_are_not_fitted_and_never_reproposed():
    space = Space.from_nni({"a": spec("choice", *range(6)), "b": spec("randint", 0, 3)})  # 18 configs
    bo = BayesOpt(space, n_initial_points=3, seed=0)
    failed = []
    for i in range(12):
        config = bo.ask()
        value = [None, float("nan"), "oops"][i % 3] if i % 2 else config["a"] + config["b"]
        bo.tell(config, value)
        if i % 2:
            failed.append(config)
    assert len(bo._training_set()) == 6                          # only the successes are fitted
    assert all(math.isfinite(loss) for _, loss in bo._training_set())
    rest = [bo.ask() for _ in range(6)]
    assert not set(keys(rest)) & set(keys(failed))
    assert len(set(keys(rest))) == 6
    from nas_plugins.strategy import SpaceExhausted
    with pytest.raises(SpaceExhausted):
        bo.ask()


def test_everything_failing_keeps_sampling_the_prior():
    bo = BayesOpt(MIXED, n_initial_points=2, seed=0)
    configs = [bo.ask() for _ in range(5)]
    for config in configs:
        bo.tell(config, float("nan"))
    assert MIXED.check(bo.ask()) and bo.best is None


def test_training_set_cap_keeps_the_best_half_and_the_most_recent():
    space = Space.from_nni({"x": spec("uniform", 0, 100)})
    bo = BayesOpt(space, max_observations=10, mode="min", seed=0)
    for i in range(30):
        bo.tell({"x": float(i)}, float((i * 7) % 30))          # losses: a permutation of 0..29
    kept = sorted(int(c["x"]) for c, _ in bo._training_set())
    best = sorted(range(30), key=lambda i: (i * 7) % 30)[:5]
    recent = [i for i in range(29, -1, -1) if i not in best][:5]
    assert kept == sorted(best + recent)
    assert space.check(bo.ask())


def test_hyperparameters_are_refitted_as_the_data_grow():
    """Warm-started refits once the training set grew by 10%; in between only the posterior changes."""
    space = Space.from_nni({"x": spec("uniform", 0, 1), "y": spec("uniform", 0, 1)})
    bo = BayesOpt(space, n_initial_points=2, seed=0)
    sizes = []
    for _ in range(45):
        config = bo.ask()
        bo.tell(config, -(config["x"] - 0.3) ** 2 - 0.01 * config["y"])
        sizes.append(bo._fit_size)
    refits = sorted(set(sizes) - {0})
    assert refits[:9] == list(range(2, 11))                     # every result while there are few
    assert all(b - a == max(1, int(0.1 * a)) for a, b in zip(refits, refits[1:]))
    assert np.exp(bo._theta[1]) > 2 * np.exp(bo._theta[0])       # y barely matters: a longer lengthscale


@pytest.mark.parametrize("mode", ["min", "max"])
def test_mode_is_respected(mode):
    space = Space.from_nni({"x": spec("uniform", 0, 1)})
    bo = BayesOpt(space, n_initial_points=4, seed=0, mode=mode)
    configs = ask_tell(bo, lambda c: c["x"], 16)
    tail = statistics.mean(c["x"] for c in configs[8:])
    assert (tail > 0.8) if mode == "max" else (tail < 0.2), tail


def test_beats_random_search_on_a_quadratic():
    """Mean over 5 seeds of the best value after 25 evaluations: BO (GP) < random search."""
    space = Space.from_nni({"x": spec("uniform", -2, 2), "y": spec("uniform", -2, 2)})

    def loss(c):
        return (c["x"] - 0.7) ** 2 + 2 * (c["y"] + 0.4) ** 2

    bo_best, random_best = [], []
    for seed in range(5):
        bo = BayesOpt(space, n_initial_points=5, seed=seed, mode="min")
        rs = registry.create("random", space, seed=seed, mode="min")
        for strategy, best in ((bo, bo_best), (rs, random_best)):
            for _ in range(25):
                config = strategy.ask()
                strategy.tell(config, loss(config))
            best.append(strategy.best.value)
    assert statistics.mean(bo_best) < statistics.mean(random_best) / 3, (bo_best, random_best)


@pytest.mark.parametrize("acq_func", ["EI", "gp_hedge"])
def test_seeded_and_pickles_mid_run(acq_func):
    make = lambda seed: BayesOpt(MIXED, acq_func=acq_func, n_initial_points=4, seed=seed)
    bo = make(5)
    first = ask_tell(bo, toy, 8)
    pending = [bo.ask(), bo.ask()]                              # in flight when pickled
    copy = pickle.loads(pickle.dumps(bo))
    for c in pending:
        bo.tell(c, toy(c))
        copy.tell(c, toy(c))
    assert ask_tell(copy, toy, 4) == ask_tell(bo, toy, 4)
    assert ask_tell(make(5), toy, 8) == first                      # same seed, same proposals
    assert keys(ask_tell(make(6), toy, 8)) != keys(first)


def test_single_valued_parameters_are_not_dimensions():
    space = Space.from_nni({"c": spec("choice", "only"), "n": spec("randint", 2, 3), "x": spec("uniform", 0, 1),
                            "op": spec("choice", {"_name": "one", "k": spec("choice", 3), "y": spec("uniform", 0, 1)})})
    cube = UnitCube(space)
    assert [d.path for d in cube.dims] == ["x", "op/one/y"] and cube.dims[1].parent is None   # y: always active
    configs = ask_tell(BayesOpt(space, n_initial_points=2, seed=0), lambda c: c["x"] - c["op"]["y"], 8)
    assert all(space.check(c) and c["op"]["_name"] == "one" and c["op"]["k"] == 3 for c in configs)
    assert len({c["op"]["y"] for c in configs}) == 8


# -- options -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("estimator", ["RF", "ET", "GBRT"])
def test_removed_estimators_are_rejected_with_a_reason(estimator):
    with pytest.raises(ValueError, match=f"base_estimator '{estimator}' is not supported: bo's surrogate is its own "
                                         "Gaussian process.*use 'GP'"):
        BayesOpt(MIXED, base_estimator=estimator)
    with pytest.raises(ValueError, match="NaspBO classArgs: .*is not supported"):
        build_options("NaspBO", {"base_estimator": estimator})


@pytest.mark.parametrize("options, words", [
    ({"kappa": 1.96}, "unknown option 'kappa'"), ({"base_estimator": "gp"}, "base_estimator must be one of GP, got 'gp'"),
    ({"acq_func": "EIps"}, "acq_func must be one of EI, PI, LCB, gp_hedge, got 'EIps'"),
    ({"n_initial_points": 0}, "n_initial_points must be an integer >= 1, got 0"),
    ({"n_initial_points": 2.5}, "n_initial_points"), ({"max_observations": 1}, "max_observations must be an integer >= 2"),
    ({"max_observations": True}, "max_observations"),
])
def test_bad_options_are_rejected(options, words):
    with pytest.raises(ValueError, match=words):
        registry.create("bo", MIXED, **options)


@pytest.mark.parametrize("acq_func", ["PI", "LCB", "gp_hedge"])
def test_other_acquisition_functions(acq_func):
    bo = BayesOpt(MIXED, acq_func=acq_func, n_initial_points=3, seed=0)
    configs = ask_tell(bo, toy, 8)
    assert all(MIXED.check(c) for c in configs) and len(set(keys(configs))) == 8


def test_gp_hedge_credits_the_functions_by_the_model_at_their_proposals():
    space = Space.from_nni({"x": spec("uniform", -2, 2), "y": spec("uniform", -2, 2)})
    bo = BayesOpt(space, acq_func="gp_hedge", n_initial_points=4, seed=0, mode="min")
    ask_tell(bo, lambda c: (c["x"] - 0.5) ** 2 + c["y"] ** 2, 12)
    assert bo._hedge_last.shape == (3, 2)                       # EI's, PI's and LCB's last proposals
    assert np.all(bo._hedge_gains != 0) and np.isfinite(bo._hedge_gains).all()


def test_gp_is_host_agnostic_and_imported_lazily():
    """nas_plugins.gp imports no host nor tuner; `import tuners` does not import the GP (nor scipy.stats);
    a model-phase run never imports scikit-optimize."""
    def run_python(code: str) -> str:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()

    assert run_python("import sys; from nas_plugins import gp; "
                      "print(sorted(m for m in ('nni', 'autogluon', 'ray', 'tuners') if m in sys.modules))") == "[]"
    out = run_python("import sys, tuners\n"
                     "print('nas_plugins.gp' in sys.modules, 'scipy.stats' in sys.modules)\n"
                     "from nas_plugins.space import Space; from tuners.skopt_bo import BayesOpt\n"
                     "bo = BayesOpt(Space.from_nni({'x': {'_type': 'uniform', '_value': [0, 1]}}), n_initial_points=2, seed=0)\n"
                     "for _ in range(4):\n    c = bo.ask(); bo.tell(c, c['x'])\n"
                     "print('nas_plugins.gp' in sys.modules, 'skopt' in sys.modules)")
    assert out.split("\n") == ["False False", "True False"], out


def test_many_results_and_import_data():
    """200 results loaded through the NNI adapter's import_data (NNI's path for resumed experiments):
    the model phase starts at once, proposals are new, and the hyperparameters are not refitted on
    every ask (the cost of an ask at this size is the posterior and the acquisition only)."""
    space = {"lr": spec("loguniform", 1e-5, 1e-1), "wd": spec("qloguniform", 1e-6, 1e-2, 1e-6),
             "dropout": spec("uniform", 0, 0.5), "units": spec("quniform", 16, 256, 16),
             "layers": spec("randint", 1, 6), "act": spec("choice", "relu", "tanh", "gelu"),
             "opt": spec("choice", "sgd", "adam", "rmsprop")}
    rng = np.random.default_rng(0)
    parsed = Space.from_nni(space)
    loaded = [parsed.sample(rng) for _ in range(200)]
    tuner = ADAPTERS["bo"]["class"](seed=0, optimize_mode="maximize")
    tuner.update_search_space(space)
    tuner.import_data([{"parameter": c, "value": -(math.log10(c["lr"]) + 3) ** 2 + c["dropout"]} for c in loaded])
    bo = tuner.strategy
    assert len(bo.history) == 200 and len(bo._training_set()) == 200
    proposals = []
    for pid in range(5):
        config = tuner.generate_parameters(pid)
        proposals.append(config)
        tuner.receive_trial_result(pid, config, -(math.log10(config["lr"]) + 3) ** 2 + config["dropout"])
        if pid == 0:
            assert bo._fit_size == 200                          # fitted on the imported results
    assert bo._fit_size == 200                                  # next refit at 220
    assert not set(keys(proposals)) & set(keys(loaded)) and len(set(keys(proposals))) == 5
    assert statistics.median(abs(math.log10(c["lr"]) + 3) for c in proposals) < 0.5


# -- hosts -----------------------------------------------------------------------------------------------
def test_nni_experiment_with_naspbo(tmp_path: Path):
    space = {"x": spec("uniform", 0, 1), "label": spec("choice", "a", "bb", "ccc")}
    config = nni_config(tmp_path, space, tuner="NaspBO", tuner_args={"n_initial_points": 2, "seed": 0},
                        trials=6, concurrency=2)
    exp, records, status = run(config, port=free_port(), timeout=240)
    assert status == "DONE"
    assert len(records) == 6
    assert [r.status for r in records] == ["SUCCEEDED"] * 6
    assert_paired(records)
    assert len({config_key(r.parameters) for r in records}) == 6
    log = (Path(config.experiment_working_directory) / exp.id / "log" / "dispatcher.log").read_text()
    assert "Traceback" not in log


def test_autogluon_searcher():
    from autogluon.core.searcher import searcher_factory

    from tuners.hosts.autogluon_host import register_searchers, searcher_class
    assert "nasp_bo" in register_searchers()
    ag_space = {"lr": Real(1e-4, 1e-1, log=True), "leaves": Int(8, 64), "boost": Categorical("gbdt", "dart"),
                "rounds": 20}
    searcher = searcher_factory("nasp_bo", search_space=ag_space, reward_attribute="acc", scheduler="local",
                                n_initial_points=3, seed=0)
    assert type(searcher) is searcher_class("bo")
    seen = []
    for i in range(8):
        config = searcher.get_config()
        assert config["rounds"] == 20 and 1e-4 <= config["lr"] <= 1e-1
        seen.append(config)
        if i == 4:
            searcher.evaluation_failed(config)
        else:
            searcher.update(config, acc=-abs(math.log10(config["lr"]) + 2) - config["leaves"] / 64)
    assert len({json.dumps(c, sort_keys=True) for c in seen}) == 8
    clone = pickle.loads(pickle.dumps(searcher))
    assert clone.get_config() == searcher.get_config()


def test_tabular_predictor_with_nasp_bo(tmp_path):
    import pandas as pd
    from autogluon.tabular import TabularPredictor

    from tuners.hosts.autogluon_host import register_searchers
    register_searchers()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    data = pd.DataFrame(x, columns=["a", "b", "c"])
    data["label"] = (x[:, 0] - x[:, 1] > 0).astype(int)
    predictor = TabularPredictor(label="label", path=str(tmp_path / "bo"), verbosity=0).fit(
        data, hyperparameters={"GBM": {"learning_rate": Real(0.01, 0.3, log=True), "num_leaves": Int(8, 32),
                                       "num_boost_round": 20, "feature_fraction": 1.0, "min_data_in_leaf": 5}},
        time_limit=120, num_cpus=1, fit_weighted_ensemble=False,
        hyperparameter_tune_kwargs={"scheduler": "local", "searcher": "nasp_bo", "num_trials": 4,
                                    "search_options": {"seed": 0, "n_initial_points": 2}})
    models = predictor.info()["model_info"]
    assert len(models) == 4
    params = {(m["hyperparameters"]["learning_rate"], m["hyperparameters"]["num_leaves"]) for m in models.values()}
    assert len(params) == 4



def test_all_categorical_space():
    """A NAS cell (six op choices, as NAS-Bench-201)."""
    ops = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
    space = Space.from_nni({f"edge{i}": {"_type": "choice", "_value": ops} for i in range(6)})
    bo = BayesOpt(space, n_initial_points=3, seed=0)
    seen = set()
    for _ in range(20):
        config = bo.ask()
        space.check(config)
        seen.add(config_key(config))
        bo.tell(config, sum(ops.index(v) for v in config.values()))
    assert len(seen) == 20
    assert bo.best.value >= 20                                  # the maximum is 24; random search's best of 20: ~17


# -- the automatic warm-up ---------------------------------------------------------------------------
def test_warmup_follows_the_trial_budget():
    """n_initial_points unset: 10 prior samples without a budget (the old default), a quarter of the
    budget (at least 2) with one; the prior samples are random search's, the model's are not."""
    prior = ask_tell(registry.create("random", MIXED, seed=0), toy, 12)
    unknown = BayesOpt(MIXED, seed=0)
    assert unknown.n_initial_points == 10
    assert ask_tell(unknown, toy, 10) == prior[:10]
    small = BayesOpt(MIXED, seed=0)
    small.set_trial_budget(8)
    assert small.n_initial_points == 2
    got = ask_tell(small, toy, 5)
    assert got[:2] == prior[:2] and all(a != b for a, b in zip(got[2:], prior[2:5]))
    twin = BayesOpt(MIXED, seed=0)
    twin.set_trial_budget(8)
    assert ask_tell(twin, toy, 5) == got                    # still one seed, one sequence
    for budget, n in ((20, 5), (40, 10), (500, 10)):
        small.set_trial_budget(budget)
        assert small.n_initial_points == n
    explicit = BayesOpt(MIXED, seed=0, n_initial_points=10)
    explicit.set_trial_budget(8)
    assert explicit.n_initial_points == 10 and ask_tell(explicit, toy, 10) == prior[:10]


def test_warmup_option_pickles_and_old_pickles_load():
    bo = BayesOpt(MIXED, seed=0)
    bo.set_trial_budget(12)
    copy = pickle.loads(pickle.dumps(bo))
    assert copy.n_initial_points == 3 and copy._n_initial_points is None
    # A BayesOpt pickled before the warm-up was automatic stored the option as ``n_initial_points``.
    old = dict(BayesOpt(MIXED, seed=0, n_initial_points=4).__dict__)
    old["n_initial_points"] = old.pop("_n_initial_points")
    del old["trial_budget"]
    restored = BayesOpt.__new__(BayesOpt)
    restored.__setstate__(old)
    assert restored.n_initial_points == 4 and restored.trial_budget is None
    # The scikit-optimize version pickled no GP state and may name a removed surrogate: it resumes with the GP.
    skopt_era = dict(BayesOpt(MIXED, seed=0, n_initial_points=2).__dict__)
    for key in ("_theta", "_fit_size", "_hedge_gains", "_hedge_last", "_cube_cache"):
        skopt_era.pop(key, None)
    skopt_era["base_estimator"] = "RF"
    resumed = BayesOpt.__new__(BayesOpt)
    resumed.__setstate__(skopt_era)
    assert resumed.base_estimator == "GP" and all(MIXED.check(c) for c in ask_tell(resumed, toy, 4))
