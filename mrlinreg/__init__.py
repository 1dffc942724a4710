"""mrlinreg: multivariate linear regression on Hadoop with mrjob.

Layers, each importing only those below it (``tests/unit/test_layers.py``)::

    cli, cluster                 commands
    driver                       the training run, passes, oracles, resume, publish
    jobs | storage, fs, config   MRJob classes | results, snapshots, locks, files
    numerics, parsing, kernels, records, options, errors, schema, sparkboot   pure, no I/O

The compatibility layer for Python 3.12+ is loaded first, before any mrjob import.
"""

import os

# One BLAS thread per process: map tasks already run one per core, and a threaded
# BLAS on their small blocks (a 7,400 x 22 QR) spins against the other tasks: 72 ms
# a block with two threads against 9 ms with one, on 2 busy cores.  OpenBLAS and MKL
# read these when numpy loads, so this comes before any numpy import; a user's own
# setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from mrlinreg import compat  # noqa: F401,E402
