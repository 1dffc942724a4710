"""Issue 9: inputs Hadoop users really have -- headers per file, BOMs, CRLF, quotes,
trailing delimiters, byte offsets of predictions -- give the right answer or exit 2."""

import gzip
import json

import numpy as np
import pytest

from tests.functional.helpers import coef_vector, lstsq_reference, run_inline
from tests.functional.test_predict_job import run_predict


def _data(n=60, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    y = X @ [1.5, -2.0, 0.25] + 0.5 + 0.01 * rng.standard_normal(n)
    return X, y


def _csv(names, X, y, order=None, header=True, eol="\n", bom=False, quote=False,
         trailing=""):
    cols = dict(zip(names, list(X.T) + [y]))
    order = order or names
    q = (lambda s: f'"{s}"') if quote else (lambda s: s)
    lines = [",".join(q(n) for n in order) + trailing] if header else []
    lines += [",".join(q(repr(float(cols[n][i]))) for n in order) + trailing
              for i in range(len(y))]
    text = eol.join(lines) + eol
    return ("\ufeff" if bom else "") + text


def _check(rec, X, y, rtol=1e-10):
    coef, b = lstsq_reference(X, y)
    np.testing.assert_allclose(coef_vector(rec), coef, rtol=rtol, atol=1e-12)
    assert rec["intercept"] == pytest.approx(b, rel=rtol, abs=1e-12)


NAMES = ["a", "b", "c", "y"]


def test_a_second_file_with_reordered_columns_is_read_by_name(tmp_path):
    X, y = _data()
    d = tmp_path / "parts"
    d.mkdir()
    (d / "part-0.csv").write_text(_csv(NAMES, X[:30], y[:30]))
    (d / "part-1.csv").write_text(_csv(NAMES, X[30:], y[30:], order=["y", "c", "a", "b"]))
    code, rec, err = run_inline(["--solver", "qr", str(d)])
    assert code == 0, err
    assert rec["n_rows"] == 60 and rec["bad_rows"] == 0
    _check(rec, X, y)


def test_per_file_layouts_hold_on_the_local_runner_too(tmp_path):
    X, y = _data(400)
    d = tmp_path / "parts"
    d.mkdir()
    (d / "part-0.csv").write_text(_csv(NAMES, X[:200], y[:200]))
    with gzip.open(d / "part-1.csv.gz", "wt") as f:
        f.write(_csv(NAMES, X[200:], y[200:], order=["c", "y", "b", "a"]))
    code, rec, err = run_inline(["-r", "local", "--num-cores", "2", "--solver", "qr", str(d)])
    assert code == 0, err
    _check(rec, X, y)


@pytest.mark.parametrize("order, fragment", [
    (["a", "b", "y"], "it lacks ['c']"),
    (["a", "b", "c", "d", "y"], "it has ['d'], which the header of"),
])
def test_a_file_with_other_columns_is_refused_naming_it(tmp_path, order, fragment):
    X, y = _data()
    d = tmp_path / "parts"
    d.mkdir()
    (d / "part-0.csv").write_text(_csv(NAMES, X[:30], y[:30]))
    X2 = np.column_stack([X[30:], X[30:, 0]])
    (d / "part-1.csv").write_text(_csv(["a", "b", "c", "d", "y"], X2, y[30:], order=order))
    code, rec, err = run_inline(["--solver", "qr", str(d)])
    assert code == 2 and rec is None
    assert "part-1.csv" in err and fragment in err and "Traceback" not in err


def test_header_and_rows_of_different_lengths_say_so(tmp_path):
    X, y = _data()
    path = tmp_path / "d.csv"
    path.write_text("a,b,y\n" + _csv(NAMES, X, y, header=False))
    code, _, err = run_inline([str(path)])
    assert code == 2
    assert "its header has 3 columns but its rows have 4 fields" in err


def test_bom_quotes_crlf_trailing_delimiter_with_a_header(tmp_path):
    X, y = _data()
    path = tmp_path / "d.csv"
    path.write_bytes(_csv(NAMES, X, y, eol="\r\n", bom=True, quote=True,
                          trailing=",").encode())
    code, rec, err = run_inline(["--solver", "qr", str(path)])
    assert code == 0, err
    assert rec["features"] == ["a", "b", "c"] and rec["label"] == "y"
    assert rec["n_rows"] == 60 and rec["bad_rows"] == 0
    _check(rec, X, y)


def test_a_bom_on_headerless_data_does_not_make_the_first_row_names(tmp_path):
    X, y = _data()
    path = tmp_path / "d.csv"
    path.write_bytes(_csv(NAMES, X, y, header=False, bom=True, eol="\r\n").encode())
    code, rec, err = run_inline(["--solver", "qr", str(path)])
    assert code == 0, err
    assert rec["features"] == ["c0", "c1", "c2"]
    assert rec["n_rows"] == 60 and rec["bad_rows"] == 0
    _check(rec, X, y)


def test_header_no_keeps_a_first_row_with_strings_as_a_bad_row(tmp_path):
    X, y = _data()
    path = tmp_path / "d.csv"
    path.write_text("1.0,red,2.0,3.0\n" + _csv(NAMES, X, y, header=False))
    code, rec, err = run_inline(["--solver", "qr", "--header", "no", str(path)])
    assert code == 0, err
    assert rec["n_rows"] == 60 and rec["bad_rows"] == 1
    assert rec["bad_row_reasons"] == {"non_numeric": 1}
    _check(rec, X, y)


def test_header_yes_takes_a_numeric_first_line_as_names(tmp_path):
    X, y = _data()
    path = tmp_path / "d.csv"
    path.write_text("1,2,3,4\n" + _csv(NAMES, X, y, header=False))
    code, rec, err = run_inline(["--solver", "qr", "--header", "yes", "--label", "4",
                                 str(path)])
    assert code == 0, err
    assert rec["features"] == ["1", "2", "3"] and rec["n_rows"] == 60
    _check(rec, X, y)


def test_header_option_is_checked(tmp_path):
    code, _, err = run_inline(["--header", "maybe", str(tmp_path)])
    assert code == 2 and "--header: invalid choice" in err


# --- command-line errors ---------------------------------------------------------------

def test_a_schema_that_is_a_yaml_list_is_refused(tmp_path):
    X, y = _data()
    path = tmp_path / "d.csv"
    path.write_text(_csv(NAMES, X, y, header=False))
    schema = tmp_path / "s.yaml"
    schema.write_text("- a\n- b\n- c\n- y\n")
    code, _, err = run_inline(["--schema", str(schema), str(path)])
    assert code == 2 and "must be a mapping with 'columns'" in err
    assert "Traceback" not in err


def test_a_missing_later_input_is_named_not_blamed_on_the_cluster(tmp_path):
    X, y = _data()
    path = tmp_path / "d.csv"
    path.write_text(_csv(NAMES, X, y))
    missing = tmp_path / "nope.csv"
    code, _, err = run_inline([str(path), str(missing)])
    assert code == 2 and str(missing) in err and "does not exist" in err
    assert "cluster" not in err


def test_missing_validation_input_is_refused_before_any_pass(tmp_path):
    X, y = _data()
    path = tmp_path / "d.csv"
    path.write_text(_csv(NAMES, X, y))
    code, _, err = run_inline(["--validation", str(tmp_path / "v.csv"), str(path)])
    assert code == 2 and "v.csv does not exist" in err
    assert "rows, 3 features" not in err  # no pass ran


@pytest.mark.parametrize("features, fragment", [
    ("a,a", "--features repeats a column"), ("", "--features must name at least one"),
    ("a,,b", "--features must name at least one"),
])
def test_repeated_or_empty_features(tmp_path, features, fragment):
    X, y = _data()
    path = tmp_path / "d.csv"
    path.write_text(_csv(NAMES, X, y))
    code, _, err = run_inline(["--features", features, str(path)])
    assert code == 2 and fragment in err


# --- predict: byte offsets ---------------------------------------------------------------

def _model(tmp_path, X, y):
    path = tmp_path / "train.csv"
    path.write_text(_csv(NAMES, X, y))
    model = tmp_path / "m.json"
    code, rec, err = run_inline(["--solver", "qr", "--output-model", str(model), str(path)])
    assert code == 0, err
    return model, rec


@pytest.mark.parametrize("runner", [[], ["-r", "local", "--num-cores", "2"]])
def test_row_index_is_the_byte_offset_with_crlf_and_latin1_lines(tmp_path, runner):
    X, y = _data(300)
    model, rec = _model(tmp_path, X, y)
    raw = ("a,b,c,y\r\n" + _csv(NAMES, X, y, header=False, eol="\r\n")).encode()
    lines = raw.split(b"\r\n")[:-1]
    lines[5] = b"caf\xe9,1,2,3"           # latin-1: a bad row whose bytes still count
    lines[9] = "\u00e9t\u00e9,1,2,3".encode()  # UTF-8 multi-byte
    raw = b"\r\n".join(lines) + b"\r\n"
    data = tmp_path / "score.csv"
    data.write_bytes(raw)
    out = tmp_path / "p.csv"
    code, err = run_predict(["--model", str(model), "--output", str(out), *runner, str(data)])
    assert code == 0, err
    got = {}
    for line in out.read_text().splitlines():  # the predictions table's text lines
        f, idx, row_id, yt, p = line.split("\t")
        got[int(idx)] = float(yt)
    starts = np.cumsum([0] + [len(line) + 2 for line in lines])[:-1]
    good = [i for i in range(1, len(lines)) if i not in (5, 9)]
    assert sorted(got) == [int(starts[i]) for i in good]
    for i in good:  # the row at that offset is the row that was scored
        assert got[int(starts[i])] == float(lines[i].split(b",")[3])


def test_predict_on_a_file_with_reordered_columns_reads_by_name(tmp_path):
    X, y = _data(100)
    model, rec = _model(tmp_path, X, y)
    data = tmp_path / "score.csv"
    data.write_text(_csv(NAMES, X, y, order=["c", "y", "a", "b"]))
    out = tmp_path / "p.csv"
    code, err = run_predict(["--model", str(model), "--output", str(out), str(data)])
    assert code == 0, err
    by_offset = {int(r[1]): float(r[4]) for r in
                 (line.split("\t") for line in out.read_text().splitlines())}
    lines = data.read_bytes().split(b"\n")[:-1]
    starts = np.cumsum([0] + [len(line) + 1 for line in lines])[1:-1]
    pred = np.array([by_offset[int(o)] for o in starts])
    np.testing.assert_allclose(pred, X @ coef_vector(rec) + rec["intercept"], rtol=1e-13)


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "null"])
def test_a_model_with_a_non_finite_coefficient_is_refused(tmp_path, bad):
    X, y = _data(50)
    model, rec = _model(tmp_path, X, y)
    text = model.read_text()
    data = json.loads(text)
    value = repr(data["coefficients"]["b"])
    model.write_text(text.replace(f'"b": {value}', f'"b": {bad}', 1))
    assert bad in model.read_text()
    out = tmp_path / "p.csv"
    code, err = run_predict(["--model", str(model), "--output", str(out),
                             str(tmp_path / "train.csv")])
    assert code == 2, err
    assert "coefficient" in err and "b" in err and "Traceback" not in err
