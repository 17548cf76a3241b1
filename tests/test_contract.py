"""The ask/tell and early-stopping contracts, checked on EVERY registered algorithm.

New strategies and early stoppers are covered automatically through the registry. An algorithm that is
deterministic by default can name, in SEEDED_OPTIONS / ACTIVE_OPTIONS, the options that make its seed
(or its stopping rule) matter for the tests that need it.
"""
from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest

import tuners
from conftest import ask_tell, exhaust, keys

from nas_plugins.space import Space, config_key
from nas_plugins.strategy import EarlyStopper, SpaceExhausted, Strategy
from tuners import registry

TUNERS = [a.name for a in tuners.algorithms("tuner")]
ASSESSORS = [a.name for a in tuners.algorithms("assessor")]

# Options under which a tuner's proposals depend on its seed (grid is seed-free unless shuffled).
SEEDED_OPTIONS: dict[str, dict] = {"grid": {"shuffle": True}}
# Options under which an assessor actually judges short curves early.
ACTIVE_OPTIONS: dict[str, dict] = {
    "median_stop": {"start_step": 1, "min_completed": 1},
    "curve_fit": {"start_step": 4, "max_step": 12},
    # Online only (no model file in the contract tests), fitted in the foreground so decisions are reproducible.
    "lcranknet": {"background": False, "online_min_completed": 2, "online_steps": 10, "delta": 0.5},
}
# Options under which a multi-fidelity tuner runs each configuration once (by default it proposes a
# configuration again with a larger budget once its results are in).
SINGLE_FIDELITY: dict[str, dict] = {"hyperband": {"R": 1, "iterations": None}, "asha": {"R": 1}}


def spec(type_: str, *value) -> dict:
    return {"_type": type_, "_value": list(value)}


SPACES = {
    "continuous": {"lr": spec("loguniform", 1e-5, 1e-1), "momentum": spec("uniform", 0, 0.99),
                   "units": spec("quniform", 16, 256, 16), "wd": spec("qloguniform", 1e-6, 1e-2, 1e-6),
                   "layers": spec("randint", 1, 5), "act": spec("choice", "relu", "tanh", None),
                   "init": spec("normal", 0, 1), "scale": spec("qlognormal", 0, 1, 0.5)},
    "finite": {"act": spec("choice", "relu", "tanh", "gelu"), "layers": spec("randint", 1, 3),
               "dropout": spec("quniform", 0, 0.5, 0.25)},
    "nested_finite": {"op": spec("choice",
                                 {"_name": "conv", "k": spec("choice", 3, 5), "d": spec("randint", 1, 3)},
                                 {"_name": "pool", "kind": spec("choice", "max", "avg")},
                                 {"_name": "skip"}),
                      "bias": spec("choice", True, False)},
    "nested_mixed": {"lr": spec("loguniform", 1e-4, 1e-1),
                     "op": spec("choice",
                                {"_name": "conv", "k": spec("randint", 1, 4),
                                 "act": spec("choice", {"_name": "relu"},
                                             {"_name": "leaky", "slope": spec("uniform", 0.01, 0.3)})},
                                {"_name": "skip"})},
}
FINITE = ["finite", "nested_finite"]
CONTINUOUS = ["continuous", "nested_mixed"]
FINITE_SIZES = {"finite": 3 * 2 * 3, "nested_finite": (2 * 2 + 2 + 1) * 2}


def space_of(name: str) -> Space:
    return Space.from_nni(SPACES[name])


def make(tuner: str, space_name: str, **options) -> Strategy:
    return registry.create(tuner, space_of(space_name), **options)


def objective(config: dict) -> float:
    """A deterministic value for a configuration."""
    return (int(config_key(config).encode().hex(), 16) % 10007) / 10007


def in_space(strategy: Strategy, config: dict) -> dict:
    """``config`` without the budget a multi-fidelity strategy adds (not a search-space parameter)."""
    return {k: v for k, v in config.items() if k != getattr(strategy, "budget_key", None)}


def test_registry_lists_algorithms():
    assert {"grid", "random"} <= set(TUNERS)
    assert "median_stop" in ASSESSORS
    assert not set(TUNERS) & set(ASSESSORS)


def test_finite_sizes():
    for name, size in FINITE_SIZES.items():
        assert space_of(name).size == size


# ============================================================================= tuners

@pytest.mark.parametrize("space_name", list(SPACES))
@pytest.mark.parametrize("tuner", TUNERS)
def test_is_a_strategy(tuner, space_name):
    strategy = make(tuner, space_name)
    assert isinstance(strategy, Strategy)
    assert isinstance(strategy, registry.get(tuner).cls)
    assert strategy.name == tuner


@pytest.mark.parametrize("space_name", list(SPACES))
@pytest.mark.parametrize("tuner", TUNERS)
def test_proposals_lie_in_space(tuner, space_name):
    space = space_of(space_name)
    strategy = make(tuner, space_name, seed=0)
    n = min(40, FINITE_SIZES.get(space_name, 40))
    for i in range(n):
        config = strategy.ask()
        assert space.check(in_space(strategy, config)) is True
        assert json.loads(json.dumps(config, allow_nan=False)) == config   # what NNI sends a trial
        strategy.tell(config, None if i % 7 == 3 else objective(config))
    assert len(strategy.history) == n


@pytest.mark.parametrize("space_name", list(SPACES))
@pytest.mark.parametrize("tuner", TUNERS)
def test_same_seed_same_proposals(tuner, space_name):
    options = SEEDED_OPTIONS.get(tuner, {})
    first = ask_tell(make(tuner, space_name, seed=7, **options), objective, 10)
    second = ask_tell(make(tuner, space_name, seed=7, **options), objective, 10)
    assert first == second


@pytest.mark.parametrize("space_name", CONTINUOUS)
@pytest.mark.parametrize("tuner", TUNERS)
def test_different_seed_different_proposals(tuner, space_name):
    options = SEEDED_OPTIONS.get(tuner, {})
    a = ask_tell(make(tuner, space_name, seed=0, **options), objective, 10)
    b = ask_tell(make(tuner, space_name, seed=1, **options), objective, 10)
    assert keys(a) != keys(b)


@pytest.mark.parametrize("tuner", TUNERS)
def test_space_given_later(tuner):
    strategy = registry.create(tuner, seed=3)
    with pytest.raises(RuntimeError):
        strategy.ask()
    strategy.set_space(space_of("nested_mixed"))
    assert space_of("nested_mixed").check(in_space(strategy, strategy.ask()))
    # Same proposals as when the space is given at construction.
    late = registry.create(tuner, seed=3)
    late.set_space(space_of("continuous"))
    assert ask_tell(late, objective, 5) == ask_tell(make(tuner, "continuous", seed=3), objective, 5)


@pytest.mark.parametrize("tuner", TUNERS)
def test_set_space_rejects_non_space(tuner):
    with pytest.raises(TypeError):
        registry.create(tuner).set_space(SPACES["finite"])


FAILED_VALUES = [None, float("nan"), float("inf"), float("-inf"), "abc", {"default": 0.5}, [0.5], True, object()]


@pytest.mark.parametrize("space_name", list(SPACES))
@pytest.mark.parametrize("tuner", TUNERS)
def test_tell_foreign_and_failed_results(tuner, space_name):
    space = space_of(space_name)
    strategy = make(tuner, space_name, seed=0)
    rng = np.random.default_rng(123)
    foreign = [space.sample(rng) for _ in range(len(FAILED_VALUES))]
    for config, value in zip(foreign, FAILED_VALUES):
        strategy.tell(config, value)
    assert strategy.best is None                     # nothing succeeded yet
    assert [o.value for o in strategy.history] == [None] * len(FAILED_VALUES)
    strategy.tell(space.sample(rng), 0.25)           # a foreign success
    assert strategy.best is not None and strategy.best.value == 0.25
    for config in ask_tell(strategy, objective, 3):
        assert space.check(in_space(strategy, config))
        assert strategy.was_seen(config)
    for config in foreign:
        assert strategy.was_seen(config)


@pytest.mark.parametrize("tuner", TUNERS)
def test_failed_proposal_results(tuner):
    strategy = make(tuner, "nested_mixed", seed=0)
    for value in FAILED_VALUES:
        strategy.tell(strategy.ask(), value)
    assert strategy.best is None
    strategy.tell(strategy.ask(), 1)
    assert strategy.best.value == 1.0


@pytest.mark.parametrize("space_name", FINITE)
@pytest.mark.parametrize("tuner", TUNERS)
def test_foreign_configs_never_proposed(tuner, space_name):
    space = space_of(space_name)
    strategy = make(tuner, space_name, seed=1)
    rng = np.random.default_rng(5)
    foreign = [space.sample(rng) for _ in range(6)]
    for i, config in enumerate(foreign):
        strategy.tell(config, None if i % 2 else 0.5)
    foreign_keys = set(keys(foreign))
    proposed = exhaust(strategy)
    assert not foreign_keys & set(keys(in_space(strategy, c) for c in proposed))
    assert len(proposed) == len(set(keys(proposed))) == FINITE_SIZES[space_name] - len(foreign_keys)


@pytest.mark.parametrize("tuner", TUNERS)
def test_foreign_config_with_float_integers_never_proposed(tuner):
    # A result coming back through JSON may carry 2.0 for the randint value 2.
    strategy = make(tuner, "finite", seed=0)
    strategy.tell({"act": "tanh", "layers": 2.0, "dropout": 0.5}, 0.1)
    proposed = exhaust(strategy)
    assert {"act": "tanh", "layers": 2, "dropout": 0.5} not in [in_space(strategy, c) for c in proposed]
    assert len(proposed) == FINITE_SIZES["finite"] - 1


@pytest.mark.parametrize("space_name", list(SPACES))
@pytest.mark.parametrize("tuner", TUNERS)
def test_pickle_round_trip(tuner, space_name):
    strategy = make(tuner, space_name, seed=11, **SEEDED_OPTIONS.get(tuner, {}))
    ask_tell(strategy, objective, 5)
    copy = pickle.loads(pickle.dumps(strategy))
    assert type(copy) is type(strategy)
    assert copy.history == strategy.history
    assert ask_tell(copy, objective, 5) == ask_tell(strategy, objective, 5)
    assert copy.best == strategy.best


@pytest.mark.parametrize("space_name", list(SPACES))
@pytest.mark.parametrize("tuner", TUNERS)
def test_concurrent_asks_are_distinct(tuner, space_name):
    strategy = make(tuner, space_name, seed=2)
    pending = [strategy.ask() for _ in range(8)]
    assert len(set(keys(pending))) == 8
    for config in reversed(pending):                 # results may come back in any order
        strategy.tell(config, objective(config))
    more = [strategy.ask() for _ in range(4)]
    assert not set(keys(more)) & set(keys(pending))
    assert len(set(keys(more))) == 4


@pytest.mark.parametrize("space_name", FINITE)
@pytest.mark.parametrize("tuner", TUNERS)
@pytest.mark.parametrize("tell", [False, True], ids=["ask-only", "ask-tell"])
def test_finite_space_exhausts(tuner, space_name, tell):
    space = space_of(space_name)
    strategy = make(tuner, space_name, seed=4, **SINGLE_FIDELITY.get(tuner, {}))
    proposed = []
    for _ in range(FINITE_SIZES[space_name]):
        config = strategy.ask()
        proposed.append(in_space(strategy, config))
        if tell:
            strategy.tell(config, objective(config))
    everything = {config_key(space.grid_config(i, None)) for i in range(space.grid_size(None))}
    assert sorted(keys(proposed)) == sorted(everything)     # each exactly once
    for _ in range(2):
        with pytest.raises(SpaceExhausted):
            strategy.ask()


@pytest.mark.parametrize("tuner", TUNERS)
@pytest.mark.parametrize("mode", ["max", "min"])
def test_best_follows_mode(tuner, mode):
    strategy = make(tuner, "continuous", seed=0, mode=mode)
    for value in (3, None, -1, float("nan"), 2, 10, "x", 0.5):
        strategy.tell(strategy.ask(), value)
    assert strategy.best.value == (10 if mode == "max" else -1)


@pytest.mark.parametrize("tuner", TUNERS)
@pytest.mark.parametrize("options, word", [
    ({"bogus": 1}, "bogus"), ({"Seed": 1}, "Seed"), ({"search_space": {}}, "search_space"),
    ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"), ({"seed": "1"}, "seed"), ({"seed": True}, "seed"),
    ({"mode": "median"}, "mode"), ({"mode": "MAX"}, "mode"), ({"mode": None}, "mode"),
])
def test_invalid_option(tuner, options, word):
    with pytest.raises(ValueError) as info:
        registry.create(tuner, space_of("finite"), **options)
    assert word in str(info.value)


@pytest.mark.parametrize("tuner", TUNERS)
def test_trial_budget_hook(tuner):
    """Every strategy takes the host's trial budget (default None), validated; with one set, the same
    seed still gives the same proposals, and it survives pickling."""
    strategy = make(tuner, "continuous", seed=3, **SEEDED_OPTIONS.get(tuner, {}))
    assert strategy.trial_budget is None
    for bad in (0, -5, 2.5, "8", True):
        with pytest.raises(ValueError, match="trial budget"):
            strategy.set_trial_budget(bad)
    strategy.set_trial_budget(8)
    assert strategy.trial_budget == 8
    twin = make(tuner, "continuous", seed=3, **SEEDED_OPTIONS.get(tuner, {}))
    twin.set_trial_budget(8)
    first = ask_tell(strategy, objective, 5)
    assert first == ask_tell(twin, objective, 5)
    copy = pickle.loads(pickle.dumps(strategy))
    assert copy.trial_budget == 8 and ask_tell(copy, objective, 3) == ask_tell(strategy, objective, 3)
    strategy.set_trial_budget(None)
    assert strategy.trial_budget is None


@pytest.mark.parametrize("tuner", TUNERS)
def test_options_listed_are_accepted(tuner):
    info = registry.get(tuner)
    options = info.as_dict()["options"]
    assert {"seed", "mode"} <= set(options)
    registry.check_options(info.cls, {name: None for name in options})   # names only: no error


# ============================================================================= assessors

NAN, INF = float("nan"), float("inf")
IRREGULAR_CURVES = [
    [], [NAN], [None], [None, 0.5], [0.5, None], [NAN, NAN, NAN], [0.5], [0.7] * 10, [0.0] * 3, [-1.0] * 20,
    [1e308, -1e308, 1e308], [INF, -INF, NAN], ["abc", {}, [1], 0.1], [True, False, 0.3], list(range(100)),
    [None] * 8, [1e-320, 5e-324], np.array([0.1, 0.2, 0.3]), (0.4, 0.5), [np.float32(0.3), np.int64(2)],
]


def active_options(assessor: str) -> dict:
    return ACTIVE_OPTIONS.get(assessor, {})


@pytest.mark.parametrize("mode", ["max", "min"])
@pytest.mark.parametrize("options", ["default", "active"])
@pytest.mark.parametrize("assessor", ASSESSORS)
def test_should_stop_never_raises(assessor, options, mode):
    kwargs = active_options(assessor) if options == "active" else {}
    stopper = registry.create(assessor, mode=mode, **kwargs)
    assert isinstance(stopper, EarlyStopper)
    for curve in IRREGULAR_CURVES:            # nothing completed yet
        assert type(stopper.should_stop("t", curve)) is bool
    for i, curve in enumerate(IRREGULAR_CURVES):
        stopper.complete(f"done{i}", curve, success=i % 3 != 0)
    stopper.complete("done-again", [0.9, 0.8, 0.7])
    stopper.complete("done-again", [0.1])      # the same id twice
    for curve in IRREGULAR_CURVES:
        for prefix in range(len(curve) + 1):
            assert type(stopper.should_stop("t", curve[:prefix])) is bool


@pytest.mark.parametrize("assessor", ASSESSORS)
def test_assessor_pickle_keeps_decisions(assessor):
    rng = np.random.default_rng(0)
    stopper = registry.create(assessor, seed=0, **active_options(assessor))

    def curve():
        n = int(rng.integers(0, 12))
        return list(np.cumsum(rng.normal(0.1, 0.2, n)) + rng.normal(0, 1))

    for i in range(6):
        stopper.complete(f"t{i}", curve(), success=bool(i % 4))
    copy = pickle.loads(pickle.dumps(stopper))
    probes = [curve() for _ in range(60)]
    decisions = [stopper.should_stop("p", c) for c in probes]
    assert [copy.should_stop("p", c) for c in probes] == decisions
    if assessor in ACTIVE_OPTIONS:
        assert True in decisions and False in decisions   # the comparison above is meaningful
    # They stay in step as more trials complete.
    for i in range(3):
        c = curve()
        stopper.complete(f"u{i}", c)
        copy.complete(f"u{i}", c)
    assert [copy.should_stop("p", c) for c in probes] == [stopper.should_stop("p", c) for c in probes]


@pytest.mark.parametrize("assessor", ASSESSORS)
@pytest.mark.parametrize("options, word", [
    ({"bogus": 1}, "bogus"), ({"seed": -1}, "seed"), ({"seed": "0"}, "seed"), ({"mode": "median"}, "mode"),
])
def test_assessor_invalid_option(assessor, options, word):
    with pytest.raises(ValueError) as info:
        registry.create(assessor, **options)
    assert word in str(info.value)


# ============================================================================= portable state
#
# Beyond one machine (NNI's resume, Ray's searcher checkpoints, a scheduler moved to another process):
# a strategy, a stopper and their host adapters pickled mid-run make the next proposal or decision the
# original makes, their pickled state holds no open file, thread, lock or socket, and every random
# generator in it travels with its state.

import io as _io
import random as _random
import socket as _socket
import sys as _sys
import threading as _threading

_LOCAL_ONLY = (_io.IOBase, _threading.Thread, _socket.socket, type(_threading.Lock()), type(_threading.RLock()),
               _threading.Condition, _threading.Event)


class _Inspector(pickle.Pickler):
    """A pickler that refuses process-local objects and records the state of every random generator."""

    def __init__(self, file):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.rngs: list = []

    def reducer_override(self, obj):
        if isinstance(obj, _LOCAL_ONLY):
            raise AssertionError(f"the pickled state holds a process-local {type(obj).__name__}: {obj!r}")
        if isinstance(obj, np.random.BitGenerator):
            self.rngs.append(_canon(obj.state))
        elif isinstance(obj, np.random.RandomState):
            self.rngs.append(_canon(obj.get_state(legacy=False)))
        elif isinstance(obj, _random.Random):
            self.rngs.append(_canon(obj.getstate()))
        elif "torch" in _sys.modules and isinstance(obj, _sys.modules["torch"].Generator):
            self.rngs.append(_canon(obj.get_state().tolist()))
        return NotImplemented


def _canon(x):
    if isinstance(x, np.ndarray):
        return ["ndarray", x.tolist()]
    if isinstance(x, dict):
        return {k: _canon(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_canon(v) for v in x]
    return x


def portable_copy(obj):
    """``obj`` through pickle, after checking its state (see :class:`_Inspector`); asserts that the copy
    holds the same random generators in the same states."""
    buffer = _io.BytesIO()
    inspector = _Inspector(buffer)
    inspector.dump(obj)
    copy = pickle.loads(buffer.getvalue())
    again = _Inspector(_io.BytesIO())
    again.dump(copy)
    assert again.rngs == inspector.rngs
    return copy, inspector.rngs


@pytest.mark.parametrize("tuner", TUNERS)
def test_strategy_pickled_mid_run_is_portable(tuner):
    """Pickled with results in and two proposals pending: the copy proposes what the original does, and
    both take the pending results and go on in step."""
    strategy = make(tuner, "nested_mixed", seed=5, **SEEDED_OPTIONS.get(tuner, {}))
    ask_tell(strategy, objective, 4)
    pending = [strategy.ask() for _ in range(2)]
    copy, rngs = portable_copy(strategy)
    assert rngs, "a strategy's generator must travel with it"
    assert copy.ask() == strategy.ask()
    for s in (strategy, copy):
        for config in pending:
            s.tell(config, objective(config))
    assert ask_tell(copy, objective, 3) == ask_tell(strategy, objective, 3)


@pytest.mark.parametrize("assessor", ASSESSORS)
def test_stopper_pickled_mid_run_is_portable(assessor):
    """Pickled with trials finished and one running: the copy decides the running trial's next steps
    and the next trials as the original does."""
    rng = np.random.default_rng(3)
    curves = [list(np.cumsum(rng.normal(0.1, 0.2, 10)) + rng.normal(0, 1)) for _ in range(9)]
    stopper = registry.create(assessor, seed=0, **active_options(assessor))
    for i, curve in enumerate(curves[:5]):
        stopper.complete(f"t{i}", curve)
    running = curves[5]
    for step in range(1, 4):
        stopper.should_stop("r", running[:step])
    copy, _ = portable_copy(stopper)

    def rest(s):
        out = [s.should_stop("r", running[:step]) for step in range(4, 11)]
        for i, curve in enumerate(curves[6:]):
            out += [s.should_stop(f"n{i}", curve[:step]) for step in range(1, 11)]
            s.complete(f"n{i}", curve)
        return out

    decisions = rest(stopper)
    assert rest(copy) == decisions
    if assessor in ACTIVE_OPTIONS:
        assert True in decisions and False in decisions


def test_lcranknet_pickled_during_a_background_refit():
    """A refit thread running when the stopper is pickled: the pickle waits for it, holds no thread or
    lock, and the copy decides as the original (then refits in a thread of its own)."""
    stopper = registry.create("lcranknet", seed=0, online_min_completed=2, online_steps=40, delta=0.5)
    rng = np.random.default_rng(2)
    curves = [list(np.cumsum(rng.normal(0.1, 0.2, 8)) + rng.normal(0, 1)) for _ in range(8)]
    try:
        for i, curve in enumerate(curves[:3]):
            stopper.complete(f"t{i}", curve)            # the third starts a refit in the background
        copy, _ = portable_copy(stopper)
        assert stopper.ready and copy.ready
        probes = [c[:k] for c in curves[3:] for k in (2, 5)]
        assert [copy.should_stop("p", c) for c in probes] == [stopper.should_stop("p", c) for c in probes]
        copy.complete("t3", curves[3])
        copy.wait()
        assert copy._fits == stopper._fits + 1
    finally:
        stopper.close()
        if "copy" in locals():
            copy.close()


NNI_SPACE = SPACES["nested_mixed"]


@pytest.mark.parametrize("tuner", TUNERS)
def test_nni_tuner_pickled_mid_run_is_portable(tuner):
    """The generated NNI tuner (checkpointed by `nnictl resume`, moved between dispatchers): pickled with
    results in and a trial running, it holds no lock or dispatcher callback, proposes what the original
    proposes, and takes the running trial's result as the original does."""
    from tuners.hosts.nni_host import ADAPTERS as NNI_ADAPTERS

    adapter = NNI_ADAPTERS[tuner]["class"](optimize_mode="maximize", seed=5, **SEEDED_OPTIONS.get(tuner, {}))
    adapter.update_search_space(NNI_SPACE)
    configs = adapter.generate_multiple_parameters(list(range(4)), st_callback=lambda pid, params: None)
    for pid, config in enumerate(configs[:-1]):
        adapter.receive_trial_result(pid, config, objective(config))
        adapter.trial_end(pid, True)
    copy, _ = portable_copy(adapter)
    assert copy._send_trial is None and copy._lock is not adapter._lock
    running = len(configs) - 1
    for a in (adapter, copy):
        a.receive_trial_result(running, configs[-1], objective(configs[-1]))
        a.trial_end(running, True)
    assert copy.generate_parameters(10) == adapter.generate_parameters(10)
    assert copy.strategy.history == adapter.strategy.history


@pytest.mark.parametrize("assessor", ASSESSORS)
def test_nni_assessor_pickled_mid_run_is_portable(assessor):
    from tuners.hosts.nni_host import ADAPTERS as NNI_ADAPTERS, build_options

    rng = np.random.default_rng(3)
    curves = [list(np.cumsum(rng.normal(0.1, 0.2, 8)) + rng.normal(0, 1)) for _ in range(8)]
    args = {"optimize_mode": "maximize", "seed": 0, **active_options(assessor)}
    build_options(assessor, args)
    adapter = NNI_ADAPTERS[assessor]["class"](**args)
    for i, curve in enumerate(curves[:5]):
        for step in range(1, len(curve) + 1):
            adapter.assess_trial(f"t{i}", curve[:step])
        adapter.trial_end(f"t{i}", True)
    adapter.assess_trial("r", curves[5][:3])
    copy, _ = portable_copy(adapter)

    def rest(a):
        out = [a.assess_trial("r", curves[5][:step]) for step in range(4, 9)]
        for i, curve in enumerate(curves[6:]):
            out += [a.assess_trial(f"n{i}", curve[:step]) for step in range(1, 9)]
            a.trial_end(f"n{i}", True)
        return out

    assert rest(copy) == rest(adapter)


@pytest.mark.parametrize("tuner", TUNERS)
def test_ray_searcher_pickled_mid_run_is_portable(tuner):
    """The generated Ray Tune searcher, driven without a cluster (skipped without ray)."""
    pytest.importorskip("ray")
    from tuners.hosts.ray_host import make_searcher

    searcher = make_searcher(tuner, NNI_SPACE, metric="score", mode="max", seed=5, **SEEDED_OPTIONS.get(tuner, {}))
    suggested = [searcher.suggest(f"t{i}") for i in range(4)]
    for i, config in enumerate(suggested[:-1]):
        searcher.on_trial_complete(f"t{i}", {"score": objective(config)})
    copy, _ = portable_copy(searcher)
    for s in (searcher, copy):
        s.on_trial_complete("t3", {"score": objective(suggested[-1])})
    assert [copy.suggest(f"u{i}") for i in range(3)] == [searcher.suggest(f"u{i}") for i in range(3)]


@pytest.mark.parametrize("assessor", ASSESSORS)
def test_ray_scheduler_pickled_mid_run_is_portable(assessor):
    pytest.importorskip("ray")
    from tuners.hosts.ray_host import make_scheduler

    rng = np.random.default_rng(4)
    curves = [list(np.cumsum(rng.normal(0.1, 0.2, 8)) + rng.normal(0, 1)) for _ in range(8)]
    scheduler = make_scheduler(assessor, metric="score", mode="max", seed=0, **active_options(assessor))

    def run(s, trial_id, curve, first=1):
        out = [s.decide(trial_id, {"score": v, "training_iteration": k}) for k, v in enumerate(curve, 1) if k >= first]
        return out

    for i, curve in enumerate(curves[:5]):
        run(scheduler, f"t{i}", curve)
        scheduler._finish(f"t{i}", True, None)
    run(scheduler, "r", curves[5][:3])
    copy, _ = portable_copy(scheduler)

    def rest(s):
        out = run(s, "r", curves[5], first=4)
        for i, curve in enumerate(curves[6:]):
            out += run(s, f"n{i}", curve)
            s._finish(f"n{i}", True, None)
        return out

    assert rest(copy) == rest(scheduler)
