"""Replay a tabular benchmark as NNI trials on a simulated clock: the one simulator of ``bench/``.

:func:`run` drives a tuner (and optionally an assessor) through the calls NNI's dispatcher makes
(``nni/runtime/msg_dispatcher.py``)::

    tuner.update_search_space(space)
    tuner.generate_multiple_parameters([parameter_id], st_callback=...)   # [] or NoMoreTrialError: none now
    assessor.assess_trial(trial_job_id, history)                          # each intermediate report
    tuner.receive_trial_result(parameter_id, parameters, value)           # the final result
    assessor.trial_end(trial_job_id, success); tuner.trial_end(parameter_id, success)

(``generate_multiple_parameters`` with one id is ``generate_parameters`` for every tuner that does
not override it; NNI's Evolution overrides it to count running trials.) ``workers`` simulated
workers each ask for a proposal when free; a trial occupies its worker for the benchmark's cost
of that proposal; results are delivered in completion-time order through an event queue.

Accounting, the same for every contender (ours and the anchors):

* **Budget.** ``n_evals`` full evaluations, counted in epochs: ``n_evals x max epochs`` (one
  unit per evaluation on tables without curves). A trial is charged the epochs it trains; one
  that resumes a configuration already trained to ``e`` epochs in this run (the same
  configuration as proposed, budget key aside) trains and pays only the epochs beyond ``e``.
* **Dispatch.** A trial starts while the epochs charged to finished trials plus those planned
  by running ones stay below the budget. The trial that would overshoot it is cut at the budget:
  it trains the remaining epochs and ends without a result. So every run spends exactly its
  budget (or stops earlier because the tuner proposes nothing more, or after ``max_trials``).
* **Stopped trials.** A trial the assessor stops ends at the report that stopped it, without a
  final result, and is charged only the epochs it trained: the rest goes back to the budget.
* **Regret.** The incumbent is the result with the largest budget, then the best value; its
  regret is read at the budget it was trained to (``problem.regret(row, budget)``).

Example::

    >>> from bench.anchors import get_contender
    >>> from bench.problems import LCBench
    >>> trace = run(get_contender("nni_tpe").make, LCBench("3945"), n_evals=50, workers=4, seed=0)
    >>> trace.regret_after(50), trace.makespan
"""
from __future__ import annotations

import heapq
import inspect
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import nni

from .anchors import seed_globals
from .problems import Problem

__all__ = ["Record", "Trace", "run", "overhead"]


@dataclass
class Record:
    """One evaluation, in completion order."""
    parameter_id: int
    config: dict
    index: int              # table row
    budget: int             # epoch the trial reached (its budget; where it was stopped or cut)
    value: float | None     # what the tuner was told (None: stopped early, no final result)
    cost: float             # simulated seconds the trial ran
    epochs: int             # epochs trained (restored epochs excluded)
    start: float            # simulated clock at start and at completion
    end: float
    regret: float           # incumbent's regret after this completion (nan: no incumbent yet)
    units: float            # full-evaluation units charged (epochs trained / max epochs)
    worker: int


@dataclass
class Trace:
    problem: str
    strategy: str
    seed: int
    workers: int
    n_evals: int
    records: list = field(default_factory=list)
    budget_aware: bool = False      # some proposal carried a budget
    stop_reason: str = ""           # why dispatching stopped
    wall_s: float = 0.0             # real seconds of the whole run
    tuner_s: float = 0.0            # real seconds spent in tuner/assessor calls
    assess_ms: list = field(default_factory=list)   # real milliseconds of each assessor decision

    @property
    def makespan(self) -> float:
        return max((r.end for r in self.records), default=0.0)

    @property
    def epochs(self) -> int:
        return sum(r.epochs for r in self.records)

    def arrays(self) -> dict[str, np.ndarray]:
        """end time, regret, cumulative units and epochs, per record (completion order)."""
        return {"end": np.array([r.end for r in self.records]),
                "regret": np.array([r.regret for r in self.records]),
                "units": np.cumsum([r.units for r in self.records]),
                "epochs": np.cumsum([r.epochs for r in self.records])}

    def regret_after(self, units: float) -> float:
        """Incumbent regret once ``units`` full evaluations were consumed (the first completion
        reaching it; the last one if the run never did)."""
        if not self.records:
            return math.nan
        cum = np.cumsum([r.units for r in self.records])
        i = int(np.searchsorted(cum, units - 1e-9))
        return self.records[min(i, len(self.records) - 1)].regret

    def regret_at_time(self, t: float) -> float:
        best = math.nan
        for r in self.records:
            if r.end > t:
                break
            best = r.regret
        return best

    @property
    def final_regret(self) -> float:
        return self.records[-1].regret if self.records else math.nan


def _call_factory(factory: Callable, seed: int, problem: Problem):
    """``factory(seed, problem)`` or ``factory(seed)``."""
    try:
        n = len([p for p in inspect.signature(factory).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty])
    except (TypeError, ValueError):
        n = 2
    return factory(seed, problem) if n >= 2 else factory(seed)


def _handle_intermediate_metric_data(assessor, trial_job_id: str, history: list, data: dict):
    """``assessor.assess_trial`` called as NNI's dispatcher calls it: from a method of this name whose
    ``data`` holds the report's ``parameter_id`` (our assessors read the trial's parameters there,
    ``tuners.hosts.nni_compat.current_trial_parameters``)."""
    return assessor.assess_trial(trial_job_id, history)


def run(tuner_factory: Callable, problem: Problem, n_evals: float | None = None, workers: int = 1, seed: int = 0,
        assessor_factory: Callable | None = None, strategy: str = "", max_trials: int | None = None) -> Trace:
    """Run one tuner on ``problem`` with ``workers`` simulated workers until ``n_evals`` full
    evaluations' epochs are spent and/or ``max_trials`` trials were started (see the module's
    accounting rules).

    ``tuner_factory(seed, problem)`` (or ``tuner_factory(seed)``) returns an NNI Tuner; the same
    for ``assessor_factory`` and an NNI Assessor. The global ``random``/``np.random`` generators
    are seeded with ``seed`` first (NNI's Evolution, GP and Anneal draw from them).
    """
    if workers < 1 or (n_evals is not None and n_evals <= 0) or (max_trials is not None and max_trials < 1):
        raise ValueError("workers, n_evals and max_trials must be positive")
    if n_evals is None and max_trials is None:
        raise ValueError("give n_evals (an epoch budget) and/or max_trials")
    from nni.runtime import msg_dispatcher
    t_wall = time.perf_counter()
    seed_globals(seed)
    tuner_s = 0.0

    def timed(fn, *args, **kwargs):
        nonlocal tuner_s
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            tuner_s += time.perf_counter() - t0

    tuner = _call_factory(tuner_factory, seed, problem)
    assessor = _call_factory(assessor_factory, seed, problem) if assessor_factory else None
    timed(tuner.update_search_space, problem.search_space)
    trace = Trace(problem.name, strategy or type(tuner).__name__, seed, workers, n_evals or 0)
    session = problem.session()
    per_eval = problem.max_budget if problem.budget_key else 1      # epochs (units) of one full evaluation
    budget = math.inf if n_evals is None else math.floor(n_evals * per_eval + 1e-9)

    events: list = []                  # (time, seq, kind, parameter_id, epoch)
    seq = 0
    pending: deque = deque()           # proposals the tuner sent through st_callback
    running: dict[int, dict] = {}
    free = list(range(workers))[::-1]  # free worker ids (pop from the end: worker 0 first)
    next_id = 0
    committed = 0                      # epochs charged to finished trials + planned by running ones
    started = 0
    clock = 0.0
    incumbent: tuple | None = None     # (budget, value, index)

    def st_callback(parameter_id, params):
        pending.append((parameter_id, params))

    def push(t, kind, pid, epoch=0):
        nonlocal seq
        heapq.heappush(events, (t, seq, kind, pid, epoch))
        seq += 1

    def ask() -> tuple[int, dict] | None:
        nonlocal next_id
        if pending:
            return pending.popleft()
        pid = next_id
        next_id += 1
        try:
            out = timed(tuner.generate_multiple_parameters, [pid], st_callback=st_callback)
        except nni.NoMoreTrialError:
            out = []
        if pending and not out:
            return pending.popleft()
        return (pid, out[0]) if out else None

    def epochs_of(ev) -> int:
        return ev.epochs if problem.budget_key else 1

    def dispatch() -> None:
        nonlocal committed, started
        while free and committed < budget and (max_trials is None or started < max_trials):
            got = ask()
            if got is None:
                trace.stop_reason = "no more trials from the tuner"
                return
            pid, params = got
            key = session.key(params)
            before = session.paid.get(key, 0)
            ev = session.evaluate(params)
            if problem.budget_key is not None and problem.budget_key in params:
                trace.budget_aware = True
            paid = ev.budget - ev.epochs            # epochs restored from the checkpoint
            planned = epochs_of(ev)
            cut = None
            if committed + planned > budget:        # the last trial: it trains up to the budget only
                cut = paid + int(budget - committed)
                planned = int(budget - committed)
                session.paid[key] = max(before, cut)
            committed += planned
            started += 1
            worker = free.pop()
            msg_dispatcher._trial_params[pid] = params
            running[pid] = {"params": params, "ev": ev, "start": clock, "worker": worker, "key": key,
                            "job": f"trial_{pid}", "paid": paid, "planned": planned, "before": before}
            last = ev.budget if cut is None else cut
            if assessor is not None and ev.curve:
                for e, off in enumerate(ev.report_offsets[:last], start=1):
                    push(clock + off, "report", pid, e)
            if cut is None:
                push(clock + ev.cost, "end", pid)
            else:
                push(clock + (ev.report_offsets[cut - 1] if cut > 0 else 0.0), "cut", pid, cut)
        if committed >= budget:
            trace.stop_reason = f"the budget of {n_evals} evaluations is spent"
        elif max_trials is not None and started >= max_trials:
            trace.stop_reason = f"{max_trials} trials started"

    def finish(pid: int, value: float | None, epoch: int) -> None:
        nonlocal incumbent, committed
        info = running.pop(pid)
        msg_dispatcher._trial_params.pop(pid, None)
        ev = info["ev"]
        if value is not None:
            key = (ev.budget, value)
            if incumbent is None or key > incumbent[:2]:
                incumbent = (ev.budget, value, ev.index)
            cost, epochs, trained = ev.cost, epochs_of(ev), ev.budget
        else:   # stopped or cut at ``epoch``: it trained (and pays) only that far
            cost = ev.report_offsets[epoch - 1] if epoch > 0 and ev.report_offsets else 0.0
            epochs = max(0, epoch - info["paid"])
            trained = epoch
            committed -= info["planned"] - epochs          # the untrained epochs return to the budget
            session.paid[info["key"]] = max(info["before"], epoch)
        regret = problem.regret(incumbent[2], incumbent[0]) if incumbent is not None else math.nan
        trace.records.append(Record(pid, dict(info["params"]), ev.index, trained, value, cost, epochs,
                                    info["start"], clock, regret, epochs / per_eval, info["worker"]))
        free.append(info["worker"])

    dispatch()
    if not running:
        trace.stop_reason = trace.stop_reason or "the tuner proposed nothing"
    history: dict[int, list] = {}
    while events:
        t, _, kind, pid, epoch = heapq.heappop(events)
        if pid not in running:          # stopped by the assessor earlier
            continue
        clock = t
        info = running[pid]
        if kind == "report":
            history.setdefault(pid, []).append(info["ev"].curve[epoch - 1])
            t0 = time.perf_counter()
            result = timed(_handle_intermediate_metric_data, assessor, info["job"], list(history[pid]),
                           {"parameter_id": pid, "trial_job_id": info["job"]})
            trace.assess_ms.append((time.perf_counter() - t0) * 1000)
            if _is_bad(result) and epoch < info["ev"].budget:
                history.pop(pid, None)
                finish(pid, None, epoch)
                timed(assessor.trial_end, info["job"], False)
                timed(tuner.trial_end, pid, False)
                dispatch()
            continue
        if kind == "cut":               # out of budget: ends without a result
            finish(pid, None, epoch)
            if assessor is not None and history.pop(pid, None) is not None:
                timed(assessor.trial_end, info["job"], False)
            timed(tuner.trial_end, pid, False)
            dispatch()
            continue
        value = info["ev"].value
        timed(tuner.receive_trial_result, pid, info["params"], value)
        finish(pid, value, info["ev"].budget)
        if assessor is not None and pid in history:
            history.pop(pid)
            timed(assessor.trial_end, info["job"], True)
        timed(tuner.trial_end, pid, True)
        dispatch()
    trace.wall_s = time.perf_counter() - t_wall
    trace.tuner_s = tuner_s
    return trace


def _is_bad(result: Any) -> bool:
    from nni.assessor import AssessResult
    if isinstance(result, bool):
        return not result
    return result is AssessResult.Bad


# -- overhead -----------------------------------------------------------------------------------

def overhead(tuner_factory: Callable, problem: Problem, ks: Sequence[int] = (100, 200), reps: int = 5,
             seed: int = 0) -> dict[int, float]:
    """Milliseconds per ask+tell (``generate_parameters`` + ``receive_trial_result`` +
    ``trial_end``) after k observations: the median over the ``reps`` calls that follow the k-th
    result, in a sequential run on ``problem``. Returns {k: ms}."""
    seed_globals(seed)
    tuner = _call_factory(tuner_factory, seed, problem)
    tuner.update_search_space(problem.search_space)
    session = problem.session()
    times: list[float] = []
    for pid in range(max(ks) + reps):
        t0 = time.perf_counter()
        try:
            out = tuner.generate_multiple_parameters([pid], st_callback=lambda *a: None)
        except nni.NoMoreTrialError:
            out = []
        dt = time.perf_counter() - t0
        if not out:
            break
        params = out[0]
        value = session.evaluate(params).value
        t0 = time.perf_counter()
        tuner.receive_trial_result(pid, params, value)
        tuner.trial_end(pid, True)
        times.append(dt + time.perf_counter() - t0)
    return {k: float(np.median(times[k:k + reps])) * 1000 if len(times) >= k + reps else math.nan for k in ks}
