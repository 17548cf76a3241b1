"""The two host-agnostic contracts: an ask/tell :class:`Strategy` and an :class:`EarlyStopper`.

Neither knows anything of NNI or AutoGluon; the adapters in ``tuners.hosts`` drive them.

Example::

    >>> from tuners import create
    >>> s = create("random", Space.from_nni({"x": {"_type": "uniform", "_value": [0, 1]}}), seed=0)
    >>> cfg = s.ask()
    >>> s.tell(cfg, 0.5)          # a value; None or NaN marks a failed trial
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Mapping, Sequence

import numpy as np

from .space import Space, config_key

__all__ = ["Strategy", "EarlyStopper", "SpaceExhausted", "NotReady", "Observation", "as_metric", "auto_warmup"]

Mode = Literal["max", "min"]


class SpaceExhausted(Exception):
    """Raised by :meth:`Strategy.ask` when a finite space has nothing left to propose."""


class NotReady(SpaceExhausted):
    """Raised by :meth:`Strategy.ask` when there is work left but all of it waits for pending results
    (e.g. a successive-halving rung waiting for its last trials): ask again after the next ``tell``.

    A subclass of :class:`SpaceExhausted`, so a host that knows only that stops asking for now
    rather than failing; the NNI adapter remembers the request and answers it when a result arrives.
    """


def as_metric(value: Any) -> float | None:
    """A finite float, or None for a failed/missing/NaN/infinite/non-numeric result."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _check_mode(mode: str) -> Mode:
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    return mode  # type: ignore[return-value]


def _check_seed(seed: Any) -> int | None:
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise ValueError(f"seed must be a non-negative integer or null, got {seed!r}")
    return seed


def auto_warmup(option: int | None, trial_budget: int | None, default: int = 10) -> int:
    """The size of a strategy's random warm-up: ``option`` when the user gave one, else a quarter of
    the host's trial budget (at least 2, at most ``default``), else ``default`` when the budget is unknown.

    >>> auto_warmup(None, 8), auto_warmup(None, 20), auto_warmup(None, 200), auto_warmup(None, None), auto_warmup(6, 8)
    (2, 5, 10, 10, 6)
    """
    if option is not None:
        return option
    if trial_budget is None:
        return default
    return min(default, max(2, trial_budget // 4))


@dataclass(frozen=True)
class Observation:
    """A finished trial as the strategy saw it; ``value`` is None for a failed trial."""
    config: dict
    value: float | None


class Strategy(ABC):
    """Ask/tell search strategy over a :class:`Space`.

    Subclasses implement :meth:`_propose` (and optionally :meth:`_observe`). The base class
    keeps the bookkeeping every strategy needs: the seeded RNG, the set of configurations
    already proposed or told (so nothing is proposed twice), and the history of results.
    ``space`` may be given later through :meth:`set_space` (NNI sends it after construction).
    A host that knows how many trials it will run tells it through :meth:`set_trial_budget`.
    """
    name: ClassVar[str] = ""
    trial_budget: int | None = None    # class default: also for strategies pickled before it existed

    def __init__(self, space: Space | None = None, *, seed: int | None = None, mode: Mode = "max"):
        self.seed = _check_seed(seed)
        self.mode = _check_mode(mode)
        self.rng = np.random.default_rng(seed)
        self.space: Space | None = None
        self.history: list[Observation] = []
        self._seen: set[str] = set()
        self.trial_budget = None
        if space is not None:
            self.set_space(space)

    # -- public API ---------------------------------------------------------------------------
    def set_space(self, space: Space) -> None:
        """Set (or replace) the search space. History is kept."""
        if not isinstance(space, Space):
            raise TypeError(f"expected a Space, got {type(space).__name__}")
        self.space = space

    def set_trial_budget(self, n: int | None) -> None:
        """The number of trials the host will run (AutoGluon's ``num_trials``, NNI's ``maxTrialNumber``),
        or None if unknown (the default). Strategies scale automatic defaults to it (the random
        warm-up: see :func:`auto_warmup`); an explicit option always wins. Call before the first ask."""
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
            raise ValueError(f"trial budget must be a positive integer or None, got {n!r}")
        self.trial_budget = n

    def ask(self) -> dict:
        """Propose the next configuration; raise :class:`SpaceExhausted` when there is none."""
        if self.space is None:
            raise RuntimeError(f"{type(self).__name__}: no search space set (call set_space first)")
        config = self._propose()
        self._seen.add(config_key(config))
        return config

    def tell(self, config: Mapping, value: Any) -> None:
        """Report a result. ``config`` need not have come from :meth:`ask`; a ``value`` of None,
        NaN, inf or a non-number records a failed trial. A value for a configuration whose last
        result was a failure replaces that failure (a host may hear of a trial's end before its result)."""
        config = dict(config)
        metric = as_metric(value)
        key = config_key(config)
        self._seen.add(key)
        last = self._last_index()
        i = last.get(key)
        if metric is not None and i is not None and self.history[i].value is None:
            # A result that arrives after the configuration was recorded as failed (a host that
            # heard of the trial's end first) replaces that failure, in place.
            self.history[i] = Observation(config, metric)
        else:
            last[key] = len(self.history)
            self.history.append(Observation(config, metric))
        self._last_len = len(self.history)
        self._observe(config, metric)

    def _last_index(self) -> dict[str, int]:
        """``config_key -> index`` of its latest observation in :attr:`history` (rebuilt if the history
        was changed behind it, e.g. a strategy pickled before the index existed)."""
        last = self.__dict__.get("_last")
        if last is None or self.__dict__.get("_last_len") != len(self.history):
            last = {config_key(o.config): i for i, o in enumerate(self.history)}
            self._last = last
        return last

    def was_seen(self, config: Mapping) -> bool:
        """True if ``config`` was proposed or told before."""
        return config_key(config) in self._seen

    @property
    def best(self) -> Observation | None:
        """The best successful observation so far."""
        ok = [o for o in self.history if o.value is not None]
        if not ok:
            return None
        return max(ok, key=lambda o: self.score(o.value))

    def score(self, value: float) -> float:
        """``value`` turned into "higher is better"."""
        return value if self.mode == "max" else -value

    # -- for subclasses ------------------------------------------------------------------------
    @abstractmethod
    def _propose(self) -> dict:
        """Return a configuration in ``self.space`` (raise :class:`SpaceExhausted` if none)."""

    def _observe(self, config: dict, value: float | None) -> None:
        """React to a result (``value`` None for failures). Default: nothing beyond history."""


class EarlyStopper(ABC):
    """Decides from a partial learning curve whether a running trial should stop.

    ``curve`` holds the intermediate values reported so far, in order; entries may be None/NaN
    (a missing or broken report). ``config`` is the trial's configuration when the host knows it
    (stoppers that model configurations use it; others ignore it). Call :meth:`complete` when a
    trial ends.
    """
    name: ClassVar[str] = ""

    def __init__(self, *, mode: Mode = "max", seed: int | None = None):
        self.mode = _check_mode(mode)
        self.seed = _check_seed(seed)
        self.rng = np.random.default_rng(seed)

    @abstractmethod
    def should_stop(self, trial_id: str, curve: Sequence[Any], config: Mapping | None = None) -> bool:
        """True to stop the trial now."""

    def complete(self, trial_id: str, curve: Sequence[Any], success: bool = True,
                 config: Mapping | None = None) -> None:
        """A trial ended (``success`` False if it failed or was killed)."""

    def score(self, value: float) -> float:
        return value if self.mode == "max" else -value
