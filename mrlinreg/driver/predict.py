"""Score inputs with a model: run the scoring job, then write and/or publish its lines.

:func:`score` takes the model as a typed :class:`~mrlinreg.records.ModelRecord`,
so the pipeline hands the model it has just trained straight over; the command
line reads it from a file first with :func:`load_model`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile

from mrjob.step import StepFailedException

from mrlinreg.driver.inputs import input_files, resolve_format
from mrlinreg.driver.passes import build_package_zip
from mrlinreg.errors import InputError, PassError, RecordFormatError
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


def prediction_rows(lines):
    """Parse the job's CSV lines into the columns of the ``predictions`` table."""
    cols = {"input_file": [], "row_index": [], "y_true": [], "prediction": []}
    for line in lines:
        f, idx, y, p = line.rsplit(",", 3)
        cols["input_file"].append(f.strip('"'))
        cols["row_index"].append(int(idx) if idx else None)
        cols["y_true"].append(float(y) if y else None)
        cols["prediction"].append(float(p))
    return cols


def score(model: ModelRecord, opts: PredictOptions, inputs, mrjob_args, fs, config,
          say=print) -> int:
    """Score ``inputs``; write the lines to ``opts.output`` and/or publish them.

    Returns the number of prediction lines.
    """
    check_coefficients(model)
    fmt, features, _ = resolve_format(inputs, fs, features=model.features, label=model.label,
                                      require_label=False, header=opts.header)
    coef = [model.coefficients[f] for f in features]
    workdir = tempfile.mkdtemp(prefix="mrlinreg-predict-")
    try:
        params = {"format": fmt.to_dict(), "on_bad_row": opts.on_bad_row,
                  "block_rows": opts.block_rows, "coef": coef, "intercept": model.intercept}
        params_path = os.path.join(workdir, "params.json")
        job = MRPredict(args=["--params", params_path, "--py-files", build_package_zip(workdir),
                              *mrjob_args, *input_files(inputs, fs)])
        # only runners that feed the mapper the file's own lines know byte offsets
        params["offsets"] = (job.options.runner or "inline") in OFFSET_RUNNERS
        with open(params_path, "w") as f:
            json.dump(params, f)
        lines, count = [], 0
        try:
            with job.make_runner() as runner:
                runner.run()
                out = open(opts.output, "w") if opts.output else None
                try:
                    for chunk in runner.cat_output():
                        text = chunk.decode("utf-8")
                        count += text.count("\n")
                        if out:
                            out.write(text)
                        if opts.publish:
                            lines.extend(line for line in text.splitlines() if line)
                finally:
                    if out:
                        out.close()
        except StepFailedException as e:
            raise PassError(f"the scoring job failed: {e}. The task logs above say why.") \
                from None
        if opts.publish:
            with open_results_store(config) as store:
                store.publish_predictions(model.run_id, prediction_rows(lines))
            say(f"published {len(lines)} predictions for run {model.run_id}")
        return count
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
