"""``nas-plugins`` command line.

    nas-plugins list [--json]          the registered algorithms with their NNI/AutoGluon names
    nas-plugins nni-meta               the meta document for ``nnictl algo register --meta``
    nas-plugins validate CONFIG.yml    check our classArgs and the search space before a run
    nas-plugins demo [--config ...]    the main job: a real NNI experiment mixing HPO and NAS
    nas-plugins run CONFIG.yml         run any NNI config the same way (validate, progress, table, errors)
    nas-plugins lcranknet-pretrain --out FILE [--tasks id,...] [--exclude id,...]
                                       pre-train LCRankNet on LCBench curves (for NaspLCRankNet)
    nas-plugins store import DB nni|autogluon|lcbench|nb201 PATH [--task NAME] [--dataset D] [--limit N]
                                       import an NNI experiment, an AutoGluon predictor folder or a
                                       benchmark table into the metadata store DB (nas_plugins.store)
    nas-plugins store list DB [--task NAME]      the tasks (or one task's trials)
    nas-plugins store export DB OUT.csv|OUT.parquet [--task NAME]
    nas-plugins tapas rank --store DB --space nb201|SPACE.json --dcn 0.8 [--top 10] [--source-tasks a,b]
                                       TAPAS's ranking of a space for a data set of that difficulty, no trial
    nas-plugins tapas set-dcn --store DB --task NAME --dcn 0.8    record a task's DCN in its metadata
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TextIO

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


class ProgressPrinter:
    """:func:`~tuners.hosts.nni_experiment.wait`'s ``progress`` callback for the terminal.

    On a terminal the line is rewritten in place (``\\r``) at every poll and ended when the
    experiment finishes. Elsewhere (pipes, logs) a plain line every ``interval`` seconds of the
    experiment; nothing at all under CI (``CI`` set to anything but false/0) or with ``mode="off"``.
    ``mode``: ``auto`` (the above), ``live``, ``lines`` or ``off``.
    """

    def __init__(self, stream: TextIO | None = None, mode: str = "auto", interval: float = 30.0):
        self.stream = stream if stream is not None else sys.stdout
        if mode == "auto":
            ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
            isatty = getattr(self.stream, "isatty", lambda: False)()
            mode = "off" if ci else "live" if isatty else "lines"
        if mode not in ("live", "lines", "off"):
            raise ValueError(f"progress mode must be auto, live, lines or off, got {mode!r}")
        self.mode, self.interval = mode, interval
        self._width = 0            # length of the live line on screen
        self._next = interval      # elapsed time of the next plain line

    def __call__(self, p) -> None:
        from .hosts.nni_experiment import format_progress
        if self.mode == "off":
            return
        line = format_progress(p)
        if self.mode == "live":
            self.stream.write("\r" + line.ljust(self._width) + ("\n" if p.finished else ""))
            self._width = 0 if p.finished else len(line)
        elif p.elapsed >= self._next and not p.finished:
            self.stream.write(line + "\n")
            self._next = (p.elapsed // self.interval + 1) * self.interval
        else:
            return
        self.stream.flush()

    def close(self) -> None:
        """End a live line left open (an interrupted or timed-out wait)."""
        if self.mode == "live" and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0


def _run(args: argparse.Namespace) -> int:
    """``nas-plugins demo`` and ``nas-plugins run CONFIG.yml``."""
    from .hosts.nni_experiment import ExperimentError, _maximize, format_table, load_config, run, validate_config
    path = args.config
    try:
        config = load_config(path)
    except Exception as exc:  # noqa: BLE001 -- NNI's own config errors
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.max_trials:
        config.max_trial_number = args.max_trials
    problems = [] if args.no_validate else validate_config(config)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 2
    algo = config.tuner or config.advisor
    tuner = (algo.name or algo.class_name) if algo else "?"
    assessor = config.assessor.name or config.assessor.class_name if config.assessor and \
        config.assessor.name != "_none_" else None
    print(f"Starting NNI experiment from {path}: tuner {tuner}" + (f", assessor {assessor}" if assessor else "") +
          f", {config.max_trial_number} trials, concurrency {config.trial_concurrency}", flush=True)
    timeout = args.timeout
    if timeout is None:  # the experiment's own limit plus a margin, else no limit
        duration = config.max_experiment_duration
        timeout = (_seconds(duration) + 120) if duration else float("inf")
    printer = ProgressPrinter(mode="off" if args.no_progress else "auto")
    t0 = time.monotonic()
    try:
        exp, records, status = run(config, port=args.port, timeout=timeout, keep_running=args.keep_open,
                                   validate=False, progress=printer)
    except ExperimentError as exc:
        printer.close()
        if exc.records:
            print(format_table(exc.records))
        print(f"\nerror: experiment {exc.exp.id} ended in ERROR:", file=sys.stderr)
        for message in exc.errors or ["(no error message in the logs)"]:
            print("  " + message.replace("\n", "\n  "), file=sys.stderr)
        print(f"logs: {exc.log_dir}", file=sys.stderr)
        if args.keep_open:
            exc.exp.stop()
        return 1
    except TimeoutError as exc:
        printer.close()
        print(f"error: {exc} (the experiment was stopped)", file=sys.stderr)
        return 1
    finally:
        printer.close()
    elapsed = time.monotonic() - t0
    print(format_table(records))
    done = [r for r in records if r.final is not None]
    print(f"\nexperiment {exp.id}: {status}, {len(records)} trials "
          f"({sum(r.status == 'SUCCEEDED' for r in records)} succeeded, "
          f"{sum(r.status in ('EARLY_STOPPED', 'USER_CANCELED') for r in records)} stopped early by the assessor, "
          f"{sum(r.status in ('FAILED', 'SYS_CANCELED') for r in records)} failed)"
          f" in {elapsed:.0f} s")
    if done:
        pick = max if _maximize(config) else min
        best = pick(done, key=lambda r: r.final)
        metric = "validation accuracy" if Path(path).resolve() == DEMO_CONFIG else "final metric"
        print(f"best: trial {best.trial_job_id}, {metric} {best.final:.4f}")
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


def _seconds(duration: str | int | float) -> float:
    """NNI durations: a number of seconds or '10m', '1.5h', '30s', '1d'."""
    if isinstance(duration, (int, float)):
        return float(duration)
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = str(duration).strip().lower()
    return float(text[:-1]) * units[text[-1]] if text[-1:] in units else float(text)


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


def _store(args: argparse.Namespace) -> int:
    """``nas-plugins store import|list|export``."""
    from nas_plugins.store import MetadataStore, StoreError
    try:
        with MetadataStore(args.db, create=args.store_command == "import") as store:
            if args.store_command == "import":
                if args.source == "nni":
                    result = store.import_nni(args.path, task=args.task)
                elif args.source == "autogluon":
                    from autogluon.tabular import TabularPredictor
                    result = store.import_autogluon(TabularPredictor.load(args.path), task=args.task)
                elif args.source == "lcbench":
                    result = store.import_lcbench(args.path, tasks=args.task.split(",") if args.task else None,
                                                  limit=args.limit)
                else:
                    result = store.import_nb201(args.path, datasets=args.dataset or ["cifar10"], limit=args.limit)
                print(f"imported into {args.db}: " + ", ".join(f"{k} {v}" for k, v in result.items()))
            elif args.store_command == "list":
                if args.task is None:
                    print(f"{'task':<40} {'source':<10} {'runs':>5} {'trials':>7}")
                    for t in store.tasks():
                        print(f"{t['name']:<40} {t['source']:<10} {t['runs']:>5} {t['trials']:>7}")
                else:
                    frame = store.to_pandas(args.task)
                    if frame.empty:
                        print(f"error: no trials of task {args.task!r} in {args.db}", file=sys.stderr)
                        return 2
                    print(frame[["run", "key", "status", "metric", "cost", "curve_length", "config"]]
                          .to_string(index=False, max_colwidth=80))
            else:
                frame = store.to_pandas(args.task)
                out = Path(args.out)
                fmt = args.format or ("parquet" if out.suffix.lower() in (".parquet", ".pq") else "csv")
                out.parent.mkdir(parents=True, exist_ok=True)
                if fmt == "parquet":
                    frame.to_parquet(out, index=False)
                else:
                    frame.to_csv(out, index=False)
                print(f"exported {len(frame)} trials to {out} ({fmt})")
    except (StoreError, FileNotFoundError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _tapas(args: argparse.Namespace) -> int:
    """``nas-plugins tapas rank|set-dcn``."""
    from nas_plugins.space import SearchSpaceError, Space
    try:
        if args.tapas_command == "set-dcn":
            from nas_plugins.transfer import open_store, set_dcn
            with open_store(args.store) as store:
                if args.task not in [t["name"] for t in store.tasks()]:
                    raise ValueError(f"store {args.store}: no task {args.task!r}")
                set_dcn(store, args.task, args.dcn)
            print(f"{args.task}: dcn {args.dcn}")
            return 0
        from . import create
        if Path(args.space).suffix.lower() == ".json" or Path(args.space).is_file():
            space = Space.from_nni(json.loads(Path(args.space).read_text()))
        else:
            from nas_plugins.spaces import get_space
            space = get_space(args.space).space()
        sources = [t for t in args.source_tasks.split(",") if t] if args.source_tasks else None
        strategy = create("tapas", space, store=args.store, dcn=args.dcn, source_tasks=sources,
                          target_task=args.target_task, seed=args.seed, mode="min" if args.minimize else "max")
        ranking = strategy.ranking(args.top)
    except (ValueError, KeyError, OSError, SearchSpaceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    used = ", ".join(f"{t.name} (dcn {float(t.metadata['dcn']):.3f})" for t in strategy.sources)
    print(f"TAPAS ranking for dcn {strategy.dcn:.3f} from {used} (predicted: the stored metric on a data set of "
          "that dcn; no trial)")
    print(f"{'rank':>4} {'predicted':>10}  configuration")
    for i, (config, value) in enumerate(ranking, 1):
        print(f"{i:>4} {value:>10.4g}  {json.dumps(config, sort_keys=True)}")
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
    def experiment_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--port", type=int, default=None, help="NNI manager / web UI port (default: a free one)")
        p.add_argument("--max-trials", type=int, default=None, help="override maxTrialNumber")
        p.add_argument("--timeout", type=float, default=None,
                       help="seconds to wait (default: maxExperimentDuration + 2 min, else no limit)")
        p.add_argument("--keep-open", action="store_true", help="keep the experiment and web UI running")
        p.add_argument("--no-progress", action="store_true",
                       help="no progress line (default: live on a terminal, every 30 s otherwise, none under CI)")
        p.add_argument("--no-validate", action="store_true",
                       help="skip `validate` (see how NNI itself fails; the logged errors are still shown)")

    p = sub.add_parser("demo", help="run the main job: a mixed HPO+NAS NNI experiment on digits")
    p.add_argument("--config", default=str(DEMO_CONFIG))
    experiment_options(p)
    p.set_defaults(func=_run)
    p = sub.add_parser("run", help="run an NNI YAML config as demo does: validate, progress, table, errors")
    p.add_argument("config")
    experiment_options(p)
    p.set_defaults(func=_run)
    p = sub.add_parser("lcranknet-pretrain", help="pre-train LCRankNet on LCBench learning curves")
    p.add_argument("--out", required=True, help="model file to write (NaspLCRankNet's model_path)")
    p.add_argument("--tasks", default="", help="comma-separated OpenML task ids (default: all 34)")
    p.add_argument("--exclude", default="", help="task ids to leave out (e.g. the task you will tune)")
    p.add_argument("--data", default=None, help="lcbench_curves.npz (default: $NASP_BENCHMARKS or ../shared/benchmarks)")
    p.add_argument("--steps", type=int, default=4000, help="training steps of 256 curve pairs (per member)")
    p.add_argument("--members", type=int, default=3, help="networks in the ensemble (each trained --steps)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_pretrain)
    p = sub.add_parser("store", help="the metadata store: import runs and benchmark tables, list, export")
    store_sub = p.add_subparsers(dest="store_command", required=True)
    q = store_sub.add_parser("import", help="import an NNI experiment, an AutoGluon predictor or a benchmark table")
    q.add_argument("db", help="the store's SQLite file (created if missing)")
    q.add_argument("source", choices=["nni", "autogluon", "lcbench", "nb201"])
    q.add_argument("path", help="NNI experiment folder or nni.sqlite; AutoGluon predictor folder; "
                                "lcbench_curves.npz; nb201.csv.gz")
    q.add_argument("--task", default=None, help="task name (nni, autogluon); lcbench: comma-separated task ids")
    q.add_argument("--dataset", action="append", choices=["cifar10", "cifar100", "imagenet16"],
                   help="nb201 dataset (repeatable; default cifar10)")
    q.add_argument("--limit", type=int, default=None, help="lcbench/nb201: the first N configurations only")
    q.set_defaults(func=_store)
    q = store_sub.add_parser("list", help="the tasks with their run and trial counts, or one task's trials")
    q.add_argument("db")
    q.add_argument("--task", default=None)
    q.set_defaults(func=_store)
    q = store_sub.add_parser("export", help="the trials as CSV or parquet (by the extension, or --format)")
    q.add_argument("db")
    q.add_argument("out")
    q.add_argument("--task", default=None)
    q.add_argument("--format", choices=["csv", "parquet"], default=None)
    q.set_defaults(func=_store)
    p = sub.add_parser("tapas", help="TAPAS: rank a space for a data set's difficulty (DCN) without training")
    tapas_sub = p.add_subparsers(dest="tapas_command", required=True)
    q = tapas_sub.add_parser("rank", help="print TAPAS's ranking of a search space, best first, without any trial")
    q.add_argument("--store", required=True, help="the metadata store (source tasks with a 'dcn' in their metadata)")
    q.add_argument("--space", required=True, help="a NAS space name (nb201, mini201, darts, mobilenet) or an NNI "
                                                  "search-space JSON file")
    q.add_argument("--dcn", type=float, default=None, help="the target data set's DCN in [0, 1] "
                                                          "(default: --target-task's in the store)")
    q.add_argument("--top", type=int, default=10, help="how many to print (default 10)")
    q.add_argument("--source-tasks", default=None, help="comma-separated task names (default: chosen by DCN)")
    q.add_argument("--target-task", default=None, help="the target's task name (never a source)")
    q.add_argument("--minimize", action="store_true", help="the stored metric is a loss (lower is better)")
    q.add_argument("--seed", type=int, default=0)
    q.set_defaults(func=_tapas)
    q = tapas_sub.add_parser("set-dcn", help="record a task's dataset characterization number in its metadata")
    q.add_argument("--store", required=True)
    q.add_argument("--task", required=True)
    q.add_argument("--dcn", type=float, required=True)
    q.set_defaults(func=_tapas)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
