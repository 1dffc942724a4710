"""Score a dataset with a stored model: a map-only MapReduce job.

Mappers parse blocks of rows, compute ``X coef + intercept`` for the whole block
at once and write it as lines of the ``predictions`` table's text files:
``input_file, row_index, row_id, y_true, prediction``, tab-separated, ``\\N`` for null
(``row_index`` is the byte offset of the row's first byte in its decompressed file;
``y_true`` is null when the data has no label column).  Publishing to Hive points the
job's output folder at a partition: no row passes through the driver.

``row_index`` is counted from the raw bytes of each line: the mapper reads its
input as byte chunks (:mod:`mrlinreg.chunks`), not decoded lines, so a line with
latin-1 bytes keeps its length and the ``\r`` of a ``\r\n`` line end counts.  That
is exact on the inline and local runners, which feed the mapper the file's own
bytes from a known start.  Hadoop streaming hands the mapper lines with their ends already removed
(and ends lines at a lone ``\r`` too), so there the driver asks for no offsets
(``offsets: false``) and ``row_index`` is left null rather than wrong.  The model's
coefficients and the row format come in the ``--params`` side file written by
the driver (:mod:`mrlinreg.driver.predict`); this module never imports it.
"""

import argparse
import json
from collections import Counter

import mrlinreg.compat  # noqa: F401  (before mrjob: Python 3.12+)
import numpy as np
from mrjob.compat import jobconf_from_env
from mrjob.job import MRJob
from mrjob.protocol import RawValueProtocol
from mrjob.step import MRStep

from mrlinreg import columnar
from mrlinreg.design import Design
from mrlinreg.chunks import drop_header_lines, line_starts, parse_chunk, read_chunks
from mrlinreg.parsing import RowFormat, split_columns
from mrlinreg.jobs.linreg_pass import exit_with_driver
from mrlinreg.records import prediction_lines


class MRPredict(MRJob):
    """Map-only scoring; one output line per good input row."""

    OUTPUT_PROTOCOL = RawValueProtocol

    def configure_args(self):
        super().configure_args()
        self.add_file_arg("--params", help="scoring parameters (JSON), written by the driver")
        self.add_passthru_arg("--columnar", action="store_true",
                              help=argparse.SUPPRESS)  # input: a manifest of row groups

    def run_mapper(self, step_num=0):
        """Feed the mapper whole byte chunks of the task's raw input: offsets count every
        byte (a ``\r`` too), and no Python runs per line.  Columnar input is a manifest
        of row groups, one line each: mrjob's own line reading."""
        if self.options.columnar:
            return super().run_mapper(step_num)
        _, write_line = self._wrap_protocols(step_num, "mapper")
        chunks = ((None, chunk) for chunk in read_chunks(self.stdin))
        for key, value in self.map_pairs(chunks, step_num):
            write_line(key, value)

    def mapper_init(self):
        with open(self.options.params) as f:
            params = json.load(f)
        exit_with_driver(params.get("driver_pid"))  # -r local: stop when the driver is gone
        default = RowFormat.from_dict(params["format"])
        self.input_file = jobconf_from_env("mapreduce.map.input.file", "")
        self.fmt = default.for_file(self.input_file)
        self.known_file = self.fmt is not default
        # a formula model scores the design's columns (mrlinreg.design), built per block
        self.design = Design.from_dict(params["formula"]) if "formula" in params else None
        self.values_fmt = (self.fmt if self.design is None else
                           self.design.values_format(self.fmt.label_idx is not None))
        self.with_offsets = params.get("offsets", True)
        self.coef = np.array(params["coef"], dtype=np.float64)
        self.intercept = float(params["intercept"])
        self.block_rows = int(params.get("block_rows", 8192))
        self.fail_fast = params.get("on_bad_row") == "fail"
        self.file = jobconf_from_env("mapreduce.map.input.file", "")
        self.offset = int(jobconf_from_env("mapreduce.map.input.start", "0") or 0)
        self.at_file_start = self.offset == 0
        self.columnar = params.get("columnar")

    def mapper_score_chunk(self, _, chunk):
        """Score one chunk of whole raw lines; ``row_index`` from its byte offsets."""
        if isinstance(chunk, str):  # a caller that skips run_mapper: one line at a time
            chunk = chunk.encode("utf-8") + b"\n"
        base, self.offset = self.offset, self.offset + len(chunk)
        starts = line_starts(chunk) if self.with_offsets else None
        chunk, dropped = drop_header_lines(chunk, self.fmt.header, self.at_file_start,
                                           anywhere=not self.known_file)
        self.at_file_start = False
        if dropped and starts is not None:
            starts = np.setdiff1d(starts, dropped, assume_unique=True)
        if self.design is None:
            block = parse_chunk(chunk, self.fmt, None, self.block_rows)
        else:  # a formula model: the raw columns, then the design's columns
            lines = chunk.split(b"\n")
            if lines and not lines[-1]:
                lines.pop()
            block = self.design.parse_block(lines, self.fmt)
            for note, count in block.notes.items():
                self.increment_counter("mrlinreg notes", note, count)
        if block.bad:
            for reason, count in Counter(reason for _, reason in block.bad).items():
                self.increment_counter("mrlinreg bad rows", reason, count)
            if self.fail_fast:
                i, reason = block.bad[0]
                line = chunk.split(b"\n", i + 1)[i].rstrip(b"\r")
                raise ValueError(f"bad row ({reason}) in {self.file}: {line[:200]!r}")
            if starts is not None:
                keep = np.ones(len(starts), bool)
                keep[[i for i, _ in block.bad]] = False
                starts = starts[keep]
        if len(block.values) == 0:
            return
        offsets = None if starts is None else base + starts
        yield from self._score(self.file, block.values, offsets)

    def mapper_score_units(self, _, line):
        """Columnar input: one manifest line is one row group (stripe); ``row_index``
        is the row's number in its file."""
        if not line.strip():
            return
        unit = columnar.Unit.from_line(line.decode("utf-8") if isinstance(line, bytes)
                                       else line)
        spec = self.columnar
        webhdfs = columnar.WebHdfs(**spec["webhdfs"]) if spec.get("webhdfs") else None
        for block in columnar.read_unit(unit, spec["columns"], self.block_rows, webhdfs):
            for _, reason in block.bad:
                self.increment_counter("mrlinreg bad rows", reason, 1)
            if block.bad and self.fail_fast:
                row, reason = block.bad[0]
                raise ValueError(f"bad row ({reason}) in {unit.path}: row {row} of the file")
            yield from self._score(unit.path, block.values, block.rows)

    def _score(self, file, values, rows):
        """Prediction lines of a block of good rows (``rows``: their ``row_index``
        values, or None where they are not known)."""
        X, y = split_columns(values, self.values_fmt)
        with np.errstate(all="ignore"):
            yhat = X @ self.coef + self.intercept
        finite = np.isfinite(yhat)
        if not finite.all():  # overflow: never write inf
            self.increment_counter("mrlinreg bad rows", "non_finite_prediction",
                                   int((~finite).sum()))
            yhat = yhat[finite]
            rows = None if rows is None else rows[finite]
            y = None if y is None else y[finite]
        if len(yhat):
            yield None, prediction_lines(file, rows, y, yhat)

    def steps(self):
        mapper = self.mapper_score_units if self.options.columnar else self.mapper_score_chunk
        return [MRStep(mapper_init=self.mapper_init, mapper=mapper)]


if __name__ == "__main__":
    MRPredict.run()
