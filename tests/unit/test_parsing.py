import numpy as np
import pytest

from mrlinreg.parsing import RowFormat, looks_like_header, parse_block, split_columns

FMT = RowFormat(delimiter=",", n_columns=3, feature_idx=(0, 1), label_idx=2, header="a,b,y")


def test_good_block_parses_exactly():
    lines = ["1,2,3", "0.1,-2.5e-3,1e300", "4 , 5,6"]
    block = parse_block(lines, FMT)
    assert block.bad == []
    np.testing.assert_array_equal(block.values, [[1, 2, 3], [0.1, -2.5e-3, 1e300], [4, 5, 6]])


def test_float_round_trip_is_exact():
    rng = np.random.default_rng(1)
    vals = rng.standard_normal((50, 3)) * 10.0 ** rng.integers(-300, 300, (50, 3))
    lines = [",".join(repr(float(v)) for v in row) for row in vals]
    np.testing.assert_array_equal(parse_block(lines, FMT).values, vals)


@pytest.mark.parametrize("line,reason", [
    ("", "blank"), ("   ", "blank"), ("1,2", "field_count"), ("1,2,3,4", "field_count"),
    ("1,x,3", "non_numeric"), ("1,,3", "non_numeric"), ("1,2,nan", "non_finite"),
    ("inf,2,3", "non_finite"), ("1,2,-inf", "non_finite"), ("1_0,2,3", "non_numeric"),
])
def test_bad_rows_classified_and_good_rows_kept(line, reason):
    lines = ["1,2,3"] * 5 + [line] + ["4,5,6"] * 4
    block = parse_block(lines, FMT)
    assert block.bad == [(5, reason)]
    assert block.values.shape == (9, 3)
    np.testing.assert_array_equal(block.values[-1], [4, 5, 6])


def test_many_bad_rows_positions():
    lines = [f"{i},{i},{i}" if i % 7 else "bad" for i in range(200)]
    lines[10] = "1,2,inf"
    block = parse_block(lines, FMT)
    expected = sorted([(i, "field_count") for i in range(0, 200, 7)] + [(10, "non_finite")])
    assert block.bad == expected
    assert block.values.shape[0] == 200 - len(expected)


def test_empty_block():
    assert parse_block([], FMT).values.shape == (0, 3)


def test_split_columns_orders_features():
    fmt = RowFormat(",", 3, (2, 0), 1)
    X, y = split_columns(np.array([[1.0, 2.0, 3.0]]), fmt)
    np.testing.assert_array_equal(X, [[3.0, 1.0]])
    np.testing.assert_array_equal(y, [2.0])


def test_header_detection():
    assert looks_like_header("x0,x1,y", ",")
    assert not looks_like_header("1,2.5,-3e4", ",")
    assert looks_like_header("1,2,label", ",")
