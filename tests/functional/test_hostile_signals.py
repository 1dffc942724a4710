"""Issue 9: a SIGKILLed ``-r local`` driver leaves no task processes running."""

import os
import signal
import subprocess
import sys
import time

import numpy as np

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
