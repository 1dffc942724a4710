"""``--l1``/``--l2`` on the passes strategy (FISTA, one pass per iteration) through the job:
equal to scikit-learn's ElasticNet and to coordinate descent on the stats strategy."""

import numpy as np
import pytest
from sklearn import linear_model as sklearn_lm  # the [test] extra: fail, never skip

from mrlinreg.datagen import write_csv
from tests.functional.helpers import coef_vector, run_cli, run_inline

TOL = 1e-6


def _correlated(n=600, seed=7):
    rng = np.random.default_rng(seed)
    scales = np.array([1, 10, 0.1, 5, 2, 1, 30.0])
    X = rng.normal(size=(n, 7)) * scales + rng.normal(size=7) * 3
    X[:, 1] += 0.8 * X[:, 0] * scales[1] / scales[0]          # a correlated pair
    w = np.array([1.5, 0, -2, 0.3, 0, 0.7, 0])
    return X, X @ (w / scales) + 2.0 + rng.normal(size=n)


def sklearn_enet(X, y, l1, l2, fit_intercept=True):
    """ElasticNet on the standardised design (population std), in original units."""
    mu, sd = X.mean(axis=0), X.std(axis=0)
    if not fit_intercept:
        mu, sd = np.zeros(X.shape[1]), np.sqrt((X ** 2).mean(axis=0))
    m = sklearn_lm.ElasticNet(alpha=l1 + l2, l1_ratio=l1 / (l1 + l2), tol=1e-12,
                              max_iter=1_000_000, fit_intercept=fit_intercept)
    m.fit((X - mu) / sd, y)
    coef = m.coef_ / sd
    return coef, (m.intercept_ - coef @ mu) if fit_intercept else 0.0, m.coef_


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    X, y = _correlated()
    path = tmp_path_factory.mktemp("fista") / "d.csv"
    write_csv(str(path), X, y)
    return str(path), X, y


@pytest.fixture(scope="module", params=[(0.05, 0.02), (0.3, 0.0)])
def fits(request, data):
    """The FISTA fit (passes strategy) and the cd fit (stats) of one (l1, l2)."""
    path, X, y = data
    l1, l2 = request.param
    args = ["--l1", str(l1), "--l2", str(l2), "--quiet", path]
    code, fista, err = run_inline(["--strategy", "passes", "--tol", "1e-9", *args])
    assert code == 0, err
    code, cd, err = run_inline(args)
    assert code == 0, err
    return l1, l2, fista, cd


def test_fista_equals_sklearn_and_cd_with_the_same_exact_zeros(data, fits):
    _, X, y = data
    l1, l2, rec, cd = fits
    coef, intercept, z_coef = sklearn_enet(X, y, l1, l2)
    np.testing.assert_allclose(coef_vector(rec), coef, rtol=TOL, atol=TOL)
    assert rec["intercept"] == pytest.approx(intercept, rel=TOL, abs=TOL)
    np.testing.assert_allclose(coef_vector(rec), coef_vector(cd), rtol=TOL, atol=TOL)
    assert rec["intercept"] == pytest.approx(cd["intercept"], rel=TOL, abs=TOL)
    assert rec["selected_features"] == cd["selected_features"] == \
        [f for f, c in zip(rec["features"], z_coef) if c != 0]
    assert all(rec["coefficients"][f] == 0.0 for f in rec["features"]
               if f not in rec["selected_features"])
    assert rec["objective"] == pytest.approx(cd["objective"], rel=1e-10)
    assert rec["loss"] == pytest.approx(cd["loss"], rel=1e-8)


def test_fista_makes_one_pass_per_iteration_and_records_each(fits):
    _, _, rec, _ = fits
    assert rec["solver"] == "cd" and rec["strategy"] == "passes" and rec["converged"] is True
    # moments, the start (with A^T A for the step), then one pass per iteration
    assert rec["passes"] == rec["iterations"] + 2
    hist = rec["history"]
    assert [h["iteration"] for h in hist] == list(range(1, rec["iterations"] + 1))
    assert hist[-1]["loss"] == pytest.approx(rec["loss"], rel=1e-12)
    assert len({h["step"] for h in hist}) == 1   # the computed step, never backtracked
    assert hist[-1]["grad_norm"] < 1e-6 * hist[0]["grad_norm"]


def _factorial(shift, seed=3):
    """A replicated 2^4 factorial design (columns exactly orthogonal, balanced), scaled:
    standardised, A^T A / n is the identity, so FISTA's first step lands on the lasso's
    minimiser and a fit costs three passes (moments, start, one iteration)."""
    rng = np.random.default_rng(seed)
    levels = np.array([[(i >> j) & 1 for j in range(4)] for i in range(16)]) * 2.0 - 1.0
    X = np.tile(levels, (25, 1)) * [1, 5, 0.25, 4] + shift
    y = X @ [0.5, 0.0, 3.0, -0.1] + 1.0 + rng.normal(size=len(X))
    return X, y


def test_lasso_without_intercept_on_passes(tmp_path):
    X, y = _factorial(0.0)
    write_csv(str(tmp_path / "f.csv"), X, y)
    code, rec, err = run_inline(["--strategy", "passes", "--l1", "0.1", "--l2", "0.01",
                                 "--no-fit-intercept", "--tol", "1e-9", "--quiet",
                                 str(tmp_path / "f.csv")])
    assert code == 0, err
    coef, _, _ = sklearn_enet(X, y, 0.1, 0.01, fit_intercept=False)
    np.testing.assert_allclose(coef_vector(rec), coef, rtol=TOL, atol=TOL)
    assert rec["intercept"] == 0.0 and rec["converged"] is True


def test_fista_on_the_local_runner(tmp_path):
    X, y = _factorial([1, -2, 0, 4])
    write_csv(str(tmp_path / "a.csv"), X[:200], y[:200])
    write_csv(str(tmp_path / "b.csv"), X[200:], y[200:])
    # the lasso (l2 = 0): L = 1 = every coordinate's curvature, the intercept's included,
    # so the first step is exact (with l2 > 0 the intercept would take ~10 passes)
    code, rec, err = run_cli(["-r", "local", "--strategy", "passes", "--l1", "0.2",
                              "--tol", "1e-8", "--quiet", str(tmp_path)])
    assert code == 0, err
    coef, intercept, z_coef = sklearn_enet(X, y, 0.2, 0.0)
    np.testing.assert_allclose(coef_vector(rec), coef, rtol=TOL, atol=TOL)
    assert rec["intercept"] == pytest.approx(intercept, rel=TOL, abs=TOL)
    assert rec["selected_features"] == [f"x{j}" for j in np.flatnonzero(z_coef)]
    assert rec["coefficients"]["x1"] == 0.0
    assert rec["passes"] == rec["iterations"] + 2 and rec["converged"] is True


@pytest.mark.parametrize("args", [["--path", "5"], ["--cv", "3"], ["--l1", "0.1", "--cv", "3"]])
def test_path_and_cv_on_passes_are_refused_up_front(data, args):
    path, _, _ = data
    code, rec, err = run_inline(["--strategy", "passes", "--solver", "cd", *args, path])
    assert code == 2 and rec is None
    assert "need the R factor" in err and "usage:" in err and "Traceback" not in err
    assert "rows," not in err


class Crash(Exception):
    pass


def test_fista_resumes_bit_for_bit_from_its_snapshot(data, monkeypatch):
    from mrlinreg.driver import lifecycle

    path, _, _ = data
    base = ["--strategy", "passes", "--l1", "0.05", "--l2", "0.02", "--tol", "1e-8",
            "--quiet"]
    code, whole, err = run_inline(base + ["--model-name", "enet_fista_whole", path])
    assert code == 0, err
    real = lifecycle.SnapshotWriter.__call__

    def crash_after_five(self, step, *a, **kw):
        real(self, step, *a, **kw)
        if step.iteration == 5 and not kw.get("finished"):
            raise Crash()
    monkeypatch.setattr(lifecycle.SnapshotWriter, "__call__", crash_after_five)
    args = base + ["--model-name", "enet_fista_resume", path]
    with pytest.raises(Crash):
        run_inline(args)
    monkeypatch.setattr(lifecycle.SnapshotWriter, "__call__", real)
    code, resumed, err = run_inline(args + ["--resume"])
    assert code == 0, err
    for key in ("coefficients", "intercept", "selected_features", "loss", "objective",
                "iterations", "passes"):
        assert resumed[key] == whole[key], key
    assert [h["loss"] for h in resumed["history"]] == [h["loss"] for h in whole["history"]]
