"""``nas-plugins`` command line.

    nas-plugins list [--json]          the registered algorithms with their NNI/AutoGluon names
    nas-plugins nni-meta               the meta document for ``nnictl algo register --meta``
    nas-plugins validate CONFIG.yml    check our classArgs and the search space before a run
    nas-plugins demo [--config ...]    the main job: a real NNI experiment mixing HPO and NAS
    nas-plugins lcranknet-pretrain --out FILE [--tasks id,...] [--exclude id,...]
                                       pre-train LCRankNet on LCBench curves (for NaspLCRankNet)
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "trial_templates" / "demo.yml"


def _list(args: argparse.Namespace) -> int:
    from . import algorithms
    rows = [a.as_dict() for a in algorithms()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['name']:<14} {r['kind']:<9} NNI: {r['nni_name']:<16} AutoGluon: {r['autogluon_name'] or '-':<12} "
              f"{r['summary']}")
    return 0


def _nni_meta(args: argparse.Namespace) -> int:
    import yaml

    from .hosts.nni_host import nni_meta
    print(yaml.safe_dump(nni_meta(), sort_keys=False), end="")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from .hosts.nni_experiment import load_config, validate_config
    try:
        problems = validate_config(load_config(args.config))
    except Exception as exc:  # NNI's own config errors
        problems = [f"{type(exc).__name__}: {exc}"]
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    if not problems:
        print(f"{args.config}: OK")
    return 2 if problems else 0


def _demo(args: argparse.Namespace) -> int:
    from .hosts.nni_experiment import format_table, load_config, run
    config = load_config(args.config)
    if args.max_trials:
        config.max_trial_number = args.max_trials
    tuner = config.tuner.name if config.tuner else "?"
    print(f"Starting NNI experiment from {args.config}: tuner {tuner}, "
          f"{config.max_trial_number} trials, concurrency {config.trial_concurrency}", flush=True)
    t0 = time.monotonic()
    exp, records, status = run(config, port=args.port, timeout=args.timeout, keep_running=args.keep_open)
    elapsed = time.monotonic() - t0
    print(format_table(records))
    done = [r for r in records if r.final is not None]
    print(f"\nexperiment {exp.id}: {status}, {len(records)} trials "
          f"({sum(r.status == 'SUCCEEDED' for r in records)} succeeded, "
          f"{sum(r.status in ('EARLY_STOPPED', 'USER_CANCELED') for r in records)} stopped early by the assessor)"
          f" in {elapsed:.0f} s")
    if done:
        best = max(done, key=lambda r: r.final)
        print(f"best: trial {best.trial_job_id}, validation accuracy {best.final:.4f}")
        print("best configuration: " + json.dumps(best.parameters, sort_keys=True))
    port = args.port or 8080
    if args.keep_open:
        print(f"\nweb UI: http://127.0.0.1:{exp.port}  (Ctrl-C to stop the experiment)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            exp.stop()
    else:
        print(f"\nThe experiment is stopped and saved. Reopen it in NNI's web UI with:\n"
              f"  .venv/bin/nnictl view {exp.id} --port {port}    # then open http://127.0.0.1:{port}\n"
              f"  .venv/bin/nnictl stop {exp.id}                   # when done viewing")
    return 0 if status in ("DONE", "NO_MORE_TRIAL", "TUNER_NO_MORE_TRIAL") and done else 1


def _pretrain(args: argparse.Namespace) -> int:
    from nas_plugins.lcranknet import pretrain_lcbench

    def split(text: str) -> list[str]:
        return [t for t in text.split(",") if t]

    t0 = time.monotonic()
    try:
        ranker = pretrain_lcbench(split(args.tasks), exclude=split(args.exclude), path=args.data,
                                  steps=args.steps, seed=args.seed, members=args.members)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    ranker.save(args.out)
    print(f"LCRankNet trained on {len(ranker.task_names)} LCBench task(s) in {time.monotonic() - t0:.0f} s; "
          f"saved to {args.out}\nuse it with:  assessor: {{name: NaspLCRankNet, classArgs: {{model_path: {args.out}}}}}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nas-plugins", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="registered algorithms")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_list)
    p = sub.add_parser("nni-meta", help="print the nnictl algo register meta document")
    p.set_defaults(func=_nni_meta)
    p = sub.add_parser("validate", help="validate an NNI YAML config that uses our algorithms")
    p.add_argument("config")
    p.set_defaults(func=_validate)
    p = sub.add_parser("demo", help="run the main job: a mixed HPO+NAS NNI experiment on digits")
    p.add_argument("--config", default=str(DEMO_CONFIG))
    p.add_argument("--port", type=int, default=None, help="NNI manager / web UI port (default: a free one)")
    p.add_argument("--max-trials", type=int, default=None)
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--keep-open", action="store_true", help="keep the experiment and web UI running")
    p.set_defaults(func=_demo)
    p = sub.add_parser("lcranknet-pretrain", help="pre-train LCRankNet on LCBench learning curves")
    p.add_argument("--out", required=True, help="model file to write (NaspLCRankNet's model_path)")
    p.add_argument("--tasks", default="", help="comma-separated OpenML task ids (default: all 34)")
    p.add_argument("--exclude", default="", help="task ids to leave out (e.g. the task you will tune)")
    p.add_argument("--data", default=None, help="lcbench_curves.npz (default: $NASP_BENCHMARKS or ../shared/benchmarks)")
    p.add_argument("--steps", type=int, default=4000, help="training steps of 256 curve pairs (per member)")
    p.add_argument("--members", type=int, default=3, help="networks in the ensemble (each trained --steps)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_pretrain)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
