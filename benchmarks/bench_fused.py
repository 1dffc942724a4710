"""Mapper-side cost of the fused one-pass accumulator beside the two passes it replaces.

    python benchmarks/bench_fused.py [--rows 1000000] [--features 20] [--block 8192] [--repeat 5]

On a generated matrix held in memory (no CSV, no parsing), times folding all
blocks of ``--block`` rows into

* ``FusedAccumulator.add`` (one pass), and
* ``MomentsAccumulator.add`` then ``QRAccumulator.add`` (the two passes' work,
  with the shift and scale taken from the data up front),

and the driver-side ``merge_all`` + ``context_from_fused`` of 2 mapper partials.
Prints medians of ``--repeat`` runs and their ratios.  Compute only: the real
saving of one pass is reading and parsing the input once instead of twice,
which this does not measure.  Figures, not assertions.

BLAS runs single-threaded unless the environment says otherwise
(``OMP_NUM_THREADS`` etc.), as in a mapper sharing a node with others; on a
2-core machine a multi-threaded BLAS made these small QRs about 20x slower.
"""

import argparse
import os
import statistics
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")   # before numpy loads its BLAS

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from mrlinreg.datagen import make_regression  # noqa: E402
from mrlinreg.kernels import MomentsAccumulator, QRAccumulator  # noqa: E402
from mrlinreg.numerics.fused import FusedAccumulator, context_from_fused  # noqa: E402
from mrlinreg.numerics.scaling import standardization  # noqa: E402


def _blocks(X, y, size):
    return [(X[s:s + size], y[s:s + size]) for s in range(0, len(y), size)]


def _median_seconds(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--block", type=int, default=8192)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    d = a.features
    X, y, _, _ = make_regression(a.rows, d, scales=np.logspace(-2, 3, d), seed=1)
    blocks = _blocks(X, y, a.block)
    shift, scale = standardization(X.mean(0), X.std(0), np.sqrt((X**2).mean(0)), True, True)

    def fused_pass():
        acc = FusedAccumulator(d)
        for Xb, yb in blocks:
            acc.add(Xb, yb)
        return acc

    def moments_pass():
        acc = MomentsAccumulator(d + 1)
        for Xb, yb in blocks:
            acc.add(np.column_stack([Xb, yb]))

    def tsqr_pass():
        acc = QRAccumulator(shift, scale, True)
        for Xb, yb in blocks:
            acc.add(Xb, yb)

    half = len(blocks) // 2

    def driver():
        parts = []
        for part in (blocks[:half], blocks[half:]):
            acc = FusedAccumulator(d)
            for Xb, yb in part:
                acc.add(Xb, yb)
            parts.append(acc)
        t = time.perf_counter()
        context_from_fused(FusedAccumulator.merge_all(parts), True, True)
        return time.perf_counter() - t

    # Interleaved repeats, so that a change of load on the machine hits all three alike.
    runs = {fn: [] for fn in (fused_pass, moments_pass, tsqr_pass)}
    for _ in range(a.repeat):
        for fn, times in runs.items():
            times.append(_median_seconds(fn, 1))
    t_fused, t_mom, t_qr = (statistics.median(times) for times in runs.values())
    t_drv = statistics.median(driver() for _ in range(a.repeat))
    rows = a.rows
    print(f"{rows} x {d}, blocks of {a.block} rows ({len(blocks)} blocks), "
          f"median of {a.repeat}, BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}")
    print(f"  fused add (one pass)           {t_fused:8.3f} s  {rows / t_fused:12,.0f} rows/s")
    print(f"  moments add                    {t_mom:8.3f} s  {rows / t_mom:12,.0f} rows/s")
    print(f"  tsqr add                       {t_qr:8.3f} s  {rows / t_qr:12,.0f} rows/s")
    print(f"  moments + tsqr (two passes)    {t_mom + t_qr:8.3f} s")
    print(f"  fused / (moments + tsqr)       {t_fused / (t_mom + t_qr):8.3f}")
    print(f"  fused / tsqr alone             {t_fused / t_qr:8.3f}")
    print(f"  driver: merge 2 partials + context_from_fused  {t_drv * 1e3:8.3f} ms")


if __name__ == "__main__":
    main()
