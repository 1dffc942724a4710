"""Model snapshots: one per iteration, so training can resume and models are versioned.

``SnapshotStore`` is what the training driver talks to; ``HBaseSnapshotStore``
(cluster) and ``LocalSnapshotStore`` (files under the state directory) keep the
same bytes (:mod:`mrlinreg.storage.snapshot_format`) and the same order:
``history`` by (run_id, iteration), ``latest`` the snapshot put last, read
through a pointer rather than a scan.  Row keys: ``docs/hbase-rowkeys.md``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from mrlinreg.storage.hbase_snapshots import HBaseSnapshotStore
from mrlinreg.storage.local_snapshots import LocalSnapshotStore
from mrlinreg.storage.snapshot_format import Snapshot

__all__ = ["Snapshot", "SnapshotStore", "HBaseSnapshotStore", "LocalSnapshotStore"]


@runtime_checkable
class SnapshotStore(Protocol):
    def __enter__(self): ...

    def __exit__(self, *exc_info): ...

    def put(self, snapshot: Snapshot) -> None:
        """Store one snapshot (replacing one with the same key); it becomes ``latest``."""

    def put_run(self, model_name: str, run_id: str, values: dict) -> None:
        """Store a run's context once (data moments, scaling, R factor, options)."""

    def get_run(self, model_name: str, run_id: str) -> dict | None:
        """A run's context values, or None if it was never stored."""

    def latest(self, model_name: str) -> Snapshot | None:
        """The snapshot put last for this model, without scanning its history."""

    def history(self, model_name: str, run_id: str | None = None) -> list:
        """Snapshots ordered by (run_id, iteration); one run's when ``run_id``."""

    def delete_model(self, model_name: str) -> None:
        """Forget every snapshot of the model (no error when there is none)."""
