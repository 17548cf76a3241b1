"""Zero-cost proxy scores as predictor features (``nas_plugins.proxy_features``; ``proxy_features`` of
``weaknas`` and ``bo``): the features reach the predictor, change the proposals, keep the seed's
determinism, and share ``proxy_build`` with a proxy filter."""
from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch

from conftest import ask_tell, keys

from nas_plugins.proxy_features import ProxyFeatures
from nas_plugins.proxy_filter import ProxyFilter
from nas_plugins.spaces import mini201
from tuners import registry
from tuners.hosts.nni_host import build_options
from tuners.skopt_bo import BayesOpt
from tuners.weaknas import WeakNAS

torch.set_num_threads(1)
SPACE = mini201.space()
PROXIES = ["params", "synflow"]


def objective(config: dict) -> float:
    """Bigger networks are better here, plus a fixed per-cell wobble: the proxies carry signal."""
    wobble = sum(ord(ch) for ch in mini201.to_arch_string(config)) % 7 / 7
    return math.log(mini201.params(config)) + 0.3 * wobble


def test_features_are_ranks_and_params_is_analytic():
    rng = np.random.default_rng(0)
    configs = [SPACE.sample(rng) for _ in range(6)]
    features = ProxyFeatures(PROXIES, "mini201")
    raw = features.raw(configs)
    assert raw[:, 0].tolist() == [float(mini201.params(c)) for c in configs]   # analytic, equals the hooks
    from nas_plugins.proxies import params
    assert params(mini201.build(configs[0])) == raw[0, 0]
    F = features.transform(configs)
    assert F.shape == (6, 2) and ((F > 0) & (F < 1)).all()
    order = np.argsort(raw[:, 1], kind="stable")
    assert np.all(np.diff(F[order, 1]) >= 0)                    # monotone in the score
    copy = pickle.loads(pickle.dumps(features))
    assert np.array_equal(copy.transform(configs), F) and copy.scores == features.scores


@pytest.mark.parametrize("options, message", [
    ({"proxy_features": "synflaw", "proxy_build": "mini201"}, "unknown proxy 'synflaw'"),
    ({"proxy_features": [], "proxy_build": "mini201"}, "non-empty list"),
    ({"proxy_features": ["params", "params"], "proxy_build": "mini201"}, "twice"),
    ({"proxy_features": "params"}, "proxy_features needs the proxy_build option"),
    ({"proxy_build": "mini201"}, "proxy_build needs the proxy option .* or proxy_features"),
    ({"proxy_features": "params", "proxy_build": "mini201", "proxy_pool": 0}, "proxy_pool"),
])
@pytest.mark.parametrize("tuner", ["weaknas", "bo"])
def test_bad_options(tuner, options, message):
    with pytest.raises(ValueError, match=message):
        registry.create(tuner, SPACE, **options)


def test_bo_refuses_gp_hedge_with_proxy_features():
    with pytest.raises(ValueError, match="gp_hedge"):
        registry.create("bo", SPACE, acq_func="gp_hedge", proxy_features="params", proxy_build="mini201")


def _widths(monkeypatch, cls, attr):
    seen = []
    original = getattr(cls, attr)

    def spy(self, X, *args, **kwargs):
        seen.append(X.shape[1])
        return original(self, X, *args, **kwargs)

    monkeypatch.setattr(cls, attr, spy)
    return seen


def test_weaknas_predictor_sees_the_proxy_columns(monkeypatch):
    widths = _widths(monkeypatch, WeakNAS, "_fit_predict")
    options = dict(n_init=5, batch=5, top_n=10)
    plain = ask_tell(registry.create("weaknas", SPACE, seed=0, **options), objective, 15)
    plain_widths = list(widths)
    widths.clear()
    make = lambda: registry.create("weaknas", SPACE, seed=0, proxy_features=PROXIES, proxy_build="mini201",
                                   proxy_pool=30, **options)
    strategy = make()
    with_proxies = ask_tell(strategy, objective, 15)
    dim = len(SPACE) * len(mini201.OPS)
    assert plain_widths == [dim, dim] and widths == [dim + 2, dim + 2]
    assert keys(with_proxies[:5]) == keys(plain[:5])             # the same warm-up
    assert keys(with_proxies[5:]) != keys(plain[5:])             # then the proxies change the picks
    assert ask_tell(make(), objective, 15) == with_proxies       # same seed, same proposals
    assert len(strategy.proxy_features.scores) >= 30             # results and the cut pool were scored
    copy = pickle.loads(pickle.dumps(strategy))
    assert ask_tell(copy, objective, 5) == ask_tell(strategy, objective, 5)


def test_bo_gp_gets_one_column_and_lengthscale_per_proxy(monkeypatch):
    import nas_plugins.gp as gp
    widths = []
    original = gp.Posterior.__init__

    def spy(self, X, *args, **kwargs):
        widths.append(X.shape[1])
        original(self, X, *args, **kwargs)

    monkeypatch.setattr(gp.Posterior, "__init__", spy)
    plain = ask_tell(registry.create("bo", SPACE, seed=0, n_initial_points=4), objective, 8)
    assert set(widths) == {len(SPACE) * len(mini201.OPS)}
    widths.clear()
    make = lambda: registry.create("bo", SPACE, seed=0, n_initial_points=4, proxy_features=["params", "flops"],
                                   proxy_build="mini201", proxy_pool=30)     # analytic: no network built
    strategy = make()
    with_proxies = ask_tell(strategy, objective, 8)
    assert set(widths) == {len(SPACE) * len(mini201.OPS) + 2}
    assert len(strategy._theta) == len(SPACE) + 2 + 2            # a lengthscale per edge and per proxy
    assert keys(with_proxies[:4]) == keys(plain[:4]) and keys(with_proxies[4:]) != keys(plain[4:])
    assert ask_tell(make(), objective, 8) == with_proxies
    pending = [strategy.ask() for _ in range(3)]                  # constant liar with proxy columns
    assert len(set(keys(pending))) == 3


def test_proxy_build_is_shared_with_a_proxy_filter():
    s = registry.create("weaknas", SPACE, seed=0, proxy="params", proxy_build="mini201", proxy_candidates=3,
                        proxy_features="synflow")
    assert isinstance(s, ProxyFilter) and s.build == "mini201"
    assert s.inner.proxy_features.build == "mini201" and s.inner.proxy_features.names == ["synflow"]
    plain_filter = registry.create("weaknas", SPACE, seed=0, proxy="params", proxy_build="mini201")
    assert isinstance(plain_filter, ProxyFilter) and plain_filter.inner.proxy_features is None
    assert build_options("weaknas", {"proxy_features": ["synflow", "params"], "proxy_build": "mini201",
                                     "optimize_mode": "maximize"})["proxy_features"] == ["synflow", "params"]


def test_defaults_have_no_proxy_features():
    assert WeakNAS(SPACE).proxy_features is None and BayesOpt(SPACE).proxy_features is None
    state = WeakNAS(SPACE, seed=0).__dict__.copy()
    del state["proxy_features"], state["proxy_pool"]              # a pickle from before the option
    old = WeakNAS.__new__(WeakNAS)
    old.__setstate__(state)
    assert old.proxy_features is None


def _never_built(config):
    raise AssertionError("a configuration with known scores was built")


def test_known_scores_are_looked_up_and_give_the_computed_features():
    from nas_plugins.space import config_key
    rng = np.random.default_rng(3)
    configs = [SPACE.sample(rng) for _ in range(8)]
    computed = ProxyFeatures(PROXIES, mini201.build, input_shape=(1, 8, 8))
    F = computed.transform(configs[:5])
    given = ProxyFeatures(PROXIES, _never_built, input_shape=(1, 8, 8), known=dict(computed.scores))
    assert np.array_equal(given.transform(configs[:5]), F)              # the same ranks, nothing built
    assert given.scores == computed.scores and len(given.known) == 5
    keys = [config_key(c) for c in configs[:5]]
    assert np.array_equal(given.transform([None] * 5, keys=keys), F)     # by key: configs not even read
    with pytest.raises(AssertionError, match="was built"):               # unknown ones are computed
        given.transform(configs[5:6])
    bad = ProxyFeatures(PROXIES, _never_built, known={config_key(configs[0]): (1.0,)})
    with pytest.raises(ValueError, match="have 1 values for the 2 proxies"):
        bad.raw(configs[:1])
    # The ranking grows only with what was asked for, as computed scores would: a known score
    # asked for later does not move the features of the first ones until then.
    part = ProxyFeatures(PROXIES, _never_built, known=dict(computed.scores))
    assert np.array_equal(part.transform(configs[:2]), ProxyFeatures(PROXIES, mini201.build, input_shape=(1, 8, 8)).transform(configs[:2]))


def test_weaknas_takes_a_ready_proxy_features_object():
    features = ProxyFeatures(PROXIES, "mini201")
    options = dict(n_init=5, batch=5, top_n=10, proxy_pool=30)
    by_name = ask_tell(registry.create("weaknas", SPACE, seed=0, proxy_features=PROXIES, proxy_build="mini201",
                                       **options), objective, 15)
    strategy = registry.create("weaknas", SPACE, seed=0, proxy_features=features, **options)
    assert strategy.proxy_features is features
    assert ask_tell(strategy, objective, 15) == by_name                 # the same proposals as by name
    with pytest.raises(ValueError, match="proxy_build is part of a ProxyFeatures object"):
        WeakNAS(SPACE, proxy_features=ProxyFeatures("params", "mini201"), proxy_build="mini201")
