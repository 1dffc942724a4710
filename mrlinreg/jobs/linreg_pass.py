"""One pass over the data as a MapReduce job: partial sums per mapper, one reducer adds them.

Mappers read their split as multi-megabyte byte chunks (:mod:`mrlinreg.chunks`:
one pyarrow call per chunk, no per-line Python), fold them into partial sums and emit them
once from ``mapper_final``, under one of ``buckets`` keys chosen from their
split (:func:`mrlinreg.numerics.merge.reducer_key`); the reducers merge each
key's partials in a canonical order and the driver merges the (at most
``buckets``) results in a canonical order.  The result does not depend on
which mapper finished first, nor on how many reduce tasks share the keys
(``mapreduce.job.reduces``, default 1).  What a pass computes comes from the
``--params`` side file written by the driver (pass kind, row format,
scaling, candidate weights).  Hadoop streaming runs this file
as ``python linreg_pass.py --mapper ...``; it never imports the driver.
"""

import argparse
import json
from collections import Counter
import os
import threading
import time

import mrlinreg.compat  # noqa: F401  (before mrjob: Python 3.12+)
import numpy as np
from mrjob.compat import jobconf_from_env
from mrjob.job import MRJob
from mrjob.protocol import JSONProtocol, RawValueProtocol
from mrjob.step import MRStep

from mrlinreg import columnar, kernels
from mrlinreg.codec import decode_array
from mrlinreg.design import Design, LevelsAccumulator
from mrlinreg.chunks import decode_line, drop_header_lines, parse_chunk, read_chunks
from mrlinreg.numerics.curve import expand_powers
from mrlinreg.numerics.fused import FusedAccumulator
from mrlinreg.numerics.merge import reducer_key
from mrlinreg.parsing import (MAX_MAGNITUDE, RowFormat, name_weight_reasons, split_columns,
                              split_weights)


def n_design_columns(params):
    """Columns of the design a pass's mappers build: a formula's, the features' powers
    1..K (``design: {"degree": K}``), or the features."""
    if "formula" in params:
        return len(Design.from_dict(params["formula"]).columns)
    degree = (params.get("design") or {}).get("degree", 1)
    return len(params["format"]["feature_idx"]) * degree


#: The bad-row reason of a negative row weight (``--weight-column``; a non-finite one is
#: ``non_finite``, as any non-finite field).
BAD_WEIGHT = "negative_weight"


def is_weighted(params):
    """Whether a pass reads row weights: its row format names a weight column."""
    return params["format"].get("weight_idx") is not None


def make_weighted_accumulator(params):
    """The weighted twin of a pass's accumulator (``--weight-column``)."""
    kind = params["pass"]
    if kind == "moments":
        return kernels.WeightedMomentsAccumulator(n_design_columns(params) + 1)
    if kind == "fused":
        return kernels.WeightedFusedAccumulator(n_design_columns(params))
    if kind == "evaluate":
        return kernels.WeightedEvaluateAccumulator(
            decode_array(params["points"]), decode_array(params["directions"]),
            decode_array(params["shift"]), decode_array(params["scale"]),
            params["fit_intercept"], params.get("hessian", False))
    if kind == "hc_meat":
        return kernels.WeightedMeatAccumulator(
            decode_array(params["w"]), decode_array(params["R"]), decode_array(params["shift"]),
            decode_array(params["scale"]), params["fit_intercept"])
    raise ValueError(f"pass kind {kind!r} has no weighted form")


def make_accumulator(params):
    """Build the accumulator a pass's ``params`` ask for."""
    kind = params["pass"]
    if is_weighted(params):
        return make_weighted_accumulator(params)
    if kind == "levels":
        return LevelsAccumulator(params["max_levels"])
    if kind == "levels":
        return LevelsAccumulator(params["max_levels"])
    if kind == "moments":
        return kernels.MomentsAccumulator(n_design_columns(params) + 1)
    if kind == "fused":  # moments and the R factor in one pass
        return FusedAccumulator(n_design_columns(params))
    if kind == kernels.FOLD_FUSED_PASS:  # --cv: moments here, the R factors per fold in
        return kernels.XYMomentsAccumulator(n_design_columns(params))  # the fold add-on
    shift, scale = decode_array(params["shift"]), decode_array(params["scale"])
    if kind == "evaluate":
        return kernels.EvaluateAccumulator(
            decode_array(params["points"]), decode_array(params["directions"]),
            shift, scale, params["fit_intercept"], params.get("hessian", False),
            sample_size=params.get("sample_size", 0))
    if kind == "tsqr":
        return kernels.QRAccumulator(shift, scale, params["fit_intercept"])
    if kind == "residual":  # original units: shift and scale are not used
        return kernels.ResidualAccumulator(decode_array(params["b_hi"]),
                                           decode_array(params["b_lo"]), params["fit_intercept"])
    if kind == "hc_meat":  # --cov-type: the sandwich's meat at the fitted weights
        return kernels.MeatAccumulator(decode_array(params["w"]), decode_array(params["R"]),
                                       shift, scale, params["fit_intercept"])
    if kind == "huber_irls":  # --loss huber: one IRLS pass (weighted TSQR at w)
        return kernels.HuberIRLSAccumulator(decode_array(params["w"]), params["delta"],
                                            shift, scale, params["fit_intercept"])
    if kind == "abs_residual_sketch":  # --loss huber: a round of the median of |r|
        edges = params["edges"]
        return kernels.AbsResidualSketch(decode_array(params["w"]), shift, scale,
                                         params["fit_intercept"],
                                         edges if edges == "log" else decode_array(edges),
                                         params["collect"])
    raise ValueError(f"unknown pass kind {kind!r}")


def fold_block(acc, kind, X, y, weights=None):
    """Add a block's design ``X`` and label ``y`` (and row ``weights``, when the pass is
    weighted) to a pass's accumulator: the one way text and columnar blocks reach the sums."""
    if weights is not None and kind == "moments":
        acc.add(np.column_stack([X, y]), weights)
    elif weights is not None:
        acc.add(X, y, weights)
    elif kind == "moments":  # features and label, one matrix
        acc.add(np.column_stack([X, y]))
    else:
        acc.add(X, y)


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
        self.add_passthru_arg("--columnar", action="store_true",
                              help=argparse.SUPPRESS)  # input: a manifest of row groups

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
        self.folds = kernels.fold_addon(self.params)  # --cv: per-fold R factors, same pass
        self.bad_counts = {}
        self.first_bad = None
        self.stopped = False
        self.pending = []  # text lines from a caller that does not send chunks

    def run_mapper(self, step_num=0):
        """Feed the mapper whole byte chunks of the task's input (mrjob would call it once
        per decoded line: that per-line Python cost more than parsing).  Columnar input
        is a manifest of row groups, one line each: mrjob's own line reading."""
        if getattr(self.options, "columnar", False):
            return super().run_mapper(step_num)
        _, write_line = self._wrap_protocols(step_num, "mapper")
        chunks = ((None, chunk) for chunk in read_chunks(self.stdin))
        for key, value in self.map_pairs(chunks, step_num):
            write_line(key, value)

    def mapper_fold_chunk(self, _, chunk):
        """Parse one chunk of whole lines in one call and fold its good rows in.

        A caller that skips :meth:`run_mapper` (mrjob's Spark harness calls
        ``map_pairs`` with one text line at a time) gets its lines gathered into
        chunks of ``block_rows`` lines first."""
        if isinstance(chunk, str):
            self.pending.append(chunk.encode("utf-8"))
            if len(self.pending) < self.block_rows:
                return
            chunk, self.pending = b"\n".join(self.pending) + b"\n", []
        if self.stopped or not chunk:
            return
        self.increment_counter("mrlinreg", "bytes read", len(chunk))
        chunk, _ = drop_header_lines(chunk, self.fmt.header, self.at_file_start,
                                     anywhere=not self.known_file)
        self.at_file_start = False
        # MAX_MAGNITUDE: no overflowing squares
        if self.design is None:
            block = parse_chunk(chunk, self.fmt, MAX_MAGNITUDE, self.block_rows)
            if block.bad and self.fmt.weight_idx is not None:  # a NaN/inf weight: named
                block.bad = name_weight_reasons(chunk.split(b"\n"), block.bad, self.fmt)
        else:  # a formula: the raw columns (strings for C()), then the design's [X y]
            lines = chunk.split(b"\n")
            if lines and not lines[-1]:
                lines.pop()
            block = self.design.parse_block(lines, self.fmt, MAX_MAGNITUDE)
            for note, count in block.notes.items():
                self.increment_counter("mrlinreg notes", note, count)
        self.increment_counter("mrlinreg", "rows read", len(block.values) + len(block.bad))
        if block.bad:
            for reason, count in Counter(reason for _, reason in block.bad).items():
                self.bad_counts[reason] = self.bad_counts.get(reason, 0) + count
                self.increment_counter("mrlinreg bad rows", reason, count)
            if self.fail_fast:
                i, reason = block.bad[0]
                line = chunk.split(b"\n", i + 1)[i].rstrip(b"\r")
                self.first_bad = {"file": self.input_file or "?",
                                  "reason": reason, "line": decode_line(line)[:500]}
                self.stopped = True
                return
        if self.params["pass"] == "levels":
            self.acc.add(block.levels)
        else:
            self._fold(block.values, chunk, block.bad)
        return
        yield  # a generator, as mrjob expects

    def _fold(self, values, chunk=None, bad=(), where=None):
        """Fold a block of good rows into the sums (and the fold add-on): the design
        transform first.  ``chunk``/``bad``: the text the rows came from (the fold of a
        row is a hash of its line); ``where``: the block's file, for a fatal bad row."""
        X, y, keep = self._design(*split_columns(values, self.values_fmt))
        weights = split_weights(values, self.fmt)
        if weights is not None and not self.stopped:
            X, y, weights = self._drop_bad_weights(X, y, weights, chunk, bad, where)
            if self.stopped:
                return
        if self.stopped:
            if chunk is not None and keep is not None:  # the line of the first bad row
                lines = chunk.split(b"\n")
                good = np.delete(np.arange(len(lines)), [i for i, _ in bad])
                self.first_bad["line"] = decode_line(
                    lines[int(good[np.argmin(keep)])].rstrip(b"\r"))[:500]
            elif where is not None:
                self.first_bad["line"] = where
            return
        folds = None
        if self.folds is not None and chunk is not None:
            folds = kernels.chunk_folds(chunk, bad, self.folds.n_folds)
            folds = folds if keep is None else folds[keep]
        # blocks of block_rows rows, whatever the chunk size: the sums then see the same
        # blocks from a text chunk as from columnar batches (identical bits)
        b = self.block_rows
        for s in range(0, len(y), b):
            fold_block(self.acc, self.params["pass"], X[s:s + b], y[s:s + b],
                       None if weights is None else weights[s:s + b])
            if folds is not None:
                self.folds.add(X[s:s + b], y[s:s + b], folds[s:s + b])

    def _drop_bad_weights(self, X, y, weights, chunk, bad, where):
        """Rows with a negative weight are ``negative_weight`` bad rows: counted and
        dropped, or (``--on-bad-row fail``) the end of the task, naming the line."""
        negative = weights < 0
        if not negative.any():
            return X, y, weights
        if self.fail_fast:
            line = where or "?"
            if chunk is not None:
                lines = chunk.split(b"\n")
                good = np.delete(np.arange(len(lines)), [i for i, _ in bad])
                line = decode_line(lines[int(good[np.argmax(negative)])].rstrip(b"\r"))[:500]
            self.first_bad = {"file": self.input_file or "?", "reason": BAD_WEIGHT,
                              "line": line}
            self.stopped = True
            return X[:0], y[:0], weights[:0]
        n_bad = int(negative.sum())
        self.bad_counts[BAD_WEIGHT] = self.bad_counts.get(BAD_WEIGHT, 0) + n_bad
        self.increment_counter("mrlinreg bad rows", BAD_WEIGHT, n_bad)
        keep = ~negative
        return X[keep], y[keep], weights[keep]

    def _design(self, X, y):
        """The design transform of the pass (``design: {"degree": K}``: powers 1..K of
        every feature, degree-major); rows whose powers leave the magnitude limit are
        ``out_of_range`` bad rows, counted (or fatal) as the parser's are.  Returns
        ``(X, y, keep)``, ``keep`` the mask of the rows kept (None: all)."""
        degree = (self.params.get("design") or {}).get("degree", 1)
        if degree == 1:
            return X, y, None
        X = expand_powers(X, degree)
        ok = np.all(np.abs(X) <= MAX_MAGNITUDE, axis=1)  # NaN compares False: dropped too
        if ok.all():
            return X, y, None
        if self.fail_fast:
            self.first_bad = {"file": self.input_file or "?", "reason": "out_of_range",
                              "line": "?"}
            self.stopped = True
            return X[:0], y[:0], ok
        n_bad = int((~ok).sum())
        self.bad_counts["out_of_range"] = self.bad_counts.get("out_of_range", 0) + n_bad
        self.increment_counter("mrlinreg bad rows", "out_of_range", n_bad)
        return X[ok], y[ok], ok

    def mapper_emit_partial(self):
        if self.pending:
            chunk, self.pending = b"\n".join(self.pending) + b"\n", []
            yield from self.mapper_fold_chunk(None, chunk)
        if self.first_bad is not None:
            yield "bad_row", self.first_bad
        key = self._partial_key()
        yield key, {"acc": self.acc.to_dict(), "bad": self.bad_counts}
        if self.folds is not None:  # the same merge key: bounded reducer input here too
            for suffix, part in kernels.addon_records(self.folds):  # (one-pass CV: per fold)
                yield key.replace("partial", kernels.FOLD_ADDON_KEY, 1) + suffix, \
                    {"acc": part, "bad": {}}

    def _partial_key(self):
        """``partial <b>``: the merge key of this split, ``b`` a pure function of the
        split's file and start offset (the same in every attempt, run and runner)."""
        start = int(jobconf_from_env("mapreduce.map.input.start", "0") or 0)
        return f"partial {reducer_key(self.input_file, start, int(self.params.get('buckets', 1)))}"

    def reducer_add_partials(self, key, values):
        values = list(values)
        if key == "bad_row":
            yield key, min(values, key=lambda v: json.dumps(v, sort_keys=True))
            return
        total, bad = kernels.merge_partial_records(values)
        # "partial <b>" -> "partial", "fold_tsqr <b>" -> "fold_tsqr": the driver merges
        # the keys' results of each family
        yield key.split(" ")[0], {"acc": total.to_dict(), "bad": bad}

    def mapper_fold_units(self, _, line):
        """Columnar input: each line names one row group (stripe) of a Parquet (ORC)
        file, read in batches of ``block_rows`` rows, only the model's columns."""
        if self.stopped or not line.strip():
            return
        spec = self.params["columnar"]
        unit = columnar.Unit.from_line(line)
        webhdfs = columnar.WebHdfs(**spec["webhdfs"]) if spec.get("webhdfs") else None
        for block in columnar.read_unit(unit, spec["columns"], self.block_rows, webhdfs,
                                        MAX_MAGNITUDE):
            for row, reason in block.bad:
                self.bad_counts[reason] = self.bad_counts.get(reason, 0) + 1
                self.increment_counter("mrlinreg bad rows", reason, 1)
            if block.bad and self.fail_fast:
                row, reason = block.bad[0]
                self.first_bad = {"file": unit.path, "reason": reason,
                                  "line": f"row {row} of the file"}
                self.stopped = True
                return
            self._fold(block.values, where=f"a row of {unit.path}")
            if self.stopped:
                return
        return
        yield  # a generator, as mrjob expects

    def steps(self):
        columnar_input = getattr(self.options, "columnar", False)
        return [MRStep(mapper_init=self.mapper_init,
                       mapper=self.mapper_fold_units if columnar_input
                       else self.mapper_fold_chunk,
                       mapper_final=self.mapper_emit_partial,
                       reducer=self.reducer_add_partials)]


if __name__ == "__main__":
    MRLinRegPass.run()
