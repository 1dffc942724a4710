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
import sys
import tempfile
from dataclasses import dataclass

from mrjob.step import StepFailedException

from mrlinreg import kernels, sparkboot
from mrlinreg.driver.progress import PassProgress, StreamingLogCapture
from mrlinreg.driver.runners import UBER_KEY, make_runner, task_args
from mrlinreg.driver.shipping import cached_zip
from mrlinreg.driver.interrupt import new_job_tag, stopping_job
from mrlinreg.errors import BadRowError, PassError
from mrlinreg.jobs.linreg_pass import MRLinRegPass
from mrlinreg.numerics.merge import DEFAULT_BUCKETS

log = logging.getLogger(__name__)


@dataclass
class PassResult:
    acc: object          # the merged accumulator (kernels.*Accumulator)
    bad_rows: dict       # reason -> count
    addons: dict = None  # key -> merged add-on accumulator (e.g. kernels.FOLD_ADDON_KEY)


def build_package_zip(dest_dir: str) -> str:
    """The ``mrlinreg`` package zipped for ``--py-files``: its path.

    Built once per content of the package (:func:`mrlinreg.driver.shipping.cached_zip`,
    deterministic bytes, so ``-r hadoop`` uploads it once: see ``runners``); written to
    ``dest_dir`` only when the local cache cannot be written.
    """
    import mrlinreg

    root = os.path.dirname(os.path.abspath(mrlinreg.__file__))
    return cached_zip(root, "mrlinreg", "mrlinreg.zip", dest_dir, skip_dirs=("cluster",))


def job_name(model_name, pass_kind: str) -> str:
    """The name YARN lists a pass under (``mapreduce.job.name``): ``mrlinreg <model> <pass>``."""
    return " ".join(["mrlinreg"] + ([model_name] if model_name else []) + [pass_kind])


def _merge_keys(params) -> int:
    """Merge keys of a pass: many for O(d^2) partials (R factors, Hessians), so no reducer
    call takes them all; one for the small ones (each key may cost a reduce task)."""
    big = params["pass"] in ("fused", "tsqr", kernels.FOLD_FUSED_PASS, "huber_irls") or \
        params.get("hessian")
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
    model_name : str, optional
        Names the jobs ``mrlinreg <model> <pass>`` (what YARN lists).
    say : callable, optional
        Takes each progress line (default: print to stderr); one every
        ``progress_every`` seconds while a pass runs (:mod:`mrlinreg.driver.progress`).
    """

    def __init__(self, job_args, workdir, block_rows=8192, on_bad_row="skip", model_name=None,
                 say=None, progress_every=3.0, extra=None):
        self.job_args = list(job_args)
        self.extra = dict(extra or {})  # e.g. {"columnar": ...}: the input is a manifest
        self.workdir = workdir
        self.block_rows = block_rows
        self.on_bad_row = on_bad_row
        self.model_name = model_name
        stream = sys.stderr  # now: the inline runner swaps sys.std* for its tasks' files
        self.say = say or (lambda line: print(line, file=stream, flush=True))
        self.progress_every = progress_every
        self.package_zip = build_package_zip(workdir)
        self.passes = 0
        self.runner_args = _runner_args(MRLinRegPass(args=self.job_args).options)

    def _run_job(self, job, args, name, tag):
        """Run one job; its output records.

        A small input runs as an uber job (:class:`~mrlinreg.driver.runners.WebHDFSHadoopRunner`),
        where Hadoop gives every task a single attempt (``JobImpl.makeUberDecision`` sets
        ``mapreduce.map.maxattempts`` to 1): a task attempt that dies there (a killed
        container, a lost process) fails the job.  So a failed uber job runs once more as a
        normal job, in which YARN retries failed attempts; the output is the same (each merge
        key's partials are merged in a canonical order).
        """
        for retry in (False, True):
            runner = None
            try:
                with stopping_job(job.options.runner, tag), make_runner(job) as runner, \
                        StreamingLogCapture() as capture, \
                        PassProgress(runner, f"pass {self.passes} ({name})", self.say,
                                     self.progress_every, capture):
                    runner.run()
                    return list(job.parse_output(runner.cat_output()))
            except StepFailedException:
                if retry or not getattr(runner, "uberized", False):
                    raise
            self.say(f"pass {self.passes} ({name}) failed as an uber job, whose tasks get one "
                     "attempt each; running it again as a normal job, whose failed task "
                     "attempts YARN retries")
            job = MRLinRegPass(args=args + ["--jobconf", f"{UBER_KEY}=false"])

    def run(self, params: dict) -> PassResult:
        params = dict(params, block_rows=self.block_rows, on_bad_row=self.on_bad_row,
                      **self.extra)
        params.setdefault("buckets", _merge_keys(params))
        fd, path = tempfile.mkstemp(prefix="params-", suffix=".json", dir=self.workdir)
        name = job_name(self.model_name, params["pass"])
        # a YARN tag to find (and kill) the pass's application when the driver is stopped
        tag = new_job_tag()
        args = ["--params", path, "--py-files", self.package_zip, *self.runner_args,
                "--jobconf", f"mapreduce.job.name={name}",
                "--jobconf", f"mapreduce.job.tags={tag}"] + \
            (["--columnar"] if "columnar" in self.extra else []) + self.job_args
        job = MRLinRegPass(args=args)
        if job.options.runner == "local":
            job = MRLinRegPass(args=task_args("local") + args)
        if job.options.runner == "local":  # tasks on this machine: they stop when we die
            params["driver_pid"] = os.getpid()
        with os.fdopen(fd, "w") as f:
            json.dump(params, f)
        self.passes += 1
        try:
            output = self._run_job(job, args, name, tag)
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
        # one merged partial per merge key and family ("partial", add-ons such as
        # kernels.FOLD_ADDON_KEY): merged here in a canonical order
        families = {}
        for k, v in output:
            if k != "bad_row":
                families.setdefault(k, []).append(v)
        acc, bad = kernels.merge_partial_records(families.pop("partial"))
        addons = {k: kernels.merge_partial_records(vs)[0] for k, vs in families.items()}
        return PassResult(acc, bad, addons)
