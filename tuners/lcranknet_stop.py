"""LCRankNet early stopping (Wistuba & Pedapati, ICML 2020): stop a trial unlikely to beat the best."""
from __future__ import annotations

import atexit
import json
import logging
import threading
import weakref
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from nas_plugins.space import Space
from nas_plugins.strategy import EarlyStopper, as_metric

from .registry import register

_logger = logging.getLogger(__name__)
_EXIT_JOIN_S = 60.0     # at exit, wait at most this long for a refit to notice the stop flag (one step: ms)
_live: "weakref.WeakSet[LCRankNetStop]" = weakref.WeakSet()   # stoppers that started a background refit
_atexit_registered = False


def _close_all_at_exit() -> None:
    """Stop every background refit before the interpreter tears down: a daemon thread still inside
    torch when the process exits aborts it ("terminate called without an active exception", exit 134)."""
    for stopper in list(_live):
        stopper.close(timeout=_EXIT_JOIN_S)


def _register_atexit() -> None:
    # Registered when the first refit thread starts, i.e. after torch was imported: atexit runs
    # handlers last-in first-out, so this one runs before any torch registered.
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(_close_all_at_exit)
        _atexit_registered = True


@register("lcranknet", "assessor", nni_name="NaspLCRankNet")
class LCRankNetStop(EarlyStopper):
    """LCRankNet: stop a trial when a learned curve ranker says it beats the best finished trial with probability < delta.

    The ranker (an ensemble of small networks) gives each (partial curve, configuration, task) a
    score ``f`` and a spread ``s`` per member; ``p`` is the members' mean of
    ``sigmoid((f_running - f_best) / sqrt(s_running² + s_best²))``, so members that disagree pull
    it towards 1/2 and a trial is not stopped on one network's confident-looking score. With
    ``model_path`` (a file from ``nas-plugins lcranknet-pretrain``) it starts from curves of other
    tasks (transfer) and adapts a new task embedding on this experiment's finished trials; without
    it, it learns online only, from this experiment's finished trials (configurations are then
    encoded only if ``search_space`` is given; ``members`` networks). Refits run in a background
    thread (``background=True``), so a decision is one forward pass per member (well under a
    millisecond). A refit checks a stop flag between training steps: :meth:`close` (also run at
    interpreter exit for every stopper with a refit thread) ends it within a step and joins it.

    Example (NNI)::

        assessor:
          name: NaspLCRankNet
          classArgs: {model_path: lcranknet.pt, delta: 0.05}
    """

    def __init__(self, *, model_path: str | None = None, delta: float = 0.05, start_step: int = 1,
                 min_completed: int = 1, online: bool = True, refit_every: int = 1, adapt_steps: int = 30,
                 online_steps: int = 300, online_min_completed: int = 3, members: int = 3, background: bool = True,
                 guard: bool = True, curve_scale: float | None = None, search_space: dict | str | None = None,
                 mode: str = "max", seed: int | None = None):
        if not isinstance(delta, (int, float)) or isinstance(delta, bool) or not 0 < delta < 1:
            raise ValueError(f"delta must be a probability in (0, 1), got {delta!r}")
        for key, value in (("start_step", start_step), ("min_completed", min_completed), ("members", members),
                           ("refit_every", refit_every), ("online_min_completed", online_min_completed)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{key} must be a positive integer, got {value!r}")
        for key, value in (("adapt_steps", adapt_steps), ("online_steps", online_steps)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{key} must be a non-negative integer, got {value!r}")
        for key, value in (("online", online), ("background", background), ("guard", guard)):
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be true or false, got {value!r}")
        if curve_scale is not None and (not isinstance(curve_scale, (int, float)) or isinstance(curve_scale, bool)
                                        or not curve_scale > 0):
            raise ValueError(f"curve_scale must be a positive number, got {curve_scale!r}")
        super().__init__(mode=mode, seed=seed)
        from nas_plugins.lcranknet import Ranker   # torch: imported only when the assessor is used

        self.delta = float(delta)
        self.start_step, self.min_completed = start_step, min_completed
        self.online, self.refit_every, self.background, self.guard = online, refit_every, background, guard
        self.adapt_steps, self.online_steps, self.online_min_completed = adapt_steps, online_steps, online_min_completed
        self.transfer = model_path is not None
        if model_path is not None:
            if not isinstance(model_path, (str, Path)):
                raise ValueError(f"model_path must be a file path, got {model_path!r}")
            self.ranker = Ranker.load(model_path, seed=seed)
            self.ranker.reset_new_task()
        else:
            space = _space_option(search_space)
            self.ranker = Ranker.new(space, n_tasks=0, curve_scale=curve_scale or 1.0, seed=seed, members=members,
                                     uncertainty=True)
        if curve_scale is not None:
            self.ranker.curve_scale = float(curve_scale)
        self._done: dict[str, tuple[list[float], Mapping | None]] = {}   # finished trials
        self._since_fit = 0
        self._fits = 0
        self._best_cache: tuple[int, str, tuple] | None = None           # (fits, trial id, prediction)
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._again = False
        self._stop = threading.Event()      # set by close(): refits end at the next step, none start

    def __getstate__(self) -> dict:
        self.wait()
        state = dict(self.__dict__)
        for key in ("_lock", "_thread", "_again", "_stop"):
            state.pop(key)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._init_runtime()

    @property
    def ready(self) -> bool:
        """True once the ranker can judge: pre-trained, or fitted online at least once."""
        return self.transfer or self._fits > 0

    # -- decisions -----------------------------------------------------------------------------
    def _values(self, curve: Sequence[Any]) -> list[float | None]:
        out = []
        for v in curve:
            x = as_metric(v)
            out.append(None if x is None else self.score(x))
        return out

    def _best_id(self) -> str | None:
        return max(self._done, key=lambda k: self._done[k][0][-1]) if self._done else None

    def _best(self) -> tuple | None:
        """Ranker prediction for the finished trial with the best final value (cached per model)."""
        best_id = self._best_id()
        if best_id is None:
            return None
        if self._best_cache is None or self._best_cache[:2] != (self._fits, best_id):
            curve, config = self._done[best_id]
            mu, spread = self.ranker.predict([curve], [config])
            self._best_cache = (self._fits, best_id, (mu[:, 0], spread[:, 0]))
        return self._best_cache[2]

    def probability(self, curve: Sequence[Any], config: Mapping | None = None) -> float | None:
        """Estimated probability that this trial ends better than the best finished one (None: no basis)."""
        values = self._values(curve)
        if not any(v is not None for v in values) or len(self._done) < self.min_completed or not self.ready:
            return None
        with self._lock:
            best = self._best()
            if best is None:
                return None
            mu, spread = self.ranker.predict([values], [config])
            return self.ranker.beat_probability((mu[:, 0], spread[:, 0]), best)

    def should_stop(self, trial_id: str, curve: Sequence[Any], config: Mapping | None = None) -> bool:
        if len(curve) < self.start_step:
            return False
        if self.guard and self._ahead_of_best(curve):
            return False
        p = self.probability(curve, config)
        return p is not None and p < self.delta

    def _ahead_of_best(self, curve: Sequence[Any]) -> bool:
        """True when the trial's best value so far is at least the best finished trial's at this step."""
        mine = [v for v in self._values(curve) if v is not None]
        with self._lock:
            best = self._best_id()
            if not mine or best is None:
                return False
            theirs = self._done[best][0][:len(curve)]
        return max(mine) >= max(theirs)

    # -- learning ------------------------------------------------------------------------------
    def complete(self, trial_id: str, curve: Sequence[Any], success: bool = True,
                 config: Mapping | None = None) -> None:
        values = self._values(curve)
        finite = [v for v in values if v is not None]
        if not success or not finite:
            return
        # Fill missing steps forward so the final value is the last one reported.
        filled, last = [], finite[0]
        for v in values:
            last = last if v is None else v
            filled.append(last)
        with self._lock:
            self._done[str(trial_id)] = (filled, dict(config) if isinstance(config, Mapping) else None)
        self._since_fit += 1
        if self.online and self._since_fit >= self.refit_every:
            self._since_fit = 0
            self._schedule_fit()

    def _schedule_fit(self) -> None:
        if self.closed:
            return                       # closed: finished trials are still recorded, never refitted
        if not self.background:
            self._fit()
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                self._again = True       # fit once more when the running one ends
                return
            # Daemon, so a host that never calls close() still exits; the atexit hook stops and
            # joins it before the interpreter (and torch) is torn down.
            thread = threading.Thread(target=self._fit_loop, name="lcranknet-fit", daemon=True)
            _register_atexit()
            _live.add(self)
            try:
                thread.start()
            except RuntimeError:         # "can't create new thread at interpreter shutdown"
                return
            self._thread = thread

    def _fit_loop(self) -> None:
        while not self.closed:
            try:
                self._fit()
            except Exception:  # a failed refit keeps the previous model; never take the host down
                _logger.exception("LCRankNet refit failed; keeping the previous model")
            with self._lock:
                if not self._again or self.closed:
                    return
                self._again = False

    def _fit(self) -> None:
        from nas_plugins.lcranknet import TaskCurves
        with self._lock:
            done = list(self._done.values())
            ranker = self.ranker.clone()
        if self.transfer:
            minimum, steps, params, lr = 2, self.adapt_steps, "task", 1e-2
        else:
            minimum, steps, params, lr = self.online_min_completed, self.online_steps, "all", 1e-3
        if len(done) < minimum or steps == 0:
            return
        width = max(len(c) for c, _ in done)
        curves = np.array([c + [c[-1]] * (width - len(c)) for c, _ in done])
        losses = ranker.fit([TaskCurves([cfg or {} for _, cfg in done], curves)], tasks=[ranker.new_task],
                            steps=steps, batch=64, lr=lr, params=params, stop=self._stop.is_set)
        if not losses or self.closed:    # closed mid-fit: the part-trained ranker is discarded
            return
        with self._lock:
            self.ranker = ranker
            self._fits += 1

    def wait(self) -> None:
        """Block until a background refit in progress has finished (tests, checkpoints)."""
        thread = getattr(self, "_thread", None)
        while thread is not None and thread.is_alive():
            thread.join()
            thread = self._thread

    @property
    def closed(self) -> bool:
        """True after :meth:`close`: no refit runs or starts (decisions use the last model)."""
        return self._stop.is_set()

    def close(self, timeout: float | None = None) -> None:
        """Stop refitting: a refit in progress ends at its next training step (its part-trained
        model is discarded) and its thread is joined (at most ``timeout`` seconds). Decisions still
        work with the last fitted model; later :meth:`complete` calls record trials but refit nothing.
        Idempotent; run automatically at interpreter exit for every stopper that started a refit."""
        self._stop.set()
        thread = getattr(self, "_thread", None)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        _live.discard(self)


def _space_option(search_space: dict | str | None) -> Space:
    """The optional ``search_space`` option: an NNI search-space dict or a JSON file path."""
    if search_space is None:
        return Space(())
    if isinstance(search_space, str):
        try:
            search_space = json.loads(Path(search_space).read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"search_space: cannot read {search_space!r} ({exc})") from None
    if not isinstance(search_space, dict):
        raise ValueError(f"search_space must be an NNI search-space dict or a JSON file path, got {search_space!r}")
    return Space.from_nni(search_space)
