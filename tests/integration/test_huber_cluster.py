"""``--loss huber`` on YARN: the OLS pass, delta's sketch pass and the IRLS passes as YARN
jobs; the fit against scipy, δ against numpy; δ and the loss in Hive (read back with HiveQL,
into a database whose ``training_history`` predates ``val_loss``: the publish adds the column
in place); a snapshot per IRLS iteration in HBase."""

import json
import os
import subprocess
import sys
import uuid
from dataclasses import replace

import numpy as np
import pytest

from mrlinreg.datagen import write_csv
from tests.functional.helpers import LINREG, ROOT, run_inline
from tests.functional.test_huber import contaminated, ols_delta, scipy_huber

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tag():
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    X, y = contaminated(n=1200, seed=5, n_out=80)
    d = tmp_path_factory.mktemp("huber-it") / "train"
    d.mkdir()
    write_csv(str(d / "part-00000.csv"), X[:700], y[:700])
    write_csv(str(d / "part-00001.csv"), X[700:], y[700:])
    return d, X, y


@pytest.fixture(scope="module")
def hdfs_parts(webhdfs, parts, tag):
    folder, _, _ = parts
    base = f"/tmp/mrlinreg-it/huber_{tag}"
    webhdfs.makedirs(base + "/train")
    for name in ("part-00000.csv", "part-00001.csv"):
        webhdfs.upload(f"{base}/train/{name}", str(folder / name), overwrite=True)
    yield base
    webhdfs.delete(base, recursive=True)


def _hive(cluster_info, *statements):
    """Run statements; the rows of the last one (None for a statement without rows)."""
    from pyhive import hive

    conn = hive.connect(host=cluster_info.hive_host, port=cluster_info.hive_port,
                        username="mrlinreg")
    try:
        cur = conn.cursor()
        rows = None
        for sql in statements:
            cur.execute(sql)
            rows = cur.fetchall() if cur.description else None
        return rows
    finally:
        conn.close()


def test_huber_on_yarn_published_to_hive_and_hbase(hadoop_cluster, cluster_info, hdfs_parts,
                                                   parts, tag, tmp_path):
    from mrlinreg.schema import create_database_ddl, create_table_ddl, load_warehouse

    folder, X, y = parts
    database = f"huber_{tag}"
    # a training_history table as an earlier mrlinreg made it (no val_loss column)
    wh = load_warehouse()
    history = wh.table("training_history")
    old = replace(history, columns=tuple(c for c in history.columns if c.name != "val_loss"))
    _hive(cluster_info, create_database_ddl(database), create_table_ddl(wh, old, database))

    env = dict(os.environ, **hadoop_cluster)
    env.update(MRLINREG_MODE="cluster", MRLINREG_STATE_DIR=str(tmp_path / "state"),
               MRLINREG_HIVE_HOST=cluster_info.hive_host,
               MRLINREG_HIVE_PORT=str(cluster_info.hive_port),
               MRLINREG_HIVE_DATABASE=database,
               MRLINREG_HBASE_HOST=cluster_info.hbase_host,
               MRLINREG_HBASE_PORT=str(cluster_info.hbase_port),
               MRLINREG_ZOOKEEPER_HOSTS=cluster_info.zookeeper_hosts)
    model = f"huber_{tag}"
    opts = ["--loss", "huber", "--tol", "1e-7", "--quiet"]  # 4 iterations, 3e-8 from scipy
    try:
        p = subprocess.run([sys.executable, LINREG, "-r", "hadoop", *opts, "--publish",
                            "--model-name", model, f"hdfs://{hdfs_parts}/train"],
                           capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
        assert p.returncode == 0, p.stderr[-4000:]
        rec = json.loads(p.stdout)
        h = rec["huber"]
        assert rec["n_rows"] == 1200 and rec["solver"] == "irls" and rec["converged"]
        assert rec["passes"] == 2 + rec["iterations"] + 1 and h["delta_passes"] == 1
        # the numbers: δ as numpy's, the fit as scipy's, and as the inline runner's
        assert h["delta"] == pytest.approx(ols_delta(X, y), rel=1e-12)
        ours = np.append([rec["coefficients"][f] for f in rec["features"]], rec["intercept"])
        np.testing.assert_allclose(ours, scipy_huber(X, y, h["delta"]), rtol=1e-6, atol=1e-6)
        code, inline, err = run_inline([*opts, "--model-name", f"huber_inline_{tag}",
                                        str(folder)])
        assert code == 0, err
        assert rec["iterations"] == inline["iterations"]
        np.testing.assert_allclose(ours, np.append(
            [inline["coefficients"][f] for f in inline["features"]], inline["intercept"]),
            rtol=1e-9)

        # Hive: the loss in the options, δ in the metrics, the history (val_loss added)
        db = f"`{database}`"
        (options,), = _hive(cluster_info, f"SELECT options FROM {db}.models "
                                          f"WHERE model_name = '{model}'")
        assert json.loads(options)["loss"] == "huber"
        metrics = dict(_hive(cluster_info, (
            f"SELECT x.name, x.value FROM {db}.metrics x JOIN {db}.models m "
            f"ON x.run_id = m.run_id WHERE m.model_name = '{model}' "
            "AND x.name LIKE 'huber.%'")))
        assert metrics["huber.delta"] == h["delta"] and metrics["huber.scale"] == h["scale"]
        columns = [r[0].strip() for r in _hive(cluster_info,
                                               f"DESCRIBE {db}.training_history")]
        assert "val_loss" in columns
        rows = _hive(cluster_info, (
            f"SELECT t.iteration, t.loss, t.val_loss FROM {db}.training_history t "
            f"JOIN {db}.models m ON t.run_id = m.run_id WHERE m.model_name = '{model}' "
            "ORDER BY t.iteration"))
        assert [r[0] for r in rows] == [e["iteration"] for e in rec["history"]]
        assert [r[1] for r in rows] == [e["loss"] for e in rec["history"]]
        assert {r[2] for r in rows} == {None}

        # HBase: one snapshot per IRLS iteration (0 included), δ in the solver state
        from mrlinreg.config import load_config
        from mrlinreg.storage.factory import open_snapshot_store

        with open_snapshot_store(load_config(env=env)) as snaps:
            hist = snaps.history(model, run_id=rec["run_id"])
        assert [s.iteration for s in hist] == list(range(0, rec["iterations"] + 1))
        assert hist[-1].solver_state["solver.delta"] == h["delta"]
        assert hist[-1].loss == rec["objective"]
    finally:
        _hive(cluster_info, f"DROP DATABASE IF EXISTS `{database}` CASCADE")
        from mrlinreg.config import load_config
        from mrlinreg.storage.warehouse_files import WebHdfsFiles

        config = load_config(env=env)
        WebHdfsFiles(config.hdfs.url, config.hdfs.user).delete(
            f"{config.hive.warehouse_dir}/{database}.db")
