"""Multi-trial NAS strategies on NAS-Bench-201: ours vs NNI's and Optuna's tuners.

    python -m bench.run_nas [--seeds 50] [--budgets 25,50,100,200,500]
                            [--datasets cifar10,cifar100,imagenet16] [--only name,...]
                            [--slow bo | --slow weaknas:25:500,bo:3:100] [--slow-seeds 10]
                            [--slow-budget 200] [--processes 2] [--raw FILE]
                            [--from-raw FILE...] [--smoke] [--out docs/benchmarks.md]

Every contender (ours: random, evolution, reinforce, weaknas, bo; anchors: NNI Random, Evolution,
TPE, Anneal; Optuna TPE) searches sequentially (1 worker, ``bench.harness.run``) once per
(dataset, seed) up to the largest budget; the test regret of the incumbent (the architecture with
the best validation accuracy so far) is read off at every budget. Strategies named in ``--slow``
run with ``--slow-seeds`` seeds up to ``--slow-budget`` queries only (or their own
``NAME:SEEDS:BUDGET``); the output says so.
"Queries to the optimum": the number of queries until the architecture with the highest
validation accuracy of the dataset (the search target) is first queried, censored at the run's
budget. Tables go to stdout and into ``--out`` between ``<!-- bench:nas:start -->`` and
``<!-- bench:nas:end -->``; anytime plots to ``img/nas_<dataset>.png`` next to ``--out``.

``--smoke``: cifar10, 2 seeds, budgets 5,10, ours random and NNI Random, into a temporary folder
unless ``--out`` is given. ``--raw FILE`` keeps the per-run results; ``--from-raw FILE...``
writes the tables from such files (merged; the same run in a later file wins) without running.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from bench.report import fmt as _fmt, machine as _machine, now, pool_map as _map, rel as _rel, table as _table  # noqa: E402
from bench.report import write_section  # noqa: E402

START, END = "<!-- bench:nas:start -->", "<!-- bench:nas:end -->"
REPO = Path(__file__).resolve().parent.parent
DEFAULT = ["random", "evolution", "reinforce", "weaknas", "bo",
           "nni_random", "nni_evolution", "nni_tpe", "nni_anneal", "optuna_tpe"]
#: The reference anchors of the issue: mean test regret (%).
REFERENCE_C10 = {  # CIFAR-10 at 50/100/200 queries
    "optuna_tpe": (0.33, 0.11, 0.033), "nni_anneal": (0.51, 0.26, 0.14), "nni_evolution": (0.77, 0.41, 0.12),
    "nni_random": (0.73, 0.57, 0.50), "nni_tpe": (0.63, 0.62, 0.59)}
REFERENCE_MEAN100 = {"optuna_tpe": 0.53, "nni_anneal": 0.78, "nni_evolution": 1.15}
TARGET_BUDGETS = (50, 100, 200)


# -- runs -----------------------------------------------------------------------------------------

_PROBLEMS: dict = {}


def _problem(spec: str):
    from bench.problems import make_problem
    if spec not in _PROBLEMS:
        _PROBLEMS[spec] = make_problem(spec)
    return _PROBLEMS[spec]


def search(out: dict):
    """``(problem, trace)`` of one sequential search of ``out["name"]`` on ``out["problem"]``
    (``n_evals`` queries, ``seed``); ``(None, None)`` if it raised, with the error recorded in
    ``out``: one broken strategy must not take the whole run down."""
    import traceback
    from bench.anchors import get_contender
    from bench.harness import run
    t0 = time.perf_counter()
    try:
        problem = _problem(out["problem"])
        return problem, run(get_contender(out["name"]).make, problem, out["n_evals"], 1, out["seed"],
                            strategy=out["name"])
    except Exception as exc:  # noqa: BLE001
        out.update(error=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc(limit=6),
                   wall_s=time.perf_counter() - t0)
        return None, None


def run_cell(cell: tuple) -> dict:
    """One sequential (strategy, dataset, seed) search of ``n_evals`` queries."""
    name, spec, seed, n_evals = cell
    out = {"name": name, "problem": spec, "seed": seed, "n_evals": n_evals}
    problem, trace = search(out)
    if trace is None:
        return out
    index = np.array([r.index for r in trace.records], dtype=np.int64)
    target = int(np.argmax(problem.val))
    hit = np.nonzero(index == target)[0]
    out.update(regret=np.array([r.regret for r in trace.records]), index=index,
               to_opt=int(hit[0]) + 1 if len(hit) else None, n_records=len(trace.records),
               stop_reason=trace.stop_reason, wall_s=trace.wall_s, tuner_s=trace.tuner_s)
    return out


def _run_all(cells: list, processes: int, partial: str | None, append: bool) -> list:
    """Run the cells; each result is also appended to ``partial`` (a stream of pickles) as it
    arrives, so an interrupted run can be resumed (``--resume``) or rendered (``--from-raw``)."""
    import pickle
    if not partial:
        return _map(run_cell, cells, processes, "nb201 runs", reports=20)
    Path(partial).parent.mkdir(parents=True, exist_ok=True)
    with open(partial, "ab" if append else "wb") as f:
        def keep(r):
            pickle.dump(r, f)
            f.flush()
        return _map(run_cell, cells, processes, "nb201 runs", on_result=keep, reports=20)


def _load_stream(path: str) -> list:
    import pickle
    out = []
    with open(path, "rb") as f:
        while True:
            try:
                out.append(pickle.load(f))
            except EOFError:
                break
            except Exception:       # a truncated last record
                break
    return out


def _compact(r: dict) -> dict:
    """A run for the raw file: its regret curve as change points (``bench.report.Steps``)."""
    from bench.report import Steps
    out = {k: v for k, v in r.items() if k not in ("regret", "index")}
    if "regret" in r:
        out["regret_steps"] = Steps.from_records(range(1, len(r["regret"]) + 1), list(r["regret"])).to_json()
    return out


def _expand(r: dict) -> dict:
    from bench.report import Steps
    if "regret_steps" in r:
        steps = Steps.from_json(r.pop("regret_steps"))
        r["regret"] = np.array([steps.at(i) for i in range(1, r["n_records"] + 1)])
    return r


def _load_raw(path: str) -> dict:
    """A ``--raw`` file (gzip'd JSON), or a ``.partial`` stream of per-run results (pickles)."""
    import pickle
    if path.endswith(".json.gz"):
        from bench.report import load_raw
        raw = load_raw(Path(path))
        raw["results"] = [_expand(r) for r in raw["results"]]
        raw["plan"] = {k: tuple(v) for k, v in raw["plan"].items()}
        return raw
    with open(path, "rb") as f:
        first = pickle.load(f)
    if isinstance(first, dict) and "results" in first:
        return first
    return {"args": {"argv": [f"(interrupted run, partial results from {path})"]}, "results": _load_stream(path),
            "plan": {}, "notes": [], "elapsed": float("nan")}


def regret_at(r: dict, b: int) -> float:
    """Incumbent test regret after ``b`` queries (nan if the run was shorter than ``b`` by design)."""
    if b > r["n_evals"] or not len(r["regret"]):
        return math.nan
    return float(r["regret"][min(b, len(r["regret"])) - 1])


# -- command --------------------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run_nas", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=50, help="seeds per dataset (default 50)")
    p.add_argument("--budgets", default="25,50,100,200,500", help="query budgets read off (default 25,50,100,200,500)")
    p.add_argument("--datasets", default="cifar10,cifar100,imagenet16")
    p.add_argument("--only", default="", help="contenders, comma-separated (default: " + ",".join(DEFAULT) + ")")
    p.add_argument("--skip", default="", help="contenders to leave out")
    p.add_argument("--slow", default="bo", help="contenders run with --slow-seeds up to --slow-budget (default bo); "
                   "NAME:SEEDS:BUDGET sets both for one contender, e.g. weaknas:25:500,bo:3:100")
    p.add_argument("--slow-seeds", type=int, default=10)
    p.add_argument("--slow-budget", type=int, default=200)
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--out", default=None, help="markdown file to update (default docs/benchmarks.md)")
    p.add_argument("--raw", default=None, help="also pickle the per-run results here")
    p.add_argument("--from-raw", default=None, nargs="+", metavar="PICKLE")
    p.add_argument("--resume", action="store_true", help="skip the runs already in FILE.partial of --raw")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--smoke", action="store_true", help="a few-second end-to-end check, into a temp file")
    a = p.parse_args(argv)
    a.argv = list(sys.argv[1:] if argv is None else argv)
    if a.smoke:
        a.seeds, a.budgets, a.datasets = 2, "5,10", "cifar10"
        a.only = a.only or "random,nni_random"
        if a.out is None:
            a.out = os.path.join(tempfile.mkdtemp(prefix="bench_nas_"), "benchmarks.md")
    if a.out is None:
        a.out = str(REPO / "docs" / "benchmarks.md")
    a.budget_list = sorted({int(b) for b in a.budgets.split(",") if b})
    return a


def select(args):
    from bench.anchors import get_contender
    notes, out = [], []
    skip = {s for s in args.skip.split(",") if s}
    names = [s for s in args.only.split(",") if s] or DEFAULT
    for name in names:
        if name in skip:
            continue
        try:
            c = get_contender(name)
        except KeyError as exc:
            notes.append(f"`{name}` not available: {exc}")
            continue
        if c.unavailable:
            notes.append(f"{c.label} unavailable: {c.unavailable}")
            continue
        out.append(c)
    return out, notes


def main(argv=None) -> int:
    args = parse_args(argv)
    t_start = time.perf_counter()
    chosen, notes = select(args)
    specs = [f"nb201/{d}" for d in args.datasets.split(",") if d]
    slow = {}                                    # name -> (seeds, budget)
    for item in filter(None, args.slow.split(",")):
        name, *rest = item.split(":")
        seeds, budget = (int(v) for v in rest) if len(rest) == 2 else (args.slow_seeds, args.slow_budget)
        slow[name] = (seeds, budget)
    n_max = max(args.budget_list)
    plan = {}                                    # slow name -> (seeds, budget)
    cells = []
    for c in chosen:
        seeds, n = args.seeds, n_max
        if c.name in slow:
            seeds, n = min(args.seeds, slow[c.name][0]), min(n_max, slow[c.name][1])
            plan[c.name] = (seeds, n)
        for spec in specs:
            reason = c.supports(_problem(spec))
            if reason:
                notes.append(f"{c.label} not run on {spec}: {reason}")
                break
            cells += [(c.name, spec, s, n) for s in range(seeds)]
    if args.from_raw:
        results, plan_now, plan = [], dict(plan), {}
        for path in args.from_raw:
            raw = _load_raw(path)
            if not raw["plan"]:     # a partial stream: the slow settings of this command
                raw["plan"] = {k: v for k, v in plan_now.items() if any(r["name"] == k for r in raw["results"])}
            results += raw["results"]
            ran = {r["name"] for r in raw["results"]}
            for key in ran - set(raw.get("plan", {})):
                plan.pop(key, None)
            plan.update(raw.get("plan", {}))
            notes += [n for n in raw.get("notes", []) if n not in notes]
            notes.append(f"includes the run `python -m bench.run_nas {' '.join(raw['args'].get('argv', []))}` "
                         f"({raw.get('elapsed', float('nan')):.0f} s wall)")
        names = {c.name for c in chosen}
        results = list({(r["name"], r["problem"], r["seed"]): r for r in results if r["name"] in names}.values())
        notes.append(f"tables written from {', '.join(args.from_raw)} (wall time: of this rendering only)")
    else:
        # Seed-major (every contender and dataset for seed 0, then seed 1, ...), so a run cut short
        # still compares everyone on the same seeds; within a seed the slow ones first.
        cells.sort(key=lambda cl: (cl[2], -(cl[0] in plan), -(cl[0] == "weaknas"), cl[1], cl[0]))
        results = []
        partial = args.raw + ".partial" if args.raw else None
        if partial and args.resume and os.path.exists(partial):
            wanted = set(cells)       # runs of this command only (a longer run may have streamed more seeds)
            results = [r for r in _load_stream(partial) if "error" not in r
                       and (r["name"], r["problem"], r["seed"], r["n_evals"]) in wanted]
            done = {(r["name"], r["problem"], r["seed"], r["n_evals"]) for r in results}
            cells = [cl for cl in cells if cl not in done]
            print(f"resuming: {len(results)} runs from {partial}", file=sys.stderr, flush=True)
        print(f"running {len(cells)} runs in {args.processes} processes", file=sys.stderr, flush=True)
        results += _run_all(cells, args.processes, partial, append=bool(args.resume))
    elapsed = time.perf_counter() - t_start
    if args.raw:
        from bench.report import save_raw
        save_raw(Path(args.raw), {"args": {"argv": args.argv}, "results": [_compact(r) for r in results],
                                  "plan": plan, "notes": notes, "elapsed": elapsed})
    doc_dir = Path(args.out).resolve().parent
    text = report(args, chosen, results, notes, plan, elapsed, doc_dir / "img", doc_dir)
    print(text)
    write_section(Path(args.out), text, START, END)
    print(f"\nwrote {args.out} (section {START} ... {END})", file=sys.stderr)
    errors = [r for r in results if "error" in r]
    return 1 if errors and len(errors) == len(results) else 0


# -- report ---------------------------------------------------------------------------------------

def _ms(values) -> tuple[float, float]:
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    if not x.size:
        return math.nan, math.nan
    return float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else 0.0


def _opt_stats(rs: list) -> dict:
    """Queries to the optimum over runs ``rs``: mean over the runs that found it, median with
    censoring (inf if more than half did not find it within their budget), fraction found."""
    found = sorted(r["to_opt"] for r in rs if r["to_opt"] is not None)
    n = len(rs)
    vals = found + [math.inf] * (n - len(found))
    med = float(np.median(vals)) if n else math.inf    # inf: at least half censored
    budget = max((r["n_evals"] for r in rs), default=0)
    return {"mean": float(np.mean(found)) if found else math.nan, "median": med, "frac": len(found) / n if n else 0,
            "n": n, "budget": budget}


def _fmt_med(st: dict) -> str:
    return f"> {st['budget']}" if math.isinf(st["median"]) or math.isnan(st["median"]) else f"{st['median']:.0f}"


def report(args, chosen, results, notes, plan, elapsed, img_dir: Path, doc_dir: Path) -> str:
    labels = {c.name: c.label for c in chosen}
    origin = {c.name: c.origin for c in chosen}
    order = [c.name for c in chosen]
    ok = [r for r in results if "error" not in r]
    errors = [r for r in results if "error" in r]
    by = defaultdict(list)                        # (name, spec) -> runs
    for r in ok:
        by[(r["name"], r["problem"])].append(r)
    specs = [s for s in (f"nb201/{d}" for d in args.datasets.split(",") if d) if any(r["problem"] == s for r in ok)]
    budgets = args.budget_list
    cmd = ("python -m bench.run_nas " + " ".join(args.argv)).strip()
    seeds_full = sorted({r["seed"] for r in ok if r["name"] not in plan})

    def lab(name):
        if name in plan:
            return f"{labels[name]} ({plan[name][0]} seeds, ≤{plan[name][1]} queries)"
        return labels[name]

    out = [START, "## NAS benchmarks: multi-trial strategies on NAS-Bench-201 (sequential, simulated from the table)",
           "",
           f"* command: `{cmd}`",
           f"* seeds: 0..{max(seeds_full) if seeds_full else -1} per dataset for every contender "
           f"(the same seeds for all), one sequential run (1 worker) each up to {max(budgets)} queries, "
           f"regret read off at {'/'.join(map(str, budgets))} queries",
           f"* machine: {_machine()}",
           f"* date: {now()}; wall time "
           f"{elapsed:.0f} s with {args.processes} processes",
           "* every strategy runs as an NNI Tuner in the loop of `bench/harness.py`; it searches on the "
           "**validation** accuracy; regret = best **test** accuracy in the table ("
           + ", ".join(f"{s.split('/')[1]} {_problem(s).optimum:.2f}" for s in specs) + ") - test accuracy of the "
           "architecture with the best validation accuracy so far, in %.",
           "* **queries to the optimum**: per run, the number of queries until the architecture with the highest "
           "validation accuracy of the dataset (the search target) is first queried, censored at the run's budget. "
           "Reported: the mean over the runs that found it, the median over all runs with the censored ones "
           "counted as not found (\"> budget\" when more than half did not find it), and the fraction of runs "
           "that found it."]
    target_regret = {s: _target_regret(s) for s in specs}
    out.append("* **test regret of the search target itself** (validation and test accuracy disagree at the top): "
               + ", ".join(f"{s.split('/')[1]} {v:.2f}" for s, v in target_regret.items())
               + ". Where it is above 0, a search that finds the validation optimum more often can end with a "
                 "*higher* mean test regret than one that stops near it; the verdicts below show, for each missed "
                 "comparison, the share of runs that had found the target by then.")
    for name, (ns, nb) in sorted(plan.items()):
        out.append(f"* **subset**: {labels.get(name, name)} (slow) ran with {ns} seeds per dataset (seeds 0..{ns - 1}) "
                   f"up to {nb} queries (`--slow`)" + (f"; larger budgets show \"–\", and its queries to the optimum "
                                                       f"are censored at {nb}" if nb < max(budgets) else ""))
    out += [f"* {n}" for n in notes]
    if errors:
        groups = defaultdict(list)
        for r in errors:
            groups[(r["name"], r["error"])].append(r)
        for (name, error), rs in groups.items():
            out.append(f"* **failed**: {labels.get(name, name)} on {', '.join(sorted({r['problem'] for r in rs}))} "
                       f"({len(rs)} runs): `{error[:300]}`")
    out.append("")

    mean_reg: dict = {}                           # (name, spec, b) -> mean regret
    for name in order:
        for spec in specs:
            for b in budgets:
                mean_reg[(name, spec, b)] = _ms([regret_at(r, b) for r in by.get((name, spec), [])])[0]

    # per dataset ------------------------------------------------------------------------------
    opt = {(name, spec): _opt_stats(by[(name, spec)]) for name in order for spec in specs if by.get((name, spec))}
    for spec in specs:
        ds = spec.split("/")[1]
        out += [f"### NAS-Bench-201 {ds}: test regret (mean ± std over seeds, %) and queries to the optimum", ""]
        header = (["strategy", "runs"] + [f"{b} q." for b in budgets] +
                  ["to optimum: mean (found)", "median", "found"])
        rows = []
        for name in order:
            rs = by.get((name, spec), [])
            if not rs:
                continue
            st = opt[(name, spec)]
            rows.append([lab(name), str(len(rs))] + [_fmt(*_ms([regret_at(r, b) for r in rs])) for b in budgets] +
                        [_fmt(st["mean"], None, 0), _fmt_med(st), f"{st['frac']:.0%}"])
        out += [_table(header, rows), ""]
        if not args.no_plots:
            curves = {}
            for name in order:
                rs = by.get((name, spec), [])
                if not rs:
                    continue
                n = min(len(r["regret"]) for r in rs)
                ys = np.stack([r["regret"][:n] for r in rs])
                x = np.arange(1, n + 1)
                curves[lab(name)] = (x, np.nanmean(ys, axis=0),
                                     np.nanstd(ys, axis=0, ddof=1) / math.sqrt(len(rs)) if len(rs) > 1 else 0 * x)
            if curves:
                from bench.report import plot_anytime
                img_dir.mkdir(parents=True, exist_ok=True)
                path = img_dir / f"nas_{ds}.png"
                plot_anytime(curves, path, f"NAS-Bench-201 {ds}: mean test regret of the incumbent (± s.e.)",
                             "queries (sequential)", "test regret, %")
                out += [f"![NB201 {ds} anytime]({_rel(path, doc_dir)})", ""]

    # mean over datasets -----------------------------------------------------------------------
    if len(specs) > 1:
        out += [f"### Mean over the {len(specs)} datasets: test regret (mean ± std over seeds of the per-seed mean "
                "over datasets, %)", ""]
        rows = []
        for name in order:
            if not all(by.get((name, s)) for s in specs):
                continue
            common = sorted(set.intersection(*({r["seed"] for r in by[(name, s)]} for s in specs)))
            cols = []
            for b in budgets:
                per_seed = [np.mean([regret_at(r, b) for s in specs for r in by[(name, s)] if r["seed"] == sd])
                            for sd in common]
                cols.append(_fmt(*_ms(per_seed)))
            meds = [opt[(name, s)] for s in specs]
            rows.append([lab(name), str(len(common))] + cols + [" / ".join(_fmt_med(m) for m in meds)])
        out += [_table(["strategy", "seeds"] + [f"{b} q." for b in budgets] +
                       [f"median queries to optimum ({' / '.join(s.split('/')[1] for s in specs)})"], rows), ""]

    # reference anchors ------------------------------------------------------------------------
    c10 = "nb201/cifar10"
    ref_rows = []
    for name in order:
        if name in REFERENCE_C10 and by.get((name, c10)):
            row = [labels[name]]
            for b, ref in zip(TARGET_BUDGETS, REFERENCE_C10[name]):
                m = mean_reg.get((name, c10, b), math.nan) if b in budgets else math.nan
                row.append(f"{_fmt(m, None, 3)} (ref {ref:g})")
            if name in REFERENCE_MEAN100 and len(specs) == 3 and 100 in budgets:
                m = np.mean([mean_reg[(name, s, 100)] for s in specs])
                row.append(f"{m:.2f} (ref {REFERENCE_MEAN100[name]:g})")
            else:
                row.append("–")
            ref_rows.append(row)
    if ref_rows:
        out += ["### Anchors against the reference numbers of the issue", "",
                "Measured mean test regret (%) with the issue's reference in parentheses.", "",
                _table(["anchor"] + [f"cifar10 @ {b}" for b in TARGET_BUDGETS] + ["mean of 3 datasets @ 100"],
                       ref_rows), ""]

    # verdicts ---------------------------------------------------------------------------------
    out += verdicts(order, labels, origin, by, specs, budgets, mean_reg, opt, plan, target_regret)

    # wall time --------------------------------------------------------------------------------
    wt = defaultdict(lambda: [0.0, 0])
    for r in results:
        wt[r["name"]][0] += r["wall_s"]
        wt[r["name"]][1] += 1
    out += ["### Wall time (seconds summed over runs, one process each)", "",
            _table(["strategy", "runs", "seconds", "s per run"],
                   [[labels.get(nm, nm), str(c), f"{s:.0f}", f"{s / c:.2f}"] for nm, (s, c) in
                    sorted(wt.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)]),
            "", END]
    return "\n".join(out)


def _target_regret(spec: str) -> float:
    """Test regret of the architecture with the best validation accuracy (the search target)."""
    problem = _problem(spec)
    return problem.regret(int(np.argmax(problem.val)))


def _found_by(rs: list, b: int) -> float:
    """Share of the runs ``rs`` that had queried the search target within ``b`` queries."""
    return float(np.mean([r["to_opt"] is not None and r["to_opt"] <= b for r in rs])) if rs else math.nan


def verdicts(order, labels, origin, by, specs, budgets, mean_reg, opt, plan, target_regret) -> list[str]:
    anchors = [n for n in order if origin[n] == "anchor" and all(by.get((n, s)) for s in specs)]
    ours = [n for n in order if origin[n] == "ours" and all(by.get((n, s)) for s in specs)]
    tb = [b for b in TARGET_BUDGETS if b in budgets]
    lines = ["### Targets", ""]

    def found(n, m, s, b):      # for a missed comparison: who had found the search target
        return (f"(target found by {b}: {_found_by(by[(n, s)], b):.0%} vs {_found_by(by[(m, s)], b):.0%}; "
                f"its test regret {target_regret[s]:.2f})")
    if not anchors or not ours or not specs:
        return lines + ["(not enough contenders in this run to check the targets)", ""]

    def score(n):   # a slow contender that did not reach these budgets is not a candidate
        v = float(np.mean([mean_reg[(n, s, b)] for s in specs for b in (tb or budgets)]))
        return math.inf if math.isnan(v) else v

    ours = [n for n in ours if not math.isinf(score(n))] or ours

    best = min(ours, key=score)
    lines.append(f"Our best NAS strategy (lowest mean regret over the datasets at {'/'.join(map(str, tb or budgets))} "
                 f"queries; contenders that ran to those budgets): **{labels[best]}**"
                 + (f" ({plan[best][0]} seeds, ≤{plan[best][1]} queries)" if best in plan else "") + ".")
    lines.append("")
    # (a)
    detail, ok_a = [], True
    for s in specs:
        for b in tb:
            ba = min(anchors, key=lambda n: mean_reg[(n, s, b)])
            m, ma = mean_reg[(best, s, b)], mean_reg[(ba, s, b)]
            good = m < ma
            ok_a &= good
            detail.append(f"{s.split('/')[1]}@{b}: {m:.3f} vs {labels[ba]} {ma:.3f}"
                          + ("" if good else f" ✗ {found(best, ba, s, b)}"))
    if tb:
        lines.append(f"* (a) {labels[best]} below the best anchor at {'/'.join(map(str, tb))} queries on every "
                     f"dataset: **{'met' if ok_a else 'missed'}** ({'; '.join(detail)})")
    else:
        lines.append(f"* (a) not checked: none of the budgets {'/'.join(map(str, TARGET_BUDGETS))} in this run")
    # (b)
    detail, ok_b = [], True
    for s in specs:
        mo = opt[(best, s)]["median"]
        ba = min(anchors, key=lambda n: opt[(n, s)]["median"])
        ma = opt[(ba, s)]["median"]
        good = mo < ma
        ok_b &= good
        detail.append(f"{s.split('/')[1]}: {_fmt_med(opt[(best, s)])} (found {opt[(best, s)]['frac']:.0%}) vs "
                      f"{labels[ba]} {_fmt_med(opt[(ba, s)])} (found {opt[(ba, s)]['frac']:.0%})"
                      f"{'' if good else ' ✗'}")
    lines.append(f"* (b) {labels[best]} finds the optimum in fewer queries (median) than any anchor: "
                 f"**{'met' if ok_b else 'missed'}** ({'; '.join(detail)})")
    # (c)
    if "evolution" in order and "nni_evolution" in order and all(by.get((n, s)) for n in ("evolution", "nni_evolution")
                                                                  for s in specs):
        worse = []
        for s in specs:
            for b in budgets:
                m, mn = mean_reg[("evolution", s, b)], mean_reg[("nni_evolution", s, b)]
                if m > mn:
                    worse.append(f"{s.split('/')[1]}@{b}: {m:.3f} vs {mn:.3f} "
                                 f"{found('evolution', 'nni_evolution', s, b)}")
        summary = "; ".join(f"{s.split('/')[1]}: " + "/".join(f"{mean_reg[('evolution', s, b)]:.2f} vs "
                                                               f"{mean_reg[('nni_evolution', s, b)]:.2f}"
                                                               for b in budgets) for s in specs)
        lines.append(f"* (c) ours: evolution at least as good as NNI Evolution at every budget "
                     f"({'/'.join(map(str, budgets))}) on every dataset: **{'met' if not worse else 'missed'}** "
                     f"({summary}{'; worse at ' + ', '.join(worse) if worse else ''})")
    else:
        lines.append("* (c) ours: evolution vs NNI Evolution: not checked (one of them did not run)")
    return lines + [""]


if __name__ == "__main__":
    sys.exit(main())
