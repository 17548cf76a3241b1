"""LCRankNet: the ranking model (training, held-out ranking, persistence) and the NaspLCRankNet assessor."""
from __future__ import annotations

import pickle
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, nni_config

from nas_plugins.lcbench import benchmarks_dir
from nas_plugins.lcranknet import Ranker, TaskCurves, pair_logit
from nas_plugins.space import Space
from tuners import registry
from tuners.lcranknet_stop import LCRankNetStop

SPACE = Space.from_nni({"speed": {"_type": "uniform", "_value": [1, 10]}})
T = 20


def synthetic(n: int, seed: int) -> tuple[list[dict], np.ndarray]:
    """Saturating curves ``a (1 - exp(-t / tau))``: ``a`` is the final level, ``tau`` (the
    configuration's "speed") how slowly it gets there, so early values alone mislead."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.3, 0.95, n)
    tau = rng.uniform(1, 10, n)
    t = np.arange(1, T + 1)
    curves = a[:, None] * (1 - np.exp(-t[None, :] / tau[:, None])) + rng.normal(0, 0.005, (n, T))
    return [{"speed": float(x)} for x in tau], curves


@pytest.fixture(scope="module")
def trained() -> Ranker:
    torch.manual_seed(0)
    ranker = Ranker.new(SPACE, n_tasks=2, max_len=T, seed=0)
    data = [TaskCurves(*synthetic(300, seed)) for seed in (1, 2)]
    ranker.losses = ranker.fit(data, steps=400, batch=128, lr=3e-3)
    ranker.reset_new_task()
    return ranker


def pair_accuracy(scores: np.ndarray, finals: np.ndarray, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    i, j = rng.integers(len(finals), size=(2, 4000))
    keep = finals[i] != finals[j]
    return float(np.mean((scores[i] > scores[j])[keep] == (finals[i] > finals[j])[keep]))


def test_pairwise_loss_decreases(trained):
    losses = trained.losses
    assert np.mean(losses[-50:]) < 0.7 * np.mean(losses[:50])


@pytest.mark.parametrize("length", [3, 6])
def test_ranks_held_out_partial_curves_well_above_chance(trained, length):
    configs, curves = synthetic(400, seed=99)        # a task it never saw, through the new-task slot
    finals = curves[:, -1]
    scores = trained.score([c[:length] for c in curves], configs)
    accuracy = pair_accuracy(scores, finals)
    naive = pair_accuracy(curves[:, length - 1], finals)      # rank by the last value seen
    assert accuracy > 0.8
    assert accuracy > naive + 0.05


def test_save_load_round_trip(trained, tmp_path):
    path = tmp_path / "ranker.pt"
    trained.save(path)
    loaded = Ranker.load(path)
    configs, curves = synthetic(20, seed=5)
    partial = [c[: 1 + k % T] for k, c in enumerate(curves)]
    assert np.allclose(loaded.score(partial, configs), trained.score(partial, configs))
    assert loaded.space == trained.space and loaded.curve_scale == trained.curve_scale


@pytest.fixture(scope="module")
def ensemble() -> Ranker:
    """Three members with learned spreads (the pre-training default)."""
    ranker = Ranker.new(SPACE, n_tasks=2, max_len=T, seed=0, members=3, uncertainty=True)
    ranker.fit([TaskCurves(*synthetic(300, seed)) for seed in (1, 2)], steps=400, batch=128, lr=3e-3)
    ranker.reset_new_task()
    return ranker


def test_ensemble_ranks_held_out_curves_and_averages_member_probabilities(ensemble):
    configs, curves = synthetic(400, seed=99)
    assert pair_accuracy(ensemble.score([c[:3] for c in curves], configs), curves[:, -1]) > 0.8
    mu, spread = ensemble.predict([curves[0][:2], curves[1]], configs[:2])
    assert mu.shape == spread.shape == (3, 2)
    p = ensemble.beat_probability((mu[:, 0], spread[:, 0]), (mu[:, 1], spread[:, 1]))
    members = [1 / (1 + np.exp(-pair_logit(mu[k, 0], spread[k, 0], mu[k, 1], spread[k, 1]))) for k in range(3)]
    assert p == pytest.approx(np.mean(members))
    # Offsets of a member's scores do not matter: each member only compares with itself.
    offsets = np.array([5.0, -3.0, 0.0])
    shifted = ensemble.beat_probability((mu[:, 0] + offsets, spread[:, 0]), (mu[:, 1] + offsets, spread[:, 1]))
    assert shifted == pytest.approx(p)


def test_ensemble_round_trip_and_members_differ(ensemble, tmp_path):
    path = tmp_path / "ensemble.pt"
    ensemble.save(path)
    loaded = Ranker.load(path)
    assert len(loaded.models) == 3 and loaded.model.uncertainty
    configs, curves = synthetic(20, seed=5)
    partial = [c[: 1 + k % T] for k, c in enumerate(curves)]
    for a, b in zip(loaded.predict(partial, configs), ensemble.predict(partial, configs)):
        assert np.allclose(a, b)
    one = Ranker(ensemble.models[0], SPACE)
    assert not np.allclose(one.score(partial, configs), Ranker(ensemble.models[1], SPACE).score(partial, configs))


def test_single_network_files_of_format_1_still_load(trained, tmp_path):
    blob_path = tmp_path / "v1.pt"
    trained.save(blob_path)
    blob = torch.load(blob_path, weights_only=True)
    blob.update(format="nas-plugins/lcranknet/1", state=blob.pop("states")[0])
    blob["model"].pop("uncertainty")
    torch.save(blob, blob_path)
    configs, curves = synthetic(5, seed=6)
    assert np.allclose(Ranker.load(blob_path).score(list(curves), configs), trained.score(list(curves), configs))


def test_pair_logit_is_the_score_difference_at_unit_spread():
    s = 1 / np.sqrt(2)
    assert pair_logit(2.0, s, 0.5, s) == pytest.approx(1.5)
    assert abs(pair_logit(2.0, 3.0, 0.5, 3.0)) < abs(pair_logit(2.0, s, 0.5, s))   # wide spreads: less sure


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        Ranker.load(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_text("not a model")
    with pytest.raises(ValueError, match="bad.pt"):
        LCRankNetStop(model_path=str(bad))


def test_irregular_curves_score(trained):
    curves = [[None], [float("nan"), 0.3], [0.5], [0.2, None, 0.4], []]
    scores = trained.score(curves, [None, {}, {"speed": 3}, {"speed": "fast"}, {"other": 1}])
    assert scores.shape == (5,) and np.isfinite(scores).all()


@pytest.fixture
def model_file(trained, tmp_path) -> Path:
    path = tmp_path / "ranker.pt"
    trained.save(path)
    return path


def test_assessor_stops_bad_and_keeps_good(model_file):
    stopper = LCRankNetStop(model_path=str(model_file), delta=0.2, background=False, seed=0)
    configs, curves = synthetic(30, seed=7)
    best = int(np.argmax(curves[:, -1]))
    stopper.complete("best", list(curves[best]), config=configs[best])
    worst = int(np.argmin(curves[:, -1]))
    assert stopper.should_stop("w", list(0.3 * curves[worst, :4]), configs[worst])
    assert not stopper.should_stop("b", list(curves[best, :4]), configs[best])        # guard: not behind
    assert stopper.probability(list(curves[best, :4]), configs[best]) > 0.2


def test_assessor_decision_latency(model_file):
    stopper = LCRankNetStop(model_path=str(model_file), background=False, seed=0)
    configs, curves = synthetic(10, seed=8)
    for k in range(5):
        stopper.complete(f"t{k}", list(curves[k]), config=configs[k])
    times = []
    for k in range(200):
        t0 = time.perf_counter()
        stopper.should_stop("x", list(0.5 * curves[k % 10, : 1 + k % (T - 1)]), configs[k % 10])
        times.append(time.perf_counter() - t0)
    assert statistics.median(times) < 0.02      # milliseconds in practice; generous for a loaded CI box


def test_online_only_waits_for_data_then_learns():
    stopper = LCRankNetStop(search_space=SPACE.to_nni(), background=False, online_min_completed=3,
                            online_steps=150, delta=0.3, seed=0)
    configs, curves = synthetic(12, seed=11)
    bad = list(0.2 * curves[0, :3])
    stopper.complete("a", list(curves[1]), config=configs[1])
    assert not stopper.ready and not stopper.should_stop("x", bad, configs[0])      # nothing fitted yet
    for k in range(2, 8):
        stopper.complete(f"t{k}", list(curves[k]), config=configs[k])
    assert stopper.ready and stopper._fits >= 1


def test_background_refit_swaps_the_model(model_file):
    stopper = LCRankNetStop(model_path=str(model_file), adapt_steps=30, seed=0)
    before = stopper.ranker
    configs, curves = synthetic(6, seed=12)
    for k in range(6):
        stopper.complete(f"t{k}", list(curves[k]), config=configs[k])
    stopper.wait()
    assert stopper._fits >= 1 and stopper.ranker is not before
    copy = pickle.loads(pickle.dumps(stopper))          # threads and locks are not pickled
    probe = list(0.5 * curves[0, :5])
    assert copy.should_stop("p", probe, configs[0]) == stopper.should_stop("p", probe, configs[0])


# A process that drives the registered stopper as the NNI assessor adapter does (should_stop after each
# report, complete at the trial's end, with curves and configurations) and exits while the background
# refit of the online-only model is still running. Before close()/the atexit hook, the refit thread
# was torn down inside torch at exit: "terminate called without an active exception", exit code 134.
_EXIT_DURING_REFIT = """
import numpy as np
from tuners import registry

space = {"lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]}, "units": {"_type": "choice", "_value": [16, 32, 64]}}
stopper = registry.create("lcranknet", search_space=space, online_min_completed=3, seed=0)
rng = np.random.default_rng(0)
for trial in range(4):
    config = {"lr": float(10 ** rng.uniform(-4, -1)), "units": int(rng.choice([16, 32, 64]))}
    curve = [float(x) for x in np.cumsum(rng.uniform(0, 1, 12))]
    for k in range(1, len(curve) + 1):
        stopper.should_stop(str(trial), curve[:k], config)
    stopper.complete(str(trial), curve, True, config)
print("refit running:", stopper._thread is not None and stopper._thread.is_alive(), flush=True)
"""


def test_exit_while_a_background_refit_runs_is_clean(tmp_path):
    script = tmp_path / "exit_during_refit.py"
    script.write_text(_EXIT_DURING_REFIT)
    runs = [subprocess.Popen([sys.executable, str(script)], cwd=str(ROOT), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(3)]   # it aborted 4 times in 5
    for run in runs:
        out, err = run.communicate(timeout=600)
        assert "refit running: True" in out, (out, err)      # the exit really raced a refit
        assert run.returncode == 0, err
        assert "terminate called" not in err


def test_close_stops_a_refit_and_later_ones():
    configs, curves = synthetic(8, seed=13)
    stopper = LCRankNetStop(search_space=SPACE.to_nni(), online_min_completed=3, online_steps=100_000, seed=0)
    before = stopper.ranker
    for k in range(3):
        stopper.complete(f"t{k}", list(curves[k]), config=configs[k])
    thread = stopper._thread
    assert thread is not None and thread.is_alive()            # a refit far from done
    stopper.close()
    assert not thread.is_alive() and stopper.closed
    assert stopper._fits == 0 and stopper.ranker is before      # the part-trained model was discarded
    stopper.complete("t3", list(curves[3]), config=configs[3])  # recorded, no new refit
    assert stopper._thread is thread and len(stopper._done) == 4
    assert stopper.should_stop("x", list(curves[4, :3]), configs[4]) is False    # never fitted: no basis
    stopper.close()                                             # idempotent


def test_close_keeps_the_fitted_model_for_decisions():
    configs, curves = synthetic(8, seed=14)
    stopper = LCRankNetStop(search_space=SPACE.to_nni(), background=False, online_min_completed=3,
                            online_steps=50, delta=0.3, seed=0)
    for k in range(4):
        stopper.complete(f"t{k}", list(curves[k]), config=configs[k])
    fits = stopper._fits
    stopper.close()
    assert stopper.ready and fits >= 1
    probe = list(curves[5, :4])
    assert isinstance(stopper.should_stop("p", probe, configs[5]), bool)
    stopper.complete("t9", list(curves[6]), config=configs[6])
    assert stopper._fits == fits                                # closed: no foreground refit either
    clone = pickle.loads(pickle.dumps(stopper))                 # the stop flag is runtime state
    assert not clone.closed


def test_failed_and_killed_trials_are_not_learned_from(model_file):
    stopper = LCRankNetStop(model_path=str(model_file), background=False, seed=0)
    stopper.complete("killed", [0.9, 0.95], success=False)
    stopper.complete("empty", [None, float("nan")])
    assert stopper._done == {}
    assert stopper.should_stop("x", [0.01]) is False      # no finished trial to compare with


@pytest.mark.parametrize("options, word", [
    ({"delta": 1.5}, "delta"), ({"delta": 0}, "delta"), ({"start_step": 0}, "start_step"),
    ({"adapt_steps": -1}, "adapt_steps"), ({"background": "yes"}, "background"), ({"members": 0}, "members"),
    ({"curve_scale": 0}, "curve_scale"), ({"search_space": {"x": {"_type": "nope"}}}, "x"),
    ({"search_space": "/no/such/space.json"}, "search_space"), ({"model_path": 3}, "model_path"),
])
def test_invalid_options(options, word):
    with pytest.raises(ValueError, match=word):
        registry.create("lcranknet", **options)


needs_lcbench = pytest.mark.skipif(not (benchmarks_dir() / "lcbench_curves.npz").exists(),
                                   reason="LCBench table not available")


@needs_lcbench
def test_pretrain_command_writes_a_loadable_model(tmp_path):
    from tuners.cli import main
    out = tmp_path / "m.pt"
    assert main(["lcranknet-pretrain", "--out", str(out), "--tasks", "3945,7593", "--steps", "30"]) == 0
    ranker = Ranker.load(out)
    assert ranker.task_names == ["3945", "7593"] and ranker.curve_scale == 100.0
    stopper = LCRankNetStop(model_path=str(out))
    assert stopper.transfer and stopper.ready
    assert main(["lcranknet-pretrain", "--out", str(out), "--tasks", "nope"]) == 2


def test_nni_experiment_stops_a_clearly_bad_trial(trained, tmp_path):
    """NaspLCRankNet by name in a real NNI experiment: four good curves, then four 10x lower. Its model
    file lives in the experiment's code directory and is named relative to it (the dispatcher runs in
    the log folder; a remote trial in its copy of the code directory): validation and the assessor
    find it there."""
    from tuners.hosts.nni_experiment import free_port, run, validate_config
    ranker = Ranker.new(Space(()), n_tasks=1, max_len=6, seed=0)
    rng = np.random.default_rng(0)
    levels = rng.uniform(0.05, 1.2, 200)
    curves = levels[:, None] * np.arange(1, 7)[None, :] / 6
    ranker.fit([TaskCurves([{}] * 200, curves)], steps=200, batch=64, lr=3e-3)
    ranker.reset_new_task()
    code = tmp_path / "code"
    (code / "models").mkdir(parents=True)
    ranker.save(code / "models" / "toy.pt")
    space = {"curve": {"_type": "choice", "_value": ["good", "bad"]},
             "label": {"_type": "choice", "_value": ["a", "b", "c", "d"]},
             # 1 s a step leaves the kill of a bad trial time to land on a loaded machine
             "steps": {"_type": "choice", "_value": [6]}, "sleep": {"_type": "choice", "_value": [1.0]}}
    config = nni_config(tmp_path, space, tuner="NaspGrid", trials=8, assessor="NaspLCRankNet",
                        assessor_args={"model_path": "models/toy.pt", "delta": 0.2})
    config.trial_code_directory = str(code)
    assert validate_config(config) == []
    exp, records, status = run(config, port=free_port(), timeout=180)
    assert status in ("DONE", "TUNER_NO_MORE_TRIAL")
    stopped = [r for r in records if r.status in ("EARLY_STOPPED", "USER_CANCELED")]
    assert stopped, [(r.parameters, r.status) for r in records]
    assert all(r.parameters["curve"] == "bad" and len(r.intermediate) < 6 for r in stopped)
    assert all(r.status == "SUCCEEDED" for r in records if r.parameters["curve"] == "good")
    log = (Path(config.experiment_working_directory) / exp.id / "log" / "dispatcher.log").read_text()
    assert "parameters not found" not in log        # the assessor saw each trial's configuration
