"""The files under a Hive table's partitions, written over WebHDFS.

The results stores write a partition's files into a fresh folder, then point the
partition at it; these helpers are the file half: write a file, list a folder's
sub-folders, delete one.  WebHDFS (the ``hdfs`` library, HTTP to the NameNode) costs
no JVM start per call, unlike ``hadoop fs``.  Paths are ``hdfs://host:port/path``
URIs built from validated names only.
"""

from __future__ import annotations

import io
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mrlinreg.records import PREDICTION_COLUMNS, TEXT_NULL
from mrlinreg.storage.errors import InvalidRecordError


def hdfs_path(uri: str) -> str:
    """``hdfs://host:port/a/b`` -> ``/a/b`` (WebHDFS takes the path alone)."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("hdfs", ""):
        raise ValueError(f"not an hdfs:// URI: {uri}")
    return parsed.path or "/"


class WebHdfsFiles:
    """Write, list and delete under ``hdfs://`` through WebHDFS."""

    def __init__(self, url, user, client=None):
        if client is None:
            from hdfs import InsecureClient

            client = InsecureClient(url, user=user)
        self.client = client

    def write(self, uri: str, data: bytes) -> None:
        self.client.write(hdfs_path(uri), data=data, overwrite=True)

    def subfolders(self, uri: str) -> list:
        """Names of the folders directly under ``uri`` ([] if it does not exist)."""
        listing = self.client.list(hdfs_path(uri), status=True) \
            if self.client.status(hdfs_path(uri), strict=False) else []
        return sorted(name for name, st in listing if st.get("type") == "DIRECTORY")

    def delete(self, uri: str) -> None:
        self.client.delete(hdfs_path(uri), recursive=True)


def parquet_bytes(table_spec, rows) -> bytes:
    """Rows (dicts of checked values) as one Parquet file of the table's columns.

    Timestamps are written as INT96, the encoding every Hive version reads as a UTC
    instant; everything else is Parquet's own type.
    """
    data = pa.Table.from_pylist(rows, schema=table_spec.arrow_schema())
    buf = io.BytesIO()
    pq.write_table(data, buf, use_deprecated_int96_timestamps=True)
    return buf.getvalue()


def prediction_text(table_spec, rows) -> bytes:
    """Prediction rows (dicts) as the ``predictions`` table's text (one line each)."""
    columns = {c: [r.get(c) for r in rows] for c in PREDICTION_COLUMNS}
    n = len(rows)
    text = {}
    for col in table_spec.columns:
        values = columns[col.name]
        arr = pa.array(values, col.arrow_type)
        if col.type != "STRING":
            arr = arr.cast(pa.string())
        arr = pa.array([TEXT_NULL if v is None else v for v in arr.to_pylist()], pa.string())
        text[col.name] = arr
    for name, arr in text.items():
        if any(c in v for v in arr.to_pylist() if v is not None for c in "\t\n\r"):
            raise InvalidRecordError(f"predictions column {name}: a value holds a tab or a "
                                     "line break, which the table's text files cannot store")
    buf = io.BytesIO()
    if n:
        pacsv.write_csv(pa.table(text), buf, pacsv.WriteOptions(
            include_header=False, delimiter=table_spec.field_delimiter, quoting_style="none"))
    return buf.getvalue()


def read_prediction_text(table_spec, data: bytes) -> pa.Table:
    """Parse the ``predictions`` table's text back into typed columns."""
    names = [c.name for c in table_spec.columns]
    if not data:
        return table_spec.arrow_schema().empty_table()
    return pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=names),
        parse_options=pacsv.ParseOptions(delimiter=table_spec.field_delimiter,
                                         quote_char=False),
        convert_options=pacsv.ConvertOptions(
            column_types={c.name: c.arrow_type for c in table_spec.columns},
            null_values=[TEXT_NULL, ""], strings_can_be_null=True))
