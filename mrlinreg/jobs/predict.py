"""Score a dataset with a stored model: a map-only MapReduce job.

Mappers parse blocks of rows, compute ``X coef + intercept`` for the whole block
at once and write it as lines of the ``predictions`` table's text files:
``input_file, row_index, row_id, y_true, prediction``, tab-separated, ``\\N`` for null
(``row_index`` is the row's byte offset in its file, as Hadoop's TextInputFormat
counts; ``y_true`` is null when the data has no label column).  Publishing to Hive
points the job's output folder at a partition: no row passes through the driver.  The model's
coefficients and the row format come in the ``--params`` side file written by
the driver (:mod:`mrlinreg.driver.predict`); this module never imports it.
"""

import json

import mrlinreg.compat  # noqa: F401  (before mrjob: Python 3.12+)
import numpy as np
from mrjob.compat import jobconf_from_env
from mrjob.job import MRJob
from mrjob.protocol import RawValueProtocol
from mrjob.step import MRStep

from mrlinreg.parsing import RowFormat, parse_block, split_columns
from mrlinreg.records import prediction_lines


class MRPredict(MRJob):
    """Map-only scoring; one output line per good input row."""

    INPUT_PROTOCOL = RawValueProtocol
    OUTPUT_PROTOCOL = RawValueProtocol

    def configure_args(self):
        super().configure_args()
        self.add_file_arg("--params", help="scoring parameters (JSON), written by the driver")

    def mapper_init(self):
        with open(self.options.params) as f:
            params = json.load(f)
        self.fmt = RowFormat.from_dict(params["format"])
        self.coef = np.array(params["coef"], dtype=np.float64)
        self.intercept = float(params["intercept"])
        self.block_rows = int(params.get("block_rows", 8192))
        self.fail_fast = params.get("on_bad_row") == "fail"
        self.file = jobconf_from_env("mapreduce.map.input.file", "")
        self.offset = int(jobconf_from_env("mapreduce.map.input.start", "0") or 0)
        self.lines, self.offsets = [], []

    def mapper_score_rows(self, _, line):
        start = self.offset
        self.offset += len(line.encode("utf-8")) + 1
        if line == self.fmt.header:
            return
        self.lines.append(line)
        self.offsets.append(start)
        if len(self.lines) >= self.block_rows:
            yield from self._flush()

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
            yield None, prediction_lines(self.file, offsets, y, yhat)

    def mapper_final_flush(self):
        yield from self._flush()

    def steps(self):
        return [MRStep(mapper_init=self.mapper_init, mapper=self.mapper_score_rows,
                       mapper_final=self.mapper_final_flush)]


if __name__ == "__main__":
    MRPredict.run()
