"""HiveResultsStore against the HiveServer2 of `python -m mrlinreg.cluster up`.

These tests fail (never skip) when Hive cannot be reached. Each run uses its own
database, dropped at the end.
"""

import uuid

import pytest

from mrlinreg.storage.errors import SchemaMismatchError
from mrlinreg.storage.hive_results import HiveResultsStore
from tests.unit.test_storage_results import sample_record

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def database(config):
    name = f"linreg_it_{uuid.uuid4().hex[:8]}"
    yield name
    from pyhive import hive
    conn = hive.connect(host=config.hive.host, port=config.hive.port,
                        username=config.hive.username, auth=config.hive.auth)
    try:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}` CASCADE")
    finally:
        conn.close()
    # the tables are external: their files stay until removed
    from mrlinreg.storage.warehouse_files import WebHdfsFiles

    WebHdfsFiles(config.hdfs.url, config.hdfs.user).delete(
        f"{config.hive.warehouse_dir}/{name}.db")


@pytest.fixture
def store(config, database):
    return HiveResultsStore.from_config(config, database=database)


def query(config, sql):
    from pyhive import hive
    conn = hive.connect(host=config.hive.host, port=config.hive.port,
                        username=config.hive.username, auth=config.hive.auth)
    try:
        cursor = conn.cursor()
        cursor.execute(sql)
        return cursor.fetchall() if cursor.description else []  # DDL: no result set
    finally:
        conn.close()


def test_publish_twice_leaves_one_copy(store, config, database):
    record = sample_record("20261129T231500Z-it0001", history=5)
    with store:
        store.publish(record)
        store.publish(sample_record("20261129T231500Z-it0001", history=2))
        store.publish(sample_record("20261129T231500Z-it0002", history=3))
    run = "'20261129T231500Z-it0001'"
    for table, expected in [("models", 1), ("coefficients", 3), ("training_history", 2),
                            ("metrics", 8)]:
        [(count,)] = query(config, f"SELECT count(*) FROM `{database}`.`{table}` "
                                   f"WHERE run_id = {run}")
        assert count == expected, table
    [(runs,)] = query(config, f"SELECT count(DISTINCT run_id) FROM `{database}`.`models`")
    assert runs == 2


def test_values_come_back_exactly(store, database):
    record = sample_record("20261129T231500Z-it0003")
    record.coefficients["x0"] = 0.1 + 0.2  # 0.30000000000000004
    record.options = {"note": "it's \\ \"quoted\"; DROP TABLE models; --"}
    store.publish(record)
    models = store.read_table("models", run_id=record.run_id).to_pylist()
    assert len(models) == 1
    assert models[0]["options"] == ('{"note": "it\'s \\\\ \\"quoted\\"; '
                                    'DROP TABLE models; --"}')
    assert models[0]["converged"] is True and models[0]["n_rows"] == 1000
    assert models[0]["features"] == ["x0", "x1"]  # ARRAY<STRING>
    assert models[0]["created_at"].isoformat() == "2026-11-29T23:15:00+00:00"
    coef = {r["feature"]: r for r in store.read_table("coefficients",
                                                      run_id=record.run_id).to_pylist()}
    assert coef["x0"]["value"] == 0.30000000000000004
    assert coef["intercept"]["p_value"] == 1e-300


def test_tables_are_external_with_their_files_in_hdfs(store, config, database):
    store.publish(sample_record("20261129T231500Z-it0006"))
    for table in ("models", "predictions"):
        rows = query(config, f"DESCRIBE FORMATTED `{database}`.`{table}`")
        info = {(r[0] or "").strip().rstrip(":"): (r[1] or "").strip() for r in rows}
        assert info["Location"].startswith("hdfs://"), info["Location"]
        assert info["Location"].endswith(f"/{database}.db/{table}")
        assert info["Table Type"] == "EXTERNAL_TABLE"
    parts = query(config, f"SHOW PARTITIONS `{database}`.`models`")
    assert ("run_id=20261129T231500Z-it0006",) in parts


def test_predictions_accumulate_per_batch(store, database):
    run = "20261129T231500Z-it0004"
    rows = [{"input_file": "hdfs:///d/a.csv", "row_index": i, "row_id": f"id{i}",
             "y_true": None if i % 2 else float(i), "prediction": i / 3} for i in range(7)]
    store.publish_predictions(run, "batch1", rows)
    store.publish_predictions(run, "batch1", rows)  # the same input set: replaced
    back = store.read_table("predictions", run_id=run).to_pylist()
    assert sorted(r["row_index"] for r in back) == list(range(7))
    assert {r["row_index"]: r["prediction"] for r in back} == {i: i / 3 for i in range(7)}
    assert {r["row_index"]: r["y_true"] for r in back} == {
        i: None if i % 2 else float(i) for i in range(7)}
    assert {r["row_id"] for r in back} == {f"id{i}" for i in range(7)}
    store.publish_predictions(run, "batch2", rows[:2])  # another input set: added
    back = store.read_table("predictions", run_id=run).to_pylist()
    assert len(back) == 9 and {r["batch"] for r in back} == {"batch1", "batch2"}


def test_a_table_that_differs_is_refused(config):
    name = f"linreg_it_{uuid.uuid4().hex[:8]}"
    try:
        query(config, f"CREATE DATABASE `{name}`")
        query(config, f"CREATE TABLE `{name}`.`metrics` (name STRING, value INT) "
                      f"PARTITIONED BY (run_id STRING) STORED AS PARQUET")
        store = HiveResultsStore.from_config(config, database=name)
        with pytest.raises(SchemaMismatchError, match="value is INT \\(schema: DOUBLE\\)") as e:
            store.publish(sample_record("20261129T231500Z-it0005"))
        assert "Migrate: rename its tables" in str(e.value)
    finally:
        query(config, f"DROP DATABASE IF EXISTS `{name}` CASCADE")
