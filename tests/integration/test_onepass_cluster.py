"""Issue 10 on the real cluster: a default fit, with and without ``--summary``, is ONE
YARN application, and matches numpy.

Applications are counted with the ResourceManager's REST API
(``/ws/v1/cluster/apps``), filtered by a YARN application tag that the runs carry
(``mapreduce.job.tags``), by user and by start time, so other users' jobs on the shared
cluster are not counted."""

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid

import numpy as np
import pytest

from mrlinreg.datagen import make_regression, write_csv
from tests.functional.helpers import LINREG, ROOT, coef_vector, lstsq_reference

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tag():
    return f"onepass-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def data(webhdfs, tmp_path_factory, tag):
    X, y, _, _ = make_regression(4000, 5, noise=0.3, seed=61, scales=[1, 10, 100, 0.1, 1e3])
    X = X + [3, -1, 50, 0, 1e4]
    d = tmp_path_factory.mktemp("onepass-it")
    base = f"/tmp/mrlinreg-it/{tag}"
    webhdfs.makedirs(base + "/train")
    for i, (Xb, yb) in enumerate(zip(np.array_split(X, 3), np.array_split(y, 3))):
        local = d / f"part-{i:05d}.csv"
        write_csv(str(local), Xb, yb)
        webhdfs.upload(f"{base}/train/part-{i:05d}.csv", str(local), overwrite=True)
    yield f"hdfs://{base}/train", X, y
    webhdfs.delete(base, recursive=True)


@pytest.fixture()
def env(hadoop_cluster, cluster_info, zookeeper_hosts, hbase_endpoint, tmp_path):
    """Cluster mode: the run's lock in ZooKeeper, its snapshots in HBase."""
    return dict(os.environ, **hadoop_cluster, MRLINREG_MODE="cluster",
                MRLINREG_STATE_DIR=str(tmp_path / "state"),
                MRLINREG_HIVE_HOST=cluster_info.hive_host,
                MRLINREG_HIVE_PORT=str(cluster_info.hive_port),
                MRLINREG_HBASE_HOST=cluster_info.hbase_host,
                MRLINREG_HBASE_PORT=str(cluster_info.hbase_port),
                MRLINREG_ZOOKEEPER_HOSTS=cluster_info.zookeeper_hosts)


def _apps(yarn_url, tag, since_ms):
    """Applications tagged ``tag`` started since ``since_ms`` (ms since the epoch)."""
    url = (f"{yarn_url}/ws/v1/cluster/apps?applicationTags={tag}"
           f"&startedTimeBegin={since_ms}")
    with urllib.request.urlopen(url, timeout=30) as response:
        apps = (json.load(response).get("apps") or {}).get("app") or []
    return [a for a in apps if tag in a.get("applicationTags", "").split(",")]


def _fit(args, env, yarn_url, tag):
    since = int(time.time() * 1000) - 1000
    run_tag = f"{tag}-{uuid.uuid4().hex[:6]}"
    p = subprocess.run([sys.executable, LINREG, "-r", "hadoop", "--jobconf",
                        f"mapreduce.job.tags={run_tag}", *args],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    assert p.returncode == 0, p.stderr[-4000:]
    apps = _apps(yarn_url, run_tag, since)
    return json.loads(p.stdout), apps


@pytest.mark.parametrize("extra", [[], ["--summary"]])
def test_a_default_fit_is_one_yarn_application(data, env, cluster_info, tag, extra):
    path, X, y = data
    rec, apps = _fit(["--model-name", f"{tag.replace('-', '_')}_{len(extra)}", "--tol", "1e-12",
                      *extra, path], env, cluster_info.yarn_url, tag)
    user = os.environ.get("USER") or os.environ.get("LOGNAME")
    assert len(apps) == 1, [(a["id"], a["name"], a["user"]) for a in apps]
    assert apps[0]["finalStatus"] == "SUCCEEDED" and (user is None or apps[0]["user"] == user)
    assert rec["solver"] == "gd" and rec["strategy"] == "stats" and rec["passes"] == 1
    assert rec["n_rows"] == len(y)
    coef, intercept = lstsq_reference(X, y)
    np.testing.assert_allclose(coef_vector(rec), coef, rtol=1e-9)
    assert rec["intercept"] == pytest.approx(intercept, rel=1e-9)
    if extra:
        s = rec["summary"]
        X1 = np.column_stack([X, np.ones(len(y))])
        resid = y - X1 @ np.append(coef, intercept)
        sigma2 = resid @ resid / (len(y) - X1.shape[1])
        bse = np.sqrt(sigma2 * np.diag(np.linalg.inv(X1.T @ X1)))
        np.testing.assert_allclose(s["bse"], bse, rtol=1e-7)
        assert s["mae"] is None and "not measured" in s["mae_source"]
