"""The pieces that wire elastic net, path and CV into the passes (pure layer)."""

import subprocess
import sys
import zlib

import numpy as np

from mrlinreg import kernels
from mrlinreg.codec import encode_array
from mrlinreg.numerics import tsqr
from mrlinreg.options import TrainOptions
from mrlinreg.parsing import RowFormat, parse_block, split_columns


def test_block_folds_hash_the_good_lines_bytes():
    lines = ["1,2,3", "oops,2,3", "4,5,6", "", "7,8,9\r", "1,2,3"]
    fmt = RowFormat(",", 3, (0, 1), 2)
    block = parse_block(lines, fmt)
    folds = kernels.block_folds(lines, block.bad, 7)
    good = [ln for i, ln in enumerate(lines) if i not in {j for j, _ in block.bad}]
    assert len(folds) == len(block.values) == len(good) == 4
    assert folds.tolist() == [zlib.crc32(ln.encode()) % 7 for ln in good]
    assert folds[0] == folds[-1]  # identical lines share a fold


def test_fold_addon_rides_in_any_pass_with_a_working_space():
    shift, scale = np.array([0.5, -1.0]), np.array([2.0, 3.0])
    params = {"cv_folds": 3, "shift": encode_array(shift), "scale": encode_array(scale),
              "fit_intercept": True}
    acc = kernels.fold_addon(params)
    assert kernels.fold_addon({"pass": "tsqr"}) is None
    rng = np.random.default_rng(0)
    lines = [",".join(f"{v:.17g}" for v in row) for row in rng.normal(size=(50, 3))]
    fmt = RowFormat(",", 3, (0, 1), 2)
    block = parse_block(lines, fmt)
    acc.add(*split_columns(block.values, fmt), kernels.block_folds(lines, block.bad, 3))
    back = kernels.merge_partials([acc.to_dict()])
    assert back.counts.sum() == 50
    # the folds' factors merge to the full R (what the TSQR pass computes)
    full = kernels.QRAccumulator(shift, scale, True)
    full.add(*split_columns(block.values, fmt))
    G = back.full_factor()
    np.testing.assert_allclose(G.T @ G, full.R.T @ full.R, rtol=1e-12, atol=1e-12)
    assert isinstance(tsqr.merge([full.R]), np.ndarray)


def test_task_start_up_stays_light():
    """A MapReduce task imports the job module: scipy.stats (seconds) must not come along."""
    code = ("import sys, mrlinreg.jobs.linreg_pass; "
            "sys.exit('scipy.stats' in sys.modules or 'sklearn' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_fingerprint_has_the_new_options_only_when_set():
    base = TrainOptions().fingerprint(["a"], "y", ["f"])
    assert not {"l1", "path", "cv_folds", "cov_type"} & set(base)
    fp = TrainOptions(solver="cd", l1=0.1, path=5, cv_folds=3).fingerprint(["a"], "y", ["f"])
    assert (fp["l1"], fp["path"], fp["cv_folds"]) == (0.1, 5, 3)
