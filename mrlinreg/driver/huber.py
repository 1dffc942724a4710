"""Robust regression (``--loss huber``): the OLS start, delta, then IRLS passes.

Objective (:mod:`mrlinreg.numerics.huber`), in the working space, intercept never
scaled, delta in the label's units::

    F(w) = (1/n) sum_i rho(y_i - a_i^T w),   rho(r) = r^2/2 (|r| <= delta),
                                                     delta |r| - delta^2/2 otherwise

Passes, in order:

1. the run's first pass (moments and the R factor of ``[A y]``, fused): the OLS fit
   ``w_0`` (the IRLS start) and, at the end, the data's MSE at any ``w``;
2. delta, unless ``--huber-delta`` gives it: ``1.345 * median(|r|) / 0.6745`` of the
   OLS residuals, the median computed EXACTLY (as ``numpy.median``) from mergeable
   sketches of ``|y - A w_0|``: up to :data:`COLLECT_CAP` rows, one pass keeps every
   ``|r|`` (at most that many values reach the reducer); beyond, round one counts them
   in ``2^(1/64)``-wide log bins and the next pass collects the few values of the
   median's bins (:func:`~mrlinreg.numerics.huber.exact_median`: two passes up to
   about 2e7 rows, one more per 4096-fold beyond).  Computed once, then fixed;
3. one weighted-TSQR pass per IRLS iteration at ``w_k``
   (:class:`~mrlinreg.numerics.huber.HuberIRLSAccumulator`): ``F(w_k)``, the exact
   gradient ``-(1/n) R^T (z - R w_k)`` of the reweighted factor ``[[R, z], ...]`` and
   the next iterate ``w_{k+1} = R^{-1} z``.

Iteration k reports ``w_k`` with its objective and gradient (what the pass at ``w_k``
measured); the run stops at the first k whose proposed change
``max |w_{k+1} - w_k| <= tol * max(1, max |w_k|)`` (working space) and keeps ``w_k``,
whose numbers are all measured.  Each iteration's snapshot holds ``w_k`` and the proposal
``w_{k+1}``: a resumed run continues with the pass at ``w_{k+1}``, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular

from mrlinreg.codec import encode_array
from mrlinreg.errors import TrainingError
from mrlinreg.numerics import exact
from mrlinreg.numerics.huber import HUBER_K, MAD_CONSTANT, default_delta, exact_median
from mrlinreg.numerics.solvers import Step
from mrlinreg.records import SolverState

#: Up to this many rows, one sketch pass collects every |r| (exact median in one pass);
#: also the most values any later round of exact_median collects.
COLLECT_CAP = 100_000
DELTA_SOURCE_DEFAULT = "1.345*MAD of OLS residuals"
DELTA_SOURCE_USER = "user"


@dataclass
class HuberFit:
    """What :func:`fit` found: working weights, the data's MSE and F at them, the record."""

    w: np.ndarray
    mse: float
    objective: float
    converged: bool
    iterations: int
    metrics: dict
    record: dict   # the model JSON's "huber"


def _base(run):
    ctx = run.context
    return {"format": run.data.fmt.to_dict(), "shift": encode_array(ctx.shift),
            "scale": encode_array(ctx.scale), "fit_intercept": run.opts.fit_intercept}


def median_abs_residual(run, w):
    """Exact median of ``|y - A w|`` over the training rows; returns ``(median, passes)``."""
    n, params = run.context.n, dict(_base(run), w=encode_array(w))
    rounds = []

    def sketch_round(edges, collect):
        rounds.append(1)
        spec = "log" if edges is None else encode_array(np.asarray(edges, dtype=np.float64))
        return run.passes.run(dict(params, **{"pass": "abs_residual_sketch", "edges": spec,
                                              "collect": bool(collect)})).acc.sketch

    if n <= COLLECT_CAP:
        values = sketch_round(np.array([0.0, np.inf]), True).values
        if len(values) != n:
            raise TrainingError(f"the residual pass saw {len(values)} rows, the first {n}: "
                                "did the input change during the run?")
        return 0.5 * (float(values[(n - 1) // 2]) + float(values[n // 2])), len(rounds)

    def by_round(edges, collect):  # exact_median starts from the log edges: ship "log"
        return sketch_round(None if len(rounds) == 0 else edges, collect)

    return float(exact_median(by_round, n, cap=COLLECT_CAP)), len(rounds)


def irls_pass(run, w, delta):
    """One weighted-TSQR pass at ``w``: ``(F(w), grad F(w), proposal R^{-1} z)``."""
    acc = run.passes.run(dict(_base(run), **{"pass": "huber_irls", "w": encode_array(w),
                                              "delta": float(delta)})).acc
    if acc.n == 0 or acc.R is None:
        raise TrainingError("no valid rows in the input")
    R, z = acc.R[:-1, :-1], acc.R[:-1, -1]
    if np.any(np.diag(R) == 0):
        raise TrainingError("the reweighted design is rank deficient: too few rows "
                            "within <opt:huber_delta> of the fit; raise it")
    grad = -(R.T @ (z - R @ w)) / acc.n
    proposal = solve_triangular(R, z)
    if not np.all(np.isfinite(proposal)):
        raise TrainingError("the reweighted least-squares step is not finite: the "
                            "reweighted design is (nearly) rank deficient; raise "
                            "<opt:huber_delta>")
    return acc.rho / acc.n, grad, proposal


def fit(run):
    """``--loss huber``: the fit of :class:`~mrlinreg.driver.training.TrainingRun` ``run``
    (whose context holds the R factor of ``[A y]``).  Returns a :class:`HuberFit`."""
    opts, ctx = run.opts, run.context
    ols_objective, delta_passes, prev_w = None, None, None
    if run.resume is not None:  # continue with the pass at the stored proposal
        st = run.resume.solver_state
        delta, med = float(st.extra["delta"]), st.extra.get("median_abs_residual")
        med = None if med is None else float(med)
        w, k, g0, prev = np.asarray(st.extra["next"]), st.iteration + 1, st.g0_norm, st.loss
        prev_w = np.asarray(st.w)
    else:
        sol = exact.solve_r(ctx.R, names=run.working_names)
        run._check_rank(sol)
        w, k, g0, prev = sol.w, 0, None, None
        if opts.huber_delta is not None:
            delta, med, delta_passes = float(opts.huber_delta), None, 0
        else:
            med, delta_passes = median_abs_residual(run, w)
            delta = default_delta(med)
            run.progress.say(f"huber: delta {delta:.6g} = 1.345 * MAD of the OLS residuals "
                             f"(median |r| {med:.6g}, exact, {delta_passes} pass"
                             f"{'es' if delta_passes > 1 else ''})")
    while True:
        objective, grad, proposal = irls_pass(run, w, delta)
        if k == 0:
            ols_objective, g0 = objective, float(np.linalg.norm(grad))
        change = float(np.max(np.abs(proposal - w))) if len(w) else 0.0
        step = 0.0 if prev_w is None else float(np.max(np.abs(w - prev_w)))
        extra = {"next": proposal, "delta": delta}
        if med is not None:
            extra["median_abs_residual"] = med
        state = SolverState("irls", w, float(objective), grad, g0, k, prev, extra)
        s = Step(k, float(objective), float(np.linalg.norm(grad)), step, 1)
        run._record_step(s, state)
        run.progress.step(s)
        converged = change <= opts.tol * max(1.0, float(np.max(np.abs(w))) if len(w) else 1.0)
        if converged or k >= opts.max_iter:
            break
        prev_w, w, prev, k = w, proposal, float(objective), k + 1
    if not converged:
        run.warnings.append(f"IRLS not converged after <opt:max_iter> {opts.max_iter} "
                            f"iterations (last change {change:.3e}); raise <opt:max_iter>")
    r = np.asarray(ctx.R) @ np.append(w, -1.0)  # the data's MSE from the first pass's R
    mse = float(r @ r / ctx.n)
    metrics = run._metrics(mse, None)
    source = DELTA_SOURCE_USER if opts.huber_delta is not None else DELTA_SOURCE_DEFAULT
    huber = {"delta": delta, "delta_source": source,
             "scale": None if med is None else med / MAD_CONSTANT,
             "median_abs_ols_residual": med, "k": HUBER_K,
             "delta_passes": delta_passes, "ols_objective": ols_objective}
    for message in run.warnings:
        run.progress.say(f"warning: {message}")
    return HuberFit(w, mse, float(objective), converged, int(k), metrics, huber)
