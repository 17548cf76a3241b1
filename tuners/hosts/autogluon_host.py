"""AutoGluon adapter: search-space conversion and every registered strategy as an AutoGluon searcher.

AutoGluon's local scheduler builds its searcher by name from
``autogluon.core.searcher.searcher_factory.SEARCHER_CONFIGS``; :func:`register_searchers` adds one
entry per registered strategy that has an AutoGluon name (``nasp_random``, ``nasp_grid``...).
Options in ``hyperparameter_tune_kwargs["search_options"]`` reach the strategy's constructor::

    >>> from tuners.hosts.autogluon_host import register_searchers
    >>> register_searchers()
    ['nasp_bo', 'nasp_evolution', 'nasp_grid', 'nasp_random', 'nasp_reinforce', 'nasp_tapas', 'nasp_weaknas', 'nasp_xfernas']
    >>> predictor.fit(data, hyperparameters={"GBM": {"learning_rate": Real(0.01, 0.3, log=True)}},
    ...               hyperparameter_tune_kwargs={"scheduler": "local", "searcher": "nasp_random",
    ...                                           "num_trials": 10, "search_options": {"seed": 0}})
    ...                                                                       # doctest: +SKIP

Differences from AutoGluon's own ``local_random`` searcher, by design:

* the space's ``default`` values are not tried first, and ``Real(default=...)`` / ``Int(default=...)``
  are not carried over (a :class:`~nas_plugins.space.Space` has no defaults);
* without ``seed`` the search is not reproducible (``local_random`` silently uses seed 0);
* ``Bool()`` is searched as ``Choice((False, True))`` and yields ``False``/``True``. AutoGluon's
  ``Bool`` is really ``Int(0, 1)`` and its own searchers yield ``0``/``1`` (equal to ``False``/``True``).
  :func:`space_to_autogluon` writes that choice as ``Categorical(False, True)``, so
  ``space_from_autogluon(space_to_autogluon(s)) == s`` holds for every representable ``s``.

Two HPO paths. AutoGluon picks one per model (``AbstractModel._get_hpo_backend``): the *custom* (local,
sequential) scheduler, which builds a ``LocalSearcher`` by name from ``SEARCHER_CONFIGS``, for every
model but the neural networks; the *Ray* path (``autogluon.core.hpo.ray_hpo``: a Ray Tune run, one trial
per Ray worker) for ``NN_TORCH`` (``NeuralNetTorch``) and ``FASTAI`` (``NeuralNetFastAI``), and for every
model when ``AG_DISTRIBUTED_MODE`` is set, provided ``try_import_ray()`` accepts the installed ray
(AutoGluon 1.6.3: ``2.43.0 <= ray < 2.59.0``; with another version it logs "Will use custom hpo logic
because ray import failed" and uses the custom path, unless ``AG_LOOSE_RAY_VERSION=True``). The Ray path
knows only Ray Tune's ``random``/``bayes`` (``SearcherFactory.searcher_presets``) and asserts the name is
one of them; :func:`register_searchers` therefore also wraps ``RayHpoExecutor.initialize``: when the
searcher is one of ours, our Ray Tune searcher (:mod:`tuners.hosts.ray_host`, the ``ray`` extra) is added
to those presets (with the adapters' ``supported_searchers``) and ``search_options`` become its
``searcher_init_args`` (unless those are given), so one ``hyperparameter_tune_kwargs`` serves both
paths. Nothing is imported from ray until a Ray-path model starts its HPO.

Errors. A bad searcher name or a bad ``search_options`` entry raises :class:`SearcherConfigError` with
the precise cause (``unknown option 'n_init' for 'bo'; accepted: ...``). Check a
``hyperparameter_tune_kwargs`` before fitting with :func:`check_hyperparameter_tune_kwargs`; after
:func:`register_searchers`, ``TabularPredictor.fit`` raises the same error itself. AutoGluon 1.6.3 builds
the searcher inside the trainer's per-model ``try``, which turns any exception into a logged warning
("Skipping this model") and, with no other model, into "No models were trained successfully during
fit()". So :func:`register_searchers` makes two small, idempotent patches besides the
``SEARCHER_CONFIGS`` entries (nothing else changes for AutoGluon's own searchers or other errors):

* ``autogluon.core.scheduler.seq_scheduler.searcher_factory`` (the local scheduler's reference to the
  factory) is wrapped to raise :class:`SearcherConfigError` for a name that is in no table
  (AutoGluon's own ``AssertionError`` said only "not supported");
* ``AbstractTabularTrainer._check_raise_exception``, the trainer's decision whether a swallowed
  model exception is re-raised, answers yes for :class:`SearcherConfigError`.

Trial budget. When the scheduler starts, the searcher passes AutoGluon's ``num_trials`` to the strategy
(:meth:`~nas_plugins.strategy.Strategy.set_trial_budget`), so automatic warm-ups (``n_initial_points``
of ``nasp_bo``, ``n_init`` of ``nasp_evolution`` and ``nasp_weaknas``) are a quarter of it, 2 to 10.
"""
from __future__ import annotations

import contextlib
import difflib
import functools
import importlib
import json
import logging
import math
from typing import Any, ClassVar, Iterator, Mapping

from autogluon.common import space as ag
from autogluon.core.searcher.exceptions import ExhaustedSearchSpaceError
from autogluon.core.searcher.local_searcher import LocalSearcher

from nas_plugins.space import Choice, Float, Integer, Normal, SearchSpaceError, Space
from nas_plugins.strategy import SpaceExhausted, Strategy, as_metric
from tuners import registry

__all__ = ["space_from_autogluon", "space_to_autogluon", "StrategySearcher", "searcher_class",
           "register_searchers", "check_hyperparameter_tune_kwargs", "SearcherConfigError"]

_logger = logging.getLogger(__name__)

# Keyword arguments AutoGluon's scheduler/factory may pass that are not strategy options.
_AG_KWARGS = ("scheduler", "debug_log")
# Searcher names the local scheduler maps before asking the factory (seq_scheduler.get_searcher_).
_AG_ALIASES = ("auto", "random")


class SearcherConfigError(ValueError):
    """A bad AutoGluon searcher name or ``search_options`` for one of our searchers (an unknown
    option, ``mode``, a bad value, a search space a strategy cannot take). Raised by
    :func:`check_hyperparameter_tune_kwargs`, by the searchers and, after :func:`register_searchers`,
    out of ``TabularPredictor.fit``."""


_fail = SearchSpaceError.for_param


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        raise _fail(name, f"Int bounds must be integers, got {value!r}")
    return int(value)


def space_from_autogluon(search_space: Mapping[str, Any]) -> tuple[Space, dict]:
    """Split an AutoGluon search-space dict into our :class:`Space` and a dict of constants.

    ``Real`` -> :class:`Float` (``log`` kept), ``Int`` -> :class:`Integer` (both ends included),
    ``Categorical`` -> :class:`Choice` (JSON values only), ``Bool`` -> ``Choice((False, True))``;
    anything that is not an AutoGluon space is a constant. Raises :class:`SearchSpaceError`
    naming the parameter for nested or unsupported spaces.

    Example::

        >>> space, constants = space_from_autogluon({"lr": ag.Real(1e-3, 1e-1, log=True), "depth": 6})
        >>> space["lr"], constants
        (Float(name='lr', low=0.001, high=0.1, log=True, q=None), {'depth': 6})
    """
    if not isinstance(search_space, Mapping):
        raise SearchSpaceError(f"search space must be a dict, got {type(search_space).__name__}")
    params, constants = [], {}
    for name, value in search_space.items():
        if not isinstance(value, ag.Space):
            constants[name] = value
            continue
        if not isinstance(name, str):
            raise SearchSpaceError(f"search space parameter names must be strings, got {name!r}")
        if isinstance(value, ag.Bool):  # before Int: Bool subclasses Int(0, 1)
            params.append(Choice(name, (False, True)))
        elif isinstance(value, ag.Int):
            low, high = _as_int(name, value.lower), _as_int(name, value.upper)
            if low > high:
                raise _fail(name, f"Int needs lower <= upper, got lower={low} upper={high}")
            params.append(Integer(name, low, high))
        elif isinstance(value, ag.Real):
            low, high = float(value.lower), float(value.upper)
            if not (math.isfinite(low) and math.isfinite(high)):
                raise _fail(name, f"Real needs finite bounds, got lower={low} upper={high}")
            params.append(Float(name, low, high, log=bool(value.log)))
        elif isinstance(value, ag.Categorical):
            for option in value.data:
                if isinstance(option, ag.Space):
                    raise _fail(name, f"a search space inside Categorical ({option!r}) is not supported")
                try:
                    json.dumps(option, allow_nan=False)
                except (TypeError, ValueError):
                    raise _fail(name, f"Categorical value {option!r} is not JSON-serialisable") from None
            params.append(Choice(name, tuple(value.data)))
        else:
            raise _fail(name, f"unsupported AutoGluon space type {type(value).__name__}; "
                              "supported: Real, Int, Categorical, Bool")
    return Space(tuple(params)), constants


def space_to_autogluon(space: Space) -> dict:
    """The AutoGluon search-space dict for ``space`` (inverse of :func:`space_from_autogluon`).

    Quantized floats, normal distributions and nested choices have no AutoGluon equivalent and
    raise :class:`SearchSpaceError` naming the parameter. A boolean choice becomes
    ``Categorical(False, True)`` (not ``Bool()``, which yields 0/1).

    Example::

        >>> space_to_autogluon(Space((Integer("n", 1, 3),)))
        {'n': Int: lower=1, upper=3}
    """
    out: dict = {}
    for p in space:
        if isinstance(p, Float):
            if p.q is not None:
                raise _fail(p.name, f"a quantized float (q={p.q}) has no AutoGluon equivalent")
            try:
                out[p.name] = ag.Real(p.low, p.high, log=p.log)
            except AssertionError as exc:
                raise _fail(p.name, f"AutoGluon rejects it: {exc}") from None
        elif isinstance(p, Integer):
            out[p.name] = ag.Int(p.low, p.high)
        elif isinstance(p, Choice) and not p.nested:
            out[p.name] = ag.Categorical(*p.options)
        elif isinstance(p, Choice):
            raise _fail(p.name, "a nested choice (conditional sub-spaces) has no AutoGluon equivalent")
        elif isinstance(p, Normal):
            raise _fail(p.name, f"a {p.nni_type} distribution has no AutoGluon equivalent")
        else:
            raise _fail(p.name, f"unsupported parameter type {type(p).__name__}")
    return out


class StrategySearcher(LocalSearcher):
    """An AutoGluon ``LocalSearcher`` driven by one of our registered strategies.

    Use a subclass from :func:`searcher_class` (one per strategy); ``options`` are the strategy's
    options (``seed``, ``grid_points``...) as given in ``search_options``. Rewards are
    higher-is-better; a missing, NaN or ``-inf`` reward and :meth:`evaluation_failed` are told to
    the strategy as failed trials and recorded as ``-inf`` (which AutoGluon skips).

    Example::

        >>> s = searcher_class("random")({"lr": ag.Real(0.01, 0.1), "depth": 6}, seed=0)
        >>> config = s.get_config()                 # {'lr': 0.0..., 'depth': 6}
        >>> s.update(config, reward=0.9)
    """
    algorithm: ClassVar[str] = ""  # registry name, set by searcher_class()

    def __init__(self, search_space: dict, reward_attribute: str = "reward", **options: Any):
        if not self.algorithm:
            raise TypeError("StrategySearcher is abstract: use searcher_class(name)")
        info = registry.get(self.algorithm, "tuner")
        options = _strategy_options(info, options)
        super().__init__(search_space=search_space, reward_attribute=reward_attribute)
        with _config_errors(info):
            space, _ = space_from_autogluon(search_space)
            self.strategy: Strategy = registry.create(info.name, space, **options)

    def configure_scheduler(self, scheduler: Any) -> None:
        """AutoGluon calls this when the scheduler starts: pass its ``num_trials`` on as the strategy's
        trial budget (automatic warm-ups scale to it)."""
        super().configure_scheduler(scheduler)
        budget = getattr(scheduler, "num_trials", None)
        if isinstance(budget, int) and not isinstance(budget, bool) and budget >= 1:
            self.strategy.set_trial_budget(budget)

    def get_config(self, **kwargs: Any) -> dict:
        """The strategy's next configuration plus the constants, in search-space order."""
        try:
            values = self.strategy.ask()
        except SpaceExhausted as exc:
            raise ExhaustedSearchSpaceError(str(exc)) from exc
        config = {k: values[k] if k in values else self._params_static[k] for k in self._params_order}
        self._add_result(config, self._reward_while_pending())
        return config

    def update(self, config: dict, **kwargs: Any) -> None:
        """Tell the strategy ``kwargs[reward_attribute]`` (missing/NaN/inf: a failed trial)."""
        self._record(config, as_metric(kwargs.get(self._reward_attribute)))

    def evaluation_failed(self, config: dict, **kwargs: Any) -> None:
        """Tell the strategy that ``config`` failed."""
        self._record(config, None)

    def _record(self, config: Mapping, value: float | None) -> None:
        assert self.strategy.space is not None
        tunable = {k: config[k] for k in self.strategy.space.names if k in config}
        self.strategy.space.check(tunable)  # raises SearchSpaceError naming a bad/missing parameter
        full = {k: config.get(k, self._params_static.get(k)) for k in self._params_order}
        self._add_result(full, self._reward_while_pending() if value is None else value)
        self.strategy.tell(tunable, value)

    def __reduce__(self):
        # The subclasses are made at run time: pickle by registry name rather than by class path.
        return _new_searcher, (self.algorithm,), self.__dict__


def _strategy_options(info: registry.AlgorithmInfo, options: Mapping[str, Any]) -> dict:
    """``search_options`` as strategy options: AutoGluon's own keys dropped, unknown ones and ``mode``
    refused (AutoGluon maximises rewards; the strategy gets ``mode='max'``)."""
    options = {k: v for k, v in options.items() if k not in _AG_KWARGS}
    accepted = [name for name in registry.option_names(info.cls) if name != "mode"]
    if "mode" in options:
        raise SearcherConfigError("option 'mode' is not accepted: AutoGluon rewards are always maximised")
    for key in options:
        if key not in accepted:
            raise SearcherConfigError(f"unknown option {key!r} for {info.name!r} (AutoGluon searcher "
                                      f"{info.autogluon_name!r}); accepted: {', '.join(accepted)}")
    if "mode" in registry.option_names(info.cls):
        options["mode"] = "max"
    return options


@contextlib.contextmanager
def _config_errors(info: registry.AlgorithmInfo) -> Iterator[None]:
    """Re-raise a strategy's or the space conversion's ValueError/TypeError as SearcherConfigError."""
    try:
        yield
    except SearcherConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise SearcherConfigError(f"AutoGluon searcher {info.autogluon_name!r}: {exc}") from exc


def _ours() -> dict[str, registry.AlgorithmInfo]:
    """Our strategies by AutoGluon searcher name."""
    return {info.autogluon_name: info for info in registry.algorithms("tuner") if info.autogluon_name}


def _unknown_searcher(name: Any, autogluon_names: list[str]) -> SearcherConfigError:
    ours = sorted(_ours())
    try:                                  # our or NNI name of one of ours ('bo', 'NaspBO')
        close = [registry.get(str(name), "tuner").autogluon_name or ""]
    except registry.UnknownAlgorithmError:
        close = difflib.get_close_matches(str(name), ours + autogluon_names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close and close[0] else ""
    return SearcherConfigError(f"unknown AutoGluon searcher {name!r}{hint}; ours: {', '.join(ours)}; "
                               f"AutoGluon's: {', '.join(autogluon_names)}")


def _autogluon_searchers(factory: Any) -> list[str]:
    return list(_AG_ALIASES) + [n for n in factory.SEARCHER_CONFIGS if n not in _ours()]


def check_hyperparameter_tune_kwargs(hyperparameter_tune_kwargs: Any, search_space: Mapping | None = None) -> Any:
    """Check ``fit(hyperparameter_tune_kwargs=...)`` before fitting; returns it unchanged.

    For one of our searchers (``nasp_*``), ``search_options`` are checked as the searcher will take
    them: unknown options and ``mode`` are refused, values are checked by building the strategy (with
    ``search_space``, an AutoGluon search-space dict such as one model's hyperparameters, that too).
    A searcher name in neither table (ours, AutoGluon's) is refused. Presets (strings) and AutoGluon's
    own searchers pass unchecked. Raises :class:`SearcherConfigError` naming the cause.

    Example::

        >>> from tuners.hosts.autogluon_host import check_hyperparameter_tune_kwargs, register_searchers
        >>> names = register_searchers()
        >>> check_hyperparameter_tune_kwargs({"scheduler": "local", "searcher": "nasp_bo", "num_trials": 10,
        ...                                   "search_options": {"n_init": 3}})
        Traceback (most recent call last):
        ...
        tuners.hosts.autogluon_host.SearcherConfigError: unknown option 'n_init' for 'bo' (AutoGluon searcher 'nasp_bo'); accepted: ...
    """
    if not isinstance(hyperparameter_tune_kwargs, Mapping):
        return hyperparameter_tune_kwargs          # None, a preset name: AutoGluon checks those
    name = hyperparameter_tune_kwargs.get("searcher")
    if not isinstance(name, str):
        return hyperparameter_tune_kwargs          # a searcher object, or AutoGluon's own error
    factory = importlib.import_module("autogluon.core.searcher.searcher_factory")
    info = _ours().get(name)
    if info is None:
        if name not in _AG_ALIASES and name not in factory.SEARCHER_CONFIGS:
            raise _unknown_searcher(name, _autogluon_searchers(factory))
        return hyperparameter_tune_kwargs
    if name not in factory.SEARCHER_CONFIGS:
        raise SearcherConfigError(f"searcher {name!r} is not registered with AutoGluon in this process: "
                                  "call tuners.hosts.autogluon_host.register_searchers() first")
    search_options = hyperparameter_tune_kwargs.get("search_options") or {}
    if not isinstance(search_options, Mapping):
        raise SearcherConfigError(f"search_options must be a dict, got {type(search_options).__name__}")
    options = _strategy_options(info, search_options)
    with _config_errors(info):
        space = None if search_space is None else space_from_autogluon(search_space)[0]
        registry.create(info.name, space, **options)
    return hyperparameter_tune_kwargs


def _new_searcher(algorithm: str) -> StrategySearcher:
    cls = searcher_class(algorithm)
    return cls.__new__(cls)


@functools.cache
def _searcher_class(name: str) -> type[StrategySearcher]:
    info = registry.get(name, "tuner")
    title = "".join(part.capitalize() for part in str(info.autogluon_name).split("_"))
    return type(f"{title}Searcher", (StrategySearcher,), {
        "algorithm": info.name, "__module__": __name__,
        "__doc__": f"AutoGluon searcher '{info.autogluon_name}': {info.summary}"})


def searcher_class(name: str) -> type[StrategySearcher]:
    """The searcher class of a registered strategy (our, NNI or AutoGluon name); always the same class.

    Example::

        >>> searcher_class("nasp_random").__name__
        'NaspRandomSearcher'
    """
    info = registry.get(name, "tuner")
    if not info.autogluon_name:
        raise ValueError(f"strategy {info.name!r} has no AutoGluon searcher name")
    return _searcher_class(info.name)


def register_searchers() -> list[str]:
    """Make every registered strategy with an AutoGluon name usable as ``searcher=<name>``.

    Adds the names to AutoGluon's ``SEARCHER_CONFIGS`` (idempotent; raises ValueError if a name is
    already taken by some other searcher) and returns them, sorted. Also makes
    :class:`SearcherConfigError` escape ``TabularPredictor.fit`` (see the module docstring).

    Example::

        >>> register_searchers()
        ['nasp_bo', 'nasp_evolution', 'nasp_grid', 'nasp_random', 'nasp_reinforce', 'nasp_tapas', 'nasp_weaknas', 'nasp_xfernas']
    """
    # importlib: the package attribute ``searcher_factory`` is the function, not the module.
    factory = importlib.import_module("autogluon.core.searcher.searcher_factory")
    names = []
    for info in registry.algorithms("tuner"):
        if not info.autogluon_name:
            continue
        cls = searcher_class(info.name)
        current = factory.SEARCHER_CONFIGS.get(info.autogluon_name, {}).get("searcher_cls", cls)
        if current is not cls:
            raise ValueError(f"AutoGluon searcher name {info.autogluon_name!r} is already used by {current!r}")
        factory.SEARCHER_CONFIGS[info.autogluon_name] = {"searcher_cls": cls}
        names.append(info.autogluon_name)
    _raise_config_errors_from_fit(factory)
    _select_ours_on_the_ray_path()
    return sorted(names)


def _select_ours_on_the_ray_path() -> None:
    """The Ray-path patch of the module docstring (``RayHpoExecutor.initialize``), applied once."""
    try:
        executors = importlib.import_module("autogluon.core.hpo.executors")
    except ImportError:
        return
    executor = getattr(executors, "RayHpoExecutor", None)
    original = getattr(executor, "initialize", None)
    if not callable(original) or getattr(original, _PATCHED, False):
        return

    @functools.wraps(original)
    def initialize(self, hyperparameter_tune_kwargs, *args, **kwargs):
        original(self, hyperparameter_tune_kwargs, *args, **kwargs)
        htk = getattr(self, "hyperparameter_tune_kwargs", None)
        name = htk.get("searcher") if isinstance(htk, dict) else None
        info = _ours().get(name) if isinstance(name, str) else None
        if info is None:
            return
        search_options = htk.get("search_options") or {}
        if not isinstance(search_options, Mapping):
            raise SearcherConfigError(f"search_options must be a dict, got {type(search_options).__name__}")
        init_args = htk.get("searcher_init_args")
        options = _strategy_options(info, search_options if init_args is None else init_args)
        with _config_errors(info):
            registry.create(info.name, None, **options)          # a bad value raises before any trial
        options.pop("mode", None)                                 # Tune's mode: AutoGluon passes "max"
        htk["searcher_init_args"] = options
        _register_ray_searcher(info)
    setattr(initialize, _PATCHED, True)
    executor.initialize = initialize


def _register_ray_searcher(info: registry.AlgorithmInfo) -> None:
    """Our Ray Tune searcher under ``info.autogluon_name`` in AutoGluon's Ray presets (idempotent)."""
    try:
        from .ray_host import searcher_class as ray_searcher_class
    except ImportError as exc:
        raise SearcherConfigError(f"AutoGluon searcher {info.autogluon_name!r} on AutoGluon's Ray path needs "
                                  f"ray[tune] (pip install -e .[ray]): {exc}") from exc
    presets = importlib.import_module("autogluon.core.hpo.ray_tune_searcher_factory").SearcherFactory
    name, cls = info.autogluon_name, ray_searcher_class(info.name)
    current = presets.searcher_presets.get(name, cls)
    if current is not cls:
        raise ValueError(f"AutoGluon's Ray searcher name {name!r} is already used by {current!r}")
    presets.searcher_presets[name] = cls      # the same dict as ray_tune_constants.SEARCHER_PRESETS
    presets.searcher_required_args[name] = ["metric", "mode"]
    presets.searcher_default_args[name] = {}
    try:
        ray_hpo = importlib.import_module("autogluon.core.hpo.ray_hpo")   # checks ray's version first
    except (ImportError, ValueError):
        return
    for adapter in vars(ray_hpo).values():    # no "not supported yet" warning for ours
        supported = getattr(adapter, "supported_searchers", None)
        if isinstance(adapter, type) and isinstance(supported, list) and name not in supported:
            supported.append(name)


_PATCHED = "__nasp_plugins_patch__"


def _raise_config_errors_from_fit(factory: Any) -> None:
    """The two patches of the module docstring (each applied once; skipped with a warning when this
    AutoGluon lacks the function, in which case a bad searcher only logs its error, as before)."""
    scheduler = importlib.import_module("autogluon.core.scheduler.seq_scheduler")
    original = getattr(scheduler, "searcher_factory", None)
    if callable(original) and not getattr(original, _PATCHED, False):
        @functools.wraps(original)
        def searcher_factory(searcher_name, **kwargs):
            if isinstance(searcher_name, str) and searcher_name not in factory.SEARCHER_CONFIGS:
                raise _unknown_searcher(searcher_name, _autogluon_searchers(factory))
            return original(searcher_name, **kwargs)
        setattr(searcher_factory, _PATCHED, True)
        scheduler.searcher_factory = searcher_factory
    try:
        from autogluon.tabular.trainer.abstract_trainer import AbstractTabularTrainer
    except ImportError:                  # autogluon.tabular not installed: nothing to patch
        return
    check = AbstractTabularTrainer.__dict__.get("_check_raise_exception")
    func = check.__func__ if isinstance(check, staticmethod) else None
    if func is None:
        _logger.warning("AutoGluon's trainer has no _check_raise_exception staticmethod: searcher "
                        "configuration errors will only be logged by fit()")
        return
    if getattr(func, _PATCHED, False):
        return

    @functools.wraps(func)
    def _check_raise_exception(*args, **kwargs):
        exception = kwargs["exception"] if "exception" in kwargs else (args[0] if args else None)
        if isinstance(exception, SearcherConfigError):
            return True
        return func(*args, **kwargs)
    setattr(_check_raise_exception, _PATCHED, True)
    AbstractTabularTrainer._check_raise_exception = staticmethod(_check_raise_exception)
