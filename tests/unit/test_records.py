"""Typed records: JSON round trips, models written by the previous version, snapshots of
both layouts, a large R factor split into cells HBase accepts."""

import json

import numpy as np
import pytest

from mrlinreg.driver.lifecycle import SnapshotWriter, load_resume
from mrlinreg.errors import RecordFormatError, ResumeError
from mrlinreg.numerics.solvers import Step
from mrlinreg.records import (FORMAT_VERSION, DataContext, HistoryEntry, ModelRecord,
                              SolverState)
from mrlinreg.storage.local_snapshots import LocalSnapshotStore
from mrlinreg.storage.snapshot_format import (CHUNK_BYTES, Snapshot, decode_run_cells,
                                              encode_run_cells)

#: A model JSON as version 1 (before typed records) wrote it: no format_version,
#: the summary's per-coefficient statistics with ``t``.
V1_MODEL = {
    "run_id": "20261129T231500Z-abc123", "model_name": "demo",
    "created_at": "2026-11-29T23:15:00.000000Z", "options": {"solver": "qr", "max_iter": 200},
    "solver": "qr", "strategy": "stats", "label": "y", "features": ["x0", "x1"],
    "coefficients": {"x0": 1.5, "x1": -2.0}, "intercept": 0.5, "iterations": 1,
    "converged": True, "loss": 0.25, "n_rows": 100, "bad_rows": 1,
    "bad_row_reasons": {"blank": 1}, "passes": 2,
    "history": [{"iteration": 1, "loss": 0.25, "grad_norm": 0.0, "step": 1.0,
                 "elapsed_s": 0.5}],
    "metrics": {"mse": 0.25, "rmse": 0.5, "r2": 0.9},
    "scaling": {"standardize": True, "fit_intercept": True, "shift": [0.1, 0.2],
                "scale": [1.0, 2.0]},
    "working_weights": [1.5, -4.0, 0.6], "warnings": [],
    "summary": {"rsquared": 0.9, "nobs": 100,
                "coefficients": {"x0": {"std_err": 0.1, "t": 15.0, "p_value": 0.0,
                                        "ci_low": 1.3, "ci_high": 1.7}}},
}


def test_a_version_1_model_loads_and_round_trips():
    rec = ModelRecord.from_json(V1_MODEL)
    assert rec.format_version == FORMAT_VERSION  # upgraded on load
    assert rec.summary.coefficients["x0"].t == 15.0
    assert rec.history[0] == HistoryEntry(1, 0.25, 0.0, 1.0, 0.5)
    out = rec.to_json()
    assert out["format_version"] == FORMAT_VERSION
    assert {k: v for k, v in out.items() if k != "format_version"} == V1_MODEL
    assert ModelRecord.from_json(json.loads(json.dumps(out))) == rec


def test_the_old_t_stat_name_is_read_as_t():
    d = json.loads(json.dumps(V1_MODEL))
    d["summary"]["coefficients"]["x0"] = {"t_stat": 7.0}
    assert ModelRecord.from_json(d).summary.coefficients["x0"].t == 7.0


def test_a_newer_format_is_refused_by_name():
    with pytest.raises(RecordFormatError, match="format_version 3 is not supported"):
        ModelRecord.from_json({**V1_MODEL, "format_version": 3})


def test_missing_fields_are_named():
    with pytest.raises(RecordFormatError, match="has no 'coefficients'"):
        ModelRecord.from_json({k: v for k, v in V1_MODEL.items() if k != "coefficients"})


def test_non_finite_numbers_never_leave_a_record():
    rec = ModelRecord.from_json(V1_MODEL)
    rec.metrics["mse"] = float("nan")
    with pytest.raises(ValueError, match="non-finite number in model.metrics.mse"):
        rec.to_json()


def _context(p=3, R=None):
    rng = np.random.default_rng(0)
    return DataContext(n=100, mean=rng.standard_normal(p), m2=rng.random(p) + 1,
                       bad_rows={"blank": 2}, shift=rng.standard_normal(p - 1),
                       scale=rng.random(p - 1) + 1, strategy="passes", R=R)


def test_a_large_r_factor_is_split_into_cells_under_the_limit():
    R = np.triu(np.random.default_rng(1).standard_normal((800, 800)))  # 5.1 MB
    values = {f"ctx.{k}": v for k, v in _context(R=R).to_values().items()}
    cells = encode_run_cells("m", "r1", values)
    assert max(len(v) for v in cells.values()) <= CHUNK_BYTES
    assert sum(k.startswith(b"s:ctx.R~") for k in cells) == 2
    back = decode_run_cells(cells)
    assert back["ctx.R"].tobytes() == R.tobytes()
    ctx = DataContext.from_values({k[4:]: v for k, v in back.items()})
    assert ctx.bad_rows == {"blank": 2} and ctx.n == 100


def test_the_run_context_is_stored_once_and_resume_rebuilds_the_history(tmp_path):
    store = LocalSnapshotStore(tmp_path)
    ctx = _context(R=np.eye(3))
    fp = {"solver": "gd", "inputs": ["a.csv"]}
    writer = SnapshotWriter(store, "m", "run1", fp)
    for it in range(4):
        state = SolverState("gd", np.full(3, float(it)), 1.0 / (it + 1), np.ones(3), 2.0, it,
                            None if it == 0 else 1.0 / it, {"t": 0.5})
        entry = None if it == 0 else HistoryEntry(it, 1.0 / (it + 1), 1.0, 0.5, 0.1 * it)
        writer(Step(it, 1.0 / (it + 1), 1.0, 0.5, 1), state, ctx, entry)
    snaps = store.history("m", "run1")
    assert all(not any(k.startswith(("ctx.", "run.fingerprint", "run.history"))
                       for k in s.solver_state) for s in snaps)  # nothing repeated
    resume = load_resume(store, "m", fp)
    assert resume.run_id == "run1" and resume.solver_state.iteration == 3
    assert resume.solver_state.extra == {"t": 0.5}
    assert resume.solver_state.w.tobytes() == np.full(3, 3.0).tobytes()
    assert [h.iteration for h in resume.history] == [1, 2, 3]
    assert resume.history[2].elapsed_s == pytest.approx(0.3)
    assert resume.context.R.tobytes() == np.eye(3).tobytes()
    with pytest.raises(ResumeError, match="different options"):
        load_resume(store, "m", {**fp, "solver": "cg"})
    writer.finish()
    with pytest.raises(ResumeError, match="finished"):
        load_resume(store, "m", fp)


def test_snapshots_of_the_previous_layout_still_resume(tmp_path):
    """Format 1 put ctx.*, run.fingerprint and the whole run.history in every snapshot."""
    store = LocalSnapshotStore(tmp_path)
    ctx = _context()
    fp = {"solver": "cg", "inputs": ["a.csv"]}
    w = np.array([0.5, -1.0, 2.0])
    state = {"solver.w": w, "solver.loss": 0.5, "solver.g": np.ones(3), "solver.g0_norm": 3.0,
             "solver.iteration": 2, "solver.prev_loss": 0.75, "solver.r": np.ones(3),
             "solver.dir": np.ones(3) * 2,
             "ctx.n": 100, "ctx.mean": ctx.mean, "ctx.m2": ctx.m2,
             "ctx.bad_rows": json.dumps(ctx.bad_rows), "ctx.shift": ctx.shift,
             "ctx.scale": ctx.scale, "ctx.strategy": "passes", "ctx.R": None,
             "run.solver": "cg", "run.fingerprint": json.dumps(fp, sort_keys=True),
             "run.history": json.dumps([{"iteration": 1, "loss": 0.75, "grad_norm": 1.0,
                                         "step": 0.1, "elapsed_s": 0.2},
                                        {"iteration": 2, "loss": 0.5, "grad_norm": 0.5,
                                         "step": 0.1, "elapsed_s": 0.4}]),
             "run.finished": 0}
    store.put(Snapshot("m", "old", 2, w, 0.5, 0.5, 0.1, state))
    resume = load_resume(store, "m", fp)
    assert resume.solver_state.solver == "cg" and resume.solver_state.iteration == 2
    assert set(resume.solver_state.extra) == {"r", "dir"}
    assert [h.loss for h in resume.history] == [0.75, 0.5]
    assert resume.context.mean.tobytes() == ctx.mean.tobytes() and resume.context.R is None
