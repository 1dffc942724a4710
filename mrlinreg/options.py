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
from mrlinreg.formula import FormulaError, parse_formula
from mrlinreg.schema import InvalidIdentifierError, validate_key_name

SOLVERS = ("gd", "cg", "newton", "qr")
STRATEGIES = ("auto", "passes", "stats")
LINE_SEARCHES = ("armijo", "none")
BAD_ROW_POLICIES = ("skip", "fail")
HEADER_MODES = ("auto", "yes", "no")
UNSEEN_POLICIES = ("error", "reference")

#: Options that change the iterates: a resumed run must use the same ones.
FINGERPRINT_FIELDS = ("solver", "strategy", "learning_rate", "line_search", "tol",
                      "fit_intercept", "standardize", "on_bad_row", "delimiter", "l2")


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
    validation: tuple = ()
    min_norm: bool = False
    refine: bool = False
    on_bad_row: str = "skip"
    output_model: str | None = None
    summary: bool = False
    block_rows: int = 8192
    model_name: str = "default"
    resume: bool = False
    wait: bool = False
    publish: bool = False
    quiet: bool = False
    formula: str | None = None
    max_levels: int = 1000
    unseen_level: str = "error"

    def validate(self) -> "TrainOptions":
        """Return self if every setting is usable, else raise :class:`OptionError`."""
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
        if self.min_norm and self.solver != "qr":
            raise OptionError("<opt:min_norm> needs <opt:solver> qr", "min_norm")
        try:  # before any pass: the name becomes HBase keys, ZooKeeper paths, Hive values
            validate_key_name(self.model_name, "<opt:model_name>")
        except InvalidIdentifierError as e:
            raise OptionError(str(e), "model_name") from None
        _choice(self, "unseen_level", UNSEEN_POLICIES)
        if self.max_levels < 1:
            raise OptionError("<opt:max_levels> must be at least 1", "max_levels")
        if self.formula is not None:
            _check_formula(self)
        return self

    def fingerprint(self, features, label, inputs) -> dict:
        """What a resumed run must share with the run it continues."""
        fp = {k: getattr(self, k) for k in FINGERPRINT_FIELDS}
        if self.header != "auto":  # runs stored before the option existed read "auto"
            fp["header"] = self.header
        if self.formula is not None:  # likewise: only formula runs carry it
            fp["formula"] = self.formula
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
    unseen_level: str = "error"

    def validate(self) -> "PredictOptions":
        _choice(self, "on_bad_row", BAD_ROW_POLICIES)
        _choice(self, "unseen_level", UNSEEN_POLICIES)
        _choice(self, "header", HEADER_MODES)
        if not self.model:
            raise OptionError("<opt:model> is required: the model JSON written by training",
                              "model")
        if self.block_rows < 1:
            raise OptionError("<opt:block_rows> must be at least 1", "block_rows")
        return self


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


def _choice(opts, name, allowed):
    value = getattr(opts, name)
    if value not in allowed:
        raise OptionError(f"<opt:{name}> must be one of {', '.join(allowed)}; got {value!r}",
                          name)
