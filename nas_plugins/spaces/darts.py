"""The DARTS / NASNet cell space (Liu et al., ICLR 2019): a normal and a reduction cell.

A cell has two input states (0: the output of the cell before the previous one, ``c_{k-2}``;
1: the previous cell's, ``c_{k-1}``) and four intermediate nodes, states 2..5. Node ``k`` adds
two edges, each an op of :data:`OPS` applied to one earlier state; the cell outputs the
concatenation of states 2..5. Parameters, for ``cell`` in ``normal``/``reduce``, ``k`` in 2..5,
``j`` in 0/1::

    {cell}_n{k}_in{j}: choice of 0..k-1   (the state the edge reads)
    {cell}_n{k}_op{j}: choice of OPS

Invalid configurations cannot be expressed: node ``k``'s input choices are exactly its
predecessors (``k`` options), so every configuration is a DAG. Both edges of a node may read
the same state (as in AmoebaNet); a node whose two edges are ``none`` outputs zeros.

The network: ``stem (conv3x3, stem_multiplier * C + BN) -> layers cells -> global average pool ->
linear``; the cells at ``layers // 3`` and ``2 * layers // 3`` are reduction cells (stride 2 on the
edges from the input states, channels doubled). Each cell first maps its inputs to ``C`` channels
(ReLU-conv1x1-BN, or a factorized reduction when the previous cell reduced). No auxiliary head or
drop-path. DARTS's CIFAR network is ``C=36, layers=20``; the defaults are small.

Example::

    >>> import numpy as np
    >>> import torch
    >>> from nas_plugins.spaces.darts import build, from_genotype, genotype, space
    >>> cfg = space().sample(np.random.default_rng(0))
    >>> genotype(cfg).normal[:2]                     # (op, input state) of node 2's two edges
    [('sep_conv_5x5', 1), ('avg_pool_3x3', 1)]
    >>> from_genotype(genotype(cfg)) == cfg
    True
    >>> build(cfg, C=4, layers=3)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
"""
from __future__ import annotations

import functools
from collections import namedtuple
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..space import Space
from ._common import (HW, Tally, Zero, arch_config, as_hw, conv, label_paths, path_vector, relu_conv_bn,
                      tally_relu_conv_bn)

__all__ = ["OPS", "CELLS", "NODES", "SEARCH_SPACE", "Genotype", "space", "genotype", "from_genotype", "build",
           "params", "flops", "encode_adjacency", "encode_path"]

OPS: tuple[str, ...] = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                        "dil_conv_3x3", "dil_conv_5x5")
CELLS: tuple[str, ...] = ("normal", "reduce")
#: Intermediate states; node ``k`` reads states ``0..k-1``.
NODES: tuple[int, ...] = (2, 3, 4, 5)
_CONCAT = list(NODES)
_PATH_OPS = OPS[1:]
_PATH_LEN = len(NODES)            # the longest path: input -> 2 -> 3 -> 4 -> 5

Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")
Genotype.__doc__ = """A DARTS genotype: ``normal``/``reduce`` list ``(op, input state)`` pairs, two per node;
``*_concat`` the states the cell concatenates (always ``[2, 3, 4, 5]`` here)."""


def _key(cell: str, node: int, kind: str, j: int) -> str:
    return f"{cell}_n{node}_{kind}{j}"


SEARCH_SPACE: dict[str, dict[str, Any]] = {
    _key(cell, node, kind, j): {"_type": "choice", "_value": list(range(node)) if kind == "in" else list(OPS)}
    for cell in CELLS for node in NODES for j in (0, 1) for kind in ("in", "op")
}


@functools.cache
def space() -> Space:
    """:data:`SEARCH_SPACE` as a :class:`~nas_plugins.space.Space`."""
    return Space.from_nni(SEARCH_SPACE)


Edges = list[tuple[str, int]]


def _cells(config: Mapping[str, Any]) -> dict[str, Edges]:
    """``{"normal": [(op, input), ...8], "reduce": [...]}`` of a checked configuration."""
    arch = arch_config(config, space())
    return {cell: [(arch[_key(cell, node, "op", j)], int(arch[_key(cell, node, "in", j)]))
                   for node in NODES for j in (0, 1)] for cell in CELLS}


def genotype(config: Mapping[str, Any]) -> Genotype:
    """The DARTS genotype of ``config``.

    >>> import numpy as np
    >>> from nas_plugins.spaces.darts import genotype, space
    >>> g = genotype(space().sample(np.random.default_rng(0)))
    >>> len(g.normal), g.normal_concat
    (8, [2, 3, 4, 5])
    """
    cells = _cells(config)
    return Genotype(cells["normal"], list(_CONCAT), cells["reduce"], list(_CONCAT))


def from_genotype(g: Genotype) -> dict[str, Any]:
    """The configuration of a genotype (inverse of :func:`genotype`); ``ValueError`` if ``g`` is
    not in the space (8 ``(op, input)`` pairs per cell, concatenation of states 2..5)."""
    config: dict[str, Any] = {}
    for cell, edges, concat in ((c, getattr(g, c), getattr(g, f"{c}_concat")) for c in CELLS):
        if list(concat) != _CONCAT:
            raise ValueError(f"genotype {cell}_concat must be {_CONCAT} (every intermediate node), got {concat!r}")
        if len(edges) != 2 * len(NODES):
            raise ValueError(f"genotype {cell} needs {2 * len(NODES)} (op, input) pairs, got {len(edges)}")
        for i, (op, source) in enumerate(edges):
            node, j = NODES[i // 2], i % 2
            config[_key(cell, node, "in", j)] = source
            config[_key(cell, node, "op", j)] = op
    space().check(config)
    return {name: config[name] for name in space().names}


# ----------------------------------------------------------------------------- ops

class FactorizedReduce(nn.Module):
    """Halve the resolution without losing pixels: two stride-2 1x1 convs on offset grids, concatenated."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.conv_a = conv(c_in, c_out // 2, 1, stride=2)
        self.conv_b = conv(c_in, c_out - c_out // 2, 1, stride=2)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(shifted)], dim=1))


def _tally_factorized_reduce(t: Tally, c_in: int, c_out: int, hw: HW) -> HW:
    t.conv(c_in, c_out // 2, 1, hw, stride=2)
    out = t.conv(c_in, c_out - c_out // 2, 1, hw, stride=2)
    t.bn(c_out)
    return out


def _conv_kind(op: str) -> tuple[int, int, int] | None:
    """``(kernel, dilation, repeats)`` of a separable/dilated conv op, else None."""
    if op.startswith(("sep_conv", "dil_conv")):
        kernel = int(op[-1])
        return (kernel, 2, 1) if op.startswith("dil") else (kernel, 1, 2)
    return None


def _separable(c: int, kernel: int, stride: int, dilation: int) -> list[nn.Module]:
    """ReLU, depthwise kxk, pointwise 1x1, BN."""
    padding = dilation * (kernel - 1) // 2
    return [nn.ReLU(), conv(c, c, kernel, stride, padding, dilation, groups=c), conv(c, c, 1), nn.BatchNorm2d(c)]


def _tally_separable(t: Tally, c: int, kernel: int, hw: HW, stride: int, dilation: int) -> HW:
    hw = t.conv(c, c, kernel, hw, stride, dilation * (kernel - 1) // 2, dilation, groups=c)
    hw = t.conv(c, c, 1, hw)
    t.bn(c)
    return hw


def _make_op(op: str, c: int, stride: int) -> nn.Module:
    kind = _conv_kind(op)
    if kind is not None:
        kernel, dilation, repeats = kind
        layers = _separable(c, kernel, stride, dilation)
        if repeats == 2:          # sep_conv: the separable block twice, the second with stride 1
            layers += _separable(c, kernel, 1, dilation)
        return nn.Sequential(*layers)
    if op == "max_pool_3x3":
        return nn.MaxPool2d(3, stride, padding=1)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride, padding=1, count_include_pad=False)
    if op == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c)
    return Zero(stride)


def _tally_op(t: Tally, op: str, c: int, hw: HW, stride: int) -> HW:
    kind = _conv_kind(op)
    if kind is not None:
        kernel, dilation, repeats = kind
        out = _tally_separable(t, c, kernel, hw, stride, dilation)
        if repeats == 2:
            _tally_separable(t, c, kernel, out, 1, dilation)
        return out
    if op == "skip_connect" and stride == 2:
        return _tally_factorized_reduce(t, c, c, hw)
    return ((hw[0] - 1) // stride + 1, (hw[1] - 1) // stride + 1)


# ----------------------------------------------------------------------------- network

class Cell(nn.Module):
    """One DARTS cell: preprocess both inputs to ``c`` channels, 4 nodes, concatenate them."""

    def __init__(self, edges: Edges, c_prev_prev: int, c_prev: int, c: int, reduction: bool,
                 reduction_prev: bool) -> None:
        super().__init__()
        self.pre0 = FactorizedReduce(c_prev_prev, c) if reduction_prev else relu_conv_bn(c_prev_prev, c, 1)
        self.pre1 = relu_conv_bn(c_prev, c, 1)
        self.sources = [source for _, source in edges]
        self.ops = nn.ModuleList(_make_op(op, c, 2 if reduction and source < 2 else 1) for op, source in edges)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for i in range(0, len(self.ops), 2):
            states.append(sum(self.ops[e](states[self.sources[e]]) for e in (i, i + 1)))
        return torch.cat(states[2:], dim=1)


def _reductions(layers: int) -> set[int]:
    return {layers // 3, 2 * layers // 3}


class Network(nn.Module):
    """Stem, ``layers`` cells (reductions at 1/3 and 2/3), global average pool, linear."""

    def __init__(self, cells: dict[str, Edges], num_classes: int, C: int, layers: int, stem_multiplier: int,
                 in_channels: int) -> None:
        super().__init__()
        c_stem = stem_multiplier * C
        self.stem = nn.Sequential(conv(in_channels, c_stem, 3, padding=1), nn.BatchNorm2d(c_stem))
        c_pp, c_p, c, reduction_prev = c_stem, c_stem, C, False
        self.cells = nn.ModuleList()
        for i in range(layers):
            reduction = i in _reductions(layers)
            c = 2 * c if reduction else c
            self.cells.append(Cell(cells["reduce" if reduction else "normal"], c_pp, c_p, c, reduction, reduction_prev))
            c_pp, c_p, reduction_prev = c_p, len(NODES) * c, reduction
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(s1.mean(dim=(2, 3)))


def build(config: Mapping[str, Any], num_classes: int = 10, *, C: int = 8, layers: int = 5,
          stem_multiplier: int = 3, in_channels: int = 3) -> nn.Module:
    """The DARTS network of ``config`` (other keys are ignored): ``C`` channels per node in the
    first cells, ``layers`` cells. Input ``B x in_channels x H x W``, output ``B x num_classes``."""
    return Network(_cells(config), num_classes, C, layers, stem_multiplier, in_channels)


def _tally(config: Mapping[str, Any], hw: HW, num_classes: int, C: int, layers: int, stem_multiplier: int,
           in_channels: int) -> Tally:
    cells = _cells(config)
    t = Tally()
    c_stem = stem_multiplier * C
    hw = t.conv(in_channels, c_stem, 3, hw, padding=1)
    t.bn(c_stem)
    hw_pp, c_pp, c_p, c, reduction_prev = hw, c_stem, c_stem, C, False
    for i in range(layers):
        reduction = i in _reductions(layers)
        c = 2 * c if reduction else c
        if reduction_prev:
            _tally_factorized_reduce(t, c_pp, c, hw_pp)
        else:
            tally_relu_conv_bn(t, c_pp, c, 1, hw_pp)
        tally_relu_conv_bn(t, c_p, c, 1, hw)
        sizes = [hw, hw]
        for e, (op, source) in enumerate(cells["reduce" if reduction else "normal"]):
            out = _tally_op(t, op, c, sizes[source], 2 if reduction and source < 2 else 1)
            if e % 2:
                sizes.append(out)
        hw_pp, hw = hw, sizes[-1]
        c_pp, c_p, reduction_prev = c_p, len(NODES) * c, reduction
    t.linear(c_p, num_classes)
    return t


def params(config: Mapping[str, Any], num_classes: int = 10, *, C: int = 8, layers: int = 5,
           stem_multiplier: int = 3, in_channels: int = 3) -> int:
    """Parameters of ``build(config, num_classes, ...)``, computed without building it."""
    return _tally(config, (32, 32), num_classes, C, layers, stem_multiplier, in_channels).params


def flops(config: Mapping[str, Any], input_size: int | Sequence[int] = 32, num_classes: int = 10, *, C: int = 8,
          layers: int = 5, stem_multiplier: int = 3, in_channels: int = 3) -> int:
    """Multiply-adds of the conv and linear layers for one ``input_size`` image (BN, activations,
    pooling, additions and concatenation are not counted)."""
    return _tally(config, as_hw(input_size), num_classes, C, layers, stem_multiplier, in_channels).macs


# ----------------------------------------------------------------------------- encodings

_SLOTS = [(source, node) for node in NODES for source in range(node)]    # 14 possible (from, to) pairs


def encode_adjacency(config: Mapping[str, Any]) -> np.ndarray:
    """Per cell (normal, then reduce), for each of the 14 possible ``(from, to)`` pairs: how many
    edges of each op it carries (8 counts), then its adjacency (edges other than ``none``):
    2 x 14 x 9 = 252 floats. Swapping a node's two edges leaves it unchanged (same network)."""
    parts = []
    for cell, edges in _cells(config).items():
        counts = np.zeros((len(_SLOTS), len(OPS) + 1))
        for e, (op, source) in enumerate(edges):
            slot = _SLOTS.index((source, NODES[e // 2]))
            counts[slot, OPS.index(op)] += 1
            counts[slot, -1] += op != "none"
        parts.append(counts.ravel())
    return np.concatenate(parts)


def encode_path(config: Mapping[str, Any]) -> np.ndarray:
    """BANANAS path encoding, per cell and per input state (``c_{k-2}``, ``c_{k-1}``): one bit per op
    sequence (7 ops other than ``none``, 1 to 4 edges) of a path from that input to an intermediate
    node (all feed the output): 2 x 2 x 2800 = 11,200 floats."""
    parts = []
    for edges in _cells(config).values():
        dag = [(source, NODES[e // 2], _PATH_OPS.index(op)) for e, (op, source) in enumerate(edges) if op != "none"]
        parts.extend(path_vector(label_paths(dag, source, set(NODES)), len(_PATH_OPS), _PATH_LEN) for source in (0, 1))
    return np.concatenate(parts)
