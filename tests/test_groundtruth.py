"""The mini-201 ground truth (nas_plugins.spaces.mini201, bench/mini201.csv, bench/make_groundtruth.py)."""
from __future__ import annotations

import csv
import itertools
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from nas_plugins.space import SearchSpaceError
from nas_plugins.spaces import mini201, nb201

torch.set_num_threads(1)

TABLE = mini201.default_table()
SEEDS = (0, 1)


def table_rows() -> list[dict]:
    if not TABLE.is_file():
        pytest.skip(f"{TABLE} not written yet (python -m bench.make_groundtruth)")
    with open(TABLE, newline="") as handle:
        return list(csv.DictReader(handle))


def full_table() -> list[dict]:
    rows = table_rows()
    if len(rows) < len(mini201.archs()):
        pytest.skip(f"{TABLE} has {len(rows)} of {len(mini201.archs())} rows: the full run has not finished")
    return rows


# ----------------------------------------------------------------------------- the space

def test_space_size_and_canonical_classes():
    cells = list(itertools.product(mini201.OPS, repeat=6))
    assert len(cells) == 729
    classes = {mini201.canonical(dict(zip(mini201.EDGE_KEYS, ops))) for ops in cells}
    assert 100 <= len(classes) <= 1000
    assert classes == set(mini201.archs()) and len(mini201.archs()) == 261
    for arch in mini201.archs():                       # a representative is its own canonical form
        assert mini201.canonical(arch) == arch


def test_canonical_merges_equivalent_cells():
    # node 1 and node 2 swap when no edge joins them; unreachable or zero-input edges do not matter
    a = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|avg_pool_3x3~1|none~2|"
    b = "|none~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|avg_pool_3x3~2|"
    c = "|avg_pool_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|avg_pool_3x3~2|"     # edge 1_0 dead end
    assert mini201.canonical(a) == mini201.canonical(b) == mini201.canonical(c) == b
    assert mini201.canonical(mini201.from_arch_string(a)) == b
    # the all-zero cells are one class, and so is an op applied to a zero node
    zero = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    assert mini201.canonical("|none~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|") == zero in mini201.archs()
    zeros = {mini201.canonical(dict(zip(mini201.EDGE_KEYS, ops)))
             for ops in itertools.product(mini201.OPS, repeat=6) if all(op == "none" for op in ops[3:])}
    assert zeros == {"|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"}
    # equal classes compute the same function: same expression as NB201's rule
    rng = random.Random(0)
    for _ in range(100):
        ops = tuple(rng.choice(mini201.OPS) for _ in range(6))
        rep = mini201.canonical(dict(zip(mini201.EDGE_KEYS, ops)))
        assert nb201._expression(nb201._ops(rep)) == nb201._expression(ops)


def test_nb201_behaviour_unchanged_and_agrees_where_it_can():
    # same class structure as NB201 restricted to these ops (NB201's representative may use other ops)
    rng = random.Random(1)
    for _ in range(50):
        x, y = (tuple(rng.choice(mini201.OPS) for _ in range(6)) for _ in range(2))
        same_mini = mini201.canonical(nb201._format(x)) == mini201.canonical(nb201._format(y))
        same_nb201 = nb201.canonical(nb201._format(x)) == nb201.canonical(nb201._format(y))
        assert same_mini == same_nb201
    assert len(set(nb201._representatives().values())) == 4930


def test_strings_and_errors():
    arch = mini201.archs()[17]
    assert mini201.to_arch_string(mini201.from_arch_string(arch)) == arch
    with pytest.raises(ValueError, match="skip_connect not in the space's ops"):
        mini201.from_arch_string("|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    with pytest.raises(SearchSpaceError):
        mini201.canonical(dict(nb201.from_arch_string(
            "|nor_conv_1x1~0|+|none~0|none~1|+|none~0|none~1|none~2|")))


def test_build_forward_params_and_encodings():
    for arch in (mini201.archs()[0], mini201.archs()[-1], mini201.archs()[100]):
        model = mini201.build(arch)
        out = model(torch.randn(3, 1, 8, 8))
        assert out.shape == (3, 10) and torch.isfinite(out).all()
        assert mini201.params(arch) == sum(p.numel() for p in model.parameters())
        assert mini201.encode_adjacency(mini201.from_arch_string(arch)).shape == (24,)
        assert mini201.encode_path(mini201.from_arch_string(arch)).shape == (14,)
    assert mini201.build(mini201.archs()[5], C=4, N=2)(torch.zeros(1, 1, 8, 8)).shape == (1, 10)
    with pytest.raises(TypeError, match="unknown size argument"):
        mini201.build(mini201.archs()[5], width=3)


# ----------------------------------------------------------------------------- training recipe

def test_train_standalone_is_deterministic_per_seed():
    rows = {}
    for arch in ("|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|",
                 "|avg_pool_3x3~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|avg_pool_3x3~2|"):
        for seed in (0, 0, 1):
            result = mini201.train_standalone(arch, seed, epochs=1, n_train=100)
            assert set(result) >= {"valid_acc", "test_acc", "train_time_s", "params"}
            key = (arch, seed)
            if key in rows:
                assert (result["valid_acc"], result["test_acc"]) == (rows[key]["valid_acc"], rows[key]["test_acc"])
            rows[key] = result
        assert 0 <= result["test_acc"] <= 100
    state = torch.get_rng_state()
    mini201.train_standalone(mini201.archs()[3], 5, epochs=1, n_train=50)
    assert torch.equal(state, torch.get_rng_state())           # the caller's RNG is left alone
    with pytest.raises(TypeError, match="unknown recipe field"):
        mini201.train_standalone(mini201.archs()[3], 0, epoch=1)


def test_data_split_is_fixed():
    a, b = mini201.load_data(), mini201.load_data()
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    draws = mini201.RECIPE["eval_draws"]       # every validation and test image with that many noise draws
    assert [len(t) for t in a[1::2]] == [mini201.RECIPE["n_train"], mini201.RECIPE["n_valid"] * draws,
                                         mini201.RECIPE["n_test"] * draws]
    n = mini201.RECIPE["n_test"]
    assert torch.equal(a[5][:n], a[5][n:2 * n]) and not torch.equal(a[4][:n], a[4][n:2 * n])
    for y in a[1::2]:
        assert set(y.tolist()) == set(range(10))


# ----------------------------------------------------------------------------- the table

def test_lookup_known_and_missing(tmp_path, monkeypatch):
    arch = "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|"
    small = tmp_path / "t.csv"
    small.write_text("arch,valid_acc_seed0,valid_acc_seed1,test_acc_seed0,test_acc_seed1,"
                     "train_time_s_seed0,train_time_s_seed1,params\n"
                     f"{arch},70.0,72.0,71.0,73.0,1.5,1.6,{mini201.params(arch)}\n")
    row = mini201.lookup(mini201.from_arch_string(arch), table=small)
    assert row["test_acc_seed1"] == 73.0 and row["test_acc"] == 72.0 and row["valid_acc"] == 71.0
    assert row["params"] == mini201.params(arch)
    # an equivalent (non-canonical) cell finds the same row
    assert mini201.lookup("|avg_pool_3x3~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|", table=small)["arch"] == arch
    missing = "|none~0|+|none~0|none~1|+|avg_pool_3x3~0|none~1|none~2|"
    with pytest.raises(KeyError, match=r"architecture \|none~0\|.*avg_pool_3x3~0.* is not in .*t\.csv"):
        mini201.lookup(missing, table=small)
    with pytest.raises(FileNotFoundError, match="mini201 table not found at .*nope.csv.*make_groundtruth"):
        mini201.lookup(arch, table=tmp_path / "nope.csv")
    monkeypatch.setenv(mini201.TABLE_ENV, str(small))
    assert mini201.default_table() == small and mini201.lookup(arch)["test_acc_seed0"] == 71.0


def test_shipped_table_rows_are_known_archs():
    rows = table_rows()
    header = list(rows[0]) if rows else []
    assert header == ["arch"] + [f"{f}_seed{s}" for f in ("valid_acc", "test_acc", "train_time_s") for s in SEEDS] \
        + ["params"]
    archs = [r["arch"] for r in rows]
    assert len(set(archs)) == len(archs) and set(archs) <= set(mini201.archs())
    for r in rows[:20]:
        assert int(r["params"]) == mini201.params(r["arch"])
        assert mini201.lookup(r["arch"])["test_acc_seed0"] == float(r["test_acc_seed0"])


def test_shipped_table_is_complete_and_worth_measuring_against():
    from scipy.stats import kendalltau
    rows = full_table()
    assert sorted(r["arch"] for r in rows) == sorted(mini201.archs())
    test = np.array([[float(r[f"test_acc_seed{s}"]) for s in SEEDS] for r in rows])
    valid = np.array([[float(r[f"valid_acc_seed{s}"]) for s in SEEDS] for r in rows])
    assert kendalltau(test[:, 0], test[:, 1])[0] >= 0.7 and kendalltau(valid[:, 0], valid[:, 1])[0] >= 0.7
    # best minus median: >= 3 points on the validation accuracy (what a search observes); the shipped
    # table has 2.95 on the test accuracy (documented in nas_plugins.spaces.mini201)
    for acc, gap in ((valid, 3.0), (test, 2.5)):
        mean = acc.mean(axis=1)
        assert mean.max() - np.median(mean) >= gap


@pytest.mark.parametrize("name", [info.name for info in __import__("tuners").algorithms("tuner")])
def test_every_registered_tuner_searches_the_table(name):
    import tuners
    full_table()
    strategy = tuners.create(name, mini201.space(), seed=0, mode="max")
    seen = []
    for _ in range(12):
        config = strategy.ask()
        assert mini201.space().contains({k: config[k] for k in mini201.EDGE_KEYS}), config
        row = mini201.lookup(config)
        strategy.tell(config, row["valid_acc_seed0"])
        seen.append(row["test_acc"])
    assert len(seen) == 12 and all(0 <= v <= 100 for v in seen)
