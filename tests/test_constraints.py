"""The cost constraint wrapper (``nas_plugins.constraints.Constrained``) on any registered strategy.

``registry.create(name, space, cost=..., max_cost=..., reward_target=..., reward_w=...)`` wraps every
strategy; here: infeasible configurations never proposed, the MnasNet reward is what the inner
strategy learns, the Pareto front, seeding, pickling, and precise errors. The NAS strategies' own
constraint tests (search under a budget) are in test_nas_strategies.py and test_weaknas.py.
"""
from __future__ import annotations

import pickle

import pytest

import tuners
from conftest import ask_tell, exhaust, keys

from nas_plugins.constraints import CONSTRAINT_OPTIONS, Constrained, Constraint
from nas_plugins.space import Space, config_key
from nas_plugins.strategy import SpaceExhausted, Strategy
from tuners import registry
from tuners.random_search import RandomSearch

TUNERS = [a.name for a in tuners.algorithms("tuner")]
MAIN = ["random", "evolution", "bo"]          # the wrapper's main customers, checked in depth
# Multi-fidelity strategies run each configuration once with these (see test_contract.SINGLE_FIDELITY).
SINGLE_FIDELITY: dict[str, dict] = {"hyperband": {"R": 1, "iterations": None}, "asha": {"R": 1}}
FAST: dict[str, dict] = {"bo": {"n_initial_points": 3}}


def spec(type_: str, *value) -> dict:
    return {"_type": type_, "_value": list(value)}


SMALL = Space.from_nni({f"e{i}": spec("choice", "conv", "pool", "skip") for i in range(3)})     # 27 cells
MIXED = Space.from_nni({"lr": spec("loguniform", 1e-4, 1e-1), "width": spec("choice", 16, 32, 64, 128),
                        "op": spec("choice", {"_name": "conv", "k": spec("choice", 3, 5)}, {"_name": "skip"})})


def convs(config: dict) -> float:
    """The cost of a SMALL cell: its number of convolutions."""
    return float(sum(v == "conv" for v in config.values()))


def width(config: dict) -> float:
    """The cost of a MIXED configuration: its width (kernel size 5 adds 16)."""
    return float(config["width"] + (16 if config["op"].get("k") == 5 else 0))


def small_value(config: dict) -> float:
    """Convolutions are good, pooling a little: the best cells are over any tight budget."""
    return convs(config) + 0.1 * sum(v == "pool" for v in config.values())


def mixed_value(config: dict) -> float:
    """Best at width 32: most proposals of a model-based strategy are within a budget of 64."""
    return -abs(config["width"] - 32) / 128 - abs(config["lr"] - 0.01)


def greedy_value(config: dict) -> float:
    """The wider the better: the optimum is over a budget of 64."""
    return config["width"] / 128 - abs(config["lr"] - 0.01)


FEASIBLE_SMALL = [c for c in (SMALL.grid_config(i, None) for i in range(27)) if convs(c) <= 1]   # 20


# ============================================================================= ask: feasible only

@pytest.mark.parametrize("tuner", TUNERS)
def test_every_strategy_proposes_each_feasible_configuration_once(tuner):
    strategy = registry.create(tuner, SMALL, seed=0, cost=convs, max_cost=1, **SINGLE_FIDELITY.get(tuner, {}))
    assert isinstance(strategy, Constrained) and isinstance(strategy, Strategy) and strategy.name == tuner
    proposed = []
    while True:
        try:
            config = strategy.ask()
        except SpaceExhausted as exc:
            assert "max_cost=1" in str(exc) and "7 infeasible skipped" in str(exc)
            break
        proposed.append(config)
        strategy.tell(config, small_value(config))
        assert len(proposed) <= 27, "never exhausted"
    base = [{k: v for k, v in c.items() if k != getattr(strategy, "budget_key", None)} for c in proposed]
    assert all(convs(c) <= 1 for c in base)
    assert sorted(keys(base)) == sorted(keys(FEASIBLE_SMALL))          # every feasible cell, once
    assert strategy.constraint.rejected == 7
    assert len(strategy.history) == 20 and None not in [o.value for o in strategy.history]


@pytest.mark.parametrize("tuner", MAIN)
def test_rejections_are_failures_of_the_inner_strategy(tuner):
    strategy = registry.create(tuner, SMALL, seed=1, cost=convs, max_cost=0, **FAST.get(tuner, {}))
    proposed = exhaust(strategy)                        # ask-only: 8 cells without a convolution
    assert sorted(keys(proposed)) == sorted(keys(c for c in FEASIBLE_SMALL if convs(c) == 0))
    inner = strategy.inner
    rejected = [o.config for o in inner.history]
    assert len(rejected) == strategy.constraint.rejected == 19 and all(convs(c) > 0 for c in rejected)
    assert all(o.value is None for o in inner.history) and strategy.history == []
    assert all(strategy.was_seen(c) and inner.was_seen(c) for c in rejected)


def test_no_feasible_proposal_in_tries_names_max_cost():
    infinite = Space.from_nni({"x": spec("uniform", 0, 1)})
    strategy = Constrained(RandomSearch(infinite, seed=0), Constraint(cost=lambda c: c["x"], max_cost=-1), tries=5)
    with pytest.raises(SpaceExhausted, match=r"no configuration with cost <= max_cost=-1 in 5 proposals"):
        strategy.ask()
    assert strategy.constraint.rejected == 5 and len(strategy.inner.history) == 5


def test_without_max_cost_nothing_is_filtered():
    strategy = registry.create("random", SMALL, seed=0, cost=convs, reward_target=1.0)
    assert len(exhaust(strategy)) == 27 and strategy.constraint.rejected == 0


@pytest.mark.parametrize("tuner", MAIN)
def test_same_seed_same_proposals(tuner):
    def make(seed):
        return registry.create(tuner, MIXED, seed=seed, cost=width, max_cost=64, reward_target=32, **FAST.get(tuner, {}))
    first = ask_tell(make(7), mixed_value, 10)
    assert first == ask_tell(make(7), mixed_value, 10)
    assert keys(first) != keys(ask_tell(make(8), mixed_value, 10))
    assert all(width(c) <= 64 for c in first)


def test_bo_with_its_optimum_over_the_budget_gets_unstuck():
    """bo learns nothing from failures: rejections beyond ``patience`` in one ask teach it the worst result."""
    strategy = registry.create("bo", MIXED, seed=0, n_initial_points=3, cost=width, max_cost=64)
    configs = ask_tell(strategy, greedy_value, 15)
    assert all(width(c) <= 64 for c in configs)
    rejected = [o.value for o in strategy.inner.history if width(o.config) > 64]
    assert None in rejected                                        # first, rejections are failures
    penalties = [v for v in rejected if v is not None]             # then the worst result at the time
    assert penalties and set(penalties) <= {o.value for o in strategy.history}
    assert max(greedy_value(c) for c in configs) > 0.45            # width 64 (0.5 at the best lr)


def test_patience_zero_always_penalises():
    strategy = Constrained(RandomSearch(SMALL, seed=0), Constraint(cost=convs, max_cost=0), patience=0)
    first = strategy.ask()
    strategy.tell(first, 0.25)
    strategy.tell(strategy.ask(), 0.75)
    strategy.ask()
    rejected = [o for o in strategy.inner.history if convs(o.config) > 0]
    assert rejected and {o.value for o in rejected} <= {None, 0.25}          # the worst so far (none before)
    assert 0.25 in {o.value for o in rejected}


# ============================================================================= tell: the MnasNet reward

@pytest.mark.parametrize("tuner", MAIN)
@pytest.mark.parametrize("mode", ["max", "min"])
def test_inner_strategy_learns_the_reward(tuner, mode):
    c = Constraint(cost=width, reward_target=32.0, reward_w=-0.5)
    strategy = registry.create(tuner, MIXED, seed=0, mode=mode, cost=width, reward_target=32.0, reward_w=-0.5,
                               **FAST.get(tuner, {}))
    configs = ask_tell(strategy, mixed_value, 6)
    sign = 1 if mode == "max" else -1
    rewards = [sign * c.reward(sign * mixed_value(x), x) for x in configs]
    assert [o.value for o in strategy.history] == [mixed_value(x) for x in configs]       # as told
    assert [o.value for o in strategy.inner.history] == pytest.approx(rewards)            # what it learns
    assert [strategy.inner.score(o.value) for o in strategy.inner.history] == \
        pytest.approx([c.reward(sign * mixed_value(x), x) for x in configs])              # higher is better
    assert strategy.best.value == max((mixed_value(x) for x in configs), key=lambda v: sign * v)


def test_reward_ranks_a_cheaper_result_first():
    strategy = registry.create("evolution", SMALL, seed=0, cost=lambda c: 1.0 + convs(c), reward_target=1.0, reward_w=-1.0)
    light, heavy = {"e0": "pool", "e1": "pool", "e2": "pool"}, {"e0": "conv", "e1": "conv", "e2": "pool"}
    strategy.tell(light, 0.5)          # reward 0.5 / 1
    strategy.tell(heavy, 0.9)          # reward 0.9 / 3
    assert [m.fitness for m in strategy.population] == pytest.approx([0.5, 0.3])
    assert strategy.best.value == 0.9                  # best: by the result itself


@pytest.mark.parametrize("tuner", MAIN)
def test_foreign_results_failures_and_infeasible_ones(tuner):
    strategy = registry.create(tuner, SMALL, seed=0, cost=convs, max_cost=1, **FAST.get(tuner, {}))
    heavy, light = {"e0": "conv", "e1": "conv", "e2": "skip"}, {"e0": "conv", "e1": "skip", "e2": "skip"}
    strategy.tell(heavy, 0.9)                          # over max_cost, from elsewhere: a failure inside
    strategy.tell(light, None)
    strategy.tell(light, 0.4)                          # a late result replaces the failure
    strategy.tell({"e0": "other", "e1": "skip", "e2": "skip"}, 0.1)     # outside the space: passed on as is
    assert [o.value for o in strategy.history] == [0.9, 0.4, 0.1]
    assert [o.value for o in strategy.inner.history] == [None, 0.4, 0.1]
    assert strategy.best.value == 0.9
    proposed = exhaust(strategy)
    assert config_key(light) not in keys(proposed) and all(convs(c) <= 1 for c in proposed)


# ============================================================================= Pareto front

@pytest.mark.parametrize("tuner", MAIN)
@pytest.mark.parametrize("mode", ["max", "min"])
def test_pareto_front(tuner, mode):
    sign = 1 if mode == "max" else -1
    strategy = registry.create(tuner, SMALL, seed=0, mode=mode, cost=convs)
    cells = [("skip", "skip", "skip", 0.5), ("conv", "skip", "skip", 0.7), ("conv", "conv", "skip", 0.6),
             ("conv", "conv", "conv", 0.9), ("pool", "pool", "pool", 0.4), ("pool", "skip", "skip", None)]
    for a, b, c, v in cells:
        strategy.tell({"e0": a, "e1": b, "e2": c}, None if v is None else sign * v)
    front = strategy.pareto_front()
    assert [(p["value"], p["cost"]) for p in front] == [(sign * 0.5, 0), (sign * 0.7, 1), (sign * 0.9, 3)]
    assert front[0]["config"] == {"e0": "skip", "e1": "skip", "e2": "skip"}
    with pytest.raises(ValueError, match="pareto_front needs the cost option"):
        Constrained(registry.create(tuner, SMALL), Constraint()).pareto_front()


def test_multi_fidelity_costs_ignore_the_budget_key():
    seen: list[dict] = []

    def cost(config: dict) -> float:
        seen.append(dict(config))
        return convs(config)

    strategy = registry.create("hyperband", SMALL, seed=0, R=9, eta=3, cost=cost, max_cost=1)
    configs = []
    while True:
        try:
            configs.append(strategy.ask())
        except SpaceExhausted:
            break
        strategy.tell(configs[-1], small_value(configs[-1]) * configs[-1]["epochs"])
    assert strategy.constraint.rejected > 0           # a rejected first-rung trial is a failed one for Hyperband
    assert len(configs) + strategy.constraint.rejected == strategy.total_trials
    assert seen and all("epochs" not in c for c in seen) and all(convs(c) <= 1 for c in configs)
    assert {c["epochs"] for c in configs} == {1, 3, 9}              # promotions keep working
    assert all(p["cost"] <= 1 for p in strategy.pareto_front())


# ============================================================================= the wrapper as a strategy

@pytest.mark.parametrize("tuner", MAIN)
def test_pickle_round_trip(tuner):
    strategy = registry.create(tuner, MIXED, seed=3, cost="test_constraints:width", max_cost=64, **FAST.get(tuner, {}))
    ask_tell(strategy, mixed_value, 5)
    copy = pickle.loads(pickle.dumps(strategy))
    assert type(copy) is Constrained and copy.history == strategy.history and copy.name == tuner
    assert copy.constraint._fn is None                             # the path is imported again on use
    assert ask_tell(copy, mixed_value, 4) == ask_tell(strategy, mixed_value, 4)


def test_space_and_trial_budget_reach_the_inner_strategy():
    strategy = registry.create("evolution", None, seed=0, cost=convs, max_cost=1)
    with pytest.raises(RuntimeError, match="no search space"):
        strategy.ask()
    strategy.set_trial_budget(8)
    strategy.set_space(SMALL)
    assert strategy.inner.space is SMALL and strategy.space is SMALL
    assert strategy.inner.trial_budget == 8 and strategy.n_init == 2      # n_init: the inner strategy's
    with pytest.raises(TypeError):
        strategy.set_space({"e0": spec("choice", "conv")})
    assert convs(strategy.ask()) <= 1


def test_registry_wraps_only_when_asked():
    assert type(registry.create("random", SMALL, seed=0)) is RandomSearch
    assert type(registry.create("random", SMALL, seed=0, reward_w=-0.5)) is RandomSearch   # no cost: nothing to do
    assert type(registry.create("random", SMALL, seed=0, cost=None)) is RandomSearch
    wrapped = registry.create("random", SMALL, seed=0, cost=convs, reward_target=2.0, reward_w=-0.5)
    assert type(wrapped.inner) is RandomSearch and wrapped.constraint.reward_w == -0.5
    assert wrapped.seed == 0 and wrapped.mode == "max"


@pytest.mark.parametrize("info", registry.algorithms(), ids=lambda i: i.name)
def test_every_strategy_lists_the_cost_options(info):
    options = info.as_dict()["options"]
    if info.kind == "tuner":
        assert set(CONSTRAINT_OPTIONS) <= set(options)
        registry.check_options(info.cls, {name: None for name in options})
    else:
        assert not set(CONSTRAINT_OPTIONS) & set(options)


# ============================================================================= errors

@pytest.mark.parametrize("tuner", MAIN)
@pytest.mark.parametrize("options, message", [
    ({"max_cost": 3}, "max_cost needs the cost option"),
    ({"reward_target": 3}, "reward_target needs the cost option"),
    ({"cost": 3}, "cost must be a callable, a 'package.module:function' string or null, got 3"),
    ({"cost": "no_such_module_xyz:f"}, "cannot import module 'no_such_module_xyz'"),
    ({"cost": "math:no_such_function"}, "module 'math' has no attribute 'no_such_function'"),
    ({"cost": "math:pi"}, "cost 'math:pi' is not callable"),
    ({"cost": convs, "max_cost": "5"}, "max_cost must be a finite number or null, got '5'"),
    ({"cost": convs, "max_cost": float("inf")}, "max_cost must be a finite number"),
    ({"cost": convs, "reward_target": 0}, "reward_target must be a positive number or null, got 0"),
    ({"cost": convs, "reward_w": float("nan")}, "reward_w must be a finite number, got nan"),
    ({"reward_w": "steep"}, "reward_w must be a finite number, got 'steep'"),
    ({"max_costs": 3}, "unknown option 'max_costs'"),
])
def test_bad_options_name_the_problem(tuner, options, message):
    with pytest.raises(ValueError) as info:
        registry.create(tuner, SMALL, **options)
    assert message in str(info.value)


def test_cost_options_are_not_for_early_stoppers():
    with pytest.raises(ValueError, match="unknown option 'cost' for 'median_stop'"):
        registry.create("median_stop", cost=convs)


def test_bad_cost_values_and_bad_wrapping():
    strategy = registry.create("random", SMALL, seed=0, cost=lambda c: float("nan"), max_cost=1)
    with pytest.raises(ValueError, match="returned nan .not a finite number"):
        strategy.ask()
    with pytest.raises(TypeError, match="Constrained wraps a Strategy, got dict"):
        Constrained({}, Constraint())                                          # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected a Constraint, got dict"):
        Constrained(RandomSearch(SMALL), {"cost": convs})                      # type: ignore[arg-type]
    with pytest.raises(ValueError, match="already constrained"):
        Constrained(registry.create("random", SMALL, cost=convs, max_cost=1), Constraint())
    used = RandomSearch(SMALL, seed=0)
    used.tell(used.ask(), 0.5)
    with pytest.raises(ValueError, match="before it has results"):
        Constrained(used, Constraint(cost=convs))
    for tries in (0, 2.5, True):
        with pytest.raises(ValueError, match="tries must be a positive integer"):
            Constrained(RandomSearch(SMALL), Constraint(), tries=tries)
    for patience in (-1, 1.5, None):
        with pytest.raises(ValueError, match="patience must be a non-negative integer"):
            Constrained(RandomSearch(SMALL), Constraint(), patience=patience)
    with pytest.raises(AttributeError, match="no_such_attribute"):
        registry.create("random", SMALL, cost=convs).no_such_attribute
