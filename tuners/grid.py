"""Grid search."""
from __future__ import annotations

import math

from nas_plugins.space import Space
from nas_plugins.strategy import SpaceExhausted, Strategy

from .registry import register


@register("grid", "tuner", nni_name="NaspGrid", autogluon_name="nasp_grid")
class GridSearch(Strategy):
    """Grid search: every choice/integer value, continuous axes at `grid_points` points (log-spaced for log types).

    Each grid point is proposed exactly once (configurations told from elsewhere are skipped);
    then :class:`SpaceExhausted`. ``shuffle=True`` visits the grid in a seeded random order.

    Example::

        >>> from nas_plugins.space import Space
        >>> from tuners.grid import GridSearch
        >>> space = Space.from_nni({"lr": {"_type": "loguniform", "_value": [0.001, 0.1]},
        ...                         "opt": {"_type": "choice", "_value": ["sgd", "adam"]}})
        >>> g = GridSearch(space, grid_points=3)        # 3 log-spaced lr values x 2 optimizers
        >>> configs = [g.ask() for _ in range(g.size)]
        >>> [(round(c["lr"], 6), c["opt"]) for c in configs]
        [(0.001, 'sgd'), (0.001, 'adam'), (0.01, 'sgd'), (0.01, 'adam'), (0.1, 'sgd'), (0.1, 'adam')]
        >>> g.ask()
        Traceback (most recent call last):
        ...
        nas_plugins.strategy.SpaceExhausted: grid of 6 configurations exhausted
    """

    def __init__(self, space: Space | None = None, *, grid_points: int = 5, shuffle: bool = False,
                 seed: int | None = None, mode: str = "max"):
        if not isinstance(grid_points, int) or isinstance(grid_points, bool) or grid_points < 1:
            raise ValueError(f"grid_points must be a positive integer, got {grid_points!r}")
        if not isinstance(shuffle, bool):
            raise ValueError(f"shuffle must be true or false, got {shuffle!r}")
        self.grid_points = grid_points
        self.shuffle = shuffle
        self._next = 0
        self._size = 0
        self._stride, self._offset = 1, 0
        super().__init__(space, seed=seed, mode=mode)

    def set_space(self, space: Space) -> None:
        super().set_space(space)
        self._next = 0
        self._size = space.grid_size(self.grid_points)
        if self.shuffle and self._size > 1:
            # A seeded bijection i -> (stride * i + offset) mod size: a shuffled visit order
            # without materialising a permutation of a possibly huge grid.
            stride = int(self.rng.integers(1, self._size))
            while math.gcd(stride, self._size) != 1:
                stride = stride % (self._size - 1) + 1
            self._stride, self._offset = stride, int(self.rng.integers(self._size))

    @property
    def size(self) -> int:
        """Number of grid points."""
        return self._size

    def _propose(self) -> dict:
        assert self.space is not None
        while self._next < self._size:
            index = (self._stride * self._next + self._offset) % self._size
            self._next += 1
            config = self.space.grid_config(index, self.grid_points)
            if not self.was_seen(config):
                return config
        raise SpaceExhausted(f"grid of {self._size} configurations exhausted")
