"""Issue 9: a SIGKILLed ``-r local`` driver leaves no task processes running."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from mrlinreg.datagen import write_csv
from tests.functional.helpers import LINREG, ROOT


def _run_processes(tmp, data):
    """The driver's pool workers (forked: the driver's command line, naming ``data``) and
    its task processes (working directories under ``tmp``)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            cwd = ""
        if (str(data) in cmd or cwd.startswith(str(tmp))) and int(pid) != os.getpid():
            found.append((int(pid), cmd))
    return found


def test_local_tasks_exit_soon_after_the_driver_is_killed(tmp_path):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((60000, 3))
    data = tmp_path / "d.csv"
    write_csv(str(data), X, X @ [1.0, 2.0, 3.0])
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp), MRLINREG_MODE="local",
               MRLINREG_STATE_DIR=str(tmp_path / "state"))
    # one row per block: a pass takes far longer than the 10 s allowed below
    proc = subprocess.Popen([sys.executable, LINREG, "-r", "local", "--num-cores", "2",
                             "--block-rows", "1", "--quiet", str(data)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
                "--mapper" in cmd for _, cmd in _run_processes(tmp, data)):
            time.sleep(0.2)
        assert any("--mapper" in cmd for _, cmd in _run_processes(tmp, data)), \
            "no task process started"
        time.sleep(1.0)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    left = _run_processes(tmp, data)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = _run_processes(tmp, data)
    for pid, _ in left:  # do not leave them behind even when the test fails
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert left == [], left


# --- SIGINT / SIGTERM: the driver stops its work, releases the lock, exits 130 / 143 ---

SLOW = ["--strategy", "passes", "--no-standardize", "--max-iter", "6", "--tol", "1e-14"]


def _slow_data(tmp_path):
    from mrlinreg.datagen import make_regression

    X, y, _, _ = make_regression(400, 3, seed=31, scales=[1, 5, 20])
    path = tmp_path / "slow.csv"
    write_csv(str(path), X, y)
    return path


def _env(tmp_path, tmp):
    return dict(os.environ, TMPDIR=str(tmp), MRLINREG_MODE="local",
                MRLINREG_STATE_DIR=str(tmp_path / "state"))


def _wait_for_tasks(proc, tmp, data, timeout=120):
    """Until a task process of ``proc`` runs (a pass is under way)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if any("--mapper" in cmd or "--reducer" in cmd for _, cmd in _run_processes(tmp, data)):
            return
        time.sleep(0.05)
    raise AssertionError(f"no task process ran (driver status {proc.poll()})")


def _assert_no_process_left(tmp, data, within_s=5.0):
    deadline = time.monotonic() + within_s
    left = _run_processes(tmp, data)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = _run_processes(tmp, data)
    for pid, _ in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert left == [], left


def _stop(proc, sig):
    """Signal the driver; its exit status and stderr (it must exit within 30 s)."""
    t = time.monotonic()
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        try:  # bounded: an orphaned task holding the pipes must fail the test, not hang it
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        raise AssertionError(f"the driver did not stop within 30 s of {sig.name}") from None
    return proc.returncode, err, time.monotonic() - t


def _check_stop_message(code, err, sig):
    assert code == 128 + sig, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert lines == [f"error: interrupted by {sig.name}: stopped"
                     + (" (the run continues from its last snapshot with --resume)")], err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signalled_local_driver_stops_its_tasks_and_resumes_to_the_same_model(tmp_path, sig):
    from tests.functional.helpers import run_inline

    data = _slow_data(tmp_path)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = _env(tmp_path, tmp)
    os.environ["MRLINREG_STATE_DIR"] = str(tmp_path / "state")
    code, ref, err = run_inline(["--model-name", "ref", *SLOW, str(data)])
    assert code == 0, err

    proc = subprocess.Popen([sys.executable, LINREG, "-r", "local", "--num-cores", "2",
                             "--model-name", "sig", *SLOW, str(data)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600
        seen = []
        while time.monotonic() < deadline:  # iteration 1 is saved; the next pass runs
            line = proc.stderr.readline()
            seen.append(line)
            if line.startswith("iter    1") or (not line and proc.poll() is not None):
                break
        assert any(x.startswith("iter    1") for x in seen), "".join(seen)
        _wait_for_tasks(proc, tmp, data)
        code, err, took = _stop(proc, sig)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _check_stop_message(code, err, sig)
    assert took < 30  # a busy machine; the handler itself waits at most 2 s
    _assert_no_process_left(tmp, data)

    # the lock is free at once (no --wait needed) and the run resumes to the same model
    code, rec, err = run_inline(["--model-name", "sig", "--resume", *SLOW, str(data)])
    assert code == 0, err
    assert "resuming run" in err
    assert rec["iterations"] == ref["iterations"] == 6
    assert [h["loss"] for h in rec["history"]] == pytest.approx(
        [h["loss"] for h in ref["history"]], rel=1e-12)
    for f in ref["features"]:
        assert rec["coefficients"][f] == pytest.approx(ref["coefficients"][f], rel=1e-12)
    assert rec["intercept"] == pytest.approx(ref["intercept"], rel=1e-12)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL],
                         ids=["SIGTERM", "SIGINT", "SIGKILL"])
def test_signalled_local_predict_leaves_no_task_running(tmp_path, sig):
    from tests.functional.helpers import run_inline

    rng = np.random.default_rng(5)
    X = rng.standard_normal((40000, 3))
    train, data = tmp_path / "train.csv", tmp_path / "score.csv"
    write_csv(str(train), X[:500], X[:500] @ [1.0, 2.0, 3.0])
    write_csv(str(data), X, X @ [1.0, 2.0, 3.0])
    model = tmp_path / "model.json"
    os.environ["MRLINREG_STATE_DIR"] = str(tmp_path / "state")
    code, _, err = run_inline(["--solver", "qr", "--output-model", str(model), str(train)])
    assert code == 0, err
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "pred.tsv"
    # one row per block: scoring takes far longer than the test waits
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "jobs", "predict.py"), "-r",
                             "local", "--num-cores", "2", "--block-rows", "1", "--model",
                             str(model), "--output", str(out), str(data)], cwd=ROOT,
                            env=_env(tmp_path, tmp), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_tasks(proc, tmp, data)
        time.sleep(0.5)
        code, err, took = _stop(proc, sig)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
    else:
        assert code == 128 + sig and "Traceback" not in err, err
        assert [x for x in err.splitlines() if x.startswith("error:")] == \
            [f"error: interrupted by {sig.name}: stopped"], err
    _assert_no_process_left(tmp, data)
