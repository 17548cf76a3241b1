"""Cost budgets, the MnasNet reward and Pareto fronts, for every strategy.

A *cost* is any number a configuration has that should stay small: parameters, FLOPs, measured
latency. It comes from a user function ``config -> float``, given directly or, from a YAML file,
as an importable ``"package.module:function"`` path. :class:`Constraint` holds the options;
:class:`Constrained` applies them to any :class:`~nas_plugins.strategy.Strategy`, and
``tuners.registry.create(name, space, cost=..., max_cost=...)`` wraps every registered strategy
in it (so do the NNI and AutoGluon adapters, through the registry). With them a strategy can

* filter: ``max_cost`` makes every configuration with ``cost > max_cost`` infeasible; it is never
  proposed;
* trade off: ``reward_target`` (``T``) and ``reward_w`` (``w``) turn a result ``value`` into the
  MnasNet reward ``value * (cost / T) ** w`` (Tan et al. 2019, soft constraint, ``w = -0.07``),
  which the strategy then maximises;
* report: :func:`pareto_front` keeps the (value, cost) trade-offs no other result beats
  (:meth:`Constrained.pareto_front` for a run).

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

from .space import Space, config_key
from .strategy import NotReady, SpaceExhausted, Strategy

__all__ = ["Constraint", "Constrained", "CONSTRAINT_OPTIONS", "pareto_front"]

#: The options of :class:`Constraint`, accepted by every registered strategy (``tuners.registry``).
CONSTRAINT_OPTIONS = ("cost", "max_cost", "reward_target", "reward_w")

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
        self.rejected = 0                         # infeasible proposals skipped (see Constrained)

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


_TRIES = 1000        # inner proposals per ask before no feasible one counts as none left
_PATIENCE = 50       # rejections in a row (one ask) told as failures; the next ones as the worst result


class Constrained(Strategy):
    """Any strategy under a :class:`Constraint`; itself a :class:`~nas_plugins.strategy.Strategy`.

    * ``ask``: the inner strategy's next proposal, if it is feasible (``cost <= max_cost``). An
      infeasible one is told back to the inner strategy as a *failed trial*, and the inner strategy
      is asked again: up to ``tries`` times, then :class:`~nas_plugins.strategy.SpaceExhausted`
      naming ``max_cost`` (also when the inner strategy runs out). Why a failure, not a silent
      redraw: every strategy handles failures (the configuration is never proposed again and no
      value is learnt for it), and telling closes what a strategy keeps for a pending proposal
      (Bayesian optimization's constant liar, WeakNAS's pending set, a Hyperband rung that would
      otherwise wait for that result forever). Why not a penalty value: the constrained optimum
      usually lies on the budget's edge, and a model told "infeasible = bad" pulls its feasible
      neighbours down too (NAS-Bench-201, params in the cheapest 25%, 50 evaluations: bo regret
      0.26 with failures, 0.62 with the worst result; WeakNAS worse too; evolution and REINFORCE
      no better). But a strategy that learns nothing from failures and never runs out of new
      points (bo exploring an unobserved category or continuous axis beyond the budget) would
      propose infeasible configurations forever: after ``patience`` rejections in a row within one
      ask (50; bo on NAS-Bench-201 at 10% feasible never needed more than 38), the next ones are
      told as the inner strategy's worst result so far, which any model learns from. Rejections
      count as trials *inside* the inner strategy (e.g. toward its warm-up), never in ``history``.
    * A strategy that ranks pools of candidates can skip infeasible ones itself: if it has a
      ``set_feasibility(predicate)`` method (WeakNAS does), it gets ``constraint.feasible``; its
      proposals are still checked here.
    * ``tell``: ``history`` and ``best`` keep the results as given. The inner strategy hears the
      MnasNet reward when ``reward_target`` is set (negated in ``mode="min"``, so that its score is
      the reward), and a failure for a result over ``max_cost`` told from elsewhere.
    * :meth:`pareto_front`: the (value, cost) trade-offs of the results.

    Costs are computed without the inner strategy's ``budget_key`` (a Hyperband budget is not part
    of the configuration's cost). Attributes the wrapper lacks (``population``, ``probabilities()``,
    ``budget_key``...) are the inner strategy's. The same seed gives the same proposals: the
    wrapper draws nothing itself.

    Example::

        >>> from nas_plugins.constraints import Constrained, Constraint
        >>> from nas_plugins.space import Space
        >>> from tuners.random_search import RandomSearch
        >>> space = Space.from_nni({"width": {"_type": "choice", "_value": [16, 32, 64, 128]}})
        >>> s = Constrained(RandomSearch(space, seed=0), Constraint(cost=lambda c: c["width"], max_cost=32))
        >>> [s.ask()["width"] for _ in range(2)], s.constraint.rejected    # 128 and 64 were told as failures
        ([32, 16], 2)
        >>> s.ask()
        Traceback (most recent call last):
        ...
        nas_plugins.strategy.SpaceExhausted: no feasible configuration left with cost <= max_cost=32 (2 infeasible skipped; all 4 configurations proposed)
    """

    def __init__(self, strategy: Strategy, constraint: Constraint, *, tries: int = _TRIES,
                 patience: int = _PATIENCE):
        if not isinstance(strategy, Strategy):
            raise TypeError(f"Constrained wraps a Strategy, got {type(strategy).__name__}")
        if isinstance(strategy, Constrained):
            raise ValueError("the strategy is already constrained: give all cost options to one Constrained")
        if not isinstance(constraint, Constraint):
            raise TypeError(f"expected a Constraint, got {type(constraint).__name__}")
        if strategy.history:
            raise ValueError("wrap a strategy before it has results (it would have learnt from values, not rewards)")
        if not isinstance(tries, int) or isinstance(tries, bool) or tries < 1:
            raise ValueError(f"tries must be a positive integer, got {tries!r}")
        if not isinstance(patience, int) or isinstance(patience, bool) or patience < 0:
            raise ValueError(f"patience must be a non-negative integer, got {patience!r}")
        self.inner = strategy
        self.constraint = constraint
        self.tries = tries
        self.patience = patience
        super().__init__(None, seed=strategy.seed, mode=strategy.mode)
        self.space = strategy.space
        self.trial_budget = strategy.trial_budget
        restrict = getattr(strategy, "set_feasibility", None)
        if callable(restrict) and constraint.max_cost is not None:
            restrict(constraint.feasible)       # a strategy ranking candidate pools skips infeasible ones

    @property
    def name(self) -> str:  # type: ignore[override]
        """The inner strategy's registry name."""
        return self.inner.name

    def __getattr__(self, attr: str) -> Any:
        # Called only for attributes the wrapper lacks; "inner" itself is missing while unpickling.
        if attr.startswith("__") or attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def __repr__(self) -> str:
        return f"Constrained({type(self.inner).__name__}, {self.constraint!r})"

    # -- Strategy ---------------------------------------------------------------------------------
    def set_space(self, space: Space) -> None:
        super().set_space(space)
        self.inner.set_space(space)

    def set_trial_budget(self, n: int | None) -> None:
        super().set_trial_budget(n)
        self.inner.set_trial_budget(n)

    def _propose(self) -> dict:
        max_cost = self.constraint.max_cost
        for attempt in range(self.tries):
            try:
                config = self.inner.ask()
            except NotReady:
                raise
            except SpaceExhausted as exc:
                if max_cost is None:
                    raise
                raise SpaceExhausted(f"no feasible configuration left with cost <= max_cost={max_cost:g} "
                                     f"({self.constraint.rejected} infeasible skipped; {exc})") from None
            if self.constraint.feasible(self._priced(config)):
                return config
            self._reject(config, penalise=attempt >= self.patience)
        raise SpaceExhausted(f"no configuration with cost <= max_cost={max_cost:g} in {self.tries} proposals")

    def _observe(self, config: dict, value: float | None) -> None:
        self.inner.tell(config, self._inner_value(config, value))

    # -- public helpers ---------------------------------------------------------------------------
    def pareto_front(self) -> list[dict]:
        """``[{"config", "value", "cost"}]``: the results no other beats in both value and cost, by
        cost (needs the ``cost`` option). Results the cost function cannot price are left out."""
        if self.constraint.cost is None:
            raise ValueError("pareto_front needs the cost option (a function config -> cost)")
        points = []
        for obs in self.history:
            if obs.value is None:
                continue
            try:
                cost = self.constraint.cost_of(self._priced(obs.config))
            except Exception:  # noqa: BLE001  (a foreign configuration the cost function cannot price)
                continue
            points.append((obs, self.score(obs.value), cost))
        return [{"config": obs.config, "value": obs.value, "cost": cost} for obs, _, cost in pareto_front(points)]

    # -- internals --------------------------------------------------------------------------------
    def _reject(self, config: dict, penalise: bool) -> None:
        """An infeasible proposal of the inner strategy: told back to it as a failure, or with
        ``penalise`` as its worst result so far; never proposed here."""
        self.constraint.rejected += 1
        self._seen.add(config_key(config))
        self.inner.tell(config, self._penalty() if penalise else None)

    def _penalty(self) -> float | None:
        """The inner strategy's worst successful result (in its terms: a reward with
        ``reward_target``), None before the first."""
        scores = [self.inner.score(o.value) for o in self.inner.history if o.value is not None]
        if not scores:
            return None
        return min(scores) if self.mode == "max" else -min(scores)

    def _priced(self, config: dict) -> dict:
        """``config`` without the inner strategy's budget key: what the cost function sees."""
        key = getattr(self.inner, "budget_key", None)
        if key is None or key not in config:
            return config
        return {k: v for k, v in config.items() if k != key}

    def _inner_value(self, config: dict, value: float | None) -> float | None:
        """What the inner strategy is told: None for a failure or an infeasible configuration, the
        MnasNet reward (in the direction of ``mode``) with ``reward_target``, else ``value``."""
        if value is None:
            return None
        priced = self._priced(config)
        if self.space is not None and not self.space.contains(priced):
            return value                      # not a configuration of the space: the inner strategy decides
        if not self.constraint.feasible(priced):
            return None
        if self.constraint.reward_target is None:
            return value
        reward = self.constraint.reward(self.score(value), priced)
        return reward if self.mode == "max" else -reward
