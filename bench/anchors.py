"""The strategies compared by the harness, all as NNI ``Tuner`` objects.

* ours: every tuner of ``tuners.registry`` through its NNI adapter
  (``tuners.hosts.nni_host.ADAPTERS[name]["class"]``), looked up by name, so strategies registered
  later ("bo", "hyperband", "asha") are picked up as soon as they are importable;
* NNI's built-in tuners (``nni.algorithms.hpo``): Random, TPE, Anneal (needs ``hyperopt``),
  Evolution, GP;
* Optuna's ``TPESampler`` through :class:`OptunaTuner`, a small adapter exposing the Tuner calls;
* SMAC3 and Syne Tune (:mod:`bench.anchors_ext`) and HEBO (:mod:`bench.hebo_anchor`: its own
  environment, a subprocess) behind the same calls;
* ours with a searcher: ``"hyperband+bo"`` is our Hyperband with ``searcher: bo`` (BOHB),
  ``"asha+evolution"`` ASHA with evolution, and so on for any registered strategy.

Each contender is built by ``contender.make(seed, problem)``; :func:`contenders` lists them and
says which are unavailable (and why) or unsuited to a problem.

Example::

    >>> c = get_contender("nni_tpe")
    >>> tuner = c.make(0, problem)          # TpeTuner(optimize_mode="maximize", seed=0)
"""
from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from nni.tuner import Tuner

from nas_plugins.space import quantize

__all__ = ["Contender", "OptunaTuner", "nni_to_optuna", "contenders", "get_contender", "our_names",
           "BUDGET_OPTIONS", "SLOW"]

# NNI's tuners log every proposal at INFO; keep the benchmark output readable.
for _name in ("nni", "optuna", "nas_plugins"):
    logging.getLogger(_name).setLevel(logging.WARNING)


@dataclass(frozen=True)
class Contender:
    """One strategy in the comparison."""
    name: str                                   # key used on the command line, e.g. "nni_tpe", "random"
    label: str                                  # what tables show, e.g. "NNI TPE", "ours: random"
    origin: str                                 # "ours" or "anchor"
    make: Callable[[int, Any], Tuner] = field(repr=False)
    slow: bool = False                          # run on a subset of tasks/seeds by default
    unavailable: str | None = None              # why it cannot run here (e.g. a missing package)
    numeric_only: bool = False                  # cannot take string choices (NNI GP)
    budget_aware: bool = False                  # proposals carry a budget (Hyperband-like)
    make_assessor: Callable[[int, Any], Any] | None = field(default=None, repr=False)   # its NNI assessor, if any

    def supports(self, problem) -> str | None:
        """None if it can run on ``problem``; otherwise the reason it cannot."""
        if self.unavailable:
            return self.unavailable
        if self.numeric_only and problem.family == "nb201":
            return "takes numerical parameters only (NB201 chooses among named operations)"
        if self.budget_aware and problem.budget_key is None:
            return "needs learning curves (a budget), which this table does not have"
        return None


# -- ours -------------------------------------------------------------------------------------

#: Budget options passed to our budget-aware strategies, where their constructor accepts them
#: (filtered by name; the value is computed from the problem).
BUDGET_OPTIONS: dict[str, Callable[[Any], Any]] = {
    "budget_key": lambda p: p.budget_key,
    "R": lambda p: p.max_budget,                 # Hyperband/ASHA: the maximum budget
    "iterations": lambda p: None,                # Hyperband: unbounded; the harness stops the run
    "max_budget": lambda p: p.max_budget,
    "max_epochs": lambda p: p.max_budget,
    "max_resource": lambda p: p.max_budget,
    "max_r": lambda p: p.max_budget,
}
_BUDGET_HINTS = {"R", "budget_key", "max_budget", "min_budget", "max_epochs", "min_epochs", "max_resource",
                 "min_resource", "max_r", "eta", "reduction_factor"}
#: Contenders whose proposals take about a second or more: the benchmarks run them on fewer seeds.
SLOW = {"nni_gp", "hebo", "smac_hpo", "smac_mf", "st_bohb"}
#: Not meaningful on these continuous spaces; included only when asked for by name.
EXCLUDED_BY_DEFAULT = {"grid"}


def our_names() -> list[str]:
    """Every tuner in our registry (grid included)."""
    from tuners import registry
    return [info.name for info in registry.algorithms("tuner")]


def _ours(name: str) -> Contender:
    """Our registered tuner ``name``, or ``"scheduler+searcher"`` (e.g. ``"hyperband+bo"``)."""
    from tuners import registry
    from tuners.hosts.nni_host import ADAPTERS
    base, _, searcher = name.partition("+")
    info = registry.get(base, "tuner")
    options = set(registry.option_names(info.cls))
    budget_aware = bool(options & _BUDGET_HINTS) or base in {"hyperband", "asha"}
    if searcher:
        if "searcher" not in options:
            raise KeyError(f"{base!r} takes no searcher (in {name!r})")
        registry.get(searcher, "tuner")

    def make(seed: int, problem) -> Tuner:
        args: dict[str, Any] = {"optimize_mode": "maximize"}
        if searcher:
            args["searcher"] = searcher
        if "seed" in options:
            args["seed"] = int(seed)
        if problem is not None and problem.budget_key is not None:
            for key, value in BUDGET_OPTIONS.items():
                if key in options:
                    args[key] = value(problem)
        return ADAPTERS[info.name]["class"](**args)

    label = f"ours: {base} + {searcher} searcher" if searcher else f"ours: {name}"
    return Contender(name, label, "ours", make, slow=name in SLOW, budget_aware=budget_aware)


# -- NNI built-ins ----------------------------------------------------------------------------

def _nni_random(seed: int, problem) -> Tuner:
    from nni.algorithms.hpo.random_tuner import RandomTuner
    return RandomTuner(optimize_mode="maximize", seed=int(seed))


def _nni_tpe(seed: int, problem) -> Tuner:
    from nni.algorithms.hpo.tpe_tuner import TpeTuner
    return TpeTuner(optimize_mode="maximize", seed=int(seed))


def _missing(module: str, why: str) -> str | None:
    """``why`` if ``module`` cannot be imported (an anchor's optional dependency), else None."""
    try:
        __import__(module)
    except ImportError:
        return why
    return None


def _nni_anneal(seed: int, problem) -> Tuner:
    from nni.algorithms.hpo.hyperopt_tuner import HyperoptTuner

    class AnnealTuner(HyperoptTuner):
        """NNI's Anneal. hyperopt 0.3.0's anneal crashes on ``qloguniform`` under numpy 2 ("truth
        value of an empty array"), so it gets ``loguniform`` for those axes: every proposal maps to
        the nearest table configuration anyway, so the anchor can reach exactly the same points."""

        def update_search_space(self, search_space):
            def fix(spec):
                if spec.get("_type") == "qloguniform":
                    return {"_type": "loguniform", "_value": spec["_value"][:2]}
                return spec
            super().update_search_space({k: fix(v) for k, v in search_space.items()})

    # HyperoptTuner draws hyperopt's seed from np.random (seeded by the harness per run).
    return AnnealTuner(algorithm_name="anneal", optimize_mode="maximize")


def _nni_evolution(seed: int, problem) -> Tuner:
    from nni.algorithms.hpo.evolution_tuner import EvolutionTuner

    class SeededEvolutionTuner(EvolutionTuner):
        """NNI's EvolutionTuner, whose RandomState is seeded (NNI creates an unseeded one).
        It also uses the ``random`` module, which the harness seeds per run."""

        def update_search_space(self, search_space):
            super().update_search_space(search_space)
            self.random_state = np.random.RandomState(seed)
            self.population = []
            for _ in range(self.population_size):
                self._random_generate_individual()

    return SeededEvolutionTuner(optimize_mode="maximize")


def _nni_gp(seed: int, problem) -> Tuner:
    from nni.algorithms.hpo.gp_tuner import GPTuner
    from nni.algorithms.hpo.gp_tuner.target_space import TargetSpace

    class Numpy2TargetSpace(TargetSpace):
        """NNI 3.0's TargetSpace.random_sample stores ``randint(..., size=1)`` (an array) into a
        scalar slot, which numpy 2 rejects; draw a scalar instead. Nothing else changes."""

        def random_sample(self):
            randint = [i for i, b in enumerate(self._bounds) if b["_type"] == "randint"]
            saved = [self._bounds[i] for i in randint]
            for i in randint:   # sample the others as NNI does, with randint drawn below
                self._bounds[i] = {"_type": "uniform", "_value": [0, 1]}
            try:
                params = super().random_sample()
            finally:
                for i, b in zip(randint, saved):
                    self._bounds[i] = b
            for i, b in zip(randint, saved):
                params[i] = self._random_state.randint(b["_value"][0], b["_value"][1])
            return params

    class SeededGPTuner(GPTuner):
        """NNI's GPTuner, seeded, with the numpy-2/scipy-1.17 fixes of :class:`Numpy2TargetSpace`
        and :func:`_gp_acq_max`; otherwise NNI's ``generate_parameters`` line by line."""

        def update_search_space(self, search_space):
            super().update_search_space(search_space)
            self._space = Numpy2TargetSpace(search_space, self._random_state)

        def generate_parameters(self, parameter_id, **kwargs):
            import warnings
            from nni.algorithms.hpo.gp_tuner.util import UtilityFunction
            if self._space.len() < self._cold_start_num:
                results = self._space.random_sample()
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    self._gp.fit(self._space.params, self._space.target)
                util = UtilityFunction(kind=self._utility, kappa=self._kappa, xi=self._xi)
                results = _gp_acq_max(f_acq=util.utility, gp=self._gp, y_max=self._space.target.max(),
                                      bounds=self._space.bounds, space=self._space,
                                      num_warmup=self._selection_num_warm_up,
                                      num_starting_points=self._selection_num_starting_points)
            return self._space.array_to_params(results)

    tuner = SeededGPTuner(optimize_mode="maximize")
    tuner._random_state.seed(int(seed))   # shared by its TargetSpace and its GaussianProcessRegressor
    return tuner


def _gp_acq_max(f_acq, gp, y_max, bounds, space, num_warmup, num_starting_points):
    """``nni.algorithms.hpo.gp_tuner.util.acq_max`` with two fixes for scipy >= 1.11 (``minimize``
    wants a 1-D ``x0``; ``res.fun`` is a scalar); the algorithm is unchanged: the best of
    ``num_warmup`` random points, then L-BFGS-B from ``num_starting_points`` random points."""
    from scipy.optimize import minimize
    from nni.algorithms.hpo.gp_tuner.util import _match_val_type
    x_tries = [space.random_sample() for _ in range(int(num_warmup))]
    ys = f_acq(x_tries, gp=gp, y_max=y_max)
    x_max = x_tries[ys.argmax()]
    max_acq = ys.max()
    x_seeds = [space.random_sample() for _ in range(int(num_starting_points))]
    bounds_minmax = np.array(
        [[bound["_value"][0], bound["_value"][1 if bound["_type"] in ("quniform", "qloguniform") else -1]]
         for bound in bounds])
    for x_try in x_seeds:
        res = minimize(lambda x: -f_acq(x.reshape(1, -1), gp=gp, y_max=y_max)[0],
                       np.ravel(x_try), bounds=bounds_minmax, method="L-BFGS-B")
        if not res.success:
            continue
        fun = float(np.ravel(res.fun)[0])
        if max_acq is None or -fun >= max_acq:
            x_max = _match_val_type(res.x, bounds)
            max_acq = -fun
    return np.clip(x_max, bounds_minmax[:, 0], bounds_minmax[:, 1])


# -- Optuna -----------------------------------------------------------------------------------

def nni_to_optuna(space: dict) -> tuple[dict, dict]:
    """NNI search space -> (Optuna distributions, per-parameter post-processing).

    choice -> Categorical; randint [a, b) -> Int(a, b - 1); uniform -> Float; loguniform ->
    Float(log); qloguniform with q=1 and integer bounds -> Int(log) (a log-scale integer);
    other q-types -> Float with ``step`` when the range is a multiple of q, else sampled
    continuously and quantized by NNI's rule. Normal types and nested choices have no Optuna
    equivalent and raise ValueError.
    """
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    dists, post = {}, {}
    for name, spec in space.items():
        t, v = spec["_type"], spec["_value"]
        if t == "choice":
            if any(isinstance(o, (dict, list)) for o in v):
                raise ValueError(f"Optuna adapter: nested choice {name!r} is not supported")
            dists[name] = CategoricalDistribution(list(v))
        elif t == "randint":
            dists[name] = IntDistribution(int(v[0]), int(v[1]) - 1)
        elif t in ("uniform", "loguniform"):
            dists[name] = FloatDistribution(float(v[0]), float(v[1]), log=t == "loguniform")
        elif t in ("quniform", "qloguniform"):
            low, high, q = float(v[0]), float(v[1]), float(v[2])
            log = t == "qloguniform"
            if q == 1 and low.is_integer() and high.is_integer():
                dists[name] = IntDistribution(int(low), int(high), log=log)
            elif not log and math.isclose(round((high - low) / q) * q, high - low):
                dists[name] = FloatDistribution(low, high, step=q)
            else:
                dists[name] = FloatDistribution(low, high, log=log)
                post[name] = (lambda x, q=q, lo=low, hi=high: quantize(x, q, lo, hi))
        else:
            raise ValueError(f"Optuna adapter: {t} ({name!r}) has no bounded Optuna distribution")
    return dists, post


class OptunaTuner(Tuner):
    """Optuna's TPESampler (ask/tell) as an NNI Tuner over the same NNI search space."""

    def __init__(self, optimize_mode: str = "maximize", seed: int | None = None, **sampler_args: Any):
        import optuna
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=seed, **sampler_args)
        self.study = optuna.create_study(direction="maximize" if optimize_mode == "maximize" else "minimize",
                                         sampler=sampler)
        self._dists: dict = {}
        self._post: dict = {}
        self._trials: dict = {}

    def update_search_space(self, search_space: dict) -> None:
        self._dists, self._post = nni_to_optuna(search_space)

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict:
        trial = self.study.ask(self._dists)
        self._trials[parameter_id] = trial
        return {k: self._post[k](x) if k in self._post else x for k, x in trial.params.items()}

    def receive_trial_result(self, parameter_id: int, parameters: dict, value: Any, **kwargs: Any) -> None:
        from optuna.trial import TrialState
        trial = self._trials.pop(parameter_id, None)
        if trial is None:
            return
        if isinstance(value, dict):
            value = value.get("default")
        try:
            metric = float(value)
        except (TypeError, ValueError):
            metric = math.nan
        if math.isfinite(metric):
            self.study.tell(trial, metric)
        else:
            self.study.tell(trial, state=TrialState.FAIL)

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        from optuna.trial import TrialState
        trial = self._trials.pop(parameter_id, None)
        if trial is not None:   # ended without a final result (failed or stopped early)
            self.study.tell(trial, state=TrialState.FAIL)


def _optuna_tpe(seed: int, problem) -> Tuner:
    return OptunaTuner(optimize_mode="maximize", seed=int(seed))


def _anchors() -> list[Contender]:
    from bench.anchors_ext import extra_anchors
    from bench.hebo_anchor import hebo_contender
    return [
        Contender("nni_random", "NNI Random", "anchor", _nni_random),
        Contender("nni_tpe", "NNI TPE", "anchor", _nni_tpe),
        Contender("nni_anneal", "NNI Anneal", "anchor", _nni_anneal,
                  unavailable=_missing("hyperopt", "NNI's Anneal runs on hyperopt, which is not installed")),
        Contender("nni_evolution", "NNI Evolution", "anchor", _nni_evolution),
        Contender("nni_gp", "NNI GP", "anchor", _nni_gp, slow=True, numeric_only=True),
        Contender("optuna_tpe", "Optuna TPE", "anchor", _optuna_tpe,
                  unavailable=_missing("optuna", "optuna is not installed (pip install -e .[bench])")),
        *extra_anchors(),
        hebo_contender(),
    ]


def contenders(include_excluded: bool = False) -> list[Contender]:
    """Ours (every registered tuner; grid only when ``include_excluded``), then the anchors."""
    ours = [_ours(n) for n in our_names() if include_excluded or n not in EXCLUDED_BY_DEFAULT]
    return ours + _anchors()


def get_contender(name: str) -> Contender:
    for c in _anchors():
        if c.name == name:
            return c
    if name.partition("+")[0] in our_names():
        return _ours(name)
    known = sorted(set(our_names()) | {c.name for c in _anchors()})
    raise KeyError(f"unknown strategy {name!r}; known: {', '.join(known)}")


def seed_globals(seed: int) -> None:
    """Seed the global generators some NNI tuners draw from (``random``, ``np.random``)."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
