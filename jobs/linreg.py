#!/usr/bin/env python3
"""Fit a multivariate linear regression with MapReduce (the same as ``mrlinreg train``).

    python jobs/linreg.py [mrjob options] [model options] INPUT [INPUT ...]

A thin entry script: the driver is :mod:`mrlinreg.driver` and the MapReduce pass
is :class:`mrlinreg.jobs.linreg_pass.MRLinRegPass` (which Hadoop streaming runs
as a task).  ``python jobs/linreg.py --help`` lists every option.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mrlinreg.cli.main import job_script  # noqa: E402

if __name__ == "__main__":
    sys.exit(job_script("train", "jobs/linreg.py"))
