"""NAS search spaces: NAS-Bench-201 cells, mini-201 (a reduced NB201 with a stand-alone ground truth,
:mod:`nas_plugins.spaces.mini201`), DARTS cells and a MobileNetV2/MnasNet-style chain.

Every space is a module with the same small interface (:class:`NasSpace`):

- ``SEARCH_SPACE``: the NNI search-space dict (``choice`` parameters) and ``space()``, its
  :class:`~nas_plugins.space.Space`; a configuration is a dict exactly as NNI hands it to a trial.
  Other keys (hyperparameters) may sit beside the architecture keys: every function ignores them.
- ``build(config, num_classes=10, **sizes)``: a ``torch.nn.Module`` mapping ``N x 3 x H x W`` to
  ``N x num_classes`` logits (device-agnostic: move it with ``.to(device)``).
- ``encode_adjacency(config)`` / ``encode_path(config)``: fixed-length float vectors (one-hot ops
  plus adjacency; BANANAS-style path encoding, White et al. 2021).
- ``params(config, num_classes=10, **sizes)``: the exact parameter count of ``build(...)``, without
  building it; ``flops(config, input_size=32, num_classes=10, **sizes)``: multiply-adds of the conv
  and linear layers for one image (BN, activations, pooling and additions are not counted).
  Both work as cost functions for a size budget, e.g. ``"nas_plugins.spaces.nb201:params"``.

Example::

    >>> import numpy as np
    >>> import torch
    >>> from nas_plugins.spaces import get_space
    >>> nb201 = get_space("nb201")
    >>> cfg = nb201.space().sample(np.random.default_rng(0))
    >>> model = nb201.build(cfg, C=8, N=1)           # small sizes (the default is the benchmark's network)
    >>> model(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    >>> nb201.params(cfg, C=8, N=1) == sum(p.numel() for p in model.parameters())
    True
    >>> nb201.encode_adjacency(cfg).shape, nb201.encode_path(cfg).shape
    ((36,), (84,))
"""
from __future__ import annotations

import importlib
from typing import Any, Mapping, Protocol, Sequence, cast

import numpy as np
from torch import nn

from ..space import Space

__all__ = ["NasSpace", "SPACES", "get_space"]

#: Names accepted by :func:`get_space` (module names in this package).
SPACES: tuple[str, ...] = ("nb201", "mini201", "darts", "mobilenet")


class NasSpace(Protocol):
    """The interface every space module implements."""
    SEARCH_SPACE: dict[str, dict[str, Any]]

    def space(self) -> Space: ...

    def build(self, config: Mapping[str, Any], num_classes: int = 10, **sizes: Any) -> nn.Module: ...

    def encode_adjacency(self, config: Mapping[str, Any]) -> np.ndarray: ...

    def encode_path(self, config: Mapping[str, Any]) -> np.ndarray: ...

    def params(self, config: Mapping[str, Any], num_classes: int = 10, **sizes: Any) -> int: ...

    def flops(self, config: Mapping[str, Any], input_size: int | Sequence[int] = 32, num_classes: int = 10,
              **sizes: Any) -> int: ...


def get_space(name: str) -> NasSpace:
    """The space module called ``name`` (one of :data:`SPACES`).

    >>> from nas_plugins.spaces import get_space
    >>> len(get_space("darts").SEARCH_SPACE)      # 2 cells x 4 nodes x 2 edges x (input, op)
    32
    """
    if name not in SPACES:
        raise ValueError(f"unknown NAS space {name!r}; spaces: {', '.join(SPACES)}")
    return cast(NasSpace, importlib.import_module(f"{__name__}.{name}"))
