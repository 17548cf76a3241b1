"""REINFORCE policy-gradient controller (Williams 1992; Zoph & Le 2017, ENAS style), numpy only.

The policy is factorized: one categorical distribution (softmax over free logits, all zero at
the start, i.e. uniform) per parameter, each sampled independently.

* ``Choice``: one logit per option. A nested choice's branches have logits of their own for their
  sub-parameters (paths like ``"op/conv/k"``), sampled and trained only when the branch is chosen.
* ``Integer`` and quantized ``Float`` with at most ``bins`` values: one logit per value.
* Other numbers: ``bins`` equal cells of unit space (log space for log types, the CDF for
  ``Normal``); a value is drawn uniformly within the sampled cell, then rounded/quantized.

Learning: each result updates the logits along the gradient of the log-probability of *the
configuration told* (computed from its values, so results of configurations the controller never
proposed teach it too; configurations outside the space or failed are recorded but not learnt
from)::

    reward    r = score(value)
    advantage A = (r - b) / s                  b: moving-average baseline, s: moving RMS of r - b
    logits   += learning_rate * (A * grad log p(config) + entropy_weight * grad H(policy))

``b`` and ``s`` are exponential moving averages with ``baseline_decay``. Dividing by ``s``
standardizes rewards, so ``learning_rate`` means the same for an accuracy in [0, 1] as for a loss
in the thousands, and the step stays useful when the rewards bunch up near the end.

No repeats: a sampled configuration that was seen before is redrawn, the i-th redraw with the
logits divided by a temperature ``1 + i/5`` (flatter, so sampling leaves the optimum it converged
on for a neighbour) up to ``max_retries`` times; then a random unseen sample. A finite space ends
in :class:`~nas_plugins.strategy.SpaceExhausted`.

Cost budgets and the MnasNet reward (``cost``, ``max_cost``, ``reward_target``) come from
:class:`~nas_plugins.constraints.Constrained`, which ``tuners.registry.create`` wraps around any
strategy: then ``r`` is the reward, and infeasible configurations are failures.

Example::

    >>> from nas_plugins.space import Space
    >>> from tuners.reinforce import Reinforce
    >>> space = Space.from_nni({"op": {"_type": "choice", "_value": ["conv", "pool", "skip"]},
    ...                         "lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]}})
    >>> rl = Reinforce(space, learning_rate=0.2, seed=0)
    >>> cfg = rl.ask()
    >>> rl.tell(cfg, 0.71)
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from nas_plugins.space import Branch, Choice, Float, Integer, Param, Space
from nas_plugins.strategy import Strategy

from .evolution import check_int, check_number, from_unit, to_unit
from .random_search import sample_unseen
from .registry import register

__all__ = ["Reinforce"]

_TEMPERATURE_STEP = 0.2     # temperature added per redraw of a seen configuration


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def _value_list(p: Param, bins: int) -> list | None:
    """The values a numeric parameter takes, if there are at most ``bins`` of them."""
    if isinstance(p, Integer) and p.size <= bins:
        return p.values()
    if isinstance(p, Float) and p.q is not None and p.size <= bins:
        return p.values()
    return None


@register("reinforce", "tuner", nni_name="NaspReinforce", autogluon_name="nasp_reinforce")
class Reinforce(Strategy):
    """REINFORCE controller (Zoph & Le 2017): factorized softmax policy, policy gradient, moving-average baseline.

    Options: ``learning_rate`` (step on the logits), ``baseline_decay`` (of the reward baseline and
    scale), ``entropy_weight`` (entropy bonus keeping the policy from collapsing early), ``bins``
    (cells of a numeric parameter), ``max_retries`` (policy redraws of a seen configuration). The
    cost options of every registered strategy (``cost``, ``max_cost``, ``reward_target``,
    ``reward_w``) apply through :class:`~nas_plugins.constraints.Constrained`.

    Example::

        >>> from nas_plugins.space import Space
        >>> space = Space.from_nni({"op": {"_type": "choice", "_value": ["conv", "pool", "skip"]}})
        >>> rl = Reinforce(space, seed=0)
        >>> rl.tell(rl.ask(), 0.5)
        >>> p = rl.probabilities()["op"]          # the policy's current distribution of "op"
        >>> len(p), round(float(sum(p)), 6)
        (3, 1.0)
    """

    def __init__(self, space: Space | None = None, *, learning_rate: float = 0.2, baseline_decay: float = 0.9,
                 entropy_weight: float = 0.01, bins: int = 10, max_retries: int = 50,
                 seed: int | None = None, mode: str = "max"):
        self.learning_rate = check_number("learning_rate", learning_rate, 0.0, low_open=True)
        self.baseline_decay = check_number("baseline_decay", baseline_decay, 0.0, 1.0)
        if self.baseline_decay == 1.0:
            raise ValueError("baseline_decay must be < 1 (1 would freeze the baseline), got 1")
        self.entropy_weight = check_number("entropy_weight", entropy_weight, 0.0)
        self.bins = check_int("bins", bins, 2)
        self.max_retries = check_int("max_retries", max_retries, 1)
        self.logits: dict[str, np.ndarray] = {}
        self.baseline: float | None = None   # moving average of rewards
        self._sq: float | None = None        # moving average of (reward - baseline) ** 2
        super().__init__(space, seed=seed, mode=mode)

    # -- Strategy ---------------------------------------------------------------------------------
    def set_space(self, space: Space) -> None:
        """Set the space: a fresh uniform policy, then trained on the results so far."""
        super().set_space(space)
        self.logits = {}
        self._build(space, "")
        self.baseline = self._sq = None
        for obs in self.history:
            self._learn(obs.config, obs.value)

    def _propose(self) -> dict:
        return self._candidate()

    def _observe(self, config: dict, value: float | None) -> None:
        if self.space is not None:
            self._learn(config, value)

    # -- public helpers ---------------------------------------------------------------------------
    def probabilities(self) -> dict[str, list[float]]:
        """``{path: probabilities}`` of every categorical of the policy (paths as ``"op/conv/k"``)."""
        return {path: _softmax(z).tolist() for path, z in self.logits.items()}

    # -- policy -----------------------------------------------------------------------------------
    def _build(self, space: Space, prefix: str) -> None:
        for p in space:
            path = prefix + p.name
            if isinstance(p, Choice):
                self.logits[path] = np.zeros(len(p.options))
                for option in p.options:
                    if isinstance(option, Branch):
                        self._build(option.space, f"{path}/{option.name}/")
            else:
                values = _value_list(p, self.bins)
                self.logits[path] = np.zeros(len(values) if values is not None else self.bins)

    def _sample(self, space: Space, prefix: str, temperature: float) -> dict:
        config = {}
        for p in space:
            path = prefix + p.name
            probs = _softmax(self.logits[path] / temperature)
            k = min(int(np.searchsorted(np.cumsum(probs), self.rng.random() * probs.sum(), side="right")),
                    len(probs) - 1)
            if isinstance(p, Choice):
                option = p.options[k]
                if isinstance(option, Branch):
                    config[p.name] = {"_name": option.name,
                                      **self._sample(option.space, f"{path}/{option.name}/", temperature)}
                else:
                    config[p.name] = option
                continue
            values = _value_list(p, self.bins)
            if values is not None:
                config[p.name] = values[k]
            else:
                config[p.name] = from_unit(p, (k + self.rng.random()) / len(probs))
        return config

    def _decisions(self, space: Space, config: Mapping, prefix: str, out: list[tuple[str, int]]) -> None:
        """``(path, category)`` of every active parameter of ``config`` (which lies in ``space``)."""
        for p in space:
            path, value = prefix + p.name, config[p.name]
            if isinstance(p, Choice):
                k = p.index_of(value)
                out.append((path, k))
                option = p.options[k]
                if isinstance(option, Branch):
                    sub = {key: v for key, v in value.items() if key != "_name"}
                    self._decisions(option.space, sub, f"{path}/{option.name}/", out)
                continue
            values = _value_list(p, self.bins)
            if values is not None:
                out.append((path, int(np.argmin([abs(float(value) - v) for v in values]))))
            else:
                n = len(self.logits[path])
                out.append((path, min(n - 1, int(math.floor(to_unit(p, value) * n)))))

    def _candidate(self) -> dict:
        assert self.space is not None
        for i in range(self.max_retries):
            config = self._sample(self.space, "", 1.0 + _TEMPERATURE_STEP * i)
            if not self.was_seen(config):
                return config
        return sample_unseen(self.space, self.rng, self.was_seen)

    def _learn(self, config: dict, value: float | None) -> None:
        assert self.space is not None
        if value is None or not self.space.contains(config):
            return
        r = self.score(value)
        if self.baseline is None:
            self.baseline = r
            return
        d = self.baseline_decay
        diff = r - self.baseline
        self._sq = diff * diff if self._sq is None else d * self._sq + (1 - d) * diff * diff
        scale = math.sqrt(self._sq)
        advantage = diff / scale if scale > 0 else 0.0
        decisions: list[tuple[str, int]] = []
        self._decisions(self.space, config, "", decisions)
        for path, k in decisions:
            z = self.logits[path]
            probs = _softmax(z)
            grad = -probs
            grad[k] += 1.0                                          # d log p_k / d z
            entropy = -float(np.sum(probs * np.log(probs + 1e-300)))
            grad_entropy = -probs * (np.log(probs + 1e-300) + entropy)
            z += self.learning_rate * (advantage * grad + self.entropy_weight * grad_entropy)
        self.baseline = d * self.baseline + (1 - d) * r
