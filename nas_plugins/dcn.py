"""Dataset difficulty for TAPAS (Istrate et al., AAAI 2019): the dataset characterization number (DCN).

TAPAS characterises a data set by how well a small fixed *probe* network learns it: the DCN is that
network's validation accuracy, a number in [0, 1] (hard data sets low, easy ones high), and the
accuracy predictor of :class:`tuners.tapas.TAPAS` is conditioned on it. :func:`dataset_dcn` trains the
fixed landmarker (:func:`landmarker`: two conv-BN-ReLU layers, global average pooling, a linear layer;
one recipe: ``epochs`` of SGD with momentum, cosine learning rate, seeded) on any image data set
``x`` (N, C, H, W) with integer labels ``y`` and returns its accuracy on a held-out part (or on
``x_val, y_val``). :func:`digits_dcn` does so for the embedded digits, optionally with Gaussian pixel
noise (a harder data set). Compare only DCNs computed with the same recipe.

Tasks in the metadata store carry their DCN in their metadata (``"dcn"``;
:func:`nas_plugins.transfer.set_dcn`, ``nas-plugins tapas set-dcn``); benchmarks on tables pass it as the
``dcn`` option directly.

Example::

    >>> from nas_plugins.dcn import digits_dcn
    >>> easy, hard = digits_dcn(epochs=2), digits_dcn(noise=1.0, epochs=2)
    >>> 0 <= hard < easy <= 1
    True
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from .seeding import seeded_run

__all__ = ["landmarker", "dataset_dcn", "digits_dcn"]


def landmarker(in_channels: int, num_classes: int) -> nn.Module:
    """The fixed probe network (about 5k parameters plus the classifier; any image size)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, num_classes))


def _tensor(x: Any, dtype: torch.dtype) -> torch.Tensor:
    return x.to(dtype) if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x), dtype=dtype)


def dataset_dcn(x: Any, y: Any, x_val: Any = None, y_val: Any = None, *, epochs: int = 5, batch_size: int = 64,
                lr: float = 0.05, val_fraction: float = 0.25, seed: int = 0, threads: int | None = 1) -> float:
    """The DCN of the data set ``(x, y)``: the landmarker's validation accuracy after ``epochs`` of
    training on it (on ``x_val, y_val`` when given, else on a seeded ``val_fraction`` held out of
    ``x``). ``x``: images (N, C, H, W) or (N, H, W), a tensor or array; ``y``: labels 0..K-1. The caller's
    torch RNG and thread count are left alone; the same seed gives the same DCN."""
    x, y = _tensor(x, torch.float32), _tensor(y, torch.int64)
    if x.dim() == 3:
        x = x[:, None]
    if x.dim() != 4 or len(x) != len(y) or len(x) < 2:
        raise ValueError(f"dataset_dcn needs images (N, C, H, W) and N labels, got {tuple(x.shape)} and {tuple(y.shape)}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if x_val is None:
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
        order = torch.from_numpy(np.random.default_rng(seed).permutation(len(x)))
        n_val = max(1, int(round(val_fraction * len(x))))
        x, y, x_val, y_val = x[order[n_val:]], y[order[n_val:]], x[order[:n_val]], y[order[:n_val]]
    else:
        x_val, y_val = _tensor(x_val, torch.float32), _tensor(y_val, torch.int64)
        if x_val.dim() == 3:
            x_val = x_val[:, None]
    classes = int(max(int(y.max()), int(y_val.max()))) + 1
    mean, std = x.mean(dim=(0, 2, 3), keepdim=True), x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    x, x_val = (x - mean) / std, (x_val - mean) / std
    with seeded_run(seed, threads) as shuffle:
        model = landmarker(x.shape[1], classes)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
        steps = epochs * math.ceil(len(x) / batch_size)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
        model.train()
        for _ in range(epochs):
            for batch in torch.randperm(len(x), generator=shuffle).split(batch_size):
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
                optimizer.step()
                schedule.step()
        model.eval()
        with torch.no_grad():
            correct = sum(int((model(xb).argmax(1) == yb).sum()) for xb, yb in zip(x_val.split(512), y_val.split(512)))
    return correct / len(x_val)


def digits_dcn(noise: float = 0.0, *, epochs: int = 5, seed: int = 0) -> float:
    """The DCN of scikit-learn's embedded 8x8 digits (its standard 25% validation split), with Gaussian
    pixel noise of standard deviation ``noise`` (pixels in [0, 1]; fixed by ``seed``) for a harder one."""
    from .data import load_digits_split
    x, y, x_val, y_val = load_digits_split(0.25, seed=0)
    if noise:
        generator = torch.Generator().manual_seed(seed)
        x = x + noise * torch.randn(x.shape, generator=generator)
        x_val = x_val + noise * torch.randn(x_val.shape, generator=generator)
    return dataset_dcn(x, y, x_val, y_val, epochs=epochs, seed=seed)
