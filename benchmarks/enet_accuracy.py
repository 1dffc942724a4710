"""Elastic net, path and one-pass CV: passes, time, and distance to the references.

    python benchmarks/enet_accuracy.py [--rows 20000] [--features 12] [--folds 5] [--path 30]

References: scikit-learn's ElasticNet (tol=1e-12) on the same standardised design
(population standard deviations) for the fit and every path point, and a brute-force
k-fold with the same crc32 fold assignment (K refits per penalty) for the CV curve.
Prints a Markdown table: passes, seconds, largest absolute difference of any
coefficient (original units) and largest relative difference of the CV curve.
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from mrlinreg.datagen import write_csv  # noqa: E402
from tests.functional.helpers import coef_vector, run_inline  # noqa: E402
from tests.functional.test_penalised import (_enet, _ols, brute_force_cv,  # noqa: E402
                                             file_folds, sklearn_enet)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--features", type=int, default=12)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--path", type=int, default=30)
    a = ap.parse_args(argv)
    rng = np.random.default_rng(5)
    d = a.features
    scales = 10.0 ** rng.uniform(-2, 2, size=d)
    X = rng.normal(size=(a.rows, d)) * scales + rng.normal(size=d)
    X[:, 1] += 0.9 * X[:, 0] * scales[1] / scales[0]
    w = np.where(rng.uniform(size=d) < 0.5, 0.0, rng.normal(size=d)) / scales
    y = X @ w + 1.0 + rng.normal(size=a.rows)
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "d.csv")
    write_csv(path, X, y)
    X, y, folds = file_folds([path], a.folds)
    rows = ["| run | passes | seconds | max abs coef diff vs sklearn | max rel CV diff vs brute force |",
            "|---|---|---|---|---|"]

    def run(args):
        t = time.perf_counter()
        code, rec, err = run_inline([*args, "--quiet", path])
        assert code == 0, err
        return rec, time.perf_counter() - t

    rec, s = run(["--l1", "0.05", "--l2", "0.05"])
    coef, b0, _ = sklearn_enet(X, y, 0.05, 0.05)
    diff = max(np.max(np.abs(coef_vector(rec) - coef)), abs(rec["intercept"] - b0))
    rows.append(f"| `--l1 0.05 --l2 0.05` | {rec['passes']} | {s:.1f} | {diff:.1e} | — |")
    cd_rec = rec

    # the same fit on the passes strategy: FISTA, one pass per iteration
    rec, s = run(["--strategy", "passes", "--l1", "0.05", "--l2", "0.05", "--tol", "1e-9",
                  "--max-iter", "2000"])
    diff = max(np.max(np.abs(coef_vector(rec) - coef)), abs(rec["intercept"] - b0))
    to_cd = max(np.max(np.abs(coef_vector(rec) - coef_vector(cd_rec))),
                abs(rec["intercept"] - cd_rec["intercept"]))
    rows.append(f"| `--strategy passes --l1 0.05 --l2 0.05 --tol 1e-9` (FISTA, "
                f"{rec['iterations']} iterations; {to_cd:.1e} from cd) | {rec['passes']} | "
                f"{s:.1f} | {diff:.1e} | — |")

    rec, s = run(["--l1", "0.8", "--l2", "0.2", "--path", str(a.path)])
    diff = 0.0
    for lam, c, b in zip(rec["path"]["lambdas"], rec["path"]["coefficients"],
                         rec["path"]["intercepts"]):
        ref, ref_b, _ = sklearn_enet(X, y, 0.8 * lam, 0.2 * lam)
        diff = max(diff, np.max(np.abs([c[f] for f in rec["features"]] - ref)), abs(b - ref_b))
    rows.append(f"| `--path {a.path}` (mixing 0.8) | {rec['passes']} | {s:.1f} | {diff:.1e} | — |")

    rec, s = run(["--solver", "qr", "--cv", str(a.folds)])
    m, se = brute_force_cv(X, y, folds, a.folds, _ols)
    rel = max(abs(rec["cv"]["mean_mse"][0] / m - 1), abs(rec["cv"]["se_mse"][0] / se - 1))
    rows.append(f"| `--solver qr --cv {a.folds}` (OLS) | {rec['passes']} | {s:.1f} | — | "
                f"{rel:.1e} |")

    rec, s = run(["--l1", "0.8", "--l2", "0.2", "--path", str(a.path), "--cv", str(a.folds)])
    t = time.perf_counter()
    brute = [brute_force_cv(X, y, folds, a.folds, _enet(0.8 * lam, 0.2 * lam))
             for lam in rec["cv"]["lambdas"]]
    t_brute = time.perf_counter() - t
    rel = max(max(abs(r / m - 1), abs(q / se - 1)) for r, q, (m, se) in
              zip(rec["cv"]["mean_mse"], rec["cv"]["se_mse"], brute))
    rows.append(f"| `--path {a.path} --cv {a.folds}` | {rec['passes']} | {s:.1f} | — | {rel:.1e} |")
    print(f"{a.rows} rows, {d} features; brute force: {a.folds * a.path} sklearn refits "
          f"in memory took {t_brute:.1f} s\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
