"""Hyperband (Li et al. 2018) and ASHA (Li et al. 2020): multi-fidelity ask/tell strategies.

Each proposal is a configuration of the search space plus one extra key, ``budget_key`` (default
``"epochs"``), holding the integer training budget the trial should use. A promoted configuration
comes back unchanged with a larger budget, so a trial can resume from its checkpoint (see
``nas_plugins.cells.train_and_evaluate(checkpoint_dir=...)``). ``tell`` takes the configuration
with its budget key; a configuration never proposed, or without the key (then recorded at ``R``),
is accepted as well, and a failed/NaN result ranks below every success and is never promoted.

Never blocking a host that cannot wait (NNI asks for a trial whenever a slot frees up):
``ask`` prefers, in order, (1) a promotion or a new configuration of the oldest open bracket,
(2) opening the next bracket, also of the next Hyperband iteration, before the current one is
finished, and only then (3) raises :class:`~nas_plugins.strategy.NotReady` while work remains that
waits for pending results, or :class:`~nas_plugins.strategy.SpaceExhausted` when nothing remains.
Promotions are made as soon as they are certain (a configuration stays in the top ``n_{i+1}`` of
its rung however the missing results turn out), which gives exactly the configurations synchronous
successive halving promotes, earlier. The NNI adapter answers requests refused with ``NotReady``
as soon as a result makes a trial available, so an experiment never stalls on a waiting rung.

Example::

    >>> from nas_plugins.space import Space
    >>> space = Space.from_nni({"x": {"_type": "uniform", "_value": [0, 1]}})
    >>> hb = Hyperband(space, R=9, eta=3, seed=0)
    >>> cfg = hb.ask()
    >>> cfg
    {'x': 0.636..., 'epochs': 1}
    >>> hb.tell(cfg, 0.83)
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Mapping, NamedTuple

from nas_plugins.space import Space, SearchSpaceError, config_key
from nas_plugins.strategy import NotReady, SpaceExhausted, Strategy, as_metric

from . import registry
from .random_search import sample_unseen
from .registry import register

__all__ = ["hyperband_brackets", "asha_budgets", "Hyperband", "ASHA"]

_RANDOM_FRACTION = 1 / 3          # share of new configurations drawn at random with sampler="bo"


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_budgets(R: Any, eta: Any, min_budget: Any) -> None:
    if not _is_int(R) or R < 1:
        raise ValueError(f"R (the maximum budget) must be a positive integer, got {R!r}")
    if not _is_int(eta) or eta < 2:
        raise ValueError(f"eta must be an integer >= 2, got {eta!r}")
    if isinstance(min_budget, bool) or not isinstance(min_budget, (int, float)) or \
            not math.isfinite(min_budget) or not 1 <= min_budget <= R:
        raise ValueError(f"min_budget must be a number in [1, R={R}] (budgets are whole units), got {min_budget!r}")


def _levels(R: int, eta: int, min_budget: float) -> int:
    """floor(log_eta(R / min_budget)), computed exactly."""
    s, low = 0, Fraction(min_budget)
    while low * eta ** (s + 1) <= R:
        s += 1
    return s


def _whole(x: Fraction) -> int:
    """Round half up, at least 1."""
    return max(1, math.floor(x + Fraction(1, 2)))


def hyperband_brackets(R: int, eta: int = 3, min_budget: float = 1) -> list[list[tuple[int, int]]]:
    """The brackets of one Hyperband iteration, s = s_max .. 0, each a list of rungs ``(n_i, r_i)``.

    ``n = ceil((s_max+1)/(s+1) * eta**s)``, ``r = R * eta**-s``; rung i runs ``floor(n * eta**-i)``
    configurations with budget ``round(r * eta**i)`` (Li et al. 2018, Algorithm 1).

    >>> hyperband_brackets(9, 3)
    [[(9, 1), (3, 3), (1, 9)], [(5, 3), (1, 9)], [(3, 9)]]
    """
    _check_budgets(R, eta, min_budget)
    s_max = _levels(R, eta, min_budget)
    brackets = []
    for s in range(s_max, -1, -1):
        n = -(-(s_max + 1) * eta ** s // (s + 1))
        brackets.append([(n // eta ** i, _whole(Fraction(R) * Fraction(eta) ** (i - s))) for i in range(s + 1)])
    return brackets


def asha_budgets(R: int, eta: int = 3, min_budget: float = 1) -> list[int]:
    """ASHA's rung budgets ``min_budget * eta**k <= R`` (rounded to whole units).

    >>> asha_budgets(27, 3)
    [1, 3, 9, 27]
    """
    _check_budgets(R, eta, min_budget)
    return [_whole(Fraction(min_budget) * eta ** k) for k in range(_levels(R, eta, min_budget) + 1)]


def _create_bo(space: Space, seed: int, mode: str) -> Strategy:
    """The model behind ``sampler="bo"``: the registered "bo" strategy (tuners/skopt_bo.py), told to
    use its surrogate from the start (Hyperband decides when there are enough results)."""
    info = registry.get("bo", "tuner")
    options = {"n_initial_points": 2} if "n_initial_points" in registry.option_names(info.cls) else {}
    return registry.create("bo", space, seed=seed, mode=mode, **options)


def _check_bo_available() -> None:
    try:
        registry.get("bo", "tuner")
        return
    except registry.UnknownAlgorithmError:
        pass
    try:
        import tuners.skopt_bo  # noqa: F401  (registers "bo" when it is not imported by tuners/__init__)
        registry.get("bo", "tuner")
    except (ImportError, registry.UnknownAlgorithmError) as exc:
        raise ValueError(f"sampler='bo' needs the Bayesian-optimization strategy 'bo' (tuners/skopt_bo.py), "
                         f"which is not available ({exc}); use sampler='random'") from None


class _Job(NamedTuple):
    """One proposed trial: a configuration (by key) at a budget, and where it belongs."""
    key: str
    budget: int
    bracket: int      # Hyperband bracket number (-1 for ASHA)
    rung: int


class _SuccessiveHalving(Strategy):
    """What Hyperband and ASHA share: options, budgets in the configuration, sampling new
    configurations (random or BOHB-style), matching results to proposals, ranking a rung."""
    _finished = "all work done"

    def __init__(self, space: Space | None, *, R: int, eta: int, min_budget: float, budget_key: str,
                 sampler: str, seed: int | None, mode: str):
        _check_budgets(R, eta, min_budget)
        if not isinstance(budget_key, str) or not budget_key:
            raise ValueError(f"budget_key must be a non-empty string, got {budget_key!r}")
        if sampler not in ("random", "bo"):
            raise ValueError(f"sampler must be 'random' or 'bo', got {sampler!r}")
        if sampler == "bo":
            _check_bo_available()
        self.R, self.eta, self.min_budget = R, eta, min_budget
        self.budget_key, self.sampler = budget_key, sampler
        self.jobs: list[_Job] = []                                # every proposal, in order
        self._configs: dict[str, dict] = {}                       # key -> configuration (proposed or told)
        self._results: dict[Any, dict[str, float | None]] = {}    # budget -> key -> value
        self._pending: dict[tuple[str, Any], _Job] = {}           # proposed, no result yet
        self._retry: list[_Job] = []                              # lost proposals to make again
        self._space_used_up = False
        super().__init__(space, seed=seed, mode=mode)

    def set_space(self, space: Space) -> None:
        if isinstance(space, Space) and self.budget_key in space.names:
            raise SearchSpaceError.for_param(
                self.budget_key, f"clashes with the budget key of {type(self).__name__}, which sets it itself; "
                "remove it from the search space or choose another budget_key")
        super().set_space(space)

    # -- ask -------------------------------------------------------------------------------------
    def _propose(self) -> dict:
        if self._retry:
            job = self._retry.pop(0)
            return self._start(job)
        config = self._next_job()
        if config is not None:
            return config
        if self._pending:
            raise NotReady(f"{len(self._pending)} trial(s) pending; the remaining work waits for their results")
        raise SpaceExhausted(self._finished if not self._space_used_up else
                             "no new configuration left in the search space, nothing left to promote")

    def _next_job(self) -> dict | None:
        """The next proposal (with its budget key), or None when nothing can start now."""
        raise NotImplementedError

    def _start(self, job: _Job) -> dict:
        self._pending[(job.key, job.budget)] = job
        self.jobs.append(job)
        return {**self._configs[job.key], self.budget_key: job.budget}

    def _new_config(self) -> dict | None:
        """A configuration never proposed nor told; None once the space has none left."""
        if self._space_used_up:
            return None
        config = None
        if self.sampler == "bo" and self.rng.random() >= _RANDOM_FRACTION:
            config = self._model_config()
        if config is None:
            config = self._random_config()
        if config is None:
            self._space_used_up = True
            return None
        self._configs[config_key(config)] = config
        return config

    def _random_config(self) -> dict | None:
        assert self.space is not None
        try:
            return sample_unseen(self.space, self.rng, lambda c: config_key(c) in self._configs)
        except SpaceExhausted:
            return None

    def _model_config(self) -> dict | None:
        """BOHB: a "bo" model fitted on the largest budget with at least dims + 2 successes."""
        assert self.space is not None
        n_min = len(self.space) + 2
        for budget in sorted(self._results, reverse=True):
            observed = self._results[budget]
            if sum(v is not None for v in observed.values()) < n_min:
                continue
            model = _create_bo(self.space, int(self.rng.integers(2 ** 31)), self.mode)
            for key, value in observed.items():
                model.tell(self._configs[key], value)
            try:
                config = model.ask()
            except SpaceExhausted:
                return None
            return None if config_key(config) in self._configs else config
        return None

    # -- tell ------------------------------------------------------------------------------------
    def _observe(self, config: dict, value: float | None) -> None:
        base = {k: v for k, v in config.items() if k != self.budget_key}
        budget = as_metric(config.get(self.budget_key))
        budget = self.R if budget is None else (int(budget) if budget.is_integer() else budget)
        key = config_key(base)
        self._configs.setdefault(key, base)
        job = self._pending.pop((key, budget), None)
        if job is None:                        # a lost proposal told after all (e.g. by import_data)
            job = next((j for j in self._retry if (j.key, j.budget) == (key, budget)), None)
            if job is not None:
                self._retry.remove(job)
        results = self._results.setdefault(budget, {})
        replaces_failure = key in results and results[key] is None and value is not None
        if job is None and replaces_failure:   # the trial's result came after its failure was recorded
            job = next((j for j in reversed(self.jobs) if (j.key, j.budget) == (key, budget)), None)
        if job is not None or key not in results or replaces_failure:
            results[key] = value
        if job is not None:
            self._record(job, value)

    def _record(self, job: _Job, value: float | None) -> None:
        """A result for one of our proposals (subclasses file it in its rung)."""

    def requeue_pending(self) -> None:
        """Propose every pending trial again (their results will never come, e.g. after a resume)."""
        self._retry.extend(self._pending.values())
        self._pending.clear()

    def _ranked(self, results: Mapping[str, float | None]) -> list[str]:
        """Keys of the successful results, best first (ties: the earlier result first)."""
        ok = [(k, v) for k, v in results.items() if v is not None]
        return [k for k, _ in sorted(ok, key=lambda kv: -self.score(kv[1]))]


class _Bracket:
    """One successive-halving bracket: ``members[i]`` entered rung i, ``queue[i]`` wait to start."""

    def __init__(self, number: int, rungs: list[tuple[int, int]]):
        self.number = number
        self.sizes = [n for n, _ in rungs]
        self.budgets = [r for _, r in rungs]
        self.members: list[list[str]] = [[] for _ in rungs]
        self.queue: list[list[str]] = [[] for _ in rungs]
        self.results: list[dict[str, float | None]] = [{} for _ in rungs]
        self.closed = False           # rung 0 takes no more new configurations


@register("hyperband", "tuner", nni_name="NaspHyperband", autogluon_name=None)
class Hyperband(_SuccessiveHalving):
    """Hyperband: successive-halving brackets; each trial gets its budget in config[budget_key] (bo sampler: BOHB).

    Options: ``R`` maximum budget (27), ``eta`` (3), ``min_budget`` (1), ``iterations`` full Hyperband
    iterations before :class:`SpaceExhausted` (1; ``None``: unbounded), ``budget_key`` ("epochs"),
    ``sampler`` "random" or "bo" (BOHB: a "bo" model on the largest budget with enough results,
    a third of the new configurations at random). See the module docstring for the scheduling.

    Example::

        >>> from nas_plugins.space import Space
        >>> space = Space.from_nni({"x": {"_type": "uniform", "_value": [0, 1]}})
        >>> hb = Hyperband(space, R=27, eta=3, seed=0)
        >>> hb.total_trials      # 69 trials in one iteration when nothing fails
        69
    """

    _finished = "every bracket of every iteration is finished"

    def __init__(self, space: Space | None = None, *, R: int = 27, eta: int = 3, min_budget: float = 1,
                 iterations: int | None = 1, budget_key: str = "epochs", sampler: str = "random",
                 seed: int | None = None, mode: str = "max"):
        if iterations is not None and (not _is_int(iterations) or iterations < 1):
            raise ValueError(f"iterations must be a positive integer or null (unbounded), got {iterations!r}")
        self.iterations = iterations
        self.brackets = hyperband_brackets(R, eta, min_budget)
        self._open: dict[int, _Bracket] = {}
        self._opened = 0
        super().__init__(space, R=R, eta=eta, min_budget=min_budget, budget_key=budget_key,
                         sampler=sampler, seed=seed, mode=mode)

    @property
    def total_trials(self) -> float:
        """Trials of all iterations when every result succeeds and the space is large enough."""
        per_iteration = sum(n for bracket in self.brackets for n, _ in bracket)
        return math.inf if self.iterations is None else self.iterations * per_iteration

    def _next_job(self) -> dict | None:
        for bracket in list(self._open.values()):
            job = self._bracket_job(bracket)
            if job is not None:
                return job
            if self._complete(bracket, len(bracket.sizes) - 1):
                del self._open[bracket.number]
        while not self._space_used_up and (self.iterations is None or
                                           self._opened < self.iterations * len(self.brackets)):
            bracket = _Bracket(self._opened, self.brackets[self._opened % len(self.brackets)])
            self._open[bracket.number] = bracket
            self._opened += 1
            job = self._bracket_job(bracket)
            if job is not None:
                return job
        return None

    def _bracket_job(self, b: _Bracket) -> dict | None:
        while True:
            self._promote(b)
            for i in reversed(range(1, len(b.sizes))):
                if b.queue[i]:
                    return self._start(_Job(b.queue[i].pop(0), b.budgets[i], b.number, i))
            if b.closed:
                return None
            config = self._new_config()
            if config is None:
                b.closed = True
                continue
            key = config_key(config)
            b.members[0].append(key)
            b.closed = len(b.members[0]) == b.sizes[0]
            return self._start(_Job(key, b.budgets[0], b.number, 0))

    def _final_size(self, b: _Bracket, i: int) -> int | None:
        """How many configurations rung i runs, once that is known."""
        if i == 0:
            return len(b.members[0]) if b.closed else None
        return len(b.members[i]) if self._complete(b, i - 1) else None

    def _complete(self, b: _Bracket, i: int) -> bool:
        size = self._final_size(b, i)
        return size is not None and len(b.results[i]) == size

    def _promote(self, b: _Bracket) -> None:
        """Move into rung i+1 every configuration certain to be in the top n_{i+1} of rung i."""
        for i in range(len(b.sizes) - 1):
            final = self._final_size(b, i)
            unresolved = (b.sizes[i] if final is None else final) - len(b.results[i])
            for rank, key in enumerate(self._ranked(b.results[i])):
                if rank + unresolved >= b.sizes[i + 1]:
                    break
                if key not in b.members[i + 1]:
                    b.members[i + 1].append(key)
                    b.queue[i + 1].append(key)

    def _record(self, job: _Job, value: float | None) -> None:
        bracket = self._open.get(job.bracket)
        if bracket is not None:
            bracket.results[job.rung][job.key] = value


@register("asha", "tuner", nni_name="NaspASHA", autogluon_name=None)
class ASHA(_SuccessiveHalving):
    """ASHA: asynchronous successive halving; the trial gets its budget as config[budget_key].

    Rungs at budgets ``min_budget * eta**k <= R``. Each ``ask`` promotes the best not yet promoted
    configuration of the highest rung where it is in the top ``floor(n_k / eta)`` of the ``n_k``
    results there, else starts a new configuration at the lowest budget. ``max_configs`` bounds the
    new configurations (``None``: unbounded); once reached, with nothing to promote and nothing
    pending, :class:`SpaceExhausted`.

    Example::

        >>> from nas_plugins.space import Space
        >>> space = Space.from_nni({"x": {"_type": "uniform", "_value": [0, 1]}})
        >>> asha = ASHA(space, R=27, eta=3, max_configs=50, seed=0)
        >>> asha.budgets, asha.ask()
        ([1, 3, 9, 27], {'x': 0.636..., 'epochs': 1})
    """

    _finished = "max_configs configurations started and nothing left to promote"

    def __init__(self, space: Space | None = None, *, R: int = 27, eta: int = 3, min_budget: float = 1,
                 max_configs: int | None = None, budget_key: str = "epochs", sampler: str = "random",
                 seed: int | None = None, mode: str = "max"):
        if max_configs is not None and (not _is_int(max_configs) or max_configs < 1):
            raise ValueError(f"max_configs must be a positive integer or null (unbounded), got {max_configs!r}")
        self.max_configs = max_configs
        self.budgets = asha_budgets(R, eta, min_budget)
        self._promoted: list[set[str]] = [set() for _ in self.budgets]
        self._started = 0
        super().__init__(space, R=R, eta=eta, min_budget=min_budget, budget_key=budget_key,
                         sampler=sampler, seed=seed, mode=mode)

    def _next_job(self) -> dict | None:
        for k in reversed(range(len(self.budgets) - 1)):
            done = self._results.get(self.budgets[k], {})
            upper = self.budgets[k + 1]
            for key in self._ranked(done)[:len(done) // self.eta]:
                if key in self._promoted[k]:
                    continue
                self._promoted[k].add(key)
                if (key, upper) not in self._pending and key not in self._results.get(upper, {}):
                    return self._start(_Job(key, upper, -1, k + 1))
        if self.max_configs is None or self._started < self.max_configs:
            config = self._new_config()
            if config is not None:
                self._started += 1
                return self._start(_Job(config_key(config), self.budgets[0], -1, 0))
        return None
