"""``mrlinreg plot MODEL_JSON|RUN_ID [MORE ...] --kind KIND --output FILE``: pictures.

Kinds (matplotlib, the Agg backend: no display needed; PNG, or SVG with
``--format svg`` or an ``.svg`` output name):

* ``convergence``: training loss, excess loss over the best run shown, and gradient
  norm against iteration, log scale, every run overlaid (gd, cg and newton in one
  picture), from the model's ``history``;
* ``residuals``: residuals against fitted values, and ``qq``: the residuals'
  quantiles against the normal's, from the run's residual sample (``train
  --validation INPUT --residual-sample N``);
* ``path``: coefficients against the penalty, from the model's ``"path"``;
  ``cv``: cross-validated MSE (with one standard error) against the penalty, from
  its ``"cv"``, marking ``lambda_min`` and ``lambda_1se``;
* ``curve``: training and validation MSE against model size (``mrlinreg curve``).

A source is a JSON file (a model, or a curve written by ``curve --output``) or a
run id, looked up in the results store (the local warehouse, or Hive in cluster
mode): ``models``/``training_history``/``residual_samples`` for a trained run,
``validation_curves`` for a curve.  matplotlib is the optional extra ``plot``
(``pip install 'mrlinreg[plot]'``); without it the command says so and exits 2.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field

import numpy as np

from mrlinreg.errors import InputError, RecordFormatError
from mrlinreg.records import (CurvePoint, HistoryEntry, ModelRecord, ResidualSample,
                              ValidationCurve)

KINDS = ("convergence", "residuals", "qq", "path", "cv", "curve")
FORMATS = ("png", "svg")
MISSING_MATPLOTLIB = ("mrlinreg plot needs matplotlib, an optional extra: "
                      "pip install 'mrlinreg[plot]' (or pip install matplotlib)")


@dataclass
class Source:
    """What one MODEL_JSON or RUN_ID gives the plots."""

    name: str                                   # legend label
    model: ModelRecord | None = None
    curve: ValidationCurve | None = None
    extra: dict = field(default_factory=dict)   # raw JSON keys: "path", "cv"


def add_parser(sub) -> None:
    sp = sub.add_parser("plot", help="draw convergence, residual, path, CV or curve plots",
                        description=__doc__.split("\n\n")[0], allow_abbrev=False,
                        usage="mrlinreg plot MODEL_JSON|RUN_ID [MORE ...] --kind KIND "
                              "--output FILE [--format png|svg]")
    sp.add_argument("sources", nargs="+", metavar="MODEL_JSON|RUN_ID",
                    help="model or curve JSON files, or run ids in the results store")
    sp.add_argument("--kind", required=True, choices=KINDS)
    sp.add_argument("--output", required=True, help="the picture file to write")
    sp.add_argument("--format", choices=FORMATS, default=None,
                    help="png (default) or svg; default from the --output extension")
    sp.add_argument("--config", help="config file (default: $MRLINREG_CONFIG or the shipped "
                                     "conf/mrlinreg.ini), for run ids")
    sp.set_defaults(handler=run, adders=(), subparser=sp, help=False)


def run(ns, inputs, mrjob_args, parser) -> int:
    from mrlinreg.cli.errors import report

    try:
        import matplotlib
    except ImportError:
        print(parser.format_usage().rstrip(), file=sys.stderr)
        print(f"error: {MISSING_MATPLOTLIB}", file=sys.stderr)
        return 2
    matplotlib.use("Agg")
    fmt = ns.format or ("svg" if ns.output.lower().endswith(".svg") else "png")
    try:
        sources = [load_source(s, ns.config) for s in ns.sources]
        fig = draw(ns.kind, sources)
        fig.savefig(ns.output, format=fmt, dpi=110)
    except Exception as exc:  # noqa: BLE001 - report() re-raises what is not expected
        return report(exc, usage=parser.format_usage())
    print(f"wrote {ns.output} ({ns.kind}, {fmt}, {len(sources)} source(s))", file=sys.stderr)
    return 0


# --- sources -------------------------------------------------------------------------

def load_source(text: str, config_path=None) -> Source:
    """A JSON file when ``text`` names one, else a run id in the results store."""
    if os.path.isfile(text):
        try:
            with open(text, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(f"cannot read {text} as JSON: {e}") from None
        return source_from_json(data, os.path.basename(text))
    return source_from_store(text, config_path)


def source_from_json(data, name: str) -> Source:
    if not isinstance(data, dict):
        raise InputError(f"{name}: expected a JSON object (a model or a curve)")
    if data.get("record") == "validation_curve":
        curve = ValidationCurve.from_json(data)
        return Source(f"{curve.model_name} ({name})", curve=curve)
    try:
        model = ModelRecord.from_json(data)
    except RecordFormatError as e:
        raise InputError(f"{name}: {e}") from None
    extra = {k: data[k] for k in ("path", "cv") if isinstance(data.get(k), dict)}
    return Source(f"{model.solver} ({name})", model=model, extra=extra)


def source_from_store(run_id: str, config_path=None) -> Source:
    """A run from the results store: its model rows, history and residual sample, or
    its validation curve."""
    from mrlinreg.config import load_config
    from mrlinreg.schema import InvalidIdentifierError, validate_key_name
    from mrlinreg.storage.factory import open_results_store

    try:
        validate_key_name(run_id, "RUN_ID")
    except InvalidIdentifierError:
        raise InputError(f"{run_id!r} is neither a JSON file nor a run id") from None
    config = load_config(config_path)
    with open_results_store(config) as store:
        models = store.read_table("models", run_id).to_pylist()
        if models:
            history = store.read_table("training_history", run_id).to_pylist()
            sample = store.read_table("residual_samples", run_id).to_pylist()
            return Source(f"{models[0]['solver']} ({run_id})",
                          model=_model_from_rows(run_id, models[0], history, sample))
        points = store.read_table("validation_curves", run_id).to_pylist()
        if points:
            return Source(f"{points[0]['model_name']} {run_id}",
                          curve=_curve_from_rows(run_id, points))
    raise InputError(f"no run {run_id} in {store!r} (neither a models row nor a "
                     "validation curve); give a model JSON file or another run id")


def _model_from_rows(run_id, m, history, sample) -> ModelRecord:
    history = sorted(history, key=lambda h: h["iteration"])
    sample = sorted(sample, key=lambda s: s["sample_rank"])
    rs = None if not sample else ResidualSample(
        sample[0]["source"], len(sample), tuple(s["fitted"] for s in sample),
        tuple(s["y_true"] for s in sample))
    return ModelRecord(
        run_id=run_id, model_name=m["model_name"], created_at=str(m["created_at"]),
        options=json.loads(m["options"] or "{}"), solver=m["solver"], strategy=m["strategy"],
        label=m["label"], features=list(m["features"]), coefficients={}, intercept=0.0,
        iterations=m["iterations"], converged=m["converged"], loss=m["final_loss"],
        n_rows=m["n_rows"], bad_rows=m["bad_rows"], bad_row_reasons={}, passes=0,
        history=[HistoryEntry(h["iteration"], h["loss"], h["grad_norm"], h["step"],
                              h["elapsed_s"]) for h in history],
        metrics={}, scaling=None, working_weights=[], residual_sample=rs)


def _curve_from_rows(run_id, rows) -> ValidationCurve:
    rows = sorted(rows, key=lambda r: r["size"])
    r0 = rows[0]
    return ValidationCurve(
        run_id=run_id, model_name=r0["model_name"], created_at=str(r0["created_at"]),
        kind=r0["kind"], label=None, features=[], n_rows=r0["n_rows"],
        validation_n_rows=r0["validation_n_rows"], bad_rows=0,
        points=[CurvePoint(r["size"], list(r["terms"]), r["n_params"], r["train_mse"],
                           r["validation_mse"], {}, 0.0) for r in rows])


# --- drawing -------------------------------------------------------------------------

def draw(kind: str, sources):
    """The matplotlib Figure of ``kind`` for ``sources``."""
    import matplotlib.pyplot as plt

    plt.close("all")
    return DRAW[kind](sources)


def _need(sources, what, test, hint):
    missing = [s.name for s in sources if not test(s)]
    if missing:
        raise InputError(f"{', '.join(missing)} has no {what}: {hint}")


def draw_convergence(sources):
    import matplotlib.pyplot as plt

    _need(sources, "training history", lambda s: s.model is not None and s.model.history,
          "give a trained model (JSON or run id)")
    fig, (ax_loss, ax_excess, ax_grad) = plt.subplots(1, 3, figsize=(13, 4))
    best = min(h.loss for s in sources for h in s.model.history)
    for s in sources:
        it = np.array([h.iteration for h in s.model.history])
        loss = np.array([h.loss for h in s.model.history])
        style = dict(marker="o", markersize=3, label=s.name)
        ax_loss.plot(it, loss, **style)
        excess = loss - best
        pos = excess > 0  # the best run's last point is exactly 0: not drawable on a log axis
        ax_excess.plot(it[pos], excess[pos], **style)
        grads = [(h.iteration, h.grad_norm) for h in s.model.history
                 if h.grad_norm is not None and h.grad_norm > 0]
        if grads:
            ax_grad.plot(*zip(*grads), **style)
    for ax, title in ((ax_loss, "training loss (MSE)"),
                      (ax_excess, "loss − best loss of these runs"),
                      (ax_grad, "gradient norm")):
        ax.set_yscale("log")
        ax.set_xlabel("iteration")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    ax_loss.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _residuals(s):
    rs = s.model.residual_sample
    fitted, y = np.asarray(rs.fitted), np.asarray(rs.y_true)
    return fitted, y - fitted


_SAMPLE_HINT = ("train with --validation INPUT --residual-sample N (the sample is drawn in "
                "the validation pass and stored with the run)")


def draw_residuals(sources):
    import matplotlib.pyplot as plt

    _need(sources, "residual sample",
          lambda s: s.model is not None and s.model.residual_sample is not None, _SAMPLE_HINT)
    fig, ax = plt.subplots(figsize=(7, 5))
    for s in sources:
        fitted, res = _residuals(s)
        ax.scatter(fitted, res, s=6, alpha=0.5, label=f"{s.name}, {len(res)} rows")
    ax.axhline(0.0, color="black", linewidth=1)
    ax.set_xlabel("fitted value")
    ax.set_ylabel("residual (observed − fitted)")
    ax.set_title("residuals against fitted values (validation sample)")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def draw_qq(sources):
    import matplotlib.pyplot as plt
    from scipy.stats import norm

    _need(sources, "residual sample",
          lambda s: s.model is not None and s.model.residual_sample is not None, _SAMPLE_HINT)
    fig, ax = plt.subplots(figsize=(6, 6))
    lo, hi = np.inf, -np.inf
    for s in sources:
        _, res = _residuals(s)
        n = len(res)
        sd = res.std(ddof=1) if n > 1 else 1.0
        z = np.sort((res - res.mean()) / (sd if sd > 0 else 1.0))
        q = norm.ppf((np.arange(1, n + 1) - 0.5) / n)
        ax.scatter(q, z, s=6, alpha=0.6, label=f"{s.name}, {n} rows")
        lo, hi = min(lo, q.min(), z.min()), max(hi, q.max(), z.max())
    ax.plot([lo, hi], [lo, hi], color="black", linewidth=1, label="normal")
    ax.set_xlabel("normal quantile")
    ax.set_ylabel("standardised residual quantile")
    ax.set_title("residual Q-Q plot")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def _mark_lambdas(ax, cv):
    for key, style in (("lambda_min", "--"), ("lambda_1se", ":")):
        if isinstance(cv, dict) and cv.get(key):
            ax.axvline(cv[key], color="gray", linestyle=style, label=key)


def draw_path(sources):
    import matplotlib.pyplot as plt

    _need(sources, '"path"', lambda s: "path" in s.extra,
          "the coefficient path is kept in the model JSON of a penalised fit with a path; "
          "give that JSON file")
    fig, ax = plt.subplots(figsize=(8, 5))
    for s in sources:
        path = s.extra["path"]
        lambdas = np.asarray(path["lambdas"], dtype=np.float64)
        coefs = path["coefficients"]
        names = list(coefs[0]) if coefs else []
        for name in names:
            ax.plot(lambdas, [c.get(name, 0.0) for c in coefs], label=f"{name}")
        _mark_lambdas(ax, s.extra.get("cv"))
    ax.set_xscale("log")
    ax.set_xlabel("penalty λ")
    ax.set_ylabel("coefficient (original units)")
    ax.set_title("coefficient path")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.legend(fontsize=8, ncol=2)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def draw_cv(sources):
    import matplotlib.pyplot as plt

    _need(sources, '"cv"', lambda s: "cv" in s.extra,
          "the cross-validation curve is kept in the model JSON of a fit with K-fold CV; "
          "give that JSON file")
    fig, ax = plt.subplots(figsize=(8, 5))
    for s in sources:
        cv = s.extra["cv"]
        lambdas = np.asarray(cv["lambdas"], dtype=np.float64)
        ax.errorbar(lambdas, cv["mean_mse"], yerr=cv.get("se_mse"), fmt="o-", markersize=3,
                    capsize=2, label=f"{s.name}, {cv.get('folds', '?')} folds")
        _mark_lambdas(ax, cv)
    ax.set_xscale("log")
    ax.set_xlabel("penalty λ")
    ax.set_ylabel("cross-validated MSE")
    ax.set_title("cross-validation curve (± one standard error)")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def draw_curve(sources):
    import matplotlib.pyplot as plt

    _need(sources, "validation curve", lambda s: s.curve is not None,
          "give a curve JSON (mrlinreg curve --output FILE) or the run id of a published curve")
    fig, ax = plt.subplots(figsize=(8, 5))
    for s in sources:
        c = s.curve
        size = [p.size for p in c.points]
        ax.plot(size, [p.train_mse for p in c.points], "o-", label=f"training ({s.name})")
        val = [(p.size, p.validation_mse) for p in c.points if p.validation_mse is not None]
        if val:
            ax.plot(*zip(*val), "s-", label=f"validation ({s.name})")
            best = min(val, key=lambda t: t[1])
            ax.scatter([best[0]], [best[1]], s=150, facecolors="none", edgecolors="red",
                       zorder=5, label=f"lowest validation error: {best[0]}")
    kind = sources[0].curve.kind
    ax.set_xlabel("polynomial degree" if kind == "degree" else "number of features")
    ax.set_ylabel("mean squared error")
    ax.set_yscale("log")
    ax.set_title("validation curve: under- and over-fitting")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


DRAW = {"convergence": draw_convergence, "residuals": draw_residuals, "qq": draw_qq,
        "path": draw_path, "cv": draw_cv, "curve": draw_curve}
