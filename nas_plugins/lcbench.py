"""LCBench (Zimmer et al., TPAMI 2021): its search space and a loader for the learning-curve table.

The table ``lcbench_curves.npz`` (1,000 MLP configurations x 34 OpenML tasks x 52 epochs) ships
outside the package: pass its path, or set ``$NASP_BENCHMARKS`` to the folder holding it
(:func:`benchmarks_dir`). LCRankNet pre-trains on it; ``bench/`` simulates experiments on it.

Example::

    >>> from nas_plugins.lcbench import LCBENCH_SPACE
    >>> from nas_plugins.space import Space
    >>> space = Space.from_nni(LCBENCH_SPACE)
    >>> len(space), space["num_layers"]
    (7, Integer(name='num_layers', low=1, high=5))

Reading the table (``lcbench_curves.npz``, not in the repository)::

    t = load_lcbench()
    t.acc.shape                            # [task, config, epoch], accuracy in percent: (34, 1000, 52)
    space.contains(t.config(0))            # True
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["LCBENCH_SPACE", "LCBenchTable", "benchmarks_dir", "load_lcbench"]

#: The LCBench ranges (YAHPO Gym's ``lcbench`` space); the table's configurations lie inside.
#: Integers on a log scale are ``qloguniform`` with q=1 (batch_size, max_units).
LCBENCH_SPACE = {
    "batch_size": {"_type": "qloguniform", "_value": [16, 512, 1]},
    "learning_rate": {"_type": "loguniform", "_value": [1e-4, 1e-1]},
    "max_dropout": {"_type": "uniform", "_value": [0.0, 1.0]},
    "max_units": {"_type": "qloguniform", "_value": [64, 1024, 1]},
    "momentum": {"_type": "uniform", "_value": [0.1, 0.99]},
    "num_layers": {"_type": "randint", "_value": [1, 6]},
    "weight_decay": {"_type": "uniform", "_value": [1e-5, 1e-1]},
}


def benchmarks_dir() -> Path:
    """``$NASP_BENCHMARKS``: the folder holding the benchmark tables (``lcbench_curves.npz``,
    ``nb201.csv.gz``). The package assumes no place for them; unset, this is the current folder and
    the readers' errors name the variable."""
    return Path(os.environ.get("NASP_BENCHMARKS") or ".")


@dataclass(frozen=True)
class LCBenchTable:
    tasks: list[str]            # OpenML task ids
    names: list[str]            # parameter names, the columns of ``configs``
    configs: np.ndarray         # [config, parameter]
    acc: np.ndarray             # [task, config, epoch] validation accuracy, percent
    time: np.ndarray            # [task, config, epoch] cumulative seconds (non-decreasing)

    def config(self, index: int) -> dict:
        """Table row ``index`` as a configuration of :data:`LCBENCH_SPACE`."""
        out = {}
        for n, x in zip(self.names, self.configs[index]):
            t = LCBENCH_SPACE[n]["_type"]
            out[n] = int(round(x)) if t in ("randint", "qloguniform") else float(x)
        return out


@functools.lru_cache(maxsize=2)
def load_lcbench(path: str | None = None) -> LCBenchTable:
    """Read ``lcbench_curves.npz`` (default: in :func:`benchmarks_dir`); cached."""
    file = Path(path) if path else benchmarks_dir() / "lcbench_curves.npz"
    if not file.exists():
        raise FileNotFoundError(f"LCBench table not found at {file}; set NASP_BENCHMARKS to the folder "
                                "holding lcbench_curves.npz")
    with np.load(file) as d:
        names = [str(n) for n in d["param_names"]]
        if sorted(names) != sorted(LCBENCH_SPACE):
            raise ValueError(f"{file}: unexpected parameters {names}")
        time_s = d["time_s"].astype(np.float64)
        # The surrogate's cumulative times dip slightly in 0.4% of steps: keep them non-decreasing.
        time_s = np.maximum.accumulate(time_s, axis=2)
        return LCBenchTable([str(t) for t in d["tasks"]], names, d["configs"].astype(np.float64),
                            d["val_accuracy"].astype(np.float64), time_s)
