"""Run an NNI experiment from a YAML config and read its trials back, correctly paired.

``Experiment.export_data()`` in NNI 3.0 can attach a trial's parameters to another trial's
metric; :func:`collect_trials` pairs them by ``parameter_id`` instead.

Example::

    >>> config = load_config("trial_templates/demo.yml")
    >>> problems = validate_config(config)       # our classArgs and the search space, up front
    >>> exp, records = run(config, port=8080, timeout=600)
"""
from __future__ import annotations

import math
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nni.experiment import Experiment, ExperimentConfig

from nas_plugins.space import SearchSpaceError, Space

from .. import registry
from .nni_host import build_options, extract_metric

__all__ = ["TrialRecord", "load_config", "validate_config", "collect_trials", "wait", "run", "free_port",
           "format_table"]

# NO_MORE_TRIAL: the trial budget is used up; TUNER_NO_MORE_TRIAL: the tuner raised
# NoMoreTrialError (a finite space is exhausted) -- NNI then idles rather than turning DONE.
FINISHED = {"DONE", "STOPPED", "ERROR", "NO_MORE_TRIAL", "TUNER_NO_MORE_TRIAL"}


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
    """Problems with our algorithms' classArgs and with the search space; empty when all is well.

    NNI 3.0 does not call ``ClassArgsValidator``s for v2 configs, so this runs them up front.
    """
    problems = []
    config = config.canonical_copy()  # loads searchSpaceFile; raises on NNI's own config errors
    try:
        space: Space | None = Space.from_nni(config.search_space)
    except SearchSpaceError as exc:
        problems.append(str(exc))
        space = None
    for section in ("tuner", "assessor"):
        algo = getattr(config, section, None)
        if algo is None or not getattr(algo, "name", None):
            continue
        try:
            info = registry.get(algo.name)
        except registry.UnknownAlgorithmError:
            continue  # an NNI built-in or another package's algorithm: NNI checks it
        try:
            options = build_options(info.name, algo.class_args)
            if info.kind == "tuner" and space is not None:
                info.cls(space, **options)      # e.g. a search-space parameter named like Hyperband's budget key
        except ValueError as exc:
            problems.append(f"{section}: {exc}")
    return problems


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


def wait(exp: Experiment, timeout: float, poll: float = 1.0) -> str:
    """Poll until the experiment finishes and no trial is running; return its final status.

    TUNER_NO_MORE_TRIAL must be seen twice in a row: a tuner that was only waiting for results
    (e.g. Hyperband) turns the experiment back to RUNNING when it sends the trial it owes NNI."""
    deadline = time.monotonic() + timeout
    idle_before = False
    while True:
        status = exp.get_status()
        idle = False
        if status in FINISHED:
            jobs = exp.list_trial_jobs()
            idle = all(j.status not in ("WAITING", "RUNNING", "UNKNOWN") for j in jobs)
            if status == "ERROR" or (idle and (status != "TUNER_NO_MORE_TRIAL" or idle_before)):
                return status
        idle_before = idle
        if time.monotonic() > deadline:
            raise TimeoutError(f"experiment {exp.id} still {status} after {timeout:.0f} s")
        time.sleep(poll)


def run(config: ExperimentConfig, port: int | None = None, timeout: float = 600,
        keep_running: bool = False) -> tuple[Experiment, list[TrialRecord], str]:
    """Start ``config``, wait for it, collect the trials, and stop it (unless ``keep_running``).

    Trials run with this interpreter first on ``PATH``, so ``trialCommand: python ...`` uses the
    environment this package is installed in.
    """
    problems = validate_config(config)
    if problems:
        raise ValueError("invalid experiment config:\n  " + "\n  ".join(problems))
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    exp = Experiment(config)
    exp.start(port or free_port())
    try:
        status = wait(exp, timeout)
        records = collect_trials(exp)
    finally:
        if not keep_running:
            exp.stop()
    return exp, records, status


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
