"""Parquet and ORC inputs end to end (inline and local runners), and tables of the local
warehouse by name: the same rows as CSV, Parquet and ORC give the same coefficients (bit
for bit when the tasks and blocks hold the same rows), equal to numpy's least squares;
nulls are counted bad rows; corrupt files are clear errors."""

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.orc as orc
import pyarrow.parquet as pq
import pytest

from mrlinreg.datagen import make_regression, write_csv
from mrlinreg.driver import columnar_inputs
from tests.functional.helpers import (LINREG, ROOT, coef_vector, lstsq_reference, run_cli,
                                      run_inline)

CORES = 2  # the runners cut a text file into 2 * cores splits by bytes


def run_with_env(args, env):
    import subprocess
    import sys

    p = subprocess.run([sys.executable, LINREG, *args], capture_output=True, text=True,
                       timeout=600, cwd=ROOT, env=env)
    return p.returncode, (json.loads(p.stdout) if p.stdout.strip() else None), p.stderr


def csv_split_rows(path, cores=CORES):
    """Data rows in each split mrjob's inline/local runners cut a text file into (the
    header in the first): ``sim._split_records`` with ``size // (2 * cores)`` bytes."""
    lines = open(path, "rb").read().splitlines(keepends=True)
    split_size = sum(map(len, lines)) // (2 * cores)
    counts, size = [0], 0
    for line in lines:
        if size >= split_size:
            counts.append(0)
            size = 0
        counts[-1] += 1
        size += len(line)
    counts[0] -= 1  # the header
    return counts


@pytest.fixture(scope="module")
def same_rows(tmp_path_factory):
    """One dataset as CSV, as Parquet with one row group per CSV split, and as ORC files of
    one stripe per CSV split."""
    d = tmp_path_factory.mktemp("columnar")
    X, y, _, _ = make_regression(3000, 4, noise=0.5, seed=16, scales=[1, 10, 100, 0.01])
    csv = d / "train.csv"
    write_csv(str(csv), X, y)
    table = pa.table({**{f"x{i}": X[:, i] for i in range(4)}, "y": y})
    cuts = np.cumsum([0] + csv_split_rows(str(csv)))
    with pq.ParquetWriter(d / "train.parquet", table.schema) as w:
        for a, b in zip(cuts[:-1], cuts[1:]):
            w.write_table(table.slice(a, b - a), row_group_size=int(b - a))
    (d / "orc").mkdir()
    for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
        orc.write_table(table.slice(a, b - a), d / "orc" / f"part-{i:05d}.orc")
    return d, X, y


@pytest.fixture
def one_unit_per_task(monkeypatch):
    monkeypatch.setattr(columnar_inputs, "SPLIT_BYTES", 1)


def _same_fit(a, b, kind, loss=False):
    """The same blocks in the same tasks: the same partial sums.  The tasks' partials are
    merged under keys hashed from their split's file (mrlinreg/numerics/merge.py), and a
    CSV file and a manifest of row groups hash differently, so partials may be grouped
    differently before the final merge: the last bit or two may differ (2e-15)."""
    names = sorted(b["coefficients"])
    np.testing.assert_allclose([a["coefficients"][k] for k in names],
                               [b["coefficients"][k] for k in names], rtol=2e-15, err_msg=kind)
    assert a["intercept"] == pytest.approx(b["intercept"], rel=2e-15, abs=1e-300)
    if loss:
        assert a["loss"] == pytest.approx(b["loss"], rel=2e-15)


def _inputs(d):
    return {"csv": str(d / "train.csv"), "parquet": str(d / "train.parquet"),
            "orc": str(d / "orc")}


@pytest.mark.parametrize("solver", ["qr", "newton"])
def test_inline_csv_parquet_orc_same_fit(same_rows, one_unit_per_task, solver):
    d, X, y = same_rows
    fits = {}
    for kind, path in _inputs(d).items():
        code, rec, err = run_inline(["--num-cores", str(CORES), "--solver", solver, "--quiet",
                                     "--model-name", f"col_{kind}", path])
        assert code == 0, err
        assert rec["n_rows"] == 3000 and rec["bad_rows"] == 0
        fits[kind] = rec
    coef, intercept = lstsq_reference(X, y)
    for rec in fits.values():
        np.testing.assert_allclose(coef_vector(rec), coef, rtol=1e-11)
        assert rec["intercept"] == pytest.approx(intercept, rel=1e-11)
    for kind in ("parquet", "orc"):
        _same_fit(fits[kind], fits["csv"], kind, loss=True)


def test_local_runner_csv_parquet_orc_same_fit(same_rows):
    d, X, y = same_rows
    env = dict(os.environ, MRLINREG_COLUMNAR_SPLIT_MB="0.000001")
    fits = {}
    for kind, path in _inputs(d).items():
        code, rec, err = run_with_env(["-r", "local", "--num-cores", str(CORES), "--solver",
                                       "qr", "--quiet", "--model-name", f"col_local_{kind}",
                                       path], env)
        assert code == 0, err
        fits[kind] = rec
    coef, intercept = lstsq_reference(X, y)
    np.testing.assert_allclose(coef_vector(fits["parquet"]), coef, rtol=1e-11)
    for kind in ("parquet", "orc"):
        _same_fit(fits[kind], fits["csv"], kind)


def test_default_splits_agree_to_rounding(same_rows):
    """With the default split size one file is one task: other partial sums than CSV's
    four splits, the same numbers to a few units in the last place."""
    d, X, y = same_rows
    code, pq_fit, err = run_inline(["--solver", "qr", "--quiet", str(d / "train.parquet")])
    assert code == 0, err
    code, csv_fit, err = run_inline(["--solver", "qr", "--quiet", str(d / "train.csv")])
    assert code == 0, err
    np.testing.assert_allclose(coef_vector(pq_fit), coef_vector(csv_fit), rtol=1e-14)


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """Parquet rows with nulls, NaN, infinity, a huge value; int and float32 columns and a
    string column the model does not use."""
    d = tmp_path_factory.mktemp("messy")
    rng = np.random.default_rng(5)
    n = 2000
    a = rng.integers(-50, 50, n)
    b = rng.standard_normal(n).astype(np.float32)
    y = 2.0 * a - 3.0 * b.astype(np.float64) + 1.0 + rng.standard_normal(n) * 0.1
    a_col = pa.array(a, pa.int32(), mask=np.isin(np.arange(n), [3, 11]))
    b_list = b.astype(np.float64).tolist()
    b_list[20], b_list[21] = float("nan"), float("inf")
    y_list = y.tolist()
    y_list[30], y_list[31] = None, 1e150
    t = pa.table({"id": pa.array([f"row{i}" for i in range(n)]), "a": a_col,
                  "b": pa.array(np.array(b_list, dtype=np.float32)), "y": pa.array(y_list)})
    pq.write_table(t, d / "messy.parquet", row_group_size=700)
    orc.write_table(t, d / "messy.orc")
    bad = [3, 11, 20, 21, 30, 31]
    keep = np.ones(n, bool)
    keep[bad] = False
    X = np.column_stack([a, b.astype(np.float64)])[keep]
    return d, X, y[keep]


@pytest.mark.parametrize("name", ["messy.parquet", "messy.orc"])
def test_nulls_and_non_finite_values_are_counted(messy, name):
    d, X, y = messy
    code, rec, err = run_inline(["--solver", "qr", "--quiet", "--features", "a,b",
                                 "--label", "y", str(d / name)])
    assert code == 0, err
    assert rec["n_rows"] == 1994
    assert rec["bad_row_reasons"] == {"missing": 3, "non_finite": 2, "out_of_range": 1}
    coef, intercept = lstsq_reference(X, y)
    np.testing.assert_allclose(coef_vector(rec), coef, rtol=1e-11)
    assert rec["intercept"] == pytest.approx(intercept, rel=1e-11)


def test_bad_row_fail_names_the_file_and_row(messy):
    d, _, _ = messy
    code, rec, err = run_inline(["--solver", "qr", "--quiet", "--features", "a,b", "--label",
                                 "y", "--on-bad-row", "fail", str(d / "messy.parquet")])
    assert code == 1 and rec is None
    assert "bad row (missing)" in err and "messy.parquet" in err and "row 3 " in err
    assert "Traceback" not in err


def test_a_string_column_cannot_be_a_feature(messy):
    d, _, _ = messy
    code, rec, err = run_inline(["--quiet", "--label", "y", str(d / "messy.parquet")])
    assert code == 2 and "'id'" in err and "not a number" in err and "Traceback" not in err


@pytest.mark.parametrize("content, message", [
    (b"PAR1" + b"\x00" * 64, "not a readable parquet file"),
    (b"a,b\n1,2\n", "does not start with its magic bytes"),
    (b"", "does not start with its magic bytes"),
])
def test_corrupt_files_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "broken.parquet"
    path.write_bytes(content)
    code, rec, err = run_cli(["--quiet", str(path)])
    assert code == 2 and rec is None, err
    assert message in err and "Traceback" not in err


def test_truncated_orc_and_mixed_formats_are_clear_errors(tmp_path, messy):
    d, _, _ = messy
    data = (d / "messy.orc").read_bytes()
    (tmp_path / "cut.orc").write_bytes(data[: len(data) // 2])
    code, _, err = run_cli(["--quiet", str(tmp_path / "cut.orc")])
    assert code == 2 and "not a readable orc file" in err and "Traceback" not in err
    code, _, err = run_cli(["--quiet", str(d / "messy.parquet"), str(d / "messy.orc")])
    assert code == 2 and "mix formats" in err and "Traceback" not in err
    (tmp_path / "t.csv").write_text("a,b,y\n1,2,3\n")
    code, _, err = run_cli(["--quiet", str(d / "messy.parquet"), str(tmp_path / "t.csv")])
    assert code == 2 and "mix formats" in err and "Traceback" not in err


# --- the local warehouse by table name -------------------------------------------------


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    """``sales.tx`` in a local warehouse: Parquet files under ``region=<r>/k=<n>/``."""
    state = tmp_path / "state"
    table = state / "warehouse" / "sales.db" / "tx"
    rng = np.random.default_rng(9)
    rows = {}
    for region, k in (("eu", 1), ("us", 2), ("us", 3)):
        X = rng.standard_normal((400, 2))
        y = X @ [2.0, -1.0] + 5.0 * k + rng.standard_normal(400) * 0.1
        folder = table / f"region={region}" / f"k={k}"
        folder.mkdir(parents=True)
        t = pa.table({"a": X[:, 0], "b": X[:, 1], "y": y})
        pq.write_table(t.slice(0, 250), folder / "part-0.parquet", row_group_size=100)
        pq.write_table(t.slice(250), folder / "part-1.parquet")
        (folder / "_SUCCESS").write_bytes(b"")
        rows[(region, k)] = (X, y)
    monkeypatch.setenv("MRLINREG_STATE_DIR", str(state))
    monkeypatch.setenv("MRLINREG_MODE", "local")
    return state, rows


def test_train_on_a_local_table_by_name_with_where(warehouse):
    _, rows = warehouse
    code, rec, err = run_inline(["--solver", "qr", "--quiet", "--hive-table", "sales.tx",
                                 "--where", "region = 'us'", "--features", "a,b,k"])
    assert code == 0, err
    X = np.vstack([np.column_stack([rows[("us", k)][0], np.full(400, k)]) for k in (2, 3)])
    y = np.concatenate([rows[("us", k)][1] for k in (2, 3)])
    coef, intercept = lstsq_reference(X, y)
    assert rec["n_rows"] == 800
    np.testing.assert_allclose(coef_vector(rec), coef, rtol=1e-11)
    assert rec["intercept"] == pytest.approx(intercept, rel=1e-11)
    code, rec, err = run_inline(["--quiet", "--hive-table", "sales.tx", "--features",
                                 "a,region"])
    assert code == 2 and "partition column 'region'" in err
    code, rec, err = run_inline(["--quiet", "--hive-table", "sales.tx", "--where",
                                 "region = 'mars'"])
    assert code == 2 and "no partition" in err
    code, rec, err = run_inline(["--quiet", "--hive-table", "sales.tx", "--where", "a > 1"])
    assert code == 2 and "partition columns" in err
    code, rec, err = run_inline(["--quiet", "--hive-table", "sales.nope"])
    assert code == 2 and "not found" in err


@pytest.mark.parametrize("where", ["region = 'eu' OR 1 = 1", "region = 'eu'; DROP TABLE x",
                                   "region = eu"])
def test_where_outside_the_grammar_is_a_usage_error(warehouse, where):
    code, rec, err = run_inline(["--quiet", "--hive-table", "sales.tx", "--where", where])
    assert code == 2 and rec is None and "usage:" in err and "--where" in err


def test_predict_a_local_table_into_the_predictions_table(warehouse, tmp_path):
    state, rows = warehouse
    model = tmp_path / "m.json"
    code, rec, err = run_inline(["--solver", "qr", "--quiet", "--hive-table", "sales.tx",
                                 "--features", "a,b,k", "--output-model", str(model)])
    assert code == 0, err
    from mrlinreg.cli.main import job_script

    out = tmp_path / "pred.tsv"
    code = job_script("predict", "jobs/predict.py",
                      ["--model", str(model), "--hive-table", "sales.tx", "--where",
                       "region = 'eu'", "--publish", "--output", str(out)])
    assert code == 0
    lines = [line.split("\t") for line in out.read_text().splitlines()]
    assert len(lines) == 400
    X, y = rows[("eu", 1)]
    by_file = {}
    for f in lines:
        by_file.setdefault(os.path.basename(f[0]), []).append(f)
    assert sorted(len(v) for v in by_file.values()) == [150, 250]
    offset = {"part-0.parquet": 0, "part-1.parquet": 250}
    got = np.empty(400)
    for name, fields in by_file.items():
        for f in fields:
            got[offset[name] + int(f[1])] = float(f[4])  # row_index: the row in its file
    c = rec["coefficients"]
    want = X @ [c["a"], c["b"]] + c["k"] * 1.0 + rec["intercept"]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    from mrlinreg.storage.local_results import LocalResultsStore

    published = LocalResultsStore(state / "warehouse").read_table("predictions",
                                                                   run_id=rec["run_id"])
    assert published.num_rows == 400
