#!/usr/bin/env bash
# Creates the virtual environment the HEBO anchor runs in (bench/hebo_anchor.py starts
# bench/hebo_worker.py with its python). HEBO 0.3.6 pins numpy < 1.25 (and so scipy 1.12), which
# cannot live in the project's .venv (numpy 2), hence an environment of its own.
#
#   bash bench/hebo_env.sh [ENV_DIR]        # default: .venv-hebo at the repository root
#
# Python 3.11 (the local torch wheel is cp311). torch 2.13.0 is installed first, from the local
# CPU wheel; a torch that is not a CPU build (it would pull GBs of nvidia wheels) is refused.
# HEBO itself is installed with --no-deps, followed by what HEBO.suggest/observe import: its
# optional CatBoost model (catboost + plotly + graphviz, ~200 MB) and its GPy models (GPy,
# paramz) are left out; HEBO's default surrogate is its own GPyTorch GP. Idempotent: a stamp file
# records the pins; a second run with the same pins does nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENV_DIR="${1:-$ROOT/.venv-hebo}"
STAMP="$ENV_DIR/.installed"

TORCH="torch==2.13.0"
HEBO="HEBO==0.3.6"
# What HEBO 0.3.6 imports on the suggest/observe path, at the versions a full resolve of
# `HEBO==0.3.6 torch==2.13.0` picks on Python 3.11 (numpy < 1.25 is HEBO's pin).
DEPS=(numpy==1.24.4 scipy==1.12.0 pandas==2.3.3 scikit-learn==1.9.1 gpytorch==1.15.2
      linear_operator==0.6.1 matplotlib networkx disjoint-set)
# pymoo 0.6.0 (HEBO's pin) has no cp311 wheel: its sdist is built here, against the numpy above
# and with Cython, so that its compiled modules (non-dominated sorting, used by HEBO's NSGA-II
# acquisition search at every proposal) are built; without them pymoo falls back to Python.
PYMOO="pymoo==0.6.0"
CYTHON="Cython==3.3.1"
# Left out on purpose (pip check reports them; nothing else may be missing).
OMITTED_RE='^hebo 0\.3\.6 requires (catboost|gpy), which is not installed\.$'

WANT="$TORCH $HEBO ${DEPS[*]} $PYMOO (compiled with $CYTHON)"
if [[ -f "$STAMP" && "$(head -n 1 "$STAMP")" == "$WANT" && -x "$ENV_DIR/bin/python" ]]; then
    echo "hebo_env: $ENV_DIR is up to date ($HEBO, $TORCH); nothing to do"
    exit 0
fi

pick_python() {
    local c
    for c in "${HEBO_ENV_PYTHON:-}" python3.11 python3; do
        [[ -n "$c" ]] && command -v "$c" >/dev/null 2>&1 || continue
        if "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            echo "$c"; return 0
        fi
    done
    echo "hebo_env: needs Python 3.11 (python3.11 or a python3 of version 3.11; or set HEBO_ENV_PYTHON)" >&2
    return 1
}

t0=$SECONDS
PY="$(pick_python)"
if [[ ! -x "$ENV_DIR/bin/python" ]]; then
    echo "hebo_env: creating $ENV_DIR with $PY ($("$PY" --version 2>&1))"
    "$PY" -m venv "$ENV_DIR"
else
    echo "hebo_env: reusing $ENV_DIR (pins changed or the last install did not finish)"
fi
rm -f "$STAMP"
PIP=("$ENV_DIR/bin/python" -m pip)
# pip, without the one warning per package this machine's pip configuration causes (an
# --extra-index-url folder that lacks that package).
pip_quiet() { "${PIP[@]}" "$@" 2> >(grep -v "^WARNING: Location 'file:.*' is ignored" >&2); }
pip_quiet install -q --upgrade "pip>=23"

echo "hebo_env: installing $TORCH (CPU wheel)"
pip_quiet install -q "$TORCH"
if ! "$ENV_DIR/bin/python" -W ignore -c 'import sys, torch; sys.exit(torch.version.cuda is not None)'; then
    echo "hebo_env: the torch installed is a CUDA build; this environment wants the CPU wheel of $TORCH" >&2
    exit 1
fi

echo "hebo_env: installing ${DEPS[*]}"
pip_quiet install -q "$TORCH" "${DEPS[@]}" "$CYTHON" setuptools wheel
PYMOO_COMPILED='import sys; from pymoo.util.function_loader import is_compiled; sys.exit(not is_compiled())'
if ! "$ENV_DIR/bin/python" -c "$PYMOO_COMPILED" 2>/dev/null; then
    "${PIP[@]}" uninstall -q -y pymoo >/dev/null 2>&1 || true   # absent, or built without its modules
fi
echo "hebo_env: building $PYMOO with its compiled modules (a minute or more)"
pip_quiet install -q --no-cache-dir --no-build-isolation "$PYMOO" "${DEPS[@]}"
if ! "$ENV_DIR/bin/python" -c "$PYMOO_COMPILED"; then
    echo "hebo_env: warning: pymoo's compiled modules did not build; HEBO runs, with slower proposals" >&2
fi
echo "hebo_env: installing $HEBO with --no-deps (no catboost, no GPy)"
pip_quiet install -q --no-deps "$HEBO"

if "${PIP[@]}" list 2>/dev/null | grep -qi '^nvidia-'; then
    echo "hebo_env: nvidia/CUDA packages were pulled in; refusing this environment:" >&2
    "${PIP[@]}" list 2>/dev/null | grep -i '^nvidia-' >&2
    exit 1
fi
problems="$("${PIP[@]}" check 2>&1 | grep -viE "$OMITTED_RE|^No broken requirements" || true)"
if [[ -n "$problems" ]]; then
    echo "hebo_env: pip check reports broken requirements:" >&2
    echo "$problems" >&2
    exit 1
fi
# The import the worker needs, under the conditions it runs in.
"$ENV_DIR/bin/python" -I -c 'from hebo.optimizers.hebo import HEBO; from hebo.design_space.design_space import DesignSpace'

{
    echo "$WANT"
    "${PIP[@]}" freeze
} > "$STAMP"
echo "hebo_env: done in $((SECONDS - t0)) s; $(du -sh "$ENV_DIR" | cut -f1) in $ENV_DIR"
echo "hebo_env: worker python: $ENV_DIR/bin/python (NASP_HEBO_PYTHON overrides it for bench/hebo_anchor.py)"
