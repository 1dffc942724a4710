"""Tall-and-skinny QR (TSQR) of the augmented matrix ``M = [A y]``.

Constantine & Gleich (2011), "Tall and skinny QR factorizations in
MapReduce architectures".  For ``M`` of shape (n, k), ``k = p + 1`` (the
design matrix ``A`` of :mod:`mrlinreg.numerics.scaling` and the target ``y``
as the last column), only the (k, k) upper-triangular factor ``R`` of
``M = Q R`` is kept.  It is all the least-squares solve needs:

    R = [[R11, z ],      A = Q1 R11,  w = R11^{-1} z,
         [ 0 , rho]]     rss = rho^2,  M^T M = R^T R.

Row blocks fold in one at a time because the R factor of a stacked matrix
can be computed from the R factors of its parts:

    R(vstack([M1, M2])) = R(vstack([R(M1), M2])) = R(vstack([R(M1), R(M2)]))

(up to the signs of its rows).  A mapper calls :func:`update` per block of
rows, emits its running ``R``; the reducer calls :func:`merge`.  Each step is
a Householder QR, so the result is backward stable: ``R^T R`` is the exact
Gram matrix of a matrix within a few ulps (relative to its column norms) of
``M``, and -- unlike forming ``M^T M`` -- no precision is lost to squaring
the condition number.

The sign of each row of ``R`` is normalised so that ``diag(R) >= 0``; with
that, ``R`` is unique for a full-rank ``M`` (it is the transposed Cholesky
factor of ``M^T M``), so any split of the rows into blocks and mappers gives
the same ``R`` up to rounding.
"""

from __future__ import annotations

from typing import Iterable, Optional

import numpy as np

__all__ = ["update", "merge", "normalize_signs"]

# How many factors the reducer stacks at once: bounds its memory to about
# MERGE_CHUNK * k^2 doubles however many mappers there are.
MERGE_CHUNK = 64


def normalize_signs(R):
    """Flip rows of an upper-triangular ``R`` so that ``diag(R) >= 0``.

    ``R -> diag(s) R`` with ``s_i = sign(R_ii)`` (1 where ``R_ii == 0``);
    ``diag(s)`` is orthogonal, so ``R^T R`` and the factorisation are kept.

    Parameters
    ----------
    R : ndarray of shape (k, k)

    Returns
    -------
    ndarray of shape (k, k)
        A new array.
    """
    R = np.array(R, dtype=np.float64, copy=True)
    signs = np.where(np.diag(R) < 0, -1.0, 1.0)
    return R * signs[:, None]


def _r_factor(stacked, k):
    """Sign-normalised (k, k) R factor of ``stacked`` (any number of rows)."""
    if stacked.shape[0] == 0:
        return np.zeros((k, k))
    r = np.linalg.qr(stacked, mode="r")
    if r.shape[0] < k:
        # Fewer rows than columns: R is upper trapezoidal (m, k); zero rows
        # below keep it triangular and add nothing to R^T R.
        r = np.vstack([r, np.zeros((k - r.shape[0], k))])
    return normalize_signs(r)


def update(R: Optional[np.ndarray], block) -> np.ndarray:
    """Fold a block of rows of ``M = [A y]`` into the running R factor.

    Returns the R factor of ``vstack([R, block])``, i.e. of all rows seen so
    far:  ``R_new^T R_new = R^T R + block^T block``.  Memory is
    O(k^2 + m k): only ``R`` and the block are held.

    Parameters
    ----------
    R : ndarray of shape (k, k) or None
        The running factor; None before the first block (the zero matrix
        is the same thing).
    block : array_like of shape (m, k)
        Rows of ``[A y]``; any ``m >= 0``, including ``m < k`` and a single
        row given as a 1-d array of length k.

    Returns
    -------
    ndarray of shape (k, k)
        Upper triangular with ``diag >= 0``.

    Raises
    ------
    ValueError
        If the block has the wrong number of columns, or holds NaN or
        infinite values (they would silently poison every later result).
    """
    block = np.asarray(block, dtype=np.float64)
    if block.ndim == 1:
        block = block[None, :]
    if block.ndim != 2:
        raise ValueError(f"block must be 2-d (rows of [A y]); got shape {block.shape}")
    k = block.shape[1]
    if R is not None:
        R = np.asarray(R, dtype=np.float64)
        if R.shape != (k, k):
            raise ValueError(
                f"block has {k} columns but the running R is {R.shape}; "
                "every block must have the same columns [A y]"
            )
    if not np.all(np.isfinite(block)):
        bad_rows = np.flatnonzero(~np.all(np.isfinite(block), axis=1))
        raise ValueError(
            f"block holds NaN or infinite values in {bad_rows.size} row(s) "
            f"(first at block row {bad_rows[0]}); clean or drop them before fitting"
        )
    if R is None:
        return _r_factor(block, k)
    if block.shape[0] == 0:
        return normalize_signs(R)
    return _r_factor(np.vstack([R, block]), k)


def merge(Rs: Iterable[Optional[np.ndarray]]) -> np.ndarray:
    """Combine the R factors of disjoint row sets into the R factor of all rows.

    ``R^T R = sum_i R_i^T R_i``, computed by a QR of the stacked factors (never
    by adding Gram matrices).  None entries (mappers that saw no rows) are
    skipped.

    The factors are put in a canonical order (by decreasing norm, ties by
    their bytes) and the stacked rows sorted by decreasing norm before the
    QR, so the result does not depend on the order in which Hadoop delivers
    them: the same inputs give bit-identical output.  Different
    splits of the same rows agree to rounding (about 1e-14 relative to
    ``||R||`` per entry on well-conditioned data).

    Parameters
    ----------
    Rs : iterable of ndarray of shape (k, k) or None

    Returns
    -------
    ndarray of shape (k, k)
        Upper triangular with ``diag >= 0``.

    Raises
    ------
    ValueError
        If there are no factors at all, or their shapes differ.
    """
    factors = [np.asarray(R, dtype=np.float64) for R in Rs if R is not None]
    if not factors:
        raise ValueError("merge needs at least one R factor; no mapper produced any rows")
    shapes = {R.shape for R in factors}
    if len(shapes) != 1:
        raise ValueError(f"R factors of different shapes cannot be merged: {sorted(shapes)}")
    (k, k2), = shapes
    if k != k2:
        raise ValueError(f"R factors must be square; got shape {(k, k2)}")
    factors.sort(key=lambda R: (-np.linalg.norm(R), R.tobytes()))
    merged = None
    for start in range(0, len(factors), MERGE_CHUNK):
        rows = np.vstack(factors[start:start + MERGE_CHUNK])
        # Rows by decreasing norm (Powell & Reid's row sorting, which makes
        # Householder QR row-wise stable); the sort is stable and the factor
        # order canonical, so the result is still order-independent.
        rows = rows[np.argsort(-np.linalg.norm(rows, axis=1), kind="stable")]
        merged = update(merged, rows)
    return merged
