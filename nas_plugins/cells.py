"""A tiny DARTS-like cell network for 8x8 images, built from one flat config dict.

The config mixes architecture and hyperparameters, exactly as an NNI trial receives it
from :data:`DEMO_SEARCH_SPACE`; the builder reads the architecture keys and
:func:`train_and_evaluate` the hyperparameter keys. Unknown keys are ignored, missing
keys take their value from :data:`DEFAULTS`.

Architecture: ``stem (conv3x3 + BN) -> num_cells x Cell -> ReLU -> global avg pool ->
dropout -> linear``. All cells keep ``channels`` channels and the full 8x8 resolution
(no reduction cells: the images are tiny). A cell has two intermediate nodes and
three edges::

    node1  = edge_0(input)
    node2  = edge_1(input) + edge_2(node1)
    output = node2

Each edge is one of :data:`OPS`; ``conv*`` / ``sepconv3x3`` are ReLU-Conv-BN blocks,
pools are stride-1 3x3 pools, ``skip`` is the identity and ``none`` outputs zeros
(a cell whose ``edge_1`` and ``edge_2`` are both ``none`` outputs zeros, so the
network then predicts from the classifier bias alone).

Example::

    >>> from nas_plugins.cells import build_model, count_parameters, expected_parameters, train_and_evaluate
    >>> cfg = {"num_cells": 2, "channels": 8, "edge_0": "conv3x3", "edge_1": "skip",
    ...        "edge_2": "sepconv3x3", "lr": 0.05, "batch_size": 64}
    >>> model = build_model(cfg)
    >>> count_parameters(model) == expected_parameters(cfg)
    True
    >>> acc = train_and_evaluate(cfg, epochs=1, seed=0)   # validation accuracy, a fraction
    >>> 0.0 <= acc <= 1.0
    True
"""
from __future__ import annotations

import hashlib
import io
import math
import os
import warnings
from typing import Any, Callable, Mapping

import torch
from torch import nn
from torch.nn import functional as F

from . import checkpoints
from .seeding import seeded_run

__all__ = ["OPS", "EDGE_KEYS", "DEFAULTS", "DEMO_SEARCH_SPACE", "resolve_config", "build_model",
           "count_parameters", "expected_parameters", "train_and_evaluate"]

OPS: tuple[str, ...] = ("conv3x3", "conv1x1", "sepconv3x3", "maxpool3x3", "avgpool3x3", "skip", "none")
EDGE_KEYS: tuple[str, ...] = ("edge_0", "edge_1", "edge_2")
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam")

#: Value used for every config key the caller leaves out.
DEFAULTS: dict[str, Any] = {
    # architecture
    "num_cells": 1,
    "channels": 16,
    "edge_0": "conv3x3",
    "edge_1": "skip",
    "edge_2": "conv3x3",
    "dropout": 0.1,
    # hyperparameters
    "lr": 0.05,
    "weight_decay": 1e-4,
    "batch_size": 64,
    "optimizer": "sgd",
}

#: The demo's joint HPO + NAS space, in NNI search-space JSON format
#: (also stored as ``trial_templates/mixed_space.json``). NNI's ``randint`` upper bound is
#: exclusive, so ``num_cells`` is 1, 2 or 3. Sized for a 1-thread CPU trial: 6 epochs of the
#: largest network (3 cells x 64 channels, all conv3x3, batch 32) take ~10 s, a typical one 1-3 s.
DEMO_SEARCH_SPACE: dict[str, dict[str, Any]] = {
    "lr": {"_type": "loguniform", "_value": [0.001, 0.3]},
    "weight_decay": {"_type": "loguniform", "_value": [1e-06, 0.01]},
    "batch_size": {"_type": "choice", "_value": [32, 64, 128]},
    "optimizer": {"_type": "choice", "_value": ["sgd", "adam"]},
    "num_cells": {"_type": "randint", "_value": [1, 4]},
    "channels": {"_type": "choice", "_value": [8, 16, 32, 64]},
    "edge_0": {"_type": "choice", "_value": list(OPS)},
    "edge_1": {"_type": "choice", "_value": list(OPS)},
    "edge_2": {"_type": "choice", "_value": list(OPS)},
    "dropout": {"_type": "uniform", "_value": [0.0, 0.3]},
}


# ----------------------------------------------------------------------------- config

def _as_int(key: str, value: Any, minimum: int) -> int:
    """Accept ints and integral floats (some tuners send ``32.0``); reject everything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) \
            or int(value) < minimum:
        raise ValueError(f"config key '{key}' must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _as_float(key: str, value: Any, low: float, high: float, *, low_inclusive: bool = True,
              high_inclusive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"config key '{key}' must be a finite number, got {value!r}")
    value = float(value)
    if value < low or value > high or (value == low and not low_inclusive) \
            or (value == high and not high_inclusive):
        lo, hi = "[" if low_inclusive else "(", "]" if high_inclusive else ")"
        raise ValueError(f"config key '{key}' must be in {lo}{low}, {high}{hi}, got {value!r}")
    return value


def _as_choice(key: str, value: Any, options: tuple[str, ...]) -> str:
    if value not in options:
        raise ValueError(f"config key '{key}' has unknown value {value!r}; valid values: {', '.join(options)}")
    return value


def resolve_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return a validated copy of ``config`` restricted to the known keys, defaults filled in.

    Raises ``ValueError`` naming the offending key (e.g. an unknown op lists the valid ops).

    Example::

        >>> from nas_plugins.cells import resolve_config
        >>> cfg = resolve_config({"channels": 8.0, "lr": 0.1, "momentum": 0.5})   # unknown keys are dropped
        >>> cfg["channels"], cfg["lr"], cfg["edge_0"], "momentum" in cfg
        (8, 0.1, 'conv3x3', False)
        >>> resolve_config({"edge_0": "conv5x5"})
        Traceback (most recent call last):
        ...
        ValueError: config key 'edge_0' has unknown value 'conv5x5'; valid values: conv3x3, ...
    """
    merged = {**DEFAULTS, **{k: v for k, v in config.items() if k in DEFAULTS}}
    return {
        "num_cells": _as_int("num_cells", merged["num_cells"], 1),
        "channels": _as_int("channels", merged["channels"], 1),
        **{key: _as_choice(key, merged[key], OPS) for key in EDGE_KEYS},
        "dropout": _as_float("dropout", merged["dropout"], 0.0, 1.0, high_inclusive=False),
        "lr": _as_float("lr", merged["lr"], 0.0, math.inf, low_inclusive=False),
        "weight_decay": _as_float("weight_decay", merged["weight_decay"], 0.0, math.inf),
        "batch_size": _as_int("batch_size", merged["batch_size"], 1),
        "optimizer": _as_choice("optimizer", merged["optimizer"], OPTIMIZERS),
    }


# ----------------------------------------------------------------------------- model

class _Zero(nn.Module):
    """The ``none`` op: an all-zero tensor shaped like the input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def _make_op(name: str, channels: int) -> nn.Module:
    c = channels
    if name == "conv3x3":
        return nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
    if name == "conv1x1":
        return nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))
    if name == "sepconv3x3":  # depthwise 3x3 + pointwise 1x1
        return nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False),
                             nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))
    if name == "maxpool3x3":
        return nn.MaxPool2d(3, stride=1, padding=1)
    if name == "avgpool3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    if name == "skip":
        return nn.Identity()
    if name == "none":
        return _Zero()
    raise ValueError(f"unknown op {name!r}; valid ops: {', '.join(OPS)}")


def _op_parameters(name: str, channels: int) -> int:
    c = channels
    return {"conv3x3": 9 * c * c + 2 * c, "conv1x1": c * c + 2 * c,
            "sepconv3x3": 9 * c + c * c + 2 * c}.get(name, 0)


class Cell(nn.Module):
    """``node1 = op0(x); node2 = op1(x) + op2(node1); return node2`` (shape-preserving)."""

    def __init__(self, channels: int, ops: tuple[str, str, str]) -> None:
        super().__init__()
        self.op0, self.op1, self.op2 = (_make_op(op, channels) for op in ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        node1 = self.op0(x)
        return self.op1(x) + self.op2(node1)


class CellNet(nn.Module):
    """Stem -> cells -> ReLU -> global average pool -> dropout -> linear classifier."""

    def __init__(self, num_cells: int, channels: int, ops: tuple[str, str, str], dropout: float,
                 num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels))
        self.cells = nn.Sequential(*(Cell(channels, ops) for _ in range(num_cells)))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cells(self.stem(x))
        x = F.relu(x).mean(dim=(2, 3))
        return self.classifier(self.dropout(x))


def build_model(config: Mapping[str, Any], num_classes: int = 10) -> nn.Module:
    """Build the cell network described by ``config`` (hyperparameter keys are ignored).

    Input ``[B, 1, H, W]`` (8x8 digits), output logits ``[B, num_classes]``.

    Example::

        >>> import torch
        >>> from nas_plugins.cells import build_model
        >>> model = build_model({"num_cells": 2, "channels": 8, "edge_0": "sepconv3x3"})
        >>> model(torch.zeros(4, 1, 8, 8)).shape
        torch.Size([4, 10])
    """
    cfg = resolve_config(config)
    ops = (cfg["edge_0"], cfg["edge_1"], cfg["edge_2"])
    return CellNet(cfg["num_cells"], cfg["channels"], ops, cfg["dropout"], num_classes=num_classes)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters (``requires_grad``) of ``module``.

    Example::

        >>> from torch import nn
        >>> from nas_plugins.cells import count_parameters
        >>> count_parameters(nn.Linear(3, 2))      # 3 x 2 weights + 2 biases
        8
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def expected_parameters(config: Mapping[str, Any], num_classes: int = 10) -> int:
    """Analytic parameter count of ``build_model(config, num_classes)``, without building it.

    Example::

        >>> from nas_plugins.cells import expected_parameters
        >>> expected_parameters({"num_cells": 1, "channels": 8, "edge_0": "skip",
        ...                      "edge_1": "none", "edge_2": "conv1x1"})
        258
    """
    cfg = resolve_config(config)
    c = cfg["channels"]
    stem = 9 * c + 2 * c
    cell = sum(_op_parameters(cfg[key], c) for key in EDGE_KEYS)
    head = c * num_classes + num_classes
    return stem + cfg["num_cells"] * cell + head


# ----------------------------------------------------------------------------- training

def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, lr: float, epoch: int,
              chunk: int = 1024) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(x), chunk):
            logits = model(x[start:start + chunk])
            if not torch.isfinite(logits).all():
                raise FloatingPointError(f"non-finite validation logits after epoch {epoch} with lr={lr:g}; "
                                         "the training diverged (try a smaller lr)")
            correct += int((logits.argmax(dim=1) == y[start:start + chunk]).sum())
    return correct / len(x)


def _checkpoint_file(directory: str | os.PathLike, cfg: Mapping[str, Any], seed: int, max_epochs: int | None,
                     x_tr: torch.Tensor, y_tr: torch.Tensor) -> str:
    """One file per training run that a larger budget continues: keyed by the resolved config
    (never the budget), the seed, the LR horizon and a fingerprint of the training data. ``directory``
    is a path or an fsspec URL (:mod:`nas_plugins.checkpoints`)."""
    from .space import config_key
    ident = config_key({"config": dict(cfg), "seed": seed, "max_epochs": max_epochs,
                        "data": [list(x_tr.shape), float(x_tr.double().sum()), float(y_tr.double().sum())]})
    return checkpoints.join(directory, f"cells-{hashlib.sha1(ident.encode()).hexdigest()}.pt")


def _load_checkpoint(path: str, device: str | torch.device) -> dict | None:
    try:
        data = checkpoints.read_bytes(path)
        if data is None:
            return None
        return torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    except ImportError:
        raise
    except Exception as exc:  # a damaged file: train from scratch rather than fail the trial
        warnings.warn(f"ignoring unreadable checkpoint {path}: {exc}", RuntimeWarning, stacklevel=3)
        return None


def _save_checkpoint(path: str, state: dict) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    checkpoints.write_bytes(path, buffer.getvalue())     # atomic: a reader never sees half a file


def _missing_checkpoint(path: str, state: dict | None, resume_from: int, directory: str | os.PathLike,
                        on_missing: Callable[[str], None] | None) -> None:
    found = "no checkpoint" if state is None else f"a checkpoint of epoch {int(state['epoch'])} only"
    message = (f"missing checkpoint: this configuration was trained to epoch {resume_from} before (a promoted "
               f"configuration) but {found} is at {path}; training from epoch "
               f"{1 if state is None else int(state['epoch']) + 1} instead of {resume_from + 1}. Is the checkpoint "
               f"root {os.fspath(directory)!r} shared by every machine that runs trials "
               f"(${checkpoints.ENV}: a shared mount or an fsspec URL)?")
    if on_missing is not None:
        on_missing(message)
    else:
        warnings.warn(message, checkpoints.MissingCheckpointWarning, stacklevel=3)


def train_and_evaluate(config: Mapping[str, Any], *, epochs: int, seed: int = 0,
                       report: Callable[[int, float], None] | None = None,
                       data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
                       threads: int | None = 1, device: str | torch.device = "cpu",
                       checkpoint_dir: str | os.PathLike | None = None, max_epochs: int | None = None,
                       resume_from: int | None = None,
                       on_missing_checkpoint: Callable[[str], None] | None = None) -> float:
    """Train ``build_model(config)`` for ``epochs`` epochs and return the final val accuracy.

    Uses the config's ``lr``, ``weight_decay``, ``batch_size`` and ``optimizer`` (``'sgd'``:
    momentum 0.9, Nesterov; ``'adam'``), with a per-step cosine learning-rate decay to 0 over
    the whole run and cross-entropy loss. ``data`` is ``(x_train, y_train, x_val, y_val)``
    (default: :func:`nas_plugins.data.load_digits_split`). After each epoch,
    ``report(epoch, val_accuracy)`` is called with ``epoch`` counted from 1 and the
    accuracy as a fraction in ``[0, 1]``.

    Deterministic for a given ``seed`` (and thread count): initialisation and dropout use
    ``torch.manual_seed(seed)`` inside a forked RNG (the caller's global RNG state is left
    untouched) and shuffling uses its own seeded generator. ``threads`` sets
    ``torch.set_num_threads`` for the run (restored afterwards); ``None`` leaves it alone.

    Raises ``ValueError`` for an invalid config and ``FloatingPointError`` (naming the lr)
    when the loss becomes NaN/inf.

    **Budgets and checkpoints** (Hyperband/ASHA run the same config again with more epochs):
    with ``checkpoint_dir``, the model, optimizer, epoch and RNG states are saved there after every
    epoch, in a file keyed by the config without its ``epochs`` (plus seed, ``max_epochs`` and the
    data). A later call finding a checkpoint at epoch ``e < epochs`` trains epochs ``e+1..epochs``
    only, reporting just those, and gives the same result as an uninterrupted run; with
    ``e >= epochs`` it only evaluates the checkpointed model (which had ``e`` epochs). Since a run
    may be continued to any budget, its LR schedule must not depend on ``epochs``: with
    ``checkpoint_dir`` the LR is constant, or follows the cosine decay over ``max_epochs`` epochs
    (the largest budget, e.g. Hyperband's ``R``) when given. ``max_epochs`` also replaces
    ``epochs`` as the cosine horizon without checkpoints; ``epochs > max_epochs`` is an error.
    ``checkpoint_dir`` may be an fsspec URL (:mod:`nas_plugins.checkpoints`). ``resume_from``: the epoch a
    previous run of this configuration reached (Hyperband/ASHA's ``resume_key``); when the checkpoint
    is missing or older, the run still trains the missing epochs, and ``on_missing_checkpoint(message)``
    is called (default: a :class:`~nas_plugins.checkpoints.MissingCheckpointWarning`) instead of
    silently starting over.

    Example::

        >>> from nas_plugins.cells import train_and_evaluate
        >>> accs = []
        >>> final = train_and_evaluate({"channels": 8, "lr": 0.05}, epochs=2,
        ...                            report=lambda epoch, acc: accs.append(acc))
        >>> len(accs), final == accs[-1]
        (2, True)
    """
    cfg = resolve_config(config)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    if max_epochs is not None:
        if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
            raise ValueError(f"max_epochs must be a positive integer or None, got {max_epochs!r}")
        if epochs > max_epochs:
            raise ValueError(f"epochs={epochs} exceeds max_epochs={max_epochs}, the horizon of the LR schedule; "
                             "pass max_epochs >= the largest budget")
    if resume_from is not None and (isinstance(resume_from, bool) or not isinstance(resume_from, int)
                                    or resume_from < 1):
        raise ValueError(f"resume_from must be a positive integer or None, got {resume_from!r}")
    if data is None:
        from .data import load_digits_split
        data = load_digits_split()
    x_tr, y_tr, x_va, y_va = (t.to(device) for t in data)
    num_classes = int(max(int(y_tr.max()), int(y_va.max()))) + 1
    lr, batch_size = cfg["lr"], cfg["batch_size"]

    with seeded_run(seed, threads) as shuffle:
        model = build_model(cfg, num_classes=num_classes).to(device)
        if cfg["optimizer"] == "sgd":
            optimizer: torch.optim.Optimizer = torch.optim.SGD(
                model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=cfg["weight_decay"])
        else:
            optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=cfg["weight_decay"])
        steps_per_epoch = math.ceil(len(x_tr) / batch_size)
        schedule = None
        horizon = None if max_epochs is None else max_epochs * steps_per_epoch   # closed-form cosine
        if checkpoint_dir is None and max_epochs is None:
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)

        accuracy = 0.0
        first = 1
        path = None
        if checkpoint_dir is not None:
            path = _checkpoint_file(checkpoint_dir, cfg, seed, max_epochs, x_tr, y_tr)
            state = _load_checkpoint(path, device)
            if resume_from is not None and (state is None or int(state["epoch"]) < min(resume_from, epochs)):
                _missing_checkpoint(path, state, resume_from, checkpoint_dir, on_missing_checkpoint)
            if state is not None:
                model.load_state_dict(state["model"])
                optimizer.load_state_dict(state["optimizer"])
                torch.set_rng_state(state["torch_rng"])
                shuffle.set_state(state["shuffle_rng"])
                first = int(state["epoch"]) + 1
                if first > epochs:          # trained at least as long already: evaluate only
                    return _accuracy(model, x_va, y_va, lr, first - 1)
        for epoch in range(first, epochs + 1):
            model.train()
            order = torch.randperm(len(x_tr), generator=shuffle).to(device)
            for step, start in enumerate(range(0, len(x_tr), batch_size)):
                if horizon is not None:
                    t = (epoch - 1) * steps_per_epoch + step
                    for group in optimizer.param_groups:
                        group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * t / horizon))
                batch = order[start:start + batch_size]
                loss = F.cross_entropy(model(x_tr[batch]), y_tr[batch])
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"training loss became {loss.detach().item()} at epoch {epoch}, step {step} with lr={lr:g} "
                        f"(optimizer={cfg['optimizer']}); the run diverged, try a smaller lr")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if schedule is not None:
                    schedule.step()
            accuracy = _accuracy(model, x_va, y_va, lr, epoch)
            if path is not None:
                _save_checkpoint(path, {"epoch": epoch, "model": model.state_dict(),
                                        "optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
                                        "shuffle_rng": shuffle.get_state()})
            if report is not None:
                report(epoch, accuracy)
        return accuracy
