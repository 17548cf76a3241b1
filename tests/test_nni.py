"""Real NNI experiments (manager, local training service, nnictl) driving our tuners and assessors."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import BIN, ROOT, TOY_TRIAL, nni_config
from nni.experiment import Experiment
from toy_objective import score

from nas_plugins.space import Space, config_key
from tuners.hosts.nni_experiment import collect_trials, free_port, run, wait

LABELS = ["a // b", 'say "hi" # there', "#start", "//start", "x#y//z", "plain"]


def nnictl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "nnictl"), *args], capture_output=True, text=True, timeout=120, check=check)


def assert_paired(records) -> None:
    """Every finished trial's final metric is the objective of the parameters it is paired with."""
    for r in records:
        assert r.final == pytest.approx(score(r.parameters)), (r.trial_job_id, r.parameters, r.final)


def test_nnictl_create_yaml_with_our_tuner_and_assessor(tmp_path: Path):
    space = {"x": {"_type": "uniform", "_value": [0, 1]}, "label": {"_type": "choice", "_value": LABELS}}
    (tmp_path / "space.json").write_text(json.dumps(space))
    config = {
        "experimentName": "nasp-test-yaml", "searchSpaceFile": "space.json",
        "trialCommand": f"python {TOY_TRIAL}", "trialCodeDirectory": str(ROOT),
        "trialConcurrency": 2, "maxTrialNumber": 6, "maxExperimentDuration": "5m",
        "experimentWorkingDirectory": str(tmp_path / "nni"),
        "tuner": {"name": "NaspRandom", "classArgs": {"optimize_mode": "maximize", "seed": 7}},
        "assessor": {"name": "NaspMedianStop", "classArgs": {"optimize_mode": "maximize", "start_step": 50}},
        "trainingService": {"platform": "local"},
    }
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    created = nnictl("create", "--config", str(path), "--port", str(port))
    exp = Experiment.connect(port)
    try:
        assert wait(exp, timeout=180) == "DONE", created.stdout + created.stderr
        records = collect_trials(exp)
    finally:
        nnictl("stop", exp.id, check=False)
    assert len(records) == 6
    assert [r.status for r in records] == ["SUCCEEDED"] * 6
    assert_paired(records)
    assert len({config_key(r.parameters) for r in records}) == 6
    assert all(len(r.intermediate) == 3 for r in records)


def test_python_api_grid_exhausts_and_keeps_comment_characters(tmp_path: Path):
    """Values holding '//', '#' and quotes reach the trial intact; the grid stops the experiment."""
    space = {"label": {"_type": "choice", "_value": LABELS}}
    config = nni_config(tmp_path, space, tuner="NaspGrid", trials=20)
    exp, records, status = run(config, port=free_port(), timeout=180)
    assert status == "TUNER_NO_MORE_TRIAL"      # NoMoreTrialError reached NNI
    assert len(records) == len(LABELS), "grid must stop after every point ran once"
    assert sorted(r.parameters["label"] for r in records) == sorted(LABELS)
    assert all(r.status == "SUCCEEDED" for r in records)
    assert_paired(records)


def test_failed_nan_and_missing_metrics_do_not_stop_the_tuner(tmp_path: Path):
    space = {"x": {"_type": "uniform", "_value": [0, 1]},
             "mode": {"_type": "choice", "_value": ["ok", "nan", "text", "fail", "silent"]}}
    config = nni_config(tmp_path, space, tuner="NaspRandom", tuner_args={"seed": 3}, trials=10,
                        assessor="NaspMedianStop")
    exp, records, status = run(config, port=free_port(), timeout=180)
    assert status == "DONE"                      # not ERROR: the dispatcher survived every bad trial
    assert len(records) == 10                    # and kept proposing after them
    modes = {r.parameters["mode"] for r in records}
    assert {"fail", "nan"} <= modes or len(modes) >= 3
    for r in records:
        if r.parameters["mode"] == "fail":
            assert r.status == "FAILED"
        if r.parameters["mode"] in ("nan", "text", "silent"):
            assert r.final is None
    assert_paired([r for r in records if r.parameters["mode"] == "ok" and r.status == "SUCCEEDED"])
    log = (Path(config.experiment_working_directory) / exp.id / "log" / "dispatcher.log").read_text()
    assert "recorded as failed" in log


def test_assessor_stops_a_clearly_bad_trial(tmp_path: Path):
    # Grid order runs the four (identical) good curves first, then four curves 10x lower.
    space = {"curve": {"_type": "choice", "_value": ["good", "bad"]},
             "label": {"_type": "choice", "_value": ["a", "b", "c", "d"]},
             "steps": {"_type": "choice", "_value": [6]}, "sleep": {"_type": "choice", "_value": [0.5]}}
    config = nni_config(tmp_path, space, tuner="NaspGrid", trials=8, assessor="NaspMedianStop",
                        assessor_args={"start_step": 2, "min_completed": 1})
    exp, records, status = run(config, port=free_port(), timeout=180)
    assert status in ("DONE", "TUNER_NO_MORE_TRIAL")
    stopped = [r for r in records if r.status in ("EARLY_STOPPED", "USER_CANCELED")]
    assert stopped, [(r.parameters, r.status) for r in records]
    assert all(r.parameters["curve"] == "bad" for r in stopped)
    assert all(len(r.intermediate) < 6 for r in stopped)
    assert all(r.status == "SUCCEEDED" for r in records if r.parameters["curve"] == "good")


def test_resume_does_not_repropose(tmp_path: Path):
    """Stop after 4 of 8 configurations, `nnictl resume`, raise the budget: the other 4 run."""
    space = {"a": {"_type": "choice", "_value": [1, 2]}, "b": {"_type": "choice", "_value": ["p", "q", "r", "s"]}}
    config = nni_config(tmp_path, space, tuner="NaspRandom", tuner_args={"seed": 0}, trials=4)
    exp, first, status = run(config, port=free_port(), timeout=180)
    assert status == "DONE" and len(first) == 4
    port = free_port()
    nnictl("resume", exp.id, "--port", str(port), "--experiment_dir", config.experiment_working_directory)
    resumed = Experiment.connect(port)
    try:
        resumed.update_max_trial_number(8)
        time.sleep(2)
        assert wait(resumed, timeout=180) == "DONE"
        records = collect_trials(resumed)
    finally:
        nnictl("stop", exp.id, check=False)
    keys = [config_key(r.parameters) for r in records]
    assert len(records) == 8
    assert len(set(keys)) == 8, "a configuration that ran before the resume was proposed again"
    assert Space.from_nni(space).size == 8


def test_bad_class_args_are_reported_not_hung(tmp_path: Path):
    """`nas-plugins validate` rejects bad classArgs up front; under `nnictl create` (which in NNI 3.0
    does not run validators for v2 configs) the experiment turns to ERROR with the message."""
    space = {"x": {"_type": "uniform", "_value": [0, 1]}}
    (tmp_path / "space.json").write_text(json.dumps(space))
    config = {"searchSpaceFile": "space.json", "trialCommand": f"python {TOY_TRIAL}",
              "trialCodeDirectory": str(ROOT), "trialConcurrency": 1, "maxTrialNumber": 2,
              "experimentWorkingDirectory": str(tmp_path / "nni"),
              "tuner": {"name": "NaspGrid", "classArgs": {"grid_points": 0}},
              "trainingService": {"platform": "local"}}
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(config))
    checked = subprocess.run([str(BIN / "nas-plugins"), "validate", str(path)], capture_output=True, text=True)
    assert checked.returncode == 2
    assert "NaspGrid classArgs: grid_points must be a positive integer, got 0" in checked.stderr
    port = free_port()
    nnictl("create", "--config", str(path), "--port", str(port))
    exp = Experiment.connect(port)
    try:
        assert wait(exp, timeout=60) == "ERROR"
        log = (tmp_path / "nni" / exp.id / "log" / "nnimanager.log").read_text()
        assert "grid_points must be a positive integer" in log
    finally:
        nnictl("stop", exp.id, check=False)


def test_bad_assessor_args_fail_at_start_with_no_trial_launched(tmp_path: Path):
    """A bad assessor argument turns the experiment to ERROR when it starts, not after the first
    intermediate result with trials left running."""
    config = nni_config(tmp_path, {"x": {"_type": "uniform", "_value": [0, 1]}}, tuner="NaspRandom",
                        assessor="NaspMedianStop", assessor_args={"start_step": -1}, trials=4)
    exp = Experiment(config)
    exp.start(free_port())
    try:
        assert wait(exp, timeout=60) == "ERROR"
        assert exp.list_trial_jobs() == []
        log = (tmp_path / "nni" / exp.id / "log" / "nnimanager.log").read_text()
        assert "NaspMedianStop classArgs: start_step" in log
    finally:
        exp.stop()


def test_start_after_the_script_asked_nni_itself(tmp_path: Path):
    """Calling nni.get_next_parameter() before start() must not block the trial (it would wait for a
    second parameter set for ever)."""
    config = nni_config(tmp_path, {"x": {"_type": "uniform", "_value": [0, 1]}}, tuner="NaspRandom",
                        tuner_args={"seed": 1}, trials=2)
    config.trial_command = f"python {TOY_TRIAL} --nni-first"
    exp, records, status = run(config, port=free_port(), timeout=120)
    assert status in ("DONE", "NO_MORE_TRIAL") and [r.status for r in records] == ["SUCCEEDED"] * 2
    assert_paired(records)


def test_demo_main_job_runs(tmp_path: Path):
    """The README's first command, shortened: a real mixed HPO+NAS experiment on digits."""
    out = subprocess.run([str(BIN / "nas-plugins"), "demo", "--max-trials", "4"], capture_output=True,
                         text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "best configuration:" in out.stdout
    assert "nnictl view" in out.stdout
    best = json.loads(out.stdout.split("best configuration: ")[1].splitlines()[0])
    assert {"lr", "batch_size", "edge_0", "num_cells", "channels"} <= set(best)
