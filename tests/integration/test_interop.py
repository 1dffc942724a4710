"""Another engine reads what mrlinreg publishes: Spark SQL on the shared Hive metastore.

``HiveResultsStore`` publishes a run (Parquet files over WebHDFS, partitions registered
through HiveServer2); Spark SQL (pyspark, local mode, in a subprocess) finds the tables
through the metastore service alone and must read the same rows PyHive reads: doubles
bit for bit, the ``features`` ARRAY<STRING>, the TIMESTAMP to the microsecond, and the
text ``predictions`` table partitioned by run and batch.

Spark 4's built-in Hive client (2.3) cannot talk to a Hive 4 metastore (``Invalid
method name: 'get_table'``), so Spark loads the cluster's own Hive 4.0.1 jars as its
metastore client (``spark.sql.hive.metastore.version``/``jars``/``jars.path``).

Fails (never skips) when HiveServer2, the metastore, WebHDFS or the fetched pyspark is
missing. Uses its own database, dropped at the end.
"""

import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.parse
import uuid

import pytest

from mrlinreg.storage.hive_results import HiveResultsStore
from tests.functional.helpers import ROOT
from tests.unit.test_storage_results import sample_record

pytestmark = pytest.mark.integration

TABLES = ("models", "coefficients", "training_history", "metrics", "predictions")
RUN = "20261130T051500Z-interop1"


def exact(value):
    """A value in a form whose equality is exact: doubles by their bits (``-0.0`` and
    ``0.0`` differ), timestamps by their ISO text, arrays element by element."""
    if isinstance(value, float):
        return ["double", value.hex()]
    if isinstance(value, dt.datetime):
        return ["timestamp", value.isoformat()]
    if isinstance(value, (list, tuple)):
        return [exact(v) for v in value]
    return value


def spark_conf(metastore_uri, hive_lib, scratch):
    """The Spark settings that read a Hive 4.0.1 metastore (see the module docstring)."""
    return {
        "spark.master": "local[1]",
        "spark.ui.enabled": "false",
        "spark.driver.memory": "768m",
        # one short-lived JVM: the client compiler and serial GC start it faster
        "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
        "spark.sql.shuffle.partitions": "1",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.warehouse.dir": str(scratch / "spark-warehouse"),
        "spark.hadoop.hive.metastore.uris": metastore_uri,
        "spark.sql.hive.metastore.version": "4.0.1",
        "spark.sql.hive.metastore.jars": "path",
        "spark.sql.hive.metastore.jars.path": f"file://{hive_lib}/*.jar",
    }


def spark_main():
    """Run in the Spark subprocess: argv[1] is a JSON request {conf, queries}; prints
    {"columns": [...], "rows": [...]} per query as JSON, values in :func:`exact` form."""
    from pyspark.sql import SparkSession

    request = json.loads(sys.argv[1])
    builder = SparkSession.builder.appName("mrlinreg-interop")
    for key, value in request["conf"].items():
        builder = builder.config(key, value)
    spark = builder.enableHiveSupport().getOrCreate()
    try:
        answers = []
        for sql in request["queries"]:
            frame = spark.sql(sql)
            answers.append({"columns": frame.columns,
                            "rows": [exact(list(row)) for row in frame.collect()]})
    finally:
        spark.stop()
    print(json.dumps(answers))


def spark_sql(spark_home, conf, queries, scratch):
    site, home = spark_home
    py4j = sorted((home / "python" / "lib").glob("py4j-*-src.zip"))
    env = dict(os.environ, SPARK_HOME=str(home), TZ="UTC", PYSPARK_PYTHON=sys.executable,
               PYTHONPATH=os.pathsep.join([str(site), *map(str, py4j[-1:]), ROOT]))
    code = "from tests.integration.test_interop import spark_main; spark_main()"
    p = subprocess.run([sys.executable, "-c", code, json.dumps({"conf": conf,
                                                                "queries": queries})],
                       capture_output=True, text=True, env=env, cwd=scratch, timeout=600,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr[-4000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def pyhive_sql(hive_endpoint, sql):
    """Rows and column names as PyHive gives them; ARRAY columns arrive as JSON text."""
    from pyhive import hive
    host, port = hive_endpoint
    conn = hive.connect(host=host, port=port, username="mrlinreg")
    try:
        cursor = conn.cursor()
        cursor.execute(sql)
        columns = [d[0].rpartition(".")[2] for d in cursor.description]
        arrays = [d[1] == "ARRAY_TYPE" for d in cursor.description]
        rows = [[json.loads(v) if is_array and v is not None else v
                 for v, is_array in zip(row, arrays)] for row in cursor.fetchall()]
    finally:
        conn.close()
    return {"columns": columns, "rows": [exact(row) for row in rows]}


@pytest.fixture(scope="module")
def database(config, hive_endpoint, webhdfs):
    """A database of its own; dropped at the end with its folder (DROP DATABASE leaves
    the files of EXTERNAL tables whose partitions have their own LOCATION)."""
    name = f"linreg_interop_{uuid.uuid4().hex[:8]}"
    yield name
    from pyhive import hive
    host, port = hive_endpoint
    conn = hive.connect(host=host, port=port, username="mrlinreg")
    try:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}` CASCADE")
    finally:
        conn.close()
    folder = urllib.parse.urlparse(config.hive.warehouse_dir).path.rstrip("/")
    webhdfs.delete(f"{folder}/{name}.db", recursive=True)


@pytest.fixture(scope="module")
def store(config, database):
    with HiveResultsStore.from_config(config, database=database) as store:
        yield store


def test_spark_reads_what_was_published(store, database, hive_endpoint, hive_metastore_uri,
                                        hive_lib, spark_home, tmp_path):
    record = sample_record(RUN, history=4)
    record.created_at = "2026-11-30T05:15:00.123456Z"  # microseconds survive
    record.coefficients["x0"] = 0.1 + 0.2               # 0.30000000000000004
    record.intercept = 5e-324                           # the smallest subnormal
    store.publish(record)
    predictions = [{"input_file": "hdfs:///d/a b.csv", "row_index": i, "row_id": f"id\u00e9{i}",
                    "y_true": None if i % 3 == 0 else i / 7, "prediction": -i / 3}
                   for i in range(6)]
    store.publish_predictions(RUN, "batch1", predictions)

    queries = [f"SELECT * FROM `{database}`.`{t}` WHERE run_id = '{RUN}'" for t in TABLES]
    via_pyhive = dict(zip(TABLES, (pyhive_sql(hive_endpoint, q) for q in queries)))
    started = time.monotonic()
    via_spark = dict(zip(TABLES, spark_sql(spark_home, spark_conf(hive_metastore_uri,
                                                                  hive_lib, tmp_path),
                                           queries, tmp_path)))
    print(f"Spark SQL: {time.monotonic() - started:.1f} s for {len(queries)} tables")

    for table in TABLES:
        hive, spark = via_pyhive[table], via_spark[table]
        assert spark["columns"] == hive["columns"], table
        assert hive["rows"], table
        assert sorted(map(json.dumps, spark["rows"])) == sorted(map(json.dumps, hive["rows"])), \
            table

    # and the rows are the record's own values, not merely the same mistakes
    [model] = via_spark["models"]["rows"]
    columns = via_spark["models"]["columns"]
    row = dict(zip(columns, model))
    assert row["features"] == ["x0", "x1"]
    assert row["created_at"] == ["timestamp", "2026-11-30T05:15:00.123456"]
    assert row["n_rows"] == 1000 and row["converged"] is True and row["run_id"] == RUN
    coef = {r[1]: r for r in via_spark["coefficients"]["rows"]}
    assert coef["x0"][2] == exact(0.30000000000000004)
    assert coef["intercept"][2] == exact(5e-324)
    assert coef["intercept"][5] == exact(1e-300)  # p_value
    preds = {r[1]: r for r in via_spark["predictions"]["rows"]}
    assert sorted(preds) == list(range(6))
    assert preds[3][3] is None and preds[4][3] == exact(4 / 7)
    assert preds[5][4] == exact(-5 / 3) and preds[2][2] == "id\u00e92"
    assert preds[1][0] == "hdfs:///d/a b.csv" and preds[1][-1] == "batch1"
