"""What the strategies that start warm from a metadata store share (:mod:`tuners.xfernas`, :mod:`tuners.tapas`).

:class:`WarmStart` holds the store options (``store``, ``source_tasks``, ``target_task``,
``max_source_trials``, ``n_trees``, ``n_init``), reads the source tasks once the search space is set
(:func:`nas_plugins.transfer.load_sources`; a subclass may narrow them in :meth:`WarmStart._select`),
the encoder, the cost wrapper's feasibility hook, and pickling: what is derived from the store (the
sources, the fitted predictor, the encoder: ``_derived``) is dropped and rebuilt on demand after
unpickling, except the few fit statistics a subclass names in ``_kept``. :func:`forest` and
:func:`forest_predict` are the extra trees both predictors use.

    >>> from nas_plugins.space import Space
    >>> from tuners.warmstart import WarmStart
    >>> from tuners.xfernas import XferNAS
    >>> space = Space.from_nni({"op": {"_type": "choice", "_value": ["conv", "pool"]}})
    >>> s = XferNAS(space, seed=0)
    >>> isinstance(s, WarmStart), s.sources, s.n_init      # no store: cold, prior samples first
    (True, [], 10)
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable, ClassVar

import numpy as np

from nas_plugins.encoding import ConfigEncoder
from nas_plugins.space import Space
from nas_plugins.strategy import Strategy, auto_warmup
from nas_plugins.transfer import SourceTask, check_store, load_sources

from .weaknas import _int_option

__all__ = ["WarmStart", "forest", "forest_predict", "number"]

#: The trees draw half of the features at each split: on NB201 (300 cells each of CIFAR-10 and -100 as
#: sources) the Spearman correlation of XferNAS's g_u with ImageNet16-120 grew from 0.68 (all features) to 0.81.
MAX_FEATURES = 0.5


def number(name: str, value: Any, low: float, high: float = math.inf) -> float:
    """``value`` checked to be a number in ``[low, high]`` (a ValueError naming the option otherwise)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        bounds = f">= {low}" if high == math.inf else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be a number {bounds}, got {value!r}")
    return float(value)


def forest(n_trees: int, seed: int, X: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None):
    """Extra trees (``n_trees``, :data:`MAX_FEATURES` of the features at each split) fitted on one thread."""
    from sklearn.ensemble import ExtraTreesRegressor
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ExtraTreesRegressor(n_estimators=n_trees, max_features=MAX_FEATURES, random_state=seed,
                                   n_jobs=1).fit(X, y, sample_weight=weight)


def forest_predict(model: Any, X: np.ndarray) -> np.ndarray:
    """The forest's mean prediction, tree by tree: an evolution predicts small batches thousands of
    times, and ``model.predict``'s per-tree dispatch costs ~10x the trees' own work there."""
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    return np.mean([tree.tree_.predict(X32).reshape(len(X32), -1)[:, 0] for tree in model.estimators_], axis=0)


class WarmStart(Strategy):
    """A strategy that learns from a metadata store's other tasks (abstract: see the module docstring).

    Subclasses call :meth:`_store_options` before ``Strategy.__init__``, extend :meth:`_clear` (what
    is derived from the space and the store) and :meth:`_reset` (the search state a new space drops),
    and may narrow the sources in :meth:`_select`.
    """

    _feasible: Callable[[dict], bool] | None = None
    _need: ClassVar[str | None] = None                     # a metadata key every source task must have
    _derived: ClassVar[tuple[str, ...]] = ("_sources", "_model", "_encoder")   # not pickled
    _kept: ClassVar[tuple[str, ...]] = ()                  # derived, but pickled (fit statistics)

    def _store_options(self, store: Any, source_tasks: Any, target_task: str | None, max_source_trials: int,
                       n_trees: int, n_init: int | None) -> None:
        self.source_tasks = check_store(store, source_tasks, target_task)
        self.store = None if store is None else str(store)
        self.target_task = target_task
        self.max_source_trials = _int_option("max_source_trials", max_source_trials, 2)
        self.n_trees = _int_option("n_trees", n_trees, 1)
        self._n_init = None if n_init is None else _int_option("n_init", n_init, 0)

    def _clear(self) -> None:
        """Drop what is derived from the space and the store (rebuilt on demand)."""
        self._sources: list[SourceTask] | None = None
        self._model: Any = None
        self._encoder: ConfigEncoder | None = None

    def _reset(self) -> None:
        """Drop the search state that belongs to the previous space."""

    def _select(self, tasks: list[SourceTask]) -> list[SourceTask]:
        """The source tasks used, of those the store holds in this space."""
        return tasks

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for key in type(self)._derived:
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        kept = {key: getattr(self, key) for key in type(self)._kept}
        self._clear()
        self.__dict__.update(kept)

    @property
    def n_init(self) -> int:
        """Prior samples first: the option; else 0 with source tasks, automatic without (no store, or a
        store with no other task yet: then the strategy is its cold search)."""
        if self._n_init is not None:
            return self._n_init
        return 0 if self.sources else auto_warmup(None, self.trial_budget)

    @property
    def sources(self) -> list[SourceTask]:
        """The source tasks used (read from the store; empty without one)."""
        if self.store is None or self.space is None:
            return []
        if self._sources is None:
            self._sources = self._select(load_sources(
                self.store, self.space, self.source_tasks, self.target_task, mode=self.mode,
                max_trials=self.max_source_trials, seed=int(self.seed or 0), need=self._need))
        return self._sources

    def set_space(self, space: Space) -> None:
        super().set_space(space)
        self._clear()
        self._reset()
        _ = self.sources            # reads the store now: tasks of another space fail here, not at an ask

    def set_feasibility(self, predicate: Callable[[dict], bool] | None) -> None:
        """Propose only configurations for which ``predicate`` is true (the cost wrapper's budget)."""
        if predicate is not None and not callable(predicate):
            raise TypeError(f"feasibility must be a callable config -> bool or None, got {predicate!r}")
        self._feasible = predicate

    def _encoder_(self) -> ConfigEncoder:
        if self._encoder is None:
            assert self.space is not None
            self._encoder = ConfigEncoder(self.space)
        return self._encoder
