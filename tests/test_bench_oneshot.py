"""bench/run_oneshot.py: a tiny end-to-end run on the mini201 table writes its section, and re-renders from raw."""
from __future__ import annotations

import json

import pytest

from nas_plugins.spaces import mini201


def table_complete() -> bool:
    try:
        return len(mini201.read_table()) == len(mini201.archs())
    except FileNotFoundError:
        return False


pytestmark = pytest.mark.skipif(not table_complete(), reason="the mini201 table is not complete")


def test_smoke_run_writes_its_section_and_from_raw_renders_the_same(tmp_path):
    from bench import run_oneshot
    out, raw = tmp_path / "benchmarks.md", tmp_path / "oneshot.json"
    out.write_text("# Benchmarks\n\nkept above\n\n<!-- bench:oneshot:start -->\nold\n<!-- bench:oneshot:end -->\n")
    assert run_oneshot.main(["--smoke", "--processes", "1", "--raw", str(raw), "--out", str(out)]) == 0
    text = out.read_text()
    assert "kept above" in text and "\nold\n" not in text
    section = text[text.index(run_oneshot.START):text.index(run_oneshot.END)]
    for needle in ("python -m bench.run_oneshot --smoke", "SPOS, BN recalibrated per path", "DARTS second order",
                   "multi-trial evolution, ours (table)", "CPU-s to top-10%", "| mini201 | SPOS |"):
        assert needle in section, needle
    runs = json.loads(raw.read_text())["runs"]
    assert {r["method"] for r in runs} == {"spos", "darts1", "darts2", "random", "evolution"}
    for r in runs:                                  # every export is an architecture of the table
        for p in r.get("exports", r.get("trace", [])):
            assert p["arch"] in mini201.archs() and p["test_acc"] == pytest.approx(mini201.lookup(p["arch"])["test_acc"])
    again = tmp_path / "again.md"
    assert run_oneshot.main(["--from-raw", str(raw), "--out", str(again)]) == 0
    rendered = again.read_text()
    assert rendered[rendered.index(run_oneshot.START):].strip() == text[text.index(run_oneshot.START):].strip()
