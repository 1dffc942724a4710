"""Read Parquet and ORC files in bounded record batches, as numeric blocks.

The unit of work is one *row group* (Parquet) or *stripe* (ORC) of one file: the
driver lists every file's units from its footer and hands the tasks a manifest,
one line per unit (:class:`Unit`), so one large file spreads over several tasks.
A task reads its units through a seekable file object (a local file, or
:class:`RangeFile` over WebHDFS ``OPEN`` with ``offset`` and ``length``), asks
only for the columns the model needs (projection), and turns each record batch of
at most ``batch_rows`` rows into a float64 matrix with one vectorised pass:

* a null in any projected column makes the row bad, reason ``missing``;
* a NaN or an infinity, reason ``non_finite``; beyond ``max_magnitude``,
  ``out_of_range`` (as :func:`mrlinreg.parsing.parse_block` for text).

Integer, floating and decimal columns are read as float64 (integers and floats
by arrow's cast, decimals through their text so that they round exactly as the
text parser rounds the same digits); any other type is refused by the driver before
a pass, with :func:`numeric_type`.  Partition columns of a table have one value
per unit: they travel in the manifest line (``consts``) and become constant
columns of the unit's blocks.

Parquet batches come from ``ParquetFile.iter_batches`` without pre-buffering (pages
decoded as they stream through a 1 MiB buffer per column); an ORC stripe is read whole
(``ORCFile.read_stripe``: pyarrow has no finer reader) and cut into batches, so an ORC
task holds one stripe's projected columns.
"""

from __future__ import annotations

import io
import json
import posixpath
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

FORMATS = ("csv", "parquet", "orc")
INPUT_FORMATS = ("auto",) + FORMATS
PARQUET_MAGIC = b"PAR1"
ORC_MAGIC = b"ORC"
EXTENSIONS = {".parquet": "parquet", ".parq": "parquet", ".pq": "parquet", ".orc": "orc"}
MAGIC_BYTES = 4  # enough to tell the formats apart
STREAM_BUFFER = 1 << 20  # bytes read at once per Parquet column


class ColumnarError(ValueError):
    """A file that is not the Parquet/ORC it should be, or a column that cannot be read."""


def format_of(path: str, head: bytes, requested: str = "auto") -> str:
    """The format of a file: ``requested`` unless ``auto``; else its magic bytes, then its
    extension; else ``csv``.  A file named ``.parquet``/``.orc`` without the format's magic
    bytes is an error (a corrupt or mis-named file), never read as text."""
    if requested != "auto":
        return requested
    by_magic = ("parquet" if head.startswith(PARQUET_MAGIC) else
                "orc" if head.startswith(ORC_MAGIC) else None)
    by_name = EXTENSIONS.get(posixpath.splitext(path.lower())[1])
    if by_name and by_magic != by_name:
        raise ColumnarError(f"{path} is named like a {by_name} file but does not start "
                            f"with its magic bytes ({head[:4]!r}): a corrupt or mis-named file")
    return by_magic or "csv"


def numeric_type(t: pa.DataType) -> bool:
    """Can a column of this type be a feature or the label (cast to float64)?"""
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


# --- files ---------------------------------------------------------------------------


class RangeFile(io.RawIOBase):
    """A read-only, seekable file over ``read_range(offset, length) -> bytes``.

    Reads smaller than ``min_read`` fetch ``min_read`` bytes ahead and serve the rest
    from that buffer (ORC reads its metadata in many small pieces).
    """

    def __init__(self, read_range, size: int, name: str = "", min_read: int = 1 << 20):
        self._read_range, self._size, self.name = read_range, int(size), name
        self._pos, self._min_read = 0, min_read
        self._buf, self._buf_start = b"", 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def size(self):
        return self._size

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, n=-1):
        if n is None or n < 0:
            n = self._size - self._pos
        n = max(0, min(n, self._size - self._pos))
        if n == 0:
            return b""
        start = self._pos - self._buf_start
        if not (0 <= start and start + n <= len(self._buf)):
            length = min(max(n, self._min_read), self._size - self._pos)
            self._buf, self._buf_start = self._read_range(self._pos, length), self._pos
            start = 0
            if len(self._buf) < n:
                raise ColumnarError(f"{self.name}: short read at offset {self._pos}")
        out = self._buf[start:start + n]
        self._pos += n
        return out

    def readinto(self, b):
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)


@dataclass(frozen=True)
class WebHdfs:
    """Where tasks read ``hdfs://`` files: a WebHDFS base URL and a user name."""

    url: str
    user: str = ""

    def _call(self, path: str, op: str, **query) -> bytes:
        q = {"op": op, **query}
        if self.user:
            q["user.name"] = self.user
        url = (f"{self.url.rstrip('/')}/webhdfs/v1{urllib.parse.quote(path)}?"
               + urllib.parse.urlencode(q))
        with urllib.request.urlopen(url, timeout=120) as r:  # follows the DataNode redirect
            return r.read()

    def size(self, path: str) -> int:
        status = json.loads(self._call(path, "GETFILESTATUS"))["FileStatus"]
        return int(status["length"])

    def open(self, uri: str) -> RangeFile:
        path = urllib.parse.urlparse(uri).path
        return RangeFile(lambda off, n: self._call(path, "OPEN", offset=off, length=n),
                         self.size(path), name=uri)


def open_input(path: str, webhdfs: WebHdfs | None = None):
    """A seekable binary file object for a local path or an ``hdfs://`` URI."""
    if "://" in path and not path.startswith("file:"):
        if webhdfs is None:
            raise ColumnarError(f"{path}: no WebHDFS address to read it through")
        return webhdfs.open(path)
    return open(urllib.parse.urlparse(path).path if path.startswith("file:") else path, "rb")


# --- footers: schema and units --------------------------------------------------------


@dataclass(frozen=True)
class FileInfo:
    """What a file's footer says: its columns (name -> arrow type) and its units' rows."""

    path: str
    format: str
    schema: dict
    unit_rows: tuple
    size: int


def inspect(f, path: str, fmt: str, size: int | None = None) -> FileInfo:
    """Read the footer of an open Parquet or ORC file (a few KiB, not the data)."""
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(f).metadata
            schema = meta.schema.to_arrow_schema()
            rows = tuple(meta.row_group(i).num_rows for i in range(meta.num_row_groups))
        elif fmt == "orc":
            import pyarrow.orc as orc

            of = orc.ORCFile(f)
            schema = of.schema
            rows = _orc_stripe_rows(of)
        else:
            raise ColumnarError(f"{path}: not a columnar format: {fmt}")
    except (pa.ArrowException, OSError, EOFError) as e:
        raise ColumnarError(f"{path} is not a readable {fmt} file: {e}") from None
    if size is None:
        f.seek(0, io.SEEK_END)
        size = f.tell()
    return FileInfo(path, fmt, {n: schema.field(n).type for n in schema.names}, rows, size)


def _orc_stripe_rows(of) -> tuple:
    """Rows per stripe, from the file's footer (pyarrow reads it but exposes only the
    total): ``FileTail.footer.stripes[i].numberOfRows`` of ORC's protobuf schema."""
    tail = _protobuf_fields(of.reader.serialized_file_tail())
    footer = _protobuf_fields(tail.get(2, [b""])[0])
    rows = tuple(_protobuf_fields(s).get(5, [0])[0] for s in footer.get(3, []))
    if sum(rows) != of.nrows or len(rows) != of.nstripes:
        raise ColumnarError(f"ORC footer: stripes of {sum(rows)} rows, file of {of.nrows}")
    return rows


def _varint(data: bytes, pos: int):
    shift = value = 0
    while True:
        if pos >= len(data):
            raise ColumnarError("ORC footer: truncated varint")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def _protobuf_fields(data: bytes) -> dict:
    """``{field number: [values]}`` of one protobuf message (varints and byte strings;
    fixed-width fields are skipped)."""
    out, pos = {}, 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            n, pos = _varint(data, pos)
            value, pos = data[pos:pos + n], pos + n
        elif wire == 1:
            value, pos = None, pos + 8
        elif wire == 5:
            value, pos = None, pos + 4
        else:
            raise ColumnarError(f"ORC footer: unknown protobuf wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


# --- the manifest ----------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """One row group (stripe) of one file: a line of the manifest.

    ``first_row`` is the unit's first row number in its file (row numbers of
    predictions); ``consts`` the partition values (name -> float or None).
    """

    path: str
    format: str
    index: int
    rows: int
    first_row: int = 0
    consts: dict = field(default_factory=dict)

    def to_line(self) -> str:
        return json.dumps([self.path, self.format, self.index, self.rows, self.first_row,
                           self.consts], sort_keys=True)

    @classmethod
    def from_line(cls, line: str) -> "Unit":
        path, fmt, index, rows, first, consts = json.loads(line)
        return cls(path, fmt, int(index), int(rows), int(first), dict(consts))


def file_units(info: FileInfo, consts=None) -> list:
    """The units of one file, in order."""
    out, first = [], 0
    for i, n in enumerate(info.unit_rows):
        if n:
            out.append(Unit(info.path, info.format, i, n, first, dict(consts or {})))
        first += n
    return out


def group_units(units, sizes: dict, split_bytes: int) -> list:
    """Cut each file's units into runs of about ``split_bytes`` (a file's bytes shared
    by its rows): each run is one task's manifest.  Files are never merged, as Hadoop
    never merges files into one text split."""
    groups = []
    by_file = {}
    for u in units:
        by_file.setdefault(u.path, []).append(u)
    for path, us in by_file.items():
        total = sum(u.rows for u in us) or 1
        per_row = sizes.get(path, 0) / total
        current, size = [], 0.0
        for u in us:
            if current and size + u.rows * per_row > split_bytes:
                groups.append(current)
                current, size = [], 0.0
            current.append(u)
            size += u.rows * per_row
        if current:
            groups.append(current)
    return groups


# --- reading blocks --------------------------------------------------------------------


@dataclass
class ColumnBlock:
    """The good rows of a batch (float64, columns in ``columns`` order) and the bad ones:
    ``bad`` lists ``(row number in the file, reason)``."""

    values: np.ndarray
    bad: list
    rows: np.ndarray  # file row numbers of the good rows


def iter_batches(f, unit: Unit, columns, batch_rows: int):
    """Record batches (at most ``batch_rows`` rows) of ``columns`` of one unit."""
    if unit.format == "parquet":
        import pyarrow.parquet as pq

        # no pre-buffering (it would read the unit's column chunks whole): pages stream
        # through a 1 MiB buffer per column, so memory is a batch plus those buffers
        pf = pq.ParquetFile(f, pre_buffer=False, buffer_size=STREAM_BUFFER)
        yield from pf.iter_batches(batch_size=batch_rows, row_groups=[unit.index],
                                   columns=list(columns), use_threads=False)
    elif unit.format == "orc":
        import pyarrow.orc as orc

        stripe = orc.ORCFile(f).read_stripe(unit.index, columns=list(columns))
        for start in range(0, stripe.num_rows, batch_rows):
            yield stripe.slice(start, batch_rows)
    else:
        raise ColumnarError(f"{unit.path}: not a columnar format: {unit.format}")


def _as_float(column: pa.Array):
    """``(float64 values, null mask)`` of a numeric column; nulls become NaN."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    nulls = column.is_null().to_numpy(zero_copy_only=False) if column.null_count else None
    if pa.types.is_decimal(column.type):
        # through its decimal text, as the CSV parser reads it: correctly rounded (arrow's
        # decimal-to-double cast is not: 0.35 becomes 0.35000000000000003)
        column = pc.cast(pc.cast(column, pa.string()), pa.float64())
    elif not pa.types.is_float64(column.type):
        column = pc.cast(column, pa.float64(), safe=False)
    values = column.fill_null(np.nan).to_numpy(zero_copy_only=False) if nulls is not None \
        else column.to_numpy(zero_copy_only=False)
    return values, nulls


def batch_block(batch, columns, consts: dict, first_row: int,
                max_magnitude: float | None = None) -> ColumnBlock:
    """A batch as a :class:`ColumnBlock` with columns in ``columns`` order; a column that
    is a key of ``consts`` is the unit's partition value (None: a null partition)."""
    m = batch.num_rows
    values = np.empty((m, len(columns)), dtype=np.float64)
    missing = np.zeros(m, dtype=bool)
    for j, name in enumerate(columns):
        if name in consts:
            c = consts[name]
            values[:, j] = np.nan if c is None else float(c)
            if c is None:
                missing[:] = True
            continue
        col, nulls = _as_float(batch.column(batch.schema.get_field_index(name)))
        values[:, j] = col
        if nulls is not None:
            missing |= nulls
    finite = np.isfinite(values).all(axis=1)
    ok = finite & ~missing
    out_of_range = np.zeros(m, dtype=bool)
    if max_magnitude is not None:
        with np.errstate(invalid="ignore"):
            out_of_range = ok & ~(np.abs(values) <= max_magnitude).all(axis=1)
        ok &= ~out_of_range
    rows = np.arange(first_row, first_row + m, dtype=np.int64)
    bad = []
    if not ok.all():
        reason = np.where(missing, "missing", np.where(out_of_range, "out_of_range",
                                                        "non_finite"))
        bad = [(int(rows[i]), str(reason[i])) for i in np.flatnonzero(~ok)]
        values, rows = values[ok], rows[ok]
    return ColumnBlock(values, bad, rows)


def read_unit(unit: Unit, columns, batch_rows: int, webhdfs: WebHdfs | None = None,
              max_magnitude: float | None = None):
    """Yield the :class:`ColumnBlock` of each batch of ``unit``: ``columns`` in order,
    read from the file except the unit's partition columns."""
    stored = [c for c in columns if c not in unit.consts]
    first = unit.first_row
    f = open_input(unit.path, webhdfs)
    try:
        if not stored:  # every column a partition value: only the row count is needed
            for start in range(0, unit.rows, batch_rows):
                n = min(batch_rows, unit.rows - start)
                yield batch_block(pa.record_batch([pa.array(np.zeros(n))], names=["_"]),
                                  columns, unit.consts, first + start, max_magnitude)
            return
        try:
            for batch in iter_batches(f, unit, stored, batch_rows):
                yield batch_block(batch, columns, unit.consts, first, max_magnitude)
                first += batch.num_rows
        except (pa.ArrowException, OSError, EOFError) as e:
            raise ColumnarError(f"{unit.path}: cannot read {unit.format} "
                                f"{'row group' if unit.format == 'parquet' else 'stripe'} "
                                f"{unit.index}: {e}") from None
    finally:
        f.close()

