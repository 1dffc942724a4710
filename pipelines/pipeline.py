#!/usr/bin/env python3
"""Ingest -> train -> evaluate -> publish (-> predict) in one command (= ``mrlinreg pipeline``).

    python pipelines/pipeline.py [--upload-to DIR] [--predict INPUT ...] [train options] INPUT...

The steps are functions of :mod:`mrlinreg.driver` that hand each other typed
objects (the trained :class:`~mrlinreg.records.ModelRecord` goes straight to
scoring); the wiring is :func:`mrlinreg.cli.commands.pipeline`.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mrlinreg.cli.main import job_script  # noqa: E402

if __name__ == "__main__":
    sys.exit(job_script("pipeline", "pipelines/pipeline.py"))
