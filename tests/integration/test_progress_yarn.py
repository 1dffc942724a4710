"""Issue 10 on the real cluster: jobs named ``mrlinreg <model> <pass>`` in YARN, progress
lines with the application id while they run, and mrjob's HDFS calls over WebHDFS."""

import json
import os
import re
import subprocess
import sys
import urllib.request
import uuid

import numpy as np
import pytest

from mrlinreg.datagen import write_csv
from tests.functional.helpers import LINREG, ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tag():
    return "wtspeed_" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def hdfs_csv(webhdfs, tmp_path_factory, tag):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((20_000, 3))
    local = tmp_path_factory.mktemp("yarn-progress") / "d.csv"
    write_csv(str(local), X, X @ [1.0, -2.0, 0.5] + 3.0)
    base = f"/tmp/mrlinreg-it/{tag}"
    webhdfs.makedirs(base)
    webhdfs.upload(f"{base}/d.csv", str(local), overwrite=True)
    yield f"hdfs://{base}/d.csv", X
    webhdfs.delete(base, recursive=True)


def _logging_hadoop(tmp_path, real):
    """A ``hadoop`` that logs its subcommand, then runs the real one."""
    log = tmp_path / "hadoop-calls"
    wrapper = tmp_path / "hadoop"
    wrapper.write_text(f'#!/bin/sh\necho "$1" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper), log


def test_yarn_job_names_and_progress_lines(hdfs_csv, hadoop_cluster, cluster_info, tag,
                                           webhdfs, tmp_path):
    path, X = hdfs_csv
    env = dict(os.environ, **hadoop_cluster)
    hadoop, calls = _logging_hadoop(tmp_path, os.path.join(env["HADOOP_HOME"], "bin", "hadoop"))
    p = subprocess.run([sys.executable, LINREG, "-r", "hadoop", "--hadoop-bin", hadoop,
                        "--model-name", tag, "--solver", "qr", path], capture_output=True,
                       text=True, env=env, cwd=ROOT, timeout=1800)
    assert p.returncode == 0, p.stderr[-3000:]
    # the only JVMs: one `hadoop jar` per pass (no `hadoop version`, no `hadoop fs`)
    assert calls.read_text().split() == ["jar"]
    # what the tasks ran came from the content-addressed cache in HDFS
    from mrlinreg.driver.passes import build_package_zip
    from mrlinreg.driver.shipping import file_sha256

    cached = webhdfs.list(f"/user/{cluster_info.hdfs_user}/mrlinreg/cache")
    assert f"{file_sha256(build_package_zip(str(tmp_path)))}-mrlinreg.zip" in cached
    record = json.loads(p.stdout)
    assert record["n_rows"] == len(X)
    assert record["intercept"] == pytest.approx(3.0, abs=1e-9)

    with urllib.request.urlopen(f"{cluster_info.yarn_url}/ws/v1/cluster/apps") as r:
        apps = json.load(r)["apps"]["app"]
    mine = {a["id"]: a["name"] for a in apps if tag in a["name"]}
    assert len(mine) == record["passes"], mine  # one YARN application per pass
    assert all(re.fullmatch(rf"mrlinreg {tag} [a-z_]+", n) for n in mine.values()), mine

    progress = [line for line in p.stderr.splitlines() if line.startswith("pass ")]
    for app_id in mine:  # every job's application id and tracking URL were shown
        assert any(f"[{app_id} http" in line and "/proxy/" + app_id in line
                   for line in progress), (app_id, progress[-5:])
    assert any("map " in line and "% reduce " in line for line in progress)


def test_mrjob_hdfs_calls_go_over_webhdfs(webhdfs, hadoop_cluster, tag, monkeypatch):
    for k, v in hadoop_cluster.items():
        monkeypatch.setenv(k, v)
    from mrlinreg.driver.runners import WebHDFSHadoopRunner, make_runner
    from mrlinreg.jobs.linreg_pass import MRLinRegPass

    base = f"hdfs:///tmp/mrlinreg-it/{tag}-fs"
    with make_runner(MRLinRegPass(["-r", "hadoop", base])) as runner:
        assert isinstance(runner, WebHDFSHadoopRunner)
        fs = runner.fs
        assert fs._fs_names[0] == "webhdfs"
        fs.mkdir(f"{base}/a/b")
        fs.put(LINREG, f"{base}/a/b/linreg.py")
        assert list(fs.ls(f"{base}/*/b")) == [f"hdfs://{base[len('hdfs://'):]}/a/b/linreg.py"]
        assert b"".join(fs.cat(f"{base}/a/b/linreg.py")) == open(LINREG, "rb").read()
        assert fs.exists(f"{base}/a") and not fs.exists(f"{base}/nope")
        fs.rm(base)
        assert not fs.exists(base)
        assert "webhdfs" not in fs._disabled  # nothing fell back to `hadoop fs`
