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

import getpass
import json
import logging
import os
import posixpath
import re
import shutil
import sys
import tempfile

from mrjob.cat import decompress, is_compressed
from mrjob.hadoop import HadoopJobRunner
from mrjob.inline import InlineMRJobRunner
from mrjob.local import LocalMRJobRunner
from mrjob.parse import is_uri
from mrjob.sim import _split_records

from mrlinreg.driver.shipping import HdfsFileCache, cache_home, cached_zip
from mrlinreg.driver.webhdfs_fs import webhdfs_first

log = logging.getLogger(__name__)

COPY_BYTES = 8 << 20
MIN_SPLIT_BYTES = 8 << 20  # a local map task's Python start costs about this much parsing


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


class TaskStartMixin:
    """For runners whose tasks start from mrjob's setup wrapper (local and hadoop): the
    wrapper without mrjob's lock (one Python per task, not two) and mrjob's own zip from
    the local cache instead of rebuilt for every job."""

    def _setup_cmd_content(self, setup):
        """mrjob's setup lines, without its file lock when the only setup is putting
        py_files on ``PYTHONPATH``: the lock (a file named after the job, taken by a
        ``python -c`` in every task) serialises setup commands such as ``make``; exports
        need none.  So the wrapper is the same for every job (cached in HDFS) and a
        task starts one Python, not two."""
        lines = super()._setup_cmd_content(setup)
        if self._setup:
            return lines
        lock = ("# obtain exclusive file lock", "# release exclusive file lock")
        return [line for line in lines
                if not (line in lock or line.startswith("exec 9>") or "flock(9" in line)]

    def _create_mrjob_zip(self):
        """mrjob's zip of itself, from the local cache (deterministic, so its HDFS copy
        is found again) rather than rebuilt in the job's temp dir."""
        if not self._mrjob_zip_path:
            import mrjob

            self._mrjob_zip_path = cached_zip(os.path.dirname(mrjob.__file__), "mrjob",
                                              "mrjob.zip", self._get_local_tmp_dir())
        return self._mrjob_zip_path


def local_split_size(mrjob_size: int) -> int:
    """The local runner's map split size from mrjob's (which makes two splits per core):
    one split per core, and none smaller than :data:`MIN_SPLIT_BYTES`."""
    return max(mrjob_size * 2, MIN_SPLIT_BYTES)


class ChunkSplitLocalRunner(TaskStartMixin, ChunkSplitMixin, LocalMRJobRunner):
    """``-r local`` with :class:`ChunkSplitMixin`, one split per core but none under
    :data:`MIN_SPLIT_BYTES` (inline tasks run in-process, so there the split count stays
    mrjob's and so do the sums' groupings), and as many reduce tasks as the job asks for.

    Each task is a new Python that imports numpy, pyarrow and mrjob: about 0.8 s of CPU,
    more than parsing several megabytes.  mrjob's local runner makes two map splits and
    two reduce tasks per core whatever the input's size and the job's
    ``mapreduce.job.reduces`` (a TODO in mrjob): a 1,000-row fit on 2 cores started
    eight Pythons (with mrjob's setup lock, see :class:`TaskStartMixin`); now two.
    """

    def _pick_mapper_split_size(self, input_paths, step_num):
        size = super()._pick_mapper_split_size(input_paths, step_num)
        return local_split_size(size) if step_num == 0 else size

    def _split_reducer_input(self, step_num):
        reduces = self._jobconf_for_step(step_num).get("mapreduce.job.reduces")
        try:
            n = int(reduces)
        except (TypeError, ValueError):
            n = 0
        if n < 1:
            return super()._split_reducer_input(step_num)
        path = self._sorted_reducer_input_path(step_num)
        size = os.stat(path).st_size
        dests = self._yield_split_fileobjs("reducer", step_num)
        tasks = 0
        with open(path, "rb") as src:  # split at key changes, as mrjob does
            for records in _split_records(src, -(-size // n), lambda line: line.split(b"\t")[0]):
                with next(dests) as dest:
                    for record in records:
                        dest.write(record)
                tasks += 1
        return tasks


class ChunkSplitInlineRunner(ChunkSplitMixin, InlineMRJobRunner):
    """``-r inline`` with :class:`ChunkSplitMixin`."""


UBER_KEY = "mapreduce.job.ubertask.enable"
UBER_MAX_BYTES = 128 << 20  # one HDFS block: YARN's own default limit for an uber job
_HADOOP_VERSIONS = {}  # hadoop binary -> its version: `hadoop version` is a JVM
_STREAMING_JAR_VERSION = re.compile(r"hadoop-streaming-(\d+(?:\.\d+)+)(?:[-.][^/]*)?\.jar$")
VERSION_CACHE = "hadoop-versions.json"


def _version_from_jar(jar) -> str | None:
    """A Hadoop install's version from its streaming jar's name (``hadoop-streaming-3.4.2.jar``):
    the jar ships with the install, so it is the version ``hadoop version`` prints."""
    m = _STREAMING_JAR_VERSION.search(posixpath.basename(jar or ""))
    return m.group(1) if m else None


def _bin_key(hadoop_bin) -> str:
    """What ``hadoop version`` depends on: the binary (path, size, time) and HADOOP_HOME."""
    parts = list(hadoop_bin)
    exe = shutil.which(hadoop_bin[0]) if hadoop_bin else None
    if exe:
        st = os.stat(exe)
        parts += [exe, str(st.st_size), str(st.st_mtime_ns)]
    parts.append(os.environ.get("HADOOP_HOME", ""))
    return "\0".join(parts)


def cached_hadoop_version(hadoop_bin, ask) -> str:
    """``ask()`` (the ``hadoop version`` JVM) once per binary: the answer is kept on disk
    (:func:`mrlinreg.driver.shipping.cache_home`), keyed by :func:`_bin_key`."""
    path = os.path.join(cache_home(), VERSION_CACHE)
    key = _bin_key(hadoop_bin)
    try:
        with open(path) as f:
            known = json.load(f)
    except (OSError, ValueError):
        known = {}
    if isinstance(known.get(key), str):
        return known[key]
    version = ask()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        with os.fdopen(fd, "w") as f:
            json.dump(dict(known, **{key: version}), f)
        os.replace(tmp, path)
    except OSError:  # no cache: asked again next time
        pass
    return version


class WebHDFSHadoopRunner(TaskStartMixin, HadoopJobRunner):
    """``-r hadoop`` with mrjob's ``hdfs://`` file calls over WebHDFS
    (:mod:`mrlinreg.driver.webhdfs_fs`), no ``hadoop version`` JVM (the version from the
    streaming jar's name, else asked once per binary and kept on disk), and the files every
    pass ships (package zips, job script, setup wrapper) taken from a content-addressed
    HDFS folder (:class:`~mrlinreg.driver.shipping.HdfsFileCache`): uploaded once, not
    twice per pass.

    ``webhdfs`` is an ``hdfs`` library client and ``hdfs_user`` its user (class attributes,
    set by :func:`make_runner`).
    """

    webhdfs = None
    hdfs_user = None  # the WebHDFS client's user: the shared files go under its home
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
        bin_ = self.get_hadoop_bin()
        key = tuple(bin_)
        if key not in _HADOOP_VERSIONS:
            _HADOOP_VERSIONS[key] = (
                _version_from_jar(self.get_hadoop_streaming_jar()) or
                cached_hadoop_version(bin_, super().get_hadoop_version))
        # mrjob's `hadoop fs` (behind WebHDFS) asks for it too, before some calls
        self.fs.hadoop._hadoop_version = _HADOOP_VERSIONS[key]
        return _HADOOP_VERSIONS[key]

    # --- shipped files from the content-addressed cache ---------------------------------

    def _file_cache(self):
        if getattr(self, "_files_cache", None) is None:
            user = self.hdfs_user or getpass.getuser()
            self._files_cache = HdfsFileCache(self.webhdfs, f"/user/{user}/mrlinreg/cache")
        return self._files_cache

    def _shared_files(self):
        """Local files every pass ships alike: py_files (zips), the job script, setup
        wrapper scripts.  Per-pass files (``--params``) keep mrjob's per-job upload."""
        paths = set(self._py_files()) | {self._script_path}
        if not self._setup:  # then the wrappers hold no job key (see _setup_cmd_content)
            paths |= {self._setup_wrapper_script_path, self._manifest_setup_script_path}
        return {p for p in paths if p and not is_uri(p)}

    def _cached_uri(self, path, name):
        uris = getattr(self, "_cached_uris", None)
        if uris is None:
            return None
        return uris.get((path, name))

    def _dest_in_wd_mirror(self, path, name):
        return self._cached_uri(path, name) or super()._dest_in_wd_mirror(path, name)

    def _copy_file_to_wd_mirror(self, path, name):
        if self._cached_uri(path, name) is None:
            super()._copy_file_to_wd_mirror(path, name)

    def _add_job_files_for_upload(self):
        # mrjob also puts py_files into the job's files/ folder, which only Spark steps
        # read; streaming tasks get them through the working dir (-files)
        if self._has_spark_steps():
            super()._add_job_files_for_upload()

    def _upload_local_files(self):
        """Shared files into the HDFS cache (those already there: no upload), the rest as
        mrjob does.  Any failure of the cache: mrjob's own per-job uploads."""
        self._cached_uris = {}
        if self.webhdfs is not None:
            try:
                cache = self._file_cache()
                shared = self._shared_files()
                for name, path in sorted(self._working_dir_mgr.name_to_path("file").items()):
                    if path in shared:
                        self._cached_uris[(path, name)] = \
                            "hdfs://" + cache.ensure(path, name)
            except Exception as e:  # WebHDFS gone, no permission: upload per job
                log.warning("shared file cache in HDFS not used (%s)", e)
                self._cached_uris = {}
        self._copy_files_to_wd_mirror()
        to_upload = self._upload_mgr.path_to_uri() if self._upload_mgr else {}
        if to_upload:  # (mrjob makes this folder even when nothing goes into it)
            self.fs.mkdir(self._upload_mgr.prefix)
            for src_path, uri in to_upload.items():
                self.fs.put(src_path, uri)


def _webhdfs_client():
    """A WebHDFS client from the configuration (``[hdfs] url``, ``user``) and its user;
    (None, None) if it cannot be made."""
    try:
        from hdfs import InsecureClient

        from mrlinreg.config import load_config

        cfg = load_config().hdfs
        return InsecureClient(cfg.url, user=cfg.user, timeout=30), cfg.user
    except Exception:  # no hdfs library, a bad config: mrjob's hadoop fs does it all
        return None, None


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
        client, user = _webhdfs_client()
        if client is not None:
            cls = type("WebHDFSHadoopRunner", (WebHDFSHadoopRunner,),
                       {"webhdfs": client, "hdfs_user": user})
    return cls(**job._runner_kwargs()) if cls else job.make_runner()
