"""The cluster's services: how each is started and how its readiness is probed.

Heaps are kept small (a 2-core, 24 GiB machine runs all of them plus YARN containers).
Start order follows ``requires``; services whose requirements are ready start together.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from mrlinreg.cluster import probes
from mrlinreg.cluster.paths import ClusterPaths

#: Opens that Hadoop and HBase need on Java 17 (what their own launch scripts add).
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


#: Hive 4.0.1 on Java 17 needs a few opens more than Hadoop and HBase (without them
#: StringInternUtils fails at start-up: ``does not "opens java.net"``).
HIVE_JAVA17_OPTIONS = [
    *JAVA17_OPTIONS,
    "--add-opens=java.base/java.security=ALL-UNNAMED",
    "--add-opens=java.sql/java.sql=ALL-UNNAMED",
]

#: Written after MetastoreSchemaTool succeeded; a Derby folder without it is a failed
#: first initialisation (holding no data) and is created again.
SCHEMA_DONE = "metastore_db.schema-initialised"


def _hive_dir(rt: Runtime) -> Path:
    return rt.paths.data / "hive"


def _hive_jvm(rt: Runtime, service: str, heap: str, main: str, *args: str) -> list[str]:
    conf = rt.paths.conf
    classpath = [conf / "hive", conf / "hadoop", f"{rt.libs['hive']}/*"]
    return [rt.java, f"-Xmx{heap}", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            *HIVE_JAVA17_OPTIONS, rt.marker(), f"-Dmrlinreg.cluster.service={service}",
            f"-Dlog4j.configurationFile={conf / 'hive' / 'hive-log4j2.properties'}",
            f"-Dderby.system.home={_hive_dir(rt)}",
            f"-Dhadoop.home.dir={rt.paths.hadoop_home}",
            "-cp", os.pathsep.join(map(str, classpath)), main, *args]


def _hive_env(rt: Runtime) -> dict[str, str]:
    from mrlinreg.cluster.fetch import metastore_home
    env = rt.env()
    env["METASTORE_HOME"] = str(metastore_home(rt.libs["hive"]))
    env["HIVE_CONF_DIR"] = str(rt.paths.conf / "hive")
    return env


def _init_metastore_schema(rt: Runtime) -> None:
    """Create the metastore's Derby schema with Hive's own schema tool, once."""
    hive = _hive_dir(rt)
    if (hive / SCHEMA_DONE).exists():
        return
    hive.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(hive / "metastore_db", ignore_errors=True)
    command = _hive_jvm(rt, "metastore-schematool", "512m",
                        "org.apache.hadoop.hive.metastore.tools.schematool.MetastoreSchemaTool",
                        "-initSchema", "-dbType", "derby")
    log = rt.paths.log_file("metastore-schematool")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT,
                                env=_hive_env(rt), cwd=hive, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"MetastoreSchemaTool -initSchema failed (exit "
                           f"{result.returncode}); see {log}")
    (hive / SCHEMA_DONE).write_text("hive-standalone-metastore 4.0.1, derby\n")


def _metastore(rt: Runtime) -> list[str]:
    return _hive_jvm(rt, "metastore", "512m", "org.apache.hadoop.hive.metastore.HiveMetaStore")


def _hiveserver2(rt: Runtime) -> list[str]:
    # Local-mode MapReduce jobs run inside this JVM, hence the larger heap.
    return _hive_jvm(rt, "hiveserver2", "1g", "org.apache.hive.service.server.HiveServer2")


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
    Service("metastore", 9083, _metastore, probes.metastore, requires=("datanode",),
            prepare=_init_metastore_schema, env=_hive_env, cwd=_hive_dir, timeout=180),
    Service("hiveserver2", 10000, _hiveserver2, probes.hiveserver2, requires=("metastore",),
            env=_hive_env, cwd=_hive_dir, timeout=240),
)

BY_NAME = {service.name: service for service in SERVICES}
