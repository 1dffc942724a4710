"""One pass for the moments and the R factor: a self-centring TSQR accumulator.

Today's exact path reads the data twice: a moments pass (count, mean, M2),
then TSQR of ``[A y]`` with ``A = [(X - shift)/scale, 1]`` where shift and
scale come from those moments.  Here one pass keeps enough to build both.

Layout: the intercept column goes FIRST.  A partial over rows ``i = 1..n``
keeps its own shift ``c`` (length d+1: features, then label) and the
(k, k), ``k = d + 2``, R factor of

    M_c = [1, X - c_X, y - c_y],        M_c^T M_c = R^T R,

with ``diag(R) >= 0``.  Because the ones column is first, ``R[:, 0] =
sqrt(n) e_0`` and

    R = [[sqrt(n), sqrt(n) (mu - c)^T],
         [0,       R_cen            ]],

where ``R_cen`` is the R factor of the data centred at its exact mean
``mu``: it does not depend on ``c`` at all.  Changing the shift to ``c'``
is ``M_{c'} = M_c T`` with ``T = I + e_0 (c - c')^T`` (unit upper
triangular: the ones column absorbs the change), and ``R T`` is again upper
triangular and differs from ``R`` in row 0 only:

    R'[0, 1:] = R[0, 1:] + R[0, 0] (c - c').

So a shift change is O(d) and needs no re-triangularisation; rows 1.. are
carried bit for bit.  The only roundings are in row 0 (three per entry),
i.e. the partial's mean is perturbed by about ``eps (|mu - c| + |c - c'|)``,
with ``c, c'`` inside the data range; forming ``X - shift`` in the two-pass
path perturbs every entry by ``eps |X - shift|`` already, so no accuracy is
lost (the tests measure it: same LRE as two passes).

Within a mapper, :meth:`FusedAccumulator.add` first folds the block into
Chan et al.'s count/mean/M2, moves ``R`` to the new running mean, centres
the block at it and folds it in by Householder QR (:func:`tsqr.update`).
Centring at the running mean keeps the columns nearly orthogonal to the
ones column, so Householder does not cancel large uncentred entries.

Merge (:meth:`FusedAccumulator.merge_all`): partials are put in a
canonical order (by content), Chan's moments merged, every ``R`` moved to
the common shift ``c* =`` merged mean, and the moved factors stacked and
re-factorised by :func:`tsqr.merge` (between-partial scatter enters through
the row-0 entries ``sqrt(n_i) (mu_i - c*)``).  The result is bit-identical
whatever order the partials arrive in.

Driver: :func:`context_from_fused` gives the moments, the
``standardization`` shift/scale chosen from them, and the R factor of
``[A y]`` in working space (intercept LAST, label unshifted): shift moved to
the chosen shift (label to 0), feature columns divided by ``scale``, rows
and columns permuted so the ones column sits after the features, then one
(k, k) re-triangularisation; without an intercept the ones column is
dropped first (its row 0 then holds ``sqrt(n) mu`` and the QR folds the
uncentred part back in).

Sizes, d = 1000 (k = 1002): a partial carries the packed upper triangle,
k (k+1)/2 = 502,503 doubles = 4.02 MB raw, and mean, m2, shift (3 x 1001
doubles): 5.39 MB as base64 JSON (measured; today's QRAccumulator sends the
full square, 10.7 MB).  2,000 mappers emit 10.8 GB in all.  With K reducers
keyed by :func:`mrlinreg.numerics.merge.reducer_key` each receives about
2000/K partials and the driver K:  K = 1: 10.8 GB into one reducer;
K = 32: ~63 partials, 0.34 GB per reducer, 173 MB into the driver;
K = 45: ~44, 0.24 GB and 243 MB; K = 64: 0.17 GB and 345 MB.
A reducer holds its decoded partials (8 MB each as full (k, k) arrays: 0.5 GB
for 63) and one stacked chunk of 64 factors (0.5 GB); merging 64 factors costs
about 2 (64 k) k^2 = 1.3e11 flops.  A mapper's 8192-row block costs a QR of a
(8192 + k, k) matrix, about 1.8e10 flops, as in today's TSQR pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mrlinreg.codec import decode_arrays, encode_arrays
from mrlinreg.numerics import tsqr
from mrlinreg.numerics.scaling import standardization

__all__ = ["FusedAccumulator", "FusedContext", "context_from_fused", "move_shift"]


def move_shift(R, old_shift, new_shift):
    """R factor of ``[1, Z - new_shift]`` from the R factor of ``[1, Z - old_shift]``.

    ``[1, Z - c'] = [1, Z - c] T``, ``T = I + e_0 (c - c')^T``; since
    ``R[:, 0] = R[0, 0] e_0``, ``R T`` is upper triangular and only row 0
    changes:  ``R'[0, 1:] = R[0, 1:] + R[0, 0] (c - c')``.

    Parameters
    ----------
    R : ndarray of shape (k, k)
        Upper triangular, ones column first.
    old_shift, new_shift : ndarray of shape (k - 1,)

    Returns
    -------
    ndarray of shape (k, k)
        A new array; rows 1.. are bit-identical to ``R``'s.
    """
    R = np.array(R, dtype=np.float64, copy=True)
    delta = np.asarray(old_shift, dtype=np.float64) - np.asarray(new_shift, dtype=np.float64)
    R[0, 1:] = R[0, 1:] + R[0, 0] * delta
    return R


def _chan(n_a, mean_a, m2_a, n_b, mean_b, m2_b):
    """Chan et al.: count, mean and M2 of the union of two disjoint row sets.

    ``mean = mean_a + delta n_b / n``, ``M2 = M2_a + M2_b + delta^2 n_a n_b / n``,
    ``delta = mean_b - mean_a`` (the same arithmetic as ``MomentsAccumulator``).
    """
    n = n_a + n_b
    delta = mean_b - mean_a
    return n, mean_a + delta * (n_b / n), m2_a + m2_b + delta**2 * (n_a * n_b / n)


class FusedAccumulator:
    """Count, mean, M2 and the ones-first R factor of ``[1, X - c, y - c_y]`` in one pass.

    Parameters
    ----------
    d : int
        Number of features.  Options (intercept, standardisation) are not
        needed here: they are applied by :func:`context_from_fused`.

    Attributes
    ----------
    n : int
    mean, m2 : ndarray of shape (d + 1,)
        Features then label, as ``MomentsAccumulator`` keeps them.
    shift : ndarray of shape (d + 1,)
        The shift ``c`` that ``R`` is taken at (the running mean).
    R : ndarray of shape (d + 2, d + 2) or None
        None until a row is seen.
    """

    kind = "fused"

    def __init__(self, d: int):
        self.d = int(d)
        self.n = 0
        self.mean = np.zeros(d + 1)
        self.m2 = np.zeros(d + 1)
        self.shift = np.zeros(d + 1)
        self.R = None

    def add(self, X: np.ndarray, y: np.ndarray) -> None:
        """Fold a block of original rows (``X`` (m, d), ``y`` (m,)) in."""
        m = X.shape[0]
        if m == 0:
            return
        Z = np.column_stack([X, y]).astype(np.float64, copy=False)
        if not np.all(np.isfinite(Z)):
            # checked before any state changes, so the moments and R stay consistent
            raise ValueError("block holds NaN or infinite values; clean or drop those rows "
                             "before fitting")
        b_mean = Z.mean(axis=0)
        b_m2 = ((Z - b_mean) ** 2).sum(axis=0)
        if self.n:
            self.n, self.mean, self.m2 = _chan(self.n, self.mean, self.m2, m, b_mean, b_m2)
        else:
            self.n, self.mean, self.m2 = m, b_mean, b_m2
        if self.R is not None:
            self.R = move_shift(self.R, self.shift, self.mean)
        self.shift = self.mean.copy()
        block = np.hstack([np.ones((m, 1)), Z - self.shift])
        # np.triu: the lower triangle holds +0.0 (not the -0.0 a sign flip leaves), so
        # the packed upper triangle of to_dict is a bit-exact round trip.
        self.R = np.triu(tsqr.update(self.R, block))

    @staticmethod
    def _canonical_key(acc):
        return (-acc.n, acc.mean.tobytes(), acc.m2.tobytes(), acc.shift.tobytes(),
                acc.R.tobytes())

    @classmethod
    def merge_all(cls, accs) -> "FusedAccumulator":
        """Merge partials of disjoint rows; bit-identical for any order of ``accs``.

        Empty partials are skipped; a single partial is returned as it is.
        Otherwise the partials are sorted by content, their moments merged
        by Chan's formula in that order, each ``R`` moved to the merged mean
        (:func:`move_shift`) and the factors merged by :func:`tsqr.merge`.
        """
        accs = list(accs)
        if not accs:
            raise ValueError("merge_all needs at least one partial")
        d = accs[0].d
        if any(a.d != d for a in accs):
            raise ValueError(f"partials with different numbers of features: "
                             f"{sorted({a.d for a in accs})}")
        full = sorted((a for a in accs if a.n), key=cls._canonical_key)
        total = cls(d)
        if not full:
            return total
        if len(full) == 1:
            return cls._copy(full[0])
        n, mean, m2 = full[0].n, full[0].mean, full[0].m2
        for a in full[1:]:
            n, mean, m2 = _chan(n, mean, m2, a.n, a.mean, a.m2)
        total.n, total.mean, total.m2, total.shift = n, mean, m2, mean.copy()
        total.R = np.triu(tsqr.merge(move_shift(a.R, a.shift, mean) for a in full))
        return total

    @classmethod
    def _copy(cls, acc):
        out = cls(acc.d)
        out.n, out.mean, out.m2, out.shift = acc.n, acc.mean.copy(), acc.m2.copy(), acc.shift.copy()
        out.R = None if acc.R is None else acc.R.copy()
        return out

    def to_dict(self) -> dict:
        """JSON-safe and bit-exact; ``R`` travels as its packed upper triangle."""
        d = {"kind": self.kind, "d": self.d, "n": self.n, "mean": self.mean, "m2": self.m2,
             "shift": self.shift}
        if self.R is not None:
            d["R_triu"] = self.R[np.triu_indices(self.d + 2)]
        return encode_arrays(d)

    @classmethod
    def from_dict(cls, d: dict) -> "FusedAccumulator":
        d = decode_arrays(d)
        acc = cls(int(d["d"]))
        acc.n, acc.mean, acc.m2, acc.shift = int(d["n"]), d["mean"], d["m2"], d["shift"]
        if "R_triu" in d:
            k = acc.d + 2
            acc.R = np.zeros((k, k))
            acc.R[np.triu_indices(k)] = d["R_triu"]
        return acc


@dataclass(frozen=True)
class FusedContext:
    """What the driver needs after the single pass.

    Attributes
    ----------
    n : int
    mean, m2 : ndarray of shape (d + 1,)
        Features then label (``MomentsAccumulator`` conventions).
    shift, scale : ndarray of shape (d,)
        As :func:`scaling.standardization` chooses them from these moments.
    R : ndarray of shape (p + 1, p + 1)
        R factor of ``[A y]``, ``A = [(X - shift)/scale, 1]`` (ones column only
        with an intercept), ``diag >= 0``: what the TSQR pass produced.
    """

    n: int
    mean: np.ndarray
    m2: np.ndarray
    shift: np.ndarray
    scale: np.ndarray
    R: np.ndarray


def _r_of_rows(rows, k):
    """Sign-normalised (k, k) R factor of ``rows``, rows sorted by decreasing norm first."""
    order = np.argsort(-np.linalg.norm(rows, axis=1), kind="stable")
    return tsqr.update(None, rows[order])


def context_from_fused(acc: FusedAccumulator, fit_intercept: bool, standardize: bool) -> FusedContext:
    """Moments, standardisation and the working-space R factor from a merged partial.

    With ``std = sqrt(m2/n)``, ``rms = sqrt(m2/n + mean^2)`` (features),
    ``shift, scale = standardization(mean, std, rms, ...)``.  Then, from the
    ones-first ``R`` of ``[1, X - c, y - c_y]``:

    1. ``R <- move_shift(R, c, [shift, 0])``: now the factor of ``[1, X - shift, y]``;
    2. feature columns ``j`` divided by ``scale_j`` (exact column scaling of
       the factored matrix): the factor of ``[1, (X - shift)/scale, y]``;
    3. with an intercept, columns (and rows) reordered to ``[A, 1, y]`` and
       re-triangularised; without, the ones column dropped and the remaining
       (k, k - 1) matrix re-triangularised (its Gram matrix is that of ``[X/scale, y]``).

    Parameters
    ----------
    acc : FusedAccumulator
        The merged partial over all rows (``n > 0``).
    fit_intercept, standardize : bool

    Returns
    -------
    FusedContext

    Raises
    ------
    ValueError
        If ``acc`` holds no rows.
    """
    if acc.n == 0 or acc.R is None:
        raise ValueError("no rows were accumulated; nothing to fit")
    d, n = acc.d, acc.n
    std = np.sqrt(acc.m2 / n)
    rms = np.sqrt(acc.m2 / n + acc.mean**2)
    shift, scale = standardization(acc.mean[:d], std[:d], rms[:d], fit_intercept, standardize)
    R = move_shift(acc.R, acc.shift, np.append(shift, 0.0))
    R[:, 1:d + 1] /= scale
    k = d + 2
    if fit_intercept:
        order = list(range(1, d + 1)) + [0, d + 1]
        # Row 0 moves to position d: after the shift to the mean its entries in
        # the feature columns are rounding residue, so the matrix is nearly
        # triangular already.
        R_work = _r_of_rows(R[np.ix_(order, order)], k)
    else:
        R_work = _r_of_rows(R[:, 1:], k - 1)
    return FusedContext(n=n, mean=acc.mean.copy(), m2=acc.m2.copy(), shift=shift, scale=scale,
                        R=R_work)
