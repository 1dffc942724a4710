"""The weighted pass accumulators (``--weight-column``) against plain numpy, and the
weighted plumbing of the options, the row format and the data context."""

import json

import numpy as np
import pytest

from mrlinreg import kernels
from mrlinreg.errors import InputError, OptionError
from mrlinreg.numerics.fused import FusedAccumulator, context_from_fused
from mrlinreg.numerics.weighted_passes import (WeightedEvaluateAccumulator,
                                               WeightedFusedAccumulator, weighted_context)
from mrlinreg.options import TrainOptions
from mrlinreg.parsing import RowFormat, split_weights
from mrlinreg.records import DataContext


def _data(n=300, seed=4, zeros=5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * [1.0, 100.0, 1e-2] + [3.0, -40.0, 7.0]
    X[n // 2:] += [5.0, 300.0, 0.5]  # the second half drifts: the frames must move
    w = rng.uniform(0.1, 4.0, n)
    w[rng.choice(n, zeros, replace=False)] = 0.0
    y = X @ [1.0, 0.01, 30.0] + rng.normal(size=n)
    return X, y, w


def _roundtrip(acc):
    return kernels.ACCUMULATORS[acc.kind].from_dict(json.loads(json.dumps(acc.to_dict())))


def _fused(X, y, w, cuts, block=7):
    parts = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        acc = WeightedFusedAccumulator(X.shape[1])
        for s in range(a, b, block):
            e = min(s + block, b)
            acc.add(X[s:e], y[s:e], w[s:e])
        parts.append(_roundtrip(acc))
    return WeightedFusedAccumulator.merge_all(parts)


def test_weighted_moments_counts_and_gram_equal_numpy():
    X, y, w = _data()
    acc = _fused(X, y, w, [0, 31, 150, 151, 300])
    Z = np.column_stack([X, y])
    mean = w @ Z / w.sum()
    assert acc.n == 300 and acc.n_zero == 5
    assert acc.sum_w == pytest.approx(w.sum(), rel=1e-14)
    assert acc.sum_log_w == pytest.approx(np.log(w[w > 0]).sum(), rel=1e-13)
    np.testing.assert_allclose(acc.mean, mean, rtol=1e-13)
    np.testing.assert_allclose(acc.m2, w @ (Z - mean) ** 2, rtol=1e-11)
    for fit_intercept, standardize in [(True, True), (True, False), (False, True)]:
        ctx = weighted_context(acc, fit_intercept, standardize)
        A = (X - ctx.shift) / ctx.scale
        if fit_intercept:
            A = np.column_stack([A, np.ones(len(y))])
        M = np.sqrt(w)[:, None] * np.column_stack([A, y])
        np.testing.assert_allclose(ctx.R.T @ ctx.R, M.T @ M, rtol=1e-9,
                                   atol=1e-9 * np.abs(M.T @ M).max())
        if fit_intercept and standardize:  # the weighted standardisation
            np.testing.assert_allclose(ctx.shift, mean[:3], rtol=1e-13)
            np.testing.assert_allclose(ctx.scale, np.sqrt(w @ (X - mean[:3]) ** 2 / w.sum()),
                                       rtol=1e-11)


def test_merge_is_bit_identical_in_any_order():
    X, y, w = _data(seed=6)
    parts = []
    for a, b in [(0, 40), (40, 41), (41, 200), (200, 300)]:
        acc = WeightedFusedAccumulator(3)
        acc.add(X[a:b], y[a:b], w[a:b])
        parts.append(acc)
    one = WeightedFusedAccumulator.merge_all(parts).to_dict()
    two = WeightedFusedAccumulator.merge_all(parts[::-1]).to_dict()
    assert json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)


def test_unit_weights_give_the_unweighted_factor_of_one_block():
    """One block of weight-1 rows: the same frame, the same factor as the fused pass."""
    X, y, _ = _data(seed=7, zeros=0)
    wacc, acc = WeightedFusedAccumulator(3), FusedAccumulator(3)
    wacc.add(X, y, np.ones(len(y)))
    acc.add(X, y)
    a, b = weighted_context(wacc, True, True), context_from_fused(acc, True, True)
    np.testing.assert_allclose(a.R, b.R, rtol=1e-12, atol=1e-12 * np.abs(b.R).max())
    np.testing.assert_allclose(a.shift, b.shift, rtol=1e-14)


def test_zero_weight_blocks_and_negative_weights():
    X, y, _ = _data(seed=8)
    acc = WeightedFusedAccumulator(3)
    acc.add(X[:10], y[:10], np.zeros(10))
    assert acc.n == acc.n_zero == 10 and acc.R is None and acc.sum_w == 0
    merged = WeightedFusedAccumulator.merge_all([acc, _roundtrip(acc)])
    assert merged.n == 20 and merged.R is None
    with pytest.raises(ValueError, match="positive weight"):
        weighted_context(merged, True, True)
    with pytest.raises(InputError, match="negative or non-finite"):
        acc.add(X[:3], y[:3], np.array([1.0, -1.0, 1.0]))


def test_weighted_evaluate_equals_numpy():
    X, y, w = _data(seed=9)
    shift, scale = X.mean(axis=0), X.std(axis=0)
    A = np.column_stack([(X - shift) / scale, np.ones(len(y))])
    rng = np.random.default_rng(0)
    W, P = rng.normal(size=(4, 2)), rng.normal(size=(4, 3))
    parts = []
    for a, b in [(0, 100), (100, 300)]:
        acc = WeightedEvaluateAccumulator(W, P, shift, scale, True, hessian=True)
        acc.add(X[a:b], y[a:b], w[a:b])
        parts.append(_roundtrip(acc))
    total = kernels.merge_partials([p.to_dict() for p in parts])
    R = A @ W - y[:, None]
    np.testing.assert_allclose(total.sse, w @ R**2, rtol=1e-12)
    np.testing.assert_allclose(total.abs, w @ np.abs(R), rtol=1e-12)
    np.testing.assert_allclose(total.grad, A.T @ (w[:, None] * R), rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(total.hp, A.T @ (w[:, None] * (A @ P)), rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(total.gram, A.T @ (w[:, None] * A), rtol=1e-12, atol=1e-9)
    assert total.n == 300 and total.sum_w == pytest.approx(w.sum(), rel=1e-14)


def test_row_format_carries_the_weight_column():
    fmt = RowFormat(",", 5, (0, 2), 4, "a,w,b,c,y", weight_idx=1)
    back = RowFormat.from_dict(json.loads(json.dumps(fmt.to_dict())))
    assert back == fmt and back.weight_idx == 1
    assert "weight_idx" not in RowFormat(",", 3, (0, 1), 2).to_dict()  # unweighted unchanged
    values = np.arange(10.0).reshape(2, 5)
    np.testing.assert_array_equal(split_weights(values, fmt), [1.0, 6.0])
    assert split_weights(values, RowFormat(",", 5, (0,), 4)) is None


def test_data_context_round_trips_the_weight_totals():
    ctx = DataContext(10, np.zeros(2), np.ones(2), {}, np.zeros(1), np.ones(1), "stats",
                      np.eye(3), sum_w=4.5, sum_log_w=-1.25, n_zero=2)
    back = DataContext.from_values(ctx.to_values())
    assert (back.sum_w, back.sum_log_w, back.n_zero, back.n_fit) == (4.5, -1.25, 2, 4.5)
    plain = DataContext(10, np.zeros(2), np.ones(2), {}, np.zeros(1), np.ones(1), "stats")
    assert "sum_w" not in plain.to_values() and plain.n_fit == 10 and not plain.weighted


def test_options_and_fingerprint():
    opts = TrainOptions(weight_column="wt").validate()
    fp = opts.fingerprint(["a"], "y", ["in"])
    assert fp["weight_column"] == "wt"
    assert "weight_column" not in TrainOptions().validate().fingerprint(["a"], "y", ["in"])
    for bad in [dict(weight_column="wt", cv_folds=3, solver="qr"), dict(weight_column="wt", solver="qr",
                                                           refine=True),
                dict(weight_column="a", features=("a", "b")),
                dict(weight_column="y", label="y"), dict(weight_column=" wt")]:
        with pytest.raises(OptionError) as e:
            TrainOptions(**bad).validate()
        assert e.value.args and "weight_column" in str(e.value)


def test_a_non_finite_weight_is_named():
    from mrlinreg.parsing import name_weight_reasons

    fmt = RowFormat(",", 3, (0,), 2, weight_idx=1)
    lines = [b"1,nan,3", b"nan,1,3", b'1,"inf",3', b"1,2", b"1,-inf,3"]
    bad = [(0, "non_finite"), (1, "non_finite"), (2, "non_finite"), (3, "field_count"),
           (4, "out_of_range")]
    assert name_weight_reasons(lines, bad, fmt) == [
        (0, "non_finite_weight"), (1, "non_finite"), (2, "non_finite_weight"),
        (3, "field_count"), (4, "out_of_range")]
    unweighted = RowFormat(",", 3, (0,), 2)
    assert name_weight_reasons(lines, bad, unweighted) is bad
