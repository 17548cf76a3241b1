"""SMAC3 and Syne Tune as benchmark anchors, behind NNI's Tuner (and Assessor) calls.

* :class:`SMACTuner`: SMAC3's ask/tell over an NNI search space, either the HPO facade (random
  forest + EI, Sobol initial design) or the multi-fidelity facade (the same model with SMAC's
  Hyperband intensifier); multi-fidelity proposals carry the integer budget ``"epochs"`` (SMAC's
  geometric budgets 1.93, 5.78, 17.3, 52 of LCBench rounded to 2, 6, 17, 52), like our Hyperband.
* :class:`SyneTuneTuner` + :class:`SyneTuneAssessor`: a Syne Tune scheduler (ASHA, BOHB) driven
  through ``suggest`` / ``on_trial_add`` / ``on_trial_result`` / ``on_trial_complete`` /
  ``on_trial_remove`` / ``on_trial_error``. Syne Tune 0.16 only has the *stopping* type (no
  pause/resume "promotion" type any more), so each proposal is a full training and the assessor,
  sharing the tuner's scheduler, relays the curve epoch by epoch and stops the trial when the
  scheduler says STOP, as Syne Tune's own ``Tuner`` loop does.

:func:`extra_anchors` lists them as :class:`bench.anchors.Contender` objects (``smac_hpo``,
``smac_mf``, ``st_asha``, ``st_bohb``, ``st_dehb``, ``st_mobster``; the last two are unavailable:
Syne Tune removed DEHB and MOBSTER in 0.15.0). Installing them: ``pip install smac==2.4.1`` and
``pip install --no-deps syne-tune==0.16.0 statsmodels dill`` (Syne Tune's declared ``xgboost`` is
used only by its BORE searcher and blackbox repository, none of which is used here).

Example (needs the benchmark tables)::

    from bench.anchors_ext import extra_anchors
    from bench.harness import run
    from bench.problems import LCBench
    c = {c.name: c for c in extra_anchors()}["st_asha"]
    trace = run(c.make, LCBench("3945"), n_evals=50, seed=0, assessor_factory=c.make_assessor)
"""
from __future__ import annotations

import dataclasses
import datetime
import logging
import math
import re
import tempfile
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import nni
import numpy as np
from nni.assessor import AssessResult, Assessor
from nni.tuner import Tuner

from nas_plugins.space import quantize

from .anchors import Contender, _missing

__all__ = ["Axis", "nni_axes", "nni_to_configspace", "nni_to_syne_tune", "SMACTuner", "SyneTuneTuner",
           "SyneTuneAssessor", "extra_anchors", "EXTRA_NAMES"]

logging.getLogger("smac").setLevel(logging.WARNING)
# Syne Tune warns "Evaluation failed!" for every trial ended without a result (cut at the budget's
# end) and about its own ASHA passing ``points_to_evaluate`` twice; both are expected here.
logging.getLogger("syne_tune").setLevel(logging.ERROR)

EXTRA_NAMES = ("smac_hpo", "smac_mf", "st_asha", "st_bohb", "st_dehb", "st_mobster")


# -- NNI search space, library-neutral --------------------------------------------------------

@dataclass(frozen=True)
class Axis:
    """One NNI parameter as the adapters see it."""
    name: str
    kind: str                        # "choice", "int" (bounds inclusive) or "float"
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple = ()
    q: float | None = None           # float draws are quantized by NNI's rule (q-types not on an integer grid)

    def post(self, x: Any) -> Any:
        """A library's draw -> the NNI value (plain Python type, quantized where NNI says so)."""
        x = x.item() if hasattr(x, "item") else x
        if self.q is not None:
            return quantize(float(x), self.q, self.low, self.high)
        if self.kind == "int":
            return int(x)
        if self.kind == "float":
            return float(x)
        return x


def nni_axes(space: dict, library: str) -> list[Axis]:
    """Read an NNI search space: choice, randint [a, b), uniform, loguniform, quniform, qloguniform.

    A q-type with q=1 and integer bounds is an integer axis (log-scaled for qloguniform); other
    q-types are float axes quantized after the draw. Normal types and nested choices have no
    bounded equivalent in the libraries and raise ValueError naming ``library`` and the parameter.
    """
    if not isinstance(space, dict) or not space:
        raise ValueError(f"{library} adapter: the search space must be a non-empty dict, got {space!r}")
    axes = []
    for name, spec in space.items():
        if not isinstance(spec, dict) or "_type" not in spec or "_value" not in spec:
            raise ValueError(f"{library} adapter: parameter {name!r} needs '_type' and '_value', got {spec!r}")
        t, v = spec["_type"], list(spec["_value"])
        if t == "choice":
            if not v or any(isinstance(o, (dict, list, tuple)) or o is None for o in v):
                raise ValueError(f"{library} adapter: choice {name!r} needs plain values (no nested choices), "
                                 f"got {v!r}")
            axes.append(Axis(name, "choice", choices=tuple(v)))
            continue
        if t not in ("randint", "uniform", "loguniform", "quniform", "qloguniform"):
            raise ValueError(f"{library} adapter: {t} ({name!r}) has no bounded {library} equivalent")
        need = 3 if t.startswith("q") else 2
        if len(v) < need:
            raise ValueError(f"{library} adapter: {t} {name!r} needs {need} values, got {v!r}")
        low, high = float(v[0]), float(v[1])
        log = t in ("loguniform", "qloguniform")
        if t == "randint":
            low, high = int(low), int(high) - 1
            if high < low:
                raise ValueError(f"{library} adapter: randint {name!r} range [{v[0]}, {v[1]}) is empty")
            axes.append(Axis(name, "int", low, high) if high > low else Axis(name, "choice", choices=(low,)))
            continue
        if not low < high or (log and low <= 0):
            raise ValueError(f"{library} adapter: {t} {name!r} needs {'0 < ' if log else ''}low < high, got {v!r}")
        if t in ("uniform", "loguniform"):
            axes.append(Axis(name, "float", low, high, log))
            continue
        q = float(v[2])
        if q <= 0:
            raise ValueError(f"{library} adapter: {t} {name!r} needs q > 0, got {v!r}")
        if q == 1 and low.is_integer() and high.is_integer():
            axes.append(Axis(name, "int", int(low), int(high), log))
        else:
            axes.append(Axis(name, "float", low, high, log, q=q))
    return axes


def _metric(value: Any) -> float | None:
    """A reported value (number, or NNI's dict with "default") -> finite float, or None."""
    if isinstance(value, dict):
        value = value.get("default")
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


# -- SMAC3 --------------------------------------------------------------------------------------

def nni_to_configspace(space: dict, seed: int = 0):
    """NNI search space -> (ConfigSpace ``ConfigurationSpace``, axes by name for :meth:`Axis.post`)."""
    from ConfigSpace import Categorical, ConfigurationSpace, Float, Integer
    axes = nni_axes(space, "SMAC3")
    cs = ConfigurationSpace(seed=int(seed))
    hps = []
    for a in axes:
        if a.kind == "choice":
            hps.append(Categorical(a.name, list(a.choices)))
        elif a.kind == "int":
            hps.append(Integer(a.name, (int(a.low), int(a.high)), log=a.log))
        else:
            hps.append(Float(a.name, (a.low, a.high), log=a.log))
    cs.add(hps)
    return cs, {a.name: a for a in axes}


class SMACTuner(Tuner):
    """SMAC3's HPO facade (``facade="hpo"``) or multi-fidelity facade (``facade="mf"``, Hyperband
    intensifier, budgets ``min_budget..max_budget`` sent as the integer ``budget_key``) as an NNI
    Tuner, through SMAC's ask/tell. Seeded (``Scenario.seed``), deterministic scenario.

    ``n_trials`` only sizes SMAC's initial design (at most 25% of it, SMAC's rule); ask/tell never
    stops on it, the harness decides when the run ends. SMAC's output files go to a temporary
    directory removed with the tuner. A trial without a finite result is told ``CRASHED`` with the
    worst cost seen so far (SMAC's random forest cannot take its default infinite crash cost).
    """

    def __init__(self, optimize_mode: str = "maximize", seed: int = 0, facade: str = "hpo", n_trials: int = 50,
                 budget_key: str = "epochs", min_budget: int = 1, max_budget: int | None = None, eta: int = 3):
        if facade not in ("hpo", "mf"):
            raise ValueError(f"SMACTuner: facade must be 'hpo' or 'mf', got {facade!r}")
        if facade == "mf" and (max_budget is None or not 1 <= min_budget < max_budget):
            raise ValueError(f"SMACTuner: the multi-fidelity facade needs 1 <= min_budget < max_budget, "
                             f"got {min_budget}..{max_budget}")
        if optimize_mode not in ("maximize", "minimize"):
            raise ValueError(f"SMACTuner: optimize_mode must be 'maximize' or 'minimize', got {optimize_mode!r}")
        self.sign = -1.0 if optimize_mode == "maximize" else 1.0
        self.seed, self.facade, self.n_trials = int(seed), facade, int(n_trials)
        self.budget_key, self.min_budget, self.max_budget, self.eta = budget_key, min_budget, max_budget, eta
        self.smac = None
        self._axes: dict[str, Axis] = {}
        self._running: dict[int, Any] = {}      # parameter_id -> SMAC TrialInfo
        self._worst: float | None = None        # worst finite cost told so far
        self._deferred: list = []               # crashed before any finite cost was known
        self._tmp: tempfile.TemporaryDirectory | None = None

    def update_search_space(self, search_space: dict) -> None:
        from smac import HyperparameterOptimizationFacade, MultiFidelityFacade, Scenario
        if self.facade == "mf" and self.budget_key in search_space:
            raise ValueError(f"SMACTuner: {self.budget_key!r} is the budget SMAC chooses; "
                             "remove it from the search space")
        cs, self._axes = nni_to_configspace(search_space, self.seed)
        self._tmp = tempfile.TemporaryDirectory(prefix="smac3_")
        budgets = {"min_budget": self.min_budget, "max_budget": self.max_budget} if self.facade == "mf" else {}
        scenario = Scenario(cs, name="nni", output_directory=Path(self._tmp.name) / "smac3", deterministic=True,
                            n_trials=self.n_trials, seed=self.seed, **budgets)
        if self.facade == "mf":
            self.smac = MultiFidelityFacade(scenario, None, overwrite=True, logging_level=False,
                                            intensifier=MultiFidelityFacade.get_intensifier(scenario, eta=self.eta))
        else:
            self.smac = HyperparameterOptimizationFacade(scenario, None, overwrite=True, logging_level=False)
        _order_local_search_starts(self.smac)
        self._running.clear()
        self._worst, self._deferred = None, []

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict:
        if self.smac is None:
            raise RuntimeError("SMACTuner: update_search_space must come before generate_parameters")
        info = self.smac.ask()
        self._running[parameter_id] = info
        params = {k: self._axes[k].post(v) for k, v in dict(info.config).items()}
        if self.facade == "mf":
            params[self.budget_key] = min(max(int(round(info.budget)), self.min_budget), self.max_budget)
        return params

    def receive_trial_result(self, parameter_id: int, parameters: dict, value: Any, **kwargs: Any) -> None:
        from smac.runhistory.dataclasses import TrialValue
        info = self._running.pop(parameter_id, None)
        if info is None:
            return
        metric = _metric(value)
        if metric is None:
            self._crash(info)
            return
        cost = self.sign * metric
        self.smac.tell(info, TrialValue(cost=cost), save=False)
        self._worst = cost if self._worst is None else max(self._worst, cost)
        while self._deferred:
            self._crash(self._deferred.pop(0))

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        info = self._running.pop(parameter_id, None)
        if info is not None:    # ended without a result
            self._crash(info)

    def _crash(self, info: Any) -> None:
        from smac.runhistory.dataclasses import TrialValue
        from smac.runhistory.enumerations import StatusType
        if self._worst is None:
            self._deferred.append(info)
        else:
            self.smac.tell(info, TrialValue(cost=self._worst, status=StatusType.CRASHED), save=False)


def _order_local_search_starts(facade: Any) -> None:
    """Make SMAC3's local search independent of ``PYTHONHASHSEED``.

    SMAC 2.4.1's ``LocalSearch._get_init_points_from_previous_configs`` removes duplicate start
    points through a ``set`` of Configurations, whose hash is that of their ``repr`` string; the
    local searches then run in that set's order, drawing from one shared generator, so the same
    seed proposed different configurations in processes with different hash seeds. Sorting the
    start points by their vector keeps SMAC's points and makes their order a function of the seed.
    """
    maximizer = getattr(facade, "_acquisition_maximizer", None)
    local = getattr(maximizer, "_local_search", None)
    starts = getattr(local, "_get_init_points_from_previous_configs", None)
    if starts is None:
        raise RuntimeError("SMACTuner: SMAC3's acquisition maximizer has no local search to order; "
                           "this adapter was written for smac 2.4.1")

    def ordered(*args: Any, **kwargs: Any) -> list:
        return sorted(starts(*args, **kwargs), key=lambda c: tuple(np.nan_to_num(c.get_array(), nan=-1.0)))

    local._get_init_points_from_previous_configs = ordered


# -- Syne Tune ----------------------------------------------------------------------------------

def nni_to_syne_tune(space: dict) -> tuple[dict, dict]:
    """NNI search space -> (Syne Tune config space of domains, axes by name for :meth:`Axis.post`)."""
    from syne_tune import config_space as sp
    axes = nni_axes(space, "Syne Tune")
    domains = {}
    for a in axes:
        if a.kind == "choice":
            domains[a.name] = sp.choice(list(a.choices))
        elif a.kind == "int":
            domains[a.name] = (sp.lograndint if a.log else sp.randint)(int(a.low), int(a.high))
        else:
            domains[a.name] = (sp.loguniform if a.log else sp.uniform)(a.low, a.high)
    return domains, {a.name: a for a in axes}


_METRIC = "objective"
_STOP = "STOP"          # syne_tune.optimizer.scheduler.SchedulerDecision.STOP
#: Syne Tune 0.16 baselines by method name; each takes (config_space, metric, time_attr, max_t, ...).
_ST_METHODS = {"asha": "ASHA", "bohb": "BOHB"}


@dataclass
class _Trial:
    trial: Any                  # syne_tune Trial
    epoch: int = 0              # last resource level reported to the scheduler
    done: bool = False          # completed, stopped (removed) or failed, as far as the scheduler knows


class SyneTuneTuner(Tuner):
    """A Syne Tune stopping-type scheduler (``method`` "asha" or "bohb") as an NNI Tuner.

    Proposals are full trainings (no budget key); the intermediate results go to the scheduler
    through :class:`SyneTuneAssessor` (built on this tuner), which stops a trial when the
    scheduler says STOP. Without an assessor it still runs, only with every trial trained to
    ``max_t`` (its searcher then sees final results only). The calls follow Syne Tune's own
    ``Tuner`` loop: STOP -> ``on_trial_remove``; a final result of a trial still running ->
    ``on_trial_complete``; a trial without a finite result -> ``on_trial_error``.
    """

    def __init__(self, method: str = "asha", optimize_mode: str = "maximize", seed: int = 0, max_t: int = 52,
                 resource_attr: str = "epochs", grace_period: int = 1, reduction_factor: float = 3,
                 **scheduler_args: Any):
        if method not in _ST_METHODS:
            raise ValueError(f"SyneTuneTuner: unknown method {method!r}; known: {', '.join(_ST_METHODS)}")
        if optimize_mode not in ("maximize", "minimize"):
            raise ValueError(f"SyneTuneTuner: optimize_mode must be 'maximize' or 'minimize', got {optimize_mode!r}")
        if not 1 <= grace_period <= max_t:
            raise ValueError(f"SyneTuneTuner: needs 1 <= grace_period <= max_t, got {grace_period} and {max_t}")
        self.method, self.maximize, self.seed, self.max_t = method, optimize_mode == "maximize", int(seed), int(max_t)
        self.resource_attr, self.grace_period, self.reduction_factor = resource_attr, grace_period, reduction_factor
        self.scheduler_args = scheduler_args
        self.scheduler = None
        self._axes: dict[str, Axis] = {}
        self._trials: dict[int, _Trial] = {}
        self.assessor_attached = False

    def update_search_space(self, search_space: dict) -> None:
        from syne_tune.optimizer import baselines
        if self.resource_attr in search_space:
            raise ValueError(f"SyneTuneTuner: {self.resource_attr!r} is the scheduler's resource; "
                             "remove it from the search space")
        domains, self._axes = nni_to_syne_tune(search_space)
        cls = getattr(baselines, _ST_METHODS[self.method])
        self.scheduler = cls(config_space=domains, metric=_METRIC, time_attr=self.resource_attr, max_t=self.max_t,
                             do_minimize=not self.maximize, random_seed=self.seed, grace_period=self.grace_period,
                             reduction_factor=self.reduction_factor, **self.scheduler_args)
        self._trials.clear()

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict:
        from syne_tune.backend.trial_status import Trial
        if self.scheduler is None:
            raise RuntimeError("SyneTuneTuner: update_search_space must come before generate_parameters")
        with warnings.catch_warnings():
            # statsmodels' KDEMultivariate (BOHB) announces a future default RNG it does not use
            # with bw="normal_reference"
            warnings.filterwarnings("ignore", message="After 0.17 or January 2028", category=FutureWarning)
            suggestion = self.scheduler.suggest()
        if suggestion is None:
            raise nni.NoMoreTrialError(f"Syne Tune {self.method}: no configuration left to suggest")
        if not suggestion.spawn_new_trial_id:
            raise RuntimeError(f"Syne Tune {self.method}: asked to resume trial {suggestion.checkpoint_trial_id}; "
                               "this adapter runs stopping-type schedulers only")
        # creation_time is bookkeeping only; a fixed one keeps runs identical
        trial = Trial(trial_id=parameter_id, config=dict(suggestion.config),
                      creation_time=datetime.datetime(2000, 1, 1))
        self.scheduler.on_trial_add(trial)
        self._trials[parameter_id] = _Trial(trial)
        return {k: self._axes[k].post(v) for k, v in suggestion.config.items() if k in self._axes}

    def report(self, parameter_id: int, epoch: int, value: Any) -> str | None:
        """Intermediate result ``value`` at ``epoch`` -> the scheduler's decision (None: not asked,
        e.g. no finite value, an epoch already reported, or a trial the scheduler is done with)."""
        state = self._trials.get(parameter_id)
        metric = _metric(value)
        if state is None or state.done or metric is None or epoch <= state.epoch:
            return None
        state.epoch = epoch
        decision = self.scheduler.on_trial_result(state.trial, {_METRIC: metric, self.resource_attr: epoch})
        if decision == _STOP:
            self.scheduler.on_trial_remove(state.trial)
            state.done = True
        return decision

    def receive_trial_result(self, parameter_id: int, parameters: dict, value: Any, **kwargs: Any) -> None:
        state = self._trials.get(parameter_id)
        if state is None or state.done:
            return
        metric = _metric(value)
        if metric is None:
            self.scheduler.on_trial_error(state.trial)
            state.done = True
            return
        if state.epoch < self.max_t:     # no assessor relayed the last epoch
            self.report(parameter_id, self.max_t, metric)
        if not state.done:
            self.scheduler.on_trial_complete(state.trial, {_METRIC: metric, self.resource_attr: state.epoch})
            state.done = True

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        state = self._trials.pop(parameter_id, None)
        if state is not None and not state.done:     # ended without a result, not by the scheduler
            self.scheduler.on_trial_error(state.trial)


_JOB = re.compile(r"trial_(\d+)")


class SyneTuneAssessor(Assessor):
    """Relays a trial's curve to the scheduler of ``tuner`` and stops it on the scheduler's STOP.
    Trial job ids are the harness's ``f"trial_{parameter_id}"``."""

    def __init__(self, tuner: SyneTuneTuner):
        self.tuner = tuner

    def assess_trial(self, trial_job_id: str, trial_history: list) -> AssessResult:
        m = _JOB.fullmatch(str(trial_job_id))
        if m is None:
            raise ValueError(f"SyneTuneAssessor: trial job id {trial_job_id!r} is not 'trial_<parameter_id>'")
        if not trial_history:
            return AssessResult.Good
        decision = self.tuner.report(int(m.group(1)), len(trial_history), trial_history[-1])
        return AssessResult.Bad if decision == _STOP else AssessResult.Good

    def trial_end(self, trial_job_id: str, success: bool) -> None:
        pass    # the tuner's trial_end tells the scheduler


# -- contenders ---------------------------------------------------------------------------------

#: The LCBench / NB201 evaluation budgets of bench.run_hpo's defaults; they size SMAC's initial
#: design as SMAC would for a run of that many trials (25% of it, at most 10 per parameter).
_DEFAULT_EVALS = {"lcbench": 50, "nb201": 100}
#: The Syne Tune tuner each contender made last, so that its assessor joins the same scheduler
#: (the harness builds the tuner, then the assessor, for each run).
_LAST_TUNER: dict[str, Any] = {}


def _smac(facade: str) -> Callable[[int, Any], Tuner]:
    def make(seed: int, problem) -> Tuner:
        n_trials = _DEFAULT_EVALS.get(getattr(problem, "family", ""), 50)
        if facade == "hpo":
            return SMACTuner("maximize", seed, "hpo", n_trials)
        if problem is None or problem.budget_key is None:
            raise ValueError("SMAC3 multi-fidelity needs a problem with a budget (learning curves)")
        return SMACTuner("maximize", seed, "mf", n_trials, budget_key=problem.budget_key, min_budget=1,
                         max_budget=problem.max_budget)
    return make


def _syne_tune(method: str) -> tuple[Callable[[int, Any], Tuner], Callable[[int, Any], Assessor]]:
    def make(seed: int, problem) -> Tuner:
        if problem is None or problem.budget_key is None:
            raise ValueError(f"Syne Tune {method} needs a problem with learning curves (a budget)")
        tuner = SyneTuneTuner(method, "maximize", seed, max_t=problem.max_budget, resource_attr=problem.budget_key)
        _LAST_TUNER[method] = weakref.ref(tuner)
        return tuner

    def make_assessor(seed: int, problem) -> Assessor:
        ref = _LAST_TUNER.get(method)
        tuner = ref() if ref is not None else None
        if tuner is None or tuner.assessor_attached or tuner.seed != int(seed):
            raise RuntimeError(f"Syne Tune {method}: the assessor joins the scheduler of the tuner built just before "
                               f"it for the same seed ({seed}); build the tuner (contender.make) first")
        tuner.assessor_attached = True
        return SyneTuneAssessor(tuner)

    return make, make_assessor


if "make_assessor" in {f.name for f in dataclasses.fields(Contender)}:
    _AssessedContender = Contender
else:   # until bench.anchors.Contender has the field
    @dataclass(frozen=True)
    class _AssessedContender(Contender):
        """A Contender with ``make_assessor(seed, problem)``, the Assessor paired with ``make``'s Tuner."""
        make_assessor: Callable[[int, Any], Assessor] | None = dataclasses.field(default=None, repr=False)


def _contender(name: str, label: str, make: Callable, make_assessor: Callable | None = None, **kw: Any) -> Contender:
    if make_assessor is None:
        return Contender(name, label, "anchor", make, **kw)
    return _AssessedContender(name, label, "anchor", make, make_assessor=make_assessor, **kw)


def _unavailable_make(seed: int, problem) -> Tuner:
    raise RuntimeError("this contender is unavailable (see Contender.unavailable)")


def extra_anchors() -> list[Contender]:
    """SMAC3 (HPO and multi-fidelity facades) and Syne Tune (ASHA, BOHB; DEHB and MOBSTER are
    listed as unavailable: Syne Tune 0.15+ no longer has them)."""
    no_smac = _missing("smac", "SMAC3 is not installed (pip install smac==2.4.1)")
    no_st = _missing("syne_tune", "Syne Tune is not installed "
                                  "(pip install --no-deps syne-tune==0.16.0 statsmodels dill)")
    no_kde = no_st or _missing("statsmodels", "Syne Tune's BOHB (KDE searcher) needs statsmodels, "
                                              "which is not installed")
    asha, asha_assessor = _syne_tune("asha")
    bohb, bohb_assessor = _syne_tune("bohb")
    gone = "Syne Tune {} was removed in syne-tune 0.15.0 (last in 0.14.2); the installed {} has no {}"
    st_version = _version("syne-tune")
    return [
        _contender("smac_hpo", "SMAC3 (HPO facade)", _smac("hpo"), slow=True, unavailable=no_smac),
        _contender("smac_mf", "SMAC3 (multi-fidelity, Hyperband)", _smac("mf"), slow=True, unavailable=no_smac,
                   budget_aware=True),
        _contender("st_asha", "Syne Tune ASHA (stopping)", asha, asha_assessor, unavailable=no_st, budget_aware=True),
        _contender("st_bohb", "Syne Tune BOHB (stopping)", bohb, bohb_assessor, unavailable=no_kde, budget_aware=True,
                   slow=True),     # refits its KDEs on every suggestion: 20-100 s per 50-evaluation LCBench run
        _contender("st_dehb", "Syne Tune DEHB", _unavailable_make, budget_aware=True,
                   unavailable=no_st or gone.format("DEHB", f"syne-tune {st_version}", "DEHB")),
        _contender("st_mobster", "Syne Tune MOBSTER", _unavailable_make, budget_aware=True,
                   unavailable=no_st or gone.format("MOBSTER (with its GP searchers)", f"syne-tune {st_version}",
                                                    "MOBSTER")),
    ]


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(dist)
    except PackageNotFoundError:
        return "(not installed)"
