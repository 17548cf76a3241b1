"""Our strategies and NNI's own, each as the strategy of a real ``NasExperiment`` on a ModelSpace.

    python -m bench.run_nni_nas [--seeds 20] [--budgets 5,10,20] [--raw FILE] [--from-raw FILE] [--out docs/benchmarks.md]
    python -m bench.run_nni_nas --oneshot [--seeds 5] [--epochs 10] [--raw FILE] ...

``--oneshot``: our one-shot trainers (SPOS, DARTS) on the user's ModelSpace ``Mini201Cells`` (mini201 with a
``LayerChoice`` per edge; ``tuners.hosts.nni_nas_oneshot``) against NNI's ``RandomOneShot`` and ``DARTS`` in a
``NasExperiment``, each exported architecture scored by the table (section ``bench:nni_nas_oneshot``).
Without it:

The model space is the ground truth of the one-shot issue, mini201 (``nas_plugins.spaces.mini201``: 729
cells, every class trained stand-alone, ``bench/mini201.csv``), as an NNI ModelSpace
(``tuners.hosts.nni_nas_spaces.Mini201Space``); the evaluator reports an architecture's validation
accuracy from the table (``table_evaluator``), so a run measures the search, not the training. Every
contender runs ``--seeds`` times with a budget of the largest of ``--budgets`` models on NNI's in-process (sequential)
engine: ours through ``tuners.hosts.nni_nas.nas_strategy`` (weaknas, evolution, random), NNI's
``RegularizedEvolution`` and ``Random`` (and ``PolicyBasedRL`` when it can run: the table says why not).
At each budget, the incumbent (the model with the best validation accuracy among the first models the
engine trained; at the largest budget, the architecture ``export_top_models`` exports) is scored by its
test accuracy: the regret is the table's best test accuracy minus it (points). Wall time: the whole
``NasExperiment.run`` (start, every model, the strategy's own work). The two evolutions use the same
population (10) and tournament (3). The section goes between ``<!-- bench:nni_nas:start -->`` and
``<!-- bench:nni_nas:end -->`` of ``--out``; ``--raw`` keeps the per-run results, ``--from-raw`` renders them.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from bench.report import fmt, load_raw, machine, mean_se, now, save_raw, table, write_section  # noqa: E402

START, END = "<!-- bench:nni_nas:start -->", "<!-- bench:nni_nas:end -->"
REPO = Path(__file__).resolve().parent.parent
CONTENDERS = ["ours weaknas", "ours evolution", "ours random", "NNI RegularizedEvolution", "NNI Random",
              "NNI PolicyBasedRL"]


def _strategy(name: str, seed: int):
    from tuners.hosts.nni_nas import nas_strategy
    import nni.nas.strategy as nni_strategy
    if name == "ours weaknas":
        return nas_strategy("weaknas", seed=seed)
    if name == "ours evolution":
        return nas_strategy("evolution", seed=seed, population_size=10, sample_size=3)
    if name == "ours random":
        return nas_strategy("random", seed=seed)
    if name == "NNI RegularizedEvolution":
        return nni_strategy.RegularizedEvolution(population_size=10, sample_size=3, seed=seed)
    if name == "NNI Random":
        return nni_strategy.Random(seed=seed)
    if name == "NNI PolicyBasedRL":
        return nni_strategy.PolicyBasedRL()
    raise ValueError(name)


def run_one(name: str, seed: int, budgets: list[int], folder: str) -> dict:
    """One search; {"regret": {budget: points}, "valid", "test" (exported), "wall_s", "models"} or {"error"}."""
    from nni.nas.experiment import NasExperiment
    from nni.nas.experiment.config import NasExperimentConfig
    from nas_plugins.spaces import mini201
    from tuners.hosts.nni_nas_spaces import model_space, table_evaluator

    try:
        strategy = _strategy(name, seed)
    except Exception as exc:  # noqa: BLE001  (a strategy that cannot run here: recorded, with why)
        return {"error": f"{type(exc).__name__}: {exc}"}
    budget = max(budgets)
    config = NasExperimentConfig("sequential", "simplified")
    config.max_trial_number = budget
    config.execution_engine.max_model_count = budget
    config.experiment_working_directory = folder
    exp = NasExperiment(model_space("mini201"), table_evaluator(), strategy, config)
    start = time.perf_counter()
    try:
        exp.run(port=28590)
        wall = time.perf_counter() - start
        top = exp.export_top_models(top_k=1, formatter="dict")[0]
        models = [(m.metric, m.sample) for m in exp.strategy.list_models(sort=False)]   # in training order
    except Exception as exc:  # noqa: BLE001
        return {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        exp.stop()
    best_test = max(mini201.lookup(arch)["test_acc"] for arch in mini201.read_table())
    regret = {}
    for b in budgets:
        trained = [m for m in models[:b] if m[0] is not None]
        incumbent = max(trained, key=lambda m: m[0])[1]
        regret[str(b)] = best_test - mini201.lookup(incumbent)["test_acc"]
    row = mini201.lookup(top)
    best_valid = max(mini201.lookup(arch)["valid_acc"] for arch in mini201.read_table())
    return {"regret": regret, "valid": row["valid_acc"], "test": row["test_acc"], "wall_s": wall,
            "models": len(models), "found": abs(row["valid_acc"] - best_valid) < 1e-9}


# -- one-shot: our trainers on the user's ModelSpace against NNI's one-shot strategies ---------------------

OS_START, OS_END = "<!-- bench:nni_nas_oneshot:start -->", "<!-- bench:nni_nas_oneshot:end -->"
ONESHOT = ["ours SPOS", "ours DARTS", "NNI RandomOneShot", "NNI DARTS"]


def run_oneshot(name: str, seed: int, epochs: int, folder: str) -> dict:
    """One one-shot search on ``Mini201Cells``; {"regret", "valid", "test", "wall_s", "arch"} or {"error"}."""
    import torch
    from torch.utils.data import TensorDataset
    from nas_plugins.spaces import mini201
    from tuners.hosts.nni_nas_oneshot import oneshot_search
    from tuners.hosts.nni_nas_spaces import Mini201Cells

    xt, yt, xv, yv, _, _ = mini201.load_data()
    xv, yv = xv[:1000], yv[:1000]
    start = time.perf_counter()
    try:
        if name.startswith("ours"):
            train = [(xt[i:i + 128], yt[i:i + 128]) for i in range(0, len(yt), 128)]
            val = [(xv[i:i + 200], yv[i:i + 200]) for i in range(0, len(yv), 200)]
            arch = oneshot_search(Mini201Cells(), name.split()[1].lower(), train, val, steps=epochs * len(train),
                                  seed=seed, search_budget=30)
        else:
            import nni.nas.strategy as nni_strategy
            from nni.nas.evaluator.pytorch import Classification, DataLoader
            from nni.nas.experiment import NasExperiment
            torch.manual_seed(seed)
            evaluator = Classification(
                train_dataloaders=DataLoader(TensorDataset(xt, yt), batch_size=128, shuffle=True),
                val_dataloaders=DataLoader(TensorDataset(xv, yv), batch_size=200), max_epochs=epochs,
                num_classes=10, enable_progress_bar=False, enable_model_summary=False, logger=False,
                enable_checkpointing=False)
            strategy = getattr(nni_strategy, name.split()[1])()
            exp = NasExperiment(Mini201Cells(), evaluator, strategy)
            exp.config.experiment_working_directory = folder
            try:
                exp.run(port=28591)
                arch = exp.export_top_models(formatter="dict")[0]
            finally:
                exp.stop()
    except Exception as exc:  # noqa: BLE001  (recorded, with why)
        return {"error": f"{type(exc).__name__}: {exc}"}
    wall = time.perf_counter() - start
    best_test = max(mini201.lookup(a)["test_acc"] for a in mini201.read_table())
    row = mini201.lookup(arch)
    return {"regret": best_test - row["test_acc"], "valid": row["valid_acc"], "test": row["test_acc"],
            "wall_s": wall, "arch": row["arch"]}


def render_oneshot(raw: dict) -> str:
    lines = [OS_START, "## NNI NAS one-shot: our SPOS/DARTS on a user's ModelSpace vs NNI's one-shot strategies", "",
             f"`python -m bench.run_nni_nas --oneshot --seeds {raw['seeds']} --epochs {raw['epochs']}` "
             f"({raw['date']}; {raw['machine']}). The model space is `Mini201Cells` (the mini201 ground truth "
             f"written with a `LayerChoice` per edge, shared by the three cells); every method trains its supernet "
             f"{raw['epochs']} epochs on mini201's 798 training images (batches of 128) with the first 1000 "
             f"validation draws for the architecture: ours through `tuners.hosts.nni_nas_oneshot.oneshot_search` "
             f"(our trainers' defaults; SPOS then searches 30 paths with our evolution), NNI's `RandomOneShot` and "
             f"`DARTS` through `NasExperiment` with NNI's `Classification` evaluator (its defaults: Adam, lr 1e-3). "
             f"The exported architecture is scored by the table: test regret (points) against the best test "
             f"accuracy of the 729 cells; wall: the whole search, training included.", ""]
    rows, notes = [], []
    for name in ONESHOT:
        runs = raw["runs"].get(name, [])
        ok = [r for r in runs if "error" not in r]
        errors = [r["error"] for r in runs if "error" in r]
        if not ok:
            notes.append(f"* {name}: did not run: `{errors[0] if errors else 'not run'}`")
            continue
        archs = len({r["arch"] for r in ok})
        rows.append([name, str(len(ok)), fmt(*mean_se(r["regret"] for r in ok)),
                     fmt(*mean_se(r["test"] for r in ok)), str(archs), fmt(*mean_se(r["wall_s"] for r in ok), digits=1)])
    lines.append(table(["method", "runs", "test regret (points)", "test acc (%)", "distinct archs", "wall s / search"],
                       rows))
    if notes:
        lines += ["", *notes]
    lines += ["", "Mean ± standard error over the seeds."]
    return "\n".join(lines) + "\n" + OS_END


def render(raw: dict) -> str:
    lines = [START, "## NNI NAS: our strategies and NNI's as NasExperiment strategies (mini201 ModelSpace)", "",
             f"`python -m bench.run_nni_nas --seeds {raw['seeds']} --budgets {','.join(map(str, raw['budgets']))}` ({raw['date']}; "
             f"{raw['machine']}). Each run is a real `NasExperiment` on NNI's in-process engine over "
             f"`Mini201Space` (729 cells), scored from the mini201 table (each model reports its validation "
             f"accuracy; at each budget, the incumbent, the best validation accuracy among the first models "
             f"trained, is scored by its test regret in points against the table's best test accuracy; at the "
             f"largest budget the incumbent is what `export_top_models` exports). Ours start from the same "
             f"seeded random draws, hence their equal first column. Wall: "
             f"the whole `NasExperiment.run` per search of {max(raw['budgets'])} models. The best validation "
             f"class holds 67 of the 729 cells and is not the best on test: a perfect search has regret 0.11.", ""]
    budgets = [str(b) for b in raw["budgets"]]
    rows, notes = [], []
    for name in CONTENDERS:
        runs = raw["runs"].get(name, [])
        errors = [r["error"] for r in runs if "error" in r]
        ok = [r for r in runs if "error" not in r]
        if not ok:
            notes.append(f"* {name}: did not run: `{errors[0] if errors else 'not run'}`")
            continue
        regrets = [fmt(*mean_se(r["regret"][b] for r in ok)) for b in budgets]
        hit = sum(bool(r["found"]) for r in ok)
        rows.append([name, str(len(ok)), *regrets, f"{hit}/{len(ok)}", fmt(*mean_se(r["wall_s"] for r in ok), digits=1)])
    lines.append(table(["strategy", "runs", *[f"test regret @{b}" for b in budgets], f"best valid class found @{budgets[-1]}",
                        "wall s / search"], rows))
    if notes:
        lines += ["", *notes]
    lines += ["", "Mean ± standard error over the seeds."]
    return "\n".join(lines) + "\n" + END


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budgets", default="5,10,20")
    parser.add_argument("--only", default="", help="comma-separated contenders (default: all)")
    parser.add_argument("--oneshot", action="store_true", help="the one-shot comparison instead")
    parser.add_argument("--epochs", type=int, default=10, help="one-shot: supernet training epochs")
    parser.add_argument("--raw", type=Path)
    parser.add_argument("--from-raw", type=Path)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    oneshot = args.oneshot or bool(args.from_raw and "epochs" in load_raw(args.from_raw))
    if args.from_raw:
        raw = load_raw(args.from_raw)
    else:
        from tuners.hosts import nni_nas_compat
        nni_nas_compat.apply()
        if oneshot:
            names = [n for n in ONESHOT if not args.only or n in args.only.split(",")]
            raw = {"seeds": args.seeds, "epochs": args.epochs}
            run = lambda name, seed, folder: run_oneshot(name, seed, args.epochs, folder)   # noqa: E731
        else:
            names = [n for n in CONTENDERS if not args.only or n in args.only.split(",")]
            raw = {"seeds": args.seeds, "budgets": sorted(int(b) for b in args.budgets.split(","))}
            run = lambda name, seed, folder: run_one(name, seed, raw["budgets"], folder)     # noqa: E731
        raw.update({"date": now(), "machine": machine(), "runs": {}})
        with tempfile.TemporaryDirectory() as folder:
            for name in names:
                runs = raw["runs"].setdefault(name, [])
                for seed in range(args.seeds):
                    result = run(name, seed, folder)
                    runs.append(result)
                    print(name, seed, result, flush=True)
                    if "error" in result:
                        break
        if args.raw:
            save_raw(args.raw, raw)
    section = render_oneshot(raw) if oneshot else render(raw)
    print(section)
    write_section(args.out, section, *((OS_START, OS_END) if oneshot else (START, END)))


if __name__ == "__main__":
    main(sys.argv[1:])
