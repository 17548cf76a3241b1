"""NNI 3.0 swaps parameter sets between trials started together; nothing may be lost or mislabelled.

Real NNI experiments (one per kind of tuner) of trials of two speeds at concurrency 2 (see
``tests/trials/speed_trial.py``, which forces the swap). Through our trial API, NNI's own records
(REST, ``nnictl trial ls``, web UI) must name the configuration each trial really ran; with a script
that calls ``nni.get_next_parameter()`` itself NNI's records stay swapped, but the tuner must still
pair every result and every trial end with the configuration that produced it.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from conftest import ROOT, nni_config
from toy_objective import score

import tuners
from tuners.hosts.nni_experiment import free_port, run
from tuners.hosts.nni_host import extract_metric

SPEED_TRIAL = ROOT / "tests" / "trials" / "speed_trial.py"
SPACE = {"x": {"_type": "uniform", "_value": [0, 1]}, "label": {"_type": "choice", "_value": ["a", "bb", "ccc"]}}
OPTIONS = {"NaspHyperband": {"R": 3, "eta": 3}, "NaspASHA": {"R": 3, "eta": 3, "max_configs": 5}}
TRIALS = 4


def _experiment(tmp_path: Path, tuner: str, plain: bool):
    config = nni_config(tmp_path, SPACE, tuner=tuner, tuner_args={"seed": 0, **OPTIONS.get(tuner, {})},
                        trials=TRIALS, concurrency=2)
    config.trial_command = f"python {SPEED_TRIAL}" + (" --plain" if plain else "")
    exp, records, status = run(config, port=free_port(), timeout=240, keep_running=True)
    try:
        jobs = exp.list_trial_jobs()
        metrics = exp.get_job_metrics()
    finally:
        exp.stop()
    folder = Path(config.experiment_working_directory) / exp.id
    with open(folder / "checkpoint" / "nas_plugins_tuner.pkl", "rb") as f:
        strategy = pickle.load(f)["strategy"]
    log = (folder / "log" / "dispatcher.log").read_text()
    return status, records, jobs, metrics, strategy, log


def _nni_record(job) -> tuple[int, dict]:
    return job.hyperParameters[0].parameter_id, job.hyperParameters[0].parameters


def _final(metrics, job) -> tuple[int, float]:
    final = [m for m in metrics.get(job.trialJobId, []) if m.type == "FINAL"]
    assert len(final) == 1, (job.trialJobId, metrics.get(job.trialJobId))
    return int(final[0].parameterId), extract_metric(final[0].data)


def _check_tuner_state(strategy, log: str) -> None:
    assert "recorded as failed" not in log, log[-3000:]
    assert strategy.trial_budget == TRIALS       # maxTrialNumber, read from NNI, sizes the warm-ups
    assert len(strategy.history) == TRIALS, [(o.config, o.value) for o in strategy.history]
    for o in strategy.history:
        assert o.value == pytest.approx(score(o.config)), (o.config, o.value)


# The pairing lives in the NNI adapter that every tuner shares (tests/test_contract.py drives each registered
# tuner through it); a real experiment here for each kind of tuner: prior sampling, a model fitted on the
# results, successive halving with owed trials (synchronous and asynchronous), a warm start. ~20 s each.
PAIRING_TUNERS = ["NaspRandom", "NaspBO", "NaspHyperband", "NaspASHA", "NaspXferNAS"]


def test_pairing_tuners_are_registered():
    names = {info.nni_name for info in tuners.algorithms("tuner")}
    assert set(PAIRING_TUNERS) <= names, set(PAIRING_TUNERS) - names


@pytest.mark.parametrize("tuner", PAIRING_TUNERS)
def test_nni_records_name_what_each_trial_ran(tmp_path: Path, tuner: str):
    status, records, jobs, metrics, strategy, log = _experiment(tmp_path, tuner, plain=False)
    assert status in ("DONE", "NO_MORE_TRIAL", "TUNER_NO_MORE_TRIAL")   # budget used, nothing running
    assert len(jobs) == TRIALS and all(j.status == "SUCCEEDED" for j in jobs)
    for job in jobs:                             # NNI's own record (REST, nnictl, web UI) is right
        recorded_id, recorded = _nni_record(job)
        reported_id, value = _final(metrics, job)
        assert reported_id == recorded_id
        assert value == pytest.approx(score(recorded)), (job.trialJobId, recorded, value)
    for r in records:                            # and so is our table
        assert r.final == pytest.approx(score(r.parameters))
    _check_tuner_state(strategy, log)
    swapped = [p for p in Path(tmp_path / "nni").rglob("trial.log") if "NNI handed this trial" in p.read_text()]
    assert swapped, "no trial was handed another's parameters: the test did not exercise NNI's swap"


@pytest.mark.parametrize("tuner", ["NaspHyperband"])     # owed trials: the hardest pairing
def test_tuner_pairs_results_when_the_trial_script_calls_nni_itself(tmp_path: Path, tuner: str):
    status, records, jobs, metrics, strategy, log = _experiment(tmp_path, tuner, plain=True)
    assert status in ("DONE", "NO_MORE_TRIAL", "TUNER_NO_MORE_TRIAL")   # budget used, nothing running
    assert len(jobs) == TRIALS and all(j.status == "SUCCEEDED" for j in jobs)
    mislabelled = [j for j in jobs if _nni_record(j)[0] != _final(metrics, j)[0]]
    assert mislabelled, "NNI swapped no parameter sets: the test did not exercise the swap"
    for r in records:                            # collect_trials re-pairs by the reported id
        assert r.final == pytest.approx(score(r.parameters))
    _check_tuner_state(strategy, log)
