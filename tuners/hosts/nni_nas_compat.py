"""Work-arounds that let NNI 3.0's NAS package (``nni.nas``) run on today's stack (torch 2.13.0,
torchvision 0.28.0, pytorch-lightning 2.6.6, torchmetrics 1.9.0).

:func:`apply` installs them (idempotent); ``tuners.hosts.nni_nas`` and ``tuners.hosts.nni_nas_spaces`` call
it when imported, so import one of them (or call :func:`apply`) **before** ``nni.nas``:

* :func:`register_torchvision_ops`: ``nni.nas`` imports pytorch-lightning, which imports torchmetrics, which
  imports torchvision when it is installed. The torchvision 0.28.0 wheel that installs here is a CUDA build
  whose compiled ops (``torchvision/_C.so``) do not load with the CPU torch, and its
  ``_meta_registrations`` then fails at import (``operator torchvision::nms does not exist``), taking
  ``import nni.nas`` down with it. We define the two ops it needs (``nms``, ``qnms``), with a CPU kernel for
  ``nms``, when (and only when) they are missing.
* :func:`launch_trials_through_compat`: a ``NasExperiment`` on NNI's training service starts each trial as
  ``python -m nni.nas.execution.training_service trial``, a fresh interpreter that imports ``nni.nas``
  before any user code, so the fix above must run there first. The experiment's trial command becomes
  ``python -m tuners.hosts.nni_nas_trial -m nni.nas.execution.training_service trial``: the same module, run
  after :func:`apply` (NNI requires the command to end that way and lets only the interpreter part vary).
* :func:`quiet_layer_stubs`: ``nni.nas.nn.pytorch`` wraps every class of ``torch.nn`` and warns "found to
  be not a nn.Module ... your PyTorch version might not be supported" for the two that torch 2.13 added
  and that are not modules (``Buffer``, ``LinearCrossEntropyOptions``); NNI then re-exports them as they
  are, which is right, so the warning is silenced (only that one).
"""
from __future__ import annotations

import sys
import warnings

__all__ = ["apply", "register_torchvision_ops", "launch_trials_through_compat", "quiet_layer_stubs", "TRIAL_LAUNCHER"]

#: The module that starts a NAS trial after :func:`apply` (see :func:`launch_trials_through_compat`).
TRIAL_LAUNCHER = "tuners.hosts.nni_nas_trial"
_APPLIED = False


def _op_missing(name: str) -> bool:
    import torch
    try:
        getattr(torch.ops.torchvision, name)
    except (AttributeError, RuntimeError):
        return True
    return False


def _nms_cpu(dets, scores, iou_threshold: float):
    """Greedy non-maximum suppression: indices of the kept boxes (``x1, y1, x2, y2``), by decreasing score."""
    import torch
    order = torch.argsort(scores, descending=True, stable=True)
    boxes = dets[order]
    x1, y1, x2, y2 = boxes.unbind(1)
    areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    suppressed = torch.zeros(len(order), dtype=torch.bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        w = (torch.minimum(x2[i], x2[i + 1:]) - torch.maximum(x1[i], x1[i + 1:])).clamp(min=0)
        h = (torch.minimum(y2[i], y2[i + 1:]) - torch.maximum(y1[i], y1[i + 1:])).clamp(min=0)
        inter = w * h
        iou = inter / (areas[i] + areas[i + 1:] - inter)
        suppressed[i + 1:] |= iou > iou_threshold
    return order[torch.tensor(keep, dtype=torch.long)]


_LIBRARY = None


def register_torchvision_ops() -> bool:
    """Define ``torchvision::nms`` (with a CPU kernel) and ``torchvision::qnms`` when torchvision's compiled ops
    are missing, so that ``import torchvision`` works. Returns True when it defined them."""
    if "torchvision" in sys.modules or not (_op_missing("nms") or _op_missing("qnms")):
        return False
    import torch
    global _LIBRARY
    _LIBRARY = torch.library.Library("torchvision", "FRAGMENT")
    for name in ("nms", "qnms"):
        if _op_missing(name):
            _LIBRARY.define(f"{name}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIBRARY.impl("nms", _nms_cpu, "CPU")
    return True


def launch_trials_through_compat() -> None:
    """Make every ``NasExperimentConfig`` start its trials through :data:`TRIAL_LAUNCHER` (see the module's
    docstring), unless the user set the interpreter part of the command (``_trial_command_params['python']``)."""
    from nni.nas.experiment.config import NasExperimentConfig

    if getattr(NasExperimentConfig, "_nasp_launcher", False):
        return
    canonicalize = NasExperimentConfig._canonicalize

    def _canonicalize(self, parents):
        params = dict(self._trial_command_params or {})
        if "python" not in params:
            params["python"] = f"{sys.executable} -m {TRIAL_LAUNCHER}"
            self._trial_command_params = params
        return canonicalize(self, parents)

    NasExperimentConfig._canonicalize = _canonicalize
    NasExperimentConfig._nasp_launcher = True


def quiet_layer_stubs() -> None:
    """Silence NNI's "not a nn.Module" warning for the non-module classes of ``torch.nn`` (see above)."""
    warnings.filterwarnings("ignore", message=r".*is found to be not a nn\.Module", category=RuntimeWarning,
                            module=r"nni\.nas\.nn\.pytorch\.layers")


def apply() -> None:
    """Install every work-around (idempotent)."""
    global _APPLIED
    if _APPLIED:
        return
    register_torchvision_ops()
    quiet_layer_stubs()
    launch_trials_through_compat()
    _APPLIED = True
