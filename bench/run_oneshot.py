"""One-shot NAS (SPOS, DARTS first and second order) judged against the mini201 ground truth.

    python -m bench.run_oneshot [--seeds 0,1,2] [--epochs 50] [--checkpoints 1,2,3,5,10,20,30,50]
                                [--raw bench/results/oneshot.json] [--from-raw FILE] [--smoke]
                                [--out docs/benchmarks.md]

Every method trains a :class:`nas_plugins.oneshot.Mini201Supernet` (the sizes of the table,
``mini201.SIZES``) for ``--epochs`` epochs of batches of 64 on the table's training images (fresh
noise per batch, as the stand-alone recipe), one process and one thread, with the one-shot trial's
default options (``trial_templates.oneshot_trial.DEFAULTS``: weight lr 0.05, weight decay 3e-4,
DARTS architecture lr 3e-3; set before the table existed, nothing here was tuned on it), the
trainers' other defaults and a cosine weight schedule over the run. DARTS takes its architect batches from the validation split. Per supernet seed:

* **ranking** (after the last epoch): Kendall tau, Spearman and P@top5% between the one-shot score of
  each of the table's 261 architectures and its stand-alone test accuracy (mean over the table's
  seeds). SPOS: accuracy of the path on the validation split (all noise draws) with the shared weights, with the BN
  statistics of training, and after recalibrating them on 4 training batches of 128 (``bn``).
  DARTS: the architecture weights, ``sum_edges log softmax(alpha)[op]``, maximised over the cells of
  the class;
* **search result and compute to quality**: at each of ``--checkpoints`` the method exports an
  architecture (SPOS: our evolution strategy, 50 estimates on the 400 validation images of one noise
  draw, BN recalibrated per path; DARTS: argmax per edge) and the CPU-seconds spent so far (training up to the checkpoint plus that export) are
  recorded with the exported architecture's table accuracy. Multi-trial random search and our
  evolution (``tuners.create("evolution")``, defaults) query the table (each query observes one
  seed's validation accuracy and is charged that seed's stand-alone training CPU-seconds) for
  ``--queries`` queries, seeds 0..``--mt-seeds``-1; their export is the incumbent (best observed
  validation accuracy). "CPU-s to top-10%": the first time the export is among the best 10% of the
  261 architectures by mean test accuracy (censored runs count at their last time, flagged);
* **cost per step**: CPU-seconds per step and peak memory (peak RSS growth of a fresh process over
  ``--cost-steps`` steps after one warm-up step) of DARTS first/second order and SPOS on the same supernet and batch, for
  the table's supernet and for NB201's at CIFAR width and resolution (C=16, N=1, 32x32, batch 64).

Tables go to stdout and into ``--out`` between ``<!-- bench:oneshot:start -->`` and
``<!-- bench:oneshot:end -->``. ``--raw`` keeps the per-run results as JSON (the repository keeps
``bench/results/oneshot.json``); ``--from-raw FILE`` writes the section from it without running.
``--smoke``: 1 seed, 1 epoch, 10 queries, 5 SPOS estimates, every 26th architecture ranked, the table's
supernet's cost only; into a temporary folder unless ``--out`` is given.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench import report as report_layer  # noqa: E402

START, END = "<!-- bench:oneshot:start -->", "<!-- bench:oneshot:end -->"
REPO = Path(__file__).resolve().parent.parent
METHODS = ("spos", "darts1", "darts2")
BATCH = 64
RECAL_BATCHES, RECAL_SIZE = 4, 128
SEARCH_BUDGET = 50                                   # SPOS: path estimates per export


# -- the ground truth -----------------------------------------------------------------------------

def truth() -> dict:
    """Table facts: the classes, their mean test accuracy, the top-10%/top-5% sets, the cells of each class."""
    import itertools

    from nas_plugins.spaces import mini201
    rows = mini201.read_table()
    archs = list(mini201.archs())
    missing = [a for a in archs if a not in rows]
    if missing:
        raise SystemExit(f"the mini201 table has {len(archs) - len(missing)} of {len(archs)} rows; finish it with "
                         "`python -m bench.make_groundtruth` first")
    test = {a: mini201.lookup(a)["test_acc"] for a in archs}
    order = sorted(archs, key=lambda a: -test[a])
    members: dict[str, list[dict]] = {a: [] for a in archs}
    for cell in itertools.product(mini201.OPS, repeat=len(mini201.EDGE_KEYS)):
        config = dict(zip(mini201.EDGE_KEYS, cell))
        members[mini201.canonical(config)].append(config)
    return {"archs": archs, "test": test, "top10": set(order[:math.ceil(0.1 * len(archs))]),
            "top5": set(order[:math.ceil(0.05 * len(archs))]), "members": members, "rows": rows}


def ranking(scores: dict[str, float], t: dict) -> dict:
    from scipy.stats import kendalltau, spearmanr
    archs = list(scores)
    s = np.array([scores[a] for a in archs])
    y = np.array([t["test"][a] for a in archs])
    k = math.ceil(0.05 * len(archs))                 # the true top 5% of the ranked architectures
    top_true = {archs[i] for i in np.argsort(-y, kind="stable")[:k]}
    top_est = {archs[i] for i in np.argsort(-s, kind="stable")[:k]}
    return {"kendall": float(kendalltau(s, y)[0]), "spearman": float(spearmanr(s, y)[0]),
            "p_top5": len(top_est & top_true) / k, "archs": len(archs)}


# -- one-shot runs --------------------------------------------------------------------------------

class Data:
    """The table's data as batches: training with fresh noise per batch, validation, BN recalibration."""

    def __init__(self, seed: int) -> None:
        from nas_plugins.spaces import mini201
        x_noisy, self.y_train, self.x_valid, self.y_valid, _, _ = mini201.load_data()
        self.clean = mini201.load_data(noise=0.0)[0]
        self.noise = float(mini201.RECIPE["noise"])
        self.gen = torch.Generator().manual_seed(seed)
        self.valid = [(self.x_valid[i:i + 1000], self.y_valid[i:i + 1000]) for i in range(0, len(self.x_valid), 1000)]
        n = int(mini201.RECIPE["n_valid"])         # the first noise draw: the validation images a user has
        self.search_valid = [(self.x_valid[:n], self.y_valid[:n])]
        rec = torch.Generator().manual_seed(10_000 + seed)
        idx = torch.randperm(len(self.clean), generator=rec)[:RECAL_BATCHES * RECAL_SIZE]
        x = self.clean[idx] + self.noise * torch.randn(self.clean[idx].shape, generator=rec)
        self.recal = [(x[i:i + RECAL_SIZE], self.y_train[idx][i:i + RECAL_SIZE])
                      for i in range(0, len(idx), RECAL_SIZE)]

    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.clean) / BATCH)

    def epoch(self):
        order = torch.randperm(len(self.clean), generator=self.gen)
        for i in range(0, len(order), BATCH):
            b = order[i:i + BATCH]
            yield self.clean[b] + self.noise * torch.randn(self.clean[b].shape, generator=self.gen), self.y_train[b]

    def valid_batch(self):
        b = torch.randint(len(self.x_valid), (BATCH,), generator=self.gen)
        return self.x_valid[b], self.y_valid[b]


def trainer_options(method: str) -> dict:
    """The one-shot trial's default options (``trial_templates.oneshot_trial.DEFAULTS``, set before the
    table existed): weight lr, weight decay, and for DARTS the architecture lr."""
    from trial_templates.oneshot_trial import DEFAULTS
    options = {"lr": DEFAULTS["lr"], "weight_decay": DEFAULTS["weight_decay"]}
    if method != "spos":
        options.update(order=int(method[-1]), arch_lr=DEFAULTS["arch_lr"])
    return options


def make_trainer(method: str, seed: int, total_steps: int):
    from nas_plugins.oneshot import Mini201Supernet, create_trainer
    return create_trainer("spos" if method == "spos" else "darts", Mini201Supernet(seed=seed), seed=seed,
                          total_steps=total_steps, **trainer_options(method))


def darts_scores(trainer, t: dict, archs: list[str]) -> dict[str, float]:
    from nas_plugins.spaces import mini201
    logp = torch.log_softmax(trainer.supernet.alpha.detach(), dim=-1).numpy()
    keys = list(mini201.EDGE_KEYS)

    def score(config):
        return float(sum(logp[e, mini201.OPS.index(config[k])] for e, k in enumerate(keys)))
    return {a: max(score(c) for c in t["members"][a]) for a in archs}


def spos_scores(trainer, data: Data, archs: list[str], recalibrate: bool) -> dict[str, float]:
    from nas_plugins.spaces import mini201
    out = {}
    for a in archs:
        config = mini201.from_arch_string(a)
        with trainer.recalibrated(config, data.recal if recalibrate else None):
            out[a] = trainer.estimate(config, data.valid)
    return out


def export(method: str, trainer, data: Data, seed: int, budget: int = SEARCH_BUDGET) -> tuple[dict, int]:
    """The method's exported architecture (and the number of path estimates it took)."""
    if method != "spos":
        return trainer.export(), 0
    import tuners
    strategy = tuners.create("evolution", trainer.supernet.search_space, seed=seed, mode="max")
    strategy.set_trial_budget(budget)
    result = trainer.search(strategy, data.search_valid, budget, bn_recalibration_data=data.recal)
    return result.best, len(result.history)


def run_oneshot(method: str, seed: int, epochs: int, checkpoints: list[int], rank_stride: int = 1,
                search_budget: int = SEARCH_BUDGET) -> dict:
    """Train one supernet; export at the checkpoints; rank the whole table at the end."""
    from nas_plugins.spaces import mini201
    torch.set_num_threads(1)
    t = truth()
    data = Data(seed)
    trainer = make_trainer(method, seed, epochs * data.steps_per_epoch())
    cpu = 0.0
    exports, last_loss = [], float("nan")
    for epoch in range(1, epochs + 1):
        start = time.process_time()
        for batch in data.epoch():
            last_loss = trainer.step(batch, data.valid_batch() if method != "spos" else None)["train_loss"]
        cpu += time.process_time() - start
        if epoch in checkpoints:
            start = time.process_time()
            arch, estimates = export(method, trainer, data, seed, search_budget)
            export_cpu = time.process_time() - start
            canon = mini201.canonical(arch)
            ops = list(mini201.from_arch_string(mini201.to_arch_string(arch)).values())
            exports.append({"epoch": epoch, "cpu_s": round(cpu + export_cpu, 3), "train_cpu_s": round(cpu, 3),
                            "arch": canon, "test_acc": t["test"][canon], "top10": canon in t["top10"],
                            "estimates": estimates, "none_edges": ops.count("none"),
                            "pool_edges": ops.count("avg_pool_3x3")})
    out = {"method": method, "seed": seed, "epochs": epochs, "steps": trainer.steps, "train_cpu_s": round(cpu, 3),
           "final_train_loss": last_loss, "exports": exports}
    archs = t["archs"][::rank_stride]
    if method == "spos":
        for recal in (False, True):
            scores = spos_scores(trainer, data, archs, recal)
            out["ranking_bn" if recal else "ranking"] = ranking(scores, t)
    else:
        out["ranking"] = ranking(darts_scores(trainer, t, archs), t)
        out["alpha_softmax"] = torch.softmax(trainer.supernet.alpha.detach(), -1).round(decimals=3).tolist()
    return out


# -- multi-trial on the table ---------------------------------------------------------------------

def run_multitrial(name: str, seed: int, queries: int) -> dict:
    import tuners
    from nas_plugins.spaces import mini201
    t = truth()
    k = seed % 2                                     # the table's training seed this run observes
    strategy = tuners.create(name, mini201.space(), seed=seed, mode="max")
    strategy.set_trial_budget(queries)               # as NNI's maxTrialNumber / AutoGluon's num_trials do
    cpu, best_valid, incumbent, trace = 0.0, -1.0, None, []
    for q in range(1, queries + 1):
        config = strategy.ask()
        row = t["rows"][mini201.canonical(config)]
        valid = float(row[f"valid_acc_seed{k}"])
        strategy.tell(config, valid)
        cpu += float(row[f"train_time_s_seed{k}"])
        changed = valid > best_valid
        if changed:
            best_valid, incumbent = valid, row["arch"]
        if changed or q == queries:                  # the trace keeps the incumbent's changes and the end
            trace.append({"query": q, "cpu_s": round(cpu, 3), "arch": incumbent, "test_acc": t["test"][incumbent],
                          "top10": incumbent in t["top10"]})
    return {"method": name, "seed": seed, "queries": queries, "trace": trace}


# -- cost per step --------------------------------------------------------------------------------

COST_SETUPS = {"mini201": {"space": "mini201", "sizes": {}, "image": (1, 8, 8)},
               "nb201-cifar": {"space": "nb201", "sizes": {"C": 16, "N": 1}, "image": (3, 32, 32)}}


def cost_child(method: str, setup: str, steps: int) -> dict:
    """(In a fresh process) seconds per step and the RSS growth of ``steps`` steps after a warm-up step."""
    from nas_plugins.oneshot import create_supernet, create_trainer
    torch.set_num_threads(1)
    s = COST_SETUPS[setup]
    g = torch.Generator().manual_seed(0)
    batch = (torch.randn(BATCH, *s["image"], generator=g), torch.randint(0, 10, (BATCH,), generator=g))
    net = create_supernet(s["space"], seed=0, **s["sizes"])
    trainer = (create_trainer("spos", net, seed=0) if method == "spos"
               else create_trainer("darts", net, order=int(method[-1]), seed=0))
    base = _reset_peak_rss()
    trainer.step(batch, batch)
    start = time.process_time()                      # CPU time of this one-thread process: robust to load
    for _ in range(steps):
        trainer.step(batch, batch)
    seconds = (time.process_time() - start) / steps
    return {"method": method, "setup": setup, "s_per_step": seconds, "peak_mib": (_peak_rss() - base) / 1024}


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> int:
    """Reset the process's peak resident set (Linux: ``clear_refs`` 5) and return the current RSS (KiB);
    elsewhere the peak so far (``ru_maxrss``), so the growth counts only beyond earlier peaks."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        rss = _status_kib("VmRSS")
        if rss is not None:
            return rss
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _peak_rss() -> int:
    peak = _status_kib("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_cost(steps: int, setups: list[str]) -> list[dict]:
    out = []
    for setup in setups:
        for method in ("darts1", "darts2", "spos"):
            proc = subprocess.run([sys.executable, "-m", "bench.run_oneshot", "--cost-child", f"{method}:{setup}",
                                   "--cost-steps", str(steps)], cwd=REPO, capture_output=True, text=True, check=True)
            out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"cost {setup} {method}: {out[-1]['s_per_step']:.3f} s/step, {out[-1]['peak_mib']:.0f} MiB",
                  file=sys.stderr, flush=True)
    return out


# -- report ---------------------------------------------------------------------------------------

def _msf(values, digits: int = 3) -> str:
    v = np.asarray(list(values), dtype=float)
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.{digits}f}"


def _to_top10(run: dict) -> tuple[float, bool]:
    points = run["exports"] if "exports" in run else run["trace"]
    for p in points:
        if p["top10"]:
            return p["cpu_s"], True
    return points[-1]["cpu_s"], False


LABELS = {"spos": "SPOS (+ evolution search)", "darts1": "DARTS, first order",
          "darts2": "DARTS, second order", "random": "multi-trial random search (table)",
          "evolution": "multi-trial evolution, ours (table)"}


def report(raw: dict) -> str:
    t = truth()
    meta = raw["meta"]
    one = [r for r in raw["runs"] if "exports" in r]
    multi = [r for r in raw["runs"] if "trace" in r]
    seeds = sorted({r["seed"] for r in one})
    test = np.array(list(t["test"].values()))
    top10_min = min(t["test"][a] for a in t["top10"])
    L = [START, "## One-shot NAS on the mini201 ground truth (SPOS, DARTS)", "",
         f"Command: `{meta['command']}`  ", f"Machine: {meta['machine']}  ", f"Date: {meta['date']}; "
         f"runtime {meta['runtime_s']:.0f} s", "",
         f"Ground truth: `bench/mini201.csv`, all {len(t['archs'])} architectures of `nas_plugins.spaces.mini201` "
         f"trained stand-alone with 2 seeds (`python -m bench.make_groundtruth`). Mean test accuracy: best "
         f"{test.max():.2f}, median {np.median(test):.2f}; top 10% = the {len(t['top10'])} best (test accuracy >= "
         f"{top10_min:.2f}), top 5% = the {len(t['top5'])} best.",
         f"One-shot: supernet seeds {', '.join(map(str, seeds))}, {one[0]['epochs']} epochs of batches of {BATCH} "
         f"({one[0]['steps']} steps) for every method; SPOS exports with {one[0]['exports'][0]['estimates']} "
         "path estimates; the one-shot trial's default options (set before the table "
         "existed, not tuned on it). "
         "Multi-trial: seeds " f"0-{max(r['seed'] for r in multi)}, {multi[0]['queries']} queries each.", ""]
    by = {m: [r for r in one if r["method"] == m] for m in METHODS}
    n_ranked = one[0]["ranking"]["archs"]
    L += [f"### Ranking: one-shot score vs stand-alone test accuracy ({n_ranked} architectures; mean ± std over "
          "supernet seeds)",
          "", "| method | Kendall tau | Spearman | P@top5% |", "|---|---|---|---|"]
    rows = [("SPOS, BN statistics of training", by["spos"], "ranking"),
            ("SPOS, BN recalibrated per path", by["spos"], "ranking_bn"),
            ("DARTS first order (architecture weights)", by["darts1"], "ranking"),
            ("DARTS second order (architecture weights)", by["darts2"], "ranking")]
    for label, runs, key in rows:
        L.append(f"| {label} | {_msf(r[key]['kendall'] for r in runs)} | {_msf(r[key]['spearman'] for r in runs)} | "
                 f"{_msf(r[key]['p_top5'] for r in runs)} |")
    L += ["", "### Search result and compute to quality", "",
          "Exported architecture after the last epoch / query (its mean stand-alone test accuracy from the table), "
          "and CPU-seconds until the export is first a top-10% architecture (mean over seeds; `n/N` runs got "
          "there, the others count at their total).", "",
          "| method | test acc. of the export | regret to the best | CPU-s total | CPU-s to top-10% | reached |",
          "|---|---|---|---|---|---|"]
    mt_time = None
    for m in (*METHODS, "random", "evolution"):
        runs = by.get(m) or [r for r in multi if r["method"] == m]
        if not runs:
            continue
        last = [(r["exports"] if "exports" in r else r["trace"])[-1] for r in runs]
        hits = [_to_top10(r) for r in runs]
        mean_time = float(np.mean([h[0] for h in hits]))
        if m == "evolution":
            mt_time = mean_time
        L.append(f"| {LABELS[m]} | {_msf([p['test_acc'] for p in last], 2)} | "
                 f"{_msf([test.max() - p['test_acc'] for p in last], 2)} | {np.mean([p['cpu_s'] for p in last]):.0f} | "
                 f"{mean_time:.0f} | {sum(h[1] for h in hits)}/{len(hits)} |")
    if mt_time:
        L += ["", "Ratio of CPU-seconds to a top-10% export, one-shot / multi-trial evolution (target <= 0.2): "
              + ", ".join(f"{m} {np.mean([_to_top10(r)[0] for r in by[m]]) / mt_time:.2f}" for m in METHODS if by[m])
              + "."]
    L += ["", "Exports at the checkpoints (epoch: mean test accuracy of the export (mean `none` / `avg_pool_3x3` "
          "edges of its 6), mean CPU-s so far):", ""]
    for m in METHODS:
        if not by[m]:
            continue
        eps = [p["epoch"] for p in by[m][0]["exports"]]
        cells = []
        for i, e in enumerate(eps):
            acc = np.mean([r["exports"][i]["test_acc"] for r in by[m]])
            none = np.mean([r["exports"][i]["none_edges"] for r in by[m]])
            pool = np.mean([r["exports"][i]["pool_edges"] for r in by[m]])
            cpu = np.mean([r["exports"][i]["cpu_s"] for r in by[m]])
            cells.append(f"{e}: {acc:.2f} ({none:.1f} / {pool:.1f}), {cpu:.0f} s")
        L.append(f"* {LABELS[m]}: " + "; ".join(cells))
    darts_last = [r["exports"][-1] for m in ("darts1", "darts2") for r in by[m]]
    if darts_last:
        free = np.mean([p["none_edges"] + p["pool_edges"] for p in darts_last])
        L += ["", f"DARTS and parameter-free operations (`none`, `avg_pool_3x3` in this space): its final exports "
              f"hold {free:.1f} parameter-free edges of 6 on average (first and second order, all seeds); a uniform "
              "draw holds 4 of 6. The next issue adds the counter-measures."]
    cost = raw.get("cost", [])
    if cost:
        L += ["", "### Cost per step (same supernet and batch of 64, one thread; ratios to DARTS first order)", "",
              "| supernet | method | CPU-s / step | ratio | peak memory growth (MiB) | ratio |", "|---|---|---|---|---|---|"]
        for setup in COST_SETUPS:
            rs = {c["method"]: c for c in cost if c["setup"] == setup}
            if "darts1" not in rs:
                continue
            base = rs["darts1"]
            for m in ("darts1", "darts2", "spos"):
                c = rs[m]
                L.append(f"| {setup} | {LABELS[m].split(' (')[0]} | {c['s_per_step']:.4f} | "
                         f"{c['s_per_step'] / base['s_per_step']:.2f} | {c['peak_mib']:.0f} | "
                         f"{c['peak_mib'] / max(base['peak_mib'], 1e-9):.2f} |")
        L += ["", "Peak memory: the peak resident set size of a fresh process during the steps minus its size "
              "before them (Linux: the peak is reset first; the supernet and the batch are allocated before)."]
    L += ["", END]
    return "\n".join(L)


def write_section(path: Path, section: str) -> None:
    report_layer.write_section(path, section, START, END)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--checkpoints", default="1,2,3,5,10,20,30,50")
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--mt-seeds", type=int, default=30)
    p.add_argument("--cost-steps", type=int, default=5)
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--raw", default=None)
    p.add_argument("--from-raw", default=None)
    p.add_argument("--out", default=None)
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--cost-child", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.cost_child:
        method, setup = a.cost_child.split(":")
        print(json.dumps(cost_child(method, setup, a.cost_steps)))
        return 0
    rank_stride, cost_setups, search_budget = 1, list(COST_SETUPS), SEARCH_BUDGET
    if a.smoke:
        a.seeds, a.epochs, a.checkpoints, a.queries, a.mt_seeds, a.cost_steps = "0", 1, "1", 10, 2, 1
        rank_stride, cost_setups, search_budget = 26, ["mini201"], 5
        a.out = a.out or os.path.join(tempfile.mkdtemp(prefix="bench_oneshot_"), "benchmarks.md")
    out = Path(a.out or REPO / "docs" / "benchmarks.md")
    if a.from_raw:
        raw = json.loads(Path(a.from_raw).read_text())
    else:
        seeds = [int(s) for s in a.seeds.split(",")]
        checkpoints = sorted({int(c) for c in a.checkpoints.split(",")} | {a.epochs})
        checkpoints = [c for c in checkpoints if c <= a.epochs]
        command = "python -m bench.run_oneshot " + " ".join(argv if argv is not None else sys.argv[1:])
        start = time.perf_counter()
        truth()                                      # fail early on an incomplete table
        from concurrent.futures import ProcessPoolExecutor
        jobs = [("one", m, s) for s in seeds for m in METHODS]
        runs = [run_multitrial(m, s, a.queries) for m in ("random", "evolution") for s in range(a.mt_seeds)]
        with ProcessPoolExecutor(a.processes) as pool:
            futures = {pool.submit(run_oneshot, m, s, a.epochs, checkpoints, rank_stride, search_budget): (m, s)
                       for _, m, s in jobs}
            for f, (m, s) in futures.items():
                runs.append(f.result())
                r = runs[-1]
                print(f"{m} seed {s}: {r['train_cpu_s']:.0f} CPU-s, ranking {r['ranking']}, export "
                      f"{r['exports'][-1]['test_acc']:.2f}", file=sys.stderr, flush=True)
        cost = run_cost(a.cost_steps, cost_setups)
        raw = {"meta": {"command": command.strip(), "machine": report_layer.machine() + ", one thread per process",
                        "date": _dt.date.today().isoformat(),
                        "runtime_s": time.perf_counter() - start}, "runs": runs, "cost": cost}
        if a.raw:
            Path(a.raw).parent.mkdir(parents=True, exist_ok=True)
            Path(a.raw).write_text(json.dumps(raw, separators=(",", ":")))
    text = report(raw)
    print(text)
    write_section(out, text)
    print(f"\nwrote {out} (section {START} ... {END})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
