"""LCRankNet (Wistuba & Pedapati, "Learning to Rank Learning Curves", ICML 2020).

A score ``f(partial curve, configuration, task)``, trained so that
``p(final_i > final_j) = sigmoid(f(x_i) - f(x_j))`` with the pairwise cross-entropy loss:

- the curve goes through 1-D convolutions of several widths (causal, so a curve of any length,
  even one point, encodes; max-pooled over the observed steps) plus its last and best value and
  its length as a fraction of ``max_len``;
- the configuration is a :class:`~nas_plugins.encoding.ConfigEncoder` vector through a small MLP;
- each task has a learned embedding; the extra last row is the "new task" slot that an
  experiment on an unseen task adapts (it starts as the mean of the trained tasks).

Curves are in the units the model was trained on divided by ``curve_scale`` (LCBench reports
percent, so its models use 100).

Example::

    >>> from nas_plugins.lcbench import LCBENCH_SPACE
    >>> from nas_plugins.lcranknet import Ranker, TaskCurves
    >>> from nas_plugins.space import Space
    >>> ranker = Ranker.new(Space.from_nni(LCBENCH_SPACE), n_tasks=2, seed=0)
    >>> data = [TaskCurves(configs, curves) for configs, curves in ...]       # doctest: +SKIP
    >>> ranker.fit(data, steps=500)                                           # doctest: +SKIP
    >>> ranker.score([[50.0, 60.0]], [config], task=ranker.new_task)          # doctest: +SKIP
    >>> ranker.save("lcranknet.pt"); Ranker.load("lcranknet.pt")              # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from .encoding import ConfigEncoder
from .space import Space

__all__ = ["LCRankNet", "Ranker", "TaskCurves", "pair_logit", "pretrain_lcbench"]

_UNIT_SPREAD = 1.0 / math.sqrt(2.0)   # the spread that makes pair_logit the plain score difference
_MIN_SPREAD = 0.05
_FORMAT, _FORMAT_V1 = "nas-plugins/lcranknet/2", "nas-plugins/lcranknet/1"   # v1: one network, no ensemble


def pair_logit(score_i, spread_i, score_j, spread_j):
    """The logit of ``p(final_i > final_j)``: the score difference over the combined spread
    (Thurstone-style: with ``uncertainty`` a network learns a spread per curve, so a curve it knows
    little about can compare close to 50%). Works on floats, arrays and tensors."""
    return (score_i - score_j) / (spread_i ** 2 + spread_j ** 2) ** 0.5


@contextlib.contextmanager
def _one_thread():
    """Run torch on one thread: this network is tiny, and intra-op threads on a busy machine cost
    far more than they save (100x slower decisions were measured on a loaded 2-core box)."""
    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before != 1:
            torch.set_num_threads(before)


class LCRankNet(nn.Module):
    """The scoring network; :class:`Ranker` wraps it with encoding, training and persistence."""

    def __init__(self, config_dim: int, n_tasks: int, *, max_len: int = 52, channels: int = 16,
                 kernels: Sequence[int] = (2, 3, 5), hidden: int = 64, task_dim: int = 8,
                 uncertainty: bool = False):
        super().__init__()
        self.max_len = int(max_len)
        self.uncertainty = bool(uncertainty)
        self.kernels = tuple(int(k) for k in kernels)
        self.convs = nn.ModuleList(nn.Conv1d(1, channels, k) for k in self.kernels)
        self.config_net = nn.Sequential(nn.Linear(max(config_dim, 1), hidden), nn.ReLU(),
                                        nn.Linear(hidden, hidden // 2), nn.ReLU())
        self.tasks = nn.Embedding(n_tasks + 1, task_dim)      # the last row: a new task
        width = channels * len(self.kernels) + 3 + hidden // 2 + task_dim
        self.head = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, 2 if uncertainty else 1))

    def forward(self, curves: torch.Tensor, lengths: torch.Tensor, configs: torch.Tensor,
                tasks: torch.Tensor) -> torch.Tensor:
        """``curves`` [B, T] (positions from ``lengths`` on are ignored), ``lengths`` [B] >= 1,
        ``configs`` [B, config_dim], ``tasks`` [B] -> (scores [B], spreads [B]).

        Two curves compare as ``p(i > j) = sigmoid(pair_logit(...))``. Without ``uncertainty`` the
        spread is a constant ``1/sqrt(2)``, so the logit is the plain score difference."""
        batch, width = curves.shape
        steps = torch.arange(width, device=curves.device)
        valid = steps[None, :] < lengths[:, None]                        # [B, T]
        x = curves[:, None, :]
        pooled = []
        for k, conv in zip(self.kernels, self.convs):
            # Causal: pad on the left with the first value, so output t sees steps t-k+1..t.
            padded = torch.cat([x[:, :, :1].expand(batch, 1, k - 1), x], dim=2)
            h = torch.relu(conv(padded))                                  # [B, C, T]
            h = h.masked_fill(~valid[:, None, :], -math.inf)
            pooled.append(h.max(dim=2).values)
        last = curves.gather(1, (lengths - 1)[:, None])
        best = curves.masked_fill(~valid, -math.inf).max(dim=1, keepdim=True).values
        frac = (lengths.to(curves.dtype) / self.max_len)[:, None]
        features = torch.cat(pooled + [last, best, frac, self.config_net(configs), self.tasks(tasks)], dim=1)
        out = self.head(features)
        if not self.uncertainty:
            return out[:, 0], torch.full_like(out[:, 0], _UNIT_SPREAD)
        return out[:, 0], nn.functional.softplus(out[:, 1]) + _MIN_SPREAD


@dataclass
class TaskCurves:
    """Training data of one task: configurations and their (complete) learning curves.

    ``curves`` is [n, T] in raw units (NaN where a step is missing); a curve's final value is its
    last finite entry.
    """
    configs: Sequence[Mapping]
    curves: np.ndarray


def _fill_forward(curve: np.ndarray) -> np.ndarray:
    """Missing/NaN steps take the previous finite value (the first finite value at the start)."""
    out = np.array(curve, dtype=np.float64)
    ok = np.isfinite(out)
    if not ok.any():
        return np.zeros_like(out)
    idx = np.where(ok, np.arange(len(out)), 0)
    np.maximum.accumulate(idx, out=idx)
    out = out[idx]
    first = int(np.argmax(ok))
    out[:first] = out[first]
    return out


class Ranker:
    """Encoding, training, scoring and persistence around an ensemble of :class:`LCRankNet` members.

    Members differ in their initial weights and training pairs. Each member's scores have an
    arbitrary offset, so members are only compared with themselves: a ranking averages their
    scores, a probability averages their probabilities (:meth:`beat_probability`), which is
    where their disagreement shows."""

    def __init__(self, models: LCRankNet | Sequence[LCRankNet], space: Space, *, curve_scale: float = 1.0,
                 task_names: Sequence[str] = (), seed: int | None = None):
        self.models = [models] if isinstance(models, LCRankNet) else list(models)
        if not self.models:
            raise ValueError("a Ranker needs at least one LCRankNet")
        self.space = space
        self.encoder = ConfigEncoder(space)
        self.curve_scale = float(curve_scale)
        self.task_names = list(task_names)
        self.rng = np.random.default_rng(seed)      # seeds each fit's torch generator

    @classmethod
    def new(cls, space: Space, n_tasks: int, *, max_len: int = 52, curve_scale: float = 1.0,
            task_names: Sequence[str] = (), seed: int | None = None, members: int = 1,
            **model_options: Any) -> "Ranker":
        """An untrained ranker of ``members`` networks (weights seeded by ``seed``)."""
        if not isinstance(members, int) or isinstance(members, bool) or members < 1:
            raise ValueError(f"members must be a positive integer, got {members!r}")
        gen_state = torch.random.get_rng_state()     # seed the weights without touching global state
        try:
            torch.manual_seed(int(seed or 0))
            models = [LCRankNet(ConfigEncoder(space).dim, n_tasks, max_len=max_len, **model_options)
                      for _ in range(members)]
        finally:
            torch.random.set_rng_state(gen_state)
        return cls(models, space, curve_scale=curve_scale, task_names=task_names, seed=seed)

    @property
    def model(self) -> LCRankNet:
        """The first member (all members share their shape)."""
        return self.models[0]

    @property
    def new_task(self) -> int:
        """Index of the embedding row for a task not seen in pre-training."""
        return self.model.tasks.num_embeddings - 1

    def reset_new_task(self) -> None:
        """Set the new-task embedding to the mean of the trained ones (or leave it if there are none)."""
        with torch.no_grad():
            for m in self.models:
                w = m.tasks.weight
                if w.shape[0] > 1:
                    w[-1] = w[:-1].mean(dim=0)

    # -- encoding ---------------------------------------------------------------------------
    def _batch(self, curves: Sequence[Sequence[float]], lengths: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(max(lengths), 1)
        out = np.zeros((len(curves), width))
        for i, (c, n) in enumerate(zip(curves, lengths)):
            c = _fill_forward(np.asarray(c, dtype=np.float64)[:n]) / self.curve_scale
            out[i, :n] = c
            out[i, n:] = c[-1] if n else 0.0
        return torch.as_tensor(out, dtype=torch.float32), torch.as_tensor(np.maximum(lengths, 1), dtype=torch.long)

    def score(self, curves: Sequence[Sequence[Any]], configs: Sequence[Mapping | None], task: int | None = None) -> np.ndarray:
        """Scores of partial curves (any lengths >= 1; None/NaN entries are filled forward): higher
        ranks better (the members' mean)."""
        return self.predict(curves, configs, task)[0].mean(axis=0)

    def predict(self, curves: Sequence[Sequence[Any]], configs: Sequence[Mapping | None],
                task: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Each member's scores and spreads of partial curves, two ``[members, len(curves)]`` arrays."""
        task = self.new_task if task is None else task
        clean = [[np.nan if v is None else float(v) for v in c] for c in curves]
        lengths = [max(len(c), 1) for c in clean]
        x, n = self._batch([c if c else [np.nan] for c in clean], lengths)
        enc = torch.as_tensor(self.encoder.encode_many([c or {} for c in configs]), dtype=torch.float32)
        if enc.shape[1] == 0:
            enc = torch.zeros(len(clean), 1)
        tasks = torch.full((len(clean),), task, dtype=torch.long)
        with torch.no_grad(), _one_thread():
            outs = []
            for m in self.models:
                m.eval()
                outs.append(m(x, n, enc, tasks))
            return torch.stack([o[0] for o in outs]).numpy(), torch.stack([o[1] for o in outs]).numpy()

    @staticmethod
    def beat_probability(mine: tuple[np.ndarray, np.ndarray], other: tuple[np.ndarray, np.ndarray]) -> float:
        """``p(final of mine > final of other)`` from two per-member (scores, spreads) of one curve
        each: the members' mean of ``sigmoid(pair_logit)``."""
        logit = np.clip(pair_logit(mine[0], mine[1], other[0], other[1]), -60.0, 60.0)
        return float(np.mean(1.0 / (1.0 + np.exp(-logit))))

    # -- training ---------------------------------------------------------------------------
    def fit(self, data: Sequence[TaskCurves], *, steps: int = 2000, batch: int = 256, lr: float = 1e-3,
            tasks: Sequence[int] | None = None, params: str = "all", early_bias: float = 0.5,
            top_bias: float = 0.5, stop: Callable[[], bool] | None = None) -> list[float]:
        """Train on pairs of curves of the same task with the pairwise ranking loss.

        ``tasks[k]`` is the embedding row of ``data[k]`` (default: 0, 1, ...). Each pair compares
        curve ``i`` cut at a random length with curve ``j`` cut at a random length or complete;
        ``early_bias`` is the share of cuts drawn from the first 10% of the steps, where early
        stopping decides; ``top_bias`` the share of pairs whose second curve is one of the best 10%
        (early stopping compares running trials with the best finished one). ``params="task"`` trains
        only the task embeddings (adaptation to a new task). ``stop``, if given, is called before
        every step; when it returns True training ends there (the weights are then part-trained: a
        caller that stops a fit should discard the ranker). Returns the loss of each step.
        """
        tasks = list(range(len(data))) if tasks is None else list(tasks)
        prepared = []
        for d, t in zip(data, tasks):
            curves = np.stack([_fill_forward(c) for c in np.asarray(d.curves, dtype=np.float64)]) / self.curve_scale
            finals = curves[:, -1]
            if len(finals) < 2 or np.ptp(finals) == 0:
                continue
            enc = self.encoder.encode_many(list(d.configs))
            if enc.shape[1] == 0:
                enc = np.zeros((len(finals), 1))
            top = np.argsort(-finals, kind="stable")[:max(1, len(finals) // 10)]
            prepared.append((torch.as_tensor(curves, dtype=torch.float32), torch.as_tensor(finals),
                             torch.as_tensor(enc, dtype=torch.float32), t, torch.as_tensor(top)))
        if not prepared:
            return []
        with _one_thread():
            runs = [self._train(m, prepared, steps, batch, lr, params, early_bias, top_bias, stop)
                    for m in self.models]
        n = min(len(r) for r in runs)
        return [float(x) for x in np.mean([r[:n] for r in runs], axis=0)] if n else []

    def _train(self, model: LCRankNet, prepared: list, steps: int, batch: int, lr: float, params: str,
               early_bias: float, top_bias: float, stop: Callable[[], bool] | None = None) -> list[float]:
        trainable = [model.tasks.weight] if params == "task" else list(model.parameters())
        opt = torch.optim.Adam(trainable, lr=lr)
        loss_fn = nn.BCEWithLogitsLoss()
        losses = []
        model.train()
        g = torch.Generator().manual_seed(int(self.rng.integers(2**31)))
        for _ in range(steps):
            if stop is not None and stop():
                break
            curves, finals, enc, t, top = prepared[int(torch.randint(len(prepared), (1,), generator=g))]
            n, width = curves.shape
            i = torch.randint(n, (batch,), generator=g)
            j = torch.where(torch.rand(batch, generator=g) < top_bias,
                            top[torch.randint(len(top), (batch,), generator=g)], torch.randint(n, (batch,), generator=g))
            keep = finals[i] != finals[j]
            if not keep.any():
                continue
            i, j = i[keep], j[keep]
            li = self._cut(len(i), width, early_bias, g)
            lj = torch.where(torch.rand(len(j), generator=g) < 0.5, torch.full_like(li, width),
                             self._cut(len(j), width, early_bias, g))
            tt = torch.full((len(i),), t, dtype=torch.long)
            logit = pair_logit(*model(curves[i], li, enc[i], tt), *model(curves[j], lj, enc[j], tt))
            loss = loss_fn(logit, (finals[i] > finals[j]).float())
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        model.eval()
        return losses

    @staticmethod
    def _cut(size: int, width: int, early_bias: float, g: torch.Generator) -> torch.Tensor:
        early = max(1, width // 10)
        anywhere = torch.randint(1, width + 1, (size,), generator=g)
        soon = torch.randint(1, early + 1, (size,), generator=g)
        return torch.where(torch.rand(size, generator=g) < early_bias, soon, anywhere)

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        m = self.model
        torch.save({"format": _FORMAT, "states": [x.state_dict() for x in self.models], "space": self.space.to_nni(),
                    "curve_scale": self.curve_scale, "task_names": self.task_names,
                    "model": {"n_tasks": m.tasks.num_embeddings - 1, "max_len": m.max_len, "kernels": list(m.kernels),
                              "channels": m.convs[0].out_channels, "hidden": m.head[0].out_features,
                              "task_dim": m.tasks.embedding_dim, "uncertainty": m.uncertainty}}, str(path))

    @classmethod
    def load(cls, path: str | Path, seed: int | None = None) -> "Ranker":
        try:
            blob = torch.load(str(path), map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise FileNotFoundError(f"LCRankNet model file not found: {path} "
                                    "(make one with `nas-plugins lcranknet-pretrain --out FILE`)") from None
        except Exception as exc:
            raise ValueError(f"{path}: not an LCRankNet model file ({type(exc).__name__}: {exc})") from None
        if not isinstance(blob, dict) or blob.get("format") not in (_FORMAT, _FORMAT_V1):
            raise ValueError(f"{path}: not an LCRankNet model file (missing format tag)")
        space = Space.from_nni(blob["space"]) if blob["space"] else Space(())
        options = dict(blob["model"])
        n_tasks = options.pop("n_tasks")
        models = []
        for state in blob["states"] if blob["format"] == _FORMAT else [blob["state"]]:
            model = LCRankNet(ConfigEncoder(space).dim, n_tasks, **options)
            model.load_state_dict(state)
            model.eval()
            models.append(model)
        return cls(models, space, curve_scale=blob["curve_scale"], task_names=blob["task_names"], seed=seed)

    def clone(self) -> "Ranker":
        return copy.deepcopy(self)


def pretrain_lcbench(tasks: Sequence[str] | None = None, *, exclude: Sequence[str] = (), path: str | None = None,
                     steps: int = 3000, batch: int = 256, seed: int = 0, max_configs: int | None = None,
                     members: int = 3, uncertainty: bool = True, fit_options: Mapping[str, Any] | None = None,
                     **model_options: Any) -> Ranker:
    """An LCRankNet ensemble of ``members`` networks trained on LCBench curves of ``tasks``
    (default: all) minus ``exclude``.

    ``fit_options`` go to :meth:`Ranker.fit`, ``model_options`` to :class:`LCRankNet`."""
    from .lcbench import LCBENCH_SPACE, load_lcbench
    table = load_lcbench(path)
    chosen = list(tasks) if tasks else list(table.tasks)
    unknown = [t for t in list(chosen) + list(exclude) if t not in table.tasks]
    if unknown:
        raise ValueError(f"unknown LCBench task(s) {', '.join(unknown)}; tasks: {', '.join(table.tasks)}")
    chosen = [t for t in chosen if t not in set(exclude)]
    if not chosen:
        raise ValueError("no LCBench task left to train on")
    n = len(table.configs) if max_configs is None else min(max_configs, len(table.configs))
    configs = [table.config(i) for i in range(n)]
    data = [TaskCurves(configs, table.acc[table.tasks.index(t), :n]) for t in chosen]
    ranker = Ranker.new(Space.from_nni(LCBENCH_SPACE), n_tasks=len(chosen), max_len=table.acc.shape[2],
                        curve_scale=100.0, task_names=chosen, seed=seed, members=members,
                        uncertainty=uncertainty, **model_options)
    ranker.fit(data, steps=steps, batch=batch, **dict(fit_options or {}))
    ranker.reset_new_task()
    return ranker
