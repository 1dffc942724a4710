"""TSQR: the R factor of [A y] from blocks of rows equals the R factor of the whole."""

import numpy as np
import pytest

from mrlinreg.numerics import tsqr


def _well_conditioned(n=500, k=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, k)) * np.array([1.0, 3.0, 0.5, 10.0, 2.0, 1.0])[:k] + 1.0


def _mapper(rows, block_size):
    """What a mapper does: fold its rows block by block."""
    R = None
    for start in range(0, rows.shape[0], block_size):
        R = tsqr.update(R, rows[start:start + block_size])
    return R


def _split_fit(M, n_mappers, block_size):
    return tsqr.merge(_mapper(part, block_size) for part in np.array_split(M, n_mappers))


def _numpy_r(M):
    return tsqr.normalize_signs(np.linalg.qr(M, mode="r"))


def test_equals_numpy_qr_of_whole_matrix_up_to_signs():
    M = _well_conditioned()
    R = _split_fit(M, 4, 37)
    R_np = np.linalg.qr(M, mode="r")
    np.testing.assert_allclose(np.abs(R), np.abs(R_np), rtol=0, atol=1e-12 * np.abs(R_np).max())
    assert np.all(np.diag(R) >= 0)
    assert np.array_equal(R, np.triu(R))


@pytest.mark.parametrize("n_mappers, block_size", [(1, 10_000), (3, 50), (17, 7), (17, 1)])
def test_split_invariance(n_mappers, block_size):
    M = _well_conditioned(n=700)
    reference = _numpy_r(M)
    R = _split_fit(M, n_mappers, block_size)
    np.testing.assert_allclose(R, reference, rtol=0, atol=1e-13 * np.abs(reference).max())


def test_gram_matrix_reproduced():
    M = _well_conditioned()
    R = _split_fit(M, 5, 64)
    G = M.T @ M
    np.testing.assert_allclose(R.T @ R, G, rtol=0, atol=1e-13 * np.abs(G).max())


def test_block_with_fewer_rows_than_columns():
    M = _well_conditioned(n=3, k=6)
    R = tsqr.update(None, M)
    assert R.shape == (6, 6)
    assert np.array_equal(R, np.triu(R))
    np.testing.assert_allclose(R.T @ R, M.T @ M, atol=1e-13 * np.abs(M.T @ M).max())
    # and it keeps folding correctly afterwards
    more = _well_conditioned(n=40, k=6, seed=1)
    R2 = tsqr.update(R, more)
    full = np.vstack([M, more])
    np.testing.assert_allclose(R2, _numpy_r(full), atol=1e-13 * np.abs(R2).max())


def test_single_row():
    row = np.array([3.0, -4.0, 0.0, 12.0])
    R = tsqr.update(None, row)
    # The R factor of one row is that row (sign fixed by diag >= 0), then zeros.
    np.testing.assert_allclose(R[0], row, atol=1e-15)
    np.testing.assert_array_equal(R[1:], np.zeros((3, 4)))
    np.testing.assert_allclose(R.T @ R, np.outer(row, row), atol=1e-13)


def test_empty_block_and_none_factors():
    M = _well_conditioned(n=30, k=4)
    R = tsqr.update(None, M)
    np.testing.assert_array_equal(tsqr.update(R, np.empty((0, 4))), R)
    np.testing.assert_array_equal(tsqr.update(None, np.empty((0, 4))), np.zeros((4, 4)))
    np.testing.assert_allclose(tsqr.merge([None, R, None]), R, atol=1e-14 * np.abs(R).max())


def test_merge_is_order_independent_bitwise():
    M = _well_conditioned(n=300)
    parts = [tsqr.update(None, p) for p in np.array_split(M, 9)]
    a = tsqr.merge(parts)
    b = tsqr.merge(parts[::-1])
    np.testing.assert_array_equal(a, b)


def test_merge_many_factors_chunked():
    M = _well_conditioned(n=2000, k=5)
    parts = [tsqr.update(None, p) for p in np.array_split(M, tsqr.MERGE_CHUNK * 2 + 3)]
    R = tsqr.merge(parts)
    reference = _numpy_r(M)
    np.testing.assert_allclose(R, reference, atol=1e-13 * np.abs(reference).max())


def test_rank_deficient_input_still_factors():
    M = _well_conditioned(n=50, k=4)
    M[:, 2] = 2.0 * M[:, 0]
    R = _split_fit(M, 3, 8)
    np.testing.assert_allclose(R.T @ R, M.T @ M, atol=1e-12 * np.abs(M.T @ M).max())


def test_rejects_non_finite_and_wrong_shapes():
    M = _well_conditioned(n=10, k=3)
    M[4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        tsqr.update(None, M)
    with pytest.raises(ValueError, match="columns"):
        tsqr.update(np.eye(3), np.ones((2, 4)))
    with pytest.raises(ValueError, match="at least one"):
        tsqr.merge([None])
    with pytest.raises(ValueError, match="different shapes"):
        tsqr.merge([np.eye(3), np.eye(4)])
