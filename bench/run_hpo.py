"""HPO on LCBench: our strategies and schedulers vs the anchors users pick today, in one loop.

    python -m bench.run_hpo [--seeds 3] [--slow NAME:SEEDS:TASKS,...] [--tasks all|N|id,id] [--evals 50]
                            [--workers 1] [--only name,...] [--skip name,...] [--processes 2]
                            [--overhead-ks 100,200] [--raw FILE] [--from-raw FILE...]
                            [--out docs/benchmarks.md] [--no-plots] [--smoke]

Contenders (``bench.anchors``): ours (every tuner of the registry through its NNI adapter, and the
schedulers with a searcher, e.g. ``hyperband+bo``) and the anchors: NNI's Random, TPE, Evolution;
Optuna's TPE; SMAC3 (HPO and multi-fidelity facades); HEBO (its own environment, a subprocess);
Syne Tune's ASHA, BOHB, DEHB, MOBSTER. Every one runs through ``bench.harness.run`` (the calls of
NNI's dispatcher, a simulated clock from the table, the same epoch accounting: see that module),
on the same tasks and seeds. Slow contenders (``--slow NAME:SEEDS:TASKS``: seeds 0..SEEDS-1 on
the first TASKS tasks) run on a subset; every comparison with them uses the tasks and seeds both
sides ran, and the tables say which.

The raw results (per run: the regret at the checkpoints, the best-so-far regret as a step function
of time and of epochs, the costs) go to ``--raw`` (gzip'd JSON; the published ones are
``bench/results/hpo.json.gz``), each finished run also to ``FILE.partial.jsonl`` at once, so a killed
command run again with the same ``--raw`` picks up where it stopped; ``--from-raw`` renders the section from such files (merged; a later
file's cell wins) without running anything. The section goes between ``<!-- bench:hpo:start -->``
and ``<!-- bench:hpo:end -->`` of ``--out``; plots to ``img/`` next to it.

``--smoke``: 2 tasks, 2 seeds, 10 evaluations, ours random and hyperband and NNI TPE, into a
temporary folder unless ``--out`` is given.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
import traceback
from collections import defaultdict
from pathlib import Path

# One BLAS thread per process: cells run in parallel processes, and timings stay comparable.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from bench.report import (RESULTS, Steps, fmt, load_raw, machine, mean_se, now, on_grid, plot_anytime,  # noqa: E402
                          pool_map, rel, save_raw, table, write_section)

START, END = "<!-- bench:hpo:start -->", "<!-- bench:hpo:end -->"
REPO = Path(__file__).resolve().parent.parent
RAW = RESULTS / "hpo.json.gz"
#: The strategies the targets compare (ours, then the anchors they are measured against).
OUR_BO = "bo"
CLASSIC_ANCHORS = ("nni_tpe", "optuna_tpe", "smac_hpo", "hebo")
OUR_MF = ("hyperband", "asha", "hyperband+bo", "asha+bo")
SYNE_MF = ("st_asha", "st_bohb", "st_dehb", "st_mobster")
#: Contenders that take minutes per run here (SMAC3 refits its forest and searches its acquisition for
#: seconds; HEBO optimises its acquisition with an evolutionary multi-objective search): fewer cells.
SLOW_DEFAULT = "smac_hpo:1:34,st_bohb:1:17,smac_mf:1:4,hebo:1:3,nni_gp:1:4"
DEFAULT = ("random", "bo", "hyperband", "asha", "hyperband+bo", "asha+bo", "evolution",
           "nni_random", "nni_tpe", "nni_evolution", "optuna_tpe", "smac_hpo", "smac_mf", "hebo") + SYNE_MF


# -- cells --------------------------------------------------------------------------------------

def run_cell(cell: tuple) -> dict:
    """One (strategy, task, seed, workers, n_evals) run, reduced to what the tables need."""
    from bench.anchors import get_contender
    from bench.harness import run
    from bench.problems import LCBench
    name, task, seed, workers, n_evals = cell
    out = {"name": name, "task": task, "seed": seed, "workers": workers, "n_evals": n_evals}
    t0 = time.perf_counter()
    try:
        problem = LCBench(task)
        contender = get_contender(name)
        trace = run(contender.make, problem, n_evals, workers, seed, assessor_factory=contender.make_assessor,
                    strategy=name)
    except Exception as exc:  # one broken strategy must not take the whole run down
        out.update(error=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc(limit=6),
                   wall_s=time.perf_counter() - t0)
        return out
    a = trace.arrays()
    out.update(at={str(u): trace.regret_after(u) for u in sorted({n_evals, max(1, n_evals // 2)})},
               time=Steps.from_records(a["end"] / problem.time_unit, a["regret"]).to_json(),
               epochs=Steps.from_records(a["epochs"], a["regret"]).to_json(), epochs_total=int(trace.epochs),
               makespan_h=trace.makespan / 3600, wall_s=trace.wall_s, tuner_s=trace.tuner_s,
               n_records=len(trace.records), stop_reason=trace.stop_reason,
               budget_aware=trace.budget_aware or contender.make_assessor is not None)   # multi-fidelity
    return out


def run_overhead(cell: tuple) -> dict:
    """ms per ask+tell after k observations (``bench.harness.overhead``: a sequential run)."""
    name, task, ks, reps = cell
    from bench.anchors import get_contender
    from bench.harness import overhead
    from bench.problems import LCBench
    t0 = time.perf_counter()
    try:
        ms = overhead(get_contender(name).make, LCBench(task), ks=ks, reps=reps)
        return {"name": name, "overhead": {str(k): v for k, v in ms.items()}, "wall_s": time.perf_counter() - t0}
    except Exception as exc:  # noqa: BLE001
        return {"name": name, "error": f"{type(exc).__name__}: {exc}", "wall_s": time.perf_counter() - t0}


# -- the command --------------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run_hpo", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per task (default 3)")
    p.add_argument("--slow", default=SLOW_DEFAULT,
                   help=f"NAME:SEEDS:TASKS: a contender on seeds 0..SEEDS-1 of the first TASKS tasks only "
                        f"(default {SLOW_DEFAULT}: minutes per run here)")
    p.add_argument("--tasks", default="all", help="LCBench tasks: all, N (the first N) or ids (default all)")
    p.add_argument("--evals", type=int, default=50, help="full evaluations' epochs per run (default 50)")
    p.add_argument("--workers", default="1", help="simulated parallel workers, comma-separated (default 1)")
    p.add_argument("--only", default="", help=f"contenders, comma-separated (default {','.join(DEFAULT)})")
    p.add_argument("--skip", default="", help="contenders to leave out, comma-separated")
    p.add_argument("--processes", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--overhead-ks", default="100,200", help="observations before timing ask+tell ('' to skip)")
    p.add_argument("--out", default=None, help="markdown file to update (default docs/benchmarks.md)")
    p.add_argument("--raw", default=None, help="write the raw results here (gzip'd JSON)")
    p.add_argument("--from-raw", default=None, nargs="+", metavar="FILE",
                   help=f"render from raw results instead of running (e.g. {rel(RAW, REPO)})")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--smoke", action="store_true", help="a few-second end-to-end check, into a temp file")
    a = p.parse_args(argv)
    a.argv = list(sys.argv[1:] if argv is None else argv)
    if a.smoke:
        a.seeds, a.tasks, a.evals, a.overhead_ks = 2, "2", 10, ""
        a.only = a.only or "random,hyperband,nni_tpe"
        if a.out is None:
            a.out = os.path.join(tempfile.mkdtemp(prefix="bench_hpo_"), "benchmarks.md")
    if a.out is None:
        a.out = str(REPO / "docs" / "benchmarks.md")
    return a


def select(args) -> tuple[list, list[str]]:
    """The contenders to run, and notes on those left out (and why)."""
    from bench.anchors import get_contender
    notes = []
    skip = {s for s in args.skip.split(",") if s}
    out = []
    for name in [s for s in (args.only.split(",") if args.only else DEFAULT) if s and s not in skip]:
        try:
            c = get_contender(name)
        except KeyError as exc:
            raise SystemExit(str(exc).strip('"'))
        if c.unavailable:
            notes.append(f"{c.label} not run: {c.unavailable}")
            continue
        out.append(c)
    return out, notes


def lcbench_tasks(spec: str) -> list[str]:
    from bench.problems import lcbench_tasks as all_tasks
    tasks = all_tasks()
    if spec == "all":
        return tasks
    if spec.isdigit():
        return tasks[:int(spec)]
    chosen = [t for t in spec.split(",") if t]
    bad = [t for t in chosen if t not in tasks]
    if bad:
        raise SystemExit(f"unknown LCBench task(s) {bad}; tasks: {', '.join(tasks)}")
    return chosen


def parse_slow(spec: str) -> dict[str, tuple[int, int]]:
    """``"smac_hpo:1:34,hebo:1:4"`` -> {name: (seeds, tasks)}."""
    out = {}
    for item in filter(None, spec.split(",")):
        try:
            name, seeds, tasks = item.split(":")
            out[name] = (int(seeds), int(tasks))
        except ValueError:
            raise SystemExit(f"--slow: expected NAME:SEEDS:TASKS, got {item!r}") from None
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()
    if args.from_raw:
        raw = merge([load_raw(Path(f)) for f in args.from_raw])
        if args.raw:            # several runs' raw results kept as one file
            save_raw(Path(args.raw), raw)
            print(f"raw results: {args.raw}", file=sys.stderr)
        raw["rendered_from"] = args.from_raw
    else:
        chosen, notes = select(args)
        tasks = lcbench_tasks(args.tasks)
        workers = [int(w) for w in args.workers.split(",") if w]
        slow = parse_slow(args.slow)
        cells = [(c.name, t, s, w, args.evals) for c in chosen
                 for t in (tasks[:slow[c.name][1]] if c.name in slow else tasks)
                 for s in range(min(args.seeds, slow[c.name][0]) if c.name in slow else args.seeds) for w in workers]
        cells.sort(key=lambda cell: (cell[0] not in slow, cell[3], cell[2]))   # slow ones first
        print(f"bench.run_hpo: {len(chosen)} contenders, {len(cells)} cells, {args.processes} processes",
              file=sys.stderr)
        journal = Path(args.raw + ".partial.jsonl") if args.raw else None     # kept until the raw is written
        results = pool_map(run_cell, cells, args.processes, "runs", journal=journal)
        ks = [int(k) for k in args.overhead_ks.split(",") if k]
        over = pool_map(run_overhead, [(c.name, tasks[0], tuple(ks), 5) for c in chosen
                                       if not c.budget_aware and c.name not in slow and c.make_assessor is None],
                        args.processes, "overhead") if ks else []
        raw = {"meta": {"command": "python -m bench.run_hpo " + " ".join(args.argv), "machine": machine(),
                        "date": now(), "wall_s": time.perf_counter() - t_start, "processes": args.processes,
                        "seeds": args.seeds, "evals": args.evals,
                        "overhead_ks": ks},
               "order": [c.name for c in chosen], "labels": {c.name: c.label for c in chosen},
               "origin": {c.name: c.origin for c in chosen},
               "slow": {c.name: slow[c.name] for c in chosen if c.name in slow}, "notes": notes, "results": results,
               "overhead": over}
        if args.raw:
            save_raw(Path(args.raw), raw)
            journal.unlink(missing_ok=True)
            print(f"raw results: {args.raw}", file=sys.stderr)
    out = Path(args.out).resolve()
    text = report(raw, out.parent / "img" if not args.no_plots else None, out.parent)
    print(text)
    write_section(out, text, START, END)
    print(f"\nwrote {args.out} (section {START} ... {END})", file=sys.stderr)
    errors = [r for r in raw["results"] if "error" in r]
    return 1 if errors and len(errors) == len(raw["results"]) else 0


def merge(raws: list[dict]) -> dict:
    """Several raw files as one: a later file's cell (name, task, seed, workers, evals) wins."""
    parts = [p for r in raws for p in r.get("parts", [r["meta"]])]
    out = {"meta": dict(raws[0]["meta"], wall_s=sum(p["wall_s"] for p in parts)), "order": [], "labels": {},
           "origin": {}, "slow": {}, "notes": [], "results": [], "overhead": [], "parts": parts}
    cells, over = {}, {}
    for raw in raws:
        out["order"] += [n for n in raw["order"] if n not in out["order"]]
        out["labels"].update(raw["labels"])
        out["origin"].update(raw["origin"])
        out["slow"].update(raw["slow"])
        out["notes"] += [n for n in raw["notes"] if n not in out["notes"]]
        for r in raw["results"]:
            cells[(r["name"], r["task"], r["seed"], r["workers"], r["n_evals"])] = r
        over.update({o["name"]: o for o in raw["overhead"]})
    out["results"], out["overhead"] = list(cells.values()), list(over.values())
    return out


# -- the section ------------------------------------------------------------------------------

class _Runs:
    """The successful runs, by (name, workers) -> task -> seed -> result."""

    def __init__(self, results: list[dict]):
        self.by: dict = defaultdict(lambda: defaultdict(dict))
        for r in results:
            if "error" not in r:
                self.by[(r["name"], r["workers"])][r["task"]][r["seed"]] = r

    def cells(self, *names: str, workers: int = 1, tasks: list[str] | None = None) -> tuple[list[str], set[int]]:
        """The tasks all ``names`` ran (of ``tasks``, in that order) and the seeds all ran on every one."""
        runs = [self.by.get((n, workers), {}) for n in names]
        common = [t for t in (tasks or sorted({t for r in runs for t in r})) if all(t in r for r in runs)]
        seeds = [set(r[t]) for r in runs for t in common]
        return common, (set.intersection(*seeds) if seeds else set())

    def task_mean(self, name: str, task: str, seeds: set[int], key: str, workers: int = 1) -> float:
        by_seed = self.by.get((name, workers), {}).get(task, {})
        vals = [by_seed[s]["at"][key] for s in seeds if s in by_seed]
        vals = [v for v in vals if v is not None]
        return float(np.mean(vals)) if vals and len(vals) == len(seeds) else math.nan

    def summary(self, name: str, tasks: list[str], seeds: set[int], key: str, workers: int = 1):
        """Mean over ``tasks`` of the per-task mean; s.e. over seeds of the per-seed mean over tasks."""
        runs = self.by.get((name, workers), {})
        per_seed = [np.mean([runs[t][s]["at"][key] for t in tasks]) for s in sorted(seeds)
                    if tasks and all(s in runs.get(t, {}) for t in tasks)]
        m, se = mean_se(per_seed)
        return m, se if len(per_seed) > 1 else math.nan


def report(raw: dict, img_dir: Path | None, doc_dir: Path) -> str:
    meta, labels, slow = raw["meta"], raw["labels"], raw["slow"]
    runs = _Runs(raw["results"])
    order = [n for n in raw["order"] if any(k[0] == n for k in runs.by)]
    all_tasks = lcbench_tasks("all")
    tasks = sorted({t for (n, w), by_task in runs.by.items() for t in by_task}, key=all_tasks.index)
    workers = sorted({w for (n, w) in runs.by})
    n = meta["evals"]
    key = str(n)
    subsets = "; ".join(f"{labels[nm]}: seeds 0..{sd - 1} of the first {nt} tasks" for nm, (sd, nt) in slow.items()
                        if nm in labels)
    out = [START, "## HPO on LCBench: ours vs NNI, Optuna, SMAC3, HEBO and Syne Tune (simulated from the table)", "",
           "* command" + ("s" if len(raw.get("parts", [])) > 1 else "") + ": "
           + "; ".join(f"`{p['command'].strip()}`" for p in raw.get("parts", [meta]))
           + (f"; rendered by `python -m bench.run_hpo --from-raw {' '.join(raw['rendered_from'])}`"
              if raw.get("rendered_from") else ""),
           f"* raw results: `{rel(RAW, REPO)}` (`make bench` renders every section from the raw results in "
           "`bench/results/`; `make bench-rerun` runs everything again)",
           f"* machine: {meta['machine']}; {meta['date']}; wall time {meta['wall_s'] / 60:.0f} min with "
           f"{meta['processes']} processes (summed over the commands)",
           f"* {len(tasks)} tasks, seeds 0..{meta['seeds'] - 1} per task; {n} full evaluations' epochs per run "
           f"({n} x 52 = {n * 52} epochs); simulated workers: {', '.join(map(str, workers))}",
           *([f"* **subsets** (minutes per run on this machine): {subsets}; every comparison with them uses the tasks "
              "and seeds both sides ran"] if subsets else []),
           "* one loop and one accounting for every contender (`bench/harness.py`): epochs charged as trained "
           "(a resumed configuration pays only its new epochs; a stopped trial only what it trained), the trial "
           "that would overshoot the budget cut at it, regret = best final accuracy of the task's table - "
           "accuracy of the incumbent at the epoch it was trained to (%).",
           "* defaults: ours are the registry's (our BO's were chosen on seeds 100..104, disjoint from those "
           "reported); the anchors run with their libraries' defaults."]
    out += [f"* {note}" for note in raw["notes"]]
    errors = defaultdict(list)
    for r in raw["results"]:
        if "error" in r:
            errors[(r["name"], r["error"])].append(r)
    out += [f"* **failed**: {labels.get(nm, nm)} ({len(rs)} runs): `{err[:300]}`" for (nm, err), rs in errors.items()]
    out.append("")
    for w in workers:
        out += _regret_table(runs, order, labels, tasks, n, key, w)
    out += _targets(runs, labels, tasks, n, key, raw)
    out += _epochs_table(runs, order, labels, tasks, n, key)
    out += _overhead_table(raw, order, labels, runs)
    if img_dir is not None:
        out += _plots(runs, order, labels, tasks, workers, img_dir, doc_dir, n * 52)
    wall = defaultdict(lambda: [0.0, 0])
    for r in raw["results"]:
        wall[r["name"]][0] += r["wall_s"]
        wall[r["name"]][1] += 1
    out += ["### Wall time (seconds summed over runs, one process each)", "",
            table(["contender", "runs", "seconds", "s per run"],
                  [[labels.get(nm, nm), str(wall[nm][1]), f"{wall[nm][0]:.0f}", f"{wall[nm][0] / wall[nm][1]:.2f}"]
                   for nm in raw["order"] if nm in wall]),
            "", END]
    return "\n".join(out)


def _regret_table(runs, order, labels, tasks, n, key, w) -> list[str]:
    ref = "nni_tpe"
    lines = [f"### Regret at {n} evaluations' epochs, {w} worker{'s' if w > 1 else ''}", "",
             "Mean over the tasks of the per-task mean over seeds, ± s.e. over seeds (a seed's draws are correlated "
             "across tasks, which share one table of 1,000 configurations). NNI TPE on the same tasks and seeds "
             "beside it, and the tasks where the contender's mean regret is lower than NNI TPE's.", ""]
    rows = []
    for name in order:
        if (name, w) not in runs.by:
            continue
        ts, seeds = runs.cells(name, workers=w, tasks=tasks)
        m, se = runs.summary(name, ts, seeds, key, w)
        cts, cseeds = runs.cells(name, ref, workers=w, tasks=tasks)
        tpe, _ = runs.summary(ref, cts, cseeds, key, w)
        better = sum(runs.task_mean(name, t, cseeds, key, w) < runs.task_mean(ref, t, cseeds, key, w) for t in cts)
        span = [r["makespan_h"] for by_seed in runs.by[(name, w)].values() for r in by_seed.values()]
        epochs = [r["epochs_total"] for by_seed in runs.by[(name, w)].values() for r in by_seed.values()]
        rows.append([labels[name], f"{len(ts)} x {len(seeds)}", fmt(m, se), "–" if name == ref else fmt(tpe),
                     "–" if name == ref else f"{better}/{len(cts)}", fmt(float(np.median(span)), None, 2),
                     f"{np.mean(epochs):,.0f}"])
    return lines + [table(["contender", "tasks x seeds", "regret", "NNI TPE, same cells", "tasks better than NNI TPE",
                           "makespan h", "epochs per run"], rows), ""]


def _targets(runs, labels, tasks, n, key, raw) -> list[str]:
    lines = ["### Targets", ""]
    classic = [a for a in CLASSIC_ANCHORS if (a, 1) in runs.by]
    if (OUR_BO, 1) in runs.by and classic:
        wins, detail = [], []
        for t in tasks:
            beaten = []
            for a in classic:
                ts, seeds = runs.cells(OUR_BO, a, tasks=[t])
                if ts:
                    beaten.append(runs.task_mean(OUR_BO, t, seeds, key) < runs.task_mean(a, t, seeds, key))
            if beaten and all(beaten):
                wins.append(t)
        for a in classic:
            ts, seeds = runs.cells(OUR_BO, a, tasks=tasks)
            better = sum(runs.task_mean(OUR_BO, t, seeds, key) < runs.task_mean(a, t, seeds, key) for t in ts)
            detail.append(f"{labels[a]} {better}/{len(ts)} tasks x {len(seeds)} seed(s)")
        need = math.ceil(2 * len(tasks) / 3)
        lines.append(f"* Our BO below the best of {{{', '.join(labels[a] for a in classic)}}} per task (each compared "
                     f"on the seeds both ran), at {n} evaluations, on at least 2/3 of the tasks: "
                     f"**{'met' if len(wins) >= need else 'missed'}** ({len(wins)}/{len(tasks)} tasks; lower than "
                     f"each alone: {'; '.join(detail)})")
    syne = [s for s in SYNE_MF if (s, 1) in runs.by]
    ours = [o for o in OUR_MF if (o, 1) in runs.by]
    if syne and ours:
        ts, seeds = runs.cells(*syne, *ours, tasks=tasks)
        best_name = min(syne, key=lambda s: runs.summary(s, ts, seeds, key)[0])
        best, _ = runs.summary(best_name, ts, seeds, key)
        parts = []
        for o in ours:
            m, _ = runs.summary(o, ts, seeds, key)
            parts.append(f"{labels[o]} {m:.2f} ({'met' if m <= best + 1e-9 else 'missed'})")
        lines.append(f"* Our multi-fidelity scheduler at the best Syne Tune method's regret ({labels[best_name]}: "
                     f"{best:.2f}) with no more epochs (every run spends exactly {n * 52} epochs), on {len(ts)} tasks x "
                     f"{len(seeds)} seeds: " + "; ".join(parts))
    if ("asha", 1) in runs.by and ("random", 1) in runs.by:
        ts, seeds = runs.cells("asha", "random", tasks=tasks)
        limit = n * 52 / 3
        reached = 0
        for t in ts:
            e = _epochs_to_reach([runs.by[("asha", 1)][t][s] for s in sorted(seeds)],
                                 runs.task_mean("random", t, seeds, key))
            reached += e is not None and e <= limit
        lines.append(f"* ASHA reaches random search's {n}-evaluation regret with at most 1/3 of its epochs "
                     f"({limit:.0f}) on 34/34 tasks: **{'met' if reached == len(ts) == 34 else 'missed'}** "
                     f"({reached}/{len(ts)} tasks)")
    for o in raw["overhead"]:
        if o["name"] == OUR_BO and "overhead" in o and "200" in o["overhead"]:
            ms = o["overhead"]["200"]
            lines.append(f"* BO ask+tell at most 0.1 s at 200 observations: **{'met' if ms <= 100 else 'missed'}** "
                         f"({ms:.0f} ms)")
    return lines + [""]


def _epochs_to_reach(rs: list[dict], target: float) -> float | None:
    """The first epoch count where the mean over runs of the best-so-far regret is at most ``target``."""
    curves = [Steps.from_json(r["epochs"]) for r in rs]
    grid = np.unique(np.concatenate([np.asarray(c.x) for c in curves if c.x] or [np.zeros(0)]))
    if not grid.size:
        return None
    ys = on_grid(curves, grid)
    m = np.where(np.isnan(ys), np.inf, ys).mean(axis=0)
    hit = np.nonzero(m <= target + 1e-12)[0]
    return float(grid[hit[0]]) if len(hit) else None


def _epochs_table(runs, order, labels, tasks, n, key) -> list[str]:
    aware = [nm for nm in order if (nm, 1) in runs.by and
             any(r["budget_aware"] for by_seed in runs.by[(nm, 1)].values() for r in by_seed.values())]
    if not aware or ("random", 1) not in runs.by:
        return []
    lines = [f"### Multi-fidelity: epochs to reach random search's regret at {n} evaluations", "",
             f"Per task: the first epoch count where the contender's mean (over seeds) best-so-far regret is at most "
             f"ours: random's mean regret after {n} evaluations ({n * 52} epochs), on the seeds both ran; median "
             "over the tasks reached.", ""]
    rows = []
    for nm in aware:
        ts, seeds = runs.cells(nm, "random", tasks=tasks)
        reached = []
        for t in ts:
            e = _epochs_to_reach([runs.by[(nm, 1)][t][s] for s in sorted(seeds)],
                                 runs.task_mean("random", t, seeds, key))
            if e is not None:
                reached.append(e)
        rows.append([labels[nm], f"{len(ts)} x {len(seeds)}", f"{len(reached)}/{len(ts)}",
                     f"{np.median(reached):.0f}" if reached else "–", f"{sum(e <= n * 52 / 3 for e in reached)}/{len(ts)}"])
    return lines + [table(["contender", "tasks x seeds", "tasks reached", "median epochs to reach",
                           f"tasks reached within {n * 52 / 3:.0f} epochs (1/3)"], rows), ""]


def _overhead_table(raw, order, labels, runs) -> list[str]:
    over = {o["name"]: o for o in raw["overhead"]}
    ks = raw["meta"].get("overhead_ks") or []
    if not over and not runs.by:
        return []
    lines = ["### Overhead per ask+tell", "",
             f"Median ms of `generate_parameters` + `receive_trial_result` + `trial_end` over the 5 calls after k "
             "observations of a sequential run (`bench.harness.overhead`, first task), and the mean over every call "
             "of the 1-worker runs above. Multi-fidelity contenders: runs only.", ""]
    rows = []
    for name in order:
        o = over.get(name, {})
        cols = [fmt(o["overhead"].get(str(k), math.nan), None, 1) if "overhead" in o else
                ("error" if "error" in o else "–") for k in ks]
        rs = [r for by_seed in runs.by.get((name, 1), {}).values() for r in by_seed.values()]
        per_call = sum(r["tuner_s"] for r in rs) / max(1, sum(r["n_records"] for r in rs)) * 1000 if rs else math.nan
        rows.append([labels[name]] + cols + [fmt(per_call, None, 1)])
    return lines + [table(["contender"] + [f"k={k} (ms)" for k in ks] + ["mean per call in runs (ms)"], rows), ""]


def _plots(runs, order, labels, tasks, workers, img_dir: Path, doc_dir: Path, max_epochs: int) -> list[str]:
    img_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for w in workers:
        for axis, grid, xlabel in (("time", np.geomspace(0.3, 60, 80), "simulated time / mean time of one full "
                                    "evaluation"), ("epochs", np.geomspace(10, max_epochs, 80), "epochs trained")):
            curves = {}
            for name in order:
                ts, seeds = runs.cells(name, workers=w, tasks=tasks)
                if len(ts) != len(tasks) or not seeds:      # the subsets have no curve over every task
                    continue
                seeds = sorted(seeds)
                per_seed = np.zeros((len(seeds), len(grid)))
                for t in ts:
                    rs = [runs.by[(name, w)][t][s] for s in seeds]
                    per_seed += on_grid([Steps.from_json(r[axis]) for r in rs], grid)
                per_seed /= len(ts)
                keep = ~np.isnan(per_seed).any(axis=0)
                if keep.any():
                    m = per_seed[:, keep].mean(axis=0)
                    se = per_seed[:, keep].std(axis=0, ddof=1) / math.sqrt(len(seeds)) if len(seeds) > 1 else 0 * m
                    curves[labels[name]] = (grid[keep], m, se)
            if curves:
                path = img_dir / f"hpo_lcbench_{axis}_w{w}.png"
                plot_anytime(curves, path, f"LCBench, {len(tasks)} tasks, {w} worker(s): mean over tasks of the "
                             "mean best-so-far regret (log scale)", xlabel)
                lines += [f"![LCBench regret vs {axis}, {w} worker(s)]({rel(path, doc_dir)})", ""]
    return lines


if __name__ == "__main__":
    sys.exit(main())
