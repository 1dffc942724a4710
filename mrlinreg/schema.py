"""Read ``schemas/warehouse.yaml``: the results tables and the snapshot table.

Everything that names a column, a Hive type or an HBase column family reads
it from here, so the YAML is the only place a column is written down.  This
module also holds what turns that description into HiveQL (``CREATE`` DDL,
literals) and into pyarrow schemas, and the strict validation of every
identifier that reaches HiveQL or HBase.

Identifiers are never quoted-and-hoped: database and table names must match
:data:`SQL_NAME`, model names and run ids :data:`KEY_NAME`, or a
:class:`InvalidIdentifierError` says what is allowed.  Values are rendered by
:func:`hive_literal`, which escapes strings and passes numbers through
``CAST('<repr>' AS DOUBLE)`` so a float reaches Hive exactly.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from functools import lru_cache

import pyarrow as pa
import yaml

from mrlinreg.resources import resource_path

SCHEMA_PATH = resource_path("schemas", "warehouse.yaml")

#: Hive database, table and column names.
SQL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
#: Model names and run ids: they become Hive partition values, HBase row-key
#: parts and file names, so no separators (``#``, ``/``, ``=``), no spaces.
KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")

HIVE_TO_ARROW = {
    "STRING": pa.string(),
    "BOOLEAN": pa.bool_(),
    "INT": pa.int32(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"),
    "ARRAY<STRING>": pa.list_(pa.string()),
}
STORAGE_FORMATS = ("PARQUET", "TEXTFILE")
SCHEMA_VERSION = 2


class SchemaError(ValueError):
    """``warehouse.yaml`` itself is malformed."""


class InvalidIdentifierError(ValueError):
    """A name that would reach HiveQL, HBase or a path is not allowed."""


def validate_sql_name(name, what="name"):
    """Return ``name`` if it is a plain SQL identifier, else raise.

    Parameters
    ----------
    name : str
    what : str
        What the name is, for the message ("database", "table", ...).
    """
    if not isinstance(name, str) or not SQL_NAME.fullmatch(name):
        raise InvalidIdentifierError(
            f"invalid {what} {name!r}: use letters, digits and '_' "
            f"(not starting with a digit), at most 128 characters")
    return name


def validate_key_name(name, what="name"):
    """Return ``name`` if it is a valid model name or run id, else raise."""
    if not isinstance(name, str) or not KEY_NAME.fullmatch(name):
        raise InvalidIdentifierError(
            f"invalid {what} {name!r}: use letters, digits, '_', '.' and '-' "
            f"(starting with a letter or digit), at most 128 characters")
    return name


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = True
    comment: str = ""

    @property
    def arrow_type(self):
        return HIVE_TO_ARROW[self.type]


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple  # of Column, partition columns excluded
    comment: str = ""
    partitions: tuple = ()  # of Column: run_id first, then the table's own
    stored_as: str = "PARQUET"
    field_delimiter: str | None = None  # TEXTFILE only

    @property
    def partition_names(self):
        return [c.name for c in self.partitions]

    @property
    def column_names(self):
        return [c.name for c in self.columns]

    def arrow_schema(self):
        """pyarrow schema of the data files (the partition column is in the path)."""
        return pa.schema([pa.field(c.name, c.arrow_type, nullable=c.nullable)
                          for c in self.columns])


@dataclass(frozen=True)
class Warehouse:
    database: str
    version: int
    partition: Column
    tables: dict  # name -> Table
    hbase_snapshot_table: str
    hbase_families: dict  # family -> options dict for happybase.create_table

    def table(self, name):
        try:
            return self.tables[name]
        except KeyError:
            raise SchemaError(f"no table {name!r} in {SCHEMA_PATH.name}; "
                              f"known: {', '.join(self.tables)}") from None


def _column(raw, where):
    try:
        col = Column(name=validate_sql_name(raw["name"], f"column in {where}"),
                     type=str(raw["type"]).upper(),
                     nullable=bool(raw.get("nullable", True)),
                     comment=str(raw.get("comment", "")))
    except (KeyError, TypeError) as exc:
        raise SchemaError(f"{where}: each column needs a name and a type ({exc})") from None
    if col.type not in HIVE_TO_ARROW:
        raise SchemaError(f"{where}.{col.name}: type {col.type} is not one of "
                          f"{', '.join(HIVE_TO_ARROW)}")
    return col


def parse_warehouse(doc):
    """Build a :class:`Warehouse` from the parsed YAML document."""
    try:
        hive, hbase = doc["hive"], doc["hbase"]["snapshots"]
        partition = _column(hive["partition"], "hive.partition")
        tables = {}
        for name, raw in hive["tables"].items():
            validate_sql_name(name, "table")
            where = f"hive.tables.{name}"
            cols = tuple(_column(c, where) for c in raw["columns"])
            parts = (partition,) + tuple(_column(c, f"{where}.partitions")
                                         for c in raw.get("partitions") or ())
            overlap = {c.name for c in parts} & {c.name for c in cols}
            if overlap:
                raise SchemaError(f"{where}: {', '.join(sorted(overlap))} are partition "
                                  f"columns; do not list them among the columns")
            stored_as = str(raw.get("stored_as", "PARQUET")).upper()
            if stored_as not in STORAGE_FORMATS:
                raise SchemaError(f"{where}: stored_as must be one of "
                                  f"{', '.join(STORAGE_FORMATS)}")
            delimiter = raw.get("field_delimiter")
            if (stored_as == "TEXTFILE") != (delimiter is not None) or \
                    (delimiter is not None and len(delimiter) != 1):
                raise SchemaError(f"{where}: a TEXTFILE table needs a one-character "
                                  f"field_delimiter (and only a TEXTFILE table has one)")
            tables[name] = Table(name, cols, str(raw.get("comment", "")), parts, stored_as,
                                 delimiter)
        families = {}
        for fam, opts in hbase["families"].items():
            validate_sql_name(fam, "column family")
            families[fam] = {k: v for k, v in (opts or {}).items() if k != "comment"}
        return Warehouse(
            database=validate_sql_name(hive["database"], "database"),
            version=int(doc.get("version", 1)),
            partition=partition,
            tables=tables,
            hbase_snapshot_table=validate_sql_name(hbase["table"], "HBase table"),
            hbase_families=families,
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise SchemaError(f"{SCHEMA_PATH}: missing or malformed entry ({exc!r})") from None


@lru_cache(maxsize=4)
def load_warehouse(path=SCHEMA_PATH):
    """Read and validate the warehouse schema (cached)."""
    with open(path, encoding="utf-8") as fh:
        return parse_warehouse(yaml.safe_load(fh))


# --- HiveQL ---------------------------------------------------------------

def quote_name(name):
    """Backquote an already validated SQL identifier."""
    return f"`{validate_sql_name(name)}`"


def _string_literal(text):
    if "\x00" in text:
        raise ValueError("strings sent to Hive may not contain NUL characters")
    escaped = (text.replace("\\", "\\\\").replace("'", "\\'")
               .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
    return f"'{escaped}'"


def hive_literal(value, hive_type):
    """Render one value as a HiveQL literal of ``hive_type``.

    Strings are escaped (backslash, quote, newline); doubles go through
    ``CAST('<repr>' AS DOUBLE)`` (``repr`` round-trips exactly, and parsing a
    string avoids Spark's decimal literals); non-finite numbers are refused.
    """
    if value is None:
        return f"CAST(NULL AS {hive_type})"
    if hive_type == "STRING":
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {type(value).__name__}")
        return _string_literal(value)
    if hive_type == "BOOLEAN":
        if not isinstance(value, bool):
            raise TypeError(f"expected a bool, got {type(value).__name__}")
        return "TRUE" if value else "FALSE"
    if hive_type in ("INT", "BIGINT"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"expected an integer, got {value!r}")
        return f"CAST({int(value)} AS {hive_type})"
    if hive_type == "DOUBLE":
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"non-finite number {value!r} cannot be stored")
        return f"CAST('{number!r}' AS DOUBLE)"
    if hive_type == "TIMESTAMP":
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        utc = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return f"CAST('{utc.isoformat(sep=' ', timespec='microseconds')}' AS TIMESTAMP)"
    raise SchemaError(f"unknown Hive type {hive_type}")


def create_database_ddl(database):
    return f"CREATE DATABASE IF NOT EXISTS {quote_name(database)}"


def _column_list(columns):
    return ",\n".join(f"  {quote_name(c.name)} {c.type}"
                      + (f" COMMENT {_string_literal(c.comment)}" if c.comment else "")
                      for c in columns)


def create_table_ddl(warehouse, table, database, location=None):
    """``CREATE EXTERNAL TABLE IF NOT EXISTS`` for one results table.

    External, so dropping the table never deletes a run's files; ``location`` (a URI
    the caller built from validated names) is where its partitions' folders go.
    """
    if isinstance(table, str):
        table = warehouse.table(table)
    parts = ", ".join(f"{quote_name(c.name)} {c.type}"
                      + (f" COMMENT {_string_literal(c.comment)}" if c.comment else "")
                      for c in table.partitions)
    row_format = ""
    if table.stored_as == "TEXTFILE":
        row_format = (f"\nROW FORMAT DELIMITED FIELDS TERMINATED BY "
                      f"{_string_literal(table.field_delimiter)}")
    return (f"CREATE EXTERNAL TABLE IF NOT EXISTS "
            f"{quote_name(database)}.{quote_name(table.name)} (\n{_column_list(table.columns)}\n)"
            + (f"\nCOMMENT {_string_literal(table.comment)}" if table.comment else "")
            + f"\nPARTITIONED BY ({parts})"
            + row_format
            + f"\nSTORED AS {table.stored_as}"
            + (f"\nLOCATION {_string_literal(location)}" if location else ""))


def parse_describe(rows):
    """Split ``DESCRIBE`` output into ``(columns, partition_columns)``.

    Each is a list of ``(name, type)`` in lower case.  Hive and Spark both list
    the partition columns among the columns, then again after a
    ``# Partition Information`` header.
    """
    columns, partitions = [], []
    section = columns
    for row in rows:
        name = (row[0] or "").strip()
        dtype = (row[1] or "").strip() if len(row) > 1 else ""
        if name.startswith("# Partition"):
            section = partitions
            continue
        if not name or name.startswith("#"):
            if section is partitions and partitions:
                break
            continue
        section.append((name.lower(), dtype.lower()))
    part_names = {n for n, _ in partitions}
    return [c for c in columns if c[0] not in part_names], partitions


def column_differences(table, actual_columns, actual_partitions):
    """Human-readable differences between a live table and the schema ([] if none)."""
    expected = {c.name.lower(): c.type.lower() for c in table.columns}
    actual = dict(actual_columns)
    problems = []
    missing = [f"{n} {t.upper()}" for n, t in expected.items() if n not in actual]
    extra = [f"{n} {t.upper()}" for n, t in actual.items() if n not in expected]
    changed = [f"{n} is {actual[n].upper()} (schema: {t.upper()})"
               for n, t in expected.items() if n in actual and actual[n] != t]
    if missing:
        problems.append("missing columns: " + ", ".join(missing))
    if extra:
        problems.append("columns not in the schema: " + ", ".join(extra))
    if changed:
        problems.append("types differ: " + "; ".join(changed))
    want = [c.name.lower() for c in table.partitions]
    if [n for n, _ in actual_partitions] != want:
        got = ", ".join(n for n, _ in actual_partitions) or "none"
        problems.append(f"partitioned by {got} (schema: {', '.join(want)})")
    if not missing and not extra and [n for n, _ in actual_columns] != list(expected):
        problems.append("column order differs")
    return problems


def added_columns(table, actual_columns, actual_partitions):
    """The schema's columns a live table lacks, when it lacks only nullable columns at
    the end (a later mrlinreg appended them): those columns, else None.

    Such a table is migrated in place with :func:`add_columns_ddl`; its older
    partitions' Parquet files lack the columns, and Hive reads them as null.
    """
    names = [n for n, _ in actual_columns]
    want = list(table.columns)
    if [n for n, _ in actual_partitions] != [c.name.lower() for c in table.partitions]:
        return None
    if len(names) >= len(want) or names != [c.name.lower() for c in want[:len(names)]]:
        return None
    if dict(actual_columns) != {c.name.lower(): c.type.lower() for c in want[:len(names)]}:
        return None
    extra = want[len(names):]
    return extra if all(c.nullable for c in extra) else None


def add_columns_ddl(table, database, columns):
    """``ALTER TABLE ... ADD COLUMNS`` for :func:`added_columns`."""
    return (f"ALTER TABLE {quote_name(database)}.{quote_name(table.name)} ADD COLUMNS (\n"
            f"{_column_list(columns)}\n)")

