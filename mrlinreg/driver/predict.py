"""Score inputs with a model: run the scoring job, then write and/or publish its lines.

:func:`score` takes the model as a typed :class:`~mrlinreg.records.ModelRecord`,
so the pipeline hands the model it has just trained straight over; the command
line reads it from a file first with :func:`load_model`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile

from mrjob.step import StepFailedException

from mrlinreg.driver.columnar_inputs import columnar_inputs
from mrlinreg.driver.interrupt import new_job_tag, stopping_job
from mrlinreg.driver.inputs import input_files, listing, resolve_format
from mrlinreg.driver.passes import build_package_zip
from mrlinreg.driver.runners import make_runner
from mrlinreg.design import Design
from mrlinreg.errors import InputError, OptionError, PassError, RecordFormatError
from mrlinreg.formula import FormulaError
from mrlinreg.jobs.predict import MRPredict
from mrlinreg.options import PredictOptions
from mrlinreg.records import ModelRecord
from mrlinreg.storage.factory import open_results_store

#: Runners whose mappers read the input files' bytes themselves, from a known start.
OFFSET_RUNNERS = ("inline", "local")


def load_model(path, fs) -> ModelRecord:
    """Read a model JSON from a local path or HDFS (through :class:`mrlinreg.fs.FileSystem`)."""
    try:
        data = json.loads(fs.read_bytes(path).decode("utf-8"))
    except (OSError, IOError) as e:
        raise InputError(f"cannot read model {path}: {e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"model {path} is not valid JSON: {e}") from None
    try:
        model = ModelRecord.from_json(data)
    except RecordFormatError as e:
        raise InputError(f"model {path}: {e}") from None
    except (TypeError, ValueError, KeyError) as e:  # e.g. a null where a number belongs
        raise InputError(f"model {path} is not a model record mrlinreg can read: {e}") \
            from None
    check_coefficients(model, f"model {path}")
    return model


def _finite(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def check_coefficients(model: ModelRecord, where: str = "the model") -> None:
    """Refuse a model whose coefficients or intercept are not all finite numbers (a NaN
    would make every prediction NaN, which the job drops: an empty output, exit 0)."""
    bad = {name: model.coefficients.get(name) for name in model.features
           if not _finite(model.coefficients.get(name))}
    if not _finite(model.intercept):
        bad["intercept"] = model.intercept
    if bad:
        detail = ", ".join(f"{k} = {v!r}" for k, v in bad.items())
        raise InputError(f"{where} cannot score: its coefficients must be finite numbers, "
                         f"but {detail}. Train it again")


def formula_design(model: ModelRecord, unseen_level: str = "error"):
    """The design of a ``--formula`` model (None for other models); its columns must be
    the model's features."""
    if not model.formula:
        return None
    try:
        design = Design(model.formula["text"], model.formula["levels"], unseen_level)
    except (FormulaError, KeyError, TypeError) as e:
        raise InputError(f"the model's formula cannot be read: {e}") from None
    if design.feature_names != list(model.features):
        raise InputError("the model's formula and levels do not give its features "
                         f"{model.features} (they give {design.feature_names})")
    return design


def report_counters(counters, say) -> None:
    """Say how many rows were skipped (per reason) and scored with a note."""
    totals = {}
    for step in counters or []:
        for group in ("mrlinreg bad rows", "mrlinreg notes"):
            for name, count in (step.get(group) or {}).items():
                totals[(group, name)] = totals.get((group, name), 0) + count
    skipped = {n: c for (g, n), c in totals.items() if g == "mrlinreg bad rows"}
    if skipped:
        say(f"skipped {sum(skipped.values())} rows: " + ", ".join(
            f"{n.replace('_', ' ')} {c}" for n, c in sorted(skipped.items())))
    if totals.get(("mrlinreg notes", "unseen_level")):
        say(f"scored {totals[('mrlinreg notes', 'unseen_level')]} rows with a level unseen "
            "in training as the reference level")


def batch_id(inputs) -> str:
    """The predictions batch of one invocation: a short hash of its sorted input paths
    (scoring the same inputs again replaces the batch, other inputs add one)."""
    text = "\n".join(sorted(str(p) for p in inputs)).encode("utf-8")
    return hashlib.sha1(text).hexdigest()[:12]


def _tee(chunks, path):
    """Yield ``chunks`` and write them to ``path`` on the way (None: just yield)."""
    if path is None:
        yield from chunks
        return
    with open(path, "wb") as out:
        for chunk in chunks:
            out.write(chunk)
            yield chunk


def score(model: ModelRecord, opts: PredictOptions, inputs, mrjob_args, fs, config,
          say=print) -> str | None:
    """Score ``inputs``; write the lines to ``opts.output`` and/or publish them.

    Publishing to Hive with the hadoop runner, the job writes straight into a new
    folder of the ``predictions`` table and the driver only registers it; otherwise
    the job's output streams through the driver into the results store.

    Returns the predictions batch id when published, else None.
    """
    check_coefficients(model)
    listed = None if opts.hive_table else listing(inputs, fs)
    design = formula_design(model, opts.unseen_level)
    found = None if design is not None else columnar_inputs(
        inputs, fs, input_format=opts.input_format, hive_table=opts.hive_table,
        where=opts.where, label=model.label, features=model.features, require_label=False,
        config=config, listed=listed)
    source = None
    if found is not None:  # Parquet/ORC files or a table: the job reads a manifest
        files, fmt, features, _, source = found
    else:
        if design is not None and (opts.hive_table or opts.input_format in ("parquet", "orc")):
            raise OptionError("a <opt:formula> model scores delimited text rows; Parquet/ORC "
                              "input or a table is not supported for it yet", "input_format")
        features, label = model.features, model.label
        if design is not None:  # the columns the formula reads; the tasks build the design
            label, features = design.formula.label_column, design.raw_columns
        fmt, features, _ = resolve_format(inputs, fs, features=features, label=label,
                                          require_label=False, header=opts.header,
                                          listed=listed)
        if design is not None:
            features = model.features
        files = input_files(inputs, fs, listed)
    if opts.publish and any(c in f for f in files for c in "\t\n\r"):
        raise InputError("an input path holds a tab or a line break: the predictions table "
                         "cannot store it")
    coef = [model.coefficients[f] for f in features]
    batch = batch_id(files) if opts.publish else None
    workdir = tempfile.mkdtemp(prefix="mrlinreg-predict-")
    store = open_results_store(config) if opts.publish else None
    try:
        params = {"format": fmt.to_dict(), "on_bad_row": opts.on_bad_row,
                  "block_rows": opts.block_rows, "coef": coef, "intercept": model.intercept}
        if design is not None:
            params["formula"] = design.to_dict()
        params_path = os.path.join(workdir, "params.json")
        tag = new_job_tag()  # to find and kill its YARN application if we are stopped
        args = ["--params", params_path, "--py-files", build_package_zip(workdir),
                "--jobconf", f"mapreduce.job.tags={tag}", *mrjob_args]
        runner_name = MRPredict(args=list(mrjob_args)).options.runner or "inline"
        # only runners that feed the mapper the file's own lines know byte offsets
        params["offsets"] = runner_name in OFFSET_RUNNERS
        job_inputs = files
        if source is not None:  # row numbers in the file: exact on every runner
            params.update(offsets=True, columnar=source.params())
            args.append("--columnar")
            job_inputs = source.write_manifests(tempfile.mkdtemp(prefix="manifest-",
                                                                 dir=workdir))
        if runner_name == "local":  # its tasks stop when this driver is gone
            params["driver_pid"] = os.getpid()
        with open(params_path, "w") as f:
            json.dump(params, f)
        direct = (store is not None and hasattr(store, "predictions_folder")
                  and runner_name == "hadoop")
        folder = store.predictions_folder(model.run_id, batch) if direct else None
        if folder:
            args += ["--output-dir", folder]
        job = MRPredict(args=args + job_inputs)
        try:
            with stopping_job(runner_name, tag), make_runner(job) as runner:
                runner.run()
                if folder:
                    store.register_predictions(model.run_id, batch, folder)
                    if opts.output:
                        for _ in _tee(runner.cat_output(), opts.output):
                            pass
                elif store is not None:
                    store.write_predictions(model.run_id, batch,
                                            _tee(runner.cat_output(), opts.output))
                elif opts.output:
                    for _ in _tee(runner.cat_output(), opts.output):
                        pass
            report_counters(runner.counters(), say)
        except StepFailedException as e:
            raise PassError(f"the scoring job failed: {e}. The task logs above say why.") \
                from None
        if store is not None:
            say(f"published the predictions of {len(files)} input file(s) for run "
                f"{model.run_id} as batch {batch}")
        return batch
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
