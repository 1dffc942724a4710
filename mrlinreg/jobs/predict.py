"""Score a dataset with a stored model: a map-only MapReduce job.

Mappers parse blocks of rows, compute ``X coef + intercept`` for the whole block
at once and write it as lines of the ``predictions`` table's text files:
``input_file, row_index, row_id, y_true, prediction``, tab-separated, ``\\N`` for null
(``row_index`` is the byte offset of the row's first byte in its decompressed file;
``y_true`` is null when the data has no label column).  Publishing to Hive points the
job's output folder at a partition: no row passes through the driver.

``row_index`` is counted from the raw bytes of each line: the mapper reads bytes,
not decoded text (a line with latin-1 bytes keeps its length), and keeps the
``\r`` of a ``\r\n`` line end that mrjob would strip.  That is exact on the
inline and local runners, which feed the mapper the file's own lines from a known
start.  Hadoop streaming hands the mapper lines with their ends already removed
(and ends lines at a lone ``\r`` too), so there the driver asks for no offsets
(``offsets: false``) and ``row_index`` is left null rather than wrong.  The model's
coefficients and the row format come in the ``--params`` side file written by
the driver (:mod:`mrlinreg.driver.predict`); this module never imports it.
"""

import json

import mrlinreg.compat  # noqa: F401  (before mrjob: Python 3.12+)
import numpy as np
from mrjob.compat import jobconf_from_env
from mrjob.job import MRJob
from mrjob.protocol import BytesValueProtocol, RawValueProtocol
from mrjob.step import MRStep

from mrlinreg.jobs.linreg_pass import exit_with_driver
from mrlinreg.parsing import RowFormat, header_text, parse_block, split_columns
from mrlinreg.records import prediction_lines


class MRPredict(MRJob):
    """Map-only scoring; one output line per good input row."""

    INPUT_PROTOCOL = BytesValueProtocol  # raw bytes: offsets count bytes, not characters
    OUTPUT_PROTOCOL = RawValueProtocol

    def configure_args(self):
        super().configure_args()
        self.add_file_arg("--params", help="scoring parameters (JSON), written by the driver")

    def _wrap_protocols(self, step_num, step_type):
        # mrjob strips every trailing \r and \n of an input line; the mapper needs the
        # line up to its \n (a \r included) to count byte offsets (mrjob 0.7.4, pinned)
        read_lines, write_line = super()._wrap_protocols(step_num, step_type)
        if step_type != "mapper":
            return read_lines, write_line

        def read_raw_lines():
            for line in self._read_input():
                yield None, line[:-1] if line.endswith(b"\n") else line
        return read_raw_lines, write_line

    def mapper_init(self):
        with open(self.options.params) as f:
            params = json.load(f)
        exit_with_driver(params.get("driver_pid"))  # -r local: stop when the driver is gone
        default = RowFormat.from_dict(params["format"])
        self.input_file = jobconf_from_env("mapreduce.map.input.file", "")
        self.fmt = default.for_file(self.input_file)
        self.known_file = self.fmt is not default
        self.with_offsets = params.get("offsets", True)
        self.coef = np.array(params["coef"], dtype=np.float64)
        self.intercept = float(params["intercept"])
        self.block_rows = int(params.get("block_rows", 8192))
        self.fail_fast = params.get("on_bad_row") == "fail"
        self.file = jobconf_from_env("mapreduce.map.input.file", "")
        self.offset = int(jobconf_from_env("mapreduce.map.input.start", "0") or 0)
        self.at_file_start = self.offset == 0
        self.header = None if self.fmt.header is None else self.fmt.header.encode("utf-8")
        self.lines, self.offsets = [], []

    def mapper_score_rows(self, _, line):
        start = self.offset
        self.offset += len(line) + 1  # bytes up to and with the \n
        if self._is_header(line):
            return
        if line.endswith(b"\r"):  # Hadoop's line end \r\n (the parser drops it anyway)
            line = line[:-1]
        self.lines.append(line)
        self.offsets.append(start)
        if len(self.lines) >= self.block_rows:
            yield from self._flush()

    def _is_header(self, line):
        """A listed file's first line when it is the sniffed header; for a file the
        driver did not list, any line equal to the first header."""
        if self.header is None:
            return False
        if self.at_file_start:
            self.at_file_start = False
            return header_text(line) == self.fmt.header
        return not self.known_file and line.rstrip(b"\r") == self.header

    def _flush(self):
        lines, offsets = self.lines, np.array(self.offsets, dtype=np.int64)
        self.lines, self.offsets = [], []
        if not lines:
            return
        block = parse_block(lines, self.fmt)
        if block.bad:
            for _, reason in block.bad:
                self.increment_counter("mrlinreg bad rows", reason, 1)
            if self.fail_fast:
                i, reason = block.bad[0]
                raise ValueError(f"bad row ({reason}) in {self.file}: {lines[i][:200]!r}")
            keep = np.ones(len(lines), bool)
            keep[[i for i, _ in block.bad]] = False
            offsets = offsets[keep]
        if len(offsets) == 0:
            return
        X, y = split_columns(block.values, self.fmt)
        with np.errstate(all="ignore"):
            yhat = X @ self.coef + self.intercept
        finite = np.isfinite(yhat)
        if not finite.all():  # overflow: never write inf
            self.increment_counter("mrlinreg bad rows", "non_finite_prediction",
                                   int((~finite).sum()))
            offsets, yhat = offsets[finite], yhat[finite]
            y = None if y is None else y[finite]
        if len(yhat):
            yield None, prediction_lines(self.file, offsets if self.with_offsets else None,
                                         y, yhat)

    def mapper_final_flush(self):
        yield from self._flush()

    def steps(self):
        return [MRStep(mapper_init=self.mapper_init, mapper=self.mapper_score_rows,
                       mapper_final=self.mapper_final_flush)]


if __name__ == "__main__":
    MRPredict.run()
