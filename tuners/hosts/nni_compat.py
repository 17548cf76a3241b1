"""Work-arounds for NNI 3.0, shared by the dispatcher-side adapters and the trial-side API."""
from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.parse
import urllib.request

from nni.common import serializer


def keep_comments() -> None:
    """Make NNI's JSON loader keep ``//`` and ``#`` inside messages (idempotent).

    ``nni.common.serializer.load`` defaults to ``ignore_comments=True``; json_tricks' comment
    stripper then cuts a line at ``#`` or ``//`` after an escaped quote, so a parameter value such
    as ``'say "hi" // there'`` or a nested message holding ``#`` is truncated and the trial hangs.
    NNI's own messages never contain comments, so flipping the keyword default is safe and fixes
    every caller at once (the dispatcher, its command channel, and the trial's parameter file).
    """
    serializer.load.__kwdefaults__["ignore_comments"] = False


def report_to_manager(message: str) -> bool:
    """Send ``message`` as an error to the NNI manager from inside a dispatcher call.

    NNI 3.0 creates the tuner and assessor before its dispatcher and never reports an exception
    raised in them: the dispatcher exits and the experiment stays RUNNING with no trials. Called
    from a tuner/assessor method (which the dispatcher invokes), this finds the calling dispatcher
    on the stack and uses its public ``report_error``, so the experiment turns to ERROR and
    ``nnimanager.log`` holds the message. Returns False when not called from a dispatcher.
    """
    from nni.runtime.msg_dispatcher_base import MsgDispatcherBase

    frame = sys._getframe(1)
    while frame is not None:
        owner = frame.f_locals.get("self")
        if isinstance(owner, MsgDispatcherBase):
            owner.report_error(message)
            return True
        frame = frame.f_back
    return False


def current_trial_parameters() -> dict | None:
    """The parameters of the trial an assessor is judging, or None.

    NNI 3.0 hands ``Assessor.assess_trial`` only the trial id and its curve. The dispatcher's
    ``_handle_intermediate_metric_data`` frame that calls it holds the report, whose
    ``parameter_id`` is the one the trial itself received (so NNI's trial/parameter swap does not
    apply), and the dispatcher keeps every parameter set it sent in ``_trial_params``. Called from
    inside ``assess_trial``, this reads both; it returns None anywhere else.
    """
    from nni.runtime import msg_dispatcher

    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "_handle_intermediate_metric_data":
            data = frame.f_locals.get("data")
            if isinstance(data, dict) and "parameter_id" in data:
                params = msg_dispatcher._trial_params.get(data["parameter_id"])
                return dict(params) if isinstance(params, dict) else None
            return None
        frame = frame.f_back
    return None


# -- the dispatcher: which parameter id each trial really ran, and ordered trial ends ---------------
#
# NNI 3.0's local training service hands parameter sets to trials in the order the trials *ask*
# (a FIFO in nni_node/training_service/v3/compat.js), while the manager records each trial with the
# set that was submitted for it. Two trials started together can swap: the manager's record (which
# the dispatcher passes to ``Tuner.trial_end`` and which the web UI shows) names the other trial's
# parameter id. Metrics are sent by the trial itself and carry the id it really received.
#
# The dispatcher also handles ``TrialEnd`` on its assessor thread and final metrics on its default
# thread, so a tuner may hear of a trial's end before its final result.

_REPORTED_IDS: dict[str, int] = {}      # trial_job_id -> the parameter id its metrics carry
_STARTUP_ERRORS: list[str] = []         # errors found while NNI built the tuner/assessor
_ORDERED_END = "_nasp_trial_end"        # marks our copy of a TrialEnd on the default queue
_local = threading.local()


def reported_parameter_id(trial_job_id: str | None) -> int | None:
    """The parameter id trial ``trial_job_id`` reported with its metrics, if it reported any."""
    return _REPORTED_IDS.get(trial_job_id) if trial_job_id else None


def in_unordered_trial_end() -> bool:
    """True inside NNI's own ``handle_trial_end`` (assessor thread) once :func:`install_dispatcher_hooks`
    runs: a tuner that defines ``nasp_trial_end`` gets the same event again, in order, on the default
    thread, and ignores this one."""
    return bool(getattr(_local, "unordered_end", False))


def fail_at_start(message: str) -> None:
    """Report ``message`` as the experiment's error as soon as the dispatcher starts (before any trial).

    For errors found while NNI constructs a tuner or assessor, when no dispatcher exists yet to
    report to (:func:`report_to_manager` needs one on the stack)."""
    _STARTUP_ERRORS.append(message)


def install_dispatcher_hooks() -> None:
    """Patch NNI 3.0's ``MsgDispatcher`` (idempotent; the dispatcher process only):

    * every metric's ``(trial_job_id, parameter_id)`` is recorded as it arrives
      (:func:`reported_parameter_id`);
    * a ``TrialEnd`` is also queued, behind the final metric the trial sent before it ended, on the
      default thread, and handed to the tuner's ``nasp_trial_end(parameter_id, success,
      trial_job_id=...)`` there (NNI's own ``trial_end`` call on the assessor thread still happens;
      see :func:`in_unordered_trial_end`);
    * errors registered with :func:`fail_at_start` turn the experiment to ERROR when the search space
      arrives, before any trial is launched.
    """
    from nni.runtime.msg_dispatcher import MsgDispatcher
    from nni.runtime.tuner_command_channel import CommandType

    if getattr(MsgDispatcher, "_nasp_hooked", False):
        return
    enqueue, trial_end = MsgDispatcher.enqueue_command, MsgDispatcher.handle_trial_end
    ping, initialize = MsgDispatcher.handle_ping, MsgDispatcher.handle_initialize

    def enqueue_command(self, command, data):
        if command == CommandType.ReportMetricData and isinstance(data, dict):
            job, pid = data.get("trial_job_id"), data.get("parameter_id")
            if job and isinstance(pid, int):
                _REPORTED_IDS[job] = pid
        enqueue(self, command, data)
        if command == CommandType.TrialEnd and hasattr(self.tuner, "nasp_trial_end"):
            self.default_command_queue.put((CommandType.Ping, {_ORDERED_END: data}))

    def handle_trial_end(self, data):
        _local.unordered_end = True
        try:
            trial_end(self, data)
        finally:
            _local.unordered_end = False

    def handle_ping(self, data):
        if not (isinstance(data, dict) and _ORDERED_END in data):
            return ping(self, data)
        end = data[_ORDERED_END]
        parameter_id = serializer.load(end["hyper_params"])["parameter_id"]
        if self.is_created_in_previous_exp(parameter_id):   # NNI ignores these ends too
            return None
        return self.tuner.nasp_trial_end(parameter_id, end["event"] == "SUCCEEDED",
                                         trial_job_id=end.get("trial_job_id"))

    def handle_initialize(self, data):
        if _STARTUP_ERRORS:
            message = "\n".join(_STARTUP_ERRORS)
            self.report_error(message)
            raise ValueError(message)
        return initialize(self, data)

    MsgDispatcher.enqueue_command = enqueue_command
    MsgDispatcher.handle_trial_end = handle_trial_end
    MsgDispatcher.handle_ping = handle_ping
    MsgDispatcher.handle_initialize = handle_initialize
    MsgDispatcher._nasp_hooked = True


# -- the trial: run the parameters NNI records for this trial ----------------------------------------

def _rest_base(channel_url: str) -> str | None:
    """``http://host:port[/prefix]`` from a trial command channel URL ``.../env/<env id>/<trial id>``."""
    parts = urllib.parse.urlsplit(channel_url)
    if parts.scheme not in ("http", "https") or "/env/" not in parts.path:
        return None
    prefix = parts.path.split("/env/")[0].rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{prefix}"


def own_parameter_record(timeout: float = 10.0) -> dict | None:
    """The parameter record the NNI manager holds for this trial (``{"parameter_id", "parameters",
    ...}``), read from its REST API; None outside an NNI trial or if it cannot be read in ``timeout``."""
    base = _rest_base(os.environ.get("NNI_TRIAL_COMMAND_CHANNEL", ""))
    job = os.environ.get("NNI_TRIAL_JOB_ID")
    if base is None or not job:
        return None
    url = f"{base}/api/v1/nni/trial-jobs/{urllib.parse.quote(job)}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                info = json.loads(response.read().decode("utf-8"))
            records = info.get("hyperParameters") if isinstance(info, dict) else None
            if records:
                record = serializer.load(records[0])
                if isinstance(record, dict) and "parameter_id" in record:
                    return record
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            return None
        time.sleep(0.2)


def receive_own_parameters() -> dict:
    """``nni.get_next_parameter()``, made to return the parameters NNI records for this trial.

    NNI 3.0's local training service can hand a trial the parameter set of another trial started
    at the same time (see above); the manager, its REST API, ``nnictl trial ls`` and the web UI
    then show each trial with the other's parameters. This asks for parameters as usual (the
    training service's queue must be drained), then reads the manager's record of this trial and,
    when it names another parameter set, runs that one instead: the trial's metrics then carry the
    recorded parameter id, so every view of NNI is right. If the record cannot be read, the
    received parameters are used and a warning is printed. Safe to call after the trial already
    called ``nni.get_next_parameter()`` (it does not ask twice).
    """
    import nni
    import nni.trial

    if nni.trial._params is None:
        nni.get_next_parameter()
    received = nni.trial._params
    if received is None:
        return {}
    record = own_parameter_record()
    if record is None:
        print(f"nas-plugins: could not read NNI's record of trial {os.environ.get('NNI_TRIAL_JOB_ID')}; "
              f"running the parameters received (parameter_id {received.get('parameter_id')})",
              file=sys.stderr, flush=True)
    elif record.get("parameter_id") != received.get("parameter_id") and isinstance(record.get("parameters"), dict):
        print(f"nas-plugins: NNI handed this trial the parameters of parameter_id {received.get('parameter_id')}, "
              f"but records it with parameter_id {record['parameter_id']}; running the recorded ones",
              flush=True)
        nni.trial._params = record
    params = nni.trial._params["parameters"]
    return dict(params) if isinstance(params, dict) else {}


def _experiment_params() -> dict | None:
    """The experiment's config as the NNI manager holds it (``params`` of its profile), read from its REST
    API by the dispatcher (whose command channel URL names the manager's port); None elsewhere."""
    url = urllib.parse.urlsplit(os.environ.get("NNI_TUNER_COMMAND_CHANNEL", ""))
    if url.scheme not in ("ws", "wss") or not url.netloc:
        return None
    prefix = url.path.rsplit("/tuner", 1)[0].rstrip("/")
    scheme = "https" if url.scheme == "wss" else "http"
    try:
        with urllib.request.urlopen(f"{scheme}://{url.netloc}{prefix}/api/v1/nni/experiment", timeout=5) as response:
            profile = json.loads(response.read().decode("utf-8"))
        params = profile["params"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return params if isinstance(params, dict) else None


def experiment_trial_budget() -> int | None:
    """The experiment's ``maxTrialNumber`` (read by the dispatcher); None when unknown or unbounded."""
    budget = (_experiment_params() or {}).get("maxTrialNumber")
    return budget if isinstance(budget, int) and not isinstance(budget, bool) and budget > 0 else None


def experiment_code_directory() -> str | None:
    """The experiment's ``trialCodeDirectory`` (absolute: NNI resolves it against the config file), read
    by the dispatcher, whose own working directory is the experiment's log folder; None elsewhere."""
    code_dir = (_experiment_params() or {}).get("trialCodeDirectory")
    return code_dir if isinstance(code_dir, str) and code_dir else None
