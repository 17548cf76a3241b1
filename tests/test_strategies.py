"""Specific behaviour of the built-in algorithms: grid, random, median_stop, and the registry."""
from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from conftest import exhaust, keys

from nas_plugins.space import Space, config_key
from nas_plugins.strategy import SpaceExhausted, auto_warmup
from tuners import registry
from tuners.grid import GridSearch
from tuners.median_stop import MedianStop
from tuners.random_search import RandomSearch
from tuners.registry import UnknownAlgorithmError

NAN = float("nan")


def spec(type_: str, *value) -> dict:
    return {"_type": type_, "_value": list(value)}


FINITE = Space.from_nni({"act": spec("choice", "relu", "tanh", "gelu"), "layers": spec("randint", 1, 5),
                         "dropout": spec("quniform", 0, 0.5, 0.25)})               # 3 * 4 * 3 = 36
NESTED = Space.from_nni({"op": spec("choice", {"_name": "conv", "k": spec("choice", 3, 5)},
                                    {"_name": "skip"}),
                         "lr": spec("loguniform", 1e-3, 1e-1)})


# ============================================================================= grid

def test_grid_every_combination_once_in_order():
    grid = GridSearch(FINITE)
    proposed = exhaust(grid)
    expected = [{"act": a, "layers": n, "dropout": d}
                for a in ("relu", "tanh", "gelu") for n in (1, 2, 3, 4) for d in (0.0, 0.25, 0.5)]
    assert proposed == expected
    assert grid.size == 36
    with pytest.raises(SpaceExhausted):
        grid.ask()


def test_grid_continuous_axes_use_grid_points():
    grid = GridSearch(Space.from_nni({"x": spec("uniform", 0, 1), "c": spec("choice", "a", "b")}), grid_points=3)
    proposed = exhaust(grid)
    assert len(proposed) == 6 == grid.size
    assert sorted({c["x"] for c in proposed}) == pytest.approx([0, 0.5, 1])
    assert {c["c"] for c in proposed} == {"a", "b"}


def test_grid_loguniform_three_points():
    grid = GridSearch(Space.from_nni({"lr": spec("loguniform", 1e-3, 1e-1)}), grid_points=3)
    values = sorted(c["lr"] for c in exhaust(grid))
    assert values == pytest.approx([1e-3, 1e-2, 1e-1], rel=1e-9)


def test_grid_nested_counts_points_per_branch():
    grid = GridSearch(NESTED, grid_points=4)
    proposed = exhaust(grid)
    assert len(proposed) == (2 + 1) * 4 == len(set(keys(proposed)))
    assert sum(c["op"]["_name"] == "skip" for c in proposed) == 4
    assert {c["op"].get("k") for c in proposed} == {3, 5, None}


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 99])
def test_grid_shuffle_is_a_permutation(seed):
    order = keys(exhaust(GridSearch(FINITE)))
    shuffled = keys(exhaust(GridSearch(FINITE, shuffle=True, seed=seed)))
    assert sorted(shuffled) == sorted(order) and len(shuffled) == len(order)
    assert shuffled != order
    assert shuffled == keys(exhaust(GridSearch(FINITE, shuffle=True, seed=seed)))


def test_grid_shuffle_differs_across_seeds():
    orders = {tuple(keys(exhaust(GridSearch(FINITE, shuffle=True, seed=s)))) for s in range(6)}
    assert len(orders) >= 5


@pytest.mark.parametrize("size", [2, 3, 7, 12, 30])
def test_grid_shuffle_permutation_any_size(size):
    space = Space.from_nni({"c": spec("choice", *range(size))})
    for seed in range(4):
        values = [c["c"] for c in exhaust(GridSearch(space, shuffle=True, seed=seed))]
        assert sorted(values) == list(range(size))


def test_grid_resume_skips_told_configs():
    everything = exhaust(GridSearch(FINITE))
    told = [everything[0], everything[7], everything[35]]
    grid = GridSearch(FINITE)
    for config in told:
        grid.tell(config, 0.5)
    grid.tell({"act": "relu", "layers": 3.0, "dropout": 0.5}, None)   # a failed one, with a JSON float int
    proposed = exhaust(grid)
    assert len(proposed) == 36 - 4
    assert not set(keys(proposed)) & set(keys(told + [{"act": "relu", "layers": 3, "dropout": 0.5}]))


def test_grid_resume_after_pickle_mid_way():
    grid = GridSearch(FINITE, shuffle=True, seed=5)
    first = [grid.ask() for _ in range(10)]
    resumed = pickle.loads(pickle.dumps(grid))
    rest = exhaust(resumed)
    assert sorted(keys(first + rest)) == sorted(keys(exhaust(GridSearch(FINITE))))


@pytest.mark.parametrize("options", [{"grid_points": 0}, {"grid_points": -1}, {"grid_points": 2.5},
                                     {"grid_points": True}, {"grid_points": "3"}, {"shuffle": "yes"},
                                     {"shuffle": 1}])
def test_grid_invalid_options(options):
    with pytest.raises(ValueError):
        registry.create("grid", FINITE, **options)


# ============================================================================= random

SIZE_12 = Space.from_nni({"c": spec("choice", "a", "b", "c"), "n": spec("randint", 0, 4)})


@pytest.mark.parametrize("max_retries", [1, 3, 100])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_no_duplicates_then_exhausted(seed, max_retries):
    assert SIZE_12.size == 12
    r = RandomSearch(SIZE_12, seed=seed, max_retries=max_retries)
    proposed = [r.ask() for _ in range(12)]
    assert len(set(keys(proposed))) == 12
    assert all(SIZE_12.check(c) for c in proposed)
    with pytest.raises(SpaceExhausted):
        r.ask()


def test_random_nested_finite_exhausts():
    space = Space.from_nni({"op": spec("choice", {"_name": "conv", "k": spec("choice", 3, 5, 7)},
                                       {"_name": "pool", "s": spec("randint", 1, 3)}, {"_name": "skip"})})
    proposed = exhaust(RandomSearch(space, seed=0))
    assert len(proposed) == 6 == len(set(keys(proposed)))


def test_random_order_is_not_the_grid_order():
    order = keys(exhaust(GridSearch(FINITE)))
    assert keys(exhaust(RandomSearch(FINITE, seed=0))) != order


@pytest.mark.parametrize("mode, best", [("min", -2.5), ("max", 7.0)])
def test_random_best_follows_mode(mode, best):
    r = RandomSearch(SIZE_12, seed=0, mode=mode)
    for value in (1, 7, None, -2.5, NAN, 3, float("-inf")):
        r.tell(r.ask(), value)
    assert r.best.value == best
    assert r.score(1.0) == (1.0 if mode == "max" else -1.0)


def test_random_loguniform_uniform_in_log_space():
    r = RandomSearch(Space.from_nni({"lr": spec("loguniform", 1e-4, 1)}), seed=0)
    values = np.array([r.ask()["lr"] for _ in range(3000)])
    assert abs(np.mean(values < 1e-2) - 0.5) < 0.05


def test_random_large_finite_space_does_not_enumerate():
    # 10^12 configurations: proposals come from sampling, never from listing the space.
    space = Space.from_nni({"a": spec("randint", 0, 10 ** 6), "b": spec("randint", 0, 10 ** 6)})
    r = RandomSearch(space, seed=0)
    assert len(set(keys(r.ask() for _ in range(200)))) == 200


# ============================================================================= median_stop

def stopper(**options) -> MedianStop:
    m = MedianStop(**{"start_step": 3, "min_completed": 2, **options})
    m.complete("a", [0.5, 0.6, 0.7, 0.8])
    m.complete("b", [0.4, 0.5, 0.6, 0.7])
    return m   # best up to step 3: a 0.7, b 0.6 -> median 0.65


@pytest.mark.parametrize("curve, stop", [
    ([0.1, 0.1, 0.1], True),
    ([0.1, 0.2, 0.6], True),            # 0.6 < 0.65
    ([0.1, 0.2, 0.66], False),
    ([0.9, 0.1, 0.1], False),           # best so far counts, not the last value
    ([0.1, 0.1], False),                # before start_step
    ([0.1], False),
    ([], False),
    ([0.1, 0.1, 0.1, 0.1], True),       # step 4: median of 0.8 and 0.7
    ([0.1, 0.1, 0.1, 0.76], False),     # 0.76 > 0.75
    ([0.1, 0.1, 0.1, 0.74], True),
    ([NAN, NAN, 0.1], True),            # NaN reports are ignored, not fatal
    ([NAN, None, 0.9], False),
    ([0.9, NAN, NAN], False),           # a NaN does not hide an earlier good value
    ([NAN, NAN, NAN], False),           # nothing to judge
    ([None, "x", {}], False),
    ([float("inf"), 0.1, 0.1], True),   # inf is a broken report, not a best value
    ([0.1] * 10, True),                 # longer than every finished curve
])
def test_median_stop_known_answers(curve, stop):
    assert stopper().should_stop("c", curve) is stop


def test_median_stop_compares_at_the_same_step():
    m = MedianStop(start_step=3, min_completed=1)
    m.complete("late-bloomer", [0.1, 0.1, 0.1, 0.95])
    assert m.should_stop("c", [0.2, 0.2, 0.2]) is False     # 0.2 beats its 0.1 at step 3
    assert m.should_stop("c", [0.2, 0.2, 0.2, 0.2]) is True  # but not its 0.95 at step 4


def test_median_stop_nan_in_completed_curve_ignored():
    m = MedianStop(start_step=2, min_completed=1)
    m.complete("a", [NAN, 0.9, None])
    assert m.should_stop("c", [0.5, 0.5]) is True
    assert m.should_stop("c", [0.95, 0.5]) is False


def test_median_stop_waits_for_min_completed():
    m = MedianStop(start_step=1, min_completed=3)
    curve = [0.0, 0.0]
    m.complete("a", [1.0, 1.0])
    m.complete("b", [1.0, 1.0])
    assert m.should_stop("c", curve) is False
    m.complete("d", [1.0, 1.0])
    assert m.should_stop("c", curve) is True


def test_median_stop_mode_min():
    m = MedianStop(start_step=3, min_completed=2, mode="min")
    m.complete("a", [0.5, 0.4, 0.3])
    m.complete("b", [0.6, 0.5, 0.4])    # best losses 0.3, 0.4 -> median 0.35
    assert m.should_stop("c", [0.9, 0.9, 0.9]) is True
    assert m.should_stop("c", [0.9, 0.9, 0.36]) is True
    assert m.should_stop("c", [0.9, 0.9, 0.34]) is False
    assert m.should_stop("c", [0.1, 0.9, 0.9]) is False
    # The same curves read as "max" give the opposite answers.
    assert stopper(mode="max").should_stop("c", [0.9, 0.9, 0.9]) is False


def test_median_stop_failed_completions_not_counted():
    m = MedianStop(start_step=1, min_completed=2)
    m.complete("a", [0.9, 0.9])
    m.complete("b", [0.0, 0.0], success=False)
    assert m.should_stop("c", [0.1, 0.1]) is False     # only one successful trial so far
    m.complete("d", [0.8, 0.8])
    assert m.should_stop("c", [0.1, 0.1]) is True


def test_median_stop_failed_completion_does_not_move_median():
    m = MedianStop(start_step=1, min_completed=1)
    m.complete("a", [0.9, 0.9, 0.9])
    m.complete("b", [0.0, 0.0, 0.0], success=False)   # counted, the median would drop to 0.45
    assert m.should_stop("c", [0.5, 0.5, 0.5]) is True


def test_median_stop_all_nan_completion_not_counted():
    m = MedianStop(start_step=1, min_completed=2)
    m.complete("a", [0.9, 0.9])
    m.complete("b", [NAN, None])
    assert m.should_stop("c", [0.1, 0.1]) is False


def test_median_stop_equal_to_median_continues():
    m = MedianStop(start_step=1, min_completed=1)
    m.complete("a", [0.5])
    assert m.should_stop("c", [0.5]) is False
    assert m.should_stop("c", [0.49]) is True


def test_median_stop_even_count_median():
    m = MedianStop(start_step=1, min_completed=1)
    for i, v in enumerate([0.1, 0.2, 0.8, 0.9]):
        m.complete(str(i), [v])
    assert m.should_stop("c", [0.49]) is True     # median 0.5
    assert m.should_stop("c", [0.51]) is False


@pytest.mark.parametrize("options", [{"start_step": 0}, {"start_step": -1}, {"start_step": 1.5},
                                     {"min_completed": 0}, {"min_completed": True}, {"mode": "best"}])
def test_median_stop_invalid_options(options):
    with pytest.raises(ValueError):
        registry.create("median_stop", **options)


# ============================================================================= registry

@pytest.mark.parametrize("query, name", [
    ("grid", "grid"), ("GRID", "grid"), ("NaspGrid", "grid"), ("naspgrid", "grid"), ("NASPGRID", "grid"),
    ("nasp_grid", "grid"), ("Nasp_Grid", "grid"),
    ("random", "random"), ("Random", "random"), ("NaspRandom", "random"), ("nasprandom", "random"),
    ("nasp_random", "random"), ("NASP_RANDOM", "random"),
    ("median_stop", "median_stop"), ("MEDIAN_STOP", "median_stop"), ("NaspMedianStop", "median_stop"),
    ("naspmedianstop", "median_stop"),
])
def test_registry_lookup(query, name):
    info = registry.get(query)
    assert info.name == name
    assert info.cls.name == name


@pytest.mark.parametrize("info", registry.algorithms(), ids=lambda i: i.name)
def test_registry_every_name_resolves(info):
    for alias in filter(None, (info.name, info.nni_name, info.autogluon_name)):
        for variant in (alias, alias.lower(), alias.upper(), alias.swapcase()):
            assert registry.get(variant) is info
            assert registry.get(variant, kind=info.kind) is info


@pytest.mark.parametrize("query", ["", "tpe", "TPE", "GridSearch", "Medianstop", "nope", "grid ", "nasp",
                                   "None", "median"])
def test_registry_unknown_name(query):
    with pytest.raises(UnknownAlgorithmError) as info:
        registry.get(query)
    message = str(info.value)
    assert repr(query) in message
    for a in registry.algorithms():
        assert a.name in message
    assert isinstance(info.value, KeyError)


def test_registry_wrong_kind():
    with pytest.raises(UnknownAlgorithmError) as info:
        registry.get("random", kind="assessor")
    message = str(info.value)
    assert "median_stop" in message and "random" in message.split("registered:")[0]
    assert "grid" not in message.split("registered:")[1]
    with pytest.raises(UnknownAlgorithmError):
        registry.create("nasp_median_stop")


def test_registry_create_returns_configured_instance():
    g = registry.create("NaspGrid", FINITE, grid_points=2, seed=3)
    assert isinstance(g, GridSearch) and g.grid_points == 2 and g.seed == 3 and g.space is FINITE
    m = registry.create("naspmedianstop", start_step=4)
    assert isinstance(m, MedianStop) and m.start_step == 4


def test_registry_names_are_unique():
    names = []
    for info in registry.algorithms():
        names += [n.lower() for n in filter(None, (info.name, info.nni_name, info.autogluon_name))]
    assert len(names) == len(set(names))


def test_registry_register_rejects_taken_name():
    with pytest.raises(ValueError):
        @registry.register("another_random", "tuner", nni_name="NASPRANDOM")
        class Clash(RandomSearch):
            """A clash."""
    assert registry.get("NaspRandom").cls is RandomSearch
    with pytest.raises(UnknownAlgorithmError):
        registry.get("another_random")


def test_registry_as_dict():
    d = registry.get("grid").as_dict()
    assert d["name"] == "grid" and d["kind"] == "tuner" and d["nni_name"] == "NaspGrid"
    assert {"grid_points", "shuffle", "seed", "mode"} <= set(d["options"])
    assert d["summary"] and "\n" not in d["summary"]


def nni_builtin_names() -> set[str]:
    from nni.tools.package_utils.config_manager import _load_builtin_config
    names = set()
    for meta in _load_builtin_config():
        names |= {n.lower() for n in (meta.name, meta.alias) if n}
    return names


def test_nni_builtin_names_loaded():
    builtin = nni_builtin_names()
    assert {"tpe", "random", "gridsearch", "medianstop", "ppotuner"} <= builtin


@pytest.mark.parametrize("info", registry.algorithms(), ids=lambda i: i.name)
def test_nni_name_is_not_an_nni_builtin(info):
    assert info.nni_name.lower() not in nni_builtin_names()


# -- the automatic warm-up rule (bo's n_initial_points, evolution's and weaknas' n_init) --------------
@pytest.mark.parametrize("budget, warmup", [(None, 10), (1, 2), (5, 2), (8, 2), (11, 2), (12, 3), (20, 5),
                                            (39, 9), (40, 10), (1000, 10)])
def test_auto_warmup_is_a_quarter_of_the_budget_from_2_to_10(budget, warmup):
    assert auto_warmup(None, budget) == warmup


def test_auto_warmup_explicit_option_wins():
    assert auto_warmup(7, 8) == 7 and auto_warmup(30, None) == 30 and auto_warmup(1, 1000) == 1
    assert auto_warmup(None, 400, default=32) == 32 and auto_warmup(None, 40, default=32) == 10
