"""The weighted passes (``--weight-column``): the one-pass fit, the evaluate pass, the meat.

:class:`WeightedFusedAccumulator` is the weighted twin of :class:`mrlinreg.numerics.fused.FusedAccumulator`
(``--weight-column``).  A partial keeps the row count ``n`` (zero weights
included: statsmodels' ``nobs``), the zero-weight rows ``n_zero``, the weights'
total ``sum_w`` and ``sum log w`` over the positive weights, the weighted mean
and centred sum of squares of every column (West 1979, as
:class:`~mrlinreg.numerics.weighted.WeightedMomentsAccumulator`), and the R
factor of

    sqrt(w) [(X - c) / s, 1, y]          (the "ones" column is sqrt(w))

in a frame ``(c, s)`` of its own.  A frame change is the same column
operation as unweighted (:func:`fused.move_frame`): column ``j`` of the new
frame is ``(s_j/s'_j) M_j + ((c_j - c'_j)/s'_j) M_d`` with ``M_d = sqrt(w)``,
linear in the columns, so the ones column absorbs the shift exactly as before.
The frame follows the weighted moments (:func:`fused.moments_frame` with the
weight total in place of the row count), so the driver's frame is the weighted
standardisation of :mod:`mrlinreg.numerics.weighted`'s docstring.

Zero-weight rows add nothing to the moments or to R (their scaled rows are
zero) and are left out of the QR; they count in ``n`` and ``n_zero``.  The
unweighted accumulator and its arithmetic are untouched: unweighted fits stay
bit for bit what they were.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mrlinreg.codec import decode_arrays, encode_arrays
from mrlinreg.numerics import tsqr
from mrlinreg.numerics.fused import RECENTRE, chan_merge, moments_frame, move_frame
from mrlinreg.numerics.robust import MeatAccumulator
from mrlinreg.numerics.scaling import design_matrix
from mrlinreg.numerics.weighted import check_weights

__all__ = ["WeightedFusedAccumulator", "WeightedContext", "weighted_context",
           "WeightedEvaluateAccumulator", "WeightedMeatAccumulator"]


class WeightedFusedAccumulator:
    """Counts, weighted moments and the R factor of ``sqrt(w) [(X - c)/s, 1, y]``.

    Parameters
    ----------
    d : int
        Number of features.

    Attributes
    ----------
    n, n_zero : int
        Rows seen, and those of weight 0.
    sum_w, sum_log_w : float
        ``sum w`` and ``sum log w`` over the positive weights.
    mean, m2 : ndarray of shape (d + 1,)
        Weighted mean and ``sum w (x - mean)^2``, features then label.
    shift, scale : ndarray of shape (d,)
        The frame ``R`` is taken in.
    R : ndarray of shape (d + 2, d + 2) or None
    """

    kind = "weighted_fused"

    def __init__(self, d: int):
        self.d = int(d)
        self.n = self.n_zero = 0
        self.sum_w = self.sum_log_w = 0.0
        self.mean = np.zeros(d + 1)
        self.m2 = np.zeros(d + 1)
        self.shift = np.zeros(d)
        self.scale = np.ones(d)
        self.R = None

    def add(self, X: np.ndarray, y: np.ndarray, weights: np.ndarray) -> None:
        """Fold a block of original rows and their weights (finite, >= 0) in."""
        weights = check_weights(weights)
        m = X.shape[0]
        if m == 0:
            return
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        Z = np.column_stack([X, y])
        if not np.all(np.isfinite(Z)):
            raise ValueError("block holds NaN or infinite values; clean or drop those rows "
                             "before fitting")
        positive = weights > 0
        self.n += m
        self.n_zero += int(m - positive.sum())
        if not positive.all():
            X, y, Z, weights = X[positive], y[positive], Z[positive], weights[positive]
        W = float(weights.sum())
        if W == 0:
            return
        self.sum_log_w += float(np.log(weights).sum())
        b_mean = weights @ Z / W
        b_m2 = weights @ (Z - b_mean) ** 2
        if self.sum_w:
            self.sum_w, self.mean, self.m2 = chan_merge(self.sum_w, self.mean, self.m2,
                                                   W, b_mean, b_m2)
        else:
            self.sum_w, self.mean, self.m2 = W, b_mean, b_m2
        shift, scale = moments_frame(self.sum_w, self.mean, self.m2, self.d)
        if self.R is None:
            self.shift, self.scale = shift, scale
        else:
            drift = np.abs(shift - self.shift) > RECENTRE * np.sqrt(
                self.m2[:self.d] / self.sum_w)
            if drift.any():
                self.R = move_frame(self.R, self.shift, self.scale, shift, self.scale)
                self.shift = shift
        root = np.sqrt(weights)[:, None]
        block = root * np.hstack([design_matrix(X, self.shift, self.scale, True), y[:, None]])
        self.R = np.triu(tsqr.update(self.R, block))

    @staticmethod
    def _canonical_key(acc):
        return (-acc.n, acc.sum_w, acc.mean.tobytes(), acc.m2.tobytes(), acc.shift.tobytes(),
                acc.scale.tobytes(), b"" if acc.R is None else acc.R.tobytes())

    @classmethod
    def merge_all(cls, accs) -> "WeightedFusedAccumulator":
        """Merge partials of disjoint rows in a canonical order (any arrival order gives
        the same bits): counts added, moments by West's formula, every R moved to the
        merged frame and the factors merged by :func:`tsqr.merge`."""
        accs = sorted((a for a in accs), key=cls._canonical_key)
        if not accs:
            raise ValueError("merge_all needs at least one partial")
        d = accs[0].d
        if any(a.d != d for a in accs):
            raise ValueError(f"partials with different numbers of features: "
                             f"{sorted({a.d for a in accs})}")
        total = cls(d)
        total.n = sum(a.n for a in accs)
        total.n_zero = sum(a.n_zero for a in accs)
        full = [a for a in accs if a.sum_w > 0]
        if not full:
            return total
        total.sum_log_w = float(sum(a.sum_log_w for a in full))
        W, mean, m2 = full[0].sum_w, full[0].mean, full[0].m2
        for a in full[1:]:
            W, mean, m2 = chan_merge(W, mean, m2, a.sum_w, a.mean, a.m2)
        total.sum_w, total.mean, total.m2 = W, mean.copy(), m2.copy()
        if len(full) == 1:
            total.shift, total.scale = full[0].shift.copy(), full[0].scale.copy()
            total.R = full[0].R.copy()
            return total
        total.shift, total.scale = moments_frame(W, mean, m2, d)
        total.R = np.triu(tsqr.merge(move_frame(a.R, a.shift, a.scale, total.shift,
                                                total.scale) for a in full))
        return total

    def to_dict(self) -> dict:
        """JSON-safe and bit-exact; ``R`` travels as its packed upper triangle."""
        d = {"kind": self.kind, "d": self.d, "n": self.n, "n_zero": self.n_zero,
             "sum_w": np.array([self.sum_w]), "sum_log_w": np.array([self.sum_log_w]),
             "mean": self.mean, "m2": self.m2, "shift": self.shift, "scale": self.scale}
        if self.R is not None:
            d["R_triu"] = self.R[np.triu_indices(self.d + 2)]
        return encode_arrays(d)

    @classmethod
    def from_dict(cls, d: dict) -> "WeightedFusedAccumulator":
        d = decode_arrays(d)
        acc = cls(int(d["d"]))
        acc.n, acc.n_zero = int(d["n"]), int(d["n_zero"])
        acc.sum_w, acc.sum_log_w = float(d["sum_w"][0]), float(d["sum_log_w"][0])
        acc.mean, acc.m2, acc.shift, acc.scale = d["mean"], d["m2"], d["shift"], d["scale"]
        if "R_triu" in d:
            k = acc.d + 2
            acc.R = np.zeros((k, k))
            acc.R[np.triu_indices(k)] = d["R_triu"]
        return acc


@dataclass(frozen=True)
class WeightedContext:
    """The driver's view after the single weighted pass.

    ``R`` is the factor of ``sqrt(w) [A y]`` with ``A = [(X - shift)/scale, 1]`` (the
    ones column only with an intercept); ``mean``/``m2`` are weighted.
    """

    n: int
    n_zero: int
    sum_w: float
    sum_log_w: float
    mean: np.ndarray
    m2: np.ndarray
    shift: np.ndarray
    scale: np.ndarray
    R: np.ndarray

    @property
    def sum_log_weights(self) -> float:
        """``sum log w_i`` over every row: ``-inf`` when a weight is zero."""
        return -np.inf if self.n_zero else self.sum_log_w


def weighted_context(acc: WeightedFusedAccumulator, fit_intercept: bool,
                     standardize: bool) -> WeightedContext:
    """Weighted standardisation and the working-space weighted R from a merged partial
    (:func:`fused.context_from_fused` with the weight total in place of the row count).

    Raises
    ------
    ValueError
        If no row has a positive weight.
    """
    if acc.sum_w <= 0 or acc.R is None:
        raise ValueError("no row has a positive weight; nothing to fit")
    d = acc.d
    shift, scale = moments_frame(acc.sum_w, acc.mean, acc.m2, d, fit_intercept, standardize)
    moved = move_frame(acc.R, acc.shift, acc.scale, shift, scale)
    if not fit_intercept:
        R_work = tsqr.update(None, np.delete(moved, d, axis=1))
    elif moved.tobytes() == acc.R.tobytes():
        R_work = acc.R.copy()
    else:
        R_work = tsqr.update(None, moved)
    return WeightedContext(n=acc.n, n_zero=acc.n_zero, sum_w=acc.sum_w,
                           sum_log_w=acc.sum_log_w, mean=acc.mean.copy(), m2=acc.m2.copy(),
                           shift=shift, scale=scale, R=np.triu(R_work))


class WeightedEvaluateAccumulator:
    """Weighted loss, gradient and curvature sums at candidate points (the ``passes``
    strategy with ``--weight-column``).

    With ``r = A w - y`` per column ``w`` of ``W``: ``sse = sum_i w_i r_i^2``,
    ``grad = A^T (w * r)``, ``abs = sum_i w_i |r_i|``; ``hp = A^T (w * (A p))`` per
    direction ``p``; with ``hessian``: ``gram = A^T diag(w) A``.  ``n`` counts the rows,
    ``sum_w`` adds the weights: the driver divides the sums by ``sum_w``.
    """

    kind = "weighted_evaluate"

    def __init__(self, W, P, shift, scale, fit_intercept, hessian=False):
        self.W = np.asarray(W, dtype=np.float64)
        self.P = np.asarray(P, dtype=np.float64)
        self.shift, self.scale, self.fit_intercept = shift, scale, fit_intercept
        p, m = self.W.shape
        self.n, self.sum_w = 0, 0.0
        self.sse = np.zeros(m)
        self.abs = np.zeros(m)
        self.grad = np.zeros((p, m))
        self.hp = np.zeros((p, self.P.shape[1]))
        self.gram = np.zeros((p, p)) if hessian else None

    def add(self, X: np.ndarray, y: np.ndarray, weights: np.ndarray) -> None:
        weights = check_weights(weights)
        if X.shape[0] == 0:
            return
        A = design_matrix(X, self.shift, self.scale, self.fit_intercept)
        wc = weights[:, None]
        with np.errstate(all="ignore"):  # a diverging candidate is judged by the driver
            R = A @ self.W - y[:, None]
            self.sse += np.einsum("ij,ij->j", wc * R, R)
            self.abs += (wc * np.abs(R)).sum(axis=0)
            self.grad += A.T @ (wc * R)
            if self.P.shape[1]:
                self.hp += A.T @ (wc * (A @ self.P))
            if self.gram is not None:
                self.gram += A.T @ (wc * A)
        self.n += X.shape[0]
        self.sum_w += float(weights.sum())

    def merge(self, other: "WeightedEvaluateAccumulator") -> None:
        self.n += other.n
        self.sum_w += other.sum_w
        self.sse = self.sse + other.sse
        self.abs = self.abs + other.abs
        self.grad = self.grad + other.grad
        self.hp = self.hp + other.hp
        if self.gram is not None:
            self.gram = self.gram + other.gram

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "n": self.n, "sum_w": np.array([self.sum_w]), "sse": self.sse,
             "abs": self.abs, "grad": self.grad, "hp": self.hp}
        if self.gram is not None:
            d["gram"] = self.gram
        return encode_arrays(d)

    @classmethod
    def from_dict(cls, d: dict) -> "WeightedEvaluateAccumulator":
        d = decode_arrays(d)
        acc = cls.__new__(cls)
        acc.n, acc.sum_w = int(d["n"]), float(d["sum_w"][0])
        acc.sse, acc.abs, acc.grad, acc.hp = d["sse"], d["abs"], d["grad"], d["hp"]
        acc.gram = d.get("gram")
        return acc


class WeightedMeatAccumulator(MeatAccumulator):
    """The sandwich's meat of a weighted fit (``--cov-type`` with ``--weight-column``).

    statsmodels' ``WLS(...).fit(cov_type=...)`` is the OLS sandwich of the whitened
    data, ``a~_i = sqrt(w_i) a_i``, ``e~_i = sqrt(w_i) e_i``, with leverages
    ``h_i = ||R^{-T} a~_i||^2`` from the weighted R: this folds the rows ``u_i a~_i``
    (:class:`~mrlinreg.numerics.robust.MeatAccumulator`'s ``u`` of the whitened
    residuals).  Zero-weight rows add nothing (and have leverage 0).
    """

    kind = "weighted_hc_meat"

    def add(self, X: np.ndarray, y: np.ndarray, weights: np.ndarray) -> None:
        weights = check_weights(weights)
        if X.shape[0] == 0:
            return
        root = np.sqrt(weights)
        A = root[:, None] * design_matrix(X, self.shift, self.scale, self.fit_intercept)
        self._fold(A, root * np.asarray(y, dtype=np.float64) - A @ self.w, X.shape[0])
