"""One small API for trial scripts: get the configuration, report progress and the final metric.

The same script runs under NNI (``nnictl create`` or ``nni.experiment.Experiment``), under
AutoGluon's scheduler (pass the ``reporter`` AutoGluon hands your training function), and as a
plain Python program (configuration from ``--config '{"lr": 0.1}'`` or the defaults)::

    from trial_templates.report import start

    trial = start(defaults={"lr": 0.01, "epochs": 5})
    for epoch in range(trial.config["epochs"]):
        accuracy = train_one_epoch(trial.config)
        trial.report(accuracy)              # intermediate result (NNI: assessors see it)
        if trial.should_stop():             # a local EarlyStopper, outside NNI
            break
    trial.final(accuracy)

A NaN or infinite intermediate value is skipped with a warning; a non-finite final value raises
``FloatingPointError``, so the host records a failed trial instead of a corrupted metric.

``trial.checkpoint_dir()`` is a folder shared by the trials of one experiment, where a trial that
Hyperband/ASHA promotes to a larger budget finds the checkpoint of its smaller-budget run. Across
machines (NNI's remote training service, a cluster) point ``$NASP_CHECKPOINT_ROOT`` at storage they all
see: a shared mount or an fsspec URL (:mod:`nas_plugins.checkpoints`). With the tuner's ``resume_key``
(``resume_from``), ``trial.resume_from`` is the epoch a promoted configuration was trained to; when its
checkpoint is missing, :meth:`Trial.missing_checkpoint` prints a warning to the trial's log and the
final result carries ``checkpoint_missing: true`` (NNI: ``{"default": value, "checkpoint_missing": true}``).
"""
from __future__ import annotations

import argparse
import atexit
import json
import math
import os
import shutil
import sys
import tempfile
import warnings

from nas_plugins import checkpoints
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping

__all__ = ["Trial", "start", "detect_backend"]

Backend = Literal["nni", "autogluon", "plain"]


def detect_backend(reporter: Any = None) -> Backend:
    """``autogluon`` if a reporter is given, ``nni`` inside an NNI trial, else ``plain``."""
    if reporter is not None:
        return "autogluon"
    if os.environ.get("NNI_PLATFORM") not in (None, "", "unittest"):
        return "nni"
    return "plain"


def _finite(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


@dataclass
class Trial:
    """A running trial: its ``config``, and the values it reported (``history``)."""
    config: dict
    backend: Backend
    reporter: Callable[..., Any] | None = None
    stopper: Any = None                      # an nas_plugins.strategy.EarlyStopper, used outside NNI
    trial_id: str = "plain"
    history: list[float | None] = field(default_factory=list)
    result: float | None = None
    resume_key: str = "resume_from"          # the tuner's resume_key (Hyperband/ASHA)
    metadata: dict = field(default_factory=dict)   # flags reported with the final result

    @property
    def resume_from(self) -> int | None:
        """The budget (epochs) this configuration was trained to before, when the tuner promoted it and
        marks promotions (``resume_key``); None for a new configuration."""
        value = self.config.get(self.resume_key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 1:
            return None
        return int(value)

    def missing_checkpoint(self, message: str) -> None:
        """A checkpoint this trial should resume from is missing: a warning line in the trial's log (stderr)
        and ``checkpoint_missing: true`` with the final result. Pass it as ``on_missing_checkpoint`` to
        :func:`nas_plugins.cells.train_and_evaluate`."""
        print(f"nas-plugins WARNING: trial {self.trial_id}: {message}", file=sys.stderr, flush=True)
        self.metadata["checkpoint_missing"] = True

    def report(self, value: Any, step: int | None = None) -> None:
        """Report an intermediate value (e.g. validation accuracy after an epoch)."""
        x = _finite(value)
        self.history.append(x)
        step = len(self.history) if step is None else step
        if x is None:
            warnings.warn(f"trial {self.trial_id}: intermediate value {value!r} at step {step} is not a finite "
                          "number; not reported", RuntimeWarning, stacklevel=2)
            return
        if self.backend == "nni":
            import nni
            nni.report_intermediate_result(x)
        elif self.backend == "autogluon":
            assert self.reporter is not None
            self.reporter(epoch=step, reward=x)
        else:
            print(f"[trial {self.trial_id}] step {step}: {x:.6g}", flush=True)

    def should_stop(self) -> bool:
        """True when the attached early stopper says stop (NNI's assessor stops trials itself)."""
        if self.stopper is None or self.backend == "nni":
            return False
        return bool(self.stopper.should_stop(self.trial_id, self.history, config=self.config))

    def checkpoint_dir(self) -> str:
        """A folder (created if needed) shared by every trial of the same experiment: a path, or an fsspec
        URL when ``$NASP_CHECKPOINT_ROOT`` is one.

        NNI: ``$NASP_CHECKPOINT_ROOT/<experiment id>``, by default under
        ``<temp dir>/nasp-checkpoints/`` (kept after the experiment: delete it when done; local to the
        machine, so set the variable to shared storage when trials run on several machines).
        AutoGluon and plain Python: ``$NASP_CHECKPOINT_ROOT`` itself, or else a temporary folder of
        this process, removed when it exits.
        """
        root = checkpoints.root_from_env()
        if self.backend == "nni":
            experiment = os.environ.get("NNI_EXP_ID") or "unknown-experiment"
            path = checkpoints.join(root or os.path.join(tempfile.gettempdir(), "nasp-checkpoints"), experiment)
        else:
            path = root or _process_checkpoint_dir()
        return checkpoints.make_dirs(path)

    def final(self, value: Any) -> None:
        """Report the final metric; raises FloatingPointError if it is NaN or infinite."""
        x = _finite(value)
        if self.stopper is not None and self.backend != "nni":
            self.stopper.complete(self.trial_id, self.history, success=x is not None, config=self.config)
        if x is None:
            raise FloatingPointError(f"trial {self.trial_id}: final metric {value!r} is not a finite number")
        self.result = x
        if self.backend == "nni":
            import nni
            nni.report_final_result({"default": x, **self.metadata} if self.metadata else x)
        elif self.backend == "autogluon":
            assert self.reporter is not None
            # AutoGluon's LocalReporter ignores calls that carry `done`; its searcher is told the
            # last plain result, so the final value is reported as one.
            self.reporter(epoch=len(self.history), reward=x, **self.metadata)
        else:
            flags = "".join(f" {k}={json.dumps(v)}" for k, v in self.metadata.items())
            print(f"[trial {self.trial_id}] final: {x:.6g}{flags}", flush=True)


_PROCESS_CHECKPOINTS: str | None = None


def _process_checkpoint_dir() -> str:
    """A temporary folder for this process's trials, removed when the process exits."""
    global _PROCESS_CHECKPOINTS
    if _PROCESS_CHECKPOINTS is None or not os.path.isdir(_PROCESS_CHECKPOINTS):
        _PROCESS_CHECKPOINTS = tempfile.mkdtemp(prefix="nasp-checkpoints-")
        atexit.register(shutil.rmtree, _PROCESS_CHECKPOINTS, ignore_errors=True)
    return _PROCESS_CHECKPOINTS


def _plain_config(argv: list[str] | None) -> dict:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--config", default=os.environ.get("NASP_TRIAL_CONFIG"))
    args, _ = parser.parse_known_args(argv)
    if not args.config:
        return {}
    text = open(args.config).read() if os.path.isfile(args.config) else args.config
    config = json.loads(text)
    if not isinstance(config, dict):
        raise ValueError(f"--config must be a JSON object, got {text!r}")
    return config


def start(defaults: Mapping[str, Any] | None = None, *, config: Mapping[str, Any] | None = None,
          reporter: Callable[..., Any] | None = None, stopper: Any = None,
          argv: list[str] | None = None) -> Trial:
    """Begin a trial. The configuration is ``defaults`` overlaid with what the host sends:
    NNI's next parameters, the ``config`` AutoGluon passes (with its ``reporter``), or, in plain
    Python, ``--config JSON|FILE`` / ``$NASP_TRIAL_CONFIG``."""
    backend = detect_backend(reporter)
    merged = dict(defaults or {})
    trial_id = "plain"
    if backend == "nni":
        import nni

        from tuners.hosts.nni_compat import keep_comments, receive_own_parameters
        keep_comments()  # the parameter file may hold '#' or '//' inside values
        # The parameters NNI records for this trial (NNI 3.0 may hand it another trial's); also
        # fine after the script itself called nni.get_next_parameter().
        merged.update(receive_own_parameters())
        trial_id = nni.get_trial_id()
    elif backend == "autogluon":
        merged.update(config or {})
        trial_id = str((config or {}).get("task_id", "autogluon"))
    else:
        merged.update(config or _plain_config(argv if argv is not None else sys.argv[1:]))
    return Trial(merged, backend, reporter=reporter, stopper=stopper, trial_id=trial_id)
