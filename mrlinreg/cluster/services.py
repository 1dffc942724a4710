"""The cluster's services: how each is started and how its readiness is probed.

Heaps are kept small (a 2-core, 24 GiB machine runs all of them plus YARN containers).
Start order follows ``requires``; services whose requirements are ready start together.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from mrlinreg.cluster import probes
from mrlinreg.cluster.paths import ClusterPaths

#: Opens that Hadoop, HBase and Spark need on Java 17 (what their own launch scripts add).
JAVA17_OPTIONS = [
    *(f"--add-opens=java.base/{pkg}=ALL-UNNAMED" for pkg in (
        "java.lang", "java.lang.invoke", "java.lang.reflect", "java.io", "java.net",
        "java.nio", "java.util", "java.util.concurrent", "java.util.concurrent.atomic",
        "java.util.regex", "java.text", "java.math", "java.time", "sun.nio.ch",
        "sun.nio.cs", "sun.security.action", "sun.util.calendar", "jdk.internal.misc",
        "jdk.internal.ref")),
    "--add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dorg.apache.hbase.thirdparty.io.netty.tryReflectionSetAccessible=true",
    "-Djava.net.preferIPv4Stack=true",
]


@dataclass(frozen=True)
class Runtime:
    """What ``up`` found or fetched: Java and the jar directories of each runtime."""

    paths: ClusterPaths
    java_home: Path
    libs: dict[str, Path]

    @property
    def java(self) -> str:
        return str(self.java_home / "bin" / "java")

    def marker(self) -> str:
        """A JVM option naming this cluster, to find our processes again."""
        return f"-Dmrlinreg.cluster.home={self.paths.home}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("HADOOP_", "YARN_", "HBASE_", "SPARK_", "HIVE_"))}
        env.update(
            JAVA_HOME=str(self.java_home),
            HADOOP_HOME=str(self.paths.hadoop_home),
            HADOOP_CONF_DIR=str(self.paths.conf / "hadoop"),
            HADOOP_LOG_DIR=str(self.paths.logs),
            PATH=os.pathsep.join([str(self.java_home / "bin"), str(self.paths.hadoop_home / "bin"),
                                  env.get("PATH", "/usr/bin:/bin")]),
        )
        return env


@dataclass(frozen=True)
class Service:
    name: str
    port: int
    command: Callable[[Runtime], list[str]]
    probe: Callable[[], None]
    requires: tuple[str, ...] = ()
    timeout: float = 180.0
    optional: bool = False
    prepare: Callable[[Runtime], None] | None = None
    env: Callable[[Runtime], dict[str, str]] | None = None
    cwd: Callable[[Runtime], Path] = field(default=lambda rt: rt.paths.data)


def _jvm(rt: Runtime, service: str, heap: str, classpath: list[Path | str],
         main: str, *args: str, extra: tuple[str, ...] = ()) -> list[str]:
    return [rt.java, f"-Xmx{heap}", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            *JAVA17_OPTIONS, rt.marker(), f"-Dmrlinreg.cluster.service={service}",
            *extra, "-cp", os.pathsep.join(map(str, classpath)), main, *args]


def _hadoop(service: str, heap: str, main: str, *args: str):
    def command(rt: Runtime) -> list[str]:
        classpath = [rt.paths.conf / "hadoop", rt.paths.hadoop_home / "share" / "hadoop" / "hdfs",
                     f"{rt.libs['hadoop']}/*"]
        return _jvm(rt, service, heap, classpath,
                    main, *args, extra=(f"-Dhadoop.log.dir={rt.paths.logs}",
                                        f"-Dyarn.log.dir={rt.paths.logs}",
                                        f"-Dhadoop.home.dir={rt.paths.hadoop_home}",
                                        "-Dhadoop.security.logger=INFO,console"))
    return command


def _hbase(service: str, heap: str, main: str, *args: str, lib: str = "hbase"):
    def command(rt: Runtime) -> list[str]:
        return _jvm(rt, service, heap, [rt.paths.conf / "hbase", f"{rt.libs[lib]}/*"],
                    main, *args, extra=(f"-Dhbase.log.dir={rt.paths.logs}",
                                        "-Dhbase.root.logger=INFO,console"))
    return command


def _zookeeper(rt: Runtime) -> list[str]:
    conf = rt.paths.conf / "zookeeper"
    return _jvm(rt, "zookeeper", "256m", [conf, f"{rt.libs['zookeeper']}/*"],
                "org.apache.zookeeper.server.ZooKeeperServerMain", str(conf / "zoo.cfg"),
                extra=(f"-Dlogback.configurationFile={conf / 'logback.xml'}",
                       "-Dzookeeper.admin.enableServer=false"))


def _format_namenode(rt: Runtime) -> None:
    """Format HDFS once: only when the name directory holds no image yet."""
    if (rt.paths.data / "dfs" / "name" / "current" / "VERSION").exists():
        return
    command = _hadoop("namenode-format", "256m",
                      "org.apache.hadoop.hdfs.server.namenode.NameNode",
                      "-format", "-nonInteractive", "-clusterid", "mrlinreg")(rt)
    log = rt.paths.log_file("namenode-format")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=rt.env(),
                       cwd=rt.paths.data, check=True, timeout=300)


def _spark_command(rt: Runtime) -> list[str]:
    spark = rt.libs["spark"]
    warehouse = rt.paths.data / "hive" / "warehouse"
    return [
        str(spark / "bin" / "spark-submit"),
        "--master", "local[2]", "--driver-memory", "1g",
        "--name", "mrlinreg-hiveserver2",
        "--driver-java-options",
        f"{rt.marker()} -Dmrlinreg.cluster.service=hiveserver2 -XX:+UseSerialGC "
        f"-Dderby.system.home={rt.paths.data / 'hive'}",
        "--conf", "spark.ui.enabled=false",
        "--conf", "spark.driver.bindAddress=127.0.0.1",
        "--conf", "spark.driver.host=127.0.0.1",
        "--conf", f"spark.sql.warehouse.dir={warehouse}",
        "--conf", "spark.sql.shuffle.partitions=2",
        "--conf", "spark.hadoop.fs.defaultFS=file:///",
        "--class", "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
        "spark-internal",
        "--hiveconf", "hive.server2.thrift.port=10000",
        "--hiveconf", "hive.server2.thrift.bind.host=127.0.0.1",
    ]


def _spark_env(rt: Runtime) -> dict[str, str]:
    env = rt.env()
    for key in ("HADOOP_CONF_DIR", "HADOOP_HOME"):
        env.pop(key, None)  # keep Spark's tables on the local disk, not in HDFS
    env.update(SPARK_HOME=str(rt.libs["spark"]), SPARK_CONF_DIR=str(rt.paths.conf / "hive"),
               SPARK_LOCAL_IP="127.0.0.1", SPARK_LOCAL_DIRS=str(rt.paths.data / "spark"),
               PYSPARK_PYTHON=os.environ.get("PYSPARK_PYTHON", "python3"))
    return env


SERVICES: tuple[Service, ...] = (
    Service("zookeeper", 2181, _zookeeper, probes.zookeeper, timeout=90),
    Service("namenode", 9870,
            _hadoop("namenode", "512m", "org.apache.hadoop.hdfs.server.namenode.NameNode"),
            probes.namenode, prepare=_format_namenode, timeout=120),
    Service("datanode", 9864,
            _hadoop("datanode", "384m", "org.apache.hadoop.hdfs.server.datanode.DataNode"),
            probes.datanode, requires=("namenode",), timeout=120),
    Service("resourcemanager", 8088,
            _hadoop("resourcemanager", "512m",
                    "org.apache.hadoop.yarn.server.resourcemanager.ResourceManager"),
            probes.resourcemanager, timeout=150),
    Service("nodemanager", 8042,
            _hadoop("nodemanager", "512m",
                    "org.apache.hadoop.yarn.server.nodemanager.NodeManager"),
            probes.nodemanager, requires=("resourcemanager",), timeout=150),
    Service("historyserver", 19888,
            _hadoop("historyserver", "384m",
                    "org.apache.hadoop.mapreduce.v2.hs.JobHistoryServer"),
            probes.historyserver, requires=("datanode",), optional=True, timeout=150),
    Service("hbase-master", 16000,
            _hbase("hbase-master", "512m", "org.apache.hadoop.hbase.master.HMaster", "start"),
            probes.hbase_master, requires=("zookeeper", "datanode"), timeout=180),
    Service("hbase-regionserver", 16020,
            _hbase("hbase-regionserver", "768m",
                   "org.apache.hadoop.hbase.regionserver.HRegionServer", "start"),
            probes.hbase_regionserver, requires=("zookeeper", "datanode"), timeout=180),
    Service("hbase-thrift", 9090,
            _hbase("hbase-thrift", "256m", "org.apache.hadoop.hbase.thrift.ThriftServer",
                   "-b", "127.0.0.1", "-p", "9090", "-threadpool", "start",
                   lib="hbase-thrift"),
            probes.hbase_thrift, requires=("hbase-master", "hbase-regionserver"),
            timeout=240),
    Service("hiveserver2", 10000, _spark_command, probes.hiveserver2, timeout=240,
            env=_spark_env, cwd=lambda rt: rt.paths.data / "hive"),
)

BY_NAME = {service.name: service for service in SERVICES}
