"""Strategies (ask/tell) and early stoppers, their registry, and the host adapters (``tuners.hosts``).

Example::

    >>> from tuners import create, algorithms
    >>> [a.name for a in algorithms()]
    ['grid', 'random', 'median_stop']
"""
from . import grid, median_stop, random_search  # noqa: F401  (registers the built-in algorithms)
from .registry import AlgorithmInfo, UnknownAlgorithmError, algorithms, create, get

__all__ = ["AlgorithmInfo", "UnknownAlgorithmError", "algorithms", "create", "get"]
