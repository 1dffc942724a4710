import json

import numpy as np

from mrlinreg import kernels
from mrlinreg.numerics.scaling import design_matrix


def _data(n=500, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * [1, 10, 1e3, 1e-2] + 5
    y = X @ rng.standard_normal(d) + rng.standard_normal(n)
    return X, y


def _split_merge(make, X, y, cuts):
    parts = []
    for Xb, yb in zip(np.array_split(X, cuts), np.array_split(y, cuts)):
        acc = make()
        for Xs, ys in zip(np.array_split(Xb, 3), np.array_split(yb, 3)):
            acc.add(Xs, ys) if ys is not None else acc.add(Xs)
        parts.append(json.loads(json.dumps(acc.to_dict())))  # through JSON, as in a job
    return kernels.merge_partials(parts)


def test_moments_match_numpy_whatever_the_split():
    X, y = _data()
    Z = np.column_stack([X, y])
    for cuts in (1, 2, 7):
        parts = []
        for Zb in np.array_split(Z, cuts):
            a = kernels.MomentsAccumulator(5)
            a.add(Zb)
            parts.append(a.to_dict())
        acc = kernels.merge_partials(parts)
        assert acc.n == len(Z)
        np.testing.assert_allclose(acc.mean, Z.mean(axis=0), rtol=1e-14)
        np.testing.assert_allclose(acc.m2 / acc.n, Z.var(axis=0), rtol=1e-12)


def test_evaluate_matches_numpy():
    X, y = _data()
    shift, scale = X.mean(axis=0), X.std(axis=0)
    rng = np.random.default_rng(3)
    W, P = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    acc = _split_merge(lambda: kernels.EvaluateAccumulator(W, P, shift, scale, True, hessian=True),
                       X, y, 4)
    A = design_matrix(X, shift, scale, True)
    Rz = A @ W - y[:, None]
    assert acc.n == len(y)
    np.testing.assert_allclose(acc.sse, (Rz**2).sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(acc.abs, np.abs(Rz).sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(acc.grad, A.T @ Rz, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(acc.hp, A.T @ A @ P, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(acc.gram, A.T @ A, rtol=1e-12, atol=1e-9)


def test_qr_accumulator_gives_r_of_augmented_matrix():
    X, y = _data()
    shift, scale = X.mean(axis=0), X.std(axis=0)
    acc = _split_merge(lambda: kernels.QRAccumulator(shift, scale, True), X, y, 5)
    M = np.column_stack([design_matrix(X, shift, scale, True), y])
    np.testing.assert_allclose(acc.R.T @ acc.R, M.T @ M, rtol=1e-10, atol=1e-8)
    assert acc.n == len(y)


def test_merge_order_does_not_matter():
    X, y = _data()
    parts = []
    for Xb, yb in zip(np.array_split(X, 5), np.array_split(y, 5)):
        a = kernels.EvaluateAccumulator(np.ones((5, 1)), np.zeros((5, 0)), 0, 1, True)
        a.add(Xb, yb)
        parts.append(a.to_dict())
    a1 = kernels.merge_partials(parts)
    a2 = kernels.merge_partials(parts[::-1])
    assert a1.sse.tobytes() == a2.sse.tobytes()
    assert a1.grad.tobytes() == a2.grad.tobytes()
