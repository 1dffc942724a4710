"""``mrlinreg pipeline``: ingest -> train -> evaluate -> publish (-> predict), one command.

    mrlinreg pipeline [--upload-to DIR] [--predict INPUT ...] [jobs/linreg.py options] INPUT...

* ingest: with ``--upload-to``, local inputs are copied there first (``hdfs://`` through
  mrjob's filesystem, i.e. ``hadoop fs -put``; a local directory by copying) and training
  reads the copies.  Without it, INPUTs are used where they are (local or hdfs://).
* train + evaluate: ``jobs/linreg.py`` with ``--summary`` (statistics, MAE pass) and
  ``--publish`` (results to Hive, or the local Parquet warehouse), snapshots per iteration.
* predict: each ``--predict`` input is scored with the new model and published to the
  ``predictions`` table of the run.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import tempfile


def _take(argv, flag):
    """Remove every ``flag VALUE`` / ``flag=VALUE`` from argv; return (values, rest)."""
    values, rest, i = [], [], 0
    while i < len(argv):
        a = argv[i]
        if a == flag and i + 1 < len(argv):
            values.append(argv[i + 1])
            i += 2
            continue
        if a.startswith(flag + "="):
            values.append(a.split("=", 1)[1])
        else:
            rest.append(a)
        i += 1
    return values, rest


def ingest(inputs, dest, job_args) -> list:
    """Copy local inputs under ``dest`` (local dir or hdfs:// URI); return the new inputs."""
    from jobs.linreg import MRLinRegPass

    if "://" not in dest:
        os.makedirs(dest, exist_ok=True)
        out = []
        for src in inputs:
            target = os.path.join(dest, os.path.basename(os.path.normpath(src)))
            if os.path.isdir(src):
                shutil.copytree(src, target, dirs_exist_ok=True)
            else:
                shutil.copy2(src, target)
            out.append(target)
        return out
    with MRLinRegPass(args=job_args).make_runner() as runner:
        fs = runner.fs
        fs.mkdir(dest)
        out = []
        for src in inputs:
            if "://" in src:
                out.append(src)
                continue
            files = ([os.path.join(r, f) for r, _, fs_ in os.walk(src) for f in fs_]
                     if os.path.isdir(src) else [src])
            for f in files:
                target = dest.rstrip("/") + "/" + os.path.relpath(f, os.path.dirname(
                    os.path.normpath(src)))
                fs.mkdir(target.rsplit("/", 1)[0])  # HDFS puts into existing folders only
                if fs.exists(target):
                    fs.rm(target)
                fs.put(f, target)
            out.append(dest.rstrip("/") + "/" + os.path.basename(os.path.normpath(src)))
        return out


def main(argv=None) -> int:
    from jobs.linreg import MRLinRegPass
    from jobs.linreg import main as train_main
    from jobs.predict import main as predict_main

    argv = sys.argv[1:] if argv is None else list(argv)
    upload, argv = _take(argv, "--upload-to")
    predict_inputs, argv = _take(argv, "--predict")
    job = MRLinRegPass(args=argv)  # validates; exits 2 with usage on error
    inputs = job.options.args
    option_args = argv[:len(argv) - len(inputs)] if argv[len(argv) - len(inputs):] == inputs \
        else None
    if option_args is None:
        print("error: put the INPUTs last on the command line", file=sys.stderr)
        return 2
    if upload:
        inputs = ingest(inputs, upload[-1], argv)
        print(f"ingested into {upload[-1]}: {', '.join(inputs)}", file=sys.stderr)
    extra = [a for a in ("--summary", "--publish") if a not in option_args]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = train_main(option_args + extra + inputs)
    sys.stdout.write(out.getvalue())
    if code != 0 or not predict_inputs:
        return code
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "model.json")
        with open(model, "w") as f:
            f.write(out.getvalue())
        runner = job.options.runner or "inline"
        return predict_main(["-r", runner, "--model", model, "--publish", *predict_inputs])


def command(argv=None) -> int:
    """The ``mrlinreg`` console script: train | predict | publish | pipeline."""
    argv = sys.argv[1:] if argv is None else list(argv)
    usage = ("usage: mrlinreg {train,predict,publish,pipeline} ...\n"
             "  train     fit a model (= python jobs/linreg.py)\n"
             "  predict   score data with a model (= python jobs/predict.py)\n"
             "  publish   push runs waiting in the outbox to the results store\n"
             "  pipeline  ingest -> train -> evaluate -> publish (-> predict)")
    if not argv or argv[0] in ("-h", "--help"):
        print(usage)
        return 0 if argv else 2
    sub, rest = argv[0], argv[1:]
    if sub == "train":
        from jobs.linreg import main as run
    elif sub == "predict":
        from jobs.predict import main as run
    elif sub == "publish":
        from pipelines.publish import main as run
    elif sub == "pipeline":
        run = main
    else:
        print(usage, file=sys.stderr)
        return 2
    return run(rest)


if __name__ == "__main__":
    sys.exit(command())
