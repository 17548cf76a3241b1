"""WeakNAS: a sequence of weak predictors, each fitted on everything seen so far and each narrowing
the search to the region it ranks best (Wu et al., NeurIPS 2021, "Stronger NAS with Weaker Predictors").

One round:

1. fit a small predictor (extra trees by default) on the
   :class:`~nas_plugins.encoding.ConfigEncoder` vectors of every successful result (the strategy's
   own and any told from elsewhere); the target is the *rank* of ``score(value)``, so only the
   order of the results matters;
2. score a candidate pool: every unseen configuration of a finite space of at most
   ``max_enumerate`` configurations (NB201's 15,625 cells: enumerated and encoded once, cached),
   otherwise ``pool_size`` fresh prior samples (of which a share ``mutation_share`` may instead be
   mutations of the 10 best configurations so far: off by default, as it makes the search local);
3. draw ``batch`` candidates uniformly from the predictor's ``top_n`` unseen ones (exploration rate
   ``batch / top_n``) and queue them, best-predicted first.

The next round starts when the queue is empty, on whatever results have arrived: asks made while
results are pending keep draining the queue. The first ``n_init`` configurations are prior samples
(unset: a quarter of the host's trial budget, at least 2 and at most 10; 10 when it is unknown).
Failed results are never fitted and nothing is proposed twice; a finite space ends in
:class:`~nas_plugins.strategy.SpaceExhausted`. Cost budgets and the MnasNet reward (``cost``,
``max_cost``, ``reward_target``) come from :class:`~nas_plugins.constraints.Constrained`, which
``tuners.registry.create`` wraps around any strategy: then the targets are rewards, and infeasible
configurations are failures (never fitted).

Zero-cost proxies as features (``proxy_features``, e.g. ``["synflow", "params"]``, with ``proxy_build``
as for :class:`~nas_plugins.proxy_filter.ProxyFilter`): each round's pool is cut to ``proxy_pool``
candidates drawn uniformly from it (proxies cost up to ~0.2 s per NB201 network; ``params`` and ``flops``
of a NAS space are analytic and nearly free, so ``proxy_pool: null`` keeps the whole pool), every
result and candidate is scored by the proxies (cached), and the predictor sees the encoding plus one
column per proxy (:class:`~nas_plugins.proxy_features.ProxyFeatures`: the score's rank among all
scored configurations, in [0, 1]). Off by default.

Defaults (``n_init=10, batch=5, top_n=20``, extra trees) were chosen on NAS-Bench-201; the paper
used a larger start (50), ``top_n=100``, ``batch=10`` and an MLP, which ranked worse here at
50-200 queries. Mutations in the pool (``mutation_share=0.5``) made LCBench runs 3-10x worse than
random search: the predictor ranks the incumbent's neighbours first and the search stalls.

Trees (``n_trees=None``): on 0/1 encodings every cut point an extra tree draws splits a feature the
same way, so the trees differ only in how tied splits are broken, and 50 of them rank about like
100 at half the cost (50 was chosen on the synthetic runs below). Mean regret: the synthetic cell
of ``tests/test_weaknas.py`` (40 seeds, 60 queries) 0.66 +- 0.11 with 50 trees, 0.57 +- 0.11 with
100 (0.91 +- 0.10 with 30); NB201 seeds 0-49 at 25/50/100/200 queries, 50 vs 100 trees: CIFAR-10
0.65/0.22/0.07/0.05 vs 0.57/0.19/0.03/0.02, ImageNet16-120 2.09/1.16/0.93/0.88 vs 2.31/1.40/0.81/0.96
(standard errors 0.02-0.16): within seed noise, slightly worse on CIFAR-10. Pass ``n_trees=100`` to
keep the old predictor. Cost, one CPU core, NB201 (every unseen cell scored each round, each result
encoded once): a 500-query run takes about 9 s with 50 trees, 19 s with 100 (about 0.1 s a round);
the first round also enumerates and encodes the cells (0.5 s, once).

Example::

    >>> from nas_plugins.space import Space
    >>> from tuners.weaknas import WeakNAS
    >>> ops = ["conv", "pool", "skip", "none"]
    >>> space = Space.from_nni({f"edge{i}": {"_type": "choice", "_value": ops} for i in range(3)})
    >>> def evaluate(config):                     # conv is the best op, none the worst
    ...     return sum(3 - ops.index(config[f"edge{i}"]) for i in range(3))
    >>> s = WeakNAS(space, n_init=10, batch=5, top_n=20, seed=0)
    >>> for _ in range(30):
    ...     config = s.ask()
    ...     s.tell(config, evaluate(config))
    >>> s.best.value
    9.0
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Mapping

import numpy as np

from nas_plugins.encoding import ConfigEncoder
from nas_plugins.proxy_features import ProxyFeatures
from nas_plugins.space import Branch, Choice, Float, Integer, Normal, Space, config_key, quantize
from nas_plugins.strategy import SpaceExhausted, Strategy, auto_warmup

from .random_search import sample_unseen
from .registry import register

__all__ = ["WeakNAS", "PREDICTORS", "mutate"]

#: The weak predictors on offer (see :meth:`WeakNAS._fit_predict`).
PREDICTORS = ("rf", "et", "gbm", "mlp")
_TOP_PARENTS = 10        # mutations are made of the best this-many configurations
_MIN_FIT = 2             # successful results needed before any predictor is fitted
_BINARY_TREES = 50       # extra trees on 0/1 encodings (n_trees=None); 100 otherwise


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
    x = value
    for _ in range(8):            # a small step may round back to ``value`` (q-types, bounds)
        x = _numeric_step(p, value, rng)
        if not math.isclose(x, value, rel_tol=1e-12, abs_tol=1e-15):
            return x
    if isinstance(p, Float) and p.q is not None:     # then one quantum, inwards
        return quantize(value + (p.q if value - p.q < p.low else -p.q), p.q, p.low, p.high)
    return x


def _reflect(x: float, lo: float, hi: float) -> float:
    """``x`` folded back into ``[lo, hi]`` at the bounds (clipped if it overshoots twice)."""
    if x < lo:
        x = 2 * lo - x
    elif x > hi:
        x = 2 * hi - x
    return min(max(x, lo), hi)


def _numeric_step(p: Integer | Float | Normal, value: float, rng: np.random.Generator) -> float:
    """A random step from ``value``: Gaussian, 10% of the range (in log space for log types,
    reflected at the bounds) or a quarter sigma for normals; at least 1 for integers. Quantized."""
    if isinstance(p, Integer):
        step = max(1, round(0.1 * (p.high - p.low)))
        v = int(value)
        sign = 1 if v <= p.low else -1 if v >= p.high else int(rng.choice([-1, 1]))
        return int(min(max(v + sign * int(rng.integers(1, step + 1)), p.low), p.high))
    if isinstance(p, Float):
        log = p.log and p.low > 0
        lo, hi = (math.log(p.low), math.log(p.high)) if log else (p.low, p.high)
        x = math.log(value) if log else float(value)
        x = _reflect(x + rng.normal(0.0, 0.1 * (hi - lo)), lo, hi)
        return quantize(math.exp(x) if log else x, p.q, p.low, p.high)
    x = math.log(value) if (p.log and value > 0) else (p.mu if p.log else float(value))
    x += rng.normal(0.0, 0.25 * p.sigma)
    return quantize(math.exp(x) if p.log else x, p.q)


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

        >>> import numpy as np
        >>> from nas_plugins.space import Space
        >>> space = Space.from_nni({"op": {"_type": "choice", "_value": ["conv", "pool", "skip"]},
        ...                         "lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]}})
        >>> mutate(space, {"op": "conv", "lr": 0.01}, np.random.default_rng(0))     # lr stepped
        {'op': 'conv', 'lr': 0.0155...}
    """
    out = dict(config)
    params = [p for p in space if _mutable(p)]
    if not params:
        return out
    for j in rng.choice(len(params), size=min(len(params), 1 + int(rng.random() < 0.3)), replace=False):
        p = params[int(j)]
        out[p.name] = _mutate_value(p, config[p.name], rng)
    return out


class _Concat:
    """``configs`` followed by ``config_at(0), config_at(1)...``, made on access (for ProxyFeatures)."""

    def __init__(self, configs: list[dict], config_at: Callable[[int], dict]):
        self.configs, self.config_at = configs, config_at

    def __getitem__(self, i: int) -> dict:
        n = len(self.configs)
        return self.configs[i] if i < n else self.config_at(i - n)


# -- the strategy ----------------------------------------------------------------------------------
@register("weaknas", "tuner", nni_name="NaspWeakNAS", autogluon_name="nasp_weaknas")
class WeakNAS(Strategy):
    """WeakNAS (Wu et al. 2021): refit a weak predictor each round, sample the next round from its top-N.

    Options: ``n_init`` prior samples first (unset: from the host's trial budget, see
    :func:`~nas_plugins.strategy.auto_warmup`); then each round fits ``predictor`` (``"et"`` extra
    trees, ``"rf"`` random forest; ``n_trees`` of them, default 50 for extra trees on 0/1
    encodings, else 100; ``"gbm"`` LightGBM, ``"mlp"`` an ensemble of 5 small MLPs, the
    paper's choice but ~5x slower) on the results so far, ranks the candidates (all of a finite
    space of up to ``max_enumerate`` configurations, else ``pool_size`` sampled ones, a share
    ``mutation_share`` of them mutations of the best configurations) and proposes ``batch`` drawn
    uniformly from the ``top_n`` best-predicted ones. ``proxy_features`` (a zero-cost proxy name or a
    list of them) with ``proxy_build`` (as for ProxyFilter) add the proxies' scores as predictor inputs,
    the pool then cut to ``proxy_pool`` random candidates (None: all; see the module docstring);
    ``proxy_features`` may also be a :class:`~nas_plugins.proxy_features.ProxyFeatures` object (from
    Python, e.g. with precomputed ``known`` scores; ``proxy_build`` is then its own). The cost options of every registered strategy
    (``cost``, ``max_cost``, ``reward_target``, ``reward_w``) apply through
    :class:`~nas_plugins.constraints.Constrained`.

    Example::

        >>> from nas_plugins.space import Space
        >>> space = Space.from_nni({"op": {"_type": "choice", "_value": ["conv", "pool", "skip"]},
        ...                         "lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]}})
        >>> s = WeakNAS(space, top_n=20, batch=5, seed=0)
        >>> config = s.ask()
        >>> s.tell(config, 0.93)
    """

    _feasible: Callable[[dict], bool] | None = None     # see set_feasibility

    def __init__(self, space: Space | None = None, *, n_init: int | None = None, batch: int = 5, top_n: int = 20,
                 predictor: str = "et", n_trees: int | None = None, pool_size: int = 5_000,
                 max_enumerate: int = 20_000,
                 mutation_share: float = 0.0, proxy_features: Any = None, proxy_build: Any = None,
                 proxy_pool: int | None = 500, seed: int | None = None, mode: str = "max"):
        self._n_init = None if n_init is None else _int_option("n_init", n_init, 1)   # None: automatic
        self.batch = _int_option("batch", batch, 1)
        self.top_n = _int_option("top_n", top_n, 1)
        if self.top_n < self.batch:
            raise ValueError(f"top_n must be >= batch ({batch}), got {top_n!r}")
        self.pool_size = _int_option("pool_size", pool_size, 1)
        self.max_enumerate = _int_option("max_enumerate", max_enumerate, 0)
        if isinstance(mutation_share, bool) or not isinstance(mutation_share, (int, float)) \
                or not 0 <= mutation_share <= 1:
            raise ValueError(f"mutation_share must be a number in [0, 1], got {mutation_share!r}")
        self.mutation_share = float(mutation_share)
        if predictor not in PREDICTORS:
            raise ValueError(f"predictor must be one of {', '.join(PREDICTORS)}, got {predictor!r}")
        self.predictor = predictor
        self.n_trees = None if n_trees is None else _int_option("n_trees", n_trees, 1)
        if isinstance(proxy_features, ProxyFeatures):       # a ready object (e.g. with known scores)
            if proxy_build is not None:
                raise ValueError("proxy_build is part of a ProxyFeatures object given as proxy_features")
            self.proxy_features = proxy_features
        else:
            self.proxy_features = None if proxy_features is None else ProxyFeatures(proxy_features, proxy_build)
        self.proxy_pool = None if proxy_pool is None else _int_option("proxy_pool", proxy_pool, 1)
        self._queue: list[dict] = []
        self._pending: set[str] = set()                            # proposed, not told yet
        self._grid: tuple[list[str], np.ndarray] | None = None    # cache: not pickled
        self._codes: dict[str, np.ndarray] = {}                   # config key -> encoding (cache: not pickled)
        super().__init__(space, seed=seed, mode=mode)

    # -- pickling: the enumerated pool is a cache, rebuilt on demand ------------------------------
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_grid"], state["_codes"] = None, {}
        state.pop("_pool_keys", None)
        return state

    def __setstate__(self, state: dict) -> None:
        if "n_init" in state:                # pickled when the option was stored as given
            state["_n_init"] = state.pop("n_init")
        state.setdefault("proxy_features", None)    # pickled before proxy features existed
        state.setdefault("proxy_pool", 500)
        self.__dict__.update(state)

    @property
    def n_init(self) -> int:
        """Prior samples before the first predictor: the option, or automatic from the trial budget
        (:func:`~nas_plugins.strategy.auto_warmup`)."""
        return auto_warmup(self._n_init, self.trial_budget)

    def set_space(self, space: Space) -> None:
        super().set_space(space)
        self._grid, self._codes = None, {}
        self._queue = []

    def set_feasibility(self, predicate: Callable[[dict], bool] | None) -> None:
        """Rank only candidates for which ``predicate(config)`` is true (None: all). The cost
        wrapper :class:`~nas_plugins.constraints.Constrained` passes its budget here, so a round's
        ``top_n`` are feasible instead of proposals the wrapper would reject one by one."""
        if predicate is not None and not callable(predicate):
            raise TypeError(f"feasibility must be a callable config -> bool or None, got {predicate!r}")
        self._feasible = predicate

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
        return sample_unseen(self.space, self.rng, self.was_seen)

    # -- one round --------------------------------------------------------------------------------
    def _training_set(self) -> tuple[list[dict], np.ndarray]:
        """The successful results in the space and their targets, ``score(value)``."""
        assert self.space is not None
        ok = [o for o in self.history if o.value is not None and self.space.contains(o.config)]
        y = [self.score(o.value) for o in ok]
        return [o.config for o in ok], np.array(y, dtype=float)

    def _next_batch(self, configs: list[dict], y: np.ndarray) -> list[dict]:
        """Fit, rank the pool, draw ``batch`` of the ``top_n`` best-predicted unseen candidates;
        returned best-predicted first."""
        from scipy.stats import rankdata    # here, not at import: NNI gives a tuner 10 s to connect
        encoder = ConfigEncoder(self.space)
        X = self._encode(encoder, configs)
        y = (rankdata(y) - 0.5) / len(y)            # ranks: only the order of the results matters
        config_at, Xpool = self._pool(encoder, configs, y)
        if self.proxy_features is not None:
            X, config_at, Xpool = self._with_proxies(configs, X, config_at, Xpool)
        pred = self._fit_predict(X, y, Xpool)
        # Ties (e.g. a tree's flat regions) are broken at random: a seeded shuffle, then a stable sort.
        order = self.rng.permutation(len(Xpool))
        order = order[np.argsort(-pred[order], kind="stable")]
        top: list[dict] = []
        taken: set[str] = set()
        for i in order:
            config = config_at(int(i))
            key = config_key(config)
            if key in taken or key in self._seen:           # a sampled pool may repeat itself
                continue
            if self._feasible is not None and not self._feasible(config):
                continue
            taken.add(key)
            top.append(config)
            if len(top) == self.top_n:
                break
        chosen = self.rng.choice(len(top), size=min(self.batch, len(top)), replace=False)
        return [top[i] for i in np.sort(chosen)]

    def _with_proxies(self, configs: list[dict], X: np.ndarray, config_at: Callable[[int], dict],
                      Xpool: np.ndarray) -> tuple[np.ndarray, Callable[[int], dict], np.ndarray]:
        """The training rows and the pool (cut to ``proxy_pool`` random candidates) with one proxy
        feature column each."""
        assert self.proxy_features is not None
        pool_keys = self.__dict__.get("_pool_keys")      # the enumerated pool's keys (None: a sampled pool)
        if self.proxy_pool is not None and len(Xpool) > self.proxy_pool:
            keep = np.sort(self.rng.choice(len(Xpool), size=self.proxy_pool, replace=False))
            config_at, Xpool = (lambda i, at=config_at: at(int(keep[i]))), Xpool[keep]
            pool_keys = None if pool_keys is None else [pool_keys[int(k)] for k in keep]
        if pool_keys is None:
            pool = [config_at(i) for i in range(len(Xpool))]
            config_at, pool_keys = (lambda i: pool[i]), [config_key(c) for c in pool]
        # One ranking for results and candidates; a candidate is made from its index only when it has no
        # score yet (an enumerated pool with every score cached or known is never materialised).
        keys = [config_key(c) for c in configs] + pool_keys
        lazy = _Concat(configs, config_at)
        F = self.proxy_features.transform(lazy, keys=keys)
        return np.hstack([X, F[:len(configs)]]), config_at, np.hstack([Xpool, F[len(configs):]])

    def _encode(self, encoder: ConfigEncoder, configs: list[dict]) -> np.ndarray:
        """The encodings of ``configs``, each computed once (results are re-fitted every round)."""
        keys = [config_key(c) for c in configs]
        new = [(k, c) for k, c in zip(keys, configs) if k not in self._codes]
        if new:
            self._codes.update(zip((k for k, _ in new), encoder.encode_many([c for _, c in new])))
        return np.array([self._codes[k] for k in keys])

    def _pool(self, encoder: ConfigEncoder, configs: list[dict],
              y: np.ndarray) -> tuple[Callable[[int], dict], np.ndarray]:
        """The candidates' encodings and a function giving candidate ``i``: the unseen part of an
        enumerated finite space (built only when chosen), or a sample that may hold seen
        configurations and repeats."""
        assert self.space is not None
        space = self.space
        if space.size <= self.max_enumerate:
            if self._grid is None:
                grid = [space.grid_config(i, None) for i in range(space.grid_size(None))]
                self._grid = ([config_key(c) for c in grid], encoder.encode_many(grid))
            keys, Xgrid = self._grid
            left = [i for i, k in enumerate(keys) if k not in self._seen]
            if not left:
                raise SpaceExhausted(f"all {len(keys)} configurations proposed")
            self._pool_keys = [keys[i] for i in left]                # for the proxy features' lookups
            return (lambda i: space.grid_config(left[i], None)), Xgrid[left]
        n_mut = round(self.pool_size * self.mutation_share)
        parents = [configs[i] for i in np.argsort(-y, kind="stable")[:_TOP_PARENTS]]
        cands = [space.sample(self.rng) for _ in range(self.pool_size - n_mut)]
        cands += [mutate(space, parents[i % len(parents)], self.rng) for i in range(n_mut)]
        self._pool_keys = None
        return cands.__getitem__, encoder.encode_many(cands)

    def _tree_count(self, *arrays: np.ndarray) -> int:
        """``n_trees``, or by default 50 extra trees when every feature of ``arrays`` is 0/1 (the
        trees then differ only in how tied splits are broken; see the module docstring), else 100."""
        if self.n_trees is not None:
            return self.n_trees
        binary = self.predictor == "et" and not any(np.any((a != 0) & (a != 1)) for a in arrays)
        return _BINARY_TREES if binary else 100

    def _fit_predict(self, X: np.ndarray, y: np.ndarray, Xpool: np.ndarray) -> np.ndarray:
        """Fit the weak predictor on (X, y) and predict Xpool, seeded from the strategy's RNG."""
        from threadpoolctl import threadpool_limits      # a scikit-learn dependency
        seed = int(self.rng.integers(2 ** 31 - 1))
        with threadpool_limits(1), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.predictor in ("rf", "et"):
                from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor
                cls = RandomForestRegressor if self.predictor == "rf" else ExtraTreesRegressor
                model = cls(n_estimators=self._tree_count(X, Xpool), random_state=seed, n_jobs=1)
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

