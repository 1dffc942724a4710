"""Turn a model record (:class:`~mrlinreg.records.ModelRecord`) into rows of the results tables.

Pure functions, no I/O: both result stores write exactly these rows.  The
record layout is described in :mod:`mrlinreg.storage.results`.  Rows are dicts
keyed by the column names of ``schemas/warehouse.yaml`` (the ``run_id``
partition column excluded) and are checked against it: a missing required
value, a wrong type or a non-finite number is an :class:`InvalidRecordError`
that names the table, row and column.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import numbers

from mrlinreg.records import INTERCEPT, CoefficientStats, ModelRecord
from mrlinreg.schema import InvalidIdentifierError, validate_key_name
from mrlinreg.storage.errors import InvalidRecordError

RECORD_TABLES = ("models", "coefficients", "training_history", "metrics")
#: Tables only some runs have rows in (``--path``, ``--cv``, a residual sample); a run
#: without them leaves them untouched (no statement), so other runs' publishes cost what
#: they did.
OPTIONAL_TABLES = ("regularization_path", "cv_curve", "residual_samples")


def publish_order(rows):
    """Tables to write for one run's rows, ``models`` last (a run is visible once its
    ``models`` row is)."""
    return (list(RECORD_TABLES[1:]) + [t for t in OPTIONAL_TABLES if rows.get(t)]
            + [RECORD_TABLES[0]])


def parse_timestamp(text):
    """ISO-8601 text (``...Z`` allowed) to an aware UTC datetime."""
    if isinstance(text, dt.datetime):
        stamp = text
    else:
        try:
            stamp = dt.datetime.fromisoformat(str(text))
        except ValueError:
            raise InvalidRecordError(f"created_at {text!r} is not an ISO-8601 "
                                     f"timestamp like 2026-11-29T23:15:00Z") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp.astimezone(dt.timezone.utc)


def _inference(stats):
    stats = stats or CoefficientStats()
    return {"std_err": stats.std_err, "t_stat": stats.t, "p_value": stats.p_value,
            "ci_low": stats.ci_low, "ci_high": stats.ci_high}


def record_rows(record: ModelRecord):
    """Rows per results table for one model record.

    Returns
    -------
    run_id : str
    rows : dict of table name -> list of row dicts
    """
    if not isinstance(record, ModelRecord):
        raise InvalidRecordError(f"expected a ModelRecord, got {type(record).__name__}")
    try:
        run_id = validate_key_name(record.run_id, "run_id")
        model_name = validate_key_name(record.model_name, "model_name")
    except InvalidIdentifierError as exc:
        raise InvalidRecordError(str(exc)) from None
    features = list(record.features)
    coefficients = record.coefficients
    missing = [f for f in features if f not in coefficients]
    if missing:
        raise InvalidRecordError(f"run {run_id}: no coefficient for feature(s) "
                                 f"{', '.join(map(str, missing))}")
    summary = record.summary
    coef_stats = summary.coefficients if summary is not None else {}
    coef_rows = [dict(feature_index=i, feature=name, value=coefficients[name],
                      **_inference(coef_stats.get(name)))
                 for i, name in enumerate(features)]
    if record.intercept is not None:
        coef_rows.append(dict(feature_index=len(features), feature=INTERCEPT,
                              value=record.intercept, **_inference(coef_stats.get(INTERCEPT))))

    history_rows = [dict(iteration=h.iteration, loss=h.loss, grad_norm=h.grad_norm,
                         step=h.step, elapsed_s=h.elapsed_s, val_loss=h.val_loss)
                    for h in record.history]

    metrics = dict(record.metrics)
    metric_rows = [dict(name=str(k), value=v) for k, v in metrics.items()]
    if summary is not None:
        metric_rows += [dict(name=f"summary.{k}", value=v) for k, v in summary.stats.items()
                        if isinstance(v, (int, float)) and not isinstance(v, bool)]
    for part in ("huber", "early_stopping"):  # --loss huber's delta, the stop decision
        metric_rows += [dict(name=f"{part}.{k}", value=float(v))
                        for k, v in (getattr(record, part, None) or {}).items()
                        if isinstance(v, (int, float)) and not isinstance(v, bool)]

    r2 = metrics.get("r2", summary.get("r2") if summary is not None else None)
    model_row = dict(
        model_name=model_name,
        solver=record.solver,
        strategy=record.strategy,
        options=json.dumps(record.options or {}, sort_keys=True, allow_nan=False),
        label=record.label,
        features=features,
        n_rows=record.n_rows,
        bad_rows=record.bad_rows,
        converged=record.converged,
        iterations=record.iterations,
        final_loss=record.loss,
        r2=r2,
        created_at=parse_timestamp(record.created_at),
    )
    sample = record.residual_sample
    sample_rows = [] if sample is None else [
        dict(sample_rank=i, source=sample.source, fitted=f, y_true=y, residual=y - f)
        for i, (f, y) in enumerate(zip(sample.fitted, sample.y_true))]
    return run_id, {"models": [model_row], "coefficients": coef_rows,
                    "training_history": history_rows, "metrics": metric_rows,
                    "regularization_path": path_rows(record), "cv_curve": cv_rows(record),
                    "residual_samples": sample_rows}


def path_rows(record):
    """``regularization_path`` rows of a record with a ``path`` (else [])."""
    path = record.path
    if not path:
        return []
    features = list(record.features)
    lambdas = path["lambdas"]
    l1s = path.get("l1") or [path.get("alpha", 1.0) * s for s in lambdas]
    l2s = path.get("l2") or [(1.0 - path.get("alpha", 1.0)) * s for s in lambdas]
    rows = []
    for i, (s, l1, l2, coefs) in enumerate(zip(lambdas, l1s, l2s, path["coefficients"])):
        point = dict(lambda_index=i, l1=l1, l2=l2)
        point["lambda"] = s
        rows += [dict(point, feature_index=j, feature=name, value=coefs[name])
                 for j, name in enumerate(features)]
        if path.get("intercepts") is not None:
            rows.append(dict(point, feature_index=len(features), feature=INTERCEPT,
                             value=path["intercepts"][i]))
    return rows


def cv_rows(record):
    """``cv_curve`` rows of a record with a ``cv`` (else [])."""
    cv = record.cv
    if not cv:
        return []
    alpha = cv.get("alpha", 1.0)
    lambdas = cv["lambdas"]
    i_min = cv.get("index_min", lambdas.index(cv["lambda_min"]))
    i_1se = cv.get("index_1se", lambdas.index(cv["lambda_1se"]))
    rows = []
    for i, (s, m, se) in enumerate(zip(lambdas, cv["mean_mse"], cv["se_mse"])):
        row = dict(lambda_index=i, l1=alpha * s, l2=(1.0 - alpha) * s, mean_mse=m, se_mse=se,
                   folds=int(cv["folds"]), is_min=i == i_min, is_1se=i == i_1se)
        row["lambda"] = s
        rows.append(row)
    return rows


def curve_rows(curve, warehouse):
    """Rows of the ``validation_curves`` table for one
    :class:`~mrlinreg.records.ValidationCurve`, checked; returns ``(run_id, rows)``."""
    try:
        run_id = validate_key_name(curve.run_id, "run_id")
        model_name = validate_key_name(curve.model_name, "model_name")
    except InvalidIdentifierError as exc:
        raise InvalidRecordError(str(exc)) from None
    rows = [dict(model_name=model_name, kind=curve.kind, size=p.size, terms=list(p.terms),
                 n_params=p.n_params, train_mse=p.train_mse, validation_mse=p.validation_mse,
                 n_rows=curve.n_rows, validation_n_rows=curve.validation_n_rows,
                 created_at=parse_timestamp(curve.created_at)) for p in curve.points]
    return run_id, check_rows(warehouse.table("validation_curves"), rows, f"curve {run_id}: ")


def checked_record_rows(record, warehouse):
    """:func:`record_rows` with every row checked by :func:`check_rows`."""
    run_id, rows = record_rows(record)
    return run_id, {t: check_rows(warehouse.table(t), rows[t], f"run {run_id}: ")
                    for t in RECORD_TABLES + OPTIONAL_TABLES}


def check_rows(table, rows, where=""):
    """Check rows against a schema table; return them coerced (ints, floats).

    Raises
    ------
    InvalidRecordError
        Unknown or missing column, null in a required column, wrong type,
        non-finite number.
    """
    names = set(table.column_names)
    checked = []
    for i, row in enumerate(rows):
        extra = set(row) - names
        if extra:
            raise InvalidRecordError(f"{where}{table.name} row {i}: unknown column(s) "
                                     f"{', '.join(sorted(extra))}")
        out = {}
        for col in table.columns:
            value = row.get(col.name)
            here = f"{where}{table.name} row {i} column {col.name}"
            if value is None:
                if not col.nullable:
                    raise InvalidRecordError(f"{here}: a value is required")
                out[col.name] = None
                continue
            out[col.name] = _coerce(value, col.type, here)
        checked.append(out)
    return checked


def _coerce(value, hive_type, here):
    if hive_type == "DOUBLE":
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InvalidRecordError(f"{here}: expected a number, got {value!r}")
        number = float(value)
        if not math.isfinite(number):
            raise InvalidRecordError(f"{here}: {value!r} is not finite; NaN and "
                                     f"infinity are never stored")
        return number
    if hive_type in ("INT", "BIGINT"):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise InvalidRecordError(f"{here}: expected an integer, got {value!r}")
        number = int(value)
        limit = 2 ** 31 if hive_type == "INT" else 2 ** 63
        if not -limit <= number < limit:
            raise InvalidRecordError(f"{here}: {number} does not fit in {hive_type}")
        return number
    if hive_type == "BOOLEAN":
        if not isinstance(value, bool):
            raise InvalidRecordError(f"{here}: expected true or false, got {value!r}")
        return value
    if hive_type == "STRING":
        if not isinstance(value, str):
            raise InvalidRecordError(f"{here}: expected a string, got {value!r}")
        return value
    if hive_type == "TIMESTAMP":
        return parse_timestamp(value)
    if hive_type == "ARRAY<STRING>":
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or \
                not all(isinstance(v, str) for v in value):
            raise InvalidRecordError(f"{here}: expected a list of strings, got {value!r}")
        return list(value)
    raise InvalidRecordError(f"{here}: unsupported type {hive_type}")  # pragma: no cover


def prediction_rows(table_of_rows):
    """Rows from a pyarrow Table, a mapping of columns, or an iterable of dicts."""
    if hasattr(table_of_rows, "to_pylist"):
        return table_of_rows.to_pylist()
    if isinstance(table_of_rows, dict):
        columns = {k: list(v) for k, v in table_of_rows.items()}
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise InvalidRecordError("prediction columns have different lengths")
        n = lengths.pop() if lengths else 0
        return [{k: v[i] for k, v in columns.items()} for i in range(n)]
    return [dict(row) for row in table_of_rows]
