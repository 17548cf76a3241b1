"""Cost budgets and the MnasNet reward, shared by the NAS strategies.

A *cost* is any number a configuration has that should stay small: parameters, FLOPs, measured
latency. It comes from a user function ``config -> float``, given directly or, from a YAML file,
as an importable ``"package.module:function"`` path. With it a strategy can

* filter: ``max_cost`` makes every configuration with ``cost > max_cost`` infeasible; strategies
  never propose one (see :func:`propose_feasible`);
* trade off: ``reward_target`` (``T``) and ``reward_w`` (``w``) turn a result ``value`` into the
  MnasNet reward ``value * (cost / T) ** w`` (Tan et al. 2019, soft constraint, ``w = -0.07``),
  which the strategy then maximises;
* report: :func:`pareto_front` keeps the (value, cost) trade-offs no other result beats.

Example::

    >>> from nas_plugins.constraints import Constraint, pareto_front
    >>> c = Constraint(cost=lambda cfg: cfg["width"] * 1e3, max_cost=64e3, reward_target=32e3)
    >>> c.feasible({"width": 128}), round(c.reward(0.9, {"width": 64}), 4)
    (False, 0.8574)
    >>> [p[1] for p in pareto_front([({}, 0.9, 5.0), ({}, 0.8, 6.0), ({}, 0.7, 1.0)])]
    [0.7, 0.9]
"""
from __future__ import annotations

import importlib
import math
from typing import Any, Callable, Mapping, Sequence

from .space import config_key
from .strategy import NotReady, Observation, SpaceExhausted, Strategy

__all__ = ["Constraint", "pareto_front", "propose_feasible", "history_pareto_front"]

CostFn = Callable[[Mapping], float]
_MIN_RATIO = 1e-6          # cost/target below this counts as this (a zero cost would make the reward infinite)
_CACHE_LIMIT = 100_000     # cached costs kept before the cache starts over


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _resolve(path: str) -> CostFn:
    """The callable named ``"package.module:function"`` (``"package.module.function"`` also works)."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"cost must be a callable or a 'package.module:function' path, got {path!r}")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001  (any import failure is a bad option)
        raise ValueError(f"cost {path!r}: cannot import module {module_name!r} ({exc})") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"cost {path!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"cost {path!r} is not callable")
    return obj


class Constraint:
    """Size/latency budget and MnasNet reward.

    ``cost``: None, a callable ``config -> float`` or a ``"package.module:function"`` string;
    ``max_cost``: configurations costing more are infeasible; ``reward_target``/``reward_w``:
    the MnasNet reward ``value * (cost / reward_target) ** reward_w`` used for selection.
    ``max_cost`` and ``reward_target`` need ``cost``. Costs are cached per configuration.

    Example::

        >>> from nas_plugins.constraints import Constraint
        >>> from nas_plugins.spaces import nb201
        >>> c = Constraint(cost="nas_plugins.spaces.nb201:params", max_cost=1e6)   # any importable callable
        >>> all_conv = {key: "nor_conv_3x3" for key in nb201.EDGE_KEYS}
        >>> c.cost_of(all_conv), c.feasible(all_conv)
        (1531546.0, False)
        >>> Constraint().active, Constraint().reward(0.5, {})      # no options: no constraint
        (False, 0.5)
    """

    def __init__(self, cost: CostFn | str | None = None, max_cost: float | None = None,
                 reward_target: float | None = None, reward_w: float = -0.07):
        if cost is not None and not isinstance(cost, str) and not callable(cost):
            raise ValueError(f"cost must be a callable, a 'package.module:function' string or null, got {cost!r}")
        if max_cost is not None and not _number(max_cost):
            raise ValueError(f"max_cost must be a finite number or null, got {max_cost!r}")
        if reward_target is not None and not (_number(reward_target) and reward_target > 0):
            raise ValueError(f"reward_target must be a positive number or null, got {reward_target!r}")
        if not _number(reward_w):
            raise ValueError(f"reward_w must be a finite number, got {reward_w!r}")
        for name, value in (("max_cost", max_cost), ("reward_target", reward_target)):
            if value is not None and cost is None:
                raise ValueError(f"{name} needs the cost option (a function config -> cost)")
        self.cost = cost
        self.max_cost = None if max_cost is None else float(max_cost)
        self.reward_target = None if reward_target is None else float(reward_target)
        self.reward_w = float(reward_w)
        self._fn: CostFn | None = _resolve(cost) if isinstance(cost, str) else cost
        self._cache: dict[str, float] = {}
        self.rejected = 0                         # infeasible proposals skipped (see propose_feasible)

    @property
    def active(self) -> bool:
        """True if any of ``cost``, ``max_cost``, ``reward_target`` is set."""
        return self.cost is not None or self.max_cost is not None or self.reward_target is not None

    def cost_of(self, config: Mapping) -> float | None:
        """The cost of ``config``; None without a cost function. A cost that is not a finite
        number raises ValueError naming the option."""
        if self.cost is None:
            return None
        key = config_key(config)
        if key in self._cache:
            return self._cache[key]
        if self._fn is None:                      # after unpickling a string path
            self._fn = _resolve(self.cost)        # type: ignore[arg-type]
        value = self._fn(dict(config))
        if not _number(value):
            raise ValueError(f"cost function {self.cost!r} returned {value!r} (not a finite number) "
                             f"for {dict(config)!r}")
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key] = float(value)
        return float(value)

    def feasible(self, config: Mapping) -> bool:
        """False if ``max_cost`` is set and ``cost(config) > max_cost``."""
        if self.max_cost is None:
            return True
        return self.cost_of(config) <= self.max_cost  # type: ignore[operator]

    def reward(self, value: float, config: Mapping) -> float:
        """The MnasNet reward ``value * (cost / reward_target) ** reward_w`` of a higher-is-better
        ``value``; ``value`` itself without ``reward_target``.

        ``cost / reward_target`` is floored at 1e-6. A negative ``value`` (e.g. a minimised loss
        turned into ``-loss``) is *divided* by the factor instead, so that with ``reward_w < 0`` a
        larger cost lowers the reward whatever the sign.
        """
        if self.reward_target is None:
            return value
        ratio = max(self.cost_of(config) / self.reward_target, _MIN_RATIO)  # type: ignore[operator]
        factor = ratio ** self.reward_w
        return value * factor if value >= 0 else value / factor

    # Pickling: a string path is imported again on first use (the function itself may not pickle).
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if isinstance(self.cost, str):
            state["_fn"] = None
        return state

    def __repr__(self) -> str:
        return (f"Constraint(cost={self.cost!r}, max_cost={self.max_cost!r}, "
                f"reward_target={self.reward_target!r}, reward_w={self.reward_w!r})")


def pareto_front(points: Sequence[tuple[dict, float, float]]) -> list[tuple[dict, float, float]]:
    """The non-dominated ``(config, value, cost)`` points (value higher-better, cost lower-better),
    sorted by cost. A point is dominated if another is at least as good in both and better in one;
    exact ties are all kept. Points whose value or cost is not a finite number are ignored.

    >>> from nas_plugins.constraints import pareto_front
    >>> [p[1:] for p in pareto_front([({}, 1, 3), ({}, 2, 3), ({}, 0, 1), ({}, 0, 2)])]
    [(0, 1), (2, 3)]
    """
    ok = [p for p in points if _number(p[1]) and _number(p[2])]
    ok.sort(key=lambda p: (p[2], -p[1]))
    front: list[tuple[dict, float, float]] = []
    best = -math.inf                       # best value among strictly cheaper points
    i = 0
    while i < len(ok):
        j = i
        while j < len(ok) and ok[j][2] == ok[i][2]:
            j += 1
        top = ok[i][1]                     # the group's best value (sorted first)
        if top > best:
            front.extend(p for p in ok[i:j] if p[1] == top)
            best = top
        i = j
    return front


def history_pareto_front(history: Sequence[Observation], constraint: Constraint,
                         score: Callable[[float], float]) -> list[dict]:
    """``[{"config", "value", "cost"}]``: the Pareto front of the successful results in ``history``,
    ``score`` turning values higher-is-better (so ``mode="min"`` works). Needs ``constraint.cost``."""
    if constraint.cost is None:
        raise ValueError("pareto_front needs the cost option (a function config -> cost)")
    points = []
    for obs in history:
        if obs.value is None:
            continue
        try:
            cost = constraint.cost_of(obs.config)
        except Exception:  # noqa: BLE001  (a foreign configuration the cost function cannot price)
            continue
        points.append((obs, score(obs.value), cost))
    return [{"config": obs.config, "value": obs.value, "cost": cost}
            for obs, _, cost in pareto_front(points)]


def propose_feasible(propose: Callable[[], dict], constraint: Constraint, strategy: Strategy,
                     tries: int = 1000) -> dict:
    """The first of up to ``tries`` proposals of ``propose()`` within ``max_cost``.

    Rejected proposals are marked seen on ``strategy`` (never proposed again) and counted in
    ``constraint.rejected``. Raises :class:`SpaceExhausted` naming ``max_cost`` when no feasible
    proposal turns up or ``propose`` itself runs out.

    Example::

        >>> import numpy as np
        >>> from nas_plugins.constraints import Constraint, propose_feasible
        >>> from nas_plugins.space import Space
        >>> from tuners.random_search import RandomSearch
        >>> space = Space.from_nni({"width": {"_type": "choice", "_value": [16, 32, 64, 128]}})
        >>> strategy, rng = RandomSearch(space, seed=0), np.random.default_rng(0)
        >>> constraint = Constraint(cost=lambda cfg: cfg["width"], max_cost=32)
        >>> propose_feasible(lambda: space.sample(rng), constraint, strategy)
        {'width': 32}
        >>> constraint.rejected, strategy.was_seen({"width": 128})     # 128, 64, 64 were skipped
        (3, True)
    """
    if constraint.max_cost is None:
        return propose()
    for _ in range(tries):
        try:
            config = propose()
        except NotReady:
            raise
        except SpaceExhausted as exc:
            raise SpaceExhausted(f"no feasible configuration left with cost <= max_cost={constraint.max_cost:g} "
                                 f"({constraint.rejected} infeasible skipped; {exc})") from None
        if constraint.feasible(config):
            return config
        strategy._seen.add(config_key(config))
        constraint.rejected += 1
    raise SpaceExhausted(f"no configuration with cost <= max_cost={constraint.max_cost:g} "
                         f"in {tries} proposals")
