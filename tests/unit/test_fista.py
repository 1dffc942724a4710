"""FISTA (mrlinreg.numerics.fista) against scikit-learn and coordinate descent, on an
oracle computed from R (the pass oracle gives the same numbers from the data)."""

import copy

import numpy as np
import pytest
from sklearn.linear_model import ElasticNet

from mrlinreg.numerics import enet, fista, ridge, tsqr
from mrlinreg.numerics.scaling import design_matrix
from mrlinreg.numerics.solvers import SolverOptions, evaluate_from_r


def _problem(n=300, d=8, seed=0, noise=0.5, fit_intercept=True):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) * 0.5 + 3.0
    coef = np.zeros(d)
    coef[:3] = [2.0, -1.5, 0.7]
    y = X @ coef + 4.0 + noise * rng.standard_normal(n)
    shift, scale = X.mean(0), X.std(0)
    A = design_matrix(X, shift, scale, fit_intercept)
    R = tsqr.update(None, np.column_stack([A, y]))
    return (X - shift) / scale, y, R


def _run(R, n, l1, l2, mask, tol=1e-11, max_iter=5000, state=None, stop_at=None,
         hessian=True):
    calls = []

    def oracle(W, P, h=False):
        calls.append(W.shape[1])
        return evaluate_from_r(R, n, W, P, h)
    s = fista.Fista(SolverOptions(tol=tol), l1, l2, mask)
    if state is None:
        s.start(oracle, np.zeros(len(mask)), hessian=hessian)
    else:
        s.state = state
    while not s.converged() and s.state["iteration"] < (stop_at or max_iter):
        s.iterate(oracle)
    return s, calls


def _sklearn(Z, y, l1, l2, fit_intercept=True):
    m = ElasticNet(alpha=l1 + l2, l1_ratio=l1 / (l1 + l2), fit_intercept=fit_intercept,
                   tol=1e-12, max_iter=1_000_000).fit(Z, y)
    return np.append(m.coef_, m.intercept_) if fit_intercept else m.coef_


@pytest.mark.parametrize("l1,l2", [(0.05, 0.0), (0.02, 0.1), (0.3, 0.3)])
def test_fista_equals_sklearn_and_coordinate_descent(l1, l2):
    Z, y, R = _problem()
    mask = ridge.penalty_mask(8, True)
    s, calls = _run(R, len(y), l1, l2, mask)
    assert s.converged()
    want = _sklearn(Z, y, l1, l2)
    np.testing.assert_allclose(s.state["w"], want, rtol=0, atol=1e-6)
    cd = enet.fit_enet_r(R, len(y), l1, l2, mask, tol=1e-14)
    np.testing.assert_allclose(s.state["w"], cd.w, rtol=0, atol=1e-6)
    # the same exact zeros as sklearn's, and ours are 0.0 exactly
    assert np.array_equal(s.state["w"][:8] == 0.0, want[:8] == 0.0)
    assert (s.state["w"][:8] == 0.0).any() or l1 < 0.05
    # one oracle call per iteration (the computed step never needed backtracking)
    assert len(calls) == s.state["iteration"] + 1
    # the state's loss is the data MSE, objective the penalised F
    r = R @ np.append(s.state["w"], -1.0)
    assert s.state["loss"] == pytest.approx(r @ r / len(y), rel=1e-12)
    assert s.state["objective"] == pytest.approx(
        enet.enet_objective(R, len(y), s.state["w"], l1, l2, mask), rel=1e-12)


def test_lasso_without_intercept():
    Z, y, R = _problem(fit_intercept=False)
    mask = ridge.penalty_mask(8, False)
    X, *_ = _problem()
    s, _ = _run(R, len(y), 0.05, 0.01, mask)
    assert s.converged() and len(s.state["w"]) == 8
    G, b, _ = enet.gram_from_r(R, len(y))
    cd = enet.coordinate_descent(G, b, 0.05, 0.01, mask, tol=1e-14)
    np.testing.assert_allclose(s.state["w"], cd.w, atol=1e-7)


def test_lipschitz_is_the_largest_eigenvalue_plus_l2():
    Z, y, R = _problem()
    G, _, _ = enet.gram_from_r(R, len(y))
    mask = ridge.penalty_mask(8, True)
    assert fista.lipschitz(G, 0.3, mask) == pytest.approx(
        np.linalg.norm(G, 2) + 0.3, rel=1e-12)


def test_without_a_hessian_backtracking_finds_the_step():
    Z, y, R = _problem()
    mask = ridge.penalty_mask(8, True)
    s, calls = _run(R, len(y), 0.05, 0.02, mask, hessian=False)
    assert s.converged()
    np.testing.assert_allclose(s.state["w"], _sklearn(Z, y, 0.05, 0.02), atol=1e-6)
    assert len(calls) > s.state["iteration"] + 1  # some passes were backtracking
    G, _, _ = enet.gram_from_r(R, len(y))
    assert s.state["L"] >= np.linalg.norm(G, 2) / 2


def test_kkt_residual_is_zero_at_the_minimiser_and_counts_the_intercept():
    w = np.array([0.0, 2.0, 1.0])
    mask = np.array([1.0, 1.0, 0.0])
    g = np.array([0.05, -0.1, 0.0])   # |g0| < l1 at a zero, g1 = -l1 sign(w1)
    assert fista.kkt_residual(w, g, 0.1, mask) == 0.0
    assert fista.kkt_residual(w, g + [0, 0, 0.3], 0.1, mask) == pytest.approx(0.3)
    assert fista.kkt_residual(w, g + [0.2, 0, 0], 0.1, mask) == pytest.approx(0.15)


def test_fista_resumes_bit_for_bit():
    Z, y, R = _problem()
    mask = ridge.penalty_mask(8, True)
    whole, _ = _run(R, len(y), 0.05, 0.02, mask)
    half, _ = _run(R, len(y), 0.05, 0.02, mask, stop_at=7)
    resumed, _ = _run(R, len(y), 0.05, 0.02, mask, state=copy.deepcopy(half.state))
    assert resumed.state["iteration"] == whole.state["iteration"]
    assert set(whole.state) == set(fista.EXTRA_FIELDS) | {
        "w", "loss", "g", "g0_norm", "iteration", "prev_loss"}
    for k, v in whole.state.items():
        assert np.array_equal(np.asarray(resumed.state[k]), np.asarray(v)), k


def test_snapshots_keep_every_field_of_the_state():
    from mrlinreg.records import SolverState

    assert SolverState.EXTRA_FIELDS["fista"] == fista.EXTRA_FIELDS
    Z, y, R = _problem()
    s, _ = _run(R, len(y), 0.05, 0.02, ridge.penalty_mask(8, True), stop_at=3)
    back = SolverState.from_values(s.state["w"], SolverState.from_solver_dict(
        "fista", s.state).to_values()).to_solver_dict()
    assert set(back) == set(s.state)
    for k, v in s.state.items():
        assert np.array_equal(np.asarray(back[k]), np.asarray(v)), k
