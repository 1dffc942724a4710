"""Chunked input (issue 10): the same rows, reasons and header handling as the line parser."""

import io

import numpy as np
import pytest

from mrlinreg.chunks import (drop_header_lines, line_starts, parse_chunk, read_chunks)
from mrlinreg.parsing import MAX_MAGNITUDE, RowFormat, parse_block

FMT = RowFormat(delimiter=",", n_columns=3, feature_idx=(0, 1), label_idx=2, header="a,b,y")


@pytest.mark.parametrize("size", [1, 5, 16, 1 << 20])
@pytest.mark.parametrize("text", [b"", b"1,2,3\n", b"1,2,3\n4,5,6", b"1,2,3\r\n\n4,5,6\n"])
def test_chunks_are_whole_lines_and_lose_nothing(text, size):
    chunks = list(read_chunks(io.BytesIO(text), size))
    assert all(c.endswith(b"\n") for c in chunks)
    joined = b"".join(chunks)
    assert joined == (text if not text or text.endswith(b"\n") else text + b"\n")
    lines = [line for line in io.BytesIO(text)]
    assert list(read_chunks(lines, size)) and b"".join(read_chunks(lines, size)) == joined \
        or not text


LINES = [b"1,2,3", b"", b"1,x,3", b"\xef\xbb\xbf4,5,6\r", b'"7","8",9,', b"1,2", b"nan,1,2",
         b"1e200,1,2", b"1,2,3,4", b"\xff,1,2", b"1,2\r3"]


@pytest.mark.parametrize("seed", range(20))
def test_chunk_parse_equals_line_parse(seed):
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(LINES), 300)
    pick[rng.random(300) < 0.7] = 0 if seed % 2 else 3  # mostly good rows
    lines = [LINES[i] for i in pick]
    chunk = b"\n".join(lines) + b"\n"
    for block_rows in (7, 8192):
        got = parse_chunk(chunk, FMT, MAX_MAGNITUDE, block_rows)
        want = parse_block(lines, FMT, MAX_MAGNITUDE)
        assert got.bad == want.bad
        np.testing.assert_array_equal(got.values, want.values)


def test_a_clean_chunk_is_one_call_and_marks_non_finite_rows():
    chunk = b"1,2,3\n1,inf,2\n1e101,0,0\n4,5,6\n"
    got = parse_chunk(chunk, FMT, MAX_MAGNITUDE)
    assert got.bad == [(1, "non_finite"), (2, "out_of_range")]
    np.testing.assert_array_equal(got.values, [[1, 2, 3], [4, 5, 6]])


def test_header_dropped_at_file_start_and_anywhere():
    chunk = b"\xef\xbb\xbfa,b,y\r\n1,2,3\na,b,y\n4,5,6\na,b,yy\na,b,y"
    out, dropped = drop_header_lines(chunk + b"\n", "a,b,y", True, anywhere=False)
    assert dropped == [0] and out == b"1,2,3\na,b,y\n4,5,6\na,b,yy\na,b,y\n"
    out, dropped = drop_header_lines(chunk + b"\n", "a,b,y", True, anywhere=True)
    assert out == b"1,2,3\n4,5,6\na,b,yy\n" and len(dropped) == 3
    out, dropped = drop_header_lines(b"a,b,y\n1,2,3\n", "a,b,y", False, anywhere=False)
    assert dropped == [] and out == b"a,b,y\n1,2,3\n"


def test_line_starts_are_byte_offsets():
    np.testing.assert_array_equal(line_starts(b"ab\n\ncde\r\n"), [0, 3, 4])
    assert len(line_starts(b"")) == 0
