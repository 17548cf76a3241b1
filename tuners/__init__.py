"""Strategies (ask/tell) and early stoppers, their registry, and the host adapters (``tuners.hosts``).

Example::

    >>> from tuners import create, algorithms
    >>> {"random", "grid", "bo", "median_stop"} <= {a.name for a in algorithms()}
    True
"""
from . import grid, hyperband, median_stop, random_search, skopt_bo  # noqa: F401  (registers the built-in algorithms)
from . import lcranknet_stop  # noqa: F401  (LCRankNet early stopping)
from . import evolution, reinforce  # noqa: F401  (NAS strategies: aging evolution, REINFORCE)
from . import weaknas  # noqa: F401  (WeakNAS: iterative weak predictors)
from . import tapas, xfernas  # noqa: F401  (warm starts from the metadata store: TAPAS, XferNAS)
from . import curve_fit  # noqa: F401  (curve-fitting extrapolation early stopping)
from .registry import AlgorithmInfo, UnknownAlgorithmError, algorithms, create, get

__all__ = ["AlgorithmInfo", "UnknownAlgorithmError", "algorithms", "create", "get"]
