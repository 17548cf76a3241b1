"""HEBO behind a JSON-lines pipe; runs inside the HEBO environment (``bench/hebo_env.sh``).

Started by :class:`bench.hebo_anchor.HEBOTuner` as ``<hebo env>/bin/python -I hebo_worker.py``;
uses the standard library and HEBO only (never the project's packages: they live in another
environment). One JSON object per line on stdin, one answer per line on stdout::

    {"op": "init", "space": <NNI search space>, "seed": 0, "mode": "max"}  -> {"ok": true, "dims": 7}
        (optional "rand_sample": initial quasi-random points, HEBO's default 1 + dims; an init
        again starts afresh)
    {"op": "suggest", "n": 1}                        -> {"params": [{...NNI-typed values...}]}
    {"op": "observe", "params": {...}, "value": 0.9} -> {"ok": true, "observed": 12}
    {"op": "quit"}                                   -> {"ok": true}, then exits

Any failure answers ``{"error": "..."}`` and the worker keeps serving. HEBO minimises, so with
``"mode": "max"`` values are negated. Search space (NNI -> HEBO's DesignSpace):

* ``choice``: ``cat`` over the option indices; proposals give back the original option values;
* ``randint [a, b)``: ``int [a, b-1]``;
* ``uniform``: ``num``; ``loguniform``: ``pow`` (log10 scale);
* ``quniform`` / ``qloguniform`` ``[low, high, q]``: with q = 1 and integer bounds, ``int`` /
  ``pow_int`` (an integer, on a log scale for the latter), values are ints; otherwise ``num`` /
  ``pow`` quantised by NNI's rule ``clip(round(x / q) * q, low, high)``;
* a parameter with a single possible value is held constant outside HEBO.

Normal-distributed types (unbounded) and nested choices are refused with an error.
"""
from __future__ import annotations

import json
import math
import os
import random
import sys
import traceback
from typing import Any

_PROTO = None   # the real stdout (a duplicate of fd 1); fd 1 itself goes to stderr


def _isolate_stdout() -> None:
    """Keep fd 1 for answers only: anything HEBO, pymoo or a C library prints goes to stderr."""
    global _PROTO
    _PROTO = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr


def _answer(obj: dict) -> None:
    _PROTO.write(json.dumps(obj, allow_nan=False) + "\n")
    _PROTO.flush()


def _quantize(x: float, q: float, low: float, high: float) -> float:
    """NNI's rule for q-types."""
    return float(min(max(round(x / q) * q, low), high))


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and float(x).is_integer()


class Axis:
    """One NNI parameter: its HEBO spec (None when constant) and the conversions both ways."""

    def __init__(self, name: str, spec: Any):
        if not isinstance(spec, dict) or "_type" not in spec or "_value" not in spec:
            raise ValueError(f"parameter {name!r}: expected {{'_type': ..., '_value': [...]}}, got {spec!r}")
        self.name, self.type, v = name, spec["_type"], spec["_value"]
        if not isinstance(v, list) or not v:
            raise ValueError(f"parameter {name!r} ({self.type}): _value must be a non-empty list, got {v!r}")
        self.options: list | None = None
        self.const: Any = None
        self.q: float | None = None
        self.integer = False
        self.low = self.high = 0.0
        t = self.type
        if t == "choice":
            if any(isinstance(o, (dict, list)) for o in v):
                raise ValueError(f"parameter {name!r}: nested choices are not supported by the HEBO anchor")
            self.options = list(v)
            self.hebo = None if len(v) == 1 else {"name": name, "type": "cat",
                                                  "categories": [str(i) for i in range(len(v))]}
            if len(v) == 1:
                self.const = v[0]
            return
        if t not in ("randint", "uniform", "loguniform", "quniform", "qloguniform"):
            raise ValueError(f"parameter {name!r}: type {t!r} is not supported by the HEBO anchor "
                             "(supported: choice, randint, uniform, quniform, loguniform, qloguniform)")
        need = 3 if t.startswith("q") else 2
        if len(v) < need or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v[:need]):
            raise ValueError(f"parameter {name!r} ({t}): _value needs {need} numbers, got {v!r}")
        low, high = float(v[0]), float(v[1])
        if t == "randint":
            if not (_is_int(low) and _is_int(high)) or high <= low:
                raise ValueError(f"parameter {name!r} (randint): needs integers low < high, got {v!r}")
            self.integer, self.low, self.high = True, low, high - 1
            self.hebo = {"name": name, "type": "int", "lb": int(low), "ub": int(high) - 1}
        else:
            if not (math.isfinite(low) and math.isfinite(high)) or high < low:
                raise ValueError(f"parameter {name!r} ({t}): needs finite low <= high, got {v!r}")
            log = "log" in t
            if log and low <= 0:
                raise ValueError(f"parameter {name!r} ({t}): a log scale needs low > 0, got {v!r}")
            self.low, self.high = low, high
            if t.startswith("q"):
                q = float(v[2])
                if not (q > 0 and math.isfinite(q)):
                    raise ValueError(f"parameter {name!r} ({t}): q must be positive, got {v!r}")
                self.q = q
                self.integer = q == 1 and _is_int(low) and _is_int(high)
            if self.integer:
                self.hebo = {"name": name, "type": "pow_int" if log else "int", "lb": int(low), "ub": int(high)}
            else:
                self.hebo = {"name": name, "type": "pow" if log else "num", "lb": low, "ub": high}
        if self.high == self.low:
            self.const, self.hebo = self.to_nni(self.low), None

    def to_nni(self, x: Any) -> Any:
        """A HEBO value (numpy scalar) -> the NNI-typed value."""
        if self.options is not None:
            return self.options[int(x)]
        x = min(max(float(x), self.low), self.high)
        if self.q is not None and not self.integer:
            x = _quantize(x, self.q, self.low, self.high)
        return int(round(x)) if self.integer else float(x)

    def to_hebo(self, value: Any) -> Any:
        """An NNI value (as proposed) -> what HEBO's DataFrame holds for it."""
        if self.options is not None:
            for exact in (True, False):   # same type first (so 1 finds 1, not True), then equal
                for i, o in enumerate(self.options):
                    if o == value and (type(o) is type(value) or not exact):
                        return str(i)
            raise ValueError(f"parameter {self.name!r}: {value!r} is not one of the choices {self.options!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"parameter {self.name!r}: expected a number, got {value!r}")
        x = float(value)
        if not self.low - 1e-9 * max(1.0, abs(self.low)) <= x <= self.high + 1e-9 * max(1.0, abs(self.high)):
            raise ValueError(f"parameter {self.name!r}: {value!r} is outside [{self.low}, {self.high}]")
        return int(round(x)) if self.integer else min(max(x, self.low), self.high)


class Worker:
    def __init__(self) -> None:
        self.opt = None
        self.axes: list[Axis] = []
        self.sign = 1.0

    def init(self, space: Any, seed: Any = 0, mode: str = "max", rand_sample: Any = None) -> dict:
        import numpy as np
        import torch
        from hebo.design_space.design_space import DesignSpace
        from hebo.optimizers.hebo import HEBO
        self.opt = None   # a failed init leaves no optimiser behind
        if not isinstance(space, dict) or not space:
            raise ValueError(f"space: expected a non-empty NNI search space (a dict), got {space!r}")
        if not _is_int(seed):
            raise ValueError(f"seed: expected an integer, got {seed!r}")
        if mode not in ("max", "min"):
            raise ValueError(f"mode: expected 'max' or 'min', got {mode!r}")
        if rand_sample is not None and (not _is_int(rand_sample) or int(rand_sample) < 2):
            raise ValueError(f"rand_sample: expected an integer >= 2 or null, got {rand_sample!r}")
        axes = [Axis(name, spec) for name, spec in space.items()]
        specs = [a.hebo for a in axes if a.hebo is not None]
        if not specs:
            raise ValueError("space: every parameter has a single value; nothing to optimise")
        seed = int(seed)
        random.seed(seed)
        np.random.seed(seed % 2 ** 32)
        torch.manual_seed(seed)
        self.axes, self.sign = axes, (-1.0 if mode == "max" else 1.0)
        self.opt = HEBO(DesignSpace().parse(specs), scramble_seed=seed,
                        rand_sample=None if rand_sample is None else int(rand_sample))
        return {"ok": True, "dims": len(specs)}

    def _need_init(self) -> None:
        if self.opt is None:
            raise RuntimeError("no search space yet: send {'op': 'init', ...} first")

    def suggest(self, n: Any = 1) -> dict:
        self._need_init()
        if not _is_int(n) or int(n) < 1:
            raise ValueError(f"n: expected a positive integer, got {n!r}")
        rec = self.opt.suggest(n_suggestions=int(n))
        out = []
        for _, row in rec.iterrows():
            out.append({a.name: a.const if a.hebo is None else a.to_nni(row[a.name]) for a in self.axes})
        return {"params": out}

    def observe(self, params: Any, value: Any) -> dict:
        import numpy as np
        import pandas as pd
        self._need_init()
        if not isinstance(params, dict):
            raise ValueError(f"params: expected a dict, got {params!r}")
        missing = [a.name for a in self.axes if a.name not in params]
        extra = sorted(set(params) - {a.name for a in self.axes})
        if missing or extra:
            raise ValueError(f"params: missing {missing}, unknown {extra}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"value: expected a finite number, got {value!r}")
        for a in self.axes:
            if a.hebo is None and params[a.name] != a.const:
                raise ValueError(f"parameter {a.name!r}: {params[a.name]!r} is not its only value {a.const!r}")
        row = {a.name: a.to_hebo(params[a.name]) for a in self.axes if a.hebo is not None}
        X = pd.DataFrame([row], columns=self.opt.space.para_names)
        self.opt.observe(X, np.array([[self.sign * float(value)]]))
        return {"ok": True, "observed": int(self.opt.y.shape[0])}


def main() -> int:
    _isolate_stdout()
    worker = Worker()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            if not isinstance(req, dict):
                raise ValueError(f"expected a JSON object, got {line.strip()[:200]!r}")
            op = req.get("op")
            if op == "quit":
                _answer({"ok": True})
                return 0
            if op == "init":
                ans = worker.init(req.get("space"), req.get("seed", 0), req.get("mode", "max"),
                                  req.get("rand_sample"))
            elif op == "suggest":
                ans = worker.suggest(req.get("n", 1))
            elif op == "observe":
                ans = worker.observe(req.get("params"), req.get("value"))
            else:
                raise ValueError(f"unknown op {op!r} (init, suggest, observe, quit)")
        except Exception as exc:   # answered, not fatal: the tuner decides
            traceback.print_exc(file=sys.stderr)
            ans = {"error": f"{type(exc).__name__}: {exc}"}
        _answer(ans)
    return 0


if __name__ == "__main__":
    sys.exit(main())
