"""Weight-sharing supernets over the NB201 and DARTS cell spaces.

Every edge of a cell is a :class:`MixedOp` holding one candidate per op of the space, built by the
same op factory the space's stand-alone builder uses (``nb201._make_op``, ``darts._make_op``), so
a path of the supernet is exactly a network of the space. ``forward(x, arch)`` runs the single path
``arch`` (a configuration of the space, as its ``build`` takes it); ``forward(x)`` the continuous
relaxation: each edge outputs ``sum_o softmax(alpha_edge)_o * op_o(x)``.

Architecture parameters (``alpha*``) are kept apart from the weights: :meth:`Supernet.arch_parameters`
/ :meth:`Supernet.weight_parameters`. :meth:`Supernet.export` returns a configuration of the same
space (NB201: the argmax op of each edge; DARTS: per node the two incoming edges whose strongest
op other than ``none`` weighs most, each with that op); :meth:`Supernet.extract` builds the
stand-alone network of a configuration with the space's builder and copies the path's shared
weights into it.

Example::

    >>> import torch
    >>> from nas_plugins.oneshot import NB201Supernet
    >>> from nas_plugins.spaces import nb201
    >>> net = NB201Supernet(C=4, N=1, seed=0)
    >>> x = torch.randn(2, 3, 8, 8)
    >>> net(x).shape                                   # the continuous relaxation
    torch.Size([2, 10])
    >>> arch = net.export()                            # argmax op per edge
    >>> nb201.space().contains(arch)
    True
    >>> net.eval()(x, arch).shape                      # the single path of arch
    torch.Size([2, 10])
    >>> torch.allclose(net.extract(arch).eval()(x), net(x, arch), atol=1e-6)   # same weights, same output
    True
    >>> net(x, {**arch, "edge_1_0": "conv_5x5"})
    Traceback (most recent call last):
    ...
    nas_plugins.space.SearchSpaceError: configuration parameter 'edge_1_0': 'conv_5x5' is outside ...
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from types import ModuleType
from typing import Any, ClassVar, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..space import Space
from ..spaces import darts, mini201, nb201
from ..spaces._common import arch_config, conv, relu_conv_bn

__all__ = ["MixedOp", "Supernet", "NB201Supernet", "Mini201Supernet", "DartsSupernet", "SUPERNETS", "create_supernet"]


class MixedOp(nn.Module):
    """One edge of a supernet: a candidate module per op.

    ``forward(x, weights)`` is ``sum_o weights[o] * candidates[o](x)``; ``forward(x, index=i)`` is
    ``candidates[i](x)`` alone.

    >>> import torch
    >>> from torch import nn
    >>> from nas_plugins.oneshot import MixedOp
    >>> op = MixedOp([nn.Identity(), nn.ReLU()])
    >>> x = torch.tensor([-1.0, 2.0])
    >>> op(x, torch.tensor([0.5, 0.5])), op(x, index=1)
    (tensor([-0.5000,  2.0000]), tensor([0., 2.]))
    """

    def __init__(self, candidates: Sequence[nn.Module]) -> None:
        super().__init__()
        self.candidates = nn.ModuleList(candidates)

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None = None, index: int | None = None) -> torch.Tensor:
        if index is not None:
            return self.candidates[index](x)
        if weights is None:
            raise ValueError("MixedOp needs either the op weights or the index of one op")
        return sum(w * op(x) for w, op in zip(weights, self.candidates))


@contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    """Run the block under ``torch.manual_seed(seed)`` without touching the global RNG (no-op for None)."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


class Supernet(nn.Module):
    """Base class of the supernets: the search space, architecture parameters, path sampling.

    Subclasses set :attr:`space_module` and implement ``_relaxed``, ``_single_path``, ``export``
    and ``_builder_key``.
    """
    #: The space module (``nas_plugins.spaces.nb201`` / ``darts``).
    space_module: ClassVar[ModuleType]
    #: Names of the architecture parameters (attributes holding ``nn.Parameter``).
    arch_names: ClassVar[tuple[str, ...]]

    def __init__(self, sizes: dict[str, Any], num_classes: int) -> None:
        super().__init__()
        #: The keyword sizes of the space's ``build`` that give the same skeleton.
        self.sizes = dict(sizes)
        self.num_classes = num_classes

    # -- the space --------------------------------------------------------------------------
    @property
    def search_space(self) -> Space:
        """The :class:`~nas_plugins.space.Space` whose configurations are this supernet's paths."""
        return self.space_module.space()

    def check_arch(self, arch: Mapping[str, Any]) -> dict[str, Any]:
        """The architecture keys of ``arch``, checked (other keys are ignored); a missing edge or an
        unknown op raises :class:`~nas_plugins.space.SearchSpaceError` (a ValueError) naming it."""
        return arch_config(arch, self.search_space)

    def sample_arch(self, rng: np.random.Generator) -> dict[str, Any]:
        """A path drawn uniformly: each parameter (edge op, DARTS input) independently, each of its
        options equally likely, from ``rng``."""
        out = {}
        for name in self.search_space.names:
            options = self.space_module.SEARCH_SPACE[name]["_value"]
            out[name] = options[int(rng.integers(len(options)))]
        return out

    # -- parameters -------------------------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        """The architecture parameters (logits of the op weights), in a fixed order."""
        return [getattr(self, name) for name in self.arch_names]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every other parameter (the shared weights)."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def arch_weights(self) -> dict[str, torch.Tensor]:
        """``softmax(alpha)`` per architecture parameter, detached (rows: edges; columns: ops)."""
        return {name: torch.softmax(getattr(self, name).detach(), dim=-1) for name in self.arch_names}

    # -- forward ----------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, arch: Mapping[str, Any] | None = None) -> torch.Tensor:
        """Logits of ``x``: the single path ``arch`` when given, else the continuous relaxation."""
        if arch is None:
            return self._relaxed(x)
        return self._single_path(x, self.check_arch(arch))

    def _relaxed(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _single_path(self, x: torch.Tensor, arch: dict[str, Any]) -> torch.Tensor:
        raise NotImplementedError

    def export(self) -> dict[str, Any]:
        """The discrete configuration the architecture parameters select (a configuration of the space)."""
        raise NotImplementedError

    # -- stand-alone networks ---------------------------------------------------------------
    def build(self, arch: Mapping[str, Any] | None = None) -> nn.Module:
        """A freshly initialised stand-alone network of ``arch`` (default :meth:`export`), built by the
        space's builder with this supernet's sizes."""
        arch = self.export() if arch is None else arch
        return self.space_module.build(arch, self.num_classes, **self.sizes)

    def extract(self, arch: Mapping[str, Any] | None = None) -> nn.Module:
        """:meth:`build`, with the weights (and BN statistics) of the path ``arch`` copied from the supernet:
        its output equals ``self(x, arch)``. The result is on the supernet's device."""
        arch = self.check_arch(self.export() if arch is None else arch)
        device = next(self.parameters()).device
        model = self.space_module.build(arch, self.num_classes, **self.sizes).to(device)
        own = self.state_dict()
        state = {key: own[self._builder_key(key, arch)] for key in model.state_dict()}
        model.load_state_dict(state)
        return model

    def _builder_key(self, key: str, arch: dict[str, Any]) -> str:
        """The supernet's state-dict key holding the builder's ``key`` on the path ``arch``."""
        raise NotImplementedError


# ----------------------------------------------------------------------------- NB201

class _NB201MixedCell(nn.Module):
    """The NB201 cell with a :class:`MixedOp` (one candidate per op of ``ops``) on each of its 6 edges."""

    def __init__(self, channels: int, ops: Sequence[str]) -> None:
        super().__init__()
        self.edges = nn.ModuleList(MixedOp([nb201._make_op(op, channels) for op in ops])
                                   for _ in nb201.EDGES)

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None = None,
                path: Sequence[int] | None = None) -> torch.Tensor:
        nodes = [x]
        e = 0
        for to in (1, 2, 3):
            terms = []
            for frm in range(to):
                edge = self.edges[e]
                terms.append(edge(nodes[frm], index=path[e]) if path is not None else edge(nodes[frm], weights[e]))
                e += 1
            nodes.append(sum(terms))
        return nodes[3]


class NB201Supernet(Supernet):
    """The NAS-Bench-201 skeleton (see :mod:`nas_plugins.spaces.nb201`) with mixed cells; one
    architecture parameter ``alpha`` (6 edges x 5 ops) shared by all cells.

    ``C``/``N``/``in_channels``/``num_classes`` as in ``nb201.build`` (small defaults here);
    ``seed`` initialises the weights and ``alpha`` (``1e-3 * N(0, 1)``) reproducibly without
    touching the global RNG.
    """
    space_module = nb201
    #: The candidate ops of every edge (the space's op set).
    ops: ClassVar[tuple[str, ...]] = nb201.OPS
    #: Image channels when ``in_channels`` is not given.
    in_channels: ClassVar[int] = 3
    arch_names = ("alpha",)
    _EDGE_KEY = re.compile(r"^(cells\.\d+\.edges\.(\d+))\.(.*)$")

    def __init__(self, C: int = 8, N: int = 1, num_classes: int = 10, in_channels: int | None = None, *,
                 seed: int | None = None) -> None:
        in_channels = self.in_channels if in_channels is None else in_channels
        super().__init__({"C": C, "N": N, "in_channels": in_channels}, num_classes)
        with _seeded(seed):
            self.stem = nn.Sequential(conv(in_channels, C, 3, padding=1), nn.BatchNorm2d(C))
            layers: list[nn.Module] = []
            for stage in range(3):
                c = C * 2 ** stage
                if stage:
                    layers.append(nb201.ReductionBlock(c // 2, c))
                layers.extend(_NB201MixedCell(c, self.ops) for _ in range(N))
            self.cells = nn.Sequential(*layers)
            self.head = nn.Sequential(nn.BatchNorm2d(4 * C), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.classifier = nn.Linear(4 * C, num_classes)
            self.alpha = nn.Parameter(1e-3 * torch.randn(len(nb201.EDGES), len(self.ops)))

    def _run(self, x: torch.Tensor, weights: torch.Tensor | None, path: list[int] | None) -> torch.Tensor:
        x = self.stem(x)
        for layer in self.cells:
            x = layer(x, weights, path) if isinstance(layer, _NB201MixedCell) else layer(x)
        return self.classifier(self.head(x))

    def _relaxed(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, torch.softmax(self.alpha, dim=-1), None)

    def _single_path(self, x: torch.Tensor, arch: dict[str, Any]) -> torch.Tensor:
        return self._run(x, None, [self.ops.index(arch[key]) for key in nb201.EDGE_KEYS])

    def export(self) -> dict[str, str]:
        """The op of largest weight on each edge (``none`` included, as in NB201's DARTS baselines).

        >>> import torch
        >>> from nas_plugins.oneshot import NB201Supernet
        >>> net = NB201Supernet(C=2, seed=0)
        >>> with torch.no_grad():
        ...     _ = net.alpha.copy_(torch.eye(5)[[3] * 6])   # nor_conv_3x3 everywhere
        >>> set(net.export().values())
        {'nor_conv_3x3'}
        """
        best = self.alpha.detach().argmax(dim=-1).tolist()
        return {key: self.ops[i] for key, i in zip(nb201.EDGE_KEYS, best)}

    def _builder_key(self, key: str, arch: dict[str, Any]) -> str:
        m = self._EDGE_KEY.match(key)
        if m is None:
            return key
        op = arch[nb201.EDGE_KEYS[int(m.group(2))]]
        return f"{m.group(1)}.candidates.{self.ops.index(op)}.{m.group(3)}"


class Mini201Supernet(NB201Supernet):
    """:class:`NB201Supernet` over :mod:`nas_plugins.spaces.mini201` (ops ``none``, ``nor_conv_1x1``,
    ``nor_conv_3x3``; one-channel input by default): the space with a stand-alone ground truth.

    >>> import torch
    >>> from nas_plugins.oneshot import Mini201Supernet
    >>> net = Mini201Supernet(C=4, seed=0)
    >>> arch = net.export()
    >>> torch.allclose(net.extract(arch).eval()(torch.ones(1, 1, 8, 8)), net.eval()(torch.ones(1, 1, 8, 8), arch))
    True
    """
    space_module = mini201
    ops = mini201.OPS
    in_channels = mini201.SIZES["in_channels"]


# ----------------------------------------------------------------------------- DARTS

#: Supernet edge index of ``(source state, node)``: node 2 reads 0, 1; node 3 reads 0, 1, 2; ... (14 edges).
_DARTS_SLOTS: dict[tuple[int, int], int] = {(src, node): i for i, (src, node) in
                                            enumerate((s, n) for n in darts.NODES for s in range(n))}


class _DartsMixedCell(nn.Module):
    """A DARTS search cell: preprocessing as in ``darts.Cell``, then a :class:`MixedOp` on each of the
    14 possible edges (node ``k`` from every earlier state)."""

    def __init__(self, c_prev_prev: int, c_prev: int, c: int, reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.pre0 = darts.FactorizedReduce(c_prev_prev, c) if reduction_prev else relu_conv_bn(c_prev_prev, c, 1)
        self.pre1 = relu_conv_bn(c_prev, c, 1)
        self.edges = nn.ModuleList(
            MixedOp([darts._make_op(op, c, 2 if reduction and src < 2 else 1) for op in darts.OPS])
            for (src, node) in _DARTS_SLOTS)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor | None = None,
                path: Sequence[tuple[int, int]] | None = None) -> torch.Tensor:
        """``weights``: 14 x 8 op weights; or ``path``: ``(source, op index)`` of the 8 chosen edges."""
        states = [self.pre0(s0), self.pre1(s1)]
        for i, node in enumerate(darts.NODES):
            if path is None:
                out = sum(self.edges[_DARTS_SLOTS[src, node]](states[src], weights[_DARTS_SLOTS[src, node]])
                          for src in range(node))
            else:
                out = sum(self.edges[_DARTS_SLOTS[src, node]](states[src], index=op)
                          for src, op in path[2 * i:2 * i + 2])
            states.append(out)
        return torch.cat(states[2:], dim=1)


class DartsSupernet(Supernet):
    """The DARTS network skeleton (see :mod:`nas_plugins.spaces.darts`) with search cells: every
    node reads every earlier state through a :class:`MixedOp`; ``alpha_normal`` and ``alpha_reduce``
    (14 edges x 8 ops) are shared by the normal and by the reduction cells.

    A single path (a configuration of the darts space) uses, for each of a node's two edges, the
    candidate op on the supernet edge from the chosen input (two edges of a node reading the same
    state share its weights). Sizes as in ``darts.build`` (small defaults); ``seed`` as in
    :class:`NB201Supernet`.

    >>> import torch
    >>> from nas_plugins.oneshot import DartsSupernet
    >>> from nas_plugins.spaces import darts
    >>> net = DartsSupernet(C=2, layers=3, seed=0)
    >>> net(torch.randn(2, 3, 8, 8)).shape
    torch.Size([2, 10])
    >>> darts.space().contains(net.export()), net.build().__class__.__name__
    (True, 'Network')
    """
    space_module = darts
    arch_names = ("alpha_normal", "alpha_reduce")
    _OP_KEY = re.compile(r"^cells\.(\d+)\.ops\.(\d+)\.(.*)$")

    def __init__(self, C: int = 4, layers: int = 3, num_classes: int = 10, in_channels: int = 3, *,
                 stem_multiplier: int = 3, seed: int | None = None) -> None:
        super().__init__({"C": C, "layers": layers, "stem_multiplier": stem_multiplier,
                          "in_channels": in_channels}, num_classes)
        with _seeded(seed):
            c_stem = stem_multiplier * C
            self.stem = nn.Sequential(conv(in_channels, c_stem, 3, padding=1), nn.BatchNorm2d(c_stem))
            c_pp, c_p, c, reduction_prev = c_stem, c_stem, C, False
            self.cells = nn.ModuleList()
            for i in range(layers):
                reduction = i in darts._reductions(layers)
                c = 2 * c if reduction else c
                self.cells.append(_DartsMixedCell(c_pp, c_p, c, reduction, reduction_prev))
                c_pp, c_p, reduction_prev = c_p, len(darts.NODES) * c, reduction
            self.classifier = nn.Linear(c_p, num_classes)
            self.alpha_normal = nn.Parameter(1e-3 * torch.randn(len(_DARTS_SLOTS), len(darts.OPS)))
            self.alpha_reduce = nn.Parameter(1e-3 * torch.randn(len(_DARTS_SLOTS), len(darts.OPS)))

    def _run(self, x: torch.Tensor, weights: dict[str, Any] | None, paths: dict[str, Any] | None) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            kind = "reduce" if cell.reduction else "normal"
            if paths is None:
                s0, s1 = s1, cell(s0, s1, weights[kind])
            else:
                s0, s1 = s1, cell(s0, s1, path=paths[kind])
        return self.classifier(s1.mean(dim=(2, 3)))

    def _relaxed(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, {"normal": torch.softmax(self.alpha_normal, dim=-1),
                             "reduce": torch.softmax(self.alpha_reduce, dim=-1)}, None)

    @staticmethod
    def _paths(arch: dict[str, Any]) -> dict[str, list[tuple[int, int]]]:
        g = darts.genotype(arch)
        return {cell: [(src, darts.OPS.index(op)) for op, src in getattr(g, cell)] for cell in darts.CELLS}

    def _single_path(self, x: torch.Tensor, arch: dict[str, Any]) -> torch.Tensor:
        return self._run(x, None, self._paths(arch))

    def export(self) -> dict[str, Any]:
        """Per cell type and node: the two incoming edges whose strongest op other than ``none`` has the
        largest softmax weight (ties: the earlier state), in that order, each with that op."""
        config: dict[str, Any] = {}
        none = darts.OPS.index("none")
        for cell, w in (("normal", self.alpha_normal), ("reduce", self.alpha_reduce)):
            w = torch.softmax(w.detach().double(), dim=-1).cpu().numpy()
            w[:, none] = -np.inf
            for node in darts.NODES:
                rows = {src: w[_DARTS_SLOTS[src, node]] for src in range(node)}
                top = sorted(range(node), key=lambda s: (-rows[s].max(), s))[:2]
                for j, src in enumerate(top):
                    config[darts._key(cell, node, "in", j)] = int(src)
                    config[darts._key(cell, node, "op", j)] = darts.OPS[int(rows[src].argmax())]
        return {name: config[name] for name in darts.space().names}

    def _builder_key(self, key: str, arch: dict[str, Any]) -> str:
        m = self._OP_KEY.match(key)
        if m is None:
            return key
        i, e, rest = int(m.group(1)), int(m.group(2)), m.group(3)
        kind = "reduce" if self.cells[i].reduction else "normal"
        src, op = self._paths(arch)[kind][e]
        node = darts.NODES[e // 2]
        return f"cells.{i}.edges.{_DARTS_SLOTS[src, node]}.candidates.{op}.{rest}"


#: Supernet classes by space name.
SUPERNETS: dict[str, type[Supernet]] = {"nb201": NB201Supernet, "mini201": Mini201Supernet, "darts": DartsSupernet}


def create_supernet(space: str, **sizes: Any) -> Supernet:
    """The supernet of the space called ``space`` (``nb201``, ``mini201`` or ``darts``) with keyword ``sizes``.

    >>> from nas_plugins.oneshot import create_supernet
    >>> type(create_supernet("nb201", C=2, seed=0)).__name__
    'NB201Supernet'
    >>> create_supernet("mobilenet")
    Traceback (most recent call last):
    ...
    ValueError: no supernet for space 'mobilenet'; supernets: nb201, mini201, darts
    """
    if space not in SUPERNETS:
        raise ValueError(f"no supernet for space {space!r}; supernets: {', '.join(SUPERNETS)}")
    return SUPERNETS[space](**sizes)
