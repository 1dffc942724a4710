"""One pass over the data as a MapReduce job: partial sums per mapper, one reducer adds them.

Mappers parse their rows in blocks, fold them into partial sums and emit them
once from ``mapper_final``; one reducer merges them in a canonical order.  What a
pass computes comes from the ``--params`` side file written by the driver (pass
kind, row format, scaling, candidate weights).  Hadoop streaming runs this file
as ``python linreg_pass.py --mapper ...``; it never imports the driver.
"""

import json
import os
import threading
import time

import mrlinreg.compat  # noqa: F401  (before mrjob: Python 3.12+)
from mrjob.compat import jobconf_from_env
from mrjob.job import MRJob
from mrjob.protocol import JSONProtocol, RawValueProtocol
from mrjob.step import MRStep

from mrlinreg import kernels
from mrlinreg.codec import decode_array
from mrlinreg.design import Design, LevelsAccumulator
from mrlinreg.parsing import (MAX_MAGNITUDE, RowFormat, header_text, parse_block,
                              split_columns)


def make_accumulator(params):
    """Build the accumulator a pass's ``params`` ask for."""
    kind = params["pass"]
    if kind == "levels":
        return LevelsAccumulator(params["max_levels"])
    if kind == "moments":
        d = (len(Design.from_dict(params["formula"]).columns) if "formula" in params
             else len(params["format"]["feature_idx"]))
        return kernels.MomentsAccumulator(d + 1)
    shift, scale = decode_array(params["shift"]), decode_array(params["scale"])
    if kind == "evaluate":
        return kernels.EvaluateAccumulator(
            decode_array(params["points"]), decode_array(params["directions"]),
            shift, scale, params["fit_intercept"], params.get("hessian", False))
    if kind == "tsqr":
        return kernels.QRAccumulator(shift, scale, params["fit_intercept"])
    if kind == "residual":  # original units: shift and scale are not used
        return kernels.ResidualAccumulator(decode_array(params["b_hi"]),
                                           decode_array(params["b_lo"]), params["fit_intercept"])
    raise ValueError(f"unknown pass kind {kind!r}")


def exit_with_driver(driver_pid, poll_s=1.0):
    """Stop this task process soon after the driver that started it is gone.

    With ``-r local`` the tasks are processes of a process pool; a driver killed by
    SIGKILL (or SIGTERM, which skips its clean-up) would leave them reading their
    split to the end.  A daemon thread checks once per ``poll_s`` that the driver
    still exists.  Only the local runner sets ``driver_pid`` (on a cluster the driver
    is on another machine; the inline runner's task is the driver itself).
    """
    if not driver_pid or int(driver_pid) == os.getpid():
        return

    def watch():
        while True:
            time.sleep(poll_s)
            try:
                os.kill(int(driver_pid), 0)
            except ProcessLookupError:
                os._exit(3)
            except PermissionError:  # exists, another user's: still alive
                pass

    threading.Thread(target=watch, name="exit-with-driver", daemon=True).start()


class MRLinRegPass(MRJob):
    """One pass over the data: partial sums per mapper, one reducer adds them."""

    INPUT_PROTOCOL = RawValueProtocol
    INTERNAL_PROTOCOL = JSONProtocol
    OUTPUT_PROTOCOL = JSONProtocol
    JOBCONF = {"mapreduce.job.reduces": "1"}

    def configure_args(self):
        super().configure_args()
        self.add_file_arg("--params", help="pass parameters (JSON), written by the driver")

    def mapper_init(self):
        with open(self.options.params) as f:
            self.params = json.load(f)
        exit_with_driver(self.params.get("driver_pid"))
        # each file is read by its own column names (the driver read its header)
        self.input_file = jobconf_from_env("mapreduce.map.input.file", "")
        default = RowFormat.from_dict(self.params["format"])
        self.fmt = default.for_file(self.input_file)
        self.known_file = self.fmt is not default
        # with a formula, blocks become [X y] of the design (mrlinreg.design)
        self.design = Design.from_dict(self.params["formula"]) if "formula" in self.params \
            else None
        self.values_fmt = (self.design.values_format()
                           if self.design is not None and self.design.columns else self.fmt)
        # the file's first line is the header it was sniffed with, if any
        self.at_file_start = int(jobconf_from_env("mapreduce.map.input.start", "0") or 0) == 0
        self.block_rows = int(self.params.get("block_rows", 8192))
        self.fail_fast = self.params.get("on_bad_row") == "fail"
        self.acc = make_accumulator(self.params)
        self.buffer = []
        self.bad_counts = {}
        self.first_bad = None
        self.stopped = False

    def mapper_collect_rows(self, _, line):
        if self.stopped or self._is_header(line):
            return
        self.buffer.append(line)
        if len(self.buffer) >= self.block_rows:
            self._flush()
        return
        yield  # a generator, as mrjob expects

    def _is_header(self, line):
        """The header line: a listed file's first line; for a file the driver did not
        list, any line equal to the first header (the old rule)."""
        header = self.fmt.header
        if header is None:
            return False
        if self.at_file_start:
            self.at_file_start = False
            return header_text(line) == header
        return not self.known_file and line == header

    def _flush(self):
        lines, self.buffer = self.buffer, []
        if self.design is None:
            block = parse_block(lines, self.fmt, MAX_MAGNITUDE)  # no overflowing squares
        else:
            block = self.design.parse_block(lines, self.fmt, MAX_MAGNITUDE)
            for note, count in block.notes.items():
                self.increment_counter("mrlinreg notes", note, count)
        if block.bad:
            for i, reason in block.bad:
                self.bad_counts[reason] = self.bad_counts.get(reason, 0) + 1
                self.increment_counter("mrlinreg bad rows", reason, 1)
            if self.fail_fast:
                i, reason = block.bad[0]
                self.first_bad = {"file": self.input_file or "?",
                                  "reason": reason, "line": lines[i][:500]}
                self.stopped = True
                return
        fmt = self.values_fmt
        if self.params["pass"] == "levels":
            self.acc.add(block.levels)
        elif self.params["pass"] == "moments":  # features and label, one matrix
            self.acc.add(block.values[:, list(fmt.feature_idx) + [fmt.label_idx]])
        else:
            self.acc.add(*split_columns(block.values, fmt))

    def mapper_emit_partial(self):
        if not self.stopped:
            self._flush()
        if self.first_bad is not None:
            yield "bad_row", self.first_bad
        yield "partial", {"acc": self.acc.to_dict(), "bad": self.bad_counts}

    def reducer_add_partials(self, key, values):
        values = list(values)
        if key == "bad_row":
            yield key, min(values, key=lambda v: json.dumps(v, sort_keys=True))
            return
        total = kernels.merge_partials([v["acc"] for v in values])
        bad = {}
        for v in values:
            for reason, count in v["bad"].items():
                bad[reason] = bad.get(reason, 0) + count
        yield key, {"acc": total.to_dict(), "bad": bad}

    def steps(self):
        return [MRStep(mapper_init=self.mapper_init,
                       mapper=self.mapper_collect_rows,
                       mapper_final=self.mapper_emit_partial,
                       reducer=self.reducer_add_partials)]


if __name__ == "__main__":
    MRLinRegPass.run()
