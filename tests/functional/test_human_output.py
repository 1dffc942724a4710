"""On a terminal, training and ``curve`` print a short summary for people; through a pipe,
or with ``--json``, one JSON object (what scripts and the other tests read)."""

import json
import os
import pty
import subprocess
import sys

import numpy as np
import pytest

from tests.functional.helpers import LINREG, ROOT


def run_on_a_terminal(args, timeout=300):
    """Run ``args`` with stdout on a pseudo-terminal; returns (exit code, stdout, stderr)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(args, stdout=slave, stderr=subprocess.PIPE, cwd=ROOT)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    err = p.stderr.read().decode()
    p.wait(timeout=timeout)
    return p.returncode, b"".join(chunks).decode().replace("\r\n", "\n"), err


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("human")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 2))
    y = X @ [2.0, -1.0] + 0.5 + rng.normal(0, 0.1, 300)
    np.savetxt(d / "t.csv", np.column_stack([X, y]), delimiter=",", header="size,age,price",
               comments="", fmt="%.17g")
    return d


def test_a_terminal_gets_a_summary(data):
    code, out, err = run_on_a_terminal([sys.executable, LINREG, "--solver", "cg",
                                        "--validation", str(data / "t.csv"), "--quiet",
                                        str(data / "t.csv")])
    assert code == 0, err
    assert not out.lstrip().startswith("{")
    for fragment in ("coefficient", "size", "age", "intercept", "fit:", "R²",
                     "validation:", "convergence: converged after", "passes:"):
        assert fragment in out, out
    # the printed coefficients are the model's
    code2, record, _ = subprocess_json(data)
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("size "))
    assert float(line.split()[1]) == pytest.approx(record["coefficients"]["size"], rel=1e-5)


def subprocess_json(data):
    p = subprocess.run([sys.executable, LINREG, "--solver", "cg", "--quiet",
                        str(data / "t.csv")], capture_output=True, text=True, cwd=ROOT,
                       timeout=300)
    return p.returncode, json.loads(p.stdout), p.stderr


def test_json_on_a_terminal_with_the_flag(data):
    code, out, err = run_on_a_terminal([sys.executable, LINREG, "--solver", "qr", "--json",
                                        "--quiet", str(data / "t.csv")])
    assert code == 0, err
    record = json.loads(out)
    assert set(record["coefficients"]) == {"size", "age"}


def test_a_pipe_gets_one_json_object(data):
    code, record, err = subprocess_json(data)
    assert code == 0 and record["solver"] == "cg"


def test_warnings_show_in_the_summary(data):
    code, out, err = run_on_a_terminal([sys.executable, LINREG, "--solver", "gd",
                                        "--max-iter", "2", "--quiet", str(data / "t.csv")])
    assert code == 0, err
    assert "NOT converged after 2 iteration(s)" in out
    assert "warning:     not converged after --max-iter 2 iterations" in out


def test_curve_on_a_terminal_is_a_table(data):
    code, out, err = run_on_a_terminal([sys.executable, "-m", "mrlinreg.cli.main", "curve",
                                        "--degree", "3", "--validation", str(data / "t.csv"),
                                        "--quiet", str(data / "t.csv")])
    assert code == 0, err
    lines = out.splitlines()
    header = next(i for i, ln in enumerate(lines) if "train MSE" in ln)
    rows = [ln.split() for ln in lines[header + 1:header + 4]]
    assert [r[0] for r in rows] == ["1", "2", "3"] and [r[1] for r in rows] == ["3", "5", "7"]
