"""schemas/warehouse.yaml -> DDL, literals, identifier validation, schema comparison."""

import datetime as dt

import pytest
import yaml

from mrlinreg.schema import (SCHEMA_PATH, InvalidIdentifierError, column_differences,
                             create_table_ddl, hive_literal, load_warehouse, parse_describe,
                             parse_warehouse, validate_key_name, validate_sql_name)
from mrlinreg.storage.errors import SchemaMismatchError
from mrlinreg.storage.hive_results import HiveResultsStore

INJECTIONS = ["linreg; DROP TABLE models", "a`b", "x' OR '1'='1", "models--", "a b",
              "", "../etc", "x\ny", "tab\tle", "ünïcode", "a" * 200, "db.table", None, 3]


@pytest.fixture(scope="module")
def warehouse():
    return load_warehouse()


def test_every_table_of_the_brief_is_defined(warehouse):
    assert set(warehouse.tables) == {"models", "coefficients", "training_history",
                                     "metrics", "predictions", "regularization_path",
                                     "cv_curve", "validation_curves", "residual_samples"}
    assert warehouse.partition.name == "run_id"
    assert {"m", "w", "s", "p"} <= set(warehouse.hbase_families)


def test_ddl_lists_the_yaml_columns_in_order(warehouse):
    raw = yaml.safe_load(SCHEMA_PATH.read_text())
    for name, table in raw["hive"]["tables"].items():
        where = f"hdfs://nn:8020/wh/linreg.db/{name}"
        ddl = create_table_ddl(warehouse, name, "linreg", where)
        assert ddl.startswith(f"CREATE EXTERNAL TABLE IF NOT EXISTS `linreg`.`{name}` (")
        positions = [ddl.index(f"`{c['name']}` {c['type']}") for c in table["columns"]]
        assert positions == sorted(positions)
        assert all(c.get("comment") for c in table["columns"]), name  # every column
        assert "PARTITIONED BY (`run_id` STRING COMMENT" in ddl
        assert ddl.rstrip().endswith(f"LOCATION '{where}'")
        assert f"STORED AS {table['stored_as']}" in ddl
        assert "`run_id`" not in ddl.split("PARTITIONED BY")[0]
    pred = create_table_ddl(warehouse, "predictions", "linreg")
    assert "`batch` STRING COMMENT" in pred.split("PARTITIONED BY")[1]
    assert "ROW FORMAT DELIMITED FIELDS TERMINATED BY '\\t'" in pred
    assert "`features` ARRAY<STRING>" in create_table_ddl(warehouse, "models", "linreg")


def test_ddl_uses_the_configured_database(warehouse):
    assert "`analytics`.`metrics`" in create_table_ddl(warehouse, "metrics", "analytics")
    with pytest.raises(InvalidIdentifierError):
        create_table_ddl(warehouse, "metrics", "x`; DROP DATABASE y; --")


@pytest.mark.parametrize("name", INJECTIONS)
def test_sql_names_reject_injection(name):
    with pytest.raises(InvalidIdentifierError):
        validate_sql_name(name, "database")


@pytest.mark.parametrize("name", [n for n in INJECTIONS if n not in ("models--", "db.table")]
                         + ["demo#1", "demo!latest", "a/b", "run_id=x",
                                               ".hidden", "-flag"])
def test_model_names_and_run_ids_reject_separators_and_injection(name):
    with pytest.raises(InvalidIdentifierError, match="invalid"):
        validate_key_name(name, "model name")


@pytest.mark.parametrize("name", ["demo", "20261129T231500Z-abc123", "house_prices.v2", "A-1"])
def test_ordinary_names_pass(name):
    assert validate_key_name(name) == name


def test_string_literals_are_escaped():
    assert hive_literal("it's", "STRING") == r"'it\'s'"
    assert hive_literal("a\\b", "STRING") == r"'a\\b'"
    nasty = "x'); DROP TABLE models; --\\'"
    literal = hive_literal(nasty, "STRING")
    inner = literal[1:-1]
    # every quote inside is preceded by an odd number of backslashes
    for i, ch in enumerate(inner):
        if ch == "'":
            run = len(inner[:i]) - len(inner[:i].rstrip("\\"))
            assert run % 2 == 1
    assert "\n" not in hive_literal("a\nb", "STRING")
    with pytest.raises(ValueError):
        hive_literal("a\x00b", "STRING")


def test_double_literals_round_trip_exactly_and_refuse_non_finite():
    for value in (0.1, 1 / 3, 5e-324, 1.7976931348623157e308, -0.0, 2.0 ** 60):
        text = hive_literal(value, "DOUBLE")
        assert text.startswith("CAST('") and text.endswith("' AS DOUBLE)")
        assert float(text[6:-12]) == value
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError, match="non-finite"):
            hive_literal(bad, "DOUBLE")


def test_other_literals():
    assert hive_literal(None, "DOUBLE") == "CAST(NULL AS DOUBLE)"
    assert hive_literal(True, "BOOLEAN") == "TRUE"
    assert hive_literal(12, "BIGINT") == "CAST(12 AS BIGINT)"
    with pytest.raises(TypeError):
        hive_literal("12; DROP", "BIGINT")
    stamp = dt.datetime(2026, 11, 29, 23, 15, tzinfo=dt.timezone.utc)
    assert hive_literal(stamp, "TIMESTAMP") == \
        "CAST('2026-11-29 23:15:00.000000' AS TIMESTAMP)"


def test_malformed_yaml_is_a_clear_error():
    with pytest.raises(ValueError, match="missing or malformed"):
        parse_warehouse({"hive": {}})
    doc = yaml.safe_load(SCHEMA_PATH.read_text())
    doc["hive"]["tables"]["metrics"]["columns"][0]["type"] = "VARCHAR2"
    with pytest.raises(ValueError, match="VARCHAR2"):
        parse_warehouse(doc)


HIVE_DESCRIBE = [("name", "string", ""), ("value", "double", ""), ("run_id", "string", ""),
                 ("", None, None), ("# Partition Information", None, None),
                 ("# col_name", "data_type", "comment"), ("", None, None),
                 ("run_id", "string", "")]
SPARK_DESCRIBE = [("name", "string", None), ("value", "double", None),
                  ("run_id", "string", None), ("# Partition Information", "", ""),
                  ("# col_name", "data_type", "comment"), ("run_id", "string", None)]


@pytest.mark.parametrize("rows", [HIVE_DESCRIBE, SPARK_DESCRIBE])
def test_parse_describe(rows, warehouse):
    columns, partitions = parse_describe(rows)
    assert columns == [("name", "string"), ("value", "double")]
    assert partitions == [("run_id", "string")]
    assert column_differences(warehouse.table("metrics"), columns, partitions) == []


def test_column_differences_name_each_difference(warehouse):
    diffs = column_differences(warehouse.table("metrics"),
                               [("name", "string"), ("value", "int"), ("extra", "string")],
                               [])
    text = "; ".join(diffs)
    assert "value is INT (schema: DOUBLE)" in text
    assert "extra STRING" in text
    assert "partitioned by none" in text


class FakeCursor:
    def __init__(self, server):
        self.server = server
        self._result = []

    def execute(self, sql):
        self.server.log.append(sql)
        self._result = self.server.answer(sql)

    def fetchall(self):
        return self._result

    def close(self):
        pass


class FakeHive:
    """Answers SHOW TABLES / DESCRIBE like HiveServer2 would."""

    def __init__(self, tables):
        self.tables, self.log = tables, []

    def __call__(self, **kwargs):
        self.kwargs = kwargs
        return self

    def cursor(self):
        return FakeCursor(self)

    def close(self):
        pass

    def answer(self, sql):
        if sql.startswith("SHOW TABLES"):
            return [(t,) for t in self.tables]
        if sql.startswith("DESCRIBE"):
            name = sql.split("`.`")[1].rstrip("`")
            return self.tables[name]
        return []


def test_hive_store_creates_missing_tables_and_refuses_mismatched_ones(warehouse):
    fake = FakeHive({"metrics": [("name", "string", ""), ("value", "int", ""),
                                 ("run_id", "string", ""), ("# Partition Information", "", ""),
                                 ("run_id", "string", "")]})
    store = HiveResultsStore(connect=fake, retry={"attempts": 1})
    with pytest.raises(SchemaMismatchError) as err:
        store.read_table("metrics")
    message = str(err.value)
    assert "linreg.metrics" in message and "value is INT (schema: DOUBLE)" in message
    created = [s for s in fake.log if s.startswith("CREATE EXTERNAL TABLE")]
    assert len(created) == len(warehouse.tables) - 1  # every table but the mismatched one
    assert fake.log[0] == "CREATE DATABASE IF NOT EXISTS `linreg`"


class FakeFiles:
    """Stands in for WebHDFS: remembers what was written and deleted."""

    def __init__(self):
        self.written, self.deleted, self.folders = {}, [], {}

    def write(self, uri, data):
        self.written[uri] = data if isinstance(data, bytes) else b"".join(data)
        folder, _, _ = uri.rpartition("/")
        parent, _, name = folder.rpartition("/")
        self.folders.setdefault(parent, set()).add(name)

    def subfolders(self, uri):
        return sorted(self.folders.get(uri, ()))

    def delete(self, uri):
        self.deleted.append(uri)
        parent, _, name = uri.rpartition("/")
        self.folders.get(parent, set()).discard(name)


def test_hive_publish_writes_files_and_registers_partitions_models_last(warehouse):
    from tests.unit.test_storage_results import sample_record

    fake, files = FakeHive({}), FakeFiles()
    store = HiveResultsStore(connect=fake, retry={"attempts": 1}, files=files,
                             warehouse_dir="hdfs://nn:8020/wh")
    store.publish(sample_record("run-1", history=500))
    ddl = [s for s in fake.log if s.startswith("ALTER TABLE")]
    # a constant number of statements whatever the rows: two per table
    assert len(ddl) == 8 and all("`run_id`='run-1'" in s for s in ddl)
    assert [s.split("`")[3] for s in ddl[::2]] == ["coefficients", "training_history",
                                                   "metrics", "models"]
    assert all(" ADD IF NOT EXISTS PARTITION " in a and " SET LOCATION " in b
               for a, b in zip(ddl[::2], ddl[1::2]))
    parquet = [u for u in files.written if u.endswith("part-0.parquet")]
    assert len(parquet) == 4
    assert all(u.startswith("hdfs://nn:8020/wh/linreg.db/") and "/run_id=run-1/" in u
               for u in parquet)
    first = dict(files.written)
    store.publish(sample_record("run-1", history=2))  # again: new folders, old ones deleted
    assert len(files.deleted) == 4
    assert all(u.rsplit("/", 1)[0] in [p.rsplit("/", 1)[0] for p in first] for u in
               [d + "/part-0.parquet" for d in files.deleted])
    store.publish(sample_record("run-2", history=0))
    assert any("DROP IF EXISTS PARTITION (`run_id`='run-2')" in s for s in fake.log)


def test_hive_predictions_are_registered_per_batch(warehouse):
    fake, files = FakeHive({}), FakeFiles()
    store = HiveResultsStore(connect=fake, retry={"attempts": 1}, files=files,
                             warehouse_dir="hdfs://nn:8020/wh")
    folder = store.predictions_folder("run-1", "abc123")
    assert folder.startswith("hdfs://nn:8020/wh/linreg.db/predictions/run_id=run-1/"
                             "batch=abc123/")
    store.register_predictions("run-1", "abc123", folder)
    assert fake.log[-1].endswith(f"SET LOCATION '{folder}'")
    assert "PARTITION (`run_id`='run-1', `batch`='abc123')" in fake.log[-1]
    with pytest.raises(ValueError):
        store.register_predictions("run-1", "abc123", "hdfs://nn:8020/elsewhere")
    with pytest.raises(InvalidIdentifierError):
        store.predictions_folder("run-1", "x') OR ('1'='1")
    store.publish_predictions("run-1", "b2", [{"input_file": "f", "row_index": 3,
                                               "y_true": None, "prediction": 0.5}])
    text = [v for u, v in files.written.items() if "/batch=b2/" in u]
    assert text == [b"f\t3\t\\N\t\\N\t0.5\n"]
