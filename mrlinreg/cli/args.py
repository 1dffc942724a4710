"""Command-line flags: mrjob's own options plus ours, turned into option objects.

Each subcommand's parser is mrjob's parser of the job it runs (``-r``,
``--num-cores``, ``-c``, ``--jobconf``... and the INPUT paths), extended with
the model's flags.  After parsing, the model flags become a
:class:`~mrlinreg.options.TrainOptions` (or ``PredictOptions``) and the rest of
the command line, mrjob's options exactly as typed, is forwarded to every pass.
"""

from __future__ import annotations

import argparse

from mrlinreg.options import (BAD_ROW_POLICIES, COV_TYPES, HEADER_MODES, INPUT_FORMATS, LOSSES,
                              LINE_SEARCHES, SOLVERS, STRATEGIES, UNSEEN_POLICIES, CurveOptions,
                              PredictOptions, TrainOptions)

UNSEEN_HELP = ("a C() value never seen in training: error (default): a bad row, reason "
               "unseen_level, counted and skipped (stops the run with --on-bad-row fail); "
               "reference: scored as the reference level, and counted")
HEADER_HELP = ("is each file's first line a header? auto (default): when a field is not a "
               "number; yes; no (a first row with strings is then a bad row, never dropped)")


#: Fields whose flag is not their name with dashes.
FLAG_NAMES = {"cv_folds": "--cv"}


def flag(field: str) -> str:
    """The flag of an option field: ``learning_rate`` -> ``--learning-rate``."""
    return FLAG_NAMES.get(field) or "--" + field.replace("_", "-")


def add_model_args(parser) -> None:
    """The training flags (one per :class:`TrainOptions` field)."""
    g = parser.add_argument_group("model")
    g.add_argument("--label", help="label column name (default: the last column)")
    g.add_argument("--features", help="comma-separated feature columns (default: all others)")
    g.add_argument("--schema", help="dataset schema file (YAML) naming the columns")
    g.add_argument("--delimiter", default=None, help="field delimiter (default: ',' or the schema's)")
    g.add_argument("--header", choices=HEADER_MODES, default="auto", help=HEADER_HELP)
    g.add_argument("--solver", choices=SOLVERS, default=None,
                   help="gd: gradient descent (default); cg: conjugate gradient; "
                        "newton: Newton's method; qr: one-pass exact tall-and-skinny QR; "
                        "cd: elastic net by coordinate descent on the R factor (the default "
                        "with --l1 or --path); lbfgs: limited-memory BFGS (10 pairs)")
    g.add_argument("--strategy", choices=STRATEGIES, default="auto",
                   help="passes: one MapReduce pass per iteration; stats: one pass collects "
                        "the R factor and iterations run in the driver; auto: stats while "
                        "the feature count is small")
    g.add_argument("--learning-rate", type=float, default=1.0,
                   help="gd step (fixed with --line-search none; the first trial otherwise)")
    g.add_argument("--line-search", choices=LINE_SEARCHES, default="armijo")
    g.add_argument("--max-iter", type=int, default=200)
    g.add_argument("--tol", type=float, default=1e-6,
                   help="converged when |grad| <= tol*|grad_0| or relative loss change <= tol^2")
    g.add_argument("--fit-intercept", dest="fit_intercept", action="store_true", default=True)
    g.add_argument("--no-fit-intercept", dest="fit_intercept", action="store_false")
    g.add_argument("--standardize", dest="standardize", action="store_true", default=True)
    g.add_argument("--no-standardize", dest="standardize", action="store_false")
    g.add_argument("--l2", type=float, default=0.0, metavar="LAMBDA",
                   help="ridge penalty (lambda/2)*||w||^2 on the (standardised) feature weights, "
                        "not the intercept; 0 (default) is ordinary least squares")
    g.add_argument("--l1", type=float, default=0.0, metavar="LAMBDA",
                   help="lasso penalty lambda*||w||_1 on the standardised feature weights "
                        "(elastic net with --l2; glmnet's objective; solver cd)")
    g.add_argument("--path", type=int, default=0, metavar="N",
                   help="fit N penalties from the smallest that zeroes every weight down to "
                        "1e-3 (1e-2 when rows <= features) of it, keeping --l1:--l2")
    g.add_argument("--cv", dest="cv_folds", type=int, default=0, metavar="K",
                   help="K-fold cross-validation in the same pass (fold = crc32(line) mod K)"
                        "; solver cd or qr")
    g.add_argument("--validation", action="append", default=[], metavar="INPUT",
                   help="held-out data (repeatable): validation_* metrics beside the training "
                        "ones show over- and under-fitting")
    g.add_argument("--min-norm", action="store_true",
                   help="with --solver qr, return the minimum-norm solution of a rank-deficient "
                        "problem (with a warning) instead of stopping")
    g.add_argument("--refine", action="store_true",
                   help="with --solver qr, up to 3 passes of iterative refinement with "
                        "double-double residuals: the exact least-squares solution of the "
                        "parsed data, rounded once")
    g.add_argument("--on-bad-row", choices=BAD_ROW_POLICIES, default="skip")
    g.add_argument("--output-model", help="also write the model JSON here (local or hdfs://)")
    g.add_argument("--summary", action="store_true",
                   help="print a statsmodels-style summary table to stderr")
    g.add_argument("--summary-mae", action="store_true",
                   help="with --summary, one more pass measures the mean absolute error "
                        "(everything else comes from the fit's one pass)")
    g.add_argument("--cov-type", choices=COV_TYPES, default=None,
                   help="with --summary: heteroskedasticity-robust standard errors (one more "
                        "pass), as statsmodels' cov_type")
    g.add_argument("--block-rows", type=int, default=8192,
                   help="rows a mapper parses at once (memory per task grows with this, "
                        "never with the input)")
    g.add_argument("--model-name", default="default", help="name the model is stored under")
    g.add_argument("--resume", action="store_true",
                   help="continue the model's last run from its last snapshot")
    g.add_argument("--wait", action="store_true",
                   help="wait for another trainer of the same model instead of failing")
    g.add_argument("--publish", dest="publish", action="store_true", default=False,
                   help="publish results to the configured warehouse")
    g.add_argument("--no-publish", dest="publish", action="store_false")
    g.add_argument("--quiet", action="store_true", help="no per-iteration progress on stderr")
    g.add_argument("--formula", metavar='"Y ~ TERMS"',
                   help="statsmodels-style formula: + - : * C() I() np.log/exp/sqrt, -1 or +0 "
                        "for no intercept (replaces --label and --features)")
    g.add_argument("--max-levels", type=int, default=1000,
                   help="most distinct values a C() column may have (default 1000)")
    g.add_argument("--unseen-level", choices=UNSEEN_POLICIES, default="error", help=UNSEEN_HELP)
    g.add_argument("--residual-sample", type=int, default=0, metavar="N",
                   help="with --validation, keep N validation rows (a deterministic sample) "
                        "with their fitted values for residual plots; stored with the run")
    g.add_argument("--weight-column", default=None, metavar="NAME",
                   help="weighted least squares: each row's weight (finite, >= 0) from this "
                        "column, which is not a feature; a negative weight is a bad row")
    add_robust_args(g)
    add_json_arg(g)
    add_table_args(g)


def add_robust_args(g) -> None:
    """``--loss``, ``--huber-delta`` (robust regression) and ``--early-stopping``."""
    g.add_argument("--loss", choices=LOSSES, default="squared",
                   help="squared (default): least squares; huber: Huber's robust loss, "
                        "fitted by IRLS (one weighted-TSQR pass per iteration)")
    g.add_argument("--huber-delta", type=float, default=None, metavar="D",
                   help="with --loss huber: the threshold in the label's units (default "
                        "1.345 * MAD of the OLS residuals, computed once)")
    g.add_argument("--early-stopping", type=int, default=0, metavar="PATIENCE",
                   help="gd or lbfgs: stop when the --validation loss has not improved for "
                        "PATIENCE iterations, and keep the best iterate")


def add_json_arg(group) -> None:
    group.add_argument("--json", action="store_true",
                       help="print one JSON object on stdout even on a terminal (it is "
                            "always JSON when stdout is not a terminal)")


def add_curve_args(parser) -> None:
    """The flags of ``mrlinreg curve`` (one per :class:`CurveOptions` field)."""
    g = parser.add_argument_group("curve")
    g.add_argument("--label", help="label column name (default: the last column)")
    g.add_argument("--features", help="comma-separated feature columns, in the order the "
                                      "terms curve adds them (default: all others)")
    g.add_argument("--schema", help="dataset schema file (YAML) naming the columns")
    g.add_argument("--delimiter", default=None)
    g.add_argument("--header", choices=HEADER_MODES, default="auto", help=HEADER_HELP)
    g.add_argument("--degree", type=int, default=None, metavar="K",
                   help="polynomial curve: powers 1..K of every feature, degree k for "
                        "k = 1..K (default: the terms curve, the first k features)")
    g.add_argument("--validation", action="append", default=[], metavar="INPUT",
                   help="held-out data (repeatable): the validation error of every model")
    g.add_argument("--fit-intercept", dest="fit_intercept", action="store_true", default=True)
    g.add_argument("--no-fit-intercept", dest="fit_intercept", action="store_false")
    g.add_argument("--standardize", dest="standardize", action="store_true", default=True)
    g.add_argument("--no-standardize", dest="standardize", action="store_false")
    g.add_argument("--on-bad-row", choices=BAD_ROW_POLICIES, default="skip")
    g.add_argument("--block-rows", type=int, default=8192)
    g.add_argument("--model-name", default="default", help="name the curve is published under")
    g.add_argument("--publish", action="store_true",
                   help="publish the curve to the validation_curves table")
    g.add_argument("--output", help="also write the curve JSON here (local or hdfs://)")
    g.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_json_arg(g)


def curve_options(ns) -> CurveOptions:
    features = None
    if ns.features is not None:
        features = tuple(f.strip() for f in ns.features.split(","))
    values = {k: getattr(ns, k) for k in CurveOptions.__dataclass_fields__ if hasattr(ns, k)}
    values.update(features=features, validation=tuple(ns.validation))
    return CurveOptions(**values).validate()


def add_table_args(g) -> None:
    """Columnar inputs and Hive tables (training and scoring)."""
    g.add_argument("--input-format", choices=INPUT_FORMATS, default="auto",
                   help="csv, parquet or orc; auto (default): by magic bytes and extension")
    g.add_argument("--hive-table", metavar="DB.TABLE",
                   help="read a Parquet or ORC table (Hive, or the local warehouse) by name "
                        "instead of INPUT paths")
    g.add_argument("--where", metavar="PREDICATE",
                   help="with --hive-table: partitions to read, e.g. \"day = '2024-01-01'\" "
                        "(partition columns, =, !=, <, <=, >, >=, IN, AND)")


def add_pipeline_args(parser) -> None:
    g = parser.add_argument_group("pipeline")
    g.add_argument("--upload-to", metavar="DIR",
                   help="copy local INPUTs here first (a local folder or hdfs:// URI)")
    g.add_argument("--predict", action="append", default=[], metavar="INPUT",
                   help="score this input with the new model and publish the predictions "
                        "(repeatable)")


def add_predict_args(parser) -> None:
    g = parser.add_argument_group("scoring")
    g.add_argument("--model", help="model JSON written by training (local or hdfs://)")
    g.add_argument("--output", help="write the prediction lines here (CSV)")
    g.add_argument("--publish", action="store_true",
                   help="publish to the predictions table of the model's run")
    g.add_argument("--on-bad-row", choices=BAD_ROW_POLICIES, default="skip")
    g.add_argument("--header", choices=HEADER_MODES, default="auto", help=HEADER_HELP)
    g.add_argument("--block-rows", type=int, default=8192)
    add_table_args(g)
    g.add_argument("--unseen-level", choices=UNSEEN_POLICIES, default="error", help=UNSEEN_HELP)


def job_parser_parents(job_class) -> list:
    """mrjob's parser of ``job_class`` (its runner options and INPUT positionals)."""
    return [job_class(args=[]).arg_parser]


def make_parser(prog, job_class, *adders, description=None, parser=None):
    """A parser with mrjob's options of ``job_class`` and the given flag groups."""
    kwargs = dict(prog=prog, description=description, parents=job_parser_parents(job_class),
                  conflict_handler="resolve", allow_abbrev=False, add_help=False)
    p = argparse.ArgumentParser(**kwargs) if parser is None else parser
    for add in adders:
        add(p)
    return p


def mrjob_args(argv, inputs, *adders) -> list:
    """``argv`` without our flags and without the INPUTs: mrjob's options as typed."""
    ours = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for add in adders:
        add(ours)
    _, rest = ours.parse_known_args(list(argv))
    for item in reversed(inputs):  # positionals: drop their last occurrences
        if item in rest:
            idx = len(rest) - 1 - rest[::-1].index(item)
            del rest[idx]
    return rest


def train_options(ns) -> TrainOptions:
    """The validated :class:`TrainOptions` of parsed flags."""
    features = None
    if ns.features is not None:
        features = tuple(f.strip() for f in ns.features.split(","))
    values = {k: getattr(ns, k) for k in TrainOptions.field_names() if hasattr(ns, k)}
    values.update(features=features, validation=tuple(ns.validation))
    if values.get("solver") is None:  # cd when only it can do what was asked
        penalised = getattr(ns, "l1", 0) or getattr(ns, "path", 0)
        values["solver"] = ("cd" if penalised else
                            "qr" if getattr(ns, "cv_folds", 0) else
                            "irls" if getattr(ns, "loss", "squared") == "huber" else "gd")
    return TrainOptions(**values).validate()


def predict_options(ns) -> PredictOptions:
    return PredictOptions(model=ns.model, output=ns.output, publish=ns.publish,
                          on_bad_row=ns.on_bad_row, block_rows=ns.block_rows,
                          header=ns.header, input_format=ns.input_format,
                          hive_table=ns.hive_table, where=ns.where,
                          unseen_level=ns.unseen_level,
                          quiet=bool(getattr(ns, "quiet", False))).validate()
