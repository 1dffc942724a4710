"""Output for people: a short summary of a model or a curve, when stdout is a terminal.

Scripts and tests read one JSON object on stdout; that is what they get whenever
stdout is not a terminal, or with ``--json``.  On a terminal the same record is
shown as a few lines a person reads at a glance: coefficients, fit quality,
convergence, passes, warnings.
"""

from __future__ import annotations

import math
import sys

from mrlinreg.records import INTERCEPT, ModelRecord, ValidationCurve


def wants_json(ns, stream=None) -> bool:
    """JSON unless stdout is a terminal and ``--json`` was not given."""
    stream = stream or sys.stdout
    if getattr(ns, "json", False):
        return True
    try:
        return not stream.isatty()
    except (AttributeError, ValueError):
        return True


def _num(v, width=0) -> str:
    if v is None:
        return "-".rjust(width)
    if isinstance(v, float) and (v == 0 or 1e-4 <= abs(v) < 1e6):
        text = f"{v:.6g}"
    elif isinstance(v, float) and math.isfinite(v):
        text = f"{v:.4e}"
    else:
        text = str(v)
    return text.rjust(width)


def format_model(record: ModelRecord) -> str:
    """A short human summary of a trained model."""
    lines = [f"model {record.model_name}  run {record.run_id}",
             f"solver {record.solver}, strategy {record.strategy}; label {record.label}", ""]
    stats = record.summary.coefficients if record.summary is not None else {}
    names = list(record.features) + [INTERCEPT]
    values = [record.coefficients[f] for f in record.features] + [record.intercept]
    width = max(len(n) for n in names)
    header = f"  {'coefficient'.ljust(width)}  {'value':>12}"
    if stats:
        header += f"  {'std err':>10}  {'p-value':>9}"
    lines.append(header)
    for name, value in zip(names, values):
        line = f"  {name.ljust(width)}  {_num(float(value), 12)}"
        if stats:
            s = stats.get(name)
            line += (f"  {_num(s.std_err if s else None, 10)}"
                     f"  {_num(s.p_value if s else None, 9)}")
        lines.append(line)
    m = record.metrics
    fit = [f"{record.n_rows} rows"]
    if record.bad_rows:
        fit.append(f"{record.bad_rows} bad rows skipped")
    for key, label in (("mse", "MSE"), ("rmse", "RMSE"), ("r2", "R²"), ("mae", "MAE")):
        if key in m:
            fit.append(f"{label} {_num(m[key])}")
    lines += ["", "fit:         " + ", ".join(fit)]
    held = [f"{label} {_num(m[key])}" for key, label in
            (("validation_mse", "MSE"), ("validation_rmse", "RMSE"), ("validation_r2", "R²"))
            if key in m]
    if held:
        n_val = m.get("validation_n_rows")
        lines.append("validation:  " + (f"{int(n_val)} rows, " if n_val else "")
                     + ", ".join(held))
    conv = "converged" if record.converged else "NOT converged"
    last = record.history[-1] if record.history else None
    detail = f"{conv} after {record.iterations} iteration(s)"
    if last is not None and last.grad_norm is not None and record.solver != "qr":
        detail += f", final |grad| {_num(float(last.grad_norm))}"
    lines.append(f"convergence: {detail}")
    if record.huber:  # --loss huber
        h = record.huber
        lines.append(f"huber:       delta {_num(h['delta'])} ({h['delta_source']}), "
                     f"objective {_num(record.objective)}")
    if record.early_stopping:  # --early-stopping
        es = record.early_stopping
        lines.append("early stop:  " + (
            f"stopped at iteration {es['stop_iteration']}, kept iteration "
            f"{es['best_iteration']} (validation MSE {_num(es['best_val_loss'])})"
            if es["stopped"] else f"did not stop (patience {es['patience']}), best "
            f"validation MSE at iteration {es['best_iteration']}"))
    lines.append(f"passes:      {record.passes} MapReduce pass(es)")
    if record.residual_sample is not None:
        lines.append(f"sample:      {len(record.residual_sample.fitted)} validation rows kept "
                     "for residual plots")
    for w in record.warnings:
        lines.append(f"warning:     {w}")
    lines.append("")
    lines.append("(--json, or a pipe, prints the model as one JSON object)")
    return "\n".join(lines)


def format_curve(curve: ValidationCurve) -> str:
    """The validation curve as a table: size, parameters, training and validation MSE."""
    what = "degree" if curve.kind == "degree" else "terms"
    lines = [f"validation curve ({curve.kind}) of {curve.label} on "
             f"{', '.join(curve.features)}; run {curve.run_id}",
             f"{curve.n_rows} training rows"
             + (f", {curve.validation_n_rows} validation rows" if curve.validation_n_rows
                else ", no validation data") + f"; {curve.passes} passes", ""]
    lines.append(f"  {what:>6}  {'params':>6}  {'train MSE':>13}  {'validation MSE':>14}  adds")
    best = None
    if curve.validation_n_rows:
        best = min(curve.points, key=lambda p: p.validation_mse).size
    for p in curve.points:
        mark = "  <- lowest validation error" if p.size == best else ""
        lines.append(f"  {p.size:>6}  {p.n_params:>6}  {p.train_mse:>13.6g}  "
                     f"{_num(p.validation_mse, 14)}  {', '.join(p.terms)}{mark}")
    for w in curve.warnings:
        lines.append(f"warning: {w}")
    return "\n".join(lines)
