"""The command line: subcommands, option errors as usage + one line with exit 2, inputs
read the same way by every caller (compressed first input, hidden files)."""

import gzip
import shutil
import subprocess
import sys

import numpy as np
import pytest

from mrlinreg.datagen import make_regression, write_csv
from tests.functional.helpers import LINREG, ROOT, coef_vector, lstsq_reference, run_inline


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    X, y, _, _ = make_regression(600, 3, seed=8)
    write_csv(str(d / "a.csv"), X, y)
    return d, X, y


@pytest.mark.parametrize("args, fragment", [
    (["--max-iter", "0"], "--max-iter must be at least 1"),
    (["--max-iter", "abc"], "argument --max-iter: invalid int value"),
    (["--solver", "sgd"], "argument --solver: invalid choice"),
    (["--l2", "-1"], "--l2 must be a non-negative number"),
    (["--block-rows", "0"], "--block-rows must be at least 1"),
    (["--delimiter", ""], "--delimiter must be a single character"),
    (["--features", "x0,x0"], "--features repeats a column"),
    (["--min-norm"], "--min-norm needs --solver qr"),
    (["--model-name", "a b"], "invalid --model-name"),
])
def test_option_errors_exit_2_with_usage_and_no_traceback(small, args, fragment):
    d, _, _ = small
    p = subprocess.run([sys.executable, LINREG, *args, str(d / "a.csv")], capture_output=True,
                       text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 2, p.stderr
    assert fragment in p.stderr and "Traceback" not in p.stderr
    assert p.stderr.startswith("usage: jobs/linreg.py") and p.stdout == ""


def test_mrlinreg_subcommands_share_the_driver(small, tmp_path):
    d, X, y = small
    model = tmp_path / "m.json"
    p = subprocess.run([sys.executable, "-m", "mrlinreg.cli.main", "train", "--solver", "qr",
                        "--quiet", "--output-model", str(model), str(d / "a.csv")],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr
    out = tmp_path / "p.csv"
    p = subprocess.run([sys.executable, "-m", "mrlinreg.cli.main", "predict", "--model",
                        str(model), "--output", str(out), str(d / "a.csv")],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr
    assert len(out.read_text().splitlines()) == len(y)


def test_a_compressed_first_input_and_hidden_files(small, tmp_path):
    d, X, y = small
    folder = tmp_path / "parts"
    folder.mkdir()
    with open(d / "a.csv", "rb") as src, gzip.open(folder / "part-00000.csv.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-00000.csv.gz.crc").write_bytes(b"\x00crc")
    (folder / "_logs").mkdir()
    (folder / "_logs" / "history.txt").write_text("job,1,2,3\n9,9,9,9\n")
    code, rec, err = run_inline(["--solver", "qr", str(folder)])
    assert code == 0, err
    assert rec["n_rows"] == len(y) and rec["bad_rows"] == 0
    coef, b = lstsq_reference(X, y)
    np.testing.assert_allclose(coef_vector(rec), coef, rtol=1e-10, atol=1e-12)
    assert rec["intercept"] == pytest.approx(b, rel=1e-10)


def test_a_model_of_an_unknown_format_version_is_refused(small, tmp_path):
    d, _, _ = small
    model = tmp_path / "future.json"
    model.write_text('{"format_version": 9, "run_id": "r"}')
    p = subprocess.run([sys.executable, "jobs/predict.py", "--model", str(model),
                        str(d / "a.csv")], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert p.returncode == 2 and "format_version 9 is not supported" in p.stderr
    assert "Traceback" not in p.stderr
