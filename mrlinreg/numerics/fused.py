"""One pass for the moments and the R factor: a self-centring TSQR accumulator.

The exact path used to read the data twice: a moments pass (count, mean,
M2), then TSQR of ``[A y]`` with ``A = [(X - shift)/scale, 1]`` where shift
and scale came from those moments.  Here one pass keeps enough for both.

A partial over rows ``i = 1..n`` keeps Chan et al.'s count, mean and M2
(features then label), and the (k, k), ``k = d + 2``, R factor of

    M_f = [(X - c) / s, 1, y]          (the ones column at index d, y as read)

in a *frame* ``f = (c, s)`` of its own (length-d shift and scale):
exactly the matrix the TSQR pass factored, with a provisional shift and
scale.  Changing the frame to ``f' = (c', s')`` is a column operation,

    M_f' = M_f T,   column j < d:  (s_j / s'_j) M_j + ((c_j - c'_j) / s'_j) 1,

so ``R T`` (:func:`move_frame`) is the R factor of ``M_f'`` up to an
orthogonal factor: it is re-triangularised by the QR that stacks it with
the next block or partial anyway (:func:`tsqr.update`, :func:`tsqr.merge`).
When the frames are equal ``T = I`` and nothing is touched.

Mapper (:meth:`FusedAccumulator.add`): the first block sets the frame to
its own mean and standard deviation, which is the frame the driver picks
for ``--standardize`` with an intercept; one mapper that reads one block
therefore computes the two-pass TSQR factor bit for bit.  The scale then
stays (Householder QR does not care about column scaling, and every
rescale would round every entry of R once more); the shift follows the
running mean when it has drifted by more than ``RECENTRE`` standard
deviations in some column, so the columns stay near-centred (the ones
column near-orthogonal to them: the conditioning of centred data, not of
raw powers) with as few moves as that needs.

Merge (:meth:`FusedAccumulator.merge_all`): partials in a canonical order
(by content), moments merged by Chan's formula in that order, every R moved
to the merged frame (merged mean, merged standard deviation) and the moved
factors stacked and re-factorised by :func:`tsqr.merge`: the between-partial
scatter enters through the ones row, ``sqrt(n_i) (mu_i - c*) / s*``.  The
result is bit-identical whatever order the partials arrive in.

Driver: :func:`context_from_fused` moves the merged factor to the frame the
options choose (:func:`scaling.standardization` of the merged moments; with
an intercept and ``--standardize`` that is the merged frame itself, so no
arithmetic at all) and, without an intercept, drops the ones column.

Accuracy (``tests/unit/test_fused.py``, LRE = correct digits of every
coefficient against the exact rational solution).  One block: the two-pass
figure by construction.  Otherwise LRE is a random variable of the
rounding: on one fixed data set a configuration's figure moves by +-0.5
digit with the row order or the noise draw, in either path.  Over 24
Filip-type problems (degree 10, 70-93 sorted x on [-9, -3]) the medians of
fused and two passes agree within 0.3 digit for every split tried (1 to 82
mappers, blocks of 1 to 10,000 rows); see the test for the figures.

Sizes, d = 1000 (k = 1002): a partial carries the packed upper triangle,
k (k+1)/2 = 502,503 doubles = 4.02 MB raw, and mean, m2 (2 x 1001) and
the frame (2 x 1000 doubles): about 5.4 MB as base64 JSON.  2,000 mappers
emit 10.8 GB in all.  With the partials spread over B keys
(:mod:`mrlinreg.numerics.merge`) each key's merge holds 2000/B partials
and the driver B:  B = 1: 10.8 GB into one reducer call; B = 32: ~63
partials, 0.34 GB per key, 173 MB into the driver.  A merge holds its
decoded partials (8 MB each as (k, k) arrays: 0.5 GB for 63) and one
stacked chunk of 64 factors (0.5 GB); merging 64 factors costs about
2 (64 k) k^2 = 1.3e11 flops.  A mapper's 8192-row block costs a QR of a
(8192 + k, k) matrix, about 1.8e10 flops, as the TSQR pass did.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mrlinreg.codec import decode_arrays, encode_arrays
from mrlinreg.numerics import tsqr
from mrlinreg.numerics.scaling import design_matrix, standardization

__all__ = ["FusedAccumulator", "FusedContext", "context_from_fused", "moments_frame",
           "move_frame", "RECENTRE"]

#: A mapper moves its frame's shift to the running mean once that has drifted by more
#: than this many (running) standard deviations in some column.
RECENTRE = 0.5


def moments_frame(n, mean, m2, d, fit_intercept=True, standardize=True):
    """``(shift, scale)`` that :func:`scaling.standardization` picks from these moments.

    ``std = sqrt(m2/n)``, ``rms = sqrt(m2/n + mean^2)`` of the d feature columns
    (``mean``, ``m2`` may carry the label as a last entry: it is ignored).
    """
    std = np.sqrt(m2[:d] / n)
    rms = np.sqrt(m2[:d] / n + mean[:d] ** 2)
    return standardization(mean[:d], std, rms, fit_intercept, standardize)


def _same(a, b):
    return a.tobytes() == b.tobytes()


def move_frame(R, old_shift, old_scale, new_shift, new_scale):
    """``R T``: a factor of ``[(X - c')/s', 1, y]`` from the R factor of ``[(X - c)/s, 1, y]``.

    Column ``j < d``: ``R'_j = (s_j / s'_j) R_j + ((c_j - c'_j) / s'_j) R_d``
    (``R_d`` the ones column); the ones and label columns are unchanged.
    ``(R T)^T (R T) = T^T M^T M T`` is the Gram matrix of the matrix in the new
    frame.  ``R T`` is not triangular in general: the caller re-factorises it
    (usually together with other rows).  Equal frames return ``R`` unchanged.

    Parameters
    ----------
    R : ndarray of shape (k, k)
        Ones column at index ``d = k - 2``, label last.
    old_shift, old_scale, new_shift, new_scale : ndarray of shape (d,)

    Returns
    -------
    ndarray of shape (k, k)
        A new array.
    """
    R = np.array(R, dtype=np.float64, copy=True)
    if _same(old_shift, new_shift) and _same(old_scale, new_scale):
        return R
    d = len(old_shift)
    ones = R[:, d:d + 1].copy()
    if not _same(old_scale, new_scale):
        R[:, :d] *= np.asarray(old_scale) / np.asarray(new_scale)
    if not _same(old_shift, new_shift):
        R[:, :d] += ones * ((np.asarray(old_shift) - np.asarray(new_shift)) / new_scale)
    return R


def chan_merge(n_a, mean_a, m2_a, n_b, mean_b, m2_b):
    """Chan et al.: count, mean and M2 of the union of two disjoint row sets.

    ``mean = mean_a + delta n_b / n``, ``M2 = M2_a + M2_b + delta^2 n_a n_b / n``,
    ``delta = mean_b - mean_a`` (the same arithmetic as ``MomentsAccumulator``).  With
    sums of weights in place of the counts it is West's weighted union (1979), which
    :mod:`mrlinreg.numerics.weighted_passes` uses.
    """
    n = n_a + n_b
    delta = mean_b - mean_a
    return n, mean_a + delta * (n_b / n), m2_a + m2_b + delta**2 * (n_a * n_b / n)


class FusedAccumulator:
    """Count, mean, M2 and the R factor of ``[(X - c)/s, 1, y]`` in one pass.

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
    shift, scale : ndarray of shape (d,)
        The frame ``R`` is taken in.
    R : ndarray of shape (d + 2, d + 2) or None
        Upper triangular, ``diag >= 0``; None until a row is seen.
    """

    kind = "fused"

    def __init__(self, d: int):
        self.d = int(d)
        self.n = 0
        self.mean = np.zeros(d + 1)
        self.m2 = np.zeros(d + 1)
        self.shift = np.zeros(d)
        self.scale = np.ones(d)
        self.R = None

    def add(self, X: np.ndarray, y: np.ndarray) -> None:
        """Fold a block of original rows (``X`` (m, d), ``y`` (m,)) in."""
        m = X.shape[0]
        if m == 0:
            return
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        Z = np.column_stack([X, y])
        if not np.all(np.isfinite(Z)):
            # checked before any state changes, so the moments and R stay consistent
            raise ValueError("block holds NaN or infinite values; clean or drop those rows "
                             "before fitting")
        b_mean = Z.mean(axis=0)
        b_m2 = ((Z - b_mean) ** 2).sum(axis=0)
        if self.n:
            self.n, self.mean, self.m2 = chan_merge(self.n, self.mean, self.m2, m, b_mean, b_m2)
        else:
            self.n, self.mean, self.m2 = m, b_mean, b_m2
        shift, scale = moments_frame(self.n, self.mean, self.m2, self.d)
        if self.R is None:
            self.shift, self.scale = shift, scale
        else:
            drift = np.abs(shift - self.shift) > RECENTRE * np.sqrt(self.m2[:self.d] / self.n)
            if drift.any():
                self.R = move_frame(self.R, self.shift, self.scale, shift, self.scale)
                self.shift = shift
        block = np.hstack([design_matrix(X, self.shift, self.scale, True), y[:, None]])
        # np.triu: the lower triangle holds +0.0 (not the -0.0 a sign flip leaves), so
        # the packed upper triangle of to_dict is a bit-exact round trip.
        self.R = np.triu(tsqr.update(self.R, block))

    @staticmethod
    def _canonical_key(acc):
        return (-acc.n, acc.mean.tobytes(), acc.m2.tobytes(), acc.shift.tobytes(),
                acc.scale.tobytes(), acc.R.tobytes())

    @classmethod
    def merge_all(cls, accs) -> "FusedAccumulator":
        """Merge partials of disjoint rows; bit-identical for any order of ``accs``.

        Empty partials are skipped; a single partial is returned as it is.
        Otherwise the partials are sorted by content, their moments merged
        by Chan's formula in that order, each ``R`` moved to the merged
        frame (:func:`moments_frame`, :func:`move_frame`) and the factors
        merged by :func:`tsqr.merge`.
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
            n, mean, m2 = chan_merge(n, mean, m2, a.n, a.mean, a.m2)
        shift, scale = moments_frame(n, mean, m2, d)
        total.n, total.mean, total.m2, total.shift, total.scale = n, mean, m2, shift, scale
        total.R = np.triu(tsqr.merge(move_frame(a.R, a.shift, a.scale, shift, scale)
                                     for a in full))
        return total

    @classmethod
    def _copy(cls, acc):
        out = cls(acc.d)
        out.n, out.mean, out.m2 = acc.n, acc.mean.copy(), acc.m2.copy()
        out.shift, out.scale = acc.shift.copy(), acc.scale.copy()
        out.R = None if acc.R is None else acc.R.copy()
        return out

    def to_dict(self) -> dict:
        """JSON-safe and bit-exact; ``R`` travels as its packed upper triangle."""
        d = {"kind": self.kind, "d": self.d, "n": self.n, "mean": self.mean, "m2": self.m2,
             "shift": self.shift, "scale": self.scale}
        if self.R is not None:
            d["R_triu"] = self.R[np.triu_indices(self.d + 2)]
        return encode_arrays(d)

    @classmethod
    def from_dict(cls, d: dict) -> "FusedAccumulator":
        d = decode_arrays(d)
        acc = cls(int(d["d"]))
        acc.n, acc.mean, acc.m2 = int(d["n"]), d["mean"], d["m2"]
        acc.shift, acc.scale = d["shift"], d["scale"]
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


def context_from_fused(acc: FusedAccumulator, fit_intercept: bool,
                       standardize: bool) -> FusedContext:
    """Moments, standardisation and the working-space R factor from a merged partial.

    ``shift, scale = standardization(mean, std, rms, ...)`` of the merged
    moments (:func:`moments_frame`); the factor is moved to that frame
    (:func:`move_frame`) and re-triangularised; without an intercept the ones
    column is dropped first (the remaining (k, k - 1) matrix has the Gram
    matrix of ``[X/scale, y]``).  With an intercept and ``standardize`` the
    merged partial is already in that frame and its R is returned as it is.

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
    shift, scale = moments_frame(n, acc.mean, acc.m2, d, fit_intercept, standardize)
    moved = move_frame(acc.R, acc.shift, acc.scale, shift, scale)
    if not fit_intercept:
        R_work = tsqr.update(None, np.delete(moved, d, axis=1))
    elif moved.tobytes() == acc.R.tobytes():
        R_work = acc.R.copy()
    else:
        R_work = tsqr.update(None, moved)
    return FusedContext(n=n, mean=acc.mean.copy(), m2=acc.m2.copy(), shift=shift, scale=scale,
                        R=np.triu(R_work))
