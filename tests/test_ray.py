"""Ray Tune as a host: every registered tuner as a Searcher and every early stopper as a TrialScheduler,
in real Tune runs on one local Ray cluster (trials in Ray worker processes). Skipped without ray
(``pip install -e .[ray]``).

Each run is sequential (``max_concurrent_trials=1``), so the order of asks and tells is known and a
run can be replayed against our strategy or stopper driven directly. Budget: one cluster for the
module, one short run per algorithm, a few samples each.
"""
from __future__ import annotations

import math
import os
import pickle
import sys

import pytest

ray = pytest.importorskip("ray")
from ray import tune  # noqa: E402

import tuners  # noqa: E402
from nas_plugins.space import config_key  # noqa: E402
from tuners import registry  # noqa: E402
from tuners.hosts.ray_host import (ADAPTERS, BudgetStopper, TuneSpace, make_scheduler,  # noqa: E402
                                   make_searcher)

# Trainables travel to the workers by value: the workers need not import this file.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

TUNERS = [a.name for a in tuners.algorithms("tuner")]
STOPPERS = [a.name for a in tuners.algorithms("assessor")]
# Small multi-fidelity settings: Hyperband R=3, eta=3 is 6 trials, then FINISHED.
TUNER_OPTIONS = {"hyperband": {"R": 3, "eta": 3}, "asha": {"R": 3, "eta": 3, "max_configs": 3}}
# Options under which a stopper judges 6-step curves (as in test_contract), foreground refits.
STOPPER_OPTIONS = {
    "median_stop": {"start_step": 1, "min_completed": 1},
    "curve_fit": {"start_step": 3, "max_step": 6},
    "lcranknet": {"background": False, "online_min_completed": 2, "online_steps": 10, "delta": 0.5},
}
SPACE = {"x": tune.uniform(0, 1), "lr": tune.loguniform(1e-3, 1e-1), "n": tune.randint(1, 4),
         "act": tune.choice(["relu", "tanh"]), "units": tune.qrandint(8, 32, 8), "note": "a constant"}
STEPS = 6   # reports of a stopper test's trial


def value(config: dict, step: int) -> float:
    """The trial's metric after ``step`` iterations (deterministic, rising with the step)."""
    base = config["x"] + 0.1 * config["n"] + 0.05 * (config["act"] == "tanh") + config["units"] / 320 \
        - 0.1 * abs(math.log10(config["lr"]) + 2)
    return base * (1 - 0.5 ** step)


def trainable(config: dict) -> None:
    """One report, or, with a budget, reports until BudgetStopper stops it at config["epochs"]."""
    for step in range(1, 100):
        tune.report({"score": value(config, step)})
        if "epochs" not in config:
            return


def curve_trainable(config: dict) -> None:
    for step in range(1, STEPS + 1):
        tune.report({"score": config["x"] * (1 - 0.6 ** step)})


def flaky(config: dict) -> None:
    kind = config["kind"]
    if kind == "raise":
        raise RuntimeError("this trial fails")
    tune.report({"score": float("nan")} if kind == "nan" else {"other": 1.0} if kind == "missing"
                else {"score": 1.0 if kind == "ok" else 2.0})


class Snapshot(tune.Callback):
    """Pickles and saves ``obj`` (a searcher or scheduler) in the middle of the run, after trial ``after`` ends."""

    def __init__(self, obj, after: int, path: str):
        self.obj, self.after, self.path = obj, after, path
        self.ended: list = []                 # (trial id, config) in the order the trials ended
        self.pickled: bytes | None = None

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.ended.append((trial.trial_id, dict(trial.config)))
        if len(self.ended) == self.after:
            self.pickled = pickle.dumps(self.obj)
            self.obj.save(self.path)


@pytest.fixture(scope="session", autouse=True)
def nni_ready():
    """Overrides the conftest fixture of the same name for this file: no NNI experiment here, so our
    algorithms need no registration with NNI (ray may live in another environment than nnictl)."""
    yield


def start_ray() -> None:
    """Connect to the cluster of ``$RAY_ADDRESS`` (e.g. one started with ``ray start --head`` on chosen
    ports, see docs/scale-out.md), else start a local one with 2 CPUs and no dashboard."""
    if os.environ.get("RAY_ADDRESS"):
        ray.init(log_to_driver=False, configure_logging=False)
    else:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One Ray cluster for the module (:func:`start_ray`); yields a folder for Tune's results."""
    saved = {k: os.environ.get(k) for k in ("RAY_USAGE_STATS_ENABLED", "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS")}
    os.environ.update(RAY_USAGE_STATS_ENABLED="0", TUNE_DISABLE_AUTO_CALLBACK_LOGGERS="1")
    start_ray()
    try:
        yield tmp_path_factory.mktemp("ray_results")
    finally:
        ray.shutdown()
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def fit(cluster, name: str, fn, *, param_space, search_alg, num_samples: int, scheduler=None, mode="max",
        stop=None, callbacks=None, concurrency: int = 1):
    if concurrency > 1:          # 2 CPUs: a quarter each, so that 4 trials run at once
        fn = tune.with_resources(fn, {"cpu": 2 / concurrency})
    tuner = tune.Tuner(fn, param_space=param_space,
                       tune_config=tune.TuneConfig(metric="score", mode=mode, search_alg=search_alg,
                                                   scheduler=scheduler, num_samples=num_samples,
                                                   max_concurrent_trials=concurrency, reuse_actors=concurrency == 1),
                       run_config=tune.RunConfig(name=name, storage_path=str(cluster), verbose=0, stop=stop,
                                                 callbacks=callbacks))
    return tuner.fit()


# ============================================================================= searchers

def test_every_algorithm_has_an_adapter():
    assert set(ADAPTERS) == set(TUNERS) | set(STOPPERS)
    assert all(type(make_searcher(name)).__name__.endswith("Searcher") for name in TUNERS)


@pytest.mark.parametrize("name", TUNERS)
def test_searcher_in_a_tune_run(cluster, tmp_path, name):
    """A Tune run proposes what the strategy asked directly proposes (same seed, same results); a pickle and
    a save taken in the middle of the run propose what the run proposed next; Tune's own checkpoint of the
    searcher restores it."""
    options = {"seed": 0, **TUNER_OPTIONS.get(name, {})}
    multi_fidelity = name in ("hyperband", "asha")
    num_samples = 10 if multi_fidelity else 4
    searcher = make_searcher(name, **options)
    snapshot = Snapshot(searcher, after=2, path=str(tmp_path / "mid.pkl"))
    results = fit(cluster, f"tuner_{name}", trainable, param_space=SPACE, search_alg=searcher,
                  num_samples=num_samples, callbacks=[snapshot], stop=BudgetStopper() if multi_fidelity else None)
    assert not results.errors
    assert searcher.busy_seconds > 0            # the overhead run_scale reports
    history = searcher.strategy.history
    if multi_fidelity:   # the strategy ended the run (FINISHED) before num_samples
        assert 2 < len(history) < num_samples
        for result in results:    # BudgetStopper stopped each trial at its budget
            assert result.metrics["training_iteration"] == result.config["epochs"]
    else:
        assert len(history) == num_samples

    # The same strategy, asked directly, with the results the trials reported.
    space = TuneSpace.from_param_space(SPACE)
    direct = registry.create(name, space.space, mode="max", **options)
    direct.set_trial_budget(num_samples)
    for _ in history:
        config = direct.ask()
        tune_config = space.to_tune(config)
        direct.tell(config, value(tune_config, tune_config.get("epochs", 1)))
    assert [config_key(o.config) for o in direct.history] == [config_key(o.config) for o in history]
    assert [o.value for o in direct.history] == pytest.approx([o.value for o in history])
    # Every trial saw the constant and its parameters cast as Tune's domains give them.
    for result in results:
        assert result.config["note"] == "a constant"
        assert isinstance(result.config["n"], int) and isinstance(result.config["units"], int)
        assert result.config["units"] % 8 == 0

    # Mid-run pickle and save: the next proposal is the run's third.
    third = space.to_tune(history[2].config)
    assert pickle.loads(snapshot.pickled).suggest("next") == third
    restored = make_searcher(name, **options)
    restored.restore(snapshot.path)
    assert restored.suggest("next") == third
    # Tune checkpointed the searcher into the experiment folder (save_to_dir); restore_from_dir reads it.
    from_tune = make_searcher(name, **options)
    from_tune.restore_from_dir(results.experiment_path)
    assert from_tune.suggest("after") == pickle.loads(pickle.dumps(searcher)).suggest("after")


def test_failed_nan_and_missing_results_are_failures(cluster, monkeypatch):
    """A trial that raises, one that reports NaN and one without the metric are told as failed trials, and
    the search goes on (mode min; Tune's strict metric check off, else a missing metric ends the run)."""
    monkeypatch.setenv("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")
    searcher = make_searcher("grid", seed=0)
    results = fit(cluster, "flaky", flaky, param_space={"kind": tune.choice(["ok", "raise", "nan", "missing", "ok2"])},
                  search_alg=searcher, num_samples=5, mode="min")
    assert len(results) == 5 and len(results.errors) == 1
    assert [(o.config["kind"], o.value) for o in searcher.strategy.history] == [
        ("ok", 1.0), ("raise", None), ("nan", None), ("missing", None), ("ok2", 2.0)]
    assert searcher.strategy.best.value == 1.0
    assert searcher.suggest("more") == "FINISHED"     # the grid is exhausted: SpaceExhausted


def dies_or_reports(config: dict) -> None:
    """Runs a while (so that trials overlap); the trial with ``die`` loses its worker process mid-trial."""
    import time
    tune.report({"score": config["x"] * 0.5})
    time.sleep(0.5)
    if config["die"]:
        os._exit(1)                      # the Ray worker process ends: no exception, no result
    tune.report({"score": config["x"]})


@pytest.mark.parametrize("name", ["grid", "random"])
def test_four_concurrent_workers_no_duplicate_and_a_killed_worker(cluster, name):
    """4 trials at a time on a finite space of 6 configurations, 8 samples asked: each configuration runs
    exactly once, then FINISHED ends the run; the trial whose worker process dies mid-trial is reported
    failed (an error in Tune, a failure told to the strategy) and the search goes on."""
    searcher = make_searcher(name, seed=0)
    space = {"x": tune.choice([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])}
    dying = {"grid": 0.4, "random": None}[name]

    def trainable_(config):
        dies_or_reports({**config, "die": config["x"] == dying})
    results = fit(cluster, f"concurrent_{name}", trainable_, param_space=space, search_alg=searcher,
                  num_samples=8, concurrency=4)
    xs = sorted(r.config["x"] for r in results)
    assert xs == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]                    # no duplicate, none missing
    history = {o.config["x"]: o.value for o in searcher.strategy.history}
    assert len(searcher.strategy.history) == 6
    if dying is None:
        assert not results.errors and all(v == x for x, v in history.items())
    else:
        assert len(results.errors) == 1 and history[dying] is None
        assert all(v == x for x, v in history.items() if x != dying)
    assert searcher.suggest("more") == "FINISHED"


def test_not_ready_is_none_and_exhausted_is_finished():
    """Hyperband R=3, eta=3 without results: five trials (two brackets), then it waits (None: Tune asks
    again later); with every result in, the promotion, then FINISHED."""
    searcher = make_searcher("hyperband", metric="score", mode="max", R=3, eta=3, seed=0)
    assert searcher.set_search_properties(None, None, {"x": tune.uniform(0, 1)}, num_samples=-1) is True
    first = [searcher.suggest(f"t{i}") for i in range(5)]
    assert [c["epochs"] for c in first] == [1, 1, 1, 3, 3]
    assert searcher.suggest("t5") is None
    for i, config in enumerate(first):
        searcher.on_trial_complete(f"t{i}", {"score": config["x"]})
    promoted = searcher.suggest("t5")
    assert promoted == {**max(first[:3], key=lambda c: c["x"]), "epochs": 3}
    searcher.on_trial_complete("t5", None, error=True)
    assert searcher.suggest("t6") == "FINISHED"


def test_space_from_the_searcher_and_bad_spaces():
    nni = {"op": {"_type": "choice", "_value": [{"_name": "conv", "k": {"_type": "choice", "_value": [3, 5]}},
                                                {"_name": "skip"}]}}
    searcher = make_searcher("random", nni, metric="score", mode="max", seed=0)
    assert searcher.set_search_properties("score", "max", {"epochs": 3}) is True      # constants only
    assert searcher.set_search_properties(None, None, {"x": tune.uniform(0, 1)}) is False   # Tune then raises
    assert searcher.suggest("t")["op"]["_name"] in ("conv", "skip")
    with pytest.raises(ValueError, match="NNI-style"):
        make_searcher("random").set_search_properties("score", "max", nni)
    with pytest.raises(ValueError, match="grid_search"):
        make_searcher("random").set_search_properties("score", "max", {"x": tune.grid_search([1, 2])})
    with pytest.raises(ValueError, match="unknown option 'seeds'"):
        make_searcher("random", seeds=0)
    with pytest.raises(ValueError, match="metric and mode"):
        make_searcher("random", nni).suggest("t")


# ============================================================================= schedulers

@pytest.mark.parametrize("name", STOPPERS)
def test_scheduler_in_a_tune_run(cluster, tmp_path, name):
    """Each result reaches should_stop as the curve so far; the decisions are those of the stopper driven
    directly on the same curves; a pickle and a save taken mid-run decide the next trial as the run did."""
    options = {"seed": 0, **STOPPER_OPTIONS[name]}
    scheduler = make_scheduler(name, **options)
    snapshot = Snapshot(scheduler, after=2, path=str(tmp_path / "mid.pkl"))
    xs = [0.9, 0.2, 0.8, 0.1, 0.5]   # the grid proposes them in this order
    results = fit(cluster, f"stopper_{name}", curve_trainable, param_space={"x": tune.choice(xs)},
                  search_alg=make_searcher("grid"), scheduler=scheduler, num_samples=len(xs), callbacks=[snapshot])
    assert not results.errors and [c["x"] for _, c in snapshot.ended] == xs

    def replay(stopper_or_scheduler, trial_id, config, direct):
        decisions, curve = [], []
        for step in range(1, STEPS + 1):
            curve.append(config["x"] * (1 - 0.6 ** step))
            if direct:
                decision = "STOP" if stopper_or_scheduler.should_stop(trial_id, list(curve), config=config) else "CONTINUE"
            else:
                decision = stopper_or_scheduler.decide(trial_id, {"score": curve[-1], "training_iteration": step}, config)
            decisions.append(decision)
            if decision == "STOP":
                break
        return decisions, curve

    direct = registry.create(name, mode="max", **options)
    for trial_id, config in snapshot.ended:
        decisions, curve = replay(direct, trial_id, config, direct=True)
        assert decisions == scheduler.decisions[trial_id], trial_id
        direct.complete(trial_id, curve, success=decisions[-1] != "STOP", config=config)
    if name == "median_stop":
        assert scheduler.decisions[snapshot.ended[1][0]] == ["STOP"]   # 0.2 is below the median at step 1
    stopped = [r for r in results if r.metrics["training_iteration"] < STEPS]
    assert 0 < len(stopped) == sum(d[-1] == "STOP" for d in scheduler.decisions.values())

    third_id, third_config = snapshot.ended[2]
    restored = make_scheduler(name, **options)
    restored.restore(snapshot.path)
    for copy in (pickle.loads(snapshot.pickled), restored):
        assert replay(copy, third_id, third_config, direct=False)[0] == scheduler.decisions[third_id]


def test_scheduler_options_and_metric_in_one_place():
    with pytest.raises(ValueError, match="unknown option"):
        make_scheduler("median_stop", start_steps=2)
    scheduler = make_scheduler("median_stop", metric="score", mode="max")
    assert scheduler.set_search_properties("score", None) is False     # Tune then raises, as for its own
    assert make_scheduler("curve_fit").set_search_properties("score", "min") is True
