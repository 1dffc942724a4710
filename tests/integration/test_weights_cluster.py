"""``--weight-column`` on YARN: one pass, statsmodels' WLS, the weight column in Hive (read
back with the README's HiveQL) and in the run's HBase context."""

import json
import os
import re
import subprocess
import sys
import uuid

import numpy as np
import pytest
import statsmodels.api as sm

from tests.functional.helpers import LINREG, ROOT, coef_vector
from tests.functional.test_weights import _data, _write

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tag():
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def data(webhdfs, tmp_path_factory, tag):
    """Two part files, columns in different orders, zero weights, one negative weight."""
    X, w, y = _data(12, 1500, 6)
    d = tmp_path_factory.mktemp("weights-it")
    _write(d / "part-00000.csv", ["x0", "wt", "x1", "x2", "y"],
           [X[:700, 0], w[:700], X[:700, 1], X[:700, 2], y[:700]])
    _write(d / "part-00001.csv", ["y", "x2", "wt", "x1", "x0"],
           [y[700:], X[700:, 2], w[700:], X[700:, 1], X[700:, 0]])
    with open(d / "part-00001.csv", "a") as f:
        f.write("1,2,-0.5,3,4\n")  # a negative weight: a counted bad row
    base = f"/tmp/mrlinreg-it/weights_{tag}"
    webhdfs.makedirs(base + "/train")
    for name in ("part-00000.csv", "part-00001.csv"):
        webhdfs.upload(f"{base}/train/{name}", str(d / name), overwrite=True)
    yield f"hdfs://{base}/train", X, w, y
    webhdfs.delete(base, recursive=True)


def _hive(cluster_info, sql):
    from pyhive import hive

    conn = hive.connect(host=cluster_info.hive_host, port=cluster_info.hive_port,
                        username="mrlinreg")
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return cur.fetchall()
    finally:
        conn.close()


def test_weighted_fit_on_yarn_published_to_hive_and_hbase(hadoop_cluster, cluster_info,
                                                          data, tag, tmp_path):
    path, X, w, y = data
    env = dict(os.environ, **hadoop_cluster)
    env.update(MRLINREG_MODE="cluster", MRLINREG_STATE_DIR=str(tmp_path / "state"),
               MRLINREG_HIVE_HOST=cluster_info.hive_host,
               MRLINREG_HIVE_PORT=str(cluster_info.hive_port),
               MRLINREG_HBASE_HOST=cluster_info.hbase_host,
               MRLINREG_HBASE_PORT=str(cluster_info.hbase_port),
               MRLINREG_ZOOKEEPER_HOSTS=cluster_info.zookeeper_hosts)
    model = f"weights_{tag}"
    p = subprocess.run([sys.executable, LINREG, "-r", "hadoop", "--weight-column", "wt",
                        "--solver", "qr", "--summary", "--publish", "--quiet",
                        "--model-name", model, path],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    assert p.returncode == 0, p.stderr[-4000:]
    rec = json.loads(p.stdout)
    assert rec["passes"] == 1 and rec["n_rows"] == 1500
    assert rec["bad_row_reasons"] == {"negative_weight": 1}
    assert rec["weight_column"] == "wt" and rec["features"] == ["x0", "x1", "x2"]
    ref = sm.WLS(y, sm.add_constant(X, prepend=False), weights=w).fit()
    np.testing.assert_allclose(np.append(coef_vector(rec), rec["intercept"]), ref.params,
                               rtol=1e-10)
    s = rec["summary"]
    np.testing.assert_allclose(s["bse"], ref.bse, rtol=1e-8)
    assert s["rsquared"] == pytest.approx(ref.rsquared, rel=1e-8)
    assert s["nobs"] == 1500 and s["llf"] is None  # zero weights: statsmodels' llf is -inf

    # Hive: the README's weights HiveQL, for this model
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    sql = [q for q in re.findall(r"```hiveql\n(.*?)```", readme, re.S)
           if "weight_column" in q]
    assert len(sql) == 1
    rows = _hive(cluster_info, sql[0].replace("'houses'", f"'{model}'"))
    assert [tuple(r) for r in rows] == [(rec["run_id"], "wt", rec["metrics"]["sum_weights"])]
    assert rec["metrics"]["sum_weights"] == pytest.approx(w.sum(), rel=1e-13)

    # HBase: the weight column in the run's fingerprint, the weights' totals in its context
    from mrlinreg.config import load_config
    from mrlinreg.storage.factory import open_snapshot_store

    with open_snapshot_store(load_config(env=env)) as snaps:
        run = snaps.get_run(model, rec["run_id"])
    assert json.loads(run["run.fingerprint"])["weight_column"] == "wt"
    assert run["ctx.sum_w"] == pytest.approx(w.sum(), rel=1e-13)
    assert run["ctx.n_zero"] == 6 and run["ctx.n"] == 1500
