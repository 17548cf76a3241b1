"""Tests for the NAS search spaces (nas_plugins.spaces: nb201, darts, mobilenet)."""
from __future__ import annotations

import importlib
import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from nas_plugins.space import SearchSpaceError, Space
from nas_plugins.spaces import SPACES, get_space
from nas_plugins.spaces import darts, mini201, mobilenet, nb201

torch.set_num_threads(1)

#: Small network sizes per space, so that building and running is fast.
SMALL = {"nb201": {"C": 8, "N": 1}, "mini201": {"C": 2, "N": 1, "in_channels": 3}, "darts": {"C": 4, "layers": 3},
         "mobilenet": {"width_mult": 0.25, "head_channels": 32}}


def samples(name: str, n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [get_space(name).space().sample(rng) for _ in range(n)]


def counted(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def hooked_macs(model: nn.Module, size: tuple[int, int]) -> int:
    """Multiply-adds of the conv and linear layers, measured on one forward pass of one image."""
    total = 0

    def hook(module: nn.Module, inputs, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            total += output[0].numel() * module.in_channels // module.groups * k
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features
    handles = [m.register_forward_hook(hook) for m in model.modules()]
    model.eval()
    with torch.no_grad():
        model(torch.randn(1, 3, *size))
    for h in handles:
        h.remove()
    return total


# ----------------------------------------------------------------------------- common interface

def test_get_space_returns_the_modules():
    assert [get_space(n) for n in SPACES] == [nb201, mini201, darts, mobilenet]
    with pytest.raises(ValueError, match="unknown NAS space 'nb101'.*nb201"):
        get_space("nb101")


@pytest.mark.parametrize("name", SPACES)
def test_samples_are_valid_and_space_matches_the_nni_dict(name):
    s = get_space(name)
    assert s.space().to_nni() == Space.from_nni(s.SEARCH_SPACE).to_nni()
    assert all(spec["_type"] == "choice" for spec in s.SEARCH_SPACE.values())
    configs = samples(name, 20)
    assert all(s.space().contains(c) for c in configs)
    assert len({str(c) for c in configs}) == 20


@pytest.mark.parametrize("name", SPACES)
def test_build_shape_and_analytic_params_are_exact(name):
    s = get_space(name)
    for config in samples(name, 3, seed=1):
        model = s.build(config, num_classes=7, **SMALL[name])
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 7)
        assert s.params(config, num_classes=7, **SMALL[name]) == counted(model)
    default = samples(name, 1, seed=2)[0]
    assert s.params(default) == counted(s.build(default))       # default sizes and 10 classes


@pytest.mark.parametrize("name", SPACES)
def test_analytic_flops_equal_the_measured_multiply_adds(name):
    s = get_space(name)
    sizes = [(32, 32), (16, 24)] + ([(17, 15)] if name not in ("nb201", "mini201") else [])   # NB201 cells: multiples of 4
    for config in samples(name, 2, seed=3):
        model = s.build(config, **SMALL[name])
        for size in sizes:
            measured = hooked_macs(model, size)
            assert s.flops(config, input_size=size, **SMALL[name]) == measured > 0
    assert s.flops(config, input_size=64, **SMALL[name]) > s.flops(config, input_size=32, **SMALL[name])


@pytest.mark.parametrize("name", SPACES)
def test_encodings_are_fixed_length_and_deterministic(name):
    s = get_space(name)
    configs = samples(name, 12, seed=4)
    for encode in (s.encode_adjacency, s.encode_path):
        vectors = [encode(c) for c in configs]
        assert len({v.shape for v in vectors}) == 1 and vectors[0].ndim == 1
        assert all(np.array_equal(encode(dict(c)), v) for c, v in zip(configs, vectors))
        assert all(set(np.unique(v)) <= {0.0, 1.0, 2.0} for v in vectors)
    if name != "darts":            # DARTS: see test_darts_encodings_identify_swapped_edges
        adjacency = {s.encode_adjacency(c).tobytes() for c in configs}
        assert len(adjacency) == len(configs)


def _mixed(name: str) -> dict:
    return {**get_space(name).SEARCH_SPACE, "lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]},
            "batch_size": {"_type": "choice", "_value": [32, 64]}}


@pytest.mark.parametrize("name", SPACES)
def test_hyperparameters_mix_with_the_architecture(name):
    s = get_space(name)
    joint = Space.from_nni(_mixed(name))
    config = joint.sample(np.random.default_rng(5))
    assert joint.contains(config) and 1e-4 <= config["lr"] <= 1e-1
    arch = {k: v for k, v in config.items() if k in s.SEARCH_SPACE}
    model = s.build(config, **SMALL[name])                 # the builder ignores lr and batch_size
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
    assert s.params(config, **SMALL[name]) == s.params(arch, **SMALL[name]) == counted(model)
    assert np.array_equal(s.encode_path(config), s.encode_path(arch))


@pytest.mark.parametrize("name", SPACES)
def test_cost_helpers_resolve_from_module_function_strings(name):
    module, _, function = f"nas_plugins.spaces.{name}:params".partition(":")
    cost = getattr(importlib.import_module(module), function)
    costs = [cost(c) for c in samples(name, 5, seed=6)]
    assert all(isinstance(c, int) and c > 0 for c in costs) and len(set(costs)) > 1
    budget = sorted(costs)[2]
    assert sum(c <= budget for c in costs) == 3            # a size budget filters proposals


@pytest.mark.parametrize("name", SPACES)
def test_invalid_configurations_name_the_parameter(name):
    s = get_space(name)
    config = samples(name, 1)[0]
    key = next(iter(s.SEARCH_SPACE))
    with pytest.raises(SearchSpaceError, match=key):
        s.build({k: v for k, v in config.items() if k != key})
    with pytest.raises(SearchSpaceError, match=key):
        s.params({**config, key: "conv_9x9"})


def test_flops_grow_with_the_obvious_operations():
    none, conv1, conv3 = ({k: op for k in nb201.EDGE_KEYS} for op in ("none", "nor_conv_1x1", "nor_conv_3x3"))
    assert 0 < nb201.flops(none) < nb201.flops(conv1) < nb201.flops(conv3)
    assert nb201.params(none) < nb201.params(conv1) < nb201.params(conv3)

    base = samples("darts", 1)[0]
    op_keys = [k for k in darts.SEARCH_SPACE if "_op" in k]
    darts_flops = [darts.flops({**base, **dict.fromkeys(op_keys, op)})
                   for op in ("none", "sep_conv_3x3", "sep_conv_5x5")]
    assert 0 < darts_flops[0] < darts_flops[1] < darts_flops[2]

    small = {**samples("mobilenet", 1)[0], **{f"stage{i}_kernel": 3 for i in range(1, 8)}}
    for key, less, more in (("stage3_kernel", 3, 7), ("stage4_depth", 1, 4), ("stage5_width", 0.75, 1.25)):
        assert mobilenet.flops({**small, key: less}) < mobilenet.flops({**small, key: more})
    blocks = [{"_name": "dsconv"}, {"_name": "mbconv", "expand": 3}, {"_name": "mbconv", "expand": 6}]
    costs = [mobilenet.params({**small, **{f"stage{i}_block": b for i in range(1, 8)}}) for b in blocks]
    assert costs == sorted(costs) and len(set(costs)) == 3


# ----------------------------------------------------------------------------- NAS-Bench-201

@pytest.fixture(scope="module")
def nb201_frame():
    try:
        return nb201.table().frame
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


def test_nb201_space_is_the_bench_problem_space():
    from bench.problems import NB201_EDGES, NB201_OPS, nb201_arch
    assert nb201.OPS == NB201_OPS and nb201.EDGES == NB201_EDGES
    assert list(nb201.SEARCH_SPACE) == [f"edge_{to}_{frm}" for to, frm in NB201_EDGES]
    for config in samples("nb201", 10):
        assert nb201.to_arch_string(config) == nb201_arch(config)


def test_nb201_string_round_trip_on_every_table_arch(nb201_frame):
    archs = nb201_frame["arch"].tolist()
    assert len(set(archs)) == 15625
    configs = [nb201.from_arch_string(a) for a in archs]
    assert [nb201.to_arch_string(c) for c in configs] == archs
    assert len({tuple(c.values()) for c in configs}) == 15625


@pytest.mark.parametrize("bad", ["", "|none~0|", "|none~0|+|none~0|none~1|+|none~0|none~1|",
                                 "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
                                 "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                                 "none~0|+|none~0|none~1|+|none~0|none~1|none~2|"])
def test_nb201_malformed_strings_raise(bad):
    with pytest.raises(ValueError, match="NB201"):
        nb201.from_arch_string(bad)


def _cell(**edges: str) -> dict:
    return {k: edges.get(k, "none") for k in nb201.EDGE_KEYS}


def test_nb201_canonical_merges_isomorphic_cells():
    c3, c1, pool, skip = "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3", "skip_connect"
    pairs = [
        # the two intermediate nodes swap when no edge joins them
        (_cell(edge_1_0=c3, edge_3_1=c1, edge_2_0=pool, edge_3_2=c3),
         _cell(edge_2_0=c3, edge_3_2=c1, edge_1_0=pool, edge_3_1=c3)),
        # skip then conv == conv on the direct edge
        (_cell(edge_1_0=skip, edge_3_1=c3), _cell(edge_3_0=c3)),
        # node 1 never reaches the output: its input edge is irrelevant
        (_cell(edge_1_0=c3, edge_3_0=pool), _cell(edge_3_0=pool)),
        # node 1 is always zero: the edges reading it are irrelevant
        (_cell(edge_2_1=c3, edge_3_1=c1, edge_3_0=skip), _cell(edge_3_0=skip)),
    ]
    for a, b in pairs:
        assert a != b and nb201.canonical(a) == nb201.canonical(b) == nb201.canonical(nb201.to_arch_string(b))
    assert nb201.canonical(pairs[2][0]) == nb201.to_arch_string(pairs[2][1])   # irrelevant edges -> none
    distinct = [_cell(edge_3_0=c3), _cell(edge_3_0=c1), _cell(edge_3_0=skip),
                _cell(edge_3_0=skip, edge_1_0=skip, edge_3_1=skip),                  # x + x
                _cell(edge_1_0=c3, edge_3_1=c3), _cell(edge_1_0=c3, edge_3_1=c3, edge_3_0=c3),
                _cell(edge_1_0=c3, edge_2_1=pool, edge_3_2=skip), _cell(edge_1_0=pool, edge_2_1=c3, edge_3_2=skip),
                _cell()]
    assert len({nb201.canonical(c) for c in distinct}) == len(distinct)


def _evaluate(config: dict, x: float = 0.731) -> float:
    """The cell with each op replaced by a fixed scalar function f (f(0) = 0, as canonical() assumes)."""
    fn = {"none": lambda v: 0.0, "skip_connect": lambda v: v,
          "nor_conv_1x1": lambda v: math.sin(1.3 * v) + 0.7 * v * v,
          "nor_conv_3x3": lambda v: math.tanh(2.1 * v) - 0.3 * v ** 3,
          "avg_pool_3x3": lambda v: v * math.exp(-0.4 * v)}
    nodes = [x]
    for to in (1, 2, 3):
        nodes.append(sum(fn[config[f"edge_{to}_{frm}"]](nodes[frm]) for frm in range(to)))
    return nodes[3]


def test_nb201_canonical_classes_compute_the_same_function():
    values: dict[str, float] = {}
    for ops in itertools.product(nb201.OPS, repeat=6):
        config = dict(zip(nb201.EDGE_KEYS, ops))
        rep = nb201.canonical(config)
        value = values.setdefault(rep, _evaluate(nb201.from_arch_string(rep)))
        assert math.isclose(_evaluate(config), value, rel_tol=1e-9, abs_tol=1e-12), (config, rep)
        assert sum(op != "none" for op in ops) >= rep.count("~") - rep.count("none~")
    assert len(values) == 4930
    assert len({round(v, 9) for v in values.values()}) == 4930          # distinct classes, distinct functions
    assert all(nb201.canonical(rep) == rep for rep in values)


def test_nb201_encodings():
    c3, c1, pool = "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3"
    a = _cell(edge_1_0=c3, edge_3_1=c1, edge_2_0=pool, edge_3_2=c3)
    b = _cell(edge_2_0=c3, edge_3_2=c1, edge_1_0=pool, edge_3_1=c3)         # a with nodes 1, 2 swapped
    assert len(nb201.encode_adjacency(a)) == 36 and len(nb201.encode_path(a)) == 84
    assert np.array_equal(nb201.encode_path(a), nb201.encode_path(b))
    assert not np.array_equal(nb201.encode_adjacency(a), nb201.encode_adjacency(b))
    assert nb201.encode_path(_cell()).sum() == 0 and nb201.encode_path(_cell(edge_1_0=c3)).sum() == 0
    full = {k: c3 for k in nb201.EDGE_KEYS}
    assert nb201.encode_path(full).sum() == 3                  # conv, conv-conv, conv-conv-conv
    paths = {nb201.encode_path(c).tobytes() for c in (full, {k: c1 for k in nb201.EDGE_KEYS}, _cell(edge_3_0=c3), a)}
    assert len(paths) == 4
    adjacency = {nb201.encode_adjacency(dict(zip(nb201.EDGE_KEYS, ops))).tobytes()
                 for ops in itertools.product(nb201.OPS[:3], repeat=6)}
    assert len(adjacency) == 3 ** 6


def test_nb201_lookup_returns_the_table_row(nb201_frame):
    row = nb201_frame.iloc[1234]
    config = nb201.from_arch_string(row["arch"])
    for dataset in nb201.DATASETS:
        got = nb201.lookup({**config, "lr": 0.1}, dataset)
        assert got["arch"] == row["arch"] and got["params_mb"] == row["params_mb"]
        for field in ("val_acc", "test_acc", "latency_s", "train_time_s"):
            assert got[field] == row[f"{dataset}_{field}"]
    assert nb201.lookup(row["arch"]) == nb201.lookup(config, "cifar10")
    with pytest.raises(ValueError, match="imagenet16"):
        nb201.lookup(config, "imagenet")


def test_nb201_missing_table_names_the_file_and_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("NASP_BENCHMARKS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'nb201.csv.gz'}.*NASP_BENCHMARKS"):
        nb201.lookup(_cell())
    with pytest.raises(FileNotFoundError, match="NASP_BENCHMARKS"):
        nb201.table(tmp_path / "other.csv.gz").rows


def test_nb201_params_match_the_table(nb201_frame):
    """The table's params_mb counts the 120-class ImageNet16-120 network (C=16, N=5)."""
    assert nb201.params(_cell(), num_classes=120) == 80456 == round(nb201_frame["params_mb"].min() * 1e6)
    full = {k: "nor_conv_3x3" for k in nb201.EDGE_KEYS}
    assert nb201.params(full, num_classes=120) == round(nb201_frame["params_mb"].max() * 1e6)
    rows = nb201_frame.sample(400, random_state=0)
    same = [nb201.params(a, num_classes=120) == round(p * 1e6) for a, p in zip(rows["arch"], rows["params_mb"])]
    assert np.mean(same) > 0.97


# ----------------------------------------------------------------------------- DARTS

DARTS_V2 = darts.Genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
    reduce_concat=[2, 3, 4, 5])


def test_darts_genotype_round_trip():
    for config in samples("darts", 10, seed=7):
        g = darts.genotype(config)
        assert len(g.normal) == len(g.reduce) == 8 and g.normal_concat == g.reduce_concat == [2, 3, 4, 5]
        assert all(src < darts.NODES[i // 2] for edges in (g.normal, g.reduce) for i, (_, src) in enumerate(edges))
        assert darts.from_genotype(g) == config
    config = darts.from_genotype(DARTS_V2)
    assert darts.space().contains(config) and darts.genotype(config) == DARTS_V2
    assert config["normal_n5_op1"] == "dil_conv_3x3" and config["normal_n5_in1"] == 2


def test_darts_node_inputs_are_restricted_to_predecessors():
    for node in darts.NODES:
        assert darts.SEARCH_SPACE[f"reduce_n{node}_in0"]["_value"] == list(range(node))
    bad = DARTS_V2._replace(normal=[("sep_conv_3x3", 2)] + DARTS_V2.normal[1:])      # node 2 reading itself
    with pytest.raises(SearchSpaceError, match="normal_n2_in0"):
        darts.from_genotype(bad)
    with pytest.raises(ValueError, match="normal_concat"):
        darts.from_genotype(DARTS_V2._replace(normal_concat=[4, 5]))
    with pytest.raises(ValueError, match="8"):
        darts.from_genotype(DARTS_V2._replace(reduce=DARTS_V2.reduce[:6]))


def test_darts_v2_has_the_published_size():
    """DARTS (2nd order) on CIFAR-10: C=36, 20 cells, 3.3M parameters (3,349,342 in its logs)."""
    assert darts.params(darts.from_genotype(DARTS_V2), C=36, layers=20) == 3349342


def test_darts_encodings_identify_swapped_edges():
    config = samples("darts", 1, seed=8)[0]
    swapped = {**config}
    for kind in ("in", "op"):
        swapped[f"normal_n4_{kind}0"], swapped[f"normal_n4_{kind}1"] = config[f"normal_n4_{kind}1"], \
            config[f"normal_n4_{kind}0"]
    assert len(darts.encode_adjacency(config)) == 252 and len(darts.encode_path(config)) == 11200
    for encode in (darts.encode_adjacency, darts.encode_path):
        assert np.array_equal(encode(config), encode(swapped))
    configs = samples("darts", 12, seed=9)
    for encode in (darts.encode_adjacency, darts.encode_path):
        assert len({encode(c).tobytes() for c in configs}) == len(configs)
    changed = {**config, "reduce_n3_op1": "sep_conv_5x5" if config["reduce_n3_op1"] != "sep_conv_5x5" else "none"}
    assert not np.array_equal(darts.encode_adjacency(config), darts.encode_adjacency(changed))


# ----------------------------------------------------------------------------- MobileNet

def test_mobilenet_nested_block_choice_and_residuals():
    configs = samples("mobilenet", 10, seed=10)
    kinds = {c[f"stage{i}_block"]["_name"] for c in configs for i in range(1, 8)}
    assert kinds == {"mbconv", "dsconv"}
    config = {**configs[0], "stage2_depth": 3, "stage2_block": {"_name": "dsconv"}}
    settings = mobilenet.stage_settings(config)
    assert len(settings) == 7 and settings[1].expand == 1 and settings[1].depth == 3
    with pytest.raises(SearchSpaceError, match="stage2_block"):
        mobilenet.params({**config, "stage2_block": {"_name": "dsconv", "expand": 6}})
    model = mobilenet.build(config, **SMALL["mobilenet"])
    blocks = list(model.blocks)
    assert len(blocks) == sum(s.depth for s in settings)
    assert [b.residual for b in blocks] == [(i > 0 or s.stride == 1 and prev == cur)
                                            for s, prev, cur, i in _block_shapes(settings)]


def _block_shapes(settings):
    prev = 16
    for s in settings:
        cur = max(4, int(s.base * s.width * 0.25 / 4 + 0.5) * 4)
        for i in range(s.depth):
            yield s, prev, cur, i
            prev = cur


def test_mobilenet_encodings_are_injective_on_samples():
    configs = samples("mobilenet", 30, seed=11)
    assert len({str(c) for c in configs}) == 30
    for encode, length in ((mobilenet.encode_adjacency, 301), (mobilenet.encode_path, 273)):
        vectors = [encode(c) for c in configs]
        assert {len(v) for v in vectors} == {length}
        assert len({v.tobytes() for v in vectors}) == 30
