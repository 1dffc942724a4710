"""Iterative refinement to the exact least-squares solution of the parsed data.

The problem being solved is the one the job parsed: float64 features ``X``
(n, d) and labels ``y``, taken as exact numbers,

    b* = argmin_b || y - X1 b ||,   X1 = [X, 1]  (the ones only with an intercept),

with ``b = [coef, intercept]`` in the user's units.  The solvers work on
``A = [(X - shift) / scale, 1]`` (:mod:`mrlinreg.numerics.scaling`); in exact
arithmetic ``A = X1 T`` with ``T`` of :func:`scaling.back_transform_matrix`
(``b = T w``), but the float64 ``A`` the TSQR pass factors is rounded, and
that rounding alone limits ``solve_r`` to about ``u cond(A)`` relative error
(``u = 2^-53``), whatever the precision of the solve.

Formulation (corrected semi-normal equations in mixed precision, Bjorck
1967/1987; Higham, "Accuracy and Stability", ch. 20).  The iterate is kept
in ORIGINAL units as a double-double ``b``, so the residual needs no shift,
scale or division at all -- only the parsed values:

    pass (mappers):  r = y - X1 b,   g = X1^T r,   s = r^T r     all double-double
    driver:          g_w = T^T g                                 (= A^T r, exactly so)
                     R^T R dw = g_w     two triangular solves on the TSQR factor R of A
                     db = T dw,   b <- b + db                    (double-double)

Why the fixed point is ``b*``: ``T`` is invertible, so ``g_w = 0`` iff
``g = X1^T (y - X1 b) = 0``, the normal equations of the parsed data.  ``R``
(a float64 factor of a rounded ``A``) and the float64 solves only act as a
preconditioner: they set the rate of convergence, about ``u cond(A)`` per pass
(1e-6 for the standardised degree-10 Filip problem), never the limit.  The
limit is set by the errors of ``g``, which are of order ``u^2`` relative to
``|X1|^T (|y| + |X1| |b|)``: far below float64 resolution up to condition
numbers near ``1 / u``.  Refining the working-space residual
``A^T (y - A w)`` instead would need ``(X - shift) / scale`` exactly, which a
division does not give even in double-double; the two agree through ``T``, so
nothing is lost by working in original units.

The coefficients are rounded once, at the end, from the double-double ``b``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.linalg import solve_triangular

from mrlinreg.codec import decode_arrays, encode_arrays
from mrlinreg.numerics.doubledouble import (DD, dd, dd_add, dd_div_float, dd_dot_columns,
                                            dd_mul_float, dd_sum, dd_to_float, split,
                                            two_prod)

__all__ = [
    "MAX_PASSES",
    "Refinement",
    "ResidualAccumulator",
    "refine",
    "refine_step",
    "residual_dd",
    "to_original_dd",
    "to_working",
    "working_to_original_dd",
]

MAX_PASSES = 3
_U = 2.0 ** -53
# Digits a double-double can certify at most (a correction of exactly zero).
_DD_DIGITS = -math.log10(_U * _U)


def residual_dd(X, y, b: DD, fit_intercept: bool, X_split=None) -> DD:
    """``r = y - X b - b_int`` in double-double from the parsed values.

    Each product ``X_ij b_j`` is ``TwoProd(X_ij, b.hi_j) + fl(X_ij b.lo_j)``
    and the ``d + 2`` terms of a row are summed by :func:`dd_sum`, so

        |r_i - exact| <= (2 ceil(log2(d + 2)) + 2) u^2 (|y_i| + sum_j |X_ij b_j| + |b_int|).

    Parameters
    ----------
    X : ndarray of shape (n, d)
    y : ndarray of shape (n,)
    b : DD of shape (d + fit_intercept,)
        ``[coef, intercept]`` in original units.
    fit_intercept : bool
    X_split : tuple of ndarray, optional
        ``doubledouble.split(X)``, when already computed.

    Returns
    -------
    DD of shape (n,)
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, d = X.shape
    p, e = two_prod(X, b.hi[:d], a_split=X_split)
    e = e + X * b.lo[:d]
    cols = [y[:, None], -p]
    lows = [np.zeros((n, 1)), -e]
    if fit_intercept:
        cols.append(np.full((n, 1), -b.hi[d]))
        lows.append(np.full((n, 1), -b.lo[d]))
    return dd_sum(np.hstack(cols), np.hstack(lows), axis=1)


class ResidualAccumulator:
    """``X1^T r`` and ``r^T r`` in double-double at fixed coefficients (one refinement pass).

    ``r = y - X1 b`` with ``X1 = [X, 1]`` (see the module docstring): the
    mapper needs only ``b`` (hi and lo) and ``fit_intercept`` -- no shift or
    scale, because the residual is taken in original units, on the parsed
    values themselves.  Same protocol as the accumulators of
    :mod:`mrlinreg.kernels`: ``add`` per block, ``to_dict`` / ``from_dict``
    (hi and lo parts both exact through :mod:`mrlinreg.codec`), ``merge_all``.

    Parameters
    ----------
    b_hi, b_lo : array_like of shape (d + fit_intercept,)
        ``[coef, intercept]`` as a double-double.
    fit_intercept : bool

    Attributes
    ----------
    n : int
    xtr : DD of shape (d + fit_intercept,)
        ``X1^T r`` (the negated gradient of ``||r||^2 / 2`` in original units).
    rss : DD of shape ()
        ``r^T r``.
    """

    kind = "residual"

    def __init__(self, b_hi, b_lo, fit_intercept: bool):
        self.b = DD(np.asarray(b_hi, dtype=np.float64).copy(),
                    np.asarray(b_lo, dtype=np.float64).copy())
        if self.b.hi.shape != self.b.lo.shape or self.b.hi.ndim != 1:
            raise ValueError("b_hi and b_lo must be 1-d arrays of the same length")
        self.fit_intercept = bool(fit_intercept)
        p = self.b.hi.shape[0]
        self.n = 0
        self.xtr = dd(np.zeros(p))
        self.rss = dd(np.zeros(()))

    def add(self, X: np.ndarray, y: np.ndarray) -> None:
        """Fold a parsed block (original feature values ``X`` (m, d), labels ``y``) in."""
        X = np.asarray(X, dtype=np.float64)
        if X.shape[0] == 0:
            return
        d = self.b.hi.shape[0] - int(self.fit_intercept)
        if X.ndim != 2 or X.shape[1] != d:
            raise ValueError(f"block has shape {X.shape} but the coefficients need {d} features")
        X_split = split(X)          # shared by the two products with X
        r = residual_dd(X, y, self.b, self.fit_intercept, X_split)
        g = dd_dot_columns(X, r, X_split)
        if self.fit_intercept:
            g_int = dd_sum(r.hi, r.lo)
            g = DD(np.append(g.hi, g_int.hi), np.append(g.lo, g_int.lo))
        sq_hi, sq_lo = two_prod(r.hi, r.hi)
        s = dd_sum(sq_hi, sq_lo + 2.0 * r.hi * r.lo)
        self.xtr = dd_add(self.xtr, g)
        self.rss = dd_add(self.rss, s)
        self.n += X.shape[0]

    @classmethod
    def merge_all(cls, accs) -> "ResidualAccumulator":
        """Exact merge: each sum is the double-double nearest the exact total of the parts.

        For every component, ``hi = fsum(parts)`` (correctly rounded exact
        sum of all hi and lo parts) and ``lo = fsum(parts + [-hi])``; so the
        result does not depend on the order of ``accs`` at all (bit for bit),
        and adds no error beyond ``u^2`` of the total.

        Raises
        ------
        ValueError
            If there are no partials, or they were computed at different ``b``.
        """
        accs = list(accs)
        if not accs:
            raise ValueError("merge_all needs at least one partial")
        first = accs[0]
        for acc in accs[1:]:
            if (acc.fit_intercept != first.fit_intercept
                    or not np.array_equal(acc.b.hi, first.b.hi)
                    or not np.array_equal(acc.b.lo, first.b.lo)):
                raise ValueError("residual partials computed at different coefficients "
                                 "cannot be merged")
        total = cls(first.b.hi, first.b.lo, first.fit_intercept)
        total.n = sum(a.n for a in accs)
        total.xtr = _exact_total([a.xtr for a in accs])
        total.rss = _exact_total([a.rss for a in accs])
        return total

    def to_dict(self) -> dict:
        return encode_arrays({
            "kind": self.kind, "n": self.n, "fit_intercept": self.fit_intercept,
            "b_hi": self.b.hi, "b_lo": self.b.lo,
            "xtr_hi": self.xtr.hi, "xtr_lo": self.xtr.lo,
            "rss_hi": np.asarray(self.rss.hi), "rss_lo": np.asarray(self.rss.lo),
        })

    @classmethod
    def from_dict(cls, d: dict) -> "ResidualAccumulator":
        d = decode_arrays(d)
        acc = cls(d["b_hi"], d["b_lo"], d["fit_intercept"])
        acc.n = int(d["n"])
        acc.xtr = DD(d["xtr_hi"], d["xtr_lo"])
        # the codec stores a 0-d array as shape (1,)
        acc.rss = DD(d["rss_hi"].reshape(()), d["rss_lo"].reshape(()))
        return acc


def _exact_total(parts) -> DD:
    """Double-double nearest ``sum_k (hi_k + lo_k)``, componentwise, by ``math.fsum``."""
    his = np.stack([np.asarray(p.hi, dtype=np.float64) for p in parts])
    los = np.stack([np.asarray(p.lo, dtype=np.float64) for p in parts])
    shape = his.shape[1:]
    terms = np.concatenate([his.reshape(len(parts), -1), los.reshape(len(parts), -1)]).T
    hi = np.array([math.fsum(t) for t in terms])
    lo = np.array([math.fsum(np.append(t, -h)) for t, h in zip(terms, hi)])
    return DD(hi.reshape(shape), lo.reshape(shape))


def _as_dd(x) -> DD:
    return x if isinstance(x, DD) else dd(x)


def working_to_original_dd(w, shift, scale, fit_intercept: bool) -> DD:
    """``b = T w`` in double-double: ``coef = w / scale``, ``intercept = w_int - shift . coef``.

    Parameters
    ----------
    w : DD or array_like of shape (d + fit_intercept,)
        Working weights (intercept last).
    shift, scale : array_like of shape (d,)
    fit_intercept : bool

    Returns
    -------
    DD
        ``[coef, intercept]``; relative error ``<= 4 u^2`` on ``coef``, and
        ``O(u^2) (|w_int| + sum_j |shift_j coef_j|)`` on the intercept.
    """
    w = _as_dd(w)
    shift = np.asarray(shift, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    d = shift.shape[0]
    coef = dd_div_float(w.take(slice(0, d)), scale)
    if not fit_intercept:
        return coef
    prod = dd_mul_float(coef, shift)
    terms_hi = np.append(w.hi[d], -prod.hi)
    terms_lo = np.append(w.lo[d], -prod.lo)
    intercept = dd_sum(terms_hi, terms_lo)
    return DD(np.append(coef.hi, intercept.hi), np.append(coef.lo, intercept.lo))


def to_original_dd(w_hi, w_lo, shift, scale, fit_intercept: bool):
    """Coefficients and intercept in original units, from double-double working weights.

    :func:`working_to_original_dd`, then each value rounded once to the
    nearest double.

    Returns
    -------
    coef : ndarray of shape (d,)
    intercept : float (0.0 without an intercept)
    """
    b = dd_to_float(working_to_original_dd(DD(np.asarray(w_hi, dtype=np.float64),
                                                  np.asarray(w_lo, dtype=np.float64)),
                                               shift, scale, fit_intercept))
    d = len(shift)
    return b[:d], (float(b[d]) if fit_intercept else 0.0)


def to_working(b: DD, shift, scale, fit_intercept: bool) -> np.ndarray:
    """``w = T^{-1} b`` rounded once.

    ``w_j = coef_j scale_j`` and ``w_int = intercept + shift . coef``, in
    double-double.

    For the statistics that live in working space (summary, stored model).
    """
    b = _as_dd(b)
    shift = np.asarray(shift, dtype=np.float64)
    d = shift.shape[0]
    w = dd_mul_float(b.take(slice(0, d)), np.asarray(scale, dtype=np.float64))
    out = dd_to_float(w)
    if fit_intercept:
        prod = dd_mul_float(b.take(slice(0, d)), shift)
        w_int = dd_sum(np.append(b.hi[d], prod.hi), np.append(b.lo[d], prod.lo))
        out = np.append(out, dd_to_float(w_int))
    return out


def _working_gradient(g: DD, shift, scale, fit_intercept) -> np.ndarray:
    """``A^T r = T^T X1^T r``: ``(g_j - shift_j g_int) / scale_j`` and ``g_int``, rounded once."""
    d = shift.shape[0]
    coef_part = g.take(slice(0, d))
    if fit_intercept:
        g_int = g.take(d)
        prod = dd_mul_float(DD(np.full(d, g_int.hi), np.full(d, g_int.lo)), shift)
        coef_part = dd_add(coef_part, DD(-prod.hi, -prod.lo))
    gw = dd_to_float(dd_div_float(coef_part, scale))
    if fit_intercept:
        gw = np.append(gw, dd_to_float(g.take(d)))
    return gw


def refine_step(R, xtr: DD, shift, scale, fit_intercept: bool):
    """The correction of one refinement pass, from ``X1^T r`` and the TSQR factor.

    ``g_w = T^T xtr`` (= ``A^T r``), then ``R^T u = g_w`` and ``R dw = u``
    (two triangular solves, ``A^T A`` never formed), and ``db = T dw`` in
    double-double.

    Parameters
    ----------
    R : ndarray of shape (p, p) or (p + 1, p + 1)
        Upper-triangular factor of the working design ``A``, or the
        augmented factor of ``[A y]`` (its leading block is used).
    xtr : DD of shape (p,)
        ``X1^T (y - X1 b)`` from the merged :class:`ResidualAccumulator`.
    shift, scale : array_like of shape (d,)
    fit_intercept : bool

    Returns
    -------
    db : DD of shape (p,)
        Correction in original units, to add to ``b``.
    dw : ndarray of shape (p,)
        The same correction in working units (for its norm).
    """
    shift = np.asarray(shift, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64)
    p = xtr.hi.shape[0]
    if R.shape == (p + 1, p + 1):
        R = R[:-1, :-1]
    if R.shape != (p, p):
        raise ValueError(f"R of shape {R.shape} does not match X1^T r of length {p}")
    gw = _working_gradient(xtr, shift, scale, fit_intercept)
    u = solve_triangular(R, gw, trans="T", lower=False)
    dw = solve_triangular(R, u, lower=False)
    return working_to_original_dd(dw, shift, scale, fit_intercept), dw


@dataclass
class Refinement:
    """Result of :func:`refine`.

    Attributes
    ----------
    b : DD
        ``[coef, intercept]`` in original units, double-double.
    coef : ndarray of shape (d,)
        Rounded once from ``b``.
    intercept : float
    working_weights : ndarray of shape (p,)
        ``T^{-1} b`` rounded once (for statistics computed in working space).
    passes : list of dict
        One record per pass: ``pass`` (1-based), ``correction_norm``
        (``||dw||_2``, working units), ``estimated_digits``
        (``-log10(||dw|| / ||w||)``: the digits the iterate of that pass had,
        normwise), ``componentwise_digits`` (``min_j -log10(|db_j| / |b_j|)``,
        original units) and ``applied`` (False for a correction that did not
        shrink, which is discarded).
    estimated_forward_error : float
        Last applied correction norm / ``||w||``: the normwise relative error
        of the iterate before that correction, so an upper estimate of the
        final one (each pass shrinks the error by about ``u cond(A)``).
        Normwise in standardised units: it can overstate the accuracy of
        small coefficients in original units (a zero-residual degree-10
        problem starts at 10 digits normwise, 3 on its worst coefficient).
    estimated_componentwise_error : float
        ``max_j |db_j| / |b_j|`` of the last applied correction, in original
        units: the same estimate per coefficient (what LRE measures).
    rss : float
        ``r^T r`` measured by the last pass.
    n : int
        Rows seen by the last pass.
    """

    b: DD
    coef: np.ndarray
    intercept: float
    working_weights: np.ndarray
    passes: list
    estimated_forward_error: float
    estimated_componentwise_error: float
    rss: float
    n: int


def _digits(rel):
    """``-log10(rel)``, capped at the double-double resolution; 0 for an infinite ``rel``."""
    if not np.isfinite(rel):
        return 0.0
    return float(min(-math.log10(rel), _DD_DIGITS)) if rel > 0 else _DD_DIGITS


def refine(R, w, shift, scale, fit_intercept: bool,
           pass_fn: Callable[[DD], ResidualAccumulator], *,
           max_passes: int = MAX_PASSES) -> Refinement:
    """Refine the working solution ``w`` of ``solve_r`` to the exact solution of the data.

    Loop (see the module docstring): ``acc = pass_fn(b)`` (one pass over the
    data, the merged :class:`ResidualAccumulator` at ``b``), ``db`` from
    :func:`refine_step`, ``b <- b + db``.  Stops

    * after ``max_passes`` passes;
    * when a correction is not smaller than the previous one (the iteration
      no longer contracts: that correction is recorded and discarded);
    * when every coefficient's correction is below ``u / 16`` of it (further
      passes cannot change the rounded result, short of a value within
      ``u^2`` of a rounding boundary).

    Parameters
    ----------
    R : ndarray of shape (p, p) or (p + 1, p + 1)
        TSQR factor of the working design (or of ``[A y]``).
    w : DD or array_like of shape (p,)
        Starting working weights (``solve_r(...).w``).
    shift, scale : array_like of shape (d,)
    fit_intercept : bool
    pass_fn : callable
        ``pass_fn(b) -> ResidualAccumulator``; ``b`` is a :class:`DD` of
        ``[coef, intercept]`` in original units (the mapper parameters are
        ``b.hi``, ``b.lo`` and ``fit_intercept``).
    max_passes : int

    Returns
    -------
    Refinement
    """
    if max_passes < 1:
        raise ValueError("max_passes must be at least 1")
    shift = np.asarray(shift, dtype=np.float64)
    b = working_to_original_dd(w, shift, scale, fit_intercept)
    records, last_norm, forward_error, componentwise_error = [], None, None, None
    acc = None
    for k in range(1, max_passes + 1):
        acc = pass_fn(b)
        if acc.n == 0:
            raise ValueError("the refinement pass saw no rows")
        db, dw = refine_step(R, acc.xtr, shift, scale, fit_intercept)
        if not np.all(np.isfinite(dw)):
            raise ValueError("the refinement correction is not finite: the factor R is "
                             "singular or the data changed between passes")
        w_now = to_working(b, shift, scale, fit_intercept)
        norm = float(np.linalg.norm(dw))
        rel = norm / max(float(np.linalg.norm(w_now)), np.finfo(float).tiny)
        b_now = dd_to_float(b)
        with np.errstate(divide="ignore", invalid="ignore"):
            comp = np.where(db.hi == 0, 0.0, np.abs(dd_to_float(db)) / np.abs(b_now))
        applied = last_norm is None or norm < last_norm
        records.append({"pass": k, "correction_norm": norm, "estimated_digits": _digits(rel),
                        "componentwise_digits": _digits(float(np.max(comp, initial=0.0))),
                        "applied": bool(applied)})
        if not applied:
            break
        b = dd_add(b, db)
        last_norm, forward_error = norm, rel
        componentwise_error = float(np.max(comp, initial=0.0))
        if np.all(comp <= _U / 16):
            break
    coef_all = dd_to_float(b)
    d = shift.shape[0]
    return Refinement(
        b=b,
        coef=coef_all[:d],
        intercept=float(coef_all[d]) if fit_intercept else 0.0,
        working_weights=to_working(b, shift, scale, fit_intercept),
        passes=records,
        estimated_forward_error=float(forward_error),
        estimated_componentwise_error=componentwise_error,
        rss=float(dd_to_float(acc.rss)),
        n=int(acc.n),
    )
