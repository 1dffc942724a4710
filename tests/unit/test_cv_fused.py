"""One-pass k-fold CV (mrlinreg.numerics.cv_fused) against the two passes it replaced:
moments, then TSQR of each fold's rows in the whole data's frame (FoldQRAccumulator)."""

import json
import random

import numpy as np
import pytest

from mrlinreg import kernels
from mrlinreg.numerics import cv, merge
from mrlinreg.numerics.cv_fused import FoldFusedAccumulator, fold_context
from mrlinreg.numerics.fused import context_from_fused
from mrlinreg.numerics.scaling import standardization

K = 5


def _data(n=700, seed=4):
    rng = np.random.default_rng(seed)
    scales = np.array([1.0, 30.0, 0.01, 5.0])
    X = rng.normal(size=(n, 4)) * scales + [3.0, -200.0, 0.5, 40.0]
    X[:, 1] += 20 * X[:, 0]
    y = X @ ([0.7, 0.01, 50.0, -0.2]) + 3.0 + rng.normal(size=n)
    lines = [",".join(f"{v:.17g}" for v in row).encode() for row in np.column_stack([X, y])]
    return X, y, cv.folds_of_lines(lines, K)


def _splits(n, sizes):
    """Mapper splits ``(file, start)`` and their row ranges, blocks of a few sizes."""
    bounds = np.linspace(0, n, len(sizes) + 1).astype(int)
    return [((f"part-{i}", int(bounds[i])), bounds[i], bounds[i + 1], b)
            for i, b in enumerate(sizes)]


def _one_pass(X, y, folds, splits, keys=merge.DEFAULT_BUCKETS):
    items = []
    for split, lo, hi, block in splits:
        acc = FoldFusedAccumulator(K)
        for s in range(lo, hi, block):
            e = min(hi, s + block)
            acc.add(X[s:e], y[s:e], folds[s:e])
        # each partial travels as JSON, as a mapper emits it
        items.append((split, FoldFusedAccumulator.from_dict(json.loads(json.dumps(
            acc.to_dict())))))
    return merge.merge_tree(items, keys, FoldFusedAccumulator.merge_all)


def _two_pass(X, y, folds, fit_intercept, standardize=True):
    n = len(y)
    mean, std = X.mean(axis=0), X.std(axis=0)
    shift, scale = standardization(mean, std, np.sqrt((X ** 2).mean(axis=0)),
                                   fit_intercept, standardize)
    acc = cv.FoldQRAccumulator(shift, scale, fit_intercept, K)
    for s in range(0, n, 64):
        acc.add(X[s:s + 64], y[s:s + 64], folds[s:s + 64])
    return shift, scale, acc


@pytest.mark.parametrize("fit_intercept,standardize", [(True, True), (False, True),
                                                       (True, False)])
@pytest.mark.parametrize("sizes", [[1000], [37, 50, 8], [3, 200, 11, 64]])
def test_one_pass_fold_factors_equal_the_two_pass_ones(fit_intercept, standardize, sizes):
    X, y, folds = _data()
    merged = _one_pass(X, y, folds, _splits(len(y), sizes))
    ctx, fold_R, fold_n = fold_context(merged, fit_intercept, standardize)
    shift, scale, ref = _two_pass(X, y, folds, fit_intercept, standardize)
    assert fold_n.tolist() == np.bincount(folds, minlength=K).tolist() == ref.counts.tolist()
    np.testing.assert_allclose(ctx.shift, shift, rtol=1e-13)
    np.testing.assert_allclose(ctx.scale, scale, rtol=1e-13)
    p1 = X.shape[1] + int(fit_intercept) + 1
    assert fold_R.shape == (K, p1, p1)
    for k in range(K):
        assert np.array_equal(fold_R[k], np.triu(fold_R[k]))
        G, G_ref = fold_R[k].T @ fold_R[k], ref.R[k].T @ ref.R[k]
        np.testing.assert_allclose(G, G_ref, rtol=1e-12, atol=1e-12 * np.abs(G_ref).max())
    full = ref.full_factor()
    np.testing.assert_allclose(ctx.R.T @ ctx.R, full.T @ full, rtol=1e-12,
                               atol=1e-12 * np.abs(full.T @ full).max())
    # the CV curve itself: OLS, ridge and an elastic-net path
    for alpha, lambdas in ((1.0, [0.0]), (0.0, [0.3]), (0.7, [0.5, 0.1, 0.02])):
        one = cv.cross_validate(list(fold_R), fold_n, lambdas, alpha=alpha,
                                fit_intercept=fit_intercept, tol=1e-14)
        two = cv.cross_validate(ref.R, ref.counts, lambdas, alpha=alpha,
                                fit_intercept=fit_intercept, tol=1e-14)
        np.testing.assert_allclose(one.fold_mse, two.fold_mse, rtol=1e-11)
        np.testing.assert_allclose(one.cvm, two.cvm, rtol=1e-12)
        np.testing.assert_allclose(one.cvsd, two.cvsd, rtol=1e-9)


def test_the_whole_partial_is_the_merge_of_the_folds():
    """R and the moments from the folds' partials are the fused pass's, to rounding."""
    from mrlinreg.numerics.fused import FusedAccumulator

    X, y, folds = _data()
    merged = _one_pass(X, y, folds, _splits(len(y), [100, 9]))
    plain = FusedAccumulator(4)
    for s in range(0, len(y), 100):
        plain.add(X[s:s + 100], y[s:s + 100])
    a = context_from_fused(merged.whole(), True, True)
    b = context_from_fused(plain, True, True)
    assert a.n == b.n == len(y)
    np.testing.assert_allclose(a.mean, b.mean, rtol=1e-14)
    np.testing.assert_allclose(a.m2, b.m2, rtol=1e-12)
    np.testing.assert_allclose(np.abs(a.R), np.abs(b.R), rtol=1e-10, atol=1e-10)


def test_merge_is_independent_of_the_partials_order_and_keeps_empty_ones_out():
    X, y, folds = _data(200)
    parts = []
    for s in range(0, 200, 40):
        acc = FoldFusedAccumulator(K)
        acc.add(X[s:s + 40], y[s:s + 40], folds[s:s + 40])
        parts.append(acc)
    parts.append(FoldFusedAccumulator(K))          # a mapper that saw no rows
    a = FoldFusedAccumulator.merge_all(parts)
    shuffled = parts[:]
    random.Random(1).shuffle(shuffled)
    b = FoldFusedAccumulator.merge_all(shuffled)
    assert json.dumps(a.to_dict(), sort_keys=True) == json.dumps(b.to_dict(), sort_keys=True)
    assert a.n == 200 and a.counts.tolist() == np.bincount(folds, minlength=K).tolist()


def test_serialisation_is_bit_exact_and_an_empty_partial_round_trips():
    X, y, folds = _data(90)
    acc = FoldFusedAccumulator(K)
    acc.add(X, y, folds)
    back = FoldFusedAccumulator.from_dict(json.loads(json.dumps(acc.to_dict())))
    for f, g in zip(acc.folds, back.folds):
        assert f.n == g.n and (f.R is None or f.R.tobytes() == g.R.tobytes())
        assert f.shift.tobytes() == g.shift.tobytes() and f.m2.tobytes() == g.m2.tobytes()
    empty = FoldFusedAccumulator.from_dict(json.loads(json.dumps(
        FoldFusedAccumulator(K).to_dict())))
    assert empty.n == 0 and empty.folds is None
    with pytest.raises(ValueError, match="no rows"):
        empty.whole()


def test_the_pass_wiring_carries_the_folds_as_an_add_on():
    """The ``fused_cv`` pass: moments as its partial, the folds' fused partials beside."""
    assert isinstance(kernels.fold_addon({"pass": kernels.FOLD_FUSED_PASS, "cv_folds": 4}),
                      FoldFusedAccumulator)
    assert kernels.fold_addon({"pass": kernels.FOLD_FUSED_PASS}) is None
    X, y, folds = _data(50)
    mom = kernels.XYMomentsAccumulator(4)
    mom.add(X, y)
    back = kernels.merge_partials([mom.to_dict()])
    assert back.n == 50
    np.testing.assert_allclose(back.mean, np.column_stack([X, y]).mean(axis=0), rtol=1e-14)
    addon = kernels.fold_addon({"pass": kernels.FOLD_FUSED_PASS, "cv_folds": K})
    addon.add(X, y, folds)
    assert kernels.merge_partials([addon.to_dict()]).n == 50


def test_mappers_emit_one_record_per_fold_and_the_merge_is_unchanged_bit_for_bit():
    X, y, folds = _data(300)
    mappers = []
    for s in range(0, 300, 75):
        acc = kernels.fold_addon({"pass": kernels.FOLD_FUSED_PASS, "cv_folds": K})
        acc.add(X[s:s + 75], y[s:s + 75], folds[s:s + 75])
        mappers.append(acc)
    records = [rec for acc in mappers for rec in kernels.addon_records(acc)]
    assert sorted({suffix for suffix, _ in records}) == [f" {k}" for k in range(K)]
    assert len(records) == 4 * K  # every mapper saw every fold here
    # a reducer per (merge key, fold), then the driver: the same bits as whole records
    by_fold = {}
    for suffix, d in records:
        by_fold.setdefault(suffix, []).append(d)
    reduced = [kernels.merge_partials(ds).to_dict() for ds in by_fold.values()]
    split = kernels.merge_partials(reduced)
    whole = kernels.merge_partials([acc.to_dict() for acc in mappers])
    assert json.dumps(split.to_dict(), sort_keys=True) == \
        json.dumps(whole.to_dict(), sort_keys=True)
    assert kernels.addon_records(FoldFusedAccumulator(K)) == []
    # other add-ons stay one record
    two_pass = cv.FoldQRAccumulator(np.zeros(4), np.ones(4), True, K)
    assert [s for s, _ in kernels.addon_records(two_pass)] == [""]
