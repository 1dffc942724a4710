"""Solvers against numpy's least-squares solution, through the R-factor oracle."""

import numpy as np
import pytest

from mrlinreg.numerics.scaling import design_matrix
from mrlinreg.numerics.solvers import (SOLVERS, DivergenceError, SolverOptions,
                                       evaluate_from_r)


def _problem(n=400, d=5, scales=None, seed=0, standardize=True):
    rng = np.random.default_rng(seed)
    scales = np.ones(d) if scales is None else np.asarray(scales, float)
    X = rng.standard_normal((n, d)) * scales + scales
    y = X @ (rng.uniform(-3, 3, d) / scales) + 1.5 + 0.1 * rng.standard_normal(n)
    shift, scale = (X.mean(0), X.std(0)) if standardize else (np.zeros(d), np.ones(d))
    A = design_matrix(X, shift, scale, True)
    R = np.linalg.qr(np.column_stack([A, y]), mode="r")
    w_ref = np.linalg.lstsq(A, y, rcond=None)[0]
    return A, y, R, w_ref


def _oracle(R, n):
    return lambda W, P, hessian=False: evaluate_from_r(R, n, W, P, hessian)


def _run(name, oracle, p, max_iter=500, **kw):
    solver = SOLVERS[name](SolverOptions(**kw))
    solver.start(oracle, np.zeros(p))
    while not solver.converged() and solver.state["iteration"] < max_iter:
        solver.iterate(oracle)
    return solver


def test_evaluate_from_r_matches_direct_computation():
    A, y, R, _ = _problem()
    rng = np.random.default_rng(1)
    W, P = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    ev = evaluate_from_r(R, len(y), W, P, hessian=True)
    res = A @ W - y[:, None]
    np.testing.assert_allclose(ev.loss, (res**2).mean(0), rtol=1e-12)
    np.testing.assert_allclose(ev.grad, A.T @ res / len(y), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ev.hp, A.T @ A @ P / len(y), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ev.hessian, A.T @ A / len(y), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["gd", "cg", "newton"])
def test_solvers_reach_numpy_lstsq(name):
    A, y, R, w_ref = _problem()
    s = _run(name, _oracle(R, len(y)), A.shape[1], tol=1e-10)
    assert s.converged()
    np.testing.assert_allclose(s.state["w"], w_ref, rtol=1e-8)


def test_newton_converges_in_one_step():
    A, y, R, w_ref = _problem()
    s = _run("newton", _oracle(R, len(y)), A.shape[1], tol=1e-10)
    assert s.state["iteration"] == 1
    np.testing.assert_allclose(s.state["w"], w_ref, rtol=1e-12)


def test_cg_beats_steepest_descent_on_ill_conditioned_data():
    # p = 6 unknowns: exact arithmetic needs 6 CG steps; rounding adds a few.
    A, y, R, w_ref = _problem(standardize=False, scales=[1, 3, 10, 30, 100])
    cg = _run("cg", _oracle(R, len(y)), A.shape[1], tol=1e-12)
    assert cg.converged() and cg.state["iteration"] <= 2 * A.shape[1]
    np.testing.assert_allclose(cg.state["w"], w_ref, rtol=1e-7)
    gd = _run("gd", _oracle(R, len(y)), A.shape[1], tol=1e-12, max_iter=100 * A.shape[1])
    assert not gd.converged()


def test_fixed_step_too_large_is_caught():
    A, y, R, _ = _problem()
    with pytest.raises(DivergenceError, match="diverging.*smaller learning_rate"):
        _run("gd", _oracle(R, len(y)), A.shape[1], learning_rate=5.0, line_search="none")


def test_line_search_converges_from_a_bad_first_step():
    A, y, R, w_ref = _problem()
    for lr in (1e4, 1e-4):
        s = _run("gd", _oracle(R, len(y)), A.shape[1], learning_rate=lr, tol=1e-10)
        assert s.converged()
        np.testing.assert_allclose(s.state["w"], w_ref, rtol=1e-8)


def test_raw_features_slow_down_gradient_descent():
    # the point of standardising: same data, same tolerance, many more iterations raw
    A_s, y, R_s, _ = _problem(scales=[1, 10, 100, 1, 1])
    A_r, _, R_r, _ = _problem(scales=[1, 10, 100, 1, 1], standardize=False)
    std = _run("gd", _oracle(R_s, len(y)), A_s.shape[1], tol=1e-6, max_iter=2000)
    raw = _run("gd", _oracle(R_r, len(y)), A_r.shape[1], tol=1e-6, max_iter=2000)
    assert std.converged()
    assert raw.state["iteration"] > 10 * std.state["iteration"]


def test_state_resume_reproduces_the_run_bit_for_bit():
    import copy

    A, y, R, _ = _problem()
    oracle = _oracle(R, len(y))
    full = _run("gd", oracle, A.shape[1], tol=1e-10)
    part = SOLVERS["gd"](SolverOptions(tol=1e-10))
    part.start(oracle, np.zeros(A.shape[1]))
    for _ in range(2):
        part.iterate(oracle)
    resumed = SOLVERS["gd"](SolverOptions(tol=1e-10))
    resumed.state = copy.deepcopy(part.state)
    while not resumed.converged():
        resumed.iterate(oracle)
    assert resumed.state["w"].tobytes() == full.state["w"].tobytes()


def test_options_validated():
    with pytest.raises(ValueError, match="learning_rate"):
        SolverOptions(learning_rate=-1)
    with pytest.raises(ValueError, match="tol"):
        SolverOptions(tol=0)


# -- Newton and CG on the R factor (issue 14) ------------------------------------------------

def _without_factor(oracle):
    """The ``passes`` strategy's view: no factor of H, only H itself when asked."""
    def answer(W, P, hessian=False):
        ev = oracle(W, P, hessian)
        ev.hessian_factor = ev.whitened_grad = None
        return ev
    return answer


def _polynomial_problem(make):
    from mrlinreg.numerics import polynomial_data as pdata, scaling, tsqr

    X, y = make(pdata)
    truth = pdata.exact_least_squares_dyadic(X, y)
    shift, scale = X.mean(0), X.std(0)
    A = design_matrix(X, shift, scale, True)
    R = tsqr.update(None, np.column_stack([A, y]))
    T = scaling.back_transform_matrix(shift, scale, True)
    return R, len(y), T, truth


def _digits(T, w, truth):
    from mrlinreg.numerics import polynomial_data as pdata

    return pdata.log_relative_error(T @ w, truth).min()


@pytest.mark.parametrize("make", [lambda pd: pd.wampler_like(8, seed=1),
                                  lambda pd: pd.polynomial_on_interval(5)])
@pytest.mark.parametrize("name", ["newton", "cg"])
def test_newton_and_cg_on_r_keep_the_digits_of_qr(make, name):
    from mrlinreg.numerics import exact

    R, n, T, truth = _polynomial_problem(make)
    p = R.shape[0] - 1
    qr_digits = _digits(T, exact.solve_r(R, names=[str(j) for j in range(p)]).w, truth)
    on_r = _run(name, _oracle(R, n), p, tol=1e-8, precondition=True)
    assert on_r.converged() and on_r.state["iteration"] == 1   # exact preconditioner: one step
    assert abs(_digits(T, on_r.state["w"], truth) - qr_digits) <= 1.0
    # the same solver through H alone (as in the passes strategy) loses about cond(A) digits
    via_h = _run(name, _without_factor(_oracle(R, n)), p, tol=1e-8)
    assert _digits(T, via_h.state["w"], truth) < qr_digits - 2


def test_newton_on_r_solves_what_cholesky_of_rtr_cannot():
    """Filip (standardised cond ~2e9): R^T R is numerically singular, R is not."""
    from mrlinreg.numerics import exact

    R, n, T, truth = _polynomial_problem(lambda pd: pd.filip_like())
    p = R.shape[0] - 1
    with pytest.raises(DivergenceError, match="singular"):
        _run("newton", _without_factor(_oracle(R, n)), p)
    s = _run("newton", _oracle(R, n), p, tol=1e-6)
    qr_digits = _digits(T, exact.solve_r(R, names=[str(j) for j in range(p)]).w, truth)
    assert abs(_digits(T, s.state["w"], truth) - qr_digits) <= 1.0


@pytest.mark.parametrize("name", ["gd", "cg", "newton"])
def test_without_a_factor_the_solvers_are_unchanged(name):
    # the passes strategy's oracle gives no factor: same algorithms, same state keys
    A, y, R, w_ref = _problem()
    s = _run(name, _without_factor(_oracle(R, len(y))), A.shape[1], tol=1e-10)
    assert s.converged()
    np.testing.assert_allclose(s.state["w"], w_ref, rtol=1e-8)
    assert "hessian_factor" not in s.state and "whitened_grad" not in s.state


def test_cg_on_r_is_plain_cg_unless_asked_to_precondition():
    # stats and passes iterates stay equal by default; plain CG keeps its cond(A)^2 limit
    R, n, _, _ = _polynomial_problem(lambda pd: pd.wampler_like(8, seed=1))
    p = R.shape[0] - 1
    on_r = _run("cg", _oracle(R, n), p, tol=1e-8)
    via_h = _run("cg", _without_factor(_oracle(R, n)), p, tol=1e-8)
    assert on_r.state["iteration"] == via_h.state["iteration"] > 1
    np.testing.assert_array_equal(on_r.state["w"], via_h.state["w"])


def test_plain_cg_still_needs_several_steps_on_ill_conditioned_data():
    A, y, R, w_ref = _problem(standardize=False, scales=[1, 3, 10, 30, 100])
    cg = _run("cg", _without_factor(_oracle(R, len(y))), A.shape[1], tol=1e-12)
    assert cg.converged() and 2 < cg.state["iteration"] <= 2 * A.shape[1]
    np.testing.assert_allclose(cg.state["w"], w_ref, rtol=1e-7)


def test_evaluate_from_r_factor_and_whitened_gradient():
    A, y, R, _ = _problem()
    rng = np.random.default_rng(2)
    W = rng.standard_normal((6, 3))
    ev = evaluate_from_r(R, len(y), W, np.zeros((6, 0)))
    F = ev.hessian_factor
    np.testing.assert_array_equal(F, np.triu(F))
    np.testing.assert_allclose(F.T @ F, A.T @ A / len(y), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(F.T @ ev.whitened_grad, ev.grad, rtol=1e-10, atol=1e-12)


def test_newton_state_with_factor_resumes_bit_for_bit():
    import copy

    R, n, _, _ = _polynomial_problem(lambda pd: pd.wampler_like(5))
    oracle, p = _oracle(R, n), R.shape[0] - 1
    full = _run("newton", oracle, p, tol=1e-14, max_iter=3)
    part = SOLVERS["newton"](SolverOptions(tol=1e-14))
    part.start(oracle, np.zeros(p))
    part.iterate(oracle)
    resumed = SOLVERS["newton"](SolverOptions(tol=1e-14))
    resumed.state = copy.deepcopy(part.state)
    while not resumed.converged() and resumed.state["iteration"] < 3:
        resumed.iterate(oracle)
    assert resumed.state["w"].tobytes() == full.state["w"].tobytes()
