"""Issue 3 through the job: one-pass QR accuracy, Newton in one step, the summary vs statsmodels."""

import numpy as np
import pytest
import statsmodels.api as sm

from mrlinreg.datagen import make_regression, write_csv
from mrlinreg.numerics.polynomial_data import (exact_least_squares, filip_like,
                                               integer_polynomial, log_relative_error)
from tests.functional.helpers import coef_vector, dependent_columns_csv, run_inline


def _fit(path, *args):
    code, rec, err = run_inline(list(args) + [str(path)])
    assert code == 0, err
    return rec, err


def _estimate(rec):
    return np.append(coef_vector(rec), rec["intercept"])


def test_qr_keeps_seven_digits_on_filip_type_data(tmp_path):
    X, y = filip_like()
    path = tmp_path / "filip.csv"
    write_csv(str(path), X, y)
    truth = exact_least_squares(X, y)
    rec, err = _fit(path, "--solver", "qr")
    lre = log_relative_error(_estimate(rec), truth)
    assert min(lre) >= 7.0, lre
    assert rec["passes"] == 1  # moments and R in one pass
    assert any("near-collinear" in w for w in rec["warnings"])  # seen, not silent


def test_passes_strategy_sends_filip_to_qr(tmp_path):
    X, y = filip_like()
    path = tmp_path / "filip.csv"
    write_csv(str(path), X, y)
    code, rec, err = run_inline(["--solver", "gd", "--strategy", "passes", str(path)])
    assert code == 1 and rec is None
    assert "--solver qr" in err and "rank" in err and "x0" in err


def test_qr_on_exact_integer_polynomial(tmp_path):
    X, y, truth = integer_polynomial(5)
    path = tmp_path / "poly5.csv"
    write_csv(str(path), X, y)
    rec, _ = _fit(path, "--solver", "qr")
    assert min(log_relative_error(_estimate(rec), truth)) >= 7.0


def test_newton_converges_in_one_step(tmp_path):
    X, y, _, _ = make_regression(2000, 4, seed=11, scales=[1, 10, 100, 1000])
    path = tmp_path / "d.csv"
    write_csv(str(path), X, y)
    rec, _ = _fit(path, "--solver", "newton", "--strategy", "passes", "--tol", "1e-10")
    assert rec["converged"] and rec["iterations"] == 1
    assert rec["history"][0]["grad_norm"] < 1e-10 * 100
    ref = np.linalg.lstsq(np.column_stack([X, np.ones(len(y))]), y, rcond=None)[0]
    np.testing.assert_allclose(_estimate(rec), ref, rtol=1e-10)


def test_rank_deficiency_is_named(tmp_path):
    path, X, y = dependent_columns_csv(tmp_path)
    for args in (["--solver", "qr"], ["--solver", "gd"],
                 ["--solver", "gd", "--strategy", "passes"],
                 ["--solver", "cg", "--strategy", "passes"]):
        code, rec, err = run_inline([*args, str(path)])
        assert code == 1 and rec is None
        assert "rank" in err and "alpha" in err and "beta" in err and "gamma" in err


@pytest.mark.parametrize("extra", [[], ["--no-fit-intercept"]])
def test_summary_matches_statsmodels(tmp_path, extra):
    X, y, _, _ = make_regression(400, 3, noise=2.0, seed=12, scales=[1, 50, 0.1])
    path = tmp_path / "s.csv"
    write_csv(str(path), X, y)
    rec, err = _fit(path, "--solver", "qr", "--summary", *extra)
    assert "OLS Regression Results" in err
    s = rec["summary"]
    exog = X if extra else np.column_stack([X, np.ones(len(y))])
    ols = sm.OLS(y, exog).fit()
    rel = dict(rtol=1e-8)
    np.testing.assert_allclose(s["params"], ols.params, **rel)
    np.testing.assert_allclose(s["bse"], ols.bse, **rel)
    np.testing.assert_allclose(s["tvalues"], ols.tvalues, **rel)
    np.testing.assert_allclose(s["pvalues"], ols.pvalues, rtol=1e-8, atol=1e-300)
    np.testing.assert_allclose(s["conf_int"], ols.conf_int(), **rel)
    for key, ref in [("rsquared", ols.rsquared), ("rsquared_adj", ols.rsquared_adj),
                     ("fvalue", ols.fvalue), ("llf", ols.llf), ("aic", ols.aic),
                     ("bic", ols.bic), ("condition_number", ols.condition_number),
                     ("df_resid", ols.df_resid), ("df_model", ols.df_model)]:
        assert s[key] == pytest.approx(ref, rel=1e-8), key
    assert s["f_pvalue"] == pytest.approx(ols.f_pvalue, rel=1e-8, abs=1e-300)
    resid = ols.resid
    assert s["rmse"] == pytest.approx(np.sqrt(np.mean(resid**2)), rel=1e-8)
    # everything above from the fit's one pass; MAE needs every residual: not measured
    assert rec["passes"] == 1
    assert s["mae"] is None and "mae" not in rec["metrics"]
    assert "not measured" in s["mae_source"] and "--summary-mae" in s["mae_source"]
    assert "MAE: not measured" in err
    rec, err = _fit(path, "--solver", "qr", "--summary", "--summary-mae", *extra)
    assert rec["passes"] == 2
    assert rec["summary"]["mae"] == pytest.approx(np.mean(np.abs(resid)), rel=1e-8)
    assert rec["metrics"]["mae"] == rec["summary"]["mae"]
    assert "--summary-mae" in rec["summary"]["mae_source"]


def test_summary_mae_comes_from_the_last_pass_of_the_passes_strategy(tmp_path):
    """gd's last pass evaluated the weights it ends on: their MAE costs no pass."""
    X, y, _, _ = make_regression(400, 3, noise=2.0, seed=14)
    path = tmp_path / "g.csv"
    write_csv(str(path), X, y)
    plain, _ = _fit(path, "--solver", "gd", "--strategy", "passes", "--tol", "1e-10")
    rec, _ = _fit(path, "--solver", "gd", "--strategy", "passes", "--tol", "1e-10",
                  "--summary")
    # one first pass, one at the start, one per iteration (the line search's trial
    # steps share it): the MAE adds none.  (The iteration counts of the two fits may
    # differ: with --summary the first pass is the fused one, whose shift rounds
    # differently, and at --tol 1e-10 that can move the stop by an iteration or two.)
    for r in (plain, rec):
        assert r["passes"] == 2 + r["history"][-1]["iteration"]
    fitted = X @ coef_vector(rec) + rec["intercept"]
    assert rec["summary"]["mae"] == pytest.approx(np.mean(np.abs(y - fitted)), rel=1e-9)
    assert "training pass" in rec["summary"]["mae_source"]


def test_summary_mae_needs_summary():
    code, rec, err = run_inline(["--summary-mae", "x.csv"])
    assert code == 2 and rec is None and "--summary-mae" in err and "--summary" in err


def test_summary_for_gd_uses_its_own_weights(tmp_path):
    X, y, _, _ = make_regression(400, 3, noise=2.0, seed=13)
    path = tmp_path / "g.csv"
    write_csv(str(path), X, y)
    rec, _ = _fit(path, "--solver", "gd", "--strategy", "passes", "--summary", "--tol", "1e-10")
    ols = sm.OLS(y, np.column_stack([X, np.ones(len(y))])).fit()
    np.testing.assert_allclose(rec["summary"]["params"], ols.params, rtol=1e-6)
    np.testing.assert_allclose(rec["summary"]["bse"], ols.bse, rtol=1e-6)


def test_min_norm_solution_on_request(tmp_path):
    path, X, y = dependent_columns_csv(tmp_path)
    rec, err = _fit(path, "--solver", "qr", "--min-norm")
    assert any("minimum-norm" in w for w in rec["warnings"])
    fitted = X @ coef_vector(rec) + rec["intercept"]
    A = np.column_stack([X, np.ones(300)])
    np.testing.assert_allclose(fitted, A @ np.linalg.lstsq(A, y, rcond=None)[0], rtol=1e-9,
                               atol=1e-9)


@pytest.mark.parametrize("cores", ["1", "2", "4"])
@pytest.mark.parametrize("problem", ["filip", "wampler8", "integer10", "long10"])
def test_refine_reaches_nine_digits_through_the_job(tmp_path, cores, problem):
    """``--refine``: against the exact rational solution of the parsed doubles (the CSV
    holds them exactly), with 2, 4 and 8 input splits of the inline runner."""
    from mrlinreg.numerics.polynomial_data import wampler_like

    if problem == "filip":
        X, y = filip_like()
    elif problem == "wampler8":
        X, y = wampler_like(8)[:2]
    elif problem == "integer10":
        X, y = integer_polynomial(10)[:2]
    else:  # long and tall: 6000 rows of degree 10, many blocks per split
        from mrlinreg.numerics.polynomial_data import polynomial_on_interval

        X, y = polynomial_on_interval(10, n=6000, seed=4)
    path = tmp_path / "p.csv"
    write_csv(str(path), X, y)
    if problem == "long10":
        from mrlinreg.numerics.polynomial_data import exact_least_squares_dyadic

        truth = exact_least_squares_dyadic(X, y)
    else:
        truth = exact_least_squares(X, y)
    rec, err = _fit(path, "--solver", "qr", "--refine", "--num-cores", cores,
                    "--block-rows", "500")
    lre = log_relative_error(_estimate(rec), truth)
    assert min(lre) >= 9.0, (lre, rec["refinement"])
    steps = rec["refinement"]
    assert 1 <= len(steps) <= 3 and rec["passes"] == 1 + len(steps)
    assert all({"pass", "correction_norm", "estimated_digits"} <= set(s) for s in steps)


@pytest.mark.parametrize("solver", ["newton", "cg"])
def test_newton_and_cg_on_r_keep_qr_digits(tmp_path, solver):
    """On the stats strategy they solve on R instead of forming R^T R (which lost ~3 digits)."""
    from mrlinreg.numerics.polynomial_data import wampler_like

    X, y = wampler_like(8)
    path = tmp_path / "w.csv"
    write_csv(str(path), X, y)
    truth = exact_least_squares(X, y)
    qr, _ = _fit(path, "--solver", "qr")
    other, _ = _fit(path, "--solver", solver, "--strategy", "stats", "--tol", "1e-12")
    lre_qr = min(log_relative_error(_estimate(qr), truth))
    lre = min(log_relative_error(_estimate(other), truth))
    assert lre >= lre_qr - 1.0, (lre, lre_qr)
