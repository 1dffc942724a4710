"""Limited-memory BFGS through the pass oracle of :mod:`mrlinreg.numerics.solvers`.

Objective and oracle as in :mod:`solvers` (``f = loss / 2``, one oracle call
is one pass).  The direction is ``d = -H_k g`` from the two-loop recursion
(Nocedal 1980) over the last ``m`` pairs ``s_i = w_{i+1} - w_i``,
``y_i = g_{i+1} - g_i``, with the initial scaling
``H_0 = (s^T y / y^T y) I`` of the newest pair (identity before any pair).

Line search in ONE pass, as gradient descent's Armijo search does: the pass
evaluates the loss and gradient at ``w + t d`` for several trial steps
``t = t0, t0 / 2, ...`` (``t0 = 1`` once a pair exists, the learning rate
before) and keeps, among those meeting ``f(w + t d) <= f(w) + c t g^T d``, the
lowest loss.  Its gradient is already there, so the new pair costs nothing
more.  A pair with ``s^T y <= 1e-12 ||s|| ||y||`` (no positive curvature seen) is
skipped, which keeps ``H_k`` positive definite.  When no trial step qualifies
the next pass tries smaller ones.

The state is a dict of arrays and scalars: the common fields of
:class:`solvers._Solver` plus ``t`` (the last accepted step), ``S`` and ``Y``
(the pairs as (k, p) arrays, oldest first, ``k <= m``): restoring it resumes
bit for bit.
"""

from __future__ import annotations

import numpy as np

from mrlinreg.errors import OptionError
from mrlinreg.numerics.solvers import DivergenceError, SolverOptions, Step, _no_dirs, _Solver

__all__ = ["LBFGS", "two_loop"]


def two_loop(g, S, Y):
    """``H_k g`` by the two-loop recursion over the pairs (rows of ``S``, ``Y``, oldest first)."""
    q = np.array(g, dtype=np.float64, copy=True)
    k = S.shape[0]
    if k == 0:
        return q
    rho = 1.0 / np.einsum("ij,ij->i", S, Y)
    alpha = np.zeros(k)
    for i in range(k - 1, -1, -1):
        alpha[i] = rho[i] * (S[i] @ q)
        q -= alpha[i] * Y[i]
    q *= (S[-1] @ Y[-1]) / (Y[-1] @ Y[-1])
    for i in range(k):
        beta = rho[i] * (Y[i] @ q)
        q += (alpha[i] - beta) * S[i]
    return q


class LBFGS(_Solver):
    """L-BFGS with a one-pass multi-step Armijo search (see the module docstring)."""

    name = "lbfgs"

    def __init__(self, options: SolverOptions, memory: int = 10):
        super().__init__(options)
        if int(memory) < 1:
            raise OptionError("<opt:lbfgs_memory> must be a positive number of pairs",
                              "lbfgs_memory")
        self.memory = int(memory)

    def _after_start(self, ev):
        p = len(self.state["w"])
        self.state.update(t=self.opt.learning_rate, S=np.zeros((0, p)), Y=np.zeros((0, p)))

    def iterate(self, oracle) -> Step:
        s = self.state
        w, g, f = s["w"], s["g"], s["loss"] / 2
        S, Y = s["S"], s["Y"]
        d = -two_loop(g, S, Y)
        slope = float(g @ d)
        if not slope < 0:      # rounding made H_k g useless: fall back to steepest descent
            S, Y = S[:0], Y[:0]
            d, slope = -g, -float(g @ g)
        t0 = 1.0 if S.shape[0] else s["t"] * 2.0
        passes = 0
        for _ in range(self.opt.max_backtracks):
            ts = t0 * self.opt.backtrack ** np.arange(self.opt.candidates)
            W = w[:, None] + d[:, None] * ts[None, :]
            ev = oracle(W, _no_dirs(len(w)), False)
            passes += 1
            with np.errstate(invalid="ignore"):
                ok = np.isfinite(ev.loss) & (ev.loss / 2 <= f + self.opt.armijo_c * ts * slope)
            if ok.any():
                j = int(np.flatnonzero(ok)[np.argmin(ev.loss[ok])])
                break
            t0 = float(ts[-1]) * self.opt.backtrack
        else:
            raise DivergenceError(
                "the L-BFGS line search found no step that lowers the loss; the data may hold "
                "values too large for double precision: try <opt:standardize>")
        w_new, g_new = W[:, j], ev.grad[:, j]
        step, change = w_new - w, g_new - g
        sy = float(step @ change)
        if sy > 1e-12 * np.linalg.norm(step) * np.linalg.norm(change):
            S = np.vstack([S, step])[-self.memory:]
            Y = np.vstack([Y, change])[-self.memory:]
        s["S"], s["Y"], s["t"] = S, Y, float(ts[j])
        self._accept(w_new, float(ev.loss[j]), g_new)
        return Step(s["iteration"], float(ev.loss[j]), float(np.linalg.norm(g_new)),
                    float(ts[j]), passes)
