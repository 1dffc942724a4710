"""Parse delimited text in vectorised blocks, and classify the rows that fail.

A block of lines is handed to pyarrow's CSV reader in one call (C speed,
correctly rounded floats).  When the block holds a bad row the reader
refuses the whole block; the block is then bisected, so finding ``b`` bad
rows among ``m`` costs about ``b * log2(m)`` extra reader calls and the good
rows are still parsed in bulk.  Non-finite values (``nan``, ``inf``) parse as
floats and are removed afterwards with one vectorised mask.

What is tolerated, on the whole block at once (byte replacements, no per-row
Python): a UTF-8 byte order mark at the start of a line, ``\\r\\n`` line ends,
RFC 4180 quoting of fields (``"1.5"``) and one trailing delimiter per line.
A quoted field spanning lines is out of scope: such lines are bad rows (a field
holding a newline never converts to a number, and the row count is checked).

Reasons a row is bad: ``blank``, ``field_count``, ``non_numeric``,
``non_finite``, and ``out_of_range`` when the caller gives a ``max_magnitude``
(training passes use ``MAX_MAGNITUDE`` = 1e100: beyond it a square, and sums of
squares over any number of rows, overflow double precision in the passes' sums,
giving infinities instead of an answer; scoring needs no such limit).

Lines may be ``str`` (mrjob's text protocol) or ``bytes`` (the scoring job
reads raw bytes so that it can count byte offsets).
"""

from __future__ import annotations

import csv
import io
import posixpath
from dataclasses import dataclass, field
from urllib.parse import urlparse

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

BAD_REASONS = ("blank", "field_count", "non_numeric", "non_finite", "out_of_range")
MAX_MAGNITUDE = 1e100
BOM = "\ufeff"
BOM_BYTES = BOM.encode("utf-8")


class HeaderError(ValueError):
    """A header line that cannot name the columns (the driver says which file)."""


def file_key(path: str) -> str:
    """The key of an input file, equal for the driver's path and the task's
    ``mapreduce.map.input.file``: ``file:///a/b``, ``file:/a/b`` and ``/a/b`` give
    ``/a/b``; ``hdfs://nn:8020/a/b`` and ``hdfs:///a/b`` give ``/a/b`` too (the
    authority is left out: Hadoop qualifies paths the user did not)."""
    if "://" in path or path.startswith("file:"):
        path = urlparse(path).path
    return posixpath.normpath(path) if path else path


@dataclass(frozen=True)
class RowFormat:
    """How to read one row of the input.

    Attributes
    ----------
    delimiter : str
        A single character.
    n_columns : int
        Fields every row must have.
    feature_idx : tuple of int
        Positions of the feature columns, in model order.
    label_idx : int or None
        Position of the label column (None when scoring data without labels).
    header : str or None
        The header line as it appears (without a BOM or line end).  For a file of
        ``files`` it is skipped only as the file's first line; for the default
        format (a file the driver did not list) wherever it occurs.
    files : tuple of (str, RowFormat)
        Per input file (keyed by :func:`file_key`), its own layout: every file is
        read by column name, whatever the order of its columns.
    weight_idx : int or None
        Position of the row-weight column (``--weight-column``), None without weights.
    """

    delimiter: str
    n_columns: int
    feature_idx: tuple
    label_idx: int | None
    header: str | None = None
    files: tuple = ()
    weight_idx: int | None = None

    def for_file(self, path: str) -> "RowFormat":
        """The format of the file at ``path`` (this default when it is not listed)."""
        key = file_key(path or "")
        for k, fmt in self.files:
            if k == key:
                return fmt
        return self

    def to_dict(self) -> dict:
        d = {
            "delimiter": self.delimiter,
            "n_columns": self.n_columns,
            "feature_idx": list(self.feature_idx),
            "label_idx": self.label_idx,
            "header": self.header,
        }
        if self.files:
            d["files"] = {k: f.to_dict() for k, f in self.files}
        if self.weight_idx is not None:  # only weighted runs carry it
            d["weight_idx"] = self.weight_idx
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RowFormat":
        return cls(
            delimiter=d["delimiter"],
            n_columns=int(d["n_columns"]),
            feature_idx=tuple(int(i) for i in d["feature_idx"]),
            label_idx=None if d["label_idx"] is None else int(d["label_idx"]),
            header=d.get("header"),
            files=tuple((k, cls.from_dict(v)) for k, v in d.get("files", {}).items()),
            weight_idx=None if d.get("weight_idx") is None else int(d["weight_idx"]),
        )


@dataclass
class ParsedBlock:
    """The good rows of a block and what was wrong with the others.

    ``values`` has shape (good rows, n_columns); ``bad`` lists
    ``(index in block, reason)`` in block order.
    """

    values: np.ndarray
    bad: list = field(default_factory=list)


def _block_bytes(lines, delimiter: str, strip_trailing_delimiter: bool = True) -> bytes:
    """The lines as one CSV text: BOMs at line starts, ``\\r`` before line ends and (unless
    ``strip_trailing_delimiter`` is false) one trailing delimiter per line removed (byte
    replacements on the whole block)."""
    if isinstance(lines[0], (bytes, bytearray)):
        data = b"\n".join(lines) + b"\n"
    else:
        data = ("\n".join(lines) + "\n").encode("utf-8")
    data = data.replace(b"\r\n", b"\n")
    if BOM_BYTES in data:
        data = data.replace(b"\n" + BOM_BYTES, b"\n")
        if data.startswith(BOM_BYTES):
            data = data[len(BOM_BYTES):]
    if not strip_trailing_delimiter:
        return data
    return data.replace(delimiter.encode("utf-8") + b"\n", b"\n")


def _read(lines, fmt: RowFormat) -> np.ndarray:
    """Parse lines with pyarrow; raise ``pa.ArrowInvalid`` on any malformed row."""
    return read_bytes(_block_bytes(lines, fmt.delimiter), fmt, len(lines))


def read_bytes(data: bytes, fmt: RowFormat, n_rows: int) -> np.ndarray:
    """Parse ``n_rows`` cleaned, ``\\n``-ended lines with pyarrow in one call.

    Raises ``pa.ArrowInvalid`` on any malformed row, or when the reader finds
    another number of rows (a quote spanning lines, a lone ``\\r``).
    """
    names = [f"c{i}" for i in range(fmt.n_columns)]
    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
        parse_options=pacsv.ParseOptions(
            delimiter=fmt.delimiter, ignore_empty_lines=False, quote_char='"',
            newlines_in_values=False),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.float64() for n in names},
            null_values=[],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    if table.num_rows != n_rows:  # a quote spanning lines joins rows: never mis-align
        raise pa.ArrowInvalid("row count mismatch")
    out = np.empty((table.num_rows, fmt.n_columns), dtype=np.float64)
    for j, col in enumerate(table.columns):
        # chunk by chunk: ChunkedArray.to_numpy goes through pyarrow's pandas
        # conversion and imports pandas (0.3-1 s in every task)
        start = 0
        for chunk in col.chunks:
            out[start:start + len(chunk), j] = chunk.to_numpy(zero_copy_only=False)
            start += len(chunk)
    return out


def clean_line(line, delimiter: str) -> str:
    """One line as the block parser sees it: text, no BOM, no ``\\r``, no trailing delimiter."""
    text = line.decode("utf-8", "replace") if isinstance(line, (bytes, bytearray)) else line
    text = text.lstrip(BOM)
    if text.endswith("\r"):
        text = text[:-1]
    return text[:-1] if text.endswith(delimiter) else text


def split_fields(line, delimiter: str) -> list:
    """The fields of one line by RFC 4180 (quotes removed), after :func:`clean_line`."""
    text = clean_line(line, delimiter)
    return next(csv.reader([text], delimiter=delimiter), [""])


def _reason(line, fmt: RowFormat) -> str:
    text = clean_line(line, fmt.delimiter)
    if not text.strip():
        return "blank"
    try:
        fields = next(csv.reader([text], delimiter=fmt.delimiter), [])
    except csv.Error:  # a lone \r inside the line: Hadoop would have cut the line there
        return "field_count"
    if len(fields) != fmt.n_columns:
        return "field_count"
    return "non_numeric"


def _parse_bisect(lines, offset, fmt, good, bad):
    try:
        good.append(_read(lines, fmt))
    except (pa.ArrowInvalid, UnicodeError):
        if len(lines) == 1:
            bad.append((offset, _reason(lines[0], fmt)))
            return
        mid = len(lines) // 2
        _parse_bisect(lines[:mid], offset, fmt, good, bad)
        _parse_bisect(lines[mid:], offset + mid, fmt, good, bad)


def parse_block(lines, fmt: RowFormat, max_magnitude: float | None = None) -> ParsedBlock:
    """Parse a list of text lines (without line ends) into a float64 matrix.

    Returns only the rows whose every field is a finite number (of magnitude at
    most ``max_magnitude``, when given); the bad rows' positions and reasons come
    in ``ParsedBlock.bad``.  Good rows keep their order.
    """
    if not lines:
        return ParsedBlock(np.empty((0, fmt.n_columns)), [])
    good, bad = [], []
    _parse_bisect(list(lines), 0, fmt, good, bad)
    values = np.vstack(good) if good else np.empty((0, fmt.n_columns))
    if bad:
        # good-row positions are needed to place non-finite rows among them
        keep = np.ones(len(lines), dtype=bool)
        keep[[i for i, _ in bad]] = False
        positions = np.flatnonzero(keep)
    finite = np.isfinite(values).all(axis=1)
    in_range = np.ones(len(values), dtype=bool)
    if max_magnitude is not None:
        with np.errstate(invalid="ignore"):
            in_range = (np.abs(values) <= max_magnitude).all(axis=1) | ~finite
    ok = finite & in_range
    if not ok.all():
        idx = np.flatnonzero(~ok)
        where = positions[idx] if bad else idx
        bad.extend((int(i), "non_finite" if not finite[j] else "out_of_range")
                   for i, j in zip(where, idx))
        bad.sort()
        values = values[ok]
    return ParsedBlock(values, bad)


def finite_rows(values: np.ndarray, max_magnitude: float | None = None):
    """The mask of rows whose every value is finite (and at most ``max_magnitude`` in
    magnitude, when given); None when every row is (the common case, no mask built)."""
    with np.errstate(invalid="ignore"):
        if max_magnitude is None:
            ok = np.isfinite(values).all(axis=1)
        else:  # |nan| <= m is False: one comparison covers both tests
            ok = (np.abs(values) <= max_magnitude).all(axis=1)
    return None if ok.all() else ok


def split_columns(values: np.ndarray, fmt: RowFormat):
    """Return ``(X, y)`` from a parsed block (``y`` is None without a label)."""
    X = values[:, list(fmt.feature_idx)]
    y = None if fmt.label_idx is None else values[:, fmt.label_idx]
    return X, y


def split_weights(values: np.ndarray, fmt: RowFormat):
    """The row weights of a parsed block (``--weight-column``), or None without them."""
    return None if fmt.weight_idx is None else values[:, fmt.weight_idx]


#: The reason of a row whose weight (``--weight-column``) is NaN or infinite.
NON_FINITE_WEIGHT = "non_finite_weight"


def name_weight_reasons(lines, bad, fmt: RowFormat) -> list:
    """``bad`` with the ``non_finite`` rows whose weight field is NaN or infinite renamed
    :data:`NON_FINITE_WEIGHT` (``--weight-column``).  Looks at the bad rows' lines only
    (``lines[i]`` for each ``(i, reason)``), never at the good ones."""
    if fmt.weight_idx is None or not any(r == "non_finite" for _, r in bad):
        return bad

    def reason(i, r):
        if r != "non_finite":
            return r
        try:
            weight = float(split_fields(lines[i], fmt.delimiter)[fmt.weight_idx])
        except (ValueError, IndexError, csv.Error):
            return r
        return r if np.isfinite(weight) else NON_FINITE_WEIGHT

    return [(i, reason(i, r)) for i, r in bad]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def looks_like_header(line, delimiter: str) -> bool:
    """A first line is a header when any of its fields is non-empty and not a number
    (quotes, a BOM and a trailing delimiter are looked through; an empty field is a
    missing value, not a name)."""
    return any(f.strip() and not _is_number(f) for f in split_fields(line, delimiter))


def header_names(line, delimiter: str) -> list:
    """The column names of a header line (RFC 4180 quotes removed, spaces stripped).

    Raises
    ------
    HeaderError
        A name is empty or repeats, or a quote is left open.
    """
    text = clean_line(line, delimiter)
    if text.count('"') % 2:
        raise HeaderError(f"its header line has an unbalanced quote: {text[:200]!r}")
    names = [n.strip() for n in split_fields(text, delimiter)]
    empty = [i for i, n in enumerate(names) if not n]
    if empty:
        raise HeaderError(f"its header has an empty column name at position {empty[0] + 1} "
                          f"of {len(names)}: {text[:200]!r}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise HeaderError(f"column names repeat in its header: {repeated}")
    return names


def header_text(line) -> str:
    """A first line as a header is stored and compared: without a BOM or a ``\\r``."""
    text = line.decode("utf-8", "replace") if isinstance(line, (bytes, bytearray)) else line
    text = text.lstrip(BOM)
    return text[:-1] if text.endswith("\r") else text


def field_count(line, delimiter: str) -> int:
    """How many fields a data line has, as the block parser counts them."""
    return len(split_fields(line, delimiter))
