"""The zero-cost proxy benchmark (bench/run_proxies.py): the shared-backbone synflow of the three NB201
heads, its statistics, and a smoke run rendered again from its raw results."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench.problems import benchmarks_dir
from nas_plugins.proxies import synflow
from nas_plugins.seeding import seeded_run
from nas_plugins.spaces import nb201

torch.set_num_threads(1)
ARCHS = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
         "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
         "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"]


@pytest.mark.parametrize("arch", ARCHS)
def test_synflow_heads_equals_synflow_of_each_freshly_built_network(arch):
    from bench.run_proxies import HEADS, synflow_heads
    cfg = nb201.from_arch_string(arch)
    heads = list(HEADS.values())
    for seed, sizes in ((0, {}), (5, {"C": 8, "N": 1})):
        got = synflow_heads(cfg, heads, seed=seed, **sizes)
        for (classes, size), value in zip(heads, got):
            with seeded_run(seed):                              # as proxy_filter.score_config builds it
                model = nb201.build(cfg, classes, **sizes)
            want = synflow(model, (3, size, size), seed=seed)
            assert value == pytest.approx(want, rel=1e-12, abs=0.0), (classes, size)
        assert (got[0] == 0.0) == ("nor_conv" not in arch)       # all-'none' cells cut the input off


def test_statistics():
    from bench.run_proxies import correlations, pairwise_agreement, queries_to_reach
    acc = [1.0, 2.0, 3.0, 4.0]
    assert correlations([10, 20, 30, 40], acc) == pytest.approx((1.0, 1.0))
    assert correlations([-math.inf, 20, 30, 40], acc) == pytest.approx((1.0, 1.0))      # failed: lowest
    assert pairwise_agreement([[1, 2, 3, 4]], acc) == 1.0
    assert pairwise_agreement([[4, 3, 2, 1]], acc) == 0.0
    # two of three proxies right on every pair: the vote is right; a tie counts one half
    assert pairwise_agreement([[1, 2, 3, 4], [1, 2, 3, 4], [4, 3, 2, 1]], acc) == 1.0
    assert pairwise_agreement([[1, 1, 1, 1]], acc) == 0.5
    assert queries_to_reach([3.0, 2.0, 1.0, 1.0], 1.5) == 3 and queries_to_reach([3.0, 2.0], 1.0) is None


@pytest.mark.skipif(not (benchmarks_dir() / "nb201.csv.gz").exists(), reason="NB201 table not found ($NASP_BENCHMARKS)")
def test_smoke_run_writes_its_section_and_renders_the_same_from_its_raw_results(tmp_path):
    from bench import run_proxies
    out, raw = tmp_path / "benchmarks.md", tmp_path / "proxies.json.gz"
    out.write_text("# Benchmarks\n\nkept above\n\n<!-- bench:proxies:start -->\nold\n<!-- bench:proxies:end -->\n")
    assert run_proxies.main(["--smoke", "--out", str(out), "--raw", str(raw),
                             "--journal", str(tmp_path / "journal")]) == 0
    text = out.read_text()
    assert "kept above" in text and "\nold\n" not in text and text.count(run_proxies.START) == 1
    section = text[text.index(run_proxies.START):]
    for needle in ("python -m bench.run_proxies --smoke", "machine:", "| synflow (seed 0) | 12 |",
                   "naswot (**embedded digits, not CIFAR**)", "vote(synflow, jacob_cov, snip)",
                   "| cifar10 | weaknas plain | 1 |", "| cifar10 | weaknas synflow | 1 |", "0.737 / 0.763 / 0.751",
                   "zero-cost proxy evaluations are free in the accounting", "### Targets"):
        assert needle in section, needle
    again = tmp_path / "again.md"
    assert run_proxies.main(["--from-raw", str(raw), "--out", str(again)]) == 0
    rendered = again.read_text()
    assert "rendered by `python -m bench.run_proxies --from-raw" in rendered
    lines = lambda t: [ln for ln in t[t.index(run_proxies.START):t.index(run_proxies.END)].splitlines()  # noqa: E731
                       if not ln.startswith(("* command:", "* machine:"))]
    assert lines(rendered) == lines(text)
    # a second run with the same journal reads every cell back instead of computing it
    assert run_proxies.main(["--smoke", "--out", str(tmp_path / "third.md"), "--journal",
                             str(tmp_path / "journal")]) == 0
    assert lines((tmp_path / "third.md").read_text()) == lines(text)
