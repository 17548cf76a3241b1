"""Learning-curve extrapolation early stopping (Domhan, Springenberg & Hutter, IJCAI 2015).

A running trial's partial curve is fitted by several parametric learning-curve families; their
model-averaged prediction of the value at the final step ``max_step`` is a mixture of Gaussians,
and the trial stops when the probability that its final value beats the best final value of the
completed trials falls below ``threshold``.

The model works in "higher is better" units (a ``mode="min"`` metric is negated), scale-normalised
by the partial curve's own range, so accuracies in percent and losses of any size look alike:

* Every model is ``y(x) = c + a * phi_theta(x)`` (``x`` the 1-based step) with ``phi_theta``
  increasing and ``a >= 0``: a curve may rise and saturate, never fall. ``c`` and ``a`` enter
  linearly and are fitted in closed form by least squares (the constrained optimum is ``a = 0``
  where the unconstrained one is negative); the one or two nonlinear parameters ``theta`` range over
  a fixed logarithmic grid. This variable-projection fit is deterministic, cannot fail to converge,
  and takes about a millisecond for every model together.
* Each saturating family also appears with an added slow drift ``d * log x`` (``d >= 0``), in the
  spirit of Domhan's weighted *sum* of families: a curve that saturates fast and then keeps creeping
  up (common on LCBench) is extrapolated as such instead of as flat.
* Reports are weighted by ``x / max_step``: the noise variance of report ``x`` is taken as
  ``sigma^2 * max_step / x`` (early epochs are the noisy ones), ``sigma^2`` being the noise of the
  final value.
* Within a model, the grid points are weighted by their Gaussian profile likelihood
  ``(SSE_theta / n)^(-n/2)`` (a uniform prior over the grid). Across models, the weights are a
  softmax of ``-BIC/2``, ``BIC = n_eff log(SSE_min / n) + p log n_eff`` (``p`` counting the linear
  and nonlinear parameters): the usual large-sample approximation of posterior model probabilities.
  ``n_eff = n / kappa`` discounts correlated residuals: a smooth curve around an imperfect family
  leaves residuals with lag-1 autocorrelation ``rho``, and under AR(1) errors ``n`` reports carry
  about ``n / kappa`` reports' worth of information, ``kappa = (1 + rho) / (1 - rho)`` (``rho``
  from the best-fitting model's residuals plus white noise at the 0.1% floor, capped at 0.95).
* Each grid point predicts ``N(m, s^2)`` for the final value: ``m`` its extrapolation to
  ``max_step`` and ``s^2 = sigma^2 (1 + kappa h)``, with ``sigma^2 = SSE / (n - p)`` the residual
  noise (at least 0.1% of the curve's range) and ``h`` the leverage of the extrapolated point (the
  uncertainty of the linear parameters, inflated by ``kappa``). The mixture's spread covers the
  residual noise, the uncertainty of every parameter and the disagreement between families.

Families (``t = x / max_step``): ``pow3`` ``c - a x^-alpha``; ``pow4`` ``c - a (x + s)^-alpha``;
``exp3`` ``c - a exp(-t / tau)``; ``weibull`` ``c - a exp(-(t / tau)^delta)`` (the same family as
Domhan's exp4 and Janoschek); ``mmf`` ``c - a / (1 + (t / tau)^delta)`` (Morgan-Mercer-Flodin,
which contains Hill3 and log-power); ``ilog2`` ``c - a / log(x + 1)``; ``loglinear`` ``c + a log x``.
The first five also with the drift: 12 models.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
from scipy.special import ndtr

from nas_plugins.strategy import EarlyStopper, as_metric

from .registry import register

__all__ = ["CurveFit", "Prediction", "FAMILIES"]

_NOISE_FLOOR = 1e-3      # smallest residual std, as a fraction of the partial curve's range
_MIN_POINTS = 4          # fewer finite reports: no fit
_MIN_DOF = 2             # a family needs n - p >= this many residual degrees of freedom
_MAX_RHO = 0.95          # the largest residual autocorrelation believed (kappa <= 39)


def _grid2(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.meshgrid(first, second, indexing="ij")
    return a.ravel()[:, None], b.ravel()[:, None]


_POW3_ALPHA = np.geomspace(0.02, 3.0, 96)[:, None]
_POW4_S, _POW4_ALPHA = _grid2(np.geomspace(0.003, 3.0, 24), np.geomspace(0.05, 8.0, 28))
_EXP3_TAU = np.geomspace(0.003, 10.0, 96)[:, None]
_WEIBULL_TAU, _WEIBULL_DELTA = _grid2(np.geomspace(0.003, 10.0, 36), np.geomspace(0.15, 5.0, 24))
_MMF_TAU, _MMF_DELTA = _grid2(np.geomspace(0.003, 10.0, 36), np.geomspace(0.15, 5.0, 24))


def _pow3(x, t, T):
    return -np.exp(-_POW3_ALPHA * np.log(x))


def _pow4(x, t, T):
    s = _POW4_S * T                                  # the shift, in steps
    return -np.exp(-_POW4_ALPHA * np.log((x + s) / (1.0 + s)))


def _exp3(x, t, T):
    return -np.exp(-t / _EXP3_TAU)


def _weibull(x, t, T):
    return -np.exp(-np.exp(_WEIBULL_DELTA * np.log(t / _WEIBULL_TAU)))


def _mmf(x, t, T):
    return -1.0 / (1.0 + np.exp(_MMF_DELTA * np.log(t / _MMF_TAU)))


def _ilog2(x, t, T):
    return (-1.0 / np.log(x + 1.0))[None, :]


def _loglinear(x, t, T):
    return np.log(x)[None, :]


class _Family(NamedTuple):
    name: str
    n_params: int            # c, a and the nonlinear parameters
    basis: Any               # (x, t, T) -> phi, shape (grid points, len(x))
    drift: bool              # also fitted with an added d * log(x), d >= 0


#: The learning-curve families, each ``c + a * phi_theta(x)`` with ``a >= 0``.
FAMILIES: tuple[_Family, ...] = (
    _Family("pow3", 3, _pow3, True),
    _Family("pow4", 4, _pow4, True),
    _Family("exp3", 3, _exp3, True),
    _Family("weibull", 4, _weibull, True),
    _Family("mmf", 4, _mmf, True),
    _Family("ilog2", 2, _ilog2, False),
    _Family("loglinear", 2, _loglinear, False),
)


class Prediction(NamedTuple):
    """The predicted value at ``step``, in the metric's own units, and the family weights."""
    mean: float
    std: float
    step: int
    weights: dict[str, float]


class _Mixture(NamedTuple):
    lo: float                # score = lo + scale * z
    scale: float
    weight: np.ndarray       # mixture components (normalised score units)
    mean: np.ndarray
    std: np.ndarray
    family_weight: dict[str, float]
    step: int


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


@register("curve_fit", "assessor", nni_name="NaspCurveFit")
class CurveFit(EarlyStopper):
    """Curve-fitting extrapolation: stop a trial unlikely to beat the best finished trial at ``max_step``.

    A weighted combination of parametric learning-curve families (Domhan et al. 2015), fitted to the
    partial curve, predicts the value at ``max_step`` with its uncertainty; the trial stops when the
    probability that it beats the best final value of the completed trials is below ``threshold``.
    It judges only from ``start_step`` reports on and once ``min_completed`` trials have finished;
    missing or NaN reports are skipped, and a curve it cannot fit (fewer than four finite points,
    a constant curve, overflowing values) is never stopped. ``max_step`` defaults to the longest
    completed curve. Deterministic: ``seed`` is accepted for the common interface and unused.

    Example::

        >>> from tuners.curve_fit import CurveFit
        >>> c = CurveFit(max_step=20, start_step=6)
        >>> c.complete("a", [0.95 - 0.5 * 0.8 ** x for x in range(20)])
        >>> c.should_stop("b", [0.6 - 0.5 * 0.7 ** x for x in range(8)])
        True
    """

    def __init__(self, *, max_step: int | None = None, start_step: int = 6, threshold: float = 0.05,
                 min_completed: int = 1, max_fit_points: int = 64, mode: str = "max",
                 seed: int | None = None):
        if max_step is not None and (not _is_int(max_step) or max_step < 2):
            raise ValueError(f"max_step must be an integer >= 2 (the final step) or null, got {max_step!r}")
        for key, value in (("start_step", start_step), ("min_completed", min_completed)):
            if not _is_int(value) or value < 1:
                raise ValueError(f"{key} must be a positive integer, got {value!r}")
        if max_step is not None and start_step >= max_step:
            raise ValueError(f"start_step must be smaller than max_step={max_step}, got {start_step!r}")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or \
                not 0 < threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
        if not _is_int(max_fit_points) or max_fit_points < 2 * _MIN_POINTS:
            raise ValueError(f"max_fit_points must be an integer >= {2 * _MIN_POINTS}, got {max_fit_points!r}")
        super().__init__(mode=mode, seed=seed)
        self.max_step = None if max_step is None else int(max_step)
        self.start_step = int(start_step)
        self.threshold = float(threshold)
        self.min_completed = int(min_completed)
        self.max_fit_points = int(max_fit_points)
        self._completed: dict[str, tuple[int, float]] = {}     # trial -> (length, final score)

    # -- the contract ---------------------------------------------------------------------------
    def should_stop(self, trial_id: str, curve: Sequence[Any], config: Mapping | None = None) -> bool:
        curve = list(curve)
        if len(curve) < self.start_step:
            return False
        p = self.probability_of_improvement(curve)
        return p is not None and p < self.threshold

    def complete(self, trial_id: str, curve: Sequence[Any], success: bool = True,
                 config: Mapping | None = None) -> None:
        if not success:
            return
        values = [as_metric(v) for v in curve]
        finite = [v for v in values if v is not None]
        if finite:    # the final value is the last finite report
            self._completed[str(trial_id)] = (len(values), self.score(finite[-1]))

    # -- the model ------------------------------------------------------------------------------
    @property
    def best_final(self) -> float | None:
        """The best final value of the completed trials (metric units), or None before ``min_completed``."""
        if len(self._completed) < self.min_completed:
            return None
        return self.score(max(s for _, s in self._completed.values()))

    def horizon(self) -> int | None:
        """``max_step``, or the length of the longest completed curve when it is not set."""
        if self.max_step is not None:
            return self.max_step
        return max((n for n, _ in self._completed.values()), default=None)

    def predict(self, curve: Sequence[Any], step: int | None = None) -> Prediction | None:
        """The predicted value at ``step`` (default :meth:`horizon`): mean and std of the model
        average, in the metric's units; None when the curve cannot be fitted."""
        mix = self._mixture(list(curve), step)
        if mix is None:
            return None
        mean = float(np.dot(mix.weight, mix.mean))
        var = float(np.dot(mix.weight, mix.std ** 2 + (mix.mean - mean) ** 2))
        value = mix.lo + mix.scale * mean
        return Prediction(value if self.mode == "max" else -value, mix.scale * math.sqrt(max(var, 0.0)),
                          mix.step, mix.family_weight)

    def probability_of_improvement(self, curve: Sequence[Any]) -> float | None:
        """P(the value at :meth:`horizon` beats :attr:`best_final`); None when there is nothing to
        compare with or the curve cannot be fitted."""
        best = self.best_final
        if best is None:
            return None
        mix = self._mixture(list(curve), None)
        if mix is None:
            return None
        with np.errstate(all="ignore"):
            target = (self.score(best) - mix.lo) / mix.scale
            if math.isnan(target):
                return None
            p = float(np.dot(mix.weight, ndtr((mix.mean - target) / mix.std)))
        return p if math.isfinite(p) else None

    def _mixture(self, curve: list, step: int | None) -> _Mixture | None:
        T = self.horizon() if step is None else step
        if T is None or not _is_int(T) or len(curve) >= T:
            return None       # no horizon yet, or the trial is already at its last step
        values = [as_metric(v) for v in curve]
        x = np.array([i + 1 for i, v in enumerate(values) if v is not None], dtype=float)
        if len(x) < _MIN_POINTS:
            return None
        y = np.array([self.score(v) for v in values if v is not None], dtype=float)
        if len(x) > self.max_fit_points:      # evenly spaced, keeping the first and the last report
            keep = np.unique(np.round(np.linspace(0, len(x) - 1, self.max_fit_points)).astype(int))
            x, y = x[keep], y[keep]
        lo, hi = float(y.min()), float(y.max())
        scale = hi - lo
        if not math.isfinite(scale) or scale <= 1e-9 * max(abs(lo), abs(hi)) or scale < 1e-300:
            return None       # flat (no noise or shape to estimate) or overflowing
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return self._fit(x, (y - lo) / scale, int(T), lo, scale)

    @staticmethod
    def _fit(x: np.ndarray, z: np.ndarray, T: int, lo: float, scale: float) -> _Mixture | None:
        n = len(x)
        xs = np.append(x, float(T))            # the last column is the extrapolated step
        ts = xs / T
        w = ts[:n]                             # report x has noise variance sigma^2 * T / x
        W = float(w.sum())
        zbar = float(w @ z) / W
        zc = z - zbar
        szz = float(w @ (zc * zc))
        floor = _NOISE_FLOOR ** 2
        # The drift term log x, centred; alone (d >= 0) it is the boundary of the joint fits below.
        psi = np.log(xs)
        psibar = float(w @ psi[:n]) / W
        psic, lpsi = psi[:n] - psibar, float(psi[n] - psibar)
        spsi, spsiz = float(w @ (psic * psic)), float(w @ (psic * zc))
        d1 = max(spsiz, 0.0) / spsi
        sse_d, m_d, h_d = szz - d1 * spsiz, zbar + d1 * lpsi, 1.0 / W + (lpsi ** 2 / spsi if d1 > 0 else 0.0)

        models = []      # (name, parameters, means, leverages, SSEs, residuals of the best fit)

        def add(name: str, k: int, m: np.ndarray, h: np.ndarray, sse: np.ndarray, resid) -> None:
            ok = np.isfinite(m) & np.isfinite(h) & np.isfinite(sse)
            if ok.any():
                i = int(np.argmin(np.where(ok, sse, np.inf)))
                models.append((name, k, m[ok], h[ok], sse[ok], resid(i) * np.sqrt(w)))

        for family in FAMILIES:
            if n - family.n_params < _MIN_DOF:
                continue
            phi = family.basis(xs, ts, T)
            pbar = (phi[:, :n] @ w) / W
            pc = phi[:, :n] - pbar[:, None]
            lever = phi[:, n] - pbar                              # extrapolated step, centred
            pcw = pc * w
            spp = np.einsum("ij,ij->i", pcw, pc)
            spz = pcw @ zc
            free = (spp > 1e-12) & (spz > 0)
            spp1 = np.where(free, spp, 1.0)
            a = np.where(free, spz / spp1, 0.0)                   # a >= 0: the curve never falls
            sse = np.maximum(szz - a * spz, 0.0)
            m = zbar + a * lever
            h = 1.0 / W + np.where(free, lever ** 2 / spp1, 0.0)
            add(family.name, family.n_params, m, h, sse, lambda i: zc - a[i] * pc[i])
            if not family.drift or n - family.n_params - 1 < _MIN_DOF:
                continue
            # c + a phi + d log x, a, d >= 0: the joint least squares fit where both come out
            # non-negative, else the better boundary (a only, or d only).
            sppsi = pcw @ psic
            det = spp * spsi - sppsi ** 2
            good = det > 1e-10 * spp * spsi
            det1 = np.where(good, det, 1.0)
            a2 = (spsi * spz - sppsi * spsiz) / det1
            d2 = (spp * spsiz - sppsi * spz) / det1
            inner = good & (a2 >= 0) & (d2 >= 0)
            use_d = ~inner & (sse_d < sse)
            sse2 = np.where(inner, np.maximum(szz - a2 * spz - d2 * spsiz, 0.0), np.where(use_d, sse_d, sse))
            m2 = np.where(inner, zbar + a2 * lever + d2 * lpsi, np.where(use_d, m_d, m))
            h2 = np.where(inner, 1.0 / W + (spsi * lever ** 2 - 2 * sppsi * lever * lpsi + spp * lpsi ** 2) / det1,
                          np.where(use_d, h_d, h))

            def resid(i: int) -> np.ndarray:
                if inner[i]:
                    return zc - a2[i] * pc[i] - d2[i] * psic
                return zc - d1 * psic if use_d[i] else zc - a[i] * pc[i]

            add(family.name + "+log", family.n_params + 1, m2, h2, sse2, resid)
        if not models:
            return None
        # Residuals of a smooth curve around an imperfect family are correlated, not independent:
        # with their lag-1 autocorrelation rho (AR(1)), n reports carry n / kappa reports' worth of
        # information, kappa = (1 + rho) / (1 - rho), and the linear parameters kappa times the variance.
        # The residuals include white noise of at least the floor's variance, so a fit that is
        # exact but for a smooth misfit below the floor (a clean synthetic curve) is not discounted.
        r = min(models, key=lambda mod: float(mod[4].min()))[5]
        rho = min(max(float(r[:-1] @ r[1:]) / (float(r @ r) + n * floor), 0.0), _MAX_RHO)
        kappa = (1.0 + rho) / (1.0 - rho)
        n_eff = n / kappa
        means, stds, posts, bics = [], [], [], []
        for name, k, m, h, sse, _ in models:
            log_mse = np.log(sse / n + floor)
            best = float(log_mse.min())
            bics.append(n_eff * best + k * math.log(max(n_eff, 2.0)))
            # Within a model, the grid posterior keeps all n reports: tempering it by 1 / kappa as
            # well spread clean curves' predictions far too wide without better LCBench decisions.
            post = np.exp(-0.5 * n * (log_mse - best))
            posts.append(post / post.sum())
            means.append(m)
            stds.append(np.sqrt(np.maximum(sse / (n - k), floor) * (1.0 + kappa * h)))
        bic = np.array(bics)
        fam = np.exp(-0.5 * (bic - bic.min()))
        fam /= fam.sum()
        weight = np.concatenate([post * f for post, f in zip(posts, fam)])
        weight /= weight.sum()
        return _Mixture(lo, scale, weight, np.concatenate(means), np.concatenate(stds),
                        {mod[0]: float(f) for mod, f in zip(models, fam)}, T)
