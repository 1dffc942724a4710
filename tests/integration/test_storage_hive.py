"""HiveResultsStore against the HiveServer2 of `python -m mrlinreg.cluster up`.

These tests fail (never skip) when Hive cannot be reached. Each run uses its own
database, dropped at the end.
"""

import uuid

import pytest

from mrlinreg.config import load_config
from mrlinreg.storage.errors import SchemaMismatchError
from mrlinreg.storage.hive_results import HiveResultsStore
from tests.unit.test_storage_results import sample_record

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def config():
    config = load_config()
    return config.replace(mode="cluster",
                          retry=type(config.retry)(attempts=2, base_delay_s=1, max_delay_s=1))


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
        return cursor.fetchall()
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
    record["coefficients"]["x0"] = 0.1 + 0.2  # 0.30000000000000004
    record["options"] = {"note": "it's \\ \"quoted\"; DROP TABLE models; --"}
    store.publish(record)
    models = store.read_table("models", run_id=record["run_id"]).to_pylist()
    assert len(models) == 1
    assert models[0]["options"] == ('{"note": "it\'s \\\\ \\"quoted\\"; '
                                    'DROP TABLE models; --"}')
    assert models[0]["converged"] is True and models[0]["n_rows"] == 1000
    coef = {r["feature"]: r for r in store.read_table("coefficients",
                                                      run_id=record["run_id"]).to_pylist()}
    assert coef["x0"]["value"] == 0.30000000000000004
    assert coef["intercept"]["p_value"] == 1e-300


def test_predictions_replace_per_run(store, database):
    rows = [{"input_file": "hdfs:///d/a.csv", "row_index": i, "row_id": f"id{i}",
             "y_true": None if i % 2 else float(i), "prediction": i / 3} for i in range(7)]
    store.batch_rows = 3  # several statements per partition
    store.publish_predictions("20261129T231500Z-it0004", rows)
    store.publish_predictions("20261129T231500Z-it0004", rows)
    back = store.read_table("predictions", run_id="20261129T231500Z-it0004").to_pylist()
    assert sorted(r["row_index"] for r in back) == list(range(7))
    assert {r["row_index"]: r["prediction"] for r in back} == {i: i / 3 for i in range(7)}


def test_a_table_that_differs_is_refused(config):
    name = f"linreg_it_{uuid.uuid4().hex[:8]}"
    try:
        query(config, f"CREATE DATABASE `{name}`")
        query(config, f"CREATE TABLE `{name}`.`metrics` (name STRING, value INT) "
                      f"PARTITIONED BY (run_id STRING) STORED AS PARQUET")
        store = HiveResultsStore.from_config(config, database=name)
        with pytest.raises(SchemaMismatchError, match="value is INT \\(schema: DOUBLE\\)"):
            store.publish(sample_record("20261129T231500Z-it0005"))
    finally:
        query(config, f"DROP DATABASE IF EXISTS `{name}` CASCADE")
