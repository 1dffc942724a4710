"""Validation curves of nested designs from R factors: every smaller model in one pass.

A *nested design* adds columns to a model in a fixed order: the first k features
for k = 1..p (``terms``), or the powers of the features up to degree k for
k = 1..K (``degree``).  With ``M = [A y] = Q R`` and the columns of ``A`` ordered
so that each smaller model is a *leading* block of columns (the intercept first,
then the groups of columns in the order they join), every nested model's fit
follows from the one R factor of the largest:

    R = [[R11, R12, z1],        model with the first m columns:
         [ 0 , R22, z2],          w_m   = R11^{-1} z1          (R11 is m x m)
         [ 0 ,  0 , rho]]         SSE_m = ||z2||^2 + rho^2     (the tail of R's
                                                                last column)

because ``Q`` is the same for every leading block.  The held-out error of each
model needs only the R factor of the validation data ``[A_v y_v]`` built with the
*same* shift and scale (one TSQR pass):

    SSE_val = ||A_v w - y_v||^2 = ||[A_v y_v] [w; -1]||^2 = ||R_v [w; -1]||^2,

where ``[w; -1]`` places ``w`` in the model's columns and zero elsewhere.  So one
pass over the training data and one over the validation data give training and
validation error against model size: the validation curve.

The columns of ``A`` follow :mod:`mrlinreg.numerics.scaling` (intercept LAST); the
R factor of the working order is re-triangularised for the nested order by one QR
of the small (k, k) matrix ``R P`` (``M P = Q (R P) = (Q Q') R'``), which is exact
in exact arithmetic and backward stable in floating point.

Polynomial expansion (:func:`expand_powers`) is degree-major: for features
``a, b`` and degree 3 the columns are ``a, b, a^2, b^2, a^3, b^3``, so the model
of degree k is the first ``k * d`` columns.  Powers are computed by repeated
multiplication (``x^j = x^(j-1) * x``).  Orthogonality is left to the QR: the
powers are only standardised (centred and scaled), never orthogonalised by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular

__all__ = ["expand_powers", "expanded_names", "nested_groups", "nested_order",
           "reorder_r", "NestedFit", "nested_fits", "validation_sse", "CURVE_KINDS"]

CURVE_KINDS = ("degree", "terms")
#: A leading diagonal entry of the re-ordered R below this (relative to the largest)
#: means the nested model's columns are linearly dependent.
RANK_RTOL = 1e-13


def expand_powers(X, degree: int) -> np.ndarray:
    """Degree-major powers of each column: ``[X, X^2, ..., X^degree]``.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    degree : int
        At least 1; 1 returns ``X`` itself (as float64).

    Returns
    -------
    ndarray of shape (n, d * degree)
        Column ``(j - 1) * d + i`` is ``X[:, i] ** j`` (repeated multiplication).
    """
    X = np.asarray(X, dtype=np.float64)
    if degree < 1:
        raise ValueError("degree must be at least 1")
    if degree == 1:
        return X
    out = np.empty((X.shape[0], X.shape[1] * degree))
    d = X.shape[1]
    out[:, :d] = X
    with np.errstate(over="ignore", invalid="ignore"):  # the caller drops non-finite rows
        for j in range(1, degree):
            out[:, j * d:(j + 1) * d] = out[:, (j - 1) * d:j * d] * X
    return out


def expanded_names(features, degree: int) -> list:
    """Names of :func:`expand_powers`' columns: ``x``, then ``x^2``, ``x^3``..."""
    features = list(features)
    return features + [f"{f}^{j}" for j in range(2, degree + 1) for f in features]


def nested_groups(kind: str, n_features: int, degree: int = 1) -> list:
    """The column groups that join the model one step at a time.

    ``degree``: step k adds the k-th powers of all ``n_features`` features (columns
    ``(k-1)*d .. k*d-1`` of the expanded design); ``terms``: step k adds feature k.
    """
    if kind == "degree":
        return [list(range(k * n_features, (k + 1) * n_features)) for k in range(degree)]
    if kind == "terms":
        return [[j] for j in range(n_features)]
    raise ValueError(f"unknown curve kind {kind!r}; expected one of {CURVE_KINDS}")


def nested_order(groups, q: int, fit_intercept: bool) -> list:
    """Column order of ``[A y]`` (``q`` design columns before the intercept) in which
    every nested model is a leading block: intercept, the groups in order, the label."""
    flat = [c for g in groups for c in g]
    if sorted(flat) != list(range(q)):
        raise ValueError("the groups must cover every design column exactly once")
    return ([q] if fit_intercept else []) + flat + [q + int(fit_intercept)]


def reorder_r(R, order) -> np.ndarray:
    """The R factor of ``M[:, order]`` from the R factor of ``M`` (diagonal >= 0).

    ``M P = Q (R P)``; the QR of the small ``R P`` gives ``R'``, and
    ``(M P)^T (M P) = R'^T R'``.
    """
    R = np.asarray(R, dtype=np.float64)
    Rp = np.linalg.qr(R[:, list(order)], mode="r")
    signs = np.where(np.diag(Rp) < 0, -1.0, 1.0)
    return Rp * signs[:, None]


@dataclass(frozen=True)
class NestedFit:
    """One nested model of a curve (working units).

    Attributes
    ----------
    size : int
        Its step: degree k, or the number of features k.
    columns : list of int
        Working-design columns it uses (the intercept column included), in the
        nested order.
    w : ndarray
        Its weights on ``columns``.
    sse : float
        Training residual sum of squares.
    rank_deficient : bool
        Its columns are linearly dependent (``w`` is then not unique: NaN-free
        minimum-norm weights are NOT computed; callers report the step).
    """

    size: int
    columns: list
    w: np.ndarray
    sse: float
    rank_deficient: bool


def nested_fits(R, groups, fit_intercept: bool) -> list:
    """Fit every nested model from the R factor of the largest.

    Parameters
    ----------
    R : ndarray of shape (k, k)
        R factor of ``[A y]`` in the working column order of
        :mod:`mrlinreg.numerics.scaling` (intercept last, label last).
    groups : list of list of int
        :func:`nested_groups`.
    fit_intercept : bool

    Returns
    -------
    list of NestedFit
        One per step, smallest first.
    """
    R = np.asarray(R, dtype=np.float64)
    q = R.shape[0] - 1 - int(fit_intercept)
    order = nested_order(groups, q, fit_intercept)
    Rn = reorder_r(R, order)
    diag = np.abs(np.diag(Rn)[:-1])
    tiny = RANK_RTOL * (diag.max() if diag.size else 0.0)
    out, m = [], int(fit_intercept)
    for size, group in enumerate(groups, start=1):
        m += len(group)
        deficient = bool(np.any(diag[:m] <= tiny))
        if deficient:
            w = np.zeros(m)
        else:
            w = solve_triangular(Rn[:m, :m], Rn[:m, -1], lower=False)
        tail = Rn[m:, -1]
        out.append(NestedFit(size, list(order[:m]), w, float(tail @ tail), deficient))
    return out


def validation_sse(R_val, fit: NestedFit) -> float:
    """Held-out residual sum of squares of a nested model: ``||R_v [w; -1]||^2``.

    ``R_val`` is the R factor of the validation ``[A_v y_v]`` in the working column
    order (same shift and scale as training).
    """
    R_val = np.asarray(R_val, dtype=np.float64)
    v = np.zeros(R_val.shape[1])
    v[fit.columns] = fit.w
    v[-1] = -1.0
    r = R_val @ v
    return float(r @ r)


def original_units(fit: NestedFit, shift, scale, fit_intercept: bool, q: int):
    """``(coef on design columns 0..q-1 (zero where unused), intercept)`` in the
    user's units: ``coef_j = w_j / scale_j``, ``intercept = w_int - coef . shift``."""
    shift, scale = np.asarray(shift, np.float64), np.asarray(scale, np.float64)
    w_full = np.zeros(q + int(fit_intercept))
    w_full[fit.columns] = fit.w
    coef = w_full[:q] / scale
    if not fit_intercept:
        return coef, 0.0
    return coef, float(w_full[q] - coef @ shift)
