"""Run ``jobs/linreg.py`` the way a user does, and reference solutions."""

import contextlib
import io
import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LINREG = os.path.join(ROOT, "jobs", "linreg.py")


def run_inline(args):
    """Run the driver in-process (inline runner). Returns (exit code, record or None, stderr)."""
    from mrlinreg.cli.main import job_script

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = job_script("train", "jobs/linreg.py", list(args))
        except SystemExit as e:  # argparse usage errors
            code = e.code
    text = out.getvalue().strip()
    return code, (json.loads(text) if text else None), err.getvalue()


def run_cli(args, timeout=600):
    """Run ``python jobs/linreg.py ARGS`` in a subprocess."""
    p = subprocess.run([sys.executable, LINREG, *args], capture_output=True, text=True,
                       timeout=timeout, cwd=ROOT)
    text = p.stdout.strip()
    return p.returncode, (json.loads(text) if text else None), p.stderr


def lstsq_reference(X, y, fit_intercept=True):
    A = np.column_stack([X, np.ones(len(y))]) if fit_intercept else X
    w = np.linalg.lstsq(A, y, rcond=None)[0]
    return (w[:-1], w[-1]) if fit_intercept else (w, 0.0)


def coef_vector(record):
    return np.array([record["coefficients"][f] for f in record["features"]])


def start_trainer(args, env):
    """Start ``python jobs/linreg.py ARGS`` in the background (stderr piped for progress)."""
    return subprocess.Popen([sys.executable, LINREG, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def wait_for_iteration(proc, k, timeout=300):
    """Read the trainer's progress until iteration ``k`` is reported (it is saved by then)."""
    import time

    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen.append(line)
        if line.startswith(f"iter {k:4d}"):
            return
        if not line and proc.poll() is not None:
            break
    raise AssertionError("trainer never reached iteration %d:\n%s" % (k, "".join(seen)))


def dependent_columns_csv(tmp_path):
    """gamma = alpha + 2 beta exactly: a rank-deficient design. Returns (path, X, y)."""
    from mrlinreg.datagen import write_csv

    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(300), rng.standard_normal(300)
    X = np.column_stack([a, b, a + 2 * b])
    y = a - b + 0.1 * rng.standard_normal(300)
    path = tmp_path / "dep.csv"
    write_csv(str(path), X, y, names=["alpha", "beta", "gamma", "y"])
    return path, X, y


def overfit_csvs(tmp_path):
    """40 training rows of 30 features, 2 informative, and 1000 held-out rows.

    Returns (train path, held-out path, X, y); the first 40 rows are the training rows.
    """
    from mrlinreg.datagen import write_csv

    rng = np.random.default_rng(9)
    X = rng.standard_normal((1040, 30))
    y = 2 * X[:, 0] - X[:, 1] + rng.standard_normal(1040)
    train, hold = tmp_path / "train.csv", tmp_path / "hold.csv"
    write_csv(str(train), X[:40], y[:40])
    write_csv(str(hold), X[40:], y[40:])
    return train, hold, X, y


def run_main(argv):
    """``mrlinreg ARGV`` in-process (inline runner). Returns (exit code, stdout, stderr)."""
    from mrlinreg.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as e:  # argparse usage errors
            code = e.code
    return code, out.getvalue(), err.getvalue()
