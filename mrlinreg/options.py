"""Command-line options of ``jobs/linreg.py`` beyond mrjob's own.

They are registered on the job's parser (not passed through to tasks): the
driver reads them, and every task gets what it needs in one ``--params``
side file instead.
"""

from __future__ import annotations

SOLVER_CHOICES = ("gd", "cg", "newton", "qr")


def add_model_args(parser) -> None:
    """Add the model options to an ``argparse`` parser (mrjob's ``arg_parser``)."""
    # mrjob's own --label only names the Hadoop job; the label *column* matters more here
    parser.conflict_handler = "resolve"
    g = parser.add_argument_group("model")
    parser.conflict_handler = "error"
    g.add_argument("--label", help="label column name (default: the last column)")
    g.add_argument("--features", help="comma-separated feature columns (default: all others)")
    g.add_argument("--schema", help="dataset schema file (YAML) naming the columns")
    g.add_argument("--delimiter", default=None, help="field delimiter (default: ',' or the schema's)")
    g.add_argument("--solver", choices=SOLVER_CHOICES, default="gd",
                   help="gd: gradient descent (default); cg: conjugate gradient; "
                        "newton: Newton's method; qr: one-pass exact tall-and-skinny QR")
    g.add_argument("--strategy", choices=("auto", "passes", "stats"), default="auto",
                   help="passes: one MapReduce pass per iteration; stats: one pass collects "
                        "the R factor and iterations run in the driver; auto: stats while "
                        "the feature count is small")
    g.add_argument("--learning-rate", type=float, default=1.0,
                   help="gd step (fixed with --line-search none; the first trial otherwise)")
    g.add_argument("--line-search", choices=("armijo", "none"), default="armijo")
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
    g.add_argument("--validation", action="append", default=[], metavar="INPUT",
                   help="held-out data (repeatable): validation_* metrics beside the training "
                        "ones show over- and under-fitting")
    g.add_argument("--min-norm", action="store_true",
                   help="with --solver qr, return the minimum-norm solution of a rank-deficient "
                        "problem (with a warning) instead of stopping")
    g.add_argument("--on-bad-row", choices=("skip", "fail"), default="skip")
    g.add_argument("--output-model", help="also write the model JSON here (local or hdfs://)")
    g.add_argument("--summary", action="store_true",
                   help="print a statsmodels-style summary table to stderr")
    g.add_argument("--block-rows", type=int, default=8192,
                   help="rows a mapper parses at once (memory per task grows with this, "
                        "never with the input)")
    g.add_argument("--model-name", default="default", help="name the model is stored under")
    g.add_argument("--resume", action="store_true",
                   help="continue the model's last run from its last snapshot")
    g.add_argument("--wait", action="store_true",
                   help="wait for another trainer of the same model instead of failing")
    g.add_argument("--publish", dest="publish", action="store_true", default=False,
                   help="publish results to the configured warehouse and snapshot store")
    g.add_argument("--no-publish", dest="publish", action="store_false")
    g.add_argument("--quiet", action="store_true", help="no per-iteration progress on stderr")
