"""``--weight-column``: weighted least squares through the job, against statsmodels' ``WLS``,
numpy's weighted lstsq and scikit-learn's ``sample_weight``, on the inline and local runners."""

import numpy as np
import pytest
import statsmodels.api as sm  # the [test] extra: fail, never skip
from sklearn.linear_model import ElasticNet, Ridge

from tests.functional.helpers import coef_vector, run_cli, run_inline

# statsmodels' WLS takes log(0) for a zero weight (its llf is -inf, as documented)
pytestmark = pytest.mark.filterwarnings("ignore:divide by zero encountered in log")
TOL = 1e-8
N_ZERO = 9  # rows of weight 0


def _write(path, names, cols):
    with open(path, "w") as f:
        f.write(",".join(names) + "\n")
        np.savetxt(f, np.column_stack(cols), delimiter=",", fmt="%.17g")


def _data(seed, n, n_zero):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * np.array([1.0, 10.0, 0.1]) + np.array([5.0, -3.0, 0.0])
    w = rng.uniform(0.2, 3.0, size=n)
    w[rng.choice(n, n_zero, replace=False)] = 0.0
    noise = rng.normal(size=n) / np.sqrt(np.maximum(w, 0.2))  # variance ~ 1/w: WLS's model
    y = X @ np.array([1.5, -0.2, 4.0]) + 2.0 + noise
    return X, w, y


@pytest.fixture(scope="module")
def weighted(tmp_path_factory):
    """Two files, the weight column in the middle, the second with its columns in
    another order (read by name), some zero weights."""
    X, w, y = _data(7, 600, N_ZERO)
    d = tmp_path_factory.mktemp("weights")
    _write(d / "a.csv", ["x0", "wt", "x1", "x2", "y"],
           [X[:250, 0], w[:250], X[:250, 1], X[:250, 2], y[:250]])
    _write(d / "b.csv", ["y", "x2", "wt", "x1", "x0"],
           [y[250:], X[250:, 2], w[250:], X[250:, 1], X[250:, 0]])
    return str(d), X, w, y


@pytest.fixture(scope="module")
def positive(tmp_path_factory):
    """Every weight positive: statsmodels' log-likelihood, AIC and BIC are finite."""
    X, w, y = _data(8, 400, 0)
    d = tmp_path_factory.mktemp("positive")
    _write(d / "p.csv", ["x0", "x1", "x2", "wt", "y"], [X[:, 0], X[:, 1], X[:, 2], w, y])
    return str(d / "p.csv"), X, w, y


def _wls(X, w, y):
    return sm.WLS(y, sm.add_constant(X, prepend=False), weights=w).fit()


def _weighted_lstsq(X, w, y):
    A = np.column_stack([X, np.ones(len(y))]) * np.sqrt(w)[:, None]
    return np.linalg.lstsq(A, y * np.sqrt(w), rcond=None)[0]


@pytest.fixture(scope="module")
def qr_summary(weighted):
    d = weighted[0]
    code, rec, err = run_inline(["--weight-column", "wt", "--solver", "qr", "--summary",
                                 "--quiet", d])
    assert code == 0, err
    return rec


def _check_summary(rec, ref, finite_llf):
    s = rec["summary"]
    names = rec["features"] + ["intercept"]
    assert s["weighted"] is True
    for key in ("params", "bse", "tvalues"):
        np.testing.assert_allclose(s[key], getattr(ref, key), rtol=TOL)
    np.testing.assert_allclose(s["pvalues"], ref.pvalues, rtol=1e-6, atol=1e-300)
    np.testing.assert_allclose(s["conf_int"], ref.conf_int(), rtol=TOL)
    np.testing.assert_allclose(s["cov_params"], ref.cov_params(), rtol=TOL)
    for key in ("rsquared", "rsquared_adj", "fvalue", "ssr", "ess", "centered_tss",
                "condition_number", "mse_resid", "uncentered_tss"):
        assert s[key] == pytest.approx(float(getattr(ref, key)), rel=TOL), key
    assert s["f_pvalue"] == pytest.approx(float(ref.f_pvalue), rel=1e-6, abs=1e-300)
    assert s["nobs"] == ref.nobs and s["df_resid"] == ref.df_resid
    assert s["df_model"] == ref.df_model
    if finite_llf:
        for key in ("llf", "aic", "bic"):
            assert s[key] == pytest.approx(float(getattr(ref, key)), rel=TOL), key
    else:  # statsmodels: log(0) = -inf; our JSON holds no infinities: null
        assert not np.isfinite(ref.llf)
        assert s["llf"] is None and s["aic"] is None and s["bic"] is None
    for name, se, ci in zip(names, ref.bse, ref.conf_int()):
        c = s["coefficients"][name]
        assert c["std_err"] == pytest.approx(se, rel=TOL)
        assert [c["ci_low"], c["ci_high"]] == pytest.approx(list(ci), rel=TOL)


def test_summary_equals_statsmodels_wls_with_zero_weights(weighted, qr_summary):
    _, X, w, y = weighted
    _check_summary(qr_summary, _wls(X, w, y), finite_llf=False)
    assert qr_summary["summary"]["nobs"] == 600  # zero weights count, as statsmodels counts
    assert qr_summary["summary"]["zero_weight_rows"] == N_ZERO


def test_record_and_passes(weighted, qr_summary):
    _, X, w, y = weighted
    rec = qr_summary
    assert rec["weight_column"] == "wt" and rec["options"]["weight_column"] == "wt"
    assert rec["features"] == ["x0", "x1", "x2"]  # the weights are not a feature
    assert rec["n_rows"] == 600 and rec["passes"] == 1  # one fused pass, as unweighted
    ref = _weighted_lstsq(X, w, y)
    np.testing.assert_allclose(coef_vector(rec), ref[:3], rtol=1e-10)
    assert rec["intercept"] == pytest.approx(ref[3], rel=1e-10)
    r = y - np.column_stack([X, np.ones(len(y))]) @ ref
    assert rec["loss"] == pytest.approx(w @ r**2 / w.sum(), rel=1e-10)  # weighted MSE
    assert rec["metrics"]["r2"] == pytest.approx(_wls(X, w, y).rsquared, rel=1e-10)
    assert rec["metrics"]["sum_weights"] == pytest.approx(w.sum(), rel=1e-13)
    assert rec["metrics"]["zero_weight_rows"] == N_ZERO
    # standardisation by the weighted moments
    mean = w @ X / w.sum()
    np.testing.assert_allclose(rec["scaling"]["shift"], mean, rtol=1e-12)
    np.testing.assert_allclose(rec["scaling"]["scale"],
                               np.sqrt(w @ (X - mean) ** 2 / w.sum()), rtol=1e-12)


def test_summary_with_positive_weights_on_the_local_runner(positive):
    path, X, w, y = positive
    code, rec, err = run_cli(["-r", "local", "--weight-column", "wt", "--solver", "newton",
                              "--strategy", "stats", "--summary", "--quiet", path])
    assert code == 0, err
    _check_summary(rec, _wls(X, w, y), finite_llf=True)
    assert "WLS Regression Results" in err or rec["summary"]["weighted"]


@pytest.mark.parametrize("args", [
    ["--solver", "gd", "--strategy", "stats", "--tol", "1e-12", "--max-iter", "5000"],
    ["--solver", "cg", "--strategy", "stats"],
    ["--solver", "lbfgs", "--strategy", "stats", "--tol", "1e-12"],
    ["--solver", "cg", "--strategy", "passes", "--tol", "1e-12"],
    ["--solver", "newton", "--strategy", "passes"],
    ["--solver", "lbfgs", "--strategy", "passes", "--tol", "1e-11"],
    ["--solver", "cd"],
], ids=lambda a: "-".join(a[1:4:2]))
def test_every_solver_and_strategy_equals_weighted_lstsq(weighted, args):
    d, X, w, y = weighted
    code, rec, err = run_inline(["--weight-column", "wt", "--quiet", *args, d])
    assert code == 0, err
    ref = _weighted_lstsq(X, w, y)
    rtol = 1e-7 if args[1] in ("gd", "lbfgs") else 1e-9
    np.testing.assert_allclose(np.append(coef_vector(rec), rec["intercept"]), ref, rtol=rtol)
    if args[3:4] == ["stats"] or args[1] == "cd":
        assert rec["passes"] == 1


def test_without_intercept_or_standardisation(weighted):
    d, X, w, y = weighted
    code, rec, err = run_inline(["--weight-column", "wt", "--solver", "qr", "--summary",
                                 "--no-fit-intercept", "--quiet", d])
    assert code == 0, err
    ref = sm.WLS(y, X, weights=w).fit()
    np.testing.assert_allclose(coef_vector(rec), ref.params, rtol=1e-10)
    np.testing.assert_allclose(rec["summary"]["bse"], ref.bse, rtol=TOL)
    assert rec["summary"]["rsquared"] == pytest.approx(ref.rsquared, rel=TOL)  # uncentred
    code, rec, err = run_inline(["--weight-column", "wt", "--solver", "cg", "--strategy",
                                 "passes", "--no-standardize", "--tol", "1e-12", "--quiet", d])
    assert code == 0, err
    np.testing.assert_allclose(np.append(coef_vector(rec), rec["intercept"]),
                               _weighted_lstsq(X, w, y), rtol=1e-8)


def _standardised(rec, X):
    return (X - np.array(rec["scaling"]["shift"])) / np.array(rec["scaling"]["scale"])


def test_ridge_equals_sklearn_with_sample_weight(weighted):
    """``(1/2 sum w) sum w r^2 + (l2/2)|b|^2`` is sklearn's ``Ridge(alpha = l2 sum w)``."""
    d, X, w, y = weighted
    for args in (["--solver", "qr"], ["--solver", "cg", "--strategy", "passes",
                                      "--tol", "1e-12"]):
        code, rec, err = run_inline(["--weight-column", "wt", "--l2", "0.3", "--quiet",
                                     *args, d])
        assert code == 0, err
        ref = Ridge(alpha=0.3 * w.sum(), tol=1e-14).fit(_standardised(rec, X), y,
                                                          sample_weight=w)
        np.testing.assert_allclose(rec["working_weights"][:3], ref.coef_, rtol=1e-9)
        assert rec["working_weights"][3] == pytest.approx(ref.intercept_, rel=1e-9)


def test_elastic_net_and_path_equal_sklearn_with_sample_weight(weighted):
    d, X, w, y = weighted
    code, rec, err = run_inline(["--weight-column", "wt", "--l1", "0.05", "--l2", "0.02",
                                 "--path", "8", "--tol", "1e-9", "--quiet", d])
    assert code == 0, err
    A = _standardised(rec, X)
    path = rec["path"]
    for s, l1, l2, coefs, b0 in zip(path["lambdas"], path["l1"], path["l2"],
                                    path["coefficients"], path["intercepts"]):
        ref = ElasticNet(alpha=l1 + l2, l1_ratio=l1 / (l1 + l2), tol=1e-12,
                         max_iter=100_000).fit(A, y, sample_weight=w)
        got = np.array([coefs[f] for f in rec["features"]]) * np.array(rec["scaling"]["scale"])
        np.testing.assert_allclose(got, ref.coef_, atol=1e-6)
    # the largest scale zeroes every weight (up to the rounding of |A^T W r| = lambda_max
    # itself, which sits exactly on the soft threshold)
    first = np.array(list(path["coefficients"][0].values()))
    last = np.array(list(path["coefficients"][-1].values()))
    assert np.max(np.abs(first)) <= 1e-9 * np.max(np.abs(last))


def test_bad_weights_are_counted_bad_rows(tmp_path, weighted):
    d = weighted[0]
    bad = tmp_path / "bad.csv"
    with open(bad, "w") as f:
        f.write("x0,wt,x1,x2,y\n1,-0.5,2,3,4\n1,nan,2,3,4\n1,inf,2,3,4\n1,-1e-300,2,3,4\n"
                "nan,1,2,3,4\n")  # the last: a NaN feature, not a weight
    code, rec, err = run_inline(["--weight-column", "wt", "--solver", "qr", "--quiet",
                                 d, str(bad)])
    assert code == 0, err
    assert rec["bad_row_reasons"] == {"negative_weight": 2, "non_finite_weight": 2,
                                      "non_finite": 1}
    assert rec["n_rows"] == 600
    code, _, err = run_inline(["--weight-column", "wt", "--solver", "qr", "--on-bad-row",
                               "fail", "--quiet", str(bad)])
    assert code == 1 and "negative weight" in err and "1,-0.5,2,3,4" in err


@pytest.mark.parametrize("cov_type", ["HC0", "HC1", "HC2", "HC3"])
def test_robust_standard_errors_equal_statsmodels_wls(weighted, cov_type):
    d, X, w, y = weighted
    code, rec, err = run_inline(["--weight-column", "wt", "--solver", "qr", "--summary",
                                 "--cov-type", cov_type, "--quiet", d])
    assert code == 0, err
    ref = sm.WLS(y, sm.add_constant(X, prepend=False), weights=w).fit(cov_type=cov_type)
    s = rec["summary"]
    assert s["cov_type"] == cov_type and rec["passes"] == 2  # the fit, the weighted meat
    for key in ("bse", "tvalues"):
        np.testing.assert_allclose(s[key], getattr(ref, key), rtol=TOL)
    np.testing.assert_allclose(s["pvalues"], ref.pvalues, rtol=1e-6, atol=1e-300)
    np.testing.assert_allclose(s["conf_int"], ref.conf_int(), rtol=TOL)
    np.testing.assert_allclose(s["cov_params"], ref.cov_params(), rtol=TOL)
    assert s["fvalue"] == pytest.approx(float(ref.fvalue), rel=TOL)
    assert s["rsquared"] == pytest.approx(ref.rsquared, rel=TOL)


def test_every_weight_zero_is_an_error(tmp_path):
    path = tmp_path / "zero.csv"
    _write(path, ["x0", "wt", "y"], [np.arange(5.0), np.zeros(5), np.arange(5.0) * 2])
    code, _, err = run_inline(["--weight-column", "wt", "--quiet", str(path)])
    assert code == 1 and "every weight" in err


@pytest.mark.parametrize("args, words", [
    (["--weight-column", "nope"], ["weight column 'nope'", "not found"]),
    (["--weight-column", "wt", "--features", "x0,wt"], ["not", "feature"]),
    (["--weight-column", "y"], ["weight column", "label"]),
    (["--weight-column", "wt", "--cv", "3"], ["--cv"]),
    (["--weight-column", "wt", "--summary", "--summary-mae"], ["--summary-mae"]),
    (["--weight-column", "wt", "--solver", "qr", "--refine"], ["--refine"]),
    (["--weight-column", "wt", "--formula", "y ~ x0 + x1"], ["--formula"]),
])
def test_refused_up_front(weighted, args, words):
    code, rec, err = run_inline([*args, "--quiet", weighted[0]])
    assert code == 2 and rec is None, err
    assert all(wd in err for wd in words), err
    assert "Traceback" not in err


def test_resume_with_another_weight_column_is_refused(tmp_path):
    X, w, y = _data(9, 200, 0)
    path = tmp_path / "r.csv"
    _write(path, ["x0", "x1", "x2", "wt", "w2", "y"], [X[:, 0], X[:, 1], X[:, 2], w, w * 2, y])
    # a fixed step far too large: the run stops diverging, its snapshots unfinished
    diverge = ["--solver", "gd", "--strategy", "stats", "--line-search", "none",
               "--learning-rate", "50", "--model-name", "weights-resume", "--quiet"]
    code, _, err = run_inline([*diverge, "--weight-column", "wt", "--features", "x0,x1,x2",
                               str(path)])
    assert code == 1 and "diverging" in err
    code, _, err = run_inline([*diverge, "--weight-column", "w2", "--features", "x0,x1,x2",
                               "--resume", str(path)])
    assert code == 2 and "weight_column" in err and "'wt'" in err and "'w2'" in err


def test_predict_ignores_the_weights(tmp_path, weighted, qr_summary):
    """Scoring reads the features by name; the weight column (even a negative or empty
    weight) plays no part, and no row is dropped for it."""
    import json

    from tests.functional.test_predict_job import run_predict

    _, X, w, y = weighted
    model = tmp_path / "model.json"
    model.write_text(json.dumps(qr_summary))
    data = tmp_path / "score.csv"
    _write(data, ["x2", "wt", "x0", "x1", "y"], [X[:50, 2], -w[:50], X[:50, 0], X[:50, 1],
                                                 y[:50]])
    out = tmp_path / "pred.tsv"
    code, err = run_predict(["--model", str(model), "--output", str(out), str(data)])
    assert code == 0, err
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    got = np.array(sorted((int(r[1]), float(r[4])) for r in rows))[:, 1]
    expected = X[:50] @ coef_vector(qr_summary) + qr_summary["intercept"]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
