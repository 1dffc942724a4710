"""mrjob runners as the driver makes them, with the local runner's input splitting made cheap.

mrjob 0.7.4's local runner cuts every uncompressed input file into map splits by
iterating its lines in the driver (``SimMRJobRunner._split_mapper_input``):
about 1.6 s of one core for a 276 MB file of a million rows before any map task
starts (the inline runner too).  :class:`ChunkSplitMixin` makes the same splits (same boundaries:
a split ends at the first line end at or after the split size; same
``mapreduce.map.input.start``/``length``) by copying multi-megabyte reads and
finishing the last line with one ``readline``.  Compressed files and input
manifests go through mrjob's own code.
"""

from __future__ import annotations

import os
import sys

from mrjob.cat import decompress, is_compressed
from mrjob.hadoop import HadoopJobRunner
from mrjob.inline import InlineMRJobRunner
from mrjob.local import LocalMRJobRunner

from mrlinreg.driver.webhdfs_fs import webhdfs_first

COPY_BYTES = 8 << 20


def _copy_split(src, dest, size: int) -> int:
    """Copy ``size`` bytes of ``src`` to ``dest``, then the rest of the line they end in.

    Returns the number of bytes copied (0 at the end of ``src``).
    """
    n, last = 0, b"\n"
    while n < size:
        data = src.read(min(COPY_BYTES, size - n))
        if not data:
            return n
        dest.write(data)
        n += len(data)
        last = data[-1:]
    if last != b"\n" or n == 0:  # the line the split ends in (or, at size 0, one line)
        rest = src.readline()
        dest.write(rest)
        n += len(rest)
    return n


class ChunkSplitMixin:
    """For mrjob's simulated runners: uncompressed input split by byte copies instead of
    lines, at the split size the runner picks (the local runner: one split per core where
    mrjob makes two, since each task process costs about half a second of interpreter
    start and imports, more than parsing a 70 MB split)."""

    def _split_mapper_input(self, input_paths, step_num):
        input_paths = list(input_paths)
        if step_num == 0 and self._uses_input_manifest():
            return super()._split_mapper_input(input_paths, step_num)
        split_size = self._pick_mapper_split_size(input_paths, step_num)
        dests = self._yield_split_fileobjs("mapper", step_num)
        results = []
        for path in input_paths:
            if is_compressed(path):  # as mrjob: one split, decompressed
                with open(path, "rb") as src, next(dests) as dest:
                    for data in decompress(src, path):
                        dest.write(data)
                results.append(dict(file=path, start=0, length=os.stat(path).st_size))
                continue
            start = 0
            with open(path, "rb") as src:
                while True:
                    with next(dests) as dest:
                        length = _copy_split(src, dest, split_size)
                    results.append(dict(file=path, start=start, length=length))
                    start += length
                    if not src.peek(1):
                        break
        return results


class ChunkSplitLocalRunner(ChunkSplitMixin, LocalMRJobRunner):
    """``-r local`` with :class:`ChunkSplitMixin`, one split per core (inline tasks run
    in-process, so there the split count stays mrjob's and so do the sums' groupings)."""

    def _pick_mapper_split_size(self, input_paths, step_num):
        size = super()._pick_mapper_split_size(input_paths, step_num)
        return size * 2 if step_num == 0 and size else size


class ChunkSplitInlineRunner(ChunkSplitMixin, InlineMRJobRunner):
    """``-r inline`` with :class:`ChunkSplitMixin`."""


UBER_KEY = "mapreduce.job.ubertask.enable"
UBER_MAX_BYTES = 128 << 20  # one HDFS block: YARN's own default limit for an uber job
_HADOOP_VERSIONS = {}  # hadoop binary -> its version: `hadoop version` is a JVM per runner


class WebHDFSHadoopRunner(HadoopJobRunner):
    """``-r hadoop`` with mrjob's ``hdfs://`` file calls over WebHDFS
    (:mod:`mrlinreg.driver.webhdfs_fs`) and ``hadoop version`` asked once per process.

    ``webhdfs`` is an ``hdfs`` library client (class attribute, set by :func:`make_runner`).
    """

    webhdfs = None
    uberized = False  # this runner made its job an uber job

    @property
    def fs(self):
        if self._fs is None:
            fs = super().fs
            if self.webhdfs is not None:
                webhdfs_first(fs, self.webhdfs)
        return self._fs

    def _jobconf_for_step(self, step_num):
        """Uber mode (every task inside the application master's container: no container
        requests) for an input of at most :data:`UBER_MAX_BYTES`, unless the user said
        otherwise.  YARN still runs a job that does not fit (more than 9 maps, more than
        one reducer) the usual way."""
        jobconf = super()._jobconf_for_step(step_num)
        if UBER_KEY not in jobconf and self._input_bytes() <= UBER_MAX_BYTES:
            jobconf = dict(jobconf, **{UBER_KEY: "true"})
            self.uberized = True  # the pass driver runs a failed uber job again without
        return jobconf

    def _input_bytes(self):
        if getattr(self, "_input_size", None) is None:
            try:
                self._input_size = sum(self.fs.du(p) for p in self._get_input_paths())
            except Exception:  # cannot tell: no uber mode
                self._input_size = float("inf")
        return self._input_size

    def _run_hadoop(self, hadoop_args, env, record_callback):
        # the job client's INFO lines carry the application id, tracking URL and map/reduce
        # percentages that progress lines show; the launcher defaults to WARN
        if "jar" in hadoop_args and "HADOOP_ROOT_LOGGER" not in os.environ:
            env = dict(env, HADOOP_ROOT_LOGGER="INFO,console")
        return super()._run_hadoop(hadoop_args, env, record_callback)

    def get_hadoop_version(self):
        key = tuple(self.get_hadoop_bin())
        if key not in _HADOOP_VERSIONS:
            _HADOOP_VERSIONS[key] = super().get_hadoop_version()
        return _HADOOP_VERSIONS[key]


def _webhdfs_client():
    """A WebHDFS client from the configuration (``[hdfs] url``), None if it cannot be made."""
    try:
        from hdfs import InsecureClient

        from mrlinreg.config import load_config

        cfg = load_config().hdfs
        return InsecureClient(cfg.url, user=cfg.user, timeout=30)
    except Exception:  # no hdfs library, a bad config: mrjob's hadoop fs does it all
        return None


RUNNERS = {LocalMRJobRunner: ChunkSplitLocalRunner, InlineMRJobRunner: ChunkSplitInlineRunner}


def task_args(runner_name: str) -> list:
    """mrjob options that make this machine's task processes start faster.

    On Python 3.11 with setuptools installed, its ``distutils-precedence`` hook makes
    mrjob's ``import distutils`` load setuptools and ``pkg_resources``: about 0.4 s of
    CPU in every task process.  The standard library's ``distutils`` does what mrjob
    needs (``LooseVersion``); 3.12+ have none (:mod:`mrlinreg.compat` shims it).
    """
    if runner_name in ("local", "inline") and sys.version_info < (3, 12):
        return ["--cmdenv", "SETUPTOOLS_USE_DISTUTILS=stdlib"]
    return []


def make_runner(job):
    """``job.make_runner()``, with the splitting of :class:`ChunkSplitMixin` for ``-r local``
    and ``-r inline``, and :class:`WebHDFSHadoopRunner` for ``-r hadoop``."""
    cls = RUNNERS.get(job._runner_class())
    if cls is None and job._runner_class() is HadoopJobRunner:
        client = _webhdfs_client()
        if client is not None:
            cls = type("WebHDFSHadoopRunner", (WebHDFSHadoopRunner,), {"webhdfs": client})
    return cls(**job._runner_kwargs()) if cls else job.make_runner()
