"""One-shot NAS as ONE trial: train a weight-sharing supernet (SPOS or DARTS), export an architecture, report it.

The configuration comes through :mod:`trial_templates.report` (NNI, AutoGluon, or plain Python with
``--config JSON|FILE``), so an outer tuner can choose the one-shot method and its hyperparameters::

    python -m trial_templates.oneshot_trial --config '{"method": "darts", "order": 2, "epochs": 3}'
    python -m trial_templates.oneshot_trial --data cifar10 --data-dir ~/data --config '{"method": "spos"}'

Options (the configuration's keys; :data:`DEFAULTS` has the defaults):

- ``method``: ``spos`` | ``darts`` (the names of :data:`nas_plugins.oneshot.TRAINERS`). May also be an NNI
  nested choice, ``{"_name": "darts", "order": 2, ...}``: its other keys are options too.
- ``space``: a space with a supernet (:data:`nas_plugins.oneshot.SUPERNETS`: ``nb201``, ``darts``), or any
  ``nas_plugins.spaces.<name>`` module that has a ``supernet(**sizes)`` builder (the hook for further
  spaces, e.g. ``mini201``).
- ``lr`` (weight SGD, cosine-decayed over the run), ``weight_decay``, ``arch_lr`` and ``order`` (1 | 2; DARTS
  only), ``epochs``, ``batch_size``, ``C`` (channels), ``N`` (cells per stage; the DARTS space gets
  ``layers = 3 * N``), ``seed``.
- ``spos_search_budget``: architectures the SPOS search scores; ``strategy``: the search strategy, any
  registered tuner of :mod:`tuners.registry` (default ``evolution``), with ``strategy_options`` (a dict;
  ``seed`` defaults to the trial's).
- ``bn_recalibration`` (true/false): before scoring a single path with the shared weights, re-estimate its
  BatchNorm statistics on ``recalibration_batches`` training batches (the supernet's own statistics are
  kept); ``eval_paths``: paths SPOS scores for its per-epoch report.
- ``data`` (``digits`` | ``mini201`` | ``cifar10``; CLI ``--data``), ``data_dir`` (``--data-dir``), ``image_size``
  (digits only: 8, or larger for bilinear upsampling), ``train_subset`` (use only that many training images).
  ``mini201`` is the data of the mini201 ground truth (``nas_plugins.spaces.mini201.load_data``: noisy digits,
  its training and validation splits), for ``space: mini201`` whose reported ground truth was measured on it.

Data: the training split is cut in two halves (the usual DARTS split): the weight half trains the supernet's
weights; the arch half selects the architecture (DARTS: the architect's steps; SPOS: the search scores
architectures on it). The validation split is only reported on. Digits (embedded, the default): 1-channel
8x8 images, 75/25 stratified train/validation split. CIFAR-10 (``--data cifar10 --data-dir PATH``): the
local folder torchvision's ``CIFAR10(root=PATH, download=False)`` reads (never downloaded); its training
set is the training split and its test set the validation split.

What it reports:

- after every epoch (intermediate results; NNI assessors see them): SPOS: the **mean validation accuracy
  of** ``eval_paths`` **fixed paths** drawn uniformly at the start; DARTS: the validation accuracy of the
  **currently exported architecture's single path** with the shared weights;
- final metric: the validation accuracy of the **exported architecture** (SPOS: the best of the search;
  DARTS: the argmax of the architecture parameters) as a single path with the shared weights (after BN
  recalibration when ``bn_recalibration``). Under NNI it is ``{"default": accuracy}`` plus
  ``"ground_truth"`` when the space has a lookup table (NB201: the CIFAR-10 test accuracy in percent of the
  cell trained stand-alone, from ``nb201.csv.gz`` in ``$NASP_BENCHMARKS``);
  our tuners read ``"default"``;
- the exported architecture: a line ``exported architecture: {...}`` (JSON) in the trial log, and the file
  ``exported_arch.json`` (architecture, accuracy, ground truth, options) in ``$NNI_OUTPUT_DIR`` (NNI's trial
  folder) or ``--output-dir``.

A bad option raises ``ValueError`` naming it (as a script: ``error: ...`` on stderr, exit code 2). A progress
bar (tqdm when installed, else one rewritten stderr line) shows on a terminal only, not under ``CI=true``.
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import json
import math
import os
import sys
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch

__all__ = ["DEFAULTS", "parse_config", "run", "main"]

DEFAULTS: dict[str, Any] = {
    "method": "spos", "space": "nb201",
    "lr": 0.05, "weight_decay": 3e-4, "arch_lr": 3e-3, "order": 1,
    "epochs": 3, "batch_size": 64, "C": 4, "N": 1, "seed": 0,
    "spos_search_budget": 10, "strategy": "evolution", "strategy_options": {},
    "bn_recalibration": True, "recalibration_batches": 4, "eval_paths": 3,
    "data": "digits", "data_dir": None, "image_size": 8, "train_subset": None,
}
_INTS = {"order": (1, 2), "epochs": (1, None), "batch_size": (1, None), "C": (1, None), "N": (1, None),
         "seed": (0, None), "spos_search_budget": (1, None), "recalibration_batches": (1, None),
         "eval_paths": (1, None), "image_size": (8, None)}
_POSITIVE = ("lr", "arch_lr")
_DATASETS = ("digits", "mini201", "cifar10")


# ----------------------------------------------------------------------------- options

def _supernet_factories() -> dict[str, Callable[..., Any]]:
    from nas_plugins.oneshot import SUPERNETS
    return dict(SUPERNETS)


def _space_factory(name: str) -> Callable[..., Any]:
    """The supernet constructor of the space ``name``: :data:`SUPERNETS`, else a ``supernet`` builder of
    ``nas_plugins.spaces.<name>`` (how a further space plugs in)."""
    factories = _supernet_factories()
    if name in factories:
        return factories[name]
    if isinstance(name, str) and name.isidentifier():
        try:
            module = importlib.import_module(f"nas_plugins.spaces.{name}")
        except ImportError:
            module = None
        builder = getattr(module, "supernet", None)
        if callable(builder):
            return builder
    raise ValueError(f"no supernet for space {name!r}; spaces with one: {', '.join(sorted(factories))}")


def _as_int(key: str, value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)                          # NNI's q-types hand integral floats
    low, high = _INTS[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        want = f"{low} or {high}" if high is not None and high - low == 1 else f"an integer >= {low}"
        raise ValueError(f"option {key!r} must be {want}, got {value!r}")
    return value


def parse_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """``DEFAULTS`` overlaid with ``config`` and checked; a nested-choice ``method`` is flattened.
    Raises ``ValueError`` naming the first bad option.

    >>> parse_config({"method": {"_name": "darts", "order": 2}})["order"]
    2
    >>> parse_config({"method": "enas"})
    Traceback (most recent call last):
    ...
    ValueError: unknown one-shot method 'enas'; known: darts, spos
    >>> parse_config({"lrr": 0.1})
    Traceback (most recent call last):
    ...
    ValueError: unknown option 'lrr' for the one-shot trial (did you mean 'lr'?); accepted: ...
    """
    from nas_plugins.oneshot import TRAINERS
    from tuners import registry

    if not isinstance(config, Mapping):
        raise ValueError(f"the configuration must be a JSON object, got {config!r}")
    config = dict(config)
    method = config.get("method", DEFAULTS["method"])
    if isinstance(method, Mapping):                 # an NNI nested choice: {"_name": "darts", "order": 2}
        if "_name" not in method:
            raise ValueError(f"option 'method' as a nested choice needs a '_name', got {method!r}")
        config.update({k: v for k, v in method.items() if k != "_name"})
        config["method"] = method["_name"]
    for key in config:
        if key not in DEFAULTS:
            close = difflib.get_close_matches(str(key), DEFAULTS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown option {key!r} for the one-shot trial{hint}; accepted: {', '.join(DEFAULTS)}")
    out = {**DEFAULTS, **config}
    if out["method"] not in TRAINERS:
        raise ValueError(f"unknown one-shot method {out['method']!r}; known: {', '.join(sorted(TRAINERS))}")
    _space_factory(out["space"])
    for key in _INTS:
        out[key] = _as_int(key, out[key])
    for key in _POSITIVE:
        value = out[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"option {key!r} must be a positive number, got {value!r}")
        out[key] = float(value)
    wd = out["weight_decay"]
    if isinstance(wd, bool) or not isinstance(wd, (int, float)) or not math.isfinite(wd) or wd < 0:
        raise ValueError(f"option 'weight_decay' must be a non-negative number, got {wd!r}")
    if not isinstance(out["bn_recalibration"], bool):
        raise ValueError(f"option 'bn_recalibration' must be true or false, got {out['bn_recalibration']!r}")
    try:
        info = registry.get(str(out["strategy"]), "tuner")
    except KeyError as exc:                         # UnknownAlgorithmError
        raise ValueError(f"option 'strategy': {exc}") from None
    if not isinstance(out["strategy_options"], Mapping):
        raise ValueError(f"option 'strategy_options' must be a JSON object, got {out['strategy_options']!r}")
    try:
        registry.check_options(info.cls, dict(out["strategy_options"]))
    except ValueError as exc:
        raise ValueError(f"option 'strategy_options': {exc}") from None
    out["strategy"] = info.name
    if out["data"] not in _DATASETS:
        raise ValueError(f"option 'data' must be one of {', '.join(_DATASETS)}, got {out['data']!r}")
    if out["data"] == "cifar10" and not out["data_dir"]:
        raise ValueError("option 'data_dir' (--data-dir) is required with data 'cifar10': the folder holding "
                         "cifar-10-batches-py")
    if out["train_subset"] is not None:
        ts = out["train_subset"]
        if isinstance(ts, bool) or not isinstance(ts, int) or ts < 2:
            raise ValueError(f"option 'train_subset' must be an integer >= 2 or null, got {ts!r}")
    return out


# ----------------------------------------------------------------------------- data

class Batches:
    """Mini-batches ``(x, y)`` of tensors; reshuffled at every iteration by ``generator`` when given;
    ``transform`` maps a raw image batch to the network's input."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator | None = None,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        self.x, self.y, self.batch_size, self.generator = x, y, batch_size, generator
        self.transform = transform or (lambda t: t)

    def __len__(self) -> int:
        return math.ceil(len(self.y) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(self.y), generator=self.generator) if self.generator is not None \
            else torch.arange(len(self.y))
        for idx in order.split(self.batch_size):
            yield self.transform(self.x[idx]), self.y[idx]


def load_data(options: Mapping[str, Any]) -> tuple[tuple[torch.Tensor, ...], Callable | None, int]:
    """``((x_train, y_train, x_val, y_val), transform, in_channels)`` for ``options["data"]``."""
    from nas_plugins import data
    if options["data"] == "cifar10":
        x_tr, y_tr = data.load_cifar10(options["data_dir"], train=True)
        x_va, y_va = data.load_cifar10(options["data_dir"], train=False)
        mean = torch.tensor(data.CIFAR10_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(data.CIFAR10_STD).view(1, 3, 1, 1)
        return (x_tr, y_tr, x_va, y_va), (lambda x: (x.float() / 255.0 - mean) / std), 3
    if options["data"] == "mini201":
        from nas_plugins.spaces import mini201
        x_tr, y_tr, x_va, y_va, _, _ = mini201.load_data(eval_draws=1)
        return (x_tr, y_tr, x_va, y_va), None, 1
    return data.load_digits_images(0.25, seed=0, image_size=options["image_size"]), None, 1


def split_halves(x: torch.Tensor, y: torch.Tensor, subset: int | None
                 ) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """The training split cut at random (a fixed permutation) into the weight half and the arch half."""
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    if subset is not None:
        order = order[:subset]
    half = len(order) // 2
    a, b = order[:half], order[half:]
    return (x[a], y[a]), (x[b], y[b])


# ----------------------------------------------------------------------------- progress

class Progress:
    """A training progress bar on stderr: tqdm when installed, else one rewritten line; nothing when stderr is
    not a terminal or under ``CI=true``."""

    def __init__(self, total: int, desc: str) -> None:
        self.total, self.desc, self.n = total, desc, 0
        enabled = sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("true", "1", "yes")
        self.bar = None
        self.enabled = enabled
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, desc=desc, file=sys.stderr, leave=False, dynamic_ncols=True)

    def update(self, **info: Any) -> None:
        self.n += 1
        if not self.enabled:
            return
        text = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items())
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)
        else:
            sys.stderr.write(f"\r{self.desc}: {self.n}/{self.total} {text}\033[K")
            sys.stderr.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


# ----------------------------------------------------------------------------- evaluation

def path_accuracy(trainer: Any, arch: Mapping[str, Any], val: Sequence, recal: Sequence | None) -> float:
    """Validation accuracy of the single path ``arch`` with the shared weights (BN recalibrated on ``recal``)."""
    with trainer.recalibrated(trainer.supernet.check_arch(arch), recal):
        return trainer.estimate(arch, val)


def ground_truth(space: str, arch: Mapping[str, Any]) -> dict[str, Any] | None:
    """The lookup-table row of ``arch`` when ``space`` has a table that is available, else None (quietly)."""
    try:
        if space == "nb201":
            from nas_plugins.spaces import nb201
            row = nb201.lookup(arch, "cifar10")
            return {"table": "nb201", "dataset": "cifar10", "arch": row["arch"], "test_acc": row["test_acc"],
                    "val_acc": row["val_acc"], "unit": "percent"}
        module = importlib.import_module(f"nas_plugins.spaces.{space}")
        lookup = getattr(module, "lookup", None)
        if lookup is None:
            return None
        row = lookup(arch)
        acc = row.get("test_acc")
        return {"table": space, "test_acc": acc, **{k: v for k, v in row.items()
                                                    if isinstance(v, (int, float, str)) and k != "test_acc"}}
    except Exception:  # noqa: BLE001 -- no table, no pandas, unknown arch: no ground truth
        return None


# ----------------------------------------------------------------------------- the run

def run(options: Mapping[str, Any], report: Callable[[int, float], None] | None = None,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train the supernet with ``options`` (checked by :func:`parse_config`), report per epoch through
    ``report(epoch, accuracy)``, export the architecture; returns the summary written to exported_arch.json."""
    from nas_plugins.oneshot import create_trainer
    from tuners import registry

    o = dict(options)
    seed = o["seed"]
    torch.manual_seed(seed)
    (x_tr, y_tr, x_va, y_va), transform, in_channels = load_data(o)
    (xw, yw), (xa, ya) = split_halves(x_tr, y_tr, o["train_subset"])
    bs = o["batch_size"]
    weight_batches = Batches(xw, yw, bs, torch.Generator().manual_seed(seed), transform)
    arch_batches = Batches(xa, ya, bs, torch.Generator().manual_seed(seed + 1), transform)
    val = list(Batches(x_va, y_va, max(bs, 256), None, transform))
    arch_eval = list(Batches(xa, ya, max(bs, 256), None, transform))        # what the SPOS search scores
    recal = list(Batches(xw, yw, bs, None, transform))[:o["recalibration_batches"]] if o["bn_recalibration"] else None

    if o["space"] == "darts":
        sizes = {"C": o["C"], "layers": 3 * o["N"], "in_channels": in_channels}
    else:
        sizes = {"C": o["C"], "N": o["N"], "in_channels": in_channels}
    supernet = _space_factory(o["space"])(seed=seed, **sizes)
    steps_per_epoch = len(weight_batches) if o["method"] != "darts" else min(len(weight_batches), len(arch_batches))
    common = {"lr": o["lr"], "weight_decay": float(o["weight_decay"]), "total_steps": o["epochs"] * steps_per_epoch,
              "seed": seed}
    extra = {"order": o["order"], "arch_lr": o["arch_lr"]} if o["method"] == "darts" else {}
    trainer = create_trainer(o["method"], supernet, **common, **extra)
    eval_rng = np.random.default_rng([seed, 1])
    eval_paths = [supernet.sample_arch(eval_rng) for _ in range(o["eval_paths"])]

    accuracy = float("nan")
    for epoch in range(1, o["epochs"] + 1):
        bar = Progress(steps_per_epoch, f"{o['method']} epoch {epoch}/{o['epochs']}")
        try:
            if o["method"] == "darts":
                for wb, ab in zip(weight_batches, arch_batches):
                    bar.update(**trainer.step(wb, ab))
            else:
                for wb in weight_batches:
                    bar.update(**trainer.step(wb, None))
        finally:
            bar.close()
        if o["method"] == "darts":
            accuracy = path_accuracy(trainer, trainer.export(), val, recal)
        else:
            accuracy = float(np.mean([path_accuracy(trainer, p, val, recal) for p in eval_paths]))
        if report is not None:
            report(epoch, accuracy)

    searched = None
    if o["method"] == "darts":
        arch = trainer.export()
    else:
        strategy_options = {"seed": seed, **dict(o["strategy_options"]), "mode": "max"}   # scores are accuracies
        strategy = registry.create(o["strategy"], supernet.search_space, **strategy_options)
        result = trainer.search(strategy, arch_eval, o["spos_search_budget"], bn_recalibration_data=recal)
        arch = result.best
        searched = len(result.history)
    arch = supernet.check_arch(arch)
    final = path_accuracy(trainer, arch, val, recal)
    log("exported architecture: " + json.dumps(arch, sort_keys=True))
    summary: dict[str, Any] = {
        "method": o["method"], "space": o["space"], "arch": arch, "accuracy": final,
        "accuracy_of": "validation accuracy of the exported architecture's single path with the shared weights",
        "ground_truth": ground_truth(o["space"], arch), "searched_architectures": searched,
        "options": {k: v for k, v in o.items()},
    }
    try:
        summary["arch_string"] = importlib.import_module(f"nas_plugins.spaces.{o['space']}").to_arch_string(arch)
    except Exception:  # noqa: BLE001 -- a space without arch strings (darts)
        pass
    return summary


def _final(trial: Any, accuracy: float, gt: dict | None) -> None:
    """The final metric: under NNI ``{"default": accuracy, "ground_truth": ...}`` when a ground truth is known."""
    if trial.backend == "nni" and gt is not None and isinstance(gt.get("test_acc"), (int, float)) \
            and math.isfinite(accuracy):
        import nni
        trial.result = float(accuracy)
        nni.report_final_result({"default": float(accuracy), "ground_truth": float(gt["test_acc"])})
        return
    trial.final(accuracy)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from trial_templates.report import start

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--data", default=None, choices=_DATASETS)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--output-dir", default=None)
    parser.add_argument("--threads", type=int, default=1)
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(max(1, args.threads))
    defaults = {k: v for k, v in (("data", args.data), ("data_dir", args.data_dir)) if v is not None}
    trial = start(defaults=defaults, argv=argv)
    options = parse_config(trial.config)
    summary = run(options, report=lambda epoch, acc: trial.report(acc, step=epoch))
    summary["trial_id"] = trial.trial_id
    out_dir = args.output_dir or os.environ.get("NNI_OUTPUT_DIR")
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, "exported_arch.json")
        with open(path, "w") as f:
            json.dump(summary, f, indent=2, sort_keys=True, default=str)
        print(f"exported architecture written to {path}", flush=True)
    gt = summary["ground_truth"]
    if gt is not None:
        print("ground truth: " + json.dumps(gt, sort_keys=True), flush=True)
    _final(trial, summary["accuracy"], gt)
    return summary


if __name__ == "__main__":
    try:
        main()
    except (ValueError, FileNotFoundError) as exc:
        print(f"oneshot_trial: error: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
