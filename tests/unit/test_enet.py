"""Elastic net (coordinate descent on R, the path) against scikit-learn (FISTA: test_fista.py)."""

import numpy as np
import pytest
from sklearn.linear_model import ElasticNet

from mrlinreg.numerics import enet, ridge, tsqr
from mrlinreg.numerics.scaling import design_matrix


def _problem(n=300, d=8, seed=0, noise=0.5):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) * 0.5 + 3.0
    coef = np.zeros(d)
    coef[:3] = [2.0, -1.5, 0.7]
    y = X @ coef + 4.0 + noise * rng.standard_normal(n)
    shift, scale = X.mean(0), X.std(0)
    Z = (X - shift) / scale
    A = design_matrix(X, shift, scale, True)
    R = tsqr.update(None, np.column_stack([A, y]))
    return X, y, Z, A, R, shift, scale


def _sklearn(Z, y, l1, l2):
    alpha = l1 + l2
    m = ElasticNet(alpha=alpha, l1_ratio=l1 / alpha, fit_intercept=True, tol=1e-12,
                   max_iter=1_000_000).fit(Z, y)
    return np.append(m.coef_, m.intercept_)


@pytest.mark.parametrize("l1,l2", [(0.05, 0.0), (0.02, 0.1), (0.3, 0.3), (0.001, 1.0)])
def test_coordinate_descent_equals_sklearn(l1, l2):
    X, y, Z, A, R, *_ = _problem()
    fit = enet.fit_enet_r(R, len(y), l1, l2, ridge.penalty_mask(8, True))
    assert fit.converged
    np.testing.assert_allclose(fit.w, _sklearn(Z, y, l1, l2), rtol=0, atol=1e-6)


def test_exact_zeros_and_selected_features():
    X, y, Z, A, R, *_ = _problem()
    mask = ridge.penalty_mask(8, True)
    fit = enet.fit_enet_r(R, len(y), 0.2, 0.05, mask)
    ref = _sklearn(Z, y, 0.2, 0.05)
    assert set(fit.selected(mask)) == set(np.flatnonzero(ref[:8]))
    assert 0 < len(fit.selected(mask)) < 8
    assert np.all(fit.w[np.setdiff1d(np.arange(8), fit.selected(mask))] == 0.0)


def test_ridge_and_ols_are_exact_on_r():
    X, y, Z, A, R, *_ = _problem()
    mask = ridge.penalty_mask(8, True)
    lam = 0.3
    ref = np.linalg.solve(A.T @ A / len(y) + lam * np.diag(mask), A.T @ y / len(y))
    np.testing.assert_allclose(enet.fit_r(R, len(y), lam, mask), ref, rtol=1e-10)
    np.testing.assert_allclose(enet.fit_r(R, len(y), 0.0, mask),
                               np.linalg.lstsq(A, y, rcond=None)[0], rtol=1e-10)


def test_lambda_max_is_where_every_weight_leaves():
    X, y, Z, A, R, *_ = _problem()
    n = len(y)
    G, b, _ = enet.gram_from_r(R, n)
    for alpha in (1.0, 0.5):
        s = enet.lambda_max(G, b, alpha, True)
        np.testing.assert_allclose(s, np.max(np.abs(Z.T @ (y - y.mean()))) / (n * alpha),
                                   rtol=1e-12)
        mask = ridge.penalty_mask(8, True)
        at = enet.fit_enet_r(R, n, alpha * s, (1 - alpha) * s, mask)
        below = enet.fit_enet_r(R, n, alpha * s * 0.99, (1 - alpha) * s * 0.99, mask)
        assert np.all(at.w[:8] == 0.0) and np.count_nonzero(below.w[:8]) >= 1
    assert enet.lambda_max(G, b, 0.0, True) == pytest.approx(enet.lambda_max(G, b, 1.0, True)
                                                             / 1e-3, rel=1e-14)


def test_path_matches_sklearn_at_every_lambda_and_maps_back():
    X, y, Z, A, R, shift, scale = _problem()
    path = enet.enet_path(R, len(y), alpha=enet.mixing(0.3, 0.1), fit_intercept=True,
                          n_lambdas=12)
    assert len(path.lambdas) == 12 and path.converged.all()
    np.testing.assert_allclose(path.lambdas[-1] / path.lambdas[0], 1e-3, rtol=1e-12)
    assert np.all(path.coef[0] == 0.0)
    for i in (1, 5, 11):
        ref = _sklearn(Z, y, path.l1[i], path.l2[i])
        np.testing.assert_allclose(path.weights(i), ref, atol=1e-6)
    coef, intercept = enet.path_to_original(path, shift, scale)
    pred = X @ coef[7] + intercept[7]
    np.testing.assert_allclose(pred, A @ path.weights(7), rtol=1e-10)


def test_ridge_path_uses_glmnet_alpha_floor_and_is_exact():
    X, y, Z, A, R, *_ = _problem(n=6, d=8)   # n <= d: eps = 1e-2
    path = enet.enet_path(R, len(y), alpha=0.0, fit_intercept=True, n_lambdas=5)
    np.testing.assert_allclose(path.lambdas[-1] / path.lambdas[0], 1e-2, rtol=1e-12)
    mask = ridge.penalty_mask(8, True)
    for i, s in enumerate(path.lambdas):
        ref = np.linalg.solve(A.T @ A / 6 + s * np.diag(mask), A.T @ y / 6)
        np.testing.assert_allclose(path.weights(i), ref, rtol=1e-8, atol=1e-12)


def test_warm_start_reaches_the_same_point():
    X, y, Z, A, R, *_ = _problem()
    G, b, _ = enet.gram_from_r(R, len(y))
    mask = ridge.penalty_mask(8, True)
    cold = enet.coordinate_descent(G, b, 0.05, 0.05, mask)
    warm = enet.coordinate_descent(G, b, 0.05, 0.05, mask, w0=cold.w + 0.1)
    np.testing.assert_allclose(warm.w, cold.w, atol=1e-9)


def test_without_intercept_nothing_is_centred():
    X, y, *_ = _problem()
    rms = np.sqrt((X**2).mean(0))
    A = design_matrix(X, np.zeros(8), rms, False)
    R = tsqr.update(None, np.column_stack([A, y]))
    G, b, _ = enet.gram_from_r(R, len(y))
    s = enet.lambda_max(G, b, 1.0, False)
    np.testing.assert_allclose(s, np.max(np.abs(A.T @ y)) / len(y), rtol=1e-12)
    fit = enet.fit_enet_r(R, len(y), 0.05, 0.05, ridge.penalty_mask(8, False))
    ref = ElasticNet(alpha=0.1, l1_ratio=0.5, fit_intercept=False, tol=1e-12,
                     max_iter=1_000_000).fit(A, y)
    np.testing.assert_allclose(fit.w, ref.coef_, atol=1e-6)
