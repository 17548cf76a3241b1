"""bench/run_nas.py: a tiny end-to-end run writes its section."""
from __future__ import annotations

import pytest

from bench.problems import benchmarks_dir

pytestmark = pytest.mark.skipif(not (benchmarks_dir() / "nb201.csv.gz").exists(),
                                reason="NB201 table not found ($NASP_BENCHMARKS)")


def test_tiny_nas_run_writes_its_section(tmp_path):
    from bench import run_nas
    out = tmp_path / "benchmarks.md"
    out.write_text("# Benchmarks\n\nkept above\n\n<!-- bench:nas:start -->\nold\n<!-- bench:nas:end -->\n")
    argv = ["--datasets", "cifar10", "--seeds", "2", "--budgets", "5,10", "--only", "evolution,nni_evolution",
            "--processes", "1", "--out", str(out), "--raw", str(tmp_path / "nas.json.gz")]
    assert run_nas.main(argv) == 0
    text = out.read_text()
    assert "kept above" in text and "\nold\n" not in text
    assert text.count(run_nas.START) == 1 and text.count(run_nas.END) == 1
    section = text[text.index(run_nas.START):]
    for needle in ("python -m bench.run_nas", "machine:", "NAS-Bench-201 cifar10", "| ours: evolution | 2 |",
                   "| NNI Evolution | 2 |", "queries to the optimum", "(c) ours: evolution"):
        assert needle in section, needle
    assert "**failed**" not in section
    assert (tmp_path / "img" / "nas_cifar10.png").exists()
    # the compact raw file (regret curves as change points) renders the same tables
    again = tmp_path / "again.md"
    assert run_nas.main(argv[:-4] + ["--out", str(again), "--from-raw", str(tmp_path / "nas.json.gz")]) == 0
    tables = lambda t: [ln for ln in t[t.index(run_nas.START):].splitlines() if ln.startswith("|")]  # noqa: E731
    assert tables(again.read_text()) == tables(text)
