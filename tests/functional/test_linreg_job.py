"""``jobs/linreg.py`` end to end on the inline runner (several mappers) and the local runner."""

import json
import math

import numpy as np
import pytest

from mrlinreg.datagen import make_regression, write_csv
from tests.functional.helpers import (coef_vector, lstsq_reference, overfit_csvs, run_cli,
                                      run_inline)

MAPPERS = ["--num-cores", "3"]  # the inline runner then makes 6 input splits


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    X, y, coef, c = make_regression(3000, 4, noise=0.5, seed=7)
    path = tmp_path_factory.mktemp("data") / "train.csv"
    write_csv(str(path), X, y)
    return str(path), X, y


@pytest.fixture(scope="module")
def scaled_dataset(tmp_path_factory):
    X, y, _, _ = make_regression(3000, 4, noise=0.5, seed=8, scales=[1e-2, 1.0, 1e2, 1e3])
    path = tmp_path_factory.mktemp("data") / "scaled.csv"
    write_csv(str(path), X, y)
    return str(path), X, y


def _assert_matches_numpy(record, X, y, rtol=1e-6):
    coef, intercept = lstsq_reference(X, y)
    np.testing.assert_allclose(coef_vector(record), coef, rtol=rtol)
    assert record["intercept"] == pytest.approx(intercept, rel=rtol)


def test_gd_matches_numpy_lstsq(dataset):
    path, X, y = dataset
    code, rec, err = run_inline([*MAPPERS, "--strategy", "passes", "--tol", "1e-10", path])
    assert code == 0, err
    assert rec["converged"] and rec["solver"] == "gd" and rec["strategy"] == "passes"
    _assert_matches_numpy(rec, X, y)
    assert rec["n_rows"] == 3000 and rec["bad_rows"] == 0
    resid = y - X @ coef_vector(rec) - rec["intercept"]
    assert rec["loss"] == pytest.approx(np.mean(resid**2), rel=1e-10)
    assert len(rec["history"]) == rec["iterations"]
    assert all({"loss", "grad_norm", "step", "elapsed_s"} <= set(h) for h in rec["history"])
    assert "iter" in err and "|grad|" in err  # progress on stderr


def test_feature_scales_differing_by_1e5(scaled_dataset):
    path, X, y = scaled_dataset
    code, rec, err = run_inline([*MAPPERS, "--strategy", "passes", "--tol", "1e-10", path])
    assert code == 0, err
    _assert_matches_numpy(rec, X, y)


@pytest.mark.parametrize("lr", ["1000", "0.001"])
def test_line_search_needs_no_tuned_step(dataset, lr):
    path, X, y = dataset
    code, rec, err = run_inline(["--strategy", "passes", "--learning-rate", lr, "--tol", "1e-10",
                                 path])
    assert code == 0, err
    assert rec["converged"]
    _assert_matches_numpy(rec, X, y)


def test_too_large_fixed_step_is_caught(scaled_dataset):
    path, _, _ = scaled_dataset
    code, rec, err = run_inline(["--strategy", "passes", "--line-search", "none",
                                 "--learning-rate", "50", "--no-standardize", path])
    assert code == 1
    assert rec is None  # no model, and certainly no NaN
    assert "diverging" in err and "--learning-rate" in err and "Traceback" not in err


def test_max_iter_reached_is_reported(scaled_dataset):
    path, _, _ = scaled_dataset
    code, rec, err = run_inline(["--strategy", "stats", "--no-standardize", "--max-iter", "5",
                                 path])
    assert code == 0, err
    assert rec["converged"] is False and rec["iterations"] == 5
    assert any("not converged" in w for w in rec["warnings"])
    assert "warning: not converged" in err


def test_standardized_and_raw_fits_agree(dataset):
    path, X, y = dataset
    _, std, _ = run_inline(["--solver", "cg", "--tol", "1e-12", path])
    _, raw, _ = run_inline(["--solver", "cg", "--no-standardize", "--tol", "1e-12", path])
    np.testing.assert_allclose(coef_vector(std), coef_vector(raw), rtol=1e-8)
    assert std["intercept"] == pytest.approx(raw["intercept"], rel=1e-8)
    _assert_matches_numpy(raw, X, y)


def test_passes_and_stats_iterates_agree(dataset):
    path, X, y = dataset
    for solver in ("gd", "cg", "newton"):
        _, a, _ = run_inline([*MAPPERS, "--solver", solver, "--strategy", "passes", path])
        _, b, _ = run_inline([*MAPPERS, "--solver", solver, "--strategy", "stats", path])
        if solver == "cg":  # on R, cg is preconditioned by R: the exact solution, sooner
            assert b["iterations"] <= a["iterations"] and b["converged"]
            coef, _ = lstsq_reference(X, y)
            np.testing.assert_allclose(coef_vector(b), coef, rtol=1e-10)
            continue
        assert a["iterations"] == b["iterations"]
        for ha, hb in zip(a["history"], b["history"]):
            assert ha["loss"] == pytest.approx(hb["loss"], rel=1e-10)
            assert ha["step"] == pytest.approx(hb["step"], rel=1e-10)
        np.testing.assert_allclose(a["working_weights"], b["working_weights"], rtol=1e-10)
        assert b["passes"] == 1  # moments and R, whatever the iteration count


def test_no_intercept(dataset):
    path, X, y = dataset
    code, rec, err = run_inline(["--no-fit-intercept", "--solver", "newton", path])
    assert code == 0, err
    coef, _ = lstsq_reference(X, y, fit_intercept=False)
    np.testing.assert_allclose(coef_vector(rec), coef, rtol=1e-9)
    assert rec["intercept"] == 0.0


def test_bad_rows_skipped_and_counted(tmp_path):
    X, y, _, _ = make_regression(500, 2, seed=3)
    path = tmp_path / "bad.csv"
    write_csv(str(path), X, y)
    lines = path.read_text().splitlines()
    lines[10] = "1.0,abc,2.0"
    lines[20] = "1.0,2.0"
    lines[30] = ""
    lines[40] = "1.0,nan,2.0"
    lines[50] = "inf,1,2"
    path.write_text("\n".join(lines) + "\n")
    keep = np.ones(500, bool)
    keep[[9, 19, 29, 39, 49]] = False
    code, rec, err = run_inline([*MAPPERS, "--solver", "newton", str(path)])
    assert code == 0, err
    assert rec["bad_rows"] == 5 and rec["n_rows"] == 495
    assert rec["bad_row_reasons"] == {"blank": 1, "field_count": 1, "non_finite": 2,
                                      "non_numeric": 1}
    _assert_matches_numpy(rec, X[keep], y[keep], rtol=1e-9)
    assert "skipped 5 bad rows" in err


def test_bad_row_fail_names_file_and_line(tmp_path):
    X, y, _, _ = make_regression(100, 2, seed=3)
    path = tmp_path / "bad.csv"
    write_csv(str(path), X, y)
    text = path.read_text().splitlines()
    text[57] = "1.0,oops,2.0"
    path.write_text("\n".join(text) + "\n")
    code, rec, err = run_inline(["--on-bad-row", "fail", str(path)])
    assert code == 1 and rec is None
    assert "bad.csv" in err and "'1.0,oops,2.0'" in err and "non numeric" in err
    assert "Traceback" not in err


def test_headers_anywhere_and_several_files(tmp_path):
    X, y, _, _ = make_regression(2000, 3, seed=4)
    d = tmp_path / "parts"
    d.mkdir()
    for i, (Xb, yb) in enumerate(zip(np.array_split(X, 3), np.array_split(y, 3))):
        write_csv(str(d / f"part-{i:05d}.csv"), Xb, yb, header=True)
    extra = tmp_path / "more.csv"
    write_csv(str(extra), X[:100], y[:100], header=True)
    code, rec, err = run_inline([*MAPPERS, "--solver", "newton", str(d), str(extra)])
    assert code == 0, err
    assert rec["bad_rows"] == 0 and rec["n_rows"] == 2100
    _assert_matches_numpy(rec, np.vstack([X, X[:100]]), np.concatenate([y, y[:100]]), rtol=1e-9)


def test_label_and_features_options(tmp_path):
    X, y, _, _ = make_regression(300, 3, seed=5)
    path = tmp_path / "cols.csv"
    write_csv(str(path), X, y, names=["a", "b", "c", "target"])
    code, rec, err = run_inline(["--label", "a", "--features", "target,c", "--solver", "newton",
                                 str(path)])
    assert code == 0, err
    assert rec["features"] == ["target", "c"] and rec["label"] == "a"
    _assert_matches_numpy(rec, np.column_stack([y, X[:, 2]]), X[:, 0], rtol=1e-9)
    code, _, err = run_inline(["--label", "nope", str(path)])
    assert code == 2 and "label column 'nope' not found" in err


def test_schema_file_names_headerless_columns(tmp_path):
    X, y, _, _ = make_regression(300, 2, seed=6)
    path = tmp_path / "nohead.tsv"
    np.savetxt(path, np.column_stack([y, X]), delimiter="\t", fmt="%.17g")
    schema = tmp_path / "ds.yaml"
    schema.write_text("columns: [price, size, age]\nlabel: price\ndelimiter: \"\\t\"\n")
    code, rec, err = run_inline(["--schema", str(schema), "--solver", "newton", str(path)])
    assert code == 0, err
    assert rec["features"] == ["size", "age"]
    _assert_matches_numpy(rec, X, y, rtol=1e-9)


def test_empty_input_is_a_clear_error(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code, rec, err = run_inline([str(empty)])
    assert code == 2 and rec is None and "input is empty" in err
    header_only = tmp_path / "header.csv"
    header_only.write_text("x0,y\n")
    code, rec, err = run_inline([str(header_only)])
    assert code == 1 and "no valid rows" in err and "Traceback" not in err
    code, rec, err = run_inline([str(tmp_path / "missing.csv")])
    assert code == 2 and "does not exist" in err


def test_output_model_file(dataset, tmp_path):
    path, _, _ = dataset
    out = tmp_path / "models" / "m.json"
    code, rec, err = run_inline(["--solver", "newton", "--output-model", str(out), path])
    assert code == 0, err
    assert json.loads(out.read_text()) == rec


def test_local_runner_matches_inline(dataset):
    path, X, y = dataset
    code, rec, err = run_cli(["-r", "local", "--solver", "cg", "--strategy", "passes",
                              "--tol", "1e-10", path])
    assert code == 0, err
    _, inline, _ = run_inline(["--solver", "cg", "--strategy", "passes", "--tol", "1e-10", path])
    np.testing.assert_allclose(coef_vector(rec), coef_vector(inline), rtol=1e-12)
    _assert_matches_numpy(rec, X, y)


def test_output_has_no_non_finite_numbers(dataset):
    path, _, _ = dataset
    code, rec, _ = run_inline([path])
    assert code == 0

    def walk(o):
        if isinstance(o, float):
            assert math.isfinite(o)
        elif isinstance(o, dict):
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)
    walk(rec)


@pytest.mark.parametrize("name", ["a'; DROP TABLE models; --", "../etc", "x#1", ""])
def test_model_name_is_validated_before_any_pass(dataset, name):
    path, _, _ = dataset
    code, rec, err = run_inline(["--model-name", name, path])
    assert code == 2 and rec is None and "invalid --model-name" in err
    assert "rows" not in err  # refused before the first pass


def test_hadoop_runner_without_a_cluster_is_a_clear_error(dataset, tmp_path):
    path, _, _ = dataset
    fake = tmp_path / "hadoop"
    fake.write_text("#!/bin/sh\necho 'no cluster here' >&2\nexit 1\n")
    fake.chmod(0o755)
    code, rec, err = run_inline(["-r", "hadoop", "--hadoop-bin", str(fake), "--quiet",
                                 "--hadoop-streaming-jar", str(fake), path])
    assert code == 1 and rec is None
    assert "Traceback" not in err and "error:" in err


def test_validation_metrics_show_overfitting(tmp_path):
    # 40 rows, 30 features, only 2 informative: the fit memorises noise
    train, hold, X, y = overfit_csvs(tmp_path)
    code, rec, err = run_inline(["--solver", "qr", "--validation", str(hold), str(train)])
    assert code == 0, err
    m = rec["metrics"]
    coef = coef_vector(rec)
    resid = y[40:] - X[40:] @ coef - rec["intercept"]
    assert m["validation_n_rows"] == 1000
    assert m["validation_mse"] == pytest.approx(np.mean(resid**2), rel=1e-12)
    assert m["validation_mae"] == pytest.approx(np.mean(np.abs(resid)), rel=1e-12)
    assert m["validation_r2"] == pytest.approx(1 - np.mean(resid**2) / np.var(y[40:]), rel=1e-12)
    assert m["validation_mse"] > 5 * m["mse"]  # over-fitting, visible
    assert "validation: n_rows 1000" in err


def test_no_intercept_model_publishes_without_r2(dataset):
    path, _, _ = dataset
    code, rec, err = run_inline(["--no-fit-intercept", "--solver", "qr", "--publish", path])
    assert code == 0, err
    assert "r2" not in rec["metrics"]
