"""Tuner overhead at k observations, with the observations loaded rather than proposed.

``bench.run_hpo`` times ask+tell after the tuner itself proposed k configurations, which takes
NNI's GPTuner (seconds per proposal) most of an hour to reach k=200. Here every tuner first
receives k results through ``import_data`` (NNI's path for results it did not propose:
``nnictl experiment import``, resumed experiments) for configurations drawn at random from the
LCBench space, then the next ``reps``
``generate_parameters`` + ``receive_trial_result`` + ``trial_end`` calls are timed: the same
procedure for every tuner, in one table.

    python -m bench.overhead [--ks 100,200] [--only bo,nni_gp,nni_tpe] [--out docs/benchmarks.md]
"""
from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

from nas_plugins.space import Space

from .anchors import contenders, get_contender, seed_globals
from .harness import _call_factory
from .problems import make_problem
from .run_hpo import write_section

START, END = "<!-- bench:overhead:start -->", "<!-- bench:overhead:end -->"


def preloaded_overhead(contender, problem, k: int, reps: int = 5, seed: int = 0) -> float:
    """Median ms per ask+tell after ``k`` loaded observations."""
    seed_globals(seed)
    tuner = _call_factory(contender.make, seed, problem)
    tuner.update_search_space(problem.search_space)
    session = problem.session()
    rng = np.random.default_rng(seed + 1_000_003)  # not the tuners' own stream (seeded with `seed`)
    space = Space.from_nni(problem.search_space)
    loaded = [space.sample(rng) for _ in range(k)]
    tuner.import_data([{"parameter": p, "value": session.evaluate(p).value} for p in loaded])
    times = []
    for pid in range(k, k + reps):
        t0 = time.perf_counter()
        params = tuner.generate_multiple_parameters([pid], st_callback=lambda *a: None)[0]
        dt = time.perf_counter() - t0
        value = session.evaluate(params).value
        t0 = time.perf_counter()
        tuner.receive_trial_result(pid, params, value)
        tuner.trial_end(pid, True)
        times.append(dt + time.perf_counter() - t0)
    return float(np.median(times)) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ks", default="100,200")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--only", default="", help="strategies (default: ours and every anchor)")
    parser.add_argument("--out", default="docs/benchmarks.md")
    args = parser.parse_args(argv)
    ks = [int(k) for k in args.ks.split(",") if k]
    chosen = [get_contender(n) for n in args.only.split(",") if n] or contenders()
    problem = make_problem("lcbench/3945")
    rows = []
    for c in chosen:
        if c.supports(problem) is not None or c.budget_aware:
            continue  # budget-aware tuners take no foreign full-budget results in a meaningful way
        ms = []
        for k in ks:
            try:
                ms.append(preloaded_overhead(c, problem, k, args.reps))
            except Exception as exc:  # report, do not stop the table
                print(f"{c.label} at k={k}: {type(exc).__name__}: {exc}", file=sys.stderr)
                ms.append(math.nan)
        rows.append((c.label, ms))
        print(c.label, " ".join(f"{m:.1f}" for m in ms), flush=True)
    lines = [START, "## Overhead per ask+tell with k loaded observations", "",
             f"* command: `python -m bench.overhead {' '.join(argv if argv is not None else sys.argv[1:])}`",
             f"* machine: {platform.platform()}, {platform.processor() or platform.machine()}; median of "
             f"{args.reps} calls after k results loaded through `import_data` (LCBench task 3945, seed 0)",
             "", "| strategy | " + " | ".join(f"k={k} (ms)" for k in ks) + " |",
             "|---|" + "---|" * len(ks)]
    lines += [f"| {label} | " + " | ".join(f"{m:.1f}" for m in ms) + " |" for label, ms in rows]
    lines.append(END)
    write_section(Path(args.out), "\n".join(lines), START, END)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
