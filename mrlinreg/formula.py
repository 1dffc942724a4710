"""Wilkinson formulas (``y ~ a + C(b) + a:c + I(a**2)``), parsed strictly, as statsmodels reads them.

A small parser and evaluator for exactly the grammar statsmodels (patsy) users
write, with no ``eval`` of the user's text: every factor becomes a tree of
numbers, column names, ``+ - * / **`` and the functions of :data:`FUNCTIONS`,
evaluated with numpy on whole columns at once.

Grammar (right of ``~``)
    ``a + b`` both terms; ``a - b`` drop term ``b``; ``a:b`` their interaction;
    ``a*b`` = ``a + b + a:b``; ``( ... )`` grouping; ``1`` / ``+1`` the intercept
    (there by default), ``0`` / ``-1`` / ``+0`` no intercept.
Factors
    ``x`` (a numeric column), ``C(x)`` (categorical, treatment coding, the reference
    is the first level in sorted order: string order for strings, numeric order for
    numbers), ``I(expr)`` (arithmetic: ``+ - * / **`` and parentheses on columns and
    numbers), ``np.log(expr)``, ``np.exp(expr)``, ``np.sqrt(expr)``.
Left of ``~``
    the label: a column, or a numeric factor such as ``np.log(price)``.

The design follows patsy's rules, so the columns, their order and their names
equal ``statsmodels.formula.api.ols(...).model.exog_names``:

* terms are grouped by the set of numeric factors they hold (the group without
  numeric factors first), and within a group sorted by their number of factors;
* a categorical factor is coded with ``k - 1`` columns (``C(city)[T.Paris]``)
  where a lower-order term already spans its reference, else with ``k``
  (``C(city)[Paris]``: e.g. without an intercept);
* in an interaction the left-most factor's columns vary fastest;
* factor names are their code with patsy's spacing: ``I(x**2)`` is ``I(x ** 2)``.

Unlike patsy, a column holding strings must be written ``C(col)``: a bare name is
always numeric, so a stray word in a numeric column is a counted bad row rather
than turning the column into a categorical of every distinct value.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np


class FormulaError(ValueError):
    """A formula outside the grammar (the message says where)."""


#: Functions a factor may call, by the name a formula uses.
FUNCTIONS = {"np.log": np.log, "np.exp": np.exp, "np.sqrt": np.sqrt,
             "numpy.log": np.log, "numpy.exp": np.exp, "numpy.sqrt": np.sqrt}

_TOKEN = re.compile(r"\s*(?:(?P<num>\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<op>\*\*|[~+\-*/:(),.]))")


@dataclass(frozen=True)
class Token:
    kind: str   # "num", "name", "op", "end"
    text: str
    pos: int


def tokenize(text: str) -> list:
    """The tokens of a formula; anything outside the grammar's alphabet is an error."""
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            raise FormulaError(f"unexpected character {text[pos:].lstrip()[0]!r} at position "
                               f"{len(text) - len(text[pos:].lstrip()) + 1} of {text!r}")
        kind = m.lastgroup
        out.append(Token(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    out.append(Token("end", "", len(text)))
    return out


# --- patsy's spacing of factor code (patsy.tokens.pretty_untokenize) -------------------

_SPACE_BOTH = set("+-*/%&^|<>") | {"==", "<>", "!=", "<=", ">=", "<<", ">>", "**", "//"}
_SPACE_BEFORE = _SPACE_BOTH | {"!", "~"}
_SPACE_AFTER = _SPACE_BOTH | {",", ":"}


def pretty_code(tokens) -> str:
    """The factor's name as patsy writes it (``I(x**2)`` -> ``I(x ** 2)``)."""
    text = []
    prev_space_delim = prev_wants_space = prev_open_or_comma = prev_object = False
    for tok in tokens:
        if tok.kind in ("name", "num"):
            if prev_wants_space or prev_space_delim:
                text.append(" ")
            text.append(tok.text)
            prev_wants_space, prev_space_delim = False, True
        else:
            t = tok.text
            before, after = t in _SPACE_BEFORE, t in _SPACE_AFTER
            if t in ("*", "**") and prev_open_or_comma:
                before = after = False
            if t in ("+", "-") and not prev_object:  # unary
                before = after = False
            if prev_wants_space or before:
                text.append(" ")
            text.append(t)
            prev_wants_space, prev_space_delim = after, False
        prev_object = tok.kind in ("name", "num") or tok.text == ")"
        prev_open_or_comma = tok.text in ("(", ",")
    return "".join(text)


# --- arithmetic inside a factor -----------------------------------------------------------

@dataclass(frozen=True)
class Expr:
    """A node of a factor's arithmetic: ``op`` is ``num``, ``col``, ``neg``, ``+``, ``-``,
    ``*``, ``/``, ``**`` or a function name of :data:`FUNCTIONS`."""

    op: str
    args: tuple = ()
    value: object = None

    def columns(self) -> list:
        if self.op == "col":
            return [self.value]
        return [c for a in self.args for c in a.columns()]

    def evaluate(self, columns: dict, n: int) -> np.ndarray:
        """Vectorised value on a block (``columns``: name -> float64 array of length n)."""
        op = self.op
        if op == "num":
            return np.full(n, self.value, dtype=np.float64)
        if op == "col":
            return columns[self.value]
        vals = [a.evaluate(columns, n) for a in self.args]
        with np.errstate(all="ignore"):  # non-finite results become bad rows
            if op == "neg":
                return -vals[0]
            if op == "pos":
                return vals[0]
            if op == "+":
                return vals[0] + vals[1]
            if op == "-":
                return vals[0] - vals[1]
            if op == "*":
                return vals[0] * vals[1]
            if op == "/":
                return vals[0] / vals[1]
            if op == "**":
                return np.power(vals[0], vals[1])
            return FUNCTIONS[op](vals[0])


@dataclass(frozen=True)
class Factor:
    """One factor: numeric (``expr``) or categorical (``C(column)``); ``name`` as patsy's."""

    name: str
    categorical: bool
    column: str | None = None   # the column of a categorical factor
    expr: Expr | None = None    # the arithmetic of a numeric factor

    def columns(self) -> list:
        return [self.column] if self.categorical else self.expr.columns()


class _Parser:
    def __init__(self, text):
        self.text, self.toks, self.i = text, tokenize(text), 0

    def peek(self, k=0) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def take(self, text=None) -> Token:
        tok = self.peek()
        if text is not None and tok.text != text:
            self.fail(f"expected {text!r}", tok)
        self.i += 1
        return tok

    def fail(self, what, tok=None):
        tok = tok or self.peek()
        near = repr(tok.text) if tok.kind != "end" else "the end"
        raise FormulaError(f"{what} at {near} (position {tok.pos + 1}) in {self.text!r}")

    # formula level: ~ + - * : ( ) 0 1 factors ------------------------------------------
    def formula(self):
        if not any(t.text == "~" for t in self.toks):
            raise FormulaError(f"a formula needs a label and '~', e.g. 'y ~ x1 + C(city)'; "
                               f"got {self.text!r}")
        start = self.i
        lhs = self.factor()
        if lhs.categorical:
            self.fail("the label must be numeric, not C(...)", self.toks[start])
        self.take("~")
        rhs = self.sum_terms()
        if self.peek().kind != "end":
            self.fail("unexpected token")
        return lhs, rhs

    def sum_terms(self):
        left = self.unary_terms()
        while self.peek().text in ("+", "-"):
            op = self.take().text
            right = self.product_terms()
            left = _plus(left, right) if op == "+" else _minus(left, right)
        return left

    def unary_terms(self):
        if self.peek().text in ("+", "-"):
            op = self.take().text
            tok = self.peek()
            if tok.text not in ("0", "1"):
                self.fail("a leading '-' or '+' must be followed by 0 or 1")
            self.take()
            removes = (op == "-") == (tok.text == "1")
            return _Terms(intercept=not removes, removed=removes, terms=(), marker=True)
        return self.product_terms()

    def product_terms(self):
        left = self.interact_terms()
        while self.peek().text in ("*", "/"):
            if self.peek().text == "/":
                self.fail("nesting with '/' is not supported; write a + a:b")
            self.take()
            right = self.interact_terms()
            left = _Terms(False, False, _unique(left.terms + right.terms +
                                                _interaction(left, right, self)))
        return left

    def interact_terms(self):
        left = self.atom_terms()
        if self.peek().text == "**":
            self.fail("'**' on terms is not supported (write the interactions out; "
                      "I(x**2) is the square of a column)")
        while self.peek().text == ":":
            self.take()
            right = self.atom_terms()
            left = _Terms(False, False, _unique(_interaction(left, right, self)))
        return left

    def atom_terms(self):
        tok = self.peek()
        if tok.text == "(":
            self.take()
            inner = self.sum_terms()
            self.take(")")
            return inner
        if tok.kind == "num":
            self.take()
            if tok.text == "1":
                return _Terms(True, False, (), marker=True)
            if tok.text == "0":
                return _Terms(False, True, (), marker=True, zero=True)
            self.fail("a number in a formula may only be 0 or 1 (use I(...) for arithmetic)",
                      tok)
        if tok.text == "**":
            self.fail("'**' on terms is not supported (write the interactions out)")
        return _Terms(False, False, ((self.factor(),),))

    # factor level --------------------------------------------------------------------
    def factor(self) -> Factor:
        start = self.i
        tok = self.peek()
        if tok.kind != "name":
            self.fail("expected a column name, C(...), I(...) or np.log/exp/sqrt(...)")
        fname = self._dotted_name()
        if fname == "C" and self.peek().text == "(":
            self.take("(")
            col = self.take()
            if col.kind != "name" or self.peek().text != ")":
                self.fail("C(...) takes one column name (treatment coding, the first level in "
                          "sorted order as the reference)", col)
            self.take(")")
            return Factor(pretty_code(self.toks[start:self.i]), True, column=col.text)
        if fname == "I" and self.peek().text == "(":
            self.take("(")
            expr = self.arith()
            self.take(")")
        elif fname in FUNCTIONS:
            self.take("(")
            expr = Expr(fname, (self.arith(),))
            self.take(")")
        elif self.peek().text == "(" or "." in fname:
            self.fail(f"unknown function {fname!r}: use C, I, np.log, np.exp or np.sqrt",
                      self.toks[start])
        else:
            expr = Expr("col", value=fname)
        return Factor(pretty_code(self.toks[start:self.i]), False, expr=expr)

    def _dotted_name(self) -> str:
        name = self.take().text
        while self.peek().text == "." and self.peek(1).kind == "name":
            self.take()
            name += "." + self.take().text
        return name

    # arithmetic (Python's precedence: ** over unary over * / over + -) -------------------
    def arith(self) -> Expr:
        left = self.arith_product()
        while self.peek().text in ("+", "-"):
            op = self.take().text
            left = Expr(op, (left, self.arith_product()))
        return left

    def arith_product(self) -> Expr:
        left = self.arith_unary()
        while self.peek().text in ("*", "/"):
            op = self.take().text
            left = Expr(op, (left, self.arith_unary()))
        return left

    def arith_unary(self) -> Expr:
        if self.peek().text in ("-", "+"):
            op = self.take().text
            inner = self.arith_unary()
            return Expr("neg", (inner,)) if op == "-" else Expr("pos", (inner,))
        return self.arith_power()

    def arith_power(self) -> Expr:
        base = self.arith_atom()
        if self.peek().text == "**":
            self.take()
            return Expr("**", (base, self.arith_unary()))
        return base

    def arith_atom(self) -> Expr:
        tok = self.peek()
        if tok.kind == "num":
            self.take()
            return Expr("num", value=float(tok.text))
        if tok.text == "(":
            self.take()
            inner = self.arith()
            self.take(")")
            return inner
        if tok.kind == "name":
            name = self._dotted_name()
            if name in FUNCTIONS or name == "I":
                self.take("(")
                inner = self.arith()
                self.take(")")
                return inner if name == "I" else Expr(name, (inner,))
            if self.peek().text == "(" or "." in name:
                self.fail(f"unknown function {name!r}: use np.log, np.exp or np.sqrt", tok)
            return Expr("col", value=name)
        self.fail("expected a number, a column or '('")


@dataclass(frozen=True)
class _Terms:
    """patsy's IntermediateExpr: intercept asked for, intercept removed, the terms."""

    intercept: bool
    removed: bool
    terms: tuple
    marker: bool = False  # a bare 0/1/-1/+1
    zero: bool = False


def _term_key(term) -> frozenset:
    return frozenset(f.name for f in term)


def _unique(terms) -> tuple:
    seen, out = set(), []
    for t in terms:
        k = _term_key(t)
        if k not in seen:
            seen.add(k)
            out.append(t)
    return tuple(out)


def _unique_factors(factors) -> tuple:
    seen, out = set(), []
    for f in factors:
        if f.name not in seen:
            seen.add(f.name)
            out.append(f)
    return tuple(out)


def _interaction(left, right, parser):
    if left.marker or right.marker:
        parser.fail("an intercept (0 or 1) cannot be part of an interaction")
    return tuple(_unique_factors(lt + rt) for lt in left.terms for rt in right.terms)


def _plus(left, right):
    if right.zero:
        return _Terms(False, True, left.terms)
    if right.intercept:
        return _Terms(True, False, _unique(left.terms + right.terms))
    return _Terms(left.intercept, left.removed, _unique(left.terms + right.terms))


def _minus(left, right):
    if right.zero:
        return _Terms(True, False, left.terms)
    if right.marker and right.intercept:
        return _Terms(False, True, left.terms)
    keys = {_term_key(t) for t in right.terms}
    return _Terms(left.intercept, left.removed,
                  tuple(t for t in left.terms if _term_key(t) not in keys))


@dataclass(frozen=True)
class Formula:
    """A parsed formula: the label factor, the intercept, the terms (tuples of factors)."""

    text: str
    label: Factor
    intercept: bool
    terms: tuple

    @property
    def factors(self) -> list:
        """Every distinct factor of the right-hand side, in order of appearance."""
        return list(_unique_factors(f for t in self.terms for f in t))

    @property
    def categorical_columns(self) -> list:
        return list(dict.fromkeys(f.column for f in self.factors if f.categorical))

    @property
    def numeric_columns(self) -> list:
        """Columns read as numbers: the label's and those of numeric factors."""
        cols = self.label.columns() + [c for f in self.factors if not f.categorical
                                       for c in f.columns()]
        return list(dict.fromkeys(cols))

    @property
    def columns(self) -> list:
        """Every column the formula reads (label first)."""
        return list(dict.fromkeys(self.numeric_columns + self.categorical_columns))

    @property
    def spans_constant(self) -> bool:
        """Without an intercept, a term of categorical factors only is coded with every
        level (patsy absorbs the missing intercept into it): the design still spans the
        constant, and statsmodels treats the model as having one."""
        return not self.intercept and any(all(f.categorical for f in t) for t in self.terms)

    @property
    def label_column(self) -> str:
        return self.label.columns()[0]


def parse_formula(text: str) -> Formula:
    """Parse ``text``; raise :class:`FormulaError` naming the position of the problem."""
    if not isinstance(text, str) or not text.strip():
        raise FormulaError("the formula is empty; write e.g. 'price ~ sqft + C(city)'")
    lhs, rhs = _Parser(text).formula()
    if len(set(lhs.columns())) != 1:
        raise FormulaError(f"the label {lhs.name!r} must use exactly one column")
    intercept = not rhs.removed
    if not rhs.terms and not intercept:
        raise FormulaError(f"the formula {text!r} has no terms and no intercept")
    label_col = lhs.columns()[0]
    for f in _unique_factors(f for t in rhs.terms for f in t):
        if label_col in f.columns():
            raise FormulaError(f"the label's column {label_col!r} cannot also be used on the "
                               f"right of '~' (in {f.name})")
    return Formula(text, lhs, intercept, tuple(rhs.terms))


# --- the design: patsy's column rules -----------------------------------------------------

@dataclass(frozen=True)
class Column:
    """One design column: its name and, per factor, the level it indicates (None: the
    numeric factor's value)."""

    name: str
    parts: tuple  # of (Factor, level index or None)


def _subsets_sorted(items):
    """patsy's ``_subsets_sorted``: all subsets, short before long, then by position."""
    idx = list(enumerate(items))
    subsets = [tuple(s) for k in range(len(idx) + 1) for s in itertools.combinations(idx, k)]
    subsets.sort()
    subsets.sort(key=len)
    return [tuple(obj for _, obj in s) for s in subsets]


def _simplify(subterms):
    """patsy's ``_simplify_subterms``: absorb ``a-`` into ``a-:b-`` as ``a-:b+``, greedily."""
    def once():
        for i, short in enumerate(subterms):
            for j in range(i + 1, len(subterms)):
                long = subterms[j]
                if len(long) - len(short) == 1 and long >= short:
                    (name, plus), = long - short
                    assert not plus
                    subterms[j] = frozenset(short | {(name, True)})
                    subterms.pop(i)
                    return True
        return False
    while once():
        pass


def level_name(level) -> str:
    return str(level)


def design_columns(formula: Formula, levels: dict) -> list:
    """The design's columns (the intercept excluded) in statsmodels' order and names.

    ``levels`` maps each categorical column to its sorted levels.
    """
    numeric = lambda f: not f.categorical  # noqa: E731
    terms = ([()] if formula.intercept else []) + list(formula.terms)
    buckets, order = {}, []
    for term in terms:
        key = frozenset(f.name for f in term if numeric(f))
        if key not in buckets:
            order.append(key)
        buckets.setdefault(key, []).append(term)
    if frozenset() in buckets:
        order.remove(frozenset())
        order.insert(0, frozenset())
    out = []
    for key in order:
        used = set()
        for term in sorted(buckets[key], key=len):
            cats = [f for f in term if f.categorical]
            subterms = []
            for subset in _subsets_sorted([f.name for f in cats]):
                st = frozenset((name, False) for name in subset)
                if st not in used:
                    subterms.append(st)
            used.update(subterms)
            _simplify(subterms)
            for st in subterms:
                full = {name: plus for name, plus in st}
                out.extend(_subterm_columns(term, full, levels))
    return [c for c in out if c.parts]  # the intercept is the solver's


def _subterm_columns(term, full, levels):
    choices = []
    for f in term:
        if not f.categorical:
            choices.append([(f, None, f.name)])
            continue
        if f.name not in full:  # a subterm of fewer factors: this one is spanned already
            continue
        lv = levels[f.column]
        if full[f.name]:
            choices.append([(f, i, f"{f.name}[{level_name(v)}]") for i, v in enumerate(lv)])
        else:
            choices.append([(f, i, f"{f.name}[T.{level_name(v)}]")
                            for i, v in enumerate(lv) if i > 0])
    cols = []
    # the left-most factor varies fastest (R's and patsy's order)
    for combo in itertools.product(*reversed(choices)):
        combo = combo[::-1]
        cols.append(Column(":".join(c[2] for c in combo), tuple((c[0], c[1]) for c in combo)))
    return cols
