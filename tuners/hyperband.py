"""Hyperband (Li et al. 2018) and ASHA (Li et al. 2020): multi-fidelity ask/tell strategies.

Each proposal is a configuration of the search space plus one extra key, ``budget_key`` (default
``"epochs"``), holding the integer training budget the trial should use. A promoted configuration
comes back unchanged with a larger budget, so a trial can resume from its checkpoint (see
``nas_plugins.cells.train_and_evaluate(checkpoint_dir=...)``); with ``resume_key`` set it also carries
that key, the budget it was trained to before, so a trial on a machine that cannot see the checkpoint
knows it is missing instead of silently training from scratch. ``tell`` takes the configuration
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

Scheduler and searcher are separate (as in Syne Tune): the scheduler decides budgets and
promotions, the *searcher* (option ``searcher``: any registered strategy but the schedulers and
grid) proposes the new configurations. With a searcher other than ``"random"`` there is one
instance of it per budget level (``searchers[budget]``), kept for the whole run and told every
result at its budget as it arrives (:meth:`~nas_plugins.strategy.Strategy.tell`). A new
configuration comes, as in BOHB (Falkner et al. 2018), from the searcher of the largest budget
with at least ``dims + 2`` successful results, except a third of them (and all while no budget has
enough) drawn at random from the prior; ``searcher="bo"`` is BOHB with a GP instead of a KDE, and
``"evolution"``, ``"reinforce"`` or ``"weaknas"`` make those NAS strategies multi-fidelity.
A searcher is told about each of its proposals once: its result at the searcher's budget, or, as
soon as the configuration has a result at another budget, a failure (None) that stands for "not
evaluated here", so no proposal stays pending in it for ever (BO's constant-liar points, WeakNAS's
warm-up count). Should the configuration reach the searcher's budget after all, its value replaces
that failure (``Strategy.tell`` replaces a failure by a later value). A proposal the scheduler has
already (from another searcher, or told) is given back the same way and replaced by a random one.
Random configurations keep to a searcher's ``max_cost`` (its cost constraint), as its own do.

Example::

    >>> from nas_plugins.space import Space
    >>> space = Space.from_nni({"x": {"_type": "uniform", "_value": [0, 1]}})
    >>> hb = Hyperband(space, R=9, eta=3, seed=0)
    >>> cfg = hb.ask()
    >>> cfg
    {'x': 0.636..., 'epochs': 1}
    >>> hb.tell(cfg, 0.83)
    >>> bohb = Hyperband(space, R=9, eta=3, searcher="bo", seed=0)     # BOHB: one "bo" per budget
    >>> sorted(bohb.searchers), bohb.searchers[9].name
    ([1, 3, 9], 'bo')
    >>> evo = ASHA(space, R=9, searcher="evolution", searcher_options={"population_size": 16}, seed=0)
    >>> evo.searchers[3].population_size
    16
"""
from __future__ import annotations

import math
import warnings
from fractions import Fraction
from typing import Any, Mapping, NamedTuple

import numpy as np

from nas_plugins.space import Space, SearchSpaceError, config_key
from nas_plugins.strategy import NotReady, SpaceExhausted, Strategy, as_metric

from . import registry
from .random_search import sample_unseen
from .registry import register

__all__ = ["hyperband_brackets", "asha_budgets", "Hyperband", "ASHA"]

_RANDOM_FRACTION = 1 / 3          # share of new configurations drawn at random with a searcher (BOHB)
#: Registered tuners that cannot be a searcher, and why.
_NOT_SEARCHERS = {"hyperband": "a multi-fidelity scheduler itself", "asha": "a multi-fidelity scheduler itself",
                  "grid": "it enumerates the space in a fixed order and learns nothing from results"}
#: Warm-up options of searchers, set to _SEARCHER_WARMUP unless searcher_options sets them: the
#: scheduler asks a searcher only once its budget has dims + 2 results, so it should use them at once.
_WARMUP_OPTIONS = ("n_init", "n_initial_points")
_SEARCHER_WARMUP = 2


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
    """ASHA's rung budgets, the budgets of Hyperband's most aggressive bracket: ``round(R * eta**(k - s_max))``
    for k = 0..s_max, ``s_max = floor(log_eta(R / min_budget))``. The top rung is ``R`` itself.

    >>> asha_budgets(27, 3), asha_budgets(52, 3)
    ([1, 3, 9, 27], [2, 6, 17, 52])
    """
    _check_budgets(R, eta, min_budget)
    s_max = _levels(R, eta, min_budget)
    return [_whole(Fraction(R) * Fraction(eta) ** (k - s_max)) for k in range(s_max + 1)]


def _searcher_choice(searcher: Any, searcher_options: Any, sampler: Any, owner: str) -> tuple[str, dict]:
    """The canonical searcher name and its options, checked (``sampler``: the deprecated alias)."""
    if sampler is not None:
        if sampler not in ("random", "bo"):
            raise ValueError(f"sampler (deprecated, use searcher) must be 'random' or 'bo', got {sampler!r}")
        if searcher not in ("random", sampler):
            raise ValueError(f"sampler={sampler!r} (deprecated) contradicts searcher={searcher!r}; give searcher only")
        warnings.warn(f"{owner}: option 'sampler' is deprecated, use 'searcher' (e.g. searcher: {sampler})",
                      DeprecationWarning, stacklevel=4)
        searcher = sampler
    if not isinstance(searcher, str):
        raise ValueError(f"searcher must be the name of a registered tuner (e.g. 'random', 'bo', 'evolution'), "
                         f"got {searcher!r}")
    try:
        info = registry.get(searcher, "tuner")
    except registry.UnknownAlgorithmError as exc:
        raise ValueError(f"searcher: {exc}") from None
    if info.name in _NOT_SEARCHERS:
        raise ValueError(f"searcher {searcher!r} cannot be a searcher: {_NOT_SEARCHERS[info.name]}")
    if searcher_options is None:
        searcher_options = {}
    if not isinstance(searcher_options, Mapping):
        raise ValueError(f"searcher_options must be a dict of the {info.name!r} searcher's options, "
                         f"got {searcher_options!r}")
    for key in ("seed", "mode"):
        if key in searcher_options:
            raise ValueError(f"searcher_options: {key!r} is not a searcher option: the searchers take "
                             f"{owner}'s own {key} ({'optimize_mode' if key == 'mode' else key})")
    try:
        registry.check_options(info.cls, dict(searcher_options))
    except ValueError as exc:
        raise ValueError(f"searcher_options: {exc}") from None
    return info.name, dict(searcher_options)


class _Job(NamedTuple):
    """One proposed trial: a configuration (by key) at a budget, and where it belongs."""
    key: str
    budget: int
    bracket: int      # Hyperband bracket number (-1 for ASHA)
    rung: int


class _SuccessiveHalving(Strategy):
    """What Hyperband and ASHA share: options, budgets in the configuration, the searchers (one per
    budget level) proposing new configurations, matching results to proposals, ranking a rung."""
    _finished = "all work done"

    resume_key: str | None = None      # class default: also for strategies pickled before it existed

    def __init__(self, space: Space | None, *, R: int, eta: int, min_budget: float, budget_key: str,
                 searcher: str, searcher_options: Mapping[str, Any] | None, sampler: str | None,
                 seed: int | None, mode: str, resume_key: str | None = None):
        _check_budgets(R, eta, min_budget)
        if not isinstance(budget_key, str) or not budget_key:
            raise ValueError(f"budget_key must be a non-empty string, got {budget_key!r}")
        if resume_key is not None and (not isinstance(resume_key, str) or not resume_key or resume_key == budget_key):
            raise ValueError(f"resume_key must be null or a non-empty string other than budget_key, got {resume_key!r}")
        self.resume_key = resume_key
        self.searcher, self.searcher_options = _searcher_choice(searcher, searcher_options, sampler,
                                                                type(self).__name__)
        self.R, self.eta, self.min_budget = R, eta, min_budget
        self.budget_key = budget_key
        self.budgets = asha_budgets(R, eta, min_budget)          # every budget a trial can get
        self.jobs: list[_Job] = []                                # every proposal, in order
        self._configs: dict[str, dict] = {}                       # key -> configuration (proposed or told)
        self._results: dict[Any, dict[str, float | None]] = {}    # budget -> key -> value
        self._pending: dict[tuple[str, Any], _Job] = {}           # proposed, no result yet
        self._retry: list[_Job] = []                              # lost proposals to make again
        self._space_used_up = False
        self._proposer: dict[str, int] = {}    # key -> budget of the searcher that proposed it, until told
        super().__init__(None, seed=seed, mode=mode)
        #: budget -> the searcher of that budget level (none for searcher="random": all from the prior).
        self.searchers: dict[int, Strategy] = self._make_searchers()
        if space is not None:
            self.set_space(space)

    def _make_searchers(self) -> dict[int, Strategy]:
        if self.searcher == "random":
            return {}
        info = registry.get(self.searcher, "tuner")
        options = {k: _SEARCHER_WARMUP for k in _WARMUP_OPTIONS if k in registry.option_names(info.cls)}
        options.update(self.searcher_options)
        out = {}
        for i, budget in enumerate(self.budgets):
            seed = None if self.seed is None else int(np.random.SeedSequence([self.seed, i]).generate_state(1)[0])
            try:
                out[budget] = registry.create(self.searcher, None, seed=seed, mode=self.mode, **options)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"searcher_options: {exc}") from None
        return out

    def __setstate__(self, state: dict) -> None:
        if "searchers" not in state:           # pickled before searchers existed (option `sampler`)
            state["searcher"] = state.pop("sampler", "random")
            state.update(searcher_options={}, _proposer={})
            state.setdefault("budgets", asha_budgets(state["R"], state["eta"], state["min_budget"]))
        self.__dict__.update(state)
        if "searchers" not in state:
            self.searchers = self._make_searchers()
            for budget, searcher in self.searchers.items():
                if self.space is not None:
                    searcher.set_space(self.space)
                for key, value in self._results.get(budget, {}).items():
                    searcher.tell(self._configs[key], value)

    def set_space(self, space: Space) -> None:
        for key, option in ((self.budget_key, "budget_key"), (self.resume_key, "resume_key")):
            if isinstance(space, Space) and key is not None and key in space.names:
                raise SearchSpaceError.for_param(
                    key, f"clashes with the {option.replace('_', ' ')} of {type(self).__name__}, which sets it "
                    f"itself; remove it from the search space or choose another {option}")
        super().set_space(space)
        for searcher in self.searchers.values():
            searcher.set_space(space)

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
        config = {**self._configs[job.key], self.budget_key: job.budget}
        if self.resume_key is not None:
            trained = self.trained_budget(job.key, below=job.budget)
            if trained is not None:
                config[self.resume_key] = trained
        return config

    def trained_budget(self, key: str, below: Any) -> Any:
        """The largest budget below ``below`` at which configuration ``key`` has a successful result (a
        promoted trial resumes from the checkpoint it left there), or None."""
        trained = [b for b, results in self._results.items() if b < below and results.get(key) is not None]
        return max(trained) if trained else None

    def without_extra_keys(self, config: Mapping) -> dict:
        """``config`` without the keys this strategy adds (``budget_key``, ``resume_key``)."""
        return {k: v for k, v in config.items() if k not in (self.budget_key, self.resume_key)}

    def _new_config(self) -> dict | None:
        """A configuration never proposed nor told; None once the space has none left."""
        if self._space_used_up:
            return None
        config = None
        if self.searchers and self.rng.random() >= _RANDOM_FRACTION:
            config = self._searcher_config()
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
            return sample_unseen(self.space, self.rng,
                                 lambda c: config_key(c) in self._configs or not self._feasible(c))
        except SpaceExhausted:
            return None

    def _feasible(self, config: dict) -> bool:
        """Within the searchers' cost limit (their ``constraint``: ``max_cost`` in searcher_options),
        which the random share keeps too."""
        constraint = getattr(next(iter(self.searchers.values()), None), "constraint", None)
        return constraint is None or constraint.feasible(config)

    def searcher_budget(self) -> int | None:
        """The budget whose searcher proposes the next model-based configuration: the largest with
        at least dims + 2 successful results (BOHB); None while there is none (or no searcher)."""
        if not self.searchers or self.space is None:
            return None
        n_min = len(self.space) + 2
        for budget in reversed(self.budgets):
            if sum(v is not None for v in self._results.get(budget, {}).values()) >= n_min:
                return budget
        return None

    def _searcher_config(self) -> dict | None:
        """A new configuration from the searcher of :meth:`searcher_budget`, or None."""
        budget = self.searcher_budget()
        if budget is None:
            return None
        searcher = self.searchers[budget]
        try:
            config = searcher.ask()
        except SpaceExhausted:
            return None
        if config_key(config) in self._configs:     # ours already: given back, never pending in the searcher
            searcher.tell(config, None)
            return None
        self._proposer[config_key(config)] = budget
        return config

    # -- tell ------------------------------------------------------------------------------------
    def _observe(self, config: dict, value: float | None) -> None:
        base = self.without_extra_keys(config)
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
            self._inform_searchers(key, budget, value)
        if job is not None:
            self._record(job, value)

    def _inform_searchers(self, key: str, budget: Any, value: float | None) -> None:
        """Tell the searcher of ``budget`` the result; the searcher that proposed the configuration,
        if another, hears "not evaluated here" (None) once, replaced should its budget come."""
        if not self.searchers:
            return
        config = self._configs[key]
        proposer = self._proposer.pop(key, None)
        if proposer is not None and proposer != budget:
            self.searchers[proposer].tell(config, None)
        searcher = self.searchers.get(budget)
        if searcher is not None:
            searcher.tell(config, value)

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
    """Hyperband: successive-halving brackets; each trial gets its budget in config[budget_key] (searcher "bo": BOHB).

    Options: ``R`` maximum budget (27), ``eta`` (3), ``min_budget`` (1), ``iterations`` full Hyperband
    iterations before :class:`SpaceExhausted` (1; ``None``: unbounded), ``budget_key`` ("epochs"),
    ``searcher`` the registered strategy proposing new configurations ("random"; e.g. "bo" for
    BOHB, "evolution", "reinforce", "weaknas"), ``searcher_options`` that strategy's own options (a
    dict; not ``seed``/``mode``, which come from this strategy), ``sampler`` deprecated alias of
    ``searcher`` ("random" or "bo"), ``resume_key`` (None; e.g. "resume_from": a promoted configuration
    also carries ``config[resume_key]``, the budget it was trained to before, so a trial that finds no
    checkpoint knows one is missing; new configurations never carry it). See the module docstring for
    the scheduling and the searchers.

    Example::

        >>> from nas_plugins.space import Space
        >>> space = Space.from_nni({"x": {"_type": "uniform", "_value": [0, 1]}})
        >>> hb = Hyperband(space, R=27, eta=3, seed=0)
        >>> hb.total_trials      # 69 trials in one iteration when nothing fails
        69
    """

    _finished = "every bracket of every iteration is finished"

    def __init__(self, space: Space | None = None, *, R: int = 27, eta: int = 3, min_budget: float = 1,
                 iterations: int | None = 1, budget_key: str = "epochs", searcher: str = "random",
                 searcher_options: Mapping[str, Any] | None = None, sampler: str | None = None,
                 resume_key: str | None = None, seed: int | None = None, mode: str = "max"):
        if iterations is not None and (not _is_int(iterations) or iterations < 1):
            raise ValueError(f"iterations must be a positive integer or null (unbounded), got {iterations!r}")
        self.iterations = iterations
        self.brackets = hyperband_brackets(R, eta, min_budget)
        self._open: dict[int, _Bracket] = {}
        self._opened = 0
        super().__init__(space, R=R, eta=eta, min_budget=min_budget, budget_key=budget_key,
                         searcher=searcher, searcher_options=searcher_options, sampler=sampler,
                         seed=seed, mode=mode, resume_key=resume_key)

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

    Rungs at the budgets of Hyperband's most aggressive bracket, ``round(R * eta**(k - s_max))``
    for k = 0..s_max (:func:`asha_budgets`): the top rung is ``R``. Each ``ask`` promotes the best
    not yet promoted configuration of the highest rung where it is in the top ``floor(n_k / eta)``
    of the ``n_k`` results there, else starts a new configuration at the lowest budget.
    ``max_configs`` bounds the new configurations (``None``: unbounded); once reached, with nothing
    to promote and nothing pending, :class:`SpaceExhausted`. ``searcher``, ``searcher_options``,
    ``resume_key`` (and the deprecated ``sampler``): as for :class:`Hyperband`.

    Example::

        >>> from nas_plugins.space import Space
        >>> space = Space.from_nni({"x": {"_type": "uniform", "_value": [0, 1]}})
        >>> asha = ASHA(space, R=27, eta=3, max_configs=50, seed=0)
        >>> asha.budgets, asha.ask()
        ([1, 3, 9, 27], {'x': 0.636..., 'epochs': 1})
    """

    _finished = "max_configs configurations started and nothing left to promote"

    def __init__(self, space: Space | None = None, *, R: int = 27, eta: int = 3, min_budget: float = 1,
                 max_configs: int | None = None, budget_key: str = "epochs", searcher: str = "random",
                 searcher_options: Mapping[str, Any] | None = None, sampler: str | None = None,
                 resume_key: str | None = None, seed: int | None = None, mode: str = "max"):
        if max_configs is not None and (not _is_int(max_configs) or max_configs < 1):
            raise ValueError(f"max_configs must be a positive integer or null (unbounded), got {max_configs!r}")
        self.max_configs = max_configs
        self.budgets = asha_budgets(R, eta, min_budget)
        self._promoted: list[set[str]] = [set() for _ in self.budgets]
        self._started = 0
        super().__init__(space, R=R, eta=eta, min_budget=min_budget, budget_key=budget_key,
                         searcher=searcher, searcher_options=searcher_options, sampler=sampler,
                         seed=seed, mode=mode, resume_key=resume_key)

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
