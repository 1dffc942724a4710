"""``--cv`` with ``--path`` on YARN: one pass for R and the fold factors, the CV curve and
the path in Hive (read back with HiveQL), the run's context (fold factors) in HBase; and
the elastic net on the passes strategy (FISTA), a pass per iteration on YARN."""

import json
import os
import re
import subprocess
import sys
import uuid

import numpy as np
import pytest

from mrlinreg.datagen import write_csv
from tests.functional.helpers import LINREG, ROOT, run_inline
from tests.functional.test_penalised import _data, _enet, brute_force_cv, file_folds

pytestmark = pytest.mark.integration
K, N_PATH = 4, 10


@pytest.fixture(scope="module")
def tag():
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    X, y = _data(2000, [1, 10, 0.1, 5, 2, 3], 23, [1.0, 0, -1.5, 0.2, 0, 0.05])
    d = tmp_path_factory.mktemp("enet-it") / "train"
    d.mkdir()
    write_csv(str(d / "part-00000.csv"), X[:1100], y[:1100])
    write_csv(str(d / "part-00001.csv"), X[1100:], y[1100:])
    return d


@pytest.fixture(scope="module")
def hdfs_parts(webhdfs, parts, tag):
    base = f"/tmp/mrlinreg-it/enet_{tag}"
    webhdfs.makedirs(base + "/train")
    for name in ("part-00000.csv", "part-00001.csv"):
        webhdfs.upload(f"{base}/train/{name}", str(parts / name), overwrite=True)
    yield base
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


def test_cv_path_on_yarn_published_to_hive_and_hbase(hadoop_cluster, cluster_info, hdfs_parts,
                                                     parts, tag, tmp_path):
    env = dict(os.environ, **hadoop_cluster)
    env.update(MRLINREG_MODE="cluster", MRLINREG_STATE_DIR=str(tmp_path / "state"),
               MRLINREG_HIVE_HOST=cluster_info.hive_host,
               MRLINREG_HIVE_PORT=str(cluster_info.hive_port),
               MRLINREG_HBASE_HOST=cluster_info.hbase_host,
               MRLINREG_HBASE_PORT=str(cluster_info.hbase_port),
               MRLINREG_ZOOKEEPER_HOSTS=cluster_info.zookeeper_hosts)
    model = f"enet_{tag}"
    opts = ["--l1", "0.8", "--l2", "0.2", "--path", str(N_PATH), "--cv", str(K), "--quiet"]
    p = subprocess.run([sys.executable, LINREG, "-r", "hadoop", *opts, "--publish",
                        "--model-name", model, f"hdfs://{hdfs_parts}/train"],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    assert p.returncode == 0, p.stderr[-4000:]
    rec = json.loads(p.stdout)
    assert rec["passes"] == 1 and rec["n_rows"] == 2000 and rec["solver"] == "cd"

    # the same numbers as the inline runner, and as brute-force k-fold on the same folds
    code, inline, err = run_inline([*opts, "--model-name", f"enet_inline_{tag}", str(parts)])
    assert code == 0, err
    assert rec["cv"]["fold_rows"] == inline["cv"]["fold_rows"]
    np.testing.assert_allclose(rec["cv"]["mean_mse"], inline["cv"]["mean_mse"], rtol=1e-10)
    np.testing.assert_allclose(rec["path"]["lambdas"], inline["path"]["lambdas"], rtol=1e-12)
    assert rec["selected_features"] == inline["selected_features"]
    X, y, folds = file_folds(sorted(str(f) for f in parts.iterdir()), K)
    brute = [brute_force_cv(X, y, folds, K, _enet(0.8 * s, 0.2 * s))
             for s in rec["cv"]["lambdas"]]
    np.testing.assert_allclose(rec["cv"]["mean_mse"], [m for m, _ in brute], rtol=1e-6)
    np.testing.assert_allclose(rec["cv"]["se_mse"], [s for _, s in brute], rtol=1e-5)

    # Hive: the CV curve and the path of this model, through HiveQL
    curve = _hive(cluster_info, (
        "SELECT c.lambda_index, c.`lambda`, c.mean_mse, c.se_mse, c.folds, c.is_min, c.is_1se "
        "FROM linreg.cv_curve c JOIN linreg.models m ON c.run_id = m.run_id "
        f"WHERE m.model_name = '{model}' ORDER BY c.lambda_index"))
    assert [r[0] for r in curve] == list(range(N_PATH))
    assert [r[1] for r in curve] == rec["cv"]["lambdas"]          # doubles exactly
    assert [r[2] for r in curve] == rec["cv"]["mean_mse"]
    assert [r[3] for r in curve] == rec["cv"]["se_mse"]
    assert {r[4] for r in curve} == {K}
    assert [r[0] for r in curve if r[5]] == [rec["cv"]["index_min"]]
    assert [r[0] for r in curve if r[6]] == [rec["cv"]["index_1se"]]
    at_min = _hive(cluster_info, (
        "SELECT p.feature, p.value FROM linreg.regularization_path p "
        "JOIN linreg.models m ON p.run_id = m.run_id JOIN linreg.cv_curve c "
        "ON c.run_id = p.run_id AND c.lambda_index = p.lambda_index "
        f"WHERE m.model_name = '{model}' AND c.is_min ORDER BY p.feature_index"))
    assert [r[0] for r in at_min] == rec["features"] + ["intercept"]
    assert [r[1] for r in at_min] == [rec["coefficients"][f] for f in rec["features"]] + \
        [rec["intercept"]]
    zeros = _hive(cluster_info, (
        "SELECT COUNT(*) FROM linreg.regularization_path p JOIN linreg.models m "
        f"ON p.run_id = m.run_id WHERE m.model_name = '{model}' AND p.value = 0"))
    expected = sum(v == 0.0 for c in rec["path"]["coefficients"] for v in c.values())
    assert zeros == [(expected,)] and expected >= len(rec["features"])  # lambda_max: all 0

    # the README's "Choosing λ" HiveQL, for this model
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    examples = re.findall(r"```hql\n(.*?)```", readme, re.S)
    assert examples
    for sql in examples:
        rows = _hive(cluster_info, sql.replace("'houses'", f"'{model}'"))
        assert [r[2] for r in rows] == rec["cv"]["mean_mse"], sql

    # HBase: one snapshot per path point, the fold factors in the run's context
    from mrlinreg.config import load_config
    from mrlinreg.storage.factory import open_snapshot_store

    with open_snapshot_store(load_config(env=env)) as snaps:
        hist = snaps.history(model, run_id=rec["run_id"])
        run = snaps.get_run(model, rec["run_id"])
    assert [s.iteration for s in hist] == list(range(1, N_PATH + 1))
    p1 = len(rec["features"]) + 2
    assert run["ctx.fold_R"].shape == (K, p1, p1)
    assert run["ctx.fold_n"].tolist() == rec["cv"]["fold_rows"]
    assert json.loads(run["run.fingerprint"])["cv_folds"] == K


def test_fista_on_yarn_equals_sklearn(hadoop_cluster, webhdfs, tag, tmp_path):
    """``--solver cd --strategy passes``: FISTA, a YARN application per iteration.  The
    orthogonal factorial design makes the first step exact: three passes in all."""
    from tests.functional.test_fista_job import _factorial, sklearn_enet

    X, y = _factorial([1, -2, 0, 4])
    write_csv(str(tmp_path / "f.csv"), X, y)
    base = f"/tmp/mrlinreg-it/enet_fista_{tag}"
    webhdfs.makedirs(base)
    webhdfs.upload(f"{base}/f.csv", str(tmp_path / "f.csv"), overwrite=True)
    try:
        env = dict(os.environ, **hadoop_cluster)
        env.update(MRLINREG_STATE_DIR=str(tmp_path / "state"))
        p = subprocess.run([sys.executable, LINREG, "-r", "hadoop", "--strategy", "passes",
                            "--l1", "0.2", "--tol", "1e-8", "--quiet", "--model-name",
                            f"enet_fista_{tag}", f"hdfs://{base}/f.csv"],
                           capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    finally:
        webhdfs.delete(base, recursive=True)
    assert p.returncode == 0, p.stderr[-4000:]
    rec = json.loads(p.stdout)
    coef, intercept, z_coef = sklearn_enet(X, y, 0.2, 0.0)
    np.testing.assert_allclose([rec["coefficients"][f] for f in rec["features"]], coef,
                               rtol=1e-6, atol=1e-6)
    assert rec["intercept"] == pytest.approx(intercept, rel=1e-6, abs=1e-6)
    assert rec["selected_features"] == [f"x{j}" for j in np.flatnonzero(z_coef)]
    assert rec["strategy"] == "passes" and rec["passes"] == rec["iterations"] + 2
