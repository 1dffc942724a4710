"""Training and scoring on Hive tables by name: a Parquet and an ORC table, each with two
partitions, created and filled through HiveQL on the cluster (Hive writes the files);
``jobs/linreg.py -r hadoop --hive-table`` reads them straight from HDFS and matches numpy's
least squares on the same rows, ``--where`` keeps one partition's rows, a numeric
partition column is a feature, a null is a counted bad row, and ``jobs/predict.py`` scores
a table into the predictions table of the warehouse."""

import json
import os
import subprocess
import sys
import uuid

import numpy as np
import pytest

from tests.functional.helpers import LINREG, ROOT, coef_vector, lstsq_reference

pytestmark = pytest.mark.integration
PREDICT = os.path.join(ROOT, "jobs", "predict.py")
N_PER_PART = 600


@pytest.fixture(scope="module")
def tag():
    return uuid.uuid4().hex[:8]


def _hive(cluster_info, statements):
    from pyhive import hive

    conn = hive.connect(host=cluster_info.hive_host, port=cluster_info.hive_port,
                        username="mrlinreg")
    try:
        cur, out = conn.cursor(), None
        for sql in statements:
            cur.execute(sql)
            out = cur.fetchall() if cur.description else None
        return out
    finally:
        conn.close()


@pytest.fixture(scope="module")
def rows():
    """Two partitions of rows ``a, b, c, y``: day d1 (k = 1) and d2 (k = 2), the label
    depends on k too; one row of d2 has a null ``b``."""
    rng = np.random.default_rng(16)
    X = rng.standard_normal((2 * N_PER_PART, 3)) * [1.0, 10.0, 0.1]
    k = np.repeat([1.0, 2.0], N_PER_PART)
    y = X @ [1.5, -0.25, 4.0] + 3.0 * k + 0.5 + rng.standard_normal(2 * N_PER_PART) * 0.3
    day = np.repeat(["d1", "d2"], N_PER_PART)
    null_row = N_PER_PART + 7  # in d2
    return X, y, k, day, null_row


@pytest.fixture(scope="module")
def tables(webhdfs, cluster_info, rows, tag):
    """``columnar_<tag>.pq`` (Parquet) and ``.orc`` (ORC), partitioned by (day, k), filled by
    INSERT ... SELECT from a text staging table."""
    X, y, k, day, null_row = rows
    db = f"columnar_{tag}"
    staging = f"/tmp/columnar-it/{tag}/staging"
    lines = []
    for i in range(len(y)):
        a, b, c = (repr(float(v)) for v in X[i])  # repr of a float round-trips exactly
        b = "\\N" if i == null_row else b
        lines.append(f"{a},{b},{c},{float(y[i])!r},{day[i]},{int(k[i])}")
    webhdfs.write(f"{staging}/rows.csv", data=("\n".join(lines) + "\n").encode(),
                  overwrite=True)
    stmts = [f"CREATE DATABASE IF NOT EXISTS {db}",
             f"CREATE EXTERNAL TABLE {db}.staging (a DOUBLE, b DOUBLE, c DOUBLE, y DOUBLE, "
             f"day STRING, k INT) ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' "
             f"STORED AS TEXTFILE LOCATION '{cluster_info.default_fs}{staging}'"]
    for name, fmt in (("pq", "PARQUET"), ("orc", "ORC")):
        stmts.append(f"CREATE TABLE {db}.{name} (a DOUBLE, b DOUBLE, c DOUBLE, y DOUBLE) "
                     f"PARTITIONED BY (day STRING, k INT) STORED AS {fmt}")
        for d, kk in (("d1", 1), ("d2", 2)):
            stmts.append(f"INSERT OVERWRITE TABLE {db}.{name} PARTITION (day='{d}', k={kk}) "
                         f"SELECT a, b, c, y FROM {db}.staging WHERE day = '{d}'")
    _hive(cluster_info, stmts)
    yield db
    locations = []
    for name in ("pq", "orc"):
        for row in _hive(cluster_info, [f"DESCRIBE FORMATTED {db}.{name}"]):
            if (row[0] or "").strip() == "Location:":
                locations.append(row[1].strip())
    _hive(cluster_info, [f"DROP DATABASE IF EXISTS {db} CASCADE"])
    from urllib.parse import urlparse
    for loc in locations:
        webhdfs.delete(urlparse(loc).path, recursive=True)
    webhdfs.delete(f"/tmp/columnar-it/{tag}", recursive=True)


@pytest.fixture(scope="module")
def env(hadoop_cluster, cluster_info, tmp_path_factory, tag, webhdfs):
    env = dict(os.environ, **hadoop_cluster)
    env.update(MRLINREG_MODE="cluster",
               MRLINREG_STATE_DIR=str(tmp_path_factory.mktemp("state")),
               MRLINREG_HIVE_HOST=cluster_info.hive_host,
               MRLINREG_HIVE_PORT=str(cluster_info.hive_port),
               MRLINREG_HIVE_DATABASE=f"columnar_{tag}_results",
               MRLINREG_HBASE_HOST=cluster_info.hbase_host,
               MRLINREG_HBASE_PORT=str(cluster_info.hbase_port),
               MRLINREG_ZOOKEEPER_HOSTS=cluster_info.zookeeper_hosts,
               MRLINREG_HDFS_URL=cluster_info.webhdfs_url)
    yield env
    from urllib.parse import urlparse

    from mrlinreg.config import load_config
    warehouse = urlparse(load_config(env=env).hive.warehouse_dir).path
    webhdfs.delete(f"{warehouse}/columnar_{tag}_results.db", recursive=True)


def _run(args, env, script=LINREG):
    p = subprocess.run([sys.executable, script, *args], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=1800)
    return p.returncode, (json.loads(p.stdout) if p.stdout.strip() else None), p.stderr


def _fit(env, tag, *args):
    code, rec, err = _run(["-r", "hadoop", "--solver", "qr", "--quiet", "--model-name",
                           f"columnar_{tag}", *args], env)
    assert code == 0, err[-3000:]
    return rec


def _good(rows, keep):
    X, y, k, day, null_row = rows
    keep = keep & (np.arange(len(y)) != null_row)
    return X[keep], y[keep], k[keep]


@pytest.mark.parametrize("table", ["pq", "orc"])
def test_fit_each_table_with_a_numeric_partition_column_as_feature(tables, env, rows, tag,
                                                                   table):
    rec = _fit(env, tag, "--hive-table", f"{tables}.{table}", "--features", "a,b,c,k",
               "--label", "y")
    X, y, k = _good(rows, np.ones(len(rows[1]), bool))
    coef, intercept = lstsq_reference(np.column_stack([X, k]), y)
    assert rec["n_rows"] == 2 * N_PER_PART - 1
    assert rec["bad_row_reasons"] == {"missing": 1}
    np.testing.assert_allclose(coef_vector(rec), coef, rtol=1e-11)
    assert rec["intercept"] == pytest.approx(intercept, rel=1e-11)


def test_where_keeps_one_partition_and_formats_agree(tables, env, rows, tag):
    X, y, _ = _good(rows, rows[3] == "d2")
    coef, intercept = lstsq_reference(X, y)
    where = ["--where", "day = 'd2' AND k >= 2", "--features", "a,b,c"]
    on_yarn = _fit(env, tag, "--hive-table", f"{tables}.pq", *where)
    # the ORC table through the inline runner (same Hive lookup, same WebHDFS reads)
    code, inline, err = _run(["--solver", "qr", "--quiet", "--model-name", f"columnar_{tag}",
                              "--hive-table", f"{tables}.orc", *where], env)
    assert code == 0, err[-3000:]
    for rec in (on_yarn, inline):
        assert rec["n_rows"] == N_PER_PART - 1 and rec["bad_rows"] == 1
        np.testing.assert_allclose(coef_vector(rec), coef, rtol=1e-11)
        assert rec["intercept"] == pytest.approx(intercept, rel=1e-11)
    # the same rows from Parquet and ORC: the same numbers to rounding
    np.testing.assert_allclose(coef_vector(on_yarn), coef_vector(inline), rtol=1e-14)
    assert on_yarn["intercept"] == pytest.approx(inline["intercept"], rel=1e-14)


def test_where_in_lists_the_partitions_files(tables, env, webhdfs):
    from mrlinreg.config import load_config
    from mrlinreg.driver.train import open_dataset
    from mrlinreg.fs import FileSystem
    from mrlinreg.options import TrainOptions

    config, fs = load_config(env=env), FileSystem(webhdfs=webhdfs)
    for where, n, days in [("day IN ('d1')", N_PER_PART, {"day=d1"}),
                           ("k != 1 AND day <> 'd1'", N_PER_PART, {"day=d2"}),
                           ("k < 3", 2 * N_PER_PART, {"day=d1", "day=d2"})]:
        data = open_dataset([], fs, TrainOptions(hive_table=f"{tables}.orc", where=where,
                                                 features=("a", "b", "c")), config)
        assert sum(u.rows for u in data.columnar.units) == n
        assert {p.split("/")[-3] for p in data.inputs} == days


def test_where_outside_partition_columns_or_grammar_is_refused(tables, env, tag):
    for where in ["a > 0", "day = 'd1' OR 1=1", "day = 'd1'; DROP TABLE x"]:
        code, rec, err = _run(["-r", "hadoop", "--hive-table", f"{tables}.pq", "--where",
                               where], env)
        assert code == 2 and rec is None and "Traceback" not in err, err
    code, _, err = _run(["-r", "hadoop", "--hive-table", f"{tables}.nope"], env)
    assert code == 2 and "not found" in err and "Traceback" not in err


def test_predict_from_a_table_into_the_predictions_table(tables, env, rows, tag, tmp_path,
                                                          cluster_info):
    model = tmp_path / "model.json"
    code, rec, err = _run(["--solver", "qr", "--quiet", "--model-name", f"columnar_{tag}",
                           "--hive-table", f"{tables}.orc", "--features", "a,b,c,k",
                           "--output-model", str(model)], env)  # inline: the job is predict's
    assert code == 0, err[-3000:]
    out = tmp_path / "pred.tsv"
    code, _, err = _run(["-r", "hadoop", "--model", str(model), "--hive-table",
                         f"{tables}.pq", "--where", "day = 'd1'", "--publish",
                         "--output", str(out)], env, script=PREDICT)
    assert code == 0, err[-3000:]
    lines = [line.split("\t") for line in out.read_text().splitlines()]
    assert len(lines) == N_PER_PART
    X, y, k, day, _ = rows
    order = np.array([int(f[1]) for f in lines])  # row number in the (one) file
    assert sorted(order) == list(range(N_PER_PART))
    pred = np.array([float(f[4]) for f in lines])
    coef = coef_vector(rec)
    expected = np.column_stack([X[:N_PER_PART], k[:N_PER_PART]]) @ coef + rec["intercept"]
    np.testing.assert_allclose(np.sort(pred), np.sort(expected), rtol=1e-12)
    np.testing.assert_allclose(np.array([float(f[3]) for f in lines])[np.argsort(order)],
                               y[:N_PER_PART], rtol=0)
    db = f"columnar_{tag}_results"
    got = _hive(cluster_info, [f"SELECT count(*), sum(prediction) FROM {db}.predictions "
                               f"WHERE run_id = '{rec['run_id']}'"])
    assert got[0][0] == N_PER_PART
    assert got[0][1] == pytest.approx(pred.sum(), rel=1e-12)
    _hive(cluster_info, [f"DROP DATABASE IF EXISTS {db} CASCADE"])
