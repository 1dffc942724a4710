"""Results as Parquet files laid out like Hive's warehouse directory.

``<root>/<database>.db/<table>/run_id=<run_id>/part-0.parquet``, with the
columns and types of ``schemas/warehouse.yaml`` (the partition column lives in
the directory name, as in Hive).  A partition is written in a hidden temporary
directory and swapped in by two renames, so a reader sees the old partition,
no partition for an instant, or the new one: never a half-written file.
Hidden (``.``-prefixed) directories are ignored when reading.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mrlinreg.schema import load_warehouse, validate_key_name, validate_sql_name
from mrlinreg.storage.records import (RECORD_TABLES, check_rows, checked_record_rows,
                                      prediction_rows)

PART_FILE = "part-0.parquet"


class LocalResultsStore:
    """Results tables as Parquet under ``root``.

    Parameters
    ----------
    root : str or Path
        Warehouse directory (the config's ``<state_dir>/warehouse``).
    database : str
    warehouse : Warehouse, optional
        Parsed schema; default ``schemas/warehouse.yaml``.
    """

    def __init__(self, root, database="linreg", warehouse=None):
        self.root = Path(root)
        self.database = validate_sql_name(database, "database")
        self.warehouse = warehouse or load_warehouse()

    def __repr__(self):
        return f"LocalResultsStore({str(self.root)!r}, database={self.database!r})"

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def table_dir(self, table):
        return self.root / f"{self.database}.db" / validate_sql_name(table, "table")

    def publish(self, record):
        run_id, checked = checked_record_rows(record, self.warehouse)
        for table in RECORD_TABLES[1:] + RECORD_TABLES[:1]:  # models last
            self._replace_partition(table, run_id, checked[table])

    def publish_predictions(self, run_id, table_of_rows):
        validate_key_name(run_id, "run_id")
        rows = check_rows(self.warehouse.table("predictions"),
                          prediction_rows(table_of_rows), f"run {run_id}: ")
        self._replace_partition("predictions", run_id, rows)

    def read_table(self, table, run_id=None):
        spec = self.warehouse.table(table)
        part = self.warehouse.partition.name
        if run_id is not None:
            validate_key_name(run_id, "run_id")
        pieces = []
        base = self.table_dir(table)
        dirs = sorted(base.glob(f"{part}=*")) if base.exists() else []
        for directory in dirs:
            value = directory.name.split("=", 1)[1]
            if run_id is not None and value != run_id:
                continue
            data = pq.read_table(directory / PART_FILE, schema=spec.arrow_schema())
            pieces.append(data.append_column(part, pa.array([value] * data.num_rows,
                                                            pa.string())))
        if not pieces:
            schema = spec.arrow_schema().append(pa.field(part, pa.string()))
            return schema.empty_table()
        return pa.concat_tables(pieces)

    def _replace_partition(self, table, run_id, rows):
        spec = self.warehouse.table(table)
        base = self.table_dir(table)
        base.mkdir(parents=True, exist_ok=True)
        target = base / f"{self.warehouse.partition.name}={run_id}"
        token = uuid.uuid4().hex
        staging = base / f".{target.name}.tmp-{token}"
        retired = base / f".{target.name}.old-{token}"
        if rows:
            staging.mkdir()
            data = pa.Table.from_pylist(rows, schema=spec.arrow_schema())
            pq.write_table(data, staging / PART_FILE)
            _fsync(staging / PART_FILE)
        try:
            if target.exists():
                os.rename(target, retired)
            try:
                if rows:
                    os.rename(staging, target)
            except BaseException:
                if retired.exists() and not target.exists():
                    os.rename(retired, target)  # put the old partition back
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(retired, ignore_errors=True)


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
