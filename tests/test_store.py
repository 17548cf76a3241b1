"""The metadata store (``nas_plugins.store``): real SQLite files in tmp_path, two processes writing at
once, the importers (a real NNI experiment, a real AutoGluon fit, the benchmark tables) and the
``nas-plugins store`` command line."""
from __future__ import annotations

import json
import math
import multiprocessing
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import nni_config

from nas_plugins.lcbench import benchmarks_dir, load_lcbench
from nas_plugins.store import SCHEMA_VERSION, MetadataStore, StoreError, read_nni
from tuners.cli import main as cli

NB201_FILE = benchmarks_dir() / "nb201.csv.gz"
LCBENCH_FILE = benchmarks_dir() / "lcbench_curves.npz"
needs_tables = pytest.mark.skipif(not (NB201_FILE.is_file() and LCBENCH_FILE.is_file()),
                                  reason="benchmark tables not found ($NASP_BENCHMARKS)")


# ============================================================================= the API

def test_add_read_replace_and_reopen(tmp_path):
    path = tmp_path / "meta.sqlite"
    with MetadataStore(path) as store:
        task = store.add_task("digits", metadata={"rows": np.int64(1797), "classes": 10})
        assert store.add_task("digits") == task                          # existing: same id, metadata kept
        store.add_run("digits", "exp1", source="nni", config={"tuner": "NaspBO"})
        first = store.add_trial("digits", {"lr": np.float64(0.1), "op": "conv"}, 0.9, curve=[0.5, float("nan"), 0.9],
                                cost=3.5, run="exp1", key="t1", extra={"seed": 0})
        store.add_trials("digits", [{"config": {"lr": 1.0, "op": "skip"}, "metric": float("nan"), "key": "t2"},
                                    {"config": {"lr": 0.01, "op": "skip"}, "metric": {"default": 0.7, "loss": 1.2},
                                     "status": "early_stopped"}], run="exp1")
        again = store.add_trial("digits", {"lr": 0.1, "op": "conv"}, 0.95, run="exp1", key="t1")   # replaces t1
        assert again == first
        store.add_trial("other", {"x": 1}, 1.0)                         # a new task, its default run
    store = MetadataStore(path)
    assert [(t["name"], t["source"], t["runs"], t["trials"]) for t in store.tasks()] == \
        [("digits", "user", 1, 3), ("other", "user", 1, 1)]
    assert store.tasks()[0]["metadata"] == {"rows": 1797, "classes": 10}
    assert [(r["task"], r["name"], r["source"], r["config"]) for r in store.runs()] == \
        [("digits", "exp1", "nni", {"tuner": "NaspBO"}), ("other", "default", "user", {})]
    trials = store.trials("digits")
    assert [(t["key"], t["metric"], t["status"]) for t in trials] == \
        [("t1", 0.95, "SUCCEEDED"), ("t2", None, "FAILED"), (None, 0.7, "EARLY_STOPPED")]
    assert trials[0]["curve"] == [] and trials[0]["config"] == {"lr": 0.1, "op": "conv"}
    assert [t["key"] for t in store.trials("digits", status="failed")] == ["t2"]
    assert store.trials(run="default")[0]["task"] == "other"
    frame = store.to_pandas("digits", flatten=True)
    assert list(frame["key"].fillna("-")) == ["t1", "t2", "-"] and math.isnan(frame["metric"][1])
    assert list(frame["config.op"]) == ["conv", "skip", "skip"]
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 1
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_bad_trials_are_refused(tmp_path):
    store = MetadataStore(tmp_path / "meta.sqlite")
    with pytest.raises(ValueError, match="unknown trial field.*value"):
        store.add_trials("t", [{"config": {}, "value": 1}])
    with pytest.raises(TypeError, match="config must be a dict"):
        store.add_trial("t", [1, 2])
    with pytest.raises(KeyError, match="no task with id 99"):
        store.add_trial(99, {})
    assert store.tasks() == []                                   # nothing half-written


def test_files_that_are_not_a_store_of_this_version(tmp_path):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"these are not the bytes of an SQLite file" * 10)
    with pytest.raises(StoreError, match=r"garbage\.db: not an SQLite database"):
        MetadataStore(garbage)
    newer = tmp_path / "newer.sqlite"
    MetadataStore(newer).close()
    with sqlite3.connect(newer) as raw:
        raw.execute("PRAGMA user_version = 2")
    with pytest.raises(StoreError, match=r"newer\.sqlite: metadata store schema version 2; .* reads version 1"):
        MetadataStore(newer)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as raw:
        raw.execute("CREATE TABLE MetricData (x)")
    with pytest.raises(StoreError, match=r"other\.sqlite: an SQLite database but not a nas-plugins metadata store"):
        MetadataStore(other)
    assert sqlite3.connect(other).execute("PRAGMA journal_mode").fetchone()[0] == "delete"    # left as it was
    corrupt = tmp_path / "corrupt.sqlite"
    with MetadataStore(corrupt) as store:
        store.add_trial("t", {"x": 1}, 1.0)
    data = bytearray(corrupt.read_bytes())
    data[100:1000] = b"\xff" * 900                               # the schema page after the header
    corrupt.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"corrupt\.sqlite: corrupt or unreadable SQLite database"):
        MetadataStore(corrupt)
    with pytest.raises(FileNotFoundError, match="no metadata store at"):
        MetadataStore(tmp_path / "missing.sqlite", create=False)
    with pytest.raises(StoreError, match="is a folder"):
        MetadataStore(tmp_path)


def _writer(path: str, worker: int, barrier, n: int) -> None:
    store = MetadataStore(path)
    barrier.wait(60)
    store.add_task("shared", metadata={"writer": worker})
    for i in range(n):
        store.add_trial("shared", {"worker": worker, "i": i}, float(i), key=f"{worker}-{i}", run=f"run{i % 3}")
    store.add_trials("shared", [{"config": {"worker": worker, "batch": j}, "metric": j} for j in range(n)])
    store.close()


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = str(tmp_path / "meta.sqlite")          # both processes create it: the schema is made once
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(path, w, barrier, 150)) for w in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        if p.exitcode is None:
            p.kill()
    # Both open the new file at once: creating the schema and switching to WAL must wait for each other
    # (the WAL switch answered "database is locked" in about 1 of 20 such starts before it was retried).
    assert [p.exitcode for p in procs] == [0, 0]
    store = MetadataStore(path)
    trials = store.trials("shared")
    assert len(trials) == 2 * 300
    assert {t["key"] for t in trials if t["key"]} == {f"{w}-{i}" for w in (0, 1) for i in range(150)}
    assert sorted(r["name"] for r in store.runs("shared")) == ["default", "run0", "run1", "run2"]
    assert len(store.tasks()) == 1


# ============================================================================= importers

@needs_tables
def test_import_the_benchmark_tables(tmp_path):
    store = MetadataStore(tmp_path / "meta.sqlite")
    assert store.import_nb201(NB201_FILE, datasets=("cifar10", "cifar100"), limit=40) == {"tasks": 2, "trials": 80}
    table = pd.read_csv(NB201_FILE, nrows=40)
    t = store.trials("nb201/cifar100")[7]
    row = table.iloc[7]
    assert t["key"] == row["arch"] and t["metric"] == pytest.approx(row["cifar100_val_acc"])
    assert t["cost"] == pytest.approx(row["cifar100_train_time_s"])
    assert t["extra"]["test_acc"] == pytest.approx(row["cifar100_test_acc"])
    from nas_plugins.spaces.nb201 import from_arch_string
    assert t["config"] == from_arch_string(row["arch"])
    lc = load_lcbench(str(LCBENCH_FILE))
    assert store.import_lcbench(LCBENCH_FILE, tasks=[lc.tasks[3]], limit=25) == {"tasks": 1, "trials": 25}
    t = store.trials(f"lcbench/{lc.tasks[3]}")[11]
    assert t["config"] == lc.config(11) and len(t["curve"]) == 52
    assert t["curve"] == pytest.approx(lc.acc[3, 11].tolist()) and t["metric"] == pytest.approx(lc.acc[3, 11, -1])
    assert store.import_nb201(NB201_FILE, limit=40)["trials"] == 40           # again: replaced, not added
    assert [t["trials"] for t in store.tasks()] == [40, 40, 25]
    with pytest.raises(ValueError, match="no LCBench task"):
        store.import_lcbench(LCBENCH_FILE, tasks=["nope"])
    with pytest.raises(FileNotFoundError, match="NAS-Bench-201 table not found"):
        store.import_nb201(tmp_path / "nb201.csv.gz")


def test_import_a_real_nni_experiment(tmp_path):
    from tuners.hosts.nni_experiment import free_port, run
    space = {"mode": {"_type": "choice", "_value": ["ok", "fail"]}, "x": {"_type": "choice", "_value": [0.25]},
             "sleep": {"_type": "choice", "_value": [0.05]}}
    config = nni_config(tmp_path, space, tuner="NaspGrid", trials=2)
    config.experiment_name = "store-test"
    exp, records, status = run(config, port=free_port(), timeout=180)
    assert status in ("DONE", "TUNER_NO_MORE_TRIAL") and len(records) == 2
    folder = Path(config.experiment_working_directory) / exp.id
    store = MetadataStore(tmp_path / "meta.sqlite")
    assert store.import_nni(folder) == {"task": "store-test", "run": exp.id, "trials": 2}
    trials = {t["key"]: t for t in store.trials("store-test")}
    for r in records:
        t = trials[r.trial_job_id]
        assert t["config"] == r.parameters and t["status"] == r.status
        assert t["metric"] == r.final and t["curve"] == r.intermediate
        assert t["cost"] > 0 and t["extra"]["parameter_id"] == r.parameter_id
    assert sorted(t["status"] for t in trials.values()) == ["FAILED", "SUCCEEDED"]
    ok = next(t for t in trials.values() if t["status"] == "SUCCEEDED")
    assert len(ok["curve"]) == 3 and ok["metric"] is not None
    run_config = store.runs("store-test")[0]["config"]
    assert run_config["id"] == exp.id and run_config["params"]["searchSpace"] == space
    # the file itself, again: the run is refreshed, not doubled; NNI's database is not a store
    assert store.import_nni(folder / "db" / "nni.sqlite", task="store-test")["trials"] == 2
    assert len(store.trials()) == 2
    assert read_nni(folder)[1] == read_nni(folder / "db" / "nni.sqlite")[1]
    with pytest.raises(StoreError, match="not a nas-plugins metadata store"):
        MetadataStore(folder / "db" / "nni.sqlite")
    with pytest.raises(FileNotFoundError, match="no NNI experiment database"):
        store.import_nni(tmp_path / "nowhere")


def test_import_a_real_autogluon_predictor(tmp_path):
    from autogluon.common.space import Int, Real
    from autogluon.tabular import TabularPredictor
    from tuners.hosts.autogluon_host import register_searchers
    register_searchers()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    data = pd.DataFrame(x, columns=["a", "b", "c"])
    data["label"] = (x[:, 0] > 0).astype(int)
    predictor = TabularPredictor(label="label", path=str(tmp_path / "ag"), verbosity=0).fit(
        data, hyperparameters={"GBM": {"learning_rate": Real(0.01, 0.3, log=True), "num_leaves": Int(8, 32),
                                       "num_boost_round": 10}},
        time_limit=60, num_cpus=1, fit_weighted_ensemble=False,
        hyperparameter_tune_kwargs={"scheduler": "local", "searcher": "nasp_random", "num_trials": 2,
                                    "search_options": {"seed": 0}})
    store = MetadataStore(tmp_path / "meta.sqlite")
    assert store.import_autogluon(predictor, task="toy") == {"task": "toy", "run": str(tmp_path / "ag"), "trials": 2}
    meta = store.tasks()[0]["metadata"]
    assert meta["label"] == "label" and meta["problem_type"] == "binary" and meta["features"] == ["a", "b", "c"]
    board = predictor.leaderboard(silent=True).set_index("model")
    for t in store.trials("toy"):
        assert t["key"] in board.index and t["metric"] == pytest.approx(board.loc[t["key"], "score_val"])
        assert t["config"]["num_leaves"] == predictor.model_hyperparameters(t["key"])["num_leaves"]
        assert t["cost"] > 0 and t["status"] == "SUCCEEDED" and t["extra"]["model_type"] == "LGBModel"


# ============================================================================= command line

@needs_tables
def test_cli_import_list_export(tmp_path, capsys):
    db = str(tmp_path / "meta.sqlite")
    assert cli(["store", "list", db]) == 2
    assert "no metadata store at" in capsys.readouterr().err and not Path(db).exists()
    assert cli(["store", "import", db, "nb201", str(NB201_FILE), "--limit", "12", "--dataset", "imagenet16"]) == 0
    assert "tasks 1, trials 12" in capsys.readouterr().out
    assert cli(["store", "list", db]) == 0
    assert "nb201/imagenet16" in capsys.readouterr().out
    assert cli(["store", "list", db, "--task", "nb201/imagenet16"]) == 0
    assert capsys.readouterr().out.count("SUCCEEDED") == 12
    for out in ("t.csv", "t.parquet"):
        assert cli(["store", "export", db, str(tmp_path / out)]) == 0
        frame = pd.read_csv(tmp_path / out) if out.endswith("csv") else pd.read_parquet(tmp_path / out)
        assert len(frame) == 12 and set(frame["task"]) == {"nb201/imagenet16"}
        assert json.loads(frame["config"][0]).keys() == {"edge_1_0", "edge_2_0", "edge_2_1", "edge_3_0", "edge_3_1",
                                                         "edge_3_2"}
    bad = tmp_path / "bad.sqlite"
    bad.write_text("not sqlite")
    assert cli(["store", "list", str(bad)]) == 2
    assert "bad.sqlite: not an SQLite database" in capsys.readouterr().err
