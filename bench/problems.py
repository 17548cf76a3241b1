"""Tabular benchmarks as HPO/NAS problems: a search space in NNI format, a table lookup per
proposal, a cost per evaluation and a regret per incumbent.

Two families, read from ``$NASP_BENCHMARKS`` (default ``<repo>/../shared/benchmarks``, see
``SOURCES.md`` there; the tables are never copied into the repository). This benchmark layer, not
the installed package, knows the repository's layout: importing :mod:`bench` sets that default.

* :class:`LCBench` (one problem per OpenML task, 34 tasks): 1,000 MLP configurations x 52 epochs of
  validation accuracy and cumulative training time. A proposal is mapped to the *nearest* of the
  1,000 table configurations (normalised coordinates: log scale for log parameters, min-max
  scaled to the search-space range). Objective: validation accuracy at epoch 52 (maximize); a
  proposal with an ``"epochs"`` key (1..52, the budget of Hyperband-like strategies) gets the
  accuracy at that epoch, and pays only the epochs not already trained for that same
  configuration (as proposed, budget aside) in this run (resumed from its checkpoint; another
  configuration that maps to the same table row starts from scratch).
  Regret: best final accuracy of the task's table - accuracy of the incumbent at the epoch it was
  trained to (a configuration trained 27 epochs is read at epoch 27, not 52).
* :class:`NB201` (cifar10, cifar100, imagenet16): 6 edges x 5 operations, every one of the 15,625
  cells in the table. Objective: ``{dataset}_val_acc``; cost: ``{dataset}_train_time_s``;
  regret: best ``{dataset}_test_acc`` of the table - test accuracy of the incumbent (the
  architecture with the best validation accuracy so far).

Example::

    >>> p = LCBench("3945")
    >>> s = p.session()
    >>> ev = s.evaluate(p.table_config(0))          # the table's first configuration
    >>> ev.index, ev.budget, round(p.regret(ev.index), 2)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from nas_plugins.lcbench import LCBENCH_SPACE, benchmarks_dir, load_lcbench
from nas_plugins.space import config_key

__all__ = ["benchmarks_dir", "Evaluation", "Problem", "Session", "LCBench", "NB201",
           "LCBENCH_SPACE", "NB201_OPS", "NB201_EDGES", "NB201_DATASETS", "lcbench_tasks",
           "nb201_arch", "make_problem"]

@dataclass(frozen=True)
class Evaluation:
    """What one proposal costs and returns.

    ``value`` is what the tuner is told; ``curve`` the intermediate values reported epoch by
    epoch (empty when the table has no learning curves) and ``report_offsets`` the simulated
    seconds after the trial's start at which each is reported; ``cost`` the simulated seconds
    the trial takes; ``epochs`` the epochs actually trained (not restored from a checkpoint).
    """
    index: int
    budget: int
    value: float
    cost: float
    epochs: int
    curve: tuple = ()
    report_offsets: tuple = ()


class Problem:
    """A benchmark problem. Subclasses set the attributes and implement the lookups."""
    name: str = ""
    family: str = ""
    search_space: dict = {}
    budget_key: str | None = None   # the config key carrying a budget, if the table has curves
    max_budget: int = 1
    time_unit: float = 1.0          # mean cost of one full evaluation (for plots)

    def session(self) -> "Session":
        """Per-run state (which table rows were already trained, and how far)."""
        return Session(self)

    def lookup(self, config: Mapping) -> tuple[int, int]:
        """(table row, budget) of a proposal."""
        raise NotImplementedError

    def evaluate_row(self, index: int, budget: int, paid: int) -> Evaluation:
        raise NotImplementedError

    def regret(self, index: int, budget: int | None = None) -> float:
        """Regret when table row ``index``, trained to ``budget`` (default: the maximum), is the incumbent."""
        raise NotImplementedError

    @property
    def optimum(self) -> float:
        raise NotImplementedError


@dataclass
class Session:
    """One run on a problem: remembers the epochs already paid for each configuration.

    Paid epochs are keyed by the configuration the strategy proposed (its budget key aside), not
    by the table row it maps to: two configurations with the same nearest row are two trainings.
    """
    problem: Problem
    paid: dict = field(default_factory=dict)

    def key(self, config: Mapping) -> str:
        """The checkpoint a proposal resumes from: its configuration without the budget."""
        return config_key({k: v for k, v in config.items() if k != self.problem.budget_key})

    def evaluate(self, config: Mapping) -> Evaluation:
        """Evaluate a proposal. A proposal with a budget resumes from the epochs already paid for
        the same configuration in this run; one without is a fresh run (a repeat pays again)."""
        index, budget = self.problem.lookup(config)
        key = self.key(config)
        resumable = self.problem.budget_key is not None and self.problem.budget_key in config
        paid = self.paid.get(key, 0) if resumable else 0
        ev = self.problem.evaluate_row(index, budget, min(paid, budget))
        self.paid[key] = max(self.paid.get(key, 0), budget)
        return ev


# ---------------------------------------------------------------------------------------------
# LCBench
# ---------------------------------------------------------------------------------------------

_LOG_TYPES = ("loguniform", "qloguniform")


def _lcbench() -> dict:
    t = load_lcbench(str(benchmarks_dir() / "lcbench_curves.npz"))
    return {"tasks": t.tasks, "names": t.names, "configs": t.configs, "acc": t.acc, "time": t.time, "table": t}


def lcbench_tasks() -> list[str]:
    """The 34 OpenML task ids, in table order."""
    return list(_lcbench()["tasks"])


def _normaliser(space: dict, names: Sequence[str]):
    """x -> [0, 1]^d: log scale for log types, min-max over the search-space range."""
    lo, hi, log = [], [], []
    for n in names:
        spec = space[n]
        a, b = float(spec["_value"][0]), float(spec["_value"][1])
        if spec["_type"] == "randint":
            b -= 1
        is_log = spec["_type"] in _LOG_TYPES
        lo.append(math.log(a) if is_log else a)
        hi.append(math.log(b) if is_log else b)
        log.append(is_log)
    lo, hi, log = np.array(lo), np.array(hi), np.array(log)

    def norm(x: np.ndarray) -> np.ndarray:
        x = np.array(x, dtype=np.float64)
        x[..., log] = np.log(np.maximum(x[..., log], 1e-300))
        return (x - lo) / (hi - lo)
    return norm


class LCBench(Problem):
    """One LCBench task (OpenML id or index into :func:`lcbench_tasks`)."""
    family = "lcbench"
    budget_key = "epochs"

    def __init__(self, task: str | int):
        t = _lcbench()
        tasks = t["tasks"]
        if isinstance(task, int) or (isinstance(task, str) and task not in tasks and task.isdigit()
                                     and int(task) < len(tasks)):
            self.task_index = int(task)
        else:
            if task not in tasks:
                raise ValueError(f"unknown LCBench task {task!r}; tasks: {', '.join(tasks)}")
            self.task_index = tasks.index(task)
        self.task = tasks[self.task_index]
        self.name = f"lcbench/{self.task}"
        self.search_space = {k: dict(v) for k, v in LCBENCH_SPACE.items()}
        self.names = t["names"]
        self.configs = t["configs"]
        self._table_obj = t["table"]
        self.acc = t["acc"][self.task_index]          # [config, epoch]
        self.time = t["time"][self.task_index]        # cumulative seconds, [config, epoch]
        self.max_budget = self.acc.shape[1]
        self._norm = _normaliser(self.search_space, self.names)
        self._table = self._norm(self.configs)
        self._best_final = float(self.acc[:, -1].max())
        self.time_unit = float(self.time[:, -1].mean())

    @property
    def optimum(self) -> float:
        return self._best_final

    def table_config(self, index: int) -> dict:
        """Table row ``index`` as a configuration of the search space."""
        return self._table_obj.config(index)

    def nearest(self, config: Mapping) -> int:
        """Index of the table configuration nearest to ``config`` (normalised Euclidean)."""
        try:
            x = np.array([float(config[n]) for n in self.names])
        except KeyError as exc:
            raise ValueError(f"{self.name}: configuration misses parameter {exc.args[0]!r}: {dict(config)}") from None
        d = ((self._table - self._norm(x)) ** 2).sum(axis=1)
        return int(np.argmin(d))

    def lookup(self, config: Mapping) -> tuple[int, int]:
        budget = self.max_budget
        if self.budget_key in config:
            b = float(config[self.budget_key])
            if not (1 <= b <= self.max_budget and float(b).is_integer()):
                raise ValueError(f"{self.name}: budget {self.budget_key}={config[self.budget_key]!r} "
                                 f"is not an integer in 1..{self.max_budget}")
            budget = int(b)
        return self.nearest(config), budget

    def evaluate_row(self, index: int, budget: int, paid: int) -> Evaluation:
        times = self.time[index]
        start = float(times[paid - 1]) if paid > 0 else 0.0
        end = float(times[budget - 1])
        cost = max(0.0, end - start)
        curve = tuple(float(v) for v in self.acc[index, :budget])
        offsets = tuple(max(0.0, float(times[e]) - start) for e in range(budget))
        return Evaluation(index, budget, float(self.acc[index, budget - 1]), cost,
                          max(0, budget - paid), curve, offsets)

    def regret(self, index: int, budget: int | None = None) -> float:
        return self._best_final - float(self.acc[index, (budget or self.max_budget) - 1])

    def final_value(self, index: int) -> float:
        return float(self.acc[index, -1])


# ---------------------------------------------------------------------------------------------
# NAS-Bench-201
# ---------------------------------------------------------------------------------------------

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: (to, from) for the six edges, in the order of the NB201 string.
NB201_EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NB201_DATASETS = ("cifar10", "cifar100", "imagenet16")


def _edge_name(to: int, frm: int) -> str:
    return f"edge_{to}_{frm}"


def nb201_arch(config: Mapping) -> str:
    """``{"edge_1_0": op, ...}`` -> ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""
    nodes = []
    for to in (1, 2, 3):
        ops = []
        for frm in range(to):
            op = config[_edge_name(to, frm)]
            if op not in NB201_OPS:
                raise ValueError(f"NB201: unknown operation {op!r} on edge {to}<-{frm}; ops: {', '.join(NB201_OPS)}")
            ops.append(f"{op}~{frm}")
        nodes.append("|" + "|".join(ops) + "|")
    return "+".join(nodes)


def nb201_config(arch: str) -> dict:
    """Inverse of :func:`nb201_arch`."""
    config = {}
    for to, node in enumerate(arch.split("+"), start=1):
        for item in node.strip("|").split("|"):
            op, frm = item.split("~")
            config[_edge_name(to, int(frm))] = op
    return config


class NB201(Problem):
    """NAS-Bench-201 on one dataset (cifar10 = the cifar10-valid split, cifar100, imagenet16)."""
    family = "nb201"
    budget_key = None

    def __init__(self, dataset: str = "cifar10"):
        if dataset not in NB201_DATASETS:
            raise ValueError(f"unknown NB201 dataset {dataset!r}; datasets: {', '.join(NB201_DATASETS)}")
        from nas_plugins.spaces.nb201 import table
        df = table(benchmarks_dir() / "nb201.csv.gz").frame
        self.dataset = dataset
        self.name = f"nb201/{dataset}"
        self.search_space = {_edge_name(to, frm): {"_type": "choice", "_value": list(NB201_OPS)}
                             for to, frm in NB201_EDGES}
        self.archs = df["arch"].tolist()
        self.row = {a: i for i, a in enumerate(self.archs)}
        self.val = df[f"{dataset}_val_acc"].to_numpy(np.float64)
        self.test = df[f"{dataset}_test_acc"].to_numpy(np.float64)
        self.cost = df[f"{dataset}_train_time_s"].to_numpy(np.float64)
        self._opt_test = float(self.test.max())
        self.time_unit = float(self.cost.mean())

    @property
    def optimum(self) -> float:
        return self._opt_test

    def lookup(self, config: Mapping) -> tuple[int, int]:
        if "epochs" in config:
            raise ValueError("NB201: the table has no learning curves; a proposal with a budget "
                             f"('epochs') cannot be evaluated: {dict(config)}")
        arch = nb201_arch(config)
        try:
            return self.row[arch], 1
        except KeyError:
            raise ValueError(f"NB201: architecture {arch} is not in the table") from None

    def evaluate_row(self, index: int, budget: int, paid: int) -> Evaluation:
        return Evaluation(index, 1, float(self.val[index]), float(self.cost[index]), 1)

    def regret(self, index: int, budget: int | None = None) -> float:
        return self._opt_test - float(self.test[index])

    def test_acc(self, index: int) -> float:
        return float(self.test[index])


def make_problem(spec: str) -> Problem:
    """``lcbench/<task id or index>`` or ``nb201/<dataset>``."""
    family, _, arg = spec.partition("/")
    if family == "lcbench":
        return LCBench(arg)
    if family == "nb201":
        return NB201(arg or "cifar10")
    raise ValueError(f"unknown problem {spec!r}: expected lcbench/<task> or nb201/<dataset>")
