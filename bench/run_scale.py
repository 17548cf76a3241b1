"""Throughput of the main job with 1, 2, 4 concurrent trials on NNI's local training service and on Ray.

    python -m bench.run_scale [--backends nni,ray] [--concurrency 1,2,4] [--trials 12]
                              [--ray-address HOST:PORT] [--port 28100] [--cpus 2] [--raw bench/results/scale.json]
    python -m bench.run_scale --from-raw bench/results/scale.json        # only render the table

The experiment is the demo's (``trial_templates/demo.yml``: our BO + curve-fit early stopping on the digits
cell network, HPO + NAS space), with ``--trials`` trials; on Ray the same searcher and scheduler through
``trial_templates/ray_digits.py``. For each backend and concurrency it prints wall seconds, trials and
epochs trained per minute (early-stopped trials train fewer epochs, so epochs/min is the comparable
figure), the best accuracy and, on Ray, the tuner's overhead (time inside the searcher's and scheduler's
callbacks over the trials' summed run time; NNI runs its tuner in its own dispatcher process), as a markdown
table; with ``--raw`` the raw rows are kept and the table is rendered into docs/scale-out.md. Needs an otherwise idle machine:
on shared cores it measures the other work. ``ray`` needs the ``ray`` extra.
"""
from __future__ import annotations

import argparse
import json
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
            "best": out["best"], "tuner_seconds": out["tuner_seconds"], "trial_seconds": out["trial_seconds"]}


START, END = "<!-- scale:start -->", "<!-- scale:end -->"
DOC = ROOT / "docs" / "scale-out.md"


def render(raw: dict) -> str:
    """The throughput table (with its command, machine and date) for docs/scale-out.md."""
    from bench.report import table
    rows = []
    for r in raw["rows"]:
        minutes = r["seconds"] / 60
        overhead = (f"{100 * r['tuner_seconds'] / r['trial_seconds']:.2f}%"
                    if r.get("tuner_seconds") is not None and r.get("trial_seconds") else "–")
        rows.append([r["backend"], str(r["concurrency"]), f"{r['seconds']:.0f}", str(r["trials"]),
                     f"{r['trials'] / minutes:.1f}", f"{r['epochs'] / minutes:.1f}", overhead,
                     "–" if r["best"] is None else f"{r['best']:.3f}"])
    meta = raw["meta"]
    return "\n".join([
        START,
        table(["backend", "concurrent trials", "wall s", "trials", "trials/min", "epochs/min",
               "tuner time / trial time", "best accuracy"], rows),
        "",
        f"Command: `{meta['command']}`. Machine: {meta['machine']}. Measured {meta['date']}; rendered by "
        "`python -m bench.run_scale --from-raw bench/results/scale.json` from the raw results in that file.",
        END])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="nni,ray")
    parser.add_argument("--concurrency", default="1,2,4")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--ray-address", default=None)
    parser.add_argument("--port", type=int, default=28100, help="NNI's port")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs the Ray trials share")
    parser.add_argument("--raw", default=None, help="write the raw results here (JSON) and render the table")
    parser.add_argument("--from-raw", default=None, help="only render the table of docs/scale-out.md from this file")
    parser.add_argument("--doc", default=str(DOC), help="the document whose table is rendered")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    from bench.report import machine, now, write_section
    if args.from_raw:
        raw = json.loads(Path(args.from_raw).read_text())
    else:
        rows = []
        for backend in args.backends.split(","):
            for c in (int(x) for x in args.concurrency.split(",")):
                if backend == "nni":
                    out = nni_run(c, args.trials, args.port)
                elif backend == "ray":
                    out = ray_run(c, args.trials, args.ray_address, args.cpus)
                else:
                    parser.error(f"unknown backend {backend!r} (nni, ray)")
                rows.append({"backend": backend, "concurrency": c, **out})
                print(rows[-1], file=sys.stderr, flush=True)
        command = "python -m bench.run_scale " + " ".join(sys.argv[1:] if argv is None else argv)
        raw = {"meta": {"command": command.strip(), "machine": machine(), "date": now()}, "rows": rows}
        if args.raw:
            Path(args.raw).parent.mkdir(parents=True, exist_ok=True)
            Path(args.raw).write_text(json.dumps(raw, indent=1, default=str) + "\n")
    text = render(raw)
    if args.raw or args.from_raw:
        write_section(Path(args.doc), text, START, END)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
