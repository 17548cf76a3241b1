"""Transfer benchmarks (issue 13): warm-started search from a metadata store vs cold search.

    python -m bench.run_transfer [--part nb201,lcbench] [--nb-seeds 8] [--few tapas:3] [--lc-seeds 3]
                                 [--lc-tasks every3|all|N|id,id] [--processes 1] [--raw FILE]
                                 [--from-raw FILE] [--out docs/benchmarks.md] [--smoke]

**NAS-Bench-201, each data set in turn as the target, the other two as sources.** For each target the
bench builds a :class:`~nas_plugins.store.MetadataStore` in a temporary folder from the shared table
(``import_nb201`` of the *two other* data sets only: the sources' results are the table's
**validation** accuracies, 200 epochs, mean over seeds). A query of the target returns its validation
accuracy (``bench.problems.NB201``); the regret is the table's best test accuracy minus the test
accuracy of the incumbent (the architecture with the best validation accuracy so far), in %. Read off
after 0, 5, 10, 25 and 50 target queries; **0 queries** is the regret of the architecture the method
would pick without any target evaluation, i.e. its first proposal (for a cold method a random
architecture). Contenders, every one through ``bench.harness.run`` (sequential, 1 worker):

* ``xfernas``: ours, XferNAS with the store (g_u on both sources + a GP residual, EI), defaults;
* ``tapas_rank``: TAPAS's train-less ranking, queried in order (the issue's TAPAS row: TAPAS with
  ``refit_every`` above the budget, so no target result changes the ranking); ``tapas``: TAPAS with its
  defaults (the target's results mix in from 5 on; ``--few tapas:3``: 3 seeds, for its time). TAPAS's
  DCN of a data set is the *landmarker's* accuracy there: the table's validation accuracy / 100 of one
  fixed architecture, the cell with ``nor_conv_1x1`` on every edge (:data:`LANDMARK`, chosen before any
  run), for the sources (in the store's task metadata) and the target alike (costs one training on the
  target, as TAPAS's probe does; not counted as a query);
* ``weaknas``, ``evolution``: ours, cold (no store), defaults;
* ``best_of_sources``: query the sources' best architectures in order: every architecture ranked by the
  mean over the sources of the normal scores of its validation-accuracy rank (the scale XferNAS's g_u
  is fitted on); deterministic (one run).

**LCBench, leave one task out.** One store of all 34 tasks (``import_lcbench``: final validation
accuracy, %); the target task is excluded by ``target_task``. ``xfernas`` with the store (g_u on the
other 33 tasks + GP residual: BO warm-started from the store) vs cold ``bo`` (ours) and ``xfernas_cold``
(XferNAS without a store: its cold GP search), full 52-epoch evaluations, regret (best final
validation accuracy of the task's table - the incumbent's) after 10, 25 and 50 evaluations.
``--lc-tasks every3`` (the default) is every third task of the table, starting with the first (fixed
before any run: 12 of the 34 tasks).

Targets (issue 13): the warm start (``xfernas``) reaches the cold start's 50-query regret (mean over
seeds, and on LCBench over tasks) in at most 1/3 of the queries (16) on both benchmarks; on NB201 it
beats the best-of-sources baseline at every budget (0/5/10/25/50) on every data set.

``--raw FILE`` keeps the per-run results (gzip'd JSON; the published ones are
``bench/results/transfer.json.gz``), each finished run also in ``FILE.partial.jsonl`` at once, so a killed
command run again picks up where it stopped; ``--from-raw FILE`` renders the section without running.
The section goes between ``<!-- bench:transfer:start -->`` and ``<!-- bench:transfer:end -->`` of
``--out``. ``--smoke``: NB201 cifar100 target only, 1 seed, budgets up to 5, the baseline and
evolution, and one LCBench task with cold bo at 10 evaluations, into a temporary folder.
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from bench.report import fmt, load_raw, machine, mean_se, now, pool_map, save_raw, table, write_section  # noqa: E402

START, END = "<!-- bench:transfer:start -->", "<!-- bench:transfer:end -->"
REPO = Path(__file__).resolve().parent.parent
NB_BUDGETS = (0, 5, 10, 25, 50)
LC_BUDGETS = (10, 25, 50)
NB_METHODS = ("xfernas", "tapas_rank", "tapas", "weaknas", "evolution", "best_of_sources")
LC_METHODS = ("xfernas", "bo", "xfernas_cold")
LABELS = {"xfernas": "XferNAS (warm, store)", "tapas_rank": "TAPAS ranking in order (warm, no refit)",
          "tapas": "TAPAS, defaults (warm, refits from 5 results)", "weaknas": "WeakNAS (cold)",
          "evolution": "evolution (cold)", "best_of_sources": "best of sources, in order",
          "bo": "bo (cold)", "xfernas_cold": "XferNAS without store (cold GP)"}
WARM = {"xfernas", "tapas_rank", "tapas", "best_of_sources"}     # read a store
COLD_NB = ("weaknas", "evolution")
#: TAPAS's landmarker on NB201: one fixed cell (every edge a 1x1 convolution); its validation accuracy is the DCN.
LANDMARK = "|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|nor_conv_1x1~0|nor_conv_1x1~1|nor_conv_1x1~2|"
#: The figures the issue quotes (NB201 CIFAR-10, test accuracy %), published for RapidNAS.
PUBLISHED_C10 = {"best-of-sources baseline": 94.02, "RapidNAS": 94.37, "optimum": 94.37}
TARGET_FRACTION = 1 / 3


# -- stores (one per process, in a temporary folder) --------------------------------------------

_CACHE: dict = {}


def _tmpdir() -> Path:
    if "tmp" not in _CACHE:
        import atexit
        _CACHE["tmp"] = Path(tempfile.mkdtemp(prefix="bench_transfer_"))
        atexit.register(shutil.rmtree, _CACHE["tmp"], True)
    return _CACHE["tmp"]


def nb201_dcn(dataset: str) -> float:
    """The landmarker's accuracy on ``dataset``: the validation accuracy / 100 of :data:`LANDMARK`."""
    from bench.problems import NB201
    p = _problem(f"nb201/{dataset}")
    assert isinstance(p, NB201)
    return float(p.val[p.row[LANDMARK]]) / 100.0


def nb201_store(target: str) -> str:
    """A store of the two NB201 data sets other than ``target`` (validation accuracies), with their DCNs."""
    key = ("nb201", target)
    if key not in _CACHE:
        from bench.problems import NB201_DATASETS, benchmarks_dir
        from nas_plugins.store import MetadataStore
        from nas_plugins.transfer import set_dcn
        path = _tmpdir() / f"nb201_without_{target}.sqlite"
        sources = [d for d in NB201_DATASETS if d != target]
        with MetadataStore(path) as db:
            db.import_nb201(benchmarks_dir() / "nb201.csv.gz", datasets=sources)
            for d in sources:
                set_dcn(db, f"nb201/{d}", nb201_dcn(d))
        _CACHE[key] = str(path)
    return _CACHE[key]


def lcbench_store() -> str:
    """A store of all 34 LCBench tasks (the target is left out by ``target_task``)."""
    if "lcbench" not in _CACHE:
        from bench.problems import benchmarks_dir
        from nas_plugins.store import MetadataStore
        path = _tmpdir() / "lcbench.sqlite"
        with MetadataStore(path) as db:
            db.import_lcbench(benchmarks_dir() / "lcbench_curves.npz")
        _CACHE["lcbench"] = str(path)
    return _CACHE["lcbench"]


def _problem(spec: str):
    if spec not in _CACHE:
        from bench.problems import make_problem
        _CACHE[spec] = make_problem(spec)
    return _CACHE[spec]


# -- contenders ---------------------------------------------------------------------------------

def _ours(name: str, seed: int, **options):
    """Our registered strategy ``name`` as an NNI tuner with ``options``; a bad option raises here."""
    from tuners.hosts.nni_host import ADAPTERS
    tuner = ADAPTERS[name]["class"](optimize_mode="maximize", seed=int(seed), **options)
    if tuner._fatal is not None:
        raise ValueError(tuner._fatal)
    return tuner


class BestOfSources:
    """An NNI tuner proposing every configuration of the sources in the order of the mean, over the
    sources, of the normal scores of their results (deterministic; ties in the sources' order)."""

    def __init__(self, store: str, target_task: str):
        self.store, self.target_task = store, target_task
        self.order: list[dict] = []

    def update_search_space(self, search_space: dict) -> None:
        from nas_plugins.space import Space, config_key
        from nas_plugins.transfer import load_sources, normal_scores
        sources = load_sources(self.store, Space.from_nni(search_space), None, self.target_task, max_trials=None)
        total: dict[str, float] = {}
        count: dict[str, int] = {}
        configs: dict[str, dict] = {}
        for t in sources:
            for c, z in zip(t.configs, normal_scores(t.values)):
                k = config_key(c)
                configs.setdefault(k, c)
                total[k] = total.get(k, 0.0) + float(z)
                count[k] = count.get(k, 0) + 1
        keys = list(configs)
        score = np.array([total[k] / count[k] for k in keys])
        self.order = [configs[keys[i]] for i in np.argsort(-score, kind="stable")]

    def generate_multiple_parameters(self, parameter_id_list, **kwargs):
        import nni
        out = []
        for _ in parameter_id_list:
            if not self.order:
                raise nni.NoMoreTrialError("every source configuration proposed")
            out.append(dict(self.order.pop(0)))
        return out

    def receive_trial_result(self, *args, **kwargs) -> None:
        pass

    def trial_end(self, *args, **kwargs) -> None:
        pass


def make_tuner(bench: str, name: str, target: str, seed: int):
    """The tuner of contender ``name`` for ``target`` (an NB201 data set or an LCBench task id)."""
    from bench.anchors import get_contender
    if bench == "nb201":
        task = f"nb201/{target}"
        if name == "xfernas":
            return _ours("xfernas", seed, store=nb201_store(target), target_task=task)
        if name in ("tapas", "tapas_rank"):
            extra = {"refit_every": 10 ** 6} if name == "tapas_rank" else {}
            return _ours("tapas", seed, store=nb201_store(target), target_task=task, dcn=nb201_dcn(target), **extra)
        if name == "best_of_sources":
            return BestOfSources(nb201_store(target), task)
        return get_contender(name).make(seed, _problem(task))
    task = f"lcbench/{target}"
    if name == "xfernas":
        return _ours("xfernas", seed, store=lcbench_store(), target_task=task)
    if name == "xfernas_cold":
        return _ours("xfernas", seed)
    return get_contender(name).make(seed, _problem(task))


def run_cell(cell: tuple) -> dict:
    """One sequential run: ``(bench, method, target, seed, n_evals)`` -> the incumbent's regret after
    each query (``regret[i]``: after ``i + 1`` queries)."""
    from bench.harness import run
    bench, name, target, seed, n_evals = cell
    out = {"bench": bench, "name": name, "target": target, "seed": seed, "n_evals": n_evals}
    t0 = time.perf_counter()
    try:
        problem = _problem(f"{bench}/{target}")
        if name in WARM:            # the store is built once per process, outside the timed run
            nb201_store(target) if bench == "nb201" else lcbench_store()
        trace = run(lambda s, p: make_tuner(bench, name, target, s), problem, n_evals, 1, seed, strategy=name)
        out.update(regret=[round(float(r.regret), 4) for r in trace.records], n_records=len(trace.records),
                   stop_reason=trace.stop_reason, wall_s=trace.wall_s, tuner_s=trace.tuner_s)
    except Exception as exc:  # noqa: BLE001  (one broken contender must not take the run down)
        out.update(error=f"{type(exc).__name__}: {exc}", trace=traceback.format_exc(limit=6),
                   wall_s=time.perf_counter() - t0)
    return out


# -- command ------------------------------------------------------------------------------------

def lcbench_tasks(spec: str) -> list[str]:
    from bench.problems import lcbench_tasks as all_tasks
    tasks = all_tasks()
    if spec == "all":
        return tasks
    if spec.startswith("every"):
        return tasks[::int(spec[5:])]
    if spec.isdigit() and int(spec) <= len(tasks) and spec not in tasks:
        return tasks[:int(spec)]
    return [t for t in spec.split(",") if t]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run_transfer", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", default="nb201,lcbench", help="nb201 and/or lcbench (default both)")
    p.add_argument("--nb-seeds", type=int, default=8, help="seeds per NB201 target (default 8)")
    p.add_argument("--few", default="tapas:3", help="NAME:SEEDS,...: NB201 contenders run on fewer seeds "
                   "(default tapas:3: TAPAS with refits takes ~4x XferNAS's time)")
    p.add_argument("--nb-datasets", default="cifar10,cifar100,imagenet16", help="NB201 targets")
    p.add_argument("--nb-methods", default=",".join(NB_METHODS))
    p.add_argument("--nb-budget", type=int, default=max(NB_BUDGETS), help="target queries per NB201 run (50)")
    p.add_argument("--lc-seeds", type=int, default=3, help="seeds per LCBench task (default 3)")
    p.add_argument("--lc-tasks", default="every3", help="every3 (default: every third task), all, N, or ids")
    p.add_argument("--lc-methods", default=",".join(LC_METHODS))
    p.add_argument("--lc-evals", type=int, default=max(LC_BUDGETS), help="evaluations per LCBench run (50)")
    p.add_argument("--processes", type=int, default=1)
    p.add_argument("--raw", default=None, help="keep the per-run results here (gzip'd JSON)")
    p.add_argument("--from-raw", default=None, metavar="FILE", help="render from a --raw file; run nothing")
    p.add_argument("--out", default=None, help="markdown file to update (default docs/benchmarks.md)")
    p.add_argument("--smoke", action="store_true", help="a few-second end-to-end check, into a temp file")
    a = p.parse_args(argv)
    a.argv = list(sys.argv[1:] if argv is None else argv)
    if a.smoke:
        a.nb_seeds, a.nb_datasets, a.nb_methods, a.nb_budget = 1, "cifar100", "best_of_sources,evolution", 5
        a.lc_seeds, a.lc_tasks, a.lc_methods, a.lc_evals = 1, "1", "bo", 10
        if a.out is None:
            a.out = os.path.join(tempfile.mkdtemp(prefix="bench_transfer_"), "benchmarks.md")
    if a.out is None:
        a.out = str(REPO / "docs" / "benchmarks.md")
    return a


def plan(args) -> list[tuple]:
    """The cells, seed-major over both benchmarks (a run cut short compares everyone on the same seeds)."""
    parts = [s for s in args.part.split(",") if s]
    few = {k: int(v) for k, _, v in (item.partition(":") for item in args.few.split(",") if item)}
    cells = []
    if "nb201" in parts:
        for d in filter(None, args.nb_datasets.split(",")):
            for m in filter(None, args.nb_methods.split(",")):
                seeds = 1 if m == "best_of_sources" else min(args.nb_seeds, few.get(m, args.nb_seeds))
                cells += [("nb201", m, d, s, args.nb_budget) for s in range(seeds)]
    if "lcbench" in parts:
        for t in lcbench_tasks(args.lc_tasks):
            for m in filter(None, args.lc_methods.split(",")):
                cells += [("lcbench", m, t, s, args.lc_evals) for s in range(args.lc_seeds)]
    cells.sort(key=lambda c: (c[3], c[0] != "nb201", c[2], c[1]))
    return cells


def main(argv=None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    if args.from_raw:
        raw = load_raw(Path(args.from_raw))
    else:
        cells = plan(args)
        print(f"bench.run_transfer: {len(cells)} runs, {args.processes} processes", file=sys.stderr, flush=True)
        journal = Path(args.raw + ".partial.jsonl") if args.raw else None
        results = pool_map(run_cell, cells, args.processes, "transfer runs", reports=20, journal=journal)
        raw = {"meta": {"command": "python -m bench.run_transfer " + " ".join(args.argv), "machine": machine(),
                        "date": now(), "wall_s": time.perf_counter() - t0, "processes": args.processes,
                        "landmark": LANDMARK, "lc_tasks": args.lc_tasks,
                        "dcn": {d: nb201_dcn(d) for d in ("cifar10", "cifar100", "imagenet16")}},
               "results": results}
        if args.raw:
            save_raw(Path(args.raw), raw)
            if journal is not None:
                journal.unlink(missing_ok=True)
            print(f"raw results: {args.raw}", file=sys.stderr)
    text = report(raw)
    print(text)
    write_section(Path(args.out), text, START, END)
    print(f"\nwrote {args.out} (section {START} ... {END})", file=sys.stderr)
    errors = [r for r in raw["results"] if "error" in r]
    return 1 if errors and len(errors) == len(raw["results"]) else 0


# -- report -------------------------------------------------------------------------------------

def regret_at(r: dict, b: int) -> float:
    """The incumbent's regret after ``b`` queries; ``b = 0``: that of the first proposal."""
    reg = r.get("regret") or []
    if not reg or b > r["n_evals"]:
        return math.nan
    v = reg[min(max(b, 1), len(reg)) - 1]
    return math.nan if v is None else float(v)


def mean_curve(rs: list, n: int) -> np.ndarray:
    """Mean regret after 1..n queries over the runs ``rs``."""
    return np.array([np.nanmean([regret_at(r, q) for r in rs]) for q in range(1, n + 1)])


def first_reaching(curve: np.ndarray, level: float) -> int | None:
    """The first query count at which ``curve`` (after 1.. queries) is at most ``level``."""
    hit = np.nonzero(curve <= level + 1e-9)[0]
    return int(hit[0]) + 1 if len(hit) else None


def report(raw: dict) -> str:
    meta, results = raw["meta"], raw["results"]
    ok = [r for r in results if "error" not in r]
    errors = [r for r in results if "error" in r]
    by: dict = {}
    for r in ok:
        by.setdefault((r["bench"], r["name"], r["target"]), []).append(r)
    nb_targets = [d for d in ("cifar10", "cifar100", "imagenet16") if any(k[0] == "nb201" and k[2] == d for k in by)]
    lc_targets = sorted({k[2] for k in by if k[0] == "lcbench"}, key=lambda t: int(t) if t.isdigit() else t)
    seeds = lambda bench: sorted({r["seed"] for r in ok if r["bench"] == bench})  # noqa: E731
    out = [START, "## Transfer: warm start from a metadata store vs cold search (issue 13)", "",
           f"* command: `{meta['command']}`",
           f"* machine: {meta['machine']}", f"* date: {meta['date']}; wall time {meta['wall_s']:.0f} s "
           f"with {meta['processes']} process(es)",
           "* every contender runs as an NNI Tuner in the loop of `bench/harness.py`, sequentially (1 worker), "
           "with its default options; the stores are built by the bench in a temporary folder from the shared "
           "tables (`bench/run_transfer.py`'s docstring has the details)."]
    for r in errors:
        out.append(f"* **failed**: {r['name']} on {r['bench']}/{r['target']} seed {r['seed']}: `{r['error'][:300]}`")
    verdicts = []
    if nb_targets:
        out += nb201_section(meta, by, nb_targets, seeds("nb201"), verdicts)
    if lc_targets:
        out += lcbench_section(meta, by, lc_targets, seeds("lcbench"), verdicts)
    out += ["### Targets", ""] + verdicts + [""]
    wall: dict = {}
    for r in results:
        key = (r["bench"], r["name"])
        wall.setdefault(key, [0.0, 0])
        wall[key][0] += r.get("wall_s", 0.0)
        wall[key][1] += 1
    out += ["### Wall time (seconds summed over runs, one process)", "",
            table(["benchmark", "contender", "runs", "seconds", "s per run"],
                  [[b, LABELS.get(n, n), str(c), f"{s:.0f}", f"{s / c:.1f}"] for (b, n), (s, c) in wall.items()]),
            "", END]
    return "\n".join(out)


def _cell(rs: list, b: int) -> str:
    vals = [regret_at(r, b) for r in rs]
    m, se = mean_se(vals)
    return fmt(m, se if len(rs) > 1 else None)


def nb201_section(meta: dict, by: dict, targets: list, seeds: list, verdicts: list) -> list:
    methods = [m for m in NB_METHODS if any(("nb201", m, d) in by for d in targets)]
    longest = max(r["n_evals"] for rs in by.values() for r in rs if r["bench"] == "nb201")
    budgets = [b for b in NB_BUDGETS if b <= longest]
    dcn = meta.get("dcn", {})
    out = ["", "### NAS-Bench-201: each data set the target, the other two the sources", "",
           f"* targets: {', '.join(targets)}; seeds {', '.join(map(str, seeds))} per target and contender "
           "(best of sources is deterministic: one run" + "".join(
               f"; **{LABELS[m]}: seeds {', '.join(map(str, sm))} only** (`--few`, its time)"
               for m in methods for sm in [sorted({r['seed'] for d in targets for r in by.get(('nb201', m, d), [])})]
               if m != "best_of_sources" and sm != seeds) + ")",
           "* the sources' results in the store are the table's **validation** accuracies (200 epochs, mean over "
           "the benchmark's seeds) of the two other data sets, all 15,625 cells; a target query returns the "
           "target's validation accuracy; regret = the table's best **test** accuracy - the test accuracy of "
           "the incumbent (best validation accuracy so far), in %.",
           "* **0 queries** = the regret of the architecture the method picks without any target evaluation (its "
           "first proposal; a random cell for the cold methods). TAPAS's DCN of a data set: validation accuracy "
           f"/ 100 of the landmark cell `{meta.get('landmark', LANDMARK)}` ("
           + ", ".join(f"{d} {v:.3f}" for d, v in dcn.items()) + "); with its default window (0.1) and "
           "`min_sources` 1 it uses the source nearest in DCN.", ""]
    for d in targets:
        p = _problem(f"nb201/{d}")
        out += [f"#### Target {d} (sources: {', '.join(x for x in ('cifar10', 'cifar100', 'imagenet16') if x != d)};"
                f" best test accuracy {p.optimum:.2f}): test regret, mean ± s.e. over seeds, %", ""]
        rows = []
        for m in methods:
            rs = by.get(("nb201", m, d), [])
            if rs:
                rows.append([LABELS[m], str(len(rs))] + [_cell(rs, b) for b in budgets])
        out += [table(["contender", "runs"] + [f"{b} q." for b in budgets], rows), ""]
    # published figures (CIFAR-10, test accuracy)
    if "cifar10" in targets:
        opt = _problem("nb201/cifar10").optimum
        last = max(budgets)

        def acc(m, b):
            rs = by.get(("nb201", m, "cifar10"), [])
            return fmt(opt - mean_se([regret_at(r, b) for r in rs])[0]) if rs else "–"
        out += ["#### Published figures beside ours (NB201 CIFAR-10, test accuracy %)", "",
                "The figures the issue quotes, published for RapidNAS on NB201 (the issue: \"the best-of-sources "
                "baseline gives 94.02 on CIFAR-10, RapidNAS 94.37 of 94.37, MetaD2A's zero-shot method\"). Their "
                "sources and protocol differ from ours and the issue does not give their query count: read them "
                f"as anchors beside ours at 0 and at {last} target queries (mean over seeds), not as a "
                "like-for-like comparison.", "",
                table(["method", "published", "ours, 0 q.", f"ours, {last} q."],
                      [["best-of-sources baseline", f"{PUBLISHED_C10['best-of-sources baseline']:.2f}",
                        acc("best_of_sources", 0), acc("best_of_sources", last)],
                       ["RapidNAS", f"{PUBLISHED_C10['RapidNAS']:.2f}", "–", "–"]]
                      + [[LABELS[m] + " (ours)", "–", acc(m, 0), acc(m, last)] for m in methods
                         if m != "best_of_sources"]
                      + [["optimum of the table", f"{PUBLISHED_C10['optimum']:.2f}", f"{opt:.2f}", f"{opt:.2f}"]]),
                "", "Our sources are the complete tables of the two other NB201 data sets (every cell, 200 epochs), "
                "which makes the best-of-sources baseline strong here.", ""]
    # targets
    n = max(b for b in budgets)
    limit = int(math.floor(n * TARGET_FRACTION))
    if all(("nb201", m, d) in by for m in ("xfernas",) for d in targets):
        detail, met = [], True
        for d in targets:
            cold = [m for m in COLD_NB if ("nb201", m, d) in by]
            if not cold:
                met = False
                detail.append(f"{d}: no cold run")
                continue
            best_cold = min(cold, key=lambda m: np.nanmean([regret_at(r, n) for r in by[("nb201", m, d)]]))
            level = float(np.nanmean([regret_at(r, n) for r in by[("nb201", best_cold, d)]]))
            q = first_reaching(mean_curve(by[("nb201", "xfernas", d)], n), level)
            good = q is not None and q <= limit
            met &= good
            detail.append(f"{d}: {LABELS[best_cold]} at {n} q. {level:.3f}, XferNAS reaches it at "
                          f"{q if q is not None else f'> {n}'} q.{'' if good else ' ✗'}")
        verdicts.append(f"* NB201: the warm start (XferNAS) reaches the best cold method's {n}-query mean regret in "
                        f"at most {limit} queries (1/3) on every target: **{'met' if met else 'missed'}** "
                        f"({'; '.join(detail)})")
        if all(("nb201", "best_of_sources", d) in by for d in targets):
            detail, met = [], True
            for d in targets:
                worse = []
                for b in budgets:
                    x = np.nanmean([regret_at(r, b) for r in by[("nb201", "xfernas", d)]])
                    base = np.nanmean([regret_at(r, b) for r in by[("nb201", "best_of_sources", d)]])
                    if not x < base:
                        worse.append(f"{b} q. {x:.3f} vs {base:.3f}")
                met &= not worse
                detail.append(f"{d}: " + ("below at every budget" if not worse else "not below at " + ", ".join(worse)))
            verdicts.append(f"* NB201: XferNAS below the best-of-sources baseline (mean regret) at every budget "
                            f"({'/'.join(map(str, budgets))} q.) on every target: **{'met' if met else 'missed'}** "
                            f"({'; '.join(detail)})")
    return out


def lcbench_section(meta: dict, by: dict, targets: list, seeds: list, verdicts: list) -> list:
    from bench.problems import lcbench_tasks as all_tasks
    methods = [m for m in LC_METHODS if any(("lcbench", m, t) in by for t in targets)]
    n_all = len(all_tasks())
    longest = max(r["n_evals"] for rs in by.values() for r in rs if r["bench"] == "lcbench")
    budgets = [b for b in LC_BUDGETS if b <= longest]
    spec = str(meta.get("lc_tasks", ""))
    chosen = (f": every {'third' if spec == 'every3' else spec[5:] + 'th'} task of the table from the first, "
              "fixed before any run" if spec.startswith("every") else f" (`--lc-tasks {spec}`)")
    out = ["", "### LCBench: leave one task out", "",
           f"* tasks ({len(targets)} of {n_all}" + (chosen if len(targets) < n_all else "")
           + f"): {', '.join(targets)}; "
           f"seeds {', '.join(map(str, seeds))} per task and contender",
           f"* warm: XferNAS with a store of the other {n_all - 1} tasks (1,000 configurations each, final "
           "validation accuracy; g_u on them + a GP residual, EI: BO warm-started from the store); cold: our `bo`, "
           "and XferNAS without a store (its cold GP). Full 52-epoch evaluations; regret = the task table's best "
           "final validation accuracy - the incumbent's, in % (LCBench has no test split).", "",
           "#### Regret after 10/25/50 evaluations, mean ± s.e. over tasks x seeds (%)", ""]
    rows = []
    for m in methods:
        rs = [r for t in targets for r in by.get(("lcbench", m, t), [])]
        rows.append([LABELS[m], str(len(rs)), f"{regret_at_mean(rs, 1):.2f}"] + [_cell(rs, b) for b in budgets])
    out += [table(["contender", "runs", "1st proposal"] + [f"{b} ev." for b in budgets], rows), ""]
    if 10 in budgets:
        stuck = []
        for m in methods:
            rs = [r for t in targets for r in by.get(("lcbench", m, t), [])]
            same = sum(regret_at(r, 10) == regret_at(r, 1) for r in rs)
            stuck.append(f"{LABELS[m]} {same} of {len(rs)}")
        out += ["Runs whose incumbent after 10 evaluations is still as good as their first proposal (the regret "
                "unchanged): " + "; ".join(stuck) + ". A proposal is mapped to the nearest of the table's 1,000 "
                "configurations (`bench.problems.LCBench`), so distinct proposals can be the same table row.", ""]
    # per task
    n = max(budgets)
    limit = int(math.floor(n * TARGET_FRACTION))
    if all(("lcbench", m, t) in by for m in ("xfernas", "bo") for t in targets):
        rows, reached = [], 0
        for t in targets:
            level = float(np.nanmean([regret_at(r, n) for r in by[("lcbench", "bo", t)]]))
            q = first_reaching(mean_curve(by[("lcbench", "xfernas", t)], n), level)
            reached += q is not None and q <= limit
            rows.append([t] + [f"{np.nanmean([regret_at(r, b) for r in by[('lcbench', m, t)]]):.2f}"
                               for m in methods for b in (10, n) if b in budgets]
                        + [str(q) if q is not None else f"> {n}"])
        out += [f"#### Per task: mean regret over seeds at 10 and {n} evaluations, and the evaluations XferNAS needs "
                f"to reach cold bo's {n}-evaluation regret", "",
                table(["task"] + [f"{LABELS[m].split(' (')[0]} @{b}" for m in methods for b in (10, n) if b in budgets]
                      + ["XferNAS reaches bo@50 at"], rows), ""]
        cold_curve = np.nanmean([mean_curve(by[("lcbench", "bo", t)], n) for t in targets], axis=0)
        warm_curve = np.nanmean([mean_curve(by[("lcbench", "xfernas", t)], n) for t in targets], axis=0)
        q = first_reaching(warm_curve, float(cold_curve[-1]))
        good = q is not None and q <= limit
        verdicts.append(f"* LCBench: the warm start (XferNAS with the store) reaches cold bo's {n}-evaluation mean "
                        f"regret (mean over the {len(targets)} tasks: {cold_curve[-1]:.3f}) in at most {limit} "
                        f"evaluations (1/3): **{'met' if good else 'missed'}** (it reaches it at "
                        f"{q if q is not None else f'> {n}'} evaluations; per task, within {limit}: {reached} of "
                        f"{len(targets)} tasks)")
    return out


def regret_at_mean(rs: list, b: int) -> float:
    return float(np.nanmean([regret_at(r, b) for r in rs])) if rs else math.nan


if __name__ == "__main__":
    sys.exit(main())
