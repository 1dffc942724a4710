"""The training driver: passes, iterations, convergence, the model record.

    moments pass  ->  shift/scale  ->  [tsqr pass]  ->  solver iterations  ->  record

The moments pass gives the row count and each column's mean and spread, for
standardisation and R².  With the ``stats`` strategy (or ``--solver qr``) one
more pass collects the R factor of ``[A y]`` and every iteration runs in the
driver on it; with ``passes`` every iteration is a MapReduce pass.
"""

from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from mrlinreg.codec import encode_array
from mrlinreg.numerics import ridge
from mrlinreg.numerics.scaling import constant_columns, standardization, to_original
from mrlinreg.numerics.solvers import SOLVERS, SolverOptions, Step
from pipelines.oracles import PassOracle, StatsOracle

STATS_MAX_FEATURES = 1000  # auto strategy: a (p+1)^2 R factor is small up to here


class TrainingError(RuntimeError):
    """Training cannot produce a trustworthy model; the message says what to change."""


@dataclass
class DataContext:
    """What the first passes learn about the data; fixed for the whole run.

    ``mean``/``m2`` cover the features and then the label; ``R`` is the
    factor of ``[A y]`` (None unless the stats strategy or a summary needs it).
    """

    n: int
    mean: np.ndarray
    m2: np.ndarray
    bad_rows: dict
    shift: np.ndarray
    scale: np.ndarray
    strategy: str
    R: np.ndarray | None = None


@dataclass
class Resume:
    """Where a stopped run left off (rebuilt from its last snapshot)."""

    run_id: str
    context: DataContext
    solver_state: dict
    history: list


@dataclass
class Hooks:
    """Optional: a callback after each iteration (snapshots), a run to resume."""

    on_iteration: object = None   # f(step, solver, ctx, history) -> None
    resume: Resume | None = None


def collect_context(runner, fmt, d, opts, progress) -> DataContext:
    """The moments pass (row count, means, spreads), then the TSQR pass when needed."""
    moments = runner.run({"pass": "moments", "format": fmt.to_dict()})
    bad_rows, n = moments.bad_rows, moments.acc.n
    n_bad = int(sum(bad_rows.values()))
    if n_bad:
        progress.say(f"skipped {n_bad} bad rows: " +
                     ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(bad_rows.items())))
    if n == 0:
        raise TrainingError("no valid rows in the input" +
                            (f" ({n_bad} bad rows skipped)" if n_bad else ""))
    mean, m2 = moments.acc.mean, moments.acc.m2
    std = np.sqrt(m2 / n)
    rms = np.sqrt(m2 / n + mean**2)
    shift, scale = standardization(mean[:d], std[:d], rms[:d], opts.fit_intercept,
                                   opts.standardize)
    p = d + int(opts.fit_intercept)
    strategy = choose_strategy(opts.strategy, opts.solver, p)
    progress.say(f"{n} rows, {d} features; solver {opts.solver}, strategy {strategy}")
    R = None
    if strategy == "stats" or (opts.summary and not opts.l2):  # no OLS summary under --l2
        qr = runner.run({"pass": "tsqr", "format": fmt.to_dict(), "shift": encode_array(shift),
                         "scale": encode_array(scale), "fit_intercept": opts.fit_intercept})
        R = qr.acc.R
    return DataContext(n, mean, m2, bad_rows, shift, scale, strategy, R)


def new_run_id() -> str:
    now = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{now}-{uuid.uuid4().hex[:8]}"


def choose_strategy(requested: str, solver: str, p: int) -> str:
    """``auto`` picks ``stats`` while the (p+1)^2 R factor stays small; qr is always one pass."""
    if solver == "qr":
        return "stats"
    if requested == "auto":
        return "stats" if p <= STATS_MAX_FEATURES else "passes"
    return requested


class Progress:
    """Per-iteration progress lines on stderr."""

    def __init__(self, quiet=False, stream=None):
        self.quiet, self.stream, self.t0 = quiet, stream or sys.stderr, time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def say(self, msg: str) -> None:
        if not self.quiet:
            print(msg, file=self.stream, flush=True)

    def step(self, s: Step) -> None:
        self.say(f"iter {s.iteration:4d}  loss {s.loss:.10e}  |grad| {s.grad_norm:.3e}  "
                 f"step {s.step:.3e}  elapsed {self.elapsed():7.2f}s")


def train(runner, fmt, feature_names, label_name, opts, hooks=None, progress=None) -> dict:
    """Fit the model and return the model record (a JSON-ready dict, all numbers finite).

    Parameters
    ----------
    runner : pipelines.passes.PassRunner
    fmt : mrlinreg.parsing.RowFormat
    opts : argparse.Namespace with the model options (see mrlinreg.options)
    """
    hooks = hooks or Hooks()
    progress = progress or Progress(opts.quiet)
    solver_opts = SolverOptions(learning_rate=opts.learning_rate, line_search=opts.line_search,
                                tol=opts.tol)
    if opts.max_iter < 1:
        raise TrainingError("--max-iter must be at least 1")
    lam = float(opts.l2)
    if not (np.isfinite(lam) and lam >= 0):
        raise TrainingError("--l2 must be a non-negative number")

    d = len(feature_names)
    p = d + int(opts.fit_intercept)
    if hooks.resume is not None:
        ctx = hooks.resume.context
        progress.say(f"resuming run {hooks.resume.run_id} of model {opts.model_name} "
                     f"after iteration {hooks.resume.solver_state['iteration']}")
    else:
        ctx = collect_context(runner, fmt, d, opts, progress)
    n, mean, m2, bad_rows = ctx.n, ctx.mean, ctx.m2, ctx.bad_rows
    shift, scale, strategy, R = ctx.shift, ctx.scale, ctx.strategy, ctx.R
    n_bad = int(sum(bad_rows.values()))
    warnings = []
    const = [f for f, c in zip(feature_names, constant_columns(mean[:d], np.sqrt(m2[:d] / n))) if c]
    if const:
        warnings.append(f"constant feature columns {const}: their coefficients are not identifiable")

    working_names = list(feature_names) + (["intercept"] if opts.fit_intercept else [])
    history = list(hooks.resume.history) if hooks.resume is not None else []
    mask = ridge.penalty_mask(d, opts.fit_intercept)
    R_fit = ridge.augment_r(R, n, lam, mask) if (lam > 0 and R is not None) else R
    if opts.solver == "qr":
        w, loss, converged, iterations = _fit_exact(R_fit, ctx, opts, hooks, history, progress,
                                                    warnings, working_names)
    else:
        if R_fit is not None:
            from mrlinreg.numerics import exact

            _check_rank(exact.solve_r(R_fit, names=working_names), warnings)
        if strategy == "stats":
            oracle = StatsOracle(R_fit, n)
        else:
            oracle = PassOracle(runner, fmt, shift, scale, opts.fit_intercept)
            if lam > 0:
                oracle = ridge.penalized_oracle(oracle, lam, mask)
        w, loss, converged, iterations = _iterate(
            SOLVERS[opts.solver](solver_opts), oracle, p, opts, hooks, ctx, history, progress,
            warnings, working_names)

    objective = loss
    loss = ridge.data_mse(loss, w, lam, mask) if lam > 0 else loss
    coef, intercept = to_original(w, shift, scale, opts.fit_intercept)
    var_y = m2[d] / n
    r2 = 1.0 - loss / var_y if opts.fit_intercept and var_y > 0 else None
    record = {
        "solver": opts.solver,
        "strategy": strategy,
        "label": label_name,
        "features": list(feature_names),
        "coefficients": {name: float(c) for name, c in zip(feature_names, coef)},
        "intercept": float(intercept),
        "iterations": iterations,
        "converged": bool(converged),
        "loss": float(loss),
        "n_rows": int(n),
        "bad_rows": n_bad,
        "bad_row_reasons": {k: int(v) for k, v in sorted(bad_rows.items())},
        "passes": runner.passes,
        "history": history,
        "metrics": {"mse": float(loss), "rmse": float(np.sqrt(loss)),
                    **({"r2": r2} if r2 is not None else {})},
        "scaling": {"standardize": opts.standardize, "fit_intercept": opts.fit_intercept,
                    "shift": shift.tolist(), "scale": scale.tolist()},
        "working_weights": w.tolist(),
        "warnings": warnings,
        "summary": None,
    }
    if lam > 0:
        record["objective"] = float(objective)
    if opts.summary and lam > 0:
        warnings.append("--summary gives ordinary least squares statistics; with --l2 they "
                        "do not apply and are not computed")
    elif opts.summary and R is not None:
        record["summary"] = _summary(runner, fmt, R, n, w, shift, scale, opts, working_names)
        if record["summary"].get("mae") is not None:
            record["metrics"]["mae"] = record["summary"]["mae"]
    for wmsg in warnings:
        progress.say(f"warning: {wmsg}")
    return record


def evaluate_holdout(runner, fmt, record, opts) -> dict:
    """Score the fitted model on held-out rows: two passes (moments, residuals).

    Returns ``validation_*`` metrics: the training metrics beside them show over-fitting
    (validation error well above training error) or under-fitting (both high).
    """
    sc = record["scaling"]
    shift, scale = np.array(sc["shift"]), np.array(sc["scale"])
    w = np.array(record["working_weights"])
    moments = runner.run({"pass": "moments", "format": fmt.to_dict()})
    n = moments.acc.n
    if n == 0:
        raise TrainingError("no valid rows in the validation input")
    ev = PassOracle(runner, fmt, shift, scale, opts.fit_intercept)(
        w.reshape(-1, 1), np.zeros((len(w), 0)))
    mse, var_y = float(ev.loss[0]), float(moments.acc.m2[-1] / n)
    out = {"validation_n_rows": float(n), "validation_mse": mse,
           "validation_rmse": float(np.sqrt(mse)), "validation_mae": float(ev.mae[0])}
    if var_y > 0:
        out["validation_r2"] = 1.0 - mse / var_y
    return out


def _iterate(solver, oracle, p, opts, hooks, ctx, history, progress, warnings, working_names):
    if hooks.resume is not None:
        solver.state = hooks.resume.solver_state
    else:
        # without R (passes strategy) the first pass brings A^T A along for the rank check
        s0 = solver.start(oracle, np.zeros(p), hessian=ctx.R is None)
        if ctx.R is None:
            _check_gram(solver.start_hessian, working_names, warnings)
        if hooks.on_iteration is not None:
            hooks.on_iteration(s0, solver, ctx, history)
        progress.step(s0)
    converged = solver.converged()
    while not converged and solver.state["iteration"] < opts.max_iter:
        step = solver.iterate(oracle)
        history.append({"iteration": step.iteration, "loss": step.loss,
                        "grad_norm": step.grad_norm, "step": step.step,
                        "elapsed_s": progress.elapsed()})
        if hooks.on_iteration is not None:  # saved before it is reported
            hooks.on_iteration(step, solver, ctx, history)
        progress.step(step)
        converged = solver.converged()
    if not converged:
        warnings.append(f"not converged after --max-iter {opts.max_iter} iterations "
                        f"(|grad| {np.linalg.norm(solver.state['g']):.3e}); raise --max-iter, "
                        "or use --solver cg/newton/qr")
    return solver.state["w"], solver.state["loss"], converged, solver.state["iteration"]


def _fit_exact(R_fit, ctx, opts, hooks, history, progress, warnings, working_names):
    """``--solver qr``: the solution from R alone, recorded as a one-step run."""
    w, converged, iterations, sol = _solve_exact(R_fit, working_names, warnings, opts.min_norm)
    loss = sol.rss / ctx.n
    history.append({"iteration": 1, "loss": loss, "grad_norm": 0.0, "step": 1.0,
                    "elapsed_s": progress.elapsed()})
    progress.say(f"qr: exact solution from one pass, loss {loss:.10e}")
    if hooks.on_iteration is not None:  # the model version, snapshotted like an iteration
        hooks.on_iteration(Step(1, loss, 0.0, 1.0, 1), _ExactRun(w, loss), ctx, history)
    return w, loss, converged, iterations


class _ExactRun:
    """What a snapshot needs from a solver, for the one-pass exact solution."""

    name = "qr"

    def __init__(self, w, loss):
        self.state = {"w": w, "loss": float(loss), "iteration": 1}


def _solve_exact(R, working_names, warnings, min_norm=False):
    from mrlinreg.numerics import exact

    sol = exact.solve_r(R, names=working_names, min_norm=min_norm)
    _check_rank(sol, warnings)
    return sol.w, True, 1, sol


def _check_gram(H, working_names, warnings):
    """Rank and collinearity diagnosis from ``A^T A`` (the passes strategy has no R)."""
    from mrlinreg.numerics import exact

    spec = exact.spectrum(exact.factor_from_gram(H), working_names, rcond=exact.GRAM_RCOND)
    p = len(working_names)
    if spec.rank < p:
        raise TrainingError(
            exact.diagnosis_message(spec, p, None) + ". Judged from X^T X, which squares the "
            "condition number: --solver qr decides from the data itself (and --min-norm gives "
            "a solution if it is truly rank deficient)")
    if spec.collinearities:
        warnings.append(exact.diagnosis_message(spec, p))


def _check_rank(sol, warnings):
    """Rank deficiency is an error (the coefficients are not unique) unless the minimum-norm
    solution was asked for; near-collinearity is a warning."""
    if sol.rank_deficient and not sol.min_norm:
        raise TrainingError(sol.message + " (--solver qr --min-norm)")
    if sol.near_collinear or sol.min_norm:
        warnings.append(sol.message)


def _summary(runner, fmt, R, n, w, shift, scale, opts, working_names):
    from mrlinreg.numerics import summary

    # one more pass for the statistics that need each residual (MAE)
    oracle = PassOracle(runner, fmt, shift, scale, opts.fit_intercept)
    ev = oracle(w.reshape(-1, 1), np.zeros((len(w), 0)))
    s = summary.ols_summary(R, n, w, shift=shift, scale=scale,
                            fit_intercept=opts.fit_intercept, names=working_names,
                            sum_abs_residuals=float(ev.mae[0] * n))
    # per-coefficient view, as the coefficients table stores it
    s["coefficients"] = {
        name: {"std_err": se, "t": t, "p_value": pv,
               "ci_low": ci[0] if ci else None, "ci_high": ci[1] if ci else None}
        for name, se, t, pv, ci in zip(s["names"], s["bse"] or [None] * len(s["names"]),
                                       s["tvalues"] or [None] * len(s["names"]),
                                       s["pvalues"] or [None] * len(s["names"]),
                                       s["conf_int"] or [None] * len(s["names"]))}
    return s
