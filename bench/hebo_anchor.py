"""HEBO (Huawei Noah's Ark, NeurIPS 2020 BBO challenge winner) as an NNI Tuner anchor.

HEBO 0.3.6 pins numpy < 1.25, so it lives in an environment of its own (``bash
bench/hebo_env.sh`` creates ``.venv-hebo`` at the repository root) and runs there as a
subprocess, ``bench/hebo_worker.py``, spoken to in JSON lines. :class:`HEBOTuner` exposes the
NNI Tuner calls over that pipe; the search-space conversion lives in the worker.

* ``NASP_HEBO_PYTHON``: the python of the HEBO environment (default ``<repo>/.venv-hebo/bin/python``).
* Results: HEBO learns from finite final results only. A NaN/inf result, or a trial that ends
  without a result (failed, or stopped early by an assessor), is *not observed*: HEBO's own
  ``observe`` drops non-finite values, and imputing one (say the worst value seen) would put a
  made-up point into its GP and its power transform of the targets. Such a configuration may be
  proposed again.
* Parallel proposals: ``generate_multiple_parameters`` with several ids asks HEBO for a batch
  (its MACE batch mode). Proposals asked one at a time while others are still running know
  nothing of those running trials (HEBO has no notion of pending points).

Example::

    from bench.hebo_anchor import hebo_contender
    c = hebo_contender()               # c.unavailable: why it cannot run here (no environment), or None
    trace = run(c.make, LCBench("3945"), n_evals=50, workers=1, seed=0)   # bench.harness.run
    tuner = c.make(0, problem)         # HEBOTuner(optimize_mode="maximize", seed=0)
    tuner.close()                      # stops the worker (also done on collection and at exit)
"""
from __future__ import annotations

import collections
import functools
import json
import logging
import math
import os
import queue
import random
import subprocess
import threading
import weakref
from pathlib import Path
from typing import Any

from nni.tuner import Tuner

__all__ = ["HEBOTuner", "HEBOError", "hebo_python", "hebo_unavailable", "hebo_contender", "WORKER"]

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "hebo_worker.py"
ENV_VAR = "NASP_HEBO_PYTHON"
#: Seconds the worker may take to start (imports torch, pandas, HEBO) and answer ``init``.
START_TIMEOUT_S = 300.0


class HEBOError(RuntimeError):
    """The HEBO environment is missing, or its worker failed, died or timed out."""


def hebo_python() -> Path:
    """The python of the HEBO environment: ``$NASP_HEBO_PYTHON`` or ``<repo>/.venv-hebo/bin/python``."""
    value = os.environ.get(ENV_VAR)
    return Path(value) if value else ROOT / ".venv-hebo" / "bin" / "python"


def _setup_hint(problem: str) -> str:
    return (f"HEBO runs in its own environment: run `bash bench/hebo_env.sh` (creates {ROOT / '.venv-hebo'}), "
            f"or set {ENV_VAR} to the python of an environment with HEBO 0.3.6. Here: {problem}")


@functools.lru_cache(maxsize=8)
def _env_problem(python: str) -> str | None:
    """Why ``python`` cannot run the worker (missing, not executable, no ``hebo``), or None."""
    path = Path(python)
    if not path.exists():
        return _setup_hint(f"{path} does not exist")
    if not os.access(path, os.X_OK) or path.is_dir():
        return _setup_hint(f"{path} is not an executable")
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('hebo') is None)"
    try:
        done = subprocess.run([python, "-I", "-c", probe], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return _setup_hint(f"{path} could not be run ({exc})")
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        return _setup_hint(f"the package `hebo` is not importable by {path} ({tail[0]})")
    return None


def hebo_unavailable() -> str | None:
    """Why the HEBO anchor cannot run here (its environment is missing or broken), or None."""
    return _env_problem(str(hebo_python()))


def _shutdown(proc: subprocess.Popen, wait_s: float = 5.0) -> None:
    """Ask the worker to quit; kill it if it does not. Safe to call twice. (Its stdout and stderr
    are left to the reader threads, which end at their end of file.)"""
    if proc.poll() is None:
        try:
            proc.stdin.write('{"op": "quit"}\n')
            proc.stdin.flush()
        except (OSError, ValueError):
            pass
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=wait_s)
    try:
        proc.stdin.close()
    except (OSError, ValueError):
        pass


def _pump(stream, sink) -> None:
    """Reader thread: each line of ``stream`` into ``sink`` (a Queue's put or a deque's append);
    None once the stream ends."""
    try:
        for line in stream:
            sink(line)
    except (OSError, ValueError):
        pass
    finally:
        sink(None)


class HEBOTuner(Tuner):
    """HEBO (``hebo.optimizers.hebo.HEBO``, GP surrogate, MACE acquisition) as an NNI Tuner.

    ``seed``: seeds HEBO's Sobol initial design and numpy/torch/random in the worker, so the same
    seed gives the same proposals (None: a random seed). ``rand_sample``: how many quasi-random
    proposals come before the model-based ones (None: HEBO's default, 1 + number of parameters).
    ``python``: the HEBO environment's python (default :func:`hebo_python`). ``timeout_s``: the
    longest one suggest/observe may take. ``observed``: how many results HEBO has learnt from.
    """

    def __init__(self, optimize_mode: str = "maximize", seed: int | None = None, rand_sample: int | None = None,
                 python: str | os.PathLike | None = None, timeout_s: float = 600.0):
        if optimize_mode not in ("maximize", "minimize"):
            raise ValueError(f"optimize_mode must be 'maximize' or 'minimize', got {optimize_mode!r}")
        if seed is not None and (isinstance(seed, bool) or int(seed) != seed):
            raise ValueError(f"seed must be an integer or None, got {seed!r}")
        if rand_sample is not None and (isinstance(rand_sample, bool) or int(rand_sample) != rand_sample
                                        or rand_sample < 2):
            raise ValueError(f"rand_sample must be an integer >= 2 or None, got {rand_sample!r}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
        self.mode = "max" if optimize_mode == "maximize" else "min"
        self.seed = int(seed) if seed is not None else random.SystemRandom().randrange(2 ** 31)
        self.rand_sample = None if rand_sample is None else int(rand_sample)
        self.python = Path(python) if python is not None else hebo_python()
        self.timeout_s = float(timeout_s)
        problem = _env_problem(str(self.python))
        if problem:
            raise HEBOError(problem)
        self._proc: subprocess.Popen | None = None
        self._out: queue.Queue = queue.Queue()
        self._err: collections.deque = collections.deque(maxlen=200)
        self._finalizer: weakref.finalize | None = None
        self._pending: dict[int, dict] = {}      # proposed, no result yet
        self._space: dict | None = None
        self._stopped: str | None = None         # why there is no worker (after a failure or close)
        self.observed = 0

    # -- the worker ---------------------------------------------------------------------------

    def _start(self) -> None:
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(var, "1")
        env["PYTHONHASHSEED"] = "0"   # nothing in the worker may depend on a per-process hash seed
        try:
            proc = subprocess.Popen([str(self.python), "-I", str(WORKER)], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    encoding="utf-8", bufsize=1, env=env, cwd=str(ROOT))
        except OSError as exc:
            raise HEBOError(_setup_hint(f"{self.python} could not start the worker ({exc})")) from exc
        self._out = queue.Queue()
        self._err = collections.deque(maxlen=200)
        threading.Thread(target=_pump, args=(proc.stdout, self._out.put), daemon=True,
                         name="hebo-stdout").start()
        threading.Thread(target=_pump, args=(proc.stderr, self._err.append), daemon=True,
                         name="hebo-stderr").start()
        self._proc = proc
        # Stops the worker when the tuner is collected or, if it is still alive, at exit.
        self._finalizer = weakref.finalize(self, _shutdown, proc)

    @property
    def worker_pid(self) -> int | None:
        """The worker's process id (None when no worker runs)."""
        return self._proc.pid if self._proc is not None else None

    def _stderr_tail(self, lines: int = 15) -> str:
        tail = [ln.rstrip("\n") for ln in list(self._err) if ln is not None][-lines:]
        return "\n".join(tail) if tail else "(nothing on stderr)"

    def _request(self, op: str, timeout_s: float | None = None, **payload: Any) -> dict:
        """Send one request and wait for its answer; HEBOError on an error answer, death or timeout."""
        proc = self._proc
        if proc is None:
            raise HEBOError(f"HEBO worker: cannot {op!r}: {self._stopped or 'no worker yet'}")
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        try:
            proc.stdin.write(json.dumps({"op": op, **payload}, allow_nan=False) + "\n")
            proc.stdin.flush()
        except (OSError, ValueError):
            pass   # a dead worker: reported below from its exit status
        try:
            line = self._out.get(timeout=timeout_s)
        except queue.Empty:
            self.close(wait_s=1.0)
            self._stopped = f"the worker was stopped after it did not answer {op!r} within {timeout_s:g} s"
            raise HEBOError(f"HEBO worker did not answer {op!r} within {timeout_s:g} s; stopped it. "
                            f"stderr tail:\n{self._stderr_tail()}") from None
        if line is None:
            try:
                code = proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            self.close(wait_s=1.0)
            self._stopped = f"the worker exited (status {code}) during {op!r}"
            raise HEBOError(f"HEBO worker ({self.python} {WORKER.name}) exited (status {code}) "
                            f"during {op!r}. stderr tail:\n{self._stderr_tail()}")
        try:
            answer = json.loads(line)
        except json.JSONDecodeError:
            raise HEBOError(f"HEBO worker answered {op!r} with a line that is not JSON: {line[:300]!r}") from None
        if "error" in answer:
            raise HEBOError(f"HEBO worker: {op!r} failed: {answer['error']}")
        return answer

    def close(self, wait_s: float = 5.0) -> None:
        """Stop the worker (idempotent). Also done by ``__del__`` and, for a tuner still alive then,
        at interpreter exit (a ``weakref.finalize``)."""
        proc, self._proc = getattr(self, "_proc", None), None
        if proc is not None:
            self._stopped = "the tuner was closed"
            _shutdown(proc, wait_s)
        if getattr(self, "_finalizer", None) is not None:
            self._finalizer.detach()
            self._finalizer = None

    def __del__(self) -> None:
        try:
            self.close(wait_s=1.0)
        except Exception:   # interpreter shutdown: nothing more to do
            pass

    # -- NNI Tuner ----------------------------------------------------------------------------

    def update_search_space(self, search_space: dict) -> None:
        """Start HEBO on ``search_space`` (the worker on the first call): what was observed
        before is forgotten. An unsupported space raises HEBOError naming the parameter."""
        if not isinstance(search_space, dict) or not search_space:
            raise ValueError(f"HEBOTuner: expected a non-empty NNI search space, got {search_space!r}")
        self._pending.clear()
        self._space, self.observed = None, 0
        if self._proc is None or self._proc.poll() is not None:
            self.close()
            self._start()
            self._stopped = None
        self._request("init", timeout_s=max(self.timeout_s, START_TIMEOUT_S), space=search_space,
                      seed=self.seed, mode=self.mode, rand_sample=self.rand_sample)
        self._space = dict(search_space)

    def _need_space(self) -> None:
        if self._space is None:
            raise HEBOError("HEBOTuner: no search space: call update_search_space first"
                            + (f" ({self._stopped})" if self._stopped else ""))

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict:
        return self.generate_multiple_parameters([parameter_id], **kwargs)[0]

    def generate_multiple_parameters(self, parameter_id_list: list[int], **kwargs: Any) -> list[dict]:
        """One HEBO batch of ``len(parameter_id_list)`` proposals."""
        if not parameter_id_list:
            return []
        self._need_space()
        params = self._request("suggest", n=len(parameter_id_list))["params"]
        if len(params) != len(parameter_id_list):
            raise HEBOError(f"HEBO worker: asked for {len(parameter_id_list)} proposals, got {len(params)}")
        for pid, p in zip(parameter_id_list, params):
            self._pending[pid] = p
        return params

    def receive_trial_result(self, parameter_id: int, parameters: dict, value: Any, **kwargs: Any) -> None:
        """Observe a finite result; a non-finite one is not observed (see the module doc)."""
        self._pending.pop(parameter_id, None)
        self._need_space()
        metric = _metric(value)
        if metric is None:
            log.info("HEBOTuner: trial %s result %r is not a finite number; not observed", parameter_id, value)
            return
        self.observed = self._request("observe", params=parameters, value=metric)["observed"]

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        """A trial that ends without a result is not observed (see the module doc)."""
        if self._pending.pop(parameter_id, None) is not None:
            log.info("HEBOTuner: trial %s ended without a result (success=%s); not observed", parameter_id, success)

    def import_data(self, data: list[dict]) -> None:
        """Observe earlier results (NNI's ``[{"parameter": {...}, "value": ...}, ...]``)."""
        self._need_space()
        for item in data:
            metric = _metric(item.get("value"))
            if metric is not None:
                self.observed = self._request("observe", params=item["parameter"], value=metric)["observed"]


def _metric(value: Any) -> float | None:
    """NNI's final result (a number or ``{"default": number, ...}``) as a finite float, else None."""
    if isinstance(value, dict):
        value = value.get("default")
    if isinstance(value, bool):
        return None
    try:
        metric = float(value)
    except (TypeError, ValueError):
        return None
    return metric if math.isfinite(metric) else None


def hebo_contender():
    """The "hebo" anchor for ``bench.anchors``; ``unavailable`` when its environment is missing.
    ``slow``: a model-based proposal takes ~10 s of CPU (a GP fit and pymoo's mixed-variable
    NSGA-II, 100 generations of 100), so the CLI runs it on a subset by default."""
    from bench.anchors import Contender

    def make(seed: int, problem) -> HEBOTuner:
        return HEBOTuner(optimize_mode="maximize", seed=int(seed))

    return Contender("hebo", "HEBO", "anchor", make, slow=True, unavailable=hebo_unavailable())
