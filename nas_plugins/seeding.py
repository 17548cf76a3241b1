"""Reproducible training runs: a seeded, thread-limited block that leaves the caller's RNG alone."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

__all__ = ["seeded_run"]


@contextmanager
def seeded_run(seed: int, threads: int | None = None) -> Iterator[torch.Generator]:
    """Run the block under ``torch.manual_seed(seed)`` inside a forked RNG (the caller's global RNG
    state is restored afterwards) with ``torch.set_num_threads(threads)`` (restored; None: unchanged);
    yields a ``torch.Generator`` seeded with ``seed`` for shuffling.

    >>> import torch
    >>> from nas_plugins.seeding import seeded_run
    >>> state = torch.get_rng_state()
    >>> with seeded_run(0, threads=1) as shuffle:
    ...     a = torch.randperm(5, generator=shuffle).tolist()
    >>> with seeded_run(0) as shuffle:
    ...     b = torch.randperm(5, generator=shuffle).tolist()
    >>> a == b, torch.equal(state, torch.get_rng_state())
    (True, True)
    """
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield torch.Generator().manual_seed(seed)
    finally:
        if threads is not None:
            torch.set_num_threads(previous)
