"""NNI's remote training service against a real SSH server on this machine (127.0.0.1).

The test starts its own ``sshd -D`` on a free port with a throw-away host key and user key, and runs a
tiny experiment (our ``NaspRandom``, 3 toy trials) with ``trainingService: {platform: remote,
machineList: [{host: 127.0.0.1, port, user, sshKeyFile, pythonPath}]}``. Skipped, with the reason, where
no OpenSSH server is installed (Debian/Ubuntu: ``apt-get install openssh-server``; the test needs the
``sshd`` binary only, not the system service) or it cannot start.

What the "remote" machine gets, as a real one would:

* its own working folder (``~/nni-experiments`` of the SSH user, here a temporary ``HOME``), the
  experiment's code directory uploaded as a tarball (a small copy of this repository's packages: NNI
  refuses a code directory of more than 2000 files or 300 MB, see ``.nniignore``);
* ``pythonPath``: a folder whose ``python`` runs this interpreter. NNI 3.0 starts every remote machine
  with ``python -m pip install nni --upgrade`` (``nni_node/training_service/remote_v3/worker.js``), which
  would reach the package index and change this environment: the test's ``python`` answers that one
  command itself. A real remote machine needs NNI 3.0 installed (or network access for that pip call).
"""
from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT

from tuners.hosts.nni_experiment import run

SSHD = shutil.which("sshd") or next((p for p in ("/usr/sbin/sshd", "/usr/local/sbin/sshd") if os.path.exists(p)), None)
SSH_KEYGEN = shutil.which("ssh-keygen")
pytestmark = pytest.mark.skipif(
    SSHD is None or SSH_KEYGEN is None,
    reason="needs OpenSSH's sshd and ssh-keygen binaries (Debian/Ubuntu: apt-get install openssh-server); "
           f"found sshd={SSHD}, ssh-keygen={SSH_KEYGEN}")

PORTS = range(28000, 29000)      # this machine's test port range


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS}")


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


@pytest.fixture(scope="module")
def ssh_server(tmp_path_factory):
    """A throw-away sshd on 127.0.0.1 (key login for the current user only); yields (port, user, key)."""
    tmp = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "user_key"):
        subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / name)], check=True)
    (tmp / "authorized_keys").write_text((tmp / "user_key.pub").read_text())
    os.chmod(tmp / "authorized_keys", 0o600)
    if not os.path.isdir("/run/sshd"):          # sshd's privilege-separation folder (made by its system service)
        try:
            os.makedirs("/run/sshd", mode=0o755)
        except OSError as exc:
            pytest.skip(f"sshd needs /run/sshd, which cannot be created here ({exc})")
    port = free_port()
    (tmp / "sshd_config").write_text(f"""\
Port {port}
ListenAddress 127.0.0.1
HostKey {tmp / 'host_key'}
AuthorizedKeysFile {tmp / 'authorized_keys'}
PidFile {tmp / 'sshd.pid'}
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
""")
    log = open(tmp / "sshd.log", "w")
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(tmp / "sshd_config")], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        if not _wait_port(port, proc):
            pytest.skip(f"sshd did not start: {(tmp / 'sshd.log').read_text()[-1000:]}")
        yield port, getpass.getuser(), tmp / "user_key"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)     # the listener and the sessions it forked
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _remote_python(folder: Path, home: Path) -> Path:
    """``pythonPath`` for the remote machine: ``python`` is this interpreter with ``HOME`` in a temporary
    folder (NNI's remote working folder is ``~/nni-experiments``), except for NNI's start-up
    ``python -m pip install nni --upgrade``, answered here."""
    folder.mkdir(parents=True)
    script = folder / "python"
    script.write_text(f"""#!/bin/sh
export HOME={home}
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
  echo "nas-plugins test: '$*' skipped on this test SSH server"; exit 0
fi
exec {sys.executable} "$@"
""")
    script.chmod(0o755)
    (folder / "python3").symlink_to(script)
    return folder


def _code_directory(path: Path) -> Path:
    """The packages a trial imports and the toy trial, as a small code directory to upload."""
    for package in ("nas_plugins", "tuners", "trial_templates"):
        shutil.copytree(ROOT / package, path / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (path / "tests").mkdir()
    shutil.copytree(ROOT / "tests" / "trials", path / "tests" / "trials", ignore=shutil.ignore_patterns("__pycache__"))
    return path


def _kill_leftovers(marker: str) -> None:
    """End processes (by pid) whose command line names ``marker`` (a trial keeper that outlived its
    experiment); only ours: the marker is this test's temporary folder."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline or f"HOME={marker}" in environ:
            try:
                os.kill(int(pid), signal.SIGTERM)
            except OSError:
                pass


def test_remote_training_service_runs_our_tuner_over_ssh(ssh_server, tmp_path):
    from nni.experiment import AlgorithmConfig, ExperimentConfig, RemoteConfig, RemoteMachineConfig
    port, user, key = ssh_server
    home = tmp_path / "remote-home"
    home.mkdir()
    machine = RemoteMachineConfig(host="127.0.0.1", port=port, user=user, ssh_key_file=str(key),
                                  python_path=str(_remote_python(tmp_path / "remote-python", home)))
    config = ExperimentConfig(training_service=RemoteConfig(machine_list=[machine]))
    config.search_space = {"x": {"_type": "choice", "_value": [0.2, 0.5, 0.9]},
                           "sleep": {"_type": "choice", "_value": [0.1]}}
    config.trial_command = "PYTHONPATH=. python tests/trials/toy_trial.py"
    config.trial_code_directory = str(_code_directory(tmp_path / "code"))
    config.trial_concurrency = 2
    config.max_trial_number = 3
    config.max_experiment_duration = "4m"
    config.tuner = AlgorithmConfig(name="NaspRandom", class_args={"optimize_mode": "maximize", "seed": 0})
    config.experiment_working_directory = str(tmp_path / "nni")
    config.nni_manager_ip = "127.0.0.1"
    try:
        exp, records, status = run(config, port=free_port(), timeout=200)
    finally:
        _kill_leftovers(str(home))
    assert status in ("DONE", "TUNER_NO_MORE_TRIAL"), status
    assert len(records) == 3 and all(r.status == "SUCCEEDED" for r in records), records
    assert sorted(r.parameters["x"] for r in records) == [0.2, 0.5, 0.9]
    from toy_objective import score
    assert all(r.final == pytest.approx(score(r.parameters)) and len(r.intermediate) == 3 for r in records)
    # The trials ran on the "remote" machine: in its working folder, from the uploaded code directory.
    assert list((home / "nni-experiments" / exp.id).glob("environments/*/trials/*/trial.stdout")) or \
        list((home / "nni-experiments" / exp.id).rglob("trial.stdout")), sorted(home.rglob("*"))[:50]
