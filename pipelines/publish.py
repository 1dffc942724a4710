#!/usr/bin/env python3
"""Publish the runs waiting in the outbox (= ``mrlinreg publish``)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mrlinreg.cli.main import job_script  # noqa: E402

if __name__ == "__main__":
    sys.exit(job_script("publish", "pipelines/publish.py"))
