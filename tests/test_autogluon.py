"""AutoGluon host adapter: space conversion, the searcher on its own, and real TabularPredictor fits."""
from __future__ import annotations

import json
import math
import os
import pickle

import numpy as np
import pandas as pd
import pytest
from autogluon.common.space import Bool, Categorical, Int, Real, SimpleSpace
from autogluon.core.searcher import searcher_factory
from autogluon.core.searcher.exceptions import ExhaustedSearchSpaceError

from nas_plugins.space import Choice, Float, Integer, SearchSpaceError, Space
from tuners import registry
from tuners.hosts.autogluon_host import (SearcherConfigError, StrategySearcher, check_hyperparameter_tune_kwargs,
                                         register_searchers, searcher_class, space_from_autogluon,
                                         space_to_autogluon)


# -- space conversion ----------------------------------------------------------------------------
def test_autogluon_space_round_trip():
    ag_space = {"lr": Real(1e-3, 1e-1, log=True), "dropout": Real(0.0, 0.5), "layers": Int(1, 4),
                "act": Categorical("relu", "tanh", None), "batch": Categorical(32, 64), "flag": Bool(),
                "epochs": 10, "callback": object}
    space, constants = space_from_autogluon(ag_space)
    assert constants == {"epochs": 10, "callback": object}
    assert space == Space((Float("lr", 1e-3, 1e-1, log=True), Float("dropout", 0.0, 0.5),
                           Integer("layers", 1, 4), Choice("act", ("relu", "tanh", None)),
                           Choice("batch", (32, 64)), Choice("flag", (False, True))))
    back = space_to_autogluon(space)
    assert list(back) == list(space.names)
    for name in ("lr", "dropout", "layers"):
        assert type(back[name]) is type(ag_space[name])
        assert (back[name].lower, back[name].upper) == (ag_space[name].lower, ag_space[name].upper)
    assert back["lr"].log is True and back["dropout"].log is False
    assert type(back["act"]) is Categorical and back["act"].data == ["relu", "tanh", None]
    # Bool is Int(0, 1) in AutoGluon; it comes back as Categorical(False, True), a fixed point.
    assert type(back["flag"]) is Categorical and back["flag"].data == [False, True]
    assert space_from_autogluon(back) == (space, {})


def test_space_round_trip_through_autogluon():
    space = Space.from_nni({"lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]},
                            "x": {"_type": "uniform", "_value": [-1, 1]},
                            "n": {"_type": "randint", "_value": [1, 4]},
                            "opt": {"_type": "choice", "_value": ["sgd", "adam", 0.5, [1, 2]]}})
    ag_space = space_to_autogluon(space)
    assert (ag_space["n"].lower, ag_space["n"].upper) == (1, 3)  # NNI randint's high is exclusive
    assert space_from_autogluon(ag_space) == (space, {})


@pytest.mark.parametrize("spec, words", [
    ({"_type": "choice", "_value": [{"_name": "a", "x": {"_type": "uniform", "_value": [0, 1]}}]},
     "nested choice"),
    ({"_type": "quniform", "_value": [0, 10, 2]}, "quantized"),
    ({"_type": "qloguniform", "_value": [1, 100, 1]}, "quantized"),
    ({"_type": "normal", "_value": [0, 1]}, "normal"),
    ({"_type": "lognormal", "_value": [0, 1]}, "lognormal"),
])
def test_space_to_autogluon_errors_name_the_parameter(spec, words):
    space = Space.from_nni({"ok": {"_type": "uniform", "_value": [0, 1]}, "bad_param": spec})
    with pytest.raises(SearchSpaceError, match=f"'bad_param'.*{words}"):
        space_to_autogluon(space)


def test_space_to_autogluon_rejects_what_autogluon_rejects():
    with pytest.raises(SearchSpaceError, match="'flat'"):
        space_to_autogluon(Space((Float("flat", 1.0, 1.0),)))


class _Custom(SimpleSpace):
    def __init__(self):
        super().__init__(default=0)


@pytest.mark.parametrize("value, words", [
    (Categorical(1, Real(0, 1)), "inside Categorical"),
    (Categorical("a", object()), "not JSON"),
    (Categorical(1.0, float("nan")), "not JSON"),
    (_Custom(), "unsupported AutoGluon space type _Custom"),
    (Int(1.5, 3), "integers"),
    (Int(5, 1), "lower <= upper"),
])
def test_space_from_autogluon_errors_name_the_parameter(value, words):
    with pytest.raises(SearchSpaceError, match=f"'bad_param'.*{words}"):
        space_from_autogluon({"ok": Real(0, 1), "bad_param": value})


# -- the searcher on its own ---------------------------------------------------------------------
AG_SPACE = {"lr": Real(0.01, 0.3, log=True), "leaves": Int(8, 32), "boosting": Categorical("gbdt", "dart"),
            "rounds": 20}


def _asks(searcher: StrategySearcher, n: int) -> list[dict]:
    return [searcher.get_config() for _ in range(n)]


def test_searcher_is_seeded_and_follows_the_strategy():
    Random = searcher_class("nasp_random")
    assert Random is searcher_class("random") and Random.__name__ == "NaspRandomSearcher"
    first = _asks(Random(AG_SPACE, reward_attribute="validation_performance", seed=7,
                         scheduler="local", debug_log=False), 5)   # AG-side kwargs are ignored
    assert first == _asks(Random(AG_SPACE, seed=7), 5)
    assert first != _asks(Random(AG_SPACE, seed=8), 5)
    strategy = registry.create("random", space_from_autogluon(AG_SPACE)[0], seed=7)
    assert first == [{**strategy.ask(), "rounds": 20} for _ in range(5)]
    assert all(list(c) == list(AG_SPACE) for c in first)  # search-space order, constants included


def test_searcher_exhaustion_raises_autogluons_error():
    space = {"leaves": Int(8, 9), "boosting": Categorical("gbdt", "dart"), "rounds": 20}
    for name in ("nasp_grid", "nasp_random"):
        searcher = searcher_class(name)(space, seed=0)
        configs = _asks(searcher, 4)
        assert len({(c["leaves"], c["boosting"]) for c in configs}) == 4
        with pytest.raises(ExhaustedSearchSpaceError):
            searcher.get_config()


def test_searcher_failures_do_not_crash():
    searcher = searcher_class("random")(AG_SPACE, reward_attribute="score", seed=0)
    good, nan, missing, failed, minus_inf = _asks(searcher, 5)
    searcher.update(good, score=0.8)
    searcher.update(nan, score=float("nan"))
    searcher.update(missing)                               # no reward at all
    searcher.evaluation_failed(failed)
    searcher.update(minus_inf, score=-math.inf)            # what AutoGluon reports for a crashed fit
    assert [o.value for o in searcher.strategy.history] == [0.8, None, None, None, None]
    assert all("rounds" not in o.config for o in searcher.strategy.history)  # constants stripped
    assert searcher.get_best_config() == good and searcher.get_best_reward() == 0.8
    assert searcher.get_reward(good) == 0.8 and searcher.get_reward(failed) == -math.inf
    assert len(searcher.get_results()) == 5
    assert searcher.get_config() not in (good, nan, missing, failed, minus_inf)


def test_searcher_rejects_bad_options_and_configs():
    with pytest.raises(ValueError, match="unknown option 'random_seed'"):
        searcher_class("random")(AG_SPACE, random_seed=1)
    with pytest.raises(ValueError, match="unknown option 'grid_points'"):
        searcher_class("random")(AG_SPACE, grid_points=3)
    with pytest.raises(ValueError, match="'mode'"):
        searcher_class("grid")(AG_SPACE, mode="min")
    with pytest.raises(ValueError, match="grid_points"):
        searcher_class("grid")(AG_SPACE, grid_points=0)
    with pytest.raises(SearcherConfigError, match="'nasp_grid': search space parameter 'nested'"):
        searcher_class("grid")({"nested": Categorical(Int(1, 2), 3)})
    with pytest.raises(SearcherConfigError, match="unknown option 'n_init' for 'bo'") as info:
        searcher_class("bo")(AG_SPACE, n_init=3)
    accepted = str(info.value).split("accepted: ")[1].split(", ")
    assert "n_initial_points" in accepted and "mode" not in accepted     # mode is refused, so not offered
    with pytest.raises(TypeError):
        StrategySearcher(AG_SPACE)
    searcher = searcher_class("grid")(AG_SPACE)
    with pytest.raises(SearchSpaceError, match="'leaves'"):
        searcher.update({"lr": 0.1, "leaves": 99, "boosting": "gbdt", "rounds": 20}, reward=1.0)


def test_searcher_pickles_and_registers():
    searcher = searcher_class("grid")(AG_SPACE, grid_points=2)
    searcher.update(searcher.get_config(), reward=1.0)
    clone = pickle.loads(pickle.dumps(searcher))
    assert type(clone) is type(searcher) and clone.get_config() == searcher.get_config()

    names = sorted(a.autogluon_name for a in registry.algorithms("tuner") if a.autogluon_name)
    assert register_searchers() == register_searchers() == names
    assert {"nasp_grid", "nasp_random"} <= set(names)
    made = searcher_factory("nasp_grid", search_space=AG_SPACE, reward_attribute="r", scheduler="local",
                            grid_points=2)
    assert type(made) is searcher_class("grid")


def _htk(searcher: str, **search_options) -> dict:
    return {"scheduler": "local", "searcher": searcher, "num_trials": 5, "search_options": search_options}


def test_check_hyperparameter_tune_kwargs():
    register_searchers()
    ok = _htk("nasp_bo", seed=0, n_initial_points=3)
    assert check_hyperparameter_tune_kwargs(ok) is ok
    for fine in ("auto", None, _htk("local_random"), _htk("random"), _htk("bayes"), _htk("nasp_evolution", n_init=2),
                 {"scheduler": "local", "searcher": "nasp_grid"}):
        check_hyperparameter_tune_kwargs(fine)
    check_hyperparameter_tune_kwargs(_htk("nasp_random", seed=1), search_space=AG_SPACE)
    cases = [
        (_htk("nasp_bo", n_init=3), r"unknown option 'n_init' for 'bo' .*; accepted: base_estimator, acq_func, "
                                    r"n_initial_points, max_observations, proxy_features, proxy_build, proxy_pool, seed, "
                                    r"cost, max_cost, reward_target, reward_w, proxy, proxy_candidates, proxy_top_k$"),
        (_htk("nasp_evolution", n_initial_points=3), "unknown option 'n_initial_points' for 'evolution'"),
        (_htk("nasp_random", mode="min"), "'mode' is not accepted"),
        (_htk("nasp_grid", grid_points=0), "'nasp_grid': grid_points"),
        (_htk("nasp_bo", n_initial_points=0), "'nasp_bo': n_initial_points must be"),
        (_htk("nasp_boo"), r"unknown AutoGluon searcher 'nasp_boo' \(did you mean 'nasp_bo'\?\); ours: nasp_bo, "),
        (_htk("bo"), r"unknown AutoGluon searcher 'bo' \(did you mean 'nasp_bo'\?\)"),
        (_htk("local_randum"), "AutoGluon's: auto, random, local_random"),
        ({"scheduler": "local", "searcher": "nasp_bo", "search_options": [1]}, "search_options must be a dict"),
    ]
    for kwargs, message in cases:
        with pytest.raises(SearcherConfigError, match=message):
            check_hyperparameter_tune_kwargs(kwargs)
    with pytest.raises(SearcherConfigError, match="'nested'"):
        check_hyperparameter_tune_kwargs(_htk("nasp_random"), search_space={"nested": Categorical(Int(1, 2), 3)})


def test_register_searchers_patches_once():
    from autogluon.core.scheduler import seq_scheduler
    from autogluon.tabular.trainer.abstract_trainer import AbstractTabularTrainer
    register_searchers()
    factory, check = seq_scheduler.searcher_factory, AbstractTabularTrainer._check_raise_exception
    register_searchers()
    assert seq_scheduler.searcher_factory is factory and AbstractTabularTrainer._check_raise_exception is check
    assert not hasattr(factory.__wrapped__, "__wrapped__")                 # wrapped once
    assert check(exception=SearcherConfigError("x")) is True
    assert check(exception=ValueError("x")) is False                       # AutoGluon's rules otherwise
    assert check(exception=ValueError("x"), errors="raise") is True


def test_ray_path_takes_our_names_and_search_options(monkeypatch):
    """AutoGluon's Ray path (RayHpoExecutor): our searcher name is accepted, ``search_options`` become the
    Ray searcher's ``searcher_init_args``, and a bad option raises our error before any trial."""
    import importlib.util

    from autogluon.core.hpo.executors import RayHpoExecutor
    monkeypatch.setenv("AG_LOOSE_RAY_VERSION", "True")        # see test_tabular_predictor_on_autogluons_ray_path
    register_searchers()
    with pytest.raises(SearcherConfigError, match="unknown option 'n_init' for 'bo'"):
        RayHpoExecutor().initialize({"scheduler": "local", "searcher": "nasp_bo", "search_options": {"n_init": 3}})
    executor = RayHpoExecutor()
    htk = {"scheduler": "local", "searcher": "nasp_bo", "num_trials": 4, "search_options": {"seed": 1}}
    if importlib.util.find_spec("ray") is None:
        with pytest.raises(SearcherConfigError, match=r"needs ray\[tune\]"):
            executor.initialize(htk)
        return
    executor.initialize(htk)
    assert executor.hyperparameter_tune_kwargs["searcher_init_args"] == {"seed": 1}
    from autogluon.core.hpo.ray_tune_searcher_factory import SearcherFactory

    from tuners.hosts.ray_host import searcher_class as ray_searcher_class
    searcher = SearcherFactory.get_searcher("nasp_bo", {"seed": 1}, metric="m", mode="max", points_to_evaluate=None)
    assert type(searcher) is ray_searcher_class("bo") and searcher.metric == "m"


# -- real TabularPredictor fits ------------------------------------------------------------------
@pytest.fixture(scope="module")
def train_data() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    data = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    data["label"] = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    return data


def _fit(path, data: pd.DataFrame, hyperparameters: dict, searcher: str, num_trials: int,
         search_options: dict, time_limit: float = 120) -> dict[str, dict]:
    """Fit LightGBM with HPO; return {trial model name: its hyperparameters}, in trial order."""
    from autogluon.tabular import TabularPredictor
    register_searchers()
    predictor = TabularPredictor(label="label", path=str(path), verbosity=0).fit(
        data, hyperparameters={"GBM": hyperparameters}, time_limit=time_limit, num_cpus=1,
        fit_weighted_ensemble=False,
        hyperparameter_tune_kwargs={"scheduler": "local", "searcher": searcher, "num_trials": num_trials,
                                    "search_options": search_options})
    info = predictor.info()["model_info"]
    names = sorted(info, key=lambda n: int(n.rsplit("/T", 1)[1]))   # LightGBM/T1, LightGBM/T2, ...
    return {n: info[n]["hyperparameters"] for n in names}


def test_tabular_predictor_with_nasp_random(tmp_path, train_data):
    """The trials are exactly what our strategy proposes for the same space and seed.

    AutoGluon deviation: for LightGBM it silently adds its own default search space for every
    tunable hyperparameter the user leaves unset (``feature_fraction`` and ``min_data_in_leaf``,
    appended after the user's), so "the same space" includes them.
    """
    from autogluon.tabular.models.lgb.hyperparameters.searchspaces import get_default_searchspace
    user = {"learning_rate": Real(0.01, 0.3, log=True), "num_leaves": Int(8, 32)}
    trials = _fit(tmp_path / "random", train_data, {**user, "num_boost_round": 20},
                  "nasp_random", 3, {"seed": 123})
    searched = {**user, **{k: v for k, v in get_default_searchspace("binary").items() if k not in user}}
    space, _ = space_from_autogluon(searched)
    strategy = registry.create("random", space, seed=123)
    expected = [strategy.ask() for _ in range(3)]
    assert len(trials) == 3
    for hp, want in zip(trials.values(), expected):
        assert {k: hp[k] for k in space.names} == want
        assert hp["num_boost_round"] == 20


def test_tabular_predictor_with_nasp_grid_until_exhausted(tmp_path, train_data):
    """A 2x2 grid with num_trials=6: four models, in grid order, then the scheduler stops.

    ``feature_fraction`` and ``min_data_in_leaf`` are fixed so AutoGluon adds no search space of its own.
    """
    user = {"learning_rate": Real(0.01, 0.3, log=True), "num_leaves": Int(8, 9)}
    trials = _fit(tmp_path / "grid", train_data,
                  {**user, "num_boost_round": 20, "feature_fraction": 1.0, "min_data_in_leaf": 5},
                  "nasp_grid", 6, {"grid_points": 2})
    strategy = registry.create("grid", space_from_autogluon(user)[0], grid_points=2)
    expected = [strategy.ask() for _ in range(4)]
    assert [{k: hp[k] for k in user} for hp in trials.values()] == expected
    assert expected[0] == {"learning_rate": 0.01, "num_leaves": 8}


@pytest.mark.parametrize("searcher, options", [
    ("nasp_evolution", {"seed": 1, "population_size": 2, "sample_size": 2}),
    ("nasp_weaknas", {"seed": 1, "n_init": 2, "batch": 1, "top_n": 2}),
])
def test_tabular_predictor_with_nas_searchers(tmp_path, train_data, searcher, options):
    """The NAS searchers run as AutoGluon searchers too: distinct in-space trials past their random start."""
    user = {"learning_rate": Real(0.01, 0.3, log=True), "num_leaves": Int(8, 32),
            "extra_trees": Categorical(False, True)}
    trials = _fit(tmp_path / searcher, train_data,
                  {**user, "num_boost_round": 20, "feature_fraction": 1.0, "min_data_in_leaf": 5},
                  searcher, 4, options)
    space, _ = space_from_autogluon(user)
    picked = [{k: hp[k] for k in user} for hp in trials.values()]
    assert len(picked) == 4 and all(space.contains(p) for p in picked)
    assert len({json.dumps(p, sort_keys=True) for p in picked}) == 4


# GBM with nothing AutoGluon would add a search space of its own for.
FIXED_GBM = {"num_boost_round": 20, "feature_fraction": 1.0, "min_data_in_leaf": 5}


@pytest.mark.parametrize("searcher, options, message", [
    ("nasp_bo", {"seed": 0, "n_init": 3}, r"unknown option 'n_init' for 'bo' .*accepted: .*n_initial_points"),
    ("nasp_random", {"mode": "min"}, "option 'mode' is not accepted"),
    ("nasp_grid", {"grid_points": 0}, "'nasp_grid': grid_points must be"),
    ("nasp_boo", {"seed": 0}, r"unknown AutoGluon searcher 'nasp_boo' \(did you mean 'nasp_bo'\?\)"),
])
def test_tabular_predictor_fit_raises_our_searcher_error(tmp_path, train_data, searcher, options, message):
    """Not AutoGluon's "No models were trained successfully during fit()" with the cause in a warning."""
    with pytest.raises(SearcherConfigError, match=message):
        _fit(tmp_path / "bad", train_data, {"learning_rate": Real(0.01, 0.3, log=True), **FIXED_GBM},
             searcher, 2, options, time_limit=60)


def test_tabular_predictor_scales_the_bo_warmup_to_num_trials(tmp_path, train_data):
    """num_trials=6 reaches nasp_bo as its trial budget: 2 prior samples (a quarter of 6, at least 2),
    then the model. With the fixed warm-up of 10 every trial was random search's proposal."""
    user = {"learning_rate": Real(0.01, 0.3, log=True), "num_leaves": Int(8, 64)}
    trials = _fit(tmp_path / "bo", train_data, {**user, **FIXED_GBM}, "nasp_bo", 6, {"seed": 0})
    picked = [{k: hp[k] for k in user} for hp in trials.values()]
    random = registry.create("random", space_from_autogluon(user)[0], seed=0)
    prior = [random.ask() for _ in range(len(picked))]
    assert len(picked) == 6
    assert picked[:2] == prior[:2]                      # the warm-up: the same prior draws
    assert all(p != q for p, q in zip(picked[2:], prior[2:]))
    explicit = _fit(tmp_path / "bo10", train_data, {**user, **FIXED_GBM}, "nasp_bo", 4,
                    {"seed": 0, "n_initial_points": 10})    # an explicit option wins
    assert [{k: hp[k] for k in user} for hp in explicit.values()] == prior[:4]


def test_tabular_predictor_on_autogluons_ray_path(tmp_path, train_data, monkeypatch):
    """NN_TORCH tunes on AutoGluon's Ray path (a Ray Tune run, trials in Ray workers): ``nasp_random`` is
    selected by the same name and ``search_options`` as on the custom path; the trials run our strategy's
    proposals, and every result reaches it. Skipped without ray (the ``ray`` extra)."""
    ray = pytest.importorskip("ray")
    from autogluon.tabular import TabularPredictor

    from tuners.hosts import ray_host
    # AutoGluon 1.6.3 accepts 2.43.0 <= ray < 2.59.0 (try_import_ray) and otherwise silently falls back to
    # its custom path; the ray extra pins 2.60.0, which runs this path fine.
    monkeypatch.setenv("AG_LOOSE_RAY_VERSION", "True")
    used = []
    original = ray_host.StrategySearcher.suggest

    def suggest(self, trial_id):
        config = original(self, trial_id)
        used.append((self, config))
        return config
    monkeypatch.setattr(ray_host.StrategySearcher, "suggest", suggest)
    register_searchers()
    started = not ray.is_initialized()
    if started:                 # $RAY_ADDRESS: a running cluster, else a local one with 2 CPUs
        ray.init(**({} if os.environ.get("RAY_ADDRESS") else {"num_cpus": 2, "include_dashboard": False}),
                 log_to_driver=False, configure_logging=False)
    try:
        predictor = TabularPredictor(label="label", path=str(tmp_path / "ray"), verbosity=0).fit(
            train_data, hyperparameters={"NN_TORCH": {"learning_rate": Real(1e-4, 1e-2, log=True), "num_epochs": 2}},
            hyperparameter_tune_kwargs={"scheduler": "local", "searcher": "nasp_random", "num_trials": 2,
                                        "search_options": {"seed": 0}},
            num_cpus=2, fit_weighted_ensemble=False, time_limit=120)
    finally:
        if started:
            ray.shutdown()
    searchers = {id(s): s for s, _ in used}
    assert len(searchers) == 1 and len(used) == 2
    (searcher,) = searchers.values()
    assert type(searcher).__name__ == "RandomSearcher" and searcher.strategy.seed == 0
    assert searcher.strategy.trial_budget == 2
    assert [o.value is not None for o in searcher.strategy.history] == [True, True]
    info = predictor.info()["model_info"]
    trials = [info[n]["hyperparameters"] for n in info if n.startswith("NeuralNetTorch/")]
    assert sorted(t["learning_rate"] for t in trials) == sorted(c["learning_rate"] for _, c in used)
    assert all(t["num_epochs"] == 2 for t in trials)
