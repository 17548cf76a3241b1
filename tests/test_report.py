"""The trial reporting API in plain Python and under AutoGluon's real scheduler."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile

import pytest
from autogluon.common.space import Categorical, Real
from autogluon.core.scheduler.seq_scheduler import LocalSequentialScheduler

from conftest import ROOT

from nas_plugins.space import Float, Space
from trial_templates.report import Trial, detect_backend, start
from tuners import create
from tuners.hosts.autogluon_host import register_searchers
from tuners.median_stop import MedianStop


def test_plain_config_from_argv_overrides_defaults(capsys):
    trial = start(defaults={"lr": 0.01, "depth": 2}, argv=["--config", '{"lr": 0.5}'])
    assert trial.backend == "plain"
    assert trial.config == {"lr": 0.5, "depth": 2}
    trial.report(0.25)
    trial.final(0.5)
    out = capsys.readouterr().out
    assert "step 1: 0.25" in out and "final: 0.5" in out
    assert trial.result == 0.5


def test_plain_config_must_be_an_object():
    with pytest.raises(ValueError, match="JSON object"):
        start(argv=["--config", "[1, 2]"])


def test_nan_intermediate_is_skipped_and_nan_final_raises():
    trial = start(argv=[])
    with pytest.warns(RuntimeWarning, match="not a finite number"):
        trial.report(float("nan"))
    assert trial.history == [None]
    with pytest.raises(FloatingPointError, match="final metric nan is not a finite number"):
        trial.final(math.nan)


def test_local_early_stopper_gives_the_same_decision_as_the_assessor():
    stopper = MedianStop(start_step=2)
    stopper.complete("done", [0.8, 0.9, 0.95])
    trial = start(argv=[], stopper=stopper)
    trial.report(0.1)
    assert not trial.should_stop()          # before start_step
    trial.report(0.2)
    assert trial.should_stop() == stopper.should_stop("x", [0.1, 0.2]) is True


def test_plain_run_of_the_demo_trial_script():
    out = subprocess.run([sys.executable, "-m", "trial_templates.mixed_cell_trial", "--config",
                          '{"epochs": 1, "channels": 8, "edge_0": "sepconv3x3"}'],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "step 1:" in out.stdout and "final:" in out.stdout


def test_checkpoint_dir_is_shared_per_experiment(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.delenv("NASP_CHECKPOINT_ROOT", raising=False)
    monkeypatch.setenv("NNI_EXP_ID", "exp42")
    nni_dir = Trial({}, "nni").checkpoint_dir()
    assert nni_dir == str(tmp_path / "tmp" / "nasp-checkpoints" / "exp42") and os.path.isdir(nni_dir)
    assert Trial({}, "nni", trial_id="other").checkpoint_dir() == nni_dir
    local = Trial({}, "plain").checkpoint_dir()            # one temporary folder per process
    assert os.path.isdir(local) and local == Trial({}, "autogluon").checkpoint_dir() != nni_dir
    monkeypatch.setenv("NASP_CHECKPOINT_ROOT", str(tmp_path / "root"))
    assert Trial({}, "nni").checkpoint_dir() == str(tmp_path / "root" / "exp42")
    assert Trial({}, "plain").checkpoint_dir() == str(tmp_path / "root")


def test_demo_trial_script_continues_a_smaller_budget_on_another_machine(tmp_path):
    """What a Hyperband promotion does: the same configuration again with more epochs, here on "another
    machine" (another working directory) that shares the checkpoint root, given as an fsspec URL
    (``local://``: fsspec's local file system). A third machine that does not share it is told the
    checkpoint is missing (a warning in the trial's log, a flag in the final result) and starts over."""
    shared = tmp_path / "shared"

    def trial(machine: str, root: str, epochs: int, resume_from: int | None = None):
        (tmp_path / machine).mkdir()
        config = {"epochs": epochs, "channels": 8, "num_cells": 1, **({"resume_from": resume_from} if resume_from else {})}
        out = subprocess.run([sys.executable, "-m", "trial_templates.mixed_cell_trial", "--max-epochs", "9",
                              "--config", json.dumps(config)], cwd=tmp_path / machine,
                             capture_output=True, text=True, timeout=120,
                             env={**os.environ, "NASP_CHECKPOINT_ROOT": root,
                                  "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])})
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout, out.stderr

    first, _ = trial("a", f"local://{shared}", 1)
    second, log = trial("b", f"local://{shared}", 3, resume_from=1)
    assert "step 1:" in first and "step 2:" not in first
    assert "step 1:" not in second and "step 2:" in second and "step 3:" in second
    assert "missing checkpoint" not in log and "checkpoint_missing" not in second
    assert len(list(shared.glob("*.pt"))) == 1
    third, log = trial("c", str(tmp_path / "c" / "local-only"), 3, resume_from=1)
    assert "step 1:" in third and "step 3:" in third                  # trained from scratch, and says so
    assert "nas-plugins WARNING: trial plain: missing checkpoint: this configuration was trained to epoch 1" in log
    assert "final:" in third and "checkpoint_missing=true" in third


def test_missing_checkpoint_flag_reaches_nni_with_the_final_result(monkeypatch, capsys, tmp_path):
    import nni
    reported = []
    monkeypatch.setattr(nni, "report_final_result", reported.append)
    trial = Trial({"x": 1, "resume_from": 3}, "nni", trial_id="T1")
    assert trial.resume_from == 3 and Trial({"x": 1}, "nni").resume_from is None
    trial.missing_checkpoint("missing checkpoint: ...")
    trial.final(0.5)
    assert reported == [{"default": 0.5, "checkpoint_missing": True}]
    assert "nas-plugins WARNING: trial T1: missing checkpoint" in capsys.readouterr().err
    Trial({}, "nni").final(0.25)
    assert reported[-1] == 0.25                                          # no flag: a plain number, as before
    monkeypatch.setenv("NNI_EXP_ID", "exp42")
    monkeypatch.setenv("NASP_CHECKPOINT_ROOT", "memory://nasp-test-root")
    assert Trial({}, "nni").checkpoint_dir() == "memory://nasp-test-root/exp42"


def test_under_autogluon_scheduler_with_our_searcher():
    """AutoGluon's LocalSequentialScheduler runs a train_fn that reports through our API; the
    configurations it ran are our strategy's seeded sequence and the rewards reach our searcher."""
    register_searchers()
    seen = []

    def train_fn(args, reporter, **kwargs):
        trial = start(config=args, reporter=reporter)
        assert detect_backend(reporter) == "autogluon"
        seen.append({"x": trial.config["x"], "opt": trial.config["opt"]})
        for step in range(1, 4):
            trial.report(trial.config["x"] * step / 3, step=step)
        trial.final(trial.config["x"] + (0.1 if trial.config["opt"] == "adam" else 0.0))

    scheduler = LocalSequentialScheduler(train_fn, search_space={"x": Real(0.0, 1.0), "opt": Categorical("sgd", "adam")},
                                         searcher="nasp_random", num_trials=4, reward_attr="reward",
                                         time_attr="epoch", search_options={"seed": 11})
    scheduler.run()
    scheduler.join_jobs()
    expected = create("random", Space((Float("x", 0.0, 1.0),) + (scheduler.searcher.strategy.space["opt"],)), seed=11)
    assert seen == [expected.ask() for _ in range(4)]
    best = scheduler.get_best_config()
    assert best["x"] + (0.1 if best["opt"] == "adam" else 0) == pytest.approx(scheduler.get_best_reward())
    assert [o.value for o in scheduler.searcher.strategy.history] == pytest.approx(
        [c["x"] + (0.1 if c["opt"] == "adam" else 0.0) for c in seen])
