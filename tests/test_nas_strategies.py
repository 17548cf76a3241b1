"""NAS strategies: regularized evolution, REINFORCE, and their cost constraints (through the registry's
``Constrained`` wrapper, which every strategy gets: see also test_constraints.py)."""
from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest

from conftest import ask_tell, exhaust, keys

from nas_plugins.constraints import Constrained, Constraint, pareto_front
from nas_plugins.space import Choice, Float, Integer, Normal, Space, config_key
from nas_plugins.strategy import SpaceExhausted
from tuners import registry
from tuners.evolution import RegularizedEvolution, from_unit, mutate, to_unit
from tuners.reinforce import Reinforce

NAS = ["evolution", "reinforce"]


def spec(type_: str, *value) -> dict:
    return {"_type": type_, "_value": list(value)}


# An NB201-like cell: 6 edges, 5 operations each (3125 architectures), additive known objective.
OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
EDGES = [f"edge{i}" for i in range(6)]
NB = Space.from_nni({e: spec("choice", *OPS) for e in EDGES})
WEIGHTS = np.random.default_rng(0).normal(size=(6, 5))
OPTIMUM = float(WEIGHTS.max(axis=1).sum())
BEST_CELL = {e: OPS[int(WEIGHTS[i].argmax())] for i, e in enumerate(EDGES)}

MIXED = Space.from_nni({
    "lr": spec("loguniform", 1e-5, 1e-1), "momentum": spec("uniform", 0, 1),
    "layers": spec("randint", 1, 9), "wd": spec("qloguniform", 1e-6, 1e-2, 1e-6),
    "width": spec("quniform", 16, 64, 16), "init": spec("normal", 0, 1), "scale": spec("qlognormal", 0, 1, 0.5),
    "op": spec("choice", {"_name": "conv", "k": spec("choice", 1, 3, 5), "d": spec("randint", 1, 3)},
               {"_name": "pool", "size": spec("uniform", 1, 3)}, {"_name": "skip"}),
})


def nb_value(config: dict) -> float:
    return float(sum(WEIGHTS[i, OPS.index(config[e])] for i, e in enumerate(EDGES)))


def conv_cost(config: dict) -> float:
    """Number of convolutions (importable as ``test_nas_strategies:conv_cost``)."""
    return float(sum("conv" in str(v) for v in config.values()))


def mixed_value(config: dict) -> float:
    v = -(math.log10(config["lr"]) + 3) ** 2 - 4 * (config["momentum"] - 0.9) ** 2
    v -= 0.1 * (config["layers"] - 5) ** 2
    return v + (1.0 + 0.2 * config["op"]["k"] if config["op"]["_name"] == "conv" else 0.0)


def run(strategy, objective, n: int) -> list[float]:
    values = []
    for _ in range(n):
        config = strategy.ask()
        values.append(objective(config))
        strategy.tell(config, values[-1])
    return values


def changed(space: Space, a: dict, b: dict) -> list[str]:
    """Paths of the parameters that differ (a switched branch counts once)."""
    out = []
    for p in space:
        x, y = a[p.name], b[p.name]
        if isinstance(p, Choice) and p.nested:
            if x["_name"] != y["_name"]:
                out.append(p.name)
            else:
                branch = p.options[p.index_of(x)].space
                out += [f"{p.name}/{x['_name']}/{q}" for q in
                        changed(branch, {k: v for k, v in x.items() if k != "_name"},
                                {k: v for k, v in y.items() if k != "_name"})]
        elif config_key({"v": x}) != config_key({"v": y}):
            out.append(p.name)
    return out


# ============================================================================= search quality

@pytest.mark.parametrize("name", NAS)
def test_finds_the_optimum_of_the_toy_cell(name):
    strategy = registry.create(name, NB, seed=0)
    values = run(strategy, nb_value, 400)
    assert max(values) == pytest.approx(OPTIMUM)
    assert strategy.best.config == BEST_CELL
    assert len(set(keys(strategy.history[i].config for i in range(400)))) == 400     # no repeats


@pytest.mark.parametrize("name", NAS)
def test_beats_random_search(name):
    def regret(algorithm: str, seed: int) -> float:
        return OPTIMUM - max(run(registry.create(algorithm, NB, seed=seed), nb_value, 150))
    ours = np.mean([regret(name, s) for s in range(5)])
    rand = np.mean([regret("random", s) for s in range(5)])
    assert ours < 0.5 * rand


@pytest.mark.parametrize("name", NAS)
def test_minimise_mode(name):
    strategy = registry.create(name, NB, seed=1, mode="min")
    values = run(strategy, lambda c: -nb_value(c), 400)
    assert min(values) == pytest.approx(-OPTIMUM)


@pytest.mark.parametrize("name", NAS)
def test_mixed_space(name):
    strategy = registry.create(name, MIXED, seed=3, **({"population_size": 10, "sample_size": 3}
                                                        if name == "evolution" else {}))
    values = run(strategy, mixed_value, 120)
    for obs in strategy.history:
        assert MIXED.check(obs.config)
    assert len(set(keys(o.config for o in strategy.history))) == 120
    assert np.mean(values[-40:]) > np.mean(values[:40])       # it learns
    rand = run(registry.create("random", MIXED, seed=3), mixed_value, 120)
    assert max(values) > max(rand)


# ============================================================================= evolution

@pytest.mark.parametrize("space", [NB, MIXED], ids=["cell", "mixed"])
def test_mutation_changes_exactly_one_parameter(space):
    rng = np.random.default_rng(0)
    switched = within = 0
    for _ in range(300):
        parent = space.sample(rng)
        original = copy.deepcopy(parent)
        child = mutate(space, parent, rng, 0.2)
        assert space.check(child)
        diff = changed(space, parent, child)
        assert len(diff) == 1, (parent, child)
        switched += diff == ["op"]
        within += diff[0].startswith("op/")
        assert parent == original                                       # parent untouched
    if space is MIXED:
        assert switched and within            # both kinds of nested mutation happen


def test_mutation_respects_bounds_and_quantum():
    space = Space((Float("w", 16, 64, q=16), Integer("n", 1, 2), Float("lr", 1e-4, 1e-1, log=True),
                   Normal("s", 0, 1, log=True, q=0.5)))
    rng = np.random.default_rng(1)
    config = {"w": 64.0, "n": 2, "lr": 1e-1, "s": 1.0}
    for _ in range(200):
        config = mutate(space, config, rng, 0.5)
        assert space.check(config)
        assert config["w"] in (16, 32, 48, 64) and config["s"] % 0.5 == 0
    assert mutate(Space((Choice("c", ("only",)), Integer("i", 3, 3))), {"c": "only", "i": 3}, rng) is None


def test_unit_round_trip():
    p = Integer("n", 1, 4)
    assert [from_unit(p, to_unit(p, v)) for v in range(1, 5)] == [1, 2, 3, 4]
    lr = Float("lr", 1e-4, 1e-2, log=True)
    assert from_unit(lr, 0.5) == pytest.approx(1e-3) and to_unit(lr, 1e-3) == pytest.approx(0.5)
    assert from_unit(Normal("x", 2, 1), to_unit(Normal("x", 2, 1), 2.7)) == pytest.approx(2.7)


def test_population_ages():
    evo = RegularizedEvolution(NB, population_size=5, sample_size=2, seed=0)
    rng = np.random.default_rng(2)
    told = []
    for i in range(12):
        config = NB.sample(rng)
        value = None if i % 4 == 3 else float(i)           # failures never join
        evo.tell(config, value)
        if value is not None:
            told.append((config, value))
        assert len(evo.population) <= 5
    assert [(m.config, m.value) for m in evo.population] == told[-5:]   # oldest removed first
    evo.tell({"edge0": "bogus"}, 100.0)                     # outside the space: recorded only
    assert [m.value for m in evo.population] == [v for _, v in told[-5:]]
    assert evo.history[-1].value == 100.0


def test_children_come_from_tournament_winners():
    evo = RegularizedEvolution(NB, population_size=4, sample_size=4, seed=0)
    initial = [evo.ask() for _ in range(4)]                 # random while the population fills
    for config in initial:
        evo.tell(config, nb_value(config))
    best = max(initial, key=nb_value)
    children = [evo.ask() for _ in range(6)]                # concurrent asks before any tell
    assert len(set(keys(children))) == 6
    for child in children:                                  # sample_size == population: always the best
        assert len(changed(NB, best, child)) == 1


def test_evolution_asks_before_results_stay_random_then_evolve():
    evo = RegularizedEvolution(NB, population_size=6, sample_size=2, seed=4)
    first = [evo.ask() for _ in range(10)]                  # nothing told: all random, all distinct
    assert len(set(keys(first))) == 10
    for config in first:
        evo.tell(config, nb_value(config))
    members = [m.config for m in evo.population]
    assert len(members) == 6
    child = evo.ask()
    assert any(len(changed(NB, m, child)) == 1 for m in members)


def test_evolution_warmup_follows_the_trial_budget():
    evo = RegularizedEvolution(NB, seed=0)
    assert evo.n_init == 10                                  # unknown budget: the old default
    evo.set_trial_budget(8)
    assert evo.n_init == 2
    evo.set_trial_budget(20)
    assert evo.n_init == 5
    capped = RegularizedEvolution(NB, population_size=4, sample_size=2, seed=0)
    capped.set_trial_budget(400)
    assert capped.n_init == 4                                # still at most population_size
    explicit = RegularizedEvolution(NB, n_init=6, seed=0)
    explicit.set_trial_budget(8)
    assert explicit.n_init == 6
    # With a budget of 8 the third proposal is already a child of the 2-member population.
    evo = RegularizedEvolution(NB, population_size=20, sample_size=20, seed=0)
    evo.set_trial_budget(8)
    warm_up = [evo.ask() for _ in range(2)]
    for config in warm_up:
        evo.tell(config, nb_value(config))
    child = evo.ask()
    assert any(len(changed(NB, m, child)) == 1 for m in warm_up)
    old = dict(RegularizedEvolution(NB, n_init=3, seed=0).__dict__)    # pickled before: option as n_init
    old["n_init"] = old.pop("_n_init")
    restored = RegularizedEvolution.__new__(RegularizedEvolution)
    restored.__setstate__(old)
    assert restored.n_init == 3


def test_evolution_evolves_after_the_warm_up():
    evo = RegularizedEvolution(NB, population_size=20, sample_size=20, n_init=3, seed=0)
    warm_up = [evo.ask() for _ in range(3)]
    for config in warm_up:
        evo.tell(config, nb_value(config))
    best = max(warm_up, key=nb_value)
    for _ in range(5):                                      # children of the best of the 3 members...
        child = evo.ask()
        assert len(changed(NB, best, child)) == 1
        evo.tell(child, min(nb_value(c) for c in warm_up) - 1)   # ...told worse, so it stays the best
    assert len(evo.population) == 8                         # the population grows to population_size
    assert RegularizedEvolution(NB, population_size=4, sample_size=2, seed=0).n_init == 4   # capped


# ============================================================================= REINFORCE

def test_policy_concentrates_on_the_optimum():
    rl = Reinforce(NB, seed=0)
    run(rl, nb_value, 300)
    probs = rl.probabilities()
    for i, e in enumerate(EDGES):
        assert np.argmax(probs[e]) == int(WEIGHTS[i].argmax())
        assert probs[e][int(WEIGHTS[i].argmax())] > 0.5


def test_policy_learns_from_foreign_results():
    rl = Reinforce(NB, seed=0, entropy_weight=0.0)
    good = {e: "skip_connect" for e in EDGES}
    rng = np.random.default_rng(0)
    for _ in range(20):
        rl.tell(NB.sample(rng), 0.0)
        rl.tell(good, 1.0)                                  # never proposed, told repeatedly
    assert all(p[1] > 0.5 for p in rl.probabilities().values())
    before = {k: list(v) for k, v in rl.probabilities().items()}
    rl.tell({"edge0": "bogus"}, 5.0)                        # outside the space: not learnt
    rl.tell(good, None)                                     # failed: not learnt
    assert rl.probabilities() == before
    assert len(rl.history) == 42


def test_policy_shapes_and_bins():
    rl = Reinforce(MIXED, bins=4, seed=0)
    shapes = {k: len(v) for k, v in rl.probabilities().items()}
    assert shapes == {"lr": 4, "momentum": 4, "layers": 4, "wd": 4, "width": 4, "init": 4, "scale": 4,
                      "op": 3, "op/conv/k": 3, "op/conv/d": 2, "op/pool/size": 4}
    # Values of a cell come from that cell only.
    rl.logits["lr"][:] = [-50, -50, 50, -50]
    lrs = [rl.ask()["lr"] for _ in range(20)]
    assert all(10 ** -3 <= x <= 10 ** -2 for x in lrs)


def test_reinforce_space_given_later_replays_history():
    a = Reinforce(NB, seed=5)
    b = Reinforce(seed=5)
    rng = np.random.default_rng(1)
    results = [(NB.sample(rng), float(i)) for i in range(10)]
    for config, value in results:
        a.tell(config, value)
        b.tell(config, value)
    b.set_space(NB)
    assert a.probabilities() == b.probabilities()


# ============================================================================= constraints

SMALL = Space.from_nni({f"e{i}": spec("choice", "conv", "pool", "skip") for i in range(3)})   # 27
FEASIBLE_SMALL = sum(1 for i in range(27) if conv_cost(SMALL.grid_config(i, None)) <= 1)      # 20


@pytest.mark.parametrize("name", NAS)
@pytest.mark.parametrize("cost", [conv_cost, "test_nas_strategies:conv_cost"], ids=["callable", "path"])
def test_max_cost_filters_every_proposal(name, cost):
    strategy = registry.create(name, SMALL, seed=0, cost=cost, max_cost=1)
    proposed = []
    while True:
        try:
            config = strategy.ask()
        except SpaceExhausted as exc:
            assert "max_cost=1" in str(exc)
            break
        strategy.tell(config, -conv_cost(config) + 0.1 * list(config.values()).count("pool"))
        proposed.append(config)
    assert all(conv_cost(c) <= 1 for c in proposed)
    assert len(proposed) == len(set(keys(proposed))) == FEASIBLE_SMALL == 20


@pytest.mark.parametrize("name", NAS)
def test_nothing_feasible_names_max_cost(name):
    strategy = registry.create(name, MIXED, seed=0, cost=lambda c: c["layers"], max_cost=0)
    with pytest.raises(SpaceExhausted, match="max_cost=0"):
        strategy.ask()
    finite = registry.create(name, SMALL, seed=0, cost=conv_cost, max_cost=-1)
    with pytest.raises(SpaceExhausted, match="max_cost=-1"):
        finite.ask()


def test_mnasnet_reward():
    c = Constraint(cost=conv_cost, reward_target=2.0, reward_w=-0.07)
    cell = {"a": "conv", "b": "conv", "c": "conv", "d": "conv"}       # cost 4
    assert c.reward(0.9, cell) == pytest.approx(0.9 * (4 / 2) ** -0.07)
    assert c.reward(0.9, cell) < 0.9 < c.reward(0.9, {"a": "conv"})
    assert c.reward(-0.9, cell) < -0.9                           # a larger cost lowers any reward
    assert Constraint(cost=conv_cost).reward(0.9, cell) == 0.9   # no target: unchanged
    assert Constraint().reward(0.9, cell) == 0.9 and not Constraint().active
    assert c.active and c.cost_of(cell) == 4 and c.feasible(cell)


def test_evolution_selects_by_reward():
    evo = registry.create("evolution", NB, seed=0, cost=conv_cost, reward_target=1.0, reward_w=-0.5)
    light = {e: "skip_connect" for e in EDGES}
    heavy = {e: "nor_conv_3x3" for e in EDGES}
    evo.tell(light, 0.8)
    evo.tell(heavy, 0.9)
    fitness = {config_key(m.config): m.fitness for m in evo.population}
    assert fitness[config_key(light)] == pytest.approx(0.8 * (1e-6) ** -0.5)   # cost 0 floored at 1e-6
    assert fitness[config_key(heavy)] == pytest.approx(0.9 * 6 ** -0.5)
    assert fitness[config_key(light)] > fitness[config_key(heavy)]


def test_pareto_front_hand_made():
    points = [({"n": 1}, 0.70, 1.0), ({"n": 2}, 0.80, 2.0), ({"n": 3}, 0.75, 3.0),   # 3 dominated by 2
              ({"n": 4}, 0.90, 5.0), ({"n": 5}, 0.90, 6.0),                         # 5 dominated by 4
              ({"n": 6}, 0.60, 1.0),                                                # same cost, worse
              ({"n": 7}, 0.80, 2.0),                                                # exact tie: kept
              ({"n": 8}, float("nan"), 0.5)]                                        # ignored
    assert [p[0]["n"] for p in pareto_front(points)] == [1, 2, 7, 4]
    assert pareto_front([]) == []


@pytest.mark.parametrize("mode", ["max", "min"])
def test_strategy_pareto_front(mode):
    sign = 1 if mode == "max" else -1
    evo = registry.create("evolution", SMALL, seed=0, cost=conv_cost, mode=mode)
    cells = [("skip", "skip", "skip", 0.5), ("conv", "skip", "skip", 0.7), ("conv", "conv", "skip", 0.6),
             ("conv", "conv", "conv", 0.9), ("pool", "pool", "pool", 0.4)]
    for a, b, c, v in cells:
        evo.tell({"e0": a, "e1": b, "e2": c}, sign * v)
    evo.tell({"e0": "pool", "e1": "skip", "e2": "skip"}, None)
    front = evo.pareto_front()
    assert [(f["value"], f["cost"]) for f in front] == [(sign * 0.5, 0), (sign * 0.7, 1), (sign * 0.9, 3)]
    assert front[0]["config"] == {"e0": "skip", "e1": "skip", "e2": "skip"}
    with pytest.raises(ValueError, match="cost"):
        Constrained(Reinforce(SMALL), Constraint()).pareto_front()


def test_constraint_pickles_with_a_path():
    evo = registry.create("evolution", SMALL, seed=0, cost="test_nas_strategies:conv_cost", max_cost=1)
    run(evo, lambda c: 0.0, 3)
    clone = pickle.loads(pickle.dumps(evo))
    assert clone.constraint._fn is None                     # the path is imported again on use
    assert clone.constraint.cost_of({"x": "conv", "y": "conv"}) == 2
    assert ask_tell(clone, lambda c: 0.0, 3) == ask_tell(evo, lambda c: 0.0, 3)


# ============================================================================= options

@pytest.mark.parametrize("name, options, word", [
    ("evolution", {"population_size": 0}, "population_size"),
    ("evolution", {"population_size": 2.5}, "population_size"),
    ("evolution", {"sample_size": 0}, "sample_size"),
    ("evolution", {"population_size": 4, "sample_size": 5}, "sample_size"),
    ("evolution", {"mutation_scale": 0}, "mutation_scale"),
    ("evolution", {"mutation_scale": "big"}, "mutation_scale"),
    ("evolution", {"n_init": 0}, "n_init"),
    ("reinforce", {"learning_rate": 0}, "learning_rate"),
    ("reinforce", {"baseline_decay": 1}, "baseline_decay"),
    ("reinforce", {"baseline_decay": -0.1}, "baseline_decay"),
    ("reinforce", {"entropy_weight": -1}, "entropy_weight"),
    ("reinforce", {"bins": 1}, "bins"),
    ("reinforce", {"bins": True}, "bins"),
    ("reinforce", {"max_retries": 0}, "max_retries"),
    ("evolution", {"cost": 3}, "cost"),
    ("reinforce", {"cost": "no_such_module_xyz:f"}, "cost"),
    ("evolution", {"cost": "math:no_such_function"}, "cost"),
    ("evolution", {"cost": "math:pi"}, "cost"),
    ("reinforce", {"max_cost": 5}, "max_cost"),                    # needs cost
    ("evolution", {"cost": conv_cost, "max_cost": "5"}, "max_cost"),
    ("evolution", {"cost": conv_cost, "reward_target": 0}, "reward_target"),
    ("reinforce", {"reward_target": 3}, "reward_target"),          # needs cost
    ("reinforce", {"cost": conv_cost, "reward_w": float("nan")}, "reward_w"),
])
def test_invalid_options_name_the_option(name, options, word):
    with pytest.raises(ValueError, match=word):
        registry.create(name, NB, **options)


def test_bad_cost_values_are_reported():
    strategy = registry.create("evolution", SMALL, seed=0, cost=lambda c: float("nan"), max_cost=1)
    with pytest.raises(ValueError, match="not a finite number"):
        strategy.ask()


@pytest.mark.parametrize("name", NAS)
def test_registry_names(name):
    info = registry.get(name)
    assert registry.get(info.nni_name) is info and registry.get(info.autogluon_name) is info
    assert {"cost", "max_cost", "reward_target", "reward_w"} <= set(info.as_dict()["options"])
    exhaust(registry.create(name, SMALL, seed=0))           # a plain finite run ends cleanly
