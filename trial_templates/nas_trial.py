"""Trial for the NAS spaces: build the sampled network of ``nas_plugins.spaces.<space>`` and train it on digits.

The configuration mixes the architecture (the space's parameters) and hyperparameters (``lr``,
``batch_size``, ``epochs``, all optional). It reports validation accuracy after every epoch and at
the end, through :mod:`trial_templates.report` (NNI, AutoGluon or plain Python)::

    python -m trial_templates.nas_trial --space nb201 --config '{"edge_1_0": "nor_conv_3x3", ...}'

Networks are the spaces' builders at small sizes (digits are 8x8 grey images: one input channel).
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import torch
from torch import nn

from nas_plugins.data import load_digits_split
from nas_plugins.spaces import get_space
from trial_templates.report import start

SMALL = {"nb201": {"C": 8, "N": 1}, "mini201": {"C": 4, "N": 1}, "darts": {"C": 8, "layers": 3}, "mobilenet": {"width_mult": 0.5, "head_channels": 64}}
DEFAULTS = {"lr": 0.05, "batch_size": 64, "epochs": 1}


def train(model: nn.Module, config: dict, report, seed: int = 0) -> float:
    """SGD with momentum on digits for ``config["epochs"]`` epochs; returns the last validation accuracy."""
    torch.manual_seed(seed)
    x_tr, y_tr, x_va, y_va = load_digits_split(0.25, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=float(config["lr"]), momentum=0.9)
    batch = int(config["batch_size"])
    accuracy = 0.0
    for epoch in range(int(config["epochs"])):
        model.train()
        for idx in torch.randperm(len(x_tr)).split(batch):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x_tr[idx]), y_tr[idx]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            accuracy = float((model(x_va).argmax(1) == y_va).float().mean())
        report(epoch + 1, accuracy)
    return accuracy


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--space", default="nb201", choices=sorted(SMALL))
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    torch.set_num_threads(1)
    space = get_space(args.space)
    default_arch = space.space().sample(np.random.default_rng(0))      # for a plain run without --config
    trial = start(defaults={**DEFAULTS, **default_arch}, argv=argv)
    config = {**DEFAULTS, **trial.config}
    model = space.build(config, num_classes=10, in_channels=1, **SMALL[args.space])
    accuracy = train(model, config, lambda epoch, acc: trial.report(acc, step=epoch))
    trial.final(accuracy)
    return accuracy


if __name__ == "__main__":
    main()
