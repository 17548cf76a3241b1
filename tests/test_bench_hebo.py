"""The HEBO anchor (bench/hebo_anchor.py): HEBO 0.3.6 in its own environment, behind NNI Tuner calls.

Needs the environment `bash bench/hebo_env.sh` creates (skipped with that reason otherwise), except
the checks of the error a missing environment gives. A worker takes seconds to start (it imports
torch, pandas, scikit-learn, gpytorch, pymoo) and each model-based proposal seconds more (a GP fit
and a 100 x 100 evolutionary search), so the file starts two workers and makes two model-based
proposals in all: two runs of 12 evaluations whose last one is model-based (``rand_sample=11``).
"""
from __future__ import annotations

import math
import os
import signal
import sys

import pytest

from bench.hebo_anchor import HEBOError, HEBOTuner, hebo_contender, hebo_unavailable
from bench.problems import LCBench, benchmarks_dir
from nas_plugins.space import Space

UNAVAILABLE = hebo_unavailable()
needs_env = pytest.mark.skipif(UNAVAILABLE is not None, reason=UNAVAILABLE or "")
needs_tables = pytest.mark.skipif(not (benchmarks_dir() / "lcbench_curves.npz").exists(),
                                  reason="LCBench table not found ($NASP_BENCHMARKS)")

MIXED_SPACE = {
    "act": {"_type": "choice", "_value": ["relu", "tanh", 2, 0.5]},
    "layers": {"_type": "randint", "_value": [1, 4]},
    "drop": {"_type": "quniform", "_value": [0.0, 0.5, 0.1]},
    "width": {"_type": "qloguniform", "_value": [8, 256, 1]},
    "lr": {"_type": "qloguniform", "_value": [0.001, 1.0, 0.001]},
    "fixed": {"_type": "choice", "_value": ["only"]},
}


def _int_params(space: dict) -> set[str]:
    return {k for k, v in space.items() if v["_type"] == "randint"
            or (v["_type"].startswith("q") and v["_value"][2] == 1)}


def _assert_valid(space: dict, config: dict) -> None:
    assert set(config) == set(space), config
    assert Space.from_nni(space).contains(config), config
    for name in _int_params(space):
        assert type(config[name]) is int, (name, config[name])


@pytest.fixture(scope="module")
def runs():
    """Two harness runs with the same seed, each in a worker of its own, and the second run's tuner."""
    from bench.harness import run
    problem = LCBench("3945")
    tuners = []

    def make(seed, problem):
        tuners.append(HEBOTuner(optimize_mode="maximize", seed=seed, rand_sample=11))
        return tuners[-1]

    first = run(make, problem, n_evals=12, workers=1, seed=0)
    tuners[0].close()
    second = run(make, problem, n_evals=12, workers=1, seed=0)
    yield problem, first, second, tuners[1]
    tuners[1].close()


@needs_env
@needs_tables
def test_harness_run_proposes_valid_configurations(runs):
    problem, first, _, _ = runs
    assert len(first.records) == 12
    for r in first.records:
        _assert_valid(problem.search_space, r.config)
        assert r.value is not None and math.isfinite(r.value)
    assert math.isfinite(first.regret_after(12))


@needs_env
@needs_tables
def test_same_seed_gives_the_same_proposals(runs):
    _, first, second, _ = runs
    assert len(second.records) == 12
    # 11 quasi-random proposals, then a model-based one (a GP fit and an evolutionary search)
    assert [r.config for r in second.records] == [r.config for r in first.records]


@needs_env
@needs_tables
def test_results_without_a_finite_value_are_not_observed(runs):
    problem, _, _, tuner = runs
    tuner.update_search_space(problem.search_space)          # same worker, HEBO afresh
    assert tuner.observed == 0
    a, b, c = tuner.generate_multiple_parameters([100, 101, 102])
    assert len({tuple(sorted(p.items())) for p in (a, b, c)}) == 3
    tuner.receive_trial_result(100, a, math.nan)
    tuner.trial_end(100, True)
    tuner.receive_trial_result(101, b, {"default": math.inf})
    tuner.trial_end(101, True)
    tuner.trial_end(102, False)                               # ended without a result
    assert tuner.observed == 0
    tuner.receive_trial_result(103, a, {"default": 80.0, "loss": 1})
    assert tuner.observed == 1
    _assert_valid(problem.search_space, tuner.generate_parameters(104))


@needs_env
@needs_tables
def test_search_space_conversion_round_trips(runs):
    tuner = runs[3]
    tuner.update_search_space(MIXED_SPACE)
    proposals = tuner.generate_multiple_parameters(list(range(200, 206)))
    for p in proposals:
        _assert_valid(MIXED_SPACE, p)
        assert p["act"] in MIXED_SPACE["act"]["_value"] and p["fixed"] == "only"
        assert type(p["drop"]) is float and math.isclose(round(p["drop"] / 0.1) * 0.1, p["drop"])
    assert {type(p["act"]) for p in proposals} <= {str, int, float}
    for i, p in enumerate(proposals):
        tuner.receive_trial_result(200 + i, p, float(i))
    assert tuner.observed == len(proposals)
    tuner.receive_trial_result(300, {**proposals[0], "act": 2}, 1.0)     # a number among the choices
    assert tuner.observed == len(proposals) + 1


@needs_env
@needs_tables
def test_unsupported_or_bad_input_is_named(runs):
    tuner = runs[3]
    with pytest.raises(HEBOError, match=r"'x'.*'normal' is not supported"):
        tuner.update_search_space({"x": {"_type": "normal", "_value": [0, 1]}})
    with pytest.raises(HEBOError, match="no search space"):
        tuner.generate_parameters(0)
    tuner.update_search_space(MIXED_SPACE)
    p = tuner.generate_parameters(1)
    with pytest.raises(HEBOError, match=r"'act': 'sigmoid' is not one of the choices"):
        tuner.receive_trial_result(1, {**p, "act": "sigmoid"}, 1.0)
    with pytest.raises(HEBOError, match=r"'layers': 7 is outside \[1.0, 3.0\]"):
        tuner.receive_trial_result(1, {**p, "layers": 7}, 1.0)


@needs_env
@needs_tables
def test_a_dead_worker_is_reported_with_its_exit_status(runs):
    tuner = runs[3]
    tuner.update_search_space(MIXED_SPACE)
    os.kill(tuner.worker_pid, signal.SIGKILL)
    with pytest.raises(HEBOError, match=r"exited \(status -9\) during 'suggest'"):
        tuner.generate_parameters(0)
    with pytest.raises(HEBOError, match=r"cannot 'suggest': the worker exited"):
        tuner.generate_parameters(1)


@needs_env
def test_a_worker_that_does_not_answer_in_time_is_stopped(monkeypatch):
    import bench.hebo_anchor as hebo_anchor
    monkeypatch.setattr(hebo_anchor, "START_TIMEOUT_S", 1e-6)
    tuner = HEBOTuner(seed=0, timeout_s=1e-6)
    with pytest.raises(HEBOError, match=r"did not answer 'init' within 1e-06 s; stopped it"):
        tuner.update_search_space(MIXED_SPACE)
    assert tuner.worker_pid is None
    with pytest.raises(HEBOError, match=r"no search space.*did not answer 'init'"):
        tuner.generate_parameters(0)


def test_a_missing_environment_gives_the_setup_command(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "bin" / "python"
    with pytest.raises(HEBOError, match=r"run `bash bench/hebo_env.sh`.*Here: .*nowhere/bin/python does not exist"):
        HEBOTuner(seed=0, python=missing)
    monkeypatch.setenv("NASP_HEBO_PYTHON", str(missing))
    reason = hebo_unavailable()
    assert reason is not None and "bash bench/hebo_env.sh" in reason and str(missing) in reason
    contender = hebo_contender()
    assert (contender.name, contender.origin, contender.unavailable) == ("hebo", "anchor", reason)
    assert contender.supports(None) == reason
    with pytest.raises(HEBOError, match="`hebo` is not importable"):
        HEBOTuner(seed=0, python=sys.executable)                  # this environment has no HEBO
