"""Connection facts for the integration tests, and a check that each service answers.

Every value comes from the environment (as printed by ``python -m mrlinreg.cluster
env``) with 127.0.0.1 defaults, so the same tests run against the Docker-less cluster
and against docker-compose. A fixture whose service does not answer FAILS the test:
a missing cluster must never look like a green run.
"""
from __future__ import annotations

import datetime as dt
import decimal
import os
import re
import shutil
import socket
import struct
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

START_HINT = "start the cluster with `python -m mrlinreg.cluster up`"


@dataclass(frozen=True)
class ClusterInfo:
    """Where the services are, as the integration tests see them."""

    webhdfs_url: str       # WebHDFS (hdfs package, InsecureClient)
    hdfs_user: str
    default_fs: str        # hdfs:// URL of the NameNode (mrjob, hadoop fs)
    yarn_url: str          # ResourceManager REST API
    hive_host: str
    hive_port: int
    hbase_host: str
    hbase_port: int        # Thrift1 (happybase)
    zookeeper_hosts: str   # kazoo / ZooKeeper connect string
    hadoop_home: Path
    mrjob_conf: Path


def _cluster_home() -> Path:
    from mrlinreg.cluster.paths import default_home
    return default_home()


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


@pytest.fixture(scope="session")
def cluster_info() -> ClusterInfo:
    home = _cluster_home()
    return ClusterInfo(
        webhdfs_url=_env("MRLINREG_HDFS_URL", "http://127.0.0.1:9870").rstrip("/"),
        hdfs_user=_env("MRLINREG_HDFS_USER", "mrlinreg"),
        default_fs=_env("MRLINREG_CLUSTER_FS", "hdfs://127.0.0.1:8020"),
        yarn_url=_env("MRLINREG_CLUSTER_YARN_URL", "http://127.0.0.1:8088").rstrip("/"),
        hive_host=_env("MRLINREG_HIVE_HOST", "127.0.0.1"),
        hive_port=int(_env("MRLINREG_HIVE_PORT", "10000")),
        hbase_host=_env("MRLINREG_HBASE_HOST", "127.0.0.1"),
        hbase_port=int(_env("MRLINREG_HBASE_PORT", "9090")),
        zookeeper_hosts=_env("MRLINREG_ZOOKEEPER_HOSTS", "127.0.0.1:2181"),
        hadoop_home=Path(_env("HADOOP_HOME", str(home / "hadoop"))),
        mrjob_conf=Path(_env("MRJOB_CONF", str(home / "mrjob.conf"))),
    )


def _require_tcp(service: str, host: str, port: int) -> None:
    try:
        with socket.create_connection((host, port), timeout=5):
            return
    except OSError as exc:
        pytest.fail(f"{service} is not reachable at {host}:{port} ({exc}); {START_HINT}",
                    pytrace=False)


def _require_http(service: str, url: str) -> None:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            response.read()
    except (urllib.error.URLError, OSError) as exc:
        pytest.fail(f"{service} is not reachable at {url} ({exc}); {START_HINT}",
                    pytrace=False)


@pytest.fixture(scope="session")
def webhdfs(cluster_info):
    """An ``hdfs.InsecureClient`` on WebHDFS."""
    _require_http("HDFS (WebHDFS)",
                  f"{cluster_info.webhdfs_url}/webhdfs/v1/?op=GETFILESTATUS")
    from hdfs import InsecureClient
    return InsecureClient(cluster_info.webhdfs_url, user=cluster_info.hdfs_user)


@pytest.fixture(scope="session")
def hive_endpoint(cluster_info):
    """``(host, port)`` of a HiveServer2-protocol endpoint that accepts connections."""
    _require_tcp("HiveServer2", cluster_info.hive_host, cluster_info.hive_port)
    return cluster_info.hive_host, cluster_info.hive_port


@pytest.fixture(scope="session")
def hbase_endpoint(cluster_info):
    """``(host, port)`` of the HBase Thrift1 server (happybase)."""
    _require_tcp("HBase Thrift", cluster_info.hbase_host, cluster_info.hbase_port)
    return cluster_info.hbase_host, cluster_info.hbase_port


@pytest.fixture(scope="session")
def zookeeper_hosts(cluster_info):
    """ZooKeeper connect string, checked with the ``ruok`` four-letter word."""
    host, _, port = cluster_info.zookeeper_hosts.split(",")[0].partition(":")
    try:
        with socket.create_connection((host, int(port or 2181)), timeout=5) as sock:
            sock.sendall(b"ruok")
            answer = sock.recv(16)
    except OSError as exc:
        answer = repr(exc).encode()
    if answer != b"imok":
        pytest.fail(f"ZooKeeper at {host}:{port} did not answer ruok "
                    f"({answer.decode(errors='replace')}); {START_HINT}", pytrace=False)
    return cluster_info.zookeeper_hosts


@pytest.fixture(scope="session")
def hadoop_cluster(cluster_info):
    """Environment for ``mrjob -r hadoop``: HADOOP_HOME, MRJOB_CONF, a live YARN.

    Returns a dict of the environment variables to set for a job run.
    """
    hadoop_bin = cluster_info.hadoop_home / "bin" / "hadoop"
    if not hadoop_bin.exists():
        pytest.fail(f"no hadoop launcher at {hadoop_bin}; {START_HINT}", pytrace=False)
    if not cluster_info.mrjob_conf.exists():
        pytest.fail(f"no mrjob config at {cluster_info.mrjob_conf}; {START_HINT}",
                    pytrace=False)
    _require_http("YARN ResourceManager", f"{cluster_info.yarn_url}/ws/v1/cluster/info")
    _require_http("HDFS (WebHDFS)",
                  f"{cluster_info.webhdfs_url}/webhdfs/v1/?op=GETFILESTATUS")
    return {
        "HADOOP_HOME": str(cluster_info.hadoop_home),
        "MRJOB_CONF": str(cluster_info.mrjob_conf),
        "PATH": f"{hadoop_bin.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


# --- other engines on the same catalogue: Spark SQL and Hive's own JDBC driver ----------

@pytest.fixture(scope="session")
def hive_metastore_uri():
    """``thrift://`` address of the Hive metastore service (what other engines share)."""
    uri = _env("MRLINREG_HIVE_METASTORE_URIS", "thrift://127.0.0.1:9083")
    host, _, port = uri.split(",")[0].removeprefix("thrift://").partition(":")
    _require_tcp("Hive metastore", host, int(port or 9083))
    return uri


@pytest.fixture(scope="session")
def hive_lib() -> Path:
    """The cluster's Hive 4.0.1 jars (``poms/hive.xml``: service, metastore, hive-jdbc)."""
    from mrlinreg.cluster.fetch import COMPLETE, maven_lib_dir
    from mrlinreg.cluster.paths import default_cache

    lib = maven_lib_dir(default_cache(), "hive")
    if not (lib.parent / COMPLETE).exists() or not list(lib.glob("hive-jdbc-*.jar")):
        pytest.fail(f"no Hive jars in {lib}; {START_HINT}", pytrace=False)
    return lib


@pytest.fixture(scope="session")
def java_home() -> Path:
    """The Java the cluster runs on ($JAVA_HOME as printed by ``cluster env``)."""
    found = os.environ.get("JAVA_HOME") or ""
    if not (Path(found) / "bin" / "java").exists():
        java = shutil.which("java")
        found = str(Path(java).resolve().parents[1]) if java else ""
    if not found or not (Path(found) / "bin" / "javac").exists():
        pytest.fail(f"no JDK (java and javac) found (JAVA_HOME={found!r}); {START_HINT}",
                    pytrace=False)
    return Path(found)


#: A tiny JDBC client: runs each statement given after the URL and user, prints every
#: row with each value tagged by type; doubles as their raw IEEE-754 bits (no text).
JDBC_RUNNER = r"""
import java.sql.*;

public class HiveJdbcRunner {
    static String cell(Object v) {
        if (v == null) return "N";
        if (v instanceof Double || v instanceof Float)
            return "d:" + Long.toHexString(Double.doubleToRawLongBits(((Number) v).doubleValue()));
        if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte)
            return "i:" + v;
        if (v instanceof Boolean) return "b:" + v;
        if (v instanceof java.math.BigDecimal)
            return "n:" + ((java.math.BigDecimal) v).toPlainString();
        if (v instanceof Timestamp) return "t:" + ((Timestamp) v).toLocalDateTime();
        return "s:" + v.toString().replace("\\", "\\\\").replace("\t", "\\t")
                       .replace("\n", "\\n");
    }

    public static void main(String[] args) throws Exception {
        Class.forName("org.apache.hive.jdbc.HiveDriver");
        try (Connection c = DriverManager.getConnection(args[0], args[1], "")) {
            System.out.println("#driver " + c.getMetaData().getDriverVersion());
            for (int q = 2; q < args.length; q++) {
                System.out.println("#query");
                try (Statement st = c.createStatement();
                     ResultSet rs = st.executeQuery(args[q])) {
                    int n = rs.getMetaData().getColumnCount();
                    while (rs.next()) {
                        StringBuilder line = new StringBuilder("=");
                        for (int i = 1; i <= n; i++)
                            line.append(i > 1 ? "\t" : "").append(cell(rs.getObject(i)));
                        System.out.println(line);
                    }
                }
            }
        }
    }
}
"""


_UNESCAPE = {"\\\\": "\\", "\\t": "\t", "\\n": "\n"}


def _jdbc_value(cell: str):
    """One value printed by HiveJdbcRunner, back as a Python value."""
    if cell == "N":
        return None
    tag, text = cell[0], cell[2:]
    if tag == "d":
        return struct.unpack("<d", struct.pack("<Q", int(text, 16)))[0]
    if tag == "i":
        return int(text)
    if tag == "b":
        return text == "true"
    if tag == "t":
        return dt.datetime.fromisoformat(text)
    if tag == "n":
        return decimal.Decimal(text)
    return re.sub(r"\\[\\tn]", lambda m: _UNESCAPE[m.group()], text)


@pytest.fixture(scope="session")
def hive_jdbc(hive_endpoint, hive_lib, java_home, tmp_path_factory):
    """``run(statements) -> [rows of each]`` through Hive's own JDBC driver (hive-jdbc
    4.0.1 from the cluster's Hive jars), one JVM for all the statements.

    Values come back as Python values: doubles from their exact bits, BIGINT/INT as int,
    TIMESTAMP as a naive datetime, ARRAY as Hive's JSON text (as PyHive gives it).
    """
    classes = tmp_path_factory.mktemp("jdbc-runner")
    (classes / "HiveJdbcRunner.java").write_text(JDBC_RUNNER)
    compiled = subprocess.run([str(java_home / "bin" / "javac"), "-d", str(classes),
                               str(classes / "HiveJdbcRunner.java")],
                              capture_output=True, text=True, timeout=120)
    assert compiled.returncode == 0, compiled.stderr
    host, port = hive_endpoint

    def run(statements, user="mrlinreg"):
        command = [str(java_home / "bin" / "java"), "-XX:TieredStopAtLevel=1",
                   "-XX:+UseSerialGC", "-Xmx256m", "-Duser.timezone=UTC",
                   "-cp", f"{classes}{os.pathsep}{hive_lib}/*", "HiveJdbcRunner",
                   f"jdbc:hive2://{host}:{port}/default", user, *statements]
        p = subprocess.run(command, capture_output=True, text=True, timeout=600,
                           stdin=subprocess.DEVNULL)
        assert p.returncode == 0, p.stderr[-3000:]
        lines = p.stdout.splitlines()
        assert lines and lines[0] == "#driver 4.0.1", p.stdout[:500]
        results = []
        for line in lines[1:]:
            if line == "#query":
                results.append([])
            elif line.startswith("="):
                results[-1].append(tuple(_jdbc_value(c) for c in line[1:].split("\t")))
        assert len(results) == len(statements), p.stdout[-2000:]
        return results

    return run


@pytest.fixture(scope="session")
def spark_home(java_home):
    """pyspark as the cluster fetched it (``pip install --target`` into the cache):
    ``(site folder for PYTHONPATH, SPARK_HOME)``. Spark runs in a subprocess (local mode)."""
    from mrlinreg.cluster.fetch import COMPLETE, PYSPARK_VERSION
    from mrlinreg.cluster.paths import default_cache

    target = default_cache() / f"pyspark-{PYSPARK_VERSION}"
    if not (target / COMPLETE).exists():
        pytest.fail(f"pyspark {PYSPARK_VERSION} not fetched into {target}; {START_HINT}",
                    pytrace=False)
    return target, target / "pyspark"


@pytest.fixture(scope="session")
def config():
    """The configuration in cluster mode, with few, quick retries (a down service fails fast)."""
    from mrlinreg.config import load_config

    config = load_config()
    return config.replace(mode="cluster",
                          retry=type(config.retry)(attempts=2, base_delay_s=1, max_delay_s=1))
