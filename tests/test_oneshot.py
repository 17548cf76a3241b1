"""One-shot NAS core (nas_plugins.oneshot): supernets over NB201/DARTS, the trainer contract, SPOS, DARTS.

Tiny sizes only (C=2, 8x8 inputs, batches of 4): every test runs in a few seconds on one thread.
"""
from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from nas_plugins.oneshot import (SUPERNETS, TRAINERS, MixedOp, NB201Supernet, OneShotTrainer, create_supernet,
                                 create_trainer)
from nas_plugins.space import SearchSpaceError
from nas_plugins.spaces import darts, nb201

torch.set_num_threads(1)

SIZES = {"nb201": {"C": 2, "N": 1}, "mini201": {"C": 2, "N": 1, "in_channels": 3}, "darts": {"C": 2, "layers": 3}}
# Options that make each method's step exercise its full machinery.
METHOD_OPTIONS = {"spos": {}, "darts": {"order": 2}}


@pytest.fixture(scope="session", autouse=True)
def nni_ready():
    """Overrides the conftest fixture: these tests start no NNI experiment (skip registering with NNI)."""
    yield


def supernet(space: str = "nb201", seed: int = 0):
    return create_supernet(space, seed=seed, **SIZES[space])


def batch(seed: int, n: int = 4, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 8, 8, generator=g, dtype=dtype), torch.randint(0, 10, (n,), generator=g)


def params_of(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def same(a, b) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


# ----------------------------------------------------------------------------- supernets

def test_mixed_op_one_hot_weights_equal_the_chosen_op():
    torch.manual_seed(0)
    op = MixedOp([nb201._make_op(name, 3) for name in nb201.OPS]).eval()
    x = torch.randn(2, 3, 5, 5)
    for i in range(len(nb201.OPS)):
        logits = torch.full((len(nb201.OPS),), -100.0)
        logits[i] = 100.0
        chosen = op.candidates[i](x)
        assert torch.allclose(op(x, torch.softmax(logits, 0)), chosen, atol=1e-6)
        assert torch.equal(op(x, index=i), chosen)
    with pytest.raises(ValueError, match="weights or the index"):
        op(x)


def one_hot_logits(net, arch: dict) -> None:
    """Set the architecture parameters to +-100 logits selecting ``arch`` ('none' on every other DARTS edge)."""
    with torch.no_grad():
        for alpha in net.arch_parameters():
            alpha.fill_(-100.0)
        if isinstance(net, NB201Supernet):
            for e, key in enumerate(nb201.EDGE_KEYS):
                net.alpha[e, net.ops.index(arch[key])] = 100.0
            return
        slots = [(src, node) for node in darts.NODES for src in range(node)]
        for cell, alpha in zip(darts.CELLS, net.arch_parameters()):
            alpha[:, darts.OPS.index("none")] = 100.0
            for i, (op, src) in enumerate(getattr(darts.genotype(arch), cell)):
                row = slots.index((src, darts.NODES[i // 2]))
                alpha[row] = -100.0
                alpha[row, darts.OPS.index(op)] = 100.0


def derivable(arch: dict) -> dict:
    """``arch`` made one the DARTS relaxation can express and export derive: the two edges of each node
    read different states (one mixed op per (state, node) pair) and no op is 'none' (never exported)."""
    arch = {k: "max_pool_3x3" if v == "none" else v for k, v in arch.items()}
    for cell in darts.CELLS:
        for node in darts.NODES:
            in0, in1 = darts._key(cell, node, "in", 0), darts._key(cell, node, "in", 1)
            if arch[in0] == arch[in1]:
                arch[in1] = 0 if arch[in0] else 1
    return arch


@pytest.mark.parametrize("space", SUPERNETS)
def test_relaxation_with_one_hot_logits_equals_single_path_and_stand_alone_network(space):
    net = supernet(space).eval()
    module = net.space_module
    x = batch(0)[0]
    for seed in range(2):
        arch = net.sample_arch(np.random.default_rng(seed))
        if space == "darts":
            arch = derivable(arch)
        one_hot_logits(net, arch)
        path = net(x, arch)
        assert torch.allclose(net(x), path, atol=1e-5)
        exported = net.export()
        if space != "darts":
            assert exported == arch
        else:                        # the same edges; export orders a node's two edges by strength
            assert {cell: sorted(getattr(darts.genotype(exported), cell)) for cell in darts.CELLS} == \
                {cell: sorted(getattr(darts.genotype(arch), cell)) for cell in darts.CELLS}
        standalone = net.extract(arch).eval()     # the space's builder, with the path's weights
        assert type(standalone) is type(module.build(arch, 10, **net.sizes))
        assert torch.equal(standalone(x), path)


@pytest.mark.parametrize("space", SUPERNETS)
def test_export_lies_in_the_space_and_builds(space):
    net = supernet(space)
    with torch.no_grad():
        for alpha in net.arch_parameters():
            alpha.normal_(generator=torch.Generator().manual_seed(1))
    arch = net.export()
    module = net.space_module
    assert module.space().contains(arch)
    model = module.build(arch, 10, **net.sizes)
    assert model(batch(0)[0]).shape == (4, 10)
    assert module.params(arch, 10, **net.sizes) == sum(p.numel() for p in model.parameters())


def test_darts_export_takes_the_two_strongest_non_none_edges():
    net = supernet("darts")
    none = darts.OPS.index("none")
    with torch.no_grad():
        net.alpha_normal.zero_()
        net.alpha_normal[:, none] = 50.0           # 'none' dominates everywhere but is never chosen
        # node 5 reads states 0..4 through edges 9..13: make state 3 (sep_conv_5x5) then 1 (max_pool) strongest
        net.alpha_normal[12, darts.OPS.index("sep_conv_5x5")] = 49.0
        net.alpha_normal[10, darts.OPS.index("max_pool_3x3")] = 48.0
    arch = net.export()
    assert (arch["normal_n5_in0"], arch["normal_n5_op0"]) == (3, "sep_conv_5x5")
    assert (arch["normal_n5_in1"], arch["normal_n5_op1"]) == (1, "max_pool_3x3")
    assert "none" not in {arch[k] for k in arch if "_op" in k}
    assert darts.space().contains(arch)


def test_parameters_are_split_into_arch_and_weights():
    for space in SUPERNETS:
        net = supernet(space)
        arch, weights = net.arch_parameters(), net.weight_parameters()
        assert {id(p) for p in arch}.isdisjoint(id(p) for p in weights)
        assert len(arch) + len(weights) == len(list(net.parameters()))
        assert all(a.shape[-1] == len(net.space_module.OPS) for a in arch)


def test_same_seed_same_supernet_and_global_rng_untouched():
    state = torch.random.get_rng_state()
    a, b = supernet("darts", seed=3), supernet("darts", seed=3)
    assert torch.equal(state, torch.random.get_rng_state())
    assert same(params_of(a), params_of(b))
    assert not same(params_of(a), params_of(supernet("darts", seed=4)))


def test_malformed_arch_gets_a_precise_error():
    net = supernet("nb201")
    arch = net.export()
    x = batch(0)[0]
    missing = {k: v for k, v in arch.items() if k != "edge_2_1"}
    with pytest.raises(SearchSpaceError, match="'edge_2_1': missing"):
        net(x, missing)
    with pytest.raises(ValueError, match="'edge_3_0': 'conv_7x7' is outside"):
        net(x, {**arch, "edge_3_0": "conv_7x7"})
    d = supernet("darts")
    with pytest.raises(SearchSpaceError, match="'normal_n3_in1': 3 is outside"):   # node 3 reads states 0..2
        d(x, {**d.export(), "normal_n3_in1": 3})
    trainer = create_trainer("spos", net)
    with pytest.raises(SearchSpaceError, match="'edge_1_0': missing"):
        trainer.estimate({}, [batch(0)])
    with pytest.raises(ValueError, match="no supernet for space 'mobilenet'"):
        create_supernet("mobilenet")


# ----------------------------------------------------------------------------- registry and contract

def test_unknown_method_and_option_get_precise_errors():
    with pytest.raises(ValueError, match=r"unknown one-shot method 'enas'; known: darts, spos"):
        create_trainer("enas", supernet())
    with pytest.raises(ValueError, match=r"unknown option 'order' for one-shot method 'spos'; accepted: lr, "):
        create_trainer("spos", supernet(), order=2)
    with pytest.raises(ValueError, match="'order' must be 1 .* or 2"):
        create_trainer("darts", supernet(), order=3)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        create_trainer("darts", supernet(), seed=-1)


def run_steps(trainer: OneShotTrainer, start: int, n: int) -> list[dict]:
    return [trainer.step(batch(2 * i), batch(2 * i + 1)) for i in range(start, start + n)]


@pytest.mark.parametrize("method", TRAINERS)
def test_contract(method):
    trainer = create_trainer(method, supernet(), seed=0, **METHOD_OPTIONS[method])
    assert isinstance(trainer, OneShotTrainer) and trainer.name == method
    losses = run_steps(trainer, 0, 2)[-1]
    assert losses and all(isinstance(v, float) and np.isfinite(v) for v in losses.values())
    arch = trainer.export()
    assert nb201.space().contains(arch)
    acc = trainer.estimate(arch, [batch(10), batch(11)])
    assert 0.0 <= acc <= 1.0 and acc * 8 == int(acc * 8)
    assert trainer.supernet.training                      # estimate restores the mode


@pytest.mark.parametrize("method", TRAINERS)
@pytest.mark.parametrize("space", SUPERNETS)
def test_checkpoint_and_resume_give_the_identical_next_step(method, space):
    options = {**METHOD_OPTIONS[method], "total_steps": 5}
    if method == "darts" and space == "darts":
        options["order"] = 1             # second order on the larger DARTS supernet: covered on nb201, slow here
    original = create_trainer(method, supernet(space, seed=0), seed=1, **options)
    run_steps(original, 0, 1)
    buffer = io.BytesIO()
    torch.save(original.state_dict(), buffer)             # through a file, as a real checkpoint
    buffer.seek(0)
    restored = create_trainer(method, supernet(space, seed=9), seed=7, **options)
    restored.load_state_dict(torch.load(buffer, weights_only=False))
    assert restored.steps == original.steps
    assert run_steps(restored, 1, 1) == run_steps(original, 1, 1)
    assert same(params_of(restored.supernet), params_of(original.supernet))
    assert same(list(restored.supernet.buffers()), list(original.supernet.buffers()))
    with pytest.raises(ValueError, match="cannot be loaded"):
        create_trainer("darts" if method == "spos" else "spos", supernet(space)).load_state_dict(original.state_dict())


@pytest.mark.parametrize("method", TRAINERS)
def test_same_seed_same_results(method):
    def trained(seed):
        trainer = create_trainer(method, supernet("nb201", seed=0), seed=seed, **METHOD_OPTIONS[method])
        return run_steps(trainer, 0, 2), params_of(trainer.supernet), trainer.export()
    a, b = trained(0), trained(0)
    assert a[0] == b[0] and same(a[1], b[1]) and a[2] == b[2]
    if method == "spos":                                   # the seed picks the paths
        assert trained(1)[0] != a[0]


# ----------------------------------------------------------------------------- DARTS

def test_darts_arch_step_changes_only_arch_parameters_and_weight_step_only_weights():
    for order in (1, 2):
        trainer = create_trainer("darts", supernet(), order=order, arch_lr=0.1)
        net = trainer.supernet
        weights, arch, buffers = params_of(net), [a.detach().clone() for a in net.arch_parameters()], \
            [b.clone() for b in net.buffers()]
        weight_ids = {id(p) for p in net.weight_parameters()}
        trainer.arch_step(batch(0), batch(1))
        assert same([p.detach() for p in net.weight_parameters()],
                    [w for w, p in zip(weights, net.parameters()) if id(p) in weight_ids])
        assert same(list(net.buffers()), buffers)       # nor the BN statistics
        assert all(not torch.equal(a, b) for a, b in zip(net.arch_parameters(), arch))
        arch = [a.detach().clone() for a in net.arch_parameters()]
        before = [p.detach().clone() for p in net.weight_parameters()]
        trainer.weight_step(batch(0))
        assert same([a.detach() for a in net.arch_parameters()], arch)
        assert not same([p.detach() for p in net.weight_parameters()], before)


def unrolled_val_loss(net: nn.Module, xi: float, train, val) -> callable:
    """alpha -> L_val(w - xi * grad_w L_train(w, alpha), alpha), exactly (autograd through the unrolled step)."""
    weights = {n: p.detach().clone().requires_grad_(True) for n, p in net.named_parameters() if n != "alpha"}

    def loss(params, b):
        return F.cross_entropy(functional_call(net, params, (b[0],)), b[1])

    def f(alpha):
        grads = torch.autograd.grad(loss({**weights, "alpha": alpha}, train), list(weights.values()),
                                    create_graph=True, allow_unused=True)
        unrolled = {n: w if g is None else w - xi * g for (n, w), g in zip(weights.items(), grads)}
        return loss({**unrolled, "alpha": alpha}, val)
    return f


def test_second_order_arch_gradient_matches_finite_differences():
    net = NB201Supernet(C=2, N=1, seed=0).double().train()
    with torch.no_grad():
        net.alpha.normal_(generator=torch.Generator().manual_seed(0))
    train, val = batch(0, dtype=torch.float64), batch(1, dtype=torch.float64)
    xi = 0.5
    second, _ = create_trainer("darts", net, order=2, xi=xi, fd_radius=1e-6).arch_gradient(train, val)
    first, _ = create_trainer("darts", net, order=1).arch_gradient(train, val)
    f = unrolled_val_loss(net, xi, train, val)
    alpha0, h = net.alpha.detach().clone(), 1e-5
    for i, j in [(0, 3), (2, 1), (5, 4), (3, 0)]:
        step = torch.zeros_like(alpha0)
        step[i, j] = h
        numeric = (f(alpha0 + step).item() - f(alpha0 - step).item()) / (2 * h)
        assert second[0][i, j].item() == pytest.approx(numeric, rel=1e-4, abs=1e-7)
    # ... and agrees with the exact gradient (autograd through the unrolled step) on every entry
    alpha = alpha0.clone().requires_grad_(True)
    exact = torch.autograd.grad(f(alpha), alpha)[0]
    assert torch.allclose(second[0], exact, rtol=1e-4, atol=1e-7)
    assert not torch.allclose(first[0], exact, rtol=1e-2, atol=1e-3)     # the second-order term matters here
    assert torch.equal(net.alpha, alpha0)                                  # nothing was changed


def test_darts_val_batch_is_required():
    with pytest.raises(ValueError, match="validation batch"):
        create_trainer("darts", supernet()).step(batch(0))


# ----------------------------------------------------------------------------- SPOS

@pytest.mark.parametrize("space", SUPERNETS)
def test_spos_samples_every_option_uniformly(space):
    from scipy.stats import chisquare
    trainer = create_trainer("spos", supernet(space), seed=0)
    net = trainer.supernet
    draws = [net.sample_arch(trainer.rng) for _ in range(2000)]
    for name in ("edge_2_1", "edge_3_0") if space != "darts" else ("normal_n5_op1", "reduce_n4_in0"):
        options = net.space_module.SEARCH_SPACE[name]["_value"]
        counts = [sum(d[name] == o for d in draws) for o in options]
        assert chisquare(counts).pvalue > 0.001, (name, counts)
    assert all(net.search_space.contains(d) for d in draws[:50])


def test_spos_step_trains_the_sampled_path_only():
    trainer = create_trainer("spos", supernet(), seed=0, weight_decay=0.0, momentum=0.0)
    net = trainer.supernet
    trained_candidates = 0
    for i in range(6):
        before = {n: p.detach().clone() for n, p in net.named_parameters()}
        trainer.step(batch(i), None)
        arch = trainer.last_arch
        changed = {n for n, p in net.named_parameters() if not torch.equal(p, before[n])}
        assert "alpha" not in changed and "classifier.weight" in changed
        for name in changed:
            if ".candidates." in name:                     # cells.K.edges.E.candidates.O....
                parts = name.split(".")
                assert nb201.OPS[int(parts[5])] == arch[nb201.EDGE_KEYS[int(parts[3])]]
                trained_candidates += 1
    assert trained_candidates > 0


def test_bn_recalibration_resets_and_reestimates_statistics():
    trainer = create_trainer("spos", supernet(), seed=0)
    arch = trainer.supernet.export()
    data = [batch(0), batch(1)]
    trainer.recalibrate_bn(arch, data)
    stem_bn = trainer.supernet.stem[1]
    assert int(stem_bn.num_batches_tracked) == 2
    with torch.no_grad():
        pre = trainer.supernet.stem[0](torch.cat([data[0][0], data[1][0]]))
    assert torch.allclose(stem_bn.running_mean, pre.mean(dim=(0, 2, 3)), atol=1e-5)
    assert trainer.supernet.training


def test_spos_search_with_evolution_returns_an_arch_in_the_space():
    from tuners import registry

    def search(seed):
        trainer = create_trainer("spos", supernet(seed=0), seed=seed)
        run_steps(trainer, 0, 3)
        state = copy.deepcopy(trainer.supernet.state_dict())
        strategy = registry.create("evolution", nb201.space(), seed=seed, n_init=3, population_size=4, sample_size=2)
        result = trainer.search(strategy, [batch(20)], budget=6, bn_recalibration_data=[batch(21)])
        after = trainer.supernet.state_dict()
        assert all(torch.equal(state[k], after[k]) for k in state)       # search leaves the supernet as it was
        return result, strategy
    result, strategy = search(0)
    assert nb201.space().contains(result.best)
    assert len(result.history) == 6 and len(strategy.history) == 6
    assert result.best in [a for a, _ in result.history]
    assert max(acc for _, acc in result.history) == dict((str(a), v) for a, v in result.history)[str(result.best)]
    again, _ = search(0)
    assert again == result


def test_spos_search_checks_its_arguments():
    from tuners import registry
    trainer = create_trainer("spos", supernet())
    with pytest.raises(ValueError, match="mode='max'"):
        trainer.search(registry.create("random", nb201.space(), mode="min"), [batch(0)], 2)
    with pytest.raises(ValueError, match="not the supernet's"):
        trainer.search(registry.create("random", darts.space()), [batch(0)], 2)
    with pytest.raises(ValueError, match="budget must be a positive integer"):
        trainer.search(registry.create("random", nb201.space()), [batch(0)], 0)
