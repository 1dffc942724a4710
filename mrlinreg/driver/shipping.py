"""What a pass ships to its tasks, built once and uploaded once.

Every ``-r hadoop`` pass gives its tasks the ``mrlinreg`` package and mrjob as zips on
their ``PYTHONPATH``, the job script and mrjob's setup wrapper.  These are the same
from one pass and one run to the next, so:

* :func:`cached_zip` builds a zip of a package's ``.py`` files once per content: the
  zip is *deterministic* (sorted entries, fixed timestamps), kept under the user's cache
  directory (``$XDG_CACHE_HOME/mrlinreg`` or ``~/.cache/mrlinreg``) under the digest
  of the files it holds; the same sources give the same bytes on any machine;
* :class:`HdfsFileCache` puts such files into a content-addressed HDFS folder
  (``/user/<user>/mrlinreg/cache/<sha256>-<name>``), checked with one WebHDFS
  listing per process, each file uploaded under a temporary name and renamed, so a
  half-written file is never used; the tasks read them from there (Hadoop's
  ``-files uri#name``), and YARN's NodeManager can reuse what it localised for an
  earlier application.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import tempfile
import uuid
import zipfile

ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # zip's earliest date: no file times in the bytes


def cache_home() -> str:
    """The local cache folder (``$XDG_CACHE_HOME/mrlinreg``, else ``~/.cache/mrlinreg``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "mrlinreg")


def _package_files(root: str, prefix: str, skip_dirs=()):
    """(name in the zip, path) of every ``.py`` file under ``root``, sorted."""
    found = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and d not in skip_dirs)
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                found.append((posixpath.join(prefix, *os.path.relpath(path, root).split(os.sep)),
                              path))
    return sorted(found)


def zip_bytes(members) -> bytes:
    """A deterministic zip of ``(name, bytes)`` members (in the order given)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


def cached_zip(root: str, prefix: str, zip_name: str, fallback_dir: str, skip_dirs=()) -> str:
    """The path of a zip of the ``.py`` files under ``root`` (named ``prefix/...`` inside),
    built only when no zip of the same files is in the local cache.

    Falls back to writing ``fallback_dir/zip_name`` when the cache folder cannot be
    written.
    """
    members = []
    digest = hashlib.sha256()
    for name, path in _package_files(root, prefix, skip_dirs):
        with open(path, "rb") as f:
            data = f.read()
        members.append((name, data))
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    key = digest.hexdigest()[:32]
    folder = os.path.join(cache_home(), "zips", key)
    path = os.path.join(folder, zip_name)
    if os.path.isfile(path):
        return path
    data = zip_bytes(members)
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)  # atomic: a concurrent run sees the whole zip or none
        return path
    except OSError:
        path = os.path.join(fallback_dir, zip_name)
        with open(path, "wb") as f:
            f.write(data)
        return path


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class HdfsFileCache:
    """Content-addressed files in one HDFS folder, through an ``hdfs`` library client.

    Parameters
    ----------
    client : hdfs.Client
        WebHDFS client.
    folder : str
        Absolute HDFS path of the cache folder (e.g. ``/user/alice/mrlinreg/cache``).
    """

    _present = {}  # (client url, folder) -> names seen there: one listing per process

    def __init__(self, client, folder: str):
        self.client = client
        self.folder = folder.rstrip("/")
        self.uploaded = 0  # files this process uploaded (the rest were there already)

    def _names(self) -> set:
        key = (getattr(self.client, "url", None), self.folder)
        if key not in self._present:
            try:
                names = set(self.client.list(self.folder))
            except Exception:  # no folder yet (or no listing): found out on upload
                names = set()
            self._present[key] = names
        return self._present[key]

    def path_for(self, local_path: str, name: str) -> str:
        """Where the content of ``local_path`` is (or goes) in the cache."""
        return f"{self.folder}/{file_sha256(local_path)}-{name}"

    def ensure(self, local_path: str, name: str) -> str:
        """The HDFS path holding ``local_path``'s content; uploaded if not there yet."""
        path = self.path_for(local_path, name)
        names = self._names()
        entry = posixpath.basename(path)
        if entry in names:
            return path
        tmp = f"{self.folder}/.tmp-{uuid.uuid4().hex}-{name}"
        self.client.upload(tmp, local_path, overwrite=True)
        try:
            self.client.rename(tmp, path)
        except Exception:  # a concurrent run put the same content there first
            if self.client.status(path, strict=False) is None:
                raise
            self.client.delete(tmp)
        else:
            self.uploaded += 1
        names.add(entry)
        return path
