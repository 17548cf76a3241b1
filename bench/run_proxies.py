"""Zero-cost proxies on NAS-Bench-201: rank correlation with the table's test accuracy, and WeakNAS
with proxy features (issue 13).

    python -m bench.run_proxies [--archs 15625] [--all-heads N] [--heads cifar10,imagenet16] [--more-heads cifar100] [--sample 1000] [--sample-seeds 1,2] [--batch 64]
                                [--data-proxies naswot,jacob_cov,grad_norm,snip]
                                [--weaknas-seeds 50] [--budget 100] [--variant auto|synflow|synflow+params]
                                [--select-seeds 100,101,102,103,104] [--phases synflow,data,select,weaknas]
                                [--journal DIR] [--raw FILE] [--from-raw FILE] [--smoke] [--out docs/benchmarks.md]

**Networks.** Every architecture is the real NB201 network of ``nas_plugins.spaces.nb201.build``
(``C=16, N=5``), freshly initialised under ``seeded_run(seed)`` as
:func:`nas_plugins.proxy_filter.score_config` builds it. The architectures are taken in a fixed
random order (a permutation of the table's rows drawn with seed ``ORDER_SEED``): the first
``--archs`` of it (all 15,625 by default) for the data-free proxies (synflow: all three heads on the
first ``--all-heads``, the heads of ``--heads`` on the rest), the first ``--sample`` (1,000) for the
data-dependent ones and the extra synflow seeds, so a smaller run is a uniform sample.

**Data-free proxies.** ``synflow`` per data set with that data set's head and input, as Abdelfattah
et al. do: CIFAR-10 10 classes at 32x32, CIFAR-100 100 classes at 32x32, ImageNet16-120 120 classes
at 16x16. The three heads share one network per architecture (:func:`synflow_heads`: the backbone is
built once; each head's classifier is drawn from the RNG state the builder would have reached before
it, so each head's network is exactly ``build(config, num_classes)``; one forward per input size, one
backward per head; equal to ``proxies.synflow`` on the freshly built network up to float64 rounding,
``tests/test_bench_proxies.py``). ``params`` and ``flops`` are the space's analytic counts (equal to
the built network's, ``tests/test_proxies.py``) per head and input size.

**Data-dependent proxies** (``naswot``, ``jacob_cov``, ``grad_norm``, ``snip``): CIFAR is not
available offline, so they score one batch of ``--batch`` **embedded digits** (scikit-learn's 8x8
digits resized to 3x32x32, labels 0-9: ``proxies.image_batch``), on the 10-class network, once per
architecture; the same scores are correlated with each data set's test accuracy. The four share their
passes (``proxies.scores``).

**WeakNAS.** Plain ``weaknas`` vs ``weaknas`` with ``proxy_features`` in the loop of
``bench/harness.py`` (every query a table lookup of the validation accuracy, regret in test accuracy),
``--weaknas-seeds`` seeds per data set, ``--budget`` queries. The proxy features are the synflow
scores above of the 10-class network at 32x32 (seed 0; the CIFAR-10 column), fed as precomputed
``known`` scores of :class:`~nas_plugins.proxy_features.ProxyFeatures`: exactly what ``weaknas`` with
``proxy_features: synflow, proxy_build: nb201`` computes itself (``proxy_seed`` 0), on all three data
sets, without building a network during the runs. Zero-cost proxy evaluations are free in the accounting (only
queries count), so the pool is not cut (``proxy_pool=None``). ``--variant auto`` picks the proxy set
(synflow or synflow+params) with the lower mean regret at 60 queries over the three data sets on the
``--select-seeds`` (disjoint from the reported seeds).

Every phase journals its cells (``--journal``, default ``bench/results/proxies_journal/``): a killed
run started again with the same arguments reads the finished cells back. ``--smoke``: 12
architectures, a sample of 6, batch 8, 2 WeakNAS seeds of 12 queries on cifar10, into a temp folder.
The section goes into ``--out`` between ``<!-- bench:proxies:start -->`` and ``<!-- bench:proxies:end -->``.
"""
from __future__ import annotations

import argparse
import functools
import math
import os
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from bench.report import fmt as _fmt, machine as _machine, now, pool_map as _pool_map, table as _table  # noqa: E402
from bench.report import write_section  # noqa: E402

START, END = "<!-- bench:proxies:start -->", "<!-- bench:proxies:end -->"
REPO = Path(__file__).resolve().parent.parent
DATASETS = ("cifar10", "cifar100", "imagenet16")
#: data set -> (classes of its head, input size), as NB201 trains them.
HEADS = {"cifar10": (10, 32), "cifar100": (100, 32), "imagenet16": (120, 16)}
ORDER_SEED = 2021              # the fixed random order of the 15,625 architectures
DATA_PROXIES = ("naswot", "jacob_cov", "grad_norm", "snip")
VOTE = ("synflow", "jacob_cov", "snip")
#: Abdelfattah et al. 2021 (all 15,625, Spearman, CIFAR-10 / CIFAR-100 / ImageNet16-120), as quoted by issue 13.
PUBLISHED = {"synflow": (0.737, 0.763, 0.751), "jacob_cov": (0.731, 0.704, 0.701), "snip": (0.596, 0.637, 0.578),
             "grad_norm": (0.594, 0.637, 0.578)}
PUBLISHED_PARAMS = 0.71        # "params about .71" (the issue gives one figure)
PUBLISHED_VOTE = 0.817         # vote(synflow, jacob_cov, snip): pairwise agreement
SYNFLOW_TOL = 0.02             # target: within 0.02 of the published Spearman
TARGET_QUERIES = 60            # target: proxy-WeakNAS reaches plain WeakNAS's 100-query regret by then
VARIANTS = {"synflow": ("synflow",), "synflow+params": ("synflow", "params")}
FEATURE_HEAD = "cifar10"       # WeakNAS's features: the `nb201` builder's default network (10 classes, 32x32)


# -- the proxies ----------------------------------------------------------------------------------

def synflow_heads(config, heads=tuple(HEADS.values()), *, seed: int = 0, C: int = 16, N: int = 5) -> list[float]:
    """``synflow`` of ``nb201.build(config, K)`` on a ``(3, s, s)`` input for each ``(K, s)`` of
    ``heads``, each network built under ``seeded_run(seed)`` (as ``proxy_filter.score_config`` builds it),
    with one backbone for all heads.

    The backbone is built once; the classifier of head ``K`` is drawn from the RNG state the builder
    had reached when it registered the network's ``head`` (the last module before the classifier, with
    nothing random in it), so it is the classifier ``build(config, K)`` draws. Then, on the float64
    copy SynFlow uses (BatchNorm removed, every weight made positive), one forward of an all-ones input
    per input size and one backward per head from the pooled features ``h``: with the classifier
    ``W``, ``R = sum(W h + b)``, so ``dR/dh = W.sum(0)`` and the classifier's own term is
    ``sum(W * h)``. The same sums as :func:`nas_plugins.proxies.synflow`, up to float64 rounding.

    >>> from nas_plugins.spaces import nb201
    >>> from nas_plugins.proxies import synflow
    >>> from nas_plugins.seeding import seeded_run
    >>> cfg = nb201.from_arch_string("|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|")
    >>> s10, s100 = synflow_heads(cfg, [(10, 32), (100, 32)], C=8, N=1)
    >>> with seeded_run(0):
    ...     net = nb201.build(cfg, 100, C=8, N=1)
    >>> abs(s100 / synflow(net, (3, 32, 32)) - 1) < 1e-12
    True
    """
    import torch
    from torch import nn
    from torch.nn.modules.module import register_module_module_registration_hook
    from nas_plugins.proxies import _weighted, _without_bn
    from nas_plugins.seeding import seeded_run
    from nas_plugins.spaces import nb201

    states = []

    def before_classifier(module, name, submodule):
        if isinstance(module, nb201.Network) and name == "head":
            states.append(torch.get_rng_state())

    handle = register_module_module_registration_hook(before_classifier)
    try:
        with seeded_run(seed):
            net = nb201.build(config, heads[0][0], C=C, N=N)
    finally:
        handle.remove()
    if len(states) != 1:
        raise RuntimeError("nb201.Network no longer registers 'head' once before its classifier")
    classifiers = []
    for k, _ in heads:
        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(states[0])
            lin = nn.Linear(net.classifier.in_features, k)
        classifiers.append(lin.weight.detach().double().abs())    # the bias adds to R, not to the gradients
    net.classifier = nn.Identity()
    net = _without_bn(net).double()
    with torch.no_grad():
        for tensor in list(net.parameters()) + list(net.buffers()):
            if tensor.is_floating_point():
                tensor.abs_()
    weights = [m.weight for m in _weighted(net)]
    out: list[float] = [math.nan] * len(heads)
    for size in sorted({s for _, s in heads}):
        idx = [i for i, (_, s) in enumerate(heads) if s == size]
        h = net(torch.ones((1, 3, size, size), dtype=torch.float64))
        for j, i in enumerate(idx):
            W = classifiers[i]
            if h.requires_grad:
                grads = torch.autograd.grad(h, weights, grad_outputs=W.sum(0, keepdim=True),
                                            retain_graph=j < len(idx) - 1, allow_unused=True)
            else:                       # the cells output zeros (e.g. all 'none'): nothing reaches h
                grads = [None] * len(weights)
            total = torch.zeros((), dtype=torch.float64)
            for w, g in zip(weights, grads):
                if g is not None:
                    total += (w.detach() * g).abs().sum()
            total += (W * h.detach()[0]).sum()
            out[i] = float(total)
    return out


def _archs() -> list[str]:
    from nas_plugins.spaces.nb201 import table
    from bench.problems import benchmarks_dir
    return table(benchmarks_dir() / "nb201.csv.gz").frame["arch"].tolist()


@functools.cache
def order() -> np.ndarray:
    """The fixed random order of the table's rows."""
    return np.random.default_rng(ORDER_SEED).permutation(len(_archs()))


def synflow_cell(cell: tuple) -> dict:
    """``("synflow", seed, start, stop[, datasets])``: synflow of rows ``order()[start:stop]`` for the
    heads of ``datasets`` (default all three)."""
    from bench.problems import nb201_config
    _, seed, start, stop, *rest = cell
    datasets = list(rest[0]) if rest else list(DATASETS)
    archs = _archs()
    rows = [int(r) for r in order()[start:stop]]
    t0 = time.perf_counter()
    vals = [synflow_heads(nb201_config(archs[r]), [HEADS[d] for d in datasets], seed=seed) for r in rows]
    out = {"rows": rows, "seconds": time.perf_counter() - t0}
    for j, ds in enumerate(datasets):
        out[ds] = [v[j] for v in vals]
    return out


def data_cell(cell: tuple) -> dict:
    """``("data", names, batch, start, stop)``: the data proxies of rows ``order()[start:stop]``
    (10-class network, seed 0, ``batch`` embedded digits at 3x32x32)."""
    import torch
    from bench.problems import nb201_config
    from nas_plugins.proxies import image_batch, scores
    from nas_plugins.seeding import seeded_run
    from nas_plugins.spaces import nb201
    _, names, batch, start, stop = cell
    torch.set_num_threads(1)
    archs = _archs()
    rows = [int(r) for r in order()[start:stop]]
    data = image_batch(batch, (3, 32, 32), seed=0)
    t0 = time.perf_counter()
    out = {"rows": rows, **{n: [] for n in names}}
    for r in rows:
        with seeded_run(0):
            model = nb201.build(nb201_config(archs[r]))
        got = scores(list(names), model, data, seed=0)
        for n in names:
            v = got[n]
            out[n].append(v if math.isfinite(v) else -math.inf)
    out["seconds"] = time.perf_counter() - t0
    return out


def analytic(n_archs: int) -> dict:
    """params and flops of the first ``n_archs`` rows of ``order()``, per data set's head and input."""
    from bench.problems import nb201_config
    from nas_plugins.spaces import nb201
    archs = _archs()
    rows = [int(r) for r in order()[:n_archs]]
    out: dict = {"rows": rows}
    for ds, (k, s) in HEADS.items():
        cfgs = [nb201_config(archs[r]) for r in rows]
        out[f"params/{ds}"] = [float(nb201.params(c, k)) for c in cfgs]
        out[f"flops/{ds}"] = [float(nb201.flops(c, s, k)) for c in cfgs]
    return out


# -- WeakNAS --------------------------------------------------------------------------------------

_KNOWN: dict = {}


def _known(variant: str) -> dict:
    """config key -> (synflow[, params]) of every architecture scored with seed 0 on the 10-class network
    (set by ``run_all``)."""
    return _KNOWN[variant]


def weaknas_cell(cell: tuple) -> dict:
    """``("weaknas", variant, dataset, seed, budget, proxy_pool)``: one sequential run in ``bench.harness``."""
    from bench.harness import run
    from bench.problems import make_problem
    from tuners.hosts.nni_host import ADAPTERS
    _, variant, ds, seed, budget, pool = cell
    problem = make_problem(f"nb201/{ds}")

    def make(s, p):
        args = {"optimize_mode": "maximize", "seed": int(s)}
        if variant != "plain":
            args.update(proxy_features=proxy_features(variant), proxy_pool=pool)
        return ADAPTERS["weaknas"]["class"](**args)

    t0 = time.perf_counter()
    trace = run(make, problem, budget, 1, seed, strategy=f"weaknas/{variant}")
    return {"variant": variant, "dataset": ds, "seed": seed, "budget": budget,
            "regret": [float(r.regret) for r in trace.records], "seconds": time.perf_counter() - t0}


def proxy_features(variant: str):
    """The :class:`ProxyFeatures` of a proxy-WeakNAS run, with every score precomputed: what
    ``weaknas`` with ``proxy_features`` and ``proxy_build: nb201`` computes itself (the 10-class network
    at 32x32, proxy seed 0), on every data set."""
    from nas_plugins.proxy_features import ProxyFeatures
    return ProxyFeatures(list(VARIANTS[variant]), "nb201", proxy_seed=0, known=_known(variant))


# -- statistics -----------------------------------------------------------------------------------

def _finite(x) -> np.ndarray:
    a = np.array([-math.inf if v is None or v == "-inf" else float(v) for v in x], dtype=np.float64)
    a[~np.isfinite(a)] = -1e308          # failed scores (-inf) rank lowest
    return a


def correlations(score, acc) -> tuple[float, float]:
    """(Spearman, Kendall tau-b) of proxy scores vs accuracies."""
    from scipy.stats import kendalltau, spearmanr
    x, y = _finite(score), np.asarray(acc, dtype=np.float64)
    return float(spearmanr(x, y)[0]), float(kendalltau(x, y)[0])


def pairwise_agreement(scores_list, acc) -> float:
    """Share of the pairs of architectures (different test accuracies) that the majority vote of the
    proxies orders as the accuracy does; a tied vote counts one half."""
    y = np.asarray(acc, dtype=np.float64)
    iu = np.triu_indices(len(y), 1)
    truth = np.sign(y[:, None] - y[None, :])[iu]
    votes = sum(np.sign(x[:, None] - x[None, :])[iu] for x in (_finite(s) for s in scores_list))
    vote = np.sign(votes)
    keep = truth != 0
    agree = np.where(vote[keep] == 0, 0.5, (vote[keep] == truth[keep]).astype(float))
    return float(agree.mean())


def queries_to_reach(curve, target: float) -> int | None:
    """The first query (1-based) at which the mean regret ``curve`` is at most ``target``."""
    for i, v in enumerate(curve, 1):
        if v <= target + 1e-12:
            return i
    return None


# -- command --------------------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run_proxies", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", type=int, default=15625, help="architectures for the data-free proxies (seed 0)")
    p.add_argument("--all-heads", type=int, default=None,
                   help="of those, the first N get synflow with all three heads (default: all); the rest "
                        "only with the heads of --heads")
    p.add_argument("--heads", default="cifar10,imagenet16", help="the heads beyond --all-heads")
    p.add_argument("--more-heads", default="", help="heads beyond --all-heads computed in cells of their own "
                   "(completes a run made with --heads without them, the journaled cells kept)")
    p.add_argument("--sample", type=int, default=1000, help="the fixed sample for data proxies and extra seeds")
    p.add_argument("--sample-seeds", default="1,2", help="extra synflow seeds on the sample")
    p.add_argument("--batch", type=int, default=64, help="embedded digits per data-proxy batch")
    p.add_argument("--data-proxies", default=",".join(DATA_PROXIES))
    p.add_argument("--weaknas-seeds", type=int, default=50)
    p.add_argument("--budget", type=int, default=100)
    p.add_argument("--variant", default="auto", choices=["auto", *VARIANTS])
    p.add_argument("--select-seeds", default="100,101,102,103,104")
    p.add_argument("--proxy-pool", type=int, default=None, help="WeakNAS's proxy_pool (default: none, the whole pool)")
    p.add_argument("--phases", default="synflow,data,select,weaknas")
    p.add_argument("--chunk", type=int, default=125, help="architectures per journaled cell")
    p.add_argument("--processes", type=int, default=1)
    p.add_argument("--journal", default=None, help="folder of the per-phase journals")
    p.add_argument("--out", default=None, help="markdown file to update (default docs/benchmarks.md)")
    p.add_argument("--raw", default=None, help="write the raw results here (gzip'd JSON)")
    p.add_argument("--from-raw", default=None, metavar="FILE", help="render from a raw file without running")
    p.add_argument("--only-done", action="store_true",
                   help="compute nothing: take only the cells already in the journals (render a cut run)")
    p.add_argument("--smoke", action="store_true", help="a small end-to-end check, into a temp folder")
    a = p.parse_args(argv)
    a.argv = list(sys.argv[1:] if argv is None else argv)
    tmp = None
    if a.smoke:
        a.archs, a.sample, a.batch, a.sample_seeds, a.chunk = 12, 6, 8, "1", 6
        a.weaknas_seeds, a.budget, a.select_seeds, a.variant, a.proxy_pool = 1, 12, "", "synflow", 16
        a.datasets = ("cifar10",)
        tmp = tempfile.mkdtemp(prefix="bench_proxies_")
        a.out = a.out or os.path.join(tmp, "benchmarks.md")
        a.journal = a.journal or os.path.join(tmp, "journal")
    else:
        a.datasets = DATASETS
    a.out = a.out or str(REPO / "docs" / "benchmarks.md")
    a.journal = a.journal or str(REPO / "bench" / "results" / "proxies_journal")
    a.sample = min(a.sample, a.archs)
    return a


def _chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(i, min(n, i + size)) for i in range(0, n, size)]


def _merge_heads(parts: list[dict]) -> dict:
    """Synflow cells merged per data set: ``{dataset: {"rows": [...], "values": [...]}, "seconds": s,
    "archs": n}`` (rows in the fixed order)."""
    parts = sorted(parts, key=lambda p: p["start"])
    out: dict = {"seconds": sum(p["seconds"] for p in parts), "archs": len({r for p in parts for r in p["rows"]})}
    for ds in DATASETS:
        have = [p for p in parts if ds in p]
        if have:
            out[ds] = {"rows": [r for p in have for r in p["rows"]], "values": [v for p in have for v in p[ds]]}
    return out


def _merge(parts: list[dict], keys) -> dict:
    """Cells' lists merged in the fixed order (by position of their rows in ``order()``)."""
    parts = sorted(parts, key=lambda p: p["start"])
    out = {"rows": [r for p in parts for r in p["rows"]], "seconds": sum(p["seconds"] for p in parts)}
    for k in keys:
        out[k] = [v for p in parts for v in p[k]]
    return out


def _journaled(path: Path) -> set[str]:
    """The keys of the cells finished in the journal ``path`` (as ``bench.report.pool_map`` keys them)."""
    import json
    done = set()
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if not (isinstance(rec.get("result"), dict) and "error" in rec["result"]):
                done.add(rec["cell"])
    return done


def run_all(args) -> dict:
    import json
    from bench.report import _plain
    journal = Path(args.journal)
    phases = set(args.phases.split(","))

    def _map(fn, cells, processes, label, journal):
        if args.only_done:
            done = _journaled(journal)
            cells = [c for c in cells if json.dumps(_plain(c)) in done]
        return _pool_map(fn, cells, processes, label, journal=journal)

    raw: dict = {"args": {"argv": args.argv}, "order_seed": ORDER_SEED, "n_table": len(_archs()),
                 "archs": args.archs, "sample": args.sample, "batch": args.batch, "datasets": list(args.datasets)}
    t0 = time.perf_counter()
    raw["analytic"] = analytic(args.archs)
    seeds = [int(s) for s in args.sample_seeds.split(",") if s]
    if "synflow" in phases:
        n3 = args.archs if args.all_heads is None else min(args.archs, args.all_heads)
        few = tuple(d for d in DATASETS if d in args.heads.split(","))
        cells = [("synflow", 0, a, b) for a, b in _chunks(n3, args.chunk)]
        cells += [("synflow", 0, a, b, few) for a, b in _chunks(args.archs, args.chunk) if a >= n3]
        more = tuple(d for d in DATASETS if d in args.more_heads.split(",") and d not in few)
        if more:
            cells += [("synflow", 0, a, b, more) for a, b in _chunks(args.archs, args.chunk) if a >= n3]
        cells += [("synflow", s, a, b) for s in seeds for a, b in _chunks(args.sample, args.chunk)]
        res = _map(_tag(synflow_cell), cells, args.processes, "synflow", journal=journal / "synflow.jsonl")
        raw["synflow"] = {str(s): _merge_heads([r for r in res if r["seed"] == s]) for s in [0] + seeds
                          if any(r["seed"] == s for r in res)}
    if "data" in phases:
        names = tuple(n for n in args.data_proxies.split(",") if n)
        cells = [("data", names, args.batch, a, b) for a, b in _chunks(args.sample, max(1, args.chunk // 5))]
        res = _map(_tag(data_cell), cells, args.processes, "data proxies",
                   journal=journal / f"data_b{args.batch}.jsonl")
        if res:
            raw["data"] = _merge(res, names)
    if "select" in phases or "weaknas" in phases:
        _set_known(raw)
    variant = args.variant
    if "select" in phases and variant == "auto":
        sel = [int(s) for s in args.select_seeds.split(",") if s]
        cells = [("weaknas", v, ds, s, args.budget, args.proxy_pool) for v in VARIANTS for ds in args.datasets
                 for s in sel]
        raw["select"] = _map(weaknas_cell, cells, args.processes, "variant selection",
                             journal=journal / "select.jsonl")
        variant = choose_variant(raw["select"])
    if variant == "auto":
        variant = "synflow"
    raw["variant"], raw["proxy_pool"] = variant, args.proxy_pool
    if "weaknas" in phases:
        cells = [("weaknas", v, ds, s, args.budget, args.proxy_pool) for s in range(args.weaknas_seeds)
                 for ds in args.datasets for v in ("plain", variant)]
        raw["weaknas"] = _map(weaknas_cell, cells, args.processes, "weaknas", journal=journal / "weaknas.jsonl")
    raw["elapsed"] = time.perf_counter() - t0
    raw["machine"], raw["date"] = _machine(), now()
    return raw


class _tag:
    """``fn(cell)`` with the cell's seed/start recorded in the result (for merging; picklable)."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, cell):
        out = self.fn(cell)
        out["start"] = cell[3] if cell[0] == "synflow" else cell[-2]
        if cell[0] == "synflow":
            out["seed"] = cell[1]
        return out


def _set_known(raw: dict) -> None:
    """The WeakNAS features: synflow (seed 0) and params of every scored architecture, per data set."""
    from bench.problems import nb201_config
    from nas_plugins.space import config_key
    if "synflow" not in raw:
        raise SystemExit("the WeakNAS phases need the synflow phase (its scores are the features)")
    syn = raw["synflow"]["0"][FEATURE_HEAD]
    archs = _archs()
    params = dict(zip(raw["analytic"]["rows"], raw["analytic"][f"params/{FEATURE_HEAD}"]))
    keys = {r: config_key(nb201_config(archs[r])) for r in syn["rows"]}
    _KNOWN["synflow"] = {keys[r]: (v,) for r, v in zip(syn["rows"], syn["values"])}
    _KNOWN["synflow+params"] = {keys[r]: (v, params[r]) for r, v in zip(syn["rows"], syn["values"])}


def _mean_curve(runs: list[dict], budget: int) -> np.ndarray:
    ys = np.array([(r["regret"] + [r["regret"][-1]] * budget)[:budget] for r in runs], dtype=np.float64)
    return np.nanmean(ys, axis=0)


def choose_variant(select: list[dict]) -> str:
    """The proxy set with the lower mean regret at 60 queries (mean over data sets and seeds)."""
    score = {}
    for v in VARIANTS:
        rs = [r for r in select if r["variant"] == v]
        score[v] = float(np.mean([_mean_curve([r], TARGET_QUERIES)[-1] for r in rs])) if rs else math.inf
    return min(VARIANTS, key=lambda v: (score[v], v != "synflow"))


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.from_raw:
        from bench.report import load_raw
        raw = load_raw(Path(args.from_raw))
        rendered = f"rendered by `python -m bench.run_proxies --from-raw {args.from_raw}`"
    else:
        raw = run_all(args)
        rendered = None
        if args.raw:
            from bench.report import save_raw
            save_raw(Path(args.raw), raw)
    text = report(raw, rendered)
    print(text)
    write_section(Path(args.out), text, START, END)
    print(f"\nwrote {args.out} (section {START} ... {END})", file=sys.stderr)
    return 0


# -- report ---------------------------------------------------------------------------------------

def _table_acc(rows: list[int], field: str = "test_acc") -> dict[str, np.ndarray]:
    from bench.problems import benchmarks_dir
    from nas_plugins.spaces.nb201 import table
    frame = table(benchmarks_dir() / "nb201.csv.gz").frame
    return {ds: frame[f"{ds}_{field}"].to_numpy(np.float64)[rows] for ds in DATASETS}


def _f3(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def report(raw: dict, rendered: str | None = None) -> str:
    datasets = [d for d in DATASETS if d in raw.get("datasets", DATASETS)]
    an = raw["analytic"]
    n_all, n_sample = raw["archs"], raw["sample"]
    cmd = "python -m bench.run_proxies " + " ".join(raw["args"]["argv"])
    syn = raw.get("synflow", {})
    out = [START, "## Zero-cost proxies on NAS-Bench-201 (issue 13)", "",
           f"* command: `{cmd.strip()}`" + (f"; {rendered}" if rendered else ""),
           f"* machine: {raw.get('machine') or _machine()}; date: {raw.get('date', 'not recorded')}; wall time of the run {raw.get('elapsed', math.nan):.0f} s "
           "(one process)" + ("; `--only-done` assembled the results from the journals of the same command run "
                              "phase by phase (one process at a time, nice'd on a shared 2-core machine), "
                              "computing nothing itself" if "--only-done" in raw["args"]["argv"] else ""),
           f"* networks: the real NB201 networks of `nas_plugins.spaces.nb201.build` (C=16, N=5), freshly "
           f"initialised with `seeded_run(seed)` per architecture; architectures in a fixed random order (seed "
           f"{raw['order_seed']}): the first {n_all:,} of the {raw['n_table']:,} for the data-free proxies "
           f"(seed 0), the first {n_sample:,} (the fixed sample) for the data-dependent proxies and for synflow "
           f"seeds {', '.join(s for s in syn if s != '0') or '–'}.",
           "* correlation with each data set's **test accuracy** of the table (200 epochs; cifar10 is NB201's "
           "cifar10-valid split), Spearman ρ and Kendall τ-b; a failed score (-inf) ranks lowest.",
           "* synflow per data set with that data set's head and input (CIFAR-10: 10 classes, 32x32; CIFAR-100: "
           "100, 32x32; ImageNet16-120: 120, 16x16), one backbone per architecture shared by the three heads "
           "(`bench.run_proxies.synflow_heads`: each head's classifier is the one `build(config, K)` draws, so "
           "each is the built network's synflow, to float64 rounding); params and FLOPs are the space's analytic "
           "counts (equal to the built network's) for the same heads and inputs.",
           f"* **data-dependent proxies (naswot, jacob_cov, grad_norm, snip): embedded digits, not CIFAR** — one "
           f"batch of {raw['batch']} scikit-learn 8x8 digits resized to 3x32x32 (labels 0-9), 10-class network, "
           "seed 0, the same scores correlated with all three data sets (CIFAR is not available offline)."]
    n_syn = {d: len(syn["0"][d]["rows"]) if "0" in syn and d in syn["0"] else 0 for d in datasets}
    if min(n_all, *n_syn.values()) < raw["n_table"]:
        out.append("* **subset**: synflow (seed 0) on " + ", ".join(f"{n_syn[d]:,} ({d})" for d in datasets) +
                   f" and params/FLOPs on {n_all:,} of the {raw['n_table']:,} architectures (uniform random "
                   "samples: the start of the fixed order); the rest did not fit in the time of the run.")
    out.append("")

    # correlation table --------------------------------------------------------------------------
    header = ["proxy", "archs"] + [f"ρ {d}" for d in datasets] + [f"τ {d}" for d in datasets] + \
             ["published ρ (C10 / C100 / IN16)"]
    rows = []
    acc_all = _table_acc(an["rows"]) if an["rows"] else {}

    def published(name):
        if name in PUBLISHED:
            return " / ".join(f"{v:.3f}" for v in PUBLISHED[name])
        if name == "params":
            return f"≈{PUBLISHED_PARAMS:.2f}"
        return "–"

    def add(label, name, values_by_ds, rows_by_ds, field="test_acc"):
        corr = {d: correlations(values_by_ds[d], _table_acc(rows_by_ds[d], field)[d]) for d in datasets}
        counts = sorted({len(rows_by_ds[d]) for d in datasets})
        rows.append([label, " / ".join(f"{len(rows_by_ds[d]):,}" for d in datasets) if len(counts) > 1
                     else f"{counts[0]:,}"] + [_f3(corr[d][0]) for d in datasets] +
                    [_f3(corr[d][1]) for d in datasets] + [published(name)])
        return {d: corr[d][0] for d in datasets}

    rho_syn = None
    if "0" in syn and all(d in syn["0"] for d in datasets):
        s0 = syn["0"]
        rho_syn = add("synflow (seed 0)", "synflow", {d: s0[d]["values"] for d in datasets},
                      {d: s0[d]["rows"] for d in datasets})
    for name in ("params", "flops"):
        add(name, name, {d: an[f"{name}/{d}"] for d in datasets}, {d: an["rows"] for d in datasets})
    extra = []
    if "0" in syn and FEATURE_HEAD in syn["0"] and len(datasets) > 1:
        s10 = syn["0"][FEATURE_HEAD]
        add(f"synflow (seed 0), the {FEATURE_HEAD} network (10 classes, 32x32) for every data set", "synflow",
            {d: s10["values"] for d in datasets}, {d: s10["rows"] for d in datasets})
        extra.append(f"The {FEATURE_HEAD} row scores every data set with the 10-class network at 32x32 (the "
                     "WeakNAS features below).")
    if "0" in syn and all(d in syn["0"] for d in datasets):
        add("synflow (seed 0) vs the table's **validation** accuracy", "–",
            {d: syn["0"][d]["values"] for d in datasets}, {d: syn["0"][d]["rows"] for d in datasets}, "val_acc")
        extra.append("The validation-accuracy row correlates the same scores with the table's `val_acc` columns "
                     "instead (200 epochs; NB201's cifar10-valid validation split for CIFAR-10): which accuracy the "
                     "published figures use is not stated in the issue.")
    out += ["### Rank correlation with test accuracy: data-free proxies (architectures per data set in the "
            "second column)", "", _table(header, rows), ""] + ([" ".join(extra), ""] if extra else [])

    # the sample ---------------------------------------------------------------------------------
    rows = []
    sample_rows = [int(r) for r in an["rows"][:n_sample]]
    acc_s = _table_acc(sample_rows)
    by_sample: dict[str, dict] = {}
    seeds = [s for s in syn if all(d in syn[s] and syn[s][d]["rows"][:n_sample] == sample_rows for d in datasets)]
    if seeds:
        per_seed = {s: {d: syn[s][d]["values"][:n_sample] for d in datasets} for s in seeds}
        by_sample["synflow"] = per_seed["0"] if "0" in per_seed else per_seed[seeds[0]]
        rhos = {d: [correlations(per_seed[s][d], acc_s[d])[0] for s in seeds] for d in datasets}
        taus = {d: [correlations(per_seed[s][d], acc_s[d])[1] for s in seeds] for d in datasets}
        sd = lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else math.nan   # noqa: E731
        rows.append([f"synflow, seeds {', '.join(seeds)} (mean ± sd over seeds)", f"{n_sample:,}"] +
                    [_fmt(float(np.mean(rhos[d])), sd(rhos[d]), 3) for d in datasets] +
                    [_fmt(float(np.mean(taus[d])), sd(taus[d]), 3) for d in datasets] + [published("synflow")])
    for name in ("params", "flops"):
        vals = {d: an[f"{name}/{d}"][:n_sample] for d in datasets}
        by_sample[name] = vals
        rows.append([name, f"{n_sample:,}"] + [_f3(correlations(vals[d], acc_s[d])[0]) for d in datasets] +
                    [_f3(correlations(vals[d], acc_s[d])[1]) for d in datasets] + [published(name)])
    data = raw.get("data")
    data_names = [n for n in DATA_PROXIES if data and n in data]
    if data_names and len(data["rows"]) >= n_sample:
        assert [int(r) for r in data["rows"][:n_sample]] == sample_rows
        for name in data_names:
            vals = {d: data[name][:n_sample] for d in datasets}
            by_sample[name] = vals
            rows.append([f"{name} (**embedded digits, not CIFAR**)", f"{n_sample:,}"] +
                        [_f3(correlations(vals[d], acc_s[d])[0]) for d in datasets] +
                        [_f3(correlations(vals[d], acc_s[d])[1]) for d in datasets] + [published(name)])
    out += [f"### Rank correlation on the fixed sample of {n_sample:,} architectures", "",
            _table(header, rows), ""]
    missing = [n for n in DATA_PROXIES if n not in data_names]
    if missing:
        done = len(data["rows"]) if data else 0
        out += [f"Not in this run: {', '.join(missing)} (data proxies scored on {done} of the {n_sample:,} sample "
                "architectures when the run ended; a proxy is reported only on the whole sample).", ""]

    # vote -----------------------------------------------------------------------------------------
    if all(n in by_sample for n in VOTE):
        agree = {d: pairwise_agreement([by_sample[n][d] for n in VOTE], acc_s[d]) for d in datasets}
        single = {n: {d: pairwise_agreement([by_sample[n][d]], acc_s[d]) for d in datasets} for n in VOTE}
        vrows = [[f"vote({', '.join(VOTE)})"] + [_f3(agree[d]) for d in datasets] + [f"{PUBLISHED_VOTE:.3f}"]]
        vrows += [[n] + [_f3(single[n][d]) for d in datasets] + ["–"] for n in VOTE]
        out += ["### Pairwise agreement on the fixed sample (share of architecture pairs ordered as test accuracy; "
                "a tied vote counts 1/2; jacob_cov and snip on the embedded digits, not CIFAR)", "",
                _table(["proxies"] + datasets + ["published"], vrows), ""]

    # WeakNAS ----------------------------------------------------------------------------------------
    variant = raw.get("variant", "synflow")
    wk = raw.get("weaknas") or []
    need = {(v, d) for v in ("plain", variant) for d in datasets}
    complete = {sd for sd in {r["seed"] for r in wk}
                if need <= {(r["variant"], r["dataset"]) for r in wk if r["seed"] == sd}}
    wk = [r for r in wk if r["seed"] in complete]           # seeds a cut run finished for every contender
    if raw.get("select"):
        sel = raw["select"]
        sc = {v: float(np.mean([_mean_curve([r], TARGET_QUERIES)[-1] for r in sel if r["variant"] == v]))
              for v in VARIANTS}
        seeds_sel = sorted({r["seed"] for r in sel})
        out += [f"Proxy set for WeakNAS chosen on seeds {seeds_sel[0]}..{seeds_sel[-1]} (disjoint from the reported "
                f"ones): mean regret at {TARGET_QUERIES} queries over the data sets " +
                ", ".join(f"{v} {sc[v]:.3f}" for v in VARIANTS) + f" → **{variant}**.", ""]
    elif wk:
        out += [f"Proxy set for WeakNAS: **{variant}**, given (`--variant`), not selected in this run: synflow is the "
                "proxy the issue names and the best single proxy of the published comparison; params adds little "
                "beside it (both grow with the number of convolutions).", ""]
    if wk:
        budget = max(r["budget"] for r in wk)
        seeds_w = sorted({r["seed"] for r in wk})
        span = (f"seeds {seeds_w[0]}..{seeds_w[-1]}" if seeds_w == list(range(seeds_w[0], seeds_w[-1] + 1))
                else f"seeds {', '.join(map(str, seeds_w))}")
        out += [f"### WeakNAS with proxy features ({' + '.join(VARIANTS[variant])}) vs plain WeakNAS "
                f"({span}: {len(seeds_w)} per data set, {budget} queries)", "",
                "Sequential runs in the loop of `bench/harness.py` (search on validation accuracy, regret in test "
                "accuracy, %). The proxy features are the precomputed seed-0 synflow scores above of the 10-class "
                "network at 32x32 (the CIFAR-10 column: what `weaknas` with `proxy_features: synflow, proxy_build: "
                "nb201` computes itself; the same features on all three data sets), given to "
                "`ProxyFeatures(known=...)`; **zero-cost proxy evaluations are free in the accounting** "
                "(only queries count), so every round ranks the whole unseen pool (`proxy_pool=None`)" +
                (f" — **this run: proxy_pool={raw['proxy_pool']}** (unscored candidates built and scored)"
                 if raw.get("proxy_pool") else "") + ". "
                f"Queries to match: the first query at which proxy-WeakNAS's mean regret is at most plain "
                f"WeakNAS's mean regret at {budget} queries (target ≤ {TARGET_QUERIES}).", ""]
        wrows = []
        grid = [b for b in (10, 25, 50, 60, 100, 200) if b <= budget]
        met_all = True
        for ds in datasets:
            plain = [r for r in wk if r["variant"] == "plain" and r["dataset"] == ds]
            prox = [r for r in wk if r["variant"] == variant and r["dataset"] == ds]
            if not plain or not prox:
                continue
            cp, cx = _mean_curve(plain, budget), _mean_curve(prox, budget)
            q = queries_to_reach(cx, cp[-1])
            met = q is not None and q <= TARGET_QUERIES
            met_all &= met
            for label, runs, c in (("plain", plain, cp), (" + ".join(VARIANTS[variant]), prox, cx)):
                se = lambda b: float(np.std([_mean_curve([r], b)[-1] for r in runs], ddof=1) / math.sqrt(len(runs)))  # noqa: E731
                wrows.append([ds, f"weaknas {label}", str(len(runs))] + [_fmt(c[b - 1], se(b), 2) for b in grid] +
                             ([f"**{q if q is not None else f'> {budget}'}** ({'met' if met else 'missed'})"]
                              if label != "plain" else ["–"]))
        out += [_table(["data set", "strategy", "runs"] + [f"{b} q." for b in grid] +
                       [f"queries to plain's {budget}-query regret"], wrows), "",
                f"* target (proxy-WeakNAS reaches plain WeakNAS's {budget}-query regret in ≤ {TARGET_QUERIES} queries "
                f"on every data set): **{'met' if met_all else 'missed'}**", ""]

    # targets ----------------------------------------------------------------------------------------
    if rho_syn is not None:
        pub = dict(zip(DATASETS, PUBLISHED["synflow"]))
        detail = "; ".join(f"{d}: {rho_syn[d]:.3f} vs {pub[d]:.3f} (Δ {rho_syn[d] - pub[d]:+.3f}, {n_syn[d]:,} "
                           "architectures)" for d in datasets)
        ok = all(abs(rho_syn[d] - pub[d]) <= SYNFLOW_TOL for d in datasets)
        out += ["### Targets", "",
                f"* synflow Spearman within {SYNFLOW_TOL} of the published figure on every data set (seed 0): "
                f"**{'met' if ok else 'missed'}** ({detail})", ""]

    # cost -------------------------------------------------------------------------------------------
    cost = []
    if "0" in syn:
        cost.append(f"synflow (1-3 heads, one backbone): {syn['0']['seconds'] / max(1, syn['0']['archs']):.3f} s "
                    "per architecture")
    if data:
        cost.append(f"{', '.join(data_names or DATA_PROXIES)} together (`proxies.scores`, batch {raw['batch']}): "
                    f"{data['seconds'] / max(1, len(data['rows'])):.2f} s per architecture")
    if wk:
        for v in ("plain", variant):
            rs = [r for r in wk if r["variant"] == v]
            cost.append(f"weaknas {v}: {np.mean([r['seconds'] for r in rs]):.1f} s per run")
    if cost:
        out += ["Cost (one CPU thread, summed over the run's cells): " + "; ".join(cost) + ".", ""]
    out.append(END)
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
