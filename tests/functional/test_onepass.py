"""Issue 10 (numerics and job): one pass, one job; merge keys; ``-r spark``.

* ``--solver qr`` and every ``stats`` fit read the data once (``"passes": 1``);
  ``--summary`` adds no pass (MAE only with ``--summary-mae``).
* The mapper partials are spread over merge keys by their split; the result is
  bit-identical whatever the number of reduce tasks and the order of the inputs.
* ``-r spark`` (pyspark as ``cluster up`` fetches it) runs the same one-pass fit
  and matches the inline runner.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mrlinreg.datagen import make_regression, write_csv
from mrlinreg.numerics.merge import DEFAULT_BUCKETS, reducer_key
from tests.functional.helpers import LINREG, ROOT, coef_vector, lstsq_reference, run_inline


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """12 part files with a header, columns spanning six orders of magnitude."""
    X, y, _, _ = make_regression(2400, 5, noise=0.5, seed=21, scales=[1, 10, 1e3, 1e-2, 1e2])
    X = X + [5, -3, 1e4, 2, 0]
    y = y + 7
    folder = tmp_path_factory.mktemp("parts")
    paths = []
    for i, (Xb, yb) in enumerate(zip(np.array_split(X, 12), np.array_split(y, 12))):
        path = folder / f"part-{i:05d}.csv"
        write_csv(str(path), Xb, yb)
        paths.append(str(path))
    return paths, X, y


def _fit(*args):
    code, rec, err = run_inline(list(args))
    assert code == 0, err
    return rec


@pytest.mark.parametrize("args, passes", [
    (["--solver", "qr"], 1),
    (["--solver", "qr", "--summary"], 1),
    (["--solver", "qr", "--summary", "--summary-mae"], 2),
    (["--solver", "gd", "--strategy", "stats"], 1),
    (["--solver", "cg"], 1),
    (["--solver", "newton", "--strategy", "stats", "--summary"], 1),
    (["--solver", "gd", "--l2", "0.1"], 1),
])
def test_exact_and_stats_fits_read_the_data_once(parts, args, passes):
    paths, X, y = parts
    rec = _fit(*args, "--tol", "1e-10", paths[0], paths[1], paths[2])
    assert rec["passes"] == passes
    if "--l2" not in args:
        coef, intercept = lstsq_reference(X[:600], y[:600])
        np.testing.assert_allclose(coef_vector(rec), coef, rtol=1e-9)
        assert rec["intercept"] == pytest.approx(intercept, rel=1e-9)


def test_summary_adds_no_pass_to_the_passes_strategy(parts):
    paths, X, y = parts
    args = ["--solver", "newton", "--strategy", "passes", paths[0]]
    plain, with_summary = _fit(*args), _fit(*args, "--summary")
    assert with_summary["passes"] == plain["passes"] == 3   # moments (+R), start, Newton step
    assert with_summary["summary"]["mae"] is not None        # from the last pass


def _bits(rec):
    s = rec["summary"]
    return json.dumps([rec["coefficients"], rec["intercept"], rec["loss"], s["params"],
                       s["bse"], s["ssr"], s["condition_number"]])


def test_merge_keys_give_the_same_bits_whatever_the_reducers_and_input_order(parts):
    """12 splits (one per file: each is below the runner's split size) over 32 keys; the
    runner's reduce tasks (one per core here) share the keys, each merges its keys'
    partials in a canonical order, the driver merges the keys' results the same way."""
    paths, X, y = parts
    keys = [reducer_key("file://" + p, 0, DEFAULT_BUCKETS) for p in paths]
    assert len(set(keys)) >= 3 and max(np.bincount(keys)) >= 2   # both merge levels work
    runs = {}
    for cores, order in [("1", paths), ("3", paths), ("3", paths[::-1]), ("2", paths[5:] +
                                                                          paths[:5])]:
        rec = _fit("--solver", "qr", "--summary", "--num-cores", cores, *order)
        assert rec["passes"] == 1 and rec["n_rows"] == len(y)
        runs[(cores, order[0])] = _bits(rec)
    assert len(set(runs.values())) == 1, runs
    coef, intercept = lstsq_reference(X, y)
    np.testing.assert_allclose(coef_vector(rec), coef, rtol=1e-9)
    assert rec["intercept"] == pytest.approx(intercept, rel=1e-9)


def test_local_runner_processes_give_the_inline_bits(parts):
    """Real task processes (``-r local``): the same splits, the same bits as inline."""
    paths, X, y = parts
    inline = _fit("--solver", "qr", "--summary", "--num-cores", "2", *paths)
    local = _fit("-r", "local", "--solver", "qr", "--summary", "--num-cores", "2",
                 *paths[::-1])
    assert _bits(local) == _bits(inline)


@pytest.mark.spark
def test_spark_runner_runs_the_one_pass_fit(parts):
    """``-r spark`` (local master, mrjob's harness) with 3 reducer partitions: one pass,
    the inline runner's figures to 1e-9 (the fit itself: numpy's to 1e-9)."""
    from tests.unit.test_compat import _cached_pyspark

    paths, X, y = parts
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        _cached_pyspark() + [ROOT, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    done = subprocess.run(
        [sys.executable, LINREG, "-r", "spark", "--no-conf", "--python-bin", sys.executable,
         "--jobconf", "mapreduce.job.reduces=3", "--solver", "qr", "--summary", *paths],
        capture_output=True, text=True, timeout=900, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    spark = json.loads(done.stdout)
    inline = _fit("--solver", "qr", "--summary", *paths)
    assert spark["passes"] == 1 and spark["n_rows"] == inline["n_rows"] == len(y)
    np.testing.assert_allclose(coef_vector(spark), coef_vector(inline), rtol=1e-9)
    assert spark["intercept"] == pytest.approx(inline["intercept"], rel=1e-9)
    for key in ("bse", "params"):
        np.testing.assert_allclose(spark["summary"][key], inline["summary"][key], rtol=1e-9)
    coef, intercept = lstsq_reference(X, y)
    np.testing.assert_allclose(coef_vector(spark), coef, rtol=1e-9)
