"""The two ways of answering a solver's question (see :mod:`mrlinreg.numerics.solvers`).

``PassOracle`` runs one MapReduce pass over the data per question;
``StatsOracle`` answers from the R factor of ``[A y]`` collected by one
earlier pass.  Same inputs, same :class:`Evaluation` out.
"""

from __future__ import annotations

import numpy as np

from mrlinreg.codec import encode_array
from mrlinreg.errors import TrainingError
from mrlinreg.numerics.solvers import Evaluation, evaluate_from_r


class PassOracle:
    """Each call is one ``evaluate`` MapReduce pass."""

    strategy = "passes"

    def __init__(self, runner, fmt, shift, scale, fit_intercept):
        self.runner = runner
        self.base = {"pass": "evaluate", "format": fmt.to_dict(), "shift": encode_array(shift),
                     "scale": encode_array(scale), "fit_intercept": fit_intercept}
        self.calls = 0
        self.last = None  # (W, mean |residual| per column) of the latest pass

    def mae_at(self, w):
        """Mean absolute residual at ``w`` if the latest pass evaluated exactly ``w``, else None.

        An iterative solver's last pass evaluates the weights it ends on, so the
        summary's MAE needs no pass of its own with this strategy.
        """
        if self.last is None:
            return None
        W, mae = self.last
        for j in range(W.shape[1]):
            if W[:, j].tobytes() == np.asarray(w, dtype=np.float64).tobytes():
                return float(mae[j])
        return None

    def __call__(self, W, P, hessian=False) -> Evaluation:
        res = self.runner.run(dict(self.base, points=encode_array(W), directions=encode_array(P),
                                   hessian=bool(hessian)))
        self.calls += 1
        acc, n = res.acc, res.acc.n
        if n == 0:
            raise TrainingError("no valid rows in the input")
        self.last = (np.array(W, dtype=np.float64), acc.abs / n)
        return Evaluation(n=n, loss=acc.sse / n, grad=acc.grad / n, hp=acc.hp / n,
                          hessian=None if acc.gram is None else acc.gram / n, mae=acc.abs / n)


class StatsOracle:
    """Answers from the R factor of ``[A y]``: no pass over the data."""

    strategy = "stats"

    def __init__(self, R, n):
        # a weighted fit divides by the weights' total (a float)
        self.R, self.n = np.asarray(R), (n if isinstance(n, float) else int(n))
        self.calls = 0

    def __call__(self, W, P, hessian=False) -> Evaluation:
        self.calls += 1
        return evaluate_from_r(self.R, self.n, W, P, hessian)


class WeightedPassOracle(PassOracle):
    """``--weight-column`` on the ``passes`` strategy: each call is one weighted
    ``evaluate`` pass (the format names the weight column), its sums divided by the
    weights' total, as :class:`StatsOracle` divides the weighted R's."""

    def __call__(self, W, P, hessian=False) -> Evaluation:
        res = self.runner.run(dict(self.base, points=encode_array(W), directions=encode_array(P),
                                   hessian=bool(hessian)))
        self.calls += 1
        acc, total = res.acc, res.acc.sum_w
        if total <= 0:
            raise TrainingError("no row with a positive weight in the input")
        self.last = (np.array(W, dtype=np.float64), acc.abs / total)
        return Evaluation(n=total, loss=acc.sse / total, grad=acc.grad / total,
                          hp=acc.hp / total,
                          hessian=None if acc.gram is None else acc.gram / total,
                          mae=acc.abs / total)
