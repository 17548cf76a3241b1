"""Host-agnostic search-space model.

Every strategy works on a :class:`Space`; host adapters convert to and from it.
It covers every NNI ``_type`` (including nested ``choice`` of ``{"_name": ...}``
dicts) and the AutoGluon space types (converted in ``tuners.hosts.autogluon``).

Example::

    >>> import numpy as np
    >>> from nas_plugins.space import Space
    >>> space = Space.from_nni({"lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]},
    ...                         "layers": {"_type": "randint", "_value": [1, 4]}})
    >>> space["layers"]                          # NNI's randint upper bound is exclusive
    Integer(name='layers', low=1, high=3)
    >>> cfg = space.sample(np.random.default_rng(0))
    >>> cfg
    {'lr': 0.0081..., 'layers': 2}
    >>> space.contains(cfg), space.contains({"lr": 0.5, "layers": 2})
    (True, False)

A configuration is a plain JSON dict, shaped exactly as NNI hands it to a trial:
a nested choice yields ``{"_name": <option>, <sub-parameter>: value, ...}``::

    >>> nested = Space.from_nni({"op": {"_type": "choice", "_value": [
    ...     {"_name": "conv", "k": {"_type": "choice", "_value": [3, 5]}}, {"_name": "pool"}]}})
    >>> nested.size, nested.contains({"op": {"_name": "conv", "k": 5}})
    (3, True)
"""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence, Union

import numpy as np

__all__ = ["SearchSpaceError", "Float", "Integer", "Normal", "Choice", "Branch", "Param", "Space",
           "config_key", "quantize", "values_equal", "NNI_TYPES"]

NNI_TYPES = ("choice", "randint", "uniform", "quniform", "loguniform", "qloguniform",
             "normal", "qnormal", "lognormal", "qlognormal")


class SearchSpaceError(ValueError):
    """A malformed search space or configuration. The message names the parameter."""

    @classmethod
    def for_param(cls, path: str, message: str) -> "SearchSpaceError":
        """``search space parameter '<path>': <message>``."""
        return cls(f"search space parameter '{path}': {message}")


_fail = SearchSpaceError.for_param


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_json(path: str, value: Any) -> None:
    """Reject values that cannot travel as strict JSON (NaN, inf, sets, objects...)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise _fail(path, f"value {value!r} is not JSON-serialisable ({exc})") from None


def quantize(x: float, q: float | None, low: float | None = None, high: float | None = None) -> float:
    """NNI's rule for q-types: ``clip(round(x / q) * q, low, high)`` (no rounding without ``q``, no
    clipping without bounds); always a float.

    >>> quantize(0.4, 0.25, 0.0, 1.0), quantize(1.7, None, 0.0, 1.0), quantize(7, 2)
    (0.5, 1.0, 8.0)
    """
    if q is not None:
        x = round(x / q) * q
    if low is not None:
        x = max(x, low)
    if high is not None:
        x = min(x, high)
    return float(x)


def values_equal(a: Any, b: Any) -> bool:
    """Parameter-value equality as the space sees it: numbers within 1e-9 (relative) are equal,
    ``1 == 1.0`` but ``True != 1``; anything else by ``==``.

    >>> values_equal(1, 1.0), values_equal(True, 1), values_equal(0.1 + 0.2, 0.3), values_equal("a", "a")
    (True, False, True, True)
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if _is_number(a) and _is_number(b):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b



@dataclass(frozen=True)
class Float:
    """A real number in ``[low, high]``; ``log`` samples uniformly in log space; ``q`` quantizes.

    NNI: uniform / quniform / loguniform / qloguniform.  AutoGluon: ``Real(low, high, log=...)``.
    """
    name: str
    low: float
    high: float
    log: bool = False
    q: float | None = None

    @property
    def nni_type(self) -> str:
        return ("q" if self.q is not None else "") + ("loguniform" if self.log else "uniform")

    def sample(self, rng: np.random.Generator) -> float:
        if self.log:
            x = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            x = rng.uniform(self.low, self.high)
        return quantize(x, self.q, self.low, self.high)

    def grid(self, points: int | None) -> list[float]:
        """``points`` values (log-spaced for log types); ``None``: every value of a q-type."""
        if self.q is not None and (points is None or self.size <= points):
            return self.values()
        if points is None:
            raise ValueError(f"'{self.name}' is continuous: it has no finite list of values")
        if self.log:
            raw = np.exp(np.linspace(math.log(self.low), math.log(self.high), points))
            raw[0], raw[-1] = self.low, (self.high if points > 1 else self.low)
        else:
            raw = np.linspace(self.low, self.high, points)
        return _dedupe(quantize(float(x), self.q, self.low, self.high) for x in raw)

    @property
    def size(self) -> float:
        if self.q is None:
            return math.inf
        return len(_q_values(self.low, self.high, self.q))

    def values(self) -> list[float]:
        """Every value a q-type can take (finite only when ``q`` is set)."""
        if self.q is None:
            raise ValueError(f"'{self.name}' is continuous")
        return list(_q_values(self.low, self.high, self.q))

    def contains(self, value: Any) -> bool:
        return _is_number(value) and math.isfinite(value) and \
            self.low - 1e-12 * abs(self.low) <= value <= self.high + 1e-12 * abs(self.high)

    def to_nni(self) -> dict:
        value = [self.low, self.high] + ([self.q] if self.q is not None else [])
        return {"_type": self.nni_type, "_value": value}


@dataclass(frozen=True)
class Integer:
    """An integer in ``[low, high]``, both ends included.

    NNI: ``randint`` whose upper bound is exclusive, so ``randint [1, 4]`` is ``Integer(1, 3)``.
    AutoGluon: ``Int(low, high)`` (inclusive).
    """
    name: str
    low: int
    high: int

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high + 1))

    def grid(self, points: int | None) -> list[int]:
        return self.values()

    @property
    def size(self) -> int:
        return self.high - self.low + 1

    def values(self) -> list[int]:
        return list(range(self.low, self.high + 1))

    def contains(self, value: Any) -> bool:
        return _is_number(value) and float(value).is_integer() and self.low <= value <= self.high

    def to_nni(self) -> dict:
        return {"_type": "randint", "_value": [self.low, self.high + 1]}


@dataclass(frozen=True)
class Normal:
    """A normal (or log-normal: ``exp`` of a normal) variable, optionally quantized.

    NNI: normal / qnormal / lognormal / qlognormal. No AutoGluon equivalent.
    """
    name: str
    mu: float
    sigma: float
    log: bool = False
    q: float | None = None

    @property
    def nni_type(self) -> str:
        return ("q" if self.q is not None else "") + ("lognormal" if self.log else "normal")

    def sample(self, rng: np.random.Generator) -> float:
        x = rng.normal(self.mu, self.sigma)
        return quantize(math.exp(x) if self.log else x, self.q)

    def grid(self, points: int | None) -> list[float]:
        # Evenly spaced quantiles of the distribution (never its infinite tails).
        if points is None:
            raise ValueError(f"'{self.name}' is unbounded: it has no finite list of values")
        from statistics import NormalDist
        dist = NormalDist(self.mu, self.sigma)
        raw = [dist.inv_cdf((i + 1) / (points + 1)) for i in range(points)]
        return _dedupe(quantize(math.exp(x) if self.log else x, self.q) for x in raw)

    size = math.inf

    def contains(self, value: Any) -> bool:
        return _is_number(value) and math.isfinite(value) and (not self.log or value >= 0)

    def to_nni(self) -> dict:
        value = [self.mu, self.sigma] + ([self.q] if self.q is not None else [])
        return {"_type": self.nni_type, "_value": value}


@dataclass(frozen=True)
class Branch:
    """One option of a nested choice: a label and the sub-space active when it is chosen."""
    name: str
    space: "Space"


@dataclass(frozen=True)
class Choice:
    """One of ``options``: JSON values, or :class:`Branch` es for a nested (conditional) choice.

    NNI: ``choice``.  AutoGluon: ``Categorical`` (and ``Bool``, as ``Choice([False, True])``).
    """
    name: str
    options: tuple

    @property
    def nested(self) -> bool:
        return isinstance(self.options[0], Branch)

    def option_values(self) -> list:
        """The values a trial sees for each option (a nested option is a ``{"_name": ...}`` stub)."""
        return [{"_name": o.name} if isinstance(o, Branch) else o for o in self.options]

    def index_of(self, value: Any) -> int:
        """Index of the option ``value`` selects, or -1."""
        for i, option in enumerate(self.options):
            if isinstance(option, Branch):
                if isinstance(value, Mapping) and value.get("_name") == option.name:
                    return i
            elif values_equal(option, value):
                return i
        return -1

    def sample(self, rng: np.random.Generator) -> Any:
        return self.expand(int(rng.integers(len(self.options))), rng)

    def expand(self, index: int, rng: np.random.Generator | None = None) -> Any:
        """The value for option ``index``; a branch's sub-space is sampled with ``rng``."""
        option = self.options[index]
        if isinstance(option, Branch):
            return {"_name": option.name, **(option.space.sample(rng) if rng is not None else {})}
        return option

    def grid(self, points: int | None) -> list:
        return self.option_values()

    @property
    def size(self) -> float:
        return sum(o.space.size if isinstance(o, Branch) else 1 for o in self.options)

    def contains(self, value: Any) -> bool:
        i = self.index_of(value)
        if i < 0:
            return False
        option = self.options[i]
        if isinstance(option, Branch):
            sub = {k: v for k, v in value.items() if k != "_name"}
            return option.space.contains(sub)
        return True

    def to_nni(self) -> dict:
        value = [{"_name": o.name, **o.space.to_nni()} if isinstance(o, Branch) else o for o in self.options]
        return {"_type": "choice", "_value": value}


Param = Union[Float, Integer, Normal, Choice]


def _dedupe(values) -> list:
    """Drop repeats from a non-decreasing sequence (linear: compares each value with the last kept)."""
    out: list = []
    for v in values:
        if not out or not values_equal(v, out[-1]):
            out.append(v)
    return out


@functools.lru_cache(maxsize=128)
def _q_values(low: float, high: float, q: float) -> tuple:
    """Every value of a q-type, cached: grids and sizes ask for it once per configuration."""
    k_lo, k_hi = round(low / q), round(high / q)
    return tuple(_dedupe(quantize(k * q, None, low, high) for k in range(k_lo, k_hi + 1)))


@dataclass(frozen=True)
class Space:
    """An ordered collection of parameters. Build it with :meth:`from_nni` or directly."""
    params: tuple[Param, ...]

    def __post_init__(self):
        names = [p.name for p in self.params]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise _fail(dupes[0], "defined twice")

    # -- access -------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Param]:
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    # -- sampling and membership ---------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> dict:
        """One configuration drawn from the space's prior (log types uniform in log space)."""
        return {p.name: p.sample(rng) for p in self.params}

    def contains(self, config: Mapping) -> bool:
        return self.check(config, raise_error=False)

    def check(self, config: Mapping, raise_error: bool = True, _prefix: str = "") -> bool:
        """True if ``config`` lies in the space; else raise (or return False) naming the parameter."""
        def bad(name: str, message: str) -> bool:
            if raise_error:
                raise SearchSpaceError(f"configuration parameter '{_prefix}{name}': {message}")
            return False
        if not isinstance(config, Mapping):
            return bad("", f"expected a dict, got {type(config).__name__}")
        extra = sorted(set(config) - set(self.names))
        if extra:
            return bad(extra[0], "not in the search space")
        for p in self.params:
            if p.name not in config:
                return bad(p.name, "missing")
            value = config[p.name]
            if isinstance(p, Choice) and p.nested:
                i = p.index_of(value)
                if i < 0:
                    return bad(p.name, f"{value!r} is not one of {[o.name for o in p.options]}")
                sub = {k: v for k, v in value.items() if k != "_name"}
                if not p.options[i].space.check(sub, raise_error, f"{_prefix}{p.name}/{value['_name']}/"):
                    return False
            elif not p.contains(value):
                return bad(p.name, f"{value!r} is outside {p.to_nni()}")
        return True

    @property
    def size(self) -> float:
        """Number of distinct configurations (``math.inf`` if any parameter is continuous)."""
        return math.prod(p.size for p in self.params)

    # -- grid -----------------------------------------------------------------------------------
    def grid_size(self, points: int | None) -> int:
        return math.prod(_grid_count(p, points) for p in self.params)

    def grid_config(self, index: int, points: int | None) -> dict:
        """The ``index``-th point (mixed-radix order) of the grid with ``points`` per continuous axis.

        ``points=None`` enumerates every configuration of a finite space."""
        config = {}
        for p in reversed(self.params):
            n = _grid_count(p, points)
            index, digit = divmod(index, n)
            config[p.name] = _grid_value(p, digit, points)
        return {p.name: config[p.name] for p in self.params}

    # -- NNI ------------------------------------------------------------------------------------
    @classmethod
    def from_nni(cls, search_space: Any, _prefix: str = "") -> "Space":
        """Parse an NNI search-space dict, raising :class:`SearchSpaceError` naming the bad parameter."""
        if not isinstance(search_space, Mapping):
            raise SearchSpaceError(f"search space must be a dict of parameters, got {type(search_space).__name__}")
        if not search_space and not _prefix:
            raise SearchSpaceError("search space is empty")
        return cls(tuple(_param_from_nni(f"{_prefix}{name}", name, spec)
                         for name, spec in search_space.items() if name != "_name"))

    def to_nni(self) -> dict:
        return {p.name: p.to_nni() for p in self.params}


def _grid_count(p: Param, points: int | None) -> int:
    if isinstance(p, Choice):
        return sum(o.space.grid_size(points) if isinstance(o, Branch) else 1 for o in p.options)
    return len(p.grid(points))


def _grid_value(p: Param, digit: int, points: int | None) -> Any:
    if isinstance(p, Choice):
        for option in p.options:
            n = option.space.grid_size(points) if isinstance(option, Branch) else 1
            if digit < n:
                if isinstance(option, Branch):
                    return {"_name": option.name, **option.space.grid_config(digit, points)}
                return option
            digit -= n
        raise IndexError(digit)
    return p.grid(points)[digit]


_ARITY = {"choice": None, "randint": 2, "uniform": 2, "loguniform": 2, "normal": 2, "lognormal": 2,
          "quniform": 3, "qloguniform": 3, "qnormal": 3, "qlognormal": 3}


def _param_from_nni(path: str, name: str, spec: Any) -> Param:
    if not isinstance(spec, Mapping):
        raise _fail(path, f"expected a dict with '_type' and '_value', got {spec!r}")
    missing = [k for k in ("_type", "_value") if k not in spec]
    if missing:
        raise _fail(path, f"missing key {missing[0]!r} (got keys {sorted(spec)})")
    extra = sorted(set(spec) - {"_type", "_value"})
    if extra:
        raise _fail(path, f"unexpected key {extra[0]!r}")
    type_, value = spec["_type"], spec["_value"]
    if not isinstance(type_, str) or type_ not in _ARITY:
        raise _fail(path, f"unknown _type {type_!r}; known types: {', '.join(NNI_TYPES)}")
    if not isinstance(value, (list, tuple)):
        raise _fail(path, f"{type_} needs a list as _value, got {value!r}")
    if type_ == "choice":
        # Nested options are checked parameter by parameter, so errors name e.g. 'op/conv/k'.
        for option in value:
            if not (isinstance(option, Mapping) and "_name" in option):
                _check_json(path, option)
        return _choice_from_nni(path, name, list(value))
    _check_json(path, list(value))
    arity = _ARITY[type_]
    if len(value) != arity:
        expected = "[low, high, q]" if type_.startswith("q") else (
            "[mu, sigma]" if "normal" in type_ else "[low, high]")
        raise _fail(path, f"{type_} needs {arity} values {expected}, got {len(value)}: {list(value)}")
    if not all(_is_number(v) for v in value):
        raise _fail(path, f"{type_} needs numbers, got {list(value)}")
    q = float(value[2]) if arity == 3 else None
    if q is not None and q <= 0:
        raise _fail(path, f"{type_} needs q > 0, got q={value[2]}")
    if type_ == "randint":
        low, high = value
        if not (float(low).is_integer() and float(high).is_integer()):
            raise _fail(path, f"randint needs integer bounds, got {list(value)}")
        if low >= high:
            raise _fail(path, f"randint needs low < high (high is exclusive), got low={low} high={high}")
        return Integer(name, int(low), int(high) - 1)
    if "normal" in type_:
        mu, sigma = float(value[0]), float(value[1])
        if sigma <= 0:
            raise _fail(path, f"{type_} needs sigma > 0, got sigma={value[1]}")
        return Normal(name, mu, sigma, log=type_.endswith("lognormal"), q=q)
    low, high = float(value[0]), float(value[1])
    if low >= high:
        raise _fail(path, f"{type_} needs low < high, got low={value[0]} high={value[1]}")
    log = type_.endswith("loguniform")
    if log and low <= 0:
        raise _fail(path, f"{type_} needs positive bounds (it samples in log space), got low={value[0]}")
    return Float(name, low, high, log=log, q=q)


def _choice_from_nni(path: str, name: str, options: list) -> Choice:
    if not options:
        raise _fail(path, "choice needs at least one option, got []")
    is_branch = [isinstance(o, Mapping) and "_name" in o for o in options]
    if any(is_branch) and not all(is_branch):
        raise _fail(path, "a nested choice needs every option to be a dict with '_name'")
    if not all(is_branch):
        return Choice(name, tuple(options))
    labels = [o["_name"] for o in options]
    for label in labels:
        _check_json(path, label)
        if not isinstance(label, (str, int, float)) or isinstance(label, bool):
            raise _fail(path, f"nested choice '_name' must be a string or number, got {label!r}")
        if labels.count(label) > 1:
            raise _fail(path, f"nested choice has two options named {label!r}")
    branches = []
    for option in options:
        sub = {k: v for k, v in option.items() if k != "_name"}
        branches.append(Branch(option["_name"], Space.from_nni(sub, f"{path}/{option['_name']}/")))
    return Choice(name, tuple(branches))


def config_key(config: Mapping) -> str:
    """A canonical string for a configuration, used to detect duplicates."""
    return json.dumps(_normalise(config), sort_keys=True)


def _normalise(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _normalise(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_normalise(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return int(x) if x.is_integer() and abs(x) < 2 ** 53 else float(f"{x:.12g}")
    return x

