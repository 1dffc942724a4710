"""``mrlinreg {train,predict,curve,publish,pipeline,plot}``: argparse subcommands.

    mrlinreg train    [mrjob options] [model options] INPUT...   (= python jobs/linreg.py)
    mrlinreg predict  --model MODEL.json [mrjob options] INPUT... (= python jobs/predict.py)
    mrlinreg publish  [--config FILE] [--list]
    mrlinreg pipeline [--upload-to DIR] [--predict INPUT ...] [train options] INPUT...
    mrlinreg curve    [--degree K] [--validation INPUT] [mrjob options] INPUT...
    mrlinreg plot     MODEL_JSON|RUN_ID [MORE ...] --kind KIND --output FILE

``train``, ``predict`` and ``pipeline`` accept every mrjob option of the job they
run (``-r``, ``--num-cores``, ``-c``, ``--jobconf``...); those are forwarded to
each MapReduce pass as typed.
"""

from __future__ import annotations

import argparse
import logging
import sys

from mrlinreg.cli import args as cli_args
from mrlinreg.cli import commands, plot
from mrlinreg.driver.interrupt import Interrupted, handling_signals
from mrlinreg.jobs.linreg_pass import MRLinRegPass
from mrlinreg.jobs.predict import MRPredict

SUBCOMMANDS = {
    # name: (job class, flag groups, handler, usage after the program name, help)
    "train": (MRLinRegPass, (cli_args.add_model_args,), commands.train,
              "[mrjob options] [model options] INPUT [INPUT ...]",
              "fit a model (= python jobs/linreg.py)"),
    "predict": (MRPredict, (cli_args.add_predict_args,), commands.predict,
                "--model MODEL.json [--output FILE] [--publish] [mrjob options] INPUT [INPUT ...]",
                "score data with a model (= python jobs/predict.py)"),
    "curve": (MRLinRegPass, (cli_args.add_curve_args,), commands.curve,
              "[--degree K] [--validation INPUT] [mrjob options] INPUT [INPUT ...]",
              "training and validation error of nested models, one pass per dataset"),
    "pipeline": (MRLinRegPass, (cli_args.add_model_args, cli_args.add_pipeline_args),
                 commands.pipeline,
                 "[--upload-to DIR] [--predict INPUT ...] [train options] INPUT [INPUT ...]",
                 "ingest -> train -> evaluate -> publish (-> predict)"),
}


def build_parser(prog="mrlinreg", sub_prog=None) -> argparse.ArgumentParser:
    """The ``mrlinreg`` parser; ``sub_prog`` names the subcommands in usage lines
    (``jobs/linreg.py`` when that script runs ``train``)."""
    parser = argparse.ArgumentParser(prog=prog, allow_abbrev=False,
                                     description="Linear regression on Hadoop with mrjob.")
    sub = parser.add_subparsers(dest="command", metavar="{train,predict,curve,publish,pipeline,plot}")
    sub.required = True
    for name, (job_class, adders, handler, usage, help_) in SUBCOMMANDS.items():
        sub_name = sub_prog or f"{prog} {name}"
        sp = sub.add_parser(name, help=help_, description=help_, prog=sub_name,
                            usage=f"{sub_name} {usage} (--help for all)",
                            parents=cli_args.job_parser_parents(job_class),
                            conflict_handler="resolve", allow_abbrev=False, add_help=False)
        for add in adders:
            add(sp)
        sp.set_defaults(handler=handler, adders=adders, subparser=sp)
    sp = sub.add_parser("publish", help="push runs waiting in the outbox to the results store",
                        allow_abbrev=False)
    sp.add_argument("--config", help="config file (default: $MRLINREG_CONFIG or the shipped "
                                     "conf/mrlinreg.ini)")
    sp.add_argument("--list", action="store_true", help="only list the waiting runs")
    sp.set_defaults(handler=commands.publish, adders=(), subparser=sp, help=False)
    plot.add_parser(sub)
    return parser


def quiet_mrjob():
    # mrjob's INFO chatter (config search, temp dirs) would drown the progress lines
    logging.getLogger("mrjob").setLevel(logging.WARNING)
    # "no configs", "inline ignores py_files", "can't fetch history log" (no JobHistory)
    for name in ("mrjob.conf", "mrjob.inline", "mrjob.logs"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")


def main(argv=None, prog="mrlinreg", sub_prog=None) -> int:
    """Run one subcommand; returns the exit status (argparse errors exit 2 themselves)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(prog, sub_prog)
    ns = parser.parse_args(argv)
    if getattr(ns, "help", False):
        ns.subparser.print_help()
        return 0
    quiet_mrjob()
    rest = argv[argv.index(ns.command) + 1:]
    inputs = list(getattr(ns, "args", []) or [])
    mrjob_args = cli_args.mrjob_args(rest, inputs, *ns.adders) if ns.adders else []
    try:
        with handling_signals():
            return ns.handler(ns, inputs, mrjob_args, ns.subparser)
    except Interrupted as exc:
        if getattr(exc, "error", None) is not None:  # Aborted: the driver stopped itself
            from mrlinreg.cli.errors import report
            return report(exc.error)
        # the driver's task processes and YARN application are stopped, the lock released
        hint = (" (the run continues from its last snapshot with --resume)"
                if ns.command in ("train", "pipeline") else "")
        print(f"error: interrupted by {exc.name}: stopped{hint}", file=sys.stderr, flush=True)
        return exc.exit_status


def command(argv=None) -> int:
    """The ``mrlinreg`` console script."""
    return main(argv)


def job_script(subcommand, prog, argv=None) -> int:
    """``python jobs/linreg.py ARGS`` is ``mrlinreg train ARGS`` (and so on)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    return main([subcommand, *argv], sub_prog=prog)


if __name__ == "__main__":
    sys.exit(command())
