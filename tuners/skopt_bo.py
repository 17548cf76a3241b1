"""Bayesian optimization with scikit-optimize (GP, random-forest or extra-trees surrogate).

How our :class:`~nas_plugins.space.Space` becomes skopt dimensions:

* ``Float`` -> ``Real(low, high)``, ``prior='log-uniform'`` for log types; a q-type's proposal is
  rounded to its quantum and clipped to ``[low, high]``.
* ``Integer`` -> ``Integer(low, high)``; ``Choice`` -> ``Categorical`` over option *indices* (option
  values may be any JSON: dicts, lists, None).
* ``Normal`` -> ``Real(mu - 3 sigma, mu + 3 sigma)``, uniform: the model searches the central 99.7%
  of the distribution. For a lognormal that range is in log space and ``exp`` is applied after;
  q-types are then quantized. Told values outside the range are clipped into it.
* Nested choices are flattened: each branch's sub-parameters are dimensions of their own, named by
  path (``'op/conv/k'``). A proposal emits only the chosen branch's parameters; when the model is
  fitted, the dimensions of inactive branches hold a fixed filler (the lower bound; category 0;
  ``mu - 3 sigma``), so the surrogate sees them as constant.
* Parameters with a single value (one option, ``low == high``) are not dimensions at all.
"""
from __future__ import annotations

import math
import warnings
from typing import Any

from nas_plugins.space import Choice, Float, Integer, Normal, Param, Space, _quantize, config_key
from nas_plugins.strategy import Strategy, auto_warmup

from .random_search import sample_unseen
from .registry import register

ESTIMATORS = ("GP", "RF", "ET")
ACQ_FUNCS = ("EI", "PI", "LCB", "gp_hedge")
# Overhead bounds (see the BayesOpt docstring): acquisition optimum over 1000 random candidates
# (GP: then L-BFGS from the best 2; skopt's default is 10000 and 5), and a single GP
# hyperparameter fit (skopt's default: 2 more random restarts, 3x the cost).
_GP_OPTIMIZER = {"n_points": 1000, "n_restarts_optimizer": 2}
_TREE_OPTIMIZER = {"n_points": 1000}
_GP_FIT_RESTARTS = 0


def _normal_range(p: Normal) -> tuple[float, float]:
    return p.mu - 3 * p.sigma, p.mu + 3 * p.sigma


def _is_dimension(p: Param) -> bool:
    if isinstance(p, Choice):
        return len(p.options) > 1
    return isinstance(p, Normal) or p.low < p.high


def _filler(p: Param) -> Any:
    """The skopt value of an inactive (or single-valued) parameter."""
    if isinstance(p, Choice):
        return 0
    return _normal_range(p)[0] if isinstance(p, Normal) else p.low


def _dimensions(space: Space, prefix: str = "") -> list[tuple[str, Param]]:
    """``(path, param)`` for every skopt dimension, nested branches flattened after their choice."""
    out = []
    for p in space:
        path = prefix + p.name
        if _is_dimension(p):
            out.append((path, p))
        if isinstance(p, Choice) and p.nested:
            for branch in p.options:
                out += _dimensions(branch.space, f"{path}/{branch.name}/")
    return out


def _skopt_dimension(path: str, p: Param):
    from skopt.space import Categorical, Integer as SkInteger, Real
    if isinstance(p, Float):
        return Real(p.low, p.high, prior="log-uniform" if p.log else "uniform", name=path)
    if isinstance(p, Normal):
        return Real(*_normal_range(p), name=path)
    if isinstance(p, Integer):
        return SkInteger(p.low, p.high, name=path)
    return Categorical(list(range(len(p.options))), name=path)


def _encode(space: Space, config: dict, prefix: str = "", out: dict | None = None) -> dict:
    """``{path: skopt value}`` of the active parameters of ``config`` (which must lie in ``space``)."""
    out = {} if out is None else out
    for p in space:
        path, v = prefix + p.name, config[p.name]
        if isinstance(p, Choice):
            out[path] = i = p.index_of(v)
            if p.nested:
                sub = {k: x for k, x in v.items() if k != "_name"}
                _encode(p.options[i].space, sub, f"{path}/{p.options[i].name}/", out)
        elif isinstance(p, Integer):
            out[path] = int(round(v))
        elif isinstance(p, Float):
            out[path] = min(max(float(v), p.low), p.high)
        else:
            lo, hi = _normal_range(p)
            x = (math.log(v) if v > 0 else lo) if p.log else float(v)
            out[path] = min(max(x, lo), hi)
    return out


def _decode(space: Space, values: dict, prefix: str = "") -> dict:
    """The configuration for ``{path: skopt value}``: quantized, clipped, active branch only."""
    config = {}
    for p in space:
        path = prefix + p.name
        x = values.get(path, _filler(p))
        if isinstance(p, Choice):
            value = p.expand(int(x))
            if p.nested:
                value.update(_decode(p.options[int(x)].space, values, f"{path}/{value['_name']}/"))
        elif isinstance(p, Integer):
            value = int(x)
        elif isinstance(p, Float):
            value = _quantize(float(x), p.q, p.low, p.high)
        else:
            value = _quantize(math.exp(x) if p.log else float(x), p.q)
        config[p.name] = value
    return config


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


@register("bo", "tuner", nni_name="NaspBO", autogluon_name="nasp_bo")
class BayesOpt(Strategy):
    """Bayesian optimization (scikit-optimize): GP/RF/ET surrogate, EI/PI/LCB, constant liar for parallel asks.

    * The first ``n_initial_points`` successful results come from *our* space prior (log types
      log-uniform, q-types quantized), drawn with the strategy's seed; at least 2 are needed to fit.
      Unset (None), it is automatic: a quarter of the host's trial budget
      (:meth:`~nas_plugins.strategy.Strategy.set_trial_budget`), at least 2 and at most 10; 10 when
      the budget is unknown. At AutoGluon's usual 5-20 trials a fixed 10 left the model at most
      half the run (with 5 trials, none: the same proposals as random search).
    * Then every ask rebuilds a skopt ``Optimizer`` from the stored results (so the strategy pickles
      as plain data), seeded from the strategy's RNG, fits the surrogate on losses (``-value`` when
      maximising) and proposes the acquisition optimum.
    * Parallel asks, constant liar "cl_min": configurations asked but not yet told are added to
      the training set with the best loss observed so far (an optimistic lie, as skopt's
      ``ask(n_points)`` does), which drives the next proposal away from them.
    * A proposal that was seen before (after rounding, or skopt repeating a point) is replaced by a
      fresh unseen prior sample, so nothing is proposed twice; finite spaces end in SpaceExhausted.
    * Failed results (None/NaN) are not fitted (no poisoned model) but are never proposed again.
    * Training-set cap ``max_observations``: beyond it the model sees the best half (lowest loss)
      plus the most recent results for the rest.
    * ``acq_func="gp_hedge"`` chooses among EI/PI/LCB at random on each ask: its gains do not
      survive the per-ask rebuild.

    Overhead per ask+tell (ms, 7-dimensional mixed space, 2-core host; the first ask also imports
    skopt, ~1 s)::

        results    50    100    200
        GP        100    170    590      (skopt's defaults: 180 / 630 / 2000)
        RF        105    110    130
        ET        110    145    165

    Kept down by scoring 1000 random candidates (GP: then L-BFGS from the best 2), a single GP
    hyperparameter fit, and one BLAS thread (see ``_model_proposal``).

    Example::

        >>> from nas_plugins.space import Space
        >>> from tuners.skopt_bo import BayesOpt
        >>> space = Space.from_nni({"x": {"_type": "uniform", "_value": [-2, 2]}})
        >>> bo = BayesOpt(space, base_estimator="GP", n_initial_points=5, seed=0, mode="min")
        >>> for _ in range(12):
        ...     config = bo.ask()
        ...     bo.tell(config, (config["x"] - 0.5) ** 2)
        >>> round(bo.best.config["x"], 1)
        0.5
    """

    def __init__(self, space: Space | None = None, *, base_estimator: str = "GP", acq_func: str = "EI",
                 n_initial_points: int | None = None, max_observations: int = 200,
                 seed: int | None = None, mode: str = "max"):
        if base_estimator == "GBRT":
            raise ValueError("base_estimator 'GBRT' is not supported: GBRT is broken in scikit-optimize "
                             "0.10.2 with numpy 2 (and current scikit-learn, which rejects its "
                             "GradientBoostingQuantileRegressor as 'not a regressor'); use 'RF' or 'ET'")
        if base_estimator not in ESTIMATORS:
            raise ValueError(f"base_estimator must be one of {', '.join(ESTIMATORS)}, got {base_estimator!r}")
        if acq_func not in ACQ_FUNCS:
            raise ValueError(f"acq_func must be one of {', '.join(ACQ_FUNCS)}, got {acq_func!r}")
        self.base_estimator = base_estimator
        self.acq_func = acq_func
        self._n_initial_points = (None if n_initial_points is None
                                  else _positive_int("n_initial_points", n_initial_points))
        self.max_observations = _positive_int("max_observations", max_observations, 2)
        self._pending: dict[str, dict] = {}    # config key -> config asked but not told yet
        super().__init__(space, seed=seed, mode=mode)

    @property
    def n_initial_points(self) -> int:
        """Prior samples before the model: the option, or automatic (see the class docstring)."""
        return auto_warmup(self._n_initial_points, self.trial_budget)

    def __setstate__(self, state: dict) -> None:
        if "n_initial_points" in state:      # pickled when the option was stored as given
            state["_n_initial_points"] = state.pop("n_initial_points")
        self.__dict__.update(state)

    # -- ask/tell ---------------------------------------------------------------------------------
    def _propose(self) -> dict:
        assert self.space is not None
        dims = _dimensions(self.space)
        data = self._training_set()
        config = None
        if dims and len(data) >= max(2, self.n_initial_points):
            config = self._model_proposal(dims, data)
        if config is None or self.was_seen(config):
            config = sample_unseen(self.space, self.rng, self.was_seen)
        self._pending[config_key(config)] = config
        return config

    def _observe(self, config: dict, value: float | None) -> None:
        self._pending.pop(config_key(config), None)

    # -- the model --------------------------------------------------------------------------------
    def _training_set(self) -> list[tuple[dict, float]]:
        """(encoded config, loss) of the successful results in the space, capped (best half + recent)."""
        assert self.space is not None
        data = [(_encode(self.space, o.config), -self.score(o.value)) for o in self.history
                if o.value is not None and self.space.contains(o.config)]
        cap = self.max_observations
        if len(data) > cap:
            best = set(sorted(range(len(data)), key=lambda i: data[i][1])[:cap // 2])
            recent = [i for i in range(len(data) - 1, -1, -1) if i not in best][:cap - len(best)]
            data = [data[i] for i in sorted(best | set(recent))]
        return data

    def _model_proposal(self, dims: list[tuple[str, Param]], data: list[tuple[dict, float]]) -> dict | None:
        """The acquisition optimum of a surrogate fitted on ``data`` plus the pending lies, or None
        if skopt could only repeat a point."""
        from skopt import Optimizer
        from skopt.utils import cook_estimator
        from threadpoolctl import threadpool_limits    # a scikit-learn dependency
        assert self.space is not None
        random_state = int(self.rng.integers(2 ** 31 - 1))
        lie = min(loss for _, loss in data)
        rows = data + [(_encode(self.space, c), lie) for c in self._pending.values() if self.space.contains(c)]
        X = [[values.get(path, _filler(p)) for path, p in dims] for values, _ in rows]
        y = [loss for _, loss in rows]
        gp = self.base_estimator == "GP"
        dimensions = [_skopt_dimension(path, p) for path, p in dims]
        # skopt's L-BFGS acquisition optimizer needs a continuous dimension: an all-categorical
        # space (e.g. a NAS cell of op choices) is optimized by sampling.
        lbfgs = gp and not all(isinstance(p, Choice) for _, p in dims)
        estimator = cook_estimator("GP", space=dimensions, random_state=random_state,
                                   n_restarts_optimizer=_GP_FIT_RESTARTS) if gp else self.base_estimator
        opt = Optimizer(dimensions, base_estimator=estimator, n_initial_points=0, acq_func=self.acq_func,
                        random_state=random_state, acq_optimizer="lbfgs" if lbfgs else "sampling",
                        acq_optimizer_kwargs=_GP_OPTIMIZER if lbfgs else _TREE_OPTIMIZER)
        # One BLAS thread: these matrices are small, and threads only contend (3-5x slower on a busy host).
        with threadpool_limits(1), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            opt.tell(X, y)
            x = opt.ask()
        if any("evaluated at this point before" in str(w.message) for w in caught):
            return None     # skopt substituted one of its own random points: use our prior instead
        return _decode(self.space, {path: v for (path, _), v in zip(dims, x)})
