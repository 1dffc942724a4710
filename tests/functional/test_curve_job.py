"""``mrlinreg curve``: every nested model's training and validation error, from one TSQR pass
per dataset, equals a brute-force numpy refit of that model (inline and local runners)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from mrlinreg.storage.local_results import LocalResultsStore
from tests.functional.helpers import ROOT, run_main

K = 7


def _poly_data(rng, n):
    x = rng.uniform(-1.5, 2.0, n)
    z = rng.uniform(0.0, 3.0, n)
    y = 1.0 + 2.0 * x - 1.5 * x**2 + 0.4 * x**3 + 0.5 * z + rng.normal(0, 0.3, n)
    return np.column_stack([x, z]), y


def _write(path, X, y, names=("x", "z", "y")):
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header=",".join(names),
               comments="", fmt="%.17g")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("curve")
    rng = np.random.default_rng(42)
    X, y = _poly_data(rng, 400)
    Xv, yv = _poly_data(rng, 250)
    _write(d / "train-a.csv", X[:230], y[:230])
    _write(d / "train-b.csv", X[230:], y[230:])
    _write(d / "val.csv", Xv, yv)
    return d, X, y, Xv, yv


def _powers(X, k):
    return np.hstack([X**j for j in range(1, k + 1)])


def check_against_refits(curve, X, y, Xv, yv, design, names):
    """Each point: coefficients, training and validation MSE of numpy's lstsq refit."""
    assert [p["size"] for p in curve["points"]] == list(range(1, len(design) + 1))
    for p, cols in zip(curve["points"], design):
        A = np.column_stack([np.ones(len(y)), cols(X)])
        b, *_ = np.linalg.lstsq(A, y, rcond=None)
        train = np.mean((y - A @ b) ** 2)
        Av = np.column_stack([np.ones(len(yv)), cols(Xv)])
        val = np.mean((yv - Av @ b) ** 2)
        assert p["train_mse"] == pytest.approx(train, rel=1e-8)
        assert p["validation_mse"] == pytest.approx(val, rel=1e-8)
        got = np.array([p["intercept"]] + [p["coefficients"][n] for n in names[:A.shape[1] - 1]])
        np.testing.assert_allclose(got, b, rtol=1e-8, atol=1e-8 * np.abs(b).max())
        assert p["n_params"] == A.shape[1]


def degree_design(k_max):
    # degree-major columns: x, z, x^2, z^2, ...
    return [lambda X, k=k: _powers(X, k) for k in range(1, k_max + 1)]


DEGREE_NAMES = ["x", "z"] + [f"{f}^{j}" for j in range(2, K + 1) for f in ("x", "z")]


def test_degree_curve_inline_equals_refits(data):
    d, X, y, Xv, yv = data
    code, out, err = run_main(["curve", "--degree", str(K), "--validation", str(d / "val.csv"),
                               "--block-rows", "64", "--json",
                               str(d / "train-a.csv"), str(d / "train-b.csv")])
    assert code == 0, err
    curve = json.loads(out)
    assert curve["kind"] == "degree" and curve["passes"] == 3
    assert curve["n_rows"] == 400 and curve["validation_n_rows"] == 250
    check_against_refits(curve, X, y, Xv, yv, degree_design(K), DEGREE_NAMES)
    # the truth is cubic: the validation error is lowest near degree 3, and training
    # error never rises with the degree (nested models)
    train = [p["train_mse"] for p in curve["points"]]
    assert all(a >= b - 1e-12 for a, b in zip(train, train[1:]))
    best = min(curve["points"], key=lambda p: p["validation_mse"])["size"]
    assert best >= 3


def test_degree_curve_local_runner_equals_refits(data, tmp_path):
    d, X, y, Xv, yv = data
    out = tmp_path / "curve.json"
    p = subprocess.run([sys.executable, "-m", "mrlinreg.cli.main", "curve", "-r", "local",
                        "--degree", str(K), "--validation", str(d / "val.csv"), "--quiet",
                        "--output", str(out), str(d / "train-a.csv"), str(d / "train-b.csv")],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert p.returncode == 0, p.stderr
    curve = json.loads(p.stdout)  # not a terminal: JSON
    assert json.loads(out.read_text()) == curve
    check_against_refits(curve, X, y, Xv, yv, degree_design(K), DEGREE_NAMES)


def test_terms_curve_adds_features_in_order(tmp_path):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 4)) * [1, 10, 0.1, 5]
    y = X @ [1.0, -0.2, 3.0, 0.0] + 4 + rng.normal(0, 0.5, 300)
    Xv = rng.normal(size=(120, 4)) * [1, 10, 0.1, 5]
    yv = Xv @ [1.0, -0.2, 3.0, 0.0] + 4 + rng.normal(0, 0.5, 120)
    names = ["c", "a", "d", "b"]
    _write(tmp_path / "t.csv", X, y, names + ["y"])
    _write(tmp_path / "v.csv", Xv, yv, names + ["y"])
    code, out, err = run_main(["curve", "--features", "c,a,d,b", "--label", "y",
                               "--validation", str(tmp_path / "v.csv"), "--json",
                               str(tmp_path / "t.csv")])
    assert code == 0, err
    curve = json.loads(out)
    assert curve["kind"] == "terms" and [p["terms"] for p in curve["points"]] == [[n]
                                                                                 for n in names]
    check_against_refits(curve, X, y, Xv, yv,
                         [lambda M, k=k: M[:, :k] for k in range(1, 5)], names)


def test_curve_publishes_to_the_local_warehouse_and_plots_by_run_id(data, tmp_path):
    d, X, y, Xv, yv = data
    code, out, err = run_main(["curve", "--degree", "4", "--validation", str(d / "val.csv"),
                               "--model-name", "plots_curve", "--publish", "--json",
                               str(d / "train-a.csv")])
    assert code == 0, err
    curve = json.loads(out)
    from mrlinreg.config import load_config
    from mrlinreg.storage.factory import open_results_store

    with open_results_store(load_config()) as store:
        assert isinstance(store, LocalResultsStore)
        rows = sorted(store.read_table("validation_curves", curve["run_id"]).to_pylist(),
                      key=lambda r: r["size"])
    assert [(r["size"], r["train_mse"], r["validation_mse"], r["terms"]) for r in rows] == \
        [(p["size"], p["train_mse"], p["validation_mse"], p["terms"]) for p in curve["points"]]
    assert all(r["model_name"] == "plots_curve" and r["kind"] == "degree" for r in rows)
    png = tmp_path / "c.png"
    code, _, err = run_main(["plot", curve["run_id"], "--kind", "curve", "--output", str(png)])
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, fragment", [
    (["--degree", "0"], "--degree must be between 1 and 20"),
    (["--degree", "x"], "argument --degree: invalid int value"),
    (["--features", "x,x"], "--features must name distinct columns"),
])
def test_curve_option_errors_exit_2(data, args, fragment):
    d = data[0]
    p = subprocess.run([sys.executable, "-m", "mrlinreg.cli.main", "curve", *args,
                        str(d / "train-a.csv")], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert p.returncode == 2 and fragment in p.stderr, p.stderr
    assert "Traceback" not in p.stderr and p.stderr.startswith("usage: mrlinreg curve")


def test_powers_beyond_the_magnitude_limit_are_counted_bad_rows(tmp_path):
    rng = np.random.default_rng(9)
    X = rng.uniform(-1, 1, size=(50, 1))
    X[7, 0] = 1e30   # x^4 = 1e120 > 1e100: an out_of_range row once expanded
    y = 2 * X[:, 0] + rng.normal(0, 0.1, 50)
    y[7] = 0.0
    _write(tmp_path / "t.csv", X, y, ("x", "y"))
    code, out, err = run_main(["curve", "--degree", "4", "--json", str(tmp_path / "t.csv")])
    assert code == 0, err
    curve = json.loads(out)
    assert curve["n_rows"] == 49 and curve["bad_rows"] == 1
    keep = np.arange(50) != 7
    A = np.column_stack([np.ones(49)] + [X[keep, 0] ** j for j in range(1, 5)])
    b, *_ = np.linalg.lstsq(A, y[keep], rcond=None)
    assert curve["points"][-1]["train_mse"] == pytest.approx(
        np.mean((y[keep] - A @ b) ** 2), rel=1e-8)


def test_with_on_bad_row_fail_an_expanded_row_out_of_range_stops_the_run(tmp_path):
    X = np.array([[0.5], [1e30], [0.25], [2.0]])
    _write(tmp_path / "t.csv", X, np.array([1.0, 0.0, 2.0, 3.0]), ("x", "y"))
    code, out, err = run_main(["curve", "--degree", "4", "--on-bad-row", "fail",
                               str(tmp_path / "t.csv")])
    assert code == 1 and "bad row (out of range)" in err and "1e+30" in err, err
    assert out == ""
