"""K-fold cross-validation of a penalty path in one pass, from one R factor per fold.

Fold of a row (stable across runs, splits and mappers: it depends only on the
row's own bytes)::

    fold(line) = zlib.crc32(line without its line terminator) % K

where the terminator is a trailing ``b"\\n"`` or ``b"\\r\\n"``.  Identical lines
land in the same fold.

In the data pass that computes the R factor of ``[A y]``,
:class:`FoldQRAccumulator` keeps one R factor ``R_k`` per fold instead (their
TSQR merge *is* the full R).  Everything else is computed from the ``K``
small factors, without data:

* the training factor of fold ``k`` is the TSQR merge of the other folds'
  factors, ``T_k^T T_k = sum_{j != k} R_j^T R_j``;
* its fits, for every penalty on the path, come from ``T_k`` and
  ``n - n_k`` exactly as a full fit comes from ``R`` (:mod:`enet`);
* the held-out sum of squares of fold ``k`` at ANY weights ``w`` is
  ``||R_k [w; -1]||^2`` (since ``R_k^T R_k = [A_k y_k]^T [A_k y_k]``), so its
  held-out MSE is ``||R_k [w; -1]||^2 / n_k``.

The CV curve is the plain mean over the (non-empty) folds of each fold's
held-out MSE, ``cvm``, with standard error ``cvsd = std_k(mse_k) / sqrt(K)``
(``ddof = 1``).  ``lambda_min`` minimises ``cvm``; ``lambda_1se`` is the
largest penalty with ``cvm <= cvm[min] + cvsd[min]`` (the one-standard-error
rule).

Standardisation uses the WHOLE data's moments for every fold (``A`` is
built once, with one ``shift``/``scale``): the convention of glmnet-style
one-design CV and of the tests' brute-force reference.  (:class:`FoldQRAccumulator`
needs that frame before the pass, hence a moments pass first; the one-pass
route, :mod:`mrlinreg.numerics.cv_fused`, keeps each fold in a frame of its
own and moves it to the whole data's afterwards.)  The price is a small
leak of the held-out rows' moments into the training design, which shifts
the estimated error negligibly for ``n_k`` much larger than ``d``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mrlinreg.codec import decode_arrays, encode_arrays
from mrlinreg.errors import OptionError, TrainingError
from mrlinreg.numerics import enet, tsqr
from mrlinreg.numerics.scaling import design_matrix

__all__ = ["CVResult", "FoldQRAccumulator", "StopDecision", "cross_validate", "early_stopping",
           "fold_of_line",
           "folds_of_lines", "held_out_mse", "one_se_index", "training_factors"]


def fold_of_line(line: bytes, n_folds: int) -> int:
    """``zlib.crc32(line without "\\n" / "\\r\\n") % n_folds`` (see the module docstring)."""
    if line.endswith(b"\n"):
        line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
    return zlib.crc32(line) % n_folds


def folds_of_lines(lines: Sequence[bytes], n_folds: int) -> np.ndarray:
    """Fold of each raw line (int64 array), :func:`fold_of_line` applied to a block."""
    if int(n_folds) < 2:
        raise OptionError("<opt:cv_folds> must be at least 2", "cv_folds")
    return np.fromiter((fold_of_line(b, n_folds) for b in lines), dtype=np.int64,
                       count=len(lines))


class FoldQRAccumulator:
    """One R factor of ``[A y]`` per fold (TSQR), for one-pass cross-validation.

    ``add(X, y, folds)`` takes a parsed block and each row's fold (from
    :func:`folds_of_lines` on the raw lines).  Serialised exactly with
    :mod:`mrlinreg.codec`; ``merge_all`` merges fold by fold with
    :func:`tsqr.merge`, whose canonical order makes the result independent of
    the order of the partials.
    """

    kind = "fold_tsqr"

    def __init__(self, shift, scale, fit_intercept, n_folds):
        self.shift, self.scale, self.fit_intercept = shift, scale, fit_intercept
        self.n_folds = int(n_folds)
        self.counts = np.zeros(self.n_folds, dtype=np.int64)
        self.R = [None] * self.n_folds

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def add(self, X: np.ndarray, y: np.ndarray, folds: np.ndarray) -> None:
        if X.shape[0] == 0:
            return
        folds = np.asarray(folds)
        M = np.hstack([design_matrix(X, self.shift, self.scale, self.fit_intercept),
                       np.asarray(y, dtype=np.float64)[:, None]])
        for k in np.unique(folds):
            rows = folds == k
            self.R[k] = tsqr.update(self.R[k], M[rows])
            self.counts[k] += int(rows.sum())

    @classmethod
    def merge_all(cls, accs) -> "FoldQRAccumulator":
        accs = list(accs)
        total = cls.__new__(cls)
        total.n_folds = accs[0].n_folds
        total.counts = np.sum([a.counts for a in accs], axis=0).astype(np.int64)
        total.R = []
        for k in range(total.n_folds):
            Rs = [a.R[k] for a in accs if a.R[k] is not None]
            total.R.append(tsqr.merge(Rs) if Rs else None)
        return total

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "n_folds": self.n_folds, "counts": self.counts.tolist()}
        present = [k for k in range(self.n_folds) if self.R[k] is not None]
        if present:
            d["folds_present"] = present
            d["R"] = np.stack([self.R[k] for k in present])
        return encode_arrays(d)

    @classmethod
    def from_dict(cls, d: dict) -> "FoldQRAccumulator":
        d = decode_arrays(d)
        acc = cls.__new__(cls)
        acc.n_folds = int(d["n_folds"])
        acc.counts = np.array(d["counts"], dtype=np.int64)
        acc.R = [None] * acc.n_folds
        for i, k in enumerate(d.get("folds_present", [])):
            acc.R[k] = d["R"][i]
        return acc

    def full_factor(self) -> np.ndarray:
        """The R factor of all rows (what :class:`kernels.QRAccumulator` would give)."""
        return tsqr.merge([R for R in self.R if R is not None])


def training_factors(fold_R):
    """``T_k`` = TSQR merge of every fold's factor but ``k``'s (None where that is empty)."""
    out = []
    for k in range(len(fold_R)):
        others = [R for j, R in enumerate(fold_R) if j != k and R is not None]
        out.append(tsqr.merge(others) if others else None)
    return out


def held_out_mse(R_k, n_k, W):
    """``||R_k [w; -1]||^2 / n_k`` for each row ``w`` of ``W`` (m, p)."""
    W = np.atleast_2d(np.asarray(W, dtype=np.float64))
    V = np.hstack([W, -np.ones((W.shape[0], 1))])
    RV = np.asarray(R_k) @ V.T
    return np.einsum("ij,ij->j", RV, RV) / n_k


def one_se_index(lambdas, cvm, cvsd):
    """Index of ``lambda_min`` and of ``lambda_1se`` (largest lambda with ``cvm <= min + se``)."""
    lambdas, cvm, cvsd = (np.asarray(a, dtype=np.float64) for a in (lambdas, cvm, cvsd))
    i_min = int(np.argmin(cvm))
    within = np.flatnonzero(cvm <= cvm[i_min] + cvsd[i_min])
    i_1se = int(within[np.argmax(lambdas[within])])
    return i_min, i_1se


@dataclass
class CVResult:
    """The CV curve over the penalty scales ``lambdas`` (``l1 = alpha s``, ``l2 = (1-alpha) s``)."""

    lambdas: np.ndarray
    alpha: float
    fold_mse: np.ndarray      # (K, N) held-out MSE of each fold at each lambda
    fold_n: np.ndarray        # (K,) held-out rows per fold
    cvm: np.ndarray           # (N,) mean over folds
    cvsd: np.ndarray          # (N,) its standard error
    index_min: int
    index_1se: int

    @property
    def lambda_min(self) -> float:
        return float(self.lambdas[self.index_min])

    @property
    def lambda_1se(self) -> float:
        return float(self.lambdas[self.index_1se])


def cross_validate(fold_R, fold_n, lambdas, *, alpha, fit_intercept, tol=1e-12,
                   max_sweeps=100_000) -> CVResult:
    """K-fold CV of the fits at penalty scales ``lambdas``, from the fold factors alone.

    Parameters
    ----------
    fold_R : list of ndarray of shape (p+1, p+1) or None
        ``FoldQRAccumulator.R``: R factor of ``[A y]`` over each fold's rows.
    fold_n : array_like of int
        Rows per fold.
    lambdas : array_like
        Penalty scales, typically the full data's path (:func:`enet.enet_path`);
        ``[0]`` for plain OLS.
    alpha : float
        Mixing ``l1 / (l1 + l2)``: 1 lasso, 0 ridge (exact on the factor).
    fit_intercept : bool

    Returns
    -------
    CVResult

    Raises
    ------
    TrainingError
        Fewer than two folds hold rows.
    """
    fold_n = np.asarray(fold_n, dtype=np.int64)
    present = [k for k in range(len(fold_R)) if fold_R[k] is not None and fold_n[k] > 0]
    if len(present) < 2:
        raise TrainingError("cross-validation needs rows in at least two folds; use fewer "
                            "<opt:cv_folds> or more data")
    lambdas = np.atleast_1d(np.asarray(lambdas, dtype=np.float64))
    R_used = [fold_R[k] for k in present]
    n_used = fold_n[present]
    train = training_factors(R_used)
    n_total = int(n_used.sum())
    mse = np.zeros((len(present), len(lambdas)))
    for i, (T, R_k, n_k) in enumerate(zip(train, R_used, n_used)):
        n_train = n_total - int(n_k)
        path = enet.enet_path(T, n_train, alpha=alpha, fit_intercept=fit_intercept,
                              lambdas=lambdas, tol=tol, max_sweeps=max_sweeps)
        W = np.array([path.weights(j) for j in range(len(lambdas))])
        mse[i] = held_out_mse(R_k, n_k, W)
    cvm = mse.mean(axis=0)
    cvsd = mse.std(axis=0, ddof=1) / np.sqrt(len(present))
    i_min, i_1se = one_se_index(lambdas, cvm, cvsd)
    return CVResult(lambdas=lambdas, alpha=float(alpha), fold_mse=mse, fold_n=n_used,
                    cvm=cvm, cvsd=cvsd, index_min=i_min, index_1se=i_1se)



@dataclass
class StopDecision:
    """Where an early-stopped run stops and which iterate it keeps."""

    stop: bool
    stop_at: int | None     # index of the loss after which to stop (None: go on)
    best: int | None        # index of the lowest validation loss so far


def early_stopping(val_losses, patience: int, min_delta: float = 0.0) -> StopDecision:
    """Stop once ``patience`` evaluations in a row fail to improve on the best by ``min_delta``.

    An evaluation ``i`` improves when ``loss_i < best - min_delta``.  The run
    stops at the first ``i`` with ``i - best_index >= patience`` and keeps the
    weights of ``best_index``.  A non-finite loss never improves.

    Parameters
    ----------
    val_losses : sequence of float
        Validation losses, one per evaluation, oldest first.
    patience : int
        ``>= 1`` (``<opt:patience>``).
    min_delta : float
        ``>= 0``.

    Returns
    -------
    StopDecision
    """
    if int(patience) < 1:
        raise OptionError("<opt:patience> must be a positive number of evaluations", "patience")
    if not (np.isfinite(min_delta) and min_delta >= 0):
        raise OptionError("<opt:min_delta> must be a non-negative number", "min_delta")
    best, best_loss = None, np.inf
    for i, loss in enumerate(val_losses):
        if np.isfinite(loss) and loss < best_loss - min_delta:
            best, best_loss = i, float(loss)
        elif i - (-1 if best is None else best) >= patience:
            return StopDecision(True, i, best)
    return StopDecision(False, None, best)
