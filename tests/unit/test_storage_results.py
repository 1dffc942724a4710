"""LocalResultsStore: Hive-like Parquet layout, round trip, replace on re-publish."""

import copy
import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mrlinreg.errors import RecordFormatError
from mrlinreg.records import ModelRecord
from mrlinreg.schema import load_warehouse
from mrlinreg.storage.errors import InvalidRecordError
from mrlinreg.storage.local_results import LocalResultsStore
from mrlinreg.storage.records import checked_record_rows
from mrlinreg.storage.results import ResultsStore


def sample_record(run_id="20261129T231500Z-abc123", history=3, summary=True):
    return ModelRecord.from_json(sample_dict(run_id, history, summary))


def sample_dict(run_id="20261129T231500Z-abc123", history=3, summary=True):
    record = {
        "run_id": run_id, "model_name": "demo", "created_at": "2026-11-29T23:15:00Z",
        "solver": "gd", "strategy": "passes", "options": {"lr": 0.5, "max_iter": 12},
        "label": "y", "features": ["x0", "x1"],
        "coefficients": {"x0": 1.5, "x1": -2.0}, "intercept": 0.5,
        "iterations": 12, "converged": True, "loss": 0.0101, "n_rows": 1000, "bad_rows": 3,
        "history": [{"iteration": i + 1, "loss": 3.2 / (i + 1), "grad_norm": 1.1 / (i + 1),
                     "step": 0.5, "elapsed_s": 0.8 * (i + 1)} for i in range(history)],
        "metrics": {"mse": 0.0101, "rmse": 0.1005, "r2": 0.99, "mae": 0.08},
        "summary": None,
        "scaling": {"standardize": True, "fit_intercept": True, "shift": [0.5, 1.0],
                    "scale": [2.0, 3.0]},
        "working_weights": [3.0, -6.0, 0.5],
    }
    if summary:
        record["summary"] = {
            "coefficients": {
                name: {"std_err": 0.01, "t": 150.0, "p_value": 1e-300, "ci_low": v - 0.02,
                       "ci_high": v + 0.02}
                for name, v in [("x0", 1.5), ("x1", -2.0), ("intercept", 0.5)]},
            "r2": 0.99, "adj_r2": 0.989, "f_stat": 1234.5, "dof": 997, "note": "text skipped"}
    return record


@pytest.fixture
def store(tmp_path):
    return LocalResultsStore(tmp_path / "warehouse", database="linreg")


def test_is_a_results_store(store):
    assert isinstance(store, ResultsStore)


def test_layout_is_hive_like(store, tmp_path):
    store.publish(sample_record())
    for table in ("models", "coefficients", "training_history", "metrics"):
        part = (tmp_path / "warehouse" / "linreg.db" / table /
                "run_id=20261129T231500Z-abc123" / "part-0.parquet")
        assert part.is_file(), part
        # column names and types come from the schema; run_id lives in the path
        assert pq.read_schema(part).remove_metadata() == \
            load_warehouse().table(table).arrow_schema()


def test_round_trip(store):
    record = sample_record()
    store.publish(record)
    models = store.read_table("models").to_pylist()
    assert len(models) == 1
    row = models[0]
    assert row["run_id"] == record.run_id and row["model_name"] == "demo"
    assert row["converged"] is True and row["iterations"] == 12
    assert row["final_loss"] == 0.0101 and row["r2"] == 0.99
    assert row["created_at"] == dt.datetime(2026, 11, 29, 23, 15, tzinfo=dt.timezone.utc)
    assert row["options"] == '{"lr": 0.5, "max_iter": 12}'
    coef = store.read_table("coefficients").to_pylist()
    assert [(c["feature_index"], c["feature"], c["value"]) for c in coef] == \
        [(0, "x0", 1.5), (1, "x1", -2.0), (2, "intercept", 0.5)]
    assert coef[0]["t_stat"] == 150.0 and coef[0]["p_value"] == 1e-300
    history = store.read_table("training_history").to_pylist()
    assert [h["iteration"] for h in history] == [1, 2, 3]
    metrics = {m["name"]: m["value"] for m in store.read_table("metrics").to_pylist()}
    assert metrics["rmse"] == 0.1005 and metrics["summary.f_stat"] == 1234.5
    assert "summary.note" not in metrics and "summary.coefficients" not in metrics


def test_inference_columns_are_null_without_summary(store):
    store.publish(sample_record(summary=False))
    coef = store.read_table("coefficients")
    assert coef.column("std_err").null_count == coef.num_rows == 3


def test_republish_replaces_the_run(store):
    store.publish(sample_record(history=5))
    store.publish(sample_record(history=2))
    assert store.read_table("models").num_rows == 1
    assert store.read_table("training_history").num_rows == 2
    assert store.read_table("coefficients").num_rows == 3


def test_runs_are_kept_apart(store):
    store.publish(sample_record("run-a", history=2))
    store.publish(sample_record("run-b", history=4))
    assert store.read_table("models").column("run_id").to_pylist() == ["run-a", "run-b"]
    assert store.read_table("training_history", run_id="run-b").num_rows == 4
    store.publish(sample_record("run-a", history=0))
    assert store.read_table("training_history", run_id="run-a").num_rows == 0
    assert store.read_table("training_history", run_id="run-b").num_rows == 4


def test_no_temporary_directories_are_left(store, tmp_path):
    store.publish(sample_record())
    store.publish(sample_record())
    leftovers = [p for p in (tmp_path / "warehouse").rglob(".*")]
    assert leftovers == []


def test_predictions_accumulate_per_batch_and_replace_their_own(store):
    rows = [{"input_file": "hdfs:///data/a.csv", "row_index": i, "row_id": None,
             "y_true": float(i), "prediction": i + 0.25} for i in range(5)]
    store.publish_predictions("run-a", "batch1", rows)
    store.publish_predictions("run-a", "batch1", pa.Table.from_pylist(rows[:2]))
    table = store.read_table("predictions", run_id="run-a")
    assert table.num_rows == 2  # the same input set again replaced its batch
    assert table.column("prediction").to_pylist() == [0.25, 1.25]
    assert table.column("batch").to_pylist() == ["batch1"] * 2
    store.publish_predictions("run-a", "batch2", {"input_file": ["b.csv"], "row_index": [7],
                                                  "prediction": [1 / 3]})
    table = store.read_table("predictions", run_id="run-a")
    assert table.num_rows == 3  # another input set added a batch
    assert table.column("prediction").to_pylist()[-1] == 1 / 3  # exact through text
    assert table.column("y_true").to_pylist()[-1] is None
    store.publish_predictions("run-b", "batch1", {"input_file": ["f"], "row_index": [7],
                                                  "prediction": [1.0]})
    assert store.read_table("predictions").num_rows == 4


def test_a_version_1_local_warehouse_is_migrated(tmp_path):
    import json

    import pyarrow.parquet as pq

    root = tmp_path / "warehouse"
    models = root / "linreg.db" / "models" / "run_id=old"
    models.mkdir(parents=True)
    pq.write_table(pa.table({"model_name": ["m"], "solver": ["qr"], "strategy": ["stats"],
                             "options": ["{}"], "label": ["y"],
                             "features": [json.dumps(["a", "b"])], "n_rows": [10],
                             "bad_rows": [0], "converged": [True],
                             "iterations": pa.array([1], pa.int32()), "final_loss": [0.5],
                             "r2": [0.9], "created_at": pa.array(
                                 [dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)],
                                 pa.timestamp("us", tz="UTC"))}),
                   models / "part-0.parquet")
    preds = root / "linreg.db" / "predictions" / "run_id=old"
    preds.mkdir(parents=True)
    pq.write_table(pa.table({"input_file": ["f"], "row_index": [0], "row_id": [None],
                             "y_true": [1.0], "prediction": [1.5]}), preds / "part-0.parquet")
    store = LocalResultsStore(root)
    assert store.read_table("models").column("features").to_pylist() == [["a", "b"]]
    p = store.read_table("predictions")
    assert p.column("prediction").to_pylist() == [1.5] and p.column("batch").to_pylist() == ["v1"]
    assert (root / "linreg.db" / "_SCHEMA_VERSION").read_text().strip() == "2"


@pytest.mark.parametrize("change, fragment", [
    (lambda r: r["metrics"].__setitem__("mse", float("nan")), "metrics row 0 column value"),
    (lambda r: r["coefficients"].__setitem__("x1", float("inf")), "not finite"),
    (lambda r: r.__setitem__("run_id", "x'; DROP TABLE models"), "invalid run_id"),
    (lambda r: r.__setitem__("model_name", "../../etc"), "invalid model_name"),
    (lambda r: r.pop("solver"), "solver"),
    (lambda r: r["coefficients"].pop("x1"), "no coefficient for feature(s) x1"),
    (lambda r: r.__setitem__("n_rows", 1.5), "expected an integer"),
    (lambda r: r.__setitem__("created_at", "yesterday"), "ISO-8601"),
])
def test_bad_records_are_refused_before_writing(store, tmp_path, change, fragment):
    record = sample_dict()
    change(record)
    with pytest.raises((InvalidRecordError, RecordFormatError),
                       match=fragment.replace("(", r"\(").replace(")", r"\)")):
        store.publish(ModelRecord.from_json(record))
    assert not (tmp_path / "warehouse").exists()


def test_record_is_not_modified():
    record = sample_record()
    before = copy.deepcopy(record)
    checked_record_rows(record, load_warehouse())
    assert record == before


def test_empty_table_reads_with_schema(store):
    table = store.read_table("metrics")
    assert table.num_rows == 0 and table.column_names == ["name", "value", "run_id"]


def test_a_tab_in_a_prediction_is_refused_not_misfiled(store):
    with pytest.raises(InvalidRecordError, match="tab or a line break"):
        store.publish_predictions("run-a", "b", [{"input_file": "a\tb.csv", "row_index": 0,
                                                  "prediction": 1.0}])
