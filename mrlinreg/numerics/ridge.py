"""L2 (ridge) regularisation in the working space.

With ``--l2 lam`` the solvers minimise

    f(w) = ||A w - y||^2 / (2 n) + (lam / 2) * ||M w||^2,   M = diag(mask)

where ``mask`` is 1 on the feature weights and 0 on the intercept (never
penalised).  With ``--standardize`` (the default) the penalty acts on
standardised coefficients, as in glmnet and Spark MLlib's default, so it does
not depend on the features' units.

The penalty is folded in where each strategy keeps the data:

* on the R factor (``stats`` strategy, ``--solver qr``): stacking the rows
  ``sqrt(n lam) [M 0]`` under ``[A y]`` gives a least-squares problem whose
  plain solution is the ridge solution, so TSQR stays exact:
  ``||R' [w; -1]||^2 = ||A w - y||^2 + n lam ||M w||^2``;
* around a pass (``passes`` strategy): :func:`penalized_oracle` adds the
  penalty's value, gradient and curvature to each answer.

Either way the solvers see ``loss = 2 f`` (the penalised objective);
:func:`data_mse` takes the penalty back out for reporting.
"""

from __future__ import annotations

import numpy as np

from mrlinreg.numerics import tsqr


def penalty_mask(d: int, fit_intercept: bool) -> np.ndarray:
    """1.0 on the ``d`` feature weights, 0.0 on the trailing intercept."""
    return np.concatenate([np.ones(d), np.zeros(int(fit_intercept))])


def augment_r(R_aug, n: int, lam: float, mask) -> np.ndarray:
    """The R factor of ``[A y]`` with the ridge rows ``sqrt(n lam) [diag(mask) 0]`` added."""
    mask = np.asarray(mask, dtype=np.float64)
    p = mask.shape[0]
    rows = np.zeros((int(mask.sum()), p + 1))
    rows[:, :p] = np.sqrt(n * lam) * np.diag(mask)[mask > 0]
    return tsqr.update(np.asarray(R_aug, dtype=np.float64), rows)


def penalized_oracle(oracle, lam: float, mask):
    """Wrap an oracle so that every answer includes the penalty (see module docstring)."""
    mask = np.asarray(mask, dtype=np.float64)

    def answer(W, P, hessian=False):
        ev = oracle(W, P, hessian)
        MW = mask[:, None] * W
        ev.loss = ev.loss + lam * np.einsum("ij,ij->j", MW, MW)
        ev.grad = ev.grad + lam * MW
        ev.hp = ev.hp + lam * mask[:, None] * P
        if ev.hessian is not None:
            ev.hessian = ev.hessian + lam * np.diag(mask)
        return ev

    return answer


def data_mse(penalized_loss: float, w, lam: float, mask) -> float:
    """The mean squared error on the data: the penalised loss less ``lam ||M w||^2``."""
    mw = np.asarray(mask) * np.asarray(w)
    return float(penalized_loss - lam * mw @ mw)
