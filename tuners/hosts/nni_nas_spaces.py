"""NNI ``ModelSpace`` classes: our NAS spaces (``nb201``, ``darts``, ``mobilenet``, ``mini201``) and a tiny
one on scikit-learn's digits (tests, the README's example).

Our spaces: one class each, generated from :data:`nas_plugins.spaces.SPACES` (``Nb201Space``, ``DartsSpace``,
``MobilenetSpace``, ``Mini201Space``; :func:`model_space` by name). Every parameter of the space's
``SEARCH_SPACE`` is an ``nni.choice`` of the same label and options, so NNI's own strategies and ours
(``tuners.hosts.nni_nas``) search the same space, and an architecture dict of either is a configuration
of ours: ``space.freeze(arch)`` (or ``with model_context(arch): Nb201Space(...)``) builds ``build(arch,
num_classes, **sizes)`` of the space module, and the model's ``config`` is that configuration.
:func:`table_evaluator` scores an architecture by the benchmark table instead of training it (``nb201``
with ``$NASP_BENCHMARKS/nb201.csv.gz``, ``mini201`` with the shipped ``bench/mini201.csv``).

``DigitsNet`` uses one mutable of each kind the NNI NAS adapter supports (``tuners.hosts.nni_nas``)::

    width    nni.choice        (Categorical)  hidden width of every layer
    act      LayerChoice       (Categorical)  ReLU or Tanh after the stem
    depth    Repeat (0..2)     (Categorical)  hidden blocks after the stem, each with its own LayerChoice
    skip     InputChoice       (Categorical)  the stem's output or the blocks'
    dropout  nni.uniform       (Numerical)    dropout before the head

:func:`train_digits` trains one frozen model a few full-batch Adam steps (seconds on a CPU) and reports
its validation accuracy; :func:`digits_evaluator` wraps it in NNI's ``FunctionalEvaluator``. Trials import
both by name, so they live in this package (NNI runs a NAS trial in the experiment's working directory).
"""
from __future__ import annotations

import functools
from typing import Any, ClassVar

import nni
import torch
from torch import nn

from . import nni_nas_compat

nni_nas_compat.apply()

from nni.mutable import Categorical, frozen_context  # noqa: E402
from nni.nas.evaluator import FunctionalEvaluator  # noqa: E402
from nni.nas.nn.pytorch import InputChoice, LayerChoice, ModelSpace, MutableDropout, MutableLinear, Repeat  # noqa: E402
from nni.nas.space import model_context  # noqa: E402

from nas_plugins.space import Choice  # noqa: E402
from nas_plugins.spaces import SPACES, get_space  # noqa: E402

__all__ = ["DigitsNet", "train_digits", "digits_evaluator", "digits_data", "OurSpace", "model_space", "Mini201Cells",
           "table_evaluator", "report_table_accuracy", "SPACE_CLASSES"]


class OurSpace(ModelSpace):
    """One of our NAS spaces as an NNI ``ModelSpace``; use a generated subclass (:data:`SPACE_CLASSES`).
    ``num_classes`` and ``sizes`` go to the space's ``build``."""
    space_name: ClassVar[str] = ""

    def __init__(self, num_classes: int = 10, **sizes: Any):
        super().__init__()
        module = get_space(self.space_name)
        config = self._choices(module.space(), "", frozen_context.current() or {})
        self.config = config
        self._arguments = (num_classes, dict(sizes))
        self.network = module.build(config, num_classes, **sizes)

    def _choice(self, label: str, options: list, context: dict) -> Any:
        choice = Categorical(options, label=label)
        if label in context:                        # frozen (an architecture of the space)
            return choice.freeze(context)
        return self.add_mutable(choice).default()   # the space: register the choice, build its default

    def _choices(self, space, prefix: str, context: dict) -> dict:
        """Our configuration, each parameter an ``nni.choice`` labelled with its path: a nested choice is the
        choice of its branch (``label``) and the parameters of every branch (``label.branch.param``), all
        registered (NNI forbids "/" in a label: the parts are joined by "."), those of the branches not taken ignored (NNI flattens conditional spaces so)."""
        config = {}
        for param in space:
            label = prefix + param.name
            if not isinstance(param, Choice):
                raise TypeError(f"{self.space_name}: parameter {label!r} is not a choice")
            if not param.nested:
                config[param.name] = self._choice(label, list(param.options), context)
                continue
            chosen = self._choice(label, [branch.name for branch in param.options], context)
            value = {"_name": chosen}
            for branch in param.options:
                sub = self._choices(branch.space, f"{label}.{branch.name}.", context)
                if branch.name == chosen:
                    value.update(sub)
            config[param.name] = value
        return config

    def freeze(self, sample: dict) -> "OurSpace":
        with model_context(sample):
            return type(self)(num_classes=self._arguments[0], **self._arguments[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)


def _space_classes() -> dict[str, type]:
    classes = {}
    for name in SPACES:
        cls = type("".join(part.capitalize() for part in name.split("_")) + "Space", (OurSpace,),
                   {"space_name": name, "__module__": __name__,
                    "__doc__": f"Our ``{name}`` space (``nas_plugins.spaces.{name}``) as an NNI ModelSpace."})
        globals()[cls.__name__] = cls
        classes[name] = cls
    return classes


#: ``{space name: ModelSpace class}``: ``Nb201Space``, ``DartsSpace``, ``MobilenetSpace``, ``Mini201Space``.
SPACE_CLASSES = _space_classes()


def model_space(name: str, num_classes: int = 10, **sizes: Any) -> OurSpace:
    """Our space ``name`` as an NNI ModelSpace instance."""
    if name not in SPACE_CLASSES:
        raise ValueError(f"unknown NAS space {name!r}; spaces: {', '.join(SPACE_CLASSES)}")
    return SPACE_CLASSES[name](num_classes=num_classes, **sizes)


class _Mini201Cell(nn.Module):
    """The NB201 cell with a ``LayerChoice`` per edge, labelled by the edge (every cell shares the choices)."""

    def __init__(self, channels: int):
        super().__init__()
        from nas_plugins.spaces import mini201, nb201
        self.edges = nn.ModuleList(
            LayerChoice({op: nb201._make_op(op, channels) for op in mini201.OPS}, label=key)
            for key in mini201.EDGE_KEYS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes, edges = [x], iter(self.edges)
        for to in (1, 2, 3):
            nodes.append(sum(next(edges)(nodes[frm]) for frm in range(to)))
        return nodes[3]


class Mini201Cells(ModelSpace):
    """The mini201 space (the ground truth of ``nas_plugins.spaces.mini201``) written as NNI users write a
    cell space: the NB201 skeleton at mini201's sizes with a ``LayerChoice`` per edge, so that one-shot
    strategies (NNI's, and ours through ``tuners.hosts.nni_nas_oneshot``) can mix it. Its architecture dict
    ``{edge_key: op}`` is a mini201 configuration (``mini201.lookup`` scores it); frozen, the network has
    the parameters of ``mini201.build`` of that configuration."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        from nas_plugins.spaces import mini201
        from nas_plugins.spaces.nb201 import build_skeleton
        build_skeleton(self, _Mini201Cell, num_classes, mini201.SIZES["C"], mini201.SIZES["N"],
                       mini201.SIZES["in_channels"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.cells(self.stem(x))))


def report_table_accuracy(model: OurSpace, metric: str = "valid_acc", dataset: str = "cifar10") -> float:
    """Report (and return) the benchmark table's ``metric`` of ``model``'s architecture, as a fraction: the
    trial of a table-driven search (``mini201``: its shipped table; ``nb201``: ``$NASP_BENCHMARKS``, where
    ``metric`` ``valid_acc`` reads the table's ``val_acc``)."""
    name = model.space_name
    if name == "mini201":
        row = get_space("mini201").lookup(model.config)
    elif name == "nb201":
        row = get_space("nb201").lookup(model.config, dataset)
        metric = {"valid_acc": "val_acc"}.get(metric, metric)
    else:
        raise ValueError(f"space {name!r} has no benchmark table; tables: mini201, nb201")
    value = float(row[metric]) / 100.0
    nni.report_final_result(value)
    return value


def table_evaluator(metric: str = "valid_acc", dataset: str = "cifar10") -> FunctionalEvaluator:
    """NNI's ``FunctionalEvaluator`` of :func:`report_table_accuracy`."""
    return FunctionalEvaluator(report_table_accuracy, metric=metric, dataset=dataset)


class DigitsNet(ModelSpace):
    """A small MLP space for the 8x8 digits (64 inputs, 10 classes): 2 x 2 x (1 + 2 + 4) x 2 architectures
    (a skip over no blocks is the stem either way) times a dropout rate."""

    def __init__(self, widths: tuple = (16, 32), max_depth: int = 2):
        super().__init__()
        width = nni.choice("width", list(widths))
        self.stem = MutableLinear(64, width)
        self.act = LayerChoice([nn.ReLU(), nn.Tanh()], label="act")
        self.blocks = Repeat(
            lambda i: nn.Sequential(MutableLinear(width, width),
                                    LayerChoice([nn.ReLU(), nn.Tanh()], label=f"block{i}_act")),
            (0, max_depth), label="depth")
        self.skip = InputChoice(2, 1, label="skip")
        self.dropout = MutableDropout(nni.uniform("dropout", 0.0, 0.3))
        self.head = MutableLinear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.stem(x))
        h = self.skip([h, self.blocks(h)])
        return self.head(self.dropout(h))


@functools.lru_cache(maxsize=1)
def digits_data(seed: int = 0):
    """Standardised digits, split 2/3 train, 1/3 validation (fixed by ``seed``)."""
    from sklearn.datasets import load_digits
    x, y = load_digits(return_X_y=True)
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(y), generator=g)
    x = torch.tensor(x, dtype=torch.float32)[order]
    y = torch.tensor(y, dtype=torch.long)[order]
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    cut = 2 * len(y) // 3
    return x[:cut], y[:cut], x[cut:], y[cut:]


def train_digits(model: nn.Module, steps: int = 30, lr: float = 0.02, seed: int = 0) -> float:
    """Train ``model`` ``steps`` full-batch Adam steps on the digits; report (and return) validation accuracy."""
    torch.manual_seed(seed)
    x, y, vx, vy = digits_data()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        accuracy = float((model(vx).argmax(1) == vy).float().mean())
    nni.report_final_result(accuracy)
    return accuracy


def digits_evaluator(steps: int = 30, lr: float = 0.02) -> FunctionalEvaluator:
    """NNI's ``FunctionalEvaluator`` of :func:`train_digits`."""
    return FunctionalEvaluator(train_digits, steps=steps, lr=lr)
