"""Huber regression by IRLS on weighted TSQR, and a mergeable exact-quantile sketch for delta.

Objective, in the working space of :mod:`mrlinreg.numerics.scaling` (intercept
last, nothing penalised), with ``delta`` in the label's units::

    F(w) = (1/n) sum_i rho(y_i - a_i^T w),
    rho(r) = r^2 / 2            if |r| <= delta
           = delta |r| - delta^2 / 2   otherwise.

IRLS (iteratively reweighted least squares, a majorise-minimise scheme: each
step minimises a quadratic that touches ``F`` at the current ``w`` and lies
above it, so ``F`` never rises)::

    omega_i = min(1, delta / |r_i|),   r_i = y_i - a_i^T w_k
    w_{k+1} = argmin sum_i omega_i (y_i - a_i^T w)^2

One pass per iteration: :class:`HuberIRLSAccumulator` folds the rows
``sqrt(omega_i) [a_i, y_i]`` into an R factor (weighted TSQR, as in
:mod:`mrlinreg.numerics.weighted`) and sums ``rho`` at ``w_k``; the driver
solves ``w_{k+1} = R^{-1} z`` (:func:`huber_irls` runs that loop over any
pass function).

Default ``delta = 1.345 * MAD`` with ``MAD = median(|r_i|) / 0.6745`` of the
OLS residuals (statsmodels' ``RLM`` scale: ``mad(resid, center=0)``),
computed distributedly by :class:`QuantileSketch` (see :func:`exact_median`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
from scipy.linalg import solve_triangular

from mrlinreg.codec import decode_arrays, encode_arrays
from mrlinreg.errors import OptionError, TrainingError
from mrlinreg.numerics import tsqr
from mrlinreg.numerics.scaling import design_matrix

__all__ = ["HUBER_K", "MAD_CONSTANT", "HuberFit", "HuberIRLSAccumulator", "QuantileSketch",
           "default_delta", "exact_median", "huber_irls", "huber_objective", "huber_rho",
           "irls_weights"]

HUBER_K = 1.345          # 95% efficiency at the normal
MAD_CONSTANT = 0.6745    # statsmodels' norm.ppf(3/4), rounded as in its docs
LOG_BINS_PER_OCTAVE = 64


def huber_rho(r, delta):
    """``rho(r)`` of the module docstring, elementwise."""
    a = np.abs(np.asarray(r, dtype=np.float64))
    return np.where(a <= delta, 0.5 * a * a, delta * a - 0.5 * delta * delta)


def huber_objective(A, y, w, delta):
    """``F(w) = mean rho(y - A w)`` (in-memory reference)."""
    return float(huber_rho(y - A @ w, delta).mean())


def irls_weights(r, delta):
    """``omega_i = min(1, delta / |r_i|)`` (1 at ``r_i = 0``)."""
    a = np.abs(np.asarray(r, dtype=np.float64))
    with np.errstate(divide="ignore"):
        return np.where(a <= delta, 1.0, delta / a)


def _check_delta(delta):
    if not (np.isfinite(delta) and delta > 0):
        raise OptionError("<opt:huber_delta> must be a positive number (in the label's units)",
                          "huber_delta")


class HuberIRLSAccumulator:
    """R factor of ``sqrt(omega) [A y]`` at ``w`` and the sum of ``rho``: one IRLS pass."""

    kind = "huber_irls"

    def __init__(self, w, delta, shift, scale, fit_intercept):
        _check_delta(delta)
        self.w = np.asarray(w, dtype=np.float64)
        self.delta = float(delta)
        self.shift, self.scale, self.fit_intercept = shift, scale, fit_intercept
        self.n = 0
        self.rho = 0.0
        self.R = None

    def add(self, X: np.ndarray, y: np.ndarray) -> None:
        if X.shape[0] == 0:
            return
        A = design_matrix(X, self.shift, self.scale, self.fit_intercept)
        y = np.asarray(y, dtype=np.float64)
        r = y - A @ self.w
        root = np.sqrt(irls_weights(r, self.delta))[:, None]
        self.R = tsqr.update(self.R, root * np.hstack([A, y[:, None]]))
        self.rho += float(huber_rho(r, self.delta).sum())
        self.n += X.shape[0]

    @classmethod
    def merge_all(cls, accs) -> "HuberIRLSAccumulator":
        accs = sorted(accs, key=lambda a: a.rho)   # canonical order for the float sum
        total = cls.__new__(cls)
        total.n = sum(a.n for a in accs)
        total.rho = float(sum(a.rho for a in accs))
        Rs = [a.R for a in accs if a.R is not None]
        total.R = tsqr.merge(Rs) if Rs else None
        return total

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "n": self.n, "rho": self.rho}
        if self.R is not None:
            d["R"] = self.R
        return encode_arrays(d)

    @classmethod
    def from_dict(cls, d: dict) -> "HuberIRLSAccumulator":
        d = decode_arrays(d)
        acc = cls.__new__(cls)
        acc.n, acc.rho, acc.R = int(d["n"]), float(d["rho"]), d.get("R")
        return acc


@dataclass
class HuberFit:
    """IRLS result: weights, the objective history ``F(w_k)``, passes, convergence."""

    w: np.ndarray
    objective: list
    passes: int
    converged: bool


def huber_irls(run_pass: Callable, w0, *, tol=1e-10, max_iter=500) -> HuberFit:
    """IRLS from ``w0`` (the OLS fit): one pass per iteration.

    Parameters
    ----------
    run_pass : callable
        ``run_pass(w) -> (R, n, rho_sum)``: the merged
        :class:`HuberIRLSAccumulator` at ``w`` (its ``R``, ``n``, ``rho``).
    w0 : ndarray of shape (p,)
    tol : float
        Converged when ``max_j |w_{k+1,j} - w_{k,j}| <= tol * max(1, max_j |w_{k,j}|)``.
    max_iter : int

    Returns
    -------
    HuberFit
        ``w`` is the last iterate; ``objective[k] = F(w_k)``.
    """
    w = np.asarray(w0, dtype=np.float64)
    history = []
    for it in range(max_iter):
        R_aug, n, rho = run_pass(w)
        history.append(rho / n)
        R, z = R_aug[:-1, :-1], R_aug[:-1, -1]
        if np.any(np.diag(R) == 0):
            raise TrainingError("the reweighted design is rank deficient: too few rows "
                                "within <opt:huber_delta> of the fit; raise it")
        w_new = solve_triangular(R, z)
        step = float(np.max(np.abs(w_new - w))) if len(w) else 0.0
        w = w_new
        if step <= tol * max(1.0, float(np.max(np.abs(w)))):
            return HuberFit(w, history, it + 1, True)
    return HuberFit(w, history, max_iter, False)


# ---- delta: the median of |r| by a mergeable, refinable histogram ----------------------


@lru_cache(maxsize=1)
def log_edges() -> np.ndarray:
    """Round-one bin edges: 0, then ``2^(j/64)`` for every normal double, then inf."""
    j = np.arange(-1022 * LOG_BINS_PER_OCTAVE, 1024 * LOG_BINS_PER_OCTAVE)
    return np.concatenate([[0.0], np.exp2(j / LOG_BINS_PER_OCTAVE), [np.inf]])


class QuantileSketch:
    """Counts of non-negative values in the bins ``[e_i, e_{i+1})`` of given edges.

    Also counts the values below ``edges[0]`` and, when ``collect`` is set, keeps
    the values inside ``[edges[0], edges[-1])`` themselves.  Sums of counts
    and unions of values merge exactly, in any order.  Counts travel sparse
    (bin index, count), so round one's ~131k log bins cost only the bins hit.
    """

    kind = "quantile_sketch"

    def __init__(self, edges, collect=False):
        self.edges = np.asarray(edges, dtype=np.float64)
        self.collect = bool(collect)
        self.counts = np.zeros(len(self.edges) - 1, dtype=np.int64)
        self.below = 0
        self.values = np.zeros(0)

    def add(self, v) -> None:
        v = np.asarray(v, dtype=np.float64).ravel()
        if not np.all(np.isfinite(v)):
            raise ValueError("the quantile sketch got a non-finite value")
        lo, hi = self.edges[0], self.edges[-1]
        self.below += int(np.count_nonzero(v < lo))
        inside = v[(v >= lo) & (v < hi)]
        idx = np.searchsorted(self.edges, inside, side="right") - 1
        self.counts += np.bincount(idx, minlength=len(self.counts))
        if self.collect:
            self.values = np.sort(np.concatenate([self.values, inside]))

    def merge(self, other: "QuantileSketch") -> None:
        self.counts = self.counts + other.counts
        self.below += other.below
        if self.collect:
            self.values = np.sort(np.concatenate([self.values, other.values]))

    def to_dict(self) -> dict:
        hit = np.flatnonzero(self.counts)
        d = {"kind": self.kind, "edges": self.edges, "collect": self.collect,
             "below": self.below, "bins": hit.tolist(), "counts": self.counts[hit].tolist()}
        if self.collect:
            d["values"] = self.values
        return encode_arrays(d)

    @classmethod
    def from_dict(cls, d: dict) -> "QuantileSketch":
        d = decode_arrays(d)
        acc = cls(d["edges"], d["collect"])
        acc.below = int(d["below"])
        acc.counts[np.asarray(d["bins"], dtype=np.int64)] = np.asarray(d["counts"], np.int64)
        if acc.collect:
            acc.values = d["values"]
        return acc


def exact_median(run_round: Callable, n: int, *, cap=100_000, bins=4096, max_rounds=64):
    """The exact median (as ``numpy.median``) of n non-negative values, in a few passes.

    ``run_round(edges, collect) -> QuantileSketch`` is one pass over the values,
    merged.  Round one counts them in ``2^(1/64)``-wide log bins (relative width
    1.09%).  Each later round zooms on the interval of bins holding the
    middle order statistics ``k1 = (n-1)//2`` and ``k2 = n//2``: while it holds
    more than ``cap`` values it is cut into ``bins`` equal bins (the interval
    shrinks by that factor per pass); once it holds at most ``cap`` values, the
    next pass collects them and the median is read off exactly.

    Guarantees: the result is exactly ``(v_(k1) + v_(k2)) / 2`` of the sorted
    values; a reducer holds at most ``cap`` values or ``bins`` counts; the
    number of passes is at most ``2 + ceil(log_bins(count after round one / cap))``
    (values all equal within one ulp finish early).  Stopped after round ``r``
    instead, the median is known to lie in the reported interval, of relative
    width 1.09% after round one and ``1.09% / bins^(r-1)`` after round ``r``.
    """
    if n <= 0:
        raise ValueError("the median of no values")
    ranks = ((n - 1) // 2, n // 2)
    edges, collect = log_edges(), False
    for _ in range(max_rounds):
        sk = run_round(edges, collect)
        if collect:
            offset = sk.below
            return 0.5 * (sk.values[ranks[0] - offset] + sk.values[ranks[1] - offset])
        cum = sk.below + np.cumsum(sk.counts)
        first, last = (int(np.searchsorted(cum, k, side="right")) for k in ranks)
        lo, hi = float(sk.edges[first]), float(sk.edges[last + 1])
        inside = int(cum[last] - (cum[first - 1] if first else sk.below))
        if np.nextafter(lo, np.inf) >= hi:      # one representable value: it is the median
            return lo
        if inside <= cap:
            edges, collect = np.array([lo, hi]), True
        else:
            if not np.isfinite(hi):
                hi = float(np.finfo(np.float64).max)
            edges = np.unique(np.linspace(lo, hi, bins + 1))
    raise RuntimeError("exact_median did not finish; raise max_rounds")


def default_delta(median_abs_residual: float) -> float:
    """``1.345 * median(|r|) / 0.6745``; refused when the OLS fit is exact."""
    delta = HUBER_K * float(median_abs_residual) / MAD_CONSTANT
    if not delta > 0:
        raise TrainingError("half the OLS residuals are zero, so the robust scale is zero; "
                            "give <opt:huber_delta> explicitly")
    return delta
