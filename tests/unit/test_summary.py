"""ols_summary against statsmodels OLS, every statistic to 1e-8 relative."""

import json

import numpy as np
import pytest
import statsmodels.api as sm

from mrlinreg.numerics import exact, scaling, tsqr
from mrlinreg.numerics.summary import format_summary, ols_summary

RTOL = 1e-8


def _data(n=120, d=4, seed=0, scales=(1.0, 1e3, 1e-2, 50.0), means=(0.0, 5e3, 1.0, -300.0),
          intercept=2.5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * np.array(scales[:d]) + np.array(means[:d])
    beta = np.array([1.5, 0.0, 40.0, -0.01][:d]) / np.array([1.0, 1e-2, 1.0, 1.0][:d])
    y = X @ beta + intercept + rng.normal(scale=2.0, size=n)
    return X, y


def _names(d, fit_intercept):
    return [f"x{j}" for j in range(d)] + (["intercept"] if fit_intercept else [])


def _standardization(X, fit_intercept, standardize):
    return scaling.standardization(X.mean(0), X.std(0), np.sqrt((X ** 2).mean(0)),
                                   fit_intercept, standardize)


def _fit(X, y, fit_intercept, standardize, n_mappers=3, **solve_kwargs):
    shift, scale = _standardization(X, fit_intercept, standardize)
    A = scaling.design_matrix(X, shift, scale, fit_intercept)
    R = tsqr.merge(tsqr.update(None, part)
                   for part in np.array_split(np.column_stack([A, y]), n_mappers))
    names = _names(X.shape[1], fit_intercept)
    solution = exact.solve_r(R, names=names, **solve_kwargs)
    return R, A, shift, scale, names, solution


def _statsmodels(X, y, fit_intercept):
    exog = np.column_stack([X, np.ones(len(y))]) if fit_intercept else X
    return sm.OLS(y, exog).fit()


def _close(ours, theirs, rtol=RTOL):
    np.testing.assert_allclose(np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float),
                               rtol=rtol, atol=0)


CASES = [
    # (fit_intercept, standardize, seed)
    (True, True, 0),
    (True, False, 1),
    (False, True, 2),
    (False, False, 3),
]


@pytest.mark.parametrize("fit_intercept, standardize, seed", CASES)
def test_matches_statsmodels(fit_intercept, standardize, seed):
    X, y = _data(seed=seed)
    R, A, shift, scale, names, solution = _fit(X, y, fit_intercept, standardize)
    r = y - A @ solution.w
    s = ols_summary(R, len(y), solution.w, shift=shift, scale=scale,
                    fit_intercept=fit_intercept, names=names,
                    sum_abs_residuals=float(np.abs(r).sum()))
    ref = _statsmodels(X, y, fit_intercept)

    _close(s["params"], ref.params)
    _close(s["bse"], ref.bse)
    _close(s["tvalues"], ref.tvalues)
    _close(s["pvalues"], ref.pvalues)
    _close(s["conf_int"], ref.conf_int(alpha=0.05))
    _close(s["cov_params"], ref.cov_params())
    for key in ["ssr", "ess", "rsquared", "rsquared_adj", "fvalue", "f_pvalue", "llf", "aic",
                "bic", "mse_resid", "condition_number", "uncentered_tss"]:
        _close(s[key], getattr(ref, key))
    if fit_intercept:       # without the ones column, R_aug cannot give sum(y)
        _close(s["centered_tss"], ref.centered_tss)
    else:
        assert s["centered_tss"] is None
    assert s["df_resid"] == ref.df_resid and s["df_model"] == ref.df_model
    assert s["k_constant"] == ref.k_constant and s["nobs"] == ref.nobs
    _close(s["rmse"], np.sqrt(np.mean(ref.resid ** 2)))
    _close(s["mae"], np.mean(np.abs(ref.resid)))
    json.dumps(s, allow_nan=False)


def test_raw_condition_number_is_statsmodels_on_wide_scales():
    # Raw features spanning 1e-2..1e3 with a large mean: cond ~1e6.
    X, y = _data(seed=4)
    R, _, shift, scale, names, solution = _fit(X, y, True, True)
    s = ols_summary(R, len(y), solution.w, shift=shift, scale=scale, fit_intercept=True,
                    names=names)
    ref = _statsmodels(X, y, True)
    assert ref.condition_number > 1e5
    _close(s["condition_number"], ref.condition_number)


def test_rss_and_likelihood_are_evaluated_at_the_given_w():
    """A solver stopped early: statistics at w, not at the minimum."""
    X, y = _data(seed=5)
    R, A, shift, scale, names, solution = _fit(X, y, True, True)
    w = solution.w + np.array([0.05, -0.02, 0.01, 0.0, 0.3])
    r = y - A @ w
    s = ols_summary(R, len(y), w, shift=shift, scale=scale, fit_intercept=True, names=names)
    _close(s["ssr"], r @ r, rtol=1e-10)
    assert s["ssr"] > solution.rss
    n = len(y)
    _close(s["llf"], -n / 2 * np.log(2 * np.pi * (r @ r) / n) - n / 2)
    _close(s["params"], scaling.back_transform_matrix(shift, scale, True) @ w)
    # passing the data pass's rss gives the same
    s2 = ols_summary(R, n, w, shift=shift, scale=scale, fit_intercept=True, names=names,
                     rss=float(r @ r))
    _close(s2["fvalue"], s["fvalue"], rtol=1e-10)


def test_intercept_only_model():
    rng = np.random.default_rng(6)
    y = rng.normal(3.0, 1.0, size=40)
    X = np.empty((40, 0))
    R, _, shift, scale, names, solution = _fit(X, y, True, True)
    s = ols_summary(R, 40, solution.w, shift=shift, scale=scale, fit_intercept=True, names=names)
    ref = _statsmodels(X, y, True)
    _close(s["params"], ref.params)
    _close(s["bse"], ref.bse)
    assert s["df_model"] == 0 and s["fvalue"] is None and s["f_pvalue"] is None
    assert s["rsquared"] == pytest.approx(0.0, abs=1e-12)


def test_zero_residual_dof_gives_none_not_nan():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(3, 2))
    y = rng.normal(size=3)
    R, _, shift, scale, names, solution = _fit(X, y, True, False, n_mappers=1)
    s = ols_summary(R, 3, solution.w, shift=shift, scale=scale, fit_intercept=True, names=names)
    assert s["df_resid"] == 0
    for key in ["bse", "tvalues", "pvalues", "conf_int", "rsquared_adj", "fvalue", "mse_resid"]:
        assert s[key] is None, key
    json.dumps(s, allow_nan=False)
    format_summary(s)


@pytest.mark.filterwarnings("ignore:The design matrix is rank-deficient")
def test_rank_deficient_names_the_dependent_columns():
    X, y = _data(seed=8)
    X[:, 3] = 2.0 * X[:, 0] - X[:, 2]                   # x3 = 2 x0 - x2
    R, _, shift, scale, names, solution = _fit(X, y, True, True)
    assert solution.rank_deficient and solution.w is None
    assert solution.rank == 4
    (relation,) = solution.collinearities
    assert set(relation.columns) == {"x0", "x2", "x3"} and relation.dependent
    with pytest.raises(exact.RankDeficientError, match="x3"):
        solution.raise_if_rank_deficient()

    # The minimum-norm solution: flagged, and it fits as well as lstsq does.
    mn = exact.solve_r(R, names=names, min_norm=True)
    A = scaling.design_matrix(X, shift, scale, True)
    lstsq_rss = np.sum((y - A @ np.linalg.lstsq(A, y, rcond=None)[0]) ** 2)
    assert mn.min_norm and mn.rank == 4
    _close(mn.rss, lstsq_rss, rtol=1e-10)
    _close(np.sum((y - A @ mn.w) ** 2), lstsq_rss, rtol=1e-10)

    # Summary: identifiable statistics agree with statsmodels, per-coefficient ones are None.
    s = ols_summary(R, len(y), mn.w, shift=shift, scale=scale, fit_intercept=True, names=names)
    ref = _statsmodels(X, y, True)
    assert s["rank_deficient"] and s["bse"] is None and s["pvalues"] is None
    assert s["df_model"] == ref.df_model and s["df_resid"] == ref.df_resid
    for key in ["ssr", "rsquared", "rsquared_adj", "fvalue", "f_pvalue", "llf", "aic", "bic"]:
        _close(s[key], getattr(ref, key))
    assert ["x3", "x0", "x2"] == sorted(s["collinear_columns"][0], key=["x3", "x0", "x2"].index)
    assert "x3" in s["diagnosis"]
    json.dumps(s, allow_nan=False)


def test_two_independent_dependencies_are_named_separately():
    X, y = _data(seed=9)
    X[:, 1] = X[:, 0] + 2.0 * X[:, 2]                   # x1 = x0 + 2 x2
    X[:, 3] = 5.0                                        # constant: collinear with intercept
    _, _, _, _, _, raw = _fit(X, y, True, False)        # raw: x3 is 5 * intercept
    groups = sorted(tuple(sorted(r.columns)) for r in raw.collinearities)
    assert groups == [("intercept", "x3"), ("x0", "x1", "x2")]
    _, _, _, _, _, std = _fit(X, y, True, True)         # standardised: x3 is a zero column
    assert std.zero_columns == ("x3",)
    assert [sorted(r.columns) for r in std.collinearities] == [["x0", "x1", "x2"]]
    assert std.rank == 3


def test_near_collinear_is_solved_and_named():
    X, y = _data(seed=10)
    rng = np.random.default_rng(11)
    X[:, 2] = 0.5 * X[:, 0] + 1e-6 * rng.normal(size=len(y))     # nearly a copy of x0
    R, _, shift, scale, names, solution = _fit(X, y, True, True)
    assert not solution.rank_deficient and solution.near_collinear
    (relation,) = solution.collinearities
    assert set(relation.columns) == {"x0", "x2"} and not relation.dependent
    assert relation.condition_index > 1e5
    s = ols_summary(R, len(y), solution.w, shift=shift, scale=scale, fit_intercept=True,
                    names=names)
    ref = _statsmodels(X, y, True)
    # Inference is still defined, with the inflated standard errors statsmodels reports
    # (tolerance reflects the conditioning, ~1e6, of the problem itself).
    _close(s["bse"], ref.bse, rtol=1e-6)
    assert s["bse"][2] > 1e4 * s["bse"][1]
    assert "near-collinear" in s["diagnosis"] and "x2" in s["diagnosis"]


def test_csne_polishes_an_inexact_w():
    X, y = _data(seed=12)
    R, A, shift, scale, names, solution = _fit(X, y, True, True)
    w0 = solution.w * (1 + 1e-3 * np.arange(1, 6))       # e.g. gradient descent stopped early
    w1 = w0 + exact.csne_correction(R, A.T @ (y - A @ w0))
    _close(w1, solution.w, rtol=1e-11)
    At_r = A.T @ (y - A @ w0)       # the augmented factor or its leading block: same answer
    np.testing.assert_array_equal(exact.csne_correction(R[:-1, :-1], At_r),
                                  exact.csne_correction(R, At_r))


def test_format_summary_reads_like_statsmodels():
    X, y = _data(seed=13)
    R, A, shift, scale, names, solution = _fit(X, y, True, True)
    s = ols_summary(R, len(y), solution.w, shift=shift, scale=scale, fit_intercept=True,
                    names=names)
    text = format_summary(s)
    for label in ["R-squared", "F-statistic", "Log-Likelihood", "Cond. No.", "P>|t|",
                  "intercept", "x3"]:
        assert label in text
    assert "(uncentered)" in format_summary(
        ols_summary(*_fit(X, y, False, True)[:1], len(y), _fit(X, y, False, True)[5].w,
                    shift=np.zeros(4), scale=_standardization(X, False, True)[1],
                    fit_intercept=False, names=_names(4, False)))
