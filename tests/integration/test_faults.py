"""Faults on the real cluster (issue 9).

* a stopped driver stops its YARN application; a changed hdfs:// input is not resumed;
* HiveServer2 stopped during publish: published by the retries, or by the outbox and
  ``mrlinreg publish``, each run exactly once;
* a map task attempt killed on YARN: retried, the model is the undisturbed one bit for bit;
* the HBase region server stopped mid-training: training goes on, snapshots resume, the
  record lists the missing ones, a resume after a later kill gives the undisturbed model;
* ZooKeeper restarted under a running trainer: it stops by itself (exit 1) before its lock
  can pass to another, and the next trainer resumes its run to the undisturbed model.

The tests that stop a service start it again (and wait until it answers) on every way
out; the shared cluster is used under ``flock -x /work/cluster.lock`` while they run.
"""

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

import numpy as np
import pytest

from mrlinreg.datagen import make_regression, write_csv
from tests.functional.helpers import LINREG, ROOT

pytestmark = pytest.mark.integration


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


# --- helpers for the service faults --------------------------------------------------

SLOW_GD = ["--solver", "gd", "--strategy", "passes", "--no-standardize", "--tol", "1e-14"]


class Trainer:
    """A background ``jobs/linreg.py`` whose stderr lines are read by a thread, so that
    waiting for one is bounded (a loaded machine may keep it silent for long)."""

    def __init__(self, args, env):
        self.proc = subprocess.Popen([sys.executable, LINREG, *args], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines, self._queue = [], queue.Queue()
        self._out = []
        threading.Thread(target=self._pump, args=(self.proc.stderr, self._queue),
                         daemon=True).start()
        threading.Thread(target=lambda: self._out.append(self.proc.stdout.read()),
                         daemon=True).start()

    @staticmethod
    def _pump(stream, q):
        for line in stream:
            q.put(line)
        q.put(None)

    def wait_for(self, pattern, timeout):
        """The first new stderr line matching ``pattern`` (a regex); fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line like {pattern!r} after {timeout} s:\n"
                                     + "".join(self.lines[-40:]))
            try:
                line = self._queue.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if line is None:
                self._queue.put(None)
                raise AssertionError(f"trainer exited ({self.proc.wait()}) before a line "
                                     f"like {pattern!r}:\n" + "".join(self.lines[-40:]))
            self.lines.append(line)
            if re.search(pattern, line):
                return line

    def finish(self, timeout):
        code = self.proc.wait(timeout=timeout)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=1.0)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
        while not self._out and time.monotonic() < deadline:
            time.sleep(0.05)
        return code, (self._out[0] if self._out else ""), "".join(self.lines)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=60)


def _last_iteration(lines):
    found = [int(m.group(1)) for m in (re.match(r"iter\s+(\d+)", x) for x in lines) if m]
    return found[-1] if found else None


def _restore(name, *dependents):
    """Start ``name`` again if it is not running, and wait until it and the services that
    depend on it (``dependents``: the HBase Thrift server needs hbase:meta back) answer."""
    from mrlinreg.cluster import control

    control.start(name, timeout=900)  # a loaded machine starts a JVM service slowly
    for other in dependents:
        control.wait_until_answers(other, timeout=600)
    assert control.answers(name), f"{name} does not answer after the test"


def _reference(args, env, tmp_path, name):
    """The undisturbed model: the same options in local mode (inline runner, files)."""
    local = dict(env, MRLINREG_MODE="local", MRLINREG_STATE_DIR=str(tmp_path / f"ref-{name}"))
    code, out, err = _run(["--model-name", name, *args], local, timeout=600)
    assert code == 0, err
    return json.loads(out)


def _same_model(model, reference):
    for key in ("coefficients", "intercept", "loss", "n_rows", "working_weights",
                "iterations"):
        assert model[key] == reference[key], key  # bit for bit: == on the parsed doubles


# --- HiveServer2 stopped during publish ----------------------------------------------

def _hive_counts(cluster_info, run_id):
    """``(rows of models, rows of coefficients)`` of ``run_id``, counted with HiveQL."""
    from pyhive import hive

    assert re.fullmatch(r"[0-9A-Za-z-]+", run_id)
    conn = hive.connect(host=cluster_info.hive_host, port=cluster_info.hive_port,
                        username="mrlinreg")
    try:
        cur = conn.cursor()
        cur.execute(f"SELECT COUNT(*) FROM linreg.models WHERE run_id = '{run_id}'")
        (models,), = cur.fetchall()
        cur.execute(f"SELECT COUNT(*) FROM linreg.coefficients WHERE run_id = '{run_id}'")
        (coefficients,), = cur.fetchall()
        return int(models), int(coefficients)
    finally:
        conn.close()


def test_hiveserver2_stopped_during_publish(data, env, cluster_info, tag, tmp_path):
    """Both outcomes in one outage: a run whose retries give up first goes to the outbox
    (model printed, exit 1) and ``mrlinreg publish`` publishes it once Hive is back; a
    run whose retries outlast the outage is published by them.  Each run's rows exist
    once (4 features and the intercept: 5 coefficient rows)."""
    from mrlinreg.cluster import control

    train = ["--solver", "qr", "--publish", str(data / "part-00000.csv")]
    short = dict(env, MRLINREG_RETRY_ATTEMPTS="2", MRLINREG_RETRY_BASE_DELAY_S="0.2",
                 MRLINREG_RETRY_MAX_DELAY_S="0.2")
    # up to about 15 minutes of retries: HiveServer2 comes back well within them
    patient_env = dict(env, MRLINREG_RETRY_ATTEMPTS="300", MRLINREG_RETRY_BASE_DELAY_S="1",
                       MRLINREG_RETRY_MAX_DELAY_S="3")
    patient = None
    try:
        assert control.stop("hiveserver2"), "HiveServer2 was not running"
        code, out, err = _run(["--model-name", f"{tag}_outbox", *train], short, timeout=600)
        assert code == 1, err
        lost = json.loads(out)  # the model is printed all the same
        assert "was not published" in err and "mrlinreg publish" in err
        assert "Traceback" not in err
        outbox = tmp_path / "state" / "outbox" / f"{lost['run_id']}.json"
        assert outbox.exists()

        patient = Trainer(["--model-name", f"{tag}_retry", *train], patient_env)
        patient.wait_for(r"Hive at .* unreachable .*retry", timeout=600)
    finally:
        _restore("hiveserver2")
    try:
        code, out, err = patient.finish(timeout=1200)
    finally:
        patient.kill()
    assert code == 0, err
    retried = json.loads(out)
    assert f"published run {retried['run_id']}" in err
    assert _hive_counts(cluster_info, retried["run_id"]) == (1, 5)

    assert _hive_counts(cluster_info, lost["run_id"]) == (0, 0)  # not yet
    publish = [sys.executable, "-m", "mrlinreg.cli.main", "publish"]
    p = subprocess.run(publish, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert p.returncode == 0, p.stderr
    assert f"published {lost['run_id']}" in p.stdout
    assert not outbox.exists()
    p = subprocess.run(publish, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert p.returncode == 0 and "nothing to publish" in p.stdout, p.stderr
    assert _hive_counts(cluster_info, lost["run_id"]) == (1, 5)  # once, not twice
    assert _hive_counts(cluster_info, retried["run_id"]) == (1, 5)


# --- one map task attempt killed on YARN ---------------------------------------------

def _map_task_processes(app_id):
    """pids of the Python mapper processes of ``app_id``'s map attempts: Hadoop streaming
    starts them in the attempt's container folder (``.../appcache/<app id>/container_*``)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().decode("utf-8", "replace").split("\0")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if f"/{app_id}/container_" in cwd and "--mapper" in cmd:
            found.append(int(pid))
    return found


@pytest.fixture(scope="module")
def task_reference(hadoop_cluster, hdfs_folder, cluster_info, tag, tmp_path_factory):
    env = dict(os.environ, **hadoop_cluster, MRLINREG_MODE="local",
               MRLINREG_STATE_DIR=str(tmp_path_factory.mktemp("task-ref")),
               MRLINREG_CLUSTER_YARN_URL=cluster_info.yarn_url)
    code, out, err = _run(["-r", "hadoop", "--solver", "qr", "--model-name", f"{tag}_taskref",
                           f"hdfs://{hdfs_folder}/train"], env)
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("uber", [True, False], ids=["uber", "containers"])
def test_killed_map_attempt_is_retried_to_the_same_model(hdfs_folder, env, cluster_info, tag,
                                                        task_reference, uber):
    """SIGKILL of the mapper process of a running map attempt.  As a normal job
    (``containers``), YARN runs the attempt again.  A small input runs as an uber job by
    default, where Hadoop gives each task one attempt, so the job fails and the driver runs
    the pass again as a normal job.  Either way the model is the undisturbed one, bit for bit."""
    args = ["-r", "hadoop", "--solver", "qr", "--model-name", f"{tag}_task{int(uber)}",
            f"hdfs://{hdfs_folder}/train"]
    if not uber:
        args[2:2] = ["--jobconf", "mapreduce.job.ubertask.enable=false"]
    trainer = Trainer(args, env)
    prefix = f"mrlinreg-{trainer.proc.pid}-"
    killed = None
    try:
        deadline = time.monotonic() + 900
        while killed is None and time.monotonic() < deadline and trainer.proc.poll() is None:
            for app_id, state in _rm_apps(cluster_info.yarn_url, prefix).items():
                pids = _map_task_processes(app_id) if state == "RUNNING" else []
                if pids:
                    os.kill(pids[0], signal.SIGKILL)
                    killed = app_id
                    break
            time.sleep(0.1)
        assert killed, "no map task of the driver's job was seen running"
        code, out, err = trainer.finish(timeout=900)
    finally:
        trainer.kill()
        _kill_apps(cluster_info.yarn_url, prefix)
    assert code == 0, err
    assert ("failed as an uber job" in err) == uber, err
    apps = _rm_apps(cluster_info.yarn_url, prefix)
    assert len(apps) == (2 if uber else 1), apps  # the uber job failed, the rerun succeeded
    _same_model(json.loads(out), task_reference)


# --- the HBase region server stopped mid-training ------------------------------------

def test_hbase_regionserver_stopped_mid_training(data, env, cluster_info, tag, tmp_path):
    """Training goes on while HBase cannot store snapshots (one warning, each iteration
    waits at most the snapshot timeout), snapshots resume once the region server is back,
    and after a later SIGKILL ``--resume`` continues from the newest snapshot: the model
    is the undisturbed one bit for bit and lists the iterations without a snapshot."""
    from mrlinreg.storage.hbase_snapshots import HBaseSnapshotStore

    model = f"{tag}_hbase"
    hb_env = dict(env, MRLINREG_HBASE_SNAPSHOT_TIMEOUT_S="2")
    args = [*SLOW_GD, str(data / "part-00000.csv")]
    from mrlinreg.cluster import control

    trainer = Trainer(["--model-name", model, *args, "--max-iter", "100000"], hb_env)
    try:
        trainer.wait_for(r"^iter\s+2\b", timeout=600)
        try:
            assert control.stop("hbase-regionserver"), "the region server was not running"
            stopped_at = time.monotonic()
            trainer.wait_for(r"could not be written", timeout=600)
            stalls, last = [], time.monotonic()
            for _ in range(3):  # an iteration waits for its snapshot a bounded time
                trainer.wait_for(r"^iter\s+\d+", timeout=300)
                stalls.append(time.monotonic() - last)
                last = time.monotonic()
        finally:
            _restore("hbase-regionserver", "hbase-thrift")
        outage_s = time.monotonic() - stopped_at
        trainer.wait_for(r"snapshots resumed at iteration", timeout=900)
        trainer.wait_for(r"^iter\s+\d+", timeout=300)
        trainer.kill()  # a later fault: SIGKILL
        code, _, first_err = trainer.finish(timeout=60)
    finally:
        trainer.kill()
    assert code == -signal.SIGKILL
    assert first_err.count("could not be written") == 1, first_err  # once, not per iteration
    assert "Traceback" not in first_err
    assert max(stalls) < 60, stalls  # seconds, not the HBase client's minutes
    seen = _last_iteration(first_err.splitlines())
    max_iter = seen + 3
    code, out, err = _run(["--model-name", model, *args, "--max-iter", str(max_iter),
                           "--resume"], hb_env, timeout=900)
    assert code == 0, err
    resumed = json.loads(out)
    assert "resuming run" in err
    missing = resumed["snapshots_missing"]
    assert missing and 3 <= missing[0] and missing[-1] < seen, missing
    _same_model(resumed, _reference(args + ["--max-iter", str(max_iter)], env, tmp_path,
                                    model))
    with HBaseSnapshotStore(cluster_info.hbase_host, cluster_info.hbase_port) as store:
        stored = {s.iteration for s in store.history(model, resumed["run_id"])}
    # every confirmed snapshot is there; a write that timed out may still have landed later
    # (the Thrift server goes on with it): "missing" means never confirmed
    assert stored >= set(range(max_iter + 1)) - set(missing) and max(stored) == max_iter
    print(f"region server outage {outage_s:.0f} s, {len(missing)} snapshots missing, "
          f"stalls {[round(x, 1) for x in stalls]} s")


# --- ZooKeeper restarted under a running trainer -------------------------------------

def test_zookeeper_restart_never_lets_a_second_trainer_run(data, env, cluster_info, tag,
                                                           tmp_path):
    """Trainer A holds the model's lock; ZooKeeper stops.  A stops by itself within half
    its session timeout (exit 1, "lost the lock"), before its session can expire and the
    lock pass on.  Once ZooKeeper is back, trainer B of the same model waits for the lock
    (A's restored session expires), resumes A's run, and ends with the undisturbed model.
    B never holds the lock while A runs."""
    from mrlinreg.cluster import control

    model = f"{tag}_zk"
    args = [*SLOW_GD, str(data / "part-00000.csv")]
    a = Trainer(["--model-name", model, *args, "--max-iter", "100000"], env)
    try:
        a.wait_for(r"^iter\s+2\b", timeout=600)
        assert len(_zk_lock_holders(cluster_info.zookeeper_hosts, model)) == 1
        try:
            assert control.stop("zookeeper"), "ZooKeeper was not running"
            stopped = time.monotonic()
            code, out, a_err = a.finish(timeout=120)
            a_ended = time.monotonic()
        finally:
            _restore("zookeeper", "hbase-thrift")
    finally:
        a.kill()
    assert code == 1, a_err
    assert out == ""
    assert "error: lost the lock of model" in a_err and "--resume" in a_err, a_err
    assert "Traceback" not in a_err
    assert a_ended - stopped < 60  # grace (5 s) plus stopping its pass, on a loaded machine
    seen = _last_iteration(a_err.splitlines())
    max_iter = seen + 3
    b = Trainer(["--model-name", model, *args, "--max-iter", str(max_iter), "--resume"], env)
    try:
        line = b.wait_for(r"resuming run", timeout=300)
        b_started = time.monotonic()
        code, out, b_err = b.finish(timeout=600)
    finally:
        b.kill()
    assert code == 0, b_err
    assert b_started > a_ended  # never two trainers of the model at once
    assert "after iteration" in line
    _same_model(json.loads(out), _reference(args + ["--max-iter", str(max_iter)], env,
                                            tmp_path, model))
    assert _zk_lock_holders(cluster_info.zookeeper_hosts, model) == []
