"""The one-shot trial template (trial_templates/oneshot_trial.py): plain Python runs, a real NNI experiment
whose tuner chooses the one-shot method and hyperparameters, and precise errors.

Tiny sizes (C=2, one epoch, a few hundred digits): each trial takes a few seconds on one thread.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, nni_config

from nas_plugins.data import load_cifar10
from nas_plugins.space import Space
from nas_plugins.spaces import darts, nb201
from trial_templates import oneshot_trial
from trial_templates.oneshot_trial import main, parse_config

torch.set_num_threads(1)

TINY = {"epochs": 1, "C": 2, "N": 1, "batch_size": 64, "train_subset": 256, "spos_search_budget": 3,
        "eval_paths": 1, "recalibration_batches": 1}
SPACES = {"nb201": nb201, "darts": darts}


def trial_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NNI_")}
    env["CI"] = "true"                    # no progress bar
    return env


def run_trial(*args: str, config: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "trial_templates.oneshot_trial", *args]
    if config is not None:
        cmd += ["--config", json.dumps(config)]
    return subprocess.run(cmd, cwd=ROOT, env=trial_env(), capture_output=True, text=True, timeout=300)


def exported_line(log: str) -> dict:
    lines = [line for line in log.splitlines() if "exported architecture: " in line]
    assert len(lines) == 1, log
    return json.loads(lines[0].split("exported architecture: ", 1)[1])


# ----------------------------------------------------------------------------- plain Python

@pytest.mark.parametrize("space, method", [("nb201", {"_name": "darts", "order": 2}), ("darts", "spos")])
def test_plain_run_exports_an_architecture_of_the_space(tmp_path, space, method):
    proc = run_trial("--output-dir", str(tmp_path), config={**TINY, "space": space, "method": method})
    assert proc.returncode == 0, proc.stderr
    arch = exported_line(proc.stdout)
    assert SPACES[space].space().contains(arch)
    summary = json.loads((tmp_path / "exported_arch.json").read_text())
    name = method if isinstance(method, str) else method["_name"]
    assert summary["arch"] == arch and summary["method"] == name and summary["space"] == space
    assert 0.0 <= summary["accuracy"] <= 1.0
    assert f"final: {summary['accuracy']:.6g}" in proc.stdout
    assert "step 1:" in proc.stdout                                    # the per-epoch report
    assert (summary["searched_architectures"] == 3) == (name == "spos")
    if space == "nb201":
        assert summary["arch_string"] == nb201.to_arch_string(arch)


def test_mini201_run_reports_the_ground_truth_of_its_export(tmp_path):
    from nas_plugins.spaces import mini201
    proc = run_trial("--output-dir", str(tmp_path), "--data", "mini201",
                     config={**TINY, "space": "mini201", "method": "darts"})
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "exported_arch.json").read_text())
    assert mini201.space().contains(summary["arch"]) and summary["arch"] == exported_line(proc.stdout)
    row = mini201.lookup(summary["arch"])                 # the shipped table (bench/mini201.csv)
    assert summary["ground_truth"]["arch"] == row["arch"] == mini201.canonical(summary["arch"])
    assert summary["ground_truth"]["test_acc"] == pytest.approx(row["test_acc"])


# ----------------------------------------------------------------------------- errors

def test_bad_options_raise_a_value_error_naming_them():
    cases = [({"method": "enas"}, "unknown one-shot method 'enas'; known: darts, spos"),
             ({"method": {"order": 2}}, "nested choice needs a '_name'"),
             ({"lrr": 0.1}, r"unknown option 'lrr' for the one-shot trial \(did you mean 'lr'\?\)"),
             ({"method": "darts", "order": 3}, "option 'order' must be 1 or 2, got 3"),
             ({"batch_size": 0}, "option 'batch_size' must be an integer >= 1, got 0"),
             ({"epochs": 1.5}, "option 'epochs' must be an integer >= 1, got 1.5"),
             ({"lr": -1}, "option 'lr' must be a positive number"),
             ({"bn_recalibration": "yes"}, "option 'bn_recalibration' must be true or false"),
             ({"strategy": "evolutoin"}, "option 'strategy': unknown tuner algorithm 'evolutoin'"),
             ({"strategy_options": {"popsize": 3}}, "option 'strategy_options': unknown option 'popsize'"),
             ({"space": "mobilenet"}, "no supernet for space 'mobilenet'; spaces with one: darts, mini201, nb201"),
             ({"data": "mnist"}, "option 'data' must be one of digits, mini201, cifar10"),
             ({"data": "cifar10"}, "option 'data_dir' .* is required")]
    for config, message in cases:
        with pytest.raises(ValueError, match=message):
            parse_config(config)
    assert parse_config({"batch_size": 32.0, "strategy": "NaspRandom"})["strategy"] == "random"
    with pytest.raises(ValueError, match="unknown one-shot method 'enas'"):
        main(["--config", json.dumps({"method": "enas"})])             # plain Python: before any training


def test_unknown_method_fails_the_trial_with_the_message_on_stderr():
    proc = run_trial(config={**TINY, "method": "enas"})
    assert proc.returncode == 2
    assert "error: unknown one-shot method 'enas'; known: darts, spos" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cifar10_folder_without_the_data_gets_a_precise_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no folder 'cifar-10-batches-py'.*nothing is downloaded"):
        load_cifar10(str(tmp_path))
    (tmp_path / "cifar-10-batches-py").mkdir()
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="incomplete: missing data_batch_2, data_batch_3, data_batch_4"):
        load_cifar10(str(tmp_path))
    proc = run_trial("--data", "cifar10", "--data-dir", str(tmp_path / "nowhere"), config=TINY)
    assert proc.returncode == 2
    assert f"CIFAR-10 data folder '{tmp_path / 'nowhere'}' does not exist" in proc.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "cifar-10-batches-py"]     # nothing was downloaded


def test_tiny_cifar10_folder_is_read_without_download(tmp_path):
    """The pickled batches in torchvision's layout (made up here: 2 images a batch) load as uint8 images."""
    import pickle

    import numpy as np
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        entry = {"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8), "labels": [1, 7]}
        (folder / name).write_bytes(pickle.dumps(entry))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [str(i) for i in range(10)]}))
    try:
        from torchvision.datasets import CIFAR10  # noqa: F401
    except Exception:  # noqa: BLE001 -- absent or broken: the batches are read directly
        pass
    else:                # torchvision checks the files' checksums: made-up batches are refused, precisely
        with pytest.raises(FileNotFoundError, match="could not be read by torchvision"):
            load_cifar10(str(tmp_path))
        return
    x, y = load_cifar10(str(tmp_path), train=True)
    assert x.shape == (10, 3, 32, 32) and x.dtype == torch.uint8 and y.tolist() == [1, 7] * 5
    (x, y, xv, yv), transform, channels = oneshot_trial.load_data(
        parse_config({"data": "cifar10", "data_dir": str(tmp_path)}))
    assert channels == 3 and xv.shape == (2, 3, 32, 32) and transform(xv).dtype == torch.float32


# ----------------------------------------------------------------------------- NNI

def test_nni_tuner_chooses_the_one_shot_method_and_every_trial_reports_its_architecture(tmp_path):
    from tuners.hosts.nni_experiment import free_port, run
    space = json.loads((ROOT / "trial_templates" / "oneshot_space.json").read_text())
    space.update({key: {"_type": "choice", "_value": [value]} for key, value in TINY.items()})
    config = nni_config(tmp_path, space, tuner="NaspRandom", tuner_args={"seed": 1, "optimize_mode": "maximize"},
                        trials=3, concurrency=2)
    config.trial_command = "python -m trial_templates.oneshot_trial"
    config.trial_code_directory = str(ROOT)
    exp, records, status = run(config, port=free_port(), timeout=300, keep_running=True)
    try:
        finals = {m.trialJobId: m.data for ms in exp.get_job_metrics().values() for m in ms if m.type == "FINAL"}
    finally:
        exp.stop()
    assert status == "DONE", [(r.status, r.parameters) for r in records]
    assert len(records) == 3 and all(r.status == "SUCCEEDED" for r in records)
    assert {r.parameters["method"]["_name"] for r in records} == {"spos", "darts"}     # seed 1 picks both
    trials = Path(config.experiment_working_directory) / exp.id / "environments"
    for r in records:
        assert Space.from_nni(space).contains(r.parameters)
        assert 0.0 <= r.final <= 1.0 and len(r.intermediate) == 1
        [folder] = trials.glob(f"*/trials/{r.trial_job_id}")
        summary = json.loads((folder / "exported_arch.json").read_text())
        assert nb201.space().contains(summary["arch"])
        assert summary["method"] == r.parameters["method"]["_name"] and summary["trial_id"] == r.trial_job_id
        assert summary["accuracy"] == pytest.approx(r.final)
        assert exported_line((folder / "trial.log").read_text()) == summary["arch"]
    assert len(finals) == 3
    table_there = nb201.table().path.exists()
    for data in finals.values():     # a dict with the table's ground truth when nb201.csv.gz is there
        assert isinstance(data, dict) == table_there, data
        if table_there:
            assert set(data) == {"default", "ground_truth"} and 0 <= data["ground_truth"] <= 100
