"""Real NNI experiments behind `nas-plugins run`/`demo`: precise errors and live progress."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import BIN, ROOT, TOY_TRIAL, nni_config
from nni.experiment import Experiment

from tuners.hosts.nni_experiment import (ExperimentError, Progress, experiment_errors, experiment_log_dir,
                                         free_port, run, validate_config, wait)


def test_experiment_errors_give_the_dispatchers_message_not_nnis_generic_one(tmp_path: Path):
    """A bad classArg (that `validate` would have caught) started anyway: NNI's REST status only
    knows "Dispatcher stream error"; experiment_errors() reads the precise message from the logs."""
    config = nni_config(tmp_path, {"x": {"_type": "uniform", "_value": [0, 1]}}, tuner="NaspGrid",
                        tuner_args={"grid_points": 0}, trials=2, concurrency=1)
    assert any("grid_points must be a positive integer" in p for p in validate_config(config))
    exp = Experiment(config)
    exp.start(free_port())
    try:
        assert wait(exp, timeout=120) == "ERROR"
        errors = experiment_errors(exp)
    finally:
        exp.stop()
    assert errors == ["NaspGrid classArgs: grid_points must be a positive integer, got 0"]
    log_dir = Path(config.experiment_working_directory) / exp.id / "log"
    assert experiment_log_dir(exp) == log_dir
    assert experiment_errors(log_dir) == errors == experiment_errors(log_dir.parent)   # a folder works too


def test_run_raises_experiment_error_with_the_message(tmp_path: Path):
    config = nni_config(tmp_path, {"x": {"_type": "uniform", "_value": [0, 1]}}, tuner="NaspRandom",
                        assessor="NaspCurveFit", assessor_args={"threshold": 2}, trials=2, concurrency=1)
    with pytest.raises(ValueError, match="threshold must be in"):
        run(config, port=free_port(), timeout=120)                      # refused up front
    with pytest.raises(ExperimentError) as caught:
        run(config, port=free_port(), timeout=120, validate=False)     # started: fails in the dispatcher
    assert any("NaspCurveFit classArgs: threshold must be in (0, 1), got 2" in e for e in caught.value.errors)
    assert "threshold must be in (0, 1)" in str(caught.value) and caught.value.exp.id in str(caught.value)


def test_cli_run_prints_the_precise_error_of_a_bad_search_space(tmp_path: Path):
    (tmp_path / "space.json").write_text(json.dumps({"lr": {"_type": "loguniform", "_value": [0, 1]}}))
    config = {"searchSpaceFile": "space.json", "trialCommand": f"python {TOY_TRIAL}",
              "trialCodeDirectory": str(ROOT), "trialConcurrency": 1, "maxTrialNumber": 2,
              "maxExperimentDuration": "2m", "experimentWorkingDirectory": str(tmp_path / "nni"),
              "tuner": {"name": "NaspRandom", "classArgs": {"seed": 0}},
              "trainingService": {"platform": "local"}}
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(config))
    out = subprocess.run([str(BIN / "nas-plugins"), "run", str(path), "--no-validate", "--port", str(free_port())],
                         capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert out.returncode == 1, out.stdout[-2000:] + out.stderr[-2000:]
    assert "ended in ERROR" in out.stderr
    assert "search space parameter 'lr': loguniform needs positive bounds" in out.stderr
    assert f"logs: {tmp_path / 'nni'}" in out.stderr


def test_run_calls_the_progress_callback_until_the_end(tmp_path: Path):
    space = {"x": {"_type": "uniform", "_value": [0, 1]}, "mode": {"_type": "choice", "_value": ["ok", "fail"]}}
    config = nni_config(tmp_path, space, tuner="NaspGrid", tuner_args={"grid_points": 2}, trials=4)
    seen: list[Progress] = []
    exp, records, status = run(config, port=free_port(), timeout=180, progress=seen.append)
    assert status in ("DONE", "TUNER_NO_MORE_TRIAL")
    assert seen and seen[-1].finished and not any(p.finished for p in seen[:-1])
    last = seen[-1]
    assert last.max_trials == 4 and last.trials == len(records) == 4 and last.running == 0
    assert last.succeeded == sum(r.status == "SUCCEEDED" for r in records) == 2
    assert last.failed == sum(r.status == "FAILED" for r in records) == 2
    assert last.best == max(r.final for r in records if r.final is not None)
    assert [p.elapsed for p in seen] == sorted(p.elapsed for p in seen)
    assert any(p.running for p in seen)
