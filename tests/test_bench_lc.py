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
