"""Results as files laid out like the Hive warehouse: the embedded default.

``<root>/<database>.db/<table>/run_id=<run_id>/part-0.parquet`` for the model
tables, ``predictions/run_id=<run_id>/batch=<batch>/part-*`` for predictions in the
same tab-separated text the Hive table holds (what the predict job writes), with
the columns and types of ``schemas/warehouse.yaml``; partition columns live in the
folder names, as in Hive.  A partition is written in a hidden temporary folder and
swapped in by two renames, so a reader sees the old partition, none for an instant,
or the new one: never a half-written file.  Hidden (``.``-prefixed) folders are
ignored when reading.

``<root>/<database>.db/_SCHEMA_VERSION`` records the layout version; a warehouse
of version 1 (``features`` as JSON text, predictions as Parquet without batches) is
migrated in place the first time a version-2 store opens it.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mrlinreg.schema import load_warehouse, validate_key_name, validate_sql_name
from mrlinreg.storage.records import (check_rows, checked_record_rows, curve_rows,
                                      prediction_rows, publish_order)
from mrlinreg.storage.warehouse_files import prediction_text, read_prediction_text

PART_FILE = "part-0.parquet"
VERSION_FILE = "_SCHEMA_VERSION"
LEGACY_BATCH = "v1"


class LocalResultsStore:
    """Results tables under ``root``.

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
        self._checked = False

    def __repr__(self):
        return f"LocalResultsStore({str(self.root)!r}, database={self.database!r})"

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    @property
    def db_dir(self):
        return self.root / f"{self.database}.db"

    def table_dir(self, table):
        return self.db_dir / validate_sql_name(table, "table")

    def _partition_dir(self, table, values):
        spec = self.warehouse.table(table)
        if len(values) != len(spec.partitions):
            raise ValueError(f"{table} is partitioned by {spec.partition_names}")
        path = self.table_dir(table)
        for col, value in zip(spec.partitions, values):
            path = path / f"{col.name}={validate_key_name(value, col.name)}"
        return path

    # --- writing --------------------------------------------------------

    def publish(self, record):
        run_id, checked = checked_record_rows(record, self.warehouse)
        self._ensure_layout()
        for table in publish_order(checked):  # models last
            rows = checked[table]
            spec = self.warehouse.table(table)
            self._replace(self._partition_dir(table, [run_id]),
                          {PART_FILE: _parquet(spec, rows)} if rows else None)

    def publish_curve(self, curve):
        """Write a :class:`~mrlinreg.records.ValidationCurve` as the run's partition of
        ``validation_curves`` (replacing an earlier one)."""
        run_id, rows = curve_rows(curve, self.warehouse)
        self._ensure_layout()
        spec = self.warehouse.table("validation_curves")
        self._replace(self._partition_dir("validation_curves", [run_id]),
                      {PART_FILE: _parquet(spec, rows)})

    def publish_predictions(self, run_id, batch, table_of_rows):
        """Replace one (run, batch) partition of predictions by these rows."""
        validate_key_name(run_id, "run_id")
        spec = self.warehouse.table("predictions")
        rows = check_rows(spec, prediction_rows(table_of_rows), f"run {run_id}: ")
        self.write_predictions(run_id, batch, [prediction_text(spec, rows)])

    def write_predictions(self, run_id, batch, chunks):
        """Replace one (run, batch) partition by the predict job's text output.

        ``chunks`` (bytes) are streamed to the file, never held at once.
        """
        self._ensure_layout()
        target = self._partition_dir("predictions", [run_id, batch])

        def write(staging):
            with open(staging / "part-00000", "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
        self._replace(target, write)

    def _replace(self, target, files):
        """Swap ``target`` for a folder holding ``files`` ({name: bytes}, or a callable
        writing into the staging folder); None removes the partition."""
        target.parent.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex
        staging = target.parent / f".{target.name}.tmp-{token}"
        retired = target.parent / f".{target.name}.old-{token}"
        if files is not None:
            staging.mkdir()
            if callable(files):
                files(staging)
            else:
                for name, data in files.items():
                    (staging / name).write_bytes(data)
            for path in staging.iterdir():
                _fsync(path)
        try:
            if target.exists():
                os.rename(target, retired)
            try:
                if files is not None:
                    os.rename(staging, target)
            except BaseException:
                if retired.exists() and not target.exists():
                    os.rename(retired, target)  # put the old partition back
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(retired, ignore_errors=True)

    # --- reading --------------------------------------------------------

    def read_table(self, table, run_id=None):
        """A pyarrow Table (one run's partitions if ``run_id``), partition columns last."""
        spec = self.warehouse.table(table)
        if run_id is not None:
            validate_key_name(run_id, "run_id")
        self._ensure_layout()
        pieces = []
        for folder, values in self._partitions(spec):
            if run_id is not None and values[0] != run_id:
                continue
            if spec.stored_as == "PARQUET":
                data = pq.read_table(folder / PART_FILE, schema=spec.arrow_schema())
            else:
                data = pa.concat_tables(
                    [read_prediction_text(spec, f.read_bytes())
                     for f in sorted(folder.iterdir()) if not f.name.startswith((".", "_"))]
                    or [spec.arrow_schema().empty_table()])
            for name, value in zip(spec.partition_names, values):
                data = data.append_column(name, pa.array([value] * data.num_rows, pa.string()))
            pieces.append(data)
        if not pieces:
            schema = spec.arrow_schema()
            for name in spec.partition_names:
                schema = schema.append(pa.field(name, pa.string()))
            return schema.empty_table()
        return pa.concat_tables(pieces)

    def _partitions(self, spec):
        """(folder, partition values) of every partition of a table, in order."""
        level = [(self.table_dir(spec.name), [])]
        for col in spec.partitions:
            level = [(d, values + [d.name.split("=", 1)[1]])
                     for base, values in level if base.is_dir()
                     for d in sorted(base.glob(f"{col.name}=*")) if d.is_dir()]
        return level

    # --- the layout version ---------------------------------------------

    def _ensure_layout(self):
        """Record the layout version; migrate a version-1 warehouse first."""
        if self._checked:
            return
        marker = self.db_dir / VERSION_FILE
        if marker.exists():
            version = int(marker.read_text().strip() or 1)
        else:
            version = 1 if self.db_dir.is_dir() and any(self.db_dir.iterdir()) else 2
        if version > self.warehouse.version:
            raise ValueError(f"{self.db_dir} was written by a newer mrlinreg (layout "
                             f"{version}); upgrade mrlinreg to read it")
        if version == 1:
            self._migrate_from_v1()
        self.db_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text(f"{self.warehouse.version}\n")
        self._checked = True

    def _migrate_from_v1(self):
        """Version 1 kept ``models.features`` as JSON text and predictions as Parquet in
        ``predictions/run_id=<id>/part-0.parquet``: rewrite both in the new layout."""
        models = self.table_dir("models")
        spec = self.warehouse.table("models")
        for folder in sorted(models.glob("run_id=*")) if models.is_dir() else []:
            old = pq.read_table(folder / PART_FILE)
            if pa.types.is_string(old.schema.field("features").type):
                rows = old.to_pylist()
                for row in rows:
                    row["features"] = json.loads(row["features"])
                self._replace(folder, {PART_FILE: _parquet(spec, rows)})
        predictions = self.table_dir("predictions")
        pspec = self.warehouse.table("predictions")
        for folder in sorted(predictions.glob("run_id=*")) if predictions.is_dir() else []:
            legacy = folder / PART_FILE
            if not legacy.exists():
                continue
            rows = pq.read_table(legacy).to_pylist()
            text = prediction_text(pspec, [{**r, "row_id": r.get("row_id")} for r in rows])
            self._replace(folder, lambda staging, text=text: (
                (staging / f"batch={LEGACY_BATCH}").mkdir(),
                (staging / f"batch={LEGACY_BATCH}" / "part-00000").write_bytes(text)))


def _parquet(spec, rows) -> bytes:
    import io

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=spec.arrow_schema()), buf)
    return buf.getvalue()


def _fsync(path):
    if path.is_dir():
        for child in path.iterdir():
            _fsync(child)
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
