"""Double-double arithmetic on numpy arrays: error-free transformations, sums and dots.

A double-double number is an unevaluated sum ``x = hi + lo`` of two float64
values with ``|lo| <= ulp(hi) / 2`` (``hi`` is ``x`` rounded to the nearest
double), about 106 significant bits.  Here a double-double *array* is a
:class:`DD` pair of float64 arrays of one shape, and every operation is
vectorised elementwise.

Everything rests on two error-free transformations (``u = 2^-53``, round
to nearest, no overflow or underflow):

* :func:`two_sum` (Knuth): ``s = fl(a + b)`` and ``e`` with ``a + b = s + e``
  exactly, ``|e| <= u |s|``, for any ``a, b``;
* :func:`two_prod` (Dekker, via Veltkamp's :func:`split`, since numpy has
  no fused multiply-add): ``p = fl(a b)`` and ``e`` with ``a b = p + e``
  exactly, ``|e| <= u |p|``.

On them, :func:`dd_sum` sums along an axis by a pairwise tree of
double-double additions and :func:`dd_dot_columns` forms ``X^T r`` with ``r``
double-double; both are of the quality of Ogita, Rump & Oishi's Dot2
("Accurate sum and dot product", SIAM J. Sci. Comput. 26, 2005), computed as
if in twice the working precision:

    |result - exact| <= (2 ceil(log2 m) + 2) u^2 sum_i |t_i|

for ``m`` terms ``t_i`` (the products ``x_i r_i``), the result held as a
double-double (rounding it to a double adds ``u |exact|``).  So the error is
small relative to the *exact* sum unless the condition number
``sum |t_i| / |sum t_i|`` approaches ``1 / u^2 ~ 1e32``.

Inputs must be finite and well inside the float64 range: :func:`split`
overflows for ``|a| > 2^996`` (about 6.7e299) and products below about
``2^-969`` lose the exactness of their error term.
"""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

import numpy as np

__all__ = [
    "DD",
    "dd",
    "dd_add",
    "dd_add_float",
    "dd_div_float",
    "dd_dot_columns",
    "dd_from_fractions",
    "dd_mul_float",
    "dd_neg",
    "dd_sum",
    "dd_to_float",
    "dd_to_fractions",
    "fast_two_sum",
    "split",
    "two_prod",
    "two_sum",
]

# Veltkamp's splitter for binary64: 2^ceil(53/2) + 1.
_SPLITTER = 134217729.0


class DD(NamedTuple):
    """A double-double array ``hi + lo`` (both float64, same shape)."""

    hi: np.ndarray
    lo: np.ndarray

    @property
    def shape(self):
        return np.shape(self.hi)

    def take(self, index) -> "DD":
        """``DD(hi[index], lo[index])`` (plain indexing gives the tuple's fields)."""
        return DD(self.hi[index], self.lo[index])


def dd(hi, lo=None) -> DD:
    """A :class:`DD` from float64 values (``lo`` zero when not given), normalised."""
    hi = np.asarray(hi, dtype=np.float64)
    if lo is None:
        return DD(hi.copy(), np.zeros_like(hi))
    return DD(*two_sum(hi, np.asarray(lo, dtype=np.float64)))


def two_sum(a, b):
    """Knuth's TwoSum: ``s + e = a + b`` exactly.

    ``s = fl(a + b)``, ``z = fl(s - a)``, ``e = fl((a - fl(s - z)) + (b - z))``.
    Six flops, no branch, valid for any ordering of ``|a|``, ``|b|``;
    ``|e| <= u |s|`` and ``e`` is exactly the rounding error of ``s``.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    s = a + b
    z = s - a
    e = (a - (s - z)) + (b - z)
    return s, e


def fast_two_sum(a, b):
    """Dekker's FastTwoSum: ``s + e = a + b`` exactly, *provided* ``|a| >= |b|``.

    ``s = fl(a + b)``, ``e = fl(b - fl(s - a))``: three flops.  Used only
    where the ordering is known (renormalising ``hi + small``).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    s = a + b
    return s, b - (s - a)


def split(a):
    """Veltkamp's split: ``a = h + l`` with ``h`` and ``l`` of at most 26 significant bits.

    ``c = fl(C a)``, ``h = fl(c - fl(c - a))``, ``l = fl(a - h)``, with
    ``C = 2^27 + 1``.  Products of halves are then exact in float64.
    Overflows for ``|a| > 2^996``.
    """
    a = np.asarray(a, dtype=np.float64)
    c = _SPLITTER * a
    h = c - (c - a)
    return h, a - h


def two_prod(a, b, a_split=None):
    """Dekker's TwoProduct: ``p + e = a b`` exactly (no FMA needed).

    With ``a = a1 + a2`` and ``b = b1 + b2`` from :func:`split`,
    ``p = fl(a b)`` and
    ``e = a2 b2 - (((p - a1 b1) - a2 b1) - a1 b2)``, every operation exact
    but the first product; 17 flops.  ``|e| <= u |p|``.  ``a_split``, the
    precomputed ``split(a)``, saves its four flops when ``a`` is reused.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    p = a * b
    a1, a2 = split(a) if a_split is None else a_split
    b1, b2 = split(b)
    e = a2 * b2 - (((p - a1 * b1) - a2 * b1) - a1 * b2)
    return p, e


def dd_add(x: DD, y: DD) -> DD:
    """Accurate double-double addition (the "IEEE" add of QD / Joldes et al. 2017).

    ``(s, e) = TwoSum(x.hi, y.hi)``, ``(t, f) = TwoSum(x.lo, y.lo)``,
    then renormalise ``s + (e + t)`` and add ``f``.  Relative error
    ``<= 3 u^2 / (1 - 4 u)`` of the exact ``x + y``, even under cancellation.
    """
    s, e = two_sum(x.hi, y.hi)
    t, f = two_sum(x.lo, y.lo)
    s, e = fast_two_sum(s, e + t)
    return DD(*fast_two_sum(s, e + f))


def _add_sloppy(x_hi, x_lo, y_hi, y_lo):
    """``x + y`` with error ``<= 2 u^2 (|x| + |y|)``: the node of the summation tree.

    ``(s, e) = TwoSum(x.hi, y.hi)`` is exact; only ``x.lo + y.lo + e`` is
    rounded, and the renormalisation uses TwoSum (not FastTwoSum), so it is
    exact whatever the relative sizes after cancellation.
    """
    s, e = two_sum(x_hi, y_hi)
    return two_sum(s, e + (x_lo + y_lo))


def dd_add_float(x: DD, b) -> DD:
    """``x + b`` for a float64 ``b``; relative error ``<= 2 u^2`` of ``|x| + |b|``."""
    b = np.asarray(b, dtype=np.float64)
    return DD(*_add_sloppy(x.hi, x.lo, b, np.zeros_like(b)))


def dd_neg(x: DD) -> DD:
    """``-x`` (exact)."""
    return DD(-x.hi, -x.lo)


def dd_mul_float(x: DD, b) -> DD:
    """``x b`` for a float64 ``b``: ``(p, e) = TwoProd(x.hi, b)``, ``e += x.lo b``.

    Relative error ``<= 3 u^2`` (Joldes, Muller & Popescu 2017, DWTimesFP).
    """
    b = np.asarray(b, dtype=np.float64)
    p, e = two_prod(x.hi, b)
    return DD(*fast_two_sum(p, e + x.lo * b))


def dd_div_float(x: DD, b) -> DD:
    """``x / b`` for a float64 ``b != 0``.

    ``q1 = fl(x.hi / b)``; the remainder ``x - q1 b`` is formed exactly
    (TwoProd, TwoSum) up to ``x.lo``'s rounding, ``q2 = fl(remainder / b)``
    and ``q = q1 + q2`` renormalised.  Relative error ``<= 4 u^2``
    (Joldes et al. 2017, DWDivFP).
    """
    b = np.asarray(b, dtype=np.float64)
    q1 = x.hi / b
    p, e = two_prod(q1, b)
    s, t = two_sum(x.hi, -p)
    t = t - e + x.lo
    q2 = (s + t) / b
    return DD(*fast_two_sum(q1, q2))


def dd_sum(hi, lo=None, axis=0) -> DD:
    """Sum double-double values along ``axis`` by a pairwise tree of additions.

    At each level, entries ``2k`` and ``2k+1`` are added by TwoSum of the
    high parts (exact) plus the rounded sum of the low parts and that error
    (:func:`_add_sloppy`).  Each of the ``ceil(log2 m)`` levels adds an
    error ``<= 2 u^2`` times the sum of the magnitudes below it, so

        |result - sum_i x_i| <= 2 ceil(log2 m) u^2 sum_i |x_i|   (+ O(u^3)).

    Unlike Sum2's sequential recursion every level is one vectorised numpy
    operation, and the result does not depend on anything but the order of
    the terms.

    Parameters
    ----------
    hi, lo : array_like
        High and low parts (``lo`` zero when None).
    axis : int

    Returns
    -------
    DD
        With ``axis`` removed.
    """
    hi = np.moveaxis(np.asarray(hi, dtype=np.float64), axis, 0)
    lo = np.zeros_like(hi) if lo is None else np.moveaxis(np.asarray(lo, dtype=np.float64), axis, 0)
    if hi.shape[0] == 0:
        return DD(np.zeros(hi.shape[1:]), np.zeros(hi.shape[1:]))
    while hi.shape[0] > 1:
        m = hi.shape[0]
        if m % 2:                      # the odd one out waits for the next level
            carry_hi, carry_lo = hi[-1:], lo[-1:]
            hi, lo = hi[:-1], lo[:-1]
        h, l = _add_sloppy(hi[0::2], lo[0::2], hi[1::2], lo[1::2])
        if m % 2:
            h, l = np.concatenate([h, carry_hi]), np.concatenate([l, carry_lo])
        hi, lo = h, l
    return DD(*two_sum(hi[0], lo[0]))


def dd_dot_columns(X, r: DD, X_split=None) -> DD:
    """``X^T r`` in double-double: ``sum_i X_ij r_i`` for every column ``j``.

    Each product ``X_ij (r.hi_i + r.lo_i)`` is ``TwoProd(X_ij, r.hi_i)`` plus
    ``fl(X_ij r.lo_i)`` (relative error ``u^2``), then :func:`dd_sum` over
    the rows: the error is ``<= (2 ceil(log2 n) + 2) u^2 sum_i |X_ij r_i|``
    (Dot2 quality).

    Parameters
    ----------
    X : array_like of shape (n, d)
    r : DD of shape (n,)
    X_split : tuple of ndarray, optional
        ``split(X)``, when already computed.

    Returns
    -------
    DD of shape (d,)
    """
    X = np.asarray(X, dtype=np.float64)
    p, e = two_prod(X, r.hi[:, None], a_split=X_split)
    return dd_sum(p, e + X * r.lo[:, None], axis=0)


def dd_to_float(x: DD) -> np.ndarray:
    """The nearest double to ``x.hi + x.lo`` (rounded once)."""
    return x.hi + x.lo


def dd_to_fractions(x: DD) -> list:
    """Exact values ``hi + lo`` as a flat list of :class:`fractions.Fraction`."""
    return [Fraction(float(h)) + Fraction(float(l))
            for h, l in zip(np.ravel(x.hi), np.ravel(x.lo))]


def dd_from_fractions(values) -> DD:
    """The double-double nearest each rational: ``hi = round(v)``, ``lo = round(v - hi)``.

    ``float(Fraction)`` rounds correctly, so ``|v - (hi + lo)| <= u^2 |v|``.
    """
    values = [Fraction(v) for v in values]
    hi = [float(v) for v in values]
    lo = [float(v - Fraction(h)) for v, h in zip(values, hi)]
    return DD(np.array(hi, dtype=np.float64), np.array(lo, dtype=np.float64))
