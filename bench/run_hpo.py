"""Run our strategies and the anchors side by side on LCBench and NAS-Bench-201.

    python -m bench.run_hpo [--seeds 20] [--nb201-seeds 100] [--tasks all|N|id,id] [--evals 50]
                            [--nb201-evals 100] [--workers 1,4] [--only name,...] [--processes 2]
                            [--out docs/benchmarks.md] [--smoke]

Strategies: ours (every tuner of the registry, through its NNI adapter; grid only when named in
``--only``) and the anchors (NNI Random, TPE, Anneal, Evolution, GP; Optuna TPE). Strategies named in ``--slow``
(default NNI GP, ~10 s per proposal; add "bo" to cut our GP-based BO too) run on the first
``--slow-tasks`` tasks and ``--slow-seeds`` seeds (NB201: ``--slow-nb201-seeds``) with
``--slow-workers``; the output says so. Cells (strategy, problem, seed, workers) run in
``--processes`` processes. The tables go to stdout and into ``--out``, between
``<!-- bench:hpo:start -->`` and ``<!-- bench:hpo:end -->`` (the rest of the file is kept);
anytime plots go to ``docs/img/`` (next to ``--out``).

``--smoke``: 2 LCBench tasks, 2 seeds, 10 evaluations, NB201 cifar10 with 2 seeds, two of our
strategies and NNI TPE, no overhead runs; writes to a temporary folder unless ``--out`` is given.
``--raw FILE`` keeps the per-cell results; ``--from-raw FILE...`` writes the tables from such
files (merged: e.g. a separate run of a slow strategy) without running anything.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import math
import os
import platform
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

START, END = "<!-- bench:hpo:start -->", "<!-- bench:hpo:end -->"
REPO = Path(__file__).resolve().parent.parent
NB201_CHECKPOINTS = (25, 50, 100)
REFERENCE = {  # the reference anchors of the issue
    "lcbench": {"nni_tpe": 3.23, "optuna_tpe": 4.04, "nni_random": 4.61, "nni_evolution": 4.80, "nni_anneal": 6.33},
    "nb201/cifar10@100": {"optuna_tpe": 0.11, "nni_anneal": 0.26, "nni_evolution": 0.41, "nni_random": 0.57,
                          "nni_tpe": 0.62},
    "overhead@100": {"nni_tpe": 2.0, "optuna_tpe": 16.0},
}


# -- cells --------------------------------------------------------------------------------------

def run_cell(cell: tuple) -> dict:
    """One (strategy, problem, seed, workers, n_evals) run, reduced to what the tables need."""
    name, spec, seed, workers, n_evals = cell
    out = {"name": name, "problem": spec, "seed": seed, "workers": workers, "n_evals": n_evals}
    problem, trace = search(out)
    if trace is None:
        return out
    a = trace.arrays()
    out.update(end=a["end"], regret=a["regret"], units=a["units"], epochs=a["epochs"],
               makespan=trace.makespan, wall_s=trace.wall_s, tuner_s=trace.tuner_s,
               n_records=len(trace.records), budget_aware=trace.budget_aware,
               stop_reason=trace.stop_reason, time_unit=problem.time_unit,
               at={u: trace.regret_after(u) for u in _checkpoints(spec, n_evals)})
    return out


def search(out: dict):
    """``(problem, trace)`` of one search of ``out["name"]`` on ``out["problem"]`` (seed, n_evals,
    workers: default 1, from ``out``); ``(None, None)`` if it raised, with the error, its traceback
    and ``wall_s`` recorded in ``out``: one broken strategy must not take the whole run down."""
    from bench.anchors import get_contender
    from bench.harness import run
    t0 = time.perf_counter()
    try:
        problem = _problem(out["problem"])
        return problem, run(get_contender(out["name"]).make, problem, out["n_evals"], out.get("workers", 1),
                            out["seed"], strategy=out["name"])
    except Exception as exc:
        out.update(error=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc(limit=6),
                   wall_s=time.perf_counter() - t0)
        return None, None


def run_overhead(cell: tuple) -> dict:
    name, spec, ks, reps = cell
    from bench.anchors import get_contender
    from bench.harness import overhead
    t0 = time.perf_counter()
    try:
        ms = overhead(get_contender(name).make, _problem(spec), ks=ks, reps=reps)
        return {"name": name, "overhead": ms, "wall_s": time.perf_counter() - t0}
    except Exception as exc:
        return {"name": name, "error": f"{type(exc).__name__}: {exc}", "wall_s": time.perf_counter() - t0}


_PROBLEMS: dict = {}


def _problem(spec: str):
    from bench.problems import make_problem
    if spec not in _PROBLEMS:
        _PROBLEMS[spec] = make_problem(spec)
    return _PROBLEMS[spec]


def _checkpoints(spec: str, n_evals: int) -> list[int]:
    if spec.startswith("nb201"):
        return [c for c in NB201_CHECKPOINTS if c <= n_evals] or [n_evals]
    return sorted({n_evals, max(1, n_evals // 2)})


def _map(fn, cells, processes: int, label: str, on_result=None, reports: int = 10):
    """Run cells in a pool (or inline for 1 process), printing progress ``reports`` times;
    ``on_result(result)`` is called on each result as it arrives."""
    results, n, t0 = [], len(cells), time.perf_counter()
    step = max(1, n // reports)
    if processes <= 1 or n <= 1:
        it = map(fn, cells)
        pool = None
    else:
        import multiprocessing as mp
        pool = mp.get_context("fork").Pool(processes, maxtasksperchild=200)
        it = pool.imap_unordered(fn, cells, chunksize=1)
    try:
        for i, r in enumerate(it, 1):
            results.append(r)
            if on_result is not None:
                on_result(r)
            if i % step == 0 or i == n:
                print(f"  {label}: {i}/{n} cells, {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return results


# -- the command --------------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run_hpo", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=20, help="seeds per LCBench task (default 20)")
    p.add_argument("--nb201-seeds", type=int, default=100, help="seeds per NB201 dataset (default 100)")
    p.add_argument("--tasks", default="all", help="LCBench tasks: all, N (the first N) or ids (default all)")
    p.add_argument("--datasets", default="cifar10,cifar100,imagenet16", help="NB201 datasets ('' for none)")
    p.add_argument("--evals", type=int, default=50, help="evaluations per LCBench run (default 50)")
    p.add_argument("--nb201-evals", type=int, default=100, help="queries per NB201 run (default 100)")
    p.add_argument("--workers", default="1,4", help="simulated parallel workers, comma-separated (default 1,4)")
    p.add_argument("--only", default="", help="strategies to run, comma-separated (ours by registry name, "
                   "anchors: nni_random, nni_tpe, nni_anneal, nni_evolution, nni_gp, optuna_tpe)")
    p.add_argument("--skip", default="", help="strategies to leave out, comma-separated")
    p.add_argument("--processes", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--slow", default="nni_gp",
                   help="strategies run on the subset below; NAME@lcbench or NAME@nb201 for one family only "
                        "(default nni_gp: ~10 s per proposal; our bo takes ~3 s per 50-evaluation LCBench run "
                        "and ~23 s per 100-query NB201 run; '' for none)")
    p.add_argument("--slow-tasks", type=int, default=4, help="LCBench tasks for slow strategies (default 4)")
    p.add_argument("--slow-seeds", type=int, default=2, help="seeds per task for slow strategies (default 2)")
    p.add_argument("--slow-nb201-seeds", type=int, default=10, help="NB201 seeds for slow strategies (default 10)")
    p.add_argument("--slow-workers", default="1", help="worker settings for slow strategies (default 1)")
    p.add_argument("--overhead-ks", default="100,200", help="observations before timing ask+tell ('' to skip)")
    p.add_argument("--overhead-slow", action="store_true", help="also time slow strategies (minutes each)")
    p.add_argument("--out", default=None, help="markdown file to update (default docs/benchmarks.md)")
    p.add_argument("--raw", default=None, help="also pickle the per-cell results here")
    p.add_argument("--from-raw", default=None, nargs="+", metavar="PICKLE",
                   help="write the tables from pickles of earlier --raw runs (merged) instead of running")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--smoke", action="store_true", help="a few-second end-to-end check, into a temp file")
    a = p.parse_args(argv)
    a.argv = list(sys.argv[1:] if argv is None else argv)
    if a.smoke:
        a.seeds, a.nb201_seeds, a.tasks, a.evals, a.nb201_evals = 2, 2, "2", 10, 10
        a.datasets, a.overhead_ks = "cifar10", ""
        if not a.only:
            a.only = ",".join(_smoke_ours() + ["nni_tpe"])
        if a.out is None:
            tmp = tempfile.mkdtemp(prefix="bench_hpo_")
            a.out = os.path.join(tmp, "benchmarks.md")
    if a.out is None:
        a.out = str(REPO / "docs" / "benchmarks.md")
    return a


def _smoke_ours() -> list[str]:
    """Two of our tuners for --smoke: random, then the first other registered one (grid last)."""
    from bench.anchors import our_names
    names = our_names()
    rest = [n for n in names if n != "random" and n != "grid"] + [n for n in names if n == "grid"]
    return (["random"] if "random" in names else []) + rest[:1]


def select(args) -> tuple[list, list[str]]:
    """The contenders to run, and notes on those left out."""
    from bench.anchors import EXCLUDED_BY_DEFAULT, contenders, get_contender, our_names
    notes = []
    skip = {s for s in args.skip.split(",") if s}
    if args.only:
        chosen = []
        for name in [s for s in args.only.split(",") if s]:
            try:
                chosen.append(get_contender(name))
            except KeyError as exc:
                if name in {"bo", "hyperband", "asha"}:
                    notes.append(f"`{name}` is not registered yet: skipped")
                else:
                    raise SystemExit(str(exc).strip('"'))
    else:
        chosen = contenders()
        notes += [f"`{n}` left out by default (not meaningful on these spaces; name it in --only to run it)"
                  for n in our_names() if n in EXCLUDED_BY_DEFAULT]
    out = []
    for c in chosen:
        if c.name in skip:
            continue
        if c.unavailable:
            notes.append(f"{c.label} unavailable: {c.unavailable}")
            continue
        out.append(c)
    return out, notes


def lcbench_specs(tasks: str) -> list[str]:
    from bench.problems import lcbench_tasks
    all_tasks = lcbench_tasks()
    if tasks in ("", "none", "0"):
        return []
    if tasks == "all":
        chosen = all_tasks
    elif tasks.isdigit():
        chosen = all_tasks[:int(tasks)]
    else:
        chosen = [t for t in tasks.split(",") if t]
        bad = [t for t in chosen if t not in all_tasks]
        if bad:
            raise SystemExit(f"unknown LCBench task(s) {bad}; tasks: {', '.join(all_tasks)}")
    return [f"lcbench/{t}" for t in chosen]


def main(argv=None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()
    chosen, notes = select(args)
    workers = [int(w) for w in args.workers.split(",") if w]
    slow_workers = [w for w in (int(x) for x in args.slow_workers.split(",") if x) if w in workers]
    lc = lcbench_specs(args.tasks)
    nb = [f"nb201/{d}" for d in args.datasets.split(",") if d]
    from bench.problems import make_problem

    cells, plan = [], {}
    slow = {x for x in args.slow.split(",") if x}
    for c in chosen:
        for spec_list, seeds, n_evals in ((lc, args.seeds, args.evals), (nb, args.nb201_seeds, args.nb201_evals)):
            if not spec_list:
                continue
            reason = c.supports(_problem(spec_list[0]))
            family = spec_list[0].split("/")[0]
            is_slow = c.name in slow or f"{c.name}@{family}" in slow
            ws = slow_workers if is_slow else workers
            if reason:
                notes.append(f"{c.label} not run on {family}: {reason}")
                continue
            specs, n_seeds = spec_list, seeds
            if is_slow:
                if family == "lcbench":
                    specs, n_seeds = spec_list[:args.slow_tasks], min(seeds, args.slow_seeds)
                else:
                    n_seeds = min(seeds, args.slow_nb201_seeds)
                plan[(c.name, family)] = (len(specs), n_seeds, ws)
            for spec in specs:
                for seed in range(n_seeds):
                    for w in ws:
                        cells.append((c.name, spec, seed, w, n_evals))
    # Longest first: slow strategies and 1-worker cells, so the pool's tail stays short.
    cells.sort(key=lambda cell: (-((cell[0], cell[1].split("/")[0]) in plan), -cell[4], cell[3], cell[1], cell[2]))
    ks = [int(k) for k in args.overhead_ks.split(",") if k]
    over = []
    if args.from_raw:
        import pickle
        results, plan = [], {}
        for path in args.from_raw:
            with open(path, "rb") as f:
                raw = pickle.load(f)
            results += raw["results"]
            over += raw["overhead"]
            ran = {(r["name"], r["problem"].split("/")[0]) for r in raw["results"]}
            for key in ran - set(raw.get("plan", {})):   # a later file's full run replaces an earlier subset
                plan.pop(key, None)
            plan.update(raw.get("plan", {}))
            notes += [n for n in raw.get("notes", []) if n not in notes]
            notes.append(f"includes the run `python -m bench.run_hpo {' '.join(raw['args'].get('argv', []))}` "
                         f"({raw.get('elapsed', float('nan')):.0f} s)")
        names = {c.name for c in chosen}
        ran_labels = {c.label for c in chosen if any(r["name"] == c.name for r in results)}
        notes = [nt for nt in notes if not any(nt.startswith(f"{lb} unavailable") for lb in ran_labels)]
        # The same cell in several files: the last one wins.
        cells_seen = {(r["name"], r["problem"], r["seed"], r["workers"], r["n_evals"]): r for r in results}
        results = [r for r in cells_seen.values() if r["name"] in names]
        over = list({o["name"]: o for o in over if o["name"] in names}.values())
        notes.append(f"tables written from {', '.join(args.from_raw)} (wall time: of this rendering only)")
        ks = []
    else:
        print(f"bench.run_hpo: {len(chosen)} strategies, {len(cells)} cells, {args.processes} processes",
              file=sys.stderr)
        results = _map(run_cell, cells, args.processes, "runs")
    if ks and lc:
        ocells = [(c.name, lc[0], tuple(ks), 5) for c in chosen if c.name not in slow or args.overhead_slow]
        over = _map(run_overhead, ocells, args.processes, "overhead")
        notes += [f"{c.label}: ask+tell overhead not timed at k observations (slow; --overhead-slow times it); "
                  f"the 'mean per call' column comes from its runs" for c in chosen if c.name in slow and not args.overhead_slow]
    elapsed = time.perf_counter() - t_start

    if args.raw:
        import pickle
        with open(args.raw, "wb") as f:
            pickle.dump({"args": vars(args), "results": results, "overhead": over, "plan": plan,
                         "notes": notes, "elapsed": elapsed}, f)

    img_dir = Path(args.out).resolve().parent / "img"     # --smoke: a temporary folder of its own
    text = report(args, chosen, results, over, notes, plan, elapsed, img_dir, Path(args.out).resolve().parent)
    print(text)
    write_section(Path(args.out), text)
    print(f"\nwrote {args.out} (section {START} ... {END})", file=sys.stderr)
    errors = [r for r in results if "error" in r]
    return 1 if errors and len(errors) == len(results) else 0


# -- tables -------------------------------------------------------------------------------------

def _fmt(m: float, se: float | None = None, digits: int = 2) -> str:
    if m is None or (isinstance(m, float) and math.isnan(m)):
        return "–"
    return f"{m:.{digits}f}" + (f" ± {se:.{digits}f}" if se is not None and not math.isnan(se) else "")


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _machine() -> str:
    import nni
    try:
        import optuna
        ov = optuna.__version__
    except ImportError:
        ov = "not installed"
    return (f"{platform.platform()}, {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}); "
            f"Python {platform.python_version()}, numpy {np.__version__}, nni {nni.__version__}, optuna {ov}")


def report(args, chosen, results, over, notes, plan, elapsed, img_dir: Path, doc_dir: Path) -> str:
    from bench.harness import mean_se, plot_anytime
    labels = {c.name: c.label for c in chosen}
    order = [c.name for c in chosen]
    ok = [r for r in results if "error" not in r]
    errors = [r for r in results if "error" in r]
    by = defaultdict(list)                      # (name, spec, workers) -> results
    for r in ok:
        by[(r["name"], r["problem"], r["workers"])].append(r)
    workers = sorted({r["workers"] for r in results}) or [int(w) for w in args.workers.split(",") if w]
    lc_specs = sorted({r["problem"] for r in ok if r["problem"].startswith("lcbench")},
                      key=lambda s: lcbench_specs("all").index(s))
    nb_specs = [s for s in (f"nb201/{d}" for d in args.datasets.split(",") if d) if any(r["problem"] == s for r in ok)]
    cmd = "python -m bench.run_hpo " + " ".join(args.argv)
    out = [START, "## HPO benchmarks: ours vs NNI's and Optuna's tuners (simulated from tables)", "",
           f"* command: `{cmd.strip()}`",
           f"* seeds: {_seeds_line(ok, plan)}; simulated workers: {', '.join(map(str, workers))}",
           f"* machine: {_machine()}",
           f"* date: {_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}; wall time "
           f"{elapsed:.0f} s with {args.processes} processes",
           "* every strategy runs as an NNI Tuner in the same loop (`bench/harness.py`: the calls of NNI's "
           "dispatcher, a simulated clock from the table's costs); regret = best in table - incumbent "
           "(LCBench: final validation accuracy, %; NB201: test accuracy, %, of the best-validation arch)."]
    for (name, family), (nt, ns, ws) in sorted(plan.items()):
        what = f"{nt} tasks x {ns} seeds" if family == "lcbench" else f"{ns} seeds per dataset"
        out.append(f"* **subset**: {labels.get(name, name)} (slow) ran on {family} with {what}, workers "
                   f"{','.join(map(str, ws))} (`--slow-tasks/--slow-seeds/--slow-nb201-seeds/--slow-workers`); "
                   "its comparisons use the same tasks and seeds for the other side")
    out += [f"* {n}" for n in notes]
    if errors:
        groups = defaultdict(list)
        for r in errors:
            groups[(r["name"], r["error"])].append(r)
        for (name, error), rs in groups.items():
            probs = sorted({r["problem"] for r in rs})
            out.append(f"* **failed**: {labels.get(name, name)} on {', '.join(probs)} ({len(rs)} cells): "
                       f"`{error[:300]}`")
    out.append("")

    # LCBench --------------------------------------------------------------------------------
    if lc_specs:
        n = args.evals
        ref = "nni_tpe" if "nni_tpe" in order else None
        out += [f"### LCBench: regret at {n} evaluations", "",
                f"Mean over tasks of the per-task mean over seeds, ± s.e. over seeds (of the mean over tasks: "
                f"seed s runs on every task, and the tasks share one table of 1,000 configurations, so a "
                f"seed's draws are correlated across tasks and the s.e. over tasks would understate the noise). "
                f"\"beats NNI TPE\": tasks where the strategy's mean regret is lower than NNI TPE's on the same "
                f"seeds. Makespan: median simulated hours for the {n} evaluations.", ""]
        max_seeds = max((len({r["seed"] for r in rs}) for (nm, spec, w), rs in by.items()
                         if spec.startswith("lcbench")), default=0)
        header = ["strategy"]
        for w in workers:
            header += [f"regret, {w} worker{'s' if w > 1 else ''}", f"beats NNI TPE ({w}w)", f"makespan h ({w}w)"]
        rows = []
        for name in order:
            row = [labels[name]]
            for w in workers:
                stats = _lc_stats(by, name, lc_specs, w, n)
                if stats is None:
                    row += ["–", "–", "–"]
                    continue
                beats, total = 0, 0
                if ref and name != ref:
                    for spec in stats["specs"]:
                        rs = by[(name, spec, w)]
                        seeds = {r["seed"] for r in rs}
                        rr = [r for r in by.get((ref, spec, w), []) if r["seed"] in seeds]
                        if rr:
                            total += 1
                            beats += np.mean([r["at"][n] for r in rs]) < np.mean([r["at"][n] for r in rr])
                subset = ""
                if len(stats["specs"]) != len(lc_specs) or stats["seeds"] != max_seeds:
                    subset = f" ({len(stats['specs'])} tasks x {stats['seeds']} seeds"
                    if ref and name != ref:
                        rs = _lc_stats(by, ref, stats["specs"], w, n, seeds=stats["seed_ids"])
                        if rs:
                            subset += f"; NNI TPE there: {rs['mean']:.2f}"
                    subset += ")"
                row += [_fmt(stats["mean"], stats["se"]) + subset, f"{beats}/{total}" if total else "–",
                        _fmt(stats["makespan_h"])]
            rows.append(row)
        out += [_table(header, rows), ""]
        refs = REFERENCE["lcbench"]
        cmp_rows = []
        for name in order:
            stats = _lc_stats(by, name, lc_specs, 1, n) if name in refs else None
            if stats:
                cmp_rows.append([labels[name], _fmt(stats["mean"], stats["se"]), f"{refs[name]:.2f}"])
        if cmp_rows and 1 in workers:
            out += [f"Anchors against the reference numbers of the issue (1 worker, {n} evaluations):", "",
                    _table(["anchor", "measured", "reference"], cmp_rows), ""]
        budget = budget_table(order, labels, by, lc_specs, n)
        if budget:
            out += budget
        if not args.no_plots:
            img_dir.mkdir(parents=True, exist_ok=True)
            for w in workers:
                curves = lcbench_curves(order, labels, by, lc_specs, w)
                if curves:
                    path = img_dir / f"hpo_lcbench_w{w}.png"
                    plot_anytime(curves, path, f"LCBench, {len(lc_specs)} tasks, {w} worker(s): mean over tasks "
                                 f"of mean best-so-far regret", "simulated time / mean time of one full evaluation")
                    out += [f"![LCBench anytime, {w} worker(s)]({_rel(path, doc_dir)})", ""]

    # NB201 ----------------------------------------------------------------------------------
    for spec in nb_specs:
        ds = spec.split("/")[1]
        cps = [c for c in NB201_CHECKPOINTS if c <= args.nb201_evals] or [args.nb201_evals]
        out += [f"### NAS-Bench-201 {ds}: test regret at {'/'.join(map(str, cps))} queries", "",
                "Mean ± s.e. over seeds of (best test accuracy in the table - test accuracy of the "
                "architecture with the best validation accuracy so far), in %.", ""]
        header = ["strategy", "workers", "seeds"] + [f"{c} queries" for c in cps] + ["makespan h (median)"]
        rows = []
        for name in order:
            for w in workers:
                rs = by.get((name, spec, w), [])
                if not rs:
                    continue
                rows.append([labels[name], str(w), str(len(rs))] +
                            [_fmt(*mean_se([r["at"].get(c, math.nan) for r in rs])) for c in cps] +
                            [_fmt(float(np.median([r["makespan"] for r in rs])) / 3600, None, 1)])
        out += [_table(header, rows), ""]
        if ds == "cifar10" and 100 in cps and 1 in workers:
            refs = REFERENCE["nb201/cifar10@100"]
            cmp_rows = [[labels[nm], _fmt(*mean_se([r["at"][100] for r in by[(nm, spec, 1)]])), f"{refs[nm]:.2f}"]
                        for nm in order if nm in refs and by.get((nm, spec, 1))]
            if cmp_rows:
                out += ["Anchors against the reference numbers of the issue (1 worker, 100 queries):", "",
                        _table(["anchor", "measured", "reference"], cmp_rows), ""]
        if not args.no_plots:
            img_dir.mkdir(parents=True, exist_ok=True)
            for w in workers:
                curves = {}
                for name in order:
                    rs = by.get((name, spec, w), [])
                    if rs:
                        curves[labels[name]] = _curve(rs, 3600.0)
                if curves:
                    path = img_dir / f"hpo_nb201_{ds}_w{w}.png"
                    plot_anytime(curves, path, f"NAS-Bench-201 {ds}, {w} worker(s): mean best-so-far test regret",
                                 "simulated hours")
                    out += [f"![NB201 {ds} anytime, {w} worker(s)]({_rel(path, doc_dir)})", ""]

    # overhead -------------------------------------------------------------------------------
    if over or ok:
        ks = [int(k) for k in args.overhead_ks.split(",") if k]
        lc0 = lc_specs[0] if lc_specs else None
        out += ["### Overhead per ask+tell (LCBench space)", "",
                f"Median ms of `generate_parameters` + `receive_trial_result` + `trial_end` over the 5 calls "
                f"after k observations (sequential run on task {lc0.split('/')[1] if lc0 else '–'}), and the mean "
                f"over all calls of the {args.evals}-evaluation 1-worker runs.", ""]
        header = ["strategy"] + [f"k={k} (ms)" for k in ks] + [f"mean per call in runs (ms)"]
        rows = []
        omap = {o["name"]: o for o in over}
        for name in order:
            o = omap.get(name, {})
            cols = [_fmt(o["overhead"].get(k, math.nan), None, 1) if "overhead" in o else
                    ("error" if "error" in o else "–") for k in ks]
            rs = [r for (nm, spec, w), lst in by.items() if nm == name and w == 1 and spec.startswith("lcbench")
                  for r in lst]
            per_call = (sum(r["tuner_s"] for r in rs) / max(1, sum(r["n_records"] for r in rs)) * 1000) if rs else math.nan
            rows.append([labels[name]] + cols + [_fmt(per_call, None, 1)])
        out += [_table(header, rows), ""]

    # wall time ------------------------------------------------------------------------------
    wt = defaultdict(lambda: [0.0, 0])
    for r in results:
        fam = r["problem"].split("/")[0]
        wt[(r["name"], fam, r["workers"])][0] += r["wall_s"]
        wt[(r["name"], fam, r["workers"])][1] += 1
    out += ["### Wall time (CPU seconds summed over cells, one process each)", "",
            _table(["strategy", "problem", "workers", "cells", "seconds", "s per cell"],
                   [[labels.get(nm, nm), fam, str(w), str(c), f"{s:.0f}", f"{s / c:.2f}"]
                    for (nm, fam, w), (s, c) in sorted(wt.items(), key=lambda kv: (order.index(kv[0][0])
                                                                                    if kv[0][0] in order else 99, kv[0][1:]))]),
            "", END]
    return "\n".join(out)


def _lc_stats(by: dict, name: str, specs: list, w: int, n: int, seeds=None) -> dict | None:
    """Mean over tasks of the per-task mean regret at ``n``; s.e. over seeds of the task mean
    (seeds that ran on every task of the strategy); median makespan in hours."""
    specs = [s for s in specs if by.get((name, s, w))]
    if not specs:
        return None
    runs = {s: [r for r in by[(name, s, w)] if seeds is None or r["seed"] in seeds] for s in specs}
    if any(not rs for rs in runs.values()):
        return None
    common = set.intersection(*({r["seed"] for r in rs} for rs in runs.values()))
    per_task = [np.mean([r["at"][n] for r in rs]) for rs in runs.values()]
    per_seed = [np.mean([r["at"][n] for rs in runs.values() for r in rs if r["seed"] == sd]) for sd in sorted(common)]
    se = float(np.std(per_seed, ddof=1) / math.sqrt(len(per_seed))) if len(per_seed) > 1 else math.nan
    return {"specs": specs, "mean": float(np.mean(per_task)), "se": se, "seeds": len(common), "seed_ids": common,
            "makespan_h": float(np.median([r["makespan"] / 3600 for rs in runs.values() for r in rs]))}


def _seeds_line(ok: list, plan: dict) -> str:
    """What ran, from the results (seeds 0..n-1 of each cell group; slow subsets listed apart)."""
    parts = []
    for family, what in (("lcbench", "evaluations"), ("nb201", "queries")):
        rs = [r for r in ok if r["problem"].startswith(family) and (r["name"], family) not in plan]
        if not rs:
            continue
        seeds = len({r["seed"] for r in rs})
        probs = sorted({r["problem"] for r in rs})
        evals = sorted({r["n_evals"] for r in rs})
        unit = "task" if family == "lcbench" else "dataset"
        parts.append(f"{family} seeds 0..{seeds - 1} per {unit} x {len(probs)} {unit}s, "
                     f"{'/'.join(map(str, evals))} {what}")
    return "; ".join(parts) or "none"


def _rel(path: Path, base: Path) -> str:
    try:
        return os.path.relpath(path, base)
    except ValueError:
        return str(path)


def _curve(rs: list, unit: float, grid: np.ndarray | None = None):
    """(x, mean, se) of best-so-far regret vs simulated time / ``unit`` over the runs ``rs``."""
    ends = np.concatenate([r["end"] for r in rs]) / unit
    if grid is None:
        lo, hi = max(ends.min(), 1e-6), ends.max()
        grid = np.geomspace(lo, hi, 80) if hi > lo else np.array([lo])
    ys = np.full((len(rs), len(grid)), np.nan)
    for i, r in enumerate(rs):
        idx = np.searchsorted(r["end"] / unit, grid, side="right") - 1
        ok = idx >= 0
        ys[i, ok] = r["regret"][idx[ok]]
    import warnings
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        m = np.nanmean(ys, axis=0)
        n = np.sum(~np.isnan(ys), axis=0)
        se = np.nanstd(ys, axis=0, ddof=1) / np.sqrt(np.maximum(n, 1))
    keep = n == len(rs)          # from the time every run has an incumbent
    return grid[keep], m[keep], np.nan_to_num(se[keep])


def _runs_on_grid(rs: list, unit: float, grid: np.ndarray) -> np.ndarray:
    """Best-so-far regret of each run at the times ``grid * unit`` (nan before its first result)."""
    ys = np.full((len(rs), len(grid)), np.nan)
    for i, r in enumerate(rs):
        idx = np.searchsorted(r["end"] / unit, grid, side="right") - 1
        ok = idx >= 0
        ys[i, ok] = r["regret"][idx[ok]]
    return ys


def lcbench_curves(order, labels, by, lc_specs, w) -> dict:
    """Per seed, the mean over tasks of best-so-far regret vs time in units of the task's mean full
    evaluation; then mean and s.e. over seeds (as in the table)."""
    curves = {}
    for name in order:
        specs = [spec for spec in lc_specs if by.get((name, spec, w))]
        if not specs:
            continue
        common = sorted(set.intersection(*({r["seed"] for r in by[(name, spec, w)]} for spec in specs)))
        hi = max(r["end"].max() / r["time_unit"] for spec in specs for r in by[(name, spec, w)])
        grid = np.geomspace(0.3, max(hi, 0.31), 80)
        per_seed = np.zeros((len(common), len(grid)))
        for spec in specs:
            rs = sorted((r for r in by[(name, spec, w)] if r["seed"] in common), key=lambda r: r["seed"])
            per_seed += _runs_on_grid(rs, rs[0]["time_unit"], grid)
        per_seed /= len(specs)
        keep = ~np.isnan(per_seed).any(axis=0)
        if keep.any():
            m = per_seed[:, keep].mean(axis=0)
            se = per_seed[:, keep].std(axis=0, ddof=1) / math.sqrt(len(common)) if len(common) > 1 else 0 * m
            label = labels[name] + (f" ({len(specs)} tasks)" if len(specs) != len(lc_specs) else "")
            curves[label] = (grid[keep], m, se)
    return curves


def budget_table(order, labels, by, lc_specs, n) -> list[str]:
    """Epochs a budget-aware strategy needs to reach random search's regret at ``n`` evaluations."""
    ref = "random" if "random" in order else ("nni_random" if "nni_random" in order else None)
    aware = [nm for nm in order if any(r.get("budget_aware") for (x, s, w), rs in by.items() if x == nm for r in rs)]
    if not aware:
        return []
    if ref is None:
        return ["### LCBench: epochs to reach random search's regret", "",
                "(random search not in this run: no target)", ""]
    ws = sorted({w for (_, _, w) in by})
    lines = [f"### LCBench, budget-aware strategies: epochs to reach random search's regret at {n} evaluations", "",
             f"Per task: the first point where the strategy's mean (over seeds) best-so-far regret, as a function of "
             f"epochs consumed (resumed epochs not counted again), is at most {labels[ref]}'s mean regret after {n} "
             f"evaluations ({n} x 52 = {n * 52} epochs). Median over the tasks reached.", ""]
    rows = []
    for nm in aware:
        for w in ws:
            reached, total, final = [], 0, []
            for spec in lc_specs:
                rs, rr = by.get((nm, spec, w), []), by.get((ref, spec, w), [])
                if not rs or not rr:
                    continue
                total += 1
                target = np.mean([r["at"][n] for r in rr])
                e = _epochs_to_reach(rs, target)
                if e is not None:
                    reached.append(e)
                final.append(np.mean([r["epochs"][-1] for r in rs]))
            if total:
                rows.append([labels[nm], str(w), f"{len(reached)}/{total}",
                             f"{np.median(reached):.0f}" if reached else "–", f"{n * 52}",
                             f"{np.mean(final):.0f}"])
    return lines + [_table(["strategy", "workers", "tasks reached", "median epochs to reach", "random's epochs",
                            "epochs used per run (mean)"], rows), ""]


def _epochs_to_reach(rs: list, target: float) -> float | None:
    grid = np.unique(np.concatenate([r["epochs"] for r in rs]))
    ys = np.full((len(rs), len(grid)), np.inf)
    for i, r in enumerate(rs):
        idx = np.searchsorted(r["epochs"], grid, side="right") - 1
        ok = idx >= 0
        vals = np.where(np.isnan(r["regret"]), np.inf, r["regret"])
        ys[i, ok] = vals[idx[ok]]
    m = ys.mean(axis=0)
    hit = np.nonzero(m <= target + 1e-12)[0]
    return float(grid[hit[0]]) if len(hit) else None


def write_section(path: Path, section: str, start: str = START, end: str = END) -> None:
    """Replace the text between the markers in ``path`` (or append it; create the file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if start in old and end in old and old.index(start) < old.index(end):
        new = old[:old.index(start)] + section + old[old.index(end) + len(end):]
    else:
        new = (old.rstrip("\n") + "\n\n" if old.strip() else "# Benchmarks\n\n") + section + "\n"
    path.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
