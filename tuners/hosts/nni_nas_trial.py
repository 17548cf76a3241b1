"""Start an NNI NAS trial after the work-arounds of ``nni_nas_compat`` (see its docstring).

NNI runs ``<python> -m nni.nas.execution.training_service trial``; with ``<python>`` set to
``python -m tuners.hosts.nni_nas_trial`` the arguments that reach this module are
``-m nni.nas.execution.training_service trial``: it applies the work-arounds, then runs that module as
``python -m`` would.
"""
from __future__ import annotations

import runpy
import sys


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[0] != "-m":
        raise SystemExit(f"usage: python -m tuners.hosts.nni_nas_trial -m MODULE [ARGS...]; got {argv}")
    from tuners.hosts import nni_nas_compat
    nni_nas_compat.apply()
    module, args = argv[1], argv[2:]
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
