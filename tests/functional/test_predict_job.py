"""``jobs/predict.py``: vectorised scoring with a stored model, to a file and to the local warehouse."""

import contextlib
import io

import numpy as np
import pytest

from mrlinreg.datagen import make_regression, write_csv
from tests.functional.helpers import run_inline


def run_predict(args):
    from mrlinreg.cli.main import job_script

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = job_script("predict", "jobs/predict.py", list(args))
        except SystemExit as e:  # argparse usage errors
            code = e.code
    return code, err.getvalue()


@pytest.fixture()
def model_and_data(tmp_path):
    X, y, _, _ = make_regression(1500, 3, seed=21)
    data = tmp_path / "d.csv"
    write_csv(str(data), X, y)
    model = tmp_path / "model.json"
    code, rec, err = run_inline(["--solver", "qr", "--output-model", str(model), str(data)])
    assert code == 0, err
    return data, model, rec, X, y


def _read_predictions(path):
    """Lines of the predictions table: file, row_index, row_id, y_true, prediction."""
    rows = [line.split("\t") for line in path.read_text().splitlines()]
    assert all(len(r) == 5 and r[2] == "\\N" for r in rows)
    return ({int(r[1]): (float(r[3]), float(r[4])) for r in rows}, rows)


def test_predictions_match_the_model(model_and_data, tmp_path):
    data, model, rec, X, y = model_and_data
    out = tmp_path / "pred.csv"
    code, err = run_predict(["--num-cores", "3", "--model", str(model), "--output", str(out),
                             str(data)])
    assert code == 0, err
    preds, rows = _read_predictions(out)
    assert len(preds) == 1500
    # row_index is the byte offset of the row in its file
    raw = data.read_bytes()
    offsets = np.cumsum([0] + [len(line) + 1 for line in raw.split(b"\n")[:-1]])[1:-1]
    assert sorted(preds) == offsets.tolist()
    coef = np.array([rec["coefficients"][f] for f in rec["features"]])
    expected = X @ coef + rec["intercept"]
    got = np.array([preds[o][1] for o in offsets])
    y_true = np.array([preds[o][0] for o in offsets])
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(y_true, y)


def test_scoring_data_without_label(model_and_data, tmp_path):
    data, model, rec, X, _ = model_and_data
    unl = tmp_path / "unlabelled.csv"
    np.savetxt(unl, X[:10], delimiter=",", fmt="%.17g", header="x0,x1,x2", comments="")
    out = tmp_path / "p.csv"
    code, err = run_predict(["--model", str(model), "--output", str(out), str(unl)])
    assert code == 0, err
    lines = out.read_text().splitlines()
    assert len(lines) == 10 and all(line.split("\t")[3] == "\\N" for line in lines)


def test_publish_to_local_warehouse(model_and_data, tmp_path, monkeypatch):
    data, model, rec, X, _ = model_and_data
    monkeypatch.setenv("MRLINREG_MODE", "local")
    monkeypatch.setenv("MRLINREG_STATE_DIR", str(tmp_path / "state"))
    code, err = run_predict(["--model", str(model), "--publish", str(data)])
    assert code == 0, err
    from mrlinreg.config import load_config
    from mrlinreg.storage.factory import open_results_store

    with open_results_store(load_config()) as store:
        table = store.read_table("predictions", run_id=rec["run_id"])
    assert table.num_rows == 1500
    # publishing the same input again replaces its batch; another input adds one
    code, err = run_predict(["--model", str(model), "--publish", str(data)])
    assert code == 0, err
    with open_results_store(load_config()) as store:
        assert store.read_table("predictions", run_id=rec["run_id"]).num_rows == 1500
    other = tmp_path / "other.csv"
    write_csv(str(other), X[:100], X[:100, 0])
    code, err = run_predict(["--model", str(model), "--publish", str(other)])
    assert code == 0, err
    with open_results_store(load_config()) as store:
        table = store.read_table("predictions", run_id=rec["run_id"])
    assert table.num_rows == 1600 and len(set(table.column("batch").to_pylist())) == 2
    files = table.column("input_file").to_pylist()
    assert files.count(f"file://{data}") == 1500 and files.count(f"file://{other}") == 100


def test_missing_feature_is_a_clear_error(model_and_data, tmp_path):
    _, model, _, X, y = model_and_data
    other = tmp_path / "other.csv"
    write_csv(str(other), X[:, :2], y, names=["x0", "x1", "y"])
    code, err = run_predict(["--model", str(model), str(other)])
    assert code == 2 and "['x2'] not found" in err
    code, err = run_predict(["--model", str(tmp_path / "nope.json"), str(other)])
    assert code == 2 and "cannot read model" in err
