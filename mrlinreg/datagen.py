"""Seeded synthetic regression data: ``y = X b + c + noise``, features at chosen scales.

    python -m mrlinreg.datagen --rows 10000 --features 5 --out data/demo.csv

The true coefficients are written next to the data (``<out>.truth.json``)
so a demo can compare the fit with the truth.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np


def make_regression(rows, features, *, noise=0.1, scales=None, seed=0, intercept=1.5):
    """Return ``X (rows, features)``, ``y (rows,)``, true ``coef`` and ``intercept``.

    Feature ``j`` is standard normal times ``scales[j]`` plus ``scales[j]`` (so
    columns are neither centred nor unit-scale); ``coef_j`` is drawn so that
    every feature contributes to ``y`` on the same order.
    """
    rng = np.random.default_rng(seed)
    scales = np.ones(features) if scales is None else np.broadcast_to(np.asarray(scales, float), (features,))
    X = rng.standard_normal((rows, features)) * scales + scales
    coef = rng.uniform(-3, 3, size=features) / scales
    y = X @ coef + intercept + noise * rng.standard_normal(rows)
    return X, y, coef, float(intercept)


def write_csv(path, X, y, names=None, header=True, chunk=100_000):
    """Write ``[X y]`` as CSV with ``repr``-exact floats (``%.17g``), in chunks."""
    names = names or [f"x{j}" for j in range(X.shape[1])] + ["y"]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        if header:
            f.write(",".join(names) + "\n")
        for start in range(0, X.shape[0], chunk):
            block = np.column_stack([X[start:start + chunk], y[start:start + chunk]])
            np.savetxt(f, block, delimiter=",", fmt="%.17g")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--features", type=int, default=5)
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--scales", default="1", help="comma-separated feature scales (cycled)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-header", action="store_true")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    if a.rows < 1 or a.features < 1:
        ap.error("--rows and --features must be positive")
    scales = np.resize(np.array([float(s) for s in a.scales.split(",")]), a.features)
    X, y, coef, c = make_regression(a.rows, a.features, noise=a.noise, scales=scales, seed=a.seed)
    write_csv(a.out, X, y, header=not a.no_header)
    with open(a.out + ".truth.json", "w") as f:
        json.dump({"coefficients": dict(zip([f"x{j}" for j in range(a.features)], coef.tolist())),
                   "intercept": c, "noise": a.noise, "seed": a.seed}, f, indent=2)
    print(a.out)


if __name__ == "__main__":
    main()
