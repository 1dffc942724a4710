"""Results in Apache Hive: files in HDFS, partitions registered, via PyHive.

Every table is EXTERNAL with its files under
``<warehouse_dir>/<database>.db/<table>/`` (``[hive] warehouse_dir``).  Publishing a
run writes each table's rows as one Parquet file (over WebHDFS) into a fresh folder
``<table>/run_id=<id>/<publish id>/``, then registers it::

    ALTER TABLE `db`.`t` ADD IF NOT EXISTS PARTITION (`run_id`='<id>') LOCATION '<folder>'
    ALTER TABLE `db`.`t` PARTITION (`run_id`='<id>') SET LOCATION '<folder>'

and finally removes the run's older folders.  So a publish costs a constant number of
statements whatever the row count, a partition switches from its old rows to its new
ones in one metastore update, and ``models`` is registered last: a run is visible
once its ``models`` row is (readers join on ``models``).  A table a run has no rows
for gets ``ALTER TABLE ... DROP IF EXISTS PARTITION``.

Predictions are written by the predict job's tasks straight into a folder of
``predictions/run_id=<id>/batch=<b>/`` (:meth:`HiveResultsStore.predictions_folder`),
then registered the same way (:meth:`register_predictions`): no row passes through
the driver.  Scoring the same input set again replaces its batch; other input sets
add batches.

Identifiers are validated (:mod:`mrlinreg.schema`) and backquoted; paths are built
from validated names only.  The database and tables are created when missing; a
table whose columns differ from ``schemas/warehouse.yaml`` is a
:class:`SchemaMismatchError` naming the differences and how to migrate.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid

import pyarrow as pa

from mrlinreg.schema import (add_columns_ddl, added_columns, column_differences,
                             create_database_ddl, create_table_ddl,
                             hive_literal, load_warehouse, parse_describe, quote_name,
                             validate_key_name, validate_sql_name)
from mrlinreg.storage.connection import HeldConnection
from mrlinreg.storage.errors import SchemaMismatchError, StorageError
from mrlinreg.storage.records import (check_rows, checked_record_rows, curve_rows,
                                      parse_timestamp, prediction_rows, publish_order)
from mrlinreg.storage.retry import UNREACHABLE, retry_settings, with_retries
from mrlinreg.storage.warehouse_files import WebHdfsFiles, parquet_bytes, prediction_text

log = logging.getLogger(__name__)
# thrift logs every refused connection at ERROR; with_retries reports them once, better.
logging.getLogger("thrift.transport.TSocket").setLevel(logging.CRITICAL)


def _pyhive_connect(host, port, username, database, auth, password=None, timeout_s=None):
    """``pyhive.hive.connect``, with ``timeout_s`` bounding the connection and handshake.

    Only reaching the server is bounded: a long statement may legitimately keep
    it silent for minutes, so the socket timeout is lifted once the session is open.
    """
    from pyhive import hive
    if auth == "KERBEROS":  # PyHive builds the GSSAPI transport itself
        return hive.connect(host=host, port=port, username=username, database=database,
                            auth=auth, kerberos_service_name="hive")
    from thrift.transport.TSocket import TSocket
    socket = TSocket(host, port)
    socket.setTimeout(timeout_s * 1000 if timeout_s else None)
    if auth == "NOSASL":
        from thrift.transport.TTransport import TBufferedTransport
        transport = TBufferedTransport(socket)
    else:
        import thrift_sasl
        secret = password if auth in ("LDAP", "CUSTOM") else "x"  # NONE: any non-empty
        transport = thrift_sasl.TSaslClientTransport(
            lambda: hive.get_installed_sasl(host=host, sasl_auth="PLAIN", username=username,
                                            password=secret), "PLAIN", socket)
    connection = hive.connect(thrift_transport=transport, username=username,
                              database=database)
    socket.setTimeout(None)
    return connection


class HiveResultsStore(HeldConnection):
    """Results tables in Hive.

    Parameters
    ----------
    host, port : str, int
    database : str
        Created when missing.
    username, password, auth : str
        As for PyHive ``hive.connect``; the password is sent only with
        ``auth`` LDAP or CUSTOM and never logged.
    timeout_s : float
        Bound on reaching the server (not on running a statement).
    retry : dict, optional
        Keyword arguments for :func:`~mrlinreg.storage.retry.with_retries`
        (attempts, base_delay_s, max_delay_s).
    warehouse_dir : str
        ``hdfs://`` folder holding ``<database>.db/<table>/`` of every table.
    files : WebHdfsFiles, optional
        Writes the partitions' files (default: WebHDFS at ``webhdfs_url``).
    connect : callable, optional
        Replaces :func:`_pyhive_connect` (tests).
    """

    service = "Hive"

    def __init__(self, host="127.0.0.1", port=10000, database="linreg", *,
                 username="mrlinreg", password="", auth="NONE", timeout_s=30.0,
                 retry=None, warehouse=None, connect=_pyhive_connect,
                 warehouse_dir="hdfs://127.0.0.1:8020/user/mrlinreg/warehouse",
                 files=None, webhdfs_url="http://127.0.0.1:9870", hdfs_user="mrlinreg"):
        self.host, self.port = host, int(port)
        self.database = validate_sql_name(database, "database")
        self.username, self.auth, self.timeout_s = username, auth.upper(), timeout_s
        self._password = password
        self.retry = dict(retry or {})
        self.warehouse = warehouse or load_warehouse()
        self.warehouse_dir = warehouse_dir.rstrip("/")
        self._files, self._files_args = files, (webhdfs_url, hdfs_user)
        self._connect = connect
        self._conn = None
        self._depth = 0
        self._schema_checked = False

    @classmethod
    def from_config(cls, config, **overrides):
        """A store for ``config.hive``; keyword ``overrides`` win (e.g. database)."""
        h = config.hive
        kwargs = dict(host=h.host, port=h.port, database=h.database, username=h.username,
                      password=h.password, auth=h.auth, timeout_s=h.timeout_s,
                      retry=retry_settings(config), warehouse_dir=h.warehouse_dir,
                      webhdfs_url=config.hdfs.url, hdfs_user=config.hdfs.user)
        return cls(**{**kwargs, **overrides})


    def __repr__(self):
        return f"HiveResultsStore({self.address!r}, database={self.database!r})"

    # --- connection -----------------------------------------------------


    def _open(self):
        if self._conn is None:
            self._conn = self._connect(host=self.host, port=self.port,
                                       username=self.username, database="default",
                                       auth=self.auth, password=self._password,
                                       timeout_s=self.timeout_s)
        return self._conn


    def _run(self, work):
        """Run ``work(cursor)`` with retries on connection failures."""
        def attempt():
            try:
                cursor = self._open().cursor()
                try:
                    if not self._schema_checked:
                        self._ensure_schema(cursor)
                        self._schema_checked = True
                    return work(cursor)
                finally:
                    try:
                        cursor.close()
                    except Exception:
                        pass
            except UNREACHABLE:
                self._close()  # reconnect on the next attempt
                raise
            finally:
                if self._depth == 0:
                    self._close()
        try:
            return with_retries(attempt, service=self.service, address=self.address,
                                secrets=(self._password,), **self.retry)
        except (StorageError, ValueError):
            raise
        except Exception as exc:  # pyhive.exc.* : the server refused a statement
            text = str(exc).replace(self._password, "***") if self._password else str(exc)
            raise StorageError(f"Hive at {self.address} rejected a statement: "
                               f"{type(exc).__name__}: {text}") from None

    # --- schema ---------------------------------------------------------

    def _ensure_schema(self, cursor):
        cursor.execute(create_database_ddl(self.database))
        cursor.execute(f"SHOW TABLES IN {quote_name(self.database)}")
        existing = {(row[1] if len(row) >= 2 else row[0]).lower()
                    for row in cursor.fetchall()}
        problems = []
        for name, table in self.warehouse.tables.items():
            if name.lower() not in existing:
                log.info("creating Hive table %s.%s", self.database, name)
                cursor.execute(create_table_ddl(self.warehouse, table, self.database,
                                                self.table_location(name)))
                continue
            cursor.execute(f"DESCRIBE {quote_name(self.database)}.{quote_name(name)}")
            columns, partitions = parse_describe(cursor.fetchall())
            added = added_columns(table, columns, partitions)
            if added:  # nullable columns a later mrlinreg appended: added in place
                log.info("adding columns %s to Hive table %s.%s",
                         ", ".join(c.name for c in added), self.database, name)
                cursor.execute(add_columns_ddl(table, self.database, added))
                continue
            diffs = column_differences(table, columns, partitions)
            if diffs:
                problems.append(f"{self.database}.{name}: " + "; ".join(diffs))
        if problems:
            db = quote_name(self.database)
            raise SchemaMismatchError(
                "Hive tables differ from schemas/warehouse.yaml (version "
                f"{self.warehouse.version}):\n  " + "\n  ".join(problems)
                + "\nA warehouse of an earlier mrlinreg (managed tables, `features` as a "
                  "JSON string, predictions without batches) is not changed in place. "
                  f"Migrate: rename its tables (ALTER TABLE {db}.`models` RENAME TO "
                  f"{db}.`models_v1`, and so for each table), let the next publish create "
                  "the new ones, and publish the old runs again from their model JSON files "
                  "(mrlinreg publish, or the outbox); or publish to another database "
                  "([hive] database / MRLINREG_HIVE_DATABASE).")

    # --- writing --------------------------------------------------------

    @property
    def files(self):
        if self._files is None:
            self._files = WebHdfsFiles(*self._files_args)
        return self._files

    def table_location(self, table):
        return (f"{self.warehouse_dir}/{validate_sql_name(self.database)}.db/"
                f"{validate_sql_name(table, 'table')}")

    def _partition(self, table, values):
        """``(PARTITION clause, folder)`` of one partition; values validated."""
        spec = self.warehouse.table(table)
        if len(values) != len(spec.partitions):
            raise ValueError(f"{table} is partitioned by {spec.partition_names}")
        values = [validate_key_name(v, c.name) for c, v in zip(spec.partitions, values)]
        clause = ", ".join(f"{quote_name(c.name)}={hive_literal(v, c.type)}"
                           for c, v in zip(spec.partitions, values))
        folder = "/".join(f"{c.name}={v}" for c, v in zip(spec.partitions, values))
        return f"PARTITION ({clause})", f"{self.table_location(table)}/{folder}"

    def register_statements(self, table, values, location):
        """The HiveQL that points one partition at ``location`` (None: drops it)."""
        target = f"{quote_name(self.database)}.{quote_name(table)}"
        clause, _ = self._partition(table, values)
        if location is None:
            return [f"ALTER TABLE {target} DROP IF EXISTS {clause}"]
        where = hive_literal(location, "STRING")
        return [f"ALTER TABLE {target} ADD IF NOT EXISTS {clause} LOCATION {where}",
                f"ALTER TABLE {target} {clause} SET LOCATION {where}"]

    def _new_folder(self, table, values):
        _, folder = self._partition(table, values)
        return f"{folder}/{uuid.uuid4().hex[:16]}"

    def _register(self, plans):
        """Run the statements of ``plans`` [(table, values, location)], in order, then
        delete each partition's folders other than its new one."""
        sql = [q for table, values, location in plans
               for q in self.register_statements(table, values, location)]

        def work(cursor):
            for q in sql:
                cursor.execute(q)
        self._run(work)
        for table, values, location in plans:
            _, folder = self._partition(table, values)
            keep = location.rsplit("/", 1)[1] if location else None
            try:
                for name in self.files.subfolders(folder):
                    if name != keep:
                        self.files.delete(f"{folder}/{name}")
            except Exception as exc:  # noqa: BLE001 - the publish itself succeeded
                log.warning("could not remove old files under %s: %s", folder, exc)

    def publish(self, record):
        run_id, rows = checked_record_rows(record, self.warehouse)
        self._ensure()  # Hive first: the tables (and their folders) exist before any file
        plans = []
        for table in publish_order(rows):  # models last
            location = None
            if rows[table]:
                location = self._new_folder(table, [run_id])
                self._write_file(f"{location}/part-0.parquet",
                                 parquet_bytes(self.warehouse.table(table), rows[table]))
            plans.append((table, [run_id], location))
        self._register(plans)

    def publish_curve(self, curve):
        """Write a :class:`~mrlinreg.records.ValidationCurve` as the run's partition of
        ``validation_curves``: one Parquet file, then two statements."""
        run_id, rows = curve_rows(curve, self.warehouse)
        self._ensure()
        location = self._new_folder("validation_curves", [run_id])
        self._write_file(f"{location}/part-0.parquet",
                         parquet_bytes(self.warehouse.table("validation_curves"), rows))
        self._register([("validation_curves", [run_id], location)])

    def _write_file(self, uri, data):
        """Write one file; bytes are retried like any call, a stream only once (a retry
        could not replay what it already sent)."""
        retry = self.retry if isinstance(data, bytes) else {**self.retry, "attempts": 1}
        try:
            with_retries(lambda: self.files.write(uri, data), service="HDFS (WebHDFS)",
                         address=self._files_args[0], **retry)
        except StorageError:
            raise
        except Exception as exc:  # hdfs.util.HdfsError: the NameNode refused the write
            raise StorageError(f"HDFS refused writing {uri}: {type(exc).__name__}: "
                               f"{exc}") from None

    def _ensure(self):
        self._run(lambda cursor: None)  # creates or checks the schema once

    def predictions_folder(self, run_id, batch):
        """A new folder for the predict job to write one batch's text files into."""
        return self._new_folder("predictions", [run_id, batch])

    def register_predictions(self, run_id, batch, folder):
        """Point the (run, batch) partition at ``folder`` (written by the predict job)."""
        _, base = self._partition("predictions", [run_id, batch])
        if not folder.startswith(base + "/"):
            raise ValueError(f"{folder} is not a folder of predictions_folder()")
        self._ensure()
        self._register([("predictions", [run_id, batch], folder)])

    def write_predictions(self, run_id, batch, chunks):
        """Stream the predict job's text output (read back by the driver: runners that
        cannot write to HDFS themselves) into a new batch folder, then register it."""
        folder = self.predictions_folder(run_id, batch)
        self._write_file(f"{folder}/part-00000", chunks)
        self.register_predictions(run_id, batch, folder)

    def publish_predictions(self, run_id, batch, table_of_rows):
        """Write prediction rows (a few: tests, small scores) as one batch's file."""
        validate_key_name(run_id, "run_id")
        spec = self.warehouse.table("predictions")
        rows = check_rows(spec, prediction_rows(table_of_rows), f"run {run_id}: ")
        folder = self.predictions_folder(run_id, batch)
        self._write_file(f"{folder}/part-00000", prediction_text(spec, rows))
        self.register_predictions(run_id, batch, folder)

    # --- reading --------------------------------------------------------

    def read_table(self, table, run_id=None):
        spec = self.warehouse.table(table)
        names = [c.name for c in spec.columns] + spec.partition_names
        sql = (f"SELECT {', '.join(quote_name(n) for n in names)} FROM "
               f"{quote_name(self.database)}.{quote_name(table)}")
        if run_id is not None:
            run = hive_literal(validate_key_name(run_id, "run_id"), "STRING")
            sql += f" WHERE {quote_name(spec.partitions[0].name)}={run}"

        def work(cursor):
            cursor.execute(sql)
            return cursor.fetchall()
        rows = self._run(work)
        columns = {n: [r[i] for r in rows] for i, n in enumerate(names)}
        for c in spec.columns:
            if c.type == "TIMESTAMP":
                columns[c.name] = [None if v is None else
                                   parse_timestamp(v if isinstance(v, dt.datetime)
                                                   else str(v).replace(" ", "T"))
                                   for v in columns[c.name]]
            elif c.type == "ARRAY<STRING>":  # PyHive returns arrays as JSON text
                columns[c.name] = [None if v is None else
                                   (json.loads(v) if isinstance(v, str) else list(v))
                                   for v in columns[c.name]]
        schema = spec.arrow_schema()
        for name in spec.partition_names:
            schema = schema.append(pa.field(name, pa.string()))
        return pa.table(columns, schema=schema)
