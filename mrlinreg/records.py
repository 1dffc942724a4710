"""The typed records that cross a boundary: model, summary, data context, solver state.

Every record is a dataclass with one ``to_json`` (a JSON-ready dict, every
number finite) and one ``from_json``.  The model record carries
``format_version``:

* **1**, written before typed records existed: no ``format_version`` key.
  It still loads (its fields are the same, a summary's ``t_stat`` is read as ``t``).
* **2**, this version.

A newer version is refused with a :class:`~mrlinreg.errors.RecordFormatError`
that names it.  No I/O here: storage and the driver read and write these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import numpy as np

from mrlinreg.errors import RecordFormatError

FORMAT_VERSION = 2
INTERCEPT = "intercept"


def check_finite(obj, where="record"):
    """Raise :class:`ValueError` if any number in a JSON-ready structure is NaN or infinite."""
    if isinstance(obj, float) and not math.isfinite(obj):
        raise ValueError(f"non-finite number in {where}")
    if isinstance(obj, dict):
        for k, v in obj.items():
            check_finite(v, f"{where}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            check_finite(v, f"{where}[{i}]")


def _require(d: dict, key: str, what: str):
    if key not in d:
        raise RecordFormatError(f"{what} has no {key!r}")
    return d[key]


@dataclass(frozen=True)
class HistoryEntry:
    """One iteration of a run, as the history and the ``training_history`` table keep it."""

    iteration: int
    loss: float
    grad_norm: float | None = None
    step: float | None = None
    elapsed_s: float | None = None
    val_loss: float | None = None  # --early-stopping: the validation MSE at this iterate

    def to_json(self) -> dict:
        d = {"iteration": int(self.iteration), "loss": float(self.loss),
             "grad_norm": _opt_float(self.grad_norm), "step": _opt_float(self.step),
             "elapsed_s": _opt_float(self.elapsed_s)}
        if self.val_loss is not None:
            d["val_loss"] = float(self.val_loss)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "HistoryEntry":
        return cls(_require(d, "iteration", "history entry"), _require(d, "loss", "history entry"),
                   d.get("grad_norm"), d.get("step"), d.get("elapsed_s"), d.get("val_loss"))


def _opt_float(x):
    return None if x is None else float(x)


@dataclass(frozen=True)
class CoefficientStats:
    """Inference for one coefficient (None where undefined)."""

    std_err: float | None = None
    t: float | None = None
    p_value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, d: dict | None) -> "CoefficientStats":
        d = d or {}
        return cls(d.get("std_err"), d.get("t", d.get("t_stat")), d.get("p_value"),
                   d.get("ci_low"), d.get("ci_high"))


@dataclass(frozen=True)
class Summary:
    """OLS statistics of a fit (:func:`mrlinreg.numerics.summary.ols_summary`).

    ``stats`` holds the whole-model statistics by statsmodels' names (``rsquared``,
    ``fvalue``, ``aic``, ...; the per-coefficient lists ``params``, ``bse``, ...);
    ``coefficients`` is the per-coefficient view that the coefficients table stores.
    """

    stats: dict
    coefficients: dict  # name -> CoefficientStats

    @classmethod
    def from_ols(cls, s: dict) -> "Summary":
        names = s["names"]
        none = [None] * len(names)
        coefficients = {
            name: CoefficientStats(se, t, pv, ci[0] if ci else None, ci[1] if ci else None)
            for name, se, t, pv, ci in zip(names, s["bse"] or none, s["tvalues"] or none,
                                           s["pvalues"] or none, s["conf_int"] or none)}
        return cls(dict(s), coefficients)

    def get(self, key, default=None):
        return self.stats.get(key, default)

    @property
    def mae(self):
        return self.stats.get("mae")

    def to_json(self) -> dict:
        return {**self.stats,
                "coefficients": {k: v.to_json() for k, v in self.coefficients.items()}}

    @classmethod
    def from_json(cls, d: dict | None) -> "Summary | None":
        if not d:
            return None
        stats = {k: v for k, v in d.items() if k != "coefficients"}
        return cls(stats, {k: CoefficientStats.from_json(v)
                           for k, v in (d.get("coefficients") or {}).items()})


@dataclass(frozen=True)
class Scaling:
    """Working space ``A = [(X - shift)/scale, 1]`` (see :mod:`mrlinreg.numerics.scaling`)."""

    standardize: bool
    fit_intercept: bool
    shift: tuple
    scale: tuple

    def arrays(self):
        return np.array(self.shift, dtype=np.float64), np.array(self.scale, dtype=np.float64)

    def to_json(self) -> dict:
        return {"standardize": bool(self.standardize), "fit_intercept": bool(self.fit_intercept),
                "shift": [float(v) for v in self.shift], "scale": [float(v) for v in self.scale]}

    @classmethod
    def from_json(cls, d: dict) -> "Scaling":
        return cls(bool(d["standardize"]), bool(d["fit_intercept"]),
                   tuple(float(v) for v in d["shift"]), tuple(float(v) for v in d["scale"]))


@dataclass
class ModelRecord:
    """A fitted model and how it was fitted: what training prints, stores and publishes."""

    run_id: str
    model_name: str
    created_at: str
    options: dict
    solver: str
    strategy: str
    label: str | None
    features: list
    coefficients: dict
    intercept: float
    iterations: int
    converged: bool
    loss: float
    n_rows: int
    bad_rows: int
    bad_row_reasons: dict
    passes: int
    history: list  # of HistoryEntry
    metrics: dict
    scaling: Scaling | None
    working_weights: list
    warnings: list = field(default_factory=list)
    summary: Summary | None = None
    objective: float | None = None
    refinement: list | None = None
    path: dict | None = None       # {"lambdas", "coefficients": [{name: value}], "intercepts"}
    cv: dict | None = None         # {"folds", "lambdas", "mean_mse", "se_mse", "lambda_min", ...}
    selected: list | None = None   # features with a non-zero coefficient (penalised fits)
    residual_sample: "ResidualSample | None" = None
    format_version: int = FORMAT_VERSION
    #: ``{"text": "y ~ ...", "levels": {column: [levels]}}`` of a ``--formula`` model
    #: (absent from older models and from models without a formula)
    formula: dict | None = None
    #: ``--weight-column``: the column of row weights (weighted least squares); absent
    #: from unweighted models.  Predict ignores it.
    weight_column: str | None = None
    #: ``--loss huber``: ``{"delta", "delta_source", "scale", ...}`` (mrlinreg.driver.huber)
    huber: dict | None = None
    #: ``--early-stopping``: the stop decision (mrlinreg.driver.early_stopping)
    early_stopping: dict | None = None
    #: iterations whose snapshot write was not confirmed (the snapshot store was down;
    #: training went on); absent when every snapshot was written
    snapshots_missing: list | None = None

    def coefficient_vector(self) -> np.ndarray:
        return np.array([self.coefficients[f] for f in self.features], dtype=np.float64)

    def to_json(self) -> dict:
        """The model as a JSON-ready dict; raises ValueError on any non-finite number."""
        d = {
            "format_version": FORMAT_VERSION,
            "run_id": self.run_id, "model_name": self.model_name,
            "created_at": self.created_at, "options": dict(self.options),
            "solver": self.solver, "strategy": self.strategy, "label": self.label,
            "features": list(self.features),
            "coefficients": {k: float(v) for k, v in self.coefficients.items()},
            "intercept": float(self.intercept), "iterations": int(self.iterations),
            "converged": bool(self.converged), "loss": float(self.loss),
            "n_rows": int(self.n_rows), "bad_rows": int(self.bad_rows),
            "bad_row_reasons": {k: int(v) for k, v in sorted(self.bad_row_reasons.items())},
            "passes": int(self.passes), "history": [h.to_json() for h in self.history],
            "metrics": {k: float(v) for k, v in self.metrics.items()},
            "scaling": None if self.scaling is None else self.scaling.to_json(),
            "working_weights": [float(v) for v in self.working_weights],
            "warnings": list(self.warnings),
            "summary": None if self.summary is None else self.summary.to_json(),
        }
        if self.objective is not None:
            d["objective"] = float(self.objective)
        if self.refinement is not None:
            d["refinement"] = [dict(r) for r in self.refinement]
        for key in ("path", "cv"):
            if getattr(self, key) is not None:
                d[key] = dict(getattr(self, key))
        if self.selected is not None:
            d["selected_features"] = list(self.selected)
        if self.residual_sample is not None:
            d["residual_sample"] = self.residual_sample.to_json()
        if self.formula is not None:
            d["formula"] = {"text": self.formula["text"],
                            "levels": {k: list(v) for k, v in self.formula["levels"].items()}}
        if self.weight_column is not None:
            d["weight_column"] = str(self.weight_column)
        for key in ("huber", "early_stopping"):
            if getattr(self, key) is not None:
                d[key] = dict(getattr(self, key))
        if self.snapshots_missing:
            d["snapshots_missing"] = [int(i) for i in self.snapshots_missing]
        check_finite(d, "model")
        return d

    @classmethod
    def from_json(cls, d: dict) -> "ModelRecord":
        """Read a model written by this or an earlier version (see the module docstring)."""
        if not isinstance(d, dict):
            raise RecordFormatError("a model record must be a JSON object")
        version = d.get("format_version", 1)
        if version not in (1, FORMAT_VERSION):
            raise RecordFormatError(
                f"model format_version {version!r} is not supported by this mrlinreg "
                f"(it reads versions 1 and {FORMAT_VERSION}); upgrade mrlinreg to read it")
        try:  # values as stored: storage checks their types when it writes them
            scaling = d.get("scaling")
            return cls(
                run_id=d["run_id"], model_name=d["model_name"], created_at=d["created_at"],
                options=dict(d.get("options") or {}), solver=d["solver"],
                strategy=d.get("strategy"), label=d.get("label"),
                features=list(d["features"]), coefficients=dict(d["coefficients"]),
                intercept=d.get("intercept"), iterations=d["iterations"],
                converged=d["converged"], loss=d.get("loss"), n_rows=d["n_rows"],
                bad_rows=d.get("bad_rows", 0),
                bad_row_reasons=dict(d.get("bad_row_reasons") or {}),
                passes=d.get("passes", 0),
                history=[HistoryEntry.from_json(h) for h in d.get("history") or []],
                metrics=dict(d.get("metrics") or {}),
                scaling=None if scaling is None else Scaling.from_json(scaling),
                working_weights=list(d.get("working_weights") or []),
                warnings=list(d.get("warnings") or []),
                summary=Summary.from_json(d.get("summary")), objective=d.get("objective"),
                refinement=d.get("refinement"), path=d.get("path"), cv=d.get("cv"),
                selected=d.get("selected_features"),
                residual_sample=ResidualSample.from_json(d.get("residual_sample")),
                formula=d.get("formula"), weight_column=d.get("weight_column"),
                huber=d.get("huber"), early_stopping=d.get("early_stopping"),
                snapshots_missing=d.get("snapshots_missing"))
        except KeyError as e:
            raise RecordFormatError(f"model record (format_version {version}) has no "
                                    f"{e.args[0]!r}") from None
        except (TypeError, ValueError) as e:
            raise RecordFormatError(f"model record (format_version {version}) is malformed: "
                                    f"{e}") from None


@dataclass(frozen=True)
class ResidualSample:
    """A deterministic sample of scored rows (:mod:`mrlinreg.numerics.reservoir`), for
    residual plots: each row's fitted value and label, in key order."""

    source: str          # the pass that drew it: "validation"
    rows_seen: int       # rows of that pass
    fitted: tuple
    y_true: tuple

    def to_json(self) -> dict:
        return {"source": self.source, "rows_seen": int(self.rows_seen),
                "fitted": [float(v) for v in self.fitted],
                "y_true": [float(v) for v in self.y_true]}

    @classmethod
    def from_json(cls, d: dict | None) -> "ResidualSample | None":
        if d is None:
            return None
        fitted, y_true = tuple(d["fitted"]), tuple(d["y_true"])
        if len(fitted) != len(y_true):
            raise RecordFormatError("residual_sample: fitted and y_true differ in length")
        return cls(str(d.get("source", "validation")), int(d.get("rows_seen", len(fitted))),
                   fitted, y_true)


@dataclass(frozen=True)
class CurvePoint:
    """One nested model of a validation curve (``mrlinreg curve``)."""

    size: int                     # degree k, or number of features k
    terms: list                   # the columns it adds (names)
    n_params: int                 # coefficients including the intercept
    train_mse: float
    validation_mse: float | None
    coefficients: dict            # name -> value, original units
    intercept: float

    def to_json(self) -> dict:
        return {"size": int(self.size), "terms": list(self.terms),
                "n_params": int(self.n_params), "train_mse": float(self.train_mse),
                "validation_mse": _opt_float(self.validation_mse),
                "coefficients": {k: float(v) for k, v in self.coefficients.items()},
                "intercept": float(self.intercept)}

    @classmethod
    def from_json(cls, d: dict) -> "CurvePoint":
        return cls(int(d["size"]), list(d.get("terms") or []), int(d["n_params"]),
                   float(d["train_mse"]), _opt_float(d.get("validation_mse")),
                   dict(d.get("coefficients") or {}), float(d.get("intercept", 0.0)))


@dataclass
class ValidationCurve:
    """Training and validation error of nested models, from one pass over each dataset."""

    run_id: str
    model_name: str
    created_at: str
    kind: str                     # "degree" or "terms"
    label: str | None
    features: list                # the raw features
    n_rows: int
    validation_n_rows: int | None
    bad_rows: int
    points: list                  # of CurvePoint, smallest model first
    passes: int = 0
    warnings: list = field(default_factory=list)

    def to_json(self) -> dict:
        d = {"record": "validation_curve", "run_id": self.run_id,
             "model_name": self.model_name, "created_at": self.created_at, "kind": self.kind,
             "label": self.label, "features": list(self.features),
             "n_rows": int(self.n_rows),
             "validation_n_rows": None if self.validation_n_rows is None
             else int(self.validation_n_rows),
             "bad_rows": int(self.bad_rows), "passes": int(self.passes),
             "points": [p.to_json() for p in self.points], "warnings": list(self.warnings)}
        check_finite(d, "validation curve")
        return d

    @classmethod
    def from_json(cls, d: dict) -> "ValidationCurve":
        try:
            return cls(d["run_id"], d["model_name"], d["created_at"], d["kind"], d.get("label"),
                       list(d.get("features") or []), int(d["n_rows"]),
                       d.get("validation_n_rows"), int(d.get("bad_rows", 0)),
                       [CurvePoint.from_json(p) for p in d["points"]],
                       int(d.get("passes", 0)), list(d.get("warnings") or []))
        except (KeyError, TypeError, ValueError) as e:
            raise RecordFormatError(f"validation curve record is malformed: {e!r}") from None


@dataclass
class DataContext:
    """What the first passes learn about the data; fixed for the whole run.

    ``mean``/``m2`` cover the features and then the label; ``R`` is the
    factor of ``[A y]`` (None unless the stats strategy or a summary needs it).
    With ``--cv K``, ``fold_R`` (K, p+1, p+1) holds each fold's factor (zeros for
    an empty fold) and ``fold_n`` (K,) its row count.

    With ``--weight-column`` (weighted least squares), ``sum_w`` is the weights'
    total, ``mean``/``m2`` are weighted, ``R`` is the factor of ``sqrt(w) [A y]``,
    ``n`` still counts every row (zero weights too), ``n_zero`` those of weight 0 and
    ``sum_log_w`` adds ``log w`` over the positive weights (the WLS likelihood).
    """

    n: int
    mean: np.ndarray
    m2: np.ndarray
    bad_rows: dict
    shift: np.ndarray
    scale: np.ndarray
    strategy: str
    R: np.ndarray | None = None
    fold_R: np.ndarray | None = None
    fold_n: np.ndarray | None = None
    sum_w: float | None = None       # --weight-column only
    sum_log_w: float | None = None
    n_zero: int | None = None

    @property
    def n_bad(self) -> int:
        return int(sum(self.bad_rows.values()))

    @property
    def weighted(self) -> bool:
        return self.sum_w is not None

    @property
    def n_fit(self):
        """What sums of squares are divided by: the weights' total, else the row count."""
        return self.n if self.sum_w is None else self.sum_w

    def weight_values(self) -> dict:
        if self.sum_w is None:
            return {}
        return {"sum_w": float(self.sum_w),
                **({} if self.sum_log_w is None else {"sum_log_w": float(self.sum_log_w)}),
                **({} if self.n_zero is None else {"n_zero": int(self.n_zero)})}

    def to_values(self) -> dict:
        """Flat typed values (arrays, ints, strings) for the snapshot encoding."""
        import json

        return {"n": int(self.n), "mean": self.mean, "m2": self.m2,
                "bad_rows": json.dumps(self.bad_rows, sort_keys=True), "shift": self.shift,
                "scale": self.scale, "strategy": self.strategy, "R": self.R,
                **({} if self.fold_R is None else
                   {"fold_R": self.fold_R, "fold_n": np.asarray(self.fold_n, np.float64)}),
                **self.weight_values()}

    @classmethod
    def from_values(cls, v: dict) -> "DataContext":
        import json

        return cls(n=int(v["n"]), mean=v["mean"], m2=v["m2"],
                   bad_rows=json.loads(v["bad_rows"]), shift=v["shift"], scale=v["scale"],
                   strategy=v["strategy"], R=v.get("R"), fold_R=v.get("fold_R"),
                   fold_n=None if v.get("fold_n") is None else
                   np.asarray(v["fold_n"]).astype(np.int64),
                   sum_w=None if v.get("sum_w") is None else float(v["sum_w"]),
                   sum_log_w=None if v.get("sum_log_w") is None else float(v["sum_log_w"]),
                   n_zero=None if v.get("n_zero") is None else int(v["n_zero"]))


@dataclass
class SolverState:
    """A solver's whole state after an iteration: enough to continue bit for bit.

    ``extra`` holds what one solver keeps beyond the common fields, by name:
    gd ``t`` (the last accepted step), cg ``r`` and ``dir`` (residual and
    direction), newton ``hessian`` (and, on the stats strategy, ``hessian_factor`` and
    ``whitened_grad``: it solves on the R factor); the exact solver keeps nothing more.
    """

    solver: str
    w: np.ndarray
    loss: float
    g: np.ndarray | None
    g0_norm: float | None
    iteration: int
    prev_loss: float | None = None
    extra: dict = field(default_factory=dict)

    EXTRA_FIELDS = {"gd": ("t",), "cg": ("r", "dir"),
                    "newton": ("hessian", "hessian_factor", "whitened_grad"), "qr": (),
                    "cd": (), "lbfgs": ("t", "S", "Y"),
                    "fista": ("objective", "y", "f_y", "g_y", "x_next", "a", "L", "residual"),
                    "irls": ("next", "delta", "median_abs_residual")}
    #: what early stopping keeps beside any solver's state (its best iterate so far)
    EARLY_STOPPING_FIELDS = ("es_val0", "es_best_w", "es_best_train_loss")
    COMMON = ("w", "loss", "g", "g0_norm", "iteration", "prev_loss")

    def to_solver_dict(self) -> dict:
        """The dict the solvers in :mod:`mrlinreg.numerics.solvers` keep."""
        d = {k: getattr(self, k) for k in self.COMMON}
        d.update(self.extra)
        return d

    @classmethod
    def from_solver_dict(cls, solver: str, d: dict) -> "SolverState":
        allowed = cls.EXTRA_FIELDS.get(solver)
        if allowed is None:
            raise RecordFormatError(f"unknown solver {solver!r} in a solver state")
        allowed = tuple(allowed) + cls.EARLY_STOPPING_FIELDS
        unknown = set(d) - set(cls.COMMON) - set(allowed)
        if unknown:
            raise RecordFormatError(f"{solver} state has unknown fields {sorted(unknown)}")
        return cls(solver=solver, w=d["w"], loss=float(d["loss"]), g=d.get("g"),
                   g0_norm=d.get("g0_norm"), iteration=int(d["iteration"]),
                   prev_loss=d.get("prev_loss"), extra={k: d[k] for k in allowed if k in d})

    def to_values(self) -> dict:
        """Flat typed values for the snapshot encoding (``w`` travels as the weights)."""
        return {"solver": self.solver, **{k: v for k, v in self.to_solver_dict().items()
                                          if k != "w"}}

    @classmethod
    def from_values(cls, weights, v: dict) -> "SolverState":
        d = {k: val for k, val in v.items() if k != "solver"}
        d["w"] = weights
        return cls.from_solver_dict(v["solver"], d)


#: Columns of one prediction line, in the order of the ``predictions`` table.
PREDICTION_COLUMNS = ("input_file", "row_index", "row_id", "y_true", "prediction")
#: How a null reads in a predictions text file (Hive's default ``\N``).
TEXT_NULL = "\\N"


def prediction_lines(input_file, offsets, y, yhat, delimiter="\t") -> str:
    """A block of predictions as lines of the ``predictions`` table's text files.

    One vectorised pyarrow CSV write, no quoting (a field holding the delimiter or a
    line break is refused), doubles in their shortest round-trip form, nulls as
    ``\\N``.  Returns the lines without a final line break.
    """
    import io

    import pyarrow as pa
    import pyarrow.csv as pacsv

    n = len(yhat)
    null_text = pa.array([TEXT_NULL] * n, pa.string())
    table = pa.table({
        "input_file": pa.array([input_file] * n, pa.string()),
        "row_index": (pa.array(offsets, pa.int64()).cast(pa.string())
                      if offsets is not None else null_text),
        "row_id": null_text,
        "y_true": (pa.array(y, pa.float64()).cast(pa.string()) if y is not None
                   else null_text),
        "prediction": pa.array(yhat, pa.float64()),
    })
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, delimiter=delimiter,
                                                   quoting_style="none"))
    return buf.getvalue().decode("utf-8").rstrip("\n")
