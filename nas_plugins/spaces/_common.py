"""Building blocks shared by the NAS spaces: config checking, zero op, analytic size tally."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..space import Space

HW = tuple[int, int]


def arch_config(config: Mapping[str, Any], space: Space) -> dict[str, Any]:
    """The architecture keys of ``config`` (keys of ``space``), checked; other keys are ignored.

    Raises :class:`~nas_plugins.space.SearchSpaceError` naming a missing or invalid parameter.
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"expected a configuration dict, got {type(config).__name__}")
    arch = {name: config[name] for name in space.names if name in config}
    space.check(arch)
    return arch


def as_hw(input_size: int | Sequence[int]) -> HW:
    """``32`` or ``(32, 32)`` -> ``(32, 32)``."""
    if isinstance(input_size, int):
        return (input_size, input_size)
    h, w = input_size
    return (int(h), int(w))


def conv_out(hw: HW, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> HW:
    """Spatial size after a convolution or pooling (PyTorch's floor rule)."""
    def one(n: int) -> int:
        out = (n + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
        if out < 1:
            raise ValueError(f"input of size {n} is too small for kernel {kernel}, stride {stride}")
        return out
    return (one(hw[0]), one(hw[1]))


def one_hot(index: int, n: int) -> np.ndarray:
    out = np.zeros(n)
    if index >= 0:
        out[index] = 1.0
    return out


@dataclass
class Tally:
    """Running count of parameters and multiply-adds (per image) of conv, BN and linear layers.

    Counted: parameters of every layer; multiply-adds of convolutions (``out_pixels * out_channels
    * in_channels / groups * k * k``) and linear layers (``in * out``). Not counted as FLOPs:
    BN, activations, pooling, additions, concatenation, biases.
    """
    params: int = 0
    macs: int = 0

    def conv(self, c_in: int, c_out: int, kernel: int, hw: HW, stride: int = 1, padding: int = 0,
             dilation: int = 1, groups: int = 1) -> HW:
        out = conv_out(hw, kernel, stride, padding, dilation)
        weights = c_out * (c_in // groups) * kernel * kernel
        self.params += weights
        self.macs += weights * out[0] * out[1]
        return out

    def bn(self, channels: int) -> None:
        self.params += 2 * channels

    def linear(self, n_in: int, n_out: int) -> None:
        self.params += n_in * n_out + n_out
        self.macs += n_in * n_out


class Zero(nn.Module):
    """The ``none`` op: zeros shaped like the (strided) input."""

    def __init__(self, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x[:, :, ::self.stride, ::self.stride])


def conv(c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
         groups: int = 1) -> nn.Conv2d:
    """A bias-free convolution (every conv of the spaces is followed by BN)."""
    return nn.Conv2d(c_in, c_out, kernel, stride, padding, dilation, groups=groups, bias=False)


def relu_conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0) -> nn.Sequential:
    """ReLU -> conv -> BN, the op of NAS-Bench-201 and the cell preprocessing of DARTS."""
    return nn.Sequential(nn.ReLU(), conv(c_in, c_out, kernel, stride, padding), nn.BatchNorm2d(c_out))


def tally_relu_conv_bn(t: Tally, c_in: int, c_out: int, kernel: int, hw: HW, stride: int = 1,
                       padding: int = 0) -> HW:
    """What :func:`relu_conv_bn` adds to ``t``; returns the output size."""
    out = t.conv(c_in, c_out, kernel, hw, stride, padding)
    t.bn(c_out)
    return out


def label_paths(edges: Sequence[tuple[int, int, int]], source: int, sinks: set[int]) -> set[tuple[int, ...]]:
    """Op-label sequences of every path from ``source`` to a node of ``sinks``.

    ``edges`` are ``(from, to, label)`` of a DAG (leave out ``none`` edges); a path may pass
    through a sink and go on (all its prefixes ending in a sink count).
    """
    succ: dict[int, list[tuple[int, int]]] = {}
    for src, dst, label in edges:
        succ.setdefault(src, []).append((dst, label))
    found: set[tuple[int, ...]] = set()
    stack: list[tuple[int, tuple[int, ...]]] = [(source, ())]
    while stack:
        node, labels = stack.pop()
        if labels and node in sinks:
            found.add(labels)
        stack.extend((dst, labels + (label,)) for dst, label in succ.get(node, ()))
    return found


def path_vector(paths: set[tuple[int, ...]], n_labels: int, max_len: int) -> np.ndarray:
    """One bit per label sequence of length 1..``max_len`` (shorter sequences first)."""
    out = np.zeros(sum(n_labels ** k for k in range(1, max_len + 1)))
    for path in paths:
        offset = sum(n_labels ** k for k in range(1, len(path)))
        out[offset + int(np.ravel_multi_index(path, (n_labels,) * len(path)))] = 1.0
    return out
