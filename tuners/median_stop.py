"""Median stopping rule (Golovin et al., "Google Vizier", KDD 2017)."""
from __future__ import annotations

import statistics
from typing import Any, Mapping, Sequence

from nas_plugins.strategy import EarlyStopper, as_metric

from .registry import register


@register("median_stop", "assessor", nni_name="NaspMedianStop")
class MedianStop(EarlyStopper):
    """Median stopping: stop a trial whose best value so far is worse than the median of finished trials at that step.

    Missing or NaN reports are skipped, so irregular curves never crash it; a trial is judged
    only from ``start_step`` reports on and once ``min_completed`` trials have finished.

    Example::

        >>> from tuners.median_stop import MedianStop
        >>> m = MedianStop(start_step=2)
        >>> m.complete("a", [0.5, 0.6, 0.7])           # a finished trial's curve
        >>> m.should_stop("b", [0.1, 0.2]), m.should_stop("c", [0.1, 0.9])
        (True, False)
    """

    def __init__(self, *, start_step: int = 5, min_completed: int = 1, mode: str = "max",
                 seed: int | None = None):
        for key, value in (("start_step", start_step), ("min_completed", min_completed)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{key} must be a positive integer, got {value!r}")
        super().__init__(mode=mode, seed=seed)
        self.start_step = start_step
        self.min_completed = min_completed
        self._completed: dict[str, list[float | None]] = {}

    def _best_upto(self, curve: Sequence[Any], step: int) -> float | None:
        scores = [self.score(v) for v in map(as_metric, curve[:step]) if v is not None]
        return max(scores) if scores else None

    def should_stop(self, trial_id: str, curve: Sequence[Any], config: Mapping | None = None) -> bool:
        step = len(curve)
        if step < self.start_step or len(self._completed) < self.min_completed:
            return False
        mine = self._best_upto(curve, step)
        if mine is None:
            return False
        others = [b for b in (self._best_upto(c, step) for c in self._completed.values()) if b is not None]
        if len(others) < self.min_completed:
            return False
        return mine < statistics.median(others)

    def complete(self, trial_id: str, curve: Sequence[Any], success: bool = True,
                 config: Mapping | None = None) -> None:
        if success and any(as_metric(v) is not None for v in curve):
            self._completed[str(trial_id)] = [as_metric(v) for v in curve]
