"""The docstring examples (``>>>`` lines) of every module of nas_plugins, tuners and trial_templates run
as doctests, with ``ELLIPSIS | NORMALIZE_WHITESPACE``.

Modules are found with :func:`pkgutil.walk_packages`, so a new module is covered without touching this
file. An example should define (import) every name it uses; an example that truly cannot run here (it
needs the benchmark tables, a download, minutes of compute) is written as a plain ``Example::`` block
without ``>>>``.
"""
from __future__ import annotations

import ast
import doctest
import importlib
import importlib.util
import pkgutil

import pytest

PACKAGES = ("nas_plugins", "tuners", "trial_templates")
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
# Modules of an optional extra (setup.py extras_require) -> the package it needs: skipped without it.
OPTIONAL = {"tuners.hosts.ray_host": "ray", "tuners.hosts.nni_nas": "pytorch_lightning",
            "tuners.hosts.nni_nas_spaces": "pytorch_lightning", "tuners.hosts.nni_nas_compat": "pytorch_lightning",
            "tuners.hosts.nni_nas_trial": "pytorch_lightning", "tuners.hosts.nni_nas_oneshot": "pytorch_lightning"}

# Calls that start a trial (trial_templates.report.start) or run a script's body (main).
_SCRIPT_CALLS = {"start", "main"}


def _ignore(name: str) -> None:
    """walk_packages' onerror: a package that fails to import fails its own test below instead."""


def module_names() -> list[str]:
    names = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        names.append(package_name)
        names.extend(info.name for info in pkgutil.walk_packages(package.__path__, f"{package_name}.",
                                                                 onerror=_ignore))
    return sorted(set(names))


def _is_main_guard(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test).replace("'", '"') == '__name__ == "__main__"'


def runs_at_import(name: str) -> bool:
    """True for a script that does its work when imported: a module whose top level (outside functions,
    classes and ``if __name__ == "__main__":``) calls ``start(...)`` (a trial script starting its trial
    through :func:`trial_templates.report.start`) or ``main(...)``. Importing one would parse sys.argv,
    train and report to a host, so its docstrings are not collected. Trial scripts that keep that work
    behind the ``__main__`` guard (like ``trial_templates/*_trial.py`` today) import safely and are tested."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return False
    with open(spec.origin, encoding="utf-8") as f:
        tree = ast.parse(f.read(), spec.origin)
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or _is_main_guard(stmt):
            continue
        for node in ast.walk(stmt):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if called in _SCRIPT_CALLS:
                    return True
    return False


MODULES = module_names()


@pytest.fixture(scope="session", autouse=True)
def nni_ready(tmp_path_factory):
    """Overrides the conftest fixture of the same name for this file: doctests start no NNI experiment,
    so they skip registering the algorithms with NNI (importing nni alone takes seconds). Checkpoints
    that an example may write still go to a pytest temporary folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NASP_CHECKPOINT_ROOT", str(tmp_path_factory.mktemp("checkpoints")))
        yield


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    if runs_at_import(name):
        pytest.skip(f"{name} is a script that runs at import (a top-level start() or main() call)")
    if name in OPTIONAL:
        # Looked up, not imported: pytorch_lightning imports only after tuners.hosts.nni_nas_compat.apply().
        if importlib.util.find_spec(OPTIONAL[name]) is None:
            pytest.skip(f"{name} needs the optional {OPTIONAL[name]!r} extra")
    module = importlib.import_module(name)
    # What doctest.testmod(module, optionflags=FLAGS) does, with the failure report kept for the assertion.
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report: list[str] = []
    for test in doctest.DocTestFinder().find(module, name):
        runner.run(test, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}:\n" + "".join(report)
