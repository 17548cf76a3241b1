"""Bayesian optimization with our own Gaussian process (``nas_plugins.gp``; scikit-optimize is not used).

(The module keeps its historical name: NNI YAML files and pickles refer to ``tuners.skopt_bo``.)

How a :class:`~nas_plugins.space.Space` becomes the unit cube the GP works in (:class:`UnitCube`):

* ``Float`` -> one column, ``(x - low) / (high - low)``, on the log scale for log types; a q-type's
  value is rounded to its quantum and clipped to ``[low, high]`` (proposals *and* the points the
  acquisition function is evaluated at, so the model never scores a value that cannot be run).
* ``Integer`` -> one column, the centre of the value's bin: ``(v - low + 0.5) / (high - low + 1)``.
* ``Normal`` -> one column over ``[mu - 3 sigma, mu + 3 sigma]`` (log space for a lognormal): the
  model searches the central 99.7% of the distribution; told values outside are clipped into it.
* ``Choice`` -> one-hot columns over the options (values may be any JSON: dicts, lists, None); the
  columns share one lengthscale.
* Nested choices are flattened: each branch's sub-parameters get columns of their own, named by
  path (``'op/conv/k'``); while the branch is not chosen they hold a fixed filler (0.5; all zeros
  for a choice), so the GP sees them as constant.
* Parameters with a single value (one option, ``low == high``) have no column.

A uniform draw in the cube, snapped, is a draw from the space's prior (log types log-uniform).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nas_plugins.proxy_features import ProxyFeatures
from nas_plugins.space import Choice, Float, Integer, Normal, Param, Space, config_key, quantize
from nas_plugins.strategy import Strategy, auto_warmup

from .random_search import sample_unseen
from .registry import register

if TYPE_CHECKING:
    from nas_plugins import gp

__all__ = ["BayesOpt", "UnitCube"]

ESTIMATORS = ("GP",)
ACQ_FUNCS = ("EI", "PI", "LCB", "gp_hedge")
_REMOVED_ESTIMATORS = ("RF", "ET", "GBRT")

# -- model defaults (principled, not tuned per benchmark) ----------------------------------------------
_XI = 0.01               # EI/PI improvement margin, in standard deviations of the observed losses
_KAPPA = 1.96            # LCB: mean - kappa * sd
_HEDGE_ETA = 1.0         # gp_hedge: softmax temperature on the accumulated gains
_REFIT_GROWTH = 0.1      # refit GP hyperparameters once the results grew by 10% of the training set (>= 1)
_N_RANDOM = 500          # acquisition: random candidates from the prior ...
_N_TOP = 5               # ... plus perturbations of the best observed points ...
_N_PER_TOP = 20
_N_STARTS = 5            # ... then a local search from the best candidates: at each step size, each
_N_STEPS = 20            # start moves to the best of its perturbations if that is better ...
_LOCAL_SCALES = (0.1, 0.05, 0.02, 0.01)
_REFINE_ITERATIONS = 30  # ... and a gradient refinement (L-BFGS-B) of where the starts ended


def _normal_range(p: Normal) -> tuple[float, float]:
    return p.mu - 3 * p.sigma, p.mu + 3 * p.sigma


def _is_dimension(p: Param) -> bool:
    if isinstance(p, Choice):
        return len(p.options) > 1
    return isinstance(p, Normal) or p.low < p.high


@dataclass(frozen=True)
class _Dim:
    """One modelled parameter: its columns, and when it is active (``parent`` dim chose ``option``)."""
    path: str
    param: Param
    start: int
    width: int
    parent: int | None       # index of the nested choice's _Dim whose branch holds it (None: always active)
    option: int               # the branch index of ``parent`` that activates it


_FILLER = 0.5                 # value of an inactive numeric column


class UnitCube:
    """The space as ``[0, 1]^columns`` (see the module docstring): encode, decode, sample, snap.

    >>> from nas_plugins.space import Space
    >>> from tuners.skopt_bo import UnitCube
    >>> space = Space.from_nni({"lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]},
    ...                         "n": {"_type": "randint", "_value": [1, 5]},
    ...                         "op": {"_type": "choice", "_value": ["conv", "pool"]}})
    >>> cube = UnitCube(space)
    >>> cube.columns, cube.groups.tolist()
    (4, [0, 1, 2, 2])
    >>> cube.encode({"lr": 1e-4, "n": 2, "op": "pool"}).tolist()
    [0.0, 0.375, 0.0, 1.0]
    >>> config = cube.decode(cube.encode({"lr": 0.01, "n": 4, "op": "conv"}))
    >>> round(config["lr"], 12), config["n"], config["op"]
    (0.01, 4, 'conv')
    """

    def __init__(self, space: Space):
        self.space = space
        self.dims: list[_Dim] = []
        self._index: dict[str, int] = {}
        self._collect(space, "", None, 0)
        self.columns = sum(d.width for d in self.dims)
        self.groups = np.array([i for i, d in enumerate(self.dims) for _ in range(d.width)], dtype=int)
        self.numeric = np.array([not isinstance(d.param, Choice) for d in self.dims for _ in range(d.width)])
        self.filler = np.array([0.0 if isinstance(d.param, Choice) else _FILLER
                                for d in self.dims for _ in range(d.width)])
        # Columns a gradient step may move (then snapped): continuous, or with at least 20 levels.
        self.fine = np.array([_levels(d.param) >= _FINE_LEVELS for d in self.dims for _ in range(d.width)])

    # -- structure --------------------------------------------------------------------------------
    def _collect(self, space: Space, prefix: str, parent: int | None, option: int) -> None:
        for p in space:
            path = prefix + p.name
            index = None
            if _is_dimension(p):
                start = sum(d.width for d in self.dims)
                width = len(p.options) if isinstance(p, Choice) else 1
                index = len(self.dims)
                self.dims.append(_Dim(path, p, start, width, parent, option))
                self._index[path] = index
            if isinstance(p, Choice) and p.nested:
                for i, branch in enumerate(p.options):
                    # A one-option nested choice has no column: its branch is active with its parent.
                    self._collect(branch.space, f"{path}/{branch.name}/",
                                  index if index is not None else parent, i if index is not None else option)

    # -- single configurations --------------------------------------------------------------------
    def encode(self, config: dict) -> np.ndarray:
        """The cube row of ``config`` (a configuration of the space)."""
        row = self.filler.copy()
        self._encode(self.space, config, "", row)
        return row

    def _encode(self, space: Space, config: dict, prefix: str, row: np.ndarray) -> None:
        for p in space:
            path, v = prefix + p.name, config[p.name]
            d = self.dims[self._index[path]] if path in self._index else None
            if isinstance(p, Choice):
                i = p.index_of(v)
                if d is not None:
                    row[d.start:d.start + d.width] = 0.0
                    row[d.start + i] = 1.0
                if p.nested:
                    sub = {k: x for k, x in v.items() if k != "_name"}
                    self._encode(p.options[i].space, sub, f"{path}/{p.options[i].name}/", row)
            elif d is not None:
                row[d.start] = _encode_number(p, v)

    def decode(self, row: np.ndarray) -> dict:
        """The configuration of a cube row (values quantized and clipped; active branches only)."""
        return self._decode(self.space, np.asarray(row, float), "")

    def _decode(self, space: Space, row: np.ndarray, prefix: str) -> dict:
        config = {}
        for p in space:
            path = prefix + p.name
            d = self.dims[self._index[path]] if path in self._index else None
            if isinstance(p, Choice):
                i = 0 if d is None else int(np.argmax(row[d.start:d.start + d.width]))
                value = p.expand(i)
                if p.nested:
                    value.update(self._decode(p.options[i].space, row, f"{path}/{value['_name']}/"))
            elif d is None:
                value = _decode_number(p, 0.0)
            else:
                value = _decode_number(p, float(row[d.start]))
            config[p.name] = value
        return config

    # -- many rows at once --------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` rows drawn from the space's prior."""
        U = rng.uniform(size=(n, self.columns))
        for d in self.dims:
            if isinstance(d.param, Choice):
                pick = rng.integers(d.width, size=n)
                U[:, d.start:d.start + d.width] = np.eye(d.width)[pick]
        return self.snap(U)

    def perturb(self, rows: np.ndarray, scale: float, rng: np.random.Generator) -> np.ndarray:
        """Rows moved by Gaussian steps of ``scale`` (numeric columns; reflected at the cube's faces),
        each choice redrawn with probability ``scale`` (at least one per row is redrawn when the
        space has only choices)."""
        U = rows + rng.normal(scale=scale, size=rows.shape) * self.numeric
        U = np.abs(U)
        U = np.where(U > 1.0, 2.0 - U, U)
        choices = [d for d in self.dims if isinstance(d.param, Choice)]
        if choices:
            redraw = rng.uniform(size=(len(rows), len(choices))) < scale
            if not self.numeric.any():     # all-choice space: always move somewhere
                redraw[np.arange(len(rows)), rng.integers(len(choices), size=len(rows))] = True
            for j, d in enumerate(choices):
                pick = rng.integers(d.width, size=len(rows))
                block = U[:, d.start:d.start + d.width]
                U[:, d.start:d.start + d.width] = np.where(redraw[:, j:j + 1], np.eye(d.width)[pick], block)
        return self.snap(U)

    def snap(self, U: np.ndarray) -> np.ndarray:
        """Rows moved onto values the space can take: quantized, one-hot, inactive columns filled."""
        U = np.clip(np.asarray(U, float), 0.0, 1.0)
        active = np.ones((len(U), len(self.dims)), dtype=bool)
        choice_of: dict[int, np.ndarray] = {}
        for k, d in enumerate(self.dims):
            cols = slice(d.start, d.start + d.width)
            if d.parent is not None:
                active[:, k] = active[:, d.parent] & (choice_of[d.parent] == d.option)
            if isinstance(d.param, Choice):
                pick = np.argmax(U[:, cols], axis=1)
                choice_of[k] = pick
                U[:, cols] = np.eye(d.width)[pick]
            else:
                U[:, d.start] = _snap_numbers(d.param, U[:, d.start])
            U[~active[:, k], cols] = self.filler[cols]
        return U

    def active(self, U: np.ndarray) -> np.ndarray:
        """``(rows, columns)``: which columns of each (snapped) row belong to active parameters."""
        active = np.ones((len(U), len(self.dims)), dtype=bool)
        for k, d in enumerate(self.dims):
            if d.parent is not None:
                parent = self.dims[d.parent]
                chosen = np.argmax(U[:, parent.start:parent.start + parent.width], axis=1)
                active[:, k] = active[:, d.parent] & (chosen == d.option)
        return active[:, self.groups]


_FINE_LEVELS = 20


def _levels(p: Param) -> float:
    """How many values a parameter takes (inf: continuous)."""
    if isinstance(p, Choice):
        return len(p.options)
    if isinstance(p, Integer):
        return p.high - p.low + 1
    if isinstance(p, Normal):
        return math.inf if p.q is None else 6 * p.sigma / p.q
    return p.size


def _encode_number(p: Param, v: Any) -> float:
    if isinstance(p, Integer):
        return (int(round(v)) - p.low + 0.5) / (p.high - p.low + 1)
    if isinstance(p, Float):
        x, lo, hi = float(v), p.low, p.high
        if p.log:
            x, lo, hi = math.log(max(x, lo)), math.log(lo), math.log(hi)
        return min(max((x - lo) / (hi - lo), 0.0), 1.0)
    assert isinstance(p, Normal)
    lo, hi = _normal_range(p)
    x = (math.log(v) if v > 0 else lo) if p.log else float(v)
    return min(max((x - lo) / (hi - lo), 0.0), 1.0)


def _decode_number(p: Param, u: float) -> float | int:
    if isinstance(p, Integer):
        n = p.high - p.low + 1
        return p.low + min(int(math.floor(u * n)), n - 1)
    if isinstance(p, Float):
        if p.log:
            x = math.exp(math.log(p.low) + u * (math.log(p.high) - math.log(p.low)))
        else:
            x = p.low + u * (p.high - p.low)
        return quantize(x, p.q, p.low, p.high)
    assert isinstance(p, Normal)
    lo, hi = _normal_range(p)
    x = lo + u * (hi - lo)
    return quantize(math.exp(x) if p.log else x, p.q)


def _snap_numbers(p: Param, u: np.ndarray) -> np.ndarray:
    """Vectorized ``_encode_number(p, _decode_number(p, u))``."""
    if isinstance(p, Integer):
        n = p.high - p.low + 1
        return (np.minimum(np.floor(u * n), n - 1) + 0.5) / n
    if isinstance(p, Float):
        if p.q is None:
            return u
        if p.log:
            lo, hi = math.log(p.low), math.log(p.high)
            x = np.exp(lo + u * (hi - lo))
            x = np.clip(np.round(x / p.q) * p.q, p.low, p.high)
            return np.clip((np.log(np.maximum(x, p.low)) - lo) / (hi - lo), 0.0, 1.0)
        x = np.clip(np.round((p.low + u * (p.high - p.low)) / p.q) * p.q, p.low, p.high)
        return np.clip((x - p.low) / (p.high - p.low), 0.0, 1.0)
    assert isinstance(p, Normal)
    if p.q is None and not p.log:
        return u
    lo, hi = _normal_range(p)
    x = lo + u * (hi - lo)
    value = np.exp(x) if p.log else x
    if p.q is not None:
        value = np.round(value / p.q) * p.q
    if p.log:
        x = np.where(value > 0, np.log(np.maximum(value, 1e-300)), lo)
    else:
        x = value
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _warp(losses: np.ndarray) -> np.ndarray:
    """The GP's targets: losses standardised, Yeo-Johnson transformed (power by maximum likelihood,
    as HEBO does: a few diverged runs no longer flatten the rest), standardised again."""
    from nas_plugins import gp     # scipy is imported on first use: `import tuners` stays fast
    z = _standardise(losses)
    if len(z) > 2 and z.std() > 0:
        warped = gp.yeo_johnson(z)[0]
        if np.isfinite(warped).all() and warped.std() > 0:
            z = _standardise(warped)
    return z


def _standardise(x: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance (constant values: zero)."""
    mean, sd = float(x.mean()), float(x.std())
    return (x - mean) / (sd if sd > 1e-12 * max(1.0, abs(mean)) else 1.0)


@register("bo", "tuner", nni_name="NaspBO", autogluon_name="nasp_bo")
class BayesOpt(Strategy):
    """Bayesian optimization: Matern-5/2 GP on the unit cube, log-EI/PI/LCB, constant liar for parallel asks.

    * The first ``n_initial_points`` successful results come from the space prior (log types
      log-uniform, q-types quantized), drawn with the strategy's seed; at least 2 are needed to fit.
      Unset (None), it is automatic: a quarter of the host's trial budget
      (:meth:`~nas_plugins.strategy.Strategy.set_trial_budget`), at least 2 and at most 10; 10 when
      the budget is unknown.
    * Then each ask fits a GP (``nas_plugins.gp``: Matern-5/2, one lengthscale per parameter,
      hyperparameters by maximum a posteriori with weak priors) to the losses (``-value`` when
      maximising), standardised and Yeo-Johnson warped (as HEBO does: a few diverged trials do not
      flatten the rest of the landscape). Hyperparameters are refitted (L-BFGS from the last fit
      and from the prior's mode) once the results grew by 10% of the training set; in between only
      the posterior is recomputed (one Cholesky factorisation).
    * The acquisition (``acq_func``: log-EI by default; PI; LCB; ``gp_hedge``: the GP-Hedge
      portfolio of the three, each credited with the posterior mean at its last proposal) is
      maximised over 500 prior samples and 100 perturbations of the 5 best observed points, then a
      local search from the 5 best candidates (perturbations of shrinking size), then L-BFGS-B on
      their continuous columns (analytic gradients). Candidates are snapped onto values the space
      can take before being scored; the best one not seen before is proposed.
    * Parallel asks, constant liar "cl_min": configurations asked but not yet told join the
      training set with the best loss observed so far (a block Cholesky update, hyperparameters
      unchanged), which drives the next proposal away from them.
    * If every good candidate was seen before, a fresh unseen prior sample is proposed, so nothing
      is proposed twice; finite spaces end in SpaceExhausted.
    * Failed results (None/NaN) are not fitted (no poisoned model) but are never proposed again.
    * Training-set cap ``max_observations``: beyond it the model sees the best half (lowest loss)
      plus the most recent results for the rest.
    * ``base_estimator`` accepts only "GP" (the scikit-optimize version's RF/ET surrogates are gone).
    * Zero-cost proxies as inputs (``proxy_features``: a proxy name or a list, e.g. ``["synflow",
      "params"]``, with ``proxy_build`` as for :class:`~nas_plugins.proxy_filter.ProxyFilter`): the GP
      gets one more column per proxy (:class:`~nas_plugins.proxy_features.ProxyFeatures`: the score's
      rank among all scored configurations, in [0, 1]; its own lengthscale). A proxy is not a smooth
      function of the cube, so the acquisition is then maximised over a pool of ``proxy_pool``
      candidates only (prior samples, a fifth of them perturbations of the 5 best results), each
      scored by the proxies (cached), without the local search and L-BFGS steps; EI, PI or LCB (not
      ``gp_hedge``). Off by default.

    Overhead per ask+tell (ms; LCBench's 7 parameters; ``bench.harness.overhead``: median of 5
    calls; 2-core host under load; at 200 results a refit, every 20 results, takes about 0.3 s, and
    the mean over 20 calls is 47 ms)::

        results     100    200
        this         17     36      (about 10 ms of it at 200: Strategy.tell's scan of the history)
        skopt       840   1340      (the scikit-optimize version it replaces)

    Example::

        >>> from nas_plugins.space import Space
        >>> from tuners.skopt_bo import BayesOpt
        >>> space = Space.from_nni({"x": {"_type": "uniform", "_value": [-2, 2]}})
        >>> bo = BayesOpt(space, n_initial_points=5, seed=0, mode="min")
        >>> for _ in range(12):
        ...     config = bo.ask()
        ...     bo.tell(config, (config["x"] - 0.5) ** 2)
        >>> round(bo.best.config["x"], 1)
        0.5
    """

    def __init__(self, space: Space | None = None, *, base_estimator: str = "GP", acq_func: str = "EI",
                 n_initial_points: int | None = None, max_observations: int = 200,
                 proxy_features: Any = None, proxy_build: Any = None, proxy_pool: int = 500,
                 seed: int | None = None, mode: str = "max"):
        if base_estimator in _REMOVED_ESTIMATORS:
            raise ValueError(f"base_estimator {base_estimator!r} is not supported: bo's surrogate is its own "
                             f"Gaussian process (scikit-optimize's RF/ET/GBRT surrogates were removed); "
                             f"use 'GP' or leave the option out")
        if base_estimator not in ESTIMATORS:
            raise ValueError(f"base_estimator must be one of {', '.join(ESTIMATORS)}, got {base_estimator!r}")
        if acq_func not in ACQ_FUNCS:
            raise ValueError(f"acq_func must be one of {', '.join(ACQ_FUNCS)}, got {acq_func!r}")
        self.base_estimator = base_estimator
        self.acq_func = acq_func
        self._n_initial_points = (None if n_initial_points is None
                                  else _positive_int("n_initial_points", n_initial_points))
        self.max_observations = _positive_int("max_observations", max_observations, 2)
        self.proxy_features = None if proxy_features is None else ProxyFeatures(proxy_features, proxy_build)
        self.proxy_pool = _positive_int("proxy_pool", proxy_pool)
        if self.proxy_features is not None and acq_func == "gp_hedge":
            raise ValueError("proxy_features works with acq_func EI, PI or LCB, not gp_hedge")
        self._pending: dict[str, dict] = {}    # config key -> config asked but not told yet
        self._theta: np.ndarray | None = None  # GP hyperparameters of the last fit
        self._fit_size = 0                     # successful results at the last fit
        self._hedge_gains = np.zeros(3)        # gp_hedge: accumulated gains of EI, PI, LCB
        self._hedge_last: np.ndarray | None = None   # gp_hedge: each function's last proposal (cube rows)
        super().__init__(space, seed=seed, mode=mode)

    @property
    def n_initial_points(self) -> int:
        """Prior samples before the model: the option, or automatic (see the class docstring)."""
        return auto_warmup(self._n_initial_points, self.trial_budget)

    def set_space(self, space: Space) -> None:
        super().set_space(space)
        self._cube_cache = None
        self._theta, self._fit_size, self._hedge_last = None, 0, None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_cube_cache", None)      # derived from the space; rebuilt on demand
        state.pop("_rows", None)
        return state

    def __setstate__(self, state: dict) -> None:
        if "n_initial_points" in state:      # pickled when the option was stored as given
            state["_n_initial_points"] = state.pop("n_initial_points")
        state.setdefault("_theta", None)     # pickled by the scikit-optimize version
        state.setdefault("_fit_size", 0)
        state.setdefault("_hedge_gains", np.zeros(3))
        state.setdefault("_hedge_last", None)
        state.setdefault("proxy_features", None)    # pickled before proxy features existed
        state.setdefault("proxy_pool", 500)
        if state.get("base_estimator") in _REMOVED_ESTIMATORS:
            state["base_estimator"] = "GP"
        self.__dict__.update(state)

    # -- ask/tell ---------------------------------------------------------------------------------
    def _propose(self) -> dict:
        assert self.space is not None
        data = self._training_set()
        config = None
        if self._cube().columns and len(data) >= max(2, self.n_initial_points):
            config = self._model_proposal(data)
        if config is None or self.was_seen(config):
            config = sample_unseen(self.space, self.rng, self.was_seen)
        self._pending[config_key(config)] = config
        return config

    def _observe(self, config: dict, value: float | None) -> None:
        self._pending.pop(config_key(config), None)

    # -- the model --------------------------------------------------------------------------------
    def _cube(self) -> UnitCube:
        cube = getattr(self, "_cube_cache", None)
        if cube is None or cube.space is not self.space:
            assert self.space is not None
            cube = self._cube_cache = UnitCube(self.space)
            self._rows: dict[int, tuple[dict, np.ndarray | None]] = {}
        return cube

    def _row(self, config: dict) -> np.ndarray | None:
        """The cube row of ``config``, or None if it is not in the space; computed once per told or
        asked configuration (cached by identity: a history entry's dict does not change)."""
        cached = self._rows.get(id(config)) if getattr(self, "_cube_cache", None) is not None else None
        if cached is not None and cached[0] is config:
            return cached[1]
        cube = self._cube()
        row = cube.encode(config) if cube.space.contains(config) else None
        self._rows[id(config)] = (config, row)
        return row

    def _training_set(self) -> list[tuple[dict, float]]:
        """(config, loss) of the successful results in the space, capped (best half + recent)."""
        assert self.space is not None
        data = [(o.config, -self.score(o.value)) for o in self.history
                if o.value is not None and self._row(o.config) is not None]
        cap = self.max_observations
        if len(data) > cap:
            best = set(sorted(range(len(data)), key=lambda i: data[i][1])[:cap // 2])
            recent = [i for i in range(len(data) - 1, -1, -1) if i not in best][:cap - len(best)]
            data = [data[i] for i in sorted(best | set(recent))]
        return data

    def _groups(self) -> np.ndarray:
        """The GP's column groups: the cube's, then one per proxy feature."""
        cube = self._cube()
        if self.proxy_features is None:
            return cube.groups
        return np.concatenate([cube.groups, len(cube.dims) + np.arange(self.proxy_features.width)])

    def _posterior(self, data: list[tuple[dict, float]]) -> tuple[gp.Posterior, np.ndarray, np.ndarray]:
        """The GP posterior on ``data`` (its losses warped by :func:`_warp`) plus the pending lies, with
        the training rows and warped losses. Refits the hyperparameters when due."""
        from nas_plugins import gp
        assert self.space is not None
        groups = self._groups()
        X = np.array([self._row(c) for c, _ in data])
        pending_configs = [c for c in self._pending.values() if self._row(c) is not None]
        pending = np.array([self._row(c) for c in pending_configs]).reshape(len(pending_configs), X.shape[1])
        if self.proxy_features is not None:
            F = self.proxy_features.transform([c for c, _ in data] + pending_configs)
            X, pending = np.hstack([X, F[:len(data)]]), np.hstack([pending, F[len(data):]])
        z = _warp(np.array([loss for _, loss in data]))
        # Refit when the results grew by 10% of the training set (whose size stops at the cap).
        n = sum(o.value is not None for o in self.history)
        if self._theta is None or len(self._theta) != int(groups.max()) + 3 or n < self._fit_size or \
                n >= self._fit_size + max(1, int(_REFIT_GROWTH * min(self._fit_size, self.max_observations))):
            self._theta = gp.fit(X, z, groups, self._theta)
            self._fit_size = n
        post = gp.Posterior(X, z, groups, self._theta)
        if len(pending):                               # constant liar: the best loss so far
            post = post.extend(pending, np.full(len(pending), float(z.min())))
        return post, X, z

    def _model_proposal(self, data: list[tuple[dict, float]]) -> dict | None:
        """The acquisition optimum of a GP fitted on ``data`` plus the pending lies, or None if every
        good candidate was seen before."""
        cube = self._cube()
        rng = np.random.default_rng(int(self.rng.integers(2 ** 63 - 1)))
        if self.proxy_features is not None:
            return self._proxy_proposal(data, rng)
        post, X, z = self._posterior(data)
        best = float(z.min())
        names = ("EI", "PI", "LCB")
        if self.acq_func == "gp_hedge":
            if self._hedge_last is not None and len(self._hedge_last[0]) == cube.columns:
                self._hedge_gains = self._hedge_gains - post.predict(self._hedge_last)[0]
            logits = _HEDGE_ETA * (self._hedge_gains - self._hedge_gains.max())
            probs = np.exp(logits) / np.exp(logits).sum()
            chosen = int(rng.choice(3, p=probs))
            results = [self._maximise(post, name, best, X, z, rng) for name in names]
            self._hedge_last = np.array([r[0][0] for r in results])
            candidates = results[chosen][0]
        else:
            candidates = self._maximise(post, self.acq_func, best, X, z, rng)[0]
        for row in candidates:
            config = cube.decode(row)
            if not self.was_seen(config):
                return config
        return None

    def _proxy_proposal(self, data: list[tuple[dict, float]], rng: np.random.Generator) -> dict | None:
        """With proxy features: the acquisition's best of ``proxy_pool`` unseen candidates (prior
        samples and perturbations of the best results), or None if none is unseen."""
        from nas_plugins import gp
        assert self.proxy_features is not None
        cube = self._cube()
        top = np.array([self._row(c) for c, _ in sorted(data, key=lambda d: d[1])[:_N_TOP]])
        n_local = self.proxy_pool // 5
        U = np.vstack([cube.sample(rng, self.proxy_pool - n_local),
                       cube.perturb(top[np.arange(n_local) % len(top)], 0.1, rng)])
        configs, rows, taken = [], [], set()
        for row in U:
            config = cube.decode(row)
            key = config_key(config)
            if key in taken or self.was_seen(config):
                continue
            taken.add(key)
            configs.append(config)
            rows.append(cube.encode(config))
        if not configs:
            return None
        self.proxy_features.raw(configs)        # scored before the posterior: one ranking for every row
        post, X, z = self._posterior(data)
        mean, var = post.predict(np.hstack([np.array(rows), self.proxy_features.transform(configs)]))
        best = float(z.min())
        if self.acq_func == "EI":
            values = gp.log_ei(mean, var, best, _XI)
        elif self.acq_func == "PI":
            values = gp.log_pi(mean, var, best, _XI)
        else:
            values = gp.neg_lcb(mean, var, _KAPPA)
        return configs[int(np.argmax(values))]

    def _maximise(self, post: gp.Posterior, name: str, best: float, X: np.ndarray, z: np.ndarray,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Candidates (cube rows) sorted by decreasing acquisition value, and those values."""
        from nas_plugins import gp
        cube = self._cube()

        def acquisition(U: np.ndarray) -> np.ndarray:
            mean, var = post.predict(U)
            if name == "EI":
                return gp.log_ei(mean, var, best, _XI)
            if name == "PI":
                return gp.log_pi(mean, var, best, _XI)
            return gp.neg_lcb(mean, var, _KAPPA)

        top = X[np.argsort(z, kind="stable")[:_N_TOP]]
        U = np.vstack([cube.sample(rng, _N_RANDOM), cube.perturb(np.repeat(top, _N_PER_TOP, axis=0), 0.1, rng)])
        values = acquisition(U)
        starts = np.argsort(-values, kind="stable")[:_N_STARTS]
        current, current_values = U[starts], values[starts]
        found, found_values = [U], [values]
        for scale in _LOCAL_SCALES:
            moved = cube.perturb(np.repeat(current, _N_STEPS, axis=0), scale, rng)
            moved_values = acquisition(moved)
            found.append(moved)
            found_values.append(moved_values)
            best_move = moved_values.reshape(len(current), _N_STEPS).argmax(axis=1)
            index = np.arange(len(current)) * _N_STEPS + best_move
            better = moved_values[index] > current_values
            current[better], current_values[better] = moved[index[better]], moved_values[index[better]]
        refined = self._refine(post, name, best, current)
        found.append(refined)
        found_values.append(acquisition(refined))
        U, values = np.vstack(found), np.concatenate(found_values)
        order = np.argsort(-values, kind="stable")[:64]
        return U[order], values[order]

    def _refine(self, post: gp.Posterior, name: str, best: float, starts: np.ndarray) -> np.ndarray:
        """L-BFGS-B on the acquisition from ``starts`` (cube rows), moving only their active fine
        columns (see :attr:`UnitCube.fine`); the results snapped."""
        from scipy.optimize import minimize

        from nas_plugins import gp
        cube = self._cube()
        free = cube.active(starts) & cube.fine
        if not free.any():
            return starts

        def negative(x: np.ndarray) -> tuple[float, np.ndarray]:
            U = starts.copy()
            U[free] = x
            values, grad = gp.acquisition_with_grad(name, *post.predict_with_grad(U), best, _XI, _KAPPA)
            return -float(values.sum()), -grad[free]

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = minimize(negative, starts[free], jac=True, method="L-BFGS-B", bounds=[(0.0, 1.0)] * int(free.sum()),
                           options={"maxiter": _REFINE_ITERATIONS})
        U = starts.copy()
        U[free] = res.x
        return cube.snap(U)
