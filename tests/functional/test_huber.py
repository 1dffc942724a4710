"""``--loss huber`` through the job: the same objective minimised directly by scipy, the
default delta against numpy's median, the local runner, resume, refused combinations."""

import numpy as np
import pytest
from scipy.optimize import minimize

from mrlinreg.datagen import write_csv
from tests.functional.helpers import coef_vector, lstsq_reference, run_cli, run_inline

TOL = 1e-6
TRUE_W, TRUE_B = np.array([1.5, -0.3, 4.0]), 1.0


def contaminated(n=400, seed=1, n_out=30):
    """A linear model with Gaussian noise, plus ``n_out`` rows whose label is shifted up by
    about 15 +- 20 (outliers on the high side: they pull OLS's intercept and slopes)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * [1.0, 5.0, 0.2] + [2.0, -1.0, 0.0]
    y = X @ TRUE_W + TRUE_B + 0.5 * rng.normal(size=n)
    out = rng.choice(n, n_out, replace=False)
    y[out] += 15.0 + 20.0 * np.abs(rng.normal(size=n_out)) * np.sign(X[out, 0] - 2.0 + 1e-9)
    return X, y


def huber_objective(X, y, b, delta):
    r = y - X @ b[:-1] - b[-1]
    a = np.abs(r)
    return float(np.mean(np.where(a <= delta, 0.5 * r * r, delta * a - 0.5 * delta * delta)))


def scipy_huber(X, y, delta):
    """The same objective minimised directly (BFGS with the exact gradient, from OLS)."""
    A = np.column_stack([X, np.ones(len(y))])

    def grad(b):
        return -A.T @ np.clip(y - A @ b, -delta, delta) / len(y)

    b0 = np.linalg.lstsq(A, y, rcond=None)[0]
    res = minimize(lambda b: huber_objective(X, y, b, delta), b0, jac=grad, method="BFGS",
                   options={"gtol": 1e-13, "maxiter": 100_000})
    return res.x


def ols_delta(X, y):
    coef, b = lstsq_reference(X, y)
    return 1.345 * np.median(np.abs(y - X @ coef - b)) / 0.6745


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    X, y = contaminated()
    path = tmp_path_factory.mktemp("huber") / "d.csv"
    write_csv(str(path), X, y)
    return str(path), X, y


@pytest.fixture(scope="module")
def fitted(data):
    path, _, _ = data
    code, rec, err = run_inline(["--loss", "huber", "--tol", "1e-10", "--model-name", "hub",
                                 "--quiet", path])
    assert code == 0, err
    return rec


def _ours(rec):
    return np.append(coef_vector(rec), rec["intercept"])


def test_huber_equals_scipy_with_the_default_delta(data, fitted):
    _, X, y = data
    rec = fitted
    h = rec["huber"]
    # delta: 1.345 * median |OLS residual| / 0.6745, the median exact (numpy's)
    assert h["delta"] == pytest.approx(ols_delta(X, y), rel=1e-12)
    assert h["delta_source"] == "1.345*MAD of OLS residuals" and h["delta_passes"] == 1
    assert h["scale"] == pytest.approx(h["delta"] / 1.345, rel=1e-14)
    ref = scipy_huber(X, y, h["delta"])
    np.testing.assert_allclose(_ours(rec), ref, rtol=TOL, atol=TOL)
    assert rec["objective"] == pytest.approx(huber_objective(X, y, ref, h["delta"]), rel=1e-12)
    assert rec["solver"] == "irls" and rec["strategy"] == "passes" and rec["converged"]
    # passes: the fused first pass (OLS), one sketch pass, one IRLS pass per iterate 0..k
    assert rec["passes"] == 2 + rec["iterations"] + 1
    # history: the Huber objective per iteration, never rising (IRLS majorises)
    losses = [h_["loss"] for h_ in rec["history"]]
    assert len(losses) == rec["iterations"] and losses[-1] == rec["objective"]
    assert all(b <= a * (1 + 1e-12) for a, b in zip([h["ols_objective"]] + losses, losses))
    # loss and metrics: the data's MSE at the fitted weights
    r = y - X @ coef_vector(rec) - rec["intercept"]
    assert rec["loss"] == pytest.approx(np.mean(r * r), rel=1e-9)
    assert rec["options"]["loss"] == "huber"


def test_huber_resists_the_outliers_that_bend_ols(data, fitted):
    _, X, y = data
    coef, b = lstsq_reference(X, y)
    ols_err = np.abs(np.append(coef, b) - np.append(TRUE_W, TRUE_B))
    hub_err = np.abs(_ours(fitted) - np.append(TRUE_W, TRUE_B))
    assert ols_err.max() > 1.0          # the outliers bend OLS by more than 1
    assert hub_err.max() < 0.25 * ols_err.max()


def test_user_delta_on_the_local_runner_with_two_files(data, tmp_path):
    _, X, y = data
    write_csv(str(tmp_path / "a.csv"), X[:150], y[:150])
    write_csv(str(tmp_path / "b.csv"), X[150:], y[150:])
    code, rec, err = run_cli(["-r", "local", "--loss", "huber", "--huber-delta", "1.0",
                              "--tol", "1e-8", "--quiet", str(tmp_path)])
    assert code == 0, err
    assert rec["huber"]["delta"] == 1.0 and rec["huber"]["delta_source"] == "user"
    assert rec["huber"]["scale"] is None and rec["huber"]["delta_passes"] == 0
    np.testing.assert_allclose(_ours(rec), scipy_huber(X, y, 1.0), rtol=TOL, atol=TOL)
    assert rec["passes"] == 1 + rec["iterations"] + 1  # no sketch pass


def test_huber_resumes_bit_for_bit(data, fitted, monkeypatch):
    from mrlinreg.driver import lifecycle

    path, _, _ = data

    class Crash(Exception):
        pass

    args = ["--loss", "huber", "--tol", "1e-10", "--quiet", path]
    real = lifecycle.SnapshotWriter.__call__

    cut = []

    def crash(self, step, *a, **kw):
        real(self, step, *a, **kw)
        cut.append(self.run_id)
        if step.iteration == 2 and not kw.get("finished"):
            raise Crash()
    monkeypatch.setattr(lifecycle.SnapshotWriter, "__call__", crash)
    with pytest.raises(Crash):
        run_inline(["--model-name", "hub_cut", *args])
    monkeypatch.setattr(lifecycle.SnapshotWriter, "__call__", real)
    code, rec, err = run_inline(["--model-name", "hub_cut", "--resume", *args])
    assert code == 0, err
    assert rec["run_id"] == cut[-1]  # the interrupted run, continued
    assert rec["coefficients"] == fitted["coefficients"]
    assert rec["intercept"] == fitted["intercept"]
    assert rec["huber"]["delta"] == fitted["huber"]["delta"]
    assert [h["loss"] for h in rec["history"]] == [h["loss"] for h in fitted["history"]]
    assert rec["passes"] == fitted["passes"]


@pytest.mark.parametrize("args,needle", [
    (["--loss", "huber", "--l1", "0.1"], "--l1 does not combine with --loss huber"),
    (["--loss", "huber", "--l2", "0.1"], "--l2 does not combine with --loss huber"),
    (["--loss", "huber", "--path", "5"], "--path does not combine with --loss huber"),
    (["--loss", "huber", "--cv", "3"], "--cv does not combine with --loss huber"),
    (["--loss", "huber", "--summary"], "--summary does not combine with --loss huber"),
    (["--loss", "huber", "--strategy", "stats"], "--strategy passes"),
    (["--loss", "huber", "--solver", "gd"], "--solver irls"),
    (["--loss", "huber", "--huber-delta", "-1"], "--huber-delta must be a positive"),
    (["--huber-delta", "1"], "--huber-delta needs --loss huber"),
    (["--solver", "irls"], "--solver irls fits --loss huber"),
])
def test_unsupported_combinations_exit_2(data, args, needle):
    path, _, _ = data
    code, rec, err = run_inline([*args, path])
    assert code == 2 and rec is None
    assert needle in err and "usage:" in err and "Traceback" not in err
