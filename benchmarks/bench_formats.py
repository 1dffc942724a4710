"""A fit from Parquet (and ORC) beside the same fit from CSV: the same rows, medians of runs.

    python benchmarks/bench_formats.py [--rows 1000000] [--features 20] [--repeats 3]
                                       [--runner inline] [--num-cores 2]

Writes one dataset as CSV (17 significant digits, as ``mrlinreg.datagen.write_csv``),
as Parquet (row groups of 131,072 rows, snappy) and as ORC, then times
``python jobs/linreg.py --solver qr`` on each (two passes: moments, then TSQR): the
wall time of the whole command, medians of ``--repeats`` runs, and the ratio to CSV.
With ``--splits`` it also times Parquet on the local runner with one task per file
(every row group in one task, as ``mapper_raw`` would give) against the manifest of
row groups spread over tasks.  The machine is shared and noisy: read the ratios.
Prints figures; not a test.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.orc as orc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from mrlinreg.datagen import write_csv  # noqa: E402

LINREG = os.path.join(ROOT, "jobs", "linreg.py")


def fit(path, runner, cores, env=None):
    t = time.perf_counter()
    p = subprocess.run([sys.executable, LINREG, "-r", runner, "--num-cores", str(cores),
                        "--solver", "qr", "--quiet", "--model-name", "bench_formats", path],
                       capture_output=True, text=True, cwd=ROOT, env=env)
    elapsed = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"fit of {path} failed:\n{p.stderr[-2000:]}")
    return elapsed, json.loads(p.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--runner", default="inline")
    ap.add_argument("--num-cores", type=int, default=2)
    ap.add_argument("--formats", default="csv,parquet,orc",
                    help="comma-separated, csv first (the ratios are to it)")
    ap.add_argument("--splits", action="store_true",
                    help="also: local runner, one task per file vs the row-group manifest")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((a.rows, a.features))
    y = X @ rng.standard_normal(a.features) + 1.0 + rng.standard_normal(a.rows) * 0.1
    with tempfile.TemporaryDirectory(prefix="bench-formats-") as d:
        paths = {"csv": os.path.join(d, "data.csv"), "parquet": os.path.join(d, "data.parquet"),
                 "orc": os.path.join(d, "data.orc")}
        t = time.perf_counter()
        write_csv(paths["csv"], X, y)
        table = pa.table({**{f"x{i}": X[:, i] for i in range(a.features)}, "y": y})
        pq.write_table(table, paths["parquet"], row_group_size=131_072)
        orc.write_table(table, paths["orc"])
        del table
        print(f"{a.rows} rows x {a.features} features written in "
              f"{time.perf_counter() - t:.0f} s; sizes: " + ", ".join(
                  f"{k} {os.path.getsize(p) / 2**20:.0f} MiB" for k, p in paths.items()))
        chosen = [k for k in a.formats.split(",") if k]  # "" with --splits: splits only
        times, coefs = {k: [] for k in chosen}, {}
        for _ in range(a.repeats):
            for kind in chosen:  # interleaved: drift hits every format alike
                path = paths[kind]
                elapsed, rec = fit(path, a.runner, a.num_cores)
                times[kind].append(elapsed)
                coefs[kind] = np.array([rec["coefficients"][f] for f in rec["features"]])
        if not chosen:
            times["csv"] = [1.0]
        base = statistics.median(times["csv"])
        print(f"\nrunner {a.runner}, --num-cores {a.num_cores}, --solver qr "
              f"(2 passes), {a.repeats} runs each")
        print("| input | median wall time (s) | runs (s) | vs CSV | max rel. coef diff vs CSV |")
        print("|---|---|---|---|---|")
        for kind in chosen:
            med = statistics.median(times[kind])
            diff = np.max(np.abs(coefs[kind] - coefs["csv"]) / np.abs(coefs["csv"]))
            print(f"| {kind} | {med:.1f} | {', '.join(f'{t:.1f}' for t in times[kind])} | "
                  f"{med / base:.2f}x | {diff:.1e} |")
        if a.splits:
            rows = {}
            for label, mb in (("one task per file (as mapper_raw)", "1000000"),
                              ("row-group manifest, 48 MiB splits", "48")):
                env = dict(os.environ, MRLINREG_COLUMNAR_SPLIT_MB=mb)
                runs = [fit(paths["parquet"], "local", a.num_cores, env)[0]
                        for _ in range(a.repeats)]
                rows[label] = runs
            print(f"\nParquet, local runner, --num-cores {a.num_cores}:")
            for label, runs in rows.items():
                print(f"  {label}: median {statistics.median(runs):.1f} s "
                      f"({', '.join(f'{t:.1f}' for t in runs)})")


if __name__ == "__main__":
    main()
