"""Issue 9, lifecycle: resume falls back past a corrupt or deleted latest snapshot, refuses
changed input, and the record counts every pass of the run across resumes."""

import numpy as np
import pytest

from mrlinreg.datagen import make_regression, write_csv
from mrlinreg.driver import lifecycle
from tests.functional.helpers import run_inline

SLOW = ["--strategy", "passes", "--no-standardize", "--tol", "1e-14"]


@pytest.fixture()
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("MRLINREG_MODE", "local")
    monkeypatch.setenv("MRLINREG_STATE_DIR", str(tmp_path / "state"))
    X, y, _, _ = make_regression(300, 3, seed=31, scales=[1, 5, 20])
    path = tmp_path / "slow.csv"
    write_csv(str(path), X, y)
    return tmp_path, str(path)


def _stopped_run(monkeypatch, model, data, iterations):
    """A run that stopped after ``iterations`` (its last snapshot never marked finished)."""
    with monkeypatch.context() as m:
        m.setattr(lifecycle.SnapshotWriter, "finish", lambda self: None)
        code, rec, err = run_inline(["--model-name", model, *SLOW, "--max-iter",
                                     str(iterations), data])
    assert code == 0, err
    return rec


def _run_dir(tmp_path, model):
    (run,) = [p for p in (tmp_path / "state" / "snapshots" / model).iterdir() if p.is_dir()]
    return run


def test_passes_are_counted_across_resumes(env, monkeypatch):
    tmp_path, data = env
    code, ref, err = run_inline(["--model-name", "ref", *SLOW, "--max-iter", "8", data])
    assert code == 0, err
    first = _stopped_run(monkeypatch, "m", data, 5)
    code, rec, err = run_inline(["--model-name", "m", *SLOW, "--max-iter", "8", "--resume",
                                 data])
    assert code == 0, err
    # the stopped session made every pass but the last three iterations'
    assert first["passes"] == ref["passes"] - 3
    assert rec["passes"] == ref["passes"]  # before: 3, the resumed session's own


@pytest.mark.parametrize("damage", ["corrupt", "delete"])
def test_resume_falls_back_to_the_newest_intact_snapshot(env, monkeypatch, damage):
    tmp_path, data = env
    code, ref, err = run_inline(["--model-name", "ref", *SLOW, "--max-iter", "8", data])
    assert code == 0, err
    _stopped_run(monkeypatch, "m", data, 5)
    last = _run_dir(tmp_path, "m") / f"{5:010d}.snap"
    if damage == "corrupt":
        raw = bytearray(last.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        last.write_bytes(bytes(raw))
    else:
        last.unlink()  # LATEST still names it
    code, rec, err = run_inline(["--model-name", "m", *SLOW, "--max-iter", "8", "--resume",
                                 data])
    assert code == 0, err
    assert "resuming from the newest intact one" in err and "iteration 4" in err
    assert rec["iterations"] == 8
    np.testing.assert_allclose(rec["working_weights"], ref["working_weights"], rtol=1e-12)
    assert [h["loss"] for h in rec["history"]] == pytest.approx(
        [h["loss"] for h in ref["history"]], rel=1e-12)


def test_resume_refuses_input_that_changed_since_the_run_started(env, monkeypatch):
    tmp_path, data = env
    _stopped_run(monkeypatch, "m", data, 3)
    with open(data, "a") as f:
        f.write("1,2,3,4\n")
    code, rec, err = run_inline(["--model-name", "m", *SLOW, "--max-iter", "8", "--resume",
                                 data])
    assert code == 2 and rec is None
    assert "the input changed since the run started" in err and "slow.csv" in err
