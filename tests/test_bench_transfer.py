"""bench/run_transfer.py: a smoke run writes its section, and its raw file renders the same tables."""
from __future__ import annotations

import pytest

from bench.problems import benchmarks_dir

pytestmark = pytest.mark.skipif(not ((benchmarks_dir() / "nb201.csv.gz").exists()
                                     and (benchmarks_dir() / "lcbench_curves.npz").exists()),
                                reason="benchmark tables not found ($NASP_BENCHMARKS)")


def test_smoke_run_writes_its_section_and_renders_from_raw(tmp_path):
    from bench import run_transfer
    from bench.report import load_raw
    out, raw = tmp_path / "benchmarks.md", tmp_path / "transfer.json.gz"
    out.write_text(f"# Benchmarks\n\nkept\n\n{run_transfer.START}\nold\n{run_transfer.END}\n")
    assert run_transfer.main(["--smoke", "--out", str(out), "--raw", str(raw)]) == 0
    text = out.read_text()
    assert "kept" in text and "\nold\n" not in text and text.count(run_transfer.START) == 1
    section = text[text.index(run_transfer.START):]
    for needle in ("python -m bench.run_transfer --smoke", "machine:", "#### Target cifar100",
                   "| best of sources, in order | 1 |", "| evolution (cold) | 1 |", "### LCBench: leave one task out",
                   "| bo (cold) | 1 |", "### Targets", "**0 queries**"):
        assert needle in section, needle
    assert "**failed**" not in section
    data = load_raw(raw)
    runs = {(r["bench"], r["name"]) for r in data["results"]}
    assert runs == {("nb201", "best_of_sources"), ("nb201", "evolution"), ("lcbench", "bo")}
    nb = [r for r in data["results"] if r["bench"] == "nb201"]
    assert all(len(r["regret"]) == 5 and r["regret"] == sorted(r["regret"], reverse=True) for r in nb)
    assert not (tmp_path / "transfer.json.gz.partial.jsonl").exists()
    again = tmp_path / "again.md"
    assert run_transfer.main(["--from-raw", str(raw), "--out", str(again)]) == 0
    tables = lambda t: [ln for ln in t[t.index(run_transfer.START):].splitlines() if ln.startswith("|")]  # noqa: E731
    assert tables(again.read_text()) == tables(text)


def test_best_of_sources_ranks_by_the_sources_and_the_landmark_dcn_orders_the_data_sets():
    from bench import run_transfer
    dcn = {d: run_transfer.nb201_dcn(d) for d in ("cifar10", "cifar100", "imagenet16")}
    assert 0 < dcn["imagenet16"] < dcn["cifar100"] < dcn["cifar10"] < 1
    problem = run_transfer._problem("nb201/cifar10")
    tuner = run_transfer.make_tuner("nb201", "best_of_sources", "cifar10", 0)
    tuner.update_search_space(problem.search_space)
    first = tuner.generate_multiple_parameters([0])[0]
    # the first proposal is among the best on both sources (CIFAR-100 and ImageNet16-120)
    for d in ("cifar100", "imagenet16"):
        other = run_transfer._problem(f"nb201/{d}")
        assert (other.val > other.val[problem.lookup(first)[0]]).mean() < 0.01
