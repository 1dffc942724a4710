"""HC0-HC3 sandwich from the meat factors against statsmodels' cov_type."""

import json

import numpy as np
import pytest
import statsmodels.api as sm

from mrlinreg.errors import TrainingError
from mrlinreg.numerics import robust, scaling, tsqr


def _data(n=120, seed=9):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.standard_normal(n) * 5 + 10, rng.exponential(2.0, n)])
    y = X @ [0.3, -1.2] + 2.0 + rng.standard_normal(n) * (0.2 + np.abs(X[:, 1]))  # heteroskedastic
    return X, y


def _meat(X, y, cuts=(0, 33, 34, 120)):
    shift, scale = X.mean(0), X.std(0)
    A = scaling.design_matrix(X, shift, scale, True)
    R_aug = tsqr.update(None, np.column_stack([A, y]))
    R = R_aug[:-1, :-1]
    w = np.linalg.solve(R, R_aug[:-1, -1])
    parts = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        acc = robust.MeatAccumulator(w, R, shift, scale, True)
        acc.add(X[a:b], y[a:b])
        parts.append(robust.MeatAccumulator.from_dict(json.loads(json.dumps(acc.to_dict()))))
    meat = robust.MeatAccumulator.merge_all(parts[::-1])
    params = scaling.back_transform_matrix(shift, scale, True) @ w
    return R, meat, shift, scale, params


@pytest.mark.parametrize("cov_type", robust.COV_TYPES)
@pytest.mark.parametrize("use_t", [False, True])
def test_sandwich_equals_statsmodels(cov_type, use_t):
    X, y = _data()
    R, meat, shift, scale, params = _meat(X, y)
    mine = robust.robust_cov(R, meat.F, meat.n, cov_type=cov_type, shift=shift, scale=scale,
                             fit_intercept=True, params=params, use_t=use_t)
    ref = sm.OLS(y, np.column_stack([X, np.ones(len(y))])).fit(cov_type=cov_type, use_t=use_t)
    np.testing.assert_allclose(mine["cov_params"], ref.cov_params(), rtol=1e-8)
    for key in ("bse", "tvalues", "pvalues"):
        np.testing.assert_allclose(mine[key], getattr(ref, key), rtol=1e-8, err_msg=key)
    np.testing.assert_allclose(mine["conf_int"], ref.conf_int(), rtol=1e-8)


def test_hc_types_differ_on_heteroskedastic_data():
    X, y = _data()
    R, meat, shift, scale, params = _meat(X, y)
    bse = [robust.robust_cov(R, meat.F, meat.n, cov_type=c, shift=shift, scale=scale,
                             fit_intercept=True, params=params)["bse"] for c in robust.COV_TYPES]
    assert bse[0][0] < bse[1][0] and bse[0][0] < bse[2][0] < bse[3][0]


def test_leverage_one_is_refused():
    X = np.array([[0.0], [0.0], [0.0], [1.0]])
    y = np.array([1.0, 2.0, 3.0, 4.0])
    A = scaling.design_matrix(X, np.zeros(1), np.ones(1), True)
    R = tsqr.update(None, A)
    acc = robust.MeatAccumulator(np.zeros(2), R, np.zeros(1), np.ones(1), True)
    with pytest.raises(TrainingError, match="leverage 1"):
        acc.add(X, y)
