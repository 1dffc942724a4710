"""``mrlinreg plot``: one picture per kind, checked as files (valid PNG that decodes, not
trivially small; SVG once), from model JSONs, run ids in the local warehouse and curves;
and the residual sample drawn in the validation pass."""

import json
import subprocess
import sys

import numpy as np
import pytest

from mrlinreg.numerics import cv as cvmod
from mrlinreg.numerics import enet, tsqr
from mrlinreg.numerics.reservoir import row_keys
from mrlinreg.numerics.scaling import design_matrix
from tests.functional.helpers import ROOT, run_main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def check_png(path, min_bytes=10_000):
    import matplotlib.image as mpimg

    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > min_bytes
    image = mpimg.imread(str(path))
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300
    assert image[..., :3].std() > 0.01  # not a blank canvas


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """gd, cg and newton on one dataset (model JSONs), and a run with a residual sample."""
    d = tmp_path_factory.mktemp("plots")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(500, 3)) @ np.array([[1, 0.8, 0.5], [0, 1, 0.7], [0, 0, 1]])
    y = X @ [1.5, -2.0, 0.5] + 1.0 + rng.normal(0, 0.5, 500)
    Xv = rng.normal(size=(300, 3))
    yv = Xv @ [1.5, -2.0, 0.5] + 1.0 + rng.normal(0, 0.5, 300)
    for name, (A, b) in {"train.csv": (X, y), "val.csv": (Xv, yv)}.items():
        np.savetxt(d / name, np.column_stack([A, b]), delimiter=",", header="a,b,c,y",
                   comments="", fmt="%.17g")
    models = {}
    for solver in ("gd", "cg", "newton"):
        path = d / f"{solver}.json"
        code, out, err = run_main(["train", "--solver", solver, "--strategy", "stats",
                                   "--tol", "1e-10", "--max-iter", "60", "--quiet",
                                   "--output-model", str(path), str(d / "train.csv")])
        assert code == 0, err
        models[solver] = path
    return d, models, (X, y, Xv, yv)


@pytest.fixture(scope="module")
def sampled(runs):
    """A published qr run with a 120-row residual sample; its warehouse is ``state``."""
    d = runs[0]
    path, state = d / "sampled.json", d / "state"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MRLINREG_STATE_DIR", str(state))
        code, out, err = run_main(["train", "--solver", "qr", "--validation",
                                   str(d / "val.csv"), "--residual-sample", "120",
                                   "--model-name", "plots_sample", "--publish", "--quiet",
                                   "--output-model", str(path), str(d / "train.csv")])
    assert code == 0, err
    return json.loads(out), path, state


def test_residual_sample_is_the_bottom_k_rows_of_the_validation_data(runs, sampled):
    d, _, (X, y, Xv, yv) = runs
    record = sampled[0]
    s = record["residual_sample"]
    assert s["source"] == "validation" and s["rows_seen"] == 300
    keys = row_keys(np.column_stack([Xv, yv]))
    chosen = np.argsort(keys, kind="stable")[:120]
    np.testing.assert_array_equal(s["y_true"], yv[chosen])
    coef = np.array([record["coefficients"][f] for f in ("a", "b", "c")])
    np.testing.assert_allclose(s["fitted"], Xv[chosen] @ coef + record["intercept"],
                               rtol=1e-10, atol=1e-10)


def test_residual_sample_does_not_depend_on_the_split(runs, sampled, tmp_path):
    d = runs[0]
    lines = (d / "val.csv").read_text().splitlines()
    for i, part in enumerate((lines[:1] + lines[1:140], lines[:1] + lines[140:])):
        (tmp_path / f"v{i}.csv").write_text("\n".join(part) + "\n")
    # two files: two map tasks whose samples the reducer merges; 16-row blocks
    code, out, err = run_main(["train", "--solver", "qr", "--validation", str(tmp_path / "v0.csv"),
                               "--validation", str(tmp_path / "v1.csv"), "--block-rows", "16",
                               "--residual-sample", "120", "--quiet", "--json",
                               str(d / "train.csv")])
    assert code == 0, err
    split = json.loads(out)["residual_sample"]
    whole = sampled[0]["residual_sample"]
    assert split["y_true"] == whole["y_true"]
    np.testing.assert_allclose(split["fitted"], whole["fitted"], rtol=1e-12)


def test_residual_sample_needs_validation_data(runs):
    d = runs[0]
    p = subprocess.run([sys.executable, "-m", "mrlinreg.cli.main", "train",
                        "--residual-sample", "10", str(d / "train.csv")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 2 and "--residual-sample is drawn during the validation pass" \
        in p.stderr and "Traceback" not in p.stderr


def test_convergence_overlays_gd_cg_newton(runs, tmp_path):
    _, models, _ = runs
    out = tmp_path / "convergence.png"
    code, _, err = run_main(["plot", *map(str, models.values()), "--kind", "convergence",
                             "--output", str(out)])
    assert code == 0, err
    check_png(out)


def test_residuals_from_the_run_id_and_qq_from_the_json(sampled, tmp_path, monkeypatch):
    record, path, state = sampled
    monkeypatch.setenv("MRLINREG_STATE_DIR", str(state))
    out = tmp_path / "residuals.png"
    code, _, err = run_main(["plot", record["run_id"], "--kind", "residuals",
                             "--output", str(out)])
    assert code == 0, err
    check_png(out)
    out = tmp_path / "qq.png"
    code, _, err = run_main(["plot", str(path), "--kind", "qq", "--output", str(out)])
    assert code == 0, err
    check_png(out)


def test_the_published_sample_reads_back(sampled, monkeypatch):
    from mrlinreg.config import load_config
    from mrlinreg.storage.factory import open_results_store

    record, _, state = sampled
    monkeypatch.setenv("MRLINREG_STATE_DIR", str(state))
    with open_results_store(load_config()) as store:
        rows = sorted(store.read_table("residual_samples", record["run_id"]).to_pylist(),
                      key=lambda r: r["sample_rank"])
    s = record["residual_sample"]
    assert [r["fitted"] for r in rows] == s["fitted"]
    assert [r["residual"] for r in rows] == [yt - f for yt, f in zip(s["y_true"], s["fitted"])]


def _path_and_cv(X, y, folds=5):
    """A "path" and a "cv" entry as training records them, from enet.py and cv.py."""
    shift, scale = X.mean(0), X.std(0)
    A = np.hstack([design_matrix(X, shift, scale, True), y[:, None]])
    fold = np.arange(len(y)) % folds
    fold_R = [tsqr.update(None, A[fold == k]) for k in range(folds)]
    R = tsqr.merge(fold_R)
    path = enet.enet_path(R, len(y), alpha=1.0, fit_intercept=True, n_lambdas=30)
    coef, intercepts = enet.path_to_original(path, shift, scale)
    res = cvmod.cross_validate(fold_R, np.bincount(fold), path.lambdas, alpha=1.0,
                               fit_intercept=True)
    names = ["a", "b", "c"]
    return ({"lambdas": path.lambdas.tolist(),
             "coefficients": [dict(zip(names, map(float, c))) for c in coef],
             "intercepts": intercepts.tolist()},
            {"folds": folds, "lambdas": res.lambdas.tolist(), "mean_mse": res.cvm.tolist(),
             "se_mse": res.cvsd.tolist(), "lambda_min": res.lambda_min,
             "lambda_1se": res.lambda_1se})


def test_path_and_cv_from_a_record_with_them(runs, tmp_path):
    d, models, (X, y, _, _) = runs
    record = json.loads(models["newton"].read_text())
    record["path"], record["cv"] = _path_and_cv(X, y)
    src = tmp_path / "enet.json"
    src.write_text(json.dumps(record))
    for kind in ("path", "cv"):
        out = tmp_path / f"{kind}.png"
        code, _, err = run_main(["plot", str(src), "--kind", kind, "--output", str(out)])
        assert code == 0, err
        check_png(out)


def test_curve_png_and_svg(runs, tmp_path):
    d = runs[0]
    curve = tmp_path / "curve.json"
    code, _, err = run_main(["curve", "--degree", "3", "--validation", str(d / "val.csv"),
                             "--output", str(curve), "--quiet", str(d / "train.csv")])
    assert code == 0, err
    out = tmp_path / "curve.png"
    code, _, err = run_main(["plot", str(curve), "--kind", "curve", "--output", str(out)])
    assert code == 0, err
    check_png(out)
    svg = tmp_path / "curve.svg"
    code, _, err = run_main(["plot", str(curve), "--kind", "curve", "--output", str(svg),
                             "--format", "svg"])
    assert code == 0, err
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text and len(text) > 10_000
    import xml.etree.ElementTree as ET
    assert ET.fromstring(text.encode()).tag.endswith("svg")


@pytest.mark.parametrize("kind, fragment", [
    ("path", 'has no "path": the coefficient path is kept in the model JSON'),
    ("cv", 'has no "cv"'),
    ("residuals", "has no residual sample: train with --validation INPUT --residual-sample N"),
    ("curve", "has no validation curve"),
])
def test_a_missing_ingredient_is_a_clear_error(runs, kind, fragment, tmp_path):
    _, models, _ = runs
    p = subprocess.run([sys.executable, "-m", "mrlinreg.cli.main", "plot", str(models["gd"]),
                        "--kind", kind, "--output", str(tmp_path / "x.png")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 2 and fragment in p.stderr, p.stderr
    assert "Traceback" not in p.stderr and not (tmp_path / "x.png").exists()


def test_an_unknown_run_id_is_a_clear_error(tmp_path):
    code, _, err = run_main(["plot", "20260101T000000Z-nothere", "--kind", "convergence",
                             "--output", str(tmp_path / "x.png")])
    assert code == 2 and "no run 20260101T000000Z-nothere" in err


def test_without_matplotlib_the_command_says_how_to_get_it(runs, tmp_path):
    _, models, _ = runs
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from mrlinreg.cli.main import main\n"
            f"sys.exit(main(['plot', {str(models['gd'])!r}, '--kind', 'convergence', "
            f"'--output', {str(tmp_path / 'x.png')!r}]))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert p.returncode == 2, p.stderr
    assert "pip install 'mrlinreg[plot]'" in p.stderr and "Traceback" not in p.stderr
