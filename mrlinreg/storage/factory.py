"""Pick the real service or the local default from a :class:`~mrlinreg.config.Config`.

``mode = cluster`` gives Hive, HBase and ZooKeeper; ``mode = local`` gives files
under ``state_dir``: ``warehouse/`` (Parquet), ``snapshots/``, ``locks/``.
The caller owns what it gets: use it in a ``with`` block.
"""

from __future__ import annotations

from pathlib import Path

from mrlinreg.storage.hbase_snapshots import HBaseSnapshotStore
from mrlinreg.storage.hive_results import HiveResultsStore
from mrlinreg.storage.local_results import LocalResultsStore
from mrlinreg.storage.local_snapshots import LocalSnapshotStore
from mrlinreg.storage.locks import LocalModelLock, ZooKeeperModelLock
from mrlinreg.storage.retry import retry_settings


def state_path(config, *parts):
    return Path(config.state_dir).joinpath(*parts)


def open_results_store(config):
    """A ``ResultsStore``: Hive in cluster mode, Parquet under ``<state>/warehouse``."""
    if config.cluster:
        return HiveResultsStore.from_config(config)
    return LocalResultsStore(state_path(config, "warehouse"), database=config.hive.database)


def open_snapshot_store(config, training=False):
    """A ``SnapshotStore``: HBase in cluster mode, files under ``<state>/snapshots``.

    ``training``: HBase calls time out after ``[hbase] snapshot_timeout_s`` (a training
    goes on without a snapshot rather than wait on a stalled region server)."""
    if config.cluster:
        if training and config.hbase.snapshot_timeout_s > 0:
            return HBaseSnapshotStore.from_config(
                config, timeout_s=min(config.hbase.timeout_s, config.hbase.snapshot_timeout_s))
        return HBaseSnapshotStore.from_config(config)
    return LocalSnapshotStore(state_path(config, "snapshots"))


def model_lock(config, name, wait=False, timeout=None, on_lost=None):
    """A lock context manager for one model: ZooKeeper in cluster mode, else flock.

    ``on_lost(LockLostError)``: called (from another thread) if a ZooKeeper lock is lost
    while held; its ``ensure_held()`` raises that error from then on."""
    if config.cluster:
        zk = config.zookeeper
        return ZooKeeperModelLock(name, hosts=zk.hosts, lock_root=zk.lock_root, wait=wait,
                                  timeout=timeout, connect_timeout_s=zk.timeout_s,
                                  retry=retry_settings(config), on_lost=on_lost)
    return LocalModelLock(name, lock_dir=state_path(config, "locks"), wait=wait,
                          timeout=timeout)


def open_table_catalog(config):
    """Where ``--hive-table`` is looked up: HiveServer2 in cluster mode, else the local
    warehouse under ``<state>/warehouse``."""
    from mrlinreg.storage.table_catalog import HiveTableCatalog, LocalTableCatalog

    if config.cluster:
        return HiveTableCatalog.from_config(config)
    return LocalTableCatalog(state_path(config, "warehouse"))
