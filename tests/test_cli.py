"""The `nas-plugins` command line and the shipped NNI meta file."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml
from conftest import BIN, ROOT

from tuners import algorithms
from tuners.hosts.nni_host import nni_meta


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "nas-plugins"), *args], capture_output=True, text=True, timeout=120)


def test_list_json_describes_every_algorithm():
    out = cli("list", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert {r["name"] for r in rows} == {a.name for a in algorithms()}
    for r in rows:
        assert set(r) >= {"name", "kind", "nni_name", "autogluon_name", "summary"}
        assert r["kind"] in ("tuner", "assessor") and r["summary"]
    random = next(r for r in rows if r["name"] == "random")
    assert random["nni_name"] == "NaspRandom" and random["autogluon_name"] == "nasp_random"


def test_shipped_meta_matches_the_registry():
    shipped = yaml.safe_load((ROOT / "tuners" / "hosts" / "nni_meta.yml").read_text())
    assert shipped == nni_meta(), "regenerate with: nas-plugins nni-meta > tuners/hosts/nni_meta.yml"
    assert cli("nni-meta").stdout == (ROOT / "tuners" / "hosts" / "nni_meta.yml").read_text()


def test_our_algorithms_are_registered_with_nni():
    out = subprocess.run([str(BIN / "nnictl"), "algo", "list"], capture_output=True, text=True)
    for info in algorithms():
        assert info.nni_name in out.stdout


def test_validate_accepts_the_demo_and_names_bad_search_space_parameters(tmp_path: Path):
    assert cli("validate", str(ROOT / "trial_templates" / "demo.yml")).returncode == 0
    config = yaml.safe_load((ROOT / "trial_templates" / "demo.yml").read_text())
    config["searchSpaceFile"] = str(tmp_path / "space.json")
    (tmp_path / "space.json").write_text(json.dumps({"lr": {"_type": "loguniform", "_value": [0, 1]}}))
    config["trialCodeDirectory"] = str(ROOT)
    (tmp_path / "c.yml").write_text(yaml.safe_dump(config))
    out = cli("validate", str(tmp_path / "c.yml"))
    assert out.returncode == 2
    assert "search space parameter 'lr': loguniform needs positive bounds" in out.stderr
