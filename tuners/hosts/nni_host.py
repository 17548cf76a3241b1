"""NNI adapter: every registered strategy as an NNI ``Tuner``, every early stopper as an ``Assessor``.

The classes are generated from the registry (``RandomTuner``, ``GridTuner``, ``MedianStopAssessor``...)
with a ``ClassArgsValidator`` each; ``nni_meta.yml`` beside this file lists them for
``nnictl algo register --meta`` so a YAML config can say::

    tuner:
      name: NaspRandom
      classArgs: {optimize_mode: maximize, seed: 0}

What this adapter adds over a plain wrapper:

* NNI 3.0 strips ``//`` and ``#`` "comments" when it parses its own JSON messages, which corrupts
  parameter values containing them; importing this module parses with comments kept
  (:func:`keep_comments`).
* resume: the strategy is checkpointed after every change into NNI's checkpoint directory and
  restored by ``nnictl resume`` (NNI itself never calls ``save_checkpoint``); finished trials that
  NNI re-imports are folded in without being proposed again.
* a result is paired with the configuration the tuner proposed for the parameter id the trial
  reported (NNI 3.0 replaces the parameters it hands back with '' for the first trial of a partly
  answered request), and a trial's end with the id its metrics carried, not NNI's record of the
  trial, which NNI's local training service may swap between trials started together
  (``nni_compat``). Trial ends arrive in order behind the trial's results; a result that still comes
  after a failure mark replaces it.
* a bad assessor argument turns the experiment to ERROR at start, before any trial runs.
* NaN, missing or malformed metrics and failed trials are told to the strategy as failures and
  logged with the trial's parameter id; they never crash the dispatcher.
* a strategy that is only waiting for results (:class:`~nas_plugins.strategy.NotReady`, e.g. a
  Hyperband rung whose last trials still run) refuses NNI's request for now, and the adapter sends
  the owed trials itself (``NEW_TRIAL_JOB``, as NNI's own Hyperband advisor does) as soon as a
  result makes them available: NNI asks again only when a trial ends, so without this a refused
  request could leave the experiment idle for good.
"""
from __future__ import annotations

import logging
import os
import pickle
import re
import threading
from functools import wraps
from typing import Any, ClassVar

import nni
from nni.assessor import AssessResult, Assessor
from nni.tuner import Tuner
from nni.runtime.env_vars import dispatcher_env_vars
from nni.utils import ClassArgsValidator

from nas_plugins.space import SearchSpaceError, Space, config_key
from nas_plugins.strategy import EarlyStopper, NotReady, SpaceExhausted, Strategy, as_metric

from .. import registry
from .nni_compat import (current_trial_parameters, experiment_code_directory, experiment_trial_budget, fail_at_start,
                         in_unordered_trial_end, install_dispatcher_hooks, keep_comments, report_to_manager,
                         reported_parameter_id)

__all__ = ["extract_metric", "build_options", "resolve_file_options", "nni_meta", "StrategyTuner",
           "StopperAssessor", "AlgorithmArgsValidator"]

_logger = logging.getLogger("nas_plugins.nni")
_MODES = {"maximize": "max", "minimize": "min"}


keep_comments()
install_dispatcher_hooks()


def extract_metric(value: Any) -> float | None:
    """NNI metric -> float, or None for NaN/missing/non-numeric (a dict uses its ``default`` key)."""
    if isinstance(value, dict):
        value = value.get("default")
    return as_metric(value)


#: Options naming a file (a JSON ``search_space`` may also be given inline, as a dict).
FILE_OPTIONS = ("model_path", "search_space")


def resolve_file_options(class_args: dict | None, code_dir: str | os.PathLike | None) -> dict:
    """``class_args`` with relative file options (LCRankNet's ``model_path``, a ``search_space`` file)
    joined to ``code_dir``, the experiment's ``trialCodeDirectory``.

    NNI starts the dispatcher in the experiment's log folder and each trial in its copy of the code
    directory (uploaded to the machine that runs it on the remote training service), so a file kept
    in the code directory and named relative to it is found by the assessor and by trials alike; an
    absolute path is used as it is, and would have to exist on every machine.

    >>> resolve_file_options({"model_path": "models/lcranknet.pt", "delta": 0.1}, "/exp/code")
    {'model_path': '/exp/code/models/lcranknet.pt', 'delta': 0.1}
    """
    out = dict(class_args or {})
    if not code_dir:
        return out
    for key in FILE_OPTIONS:
        value = out.get(key)
        if isinstance(value, str) and value and "://" not in value and not os.path.isabs(os.path.expanduser(value)):
            out[key] = os.path.join(os.fspath(code_dir), value)
    return out


def build_options(algorithm: str, class_args: dict | None, code_dir: str | os.PathLike | None = None) -> dict:
    """Translate NNI ``classArgs`` into our options, raising ValueError naming a bad one.

    ``optimize_mode`` (maximize/minimize) becomes ``mode``; every other key must be an option of
    the algorithm, and the algorithm's constructor checks the values. Relative file options are
    resolved against ``code_dir`` (:func:`resolve_file_options`).
    """
    info = registry.get(algorithm)
    options = resolve_file_options(class_args, code_dir)
    accepted = ["optimize_mode" if n == "mode" else n for n in registry.option_names(info.cls)]
    for key in options:
        if key not in accepted:
            raise ValueError(f"{info.nni_name} classArgs: unknown option {key!r}; accepted: {', '.join(accepted)}")
    if "optimize_mode" in options:
        mode = options.pop("optimize_mode")
        if mode not in _MODES:
            raise ValueError(f"{info.nni_name}: optimize_mode must be 'maximize' or 'minimize', got {mode!r}")
        options["mode"] = _MODES[mode]
    try:
        registry.create(info.name, **options) if info.kind == "assessor" else registry.create(info.name, None, **options)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{info.nni_name} classArgs: {exc}") from None
    return options


def _options_or_error(algorithm: str, class_args: dict) -> tuple[dict, str | None]:
    """Options, or defaults plus the error: raising here would leave the experiment hanging. In the
    dispatcher, relative file options are resolved against the experiment's code directory."""
    code_dir = None
    if any(isinstance(class_args.get(key), str) for key in FILE_OPTIONS) and \
            dispatcher_env_vars.SDK_PROCESS == "dispatcher":
        code_dir = experiment_code_directory()
    try:
        return build_options(algorithm, class_args, code_dir), None
    except ValueError as exc:
        _logger.error("%s", exc)
        return {}, str(exc)


def _fail_experiment(message: str) -> None:
    """Turn the experiment to ERROR with ``message`` (see ``report_to_manager``) and stop."""
    _logger.error("%s", message)
    report_to_manager(message)
    raise ValueError(message)


class AlgorithmArgsValidator(ClassArgsValidator):
    """Validates ``classArgs`` for one registered algorithm (see :func:`build_options`)."""
    algorithm: ClassVar[str] = ""

    def validate_class_args(self, **kwargs: Any) -> None:
        build_options(self.algorithm, kwargs)


class _Waiting(nni.NoMoreTrialError):
    """Nothing to propose until a pending result arrives (the strategy raised NotReady)."""


def _locked(method):
    """NNI calls tuner methods from two threads (``trial_end`` comes on the assessor queue)."""
    @wraps(method)
    def run(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)
    return run


class StrategyTuner(Tuner):
    """An NNI tuner driving one registered :class:`~nas_plugins.strategy.Strategy`."""
    algorithm: ClassVar[str] = ""
    _CHECKPOINT = "nas_plugins_tuner.pkl"

    def __init__(self, **class_args: Any):
        options, self._fatal = _options_or_error(self.algorithm, class_args)
        self.strategy: Strategy = registry.create(self.algorithm, None, **options)
        self._params: dict[int, dict] = {}      # parameter_id -> proposed config
        self._told: set[int] = set()            # parameter ids whose result the strategy has
        self._imported: set[str] = set()        # config keys received through import_data
        self._jobs: dict[str, int] = {}         # trial_job_id -> parameter id of its final result
        self._marked_failed: set[int] = set()   # ids recorded as failed because the trial ended
        self._records: dict[str, int] = {}      # trial_job_id -> NNI's record of its parameter id
        self._ended: dict[str, bool] = {}       # ended trials not yet resolved -> succeeded
        self._owed = 0                          # requests refused while the strategy was waiting
        self._send_trial = None                 # the dispatcher's callback for sending a trial
        self._lock = threading.RLock()

    # -- pickling -------------------------------------------------------------------------------
    def __getstate__(self) -> dict:
        """The whole state but the lock and the dispatcher's send callback (both local to this process);
        a copy proposes and decides as the original would (tests/test_contract.py)."""
        with self._lock:
            state = dict(self.__dict__)
        state.pop("_lock")
        state["_send_trial"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    # -- search space ---------------------------------------------------------------------------
    @_locked
    def update_search_space(self, search_space: dict) -> None:
        if self._fatal is None:
            try:
                self.strategy.set_space(Space.from_nni(search_space))
            except SearchSpaceError as exc:
                self._fatal = str(exc)
        if self._fatal is not None:
            _fail_experiment(self._fatal)
        if self.strategy.trial_budget is None and len(self.strategy.history) == 0:
            self.strategy.set_trial_budget(experiment_trial_budget())   # maxTrialNumber sizes warm-ups
        self._save()

    # -- proposals ------------------------------------------------------------------------------
    @_locked
    def generate_multiple_parameters(self, parameter_id_list: list[int], **kwargs: Any) -> list[dict]:
        """NNI's entry point; requests refused because the strategy waits are owed, see _serve_owed."""
        self._send_trial = kwargs.get("st_callback") or self._send_trial
        out: list[dict] = []
        for parameter_id in parameter_id_list:
            try:
                out.append(self.generate_parameters(parameter_id, **kwargs))
            except _Waiting:
                self._owed += len(parameter_id_list) - len(out)
                break
            except nni.NoMoreTrialError:
                break
        return out

    @_locked
    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict:
        if parameter_id in self._params:
            # Never overwrite a trial's record (its result would be filed under another configuration).
            _logger.error("parameter_id %s already belongs to %s; no trial for this request", parameter_id,
                          self._params[parameter_id])
            raise nni.NoMoreTrialError(f"parameter_id {parameter_id} is already used")
        try:
            config = self.strategy.ask()
        except NotReady as exc:
            _logger.info("%s: %s; the request is answered when a result arrives", type(self).__name__, exc)
            raise _Waiting(str(exc)) from None
        except SpaceExhausted as exc:
            _logger.info("%s: %s; no more trials", type(self).__name__, exc)
            raise nni.NoMoreTrialError(str(exc)) from None
        self._params[parameter_id] = config
        self._save()
        return config

    # -- results --------------------------------------------------------------------------------
    @_locked
    def receive_trial_result(self, parameter_id: int, parameters: dict, value: Any, **kwargs: Any) -> None:
        """A final result; ``parameter_id`` is the one the trial itself received and reported."""
        metric = extract_metric(value)
        job = kwargs.get("trial_job_id")
        if job:
            self._jobs[job] = parameter_id
        # What we proposed for this id, not NNI's copy: when a request is only partly answered, NNI
        # 3.0 packs its NoMoreTrialJobs message with the request's first id, which overwrites that
        # trial's parameters in the dispatcher with '' (the result would come back for {}).
        config = self._params.get(parameter_id, parameters)
        if not isinstance(config, dict):
            _logger.warning("result for unknown parameter_id %s (parameters %r) ignored", parameter_id, parameters)
            return
        if parameter_id in self._told:
            if parameter_id in self._marked_failed and metric is not None:
                _logger.info("parameter_id %s: result %r arrived after the trial was recorded as failed; "
                             "it replaces the failure", parameter_id, metric)
                self._marked_failed.discard(parameter_id)
                self._tell(parameter_id, config, metric)
            else:
                _logger.warning("parameter_id %s: a second final result %r ignored (the first is kept)",
                                parameter_id, value)
            return
        if metric is None:
            _logger.warning("trial with parameter_id %s reported %r: not a finite number; recorded as failed",
                            parameter_id, value)
        self._tell(parameter_id, config, metric)

    @_locked
    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        """NNI's call. Under NNI's dispatcher the hooks in ``nni_compat`` deliver every trial end again,
        in order with the results, through :meth:`nasp_trial_end`; this copy is then ignored."""
        if in_unordered_trial_end():
            return
        self.nasp_trial_end(parameter_id, success, trial_job_id=kwargs.get("trial_job_id"))

    @_locked
    def nasp_trial_end(self, parameter_id: int, success: bool, trial_job_id: str | None = None) -> None:
        """A trial ended. ``parameter_id`` is NNI's record of the trial, which NNI 3.0 may have swapped
        with another trial's (see ``nni_compat``): the id the trial reported with its metrics wins."""
        if trial_job_id:
            self._records[trial_job_id] = parameter_id
            self._ended[trial_job_id] = success
        for job in list(self._ended) if trial_job_id else [None]:   # this trial and any still unresolved
            recorded = parameter_id if job == trial_job_id else self._records[job]
            ok = success if job == trial_job_id else self._ended[job]
            pid = self._true_id(job, recorded)
            if pid is None:
                continue                       # a silent trial whose partner in a swap is still running
            self._ended.pop(job, None)
            if pid in self._told or pid not in self._params:
                continue
            reason = "ended without a final result" if ok else "did not succeed (failed, cancelled or stopped early)"
            _logger.warning("trial %s with parameter_id %s %s; recorded as failed", job or "?", pid, reason)
            self._marked_failed.add(pid)
            self._tell(pid, self._params[pid], None)

    def _true_id(self, trial_job_id: str | None, recorded: int) -> int | None:
        """The parameter id trial ``trial_job_id`` ran: the one it reported with any metric, else NNI's
        record of it unless another trial reported that id (a swap: then that trial's record, once it
        has ended); None while that cannot be told yet."""
        reported = self._jobs.get(trial_job_id) if trial_job_id else None
        if reported is None:
            reported = reported_parameter_id(trial_job_id)
        if reported is not None or trial_job_id is None:
            return recorded if reported is None else reported
        partner = next((job for job, pid in self._all_reported().items() if pid == recorded and job != trial_job_id),
                       None)
        if partner is None:
            return recorded
        return self._records.get(partner)

    def _all_reported(self) -> dict[str, int]:
        """trial_job_id -> reported parameter id, from every metric the dispatcher saw."""
        from .nni_compat import _REPORTED_IDS
        return {**_REPORTED_IDS, **self._jobs}

    @_locked
    def import_data(self, data: list[dict]) -> None:
        """Fold in finished trials (``nnictl experiment import`` and ``nnictl resume``)."""
        space = self.strategy.space
        # multi-fidelity: the budget (and resume) keys are not space parameters
        extra = {getattr(self.strategy, "budget_key", None), getattr(self.strategy, "resume_key", None)}
        known = self._imported | self._told_keys()
        for entry in data:
            config = entry.get("parameter")
            base = {k: v for k, v in config.items() if k not in extra} if isinstance(config, dict) else None
            if base is None or (space is not None and not space.contains(base)):
                _logger.warning("import_data: skipping %r, not a configuration of the search space", config)
                continue
            key = config_key(config)
            if key in known:
                continue
            known.add(key)
            self._imported.add(key)
            self.strategy.tell(config, extract_metric(entry.get("value")))
        self._save()

    def _told_keys(self) -> set[str]:
        return {config_key(self._params[i]) for i in self._told}

    def _tell(self, parameter_id: int, config: dict, metric: float | None) -> None:
        self.strategy.tell(config, metric)
        self._told.add(parameter_id)
        self._params.setdefault(parameter_id, config)
        self._save()
        self._serve_owed()

    def _serve_owed(self) -> None:
        """Send a trial for each refused request the strategy can now answer (called after a result)."""
        while self._owed > 0 and self._send_trial is not None:
            try:
                config = self.strategy.ask()
            except NotReady:
                return
            except SpaceExhausted:
                self._owed = 0
                return
            parameter_id = self._new_parameter_id()
            self._owed -= 1
            self._params[parameter_id] = config
            self._save()
            _logger.info("sending parameter_id %s for a request made while %s was waiting for results",
                         parameter_id, type(self.strategy).__name__)
            self._send_trial(parameter_id, config)

    def _new_parameter_id(self) -> int:
        """A parameter id from the dispatcher's own counter that no trial has yet (a caller numbering
        ids itself, as NNI's tuner unit tests do, may already have used the counter's next ids)."""
        from nni.runtime import msg_dispatcher
        while True:
            parameter_id = msg_dispatcher._create_parameter_id()
            if parameter_id not in self._params:
                return parameter_id

    # -- checkpoint -----------------------------------------------------------------------------
    def _checkpoint_file(self) -> str | None:
        path = self.get_checkpoint_path()
        return os.path.join(path, self._CHECKPOINT) if path else None

    def _save(self) -> None:
        path = self._checkpoint_file()
        if path is None:
            return
        state = {"strategy": self.strategy, "imported": self._imported | self._told_keys()}
        with open(path + ".tmp", "wb") as f:
            pickle.dump(state, f)
        os.replace(path + ".tmp", path)

    @_locked
    def save_checkpoint(self) -> None:
        self._save()

    @_locked
    def load_checkpoint(self) -> None:
        path = self._checkpoint_file()
        if path is None or not os.path.exists(path):
            return
        with open(path, "rb") as f:
            state = pickle.load(f)
        self.strategy, self._imported = state["strategy"], state["imported"]
        if hasattr(self.strategy, "requeue_pending"):
            self.strategy.requeue_pending()   # trials running at the stop never report: propose them again
        # The strategy remembers every configuration it proposed or was told, so nothing is
        # proposed again. Parameter ids are not kept: NNI restarts them at 0 when no trial was in
        # flight, and reports the results of re-run trials through import_data.
        _logger.info("restored %s with %d results", type(self.strategy).__name__, len(self.strategy.history))


class StopperAssessor(Assessor):
    """An NNI assessor driving one registered :class:`~nas_plugins.strategy.EarlyStopper`."""
    algorithm: ClassVar[str] = ""

    def __init__(self, **class_args: Any):
        options, self._fatal = _options_or_error(self.algorithm, class_args)
        if self._fatal is not None and dispatcher_env_vars.SDK_PROCESS == "dispatcher":
            fail_at_start(self._fatal)     # the experiment turns to ERROR before any trial starts
        self.stopper: EarlyStopper = registry.create(self.algorithm, **options)
        self._curves: dict[str, list] = {}
        self._configs: dict[str, dict | None] = {}

    def _on_exit(self) -> None:
        """The dispatcher is exiting: stop the stopper's background work (e.g. LCRankNet refits)."""
        close = getattr(self.stopper, "close", None)
        if callable(close):
            close()

    _on_error = _on_exit

    def assess_trial(self, trial_job_id: str, trial_history: list) -> AssessResult:
        if self._fatal is not None:
            _fail_experiment(self._fatal)
        curve = [extract_metric(v) for v in trial_history]
        self._curves[trial_job_id] = curve
        if self._configs.get(trial_job_id) is None:
            self._configs[trial_job_id] = current_trial_parameters()
            if self._configs[trial_job_id] is None:
                _logger.warning("trial %s: parameters not found; judging it from its curve only", trial_job_id)
        try:
            stop = self.stopper.should_stop(trial_job_id, curve, config=self._configs[trial_job_id])
        except Exception:  # an assessor bug must not take the dispatcher down
            _logger.exception("%s failed on trial %s; letting it run", type(self.stopper).__name__, trial_job_id)
            return AssessResult.Good
        if stop:
            _logger.info("%s: stopping trial %s after %d reports (curve %s)", type(self.stopper).__name__,
                         trial_job_id, len(curve), curve)
            return AssessResult.Bad
        return AssessResult.Good

    def trial_end(self, trial_job_id: str, success: bool) -> None:
        self.stopper.complete(trial_job_id, self._curves.pop(trial_job_id, []), success,
                              config=self._configs.pop(trial_job_id, None))


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[_\W]+", name) if part)


def _generate_classes() -> dict[str, dict[str, type]]:
    """One adapter class and one validator per registered algorithm, exported from this module."""
    made: dict[str, dict[str, type]] = {}
    for info in registry.algorithms():
        base = StrategyTuner if info.kind == "tuner" else StopperAssessor
        stem = _camel(info.name)
        attrs = {"algorithm": info.name, "__module__": __name__, "__doc__": f"NNI {info.kind} {info.nni_name}: {info.summary}"}
        adapter = type(stem + ("Tuner" if info.kind == "tuner" else "Assessor"), (base,), attrs)
        validator = type(stem + "ClassArgsValidator", (AlgorithmArgsValidator,),
                         {"algorithm": info.name, "__module__": __name__})
        globals()[adapter.__name__] = adapter
        globals()[validator.__name__] = validator
        made[info.name] = {"class": adapter, "validator": validator}
    return made


ADAPTERS = _generate_classes()


def nni_meta() -> dict:
    """The ``nnictl algo register --meta`` document for every registered algorithm."""
    algos = []
    for info in sorted(registry.algorithms(), key=lambda i: (i.kind, i.name)):  # stable, whatever the import order
        classes = ADAPTERS[info.name]
        algos.append({"algoType": info.kind, "builtinName": info.nni_name,
                      "className": f"{__name__}.{classes['class'].__name__}",
                      "classArgsValidator": f"{__name__}.{classes['validator'].__name__}"})
    return {"algorithms": algos}
