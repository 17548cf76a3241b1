"""Random search."""
from __future__ import annotations

from nas_plugins.space import Space
from nas_plugins.strategy import SpaceExhausted, Strategy

from .registry import register


_ENUMERATE_LIMIT = 1_000_000


@register("random", "tuner", nni_name="NaspRandom", autogluon_name="nasp_random")
class RandomSearch(Strategy):
    """Random search from the space's prior: log types uniform in log space, q-types quantized, no repeats.

    In a finite space every configuration is proposed at most once and :class:`SpaceExhausted`
    follows; in a space with continuous parameters duplicates are (almost surely) impossible.

    Example::

        >>> from nas_plugins.space import Space
        >>> from tuners.random_search import RandomSearch
        >>> r = RandomSearch(Space.from_nni({"layers": {"_type": "choice", "_value": [1, 2, 3]}}), seed=1)
        >>> for _ in range(3):
        ...     cfg = r.ask()
        ...     r.tell(cfg, {1: 0.7, 2: 0.9, 3: 0.8}[cfg["layers"]])   # e.g. the trial's accuracy
        >>> r.best
        Observation(config={'layers': 2}, value=0.9)
        >>> r.ask()                                   # each configuration is proposed once
        Traceback (most recent call last):
        ...
        nas_plugins.strategy.SpaceExhausted: all 3 configurations proposed
    """

    def __init__(self, space: Space | None = None, *, max_retries: int = 100,
                 seed: int | None = None, mode: str = "max"):
        if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 1:
            raise ValueError(f"max_retries must be a positive integer, got {max_retries!r}")
        self.max_retries = max_retries
        super().__init__(space, seed=seed, mode=mode)

    def _propose(self) -> dict:
        assert self.space is not None
        return sample_unseen(self.space, self.rng, self.was_seen, self.max_retries)


def sample_unseen(space: Space, rng, was_seen, max_retries: int = 100) -> dict:
    """A prior sample of ``space`` for which ``was_seen`` is false (also the fallback of other strategies).

    Draws up to ``max_retries`` times; then, in a finite space, chooses uniformly among what is left.
    Raises :class:`SpaceExhausted` when nothing new can be found.
    """
    for _ in range(max_retries):
        config = space.sample(rng)
        if not was_seen(config):
            return config
    size = space.size
    if size > _ENUMERATE_LIMIT:
        raise SpaceExhausted(f"no new configuration in {max_retries} draws")
    # Finite and nearly used up: choose uniformly among what is left.
    left = [i for i in range(int(size)) if not was_seen(space.grid_config(i, None))]
    if not left:
        raise SpaceExhausted(f"all {int(size)} configurations proposed")
    return space.grid_config(int(rng.choice(left)), None)
