"""The metadata store: tasks, runs and trials from any host or benchmark in one SQLite file.

A :class:`MetadataStore` is an embedded SQLite database (standard library ``sqlite3``, one file,
WAL mode) that collects what HPO/NAS runs produced, whatever ran them: NNI experiments
(:meth:`~MetadataStore.import_nni`), fitted AutoGluon predictors (:meth:`~MetadataStore.import_autogluon`),
the benchmark tables (:meth:`~MetadataStore.import_lcbench`, :meth:`~MetadataStore.import_nb201`) and
your own results (:meth:`~MetadataStore.add_trial`). ``nas-plugins store import|list|export`` is its
command line.

Schema (version 1, kept in ``PRAGMA user_version``)::

    tasks   id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,  -- a problem: a data set, a benchmark task
            source TEXT NOT NULL,                              -- where it came from: nni, autogluon, lcbench, nb201, user
            metadata TEXT NOT NULL,                            -- JSON object: data set metadata
            created REAL NOT NULL                              -- Unix time
    runs    id INTEGER PRIMARY KEY, task_id INTEGER NOT NULL REFERENCES tasks ON DELETE CASCADE,
            name TEXT NOT NULL,                                -- an experiment: NNI id, predictor path, 'default'
            source TEXT NOT NULL, config TEXT NOT NULL,        -- JSON object: the experiment's settings
            created REAL NOT NULL, UNIQUE (task_id, name)
    trials  id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs ON DELETE CASCADE,
            trial_key TEXT,                                    -- the host's id (NNI trial job, model name, table row)
            config TEXT NOT NULL,                              -- JSON object: the configuration
            curve TEXT NOT NULL,                               -- JSON list: intermediate results (null: missing)
            metric REAL,                                       -- final result; NULL when there is none (failed)
            cost REAL,                                         -- seconds (the benchmark's or the host's)
            status TEXT NOT NULL,                              -- SUCCEEDED, FAILED, EARLY_STOPPED, USER_CANCELED, ...
            extra TEXT NOT NULL,                               -- JSON object: anything else (test accuracy, ...)
            created REAL NOT NULL, UNIQUE (run_id, trial_key)

A trial with a ``trial_key`` is replaced when it is added again (importing the same experiment twice
refreshes it); one without is always added. A file whose ``user_version`` is another version, an SQLite
database of something else (e.g. NNI's own ``nni.sqlite``), or a file that is not SQLite or is corrupt
raises :class:`StoreError` naming the file and the problem.

Several processes may write at once: every write is one ``BEGIN IMMEDIATE`` transaction, waiting up
to ``timeout`` seconds for the write lock (busy timeout), and WAL mode lets readers run meanwhile.
Open one :class:`MetadataStore` per process (or thread).

Example::

    >>> import os, tempfile
    >>> from nas_plugins.store import MetadataStore
    >>> path = os.path.join(tempfile.mkdtemp(), "meta.sqlite")
    >>> with MetadataStore(path) as store:
    ...     _ = store.add_task("digits", metadata={"rows": 1797, "classes": 10})
    ...     _ = store.add_trial("digits", {"lr": 0.1, "op": "conv"}, 0.93, curve=[0.5, 0.8, 0.93], cost=12.5)
    ...     _ = store.add_trial("digits", {"lr": 3.0, "op": "conv"}, None)        # failed: no metric
    ...     [(t["name"], t["trials"]) for t in store.tasks()], [t["status"] for t in store.trials("digits")]
    ([('digits', 2)], ['SUCCEEDED', 'FAILED'])
    >>> MetadataStore(path).to_pandas()[["task", "metric", "cost"]].to_string(index=False)
    ' task  metric  cost\\ndigits    0.93  12.5\\ndigits     NaN   NaN'
"""
from __future__ import annotations

import json
import math
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence
from urllib.parse import quote

from .strategy import as_metric

__all__ = ["MetadataStore", "StoreError", "SCHEMA_VERSION", "read_nni"]

SCHEMA_VERSION = 1
_SQLITE_HEADER = b"SQLite format 3\x00"
_SCHEMA = (
    """CREATE TABLE tasks (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, source TEXT NOT NULL,
        metadata TEXT NOT NULL DEFAULT '{}', created REAL NOT NULL)""",
    """CREATE TABLE runs (
        id INTEGER PRIMARY KEY, task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        name TEXT NOT NULL, source TEXT NOT NULL, config TEXT NOT NULL DEFAULT '{}', created REAL NOT NULL,
        UNIQUE (task_id, name))""",
    """CREATE TABLE trials (
        id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        trial_key TEXT, config TEXT NOT NULL, curve TEXT NOT NULL DEFAULT '[]', metric REAL, cost REAL,
        status TEXT NOT NULL, extra TEXT NOT NULL DEFAULT '{}', created REAL NOT NULL,
        UNIQUE (run_id, trial_key))""",
    "CREATE INDEX trials_run ON trials(run_id)",
    "CREATE INDEX runs_task ON runs(task_id)",
)
_TABLES = {"tasks", "runs", "trials"}
_DEFAULT_RUN = "default"
_NNI_TERMINAL = {"SUCCEEDED", "FAILED", "USER_CANCELED", "SYS_CANCELED", "EARLY_STOPPED"}


class StoreError(Exception):
    """A store file that cannot be used (wrong version, not a store, not SQLite, corrupt), or an
    import source that cannot be read."""


# ============================================================================= JSON helpers

def _clean(obj: Any) -> Any:
    """``obj`` as plain JSON data: numpy scalars and arrays to Python, NaN/inf to None, tuples to
    lists, unknown objects to their ``str``."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_clean(v) for v in obj]
    tolist = getattr(obj, "tolist", None)           # numpy scalars and arrays, torch tensors
    if callable(tolist):
        return _clean(tolist())
    return str(obj)


def _dumps(obj: Any) -> str:
    return json.dumps(_clean(obj), sort_keys=True, allow_nan=False)


def _metric(value: Any) -> float | None:
    """A finite float, or None (failed, missing, NaN, non-numeric); a dict uses its ``default``."""
    return as_metric(value.get("default") if isinstance(value, Mapping) else value)


# ============================================================================= the store

class MetadataStore:
    """The store in the SQLite file ``path`` (created with the schema when missing or empty).

    ``timeout``: seconds a write waits for another process's write to finish (busy timeout);
    ``create=False``: a missing file raises FileNotFoundError instead of becoming a new store.
    Tasks are named by ``name`` (or given by id) in every method.
    """

    def __init__(self, path: str | Path, *, timeout: float = 30.0, create: bool = True):
        self.path = Path(path).expanduser()
        self._timeout = float(timeout)
        if self.path.is_dir():
            raise StoreError(f"{self.path}: is a folder, not a metadata store file")
        if not create and not self.path.is_file():
            raise FileNotFoundError(f"no metadata store at {self.path}")
        self._check_header()
        try:
            self._conn = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open ({exc})") from None
        self._conn.row_factory = sqlite3.Row
        try:
            self._open()
        except StoreError:
            self._conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise StoreError(f"{self.path}: corrupt or unreadable SQLite database ({exc})") from None

    # -- opening --------------------------------------------------------------------------------
    def _check_header(self) -> None:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb") as f:
            head = f.read(len(_SQLITE_HEADER))
        if head != _SQLITE_HEADER:
            raise StoreError(f"{self.path}: not an SQLite database (the file starts with {head[:16]!r}, "
                             f"not {_SQLITE_HEADER!r})")

    def _open(self) -> None:
        conn = self._conn
        conn.execute("PRAGMA foreign_keys = ON")
        if self._version_and_tables() == (0, set()):
            with self._write():
                if self._version_and_tables() == (0, set()):      # not made meanwhile by another process
                    for statement in _SCHEMA:
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        version, tables = self._version_and_tables()
        if version == 0:
            raise StoreError(f"{self.path}: an SQLite database but not a nas-plugins metadata store "
                             f"(no schema version; tables: {', '.join(sorted(tables))})")
        if version != SCHEMA_VERSION:
            raise StoreError(f"{self.path}: metadata store schema version {version}; this version of "
                             f"nas-plugins reads version {SCHEMA_VERSION}")
        if not _TABLES <= tables:
            raise StoreError(f"{self.path}: schema version {version} but tables {', '.join(sorted(_TABLES - tables))} "
                             "are missing")
        mode = self._switch_to_wal()
        if str(mode).lower() != "wal":
            raise StoreError(f"{self.path}: cannot switch to WAL mode (journal mode {mode})")

    def _switch_to_wal(self) -> str:
        """``PRAGMA journal_mode = WAL``, retried while another process holds a lock: the switch needs the
        file to itself, and SQLite answers "database is locked" at once there instead of waiting out the
        busy timeout (two processes opening a new store together)."""
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                return self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise StoreError(f"{self.path}: locked by another process for more than {self._timeout:g} s "
                                     "(switching to WAL mode)") from None
                time.sleep(0.02)

    def _version_and_tables(self) -> tuple[int, set[str]]:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return int(version), tables

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taking the write lock at once (waits up to the busy timeout)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "MetadataStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MetadataStore({str(self.path)!r})"

    # -- writing --------------------------------------------------------------------------------
    def add_task(self, name: str, source: str = "user", metadata: Mapping[str, Any] | None = None) -> int:
        """The id of the task ``name``, added if new. ``metadata`` (a JSON-able dict: the data set's
        description) replaces the stored one when given; ``source`` says where the task came from."""
        with self._write():
            return self._task_id(name, source, metadata)

    def add_run(self, task: str | int, name: str = _DEFAULT_RUN, source: str | None = None,
                config: Mapping[str, Any] | None = None) -> int:
        """The id of run ``name`` of ``task`` (the task is added if new), added if new; ``config``
        (the experiment's settings) replaces the stored one when given."""
        with self._write():
            return self._run_id(self._task_ref(task), name, source, config)

    def add_trial(self, task: str | int, config: Mapping[str, Any], metric: Any = None, *,
                  curve: Sequence[Any] | None = None, cost: float | None = None, status: str | None = None,
                  run: str = _DEFAULT_RUN, key: str | None = None, extra: Mapping[str, Any] | None = None) -> int:
        """Add one trial to run ``run`` (default ``'default'``) of ``task`` (both added if new); its id.

        ``metric``: the final result (None, NaN or a non-number: none); ``curve``: intermediate
        results; ``cost``: seconds; ``status``: default ``SUCCEEDED`` with a metric, else ``FAILED``;
        ``key``: the host's id of the trial (a trial with the same key in the run is replaced).
        """
        return self.add_trials(task, [dict(config=config, metric=metric, curve=curve, cost=cost, status=status,
                                           key=key, extra=extra)], run=run)[0]

    def add_trials(self, task: str | int, trials: Iterable[Mapping[str, Any]], *, run: str = _DEFAULT_RUN,
                   source: str | None = None) -> list[int]:
        """Add trials (dicts with the arguments of :meth:`add_trial`: ``config`` and optionally ``metric``,
        ``curve``, ``cost``, ``status``, ``key``, ``extra``) in one transaction; their ids."""
        rows = [self._trial_row(t) for t in trials]
        with self._write():
            run_id = self._run_id(self._task_ref(task), run, source, None)
            return [self._insert_trial(run_id, row) for row in rows]

    # -- reading --------------------------------------------------------------------------------
    def tasks(self) -> list[dict]:
        """Every task: ``id``, ``name``, ``source``, ``metadata`` (a dict), ``runs``, ``trials`` (counts)."""
        rows = self._conn.execute(
            "SELECT t.id, t.name, t.source, t.metadata, t.created, "
            "(SELECT COUNT(*) FROM runs r WHERE r.task_id = t.id) AS runs, "
            "(SELECT COUNT(*) FROM trials x JOIN runs r ON x.run_id = r.id WHERE r.task_id = t.id) AS trials "
            "FROM tasks t ORDER BY t.id").fetchall()
        return [{**dict(r), "metadata": json.loads(r["metadata"])} for r in rows]

    def runs(self, task: str | int | None = None) -> list[dict]:
        """Every run (of ``task``): ``id``, ``task``, ``name``, ``source``, ``config`` (a dict), ``trials``."""
        where, args = self._task_filter(task)
        rows = self._conn.execute(
            "SELECT r.id, t.name AS task, r.name, r.source, r.config, r.created, "
            "(SELECT COUNT(*) FROM trials x WHERE x.run_id = r.id) AS trials "
            f"FROM runs r JOIN tasks t ON r.task_id = t.id {where} ORDER BY r.id", args).fetchall()
        return [{**dict(r), "config": json.loads(r["config"])} for r in rows]

    def trials(self, task: str | int | None = None, *, run: str | None = None, status: str | None = None) -> list[dict]:
        """The trials (of ``task``, its run ``run``, with ``status``), in the order they were added:
        ``id``, ``task``, ``run``, ``key``, ``config`` (a dict), ``curve`` (a list), ``metric``, ``cost``,
        ``status``, ``extra`` (a dict)."""
        return [self._decode(r) for r in self._trial_rows(task, run, status)]

    def to_pandas(self, task: str | int | None = None, *, flatten: bool = False):
        """The trials (of ``task``) as a pandas DataFrame, one row per trial: ``task``, ``task_source``,
        ``run``, ``run_source``, ``trial_id``, ``key``, ``status``, ``metric``, ``cost``, ``curve_length``,
        and ``config``, ``curve``, ``extra`` as JSON text (so that any mix of tasks exports to CSV or
        parquet). ``flatten``: also one column ``config.<name>`` per parameter (nested dicts joined by dots)."""
        import pandas as pd
        columns = ["task", "task_source", "run", "run_source", "trial_id", "key", "status", "metric", "cost",
                   "curve_length", "config", "curve", "extra"]
        records = []
        for r in self._trial_rows(task, None, None):
            records.append({"task": r["task"], "task_source": r["task_source"], "run": r["run"],
                            "run_source": r["run_source"], "trial_id": r["id"], "key": r["trial_key"],
                            "status": r["status"], "metric": r["metric"], "cost": r["cost"],
                            "curve_length": len(json.loads(r["curve"])), "config": r["config"],
                            "curve": r["curve"], "extra": r["extra"]})
        frame = pd.DataFrame.from_records(records, columns=columns)
        frame["metric"] = frame["metric"].astype(float)
        frame["cost"] = frame["cost"].astype(float)
        if flatten and len(frame):
            configs = pd.json_normalize([json.loads(c) for c in frame["config"]], sep=".")
            configs.columns = [f"config.{c}" for c in configs.columns]
            frame = pd.concat([frame, configs.set_index(frame.index)], axis=1)
        return frame

    # -- importers ------------------------------------------------------------------------------
    def import_nni(self, path: str | Path, *, task: str | None = None,
                   metadata: Mapping[str, Any] | None = None) -> dict:
        """Import an NNI experiment from its folder (``<experiment dir>/db/nni.sqlite``) or that file:
        a run named by the experiment id (its config: NNI's experiment profile), one trial per trial job
        (see :func:`read_nni`). ``task``: default the experiment's name, else ``nni/<id>``. Importing
        again refreshes the run. Returns ``{"task", "run", "trials"}``."""
        profile, trials = read_nni(path)
        exp_id = profile.get("id") or Path(path).name
        name = task or profile.get("params", {}).get("experimentName") or f"nni/{exp_id}"
        with self._write():
            task_id = self._task_id(name, "nni", metadata)
            run_id = self._run_id(task_id, exp_id, "nni", profile)
            for t in trials:
                self._insert_trial(run_id, self._trial_row(t))
        return {"task": name, "run": exp_id, "trials": len(trials)}

    def import_autogluon(self, predictor: Any, *, task: str | None = None,
                         metadata: Mapping[str, Any] | None = None) -> dict:
        """Import a fitted AutoGluon ``TabularPredictor``: a run named by the predictor's path, one
        trial per model of its leaderboard (an HPO trial is a model, e.g. ``LightGBM/T3``): ``config``
        its hyperparameters, ``metric`` its validation score (``score_val``, higher is better),
        ``cost`` its fit time; models that failed to fit (``model_info_failures``) as FAILED trials. No
        learning curves. ``task``: default ``autogluon/<label>``; its metadata: label, problem type,
        metric, row/column counts, features (``metadata`` adds to them)."""
        info = predictor.info()
        board = predictor.leaderboard(silent=True)
        model_info = info.get("model_info", {})
        name = task or f"autogluon/{info.get('label')}"
        task_meta = {k: info.get(k) for k in ("label", "problem_type", "eval_metric", "num_rows_train",
                                              "num_cols_train", "num_rows_val", "num_classes", "features")}
        task_meta.update(metadata or {})
        run_config = {k: info.get(k) for k in ("path", "version", "time_limit", "time_fit_total", "best_model",
                                               "best_model_score_val", "num_models_trained", "num_bag_folds",
                                               "max_stack_level", "random_state")}
        trials = []
        for rec in board.to_dict("records"):
            model = rec["model"]
            mi = model_info.get(model, {})
            trials.append({"key": model, "config": mi.get("hyperparameters", {}), "metric": rec.get("score_val"),
                           "cost": rec.get("fit_time"), "status": "SUCCEEDED",
                           "extra": {"model_type": mi.get("model_type"), "eval_metric": rec.get("eval_metric"),
                                     "pred_time_val": rec.get("pred_time_val"), "stack_level": rec.get("stack_level"),
                                     "fit_order": rec.get("fit_order"), "can_infer": rec.get("can_infer")}})
        for failure in info.get("model_info_failures") or []:
            failure = failure if isinstance(failure, Mapping) else {"error": str(failure)}
            trials.append({"key": str(failure.get("model", failure.get("name", f"failure{len(trials)}"))),
                           "config": failure.get("hyperparameters") or {}, "metric": None, "status": "FAILED",
                           "extra": {k: v for k, v in failure.items() if k not in ("hyperparameters",)}})
        run = str(info.get("path") or "autogluon")
        with self._write():
            task_id = self._task_id(name, "autogluon", task_meta)
            run_id = self._run_id(task_id, run, "autogluon", run_config)
            for t in trials:
                self._insert_trial(run_id, self._trial_row(t))
        return {"task": name, "run": run, "trials": len(trials)}

    def import_lcbench(self, path: str | Path, *, tasks: Sequence[str] | None = None,
                       limit: int | None = None) -> dict:
        """Import the LCBench table ``lcbench_curves.npz`` at ``path``: a task ``lcbench/<OpenML task
        id>`` per task (``tasks``: those ids only), run ``lcbench``, a trial per configuration (the
        first ``limit``): its 52-epoch validation accuracy curve (percent), the final one as ``metric``
        and the cumulative training time as ``cost``. Returns ``{"tasks", "trials"}``."""
        from .lcbench import load_lcbench
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"LCBench table not found at {path}")
        table = load_lcbench(str(path))
        wanted = [str(t) for t in tasks] if tasks else table.tasks
        unknown = sorted(set(wanted) - set(table.tasks))
        if unknown:
            raise ValueError(f"{path}: no LCBench task(s) {', '.join(unknown)}; tasks: {', '.join(table.tasks)}")
        n = table.configs.shape[0] if limit is None else min(limit, table.configs.shape[0])
        configs = [table.config(i) for i in range(n)]
        total = 0
        for task_name in wanted:
            t = table.tasks.index(task_name)
            rows = [{"key": str(i), "config": configs[i], "curve": table.acc[t, i].tolist(),
                     "metric": float(table.acc[t, i, -1]), "cost": float(table.time[t, i, -1]), "status": "SUCCEEDED"}
                    for i in range(n)]
            meta = {"benchmark": "LCBench", "openml_task_id": task_name, "metric": "validation accuracy (%)",
                    "epochs": int(table.acc.shape[2]), "configurations": int(table.configs.shape[0])}
            with self._write():
                task_id = self._task_id(f"lcbench/{task_name}", "lcbench", meta)
                run_id = self._run_id(task_id, "lcbench", "lcbench", {"file": str(path)})
                for row in rows:
                    self._insert_trial(run_id, self._trial_row(row))
            total += n
        return {"tasks": len(wanted), "trials": total}

    def import_nb201(self, path: str | Path, *, datasets: Sequence[str] = ("cifar10",),
                     limit: int | None = None) -> dict:
        """Import the NAS-Bench-201 table ``nb201.csv.gz`` at ``path``: a task ``nb201/<dataset>`` per
        dataset (cifar10 = the cifar10-valid split, cifar100, imagenet16), run ``nb201``, a trial per
        architecture (the first ``limit`` rows), keyed by its NB201 string: ``config`` the six edges
        (the ``nb201`` space's parameters), ``metric`` the validation accuracy (percent), ``cost`` the
        training time (s), ``extra`` the test accuracy (also after 12 epochs), latency and parameters
        (MB). Returns ``{"tasks", "trials"}``."""
        import pandas as pd
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"NAS-Bench-201 table not found at {path}")
        frame = pd.read_csv(path, nrows=limit)
        total = 0
        for dataset in datasets:
            needed = [f"{dataset}_{f}" for f in ("val_acc", "test_acc", "test_acc_12ep", "latency_s", "train_time_s")]
            missing = [c for c in ["arch", *needed] if c not in frame.columns]
            if missing:
                raise ValueError(f"{path}: no column(s) {', '.join(missing)} (datasets: cifar10, cifar100, imagenet16)")
            rows = []
            for rec in frame[["arch", *needed, "params_mb"]].to_dict("records"):
                rows.append({"key": rec["arch"], "config": _nb201_config(rec["arch"]),
                             "metric": rec[f"{dataset}_val_acc"], "cost": rec[f"{dataset}_train_time_s"],
                             "status": "SUCCEEDED",
                             "extra": {"test_acc": rec[f"{dataset}_test_acc"], "test_acc_12ep": rec[f"{dataset}_test_acc_12ep"],
                                       "latency_s": rec[f"{dataset}_latency_s"], "params_mb": rec["params_mb"]}})
            meta = {"benchmark": "NAS-Bench-201", "dataset": dataset, "metric": "validation accuracy (%)",
                    "architectures": len(rows)}
            with self._write():
                task_id = self._task_id(f"nb201/{dataset}", "nb201", meta)
                run_id = self._run_id(task_id, "nb201", "nb201", {"file": str(path)})
                for row in rows:
                    self._insert_trial(run_id, self._trial_row(row))
            total += len(rows)
        return {"tasks": len(datasets), "trials": total}

    # -- internals ------------------------------------------------------------------------------
    def _task_ref(self, task: str | int) -> int:
        """The id of ``task`` (a name: added if new; an id: must exist). Inside a write transaction."""
        if isinstance(task, int) and not isinstance(task, bool):
            if self._conn.execute("SELECT 1 FROM tasks WHERE id = ?", (task,)).fetchone() is None:
                raise KeyError(f"no task with id {task} in {self.path}")
            return task
        return self._task_id(str(task), "user", None)

    def _task_id(self, name: str, source: str, metadata: Mapping[str, Any] | None) -> int:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a task name must be a non-empty string, got {name!r}")
        self._conn.execute("INSERT INTO tasks (name, source, metadata, created) VALUES (?, ?, ?, ?) "
                           "ON CONFLICT (name) DO NOTHING", (name, source, _dumps(metadata or {}), time.time()))
        if metadata is not None:
            self._conn.execute("UPDATE tasks SET metadata = ? WHERE name = ?", (_dumps(metadata), name))
        return int(self._conn.execute("SELECT id FROM tasks WHERE name = ?", (name,)).fetchone()[0])

    def _run_id(self, task_id: int, name: str, source: str | None, config: Mapping[str, Any] | None) -> int:
        if source is None:
            source = self._conn.execute("SELECT source FROM tasks WHERE id = ?", (task_id,)).fetchone()[0]
        self._conn.execute("INSERT INTO runs (task_id, name, source, config, created) VALUES (?, ?, ?, ?, ?) "
                           "ON CONFLICT (task_id, name) DO NOTHING",
                           (task_id, str(name), source, _dumps(config or {}), time.time()))
        if config is not None:
            self._conn.execute("UPDATE runs SET config = ? WHERE task_id = ? AND name = ?",
                               (_dumps(config), task_id, str(name)))
        return int(self._conn.execute("SELECT id FROM runs WHERE task_id = ? AND name = ?",
                                      (task_id, str(name))).fetchone()[0])

    @staticmethod
    def _trial_row(t: Mapping[str, Any]) -> tuple:
        unknown = set(t) - {"config", "metric", "curve", "cost", "status", "key", "extra"}
        if unknown:
            raise ValueError(f"unknown trial field(s) {', '.join(sorted(unknown))}; fields: config, metric, curve, "
                             "cost, status, key, extra")
        config = t.get("config")
        if not isinstance(config, Mapping):
            raise TypeError(f"a trial's config must be a dict, got {type(config).__name__}")
        metric = _metric(t.get("metric"))
        cost = _metric(t.get("cost"))
        status = t.get("status") or ("SUCCEEDED" if metric is not None else "FAILED")
        key = t.get("key")
        curve = list(t.get("curve") or [])
        return (None if key is None else str(key), _dumps(config), _dumps([_metric(v) for v in curve]), metric, cost,
                str(status).upper(), _dumps(t.get("extra") or {}))

    def _insert_trial(self, run_id: int, row: tuple) -> int:
        cur = self._conn.execute(
            "INSERT INTO trials (run_id, trial_key, config, curve, metric, cost, status, extra, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, trial_key) DO UPDATE SET "
            "config = excluded.config, curve = excluded.curve, metric = excluded.metric, cost = excluded.cost, "
            "status = excluded.status, extra = excluded.extra RETURNING id",
            (run_id, *row, time.time()))
        return int(cur.fetchone()[0])

    def _task_filter(self, task: str | int | None) -> tuple[str, tuple]:
        if task is None:
            return "", ()
        if isinstance(task, int) and not isinstance(task, bool):
            return "WHERE t.id = ?", (task,)
        return "WHERE t.name = ?", (str(task),)

    def _trial_rows(self, task: str | int | None, run: str | None, status: str | None) -> list[sqlite3.Row]:
        where, args = self._task_filter(task)
        clauses = [where[len("WHERE "):]] if where else []
        if run is not None:
            clauses.append("r.name = ?")
            args += (run,)
        if status is not None:
            clauses.append("x.status = ?")
            args += (status.upper(),)
        sql = ("SELECT x.*, t.name AS task, t.source AS task_source, r.name AS run, r.source AS run_source "
               "FROM trials x JOIN runs r ON x.run_id = r.id JOIN tasks t ON r.task_id = t.id"
               + (" WHERE " + " AND ".join(clauses) if clauses else "") + " ORDER BY x.id")
        return self._conn.execute(sql, args).fetchall()

    @staticmethod
    def _decode(r: sqlite3.Row) -> dict:
        return {"id": r["id"], "task": r["task"], "run": r["run"], "key": r["trial_key"],
                "config": json.loads(r["config"]), "curve": json.loads(r["curve"]), "metric": r["metric"],
                "cost": r["cost"], "status": r["status"], "extra": json.loads(r["extra"])}


def _nb201_config(arch: str) -> dict[str, str]:
    """``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` -> ``{"edge_1_0": op, ...}`` (the ``nb201`` space's
    parameters; parsed here so that the store needs no torch)."""
    nodes = arch.split("+")
    if len(nodes) != 3:
        raise ValueError(f"not an NB201 architecture string: {arch!r}")
    config = {}
    for to, node in enumerate(nodes, start=1):
        for item in node.strip("|").split("|"):
            op, _, frm = item.partition("~")
            config[f"edge_{to}_{frm}"] = op
    return config


# ============================================================================= NNI

def _nni_db(path: str | Path) -> Path:
    p = Path(path).expanduser()
    for candidate in (p, p / "db" / "nni.sqlite", p / "nni.sqlite"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no NNI experiment database at {p} (expected {p / 'db' / 'nni.sqlite'} or the file)")


def _json(text: Any) -> Any:
    """NNI's JSON columns, which hold JSON or JSON-encoded JSON strings."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return text
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def read_nni(path: str | Path) -> tuple[dict, list[dict]]:
    """``(profile, trials)`` of the NNI 3.0 experiment database ``path`` (``nni.sqlite``, or an
    experiment folder holding ``db/nni.sqlite``), read without NNI, read-only.

    ``profile``: the last revision of ``ExperimentProfile`` (``id``, ``params``: the experiment's
    config, ``startTime``, ``endTime``...). ``trials``: one per trial job in ``TrialJobEvent``, as
    :meth:`MetadataStore.add_trials` takes them: ``key`` the trial job id, ``config`` its parameters,
    ``curve`` its PERIODICAL metrics by sequence, ``metric`` its last FINAL metric (a dict metric's
    ``default``), ``cost`` seconds from its first to its last event, ``status`` its last event
    (SUCCEEDED, FAILED, EARLY_STOPPED...), ``extra`` its parameter id and sequence id. A trial's
    parameters are those of the parameter id its metrics carry: NNI 3.0's local training service can
    swap the records of two trials started together (as ``tuners.hosts.nni_experiment.collect_trials``).
    """
    db = _nni_db(path)
    try:
        conn = sqlite3.connect(f"file:{quote(str(db.resolve()))}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise StoreError(f"{db}: cannot open the NNI database ({exc})") from None
    conn.row_factory = sqlite3.Row
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        needed = {"ExperimentProfile", "TrialJobEvent", "MetricData"}
        if not needed <= tables:
            raise StoreError(f"{db}: not an NNI experiment database (no table(s) {', '.join(sorted(needed - tables))})")
        prof = conn.execute("SELECT * FROM ExperimentProfile ORDER BY revision DESC LIMIT 1").fetchone()
        events = conn.execute("SELECT * FROM TrialJobEvent ORDER BY timestamp, rowid").fetchall()
        metrics = conn.execute("SELECT * FROM MetricData ORDER BY timestamp, rowid").fetchall()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{db}: unreadable NNI database ({exc})") from None
    finally:
        conn.close()
    profile: dict = {}
    if prof is not None:
        profile = {k: prof[k] for k in prof.keys()}
        profile["params"] = _json(profile.get("params")) or {}
    jobs: dict[str, dict] = {}
    for e in events:
        job = jobs.setdefault(e["trialJobId"], {"events": [], "params": None, "sequence": e["sequenceId"]})
        job["events"].append((e["timestamp"], e["event"]))
        data = _json(e["data"])
        if job["params"] is None and isinstance(data, Mapping) and "parameters" in data:
            job["params"] = data
        if job["sequence"] is None:
            job["sequence"] = e["sequenceId"]
    by_pid: dict[int, list[tuple[float, dict]]] = {}
    for job in jobs.values():
        if job["params"] is not None and job["params"].get("parameter_id") is not None:
            by_pid.setdefault(int(job["params"]["parameter_id"]), []).append((job["events"][0][0],
                                                                              job["params"]["parameters"]))
    job_metrics: dict[str, list[sqlite3.Row]] = {}
    for m in metrics:
        job_metrics.setdefault(m["trialJobId"], []).append(m)
    trials = []
    for job_id, job in sorted(jobs.items(), key=lambda kv: (kv[1]["events"][0][0], kv[0])):
        mine = job_metrics.get(job_id, [])
        own = job["params"]
        own_pid = None if own is None or own.get("parameter_id") is None else int(own["parameter_id"])
        reported = {int(m["parameterId"]) for m in mine if m["parameterId"] not in (None, "")}
        pid = reported.pop() if len(reported) == 1 else own_pid
        if own is not None and pid == own_pid:
            config = own.get("parameters") or {}
        else:
            started = job["events"][0][0]
            candidates = by_pid.get(pid, []) if pid is not None else []
            config = min(candidates, key=lambda c: abs(c[0] - started))[1] if candidates else {}
        finals = [_json(m["data"]) for m in mine if m["type"] == "FINAL"]
        steps = sorted((m for m in mine if m["type"] == "PERIODICAL"), key=lambda m: m["sequence"])
        start, end = job["events"][0][0], job["events"][-1][0]
        status = job["events"][-1][1]
        terminal = [ev for ev in job["events"] if ev[1] in _NNI_TERMINAL]
        if terminal:
            status, end = terminal[-1][1], terminal[-1][0]
        extra = {"parameter_id": pid, "sequence_id": job["sequence"]}
        if finals and isinstance(finals[-1], Mapping):
            extra["final"] = finals[-1]
        trials.append({"key": job_id, "config": config if isinstance(config, Mapping) else {"value": config},
                       "curve": [_metric(_json(m["data"])) for m in steps],
                       "metric": _metric(finals[-1]) if finals else None,
                       "cost": (end - start) / 1000.0 if end is not None and start is not None else None,
                       "status": status, "extra": extra})
    return profile, trials
