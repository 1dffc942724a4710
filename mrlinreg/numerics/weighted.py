"""Row weights (``--weight-column``): weighted moments, weighted TSQR, the WLS summary.

Weighted least squares minimises ``sum_i w_i (y_i - a_i^T b)^2``, i.e. ordinary
least squares on the rows scaled by ``sqrt(w_i)`` (statsmodels' ``WLS``
"whitening"): the R factor of ``[sqrt(w) A, sqrt(w) y]`` (TSQR, exactly as in
:mod:`mrlinreg.numerics.tsqr`) takes the place of the R factor of ``[A y]``
in every solver and statistic.  With that factor :func:`summary.ols_summary`
already gives statsmodels' ``WLS`` results (weighted ``ssr``, the weighted
centred total ``sum w (y - ybar_w)^2`` via its re-triangularisation, the
condition number of the whitened exog), except for the likelihood, which
carries the weights' determinant::

    llf_WLS = llf_OLS(whitened) + (1/2) sum_i log w_i

Zero weights: statsmodels keeps zero-weight rows in ``nobs`` (``nobs`` is the
number of rows of the whitened exog), hence in ``df_resid = nobs - rank``,
and its ``llf`` is ``-inf`` (``log 0``).  :func:`wls_summary` does the same:
``n`` counts every row, and ``llf``, ``aic``, ``bic`` are None (the summary's
convention for a non-finite value) when any weight is zero.

Standardisation with weights uses the weighted moments
(:class:`WeightedMomentsAccumulator`): ``mean_w = sum w x / sum w``,
``std_w = sqrt(sum w (x - mean_w)^2 / sum w)``, so that the centred columns of
``sqrt(w) A`` are orthogonal to its intercept column.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from mrlinreg.codec import decode_arrays, encode_arrays
from mrlinreg.errors import InputError
from mrlinreg.numerics import exact, tsqr
from mrlinreg.numerics.scaling import design_matrix

__all__ = ["WeightedMomentsAccumulator", "WeightedQRAccumulator", "check_weights",
           "wls_summary"]


def check_weights(weights) -> np.ndarray:
    """The weights as float64, after checking they are finite and non-negative."""
    weights = np.asarray(weights, dtype=np.float64)
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        raise InputError(
            f"{int(bad.sum())} row(s) have a negative or non-finite weight (first at block "
            f"row {int(np.flatnonzero(bad)[0])}); weights in <opt:weight_column> must be "
            f"finite and >= 0")
    return weights


class WeightedMomentsAccumulator:
    """Row count, weight total, weighted mean and weighted centred sum of squares per column.

    Merge (West 1979, the weighted form of Chan et al.): for parts ``a`` and
    ``b`` with totals ``W_a``, ``W_b`` and ``delta = mean_b - mean_a``,
    ``mean = mean_a + delta W_b / W``, ``m2 = m2_a + m2_b + delta^2 W_a W_b / W``.
    """

    kind = "weighted_moments"

    def __init__(self, k: int):
        self.n = 0
        self.sum_w = 0.0
        self.mean = np.zeros(k)
        self.m2 = np.zeros(k)

    def add(self, Z: np.ndarray, weights: np.ndarray) -> None:
        weights = check_weights(weights)
        if Z.shape[0] == 0:
            return
        W = float(weights.sum())
        self.n += Z.shape[0]
        if W == 0:
            return
        b_mean = weights @ Z / W
        b_m2 = weights @ (Z - b_mean) ** 2
        self._combine(W, b_mean, b_m2)

    def _combine(self, W_b, b_mean, b_m2):
        W = self.sum_w + W_b
        delta = b_mean - self.mean
        self.mean = self.mean + delta * (W_b / W)
        self.m2 = self.m2 + b_m2 + delta**2 * (self.sum_w * W_b / W)
        self.sum_w = W

    def merge(self, other: "WeightedMomentsAccumulator") -> None:
        self.n += other.n
        if other.sum_w > 0:
            self._combine(other.sum_w, other.mean, other.m2)

    @property
    def std(self) -> np.ndarray:
        """Weighted population standard deviation ``sqrt(m2 / sum w)``."""
        return np.sqrt(self.m2 / self.sum_w)

    @property
    def rms(self) -> np.ndarray:
        """Weighted root mean square ``sqrt(sum w x^2 / sum w)``."""
        return np.sqrt(self.m2 / self.sum_w + self.mean**2)

    def to_dict(self) -> dict:
        return encode_arrays({"kind": self.kind, "n": self.n, "sum_w": self.sum_w,
                              "mean": self.mean, "m2": self.m2})

    @classmethod
    def from_dict(cls, d: dict) -> "WeightedMomentsAccumulator":
        d = decode_arrays(d)
        acc = cls(len(d["mean"]))
        acc.n, acc.sum_w, acc.mean, acc.m2 = int(d["n"]), float(d["sum_w"]), d["mean"], d["m2"]
        return acc


class WeightedQRAccumulator:
    """The R factor of ``[sqrt(w) A, sqrt(w) y]`` by TSQR, with the counts WLS needs.

    ``n`` counts every row (zero weights too, as statsmodels' ``nobs``),
    ``n_zero`` the zero-weight rows, ``sum_w`` the weights' total and
    ``sum_log_w`` ``sum log w_i`` (``-inf`` once a weight is zero).
    """

    kind = "weighted_tsqr"

    def __init__(self, shift, scale, fit_intercept):
        self.shift, self.scale, self.fit_intercept = shift, scale, fit_intercept
        self.n = self.n_zero = 0
        self.sum_w = self.sum_log_w = 0.0
        self.R = None

    def add(self, X: np.ndarray, y: np.ndarray, weights: np.ndarray) -> None:
        weights = check_weights(weights)
        if X.shape[0] == 0:
            return
        root = np.sqrt(weights)[:, None]
        A = design_matrix(X, self.shift, self.scale, self.fit_intercept)
        self.R = tsqr.update(self.R, root * np.hstack([A, np.asarray(y, float)[:, None]]))
        self.n += X.shape[0]
        zero = weights == 0
        self.n_zero += int(zero.sum())
        self.sum_w += float(weights.sum())
        self.sum_log_w = -np.inf if zero.any() else self.sum_log_w + float(np.log(weights).sum())

    @classmethod
    def merge_all(cls, accs) -> "WeightedQRAccumulator":
        accs = list(accs)
        total = cls.__new__(cls)
        total.n = sum(a.n for a in accs)
        total.n_zero = sum(a.n_zero for a in accs)
        total.sum_w = float(sum(a.sum_w for a in accs))
        total.sum_log_w = float(sum(a.sum_log_w for a in accs))
        Rs = [a.R for a in accs if a.R is not None]
        total.R = tsqr.merge(Rs) if Rs else None
        return total

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "n": self.n, "n_zero": self.n_zero, "sum_w": self.sum_w,
             "sum_log_w": np.array([self.sum_log_w])}   # an array: -inf travels exactly
        if self.R is not None:
            d["R"] = self.R
        return encode_arrays(d)

    @classmethod
    def from_dict(cls, d: dict) -> "WeightedQRAccumulator":
        d = decode_arrays(d)
        acc = cls.__new__(cls)
        acc.n, acc.n_zero, acc.sum_w = int(d["n"]), int(d["n_zero"]), float(d["sum_w"])
        acc.sum_log_w = float(d["sum_log_w"][0])
        acc.R = d.get("R")
        return acc


def wls_summary(R_w, n, w, *, sum_log_weights: float, shift, scale, fit_intercept: bool,
                names: Sequence[str], alpha: float = 0.05,
                rcond: float = exact.DEFAULT_RCOND, rss: Optional[float] = None) -> dict:
    """statsmodels ``WLS`` results from the weighted R factor (see the module docstring).

    Parameters
    ----------
    R_w : ndarray of shape (p+1, p+1)
        R factor of ``[sqrt(w) A, sqrt(w) y]`` (:class:`WeightedQRAccumulator`).
    n : int
        ALL rows, zero weights included (statsmodels' ``nobs``).
    w : array_like of shape (p,)
        Working weights (intercept last).
    sum_log_weights : float
        ``sum_i log w_i`` (``-inf`` with a zero weight).
    shift, scale, fit_intercept, names, alpha, rcond, rss
        As for :func:`summary.ols_summary`.

    Returns
    -------
    dict
        The keys of :func:`summary.ols_summary` (``ssr`` and the totals weighted,
        ``mae`` None), plus ``weighted: True`` and ``sum_log_weights``.
    """
    from mrlinreg.numerics import summary  # here: tasks import this module (scipy.stats)

    out = summary.ols_summary(R_w, n, w, shift=shift, scale=scale,
                              fit_intercept=fit_intercept, names=names, alpha=alpha,
                              rcond=rcond, rss=rss)
    rank = out["rank"]
    llf = out["llf"]
    if llf is not None:
        llf = llf + 0.5 * float(sum_log_weights)
        llf = llf if np.isfinite(llf) else None
    out["llf"] = llf
    out["aic"] = None if llf is None else -2.0 * llf + 2.0 * rank
    out["bic"] = None if llf is None else -2.0 * llf + np.log(int(n)) * rank
    out["weighted"] = True
    out["sum_log_weights"] = float(sum_log_weights) if np.isfinite(sum_log_weights) else None
    return out
