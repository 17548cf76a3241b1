"""The benchmark harness (bench/): smoke run of the CLI, table lookups, simulated clock, NNI loop."""
from __future__ import annotations

import math

import numpy as np
import pytest

from bench.problems import LCBench, NB201, benchmarks_dir, nb201_arch, nb201_config

pytestmark = pytest.mark.skipif(not (benchmarks_dir() / "lcbench_curves.npz").exists()
                                or not (benchmarks_dir() / "nb201.csv.gz").exists(),
                                reason="benchmark tables not found ($NASP_BENCHMARKS)")


@pytest.fixture(scope="module")
def lcbench():
    return LCBench("3945")


@pytest.fixture(scope="module")
def cifar10():
    return NB201("cifar10")


def test_smoke_run_writes_its_section_and_renders_the_same_from_its_raw_results(tmp_path):
    from bench import run_hpo
    out, raw = tmp_path / "benchmarks.md", tmp_path / "hpo.json.gz"
    out.write_text("# Benchmarks\n\nkept above\n\n<!-- bench:hpo:start -->\nold\n<!-- bench:hpo:end -->\n\nkept below\n")
    assert run_hpo.main(["--smoke", "--out", str(out), "--raw", str(raw)]) == 0
    text = out.read_text()
    assert "kept above" in text and "kept below" in text and "\nold\n" not in text
    assert text.count(run_hpo.START) == 1 and text.count(run_hpo.END) == 1
    section = text[text.index(run_hpo.START):]
    for needle in ("python -m bench.run_hpo --smoke", "machine:", "### Regret at 10 evaluations' epochs, 1 worker",
                   "| ours: random |", "| NNI TPE |", "| ours: hyperband |", "epochs to reach random search",
                   "### Wall time", "hpo_lcbench_epochs_w1.png"):
        assert needle in section, needle
    assert "**failed**" not in section
    again = tmp_path / "again.md"
    assert run_hpo.main(["--from-raw", str(raw), "--out", str(again)]) == 0
    rendered = again.read_text()
    assert "rendered by `python -m bench.run_hpo --from-raw" in rendered
    lines = lambda t: [ln for ln in t[t.index(run_hpo.START):t.index(run_hpo.END)].splitlines()  # noqa: E731
                       if not ln.startswith("* command:")]
    assert lines(rendered) == lines(text)


def test_section_is_appended_to_a_file_without_markers(tmp_path):
    from bench.report import write_section
    from bench.run_hpo import END, START
    path = tmp_path / "b.md"
    path.write_text("# Title\n\ntext\n")
    write_section(path, f"{START}\nA\n{END}", START, END)
    write_section(path, f"{START}\nB\n{END}", START, END)
    text = path.read_text()
    assert text.startswith("# Title\n\ntext\n") and "\nB\n" in text and "\nA\n" not in text


def test_nearest_config_maps_every_table_config_to_itself(lcbench):
    assert all(lcbench.nearest(lcbench.table_config(i)) == i for i in range(len(lcbench.configs)))
    assert lcbench.regret(int(np.argmax(lcbench.acc[:, -1]))) == 0


def test_lcbench_budget_resumes_from_checkpoint(lcbench):
    session = lcbench.session()
    config = lcbench.table_config(7)
    first = session.evaluate({**config, "epochs": 10})
    second = session.evaluate({**config, "epochs": 20})
    assert (first.budget, first.epochs, second.epochs) == (10, 10, 10)
    assert first.value == pytest.approx(lcbench.acc[7, 9])
    assert first.cost + second.cost == pytest.approx(lcbench.time[7, 19])
    full = session.evaluate(config)                 # no budget: a fresh full run
    assert (full.budget, full.epochs) == (52, 52) and full.cost == pytest.approx(lcbench.time[7, 51])
    with pytest.raises(ValueError, match="budget"):
        session.evaluate({**config, "epochs": 53})


def test_nb201_string_round_trip_and_optimum(cifar10):
    for row in (0, 1234, 15624):
        arch = cifar10.archs[row]
        config = nb201_config(arch)
        assert nb201_arch(config) == arch
        assert cifar10.lookup(config) == (row, 1)
    assert nb201_arch({f"edge_{t}_{f}": "nor_conv_3x3" for t, f in ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))}) \
        == "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    assert cifar10.optimum == pytest.approx(94.37, abs=0.01)
    assert NB201("cifar100").optimum == pytest.approx(73.51, abs=0.01)
    assert NB201("imagenet16").optimum == pytest.approx(47.31, abs=0.01)
    best = int(np.argmax(cifar10.test))
    assert cifar10.regret(best) == 0


def test_four_workers_finish_the_same_evaluations_sooner(lcbench):
    from bench.anchors import get_contender
    from bench.harness import run
    make = get_contender("random").make
    one = run(make, lcbench, 20, workers=1, seed=3)
    four = run(make, lcbench, 20, workers=4, seed=3)
    # random search ignores results: the same 20 evaluations, in another order
    assert sorted(r.index for r in one.records) == sorted(r.index for r in four.records)
    assert sum(r.cost for r in one.records) == pytest.approx(sum(r.cost for r in four.records))
    assert one.makespan == pytest.approx(sum(r.cost for r in one.records))
    assert four.makespan < one.makespan
    assert {r.worker for r in four.records} == {0, 1, 2, 3}
    ends = [r.end for r in four.records]
    assert ends == sorted(ends)                              # delivered in completion order
    assert one.regret_after(20) == four.regret_after(20)


def test_nni_tpe_and_our_random_run_in_the_same_loop(lcbench, cifar10):
    from nni.algorithms.hpo.tpe_tuner import TpeTuner
    from bench.anchors import get_contender
    from bench.harness import run
    from tuners.hosts.nni_host import ADAPTERS
    for problem in (lcbench, cifar10):
        for make in (lambda seed: TpeTuner(optimize_mode="maximize", seed=seed),
                     lambda seed: ADAPTERS["random"]["class"](optimize_mode="maximize", seed=seed)):
            trace = run(make, problem, 25, workers=2, seed=0)
            assert len(trace.records) == 25
            assert all(math.isfinite(r.value) for r in trace.records)
            regrets = [r.regret for r in trace.records]
            assert min(regrets) >= 0
            if problem is lcbench:   # NB201's incumbent is the best *validation* arch: test regret may rise
                assert all(a >= b for a, b in zip(regrets, regrets[1:]))
    # the Optuna anchor through the same calls, with integer log-scale parameters kept integer
    trace = run(get_contender("optuna_tpe").make, lcbench, 12, workers=1, seed=0)
    assert all(isinstance(r.config["batch_size"], int) for r in trace.records)


def test_assessor_stops_trials_early_and_their_untrained_epochs_return_to_the_budget(lcbench):
    from bench.harness import run
    from tuners.hosts.nni_host import ADAPTERS
    trace = run(lambda s: ADAPTERS["random"]["class"](optimize_mode="maximize", seed=s), lcbench, 30, workers=2,
                seed=1, assessor_factory=lambda s: ADAPTERS["median_stop"]["class"](optimize_mode="maximize"))
    stopped = [r for r in trace.records if r.value is None]
    assert stopped and all(r.epochs < 52 and r.cost < lcbench.time[r.index, -1] for r in stopped)
    # charged only what they trained: the run goes on until 30 x 52 epochs are really spent
    assert sum(r.epochs for r in trace.records) == 30 * 52
    assert len(trace.records) > 30
    assert trace.arrays()["units"][-1] == pytest.approx(30)


class _FixedTuner:
    """An NNI tuner proposing the given configurations in order (then none)."""

    def __init__(self, configs):
        self.configs = list(configs)

    def update_search_space(self, space):
        pass

    def generate_multiple_parameters(self, ids, **kwargs):
        return [self.configs.pop(0)] if self.configs else []

    def receive_trial_result(self, *args, **kwargs):
        pass

    def trial_end(self, *args, **kwargs):
        pass


def test_resumed_epochs_are_keyed_by_the_configuration_not_the_table_row(lcbench):
    session = lcbench.session()
    config = lcbench.table_config(7)
    neighbour = {**config, "momentum": config["momentum"] + 1e-6}        # another configuration, same row
    assert lcbench.nearest(neighbour) == 7
    session.evaluate({**config, "epochs": 10})
    other = session.evaluate({**neighbour, "epochs": 20})
    assert other.epochs == 20                # no free epochs from another configuration's checkpoint
    again = session.evaluate({**config, "epochs": 20})
    assert again.epochs == 10                # the same configuration resumes


def test_regret_is_read_at_the_epoch_the_incumbent_was_trained_to(lcbench):
    from bench.harness import run
    config = lcbench.table_config(11)
    trace = run(lambda s: _FixedTuner([{**config, "epochs": 27}]), lcbench, 1, seed=0)
    (record,) = trace.records
    assert record.budget == 27
    assert record.regret == pytest.approx(lcbench.optimum - lcbench.acc[11, 26])
    assert record.regret != pytest.approx(lcbench.regret(11))


def test_every_contender_spends_exactly_its_epoch_budget(lcbench):
    """Hyperband's last evaluation is cut at the budget (it used to overshoot it), as random search's is."""
    from bench.anchors import get_contender
    from bench.harness import run
    for name in ("hyperband", "asha", "random"):
        for workers in (1, 3):
            trace = run(get_contender(name).make, lcbench, 7, workers=workers, seed=2)
            assert sum(r.epochs for r in trace.records) == 7 * 52, (name, workers)
    trace = run(get_contender("hyperband").make, lcbench, 7, seed=2)
    assert trace.records[-1].value is None and trace.records[-1].epochs < 52 * 7   # the cut trial


def test_optuna_space_mapping():
    from optuna.distributions import FloatDistribution, IntDistribution
    from bench.anchors import nni_to_optuna
    from bench.problems import LCBENCH_SPACE
    dists, post = nni_to_optuna({**LCBENCH_SPACE, "q": {"_type": "quniform", "_value": [0, 1, 0.3]}})
    assert dists["batch_size"] == IntDistribution(16, 512, log=True)
    assert dists["learning_rate"] == FloatDistribution(1e-4, 1e-1, log=True)
    assert dists["num_layers"] == IntDistribution(1, 5)
    assert dists["momentum"] == FloatDistribution(0.1, 0.99)
    assert post["q"](0.95) == pytest.approx(0.9) and post["q"](0.1) == 0.0


def _flaky_cell(cell):
    if cell[1] == "fail":
        raise RuntimeError("killed")
    return {"i": cell[0], "v": float("nan") if cell[0] == 1 else cell[0] / 2}


def _good_cell(cell):
    return {"i": cell[0], "v": float("nan") if cell[0] == 1 else cell[0] / 2, "rerun": True}


def test_pool_map_journal_keeps_finished_cells_of_a_killed_run(tmp_path):
    from bench.report import pool_map
    journal = tmp_path / "raw.json.gz.partial.jsonl"
    cells = [(0, "ok"), (1, "ok"), (2, "fail"), (3, "ok")]
    with pytest.raises(RuntimeError):
        pool_map(_flaky_cell, cells, 1, "t", journal=journal)
    assert len(journal.read_text().splitlines()) == 2      # the two cells finished before the kill
    again = [(i, "ok") for i in range(4)]
    again[:2] = cells[:2]
    out = sorted(pool_map(_good_cell, again, 2, "t", journal=journal), key=lambda r: r["i"])
    assert [r.get("rerun", False) for r in out] == [False, False, True, True]   # read back, not run again
    assert math.isnan(out[1]["v"]) and out[3]["v"] == 1.5


def test_scale_table_renders_from_its_raw_results(tmp_path):
    """run_scale's table comes from the raw rows: overhead as tuner over trial time, '–' where not measured."""
    import json

    from bench import run_scale
    raw = {"meta": {"command": "python -m bench.run_scale", "machine": "m", "date": "d"},
           "rows": [{"backend": "nni", "concurrency": 2, "seconds": 60.0, "trials": 12, "epochs": 48, "best": 0.95},
                    {"backend": "ray", "concurrency": 4, "seconds": 30.0, "trials": 12, "epochs": 48, "best": None,
                     "tuner_seconds": 0.5, "trial_seconds": 100.0}]}
    (tmp_path / "scale.json").write_text(json.dumps(raw))
    doc = tmp_path / "scale-out.md"
    doc.write_text(f"intro\n\n{run_scale.START}\nold\n{run_scale.END}\n\nafter\n")
    assert run_scale.main(["--from-raw", str(tmp_path / "scale.json"), "--doc", str(doc)]) == 0
    text = doc.read_text()
    assert "old" not in text and text.startswith("intro") and text.rstrip().endswith("after")
    assert "| nni | 2 | 60 | 12 | 12.0 | 48.0 | – | 0.950 |" in text
    assert "| ray | 4 | 30 | 12 | 24.0 | 96.0 | 0.50% | – |" in text
