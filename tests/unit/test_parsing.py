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


# --- hostile inputs (issue 9) -------------------------------------------------------------

from mrlinreg.parsing import (HeaderError, file_key, header_names,  # noqa: E402
                              header_text)

EXPECTED = [[1.5, 2.0, 3.0], [4.0, 5.0, 6.0]]


@pytest.mark.parametrize("lines", [
    ["\ufeff1.5,2,3", "4,5,6"],                     # BOM on the first line
    ["1.5,2,3\r", "4,5,6\r"],                        # CRLF (a runner that keeps the \r)
    ['"1.5","2",3', '4,"5","6"'],                    # RFC 4180 quoted fields
    ["1.5,2,3,", "4,5,6,"],                          # a trailing delimiter
    ["\ufeff\"1.5\",2,3,\r", "4,5,6"],              # all at once
    [b"\xef\xbb\xbf1.5,2,3\r", b"4,5,6"],            # bytes lines
])
def test_tolerated_variants_parse_exactly(lines):
    block = parse_block(lines, FMT)
    assert block.bad == []
    np.testing.assert_array_equal(block.values, EXPECTED)


@pytest.mark.parametrize("line,reason", [
    ('1,"2', "field_count"),           # an open quote
    ("1,2,3,,", "field_count"),         # only one trailing delimiter is looked through
    ("1,2,", "field_count"),
    ('"1,2",3', "field_count"),         # a quoted delimiter is not a delimiter
    ("\ufeff", "blank"),
    (b"1,\xe92,3", "non_numeric"),      # latin-1 bytes
])
def test_malformed_variants_are_bad_rows(line, reason):
    lines = ["1,2,3", line, "4,5,6"] if isinstance(line, str) else [b"1,2,3", line, b"4,5,6"]
    block = parse_block(lines, FMT)
    assert block.bad == [(1, reason)]
    np.testing.assert_array_equal(block.values, [[1, 2, 3], [4, 5, 6]])


def test_a_quoted_newline_is_two_bad_rows_never_one_joined_row():
    # the two halves of '1,"2\n3",4' would make one 3-field row if joined
    block = parse_block(["1,2,3", '1,"2', '3",4', "4,5,6"], FMT)
    assert [i for i, _ in block.bad] == [1, 2]
    np.testing.assert_array_equal(block.values, [[1, 2, 3], [4, 5, 6]])


def test_bom_and_quotes_do_not_make_a_header():
    assert not looks_like_header("\ufeff1.5,2,3", ",")
    assert not looks_like_header('"1.5","2",3,', ",")
    assert not looks_like_header("1,,3", ",")  # a missing value is data (a bad row)
    assert looks_like_header('"a",b,y', ",")


def test_header_names_quotes_bom_trailing_delimiter():
    assert header_names('\ufeff"a","b c",y,\r', ",") == ["a", "b c", "y"]
    assert header_text("\ufeffa,b,y\r") == "a,b,y"
    with pytest.raises(HeaderError, match="empty column name at position 2"):
        header_names("a,,y", ",")
    with pytest.raises(HeaderError, match="unbalanced quote"):
        header_names('a,"b,y', ",")
    with pytest.raises(HeaderError, match="repeat"):
        header_names("a,a,y", ",")


def test_file_key_normalises_what_the_driver_and_the_task_see():
    assert file_key("file:///data/a.csv") == file_key("/data/a.csv") == "/data/a.csv"
    assert file_key("file:/data/./a.csv") == "/data/a.csv"
    assert file_key("hdfs://nn:8020/u/p-0") == file_key("hdfs:///u/p-0") == "/u/p-0"


def test_per_file_formats_round_trip_and_fall_back():
    a = RowFormat(",", 3, (1, 0), 2, "b,a,y")
    fmt = RowFormat(",", 3, (0, 1), 2, "a,b,y", files=(("/d/a.csv", a),))
    back = RowFormat.from_dict(fmt.to_dict())
    assert back == fmt
    assert back.for_file("file:///d/a.csv") == a
    assert back.for_file("/d/other.csv") is back


def test_values_whose_squares_overflow_are_out_of_range():
    lines = ["1,2,3", "1e155,2,3", "1,2,-2e100", "1e100,2,inf", "4,5,6"]
    assert parse_block(lines, FMT).bad == [(3, "non_finite")]  # parsed exactly
    block = parse_block(lines, FMT, max_magnitude=1e100)
    assert block.bad == [(1, "out_of_range"), (2, "out_of_range"), (3, "non_finite")]
    np.testing.assert_array_equal(block.values, [[1, 2, 3], [4, 5, 6]])
