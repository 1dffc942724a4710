"""The working space the solvers see, and the map back to the user's units.

Every solver works on the *design matrix*

    A = [ (X - shift) / scale , 1 ]

where ``X`` is the (n, d) block of raw features, ``shift`` and ``scale`` are
length-d vectors, and the trailing column of ones is present only when an
intercept is fitted.  The working weight vector ``w`` therefore has length
``p = d + fit_intercept`` with the intercept weight LAST.

With ``--standardize`` and an intercept, ``shift`` is the feature mean and
``scale`` the population standard deviation (columns centred, unit variance),
which makes the intercept column orthogonal to the others.  Without an
intercept, centring would change the model, so ``shift`` is zero and ``scale``
is the root mean square of the column.  Without ``--standardize``: shift 0,
scale 1, and the solvers see the raw features (and their conditioning).

Predictions are unchanged by the reparametrisation:

    A w = X coef + intercept,  coef_j = w_j / scale_j,
    intercept = w_int - sum_j coef_j * shift_j.

Both maps are linear, ``[coef, intercept] = T @ w``; ``T`` is what carries a
covariance matrix from working to original units (``T C T^T``).
"""

from __future__ import annotations

import numpy as np


def constant_columns(mean, std, rel=1e-12):
    """Mask of columns whose spread is zero up to rounding (``std <= rel * |mean|``).

    The moments pass computes a constant column's spread as a few ulps of its
    mean rather than exactly zero; scaling by that would blow rounding noise
    up into a unit-variance column.
    """
    mean, std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
    return std <= rel * np.abs(mean)


def standardization(mean, std, rms, fit_intercept, standardize):
    """Choose ``shift`` and ``scale`` for the design matrix.

    Parameters
    ----------
    mean, std, rms : ndarray of shape (d,)
        Column mean, population standard deviation and root mean square.
    fit_intercept, standardize : bool

    Returns
    -------
    shift, scale : ndarray of shape (d,)
        A column with zero spread keeps ``scale = 1`` (it is reported as
        constant elsewhere; dividing by zero would only hide it).
    """
    mean = np.asarray(mean, dtype=np.float64)
    d = mean.shape[0]
    if not standardize:
        return np.zeros(d), np.ones(d)
    if fit_intercept:
        shift, spread = mean.copy(), np.asarray(std, dtype=np.float64)
        flat = constant_columns(mean, spread)
    else:
        shift, spread = np.zeros(d), np.asarray(rms, dtype=np.float64)
        flat = spread == 0
    scale = np.where(flat, 1.0, spread)
    return shift, scale


def design_matrix(X, shift, scale, fit_intercept):
    """Return ``A = [(X - shift) / scale, 1]`` (the ones column only with an intercept)."""
    Z = (np.asarray(X, dtype=np.float64) - shift) / scale
    if fit_intercept:
        return np.hstack([Z, np.ones((Z.shape[0], 1))])
    return Z


def back_transform_matrix(shift, scale, fit_intercept):
    """The matrix ``T`` with ``[coef, intercept] = T @ w``.

    Without an intercept, the output is ``coef`` alone and ``T`` is (d, d).
    """
    shift = np.asarray(shift, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    d = shift.shape[0]
    if not fit_intercept:
        return np.diag(1.0 / scale)
    T = np.zeros((d + 1, d + 1))
    T[:d, :d] = np.diag(1.0 / scale)
    T[d, :d] = -shift / scale
    T[d, d] = 1.0
    return T


def to_original(w, shift, scale, fit_intercept):
    """Map working weights to ``(coef, intercept)`` in the user's units.

    Returns
    -------
    coef : ndarray of shape (d,)
    intercept : float (0.0 without an intercept)
    """
    w = np.asarray(w, dtype=np.float64)
    d = len(shift)
    coef = w[:d] / scale
    if not fit_intercept:
        return coef, 0.0
    return coef, float(w[d] - np.dot(coef, shift))


def to_working(coef, intercept, shift, scale, fit_intercept):
    """Inverse of :func:`to_original` (used to warm-start from a stored model)."""
    coef = np.asarray(coef, dtype=np.float64)
    w = coef * scale
    if not fit_intercept:
        return w
    return np.append(w, intercept + np.dot(coef, shift))
