"""Snapshots per iteration, resume after SIGKILL, one trainer per model, publishing (local defaults)."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from mrlinreg.datagen import make_regression, write_csv
from tests.functional.helpers import LINREG, ROOT, run_inline, start_trainer, wait_for_iteration

SLOW = ["--strategy", "passes", "--no-standardize", "--max-iter", "40", "--tol", "1e-14"]


@pytest.fixture()
def slow_data(tmp_path):
    # raw features at different scales: gradient descent crawls, one pass per iteration
    X, y, _, _ = make_regression(400, 3, seed=31, scales=[1, 5, 20])
    path = tmp_path / "slow.csv"
    write_csv(str(path), X, y)
    return str(path)


def _env(tmp_path):
    return dict(os.environ, MRLINREG_MODE="local", MRLINREG_STATE_DIR=str(tmp_path / "state"))


def _snapshots(tmp_path, model):
    from mrlinreg.config import load_config
    from mrlinreg.storage.factory import open_snapshot_store

    os.environ["MRLINREG_STATE_DIR"] = str(tmp_path / "state")
    with open_snapshot_store(load_config()) as store:
        return store.history(model)


def test_one_snapshot_per_iteration(slow_data, tmp_path):
    code, rec, err = run_inline(["--model-name", "snap", *SLOW, "--max-iter", "7", slow_data])
    assert code == 0, err
    snaps = _snapshots(tmp_path, "snap")
    assert [s.iteration for s in snaps] == list(range(0, 8))
    assert {s.run_id for s in snaps} == {rec["run_id"]}
    assert snaps[-1].solver_state["run.finished"] == 1
    for s, h in zip(snaps[1:], rec["history"]):
        assert s.loss == h["loss"] and s.step == h["step"]
    np.testing.assert_array_equal(snaps[-1].weights, rec["working_weights"])


def test_sigkill_then_resume_gives_the_uninterrupted_model(slow_data, tmp_path):
    env = _env(tmp_path)
    full = subprocess.run([sys.executable, LINREG, "--model-name", "ref", *SLOW, slow_data],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    assert full.returncode == 0, full.stderr
    ref = json.loads(full.stdout)

    proc = start_trainer(["--model-name", "killed", *SLOW, slow_data], env)
    wait_for_iteration(proc, 12)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    done_before = max(s.iteration for s in _snapshots(tmp_path, "killed"))
    assert 12 <= done_before < 40

    resumed = subprocess.run([sys.executable, LINREG, "--model-name", "killed", "--resume",
                              *SLOW, slow_data], capture_output=True, text=True, env=env,
                             cwd=ROOT)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming run" in resumed.stderr
    rec = json.loads(resumed.stdout)
    assert rec["iterations"] == ref["iterations"] == 40
    assert [h["loss"] for h in rec["history"]] == pytest.approx(
        [h["loss"] for h in ref["history"]], rel=1e-12)
    for f in ref["features"]:
        assert rec["coefficients"][f] == pytest.approx(ref["coefficients"][f], rel=1e-12)
    assert rec["intercept"] == pytest.approx(ref["intercept"], rel=1e-12)
    snaps = _snapshots(tmp_path, "killed")
    assert [s.iteration for s in snaps] == list(range(0, 41))  # one run, nothing repeated


def test_resume_refuses_finished_runs_and_changed_options(slow_data, tmp_path):
    code, _, err = run_inline(["--model-name", "fin", *SLOW, "--max-iter", "3", slow_data])
    assert code == 0, err
    code, _, err = run_inline(["--model-name", "fin", "--resume", *SLOW, slow_data])
    assert code == 2 and "nothing to resume" in err and "finished" in err
    code, _, err = run_inline(["--model-name", "never", "--resume", *SLOW, slow_data])
    assert code == 2 and "no snapshots" in err


def test_second_trainer_of_a_model_is_refused_then_waits(slow_data, tmp_path):
    env = _env(tmp_path)
    first = start_trainer(["--model-name", "busy", *SLOW, slow_data], env)
    try:
        wait_for_iteration(first, 1)
        t = time.monotonic()
        second = subprocess.run([sys.executable, LINREG, "--model-name", "busy", *SLOW,
                                 slow_data], capture_output=True, text=True, env=env, cwd=ROOT)
        assert second.returncode == 1 and second.stdout == ""
        assert "model 'busy' is locked" in second.stderr and "--wait" in second.stderr
        assert time.monotonic() - t < 30  # fails fast
        waiting = subprocess.run([sys.executable, LINREG, "--model-name", "busy", "--wait",
                                  *SLOW, "--max-iter", "2", slow_data], capture_output=True,
                                 text=True, env=env, cwd=ROOT)
        assert first.poll() is not None  # it only got the lock once the first was done
        assert waiting.returncode == 0, waiting.stderr
    finally:
        first.kill()
        first.wait()


def test_publish_to_local_warehouse_and_replace(tmp_path):
    X, y, _, _ = make_regression(300, 2, seed=32)
    path = tmp_path / "d.csv"
    write_csv(str(path), X, y)
    code, rec, err = run_inline(["--model-name", "pub", "--solver", "qr", "--summary",
                                 "--publish", str(path)])
    assert code == 0, err
    from mrlinreg.config import load_config
    from mrlinreg.storage.factory import open_results_store

    with open_results_store(load_config()) as store:
        models = store.read_table("models").to_pylist()
        coefs = store.read_table("coefficients", run_id=rec["run_id"]).to_pylist()
    assert [m["run_id"] for m in models] == [rec["run_id"]]
    assert {c["feature"]: c["value"] for c in coefs} == {
        **rec["coefficients"], "intercept": rec["intercept"]}
    assert all(c["std_err"] is not None for c in coefs)


def test_unreachable_warehouse_keeps_the_model_in_the_outbox(tmp_path, monkeypatch):
    X, y, _, _ = make_regression(200, 2, seed=33)
    path = tmp_path / "d.csv"
    write_csv(str(path), X, y)
    state = tmp_path / "state"
    monkeypatch.setenv("MRLINREG_HIVE_PORT", "9")  # nothing listens there
    monkeypatch.setenv("MRLINREG_RETRY_ATTEMPTS", "2")
    monkeypatch.setenv("MRLINREG_RETRY_BASE_DELAY_S", "0.01")
    from mrlinreg.config import load_config
    from mrlinreg.driver.publish import publish_run
    from mrlinreg.records import ModelRecord

    code, rec, err = run_inline(["--model-name", "out", "--solver", "qr", str(path)])
    assert code == 0, err
    outcome = publish_run(ModelRecord.from_json(rec), load_config().replace(mode="cluster"))
    assert not outcome.published and "mrlinreg publish" in outcome.message
    saved = json.loads((state / "outbox" / f"{rec['run_id']}.json").read_text())
    assert saved == rec


def test_pipeline_command_ingests_trains_publishes_and_predicts(tmp_path):
    from mrlinreg.cli.main import command

    X, y, _, _ = make_regression(500, 2, seed=34)
    src = tmp_path / "incoming"
    src.mkdir()
    write_csv(str(src / "a.csv"), X[:250], y[:250])
    write_csv(str(src / "b.csv"), X[250:], y[250:])
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = command(["pipeline", "--upload-to", str(tmp_path / "lake"), "--predict",
                        str(src / "b.csv"), "--model-name", "pipe", "--solver", "qr",
                        "--summary-mae", str(src)])  # MAE: one more pass, asked for
    assert code == 0, err.getvalue()
    assert (tmp_path / "lake" / "incoming" / "a.csv").exists()
    rec = json.loads(out.getvalue())
    assert rec["summary"] is not None and rec["n_rows"] == 500 and rec["passes"] == 2
    from mrlinreg.config import load_config
    from mrlinreg.storage.factory import open_results_store, open_snapshot_store

    with open_results_store(load_config()) as store:
        assert store.read_table("models", run_id=rec["run_id"]).num_rows == 1
        assert store.read_table("predictions", run_id=rec["run_id"]).num_rows == 250
        metrics = {m["name"]: m["value"] for m in store.read_table("metrics").to_pylist()}
    assert metrics["mae"] == pytest.approx(rec["metrics"]["mae"])
    with open_snapshot_store(load_config()) as snaps:
        assert snaps.latest("pipe").run_id == rec["run_id"]
