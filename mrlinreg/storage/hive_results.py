"""Results in Hive (or anything speaking the HiveServer2 protocol), via PyHive.

Each run is one partition ``run_id='<id>'`` of every table.  Publishing writes

    INSERT OVERWRITE TABLE `db`.`t` PARTITION (`run_id`='<id>')
    SELECT stack(n, <literals>...) AS (`col`, ...)

so a run published again replaces its rows.  A table a run has no rows for
gets ``ALTER TABLE ... DROP IF EXISTS PARTITION``.  More rows than
``batch_rows`` go in several statements (the first ``OVERWRITE``, the rest
``INSERT INTO``), which is not atomic: a failure between them leaves part of
the partition, and the retry or the next publish overwrites it again.

Identifiers are validated (:mod:`mrlinreg.schema`) and backquoted; values
are rendered by :func:`mrlinreg.schema.hive_literal`.  The database and
tables are created when missing; a table whose columns differ from
``schemas/warehouse.yaml`` is a :class:`SchemaMismatchError` naming the
differences.
"""

from __future__ import annotations

import datetime as dt
import logging

import pyarrow as pa

from mrlinreg.schema import (column_differences, create_database_ddl, create_table_ddl,
                             hive_literal, load_warehouse, parse_describe, quote_name,
                             validate_key_name, validate_sql_name)
from mrlinreg.storage.connection import HeldConnection
from mrlinreg.storage.errors import SchemaMismatchError, StorageError
from mrlinreg.storage.records import (RECORD_TABLES, check_rows, checked_record_rows,
                                      parse_timestamp, prediction_rows)
from mrlinreg.storage.retry import UNREACHABLE, retry_settings, with_retries

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
    batch_rows : int
        Rows per INSERT statement.
    connect : callable, optional
        Replaces :func:`_pyhive_connect` (tests).
    """

    service = "Hive"

    def __init__(self, host="127.0.0.1", port=10000, database="linreg", *,
                 username="mrlinreg", password="", auth="NONE", timeout_s=30.0,
                 retry=None, batch_rows=500, warehouse=None, connect=_pyhive_connect):
        self.host, self.port = host, int(port)
        self.database = validate_sql_name(database, "database")
        self.username, self.auth, self.timeout_s = username, auth.upper(), timeout_s
        self._password = password
        self.retry = dict(retry or {})
        self.batch_rows = int(batch_rows)
        self.warehouse = warehouse or load_warehouse()
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
                      retry=retry_settings(config))
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
                cursor.execute(create_table_ddl(self.warehouse, table, self.database))
                continue
            cursor.execute(f"DESCRIBE {quote_name(self.database)}.{quote_name(name)}")
            columns, partitions = parse_describe(cursor.fetchall())
            diffs = column_differences(table, self.warehouse.partition, columns, partitions)
            if diffs:
                problems.append(f"{self.database}.{name}: " + "; ".join(diffs))
        if problems:
            raise SchemaMismatchError(
                "Hive tables differ from schemas/warehouse.yaml:\n  " + "\n  ".join(problems)
                + "\nMigrate them (ALTER TABLE ...), or publish to another database "
                  "([hive] database / MRLINREG_HIVE_DATABASE).")

    # --- writing --------------------------------------------------------

    def _partition_clause(self, run_id):
        part = self.warehouse.partition
        return (f"PARTITION ({quote_name(part.name)}="
                f"{hive_literal(validate_key_name(run_id, 'run_id'), part.type)})")

    def statements(self, table, run_id, rows):
        """The HiveQL that replaces ``run_id``'s partition of ``table`` by ``rows``."""
        spec = self.warehouse.table(table)
        target = f"{quote_name(self.database)}.{quote_name(table)}"
        partition = self._partition_clause(run_id)
        if not rows:
            return [f"ALTER TABLE {target} DROP IF EXISTS {partition}"]
        names = ", ".join(quote_name(c.name) for c in spec.columns)
        out = []
        for start in range(0, len(rows), self.batch_rows):
            chunk = rows[start:start + self.batch_rows]
            values = ",\n  ".join(
                ", ".join(hive_literal(row[c.name], c.type) for c in spec.columns)
                for row in chunk)
            verb = "INSERT OVERWRITE TABLE" if start == 0 else "INSERT INTO TABLE"
            out.append(f"{verb} {target} {partition}\n"
                       f"SELECT stack({len(chunk)},\n  {values}) AS ({names})")
        return out

    def _write(self, plan):
        def work(cursor):
            for sql in plan:
                cursor.execute(sql)
        self._run(work)

    def publish(self, record):
        run_id, rows = checked_record_rows(record, self.warehouse)
        plan = []
        for table in RECORD_TABLES[1:] + RECORD_TABLES[:1]:  # models last
            plan += self.statements(table, run_id, rows[table])
        self._write(plan)

    def publish_predictions(self, run_id, table_of_rows):
        validate_key_name(run_id, "run_id")
        rows = check_rows(self.warehouse.table("predictions"),
                          prediction_rows(table_of_rows), f"run {run_id}: ")
        self._write(self.statements("predictions", run_id, rows))

    # --- reading --------------------------------------------------------

    def read_table(self, table, run_id=None):
        spec = self.warehouse.table(table)
        part = self.warehouse.partition.name
        names = [c.name for c in spec.columns] + [part]
        sql = (f"SELECT {', '.join(quote_name(n) for n in names)} FROM "
               f"{quote_name(self.database)}.{quote_name(table)}")
        if run_id is not None:
            run = hive_literal(validate_key_name(run_id, "run_id"), "STRING")
            sql += f" WHERE {quote_name(part)}={run}"

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
        schema = spec.arrow_schema().append(pa.field(part, pa.string()))
        return pa.table(columns, schema=schema)
