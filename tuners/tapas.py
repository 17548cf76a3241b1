"""TAPAS (Istrate et al., AAAI 2019, "TAPAS: Train-less Accuracy Predictor for Architecture Search"):
rank architectures for a new data set without training any of them, from the results of data sets of
similar difficulty. Our design, not the paper's code:

* **Difficulty**: the target's dataset characterization number, ``dcn`` in [0, 1] (the accuracy of a
  fixed small probe network on it: :func:`nas_plugins.dcn.dataset_dcn`; tables pass it directly), or
  the ``"dcn"`` in ``target_task``'s metadata in the store. Source tasks carry theirs in their metadata
  (:func:`nas_plugins.transfer.set_dcn`).
* **Sources**: the tasks of a :class:`~nas_plugins.store.MetadataStore` (``store``) whose results lie in
  this space and whose DCN is within ``dcn_window`` of the target's, at least the ``min_sources``
  nearest (``source_tasks``: exactly those tasks instead), at most ``max_source_trials`` results each.
* **Predictor** (TAP): extra trees (``n_trees``) on the :class:`~nas_plugins.encoding.ConfigEncoder`
  vector plus the task's DCN, fitted to the sources' metric values (as stored: the predicted value is
  that metric on a data set of the target's DCN).
* **Search**: an evolution over the predictor only (no trial): a population of ``population_size``
  (the sources' best configurations and prior samples), ``generations`` rounds of one mutated child
  of a tournament winner (``sample_size``) per member, the best ``population_size`` of parents and
  children surviving; every configuration it scored is ranked, best predicted first.

The proposals are that ranking, in order: the first is the predictor's best, with zero trained
candidates. Then the target's own results mix in: from ``refit_every`` successful results on (and
after every ``refit_every`` more), the ranking is made again on ``(1 - w) * source prediction + w *
target model`` (both standardised; the target model: extra trees on this task's results, as normal
scores of their ranks; ``w = m / (m + source_weight)`` after ``m`` results), so the search drifts from
the sources to the target as results arrive. Without ``store`` it starts cold: ``n_init`` prior
samples (a quarter of the host's trial budget, 2 to 10; 10 when unknown), then the target model
alone. Nothing is proposed twice; a finite space ends in :class:`~nas_plugins.strategy.SpaceExhausted`.

``nas-plugins tapas rank --store FILE --space nb201 --dcn 0.8`` prints the ranking (:meth:`TAPAS.ranking`).

Example (needs the NB201 table)::

    from nas_plugins.store import MetadataStore
    from nas_plugins.transfer import set_dcn
    from nas_plugins.spaces import nb201
    from tuners import registry
    store = MetadataStore("meta.sqlite")
    store.import_nb201("nb201.csv.gz", datasets=["cifar10", "cifar100"])
    set_dcn(store, "nb201/cifar10", 0.90); set_dcn(store, "nb201/cifar100", 0.70)
    s = registry.create("tapas", nb201.space(), store="meta.sqlite", dcn=0.45, seed=0)
    s.ranking(top=5)             # [(config, predicted validation accuracy), ...]: no trial needed
    config = s.ask()             # the first of that ranking
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from nas_plugins.space import Space, config_key
from nas_plugins.strategy import SpaceExhausted
from nas_plugins.transfer import SourceTask, normal_scores, open_store

from .random_search import sample_unseen
from .registry import register
from .warmstart import WarmStart, forest as _forest, forest_predict as _predict, number as _number
from .weaknas import _int_option, mutate

__all__ = ["TAPAS"]

@register("tapas", "tuner", nni_name="NaspTAPAS", autogluon_name="nasp_tapas")
class TAPAS(WarmStart):
    """TAPAS (Istrate et al. 2019): a DCN-conditioned accuracy predictor from similar tasks of a metadata store, ranked by an evolution over the predictor alone.

    Options: ``store`` (a metadata store file; none: cold), ``dcn`` (the target's difficulty in [0, 1];
    default the ``"dcn"`` of ``target_task`` in the store), ``source_tasks`` (default: chosen by DCN),
    ``target_task``, ``dcn_window`` (0.1), ``min_sources`` (1), ``max_source_trials`` (2000), ``n_trees``
    (100), ``population_size`` (50), ``generations`` (30), ``sample_size`` (10), ``refit_every`` (5),
    ``source_weight`` (10), ``n_init`` (0 with source tasks, else automatic). See the module docstring.

    Example::

        >>> from nas_plugins.space import Space
        >>> from tuners.tapas import TAPAS
        >>> space = Space.from_nni({"op": {"_type": "choice", "_value": ["conv", "pool", "skip"]},
        ...                         "lr": {"_type": "loguniform", "_value": [1e-4, 1e-1]}})
        >>> s = TAPAS(space, seed=0)              # no store: a cold model-based evolution
        >>> for _ in range(15):
        ...     config = s.ask()
        ...     s.tell(config, -abs(config["lr"] - 0.01) + (config["op"] == "conv"))
        >>> s.best.config["op"]
        'conv'
    """

    _need = "dcn"
    _kept = ("_scale",)

    def __init__(self, space: Space | None = None, *, store: Any = None, dcn: float | None = None,
                 source_tasks: Any = None, target_task: str | None = None, dcn_window: float = 0.1,
                 min_sources: int = 1, max_source_trials: int = 2000, n_trees: int = 100,
                 population_size: int = 50, generations: int = 30, sample_size: int = 10, refit_every: int = 5,
                 source_weight: float = 10.0, n_init: int | None = None, seed: int | None = None, mode: str = "max"):
        self._store_options(store, source_tasks, target_task, max_source_trials, n_trees, n_init)
        self.dcn = None if dcn is None else _number("dcn", dcn, 0.0, 1.0)
        if self.store is not None and self.dcn is None:
            self.dcn = self._stored_dcn()
        self.dcn_window = _number("dcn_window", dcn_window, 0.0)
        self.min_sources = _int_option("min_sources", min_sources, 1)
        self.population_size = _int_option("population_size", population_size, 2)
        self.generations = _int_option("generations", generations, 0)
        self.sample_size = _int_option("sample_size", sample_size, 1)
        self.refit_every = _int_option("refit_every", refit_every, 1)
        self.source_weight = _number("source_weight", source_weight, 0.0)
        self._queue: list[tuple[dict, float]] = []       # the current ranking, best first
        self._ranked_at = -1                             # successful results when it was made
        self._clear()
        super().__init__(space, seed=seed, mode=mode)
        self._model_seed = int(seed if seed is not None else self.rng.integers(2 ** 31 - 1))

    def _stored_dcn(self) -> float:
        with open_store(self.store) as db:
            meta = next((t["metadata"] for t in db.tasks() if t["name"] == self.target_task), None)
        value = (meta or {}).get("dcn")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            where = (f"task {self.target_task!r} has no 'dcn' in its metadata" if meta is not None else
                     f"target_task {self.target_task!r} is not in the store" if self.target_task else "no target_task")
            raise ValueError(f"tapas needs the target's dcn: the dcn option (nas_plugins.dcn.dataset_dcn computes "
                             f"it) or a target_task whose store metadata has one ({where})")
        return _number("the target task's dcn", value, 0.0, 1.0)

    def _clear(self) -> None:
        super()._clear()                            # _model: the source predictor
        self._scale = (0.0, 1.0)                    # its mean and sd at the target's DCN, on the sources

    def _reset(self) -> None:
        self._queue, self._ranked_at = [], -1

    def _select(self, tasks: list[SourceTask]) -> list[SourceTask]:
        """The given ``source_tasks``; else those within ``dcn_window`` of the target's DCN, at least
        the ``min_sources`` nearest."""
        if self.source_tasks is not None:
            return tasks
        assert self.dcn is not None
        tasks = sorted(tasks, key=lambda t: abs(float(t.metadata["dcn"]) - self.dcn))
        near = [t for t in tasks if abs(float(t.metadata["dcn"]) - self.dcn) <= self.dcn_window]
        return tasks[:max(len(near), self.min_sources)]

    # -- ask --------------------------------------------------------------------------------------
    def _propose(self) -> dict:
        assert self.space is not None
        ok = self._target_results()
        warm = bool(self.sources)
        if len(self.history) < self.n_init or (not warm and len(ok) < 2):
            return sample_unseen(self.space, self.rng, self.was_seen)
        due = len(ok) >= self._ranked_at + self.refit_every and len(ok) >= self.refit_every
        if self._ranked_at < 0 or due:
            self._rank(ok)
        for _ in range(2):
            while self._queue:
                config = self._queue.pop(0)[0]
                if not self.was_seen(config) and (self._feasible is None or self._feasible(config)):
                    return config
            self._rank(ok)                           # used up: evolve again (new draws)
        return sample_unseen(self.space, self.rng, self.was_seen)

    def ranking(self, top: int | None = None) -> list[tuple[dict, float]]:
        """The current ranking of unseen configurations, best first, with their predicted values (the
        source predictor's metric at the target's DCN while no result of the target counts; then the
        mixed, standardised score): made now if none is current. No trial is needed."""
        if self.space is None:
            raise RuntimeError("TAPAS: no search space set (call set_space first)")
        ok = self._target_results()
        if not self.sources and len(ok) < 2:
            raise RuntimeError("TAPAS: no predictor yet (no store, and fewer than 2 results of this task)")
        if self._ranked_at < 0 or not self._queue:
            self._rank(ok)
        ranked = [(c, v) for c, v in self._queue if not self.was_seen(c)]
        return ranked if top is None else ranked[:top]

    def _target_results(self) -> list[tuple[dict, float]]:
        assert self.space is not None
        return [(o.config, self.score(o.value)) for o in self.history
                if o.value is not None and self.space.contains(o.config)]

    # -- the predictor ----------------------------------------------------------------------------
    def _fit_sources(self) -> None:
        if self._model is not None or not self.sources:
            return
        encoder = self._encoder_()
        X = np.vstack([np.hstack([encoder.encode_many(t.configs), np.full((len(t.configs), 1), float(t.metadata["dcn"]))])
                       for t in self.sources])
        y = np.concatenate([t.values for t in self.sources])
        self._model = _forest(self.n_trees, self._model_seed, X, y)
        at_target = self._source_predict(X[:, :-1])
        self._scale = (float(at_target.mean()), float(at_target.std()) or 1.0)

    def _source_predict(self, E: np.ndarray) -> np.ndarray:
        """The source predictor at the target's DCN for encodings ``E``."""
        return _predict(self._model, np.hstack([E, np.full((len(E), 1), float(self.dcn or 0.0))]))

    def _scorer(self, ok: list[tuple[dict, float]]) -> Callable[[list[dict]], np.ndarray]:
        """The function the evolution maximises, for the results ``ok`` of the target so far."""
        self._fit_sources()
        encoder = self._encoder_()
        m = len(ok) if len(ok) >= max(2, self.refit_every if self._model is not None else 2) else 0
        target = None
        if m:
            target = _forest(self.n_trees, self._model_seed + m, encoder.encode_many([c for c, _ in ok]),
                             normal_scores([v for _, v in ok]))
        if self._model is None:
            assert target is not None
            return lambda configs: _predict(target, encoder.encode_many(configs))
        if target is None:
            return lambda configs: self._source_predict(encoder.encode_many(configs))
        w = m / (m + self.source_weight)
        mean, sd = self._scale

        def mixed(configs: list[dict]) -> np.ndarray:
            E = encoder.encode_many(configs)
            return (1 - w) * (self._source_predict(E) - mean) / sd + w * _predict(target, E)
        return mixed

    # -- the evolution over the predictor ---------------------------------------------------------
    def _rank(self, ok: list[tuple[dict, float]]) -> None:
        """Evolve over the predictor; the queue becomes every unseen configuration it scored, best first."""
        assert self.space is not None
        space, rng, P = self.space, self.rng, self.population_size
        score = self._scorer(ok)
        archive: dict[str, tuple[dict, float]] = {}

        def evaluate(configs: list[dict]) -> list[tuple[dict, float]]:
            fresh, taken = [], set()
            for c in configs:
                key = config_key(c)
                if key not in archive and key not in taken:
                    taken.add(key)
                    fresh.append(c)
            if fresh:
                for c, v in zip(fresh, score(fresh)):
                    archive[config_key(c)] = (c, float(v))
            return [archive[config_key(c)] for c in configs]

        seeds = [c for c, _ in sorted(ok, key=lambda t: -t[1])[:P // 2]]
        for t in self.sources:
            seeds += [t.configs[i] for i in np.argsort(-t.values, kind="stable")[:P // 2]]
        start = seeds + [space.sample(rng) for _ in range(P)]
        population = sorted(evaluate(start), key=lambda cv: -cv[1])
        population = list({config_key(c): (c, v) for c, v in population}.values())[:P]
        for _ in range(self.generations):
            parents = []
            for _ in range(P):
                picks = rng.choice(len(population), size=min(self.sample_size, len(population)), replace=False)
                parents.append(population[int(min(picks))])       # sorted best first: the lowest index wins
            children = evaluate([mutate(space, c, rng) for c, _ in parents])
            merged = {config_key(c): (c, v) for c, v in population + children}
            population = sorted(merged.values(), key=lambda cv: -cv[1])[:P]
        ranked = [cv for cv in archive.values() if not self.was_seen(cv[0])]
        order = rng.permutation(len(ranked))                        # ties broken at random (seeded)
        self._queue = [ranked[i] for i in order[np.argsort([-ranked[i][1] for i in order], kind="stable")]]
        self._ranked_at = len(ok)
        if not self._queue and space.size <= 20_000:
            left = [space.grid_config(i, None) for i in range(int(space.size))]
            left = [c for c in left if not self.was_seen(c)]
            if not left:
                raise SpaceExhausted(f"all {int(space.size)} configurations proposed")
            self._queue = sorted(zip(left, score(left)), key=lambda cv: -cv[1])
