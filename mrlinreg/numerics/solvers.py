"""Iterative solvers for least squares in the working space.

Objective (see :mod:`mrlinreg.numerics.scaling` for ``A`` and ``w``)::

    f(w) = ||A w - y||^2 / (2 n),   grad f = A^T (A w - y) / n,   H = A^T A / n

The reported ``loss`` is the mean squared error ``2 f(w)``.

Every solver talks to the data only through an *oracle*: a callable
``oracle(W, P, hessian) -> Evaluation`` that evaluates the loss and gradient
at each column of ``W`` (p, m), the curvature products ``H P`` for the
columns of ``P`` (p, q), and the Hessian when asked.  One oracle call is one
pass over the data: a MapReduce job (``passes`` strategy) or a few small
matrix products on the R factor of ``[A y]`` (``stats`` strategy).  The
solvers cannot tell the two apart, which is what makes their iterates equal.

Solvers keep their whole state in a dict of arrays and scalars, so a run can
be snapshotted after any iteration and resumed bit-for-bit.  They are kept in
the :data:`SOLVERS` registry (dask-glm style): ``SOLVERS[name](options)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular

from mrlinreg.errors import OptionError, TrainingError


@dataclass
class Evaluation:
    """What one pass returns, already divided by ``n``."""

    n: int
    loss: np.ndarray          # (m,) mean squared error at each point
    grad: np.ndarray          # (p, m) gradient of f = loss / 2
    hp: np.ndarray            # (p, q) H @ P
    hessian: np.ndarray | None = None  # (p, p)
    mae: np.ndarray | None = None      # (m,) mean absolute residual, when known
    # When the oracle has the R factor (stats strategy): an upper-triangular (p, p) F with
    # H = F^T F, and the gradient "whitened" by it, grad = F^T whitened_grad (p, m).  Newton
    # and CG then solve with F and never form H (or undo F^T, which costs cond(A) digits).
    hessian_factor: np.ndarray | None = None
    whitened_grad: np.ndarray | None = None


@dataclass
class Step:
    """One iteration's record (what the history and the snapshots keep)."""

    iteration: int
    loss: float
    grad_norm: float
    step: float
    passes: int


class DivergenceError(TrainingError):
    """The loss rose or stopped being finite: the run cannot go on."""


class SolverOptions:
    """Options common to the iterative solvers.

    learning_rate : float
        Fixed step of gradient descent, or the first trial step of the line search.
    line_search : {"armijo", "none"}
    tol : float
        Converged when ``||g_k|| <= tol * ||g_0||`` or when the relative loss
        change is below ``tol**2`` (for a quadratic, loss error is the square
        of weight error, so both criteria ask for the same accuracy).
    precondition : bool
        Conjugate gradient preconditioned by ``H`` when the oracle gives its
        factor (``stats`` strategy): one step, to the accuracy of the
        R-factor solve.  Off by default, so that ``stats`` and ``passes``
        iterates stay equal.
    """

    def __init__(self, learning_rate=1.0, line_search="armijo", tol=1e-6,
                 armijo_c=1e-4, backtrack=0.5, candidates=6, max_backtracks=60,
                 precondition=False):
        if not (np.isfinite(learning_rate) and learning_rate > 0):
            raise OptionError("<opt:learning_rate> must be a positive number", "learning_rate")
        if not (np.isfinite(tol) and 0 < tol < 1):
            raise OptionError("<opt:tol> must be in (0, 1)", "tol")
        if line_search not in ("armijo", "none"):
            raise OptionError("<opt:line_search> must be 'armijo' or 'none'", "line_search")
        self.learning_rate = float(learning_rate)
        self.line_search = line_search
        self.tol = float(tol)
        self.armijo_c = armijo_c
        self.backtrack = backtrack
        self.candidates = candidates
        self.max_backtracks = max_backtracks
        self.precondition = bool(precondition)


def _col(v):
    return np.asarray(v, dtype=np.float64).reshape(-1, 1)


def _no_dirs(p):
    return np.zeros((p, 0))


class _Solver:
    """Shared bookkeeping: state dict, the first evaluation, convergence."""

    name = ""

    def __init__(self, options: SolverOptions):
        self.opt = options
        self.state: dict = {}

    def start(self, oracle, w0, hessian=False) -> Step:
        """Evaluate at the starting point (iteration 0).

        With ``hessian`` the same pass also returns ``A^T A / n`` (kept in
        ``start_hessian``, not in the state) so the caller can diagnose the
        design's rank without a pass of its own.
        """
        w0 = np.asarray(w0, dtype=np.float64)
        ev = oracle(_col(w0), _no_dirs(len(w0)), self.needs_hessian or hessian)
        self.start_hessian = ev.hessian
        loss, g = float(ev.loss[0]), ev.grad[:, 0]
        _check_finite_start(loss, g)
        self.state = {"w": w0, "loss": loss, "g": g, "g0_norm": float(np.linalg.norm(g)),
                      "iteration": 0, "prev_loss": None}
        if self.needs_hessian:
            self.state["hessian"] = ev.hessian
            if ev.hessian_factor is not None:
                self.state["hessian_factor"] = ev.hessian_factor
                self.state["whitened_grad"] = ev.whitened_grad[:, 0]
        self._after_start(ev)
        return Step(0, loss, float(np.linalg.norm(g)), 0.0, 1)

    needs_hessian = False

    def _after_start(self, ev):
        pass

    def converged(self) -> bool:
        s = self.state
        gn = float(np.linalg.norm(s["g"]))
        if gn <= self.opt.tol * s["g0_norm"] or gn == 0.0:
            return True
        prev = s.get("prev_loss")
        if prev is None:
            return False
        return abs(prev - s["loss"]) <= self.opt.tol**2 * max(abs(s["loss"]), 1e-300)

    def _accept(self, w, loss, g):
        s = self.state
        s["prev_loss"] = s["loss"]
        s["w"], s["loss"], s["g"] = w, loss, g
        s["iteration"] += 1


def _check_finite_start(loss, g):
    if not (np.isfinite(loss) and np.all(np.isfinite(g))):
        raise DivergenceError(
            "the loss is not finite at the starting point: the data's values are too "
            "large for double precision; rescale them or use <opt:standardize>")


class GradientDescent(_Solver):
    """Steepest descent, ``w <- w - t g``.

    With ``line_search="armijo"`` one pass evaluates several trial steps at
    once, ``t0 * 2, t0, t0 / 2, ...`` (``t0`` the last accepted step), and
    keeps, among those meeting Armijo's sufficient-decrease condition
    ``f(w - t g) <= f(w) - c t ||g||^2``, the one of lowest loss.  When none
    qualifies the next pass tries smaller steps.  A fixed step
    (``line_search="none"``) that makes the loss rise or overflow raises
    :class:`DivergenceError` with the largest stable step estimated from the
    observed curvature.
    """

    name = "gd"

    def _after_start(self, ev):
        self.state["t"] = self.opt.learning_rate

    def iterate(self, oracle) -> Step:
        s = self.state
        w, g, f = s["w"], s["g"], s["loss"] / 2
        gg = float(g @ g)
        if self.opt.line_search == "none":
            t = s["t"]
            ev = oracle(_col(w - t * g), _no_dirs(len(w)), False)
            loss, g_new = float(ev.loss[0]), ev.grad[:, 0]
            if not np.isfinite(loss) or loss > s["loss"] * (1 + 1e-12):
                raise DivergenceError(_divergence_message(s, t, w, g, loss, g_new))
            self._accept(w - t * g, loss, g_new)
            return Step(s["iteration"], loss, float(np.linalg.norm(g_new)), t, 1)
        t0, passes = s["t"] * 2.0, 0
        for _ in range(self.opt.max_backtracks):
            ts = t0 * self.opt.backtrack ** np.arange(self.opt.candidates)
            W = w[:, None] - g[:, None] * ts[None, :]
            ev = oracle(W, _no_dirs(len(w)), False)
            passes += 1
            with np.errstate(invalid="ignore"):
                ok = np.isfinite(ev.loss) & (ev.loss / 2 <= f - self.opt.armijo_c * ts * gg)
            if ok.any():
                j = int(np.flatnonzero(ok)[np.argmin(ev.loss[ok])])
                s["t"] = float(ts[j])
                self._accept(W[:, j], float(ev.loss[j]), ev.grad[:, j])
                return Step(s["iteration"], float(ev.loss[j]),
                            float(np.linalg.norm(ev.grad[:, j])), float(ts[j]), passes)
            t0 = float(ts[-1]) * self.opt.backtrack
        raise DivergenceError(
            "the line search found no step that lowers the loss; the data may hold values "
            "too large for double precision: try <opt:standardize>")


def _divergence_message(s, t, w, g, loss, g_new):
    # curvature along -g observed from the gradient change: L >= |g_new - g| / |t g|
    L = np.linalg.norm(g_new - g) / (t * np.linalg.norm(g)) if np.all(np.isfinite(g_new)) else None
    hint = ""
    if L and np.isfinite(L) and L > 0:
        hint = f" The observed curvature suggests steps below {2 / L:.3g} are stable."
    what = "became non-finite" if not np.isfinite(loss) else f"rose from {s['loss']:.6g} to {loss:.6g}"
    return (f"gradient descent is diverging: at iteration {s['iteration'] + 1} the loss {what} "
            f"with the fixed step {t:g}.{hint} Use a smaller <opt:learning_rate>, "
            f"<opt:line_search> armijo (which picks the step itself), or <opt:standardize>.")


class ConjugateGradient(_Solver):
    """Linear conjugate gradient on the normal equations ``H w = A^T y / n``.

    One pass per iteration computes ``H p`` (and the loss and gradient at the
    current point, for the history and the convergence test).  Exact step
    ``alpha = r.r / p.Hp``; Fletcher-Reeves ``beta``.  On a quadratic with
    ``p`` distinct curvatures it converges in at most ``p`` iterations, where
    steepest descent needs a number that grows with the condition number.
    Its attainable accuracy is limited by ``cond(H) = cond(A)^2``.

    With ``options.precondition`` and an oracle that gives a factor
    ``H = F^T F`` with ``g = F^T v`` (``stats`` strategy), CG is
    preconditioned by ``H`` itself: the direction
    is ``z = H^{-1} r = -F^{-1} v``, one triangular solve on the true
    gradient of each pass (residual replacement), ``alpha = r.z / z.Hz``
    with ``z.Hz = ||F z||^2``.  Honestly, that is Newton's step with an exact
    line search: it converges in one iteration, to the accuracy of the
    R-factor solve, and later iterations only polish.
    """

    name = "cg"

    def _factor(self, ev):
        return ev.hessian_factor if self.opt.precondition else None

    def _after_start(self, ev):
        r = -self.state["g"]
        if self._factor(ev) is None:
            first = r.copy()
        else:
            first = -solve_triangular(_checked(ev.hessian_factor), ev.whitened_grad[:, 0])
        self.state["r"], self.state["dir"] = r, first

    def iterate(self, oracle) -> Step:
        s = self.state
        w, r, d = s["w"], s["r"], s["dir"]
        ev = oracle(_col(w), _col(d), False)
        s["loss"] = float(ev.loss[0])  # measured at w; the model below predicts the next
        F = self._factor(ev)
        if F is None:
            hd = ev.hp[:, 0]
            dhd = float(d @ hd)
            rz = float(r @ r)
        else:
            v = ev.whitened_grad[:, 0]
            r, d = -ev.grad[:, 0], -solve_triangular(_checked(F), v)
            fd = F @ d
            hd, dhd, rz = F.T @ fd, float(fd @ fd), float(v @ v)
        if not (np.isfinite(dhd) and dhd > 0):
            raise DivergenceError(
                "conjugate gradient met a direction of zero or negative curvature: the "
                "features are linearly dependent; drop a column or use <opt:solver> qr")
        alpha = rz / dhd
        w_new = w + alpha * d
        r_new = r - alpha * hd
        if F is None:
            beta = float(r_new @ r_new) / rz
            s["r"], s["dir"] = r_new, r_new + beta * d
        else:       # the next pass's true gradient gives the next direction
            s["r"], s["dir"] = r_new, d
        # loss at w_new from the quadratic model, exact for least squares:
        # f(w + a d) = f(w) - a r.d + a^2/2 d.Hd
        loss_new = s["loss"] + 2 * (-alpha * float(r @ d) + 0.5 * alpha**2 * dhd)
        self._accept(w_new, max(loss_new, 0.0), -r_new)
        return Step(s["iteration"], s["loss"], float(np.linalg.norm(r_new)), alpha, 1)


class Newton(_Solver):
    """Newton's method: ``w <- w - H^{-1} g`` with gradient and Hessian from one pass.

    For squared loss the model is exact, so one step lands on the minimum; the
    next pass only confirms it (gradient ~ 0).  ``H^{-1} g`` is a Cholesky
    solve on ``H`` (``passes`` strategy), or, when the oracle gives the
    factor ``H = F^T F`` and ``g = F^T v`` (``stats`` strategy), the single
    triangular solve ``F^{-1} v``: ``H`` is never formed and ``F^T`` never
    undone, so the step is as accurate as ``solve_r`` on the same factor
    (forming ``H`` cost about ``log10 cond(A)`` digits).
    """

    name = "newton"
    needs_hessian = True

    def iterate(self, oracle) -> Step:
        s = self.state
        w, g, H = s["w"], s["g"], s["hessian"]
        factor = s.get("hessian_factor")
        if factor is None:
            d = -_solve_spd(H, g)
        else:       # H^{-1} g = F^{-1} whitened_grad: one triangular solve, H never formed
            d = -solve_triangular(_checked(factor), s["whitened_grad"])
        w_new = w + d
        ev = oracle(_col(w_new), _no_dirs(len(w)), True)
        loss = float(ev.loss[0])
        if not np.isfinite(loss):
            raise DivergenceError("Newton's step produced a non-finite loss")
        s["hessian"] = ev.hessian
        if ev.hessian_factor is not None:
            s["hessian_factor"] = ev.hessian_factor
            s["whitened_grad"] = ev.whitened_grad[:, 0]
        self._accept(w_new, loss, ev.grad[:, 0])
        return Step(s["iteration"], loss, float(np.linalg.norm(ev.grad[:, 0])), 1.0, 1)


def _solve_spd(H, g):
    try:
        L = np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        raise DivergenceError(
            "the Hessian is singular: the features are linearly dependent; drop a column "
            "or use <opt:solver> qr, which names the dependent columns") from None
    z = np.linalg.solve(L, g)
    return np.linalg.solve(L.T, z)


def _checked(F):
    """``F`` itself, after checking that the triangular factor is nonsingular."""
    if not np.all(np.isfinite(F)) or np.any(np.diag(F) == 0):
        raise DivergenceError(
            "the Hessian is singular: the features are linearly dependent; drop a column "
            "or use <opt:solver> qr, which names the dependent columns")
    return F


SOLVERS = {cls.name: cls for cls in (GradientDescent, ConjugateGradient, Newton)}


def evaluate_from_r(R, n, W, P, hessian=False) -> Evaluation:
    """An oracle answer computed from the R factor of ``[A y]`` alone.

    Since ``R^T R = [A y]^T [A y]``, with ``v = [w; -1]``:
    ``||A w - y||^2 = ||R v||^2`` and ``A^T (A w - y) = (R^T R v)[:p]``.
    No cancellation-prone ``y.y - 2 w.A^T y + ...`` expansion is used.
    ``hessian_factor`` is ``F = R[:p, :p] / sqrt(n)`` (``H = F^T F``) and
    ``whitened_grad`` is ``(R V)[:p] / sqrt(n)`` (``grad = F^T whitened_grad``,
    as the last row of ``R[:, :p]`` is zero), always given: Newton and CG
    solve with them instead of forming ``H``.
    """
    W = np.asarray(W, dtype=np.float64)
    p = W.shape[0]
    V = np.vstack([W, -np.ones((1, W.shape[1]))])
    RV = R @ V
    sse = np.einsum("ij,ij->j", RV, RV)
    grad = (R.T @ RV)[:p]
    Rx = R[:, :p]
    hp = Rx.T @ (Rx @ P) if P.shape[1] else np.zeros((p, 0))
    H = (Rx.T @ Rx) / n if hessian else None
    root_n = np.sqrt(n)
    return Evaluation(n=n, loss=sse / n, grad=grad / n, hp=hp / n, hessian=H,
                      hessian_factor=R[:p, :p] / root_n, whitened_grad=RV[:p] / root_n)
