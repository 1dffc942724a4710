"""Issue 9: extreme magnitudes never give a traceback or ``converged: true`` with wrong
coefficients -- they are counted as ``out_of_range`` bad rows, fitted exactly, or refused."""

import numpy as np
import pytest

from tests.functional.helpers import coef_vector, lstsq_reference, run_inline


def _write(path, X, y):
    with open(path, "w") as f:
        f.write("a,b,y\n")
        for row, t in zip(X, y):
            f.write(f"{float(row[0])!r},{float(row[1])!r},{float(t)!r}\n")


def _problem(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    y = X @ [1.5, -2.0] + 0.5 + 0.01 * rng.standard_normal(n)
    return X, y


@pytest.mark.parametrize("solver", ["gd", "qr"])
def test_values_whose_squares_overflow_are_counted_not_a_traceback(tmp_path, solver):
    X, y = _problem()
    Xh, yh = X.copy(), y.copy()
    Xh[:7] *= 1e155          # squares overflow: before, the inline mapper crashed
    yh[7:10] = 3e200
    path = tmp_path / "d.csv"
    _write(path, Xh, yh)
    code, rec, err = run_inline(["--solver", solver, "--tol", "1e-12", str(path)])
    assert code == 0, err
    assert "Traceback" not in err
    assert rec["bad_rows"] == 10 and rec["bad_row_reasons"] == {"out_of_range": 10}
    assert rec["n_rows"] == 190
    coef, b = lstsq_reference(X[10:], y[10:])
    np.testing.assert_allclose(coef_vector(rec), coef, rtol=1e-8)
    assert rec["intercept"] == pytest.approx(b, rel=1e-8)


@pytest.mark.parametrize("solver", ["gd", "cg", "qr"])
def test_large_in_range_values_fit_exactly(tmp_path, solver):
    X, y = _problem()
    s = 1e90
    path = tmp_path / "d.csv"
    _write(path, X * s, y * s)
    code, rec, err = run_inline(["--solver", solver, "--tol", "1e-12", str(path)])
    assert code == 0, err
    # lstsq on [X*s, 1] drops the ones column (its singular value is 1e-90 of the
    # others); the problem is scale invariant: coefficients of (X, y), intercept * s
    coef, b = lstsq_reference(X, y)
    np.testing.assert_allclose(coef_vector(rec), coef, rtol=1e-8)
    assert rec["intercept"] == pytest.approx(b * s, rel=1e-8)


def test_a_tiny_label_is_refused_by_gd_instead_of_converging_wrongly(tmp_path):
    X, y = _problem()
    path = tmp_path / "d.csv"
    _write(path, X * 1e-160, y * 1e-160)
    code, rec, err = run_inline(["--solver", "gd", str(path)])
    assert code == 1 and rec is None  # before: exit 0, converged true, a = 1.39 (not 1.50)
    assert "squares underflow" in err and "--solver qr" in err


def test_a_tiny_label_is_fitted_exactly_on_r(tmp_path):
    X, y = _problem()
    s = 1e-160
    path = tmp_path / "d.csv"
    _write(path, X * s, y * s)
    code, rec, err = run_inline(["--solver", "qr", str(path)])
    assert code == 0, err
    # numpy's lstsq itself underflows at this scale; the problem is scale invariant
    coef, b = lstsq_reference(X, y)
    np.testing.assert_allclose(coef_vector(rec), coef, rtol=1e-8)
    assert rec["intercept"] == pytest.approx(b * s, rel=1e-8)
