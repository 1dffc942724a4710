"""The product on the real cluster: jobs on YARN over HDFS, results in Hive, snapshots in
HBase, locks in ZooKeeper.  Every README HiveQL example runs here,
through PyHive and through Hive's JDBC driver."""

import json
import os
import re
import signal
import subprocess
import sys
import uuid

import numpy as np
import pytest

from mrlinreg.datagen import make_regression, write_csv
from tests.functional.helpers import (LINREG, ROOT, coef_vector, run_inline, start_trainer,
                                      wait_for_iteration)

pytestmark = pytest.mark.integration

README_SQL = re.compile(r"```sql\n(.*?)```", re.S)


@pytest.fixture(scope="module")
def run_tag():
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def local_data(tmp_path_factory):
    X, y, _, _ = make_regression(3000, 4, noise=0.3, seed=41, scales=[1, 10, 100, 0.1])
    d = tmp_path_factory.mktemp("it-data")
    parts = d / "train"
    parts.mkdir()
    write_csv(str(parts / "part-00000.csv"), X[:1500], y[:1500])
    write_csv(str(parts / "part-00001.csv"), X[1500:], y[1500:])
    write_csv(str(d / "test.csv"), X[:500], y[:500])
    return d, X, y


@pytest.fixture(scope="module")
def hdfs_data(webhdfs, local_data, run_tag):
    d, X, y = local_data
    base = f"/tmp/mrlinreg-it/{run_tag}"
    webhdfs.makedirs(base + "/train")
    for name in ("part-00000.csv", "part-00001.csv"):
        webhdfs.upload(f"{base}/train/{name}", str(d / "train" / name), overwrite=True)
    webhdfs.upload(f"{base}/test.csv", str(d / "test.csv"), overwrite=True)
    yield base, X, y
    webhdfs.delete(base, recursive=True)


@pytest.fixture()
def cluster_env(hadoop_cluster, cluster_info, tmp_path):
    env = dict(os.environ, **hadoop_cluster)
    env.update(MRLINREG_MODE="cluster", MRLINREG_STATE_DIR=str(tmp_path / "state"),
               MRLINREG_HIVE_HOST=cluster_info.hive_host,
               MRLINREG_HIVE_PORT=str(cluster_info.hive_port),
               MRLINREG_HBASE_HOST=cluster_info.hbase_host,
               MRLINREG_HBASE_PORT=str(cluster_info.hbase_port),
               MRLINREG_ZOOKEEPER_HOSTS=cluster_info.zookeeper_hosts)
    return env


def _run(args, env, timeout=1200, script=LINREG):
    p = subprocess.run([sys.executable, script, *args], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=timeout)
    return p.returncode, (json.loads(p.stdout) if p.stdout.strip() else None), p.stderr


def test_hadoop_runner_matches_inline(hdfs_data, local_data, cluster_env, webhdfs):
    base, X, y = hdfs_data
    d, _, _ = local_data
    args = ["--solver", "newton", "--strategy", "passes", "--tol", "1e-10", "--model-name",
            "it_yarn"]
    code, on_yarn, err = _run(["-r", "hadoop", *args, "--output-model",
                               f"hdfs://{base}/models/newton.json", f"hdfs://{base}/train"],
                              cluster_env)
    assert code == 0, err
    with webhdfs.read(f"{base}/models/newton.json") as f:
        assert json.loads(f.read()) == on_yarn
    assert on_yarn["n_rows"] == 3000 and on_yarn["passes"] == 3 and on_yarn["converged"]
    code, inline, err = run_inline([*args, "--model-name", "it_inline", str(d / "train")])
    assert code == 0, err
    np.testing.assert_allclose(coef_vector(on_yarn), coef_vector(inline), rtol=1e-9)
    assert on_yarn["intercept"] == pytest.approx(inline["intercept"], rel=1e-9)


def _hive_rows(cluster_info, sql):
    from pyhive import hive

    conn = hive.connect(host=cluster_info.hive_host, port=cluster_info.hive_port,
                        username="mrlinreg")
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return cur.fetchall()
    finally:
        conn.close()


def _exact(rows):
    """Rows with every double as its exact hex form (so -0.0 differs from 0.0)."""
    return [tuple(v.hex() if isinstance(v, float) else v for v in row) for row in rows]


def test_pipeline_on_the_cluster_then_hiveql(hdfs_data, local_data, cluster_env, cluster_info,
                                             run_tag, hive_jdbc):
    base, X, y = hdfs_data
    d, _, _ = local_data
    p = subprocess.run(
        [sys.executable, "-m", "mrlinreg.cli.main", "pipeline",
         "--upload-to", f"hdfs://{base}/lake", "--predict", f"hdfs://{base}/test.csv",
         "-r", "hadoop", "--model-name", "demo", "--solver", "gd", "--strategy", "stats",
         "--tol", "1e-10", str(d / "train")],
        capture_output=True, text=True, env=cluster_env, cwd=ROOT, timeout=1800)
    assert p.returncode == 0, p.stderr[-4000:]
    rec = json.loads(p.stdout)
    assert rec["converged"] and rec["n_rows"] == 3000
    run_id = rec["run_id"]

    # HBase: one snapshot per iteration (and iteration 0), in order
    from mrlinreg.config import load_config
    from mrlinreg.storage.factory import open_results_store, open_snapshot_store

    config = load_config(env=cluster_env)
    with open_snapshot_store(config) as snaps:
        hist = snaps.history("demo", run_id=run_id)
    assert [s.iteration for s in hist] == list(range(rec["iterations"] + 1))
    np.testing.assert_array_equal(hist[-1].weights, rec["working_weights"])

    # every README example runs through PyHive, and the answers are the run's numbers
    readme = open(os.path.join(ROOT, "README.md")).read()
    queries = README_SQL.findall(readme)
    assert len(queries) >= 5
    results = [_hive_rows(cluster_info, q) for q in queries]
    assert all(results), [q for q, r in zip(queries, results) if not r]
    coef_rows = [r for r in results[1] if r[0] == run_id]
    assert [r[1] for r in coef_rows] == rec["features"] + ["intercept"]
    for r in coef_rows:
        expected = rec["intercept"] if r[1] == "intercept" else rec["coefficients"][r[1]]
        assert r[2] == expected  # doubles round-trip exactly through Hive
        assert r[3] is not None and r[4] is not None  # std_err, p_value
    history_rows = [r for r in results[2] if r[0] == run_id]
    assert [r[1] for r in history_rows] == [h["iteration"] for h in rec["history"]]
    pred = [r for r in results[4] if r[0] == run_id]
    assert len(pred) == 1 and pred[0][2] == 500
    assert pred[0][3] == pytest.approx(
        np.mean(np.abs(X[:500] @ coef_vector(rec) + rec["intercept"] - y[:500])), rel=1e-9)

    # a second client, Hive's own JDBC driver (4.0.1), runs every README example too and
    # gives this run's rows exactly as PyHive does (doubles bit for bit). Only this run's
    # rows: other runs may be published to linreg between the two clients' queries.
    via_jdbc = hive_jdbc(queries)
    for sql, by_pyhive, by_jdbc in zip(queries, results, via_jdbc):
        mine = _exact(r for r in by_pyhive if r[0] == run_id)
        assert mine, sql
        assert _exact(r for r in by_jdbc if r[0] == run_id) == mine, sql

    # publishing the same run again duplicates nothing
    from mrlinreg.driver.publish import publish_run
    from mrlinreg.records import ModelRecord

    assert publish_run(ModelRecord.from_json(rec), config).published
    count = ("SELECT COUNT(*) FROM linreg.{t} WHERE run_id = '%s'" % run_id)
    assert _hive_rows(cluster_info, count.format(t="models")) == [(1,)]
    assert _hive_rows(cluster_info, count.format(t="coefficients")) == [(len(rec["features"]) + 1,)]
    assert _hive_rows(cluster_info, count.format(t="training_history")) == [(rec["iterations"],)]
    with open_results_store(config) as store:
        assert store.read_table("predictions", run_id=run_id).num_rows == 500


def test_sigkill_then_resume_from_hbase(local_data, cluster_env, run_tag):
    d, _, _ = local_data
    slow = ["--strategy", "passes", "--no-standardize", "--max-iter", "30", "--tol", "1e-14"]
    data = str(d / "test.csv")
    code, ref, err = _run(["--model-name", f"it_ref_{run_tag}", *slow, data], cluster_env)
    assert code == 0, err
    model = f"it_kill_{run_tag}"
    proc = start_trainer(["--model-name", model, *slow, data], cluster_env)
    wait_for_iteration(proc, 8)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    code, rec, err = _run(["--model-name", model, "--resume", *slow, data], cluster_env)
    assert code == 0, err
    assert "resuming run" in err and rec["iterations"] == ref["iterations"] == 30
    for f in ref["features"]:
        assert rec["coefficients"][f] == pytest.approx(ref["coefficients"][f], rel=1e-12)
    assert rec["intercept"] == pytest.approx(ref["intercept"], rel=1e-12)


def test_second_trainer_refused_by_zookeeper_lock(local_data, cluster_env, run_tag):
    d, _, _ = local_data
    slow = ["--strategy", "passes", "--no-standardize", "--max-iter", "30", "--tol", "1e-14"]
    model = f"it_lock_{run_tag}"
    first = start_trainer(["--model-name", model, *slow, str(d / "test.csv")], cluster_env)
    try:
        wait_for_iteration(first, 1)
        code, rec, err = _run(["--model-name", model, *slow, str(d / "test.csv")], cluster_env,
                              timeout=120)
        assert code == 1 and rec is None
        assert f"model '{model}' is locked" in err
    finally:
        first.kill()
        first.wait()
