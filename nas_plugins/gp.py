"""A small exact Gaussian process for Bayesian optimization, in numpy/scipy only.

* Kernel: Matern-5/2 with one lengthscale per *group* of input columns (ARD; a one-hot encoded
  choice is one group, so it gets one lengthscale), a signal variance and a noise variance.
* Hyperparameters ``theta = [log l_1 .. log l_G, log signal, log noise]`` are the maximum a
  posteriori estimate (L-BFGS-B, analytic gradient) under weak normal priors (mean, sd): lengthscales
  ``log l ~ (sqrt(2) + log(G) / 2, sqrt(3))`` (the dimension-scaled prior of Hvarfner et al., 2024,
  for inputs in the unit cube), ``log signal ~ (0, 1)`` (outputs are standardised), ``log noise ~ (-4, 1)``.
  :func:`fit` starts from a given ``theta`` (the previous fit: a warm start) and from the prior's
  mode, and keeps the best.
* :class:`Posterior` holds the Cholesky factor; :meth:`Posterior.extend` adds rows (e.g. the
  "lies" of a constant-liar batch) by a block Cholesky update, without refactorising.
* :func:`yeo_johnson` warps outputs (the power by maximum likelihood), as HEBO does.
* Acquisition functions on the posterior of a quantity to *minimise*: :func:`log_ei`
  (log expected improvement, finite far from the incumbent), :func:`log_pi`, :func:`neg_lcb`.

Example::

    >>> import numpy as np
    >>> from nas_plugins.gp import Posterior, fit
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(20, 2))
    >>> y = np.sin(6 * X[:, 0]) + X[:, 1] ** 2
    >>> groups = np.array([0, 1])
    >>> theta = fit(X, y, groups)
    >>> post = Posterior(X, y, groups, theta)
    >>> mean, var = post.predict(X[:3])
    >>> bool(np.allclose(mean, y[:3], atol=0.05)), bool(np.all(var < 0.01))
    (True, True)
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.linalg import LinAlgError, cho_solve, cholesky, lapack, solve_triangular
from scipy.optimize import minimize
from scipy.special import erfcx, log_ndtr

__all__ = ["fit", "Posterior", "neg_log_posterior", "prior_mode", "bounds", "matern52",
           "log_ei", "log_pi", "neg_lcb", "acquisition_with_grad", "yeo_johnson"]

_SQRT5 = math.sqrt(5.0)
_LOG_2PI = math.log(2 * math.pi)
# Priors on the log hyperparameters (means; standard deviations): see the module docstring.
_LS_SD = math.sqrt(3.0)
_SIGNAL_MEAN, _SIGNAL_SD = 0.0, 1.0
_NOISE_MEAN, _NOISE_SD = -4.0, 1.0
# Box constraints on the log hyperparameters (lengthscales, signal, noise).
_LS_BOUNDS = (math.log(1e-3), math.log(1e3))
_SIGNAL_BOUNDS = (math.log(1e-2), math.log(1e2))
_NOISE_BOUNDS = (math.log(1e-6), math.log(2.0))
_JITTER = 1e-8


def _ls_mean(n_groups: int) -> float:
    return math.sqrt(2.0) + 0.5 * math.log(max(1, n_groups))


def prior_mode(n_groups: int) -> np.ndarray:
    """The prior's mode: the default ``theta`` for ``n_groups`` lengthscales."""
    return np.array([_ls_mean(n_groups)] * n_groups + [_SIGNAL_MEAN, _NOISE_MEAN])


def bounds(n_groups: int) -> list[tuple[float, float]]:
    """L-BFGS-B box for ``theta``."""
    return [_LS_BOUNDS] * n_groups + [_SIGNAL_BOUNDS, _NOISE_BOUNDS]


def _prior_sd(n_groups: int) -> np.ndarray:
    return np.array([_LS_SD] * n_groups + [_SIGNAL_SD, _NOISE_SD])


def matern52(r2: np.ndarray, signal: float) -> np.ndarray:
    """Matern-5/2 covariance for squared scaled distances ``r2``."""
    r = np.sqrt(np.maximum(r2, 0.0))
    return signal * (1.0 + _SQRT5 * r + (5.0 / 3.0) * r2) * np.exp(-_SQRT5 * r)


def _group_sq_dists(X: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """``(n, n, G)``: squared differences summed over each group's columns."""
    n = X.shape[0]
    out = np.zeros((n, n, n_groups))
    for c in range(X.shape[1]):
        d = X[:, c, None] - X[None, :, c]
        out[:, :, groups[c]] += d * d
    return out


def _cholesky(K: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor, with growing jitter if ``K`` is numerically indefinite."""
    jitter = _JITTER
    for _ in range(6):
        try:
            return cholesky(K, lower=True, check_finite=False)
        except LinAlgError:
            K = K + jitter * np.eye(K.shape[0])
            jitter *= 100
    return cholesky(K + jitter * np.eye(K.shape[0]), lower=True, check_finite=False)


def neg_log_posterior(theta: np.ndarray, D: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Negative log marginal likelihood plus negative log prior (up to a constant), and its gradient.

    ``D`` is :func:`_group_sq_dists` of the inputs; ``y`` the (standardised) outputs."""
    n, _, G = D.shape
    inv_l2 = np.exp(-2.0 * theta[:G])
    signal, noise = math.exp(theta[G]), math.exp(theta[G + 1])
    r2 = D @ inv_l2
    r = np.sqrt(np.maximum(r2, 0.0))
    e = np.exp(-_SQRT5 * r)
    K0 = signal * (1.0 + _SQRT5 * r + (5.0 / 3.0) * r2) * e
    K = K0.copy()
    K[np.diag_indices(n)] += noise + _JITTER
    try:
        L = cholesky(K, lower=True, check_finite=False)
    except LinAlgError:
        return 1e10, np.zeros_like(theta)
    alpha = cho_solve((L, True), y, check_finite=False)
    nll = 0.5 * float(y @ alpha) + float(np.log(np.diag(L)).sum()) + 0.5 * n * _LOG_2PI
    Kinv = lapack.dpotri(L, lower=1)[0]                     # the inverse from the factor (lower triangle)
    Kinv = np.tril(Kinv) + np.tril(Kinv, -1).T
    W = np.outer(alpha, alpha) - Kinv                       # d nll / d K = -W / 2
    A = W * ((5.0 / 3.0) * signal * (1.0 + _SQRT5 * r) * e)   # d K / d log l_g = A-part * D_g / l_g^2
    grad = np.empty_like(theta)
    grad[:G] = -0.5 * (A.reshape(-1) @ D.reshape(-1, G)) * inv_l2
    grad[G] = -0.5 * float((W * K0).sum())
    grad[G + 1] = -0.5 * noise * float(np.trace(W))
    mean, sd = prior_mode(G), _prior_sd(G)
    z = (theta - mean) / sd
    return nll + 0.5 * float(z @ z), grad + z / sd


def fit(X: np.ndarray, y: np.ndarray, groups: np.ndarray, theta0: np.ndarray | None = None,
        max_iter: int = 100) -> np.ndarray:
    """MAP hyperparameters for inputs ``X`` (n, columns) and outputs ``y`` (n,), ``groups[c]`` the
    lengthscale of column ``c``. Starts from ``theta0`` (if given) and from the prior's mode."""
    G = int(groups.max()) + 1 if groups.size else 0
    D = _group_sq_dists(np.asarray(X, float), groups, G)
    y = np.asarray(y, float)
    starts = [prior_mode(G)]
    if theta0 is not None and len(theta0) == G + 2:
        starts.insert(0, np.clip(theta0, *np.array(bounds(G)).T))
    best_theta, best_value = starts[0], math.inf
    for start in starts:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = minimize(neg_log_posterior, start, args=(D, y), jac=True, method="L-BFGS-B",
                           bounds=bounds(G), options={"maxiter": max_iter})
        value = float(res.fun)
        if math.isfinite(value) and value < best_value:
            best_theta, best_value = np.asarray(res.x, float), value
    return best_theta


class Posterior:
    """The GP posterior for training data ``(X, y)`` at fixed hyperparameters ``theta`` (zero prior mean)."""

    def __init__(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray, theta: np.ndarray):
        self.groups = np.asarray(groups)
        G = int(self.groups.max()) + 1 if self.groups.size else 0
        self.theta = np.asarray(theta, float)
        self.inv_l = np.exp(-self.theta[:G])[self.groups]     # per column
        self.signal = math.exp(self.theta[G])
        self.noise = math.exp(self.theta[G + 1])
        self.X = np.asarray(X, float)
        self.y = np.asarray(y, float)
        K = self._k(self.X, self.X)
        K[np.diag_indices_from(K)] += self.noise + _JITTER
        self.L = _cholesky(K)
        self.alpha = cho_solve((self.L, True), self.y, check_finite=False)
        self._Kinv: np.ndarray | None = None

    def _k(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        a, b = A * self.inv_l, B * self.inv_l
        r2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
        return matern52(r2, self.signal)

    def extend(self, X_new: np.ndarray, y_new: np.ndarray) -> "Posterior":
        """A posterior with the rows ``(X_new, y_new)`` added, by a block update of the Cholesky factor."""
        X_new, y_new = np.atleast_2d(np.asarray(X_new, float)), np.atleast_1d(np.asarray(y_new, float))
        out = object.__new__(Posterior)
        out.__dict__.update(self.__dict__)
        if not len(y_new):
            return out
        B = solve_triangular(self.L, self._k(self.X, X_new), lower=True, check_finite=False)
        C = self._k(X_new, X_new)
        C[np.diag_indices_from(C)] += self.noise + _JITTER
        n, m = self.L.shape[0], len(y_new)
        L = np.zeros((n + m, n + m))
        L[:n, :n] = self.L
        L[n:, :n] = B.T
        L[n:, n:] = _cholesky(C - B.T @ B)
        out.L, out.X, out.y = L, np.vstack([self.X, X_new]), np.concatenate([self.y, y_new])
        out._Kinv = None
        out.alpha = cho_solve((L, True), out.y, check_finite=False)
        return out

    def predict(self, Xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance of the latent function (noise excluded) at the rows of ``Xs``."""
        Ks = self._k(np.asarray(Xs, float), self.X)
        mean = Ks @ self.alpha
        var = self.signal - np.einsum("ij,ij->i", Ks @ self._inverse(), Ks)
        return mean, np.maximum(var, 1e-12 * self.signal)

    def _inverse(self) -> np.ndarray:
        """``K^-1`` from the Cholesky factor, computed once (a matrix product predicts faster than
        triangular solves)."""
        if self._Kinv is None:
            Kinv = lapack.dpotri(self.L, lower=1)[0]
            self._Kinv = np.tril(Kinv) + np.tril(Kinv, -1).T
        return self._Kinv

    def predict_with_grad(self, Xs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`predict` and the gradients of the mean and the variance with respect to the rows of ``Xs``."""
        Xs = np.asarray(Xs, float)
        a, b = Xs * self.inv_l, self.X * self.inv_l
        r2 = np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T, 0.0)
        r = np.sqrt(r2)
        e = np.exp(-_SQRT5 * r)
        Ks = self.signal * (1.0 + _SQRT5 * r + (5.0 / 3.0) * r2) * e
        dk_dr2 = -(5.0 / 6.0) * self.signal * (1.0 + _SQRT5 * r) * e               # (m, n)
        w = Ks @ self._inverse()                                                   # K^-1 k(x): (m, n)
        mean = Ks @ self.alpha
        var = self.signal - (Ks * w).sum(1)
        scale = 2.0 * self.inv_l ** 2

        def through_r2(A: np.ndarray) -> np.ndarray:
            """sum_i A[m, i] * d r2(x_m, X_i) / d x_m."""
            return scale * (Xs * A.sum(1)[:, None] - A @ self.X)

        dmean = through_r2(dk_dr2 * self.alpha[None, :])
        dvar = -2.0 * through_r2(dk_dr2 * w)
        floor = 1e-12 * self.signal
        dvar[var <= floor] = 0.0
        return mean, np.maximum(var, floor), dmean, dvar


# -- output warping ----------------------------------------------------------------------------------

_YJ_LAMBDAS = np.linspace(-3.0, 3.0, 241)


def yeo_johnson(x: np.ndarray) -> tuple[np.ndarray, float]:
    """The Yeo-Johnson transform of ``x`` with its power chosen by maximum likelihood (on a grid of
    step 0.025 over [-3, 3]: a vectorised search, no optimizer), and that power."""
    x = np.asarray(x, float)
    pos = x >= 0
    lam = _YJ_LAMBDAS[:, None]
    lp, ln = np.log1p(np.where(pos, x, 0.0)), np.log1p(np.where(pos, 0.0, -x))
    with np.errstate(all="ignore"):
        # x >= 0: ((x + 1)^lam - 1) / lam (log1p(x) at lam = 0); x < 0: -((1 - x)^(2 - lam) - 1) / (2 - lam)
        up = np.where(np.abs(lam) < 1e-12, lp, np.expm1(lam * lp) / np.where(np.abs(lam) < 1e-12, 1.0, lam))
        down = np.where(np.abs(2 - lam) < 1e-12, -ln,
                        -np.expm1((2 - lam) * ln) / np.where(np.abs(2 - lam) < 1e-12, 1.0, 2 - lam))
        psi = np.where(pos, up, down)
        llf = -0.5 * len(x) * np.log(psi.var(axis=1)) + (_YJ_LAMBDAS - 1) * (np.sign(x) * np.log1p(np.abs(x))).sum()
    llf[~np.isfinite(llf)] = -np.inf
    best = int(np.argmax(llf))
    return psi[best], float(_YJ_LAMBDAS[best])


# -- acquisition functions (of a quantity to minimise; larger is better) --------------------------

def _log_h(u: np.ndarray) -> np.ndarray:
    """``log(phi(u) + u * Phi(u))``, accurate for very negative ``u``."""
    u = np.asarray(u, float)
    out = np.empty_like(u)
    big = u > -1e3
    ub = u[big]
    # phi(u) + u Phi(u) = exp(-u^2/2) * (1/sqrt(2 pi) + u/2 * erfcx(-u/sqrt(2)))
    inner = 1.0 / math.sqrt(2 * math.pi) + 0.5 * ub * erfcx(-ub / math.sqrt(2.0))
    out[big] = -0.5 * ub * ub + np.log(np.maximum(inner, 1e-300))
    us = u[~big]     # asymptotically phi(u) / u^2
    out[~big] = -0.5 * us * us - 0.5 * _LOG_2PI - 2.0 * np.log(-us)
    return out


def log_ei(mean: np.ndarray, var: np.ndarray, best: float, xi: float = 0.0) -> np.ndarray:
    """Log expected improvement below ``best - xi``."""
    sd = np.sqrt(var)
    return np.log(sd) + _log_h((best - xi - mean) / sd)


def log_pi(mean: np.ndarray, var: np.ndarray, best: float, xi: float = 0.0) -> np.ndarray:
    """Log probability of improvement below ``best - xi``."""
    return log_ndtr((best - xi - mean) / np.sqrt(var))


def neg_lcb(mean: np.ndarray, var: np.ndarray, kappa: float = 1.96) -> np.ndarray:
    """Minus the lower confidence bound ``mean - kappa * sd``."""
    return -(mean - kappa * np.sqrt(var))


def acquisition_with_grad(name: str, mean: np.ndarray, var: np.ndarray, dmean: np.ndarray, dvar: np.ndarray,
                          best: float, xi: float = 0.0, kappa: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """``"EI"`` (:func:`log_ei`), ``"PI"`` (:func:`log_pi`) or ``"LCB"`` (:func:`neg_lcb`) and its
    gradient, from the posterior's (:meth:`Posterior.predict_with_grad`)."""
    sd = np.sqrt(var)
    dsd = dvar / (2.0 * sd[:, None])
    if name == "LCB":
        return neg_lcb(mean, var, kappa), -dmean + kappa * dsd
    u = (best - xi - mean) / sd
    du = (-dmean - u[:, None] * dsd) / sd[:, None]
    if name == "PI":
        value = log_ndtr(u)
        return value, np.exp(-0.5 * u * u - 0.5 * _LOG_2PI - value)[:, None] * du
    log_h = _log_h(u)
    ratio = np.exp(log_ndtr(u) - log_h)            # d log h / du = Phi(u) / h(u)
    return np.log(sd) + log_h, dsd / sd[:, None] + ratio[:, None] * du

