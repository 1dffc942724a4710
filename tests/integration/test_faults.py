"""Faults on the real cluster (issue 9): a stopped driver stops its YARN application, a
changed hdfs:// input is not resumed, HiveServer2 stopped during publish loses nothing
and publishes nothing twice, a killed map task attempt is retried to the same model.

Disruptive tests stop a service and start it again in a ``finally`` (waiting until it
answers), so the cluster is whole for the tests after them.  By hand, run this file
under ``flock -x /work/cluster.lock``.
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid

import numpy as np
import pytest

from mrlinreg.cluster import control
from mrlinreg.datagen import make_regression, write_csv
from tests.functional.helpers import LINREG, ROOT

pytestmark = pytest.mark.integration

PUBLISH = os.path.join(ROOT, "pipelines", "publish.py")


@pytest.fixture(scope="module")
def tag():
    return "faults" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    X, y, _, _ = make_regression(3000, 4, noise=0.3, seed=43, scales=[1, 10, 100, 0.1])
    d = tmp_path_factory.mktemp("faults-data")
    write_csv(str(d / "part-00000.csv"), X[:1500], y[:1500])
    write_csv(str(d / "part-00001.csv"), X[1500:], y[1500:])
    return d


@pytest.fixture(scope="module")
def hdfs_folder(webhdfs, data, tag):
    base = f"/tmp/mrlinreg-it/{tag}"
    webhdfs.makedirs(base + "/train")
    for name in ("part-00000.csv", "part-00001.csv"):
        webhdfs.upload(f"{base}/train/{name}", str(data / name), overwrite=True)
    yield base
    webhdfs.delete(base, recursive=True)


@pytest.fixture()
def env(hadoop_cluster, cluster_info, tmp_path):
    out = dict(os.environ, **hadoop_cluster)
    out.update(MRLINREG_MODE="cluster", MRLINREG_STATE_DIR=str(tmp_path / "state"),
               MRLINREG_HIVE_HOST=cluster_info.hive_host,
               MRLINREG_HIVE_PORT=str(cluster_info.hive_port),
               MRLINREG_HBASE_HOST=cluster_info.hbase_host,
               MRLINREG_HBASE_PORT=str(cluster_info.hbase_port),
               MRLINREG_ZOOKEEPER_HOSTS=cluster_info.zookeeper_hosts,
               MRLINREG_CLUSTER_YARN_URL=cluster_info.yarn_url)
    return out


def _run(args, env, script=LINREG, timeout=900):
    p = subprocess.run([sys.executable, script, *args], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def _rm_apps(yarn_url, prefix):
    """``{id: state}`` of the YARN applications with a tag starting with ``prefix``."""
    with urllib.request.urlopen(f"{yarn_url}/ws/v1/cluster/apps", timeout=10) as r:
        apps = (json.load(r).get("apps") or {}).get("app") or []
    return {a["id"]: a["state"] for a in apps
            if any(t.startswith(prefix) for t in (a.get("applicationTags") or "").split(","))}


def _kill_apps(yarn_url, prefix):
    from mrlinreg.driver.interrupt import ACTIVE_STATES, _http

    for app_id, state in _rm_apps(yarn_url, prefix).items():
        if state in ACTIVE_STATES.split(","):
            _http("PUT", f"{yarn_url}/ws/v1/cluster/apps/{app_id}/state?user.name=root",
                  {"state": "KILLED"})


def _zk_lock_holders(hosts, model):
    from kazoo.client import KazooClient

    zk = KazooClient(hosts=hosts, timeout=10)
    zk.start(timeout=10)
    try:
        path = f"/mrlinreg/locks/{model}"
        return zk.get_children(path) if zk.exists(path) else []
    finally:
        zk.stop()
        zk.close()


# --- SIGTERM of a -r hadoop driver -----------------------------------------------------

def test_sigterm_of_a_hadoop_driver_kills_its_yarn_application(hdfs_folder, env, cluster_info,
                                                              tag):
    model = f"{tag}_sig"
    proc = subprocess.Popen([sys.executable, LINREG, "-r", "hadoop", "--model-name", model,
                             "--strategy", "passes", "--no-standardize", "--max-iter", "50",
                             f"hdfs://{hdfs_folder}/train"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    prefix = f"mrlinreg-{proc.pid}-"
    try:
        # a busy YARN may keep it ACCEPTED (waiting for containers): submitted is enough
        deadline, running = time.monotonic() + 900, {}
        while time.monotonic() < deadline and proc.poll() is None:
            running = {i: s for i, s in _rm_apps(cluster_info.yarn_url, prefix).items()
                       if s in ("ACCEPTED", "RUNNING")}
            if running:
                break
            time.sleep(0.5)
        assert running, f"no YARN application of the driver ran (status {proc.poll()})"
        time.sleep(2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        _kill_apps(cluster_info.yarn_url, prefix)  # never leave one behind
    assert proc.returncode == 143, err
    assert "Traceback" not in err, err
    assert "error: interrupted by SIGTERM: stopped" in err
    deadline = time.monotonic() + 30
    states = _rm_apps(cluster_info.yarn_url, prefix)
    while time.monotonic() < deadline and any(states[i] != "KILLED" for i in running):
        time.sleep(1)
        states = _rm_apps(cluster_info.yarn_url, prefix)
    assert all(states[i] == "KILLED" for i in running), states
    assert not [s for s in states.values() if s in ("NEW", "SUBMITTED", "ACCEPTED", "RUNNING")]
    assert _zk_lock_holders(cluster_info.zookeeper_hosts, model) == []  # released at once


# --- a changed hdfs:// input is not resumed --------------------------------------------

def test_resume_refuses_a_changed_hdfs_input(webhdfs, data, cluster_info, tmp_path, tag):
    from hdfs import InsecureClient

    from mrlinreg.driver.lifecycle import SnapshotWriter, input_stamps, load_resume
    from mrlinreg.errors import ResumeError
    from mrlinreg.fs import FileSystem
    from mrlinreg.numerics.solvers import Step
    from mrlinreg.records import DataContext, SolverState
    from mrlinreg.storage.local_snapshots import LocalSnapshotStore

    base = f"/tmp/mrlinreg-it/{tag}-stamps"
    webhdfs.makedirs(base)
    try:
        for name in ("part-00000.csv", "part-00001.csv"):
            webhdfs.upload(f"{base}/{name}", str(data / name), overwrite=True)
        uri = f"{cluster_info.default_fs}{base}"

        def stamps():
            fs = FileSystem(webhdfs=InsecureClient(cluster_info.webhdfs_url,
                                                   user=cluster_info.hdfs_user))
            fs.list_inputs(uri)  # the listing the driver makes, which records the stamps
            return input_stamps([uri], fs)

        first = stamps()
        assert sorted(first) == [f"{uri}/part-00000.csv", f"{uri}/part-00001.csv"]
        assert all(size > 0 and mtime > 0 for size, mtime in first.values())
        store = LocalSnapshotStore(tmp_path / "snaps")
        ctx = DataContext(10, np.zeros(2), np.ones(2), {}, np.zeros(1), np.ones(1), "passes",
                          None)
        writer = SnapshotWriter(store, "m", "run1", {"a": 1}, stamps=first)
        writer(Step(1, 1.0, 1.0, 1.0, 1), SolverState("gd", np.zeros(2), 1.0, np.zeros(2),
                                                      None, 1), ctx, None)
        assert load_resume(store, "m", {"a": 1}, stamps()).run_id == "run1"  # unchanged

        with webhdfs.write(f"{base}/part-00001.csv", append=True) as f:
            f.write(b"1,2,3,4,5\n")
        with pytest.raises(ResumeError) as e:
            load_resume(store, "m", {"a": 1}, stamps())
        assert "the input changed since the run started" in str(e.value)
        assert "part-00001.csv (size or modification time differs)" in str(e.value)
        assert "part-00000.csv" not in str(e.value)

        webhdfs.upload(f"{base}/part-00002.csv", str(data / "part-00000.csv"))
        with pytest.raises(ResumeError) as e:
            load_resume(store, "m", {"a": 1}, stamps())
        assert "part-00002.csv (new)" in str(e.value)
    finally:
        webhdfs.delete(base, recursive=True)


# --- HiveServer2 stopped during publish --------------------------------------------------

def _models_rows(cluster_info, run_id):
    from pyhive import hive

    conn = hive.connect(host=cluster_info.hive_host, port=cluster_info.hive_port,
                        username="mrlinreg")
    try:
        cur = conn.cursor()
        cur.execute(f"SELECT run_id FROM linreg.models WHERE run_id = '{run_id}'")
        models = cur.fetchall()
        cur.execute(f"SELECT feature FROM linreg.coefficients WHERE run_id = '{run_id}'")
        coefficients = cur.fetchall()
        return len(models), len(coefficients)
    finally:
        conn.close()


def test_hiveserver2_stopped_during_publish(data, env, cluster_info, tag, tmp_path):
    """Both outcomes in one outage: a run whose retries outlast it is published by them;
    a run whose retries give up first goes to the outbox (model printed, exit 1) and
    ``mrlinreg publish`` publishes it once Hive is back.  Each run's rows exist once."""
    train = ["--solver", "qr", "--publish", str(data / "part-00000.csv")]
    short = dict(env, MRLINREG_RETRY_ATTEMPTS="2", MRLINREG_RETRY_BASE_DELAY_S="0.2",
                 MRLINREG_RETRY_MAX_DELAY_S="0.2")
    # about 4 minutes of retries: HiveServer2 comes back well within them
    long_env = dict(env, MRLINREG_RETRY_ATTEMPTS="60", MRLINREG_RETRY_BASE_DELAY_S="1",
                    MRLINREG_RETRY_MAX_DELAY_S="4")
    patient = None
    try:
        control.stop("hiveserver2")
        code, out, err = _run(["--model-name", f"{tag}_outbox", *train], short, timeout=300)
        assert code == 1, err
        lost = json.loads(out)  # the model is printed all the same
        assert "was not published" in err and "mrlinreg publish" in err
        outbox = tmp_path / "state" / "outbox" / f"{lost['run_id']}.json"
        assert outbox.exists()

        patient = subprocess.Popen([sys.executable, LINREG, "--model-name", f"{tag}_retry",
                                    *train], cwd=ROOT, env=long_env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        seen = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = patient.stderr.readline()
            seen.append(line)
            if "unreachable" in line or (not line and patient.poll() is not None):
                break
        assert any("unreachable" in x and "retry" in x for x in seen), "".join(seen)
    finally:
        control.start("hiveserver2")
    out, err = patient.communicate(timeout=400)
    assert patient.returncode == 0, "".join(seen) + err
    retried = json.loads(out)
    assert "published run" in err
    assert _models_rows(cluster_info, retried["run_id"]) == (1, 4)

    assert _models_rows(cluster_info, lost["run_id"]) == (0, 0)  # not yet
    code, out, err = _run([], env, script=PUBLISH, timeout=300)
    assert code == 0, err
    assert f"published {lost['run_id']}" in out
    assert not outbox.exists()
    code, out, err = _run([], env, script=PUBLISH, timeout=300)
    assert code == 0 and "nothing to publish" in out
    assert _models_rows(cluster_info, lost["run_id"]) == (1, 4)  # once, not twice
    assert _models_rows(cluster_info, retried["run_id"]) == (1, 4)


# --- one map task attempt killed on YARN -------------------------------------------------

def _map_attempt_processes(app_id):
    """pids of the YarnChild JVMs running map attempts of ``app_id``."""
    job = app_id.replace("application_", "attempt_")
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if "YarnChild" in cmd and f"{job}_m_" in cmd:
            found.append(int(pid))
    return found


def test_killed_map_attempt_is_retried_to_the_same_model(hdfs_folder, env, cluster_info, tag):
    args = ["-r", "hadoop", "--solver", "qr", "--model-name", f"{tag}_task",
            f"hdfs://{hdfs_folder}/train"]
    code, out, err = _run(args, env)
    assert code == 0, err
    reference = json.loads(out)

    proc = subprocess.Popen([sys.executable, LINREG, *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    prefix = f"mrlinreg-{proc.pid}-"
    killed = None
    try:
        deadline = time.monotonic() + 900
        while killed is None and time.monotonic() < deadline and proc.poll() is None:
            for app_id, state in _rm_apps(cluster_info.yarn_url, prefix).items():
                if state == "RUNNING":
                    pids = _map_attempt_processes(app_id)
                    if pids:
                        os.kill(pids[0], signal.SIGKILL)
                        killed = pids[0]
                        break
            time.sleep(0.2)
        assert killed, "no map attempt of the driver's jobs was seen running"
        out, err = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        _kill_apps(cluster_info.yarn_url, prefix)
    assert proc.returncode == 0, err
    model = json.loads(out)
    for key in ("coefficients", "intercept", "loss", "n_rows", "working_weights"):
        assert model[key] == reference[key], key  # bit for bit: == on the parsed doubles
