"""Tests for the demo dataset (nas_plugins.data) and the cell network (nas_plugins.cells)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from nas_plugins.cells import (DEFAULTS, DEMO_SEARCH_SPACE, EDGE_KEYS, OPS, build_model, count_parameters,
                               expected_parameters, resolve_config, train_and_evaluate)
from nas_plugins.data import load_digits_split
from nas_plugins.space import Space

REPO = Path(__file__).resolve().parents[1]


def arch(num_cells: int = 1, channels: int = 8, ops: tuple[str, str, str] = ("conv3x3", "skip", "conv3x3"),
         **extra: object) -> dict:
    return {"num_cells": num_cells, "channels": channels, **dict(zip(EDGE_KEYS, ops)), **extra}


@pytest.fixture(scope="module")
def digits():
    return load_digits_split()


@pytest.fixture(scope="module")
def small_data(digits):
    """A 300-sample training subset for fast 1-epoch runs (full validation set)."""
    x_tr, y_tr, x_va, y_va = digits
    return x_tr[:300], y_tr[:300], x_va, y_va


# ----------------------------------------------------------------------------- data

def test_digits_split_shapes_and_scaling(digits):
    x_tr, y_tr, x_va, y_va = digits
    assert x_tr.shape == (1347, 1, 8, 8) and x_va.shape == (450, 1, 8, 8)
    assert x_tr.dtype == torch.float32 and y_tr.dtype == torch.int64
    assert y_tr.shape == (1347,) and y_va.shape == (450,)
    assert float(x_tr.min()) == 0.0 and float(x_tr.max()) == 1.0


def test_digits_split_is_stratified_and_deterministic(digits):
    x_tr, y_tr, x_va, y_va = digits
    train_frac = torch.bincount(y_tr, minlength=10).float() / len(y_tr)
    val_frac = torch.bincount(y_va, minlength=10).float() / len(y_va)
    assert torch.allclose(train_frac, val_frac, atol=0.01)
    again = load_digits_split()
    assert all(torch.equal(a, b) for a, b in zip(digits, again))
    other = load_digits_split(seed=1)
    assert not torch.equal(other[1], y_tr)
    assert len(load_digits_split(val_fraction=0.5)[2]) == 899
    with pytest.raises(ValueError, match="val_fraction"):
        load_digits_split(val_fraction=1.0)


def test_digits_split_returns_fresh_tensors():
    x_tr, *_ = load_digits_split()
    x_tr.zero_()
    assert float(load_digits_split()[0].max()) == 1.0


# ----------------------------------------------------------------------------- model

@pytest.mark.parametrize("op", OPS)
def test_every_op_in_every_edge_gives_logits(op):
    for ops in [(op, op, op), (op, "skip", "conv3x3"), ("conv1x1", op, "skip"), ("skip", "none", op)]:
        model = build_model(arch(num_cells=2, channels=8, ops=ops))
        out = model(torch.randn(5, 1, 8, 8))
        assert out.shape == (5, 10)
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("cfg", [
    {},
    arch(1, 8, ("none", "none", "none")),
    arch(3, 64, ("conv3x3", "conv3x3", "conv3x3")),
    arch(2, 16, ("sepconv3x3", "maxpool3x3", "avgpool3x3"), dropout=0.3),
])
@pytest.mark.parametrize("batch", [1, 7])
def test_output_shape(cfg, batch):
    model = build_model(cfg)
    model.eval()  # batch of 1 in eval mode
    assert model(torch.randn(batch, 1, 8, 8)).shape == (batch, 10)
    model.train()
    assert model(torch.randn(batch, 1, 8, 8)).shape == (batch, 10)


def test_num_classes_argument():
    assert build_model(arch(), num_classes=3)(torch.randn(2, 1, 8, 8)).shape == (2, 3)


PARAM_CONFIGS = [
    {},
    arch(1, 8, ("none", "none", "none")),
    arch(1, 8, ("skip", "none", "conv1x1")),
    arch(2, 16, ("conv3x3", "sepconv3x3", "maxpool3x3")),
    arch(3, 32, ("sepconv3x3", "sepconv3x3", "avgpool3x3")),
    arch(3, 64, ("conv3x3", "conv3x3", "conv3x3")),
    arch(2, 12, ("conv1x1", "skip", "conv3x3"), lr=0.1, batch_size=32),
]


@pytest.mark.parametrize("cfg", PARAM_CONFIGS)
def test_expected_parameters_matches_model(cfg):
    assert expected_parameters(cfg) == count_parameters(build_model(cfg))
    assert expected_parameters(cfg, num_classes=4) == count_parameters(build_model(cfg, num_classes=4))


def test_parameter_count_known_value():
    # stem 9*8+2*8 = 88, cell conv1x1 8*8+2*8 = 80, head 8*10+10 = 90
    assert expected_parameters(arch(1, 8, ("skip", "none", "conv1x1"))) == 258


def test_unknown_op_error_names_key_and_lists_ops():
    with pytest.raises(ValueError) as info:
        build_model(arch(ops=("conv3x3", "conv5x5", "skip")))
    message = str(info.value)
    assert "edge_1" in message and "conv5x5" in message
    assert all(op in message for op in OPS)
    with pytest.raises(ValueError, match="edge_0"):
        expected_parameters({"edge_0": None})


def test_defaults_and_extra_keys():
    resolved = resolve_config({"channels": 32.0, "lr": 0.2, "momentum": 0.5, "_name": "x"})
    assert resolved == {**DEFAULTS, "channels": 32, "lr": 0.2}
    assert isinstance(resolved["channels"], int)
    with_hparams = arch(2, 8, lr=0.3, batch_size=32, weight_decay=1e-3, optimizer="adam", foo="bar")
    assert count_parameters(build_model(with_hparams)) == count_parameters(build_model(arch(2, 8)))
    assert count_parameters(build_model({})) == expected_parameters(DEFAULTS)


@pytest.mark.parametrize("key, value", [
    ("num_cells", 0), ("num_cells", 1.5), ("channels", "16"), ("channels", True), ("dropout", 1.0),
    ("dropout", -0.1), ("lr", 0.0), ("lr", float("nan")), ("lr", -1.0), ("weight_decay", float("inf")),
    ("batch_size", 0), ("optimizer", "rmsprop"),
])
def test_invalid_values_raise_naming_the_key(key, value):
    with pytest.raises(ValueError, match=key):
        resolve_config({key: value})


def test_model_is_device_agnostic_and_has_no_buffers_on_other_devices():
    model = build_model(arch(2, 8, ("sepconv3x3", "conv3x3", "maxpool3x3")))
    devices = {t.device for t in [*model.parameters(), *model.buffers()]}
    assert devices == {torch.device("cpu")}
    model = model.to(torch.float64)
    assert model(torch.randn(2, 1, 8, 8, dtype=torch.float64)).dtype == torch.float64


# ----------------------------------------------------------------------------- search space

def test_search_space_file_matches_constant():
    path = REPO / "trial_templates" / "mixed_space.json"
    assert json.loads(path.read_text()) == DEMO_SEARCH_SPACE


def test_search_space_covers_ops_and_hyperparameters():
    assert set(DEMO_SEARCH_SPACE) == set(DEFAULTS)
    for key in EDGE_KEYS:
        assert DEMO_SEARCH_SPACE[key] == {"_type": "choice", "_value": list(OPS)}
    assert DEMO_SEARCH_SPACE["num_cells"]["_type"] == "randint"


def test_sampled_configs_build_and_count():
    space = Space.from_nni(DEMO_SEARCH_SPACE)
    rng = np.random.default_rng(0)
    for _ in range(20):
        cfg = space.sample(rng)
        resolved = resolve_config(cfg)
        assert 1 <= resolved["num_cells"] <= 3
        model = build_model(cfg)
        assert count_parameters(model) == expected_parameters(cfg)
        assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)


# ----------------------------------------------------------------------------- training

def test_training_is_deterministic(small_data):
    cfg = arch(1, 8, ("conv3x3", "skip", "sepconv3x3"), dropout=0.2, lr=0.05, batch_size=32)
    runs = []
    for _ in range(2):
        accs: list[float] = []
        final = train_and_evaluate(cfg, epochs=1, seed=3, data=small_data, report=lambda e, a: accs.append(a))
        runs.append((final, accs))
    assert runs[0] == runs[1]
    other = train_and_evaluate(cfg, epochs=1, seed=4, data=small_data)
    assert isinstance(other, float)


def test_training_leaves_global_state_alone(small_data):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    train_and_evaluate(arch(), epochs=1, data=small_data, threads=1)
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def test_real_training_reaches_high_accuracy(digits):
    cfg = arch(2, 16, ("conv3x3", "skip", "conv3x3"), lr=0.05, batch_size=32, optimizer="sgd", dropout=0.1)
    calls: list[tuple[int, float]] = []
    final = train_and_evaluate(cfg, epochs=3, seed=0, data=digits, report=lambda e, a: calls.append((e, a)))
    assert final > 0.85
    assert [e for e, _ in calls] == [1, 2, 3]
    assert all(0.0 <= a <= 1.0 for _, a in calls)
    assert calls[-1][1] == final


def test_adam_and_default_data():
    calls: list[tuple[int, float]] = []
    final = train_and_evaluate(arch(1, 8, lr=0.01, optimizer="adam", batch_size=128), epochs=2,
                               report=lambda e, a: calls.append((e, a)))
    assert len(calls) == 2 and 0.0 <= final <= 1.0


def test_all_none_network_trains_to_chance(small_data):
    accs: list[float] = []
    final = train_and_evaluate(arch(2, 8, ("none", "none", "none")), epochs=2, data=small_data,
                               report=lambda e, a: accs.append(a))
    assert len(accs) == 2 and all(math.isfinite(a) for a in accs)
    assert 0.0 <= final <= 0.25


def test_huge_lr_raises_floating_point_error(small_data):
    with pytest.raises(FloatingPointError, match=r"lr=1e\+12"):
        train_and_evaluate(arch(1, 8, lr=1e12, optimizer="sgd"), epochs=1, data=small_data)


def test_invalid_training_arguments(small_data):
    with pytest.raises(ValueError, match="epochs"):
        train_and_evaluate(arch(), epochs=0, data=small_data)
    with pytest.raises(ValueError, match="lr"):
        train_and_evaluate(arch(lr=float("nan")), epochs=1, data=small_data)
    with pytest.raises(ValueError, match="threads"):
        train_and_evaluate(arch(), epochs=1, data=small_data, threads=0)


# ----------------------------------------------------------------------------- budgets and checkpoints

def _run(cfg, epochs, data, checkpoint_dir=None, **kwargs):
    calls: list[tuple[int, float]] = []
    final = train_and_evaluate(cfg, epochs=epochs, seed=1, data=data, checkpoint_dir=checkpoint_dir,
                               report=lambda e, a: calls.append((e, a)), **kwargs)
    return final, calls


@pytest.mark.parametrize("max_epochs", [None, 6], ids=["constant-lr", "cosine-over-max_epochs"])
def test_resume_from_checkpoint_matches_straight_run(small_data, tmp_path, max_epochs):
    """Hyperband promotes a config from 2 to 4 epochs: the trial continues the 2-epoch run and ends
    exactly where a 4-epoch run ends (the budget key is not part of the checkpoint's identity)."""
    cfg = arch(1, 8, ("conv3x3", "skip", "sepconv3x3"), dropout=0.2, lr=0.05, batch_size=32)
    straight, straight_calls = _run({**cfg, "epochs": 4}, 4, small_data, tmp_path / "a", max_epochs=max_epochs)
    assert [e for e, _ in straight_calls] == [1, 2, 3, 4]
    two, two_calls = _run({**cfg, "epochs": 2}, 2, small_data, tmp_path / "b", max_epochs=max_epochs)
    assert [e for e, _ in two_calls] == [1, 2]
    assert two_calls == straight_calls[:2]
    four, four_calls = _run({**cfg, "epochs": 4}, 4, small_data, tmp_path / "b", max_epochs=max_epochs)
    assert [e for e, _ in four_calls] == [3, 4]            # only the new epochs are reported
    assert four_calls == straight_calls[2:]
    assert four == straight
    # A smaller (or equal) budget than the checkpoint only evaluates: nothing reported, same model.
    again, again_calls = _run(cfg, 3, small_data, tmp_path / "b", max_epochs=max_epochs)
    assert again_calls == [] and again == straight


def test_checkpoints_are_per_config_seed_and_horizon(small_data, tmp_path):
    cfg = arch(1, 8, lr=0.05, batch_size=64)
    _run(cfg, 1, small_data, tmp_path)
    _run({**cfg, "lr": 0.02}, 1, small_data, tmp_path)
    _run(cfg, 1, small_data, tmp_path, max_epochs=3)
    assert len(list(tmp_path.glob("*.pt"))) == 3
    # Extra keys (a tuner's budget key, unknown keys) do not change the identity.
    _, calls = _run({**cfg, "epochs": 2, "steps": 7}, 2, small_data, tmp_path)
    assert [e for e, _ in calls] == [2] and len(list(tmp_path.glob("*.pt"))) == 3


def test_checkpoint_options_are_checked(small_data, tmp_path):
    with pytest.raises(ValueError, match="max_epochs"):
        train_and_evaluate(arch(), epochs=4, data=small_data, checkpoint_dir=tmp_path, max_epochs=3)
    with pytest.raises(ValueError, match="max_epochs"):
        train_and_evaluate(arch(), epochs=1, data=small_data, max_epochs=0)
    (tmp_path / "junk").mkdir()
    cfg = arch(1, 8)
    _run(cfg, 1, small_data, tmp_path / "junk")
    for f in (tmp_path / "junk").glob("*.pt"):
        f.write_bytes(b"not a checkpoint")
    with pytest.warns(RuntimeWarning, match="unreadable checkpoint"):
        _, calls = _run(cfg, 1, small_data, tmp_path / "junk")
    assert [e for e, _ in calls] == [1]                       # trained from scratch


def test_checkpoints_at_an_fsspec_url_and_a_missing_one_is_reported(small_data):
    """A checkpoint root may be an fsspec URL (memory:// here); a run told it resumes (``resume_from``)
    that finds no checkpoint, or an older one, reports it and trains the missing epochs."""
    from nas_plugins.checkpoints import MissingCheckpointWarning
    cfg = arch(1, 8, lr=0.05, batch_size=64)
    url = "memory://nasp-cells-test/exp"
    _run(cfg, 1, small_data, url)
    _, calls = _run(cfg, 2, small_data, url, resume_from=1)
    assert [e for e, _ in calls] == [2]
    messages: list[str] = []
    _, calls = _run(cfg, 3, small_data, url, resume_from=2, on_missing_checkpoint=messages.append)
    assert [e for e, _ in calls] == [3] and messages == []       # epoch 2 is there
    _, calls = _run(cfg, 5, small_data, url, max_epochs=5, resume_from=3, on_missing_checkpoint=messages.append)
    assert [e for e, _ in calls] == [1, 2, 3, 4, 5]               # another horizon: another checkpoint file
    assert len(messages) == 1 and "trained to epoch 3 before" in messages[0] and "no checkpoint" in messages[0]
    with pytest.warns(MissingCheckpointWarning, match="memory://nasp-cells-test/other"):
        _run(cfg, 2, small_data, "memory://nasp-cells-test/other", resume_from=1)
    with pytest.raises(ValueError, match="resume_from"):
        _run(cfg, 2, small_data, url, resume_from=0)


def test_without_checkpoints_max_epochs_sets_the_cosine_horizon(small_data, tmp_path):
    cfg = arch(1, 8, lr=0.05, batch_size=64)
    plain = train_and_evaluate(cfg, epochs=2, seed=1, data=small_data)
    assert train_and_evaluate(cfg, epochs=2, seed=1, data=small_data, max_epochs=2) == pytest.approx(plain, abs=0.01)
    _, calls = _run(cfg, 2, small_data, None, max_epochs=2)
    _, ckpt_calls = _run(cfg, 2, small_data, tmp_path, max_epochs=2)
    assert calls == ckpt_calls                               # checkpointing itself changes nothing
