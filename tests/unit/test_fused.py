"""The fused (one-pass) accumulator against the two-pass path and independent references.

References: numpy's moments and QR of the explicitly formed matrices, the
two-pass path (``MomentsAccumulator`` then ``QRAccumulator`` with the shift and
scale chosen in between), numpy ``lstsq``, and the rational-arithmetic
solutions of ``polynomial_data``.  Run with ``pytest -s`` for the LRE table.
"""

import json
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from mrlinreg import kernels
from mrlinreg.numerics import exact, fused, merge, scaling, summary, tsqr
from mrlinreg.numerics import polynomial_data as pdata

sys.path.insert(0, str(Path(__file__).parent))
from test_exact_accuracy import (  # noqa: E402
    REQUIRED_LRE, _filip, _integer, _names, _one_pass_fit)

OPTIONS = [(True, True), (True, False), (False, True), (False, False)]   # intercept, standardize


def _data(n=600, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * [1, 10, 1e3, 1e-2] + [5, -3, 1e4, 2]
    y = X @ rng.standard_normal(d) + rng.standard_normal(n) + 7
    return X, y


def _mapper(X, y, block_size):
    acc = fused.FusedAccumulator(X.shape[1])
    for start in range(0, len(y), block_size):
        acc.add(X[start:start + block_size], y[start:start + block_size])
    return acc


def _through_json(acc):
    return fused.FusedAccumulator.from_dict(json.loads(json.dumps(acc.to_dict())))


def _fused(X, y, n_mappers, block_size):
    parts = [_through_json(_mapper(Xb, yb, block_size))
             for Xb, yb in zip(np.array_split(X, n_mappers), np.array_split(y, n_mappers))]
    return fused.FusedAccumulator.merge_all(parts)


def _two_pass(X, y, n_mappers, block_size, fit_intercept, standardize):
    """What collect_context does with two passes: moments, then TSQR of [A y]."""
    Xs, ys = np.array_split(X, n_mappers), np.array_split(y, n_mappers)
    moments = []
    for Xb, yb in zip(Xs, ys):
        m = kernels.MomentsAccumulator(X.shape[1] + 1)
        for s in range(0, len(yb), block_size):
            m.add(np.column_stack([Xb[s:s + block_size], yb[s:s + block_size]]))
        moments.append(m.to_dict())
    mom = kernels.merge_partials(moments)
    d, n = X.shape[1], mom.n
    std, rms = np.sqrt(mom.m2 / n), np.sqrt(mom.m2 / n + mom.mean**2)
    shift, scale = scaling.standardization(mom.mean[:d], std[:d], rms[:d], fit_intercept,
                                           standardize)
    qrs = []
    for Xb, yb in zip(Xs, ys):
        q = kernels.QRAccumulator(shift, scale, fit_intercept)
        for s in range(0, len(yb), block_size):
            q.add(Xb[s:s + block_size], yb[s:s + block_size])
        qrs.append(q.to_dict())
    return mom, shift, scale, kernels.merge_partials(qrs).R


# --- the building blocks ---------------------------------------------------------------

def _frame_matrix(X, y, shift, scale):
    return np.hstack([scaling.design_matrix(X, shift, scale, True), y[:, None]])


def test_move_frame_gives_the_factor_in_the_new_frame():
    X, y = _data(n=50)
    old = (X[0].copy(), np.ones(4))
    new = (X.mean(axis=0), X.std(axis=0))
    R = tsqr.update(None, _frame_matrix(X, y, *old))
    moved = fused.move_frame(R, *old, *new)
    reference = tsqr.update(None, _frame_matrix(X, y, *new))
    # the same Gram matrix; re-triangularised, the same factor
    np.testing.assert_allclose(tsqr.update(None, moved), reference, rtol=0,
                               atol=1e-13 * np.abs(reference).max())
    assert fused.move_frame(R, *new, *new).tobytes() == R.tobytes()


def test_single_block_factor_and_moments_match_numpy():
    X, y = _data(n=200)
    acc = _mapper(X, y, 10_000)
    Z = np.column_stack([X, y])
    assert acc.n == 200
    np.testing.assert_allclose(acc.mean, Z.mean(axis=0), rtol=1e-15)
    np.testing.assert_allclose(acc.m2, ((Z - Z.mean(axis=0)) ** 2).sum(axis=0), rtol=1e-14)
    np.testing.assert_array_equal(acc.shift, acc.mean[:4])
    np.testing.assert_allclose(acc.scale, X.std(axis=0), rtol=1e-14)
    reference = tsqr.normalize_signs(
        np.linalg.qr(_frame_matrix(X, y, acc.shift, acc.scale), mode="r"))
    np.testing.assert_allclose(acc.R, reference, rtol=0, atol=1e-14 * np.abs(reference).max())


@pytest.mark.parametrize("problem", ["filip", "integer deg 5", "data"])
def test_one_block_is_the_two_pass_factor_bit_for_bit(problem):
    """One mapper, one block: the frame is the block's mean and spread, which is the
    driver's standardisation, so the fused pass factors exactly the two-pass matrix."""
    X, y = _data() if problem == "data" else PROBLEMS[problem]()[:2]
    ctx = fused.context_from_fused(_fused(X, y, 1, 10_000), True, True)
    mom, shift, scale, _ = _two_pass(X, y, 1, 10_000, True, True)
    assert ctx.shift.tobytes() == shift.tobytes() and ctx.scale.tobytes() == scale.tobytes()
    mapper = kernels.QRAccumulator(shift, scale, True)     # the TSQR pass's mapper
    mapper.add(X, y)
    assert np.triu(mapper.R).tobytes() == ctx.R.tobytes()


def test_round_trip_through_json_is_bit_exact():
    X, y = _data(n=40)
    acc = _mapper(X, y, 7)
    back = _through_json(acc)
    for name in ("mean", "m2", "shift", "scale", "R"):
        assert getattr(back, name).tobytes() == getattr(acc, name).tobytes(), name
    assert (back.n, back.d) == (acc.n, acc.d)
    assert fused.FusedAccumulator.from_dict(fused.FusedAccumulator(3).to_dict()).R is None


# --- against the two-pass path -----------------------------------------------------------

@pytest.mark.parametrize("fit_intercept, standardize", OPTIONS)
@pytest.mark.parametrize("n_mappers, block_size", [(1, 10_000), (7, 33), (13, 1)])
def test_context_equals_two_pass(fit_intercept, standardize, n_mappers, block_size):
    X, y = _data()
    ctx = fused.context_from_fused(_fused(X, y, n_mappers, block_size), fit_intercept, standardize)
    mom, shift, scale, R = _two_pass(X, y, n_mappers, block_size, fit_intercept, standardize)
    assert ctx.n == mom.n == len(y)
    np.testing.assert_allclose(ctx.mean, mom.mean, rtol=1e-14)
    np.testing.assert_allclose(ctx.m2, mom.m2, rtol=1e-13)
    np.testing.assert_allclose(ctx.shift, shift, rtol=1e-14)
    np.testing.assert_allclose(ctx.scale, scale, rtol=1e-13)
    assert ctx.R.shape == R.shape == (X.shape[1] + fit_intercept + 1,) * 2
    assert np.array_equal(ctx.R, np.triu(ctx.R)) and np.all(np.diag(ctx.R) >= 0)
    # both sign-normalised, so compared directly (= up to row signs)
    np.testing.assert_allclose(ctx.R, R, rtol=0, atol=1e-13 * np.abs(R).max())


@pytest.mark.parametrize("fit_intercept, standardize", OPTIONS)
def test_solution_matches_lstsq(fit_intercept, standardize):
    X, y = _data(seed=4)
    ctx = fused.context_from_fused(_fused(X, y, 5, 17), fit_intercept, standardize)
    d = X.shape[1]
    names = _names(d) if fit_intercept else _names(d)[:-1]
    solution = exact.solve_r(ctx.R, names=names)
    coef, intercept = scaling.to_original(solution.w, ctx.shift, ctx.scale, fit_intercept)
    X1 = np.column_stack([X, np.ones(len(y))]) if fit_intercept else X
    b, rss, *_ = np.linalg.lstsq(X1, y, rcond=None)
    np.testing.assert_allclose(coef, b[:d], rtol=1e-10)
    if fit_intercept:
        np.testing.assert_allclose(intercept, b[d], rtol=1e-10)
    np.testing.assert_allclose(solution.rss, rss[0], rtol=1e-10)


def test_constant_feature_is_kept_unscaled_as_in_two_passes():
    X, y = _data(n=90)
    X[:, 2] = 0.1
    ctx = fused.context_from_fused(_fused(X, y, 4, 8), True, True)
    mom, shift, scale, R = _two_pass(X, y, 4, 8, True, True)
    assert scale[2] == ctx.scale[2] == 1.0
    assert np.abs(ctx.R[:, 2]).max() < 1e-12 * np.abs(ctx.R).max()
    solution = exact.solve_r(ctx.R, names=_names(4))
    assert solution.rank_deficient and "x3" in solution.zero_columns


def test_non_finite_block_is_refused_and_leaves_the_partial_unchanged():
    X, y = _data(n=30)
    acc = _mapper(X, y, 8)
    before = (acc.n, acc.mean.tobytes(), acc.R.tobytes())
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        acc.add(X[:5], y[:5])
    assert (acc.n, acc.mean.tobytes(), acc.R.tobytes()) == before


def test_empty_partials_are_skipped_and_no_rows_is_an_error():
    X, y = _data(n=30)
    full = _mapper(X, y, 8)
    merged = fused.FusedAccumulator.merge_all([fused.FusedAccumulator(4), full])
    assert merged.R.tobytes() == full.R.tobytes() and merged.n == 30
    empty = fused.FusedAccumulator.merge_all([fused.FusedAccumulator(4)])
    with pytest.raises(ValueError, match="no rows"):
        fused.context_from_fused(empty, True, True)


# --- accuracy on the constructed ill-conditioned problems -------------------------------------

PROBLEMS = {"filip": _filip, "integer deg 5": _integer}
# (mappers, rows per block): one block, the existing splits, and one-row blocks
# (in one mapper, and one row per mapper), which the two-pass test only prints.
FUSED_SPLITS = [(1, 10_000), (3, 11), (17, 5), (1, 1), (17, 2), (82, 1)]


def _fused_fit(X, y, n_mappers, block_size, standardize=True):
    ctx = fused.context_from_fused(_fused(X, y, n_mappers, block_size), True, standardize)
    solution = exact.solve_r(ctx.R, names=_names(X.shape[1]))
    return scaling.back_transform_matrix(ctx.shift, ctx.scale, True) @ solution.w, solution


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("n_mappers, block_size", FUSED_SPLITS)
def test_fused_keeps_seven_digits_including_one_row_blocks(problem, n_mappers, block_size):
    X, y, truth = PROBLEMS[problem]()
    b, solution = _fused_fit(X, y, n_mappers, block_size)
    assert not solution.rank_deficient
    assert pdata.log_relative_error(b, truth).min() >= REQUIRED_LRE


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("n_mappers, block_size", [(1, 10_000), (17, 5), (1, 1), (82, 1)])
def test_fused_is_as_accurate_as_two_passes_over_row_orders(problem, n_mappers, block_size):
    """A single LRE figure moves by +-0.5 digit with the order of the rows (rounding
    luck), so the comparison is of medians over 10 orders: no worse than two passes
    by more than 0.25 digit."""
    X0, y0, truth = PROBLEMS[problem]()
    fused_lre, two_pass_lre = [], []
    for seed in range(10):
        order = np.random.default_rng(seed).permutation(len(y0))
        X, y = X0[order], y0[order]
        fused_lre.append(pdata.log_relative_error(_fused_fit(X, y, n_mappers, block_size)[0],
                                                  truth).min())
        two_pass_lre.append(pdata.log_relative_error(_one_pass_fit(X, y, n_mappers,
                                                                   block_size)[0], truth).min())
    assert np.median(fused_lre) >= np.median(two_pass_lre) - 0.25, (fused_lre, two_pass_lre)
    assert min(fused_lre) >= 6.5


def test_print_fused_lre_table():
    print("\nmin LRE over coefficients: two passes | fused one pass")
    for name, make in PROBLEMS.items():
        X, y, truth = make()
        for n_mappers, block_size in FUSED_SPLITS:
            two = pdata.log_relative_error(_one_pass_fit(X, y, n_mappers, block_size)[0], truth)
            one = pdata.log_relative_error(_fused_fit(X, y, n_mappers, block_size)[0], truth)
            print(f"{name:14s} {n_mappers:3d} mapper(s) x blocks of {block_size:5d}: "
                  f"{two.min():5.2f} | {one.min():5.2f}")
        two = pdata.log_relative_error(_one_pass_fit(X, y, 3, 11, standardize=False)[0], truth)
        one = pdata.log_relative_error(_fused_fit(X, y, 3, 11, standardize=False)[0], truth)
        print(f"{name:14s} raw (no standardise), 3 x 11:       {two.min():5.2f} | {one.min():5.2f}")


# --- --summary from the fused context ---------------------------------------------------------

@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ols_summary_from_fused_context_equals_two_pass(fit_intercept):
    X, y = _data(seed=2)
    d = X.shape[1]
    names = _names(d) if fit_intercept else _names(d)[:-1]
    ctx = fused.context_from_fused(_fused(X, y, 6, 50), fit_intercept, True)
    _, shift, scale, R = _two_pass(X, y, 6, 50, fit_intercept, True)
    w1 = exact.solve_r(ctx.R, names=names).w
    w2 = exact.solve_r(R, names=names).w
    s1 = summary.ols_summary(ctx.R, ctx.n, w1, shift=ctx.shift, scale=ctx.scale,
                             fit_intercept=fit_intercept, names=names)
    s2 = summary.ols_summary(R, len(y), w2, shift=shift, scale=scale,
                             fit_intercept=fit_intercept, names=names)
    assert s1["mae"] is None           # the one statistic that needs a pass over residuals
    for key in ("params", "bse", "pvalues", "ssr", "tss", "rsquared", "fvalue", "llf",
                "condition_number"):
        np.testing.assert_allclose(s1[key], s2[key], rtol=1e-9, err_msg=key)
    if fit_intercept:   # the driver's r2 from the label moments agrees with the summary's
        np.testing.assert_allclose(1 - s1["ssr"] / ctx.m2[d], s1["rsquared"], rtol=1e-12)


# --- order independence and the keyed merge tree ---------------------------------------------

def _many_partials(count=200, rows=(1, 40), d=5, seed=7):
    """``count`` small splits of one data set, as ((file, start), partial)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(rows[0], rows[1], size=count)
    X = rng.standard_normal((sizes.sum(), d)) * rng.uniform(0.1, 100, d) + rng.uniform(-50, 50, d)
    y = X @ rng.standard_normal(d) + rng.standard_normal(len(X))
    items, start = [], 0
    for i, size in enumerate(sizes):
        acc = _mapper(X[start:start + size], y[start:start + size], 8)
        items.append(((f"hdfs:///data/part-{i % 7:05d}", start * 64), _through_json(acc)))
        start += size
    return items, X, y


def _bits(acc):
    return (acc.n, acc.mean.tobytes(), acc.m2.tobytes(), acc.shift.tobytes(),
            acc.scale.tobytes(), acc.R.tobytes())


def test_merge_all_is_bit_identical_for_any_arrival_order():
    items, _, _ = _many_partials(60)
    parts = [p for _, p in items]
    first = _bits(fused.FusedAccumulator.merge_all(parts))
    rng = np.random.default_rng(0)
    for _ in range(5):
        shuffled = [parts[i] for i in rng.permutation(len(parts))]
        assert _bits(fused.FusedAccumulator.merge_all(shuffled)) == first


def test_reducer_key_is_a_stable_spread_out_function_of_the_split():
    keys = [merge.reducer_key(f"part-{i:05d}", 0, 32) for i in range(2000)]
    assert keys == [merge.reducer_key(f"part-{i:05d}", 0, 32) for i in range(2000)]
    assert set(keys) == set(range(32))
    assert max(np.bincount(keys)) < 2 * 2000 / 32
    assert merge.reducer_key("f", 0, 1) == 0
    with pytest.raises(ValueError):
        merge.reducer_key("f", 0, 0)


def test_merge_tree_bit_identical_for_fixed_k_and_close_across_k():
    items, X, y = _many_partials(200)
    rng = np.random.default_rng(1)
    results = {}
    for k in (1, 7, 32):
        first = _bits(merge.merge_tree(items, k, fused.FusedAccumulator.merge_all))
        for _ in range(4):                     # any scheduling: arrival order shuffled
            shuffled = [items[i] for i in rng.permutation(len(items))]
            assert _bits(merge.merge_tree(shuffled, k, fused.FusedAccumulator.merge_all)) == first
        results[k] = merge.merge_tree(items, k, fused.FusedAccumulator.merge_all)
    reference = results[1]
    ctx_ref = fused.context_from_fused(reference, True, True)
    for k, acc in results.items():           # across K: agreement to rounding only
        assert acc.n == len(y)
        np.testing.assert_allclose(acc.mean, reference.mean, rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(acc.m2, reference.m2, rtol=1e-13)
        ctx = fused.context_from_fused(acc, True, True)
        np.testing.assert_allclose(ctx.R, ctx_ref.R, rtol=0, atol=1e-13 * np.abs(ctx_ref.R).max())
    mom, shift, scale, R = _two_pass(X, y, 1, 10**9, True, True)
    np.testing.assert_allclose(ctx_ref.R, R, rtol=0, atol=1e-13 * np.abs(R).max())


@lru_cache(maxsize=None)
def _filip_type(seed):
    """Filip-type problem number ``seed``: 70 + seed sorted x on [-9, -3], degree 10."""
    n = 70 + seed
    rng = np.random.default_rng(100 + seed)
    X = pdata.polynomial_features(np.sort(rng.uniform(-9, -3, n)), 10)
    y = (pdata.FILIP_COEFFICIENTS[0] + X @ pdata.FILIP_COEFFICIENTS[1:]
         + rng.normal(0, 0.0033, n))
    return X, y, pdata.exact_least_squares(X, y)


@pytest.mark.parametrize("n_mappers, block_size", [(1, 10_000), (3, 11), (17, 5), (1, 8)])
def test_fused_is_as_accurate_as_two_passes_over_filip_type_problems(n_mappers, block_size):
    """One Filip figure is one draw of the rounding (NIST's x grid, one noise draw):
    over 16 problems of the same type the median digits of the one-pass fit are those
    of two passes or better (within 0.3 digit, measured: -0.2..+0.3)."""
    fused_lre, two_pass_lre = [], []
    for seed in range(16):
        X, y, truth = _filip_type(seed)
        fused_lre.append(pdata.log_relative_error(_fused_fit(X, y, n_mappers, block_size)[0],
                                                  truth).min())
        two_pass_lre.append(pdata.log_relative_error(_one_pass_fit(X, y, n_mappers,
                                                                   block_size)[0], truth).min())
    assert np.median(fused_lre) >= np.median(two_pass_lre) - 0.3, (fused_lre, two_pass_lre)
    assert min(fused_lre) >= 6.5
