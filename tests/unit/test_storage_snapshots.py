"""Snapshots: exact float64 round trip, order, latest; local files and a fake HBase."""

import numpy as np
import pytest

from mrlinreg.storage.errors import InvalidRecordError, StorageError
from mrlinreg.storage.hbase_snapshots import HBaseSnapshotStore, snapshot_row_key
from mrlinreg.storage.local_snapshots import LocalSnapshotStore
from mrlinreg.storage.snapshot_format import Snapshot, decode_cells, encode_cells
from mrlinreg.storage.snapshots import SnapshotStore

NASTY = np.array([0.1, 1 / 3, -0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                  -1e-300, np.nextafter(1.0, 2.0), 123456789.123456789])


def snap(iteration, run_id="run-1", model="demo", **kw):
    rng = np.random.default_rng(iteration)
    kw.setdefault("weights", np.concatenate([NASTY, rng.standard_normal(5)]))
    kw.setdefault("loss", 1.0 / (iteration + 3))
    return Snapshot(model_name=model, run_id=run_id, iteration=iteration, **kw)


class FakeTable:
    def __init__(self, rows):
        self.rows = rows

    def put(self, key, cells):
        self.rows.setdefault(key, {}).update(cells)

    def row(self, key, columns=None):
        cells = self.rows.get(key, {})
        return {c: v for c, v in cells.items() if columns is None or c in columns}

    def scan(self, row_prefix, columns=None, batch_size=None):
        for key in sorted(self.rows):
            if key.startswith(row_prefix):
                yield key, self.row(key, columns)

    def delete(self, key):
        self.rows.pop(key, None)

    def batch(self, batch_size=None):
        table = self

        class Batch:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def delete(self, key):
                table.delete(key)
        return Batch()


class FakeHBase:
    """Just enough of happybase.Connection, keeping rows sorted like HBase."""

    def __init__(self):
        self.rows, self.created, self.opened = {}, [], 0

    def __call__(self, **kwargs):
        self.kwargs = kwargs
        return self

    def open(self):
        self.opened += 1

    def close(self):
        pass

    def tables(self):
        return [name.encode() for name, _ in self.created]

    def create_table(self, name, families):
        self.created.append((name, families))

    def table(self, name):
        return FakeTable(self.rows)


@pytest.fixture(params=["local", "hbase"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalSnapshotStore(tmp_path / "snapshots")
    return HBaseSnapshotStore(connection_factory=FakeHBase(), retry={"attempts": 1})


def test_is_a_snapshot_store(store):
    assert isinstance(store, SnapshotStore)


def test_exact_round_trip(store):
    state = {"m": np.arange(12, dtype=np.float64).reshape(3, 4) / 7, "lr": 0.1, "k": 3,
             "name": "bb", "none": None, "flag": True, "empty": np.zeros((0,))}
    original = snap(7, grad_norm=2e-17, step=None, solver_state=state)
    store.put(original)
    back = store.latest("demo")
    assert back == original
    assert back.weights.dtype == np.float64
    assert back.weights.tobytes() == original.weights.tobytes()  # bit for bit, -0.0 too
    assert back.solver_state["m"].shape == (3, 4)
    assert back.solver_state["m"].tobytes() == state["m"].tobytes()
    assert back.solver_state["k"] == 3 and isinstance(back.solver_state["k"], int)
    assert back.solver_state["flag"] is True and back.solver_state["none"] is None
    assert back.step is None and back.grad_norm == 2e-17
    assert back.created_at == original.created_at


def test_history_is_in_run_then_iteration_order(store):
    for run_id, iteration in [("run-2", 1), ("run-1", 10), ("run-1", 2), ("run-1", 1),
                              ("run-2", 0), ("run-1", 100)]:
        store.put(snap(iteration, run_id))
    store.put(snap(5, model="other"))
    assert [s.key[1:] for s in store.history("demo")] == [
        ("run-1", 1), ("run-1", 2), ("run-1", 10), ("run-1", 100), ("run-2", 0), ("run-2", 1)]
    assert [s.iteration for s in store.history("demo", "run-2")] == [0, 1]
    assert store.history("nobody") == []


def test_latest_is_the_last_put(store):
    assert store.latest("demo") is None
    store.put(snap(3))
    store.put(snap(4))
    assert store.latest("demo").iteration == 4
    store.put(snap(0, "run-2"))  # a new run starts over: it is the latest now
    assert store.latest("demo").key == ("demo", "run-2", 0)


def test_same_key_is_replaced_cleanly(store):
    store.put(snap(1, solver_state={"a": 1.0, "b": 2.0}))
    store.put(snap(1, solver_state={"a": 3.0}, loss=None))
    [only] = store.history("demo")
    assert only.solver_state == {"a": 3.0} and only.loss is None


def test_delete_model(store):
    store.put(snap(1))
    store.put(snap(1, model="demo2"))
    store.delete_model("demo")
    assert store.latest("demo") is None and store.history("demo") == []
    assert store.latest("demo2").model_name == "demo2"
    store.delete_model("never-existed")


@pytest.mark.parametrize("bad, fragment", [
    (dict(weights=np.array([1.0, np.nan])), "non-finite"),
    (dict(weights=np.array([np.inf])), "non-finite"),
    (dict(loss=float("nan")), "loss is nan"),
    (dict(grad_norm=float("inf")), "grad_norm is inf"),
    (dict(solver_state={"h": np.array([[1.0, np.nan]])}), "solver_state\\['h'\\]"),
    (dict(solver_state={"lr": float("-inf")}), "solver_state\\['lr'\\]"),
    (dict(solver_state={"bad key": 1.0}), "solver_state key"),
    (dict(solver_state={"obj": object()}), "cannot store a object"),
    (dict(weights=np.ones((2, 2))), "1-D"),
    (dict(weights=np.array([1, 2])), "float array"),
])
def test_non_finite_and_odd_values_are_refused(store, bad, fragment):
    with pytest.raises(InvalidRecordError, match=fragment):
        store.put(snap(1, **bad))
    assert store.latest("demo") is None


@pytest.mark.parametrize("model, run_id", [("demo#x", "r"), ("demo", "r#1"), ("../x", "r"),
                                           ("demo", "a/b"), ("demo!latest", "r")])
def test_names_that_would_break_keys_or_paths_are_refused(store, model, run_id):
    with pytest.raises(InvalidRecordError, match="invalid"):
        store.put(snap(1, run_id=run_id, model=model))


def test_cells_use_raw_little_endian_bytes():
    cells = encode_cells(snap(2, weights=np.array([1.0, -2.5]), loss=0.25))
    assert cells[b"w:weights"] == np.array([1.0, -2.5], dtype="<f8").tobytes()
    assert cells[b"m:loss"] == np.float64(0.25).astype("<f8").tobytes()
    assert cells[b"m:iteration"] == (2).to_bytes(8, "little")
    assert decode_cells(cells) == snap(2, weights=np.array([1.0, -2.5]), loss=0.25,
                                       created_at=cells[b"m:created_at"].decode())


def test_hbase_row_keys_and_pointer():
    fake = FakeHBase()
    store = HBaseSnapshotStore(connection_factory=fake, table_prefix="test")
    store.put(snap(12, "20261129T231500Z-abc"))
    assert snapshot_row_key("demo", "20261129T231500Z-abc", 12) == \
        b"demo#20261129T231500Z-abc#0000000012"
    assert set(fake.rows) == {b"demo#20261129T231500Z-abc#0000000012", b"demo!latest"}
    assert fake.rows[b"demo!latest"] == {b"p:key": b"demo#20261129T231500Z-abc#0000000012"}
    assert fake.kwargs["table_prefix"] == "test" and fake.kwargs["port"] == 9090
    assert [name for name, _ in fake.created] == ["snapshots"]
    assert set(fake.created[0][1]) == {"m", "w", "s", "p"}
    store.put(snap(13))
    assert len(fake.created) == 1  # created once, not per call


def test_local_store_detects_corruption(tmp_path):
    store = LocalSnapshotStore(tmp_path)
    store.put(snap(1))
    [path] = list(tmp_path.rglob("*.snap"))
    data = bytearray(path.read_bytes())
    data[40] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(StorageError, match="corrupt"):
        store.latest("demo")


def test_local_store_leaves_no_temporary_files(tmp_path):
    store = LocalSnapshotStore(tmp_path)
    for i in range(3):
        store.put(snap(i))
    assert sorted(p.name for p in (tmp_path / "demo").rglob("*")) == [
        "0000000000.snap", "0000000001.snap", "0000000002.snap", "LATEST", "run-1"]
