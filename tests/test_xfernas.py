"""XferNAS (``xfernas`` / ``NaspXferNAS`` / ``nasp_xfernas``) warm-started from a metadata store of the
NB201 table (300 architectures per data set). The ask/tell contract (no store: a cold search) is in
test_contract.py."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from conftest import ask_tell

from nas_plugins.lcbench import benchmarks_dir
from nas_plugins.space import Space
from nas_plugins.spaces import nb201
from nas_plugins.store import MetadataStore
from nas_plugins.transfer import StoreSpaceError
from tuners import registry
from tuners.hosts.nni_host import build_options
from tuners.xfernas import XferNAS

NB201_FILE = benchmarks_dir() / "nb201.csv.gz"
pytestmark = pytest.mark.skipif(not NB201_FILE.is_file(), reason="NB201 table not found ($NASP_BENCHMARKS)")
ROWS = 300
TARGET = "nb201/imagenet16"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("xfer") / "meta.sqlite"
    with MetadataStore(path) as db:
        db.import_nb201(NB201_FILE, datasets=["cifar10", "cifar100", "imagenet16"], limit=ROWS)
    return str(path)


@pytest.fixture(scope="module")
def imagenet():
    frame = nb201.table(NB201_FILE).frame
    return dict(zip(frame["arch"], frame["imagenet16_val_acc"]))


def accuracy(imagenet, config):
    return imagenet[nb201.to_arch_string(config)]


def test_warm_first_proposals_are_g_u_best_and_far_above_random(store, imagenet):
    s = registry.create("xfernas", nb201.space(), store=store, source_tasks=["nb201/cifar10", "nb201/cifar100"],
                        seed=0)
    assert [t.name for t in s.sources] == ["nb201/cifar10", "nb201/cifar100"]
    first = [s.ask() for _ in range(3)]                      # no results yet: g_u's best three, in order
    g = s.universal(first)
    assert list(g) == sorted(g, reverse=True)
    grid = [nb201.space().grid_config(i, None) for i in range(nb201.space().size)]
    assert g[0] == pytest.approx(s.universal(grid).max())
    values = np.array(list(imagenet.values()))
    assert accuracy(imagenet, first[0]) > np.quantile(values, 0.95) > np.median(values) + 5


def test_all_tasks_but_the_target_and_same_seed_same_proposals(store, imagenet):
    def run(seed):
        s = registry.create("xfernas", nb201.space(), store=store, target_task=TARGET, seed=seed)
        return s, ask_tell(s, lambda c: accuracy(imagenet, c), 8)

    s, first = run(3)
    assert [t.name for t in s.sources] == ["nb201/cifar10", "nb201/cifar100"]      # not the target
    assert run(3)[1] == first
    # The residual model took over after two results: the transfer slope is fitted (the tasks agree).
    configs = [o.config for o in s.history]
    z = np.array([o.value for o in s.history])
    a, _ = s.transfer_weights(s.universal(configs), (z - z.mean()) / z.std())
    assert a > 0.3
    copy = pickle.loads(pickle.dumps(s))                    # g_u is refitted from the store, the same
    assert ask_tell(copy, lambda c: accuracy(imagenet, c), 3) == ask_tell(s, lambda c: accuracy(imagenet, c), 3)


def test_sources_that_disagree_are_switched_off(store):
    s = registry.create("xfernas", nb201.space(), store=store, target_task=TARGET, seed=0)
    s.ask()
    g = np.linspace(-1, 1, 20)
    assert s.transfer_weights(g, -g)[0] == 0.0              # anti-correlated: cold search
    assert s.transfer_weights(g, g)[0] == pytest.approx(1.0, abs=0.05)
    assert XferNAS(nb201.space(), seed=0).transfer_weights(g, g) == (0.0, 0.0)     # no store


def test_cold_without_a_store_is_a_model_based_search():
    s = XferNAS(nb201.space(), seed=0, n_init=3)
    assert s.n_init == 3 and s.sources == []
    ops = nb201.OPS
    value = lambda c: sum(ops.index(c[k]) for k in nb201.EDGE_KEYS)      # avg_pool everywhere is best
    picked = ask_tell(s, value, 12)
    assert max(value(c) for c in picked[3:]) > max(value(c) for c in picked[:3])
    assert XferNAS(seed=0).n_init == 10 and XferNAS(seed=0, store=None).n_init == 10


def test_an_empty_store_is_the_cold_search(tmp_path, caplog):
    """A store with no task yet (the first experiment of a new store) gives no sources: the same proposals
    as without a store, and a warning says so."""
    path = tmp_path / "new.sqlite"
    MetadataStore(path).close()
    ops = nb201.OPS
    value = lambda c: sum(ops.index(c[k]) for k in nb201.EDGE_KEYS)
    with caplog.at_level("WARNING", logger="nas_plugins.transfer"):
        empty = XferNAS(nb201.space(), store=path, seed=3)
    assert empty.sources == [] and empty.n_init == 10 and "has no task yet: starting cold" in caplog.text
    assert ask_tell(empty, value, 13) == ask_tell(XferNAS(nb201.space(), seed=3), value, 13)


def test_bad_stores_and_tasks(store, tmp_path):
    space = nb201.space()
    with pytest.raises(ValueError, match="no metadata store file there"):
        registry.create("xfernas", space, store=str(tmp_path / "missing.sqlite"))
    (tmp_path / "junk.sqlite").write_bytes(b"not sqlite at all" * 4)
    with pytest.raises(ValueError, match="not an SQLite database"):
        registry.create("xfernas", space, store=str(tmp_path / "junk.sqlite"))
    with pytest.raises(ValueError, match=r"no task 'nb201/svhn'; tasks: nb201/cifar10, nb201/cifar100"):
        registry.create("xfernas", space, store=store, source_tasks=["nb201/svhn"])
    with pytest.raises(ValueError, match="source_tasks needs the store option"):
        registry.create("xfernas", space, source_tasks=["nb201/cifar10"])
    with pytest.raises(ValueError, match="is also a source task"):
        registry.create("xfernas", space, store=store, source_tasks=[TARGET], target_task=TARGET)
    other = tmp_path / "other.sqlite"
    with MetadataStore(other) as db:
        for lr in (0.1, 0.01, 0.001):
            db.add_trial("mlp", {"lr": lr, "units": 64}, 0.9 - lr)
    with pytest.raises(StoreSpaceError, match=r"task 'mlp' is not of this search space: 0 of its 3 successful"):
        registry.create("xfernas", space, store=str(other), source_tasks=["mlp"])
    with pytest.raises(StoreSpaceError, match="no task other than the target 'x' has results in this search space"):
        registry.create("xfernas", space, store=str(other), target_task="x")
    # The space is checked when it arrives (NNI: at the search space update), not when the options are.
    late = registry.create("xfernas", store=str(other), source_tasks=["mlp"])
    with pytest.raises(StoreSpaceError):
        late.set_space(space)
    mlp = Space.from_nni({"lr": {"_type": "choice", "_value": [0.1, 0.01, 0.001]},
                          "units": {"_type": "choice", "_value": [32, 64]}})
    s = registry.create("xfernas", mlp, store=str(other), source_tasks="mlp", seed=0)
    assert s.ask()["lr"] == 0.001                           # the best source result ranks first


def test_hosts_take_the_options(store):
    info = registry.get("NaspXferNAS")
    assert info.name == "xfernas" and registry.get("nasp_xfernas") is info
    options = build_options("xfernas", {"store": store, "source_tasks": ["nb201/cifar10"], "target_task": TARGET,
                                        "optimize_mode": "maximize", "seed": 1})
    assert options["mode"] == "max" and options["source_tasks"] == ["nb201/cifar10"]
    with pytest.raises(ValueError, match="NaspXferNAS classArgs: store .*: no task 'cifar'"):
        build_options("xfernas", {"store": store, "source_tasks": "cifar"})
