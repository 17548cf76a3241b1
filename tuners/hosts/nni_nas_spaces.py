"""NNI ``ModelSpace`` classes: a tiny one on scikit-learn's digits (tests, the README's example).

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

import nni
import torch
from torch import nn

from . import nni_nas_compat

nni_nas_compat.apply()

from nni.nas.evaluator import FunctionalEvaluator  # noqa: E402
from nni.nas.nn.pytorch import InputChoice, LayerChoice, ModelSpace, MutableDropout, MutableLinear, Repeat  # noqa: E402

__all__ = ["DigitsNet", "train_digits", "digits_evaluator", "digits_data"]


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
