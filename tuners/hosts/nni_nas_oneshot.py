"""Our one-shot trainers (``nas_plugins.oneshot``: SPOS, DARTS, and each later one through the same path) on a
user's NNI ``ModelSpace``.

:class:`ModelSpaceSupernet` copies the model space and replaces every ``LayerChoice`` by a mixed layer over its
candidates and every ``InputChoice(n_chosen=1)`` by a mixed input, with one architecture parameter (logits)
per label; it is a :class:`~nas_plugins.oneshot.Supernet`, so any registered trainer
(:func:`nas_plugins.oneshot.create_trainer`) trains it: a single path (``forward(x, arch)``, SPOS) or the
continuous relaxation (``forward(x)``, DARTS). An architecture is NNI's architecture dict (``{label: value}``
as ``LayerChoice``/``InputChoice`` take it), so the result of :func:`oneshot_search` goes straight to
``model_space.freeze(arch)`` or ``with model_context(arch): MySpace(...)``::

    from tuners.hosts.nni_nas_oneshot import oneshot_search
    arch = oneshot_search(MySpace(), "darts", train_batches, val_batches, steps=200, seed=0)
    with model_context(arch):
        model = MySpace()

In a ``NasExperiment``, :class:`OneShotSearch` is the strategy (on NNI's in-process engine with the raw model
format: :func:`oneshot_config`); it trains on the Lightning evaluator's data loaders and exports one model, so
``export_top_models(formatter="dict")`` gives the architecture::

    exp = NasExperiment(MySpace(), Classification(train_dataloaders=..., val_dataloaders=..., max_epochs=10, ...),
                        OneShotSearch("darts", seed=0), oneshot_config())
    exp.run()
    arch = exp.export_top_models(formatter="dict")[0]

Supported mutables (:data:`ONESHOT_SUPPORTED`): ``LayerChoice`` (whose candidates hold no mutable) and
``InputChoice`` with ``n_chosen=1``. Any other mutable of the space (``nni.choice`` in a layer's arguments,
value-choice convolutions, ``Repeat`` depths, a multi-input choice) raises
:class:`~tuners.hosts.nni_nas.UnsupportedMutableError` naming its label.
"""
from __future__ import annotations

import copy
from typing import Any, Iterable, Mapping

import numpy as np
import torch
from torch import nn

from . import nni_nas_compat

nni_nas_compat.apply()

from nni.nas.nn.pytorch import InputChoice, LayerChoice, ModelSpace  # noqa: E402

from nas_plugins.oneshot import MixedOp, Supernet, create_trainer  # noqa: E402
from nas_plugins.space import Choice, SearchSpaceError, Space  # noqa: E402

from .nni_nas import UnsupportedMutableError, _describe  # noqa: E402

__all__ = ["ModelSpaceSupernet", "oneshot_search", "OneShotSearch", "oneshot_config", "ONESHOT_SUPPORTED"]

ONESHOT_SUPPORTED = ("LayerChoice (candidates without mutables of their own)", "InputChoice(n_chosen=1)")


class _MixedLayer(nn.Module):
    """A ``LayerChoice`` in the supernet: its candidates in a :class:`MixedOp`."""

    def __init__(self, owner: "ModelSpaceSupernet", choice: LayerChoice):
        super().__init__()
        self.label, self.values = choice.label, list(choice.names)
        self.op = MixedOp([choice[name] for name in self.values])
        object.__setattr__(self, "_owner", owner)          # not a submodule (no cycle)

    def forward(self, x):
        arch = self._owner._arch
        if arch is not None:
            return self.op(x, index=self.values.index(arch[self.label]))
        return self.op(x, weights=torch.softmax(self._owner.alpha(self.label), dim=-1))


class _MixedInput(nn.Module):
    """An ``InputChoice(n_chosen=1)`` in the supernet: one input, or the inputs weighted by the softmax."""

    def __init__(self, owner: "ModelSpaceSupernet", choice: InputChoice):
        super().__init__()
        self.label, self.n = choice.label, choice.n_candidates
        object.__setattr__(self, "_owner", owner)

    def forward(self, inputs):
        arch = self._owner._arch
        if arch is not None:
            return inputs[int(arch[self.label][0])]
        weights = torch.softmax(self._owner.alpha(self.label), dim=-1)
        return sum(w * x for w, x in zip(weights, inputs))


def _mutables_inside(module: nn.Module) -> list[str]:
    from nni.nas.nn.pytorch import MutableModule
    labels = []
    for sub in module.modules():
        if isinstance(sub, MutableModule):
            labels += list(sub.simplify())
    return labels


class ModelSpaceSupernet(Supernet):
    """A user's ``ModelSpace`` as a weight-sharing supernet (see the module docstring). ``num_classes`` is
    informational (the model space fixes its output)."""

    arch_names = ()

    def __init__(self, model_space: ModelSpace, num_classes: int = 0):
        super().__init__({}, num_classes)
        if not isinstance(model_space, ModelSpace):
            raise TypeError(f"expected an nni.nas.nn.pytorch.ModelSpace, got {type(model_space).__name__}")
        object.__setattr__(self, "_original", model_space)     # for build(): freeze the user's own space
        self._arch: dict | None = None
        self.network = copy.deepcopy(model_space)
        self._options: dict[str, list] = {}
        self._keys: dict[str, str] = {}
        alphas = {}
        replaced = []
        for name, module in list(self.network.named_modules()):
            if isinstance(module, LayerChoice):
                inner = [label for label in _mutables_inside(nn.ModuleList([module[n] for n in module.names]))]
                if inner:
                    raise UnsupportedMutableError(
                        f"one-shot: LayerChoice {module.label!r} has candidates with mutables of their own "
                        f"({', '.join(repr(x) for x in inner[:4])}); supported: {', '.join(ONESHOT_SUPPORTED)}")
                mixed: nn.Module = _MixedLayer(self, module)
                self._options[module.label] = list(module.names)
            elif isinstance(module, InputChoice):
                if module.n_chosen != 1:
                    raise UnsupportedMutableError(
                        f"one-shot: mutable {module.label!r} ({_describe(module)}) chooses {module.n_chosen} "
                        f"inputs; supported: {', '.join(ONESHOT_SUPPORTED)}")
                mixed = _MixedInput(self, module)
                self._options[module.label] = [[i] for i in range(module.n_candidates)]
            else:
                continue
            if any(name.startswith(prefix + ".") for prefix in replaced):
                continue
            replaced.append(name)
            parent_name, _, attr = name.rpartition(".")
            parent = self.network.get_submodule(parent_name) if parent_name else self.network
            parent._modules[attr] = mixed
            if mixed.label not in self._keys:          # choices sharing a label share one logit vector
                key = f"a{len(alphas)}"
                self._keys[mixed.label] = key
                alphas[key] = nn.Parameter(1e-3 * torch.randn(len(self._options[mixed.label])))
        unsupported = [label for label in model_space.simplify() if label not in self._options]
        if unsupported:
            mutable = model_space.simplify()[unsupported[0]]
            raise UnsupportedMutableError(
                f"one-shot: mutable {unsupported[0]!r} ({type(mutable).__name__}: {_describe(mutable)}) is not "
                f"supported; supported: {', '.join(ONESHOT_SUPPORTED)}")
        if not self._options:
            raise UnsupportedMutableError("one-shot: the model space has no LayerChoice or InputChoice to search")
        self.alphas = nn.ParameterDict(alphas)

    # -- the Supernet contract -----------------------------------------------------------------------
    @property
    def search_space(self) -> Space:
        return Space(tuple(Choice(label, tuple(options)) for label, options in self._options.items()))

    def check_arch(self, arch: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for label, options in self._options.items():
            if label not in arch:
                raise SearchSpaceError.for_param(label, "missing from the architecture")
            if arch[label] not in options:
                raise SearchSpaceError.for_param(label, f"{arch[label]!r} is not one of {options}")
            out[label] = arch[label]
        return out

    def sample_arch(self, rng: np.random.Generator) -> dict[str, Any]:
        return {label: options[int(rng.integers(len(options)))] for label, options in self._options.items()}

    def alpha(self, label: str) -> nn.Parameter:
        return self.alphas[self._keys[label]]

    def arch_parameters(self) -> list[nn.Parameter]:
        return list(self.alphas.values())

    def arch_weights(self) -> dict[str, torch.Tensor]:
        return {label: torch.softmax(self.alpha(label).detach(), dim=-1) for label in self._options}

    def forward(self, x: torch.Tensor, arch: Mapping[str, Any] | None = None) -> torch.Tensor:
        self._arch = None if arch is None else self.check_arch(arch)
        try:
            return self.network(x)
        finally:
            self._arch = None

    def export(self) -> dict[str, Any]:
        """The architecture the architecture parameters select: NNI's dict (argmax per label)."""
        return {label: options[int(torch.argmax(self.alpha(label).detach()))]
                for label, options in self._options.items()}

    def build(self, arch: Mapping[str, Any] | None = None) -> nn.Module:
        """The user's model space frozen at ``arch`` (default :meth:`export`), freshly initialised."""
        return self._original.freeze(dict(self.check_arch(self.export() if arch is None else arch)))

    def extract(self, arch: Mapping[str, Any] | None = None) -> nn.Module:
        raise NotImplementedError("ModelSpaceSupernet: use build(arch) (weights are not copied out of the supernet)")


def _train_and_export(model_space: ModelSpace, method: str, train_data: list, val_data: list, steps: int,
                      seed: int, search_budget: int, options: dict) -> tuple[dict, float]:
    supernet = ModelSpaceSupernet(model_space)
    trainer = create_trainer(method, supernet, seed=seed, **options)
    for i in range(steps):
        trainer.step(train_data[i % len(train_data)], val_data[i % len(val_data)])
    if method == "spos":
        from tuners import create
        strategy = create("evolution", supernet.search_space, seed=seed)
        result = trainer.search(strategy, val_data, search_budget)
        return dict(result.best), max(score for _, score in result.history)
    arch = dict(trainer.export())
    return arch, trainer.estimate(arch, val_data)


def oneshot_search(model_space: ModelSpace, method: str, train_data: Iterable, val_data: Iterable, *, steps: int,
                   seed: int = 0, search_budget: int = 20, **options: Any) -> dict:
    """Train ``method``'s supernet of ``model_space`` for ``steps`` steps (batches ``(x, y)`` from ``train_data``
    and ``val_data``, cycled) and return NNI's architecture dict. SPOS then searches the trained supernet
    with our evolution for ``search_budget`` architectures scored on ``val_data``; DARTS (and any other
    trainer) exports the argmax of its architecture parameters."""
    arch, _ = _train_and_export(model_space, method, list(train_data), list(val_data), steps, seed, search_budget,
                                options)
    return arch


def oneshot_config():
    """The ``NasExperimentConfig`` :class:`OneShotSearch` runs under: NNI's in-process engine, raw format."""
    from nni.nas.experiment.config import NasExperimentConfig
    return NasExperimentConfig("sequential", "raw")


from nni.nas.strategy import Strategy as _NasStrategy  # noqa: E402


class OneShotSearch(_NasStrategy):
    """Our one-shot trainer ``method`` (``spos``, ``darts``, any registered one) as the strategy of a
    ``NasExperiment`` over a user's ModelSpace, with NNI's Lightning evaluator (``Classification``...) giving
    the data: its ``train_dataloaders`` train the weights, its ``val_dataloaders`` the architecture (DARTS)
    or score the paths (SPOS), for ``epochs`` epochs (default: the evaluator's ``max_epochs``). The trainer's
    own options (``lr``...) are ours, not the Lightning module's. The exported architecture is the one model
    :meth:`list_models` gives (``export_top_models``), its metric the supernet's validation accuracy of it.
    Runs under :func:`oneshot_config`."""

    def __init__(self, method: str = "darts", *, epochs: int | None = None, seed: int = 0, search_budget: int = 20,
                 **options: Any):
        super().__init__()
        from nas_plugins.oneshot import TRAINERS, trainer_options
        if method not in TRAINERS:
            raise ValueError(f"unknown one-shot method {method!r}; methods: {', '.join(sorted(TRAINERS))}")
        unknown = [key for key in options if key not in trainer_options(method)]
        if unknown:
            raise ValueError(f"unknown option {unknown[0]!r} for one-shot method {method!r}; accepted: "
                             f"{', '.join(trainer_options(method))}")
        self.method, self.epochs, self.seed, self.search_budget = method, epochs, seed, search_budget
        self.options = options
        self._exported: list = []

    def extra_repr(self) -> str:
        return f"{self.method!r}, epochs={self.epochs}, seed={self.seed}"

    def _initialize(self, model_space, engine):
        from nni.nas.space import RawFormatModelSpace
        if not isinstance(model_space, RawFormatModelSpace):
            raise ValueError(f"OneShotSearch needs the raw model format on the sequential engine (the supernet is "
                             f"trained in this process): pass oneshot_config() to NasExperiment, got a "
                             f"{type(model_space).__name__}")
        ModelSpaceSupernet(model_space.model_space)        # an unsupported mutable fails here, at start
        for attr in ("train_dataloaders", "val_dataloaders"):
            if getattr(model_space.evaluator, attr, None) is None:
                raise ValueError(f"OneShotSearch needs an evaluator with {attr} (NNI's Lightning evaluators: "
                                 f"Classification, Regression), got {type(model_space.evaluator).__name__}")
        return model_space

    def _run(self) -> None:
        from nni.nas.space import ModelStatus
        evaluator = self.model_space.evaluator
        train = [tuple(batch) for batch in evaluator.train_dataloaders]
        val = [tuple(batch) for batch in evaluator.val_dataloaders]
        epochs = self.epochs or getattr(evaluator.trainer, "max_epochs", None) or 1
        arch, score = _train_and_export(self.model_space.model_space, self.method, train, val, epochs * len(train),
                                        self.seed, self.search_budget, self.options)
        model = self.model_space.freeze(arch)
        model.metrics.final = score
        model.status = ModelStatus.Trained
        self._exported = [model]

    def list_models(self, sort: bool = True, limit: int | None = None):
        """The exported model (one-shot NAS trains one supernet and exports one architecture)."""
        yield from self._exported[:limit]

    def state_dict(self) -> dict:
        return {"exported": [dict(m.sample) for m in self._exported]}

    def load_state_dict(self, state_dict: dict) -> None:
        """Nothing to restore: a one-shot search is not resumed (the supernet is not checkpointed)."""
