"""Elastic net in the working space: coordinate descent on the Gram matrix, the path.

Objective (glmnet's; see :mod:`mrlinreg.numerics.scaling` for ``A`` and ``w``,
intercept last)::

    F(w) = ||y - A w||^2 / (2 n) + l1 ||M w||_1 + (l2 / 2) ||M w||^2

with ``M = diag(mask)``, ``mask`` 1 on the feature weights and 0 on the
intercept (:func:`mrlinreg.numerics.ridge.penalty_mask`): the penalties act on
standardised feature weights and never on the intercept.  scikit-learn's
``ElasticNet(alpha, l1_ratio)`` is the same objective with
``l1 = alpha * l1_ratio`` and ``l2 = alpha * (1 - l1_ratio)``.

Everything the ``stats`` strategy needs is in the R factor of ``[A y]``
(no data pass): with ``R^T R = [A y]^T [A y]``,

    G = (R^T R)[:p, :p] / n = A^T A / n,    b = (R^T R)[:p, p] / n = A^T y / n.

Coordinate descent (Friedman, Hastie & Tibshirani 2010, "covariance updates")
keeps ``c = b - G w = A^T (y - A w) / n`` and sets, one coordinate at a time,

    w_j <- S(c_j + G_jj w_j, l1 m_j) / (G_jj + l2 m_j),   S(z, t) = sign(z) max(|z| - t, 0),
    c   <- c - G[:, j] (w_j_new - w_j_old).

``S`` returns an exact 0.0, so a dropped feature stays exactly zero.  After a
full sweep, sweeps run on the active set (non-zero weights) alone until the
largest coordinate change ``max_j |dw_j| sqrt(G_jj)`` (the change in the fit's
RMS, units of ``y``) is below ``tol``; then a full sweep checks that no other
coordinate wants in.  Pure ridge (``l1 = 0``) and OLS are solved exactly on
the R factor instead (:func:`fit_r`).

The path (:func:`enet_path`) scales ``l1`` and ``l2`` together keeping
glmnet's mixing ``alpha = l1 / (l1 + l2)``: ``l1 = alpha s``,
``l2 = (1 - alpha) s`` for ``N`` scales ``s`` log-spaced from

    s_max = max_j |A_j^T (y - ybar)| / (n max(alpha, 1e-3))

(the smallest scale at which every feature weight is zero; for pure ridge
glmnet's convention ``alpha = 0.001``) down to ``eps s_max``, ``eps = 1e-3``
when ``n > d`` else ``1e-2``.  Each fit warm-starts from the previous one.

The ``passes`` strategy's solver of the same objective (FISTA, one pass per
iteration) is :mod:`mrlinreg.numerics.fista`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular

from mrlinreg.errors import OptionError
from mrlinreg.numerics import ridge, scaling
from mrlinreg.numerics.solvers import DivergenceError

__all__ = ["EnetFit", "EnetPath", "coordinate_descent", "enet_objective",
           "enet_path", "fit_enet_r", "fit_r", "gram_from_r", "lambda_max", "mixing", "path_scales",
           "path_to_original", "soft_threshold"]

RIDGE_ALPHA_FLOOR = 1e-3   # glmnet's alpha for lambda_max when alpha = 0


def soft_threshold(z, t):
    """``S(z, t) = sign(z) max(|z| - t, 0)``, exactly 0.0 when ``|z| <= t``."""
    z = np.asarray(z, dtype=np.float64)
    return np.where(np.abs(z) > t, z - np.sign(z) * t, 0.0)


def gram_from_r(R_aug, n):
    """``G = A^T A / n``, ``b = A^T y / n``, ``yy = y^T y / n`` from the R factor of ``[A y]``."""
    R_aug = np.asarray(R_aug, dtype=np.float64)
    full = (R_aug.T @ R_aug) / n
    return full[:-1, :-1], full[:-1, -1], float(full[-1, -1])


def _check_penalties(l1, l2):
    for name, v in (("l1", l1), ("l2", l2)):
        if not (np.isfinite(v) and v >= 0):
            raise OptionError(f"<opt:{name}> must be a non-negative number", name)


def enet_objective(R_aug, n, w, l1, l2, mask):
    """``F(w)`` of the module docstring, with ``||y - A w||^2 = ||R [w; -1]||^2``."""
    w = np.asarray(w, dtype=np.float64)
    r = np.asarray(R_aug) @ np.append(w, -1.0)
    mw = np.asarray(mask) * w
    return float(r @ r / (2 * n) + l1 * np.abs(mw).sum() + 0.5 * l2 * mw @ mw)


@dataclass
class EnetFit:
    """One coordinate-descent fit: the weights, sweeps done, whether it converged."""

    w: np.ndarray
    sweeps: int
    converged: bool

    def selected(self, mask):
        """Indices of the penalised (feature) weights that are not exactly zero."""
        return np.flatnonzero((np.asarray(mask) > 0) & (self.w != 0.0))


def coordinate_descent(G, b, l1, l2, mask, w0=None, tol=1e-12, max_sweeps=100_000):
    """Minimise ``w^T G w / 2 - b^T w + l1 ||M w||_1 + (l2/2) ||M w||^2`` by coordinate descent.

    With ``G = A^T A / n`` and ``b = A^T y / n`` this is ``F(w)`` less the
    constant ``y^T y / (2 n)``.  See the module docstring for the update and
    the active-set strategy.

    Parameters
    ----------
    G : ndarray of shape (p, p)
    b : ndarray of shape (p,)
    l1, l2 : float
        Non-negative penalties.
    mask : ndarray of shape (p,)
        1 where penalised, 0 for the intercept.
    w0 : ndarray of shape (p,), optional
        Warm start (zeros by default).
    tol : float
        Converged when a full sweep changes no coordinate by more than
        ``tol`` in ``|dw_j| sqrt(G_jj)``.
    max_sweeps : int

    Returns
    -------
    EnetFit
    """
    _check_penalties(l1, l2)
    G = np.asarray(G, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    mask = np.asarray(mask, dtype=np.float64)
    p = b.shape[0]
    w = np.zeros(p) if w0 is None else np.array(w0, dtype=np.float64)
    c = b - G @ w
    diag = np.diag(G).copy()
    denom = diag + l2 * mask
    thresh = l1 * mask
    root = np.sqrt(np.maximum(diag, 0.0))
    live = denom > 0   # an all-zero unpenalised column cannot move

    def sweep(coords):
        nonlocal c
        biggest = 0.0
        for j in coords:
            old = w[j]
            z = c[j] + diag[j] * old
            if thresh[j] > 0:
                new = (z - thresh[j] if z > thresh[j] else z + thresh[j] if z < -thresh[j]
                       else 0.0) / denom[j]
            else:
                new = z / denom[j]
            if new != old:
                c = c - G[:, j] * (new - old)
                w[j] = new
                biggest = max(biggest, abs(new - old) * root[j])
        return biggest

    everything = np.flatnonzero(live)
    sweeps = 0
    while sweeps < max_sweeps:
        change = sweep(everything)
        sweeps += 1
        if change <= tol:
            return EnetFit(w, sweeps, True)
        active = np.flatnonzero(live & ((w != 0.0) | (mask == 0)))
        while sweeps < max_sweeps:
            change = sweep(active)
            sweeps += 1
            if change <= tol:
                break
    return EnetFit(w, sweeps, False)


def fit_r(R_aug, n, l2, mask):
    """Exact ridge (``l1 = 0``) or OLS (``l2 = 0``) weights from the R factor of ``[A y]``.

    The ridge rows ``sqrt(n l2) [M 0]`` are folded into the factor
    (:func:`ridge.augment_r`) and ``w = R^{-1} z`` by back substitution.
    """
    R_aug = np.asarray(R_aug, dtype=np.float64)
    if l2 > 0:
        R_aug = ridge.augment_r(R_aug, n, l2, mask)
    R, z = R_aug[:-1, :-1], R_aug[:-1, -1]
    if np.any(np.diag(R) == 0):
        raise DivergenceError(
            "the design is rank deficient for an unpenalised fit: drop the dependent "
            "columns or add a penalty with <opt:l2>")
    return solve_triangular(R, z)


def lambda_max(G, b, alpha, fit_intercept):
    """``s_max = max_j |A_j^T (y - ybar)| / (n max(alpha, 1e-3))`` over the feature columns.

    From ``G`` and ``b`` (``/ n`` already): ``A_j^T (y - ybar) / n = b_j - G_{j,int} b_int``
    with an intercept (``G_{j,int}`` is the column mean of ``A_j`` and ``b_int`` is
    ``ybar``), ``b_j`` without.
    """
    G, b = np.asarray(G), np.asarray(b)
    p = b.shape[0]
    d = p - int(fit_intercept)
    corr = b[:d] - G[:d, -1] * b[-1] if fit_intercept else b[:d]
    return float(np.max(np.abs(corr)) / max(alpha, RIDGE_ALPHA_FLOOR)) if d else 0.0


def path_scales(s_max, n_lambdas, n, d, eps=None):
    """``n_lambdas`` scales log-spaced from ``s_max`` down to ``eps s_max`` (decreasing).

    ``eps`` defaults to 1e-3 when ``n > d`` else 1e-2 (glmnet's ``lambda.min.ratio``).
    """
    if int(n_lambdas) < 1:
        raise OptionError("<opt:path> must be a positive number of penalties", "path")
    if eps is None:
        eps = 1e-3 if n > d else 1e-2
    if n_lambdas == 1:
        return np.array([float(s_max)])
    return float(s_max) * np.power(float(eps), np.arange(n_lambdas) / (n_lambdas - 1))


@dataclass
class EnetPath:
    """Fits along a path of penalty scales ``s``: ``l1 = alpha s``, ``l2 = (1 - alpha) s``.

    ``coef`` (N, d) and ``intercept`` (N,) are in the working space;
    :func:`path_to_original` maps them to the user's units.
    """

    lambdas: np.ndarray
    alpha: float
    coef: np.ndarray
    intercept: np.ndarray
    sweeps: np.ndarray
    converged: np.ndarray
    has_intercept: bool = True

    @property
    def l1(self):
        return self.alpha * self.lambdas

    @property
    def l2(self):
        return (1.0 - self.alpha) * self.lambdas

    def weights(self, i):
        """Working weights of the ``i``-th fit (intercept last, when fitted)."""
        return np.append(self.coef[i], self.intercept[i]) if self.has_intercept else self.coef[i]


def mixing(l1, l2):
    """glmnet's ``alpha = l1 / (l1 + l2)``; 1 (lasso) when both are zero."""
    _check_penalties(l1, l2)
    return 1.0 if l1 + l2 == 0 else float(l1) / (float(l1) + float(l2))


def fit_enet_r(R_aug, n, l1, l2, mask, w0=None, tol=1e-12, max_sweeps=100_000):
    """One elastic-net fit on the R factor: exact when ``l1 = 0``, coordinate descent otherwise."""
    if l1 == 0:
        return EnetFit(fit_r(R_aug, n, l2, mask), 0, True)
    G, b, _ = gram_from_r(R_aug, n)
    return coordinate_descent(G, b, l1, l2, mask, w0=w0, tol=tol, max_sweeps=max_sweeps)


def enet_path(R_aug, n, *, alpha, fit_intercept, n_lambdas=100, lambdas=None, eps=None,
              tol=1e-12, max_sweeps=100_000) -> EnetPath:
    """Elastic-net fits along a decreasing path of penalty scales, warm-started.

    Parameters
    ----------
    R_aug : ndarray of shape (p+1, p+1)
        R factor of ``[A y]``.
    n : int
        Rows behind ``R_aug`` (the ``n`` of ``1/(2n)``).
    alpha : float
        Mixing ``l1 / (l1 + l2)`` in [0, 1] (:func:`mixing`).
    fit_intercept : bool
        Whether the last column of ``A`` is the (unpenalised) ones column.
    n_lambdas : int
        ``N`` (``--path N``) when ``lambdas`` is not given.
    lambdas : array_like, optional
        Scales to use instead (a cross-validation fold uses the full data's).
    eps : float, optional
        See :func:`path_scales`.

    Returns
    -------
    EnetPath
    """
    if not (0.0 <= alpha <= 1.0):
        raise OptionError("the mixing l1 / (l1 + l2) must be in [0, 1]", "l1")
    R_aug = np.asarray(R_aug, dtype=np.float64)
    p = R_aug.shape[0] - 1
    d = p - int(fit_intercept)
    mask = ridge.penalty_mask(d, fit_intercept)
    G, b, _ = gram_from_r(R_aug, n)
    if lambdas is None:
        lambdas = path_scales(lambda_max(G, b, alpha, fit_intercept), n_lambdas, n, d, eps)
    lambdas = np.asarray(lambdas, dtype=np.float64)
    W = np.zeros((len(lambdas), p))
    sweeps = np.zeros(len(lambdas), dtype=int)
    converged = np.zeros(len(lambdas), dtype=bool)
    w = None
    for i, s in enumerate(lambdas):
        l1, l2 = alpha * s, (1.0 - alpha) * s
        if l1 == 0:
            fit = EnetFit(fit_r(R_aug, n, l2, mask), 0, True)
        else:
            fit = coordinate_descent(G, b, l1, l2, mask, w0=w, tol=tol, max_sweeps=max_sweeps)
        w = fit.w
        W[i], sweeps[i], converged[i] = w, fit.sweeps, fit.converged
    return EnetPath(lambdas=lambdas, alpha=float(alpha), coef=W[:, :d],
                    intercept=W[:, d] if fit_intercept else np.zeros(len(lambdas)),
                    sweeps=sweeps, converged=converged, has_intercept=bool(fit_intercept))


def path_to_original(path: EnetPath, shift, scale):
    """The path's coefficients (N, d) and intercepts (N,) in the user's units.

    Row by row :func:`scaling.to_original` of :meth:`EnetPath.weights`.
    """
    out = [scaling.to_original(path.weights(i), shift, scale, path.has_intercept)
           for i in range(len(path.lambdas))]
    return np.array([c for c, _ in out]).reshape(len(out), -1), np.array([b for _, b in out])
