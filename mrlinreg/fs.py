"""One way to read and write files, local or in HDFS, for every caller.

Built on mrjob's filesystems (the ``fs`` of a runner: local paths, ``file://``
and ``hdfs://`` through ``hadoop fs``), which already decompress ``.gz`` and
``.bz2`` by extension when they ``cat``.  Sniffing headers, reading model
files, writing them and listing inputs all go through :class:`FileSystem`, so
a compressed first input, a model on HDFS and a local folder are handled the
same way everywhere.  Nothing else decides "local or remote" by itself.

Input discovery follows Hadoop's ``FileInputFormat``: inside an input folder,
names starting with ``_`` or ``.`` (``_SUCCESS``, ``_logs/``, ``.crc`` files,
editor swap files) are never input.
"""

from __future__ import annotations

import bz2
import os
import posixpath
import tempfile
import zlib
from urllib.parse import urlparse

from mrlinreg.fsutil import write_atomic

HEAD_BYTES = 1 << 16


def is_remote(path: str) -> bool:
    """True for a URI that is not a local file (``hdfs://``, ``s3://``...)."""
    scheme = urlparse(path).scheme
    return bool(scheme) and scheme != "file" and len(scheme) > 1  # C:\ is not a scheme


def local_path(path: str) -> str:
    return path[len("file://"):] if path.startswith("file://") else path


def is_hidden(name: str) -> bool:
    """Hadoop's hidden-file rule: a name starting with ``_`` or ``.``."""
    return name.startswith(("_", "."))


class FileSystem:
    """Files for the driver: ``mrjob_fs`` is a runner's ``fs`` (or any mrjob filesystem)."""

    def __init__(self, mrjob_fs=None, webhdfs=None):
        if mrjob_fs is None:
            from mrjob.fs.local import LocalFilesystem

            mrjob_fs = LocalFilesystem()
        self.fs = mrjob_fs
        # an ``hdfs`` library client: listing and first bytes of hdfs:// files over HTTP,
        # where mrjob's ``hadoop fs`` starts a JVM per call (5,000 part files!)
        self.webhdfs = webhdfs
        #: ``{uri: [length, modificationTime ms]}`` of every hdfs:// file a WebHDFS listing
        #: returned (resume compares them, see :func:`mrlinreg.driver.lifecycle.input_stamps`)
        self.stamps = {}

    def _web(self, path) -> bool:
        return self.webhdfs is not None and urlparse(path).scheme == "hdfs"

    def _web_or_mrjob(self, path, web_call, mrjob_call):
        """``web_call()`` for hdfs:// paths when WebHDFS answers, else ``mrjob_call()``;
        a WebHDFS that cannot be reached is not asked again."""
        if self._web(path):
            try:
                return web_call()
            except (ConnectionError, OSError) as exc:
                if isinstance(exc, FileNotFoundError):
                    raise
                self.webhdfs = None  # unreachable: hadoop fs from now on
        return mrjob_call()

    # --- reading -----------------------------------------------------------------

    def exists(self, path: str) -> bool:
        if not is_remote(path):
            return os.path.exists(local_path(path))
        return self.fs.exists(path)

    def list_inputs(self, path: str) -> list:
        """The input files ``path`` stands for, sorted, hidden names left out.

        Raises
        ------
        FileNotFoundError
            ``path`` does not exist, or holds no input file.
        """
        if not is_remote(path):
            path = local_path(path)
            if os.path.isdir(path):
                found = []
                for root, dirs, files in os.walk(path):
                    dirs[:] = sorted(d for d in dirs if not is_hidden(d))
                    found += [os.path.join(root, f) for f in files if not is_hidden(f)]
                if not found:
                    raise FileNotFoundError(f"input folder {path} holds no input files")
                return sorted(found)
            if not os.path.exists(path):
                raise FileNotFoundError(f"input {path} does not exist")
            return [path]
        found = self._web_or_mrjob(path, lambda: self._web_list(path), lambda: None)
        if found is not None:
            if not found:
                raise FileNotFoundError(f"input {path} does not exist or holds no input files")
            return found
        root = path.rstrip("/")
        uris = []
        for uri in self.fs.ls(path):
            rel = uri[len(root):].lstrip("/") if uri.startswith(root) else posixpath.basename(uri)
            if not any(is_hidden(part) for part in rel.split("/") if part):
                uris.append(uri)
        if not uris:
            raise FileNotFoundError(f"input {path} does not exist or holds no input files")
        return sorted(uris)

    def _web_list(self, path) -> list:
        """Every non-hidden file under ``path`` (a file or folder), as URIs, sorted."""
        parsed = urlparse(path)
        prefix = f"{parsed.scheme}://{parsed.netloc}"
        status = self.webhdfs.status(parsed.path or "/", strict=False)
        if status is None:
            return []
        if status["type"] == "FILE":
            self.stamps[path] = [status.get("length"), status.get("modificationTime")]
            return [path]
        found, todo = [], [parsed.path.rstrip("/") or "/"]
        while todo:
            folder = todo.pop()
            for name, st in self.webhdfs.list(folder, status=True):
                if is_hidden(name):
                    continue
                child = posixpath.join(folder, name)
                if st["type"] == "DIRECTORY":
                    todo.append(child)
                else:
                    found.append(prefix + child)
                    self.stamps[prefix + child] = [st.get("length"), st.get("modificationTime")]
        return sorted(found)

    def _web_head(self, path, nbytes) -> bytes:
        """The first ``nbytes`` of an hdfs:// file's content, decompressing .gz/.bz2."""
        hpath = urlparse(path).path
        if not path.endswith((".gz", ".bz2")):
            with self.webhdfs.read(hpath, length=nbytes) as reader:
                return reader.read()
        inflate = (zlib.decompressobj(16 + zlib.MAX_WBITS) if path.endswith(".gz")
                   else bz2.BZ2Decompressor())
        out, size = [], 0
        with self.webhdfs.read(hpath, chunk_size=1 << 16) as reader:
            for chunk in reader:
                data = inflate.decompress(chunk)
                out.append(data)
                size += len(data)
                if size >= nbytes or getattr(inflate, "eof", False):
                    break
        return b"".join(out)

    def head(self, path: str, nbytes: int = HEAD_BYTES) -> bytes:
        """At least the first ``nbytes`` of a file's content (decompressed), or all of it."""
        return self._web_or_mrjob(path, lambda: self._web_head(path, nbytes),
                                  lambda: self._mrjob_head(path, nbytes))

    def _mrjob_head(self, path, nbytes):
        out, size = [], 0
        for chunk in self.fs.cat(path if is_remote(path) else local_path(path)):
            out.append(chunk)
            size += len(chunk)
            if size >= nbytes:
                break
        return b"".join(out)

    def read_bytes(self, path: str) -> bytes:
        if not is_remote(path):
            with open(local_path(path), "rb") as f:
                return f.read()
        return b"".join(self.fs.cat(path))

    # --- writing -----------------------------------------------------------------

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a whole file: atomically when local; replace-by-upload in HDFS."""
        if not is_remote(path):
            path = local_path(path)
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            write_atomic(path, data)
            return
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.write(data)
        try:
            self.fs.mkdir(path.rsplit("/", 1)[0])  # HDFS puts into existing folders only
            if self.fs.exists(path):
                self.fs.rm(path)
            self.fs.put(f.name, path)
        finally:
            os.unlink(f.name)

    def copy_in(self, src: str, dest_dir: str) -> str:
        """Copy a local file or folder under ``dest_dir`` (local or HDFS); its new path."""
        name = os.path.basename(os.path.normpath(src))
        target = dest_dir.rstrip("/") + "/" + name
        if os.path.isdir(src):
            for root, _, files in os.walk(src):
                for f in files:
                    full = os.path.join(root, f)
                    rel = os.path.relpath(full, src).replace(os.sep, "/")
                    self._copy_file(full, f"{target}/{rel}")
        else:
            self._copy_file(src, target)
        return target

    def _copy_file(self, src, target):
        if not is_remote(target):
            with open(src, "rb") as f:
                self.write_bytes(target, f.read())
            return
        self.fs.mkdir(target.rsplit("/", 1)[0])
        if self.fs.exists(target):
            self.fs.rm(target)
        self.fs.put(src, target)
