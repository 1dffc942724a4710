"""HBaseSnapshotStore against the HBase Thrift server of `python -m mrlinreg.cluster up`.

Fails (never skips) when HBase cannot be reached. Uses fresh model names and
deletes them afterwards.
"""

import uuid

import numpy as np
import pytest

from mrlinreg.config import load_config
from mrlinreg.storage.hbase_snapshots import HBaseSnapshotStore
from mrlinreg.storage.snapshot_format import Snapshot

pytestmark = pytest.mark.integration


@pytest.fixture
def store():
    config = load_config()
    config = config.replace(mode="cluster",
                            retry=type(config.retry)(attempts=2, base_delay_s=1, max_delay_s=1))
    return HBaseSnapshotStore.from_config(config)


@pytest.fixture
def model(store):
    name = f"it-{uuid.uuid4().hex[:10]}"
    yield name
    store.delete_model(name)


def snap(model, run_id, iteration, **kw):
    rng = np.random.default_rng(iteration)
    weights = np.concatenate([[0.1, -0.0, 5e-324, 1.7976931348623157e308],
                              rng.standard_normal(20)])
    return Snapshot(model, run_id, iteration, weights, loss=1 / (iteration + 3), **kw)


def test_round_trip_is_exact(store, model):
    state = {"memory": np.random.default_rng(1).standard_normal((4, 24)), "lr": 1 / 3,
             "k": 7, "phase": "line-search", "prev": None}
    original = snap(model, "20261129T231500Z-a", 3, grad_norm=1e-17, solver_state=state)
    with store:
        store.put(original)
        back = store.latest(model)
    assert back == original
    assert back.weights.tobytes() == original.weights.tobytes()
    assert back.solver_state["memory"].tobytes() == state["memory"].tobytes()


def test_history_order_and_latest(store, model):
    with store:
        for run_id, iteration in [("20261129T231500Z-a", 9), ("20261129T231500Z-a", 10),
                                  ("20261129T231500Z-a", 1), ("20261130T000000Z-b", 0)]:
            store.put(snap(model, run_id, iteration))
        other = f"{model}x"
        store.put(snap(other, "20261129T231500Z-a", 1))  # shares a prefix, not the model
        try:
            assert [s.key[1:] for s in store.history(model)] == [
                ("20261129T231500Z-a", 1), ("20261129T231500Z-a", 9),
                ("20261129T231500Z-a", 10), ("20261130T000000Z-b", 0)]
            assert [s.iteration for s in store.history(model, "20261129T231500Z-a")] == \
                [1, 9, 10]
            assert store.latest(model).key == (model, "20261130T000000Z-b", 0)
        finally:
            store.delete_model(other)


def test_delete_model(store, model):
    store.put(snap(model, "r1", 1))
    store.delete_model(model)
    assert store.latest(model) is None and store.history(model) == []
    store.put(snap(model, "r1", 2))  # a model can start over after a delete
    assert store.latest(model).iteration == 2
