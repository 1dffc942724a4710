"""The training run: passes, iterations, convergence, the fitted result.

    first pass (moments, or moments + R)  ->  shift/scale, R  ->  solver iterations  ->  FitResult

The first pass gives the row count and each column's mean and spread, for
standardisation and R².  With the ``stats`` strategy (or ``solver = qr``), or
for ``--summary``, the same pass also collects the R factor of ``[A y]``
(:mod:`mrlinreg.numerics.fused`) and every iteration runs in the driver on
it: one pass in all.  With ``passes`` every iteration is a MapReduce pass.

A :class:`TrainingRun` owns the run's state (data context, history, warnings,
progress); nothing is threaded through long argument lists.  It raises domain
errors (:mod:`mrlinreg.errors`); turning them into messages with flags and exit
codes is the command line's job.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import numpy as np

from mrlinreg import kernels
from mrlinreg.codec import encode_array
from mrlinreg.driver import early_stopping, huber, penalised, robust_se
from mrlinreg.driver.oracles import PassOracle, StatsOracle, WeightedPassOracle
from mrlinreg.errors import TrainingError, render
from mrlinreg.numerics import exact, ridge
from mrlinreg.numerics.fused import context_from_fused, moments_frame
from mrlinreg.numerics.weighted import wls_summary
from mrlinreg.numerics.weighted_passes import weighted_context
from mrlinreg.numerics.lbfgs import LBFGS
from mrlinreg.numerics.refine import Refinement, refine
from mrlinreg.numerics.scaling import constant_columns, standardization, to_original
from mrlinreg.numerics.solvers import SOLVERS, SolverOptions, Step
from mrlinreg.options import TrainOptions
from mrlinreg.parsing import RowFormat
from mrlinreg.records import (DataContext, HistoryEntry, ResidualSample, Scaling, SolverState,
                              Summary)

STATS_MAX_FEATURES = 1000  # auto strategy: a (p+1)^2 R factor is small up to here
#: Below this label magnitude the squared residuals (the loss) are subnormal or zero in
#: double precision: gradient descent's line search and any loss from a pass lose all
#: their digits.  Solvers working on R (qr; cg and newton with the stats strategy) are
#: unaffected: Householder QR scales its norms.
TINY_LABEL = 1e-100
#: A relative loss change below this is rounding: gradient descent's loss test cannot
#: ask for more (``tol^2`` smaller than it), see ``TrainingRun._finish_on_r``.
LOSS_RESOLUTION = 64 * float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Dataset:
    """The inputs of a run and how to read them."""

    inputs: tuple
    fmt: RowFormat
    features: tuple
    label: str | None
    columnar: object = None  # a columnar_inputs.ColumnarSource: Parquet/ORC units
    #: the features span the constant without an intercept column (a formula's full
    #: dummy coding): R² and F are then centred, as statsmodels does
    implicit_constant: bool = False


@dataclass
class Resume:
    """Where a stopped run left off (rebuilt from its snapshots)."""

    run_id: str
    context: DataContext
    solver_state: SolverState
    history: list  # of HistoryEntry
    passes: int = 0  # MapReduce passes the run made before it stopped
    snapshots_missing: tuple = ()  # iterations whose snapshot was never written


@dataclass
class FitResult:
    """What training produced, before it becomes a model record."""

    w: np.ndarray
    loss: float
    objective: float | None
    converged: bool
    iterations: int
    context: DataContext
    history: list
    warnings: list
    summary: Summary | None
    passes: int
    metrics: dict = field(default_factory=dict)
    refinement: Refinement | None = None
    path: dict | None = None       # --path (mrlinreg.driver.penalised)
    cv: dict | None = None         # --cv
    selected: list | None = None   # non-zero features of a cd fit
    huber: dict | None = None      # --loss huber (mrlinreg.driver.huber)
    early_stopping: dict | None = None  # --early-stopping (mrlinreg.driver.early_stopping)

    def scaling(self, opts: TrainOptions) -> Scaling:
        return Scaling(opts.standardize, opts.fit_intercept, tuple(self.context.shift.tolist()),
                       tuple(self.context.scale.tolist()))

    def coefficients(self, opts: TrainOptions):
        """Coefficients and intercept in original units (refined ones rounded once)."""
        if self.refinement is not None:
            return self.refinement.coef, self.refinement.intercept
        return to_original(self.w, self.context.shift, self.context.scale, opts.fit_intercept)


class Progress:
    """Progress lines on stderr; ``option_name`` renders ``<opt:...>`` in messages."""

    def __init__(self, quiet=False, stream=None, option_name=lambda field: field):
        self.quiet, self.stream, self.t0 = quiet, stream or sys.stderr, time.monotonic()
        self.option_name = option_name

    def text(self, msg: str) -> str:
        return render(msg, self.option_name)

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def say(self, msg: str) -> None:
        if not self.quiet:
            print(self.text(msg), file=self.stream, flush=True)

    def step(self, s: Step) -> None:
        self.say(f"iter {s.iteration:4d}  loss {s.loss:.10e}  |grad| {s.grad_norm:.3e}  "
                 f"step {s.step:.3e}  elapsed {self.elapsed():7.2f}s")


def choose_strategy(requested: str, solver: str, p: int) -> str:
    """``auto`` picks ``stats`` while the (p+1)^2 R factor stays small; qr is always on R,
    cd unless ``passes`` is asked for (FISTA then, :func:`penalised.fit_fista`)."""
    if solver == "qr" or (solver == "cd" and requested != "passes"):
        return "stats"
    if solver == "irls":  # --loss huber: one weighted-TSQR pass per iteration
        return "passes"
    if requested == "auto":
        return "stats" if p <= STATS_MAX_FEATURES else "passes"
    return requested


class TrainingRun:
    """One training run over a dataset.

    Parameters
    ----------
    opts : TrainOptions
        Validated options.
    data : Dataset
    passes : mrlinreg.driver.passes.PassRunner
    progress : Progress, optional
    on_iteration : callable, optional
        ``f(step, state: SolverState, context, history_entry)`` after every
        iteration, before it is reported (snapshots).
    resume : Resume, optional
        Continue a stopped run from its last snapshot.
    """

    def __init__(self, opts: TrainOptions, data: Dataset, passes, progress=None,
                 on_iteration=None, resume: Resume | None = None, holdout=None):
        self.opts, self.data, self.passes = opts, data, passes
        self.progress = progress or Progress(opts.quiet)
        self.on_iteration, self.resume = on_iteration, resume
        self.d = len(data.features)
        self.p = self.d + int(opts.fit_intercept)
        self.working_names = list(data.features) + (["intercept"] if opts.fit_intercept else [])
        self.history = list(resume.history) if resume else []
        self.warnings: list = []
        self.context: DataContext | None = resume.context if resume else None
        self.refinement: Refinement | None = None
        self.pass_oracle: PassOracle | None = None
        self.holdout = holdout  # (PassRunner, RowFormat) of --validation: early stopping
        self.stopper = None     # mrlinreg.driver.early_stopping.EarlyStopper

    # --- the data context -----------------------------------------------------------

    def collect_context(self) -> DataContext:
        """One pass: the moments (row count, means, spreads) and, when a solver or the
        summary works on R, the R factor of ``[A y]`` with them (:mod:`numerics.fused`)."""
        opts, fmt = self.opts, self.data.fmt
        strategy = choose_strategy(opts.strategy, opts.solver, self.p)
        need_r = strategy == "stats" or (opts.summary and not opts.l2)  # no OLS summary under l2
        need_r = need_r or opts.loss == "huber"  # its OLS start and the final MSE
        if opts.weight_column is not None:  # weighted least squares: its own one pass
            return self._collect_weighted_context(strategy, need_r)
        kind = "fused" if need_r and not opts.cv_folds else "moments"
        if need_r and opts.cv_folds:  # one pass: a fused partial per fold, merged to R
            kind = kernels.FOLD_FUSED_PASS
        first = self.passes.run({"pass": kind, "format": fmt.to_dict(),
                                 **(penalised.pass_params(opts) if need_r else {})})
        bad_rows, n = first.bad_rows, first.acc.n
        n_bad = int(sum(bad_rows.values()))
        if n_bad:
            self.progress.say(f"skipped {n_bad} bad rows: " + ", ".join(
                f"{k.replace('_', ' ')} {v}" for k, v in sorted(bad_rows.items())))
        if n == 0:
            raise TrainingError("no valid rows in the input" +
                                (f" ({n_bad} bad rows skipped)" if n_bad else ""))
        mean, m2 = first.acc.mean, first.acc.m2
        d = self.d
        self._check_label_magnitude(mean[d], float(np.sqrt(m2[d] / n)))
        self.progress.say(f"{n} rows, {d} features; solver {opts.solver}, strategy {strategy}")
        if need_r and not opts.cv_folds:
            fc = context_from_fused(first.acc, opts.fit_intercept, opts.standardize)
            return DataContext(n, mean, m2, bad_rows, fc.shift, fc.scale, strategy, fc.R)
        if need_r:  # --cv: R and the fold factors from the folds' partials, no more pass
            fc, fold_R, fold_n = penalised.fold_context(first, opts)
            return DataContext(n, fc.mean, fc.m2, bad_rows, fc.shift, fc.scale, strategy,
                               fc.R, fold_R, fold_n)
        shift, scale = standardization(mean[:d], np.sqrt(m2 / n)[:d],
                                       np.sqrt(m2 / n + mean**2)[:d], opts.fit_intercept,
                                       opts.standardize)
        return DataContext(n, mean, m2, bad_rows, shift, scale, strategy, None)

    def _say_bad_rows(self, bad_rows):
        n_bad = int(sum(bad_rows.values()))
        if n_bad:
            self.progress.say(f"skipped {n_bad} bad rows: " + ", ".join(
                f"{k.replace('_', ' ')} {v}" for k, v in sorted(bad_rows.items())))
        return n_bad

    def _collect_weighted_context(self, strategy, need_r) -> DataContext:
        """``--weight-column``: one pass of the weighted moments, and with them (on R)
        the factor of ``sqrt(w) [A y]`` (:mod:`mrlinreg.numerics.weighted_passes`)."""
        opts, d = self.opts, self.d
        first = self.passes.run({"pass": "fused" if need_r else "moments",
                                 "format": self.data.fmt.to_dict()})
        acc, bad_rows = first.acc, first.bad_rows
        n_bad = self._say_bad_rows(bad_rows)
        if acc.n == 0:
            raise TrainingError("no valid rows in the input" +
                                (f" ({n_bad} bad rows skipped)" if n_bad else ""))
        if acc.sum_w <= 0:
            raise TrainingError(f"every weight in <opt:weight_column> {opts.weight_column} is "
                                f"zero ({acc.n} rows): nothing to fit")
        self._check_label_magnitude(acc.mean[d], float(np.sqrt(acc.m2[d] / acc.sum_w)))
        self.progress.say(f"{acc.n} rows (weights from {opts.weight_column}, total "
                          f"{acc.sum_w:.6g}), {d} features; solver {opts.solver}, "
                          f"strategy {strategy}")
        if need_r:
            wc = weighted_context(acc, opts.fit_intercept, opts.standardize)
            return DataContext(wc.n, wc.mean, wc.m2, bad_rows, wc.shift, wc.scale, strategy,
                               wc.R, sum_w=wc.sum_w, sum_log_w=wc.sum_log_w,
                               n_zero=wc.n_zero)
        shift, scale = moments_frame(acc.sum_w, acc.mean, acc.m2, d, opts.fit_intercept,
                                     opts.standardize)
        return DataContext(acc.n, acc.mean, acc.m2, bad_rows, shift, scale, strategy, None,
                           sum_w=float(acc.sum_w))

    def _check_label_magnitude(self, mean_y, std_y):
        """Refuse a label so small that the loss underflows, unless the solver never
        needs the loss's digits (it would report ``converged`` with wrong weights)."""
        opts = self.opts
        size = max(abs(mean_y), std_y)
        on_r = opts.solver == "qr" or (opts.solver in ("cg", "newton", "cd") and
                                       choose_strategy(opts.strategy, opts.solver,
                                                       self.p) == "stats")
        if 0 < size < TINY_LABEL and not on_r:
            raise TrainingError(
                f"the label's values are about {size:.1e}: their squares underflow double "
                f"precision, so the loss that <opt:solver> {opts.solver} steers by has no "
                "digits left. Multiply the label by a power of ten (the coefficients scale "
                "with it), or use <opt:solver> qr")

    # --- the fit --------------------------------------------------------------------

    def fit(self) -> FitResult:
        opts = self.opts
        if self.resume is not None:
            self.progress.say(f"resuming run {self.resume.run_id} of model {opts.model_name} "
                              f"after iteration {self.resume.solver_state.iteration}")
        else:
            self.context = self.collect_context()
        ctx = self.context
        self._warn_constant_columns()
        if opts.loss == "huber":  # IRLS passes (mrlinreg.driver.huber)
            h = huber.fit(self)
            return FitResult(w=h.w, loss=h.mse, objective=h.objective, converged=h.converged,
                             iterations=h.iterations, context=ctx, history=self.history,
                             warnings=self.warnings, summary=None, passes=self.passes.passes,
                             metrics=h.metrics, huber=h.record)
        lam, mask = float(opts.l2), ridge.penalty_mask(self.d, opts.fit_intercept)
        R_fit = ridge.augment_r(ctx.R, ctx.n_fit, lam, mask) if (lam > 0 and ctx.R is not None) \
            else ctx.R
        pen = None
        if opts.solver == "cd" and ctx.strategy == "passes":  # FISTA, a pass per iteration
            pen = penalised.fit_fista(self)
        elif opts.solver == "cd":  # elastic net / path on R (mrlinreg.driver.penalised)
            pen = penalised.fit_cd(self)
        elif opts.solver == "qr":
            w, loss, converged, iterations = self._fit_exact(R_fit)
        else:
            if R_fit is not None:
                self._check_rank(exact.solve_r(R_fit, names=self.working_names))
            if ctx.strategy == "stats":
                oracle = StatsOracle(R_fit, ctx.n_fit)
            else:
                oracle = (WeightedPassOracle if ctx.weighted else PassOracle)(
                    self.passes, self.data.fmt, ctx.shift, ctx.scale, opts.fit_intercept)
                self.pass_oracle = oracle  # its last pass may give the summary's MAE
                if lam > 0:
                    oracle = ridge.penalized_oracle(oracle, lam, mask)
            # on R, conjugate gradient is preconditioned by R itself (it then solves on R,
            # as Newton does, instead of paying cond(A)^2 in digits)
            solver = {**SOLVERS, LBFGS.name: LBFGS}[opts.solver](SolverOptions(
                learning_rate=opts.learning_rate, line_search=opts.line_search, tol=opts.tol,
                precondition=ctx.strategy == "stats"))
            w, loss, converged, iterations = self._iterate(solver, oracle)
        cv = penalised.cross_validation(self, None if pen is None else pen.lambdas) \
            if opts.cv_folds else None
        if pen is not None:
            if cv is not None and opts.path:  # the full-data fit at lambda_min
                pen = penalised.keep(pen, cv.index_min, self)
            w, loss, objective = pen.w, pen.loss, pen.objective
            converged, iterations = pen.converged, pen.iterations
        else:
            objective = loss if lam > 0 else None
            loss = ridge.data_mse(loss, w, lam, mask) if lam > 0 else loss
        summary = self._summary(w) if opts.summary else None
        metrics = self._metrics(loss, summary)
        for message in self.warnings:
            self.progress.say(f"warning: {message}")
        return FitResult(w=w, loss=float(loss), objective=objective, converged=bool(converged),
                         iterations=int(iterations), context=ctx, history=self.history,
                         warnings=self.warnings, summary=summary, passes=self.passes.passes,
                         metrics=metrics, refinement=self.refinement,
                         path=None if pen is None else pen.path,
                         cv=None if cv is None else penalised.cv_record(cv, opts.cv_folds),
                         selected=None if pen is None else
                         penalised.selected_features(self.data.features, w, self.d),
                         early_stopping=None if self.stopper is None else
                         self.stopper.record(iterations))

    def _warn_constant_columns(self):
        ctx, d = self.context, self.d
        flags = constant_columns(ctx.mean[:d], np.sqrt(ctx.m2[:d] / ctx.n_fit))
        const = [f for f, c in zip(self.data.features, flags) if c]
        if const:
            self.warnings.append(f"constant feature columns {const}: their coefficients are "
                                 "not identifiable")

    def _record_step(self, step: Step, state: SolverState, val_loss=None) -> None:
        entry = None
        if self.stopper is not None:  # early stopping: its best iterate is saved too
            state.extra.update(self.stopper.state_extra())
        if step.iteration > 0:
            entry = HistoryEntry(step.iteration, step.loss, step.grad_norm, step.step,
                                 self.progress.elapsed(), val_loss)
            self.history.append(entry)
        if self.on_iteration is not None:  # saved before it is reported
            self.on_iteration(step, state, self.context, entry)

    def _iterate(self, solver, oracle):
        ctx = self.context
        # None without --early-stopping; R_val while it is small
        stopper = self.stopper = early_stopping.start(self, self.p <= STATS_MAX_FEATURES)
        if self.resume is not None:
            solver.state = self.resume.solver_state.to_solver_dict()
            if stopper is not None:
                solver.state, es_extra = stopper.split_state(solver.state)
                stopper.resume(es_extra, self.history)
        else:
            # without R (passes strategy) the first pass brings A^T A along for the rank check
            s0 = solver.start(oracle, np.zeros(self.p), hessian=ctx.R is None)
            if ctx.R is None:
                self._check_gram(solver.start_hessian)
            val = None if stopper is None else stopper.observe(solver.state["w"], s0.loss)
            self._record_step(s0, SolverState.from_solver_dict(solver.name, solver.state), val)
            self.progress.step(s0)
        converged = solver.converged()
        while not converged and solver.state["iteration"] < self.opts.max_iter and \
                not (stopper is not None and stopper.stop):
            step = solver.iterate(oracle)
            val = None if stopper is None else stopper.observe(solver.state["w"], step.loss)
            self._record_step(step, SolverState.from_solver_dict(solver.name, solver.state),
                              val)
            self.progress.step(step)
            if val is not None:
                self.progress.say(f"           validation loss {val:.10e}")
            converged = solver.converged()
        if stopper is not None and stopper.stop:  # keep the best iterate
            d = stopper.decision
            self.progress.say(f"early stopping: no better validation loss for "
                              f"{stopper.patience} iterations after iteration {d.best}; "
                              f"keeping iteration {d.best}")
            return stopper.best_w, stopper.best_train_loss, False, solver.state["iteration"]
        if converged and isinstance(oracle, StatsOracle) and stopper is None:
            self._finish_on_r(solver, oracle)
        if not converged:
            self.warnings.append(
                f"not converged after <opt:max_iter> {self.opts.max_iter} iterations "
                f"(|grad| {np.linalg.norm(solver.state['g']):.3e}); raise <opt:max_iter>, "
                "or use <opt:solver> cg/newton/qr")
        return solver.state["w"], solver.state["loss"], converged, solver.state["iteration"]

    def _finish_on_r(self, solver, oracle):
        """Gradient descent on R, stopped by the loss: finish with the exact minimiser.

        Its line search and its loss test compare losses, which resolve the weights to
        about sqrt(eps) only; with ``tol`` below that (``tol^2 < LOSS_RESOLUTION``) it
        can stop with ``|g| > tol |g0|``.  On R the minimiser is one triangular solve
        away: taken as one more iteration, so the result meets the gradient test.
        """
        state, tol = solver.state, self.opts.tol
        if solver.name != "gd" or tol**2 >= LOSS_RESOLUTION or \
                np.linalg.norm(state["g"]) <= tol * state["g0_norm"]:
            return
        w = exact.solve_r(oracle.R, names=self.working_names).w
        if w is None:
            return
        ev = oracle(w.reshape(-1, 1), np.zeros((len(w), 0)))
        state["prev_loss"] = state["loss"]
        state["w"], state["loss"], state["g"] = w, float(ev.loss[0]), ev.grad[:, 0]
        state["iteration"] += 1
        step = Step(state["iteration"], state["loss"], float(np.linalg.norm(state["g"])), 1.0, 0)
        self.progress.say("gd: the loss stopped changing before |grad| reached "
                          "<opt:tol>·|grad0| (losses resolve the weights to sqrt(eps) only); "
                          "finished with the exact minimiser on R")
        self._record_step(step, SolverState.from_solver_dict(solver.name, state))
        self.progress.step(step)

    def _fit_exact(self, R_fit):
        """``solver = qr``: the solution from R alone, recorded as a one-step run."""
        sol = exact.solve_r(R_fit, names=self.working_names, min_norm=self.opts.min_norm)
        self._check_rank(sol)
        loss, w = sol.rss / self.context.n_fit, sol.w
        self.progress.say(f"qr: exact solution from one pass, loss {loss:.10e}")
        if self.opts.refine:
            w, loss = self._refine(R_fit, sol.w)
        state = SolverState("qr", w, float(loss), None, None, 1)
        self._record_step(Step(1, loss, 0.0, 1.0, 1), state)  # the model version
        return w, loss, True, 1

    def _refine(self, R, w):
        """Iterative refinement with double-double residual passes (at most 3)."""
        ctx, fit_intercept = self.context, self.opts.fit_intercept

        def residual_pass(b):
            return self.passes.run({
                "pass": "residual", "format": self.data.fmt.to_dict(),
                "shift": encode_array(ctx.shift), "scale": encode_array(ctx.scale),
                "b_hi": encode_array(b.hi), "b_lo": encode_array(b.lo),
                "fit_intercept": fit_intercept}).acc

        ref = refine(R, w, ctx.shift, ctx.scale, fit_intercept, residual_pass)
        for r in ref.passes:
            self.progress.say(f"refine pass {r['pass']}: correction {r['correction_norm']:.3e}, "
                              f"about {r['componentwise_digits']:.1f} correct digits before it"
                              + ("" if r["applied"] else " (did not shrink: discarded)"))
        self.refinement = ref
        return np.asarray(ref.working_weights, dtype=np.float64), ref.rss / ctx.n

    def _check_gram(self, H):
        """Rank and collinearity diagnosis from ``A^T A`` (the passes strategy has no R)."""
        spec = exact.spectrum(exact.factor_from_gram(H), self.working_names,
                              rcond=exact.GRAM_RCOND)
        if spec.rank < self.p:
            raise TrainingError(
                exact.diagnosis_message(spec, self.p, None) + ". Judged from X^T X, which "
                "squares the condition number: <opt:solver> qr decides from the data itself "
                "(and <opt:min_norm> gives a solution if it is truly rank deficient)")
        if spec.collinearities:
            self.warnings.append(exact.diagnosis_message(spec, self.p))

    def _check_rank(self, sol):
        """Rank deficiency is an error (the coefficients are not unique) unless the
        minimum-norm solution was asked for; near-collinearity is a warning."""
        if sol.rank_deficient and not sol.min_norm:
            raise TrainingError(sol.message + " (<opt:solver> qr <opt:min_norm>)")
        if sol.near_collinear or sol.min_norm:
            self.warnings.append(sol.message)

    # --- statistics -----------------------------------------------------------------

    def _summary(self, w) -> Summary | None:
        """OLS statistics from R: no pass of their own.  MAE needs every residual: it comes
        from the pass that evaluated ``w`` when one did (the ``passes`` strategy), or from
        one more pass with ``summary_mae``; otherwise it is null and the summary says why."""
        opts, ctx = self.opts, self.context
        if penalised.is_penalised(opts):
            self.warnings.append("the summary gives ordinary least squares statistics; with "
                                 "<opt:l2>, <opt:l1> or <opt:path> they do not apply and are "
                                 "not computed")
            return None
        if ctx.R is None:
            return None
        if ctx.weighted:  # statsmodels' WLS (mrlinreg.numerics.weighted)
            return self._wls_summary(w)
        mae, source = None, None
        if opts.summary_mae:
            ev = PassOracle(self.passes, self.data.fmt, ctx.shift, ctx.scale,
                            opts.fit_intercept)(w.reshape(-1, 1), np.zeros((len(w), 0)))
            mae, source = float(ev.mae[0]), "one more pass (<opt:summary_mae>)"
        elif self.pass_oracle is not None and self.refinement is None:
            mae = self.pass_oracle.mae_at(w)
            source = "the training pass that evaluated the final weights" if mae is not None \
                else None
        from mrlinreg.numerics.summary import ols_summary  # scipy.stats: 1-2 s to import

        stats = ols_summary(
            ctx.R, ctx.n, w, shift=ctx.shift, scale=ctx.scale, fit_intercept=opts.fit_intercept,
            names=self.working_names, sum_abs_residuals=None if mae is None else mae * ctx.n,
            implicit_constant_tss=(float(ctx.m2[self.d]) if self.data.implicit_constant
                                   else None))
        stats["mae_source"] = self.progress.text(
            source or "not measured: the mean absolute error needs every residual, one more "
            "pass over the data; <opt:summary_mae> runs it (<opt:validation> data get "
            "validation_mae in the passes they run anyway)")
        if opts.cov_type:  # one more pass: the sandwich's meat (mrlinreg.driver.robust_se)
            stats = robust_se.apply(self, stats, w)
        summary = Summary.from_ols(stats)
        if self.refinement is not None:
            summary.stats["refinement_forward_error"] = \
                self.refinement.estimated_componentwise_error
        return summary

    def _wls_summary(self, w) -> Summary:
        """statsmodels' ``WLS(y, X, weights=w).fit()`` statistics from the weighted R."""
        ctx, opts = self.context, self.opts
        stats = wls_summary(ctx.R, ctx.n, w,
                            sum_log_weights=-np.inf if ctx.n_zero else ctx.sum_log_w,
                            shift=ctx.shift, scale=ctx.scale,
                            fit_intercept=opts.fit_intercept, names=self.working_names)
        stats["mae_source"] = "not defined for a weighted fit (statsmodels' WLS has none)"
        stats["weight_column"] = opts.weight_column
        stats["zero_weight_rows"] = int(ctx.n_zero or 0)
        stats["sum_weights"] = float(ctx.sum_w)
        if opts.cov_type:  # one more pass: the weighted meat (WLS's sandwich)
            stats = robust_se.apply(self, stats, w)
        return Summary.from_ols(stats)

    def _metrics(self, loss, summary) -> dict:
        ctx, d = self.context, self.d
        var_y = ctx.m2[d] / ctx.n_fit
        metrics = {"mse": float(loss), "rmse": float(np.sqrt(loss))}
        if (self.opts.fit_intercept or self.data.implicit_constant) and var_y > 0:
            metrics["r2"] = float(1.0 - loss / var_y)
        if summary is not None and summary.mae is not None:
            metrics["mae"] = summary.mae
        if ctx.weighted:  # --weight-column: mse is the weighted mean, r2 the weighted R^2
            metrics["sum_weights"] = float(ctx.sum_w)
            if ctx.n_zero is not None:
                metrics["zero_weight_rows"] = float(ctx.n_zero)
        return metrics


def evaluate_holdout(passes, fmt, scaling: Scaling, w, sample_size=0, on_sample=None) -> dict:
    """Score a fitted model on held-out rows: two passes (moments, residuals).

    Returns ``validation_*`` metrics: the training metrics beside them show over-fitting
    (validation error well above training error) or under-fitting (both high).  With
    ``sample_size`` k > 0 the residual pass also draws the k rows with the smallest hash
    keys (:mod:`mrlinreg.numerics.reservoir`) and hands them to ``on_sample`` as a
    :class:`~mrlinreg.records.ResidualSample`.
    """
    shift, scale = scaling.arrays()
    w = np.asarray(w, dtype=np.float64)
    moments = passes.run({"pass": "moments", "format": fmt.to_dict()})
    n = moments.acc.n
    if n == 0:
        raise TrainingError("no valid rows in the validation input")
    if sample_size:
        acc = passes.run({"pass": "evaluate", "format": fmt.to_dict(),
                          "shift": encode_array(shift), "scale": encode_array(scale),
                          "fit_intercept": scaling.fit_intercept,
                          "points": encode_array(w.reshape(-1, 1)),
                          "directions": encode_array(np.zeros((len(w), 0))),
                          "sample_size": int(sample_size)}).acc
        ev_loss, ev_mae = acc.sse / acc.n, acc.abs / acc.n
        if on_sample is not None and acc.sample is not None:
            on_sample(ResidualSample("validation", int(acc.n),
                                     tuple(acc.sample.column("fitted").tolist()),
                                     tuple(acc.sample.column("y_true").tolist())))
    else:
        ev = PassOracle(passes, fmt, shift, scale, scaling.fit_intercept)(
            w.reshape(-1, 1), np.zeros((len(w), 0)))
        ev_loss, ev_mae = ev.loss, ev.mae
    mse, var_y = float(ev_loss[0]), float(moments.acc.m2[-1] / n)
    out = {"validation_n_rows": float(n), "validation_mse": mse,
           "validation_rmse": float(np.sqrt(mse)), "validation_mae": float(ev_mae[0])}
    if var_y > 0:
        out["validation_r2"] = 1.0 - mse / var_y
    return out
