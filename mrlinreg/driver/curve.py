"""A validation curve: training and validation error of nested models, from R factors.

    training data:   moments pass -> shift/scale -> TSQR pass  (R of [A y], largest model)
    validation data: TSQR pass with the same shift/scale        (R_v)
    then, in the driver, every nested model from R and its held-out error from R_v
    (:mod:`mrlinreg.numerics.curve`).

Three passes in all, whatever the number of nested models (two without
validation data).  With ``degree`` K the passes expand every feature into its
powers 1..K inside the mapper (the ``design`` parameter of
:class:`~mrlinreg.jobs.linreg_pass.MRLinRegPass`).
"""

from __future__ import annotations

import shutil
import tempfile

import numpy as np

from mrlinreg.codec import encode_array
from mrlinreg.driver.passes import PassRunner
from mrlinreg.driver.train import new_run_id, open_dataset
from mrlinreg.driver.training import Progress
from mrlinreg.errors import TrainingError
from mrlinreg.numerics import curve
from mrlinreg.numerics.scaling import standardization
from mrlinreg.options import CurveOptions, TrainOptions
from mrlinreg.records import CurvePoint, ValidationCurve
from mrlinreg.storage.snapshot_format import utc_now


def _dataset_options(opts: CurveOptions, **over) -> TrainOptions:
    base = dict(label=opts.label, features=opts.features, schema=opts.schema,
                delimiter=opts.delimiter, header=opts.header)
    base.update(over)
    return TrainOptions(**base)


def run_curve(opts: CurveOptions, inputs, mrjob_args, fs, progress=None) -> ValidationCurve:
    """Fit every nested model and return the :class:`ValidationCurve` (every number finite).

    Parameters
    ----------
    opts : CurveOptions
        Validated options; ``degree`` None gives the ``terms`` curve (the first k
        features for k = 1..d, in the order of ``features``).
    inputs : list of str
        Training files, folders or ``hdfs://`` URIs.
    mrjob_args : list of str
        mrjob's options, forwarded to every pass.
    fs : mrlinreg.fs.FileSystem
    """
    progress = progress or Progress(opts.quiet)
    data = open_dataset(inputs, fs, _dataset_options(opts))
    validation = (open_dataset(opts.validation, fs, _dataset_options(
        opts, label=data.label, features=data.features)) if opts.validation else None)
    degree = opts.degree or 1
    design = {"degree": degree}
    d = len(data.features)
    names = curve.expanded_names(data.features, degree)
    groups = curve.nested_groups(opts.kind, d, degree)
    workdir = tempfile.mkdtemp(prefix="mrlinreg-curve-")
    try:
        passes = PassRunner(list(mrjob_args) + list(data.inputs), workdir,
                            block_rows=opts.block_rows, on_bad_row=opts.on_bad_row)
        fmt = data.fmt.to_dict()
        moments = passes.run({"pass": "moments", "format": fmt, "design": design})
        n, mean, m2 = moments.acc.n, moments.acc.mean, moments.acc.m2
        bad = int(sum(moments.bad_rows.values()))
        if n == 0:
            raise TrainingError("no valid rows in the input" +
                                (f" ({bad} bad rows skipped)" if bad else ""))
        q = len(names)
        shift, scale = standardization(mean[:q], np.sqrt(m2 / n)[:q],
                                       np.sqrt(m2 / n + mean**2)[:q], opts.fit_intercept,
                                       opts.standardize)
        tsqr = {"pass": "tsqr", "design": design, "shift": encode_array(shift),
                "scale": encode_array(scale), "fit_intercept": opts.fit_intercept}
        progress.say(f"{n} rows, {d} features, {q} design columns; {opts.kind} curve of "
                     f"{len(groups)} nested models")
        R = passes.run(dict(tsqr, format=fmt)).acc.R
        R_val, n_val, vpasses = None, None, 0
        if validation is not None:
            vrunner = PassRunner(list(mrjob_args) + list(validation.inputs), workdir,
                                 block_rows=opts.block_rows, on_bad_row=opts.on_bad_row)
            vacc = vrunner.run(dict(tsqr, format=validation.fmt.to_dict())).acc
            vpasses = vrunner.passes
            if vacc.n == 0:
                raise TrainingError("no valid rows in the validation input")
            R_val, n_val = vacc.R, int(vacc.n)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    points, warnings = [], []
    for fit in curve.nested_fits(R, groups, opts.fit_intercept):
        added = [names[c] for c in groups[fit.size - 1]]
        if fit.rank_deficient:
            warnings.append(f"step {fit.size} (adding {', '.join(added)}) makes the columns "
                            "linearly dependent: the curve stops before it")
            break
        coef, intercept = curve.original_units(fit, shift, scale, opts.fit_intercept, q)
        used = sorted(c for c in fit.columns if c < q)
        val = None if R_val is None else curve.validation_sse(R_val, fit) / n_val
        points.append(CurvePoint(
            size=fit.size, terms=added, n_params=len(fit.columns),
            train_mse=fit.sse / n, validation_mse=val,
            coefficients={names[c]: float(coef[c]) for c in used}, intercept=intercept))
    if not points:
        raise TrainingError(warnings[0] if warnings else "no nested model could be fitted")
    result = ValidationCurve(
        run_id=new_run_id(), model_name=opts.model_name, created_at=utc_now(), kind=opts.kind,
        label=data.label, features=list(data.features), n_rows=int(n),
        validation_n_rows=n_val, bad_rows=bad, points=points,
        passes=passes.passes + vpasses, warnings=warnings)
    for w in warnings:
        progress.say(f"warning: {w}")
    try:
        result.to_json()
    except ValueError:
        raise TrainingError("a nested model's error overflowed double precision (non-finite); "
                            "lower <opt:degree> or rescale the features") from None
    return result

