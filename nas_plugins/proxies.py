"""Zero-cost proxies: a score of an untrained network, computed in one or two passes, that ranks
architectures roughly as their trained accuracy does (higher is better for every proxy here).

Every proxy is a function ``proxy(model, data, *, seed=0) -> float`` for any torch model our spaces
build (and most others):

* ``data`` is an input shape (``(3, 32, 32)``, or with a batch size first), a batch tensor ``x``, or a
  pair ``(x, y)``. A *data-free* proxy uses only its shape. A proxy that *needs data* and gets only a
  shape uses :func:`image_batch` (the embedded digits, resized: **not CIFAR**); ``grad_norm`` and
  ``snip`` also need labels (the digits' classes then), ``naswot`` and ``jacob_cov`` do not.
* The model is never changed: each proxy works on a deep copy (weights, buffers, ``training`` mode
  and gradients of ``model`` stay as they were).
* The same ``seed`` gives the same score (the proxy runs inside :func:`~nas_plugins.seeding.seeded_run`,
  which leaves the caller's RNG alone); everything runs on the CPU (or wherever ``model`` lives).

=============  ==========  ======  =====================================================================
name           data        labels  what it measures
=============  ==========  ======  =====================================================================
``synflow``    no          no      Tanaka et al. 2020 / Abdelfattah et al. 2021: sum of ``|w * dR/dw|``
                                   over conv and linear weights, ``R`` the output sum for an all-ones
                                   input with all weights made positive; BatchNorm removed (their
                                   default ``synflow``, ``bn=False``); float64
``naswot``     yes         no      Mellor et al. 2021: log-determinant of the kernel of binary ReLU
                                   activation codes over a batch (Hamming agreement)
``zen``        no          no      Lin et al. 2021 (Zen-NAS): log of the mean change of the pre-pooling
                                   features under a small Gaussian input perturbation, Gaussian weights,
                                   plus the log BN scales
``grad_norm``  yes         yes     Abdelfattah et al.: sum over layers of the norm of the cross-entropy
                                   gradient of the weights
``snip``       yes         yes     Lee et al. 2019, as in Abdelfattah et al.: sum of ``|w * dL/dw|``
``jacob_cov``  yes         no      Mellor et al. 2020 (v1): ``-sum(log(v + k) + 1 / (v + k))`` over the
                                   eigenvalues ``v`` of the correlation matrix of input Jacobians
``params``     no          no      number of parameters (a baseline)
``flops``      no          no      conv + linear multiply-adds for one image (a baseline; counted with
                                   forward hooks, the rule of the spaces' analytic ``flops``)
=============  ==========  ======  =====================================================================

:data:`PROXIES` maps each name to ``(function, needs_data)``; :data:`NEEDS_LABELS` names those that
also need labels. The data-dependent proxies run the copy in training mode (BatchNorm on batch
statistics), as both papers do. :class:`~nas_plugins.proxy_filter.ProxyFilter` (also importable from
here) puts a proxy in front of any strategy.

Example::

    >>> import torch
    >>> from nas_plugins.proxies import PROXIES, synflow, naswot, image_batch
    >>> from nas_plugins.spaces import nb201
    >>> cfg = nb201.from_arch_string("|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|none~1|nor_conv_1x1~2|")
    >>> torch.manual_seed(0); model = nb201.build(cfg, C=8, N=1)    # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> s = synflow(model, (3, 32, 32))
    >>> s > 0 and s == synflow(model, (3, 32, 32))
    True
    >>> x, y = image_batch(32, (3, 32, 32), seed=0)          # embedded digits resized to 3x32x32: not CIFAR
    >>> naswot(model, x) == naswot(model, (x, y))
    True
    >>> sorted(name for name, (fn, needs_data) in PROXIES.items() if not needs_data)
    ['flops', 'params', 'synflow', 'zen']
"""
from __future__ import annotations

import copy
import math
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .seeding import seeded_run

__all__ = ["synflow", "naswot", "zen", "grad_norm", "snip", "jacob_cov", "params", "flops", "PROXIES",
           "NEEDS_LABELS", "PROXY_OPTIONS", "image_batch", "score", "scores", "ProxyFilter", "resolve_builder"]

Data = Any     # an input shape, a tensor x, or (x, y)
_BATCH = 64    # batch size of the embedded batch when a data proxy gets only a shape


# ============================================================================= data

def image_batch(n: int = _BATCH, shape: Sequence[int] = (3, 32, 32), seed: int = 0,
                source: str = "digits") -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)``: ``n`` embedded images of ``shape`` (C, H, W) with their class labels (0-9), for the
    data-dependent proxies. **Not CIFAR**: a stand-in that needs no download.

    ``source="digits"``: scikit-learn's 8x8 handwritten digits, ``n`` drawn without replacement with
    ``seed``, bilinearly resized to H x W, repeated over the C channels and standardised (zero mean,
    unit variance over the batch). ``source="fake"``: Gaussian images and random labels drawn as
    torchvision's ``FakeData`` draws them (``seed`` is its ``random_offset``), without importing
    torchvision.

    >>> from nas_plugins.proxies import image_batch
    >>> x, y = image_batch(8, (3, 32, 32), seed=1)
    >>> tuple(x.shape), y.dtype, abs(float(x.mean())) < 1e-5
    ((8, 3, 32, 32), torch.int64, True)
    >>> bool((image_batch(8, (3, 32, 32), seed=1)[0] == x).all())
    True
    """
    c, h, w = _chw(shape)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if source == "digits":
        from sklearn.datasets import load_digits
        digits = load_digits()
        if n > len(digits.images):
            raise ValueError(f"n={n}: the digits have {len(digits.images)} images")
        pick = np.random.default_rng(seed).choice(len(digits.images), size=n, replace=False)
        x = torch.tensor(digits.images[pick] / 16.0, dtype=torch.float32)[:, None]
        if (h, w) != (8, 8):
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
        x = x.repeat(1, c, 1, 1)
        x = (x - x.mean()) / x.std().clamp_min(1e-8)
        return x.contiguous(), torch.tensor(digits.target[pick], dtype=torch.int64)
    if source == "fake":
        # torchvision's FakeData (which does not import with every torch build) draws image i as
        # torch.randn(shape) and its label with torch.randint after torch.manual_seed(i + random_offset):
        # the same here, without torchvision.
        xs, ys = [], []
        with torch.random.fork_rng(devices=[]):
            for i in range(n):
                torch.manual_seed(i + seed)
                xs.append(torch.randn(c, h, w))
                ys.append(int(torch.randint(0, 10, (1,))))
        return torch.stack(xs), torch.tensor(ys, dtype=torch.int64)
    raise ValueError(f"unknown image source {source!r}; sources: digits, fake")


def _chw(shape: Sequence[int]) -> tuple[int, int, int]:
    dims = tuple(int(d) for d in shape)
    if len(dims) == 4:
        dims = dims[1:]
    if len(dims) != 3 or min(dims) < 1:
        raise ValueError(f"expected an input shape (C, H, W) or (B, C, H, W), got {tuple(shape)!r}")
    return dims  # type: ignore[return-value]


def _split(data: Data) -> tuple[torch.Tensor | None, torch.Tensor | None, tuple[int, ...]]:
    """``(x or None, y or None, per-example shape)`` of a proxy's ``data`` argument."""
    if isinstance(data, torch.Tensor):
        return data, None, tuple(data.shape[1:])
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        x, y = data
        return x, (y if isinstance(y, torch.Tensor) else torch.as_tensor(y)), tuple(x.shape[1:])
    if isinstance(data, (tuple, list, torch.Size)) and all(isinstance(d, (int, np.integer)) for d in data):
        dims = tuple(int(d) for d in data)
        return None, None, dims[1:] if len(dims) == 4 else dims
    raise TypeError(f"proxy data must be an input shape, a tensor x or a pair (x, y), got {type(data).__name__}")


def _batch(data: Data, seed: int, labels: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The batch of a data-dependent proxy: the given one, or :func:`image_batch` for a shape."""
    x, y, shape = _split(data)
    if x is None:
        x, y = image_batch(_BATCH, shape, seed=seed)
    if labels and y is None:
        raise ValueError("this proxy needs labels: pass (x, y), or an input shape for the embedded digits")
    return x, y


def _copy(model: nn.Module, train: bool) -> nn.Module:
    """A deep copy of ``model`` (the original is never touched), in training or eval mode, gradients cleared."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}")
    clone = copy.deepcopy(model)
    clone.train(train)
    for p in clone.parameters():
        p.grad = None
        p.requires_grad_(True)
    return clone


def _device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def _weighted(model: nn.Module) -> list[nn.Module]:
    """The conv and linear layers (the layers the proxies of Abdelfattah et al. sum over)."""
    return [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))]


def _float(x: torch.Tensor | float) -> float:
    return float(x.item() if isinstance(x, torch.Tensor) else x)


# ============================================================================= data-free proxies

def synflow(model: nn.Module, data: Data = (3, 32, 32), *, seed: int = 0) -> float:
    """SynFlow (Tanaka et al. 2020) as a zero-cost proxy (Abdelfattah et al. 2021). Data-free.

    On a float64 copy with every BatchNorm removed (replaced by the identity: their default
    ``synflow``) and every parameter and buffer replaced by its absolute value, ``R = sum(model(1))``
    for one all-ones input of ``data``'s shape; the score is ``sum |w * dR/dw|`` over the conv and
    linear weights. Float64 keeps the products finite on every network of our spaces.

    >>> import torch
    >>> from nas_plugins.proxies import synflow
    >>> torch.manual_seed(0); net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> w0 = net[0].weight.detach().clone()
    >>> synflow(net, (4,)) > 0, torch.equal(w0, net[0].weight)      # the model is not changed
    (True, True)
    """
    _, _, shape = _split(data)
    with seeded_run(seed):
        net = _without_bn(_copy(model, train=False)).double()
        with torch.no_grad():
            for tensor in list(net.parameters()) + list(net.buffers()):
                if tensor.is_floating_point():
                    tensor.abs_()
        x = torch.ones((1, *shape), dtype=torch.float64, device=_device(net))
        net(x).sum().backward()
        total = torch.zeros((), dtype=torch.float64)
        for layer in _weighted(net):
            if layer.weight.grad is not None:
                total += (layer.weight * layer.weight.grad).abs().sum().cpu()
    return _float(total)


def _without_bn(model: nn.Module) -> nn.Module:
    """``model`` with every BatchNorm layer replaced by the identity (in place; ``model`` is a copy)."""
    for name, child in list(model.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(model, name, nn.Identity())
        else:
            _without_bn(child)
    return model


def zen(model: nn.Module, data: Data = (3, 32, 32), *, seed: int = 0, batch_size: int = 16,
        mixup_gamma: float = 1e-2) -> float:
    """Zen-score (Lin et al. 2021, Zen-NAS). Data-free.

    On a copy in training mode with Gaussian weights (conv and linear N(0, 1), BN scale 1 and
    shift 0): ``log E|f(x) - f(x + gamma * e)|`` over a batch of Gaussian inputs ``x`` and noise
    ``e``, where ``f`` is the feature map before the last global average pooling (the input of the
    last ``AdaptiveAvgPool2d`` the forward calls; the output when there is none), summed per
    example; plus ``sum log sigma`` over BatchNorm layers, ``sigma`` the square root of the mean
    batch variance of the layer's input during the unperturbed pass (the paper's BN rescaling).
    """
    _, _, shape = _split(data)
    with seeded_run(seed), torch.no_grad():
        net = _copy(model, train=True)
        for m in net.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
                nn.init.normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        device = _device(net)
        x = torch.randn((batch_size, *shape), device=device)
        x2 = x + mixup_gamma * torch.randn((batch_size, *shape), device=device)
        features: list[torch.Tensor] = []
        variances: list[torch.Tensor] = []
        recording = [True]

        def pre_pool(module, inputs):
            features.append(inputs[0])

        def bn_var(module, inputs):
            if recording[0]:
                z = inputs[0].double()
                dims = [d for d in range(z.dim()) if d != 1]
                variances.append(z.var(dim=dims, unbiased=False).mean())

        pools = [m for m in net.modules() if isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
                                                            nn.AdaptiveAvgPool3d))]
        handles = [m.register_forward_pre_hook(pre_pool) for m in pools]
        handles += [m.register_forward_pre_hook(bn_var) for m in net.modules()
                    if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        try:
            out1 = net(x)
            f1 = features[-1] if features else out1
            recording[0] = False
            features.clear()
            out2 = net(x2)
            f2 = features[-1] if features else out2
        finally:
            for h in handles:
                h.remove()
        diff = (f1.double() - f2.double()).abs().reshape(batch_size, -1).sum(dim=1).mean()
        log_bn = sum((0.5 * torch.log(v.clamp_min(1e-300)) for v in variances), torch.zeros((), dtype=torch.float64))
        return _float(torch.log(diff.clamp_min(1e-300)) + log_bn)


def params(model: nn.Module, data: Data = None, *, seed: int = 0) -> float:
    """The number of parameters (a baseline). Data-free; ``data`` and ``seed`` are ignored.

    >>> import torch
    >>> from nas_plugins.proxies import params
    >>> params(torch.nn.Linear(4, 2))
    10.0
    """
    return float(sum(p.numel() for p in model.parameters()))


def flops(model: nn.Module, data: Data = (3, 32, 32), *, seed: int = 0) -> float:
    """Multiply-adds of the conv and linear layers for one input of ``data``'s shape (a baseline),
    counted with forward hooks on a copy: ``output elements * in_channels / groups * kernel size`` for
    a convolution, ``output elements * in_features`` for a linear layer; BN, activations, pooling,
    additions and biases are not counted (the rule of the spaces' analytic ``flops``). Data-free.

    >>> import torch
    >>> from nas_plugins.proxies import flops
    >>> from nas_plugins.spaces import nb201
    >>> cfg = {key: "nor_conv_3x3" for key in nb201.EDGE_KEYS}
    >>> flops(nb201.build(cfg, C=8, N=1), (3, 32, 32)) == nb201.flops(cfg, 32, C=8, N=1)
    True
    """
    _, _, shape = _split(data)
    total = [0]

    def count(module, inputs, output):
        per_example = output.numel() // output.shape[0]
        if isinstance(module, nn.Linear):
            total[0] += per_example * module.in_features
        else:
            kernel = math.prod(module.kernel_size)
            total[0] += per_example * (module.in_channels // module.groups) * kernel

    with seeded_run(seed), torch.no_grad():
        net = _copy(model, train=False)
        handles = [m.register_forward_hook(count) for m in _weighted(net)]
        try:
            net(torch.zeros((1, *shape), device=_device(net)))
        finally:
            for h in handles:
                h.remove()
    return float(total[0])


# ============================================================================= data-dependent proxies

def naswot(model: nn.Module, data: Data = (3, 32, 32), *, seed: int = 0) -> float:
    """NASWOT (Mellor et al. 2021, "Neural Architecture Search without Training"). Needs data, no labels.

    Each input ``x_i`` of a batch gets a binary code: which inputs of every ReLU-like module (its
    class name contains ``ReLU``) are positive. ``K[i, j]`` counts the units where the codes of ``x_i``
    and ``x_j`` agree; the score is ``log |det K|``. Training mode (BN on batch statistics), as the
    authors run it. A batch of identical inputs gives ``-inf``.
    """
    x, _ = _batch(data, seed, labels=False)
    with seeded_run(seed), torch.no_grad():
        net = _copy(model, train=True)
        n = x.shape[0]
        kernel = torch.zeros((n, n), dtype=torch.float64)

        def hook(module, inputs):
            codes = (inputs[0].detach().reshape(n, -1) > 0).double().cpu()
            kernel.add_(codes @ codes.t() + (1.0 - codes) @ (1.0 - codes).t())

        relus = [m for m in net.modules() if "ReLU" in type(m).__name__]
        if not relus:
            raise ValueError("naswot needs ReLU modules (nn.ReLU, nn.ReLU6...): the model has none")
        handles = [m.register_forward_pre_hook(hook) for m in relus]
        try:
            net(x.to(_device(net)))
        finally:
            for h in handles:
                h.remove()
        sign, logdet = torch.linalg.slogdet(kernel)
    return _float(logdet) if float(sign) != 0 else -math.inf


def grad_norm(model: nn.Module, data: Data = (3, 32, 32), *, seed: int = 0) -> float:
    """Gradient norm (Abdelfattah et al. 2021): ``sum over conv/linear layers of ||dL/dw||`` for the
    cross-entropy ``L`` of the batch. Needs data and labels; training mode."""
    net, _ = _backward(model, data, seed)
    return _float(sum((layer.weight.grad.norm() for layer in _weighted(net) if layer.weight.grad is not None),
                      torch.zeros(())))


def snip(model: nn.Module, data: Data = (3, 32, 32), *, seed: int = 0) -> float:
    """SNIP (Lee et al. 2019) as a zero-cost proxy (Abdelfattah et al. 2021): ``sum |w * dL/dw|`` over
    the conv and linear weights (the gradient of ``L`` with respect to a multiplicative mask of 1),
    ``L`` the cross-entropy of the batch. Needs data and labels; training mode."""
    net, _ = _backward(model, data, seed)
    return _float(sum(((layer.weight * layer.weight.grad).abs().sum() for layer in _weighted(net)
                       if layer.weight.grad is not None), torch.zeros(())))


def _backward(model: nn.Module, data: Data, seed: int) -> tuple[nn.Module, torch.Tensor]:
    """A training-mode copy of ``model`` after ``backward()`` of the batch's cross-entropy."""
    x, y = _batch(data, seed, labels=True)
    with seeded_run(seed):
        net = _copy(model, train=True)
        device = _device(net)
        out = net(x.to(device))
        if y is None or y.shape[0] != out.shape[0]:
            raise ValueError("labels must give one class per example of the batch")
        if int(y.max()) >= out.shape[1] or int(y.min()) < 0:
            raise ValueError(f"labels must lie in 0..{out.shape[1] - 1} (the model's outputs), got "
                             f"{int(y.min())}..{int(y.max())}")
        loss = F.cross_entropy(out, y.to(device))
        loss.backward()
    return net, loss.detach()


def jacob_cov(model: nn.Module, data: Data = (3, 32, 32), *, seed: int = 0, k: float = 1e-5) -> float:
    """Jacobian covariance (Mellor et al. 2020, v1 of NASWOT; as in Abdelfattah et al. 2021). Needs data,
    no labels.

    ``J_i = d sum(f(x_i)) / d x_i`` for each input of the batch; with ``v`` the eigenvalues of the
    correlation matrix of the ``J_i``, the score is ``-sum(log(v + k) + 1 / (v + k))``. Training mode.
    """
    x, _ = _batch(data, seed, labels=False)
    with seeded_run(seed):
        net = _copy(model, train=True)
        x = x.to(_device(net)).clone().requires_grad_(True)
        out = net(x)
        if not out.requires_grad:
            return -math.inf                  # the output does not depend on the input (e.g. all-'none' cells)
        out.sum().backward()
        if x.grad is None:
            return -math.inf
        jac = x.grad.detach().reshape(x.shape[0], -1).double().cpu().numpy()
    return _jacob_score(jac, k)


def _jacob_score(jac: np.ndarray, k: float = 1e-5) -> float:
    """jacob_cov's score of the per-example input Jacobians ``jac`` (one row each)."""
    with np.errstate(all="ignore"):
        corr = np.corrcoef(jac)
    if not np.isfinite(corr).all():
        return -math.inf                      # a constant Jacobian row: no correlation defined
    v = np.linalg.eigvalsh(corr)
    v = np.clip(v, 0.0, None)                 # round-off negatives of a PSD matrix
    return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))


# ============================================================================= registry

#: name -> ``(function, needs_data)``; all are ``fn(model, data, *, seed=0) -> float``, higher is better.
PROXIES: dict[str, tuple[Callable[..., float], bool]] = {
    "synflow": (synflow, False),
    "naswot": (naswot, True),
    "zen": (zen, False),
    "grad_norm": (grad_norm, True),
    "snip": (snip, True),
    "jacob_cov": (jacob_cov, True),
    "params": (params, False),
    "flops": (flops, False),
}
#: The proxies that need labels as well as inputs.
NEEDS_LABELS: frozenset[str] = frozenset({"grad_norm", "snip"})


def score(name: str, model: nn.Module, data: Data = (3, 32, 32), *, seed: int = 0) -> float:
    """``PROXIES[name]`` applied to ``model`` (an unknown name raises ValueError listing the known ones).

    >>> import torch
    >>> from nas_plugins.proxies import score
    >>> score("params", torch.nn.Linear(3, 1))
    4.0
    """
    if name not in PROXIES:
        raise ValueError(f"unknown proxy {name!r}; proxies: {', '.join(PROXIES)}")
    return PROXIES[name][0](model, data, seed=seed)


def scores(names: Sequence[str], model: nn.Module, data: Data = (3, 32, 32), *, seed: int = 0) -> dict[str, float]:
    """``{name: score(name, model, data, seed=seed)}`` for several proxies, with the passes they can
    share done once: ``grad_norm`` and ``snip`` read the weight gradients of one cross-entropy backward,
    and ``naswot`` reads its ReLU codes off ``jacob_cov``'s forward (one training-mode copy, one forward,
    then the input-Jacobian backward and the cross-entropy backward on the same graph). The numbers are
    those of the single-proxy functions, bit for bit (``tests/test_proxies.py`` checks it); the other
    proxies are computed as :func:`score` does. For the four data proxies at batch 64 this takes
    about 40% of the time of four :func:`score` calls.

    >>> import torch
    >>> from nas_plugins.proxies import scores, score, image_batch
    >>> from nas_plugins.spaces import nb201
    >>> torch.manual_seed(0); model = nb201.build(nb201.space().sample(__import__("numpy").random.default_rng(0)), C=8, N=1)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> batch = image_batch(16, (3, 32, 32), seed=0)
    >>> both = scores(["snip", "naswot", "jacob_cov", "grad_norm"], model, batch)
    >>> both == {name: score(name, model, batch) for name in both}
    True
    """
    names = list(names)
    for name in names:
        if name not in PROXIES:
            raise ValueError(f"unknown proxy {name!r}; proxies: {', '.join(PROXIES)}")
    shared = {"naswot", "jacob_cov", "grad_norm", "snip"} & set(names)
    out: dict[str, float] = {}
    if len(shared) > 1:
        out.update(_shared_data_proxies(shared, model, data, seed))
    for name in names:
        if name not in out:
            out[name] = score(name, model, data, seed=seed)
    return {name: out[name] for name in names}


def _shared_data_proxies(names: set[str], model: nn.Module, data: Data, seed: int) -> dict[str, float]:
    """naswot, jacob_cov, grad_norm and snip (those in ``names``) from one forward of one copy."""
    labels = bool(names & NEEDS_LABELS)
    x, y = _batch(data, seed, labels=labels)
    out: dict[str, float] = {}
    with seeded_run(seed):
        net = _copy(model, train=True)
        device = _device(net)
        n = x.shape[0]
        kernel = torch.zeros((n, n), dtype=torch.float64)

        def hook(module, inputs):
            codes = (inputs[0].detach().reshape(n, -1) > 0).double().cpu()
            kernel.add_(codes @ codes.t() + (1.0 - codes) @ (1.0 - codes).t())

        handles = []
        if "naswot" in names:
            relus = [m for m in net.modules() if "ReLU" in type(m).__name__]
            if not relus:
                raise ValueError("naswot needs ReLU modules (nn.ReLU, nn.ReLU6...): the model has none")
            handles = [m.register_forward_pre_hook(hook) for m in relus]
        xin = x.to(device).clone().requires_grad_("jacob_cov" in names)
        try:
            logits = net(xin)
        finally:
            for h in handles:
                h.remove()
        if "naswot" in names:
            sign, logdet = torch.linalg.slogdet(kernel)
            out["naswot"] = _float(logdet) if float(sign) != 0 else -math.inf
        if "jacob_cov" in names:
            jac = None
            if logits.requires_grad:
                grad, = torch.autograd.grad(logits.sum(), xin, retain_graph=labels, allow_unused=True)
                jac = None if grad is None else grad.detach().reshape(n, -1).double().cpu().numpy()
            out["jacob_cov"] = -math.inf if jac is None else _jacob_score(jac)
        if labels:
            if y is None or y.shape[0] != logits.shape[0]:
                raise ValueError("labels must give one class per example of the batch")
            if int(y.max()) >= logits.shape[1] or int(y.min()) < 0:
                raise ValueError(f"labels must lie in 0..{logits.shape[1] - 1} (the model's outputs), got "
                                 f"{int(y.min())}..{int(y.max())}")
            for p in net.parameters():
                p.grad = None
            F.cross_entropy(logits, y.to(device)).backward()
            layers = [layer for layer in _weighted(net) if layer.weight.grad is not None]
            if "grad_norm" in names:
                out["grad_norm"] = _float(sum((layer.weight.grad.norm() for layer in layers), torch.zeros(())))
            if "snip" in names:
                out["snip"] = _float(sum(((layer.weight * layer.weight.grad).abs().sum() for layer in layers),
                                         torch.zeros(())))
    return out


from .proxy_filter import PROXY_NAMES, PROXY_OPTIONS, ProxyFilter, resolve_builder  # noqa: E402  (re-exported)

assert set(PROXY_NAMES) == set(PROXIES), "proxy_filter.PROXY_NAMES must list every proxy"
