"""A model's life around one training run: snapshots after every iteration, resume.

Each snapshot carries everything a killed run needs to go on exactly where it
stopped: the solver's whole state (``solver.*``), what the first passes learnt
about the data (``ctx.*``: row count, moments, scaling, R factor), the history
so far and a fingerprint of the options that shape the iterates
(``run.*``).  Resuming restores them bit for bit, so the resumed run computes
the same iterates as an uninterrupted one.  After the last iteration the
snapshot is written once more with ``run.finished = 1``: a finished run is a
model version, not something to resume.
"""

from __future__ import annotations

import json

import numpy as np

from mrlinreg.storage.snapshot_format import Snapshot, utc_now
from pipelines.train import DataContext, Resume

# options that change the iterates: a resume must use the same ones
FINGERPRINT_OPTIONS = ("solver", "strategy", "learning_rate", "line_search", "tol",
                       "fit_intercept", "standardize", "on_bad_row", "delimiter", "l2")


class ResumeError(ValueError):
    """``--resume`` cannot continue: nothing to resume, or the options differ."""


def fingerprint(opts, features, label, inputs) -> dict:
    fp = {k: getattr(opts, k) for k in FINGERPRINT_OPTIONS}
    fp.update(features=list(features), label=label, inputs=list(inputs))
    return fp


def _plain(v):
    if isinstance(v, np.ndarray):
        return np.asarray(v, dtype=np.float64)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    return v


class SnapshotWriter:
    """``Hooks.on_iteration``: put one snapshot per iteration into a SnapshotStore."""

    def __init__(self, store, model_name, run_id, fp):
        self.store, self.model_name, self.run_id = store, model_name, run_id
        self.fp_json = json.dumps(fp, sort_keys=True)
        self.last = None

    def __call__(self, step, solver, ctx: DataContext, history, finished=False):
        state = {f"solver.{k}": _plain(v) for k, v in solver.state.items()}
        state.update({
            "ctx.n": int(ctx.n), "ctx.mean": ctx.mean, "ctx.m2": ctx.m2,
            "ctx.bad_rows": json.dumps(ctx.bad_rows, sort_keys=True),
            "ctx.shift": ctx.shift, "ctx.scale": ctx.scale, "ctx.strategy": ctx.strategy,
            "ctx.R": ctx.R, "run.solver": solver.name, "run.fingerprint": self.fp_json,
            "run.history": json.dumps(history), "run.finished": int(finished),
        })
        snap = Snapshot(model_name=self.model_name, run_id=self.run_id,
                        iteration=int(step.iteration), weights=solver.state["w"],
                        loss=float(step.loss), grad_norm=float(step.grad_norm),
                        step=float(step.step), solver_state=state, created_at=utc_now())
        self.store.put(snap)
        self.last = (step, solver, ctx, history)

    def finish(self):
        """Mark the run finished (re-put its last snapshot)."""
        if self.last is not None:
            self(*self.last, finished=True)


def load_resume(store, model_name, fp) -> Resume:
    """Rebuild the state of the model's last, unfinished run from its latest snapshot."""
    snap = store.latest(model_name)
    if snap is None:
        raise ResumeError(f"nothing to resume: model {model_name!r} has no snapshots; "
                          "train without --resume")
    st = snap.solver_state
    if st.get("run.finished"):
        raise ResumeError(f"nothing to resume: the last run of model {model_name!r} "
                          f"({snap.run_id}) finished at iteration {snap.iteration}; "
                          "train without --resume to start a new run")
    stored = json.loads(st["run.fingerprint"])
    diff = sorted(k for k in set(stored) | set(fp) if stored.get(k) != fp.get(k))
    if diff:
        detail = ", ".join(f"{k}: was {stored.get(k)!r}, now {fp.get(k)!r}" for k in diff)
        raise ResumeError(f"cannot resume run {snap.run_id} of model {model_name!r} with "
                          f"different options ({detail})")
    ctx = DataContext(n=int(st["ctx.n"]), mean=st["ctx.mean"], m2=st["ctx.m2"],
                      bad_rows=json.loads(st["ctx.bad_rows"]), shift=st["ctx.shift"],
                      scale=st["ctx.scale"], strategy=st["ctx.strategy"], R=st.get("ctx.R"))
    solver_state = {k[len("solver."):]: v for k, v in st.items() if k.startswith("solver.")}
    return Resume(run_id=snap.run_id, context=ctx, solver_state=solver_state,
                  history=json.loads(st["run.history"]))
