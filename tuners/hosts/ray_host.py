"""Ray Tune adapter: every registered strategy as a Tune ``Searcher``, every early stopper as a
``TrialScheduler``; generated from the registry (``RandomSearcher``, ``BoSearcher``, ``HyperbandSearcher``...,
``MedianStopScheduler``, ``CurveFitScheduler``, ``LcranknetScheduler``). The only module besides the tests
that imports ray (``pip install -e .[ray]``).

Example (no cluster is needed to ask a searcher; :func:`make_searcher` takes our names, NNI's or AutoGluon's)::

    >>> from ray import tune
    >>> from tuners.hosts.ray_host import make_searcher, make_scheduler
    >>> searcher = make_searcher("bo", metric="score", mode="max", seed=0)
    >>> searcher.set_search_properties(None, None, {"lr": tune.loguniform(1e-4, 1e-1), "layers": tune.randint(1, 4),
    ...                                             "act": tune.choice(["relu", "tanh"]), "epochs": 10})
    True
    >>> searcher.suggest("trial_1")                      # constants (epochs) are Tune's to add
    {'lr': ..., 'layers': ..., 'act': ...}
    >>> searcher.on_trial_complete("trial_1", {"score": 0.8})
    >>> scheduler = make_scheduler("median_stop", start_step=3)   # metric and mode from TuneConfig

In a run (trials in Ray workers)::

    tuner = tune.Tuner(train_fn, param_space={"lr": tune.loguniform(1e-4, 1e-1), "layers": tune.randint(1, 4)},
                       tune_config=tune.TuneConfig(metric="score", mode="max", num_samples=20,
                                                   search_alg=make_searcher("bo", seed=0),
                                                   scheduler=make_scheduler("curve_fit")))
    results = tuner.fit()

What maps to what:

* ``suggest(trial_id)`` is the strategy's ``ask()``: :class:`~nas_plugins.strategy.NotReady` (e.g. a
  Hyperband rung waiting for its last results) answers ``None`` (Tune asks again later),
  :class:`~nas_plugins.strategy.SpaceExhausted` answers ``Searcher.FINISHED``.
* ``on_trial_complete(trial_id, result, error)`` is ``tell(config, result[metric])``. An error, a missing
  result or metric, or a NaN/inf/non-number is told as a failed trial (None); it never raises. A trial a
  scheduler stopped early is told its last reported value (Tune's convention; under NNI such a trial has
  no final result and counts as failed). ``on_trial_result`` is not used: our strategies learn from final
  results only (Hyperband/ASHA from the result at the budget they gave the trial).
* The search space: Tune's ``param_space`` (through ``set_search_properties``, see :class:`TuneSpace`
  for the domains understood), or our own at construction: an NNI-style dict or a
  :class:`~nas_plugins.space.Space` (then ``param_space`` may hold constants only).
* ``metric``/``mode``: given to the searcher or to ``TuneConfig`` (Tune passes them on when ``param_space``
  is not empty); Tune's ``num_samples`` is the strategy's trial budget (automatic warm-ups scale to it).
* ``save(path)``/``restore(path)`` (Tune checkpoints a searcher with them): a pickle of the whole state,
  strategy included; the searchers and schedulers themselves pickle too.
* Hyperband/ASHA: the suggested configuration carries the trial's budget under ``budget_key``
  (``epochs``), as under NNI; the trainable trains for ``config["epochs"]`` iterations, or reports for ever
  and :class:`BudgetStopper` (``RunConfig(stop=BudgetStopper())``) stops it at its budget. A promoted
  configuration is a new Tune trial with the same configuration and a larger budget: it resumes only if
  the trainable keeps checkpoints by configuration (as ``trial.checkpoint_dir()`` of our trial API does).
  Use ``num_samples=-1``: the strategy ends the run (``FINISHED``) after its ``iterations``/``max_configs``.
* Schedulers: ``on_trial_result`` appends ``result[metric]`` at ``result[time_attr]``
  (``training_iteration``) to the trial's curve (missing steps as None) and asks ``should_stop``: STOP or
  CONTINUE; ``on_trial_complete`` is ``complete(success=True)``, unless this scheduler stopped the trial;
  errors and removed trials are ``complete(success=False)``. The stopper sees the trial's ``config``.
"""
from __future__ import annotations

import functools
import json
import logging
import math
import pickle
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

from ray.tune.schedulers import FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher
from ray.tune.search import sample as tune_sample
from ray.tune.stopper import Stopper

from nas_plugins.space import Choice, Float, Integer, Normal, SearchSpaceError, Space
from nas_plugins.strategy import EarlyStopper, NotReady, SpaceExhausted, Strategy, as_metric

from .. import registry

__all__ = ["TuneSpace", "space_from_tune", "StrategySearcher", "StopperScheduler", "BudgetStopper",
           "make_searcher", "make_scheduler", "searcher_class", "scheduler_class", "ADAPTERS"]

_logger = logging.getLogger("nas_plugins.ray")
_fail = SearchSpaceError.for_param
_INT = "int"          # a cast: the trial gets int(value)


# ============================================================================ search spaces

def _is_nni_spec(value: Any) -> bool:
    return isinstance(value, Mapping) and "_type" in value and "_value" in value


def _json_ok(values: Any) -> bool:
    try:
        json.dumps(values, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return not any(isinstance(v, Mapping) and "_name" in v for v in values)


def _grid_bounds(lower: float, upper: float, q: float) -> tuple[float, float]:
    """The first and last multiples of ``q`` in [lower, upper] (what Tune's quantized samplers draw)."""
    return math.ceil(lower / q - 1e-9) * q, math.floor(upper / q + 1e-9) * q


def _param_from_domain(name: str, domain: tune_sample.Domain) -> tuple[Any, Any]:
    """Our parameter for one Tune domain, and the cast the trial's value needs (None, "int", categories)."""
    sampler = domain.get_sampler()
    q = None
    if isinstance(sampler, tune_sample.Quantized):
        q, sampler = sampler.q, sampler.get_sampler()
    log = isinstance(sampler, tune_sample.LogUniform)
    if isinstance(domain, tune_sample.Float):
        if isinstance(sampler, tune_sample.Normal):
            return Normal(name, float(sampler.mean), float(sampler.sd), q=None if q is None else float(q)), None
        low, high = float(domain.lower), float(domain.upper)
        if q is not None:
            low, high = _grid_bounds(low, high, q)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise _fail(name, f"a float domain needs finite bounds lower < upper, got {domain.domain_str}")
        return Float(name, low, high, log=log, q=None if q is None else float(q)), None
    if isinstance(domain, tune_sample.Integer):
        lower, upper = int(domain.lower), int(domain.upper)
        if q is None or q == 1:                      # Tune's integer samplers exclude upper
            low, high, step = lower, upper - 1, 1
        else:                                        # quantized: multiples of q, both ends included
            low, high = (int(b) for b in _grid_bounds(lower, upper, q))
            step = int(q)
        if low > high or (log and low <= 0):
            raise _fail(name, f"an integer domain with no values (or a log one not above 0): {domain.domain_str}")
        if step == 1 and not log:
            return Integer(name, low, high), None
        if low == high:
            return Choice(name, (low,)), None
        return Float(name, float(low), float(high), log=log, q=float(step)), _INT
    if isinstance(domain, tune_sample.Categorical):
        categories = list(domain.categories)
        if not categories:
            raise _fail(name, "tune.choice needs at least one category")
        if any(isinstance(c, tune_sample.Domain) or (isinstance(c, Mapping) and _has_domain(c)) for c in categories):
            raise _fail(name, "a search space inside tune.choice is not supported; give it to the searcher "
                              "as an NNI-style nested choice ({'_type': 'choice', '_value': [{'_name': ...}]})")
        if _json_ok(categories):
            return Choice(name, tuple(categories)), None
        return Choice(name, tuple(range(len(categories)))), tuple(categories)   # by index; the trial gets the object
    if isinstance(domain, tune_sample.Function):
        raise _fail(name, "tune.sample_from has no equivalent in our search spaces; compute the value in the "
                          "trainable from the searched parameters")
    raise _fail(name, f"unsupported Tune domain {type(domain).__name__}")


def _has_domain(value: Any) -> bool:
    if isinstance(value, tune_sample.Domain):
        return True
    if isinstance(value, Mapping):
        return any(_has_domain(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_domain(v) for v in value)
    return False


@dataclass(frozen=True)
class TuneSpace:
    """Our :class:`~nas_plugins.space.Space` for a Tune ``param_space``, and the way back.

    Domains: ``uniform``, ``quniform``, ``loguniform``, ``qloguniform``, ``randn``/``qrandn`` (a normal),
    ``randint`` (upper excluded, as in Tune), ``qrandint``/``lograndint``/``qlograndint`` (a quantized
    float, handed to the trial as an int), ``choice`` (JSON values as they are, other objects by index).
    Nested dicts are searched too (parameter ``"model/lr"`` for ``{"model": {"lr": ...}}``); anything that
    is not a domain is a constant and stays Tune's. ``grid_search``, ``sample_from``, domains inside lists
    or inside ``choice``, and NNI-style ``{"_type": ...}`` entries raise :class:`SearchSpaceError` naming the
    parameter (an NNI-style space goes to the searcher itself).

    >>> from ray import tune
    >>> ts = TuneSpace.from_param_space({"lr": tune.qloguniform(1e-4, 1e-1, 1e-4), "n": tune.qrandint(8, 64, 8),
    ...                                  "model": {"act": tune.choice(["relu", "tanh"]), "depth": 3}})
    >>> ts.space.names, ts.space["n"]
    (['lr', 'n', 'model/act'], Float(name='n', low=8.0, high=64.0, log=False, q=8.0))
    >>> ts.to_tune({"lr": 0.001, "n": 16.0, "model/act": "tanh"})
    {'lr': 0.001, 'n': 16, 'model': {'act': 'tanh'}}
    """
    space: Space
    paths: dict = field(default_factory=dict)     # our parameter name -> key path in the Tune config
    casts: dict = field(default_factory=dict)     # our parameter name -> "int" or the categories (by index)

    @classmethod
    def from_param_space(cls, param_space: Mapping) -> "TuneSpace":
        params, paths, casts = [], {}, {}

        def walk(tree: Mapping, prefix: tuple) -> None:
            for key, value in tree.items():
                path = prefix + (key,)
                name = "/".join(str(p) for p in path)
                if isinstance(value, tune_sample.Domain):
                    param, cast = _param_from_domain(name, value)
                    params.append(param)
                    paths[name] = path
                    if cast is not None:
                        casts[name] = cast
                elif _is_nni_spec(value):
                    raise _fail(name, "an NNI-style parameter in Tune's param_space: give the whole NNI search "
                                      "space to the searcher (make_searcher(name, space=...)), not to param_space")
                elif isinstance(value, Mapping) and set(value) == {"grid_search"}:
                    raise _fail(name, "tune.grid_search is Tune's own variant generation, not a search space for "
                                      "a searcher; use tune.choice (our 'grid' tuner enumerates choices)")
                elif isinstance(value, Mapping):
                    walk(value, path)
                elif isinstance(value, (list, tuple)) and _has_domain(value):
                    raise _fail(name, "a Tune domain inside a list is not supported; use a dict")
        if not isinstance(param_space, Mapping):
            raise SearchSpaceError(f"param_space must be a dict, got {type(param_space).__name__}")
        walk(param_space, ())
        return cls(Space(tuple(params)), paths, casts)

    @classmethod
    def of(cls, space: Space) -> "TuneSpace":
        """Our own space, handed to the trial as it is (NNI's shape: nested choices as ``{"_name": ...}``)."""
        return cls(space, {name: (name,) for name in space.names}, {})

    def to_tune(self, config: Mapping) -> dict:
        """The trial's configuration for one of our configurations (keys outside the space, such as a
        Hyperband budget, stay top-level)."""
        out: dict = {}
        for name, value in config.items():
            cast = self.casts.get(name)
            if cast == _INT:
                value = int(round(value))
            elif cast is not None:
                value = cast[int(value)]
            node = out
            path = self.paths.get(name, (name,))
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = value
        return out

    def from_tune(self, tune_config: Mapping) -> dict:
        """Our configuration for a trial's configuration (the inverse of :meth:`to_tune`; keys that are
        neither parameters nor ``extra`` keys are dropped)."""
        config = {}
        for name in self.space.names:
            node: Any = tune_config
            for key in self.paths[name]:
                node = node[key]
            cast = self.casts.get(name)
            if cast == _INT:
                node = float(node)
            elif cast is not None:
                node = next(i for i, c in enumerate(cast) if c is node or c == node)
            config[name] = node
        return config


def space_from_tune(param_space: Mapping) -> Space:
    """Our :class:`~nas_plugins.space.Space` for a Tune ``param_space`` (see :class:`TuneSpace`).

    >>> from ray import tune
    >>> space_from_tune({"x": tune.uniform(0, 1), "k": tune.randint(1, 4), "batch": 64})
    Space(params=(Float(name='x', low=0.0, high=1.0, log=False, q=None), Integer(name='k', low=1, high=3)))
    """
    return TuneSpace.from_param_space(param_space).space


def _tune_space(space: Any) -> TuneSpace:
    """A searcher's ``space`` argument: a Space, an NNI-style dict, or a dict of Tune domains."""
    if isinstance(space, TuneSpace):
        return space
    if isinstance(space, Space):
        return TuneSpace.of(space)
    if isinstance(space, Mapping) and _has_domain(space):
        return TuneSpace.from_param_space(space)
    return TuneSpace.of(Space.from_nni(space))


def _busy(method: Callable) -> Callable:
    """Add the call's run time to ``self.busy_seconds`` (the tuner's overhead, as the driver sees it)."""
    @functools.wraps(method)
    def timed(self, *args: Any, **kwargs: Any) -> Any:
        begin = time.perf_counter()
        try:
            return method(self, *args, **kwargs)
        finally:
            self.busy_seconds = getattr(self, "busy_seconds", 0.0) + time.perf_counter() - begin
    return timed


def _check_mode(mode: Any, what: str) -> None:
    if mode is not None and mode not in ("min", "max"):
        raise ValueError(f"{what}: mode must be 'min' or 'max', got {mode!r}")


# ============================================================================ searchers

class StrategySearcher(Searcher):
    """A Ray Tune ``Searcher`` driving one registered :class:`~nas_plugins.strategy.Strategy`.

    Use a generated subclass (:func:`searcher_class`, :func:`make_searcher`). ``space``: our search space
    (a :class:`~nas_plugins.space.Space`, an NNI-style dict, or a dict of Tune domains), or None to take
    Tune's ``param_space``. ``options`` are the strategy's (``seed``, ``n_initial_points``...). The strategy
    is built when the space and the mode are both known (at the latest, at the first ``suggest``).
    ``busy_seconds``: the time spent so far inside ``suggest`` and ``on_trial_complete``.
    """
    algorithm: ClassVar[str] = ""   # registry name, set on the generated subclasses

    def __init__(self, space: Any = None, metric: str | None = None, mode: str | None = None, **options: Any):
        if not self.algorithm:
            raise TypeError("StrategySearcher is abstract: use searcher_class(name) or make_searcher(name)")
        info = registry.get(self.algorithm, "tuner")
        _check_mode(mode, type(self).__name__)
        super().__init__(metric=metric, mode=mode)
        registry.create(info.name, None, mode=mode or "max", **options)   # a bad option or value raises here
        self._options = dict(options)
        self._space: TuneSpace | None = None if space is None else _tune_space(space)
        self._trial_budget: int | None = None
        self.strategy: Strategy | None = None
        self._live: dict[str, dict] = {}          # trial id -> the strategy's configuration
        self.busy_seconds = 0.0

    # -- Tune's calls ---------------------------------------------------------------------------
    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        """Metric and mode (unless given at construction), the space from ``config`` (Tune's
        ``param_space``) and the trial budget from ``num_samples``. False (Tune then raises) when
        ``config`` has domains but the searcher already has a space."""
        _check_mode(mode, type(self).__name__)
        for key, given, own in (("metric", metric, self._metric), ("mode", mode, self._mode)):
            if given is not None and own is not None and given != own:
                raise ValueError(f"{type(self).__name__}: {key} {given!r} from TuneConfig contradicts the "
                                 f"searcher's {own!r}; give it in one place")
        found = TuneSpace.from_param_space(config)    # raises for what it cannot take, naming the parameter
        if len(found.space):
            if self._space is not None:
                return False
            self._space = found
        self._metric = self._metric or metric
        self._mode = self._mode or mode
        samples = spec.get("num_samples")
        if isinstance(samples, int) and not isinstance(samples, bool) and samples >= 1:
            self._trial_budget = samples
        return True

    @_busy
    def suggest(self, trial_id: str) -> dict | str | None:
        strategy = self._ready()
        try:
            config = strategy.ask()
        except NotReady:
            return None
        except SpaceExhausted as exc:
            _logger.info("%s: %s; no more trials", type(self).__name__, exc)
            return Searcher.FINISHED
        self._live[trial_id] = config
        return self._space.to_tune(config)

    @_busy
    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        config = self._live.pop(trial_id, None)
        if config is None or self.strategy is None:
            _logger.debug("%s: trial %s was not suggested by this searcher; ignored", type(self).__name__, trial_id)
            return
        value = None
        if not error and isinstance(result, Mapping):
            value = as_metric(result.get(self._metric))
        if value is None:
            _logger.warning("trial %s %s; told to %s as a failed trial", trial_id,
                            "raised an error" if error else f"has no finite {self._metric!r}", self.algorithm)
        try:
            self.strategy.tell(config, value)
        except Exception:   # a strategy bug must not end the user's run
            _logger.exception("%s: telling the result of trial %s failed", type(self).__name__, trial_id)

    def add_evaluated_point(self, parameters: dict, value: float, error: bool = False, pruned: bool = False,
                            intermediate_values: list | None = None) -> None:
        """A result obtained elsewhere (Tune's ``points_to_evaluate`` with results, ``add_evaluated_trials``)."""
        strategy = self._ready()
        config = self._space.from_tune(parameters)
        budget_key = getattr(strategy, "budget_key", None)
        if budget_key is not None and budget_key in parameters:
            config[budget_key] = parameters[budget_key]
        strategy.tell(config, None if error or pruned else value)

    # -- checkpoints ----------------------------------------------------------------------------
    def get_state(self) -> dict:
        return {"algorithm": self.algorithm, **self.__dict__}

    def set_state(self, state: dict) -> None:
        state = dict(state)
        algorithm = state.pop("algorithm", self.algorithm)
        if algorithm != self.algorithm:
            raise ValueError(f"{type(self).__name__}: the checkpoint is of {algorithm!r}, not {self.algorithm!r}")
        self.__dict__.update(state)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.get_state(), f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.set_state(pickle.load(f))

    # -- helpers --------------------------------------------------------------------------------
    def _ready(self) -> Strategy:
        if self.strategy is None:
            if self._space is None:
                raise ValueError(f"{type(self).__name__}: no search space: give one to the searcher (space=...) "
                                 "or Tune domains in param_space")
            if self._mode is None or self._metric is None:
                raise ValueError(f"{type(self).__name__}: metric and mode are not set: give them to the searcher "
                                 "or to tune.TuneConfig (Tune passes them on when param_space is not empty)")
            self.strategy = registry.create(self.algorithm, self._space.space, mode=self._mode, **self._options)
            if self._trial_budget is not None:
                self.strategy.set_trial_budget(self._trial_budget)
        return self.strategy


# ============================================================================ schedulers

class StopperScheduler(FIFOScheduler):
    """A Ray Tune ``TrialScheduler`` (FIFO order) driving one registered
    :class:`~nas_plugins.strategy.EarlyStopper`: STOP when ``should_stop`` says so, else CONTINUE.

    Use a generated subclass (:func:`scheduler_class`, :func:`make_scheduler`). ``metric``/``mode`` here or in
    ``TuneConfig`` (one place, as for Tune's own schedulers); ``time_attr`` numbers the curve's steps;
    ``options`` are the stopper's (``start_step``...). ``busy_seconds``: the time spent so far in its callbacks.
    """
    algorithm: ClassVar[str] = ""
    _supports_buffered_results = False     # decide after every result, as Tune's ASHA does

    def __init__(self, metric: str | None = None, mode: str | None = None, time_attr: str = "training_iteration",
                 **options: Any):
        if not self.algorithm:
            raise TypeError("StopperScheduler is abstract: use scheduler_class(name) or make_scheduler(name)")
        _check_mode(mode, type(self).__name__)
        super().__init__()
        self._options = dict(options)
        registry.check_options(registry.get(self.algorithm, "assessor").cls, {**options, "mode": "max"})
        self._metric, self._mode, self.time_attr = metric, mode, time_attr
        self.stopper: EarlyStopper | None = None
        self._curves: dict[str, list] = {}
        self._configs: dict[str, dict] = {}
        self._stopped: set[str] = set()
        self.decisions: dict[str, list[str]] = {}    # trial id -> the decision at each result judged
        self.busy_seconds = 0.0
        if mode is not None:
            self._ready()                            # bad option values raise now

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        _check_mode(mode, type(self).__name__)
        if (self._metric and metric) or (self._mode and mode):
            return False
        self._metric = self._metric or metric
        self._mode = self._mode or mode
        return True

    @_busy
    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        self._ready()
        self._configs[trial.trial_id] = dict(trial.config)

    @_busy
    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        return self.decide(trial.trial_id, result, config=trial.config)

    @_busy
    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
        if isinstance(result, Mapping):
            self._extend(trial.trial_id, result)
        self._finish(trial.trial_id, trial.trial_id not in self._stopped, trial.config)

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        self._finish(trial.trial_id, False, trial.config)

    def on_trial_remove(self, tune_controller: Any, trial: Any) -> None:
        self._finish(trial.trial_id, False, trial.config)

    def debug_string(self) -> str:
        return f"Using {self.algorithm} early stopping (nas-plugins): {len(self._stopped)} trials stopped."

    # -- the decision ---------------------------------------------------------------------------
    def decide(self, trial_id: str, result: Mapping, config: Mapping | None = None) -> str:
        """Add ``result`` to the trial's curve and return STOP or CONTINUE (Tune's ``on_trial_result``,
        without the Trial object). A result marked ``done`` (the trial already ended) is not judged."""
        stopper = self._ready()
        curve = self._extend(trial_id, result)
        if result.get("done"):
            return TrialScheduler.CONTINUE
        if config is not None:
            self._configs.setdefault(trial_id, dict(config))
        try:
            stop = stopper.should_stop(trial_id, list(curve), config=self._configs.get(trial_id))
        except Exception:   # a stopper bug must not end the user's run
            _logger.exception("%s failed on trial %s; letting it run", type(stopper).__name__, trial_id)
            stop = False
        decision = TrialScheduler.STOP if stop else TrialScheduler.CONTINUE
        self.decisions.setdefault(trial_id, []).append(decision)
        if stop:
            self._stopped.add(trial_id)
            _logger.info("%s: stopping trial %s after %d results", self.algorithm, trial_id, len(curve))
        return decision

    def _extend(self, trial_id: str, result: Mapping) -> list:
        curve = self._curves.setdefault(trial_id, [])
        value = as_metric(result.get(self._metric))
        step = result.get(self.time_attr)
        if isinstance(step, int) and not isinstance(step, bool) and 1 <= step <= len(curve) + 10_000:
            curve.extend([None] * (step - len(curve)))
            curve[step - 1] = value
        else:
            curve.append(value)
        return curve

    def _finish(self, trial_id: str, success: bool, config: Mapping | None) -> None:
        if self.stopper is None or trial_id not in self._curves and trial_id not in self._configs:
            return
        curve = self._curves.pop(trial_id, [])
        config = self._configs.pop(trial_id, None) or (dict(config) if config is not None else None)
        try:
            self.stopper.complete(trial_id, curve, success, config=config)
        except Exception:
            _logger.exception("%s failed on the end of trial %s", type(self.stopper).__name__, trial_id)

    def _ready(self) -> EarlyStopper:
        if self.stopper is None:
            if self._mode is None or self._metric is None:
                raise ValueError(f"{type(self).__name__}: metric and mode are not set: give them to the scheduler "
                                 "or to tune.TuneConfig")
            self.stopper = registry.create(self.algorithm, mode=self._mode, **self._options)
        return self.stopper

    # -- checkpoints ----------------------------------------------------------------------------
    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump({"algorithm": self.algorithm, **self.__dict__}, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            state = pickle.load(f)
        if state.pop("algorithm") != self.algorithm:
            raise ValueError(f"{type(self).__name__}: the checkpoint is of another algorithm")
        self.__dict__.update(state)


class BudgetStopper(Stopper):
    """Stops a trial once ``result[time_attr]`` reaches the budget Hyperband/ASHA put in its configuration
    (``config[budget_key]``), for trainables that report until stopped::

        tune.RunConfig(stop=BudgetStopper())      # budget_key "epochs", time_attr "training_iteration"

    A trial whose configuration has no budget is never stopped by it.
    """

    def __init__(self, budget_key: str = "epochs", time_attr: str = "training_iteration"):
        self.budget_key, self.time_attr = budget_key, time_attr

    def __call__(self, trial_id: str, result: dict) -> bool:
        config = result.get("config")
        budget = as_metric(config.get(self.budget_key)) if isinstance(config, Mapping) else None
        step = as_metric(result.get(self.time_attr))
        return budget is not None and step is not None and step >= budget

    def stop_all(self) -> bool:
        return False


# ============================================================================ generated classes

def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[_\W]+", name) if part)


def _generate_classes() -> dict[str, type]:
    """One Searcher per registered tuner, one TrialScheduler per early stopper, exported from this module."""
    made: dict[str, type] = {}
    for info in registry.algorithms():
        tuner = info.kind == "tuner"
        name = _camel(info.name) + ("Searcher" if tuner else "Scheduler")
        doc = f"Ray Tune {'searcher' if tuner else 'scheduler'} of {info.name!r}: {info.summary}"
        cls = type(name, (StrategySearcher if tuner else StopperScheduler,),
                   {"algorithm": info.name, "__module__": __name__, "__doc__": doc})
        globals()[name] = cls
        made[info.name] = cls
    return made


ADAPTERS: dict[str, type] = _generate_classes()


def searcher_class(name: str) -> type:
    """The generated Searcher class of a registered tuner (our, NNI or AutoGluon name)."""
    return ADAPTERS[registry.get(name, "tuner").name]


def scheduler_class(name: str) -> type:
    """The generated TrialScheduler class of a registered early stopper."""
    return ADAPTERS[registry.get(name, "assessor").name]


def make_searcher(name: str, space: Any = None, metric: str | None = None, mode: str | None = None,
                  **options: Any) -> StrategySearcher:
    """A Tune searcher for the registered tuner ``name`` (``"bo"``, ``"NaspBO"``, ``"nasp_bo"``...);
    ``options`` are the strategy's. See :class:`StrategySearcher`."""
    return searcher_class(name)(space, metric=metric, mode=mode, **options)


def make_scheduler(name: str, metric: str | None = None, mode: str | None = None,
                   time_attr: str = "training_iteration", **options: Any) -> StopperScheduler:
    """A Tune scheduler for the registered early stopper ``name``; ``options`` are the stopper's."""
    return scheduler_class(name)(metric=metric, mode=mode, time_attr=time_attr, **options)
