"""WeakNAS (``weaknas`` / ``NaspWeakNAS`` / ``nasp_weaknas``).

The generic ask/tell contract is in test_contract.py; here: finding a known optimum, beating
random search, mixed nested spaces, the top-N sampling, the cost constraint, failures and options.
"""
from __future__ import annotations

import math
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ask_tell, keys

from nas_plugins.constraints import Constrained, Constraint
from nas_plugins.space import Space, config_key
from nas_plugins.strategy import SpaceExhausted
from tuners import registry
from tuners.random_search import RandomSearch
from tuners.weaknas import WeakNAS, mutate


def spec(type_: str, *value) -> dict:
    return {"_type": type_, "_value": list(value)}


# -- a synthetic cell: 6 edges x 5 operations, additive plus pairwise interactions -----------------
OPS = ["a", "b", "c", "d", "e"]
CELL = Space.from_nni({f"e{i}": spec("choice", *OPS) for i in range(6)})
_RNG = np.random.default_rng(0)
_W = _RNG.normal(0, 1, (6, 5))                          # each edge's operation values
_PAIRS = [(0, 1), (2, 3), (4, 5), (1, 4)]
_V = _RNG.normal(0, 0.7, (len(_PAIRS), 5, 5))          # interactions of the operations on two edges


def cell_value(config: dict) -> float:
    x = [OPS.index(config[f"e{i}"]) for i in range(6)]
    value = sum(_W[i, x[i]] for i in range(6))
    return float(value + sum(_V[k, x[i], x[j]] for k, (i, j) in enumerate(_PAIRS)))


CELL_GRID = [CELL.grid_config(i, None) for i in range(CELL.grid_size(None))]
CELL_VALUES = np.array([cell_value(c) for c in CELL_GRID])
OPTIMUM = float(CELL_VALUES.max())


def regret_after(strategy, objective, budget: int, optimum: float) -> float:
    best = max(objective(c) for c in ask_tell(strategy, objective, budget))
    return optimum - best


def test_cell_optimum_is_unique():
    assert np.sum(CELL_VALUES == OPTIMUM) == 1
    assert CELL.size == 5 ** 6


def test_finds_the_known_optimum():
    s = WeakNAS(CELL, seed=0)
    for n in range(1, 101):
        config = s.ask()
        s.tell(config, cell_value(config))
        if cell_value(config) == OPTIMUM:
            break
    assert cell_value(s.best.config) == OPTIMUM     # within 100 of the 15,625 configurations


def test_beats_random_search():
    budget, seeds = 60, range(5)
    weak = [regret_after(WeakNAS(CELL, seed=s), cell_value, budget, OPTIMUM) for s in seeds]
    rand = [regret_after(RandomSearch(CELL, seed=s), cell_value, budget, OPTIMUM) for s in seeds]
    assert np.mean(weak) < 0.3 * np.mean(rand), (weak, rand)


def test_minimises_in_min_mode():
    s = WeakNAS(CELL, seed=1, mode="min")
    configs = ask_tell(s, lambda c: -cell_value(c), 80)
    assert s.best.value == min(-cell_value(c) for c in configs)
    random_best = max(cell_value(c) for c in ask_tell(RandomSearch(CELL, seed=1), cell_value, 80))
    assert -s.best.value > random_best


# -- mixed continuous / nested spaces -----------------------------------------------------------
MIXED = Space.from_nni({
    "lr": spec("loguniform", 1e-5, 1e-1),
    "dropout": spec("quniform", 0, 0.5, 0.05),
    "layers": spec("randint", 1, 5),
    "op": spec("choice", {"_name": "conv", "k": spec("randint", 1, 4), "scale": spec("loguniform", 0.1, 10)},
               {"_name": "pool", "kind": spec("choice", "max", "avg")}, {"_name": "skip"}),
    "init": spec("normal", 0, 1),
})


def toy(config: dict) -> float:
    """Best at lr=1e-3, dropout=0.2, op=conv with k=2 and scale=1, init=0 (value 2)."""
    value = -(math.log10(config["lr"]) + 3) ** 2 - 4 * (config["dropout"] - 0.2) ** 2 - 0.1 * config["layers"]
    op = config["op"]
    if op["_name"] == "conv":
        value += 2.0 - 0.3 * abs(op["k"] - 2) - 0.3 * abs(math.log10(op["scale"]))
    return value - 0.1 * abs(config["init"])


@pytest.mark.parametrize("mutation_share", [0.0, 0.5])
def test_mixed_nested_space(mutation_share):
    s = WeakNAS(MIXED, seed=3, pool_size=2000, mutation_share=mutation_share)
    configs = ask_tell(s, toy, 60)
    assert all(MIXED.check(c) for c in configs)
    assert len(set(keys(configs))) == 60
    model_phase = configs[10:]
    assert sum(c["op"]["_name"] == "conv" for c in model_phase) > 0.6 * len(model_phase)
    rand = [max(toy(c) for c in ask_tell(RandomSearch(MIXED, seed=k), toy, 60)) for k in range(3)]
    assert s.best.value > max(rand)


@pytest.mark.parametrize("seed", range(5))
def test_mutation_stays_in_space(seed):
    rng = np.random.default_rng(seed)
    for _ in range(200):
        config = MIXED.sample(rng)
        child = mutate(MIXED, config, rng)
        assert MIXED.check(child)
        assert config_key(child) != config_key(config)


# -- top-N sampling, with an oracle in place of the predictor --------------------------------------
class Oracle(WeakNAS):
    """WeakNAS whose "predictor" is the true objective: isolates the pool and top-N sampling."""

    def _fit_predict(self, X, y, Xpool):
        self.fits.append(len(y))
        return CELL_VALUES[[self._row[tuple(r)] for r in Xpool.round().astype(int)]]


def oracle(**options) -> Oracle:
    from nas_plugins.encoding import ConfigEncoder
    s = Oracle(CELL, seed=0, **options)
    encoded = ConfigEncoder(CELL).encode_many(CELL_GRID).astype(int)
    s._row = {tuple(r): i for i, r in enumerate(encoded)}
    s.fits = []
    return s


def ranked_unseen(s: WeakNAS) -> list[str]:
    order = np.argsort(-CELL_VALUES, kind="stable")
    return [config_key(CELL_GRID[i]) for i in order if not s.was_seen(CELL_GRID[i])]


def test_top_n_equal_to_batch_proposes_the_argmax_set():
    s = oracle(n_init=5, batch=4, top_n=4)
    ask_tell(s, cell_value, 5)                     # the random start
    expected = ranked_unseen(s)[:4]
    batch = ask_tell(s, cell_value, 4)
    assert keys(batch) == expected                 # exactly the 4 best, best first
    assert s.fits == [5]
    assert ask_tell(s, cell_value, 1) and s.fits == [5, 9]     # refit once the queue is empty


def test_batch_is_drawn_from_the_top_n():
    s = oracle(n_init=5, batch=5, top_n=40)
    ask_tell(s, cell_value, 5)
    top = set(ranked_unseen(s)[:40])
    batch = keys(ask_tell(s, cell_value, 5))
    assert set(batch) <= top
    draws = set()
    for seed in range(3):                          # different seeds draw different subsets
        t = oracle(n_init=5, batch=5, top_n=40)
        t.rng = np.random.default_rng(seed)
        ask_tell(t, cell_value, 5)
        draws.add(tuple(keys(ask_tell(t, cell_value, 5))))
    assert len(draws) > 1


def test_concurrent_asks_drain_the_queue_then_refit_on_arrived_results():
    s = oracle(n_init=4, batch=3, top_n=3)
    first = [s.ask() for _ in range(4)]            # random start, all pending
    for c in first[:2]:
        s.tell(c, cell_value(c))
    assert s.ask() and s.fits == [2]               # fits on the 2 results that arrived
    s.ask(), s.ask()
    assert s.fits == [2]                           # the queue drains without refitting
    for c in first[2:]:
        s.tell(c, cell_value(c))
    s.ask()
    assert s.fits == [2, 4]


def test_failed_results_are_not_fitted_and_foreign_ones_are():
    s = oracle(n_init=4, batch=2, top_n=2)
    rng = np.random.default_rng(0)
    foreign = [CELL.sample(rng) for _ in range(3)]
    for c in foreign:
        s.tell(c, cell_value(c))
    for c in [s.ask(), s.ask()]:
        s.tell(c, None)
    s.ask()
    assert s.fits == [3]


def test_exhausts_a_finite_space():
    space = Space.from_nni({"a": spec("choice", 1, 2, 3), "b": spec("choice", "x", "y")})
    s = WeakNAS(space, n_init=2, batch=2, top_n=2, seed=0)
    configs = ask_tell(s, lambda c: c["a"], 6)
    assert len(set(keys(configs))) == 6
    with pytest.raises(SpaceExhausted):
        s.ask()


def test_pickle_mid_batch_keeps_the_queue():
    s = WeakNAS(CELL, seed=5, n_init=5, batch=5, top_n=20)
    ask_tell(s, cell_value, 7)                     # two proposals into the first model batch
    copy = pickle.loads(pickle.dumps(s))
    assert copy._grid is None                      # the enumerated pool is not pickled
    assert ask_tell(copy, cell_value, 12) == ask_tell(s, cell_value, 12)


# -- cost constraint -------------------------------------------------------------------------------
def convs(config: dict) -> float:
    """Cost: how many edges use the (expensive) operation 'a'."""
    return float(sum(config[f"e{i}"] == "a" for i in range(6)))


def a_lover(config: dict) -> float:
    """Prefers 'a' everywhere: the unconstrained optimum costs 6."""
    return convs(config) + 0.1 * cell_value(config)


def test_max_cost_is_never_exceeded():
    s = registry.create("weaknas", CELL, seed=0, cost=convs, max_cost=2)
    configs = ask_tell(s, a_lover, 60)
    assert all(convs(c) <= 2 for c in configs)
    assert len(set(keys(configs))) == 60
    assert convs(s.best.config) == 2               # it pushes against the budget
    front = s.pareto_front()
    assert front and all(set(p) == {"config", "value", "cost"} for p in front)
    assert [p["cost"] for p in front] == sorted(p["cost"] for p in front)
    with pytest.raises(ValueError, match="cost"):
        Constrained(WeakNAS(CELL), Constraint()).pareto_front()


def test_reward_target_is_the_fitted_target():
    s = registry.create("weaknas", CELL, seed=0, cost=lambda c: 1.0 + convs(c), reward_target=2.0, reward_w=-0.5)
    configs = ask_tell(s, lambda c: 3.0, 12)
    _, y = s._training_set()
    assert np.allclose(y, [3.0 * ((1.0 + convs(c)) / 2.0) ** -0.5 for c in configs])


def test_constraint_infeasible_space_ends():
    space = Space.from_nni({"x": spec("choice", 1, 2, 3)})
    s = registry.create("weaknas", space, seed=0, cost=lambda c: c["x"], max_cost=1, n_init=1)
    assert s.ask() == {"x": 1}
    s.tell({"x": 1}, 0.5)
    with pytest.raises(SpaceExhausted, match="max_cost"):
        s.ask()


# -- options ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("options, word", [
    ({"n_init": 0}, "n_init"), ({"n_init": 2.5}, "n_init"), ({"batch": 0}, "batch"),
    ({"batch": True}, "batch"), ({"top_n": 0}, "top_n"), ({"top_n": 5, "batch": 10}, "top_n"),
    ({"pool_size": 0}, "pool_size"), ({"max_enumerate": -1}, "max_enumerate"),
    ({"mutation_share": 1.5}, "mutation_share"), ({"mutation_share": "half"}, "mutation_share"),
    ({"predictor": "xgboost"}, "predictor"), ({"n_trees": 0}, "n_trees"), ({"max_cost": 3}, "max_cost"), ({"cost": 3}, "cost"),
    ({"reward_target": -1, "cost": convs}, "reward_target"),
])
def test_invalid_options(options, word):
    with pytest.raises(ValueError, match=word):
        registry.create("weaknas", CELL, **options)


def test_registered_names():
    info = registry.get("NaspWeakNAS")
    assert info.name == "weaknas" and info.cls is WeakNAS
    assert registry.get("nasp_weaknas") is info
    assert {"n_init", "batch", "top_n", "pool_size", "max_enumerate", "mutation_share", "predictor", "n_trees", "cost",
            "max_cost", "reward_target", "reward_w"} <= set(info.as_dict()["options"])


@pytest.mark.parametrize("predictor", ["rf", "et", "gbm", "mlp"])
def test_every_predictor_is_seeded(predictor):
    runs = [keys(ask_tell(WeakNAS(CELL, seed=9, predictor=predictor, n_init=5, batch=5, top_n=10),
                          cell_value, 15)) for _ in range(2)]
    assert runs[0] == runs[1]


def test_tree_count():
    onehot, numbers = np.eye(4), np.array([[0.0, 0.5], [1.0, 0.2]])
    assert WeakNAS(CELL)._tree_count(onehot) == 50               # 0/1 encodings: ties only
    assert WeakNAS(CELL)._tree_count(numbers) == 100
    assert WeakNAS(CELL)._tree_count(onehot, numbers) == 100         # the pool counts too
    assert WeakNAS(CELL, predictor="rf")._tree_count(onehot) == 100   # bootstraps: real randomness
    assert WeakNAS(CELL, n_trees=7)._tree_count(numbers) == 7


def test_scipy_stats_is_imported_lazily():
    """NNI gives a tuner's process 10 s to connect: importing the tuners must stay light."""
    code = "import sys, tuners, tuners.weaknas; print('scipy.stats' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "False"


def test_warmup_follows_the_trial_budget():
    s = WeakNAS(CELL, seed=0)
    assert s.n_init == 10
    s.set_trial_budget(12)
    assert s.n_init == 3
    assert WeakNAS(CELL, seed=0, n_init=7).n_init == 7
    t = WeakNAS(CELL, seed=0, batch=2, top_n=4)
    t.set_trial_budget(12)
    configs = ask_tell(t, cell_value, 5)
    assert configs == ask_tell(WeakNAS(CELL, seed=0, batch=2, top_n=4, n_init=3), cell_value, 5)
    prior = ask_tell(WeakNAS(CELL, seed=0, batch=2, top_n=4), cell_value, 5)     # unknown budget: 10
    assert configs[:3] == prior[:3] and configs[3:] != prior[3:]   # then the first round's batch
    clone = pickle.loads(pickle.dumps(t))
    assert clone.n_init == 3 and ask_tell(clone, cell_value, 2) == ask_tell(t, cell_value, 2)
