"""``--hive-table db.table`` and ``--where``: names and a partition predicate, parsed strictly.

The predicate is never sent to Hive: it is parsed here into comparisons of partition
columns with literals and evaluated in Python against the values ``SHOW
PARTITIONS`` lists.  The grammar is small on purpose::

    predicate  := comparison ( AND comparison )*
    comparison := name op literal | name IN ( literal [, literal]* )
    op         := = | != | <> | < | <= | > | >=
    literal    := 'text' (a quote inside doubled: '') | number

Names are plain SQL identifiers (letters, digits, ``_``).  Anything else (OR,
functions, sub-queries, comments, semicolons, unbalanced quotes) is refused with a
message saying what is allowed.  Comparisons are numeric when the partition
column's type is numeric, else on the text.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from mrlinreg.schema import SQL_NAME

NUMERIC_HIVE_TYPES = ("tinyint", "smallint", "int", "integer", "bigint", "float", "double",
                      "decimal", "real", "double precision")
OPS = ("=", "!=", "<>", "<=", ">=", "<", ">")
_TOKEN = re.compile(r"""\s*(?:
    (?P<str>'(?:[^']|'')*')
  | (?P<num>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<op><>|!=|<=|>=|=|<|>)
  | (?P<punct>[(),])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
)""", re.VERBOSE)


class FilterError(ValueError):
    """A table name or predicate outside the accepted grammar."""


def parse_table_name(text: str, default_database: str = "default") -> tuple:
    """``db.table`` or ``table`` -> ``(database, table)``, both plain identifiers."""
    parts = (text or "").split(".")
    if len(parts) == 1:
        parts = [default_database] + parts
    if len(parts) != 2 or not all(SQL_NAME.fullmatch(p) for p in parts):
        raise FilterError(f"invalid table name {text!r}: give db.table, each a plain "
                          "identifier (letters, digits, '_')")
    return parts[0].lower(), parts[1].lower()


def is_numeric_hive_type(hive_type: str) -> bool:
    base = hive_type.lower().split("(")[0].strip()
    return base in NUMERIC_HIVE_TYPES


@dataclass(frozen=True)
class Comparison:
    column: str
    op: str          # one of OPS, or "in"
    values: tuple    # literals: str for quoted text, float for numbers

    def test(self, value: str | None, numeric: bool) -> bool:
        if value is None:  # a null partition matches no comparison (as in SQL)
            return False
        if numeric:
            try:
                left = float(value)
                rights = [float(v) for v in self.values]
            except ValueError:
                return False
        else:
            left = value
            rights = [v if isinstance(v, str) else _number_text(v) for v in self.values]
        if self.op == "in":
            return left in rights
        right = rights[0]
        return {"=": left == right, "!=": left != right, "<>": left != right,
                "<": left < right, "<=": left <= right, ">": left > right,
                ">=": left >= right}[self.op]


def _number_text(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(v)


def _tokens(text: str):
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise FilterError(f"cannot read --where at {text[pos:pos + 20]!r}: use "
                              "partition_col = 'value' [AND ...] (=, !=, <, <=, >, >=, IN)")
        kind = m.lastgroup
        tok = m.group(kind)
        if kind == "str":
            tok = tok[1:-1].replace("''", "'")
        elif kind == "num":
            tok = float(tok)
            if not math.isfinite(tok):
                raise FilterError("a number in --where must be finite")
        out.append((kind, tok))
        pos = m.end()
    return out


def parse_where(text: str) -> list:
    """The comparisons of a ``--where`` text (joined by AND).

    Raises
    ------
    FilterError
        Anything outside the grammar of this module.
    """
    toks = _tokens(text or "")
    if not toks:
        raise FilterError("--where is empty")
    out, i = [], 0

    def take(kind=None):
        nonlocal i
        if i >= len(toks):
            raise FilterError("--where ends too early: use partition_col = 'value'")
        k, v = toks[i]
        if kind and k != kind:
            raise FilterError(f"--where: expected {kind.replace('str', 'a quoted value')} "
                              f"at {v!r}")
        i += 1
        return k, v

    while True:
        k, name = take()
        if k != "name" or name.upper() in ("AND", "OR", "NOT", "IN"):
            raise FilterError(f"--where: expected a partition column name at {name!r}")
        k, op = take()
        if k == "name" and op.upper() == "IN":
            if take("punct")[1] != "(":
                raise FilterError("--where: IN is followed by ( literal, ... )")
            values = []
            while True:
                k, v = take()
                if k not in ("str", "num"):
                    raise FilterError(f"--where: expected a literal in IN (...) at {v!r}")
                values.append(v)
                k, p = take("punct")
                if p == ")":
                    break
                if p != ",":
                    raise FilterError("--where: IN (...) lists literals separated by ','")
            out.append(Comparison(name.lower(), "in", tuple(values)))
        elif k == "op":
            k, v = take()
            if k not in ("str", "num"):
                raise FilterError(f"--where: compare {name} with a quoted value or a "
                                  f"number, not {v!r}")
            out.append(Comparison(name.lower(), op, (v,)))
        else:
            raise FilterError(f"--where: expected an operator after {name} "
                              "(=, !=, <, <=, >, >=, IN)")
        if i == len(toks):
            return out
        k, conj = take()
        if k != "name" or conj.upper() != "AND":
            raise FilterError(f"--where: only AND joins comparisons (got {conj!r})")


def select_partitions(partitions, comparisons, column_types: dict) -> list:
    """The partitions (dicts name -> value text, None for Hive's default partition)
    that satisfy every comparison; a comparison on a non-partition column is an error."""
    for c in comparisons:
        if c.column not in column_types:
            raise FilterError(f"--where may only use the partition columns "
                              f"{sorted(column_types)}; {c.column!r} is not one")
    return [p for p in partitions
            if all(c.test(p.get(c.column), is_numeric_hive_type(column_types[c.column]))
                   for c in comparisons)]
