"""One-shot trainers: the :class:`OneShotTrainer` contract, its registry, SPOS and DARTS.

A trainer owns a :class:`~nas_plugins.oneshot.supernet.Supernet`, its optimizers and its own
seeded random generators (``torch.Generator`` and ``numpy.random.Generator``). The contract:

- ``step(train_batch, val_batch) -> dict``: one training step on ``(x, y)`` batches; the losses;
- ``export() -> dict``: the configuration of the space the trainer selects now;
- ``estimate(arch, data) -> float``: accuracy of the single path ``arch`` with the shared weights
  over an iterable of ``(x, y)`` batches (eval mode, no gradients);
- ``state_dict()`` / ``load_state_dict(state)``: a checkpoint (supernet, optimizers, schedulers,
  generators, step count); a trainer restored from it takes exactly the same next step.

Trainers are created by name: ``create_trainer("spos" | "darts", supernet, **options)``.

Example::

    >>> import torch
    >>> from nas_plugins.oneshot import NB201Supernet, create_trainer
    >>> from nas_plugins.spaces import nb201
    >>> g = torch.Generator().manual_seed(0)
    >>> batch = (torch.randn(4, 3, 8, 8, generator=g), torch.randint(0, 10, (4,), generator=g))
    >>> trainer = create_trainer("darts", NB201Supernet(C=2, seed=0), order=2, seed=0)
    >>> sorted(trainer.step(batch, batch))
    ['train_loss', 'val_loss']
    >>> nb201.space().contains(trainer.export())
    True
    >>> 0.0 <= trainer.estimate(trainer.export(), [batch]) <= 1.0
    True
    >>> create_trainer("enas", NB201Supernet(C=2))
    Traceback (most recent call last):
    ...
    ValueError: unknown one-shot method 'enas'; known: darts, spos
"""
from __future__ import annotations

import copy
import inspect
import math
from abc import ABC, abstractmethod
from contextlib import contextmanager
from typing import Any, Callable, ClassVar, Iterable, Iterator, Mapping, NamedTuple, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..strategy import SpaceExhausted, Strategy
from .supernet import Supernet

__all__ = ["OneShotTrainer", "SPOSTrainer", "DartsTrainer", "SearchResult", "TRAINERS", "register_trainer",
           "create_trainer", "trainer_options"]

Batch = Sequence[torch.Tensor]

#: Trainer classes by method name (filled by :func:`register_trainer`).
TRAINERS: dict[str, type["OneShotTrainer"]] = {}


def register_trainer(name: str) -> Callable[[type], type]:
    """Class decorator adding a trainer to :data:`TRAINERS` under ``name``."""
    def wrap(cls: type) -> type:
        if name in TRAINERS and TRAINERS[name] is not cls:
            raise ValueError(f"one-shot method name {name!r} is already used by {TRAINERS[name].__name__}")
        TRAINERS[name] = cls
        cls.name = name
        return cls
    return wrap


def trainer_options(name: str) -> list[str]:
    """The keyword options of the trainer called ``name`` (besides the supernet)."""
    cls = _trainer_class(name)
    return [p.name for p in inspect.signature(cls.__init__).parameters.values() if p.kind is p.KEYWORD_ONLY]


def _trainer_class(name: str) -> type["OneShotTrainer"]:
    if name not in TRAINERS:
        raise ValueError(f"unknown one-shot method {name!r}; known: {', '.join(sorted(TRAINERS))}")
    return TRAINERS[name]


def create_trainer(name: str, supernet: Supernet, **options: Any) -> "OneShotTrainer":
    """The trainer of method ``name`` (a key of :data:`TRAINERS`) for ``supernet``; unknown names and
    options raise ``ValueError`` listing the known ones.

    >>> from nas_plugins.oneshot import NB201Supernet, create_trainer
    >>> create_trainer("spos", NB201Supernet(C=2), lr=0.1, seed=3).seed
    3
    >>> create_trainer("spos", NB201Supernet(C=2), order=2)
    Traceback (most recent call last):
    ...
    ValueError: unknown option 'order' for one-shot method 'spos'; accepted: lr, ...
    """
    cls = _trainer_class(name)
    accepted = trainer_options(name)
    for key in options:
        if key not in accepted:
            raise ValueError(f"unknown option {key!r} for one-shot method {name!r}; accepted: {', '.join(accepted)}")
    return cls(supernet, **options)


def _check_seed(seed: Any) -> int:
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return seed


def _positive(name: str, value: Any, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"option {name!r} must be a {'non-negative' if allow_zero else 'positive'} number, "
                         f"got {value!r}")
    return float(value)


def _total_steps(value: Any) -> int | None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise ValueError(f"option 'total_steps' must be a positive integer or None, got {value!r}")
    return value


@contextmanager
def _kept_buffers(module: nn.Module) -> Iterator[None]:
    """Restore every buffer of ``module`` (BN running statistics) on exit."""
    saved = [b.detach().clone() for b in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, s in zip(module.buffers(), saved):
                b.copy_(s)


def _grads(loss: torch.Tensor, params: Sequence[torch.Tensor], **kwargs: Any) -> list[torch.Tensor]:
    """``d loss / d params``, zeros for parameters the loss does not use."""
    grads = torch.autograd.grad(loss, params, allow_unused=True, **kwargs)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


class SearchResult(NamedTuple):
    """What :meth:`SPOSTrainer.search` returns: the best configuration and every ``(arch, accuracy)``
    evaluated, in order."""
    best: dict
    history: list[tuple[dict, float]]


class OneShotTrainer(ABC):
    """The contract of a one-shot NAS method (see the module docstring).

    ``seed`` seeds the trainer's own ``torch.Generator`` (:attr:`generator`) and
    ``numpy.random.Generator`` (:attr:`rng`); ``device`` is where the supernet and the batches go
    (the supernet is moved there with ``.to(device)``). Losses are cross-entropy on logits.
    """
    name: ClassVar[str] = ""

    def __init__(self, supernet: Supernet, *, seed: int = 0, device: str | torch.device = "cpu") -> None:
        if not isinstance(supernet, Supernet):
            raise TypeError(f"expected a Supernet, got {type(supernet).__name__}")
        self.seed = _check_seed(seed)
        self.device = torch.device(device)
        self.supernet = supernet.to(self.device)
        self.generator = torch.Generator().manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.steps = 0

    # -- the contract ------------------------------------------------------------------------
    @abstractmethod
    def step(self, train_batch: Batch, val_batch: Batch | None = None) -> dict[str, float]:
        """One training step; returns the losses (floats)."""

    def export(self) -> dict[str, Any]:
        """The configuration of the space the trainer selects now."""
        return self.supernet.export()

    def estimate(self, arch: Mapping[str, Any], data: Iterable[Batch]) -> float:
        """Accuracy (a fraction) of the single path ``arch`` with the shared weights over the ``(x, y)``
        batches of ``data``, in eval mode without gradients (BN uses its running statistics)."""
        arch = self.supernet.check_arch(arch)
        was_training = self.supernet.training
        self.supernet.eval()
        correct = total = 0
        try:
            with torch.no_grad():
                for batch in data:
                    x, y = self._batch(batch)
                    correct += int((self.supernet(x, arch).argmax(dim=-1) == y).sum())
                    total += int(y.numel())
        finally:
            self.supernet.train(was_training)
        if total == 0:
            raise ValueError("estimate needs at least one non-empty (x, y) batch")
        return correct / total

    def state_dict(self) -> dict[str, Any]:
        """A snapshot (deep copy) of everything the next step depends on."""
        return copy.deepcopy({
            "method": self.name, "steps": self.steps, "supernet": self.supernet.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in self._optimizers().items()},
            "schedulers": {k: s.state_dict() for k, s in self._schedulers().items()},
            "torch_rng": self.generator.get_state(), "numpy_rng": self.rng.bit_generator.state,
        })

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` of a trainer of the same method over the same supernet."""
        if state.get("method") != self.name:
            raise ValueError(f"checkpoint of one-shot method {state.get('method')!r} cannot be loaded "
                             f"into a {self.name!r} trainer")
        state = copy.deepcopy(dict(state))
        self.supernet.load_state_dict(state["supernet"])
        for key, opt in self._optimizers().items():
            opt.load_state_dict(state["optimizers"][key])
        for key, sched in self._schedulers().items():
            sched.load_state_dict(state["schedulers"][key])
        self.generator.set_state(state["torch_rng"])
        self.rng.bit_generator.state = state["numpy_rng"]
        self.steps = state["steps"]

    def recalibrate_bn(self, arch: Mapping[str, Any], data: Iterable[Batch]) -> None:
        """Reset every BatchNorm's running statistics and re-estimate them (a cumulative average) on the
        path ``arch`` from the ``(x, y)`` batches of ``data`` (train-mode forwards, no gradients)."""
        arch = self.supernet.check_arch(arch)
        bns = [m for m in self.supernet.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        momenta = [bn.momentum for bn in bns]
        was_training = self.supernet.training
        try:
            for bn in bns:
                bn.reset_running_stats()
                bn.momentum = None                      # cumulative moving average
            self.supernet.train()
            with torch.no_grad():
                for batch in data:
                    self.supernet(self._batch(batch)[0], arch)
        finally:
            for bn, m in zip(bns, momenta):
                bn.momentum = m
            self.supernet.train(was_training)

    @contextmanager
    def recalibrated(self, arch: Mapping[str, Any], data: Iterable[Batch] | None) -> Iterator[None]:
        """Within the block the BN statistics are those of :meth:`recalibrate_bn` on ``arch`` from ``data``
        (no-op for None); every buffer is restored on exit."""
        if data is None:
            yield
            return
        with _kept_buffers(self.supernet):
            self.recalibrate_bn(arch, data)
            yield

    # -- helpers -----------------------------------------------------------------------------
    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {}

    def _schedulers(self) -> dict[str, Any]:
        return {}

    def _batch(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise ValueError(f"a batch must be an (x, y) pair, got {type(batch).__name__}")
        x, y = batch
        return x.to(self.device), y.to(self.device)

    def _loss(self, batch: tuple[torch.Tensor, torch.Tensor], arch: Mapping[str, Any] | None = None) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(self.supernet(x, arch), y)

    def _weight_optimizer(self, lr: float, momentum: float, weight_decay: float, total_steps: int | None,
                          lr_min: float) -> tuple[torch.optim.Optimizer, Any]:
        opt = torch.optim.SGD(self.supernet.weight_parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
        sched = None if total_steps is None else \
            torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps, eta_min=lr_min)
        return opt, sched


@register_trainer("spos")
class SPOSTrainer(OneShotTrainer):
    """Single-path one-shot (Guo et al. 2020): each step trains the weights on one path drawn uniformly
    (every op of an edge equally likely, from :attr:`rng`); the validation batch is not used in training.
    After training, :meth:`search` runs a search strategy over the space, scoring paths by :meth:`estimate`.

    Options: SGD ``lr`` (0.025), ``momentum`` (0.9), ``weight_decay`` (3e-4), gradient-norm clip
    ``grad_clip`` (5; None: off), cosine decay to ``lr_min`` (0) over ``total_steps`` (None: constant lr).

    >>> import torch
    >>> from nas_plugins.oneshot import NB201Supernet, SPOSTrainer
    >>> g = torch.Generator().manual_seed(0)
    >>> batch = (torch.randn(4, 3, 8, 8, generator=g), torch.randint(0, 10, (4,), generator=g))
    >>> trainer = SPOSTrainer(NB201Supernet(C=2, seed=0), seed=0)
    >>> sorted(trainer.step(batch))
    ['train_loss']
    >>> trainer.last_arch == trainer.supernet.sample_arch(__import__("numpy").random.default_rng(0))
    True
    """

    def __init__(self, supernet: Supernet, *, lr: float = 0.025, momentum: float = 0.9, weight_decay: float = 3e-4,
                 grad_clip: float | None = 5.0, total_steps: int | None = None, lr_min: float = 0.0,
                 seed: int = 0, device: str | torch.device = "cpu") -> None:
        super().__init__(supernet, seed=seed, device=device)
        self.grad_clip = None if grad_clip is None else _positive("grad_clip", grad_clip)
        self.optimizer, self.scheduler = self._weight_optimizer(
            _positive("lr", lr), _positive("momentum", momentum, True), _positive("weight_decay", weight_decay, True),
            _total_steps(total_steps), _positive("lr_min", lr_min, True))
        #: The path trained by the last :meth:`step`.
        self.last_arch: dict[str, Any] | None = None

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"weights": self.optimizer}

    def _schedulers(self) -> dict[str, Any]:
        return {} if self.scheduler is None else {"weights": self.scheduler}

    def step(self, train_batch: Batch, val_batch: Batch | None = None) -> dict[str, float]:
        """Train the weights of one uniformly sampled path on ``train_batch`` (``val_batch`` is unused)."""
        arch = self.supernet.sample_arch(self.rng)
        batch = self._batch(train_batch)
        self.supernet.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self._loss(batch, arch)
        loss.backward()
        if self.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.supernet.weight_parameters(), self.grad_clip)
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.steps += 1
        self.last_arch = arch
        return {"train_loss": float(loss.detach())}

    def search(self, strategy: Strategy, val_data: Iterable[Batch], budget: int,
               bn_recalibration_data: Iterable[Batch] | None = None) -> SearchResult:
        """Run the ask/tell ``strategy`` for ``budget`` evaluations over the supernet's space, scoring each
        proposed configuration by :meth:`estimate` on ``val_data`` (iterated once per evaluation), after
        recalibrating BN statistics on ``bn_recalibration_data`` (a few train batches) when given.

        The strategy must maximise (``mode="max"``: the score is an accuracy); its space is set to the
        supernet's when it has none, and its trial budget to ``budget`` when unset. The search stops early
        when the strategy raises :class:`~nas_plugins.strategy.SpaceExhausted`. The supernet's state
        (BN statistics included) is the same afterwards.
        """
        if not isinstance(strategy, Strategy):
            raise TypeError(f"expected a nas_plugins.strategy.Strategy, got {type(strategy).__name__}")
        if strategy.mode != "max":
            raise ValueError(f"the strategy must maximise accuracy (mode='max'), got mode={strategy.mode!r}")
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
            raise ValueError(f"budget must be a positive integer, got {budget!r}")
        if strategy.space is None:
            strategy.set_space(self.supernet.search_space)
        elif set(strategy.space.names) != set(self.supernet.search_space.names):
            raise ValueError("the strategy's search space is not the supernet's: parameters "
                             f"{sorted(set(strategy.space.names) ^ set(self.supernet.search_space.names))[:4]} differ")
        if strategy.trial_budget is None:
            strategy.set_trial_budget(budget)
        if bn_recalibration_data is not None and not isinstance(bn_recalibration_data, (list, tuple)):
            bn_recalibration_data = list(bn_recalibration_data)
        if not isinstance(val_data, (list, tuple)):
            val_data = list(val_data)
        history: list[tuple[dict, float]] = []
        with _kept_buffers(self.supernet):
            for _ in range(budget):
                try:
                    arch = strategy.ask()
                except SpaceExhausted:
                    break
                if bn_recalibration_data is not None:
                    self.recalibrate_bn(arch, bn_recalibration_data)
                acc = self.estimate(arch, val_data)
                strategy.tell(arch, acc)
                history.append((dict(arch), acc))
        if not history:
            raise ValueError("the strategy proposed no architecture")
        best = max(history, key=lambda h: h[1])[0]     # the first of equal accuracies
        return SearchResult(best, history)


@register_trainer("darts")
class DartsTrainer(OneShotTrainer):
    """DARTS (Liu et al. 2019): alternate an architect step on the validation batch and a weight step
    on the training batch (both through the continuous relaxation).

    Architect: Adam on the architecture parameters (``arch_lr`` 3e-4, ``arch_betas`` (0.5, 0.999),
    ``arch_weight_decay`` 1e-3). ``order=1``: the gradient of ``L_val(w, a)``; ``order=2``: the unrolled
    gradient of ``L_val(w - xi * grad_w L_train(w, a), a)``, with the Hessian-vector product by central
    finite differences (``eps = fd_radius / ||grad_w' L_val||``, ``fd_radius`` 0.01); ``xi`` defaults to
    the current weight learning rate. The architect's forward passes do not change the BN running statistics.
    Weights: SGD ``lr`` (0.025), ``momentum`` (0.9), ``weight_decay`` (3e-4), clip ``grad_clip`` (5),
    cosine decay to ``lr_min`` (0.001) over ``total_steps`` (None: constant lr).
    """

    def __init__(self, supernet: Supernet, *, order: int = 1, lr: float = 0.025, momentum: float = 0.9,
                 weight_decay: float = 3e-4, grad_clip: float | None = 5.0, total_steps: int | None = None,
                 lr_min: float = 0.001, arch_lr: float = 3e-4, arch_betas: tuple[float, float] = (0.5, 0.999),
                 arch_weight_decay: float = 1e-3, xi: float | None = None, fd_radius: float = 0.01, seed: int = 0,
                 device: str | torch.device = "cpu") -> None:
        super().__init__(supernet, seed=seed, device=device)
        if order not in (1, 2) or isinstance(order, bool):
            raise ValueError(f"option 'order' must be 1 (first order) or 2 (unrolled), got {order!r}")
        self.order = order
        self.grad_clip = None if grad_clip is None else _positive("grad_clip", grad_clip)
        self.xi = None if xi is None else _positive("xi", xi, True)
        self.fd_radius = _positive("fd_radius", fd_radius)
        self.optimizer, self.scheduler = self._weight_optimizer(
            _positive("lr", lr), _positive("momentum", momentum, True), _positive("weight_decay", weight_decay, True),
            _total_steps(total_steps), _positive("lr_min", lr_min, True))
        betas = tuple(arch_betas)
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"option 'arch_betas' must be two numbers in [0, 1), got {arch_betas!r}")
        self.arch_optimizer = torch.optim.Adam(self.supernet.arch_parameters(), lr=_positive("arch_lr", arch_lr),
                                               betas=betas,
                                               weight_decay=_positive("arch_weight_decay", arch_weight_decay, True))

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"weights": self.optimizer, "arch": self.arch_optimizer}

    def _schedulers(self) -> dict[str, Any]:
        return {} if self.scheduler is None else {"weights": self.scheduler}

    @property
    def current_xi(self) -> float:
        """The unrolling step ``xi``: the option, else the weight optimizer's current learning rate."""
        return self.xi if self.xi is not None else float(self.optimizer.param_groups[0]["lr"])

    def arch_gradient(self, train_batch: Batch, val_batch: Batch) -> tuple[list[torch.Tensor], float]:
        """The architect's gradient w.r.t. :meth:`Supernet.arch_parameters` (first or second order, as
        ``order``) and the validation loss it was computed from. Changes no parameter; BN running
        statistics may change (:meth:`step` restores them)."""
        model = self.supernet
        alphas, weights = model.arch_parameters(), model.weight_parameters()
        train, val = self._batch(train_batch), self._batch(val_batch)
        if self.order == 1:
            loss = self._loss(val)
            return _grads(loss, alphas), float(loss.detach())
        xi = self.current_xi
        original = [w.detach().clone() for w in weights]
        try:
            grad_w = _grads(self._loss(train), weights)
            with torch.no_grad():                                   # w' = w - xi * grad_w L_train(w, a)
                for w, w0, g in zip(weights, original, grad_w):
                    w.copy_(w0 - xi * g)
            loss = self._loss(val)
            grads = _grads(loss, alphas + weights)
            d_alpha, v = grads[:len(alphas)], grads[len(alphas):]
            norm = torch.sqrt(sum((g.double() ** 2).sum() for g in v))
            if xi == 0 or norm == 0:
                return d_alpha, float(loss.detach())
            eps = self.fd_radius / float(norm)
            hessian = []
            for sign in (1.0, -1.0):                               # grad_a L_train(w +- eps * v, a)
                with torch.no_grad():
                    for w, w0, g in zip(weights, original, v):
                        w.copy_(w0 + sign * eps * g)
                hessian.append(_grads(self._loss(train), alphas))
            return [d - xi * (hp - hm) / (2 * eps) for d, hp, hm in zip(d_alpha, *hessian)], float(loss.detach())
        finally:
            with torch.no_grad():
                for w, w0 in zip(weights, original):
                    w.copy_(w0)

    def arch_step(self, train_batch: Batch, val_batch: Batch) -> float:
        """One architect step (Adam on the architecture parameters only); returns the validation loss.
        Weights and BN running statistics are left as they were."""
        self.supernet.train()
        with _kept_buffers(self.supernet):
            grads, val_loss = self.arch_gradient(train_batch, val_batch)
        self.arch_optimizer.zero_grad(set_to_none=True)
        for a, g in zip(self.supernet.arch_parameters(), grads):
            a.grad = g.detach()
        self.arch_optimizer.step()
        self.arch_optimizer.zero_grad(set_to_none=True)
        return val_loss

    def weight_step(self, train_batch: Batch) -> float:
        """One SGD step on the weights through the relaxation (architecture parameters untouched);
        returns the training loss."""
        self.supernet.train()
        batch = self._batch(train_batch)
        self.optimizer.zero_grad(set_to_none=True)
        weights = self.supernet.weight_parameters()
        loss = self._loss(batch)
        grads = torch.autograd.grad(loss, weights, allow_unused=True)
        for w, g in zip(weights, grads):
            w.grad = g
        if self.grad_clip is not None:
            nn.utils.clip_grad_norm_(weights, self.grad_clip)
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return float(loss.detach())

    def step(self, train_batch: Batch, val_batch: Batch | None = None) -> dict[str, float]:
        """An architect step on ``val_batch``, then a weight step on ``train_batch``."""
        if val_batch is None:
            raise ValueError("DARTS needs a validation batch for its architect step")
        val_loss = self.arch_step(train_batch, val_batch)
        train_loss = self.weight_step(train_batch)
        self.steps += 1
        return {"train_loss": train_loss, "val_loss": val_loss}
