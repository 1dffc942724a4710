"""``--early-stopping PATIENCE`` for gd and lbfgs: watch the validation loss, keep the best.

After every iteration (and at the start, iteration 0) the validation MSE of the
current weights is measured; :func:`mrlinreg.numerics.cv.early_stopping` decides
(``min_delta`` 0): the run stops at the first iteration ``i`` with
``i - best >= PATIENCE``, where ``best`` is the iteration of the lowest validation
loss so far, and the model keeps the weights of ``best`` (with their training loss).
A run that converges, or reaches ``--max-iter``, first keeps its last iterate.

How the validation loss is measured (:class:`ValidationLoss`):

* up to ``STATS_MAX_FEATURES`` working columns (either strategy): ONE pass over the
  validation data before the iterations collects the R factor of its ``[A y]`` in the
  training's working space (the training's shift and scale); then
  ``val_loss(w) = ||R_val [w; -1]||^2 / n_val`` exactly, no pass per iteration;
* wider: one ``evaluate`` pass over the validation data per iteration (the training
  passes read only the training inputs, so their mappers cannot tag validation rows).
"""

from __future__ import annotations

import numpy as np

from mrlinreg.codec import encode_array
from mrlinreg.driver.oracles import PassOracle
from mrlinreg.errors import TrainingError
from mrlinreg.numerics.cv import early_stopping

SOURCE_R = "the validation data's R factor (one pass before the iterations)"
SOURCE_PASS = "one evaluate pass over the validation data per iteration"


def start(run, use_r):
    """The :class:`EarlyStopper` of a :class:`~mrlinreg.driver.training.TrainingRun`
    (None without ``--early-stopping``); with ``use_r`` R_val's one pass runs now."""
    if not run.opts.early_stopping:
        return None
    if run.holdout is None:
        raise TrainingError("<opt:early_stopping> needs <opt:validation> data")
    passes, fmt = run.holdout
    ctx = run.context
    val = ValidationLoss(passes, fmt, ctx.shift, ctx.scale, run.opts.fit_intercept,
                         use_r=use_r)
    run.progress.say(f"early stopping: patience {run.opts.early_stopping}, validation loss "
                     f"from {val.source}")
    return EarlyStopper(run.opts.early_stopping, val)


class ValidationLoss:
    """The validation MSE at working weights ``w``.

    Parameters
    ----------
    passes : PassRunner over the validation inputs
    fmt : RowFormat of the validation inputs
    shift, scale, fit_intercept : the training's working space
    use_r : bool
        Collect R_val once (one pass now) instead of one pass per call.
    """

    def __init__(self, passes, fmt, shift, scale, fit_intercept, use_r):
        self.passes, self.calls = passes, 0
        if use_r:
            acc = passes.run({"pass": "tsqr", "format": fmt.to_dict(),
                              "shift": encode_array(shift), "scale": encode_array(scale),
                              "fit_intercept": fit_intercept}).acc
            if acc.n == 0 or acc.R is None:
                raise TrainingError("no valid rows in the validation input")
            self.R, self.n, self.oracle = np.asarray(acc.R), int(acc.n), None
            self.source = SOURCE_R
        else:
            self.R, self.n = None, None
            self.oracle = PassOracle(passes, fmt, shift, scale, fit_intercept)
            self.source = SOURCE_PASS

    def __call__(self, w) -> float:
        self.calls += 1
        w = np.asarray(w, dtype=np.float64)
        if self.R is not None:
            r = self.R @ np.append(w, -1.0)
            return float(r @ r / self.n)
        ev = self.oracle(w.reshape(-1, 1), np.zeros((len(w), 0)))
        return float(ev.loss[0])


class EarlyStopper:
    """The validation losses so far, the best iterate, and the stop decision.

    What a resumed run needs beyond its history's ``val_loss`` values travels in the
    solver state's extra fields (:data:`~mrlinreg.records.SolverState.EARLY_STOPPING_FIELDS`):
    iteration 0's validation loss and the best weights with their training loss.
    """

    def __init__(self, patience, val_loss: ValidationLoss):
        self.patience, self.val_loss = int(patience), val_loss
        self.val_losses, self.best_w, self.best_train_loss = [], None, None
        self.decision = early_stopping(self.val_losses, self.patience)

    def resume(self, extra: dict, history) -> None:
        """Continue from a snapshot: iteration 0's loss and the best iterate from its
        extra fields, the later validation losses from the history."""
        if "es_val0" not in extra:
            raise TrainingError("the snapshot holds no early-stopping state: resume without "
                                "<opt:early_stopping> changed? train without <opt:resume>")
        self.val_losses = [float(extra["es_val0"])] + [float(h.val_loss) for h in history]
        self.best_w = np.asarray(extra["es_best_w"])
        self.best_train_loss = float(extra["es_best_train_loss"])
        self.decision = early_stopping(self.val_losses, self.patience)

    @staticmethod
    def split_state(solver_dict: dict):
        """A resumed solver dict without the early-stopping fields, and those fields."""
        from mrlinreg.records import SolverState

        extra = {k: solver_dict.pop(k) for k in SolverState.EARLY_STOPPING_FIELDS
                 if k in solver_dict}
        return solver_dict, extra

    def observe(self, w, train_loss) -> float:
        """Measure the validation loss at the new iterate and decide; returns it."""
        v = self.val_loss(w)
        self.val_losses.append(v)
        self.decision = early_stopping(self.val_losses, self.patience)
        if self.decision.best == len(self.val_losses) - 1:
            self.best_w, self.best_train_loss = np.array(w, dtype=np.float64), float(train_loss)
        return v

    @property
    def stop(self) -> bool:
        return bool(self.decision.stop)

    def state_extra(self) -> dict:
        return {"es_val0": self.val_losses[0], "es_best_w": self.best_w,
                "es_best_train_loss": self.best_train_loss}

    def record(self, last_iteration) -> dict:
        """The model JSON's ``early_stopping``: the decision and what was kept."""
        best = self.decision.best
        return {"patience": self.patience, "min_delta": 0.0, "stopped": self.stop,
                "stop_iteration": None if not self.stop else int(self.decision.stop_at),
                "best_iteration": None if best is None else int(best),
                "best_val_loss": None if best is None else float(self.val_losses[best]),
                "kept_iteration": int(best) if self.stop else int(last_iteration),
                "kept": "best" if self.stop else "last",
                "val_loss_source": self.val_loss.source,
                "val_loss_passes": 1 if self.val_loss.R is not None else self.val_loss.calls}
