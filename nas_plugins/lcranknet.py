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
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from .encoding import ConfigEncoder
from .space import Space

__all__ = ["LCRankNet", "Ranker", "TaskCurves", "pretrain_lcbench"]


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
                 kernels: Sequence[int] = (2, 3, 5), hidden: int = 64, task_dim: int = 8):
        super().__init__()
        self.max_len = int(max_len)
        self.kernels = tuple(int(k) for k in kernels)
        self.convs = nn.ModuleList(nn.Conv1d(1, channels, k) for k in self.kernels)
        self.config_net = nn.Sequential(nn.Linear(max(config_dim, 1), hidden), nn.ReLU(),
                                        nn.Linear(hidden, hidden // 2), nn.ReLU())
        self.tasks = nn.Embedding(n_tasks + 1, task_dim)      # the last row: a new task
        width = channels * len(self.kernels) + 3 + hidden // 2 + task_dim
        self.head = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, curves: torch.Tensor, lengths: torch.Tensor, configs: torch.Tensor,
                tasks: torch.Tensor) -> torch.Tensor:
        """``curves`` [B, T] (positions from ``lengths`` on are ignored), ``lengths`` [B] >= 1,
        ``configs`` [B, config_dim], ``tasks`` [B] -> scores [B]."""
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
        return self.head(features).squeeze(1)


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
    """Encoding, training, scoring and persistence around :class:`LCRankNet`."""

    def __init__(self, model: LCRankNet, space: Space, *, curve_scale: float = 1.0,
                 task_names: Sequence[str] = (), seed: int | None = None):
        self.model = model
        self.space = space
        self.encoder = ConfigEncoder(space)
        self.curve_scale = float(curve_scale)
        self.task_names = list(task_names)
        self.rng = np.random.default_rng(seed)      # seeds each fit's torch generator

    @classmethod
    def new(cls, space: Space, n_tasks: int, *, max_len: int = 52, curve_scale: float = 1.0,
            task_names: Sequence[str] = (), seed: int | None = None, **model_options: Any) -> "Ranker":
        """An untrained ranker (weights seeded by ``seed``)."""
        gen_state = torch.random.get_rng_state()     # seed the weights without touching global state
        try:
            torch.manual_seed(int(seed or 0))
            model = LCRankNet(ConfigEncoder(space).dim, n_tasks, max_len=max_len, **model_options)
        finally:
            torch.random.set_rng_state(gen_state)
        return cls(model, space, curve_scale=curve_scale, task_names=task_names, seed=seed)

    @property
    def new_task(self) -> int:
        """Index of the embedding row for a task not seen in pre-training."""
        return self.model.tasks.num_embeddings - 1

    def reset_new_task(self) -> None:
        """Set the new-task embedding to the mean of the trained ones (or leave it if there are none)."""
        with torch.no_grad():
            w = self.model.tasks.weight
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
        """Scores of partial curves (any lengths >= 1; None/NaN entries are filled forward)."""
        task = self.new_task if task is None else task
        clean = [[np.nan if v is None else float(v) for v in c] for c in curves]
        lengths = [max(len(c), 1) for c in clean]
        x, n = self._batch([c if c else [np.nan] for c in clean], lengths)
        enc = torch.as_tensor(self.encoder.encode_many([c or {} for c in configs]), dtype=torch.float32)
        if enc.shape[1] == 0:
            enc = torch.zeros(len(clean), 1)
        with torch.no_grad(), _one_thread():
            self.model.eval()
            return self.model(x, n, enc, torch.full((len(clean),), task, dtype=torch.long)).numpy()

    # -- training ---------------------------------------------------------------------------
    def fit(self, data: Sequence[TaskCurves], *, steps: int = 2000, batch: int = 256, lr: float = 1e-3,
            tasks: Sequence[int] | None = None, params: str = "all", early_bias: float = 0.5,
            top_bias: float = 0.5) -> list[float]:
        """Train on pairs of curves of the same task with the pairwise ranking loss.

        ``tasks[k]`` is the embedding row of ``data[k]`` (default: 0, 1, ...). Each pair compares
        curve ``i`` cut at a random length with curve ``j`` cut at a random length or complete;
        ``early_bias`` is the share of cuts drawn from the first 10% of the steps, where early
        stopping decides; ``top_bias`` the share of pairs whose second curve is one of the best 10%
        (early stopping compares running trials with the best finished one). ``params="task"`` trains
        only the task embeddings (adaptation to a new task). Returns the loss of each step.
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
            return self._train(prepared, steps, batch, lr, params, early_bias, top_bias)

    def _train(self, prepared: list, steps: int, batch: int, lr: float, params: str, early_bias: float,
               top_bias: float) -> list[float]:
        trainable = [self.model.tasks.weight] if params == "task" else list(self.model.parameters())
        opt = torch.optim.Adam(trainable, lr=lr)
        loss_fn = nn.BCEWithLogitsLoss()
        losses = []
        self.model.train()
        g = torch.Generator().manual_seed(int(self.rng.integers(2**31)))
        for _ in range(steps):
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
            diff = self.model(curves[i], li, enc[i], tt) - self.model(curves[j], lj, enc[j], tt)
            loss = loss_fn(diff, (finals[i] > finals[j]).float())
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        self.model.eval()
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
        torch.save({"format": "nas-plugins/lcranknet/1", "state": m.state_dict(), "space": self.space.to_nni(),
                    "curve_scale": self.curve_scale, "task_names": self.task_names,
                    "model": {"n_tasks": m.tasks.num_embeddings - 1, "max_len": m.max_len, "kernels": list(m.kernels),
                              "channels": m.convs[0].out_channels, "hidden": m.head[0].out_features,
                              "task_dim": m.tasks.embedding_dim}}, str(path))

    @classmethod
    def load(cls, path: str | Path, seed: int | None = None) -> "Ranker":
        try:
            blob = torch.load(str(path), map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise FileNotFoundError(f"LCRankNet model file not found: {path} "
                                    "(make one with `nas-plugins lcranknet-pretrain --out FILE`)") from None
        except Exception as exc:
            raise ValueError(f"{path}: not an LCRankNet model file ({type(exc).__name__}: {exc})") from None
        if not isinstance(blob, dict) or blob.get("format") != "nas-plugins/lcranknet/1":
            raise ValueError(f"{path}: not an LCRankNet model file (missing format tag)")
        space = Space.from_nni(blob["space"]) if blob["space"] else Space(())
        options = dict(blob["model"])
        n_tasks = options.pop("n_tasks")
        model = LCRankNet(ConfigEncoder(space).dim, n_tasks, **options)
        model.load_state_dict(blob["state"])
        model.eval()
        return cls(model, space, curve_scale=blob["curve_scale"], task_names=blob["task_names"], seed=seed)

    def clone(self) -> "Ranker":
        return copy.deepcopy(self)


def pretrain_lcbench(tasks: Sequence[str] | None = None, *, exclude: Sequence[str] = (), path: str | None = None,
                     steps: int = 3000, batch: int = 256, seed: int = 0, max_configs: int | None = None) -> Ranker:
    """An LCRankNet trained on LCBench curves of ``tasks`` (default: all) minus ``exclude``."""
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
                        curve_scale=100.0, task_names=chosen, seed=seed)
    ranker.fit(data, steps=steps, batch=batch)
    ranker.reset_new_task()
    return ranker
