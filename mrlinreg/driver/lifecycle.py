"""A model's life around one training run: a snapshot per iteration, resume.

What a snapshot holds is split by how often it changes:

* **once per run** (``SnapshotStore.put_run``): the data context (row count,
  moments, scaling, the R factor), the options fingerprint, the solver name and
  ``run.format_version`` = 2;
* **per iteration** (``SnapshotStore.put``): the solver's whole state
  (``solver.*``: weights, loss, gradient and what the solver keeps beyond them)
  and that iteration's history entry (loss, gradient norm and step in the
  snapshot's scalars, ``run.elapsed_s``).

Resuming reads the run's context and rebuilds the history from the run's
snapshots, then restores the solver state bit for bit, so the resumed run
computes the same iterates as an uninterrupted one.  After the last iteration
the last snapshot is written once more with ``run.finished = 1``: a finished run
is a model version, not something to resume.

Each snapshot also carries ``run.passes``, the MapReduce passes of the run so far
(across resumes), and the run's context ``run.input_stamps``: each input file's
size and modification time when the run started (local files, and ``hdfs://``
files from their WebHDFS listing).  A resume refuses when
they changed (the context's moments would describe other data).  When the latest
snapshot is corrupt or its file was deleted, resume falls back to the newest
intact snapshot of the model (with a warning).

Snapshots written before this layout (format 1: every snapshot carried
``ctx.*``, ``run.fingerprint`` and the whole ``run.history``) are still resumed.
"""

from __future__ import annotations

import json
import logging
import os
from contextlib import nullcontext

from mrlinreg.driver.training import Resume
from mrlinreg.errors import RecordFormatError, ResumeError
from mrlinreg.fs import is_remote, local_path
from mrlinreg.records import DataContext, HistoryEntry, SolverState
from mrlinreg.storage.errors import InvalidRecordError, StorageError
from mrlinreg.storage.snapshot_format import Snapshot, utc_now

log = logging.getLogger(__name__)


def input_stamps(files, fs=None) -> dict:
    """``{path: [size, mtime]}`` of the input files.

    Local files: size and ``st_mtime_ns``.  ``hdfs://`` inputs (a file or a folder):
    length and modification time (ms) of each file under it, as the WebHDFS listing
    that found the inputs returned them (``fs.stamps``: no extra request, even for
    thousands of part files); inputs listed without WebHDFS are not stamped.
    """
    out = {}
    remote_stamps = getattr(fs, "stamps", None) or {}
    for path in files:
        if is_remote(path):
            folder = path.rstrip("/") + "/"
            out.update({uri: list(stamp) for uri, stamp in remote_stamps.items()
                        if uri == path or uri.startswith(folder)})
            continue
        try:
            st = os.stat(local_path(path))
        except OSError:
            out[path] = None
            continue
        out[path] = [st.st_size, st.st_mtime_ns]
    return out

RUN_FORMAT_VERSION = 2


class SnapshotWriter:
    """``TrainingRun.on_iteration``: the run's context once, then one snapshot per iteration.

    A snapshot that cannot be written (the store is down or times out) does not stop
    training: the iteration is remembered in :attr:`missing`, one warning says so (not
    one per iteration), and while the store keeps failing each write gets a single
    attempt (``store.single_attempt()``), so an outage costs each iteration at most one
    store timeout.  The next write that succeeds says that snapshots resumed; a run
    context that was not stored yet is stored then.  Every snapshot carries
    ``run.snapshots_missing`` (JSON), so a resumed run still reports the iterations an
    earlier session missed.  ``guard`` is called before each write: the model lock's
    ``ensure_held`` (it raises when the lock was lost, so nothing is written then).
    """

    def __init__(self, store, model_name, run_id, fingerprint, resumed=False, stamps=None,
                 passes=lambda: 0, warn=log.warning, guard=None, missing=()):
        self.store, self.model_name, self.run_id = store, model_name, run_id
        self.fp_json = json.dumps(fingerprint, sort_keys=True)
        self.stamps_json = json.dumps(stamps or {}, sort_keys=True)
        self.passes = passes  # the run's passes so far, earlier sessions included
        self.context_saved = resumed
        self.last = None
        self.warn, self.guard = warn, guard
        self.missing = [int(i) for i in missing]  # iterations without a snapshot
        self.failing = False   # the last write failed
        self.warned = False    # the one outage warning was given
        self.finish_failed = False

    def __call__(self, step, state: SolverState, context: DataContext, entry, finished=False):
        if self.guard is not None:
            self.guard()
        iteration = int(step.iteration)
        self.last = (step, state, context, entry)
        try:
            self._write(step, state, context, entry, finished)
        except (InvalidRecordError, RecordFormatError):
            raise  # a bad value is a bug to report, not an outage to ride out
        except Exception as exc:  # noqa: BLE001 - any store failure: training goes on
            if finished:
                self.finish_failed = True
            elif iteration not in self.missing:
                self.missing.append(iteration)
            if not self.warned:
                self.warned = True
                self.warn(f"the snapshot of iteration {iteration} could not be written "
                          f"({_describe(exc)}); training continues, snapshots are tried "
                          "again after each iteration, and the model lists the iterations "
                          "without one in snapshots_missing")
            self.failing = True
            return
        if self.failing:
            self.failing = False
            self.warn(f"snapshots resumed at iteration {iteration} (missing so far: "
                      f"{_ranges(self.missing)})")

    def _write(self, step, state, context, entry, finished):
        single = getattr(self.store, "single_attempt", None)
        with single() if (self.failing and single is not None) else nullcontext():
            if not self.context_saved:
                values = {f"ctx.{k}": v for k, v in context.to_values().items()}
                values.update({"run.fingerprint": self.fp_json, "run.solver": state.solver,
                               "run.format_version": RUN_FORMAT_VERSION,
                               "run.input_stamps": self.stamps_json})
                self.store.put_run(self.model_name, self.run_id, values)
                self.context_saved = True
            values = {f"solver.{k}": v for k, v in state.to_values().items()}
            values.update({"run.elapsed_s": None if entry is None else entry.elapsed_s,
                           "run.finished": int(finished), "run.passes": int(self.passes()),
                           "run.snapshots_missing": json.dumps(self.missing)})
            if entry is not None and entry.val_loss is not None:  # --early-stopping
                values["run.val_loss"] = float(entry.val_loss)
            self.store.put(Snapshot(model_name=self.model_name, run_id=self.run_id,
                                    iteration=int(step.iteration), weights=state.w,
                                    loss=float(step.loss), grad_norm=float(step.grad_norm),
                                    step=float(step.step), solver_state=values,
                                    created_at=utc_now()))

    def finish(self):
        """Mark the run finished (re-put its last snapshot)."""
        if self.last is not None:
            self(*self.last, finished=True)

    def notes(self):
        """Warnings for the model record about snapshots that were not written."""
        out = []
        if self.missing:
            out.append(f"no snapshot was written for iterations {_ranges(self.missing)} "
                       "(the snapshot store was unreachable); a resume starts from the "
                       "newest snapshot that was")
        if self.finish_failed:
            out.append("the run could not be marked finished in the snapshot store: "
                       "<opt:resume> would continue it (from its last snapshot, to the "
                       "same model)")
        return out


def _describe(exc):
    text = str(exc).strip() or type(exc).__name__
    return text if isinstance(exc, StorageError) else f"{type(exc).__name__}: {text}"


def _ranges(iterations):
    """``[1, 2, 3, 7]`` as ``"1-3, 7"``."""
    out, run = [], []
    for i in sorted(set(iterations)):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [i]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(out) or "none"


def latest_intact(store, model_name, warn=log.warning):
    """The model's latest snapshot; when it is corrupt, or the latest pointer names a
    deleted file, the newest intact one (the store's ``latest_intact``)."""
    problem = None
    try:
        snap = store.latest(model_name)
    except StorageError as e:
        snap, problem = None, str(e)
    if snap is not None:
        return snap
    fallback = getattr(store, "latest_intact", None)
    snap = fallback(model_name) if fallback is not None else None
    if snap is not None:
        warn(f"the latest snapshot of model {model_name!r} is "
             f"{'unreadable (' + problem + ')' if problem else 'missing'}; resuming from "
             f"the newest intact one, run {snap.run_id} iteration {snap.iteration}")
    elif problem:
        raise ResumeError(f"cannot resume model {model_name!r}: {problem}, and no earlier "
                          "snapshot is intact; train without <opt:resume>")
    return snap


def load_resume(store, model_name, fingerprint, stamps=None, warn=log.warning) -> Resume:
    """Rebuild the state of the model's last, unfinished run from its snapshots."""
    snap = latest_intact(store, model_name, warn)
    if snap is None:
        raise ResumeError(f"nothing to resume: model {model_name!r} has no snapshots; "
                          "train without <opt:resume>")
    st = snap.solver_state
    if st.get("run.finished"):
        raise ResumeError(f"nothing to resume: the last run of model {model_name!r} "
                          f"({snap.run_id}) finished at iteration {snap.iteration}; "
                          "train without <opt:resume> to start a new run")
    if "run.fingerprint" in st:  # format 1: everything in every snapshot
        run, history = st, [HistoryEntry.from_json(h) for h in json.loads(st["run.history"])]
        state = SolverState.from_solver_dict(
            st["run.solver"], {k[len("solver."):]: v for k, v in st.items()
                               if k.startswith("solver.")})
    else:
        run = store.get_run(model_name, snap.run_id)
        if run is None:
            raise ResumeError(f"cannot resume run {snap.run_id} of model {model_name!r}: its "
                              "context (stored once per run) is missing; train without "
                              "<opt:resume>")
        history = [HistoryEntry(s.iteration, s.loss, s.grad_norm, s.step,
                                s.solver_state.get("run.elapsed_s"),
                                s.solver_state.get("run.val_loss"))
                   for s in _history(store, model_name, snap.run_id)
                   if 1 <= s.iteration <= snap.iteration]
        state = SolverState.from_values(snap.weights, {
            k[len("solver."):]: v for k, v in st.items() if k.startswith("solver.")})
    _check_fingerprint(json.loads(run["run.fingerprint"]), fingerprint, snap.run_id, model_name)
    if stamps is not None and "run.input_stamps" in run:
        _check_stamps(json.loads(run["run.input_stamps"]), stamps, snap.run_id, model_name)
    context = DataContext.from_values({k[len("ctx."):]: v for k, v in run.items()
                                       if k.startswith("ctx.")})
    return Resume(run_id=snap.run_id, context=context, solver_state=state, history=history,
                  passes=int(st.get("run.passes", 0) or 0),
                  snapshots_missing=tuple(json.loads(st.get("run.snapshots_missing") or "[]")))


def _history(store, model_name, run_id):
    try:
        return store.history(model_name, run_id, skip_corrupt=True)
    except TypeError:  # a store without the option
        return store.history(model_name, run_id)


def _check_stamps(stored, now, run_id, model_name):
    # hdfs:// files are stamped from a WebHDFS listing: when one side had none (a run of
    # an earlier version, or a listing through `hadoop fs`), they cannot be compared
    if not any(is_remote(p) for p in stored) or not any(is_remote(p) for p in now):
        stored = {p: v for p, v in stored.items() if not is_remote(p)}
        now = {p: v for p, v in now.items() if not is_remote(p)}
    changed = sorted(p for p in set(stored) | set(now) if stored.get(p) != now.get(p))
    if changed:
        def why(p):
            if p not in now or now[p] is None:
                return "gone"
            if p not in stored or stored[p] is None:
                return "new"
            return "size or modification time differs"
        shown = ", ".join(f"{p} ({why(p)})" for p in changed[:5]) + (
            f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        raise ResumeError(f"cannot resume run {run_id} of model {model_name!r}: the input "
                          f"changed since the run started: {shown}; its statistics describe "
                          "the old data. Train without <opt:resume>")


def _check_fingerprint(stored, fp, run_id, model_name):
    diff = sorted(k for k in set(stored) | set(fp) if stored.get(k) != fp.get(k))
    if diff:
        detail = ", ".join(f"{k}: was {stored.get(k)!r}, now {fp.get(k)!r}" for k in diff)
        raise ResumeError(f"cannot resume run {run_id} of model {model_name!r} with "
                          f"different options ({detail})")
