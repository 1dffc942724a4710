"""``--cov-type HC0..HC3`` through the job: the summary equals statsmodels' ``cov_type``."""

import numpy as np
import pytest
import statsmodels.api as sm  # the [test] extra: fail, never skip

from mrlinreg.datagen import write_csv
from tests.functional.helpers import run_cli, run_inline

TOL = 1e-8


@pytest.fixture(scope="module")
def hetero(tmp_path_factory):
    """Heteroskedastic noise (spread grows with x0) and a few high-leverage rows."""
    rng = np.random.default_rng(3)
    n = 400
    X = rng.normal(size=(n, 3)) * np.array([1.0, 5.0, 0.2]) + np.array([2.0, -1.0, 0.5])
    X[:5, 0] += 8.0
    y = X @ np.array([0.5, -0.2, 3.0]) + 1.0 + rng.normal(size=n) * (0.2 + np.abs(X[:, 0]))
    d = tmp_path_factory.mktemp("hc")
    write_csv(str(d / "a.csv"), X[:150], y[:150])
    write_csv(str(d / "b.csv"), X[150:], y[150:])
    return d, X, y


def _check(rec, X, y, cov_type):
    ref = sm.OLS(y, sm.add_constant(X, prepend=False)).fit(cov_type=cov_type)
    s = rec["summary"]
    names = rec["features"] + ["intercept"]
    assert s["cov_type"] == cov_type
    for key in ("bse", "tvalues", "pvalues"):
        np.testing.assert_allclose(s[key], getattr(ref, key), rtol=TOL, atol=1e-300)
    np.testing.assert_allclose(s["conf_int"], ref.conf_int(), rtol=TOL)
    for name, se, ci in zip(names, ref.bse, ref.conf_int()):
        c = s["coefficients"][name]
        assert c["std_err"] == pytest.approx(se, rel=TOL)
        assert [c["ci_low"], c["ci_high"]] == pytest.approx(list(ci), rel=TOL)
    assert s["fvalue"] == pytest.approx(float(ref.fvalue), rel=TOL)
    assert s["f_pvalue"] == pytest.approx(float(ref.f_pvalue), rel=1e-6, abs=1e-300)
    # what does not depend on the covariance stays the OLS value
    assert s["rsquared"] == pytest.approx(ref.rsquared, rel=1e-10)
    assert s["llf"] == pytest.approx(ref.llf, rel=1e-10)


@pytest.mark.parametrize("cov_type", ["HC0", "HC1", "HC2", "HC3"])
def test_sandwich_summary_equals_statsmodels(hetero, cov_type):
    d, X, y = hetero
    code, rec, err = run_inline(["--solver", "qr", "--summary", "--cov-type", cov_type,
                                 "--quiet", str(d)])
    assert code == 0, err
    _check(rec, X, y, cov_type)
    assert rec["passes"] == 2  # moments and R (one fused pass), the sandwich's meat


def test_sandwich_on_the_local_runner_with_a_stats_solver(hetero):
    d, X, y = hetero
    code, rec, err = run_cli(["-r", "local", "--solver", "newton", "--strategy", "stats",
                              "--summary", "--cov-type", "HC3", "--quiet", str(d)])
    assert code == 0, err
    _check(rec, X, y, "HC3")


@pytest.mark.parametrize("args,needle", [
    (["--cov-type", "HC1"], "--cov-type needs --summary"),
    (["--summary", "--cov-type", "HC1", "--l2", "0.1"], "--cov-type is for ordinary least"),
    (["--summary", "--cov-type", "HC1", "--l1", "0.1"], "--cov-type is for ordinary least"),
])
def test_cov_type_combinations_refused(hetero, args, needle):
    d, _, _ = hetero
    code, rec, err = run_inline([*args, str(d)])
    assert code == 2 and rec is None and needle in err, err


def test_unknown_cov_type_is_a_usage_error(hetero):
    d, _, _ = hetero
    code, rec, err = run_inline(["--summary", "--cov-type", "HC9", str(d)])
    assert code == 2 and "invalid choice" in err
