"""``python jobs/predict.py --model MODEL.json ...``: score, then write and/or publish.

Exit status as for training: 0 done, 1 the job failed, 2 wrong command or input.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile

from pipelines.cli import _quiet_mrjob
from pipelines.inputs import InputError, resolve_format
from pipelines.passes import build_package_zip


def load_model(path, fs) -> dict:
    """Read a model JSON from a local path or through mrjob's filesystem (hdfs://)."""
    try:
        if "://" not in path:
            with open(path) as f:
                return json.load(f)
        return json.loads(b"".join(fs.cat(path)).decode("utf-8"))
    except (OSError, IOError) as e:
        raise InputError(f"cannot read model {path}: {e}") from None
    except json.JSONDecodeError as e:
        raise InputError(f"model {path} is not valid JSON: {e}") from None


def prediction_rows(lines):
    """Parse the job's CSV lines into the columns of the ``predictions`` table."""
    cols = {"input_file": [], "row_index": [], "y_true": [], "prediction": []}
    for line in lines:
        f, idx, y, p = line.rsplit(",", 3)
        cols["input_file"].append(f.strip('"'))
        cols["row_index"].append(int(idx))
        cols["y_true"].append(float(y) if y else None)
        cols["prediction"].append(float(p))
    return cols


def main(argv=None) -> int:
    from jobs.predict import MRPredict

    argv = sys.argv[1:] if argv is None else list(argv)
    _quiet_mrjob()
    job = MRPredict(args=argv)
    opts = job.options
    if not opts.model or not opts.args:
        print("error: give --model MODEL.json and at least one INPUT", file=sys.stderr)
        return 2
    workdir = tempfile.mkdtemp(prefix="mrlinreg-predict-")
    try:
        with job.make_runner() as r:
            fs = r.fs
        model = load_model(opts.model, fs)
        fmt, features, label = resolve_format(
            opts.args, fs, features=model["features"], label=model.get("label"),
            require_label=False)
        params = {"format": fmt.to_dict(), "on_bad_row": opts.on_bad_row,
                  "coef": [model["coefficients"][f] for f in features],
                  "intercept": model["intercept"]}
        params_path = os.path.join(workdir, "params.json")
        with open(params_path, "w") as f:
            json.dump(params, f)
        args = ["--params", params_path, "--py-files", build_package_zip(workdir)] + argv
        job = MRPredict(args=args)
        lines = []
        with job.make_runner() as runner:
            runner.run()
            out = open(opts.output, "w") if opts.output else None
            try:
                for chunk in runner.cat_output():
                    text = chunk.decode("utf-8")
                    if out:
                        out.write(text)
                    if opts.publish:
                        lines.extend(line for line in text.splitlines() if line)
            finally:
                if out:
                    out.close()
        if opts.publish:
            from mrlinreg.config import load_config
            from mrlinreg.storage.factory import open_results_store

            with open_results_store(load_config()) as store:
                store.publish_predictions(model["run_id"], prediction_rows(lines))
            print(f"published {len(lines)} predictions for run {model['run_id']}",
                  file=sys.stderr)
        return 0
    except (InputError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a failed step, an unreachable store: one line, no traceback
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
