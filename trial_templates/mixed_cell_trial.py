"""Trial of the main job: train a cell network on digits with a mixed HPO+NAS configuration.

Reads its configuration through :mod:`trial_templates.report` (NNI, AutoGluon or plain Python),
trains :func:`nas_plugins.cells.build_model` for ``epochs`` epochs, reports validation accuracy
after every epoch and the final accuracy at the end. Plain run::

    python -m trial_templates.mixed_cell_trial --config '{"lr": 0.05, "edge_0": "sepconv3x3"}'
"""
from __future__ import annotations

from nas_plugins.cells import DEFAULTS, train_and_evaluate
from trial_templates.report import start

EPOCHS = 6


def main() -> float:
    trial = start(defaults={**DEFAULTS, "epochs": EPOCHS})
    accuracy = train_and_evaluate(trial.config, epochs=int(trial.config["epochs"]), seed=0,
                                  report=lambda epoch, acc: trial.report(acc, step=epoch), threads=1)
    trial.final(accuracy)
    return accuracy


if __name__ == "__main__":
    main()
