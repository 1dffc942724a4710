"""Heteroskedasticity-robust (sandwich) standard errors HC0-HC3, as statsmodels' ``cov_type``.

With residuals ``e_i = y_i - a_i^T w`` at the OLS fit and leverages
``h_i = a_i^T (A^T A)^{-1} a_i = ||R^{-T} a_i||^2`` (``R`` the R factor of
``A``, so no ``(A^T A)^{-1}`` is formed)::

    Cov_w = (A^T A)^{-1} Meat (A^T A)^{-1},   Meat = sum_i u_i^2 a_i a_i^T
    HC0: u_i = e_i                HC1: HC0 * n / (n - rank)
    HC2: u_i = e_i / sqrt(1 - h_i)    HC3: u_i = e_i / (1 - h_i)

The meat is never summed as a Gram matrix: one pass after the fit folds the
rows ``u_i a_i`` into an R factor ``F`` by TSQR (``Meat = F^T F``), for HC0,
HC2 and HC3 at once (:class:`MeatAccumulator`).  The sandwich is then
assembled without inverting anything but triangles::

    Cov = T Cov_w T^T = B^T B,   B = F R^{-1} L^T,   L = T R^{-1}

with ``T`` the back-transform of :mod:`mrlinreg.numerics.scaling` (the
sandwich is equivariant under the linear reparametrisation, so the working
space and the raw exog ``[X, 1]`` give the same result in original units).
As in statsmodels, the robust tests use the normal distribution unless
``use_t`` is asked for.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular

from mrlinreg.codec import decode_arrays, encode_arrays
from mrlinreg.errors import OptionError, TrainingError
from mrlinreg.numerics import scaling, tsqr
from mrlinreg.numerics.scaling import design_matrix

__all__ = ["COV_TYPES", "MeatAccumulator", "robust_cov"]

COV_TYPES = ("HC0", "HC1", "HC2", "HC3")
_FACTOR_OF = {"HC0": "F0", "HC1": "F0", "HC2": "F2", "HC3": "F3"}


class MeatAccumulator:
    """R factors of the rows ``u_i a_i`` for HC0 (``F0``), HC2 (``F2``) and HC3 (``F3``).

    Parameters
    ----------
    w : ndarray of shape (p,)
        The fitted working weights.
    R : ndarray of shape (p, p)
        R factor of ``A`` (``R_aug[:-1, :-1]``), for the leverages.
    shift, scale, fit_intercept
        The design of :mod:`scaling`.
    """

    kind = "hc_meat"

    def __init__(self, w, R, shift, scale, fit_intercept):
        self.w = np.asarray(w, dtype=np.float64)
        self.Rx = np.asarray(R, dtype=np.float64)
        self.shift, self.scale, self.fit_intercept = shift, scale, fit_intercept
        self.n = 0
        self.F = {"F0": None, "F2": None, "F3": None}

    def add(self, X: np.ndarray, y: np.ndarray) -> None:
        if X.shape[0] == 0:
            return
        A = design_matrix(X, self.shift, self.scale, self.fit_intercept)
        self._fold(A, np.asarray(y, dtype=np.float64) - A @ self.w, X.shape[0])

    def _fold(self, A: np.ndarray, e: np.ndarray, n_rows: int) -> None:
        """Fold the rows ``u_i a_i`` of design rows ``A`` and residuals ``e`` into F0-F3."""
        V = solve_triangular(self.Rx, A.T, trans="T")
        h = np.einsum("ij,ij->j", V, V)
        if np.any(h >= 1.0 - 1e-12):
            raise TrainingError(
                "a row has leverage 1 (the fit passes through it exactly): HC2 and HC3 are "
                "undefined; use <opt:cov_type> HC0 or HC1")
        one_minus = 1.0 - h
        for key, u in (("F0", e), ("F2", e / np.sqrt(one_minus)), ("F3", e / one_minus)):
            self.F[key] = tsqr.update(self.F[key], u[:, None] * A)
        self.n += n_rows

    @classmethod
    def merge_all(cls, accs) -> "MeatAccumulator":
        accs = list(accs)
        total = cls.__new__(cls)
        total.n = sum(a.n for a in accs)
        total.F = {}
        for key in ("F0", "F2", "F3"):
            Fs = [a.F[key] for a in accs if a.F[key] is not None]
            total.F[key] = tsqr.merge(Fs) if Fs else None
        return total

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "n": self.n}
        d.update({k: v for k, v in self.F.items() if v is not None})
        return encode_arrays(d)

    @classmethod
    def from_dict(cls, d: dict) -> "MeatAccumulator":
        d = decode_arrays(d)
        acc = cls.__new__(cls)
        acc.n = int(d["n"])
        acc.F = {k: d.get(k) for k in ("F0", "F2", "F3")}
        return acc


def robust_cov(R, meat_factors: dict, n, *, cov_type, shift, scale, fit_intercept, params,
               rank=None, use_t=False, alpha=0.05) -> dict:
    """The sandwich covariance in original units and the inference that goes with it.

    Parameters
    ----------
    R : ndarray of shape (p, p)
        R factor of ``A`` (full rank).
    meat_factors : dict
        ``MeatAccumulator.F`` after the merge.
    n : int
    cov_type : {"HC0", "HC1", "HC2", "HC3"}
    shift, scale, fit_intercept
        The design of :mod:`scaling`.
    params : array_like of shape (p,)
        Coefficients in original units (``T w``).
    rank : int, optional
        ``p`` by default; HC1's ``n / (n - rank)``.
    use_t : bool
        t distribution with ``n - rank`` degrees of freedom instead of the normal.

    Returns
    -------
    dict
        ``cov_type``, ``cov_params`` (p, p), ``bse``, ``tvalues``, ``pvalues``,
        ``conf_int`` (p, 2), ``use_t``.
    """
    if cov_type not in COV_TYPES:
        raise OptionError(f"<opt:cov_type> must be one of {', '.join(COV_TYPES)}", "cov_type")
    R = np.asarray(R, dtype=np.float64)
    p = R.shape[0]
    rank = p if rank is None else int(rank)
    F = meat_factors[_FACTOR_OF[cov_type]]
    T = scaling.back_transform_matrix(shift, scale, fit_intercept)
    L = solve_triangular(R, T.T, trans="T").T            # T R^{-1}
    B = F @ solve_triangular(R, L.T)                     # F R^{-1} L^T
    cov = B.T @ B
    if cov_type == "HC1":
        cov = cov * (n / (n - rank))
    from scipy import stats  # here, not at import: MapReduce tasks import this module

    bse = np.sqrt(np.diag(cov))
    params = np.asarray(params, dtype=np.float64)
    tvalues = params / bse
    dist = stats.t(n - rank) if use_t else stats.norm
    pvalues = 2.0 * dist.sf(np.abs(tvalues))
    q = dist.ppf(1.0 - alpha / 2.0)
    return {"cov_type": cov_type, "cov_params": cov, "bse": bse, "tvalues": tvalues,
            "pvalues": pvalues, "conf_int": np.column_stack([params - q * bse, params + q * bse]),
            "use_t": bool(use_t)}


def robust_f_test(params, cov, fit_intercept, df_resid) -> tuple:
    """The Wald F test that every slope is zero, with a robust covariance (statsmodels'
    ``fvalue``/``f_pvalue`` when ``cov_type`` is not ``nonrobust``)::

        F = (C b)^T (C Cov C^T)^{-1} (C b) / q,   p = F(q, df_resid).sf(F)

    ``C`` selects the ``q`` non-intercept coefficients (intercept last).  Returns
    ``(None, None)`` when there is no slope.
    """
    from scipy import stats

    params = np.asarray(params, dtype=np.float64)
    cov = np.asarray(cov, dtype=np.float64)
    q = len(params) - int(bool(fit_intercept))
    if q < 1 or df_resid <= 0:
        return None, None
    b, V = params[:q], cov[:q, :q]
    fvalue = float(b @ np.linalg.solve(V, b)) / q
    return fvalue, float(stats.f.sf(fvalue, q, df_resid))
