"""TAPAS (``tapas`` / ``NaspTAPAS`` / ``nasp_tapas``) on a metadata store of the NB201 table (300
architectures per data set, each task's DCN the table accuracy of one fixed cell), the DCN landmarker,
and ``nas-plugins tapas``. The ask/tell contract (no store: a cold start) is in test_contract.py."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from conftest import ask_tell

from nas_plugins.dcn import dataset_dcn, digits_dcn
from nas_plugins.lcbench import benchmarks_dir
from nas_plugins.spaces import nb201
from nas_plugins.store import MetadataStore
from nas_plugins.transfer import StoreSpaceError, set_dcn
from tuners import registry
from tuners.cli import main as cli
from tuners.hosts.nni_host import build_options

torch.set_num_threads(1)
NB201_FILE = benchmarks_dir() / "nb201.csv.gz"
needs_table = pytest.mark.skipif(not NB201_FILE.is_file(), reason="NB201 table not found ($NASP_BENCHMARKS)")
ROWS = 300
TARGET = "nb201/imagenet16"
LANDMARK = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|"   # a fixed small cell


@pytest.fixture(scope="module")
def table():
    return nb201.table(NB201_FILE).frame


@pytest.fixture(scope="module")
def dcns(table):
    row = table[table["arch"] == LANDMARK].iloc[0]
    return {f"nb201/{d}": float(row[f"{d}_val_acc"]) / 100 for d in nb201.DATASETS}   # 0.84, 0.58, 0.29


@pytest.fixture(scope="module")
def store(tmp_path_factory, dcns):
    path = tmp_path_factory.mktemp("tapas") / "meta.sqlite"
    with MetadataStore(path) as db:
        db.import_nb201(NB201_FILE, datasets=list(nb201.DATASETS), limit=ROWS)
        for task, dcn in dcns.items():
            set_dcn(db, task, dcn)
    return str(path)


def imagenet_accuracy(table):
    values = dict(zip(table["arch"], table["imagenet16_val_acc"]))
    return lambda config: values[nb201.to_arch_string(config)]


# ============================================================================= the DCN

def test_dcn_is_a_seeded_accuracy_that_falls_with_difficulty():
    state = torch.get_rng_state()
    easy, hard = digits_dcn(epochs=2), digits_dcn(noise=1.0, epochs=2)
    assert 0 <= hard < easy - 0.2 <= 1 and easy == digits_dcn(epochs=2)
    assert torch.equal(state, torch.get_rng_state())          # the caller's RNG is left alone
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    x = rng.normal(size=(200, 6, 6)) + 2.0 * y[:, None, None]  # two separable classes, (N, H, W) arrays
    assert dataset_dcn(x, y, epochs=3) > 0.9
    with pytest.raises(ValueError, match="needs images"):
        dataset_dcn(np.zeros((5, 3)), np.zeros(5))


# ============================================================================= the strategy

@needs_table
def test_first_proposal_is_in_the_top_decile_without_any_trial(store, table):
    value = imagenet_accuracy(table)
    s = registry.create("tapas", nb201.space(), store=store, target_task=TARGET, seed=0)
    assert s.dcn == pytest.approx(0.2929, abs=1e-3)              # read from the target task's metadata
    assert [t.name for t in s.sources] == ["nb201/cifar100"]      # the nearest difficulty (0.58)
    ranking = s.ranking(5)
    predicted = [v for _, v in ranking]
    assert predicted == sorted(predicted, reverse=True)
    first = [s.ask() for _ in range(5)]
    assert first == [c for c, _ in ranking]                       # the predictor's best, in order
    accuracies = np.array(table["imagenet16_val_acc"])
    assert value(first[0]) >= np.quantile(accuracies, 0.9)


@needs_table
def test_sources_are_chosen_by_difficulty(store):
    space = nb201.space()
    names = lambda **kw: [t.name for t in registry.create("tapas", space, store=store, **kw).sources]
    assert names(dcn=0.8) == ["nb201/cifar10"]
    assert names(dcn=0.8, target_task="nb201/cifar10") == ["nb201/cifar100"]
    assert names(dcn=0.5, dcn_window=0.35) == ["nb201/cifar100", "nb201/imagenet16", "nb201/cifar10"]
    assert names(dcn=0.5, min_sources=2) == ["nb201/cifar100", "nb201/imagenet16"]
    assert names(dcn=0.5, source_tasks=["nb201/cifar10"]) == ["nb201/cifar10"]     # as named


@needs_table
def test_target_results_mix_in_and_same_seed_same_proposals(store, table):
    value = imagenet_accuracy(table)

    def run(seed):
        s = registry.create("tapas", nb201.space(), store=store, target_task=TARGET, seed=seed, refit_every=4)
        return s, ask_tell(s, value, 10)

    s, first = run(1)
    assert run(1)[1] == first
    assert s._ranked_at == 8                                      # made again at 4 and 8 results of the target
    copy = pickle.loads(pickle.dumps(s))                          # the predictor is refitted from the store
    assert ask_tell(copy, value, 3) == ask_tell(s, value, 3)


@needs_table
def test_bad_options_and_stores(store, tmp_path):
    space = nb201.space()
    with pytest.raises(ValueError, match="no metadata store file there"):
        registry.create("tapas", space, store=str(tmp_path / "none.sqlite"), dcn=0.5)
    with pytest.raises(ValueError, match="no task 'nb201/svhn'"):
        registry.create("tapas", space, store=store, dcn=0.5, source_tasks="nb201/svhn")
    with pytest.raises(ValueError, match=r"needs the target's dcn.*target_task 'nb201/svhn' is not in the store"):
        registry.create("tapas", space, store=store, target_task="nb201/svhn")
    with pytest.raises(ValueError, match=r"dcn must be a number in \[0.0, 1.0\]"):
        registry.create("tapas", space, store=store, dcn=42)
    bare = tmp_path / "bare.sqlite"
    with MetadataStore(bare) as db:
        db.import_nb201(NB201_FILE, datasets=["cifar10"], limit=20)
        db.add_trial("mlp", {"lr": 0.1}, 0.5)
        db.add_trial("mlp", {"lr": 0.01}, 0.7)
        set_dcn(db, "mlp", 0.7)
    with pytest.raises(ValueError, match="task 'nb201/cifar10' has no 'dcn' in its metadata"):
        registry.create("tapas", space, store=str(bare), dcn=0.5, source_tasks=["nb201/cifar10"])
    with pytest.raises(StoreSpaceError, match=r"task 'mlp' is not of this search space"):
        registry.create("tapas", space, store=str(bare), dcn=0.5, source_tasks=["mlp"])
    with pytest.raises(StoreSpaceError, match=r"no task has results in this search space and a 'dcn'.*"
                                              r"skipped: nb201/cifar10 \(no dcn\), mlp"):
        registry.create("tapas", space, store=str(bare), dcn=0.5)


@needs_table
def test_hosts_and_cli(store, dcns, capsys):
    assert registry.get("NaspTAPAS") is registry.get("nasp_tapas") is registry.get("tapas")
    options = build_options("tapas", {"store": store, "dcn": 0.3, "optimize_mode": "maximize"})
    assert options == {"store": store, "dcn": 0.3, "mode": "max"}
    assert cli(["tapas", "rank", "--store", store, "--space", "nb201", "--dcn", "0.3", "--top", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("TAPAS ranking for dcn 0.300 from nb201/imagenet16 (dcn 0.293)")
    assert [line.split()[0] for line in out[2:]] == ["1", "2", "3"] and '"edge_1_0"' in out[2]
    s = registry.create("tapas", nb201.space(), store=store, dcn=0.3, seed=0)
    assert float(out[2].split()[1]) == pytest.approx(s.ranking(1)[0][1], rel=1e-3)
    assert cli(["tapas", "set-dcn", "--store", store, "--task", "nb201/cifar10", "--dcn", "0.85"]) == 0
    assert cli(["tapas", "rank", "--store", store, "--space", "nb201", "--target-task", "nb201/cifar10"]) == 0
    assert "TAPAS ranking for dcn 0.850 from nb201/cifar100" in capsys.readouterr().out
    assert cli(["tapas", "set-dcn", "--store", store, "--task", "nb201/cifar10", "--dcn", "1.5"]) == 2
    assert cli(["tapas", "rank", "--store", store, "--space", "nb201"]) == 2
    assert "needs the target's dcn" in capsys.readouterr().err
    set_dcn(store, "nb201/cifar10", dcns["nb201/cifar10"])


def test_a_real_nni_experiment_runs_the_ranking_in_order(store, tmp_path):
    """NaspTAPAS in a real NNI experiment (one trial at a time): the trials get the predictor's ranking,
    best first, with no trial before the first (the toy trial's score does not depend on the cell)."""
    from conftest import nni_config

    from nas_plugins.space import config_key
    from tuners.hosts.nni_experiment import free_port, run
    config = nni_config(tmp_path, nb201.space().to_nni(), tuner="NaspTAPAS",
                        tuner_args={"store": store, "dcn": 0.3, "seed": 0}, trials=3, concurrency=1)
    exp, records, status = run(config, port=free_port(), timeout=240)
    assert status == "DONE" and [r.status for r in records] == ["SUCCEEDED"] * 3
    ranking = registry.create("tapas", nb201.space(), store=store, dcn=0.3, seed=0).ranking(3)
    assert [config_key(r.parameters) for r in records] == [config_key(c) for c, _ in ranking]
