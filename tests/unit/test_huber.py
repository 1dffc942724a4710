"""Huber IRLS against a direct scipy minimisation; the exact-median sketch against numpy."""

import json

import numpy as np
import pytest
from scipy.optimize import minimize

from mrlinreg.numerics import huber, scaling, tsqr


def _data(n=300, seed=11):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3)) * [1.0, 4.0, 0.3] + [2.0, -1.0, 5.0]
    y = X @ [1.0, 0.25, -2.0] + 0.5 + rng.standard_t(1.5, n)   # heavy tails
    y[:10] += 40.0
    shift, scale = X.mean(0), X.std(0)
    return X, y, shift, scale, scaling.design_matrix(X, shift, scale, True)


def _sketch_pass(values, chunks=4):
    def run_round(edges, collect):
        parts = []
        for part in np.array_split(values, chunks):
            sk = huber.QuantileSketch(edges, collect)
            sk.add(part)
            parts.append(huber.QuantileSketch.from_dict(json.loads(json.dumps(sk.to_dict()))))
        total = parts[-1]
        for p in parts[-2::-1]:
            total.merge(p)
        run_round.calls += 1
        return total
    run_round.calls = 0
    return run_round


@pytest.mark.parametrize("n,cap", [(1001, 100_000), (1000, 50), (5000, 10), (7, 1)])
def test_sketch_gives_numpys_median_exactly(n, cap):
    rng = np.random.default_rng(n)
    values = np.abs(rng.standard_cauchy(n)) * 1e3
    run = _sketch_pass(values)
    assert huber.exact_median(run, n, cap=cap, bins=16) == np.median(values)
    # the documented bound: 2 + ceil(log_bins(rows in round one's median bin / cap))
    assert 2 <= run.calls <= 2 + max(0, int(np.ceil(np.log(n / cap) / np.log(16))))


def test_sketch_with_ties_and_zeros():
    values = np.array([0.0] * 5 + [2.5] * 6 + [7.0])
    assert huber.exact_median(_sketch_pass(values), 12, cap=1) == np.median(values) == 2.5
    values = np.zeros(9)
    assert huber.exact_median(_sketch_pass(values), 9, cap=1) == 0.0


def _irls(X, y, shift, scale, delta, cuts=(0, 100, 101, 300)):
    def run_pass(w):
        parts = []
        for a, b in zip(cuts[:-1], cuts[1:]):
            acc = huber.HuberIRLSAccumulator(w, delta, shift, scale, True)
            acc.add(X[a:b], y[a:b])
            parts.append(huber.HuberIRLSAccumulator.from_dict(
                json.loads(json.dumps(acc.to_dict()))))
        m = huber.HuberIRLSAccumulator.merge_all(parts)
        return m.R, m.n, m.rho
    return run_pass


def test_irls_equals_direct_minimisation_with_the_default_delta():
    X, y, shift, scale, A = _data()
    R_aug = tsqr.update(None, np.column_stack([A, y]))
    w_ols = np.linalg.solve(R_aug[:-1, :-1], R_aug[:-1, -1])
    r_abs = np.abs(y - A @ w_ols)
    delta = huber.default_delta(huber.exact_median(_sketch_pass(r_abs), len(y)))
    assert delta == pytest.approx(1.345 * np.median(r_abs) / 0.6745, rel=1e-15)
    fit = huber.huber_irls(_irls(X, y, shift, scale, delta), w_ols, tol=1e-12)
    assert fit.converged
    assert np.all(np.diff(fit.objective) <= 1e-15)          # majorise-minimise: never rises

    def f(w):
        r = y - A @ w
        return huber.huber_rho(r, delta).mean(), -A.T @ (r * huber.irls_weights(r, delta)) / len(y)
    ref = minimize(f, w_ols, jac=True, method="BFGS", options={"gtol": 1e-13, "maxiter": 10_000})
    np.testing.assert_allclose(fit.w, ref.x, atol=1e-6, rtol=1e-6)
    assert huber.huber_objective(A, y, fit.w, delta) <= ref.fun + 1e-14
    assert np.max(np.abs(fit.w - w_ols)) > 1e-2   # the outliers did move the fit


def test_huge_delta_is_ols():
    X, y, shift, scale, A = _data()
    fit = huber.huber_irls(_irls(X, y, shift, scale, 1e9), np.zeros(4), tol=1e-14)
    np.testing.assert_allclose(fit.w, np.linalg.lstsq(A, y, rcond=None)[0], rtol=1e-10)
    assert fit.passes == 2
