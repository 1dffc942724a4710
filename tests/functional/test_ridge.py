"""``--l2``: ridge regression, every solver and strategy against the closed form."""

import numpy as np
import pytest

from mrlinreg.datagen import make_regression, write_csv
from tests.functional.helpers import (coef_vector, dependent_columns_csv, overfit_csvs,
                                      run_inline)

LAM = 0.3


def ridge_reference(X, y, lam):
    """Closed form on standardised features (population std), intercept not penalised."""
    mu, sd = X.mean(axis=0), X.std(axis=0)
    Z = (X - mu) / sd
    n = len(y)
    w = np.linalg.solve(Z.T @ Z / n + lam * np.eye(X.shape[1]), Z.T @ (y - y.mean()) / n)
    coef = w / sd
    intercept = y.mean() - coef @ mu
    mse = np.mean((y - X @ coef - intercept) ** 2)
    return coef, intercept, mse


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    X, y, _, _ = make_regression(800, 4, noise=1.0, seed=51, scales=[1, 10, 0.1, 100])
    path = tmp_path_factory.mktemp("ridge") / "d.csv"
    write_csv(str(path), X, y)
    return str(path), X, y


@pytest.mark.parametrize("args", [
    ["--solver", "qr"],
    ["--solver", "newton", "--strategy", "passes"],
    ["--solver", "cg", "--strategy", "passes"],
    ["--solver", "gd", "--strategy", "passes"],
    ["--solver", "gd", "--strategy", "stats"],
])
def test_every_solver_reaches_the_ridge_solution(data, args):
    path, X, y = data
    code, rec, err = run_inline([*args, "--l2", str(LAM), "--tol", "1e-10", path])
    assert code == 0, err
    coef, intercept, mse = ridge_reference(X, y, LAM)
    np.testing.assert_allclose(coef_vector(rec), coef, rtol=1e-8)
    assert rec["intercept"] == pytest.approx(intercept, rel=1e-8)
    # the data's MSE, penalty taken out; at the ridge optimum it is first-order in the
    # weights' error (its gradient there is -lam w, not 0), hence a looser tolerance
    assert rec["loss"] == pytest.approx(mse, rel=1e-7)
    assert rec["objective"] > rec["loss"]
    assert rec["options"]["l2"] == LAM


def test_ridge_shrinks_and_cures_rank_deficiency(tmp_path):
    path, X, y = dependent_columns_csv(tmp_path)
    code, rec, err = run_inline(["--solver", "qr", "--l2", "0.1", str(path)])
    assert code == 0, err  # unique solution now
    coef, intercept, _ = ridge_reference(X, y, 0.1)
    np.testing.assert_allclose(coef_vector(rec), coef, rtol=1e-8)


def test_ridge_helps_an_overfit_model_on_held_out_data(tmp_path):
    train, hold, _, _ = overfit_csvs(tmp_path)
    _, ols, _ = run_inline(["--solver", "qr", "--validation", str(hold), str(train)])
    _, rdg, err = run_inline(["--solver", "qr", "--l2", "1.0", "--validation", str(hold),
                              "--summary", str(train)])
    assert rdg["metrics"]["mse"] > ols["metrics"]["mse"]  # worse on the training rows
    assert rdg["metrics"]["validation_mse"] < 0.5 * ols["metrics"]["validation_mse"]
    assert rdg["summary"] is None and any("--l2" in w for w in rdg["warnings"])


def test_negative_l2_is_refused(data):
    path, _, _ = data
    code, rec, err = run_inline(["--l2", "-1", path])
    assert code == 2 and "--l2 must be a non-negative number" in err  # a command error
