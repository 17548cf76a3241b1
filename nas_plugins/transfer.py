"""Source tasks from a metadata store, for strategies that start warm (``xfernas``, ``tapas``).

A warm-started strategy learns from the results other tasks left in a
:class:`~nas_plugins.store.MetadataStore`: ``store`` (the SQLite file), ``source_tasks`` (task names;
None: every task of the store whose results lie in the strategy's search space, except
``target_task``, the task being tuned, if it is in the store at all). :func:`check_store` validates
these options when the strategy is built (a missing file, another kind of file, an unknown task: a
``ValueError`` naming it); :func:`load_sources` reads the tasks' successful trials once the search
space is known, keeping only configurations in the space. A task whose results mostly (more than 10%)
lie outside the space is of another space: named explicitly it raises :class:`StoreSpaceError` (a
:class:`~nas_plugins.space.SearchSpaceError`, so NNI turns the experiment to ERROR with the message);
among all tasks it is skipped, and no task left raises it too. A store with no (other) task at all, the
first experiment of a new store, gives no sources: the strategy starts cold, with a warning.

Metrics are read as the target's are (``mode``: higher is better for ``max``): a store mixing
accuracies and losses needs ``source_tasks``. Scales differ between tasks (CIFAR-10 ~90%, ImageNet16
~40%), so each task's scores become normal scores of their ranks (:func:`normal_scores`) before tasks are
pooled.

Tasks carry data-set descriptors in their metadata; :func:`set_dcn` adds TAPAS's dataset
characterization number (``"dcn"``) to a task::

    >>> import os, tempfile
    >>> from nas_plugins.store import MetadataStore
    >>> from nas_plugins.transfer import set_dcn, check_store
    >>> path = os.path.join(tempfile.mkdtemp(), "meta.sqlite")
    >>> with MetadataStore(path) as store:
    ...     _ = store.add_trial("digits", {"op": "conv"}, 0.9)
    >>> set_dcn(path, "digits", 0.93)
    >>> MetadataStore(path).tasks()[0]["metadata"]
    {'dcn': 0.93}
    >>> check_store(path, ["digits"], None)
    ['digits']
    >>> check_store(path, ["cifar"], None)
    Traceback (most recent call last):
    ...
    ValueError: store .../meta.sqlite: no task 'cifar'; tasks: digits
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .space import SearchSpaceError, Space

__all__ = ["SourceTask", "StoreSpaceError", "check_store", "load_sources", "normal_scores", "set_dcn",
           "task_names_option", "encoder_groups", "open_store"]

_log = logging.getLogger(__name__)
_MIN_IN_SPACE = 0.9      # a task is of the space when at least this share of its results lie in it


class StoreSpaceError(SearchSpaceError):
    """The store's source tasks are not of the strategy's search space."""


@dataclass
class SourceTask:
    """One source task's successful results in the search space (``values`` as stored)."""
    name: str
    metadata: dict
    configs: list[dict] = field(default_factory=list)
    values: np.ndarray = field(default_factory=lambda: np.zeros(0))


def task_names_option(name: str, value: Any) -> list[str] | None:
    """``value`` as a list of task names (a string is one name; None stays None)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{name} must be a task name or a non-empty list of task names, got {value!r}")
    if len(set(value)) != len(value):
        raise ValueError(f"{name} names a task twice: {list(value)!r}")
    return list(value)


def open_store(path: Any):
    """The store at ``path`` (which must exist), or a ValueError naming the problem."""
    from .store import MetadataStore, StoreError
    if not isinstance(path, (str, Path)) or not str(path):
        raise ValueError(f"store must be the path of a metadata store file, got {path!r}")
    try:
        return MetadataStore(path, create=False)
    except FileNotFoundError:
        raise ValueError(f"store {path}: no metadata store file there (make one with `nas-plugins store "
                         "import`)") from None
    except StoreError as exc:
        raise ValueError(f"store {exc}") from None


def check_store(store: Any, source_tasks: Any, target_task: Any) -> list[str] | None:
    """Validate the store options (see the module docstring); the source task names (None: all)."""
    sources = task_names_option("source_tasks", source_tasks)
    if target_task is not None and (not isinstance(target_task, str) or not target_task):
        raise ValueError(f"target_task must be a task name or null, got {target_task!r}")
    if store is None:
        if sources is not None:
            raise ValueError("source_tasks needs the store option (a metadata store file)")
        return None
    if sources is not None and target_task in sources:
        raise ValueError(f"target_task {target_task!r} is also a source task")
    with open_store(store) as db:
        names = [t["name"] for t in db.tasks()]
    for name in sources or []:
        if name not in names:
            raise ValueError(f"store {store}: no task {name!r}; tasks: {', '.join(names) or '(none)'}")
    return sources


def load_sources(store: Any, space: Space, source_tasks: Sequence[str] | None, target_task: str | None, *,
                 mode: str = "max", max_trials: int | None = None, seed: int | None = 0,
                 need: str | None = None) -> list[SourceTask]:
    """The source tasks' successful results in ``space`` (at most ``max_trials`` per task, a seeded
    random subset). ``need``: a metadata key every source task must carry (``"dcn"`` for TAPAS;
    among all tasks, those without it are skipped)."""
    explicit = source_tasks is not None
    with open_store(store) as db:
        tasks = {t["name"]: t for t in db.tasks()}
        names = list(source_tasks) if explicit else [n for n in tasks if n != target_task]
        out, skipped = [], []
        for name in names:
            if name not in tasks:
                raise ValueError(f"store {store}: no task {name!r}; tasks: {', '.join(tasks) or '(none)'}")
            metadata = tasks[name]["metadata"]
            if need is not None and not isinstance(metadata.get(need), (int, float)):
                if explicit:
                    raise ValueError(f"store {store}: task {name!r} has no {need!r} in its metadata "
                                     f"(set one with nas_plugins.transfer.set_{need})")
                skipped.append(f"{name} (no {need})")
                continue
            rows = [t for t in db.trials(name, status="SUCCEEDED") if t["metric"] is not None]
            inside = [t for t in rows if space.contains(t["config"])]
            if not rows or len(inside) < _MIN_IN_SPACE * len(rows) or len(inside) < 2:
                if explicit:
                    example = next((t["config"] for t in rows if not space.contains(t["config"])), None)
                    raise StoreSpaceError(
                        f"store {store}: task {name!r} is not of this search space: {len(inside)} of its "
                        f"{len(rows)} successful results lie in it" + (f" (e.g. not {example})" if example else ""))
                skipped.append(name)
                continue
            if max_trials is not None and len(inside) > max_trials:
                keep = np.sort(np.random.default_rng(seed).choice(len(inside), size=max_trials, replace=False))
                inside = [inside[i] for i in keep]
            values = np.array([t["metric"] for t in inside], dtype=float)
            out.append(SourceTask(name, metadata, [t["config"] for t in inside], values if mode == "max" else -values))
    if not out and not names:
        _log.warning("store %s has no task%s yet: starting cold", store,
                     f" other than the target {target_task!r}" if target_task else "")
        return out
    if not out:
        others = f" other than the target {target_task!r}" if target_task else ""
        wanted = f" and a {need!r} in its metadata" if need else ""
        found = f"skipped: {', '.join(skipped)}" if skipped else "the store has no other task"
        raise StoreSpaceError(f"store {store}: no task{others} has results in this search space{wanted}; {found}")
    return out


def normal_scores(values: Sequence[float]) -> np.ndarray:
    """Normal scores of the ranks of ``values`` (ties share their mean rank): each task's results on
    one scale, whatever the metric's.

    >>> normal_scores([0.9, 0.5, 0.7]).round(3).tolist()
    [0.967, -0.967, 0.0]
    """
    from scipy.stats import norm, rankdata
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return values
    return norm.ppf((rankdata(values) - 0.5) / len(values))


def encoder_groups(feature_names: Sequence[str]) -> np.ndarray:
    """One group per parameter of a :class:`~nas_plugins.encoding.ConfigEncoder`'s columns (a choice's
    one-hot columns share one), for :mod:`nas_plugins.gp`'s lengthscales.

    >>> encoder_groups(["op='conv'", "op='pool'", "lr", "op/conv/k"]).tolist()
    [0, 0, 1, 2]
    """
    index: dict[str, int] = {}
    return np.array([index.setdefault(name.split("=")[0], len(index)) for name in feature_names], dtype=int)


def set_dcn(store: Any, task: str, dcn: float) -> None:
    """Record the dataset characterization number ``dcn`` (in [0, 1]) of ``task`` in its metadata
    (other metadata kept; the task is added if new). ``store``: a path or a MetadataStore."""
    from .store import MetadataStore
    if isinstance(dcn, bool) or not isinstance(dcn, (int, float)) or not math.isfinite(dcn) or not 0 <= dcn <= 1:
        raise ValueError(f"dcn must be a number in [0, 1], got {dcn!r}")
    db = store if isinstance(store, MetadataStore) else MetadataStore(store)
    try:
        current = next((t["metadata"] for t in db.tasks() if t["name"] == task), {})
        db.add_task(task, metadata={**current, "dcn": float(dcn)})
    finally:
        if db is not store:
            db.close()
