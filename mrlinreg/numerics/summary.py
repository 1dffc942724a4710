"""OLS inference from the TSQR factor, in the user's original units.

Everything is computed from ``R_aug`` (the (p+1, p+1) R factor of
``[A y]``, see :mod:`mrlinreg.numerics.tsqr`), the row count ``n`` and the
working weights ``w``, with ``T`` of :func:`scaling.back_transform_matrix`
carrying results to original units, ``[coef, intercept] = T w``:

    rss(w)   = || R_aug [w; -1] ||^2            (= ||y - A w||^2 for ANY w)
    sigma^2  = rss / (n - rank)
    Cov_w    = sigma^2 (R^T R)^{-1} = sigma^2 R^{-1} R^{-T}
    Cov      = T Cov_w T^T = sigma^2 L L^T,   L = T R^{-1}  (from R^T L^T = T^T)
    se_j     = sigma ||L_j||,  t_j = b_j / se_j,  p_j = 2 t_{n-rank}.sf(|t_j|)
    CI_j     = b_j -+ t_{n-rank}.ppf(0.975) se_j

Totals: ``y^T y = ||R_aug[:, -1]||^2`` (uncentred); with an intercept the
centred total is the residual of ``y`` on the ones column alone, obtained
without cancellation by re-triangularising ``R_aug`` with the ones column
moved first: ``TSS = sum_{i>=1} R'_{i,-1}^2``.  Then, as statsmodels does,

    R^2 = 1 - rss/TSS  (uncentred TSS without an intercept)
    adj R^2 = 1 - (n - k_const) / (n - rank) (1 - R^2)
    F = ((TSS - rss) / df_model) / (rss / df_resid),  df_model = rank - k_const
    llf = -n/2 log(rss) - n/2 (1 + log(2 pi / n))
    AIC = -2 llf + 2 rank,  BIC = -2 llf + log(n) rank
    RMSE = sqrt(rss / n),  MAE = sum|r| / n

Every statistic but MAE comes from ``R_aug``, without a pass over the data;
MAE needs every residual, so it is None unless ``sum_abs_residuals`` is given
(from a pass that ran anyway, or one more; the caller may say which in a
``mae_source`` entry, printed under the table by :func:`format_summary`).

The condition number is statsmodels' ``OLSResults.condition_number``: the
2-norm condition number of the raw exog ``[X, 1]``.  Since ``A = [X, 1] T``,
``[X, 1] = Q R T^{-1}`` and its singular values are those of ``R T^{-1}``,
with ``T^{-1}`` written down directly (``X_j = scale_j A_j + shift_j``).

Statistics that are undefined (zero residual degrees of freedom, an exact
fit, a rank-deficient design for per-coefficient inference) are None, so
the dict is JSON-clean: lists, floats, ints, strings, None.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from scipy import stats
from scipy.linalg import qr, solve_triangular

from mrlinreg.numerics import exact, scaling

__all__ = ["ols_summary", "format_summary"]


def _num(x) -> Optional[float]:
    """A finite float, or None."""
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


def _nums(values) -> Optional[list]:
    return None if values is None else [_num(v) for v in values]


def _inverse_back_transform(shift, scale, fit_intercept):
    """``T^{-1}``: raw exog ``[X, 1] = A T^{-1}``."""
    d = len(shift)
    if not fit_intercept:
        return np.diag(scale)
    Tinv = np.zeros((d + 1, d + 1))
    Tinv[:d, :d] = np.diag(scale)
    Tinv[d, :d] = shift
    Tinv[d, d] = 1.0
    return Tinv


def _centred_tss(R_aug, intercept_index):
    """Residual sum of squares of ``y`` on the ones column alone, from ``R_aug``."""
    k = R_aug.shape[0]
    order = [intercept_index] + [j for j in range(k) if j != intercept_index]
    r = qr(R_aug[:, order], mode="r")[0]
    return float(np.sum(r[1:, -1] ** 2))


def ols_summary(R_aug, n, w, *, shift, scale, fit_intercept: bool, names: Sequence[str],
                sum_abs_residuals: Optional[float] = None, rss: Optional[float] = None,
                alpha: float = 0.05, rcond: float = exact.DEFAULT_RCOND,
                implicit_constant_tss: Optional[float] = None) -> dict:
    """Statsmodels-grade OLS summary at the weights ``w``, in original units.

    See the module docstring for the formulas.

    Parameters
    ----------
    R_aug : ndarray of shape (p+1, p+1)
        R factor of ``[A y]`` over all n rows.
    n : int
        Number of rows.
    w : array_like of shape (p,)
        Working weights (intercept last) from any solver.  Statistics are
        evaluated AT ``w``: for a solver stopped early the rss is larger
        than the minimum and the summary says so honestly.
    shift, scale : array_like of shape (d,)
        The standardisation used to build ``A`` (see :mod:`scaling`).
    fit_intercept : bool
    names : sequence of str
        p names, in the order of ``[coef, intercept] = T w`` (features, then
        "intercept").
    sum_abs_residuals : float, optional
        ``sum |y - A w|`` from a data pass; MAE is None without it.
    rss : float, optional
        ``||y - A w||^2`` from a data pass; by default computed from
        ``R_aug`` (exact up to rounding, no extra pass).
    alpha : float
        Confidence intervals are ``1 - alpha``.
    rcond : float
        Rank threshold, as in :func:`exact.solve_r`.

    Returns
    -------
    dict
        JSON-ready.  Keys: ``names``, ``params``, ``bse``, ``tvalues``,
        ``pvalues``, ``conf_int`` (list of [low, high]), ``cov_params``,
        ``nobs``, ``rank``, ``df_model``, ``df_resid``, ``k_constant``,
        ``ssr``, ``ess``, ``tss`` (centred with an intercept, else
        uncentred), ``centered_tss``, ``uncentered_tss``, ``rsquared``,
        ``rsquared_adj``, ``fvalue``, ``f_pvalue``, ``llf``, ``aic``,
        ``bic``, ``rmse``, ``mae``, ``mse_resid``, ``sigma``,
        ``condition_number``, ``working_condition_number``, ``alpha``,
        ``fit_intercept``, ``rank_deficient``, ``collinear_columns``,
        ``diagnosis``.  Per-coefficient inference is None when the design
        is rank deficient (not identifiable) or ``df_resid == 0``.
    """
    R_aug = np.asarray(R_aug, dtype=np.float64)
    shift = np.asarray(shift, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    p = R_aug.shape[0] - 1
    d = shift.shape[0]
    if p != d + int(fit_intercept) or w.shape != (p,) or len(names) != p:
        raise ValueError(
            f"shapes disagree: R_aug {R_aug.shape}, w {w.shape}, {len(names)} names, "
            f"{d} features, fit_intercept={fit_intercept}"
        )
    n = int(n)
    R = R_aug[:-1, :-1]
    # a design without an intercept column whose columns span the constant (full dummy
    # coding of a formula's C() without intercept): statsmodels counts that constant
    # (k_constant 1) and centres the total sum of squares; the caller gives that TSS
    implicit = implicit_constant_tss is not None and not fit_intercept
    k_constant = int(bool(fit_intercept) or implicit)
    spec = exact.spectrum(R, names, rcond=rcond)
    rank = spec.rank
    df_resid = n - rank
    df_model = rank - k_constant

    if rss is None:
        residual_coords = R_aug @ np.append(w, -1.0)
        rss = float(residual_coords @ residual_coords)
    rss = float(rss)

    T = scaling.back_transform_matrix(shift, scale, fit_intercept)
    params = T @ w

    bse = tvalues = pvalues = conf_int = cov = sigma = mse_resid = None
    if df_resid > 0:
        mse_resid = rss / df_resid
        sigma = np.sqrt(mse_resid)
    if rank == p and sigma is not None:
        L = solve_triangular(R, T.T, trans="T", lower=False).T      # T R^{-1}
        bse = sigma * np.linalg.norm(L, axis=1)
        cov = mse_resid * (L @ L.T)
        with np.errstate(divide="ignore", invalid="ignore"):
            tvalues = params / bse
        pvalues = 2.0 * stats.t.sf(np.abs(tvalues), df_resid)
        q = stats.t.ppf(1.0 - alpha / 2.0, df_resid)
        conf_int = [[_num(b - q * s), _num(b + q * s)] for b, s in zip(params, bse)]

    uncentered_tss = float(np.sum(R_aug[:, -1] ** 2))
    centered_tss = _centred_tss(R_aug, p - 1) if fit_intercept else None
    if implicit:
        centered_tss = float(implicit_constant_tss)
    tss = centered_tss if (fit_intercept or implicit) else uncentered_tss
    ess = tss - rss
    rsquared = 1.0 - rss / tss if tss > 0 else None
    rsquared_adj = None
    if rsquared is not None and df_resid > 0:
        rsquared_adj = 1.0 - (n - k_constant) / df_resid * (1.0 - rsquared)
    fvalue = f_pvalue = None
    if df_model > 0 and df_resid > 0 and rss > 0:
        fvalue = (ess / df_model) / (rss / df_resid)
        f_pvalue = stats.f.sf(fvalue, df_model, df_resid)
    llf = aic = bic = None
    if rss > 0 and n > 0:
        llf = -n / 2.0 * np.log(rss) - n / 2.0 * (1.0 + np.log(2.0 * np.pi / n))
        aic = -2.0 * llf + 2.0 * rank
        bic = -2.0 * llf + np.log(n) * rank

    raw_sv = np.linalg.svd(R @ _inverse_back_transform(shift, scale, fit_intercept),
                           compute_uv=False)
    condition_number = raw_sv[0] / raw_sv[-1] if raw_sv[-1] > 0 else None

    return {
        "names": [str(v) for v in names],
        "params": _nums(params),
        "bse": _nums(bse),
        "tvalues": _nums(tvalues),
        "pvalues": _nums(pvalues),
        "conf_int": conf_int,
        "cov_params": None if cov is None else [_nums(row) for row in cov],
        "alpha": float(alpha),
        "nobs": n,
        "rank": rank,
        "df_model": df_model,
        "df_resid": df_resid,
        "k_constant": k_constant,
        "fit_intercept": bool(fit_intercept),
        "ssr": _num(rss),
        "ess": _num(ess),
        "tss": _num(tss),
        "centered_tss": _num(centered_tss),
        "uncentered_tss": _num(uncentered_tss),
        "rsquared": _num(rsquared),
        "rsquared_adj": _num(rsquared_adj),
        "fvalue": _num(fvalue),
        "f_pvalue": _num(f_pvalue),
        "llf": _num(llf),
        "aic": _num(aic),
        "bic": _num(bic),
        "rmse": _num(np.sqrt(rss / n)) if n > 0 else None,
        "mae": _num(sum_abs_residuals / n) if sum_abs_residuals is not None and n > 0 else None,
        "mse_resid": _num(mse_resid),
        "sigma": _num(sigma),
        "condition_number": _num(condition_number),
        "working_condition_number": _num(spec.condition_number),
        "rank_deficient": rank < p,
        "collinear_columns": [list(r.columns) for r in spec.collinearities]
        + [[c] for c in spec.zero_columns],
        "diagnosis": exact.diagnosis_message(spec, p),
    }


def _cell(x, fmt="{:.4g}"):
    return "-" if x is None else fmt.format(x)


def format_summary(summary: dict) -> str:
    """A statsmodels-like text table of an :func:`ols_summary` dict."""
    s = summary
    r2_label = "R-squared" + ("" if s["fit_intercept"] else " (uncentered)")
    left = [
        ("No. Observations", _cell(s["nobs"], "{:d}")),
        ("Df Residuals", _cell(s["df_resid"], "{:d}")),
        ("Df Model", _cell(s["df_model"], "{:d}")),
        ("RMSE", _cell(s["rmse"])),
        ("MAE", _cell(s["mae"])),
        ("Cond. No.", _cell(s["condition_number"], "{:.3g}")),
    ]
    right = [
        (r2_label, _cell(s["rsquared"], "{:.4f}")),
        ("Adj. " + r2_label, _cell(s["rsquared_adj"], "{:.4f}")),
        ("F-statistic", _cell(s["fvalue"])),
        ("Prob (F-statistic)", _cell(s["f_pvalue"], "{:.3g}")),
        ("Log-Likelihood", _cell(s["llf"], "{:.5g}")),
        ("AIC / BIC", f"{_cell(s['aic'], '{:.4g}')} / {_cell(s['bic'], '{:.4g}')}"),
    ]
    width = 78
    title = "WLS Regression Results" if s.get("weighted") else "OLS Regression Results"
    lines = [title.center(width), "=" * width]
    for (lk, lv), (rk, rv) in zip(left, right):
        lines.append(f"{lk + ':':<20}{lv:>18}  {rk + ':':<24}{rv:>14}")
    lines.append("=" * width)
    level = 1.0 - s["alpha"]
    lo_label, hi_label = f"[{(1 - level) / 2:.3f}", f"{1 - (1 - level) / 2:.3f}]"
    name_width = max([12] + [len(nm) for nm in s["names"]])
    lines.append(f"{'':<{name_width}} {'coef':>11} {'std err':>10} {'t':>8} {'P>|t|':>8} "
                 f"{lo_label:>11} {hi_label:>11}")
    lines.append("-" * width)
    for j, name in enumerate(s["names"]):
        def pick(key, j=j):
            values = s[key]
            return None if values is None else values[j]
        ci = s["conf_int"][j] if s["conf_int"] is not None else [None, None]
        lines.append(
            f"{name:<{name_width}} {_cell(pick('params'), '{:11.4g}'):>11} "
            f"{_cell(pick('bse'), '{:10.3g}'):>10} {_cell(pick('tvalues'), '{:8.3f}'):>8} "
            f"{_cell(pick('pvalues'), '{:8.3f}'):>8} {_cell(ci[0], '{:11.4g}'):>11} "
            f"{_cell(ci[1], '{:11.4g}'):>11}"
        )
    lines.append("=" * width)
    if s["diagnosis"]:
        lines.append("Warning: " + s["diagnosis"])
    if s.get("mae_source"):
        lines.append("MAE: " + s["mae_source"])
    return "\n".join(lines)
