"""One-pass CV from fold factors against brute-force k-fold refits on the same folds."""

import json
import zlib

import numpy as np
import pytest
from sklearn.linear_model import ElasticNet

from mrlinreg.errors import TrainingError
from mrlinreg.kernels import QRAccumulator
from mrlinreg.numerics import cv, enet, ridge
from mrlinreg.numerics.scaling import design_matrix

K = 5


def _data(n=240, d=6, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * [1, 2, 3, 0.5, 1, 4] + 1.0
    y = X[:, :3] @ [1.0, -0.5, 0.25] + 2.0 + rng.standard_normal(n)
    lines = [(",".join(f"{v:.17g}" for v in row) + f",{t:.17g}\n").encode()
             for row, t in zip(X, y)]
    X = np.array([[float(v) for v in ln.decode().split(",")[:-1]] for ln in lines])
    y = np.array([float(ln.decode().split(",")[-1]) for ln in lines])
    shift, scale = X.mean(0), X.std(0)
    folds = cv.folds_of_lines(lines, K)
    return X, y, lines, folds, shift, scale


def _accumulate(X, y, folds, shift, scale, splits=(0, 70, 71, 150, 240)):
    accs = []
    for a, b in zip(splits[:-1], splits[1:]):
        acc = cv.FoldQRAccumulator(shift, scale, True, K)
        acc.add(X[a:b], y[a:b], folds[a:b])
        accs.append(cv.FoldQRAccumulator.from_dict(json.loads(json.dumps(acc.to_dict()))))
    return cv.FoldQRAccumulator.merge_all(accs)


def test_fold_is_crc32_of_the_line_without_terminator():
    assert cv.fold_of_line(b"1,2,3\n", 7) == zlib.crc32(b"1,2,3") % 7
    assert cv.fold_of_line(b"1,2,3\r\n", 7) == cv.fold_of_line(b"1,2,3", 7)
    np.testing.assert_array_equal(cv.folds_of_lines([b"a\n", b"b", b"a"], 3),
                                  [zlib.crc32(b"a") % 3, zlib.crc32(b"b") % 3,
                                   zlib.crc32(b"a") % 3])


def test_accumulator_round_trips_and_merges_in_canonical_order():
    X, y, lines, folds, shift, scale = _data()
    acc = cv.FoldQRAccumulator(shift, scale, True, K)
    acc.add(X[:100], y[:100], folds[:100])
    back = cv.FoldQRAccumulator.from_dict(json.loads(json.dumps(acc.to_dict())))
    assert all(np.array_equal(a, b) for a, b in zip(acc.R, back.R))
    one = _accumulate(X, y, folds, shift, scale)
    parts = [cv.FoldQRAccumulator(shift, scale, True, K) for _ in range(3)]
    for i, part in enumerate(parts):
        part.add(X[i::3], y[i::3], folds[i::3])
    a = cv.FoldQRAccumulator.merge_all(parts)
    b = cv.FoldQRAccumulator.merge_all(parts[::-1])
    assert all(np.array_equal(r, s) for r, s in zip(a.R, b.R))
    assert a.counts.tolist() == np.bincount(folds, minlength=K).tolist() == one.counts.tolist()
    whole = QRAccumulator(shift, scale, True)
    whole.add(X, y)
    np.testing.assert_allclose(a.full_factor(), whole.R, rtol=1e-12, atol=1e-10)


def _brute(X, y, folds, shift, scale, lambdas, alpha):
    A = design_matrix(X, shift, scale, True)
    d = X.shape[1]
    mask = ridge.penalty_mask(d, True)
    out = np.zeros((K, len(lambdas)))
    for k in range(K):
        tr, te = folds != k, folds == k
        for j, s in enumerate(lambdas):
            if alpha == 0:   # ridge / OLS: normal equations on the training rows
                n_tr = tr.sum()
                w = np.linalg.lstsq(np.vstack([A[tr], np.sqrt(n_tr * s) * np.diag(mask)[:d]]),
                                    np.append(y[tr], np.zeros(d)), rcond=None)[0]
            else:
                m = ElasticNet(alpha=s, l1_ratio=alpha, tol=1e-12, max_iter=1_000_000)
                m.fit(A[tr, :d], y[tr])
                w = np.append(m.coef_, m.intercept_)
            out[k, j] = np.mean((A[te] @ w - y[te]) ** 2)
    return out


@pytest.mark.parametrize("alpha,lambdas,tol", [
    (0.0, [0.0], 1e-8),                 # plain OLS
    (0.0, [1.0, 0.3, 0.1, 0.01], 1e-8),  # ridge
    (0.7, None, 1e-6),                  # elastic-net path
])
def test_cv_from_fold_factors_equals_brute_force(alpha, lambdas, tol):
    X, y, lines, folds, shift, scale = _data()
    acc = _accumulate(X, y, folds, shift, scale)
    if lambdas is None:
        lambdas = enet.enet_path(acc.full_factor(), acc.n, alpha=alpha, fit_intercept=True,
                                 n_lambdas=8).lambdas
    res = cv.cross_validate(acc.R, acc.counts, lambdas, alpha=alpha, fit_intercept=True)
    ref = _brute(X, y, folds, shift, scale, np.asarray(lambdas), alpha)
    np.testing.assert_allclose(res.fold_mse, ref, rtol=tol)
    np.testing.assert_allclose(res.cvm, ref.mean(0), rtol=tol)
    np.testing.assert_allclose(res.cvsd, ref.std(0, ddof=1) / np.sqrt(K), rtol=1e-6)
    assert res.fold_n.tolist() == np.bincount(folds, minlength=K).tolist()


def test_one_standard_error_rule():
    lambdas = np.array([5.0, 2.0, 1.0, 0.5, 0.1])
    cvm = np.array([3.0, 1.2, 1.1, 1.0, 1.05])  # 1.2 = min + se: inclusive
    cvsd = np.array([0.1, 0.1, 0.1, 0.2, 0.1])
    assert cv.one_se_index(lambdas, cvm, cvsd) == (3, 1)


def test_too_few_folds_with_rows():
    R = np.eye(3)
    with pytest.raises(TrainingError, match="at least two folds"):
        cv.cross_validate([R, None, None], [10, 0, 0], [0.0], alpha=0.0, fit_intercept=True)


@pytest.mark.parametrize("losses,patience,min_delta,expected", [
    ([5, 4, 3, 3.5, 3.2, 3.1], 3, 0.0, (True, 5, 2)),
    ([5, 4, 3, 3.5, 3.2, 2.9], 3, 0.0, (False, None, 5)),
    ([5, 4.95, 4.9, 4.85], 2, 0.1, (True, 2, 0)),
    ([float("nan"), float("nan")], 2, 0.0, (True, 1, None)),
    ([], 1, 0.0, (False, None, None)),
])
def test_early_stopping(losses, patience, min_delta, expected):
    d = cv.early_stopping(losses, patience, min_delta)
    assert (d.stop, d.stop_at, d.best) == expected


def test_early_stopping_needs_patience():
    with pytest.raises(ValueError, match="patience"):
        cv.early_stopping([1.0], 0)
