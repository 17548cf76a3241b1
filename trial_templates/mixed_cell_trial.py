"""Trial of the main job: train a cell network on digits with a mixed HPO+NAS configuration.

Reads its configuration through :mod:`trial_templates.report` (NNI, AutoGluon or plain Python),
trains :func:`nas_plugins.cells.build_model` for ``epochs`` epochs, reports validation accuracy
after every epoch and the final accuracy at the end. Plain run::

    python -m trial_templates.mixed_cell_trial --config '{"lr": 0.05, "edge_0": "sepconv3x3"}'

``epochs`` is the budget Hyperband/ASHA set: a configuration run before with fewer epochs continues
from its checkpoint in ``trial.checkpoint_dir()`` (only the new epochs are trained and reported);
``$NASP_CHECKPOINT_ROOT`` (a shared mount or an fsspec URL) makes that work across machines. With the
tuner's ``resume_key: resume_from``, a promoted configuration whose checkpoint is missing says so (a
warning in the trial's log, ``checkpoint_missing`` in the final result) and trains from scratch.
The learning rate decays over ``--max-epochs`` epochs whatever the budget (default: 6, or the
budget when larger); pass the tuner's ``R`` there.
"""
from __future__ import annotations

import argparse
import sys

from nas_plugins.cells import DEFAULTS, train_and_evaluate
from trial_templates.report import start

EPOCHS = 6


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--max-epochs", type=int, default=None)
    args, _ = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    trial = start(defaults={**DEFAULTS, "epochs": EPOCHS}, argv=argv)
    epochs = int(trial.config["epochs"])
    accuracy = train_and_evaluate(trial.config, epochs=epochs, seed=0,
                                  report=lambda epoch, acc: trial.report(acc, step=epoch), threads=1,
                                  checkpoint_dir=trial.checkpoint_dir(),
                                  max_epochs=args.max_epochs or max(EPOCHS, epochs),
                                  resume_from=trial.resume_from, on_missing_checkpoint=trial.missing_checkpoint)
    trial.final(accuracy)
    return accuracy


if __name__ == "__main__":
    main()
