"""The settings of a training run and of a scoring run, validated once.

:class:`TrainOptions` is the one object the driver reads; the command line
(:mod:`mrlinreg.cli.args`) only turns flags into it.  :meth:`TrainOptions.validate`
checks every value and every combination before any pass runs, and raises an
:class:`~mrlinreg.errors.OptionError` naming the field (rendered as its flag
by the command line).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from mrlinreg.errors import OptionError
from mrlinreg.partition_filter import FilterError, parse_table_name, parse_where
from mrlinreg.formula import FormulaError, parse_formula
from mrlinreg.schema import InvalidIdentifierError, validate_key_name

SOLVERS = ("gd", "cg", "newton", "qr", "cd", "lbfgs", "irls")
STRATEGIES = ("auto", "passes", "stats")
LINE_SEARCHES = ("armijo", "none")
BAD_ROW_POLICIES = ("skip", "fail")
HEADER_MODES = ("auto", "yes", "no")
INPUT_FORMATS = ("auto", "csv", "parquet", "orc")
COV_TYPES = ("HC0", "HC1", "HC2", "HC3")  # robust standard errors (statsmodels' cov_type)
UNSEEN_POLICIES = ("error", "reference")
LOSSES = ("squared", "huber")  # --loss: least squares, or Huber's robust loss (solver irls)
#: Robust-fit and early-stopping options: in the fingerprint only when set.
ROBUST_FINGERPRINT_FIELDS = ("huber_delta", "early_stopping")

#: Options that change the iterates: a resumed run must use the same ones.
FINGERPRINT_FIELDS = ("solver", "strategy", "learning_rate", "line_search", "tol",
                      "fit_intercept", "standardize", "on_bad_row", "delimiter", "l2")
#: Penalised-fit options: in the fingerprint only when set (runs stored before they
#: existed resume unchanged).
PENALTY_FINGERPRINT_FIELDS = ("l1", "path", "cv_folds", "cov_type")
#: Solvers that work on the R factor alone and give exact zeros / a CV curve.
CV_SOLVERS = ("cd", "qr")


@dataclass(frozen=True)
class TrainOptions:
    """Everything that shapes one training run (not where it runs: that is mrjob's)."""

    label: str | None = None
    features: tuple | None = None
    schema: str | None = None
    delimiter: str | None = None
    header: str = "auto"
    solver: str = "gd"
    strategy: str = "auto"
    learning_rate: float = 1.0
    line_search: str = "armijo"
    max_iter: int = 200
    tol: float = 1e-6
    fit_intercept: bool = True
    standardize: bool = True
    l2: float = 0.0
    l1: float = 0.0           # lasso part of the elastic net (solver cd)
    path: int = 0             # --path N: N penalty scales (0: one fit)
    cv_folds: int = 0         # --cv K: K-fold cross-validation in the same pass (0: none)
    cov_type: str | None = None  # HC0..HC3: robust standard errors in the summary
    validation: tuple = ()
    min_norm: bool = False
    refine: bool = False
    on_bad_row: str = "skip"
    output_model: str | None = None
    summary: bool = False
    summary_mae: bool = False
    block_rows: int = 8192
    model_name: str = "default"
    resume: bool = False
    wait: bool = False
    publish: bool = False
    quiet: bool = False
    input_format: str = "auto"
    hive_table: str | None = None
    where: str | None = None
    residual_sample: int = 0
    formula: str | None = None
    max_levels: int = 1000
    unseen_level: str = "error"
    weight_column: str | None = None  # --weight-column: weighted least squares
    loss: str = "squared"            # --loss huber: robust regression by IRLS
    huber_delta: float | None = None  # --huber-delta, label units (None: 1.345 MAD)
    early_stopping: int = 0          # --early-stopping PATIENCE (0: off)

    def validate(self) -> "TrainOptions":
        """Return self if every setting is usable, else raise :class:`OptionError`."""
        _check_table(self)
        _choice(self, "solver", SOLVERS)
        _choice(self, "strategy", STRATEGIES)
        _choice(self, "line_search", LINE_SEARCHES)
        _choice(self, "on_bad_row", BAD_ROW_POLICIES)
        _choice(self, "header", HEADER_MODES)
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise OptionError("<opt:learning_rate> must be a positive number", "learning_rate")
        if not (math.isfinite(self.tol) and 0 < self.tol < 1):
            raise OptionError("<opt:tol> must be in (0, 1)", "tol")
        if self.max_iter < 1:
            raise OptionError("<opt:max_iter> must be at least 1", "max_iter")
        if not (math.isfinite(self.l2) and self.l2 >= 0):
            raise OptionError("<opt:l2> must be a non-negative number", "l2")
        if self.block_rows < 1:
            raise OptionError("<opt:block_rows> must be at least 1", "block_rows")
        self._validate_penalised()
        self._validate_robust()
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise OptionError("<opt:delimiter> must be a single character", "delimiter")
        if self.features is not None:
            if not self.features or any(not f for f in self.features):
                raise OptionError("<opt:features> must name at least one column, "
                                  "comma-separated", "features")
            if len(set(self.features)) != len(self.features):
                raise OptionError(f"<opt:features> repeats a column: {list(self.features)}",
                                  "features")
        if self.refine and self.solver != "qr":
            raise OptionError("<opt:refine> needs <opt:solver> qr", "refine")
        if self.refine and (self.l2 or self.min_norm):
            raise OptionError("<opt:refine> refines the least-squares solution: it does not "
                              "combine with <opt:l2> or <opt:min_norm>", "refine")
        if self.summary_mae and not self.summary:
            raise OptionError("<opt:summary_mae> measures the summary's MAE: it needs "
                              "<opt:summary>", "summary_mae")
        if self.min_norm and self.solver != "qr":
            raise OptionError("<opt:min_norm> needs <opt:solver> qr", "min_norm")
        if self.residual_sample < 0:
            raise OptionError("<opt:residual_sample> must be 0 or more rows", "residual_sample")
        if self.residual_sample and not self.validation:
            raise OptionError("<opt:residual_sample> is drawn during the validation pass: "
                              "give <opt:validation> INPUT", "residual_sample")
        try:  # before any pass: the name becomes HBase keys, ZooKeeper paths, Hive values
            validate_key_name(self.model_name, "<opt:model_name>")
        except InvalidIdentifierError as e:
            raise OptionError(str(e), "model_name") from None
        _choice(self, "unseen_level", UNSEEN_POLICIES)
        if self.max_levels < 1:
            raise OptionError("<opt:max_levels> must be at least 1", "max_levels")
        if self.formula is not None:
            _check_formula(self)
        if self.weight_column is not None:
            _check_weights(self)
        return self

    def _validate_penalised(self):
        """``--l1``, ``--path``, ``--cv`` and ``--solver cd``: values and combinations
        (the README's table of which options combine)."""
        if not (math.isfinite(self.l1) and self.l1 >= 0):
            raise OptionError("<opt:l1> must be a non-negative number", "l1")
        if self.path < 0 or self.path == 1:
            raise OptionError("<opt:path> must be at least 2 (the number of penalties on "
                              "the path)", "path")
        if self.cv_folds < 0 or self.cv_folds == 1:
            raise OptionError("<opt:cv_folds> must be at least 2 folds", "cv_folds")
        if self.l1 > 0 and self.solver != "cd":
            raise OptionError(f"<opt:l1> needs <opt:solver> cd (coordinate descent on the R "
                              f"factor, the default with <opt:l1>); <opt:solver> "
                              f"{self.solver} minimises a smooth objective only", "l1")
        if self.path and self.solver != "cd":
            raise OptionError(f"<opt:path> needs <opt:solver> cd (the default with <opt:path>);"
                              f" got <opt:solver> {self.solver}", "path")
        if self.cv_folds and self.solver not in CV_SOLVERS:
            raise OptionError(f"<opt:cv_folds> needs a solver on the R factor: <opt:solver> cd "
                              f"or qr (got {self.solver}); the folds' factors come from the "
                              "same pass as R", "cv_folds")
        if self.solver == "cd" and self.strategy == "passes" and (self.path or self.cv_folds):
            raise OptionError("<opt:path> and <opt:cv_folds> need the R factor: <opt:strategy> "
                              "stats (or auto) does them in one pass; on the passes strategy "
                              "(FISTA, a pass per iteration) each penalty would cost about a "
                              "hundred passes", "strategy")
        if self.cov_type is not None:
            _choice(self, "cov_type", COV_TYPES)
            if not self.summary:
                raise OptionError("<opt:cov_type> needs <opt:summary>: it changes the "
                                  "summary's standard errors", "cov_type")
            if self.l1 or self.l2 or self.path:
                raise OptionError("<opt:cov_type> is for ordinary least squares: not with "
                                  "<opt:l2>, <opt:l1> or <opt:path>", "cov_type")
        if self.cv_folds and (self.refine or self.min_norm):
            raise OptionError("<opt:cv_folds> does not combine with <opt:refine> or "
                              "<opt:min_norm>", "cv_folds")
        if self.solver == "cd" and (self.refine or self.min_norm):
            raise OptionError("<opt:refine> and <opt:min_norm> need <opt:solver> qr",
                              "refine" if self.refine else "min_norm")

    def _validate_robust(self):
        """``--loss huber`` (IRLS) and ``--early-stopping``: values and combinations,
        refused up front (the README's table of which options combine)."""
        _choice(self, "loss", LOSSES)
        if self.loss == "huber":
            for name in ("l1", "l2", "path", "cv_folds", "cov_type", "summary", "refine",
                         "min_norm", "early_stopping"):
                if getattr(self, name):
                    raise OptionError(f"<opt:{name}> does not combine with <opt:loss> huber "
                                      "(see the README's table of which options combine)",
                                      name)
            if self.solver != "irls":
                raise OptionError(f"<opt:loss> huber is fitted by iteratively reweighted least "
                                  f"squares: <opt:solver> irls (its default); got <opt:solver> "
                                  f"{self.solver}", "solver")
            if self.huber_delta is not None and not (math.isfinite(self.huber_delta)
                                                     and self.huber_delta > 0):
                raise OptionError("<opt:huber_delta> must be a positive number (in the "
                                  "label's units)", "huber_delta")
            if self.strategy == "stats":
                raise OptionError("<opt:loss> huber reweights every row at every iteration: "
                                  "one weighted-TSQR pass each, so <opt:strategy> passes (or "
                                  "auto); stats has no rows to reweight", "strategy")
        else:
            if self.solver == "irls":
                raise OptionError("<opt:solver> irls fits <opt:loss> huber; least squares "
                                  "needs no reweighting", "solver")
            if self.huber_delta is not None:
                raise OptionError("<opt:huber_delta> needs <opt:loss> huber", "huber_delta")
        if self.early_stopping < 0:
            raise OptionError("<opt:early_stopping> must be a positive number of iterations "
                              "(the patience)", "early_stopping")
        if self.early_stopping:
            if self.solver not in ("gd", "lbfgs"):
                raise OptionError(f"<opt:early_stopping> needs <opt:solver> gd or lbfgs (got "
                                  f"{self.solver})", "early_stopping")
            if not self.validation:
                raise OptionError("<opt:early_stopping> watches the validation loss: give "
                                  "<opt:validation> INPUT", "early_stopping")
            if self.l2 or self.summary:
                raise OptionError("<opt:early_stopping> stops before the minimum: it does not "
                                  "combine with <opt:l2> or <opt:summary>",
                                  "l2" if self.l2 else "summary")

    def fingerprint(self, features, label, inputs) -> dict:
        """What a resumed run must share with the run it continues."""
        fp = {k: getattr(self, k) for k in FINGERPRINT_FIELDS}
        if self.header != "auto":  # runs stored before the option existed read "auto"
            fp["header"] = self.header
        fp.update({k: getattr(self, k) for k in PENALTY_FINGERPRINT_FIELDS if getattr(self, k)})
        fp.update({k: getattr(self, k) for k in ROBUST_FINGERPRINT_FIELDS if getattr(self, k)})
        if self.loss != "squared":
            fp["loss"] = self.loss
        if self.formula is not None:  # likewise: only formula runs carry it
            fp["formula"] = self.formula
        if self.weight_column is not None:  # likewise: only weighted runs carry it
            fp["weight_column"] = self.weight_column
        fp.update(features=list(features), label=label, inputs=list(inputs))
        return fp

    def to_json(self) -> dict:
        d = asdict(self)
        d["features"] = None if self.features is None else list(self.features)
        d["validation"] = list(self.validation)
        return d

    @classmethod
    def field_names(cls) -> tuple:
        return tuple(f.name for f in fields(cls))


CURVE_KINDS = ("degree", "terms")
MAX_CURVE_DEGREE = 20


@dataclass(frozen=True)
class CurveOptions:
    """A validation curve (``mrlinreg curve``): nested models, one pass per dataset."""

    label: str | None = None
    features: tuple | None = None
    schema: str | None = None
    delimiter: str | None = None
    header: str = "auto"
    degree: int | None = None      # None: the "terms" curve (first k features)
    validation: tuple = ()
    fit_intercept: bool = True
    standardize: bool = True
    on_bad_row: str = "skip"
    block_rows: int = 8192
    model_name: str = "default"
    publish: bool = False
    output: str | None = None
    quiet: bool = False

    @property
    def kind(self) -> str:
        return "terms" if self.degree is None else "degree"

    def validate(self) -> "CurveOptions":
        _choice(self, "on_bad_row", BAD_ROW_POLICIES)
        _choice(self, "header", HEADER_MODES)
        if self.degree is not None and not 1 <= self.degree <= MAX_CURVE_DEGREE:
            raise OptionError(f"<opt:degree> must be between 1 and {MAX_CURVE_DEGREE}",
                              "degree")
        if self.block_rows < 1:
            raise OptionError("<opt:block_rows> must be at least 1", "block_rows")
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise OptionError("<opt:delimiter> must be a single character", "delimiter")
        if self.features is not None and (not self.features or any(not f for f in self.features)
                                          or len(set(self.features)) != len(self.features)):
            raise OptionError("<opt:features> must name distinct columns, comma-separated",
                              "features")
        try:
            validate_key_name(self.model_name, "<opt:model_name>")
        except InvalidIdentifierError as e:
            raise OptionError(str(e), "model_name") from None
        return self


@dataclass(frozen=True)
class PredictOptions:
    """A scoring run: which model, where the lines go, what to do with bad rows."""

    model: str
    output: str | None = None
    publish: bool = False
    on_bad_row: str = "skip"
    header: str = "auto"
    block_rows: int = 8192
    quiet: bool = False
    extra: dict = field(default_factory=dict)
    input_format: str = "auto"
    hive_table: str | None = None
    where: str | None = None
    unseen_level: str = "error"

    def validate(self) -> "PredictOptions":
        _check_table(self)
        _choice(self, "on_bad_row", BAD_ROW_POLICIES)
        _choice(self, "unseen_level", UNSEEN_POLICIES)
        _choice(self, "header", HEADER_MODES)
        if not self.model:
            raise OptionError("<opt:model> is required: the model JSON written by training",
                              "model")
        if self.block_rows < 1:
            raise OptionError("<opt:block_rows> must be at least 1", "block_rows")
        return self


def _check_table(opts):
    """``--input-format``, ``--hive-table`` and ``--where``, parsed strictly before any pass."""
    _choice(opts, "input_format", INPUT_FORMATS)
    if opts.where is not None and opts.hive_table is None:
        raise OptionError("<opt:where> selects partitions of <opt:hive_table>: give both",
                          "where")
    try:
        if opts.hive_table is not None:
            parse_table_name(opts.hive_table)
        if opts.where is not None:
            parse_where(opts.where)
    except FilterError as e:
        field_name = "where" if str(e).startswith(("--where", "cannot read --where", "a number")) \
            else "hive_table"
        raise OptionError(str(e).replace("--where", "<opt:where>"), field_name) from None


def _check_formula(opts: TrainOptions) -> None:
    """A formula names the label and the features itself, and its intercept."""
    try:
        formula = parse_formula(opts.formula)
    except FormulaError as e:
        raise OptionError(f"<opt:formula>: {e}", "formula") from None
    for name in ("label", "features"):
        if getattr(opts, name) is not None:
            raise OptionError(f"<opt:{name}> does not combine with <opt:formula>: the formula "
                              "names the label and the features", name)
    if not opts.fit_intercept and formula.intercept:
        raise OptionError("with <opt:formula>, drop the intercept in the formula ('- 1' or "
                          "'+ 0') instead of <opt:no_fit_intercept>", "fit_intercept")


#: What ``--weight-column`` does not combine with (yet), and why (README: which options
#: combine).
WEIGHT_REFUSALS = (
    ("cv_folds", "the fold factors are not weighted yet"),
    ("formula", "a formula's design is not weighted yet"),
    ("refine", "the double-double refinement passes are not weighted yet"),
    ("summary_mae", "statsmodels' WLS has no mean absolute error"),
    ("early_stopping", "the validation loss is not weighted yet"),
)


def _check_weights(opts: TrainOptions) -> None:
    """``--weight-column``: a column name, and only the combinations that are weighted."""
    if not opts.weight_column or opts.weight_column != opts.weight_column.strip():
        raise OptionError("<opt:weight_column> must name a column", "weight_column")
    if opts.features is not None and opts.weight_column in opts.features:
        raise OptionError(f"<opt:weight_column> {opts.weight_column!r} is also in "
                          "<opt:features>: the weights are not a feature", "weight_column")
    if opts.label is not None and opts.weight_column == opts.label:
        raise OptionError(f"<opt:weight_column> {opts.weight_column!r} is the label",
                          "weight_column")
    for name, why in WEIGHT_REFUSALS:
        if getattr(opts, name):
            raise OptionError(f"<opt:weight_column> does not combine with <opt:{name}>: "
                              f"{why}", "weight_column")
    if opts.loss != "squared":
        raise OptionError("<opt:weight_column> does not combine with <opt:loss> huber: IRLS's "
                          "own row weights are not composed with sample weights yet",
                          "weight_column")
    if opts.solver == "cd" and opts.strategy == "passes":
        raise OptionError("<opt:weight_column> does not combine with <opt:solver> cd on "
                          "<opt:strategy> passes (FISTA's passes are not weighted yet); the "
                          "stats strategy is", "weight_column")


def _choice(opts, name, allowed):
    value = getattr(opts, name)
    if value not in allowed:
        raise OptionError(f"<opt:{name}> must be one of {', '.join(allowed)}; got {value!r}",
                          name)
