"""Compare the solvers on one dataset: MapReduce passes, wall time, accuracy reached.

    python benchmarks/compare_solvers.py [--rows 100000] [--features 10] [--runner inline]

The dataset has correlated features (pairwise correlation ``--rho``), so the
standardised Hessian has condition number ~ (1 + (d-1) rho) / (1 - rho): the
regime where steepest descent crawls and conjugate gradient does not.
Accuracy is the smallest log relative error (LRE, digits) of any coefficient
against numpy's lstsq on the same data.  Prints a Markdown table.
"""

import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from mrlinreg.datagen import write_csv  # noqa: E402
from tests.functional.helpers import coef_vector, run_cli, run_inline  # noqa: E402

METHODS = [
    ("gd, fixed step 0.1", ["--solver", "gd", "--line-search", "none", "--learning-rate", "0.1"]),
    ("gd, Armijo line search", ["--solver", "gd"]),
    ("cg", ["--solver", "cg"]),
    ("newton", ["--solver", "newton"]),
    ("lbfgs", ["--solver", "lbfgs"]),
    ("qr (one pass TSQR)", ["--solver", "qr"]),
]


def lre(est, ref):
    err = np.abs(est - ref) / np.abs(ref)
    return float(np.min(-np.log10(np.maximum(err, 1e-17))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--features", type=int, default=10)
    ap.add_argument("--rho", type=float, default=0.9)
    ap.add_argument("--runner", default="inline")
    ap.add_argument("--max-iter", default="200")
    ap.add_argument("--only", action="append", default=[],
                    help="run only the solvers whose row name starts with this (repeatable)")
    a = ap.parse_args()
    rng = np.random.default_rng(5)
    d = a.features
    C = np.full((d, d), a.rho) + (1 - a.rho) * np.eye(d)
    X = rng.standard_normal((a.rows, d)) @ np.linalg.cholesky(C).T * np.logspace(0, 3, d)
    y = X @ rng.uniform(-2, 2, d) + 3.0 + rng.standard_normal(a.rows)
    path = os.path.join(ROOT, "data", "bench", f"corr-{a.rows}x{d}.csv")
    write_csv(path, X, y)
    ref = np.linalg.lstsq(np.column_stack([X, np.ones(a.rows)]), y, rcond=None)[0]
    kappa = np.linalg.cond(np.corrcoef(X.T))
    print(f"{a.rows} rows, {d} features, rho {a.rho} (standardised condition number "
          f"{kappa:.0f}), runner {a.runner}, strategy passes, --tol 1e-10, --max-iter {a.max_iter}\n")
    print("| solver | MapReduce passes | iterations | converged | wall time (s) | min LRE vs numpy (digits) |")
    print("|---|---|---|---|---|---|")
    for name, args in METHODS:
        if a.only and not any(name.startswith(o) for o in a.only):
            continue
        cmd = ["-r", a.runner, "--strategy", "passes", "--tol", "1e-10", "--max-iter", a.max_iter,
               "--quiet", *args, path]
        t = time.perf_counter()
        code, rec, err = (run_inline if a.runner == "inline" else run_cli)(cmd)
        dt = time.perf_counter() - t
        if code != 0:
            print(f"| {name} | - | - | failed: {err.strip().splitlines()[-1][:80]} | {dt:.1f} | - |")
            continue
        est = np.append(coef_vector(rec), rec["intercept"])
        print(f"| {name} | {rec['passes']} | {rec['iterations']} | {rec['converged']} | {dt:.1f} | "
              f"{lre(est, ref):.1f} |")


if __name__ == "__main__":
    main()
