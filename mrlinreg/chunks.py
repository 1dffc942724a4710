"""A map task's input as multi-megabyte byte chunks of whole lines, parsed in one call each.

mrjob hands a mapper one decoded line per Python call; at a million rows that
per-line work costs more than parsing.  A task here reads its input (the split
on stdin) in chunks of :data:`CHUNK_BYTES`, cuts each at its last ``\\n`` and
gives the whole chunk to pyarrow's CSV reader (:func:`parse_chunk`).  Python
runs once per chunk, never once per line, except in a chunk that holds a bad
row: that chunk is split into lines and parsed by :func:`mrlinreg.parsing.parse_block`
(bisection, exact reasons), in sub-blocks of ``block_rows`` lines.

Header lines are dropped by byte search (:func:`drop_header_lines`); line
start offsets, for the scoring job's ``row_index``, come from one vectorised
search for ``\\n`` (:func:`line_starts`).  Pure functions: no mrjob, no I/O
but the stream a caller passes in.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from mrlinreg.parsing import (BOM, ParsedBlock, RowFormat, finite_rows, read_bytes,
                              header_text, parse_block)

CHUNK_BYTES = 8 << 20  # 8 MiB: ~30,000 rows of 21 numbers; a parsed chunk is ~5 MB


def read_chunks(stream, size: int = CHUNK_BYTES):
    """Yield the stream's bytes as chunks of whole lines, each ending in ``\\n``.

    A chunk is about ``size`` bytes (longer only when one line is); a last line
    without a line end gets one.  ``stream`` has a binary ``read(n)`` or is an
    iterable of byte lines (mrjob's sandbox accepts both).
    """
    if not hasattr(stream, "read"):
        yield from _chunks_from_lines(stream, size)
        return
    rest = b""
    while True:
        data = stream.read(size)
        if not data:
            break
        buf = rest + data if rest else data
        cut = buf.rfind(b"\n") + 1
        if cut == 0:  # one line longer than a chunk: keep reading
            rest = buf
            continue
        rest = buf[cut:]
        yield buf[:cut] if cut < len(buf) else buf
    if rest:
        yield rest + b"\n"


def _chunks_from_lines(lines, size):
    pending, n = [], 0
    for line in lines:
        if isinstance(line, str):
            line = line.encode("utf-8")
        pending.append(line if line.endswith(b"\n") else line + b"\n")
        n += len(line)
        if n >= size:
            yield b"".join(pending)
            pending, n = [], 0
    if pending:
        yield b"".join(pending)


def line_starts(chunk: bytes) -> np.ndarray:
    """Byte offsets, within ``chunk`` (whole lines, ``\\n``-ended), of each line's first byte."""
    ends = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 0x0A)
    starts = np.empty(len(ends), dtype=np.int64)
    if len(ends):
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
    return starts


def _line_end(chunk: bytes, start: int) -> int:
    end = chunk.find(b"\n", start)
    return len(chunk) if end < 0 else end


def drop_header_lines(chunk: bytes, header: str | None, first_is_file_start: bool,
                      anywhere: bool):
    """Remove header lines from a chunk of whole lines.

    Parameters
    ----------
    chunk : bytes
        Whole ``\\n``-ended lines.
    header : str or None
        The header as the driver stored it (no BOM, no line end); None: nothing to drop.
    first_is_file_start : bool
        The chunk's first line is its file's first line: dropped when, without BOMs
        and trailing ``\\r``, it equals the header.
    anywhere : bool
        Also drop every other line equal to the header (trailing ``\\r`` aside): the
        rule for a file the driver did not list (parts of concatenated files).

    Returns
    -------
    chunk : bytes
        The chunk without those lines.
    dropped : list of int
        Byte offsets, in the given chunk, of the dropped lines' first bytes.
    """
    if header is None or not chunk:
        return chunk, []
    dropped = []
    if first_is_file_start:
        end = _line_end(chunk, 0)
        first = chunk[:end].rstrip(b"\r")
        if header_text(first) == header:
            dropped.append(0)
    if anywhere:
        hb = header.encode("utf-8")
        at = 0 if chunk.startswith(hb) else chunk.find(b"\n" + hb) + 1 or -1
        while at >= 0:
            end = _line_end(chunk, at)
            if chunk[at:end].rstrip(b"\r") == hb and at not in dropped[-1:]:
                dropped.append(at)
            nxt = chunk.find(b"\n" + hb, end)  # a next line that starts with the header
            at = nxt + 1 if nxt >= 0 else -1
    if not dropped:
        return chunk, []
    pieces, pos = [], 0
    for at in dropped:
        pieces.append(chunk[pos:at])
        pos = _line_end(chunk, at) + 1
    pieces.append(chunk[pos:])
    return b"".join(pieces), dropped


def _normalised(chunk: bytes, delimiter: str) -> bytes:
    """The bytes the reader sees: as :func:`mrlinreg.parsing._block_bytes`, on whole lines."""
    data = chunk.replace(b"\r\n", b"\n") if b"\r" in chunk else chunk
    if b"\xef" in data and BOM.encode("utf-8") in data:  # one-byte search first: faster
        bom = BOM.encode("utf-8")
        data = data.replace(b"\n" + bom, b"\n")
        if data.startswith(bom):
            data = data[len(bom):]
    tail = delimiter.encode("utf-8") + b"\n"
    return data.replace(tail, b"\n") if tail in data else data


def parse_chunk(chunk: bytes, fmt: RowFormat, max_magnitude: float | None = None,
                block_rows: int = 8192) -> ParsedBlock:
    """Parse whole ``\\n``-ended lines into a float64 matrix, as :func:`parse_block` would.

    The same rows come out good, in the same order, and the bad ones with the same
    reasons, indexed by line within the chunk.  The whole chunk is one reader call;
    only a chunk that the reader refuses is split into lines (``block_rows`` at a time).
    """
    if not chunk:
        return ParsedBlock(np.empty((0, fmt.n_columns)), [])
    n_lines = chunk.count(b"\n")
    try:  # raw first: the reader takes \r\n itself, and a BOM or trailing delimiter
        # that normalising would remove makes a field non-numeric, so the raw read fails
        values = read_bytes(chunk, fmt, n_lines)
    except (pa.ArrowInvalid, UnicodeError):
        data = _normalised(chunk, fmt.delimiter)
        try:
            if data is chunk:
                raise pa.ArrowInvalid("nothing to normalise")
            values = read_bytes(data, fmt, n_lines)
        except (pa.ArrowInvalid, UnicodeError):
            return _parse_lines(chunk, fmt, max_magnitude, block_rows)
    ok = finite_rows(values, max_magnitude)
    if ok is None:
        return ParsedBlock(values, [])
    bad_at = np.flatnonzero(~ok)
    finite = np.isfinite(values[bad_at]).all(axis=1)
    bad = [(int(i), "out_of_range" if f else "non_finite") for i, f in zip(bad_at, finite)]
    return ParsedBlock(values[ok], bad)


def _parse_lines(chunk, fmt, max_magnitude, block_rows):
    lines = chunk.split(b"\n")[:-1]
    good, bad = [], []
    for s in range(0, len(lines), block_rows):
        block = parse_block(lines[s:s + block_rows], fmt, max_magnitude)
        good.append(block.values)
        bad.extend((s + i, reason) for i, reason in block.bad)
    return ParsedBlock(np.vstack(good), bad)


def decode_line(line: bytes) -> str:
    """A raw line as text, as mrjob decodes input (UTF-8, else latin-1)."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")
