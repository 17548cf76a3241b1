"""Bayesian optimization with scikit-optimize (``bo`` / ``NaspBO`` / ``nasp_bo``).

The generic ask/tell contract is in test_contract.py; here: the space mapping, the model phase,
the constant liar, failures, options, a comparison with random search, and real NNI/AutoGluon use.
"""
from __future__ import annotations

import json
import math
import pickle
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from autogluon.common.space import Categorical, Int, Real
from conftest import ask_tell, keys, nni_config
from test_nni import assert_paired

from nas_plugins.space import Space, config_key
from tuners import registry
from tuners.hosts.nni_experiment import free_port, run
from tuners.hosts.nni_host import build_options
from tuners.skopt_bo import BayesOpt, _decode, _dimensions, _encode, _filler, _skopt_dimension


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


# -- mapping ---------------------------------------------------------------------------------------
def test_dimensions_flatten_nested_choices():
    from skopt.space import Categorical, Integer, Real
    dims = dict(_dimensions(MIXED))
    assert list(dims) == ["lr", "dropout", "layers", "act", "op", "op/conv/k", "op/conv/scale",
                          "op/pool/kind", "init", "width"]
    sk = {path: _skopt_dimension(path, p) for path, p in dims.items()}
    assert isinstance(sk["lr"], Real) and sk["lr"].prior == "log-uniform"
    assert isinstance(sk["dropout"], Real) and sk["dropout"].prior == "uniform"
    assert isinstance(sk["layers"], Integer) and sk["layers"].bounds == (1, 4)
    assert isinstance(sk["act"], Categorical) and sk["act"].categories == (0, 1, 2, 3)   # indices
    assert sk["init"].bounds == (-3, 3)                      # mu +- 3 sigma
    assert sk["width"].bounds == (1.5, 4.5)                  # lognormal: in log space


def test_encode_decode_and_inactive_filler():
    config = {"lr": 1e-3, "dropout": 0.25, "layers": 2, "act": {"kind": "leaky", "slope": 0.1},
              "op": {"_name": "pool", "kind": "avg"}, "init": 7.0, "width": 20.0}
    values = _encode(MIXED, config)
    assert values == {"lr": 1e-3, "dropout": 0.25, "layers": 2, "act": 1, "op": 1, "op/pool/kind": 1,
                      "init": 3.0, "width": pytest.approx(math.log(20))}   # init clipped to mu + 3 sigma
    dims = _dimensions(MIXED)
    row = [values.get(path, _filler(p)) for path, p in dims]
    # The inactive conv branch's dimensions hold the filler: lower bound / first category.
    assert dict(zip([path for path, _ in dims], row))["op/conv/k"] == 1
    assert dict(zip([path for path, _ in dims], row))["op/conv/scale"] == 0.1
    back = _decode(MIXED, values)
    assert back == {**config, "init": 3.0, "width": 20.0}
    assert back["op"] == {"_name": "pool", "kind": "avg"}       # only the active branch
    # Quantization and clipping after skopt proposes.
    assert _decode(MIXED, {**values, "dropout": 0.2624})["dropout"] == pytest.approx(0.25)
    assert _decode(MIXED, {**values, "width": math.log(20.4)})["width"] == 20.0


# -- proposals ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("estimator", ["GP", "RF", "ET"])
def test_proposals_lie_in_the_space(estimator):
    bo = BayesOpt(MIXED, base_estimator=estimator, n_initial_points=6, seed=0)
    configs = ask_tell(bo, toy, 24)
    for config in configs:
        assert MIXED.check(config)                              # also: no inactive branch parameters
        assert json.loads(json.dumps(config, allow_nan=False)) == config
        assert round(config["dropout"] / 0.05, 6).is_integer() and float(config["width"]).is_integer()
    assert len(set(keys(configs))) == 24
    assert {c["op"]["_name"] for c in configs[6:]} >= {"conv"}


@pytest.mark.parametrize("estimator", ["GP", "RF"])
def test_log_dimension_is_searched_in_log_space(estimator):
    """lr does not matter: its proposals follow the log-uniform prior, in both phases."""
    space = Space.from_nni({"lr": spec("loguniform", 1e-5, 1e-1), "x": spec("uniform", 0, 1)})
    bo = BayesOpt(space, base_estimator=estimator, n_initial_points=40, seed=3)
    initial = ask_tell(bo, lambda c: -(c["x"] - 0.3) ** 2, 40)
    model = ask_tell(bo, lambda c: -(c["x"] - 0.3) ** 2, 40)
    for phase in (initial, model):
        median = statistics.median(math.log10(c["lr"]) for c in phase)
        assert -4.5 < median < -1.8, median                     # linear sampling would give about -1.3
    assert abs(statistics.median(c["x"] for c in model) - 0.3) < 0.2    # and x is being optimised


@pytest.mark.parametrize("estimator", ["GP", "ET"])
def test_concurrent_asks_in_the_model_phase_are_distinct(estimator, monkeypatch):
    from skopt import Optimizer
    told, original = [], Optimizer.tell

    def spy(self, x, y, fit=True):
        told.append((x, y))
        return original(self, x, y, fit)

    monkeypatch.setattr(Optimizer, "tell", spy)
    bo = BayesOpt(MIXED, base_estimator=estimator, n_initial_points=5, seed=1)
    ask_tell(bo, toy, 5)
    told.clear()
    pending = [bo.ask() for _ in range(8)]
    assert len(set(keys(pending))) == 8
    # Constant liar "cl_min": the i-th ask saw the 5 results plus i pending lies at the best loss.
    best_loss = -bo.best.value
    assert len(told) == 8
    for i, (X, y) in enumerate(told):
        assert len(X) == 5 + i and y[5:] == [best_loss] * i
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
    kept = sorted(int(v["x"]) for v, _ in bo._training_set())
    best = sorted(range(30), key=lambda i: (i * 7) % 30)[:5]
    recent = [i for i in range(29, -1, -1) if i not in best][:5]
    assert kept == sorted(best + recent)


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
        bo = BayesOpt(space, base_estimator="GP", n_initial_points=5, seed=seed, mode="min")
        rs = registry.create("random", space, seed=seed, mode="min")
        for strategy, best in ((bo, bo_best), (rs, random_best)):
            for _ in range(25):
                config = strategy.ask()
                strategy.tell(config, loss(config))
            best.append(strategy.best.value)
    assert statistics.mean(bo_best) < statistics.mean(random_best) / 3, (bo_best, random_best)


@pytest.mark.parametrize("estimator", ["GP", "RF", "ET"])
def test_seeded_and_pickles_mid_run(estimator):
    make = lambda seed: BayesOpt(MIXED, base_estimator=estimator, n_initial_points=4, seed=seed)
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
                            "op": spec("choice", {"_name": "one", "k": spec("choice", 3)})})
    assert [path for path, _ in _dimensions(space)] == ["x"]
    configs = ask_tell(BayesOpt(space, n_initial_points=2, seed=0), lambda c: c["x"], 6)
    assert all(space.check(c) and c["op"] == {"_name": "one", "k": 3} for c in configs)


# -- options -------------------------------------------------------------------------------------------
def test_gbrt_is_rejected_with_a_reason():
    with pytest.raises(ValueError, match="GBRT is broken in scikit-optimize 0.10.2 with numpy 2.*'RF' or 'ET'"):
        BayesOpt(MIXED, base_estimator="GBRT")
    with pytest.raises(ValueError, match="NaspBO classArgs: .*GBRT is broken"):
        build_options("NaspBO", {"base_estimator": "GBRT"})


@pytest.mark.parametrize("options, words", [
    ({"kappa": 1.96}, "unknown option 'kappa'"), ({"base_estimator": "gp"}, "base_estimator must be one of GP, RF, ET"),
    ({"acq_func": "EIps"}, "acq_func must be one of"), ({"n_initial_points": 0}, "n_initial_points"),
    ({"n_initial_points": 2.5}, "n_initial_points"), ({"max_observations": 1}, "max_observations"),
    ({"max_observations": True}, "max_observations"),
])
def test_bad_options_are_rejected(options, words):
    with pytest.raises(ValueError, match=words):
        registry.create("bo", MIXED, **options)


@pytest.mark.parametrize("acq_func", ["PI", "LCB", "gp_hedge"])
def test_other_acquisition_functions(acq_func):
    bo = BayesOpt(MIXED, acq_func=acq_func, n_initial_points=3, seed=0)
    assert all(MIXED.check(c) for c in ask_tell(bo, toy, 6))


def test_skopt_is_imported_lazily():
    out = subprocess.run([sys.executable, "-c", "import sys, tuners; print('skopt' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_overhead():
    """ask+tell with 200 results on a 7-dimensional mixed space stays well under a second or two."""
    space = Space.from_nni({"lr": spec("loguniform", 1e-5, 1e-1), "wd": spec("qloguniform", 1e-6, 1e-2, 1e-6),
                            "dropout": spec("uniform", 0, 0.5), "units": spec("quniform", 16, 256, 16),
                            "layers": spec("randint", 1, 6), "act": spec("choice", "relu", "tanh", "gelu"),
                            "opt": spec("choice", "sgd", "adam", "rmsprop")})
    rng = np.random.default_rng(0)
    bo = BayesOpt(space, seed=0)
    for _ in range(200):
        config = space.sample(rng)
        bo.tell(config, -(math.log10(config["lr"]) + 3) ** 2 + config["dropout"])
    bo.tell(bo.ask(), 0.0)                                       # imports skopt
    times = []
    for _ in range(3):
        start = time.perf_counter()
        bo.tell(bo.ask(), 0.0)
        times.append(time.perf_counter() - start)
    assert statistics.median(times) < 2.5, times


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



@pytest.mark.parametrize("estimator", ["GP", "RF"])
def test_all_categorical_space(estimator):
    """A NAS cell (six op choices, as NAS-Bench-201): skopt's GP needs sampling, not L-BFGS, here."""
    ops = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
    space = Space.from_nni({f"edge{i}": {"_type": "choice", "_value": ops} for i in range(6)})
    bo = BayesOpt(space, base_estimator=estimator, n_initial_points=3, seed=0)
    seen = set()
    for _ in range(12):
        config = bo.ask()
        space.check(config)
        seen.add(config_key(config))
        bo.tell(config, sum(ops.index(v) for v in config.values()))
    assert len(seen) == 12


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
