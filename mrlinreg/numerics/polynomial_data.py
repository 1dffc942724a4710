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
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__ = [
    "FILIP_COEFFICIENTS",
    "exact_least_squares",
    "filip_like",
    "integer_polynomial",
    "log_relative_error",
    "polynomial_features",
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
