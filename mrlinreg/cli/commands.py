"""What each subcommand does: options in, driver calls, results out, errors as messages.

Steps hand each other objects: ``pipeline`` passes the trained
:class:`~mrlinreg.records.ModelRecord` straight to scoring.
"""

from __future__ import annotations

import json
import sys

from mrlinreg.cli.args import curve_options, flag, predict_options, train_options
from mrlinreg.cli.errors import report
from mrlinreg.cli.human import format_curve, format_model, wants_json
from mrlinreg.config import load_config
from mrlinreg.driver.curve import run_curve
from mrlinreg.driver.predict import load_model, score
from mrlinreg.driver.publish import (PUSH_HINT, outbox_dir, pending_runs, publish_pending,
                                     publish_run)
from mrlinreg.driver.runners import make_runner
from mrlinreg.driver.train import train_model
from mrlinreg.driver.training import Progress
from mrlinreg.fs import FileSystem
from mrlinreg.jobs.linreg_pass import MRLinRegPass
from mrlinreg.storage.factory import open_results_store
from mrlinreg.options import PredictOptions


def say(msg):
    print(msg, file=sys.stderr, flush=True)


def runner_fs(job_class, mrjob_args, config) -> FileSystem:
    """The filesystem of the runner the user chose (local, or HDFS through Hadoop), with
    WebHDFS (``[hdfs] url``) for listing and sniffing ``hdfs://`` inputs."""
    from hdfs import InsecureClient

    with make_runner(job_class(args=list(mrjob_args))) as runner:  # hdfs:// over WebHDFS
        return FileSystem(runner.fs, webhdfs=InsecureClient(config.hdfs.url,
                                                            user=config.hdfs.user))


def _guarded(work, parser):
    """Run ``work()``; expected failures become one ``error:`` line and an exit status."""
    try:
        return work()
    except Exception as exc:  # noqa: BLE001 - report() re-raises what is not expected
        return report(exc, usage=parser.format_usage())


def train(ns, inputs, mrjob_args, parser) -> int:
    def work():
        opts = train_options(ns)
        if bool(inputs) == bool(opts.hive_table):
            say(parser.format_usage().rstrip())
            say("error: give INPUT paths or --hive-table, not both" if inputs else
                "error: no INPUT given (files, directories or hdfs:// URIs, or --hive-table)")
            return 2
        config = load_config()
        fs = runner_fs(MRLinRegPass, mrjob_args, config)
        record = train_model(opts, inputs, mrjob_args, fs, config,
                             Progress(opts.quiet, option_name=flag))
        return emit(record, opts, fs, config, as_json=wants_json(ns))
    return _guarded(work, parser)


def emit(record, opts, fs, config, as_json=True) -> int:
    """Summary table, the model on stdout (first: it is never lost) as one JSON object,
    or for a person on a terminal (``as_json`` False); model file, publish."""
    if opts.summary and record.summary is not None:
        from mrlinreg.numerics.summary import format_summary  # scipy.stats only here

        say(format_summary(record.summary.stats))
    data = record.to_json()
    if as_json:
        json.dump(data, sys.stdout, sort_keys=True)
        sys.stdout.write("\n")
    else:
        print(format_model(record))
    sys.stdout.flush()
    if opts.output_model:
        fs.write_bytes(opts.output_model,
                       (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    if opts.publish:
        outcome = publish_run(record, config)
        say(outcome.message)
        return 0 if outcome.published else 1
    return 0


def predict(ns, inputs, mrjob_args, parser) -> int:
    def work():
        opts = predict_options(ns)
        if bool(inputs) == bool(opts.hive_table):
            say(parser.format_usage().rstrip())
            say("error: give INPUT paths or --hive-table, not both" if inputs else
                "error: give --model MODEL.json and at least one INPUT (or --hive-table)")
            return 2
        config = load_config()
        fs = runner_fs(MRLinRegPass, mrjob_args, config)
        model = load_model(opts.model, fs)
        score(model, opts, inputs, mrjob_args, fs, config, say=say)
        return 0
    return _guarded(work, parser)


def pipeline(ns, inputs, mrjob_args, parser) -> int:
    """Ingest (``--upload-to``), train with ``--summary --publish``, then score each
    ``--predict`` input into the run's predictions."""
    def work():
        ns.summary, ns.publish = True, True
        opts = train_options(ns)
        if not inputs:
            say("error: no INPUT given (files, directories or hdfs:// URIs)")
            return 2
        config = load_config()
        fs = runner_fs(MRLinRegPass, mrjob_args, config)
        train_inputs = list(inputs)
        if ns.upload_to:
            train_inputs = [p if "://" in p else fs.copy_in(p, ns.upload_to) for p in inputs]
            say(f"ingested into {ns.upload_to}: {', '.join(train_inputs)}")
        record = train_model(opts, train_inputs, mrjob_args, fs, config,
                             Progress(opts.quiet, option_name=flag))
        code = emit(record, opts, fs, config, as_json=wants_json(ns))
        if code != 0 or not ns.predict:
            return code
        score(record, PredictOptions(model=record.run_id, publish=True,
                                     on_bad_row=opts.on_bad_row, block_rows=opts.block_rows),
              ns.predict, mrjob_args, fs, config, say=say)
        return 0
    return _guarded(work, parser)


def publish(ns, inputs, mrjob_args, parser) -> int:
    """Push the outbox. Exit 0 when it is empty afterwards."""
    def work():
        config = load_config(ns.config)
        paths = pending_runs(config)
        if ns.list or not paths:
            for path in paths:
                print(path.stem)
            if not paths:
                print(f"nothing to publish ({outbox_dir(config)} is empty)")
            return 0
        result = publish_pending(config)
        for run_id in result.published:
            print(f"published {run_id}")
        for run_id, reason in result.remaining:
            say(f"not published {run_id}: {reason}")
        if result.remaining:
            say(f"{len(result.remaining)} run(s) remain in {outbox_dir(config)}; "
                f"run `{PUSH_HINT}` again once the store is reachable.")
            return 1
        return 0
    return _guarded(work, parser)


def curve(ns, inputs, mrjob_args, parser) -> int:
    """Training and validation error of nested models (``--degree K`` or the first k
    features): a table on a terminal, else one JSON object; ``--publish`` writes it to
    the ``validation_curves`` table."""
    def work():
        opts = curve_options(ns)
        if not inputs:
            say(parser.format_usage().rstrip())
            say("error: no INPUT given (files, directories or hdfs:// URIs)")
            return 2
        config = load_config()
        fs = runner_fs(MRLinRegPass, mrjob_args, config)
        result = run_curve(opts, inputs, mrjob_args, fs, Progress(opts.quiet,
                                                                  option_name=flag))
        data = result.to_json()
        if wants_json(ns):
            json.dump(data, sys.stdout, sort_keys=True)
            sys.stdout.write("\n")
        else:
            print(format_curve(result))
        sys.stdout.flush()
        if opts.output:
            fs.write_bytes(opts.output,
                           (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8"))
        if opts.publish:
            with open_results_store(config) as store:
                store.publish_curve(result)
            say(f"published the validation curve as run {result.run_id} "
                f"(table validation_curves)")
        return 0
    return _guarded(work, parser)
