"""A MobileNetV2 / MnasNet-style factorized space: 7 stages of inverted-residual blocks.

Each stage ``i`` (1..7) chooses, for all of its blocks::

    stage{i}_kernel: 3, 5 or 7               (depthwise kernel)
    stage{i}_block:  {"_name": "mbconv", "expand": 3 | 6}  (1x1 expand, depthwise, 1x1 project)
                   | {"_name": "dsconv"}      (depthwise-separable: no expansion layer)
    stage{i}_depth:  1..4                     (number of blocks)
    stage{i}_width:  0.75, 1.0 or 1.25        (x the stage's base channels)

``stage{i}_block`` is a nested choice: the expansion ratio exists only for ``mbconv`` blocks.
A block is ``[conv1x1 -> BN -> ReLU6] -> depthwise kxk -> BN -> ReLU6 -> conv1x1 -> BN`` with an
identity residual when its input and output shapes match; the first block of a stage has the
stage's stride. Stage base channels and strides follow MobileNetV2 (:data:`STAGES`); a stage's
channels are ``base * width * width_mult`` rounded to a multiple of 4. The network is
``stem (conv3x3 + BN + ReLU6) -> 7 stages -> conv1x1 head + BN + ReLU6 -> global pool -> linear``.

Example::

    >>> import numpy as np
    >>> import torch
    >>> from nas_plugins.spaces.mobilenet import build, space
    >>> cfg = space().sample(np.random.default_rng(0))
    >>> cfg["stage1_block"], cfg["stage2_block"]      # only mbconv blocks have an expansion ratio
    ({'_name': 'dsconv'}, {'_name': 'mbconv', 'expand': 3})
    >>> build(cfg, width_mult=0.25, head_channels=64)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
"""
from __future__ import annotations

import functools
from typing import Any, Iterator, Mapping, NamedTuple, Sequence

import numpy as np
import torch
from torch import nn

from ..space import Space
from ._common import HW, Tally, arch_config, as_hw, conv, one_hot

__all__ = ["STAGES", "KERNELS", "EXPANSIONS", "DEPTHS", "WIDTHS", "BLOCKS", "SEARCH_SPACE", "space", "build",
           "params", "flops", "encode_adjacency", "encode_path", "stage_settings"]

#: ``(base channels, stride)`` of the 7 stages (MobileNetV2).
STAGES: tuple[tuple[int, int], ...] = ((16, 1), (24, 2), (32, 2), (64, 2), (96, 1), (160, 2), (320, 1))
KERNELS: tuple[int, ...] = (3, 5, 7)
EXPANSIONS: tuple[int, ...] = (3, 6)
DEPTHS: tuple[int, ...] = (1, 2, 3, 4)
WIDTHS: tuple[float, ...] = (0.75, 1.0, 1.25)
#: Block labels: (kind, expansion) pairs, ``dsconv`` having expansion 1.
BLOCKS: tuple[tuple[str, int], ...] = (("dsconv", 1),) + tuple(("mbconv", e) for e in EXPANSIONS)

def _stage_space(i: int) -> dict[str, dict[str, Any]]:
    return {
        f"stage{i}_kernel": {"_type": "choice", "_value": list(KERNELS)},
        f"stage{i}_block": {"_type": "choice", "_value": [
            {"_name": "mbconv", "expand": {"_type": "choice", "_value": list(EXPANSIONS)}}, {"_name": "dsconv"}]},
        f"stage{i}_depth": {"_type": "choice", "_value": list(DEPTHS)},
        f"stage{i}_width": {"_type": "choice", "_value": list(WIDTHS)},
    }


SEARCH_SPACE: dict[str, dict[str, Any]] = {
    key: spec for i in range(1, len(STAGES) + 1) for key, spec in _stage_space(i).items()}


@functools.cache
def space() -> Space:
    """:data:`SEARCH_SPACE` as a :class:`~nas_plugins.space.Space`."""
    return Space.from_nni(SEARCH_SPACE)


class Stage(NamedTuple):
    """The settings of one stage, decoded from a configuration."""
    kernel: int
    expand: int           # 1 for dsconv
    depth: int
    width: float
    base: int
    stride: int


def stage_settings(config: Mapping[str, Any]) -> list[Stage]:
    """The 7 stages of ``config`` (checked; other keys are ignored).

    >>> import numpy as np
    >>> from nas_plugins.spaces.mobilenet import space, stage_settings
    >>> stage_settings(space().sample(np.random.default_rng(0)))[0]
    Stage(kernel=7, expand=1, depth=3, width=0.75, base=16, stride=1)
    """
    arch = arch_config(config, space())
    out = []
    for i, (base, stride) in enumerate(STAGES, start=1):
        block = arch[f"stage{i}_block"]
        expand = int(block["expand"]) if block["_name"] == "mbconv" else 1
        out.append(Stage(int(arch[f"stage{i}_kernel"]), expand, int(arch[f"stage{i}_depth"]),
                         float(arch[f"stage{i}_width"]), base, stride))
    return out


def _channels(stage: Stage, width_mult: float) -> int:
    return max(4, int(stage.base * stage.width * width_mult / 4 + 0.5) * 4)


def _blocks(config: Mapping[str, Any], stem_channels: int, width_mult: float) -> Iterator[tuple[int, ...]]:
    """``(c_in, c_out, kernel, stride, expand)`` of every inverted-residual block, in order."""
    c_in = stem_channels
    for stage in stage_settings(config):
        c_out = _channels(stage, width_mult)
        for b in range(stage.depth):
            yield c_in, c_out, stage.kernel, stage.stride if b == 0 else 1, stage.expand
            c_in = c_out


# ----------------------------------------------------------------------------- network

class InvertedResidual(nn.Module):
    """1x1 expansion (if ``expand > 1``), depthwise kxk, linear 1x1 projection; residual if shapes match."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = c_in * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [conv(c_in, hidden, 1), nn.BatchNorm2d(hidden), nn.ReLU6()]
        layers += [conv(hidden, hidden, kernel, stride, kernel // 2, groups=hidden), nn.BatchNorm2d(hidden),
                   nn.ReLU6(), conv(hidden, c_out, 1), nn.BatchNorm2d(c_out)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


def _tally_block(t: Tally, hw: HW, c_in: int, c_out: int, kernel: int, stride: int, expand: int) -> HW:
    hidden = c_in * expand
    if expand != 1:
        t.conv(c_in, hidden, 1, hw)
        t.bn(hidden)
    hw = t.conv(hidden, hidden, kernel, hw, stride, kernel // 2, groups=hidden)
    t.bn(hidden)
    t.conv(hidden, c_out, 1, hw)
    t.bn(c_out)
    return hw


class Network(nn.Module):
    """Stem, the stages' inverted-residual blocks, 1x1 head, global pool, linear."""

    def __init__(self, blocks: Sequence[tuple[int, ...]], num_classes: int, stem_channels: int,
                 stem_stride: int, head_channels: int, in_channels: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(conv(in_channels, stem_channels, 3, stem_stride, 1), nn.BatchNorm2d(stem_channels),
                                  nn.ReLU6())
        self.blocks = nn.Sequential(*(InvertedResidual(*b) for b in blocks))
        c_last = blocks[-1][1]
        self.head = nn.Sequential(conv(c_last, head_channels, 1), nn.BatchNorm2d(head_channels), nn.ReLU6(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(head_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.blocks(self.stem(x))))


def build(config: Mapping[str, Any], num_classes: int = 10, *, width_mult: float = 1.0, stem_channels: int = 16,
          stem_stride: int = 1, head_channels: int = 1280, in_channels: int = 3) -> nn.Module:
    """The network of ``config`` (other keys are ignored). ``width_mult`` scales every stage's
    channels; ``stem_stride=1`` suits 32x32 inputs (MobileNetV2 uses 2 on ImageNet).
    Input ``B x in_channels x H x W``, output ``B x num_classes``."""
    blocks = list(_blocks(config, stem_channels, width_mult))
    return Network(blocks, num_classes, stem_channels, stem_stride, head_channels, in_channels)


def _tally(config: Mapping[str, Any], hw: HW, num_classes: int, width_mult: float, stem_channels: int,
           stem_stride: int, head_channels: int, in_channels: int) -> Tally:
    t = Tally()
    hw = t.conv(in_channels, stem_channels, 3, hw, stem_stride, 1)
    t.bn(stem_channels)
    c_last = stem_channels
    for block in _blocks(config, stem_channels, width_mult):
        hw = _tally_block(t, hw, *block)
        c_last = block[1]
    t.conv(c_last, head_channels, 1, hw)
    t.bn(head_channels)
    t.linear(head_channels, num_classes)
    return t


def params(config: Mapping[str, Any], num_classes: int = 10, *, width_mult: float = 1.0, stem_channels: int = 16,
           stem_stride: int = 1, head_channels: int = 1280, in_channels: int = 3) -> int:
    """Parameters of ``build(config, num_classes, ...)``, computed without building it."""
    return _tally(config, (32, 32), num_classes, width_mult, stem_channels, stem_stride, head_channels,
                  in_channels).params


def flops(config: Mapping[str, Any], input_size: int | Sequence[int] = 32, num_classes: int = 10, *,
          width_mult: float = 1.0, stem_channels: int = 16, stem_stride: int = 1, head_channels: int = 1280,
          in_channels: int = 3) -> int:
    """Multiply-adds of the conv and linear layers for one ``input_size`` image (BN, activations,
    pooling and residual additions are not counted)."""
    return _tally(config, as_hw(input_size), num_classes, width_mult, stem_channels, stem_stride, head_channels,
                  in_channels).macs


# ----------------------------------------------------------------------------- encodings

_LABELS = [(block, kernel) for block in BLOCKS for kernel in KERNELS]     # 9 block types


def _label(stage: Stage) -> int:
    kind = ("dsconv", 1) if stage.expand == 1 else ("mbconv", stage.expand)
    return _LABELS.index((kind, stage.kernel))


def encode_adjacency(config: Mapping[str, Any]) -> np.ndarray:
    """Per stage: the one-hot block type (9: kind/expansion x kernel) of each of its 4 block slots
    (zeros for absent blocks), the chain's adjacency (4 bits: slot present), and the one-hot
    width: 7 x (36 + 4 + 3) = 301 floats."""
    parts = []
    for stage in stage_settings(config):
        slots = [one_hot(_label(stage) if b < stage.depth else -1, len(_LABELS)) for b in range(max(DEPTHS))]
        present = np.array([float(b < stage.depth) for b in range(max(DEPTHS))])
        parts += slots + [present, one_hot(WIDTHS.index(stage.width), len(WIDTHS))]
    return np.concatenate(parts)


def encode_path(config: Mapping[str, Any]) -> np.ndarray:
    """The network is one chain, so a BANANAS path encoding (one bit per op sequence of the whole
    path) would be a one-hot over every architecture; this is its factorized form: per stage, the
    one-hot op sequence of the stage's sub-path (block type x depth, 36) and the one-hot width:
    7 x 39 = 273 floats."""
    parts = []
    for stage in stage_settings(config):
        path = _label(stage) * len(DEPTHS) + DEPTHS.index(stage.depth)
        parts += [one_hot(path, len(_LABELS) * len(DEPTHS)), one_hot(WIDTHS.index(stage.width), len(WIDTHS))]
    return np.concatenate(parts)
