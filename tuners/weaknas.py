"""WeakNAS: a sequence of weak predictors, each trained on everything seen so far, each narrowing the
search to the region its predecessor ranked best (Wu et al., NeurIPS 2021, "Stronger NAS with
Weaker Predictors").

One iteration:

1. fit a small predictor on the :class:`~nas_plugins.encoding.ConfigEncoder` vectors of every
   successful result (the strategy's own and any told from elsewhere), target ``score(value)``
   (or the constraint's reward, see below);
2. score a candidate pool: every unseen configuration of a finite space of at most ``pool_size``
   configurations (enumerated once and cached), otherwise ``pool_size`` fresh candidates, half
   prior samples and half mutations of the best configurations found so far;
3. draw ``batch`` candidates uniformly from the predictor's ``top_n`` (exploration rate
   ``batch / top_n``) and propose them, best-predicted first.

The next predictor is fitted when that queue is empty, on whatever results have arrived: asks
made while results are pending simply keep draining the queue. The first ``n_init`` proposals are
prior samples. Failed results are never fitted and nothing is proposed twice; a finite space ends
in :class:`~nas_plugins.strategy.SpaceExhausted`.

Example::

    >>> s = WeakNAS(space, n_init=10, batch=10, top_n=100, seed=0)
    >>> for _ in range(50):
    ...     config = s.ask()
    ...     s.tell(config, evaluate(config))
    >>> s.best.config
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Mapping

import numpy as np
from scipy.stats import rankdata

from nas_plugins.constraints import Constraint, history_pareto_front, propose_feasible
from nas_plugins.encoding import ConfigEncoder
from nas_plugins.space import Branch, Choice, Float, Integer, Normal, Space, _quantize, config_key
from nas_plugins.strategy import SpaceExhausted, Strategy

from .random_search import sample_unseen
from .registry import register

__all__ = ["WeakNAS", "PREDICTORS", "mutate"]

#: The weak predictors on offer (see :meth:`WeakNAS._fit_predict`).
PREDICTORS = ("rf", "et", "gbm", "mlp")
_TOP_PARENTS = 10        # mutations are made of the best this-many configurations
_MIN_FIT = 2             # successful results needed before any predictor is fitted


def _int_option(name: str, value: Any, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


# -- mutation --------------------------------------------------------------------------------------
def _mutate_value(p: Any, value: Any, rng: np.random.Generator) -> Any:
    """A neighbour of ``value`` for parameter ``p`` (a different one where the parameter allows)."""
    if isinstance(p, Choice):
        i = p.index_of(value)
        option = p.options[i] if i >= 0 else None
        if isinstance(option, Branch) and len(option.space) and (len(p.options) == 1 or rng.random() < 0.5):
            sub = {k: v for k, v in value.items() if k != "_name"}
            return {"_name": option.name, **mutate(option.space, sub, rng)}
        others = [j for j in range(len(p.options)) if j != i] or [i]
        return p.expand(int(rng.choice(others)), rng)
    if isinstance(p, Integer):
        step = max(1, round(0.1 * (p.high - p.low)))
        x = int(value) + int(rng.choice([-1, 1])) * int(rng.integers(1, step + 1))
        return int(min(max(x, p.low), p.high))
    if isinstance(p, Float):
        log = p.log and p.low > 0
        lo, hi = (math.log(p.low), math.log(p.high)) if log else (p.low, p.high)
        x = math.log(value) if log else float(value)
        x = min(max(x + rng.normal(0.0, 0.1 * (hi - lo)), lo), hi)
        return _quantize(math.exp(x) if log else x, p.q, p.low, p.high)
    if isinstance(p, Normal):
        x = math.log(value) if (p.log and value > 0) else (p.mu if p.log else float(value))
        x += rng.normal(0.0, 0.25 * p.sigma)
        return _quantize(math.exp(x) if p.log else x, p.q)
    return value


def _mutable(p: Any) -> bool:
    if isinstance(p, Choice):
        return len(p.options) > 1 or (isinstance(p.options[0], Branch) and len(p.options[0].space) > 0)
    if isinstance(p, (Integer, Float)):
        return p.low < p.high
    return True


def mutate(space: Space, config: Mapping, rng: np.random.Generator) -> dict:
    """``config`` with one parameter (sometimes two) changed: another option of a choice (or a
    change inside the chosen branch), a step of an integer, a Gaussian step of a float (10% of its
    range, in log space for log types).

    Example::

        >>> mutate(space, {"op": "conv", "lr": 0.01}, np.random.default_rng(0))
        {'op': 'pool', 'lr': 0.01}
    """
    out = dict(config)
    params = [p for p in space if _mutable(p)]
    if not params:
        return out
    for j in rng.choice(len(params), size=min(len(params), 1 + int(rng.random() < 0.3)), replace=False):
        p = params[int(j)]
        out[p.name] = _mutate_value(p, config[p.name], rng)
    return out


# -- the strategy ----------------------------------------------------------------------------------
@register("weaknas", "tuner", nni_name="NaspWeakNAS", autogluon_name="nasp_weaknas")
class WeakNAS(Strategy):
    """WeakNAS (Wu et al. 2021): refit a weak predictor each round, sample the next round from its top-N.

    Options: ``n_init`` prior samples first; then each round fits ``predictor`` (``"rf"`` random
    forest, ``"et"`` extra trees, ``"gbm"`` LightGBM, ``"mlp"`` an ensemble of 5 small MLPs) on
    the results so far, ranks a pool of ``pool_size`` candidates (a finite space up to that size:
    all of it) and proposes ``batch`` drawn uniformly from the ``top_n`` best-predicted ones.

    Example::

        >>> s = WeakNAS(space, top_n=100, batch=10, seed=0)
        >>> config = s.ask()
        >>> s.tell(config, 0.93)
    """

    def __init__(self, space: Space | None = None, *, n_init: int = 10, batch: int = 10, top_n: int = 100,
                 pool_size: int = 20_000, predictor: str = "rf", cost: Any = None,
                 max_cost: float | None = None, reward_target: float | None = None, reward_w: float = -0.07,
                 seed: int | None = None, mode: str = "max"):
        self.n_init = _int_option("n_init", n_init, 1)
        self.batch = _int_option("batch", batch, 1)
        self.top_n = _int_option("top_n", top_n, 1)
        if self.top_n < self.batch:
            raise ValueError(f"top_n must be >= batch ({batch}), got {top_n!r}")
        self.pool_size = _int_option("pool_size", pool_size, 1)
        if predictor not in PREDICTORS:
            raise ValueError(f"predictor must be one of {', '.join(PREDICTORS)}, got {predictor!r}")
        self.predictor = predictor
        self.constraint = Constraint(cost, max_cost, reward_target, reward_w)
        self._queue: list[dict] = []
        self._pending: set[str] = set()                            # proposed, not told yet
        self._grid: tuple[list[str], np.ndarray] | None = None    # cache: not pickled
        super().__init__(space, seed=seed, mode=mode)

    # -- pickling: the enumerated pool is a cache, rebuilt on demand ------------------------------
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_grid"] = None
        return state

    def set_space(self, space: Space) -> None:
        super().set_space(space)
        self._grid = None
        self._queue = []

    # -- ask/tell ---------------------------------------------------------------------------------
    def _propose(self) -> dict:
        config = self._next()
        self._pending.add(config_key(config))
        return config

    def _observe(self, config: dict, value: float | None) -> None:
        self._pending.discard(config_key(config))

    def _next(self) -> dict:
        assert self.space is not None
        while self._queue:
            config = self._queue.pop(0)
            if not self.was_seen(config):
                return config
        configs, y = self._training_set()
        if len(self.history) + len(self._pending) >= self.n_init and len(y) >= _MIN_FIT:
            self._queue = self._next_batch(configs, y)
            if self._queue:
                return self._queue.pop(0)
        space = self.space
        return propose_feasible(lambda: sample_unseen(space, self.rng, self.was_seen), self.constraint, self)

    def pareto_front(self) -> list[dict]:
        """``[{"config", "value", "cost"}]``: the results no other beats in both value and cost
        (needs the ``cost`` option)."""
        return history_pareto_front(self.history, self.constraint, self.score)

    # -- one round --------------------------------------------------------------------------------
    def _training_set(self) -> tuple[list[dict], np.ndarray]:
        """The successful results in the space (infeasible ones too: they still teach the predictor)
        and their targets: ``score(value)``, or its MnasNet reward with ``reward_target``."""
        assert self.space is not None
        ok = [o for o in self.history if o.value is not None and self.space.contains(o.config)]
        y = [self.constraint.reward(self.score(o.value), o.config) for o in ok]
        return [o.config for o in ok], np.array(y, dtype=float)

    def _next_batch(self, configs: list[dict], y: np.ndarray) -> list[dict]:
        """Fit, rank the pool, draw ``batch`` of the ``top_n`` best-predicted feasible candidates;
        returned best-predicted first. Infeasible candidates met on the way are marked seen."""
        encoder = ConfigEncoder(self.space)
        X = encoder.encode_many(configs)
        y = (rankdata(y) - 0.5) / len(y)            # ranks: only the order of the results matters
        pool, Xpool = self._pool(encoder, configs, y)
        if not pool:
            return []
        pred = self._fit_predict(X, y, Xpool)
        # Ties (e.g. a tree's flat regions) are broken at random: a seeded shuffle, then a stable sort.
        order = self.rng.permutation(len(pool))
        order = order[np.argsort(-pred[order], kind="stable")]
        top: list[dict] = []
        taken: set[str] = set()
        for i in order:
            config = pool[i]() if callable(pool[i]) else pool[i]
            key = config_key(config)
            if key in taken or key in self._seen:           # a sampled pool may repeat itself
                continue
            if not self.constraint.feasible(config):
                self._seen.add(key)
                self.constraint.rejected += 1
                continue
            taken.add(key)
            top.append(config)
            if len(top) == self.top_n:
                break
        chosen = self.rng.choice(len(top), size=min(self.batch, len(top)), replace=False)
        return [top[i] for i in np.sort(chosen)]

    def _pool(self, encoder: ConfigEncoder, configs: list[dict], y: np.ndarray) -> tuple[list, np.ndarray]:
        """Candidates and their encodings: the unseen part of an enumerated finite space (as lazy
        ``grid_config`` calls), or a sample that may hold seen configurations and repeats."""
        assert self.space is not None
        space = self.space
        if space.size <= self.pool_size:
            if self._grid is None:
                grid = [space.grid_config(i, None) for i in range(space.grid_size(None))]
                self._grid = ([config_key(c) for c in grid], encoder.encode_many(grid))
            keys, Xgrid = self._grid
            left = [i for i, k in enumerate(keys) if k not in self._seen]
            if not left:
                raise SpaceExhausted(f"all {len(keys)} configurations proposed")
            return [_GridPoint(space, i) for i in left], Xgrid[left]
        n_mut = self.pool_size // 2
        parents = [configs[i] for i in np.argsort(-y, kind="stable")[:_TOP_PARENTS]]
        cands = [space.sample(self.rng) for _ in range(self.pool_size - n_mut)]
        cands += [mutate(space, parents[i % len(parents)], self.rng) for i in range(n_mut)]
        return cands, encoder.encode_many(cands)

    def _fit_predict(self, X: np.ndarray, y: np.ndarray, Xpool: np.ndarray) -> np.ndarray:
        """Fit the weak predictor on (X, y) and predict Xpool, seeded from the strategy's RNG."""
        from threadpoolctl import threadpool_limits      # a scikit-learn dependency
        seed = int(self.rng.integers(2 ** 31 - 1))
        with threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.predictor in ("rf", "et"):
                from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor
                cls = RandomForestRegressor if self.predictor == "rf" else ExtraTreesRegressor
                model = cls(n_estimators=100, random_state=seed, n_jobs=1)
                return model.fit(X, y).predict(Xpool)
            if self.predictor == "gbm":
                import lightgbm
                model = lightgbm.LGBMRegressor(n_estimators=100, learning_rate=0.1, num_leaves=15,
                                               min_child_samples=3, subsample=0.8, subsample_freq=1,
                                               random_state=seed, n_jobs=1, deterministic=True,
                                               force_row_wise=True, verbose=-1)
                return model.fit(X, y).predict(Xpool)
            from sklearn.neural_network import MLPRegressor
            mu, sd = y.mean(), y.std() or 1.0
            out = np.zeros(len(Xpool))
            for k in range(5):
                model = MLPRegressor(hidden_layer_sizes=(64, 64), max_iter=300, random_state=seed + k)
                out += model.fit(X, (y - mu) / sd).predict(Xpool)
            return out


class _GridPoint:
    """Configuration ``index`` of a finite space's enumeration, built only if chosen."""
    __slots__ = ("space", "index")

    def __init__(self, space: Space, index: int):
        self.space, self.index = space, index

    def __call__(self) -> dict:
        return self.space.grid_config(self.index, None)
