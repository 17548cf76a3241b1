"""SMAC3 and Syne Tune anchors (bench/anchors_ext.py): short real runs through the harness on
LCBench 3945, same seed => same proposals, budgets, failures, search-space conversion."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from bench.problems import LCBench, benchmarks_dir

pytestmark = pytest.mark.skipif(not (benchmarks_dir() / "lcbench_curves.npz").exists(),
                                reason="benchmark tables not found ($NASP_BENCHMARKS)")

NEEDS = {"smac_hpo": "smac", "smac_mf": "smac", "st_asha": "syne_tune", "st_bohb": "syne_tune"}
WHY = {"smac": "SMAC3 is not installed (pip install smac==2.4.1)",
       "syne_tune": "Syne Tune is not installed (pip install --no-deps syne-tune==0.16.0 statsmodels dill)"}
#: Short runs: SMAC's HPO facade runs its 12 initial configurations (its model-based asks are in
#: the failure and hash-seed tests: each takes seconds); its Hyperband promotes after the first 27
#: configurations; Syne Tune stops trials at its rungs.
RUNS = {"smac_hpo": dict(n_evals=12), "smac_mf": dict(n_evals=3, max_trials=30),
        "st_asha": dict(n_evals=6), "st_bohb": dict(n_evals=8)}


@pytest.fixture(scope="module")
def lcbench():
    return LCBench("3945")


def contender(name: str):
    pytest.importorskip(NEEDS[name], reason=WHY[NEEDS[name]])
    from bench.anchors_ext import extra_anchors
    c = {c.name: c for c in extra_anchors()}[name]
    assert c.unavailable is None, c.unavailable
    return c


def run(c, problem, seed: int = 0, workers: int = 1, **kw):
    from bench.harness import run as harness_run
    return harness_run(c.make, problem, seed=seed, workers=workers, strategy=c.name,
                       assessor_factory=getattr(c, "make_assessor", None), **{**RUNS[c.name], **kw})


def assert_valid(problem, config: dict) -> None:
    """Every parameter of the NNI space present, of the right type, in range (and on its q-grid)."""
    for name, spec in problem.search_space.items():
        t, v, x = spec["_type"], spec["_value"], config[name]
        if t == "choice":
            assert x in v, (name, x)
        elif t == "randint":
            assert isinstance(x, int) and v[0] <= x < v[1], (name, x)
        else:
            assert isinstance(x, (int, float)) and v[0] <= x <= v[1], (name, x)
            if t.startswith("q"):
                assert math.isclose(round(x / v[2]) * v[2], x), (name, x)
    extra = set(config) - set(problem.search_space)
    assert extra <= {problem.budget_key}, extra
    if problem.budget_key in config:
        b = config[problem.budget_key]
        assert isinstance(b, int) and 1 <= b <= problem.max_budget, b


@pytest.mark.parametrize("name", sorted(RUNS))
def test_short_run_is_valid_and_repeatable(name, lcbench):
    c = contender(name)
    first, again = run(c, lcbench), run(c, lcbench)
    assert first.records and first.stop_reason
    for r in first.records:
        assert_valid(lcbench, r.config)
    assert [r.config for r in first.records] == [r.config for r in again.records]
    assert [r.value for r in first.records] == [r.value for r in again.records]


@pytest.mark.parametrize("name", ["smac_mf", "st_asha", "st_bohb"])
def test_multi_fidelity_anchors_use_several_budgets(name, lcbench):
    c = contender(name)
    assert c.budget_aware
    trace = run(c, lcbench)
    assert len({r.budget for r in trace.records}) > 1
    if name == "smac_mf":       # SMAC's budgets 1.93, 5.78 ... as integer epochs in the proposals
        assert trace.budget_aware and {r.config["epochs"] for r in trace.records} == {2, 6}
    else:   # stopping type: full-training proposals; the assessor stops trials at ASHA's rungs
        assert not trace.budget_aware
        assert {1, 3} <= {r.budget for r in trace.records if r.value is None}


def test_syne_tune_asha_with_two_workers_is_repeatable_and_differs_by_seed(lcbench):
    c = contender("st_asha")
    two = [run(c, lcbench, workers=2) for _ in range(2)]
    assert [r.config for r in two[0].records] == [r.config for r in two[1].records]
    assert {r.worker for r in two[0].records} == {0, 1}
    other = run(c, lcbench, seed=1, n_evals=1)
    assert other.records[0].config != two[0].records[0].config


_HASH_SEED_RUN = """
import json
from bench.anchors_ext import SMACTuner
from nas_plugins.lcbench import LCBENCH_SPACE
tuner = SMACTuner(seed=0, n_trials=12)      # 3 initial configurations, then 2 model-based asks
tuner.update_search_space(LCBENCH_SPACE)
out = []
for pid in range(5):
    p = tuner.generate_parameters(pid)
    out.append(p)
    tuner.receive_trial_result(pid, p, p["num_layers"] - p["max_dropout"] - abs(p["learning_rate"] - 0.01))
print(json.dumps(out))
"""


def test_smac_proposals_do_not_depend_on_the_hash_seed():
    """SMAC 2.4.1 runs its local searches in the order of a set of Configurations (hashed by
    their repr); the adapter sorts the start points, so a process with another PYTHONHASHSEED
    proposes the same configurations (without the sort, these 5 asks differed)."""
    pytest.importorskip("smac", reason=WHY["smac"])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    other = str((int(os.environ.get("PYTHONHASHSEED") or 0) + 17) % 4294967296)
    env = {**os.environ, "PYTHONHASHSEED": other,
           "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", _HASH_SEED_RUN], env=env, capture_output=True, text=True,
                          timeout=300, cwd=root)
    assert done.returncode == 0, done.stderr[-2000:]
    here = {}
    exec(_HASH_SEED_RUN.replace("print(json.dumps(out))", "result = json.loads(json.dumps(out))"), here)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == here["result"]


def test_smac_seed_changes_proposals(lcbench):
    c = contender("smac_hpo")
    a, b = run(c, lcbench, seed=0, n_evals=2), run(c, lcbench, seed=1, n_evals=2)
    assert [r.config for r in a.records] != [r.config for r in b.records]


@pytest.mark.parametrize("name", ["smac_hpo", "smac_mf", "st_asha"])
def test_failed_and_missing_results_do_not_crash(name, lcbench):
    """NaN, None and trials ending without a result are told as failures; asking goes on."""
    c = contender(name)
    tuner = c.make(0, lcbench)
    tuner.update_search_space(lcbench.search_space)
    session = lcbench.session()
    for pid in range(16):
        params = tuner.generate_parameters(pid)
        assert_valid(lcbench, params)
        if pid % 4 == 0:
            tuner.receive_trial_result(pid, params, math.nan)
        elif pid % 4 == 1:
            tuner.receive_trial_result(pid, params, None)
        elif pid % 4 == 2:
            tuner.trial_end(pid, False)
            continue
        else:
            tuner.receive_trial_result(pid, params, {"default": session.evaluate(params).value})
        tuner.trial_end(pid, pid % 4 == 3)
    assert_valid(lcbench, tuner.generate_parameters(16))


def test_smac_takes_string_choices_and_quantizes_q_types():
    pytest.importorskip("smac", reason=WHY["smac"])
    from bench.anchors_ext import SMACTuner
    ops = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
    space = {f"edge_{i}": {"_type": "choice", "_value": ops} for i in range(6)}
    space["lr"] = {"_type": "qloguniform", "_value": [0.001, 0.1, 0.001]}
    space["width"] = {"_type": "quniform", "_value": [8, 64, 8]}
    tuner = SMACTuner(seed=3, n_trials=16)      # 4 initial configurations (a model-based ask takes seconds)
    tuner.update_search_space(space)
    for pid in range(4):
        p = tuner.generate_parameters(pid)
        assert all(type(p[f"edge_{i}"]) is str and p[f"edge_{i}"] in ops for i in range(6))
        assert 0.001 <= p["lr"] <= 0.1 and math.isclose(round(p["lr"] / 0.001) * 0.001, p["lr"])
        assert p["width"] in {8.0 * k for k in range(1, 9)}
        tuner.receive_trial_result(pid, p, float(pid))


def test_unsupported_spaces_and_unpaired_assessors_fail_precisely():
    pytest.importorskip("syne_tune", reason=WHY["syne_tune"])
    from bench.anchors_ext import SyneTuneAssessor, SyneTuneTuner, extra_anchors, nni_axes
    with pytest.raises(ValueError, match=r"normal \('x'\)"):
        nni_axes({"x": {"_type": "normal", "_value": [0, 1]}}, "SMAC3")
    with pytest.raises(ValueError, match="nested"):
        nni_axes({"x": {"_type": "choice", "_value": [{"_name": "a"}]}}, "Syne Tune")
    with pytest.raises(ValueError, match="randint 'n'"):
        nni_axes({"n": {"_type": "randint", "_value": [3, 3]}}, "SMAC3")
    with pytest.raises(ValueError, match="trial job id"):
        SyneTuneAssessor(SyneTuneTuner()).assess_trial("Xy12z", [1.0])
    byname = {c.name: c for c in extra_anchors()}
    with pytest.raises(RuntimeError, match="build the tuner"):
        byname["st_bohb"].make_assessor(12345, None)
    for name in ("st_dehb", "st_mobster"):
        assert "removed in syne-tune 0.15.0" in byname[name].unavailable
