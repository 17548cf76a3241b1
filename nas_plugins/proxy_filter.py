"""A zero-cost proxy in front of any strategy: :class:`ProxyFilter` trains only the best-scored of
the configurations the strategy proposes (the proxies themselves are in :mod:`nas_plugins.proxies`).

This module imports torch only when a filter scores its first configuration, so the registry
(``tuners.registry``), which offers the proxy options of every strategy, stays light.
"""
from __future__ import annotations

import importlib
import math
import time
from typing import Any, Callable, Mapping, Sequence

from .space import Space, config_key
from .strategy import SpaceExhausted, Strategy

__all__ = ["ProxyFilter", "PROXY_OPTIONS", "PROXY_NAMES", "resolve_builder", "score_config"]

#: The proxies of :data:`nas_plugins.proxies.PROXIES` (listed here so that checking an option needs no torch).
PROXY_NAMES = ("synflow", "naswot", "zen", "grad_norm", "snip", "jacob_cov", "params", "flops")
_BATCH = 64    # the embedded batch of data-dependent proxies

#: The registry options of :class:`ProxyFilter` (``tuners.registry.create`` applies them to a strategy).
PROXY_OPTIONS = ("proxy", "proxy_build", "proxy_candidates", "proxy_top_k")

#: Input shapes (C, H, W) of the NAS spaces' builders, for ``build`` given as a space name.
_SPACE_INPUTS = {"nb201": (3, 32, 32), "mini201": (1, 8, 8), "darts": (3, 32, 32), "mobilenet": (3, 32, 32)}
_DEFAULT_INPUT = (3, 32, 32)


def resolve_builder(build: Any) -> tuple[Callable[[Mapping], Any], tuple[int, int, int] | None]:
    """``(build function, its input shape or None)`` of ``build``: a callable ``config -> nn.Module``
    (shape unknown), a NAS space name (``nb201``, ``mini201``, ``darts``, ``mobilenet``: that space's
    ``build`` at its default sizes and its input shape) or a ``"package.module:function"`` path.

    >>> from nas_plugins.proxy_filter import resolve_builder
    >>> fn, shape = resolve_builder("mini201")
    >>> fn.__module__, shape
    ('nas_plugins.spaces.mini201', (1, 8, 8))
    """
    if callable(build):
        return build, None
    if not isinstance(build, str) or not build:
        raise ValueError(f"proxy_build must be a callable config -> torch model, a NAS space name "
                         f"({', '.join(_SPACE_INPUTS)}) or a 'package.module:function' path, got {build!r}")
    if build in _SPACE_INPUTS:
        from .spaces import get_space
        return get_space(build).build, _SPACE_INPUTS[build]
    module_name, sep, attr = build.partition(":")
    if not sep:
        module_name, _, attr = build.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"proxy_build {build!r}: not a NAS space ({', '.join(_SPACE_INPUTS)}) nor a "
                         "'package.module:function' path")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as exc:  # noqa: BLE001  (any import failure is a bad option)
        raise ValueError(f"proxy_build {build!r}: cannot import it ({exc})") from None
    if not callable(obj):
        raise ValueError(f"proxy_build {build!r} is not callable")
    return obj, None


def score_config(build_fn: Callable[[Mapping], Any], proxies: Sequence[str], config: Mapping,
                 input_shape: tuple[int, int, int], data: Callable[[], Any], seed: int = 0) -> list[float]:
    """The scores of ``config`` by each proxy of ``proxies``: the network ``build_fn(config)`` is built
    once, seeded with ``seed`` (so a configuration always gets the same network), and each proxy scores
    it (data-free ones on ``input_shape``, data-dependent ones on ``data()``, called only when needed).
    A score that is not finite, or a proxy that raises ``FloatingPointError``, is ``-inf``.
    :class:`ProxyFilter` and :class:`~nas_plugins.proxy_features.ProxyFeatures` score through here."""
    from .proxies import PROXIES, score
    from .seeding import seeded_run
    with seeded_run(seed):
        model = build_fn(config)
    out = []
    for name in proxies:
        try:
            value = score(name, model, data() if PROXIES[name][1] else input_shape, seed=seed)
        except FloatingPointError:
            value = -math.inf
        out.append(value if math.isfinite(value) else -math.inf)
    return out


def _chw(shape: Sequence[int]) -> tuple[int, int, int]:
    dims = tuple(int(d) for d in shape)
    if len(dims) != 3 or min(dims) < 1:
        raise ValueError(f"input_shape must be (C, H, W), got {tuple(shape)!r}")
    return dims  # type: ignore[return-value]


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


class ProxyFilter(Strategy):
    """Any strategy, with its proposals screened by a zero-cost proxy: of every ``candidates``
    configurations the inner strategy proposes, only the ``top_k`` with the highest proxy score are
    trained.

    * ``ask``: with nothing queued, the wrapper asks the inner strategy for ``candidates``
      configurations (fewer when it runs out: :class:`SpaceExhausted`/:class:`NotReady` end the round
      once at least one came), builds each with ``build(config)`` (seeded with ``proxy_seed``, so a
      configuration always gets the same network and score) and scores it with ``proxy``. The best
      ``top_k`` are queued, best first, and handed out one per ``ask``; the rest are **told to the
      inner strategy at once as failed trials** (``value=None``): every configuration the inner
      strategy proposed gets exactly one result, as if the trial had been tried and lost, so its
      history holds no configuration that stays pending for ever, it never proposes a skipped one
      again, and a model (bo, weaknas) does not fit a made-up value. Skipped configurations count
      as trials inside the inner strategy (e.g. towards its warm-up) but not in this wrapper's
      ``history``; :attr:`skipped` lists them with their scores.
    * ``tell``: recorded here and passed on unchanged.
    * Scores are cached per configuration; a score that is not finite (or a proxy that raises
      ``FloatingPointError``) ranks lowest. The highest score wins in either ``mode`` (proxies
      predict accuracy). The wrapper draws nothing at random: the same seed gives the same proposals.

    ``build``: a callable ``config -> torch model``, a NAS space name (``nb201``...) or a
    ``"package.module:function"`` path (:func:`resolve_builder`); from NNI's YAML only the strings
    work. ``input_shape``: (C, H, W) of the networks, default the space's (``3, 32, 32`` for a callable
    or a path). Data-dependent proxies score on ``data`` (``(x, y)`` or ``x``), default
    :func:`~nas_plugins.proxies.image_batch` of 64 embedded digits at ``input_shape`` (not CIFAR).

    Example::

        >>> from nas_plugins.proxy_filter import ProxyFilter
        >>> from nas_plugins.spaces import mini201
        >>> from tuners.random_search import RandomSearch
        >>> s = ProxyFilter(RandomSearch(mini201.space(), seed=0), "synflow", "mini201", candidates=4, top_k=1)
        >>> cfg = s.ask()                           # the best of 4 by synflow; the other 3 were told as failures
        >>> len(s.skipped), len(s.inner.history), [o.value for o in s.inner.history]
        (3, 3, [None, None, None])
        >>> s.tell(cfg, 0.9); len(s.history), len(s.inner.history)
        (1, 4)
    """

    def __init__(self, strategy: Strategy, proxy: str = "synflow", build: Any = None, *, candidates: int = 10,
                 top_k: int = 1, input_shape: Sequence[int] | None = None, data: Any = None, proxy_seed: int = 0):
        if not isinstance(strategy, Strategy):
            raise TypeError(f"ProxyFilter wraps a Strategy, got {type(strategy).__name__}")
        if isinstance(strategy, ProxyFilter):
            raise ValueError("the strategy already has a proxy filter")
        if getattr(strategy, "budget_key", None) is not None:
            raise ValueError(f"{strategy.name or type(strategy).__name__} is multi-fidelity (it proposes "
                             "promotions): give the proxy options to its searcher (searcher_options)")
        if proxy not in PROXY_NAMES:
            raise ValueError(f"unknown proxy {proxy!r}; proxies: {', '.join(PROXY_NAMES)}")
        if build is None:
            raise ValueError("proxy needs the proxy_build option: a NAS space name (nb201, mini201, darts, "
                             "mobilenet), a 'package.module:function' path or a callable config -> torch model")
        self.build = build
        self._fn, space_shape = resolve_builder(build)
        self.proxy = proxy
        self.candidates = _positive_int("proxy_candidates", candidates)
        self.top_k = _positive_int("proxy_top_k", top_k)
        if self.top_k > self.candidates:
            raise ValueError(f"proxy_top_k ({top_k}) must not exceed proxy_candidates ({candidates})")
        self.input_shape = _chw(input_shape) if input_shape is not None else (space_shape or _DEFAULT_INPUT)
        self.data = data
        self.proxy_seed = proxy_seed
        self.inner = strategy
        self.queue: list[dict] = []
        self.skipped: list[tuple[dict, float]] = []
        self.scores: dict[str, float] = {}
        self.proxy_seconds = 0.0
        super().__init__(None, seed=strategy.seed, mode=strategy.mode)
        self.space = strategy.space
        self.trial_budget = strategy.trial_budget

    @property
    def name(self) -> str:  # type: ignore[override]
        """The inner strategy's registry name."""
        return self.inner.name

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") or attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if isinstance(self.build, str):
            state["_fn"] = None                 # re-resolved after unpickling
        state.pop("_batch", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self.__dict__.get("_fn") is None:
            self._fn = resolve_builder(self.build)[0]

    def __repr__(self) -> str:
        return f"ProxyFilter({type(self.inner).__name__}, {self.proxy!r}, {self.candidates} -> {self.top_k})"

    def set_space(self, space: Space) -> None:
        super().set_space(space)
        self.inner.set_space(space)

    def set_trial_budget(self, n: int | None) -> None:
        super().set_trial_budget(n)
        self.inner.set_trial_budget(n)

    # -- Strategy ---------------------------------------------------------------------------------
    def _propose(self) -> dict:
        if not self.queue:
            self._round()
        return self.queue.pop(0)

    def _observe(self, config: dict, value: float | None) -> None:
        self.inner.tell(config, value)

    def proxy_score(self, config: Mapping) -> float:
        """The proxy score of ``config`` (cached; ``-inf`` when not finite)."""
        key = config_key(config)
        if key not in self.scores:
            t0 = time.perf_counter()
            self.scores[key] = score_config(self._fn, [self.proxy], config, self.input_shape, self._data,
                                            self.proxy_seed)[0]
            self.proxy_seconds += time.perf_counter() - t0
        return self.scores[key]

    # -- internals --------------------------------------------------------------------------------
    def _data(self) -> Any:
        if self.data is not None:
            return self.data
        batch = self.__dict__.get("_batch")
        if batch is None:
            from .proxies import image_batch
            batch = self._batch = image_batch(_BATCH, self.input_shape, seed=self.proxy_seed)
        return batch

    def _round(self) -> None:
        """Ask the inner strategy for up to ``candidates`` configurations; queue the best ``top_k``,
        tell the others to it as failures."""
        found: list[dict] = []
        for _ in range(self.candidates):
            try:
                found.append(self.inner.ask())
            except SpaceExhausted:        # NotReady too: score what came, ask again next round
                if not found:
                    raise
                break
        ranked = sorted(range(len(found)), key=lambda i: -self.proxy_score(found[i]))   # stable: ask order on ties
        keep = set(ranked[:self.top_k])
        self.queue = [found[i] for i in ranked[:self.top_k]]
        for i, config in enumerate(found):
            if i not in keep:
                self._seen.add(config_key(config))
                self.skipped.append((config, self.scores[config_key(config)]))
                self.inner.tell(config, None)

