"""Where a table's data lives: its location, storage format, columns and partitions.

``--hive-table db.table`` is resolved here, then the job reads the files itself.
Two catalogs answer the same questions:

* :class:`HiveTableCatalog` asks HiveServer2 (the connection the results store
  uses, :mod:`mrlinreg.config` ``[hive]``): ``DESCRIBE FORMATTED db.t`` (columns,
  partition columns, location, input format), ``SHOW PARTITIONS db.t`` and, for
  each partition chosen, ``DESCRIBE FORMATTED db.t PARTITION (...)`` (a partition
  may have its own location and format).  Names are validated identifiers and
  partition values are escaped string literals: no user text reaches HiveQL
  unchecked.
* :class:`LocalTableCatalog` reads the local warehouse laid out like Hive's
  (``<root>/<db>.db/<table>/<col>=<value>/...``, :mod:`mrlinreg.storage.local_results`):
  partition columns come from the folder names, the columns from the files.
"""

from __future__ import annotations

import logging
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from mrlinreg.schema import _string_literal, quote_name, validate_sql_name
from mrlinreg.storage.connection import HeldConnection
from mrlinreg.storage.errors import StorageError
from mrlinreg.storage.hive_results import _pyhive_connect
from mrlinreg.storage.retry import retry_settings, with_retries

log = logging.getLogger(__name__)
DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"


class TableNotFoundError(StorageError):
    """The catalog has no such table."""


@dataclass(frozen=True)
class TablePart:
    """One partition (or the whole of an unpartitioned table)."""

    values: dict        # partition column -> value text (None: Hive's default partition)
    location: str
    stored_as: str | None  # PARQUET, ORC, TEXTFILE, another input format, or None: unknown


@dataclass(frozen=True)
class TableLayout:
    database: str
    table: str
    columns: list           # [(name, hive type)] of the data columns; None: from the files
    partition_columns: list  # [(name, hive type)]
    location: str
    stored_as: str | None
    partitions: list = field(default_factory=list)  # of dict name -> value text


def storage_format(input_format: str | None, serde: str | None = None) -> str | None:
    """PARQUET / ORC / TEXTFILE from a table's InputFormat (or SerDe) class name."""
    text = f"{input_format or ''} {serde or ''}".lower()
    if "parquet" in text:
        return "PARQUET"
    if "orc" in text:
        return "ORC"
    if "textinputformat" in text or "lazysimpleserde" in text:
        return "TEXTFILE"
    return (input_format or serde or "").strip() or None


def parse_describe_formatted(rows) -> tuple:
    """``DESCRIBE FORMATTED`` rows -> ``(columns, partition_columns, info)``: columns as
    ``[(name, type)]`` (lower case), ``info`` the ``Key:`` rows (``location``,
    ``inputformat``, ``serde library``, ...)."""
    columns, partitions, info = [], [], {}
    section = "columns"
    for row in rows:
        name = (row[0] or "").strip()
        value = (row[1] or "").strip() if len(row) > 1 and row[1] is not None else ""
        if name.startswith("# Partition"):
            section = "partitions"
            continue
        if name.startswith("# Detailed") or name.startswith("# Storage") or \
                name.startswith("# Constraints"):
            section = "info"
            continue
        if name.startswith("#"):
            continue
        if not name:
            if section in ("columns", "partitions") and (columns or partitions):
                section = "gap"  # the blank row after a column list
            continue
        if section == "columns":
            columns.append((name.lower(), value.lower()))
        elif section == "partitions":
            partitions.append((name.lower(), value.lower()))
        elif name.endswith(":"):
            info[name[:-1].strip().lower()] = value
    part_names = {n for n, _ in partitions}
    return [c for c in columns if c[0] not in part_names], partitions, info


def parse_partition_name(text: str) -> dict:
    """``a=1/b=x%2Fy`` (``SHOW PARTITIONS``, folder names) -> ``{"a": "1", "b": "x/y"}``;
    Hive's default partition gives None."""
    out = {}
    for piece in text.strip().split("/"):
        key, _, value = piece.partition("=")
        value = urllib.parse.unquote(value)
        out[urllib.parse.unquote(key).lower()] = None if value == DEFAULT_PARTITION else value
    return out


class HiveTableCatalog(HeldConnection):
    """Tables' layouts from HiveServer2 (same connection settings as the results store)."""

    service = "Hive"

    def __init__(self, host="127.0.0.1", port=10000, *, username="mrlinreg", password="",
                 auth="NONE", timeout_s=30.0, retry=None, connect=_pyhive_connect):
        self.host, self.port = host, int(port)
        self.username, self.auth, self.timeout_s = username, auth.upper(), timeout_s
        self._password, self.retry, self._connect = password, dict(retry or {}), connect
        self._conn = None
        self._depth = 0

    @classmethod
    def from_config(cls, config):
        h = config.hive
        return cls(host=h.host, port=h.port, username=h.username, password=h.password,
                   auth=h.auth, timeout_s=h.timeout_s, retry=retry_settings(config))

    def _query(self, sql):
        def attempt():
            try:
                if self._conn is None:
                    self._conn = self._connect(host=self.host, port=self.port,
                                               username=self.username, database="default",
                                               auth=self.auth, password=self._password,
                                               timeout_s=self.timeout_s)
                cursor = self._conn.cursor()
                try:
                    cursor.execute(sql)
                    return cursor.fetchall()
                finally:
                    cursor.close()
            finally:
                if self._depth == 0:
                    self._close()
        try:
            return with_retries(attempt, service=self.service, address=self.address,
                                secrets=(self._password,), **self.retry)
        except StorageError:
            raise
        except Exception as exc:  # pyhive.exc.*: the server refused the statement
            text = str(exc).replace(self._password, "***") if self._password else str(exc)
            if "Table not found" in text or "TABLE_NOT_FOUND" in text or \
                    "Database does not exist" in text or "not found" in text.lower():
                raise TableNotFoundError(f"table not found: {text[:300]}") from None
            raise StorageError(f"Hive at {self.address} rejected a statement: "
                               f"{type(exc).__name__}: {text[:500]}") from None

    def layout(self, database: str, table: str) -> TableLayout:
        target = f"{quote_name(validate_sql_name(database, 'database'))}." \
                 f"{quote_name(validate_sql_name(table, 'table'))}"
        with self:
            columns, partition_columns, info = parse_describe_formatted(
                self._query(f"DESCRIBE FORMATTED {target}"))
            parts = []
            if partition_columns:
                parts = [parse_partition_name(r[0])
                         for r in self._query(f"SHOW PARTITIONS {target}")]
        return TableLayout(database, table, columns, partition_columns,
                           info.get("location", ""),
                           storage_format(info.get("inputformat"), info.get("serde library")),
                           parts)

    def partition(self, layout: TableLayout, values: dict) -> TablePart:
        """The location and format of one partition (from ``SHOW PARTITIONS``' values)."""
        if not layout.partition_columns:
            return TablePart({}, layout.location, layout.stored_as)
        target = f"{quote_name(layout.database)}.{quote_name(layout.table)}"
        spec = ", ".join(
            f"{quote_name(name)}="
            f"{_string_literal(DEFAULT_PARTITION if values[name] is None else values[name])}"
            for name, _ in layout.partition_columns)
        _, _, info = parse_describe_formatted(
            self._query(f"DESCRIBE FORMATTED {target} PARTITION ({spec})"))
        return TablePart(values, info.get("location", ""),
                         storage_format(info.get("inputformat"), info.get("serde library"))
                         or layout.stored_as)


class LocalTableCatalog:
    """Tables of the local warehouse: ``<root>/<db>.db/<table>/<col>=<value>/...``."""

    def __init__(self, root):
        self.root = Path(root)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def _folder(self, database, table) -> Path:
        return self.root / f"{validate_sql_name(database, 'database')}.db" / \
            validate_sql_name(table, "table")

    def layout(self, database: str, table: str) -> TableLayout:
        folder = self._folder(database, table)
        if not folder.is_dir():
            raise TableNotFoundError(f"table {database}.{table} not found in the local "
                                     f"warehouse (no folder {folder})")
        names, parts, level = [], [], [(folder, {})]
        while True:  # descend while every sub-folder is a <col>=<value> folder
            subs = [(base, d, values) for base, values in level for d in sorted(base.iterdir())
                    if d.is_dir() and not d.name.startswith((".", "_")) and "=" in d.name]
            if not subs:
                break
            col = subs[0][1].name.split("=", 1)[0].lower()
            names.append(col)
            level = [(d, {**values, **parse_partition_name(d.name)}) for _, d, values in subs]
        parts = [values for _, values in level] if names else []
        types = []
        for name in names:
            vals = [p.get(name) for p in parts if p.get(name) is not None]
            types.append((name, "double" if vals and all(_is_number(v) for v in vals)
                          else "string"))
        return TableLayout(database, table, None, types, str(folder), None, parts)

    def partition(self, layout: TableLayout, values: dict) -> TablePart:
        path = Path(layout.location)
        for name, _ in layout.partition_columns:
            value = values[name]
            path = path / f"{name}={DEFAULT_PARTITION if value is None else value}"
        return TablePart(values, str(path), None)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
