"""``--l1``/``--l2`` (elastic net), ``--path`` and ``--cv`` through the job, against
scikit-learn and a brute-force k-fold computed with numpy on the same fold assignment."""

import json
import zlib

import numpy as np
import pytest
from sklearn import linear_model as sklearn_lm  # the [test] extra: fail, never skip

from mrlinreg.datagen import write_csv
from tests.functional.helpers import coef_vector, run_cli, run_inline

TOL = 1e-6


def _data(n, scales, seed, sparse_w):
    rng = np.random.default_rng(seed)
    d = len(scales)
    X = rng.normal(size=(n, d)) * np.array(scales) + rng.normal(size=d) * 3
    X[:, 1] += 0.8 * X[:, 0] * scales[1] / scales[0]          # correlated pair
    y = X @ (np.array(sparse_w) / np.array(scales)) + 2.0 + rng.normal(size=n)
    return X, y


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    X, y = _data(600, [1, 10, 0.1, 5, 2, 1, 30], 7, [1.5, 0, -2, 0.3, 0, 0.7, 0])
    path = tmp_path_factory.mktemp("enet") / "d.csv"
    write_csv(str(path), X, y)
    return str(path), X, y


def standardised(X):
    mu, sd = X.mean(axis=0), X.std(axis=0)  # population standard deviation
    return (X - mu) / sd, mu, sd


def sklearn_enet(X, y, l1, l2):
    """sklearn's ElasticNet on the standardised design, mapped back to original units."""
    Z, mu, sd = standardised(X)
    alpha = l1 + l2
    m = sklearn_lm.ElasticNet(alpha=alpha, l1_ratio=l1 / alpha, tol=1e-12, max_iter=1_000_000)
    m.fit(Z, y)
    coef = m.coef_ / sd
    return coef, m.intercept_ - coef @ mu, m.coef_


@pytest.mark.parametrize("l1,l2", [(0.05, 0.0), (0.05, 0.02), (0.3, 0.5), (0.002, 1e-4)])
def test_elastic_net_equals_sklearn_on_the_standardised_design(data, l1, l2):
    path, X, y = data
    code, rec, err = run_inline(["--l1", str(l1), "--l2", str(l2), "--quiet", path])
    assert code == 0, err
    coef, intercept, z_coef = sklearn_enet(X, y, l1, l2)
    ours = coef_vector(rec)
    np.testing.assert_allclose(ours, coef, rtol=TOL, atol=TOL)
    assert abs(rec["intercept"] - intercept) <= TOL * max(1, abs(intercept))
    # exact zeros: the same features dropped, and ours are exactly 0.0
    assert [f for f, c in zip(rec["features"], z_coef) if c != 0] == rec["selected_features"]
    assert all(rec["coefficients"][f] == 0.0 for f in rec["features"]
               if f not in rec["selected_features"])
    assert rec["solver"] == "cd" and rec["strategy"] == "stats" and rec["passes"] == 1
    assert rec["converged"] is True
    # loss is the data's MSE, objective the penalised one
    resid = y - X @ ours - rec["intercept"]
    assert rec["loss"] == pytest.approx(np.mean(resid ** 2), rel=1e-9)
    Zw = z_coef
    objective = np.mean((y - X @ coef - intercept) ** 2) / 2 + l1 * np.abs(Zw).sum() \
        + l2 / 2 * Zw @ Zw
    assert rec["objective"] == pytest.approx(objective, rel=1e-8)


def test_elastic_net_on_the_local_runner_with_two_files(data, tmp_path):
    _, X, y = data
    write_csv(str(tmp_path / "a.csv"), X[:250], y[:250])
    write_csv(str(tmp_path / "b.csv"), X[250:], y[250:])
    code, rec, err = run_cli(["-r", "local", "--l1", "0.05", "--l2", "0.02", "--quiet",
                              str(tmp_path)])
    assert code == 0, err
    coef, intercept, _ = sklearn_enet(X, y, 0.05, 0.02)
    np.testing.assert_allclose(coef_vector(rec), coef, rtol=TOL, atol=TOL)
    assert rec["intercept"] == pytest.approx(intercept, rel=TOL, abs=TOL)


def test_lasso_without_intercept_equals_sklearn(data):
    path, X, y = data
    code, rec, err = run_inline(["--l1", "0.1", "--no-fit-intercept", "--quiet", path])
    assert code == 0, err
    scale = np.sqrt((X ** 2).mean(axis=0))  # no intercept: root mean square
    m = sklearn_lm.Lasso(alpha=0.1, fit_intercept=False, tol=1e-12, max_iter=1_000_000)
    m.fit(X / scale, y)
    np.testing.assert_allclose(coef_vector(rec), m.coef_ / scale, rtol=TOL, atol=TOL)
    assert rec["intercept"] == 0.0


@pytest.mark.parametrize("l1,l2", [(0.7, 0.3), (1.0, 0.0)])
def test_path_equals_sklearn_enet_path(data, l1, l2):
    path, X, y = data
    code, rec, err = run_inline(["--l1", str(l1), "--l2", str(l2), "--path", "25", "--quiet",
                                 path])
    assert code == 0, err
    p = rec["path"]
    lambdas = np.array(p["lambdas"])
    assert len(lambdas) == 25 == len(p["coefficients"]) == len(p["intercepts"])
    assert lambdas[-1] / lambdas[0] == pytest.approx(1e-3)     # n > p
    assert np.all(np.diff(np.log(lambdas)) == pytest.approx(np.log(1e-3) / 24))
    Z, mu, sd = standardised(X)
    alpha = l1 / (l1 + l2)
    # lambda_max: the smallest scale with every weight zero (glmnet's definition)
    lmax = np.max(np.abs(Z.T @ (y - y.mean()))) / (len(y) * alpha)
    assert lambdas[0] == pytest.approx(lmax, rel=1e-12)
    assert all(v == 0.0 for v in p["coefficients"][0].values())
    for i, s in enumerate(lambdas):
        m = sklearn_lm.ElasticNet(alpha=s, l1_ratio=alpha, tol=1e-12, max_iter=1_000_000)
        m.fit(Z, y)
        ours = np.array([p["coefficients"][i][f] for f in rec["features"]])
        np.testing.assert_allclose(ours, m.coef_ / sd, rtol=TOL, atol=TOL)
        assert p["intercepts"][i] == pytest.approx(m.intercept_ - (m.coef_ / sd) @ mu,
                                                   rel=TOL, abs=TOL)
    # without --cv the model is the path's last (smallest) penalty
    assert rec["coefficients"] == p["coefficients"][-1]
    assert rec["iterations"] == 25 and len(rec["history"]) == 25


def test_pure_ridge_path_uses_glmnets_mixing_floor(data):
    path, X, y = data
    code, rec, err = run_inline(["--solver", "cd", "--l2", "1", "--path", "5", "--quiet", path])
    assert code == 0, err
    Z, _, _ = standardised(X)
    lmax = np.max(np.abs(Z.T @ (y - y.mean()))) / (len(y) * 1e-3)
    assert rec["path"]["lambdas"][0] == pytest.approx(lmax, rel=1e-12)
    # ridge is exact on R: each point is the closed form
    for s, coefs in zip(rec["path"]["lambdas"], rec["path"]["coefficients"]):
        n = len(y)
        w = np.linalg.solve(Z.T @ Z / n + s * np.eye(Z.shape[1]), Z.T @ (y - y.mean()) / n)
        np.testing.assert_allclose([coefs[f] for f in rec["features"]], w / X.std(axis=0),
                                   rtol=1e-9, atol=1e-12)


# --- cross-validation -------------------------------------------------------------


def file_folds(paths, k):
    """Fold of every data line of the files, from the raw bytes (the documented rule)."""
    rows, folds = [], []
    for path in paths:
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
        for i, raw in enumerate(lines):
            line = raw[:-1] if raw.endswith(b"\r") else raw
            if i == 0 or not line:       # header, final empty piece
                continue
            try:
                rows.append([float(v) for v in line.decode().split(",")])
            except ValueError:
                continue                  # a bad row: in no fold
            folds.append(zlib.crc32(line) % k)
    a = np.array(rows)
    return a[:, :-1], a[:, -1], np.array(folds)


def brute_force_cv(X, y, folds, k, fit):
    """k refits with numpy/sklearn; the whole data's moments standardise every fold."""
    Z, _, _ = standardised(X)
    mse = []
    for j in range(k):
        tr, te = folds != j, folds == j
        coef, b0 = fit(Z[tr], y[tr])
        mse.append(np.mean((y[te] - Z[te] @ coef - b0) ** 2))
    mse = np.array(mse)
    return mse.mean(), mse.std(ddof=1) / np.sqrt(k)


def _ols(Z, y):
    A = np.column_stack([Z, np.ones(len(y))])
    w = np.linalg.lstsq(A, y, rcond=None)[0]
    return w[:-1], w[-1]


def _ridge(lam):
    def fit(Z, y):
        n = len(y)
        mu_z, mu_y = Z.mean(axis=0), y.mean()
        Zc = Z - mu_z
        w = np.linalg.solve(Zc.T @ Zc / n + lam * np.eye(Z.shape[1]), Zc.T @ (y - mu_y) / n)
        return w, mu_y - mu_z @ w
    return fit


def _enet(l1, l2):
    def fit(Z, y):
        m = sklearn_lm.ElasticNet(alpha=l1 + l2, l1_ratio=l1 / (l1 + l2), tol=1e-12,
                                  max_iter=1_000_000).fit(Z, y)
        return m.coef_, m.intercept_
    return fit


@pytest.fixture(scope="module")
def cv_files(tmp_path_factory):
    """Two files, CRLF line ends in one, a few bad rows: folds come from raw lines."""
    X, y = _data(500, [1, 10, 0.1, 5, 2], 11, [1.0, 0, -1.5, 0.2, 0])
    d = tmp_path_factory.mktemp("cv")
    write_csv(str(d / "a.csv"), X[:260], y[:260])
    write_csv(str(d / "b.csv"), X[260:], y[260:])
    text = (d / "b.csv").read_bytes().replace(b"\n", b"\r\n")
    lines = text.split(b"\r\n")
    lines.insert(5, b"1,2,oops,4,5,6")
    lines.insert(40, b"")
    (d / "b.csv").write_bytes(b"\r\n".join(lines))
    return d, [str(d / "a.csv"), str(d / "b.csv")]


@pytest.mark.parametrize("args,fit", [
    (["--solver", "qr"], _ols),
    (["--solver", "qr", "--l2", "0.4"], _ridge(0.4)),
    (["--l1", "0.05", "--l2", "0.05"], _enet(0.05, 0.05)),
])
def test_cv_of_one_fit_equals_brute_force_k_fold(cv_files, args, fit):
    folder, paths = cv_files
    k = 5
    code, rec, err = run_inline([*args, "--cv", str(k), "--quiet", str(folder)])
    assert code == 0, err
    X, y, folds = file_folds(paths, k)
    assert rec["n_rows"] == len(y) and rec["bad_rows"] == 2
    mean, se = brute_force_cv(X, y, folds, k, fit)
    cv = rec["cv"]
    assert cv["folds"] == k and cv["fold_rows"] == np.bincount(folds, minlength=k).tolist()
    assert cv["mean_mse"][0] == pytest.approx(mean, rel=1e-9 if "qr" in args else TOL)
    assert cv["se_mse"][0] == pytest.approx(se, rel=1e-7 if "qr" in args else 1e-5)
    assert rec["passes"] == 1  # one pass: the folds' fused partials merge to R


def test_cv_along_the_path_equals_brute_force_and_keeps_lambda_min(cv_files):
    folder, paths = cv_files
    k = 4
    code, rec, err = run_cli(["-r", "local", "--l1", "0.9", "--l2", "0.1", "--path", "12",
                              "--cv", str(k), "--quiet", str(folder)])
    assert code == 0, err
    X, y, folds = file_folds(paths, k)
    cv, p = rec["cv"], rec["path"]
    assert cv["lambdas"] == p["lambdas"]
    means, ses = [], []
    for s in cv["lambdas"]:
        m, se = brute_force_cv(X, y, folds, k, _enet(0.9 * s, 0.1 * s))
        means.append(m)
        ses.append(se)
    np.testing.assert_allclose(cv["mean_mse"], means, rtol=TOL)
    np.testing.assert_allclose(cv["se_mse"], ses, rtol=1e-5, atol=1e-9)
    i_min = int(np.argmin(means))
    assert cv["lambda_min"] == cv["lambdas"][i_min]
    within = [i for i in range(len(means)) if means[i] <= means[i_min] + ses[i_min]]
    assert cv["lambda_1se"] == max(cv["lambdas"][i] for i in within)
    # the model is the full-data fit at lambda_min
    assert rec["coefficients"] == p["coefficients"][i_min]
    assert rec["intercept"] == p["intercepts"][i_min]
    assert rec["passes"] == 1


def test_folds_do_not_depend_on_block_size_or_file_split(cv_files, tmp_path):
    folder, paths = cv_files
    _, a, _ = run_inline(["--solver", "qr", "--cv", "3", "--quiet", str(folder)])
    _, b, _ = run_inline(["--solver", "qr", "--cv", "3", "--block-rows", "7", "--quiet",
                          str(folder)])
    assert a["cv"]["fold_rows"] == b["cv"]["fold_rows"]
    np.testing.assert_allclose(a["cv"]["mean_mse"], b["cv"]["mean_mse"], rtol=1e-12)


def test_penalised_run_publishes_path_and_cv_curve(cv_files, tmp_path):
    from mrlinreg.config import load_config
    from mrlinreg.storage.factory import open_results_store

    folder, _ = cv_files
    code, rec, err = run_inline(["--l1", "0.5", "--l2", "0.5", "--path", "6", "--cv", "3",
                                 "--publish", "--model-name", "enet_pub", "--quiet",
                                 str(folder)])
    assert code == 0, err
    with open_results_store(load_config()) as store:
        curve = store.read_table("cv_curve", run_id=rec["run_id"]).to_pylist()
        path = store.read_table("regularization_path", run_id=rec["run_id"]).to_pylist()
        models = store.read_table("models", run_id=rec["run_id"]).to_pylist()
    assert [r["mean_mse"] for r in curve] == rec["cv"]["mean_mse"]
    assert [r["lambda"] for r in curve] == rec["cv"]["lambdas"]
    assert [r["lambda_index"] for r in curve if r["is_min"]] == [rec["cv"]["index_min"]]
    assert [r["lambda_index"] for r in curve if r["is_1se"]] == [rec["cv"]["index_1se"]]
    assert all(r["l1"] == pytest.approx(0.5 * r["lambda"]) for r in curve)
    p = len(rec["features"]) + 1
    assert len(path) == 6 * p
    for r in path:
        i = r["lambda_index"]
        want = (rec["path"]["intercepts"][i] if r["feature"] == "intercept"
                else rec["path"]["coefficients"][i][r["feature"]])
        assert r["value"] == want
    assert json.loads(models[0]["options"])["cv_folds"] == 3


def test_plain_run_writes_no_penalised_rows(cv_files):
    from mrlinreg.config import load_config
    from mrlinreg.storage.factory import open_results_store

    folder, _ = cv_files
    code, rec, err = run_inline(["--solver", "qr", "--publish", "--quiet", str(folder)])
    assert code == 0, err
    assert "path" not in rec and "cv" not in rec
    with open_results_store(load_config()) as store:
        assert store.read_table("cv_curve", run_id=rec["run_id"]).num_rows == 0


# --- combinations refused up front --------------------------------------------------


@pytest.mark.parametrize("args,needle", [
    (["--l1", "0.1", "--solver", "gd"], "--l1 needs --solver cd"),
    (["--l1", "0.1", "--solver", "qr"], "--l1 needs --solver cd"),
    (["--path", "4", "--strategy", "passes"], "--path and --cv need the R factor"),
    (["--path", "10", "--solver", "newton"], "--path needs --solver cd"),
    (["--cv", "5", "--solver", "gd"], "--cv needs a solver on the R factor"),
    (["--cv", "5", "--solver", "cg"], "--cv needs a solver on the R factor"),
    (["--cv", "1"], "--cv must be at least 2"),
    (["--cv", "-3"], "--cv must be at least 2"),
    (["--path", "1"], "--path must be at least 2"),
    (["--l1", "-0.5"], "--l1 must be a non-negative number"),
    (["--l1", "nan"], "--l1 must be a non-negative number"),
    (["--cv", "3", "--refine"], "--cv does not combine with --refine"),
    (["--solver", "cd", "--refine"], "--refine and --min-norm need --solver qr"),
])
def test_unsupported_combinations_exit_2_before_any_pass(data, args, needle):
    path, _, _ = data
    code, rec, err = run_inline([*args, path])
    assert code == 2 and rec is None
    assert needle in err and "usage:" in err and "Traceback" not in err
    assert "rows," not in err  # no pass ran


def test_defaults_pick_the_solver_that_can_do_it(data):
    path, _, _ = data
    assert run_inline(["--l1", "0.1", "--quiet", path])[1]["solver"] == "cd"
    assert run_inline(["--path", "3", "--quiet", path])[1]["solver"] == "cd"
    assert run_inline(["--cv", "3", "--quiet", path])[1]["solver"] == "qr"


def test_summary_with_l1_is_refused_as_a_warning_not_wrong_numbers(data):
    path, _, _ = data
    code, rec, err = run_inline(["--l1", "0.1", "--summary", "--quiet", path])
    assert code == 0 and rec["summary"] is None
    assert any("--l1" in w for w in rec["warnings"])


# --- snapshots and resume -------------------------------------------------------------


class Crash(Exception):
    pass


def test_a_path_with_cv_resumes_from_its_snapshot_without_a_pass(cv_files, monkeypatch):
    from mrlinreg.driver import lifecycle

    folder, _ = cv_files
    args = ["--l1", "0.6", "--l2", "0.4", "--path", "8", "--cv", "3", "--model-name",
            "enet_resume", "--quiet", str(folder)]
    code, whole, err = run_inline(args[:-3] + ["enet_whole", "--quiet", str(folder)])
    assert code == 0, err
    real = lifecycle.SnapshotWriter.__call__

    def crash_after_three(self, step, *a, **kw):
        real(self, step, *a, **kw)
        if step.iteration == 3 and not kw.get("finished"):
            raise Crash()
    monkeypatch.setattr(lifecycle.SnapshotWriter, "__call__", crash_after_three)
    with pytest.raises(Crash):
        run_inline(args)
    monkeypatch.setattr(lifecycle.SnapshotWriter, "__call__", real)
    # other options: refused by the fingerprint (l1, path and cv are part of it)
    for changed in (["--l1", "0.5"], ["--path", "9"], ["--cv", "4"]):
        a = list(args)
        i = a.index(changed[0])
        a[i + 1] = changed[1]
        code, _, err = run_inline(a + ["--resume"])
        assert code == 2 and "different options" in err, err
    code, resumed, err = run_inline(args + ["--resume"])
    assert code == 0, err
    for key in ("coefficients", "intercept", "path", "cv", "selected_features", "loss"):
        assert resumed[key] == whole[key], key
    assert resumed["passes"] == 1  # the stored R and fold factors: no pass on resume
    assert [h["iteration"] for h in resumed["history"]] == list(range(1, 9))
