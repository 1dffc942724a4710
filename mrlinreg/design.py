"""A formula's design matrix, built per block of text lines in the mappers.

:class:`Design` is what a pass needs to turn raw rows into ``[X y]``: the formula,
each categorical column's levels (found by the levels pass, see
:class:`LevelsAccumulator`) and the policy for a level never seen in training.
It travels to the tasks as a JSON-safe dict.

A block is read with pyarrow in one call, only the columns the formula uses:
columns of numeric factors (and the label) as float64, columns used only in
``C()`` as strings; a block with a malformed row is bisected as in
:mod:`mrlinreg.parsing`.  Then, on whole columns:

* ``missing``: a row with an empty field (or ``NA``, ``NaN``, ``nan``, ``null``,
  ``NULL``, ``N/A``, ``\\N``, as pandas reads them) in a column the formula uses
  is dropped and counted (statsmodels' formula default, ``missing='drop'``);
* ``non_finite``: a value or a factor (``np.log(0)``, ``1/0``) that is not finite;
* ``out_of_range``: beyond ``max_magnitude`` (training: 1e100, see
  :data:`mrlinreg.parsing.MAX_MAGNITUDE`);
* ``unseen_level``: a categorical value outside the training levels. Policy
  ``error``: the row is a bad row (counted and skipped, or the first one stops the
  run with ``--on-bad-row fail``); ``reference``: the row is scored as the
  reference level (the first level), and counted in ``notes``.

Why a levels pass: the design's columns (one per level but the reference) and
therefore the size of every sum the other passes accumulate are unknown until
every level is; collecting sums for levels met later would mean growing or
re-indexing the moments and the R factor in every mapper and reducer.  One cheap
pass that only collects distinct values (bounded by ``max_levels``) keeps every
other pass exactly as it is.  It runs only when the formula has a ``C()``.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from mrlinreg.formula import Formula, design_columns, parse_formula
from mrlinreg.parsing import (ParsedBlock, RowFormat, _block_bytes, clean_line,
                              split_fields)

MISSING = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "\\N")
UNSEEN_POLICIES = ("error", "reference")
DEFAULT_MAX_LEVELS = 1000
_REASONS = ("missing", "non_finite", "unseen_level", "out_of_range")
_INT_TEXT = re.compile(r"^\s*[+-]?\d+\s*$")


class LevelsError(ValueError):
    """A categorical column with more distinct values than allowed."""


@dataclass
class DesignBlock(ParsedBlock):
    """A parsed block of a formula: ``values`` is ``[X y]``; ``levels`` the distinct
    categorical values of the good rows (levels pass); ``notes`` counts of rows kept
    but worth reporting (``unseen_level`` under the ``reference`` policy)."""

    levels: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)


class LevelsAccumulator:
    """Distinct values per categorical column, at most ``max_levels + 1`` kept each
    (one more than allowed proves the limit is exceeded)."""

    kind = "levels"

    def __init__(self, max_levels: int = DEFAULT_MAX_LEVELS):
        self.max_levels = int(max_levels)
        self.values: dict = {}

    def add(self, levels: dict) -> None:
        for col, vals in levels.items():
            seen = self.values.setdefault(col, set())
            if len(seen) <= self.max_levels + 1:  # (+1: the None of a missing value)
                seen.update(vals)
                if len(seen) > self.max_levels + 2:  # enough to prove the limit exceeded
                    self.values[col] = set(sorted(seen, key=repr)[: self.max_levels + 2])

    def merge(self, other: "LevelsAccumulator") -> None:
        self.add({c: sorted(v, key=repr) for c, v in other.values.items()})

    def to_dict(self) -> dict:
        return {"kind": self.kind, "max_levels": self.max_levels,
                "values": {c: sorted(v, key=repr) for c, v in self.values.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> "LevelsAccumulator":
        acc = cls(d["max_levels"])
        acc.values = {c: set(v) for c, v in d["values"].items()}
        return acc


def sorted_levels(formula: Formula, values: dict, max_levels: int) -> dict:
    """Each categorical column's levels in patsy's order, from the levels pass's values.

    A column whose every value is a number has numeric levels (numeric order; shown as
    integers when every value is written as one, as pandas reads such a column); any
    other column has string levels in string order.

    Raises
    ------
    LevelsError
        A column has more than ``max_levels`` distinct values, or none.
    """
    out = {}
    for col in formula.categorical_columns:
        vals = values.get(col, set())
        if len(vals - {None}) > max_levels:
            raise LevelsError(f"the categorical column {col!r} has more than {max_levels} "
                              "distinct values (--max-levels); is it really categorical? "
                              "Raise --max-levels if it is")
        if not vals - {None}:
            raise LevelsError(f"the categorical column {col!r} has no values in the good rows")
        out[col] = _order(vals)
    return out


def _order(vals) -> list:
    had_missing = None in vals
    vals = {v for v in vals if v is not None}
    if all(isinstance(v, (int, float)) for v in vals):  # read as numbers
        nums = sorted({float(v) for v in vals})
        ints = not had_missing and all(v.is_integer() for v in nums)
        return [int(v) if ints else v for v in nums]
    try:
        nums = {float(v): v for v in vals}
    except ValueError:
        return sorted(vals)
    if not all(np.isfinite(list(nums))):
        return sorted(vals)
    ints = not had_missing and all(_INT_TEXT.match(v) for v in vals)
    return [int(v) if ints else v for v in sorted(nums)]


@dataclass
class Design:
    """A formula with its levels: turns blocks of lines into ``[X y]``."""

    formula_text: str
    levels: dict | None = None          # column -> levels (None: the levels pass)
    unseen: str = "error"
    formula: Formula = field(init=False, repr=False)

    def __post_init__(self):
        self.formula = parse_formula(self.formula_text)
        self.raw_columns = [c for c in self.formula.columns if c != self.formula.label_column]
        self.numeric = set(self.formula.numeric_columns)
        self.columns = None if self.levels is None else design_columns(self.formula, self.levels)
        self.feature_names = None if self.columns is None else [c.name for c in self.columns]

    @property
    def label_name(self) -> str:
        return self.formula.label.name

    def to_dict(self) -> dict:
        return {"formula": self.formula_text, "levels": self.levels, "unseen": self.unseen}

    @classmethod
    def from_dict(cls, d: dict) -> "Design":
        return cls(d["formula"], d.get("levels"), d.get("unseen", "error"))

    def values_format(self, has_label: bool = True) -> RowFormat:
        """How ``DesignBlock.values`` is laid out: the design's columns, then the label
        (zeros when the data has no label column)."""
        d = len(self.columns)
        return RowFormat(",", d + 1, tuple(range(d)), d if has_label else None)

    # --- one block -------------------------------------------------------------------
    def parse_block(self, lines, fmt: RowFormat, max_magnitude: float | None = None):
        """The good rows of ``lines`` as ``[X y]`` (or only their levels before the
        levels are known), with every other row's reason."""
        has_label = fmt.label_idx is not None  # scoring data may have no label column
        positions = {self.formula.label_column: fmt.label_idx} if has_label else {}
        positions.update(zip(self.raw_columns, fmt.feature_idx))
        d = 0 if self.columns is None else len(self.columns)
        if not lines:
            return DesignBlock(np.empty((0, d + 1)), [])
        good, bad = [], []
        _bisect(list(lines), 0, fmt, positions, self.numeric, good, bad)
        idx = np.concatenate([g[0] for g in good]) if good else np.empty(0, dtype=np.int64)
        # numeric columns as float64 arrays, C() columns as pyarrow string arrays (their
        # nulls, distinct values and level codes are computed in pyarrow, not per row)
        cols = {c: (np.concatenate([g[1][c] for g in good]) if c in self.numeric else
                    pa.concat_arrays([g[1][c] for g in good])) if good else
                (np.empty(0) if c in self.numeric else pa.array([], pa.string()))
                for c in positions}
        n = len(idx)
        reason = np.zeros(n, dtype=np.int8)  # 0: good, else 1 + index in _REASONS

        def mark(mask, why):
            reason[mask & (reason == 0)] = 1 + _REASONS.index(why)

        missing = np.zeros(n, dtype=bool)
        for c, v in cols.items():
            missing |= np.isnan(v) if c in self.numeric else _is_null(v)
        mark(missing, "missing")
        numeric = {c: np.where(missing, 0.0, cols[c]) for c in self.numeric if c in cols}
        y = self.formula.label.expr.evaluate(numeric, n) if has_label else np.zeros(n)
        factor_values = {f.name: f.expr.evaluate(numeric, n)
                         for f in self.formula.factors if not f.categorical}
        finite = np.isfinite(y)
        for v in factor_values.values():
            finite &= np.isfinite(v)
        mark(~finite, "non_finite")
        notes = {}
        if self.columns is None:  # the levels pass: distinct values of the good rows
            ok = reason == 0
            levels = {}
            for c in self.formula.categorical_columns:
                null = np.isnan(cols[c]) if c in self.numeric else _is_null(cols[c])
                # None marks a column with a missing value: pandas reads such a column of
                # integers as floats, so statsmodels names its levels 2.0, not 2
                levels[c] = _distinct(cols[c], ok) + ([None] if null.any() else [])
            block = DesignBlock(np.empty((int(ok.sum()), 1)), [], levels=levels)
        else:
            codes = {}
            for c in self.formula.categorical_columns:
                code = _codes(cols[c], self.levels[c])
                unseen = (code < 0) & (reason == 0)
                if unseen.any():
                    if self.unseen == "reference":
                        notes["unseen_level"] = notes.get("unseen_level", 0) + int(unseen.sum())
                        code[unseen] = 0
                    else:
                        mark(unseen, "unseen_level")
                codes[c] = code
            X = np.ones((n, d))
            for j, col in enumerate(self.columns):
                for f, level in col.parts:
                    X[:, j] *= factor_values[f.name] if level is None else (codes[f.column] == level)
            with np.errstate(invalid="ignore"):
                mark(~np.isfinite(X).all(axis=1), "non_finite")
                if max_magnitude is not None:
                    mark((np.abs(X) > max_magnitude).any(axis=1) | (np.abs(y) > max_magnitude),
                         "out_of_range")
            ok = reason == 0
            block = DesignBlock(np.column_stack([X[ok], y[ok]]), [], notes=notes)
        bad += [(int(i), _REASONS[r - 1]) for i, r in zip(idx[~ok], reason[~ok])]
        bad.sort()
        block.bad = bad
        return block


def _is_null(v: pa.Array) -> np.ndarray:
    return v.is_null().to_numpy(zero_copy_only=False)


def _distinct(v, ok: np.ndarray) -> list:
    """The distinct values of ``v`` on the rows ``ok`` (strings, or floats)."""
    if isinstance(v, np.ndarray):
        return [float(x) for x in np.unique(v[ok])]
    return [x for x in pc.unique(v.filter(pa.array(ok))).to_pylist() if x is not None]


def _codes(v, levels) -> np.ndarray:
    """Index of each value among ``levels`` (-1: unseen or missing), mapped through the
    block's distinct values (a dictionary encoding: no per-row Python)."""
    numeric_levels = all(isinstance(x, (int, float)) for x in levels)
    lookup = ({float(x): i for i, x in enumerate(levels)} if numeric_levels
              else {x: i for i, x in enumerate(levels)})
    if isinstance(v, np.ndarray):  # a column also used as a number: floats
        uniq, inverse = np.unique(v, return_inverse=True)
        distinct, idx = uniq.tolist(), inverse.reshape(-1)
    else:
        enc = pc.dictionary_encode(v)
        distinct = enc.dictionary.to_pylist()
        idx = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False)
    lut = np.empty(len(distinct) + 1, dtype=np.int64)
    lut[-1] = -1  # index -1: a missing value
    for k, u in enumerate(distinct):
        key = u
        if numeric_levels:
            try:
                key = float(u)
            except (TypeError, ValueError):
                key = None
        lut[k] = lookup.get(key, -1)
    return lut[idx]


def _bisect(lines, offset, fmt, positions, numeric, good, bad):
    """Read ``lines`` at once; a block that fails is read again without one trailing
    delimiter per line (the tolerated quirk, see :mod:`mrlinreg.parsing`: tried second,
    because here an empty last field is a missing value), then split in halves."""
    for strip in (False, True):
        try:
            good.append((np.arange(offset, offset + len(lines)),
                         _read(lines, fmt, positions, numeric, strip)))
            return
        except (pa.ArrowInvalid, UnicodeError):
            pass
    if len(lines) == 1:
        bad.append((offset, _reason(lines[0], fmt)))
        return
    mid = len(lines) // 2
    _bisect(lines[:mid], offset, fmt, positions, numeric, good, bad)
    _bisect(lines[mid:], offset + mid, fmt, positions, numeric, good, bad)


def _reason(line, fmt: RowFormat) -> str:
    text = clean_line(line, fmt.delimiter)
    if not text.strip():
        return "blank"
    if len(split_fields(text, fmt.delimiter)) != fmt.n_columns:
        return "field_count"
    return "non_numeric"


def _text(lines, delimiter: str, strip: bool) -> bytes:
    """The lines as one CSV text, as :func:`mrlinreg.parsing._block_bytes` makes it;
    without ``strip`` a trailing delimiter stays (an empty last field)."""
    return _block_bytes(lines, delimiter, strip_trailing_delimiter=strip)


def _read(lines, fmt: RowFormat, positions: dict, numeric: set, strip: bool) -> dict:
    """The formula's columns of ``lines``: float64 (NaN for missing) or str (None)."""
    names = [f"c{i}" for i in range(fmt.n_columns)]
    wanted = {names[i]: c for c, i in positions.items()}
    table = pacsv.read_csv(
        io.BytesIO(_text(lines, fmt.delimiter, strip)),
        read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
        parse_options=pacsv.ParseOptions(delimiter=fmt.delimiter, ignore_empty_lines=False,
                                         quote_char='"', newlines_in_values=False),
        convert_options=pacsv.ConvertOptions(
            include_columns=list(wanted),
            column_types={n: pa.float64() if c in numeric else pa.string()
                          for n, c in wanted.items()},
            null_values=list(MISSING), strings_can_be_null=True,
            quoted_strings_can_be_null=True),
    )
    if table.num_rows != len(lines):
        raise pa.ArrowInvalid("row count mismatch")
    out = {}
    for n, c in wanted.items():
        col = table.column(n)
        if c in numeric:
            out[c] = col.to_numpy(zero_copy_only=False).astype(np.float64)
        else:
            out[c] = col.combine_chunks()
    return out
