"""Train a model: the run under its lock, snapshots, resume, validation, the record.

:func:`train_model` is what ``mrlinreg train`` (and ``python jobs/linreg.py``)
calls; it returns a typed :class:`~mrlinreg.records.ModelRecord` and prints nothing
but progress.  Publishing and writing files are separate steps
(:mod:`mrlinreg.driver.publish`, :class:`mrlinreg.fs.FileSystem`).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from datetime import datetime, timezone

from mrlinreg.driver.columnar_inputs import open_columnar, pass_inputs, pass_params
from mrlinreg.driver import formula as formula_run
from mrlinreg.driver.inputs import input_files, listing, resolve_format
from mrlinreg.driver.lifecycle import SnapshotWriter, input_stamps, load_resume
from mrlinreg.driver.interrupt import abort
from mrlinreg.driver.passes import PassRunner
from mrlinreg.errors import OptionError
from mrlinreg.driver.training import Dataset, Progress, TrainingRun, evaluate_holdout
from mrlinreg.options import TrainOptions
from mrlinreg.records import ModelRecord
from mrlinreg.storage.factory import model_lock, open_snapshot_store
from mrlinreg.storage.snapshot_format import utc_now

RESUME_LOCK_WAIT_S = 90.0


def new_run_id() -> str:
    now = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{uuid.uuid4().hex[:8]}"


def open_dataset(inputs, fs, opts: TrainOptions, config=None) -> Dataset:
    """Resolve the inputs' format and columns (reads only the first line of each file,
    or a Parquet/ORC file's footer; ``--hive-table``: the table's files)."""
    listed = None if opts.hive_table else listing(inputs, fs)  # once: thousands of files
    columnar = open_columnar(inputs, fs, opts, config, listed)
    if columnar is not None:
        for name in ("formula", "cv_folds"):  # both read the text of each row
            if getattr(opts, name, None):
                raise OptionError(f"<opt:{name}> reads delimited text rows; it does not "
                                  "combine with Parquet/ORC input or <opt:hive_table> yet",
                                  name)
        return columnar
    label, features = opts.label, opts.features
    if opts.formula:  # the columns the formula reads
        label, features = formula_run.raw_columns(opts.formula)
    fmt, features, label = resolve_format(inputs, fs, delimiter=opts.delimiter,
                                          label=label, features=features,
                                          schema_path=opts.schema, header=opts.header,
                                          listed=listed, weight=opts.weight_column)
    return Dataset(tuple(input_files(inputs, fs, listed)), fmt, tuple(features), label)


def train_model(opts: TrainOptions, inputs, mrjob_args, fs, config, progress=None):
    """Fit a model and return its :class:`ModelRecord` (every number finite).

    Parameters
    ----------
    opts : TrainOptions
        Validated options.
    inputs : list of str
        Files, folders or ``hdfs://`` URIs.
    mrjob_args : list of str
        mrjob's options (runner, cores, jobconf...), forwarded to every pass.
    fs : mrlinreg.fs.FileSystem
    config : mrlinreg.config.Config
        Where snapshots and locks go.
    """
    progress = progress or Progress(opts.quiet)
    data = open_dataset(inputs, fs, opts, config)
    validation = (open_dataset(opts.validation, fs, TrainOptions(
        delimiter=opts.delimiter, label=None if opts.formula else data.label,
        features=None if opts.formula else data.features, formula=opts.formula,
        schema=opts.schema, header=opts.header, input_format=opts.input_format),
        config) if opts.validation else None)  # checked before any pass
    design = None
    workdir = tempfile.mkdtemp(prefix="mrlinreg-")
    samples = []  # the validation pass's residual sample (--residual-sample)
    try:
        passes = PassRunner(list(mrjob_args) + pass_inputs(data, workdir), workdir,
                            block_rows=opts.block_rows, on_bad_row=opts.on_bad_row,
                            model_name=opts.model_name, say=progress.say,
                            extra=pass_params(data))
        if opts.formula:  # the levels pass; then every pass builds the design's [X y]
            design = formula_run.discover_design(opts, data, passes, progress)
            data, opts = formula_run.design_dataset(data, design), \
                formula_run.design_options(opts, design)
        fingerprint = opts.fingerprint(data.features, data.label, inputs or [
            f"table:{opts.hive_table}" + (f" where {opts.where}" if opts.where else "")])
        # a killed trainer's ZooKeeper lock lives on until its session expires (seconds):
        # a resume waits that long for it rather than failing at once
        wait = opts.wait or opts.resume
        timeout = None if opts.wait else RESUME_LOCK_WAIT_S
        # a lost ZooKeeper lock stops the run at once (abort), and no snapshot is written
        # without the lock (guard); a snapshot store that is down does not stop it
        with model_lock(config, opts.model_name, wait=wait, timeout=timeout,
                        on_lost=abort) as lock, \
                open_snapshot_store(config, training=True) as snapshots:
            stamps = input_stamps(data.inputs, fs)
            resume = load_resume(snapshots, opts.model_name, fingerprint, stamps,
                                 warn=lambda m: progress.say(f"warning: {m}")) \
                if opts.resume else None
            run_id = resume.run_id if resume else new_run_id()
            earlier = resume.passes if resume else 0
            writer = SnapshotWriter(snapshots, opts.model_name, run_id, fingerprint,
                                    resumed=resume is not None, stamps=stamps,
                                    passes=lambda: earlier + passes.passes,
                                    warn=lambda m: progress.say(f"warning: {m}"),
                                    guard=lock.ensure_held,
                                    missing=resume.snapshots_missing if resume else ())
            vpasses = None
            if validation is not None:
                vpasses = PassRunner(list(mrjob_args) + pass_inputs(validation, workdir),
                                     workdir, block_rows=opts.block_rows,
                                     on_bad_row=opts.on_bad_row, model_name=opts.model_name,
                                     say=progress.say, extra=pass_params(validation))
                if "formula" in passes.extra:
                    vpasses.extra["formula"] = passes.extra["formula"]
            fit = TrainingRun(opts, data, passes, progress, on_iteration=writer,
                              resume=resume, holdout=None if vpasses is None
                              else (vpasses, validation.fmt)).fit()
            writer.finish()
        metrics = dict(fit.metrics)
        scaling = fit.scaling(opts)
        if validation is not None:
            held_out = evaluate_holdout(vpasses, validation.fmt, scaling, fit.w,
                                        sample_size=opts.residual_sample,
                                        on_sample=samples.append)
            metrics.update(held_out)
            progress.say("validation: " + ", ".join(
                f"{k[len('validation_'):]} {v:.6g}" for k, v in held_out.items()))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    coef, intercept = fit.coefficients(opts)
    options = {k: v for k, v in fingerprint.items() if k not in ("features", "label", "inputs")}
    options["max_iter"] = opts.max_iter
    record = ModelRecord(
        run_id=run_id, model_name=opts.model_name, created_at=utc_now(), options=options,
        solver=opts.solver, strategy=fit.context.strategy, label=data.label,
        features=list(data.features),
        coefficients={name: float(c) for name, c in zip(data.features, coef)},
        intercept=float(intercept), iterations=fit.iterations, converged=fit.converged,
        loss=fit.loss, n_rows=int(fit.context.n), bad_rows=fit.context.n_bad,
        bad_row_reasons={k: int(v) for k, v in fit.context.bad_rows.items()},
        passes=earlier + passes.passes + (fit.early_stopping or {}).get("val_loss_passes", 0),
        history=fit.history, metrics=metrics, scaling=scaling,
        working_weights=[float(v) for v in fit.w],
        warnings=[progress.text(w) for w in fit.warnings + writer.notes()],
        summary=fit.summary, objective=fit.objective,
        refinement=None if fit.refinement is None else list(fit.refinement.passes),
        path=fit.path, cv=fit.cv, selected=fit.selected,
        residual_sample=samples[0] if samples else None,
        formula=None if design is None else formula_run.formula_record(design),
        weight_column=opts.weight_column,
        huber=fit.huber, early_stopping=fit.early_stopping,
        snapshots_missing=sorted(writer.missing) or None)
    record.to_json()  # raises on any non-finite number before anything is printed
    return record
