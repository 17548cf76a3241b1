"""NAS-Bench-201 (Dong & Yang, ICLR 2020): a 4-node cell, 6 edges x 5 ops = 15,625 architectures.

A configuration sets each edge ``edge_{to}_{from}`` to one of :data:`OPS` (the parameter names of
``bench.problems.NB201``). Node 0 is the cell input, node ``j = sum_{i<j} op_ji(node_i)`` and
node 3 is the cell output. The network is the benchmark's skeleton::

    stem (conv3x3, C channels + BN) -> N cells (C) -> reduction block -> N cells (2C)
    -> reduction block -> N cells (4C) -> BN-ReLU -> global average pool -> linear

A reduction block is a ResNet basic block with stride 2 (two ReLU-Conv3x3-BN) whose shortcut is
avgpool 2x2 + conv1x1. ``nor_conv_kxk`` is ReLU-Conv-BN, ``avg_pool_3x3`` a stride-1 pool,
``skip_connect`` the identity and ``none`` zeros. The benchmark's network is ``C=16, N=5`` (the
default); its ``params_mb`` column counts the 120-class ImageNet16-120 classifier, so
``params(cfg, num_classes=120) == round(params_mb * 1e6)`` (for 98.7% of the table's rows; the
others are averages over runs in the table's source).

Example::

    >>> import torch
    >>> from nas_plugins.spaces.nb201 import build, canonical, from_arch_string
    >>> cfg = from_arch_string("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|nor_conv_1x1~2|")
    >>> build(cfg, C=8, N=1)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    >>> canonical(cfg)                       # the equivalent cell with the most 'none' edges
    '|none~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|nor_conv_1x1~2|'

The benchmark's results come from its table (``nb201.csv.gz``, not in the repository: see
:func:`lookup`)::

    lookup(cfg)["test_acc"]                  # 90.676667 (percent, CIFAR-10)
"""
from __future__ import annotations

import functools
import itertools
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..lcbench import benchmarks_dir
from ..space import Space
from ._common import (HW, Tally, Zero, arch_config, as_hw, conv, conv_out, label_paths, one_hot,
                      path_vector, relu_conv_bn, tally_relu_conv_bn)

__all__ = ["OPS", "EDGES", "EDGE_KEYS", "DATASETS", "SEARCH_SPACE", "space", "build", "params", "flops",
           "encode_adjacency", "encode_path", "to_arch_string", "from_arch_string", "canonical",
           "cell_ops", "NB201Table", "table", "lookup"]

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: ``(to, from)`` of the six edges, in the order of the NB201 string.
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
EDGE_KEYS: tuple[str, ...] = tuple(f"edge_{to}_{frm}" for to, frm in EDGES)
DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16")
_CONV_KERNEL = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}
_PATH_OPS = OPS[1:]                       # a path through a 'none' edge does not exist

SEARCH_SPACE: dict[str, dict[str, Any]] = {key: {"_type": "choice", "_value": list(OPS)} for key in EDGE_KEYS}


@functools.cache
def space() -> Space:
    """:data:`SEARCH_SPACE` as a :class:`~nas_plugins.space.Space`."""
    return Space.from_nni(SEARCH_SPACE)


def _ops(config: Mapping[str, Any] | str) -> tuple[str, ...]:
    """The six ops, in :data:`EDGES` order, of a configuration or an NB201 string."""
    return cell_ops(config, space(), from_arch_string)


def cell_ops(config: Mapping[str, Any] | str, cell_space: Space, parse: Any) -> tuple[str, ...]:
    """The six ops, in :data:`EDGES` order, of a configuration of ``cell_space`` or a string ``parse`` reads
    (shared with the spaces built on this cell, e.g. ``mini201``)."""
    arch = arch_config(parse(config) if isinstance(config, str) else config, cell_space)
    return tuple(arch[key] for key in EDGE_KEYS)


# ----------------------------------------------------------------------------- strings

def to_arch_string(config: Mapping[str, Any] | str) -> str:
    """``{"edge_1_0": op, ...}`` -> ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (a string is checked
    and returned as is)."""
    return _format(_ops(config))


def _format(ops: Sequence[str]) -> str:
    edge = dict(zip(EDGES, ops))
    return "+".join("|" + "|".join(f"{edge[to, frm]}~{frm}" for frm in range(to)) + "|" for to in (1, 2, 3))


def from_arch_string(arch: str) -> dict[str, str]:
    """Inverse of :func:`to_arch_string`; raises ``ValueError`` on a malformed string.

    >>> from nas_plugins.spaces.nb201 import from_arch_string
    >>> from_arch_string("|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|")["edge_1_0"]
    'skip_connect'
    """
    nodes = arch.split("+") if isinstance(arch, str) else []
    if len(nodes) != 3:
        raise ValueError(f"not an NB201 architecture string (3 nodes joined by '+'): {arch!r}")
    config = {}
    for to, node in enumerate(nodes, start=1):
        items = node[1:-1].split("|") if len(node) > 2 and node[0] == node[-1] == "|" else []
        if len(items) != to:
            raise ValueError(f"NB201 string {arch!r}: node {to} needs {to} inputs '|op~i|...|', got {node!r}")
        for frm, item in enumerate(items):
            op, _, source = item.partition("~")
            if source != str(frm) or op not in OPS:
                raise ValueError(f"NB201 string {arch!r}: expected 'op~{frm}' with op in {', '.join(OPS)}, "
                                 f"got {item!r}")
            config[f"edge_{to}_{frm}"] = op
    return {key: config[key] for key in EDGE_KEYS}


# ----------------------------------------------------------------------------- isomorphism

def _expression(ops: Sequence[str]) -> str:
    """What the cell output computes, as a normalised expression of the input ``x``.

    A node is a sum (a sorted multiset) of terms; ``skip_connect`` passes its input's terms on,
    ``none`` contributes nothing, any other op makes one term ``op(input)``; an op applied to a
    node that is zero (no terms) contributes nothing.
    """
    edge = dict(zip(EDGES, ops))
    nodes: list[list[str]] = [["x"]]
    for to in (1, 2, 3):
        terms: list[str] = []
        for frm in range(to):
            op, source = edge[to, frm], nodes[frm]
            if op == "skip_connect":
                terms.extend(source)
            elif op != "none" and source:
                terms.append(f"{op}({'+'.join(source)})")
        nodes.append(sorted(terms))
    return "+".join(nodes[3]) or "0"


@functools.cache
def _representatives() -> dict[str, str]:
    """Expression -> the canonical NB201 string of its class (over all 15,625 cells)."""
    best: dict[str, tuple[int, str]] = {}
    for ops in itertools.product(OPS, repeat=len(EDGES)):
        key = (sum(op != "none" for op in ops), _format(ops))
        expr = _expression(ops)
        if expr not in best or key < best[expr]:
            best[expr] = key
    return {expr: key[1] for expr, key in best.items()}


def canonical(config: Mapping[str, Any] | str) -> str:
    """The canonical NB201 string of the class of cells computing the same function.

    Two cells are equivalent when their outputs are the same expression of the input, with sums
    unordered, ``skip_connect`` the identity, ``none`` zero, and an op applied to zero giving zero
    (as in NB201's own isomorphism rule, which ignores the BN bias a conv adds to a zero input).
    So edges whose output never reaches node 3, or whose input is always zero, are irrelevant,
    the two intermediate nodes may swap when no edge joins them, and ``skip`` followed by an op
    equals that op on a direct edge. The representative is the cell of the class with the most
    ``none`` edges, then the smallest string. The 15,625 cells form 4,930 classes (NB201's own
    ``to_unique_str`` finds 6,466: it keeps zero terms in sums, so a node adding only zeros is
    not recognised as zero).

    >>> from nas_plugins.spaces.nb201 import canonical
    >>> canonical("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|") == \\
    ...     canonical("|none~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|nor_conv_3x3~2|")
    True
    """
    return _representatives()[_expression(_ops(config))]


# ----------------------------------------------------------------------------- model

def _make_op(name: str, channels: int) -> nn.Module:
    if name in _CONV_KERNEL:
        k = _CONV_KERNEL[name]
        return relu_conv_bn(channels, channels, k, padding=k // 2)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    if name == "skip_connect":
        return nn.Identity()
    return Zero()


class Cell(nn.Module):
    """``node_j = sum_{i<j} op_ji(node_i)``; returns node 3 (shape-preserving)."""

    def __init__(self, ops: Sequence[str], channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(_make_op(op, channels) for op in ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        edges = iter(self.edges)
        for to in (1, 2, 3):
            nodes.append(sum(next(edges)(nodes[frm]) for frm in range(to)))
        return nodes[3]


class ReductionBlock(nn.Module):
    """ResNet basic block with stride 2; shortcut avgpool 2x2 + conv1x1."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = relu_conv_bn(c_in, c_out, 3, stride=2, padding=1)
        self.conv_b = relu_conv_bn(c_out, c_out, 3, padding=1)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, stride=2), conv(c_in, c_out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.shortcut(x)


def build_skeleton(net: nn.Module, make_cell: Callable[[int], nn.Module], num_classes: int, C: int, N: int,
                   in_channels: int) -> None:
    """Give ``net`` the NB201 skeleton as its ``stem``, ``cells``, ``head`` and ``classifier``, each cell
    ``make_cell(channels)`` (shared by :class:`Network` and the NNI ModelSpace of mini201's cells)."""
    net.stem = nn.Sequential(conv(in_channels, C, 3, padding=1), nn.BatchNorm2d(C))
    layers: list[nn.Module] = []
    for stage in range(3):
        c = C * 2 ** stage
        if stage:
            layers.append(ReductionBlock(c // 2, c))
        layers.extend(make_cell(c) for _ in range(N))
    net.cells = nn.Sequential(*layers)
    net.head = nn.Sequential(nn.BatchNorm2d(4 * C), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    net.classifier = nn.Linear(4 * C, num_classes)


class Network(nn.Module):
    """The NB201 skeleton around one cell (see the module docstring)."""

    def __init__(self, ops: Sequence[str], num_classes: int, C: int, N: int, in_channels: int) -> None:
        super().__init__()
        build_skeleton(self, lambda c: Cell(ops, c), num_classes, C, N, in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.cells(self.stem(x))))


def build(config: Mapping[str, Any], num_classes: int = 10, *, C: int = 16, N: int = 5,
          in_channels: int = 3) -> nn.Module:
    """The NB201 network of ``config`` (keys other than the six edges are ignored).

    ``C``: channels of the first stage (16 in the benchmark); ``N``: cells per stage (5).
    Input ``B x in_channels x H x W`` with H, W multiples of 4; output ``B x num_classes``.
    """
    return Network(_ops(config), num_classes, C, N, in_channels)


def _tally(config: Mapping[str, Any], hw: HW, num_classes: int, C: int, N: int, in_channels: int) -> Tally:
    ops = _ops(config)
    t = Tally()
    hw = t.conv(in_channels, C, 3, hw, padding=1)
    t.bn(C)
    for stage in range(3):
        c = C * 2 ** stage
        if stage:
            if hw[0] % 2 or hw[1] % 2:
                raise ValueError(f"NB201 reduction blocks need even feature maps, got {hw[0]}x{hw[1]}")
            out = tally_relu_conv_bn(t, c // 2, c, 3, hw, stride=2, padding=1)
            tally_relu_conv_bn(t, c, c, 3, out, padding=1)
            t.conv(c // 2, c, 1, conv_out(hw, 2, 2))
            hw = out
        for _ in range(N):
            for op in ops:
                if op in _CONV_KERNEL:
                    k = _CONV_KERNEL[op]
                    tally_relu_conv_bn(t, c, c, k, hw, padding=k // 2)
    t.bn(4 * C)
    t.linear(4 * C, num_classes)
    return t


def params(config: Mapping[str, Any], num_classes: int = 10, *, C: int = 16, N: int = 5,
           in_channels: int = 3) -> int:
    """Parameters of ``build(config, num_classes, C=C, N=N)``, computed without building it.

    >>> from nas_plugins.spaces.nb201 import from_arch_string, params
    >>> params(from_arch_string("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"), num_classes=120)
    80456
    """
    return _tally(config, (32, 32), num_classes, C, N, in_channels).params


def flops(config: Mapping[str, Any], input_size: int | Sequence[int] = 32, num_classes: int = 10, *,
          C: int = 16, N: int = 5, in_channels: int = 3) -> int:
    """Multiply-adds of the conv and linear layers for one ``input_size`` image (32: CIFAR, 16:
    ImageNet16); BN, activations, pooling and additions are not counted."""
    return _tally(config, as_hw(input_size), num_classes, C, N, in_channels).macs


# ----------------------------------------------------------------------------- encodings

def encode_adjacency(config: Mapping[str, Any]) -> np.ndarray:
    """One-hot op of each edge (6 x 5) then the 4-node adjacency (6 upper-triangle bits: the edge
    is not ``none``): 36 floats."""
    ops = _ops(config)
    onehots = [one_hot(OPS.index(op), len(OPS)) for op in ops]
    return np.concatenate(onehots + [np.array([float(op != "none") for op in ops])])


def encode_path(config: Mapping[str, Any]) -> np.ndarray:
    """BANANAS path encoding: one bit per op sequence of an input-to-output path (4 ops other
    than ``none``; paths of 1, 2 and 3 edges): 4 + 16 + 64 = 84 floats. Cells that differ only by
    swapping the intermediate nodes get the same vector."""
    edges = [(frm, to, _PATH_OPS.index(op)) for (to, frm), op in zip(EDGES, _ops(config)) if op != "none"]
    return path_vector(label_paths(edges, 0, {3}), len(_PATH_OPS), 3)


# ----------------------------------------------------------------------------- the table

class NB201Table:
    """The benchmark table ``nb201.csv.gz`` (read on first use, then kept)."""

    FIELDS: tuple[str, ...] = ("val_acc", "test_acc", "test_acc_12ep", "latency_s", "train_time_s")

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @functools.cached_property
    def frame(self):  # -> pandas.DataFrame
        if not self.path.exists():
            raise FileNotFoundError(f"NAS-Bench-201 table not found at {self.path}; set NASP_BENCHMARKS to the "
                                    "folder holding nb201.csv.gz")
        import pandas as pd
        return pd.read_csv(self.path)

    @functools.cached_property
    def rows(self) -> dict[str, int]:
        """NB201 string -> row index."""
        return {arch: i for i, arch in enumerate(self.frame["arch"])}

    def row(self, arch: str, dataset: str = "cifar10") -> dict[str, Any]:
        """The fields of :func:`lookup` for the NB201 string ``arch``."""
        if dataset not in DATASETS:
            raise ValueError(f"unknown NB201 dataset {dataset!r}; datasets: {', '.join(DATASETS)}")
        if arch not in self.rows:
            raise KeyError(f"architecture {arch} is not in {self.path}")
        record = self.frame.iloc[self.rows[arch]]
        out: dict[str, Any] = {"arch": arch}
        out.update({field: float(record[f"{dataset}_{field}"]) for field in self.FIELDS})
        out["params_mb"] = float(record["params_mb"])
        return out


def table(path: str | Path | None = None) -> NB201Table:
    """The table at ``path`` (default ``$NASP_BENCHMARKS/nb201.csv.gz``), one object per path."""
    return _table_at(Path(path) if path else benchmarks_dir() / "nb201.csv.gz")


@functools.lru_cache(maxsize=4)
def _table_at(path: Path) -> NB201Table:
    return NB201Table(path)


def lookup(config: Mapping[str, Any] | str, dataset: str = "cifar10", path: str | Path | None = None) -> dict[str, Any]:
    """The table row of ``config`` on ``dataset`` (cifar10 = the cifar10-valid split, cifar100,
    imagenet16): ``arch``, ``val_acc``, ``test_acc``, ``test_acc_12ep`` (percent), ``latency_s``,
    ``train_time_s``, ``params_mb``.

    Example (needs the table ``nb201.csv.gz``, which is not in the repository)::

        row = lookup("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
        row["test_acc"], row["params_mb"]    # (94.363333, 1.295656)
    """
    return table(path).row(to_arch_string(config), dataset)
