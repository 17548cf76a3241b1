"""Shared fixtures: real NNI experiments on free ports, each in its own working directory."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOY_TRIAL = ROOT / "tests" / "trials" / "toy_trial.py"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "tests" / "trials"))
# The benchmark tables of this repository's checkout (the package itself assumes no place for them);
# trial subprocesses inherit the variable.
os.environ.setdefault("NASP_BENCHMARKS", str(ROOT.parent / "shared" / "benchmarks"))


def exhaust(strategy, limit: int = 10_000) -> list[dict]:
    """Ask until SpaceExhausted; fail if that never comes."""
    from nas_plugins.strategy import SpaceExhausted
    out = []
    while True:
        try:
            out.append(strategy.ask())
        except SpaceExhausted:
            return out
        assert len(out) <= limit, "never exhausted"


def ask_tell(strategy, objective, n: int) -> list[dict]:
    """Ask ``n`` configurations one at a time, telling each its ``objective`` value; return them."""
    out = []
    for _ in range(n):
        config = strategy.ask()
        strategy.tell(config, objective(config))
        out.append(config)
    return out


def keys(configs) -> list[str]:
    from nas_plugins.space import config_key
    return [config_key(c) for c in configs]


@pytest.fixture(scope="session", autouse=True)
def nni_ready(tmp_path_factory):
    """Trials call ``python``: put this interpreter first on PATH. Register our algorithms with NNI
    (what `make install` does) when a bare `pytest` runs before it. Trial checkpoints (Hyperband
    resumes) go to a pytest temporary folder, not the system temp dir."""
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ["NASP_CHECKPOINT_ROOT"] = str(tmp_path_factory.mktemp("checkpoints"))
    from nni.tools.package_utils.config_manager import get_algo_meta
    import tuners
    if any(get_algo_meta(a.nni_name) is None for a in tuners.algorithms()):
        subprocess.run([str(BIN / "nnictl"), "algo", "register", "--meta",
                        str(ROOT / "tuners" / "hosts" / "nni_meta.yml")], check=True)


def nni_config(tmp_path: Path, search_space: dict, *, tuner: str, tuner_args: dict | None = None,
               assessor: str | None = None, assessor_args: dict | None = None, trials: int = 4,
               concurrency: int = 2):
    """An ExperimentConfig running the toy trial under ``tmp_path``."""
    from nni.experiment import AlgorithmConfig, ExperimentConfig
    config = ExperimentConfig("local")
    config.search_space = search_space
    config.trial_command = f"python {TOY_TRIAL}"
    config.trial_code_directory = str(ROOT)
    config.trial_concurrency = concurrency
    config.max_trial_number = trials
    config.max_experiment_duration = "5m"
    config.tuner = AlgorithmConfig(name=tuner, class_args=tuner_args or {})
    if assessor:
        config.assessor = AlgorithmConfig(name=assessor, class_args=assessor_args or {})
    config.experiment_working_directory = str(tmp_path / "nni")
    return config
