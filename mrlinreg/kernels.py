"""Per-block partial sums computed by the mappers, and their merge in the reducer.

Each accumulator holds O(d^2) numbers whatever the number of rows, takes
parsed blocks with :meth:`add`, travels as a JSON-safe dict (``to_dict`` /
``from_dict``, exact float64 via :mod:`mrlinreg.codec`) and merges with
others.  The reducer merges partials in a canonical order (sorted by their
serialised form), so a pass's result does not depend on which mapper finished
first.

Conventions (see :mod:`mrlinreg.numerics.scaling`): ``A`` is the design
matrix, ``y`` the label, ``W`` (p, m) a set of candidate weight vectors, ``P``
(p, q) a set of directions.  Sums, not means: the driver divides by ``n``.
"""

from __future__ import annotations

import numpy as np

from mrlinreg.codec import decode_arrays, encode_arrays
from mrlinreg.design import LevelsAccumulator
from mrlinreg.numerics import tsqr
from mrlinreg.numerics.cv import FoldQRAccumulator, folds_of_lines
from mrlinreg.numerics.cv_fused import FoldFusedAccumulator
from mrlinreg.numerics.fused import FusedAccumulator
from mrlinreg.numerics.huber import HuberIRLSAccumulator, QuantileSketch, log_edges
from mrlinreg.numerics.refine import ResidualAccumulator
from mrlinreg.numerics.reservoir import ReservoirSample, row_keys
from mrlinreg.numerics.robust import MeatAccumulator
from mrlinreg.numerics.scaling import design_matrix
from mrlinreg.numerics.weighted import WeightedMomentsAccumulator
from mrlinreg.numerics.weighted_passes import (WeightedEvaluateAccumulator,
                                               WeightedFusedAccumulator,
                                               WeightedMeatAccumulator)


class MomentsAccumulator:
    """Count, mean and centred sum of squares of each column (Chan et al. merge).

    ``columns`` stacks the features and the label, so one pass gives the
    feature means and spreads for standardisation and the label's variance.
    """

    kind = "moments"

    def __init__(self, k: int):
        self.n = 0
        self.mean = np.zeros(k)
        self.m2 = np.zeros(k)

    def add(self, Z: np.ndarray) -> None:
        m = Z.shape[0]
        if m == 0:
            return
        b_mean = Z.mean(axis=0)
        b_m2 = ((Z - b_mean) ** 2).sum(axis=0)
        self._combine(m, b_mean, b_m2)

    def _combine(self, m, b_mean, b_m2):
        n = self.n + m
        delta = b_mean - self.mean
        self.mean = self.mean + delta * (m / n)
        self.m2 = self.m2 + b_m2 + delta**2 * (self.n * m / n)
        self.n = n

    def merge(self, other: "MomentsAccumulator") -> None:
        if other.n:
            self._combine(other.n, other.mean, other.m2)

    def to_dict(self) -> dict:
        return encode_arrays({"kind": self.kind, "n": self.n, "mean": self.mean, "m2": self.m2})

    @classmethod
    def from_dict(cls, d: dict) -> "MomentsAccumulator":
        d = decode_arrays(d)
        acc = cls(len(d["mean"]))
        acc.n, acc.mean, acc.m2 = int(d["n"]), d["mean"], d["m2"]
        return acc


class EvaluateAccumulator:
    """Loss, gradient and curvature sums at candidate points.

    For each column ``w`` of ``W``: ``sse = ||A w - y||^2``,
    ``grad = A^T (A w - y)``, ``abs = sum |A w - y|``; for each column ``p``
    of ``P``: ``hp = A^T A p``; with ``hessian``: ``gram = A^T A``.  With
    ``sample_size`` k > 0: ``sample``, the k rows with the smallest hash keys
    (:mod:`mrlinreg.numerics.reservoir`) with their fitted value ``A w`` at the first
    point and their label: a deterministic residual sample for plots.
    """

    kind = "evaluate"

    def __init__(self, W, P, shift, scale, fit_intercept, hessian=False, sample_size=0):
        self.sample = ReservoirSample(sample_size) if sample_size else None
        self.W = np.asarray(W, dtype=np.float64)
        self.P = np.asarray(P, dtype=np.float64)
        self.shift, self.scale, self.fit_intercept = shift, scale, fit_intercept
        p, m = self.W.shape
        self.n = 0
        self.sse = np.zeros(m)
        self.abs = np.zeros(m)
        self.grad = np.zeros((p, m))
        self.hp = np.zeros((p, self.P.shape[1]))
        self.gram = np.zeros((p, p)) if hessian else None

    def add(self, X: np.ndarray, y: np.ndarray) -> None:
        if X.shape[0] == 0:
            return
        A = design_matrix(X, self.shift, self.scale, self.fit_intercept)
        with np.errstate(all="ignore"):  # a diverging candidate is judged by the driver
            R = A @ self.W - y[:, None]
            self.sse += np.einsum("ij,ij->j", R, R)
            self.abs += np.abs(R).sum(axis=0)
            self.grad += A.T @ R
            if self.P.shape[1]:
                self.hp += A.T @ (A @ self.P)
            if self.gram is not None:
                self.gram += A.T @ A
        if self.sample is not None:
            fitted = A @ self.W[:, 0]
            keep = np.isfinite(fitted)  # never store a non-finite number
            self.sample.add(row_keys(np.column_stack([X, y]))[keep], fitted[keep], y[keep])
        self.n += X.shape[0]

    def merge(self, other: "EvaluateAccumulator") -> None:
        self.n += other.n
        self.sse = self.sse + other.sse
        self.abs = self.abs + other.abs
        self.grad = self.grad + other.grad
        self.hp = self.hp + other.hp
        if self.gram is not None:
            self.gram = self.gram + other.gram
        if self.sample is not None and other.sample is not None:
            self.sample.merge(other.sample)

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "n": self.n, "sse": self.sse, "abs": self.abs,
             "grad": self.grad, "hp": self.hp}
        if self.gram is not None:
            d["gram"] = self.gram
        d = encode_arrays(d)
        if self.sample is not None:
            d["sample"] = self.sample.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "EvaluateAccumulator":
        d = decode_arrays(d)
        acc = cls.__new__(cls)
        acc.n, acc.sse, acc.abs = int(d["n"]), d["sse"], d["abs"]
        acc.grad, acc.hp, acc.gram = d["grad"], d["hp"], d.get("gram")
        acc.sample = ReservoirSample.from_dict(d["sample"]) if d.get("sample") else None
        return acc


class QRAccumulator:
    """The R factor of ``[A y]`` by tall-and-skinny QR (Constantine & Gleich 2011)."""

    kind = "tsqr"

    def __init__(self, shift, scale, fit_intercept):
        self.shift, self.scale, self.fit_intercept = shift, scale, fit_intercept
        self.n = 0
        self.R = None

    def add(self, X: np.ndarray, y: np.ndarray) -> None:
        if X.shape[0] == 0:
            return
        A = design_matrix(X, self.shift, self.scale, self.fit_intercept)
        self.R = tsqr.update(self.R, np.hstack([A, y[:, None]]))
        self.n += X.shape[0]

    @classmethod
    def merge_all(cls, accs) -> "QRAccumulator":
        """One re-factorisation of all the stacked R's (not one per pair)."""
        total = cls.__new__(cls)
        total.n = sum(a.n for a in accs)
        Rs = [a.R for a in accs if a.R is not None]
        total.R = tsqr.merge(Rs) if Rs else None
        return total

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "n": self.n}
        if self.R is not None:
            d["R"] = self.R
        return encode_arrays(d)

    @classmethod
    def from_dict(cls, d: dict) -> "QRAccumulator":
        d = decode_arrays(d)
        acc = cls.__new__(cls)
        acc.n, acc.R = int(d["n"]), d.get("R")
        return acc


class AbsResidualSketch:
    """:class:`~mrlinreg.numerics.huber.QuantileSketch` of ``|y - A w|`` at one ``w``.

    One round of :func:`~mrlinreg.numerics.huber.exact_median` over the residuals of
    a fit (``--loss huber``'s default delta).  ``edges`` is ``"log"`` (round one's
    ``2^(1/64)`` log bins, rebuilt in every task instead of shipped: ~131k of them) or
    an explicit array; only the bins hit travel.
    """

    kind = "abs_residual_sketch"

    def __init__(self, w, shift, scale, fit_intercept, edges="log", collect=False):
        self.w = np.asarray(w, dtype=np.float64)
        self.shift, self.scale, self.fit_intercept = shift, scale, fit_intercept
        self.edges_spec = edges
        self.sketch = QuantileSketch(log_edges() if isinstance(edges, str) else edges, collect)
        self.n = 0

    def add(self, X: np.ndarray, y: np.ndarray) -> None:
        if X.shape[0] == 0:
            return
        A = design_matrix(X, self.shift, self.scale, self.fit_intercept)
        self.sketch.add(np.abs(y - A @ self.w))
        self.n += X.shape[0]

    def merge(self, other: "AbsResidualSketch") -> None:
        self.sketch.merge(other.sketch)
        self.n += other.n

    def to_dict(self) -> dict:
        sk = self.sketch.to_dict()
        if isinstance(self.edges_spec, str):
            sk["edges"] = self.edges_spec
        return {"kind": self.kind, "n": self.n, "sketch": sk}

    @classmethod
    def from_dict(cls, d: dict) -> "AbsResidualSketch":
        acc = cls.__new__(cls)
        sk = dict(d["sketch"])
        acc.edges_spec = sk["edges"] if isinstance(sk["edges"], str) else None
        if acc.edges_spec is not None:
            sk["edges"] = log_edges()  # an array: decode_arrays passes it through
        acc.sketch, acc.n = QuantileSketch.from_dict(sk), int(d["n"])
        return acc


#: The key a pass's fold add-on is emitted and reduced under (beside ``partial``).
FOLD_ADDON_KEY = FoldQRAccumulator.kind
#: The single pass of ``--cv`` on R: the moments as its ``partial`` (row count, bad
#: rows) and, as the fold add-on, one fused partial per fold
#: (:mod:`mrlinreg.numerics.cv_fused`) whose merge is the whole data's R.
FOLD_FUSED_PASS = "fused_cv"


class XYMomentsAccumulator(MomentsAccumulator):
    """:class:`MomentsAccumulator` of ``[X y]`` fed as ``add(X, y)`` (the ``fused_cv``
    pass's own partial); it travels and merges as a plain moments partial."""

    def __init__(self, d: int):
        super().__init__(d + 1)

    def add(self, X: np.ndarray, y: np.ndarray) -> None:  # noqa: D102
        super().add(np.column_stack([X, y]))


def fold_addon(params):
    """The fold add-on of a pass (one R factor of ``[A y]`` per CV fold), or None.

    Any pass that has the working space's ``shift``/``scale`` can carry it: the
    driver puts ``cv_folds`` in the pass's params, the mapper feeds each parsed
    block with its rows' raw lines (:func:`block_folds`) and emits the add-on
    under :data:`FOLD_ADDON_KEY`; the reducer merges it like any partial.
    """
    k = int(params.get("cv_folds") or 0)
    if k < 2:
        return None
    if params.get("pass") == FOLD_FUSED_PASS:  # one pass: each fold in a frame of its own
        return FoldFusedAccumulator(k)
    from mrlinreg.codec import decode_array

    return FoldQRAccumulator(decode_array(params["shift"]), decode_array(params["scale"]),
                             params["fit_intercept"], k)


def addon_records(addon):
    """``(key suffix, partial dict)`` records a mapper emits for its fold add-on.

    The fused partials of one-pass CV travel one fold per record, under ``fold_tsqr
    <b> <k>`` (``b`` the split's merge key): each reducer call then merges one fold's
    partials of its merge key, and the driver at most ``B`` per fold (``K B`` in all).
    Other add-ons are one record under ``fold_tsqr <b>``.
    """
    split = getattr(addon, "split_by_fold", None)
    if split is None:
        return [("", addon.to_dict())]
    return [(f" {k}", part.to_dict()) for k, part in split()]


def chunk_folds(chunk: bytes, bad, n_folds):
    """The fold of each GOOD row of a parsed chunk of whole ``\n``-ended lines, in order.

    ``bad`` is the parser's ``(line index, reason)`` list for the chunk.  A line's fold
    is ``zlib.crc32(its raw bytes without the "\n" or "\r\n" terminator) % K``, as
    :func:`mrlinreg.numerics.cv.fold_of_line` defines it.
    """
    lines = chunk.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    skip = {i for i, _ in bad}
    good = [ln[:-1] if ln.endswith(b"\r") else ln
            for i, ln in enumerate(lines) if i not in skip]
    return folds_of_lines(good, n_folds)


def block_folds(lines, bad, n_folds):
    """The fold of each GOOD row of a parsed block, in block order.

    ``lines`` are the block's lines as the job reads them (mrjob strips the line
    terminator: every trailing ``\r`` and ``\n``) and ``bad`` the parser's
    ``(index, reason)`` list.  A line's bytes are its UTF-8 encoding, which for
    every UTF-8 line is its raw bytes (mrjob decodes UTF-8, falling back to
    Latin-1 for other lines, which are then hashed as that decoding re-encoded).
    So ``fold = zlib.crc32(raw line bytes without the line terminator) % K``.
    """
    skip = {i for i, _ in bad}
    good = [ln if isinstance(ln, (bytes, bytearray)) else ln.encode("utf-8")
            for i, ln in enumerate(lines) if i not in skip]
    return folds_of_lines(good, n_folds)


ACCUMULATORS = {c.kind: c for c in (MomentsAccumulator, EvaluateAccumulator, QRAccumulator,
                                     ResidualAccumulator, FusedAccumulator, FoldQRAccumulator,
                                     MeatAccumulator, LevelsAccumulator,
                                     HuberIRLSAccumulator, AbsResidualSketch)}
ACCUMULATORS[FoldFusedAccumulator.kind] = FoldFusedAccumulator
# --weight-column: the weighted twins (mrlinreg.numerics.weighted, .weighted_passes)
ACCUMULATORS.update({c.kind: c for c in (WeightedMomentsAccumulator, WeightedFusedAccumulator,
                                         WeightedEvaluateAccumulator, WeightedMeatAccumulator)})


def merge_partials(dicts):
    """Merge serialised partials of one kind in a canonical (sorted) order."""
    import json

    ordered = sorted(dicts, key=lambda d: json.dumps(d, sort_keys=True))
    cls = ACCUMULATORS[ordered[0]["kind"]]
    accs = [cls.from_dict(d) for d in ordered]
    if hasattr(cls, "merge_all"):
        return cls.merge_all(accs)
    total = accs[0]
    for acc in accs[1:]:
        total.merge(acc)
    return total


def merge_partial_records(records):
    """Merge pass records ``{"acc": partial dict, "bad": {reason: count}}``.

    Used by each reducer (its key's mapper records) and by the driver (the
    reducers' records); the partials merge in a canonical order
    (:func:`merge_partials`), the bad-row counts add up.

    Returns
    -------
    (accumulator, dict)
    """
    records = list(records)
    bad = {}
    for rec in records:
        for reason, count in rec["bad"].items():
            bad[reason] = bad.get(reason, 0) + count
    return merge_partials([rec["acc"] for rec in records]), bad
