"""Parse delimited text in vectorised blocks, and classify the rows that fail.

A block of lines is handed to pyarrow's CSV reader in one call (C speed,
correctly rounded floats).  When the block holds a bad row the reader
refuses the whole block; the block is then bisected, so finding ``b`` bad
rows among ``m`` costs about ``b * log2(m)`` extra reader calls and the good
rows are still parsed in bulk.  Non-finite values (``nan``, ``inf``) parse as
floats and are removed afterwards with one vectorised mask.

Reasons a row is bad: ``blank``, ``field_count``, ``non_numeric``,
``non_finite``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

BAD_REASONS = ("blank", "field_count", "non_numeric", "non_finite")


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
        The header line exactly as it appears; lines equal to it are skipped
        wherever they occur (every file of a directory may start with it).
    """

    delimiter: str
    n_columns: int
    feature_idx: tuple
    label_idx: int | None
    header: str | None = None

    def to_dict(self) -> dict:
        return {
            "delimiter": self.delimiter,
            "n_columns": self.n_columns,
            "feature_idx": list(self.feature_idx),
            "label_idx": self.label_idx,
            "header": self.header,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "RowFormat":
        return cls(
            delimiter=d["delimiter"],
            n_columns=int(d["n_columns"]),
            feature_idx=tuple(int(i) for i in d["feature_idx"]),
            label_idx=None if d["label_idx"] is None else int(d["label_idx"]),
            header=d.get("header"),
        )


@dataclass
class ParsedBlock:
    """The good rows of a block and what was wrong with the others.

    ``values`` has shape (good rows, n_columns); ``bad`` lists
    ``(index in block, reason)`` in block order.
    """

    values: np.ndarray
    bad: list = field(default_factory=list)


def _read(lines, fmt: RowFormat) -> np.ndarray:
    """Parse lines with pyarrow; raise ``pa.ArrowInvalid`` on any malformed row."""
    data = ("\n".join(lines) + "\n").encode("utf-8")
    names = [f"c{i}" for i in range(fmt.n_columns)]
    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
        parse_options=pacsv.ParseOptions(
            delimiter=fmt.delimiter, ignore_empty_lines=False, quote_char=False
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.float64() for n in names},
            null_values=[],
            strings_can_be_null=False,
        ),
    )
    if table.num_rows != len(lines):  # defensive: never mis-align rows
        raise pa.ArrowInvalid("row count mismatch")
    out = np.empty((table.num_rows, fmt.n_columns), dtype=np.float64)
    for j, col in enumerate(table.columns):
        out[:, j] = col.to_numpy()
    return out


def _reason(line: str, fmt: RowFormat) -> str:
    if not line.strip():
        return "blank"
    if line.count(fmt.delimiter) + 1 != fmt.n_columns:
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


def parse_block(lines, fmt: RowFormat) -> ParsedBlock:
    """Parse a list of text lines (without line ends) into a float64 matrix.

    Returns only the rows whose every field is a finite number; the bad rows'
    positions and reasons come in ``ParsedBlock.bad``.  Good rows keep their
    order.
    """
    if not lines:
        return ParsedBlock(np.empty((0, fmt.n_columns)), [])
    good, bad = [], []
    _parse_bisect(list(lines), 0, fmt, good, bad)
    values = np.vstack(good) if good else np.empty((0, fmt.n_columns))
    if bad:
        # good-row positions are needed to place non-finite rows among them
        bad_set = {i for i, _ in bad}
        positions = np.array([i for i in range(len(lines)) if i not in bad_set])
    finite = np.isfinite(values).all(axis=1)
    if not finite.all():
        idx = np.flatnonzero(~finite)
        where = positions[idx] if bad else idx
        bad.extend((int(i), "non_finite") for i in where)
        bad.sort()
        values = values[finite]
    return ParsedBlock(values, bad)


def split_columns(values: np.ndarray, fmt: RowFormat):
    """Return ``(X, y)`` from a parsed block (``y`` is None without a label)."""
    X = values[:, list(fmt.feature_idx)]
    y = None if fmt.label_idx is None else values[:, fmt.label_idx]
    return X, y


def looks_like_header(line: str, delimiter: str) -> bool:
    """A first line is a header when any of its fields is not a number."""
    for field_ in line.split(delimiter):
        try:
            float(field_)
        except ValueError:
            return True
    return False
