"""Run one MapReduce pass (:class:`~mrlinreg.jobs.linreg_pass.MRLinRegPass`) and return
its merged partial sums.

Each call builds a fresh mrjob runner ("each runner runs a single job once"),
hands the tasks their parameters in a ``--params`` side file, ships the
``mrlinreg`` package to the tasks as a zip on their ``PYTHONPATH``
(``--py-files``) so that ``-r hadoop`` nodes need nothing pre-installed but
Python and the dependencies, and turns task failures into one clear error.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass

from mrjob.step import StepFailedException

from mrlinreg import kernels, sparkboot
from mrlinreg.errors import BadRowError, PassError
from mrlinreg.jobs.linreg_pass import MRLinRegPass
from mrlinreg.numerics.merge import DEFAULT_BUCKETS

log = logging.getLogger(__name__)


@dataclass
class PassResult:
    acc: object          # the merged accumulator (kernels.*Accumulator)
    bad_rows: dict       # reason -> count


def build_package_zip(dest_dir: str) -> str:
    """Zip the ``mrlinreg`` package for ``--py-files`` and return the zip's path."""
    import mrlinreg

    root = os.path.dirname(os.path.abspath(mrlinreg.__file__))
    path = os.path.join(dest_dir, "mrlinreg.zip")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d not in ("__pycache__", "cluster")]
            for name in files:
                if name.endswith(".py"):
                    full = os.path.join(folder, name)
                    zf.write(full, os.path.relpath(full, os.path.dirname(root)))
    return path


def _merge_keys(params) -> int:
    """Merge keys of a pass: many for O(d^2) partials (R factors, Hessians), so no reducer
    call takes them all; one for the small ones (each key may cost a reduce task)."""
    big = params["pass"] in ("fused", "tsqr") or params.get("hessian")
    return DEFAULT_BUCKETS if big else 1


def _runner_args(options) -> list:
    """Switches a runner needs for these jobs.  ``-r spark``: the compat layer in the
    Pythons spark-submit starts (:mod:`mrlinreg.sparkboot`), and each task told its
    input file, as Hadoop does (headers per file; the merge key of the split)."""
    if options.runner != "spark":
        return []
    return sparkboot.mrjob_args(options.spark_master) + ["--emulate-map-input-file"]


class PassRunner:
    """Runs passes with the user's mrjob options and inputs.

    Parameters
    ----------
    job_args : list of str
        mrjob's options as the user typed them, then the input paths.
    workdir : str
        Where params files and the package zip are written.
    """

    def __init__(self, job_args, workdir, block_rows=8192, on_bad_row="skip"):
        self.job_args = list(job_args)
        self.workdir = workdir
        self.block_rows = block_rows
        self.on_bad_row = on_bad_row
        self.package_zip = build_package_zip(workdir)
        self.passes = 0
        self.runner_args = _runner_args(MRLinRegPass(args=self.job_args).options)

    def run(self, params: dict) -> PassResult:
        params = dict(params, block_rows=self.block_rows, on_bad_row=self.on_bad_row)
        params.setdefault("buckets", _merge_keys(params))
        fd, path = tempfile.mkstemp(prefix="params-", suffix=".json", dir=self.workdir)
        args = ["--params", path, "--py-files", self.package_zip, *self.runner_args] + \
            self.job_args
        job = MRLinRegPass(args=args)
        if job.options.runner == "local":  # tasks on this machine: they stop when we die
            params["driver_pid"] = os.getpid()
        with os.fdopen(fd, "w") as f:
            json.dump(params, f)
        self.passes += 1
        try:
            with job.make_runner() as runner:
                runner.run()
                output = list(job.parse_output(runner.cat_output()))
            records = dict(output)  # bad_row: one record
        except StepFailedException as e:
            raise PassError(f"MapReduce pass {self.passes} failed: {e}. "
                            "The task logs above say why.") from None
        except (OSError, subprocess.SubprocessError) as e:  # hadoop binary, HDFS, local I/O
            raise PassError(f"MapReduce pass {self.passes} could not run ({e}). Is the cluster "
                            "up (`python -m mrlinreg.cluster status`) and the input readable?"
                            ) from None
        finally:
            os.unlink(path)
        if "bad_row" in records:
            b = records["bad_row"]
            raise BadRowError(
                f"bad row ({b['reason'].replace('_', ' ')}) in {b['file']}: {b['line']!r}. "
                "Fix the input, or use <opt:on_bad_row> skip to count and skip such rows.")
        if "partial" not in records:
            raise PassError("the input holds no rows")
        # one merged partial per merge key: merged here in a canonical order
        return PassResult(*kernels.merge_partial_records(v for k, v in output if k == "partial"))
