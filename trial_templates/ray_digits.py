"""The main job on Ray Tune: the demo's experiment (``demo.yml``: BO + curve-fit early stopping on the digits
cell network, the HPO + NAS space of ``mixed_space.json``) as one Tune run, on a local Ray cluster or
any cluster ``ray.init`` reaches (``--address``, ``$RAY_ADDRESS``). Needs the ``ray`` extra.

    python -m trial_templates.ray_digits --samples 20 --concurrency 2            # local cluster, 2 CPUs
    python -m trial_templates.ray_digits --address 127.0.0.1:28300 --concurrency 4

Only the cluster section differs from the NNI config: the searcher and scheduler are made from the same
registered names and options as ``demo.yml``'s ``tuner``/``assessor``, and the trainable trains the same
network for the same epochs (``nas_plugins.cells.train_and_evaluate``), reporting validation accuracy
after each. Each trial gets ``1 / concurrency`` of ``--cpus`` so that ``--concurrency`` trials run at once.
Workers import this checkout (``PYTHONPATH`` in the job's runtime environment).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPACE_FILE = Path(__file__).resolve().parent / "mixed_space.json"
EPOCHS = 6


def trainable(config: dict) -> None:
    """One trial: the demo's network trained for ``config["epochs"]`` epochs (default 6), accuracy each epoch."""
    from ray import tune

    from nas_plugins.cells import train_and_evaluate
    train_and_evaluate(config, epochs=int(config.get("epochs", EPOCHS)), seed=0, threads=1,
                       report=lambda epoch, accuracy: tune.report({"accuracy": accuracy}))


def run(samples: int = 20, concurrency: int = 2, *, address: str | None = None, cpus: int = 2,
        epochs: int = EPOCHS, seed: int = 0, storage: str | None = None) -> dict:
    """Run the experiment; returns ``{"trials", "errors", "epochs_trained", "stopped", "best", "best_config",
    "seconds", "tuner_seconds", "trial_seconds"}``: ``tuner_seconds`` is the time the driver spent inside the
    searcher's and scheduler's callbacks, ``trial_seconds`` the trials' own summed run time."""
    import ray
    from ray import tune

    from tuners.hosts.ray_host import make_scheduler, make_searcher

    space = json.loads(SPACE_FILE.read_text())
    searcher = make_searcher("bo", space, seed=seed)                                      # demo.yml's tuner
    scheduler = make_scheduler("curve_fit", max_step=epochs, start_step=min(4, epochs - 1),  # and assessor
                               threshold=0.05)
    started = not ray.is_initialized()
    if started:
        runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}}
        if address or os.environ.get("RAY_ADDRESS"):
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
        else:
            ray.init(num_cpus=cpus, include_dashboard=False, runtime_env=runtime_env, log_to_driver=False)
    try:
        begin = time.monotonic()
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": cpus / concurrency}),
            param_space={"epochs": epochs},                 # the searched space is the searcher's own
            tune_config=tune.TuneConfig(metric="accuracy", mode="max", num_samples=samples,
                                        max_concurrent_trials=concurrency, search_alg=searcher, scheduler=scheduler),
            run_config=tune.RunConfig(name=f"nasp-digits-c{concurrency}", storage_path=storage, verbose=0))
        results = tuner.fit()
        seconds = time.monotonic() - begin
    finally:
        if started:
            ray.shutdown()
    ok = [r for r in results if r.error is None and r.metrics]
    best = max(ok, key=lambda r: r.metrics["accuracy"], default=None)
    return {"trials": len(results), "errors": len(results.errors),
            "epochs_trained": sum(int(r.metrics.get("training_iteration", 0)) for r in results if r.metrics),
            "stopped": sum(r.metrics.get("training_iteration", epochs) < epochs for r in ok),
            "best": None if best is None else best.metrics["accuracy"],
            "best_config": None if best is None else best.config, "seconds": seconds,
            "tuner_seconds": searcher.busy_seconds + scheduler.busy_seconds,
            "trial_seconds": sum(float(r.metrics.get("time_total_s", 0.0)) for r in results if r.metrics)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--address", default=None, help="a running cluster (default: $RAY_ADDRESS, else a local one)")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs the trials share (a local cluster gets as many)")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    out = run(args.samples, args.concurrency, address=args.address, cpus=args.cpus, epochs=args.epochs, seed=args.seed)
    print(json.dumps(out, default=str, indent=1))
    return 0 if out["trials"] and out["errors"] < out["trials"] else 1


if __name__ == "__main__":
    sys.exit(main())
