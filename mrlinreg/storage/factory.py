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


def open_snapshot_store(config):
    """A ``SnapshotStore``: HBase in cluster mode, files under ``<state>/snapshots``."""
    if config.cluster:
        return HBaseSnapshotStore.from_config(config)
    return LocalSnapshotStore(state_path(config, "snapshots"))


def model_lock(config, name, wait=False, timeout=None):
    """A lock context manager for one model: ZooKeeper in cluster mode, else flock."""
    if config.cluster:
        zk = config.zookeeper
        return ZooKeeperModelLock(name, hosts=zk.hosts, lock_root=zk.lock_root, wait=wait,
                                  timeout=timeout, connect_timeout_s=zk.timeout_s,
                                  retry=retry_settings(config))
    return LocalModelLock(name, lock_dir=state_path(config, "locks"), wait=wait,
                          timeout=timeout)


def open_table_catalog(config):
    """Where ``--hive-table`` is looked up: HiveServer2 in cluster mode, else the local
    warehouse under ``<state>/warehouse``."""
    from mrlinreg.storage.table_catalog import HiveTableCatalog, LocalTableCatalog

    if config.cluster:
        return HiveTableCatalog.from_config(config)
    return LocalTableCatalog(state_path(config, "warehouse"))
