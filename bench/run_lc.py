"""Learning-curve early stopping on LCBench: models pre-trained on other tasks, defaults chosen apart.

    python -m bench.run_lc [--tasks all|N|id,id] [--seeds 2] [--trials 100] [--only name,...]
                           [--folds 3] [--dev-fold 0] [--deltas 0.05,0.1,0.2,0.3]
                           [--slow-tasks 2] [--slow-seeds 1] [--slow-trials 30] [--pretrain-steps 4000] [--processes 2]
                           [--out docs/benchmarks.md] [--raw FILE] [--from-raw FILE...] [--smoke]

Every run is one ``bench.harness.run`` (the simulator of every benchmark here): the tuner is random
search over the table, the contender its NNI assessor (ours through their NNI adapters).

For each task and seed, random search draws ``--trials`` configurations of the 1,000 in the table
(the same draws for every contender) and trains them one after the other; after every epoch the
assessor sees the curve so far (as NNI consults it) and may stop the trial. A trial that runs all
52 epochs is complete; the regret is the task's best final-epoch accuracy minus the final-epoch
accuracy of the best complete trial. Contenders: no early stopping; ours (median stop, curve
fitting, LCRankNet with transfer, LCRankNet online only); NNI's Medianstop and Curvefitting
assessors; our Hyperband (a tuner, so it draws its own configurations; given the epochs NNI's
Medianstop used on the same task and seed).

LCRankNet with transfer never sees the curves of the task it judges: its model is pre-trained on
the other 33 tasks (``--folds 0``), or, cheaper, on the other folds when the tasks are split into
``--folds K`` groups (models cached in ``runs/lc/models``, named by their held-out fold, options,
seed and code version; each seed's runs use a model pre-trained with that seed). LCRankNet's
``delta`` is chosen on the tasks of ``--dev-fold`` (the grid ``--deltas``: the largest epoch
reduction whose regret stays within +0.5 of no stopping, else the smallest regret increase), and
those tasks are left out of the reported tables. A second table gives every assessor the same epoch budget
(the epochs NNI's Medianstop used on that task and seed, random search going on through the table
until the budget is spent) and compares regrets task by task. Contenders in ``--slow`` (default
NNI's Curvefitting: its sampler needs seconds per decision) run on the first ``--slow-tasks``
tasks and ``--slow-seeds`` seeds (``--slow-trials`` trials each, default ``--trials``), and not in
the equal-epoch table; each of their runs also records no early stopping on the same trials.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from bench.report import load_raw, machine, now, pool_map, save_raw, write_section  # noqa: E402

START, END = "<!-- bench:lc:start -->", "<!-- bench:lc:end -->"
REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "runs" / "lc" / "models"
ASSESSORS = ("none", "median_stop", "curve_fit", "lcranknet", "lcranknet_online", "nni_medianstop",
             "nni_curvefitting")
CONTENDERS = ASSESSORS + ("hyperband",)
SLOW = ("nni_curvefitting",)
#: The online-only LCRankNet's delta (fixed: the published run used 0.1, the default before fold 0 chose 0.05).
ONLINE_DELTA = 0.1
REFERENCE = {"none": (5200, 2.32), "nni_medianstop": (2366, 2.33)}   # the reference run


def held_out(task: str, folds: int) -> list[str]:
    """The tasks left out of the model that judges ``task``: itself (``folds`` 0, leave one task
    out), or its whole fold (tasks split round-robin into ``folds`` groups)."""
    if folds <= 0:
        return [task]
    from bench.problems import lcbench_tasks
    tasks = lcbench_tasks()
    return tasks[tasks.index(task) % folds::folds]


#: What the cached models are pre-trained with (``pretrain_lcbench`` options besides tasks/steps/seed).
PRETRAIN_OPTIONS = {"members": 3, "uncertainty": True, "batch": 256}


def _code_version() -> str:
    """A hash of the code a pre-trained model depends on: a change there makes new models."""
    import hashlib
    import nas_plugins.lcbench as lcbench_module
    import nas_plugins.lcranknet as lcranknet_module
    h = hashlib.sha256()
    for module in (lcranknet_module, lcbench_module):
        h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()[:10]


def _model_file(task: str, steps: int, seed: int, folds: int) -> Path:
    """The cache file of one pre-trained model: its held-out tasks, options, seed and code version."""
    import hashlib
    import json
    options = json.dumps({**PRETRAIN_OPTIONS, "steps": steps}, sort_keys=True)
    tag = hashlib.sha256(options.encode()).hexdigest()[:8]
    held = f"loto-{task}" if folds <= 0 else f"fold{folds}-{held_out(task, folds)[0]}"
    return MODELS / f"{held}-steps{steps}-opt{tag}-code{_code_version()}-s{seed}.pt"


def model_path(task: str, steps: int, seed: int = 0, folds: int = 0) -> Path:
    """The LCRankNet that judges ``task`` in the runs of seed ``seed``, pre-trained with that seed on
    the other tasks only; made once and cached (see :func:`_model_file` for what the name pins)."""
    path = _model_file(task, steps, seed, folds)
    if not path.exists():
        import torch
        torch.set_num_threads(1)
        from nas_plugins.lcranknet import pretrain_lcbench
        path.parent.mkdir(parents=True, exist_ok=True)
        ranker = pretrain_lcbench(exclude=held_out(task, folds), steps=steps, seed=seed, **PRETRAIN_OPTIONS)
        tmp = path.with_suffix(".tmp")
        ranker.save(tmp)
        tmp.replace(path)
    return path


def make_assessor(name: str, task: str, seed: int, max_epoch: int, pretrain_steps: int, folds: int = 0):
    """The NNI assessor of contender ``name`` (None: no early stopping). Ours go through their NNI
    adapters (``tuners.hosts.nni_host.ADAPTERS``), as an NNI experiment would run them."""
    from nas_plugins.lcbench import LCBENCH_SPACE
    from tuners.hosts.nni_host import ADAPTERS
    ours = {"optimize_mode": "maximize"}
    if name == "none":
        return None
    if name == "median_stop":
        return ADAPTERS["median_stop"]["class"](**ours, start_step=5, seed=seed)
    if name == "curve_fit":
        return ADAPTERS["curve_fit"]["class"](**ours, max_step=max_epoch, seed=seed)
    if name.split("@")[0] == "lcranknet":           # "lcranknet@0.3": another delta
        delta = {"delta": float(name.split("@")[1])} if "@" in name else {}
        return ADAPTERS["lcranknet"]["class"](**ours, model_path=str(model_path(task, pretrain_steps, seed, folds)),
                                              background=False, seed=seed, **delta)
    if name == "lcranknet_online":
        # Refit after every 3rd finished trial (not every one) to keep the 100+ simulated runs affordable.
        return ADAPTERS["lcranknet"]["class"](**ours, search_space=LCBENCH_SPACE, background=False, refit_every=3,
                                              online_steps=200, seed=seed, delta=ONLINE_DELTA)
    if name == "nni_medianstop":
        from nni.algorithms.hpo.medianstop_assessor import MedianstopAssessor
        return MedianstopAssessor(optimize_mode="maximize", start_step=5)
    if name == "nni_curvefitting":
        from nni.algorithms.hpo.curvefitting_assessor import CurvefittingAssessor
        return CurvefittingAssessor(epoch_num=max_epoch, start_step=6, threshold=0.95)
    raise ValueError(f"unknown contender {name!r}; known: {', '.join(CONTENDERS)}")


class TableOrderTuner:
    """Random search over the table: proposes table configurations in a fixed (seeded) order, the
    same draws for every assessor. An NNI tuner (the calls the harness makes)."""

    def __init__(self, configs: list[dict]):
        self.configs = configs
        self.next = 0

    def update_search_space(self, space: dict) -> None:
        pass

    def generate_multiple_parameters(self, ids: list, **kwargs: Any) -> list[dict]:
        if self.next >= len(self.configs):
            return []
        self.next += 1
        return [dict(self.configs[self.next - 1])]

    def receive_trial_result(self, *args: Any, **kwargs: Any) -> None:
        pass

    def trial_end(self, *args: Any, **kwargs: Any) -> None:
        pass


# -- one run ---------------------------------------------------------------------------------------

def run_cell(cell: tuple) -> dict:
    """(contender, task index, seed, trials, pretrain steps, equal-epoch budget or None, folds).

    One run of ``bench.harness.run``: random search over the table (``trials`` trials, or until the
    epoch budget is spent) with the contender as NNI assessor; Hyperband is a tuner of its own."""
    import torch
    torch.set_num_threads(1)
    from bench.anchors import get_contender
    from bench.harness import run
    from bench.problems import LCBench
    name, ti, seed, trials, steps, budget, folds = cell
    problem = LCBench(ti)
    T = problem.max_budget
    rng = np.random.default_rng([seed, ti])
    order = [problem.table_config(int(i)) for i in rng.permutation(len(problem.configs))]
    t0 = time.perf_counter()
    n_evals = None if budget is None else budget / T
    if name == "hyperband":
        trace = run(get_contender("hyperband").make, problem, n_evals, seed=seed)
    else:
        assessor = make_assessor(name, problem.task, seed, T, steps, folds)
        trace = run(lambda s: TableOrderTuner(order), problem, n_evals, seed=seed,
                    assessor_factory=(lambda s: assessor) if assessor is not None else None,
                    max_trials=trials if budget is None else None)
        close = getattr(getattr(assessor, "stopper", None), "close", None)
        if callable(close):
            close()
    complete = [r for r in trace.records if r.value is not None and r.budget == T]
    out = {"epochs": trace.epochs, "complete": len(complete), "evals": len(trace.records),
           "regret": trace.final_regret}
    if budget is None and name != "hyperband":      # no early stopping on the same trials
        rows = [problem.nearest(c) for c in order[:trials]]
        out.update(base_epochs=len(rows) * T, base_regret=min(problem.regret(i) for i in rows))
    ms = trace.assess_ms
    out.update(name=name, task=problem.task, task_index=ti, seed=seed, budget=budget,
               wall_s=time.perf_counter() - t0, ms_median=float(np.median(ms)) if ms else float("nan"),
               ms_mean=float(np.mean(ms)) if ms else float("nan"), calls=len(ms))
    return out


# -- driver -----------------------------------------------------------------------------------------

def _map(fn: Callable, cells: list, processes: int, journal: Path | None = None) -> list:
    return pool_map(fn, cells, processes, "lc runs", journal=journal)


def _pretrain(args: tuple) -> str:
    task, steps, seed, folds = args
    return str(model_path(task, steps, seed, folds))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default="all")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--only", default="")
    ap.add_argument("--skip", default="")
    ap.add_argument("--slow", default=",".join(SLOW))
    ap.add_argument("--slow-tasks", type=int, default=2)
    ap.add_argument("--slow-seeds", type=int, default=1)
    ap.add_argument("--slow-trials", type=int, default=30, help="trials per run of the slow contenders")
    ap.add_argument("--pretrain-steps", type=int, default=4000)
    ap.add_argument("--folds", type=int, default=None,
                    help="0: leave one task out; K: leave its fold of K out (default 3; --smoke: 0)")
    ap.add_argument("--dev-fold", type=int, default=None,
                    help="with --folds K: the fold whose tasks choose LCRankNet's delta (-1: no choice, delta 0.1)")
    ap.add_argument("--deltas", default="0.05,0.1,0.2,0.3", help="the deltas tried on the dev fold")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--not-equal", default="lcranknet_online", help="contenders left out of the equal-epoch table")
    ap.add_argument("--out", default=None)
    ap.add_argument("--raw", default=None, help="keep the raw results here (gzip'd JSON; published: "
                    "bench/results/lc.json.gz)")
    ap.add_argument("--from-raw", nargs="*", default=None, help="write the tables from this raw file only")
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args(argv)
    if args.smoke:
        args.tasks, args.seeds, args.trials, args.pretrain_steps = "2", 1, 20, 100
        args.slow_tasks, args.slow_seeds, args.slow_trials = 1, 1, min(args.slow_trials, 20)
        args.folds = 0 if args.folds is None else args.folds
        args.dev_fold = -1 if args.dev_fold is None else args.dev_fold
    args.folds = 3 if args.folds is None else args.folds
    args.dev_fold = 0 if args.dev_fold is None else args.dev_fold
    out = Path(args.out) if args.out else (Path(tempfile.mkdtemp()) / "benchmarks.md" if args.smoke
                                            else REPO / "docs" / "benchmarks.md")
    command = "python -m bench.run_lc " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.from_raw is not None:
        raw = load_raw(Path(args.from_raw[0]))
        rows, meta = raw["rows"], dict(raw["meta"], rendered_from=args.from_raw[0])
    else:
        rows, meta = _run(args, command)
        if args.raw:
            save_raw(Path(args.raw), {"rows": rows, "meta": meta})
            Path(args.raw + ".partial.jsonl").unlink(missing_ok=True)
    section = render(rows, meta)
    print(section)
    write_section(out, section, START, END)
    print(f"written to {out}")
    return 0


def _run(args: argparse.Namespace, command: str) -> tuple[list[dict], dict]:
    from bench.problems import lcbench_tasks
    tasks = lcbench_tasks()
    if args.tasks == "all":
        chosen = list(range(len(tasks)))
    elif args.tasks.isdigit():
        chosen = list(range(min(int(args.tasks), len(tasks))))
    else:
        chosen = [tasks.index(t) for t in args.tasks.split(",")]
    names = [n for n in (args.only.split(",") if args.only else CONTENDERS) if n and n not in args.skip.split(",")]
    unknown = [n for n in names if n not in CONTENDERS and not n.startswith("lcranknet@")]
    if unknown:
        raise SystemExit(f"unknown contender(s) {unknown}; known: {', '.join(CONTENDERS)}")
    slow = set(args.slow.split(",")) if args.slow else set()
    dev = [ti for ti in chosen if args.folds > 0 and ti % args.folds == args.dev_fold] \
        if args.dev_fold >= 0 and "lcranknet" in names else []
    t0 = time.perf_counter()
    if any(n.startswith("lcranknet") and n != "lcranknet_online" for n in names):   # held-out models, one per seed
        models = {_model_file(tasks[ti], args.pretrain_steps, s, args.folds): (ti, s)
                  for ti in chosen for s in range(args.seeds)}
        _map(_pretrain, [(tasks[ti], args.pretrain_steps, s, args.folds) for ti, s in models.values()],
             args.processes)
    pretrain_s = time.perf_counter() - t0
    deltas = [float(d) for d in args.deltas.split(",") if d]
    journal = Path(args.raw + ".partial.jsonl") if args.raw else None   # finished runs, read back if run again
    select_rows, chosen_delta = [], None
    if dev:     # choose delta on the dev fold's tasks, then report on the others
        select = [(n, ti, s, args.trials, args.pretrain_steps, None, args.folds)
                  for n in ["none"] + [f"lcranknet@{d:g}" for d in deltas] for ti in dev for s in range(args.seeds)]
        select_rows = [dict(r, phase="select") for r in _map(run_cell, select, args.processes, journal)]
        chosen_delta = choose_delta(select_rows)
        names = [f"lcranknet@{chosen_delta:g}" if n == "lcranknet" else n for n in names]
        chosen = [ti for ti in chosen if ti not in dev]

    def cells(budget_of=None):
        out = []
        for name in names:
            if (name == "hyperband" and budget_of is None) or (name in slow and budget_of is not None) \
                    or (budget_of is not None and name in args.not_equal.split(",")):
                continue
            ts = chosen[:args.slow_tasks] if name in slow else chosen
            ss = range(args.slow_seeds) if name in slow else range(args.seeds)
            for ti in ts:
                for s in ss:
                    budget = None if budget_of is None else budget_of.get((ti, s))
                    if budget_of is not None and budget is None:
                        continue
                    trials = args.slow_trials if name in slow and args.slow_trials else args.trials
                    out.append((name, ti, s, trials, args.pretrain_steps, budget, args.folds))
        return out

    # The slow contenders first, so that their long runs do not leave a process idle at the end.
    rows = select_rows + _map(run_cell, sorted(cells(), key=lambda c: c[0] not in slow), args.processes, journal)
    ref = {(r["task_index"], r["seed"]): r["epochs"] for r in rows if r["name"] == "nni_medianstop"}
    if ref:
        rows += _map(run_cell, cells(ref), args.processes, journal)
    meta = {"command": command, "machine": machine(), "date": now(), "seeds": list(range(args.seeds)),
            "dev_fold": args.dev_fold if dev else None, "dev_tasks": [tasks[ti] for ti in dev], "deltas": deltas,
            "designated": f"lcranknet@{chosen_delta:g}" if dev else "lcranknet", "chosen_delta": chosen_delta,
            "trials": args.trials, "tasks": len(chosen), "pretrain_steps": args.pretrain_steps, "folds": args.folds,
            "pretrain_s": pretrain_s, "wall_s": time.perf_counter() - t0, "slow": sorted(slow & set(names)),
            "slow_tasks": args.slow_tasks, "slow_seeds": args.slow_seeds, "slow_trials": args.slow_trials or args.trials}
    return rows, meta


def choose_delta(rows: list[dict]) -> float:
    """The delta with the largest epoch reduction whose mean regret stays within +0.5 of no early
    stopping on the same runs (the target's own criterion), else the one with the smallest increase."""
    stats = {}
    for name in {r["name"] for r in rows if r["name"].startswith("lcranknet@")}:
        rs = [r for r in rows if r["name"] == name]
        ratio = _mean(r["base_epochs"] for r in rs) / _mean(r["epochs"] for r in rs)
        stats[float(name.split("@")[1])] = (ratio, _mean(r["regret"] for r in rs) - _mean(r["base_regret"] for r in rs))
    ok = [d for d, (ratio, dr) in stats.items() if dr <= 0.5]
    return max(ok, key=lambda d: stats[d][0]) if ok else min(stats, key=lambda d: stats[d][1])


LABELS = {"none": "no early stopping", "median_stop": "ours: median stop (NaspMedianStop)",
          "curve_fit": "ours: curve fitting (NaspCurveFit)",
          "lcranknet": "ours: LCRankNet, transfer (NaspLCRankNet, default delta {delta})",
          "lcranknet_online": "ours: LCRankNet, online only (delta {delta})", "nni_medianstop": "NNI Medianstop",
          "nni_curvefitting": "NNI Curvefitting", "hyperband": "ours: Hyperband (tuner, NaspHyperband)"}


def label(name: str, meta: dict | None = None) -> str:
    if meta and name == meta.get("designated") and meta.get("chosen_delta") is not None:
        return (f"ours: LCRankNet, transfer (NaspLCRankNet, delta {meta['chosen_delta']:g} chosen on fold "
                f"{meta['dev_fold']})")
    if name.startswith("lcranknet@"):
        return f"ours: LCRankNet, transfer, delta {name.split('@')[1]}"
    import inspect
    from tuners.lcranknet_stop import LCRankNetStop
    delta = ONLINE_DELTA if name == "lcranknet_online" else inspect.signature(LCRankNetStop).parameters["delta"].default
    return LABELS.get(name, name).format(delta=delta)


def _ordered(by: dict, names: tuple) -> list[str]:
    return [n for n in names if n in by] + sorted(n for n in by if n not in names)


def _mean(xs) -> float:
    xs = [x for x in xs if x is not None and x == x]     # nan is null in the raw JSON
    return float(np.mean(xs)) if xs else float("nan")


def render(rows: list[dict], meta: dict) -> str:
    select = [r for r in rows if r.get("phase") == "select"]
    rows = [r for r in rows if r.get("phase") != "select"]
    designated = meta.get("designated", "lcranknet")
    fixed = [r for r in rows if r.get("budget") is None and "error" not in r]
    equal = [r for r in rows if r.get("budget") is not None and "error" not in r]
    by = defaultdict(list)
    for r in fixed:
        by[r["name"]].append(r)
    held = ("leave one task out" if not meta.get("folds") else
            f"{meta['folds']} folds, each task judged by a model pre-trained on the other folds")
    lines = [START, f"## Learning-curve early stopping (LCBench, {held})", "",
             f"Command: `{meta['command']}`" + (f"; rendered by `python -m bench.run_lc --from-raw "
                                                 f"{meta['rendered_from']}`" if meta.get("rendered_from") else "")
             + "  ", "Raw results: `bench/results/lc.json.gz` (`make bench` renders this section from them).  ",
             f"Machine: {meta['machine']}; {meta['date']}.  "]
    if "seeds" in meta:
        lines += [f"Seeds {meta['seeds']} on {meta['tasks']} tasks, {meta['trials']} random-search trials per run "
                  f"(the same draws for every assessor), assessor consulted after every epoch. LCRankNet "
                  f"(transfer): "
                  + ("one model per task, pre-trained on the other 33 tasks only" if not meta.get("folds") else
                     f"tasks split round-robin into {meta['folds']} folds; each task is judged by a model "
                     f"pre-trained on the other folds only (never on its own curves)")
                  + f" ({meta['pretrain_steps']} steps each, one model per fold and seed, pre-trained with that "
                  f"seed; {meta['pretrain_s']:.0f} s for all). "
                  f"Whole run {meta['wall_s'] / 60:.1f} min.  "]
        if meta.get("slow"):
            lines.append(f"{', '.join(meta['slow'])}: first {meta['slow_tasks']} tasks, {meta['slow_seeds']} seed(s), "
                         f"{meta.get('slow_trials', meta['trials'])} trials per run only (slow); its row compares with "
                         "no early stopping on the same trials.  ")
    lines += ["", "Epochs per run and mean final regret (accuracy points; best final-epoch accuracy of the task "
              "minus that of the best trial run to the end). Ratio = epochs without early stopping / epochs "
              "with, on the same runs.", "",
              "| assessor | runs | epochs per run | fewer epochs | mean regret | regret without ES (same runs) | "
              "complete trials | ms per decision: median / mean | s per run |", "|---|---|---|---|---|---|---|---|---|"]
    summary = {}
    for name in _ordered(by, ASSESSORS):
        rs = by.get(name)
        if not rs:
            continue
        ep, base_ep = _mean(r["epochs"] for r in rs), _mean(r["base_epochs"] for r in rs)
        regret, base_regret = _mean(r["regret"] for r in rs), _mean(r["base_regret"] for r in rs)
        summary[name] = (base_ep / ep if ep else float("nan"), regret - base_regret)
        name_label = label(name, meta)
        ms, ms_mean = _mean(r["ms_median"] for r in rs), _mean(r.get("ms_mean", float("nan")) for r in rs)
        lines.append(f"| {name_label} | {len(rs)} | {ep:,.0f} | {base_ep / ep:.1f}x | {regret:.2f} | "
                     f"{base_regret:.2f} | {_mean(r['complete'] for r in rs):.1f} | "
                     f"{'-' if ms != ms else f'{ms:.2f} / {ms_mean:.2f}'} | {_mean(r['wall_s'] for r in rs):.1f} |")
    lines += ["", f"Reference run of the issue: no early stopping {REFERENCE['none'][0]:,} epochs at regret "
              f"{REFERENCE['none'][1]}; NNI Medianstop {REFERENCE['nni_medianstop'][0]:,} epochs at regret "
              f"{REFERENCE['nni_medianstop'][1]}."]
    better = {}
    if select:
        lines += _render_select(select, meta)
    if equal:
        lines += _render_equal(equal, better, meta)
    lines += _render_targets(summary, better, meta)
    lines.append(END)
    return "\n".join(lines)


def _render_select(rows: list[dict], meta: dict) -> list[str]:
    """How delta was chosen on the dev fold (whose tasks the other tables leave out)."""
    lines = ["", f"### Choosing LCRankNet's delta on fold {meta['dev_fold']} (tasks {', '.join(meta['dev_tasks'])})",
             "", "These tasks are left out of every other table here. Rule: the largest epoch reduction whose mean "
             "regret stays within +0.5 of no early stopping on the same runs, else the smallest increase.", "",
             "| delta | runs | fewer epochs | regret change | chosen |", "|---|---|---|---|---|"]
    for name in sorted({r["name"] for r in rows if r["name"] != "none"}, key=lambda n: float(n.split("@")[1])):
        rs = [r for r in rows if r["name"] == name]
        ratio = _mean(r["base_epochs"] for r in rs) / _mean(r["epochs"] for r in rs)
        dr = _mean(r["regret"] for r in rs) - _mean(r["base_regret"] for r in rs)
        d = float(name.split("@")[1])
        lines.append(f"| {d:g} | {len(rs)} | {ratio:.1f}x | {dr:+.2f} | {'**yes**' if d == meta['chosen_delta'] else ''} |")
    return lines


def _render_equal(rows: list[dict], better_count: dict, meta: dict) -> list[str]:
    """The equal-epoch table; ``better_count[name]`` gets (tasks better than Medianstop, tasks)."""
    by = defaultdict(dict)
    for r in rows:
        by[r["name"]][(r["task_index"], r["seed"])] = r
    ref = by.get("nni_medianstop", {})
    lines = ["", "### Equal epochs", "",
             "Each assessor gets the epochs NNI's Medianstop used on the same task and seed; random search goes on "
             "through the table until they are spent (Hyperband draws its own configurations). Per task, mean "
             "regret over seeds; \"tasks better\" counts tasks where the contender's regret is below Medianstop's "
             "(ties: equal within 0.005).", "",
             "| contender | runs | mean regret | tasks better / equal / worse than NNI Medianstop |", "|---|---|---|---|"]
    ref_task = defaultdict(list)
    for (ti, s), r in ref.items():
        ref_task[ti].append(r["regret"])
    for name in _ordered(by, CONTENDERS + (meta.get("designated", "lcranknet"),)):
        rs = by.get(name)
        if not rs:
            continue
        task = defaultdict(list)
        for (ti, s), r in rs.items():
            task[ti].append(r["regret"])
        better = equal = worse = 0
        for ti, regs in task.items():
            if ti not in ref_task or name == "nni_medianstop":
                continue
            d = _mean(regs) - _mean(ref_task[ti])
            better += d < -0.005
            worse += d > 0.005
            equal += abs(d) <= 0.005
        cmp = "-" if name == "nni_medianstop" else f"{better} / {equal} / {worse}"
        better_count[name] = (better, better + equal + worse)
        lines.append(f"| {label(name, meta)} | {len(rs)} | {_mean(r['regret'] for r in rs.values()):.2f} | {cmp} |")
    return lines


def _render_targets(summary: dict, better: dict, meta: dict) -> list[str]:
    """The issue's targets, each met or missed, from the two tables."""
    lines = ["", "### Targets", ""]
    d = meta.get("designated", "lcranknet")
    ranknets = [n for n in summary if n.startswith("lcranknet") and n != "lcranknet_online"]
    points = "; ".join(f"{label(n, meta)}: {summary[n][0]:.1f}x at {summary[n][1]:+.2f}" for n in ranknets)
    if d in summary:
        met = summary[d][0] >= 10 and summary[d][1] <= 0.5
        lines.append(f"* LCRankNet with transfer (the delta chosen apart): at least 10x fewer epochs than no early "
                     f"stopping with regret within +0.5 of it: **{'met' if met else 'missed'}** (fewer epochs and "
                     f"regret change, same runs: {points})")
    if d in better:
        b, n = better[d]
        lines.append(f"* Better regret than NNI Medianstop at equal epochs on a majority of tasks: "
                     f"**{'met' if 2 * b > n else 'missed'}** ({label(d, meta)}: better on {b} of {n} tasks)")
    if d in summary and "lcranknet_online" in summary:
        (rt, dt), (ro, do) = summary[d], summary["lcranknet_online"]
        lines.append(f"* Value of transfer: with transfer {rt:.1f}x fewer epochs at {dt:+.2f} regret; online only "
                     f"{ro:.1f}x at {do:+.2f}")
    return lines


if __name__ == "__main__":
    sys.exit(main())
