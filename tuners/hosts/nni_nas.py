"""NNI NAS adapter: every registered strategy as an ``nni.nas.strategy.Strategy`` on a user's ``ModelSpace``.

An NNI 3.0 NAS user writes the network once as a ``nni.nas.nn.pytorch.ModelSpace`` (``LayerChoice``,
``InputChoice``, ``nni.choice``, ``Repeat``, ``Cell``...) and runs ``NasExperiment(model_space, evaluator,
strategy)``. :func:`nas_strategy` gives one of our registered strategies in that role::

    from nni.nas.experiment import NasExperiment
    from tuners.hosts.nni_nas import nas_strategy

    exp = NasExperiment(MyModelSpace(), evaluator, nas_strategy("evolution", seed=0, population_size=8))
    exp.run(port=8081)
    best = exp.export_top_models(formatter="dict")[0]

The classes are generated from the registry (``EvolutionStrategy``, ``WeaknasStrategy``, ``RandomStrategy``...,
one per registered tuner, exported from this module); none is written by hand.

How the pieces meet:

* the model space's mutables (``model_space.simplify()``: what NNI's own strategies search) become our
  :class:`~nas_plugins.space.Space` through :class:`MutableSpace`, one parameter per label (see
  :data:`SUPPORTED` for which mutable becomes what); a configuration goes back as NNI's sample
  (``{label: value}``), which ``model_space.freeze`` turns into the model that NNI's engine trains;
  ``export_top_models(formatter="dict")`` and ``model_context(arch)`` then take that sample as it is.
  An unsupported mutable raises :class:`UnsupportedMutableError` naming its label and type.
* NNI NAS flattens a space: a ``LayerChoice`` candidate's own mutables, or the blocks a ``Repeat`` may
  drop, are labels like any other (NNI's strategies see the same). A constraint of the space
  (``nni.mutable.Constraint``) is checked as NNI does when it freezes a sample: a proposal that
  violates it is told to our strategy as a failure, without training, and another is asked for.
* the engine's final metric (a number, or a dict's ``default``) is told to the strategy; a model whose
  training failed is told as a failure. NNI NAS ranks models by their metric, higher is better
  (``export_top_models``), so the strategies maximise: report accuracy, or a negated loss.
* a strategy that cannot search a model space fails at ``initialize`` (so ``NasExperiment.start``)
  with :class:`UnsupportedStrategyError` saying why: the multi-fidelity ones (``hyperband``, ``asha``)
  propose a training budget with every configuration, which NNI's evaluator has no way to receive.
"""
from __future__ import annotations

import itertools
import json
import logging
import math
import threading
import time
from typing import Any, Callable, ClassVar, Mapping

from nni.mutable import Categorical, CategoricalMultiple, Constraint, Mutable, Numerical
from nni.mutable.exception import ConstraintViolation, SampleValidationError

from nas_plugins.space import Choice, Float, Normal, SearchSpaceError, Space, values_equal
from nas_plugins.strategy import NotReady, SpaceExhausted, Strategy, as_metric

from .. import registry

__all__ = ["UnsupportedMutableError", "UnsupportedStrategyError", "MutableSpace", "SpaceStrategy",
           "nas_strategy", "strategy_class", "SUPPORTED", "MAX_SUBSETS"]

_logger = logging.getLogger("nas_plugins.nni_nas")

#: What each kind of NNI mutable becomes in our :class:`Space` (the keys are the mutable types).
SUPPORTED = {
    "Categorical": "Choice of its values (of their indices when a value is not a JSON scalar: a module, a "
                   "class...); nni.choice, LayerChoice, InputChoice(n_chosen=1), Repeat depths, Cell op choices",
    "CategoricalMultiple": "Choice of every allowed subset, as a list (InputChoice with n_chosen > 1 or None); at "
                           "most MAX_SUBSETS subsets",
    "Numerical": "Float (uniform, loguniform, quantized) or Normal (normal, lognormal, quantized); "
                 "nni.uniform/quniform/loguniform/qloguniform/normal/qnormal",
    "Constraint": "checked on every proposal; a violation is told to the strategy as a failure",
}
#: The most subsets a ``CategoricalMultiple`` may have (``C(n, k)``, or ``2**n`` without ``n_chosen``).
MAX_SUBSETS = 4096


class UnsupportedMutableError(TypeError):
    """A mutable of the model space that has no counterpart in our :class:`Space`; names its label and type."""


class UnsupportedStrategyError(ValueError):
    """A registered strategy that cannot search an NNI model space, and why."""


def _json_scalar(value: Any) -> bool:
    if value is None or isinstance(value, (bool, str)):
        return True
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


def _values_or_indices(values: list) -> bool:
    """True when ``values`` can stand in a :class:`Choice` as they are: JSON scalars, distinct as the space
    compares them (``1`` and ``1.0`` are one value there)."""
    if not all(_json_scalar(v) for v in values):
        return False
    return not any(values_equal(a, b) for a, b in itertools.combinations(values, 2))


def _describe(mutable: Any) -> str:
    text = repr(mutable)
    return text if len(text) <= 120 else text[:117] + "..."


class _Param:
    """One label: its parameter of our space, and the two-way mapping of values."""

    def __init__(self, param, to_nni: Callable[[Any], Any], from_nni: Callable[[Any], Any]):
        self.param, self.to_nni, self.from_nni = param, to_nni, from_nni


def _categorical(label: str, mutable: Categorical) -> _Param:
    values = list(mutable.values)
    if _values_or_indices(values):
        def from_nni(v):
            for option in values:
                if values_equal(option, v):
                    return option
            raise SearchSpaceError.for_param(label, f"{v!r} is not one of {values!r}")
        return _Param(Choice(label, tuple(values)), lambda v: v, from_nni)
    # Modules, classes, tuples...: the strategy sees the option's index.
    def index_from_nni(v):
        for i, option in enumerate(values):
            if option is v or option == v:
                return i
        raise SearchSpaceError.for_param(label, f"{v!r} is not one of its {len(values)} values")
    return _Param(Choice(label, tuple(range(len(values)))), lambda i: values[i], index_from_nni)


def _subset_count(n: int, k: int | None) -> int:
    return 2 ** n if k is None else math.comb(n, k)


def _categorical_multiple(label: str, mutable: CategoricalMultiple) -> _Param:
    values = list(mutable.values)
    n, k = len(values), mutable.n_chosen
    count = _subset_count(n, k)
    if count > MAX_SUBSETS:
        raise UnsupportedMutableError(
            f"mutable {label!r} ({type(mutable).__name__}: {_describe(mutable)}) has {count} subsets "
            f"({'C(%d, %d)' % (n, k) if k is not None else '2**%d' % n}); at most {MAX_SUBSETS} are supported")
    sizes = [k] if k is not None else range(n + 1)
    subsets = [list(c) for size in sizes for c in itertools.combinations(range(n), size)]
    plain = _values_or_indices(values)
    options = [[values[i] for i in s] for s in subsets] if plain else subsets

    def from_nni(chosen):
        indices = []
        for v in chosen:
            matches = [i for i, option in enumerate(values) if option is v or values_equal(option, v)]
            if not matches:
                raise SearchSpaceError.for_param(label, f"{v!r} is not one of {values!r}")
            indices.append(matches[0])
        indices = sorted(indices)
        return [values[i] for i in indices] if plain else indices

    def to_nni(option):
        return list(option) if plain else [values[i] for i in option]
    return _Param(Choice(label, tuple(options)), to_nni, from_nni)


_UNIFORM = {"uniform"}
_LOG_UNIFORM = {"loguniform", "reciprocal"}


def _numerical(label: str, mutable: Numerical) -> _Param:
    dist = getattr(getattr(mutable, "distribution", None), "dist", None)
    name = getattr(dist, "name", None)
    q = None if mutable.quantize is None else float(mutable.quantize)
    finite = all(isinstance(b, (int, float)) and math.isfinite(b) for b in (mutable.low, mutable.high))
    identity = (lambda v: v)
    if mutable.mu is None and mutable.sigma is None and finite and \
            name in (_LOG_UNIFORM if mutable.log_distributed else _UNIFORM):
        param = Float(label, float(mutable.low), float(mutable.high), log=bool(mutable.log_distributed), q=q)
        return _Param(param, identity, lambda v: float(v))
    if mutable.mu is not None and mutable.sigma is not None and not finite and \
            name == ("lognorm" if mutable.log_distributed else "norm"):
        param = Normal(label, float(mutable.mu), float(mutable.sigma), log=bool(mutable.log_distributed), q=q)
        return _Param(param, identity, lambda v: float(v))
    raise UnsupportedMutableError(
        f"mutable {label!r} ({type(mutable).__name__}: {_describe(mutable)}) has a distribution ({name}) that is "
        f"not uniform, loguniform, normal or lognormal over its bounds; supported: nni.uniform, quniform, "
        f"loguniform, qloguniform, normal, qnormal")


class MutableSpace:
    """The mutables of an NNI model space (``{label: mutable}``, as ``simplify()`` gives them) as our
    :class:`Space`, with the mapping of configurations to NNI samples and back.

    >>> import nni
    >>> from nni.mutable import MutableDict
    >>> ms = MutableSpace(MutableDict({"w": nni.choice("w", [16, 32]), "lr": nni.loguniform("lr", 1e-3, 1e-1)}).simplify())
    >>> ms.space
    Space(params=(Choice(name='w', options=(16, 32)), Float(name='lr', low=0.001, high=0.1, log=True, q=None)))
    >>> ms.to_sample({"w": 32, "lr": 0.01})
    {'w': 32, 'lr': 0.01}
    """

    def __init__(self, mutables: Mapping[str, Any]):
        self._params: dict[str, _Param] = {}
        self.constraints: dict[str, Constraint] = {}
        for label, mutable in mutables.items():
            if isinstance(mutable, Constraint):
                self.constraints[label] = mutable
            elif isinstance(mutable, CategoricalMultiple):
                self._params[label] = _categorical_multiple(label, mutable)
            elif isinstance(mutable, Categorical):
                self._params[label] = _categorical(label, mutable)
            elif isinstance(mutable, Numerical):
                self._params[label] = _numerical(label, mutable)
            else:
                raise UnsupportedMutableError(
                    f"mutable {label!r} ({type(mutable).__name__}: {_describe(mutable)}) is not supported by the "
                    f"nas-plugins strategies; supported: {', '.join(SUPPORTED)}")
        if not self._params:
            raise UnsupportedMutableError("the model space has no mutable to search (no choice, no numerical value)")
        self.space = Space(tuple(p.param for p in self._params.values()))

    @classmethod
    def of(cls, model_space: Mutable) -> "MutableSpace":
        """The space of an NNI model space (a ``ModelSpace``, an ``ExecutableModelSpace``, or any mutable)."""
        return cls(model_space.simplify())

    def to_sample(self, config: Mapping) -> dict:
        """Our configuration -> NNI's sample ``{label: value}`` (what ``freeze`` and ``model_context`` take)."""
        return {label: p.to_nni(config[label]) for label, p in self._params.items()}

    def from_sample(self, sample: Mapping) -> dict:
        """NNI's sample -> our configuration (raises :class:`SearchSpaceError` naming a bad label)."""
        missing = [label for label in self._params if label not in sample]
        if missing:
            raise SearchSpaceError.for_param(missing[0], "missing from the sample")
        return {label: p.from_nni(sample[label]) for label, p in self._params.items()}

    def violated(self, sample: Mapping) -> str | None:
        """The first constraint of the space that ``sample`` violates (its message), or None."""
        for label, constraint in self.constraints.items():
            error = constraint.check_contains(dict(sample))
            if error is not None:
                return f"constraint {label!r}: {error}"
        return None


def extract_metric(value: Any) -> float | None:
    """NNI metric -> float, or None for NaN/missing/non-numeric (a dict uses its ``default`` key)."""
    if isinstance(value, dict):
        value = value.get("default")
    return as_metric(value)


# -- the strategy ----------------------------------------------------------------------------------------

def _nni_nas():
    """NNI's NAS strategy base and events (imported on use: ``nni.nas`` imports pytorch-lightning)."""
    from . import nni_nas_compat
    nni_nas_compat.apply()
    from nni.nas.execution.event import ModelEventType
    from nni.nas.space import ModelStatus
    from nni.nas.strategy import Strategy as NasStrategy
    return NasStrategy, ModelEventType, ModelStatus


_NasStrategy, _ModelEventType, _ModelStatus = _nni_nas()


def _check_nas_options(info: registry.AlgorithmInfo, options: dict) -> None:
    own = registry.option_names(info.cls)
    if "budget_key" in own:
        raise UnsupportedStrategyError(
            f"{info.name!r} is multi-fidelity: it proposes a training budget ('budget_key') with every "
            f"configuration, which an NNI NasExperiment's evaluator cannot receive; use a strategy that proposes "
            f"whole configurations: {', '.join(nas_strategy_names())}")
    if options.get("mode", "max") != "max":
        raise UnsupportedStrategyError(
            f"{info.name}: NNI NAS ranks models by their metric, higher is better (export_top_models); report a "
            f"value to maximise (e.g. a negated loss) instead of mode={options['mode']!r}")


def nas_strategy_names() -> list[str]:
    """The registered strategies that can search an NNI model space (every tuner but the multi-fidelity ones)."""
    return [info.name for info in registry.algorithms("tuner") if "budget_key" not in registry.option_names(info.cls)]


class SpaceStrategy(_NasStrategy):
    """A registered strategy driving NNI's NAS engine. Use a generated subclass (:func:`strategy_class`)
    or :func:`nas_strategy`; the options are the registered strategy's (checked here, as the Tuner adapter
    does), ``mode`` excepted (NNI NAS maximises).

    ``poll`` is how long (seconds) the run loop waits for a free worker or a pending result.
    """
    algorithm: ClassVar[str] = ""
    _max_rejections: ClassVar[int] = 1000     # constraint violations in a row before giving up

    def __init__(self, *, poll: float = 0.2, **options: Any):
        super().__init__()
        self.options: dict = {}
        info = registry.get(self.algorithm, "tuner")
        _check_nas_options(info, options)
        options.pop("mode", None)
        try:
            registry.create(info.name, None, **options)          # check the options now, not at start
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{type(self).__name__}: {exc}") from None
        self.options = options
        self.poll = float(poll)
        self.strategy: Strategy | None = None
        self.mutable_space: MutableSpace | None = None
        self._lock = threading.RLock()
        self._pending: dict[int, tuple[Any, dict]] = {}    # id(model) -> (model, configuration)
        self._told: set[int] = set()
        self._submitted: list = []                     # every model submitted, kept alive: see _run
        self.submitted = 0

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.options.items())

    # -- NNI's Strategy API ---------------------------------------------------------------------------
    def _initialize(self, model_space, engine):
        self.mutable_space = MutableSpace.of(model_space)
        try:
            self.strategy = registry.create(self.algorithm, self.mutable_space.space, **self.options)
        except SearchSpaceError as exc:
            raise UnsupportedStrategyError(f"{self.algorithm!r} cannot search this model space: {exc}") from None
        self.strategy.set_trial_budget(_trial_budget(engine))
        engine.register_model_event_callback(_ModelEventType.FinalMetric, self._on_metric)
        engine.register_model_event_callback(_ModelEventType.TrainingEnd, self._on_training_end)
        return model_space

    def _cleanup(self) -> None:
        self.engine.unregister_model_event_callback(_ModelEventType.FinalMetric, self._on_metric)
        self.engine.unregister_model_event_callback(_ModelEventType.TrainingEnd, self._on_training_end)

    def _run(self) -> None:
        rejections = 0
        while self.engine.budget_available():
            if not self.engine.idle_worker_available():
                time.sleep(self.poll)
                continue
            with self._lock:
                try:
                    config = self.strategy.ask()
                except NotReady:
                    config = None
                except SpaceExhausted as exc:
                    _logger.info("%s: %s; no more models", type(self).__name__, exc)
                    break
                if config is None:
                    pass
                else:
                    sample = self.mutable_space.to_sample(config)
                    reason = self.mutable_space.violated(sample)
                    model = None
                    if reason is None:
                        try:
                            model = self.model_space.freeze(sample)
                        except (ConstraintViolation, SampleValidationError) as exc:
                            reason = str(exc)
                    if model is None:
                        rejections += 1
                        _logger.info("%s: %s violates %s; told as a failure", type(self).__name__, sample, reason)
                        self.strategy.tell(config, None)
                        if rejections >= self._max_rejections:
                            raise RuntimeError(f"{type(self).__name__}: {rejections} proposals in a row violate the "
                                               f"constraints of the model space (last: {reason})")
                        continue
                    rejections = 0
                    self._pending[id(model)] = (model, config)
                    # NNI's training-service engine holds the models only weakly; one that is collected is
                    # rebuilt by list_models()/export_top_models() from the manager's record of its trial,
                    # which NNI 3.0's local training service may have swapped with another trial started at
                    # the same time (the sample of one, the metric of the other). Kept alive, the model is
                    # the one the engine paired with the metric its trial reported under its own id.
                    self._submitted.append(model)
                    self.submitted += 1
            if config is None:          # waiting for results (a strategy that is not ready)
                time.sleep(self.poll)
                continue
            self.engine.submit_models(model)
        self._wait_pending()

    def _wait_pending(self) -> None:
        """Wait for the results of the models still training, so that the strategy hears every one (NNI's
        engine stops calling back once the strategy's run ends)."""
        while True:
            with self._lock:
                running = [m for m, _ in self._pending.values() if not m.status.completed()]
            if not running:
                return
            time.sleep(self.poll)

    def _config_of(self, model) -> dict | None:
        entry = self._pending.get(id(model))
        if entry is not None and entry[0] is model:
            return entry[1]
        sample = getattr(model, "sample", None)
        if sample is None:
            return None
        try:
            return self.mutable_space.from_sample(sample)
        except SearchSpaceError:
            return None

    def _on_metric(self, event) -> None:
        with self._lock:
            config = self._config_of(event.model)
            if config is None:
                _logger.warning("%s: a metric for a model it did not propose; ignored", type(self).__name__)
                return
            value = extract_metric(event.metric)
            if value is None:
                _logger.warning("%s: metric %r of %s is not a number; told as a failure", type(self).__name__,
                                event.metric, config)
            self.strategy.tell(config, value)
            self._told.add(id(event.model))

    def _on_training_end(self, event) -> None:
        with self._lock:
            config = self._config_of(event.model)
            self._pending.pop(id(event.model), None)
            told = id(event.model) in self._told
            self._told.discard(id(event.model))
            if config is not None and not told:      # a result that came first is kept
                _logger.info("%s: model %s ended (%s) without a final metric; told as a failure",
                             type(self).__name__, config, event.status)
                self.strategy.tell(config, None)

    # -- checkpoints ----------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        with self._lock:
            history = [] if self.strategy is None else [[o.config, o.value] for o in self.strategy.history]
            return {"history": json.loads(json.dumps(history)), "submitted": self.submitted}

    def load_state_dict(self, state_dict: dict) -> None:
        """Tell the strategy the results of a previous run (after :meth:`initialize`)."""
        with self._lock:
            for config, value in state_dict.get("history", []):
                self.strategy.tell(config, value)
            self.submitted = int(state_dict.get("submitted", 0))


def _trial_budget(engine) -> int | None:
    """The number of models the engine will train, when it says (NasExperiment's ``max_trial_number``,
    the sequential engine's ``max_model_count``)."""
    for value in (getattr(engine, "max_model_count", None),
                  getattr(getattr(getattr(engine, "nodejs_binding", None), "config", None), "max_trial_number", None)):
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _generate_classes() -> dict[str, type]:
    classes = {}
    for info in registry.algorithms("tuner"):
        doc = (f"Our ``{info.name}`` strategy ({info.summary}) as an NNI NAS strategy; options: "
               f"{', '.join(o for o in registry.option_names(info.cls) if o != 'mode')}.")
        cls = type(_camel(info.name) + "Strategy", (SpaceStrategy,),
                   {"algorithm": info.name, "__doc__": doc, "__module__": __name__})
        globals()[cls.__name__] = cls
        classes[info.name] = cls
    return classes


_CLASSES = _generate_classes()


def strategy_class(name: str) -> type:
    """The generated NNI NAS strategy class of a registered tuner (our, NNI or AutoGluon name)."""
    return _CLASSES[registry.get(name, "tuner").name]


def nas_strategy(name: str, **options: Any) -> SpaceStrategy:
    """A registered strategy (by our, NNI or AutoGluon name) as an NNI NAS strategy, its options checked.

    Raises :class:`UnsupportedStrategyError` for a strategy that cannot search a model space, ValueError for a
    bad option."""
    return strategy_class(name)(**options)
