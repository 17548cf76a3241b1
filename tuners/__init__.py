"""Strategies (ask/tell) and early stoppers, their registry, and the host adapters (``tuners.hosts``).

Example::

    >>> from tuners import create, algorithms
    >>> {"random", "grid", "bo", "median_stop"} <= {a.name for a in algorithms()}
    True
"""
from . import grid, hyperband, median_stop, random_search, skopt_bo  # noqa: F401  (registers the built-in algorithms)
from .registry import AlgorithmInfo, UnknownAlgorithmError, algorithms, create, get

__all__ = ["AlgorithmInfo", "UnknownAlgorithmError", "algorithms", "create", "get"]
