"""mrjob's filesystem calls on ``hdfs://`` over WebHDFS (HTTP), not ``hadoop fs`` (a JVM each).

mrjob's Hadoop runner makes about fifteen ``hadoop fs`` calls per job (``-mkdir``,
seven ``-put``, ``-ls``, ``-cat``, ``-rm``, ``version``), each starting a JVM:
1.5-3 s apiece on the project's 2-core machine, more than the job itself for a
small input.  :class:`WebHDFSFilesystem` answers the same calls with the ``hdfs``
library; :func:`webhdfs_first` puts it in front of a runner's filesystem, with
mrjob's own ``hadoop fs`` behind it for anything it cannot reach (the first
connection error disables it for the rest of the run).
"""

from __future__ import annotations

import fnmatch
import posixpath
from urllib.parse import urlparse

from mrjob.cat import decompress
from mrjob.fs.base import Filesystem

GLOB_CHARS = set("*?[")


def _split(uri):
    """``hdfs://nn:8020/a/b`` -> (``hdfs://nn:8020``, ``/a/b``)."""
    u = urlparse(uri)
    return f"{u.scheme}://{u.netloc}", posixpath.normpath(u.path or "/")


class WebHDFSFilesystem(Filesystem):
    """The mrjob :class:`~mrjob.fs.base.Filesystem` interface on an ``hdfs.Client``."""

    def __init__(self, client):
        self.client = client

    def can_handle_path(self, path):
        return urlparse(path).scheme == "hdfs"

    # --- reading ---------------------------------------------------------------------

    def _expand(self, path):
        """The paths a glob stands for (the path itself when it has no glob characters)."""
        parts = path.strip("/").split("/") if path != "/" else []
        found = ["/"]
        for part in parts:
            if not GLOB_CHARS & set(part):
                found = [posixpath.join(p, part) for p in found]
                continue
            nxt = []
            for p in found:
                try:
                    names = self.client.list(p)
                except Exception:  # not a directory, or missing
                    continue
                nxt += [posixpath.join(p, n) for n in names if fnmatch.fnmatchcase(n, part)]
            found = nxt
        return found

    def ls(self, path_glob):
        prefix, path = _split(path_glob)
        for p in self._expand(path):
            status = self.client.status(p, strict=False)
            if status is None:
                continue
            if status["type"] == "FILE":
                yield prefix + p
                continue
            for folder, _, files in self.client.walk(p):
                for name in files:
                    yield prefix + posixpath.join(folder, name)

    def du(self, path_glob):
        _, path = _split(path_glob)
        return sum(self.client.content(p)["length"] for p in self._expand(path))

    def exists(self, path_glob):
        _, path = _split(path_glob)
        return any(self.client.status(p, strict=False) is not None
                   for p in self._expand(path))

    def _cat_file(self, path):
        _, p = _split(path)
        with self.client.read(p) as reader:
            yield from decompress(iter(lambda: reader.read(1 << 20), b""), path)

    # --- writing ---------------------------------------------------------------------

    def mkdir(self, path):
        self.client.makedirs(_split(path)[1])

    def put(self, src, path):
        if path.endswith("/"):
            raise ValueError("put() destination may not be a directory")
        self.client.upload(_split(path)[1], src, overwrite=False)

    def rm(self, path_glob):
        _, path = _split(path_glob)
        for p in self._expand(path):
            self.client.delete(p, recursive=True)

    def touchz(self, path):
        _, p = _split(path)
        status = self.client.status(p, strict=False)
        if status is not None and status["length"]:
            raise OSError(f"non-empty file {path!r} already exists")
        self.client.write(p, data=b"", overwrite=True)


def _unreachable(exc) -> bool:
    """An error that says WebHDFS itself cannot be used (not a missing file)."""
    import requests

    return isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError))


def webhdfs_first(composite_fs, client):
    """Put a :class:`WebHDFSFilesystem` before the other filesystems of a runner's
    ``CompositeFilesystem`` (mrjob tries them in order)."""
    composite_fs.add_fs("webhdfs", WebHDFSFilesystem(client), disable_if=_unreachable)
    names = composite_fs._fs_names
    names.insert(0, names.pop())
    return composite_fs
