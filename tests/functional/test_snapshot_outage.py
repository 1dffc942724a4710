"""Issue 9: a snapshot store that fails during training does not fail the training.

The store is made to fail for some iterations (as HBase does while its region server is
down; the real outage is ``tests/integration/test_faults_cluster.py``): the model is the
undisturbed one bit for bit, one warning says so, snapshots resume, the record lists the
missing iterations, and a resume after a later stop starts from the newest snapshot
written and still reports them.
"""

import json

import pytest

from mrlinreg.datagen import make_regression, write_csv
from mrlinreg.driver import lifecycle
from mrlinreg.storage.errors import StorageUnavailableError
from mrlinreg.storage.local_snapshots import LocalSnapshotStore
from tests.functional.helpers import run_inline

SLOW = ["--strategy", "passes", "--no-standardize", "--tol", "1e-14", "--max-iter", "10"]
DOWN = {3, 4, 5}


@pytest.fixture()
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("MRLINREG_MODE", "local")
    monkeypatch.setenv("MRLINREG_STATE_DIR", str(tmp_path / "state"))
    X, y, _, _ = make_regression(300, 3, seed=32, scales=[1, 5, 20])
    path = tmp_path / "slow.csv"
    write_csv(str(path), X, y)
    return tmp_path, str(path)


@pytest.fixture()
def outage(monkeypatch):
    """Snapshot writes of model "m" at the iterations in DOWN fail as an unreachable
    HBase does (the reference model "ref" is undisturbed)."""
    put = LocalSnapshotStore.put
    attempts = []

    def failing_put(self, snapshot):
        if snapshot.model_name != "m":
            return put(self, snapshot)
        attempts.append(snapshot.iteration)
        if snapshot.iteration in DOWN:
            raise StorageUnavailableError("HBase", "127.0.0.1:9090", 1, "TTransportException")
        return put(self, snapshot)

    monkeypatch.setattr(LocalSnapshotStore, "put", failing_put)
    return attempts


def _iterations_stored(tmp_path, model):
    store = LocalSnapshotStore(tmp_path / "state" / "snapshots")
    return sorted({s.iteration for s in store.history(model)})


def test_training_goes_on_and_lists_the_missing_snapshots(env, outage):
    tmp_path, data = env
    code, ref, err = run_inline(["--model-name", "ref", *SLOW, data])
    assert code == 0, err
    assert "snapshots_missing" not in ref
    code, rec, err = run_inline(["--model-name", "m", *SLOW, data])
    assert code == 0, err
    for key in ("coefficients", "intercept", "loss", "working_weights", "iterations"):
        assert rec[key] == ref[key], key  # bit for bit: the outage changes no number
    assert rec["snapshots_missing"] == [3, 4, 5]
    assert err.count("could not be written") == 1, err  # one warning, not one per iteration
    assert "snapshot of iteration 3 could not be written (HBase at 127.0.0.1:9090" in err
    assert "snapshots resumed at iteration 6 (missing so far: 3-5)" in err
    assert any("no snapshot was written for iterations 3-5" in w for w in rec["warnings"])
    stored = _iterations_stored(tmp_path, "m")
    assert stored == [i for i in range(rec["iterations"] + 1) if i not in DOWN]
    assert [i for i in outage if i in DOWN] == [3, 4, 5]  # tried again at each iteration


def test_resume_after_a_later_stop_starts_at_the_newest_snapshot(env, outage, monkeypatch):
    tmp_path, data = env
    code, ref, err = run_inline(["--model-name", "ref", *SLOW, data])
    assert code == 0, err
    with monkeypatch.context() as m:  # stopped after iteration 7 (never marked finished)
        m.setattr(lifecycle.SnapshotWriter, "finish", lambda self: None)
        code, first, err = run_inline(["--model-name", "m", *SLOW[:-1], "7", data])
    assert code == 0, err
    assert first["snapshots_missing"] == [3, 4, 5]
    code, rec, err = run_inline(["--model-name", "m", *SLOW, "--resume", data])
    assert code == 0, err
    assert "resuming run" in err and "after iteration 7" in err
    for key in ("coefficients", "intercept", "loss", "working_weights", "iterations"):
        assert rec[key] == ref[key], key
    assert rec["run_id"] == first["run_id"]
    assert rec["snapshots_missing"] == [3, 4, 5]  # the earlier session's, carried over
    # the history is rebuilt from the snapshots: the missing iterations are not in it
    assert [h["iteration"] for h in rec["history"]] == [i for i in range(1, 11)
                                                         if i not in DOWN]


def test_a_run_whose_store_never_answers_still_trains(env, monkeypatch):
    tmp_path, data = env

    def down(self, *args):
        raise OSError("connection refused")

    monkeypatch.setattr(LocalSnapshotStore, "put", down)
    monkeypatch.setattr(LocalSnapshotStore, "put_run", down)
    code, rec, err = run_inline(["--model-name", "m", *SLOW, data])
    assert code == 0, err
    assert rec["snapshots_missing"] == list(range(0, rec["iterations"] + 1))
    assert "OSError: connection refused" in err and err.count("could not be written") == 1
    assert any("marked finished" in w for w in rec["warnings"])
    json.dumps(rec)
