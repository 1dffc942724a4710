"""Snapshots in HBase through its Thrift1 server (happybase).

One table, ``<table_prefix>_snapshots``, families from ``schemas/warehouse.yaml``
(created when missing).  Row keys (``docs/hbase-rowkeys.md``)::

    <model_name>#<run_id>#<iteration, 10 digits zero-padded>   one snapshot
    <model_name>!latest                                         pointer row
    <model_name>$<run_id>                                       the run's context

Model names and run ids cannot contain ``#`` or ``!`` (they are validated), so
the prefix ``<model_name>#`` selects exactly one model's snapshots, and a prefix
scan returns them ordered by run id, then iteration.  ``put`` writes the
snapshot row, then the pointer row's ``p:key`` (the snapshot's row key);
``latest`` is two point gets, whatever the history length.  A crash between the
two writes leaves the pointer on the previous snapshot, which is still whole.
Cells are the byte encoding of :mod:`mrlinreg.storage.snapshot_format`.

Every operation is retried on connection failures
(:func:`~mrlinreg.storage.retry.with_retries`), reconnecting each time.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

from mrlinreg.schema import load_warehouse, validate_sql_name
from mrlinreg.storage.connection import HeldConnection
from mrlinreg.storage.retry import UNREACHABLE, retry_settings, with_retries
from mrlinreg.storage.snapshot_format import (checked_names, decode_cells, decode_run_cells,
                                              encode_cells, encode_run_cells)

SEP = "#"
RUN_SEP = "$"
POINTER_SUFFIX = "!latest"
POINTER_COLUMN = b"p:key"


def snapshot_row_key(model_name, run_id, iteration):
    return f"{model_name}{SEP}{run_id}{SEP}{iteration:010d}".encode()


def model_prefix(model_name, run_id=None):
    return (f"{model_name}{SEP}" + (f"{run_id}{SEP}" if run_id is not None else "")).encode()


def run_row_key(model_name, run_id):
    return f"{model_name}{RUN_SEP}{run_id}".encode()


def pointer_row_key(model_name):
    return f"{model_name}{POINTER_SUFFIX}".encode()


def _happybase_connection(**kwargs):
    import happybase
    return happybase.Connection(**kwargs)


class HBaseSnapshotStore(HeldConnection):
    """Snapshots in HBase.

    Parameters
    ----------
    host, port : str, int
        The Thrift1 server.
    table_prefix : str
        happybase ``table_prefix`` ("" for none).
    transport, protocol : str
        happybase options; the HBase Thrift server defaults are buffered/binary.
    timeout_s : float
    retry : dict, optional
        attempts, base_delay_s, max_delay_s for ``with_retries``.
    connection_factory : callable, optional
        Replaces ``happybase.Connection`` (tests).
    """

    service = "HBase"

    def __init__(self, host="127.0.0.1", port=9090, *, table_prefix="mrlinreg",
                 transport="buffered", protocol="binary", timeout_s=30.0, retry=None,
                 warehouse=None, connection_factory=_happybase_connection):
        warehouse = warehouse or load_warehouse()
        self.host, self.port = host, int(port)
        self.table_prefix = validate_sql_name(table_prefix, "table prefix") if table_prefix \
            else None
        self.table_name = warehouse.hbase_snapshot_table
        self.families = warehouse.hbase_families
        self.transport, self.protocol, self.timeout_s = transport, protocol, timeout_s
        self.retry = dict(retry or {})
        self._factory = connection_factory
        self._conn = None
        self._depth = 0
        self._table_ready = False

    @classmethod
    def from_config(cls, config, **overrides):
        """A store for ``config.hbase``; keyword ``overrides`` win."""
        h = config.hbase
        kwargs = dict(host=h.host, port=h.port, table_prefix=h.table_prefix,
                      transport=h.transport, protocol=h.protocol, timeout_s=h.timeout_s,
                      retry=retry_settings(config))
        return cls(**{**kwargs, **overrides})


    def __repr__(self):
        return f"HBaseSnapshotStore({self.address!r}, table={self.table_name!r})"



    def _table(self):
        if self._conn is None:
            kwargs = dict(host=self.host, port=self.port, timeout=int(self.timeout_s * 1000),
                          autoconnect=False, transport=self.transport, protocol=self.protocol)
            if self.table_prefix:
                kwargs["table_prefix"] = self.table_prefix
            conn = self._factory(**kwargs)
            conn.open()
            self._conn = conn
        if not self._table_ready:
            names = {t.decode() if isinstance(t, bytes) else t for t in self._conn.tables()}
            if self.table_name not in names:
                self._conn.create_table(self.table_name, self.families)
            self._table_ready = True
        return self._conn.table(self.table_name)

    def _run(self, work):
        def attempt():
            try:
                return work(self._table())
            except UNREACHABLE:
                self._close()
                raise
            finally:
                if self._depth == 0:
                    self._close()
        return with_retries(attempt, service=self.service, address=self.address,
                            **self.retry)

    @contextmanager
    def single_attempt(self):
        """Inside the block every call makes one attempt, no retries (a training whose
        snapshots already fail does not wait through the backoff at every iteration)."""
        saved = self.retry
        self.retry = dict(saved, attempts=1)
        try:
            yield self
        finally:
            self.retry = saved

    # --- the SnapshotStore API ------------------------------------------

    def put(self, snapshot):
        cells = encode_cells(snapshot)
        key = snapshot_row_key(snapshot.model_name, snapshot.run_id, snapshot.iteration)

        def work(table):
            table.put(key, cells)
            table.put(pointer_row_key(snapshot.model_name), {POINTER_COLUMN: key})
        self._run(work)

    def put_run(self, model_name, run_id, values):
        """Store a run's context (once per run; large values in chunked cells)."""
        cells = encode_run_cells(model_name, run_id, values)
        self._run(lambda table: table.put(run_row_key(model_name, run_id), cells))

    def get_run(self, model_name, run_id):
        """A run's context values, or None if it was never stored."""
        checked_names(model_name, run_id)

        def work(table):
            cells = table.row(run_row_key(model_name, run_id))
            return decode_run_cells(cells) if cells else None
        return self._run(work)

    def latest(self, model_name):
        checked_names(model_name)

        def work(table):
            pointer = table.row(pointer_row_key(model_name), columns=[POINTER_COLUMN])
            if not pointer:
                return None
            cells = table.row(pointer[POINTER_COLUMN])
            return decode_cells(cells) if cells else None
        return self._run(work)

    def history(self, model_name, run_id=None, skip_corrupt=False):
        checked_names(model_name, run_id)
        prefix = model_prefix(model_name, run_id)

        def decode(cells):
            if not skip_corrupt:
                return decode_cells(cells)
            try:
                return decode_cells(cells)
            except Exception:  # noqa: BLE001 - a damaged row is left out, as documented
                return None

        def work(table):
            rows = (decode(cells) for _, cells in table.scan(row_prefix=prefix,
                                                              batch_size=100))
            return [s for s in rows if s is not None]
        return self._run(work)

    def latest_intact(self, model_name):
        """The newest snapshot row that decodes (the pointer row named a missing or
        damaged one), or None."""
        snaps = self.history(model_name, skip_corrupt=True)
        return snaps[-1] if snaps else None

    def delete_model(self, model_name):
        checked_names(model_name)

        def work(table):
            table.delete(pointer_row_key(model_name))
            keys = [key for prefix in (model_prefix(model_name), f"{model_name}{RUN_SEP}".encode())
                    for key, _ in table.scan(row_prefix=prefix, columns=[b"m:model_name"],
                                             batch_size=1000)]
            with table.batch(batch_size=1000) as batch:
                for key in keys:
                    batch.delete(key)
        self._run(work)
        # HBase delete markers hide cells with a timestamp <= theirs: a put in the
        # same millisecond as this delete would vanish, so let the clock move on.
        time.sleep(0.005)
