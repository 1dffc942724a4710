"""K-fold cross-validation in the single fused pass: one self-centring TSQR partial per fold.

The fold factors of :mod:`mrlinreg.numerics.cv` are R factors of ``[A y]`` with
``A`` built in the WHOLE data's frame (its shift and scale), which a mapper
does not know while it reads: hence a moments pass first.  Here each mapper
keeps, per fold, a :class:`~mrlinreg.numerics.fused.FusedAccumulator`: the
fold's count, mean and M2 and the R factor of ``[(X - c_k)/s_k, 1, y]`` in a
frame ``(c_k, s_k)`` of its own.  Nothing else: the whole data's partial is
the merge of the fold partials (their rows are disjoint and cover it).

The merge runs fold by fold (:meth:`FoldFusedAccumulator.merge_all`: the
reducer of each merge key, then the driver), exactly as the fused partials
of the whole data merge.  Once every fold is merged, :func:`fold_context`

1. merges the K fold partials into the whole data's partial
   (:meth:`FusedAccumulator.merge_all`): its moments are the whole data's, so
   :func:`fused.context_from_fused` gives the working frame ``(shift, scale)``
   and the R factor of ``[A y]`` exactly as the fused pass without folds;
2. moves each fold's factor to that frame (:func:`fused.move_frame`, a column
   operation: exact algebra, rounding only), drops the ones column without an
   intercept, and re-triangularises it: ``R_k`` with ``R_k^T R_k = [A_k y_k]^T
   [A_k y_k]``, ``A_k`` the fold's rows of the whole data's ``A``.

These are the two-pass fold factors (TSQR of the fold's rows in the whole data's
frame) up to rounding and an orthogonal factor, which neither the held-out
error ``||R_k [w; -1]||^2`` nor the training merge sees.

Costs (d features, k = d + 2, K folds): a mapper keeps K partials of k (k+1)/2
doubles (d = 1000, K = 10: 40 MB of R, 54 MB as JSON when emitted), and folds a
block of m rows as K QRs of about (m/K + k, k): 2 (m + K k) k^2 flops against
2 (m + k) k^2 for the whole data's factor alone.  With B merge keys the driver
merges at most B partials per fold (K B in all); see the README's "Choosing λ".
"""

from __future__ import annotations

import numpy as np

from mrlinreg.codec import decode_arrays, encode_arrays
from mrlinreg.numerics import tsqr
from mrlinreg.numerics.fused import FusedAccumulator, context_from_fused, move_frame

__all__ = ["FoldFusedAccumulator", "fold_context"]


class FoldFusedAccumulator:
    """One :class:`FusedAccumulator` per fold, sized by the first block it sees.

    Parameters
    ----------
    n_folds : int
        K.
    d : int, optional
        Design columns; taken from the first block when not given (the
        mapper's design may be a formula's or a curve's).
    """

    kind = "fold_fused"

    def __init__(self, n_folds: int, d: int | None = None):
        self.n_folds = int(n_folds)
        self.d = None if d is None else int(d)
        self.folds = None if d is None else [FusedAccumulator(self.d) for _ in
                                             range(self.n_folds)]

    @property
    def n(self) -> int:
        return 0 if self.folds is None else int(sum(f.n for f in self.folds))

    @property
    def counts(self) -> np.ndarray:
        """Rows per fold (int64, length K)."""
        if self.folds is None:
            return np.zeros(self.n_folds, dtype=np.int64)
        return np.array([f.n for f in self.folds], dtype=np.int64)

    def add(self, X: np.ndarray, y: np.ndarray, folds: np.ndarray) -> None:
        """Fold a block in: row ``i`` goes to the partial of fold ``folds[i]``."""
        X = np.asarray(X, dtype=np.float64)
        if X.shape[0] == 0:
            return
        if self.folds is None:
            self.d = X.shape[1]
            self.folds = [FusedAccumulator(self.d) for _ in range(self.n_folds)]
        folds = np.asarray(folds)
        y = np.asarray(y, dtype=np.float64)
        for k in np.unique(folds):
            rows = folds == k
            self.folds[int(k)].add(X[rows], y[rows])

    @classmethod
    def merge_all(cls, accs) -> "FoldFusedAccumulator":
        """Fold by fold :meth:`FusedAccumulator.merge_all` (order-independent)."""
        accs = list(accs)
        if not accs:
            raise ValueError("merge_all needs at least one partial")
        n_folds = accs[0].n_folds
        if any(a.n_folds != n_folds for a in accs):
            raise ValueError("partials with different numbers of folds")
        sized = [a for a in accs if a.folds is not None]
        total = cls(n_folds)
        if sized:
            total.d = sized[0].d
            total.folds = [FusedAccumulator.merge_all([a.folds[k] for a in sized])
                           for k in range(n_folds)]
        return total

    def split_by_fold(self):
        """``(k, partial holding fold k only)`` for each non-empty fold: what a mapper
        emits, one record per fold, so that a reducer call merges one fold's partials
        (the size of a fused pass's merge) rather than K of them per mapper."""
        if self.folds is None:
            return []
        out = []
        for k, part in enumerate(self.folds):
            if part.n:
                alone = FoldFusedAccumulator(self.n_folds, self.d)
                alone.folds[k] = part
                out.append((k, alone))
        return out

    def whole(self) -> FusedAccumulator:
        """The whole data's fused partial: the merge of the folds' partials."""
        if self.folds is None:
            raise ValueError("no rows were accumulated; nothing to fit")
        return FusedAccumulator.merge_all(self.folds)

    def to_dict(self) -> dict:
        """JSON-safe and bit-exact: each fold as :meth:`FusedAccumulator.to_dict`."""
        d = {"kind": self.kind, "n_folds": self.n_folds}
        if self.folds is not None:
            d["d"] = self.d
            d["folds"] = [f.to_dict() for f in self.folds]
        return encode_arrays(d)

    @classmethod
    def from_dict(cls, d: dict) -> "FoldFusedAccumulator":
        folds = d.get("folds")
        plain = decode_arrays({k: v for k, v in d.items() if k != "folds"})
        acc = cls(int(plain["n_folds"]))
        if folds is not None:
            acc.d = int(plain["d"])
            acc.folds = [FusedAccumulator.from_dict(f) for f in folds]
        return acc


def fold_context(acc: FoldFusedAccumulator, fit_intercept: bool, standardize: bool):
    """The whole data's context and the K fold factors in its working frame.

    Parameters
    ----------
    acc : FoldFusedAccumulator
        Merged over all rows.
    fit_intercept, standardize : bool

    Returns
    -------
    context : fused.FusedContext
        As :func:`fused.context_from_fused` of the merged whole.
    fold_R : ndarray of shape (K, p + 1, p + 1)
        Each fold's R factor of ``[A_k y_k]`` (zeros for an empty fold).
    fold_n : ndarray of shape (K,)
        Rows per fold.
    """
    ctx = context_from_fused(acc.whole(), fit_intercept, standardize)
    d = acc.d
    size = ctx.R.shape[0]
    fold_R = np.zeros((acc.n_folds, size, size))
    for k, part in enumerate(acc.folds):
        if part.n == 0:
            continue
        moved = move_frame(part.R, part.shift, part.scale, ctx.shift, ctx.scale)
        if not fit_intercept:
            moved = np.delete(moved, d, axis=1)
        fold_R[k] = np.triu(tsqr.update(None, moved))
    return ctx, fold_R, acc.counts
