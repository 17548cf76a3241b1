"""bench/run_nni_nas.py: a smoke run (ours and NNI's strategies as real NasExperiments) and its re-rendering."""
from __future__ import annotations

import pytest

pytest.importorskip("nni")


def test_smoke_run_renders_a_section_and_its_raw_renders_the_same(tmp_path):
    import importlib.util
    if importlib.util.find_spec("pytorch_lightning") is None:
        pytest.skip("needs the optional 'nas' extra")
    from bench import run_nni_nas
    out, raw = tmp_path / "b.md", tmp_path / "raw.json.gz"
    out.write_text(f"# Benchmarks\n\nkept\n\n{run_nni_nas.START}\nold\n{run_nni_nas.END}\n")
    run_nni_nas.main(["--seeds", "2", "--budgets", "2,4", "--only", "ours evolution,NNI Random,NNI PolicyBasedRL",
                      "--raw", str(raw), "--out", str(out)])
    text = out.read_text()
    assert "kept" in text and "\nold\n" not in text and text.count(run_nni_nas.START) == 1
    assert "| ours evolution | 2 |" in text and "| NNI Random | 2 |" in text
    assert "NNI PolicyBasedRL: did not run" in text            # tianshou is not installed here
    again = tmp_path / "again.md"
    run_nni_nas.main(["--from-raw", str(raw), "--out", str(again)])
    assert again.read_text().removeprefix("# Benchmarks\n\n").strip() == text[text.index(run_nni_nas.START):].strip()


def test_oneshot_smoke_run_renders_its_own_section(tmp_path):
    import importlib.util
    if importlib.util.find_spec("pytorch_lightning") is None:
        pytest.skip("needs the optional 'nas' extra")
    from bench import run_nni_nas
    out, raw = tmp_path / "b.md", tmp_path / "raw.json.gz"
    run_nni_nas.main(["--oneshot", "--seeds", "1", "--epochs", "1", "--only", "ours DARTS,NNI DARTS",
                      "--raw", str(raw), "--out", str(out)])
    text = out.read_text()
    assert text.count(run_nni_nas.OS_START) == 1 and "| ours DARTS | 1 |" in text and "| NNI DARTS | 1 |" in text
    again = tmp_path / "again.md"
    run_nni_nas.main(["--from-raw", str(raw), "--out", str(again)])         # a one-shot raw file renders as such
    assert run_nni_nas.OS_START in again.read_text() and run_nni_nas.START not in again.read_text()
