"""Rows per second of one MapReduce pass, beside numpy reading the same CSV and solving.

    python benchmarks/bench_pass.py [--rows 1000000] [--features 20] [--runner local]

Prints, for a generated CSV: numpy's read (np.loadtxt) + lstsq time, and for each runner
the wall time of one gradient pass (mrjob job start to merged result) and of the
moments pass, in seconds and rows per second. Not a test: figures, not assertions.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from mrlinreg.codec import encode_array  # noqa: E402
from mrlinreg.datagen import make_regression, write_csv  # noqa: E402
from mrlinreg.driver.inputs import resolve_format  # noqa: E402
from mrlinreg.driver.passes import PassRunner  # noqa: E402
from mrlinreg.fs import FileSystem  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--runner", action="append", help="mrjob runners (default: local, inline)")
    ap.add_argument("--data-dir", default=os.path.join(ROOT, "data", "bench"))
    a = ap.parse_args()
    runners = a.runner or ["local", "inline"]
    path = os.path.join(a.data_dir, f"bench-{a.rows}x{a.features}.csv")
    if not os.path.exists(path):
        t = time.perf_counter()
        X, y, _, _ = make_regression(a.rows, a.features, seed=1)
        write_csv(path, X, y)
        del X, y
        print(f"generated {path} in {time.perf_counter() - t:.1f}s")
    size_mb = os.path.getsize(path) / 1e6
    print(f"data: {a.rows} rows x {a.features} features, {size_mb:.0f} MB CSV, {os.cpu_count()} cores")

    # before this process holds the data: a forked child's peak counts the parent's pages
    fmt, feats, _ = resolve_format([path], FileSystem())
    W = np.zeros((len(feats) + 1, 6))
    for rows in (a.rows // 10, a.rows):
        print(f"one mapper task over {rows:>9,} rows: peak RSS "
              f"{mapper_peak_rss(path, params_for(fmt, feats, W), rows):6.0f} MB "
              f"(--block-rows 8192)")

    t = time.perf_counter()
    M = np.loadtxt(path, delimiter=",", skiprows=1)
    t_read = time.perf_counter() - t
    t = time.perf_counter()
    A = np.column_stack([M[:, :-1], np.ones(len(M))])
    np.linalg.lstsq(A, M[:, -1], rcond=None)
    t_solve = time.perf_counter() - t
    del M, A
    ref = t_read + t_solve
    print(f"numpy loadtxt {t_read:.2f}s + lstsq {t_solve:.2f}s = {ref:.2f}s "
          f"({a.rows / ref:,.0f} rows/s)")

    for runner_name in runners:
        with tempfile.TemporaryDirectory() as work:
            runner = PassRunner(["-r", runner_name, path], work)
            params = params_for(fmt, feats, W)
            for label, prm in (("moments pass", {"pass": "moments", "format": fmt.to_dict()}),
                               ("gradient pass (6 line-search points)", params)):
                t = time.perf_counter()
                res = runner.run(prm)
                dt = time.perf_counter() - t
                assert res.acc.n == a.rows
                print(f"{runner_name:6s} {label:38s} {dt:7.2f}s  {a.rows / dt:12,.0f} rows/s  "
                      f"{dt / ref:5.2f}x numpy read+solve")


def params_for(fmt, feats, W):
    """Parameters of a gradient pass at the candidate points ``W``."""
    return {"pass": "evaluate", "format": fmt.to_dict(),
            "shift": encode_array(np.zeros(len(feats))),
            "scale": encode_array(np.ones(len(feats))), "fit_intercept": True,
            "points": encode_array(W), "directions": encode_array(np.zeros((W.shape[0], 0)))}


def mapper_peak_rss(path, params, rows):
    """Run one mapper task by hand on the first ``rows`` lines; return its peak RSS in MB."""
    with tempfile.TemporaryDirectory() as work:
        pfile = os.path.join(work, "params.json")
        with open(pfile, "w") as f:
            json.dump(params, f)
        head = subprocess.Popen(["head", "-n", str(rows + 1), path], stdout=subprocess.PIPE)
        task = subprocess.Popen([sys.executable, os.path.join(ROOT, "jobs", "linreg.py"),
                                 "--step-num=0", "--mapper", "--params", pfile],
                                stdin=head.stdout, stdout=subprocess.DEVNULL)
        head.stdout.close()
        _, status, usage = os.wait4(task.pid, 0)  # this task's own peak, not all children's
        task.returncode = os.waitstatus_to_exitcode(status)
        head.wait()
        if task.returncode != 0:
            raise RuntimeError("mapper task failed")
        return usage.ru_maxrss / 1024


if __name__ == "__main__":
    main()
