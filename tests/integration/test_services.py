"""Each service of the cluster, through the Python client the project uses for it.

Run with the cluster up: ``python -m mrlinreg.cluster up``, then
``pytest -m integration tests/integration/test_services.py``.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

JOBS = Path(__file__).resolve().parent / "jobs_for_tests"


@pytest.fixture
def unique():
    return f"it_{uuid.uuid4().hex[:10]}"


def test_hdfs_write_then_read_back(webhdfs, unique):
    path = f"/tmp/mrlinreg-it/{unique}/hello.txt"
    text = "x,y\n1.5,2.5\n"
    try:
        webhdfs.write(path, data=text.encode(), overwrite=True)
        with webhdfs.read(path) as reader:
            assert reader.read().decode() == text
        assert webhdfs.status(path)["length"] == len(text)
    finally:
        webhdfs.delete(f"/tmp/mrlinreg-it/{unique}", recursive=True)


def test_hive_create_insert_select(hive_endpoint, unique):
    from pyhive import hive

    host, port = hive_endpoint
    table = f"{unique}_coef"
    connection = hive.connect(host, port=port, username="mrlinreg")
    try:
        cursor = connection.cursor()
        cursor.execute(f"CREATE TABLE {table} (feature STRING, value DOUBLE)")
        try:
            cursor.execute(f"INSERT INTO {table} VALUES ('x1', 0.5), ('x2', -1.25)")
            cursor.execute(f"SELECT feature, value FROM {table} ORDER BY feature")
            assert cursor.fetchall() == [("x1", 0.5), ("x2", -1.25)]
        finally:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
    finally:
        connection.close()


def test_hive_metastore_and_hdfs_warehouse(hive_endpoint, webhdfs, unique):
    """Real Hive: the standalone metastore answers Thrift, and tables live in HDFS."""
    from pyhive import hive

    from mrlinreg.cluster.probes import metastore_databases

    host, port = hive_endpoint
    assert "default" in metastore_databases(host=host)
    location = f"hdfs://127.0.0.1:8020/tmp/mrlinreg-it/{unique}.db"
    connection = hive.connect(host, port=port, username="mrlinreg")
    try:
        cursor = connection.cursor()
        cursor.execute(f"CREATE DATABASE {unique} LOCATION '{location}'")
        try:
            cursor.execute(f"CREATE TABLE {unique}.t (x DOUBLE) PARTITIONED BY (run_id STRING) "
                           "STORED AS PARQUET")
            cursor.execute(f"INSERT INTO {unique}.t PARTITION (run_id='r1') VALUES (1.5)")
            cursor.execute(f"DESCRIBE FORMATTED {unique}.t")
            info = {(r[0] or "").strip(): (r[1] or "").strip() for r in cursor.fetchall()}
            assert info["Location:"] == f"{location}/t"
            assert info["SerDe Library:"].endswith("ParquetHiveSerDe")
            assert webhdfs.list(f"/tmp/mrlinreg-it/{unique}.db/t") == ["run_id=r1"]
            assert unique in metastore_databases(host=host)
        finally:
            cursor.execute(f"DROP DATABASE IF EXISTS {unique} CASCADE")
    finally:
        connection.close()


def test_hbase_put_then_get(hbase_endpoint, unique):
    import happybase

    host, port = hbase_endpoint
    connection = happybase.Connection(host, port=port, timeout=60000)
    try:
        connection.create_table(unique, {"m": dict(max_versions=1)})
        try:
            table = connection.table(unique)
            table.put(b"model-1", {b"m:weights": b"\x00\x01binary", b"m:loss": b"0.25"})
            assert table.row(b"model-1") == {b"m:weights": b"\x00\x01binary",
                                             b"m:loss": b"0.25"}
        finally:
            connection.delete_table(unique, disable=True)
    finally:
        connection.close()


def test_zookeeper_znode_round_trip(zookeeper_hosts, unique):
    from kazoo.client import KazooClient

    client = KazooClient(hosts=zookeeper_hosts, timeout=10)
    client.start(timeout=15)
    path = f"/mrlinreg-it/{unique}"
    try:
        client.create(path, b"lock-holder-1", makepath=True)
        data, stat = client.get(path)
        assert data == b"lock-holder-1"
        client.set(path, b"lock-holder-2", version=stat.version)
        assert client.get(path)[0] == b"lock-holder-2"
    finally:
        client.delete(path, recursive=True)
        client.stop()
        client.close()


def test_mrjob_streaming_job_on_yarn(hadoop_cluster, webhdfs, cluster_info, unique,
                                     monkeypatch):
    """`-r hadoop` through the launcher, the streaming jar and the NodeManager."""
    import sys

    sys.path.insert(0, str(JOBS))
    try:
        from mr_word_count import MRWordCount
    finally:
        sys.path.remove(str(JOBS))
    for key, value in hadoop_cluster.items():
        monkeypatch.setenv(key, value)
    base = f"/tmp/mrlinreg-it/{unique}"
    webhdfs.write(f"{base}/input.txt", data=b"to be or not\nto be\n", overwrite=True)
    job = MRWordCount(["-r", "hadoop", "--conf-path", os.environ["MRJOB_CONF"],
                       "--output-dir", f"hdfs://{base}/output",
                       f"{cluster_info.default_fs}{base}/input.txt"])
    try:
        with job.make_runner() as runner:
            runner.run()
            counts = dict(job.parse_output(runner.cat_output()))
    finally:
        webhdfs.delete(base, recursive=True)
    assert counts == {"to": 2, "be": 2, "or": 1, "not": 1}
