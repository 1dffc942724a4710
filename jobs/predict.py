#!/usr/bin/env python3
"""Score a dataset with a stored model (the same as ``mrlinreg predict``).

    python jobs/predict.py --model MODEL.json [--output FILE] [--publish] [mrjob options] INPUT...

A thin entry script: the scoring job is :class:`mrlinreg.jobs.predict.MRPredict`,
its driver :mod:`mrlinreg.driver.predict`.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mrlinreg.cli.main import job_script  # noqa: E402

if __name__ == "__main__":
    sys.exit(job_script("predict", "jobs/predict.py"))
