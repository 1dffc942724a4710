"""Double-double arithmetic against exact rational arithmetic (fractions.Fraction)."""

import math
from fractions import Fraction

import numpy as np
import pytest

from mrlinreg.numerics import doubledouble as ddm
from mrlinreg.numerics.doubledouble import DD

U = Fraction(1, 2 ** 53)


def _wide(rng, n, lo=-60, hi=60):
    """Random doubles with full 53-bit mantissas over a wide range of exponents and signs."""
    return rng.uniform(0.5, 1.0, n) * np.exp2(rng.integers(lo, hi, n)) * rng.choice([-1.0, 1.0], n)


def _F(v):
    return Fraction(float(v))


def test_two_sum_is_error_free_and_nonoverlapping():
    rng = np.random.default_rng(0)
    a, b = _wide(rng, 3000), _wide(rng, 3000)
    b[:100] = -a[:100]                       # exact cancellation
    b[100:200] = a[100:200] * (1 + 2.0 ** -52)
    s, e = ddm.two_sum(a, b)
    for ai, bi, si, ei in zip(a, b, s, e):
        assert _F(si) + _F(ei) == _F(ai) + _F(bi)
    np.testing.assert_array_equal(s + e, s)  # |e| <= ulp(s) / 2
    np.testing.assert_array_equal(s, a + b)


def test_fast_two_sum_is_error_free_when_ordered():
    rng = np.random.default_rng(1)
    a, b = _wide(rng, 2000), _wide(rng, 2000)
    big, small = np.where(np.abs(a) >= np.abs(b), a, b), np.where(np.abs(a) >= np.abs(b), b, a)
    s, e = ddm.fast_two_sum(big, small)
    for x, y, si, ei in zip(big, small, s, e):
        assert _F(si) + _F(ei) == _F(x) + _F(y)


def test_split_halves_are_exact_and_short():
    rng = np.random.default_rng(2)
    a = _wide(rng, 2000, -300, 300)
    h, l = ddm.split(a)
    np.testing.assert_array_equal(h + l, a)
    for part in (h, l):
        mantissa, _ = np.frexp(part)
        scaled = mantissa * 2.0 ** 27        # at most 26 significant bits, plus the sign trick
        np.testing.assert_array_equal(scaled, np.round(scaled))
    for hi in h[:300]:
        assert _F(hi) * _F(hi) == _F(hi * hi)


def test_two_prod_is_error_free():
    rng = np.random.default_rng(3)
    a, b = _wide(rng, 3000, -200, 200), _wide(rng, 3000, -200, 200)
    p, e = ddm.two_prod(a, b)
    for ai, bi, pi, ei in zip(a, b, p, e):
        assert _F(pi) + _F(ei) == _F(ai) * _F(bi)
    np.testing.assert_array_equal(p, a * b)
    np.testing.assert_array_equal(p + e, p)


def _rel_err(x: DD, exact):
    got = ddm.dd_to_fractions(x)
    return [abs(g - t) / abs(t) if t != 0 else abs(g - t) for g, t in zip(got, exact)]


def _random_dd(rng, n, lo=-30, hi=30):
    return ddm.dd(_wide(rng, n, lo, hi), _wide(rng, n, lo, hi) * 2.0 ** -60)


def test_dd_add_mul_div_meet_their_bounds():
    rng = np.random.default_rng(4)
    x, y = _random_dd(rng, 1500), _random_dd(rng, 1500)
    # half of the sums cancel in their high parts
    y = DD(np.where(np.arange(1500) % 2 == 0, -x.hi, y.hi), y.lo)
    b = _wide(rng, 1500, -30, 30)
    fx, fy = ddm.dd_to_fractions(x), ddm.dd_to_fractions(y)
    fb = [_F(v) for v in b]
    sums = [p + q for p, q in zip(fx, fy)]
    assert max(_rel_err(ddm.dd_add(x, y), sums)) <= 3 * U ** 2 / (1 - 4 * U)
    assert max(_rel_err(ddm.dd_mul_float(x, b), [p * q for p, q in zip(fx, fb)])) <= 3 * U ** 2
    assert max(_rel_err(ddm.dd_div_float(x, b), [p / q for p, q in zip(fx, fb)])) <= 4 * U ** 2
    # x + b with a double: bounded by the magnitudes
    got = ddm.dd_to_fractions(ddm.dd_add_float(x, b))
    for g, p, q in zip(got, fx, fb):
        assert abs(g - (p + q)) <= 2 * U ** 2 * (abs(p) + abs(q))


def test_results_are_normalised():
    rng = np.random.default_rng(5)
    x, y = _random_dd(rng, 500), _random_dd(rng, 500)
    for r in (ddm.dd_add(x, y), ddm.dd_mul_float(x, y.hi), ddm.dd_div_float(x, y.hi),
              ddm.dd_sum(np.stack([x.hi, y.hi]), np.stack([x.lo, y.lo]))):
        np.testing.assert_array_equal(r.hi + r.lo, r.hi)


def _ill_conditioned_sum(rng, n, span=70):
    """Terms whose exact sum is a tiny remainder next to their magnitudes."""
    t = _wide(rng, n, 0, span)
    exact = sum(_F(v) for v in t)
    first = float(exact)
    second = float(exact - Fraction(first))
    t = np.concatenate([t, [-first, -second, 1e-3]])
    return rng.permutation(t), exact - Fraction(first) - Fraction(second) + _F(1e-3)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 1001])
def test_dd_sum_meets_the_pairwise_bound(n):
    rng = np.random.default_rng(n)
    t, exact = _ill_conditioned_sum(rng, n)
    s = ddm.dd_sum(t)
    err = abs(ddm.dd_to_fractions(s)[0] - exact)
    levels = math.ceil(math.log2(len(t)))
    assert err <= 2 * levels * U ** 2 * sum(abs(_F(v)) for v in t)
    assert exact != 0 and err / abs(exact) < 1e-6


def test_dd_sum_along_an_axis_and_of_nothing():
    rng = np.random.default_rng(7)
    M = _wide(rng, 60, -5, 5).reshape(5, 12)
    by_axis = ddm.dd_sum(M, axis=1)
    for i in range(5):
        exact = sum(_F(v) for v in M[i])
        assert abs(ddm.dd_to_fractions(by_axis.take(i))[0] - exact) <= 8 * U ** 2 * sum(
            abs(_F(v)) for v in M[i])
    empty = ddm.dd_sum(np.zeros((0, 3)))
    np.testing.assert_array_equal(empty.hi, np.zeros(3))


def test_dot_where_float64_has_no_correct_digit():
    """Dot2 quality: condition ~1e25, float64's np.dot is wrong in the first digit."""
    rng = np.random.default_rng(8)
    n = 200
    x = _wide(rng, n, 0, 40)
    y = _wide(rng, n, 0, 40)
    exact = sum(_F(a) * _F(b) for a, b in zip(x, y))
    first = float(exact)
    second = float(exact - Fraction(first))
    x = np.concatenate([x, [-first, -second, 1e-3]])
    y = np.concatenate([y, [1.0, 1.0, 1.0]])
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    truth = exact - Fraction(first) - Fraction(second) + _F(1e-3)
    magnitude = sum(abs(_F(a) * _F(b)) for a, b in zip(x, y))
    assert magnitude / abs(truth) > 1e24
    float_err = abs(_F(np.dot(x, y)) - truth) / abs(truth)
    assert float_err > 1                                # not one correct digit
    got = ddm.dd_dot_columns(x[:, None], ddm.dd(y))
    err = abs(ddm.dd_to_fractions(got)[0] - truth)
    levels = math.ceil(math.log2(len(x)))
    assert err <= (2 * levels + 2) * U ** 2 * magnitude
    assert err / abs(truth) < 1e-5                      # > 5 digits at condition 1e25


def test_dot_uses_the_low_part_of_the_vector():
    rng = np.random.default_rng(9)
    X = _wide(rng, 300, -10, 10).reshape(100, 3)
    r = _random_dd(rng, 100, -10, 10)
    got = ddm.dd_dot_columns(X, r)
    fr = ddm.dd_to_fractions(r)
    hi_only = ddm.dd_dot_columns(X, ddm.dd(r.hi))
    for j in range(3):
        terms = [_F(X[i, j]) * fr[i] for i in range(100)]
        bound = 16 * U ** 2 * sum(abs(t) for t in terms)
        assert abs(ddm.dd_to_fractions(got.take(j))[0] - sum(terms)) <= bound
        # dropping r.lo is an error of order u |r|, far above that bound
        assert abs(ddm.dd_to_fractions(hi_only.take(j))[0] - sum(terms)) > 1000 * bound


def test_fraction_round_trip():
    values = [Fraction(1, 3), Fraction(-2, 7) * 10 ** 30, Fraction(0), Fraction(5, 2 ** 80)]
    x = ddm.dd_from_fractions(values)
    for got, v in zip(ddm.dd_to_fractions(x), values):
        assert abs(got - v) <= U ** 2 * abs(v)
    np.testing.assert_array_equal(x.hi, [float(v) for v in values])
    exact = ddm.dd_to_fractions(x)
    assert ddm.dd_to_fractions(ddm.dd_from_fractions(exact)) == exact
