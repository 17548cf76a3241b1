"""XferNAS (Wistuba, ECML-PKDD 2020, "XferNAS: Transfer Neural Architecture Search"): a performance
predictor split into a part shared by all tasks and a part of this task, ``g(x) = g_u(x) + r(x)``, as
the surrogate of a model-based search. Our design, not the paper's code:

* **Encoder**: the :class:`~nas_plugins.encoding.ConfigEncoder` vector of a configuration (one-hot
  choices, unit-scaled numbers), for any space.
* **g_u**, the universal part: extra trees (``n_trees``, half of the features at each split) fitted once on the source tasks' results from a
  :class:`~nas_plugins.store.MetadataStore` (``store``; ``source_tasks``, or every task of the store
  whose results lie in this space except ``target_task``: :mod:`nas_plugins.transfer`), at most
  ``max_source_trials`` per task. Each task's values become normal scores of their ranks before the
  tasks are pooled (tasks have different scales), so g_u predicts how good a configuration is
  *relative to its task*, standardised over the sources.
* **r**, the residual of this task: with ``m >= 2`` successful results of its own, the search models
  its (standardised, Yeo-Johnson warped, as ``bo``'s) results as ``a * g_u(x) + b + r(x)``: ``a`` is
  the least-squares slope shrunk towards 1 with the weight of ``prior_strength`` results (never below
  0: sources that do not help are switched off), ``b`` the matching offset, and ``r`` a Gaussian
  process (:mod:`nas_plugins.gp`: Matern-5/2, a lengthscale per parameter) on the residuals.
* **Search**: each ask scores a candidate pool (every unseen configuration of a finite space of at most
  ``max_enumerate``, e.g. NB201's 15,625 cells, encoded and predicted once; otherwise ``pool_size``
  prior samples, a quarter of them mutations of the best results and of the sources' best
  configurations, which are candidates too) and proposes the best by log expected improvement of the
  predictive distribution (mean from ``a g_u + b`` plus the GP's, variance the GP's), with a constant
  liar (the best result) for configurations asked but not told yet.

So the first proposals on a new task are g_u's best, in order (no random start: ``n_init`` defaults
to 0 with a store); as results arrive the residual GP takes over where g_u is wrong, and with many
results, or sources that do not predict this task (``a`` -> 0), the search is the cold GP search.
Without ``store`` it is that cold search from the start: ``n_init`` prior samples (a quarter of the
host's trial budget, 2 to 10; 10 when unknown), then EI on the GP alone.

Failed results are never fitted; nothing is proposed twice; a finite space ends in
:class:`~nas_plugins.strategy.SpaceExhausted`. Options are checked at construction (the store file
and the named tasks must exist); the store's tasks are read when the search space is set, and tasks
of another space raise :class:`~nas_plugins.transfer.StoreSpaceError` there. Source metrics are read
in the strategy's ``mode``.

Example (needs the NB201 table)::

    from nas_plugins.store import MetadataStore
    from tuners import registry
    from nas_plugins.spaces import nb201
    MetadataStore("meta.sqlite").import_nb201("nb201.csv.gz", datasets=["cifar10", "cifar100"])
    s = registry.create("xfernas", nb201.space(), store="meta.sqlite", seed=0)   # sources: both tasks
    config = s.ask()                     # g_u's best cell; then tell results and ask again
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from nas_plugins.space import Space, config_key
from nas_plugins.transfer import encoder_groups, normal_scores

from .random_search import sample_unseen
from .registry import register
from .skopt_bo import _warp
from .warmstart import WarmStart, forest, number
from .weaknas import _int_option, mutate

__all__ = ["XferNAS"]

_REFIT_GROWTH = 0.1      # refit the GP's hyperparameters once the results grew by 10%
_N_PARENTS = 5           # mutations of the best this-many results and source configurations
@register("xfernas", "tuner", nni_name="NaspXferNAS", autogluon_name="nasp_xfernas")
class XferNAS(WarmStart):
    """XferNAS (Wistuba 2020): surrogate g_u(x) + r(x), g_u learned on a metadata store's other tasks, r on this one; EI over a pool.

    Options: ``store`` (a metadata store file; none: a cold GP search), ``source_tasks`` (task names;
    default every task of the store in this space except ``target_task``), ``target_task``,
    ``n_init`` (prior samples first: 0 with source tasks, else automatic from the host's trial budget),
    ``max_source_trials`` (2000 per task), ``n_trees`` (100, for g_u), ``prior_strength`` (3: how many
    results' worth of belief that g_u's scale fits this task), ``pool_size`` (500), ``max_enumerate``
    (20000), ``xi`` (0.01, EI's margin). See the module docstring.

    Example::

        >>> from nas_plugins.space import Space
        >>> from tuners.xfernas import XferNAS
        >>> space = Space.from_nni({"op": {"_type": "choice", "_value": ["conv", "pool", "skip"]},
        ...                         "lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]}})
        >>> s = XferNAS(space, seed=0)            # no store: a cold model-based search
        >>> for _ in range(12):
        ...     config = s.ask()
        ...     s.tell(config, -abs(config["lr"] - 0.01) + (config["op"] == "conv"))
        >>> s.best.config["op"]
        'conv'
    """

    _derived = WarmStart._derived + ("_source_best", "_grid", "_codes", "_gvals")
    _kept = ("_g_scale",)

    def __init__(self, space: Space | None = None, *, store: Any = None, source_tasks: Any = None,
                 target_task: str | None = None, n_init: int | None = None, max_source_trials: int = 2000,
                 n_trees: int = 100, prior_strength: float = 3.0, pool_size: int = 500,
                 max_enumerate: int = 20_000, xi: float = 0.01, seed: int | None = None, mode: str = "max"):
        self._store_options(store, source_tasks, target_task, max_source_trials, n_trees, n_init)
        self.prior_strength = number("prior_strength", prior_strength, 0.0)
        self.pool_size = _int_option("pool_size", pool_size, 1)
        self.max_enumerate = _int_option("max_enumerate", max_enumerate, 0)
        self.xi = number("xi", xi, 0.0)
        self._pending: dict[str, dict] = {}
        self._theta: np.ndarray | None = None
        self._fit_size = 0
        self._clear()
        super().__init__(space, seed=seed, mode=mode)
        self._model_seed = int(seed if seed is not None else self.rng.integers(2 ** 31 - 1))

    def _clear(self) -> None:
        super()._clear()                            # _model: g_u
        self._g_scale = (0.0, 1.0)                  # g_u's mean and sd on the sources
        self._source_best: list[dict] = []          # the sources' configurations g_u ranks best
        self._grid: tuple[list[str], np.ndarray, np.ndarray] | None = None   # enumerated: keys, X, g
        self._codes: dict[str, np.ndarray] = {}
        self._gvals: dict[str, float] = {}          # config key -> g_u (standardised)

    def _reset(self) -> None:
        self._theta, self._fit_size = None, 0

    # -- ask/tell ---------------------------------------------------------------------------------
    def _propose(self) -> dict:
        config = self._next()
        self._pending[config_key(config)] = config
        return config

    def _observe(self, config: dict, value: float | None) -> None:
        self._pending.pop(config_key(config), None)

    def _next(self) -> dict:
        assert self.space is not None
        self._fit_universal()
        ok = [(o.config, self.score(o.value)) for o in self.history
              if o.value is not None and self.space.contains(o.config)]
        warm = self._model is not None
        if len(self.history) + len(self._pending) < self.n_init or (not warm and len(ok) < 2):
            return sample_unseen(self.space, self.rng, self.was_seen)
        at, X, g = self._candidates(ok)
        if len(X) == 0:
            return sample_unseen(self.space, self.rng, self.was_seen)
        values = self._acquisition(X, g, ok)
        order = self.rng.permutation(len(X))                       # ties broken at random (seeded)
        for i in order[np.argsort(-values[order], kind="stable")]:
            config = at(int(i))
            if self._feasible is None or self._feasible(config):
                return config
        return sample_unseen(self.space, self.rng, self.was_seen)      # infeasible: the cost wrapper rejects it

    # -- the universal predictor g_u --------------------------------------------------------------
    def _encode(self, configs: list[dict]) -> np.ndarray:
        """Encodings, each computed once."""
        keys = [config_key(c) for c in configs]
        new = [(k, c) for k, c in zip(keys, configs) if k not in self._codes]
        if new:
            self._codes.update(zip((k for k, _ in new), self._encoder_().encode_many([c for _, c in new])))
        return np.array([self._codes[k] for k in keys]).reshape(len(keys), self._encoder_().dim)

    def _fit_universal(self) -> None:
        """Fit g_u on the sources once (nothing without a store)."""
        if self._model is not None or not self.sources:
            return
        X = np.vstack([self._encoder_().encode_many(t.configs) for t in self.sources])
        y = np.concatenate([normal_scores(t.values) for t in self.sources])
        model = forest(self.n_trees, self._model_seed, X, y)
        fitted = model.predict(X)
        self._model = model
        self._g_scale = (float(fitted.mean()), float(fitted.std()) or 1.0)
        configs = [c for t in self.sources for c in t.configs]
        best, taken = [], set()
        for i in np.argsort(-fitted, kind="stable"):
            key = config_key(configs[i])
            if key not in taken:
                taken.add(key)
                best.append(configs[i])
            if len(best) == 2 * _N_PARENTS:
                break
        self._source_best = best

    def universal(self, configs: list[dict]) -> np.ndarray:
        """g_u of ``configs``, standardised over the sources (zeros without a store); cached."""
        self._fit_universal()
        keys = [config_key(c) for c in configs]
        new = [(k, c) for k, c in zip(keys, configs) if k not in self._gvals]
        if new:
            self._gvals.update(zip((k for k, _ in new), self._g(self._encode([c for _, c in new]))))
        return np.array([self._gvals[k] for k in keys], dtype=float)

    def _g(self, X: np.ndarray) -> np.ndarray:
        if self._model is None or len(X) == 0:
            return np.zeros(len(X))
        from threadpoolctl import threadpool_limits
        with threadpool_limits(1):
            return (self._model.predict(X) - self._g_scale[0]) / self._g_scale[1]

    # -- candidates -------------------------------------------------------------------------------
    def _candidates(self, ok: list[tuple[dict, float]]) -> tuple[Callable[[int], dict], np.ndarray, np.ndarray]:
        """The unseen candidates: a function giving candidate ``i``, their encodings and g_u values."""
        assert self.space is not None
        space = self.space
        if space.size <= self.max_enumerate:
            if self._grid is None:
                grid = [space.grid_config(i, None) for i in range(space.grid_size(None))]
                X = self._encoder_().encode_many(grid)
                self._grid = ([config_key(c) for c in grid], X, self._g(X))
                self._gvals.update(zip(self._grid[0], self._grid[2]))
            keys, X, g = self._grid
            left = [i for i, k in enumerate(keys) if k not in self._seen]
            return (lambda i: space.grid_config(left[i], None)), X[left], g[left]
        parents = [c for c, _ in sorted(ok, key=lambda t: -t[1])[:_N_PARENTS]] + self._source_best[:_N_PARENTS]
        n_local = self.pool_size // 4 if parents else 0
        cands = list(self._source_best) + [space.sample(self.rng) for _ in range(self.pool_size - n_local)]
        cands += [mutate(space, parents[i % len(parents)], self.rng) for i in range(n_local)]
        unique, taken = [], set()
        for c in cands:
            key = config_key(c)
            if key not in taken and key not in self._seen:
                taken.add(key)
                unique.append(c)
        X = self._encoder_().encode_many(unique).reshape(len(unique), self._encoder_().dim)   # not cached: fresh each ask
        return unique.__getitem__, X, self._g(X)

    # -- the acquisition --------------------------------------------------------------------------
    def _acquisition(self, X: np.ndarray, g: np.ndarray, ok: list[tuple[dict, float]]) -> np.ndarray:
        """Log-EI of the candidates (rows ``X``, g_u values ``g``); g_u alone before 2 results."""
        if len(ok) < 2:
            return g
        from threadpoolctl import threadpool_limits
        with threadpool_limits(1):       # BLAS threads only slow these small matrices down (busy cores)
            return self._log_ei(X, g, ok)

    def _log_ei(self, X: np.ndarray, g: np.ndarray, ok: list[tuple[dict, float]]) -> np.ndarray:
        from nas_plugins import gp
        configs = [c for c, _ in ok]
        Xt = self._encode(configs)
        gt = self.universal(configs)
        loss = _warp(np.array([-v for _, v in ok]))        # standardised, warped; lower is better
        z = -loss
        a, b = self.transfer_weights(gt, z)
        resid = loss + (a * gt + b)                          # the loss's part g_u does not explain
        groups = encoder_groups(self._encoder_().feature_names)
        n = len(ok)
        if self._theta is None or len(self._theta) != int(groups.max()) + 3 or n < self._fit_size or \
                n >= self._fit_size + max(1, int(_REFIT_GROWTH * self._fit_size)):
            self._theta = gp.fit(Xt, resid, groups, self._theta)
            self._fit_size = n
        post = gp.Posterior(Xt, resid, groups, self._theta)
        pending = [c for c in self._pending.values() if self.space.contains(c)]
        if pending:                                          # constant liar: the best result
            post = post.extend(self._encode(pending), float(loss.min()) + (a * self.universal(pending) + b))
        mean, var = post.predict(X)
        return gp.log_ei(mean - (a * g + b), var, float(loss.min()), self.xi)

    def transfer_weights(self, g: np.ndarray, z: np.ndarray) -> tuple[float, float]:
        """``(a, b)`` of ``z ~ a g + b`` (``g``: g_u of the results, ``z``: their standardised values):
        least squares with ``a`` shrunk towards 1 by ``prior_strength`` results' weight, at least 0;
        ``(0, 0)`` without a store."""
        if self._model is None:
            return 0.0, 0.0
        gc, zc = g - g.mean(), z - z.mean()
        a = max(0.0, (float(gc @ zc) + self.prior_strength) / (float(gc @ gc) + self.prior_strength))
        return a, float(z.mean() - a * g.mean())
