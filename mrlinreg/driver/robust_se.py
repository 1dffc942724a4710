"""``--cov-type HC0..HC3``: heteroskedasticity-robust inference in the summary.

One pass after the fit (:class:`mrlinreg.numerics.robust.MeatAccumulator`, pass kind
``hc_meat``) folds the rows ``u_i a_i`` into R factors (the sandwich's meat) for HC0,
HC2 and HC3 at once; HC2 and HC3 weight each row by its leverage
``h_i = ||R^{-T} a_i||^2``, computed in the same pass from the fit's R.  The driver
then replaces the summary's standard errors, t statistics, p-values, intervals,
covariance and F test by the robust ones (normal distribution, as statsmodels does
by default with a ``cov_type``); everything else stays the OLS value.
"""

from __future__ import annotations

import numpy as np

from mrlinreg.codec import encode_array
from mrlinreg.numerics.robust import robust_cov, robust_f_test


def apply(run, stats: dict, w) -> dict:
    """``stats`` (from :func:`mrlinreg.numerics.summary.ols_summary`) with robust inference."""
    opts, ctx = run.opts, run.context
    if stats.get("bse") is None:  # rank deficient or no residual degrees of freedom
        return stats
    meat = run.passes.run({
        "pass": "hc_meat", "format": run.data.fmt.to_dict(), "w": encode_array(np.asarray(w)),
        "R": encode_array(ctx.R[:-1, :-1]), "shift": encode_array(ctx.shift),
        "scale": encode_array(ctx.scale), "fit_intercept": opts.fit_intercept}).acc
    rob = robust_cov(ctx.R[:-1, :-1], meat.F, ctx.n, cov_type=opts.cov_type, shift=ctx.shift,
                     scale=ctx.scale, fit_intercept=opts.fit_intercept,
                     params=stats["params"], rank=stats["rank"],
                     alpha=stats.get("alpha", 0.05))
    fvalue, f_pvalue = robust_f_test(stats["params"], rob["cov_params"], opts.fit_intercept,
                                     stats["df_resid"])
    out = dict(stats)
    out.update(cov_type=opts.cov_type, use_t=False,
               bse=[float(v) for v in rob["bse"]], tvalues=[float(v) for v in rob["tvalues"]],
               pvalues=[float(v) for v in rob["pvalues"]],
               conf_int=[[float(a), float(b)] for a, b in rob["conf_int"]],
               cov_params=[[float(v) for v in row] for row in rob["cov_params"]],
               fvalue=fvalue, f_pvalue=f_pvalue)
    return out
