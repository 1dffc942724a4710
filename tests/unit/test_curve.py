"""Nested fits from one R factor equal brute-force refits of every nested model (numpy)."""

import numpy as np
import pytest

from mrlinreg.numerics import curve, tsqr
from mrlinreg.numerics.reservoir import ReservoirSample, row_keys
from mrlinreg.numerics.scaling import design_matrix


def _data(rng, n, d=2):
    X = rng.uniform(-2, 3, size=(n, d))
    y = 1.0 + X[:, 0] - 0.5 * X[:, 0] ** 2 + 0.3 * X[:, 0] ** 3 + rng.normal(0, 0.5, n)
    if d > 1:
        y += 0.7 * X[:, 1]
    return X, y


def _r(X, y, shift, scale, fit_intercept, blocks=3):
    R = None
    for part in np.array_split(np.arange(len(y)), blocks):
        A = design_matrix(X[part], shift, scale, fit_intercept)
        R = tsqr.update(R, np.hstack([A, y[part, None]]))
    return R


def test_expand_powers_is_degree_major():
    X = np.array([[2.0, 3.0], [-1.0, 0.5]])
    E = curve.expand_powers(X, 3)
    np.testing.assert_array_equal(E, np.hstack([X, X**2, X**3]))
    assert curve.expanded_names(["a", "b"], 3) == ["a", "b", "a^2", "b^2", "a^3", "b^3"]


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("standardize", [True, False])
def test_degree_curve_equals_refits(fit_intercept, standardize):
    rng = np.random.default_rng(7)
    K, d = 6, 2
    X, y = _data(rng, 400, d)
    Xv, yv = _data(rng, 150, d)
    E, Ev = curve.expand_powers(X, K), curve.expand_powers(Xv, K)
    if standardize:
        shift = E.mean(0) if fit_intercept else np.zeros(E.shape[1])
        scale = E.std(0) if fit_intercept else np.sqrt((E**2).mean(0))
    else:
        shift, scale = np.zeros(E.shape[1]), np.ones(E.shape[1])
    R = _r(E, y, shift, scale, fit_intercept)
    Rv = _r(Ev, yv, shift, scale, fit_intercept, blocks=2)
    fits = curve.nested_fits(R, curve.nested_groups("degree", d, K), fit_intercept)
    assert [f.size for f in fits] == list(range(1, K + 1))
    for f in fits:
        m = f.size * d
        A = E[:, :m] if not fit_intercept else np.hstack([np.ones((len(y), 1)), E[:, :m]])
        b, *_ = np.linalg.lstsq(A, y, rcond=None)
        sse = float(np.sum((y - A @ b) ** 2))
        Av = Ev[:, :m] if not fit_intercept else np.hstack([np.ones((len(yv), 1)), Ev[:, :m]])
        sse_v = float(np.sum((yv - Av @ b) ** 2))
        assert f.sse == pytest.approx(sse, rel=1e-9)
        assert curve.validation_sse(Rv, f) == pytest.approx(sse_v, rel=1e-9)
        coef, intercept = curve.original_units(f, shift, scale, fit_intercept, K * d)
        got = np.concatenate([[intercept], coef[:m]]) if fit_intercept else coef[:m]
        np.testing.assert_allclose(got, b, rtol=1e-8, atol=1e-9 * np.abs(b).max())
        assert not np.any(coef[m:])


def test_terms_curve_adds_one_feature_at_a_time():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 2.0 + rng.normal(0, 0.1, 300)
    shift, scale = X.mean(0), X.std(0)
    fits = curve.nested_fits(_r(X, y, shift, scale, True), curve.nested_groups("terms", 4), True)
    for f in fits:
        A = np.hstack([np.ones((300, 1)), X[:, :f.size]])
        b, *_ = np.linalg.lstsq(A, y, rcond=None)
        assert f.sse == pytest.approx(float(np.sum((y - A @ b) ** 2)), rel=1e-10)


def test_rank_deficient_step_is_flagged():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 1))
    X = np.hstack([x, 2 * x])  # the second term repeats the first
    y = x[:, 0] + rng.normal(size=50)
    fits = curve.nested_fits(_r(X, y, np.zeros(2), np.ones(2), True),
                             curve.nested_groups("terms", 2), True)
    assert [f.rank_deficient for f in fits] == [False, True]


def test_reorder_r_keeps_the_gram_matrix():
    rng = np.random.default_rng(5)
    M = rng.normal(size=(40, 5))
    R = tsqr.update(None, M)
    order = [3, 0, 1, 2, 4]
    Rp = curve.reorder_r(R, order)
    np.testing.assert_allclose(Rp.T @ Rp, M[:, order].T @ M[:, order], rtol=1e-12, atol=1e-12)
    assert np.allclose(np.tril(Rp, -1), 0)


def test_reservoir_is_the_bottom_k_whatever_the_split():
    rng = np.random.default_rng(11)
    V = rng.normal(size=(5000, 3))
    keys = row_keys(V)
    assert len(np.unique(keys)) == 5000
    whole = ReservoirSample(100, ("a", "b", "c"))
    whole.add(keys, *V.T)
    expected = np.sort(keys)[:100]
    np.testing.assert_array_equal(whole.keys, expected)
    parts = []
    for idx in np.array_split(rng.permutation(5000), 7):
        s = ReservoirSample(100, ("a", "b", "c"))
        for sub in np.array_split(idx, 3):
            s.add(row_keys(V[sub]), *V[sub].T)
        parts.append(ReservoirSample.from_dict(s.to_dict()))
    merged = parts[-1]
    for p in parts[:-1]:
        merged.merge(p)
    np.testing.assert_array_equal(merged.keys, whole.keys)
    np.testing.assert_array_equal(merged.values, whole.values)
    # keys depend on the row's values only; -0.0 and 0.0 are one value
    assert row_keys(np.array([[0.0, 1.0]]))[0] == row_keys(np.array([[-0.0, 1.0]]))[0]


def test_reservoir_keys_look_uniform():
    V = np.arange(20000, dtype=np.float64).reshape(-1, 1)
    u = row_keys(V).astype(np.float64) / 2.0**64
    # each decile holds about a tenth (binomial sd ~ 42 rows)
    counts = np.histogram(u, bins=10, range=(0, 1))[0]
    assert np.all(np.abs(counts - 2000) < 250)


def test_curve_and_sample_records_round_trip_and_become_checked_rows():
    from mrlinreg.records import CurvePoint, ResidualSample, ValidationCurve
    from mrlinreg.schema import load_warehouse
    from mrlinreg.storage.errors import InvalidRecordError
    from mrlinreg.storage.records import curve_rows

    c = ValidationCurve("20260101T000000Z-abcdef01", "m", "2026-01-01T00:00:00Z", "degree", "y",
                        ["x"], 10, 5, 0,
                        [CurvePoint(1, ["x"], 2, 1.5, 2.5, {"x": 1.0}, 0.5),
                         CurvePoint(2, ["x^2"], 3, 1.0, None, {"x": 1.0, "x^2": 2.0}, 0.1)])
    assert ValidationCurve.from_json(c.to_json()).to_json() == c.to_json()
    run_id, rows = curve_rows(c, load_warehouse())
    assert run_id == c.run_id and [r["validation_mse"] for r in rows] == [2.5, None]
    bad = ValidationCurve(**{**c.__dict__, "run_id": "x'; DROP TABLE models; --"})
    with pytest.raises(InvalidRecordError):
        curve_rows(bad, load_warehouse())
    with pytest.raises(ValueError):
        ValidationCurve(**{**c.__dict__, "points": [CurvePoint(1, [], 1, float("nan"), None,
                                                               {}, 0.0)]}).to_json()
    s = ResidualSample("validation", 100, (1.0, 2.0), (1.5, 1.0))
    assert ResidualSample.from_json(s.to_json()) == s
