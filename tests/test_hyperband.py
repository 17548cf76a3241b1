"""Hyperband and ASHA (tuners/hyperband.py): bracket arithmetic, ASHA's rungs, promotions, termination
under concurrency, failures, pickling, searchers (BOHB, multi-fidelity NAS strategies), the NNI
adapter's owed requests and searcher options, real NNI runs."""
from __future__ import annotations

import json
import pickle
import subprocess
import warnings
from collections import defaultdict
from pathlib import Path

import nni
import numpy as np
import pytest
import yaml
from conftest import BIN, ROOT, nni_config
from toy_objective import score as toy_score

from nas_plugins.space import SearchSpaceError, Space, config_key
from nas_plugins.strategy import NotReady, SpaceExhausted
from tuners import registry
from tuners.hosts.nni_experiment import free_port, run
from tuners.hosts.nni_host import ADAPTERS, build_options
from tuners.hyperband import ASHA, Hyperband, asha_budgets, hyperband_brackets

SPACE = Space.from_nni({"x": {"_type": "uniform", "_value": [0, 1]},
                        "act": {"_type": "choice", "_value": ["relu", "tanh"]}})


def f(config: dict) -> float:
    """Known objective: grows with x, a little with the budget (so every budget ranks alike)."""
    return config["x"] + 0.001 * config.get("epochs", 0)


def base(config: dict, key: str = "epochs") -> dict:
    return {k: v for k, v in config.items() if k != key}


def run_sequential(strategy, objective=f, limit: int = 10_000) -> list[tuple[dict, float]]:
    """Ask, tell, repeat until SpaceExhausted (NotReady would be a bug here: nothing is pending)."""
    out = []
    while True:
        try:
            config = strategy.ask()
        except SpaceExhausted as exc:
            assert not isinstance(exc, NotReady)
            return out
        value = objective(config)
        strategy.tell(config, value)
        out.append((config, value))
        assert len(out) <= limit


def run_concurrent(strategy, width: int = 4, objective=f, seed: int = 0, rounds: list | None = None
                   ) -> tuple[list[tuple[dict, float]], int]:
    """Ask up to ``width`` trials (stopping a round at NotReady), tell them in random order, repeat.
    Returns the results and the number of NotReady refusals; ``rounds`` collects each round's size."""
    rng = np.random.default_rng(seed)
    out, refusals = [], 0
    rounds = [] if rounds is None else rounds
    while True:
        batch = []
        for _ in range(width):
            try:
                batch.append(strategy.ask())
            except NotReady:
                assert batch, "NotReady with nothing pending"
                refusals += 1
                break
            except SpaceExhausted:
                break
        if not batch:
            return out, refusals
        rounds.append(len(batch))
        for i in rng.permutation(len(batch)):
            value = objective(batch[i])
            strategy.tell(batch[i], value)
            out.append((batch[i], value))


def rungs_by_bracket(strategy, results) -> dict[int, dict[int, dict[str, float]]]:
    """bracket -> rung -> {config key: value}, from the strategy's job log."""
    values = {(config_key(base(c, strategy.budget_key)), c[strategy.budget_key]): v for c, v in results}
    out: dict[int, dict[int, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for job in strategy.jobs:
        out[job.bracket][job.rung][job.key] = values[(job.key, job.budget)]
    return out


def assert_successive_halving(strategy, results, mode: str = "max") -> None:
    """Every rung i+1 holds exactly the top n_{i+1} of rung i, at eta times the budget."""
    plan = strategy.brackets
    budgets = {}
    for job in strategy.jobs:
        budgets[(job.bracket, job.rung)] = job.budget
    for number, rungs in rungs_by_bracket(strategy, results).items():
        sizes = [n for n, _ in plan[number % len(plan)]]
        assert len(rungs[0]) == sizes[0]
        for i in range(1, len(sizes)):
            sign = 1 if mode == "max" else -1
            ranked = sorted(rungs[i - 1], key=lambda k: -sign * rungs[i - 1][k])
            assert set(rungs[i]) == set(ranked[:sizes[i]]), (number, i)
            assert budgets[(number, i)] == strategy.eta * budgets[(number, i - 1)]


# ============================================================================= bracket arithmetic

def test_brackets_match_the_hyperband_paper_table():
    """Li et al. 2018, Table 1 (R=81, eta=3)."""
    assert hyperband_brackets(81, 3) == [
        [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
        [(34, 3), (11, 9), (3, 27), (1, 81)],
        [(15, 9), (5, 27), (1, 81)],
        [(8, 27), (2, 81)],
        [(5, 81)],
    ]


def test_brackets_r27_and_r9():
    assert hyperband_brackets(27, 3) == [[(27, 1), (9, 3), (3, 9), (1, 27)], [(12, 3), (4, 9), (1, 27)],
                                         [(6, 9), (2, 27)], [(4, 27)]]
    assert hyperband_brackets(9, 3, min_budget=1) == [[(9, 1), (3, 3), (1, 9)], [(5, 3), (1, 9)], [(3, 9)]]
    assert hyperband_brackets(9, 3, min_budget=3) == [[(3, 3), (1, 9)], [(2, 9)]]   # s_max = 1
    assert hyperband_brackets(3, 3) == [[(3, 1), (1, 3)], [(2, 3)]]
    assert hyperband_brackets(1, 2) == [[(1, 1)]]
    assert hyperband_brackets(10, 3)[0] == [(9, 1), (3, 3), (1, 10)]              # budgets rounded, top = R
    assert asha_budgets(27, 3) == [1, 3, 9, 27] and asha_budgets(10, 3) == [1, 3, 10]
    assert asha_budgets(16, 2, min_budget=2) == [2, 4, 8, 16]


@pytest.mark.parametrize("R, eta, min_budget", [(52, 3, 1), (10, 3, 1), (100, 3, 1), (50, 2, 1), (52, 3, 2),
                                                (27, 3, 1), (81, 3, 3), (7, 4, 1), (1, 3, 1)])
def test_asha_top_rung_is_R_as_in_hyperbands_most_aggressive_bracket(R, eta, min_budget):
    """The old rungs min_budget * eta**k stopped below R when R is not a power of eta (52 -> 27)."""
    budgets = asha_budgets(R, eta, min_budget)
    assert budgets[-1] == R
    assert budgets == [r for _, r in hyperband_brackets(R, eta, min_budget)[0]]
    assert budgets[0] >= min_budget and all(a < b for a, b in zip(budgets, budgets[1:]))


def test_asha_trains_to_R_52():
    assert asha_budgets(52, 3) == [2, 6, 17, 52]
    strategy = ASHA(SPACE, R=52, eta=3, max_configs=30, seed=0)
    assert strategy.budgets == [2, 6, 17, 52]
    results = run_sequential(strategy)
    assert {c["epochs"] for c, _ in results} == {2, 6, 17, 52}
    best = max(results, key=lambda cv: cv[1])[0]
    assert best["epochs"] == 52                     # f grows with the budget: the best result is at R


@pytest.mark.parametrize("options, word", [
    ({"R": 0}, "R"), ({"R": 2.5}, "R"), ({"eta": 1}, "eta"), ({"eta": True}, "eta"),
    ({"min_budget": 0.5}, "min_budget"), ({"min_budget": 30}, "min_budget"), ({"budget_key": ""}, "budget_key"),
    ({"sampler": "tpe"}, "sampler"), ({"sampler": "bo", "searcher": "evolution"}, "sampler='bo'.*contradicts"),
    ({"searcher": "tpe"}, "searcher: unknown tuner algorithm 'tpe'"),
    ({"searcher": "median_stop"}, "searcher: unknown tuner algorithm 'median_stop'"),
    ({"searcher": 3}, "searcher must be the name of a registered tuner"),
    ({"searcher": "hyperband"}, "searcher 'hyperband' cannot be a searcher: a multi-fidelity scheduler"),
    ({"searcher": "NaspASHA"}, "searcher 'NaspASHA' cannot be a searcher: a multi-fidelity scheduler"),
    ({"searcher": "grid"}, "searcher 'grid' cannot be a searcher"),
    ({"searcher": "bo", "searcher_options": ["GP"]}, "searcher_options must be a dict of the 'bo' searcher"),
    ({"searcher": "bo", "searcher_options": {"acq": "EI"}}, "searcher_options: unknown option 'acq' for 'bo'"),
    ({"searcher": "evolution", "searcher_options": {"population_size": 0}}, "searcher_options: population_size"),
    ({"searcher": "weaknas", "searcher_options": {"seed": 1}}, "searcher_options: 'seed' is not a searcher option"),
    ({"searcher": "reinforce", "searcher_options": {"mode": "min"}}, "searcher_options: 'mode'.*optimize_mode"),
    ({"searcher_options": {"n_init": 3}}, "searcher_options: unknown option 'n_init' for 'random'"),
])
@pytest.mark.parametrize("name", ["hyperband", "asha"])
def test_invalid_options(name, options, word):
    with pytest.raises(ValueError, match=word):
        registry.create(name, SPACE, **options)


def test_invalid_iterations_and_max_configs():
    with pytest.raises(ValueError, match="iterations"):
        Hyperband(SPACE, iterations=0)
    with pytest.raises(ValueError, match="max_configs"):
        ASHA(SPACE, max_configs=0)


@pytest.mark.parametrize("cls", [Hyperband, ASHA])
def test_budget_key_must_not_be_a_search_space_parameter(cls):
    clash = Space.from_nni({"epochs": {"_type": "randint", "_value": [1, 10]},
                            "x": {"_type": "uniform", "_value": [0, 1]}})
    with pytest.raises(SearchSpaceError, match="'epochs'.*budget key"):
        cls(clash)
    strategy = cls(clash, budget_key="steps")            # another budget key is fine
    config = strategy.ask()
    assert config["steps"] == 1 and clash.check(base(config, "steps"))


@pytest.mark.parametrize("cls", [Hyperband, ASHA])
def test_resume_key_marks_promotions_only(cls):
    """With ``resume_key`` a promoted configuration carries the budget it was trained to (a trial that
    finds no checkpoint then knows one is missing); new configurations never carry it; results told
    with it are filed as without it; the same sequence as without the option otherwise."""
    options = {"R": 9, "eta": 3, "seed": 0, **({"iterations": 1} if cls is Hyperband else {"max_configs": 9})}
    marked = run_sequential(cls(SPACE, resume_key="resume_from", **options))
    plain = run_sequential(cls(SPACE, **options))
    assert [base(c, "resume_from") for c, _ in marked] == [c for c, _ in plain]
    trained: dict[str, int] = {}
    promotions = 0
    for config, _ in marked:
        key = config_key(base(base(config, "resume_from")))
        if key in trained:
            promotions += 1
            assert config["resume_from"] == trained[key] < config["epochs"]
        else:
            assert "resume_from" not in config
        trained[key] = config["epochs"]
    assert promotions > 0
    for bad in ("", "epochs", 3):
        with pytest.raises(ValueError, match="resume_key"):
            cls(SPACE, resume_key=bad)
    with pytest.raises(SearchSpaceError, match="'x'.*resume key"):
        cls(SPACE, resume_key="x")


# ============================================================================= promotions

@pytest.mark.parametrize("mode", ["max", "min"])
def test_hyperband_promotes_exactly_the_top_of_each_rung(mode):
    strategy = Hyperband(SPACE, R=27, eta=3, seed=0, mode=mode)
    results = run_sequential(strategy)
    assert len(results) == strategy.total_trials == 69
    assert_successive_halving(strategy, results, mode)
    # A promotion is the very same configuration (so the trial can resume), budget x eta.
    first_bracket = [c for c, _ in results if c["epochs"] == 1]
    for config, _ in results:
        if config["epochs"] == 3 and any(base(c) == base(config) for c in first_bracket):
            break
    else:
        pytest.fail("no promoted configuration found")


def test_hyperband_failures_are_never_promoted_and_brackets_still_end():
    strategy = Hyperband(SPACE, R=9, eta=3, seed=1)
    # Everything with x < 0.8 fails: rungs promote only successes, and may run fewer configs.
    results = run_sequential(strategy, lambda c: None if c["x"] < 0.8 else f(c))
    promoted = [strategy._configs[job.key] for job in strategy.jobs if job.rung > 0]
    assert promoted and all(c["x"] >= 0.8 for c in promoted)
    assert len(results) < strategy.total_trials
    with pytest.raises(SpaceExhausted) as info:
        strategy.ask()
    assert not isinstance(info.value, NotReady)


def test_asha_promotes_asynchronously_and_only_the_top_third():
    strategy = ASHA(SPACE, R=9, eta=3, seed=0)
    a, b, c = strategy.ask(), strategy.ask(), strategy.ask()
    assert [x["epochs"] for x in (a, b, c)] == [1, 1, 1]
    strategy.tell(a, 0.1)
    strategy.tell(b, 0.9)
    e = strategy.ask()
    assert e["epochs"] == 1                       # 2 results: floor(2/3) = 0, nothing to promote yet
    strategy.tell(c, 0.5)
    promoted = strategy.ask()                     # 3 results (e still pending): the best goes on
    assert promoted == {**base(b), "epochs": 3}
    d = strategy.ask()
    assert d["epochs"] == 1                       # the top 1 of 3 is promoted already
    strategy.tell(d, 0.95)                        # 4 results: the top 1 is now d
    assert strategy.ask() == {**base(d), "epochs": 3}
    assert strategy.ask()["epochs"] == 1          # b's and d's budget-3 trials are still pending


def test_asha_promotions_are_in_the_top_of_their_rung_when_made():
    strategy = ASHA(SPACE, R=27, eta=3, max_configs=60, seed=3)
    told: dict[int, dict[str, float]] = defaultdict(dict)
    promotions = 0
    while True:
        try:
            config = strategy.ask()
        except SpaceExhausted as exc:
            assert not isinstance(exc, NotReady)
            break
        budget, key = config["epochs"], config_key(base(config))
        if budget > 1:
            lower = told[budget // 3]
            top = sorted(lower, key=lambda k: -lower[k])[:len(lower) // 3]
            assert key in top
            promotions += 1
        value = f(config)
        told[budget][key] = value
        strategy.tell(config, value)
    assert len(told[1]) == 60
    assert 0 < len(told[3]) <= 60 and len(told[9]) <= len(told[3]) and 0 < len(told[27]) <= len(told[9])
    assert promotions == sum(len(told[b]) for b in (3, 9, 27))


def test_asha_max_configs_ends_with_space_exhausted_only_when_nothing_is_pending():
    strategy = ASHA(SPACE, R=3, eta=3, max_configs=3, seed=0)
    jobs = [strategy.ask() for _ in range(3)]
    with pytest.raises(NotReady):
        strategy.ask()                            # results may still promote something
    for job in jobs:
        strategy.tell(job, f(job))
    best = max(jobs, key=f)
    assert strategy.ask() == {**base(best), "epochs": 3}
    with pytest.raises(NotReady):
        strategy.ask()
    strategy.tell({**base(best), "epochs": 3}, 1.0)
    with pytest.raises(SpaceExhausted) as info:
        strategy.ask()
    assert not isinstance(info.value, NotReady)


# ============================================================================= termination and concurrency

@pytest.mark.parametrize("R, eta, expected", [(27, 3, 69), (9, 3, 22), (3, 3, 6), (16, 2, None)])
def test_hyperband_one_iteration_then_space_exhausted(R, eta, expected):
    strategy = Hyperband(SPACE, R=R, eta=eta, seed=0)
    total = sum(n for bracket in hyperband_brackets(R, eta) for n, _ in bracket)
    assert expected in (None, total)
    results = run_sequential(strategy)
    assert len(results) == total == strategy.total_trials
    for _ in range(2):
        with pytest.raises(SpaceExhausted) as info:
            strategy.ask()
        assert not isinstance(info.value, NotReady)


@pytest.mark.parametrize("iterations", [1, 2])
@pytest.mark.parametrize("width", [2, 4, 9])
def test_hyperband_concurrent_asks_never_end_early_nor_overrun(iterations, width):
    strategy = Hyperband(SPACE, R=27, eta=3, iterations=iterations, seed=5)
    rounds: list[int] = []
    results, refusals = run_concurrent(strategy, width=width, seed=width, rounds=rounds)
    assert len(results) == strategy.total_trials == 69 * iterations     # nothing ended early, nothing extra
    assert len({(config_key(c)) for c, _ in results}) == len(results)  # no trial twice
    assert_successive_halving(strategy, results)      # concurrency changes the order, not the choices
    if iterations == 2:
        # Never block: the second iteration starts while trials of the first are still pending
        # (its first trial is asked in the same round as the first iteration's last one).
        per_iteration = len(strategy.brackets)
        last_of_first = max(i for i, j in enumerate(strategy.jobs) if j.bracket < per_iteration)
        first_of_second = min(i for i, j in enumerate(strategy.jobs) if j.bracket >= per_iteration)
        round_of = np.repeat(np.arange(len(rounds)), rounds)
        assert round_of[first_of_second] <= round_of[last_of_first]
    with pytest.raises(SpaceExhausted) as info:
        strategy.ask()
    assert not isinstance(info.value, NotReady)


def test_hyperband_refuses_only_while_waiting_and_brackets_overlap():
    """Four asks at a time on R=9: the last rungs must wait (NotReady) -- never SpaceExhausted early."""
    strategy = Hyperband(SPACE, R=9, eta=3, seed=0)
    pending = [strategy.ask() for _ in range(9)]           # bracket 0, rung 0
    assert {c["epochs"] for c in pending} == {1}
    nxt = strategy.ask()                                   # rung 0 is waiting: bracket 1 starts
    assert nxt["epochs"] == 3 and strategy.jobs[-1].bracket == 1
    pending += [nxt] + [strategy.ask() for _ in range(4 + 3)]   # rest of bracket 1, all of bracket 2
    with pytest.raises(NotReady):
        strategy.ask()
    # Certain promotions happen before the whole rung is in: after 7 of 9 results, the best of
    # them stays in the top 3 whatever the last 2 give.
    rung0 = pending[:9]
    order = sorted(rung0, key=f, reverse=True)       # tell the 7 best first
    for config in order[:7]:
        strategy.tell(config, f(config))
    promoted = strategy.ask()
    assert promoted == {**base(order[0]), "epochs": 3}
    with pytest.raises(NotReady):
        strategy.ask()                                   # rank 1 + 2 unresolved is not < 3


def test_unbounded_iterations_never_exhaust():
    strategy = Hyperband(SPACE, R=3, eta=3, iterations=None, seed=0)
    assert strategy.total_trials == float("inf")
    for _ in range(40):
        config = strategy.ask()
        strategy.tell(config, f(config))
    assert len(strategy.jobs) == 40 and strategy.jobs[-1].bracket >= 6


def test_small_finite_space_ends_cleanly():
    """Fewer configurations than bracket 0 wants: rung 0 takes what there is, promotions go on."""
    space = Space.from_nni({"a": {"_type": "choice", "_value": [1, 2, 3, 4, 5]}})
    strategy = Hyperband(space, R=9, eta=3, seed=0)
    results = run_sequential(strategy, lambda c: c["a"])
    assert sorted((c["a"], c["epochs"]) for c, _ in results) == [
        (1, 1), (2, 1), (3, 1), (3, 3), (4, 1), (4, 3), (5, 1), (5, 3), (5, 9)]


# ============================================================================= results from elsewhere

@pytest.mark.parametrize("cls", [Hyperband, ASHA])
def test_failed_nan_and_foreign_results_are_accepted(cls):
    strategy = cls(SPACE, R=9, eta=3, seed=0, **({"max_configs": 20} if cls is ASHA else {}))
    strategy.tell({"x": 0.5, "act": "relu"}, 0.7)                  # no budget key: recorded at R
    strategy.tell({"x": 0.6, "act": "relu", "epochs": 3}, 0.8)     # at its budget
    strategy.tell({"x": 0.7, "act": "tanh", "epochs": "many"}, 0.1)  # unreadable budget: at R
    assert strategy._results[9] == {config_key({"x": 0.5, "act": "relu"}): 0.7,
                                    config_key({"x": 0.7, "act": "tanh"}): 0.1}
    for value in [None, float("nan"), float("inf"), "text", {"default": 1}]:
        config = strategy.ask()
        strategy.tell(config, value)
    assert [o.value for o in strategy.history[3:]] == [None] * 5
    results = run_sequential(strategy)
    foreign = [config_key({"x": x, "act": a}) for x, a in [(0.5, "relu"), (0.6, "relu"), (0.7, "tanh")]]
    assert not set(foreign) & {config_key(base(c)) for c, _ in results}    # never proposed
    assert strategy.best.value == max(v for _, v in results)


def test_result_for_a_pending_trial_with_float_budget_matches():
    strategy = Hyperband(SPACE, R=3, eta=3, seed=0)
    jobs = [strategy.ask() for _ in range(3)]
    for job in jobs:
        strategy.tell({**job, "epochs": float(job["epochs"])}, f(job))   # JSON may bring 1.0
    assert strategy.ask() == {**base(max(jobs, key=f)), "epochs": 3}


@pytest.mark.parametrize("cls", [Hyperband, ASHA])
def test_requeue_pending_proposes_lost_trials_again(cls):
    strategy = cls(SPACE, R=9, eta=3, seed=0)
    lost = [strategy.ask() for _ in range(3)]
    strategy.requeue_pending()
    assert [strategy.ask() for _ in range(3)] == lost
    strategy.tell(lost[0], 0.5)
    strategy.requeue_pending()
    assert [strategy.ask() for _ in range(2)] == lost[1:]


# ============================================================================= pickling and seeds

@pytest.mark.parametrize("name, options", [("hyperband", {"R": 27, "iterations": 2}),
                                           ("asha", {"R": 27, "max_configs": 40}),
                                           ("hyperband", {"R": 9, "iterations": 2, "searcher": "evolution"}),
                                           ("asha", {"R": 9, "max_configs": 30, "searcher": "reinforce"})])
def test_pickle_mid_run_keeps_the_sequence(name, options):
    strategy = registry.create(name, SPACE, seed=4, **options)
    pending = [strategy.ask() for _ in range(12)]
    for config in pending[:8]:
        strategy.tell(config, f(config))
    copy = pickle.loads(pickle.dumps(strategy))
    for s in (strategy, copy):
        for config in pending[8:]:
            s.tell(config, f(config))
    assert run_concurrent(copy, width=3)[0] == run_concurrent(strategy, width=3)[0]


@pytest.mark.parametrize("name", ["hyperband", "asha"])
def test_seeds_reproducible(name):
    def sequence(seed):
        options = {"max_configs": 20} if name == "asha" else {}
        return [c for c, _ in run_concurrent(registry.create(name, SPACE, seed=seed, R=9, **options), width=3)[0]]
    assert sequence(7) == sequence(7)
    assert sequence(7) != sequence(8)


# ============================================================================= searchers (BOHB, NAS strategies)

def toy(config: dict) -> float:
    """A toy objective where the budget matters: ``x`` near 0.8 wins at large budgets, while "tanh"
    learns faster and leads at small ones."""
    budget = config["epochs"]
    return (1 - (config["x"] - 0.8) ** 2) * (1 - 0.5 ** budget) + (0.2 if config["act"] == "tanh" else 0.0) / budget


SEARCHERS = [("hyperband", "bo", {}), ("asha", "bo", {"acq_func": "LCB"}),
             ("hyperband", "evolution", {"population_size": 8, "sample_size": 3}), ("asha", "evolution", {}),
             ("hyperband", "weaknas", {"pool_size": 100, "n_trees": 10}),
             ("asha", "weaknas", {"pool_size": 100, "n_trees": 10, "batch": 2, "top_n": 4}),
             ("hyperband", "reinforce", {})]


def searcher_run(name: str, searcher: str, options: dict, seed: int, width: int = 3):
    """A concurrent ask/tell run (R=9; ASHA: 20 configurations) on ``toy``; returns the proposals in
    order, the results and how many new configurations a searcher proposed (seen by a searcher
    right after the ask: only its own proposals are)."""
    extra = {"max_configs": 20} if name == "asha" else {}
    strategy = registry.create(name, SPACE, R=9, eta=3, searcher=searcher, searcher_options=options, seed=seed, **extra)
    searchers = dict(strategy.searchers)
    rng = np.random.default_rng(seed)
    proposals, results, from_searcher, known = [], [], 0, set()
    while True:
        batch = []
        for _ in range(width):
            try:
                config = strategy.ask()
            except SpaceExhausted:
                break
            batch.append(config)
            key = config_key(base(config))
            if key not in known:
                known.add(key)
                from_searcher += any(s.was_seen(base(config)) for s in strategy.searchers.values())
        if not batch:
            break
        proposals += batch
        for i in rng.permutation(len(batch)):
            strategy.tell(batch[i], toy(batch[i]))
            results.append((batch[i], toy(batch[i])))
        assert all(strategy.searchers[b] is s for b, s in searchers.items())     # the same instances throughout
    return strategy, proposals, results, from_searcher


@pytest.mark.parametrize("name, searcher, options", SEARCHERS)
def test_multi_fidelity_searchers_run_and_are_deterministic(name, searcher, options):
    strategy, proposals, results, from_searcher = searcher_run(name, searcher, options, seed=0)
    assert strategy.searcher == searcher and sorted(strategy.searchers) == [1, 3, 9]
    if name == "hyperband":
        assert len(results) == strategy.total_trials == 22
    else:
        assert len({config_key(base(c)) for c in proposals}) == 20 and {c["epochs"] for c in proposals} == {1, 3, 9}
    assert len({config_key(c) for c in proposals}) == len(proposals)       # no trial twice
    assert 0 < from_searcher < len({config_key(base(c)) for c in proposals})   # the model, and a random share
    assert searcher_run(name, searcher, options, seed=0)[1] == proposals     # same seed, same proposals
    assert searcher_run(name, searcher, options, seed=1)[1] != proposals


@pytest.mark.parametrize("name, searcher, options", [("hyperband", "evolution", {}), ("asha", "weaknas", {"pool_size": 100, "n_trees": 10})])
def test_searchers_persist_and_hear_every_result_at_their_budget(name, searcher, options):
    strategy, proposals, results, _ = searcher_run(name, searcher, options, seed=2)
    by_budget: dict[int, dict[str, float]] = defaultdict(dict)
    for config, value in results:
        by_budget[config["epochs"]][config_key(base(config))] = value
    # BOHB's rule: the next model-based proposal comes from the largest budget with dims + 2 = 4 successes.
    assert strategy.searcher_budget() == max(b for b in by_budget if len(by_budget[b]) >= 4)
    withdrawn = 0
    for budget, s in strategy.searchers.items():
        told = {config_key(o.config): o.value for o in s.history}
        # Every result at its budget, told once, nothing else that succeeded; a promoted configuration
        # (proposed by one searcher) is told to the searcher of each budget it reached.
        assert {k: v for k, v in told.items() if v is not None} == by_budget[budget]
        assert len(s.history) == len(told)
        # The rest are its own proposals that ran at other budgets only: "not evaluated here" (None).
        for key in set(told) - set(by_budget[budget]):
            assert told[key] is None and any(key in by_budget[b] for b in by_budget if b != budget)
            withdrawn += 1
        # Nothing it proposed is left pending: whatever it has seen, it was told.
        assert all(s.was_seen(base(c)) == (config_key(base(c)) in told) for c in proposals)
    assert withdrawn > 0


def test_a_withdrawn_proposal_reaching_the_searchers_budget_replaces_its_placeholder():
    strategy = Hyperband(SPACE, R=3, eta=3, iterations=None, searcher="evolution", seed=0)
    # Enough results at budget 3 (dims + 2 = 4) from elsewhere: searcher 3 proposes from now on.
    for i in range(4):
        strategy.tell({"x": 0.1 * i, "act": "relu", "epochs": 3}, 0.1 * i)
    s3 = strategy.searchers[3]
    proposed = None
    for _ in range(30):
        config = strategy.ask()
        if config["epochs"] == 1 and s3.was_seen(base(config)):
            proposed = config
            break
        strategy.tell(config, 0.0)
    assert proposed is not None, "searcher 3 never proposed a configuration"
    strategy.tell(proposed, 5.0)                     # a result at budget 1: searcher 3 hears "not here"
    assert s3.history[-1].config == base(proposed) and s3.history[-1].value is None
    strategy.tell({**proposed, "epochs": 3}, 7.0)    # ... and its own result, should it come, replaces that
    assert [o.value for o in s3.history if o.config == base(proposed)] == [7.0]
    assert s3.best.value == 7.0


def test_random_share_keeps_the_searchers_cost_limit():
    strategy = Hyperband(SPACE, R=9, searcher="evolution", seed=0,
                         searcher_options={"cost": lambda c: c["x"], "max_cost": 0.5})
    results = run_sequential(strategy)
    assert len(results) == 22 and max(c["x"] for c, _ in results) <= 0.5


def test_searcher_names_and_deprecated_sampler():
    assert Hyperband(SPACE, searcher="NaspEvolution").searcher == "evolution"    # any registered name
    assert Hyperband(SPACE).searchers == {} and ASHA(SPACE, searcher="random").searchers == {}
    with pytest.warns(DeprecationWarning, match="'sampler' is deprecated, use 'searcher'"):
        strategy = Hyperband(SPACE, sampler="bo", R=3)
    assert strategy.searcher == "bo" and sorted(strategy.searchers) == [1, 3]
    with pytest.warns(DeprecationWarning):
        assert ASHA(SPACE, sampler="random").searchers == {}
    # Warm-ups: the searcher is asked only once its budget has enough results, so it models at once.
    assert Hyperband(SPACE, searcher="bo", R=3).searchers[3].n_initial_points == 2
    assert Hyperband(SPACE, searcher="evolution", searcher_options={"n_init": 5}).searchers[27].n_init == 5


def test_searchers_get_the_space_given_later_and_the_mode():
    strategy = ASHA(None, R=9, searcher="reinforce", mode="min", seed=0)
    assert all(s.space is None and s.mode == "min" for s in strategy.searchers.values())
    strategy.set_space(SPACE)
    assert all(s.space is SPACE for s in strategy.searchers.values())
    assert len({s.seed for s in strategy.searchers.values()}) == 3     # each its own seed, from ours


def test_old_pickle_with_sampler_gets_its_searchers():
    """A checkpoint pickled before searchers existed (option ``sampler``) resumes with them, told
    every result so far."""
    strategy = Hyperband(SPACE, R=9, eta=3, seed=0)
    at_1 = 0
    for _ in range(9):
        config = strategy.ask()
        strategy.tell(config, f(config))
        at_1 += config["epochs"] == 1
    state = dict(strategy.__dict__)
    for key in ("searcher", "searcher_options", "searchers", "_proposer", "budgets"):
        del state[key]
    state["sampler"] = "bo"
    old = Hyperband.__new__(Hyperband)
    old.__setstate__(state)
    assert old.searcher == "bo" and sorted(old.searchers) == [1, 3, 9] and old.budgets == [1, 3, 9]
    assert len(old.searchers[1].history) == at_1 and old.searchers[1].space is SPACE
    assert run_sequential(old)


# ============================================================================= NNI adapter (no manager)

def make_tuner(name: str, **class_args):
    tuner = ADAPTERS[name]["class"](**class_args)
    tuner.update_search_space({"x": {"_type": "uniform", "_value": [0, 1]}})
    return tuner


def test_adapter_answers_a_refused_request_when_a_result_arrives():
    from nni.runtime.msg_dispatcher import _create_parameter_id   # what the dispatcher numbers requests with
    tuner = make_tuner("hyperband", R=3, eta=3, seed=0)      # brackets (3@1, 1@3) and (2@3): 6 trials
    sent = []
    ids = [_create_parameter_id() for _ in range(6)]
    proposed = tuner.generate_multiple_parameters(ids, st_callback=lambda pid, p: sent.append((pid, p)))
    assert [p["epochs"] for p in proposed] == [1, 1, 1, 3, 3]   # the 6th must wait for the first rung
    params = dict(zip(ids, proposed))
    assert tuner._owed == 1 and not sent
    # NNI 3.0 hands back '' as the parameters of the first id of a partly answered request.
    tuner.receive_trial_result(ids[0], "", toy_score(params[ids[0]]))
    tuner.receive_trial_result(ids[1], params[ids[1]], toy_score(params[ids[1]]))
    assert [o.config for o in tuner.strategy.history] == [params[ids[0]], params[ids[1]]]
    assert not sent
    tuner.trial_end(ids[2], success=False)                    # a failed trial completes the rung too
    assert len(sent) == 1 and tuner._owed == 0
    pid, promoted = sent[0]
    assert pid not in ids and promoted == {**max([params[i] for i in ids[:2]], key=toy_score), "epochs": 3}
    for i in ids[3:5]:
        tuner.receive_trial_result(i, params[i], 0.5)
    assert tuner.generate_multiple_parameters([_create_parameter_id()]) == []   # waits for the promotion: owed
    assert tuner._owed == 1
    tuner.receive_trial_result(pid, promoted, 0.9)
    assert tuner._owed == 0 and len(sent) == 1                # nothing left: the debt is dropped
    assert tuner.generate_multiple_parameters([_create_parameter_id()]) == []


def test_adapter_import_data_and_resume_with_budget_key(tmp_path, monkeypatch):
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path))
    tuner = make_tuner("asha", R=9, eta=3, seed=0)
    tuner.import_data([{"parameter": {"x": 0.25, "epochs": 3}, "value": 0.5},
                       {"parameter": {"x": 0.5}, "value": {"default": 0.6}}])
    assert len(tuner.strategy.history) == 2
    running = tuner.generate_multiple_parameters([0, 1])
    restored = ADAPTERS["asha"]["class"](R=9, eta=3, seed=0)
    restored.load_checkpoint()                    # `nnictl resume`: the two running trials are lost
    assert restored.generate_multiple_parameters([0, 1]) == running


def test_adapter_takes_a_searcher_and_its_options():
    """classArgs ``searcher``/``searcher_options`` (a nested dict) reach the strategy; a bad searcher
    option is rejected up front, naming it."""
    tuner = make_tuner("asha", R=3, eta=3, max_configs=8, searcher="evolution", seed=0, optimize_mode="minimize",
                       searcher_options={"population_size": 4, "sample_size": 2})
    assert tuner.strategy.searcher == "evolution"
    assert all(s.population_size == 4 and s.mode == "min" for s in tuner.strategy.searchers.values())
    for pid in range(100):
        try:
            params = tuner.generate_parameters(pid)
        except nni.NoMoreTrialError:
            break
        tuner.receive_trial_result(pid, params, params["x"] / params["epochs"])
    assert pid == 10                                  # 8 configurations, floor(8 / 3) = 2 promoted to R = 3
    assert [sum(o.value is not None for o in s.history) for s in tuner.strategy.searchers.values()] == [8, 2]
    with pytest.raises(ValueError, match="NaspHyperband classArgs: searcher_options: unknown option 'pop' for 'evolution'"):
        build_options("hyperband", {"searcher": "evolution", "searcher_options": {"pop": 4}})
    with pytest.raises(ValueError, match="NaspASHA classArgs: searcher 'grid' cannot be a searcher"):
        ADAPTERS["asha"]["validator"]().validate_class_args(searcher="grid")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert make_tuner("hyperband", sampler="bo").strategy.searcher == "bo"    # NNI YAMLs with `sampler: bo`


# ============================================================================= real NNI experiments

def test_nni_hyperband_experiment_ends_with_the_expected_trials(tmp_path: Path):
    space = {"x": {"_type": "uniform", "_value": [0, 1]}}
    args = {"R": 3, "eta": 3, "min_budget": 1, "iterations": 1, "budget_key": "steps", "seed": 0,
            "optimize_mode": "maximize"}
    config = nni_config(tmp_path, space, tuner="NaspHyperband", tuner_args=args, trials=30, concurrency=2)
    exp, records, status = run(config, port=free_port(), timeout=120)
    assert status == "TUNER_NO_MORE_TRIAL"
    assert len(records) == 6 and all(r.status == "SUCCEEDED" for r in records)
    for r in records:
        assert len(r.intermediate) == r.parameters["steps"]          # the budget drove the trial
        assert r.final == pytest.approx(toy_score(r.parameters))
    low = [r for r in records if r.parameters["steps"] == 1]
    high = [r for r in records if r.parameters["steps"] == 3]
    assert len(low) == 3 and len(high) == 3
    promoted = [r for r in high if any(r.parameters["x"] == l.parameters["x"] for l in low)]
    assert len(promoted) == 1
    assert promoted[0].parameters["x"] == max(low, key=lambda r: r.final).parameters["x"]


def test_nni_asha_experiment_ends_with_the_expected_trials(tmp_path: Path):
    space = {"x": {"_type": "uniform", "_value": [0, 1]}}
    args = {"R": 3, "eta": 3, "max_configs": 3, "budget_key": "steps", "seed": 1}
    config = nni_config(tmp_path, space, tuner="NaspASHA", tuner_args=args, trials=30, concurrency=2)
    exp, records, status = run(config, port=free_port(), timeout=120)
    assert status == "TUNER_NO_MORE_TRIAL"
    assert len(records) == 4 and all(r.status == "SUCCEEDED" for r in records)
    low = [r for r in records if r.parameters["steps"] == 1]
    (high,) = [r for r in records if r.parameters["steps"] == 3]
    assert len(low) == 3 and len(high.intermediate) == 3
    assert high.parameters["x"] == max(low, key=lambda r: r.final).parameters["x"]
    log = (Path(config.experiment_working_directory) / exp.id / "log" / "dispatcher.log").read_text()
    # The third trial's result came while NNI's request for a 4th slot had been refused: the
    # promotion was sent by the adapter itself.
    assert "was waiting for results" in log


# ============================================================================= shipped config

def test_hyperband_demo_config_validates(tmp_path: Path):
    def validate(path):
        return subprocess.run([str(BIN / "nas-plugins"), "validate", str(path)], capture_output=True, text=True)
    assert validate(ROOT / "trial_templates" / "hyperband.yml").returncode == 0
    config = yaml.safe_load((ROOT / "trial_templates" / "hyperband.yml").read_text())
    assert config["tuner"]["name"] == "NaspHyperband" and config["trialConcurrency"] == 2
    # A search space holding the budget key is rejected up front, naming it.
    space = json.loads((ROOT / "trial_templates" / "mixed_space.json").read_text())
    space["epochs"] = {"_type": "choice", "_value": [1, 2]}
    (tmp_path / "space.json").write_text(json.dumps(space))
    config.update(searchSpaceFile=str(tmp_path / "space.json"), trialCodeDirectory=str(ROOT))
    (tmp_path / "c.yml").write_text(yaml.safe_dump(config))
    out = validate(tmp_path / "c.yml")
    assert out.returncode == 2 and "'epochs'" in out.stderr and "budget key" in out.stderr
