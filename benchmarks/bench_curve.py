"""What a validation curve costs: ``mrlinreg curve --degree K`` against K separate fits.

    .venv/bin/python benchmarks/bench_curve.py --rows 200000 --degrees 1 4 8 12

For each K it times ``curve --degree K --validation`` (inline runner, three passes
whatever K) and, as the brute-force reference, numpy reading the same files once and
refitting each of the K nested models with ``lstsq``; it prints wall times (median of
``--repeat`` runs) and the largest relative difference of the validation MSEs.
Figures, not a test: the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def write(path, n, rng):
    x = rng.uniform(-1, 1, (n, 2))
    y = 1 + x[:, 0] - 2 * x[:, 0] ** 2 + 0.5 * x[:, 1] ** 3 + rng.normal(0, 0.3, n)
    np.savetxt(path, np.column_stack([x, y]), delimiter=",", header="a,b,y", comments="",
               fmt="%.17g")


def timed(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--degrees", type=int, nargs="+", default=[1, 4, 8, 12])
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write(tmp / "t.csv", args.rows, rng)
        write(tmp / "v.csv", args.rows // 4, rng)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MRLINREG_")}
        env["MRLINREG_STATE_DIR"] = str(tmp / "state")
        print(f"{args.rows} training rows, {args.rows // 4} validation rows, 2 features")
        print("| K | curve passes | curve time (s) | numpy read + K lstsq refits (s) | "
              "max rel. diff of validation MSE |")
        print("|---|---|---|---|---|")
        for k in args.degrees:
            def curve():
                p = subprocess.run([sys.executable, "-m", "mrlinreg.cli.main", "curve",
                                    "--degree", str(k), "--validation", str(tmp / "v.csv"),
                                    "--quiet", "--json", str(tmp / "t.csv")],
                                   capture_output=True, text=True, cwd=ROOT, env=env)
                if p.returncode:
                    sys.exit(p.stderr)
                return json.loads(p.stdout)

            def brute():
                T = np.loadtxt(tmp / "t.csv", delimiter=",", skiprows=1)
                V = np.loadtxt(tmp / "v.csv", delimiter=",", skiprows=1)
                out = []
                for j in range(1, k + 1):
                    def design(M):
                        return np.column_stack([np.ones(len(M))] +
                                               [M[:, :2] ** e for e in range(1, j + 1)])
                    b = np.linalg.lstsq(design(T), T[:, 2], rcond=None)[0]
                    out.append(float(np.mean((V[:, 2] - design(V) @ b) ** 2)))
                return out

            t_curve, c = timed(curve, args.repeat)
            t_brute, ref = timed(brute, args.repeat)
            got = [p["validation_mse"] for p in c["points"]]
            diff = max(abs(g - r) / r for g, r in zip(got, ref))
            print(f"| {k} | {c['passes']} | {t_curve:.1f} | {t_brute:.1f} | {diff:.1e} |")


if __name__ == "__main__":
    main()
