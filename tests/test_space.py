"""Search-space model (nas_plugins.space): NNI round trip, validation, sampling, check, size/grid, config_key."""
from __future__ import annotations

import copy
import json
import math
import statistics

import numpy as np
import pytest

from nas_plugins.space import (NNI_TYPES, Choice, Float, Integer, Normal, SearchSpaceError, Space,
                               config_key)

NAN, INF = float("nan"), float("inf")


def spec(type_: str, *value) -> dict:
    return {"_type": type_, "_value": list(value)}


# One representative spec per NNI _type.
TYPE_SPECS = {
    "choice": spec("choice", "relu", "tanh", "gelu"),
    "randint": spec("randint", 1, 4),
    "uniform": spec("uniform", -1.5, 2.5),
    "quniform": spec("quniform", 0, 10, 2.5),
    "loguniform": spec("loguniform", 1e-4, 1e-1),
    "qloguniform": spec("qloguniform", 1, 100, 5),
    "normal": spec("normal", 0, 1),
    "qnormal": spec("qnormal", 1, 2, 0.5),
    "lognormal": spec("lognormal", 0, 1),
    "qlognormal": spec("qlognormal", 1, 0.5, 1),
}

# Two levels of nested choice: op -> conv -> act -> leaky -> slope.
NESTED = {
    "lr": spec("loguniform", 1e-4, 1e-1),
    "op": spec("choice",
               {"_name": "conv", "k": spec("choice", 3, 5), "width": spec("randint", 8, 33),
                "act": spec("choice", {"_name": "relu"},
                            {"_name": "leaky", "slope": spec("uniform", 0.01, 0.3)})},
               {"_name": "pool", "size": spec("choice", 2, 3)},
               {"_name": "skip"}),
}

MIXED_CHOICE = {"v": spec("choice", "a", 1, 2.5, True, False, None, [1, 2], [], 0, "", -3)}


def test_type_specs_cover_every_nni_type():
    assert sorted(TYPE_SPECS) == sorted(NNI_TYPES)


# ----------------------------------------------------------------------------- NNI round trip

@pytest.mark.parametrize("type_", NNI_TYPES)
def test_round_trip_each_type(type_):
    ss = {"p": TYPE_SPECS[type_]}
    space = Space.from_nni(ss)
    assert space.to_nni() == ss
    assert len(space) == 1 and space.names == ["p"]


def test_round_trip_all_types_together_keeps_order():
    ss = {f"p_{t}": s for t, s in TYPE_SPECS.items()}
    space = Space.from_nni(ss)
    assert space.to_nni() == ss
    assert list(space.to_nni()) == list(ss)


@pytest.mark.parametrize("ss", [NESTED, MIXED_CHOICE, {"x": spec("choice", {"_name": "only"})},
                                {"x": spec("choice", {"_name": 1, "y": spec("uniform", 0, 1)}, {"_name": 2})}],
                         ids=["nested-2-levels", "mixed-json", "single-empty-branch", "numeric-labels"])
def test_round_trip_choice(ss):
    space = Space.from_nni(ss)
    assert space.to_nni() == ss
    # Through strict JSON as NNI stores it, and back to the same model.
    text = json.dumps(space.to_nni(), allow_nan=False)
    assert Space.from_nni(json.loads(text)) == space


def test_round_trip_does_not_mutate_input():
    ss = copy.deepcopy(NESTED)
    Space.from_nni(ss).to_nni()
    assert ss == NESTED


def test_nested_model_structure():
    space = Space.from_nni(NESTED)
    op = space["op"]
    assert isinstance(op, Choice) and op.nested
    assert [o.name for o in op.options] == ["conv", "pool", "skip"]
    conv = op.options[0].space
    assert conv.names == ["k", "width", "act"]
    assert conv["width"] == Integer("width", 8, 32)  # randint upper bound is exclusive
    leaky = conv["act"].options[1].space
    assert leaky["slope"] == Float("slope", 0.01, 0.3)
    assert op.options[2].space.names == []


@pytest.mark.parametrize("type_, expected", [
    ("uniform", Float("p", -1.5, 2.5)),
    ("quniform", Float("p", 0, 10, q=2.5)),
    ("loguniform", Float("p", 1e-4, 1e-1, log=True)),
    ("qloguniform", Float("p", 1, 100, log=True, q=5)),
    ("randint", Integer("p", 1, 3)),
    ("normal", Normal("p", 0, 1)),
    ("qnormal", Normal("p", 1, 2, q=0.5)),
    ("lognormal", Normal("p", 0, 1, log=True)),
    ("qlognormal", Normal("p", 1, 0.5, log=True, q=1)),
])
def test_from_nni_builds_the_right_param(type_, expected):
    assert Space.from_nni({"p": TYPE_SPECS[type_]})["p"] == expected


# ----------------------------------------------------------------------------- validation

def nested_with(inner: dict) -> dict:
    """``inner`` placed at op -> conv -> <its keys>."""
    return {"op": spec("choice", {"_name": "conv", **inner}, {"_name": "skip"})}


class Obj:
    pass


BAD_SPACES = [
    # (id, search space, parameter name that must appear quoted in the message)
    ("unknown-type", {"lr": spec("logrand", 1, 2)}, "lr"),
    ("unknown-type-case", {"lr": spec("Uniform", 0, 1)}, "lr"),
    ("unknown-type-none", {"lr": {"_type": None, "_value": [0, 1]}}, "lr"),
    ("unknown-type-unhashable", {"lr": {"_type": ["uniform"], "_value": [0, 1]}}, "lr"),
    ("unknown-type-nested", nested_with({"k": spec("randchoice", 1, 2)}), "op/conv/k"),
    ("uniform-low-eq-high", {"x": spec("uniform", 1, 1)}, "x"),
    ("uniform-low-gt-high", {"x": spec("uniform", 2, 1)}, "x"),
    ("quniform-low-gt-high", {"x": spec("quniform", 5, 1, 1)}, "x"),
    ("loguniform-low-gt-high", {"x": spec("loguniform", 0.1, 0.01)}, "x"),
    ("loguniform-low-eq-high", {"x": spec("loguniform", 0.1, 0.1)}, "x"),
    ("qloguniform-low-gt-high", {"x": spec("qloguniform", 10, 1, 1)}, "x"),
    ("randint-low-eq-high", {"n": spec("randint", 3, 3)}, "n"),
    ("randint-low-gt-high", {"n": spec("randint", 4, 1)}, "n"),
    ("randint-low-gt-high-nested", nested_with({"k": spec("randint", 3, 3)}), "op/conv/k"),
    ("loguniform-zero-low", {"lr": spec("loguniform", 0, 1)}, "lr"),
    ("loguniform-negative-low", {"lr": spec("loguniform", -1, 1)}, "lr"),
    ("loguniform-negative-both", {"lr": spec("loguniform", -2, -1)}, "lr"),
    ("qloguniform-zero-low", {"lr": spec("qloguniform", 0, 10, 1)}, "lr"),
    ("qloguniform-negative-low", {"lr": spec("qloguniform", -5, 10, 1)}, "lr"),
    ("normal-sigma-zero", {"z": spec("normal", 0, 0)}, "z"),
    ("normal-sigma-negative", {"z": spec("normal", 0, -1)}, "z"),
    ("qnormal-sigma-zero", {"z": spec("qnormal", 0, 0, 1)}, "z"),
    ("lognormal-sigma-zero", {"z": spec("lognormal", 0, 0)}, "z"),
    ("qlognormal-sigma-negative", {"z": spec("qlognormal", 0, -1, 1)}, "z"),
    ("quniform-q-zero", {"x": spec("quniform", 0, 1, 0)}, "x"),
    ("quniform-q-negative", {"x": spec("quniform", 0, 1, -0.5)}, "x"),
    ("qloguniform-q-zero", {"x": spec("qloguniform", 1, 10, 0)}, "x"),
    ("qnormal-q-zero", {"x": spec("qnormal", 0, 1, 0)}, "x"),
    ("qlognormal-q-negative", {"x": spec("qlognormal", 0, 1, -1)}, "x"),
    ("empty-choice", {"act": spec("choice")}, "act"),
    ("empty-choice-nested", nested_with({"act": spec("choice")}), "op/conv/act"),
    ("arity-uniform-3", {"x": spec("uniform", 0, 1, 0.5)}, "x"),
    ("arity-uniform-1", {"x": spec("uniform", 0)}, "x"),
    ("arity-quniform-2", {"x": spec("quniform", 0, 1)}, "x"),
    ("arity-qloguniform-2", {"x": spec("qloguniform", 1, 10)}, "x"),
    ("arity-loguniform-3", {"x": spec("loguniform", 1, 10, 1)}, "x"),
    ("arity-randint-3", {"x": spec("randint", 1, 2, 3)}, "x"),
    ("arity-normal-3", {"x": spec("normal", 0, 1, 2)}, "x"),
    ("arity-qnormal-2", {"x": spec("qnormal", 0, 1)}, "x"),
    ("arity-lognormal-0", {"x": spec("lognormal")}, "x"),
    ("arity-qlognormal-2", {"x": spec("qlognormal", 0, 1)}, "x"),
    ("arity-nested", nested_with({"k": spec("quniform", 0, 1)}), "op/conv/k"),
    ("bound-str", {"x": spec("uniform", "a", 1)}, "x"),
    ("bound-none", {"x": spec("uniform", 0, None)}, "x"),
    ("bound-list", {"x": spec("uniform", [0], 1)}, "x"),
    ("bound-bool", {"x": spec("randint", True, 3)}, "x"),
    ("bound-randint-float", {"x": spec("randint", 1.5, 3)}, "x"),
    ("bound-q-str", {"x": spec("quniform", 0, 1, "q")}, "x"),
    ("bound-mu-str", {"x": spec("normal", "0", 1)}, "x"),
    ("bound-nested", nested_with({"k": spec("loguniform", "1e-3", 1)}), "op/conv/k"),
    ("nan-bound", {"x": spec("uniform", NAN, 1)}, "x"),
    ("inf-bound", {"x": spec("uniform", 0, INF)}, "x"),
    ("neg-inf-bound", {"x": spec("loguniform", 1e-3, -INF)}, "x"),
    ("nan-sigma", {"x": spec("normal", 0, NAN)}, "x"),
    ("nan-choice", {"c": spec("choice", NAN, 1)}, "c"),
    ("inf-choice", {"c": spec("choice", 1, INF)}, "c"),
    ("set-choice-option", {"c": spec("choice", {1, 2})}, "c"),
    ("object-choice-option", {"c": spec("choice", Obj())}, "c"),
    ("bytes-choice-option", {"c": spec("choice", b"x")}, "c"),
    ("nan-in-list-option", {"c": spec("choice", [1, NAN])}, "c"),
    ("set-value", {"c": {"_type": "choice", "_value": {1, 2}}}, "c"),
    ("str-value", {"c": {"_type": "choice", "_value": "abc"}}, "c"),
    ("scalar-value", {"c": {"_type": "uniform", "_value": 1}}, "c"),
    ("nan-nested", nested_with({"k": spec("choice", 3, NAN)}), "op/conv/k"),
    ("object-nested", nested_with({"k": spec("choice", Obj())}), "op/conv/k"),
    ("missing-type", {"x": {"_value": [0, 1]}}, "x"),
    ("missing-value", {"x": {"_type": "uniform"}}, "x"),
    ("missing-both", {"x": {}}, "x"),
    ("missing-value-nested", nested_with({"k": {"_type": "choice"}}), "op/conv/k"),
    ("unexpected-key", {"x": {"_type": "uniform", "_value": [0, 1], "_default": 0.5}}, "x"),
    ("spec-number", {"lr": 0.1}, "lr"),
    ("spec-list", {"lr": [0, 1]}, "lr"),
    ("spec-none", {"lr": None}, "lr"),
    ("spec-str", {"lr": "uniform"}, "lr"),
    ("spec-not-dict-nested", nested_with({"k": 3}), "op/conv/k"),
    ("nested-mixed-dict-first", {"op": spec("choice", {"_name": "a"}, "b")}, "op"),
    ("nested-mixed-value-first", {"op": spec("choice", "b", {"_name": "a"})}, "op"),
    ("nested-mixed-dict-without-name", {"op": spec("choice", {"_name": "a"}, {"b": 1})}, "op"),
    ("nested-mixed-deeper", nested_with({"act": spec("choice", {"_name": "relu"}, "tanh")}), "op/conv/act"),
    ("duplicate-name", {"op": spec("choice", {"_name": "a"}, {"_name": "b"}, {"_name": "a"})}, "op"),
    ("duplicate-name-int-float", {"op": spec("choice", {"_name": 1}, {"_name": 1.0})}, "op"),
    ("duplicate-name-deeper", nested_with({"act": spec("choice", {"_name": "r"}, {"_name": "r"})}), "op/conv/act"),
    ("bad-label-type", {"op": spec("choice", {"_name": ["a"]}, {"_name": "b"})}, "op"),
    ("bad-label-bool", {"op": spec("choice", {"_name": True}, {"_name": "b"})}, "op"),
    ("nan-label", {"op": spec("choice", {"_name": NAN}, {"_name": "b"})}, "op"),
    ("inf-label", {"op": spec("choice", {"_name": "a"}, {"_name": INF})}, "op"),
    ("nan-instead-of-spec-nested", {"op": spec("choice", {"_name": "a", "x": NAN})}, "op/a/x"),
    ("nan-plain-option-beside-branch", {"op": spec("choice", {"_name": "a"}, NAN)}, "op"),
    ("deep-path", {"op": spec("choice", {"_name": "conv", "act": spec(
        "choice", {"_name": "leaky", "slope": spec("uniform", 0.3, 0.01)})})}, "op/conv/act/leaky/slope"),
]


@pytest.mark.parametrize("ss, name", [c[1:] for c in BAD_SPACES], ids=[c[0] for c in BAD_SPACES])
def test_invalid_space_names_parameter(ss, name):
    with pytest.raises(SearchSpaceError) as info:
        Space.from_nni(ss)
    assert f"'{name}'" in str(info.value)


def test_search_space_error_is_value_error():
    assert issubclass(SearchSpaceError, ValueError)


@pytest.mark.parametrize("bad_type", ["logrand", "Uniform", "", None, ["uniform"], {"t": 1}, 3])
def test_unknown_type_lists_known_types(bad_type):
    with pytest.raises(SearchSpaceError) as info:
        Space.from_nni({"lr": {"_type": bad_type, "_value": [0, 1]}})
    message = str(info.value)
    assert "'lr'" in message
    for known in NNI_TYPES:
        assert known in message


@pytest.mark.parametrize("ss", [None, [], "lr", 3, [("lr", spec("uniform", 0, 1))], {}],
                         ids=["none", "list", "str", "int", "pairs", "empty"])
def test_search_space_not_a_dict_or_empty(ss):
    with pytest.raises(SearchSpaceError):
        Space.from_nni(ss)


def test_validation_passes_for_edge_values():
    # Not errors: negative uniform bounds, q larger than the range, a single option, big ints.
    space = Space.from_nni({"a": spec("uniform", -10, -1), "b": spec("quniform", 0, 1, 5),
                            "c": spec("choice", "only"), "d": spec("randint", -(2 ** 40), 2 ** 40),
                            "e": spec("qlognormal", -3, 0.1, 1e-3)})
    assert space["d"] == Integer("d", -(2 ** 40), 2 ** 40 - 1)


# ----------------------------------------------------------------------------- sampling

N = 2000


def samples(ss: dict, n: int = N, seed: int = 0) -> list[dict]:
    space = Space.from_nni(ss)
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(n)]


@pytest.mark.parametrize("ss", [{"p": s} for s in TYPE_SPECS.values()] + [NESTED, MIXED_CHOICE],
                         ids=list(TYPE_SPECS) + ["nested", "mixed-choice"])
def test_samples_lie_in_space_and_are_json(ss):
    space = Space.from_nni(ss)
    for config in samples(ss):
        assert space.contains(config), config
        assert space.check(config) is True
        assert json.loads(json.dumps(config, allow_nan=False)) == config


def test_samples_are_python_types():
    ss = {f"p_{t}": s for t, s in TYPE_SPECS.items()}
    for config in samples(ss, 200):
        assert type(config["p_randint"]) is int
        for t in ("uniform", "quniform", "loguniform", "qloguniform", "normal", "qnormal", "lognormal",
                  "qlognormal"):
            assert type(config[f"p_{t}"]) is float, t


def test_same_rng_seed_same_samples():
    assert samples(NESTED, 50, seed=3) == samples(NESTED, 50, seed=3)
    assert samples(NESTED, 50, seed=3) != samples(NESTED, 50, seed=4)


def test_loguniform_is_uniform_in_log_space():
    values = np.array([c["lr"] for c in samples({"lr": spec("loguniform", 1e-4, 1)}, 4000)])
    assert values.min() >= 1e-4 and values.max() <= 1
    assert abs(np.mean(values < 1e-2) - 0.5) < 0.05
    assert abs(np.median(np.log10(values)) - (-2)) < 0.1
    # Each decade gets about a quarter of the samples.
    for lo in (1e-4, 1e-3, 1e-2, 1e-1):
        assert abs(np.mean((values >= lo) & (values < lo * 10)) - 0.25) < 0.04


def test_uniform_is_uniform():
    values = np.array([c["x"] for c in samples({"x": spec("uniform", -1, 3)}, 4000)])
    assert values.min() >= -1 and values.max() <= 3
    assert abs(np.mean(values < 1) - 0.5) < 0.05
    assert abs(np.mean(values) - 1) < 0.1


def test_normal_and_lognormal_moments():
    values = np.array([c["z"] for c in samples({"z": spec("normal", 2, 3)}, 4000)])
    assert abs(values.mean() - 2) < 0.2 and abs(values.std() - 3) < 0.2
    logs = np.log([c["z"] for c in samples({"z": spec("lognormal", -1, 0.5)}, 4000)])
    assert abs(logs.mean() + 1) < 0.05 and abs(logs.std() - 0.5) < 0.05


def is_multiple(x: float, q: float) -> bool:
    k = round(x / q)
    return math.isclose(x, k * q, rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize("type_, value, expected", [
    ("quniform", [0, 10, 2.5], {0, 2.5, 5, 7.5, 10}),
    ("quniform", [-1, 1, 0.5], {-1, -0.5, 0, 0.5, 1}),
    ("quniform", [0.05, 1, 0.1], None),
    ("quniform", [0.3, 0.9, 1], {0.3, 0.9}),   # every rounding falls outside: clipped to the bounds
    ("qloguniform", [1, 100, 5], None),
    ("qloguniform", [1e-3, 1, 0.1], None),
    ("qnormal", [0, 3, 0.5], None),
    ("qlognormal", [1, 1, 2], None),
])
def test_q_types_are_multiples_of_q_and_clipped(type_, value, expected):
    draws = [c["x"] for c in samples({"x": spec(type_, *value)})]
    q = value[2]
    bounded = type_.endswith("uniform")
    low, high = (value[0], value[1]) if bounded else (-INF, INF)
    if type_ == "qlognormal":
        low = 0
    for x in draws:
        assert low <= x <= high, x
        assert is_multiple(x, q) or (bounded and x in (value[0], value[1])), x
    if expected is not None:
        assert {round(x, 9) for x in draws} == expected
    if type_ == "qloguniform" and value == [1, 100, 5]:
        distinct = set(draws)
        assert 1 in distinct and 100 in distinct  # rounded-to-0 clipped up; the top is reachable
        assert min(distinct - {1}) == 5


def test_randint_upper_bound_exclusive():
    draws = [c["n"] for c in samples({"n": spec("randint", 1, 4)})]
    assert set(draws) == {1, 2, 3}
    assert all(type(n) is int for n in draws)
    counts = [draws.count(k) for k in (1, 2, 3)]
    assert min(counts) > N / 3 * 0.8


def test_choice_uniform_over_options_and_exact_values():
    draws = [c["v"] for c in samples(MIXED_CHOICE)]
    options = MIXED_CHOICE["v"]["_value"]
    keys = [json.dumps(d) for d in draws]
    assert set(keys) == {json.dumps(o) for o in options}
    # True and 1, False and 0 stay distinct; each option is drawn with its own type.
    assert any(d is True for d in draws) and any(type(d) is int and d == 1 for d in draws)
    assert any(d is False for d in draws) and any(type(d) is int and d == 0 for d in draws)
    per_option = N / len(options)
    for o in options:
        assert keys.count(json.dumps(o)) > per_option * 0.6


def test_nested_samples_hold_exactly_the_chosen_branch():
    params = {"conv": {"k", "width", "act"}, "pool": {"size"}, "skip": set()}
    seen_ops, seen_acts = set(), set()
    for config in samples(NESTED):
        assert set(config) == {"lr", "op"}
        op = config["op"]
        seen_ops.add(op["_name"])
        assert set(op) == {"_name"} | params[op["_name"]]
        if op["_name"] == "conv":
            act = op["act"]
            seen_acts.add(act["_name"])
            assert set(act) == ({"_name", "slope"} if act["_name"] == "leaky" else {"_name"})
            assert op["k"] in (3, 5) and 8 <= op["width"] <= 32
    assert seen_ops == set(params) and seen_acts == {"relu", "leaky"}


# ----------------------------------------------------------------------------- check()

CHECK_SPACE = Space.from_nni({"n": spec("randint", 1, 4), **NESTED})
GOOD = {"n": 2, "lr": 1e-3, "op": {"_name": "conv", "k": 3, "width": 16,
                                    "act": {"_name": "leaky", "slope": 0.1}}}


def with_(path: tuple, value=..., drop: bool = False) -> dict:
    config = copy.deepcopy(GOOD)
    node = config
    for key in path[:-1]:
        node = node[key]
    if drop:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return config


BAD_CONFIGS = [
    ("missing-top", with_(("lr",), drop=True), "lr"),
    ("missing-nested", with_(("op", "k"), drop=True), "op/conv/k"),
    ("missing-deep", with_(("op", "act", "slope"), drop=True), "op/conv/act/leaky/slope"),
    ("missing-nested-name", with_(("op", "_name"), drop=True), "op"),
    ("extra-top", with_(("foo",), 1), "foo"),
    ("extra-nested", with_(("op", "zzz"), 1), "op/conv/zzz"),
    ("randint-at-exclusive-high", with_(("n",), 4), "n"),
    ("randint-below", with_(("n",), 0), "n"),
    ("randint-not-integer", with_(("n",), 1.5), "n"),
    ("randint-bool", with_(("n",), True), "n"),
    ("loguniform-above", with_(("lr",), 0.2), "lr"),
    ("loguniform-below", with_(("lr",), 1e-5), "lr"),
    ("float-nan", with_(("lr",), NAN), "lr"),
    ("float-str", with_(("lr",), "0.01"), "lr"),
    ("float-none", with_(("lr",), None), "lr"),
    ("wrong-nested-name", with_(("op",), {"_name": "nope"}), "op"),
    ("nested-not-dict", with_(("op",), "conv"), "op"),
    ("nested-sub-value", with_(("op", "k"), 7), "op/conv/k"),
    ("nested-sub-value-2", with_(("op", "width"), 33), "op/conv/width"),
    ("deep-wrong-name", with_(("op", "act"), {"_name": "gelu"}), "op/conv/act"),
    ("deep-sub-value", with_(("op", "act", "slope"), 0.5), "op/conv/act/leaky/slope"),
    ("branch-params-of-other-branch", with_(("op",), {"_name": "pool", "k": 3}), "op/pool/k"),
]


def test_good_config_passes():
    assert CHECK_SPACE.check(GOOD) is True
    assert CHECK_SPACE.contains(GOOD)
    assert CHECK_SPACE.contains({"n": 3, "lr": 0.1, "op": {"_name": "skip"}})
    assert CHECK_SPACE.contains({"n": 1.0, "lr": 1e-4, "op": {"_name": "pool", "size": 3.0}})


@pytest.mark.parametrize("config, name", [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS])
def test_check_names_parameter(config, name):
    assert CHECK_SPACE.contains(config) is False
    assert CHECK_SPACE.check(config, raise_error=False) is False
    with pytest.raises(SearchSpaceError) as info:
        CHECK_SPACE.check(config)
    assert f"'{name}'" in str(info.value)


@pytest.mark.parametrize("config", [None, [], "x", 3])
def test_check_rejects_non_dict(config):
    assert CHECK_SPACE.contains(config) is False
    with pytest.raises(SearchSpaceError):
        CHECK_SPACE.check(config)


# ----------------------------------------------------------------------------- size and grid

FINITE_SPACES = {
    "choice": {"c": spec("choice", "a", "b", None, [1, 2])},
    "randint": {"n": spec("randint", -2, 5)},
    "quniform": {"x": spec("quniform", 0, 1, 0.25)},
    "quniform-clipped": {"x": spec("quniform", 0.05, 1, 0.1)},
    "qloguniform": {"x": spec("qloguniform", 1, 100, 10)},
    "mixed": {"c": spec("choice", "a", "b", "c"), "n": spec("randint", 1, 4), "x": spec("quniform", 0, 1, 0.25),
              "op": spec("choice", {"_name": "conv", "k": spec("choice", 3, 5), "s": spec("randint", 1, 3)},
                         {"_name": "skip"})},
    "nested-2-levels": {"op": spec("choice",
                                   {"_name": "conv", "k": spec("choice", 3, 5),
                                    "act": spec("choice", {"_name": "relu"},
                                                {"_name": "leaky", "slope": spec("quniform", 0, 0.3, 0.1)})},
                                   {"_name": "pool", "size": spec("randint", 2, 4)},
                                   {"_name": "skip"}),
                        "bias": spec("choice", True, False)},
}
FINITE_SIZES = {"choice": 4, "randint": 7, "quniform": 5, "quniform-clipped": 11, "qloguniform": 11,
                "mixed": 3 * 3 * 5 * (2 * 2 + 1), "nested-2-levels": (2 * (1 + 4) + 2 + 1) * 2}


def enumerate_space(space: Space) -> list[dict]:
    return [space.grid_config(i, None) for i in range(space.grid_size(None))]


@pytest.mark.parametrize("name", list(FINITE_SPACES))
def test_size_matches_enumeration(name):
    space = Space.from_nni(FINITE_SPACES[name])
    configs = enumerate_space(space)
    keys = {config_key(c) for c in configs}
    assert space.size == FINITE_SIZES[name]
    assert space.grid_size(None) == len(configs) == len(keys) == space.size
    for c in configs:
        assert space.check(c)
    # Every sample is one of the enumerated configurations (same representation).
    rng = np.random.default_rng(0)
    for _ in range(300):
        assert config_key(space.sample(rng)) in keys


def test_grid_config_mixed_radix_order():
    space = Space.from_nni({"a": spec("choice", "x", "y"), "b": spec("randint", 0, 3)})
    assert enumerate_space(space) == [{"a": a, "b": b} for a in ("x", "y") for b in (0, 1, 2)]


@pytest.mark.parametrize("ss", [{"x": spec("uniform", 0, 1)}, {"x": spec("normal", 0, 1)},
                                {"c": spec("choice", 1, 2), "x": spec("loguniform", 1, 2)},
                                {"op": spec("choice", {"_name": "a", "x": spec("lognormal", 0, 1)})}])
def test_continuous_space_is_infinite(ss):
    space = Space.from_nni(ss)
    assert space.size == math.inf
    with pytest.raises(ValueError):
        space.grid_size(None)


@pytest.mark.parametrize("low, high, points", [(1e-4, 1, 5), (1e-3, 1e-1, 3), (0.37, 411.0, 7), (1e-6, 3e-2, 2)])
def test_loguniform_grid_is_log_spaced(low, high, points):
    space = Space.from_nni({"lr": spec("loguniform", low, high)})
    assert space.grid_size(points) == points
    values = [space.grid_config(i, points)["lr"] for i in range(points)]
    assert values[0] == low and values[-1] == high
    ratios = [b / a for a, b in zip(values, values[1:])]
    for r in ratios:
        assert r == pytest.approx((high / low) ** (1 / (points - 1)), rel=1e-9)


def test_loguniform_grid_known_values():
    values = Float("lr", 1e-3, 1e-1, log=True).grid(3)
    assert values == pytest.approx([1e-3, 1e-2, 1e-1], rel=1e-12)


def test_uniform_grid_is_linear_with_exact_endpoints():
    values = Float("x", -1, 2).grid(4)
    assert values == pytest.approx([-1, 0, 1, 2])
    assert values[0] == -1 and values[-1] == 2


def test_q_grid_uses_every_value_when_few():
    assert Float("x", 0, 1, q=0.25).grid(10) == pytest.approx([0, 0.25, 0.5, 0.75, 1])
    assert Float("x", 0, 1, q=0.25).grid(None) == pytest.approx([0, 0.25, 0.5, 0.75, 1])
    assert len(Float("x", 0, 100, q=1).grid(5)) == 5


def test_grid_with_points_on_nested_space():
    space = Space.from_nni(NESTED)
    per_lr = 2 * 25 * (1 + 3) + 2 + 1   # conv: k x width x (relu + leaky*3 slopes); pool; skip
    assert space.grid_size(3) == 3 * per_lr
    configs = [space.grid_config(i, 3) for i in range(space.grid_size(3))]
    assert len({config_key(c) for c in configs}) == len(configs)
    assert all(space.check(c) for c in configs)


# ----------------------------------------------------------------------------- config_key

@pytest.mark.parametrize("a, b", [
    ({"x": 1}, {"x": 1.0}),
    ({"x": 1, "y": "a"}, {"y": "a", "x": 1}),
    ({"x": -3}, {"x": -3.0}),
    ({"op": {"_name": "conv", "k": 3, "w": 0.5}}, {"op": {"w": 0.5, "k": 3.0, "_name": "conv"}}),
    ({"x": [1, 2]}, {"x": [1.0, 2.0]}),
    ({"x": np.int64(4), "y": np.float64(0.25)}, {"x": 4, "y": 0.25}),
    ({"x": 0.1 + 0.2}, {"x": 0.3}),   # float noise from q * k must not split keys
])
def test_config_key_equal(a, b):
    assert config_key(a) == config_key(b)


@pytest.mark.parametrize("a, b", [
    ({"x": 1}, {"x": 2}),
    ({"x": 1}, {"x": True}),
    ({"x": 0}, {"x": False}),
    ({"x": 0}, {"x": None}),
    ({"x": "1"}, {"x": 1}),
    ({"x": 1}, {"y": 1}),
    ({"x": 1}, {"x": 1, "y": None}),
    ({"op": {"_name": "a"}}, {"op": {"_name": "b"}}),
    ({"x": [1, 2]}, {"x": [2, 1]}),
    ({"x": 0.1}, {"x": 0.1001}),
])
def test_config_key_different(a, b):
    assert config_key(a) != config_key(b)


def test_q_type_with_many_values_is_fast():
    # 20,000 values: size, grid and enumeration must not be quadratic (a grid asks for them per config).
    import time
    space = Space.from_nni({"wd": spec("qloguniform", 1e-6, 2e-2, 1e-6), "c": spec("choice", 1, 2)})
    start = time.perf_counter()
    assert space.size == 20_000 * 2
    assert space.grid_size(5) == 10
    configs = [space.grid_config(i, 5) for i in range(10)] + [space.grid_config(i, None) for i in range(0, 40_000, 997)]
    assert all(space.check(c) for c in configs)
    assert time.perf_counter() - start < 2.0
