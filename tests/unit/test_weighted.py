"""Weighted TSQR and the WLS summary against statsmodels' WLS, zero weights included."""

import json

import numpy as np
import pytest
import statsmodels.api as sm

from mrlinreg.errors import InputError
from mrlinreg.numerics import exact, weighted
from mrlinreg.numerics.summary import ols_summary

STATS = ["params", "bse", "tvalues", "pvalues", "ssr", "ess", "centered_tss",
         "uncentered_tss", "rsquared", "rsquared_adj", "fvalue", "f_pvalue", "llf", "aic",
         "bic", "df_resid", "df_model", "nobs", "condition_number"]


def _data(n=150, d=3, seed=5, zeros=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * [1.0, 10.0, 0.1] + [0, 50, -2]
    wts = rng.uniform(0.2, 3.0, n)
    wts[:zeros] = 0.0
    y = X @ [0.5, -0.02, 3.0] + 1.0 + rng.standard_normal(n) / np.sqrt(np.maximum(wts, 0.2))
    return X, y, wts


def _fit(X, y, wts, blocks=(0, 40, 41, 150)):
    mom = weighted.WeightedMomentsAccumulator(X.shape[1])
    for a, b in zip(blocks[:-1], blocks[1:]):
        part = weighted.WeightedMomentsAccumulator(X.shape[1])
        part.add(X[a:b], wts[a:b])
        mom.merge(weighted.WeightedMomentsAccumulator.from_dict(
            json.loads(json.dumps(part.to_dict()))))
    shift, scale = mom.mean, mom.std
    parts = []
    for a, b in zip(blocks[:-1], blocks[1:]):
        acc = weighted.WeightedQRAccumulator(shift, scale, True)
        acc.add(X[a:b], y[a:b], wts[a:b])
        parts.append(weighted.WeightedQRAccumulator.from_dict(
            json.loads(json.dumps(acc.to_dict()))))
    acc = weighted.WeightedQRAccumulator.merge_all(parts)
    w = exact.solve_r(acc.R, names=["a", "b", "c", "const"]).w
    return acc, shift, scale, w


def test_weighted_moments_match_numpy():
    X, y, wts = _data(zeros=4)
    acc, shift, scale, _ = _fit(X, y, wts)
    np.testing.assert_allclose(shift, np.average(X, axis=0, weights=wts), rtol=1e-13)
    var = np.average((X - shift) ** 2, axis=0, weights=wts)
    np.testing.assert_allclose(scale, np.sqrt(var), rtol=1e-12)
    assert acc.n == 150 and acc.n_zero == 4 and acc.sum_log_w == -np.inf
    np.testing.assert_allclose(acc.sum_w, wts.sum(), rtol=1e-14)


@pytest.mark.parametrize("zeros", [0, 6])
@pytest.mark.filterwarnings("ignore:divide by zero encountered in log:RuntimeWarning")
def test_wls_summary_equals_statsmodels(zeros):
    X, y, wts = _data(zeros=zeros)
    acc, shift, scale, w = _fit(X, y, wts)
    s = weighted.wls_summary(acc.R, acc.n, w, sum_log_weights=acc.sum_log_w, shift=shift,
                             scale=scale, fit_intercept=True, names=["a", "b", "c", "const"])
    ref = sm.WLS(y, np.column_stack([X, np.ones(len(y))]), weights=wts).fit()
    assert ref.nobs == 150   # statsmodels counts zero-weight rows
    for key in STATS:
        mine, theirs = s[key], getattr(ref, key)
        if key in ("llf", "aic", "bic") and zeros:
            assert mine is None and not np.isfinite(theirs), key   # log 0 in statsmodels
            continue
        np.testing.assert_allclose(mine, theirs, rtol=1e-8, err_msg=key)
    np.testing.assert_allclose(s["cov_params"], ref.cov_params(), rtol=1e-8)
    np.testing.assert_allclose(s["conf_int"], ref.conf_int(), rtol=1e-8)


def test_unit_weights_give_the_ols_summary():
    X, y, _ = _data()
    acc, shift, scale, w = _fit(X, y, np.ones(len(y)))
    names = ["a", "b", "c", "const"]
    s = weighted.wls_summary(acc.R, acc.n, w, sum_log_weights=acc.sum_log_w, shift=shift,
                             scale=scale, fit_intercept=True, names=names)
    o = ols_summary(acc.R, acc.n, w, shift=shift, scale=scale, fit_intercept=True, names=names)
    for key in ("params", "bse", "llf", "aic", "rsquared"):
        np.testing.assert_allclose(s[key], o[key], rtol=1e-12)


def test_negative_weight_is_refused():
    acc = weighted.WeightedQRAccumulator(np.zeros(1), np.ones(1), True)
    with pytest.raises(InputError, match="weight_column"):
        acc.add(np.ones((2, 1)), np.ones(2), np.array([1.0, -1.0]))
