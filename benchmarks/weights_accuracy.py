"""Sample weights (``--weight-column``): passes, time and distance to statsmodels' WLS.

    python benchmarks/weights_accuracy.py [--rows 20000] [--features 8] [--zeros 0.01]

Data: correlated features at scales 1e-2..1e2, weights uniform on [0.1, 3] with a share
of exact zeros, noise of variance 1/w.  Every solver and strategy, inline runner.
Reference: statsmodels ``WLS(y, [X 1], weights=w).fit()`` (coefficients, and with
``--summary`` the standard errors).  Prints a Markdown table; the unweighted qr run on
the same file is the time to compare with (the machine is noisy: one run each).
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.functional.helpers import coef_vector, run_inline  # noqa: E402


def main(argv=None):
    import statsmodels.api as sm

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--features", type=int, default=8)
    ap.add_argument("--zeros", type=float, default=0.01, help="share of zero weights")
    a = ap.parse_args(argv)
    rng = np.random.default_rng(11)
    d = a.features
    scales = 10.0 ** rng.uniform(-2, 2, size=d)
    X = rng.normal(size=(a.rows, d)) * scales + rng.normal(size=d)
    X[:, 1] += 0.9 * X[:, 0] * scales[1] / scales[0]
    wt = rng.uniform(0.1, 3.0, size=a.rows)
    wt[rng.uniform(size=a.rows) < a.zeros] = 0.0
    y = X @ (rng.normal(size=d) / scales) + 1.0 + rng.normal(size=a.rows) / np.sqrt(
        np.maximum(wt, 0.1))
    path = os.path.join(tempfile.mkdtemp(), "w.csv")
    names = [f"x{j}" for j in range(d)]
    with open(path, "w") as f:
        f.write(",".join(names + ["wt", "y"]) + "\n")
        np.savetxt(f, np.column_stack([X, wt, y]), delimiter=",", fmt="%.17g")
    ref = sm.WLS(y, sm.add_constant(X, prepend=False), weights=wt).fit()
    print(f"{a.rows} rows, {d} features, {int((wt == 0).sum())} zero weights")
    print("| run | passes | seconds | max rel coef diff vs WLS | max rel bse diff |")
    print("|---|---|---|---|---|")
    runs = [("qr --summary", ["--solver", "qr", "--summary"], True),
            ("unweighted qr --summary (for the time)", ["--solver", "qr", "--summary"], False),
            ("qr", ["--solver", "qr"], True),
            ("newton, stats", ["--solver", "newton", "--strategy", "stats"], True),
            ("cg, stats", ["--solver", "cg", "--strategy", "stats"], True),
            ("gd, stats", ["--solver", "gd", "--strategy", "stats", "--tol", "1e-12",
                           "--max-iter", "5000"], True),
            ("cd (no penalty)", ["--solver", "cd"], True),
            ("newton, passes", ["--solver", "newton", "--strategy", "passes"], True),
            ("cg, passes", ["--solver", "cg", "--strategy", "passes", "--tol", "1e-12"], True),
            ("lbfgs, passes", ["--solver", "lbfgs", "--strategy", "passes", "--tol", "1e-12"],
             True),
            ("qr --summary --cov-type HC3", ["--solver", "qr", "--summary", "--cov-type",
                                            "HC3"], True)]
    for label, args, weighted in runs:
        extra = ["--weight-column", "wt"] if weighted else ["--features", ",".join(names)]
        t0 = time.perf_counter()
        code, rec, err = run_inline([*extra, "--quiet", *args, path])
        secs = time.perf_counter() - t0
        if code != 0:
            print(f"| {label} | failed: {err.strip().splitlines()[-1]} | | | |")
            continue
        if not weighted:
            print(f"| {label} | {rec['passes']} | {secs:.1f} | — | — |")
            continue
        got = np.append(coef_vector(rec), rec["intercept"])
        coef = np.max(np.abs(got - ref.params) / np.abs(ref.params))
        s = rec.get("summary")
        bse = "—"
        if s and s.get("bse"):
            want = ref.bse if "cov_type" not in s else \
                sm.WLS(y, sm.add_constant(X, prepend=False), weights=wt).fit(
                    cov_type=s["cov_type"]).bse
            bse = f"{np.max(np.abs(np.array(s['bse']) - want) / want):.1e}"
        print(f"| {label} | {rec['passes']} | {secs:.1f} | {coef:.1e} | {bse} |")


if __name__ == "__main__":
    main()
