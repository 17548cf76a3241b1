"""The statistics, markdown, plot and raw-result layer every benchmark script renders with.

* numbers: :func:`mean_se`, :func:`fmt`; best-so-far curves: :class:`Steps` (a run's incumbent
  regret as a step function of time or epochs, stored by its change points only) and
  :func:`on_grid`;
* markdown: :func:`table`, :func:`write_section` (a generated section between two markers; the rest
  of the file is kept), :func:`machine`, :func:`now`;
* plots: :func:`plot_anytime` (log x and log y, ours solid, anchors dashed);
* raw results: :func:`save_raw` / :func:`load_raw` (gzip'd JSON kept in ``bench/results/``, so
  ``--from-raw`` renders the tables from a clean clone);
* :func:`pool_map`: cells in worker processes, with progress on stderr.

Example::

    >>> s = Steps.from_records([1.0, 3.0, 4.0], [2.0, 1.5, 1.5])
    >>> s.at(2.0), s.at(3.5), s.at(0.5)
    (2.0, 1.5, nan)
    >>> fmt(1.234, 0.05), table(["a", "b"], [["1", "2"]]).splitlines()[2]
    ('1.23 ± 0.05', '| 1 | 2 |')
"""
from __future__ import annotations

import datetime as _dt
import gzip
import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

__all__ = ["RESULTS", "mean_se", "fmt", "table", "write_section", "machine", "now", "rel", "Steps", "on_grid",
           "plot_anytime", "save_raw", "load_raw", "pool_map"]

#: Where the raw results of the published tables are kept (in the repository).
RESULTS = Path(__file__).resolve().parent / "results"


# -- numbers ------------------------------------------------------------------------------------

def mean_se(values: Iterable[float]) -> tuple[float, float]:
    """Mean and standard error of the finite values (se 0 for a single value; nan, nan for none)."""
    x = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan
    se = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else 0.0
    return float(x.mean()), se


def fmt(m: float | None, se: float | None = None, digits: int = 2) -> str:
    """``m ± se`` with ``digits`` decimals; "–" for a missing mean."""
    if m is None or (isinstance(m, float) and math.isnan(m)):
        return "–"
    return f"{m:.{digits}f}" + (f" ± {se:.{digits}f}" if se is not None and not math.isnan(se) else "")


@dataclass(frozen=True)
class Steps:
    """A best-so-far curve: ``y[i]`` holds from ``x[i]`` on (nan before ``x[0]``)."""
    x: tuple
    y: tuple

    @classmethod
    def from_records(cls, xs: Sequence[float], ys: Sequence[float]) -> "Steps":
        """From per-record (x, incumbent value) pairs in x order, keeping the change points only."""
        out_x, out_y = [], []
        for x, y in zip(xs, ys):
            if y is None or (isinstance(y, float) and math.isnan(y)):
                continue
            if out_y and out_y[-1] == y:
                continue
            if out_x and out_x[-1] == x:
                out_y[-1] = y
                continue
            out_x.append(float(x))
            out_y.append(float(y))
        return cls(tuple(out_x), tuple(out_y))

    def at(self, x: float) -> float:
        i = int(np.searchsorted(self.x, x, side="right")) - 1
        return self.y[i] if i >= 0 else math.nan

    def first_at_most(self, target: float) -> float | None:
        """The first x where the curve is at most ``target`` (None: never)."""
        for x, y in zip(self.x, self.y):
            if y <= target + 1e-12:
                return x
        return None

    def to_json(self, digits: int = 4) -> list:
        return [[round(x, 3) for x in self.x], [round(y, digits) for y in self.y]]

    @classmethod
    def from_json(cls, data: Sequence) -> "Steps":
        return cls(tuple(data[0]), tuple(data[1]))


def on_grid(curves: Sequence[Steps], grid: np.ndarray, scale: Sequence[float] | None = None) -> np.ndarray:
    """Each curve's value at ``grid * scale[i]``, one row per curve."""
    out = np.full((len(curves), len(grid)), np.nan)
    for i, c in enumerate(curves):
        if not c.x:
            continue
        xs = grid * (scale[i] if scale is not None else 1.0)
        idx = np.searchsorted(np.asarray(c.x), xs, side="right") - 1
        ok = idx >= 0
        out[i, ok] = np.asarray(c.y)[idx[ok]]
    return out


# -- markdown -----------------------------------------------------------------------------------

def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def write_section(path: Path, section: str, start: str, end: str) -> None:
    """Replace the text between the markers ``start`` and ``end`` in ``path`` with ``section``
    (which includes them), or append it; create the file if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if start in old and end in old and old.index(start) < old.index(end):
        new = old[:old.index(start)] + section + old[old.index(end) + len(end):]
    else:
        new = (old.rstrip("\n") + "\n\n" if old.strip() else "# Benchmarks\n\n") + section + "\n"
    path.write_text(new, encoding="utf-8")


def machine() -> str:
    """The machine and the versions that matter to the numbers."""
    versions = []
    for module in ("numpy", "nni", "optuna", "smac", "syne_tune", "torch"):
        try:
            versions.append(f"{module} {__import__(module).__version__}")
        except Exception:  # noqa: BLE001  (not installed, or no version)
            pass
    return (f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}; Python "
            f"{platform.python_version()}, " + ", ".join(versions))


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def rel(path: Path, base: Path) -> str:
    try:
        return os.path.relpath(path, base)
    except ValueError:
        return str(path)


# -- plots --------------------------------------------------------------------------------------

def plot_anytime(curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], path: Path, title: str,
                 xlabel: str, ylabel: str = "regret of the incumbent (best so far)",
                 ours: Callable[[str], bool] = lambda label: label.startswith("ours")) -> None:
    """``curves``: label -> (x, mean, se). A PNG with log x and log y axes (the contenders differ
    below 1 point, which a linear axis squashes); ours solid and thick, anchors dashed with markers."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    markers = iter("osD^vP*Xh<>" * 3)
    for label, (x, m, se) in curves.items():
        mine = ours(label)
        kwargs = {"lw": 2.0, "ls": "-"} if mine else {"lw": 1.1, "ls": "--", "marker": next(markers),
                                                       "markevery": max(1, len(x) // 8), "ms": 4}
        line, = ax.plot(x, np.maximum(m, 1e-3), label=label, **kwargs)
        ax.fill_between(x, np.maximum(m - se, 1e-3), np.maximum(m + se, 1e-3), color=line.get_color(),
                        alpha=0.12 if mine else 0.06, lw=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- raw results --------------------------------------------------------------------------------

def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, Steps):
        return x.to_json()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def save_raw(path: Path, data: dict) -> None:
    """``data`` (JSON-able: dicts, lists, numbers, strings, numpy values, :class:`Steps`) as gzip'd JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(_plain(data), separators=(",", ":"), sort_keys=True).encode()
    tmp = path.with_suffix(path.suffix + ".tmp")
    with gzip.GzipFile(tmp, "wb", mtime=0) as f:
        f.write(payload)
    tmp.replace(path)


def load_raw(path: Path) -> dict:
    with gzip.open(path, "rb") as f:
        return json.loads(f.read())


# -- processes ----------------------------------------------------------------------------------

def pool_map(fn: Callable, cells: list, processes: int, label: str, on_result: Callable | None = None,
             reports: int = 10, journal: Path | None = None) -> list:
    """``fn`` over ``cells`` in ``processes`` processes (inline for 1), in completion order, printing
    progress ``reports`` times; ``on_result(result)`` on each result as it arrives.

    With ``journal`` (a file), each result is appended to it as one JSON line the moment it arrives,
    and the cells a previous, interrupted call already finished without ``"error"`` are read back from
    it instead of run again: a killed benchmark loses at most the cells in flight."""
    done: dict[str, Any] = {}
    if journal is not None:
        journal = Path(journal)
        journal.parent.mkdir(parents=True, exist_ok=True)
        if journal.exists():
            for line in journal.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:          # a line cut short by the kill
                    continue
                if not (isinstance(rec.get("result"), dict) and "error" in rec["result"]):
                    done[rec["cell"]] = rec["result"]
    key = lambda cell: json.dumps(_plain(cell))  # noqa: E731
    results = [done[key(c)] for c in cells if key(c) in done]
    todo = [c for c in cells if key(c) not in done]
    if results:
        print(f"  {label}: {len(results)} cells read back from {journal}", file=sys.stderr, flush=True)
    n, t0 = len(todo), time.perf_counter()
    step = max(1, n // reports)
    if processes <= 1 or n <= 1:
        it, pool = map(lambda c: (c, fn(c)), todo), None
    else:
        import multiprocessing as mp
        pool = mp.get_context("fork").Pool(processes, maxtasksperchild=200)
        it = pool.imap_unordered(_CellFn(fn), todo, chunksize=1)
    sink = open(journal, "a") if journal is not None else None
    try:
        for i, (cell, r) in enumerate(it, 1):
            results.append(r)
            if sink is not None:
                sink.write(json.dumps({"cell": key(cell), "result": r}, separators=(",", ":"),
                                      default=_json_default) + "\n")     # NaN kept as NaN
                sink.flush()
            if on_result is not None:
                on_result(r)
            if i % step == 0 or i == n:
                print(f"  {label}: {i}/{n} cells, {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    finally:
        if sink is not None:
            sink.close()
        if pool is not None:
            pool.close()
            pool.join()
    return results


def _json_default(x: Any) -> Any:
    if isinstance(x, Steps):
        return x.to_json()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"not JSON-able: {type(x).__name__}")


class _CellFn:
    """``cell -> (cell, fn(cell))``, picklable for the pool."""

    def __init__(self, fn: Callable) -> None:
        self.fn = fn

    def __call__(self, cell):
        return cell, self.fn(cell)
