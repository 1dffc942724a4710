"""Snapshots as files: ``<root>/<model_name>/<run_id>/<iteration:010d>.snap``.

Each file holds the cells of :mod:`mrlinreg.storage.snapshot_format` (so the
bytes are those HBase would hold) with a CRC-32, written to a temporary file,
fsynced and renamed into place: a crash leaves the old file or the new one.
``<root>/<model_name>/LATEST`` names the snapshot put last (``<run_id>/<file>``),
replaced the same way after the snapshot itself, so ``latest`` reads two small
files and never lists a directory.  Sorted names give (run_id, iteration) order,
the same order as the HBase row keys.  A run's context is stored once, in
``<root>/<model_name>/<run_id>/RUN`` (cells of
:func:`~mrlinreg.storage.snapshot_format.encode_run_cells`).
"""

from __future__ import annotations

import os
import shutil
import struct
import uuid
import zlib
from pathlib import Path

from mrlinreg.fsutil import write_atomic
from mrlinreg.storage.snapshot_format import (Snapshot, checked_names, decode_cells,
                                              decode_run_cells, encode_cells,
                                              encode_run_cells)
from mrlinreg.storage.errors import StorageError

MAGIC = b"MRLSNAP1"
SUFFIX = ".snap"
POINTER = "LATEST"
RUN_FILE = "RUN"


def pack_cells(cells):
    body = b"".join(struct.pack("<I", len(k)) + k + struct.pack("<Q", len(v)) + v
                    for k, v in sorted(cells.items()))
    return MAGIC + struct.pack("<I", len(cells)) + body + struct.pack("<I", zlib.crc32(body))


def unpack_cells(data, where):
    if data[:len(MAGIC)] != MAGIC or len(data) < len(MAGIC) + 8:
        raise StorageError(f"{where} is not a snapshot file")
    body, crc = data[len(MAGIC) + 4:-4], struct.unpack("<I", data[-4:])[0]
    if zlib.crc32(body) != crc:
        raise StorageError(f"{where} is corrupt (checksum mismatch); delete it to "
                           f"fall back to the previous snapshot")
    count, cells, pos = struct.unpack_from("<I", data, len(MAGIC))[0], {}, 0
    for _ in range(count):
        (klen,) = struct.unpack_from("<I", body, pos)
        key = body[pos + 4:pos + 4 + klen]
        pos += 4 + klen
        (vlen,) = struct.unpack_from("<Q", body, pos)
        cells[key] = body[pos + 8:pos + 8 + vlen]
        pos += 8 + vlen
    return cells


class LocalSnapshotStore:
    """Snapshots under ``root`` (the config's ``<state_dir>/snapshots``)."""

    def __init__(self, root):
        self.root = Path(root)

    def __repr__(self):
        return f"LocalSnapshotStore({str(self.root)!r})"

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def _model_dir(self, model_name):
        checked_names(model_name)
        return self.root / model_name

    def put(self, snapshot: Snapshot) -> None:
        data = pack_cells(encode_cells(snapshot))  # validates before touching disk
        run_dir = self._model_dir(snapshot.model_name) / snapshot.run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        name = f"{snapshot.iteration:010d}{SUFFIX}"
        write_atomic(run_dir / name, data)
        write_atomic(run_dir.parent / POINTER, f"{snapshot.run_id}/{name}\n".encode())

    def put_run(self, model_name, run_id, values) -> None:
        """Store a run's context (once per run)."""
        data = pack_cells(encode_run_cells(model_name, run_id, values))
        run_dir = self._model_dir(model_name) / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(run_dir / RUN_FILE, data)

    def get_run(self, model_name, run_id):
        """A run's context values, or None if it was never stored."""
        checked_names(model_name, run_id)
        path = self._model_dir(model_name) / run_id / RUN_FILE
        try:
            return decode_run_cells(unpack_cells(path.read_bytes(), path))
        except FileNotFoundError:
            return None

    def _load(self, path):
        return decode_cells(unpack_cells(path.read_bytes(), path))

    def latest(self, model_name):
        model_dir = self._model_dir(model_name)
        try:
            pointer = (model_dir / POINTER).read_text().strip()
        except FileNotFoundError:
            return None
        run_id, _, name = pointer.partition("/")
        checked_names(model_name, run_id)
        try:
            return self._load(model_dir / run_id / name)
        except FileNotFoundError:
            return None

    def _snapshot_files(self, model_name, run_id=None):
        model_dir = self._model_dir(model_name)
        checked_names(model_name, run_id)
        if not model_dir.is_dir():
            return []
        runs = [model_dir / run_id] if run_id is not None else sorted(
            p for p in model_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
        return [f for run in runs if run.is_dir() for f in sorted(run.glob(f"[0-9]*{SUFFIX}"))]

    def _try_load(self, path):
        try:
            return self._load(path)
        except (StorageError, FileNotFoundError, struct.error, KeyError, ValueError):
            return None

    def history(self, model_name, run_id=None, skip_corrupt=False):
        """Snapshots in (run_id, iteration) order; ``skip_corrupt`` leaves out the ones
        that do not read back (else a corrupt one raises :class:`StorageError`)."""
        files = self._snapshot_files(model_name, run_id)
        if not skip_corrupt:
            return [self._load(f) for f in files]
        return [s for s in map(self._try_load, files) if s is not None]

    def latest_intact(self, model_name):
        """The newest snapshot that reads back, or None (when ``latest`` cannot help:
        its file is corrupt, or deleted)."""
        for path in reversed(self._snapshot_files(model_name)):
            snap = self._try_load(path)
            if snap is not None:
                return snap
        return None

    def delete_model(self, model_name):
        model_dir = self._model_dir(model_name)
        if not model_dir.exists():
            return
        doomed = model_dir.with_name(f".{model_name}.deleted-{uuid.uuid4().hex}")
        os.rename(model_dir, doomed)  # the model disappears at once
        shutil.rmtree(doomed, ignore_errors=True)
