"""bench/run_lc.py: a smoke run of the learning-curve early-stopping benchmark."""
from __future__ import annotations

import re

import pytest

from nas_plugins.lcbench import benchmarks_dir

pytestmark = pytest.mark.skipif(not (benchmarks_dir() / "lcbench_curves.npz").exists(),
                                reason="LCBench table not found ($NASP_BENCHMARKS)")


def test_smoke_run_writes_its_section_with_targets(tmp_path):
    from bench import run_lc
    out = tmp_path / "benchmarks.md"
    out.write_text(f"# Benchmarks\n\nkept\n\n{run_lc.START}\nold\n{run_lc.END}\n")
    assert run_lc.main(["--smoke", "--only", "none,lcranknet,nni_medianstop,nni_curvefitting",
                        "--slow-trials", "3", "--processes", "1", "--out", str(out)]) == 0
    text = out.read_text()
    assert "kept" in text and "\nold\n" not in text and text.count(run_lc.START) == 1
    rows = {m.group(1): m.groups() for m in
            re.finditer(r"^\| ([^|]+?) \| (\d+) \| ([\d,]+) \| ([\d.]+)x \| ([\d.]+) \|", text, re.M)}
    assert rows["no early stopping"][3] == "1.0"
    ranknet = next(v for k, v in rows.items() if k.startswith("ours: LCRankNet, transfer"))
    assert float(ranknet[3]) > 1.0                     # it stopped something
    assert rows["NNI Curvefitting"][1] == "1"          # the slow subset: 1 task, 1 seed
    assert "3 trials per run only (slow)" in text
    assert "### Equal epochs" in text and "### Targets" in text and "Better regret than NNI Medianstop" in text


def test_delta_is_chosen_on_the_dev_fold_and_those_tasks_are_not_reported(tmp_path):
    from bench import run_lc
    from bench.report import load_raw
    out, raw = tmp_path / "b.md", tmp_path / "lc.json.gz"
    assert run_lc.main(["--smoke", "--folds", "3", "--dev-fold", "0", "--deltas", "0.1,0.3",
                        "--only", "none,lcranknet", "--processes", "1", "--out", str(out), "--raw", str(raw)]) == 0
    data = load_raw(raw)
    rows, meta = data["rows"], data["meta"]
    tasks = load_tasks()
    assert meta["dev_tasks"] == [tasks[0]] and meta["chosen_delta"] in (0.1, 0.3)
    assert {r["task"] for r in rows if r.get("phase") == "select"} == {tasks[0]}
    assert {r["task"] for r in rows if r.get("phase") != "select"} == {tasks[1]}     # --smoke: 2 tasks
    assert {r["name"] for r in rows if r.get("phase") != "select"} == {"none", meta["designated"]}
    # one model per fold and seed, named by options and code version
    assert run_lc._model_file(tasks[1], 100, 0, 3) != run_lc._model_file(tasks[1], 100, 1, 3)
    assert run_lc._model_file(tasks[1], 100, 0, 3).exists()
    text = out.read_text()
    assert "### Choosing LCRankNet's delta on fold 0" in text and "**yes**" in text
    # the raw file renders the same tables
    again = tmp_path / "again.md"
    assert run_lc.main(["--from-raw", str(raw), "--out", str(again)]) == 0
    strip = lambda t: [ln for ln in t.splitlines() if not ln.startswith("Command:")]  # noqa: E731
    assert strip(again.read_text()) == strip(text)


def load_tasks():
    from bench.problems import lcbench_tasks
    return lcbench_tasks()
