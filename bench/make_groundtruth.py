"""The mini-201 ground truth: every architecture of ``nas_plugins.spaces.mini201`` trained stand-alone.

    python -m bench.make_groundtruth [--seeds 0,1] [--processes 2] [--out bench/mini201.csv] [--pilot N]
                                     [--set FIELD=VALUE ...]

Trains each canonical architecture (``mini201.archs()``) with each seed by the one recipe of
``mini201.train_standalone`` (``mini201.RECIPE`` at ``mini201.SIZES``; ``--processes`` worker
processes of one thread each) and writes one CSV row per architecture, appended as soon as its seeds are done: ``arch``,
``valid_acc_seed<k>``, ``test_acc_seed<k>`` (percent), ``train_time_s_seed<k>`` (CPU seconds),
``params``. Resumable: rows already in ``--out`` with every requested seed are skipped, so the
same command continues an interrupted run. At the end it prints the runtime, the Kendall tau
between the seeds' accuracies (valid and test; the mean over seed pairs with more than two seeds)
and the gap between the best and the median architecture (mean over seeds).

``--pilot N``: N random architectures only (seeded, the same N every time), nothing written unless
``--out`` is given; ``--set epochs=4`` (repeatable) overrides a recipe field, ``--set N=2`` a size:
for choosing a recipe. The shipped table is the default recipe with no ``--set``.
"""
from __future__ import annotations

import argparse
import csv
import itertools
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from nas_plugins.spaces import mini201  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
FIELDS = ("valid_acc", "test_acc", "train_time_s")


def columns(seeds: list[int]) -> list[str]:
    return ["arch"] + [f"{field}_seed{s}" for field in FIELDS for s in seeds] + ["params"]


def read_rows(path: Path) -> dict[str, dict[str, str]]:
    if not path.is_file():
        return {}
    with open(path, newline="") as handle:
        return {row["arch"]: row for row in csv.DictReader(handle)}


def summary(rows: list[dict], seeds: list[int]) -> dict[str, float]:
    """Kendall tau between seeds and best-minus-median (mean over seeds) of valid and test accuracy."""
    from scipy.stats import kendalltau
    out: dict[str, float] = {"archs": len(rows)}
    for field in ("valid_acc", "test_acc"):
        acc = np.array([[float(r[f"{field}_seed{s}"]) for s in seeds] for r in rows])
        taus = [kendalltau(acc[:, i], acc[:, j])[0] for i, j in itertools.combinations(range(len(seeds)), 2)]
        mean = acc.mean(axis=1)
        out[f"{field}_tau"] = float(np.mean(taus)) if taus else float("nan")
        out[f"{field}_best"] = float(mean.max())
        out[f"{field}_median"] = float(np.median(mean))
        out[f"{field}_gap"] = float(mean.max() - np.median(mean))
    return out


def train_row(job: tuple) -> dict:
    """One table row: ``arch`` trained with each seed (run in a worker process)."""
    arch, seeds, sizes, recipe = job
    torch.set_num_threads(1)
    row: dict = {"arch": arch}
    for seed in seeds:
        result = mini201.train_standalone(arch, seed, threads=1, sizes=sizes, **recipe)
        for field in FIELDS:
            row[f"{field}_seed{seed}"] = round(result[field], 4) if field != "train_time_s" else result[field]
        row["params"] = result["params"]
    return row


def _value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1", help="training seeds, comma-separated (default 0,1)")
    parser.add_argument("--processes", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--out", help="the CSV (default bench/mini201.csv; none with --pilot)")
    parser.add_argument("--pilot", type=int, metavar="N", help="N random architectures only")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a recipe field or a size (pilots only)")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if len(seeds) < 1 or len(set(seeds)) != len(seeds):
        parser.error(f"--seeds needs distinct integers, got {args.seeds!r}")
    recipe, sizes = {}, {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or (key not in mini201.RECIPE and key not in mini201.SIZES):
            parser.error(f"--set {item!r}: expected FIELD=VALUE with FIELD in "
                         f"{', '.join([*mini201.RECIPE, *mini201.SIZES])}")
        (recipe if key in mini201.RECIPE else sizes)[key] = _value(value)

    archs = list(mini201.archs())
    if args.pilot:
        rng = np.random.default_rng(0)
        archs = sorted(archs[i] for i in rng.choice(len(archs), min(args.pilot, len(archs)), replace=False))
    out = Path(args.out) if args.out else (None if args.pilot else REPO / "bench" / "mini201.csv")
    header = columns(seeds)
    done: dict[str, dict[str, str]] = {}
    if out is not None:
        done = read_rows(out)
        if done:
            with open(out, newline="") as handle:
                existing = next(csv.reader(handle))
            if existing != header:
                sys.exit(f"{out} has columns {existing}, not {header} of --seeds {args.seeds}; "
                         "use another --out or the seeds it was written with")
            complete = {a: r for a, r in done.items() if all(r.get(c) not in (None, "") for c in header)}
            if len(complete) != len(done):         # a run killed mid-row: keep the complete rows only
                with open(out, "w", newline="") as handle:
                    writer = csv.DictWriter(handle, fieldnames=header)
                    writer.writeheader()
                    writer.writerows(complete.values())
                done = complete
    todo = [a for a in archs if a not in done]
    print(f"mini201: {len(archs)} architectures x seeds {seeds}; {len(archs) - len(todo)} already in {out}, "
          f"{len(todo)} to train; recipe {dict(mini201.RECIPE, **recipe)}, sizes {dict(mini201.SIZES, **sizes)}",
          flush=True)

    import multiprocessing
    start = time.perf_counter()
    rows = {a: done[a] for a in archs if a in done}
    jobs = [(arch, seeds, sizes, recipe) for arch in todo]
    with multiprocessing.get_context("spawn").Pool(max(1, args.processes)) as pool:
        for i, row in enumerate(pool.imap_unordered(train_row, jobs), start=1):
            arch = row["arch"]
            rows[arch] = row
            if out is not None:
                new = not out.exists() or out.stat().st_size == 0
                with open(out, "a", newline="") as handle:
                    writer = csv.DictWriter(handle, fieldnames=header)
                    if new:
                        writer.writeheader()
                    writer.writerow(row)
            elapsed = time.perf_counter() - start
            accs = " ".join(f"{row[f'test_acc_seed{s}']:.1f}" for s in seeds)
            print(f"[{i}/{len(todo)}] {arch} test {accs}  {elapsed:.0f} s, ETA {elapsed / i * (len(todo) - i):.0f} s",
                  flush=True)

    runtime = time.perf_counter() - start
    ordered = [rows[a] for a in archs if a in rows]
    if out is not None and len(ordered) == len(read_rows(out)):        # rewrite in arch order
        tmp = out.with_name(out.name + ".tmp")
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=header)
            writer.writeheader()
            writer.writerows(ordered)
        os.replace(tmp, out)
    cpu = sum(float(r[f"train_time_s_seed{s}"]) for r in ordered for s in seeds)
    print(f"runtime: {runtime:.0f} s wall for the {len(todo)} architectures trained now; "
          f"{cpu:.0f} CPU s of training in the table's {len(ordered)} rows")
    if ordered and len(seeds) > 1:
        s = summary(ordered, seeds)
        for field in ("valid_acc", "test_acc"):
            print(f"{field}: Kendall tau between seeds {s[f'{field}_tau']:.3f}; best {s[f'{field}_best']:.2f}, "
                  f"median {s[f'{field}_median']:.2f}, gap {s[f'{field}_gap']:.2f} points")
    missing = len(archs) - len(ordered)
    if missing:
        print(f"{missing} architectures still missing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
