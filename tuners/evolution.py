"""Regularized (aging) evolution, Real et al. 2019, for any search space.

The population is the ``population_size`` most recent successful results, oldest first. The
first ``n_init`` proposals (a warm-up, at most ``population_size``) are random unseen samples.
After that every proposal is a child: the best of ``sample_size`` members drawn at random
(tournament selection; all of them while the population holds fewer) with exactly one parameter
mutated. Every result joins the population, which grows to ``population_size`` through children;
from then on the oldest member leaves when a result arrives ("aging": a good configuration
survives only through its descendants, which regularizes against lucky results). Real et al.
fill the whole population at random first; evolving from a small warm-up on instead spends
fewer queries on random samples: on NAS-Bench-201 (held-out seeds 100-149, population 32,
tournament 8) a warm-up of 10 instead of 32 lowered the mean test regret at 25 and 50 queries
by 17-38% on each dataset and left it about the same from 100 queries on.

Mutation changes one active parameter, chosen uniformly:

* ``Choice``: another option, uniformly; a nested choice switches to another branch (its
  sub-parameters sampled from the prior) or, as parameters of their own, mutates one of the
  active branch's sub-parameters. On a NAS space of choices this is "change one op or input".
* ``Float``/``Integer``: a Gaussian step of ``mutation_scale`` in unit space (log space for log
  types), reflected at the bounds, then rounded/quantized; ``Normal``: the same in the unit space
  of its CDF. A step that rounds back to the old value is retried with twice the scale, then
  replaced by a prior sample.

Asks while results are pending produce more children from the current population. Failed
results and configurations outside the space never join the population; results of configurations
it never proposed do. Cost budgets and the MnasNet reward (``cost``, ``max_cost``, ``reward_target``)
come from :class:`~nas_plugins.constraints.Constrained`, which ``tuners.registry.create`` wraps
around any strategy: then the population holds rewards and infeasible configurations are failures. Nothing is proposed twice: a seen child is
mutated again (a new tournament every 10 tries), then a random unseen sample is used; a finite
space ends in :class:`~nas_plugins.strategy.SpaceExhausted`.

Example::

    >>> from nas_plugins.space import Space
    >>> from tuners.evolution import RegularizedEvolution
    >>> space = Space.from_nni({"op": {"_type": "choice", "_value": ["conv", "pool", "skip"]},
    ...                         "lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]}})
    >>> evo = RegularizedEvolution(space, population_size=20, sample_size=5, seed=0)
    >>> cfg = evo.ask()
    >>> evo.tell(cfg, 0.71)
"""
from __future__ import annotations

import copy
import math
from collections import deque
from statistics import NormalDist
from typing import Any, Iterator, Mapping, NamedTuple

import numpy as np

from nas_plugins.space import Choice, Float, Integer, Normal, Param, Space, quantize, values_equal
from nas_plugins.strategy import Strategy, auto_warmup

from .random_search import sample_unseen
from .registry import register

__all__ = ["RegularizedEvolution", "Member", "mutate", "to_unit", "from_unit", "check_int", "check_number"]

_CHILD_TRIES = 100        # mutations tried for an unseen child before falling back to a random sample
_NEW_PARENT_EVERY = 10    # a fresh tournament after this many seen children
_STEP_TRIES = 4           # Gaussian steps (scale doubling) before a prior sample
_U_EPS = 1e-9             # unit-space margin of a Normal's CDF (its tails are infinite)


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` if it is an integer >= ``minimum``, else ValueError naming the option."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_number(name: str, value: Any, low: float, high: float = math.inf, *, low_open: bool = False) -> float:
    """``float(value)`` if it is a finite number in ``[low, high]`` (``(low, high]`` if ``low_open``)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and \
        (value > low if low_open else value >= low) and value <= high
    if not ok:
        where = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise ValueError(f"{name} must be a number in {where}, got {value!r}")
    return float(value)


# -- unit space ----------------------------------------------------------------------------------

def to_unit(p: Float | Integer | Normal, value: Any) -> float:
    """``value`` mapped to [0, 1]: min-max (log for log types), an integer to its cell's centre,
    a normal through its CDF.

    >>> from nas_plugins.space import Integer
    >>> to_unit(Integer("n", 1, 4), 2)
    0.375
    """
    x = float(value)
    if isinstance(p, Integer):
        n = p.high - p.low + 1
        return min(1.0, max(0.0, (x - p.low + 0.5) / n))
    if isinstance(p, Normal):
        if p.log:
            x = math.log(x) if x > 0 else -math.inf
        if math.isinf(x):
            return 0.0 if x < 0 else 1.0
        return NormalDist(p.mu, p.sigma).cdf(x)
    lo, hi = p.low, p.high
    if p.log:
        lo, hi, x = math.log(lo), math.log(hi), math.log(max(x, p.low))
    return min(1.0, max(0.0, (x - lo) / (hi - lo)))


def from_unit(p: Float | Integer | Normal, u: float) -> float | int:
    """The value at unit position ``u`` (inverse of :func:`to_unit`), rounded/quantized into ``p``.

    >>> from nas_plugins.space import Float
    >>> round(from_unit(Float("lr", 1e-4, 1e-2, log=True), 0.5), 12)
    0.001
    """
    u = min(1.0, max(0.0, float(u)))
    if isinstance(p, Integer):
        n = p.high - p.low + 1
        return p.low + min(n - 1, int(math.floor(u * n)))
    if isinstance(p, Normal):
        x = NormalDist(p.mu, p.sigma).inv_cdf(min(1 - _U_EPS, max(_U_EPS, u)))
        return quantize(math.exp(x) if p.log else x, p.q)
    if p.log:
        x = math.exp(math.log(p.low) + u * (math.log(p.high) - math.log(p.low)))
    else:
        x = p.low + u * (p.high - p.low)
    return quantize(x, p.q, p.low, p.high)


def _reflect(u: float) -> float:
    """``u`` folded back into [0, 1] at both ends."""
    u = abs(u) % 2.0
    return 2.0 - u if u > 1.0 else u


# -- mutation ------------------------------------------------------------------------------------

def _mutable(p: Param) -> bool:
    if isinstance(p, Choice):
        return len(p.options) > 1
    if isinstance(p, Normal):
        return True
    return p.size > 1 if isinstance(p, Float) else p.high > p.low


def _active(space: Space, config: dict) -> Iterator[tuple[dict, Param]]:
    """``(holder, param)`` for every mutable active parameter; ``holder[param.name]`` is its value."""
    for p in space:
        if _mutable(p):
            yield config, p
        if isinstance(p, Choice) and p.nested:
            value = config[p.name]
            option = p.options[p.index_of(value)]
            yield from _active(option.space, value)


def _mutate_number(p: Float | Integer | Normal, value: Any, rng: np.random.Generator, scale: float) -> Any:
    u = to_unit(p, value)
    for attempt in range(_STEP_TRIES):
        new = from_unit(p, _reflect(u + rng.normal(0.0, scale * 2 ** attempt)))
        if not values_equal(new, value):
            return new
    for _ in range(_STEP_TRIES):
        new = p.sample(rng)
        if not values_equal(new, value):
            return new
    return value


def mutate(space: Space, config: Mapping, rng: np.random.Generator, scale: float = 0.2) -> dict | None:
    """A copy of ``config`` (which must lie in ``space``) with exactly one parameter changed, or None
    if nothing can change (every parameter single-valued).

    >>> import numpy as np
    >>> from nas_plugins.space import Space
    >>> rng = np.random.default_rng(0)
    >>> mutate(Space.from_nni({"op": {"_type": "choice", "_value": ["a", "b"]}}), {"op": "a"}, rng)
    {'op': 'b'}
    """
    child = copy.deepcopy(dict(config))
    candidates = list(_active(space, child))
    if not candidates:
        return None
    holder, p = candidates[int(rng.integers(len(candidates)))]
    old = holder[p.name]
    if isinstance(p, Choice):
        current = p.index_of(old)
        others = [i for i in range(len(p.options)) if i != current]
        holder[p.name] = p.expand(others[int(rng.integers(len(others)))], rng)
    else:
        holder[p.name] = _mutate_number(p, old, rng, scale)
        if values_equal(holder[p.name], old):
            return None
    return child


class Member(NamedTuple):
    """A population member: its configuration, result and fitness (the result's score: higher is better)."""
    config: dict
    value: float
    fitness: float


@register("evolution", "tuner", nni_name="NaspEvolution", autogluon_name="nasp_evolution")
class RegularizedEvolution(Strategy):
    """Regularized (aging) evolution (Real et al. 2019): tournament selection, one-parameter mutation, oldest dies.

    Options: ``population_size`` (members kept), ``sample_size`` (tournament size, <=
    population_size), ``n_init`` (random proposals before the first child, capped at
    population_size; the population then grows through children; unset, a quarter of the host's
    trial budget, at least 2 and at most 10, or 10 when the budget is unknown: see
    :func:`~nas_plugins.strategy.auto_warmup`), ``mutation_scale`` (standard deviation
    of a numeric step in unit space). The cost options (``cost``, ``max_cost``, ``reward_target``,
    ``reward_w``) of every registered strategy apply through
    :class:`~nas_plugins.constraints.Constrained`: with ``reward_target`` tournaments compare MnasNet rewards.

    Example::

        >>> from nas_plugins.space import Space
        >>> space = Space.from_nni({"op": {"_type": "choice", "_value": ["conv", "pool", "skip"]},
        ...                         "lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]}})
        >>> evo = RegularizedEvolution(space, population_size=20, sample_size=5, seed=0)
        >>> evo.tell(evo.ask(), 0.5)
        >>> len(evo.population)
        1
    """

    def __init__(self, space: Space | None = None, *, population_size: int = 32, sample_size: int = 8,
                 n_init: int | None = None, mutation_scale: float = 0.2,
                 seed: int | None = None, mode: str = "max"):
        self.population_size = check_int("population_size", population_size, 1)
        self.sample_size = check_int("sample_size", sample_size, 1)
        if sample_size > population_size:
            raise ValueError(f"sample_size ({sample_size}) must be <= population_size ({population_size})")
        self._n_init = None if n_init is None else check_int("n_init", n_init, 1)   # None: automatic
        self.mutation_scale = check_number("mutation_scale", mutation_scale, 0.0, 1.0, low_open=True)
        self.population: deque[Member] = deque()
        self._random_proposed = 0        # warm-up random proposals made so far
        self._last_random = False        # whether the last candidate was an initial random one
        super().__init__(space, seed=seed, mode=mode)

    @property
    def n_init(self) -> int:
        """The random warm-up: the option (or automatic, from the trial budget), at most population_size."""
        return min(auto_warmup(self._n_init, self.trial_budget), self.population_size)

    def __setstate__(self, state: dict) -> None:
        if "n_init" in state:                # pickled when the (capped) option was stored as given
            state["_n_init"] = state.pop("n_init")
        self.__dict__.update(state)

    # -- Strategy ---------------------------------------------------------------------------------
    def set_space(self, space: Space) -> None:
        """Set the space; the population is rebuilt from the results so far."""
        super().set_space(space)
        self.population.clear()
        for obs in self.history:
            self._admit(obs.config, obs.value)

    def _propose(self) -> dict:
        config = self._candidate()
        if self._last_random:
            self._random_proposed += 1
        return config

    def _observe(self, config: dict, value: float | None) -> None:
        if self.space is not None:
            self._admit(config, value)

    # -- internals --------------------------------------------------------------------------------
    def _admit(self, config: dict, value: float | None) -> None:
        assert self.space is not None
        if value is None or not self.space.contains(config):
            return
        self.population.append(Member(config, value, self.score(value)))
        while len(self.population) > self.population_size:
            self.population.popleft()

    def _candidate(self) -> dict:
        assert self.space is not None
        evolving = bool(self.population) and (len(self.population) >= self.n_init
                                              or self._random_proposed >= self.n_init)
        if evolving:
            child = self._child()
            if child is not None:
                self._last_random = False
                return child
        self._last_random = not evolving
        return sample_unseen(self.space, self.rng, self.was_seen)

    def _tournament(self) -> Member:
        members = list(self.population)
        picks = self.rng.choice(len(members), size=min(self.sample_size, len(members)), replace=False)
        return max((members[int(i)] for i in picks), key=lambda m: m.fitness)

    def _child(self) -> dict | None:
        assert self.space is not None
        parent = self._tournament()
        for attempt in range(1, _CHILD_TRIES + 1):
            child = mutate(self.space, parent.config, self.rng, self.mutation_scale)
            if child is not None and not self.was_seen(child):
                return child
            if attempt % _NEW_PARENT_EVERY == 0:
                parent = self._tournament()
        return None
