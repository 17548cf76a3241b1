"""Benchmark harness: replays tabular benchmarks (LCBench, NAS-Bench-201) as NNI trials.

Every tuner, ours or NNI's built-in ones or Optuna's TPE (through :mod:`bench.anchors`), is driven
through the calls NNI's dispatcher makes (``update_search_space``, ``generate_multiple_parameters``,
``receive_trial_result``, ``trial_end``; ``assess_trial``/``trial_end`` for assessors) on a simulated
clock whose costs come from the benchmark tables.

* :mod:`bench.problems`: the tables as problems (search space, evaluation, cost, regret).
* :mod:`bench.harness`: ``run(...) -> Trace`` with 1..n simulated workers, aggregation, plots, overhead.
* :mod:`bench.anchors`: the strategies compared (ours from the registry, NNI's, Optuna's TPE).
* :mod:`bench.run_hpo`: the command line (``python -m bench.run_hpo``) writing ``docs/benchmarks.md``.

The tables are read from ``$NASP_BENCHMARKS`` (default ``<repo>/../shared/benchmarks``).
"""
import os as _os
from pathlib import Path as _Path

#: The tables' folder when ``$NASP_BENCHMARKS`` is unset: ``<repo>/../shared/benchmarks``.
DEFAULT_BENCHMARKS = _Path(__file__).resolve().parent.parent.parent / "shared" / "benchmarks"
_os.environ.setdefault("NASP_BENCHMARKS", str(DEFAULT_BENCHMARKS))
