"""Elastic net, the penalty path and k-fold cross-validation, all from the R factor.

Called from :class:`mrlinreg.driver.training.TrainingRun` through three small hooks:

* :func:`pass_params` / :func:`fold_context`: with ``--cv K`` the one pass
  (``fused_cv``) carries the fold add-on (:func:`mrlinreg.kernels.fold_addon`): each
  mapper keeps one fused partial (moments and R in a frame of its own) per fold,
  ``fold = crc32(line) % K`` (:mod:`mrlinreg.numerics.cv_fused`); the whole data's R
  is their merge, and each fold's factor is moved to its frame.  One pass in all.
* :func:`fit_cd` (``--solver cd``): the elastic net of glmnet's objective
  ``(1/2n)||y - A w||^2 + l1 ||w||_1 + (l2/2) ||w||^2`` on the standardised
  features (population standard deviations), never on the intercept, by coordinate
  descent on ``A^T A / n`` from R (:mod:`mrlinreg.numerics.enet`); with ``--path N``
  along N scales of ``(l1, l2)`` (ratio kept) from the smallest that zeroes every
  weight down, warm-started.  Every path point is one "iteration" of the run:
  its data MSE, its optimality residual (largest KKT violation) and a snapshot.
* :func:`cross_validation`: the CV curve from the fold factors alone: each fold's
  fit on the merged factors of the others, its held-out MSE ``||R_k [w; -1]||^2 /
  n_k``, mean and standard error per penalty, ``lambda_min`` and ``lambda_1se``.

Which penalty the model keeps: with ``--path`` and ``--cv`` the path point at
``lambda_min`` (the full-data fit there: the "refit on all the data"); with
``--path`` alone the last (smallest) penalty; otherwise the one ``(l1, l2)`` asked.

Resuming a ``cd`` run re-runs this module on the stored R (and fold factors): it
costs no pass, only driver arithmetic, and gives the same numbers bit for bit.

* :func:`fit_fista` (``--solver cd --strategy passes``): the same objective by FISTA
  (:mod:`mrlinreg.numerics.fista`), one ``evaluate`` pass per iteration (the pass
  gradient descent uses: ``A^T (A w - y)`` and ``||A w - y||^2`` at the new iterate
  and the next extrapolated point); its first pass also brings ``A^T A`` for the step
  ``1 / L``.  Each iteration is a history entry (data MSE, optimality residual, step)
  and a snapshot of the solver's whole state: ``--resume`` continues it bit for bit.
  ``--path`` and ``--cv`` need R and are refused on this strategy (N fits of ~100
  passes each would cost N x 100 passes; the stats strategy does them in one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mrlinreg import kernels
from mrlinreg.driver.oracles import PassOracle
from mrlinreg.errors import TrainingError
from mrlinreg.numerics import cv as cvnum
from mrlinreg.numerics import enet, exact, ridge
from mrlinreg.numerics.cv_fused import fold_context as fold_context_of
from mrlinreg.numerics.fista import Fista
from mrlinreg.numerics.scaling import to_original
from mrlinreg.numerics.solvers import SolverOptions, Step
from mrlinreg.records import HistoryEntry, SolverState

MAX_SWEEPS = 100_000  # coordinate-descent sweeps per penalty


@dataclass
class PenalisedFit:
    """What :func:`fit_cd` found (working space) and what goes into the record."""

    w: np.ndarray
    loss: float               # the data's MSE at w
    objective: float | None   # the penalised objective F(w) (None for plain OLS)
    converged: bool
    iterations: int
    path: dict | None = None
    path_weights: np.ndarray | None = None   # (N, p) working weights along the path
    lambdas: np.ndarray | None = None


def is_penalised(opts) -> bool:
    return bool(opts.l1 or opts.l2 or opts.path)


def pass_params(opts) -> dict:
    """Extra params of the pass that builds R: the fold add-on with ``--cv``."""
    return {"cv_folds": int(opts.cv_folds)} if opts.cv_folds else {}


def fold_context(result, opts):
    """``(FusedContext, fold_R (K, p+1, p+1), fold_n (K,))`` from the one ``--cv`` pass.

    The pass's fold add-on holds one fused partial per fold
    (:mod:`mrlinreg.numerics.cv_fused`); their merge is the whole data's partial, and
    each fold's factor is moved to the whole data's working frame.
    """
    acc = (result.addons or {}).get(kernels.FOLD_ADDON_KEY)
    if acc is None or acc.n == 0:
        raise TrainingError("the pass returned no fold factors for cross-validation (is "
                            "the input text? folds are hashed from each row's line)")
    if acc.n != result.acc.n:
        raise TrainingError(f"the fold factors hold {acc.n} rows but the pass read "
                            f"{result.acc.n}: some rows were in no fold")
    return fold_context_of(acc, opts.fit_intercept, opts.standardize)


def _fold_list(ctx):
    return [None if n == 0 else R for R, n in zip(ctx.fold_R, ctx.fold_n)]


def _mse(R, n, w):
    r = np.asarray(R) @ np.append(w, -1.0)
    return float(r @ r / n)


def _kkt_residual(G, b, w, l1, l2, mask):
    """Largest violation of ``0 in G w - b + l2 M w + l1 d||M w||_1`` (0 at the optimum)."""
    g = G @ w - b + l2 * mask * w
    r = np.where(w != 0, np.abs(g + l1 * np.sign(w)), np.maximum(np.abs(g) - l1, 0.0))
    return float(np.max(np.where(mask > 0, r, np.abs(g)))) if len(g) else 0.0


def fit_cd(run) -> PenalisedFit:
    """``--solver cd``: one elastic-net fit, or the path, on the run's R factor."""
    opts, ctx = run.opts, run.context
    n, R = ctx.n_fit, ctx.R  # weighted: glmnet's (1/2 sum w) sum w r^2
    mask = ridge.penalty_mask(run.d, opts.fit_intercept)
    G, b, yy = enet.gram_from_r(R, n)
    alpha = enet.mixing(opts.l1, opts.l2)
    tol = opts.tol ** 2 * max(np.sqrt(yy), np.finfo(float).tiny)  # units of y
    if opts.path:
        lambdas = enet.path_scales(enet.lambda_max(G, b, alpha, opts.fit_intercept), opts.path,
                                   ctx.n, run.d)
    else:
        lambdas = np.array([opts.l1 + opts.l2], dtype=np.float64)
    if not opts.path and opts.l1 == 0 and opts.l2 == 0:
        run._check_rank(exact.solve_r(R, names=run.working_names))  # plain OLS: unique?
    if run.resume is not None:
        run.history = []  # rebuilt below, point by point, from the stored factor
    W = np.zeros((len(lambdas), run.p))
    all_converged, w = True, None
    for i, s in enumerate(lambdas):
        l1, l2 = alpha * s, (1.0 - alpha) * s
        try:
            fit = enet.fit_enet_r(R, n, l1, l2, mask, w0=w, tol=tol, max_sweeps=MAX_SWEEPS)
        except enet.DivergenceError as e:  # an unpenalised, rank-deficient design
            raise TrainingError(str(e)) from None
        w = fit.w
        W[i] = w
        all_converged &= bool(fit.converged)
        loss = _mse(R, n, w)
        residual = _kkt_residual(G, b, w, l1, l2, mask)
        _record(run, i + 1, loss, residual, w)
        run.progress.say(f"cd  {i + 1:4d}  lambda {s:.6e}  mse {loss:.10e}  "
                         f"nonzero {int(np.count_nonzero(w * mask))}  sweeps {fit.sweeps}")
    if not all_converged:
        run.warnings.append(f"coordinate descent did not converge in {MAX_SWEEPS} sweeps at "
                            "some penalty; the weights there are approximate (raise "
                            "<opt:tol>, or penalise more with <opt:l2>)")
    path = None
    if opts.path:
        path = path_record(lambdas, alpha, W, ctx, run.data.features, opts.fit_intercept)
    fit = PenalisedFit(w=W[-1], loss=0.0, objective=None, converged=all_converged,
                       iterations=len(lambdas), path=path, path_weights=W, lambdas=lambdas)
    return keep(fit, len(lambdas) - 1, run)


def fit_fista(run) -> PenalisedFit:
    """``--solver cd`` on the ``passes`` strategy: FISTA, one pass per iteration."""
    opts, ctx = run.opts, run.context
    mask = ridge.penalty_mask(run.d, opts.fit_intercept)
    oracle = PassOracle(run.passes, run.data.fmt, ctx.shift, ctx.scale, opts.fit_intercept)
    solver = Fista(SolverOptions(learning_rate=opts.learning_rate, tol=opts.tol),
                   opts.l1, opts.l2, mask)
    if run.resume is not None:
        solver.state = run.resume.solver_state.to_solver_dict()
    else:
        step = solver.start(oracle, np.zeros(run.p), hessian=True)
        if opts.l1 == 0 and opts.l2 == 0:  # plain least squares: is the minimiser unique?
            run._check_gram(solver.start_hessian)
        run.progress.say(f"fista: step 1/L = {1.0 / solver.state['L']:.6e} (L the largest "
                         "eigenvalue of A^T A / n, plus l2)")
        run._record_step(step, _state(solver))
        run.progress.step(step)
    while not solver.converged() and solver.state["iteration"] < opts.max_iter:
        step = solver.iterate(oracle)
        run._record_step(step, _state(solver))
        run.progress.step(step)
    s = solver.state
    converged = solver.converged()
    if not converged:
        run.warnings.append(
            f"FISTA did not converge in <opt:max_iter> {opts.max_iter} iterations (optimality "
            f"residual {s['residual']:.3e}, {s['residual'] / max(s['g0_norm'], 1e-300):.1e} of "
            "its start); raise <opt:max_iter>, or use <opt:strategy> stats (coordinate "
            "descent on R, one pass)")
    w = np.asarray(s["w"], dtype=np.float64)
    run.progress.say(f"fista: {s['iteration']} iterations, mse {s['loss']:.10e}, nonzero "
                     f"{int(np.count_nonzero(w * mask))}")
    objective = float(s["objective"]) if (opts.l1 or opts.l2) else None
    return PenalisedFit(w=w, loss=float(s["loss"]), objective=objective, converged=converged,
                        iterations=int(s["iteration"]))


def _state(solver):
    return SolverState.from_solver_dict(solver.name, solver.state)


def keep(fit: PenalisedFit, index: int, run) -> PenalisedFit:
    """Make the path point ``index`` the model: weights, data MSE, penalised objective."""
    opts, ctx = run.opts, run.context
    alpha, s = enet.mixing(opts.l1, opts.l2), float(fit.lambdas[index])
    fit.w = fit.path_weights[index]
    fit.loss = _mse(ctx.R, ctx.n_fit, fit.w)
    fit.objective = (enet.enet_objective(ctx.R, ctx.n_fit, fit.w, alpha * s, (1 - alpha) * s,
                                         ridge.penalty_mask(run.d, opts.fit_intercept))
                     if s > 0 else None)
    return fit


def _record(run, iteration, loss, residual, w):
    entry = HistoryEntry(iteration, loss, residual, None, run.progress.elapsed())
    run.history.append(entry)
    if run.on_iteration is not None:
        run.on_iteration(Step(iteration, loss, residual, 0.0, 0),
                         SolverState("cd", w, float(loss), None, None, iteration),
                         run.context, entry)


def path_record(lambdas, alpha, W, ctx, features, fit_intercept) -> dict:
    """The model JSON's ``path``: coefficients and intercepts in original units."""
    coefs, intercepts = [], []
    for w in W:
        c, b0 = to_original(w, ctx.shift, ctx.scale, fit_intercept)
        coefs.append({name: float(v) for name, v in zip(features, c)})
        intercepts.append(float(b0))
    return {"lambdas": [float(s) for s in lambdas], "alpha": float(alpha),
            "l1": [float(alpha * s) for s in lambdas],
            "l2": [float((1 - alpha) * s) for s in lambdas],
            "coefficients": coefs, "intercepts": intercepts}


def cross_validation(run, lambdas=None):
    """The CV curve of the run's fit from its fold factors (no pass).

    ``lambdas``: the path's scales; by default the one penalty asked for
    (``l1 + l2``, 0 for OLS).
    """
    opts, ctx = run.opts, run.context
    if ctx.fold_R is None:
        raise TrainingError("no fold factors were collected; cross-validation needs them")
    alpha = enet.mixing(opts.l1, opts.l2)
    if lambdas is None:
        lambdas = np.array([opts.l1 + opts.l2], dtype=np.float64)
    G, b, yy = enet.gram_from_r(ctx.R, ctx.n)
    tol = opts.tol ** 2 * max(np.sqrt(yy), np.finfo(float).tiny)
    try:
        res = cvnum.cross_validate(_fold_list(ctx), ctx.fold_n, lambdas, alpha=alpha,
                                   fit_intercept=opts.fit_intercept, tol=tol,
                                   max_sweeps=MAX_SWEEPS)
    except enet.DivergenceError as e:
        raise TrainingError(f"cross-validation: a fold's training fit failed: {e}") from None
    run.progress.say(f"cv: {len(res.fold_n)} folds, lambda_min {res.lambda_min:.6e} "
                     f"(mse {res.cvm[res.index_min]:.6e}), lambda_1se {res.lambda_1se:.6e}")
    return res


def cv_record(res, n_folds) -> dict:
    """The model JSON's ``cv``."""
    return {"folds": int(n_folds), "lambdas": [float(v) for v in res.lambdas],
            "alpha": float(res.alpha),
            "mean_mse": [float(v) for v in res.cvm], "se_mse": [float(v) for v in res.cvsd],
            "lambda_min": res.lambda_min, "lambda_1se": res.lambda_1se,
            "index_min": int(res.index_min), "index_1se": int(res.index_1se),
            "fold_rows": [int(v) for v in res.fold_n]}


def selected_features(features, w, d):
    """Names of the features whose (working, hence original) weight is not exactly 0."""
    return [name for name, v in zip(features, np.asarray(w)[:d]) if v != 0.0]
