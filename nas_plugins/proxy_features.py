"""Zero-cost proxy scores as extra input features of a predictor (WeakNAS's weak predictor, BO's GP).

:class:`ProxyFeatures` scores configurations with one or more proxies of
:mod:`nas_plugins.proxies` (built through the same ``proxy_build`` resolution and scoring as
:class:`~nas_plugins.proxy_filter.ProxyFilter`: :func:`~nas_plugins.proxy_filter.resolve_builder`,
:func:`~nas_plugins.proxy_filter.score_config`) and turns the scores into columns in [0, 1]: each
proxy's column is the empirical CDF of the score among every score computed so far (ties half-counted;
``-inf``, a proxy that failed, lowest). Proxies span many orders of magnitude (synflow ~1e50), so
ranks are what a GP's lengthscale and a tree's cut points can use; the columns of one configuration
move a little as more configurations are scored (the predictors are refitted every round anyway).

Scores are cached per configuration (and kept when pickled). With ``build`` a NAS space name, the
``params`` and ``flops`` proxies use that space's analytic counts (the same numbers as the proxies'
forward hooks on the built network, without building it: ~0.2 ms instead of ~30 ms for NB201);
a proxy set of only those two never builds a network.

Example::

    >>> from nas_plugins.proxy_features import ProxyFeatures
    >>> from nas_plugins.spaces import mini201
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> configs = [mini201.space().sample(rng) for _ in range(4)]
    >>> features = ProxyFeatures(["params", "synflow"], "mini201")
    >>> F = features.transform(configs)
    >>> F.shape, bool(((F > 0) & (F < 1)).all())
    ((4, 2), True)
    >>> features.raw(configs[:1]).tolist()[0][0] == mini201.params(configs[0])
    True
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .proxy_filter import _BATCH, _DEFAULT_INPUT, _SPACE_INPUTS, PROXY_NAMES, resolve_builder, score_config
from .space import config_key

__all__ = ["ProxyFeatures", "proxy_feature_names"]

_ANALYTIC = ("params", "flops")      # proxies a NAS space module computes without building the network


def proxy_feature_names(names: Any) -> list[str]:
    """``names`` (a proxy name or a list of them) checked: distinct names of :data:`PROXY_NAMES`.

    >>> proxy_feature_names("synflow"), proxy_feature_names(["synflow", "params"])
    (['synflow'], ['synflow', 'params'])
    """
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
        raise ValueError(f"proxy_features must be a proxy name or a non-empty list of them "
                         f"({', '.join(PROXY_NAMES)}), got {names!r}")
    unknown = [n for n in names if n not in PROXY_NAMES]
    if unknown:
        raise ValueError(f"proxy_features: unknown proxy {unknown[0]!r}; proxies: {', '.join(PROXY_NAMES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"proxy_features names a proxy twice: {list(names)!r}")
    return list(names)


class ProxyFeatures:
    """Proxy scores of configurations as predictor features (see the module docstring).

    ``names``: proxy name(s); ``build``: as ProxyFilter's ``proxy_build`` (a NAS space name, a
    ``"package.module:function"`` path or a callable ``config -> torch model``); ``input_shape``:
    (C, H, W), default the space's (``3, 32, 32`` otherwise); data-dependent proxies score on
    ``data`` (default 64 embedded digits at that shape); ``proxy_seed`` seeds every network and proxy.

    ``known``: precomputed raw scores, ``{config_key(config): (one score per name, in order)}`` (e.g. a
    benchmark that scored every architecture of a space once, as ``bench/run_proxies.py`` does). They
    must be what this object would compute itself (same ``build``, ``input_shape``, data and
    ``proxy_seed``): a configuration found there is not built, and its scores enter the ranking only
    when it is asked for, exactly as computed ones would, so the features are the same either way.

    >>> from nas_plugins.proxy_features import ProxyFeatures
    >>> from nas_plugins.space import config_key
    >>> from nas_plugins.spaces import mini201
    >>> import numpy as np
    >>> configs = [mini201.space().sample(np.random.default_rng(1)) for _ in range(3)]
    >>> computed = ProxyFeatures("synflow", "mini201")
    >>> F = computed.transform(configs)
    >>> given = ProxyFeatures("synflow", "mini201", known=dict(computed.scores))
    >>> bool((given.transform(configs) == F).all())        # looked up, not built
    True
    """

    def __init__(self, names: Any, build: Any, *, input_shape: Sequence[int] | None = None, data: Any = None,
                 proxy_seed: int = 0, known: Mapping[str, Sequence[float]] | None = None):
        self.names = proxy_feature_names(names)
        if build is None:
            raise ValueError("proxy_features needs the proxy_build option: a NAS space name (nb201, mini201, "
                             "darts, mobilenet), a 'package.module:function' path or a callable config -> torch model")
        self.build = build
        self._fn, space_shape = resolve_builder(build)
        self.input_shape = tuple(int(d) for d in input_shape) if input_shape is not None else (space_shape or _DEFAULT_INPUT)
        self.data = data
        self.proxy_seed = proxy_seed
        self.known = known if known is not None else {}    # precomputed: config key -> raw scores
        self.scores: dict[str, tuple[float, ...]] = {}     # config key -> one raw score per proxy
        self._sorted: list[np.ndarray] | None = None       # per proxy: every cached score, sorted

    @property
    def width(self) -> int:
        """The number of feature columns (one per proxy)."""
        return len(self.names)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if isinstance(self.build, str):
            state["_fn"] = None                 # re-resolved after unpickling
        state["_sorted"] = None
        state.pop("_batch", None)
        return state

    def __setstate__(self, state: dict) -> None:
        state.setdefault("known", {})       # pickled before known scores existed
        self.__dict__.update(state)
        if self.__dict__.get("_fn") is None:
            self._fn = resolve_builder(self.build)[0]

    # -- scores -----------------------------------------------------------------------------------
    def raw(self, configs: Sequence[Mapping], keys: Sequence[str] | None = None) -> np.ndarray:
        """``(len(configs), width)`` raw proxy scores (``-inf`` where a proxy failed), computed once each.
        ``keys``: the configurations' ``config_key``s when the caller has them; then ``configs[i]`` is
        read only for a configuration not scored yet (``configs`` may make them on access)."""
        if keys is None:
            keys = [config_key(config) for config in configs]
        out = np.empty((len(keys), self.width))
        scores = self.scores
        for i, key in enumerate(keys):
            got = scores.get(key)
            if got is None:
                given = self.known.get(key)
                got = scores[key] = self._checked(key, given) if given is not None else self._score(configs[i])
                self._sorted = None
            out[i] = got
        return out

    def transform(self, configs: Sequence[Mapping], keys: Sequence[str] | None = None) -> np.ndarray:
        """``(len(configs), width)`` features in (0, 1): each score's empirical CDF among every score
        computed so far (these configurations' included); ``keys`` as for :meth:`raw`."""
        raw = self.raw(configs, keys)
        if self._sorted is None:
            every = np.array(list(self.scores.values()), dtype=float).reshape(-1, self.width)
            self._sorted = [np.sort(every[:, j]) for j in range(self.width)]
        out = np.empty_like(raw)
        for j, column in enumerate(self._sorted):
            below = np.searchsorted(column, raw[:, j], side="left")
            upto = np.searchsorted(column, raw[:, j], side="right")
            out[:, j] = (below + 0.5 * (upto - below)) / len(column)
        return out

    def _checked(self, key: str, given: Sequence[float]) -> tuple[float, ...]:
        if len(given) != self.width:
            raise ValueError(f"known scores of {key} have {len(given)} values for the {self.width} proxies "
                             f"{self.names}")
        return tuple(float(v) for v in given)

    def _score(self, config: Mapping) -> tuple[float, ...]:
        analytic: dict[str, float] = {}
        if isinstance(self.build, str) and self.build in _SPACE_INPUTS:
            from .spaces import get_space
            module = get_space(self.build)
            for name in self.names:
                if name in _ANALYTIC:
                    analytic[name] = float(getattr(module, name)(config))
        built = [n for n in self.names if n not in analytic]
        if built:
            analytic.update(zip(built, score_config(self._fn, built, config, self.input_shape, self._data,
                                                    self.proxy_seed)))
        return tuple(analytic[n] for n in self.names)

    def _data(self) -> Any:
        if self.data is not None:
            return self.data
        batch = self.__dict__.get("_batch")
        if batch is None:
            from .proxies import image_batch
            batch = self._batch = image_batch(_BATCH, self.input_shape, seed=self.proxy_seed)
        return batch
