"""``python jobs/linreg.py ...``: parse, train, print the model; errors as messages.

Exit status: 0 a model was written; 1 training failed (divergence, bad row
with ``--on-bad-row fail``, a pass failed); 2 the command or input is wrong.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile

from mrlinreg.config import ConfigError, load_config
from mrlinreg.fsutil import write_atomic
from mrlinreg.schema import validate_key_name
from mrlinreg.storage.errors import StorageError
from mrlinreg.storage.factory import model_lock, open_snapshot_store
from mrlinreg.storage.snapshot_format import utc_now
from pipelines.inputs import InputError, resolve_format
from pipelines.lifecycle import ResumeError, SnapshotWriter, fingerprint, load_resume
from pipelines.passes import BadRowError, PassError, PassRunner
from pipelines.train import (Hooks, Progress, TrainingError, evaluate_holdout, new_run_id,
                             train)


RESUME_LOCK_WAIT_S = 90.0


def check_finite(obj, where="model"):
    """Raise ValueError if any number in a JSON-ready structure is NaN or infinite."""
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ValueError(f"non-finite number in {where}")
    if isinstance(obj, dict):
        for k, v in obj.items():
            check_finite(v, f"{where}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            check_finite(v, f"{where}[{i}]")


def write_model(record, path, fs) -> None:
    """Write the model JSON to a local path or, through mrjob's filesystem, to HDFS."""
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    if "://" not in path or path.startswith("file://"):
        path = path[len("file://"):] if path.startswith("file://") else path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        write_atomic(path, text.encode("utf-8"))
        return
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(text)
    try:
        fs.mkdir(path.rsplit("/", 1)[0])  # HDFS puts into existing folders only
        if fs.exists(path):
            fs.rm(path)
        fs.put(f.name, path)
    finally:
        os.unlink(f.name)


def _with_inputs(argv, inputs, new_inputs):
    """``argv`` with its positional INPUTs replaced by ``new_inputs`` (options kept)."""
    rest = list(argv)
    for item in reversed(inputs):  # positionals: drop their last occurrences
        idx = len(rest) - 1 - rest[::-1].index(item)
        del rest[idx]
    return rest + list(new_inputs)


def _quiet_mrjob():
    # mrjob's INFO chatter (config search, temp dirs) would drown the progress lines
    logging.getLogger("mrjob").setLevel(logging.WARNING)
    # "no configs", "inline ignores py_files", "can't fetch history log" (no JobHistory)
    for name in ("mrjob.conf", "mrjob.inline", "mrjob.logs"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")


def _fit(argv, opts, fmt, features, label, fs, config, workdir, progress) -> dict:
    """Train under the model's lock with a snapshot per iteration; validate; the record."""
    runner = PassRunner(argv, workdir, block_rows=opts.block_rows, on_bad_row=opts.on_bad_row)
    fp = fingerprint(opts, features, label, opts.args)
    # a killed trainer's ZooKeeper lock lives on until its session expires (seconds):
    # a resume waits that long for it rather than failing at once
    wait, timeout = opts.wait or opts.resume, (None if opts.wait else RESUME_LOCK_WAIT_S)
    with model_lock(config, opts.model_name, wait=wait, timeout=timeout), \
            open_snapshot_store(config) as snapshots:
        resume = load_resume(snapshots, opts.model_name, fp) if opts.resume else None
        run_id = resume.run_id if resume else new_run_id()
        writer = SnapshotWriter(snapshots, opts.model_name, run_id, fp)
        record = train(runner, fmt, features, label, opts, progress=progress,
                       hooks=Hooks(on_iteration=writer, resume=resume))
        writer.finish()
    if opts.validation:
        vfmt, _, _ = resolve_format(opts.validation, fs, delimiter=opts.delimiter, label=label,
                                    features=features, schema_path=opts.schema)
        vrunner = PassRunner(_with_inputs(argv, opts.args, opts.validation), workdir,
                             block_rows=opts.block_rows, on_bad_row=opts.on_bad_row)
        record["metrics"].update(evaluate_holdout(vrunner, vfmt, record, opts))
        progress.say("validation: " + ", ".join(
            f"{k[len('validation_'):]} {v:.6g}" for k, v in record["metrics"].items()
            if k.startswith("validation_")))
    options = {k: v for k, v in fp.items() if k not in ("features", "label", "inputs")}
    options["max_iter"] = opts.max_iter
    record = {"run_id": run_id, "model_name": opts.model_name, "created_at": utc_now(),
              "options": options, **record}
    check_finite(record)
    return record


def _emit(record, opts, fs, config) -> int:
    """Summary table, the model on stdout (first: it is never lost), model file, publish."""
    if opts.summary and record.get("summary"):
        from mrlinreg.numerics.summary import format_summary

        print(format_summary(record["summary"]), file=sys.stderr)
    json.dump(record, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    sys.stdout.flush()
    if opts.output_model:
        write_model(record, opts.output_model, fs)
    if opts.publish:
        from pipelines.publish import publish_run

        outcome = publish_run(record, config)
        print(outcome.message, file=sys.stderr)
        return 0 if outcome.published else 1
    return 0


def main(argv=None) -> int:
    from jobs.linreg import MRLinRegPass

    argv = sys.argv[1:] if argv is None else list(argv)
    _quiet_mrjob()
    job = MRLinRegPass(args=argv)  # validates every option; exits 2 with usage on error
    opts = job.options
    if not opts.args:
        print("error: no INPUT given (files, directories or hdfs:// URIs)", file=sys.stderr)
        return 2
    try:  # before any pass: the name becomes HBase keys, ZooKeeper paths and Hive values
        validate_key_name(opts.model_name, "--model-name")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    progress = Progress(opts.quiet)
    workdir = tempfile.mkdtemp(prefix="mrlinreg-")
    try:
        with job.make_runner() as r:
            fs = r.fs
        fmt, features, label = resolve_format(
            opts.args, fs, delimiter=opts.delimiter, label=opts.label,
            features=opts.features, schema_path=opts.schema)
        config = load_config()
        record = _fit(argv, opts, fmt, features, label, fs, config, workdir, progress)
        return _emit(record, opts, fs, config)
    except (InputError, ResumeError, ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (TrainingError, BadRowError, PassError, StorageError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (OSError, subprocess.SubprocessError) as e:  # e.g. listing or writing on HDFS
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
