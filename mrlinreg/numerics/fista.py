"""FISTA for the elastic net: one oracle call (one MapReduce pass) per iteration.

Objective (glmnet's, as :mod:`mrlinreg.numerics.enet`; ``M = diag(mask)``, mask 1 on
the standardised feature weights and 0 on the intercept)::

    F(w) = f(w) + l1 ||M w||_1,   f(w) = ||A w - y||^2 / (2 n) + (l2 / 2) ||M w||^2

``f`` is smooth with ``grad f = A^T (A w - y) / n + l2 M w``, Lipschitz with
``L = lambda_max(A^T A / n) + l2``.  The prox of ``t l1 ||M w||_1`` is the soft
threshold ``S(v, t l1 m)`` (:func:`enet.soft_threshold`: an exact 0.0 below the
threshold, and the intercept is never thresholded).  FISTA (Beck & Teboulle 2009)::

    x_{k+1} = S(y_k - grad f(y_k) / L, l1 m / L)
    a_{k+1} = (1 + sqrt(1 + 4 a_k^2)) / 2
    y_{k+1} = x_{k+1} + ((a_k - 1) / a_{k+1}) (x_{k+1} - x_k)

**The step** is ``1 / L`` with ``L`` computed, not searched: the first oracle call
(at ``w0``) asks for the Hessian ``A^T A / n`` (on the ``passes`` strategy gradient
descent's first pass brings it too, for the rank check) and ``L = lambda_max(H) +
l2 max(mask)`` (:func:`lipschitz`).  The backtracking test of Beck & Teboulle is kept
as a safeguard only, at no cost: each iteration's pass evaluates the new iterate
``x_k`` beside the next extrapolated point, so ``f(x_k) <= f(y_{k-1}) + g.(x_k -
y_{k-1}) + (L/2) ||x_k - y_{k-1}||^2`` is checked; if rounding ever broke it, ``L``
doubles and the iteration is redone from the stored ``y_{k-1}`` (one more pass).
Without a Hessian (``hessian=False``) ``L`` starts at ``1 / learning_rate`` and
backtracking finds it.

**Restart.**  When ``F(x_k)`` rises the momentum is dropped (``a = 1``, ``y = x_k``;
O'Donoghue & Candes 2015): on a strongly convex problem (``l2 > 0`` or ``A`` of
full column rank) the iterates then converge linearly.

**Convergence.**  The optimality residual at ``x_k`` is the largest violation of
``0 in grad f(x_k) + l1 M d||x_k||_1`` (for a zero weight ``max(|g_j| - l1, 0)``;
for a non-zero one ``|g_j + l1 sign(x_j)|``; for the intercept ``|g_j|``); the run
has converged when it is at most ``tol`` times its value at ``w0`` (or exactly 0).
With ``mu`` the strong convexity (``lambda_min(H) + l2``), the weights are then
within about ``sqrt(p) residual / mu`` of the minimiser.

The state is a dict of arrays and floats (common fields of
:mod:`mrlinreg.numerics.solvers`: ``w``, ``loss`` the data MSE at ``w``, ``g`` the
smooth gradient at ``w``, ``g0_norm`` the starting residual, ``iteration``,
``prev_loss``; plus :data:`EXTRA_FIELDS`): resuming from it continues bit for bit.
"""

from __future__ import annotations

import numpy as np

from mrlinreg.numerics.enet import soft_threshold
from mrlinreg.numerics.solvers import DivergenceError, SolverOptions, Step, _col, _no_dirs

__all__ = ["EXTRA_FIELDS", "Fista", "kkt_residual", "lipschitz"]

#: State kept beyond the solvers' common fields (what a snapshot must hold).
EXTRA_FIELDS = ("objective", "y", "f_y", "g_y", "x_next", "a", "L", "residual")


def lipschitz(H, l2, mask):
    """``L = lambda_max(H) + l2 max(mask)``: the Lipschitz constant of ``grad f``.

    Parameters
    ----------
    H : ndarray of shape (p, p)
        ``A^T A / n`` (symmetric positive semi-definite).
    l2 : float
    mask : ndarray of shape (p,)
    """
    H = np.asarray(H, dtype=np.float64)
    top = float(np.linalg.eigvalsh((H + H.T) / 2)[-1]) if H.size else 0.0
    pen = float(l2) * (float(np.max(mask)) if len(mask) else 0.0)
    return max(top + pen, np.finfo(np.float64).tiny)


def kkt_residual(w, g, l1, mask):
    """Largest violation of ``0 in g + l1 M d||w||_1`` (0 exactly at the minimiser).

    ``g`` is the smooth part's gradient at ``w``.
    """
    w, g, mask = (np.asarray(a, dtype=np.float64) for a in (w, g, mask))
    if not len(g):
        return 0.0
    r = np.where(w != 0, np.abs(g + l1 * np.sign(w)), np.maximum(np.abs(g) - l1, 0.0))
    return float(np.max(np.where(mask > 0, r, np.abs(g))))


class Fista:
    """FISTA through an oracle (:mod:`mrlinreg.numerics.solvers`' protocol).

    Parameters
    ----------
    options : SolverOptions
        ``tol`` (relative optimality residual), ``learning_rate`` (first ``1/L``
        when no Hessian is given), ``max_backtracks``.
    l1, l2 : float
        Non-negative penalties.
    mask : ndarray of shape (p,)
        1 on penalised weights, 0 on the intercept.
    """

    name = "fista"

    def __init__(self, options: SolverOptions, l1: float, l2: float, mask):
        for name, v in (("l1", l1), ("l2", l2)):
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a non-negative number")
        self.opt = options
        self.l1, self.l2 = float(l1), float(l2)
        self.mask = np.asarray(mask, dtype=np.float64)
        self.state: dict = {}
        self.start_hessian = None

    def _smooth(self, ev, W, j):
        """``(f, grad f, data MSE)`` at column ``j`` of ``W`` from an evaluation."""
        mw = self.mask * W[:, j]
        mse = float(ev.loss[j])
        return mse / 2 + 0.5 * self.l2 * float(mw @ mw), ev.grad[:, j] + self.l2 * mw, mse

    def _objective(self, f, x):
        return f + self.l1 * float(np.abs(self.mask * x).sum())

    def _prox(self, y, g, L):
        return soft_threshold(y - g / L, self.l1 * self.mask / L)

    def start(self, oracle, w0, hessian=True) -> Step:
        """One oracle call at ``w0`` (with the Hessian, for ``L``): iteration 0."""
        w0 = np.asarray(w0, dtype=np.float64)
        ev = oracle(_col(w0), _no_dirs(len(w0)), bool(hessian))
        f, g, mse = self._smooth(ev, _col(w0), 0)
        if not (np.isfinite(f) and np.all(np.isfinite(g))):
            raise DivergenceError("the loss is not finite at the starting point: "
                                  "rescale the data or use <opt:standardize>")
        self.start_hessian = ev.hessian
        L = (lipschitz(ev.hessian, self.l2, self.mask) if ev.hessian is not None
             else 1.0 / self.opt.learning_rate)
        res = kkt_residual(w0, g, self.l1, self.mask)
        self.state = {"w": w0, "loss": mse, "g": g, "g0_norm": res, "iteration": 0,
                      "prev_loss": None, "objective": self._objective(f, w0), "y": w0,
                      "f_y": f, "g_y": g, "x_next": self._prox(w0, g, L), "a": 1.0, "L": L,
                      "residual": res}
        return Step(0, mse, res, 0.0, 1)

    def converged(self) -> bool:
        s = self.state
        return s["residual"] <= self.opt.tol * s["g0_norm"] or s["residual"] == 0.0

    def iterate(self, oracle) -> Step:
        """One pass (two if the safeguard backtracks); the step's ``loss`` is the data MSE."""
        s = self.state
        passes = 0
        for _ in range(self.opt.max_backtracks):
            x_prev, x, a = s["w"], s["x_next"], s["a"]
            a_next = (1.0 + np.sqrt(1.0 + 4.0 * a * a)) / 2.0
            y_next = x + ((a - 1.0) / a_next) * (x - x_prev)
            W = np.column_stack([x, y_next])
            ev = oracle(W, _no_dirs(len(x)), False)
            passes += 1
            f_x, g_x, mse_x = self._smooth(ev, W, 0)
            dx = x - s["y"]
            bound = s["f_y"] + float(s["g_y"] @ dx) + 0.5 * s["L"] * float(dx @ dx)
            if np.isfinite(f_x) and f_x <= bound + 1e-12 * abs(bound):
                break
            s["L"] *= 2.0
            s["x_next"] = self._prox(s["y"], s["g_y"], s["L"])
        else:
            raise DivergenceError("FISTA's backtracking found no step that lowers the "
                                  "objective; try <opt:standardize>")
        F_x = self._objective(f_x, x)
        f_y, g_y, _ = self._smooth(ev, W, 1)
        if F_x > s["objective"]:          # adaptive restart: momentum off, step from x
            a_next, y_next, f_y, g_y = 1.0, x, f_x, g_x
        s["prev_loss"] = s["loss"]
        s.update(w=x, loss=mse_x, objective=F_x, g=g_x, y=y_next, f_y=f_y, g_y=g_y, a=a_next,
                 x_next=self._prox(y_next, g_y, s["L"]),
                 residual=kkt_residual(x, g_x, self.l1, self.mask))
        s["iteration"] += 1
        return Step(s["iteration"], mse_x, s["residual"], 1.0 / s["L"], passes)
