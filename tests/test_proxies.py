"""Zero-cost proxies (``nas_plugins.proxies``) on real NB201 networks from our builder, and the
``ProxyFilter`` wrapper (``nas_plugins.proxy_filter``) around random search and evolution.

Networks are NB201 cells at small sizes (``C=8, N=1``) so that the file stays fast on a CPU; one
check uses the benchmark's size (``C=16, N=5``).
"""
from __future__ import annotations

import functools
import math
import pickle

import pytest
import torch

from conftest import ask_tell, keys

from nas_plugins import proxies
from nas_plugins.proxies import NEEDS_LABELS, PROXIES, image_batch, naswot, score, synflow
from nas_plugins.proxy_filter import PROXY_NAMES, ProxyFilter
from nas_plugins.space import Space, config_key
from nas_plugins.spaces import mini201, nb201
from nas_plugins.strategy import SpaceExhausted
from tuners import registry
from tuners.evolution import RegularizedEvolution as Evolution
from tuners.random_search import RandomSearch

ARCHS = {
    "resnet-like": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "mixed": "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "one-conv": "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|",
}
NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
SHAPE = (3, 32, 32)
torch.set_num_threads(1)     # as the other torch test files: threads fight over a busy CPU


def net(arch: str, seed: int = 0, **sizes) -> torch.nn.Module:
    torch.manual_seed(seed)
    return nb201.build(nb201.from_arch_string(arch), **{"C": 8, "N": 1, **sizes})


@functools.cache
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    return image_batch(16, SHAPE, seed=0)


def data_for(name: str):
    return batch() if PROXIES[name][1] else SHAPE


def snapshot(model: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ============================================================================= the proxies

def test_registry_lists_every_proxy():
    assert set(PROXIES) == set(PROXY_NAMES) == {"synflow", "naswot", "zen", "grad_norm", "snip", "jacob_cov",
                                                "params", "flops"}
    assert {n for n, (_, needs_data) in PROXIES.items() if needs_data} == {"naswot", "grad_norm", "snip", "jacob_cov"}
    assert NEEDS_LABELS == {"grad_norm", "snip"}
    with pytest.raises(ValueError, match="unknown proxy 'synflw'; proxies: synflow, naswot"):
        score("synflw", net(ARCHS["mixed"]))


@pytest.mark.parametrize("name", list(PROXIES))
def test_proxy_is_finite_deterministic_and_leaves_the_model_alone(name):
    fn = PROXIES[name][0]
    for arch in ARCHS.values():
        for training in (True, False):
            model = net(arch).train(training)
            before = snapshot(model)
            first = fn(model, data_for(name), seed=3)
            assert math.isfinite(first), (name, arch)
            assert fn(model, data_for(name), seed=3) == first               # same seed, same score
            assert model.training is training                              # mode restored
            after = snapshot(model)
            assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
            assert all(p.grad is None for p in model.parameters())         # no gradients left behind
            assert all(p.requires_grad for p in model.parameters())


def test_the_rng_of_the_caller_is_untouched_and_seeds_matter_where_they_should():
    model = net(ARCHS["mixed"])
    state = torch.get_rng_state()
    PROXIES["zen"][0](model, SHAPE, seed=0)
    assert torch.equal(state, torch.get_rng_state())
    assert PROXIES["zen"][0](model, SHAPE, seed=0) != PROXIES["zen"][0](model, SHAPE, seed=1)   # Gaussian weights, inputs
    assert PROXIES["synflow"][0](model, SHAPE, seed=0) == PROXIES["synflow"][0](model, SHAPE, seed=1)  # no randomness


def test_synflow_ranks_wider_above_narrower_and_the_empty_cell_lowest():
    arch = ARCHS["resnet-like"]
    assert score("synflow", net(arch, C=16)) > score("synflow", net(arch, C=8))
    assert score("synflow", net(arch, N=2)) > score("synflow", net(arch, N=1))
    rng = torch.Generator().manual_seed(0)
    sampled = ["|" + "|+|".join("|".join(f"{nb201.OPS[int(torch.randint(1, 5, (), generator=rng))]}~{i}"
                                         for i in range(to)) for to in (1, 2, 3)) + "|" for _ in range(5)]
    scores = {a: score("synflow", net(a)) for a in [NONE, *ARCHS.values(), *sampled]}
    assert min(scores, key=scores.get) == NONE and scores[NONE] == 0.0    # the cells cut the input off
    assert all(s > 0 for a, s in scores.items() if a != NONE)


def test_synflow_stays_finite_at_the_benchmark_size():
    model = net(ARCHS["resnet-like"], C=16, N=5)
    value = score("synflow", model)
    assert math.isfinite(value) and value > 1e30      # float32 would have lost it


def test_baselines_match_the_analytic_counts():
    for arch in ARCHS.values():
        cfg = nb201.from_arch_string(arch)
        model = net(arch)
        assert score("params", model) == nb201.params(cfg, C=8, N=1)
        assert score("flops", model, SHAPE) == nb201.flops(cfg, 32, C=8, N=1)
        assert score("flops", model, (5, *SHAPE)) == score("flops", model, torch.zeros(2, *SHAPE))   # per image


def test_data_arguments():
    model = net(ARCHS["mixed"])
    x, y = batch()
    assert score("naswot", model, x) == score("naswot", model, (x, y))                 # labels unused
    assert math.isfinite(score("grad_norm", model, SHAPE))                             # the embedded digits
    with pytest.raises(ValueError, match="needs labels"):
        score("snip", model, x)
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.4"):
        score("grad_norm", nb201.build(nb201.from_arch_string(ARCHS["mixed"]), 5, C=8, N=1), (x, y))
    with pytest.raises(TypeError, match="input shape, a tensor x or a pair"):
        score("synflow", model, "cifar")
    assert score("naswot", net(NONE), x) == -math.inf          # every input gets the same activation code


def test_image_batch_is_embedded_and_seeded():
    x, y = image_batch(10, (1, 8, 8), seed=2)
    assert x.shape == (10, 1, 8, 8) and y.min() >= 0 and y.max() <= 9
    assert torch.equal(x, image_batch(10, (1, 8, 8), seed=2)[0])
    assert not torch.equal(x, image_batch(10, (1, 8, 8), seed=3)[0])
    fx, fy = image_batch(4, (3, 16, 16), seed=0, source="fake")
    assert fx.shape == (4, 3, 16, 16) and torch.equal(fx, image_batch(4, (3, 16, 16), seed=0, source="fake")[0])
    with pytest.raises(ValueError, match="unknown image source 'cifar'"):
        image_batch(4, source="cifar")


# ============================================================================= ProxyFilter

SMALL = nb201.space()
BUILD = functools.partial(nb201.build, C=8, N=1)


def objective(config: dict) -> float:
    return sum(v == "nor_conv_3x3" for v in config.values()) / 6.0


def run(strategy, n: int) -> list[dict]:
    return ask_tell(strategy, objective, n)


@pytest.mark.parametrize("inner", [RandomSearch, functools.partial(Evolution, population_size=8, sample_size=3,
                                                                   n_init=3)], ids=["random", "evolution"])
def test_filter_keeps_the_best_of_each_round_and_the_inner_history_consistent(inner):
    s = ProxyFilter(inner(SMALL, seed=0), "synflow", BUILD, candidates=4, top_k=2)
    proposed = run(s, 6)
    assert len(s.skipped) == 6 and len(s.inner.history) == 12        # 3 rounds: 4 asked, 2 sent, 2 skipped
    assert len(set(keys(proposed + [c for c, _ in s.skipped]))) == 12
    # each round: the two sent configurations outscore the two skipped ones
    for r in range(3):
        sent = [s.scores[config_key(c)] for c in proposed[2 * r:2 * r + 2]]
        lost = [v for _, v in s.skipped[2 * r:2 * r + 2]]
        assert sent[0] >= sent[1] >= max(lost)
    told = {config_key(o.config): o.value for o in s.inner.history}
    assert all(told[config_key(c)] is None for c, _ in s.skipped)        # skipped: failures inside
    assert all(told[config_key(c)] == objective(c) for c in proposed)     # results passed on unchanged
    assert [o.config for o in s.history] == proposed and s.best.value == max(map(objective, proposed))
    assert all(s.was_seen(c) and s.inner.was_seen(c) for c, _ in s.skipped)


@pytest.mark.parametrize("tuner", ["random", "evolution"])
def test_same_seed_same_proposals_through_the_registry(tuner):
    def make(seed):
        return registry.create(tuner, SMALL, seed=seed, proxy="synflow", proxy_build=BUILD, proxy_candidates=3)
    first = run(make(5), 5)
    assert first == run(make(5), 5)
    assert first != run(make(6), 5)


def test_filter_on_a_finite_space_exhausts_after_the_kept_share():
    space = Space.from_nni({k: {"_type": "choice", "_value": ["none", "nor_conv_3x3", "avg_pool_3x3"]}
                            for k in nb201.EDGE_KEYS[:3]} | {k: {"_type": "choice", "_value": ["skip_connect"]}
                                                            for k in nb201.EDGE_KEYS[3:]})   # 27 cells
    s = ProxyFilter(RandomSearch(space, seed=0), "params", BUILD, candidates=3, top_k=1)
    proposed = []
    with pytest.raises(SpaceExhausted):
        while True:
            proposed.append(s.ask())
    assert len(proposed) == 9 and len(s.skipped) == 18 and len(s.inner.history) == 18


def test_data_proxy_mini201_space_name_and_pickling():
    s = registry.create("random", mini201.space(), seed=1, proxy="naswot", proxy_build="mini201",
                        proxy_candidates=3, proxy_top_k=1)
    assert isinstance(s, ProxyFilter) and s.input_shape == (1, 8, 8) and s.name == "random"
    first = s.ask()
    clone = pickle.loads(pickle.dumps(s))                 # NNI checkpoints the strategy after every change
    assert run(clone, 2) == run(s, 2)
    assert math.isfinite(s.proxy_score(first)) and s.proxy_seconds > 0


def test_filter_outside_the_cost_constraint():
    s = registry.create("random", SMALL, seed=0, cost=nb201.params, max_cost=8e5, proxy="synflow",
                        proxy_build=BUILD, proxy_candidates=3)
    assert type(s).__name__ == "ProxyFilter" and type(s.inner).__name__ == "Constrained"
    assert all(nb201.params(c) <= 8e5 for c in run(s, 3))
    assert s.pareto_front()                                # the inner wrapper's methods are reachable


@pytest.mark.parametrize("options, message", [
    ({"proxy": "synflw", "proxy_build": "nb201"}, "unknown proxy 'synflw'"),
    ({"proxy": "synflow"}, "proxy needs the proxy_build option"),
    ({"proxy_build": "nb201"}, "proxy_build needs the proxy option"),
    ({"proxy": "synflow", "proxy_build": "nb202"}, "proxy_build 'nb202': not a NAS space"),
    ({"proxy": "synflow", "proxy_build": "nas_plugins.spaces.nb201:bild"}, "cannot import it"),
    ({"proxy": "synflow", "proxy_build": "nb201", "proxy_candidates": 0}, "proxy_candidates must be a positive"),
    ({"proxy": "synflow", "proxy_build": "nb201", "proxy_candidates": 2, "proxy_top_k": 3},
     r"proxy_top_k \(3\) must not exceed proxy_candidates \(2\)"),
])
def test_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        registry.create("evolution", None, seed=0, **options)


def test_multi_fidelity_strategies_take_the_proxy_through_their_searcher():
    assert "proxy" not in registry.option_names(registry.get("hyperband").cls)
    assert "proxy" in registry.option_names(registry.get("weaknas").cls)
    with pytest.raises(ValueError, match="unknown option 'proxy' for 'asha'"):
        registry.create("asha", SMALL, proxy="synflow", proxy_build="nb201")
    hb = registry.create("hyperband", mini201.space(), seed=0, R=3, searcher="evolution",
                         searcher_options={"proxy": "params", "proxy_build": "mini201", "proxy_candidates": 2})
    assert hb.searchers and all(isinstance(s, ProxyFilter) for s in hb.searchers.values())
    configs = [hb.ask() for _ in range(3)]
    assert all(mini201.space().contains({k: v for k, v in c.items() if k != "epochs"}) for c in configs)


def test_nni_class_args_name_the_space():
    """Under NNI the builder is a string (YAML holds no callables): a space name or a module path."""
    from tuners.hosts.nni_host import build_options
    options = build_options("NaspEvolution", {"optimize_mode": "maximize", "proxy": "synflow", "proxy_build": "nb201",
                                              "proxy_candidates": 8})
    assert options == {"proxy": "synflow", "proxy_build": "nb201", "proxy_candidates": 8, "mode": "max"}
    assert build_options("NaspRandom", {"proxy": "params", "proxy_build": "nas_plugins.spaces.darts:build"})
    with pytest.raises(ValueError, match="NaspBO classArgs: unknown proxy 'synflw'"):
        build_options("NaspBO", {"proxy": "synflw", "proxy_build": "nb201"})


def tiny() -> torch.nn.Module:
    """Linear(2, 2) -> ReLU -> Linear(2, 2), no biases, weights W1 = [[1, -2], [3, 4]], W2 = [[0.5, -1], [1, 0]]."""
    net = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False), torch.nn.ReLU(), torch.nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -2.0], [3.0, 4.0]]))
        net[2].weight.copy_(torch.tensor([[0.5, -1.0], [1.0, 0.0]]))
    return net


def test_each_proxy_on_a_tiny_net_against_its_hand_computed_value():
    net = tiny()
    # synflow: |W1| = [[1, 2], [3, 4]], |W2| = [[.5, 1], [1, 0]], input (1, 1): h = (3, 7), R = 1.5 * 3 + 1 * 7 = 11.5
    # (u = |W2|'s column sums = (1.5, 1)); sum |W2 * dR/dW2| = sum_kj |W2|kj h_j = R; sum |W1 * dR/dW1| =
    # sum_ij u_i |W1|ij = 1.5 * 3 + 1 * 7 = R: two layers, each carrying the whole flow.
    assert synflow(net, (2,)) == pytest.approx(23.0)
    # synflow is data-free: any batch of any content gives the score of its shape.
    assert synflow(net, torch.randn(5, 2)) == synflow(net, (torch.zeros(3, 2), torch.zeros(3))) == synflow(net, (2,))
    assert proxies.params(net) == 8.0 and proxies.flops(net, (2,)) == 8.0          # 4 + 4 multiply-adds
    # grad_norm and snip on x = (1, 0), y = 0: h = W1 x = (1, 3) (ReLU passes both), out = W2 h = (-2.5, 1);
    # dL/dout = softmax - onehot = (-q, q) with q = 1 - 1 / (1 + e^3.5);
    # dL/dW2 = dout h^T = q [[-1, -3], [1, 3]]; dL/dh = W2^T dout = q (0.5, 1); dL/dW1 = dL/dh x^T = q [[0.5, 0], [1, 0]].
    x, y = torch.tensor([[1.0, 0.0]]), torch.tensor([0])
    q = 1 - 1 / (1 + math.exp(3.5))
    assert proxies.grad_norm(net, (x, y)) == pytest.approx(q * (math.sqrt(1.25) + math.sqrt(20)), rel=1e-6)
    # snip: sum |W * dL/dW| = q (0.5 + 3 + 1 + 0) + q (0.5 + 0 + 3 + 0) = 8 q
    assert proxies.snip(net, (x, y)) == pytest.approx(8 * q, rel=1e-6)
    # naswot on x1 = (1, 0), x2 = (0, 1), x3 = (-1, 0): the ReLU's inputs (1, 3), (-2, 4), (-1, -3) give the
    # codes 11, 01, 00; K counts agreeing units: [[2, 1, 0], [1, 2, 1], [0, 1, 2]], det 4.
    xs = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    assert naswot(net, xs) == pytest.approx(math.log(4.0))
    # jacob_cov on x1 = (1, 0), x2 = (0, 1), x3 = (1, 1): sum(f) = (1.5, -1) . relu(W1 x), so
    # J = W1^T (mask * (1.5, -1)) = (-1.5, -7), (-3, -4), (-3, -4) (masks 11, 01, 01); rows of two unequal
    # entries are perfectly correlated (corr = 1 everywhere): eigenvalues 3, 0, 0.
    xs = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    k = 1e-5
    expected = -sum(math.log(v + k) + 1 / (v + k) for v in (3.0, 0.0, 0.0))
    assert proxies.jacob_cov(net, xs, k=k) == pytest.approx(expected, rel=1e-6)


def test_zen_of_a_linear_net_moves_by_the_log_of_the_perturbation():
    """For a linear network without BatchNorm, f(x) - f(x + g e) = g W e: the Zen-score is log g plus a term
    that does not depend on g (same seed: same weights, inputs and noise)."""
    net = torch.nn.Sequential(torch.nn.Linear(4, 3))
    a = proxies.zen(net, (4,), mixup_gamma=1e-2)
    b = proxies.zen(net, (4,), mixup_gamma=1e-3)
    assert a - b == pytest.approx(math.log(10.0), rel=1e-4)       # float32 forward passes


@pytest.mark.parametrize("names", [
    ["naswot", "jacob_cov", "grad_norm", "snip"],
    ["snip", "naswot", "synflow", "params", "jacob_cov", "flops", "zen", "grad_norm"],
    ["grad_norm", "snip"],
    ["jacob_cov", "naswot"],
    ["naswot", "snip"],
])
def test_scores_shares_passes_and_equals_the_single_proxies_exactly(names):
    from nas_plugins.proxies import scores
    for arch in [*ARCHS.values(), NONE]:
        model = net(arch)
        before = snapshot(model)
        got = scores(names, model, batch(), seed=3)
        assert list(got) == names
        want = {name: score(name, model, batch(), seed=3) for name in names}
        assert got == want, arch                                  # bit for bit, -inf included
        assert all(torch.equal(v, snapshot(model)[k]) for k, v in before.items())
    assert scores(["naswot", "jacob_cov"], net(NONE), batch()) == {"naswot": -math.inf, "jacob_cov": -math.inf}
    with pytest.raises(ValueError, match="unknown proxy 'synflaw'"):
        scores(["synflaw", "snip"], net(NONE), batch())
    with pytest.raises(ValueError, match="needs labels"):
        scores(["grad_norm", "snip"], net(NONE), batch()[0])


def test_analytic_counts_equal_the_built_network_for_every_head_and_input():
    cfg = nb201.from_arch_string(ARCHS["mixed"])
    for classes, size in ((10, 32), (100, 32), (120, 16)):
        model = nb201.build(cfg, classes)                          # the benchmark's size, C=16, N=5
        assert score("params", model) == nb201.params(cfg, classes)
        assert score("flops", model, (3, size, size)) == nb201.flops(cfg, size, classes)
