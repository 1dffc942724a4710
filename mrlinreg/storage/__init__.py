"""Storage behind small interchangeable classes: results, snapshots, locks.

Each has a local default (files under the state directory) and a real service
(Hive, HBase, ZooKeeper); :mod:`mrlinreg.storage.factory` picks one from the
config.  Schemas come from ``schemas/warehouse.yaml`` via :mod:`mrlinreg.schema`.
"""

from mrlinreg.storage.errors import (InvalidRecordError, ModelLockedError,
                                     SchemaMismatchError, StorageError,
                                     StorageUnavailableError)
from mrlinreg.storage.factory import model_lock, open_results_store, open_snapshot_store
from mrlinreg.storage.locks import LocalModelLock, ZooKeeperModelLock
from mrlinreg.storage.results import HiveResultsStore, LocalResultsStore, ResultsStore
from mrlinreg.storage.snapshots import (HBaseSnapshotStore, LocalSnapshotStore, Snapshot,
                                        SnapshotStore)

__all__ = [
    "InvalidRecordError", "ModelLockedError", "SchemaMismatchError", "StorageError",
    "StorageUnavailableError", "model_lock", "open_results_store", "open_snapshot_store",
    "LocalModelLock", "ZooKeeperModelLock", "HiveResultsStore", "LocalResultsStore",
    "ResultsStore", "HBaseSnapshotStore", "LocalSnapshotStore", "Snapshot", "SnapshotStore",
]
