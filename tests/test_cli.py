"""The `nas-plugins` command line and the shipped NNI meta file."""
from __future__ import annotations

import io
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


def _config_with(tmp_path: Path, **sections) -> Path:
    """The demo config with its tuner/assessor sections replaced (None removes one)."""
    config = yaml.safe_load((ROOT / "trial_templates" / "demo.yml").read_text())
    config["searchSpaceFile"] = str(ROOT / "trial_templates" / "mixed_space.json")
    config["trialCodeDirectory"] = str(ROOT)
    for section, value in sections.items():
        if value is None:
            config.pop(section, None)
        else:
            config[section] = value
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_validate_rejects_an_unknown_tuner_with_close_matches(tmp_path: Path):
    out = cli("validate", str(_config_with(tmp_path, tuner={"name": "NaspBOO"})))
    assert out.returncode == 2 and "OK" not in out.stdout
    assert "tuner: unknown tuner 'NaspBOO' (did you mean NaspBO" in out.stderr
    assert "registered tuners:" in out.stderr and "TPE" in out.stderr     # NNI built-ins are listed too
    out = cli("validate", str(_config_with(tmp_path, assessor={"name": "Curvefiting"})))
    assert out.returncode == 2
    assert "assessor: unknown assessor 'Curvefiting' (did you mean Curvefitting" in out.stderr
    assert "registered assessors:" in out.stderr and "NaspMedianStop" in out.stderr
    assert "NaspRandom" not in out.stderr.split("registered assessors:")[1]


def test_validate_rejects_swapped_tuner_and_assessor(tmp_path: Path):
    path = _config_with(tmp_path, tuner={"name": "NaspMedianStop"}, assessor={"name": "NaspRandom"})
    out = cli("validate", str(path))
    assert out.returncode == 2
    assert "tuner: NaspMedianStop is an assessor, not a tuner" in out.stderr
    assert "assessor: NaspRandom is a tuner, not an assessor" in out.stderr


def test_validate_accepts_nni_builtins_and_checks_their_class_args(tmp_path: Path):
    ours = {"name": "NaspMedianStop", "classArgs": {"optimize_mode": "maximize", "start_step": 3}}
    out = cli("validate", str(_config_with(tmp_path, tuner={"name": "TPE", "classArgs": {"optimize_mode": "maximize"}},
                                           assessor=ours)))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith(": OK")
    # names resolve case-insensitively, as NNI's dispatcher resolves them; `advisor` takes tuners
    out = cli("validate", str(_config_with(tmp_path, tuner=None, advisor={"name": "hyperband", "classArgs": {"R": 9}},
                                           assessor=None)))
    assert out.returncode == 0, out.stderr
    # NNI's own validator of a built-in, and a constructor that does not take an argument
    out = cli("validate", str(_config_with(tmp_path, tuner={"name": "TPE"},
                                           assessor={"name": "Medianstop", "classArgs": {"start_step": -1}})))
    assert out.returncode == 2 and "assessor: Medianstop classArgs: start_step should be in range" in out.stderr
    out = cli("validate", str(_config_with(tmp_path, tuner={"name": "GridSearch", "classArgs": {"seed": 1}})))
    assert out.returncode == 2 and "tuner: GridSearch classArgs:" in out.stderr and "'seed'" in out.stderr


def test_validate_accepts_custom_class_name_algorithms_as_nni_does(tmp_path: Path):
    (tmp_path / "algos").mkdir()
    custom = {"className": "my_tuner.MyTuner", "codeDirectory": str(tmp_path / "algos"), "classArgs": {"a": 1}}
    out = cli("validate", str(_config_with(tmp_path, tuner=custom, assessor=None)))
    assert out.returncode == 0, out.stderr
    custom["codeDirectory"] = str(tmp_path / "missing")
    out = cli("validate", str(_config_with(tmp_path, tuner=custom, assessor=None)))
    assert out.returncode == 2 and "is not a directory" in out.stderr


def test_run_refuses_an_invalid_config_before_starting(tmp_path: Path):
    out = cli("run", str(_config_with(tmp_path, tuner={"name": "NaspBOO"})))
    assert out.returncode == 2
    assert "tuner: unknown tuner 'NaspBOO'" in out.stderr
    assert "Web portal" not in out.stdout + out.stderr


def test_format_progress():
    from tuners.hosts.nni_experiment import Progress, format_progress
    p = Progress("RUNNING", 42.4, trials=10, running=2, succeeded=5, stopped=2, failed=1, best=0.96111, max_trials=20)
    assert p.done == 8
    assert format_progress(p) == ("[   42 s] RUNNING: 8/20 trials done (5 succeeded, 2 stopped early, 1 failed), "
                                  "2 running, best 0.9611")
    assert format_progress(Progress("RUNNING", 0.0)).endswith("0 trials done (0 succeeded, 0 stopped early, "
                                                             "0 failed), 0 running, best -")


class _Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_printer_live_on_a_terminal_and_quiet_elsewhere(monkeypatch):
    from tuners.cli import ProgressPrinter
    from tuners.hosts.nni_experiment import Progress
    snapshots = [Progress("RUNNING", t, trials=2, running=2, max_trials=4) for t in (1, 12, 31, 45, 62)]
    final = Progress("DONE", 70, trials=4, succeeded=4, best=0.5, max_trials=4, finished=True)
    monkeypatch.delenv("CI", raising=False)

    tty = _Stream(tty=True)
    printer = ProgressPrinter(tty)
    for p in snapshots + [final]:
        printer(p)
    printer.close()
    out = tty.getvalue()
    assert out.count("\r") == len(snapshots) + 1 and out.count("\n") == 1 and out.endswith("\n")
    assert out.split("\r")[-1].rstrip().endswith("DONE: 4/4 trials done (4 succeeded, 0 stopped early, 0 failed), "
                                                  "0 running, best 0.5")    # padded over the longer line before

    pipe = _Stream(tty=False)   # plain lines, one per 30 s of the experiment
    printer = ProgressPrinter(pipe)
    for p in snapshots + [final]:
        printer(p)
    printer.close()
    lines = pipe.getvalue().splitlines()
    assert [line.split("]")[0] for line in lines] == ["[   31 s", "[   62 s"] and "\r" not in pipe.getvalue()

    monkeypatch.setenv("CI", "true")  # CI: nothing, terminal or not
    for stream in (_Stream(tty=True), _Stream(tty=False)):
        printer = ProgressPrinter(stream)
        for p in snapshots + [final]:
            printer(p)
        printer.close()
        assert stream.getvalue() == ""
