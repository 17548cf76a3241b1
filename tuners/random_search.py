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

        >>> r = RandomSearch(space, seed=1)
        >>> r.ask()
    """

    def __init__(self, space: Space | None = None, *, max_retries: int = 100,
                 seed: int | None = None, mode: str = "max"):
        if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 1:
            raise ValueError(f"max_retries must be a positive integer, got {max_retries!r}")
        self.max_retries = max_retries
        super().__init__(space, seed=seed, mode=mode)

    def _propose(self) -> dict:
        assert self.space is not None
        for _ in range(self.max_retries):
            config = self.space.sample(self.rng)
            if not self.was_seen(config):
                return config
        size = self.space.size
        if size > _ENUMERATE_LIMIT:
            raise SpaceExhausted(f"no new configuration in {self.max_retries} draws")
        # Finite and nearly used up: choose uniformly among what is left.
        left = [i for i in range(int(size)) if not self.was_seen(self.space.grid_config(i, None))]
        if not left:
            raise SpaceExhausted(f"all {int(size)} configurations proposed")
        return self.space.grid_config(int(self.rng.choice(left)), None)
