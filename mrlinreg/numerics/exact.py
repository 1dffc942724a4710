"""Exact least squares from the TSQR factor of ``M = [A y]``, with a diagnosis.

With ``R_aug`` the (p+1, p+1) R factor of ``[A y]`` (see
:mod:`mrlinreg.numerics.tsqr`), partitioned as

    R_aug = [[R, z  ],
             [0, rho]],

the least-squares weights and residual sum of squares are

    w = R^{-1} z            (back substitution, never (A^T A)^{-1}),
    rss = rho^2.

The error of ``w`` is then of order ``eps * cond(A)`` (plus
``eps * cond(A)^2 * ||r|| / (||A|| ||w||)``), not ``eps * cond(A)^2`` as
with the normal equations.

Rank is judged on the column-equilibrated factor ``R D^{-1}``,
``D = diag(||A_j||)`` (the column norms of ``R`` are those of ``A``), so
that units do not matter: singular values below ``rcond * s_max`` count as
zero.  For each small singular value the right singular vector ``v`` gives
a relation ``sum_j v_j A_j / ||A_j|| ~ 0``; the columns with
``|v_j| >= 1e-3 max |v|`` are the ones named.  A zero column (a constant feature after
centring) is reported as such.

Rank-deficient problems are never solved silently: by default ``w`` is
None and the result says which columns are involved; with
``min_norm=True`` the truncated pseudo-inverse solution is returned,

    w = D^{-1} V_r S_r^{-1} U_r^T z,    R D^{-1} = U S V^T,

the solution of least ``||D w||`` (for standardised columns, where ``D``
is ``sqrt(n)`` times the identity, the plain minimum-norm solution), and
``rss = rho^2 + ||U_{r+1:}^T z||^2``.

Refinement (corrected semi-normal equations, Bjorck 1987): given any
``w`` (a gradient-descent iterate, or a solve to be polished), one extra
pass over the data computing ``g = A^T (y - A w)`` allows

    R^T R dw = g,   w <- w + dw,

by two triangular solves (:func:`csne_correction`).  It takes an inexact
``w`` to the accuracy of the R-based solve in one step.  For ``w`` from
:func:`solve_r` itself it gains nothing in double precision: the error is
then dominated by the rounding of ``A = (X - shift)/scale`` itself
(about ``eps * cond(A)``), which the same rounded ``A`` in ``A^T r``
cannot see; computing ``r`` and ``A^T r`` in extended precision
(``numpy.longdouble``) gains a fraction of a digit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
from scipy.linalg import qr, solve_triangular

__all__ = [
    "Collinearity",
    "ExactSolution",
    "RankDeficientError",
    "Spectrum",
    "csne_correction",
    "diagnosis_message",
    "solve_r",
    "spectrum",
]

DEFAULT_RCOND = 1e-12
DEFAULT_COLLINEAR_INDEX = 1e5
# A column takes part in a relation when |v_j| >= this fraction of max |v|.
# Columns outside a relation show up in its vector only at the level of
# s / s_gap <= 1 / collinear_index (or rounding, for exact dependences), so
# 1e-3 keeps columns with a small but real share (x3 = 2 x0 - 0.01 x2).
_INVOLVED_FRACTION = 1e-3


class RankDeficientError(ValueError):
    """The design matrix does not have full column rank."""


@dataclass(frozen=True)
class Collinearity:
    """One (near-)linear relation among working columns.

    Attributes
    ----------
    columns : tuple of str
        The columns taking part, largest share first.
    loadings : tuple of float
        Their components in the unit right singular vector of the
        column-equilibrated ``R``: ``sum_j loading_j A_j / ||A_j|| ~ 0``.
    condition_index : float
        ``s_max / s`` for the singular value ``s`` of that relation
        (inf for an exact zero).
    dependent : bool
        True when the relation is below the rank threshold (an exact
        dependence numerically), False for a near-collinearity.
    """

    columns: tuple
    loadings: tuple
    condition_index: float
    dependent: bool

    def describe(self) -> str:
        index = "inf" if not np.isfinite(self.condition_index) else f"{self.condition_index:.3g}"
        return f"{{{', '.join(self.columns)}}} (condition index {index})"


@dataclass(frozen=True)
class Spectrum:
    """Singular-value diagnosis of the (p, p) factor ``R`` of ``A``."""

    singular_values: np.ndarray            # of R (= of A), descending
    scaled_singular_values: np.ndarray     # of R D^{-1} without zero columns, descending
    column_norms: np.ndarray               # ||A_j||
    nonzero_columns: np.ndarray            # indices of the columns that are not zero
    rank: int
    condition_number: float                # s_max / s_min of A (inf if singular)
    scaled_condition_number: float         # same for R D^{-1}
    zero_columns: tuple
    collinearities: tuple                  # of Collinearity, worst first
    u: np.ndarray = field(repr=False)      # SVD of that matrix = u diag(s) vt
    vt: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class ExactSolution:
    """Result of :func:`solve_r`.

    Attributes
    ----------
    w : ndarray of shape (p,) or None
        Working weights (intercept last); None when the problem is rank
        deficient and ``min_norm`` was not asked for.
    rss : float
        Minimum residual sum of squares ``||y - A w||^2`` (correct also in
        the rank-deficient case).
    rank : int
        Numerical rank of ``A``.
    n_params : int
        Number of working columns ``p``.
    condition_number : float
        2-norm condition number of ``A`` (``inf`` if exactly singular).
    scaled_condition_number : float
        Condition number after scaling every column to unit length: the
        one that measures collinearity regardless of units.
    singular_values : ndarray
        Singular values of ``A``, descending.
    rank_deficient : bool
    near_collinear : bool
        Full rank, but some condition index exceeds ``collinear_index``.
    collinearities : tuple of Collinearity
        Relations found (rank-deficient or near), worst first.
    zero_columns : tuple of str
        Columns that are identically zero in working space.
    min_norm : bool
        True when ``w`` is the truncated pseudo-inverse solution.
    message : str
        Human-readable diagnosis; empty when all is well.
    """

    w: Optional[np.ndarray]
    rss: float
    rank: int
    n_params: int
    condition_number: float
    scaled_condition_number: float
    singular_values: np.ndarray
    rank_deficient: bool
    near_collinear: bool
    collinearities: tuple
    zero_columns: tuple
    min_norm: bool
    message: str

    @property
    def offending_columns(self) -> tuple:
        """Union of the columns named by the diagnosis, in column order of first mention."""
        seen = list(self.zero_columns)
        for relation in self.collinearities:
            seen.extend(c for c in relation.columns if c not in seen)
        return tuple(seen)

    def raise_if_rank_deficient(self) -> "ExactSolution":
        """Raise :class:`RankDeficientError` with :attr:`message` if rank deficient."""
        if self.rank_deficient and not self.min_norm:
            raise RankDeficientError(self.message)
        return self


def _split(R_aug):
    R_aug = np.asarray(R_aug, dtype=np.float64)
    if R_aug.ndim != 2 or R_aug.shape[0] != R_aug.shape[1] or R_aug.shape[0] < 2:
        raise ValueError(f"R_aug must be square (p+1, p+1) with p >= 1; got shape {R_aug.shape}")
    return R_aug[:-1, :-1], R_aug[:-1, -1], float(R_aug[-1, -1])


def spectrum(R, names: Sequence[str], *, rcond: float = DEFAULT_RCOND,
             collinear_index: float = DEFAULT_COLLINEAR_INDEX) -> Spectrum:
    """Rank, condition numbers and named collinearities from the factor ``R`` of ``A``.

    Parameters
    ----------
    R : ndarray of shape (p, p)
        Upper-triangular factor of ``A`` (``A^T A = R^T R``).
    names : sequence of str
        The p working column names (feature names, then "intercept").
    rcond : float
        Relative threshold on the singular values of ``R D^{-1}``
        (``D = diag(||A_j||)``) below which they count as zero.
    collinear_index : float
        Condition index ``s_max / s_i`` above which a full-rank direction is
        reported as a near-collinearity.

    Returns
    -------
    Spectrum
    """
    R = np.asarray(R, dtype=np.float64)
    p = R.shape[0]
    names = tuple(str(n) for n in names)
    if len(names) != p:
        raise ValueError(f"names has {len(names)} entries but R has {p} columns")
    s_raw = np.linalg.svd(R, compute_uv=False)
    norms = np.linalg.norm(R, axis=0)
    # A column is zero when it is negligible next to the largest one (exact
    # zeros, or centring residue of a constant feature).
    is_zero = norms <= rcond * max(norms.max(initial=0.0), np.finfo(float).tiny)
    nonzero = np.flatnonzero(~is_zero)
    # Zero columns are named as such and left out of the relations, which
    # would otherwise mix them into every null vector.
    Rs = R[:, nonzero] / norms[nonzero]
    u, s, vt = np.linalg.svd(Rs)            # u (p, p), s (m,), vt (m, m)
    s_max = s[0] if s.size else 0.0
    rank = int(np.count_nonzero(s > rcond * s_max)) if s_max > 0 else 0

    def ratio(a, b):
        return float(a / b) if b > 0 else float("inf")

    groups = (
        (True, list(range(rank, s.size))),
        (False, [i for i in range(rank) if ratio(s_max, s[i]) > collinear_index]),
    )
    relations = []
    for dependent, rows in groups:
        if rows:
            relations.extend(_named_relations(vt[rows], Rs, s_max, [names[j] for j in nonzero],
                                              dependent))
    relations.sort(key=lambda r: -r.condition_index)
    return Spectrum(
        singular_values=s_raw,
        scaled_singular_values=s,
        column_norms=norms,
        nonzero_columns=nonzero,
        rank=rank,
        condition_number=ratio(s_raw[0], s_raw[-1]) if p else 1.0,
        scaled_condition_number=ratio(s_max, s[-1]) if s.size == p else float("inf"),
        zero_columns=tuple(names[j] for j in np.flatnonzero(is_zero)),
        collinearities=tuple(relations),
        u=u,
        vt=vt,
    )


def _named_relations(V, Rs, s_max, names, dependent):
    """Split a subspace of small singular directions into relations that name few columns.

    The rows of ``V`` (q, m) span the (near-)null space; any basis of it is
    as valid, and singular vectors of equal (zero) singular values mix
    unrelated relations.  A reduced echelon basis ``B = V_P^{-1} V``, with
    the pivot columns ``P`` chosen by QR with column pivoting, gives each
    relation one pivot column of its own, which separates independent
    dependencies (``a + 2b = c`` and ``d = 5``).  Each relation's condition
    index is ``s_max / ||R_s b||`` for its unit vector ``b``.
    """
    q = V.shape[0]
    _, piv = qr(V, mode="r", pivoting=True)
    B = np.linalg.solve(V[:, piv[:q]], V)
    relations = []
    for b in B:
        b = b / np.linalg.norm(b)
        size = np.linalg.norm(Rs @ b)
        involved = np.flatnonzero(np.abs(b) >= _INVOLVED_FRACTION * np.abs(b).max())
        involved = sorted(involved, key=lambda j: -abs(b[j]))
        relations.append(Collinearity(
            columns=tuple(names[j] for j in involved),
            loadings=tuple(float(b[j]) for j in involved),
            condition_index=float(s_max / size) if size > 0 else float("inf"),
            dependent=dependent,
        ))
    return relations


def diagnosis_message(spec: Spectrum, p: int, min_norm: Optional[bool] = None) -> str:
    """Human-readable diagnosis of a :class:`Spectrum` (empty when all is well).

    ``min_norm`` says whether the minimum-norm solution was returned (True),
    could be asked for (False), or is not the caller's concern (None).
    """
    parts = []
    if spec.rank < p:
        parts.append(
            f"the design matrix has rank {spec.rank} < {p} columns, so the coefficients "
            "are not uniquely determined"
        )
        if spec.zero_columns:
            parts.append("constant (zero after centring) column(s): " + ", ".join(spec.zero_columns))
        dependent = [r for r in spec.collinearities if r.dependent]
        if dependent:
            parts.append("linearly dependent columns: " + "; ".join(r.describe() for r in dependent))
        advice = {True: "; returned the minimum-norm solution",
                  False: ", or ask for the minimum-norm solution", None: ""}[min_norm]
        parts.append("drop or combine the named columns" + advice)
    elif spec.collinearities:
        parts.append(
            "near-collinear columns (coefficients poorly determined, standard errors inflated): "
            + "; ".join(r.describe() for r in spec.collinearities)
        )
    return "; ".join(parts)


def factor_from_gram(G) -> np.ndarray:
    """A square ``M`` with ``M^T M = G`` for a symmetric positive semi-definite ``G``.

    ``M = diag(sqrt(lambda)) V^T`` from ``G = V diag(lambda) V^T`` (negative
    rounding residue clipped to 0), so :func:`spectrum` can diagnose a Gram
    matrix ``A^T A`` as it diagnoses R.  Its singular values carry errors of
    about ``sqrt(eps) * s_max``: pass ``rcond=GRAM_RCOND`` to :func:`spectrum`.
    """
    G = np.asarray(G, dtype=np.float64)
    lam, V = np.linalg.eigh((G + G.T) / 2)
    return np.sqrt(np.clip(lam, 0.0, None))[:, None] * V.T


# singular values of a factor built from A^T A are accurate to ~sqrt(eps) * s_max
GRAM_RCOND = 1e-7


def solve_r(R_aug, *, names: Sequence[str], rcond: float = DEFAULT_RCOND,
            collinear_index: float = DEFAULT_COLLINEAR_INDEX,
            min_norm: bool = False) -> ExactSolution:
    """Least-squares weights from the R factor of ``[A y]``.

    ``w = R^{-1} z`` and ``rss = rho^2`` for ``R_aug = [[R, z], [0, rho]]``
    when ``A`` has full rank (see the module docstring for the
    rank-deficient case).

    Parameters
    ----------
    R_aug : ndarray of shape (p+1, p+1)
        R factor of ``[A y]`` from :func:`mrlinreg.numerics.tsqr.merge`.
    names : sequence of str
        The p working column names (features, then "intercept").
    rcond : float
        Relative singular-value threshold for the numerical rank (on the
        column-equilibrated factor).  Above a condition number of 1e12 a
        double-precision solution keeps at most a few digits anyway.
    collinear_index : float
        Condition index above which a full-rank problem is flagged
        ``near_collinear`` (the solution is still returned).
    min_norm : bool
        For a rank-deficient problem, return the truncated pseudo-inverse
        solution (flagged) instead of ``w = None``.

    Returns
    -------
    ExactSolution
    """
    R, z, rho = _split(R_aug)
    p = R.shape[0]
    spec = spectrum(R, names, rcond=rcond, collinear_index=collinear_index)
    deficient = spec.rank < p
    if not deficient:
        w = solve_triangular(R, z, lower=False)
        rss = rho ** 2
    else:
        # Part of z outside the range of R is residual too.
        coords = spec.u.T @ z
        rss = rho ** 2 + float(np.sum(coords[spec.rank:] ** 2))
        w = None
        if min_norm:
            r, kept = spec.rank, spec.nonzero_columns
            w = np.zeros(p)
            w[kept] = (spec.vt[:r].T @ (coords[:r] / spec.scaled_singular_values[:r])
                       / spec.column_norms[kept])
    return ExactSolution(
        w=w,
        rss=float(rss),
        rank=spec.rank,
        n_params=p,
        condition_number=spec.condition_number,
        scaled_condition_number=spec.scaled_condition_number,
        singular_values=spec.singular_values,
        rank_deficient=deficient,
        near_collinear=(not deficient) and bool(spec.collinearities),
        collinearities=spec.collinearities,
        zero_columns=spec.zero_columns,
        min_norm=bool(min_norm and deficient),
        message=diagnosis_message(spec, p, min_norm),
    )


def csne_correction(R, At_r) -> np.ndarray:
    """One step of corrected semi-normal equations: solve ``R^T R dw = A^T r``.

    With ``r = y - A w`` for the current ``w``, ``w + dw`` is the
    least-squares solution up to the accuracy of ``R`` (exactly so in exact
    arithmetic: ``A^T A (w + dw) = A^T y``).  Two triangular solves,
    ``R^T u = A^T r`` then ``R dw = u``; ``A^T A`` is never formed.

    Parameters
    ----------
    R : ndarray of shape (p, p) or (p+1, p+1)
        Factor of ``A``, or the augmented factor of ``[A y]`` (its leading
        (p, p) block is used when ``len(At_r) == p``).
    At_r : array_like of shape (p,)
        ``A^T (y - A w)``, summed over all rows by one extra pass.

    Returns
    -------
    dw : ndarray of shape (p,)
    """
    At_r = np.asarray(At_r, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64)
    p = At_r.shape[0]
    if R.shape == (p + 1, p + 1):
        R = R[:-1, :-1]
    if R.shape != (p, p):
        raise ValueError(f"R of shape {R.shape} does not match A^T r of length {p}")
    u = solve_triangular(R, At_r, trans="T", lower=False)
    return solve_triangular(R, u, lower=False)
