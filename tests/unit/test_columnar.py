"""The pure columnar reader: formats by magic bytes, footers, projection, nulls, types,
row groups and stripes, the manifest, the seekable range file; the --where grammar."""

import io

import numpy as np
import pyarrow as pa
import pyarrow.orc as orc
import pyarrow.parquet as pq
import pytest

from mrlinreg import columnar
from mrlinreg.columnar import ColumnarError, Unit
from mrlinreg.partition_filter import (FilterError, parse_table_name, parse_where,
                                       select_partitions)
from mrlinreg.storage.table_catalog import (parse_describe_formatted, parse_partition_name,
                                            storage_format)


def _table(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    return pa.table({"i": pa.array(np.arange(n), pa.int64()),
                     "f32": pa.array(rng.standard_normal(n).astype(np.float32)),
                     "x": rng.standard_normal(n),
                     "dec": pa.array([f"{v:.2f}" for v in rng.uniform(-5, 5, n)]).cast(
                         pa.decimal128(6, 2)),
                     "name": pa.array([f"r{i}" for i in range(n)]),
                     "y": rng.standard_normal(n)})


@pytest.fixture
def parquet_file(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(_table(), path, row_group_size=300)
    return str(path)


@pytest.fixture
def orc_file(tmp_path):
    path = tmp_path / "t.orc"
    orc.write_table(_table(), path, stripe_size=4096, batch_size=100)
    return str(path)


def _read_all(path, fmt, columns, batch_rows=128, consts=None, max_magnitude=None):
    with open(path, "rb") as f:
        info = columnar.inspect(f, path, fmt)
    blocks = [b for u in columnar.file_units(info, consts)
              for b in columnar.read_unit(u, columns, batch_rows, max_magnitude=max_magnitude)]
    return info, blocks


def test_format_by_magic_bytes_then_extension():
    assert columnar.format_of("x/part-0", b"PAR1") == "parquet"
    assert columnar.format_of("x/000000_0", b"ORC\x00") == "orc"
    assert columnar.format_of("x/data.csv", b"a,b,") == "csv"
    assert columnar.format_of("x/data", b"1,2\n") == "csv"
    assert columnar.format_of("x/data.csv", b"PAR1", "csv") == "csv"  # asked for
    with pytest.raises(ColumnarError, match="magic bytes"):
        columnar.format_of("x/data.parquet", b"a,b\n")
    with pytest.raises(ColumnarError, match="orc"):
        columnar.format_of("x/data.orc", b"PAR1")


@pytest.mark.parametrize("fmt", ["parquet", "orc"])
def test_units_types_and_projection(parquet_file, orc_file, fmt):
    path = parquet_file if fmt == "parquet" else orc_file
    cols = ["y", "x", "i", "f32", "dec"]  # any order, the string column never read
    info, blocks = _read_all(path, fmt, cols)
    assert sum(info.unit_rows) == 1000 and len(info.unit_rows) > 1  # several units
    if fmt == "parquet":
        assert info.unit_rows == (300, 300, 300, 100)
    assert pa.types.is_string(info.schema["name"])
    assert all(b.values.shape[0] <= 128 for b in blocks)
    got = np.vstack([b.values for b in blocks])
    rows = np.concatenate([b.rows for b in blocks])
    t = _table()
    want = np.column_stack([t["y"].to_numpy(), t["x"].to_numpy(),
                            t["i"].to_numpy().astype(float),
                            t["f32"].to_numpy().astype(np.float64),
                            np.array([float(str(v)) for v in t["dec"].to_pylist()])])
    np.testing.assert_array_equal(rows, np.arange(1000))
    np.testing.assert_array_equal(got, want)  # float32 widened exactly, decimal correctly


def test_projection_reads_only_the_asked_columns(tmp_path):
    """A large column between the asked ones is not read (2 MB; pyarrow's footer
    read-ahead of 64 KiB at the end of the file is all that may touch it)."""
    n = 2000
    rng = np.random.default_rng(1)
    t = pa.table({"x": rng.standard_normal(n),
                  "blob": pa.array([rng.bytes(500).hex() for _ in range(n)]),
                  "y": rng.standard_normal(n)})
    path = tmp_path / "p.parquet"
    pq.write_table(t, path, row_group_size=n, compression="none")
    seen = []

    class Spy(io.FileIO):
        def read(self, size=-1):
            start = self.tell()
            data = super().read(size)
            seen.append((start, len(data)))
            return data

        def readinto(self, b):
            start = self.tell()
            got = super().readinto(b)
            seen.append((start, got))
            return got
    chunk = pq.ParquetFile(str(path)).metadata.row_group(0).column(1)
    lo = chunk.dictionary_page_offset or chunk.data_page_offset
    hi = lo + chunk.total_compressed_size
    assert chunk.path_in_schema == "blob" and hi - lo > 1_000_000
    with Spy(str(path), "rb") as f:
        unit = Unit(str(path), "parquet", 0, n)
        batches = list(columnar.iter_batches(f, unit, ["x", "y"], 512))
    assert sum(b.num_rows for b in batches) == n and batches[0].schema.names == ["x", "y"]
    read_bytes = sum(max(0, min(off + k, hi) - max(off, lo)) for off, k in seen)
    # only the footer's speculative 64 KiB read at the file's end may reach into it
    assert read_bytes <= 64 * 1024, f"{read_bytes} bytes of the unread column were read"


@pytest.mark.parametrize("fmt", ["parquet", "orc"])
def test_nulls_non_finite_and_out_of_range_are_bad_rows(tmp_path, fmt):
    x = [1.0, None, 3.0, np.nan, 5.0, np.inf, 7.0, 1e200, 9.0]
    y = [1.0, 2.0, None, 4.0, 5.0, 6.0, -np.inf, 8.0, 9.0]
    t = pa.table({"x": pa.array(x, pa.float64()), "y": pa.array(y, pa.float64())})
    path = str(tmp_path / f"n.{fmt}")
    (pq.write_table if fmt == "parquet" else orc.write_table)(t, path)
    _, blocks = _read_all(path, fmt, ["x", "y"], batch_rows=4, max_magnitude=1e100)
    bad = [b for blk in blocks for b in blk.bad]
    assert bad == [(1, "missing"), (2, "missing"), (3, "non_finite"), (5, "non_finite"),
                   (6, "non_finite"), (7, "out_of_range")]
    good = np.vstack([b.values for b in blocks])
    np.testing.assert_array_equal(good, [[1.0, 1.0], [5.0, 5.0], [9.0, 9.0]])
    assert np.concatenate([b.rows for b in blocks]).tolist() == [0, 4, 8]


def test_partition_values_are_constant_columns(parquet_file):
    _, blocks = _read_all(parquet_file, "parquet", ["x", "k", "y"], consts={"k": 3.0})
    v = np.vstack([b.values for b in blocks])
    assert v.shape == (1000, 3) and (v[:, 1] == 3.0).all()
    _, blocks = _read_all(parquet_file, "parquet", ["x", "k", "y"], consts={"k": None})
    assert sum(len(b.bad) for b in blocks) == 1000  # a null partition: every row missing
    assert {r for b in blocks for _, r in b.bad} == {"missing"}


def test_integers_beyond_2_53_round_as_text_parsing_does(tmp_path):
    big = [2**53 + 1, -(2**63) + 1, 12345678901234567]
    path = str(tmp_path / "big.parquet")
    pq.write_table(pa.table({"a": pa.array(big, pa.int64()), "y": [1.0, 2.0, 3.0]}), path)
    _, blocks = _read_all(path, "parquet", ["a"])
    assert blocks[0].values[:, 0].tolist() == [float(str(v)) for v in big]


def test_corrupt_and_truncated_files_are_clear_errors(tmp_path, parquet_file, orc_file):
    for path, fmt in [(parquet_file, "parquet"), (orc_file, "orc")]:
        data = open(path, "rb").read()
        cut = tmp_path / f"cut.{fmt}"
        cut.write_bytes(data[:len(data) // 2])
        with open(cut, "rb") as f, pytest.raises(ColumnarError, match="not a readable"):
            columnar.inspect(f, str(cut), fmt)
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"PAR1" + b"\x00" * 100)
    with open(junk, "rb") as f, pytest.raises(ColumnarError, match="not a readable"):
        columnar.inspect(f, str(junk), "parquet")


def test_orc_stripe_rows_come_from_the_footer(orc_file):
    of = orc.ORCFile(orc_file)
    rows = columnar._orc_stripe_rows(of)
    assert len(rows) == of.nstripes > 1
    assert list(rows) == [of.read_stripe(i).num_rows for i in range(of.nstripes)]


def test_range_file_reads_like_a_file(parquet_file):
    data = open(parquet_file, "rb").read()
    calls = []

    def read_range(off, n):
        calls.append((off, n))
        return data[off:off + n]
    f = columnar.RangeFile(read_range, len(data), min_read=1000)
    assert f.read(4) == data[:4] and f.read(10) == data[4:14]
    assert len(calls) == 1  # served from the read-ahead buffer
    f.seek(-8, io.SEEK_END)
    assert f.read() == data[-8:] and f.read(5) == b""
    info = columnar.inspect(columnar.RangeFile(read_range, len(data)), parquet_file,
                            "parquet")
    assert sum(info.unit_rows) == 1000


def test_manifest_lines_and_splits():
    u = Unit("hdfs://nn/t/day=1/f", "orc", 2, 500, 1000, {"day": 1.0})
    assert Unit.from_line(u.to_line()) == u
    units = [Unit("a", "parquet", i, 100, 100 * i) for i in range(10)] + \
        [Unit("b", "parquet", 0, 100)]
    groups = columnar.group_units(units, {"a": 1000, "b": 50}, split_bytes=300)
    assert [len(g) for g in groups] == [3, 3, 3, 1, 1]  # b is never merged with a
    assert [u for g in groups for u in g] == units


# --- names and predicates ---------------------------------------------------------------


def test_table_names():
    assert parse_table_name("Sales.Trans_2024") == ("sales", "trans_2024")
    assert parse_table_name("t", "linreg") == ("linreg", "t")
    for bad in ["a.b.c", "a;b", "`a`.b", "a.b c", "", "1a.b", "a.b--"]:
        with pytest.raises(FilterError):
            parse_table_name(bad)


def test_where_grammar_accepts_comparisons_joined_by_and():
    cs = parse_where("day = '2024-01-01' AND k >= 2 and region IN ('eu', 'o''hare')")
    assert [(c.column, c.op, c.values) for c in cs] == [
        ("day", "=", ("2024-01-01",)), ("k", ">=", (2.0,)),
        ("region", "in", ("eu", "o'hare"))]


@pytest.mark.parametrize("text", [
    "day = '1' OR 1 = 1", "day = '1'; DROP TABLE t", "day = '1' -- x", "day = x",
    "upper(day) = 'A'", "day = '1", "(day = '1')", "day", "day = ", "= '1'",
    "day IN ('a' 'b')", "day = '1' AND", "day = 1e999", "day = '1' /* */"])
def test_where_refuses_everything_else(text):
    with pytest.raises(FilterError):
        parse_where(text)


def test_select_partitions_numeric_and_text():
    parts = [{"day": "d1", "k": "1"}, {"day": "d2", "k": "10"}, {"day": "d3", "k": None}]
    types = {"day": "string", "k": "int"}
    assert select_partitions(parts, parse_where("k < 2"), types) == parts[:1]
    assert select_partitions(parts, parse_where("k > 2"), types) == parts[1:2]  # not '10'<'2'
    assert select_partitions(parts, parse_where("day != 'd1'"), types) == parts[1:]
    assert select_partitions(parts, parse_where("k IN (1, 10) AND day = 'd2'"),
                             types) == parts[1:2]
    with pytest.raises(FilterError, match="partition columns"):
        select_partitions(parts, parse_where("x = 1"), types)


def test_describe_formatted_and_partition_names():
    rows = [("a", "double", ""), ("n", "string", ""), ("", None, None),
            ("# Partition Information", None, None), ("# col_name", "data_type", "comment"),
            ("day", "string", ""), ("k", "int", ""), ("", None, None),
            ("# Detailed Table Information", None, None),
            ("Database:           ", "db  ", None),
            ("Location:           ", "hdfs://nn:8020/w/db.db/t", None),
            ("Table Parameters:", None, None), ("", "numFiles", "1"),
            ("# Storage Information", None, None),
            ("SerDe Library:      ", "org.apache.hadoop.hive.ql.io.orc.OrcSerde", None),
            ("InputFormat:        ", "org.apache.hadoop.hive.ql.io.orc.OrcInputFormat", None)]
    cols, parts, info = parse_describe_formatted(rows)
    assert cols == [("a", "double"), ("n", "string")]
    assert parts == [("day", "string"), ("k", "int")]
    assert info["location"] == "hdfs://nn:8020/w/db.db/t"
    assert storage_format(info["inputformat"], info["serde library"]) == "ORC"
    unpartitioned = rows[:3] + rows[8:]
    cols, parts, _ = parse_describe_formatted(unpartitioned)
    assert cols == [("a", "double"), ("n", "string")] and parts == []
    assert storage_format("org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat") \
        == "PARQUET"
    assert storage_format("org.apache.hadoop.mapred.TextInputFormat") == "TEXTFILE"
    assert parse_partition_name("day=2024-01-01/k=__HIVE_DEFAULT_PARTITION__/s=a%2Fb") == \
        {"day": "2024-01-01", "k": None, "s": "a/b"}
