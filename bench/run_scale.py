"""Throughput of the main job with 1, 2, 4 concurrent trials on NNI's local training service and on Ray.

    python -m bench.run_scale [--backends nni,ray] [--concurrency 1,2,4] [--trials 12]
                              [--ray-address HOST:PORT] [--port 28100] [--cpus 2]

The experiment is the demo's (``trial_templates/demo.yml``: our BO + curve-fit early stopping on the digits
cell network, HPO + NAS space), with ``--trials`` trials; on Ray the same searcher and scheduler through
``trial_templates/ray_digits.py``. For each backend and concurrency it prints wall seconds, trials and
epochs trained per minute (early-stopped trials train fewer epochs, so epochs/min is the comparable
figure) and the best accuracy, as a markdown table for docs/scale-out.md. Needs an otherwise idle machine:
on shared cores it measures the other work. ``ray`` needs the ``ray`` extra.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def nni_run(concurrency: int, trials: int, port: int) -> dict:
    from tuners.hosts.nni_experiment import load_config, run
    config = load_config(ROOT / "trial_templates" / "demo.yml")
    config.trial_concurrency = concurrency
    config.max_trial_number = trials
    config.max_experiment_duration = "2h"
    begin = time.monotonic()
    _, records, status = run(config, port=port, timeout=7200)
    seconds = time.monotonic() - begin
    finished = [r for r in records if r.final is not None or r.intermediate]
    best = max((r.final for r in records if r.final is not None), default=None)
    return {"status": status, "trials": len(finished), "epochs": sum(len(r.intermediate) for r in records),
            "seconds": seconds, "best": best}


def ray_run(concurrency: int, trials: int, address: str | None, cpus: int) -> dict:
    from trial_templates.ray_digits import run
    out = run(trials, concurrency, address=address, cpus=cpus)
    return {"status": "DONE", "trials": out["trials"], "epochs": out["epochs_trained"], "seconds": out["seconds"],
            "best": out["best"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="nni,ray")
    parser.add_argument("--concurrency", default="1,2,4")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--ray-address", default=None)
    parser.add_argument("--port", type=int, default=28100, help="NNI's port")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs the Ray trials share")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    rows = ["| backend | concurrent trials | wall s | trials/min | epochs/min | best accuracy |",
            "|---|---|---|---|---|---|"]
    for backend in args.backends.split(","):
        for c in (int(x) for x in args.concurrency.split(",")):
            if backend == "nni":
                out = nni_run(c, args.trials, args.port)
            elif backend == "ray":
                out = ray_run(c, args.trials, args.ray_address, args.cpus)
            else:
                parser.error(f"unknown backend {backend!r} (nni, ray)")
            minutes = out["seconds"] / 60
            best = "–" if out["best"] is None else f"{out['best']:.3f}"
            rows.append(f"| {backend} | {c} | {out['seconds']:.0f} | {out['trials'] / minutes:.1f} | "
                        f"{out['epochs'] / minutes:.1f} | {best} |")
            print(rows[-1], file=sys.stderr, flush=True)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
