"""Registry of named algorithms: one entry per strategy or early stopper.

Each entry knows its NNI builtin name and (for strategies) its AutoGluon searcher name, so
the host adapters and ``nas-plugins list --json`` are generated from one place.

Example::

    >>> from tuners import registry
    >>> registry.get("NaspRandom").name       # NNI, AutoGluon and our own names all resolve
    'random'
    >>> registry.get("nasp_random").nni_name
    'NaspRandom'
    >>> strategy = registry.create("random", seed=0)       # options are checked against the class
    >>> type(strategy).__name__, strategy.seed
    ('RandomSearch', 0)
    >>> registry.create("random", seeds=0)
    Traceback (most recent call last):
    ...
    ValueError: unknown option 'seeds' for 'random'; accepted: max_retries, seed, mode, cost, max_cost, reward_target, reward_w, proxy, proxy_build, proxy_candidates, proxy_top_k

Every strategy also takes the cost options of :class:`~nas_plugins.constraints.Constraint` (``cost``,
``max_cost``, ``reward_target``, ``reward_w``); given, :func:`create` wraps it in
:class:`~nas_plugins.constraints.Constrained`::

    >>> from nas_plugins.space import Space
    >>> space = Space.from_nni({"width": {"_type": "choice", "_value": [16, 32, 64]}})
    >>> s = registry.create("random", space, seed=0, cost=lambda c: c["width"], max_cost=32)
    >>> type(s).__name__, s.name, sorted(s.ask()["width"] for _ in range(2))
    ('Constrained', 'random', [16, 32])

Every strategy but the multi-fidelity ones (``hyperband``, ``asha``: give them to the searcher in
``searcher_options``) also takes the proxy options of :class:`~nas_plugins.proxy_filter.ProxyFilter`
(``proxy``, ``proxy_build``, ``proxy_candidates``, ``proxy_top_k``); with ``proxy``, :func:`create`
wraps it (outside the cost wrapper) so that only the best ``proxy_top_k`` of every ``proxy_candidates``
proposals by the zero-cost proxy are tried. A strategy that takes ``proxy_build`` itself (``bo`` and
``weaknas``, for their ``proxy_features``) shares it with the filter::

    >>> from nas_plugins.spaces import mini201
    >>> s = registry.create("evolution", mini201.space(), seed=0, proxy="synflow", proxy_build="mini201",
    ...                     proxy_candidates=4, proxy_top_k=2)
    >>> type(s).__name__, s.name, len(s.ask()), len(s.skipped)
    ('ProxyFilter', 'evolution', 6, 2)
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Literal

from nas_plugins.constraints import CONSTRAINT_OPTIONS, Constrained, Constraint
from nas_plugins.proxy_filter import PROXY_OPTIONS, ProxyFilter
from nas_plugins.strategy import Strategy

__all__ = ["AlgorithmInfo", "UnknownAlgorithmError", "register", "get", "algorithms", "create",
           "check_options"]

Kind = Literal["tuner", "assessor"]


class UnknownAlgorithmError(KeyError):
    """An algorithm name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return self.args[0]


@dataclass(frozen=True)
class AlgorithmInfo:
    name: str                      # our canonical name, e.g. "random"
    kind: Kind                     # "tuner" (a Strategy) or "assessor" (an EarlyStopper)
    cls: type
    nni_name: str                  # the name an NNI YAML config uses
    autogluon_name: str | None     # the AutoGluon searcher name, if any
    summary: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "nni_name": self.nni_name,
                "autogluon_name": self.autogluon_name, "summary": self.summary,
                "options": option_names(self.cls)}


_REGISTRY: dict[str, AlgorithmInfo] = {}


def register(name: str, kind: Kind, nni_name: str, autogluon_name: str | None = None) -> Callable[[type], type]:
    """Class decorator adding a strategy/early stopper to the registry."""
    def wrap(cls: type) -> type:
        summary = (inspect.getdoc(cls) or "").strip().splitlines()[0] if cls.__doc__ else ""
        info = AlgorithmInfo(name, kind, cls, nni_name, autogluon_name, summary)
        for key in filter(None, (name, nni_name, autogluon_name)):
            other = _lookup(key)
            if other is not None and other.cls is not cls:
                raise ValueError(f"algorithm name {key!r} is already used by {other.name!r}")
        _REGISTRY[name] = info
        cls.name = name
        return cls
    return wrap


def _lookup(name: str) -> AlgorithmInfo | None:
    key = name.lower()
    for info in _REGISTRY.values():
        if key in {n.lower() for n in (info.name, info.nni_name, info.autogluon_name) if n}:
            return info
    return None


def _load() -> None:
    import tuners  # noqa: F401  (importing the package registers every built-in algorithm)


def get(name: str, kind: Kind | None = None) -> AlgorithmInfo:
    """Look up by our name, NNI name or AutoGluon name (case-insensitive)."""
    _load()
    info = _lookup(str(name))
    if info is None or (kind is not None and info.kind != kind):
        known = ", ".join(sorted(i.name for i in _REGISTRY.values() if kind in (None, i.kind)))
        what = f"{kind} " if kind else ""
        raise UnknownAlgorithmError(f"unknown {what}algorithm {name!r}; registered: {known}")
    return info


def algorithms(kind: Kind | None = None) -> list[AlgorithmInfo]:
    _load()
    return [i for i in _REGISTRY.values() if kind in (None, i.kind)]


def _own_option_names(cls: type) -> list[str]:
    """The keyword-only parameters of ``cls.__init__``."""
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]


def _wrapper_options(cls: type) -> list[str]:
    """The options :func:`create` applies through a wrapper rather than ``cls``: the cost options
    (:class:`Constrained`) of every strategy and the proxy options (:class:`ProxyFilter`) of every
    strategy that is not multi-fidelity (one with a ``budget_key`` option), except any the class
    takes itself; none for an early stopper."""
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        return []
    own = _own_option_names(cls)
    names = list(CONSTRAINT_OPTIONS) + ([] if "budget_key" in own else list(PROXY_OPTIONS))
    return [name for name in names if name not in own]


def option_names(cls: type) -> list[str]:
    """The keyword options ``cls`` accepts (besides the search space); for a strategy, followed by
    the cost options (see :func:`create`)."""
    return _own_option_names(cls) + _wrapper_options(cls)


def check_options(cls: type, options: dict) -> None:
    """Raise ValueError naming any option ``cls`` does not accept."""
    allowed = option_names(cls)
    for key in options:
        if key not in allowed:
            raise ValueError(f"unknown option {key!r} for {cls.name!r}; accepted: {', '.join(allowed)}")


def create(name: str, space=None, **options):
    """Instantiate a registered algorithm with validated options.

    A strategy given any of the cost options (``cost``, ``max_cost``, ``reward_target``; ``reward_w``
    alone changes nothing) comes wrapped in :class:`~nas_plugins.constraints.Constrained`; given
    ``proxy``, that in :class:`~nas_plugins.proxy_filter.ProxyFilter`; without them it is the plain class. Hosts build strategies through here, so every registered strategy
    takes the cost options under NNI and AutoGluon too.
    """
    info = get(name)
    check_options(info.cls, options)
    if info.kind != "tuner":
        return info.cls(**options)
    wrapper = _wrapper_options(info.cls)
    constraint = Constraint(**{key: options.pop(key) for key in CONSTRAINT_OPTIONS if key in wrapper and key in options})
    proxy = {key: options.pop(key) for key in PROXY_OPTIONS if key in wrapper and key in options}
    # A strategy with proxy features takes proxy_build itself; a proxy filter around it uses the same.
    shared_build = options.get("proxy_build") if "proxy_build" not in wrapper else None
    if shared_build is not None and proxy.get("proxy") is None and options.get("proxy_features") is None:
        raise ValueError("proxy_build needs the proxy option (a zero-cost proxy name) or proxy_features")
    if proxy.get("proxy") is None and any(value is not None for value in proxy.values()):
        given = ", ".join(key for key, value in proxy.items() if value is not None)
        raise ValueError(f"{given} needs the proxy option (a zero-cost proxy name)")
    if shared_build is not None:
        proxy.setdefault("proxy_build", shared_build)
    strategy = info.cls(space, **options)
    if constraint.active:
        strategy = Constrained(strategy, constraint)
    if proxy.get("proxy") is not None:
        strategy = ProxyFilter(strategy, proxy["proxy"], proxy.get("proxy_build"),
                               **{key[len("proxy_"):]: proxy[key] for key in ("proxy_candidates", "proxy_top_k")
                                  if proxy.get(key) is not None})
    return strategy
