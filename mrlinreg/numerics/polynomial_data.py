"""Constructed ill-conditioned regression problems with exactly known answers.

Used by the accuracy tests and the benchmarks.  The reference solution is
the exact least-squares solution *of the floating-point data as given*,
computed in rational arithmetic (:class:`fractions.Fraction`), so an error
measured against it is the solver's alone.

* :func:`filip_like` -- NIST StRD "Filip"-type: a degree-10 polynomial in
  ``x`` on [-9, -3] (82 points) with Filip's certified coefficients as the
  generating polynomial and small Gaussian noise.  The raw design
  ``[x, x^2, ..., x^10, 1]`` has condition number ~1e15; standardised, ~1e9.
* :func:`integer_polynomial` -- a degree-5 integer polynomial on
  ``x = 0..20`` with exact integer targets: zero residual and an exactly
  known integer answer.
* :func:`wampler_like` -- NIST "Wampler"-type: the same integer design with
  integer targets plus a large integer perturbation (non-zero residual,
  every value exact).
* :func:`polynomial_on_interval` -- any degree on any interval, any number
  of rows (the long, tall problems).

:func:`exact_least_squares_dyadic` gives the same rational reference as
:func:`exact_least_squares` for thousands of rows, in integer arithmetic.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__ = [
    "FILIP_COEFFICIENTS",
    "exact_least_squares",
    "exact_least_squares_dyadic",
    "filip_like",
    "integer_polynomial",
    "log_relative_error",
    "polynomial_features",
    "polynomial_on_interval",
    "wampler_like",
]

# NIST StRD Filip certified values b0..b10 (y = sum_k b_k x^k): used only to
# generate data; the reference answer is recomputed exactly for that data.
FILIP_COEFFICIENTS = np.array([
    -1467.48961422980, -2772.17959193342, -2316.37108160893, -1127.97394098372,
    -354.478233703349, -75.1242017393757, -10.8753180355343, -1.06221498588947,
    -0.670191154593408e-01, -0.246781078275479e-02, -0.402962525080404e-04,
])


def polynomial_features(x, degree):
    """Columns ``x, x^2, ..., x^degree`` (no constant), shape (n, degree)."""
    x = np.asarray(x, dtype=np.float64)
    return np.column_stack([x ** k for k in range(1, degree + 1)])


def filip_like(n=82, noise=0.0033, seed=0):
    """Filip-type data: ``y = sum_k b_k x^k + N(0, noise^2)``, x evenly on [-9, -3].

    Returns
    -------
    X : ndarray of shape (n, 10)
        ``x, ..., x^10`` (the features the regression sees).
    y : ndarray of shape (n,)
    """
    rng = np.random.default_rng(seed)
    x = np.linspace(-9.0, -3.0, n)
    X = polynomial_features(x, 10)
    y = FILIP_COEFFICIENTS[0] + X @ FILIP_COEFFICIENTS[1:] + rng.normal(0.0, noise, n)
    return X, y


def integer_polynomial(degree=5, coefficients=None):
    """Exact integer data: ``y = sum_k c_k x^k`` on ``x = 0, 1, ..., 20``.

    Every value is an integer below 2^53, so it is stored exactly.

    Returns
    -------
    X : ndarray of shape (21, degree)
    y : ndarray of shape (21,)
    truth : ndarray of shape (degree + 1,)
        ``[c_1, ..., c_degree, c_0]`` (coefficients, then intercept).
    """
    if coefficients is None:
        coefficients = [7, -3, 5, -2, 1, 1, -1, 2, 1, -1, 1][:degree + 1]
    c = [int(v) for v in coefficients]
    xs = list(range(21))
    X = np.array([[float(x ** k) for k in range(1, degree + 1)] for x in xs])
    y = np.array([float(sum(ck * x ** k for k, ck in enumerate(c))) for x in xs])
    return X, y, np.array(c[1:] + c[:1], dtype=np.float64)


def exact_least_squares(X, y, fit_intercept=True):
    """Exact least-squares solution of the float data, in rationals.

    Solves the normal equations ``G b = h``, ``G = X1^T X1``, ``h = X1^T y``
    (``X1 = [X, 1]`` with an intercept) by Gaussian elimination over
    :class:`fractions.Fraction`; every float is exactly a rational, so no
    rounding happens at all.  Cost grows fast with size: meant for the
    small reference problems here (tens of rows, ~10 columns).

    Returns
    -------
    list of Fraction
        ``[coef_1, ..., coef_d, intercept]`` (without the intercept entry
        when ``fit_intercept`` is False).

    Raises
    ------
    ValueError
        If ``X1`` does not have full column rank.
    """
    rows = [[Fraction(float(v)) for v in row] + ([Fraction(1)] if fit_intercept else [])
            for row in np.asarray(X, dtype=np.float64)]
    ys = [Fraction(float(v)) for v in np.asarray(y, dtype=np.float64)]
    p = len(rows[0])
    G = [[sum(r[a] * r[c] for r in rows) for c in range(p)] for a in range(p)]
    h = [sum(r[a] * yi for r, yi in zip(rows, ys)) for a in range(p)]
    return _solve_rational(G, h)


def _solve_rational(G, h):
    """Gaussian elimination over :class:`fractions.Fraction` (exact); ``G`` (p, p) nonsingular."""
    G = [[Fraction(v) for v in row] for row in G]
    h = [Fraction(v) for v in h]
    p = len(h)
    for col in range(p):
        pivot = next((r for r in range(col, p) if G[r][col] != 0), None)
        if pivot is None:
            raise ValueError("X does not have full column rank")
        G[col], G[pivot] = G[pivot], G[col]
        h[col], h[pivot] = h[pivot], h[col]
        for r in range(col + 1, p):
            factor = G[r][col] / G[col][col]
            if factor:
                for c in range(col, p):
                    G[r][c] -= factor * G[col][c]
                h[r] -= factor * h[col]
    b = [Fraction(0)] * p
    for r in reversed(range(p)):
        b[r] = (h[r] - sum(G[r][c] * b[c] for c in range(r + 1, p))) / G[r][r]
    return b


def log_relative_error(estimate, truth):
    """LRE ``= -log10(|estimate - truth| / |truth|)`` per entry (inf when exact).

    ``truth`` may hold Fractions; the difference is taken exactly.
    """
    out = []
    for e, t in zip(np.asarray(estimate, dtype=np.float64), truth):
        t = Fraction(t)
        diff = abs(Fraction(float(e)) - t)
        if diff == 0:
            out.append(float("inf"))
        elif t == 0:
            out.append(-float(np.log10(float(diff))))    # absolute error digits
        else:
            out.append(-float(np.log10(float(diff / abs(t)))))
    return np.array(out)


def polynomial_on_interval(degree, n=82, lo=-9.0, hi=-3.0, noise=0.0033, seed=0,
                           coefficients=None):
    """``y = sum_k c_k x^k + N(0, noise^2)`` with ``x`` evenly on [lo, hi].

    Defaults to Filip's interval and the first ``degree + 1`` of Filip's
    coefficients (``c_0`` first).

    Returns
    -------
    X : ndarray of shape (n, degree)
        ``x, ..., x^degree``.
    y : ndarray of shape (n,)
    """
    c = np.asarray(FILIP_COEFFICIENTS[:degree + 1] if coefficients is None else coefficients,
                   dtype=np.float64)
    rng = np.random.default_rng(seed)
    x = np.linspace(lo, hi, n)
    X = polynomial_features(x, degree)
    y = c[0] + X @ c[1:] + rng.normal(0.0, noise, n)
    return X, y


def wampler_like(degree=5, amplitude=10_000, seed=0):
    """Wampler-type exact data: an integer polynomial on ``x = 0..20`` plus integer noise.

    ``y_i = sum_k x_i^k + amplitude * e_i`` with integers ``e_i`` in
    [-10, 10] (as NIST's Wampler 3-5 perturb Wampler 1); every value is an
    integer below 2^53, stored exactly, and the residual is not zero.

    Returns
    -------
    X : ndarray of shape (21, degree)
    y : ndarray of shape (21,)
    """
    rng = np.random.default_rng(seed)
    xs = list(range(21))
    noise = [int(v) for v in rng.integers(-10, 11, size=len(xs))]
    X = np.array([[float(x ** k) for k in range(1, degree + 1)] for x in xs])
    y = np.array([float(sum(x ** k for k in range(degree + 1)) + amplitude * e)
                  for x, e in zip(xs, noise)])
    return X, y


def _as_scaled_integers(values, K):
    """``v * 2^K`` as Python ints (exact: every double is ``M 2^E``, ``E >= -K``)."""
    mantissa, exponent = np.frexp(values)
    M = (mantissa * 2.0 ** 53).astype(np.int64)
    shifts = exponent.astype(np.int64) - 53 + K
    out = np.empty(values.shape, dtype=object)
    flat = out.reshape(-1)
    for i, (m, s) in enumerate(zip(M.reshape(-1).tolist(), shifts.reshape(-1).tolist())):
        flat[i] = m << s if s >= 0 else m >> -s      # the shift right drops only zero bits
    return out


def exact_least_squares_dyadic(X, y, fit_intercept=True):
    """:func:`exact_least_squares` in integer arithmetic, fast enough for thousands of rows.

    Every double is ``M 2^E`` with an integer ``M``; multiplying ``[X, 1, y]``
    by one power of two ``2^K`` (``K = -min E``) makes every entry an
    integer and changes no least-squares solution.  ``G = X1^T X1`` and
    ``h = X1^T y`` are then exact Python-integer sums, and ``G b = h`` is
    solved over :class:`fractions.Fraction`.

    Returns
    -------
    list of Fraction
        ``[coef_1, ..., coef_d, intercept]``, identical to
        :func:`exact_least_squares`.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
        raise ValueError("X and y must be finite")
    data = np.column_stack([X, y])
    nonzero = data[data != 0]
    _, exponents = np.frexp(nonzero)
    K = max(0, int(53 - exponents.min())) if nonzero.size else 0
    Z = _as_scaled_integers(data, K)
    if fit_intercept:
        ones = np.empty((Z.shape[0], 1), dtype=object)
        ones[:, 0] = 1 << K
        X1 = np.hstack([Z[:, :-1], ones])
    else:
        X1 = Z[:, :-1]
    G = X1.T.dot(X1)
    h = X1.T.dot(Z[:, -1])
    return _solve_rational(G.tolist(), h.tolist())
