"""Run an NNI experiment from a YAML config and read its trials back, correctly paired.

``Experiment.export_data()`` in NNI 3.0 can attach a trial's parameters to another trial's
metric; :func:`collect_trials` pairs them by ``parameter_id`` instead.

Example (a real experiment, minutes)::

    config = load_config("trial_templates/demo.yml")
    problems = validate_config(config)       # algorithm names, classArgs, search space, up front
    exp, records, status = run(config, port=8080, timeout=600, progress=print)

An experiment that ends in ERROR makes :func:`run` raise :class:`ExperimentError` carrying the
precise messages from the experiment's logs (:func:`experiment_errors`): NNI's REST status only
says "Dispatcher stream error, tuner may have crashed."
"""
from __future__ import annotations

import difflib
import importlib
import inspect
import math
import os
import re
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from nni.experiment import Experiment, ExperimentConfig

from nas_plugins.space import SearchSpaceError, Space

from .. import registry
from .nni_host import build_options, extract_metric

__all__ = ["TrialRecord", "Progress", "ExperimentError", "InvalidConfigError", "load_config", "validate_config",
           "collect_trials", "wait", "run", "free_port", "format_table", "format_progress", "experiment_log_dir",
           "experiment_errors"]

# NO_MORE_TRIAL: the trial budget is used up; TUNER_NO_MORE_TRIAL: the tuner raised
# NoMoreTrialError (a finite space is exhausted) -- NNI then idles rather than turning DONE.
FINISHED = {"DONE", "STOPPED", "ERROR", "NO_MORE_TRIAL", "TUNER_NO_MORE_TRIAL"}
RUNNING_JOB = ("WAITING", "RUNNING", "UNKNOWN")
STOPPED_JOB = ("EARLY_STOPPED", "USER_CANCELED")     # NNI 3.0 marks an assessor's kill USER_CANCELED
FAILED_JOB = ("FAILED", "SYS_CANCELED")


class InvalidConfigError(ValueError):
    """:func:`run` refused a config; ``problems`` are :func:`validate_config`'s messages."""

    def __init__(self, problems: list[str]):
        super().__init__("invalid experiment config:\n  " + "\n  ".join(problems))
        self.problems = list(problems)


class ExperimentError(RuntimeError):
    """The experiment ended in ERROR. ``errors`` are the precise messages from its logs
    (:func:`experiment_errors`); ``exp`` and ``records`` are what ran before that."""

    def __init__(self, exp: Experiment, errors: list[str], records: list["TrialRecord"] | None = None,
                 log_dir: Path | None = None):
        text = "\n".join(errors) if errors else "no error message found in the experiment's logs"
        where = f" (logs: {log_dir})" if log_dir else ""
        super().__init__(f"experiment {exp.id} ended in ERROR{where}:\n{text}")
        self.exp, self.errors, self.records, self.log_dir = exp, list(errors), list(records or []), log_dir


@dataclass
class TrialRecord:
    trial_job_id: str
    sequence: int
    status: str
    parameter_id: int | None
    parameters: dict
    final: float | None
    intermediate: list[float | None] = field(default_factory=list)


def load_config(path: str | os.PathLike) -> ExperimentConfig:
    """Load an NNI YAML config (relative paths resolve against the file's folder)."""
    return ExperimentConfig.load(str(path))


def validate_config(config: ExperimentConfig) -> list[str]:
    """Problems that would make the experiment fail; empty when all is well.

    * every tuner/assessor/advisor ``name`` must be in NNI's algorithm registry (built-ins and
      ``nnictl algo register``-ed ones, case-insensitive, as the dispatcher resolves it), of the
      section's kind, and its module importable; unknown names come with close matches and the
      registered names of that kind. Custom algorithms (``className``/``codeDirectory``) are
      accepted as NNI accepts them.
    * classArgs: ours through our validators (NNI 3.0 does not call ``ClassArgsValidator``s for
      v2 configs), with the search space (e.g. a parameter named like Hyperband's budget key);
      other registered algorithms through their own ``classArgsValidator``.
    * the search space parses, and NNI's own config checks pass (reported as ``<exception type>: <message>``).
    """
    problems: list[str] = []
    problems += _algorithm_problems(config)
    try:
        canonical = config.canonical_copy()  # loads searchSpaceFile; raises on NNI's own config errors
    except Exception as exc:  # noqa: BLE001 -- NNI raises ValueError, AssertionError, TypeError, ...
        return problems + [f"{type(exc).__name__}: {exc}".rstrip(": ")]
    try:
        space: Space | None = Space.from_nni(canonical.search_space)
    except SearchSpaceError as exc:
        problems.append(str(exc))
        space = None
    raw_tuner_section = "advisor" if _named(getattr(config, "advisor", None)) else "tuner"
    for section, algo in (("tuner", canonical.tuner), ("assessor", canonical.assessor)):
        if algo is None or not getattr(algo, "name", None):
            continue
        label = raw_tuner_section if section == "tuner" else section
        try:
            info = registry.get(algo.name)
        except registry.UnknownAlgorithmError:
            continue  # an NNI built-in or another package's algorithm: checked by _algorithm_problems
        if info.kind != section:
            continue  # reported by _algorithm_problems
        try:
            options = build_options(info.name, algo.class_args, canonical.trial_code_directory)
            if info.kind == "tuner" and space is not None:
                registry.create(info.name, space, **options)      # e.g. a search-space parameter named like Hyperband's budget key
        except ValueError as exc:
            problems.append(f"{label}: {exc}")
    return problems


def _named(algo: Any) -> bool:
    name = getattr(algo, "name", None)
    return bool(name) and name != "_none_"   # ExperimentConfig("local") leaves '_none_' placeholders


def _kind_of(meta: Any) -> str:
    if meta.algo_type == "assessor":
        return "assessor"
    return "advisor" if meta.is_advisor else "tuner"


def _article(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _algorithm_problems(config: ExperimentConfig) -> list[str]:
    """Names resolved the way NNI's dispatcher resolves them (``create_builtin_class_instance``)."""
    from nni.tools.package_utils.config_manager import get_all_algo_meta
    try:
        metas = get_all_algo_meta()
    except Exception as exc:  # noqa: BLE001 -- a broken registered_algorithms.yml
        return [f"cannot read NNI's algorithm registry: {type(exc).__name__}: {exc}"]
    problems = []
    for section in ("tuner", "assessor", "advisor"):
        algo = getattr(config, section, None)
        if algo is None or isinstance(algo, dict) or not _named(algo):
            continue  # absent, a custom className algorithm, or malformed (NNI's checks report it)
        name = str(algo.name)
        # tuner and advisor sections both take tuners (NNI 3.0 moves `advisor` to `tuner`)
        wanted = "assessor" if section == "assessor" else "tuner"
        meta = next((m for m in metas if name.lower() in {m.name.lower(), (m.alias or "").lower()}), None)
        same_kind = sorted({m.name for m in metas if m.algo_type == wanted}, key=str.lower)
        if meta is None:
            problems.append(_unknown_name(section, name, wanted, same_kind, metas))
            continue
        if meta.algo_type != wanted:
            problems.append(f"{section}: {name} is {_article(_kind_of(meta))}, not {_article(section)} "
                            f"({wanted}s: {', '.join(same_kind)})")
            continue
        if _is_ours(meta):
            continue  # classArgs checked with the search space by validate_config
        problem = _check_registered(meta, algo.class_args)
        if problem:
            problems.append(f"{section}: {name} {problem}")
    return problems


def _unknown_name(section: str, name: str, wanted: str, same_kind: list[str], metas: list) -> str:
    try:
        ours = registry.get(name)
    except registry.UnknownAlgorithmError:
        ours = None
    if ours is not None and ours.nni_name.lower() != name.lower():
        return f"{section}: unknown {wanted} {name!r}; its NNI name is {ours.nni_name} (a {ours.kind})"
    if ours is not None:
        return (f"{section}: {name} is not registered with NNI; run .venv/bin/nnictl algo register "
                f"--meta tuners/hosts/nni_meta.yml (what `make install` does)")
    lower = {n.lower(): n for n in same_kind}
    lower.update({m.alias.lower(): m.alias for m in metas if m.alias and m.algo_type == wanted})
    close = [lower[c] for c in difflib.get_close_matches(name.lower(), list(lower), n=3, cutoff=0.6)]
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    return f"{section}: unknown {wanted} {name!r}{hint}; registered {wanted}s: {', '.join(same_kind)}"


def _is_ours(meta: Any) -> bool:
    try:
        return registry.get(meta.name).nni_name.lower() == meta.name.lower()
    except registry.UnknownAlgorithmError:
        return False


def _check_registered(meta: Any, class_args: dict | None) -> str | None:
    """Import the algorithm's class as the dispatcher will, check that its constructor takes the
    classArgs (merged over the meta's own, as NNI merges them), and run its classArgsValidator.

    NNI 3.0 never calls these validators, and some require keys the constructor has defaults for
    (Hyperband's ``optimize_mode``): a "missing key" is only a problem if it stays one with the
    constructor's defaults filled in."""
    args = {**(meta.class_args or {}), **(class_args or {})}
    classes = {}
    for what, full_name in (("class", meta.class_name), ("validator", meta.validator_class_name)):
        if full_name:
            module, _, attr = full_name.rpartition(".")
            try:
                classes[what] = getattr(importlib.import_module(module), attr)
            except Exception as exc:  # noqa: BLE001 -- ImportError of an optional dependency, ...
                return f"cannot be loaded ({full_name}): {type(exc).__name__}: {exc}"
    defaults: dict[str, Any] = {}
    if "class" in classes:
        try:
            signature = inspect.signature(classes["class"])
        except ValueError:
            signature = None  # nothing to inspect
        if signature is not None:
            try:
                signature.bind(**args)
            except TypeError as exc:
                return f"classArgs: {exc}"
            defaults = {n: p.default for n, p in signature.parameters.items()
                        if p.default is not inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD}
    if "validator" in classes:
        try:
            classes["validator"]().validate_class_args(**(class_args or {}))
        except Exception as exc:  # noqa: BLE001 -- schema.SchemaError, ValueError, ...
            if "missing key" not in str(exc).lower():
                return f"classArgs: {exc}"
            try:
                classes["validator"]().validate_class_args(**{**defaults, **(class_args or {})})
            except Exception:  # noqa: BLE001
                return f"classArgs: {exc}"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def collect_trials(exp: Experiment) -> list[TrialRecord]:
    """Every trial with the parameters it really ran and its metrics.

    NNI 3.0's local training service hands parameter sets to trials in the order the trials ask
    for them, so the manager's trial -> parameters record (which ``export_data`` uses) can be
    swapped between trials started together. A trial's metrics carry the ``parameter_id`` it
    actually received: pair by that. Parameter ids (and sequence ids) restart at 0 after
    ``nnictl resume``, so an id resolves to the parameter set of that id whose trial started
    closest in time (swaps happen between trials started milliseconds apart).
    """
    jobs = sorted(exp.list_trial_jobs(), key=lambda j: (j.startTime or math.inf, j.sequenceId))
    metrics = exp.get_job_metrics()
    by_id: dict[int, list[tuple[int, dict]]] = {}
    for job in jobs:
        for hp in job.hyperParameters:
            by_id.setdefault(hp.parameter_id, []).append((job.startTime or 0, hp.parameters))
    records = []
    for job in jobs:
        mine = metrics.get(job.trialJobId, [])
        own = job.hyperParameters[0] if job.hyperParameters else None
        reported = {int(m.parameterId) for m in mine if m.parameterId not in (None, "")}
        pid = reported.pop() if len(reported) == 1 else (own.parameter_id if own else None)
        if own is not None and own.parameter_id == pid:
            parameters = own.parameters
        else:
            candidates = by_id.get(pid, [])  # type: ignore[arg-type]
            started = job.startTime or 0
            parameters = min(candidates, key=lambda c: abs(c[0] - started))[1] if candidates else {}
        finals = [extract_metric(m.data) for m in mine if m.type == "FINAL"]
        steps = sorted((m for m in mine if m.type == "PERIODICAL"), key=lambda m: m.sequence)
        records.append(TrialRecord(job.trialJobId, job.sequenceId, job.status, pid, parameters,
                                   finals[-1] if finals else None, [extract_metric(m.data) for m in steps]))
    return records


@dataclass(frozen=True)
class Progress:
    """A snapshot of a running experiment, passed to :func:`wait`'s ``progress`` callback."""
    status: str                   # NNI's experiment status (RUNNING, DONE, ...)
    elapsed: float                # seconds since waiting began
    trials: int = 0               # trials NNI knows about (any state)
    running: int = 0              # WAITING, RUNNING, UNKNOWN
    succeeded: int = 0
    stopped: int = 0              # EARLY_STOPPED / USER_CANCELED: stopped by the assessor
    failed: int = 0               # FAILED, SYS_CANCELED
    best: float | None = None     # best final metric so far (per the tuner's optimize_mode)
    max_trials: int | None = None
    finished: bool = False        # the last call: wait() returns next

    @property
    def done(self) -> int:
        return self.trials - self.running


def format_progress(p: Progress) -> str:
    """One line of progress.

    >>> print(format_progress(Progress("RUNNING", 42.0, trials=9, running=2, succeeded=5, stopped=1, failed=1,
    ...                                best=0.96111, max_trials=20)))
    [   42 s] RUNNING: 7/20 trials done (5 succeeded, 1 stopped early, 1 failed), 2 running, best 0.9611
    """
    total = f"/{p.max_trials}" if p.max_trials else ""
    best = "-" if p.best is None else f"{p.best:.4g}"
    return (f"[{p.elapsed:5.0f} s] {p.status}: {p.done}{total} trials done ({p.succeeded} succeeded, "
            f"{p.stopped} stopped early, {p.failed} failed), {p.running} running, best {best}")


def _maximize(config: ExperimentConfig | None) -> bool:
    for section in ("tuner", "advisor", "assessor"):
        algo = getattr(config, section, None) if config is not None else None
        mode = ((getattr(algo, "class_args", None) or {}) if _named(algo) or getattr(algo, "class_name", None)
                else {}).get("optimize_mode")
        if mode in ("maximize", "minimize"):
            return mode == "maximize"
    return True


def _snapshot(exp: Experiment, status: str, jobs: list, elapsed: float, maximize: bool, finished: bool) -> Progress:
    finals = [extract_metric(m.data) for j in jobs for m in (j.finalMetricData or [])[-1:]]
    finals = [f for f in finals if f is not None]
    best = (max if maximize else min)(finals) if finals else None
    count = lambda states: sum(j.status in states for j in jobs)  # noqa: E731
    max_trials = getattr(exp.config, "max_trial_number", None) if exp.config is not None else None
    return Progress(status, elapsed, len(jobs), count(RUNNING_JOB), count(("SUCCEEDED",)), count(STOPPED_JOB),
                    count(FAILED_JOB), best, max_trials, finished)


def wait(exp: Experiment, timeout: float, poll: float = 1.0,
         progress: Callable[[Progress], Any] | None = None) -> str:
    """Poll until the experiment finishes and no trial is running; return its final status.

    TUNER_NO_MORE_TRIAL and NO_MORE_TRIAL with no trial running must be seen on three polls in a
    row: a tuner that was only waiting for results (e.g. Hyperband) turns the experiment back to
    RUNNING when it sends the trial it owes NNI, and NNI's manager turns NO_MORE_TRIAL into DONE a
    moment after the last trial's end is listed.
    ``progress``, if given, is called with a :class:`Progress` after every poll (the last one with
    ``finished=True``); what it does with it (print, log) is up to it."""
    start = time.monotonic()
    deadline = start + timeout
    idle_polls = 0          # consecutive polls: finished status, no trial running
    maximize = _maximize(exp.config) if progress is not None else True
    while True:
        status = exp.get_status()
        idle = False
        jobs = exp.list_trial_jobs() if progress is not None or status in FINISHED else []
        if status in FINISHED:
            idle = all(j.status not in RUNNING_JOB for j in jobs)
            idle_polls = idle_polls + 1 if idle else 0
            if status == "ERROR" or (idle and (status in ("DONE", "STOPPED") or idle_polls >= 3)):
                if progress is not None:
                    progress(_snapshot(exp, status, jobs, time.monotonic() - start, maximize, True))
                return status
        if progress is not None:
            progress(_snapshot(exp, status, jobs, time.monotonic() - start, maximize, False))
        if status not in FINISHED:
            idle_polls = 0
        if time.monotonic() > deadline:
            raise TimeoutError(f"experiment {exp.id} still {status} after {timeout:.0f} s")
        time.sleep(poll)


def run(config: ExperimentConfig, port: int | None = None, timeout: float = 600,
        keep_running: bool = False, *, validate: bool = True,
        progress: Callable[[Progress], Any] | None = None) -> tuple[Experiment, list[TrialRecord], str]:
    """Start ``config``, wait for it, collect the trials, and stop it (unless ``keep_running``).

    Trials run with this interpreter first on ``PATH``, so ``trialCommand: python ...`` uses the
    environment this package is installed in. Raises :class:`InvalidConfigError` when
    :func:`validate_config` finds problems (``validate=False`` skips that, e.g. to see how NNI
    fails), and :class:`ExperimentError` with the precise messages when the experiment ends in
    ERROR. ``progress`` is :func:`wait`'s callback.
    """
    if validate:
        problems = validate_config(config)
        if problems:
            raise InvalidConfigError(problems)
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    exp = Experiment(config)
    exp.start(port or free_port())
    try:
        status = wait(exp, timeout, progress=progress)
        records = collect_trials(exp)
    finally:
        if not keep_running:
            exp.stop()
    if status == "ERROR":
        raise ExperimentError(exp, experiment_errors(exp), records, experiment_log_dir(exp))
    return exp, records, status


# -- the precise errors of a failed experiment ------------------------------------------------------
# NNI's REST status of a dispatcher that reported an error only says "Dispatcher stream error, tuner
# may have crashed."; the manager logs the dispatcher's message as "Dispatcher error: <message>".
_LOG_ENTRY = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] ([A-Z]+) \((.*?)\) (.*)$")


def experiment_log_dir(exp_or_dir: Experiment | str | os.PathLike) -> Path:
    """The experiment's log folder, ``<experimentWorkingDirectory>/<id>/log``.

    Accepts an :class:`~nni.experiment.Experiment` (started here or connected to), an experiment
    folder ``<experimentWorkingDirectory>/<id>``, or the log folder itself."""
    if not isinstance(exp_or_dir, Experiment):
        path = Path(exp_or_dir)
        return path / "log" if (path / "log").is_dir() else path
    exp = exp_or_dir
    directory = None
    if exp.config is not None:
        try:
            directory = exp.config.canonical_copy().experiment_working_directory
        except Exception:  # noqa: BLE001 -- fall back to NNI's experiment list
            directory = None
    if not directory:
        try:
            from nni.tools.nnictl.config_utils import Experiments
            directory = Experiments().get_all_experiments().get(exp.id, {}).get("logDir") or None
        except Exception:  # noqa: BLE001
            directory = None
    return Path(directory or Path.home() / "nni-experiments", exp.id, "log")


def _log_entries(path: Path) -> list[tuple[str, str, str]]:
    """(level, logger, message) of every entry; continuation lines belong to the entry before."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    entries: list[tuple[str, str, list[str]]] = []
    for line in text.splitlines():
        m = _LOG_ENTRY.match(line)
        if m:
            entries.append((m.group(2), m.group(3), [m.group(4)]))
        elif entries:
            entries[-1][2].append(line)
    return [(level, logger, "\n".join(lines).rstrip()) for level, logger, lines in entries]


def experiment_errors(exp_or_dir: Experiment | str | os.PathLike) -> list[str]:
    """The precise error messages of an experiment, from its log folder (empty if none).

    In order of preference: the manager's ``Dispatcher error: <message>`` lines of nnimanager.log
    (what our tuners and assessors report, whole); else the ERROR lines of dispatcher.log (first
    line of each, e.g. "Builtin name is not found: naspboo"); else nnimanager.log's own ERROR
    lines (e.g. "Tuner did not connect in 10 seconds"). Duplicates are dropped."""
    log_dir = experiment_log_dir(exp_or_dir)
    manager = _log_entries(log_dir / "nnimanager.log")
    prefix = "Dispatcher error: "
    found = [msg[len(prefix):] for level, _, msg in manager if level == "ERROR" and msg.startswith(prefix)]
    if not found:
        found = [msg.splitlines()[0] for level, _, msg in _log_entries(log_dir / "dispatcher.log")
                 if level in ("ERROR", "CRITICAL") and msg]
    if not found:
        found = [msg.splitlines()[0].removeprefix("Error: ") for level, logger, msg in manager
                 if level == "ERROR" and msg and logger != "ShutdownManager"]
    return list(dict.fromkeys(m.strip() for m in found if m.strip()))


def format_table(records: list[TrialRecord], param_names: list[str] | None = None) -> str:
    """A plain-text table of trials: id, status, final metric, and the parameters."""
    names = param_names or sorted({k for r in records for k in r.parameters})
    def cell(v: Any) -> str:
        if isinstance(v, dict):
            return ",".join(f"{k}={cell(x)}" for k, x in v.items())
        if isinstance(v, float):
            return "nan" if math.isnan(v) else f"{v:.4g}"
        return str(v)
    header = ["trial", "status", "reports", "final"] + names
    rows = [[r.trial_job_id, r.status, str(len(r.intermediate)), cell(r.final)] + [cell(r.parameters.get(n, "")) for n in names]
            for r in records]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda row: "  ".join(str(x).ljust(w) for x, w in zip(row, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])
