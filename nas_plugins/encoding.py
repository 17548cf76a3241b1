"""A fixed-length numeric encoding of any configuration of a :class:`Space`.

Predictors (LCRankNet's configuration branch, WeakNAS's weak predictor, BO surrogates) need
vectors, not dicts. :class:`ConfigEncoder` turns a configuration into ``dim`` floats in [0, 1]:

- ``Float``/``Integer``: min-max scaled (in log space for log types);
- ``Normal``: the normal CDF of the value (log first for log-normals);
- ``Choice``: one-hot over the options; a nested choice also encodes each branch's sub-space,
  all zeros while that branch is not chosen.

A value that is missing or outside the space encodes as 0.5 (numbers) or all zeros (choices), so
results for configurations the encoder never saw still encode.

Example::

    >>> from nas_plugins.encoding import ConfigEncoder
    >>> from nas_plugins.space import Space
    >>> enc = ConfigEncoder(Space.from_nni({"lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]},
    ...                                     "op": {"_type": "choice", "_value": ["conv", "pool"]}}))
    >>> enc.dim, enc.encode({"lr": 1e-4, "op": "pool"}).tolist()
    (3, [0.0, 0.0, 1.0])
"""
from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any, Mapping, Sequence

import numpy as np

from .space import Branch, Choice, Float, Integer, Normal, Space

__all__ = ["ConfigEncoder"]


def _unit(p: Float | Integer, value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return 0.5
    if not math.isfinite(x):
        return 0.5
    lo, hi, log = float(p.low), float(p.high), getattr(p, "log", False)
    if log and lo > 0 and x > 0:
        lo, hi, x = math.log(lo), math.log(hi), math.log(x)
    if hi <= lo:
        return 0.5
    return min(1.0, max(0.0, (x - lo) / (hi - lo)))


def _normal_unit(p: Normal, value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return 0.5
    if p.log:
        x = math.log(x) if x > 0 else -math.inf
    if math.isnan(x):
        return 0.5
    if math.isinf(x):
        return 0.0 if x < 0 else 1.0
    return NormalDist(p.mu, p.sigma).cdf(x)


class ConfigEncoder:
    """Encode configurations of ``space`` as vectors of ``dim`` floats in [0, 1].

    ``feature_names`` says what each column is (``"lr"``, ``"op=conv"``, ``"op/conv/k=3"`` ...).
    """

    def __init__(self, space: Space):
        self.space = space
        self.feature_names: list[str] = []
        self._collect(space, "")
        self.dim = len(self.feature_names)

    def _collect(self, space: Space, prefix: str) -> None:
        for p in space:
            path = prefix + p.name
            if isinstance(p, Choice):
                for option in p.options:
                    label = option.name if isinstance(option, Branch) else repr(option)
                    self.feature_names.append(f"{path}={label}")
                for option in p.options:
                    if isinstance(option, Branch):
                        self._collect(option.space, f"{path}/{option.name}/")
            else:
                self.feature_names.append(path)

    def encode(self, config: Mapping) -> np.ndarray:
        """One configuration as a float vector of length :attr:`dim`."""
        out: list[float] = []
        self._encode(self.space, config if isinstance(config, Mapping) else {}, out, active=True)
        return np.asarray(out, dtype=float)

    def encode_many(self, configs: Sequence[Mapping]) -> np.ndarray:
        """A ``(len(configs), dim)`` matrix."""
        if not configs:
            return np.zeros((0, self.dim))
        return np.stack([self.encode(c) for c in configs])

    def _encode(self, space: Space, config: Mapping, out: list[float], active: bool) -> None:
        for p in space:
            value = config.get(p.name) if active else None
            if isinstance(p, Choice):
                index = p.index_of(value) if active else -1
                out.extend(1.0 if i == index else 0.0 for i in range(len(p.options)))
                for i, option in enumerate(p.options):
                    if isinstance(option, Branch):
                        sub = value if (i == index and isinstance(value, Mapping)) else {}
                        self._encode(option.space, sub, out, active=(i == index))
            elif not active:
                out.append(0.0)
            elif isinstance(p, Normal):
                out.append(_normal_unit(p, value))
            else:
                out.append(_unit(p, value))
