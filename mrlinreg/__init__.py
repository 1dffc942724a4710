"""mrlinreg: multivariate linear regression on Hadoop with mrjob.

Layers, each importing only those below it (``tests/unit/test_layers.py``)::

    cli, cluster                 commands
    driver                       the training run, passes, oracles, resume, publish
    jobs | storage, fs, config   MRJob classes | results, snapshots, locks, files
    numerics, parsing, kernels, records, options, errors, schema, sparkboot   pure, no I/O

The compatibility layer for Python 3.12+ is loaded first, before any mrjob import.
"""

from mrlinreg import compat  # noqa: F401
