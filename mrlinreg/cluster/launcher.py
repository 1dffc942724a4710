"""The ``hadoop`` command mrjob calls, the mrjob config, and the environment to export.

The tarball's ``bin/hadoop`` is not on Maven Central; what mrjob's hadoop runner needs
from it is small: ``version``, ``fs``, ``jar`` and ``classpath``. The script lives in
``<home>/hadoop/bin`` with the streaming jar under ``<home>/hadoop/share``, so mrjob
finds both from ``$HADOOP_HOME`` alone.
"""
from __future__ import annotations

import json
import shlex
import shutil
import sys
from pathlib import Path

from mrlinreg.cluster.paths import ClusterPaths
from mrlinreg.cluster.services import JAVA17_OPTIONS

SCRIPT = """#!/usr/bin/env bash
# Written by `python -m mrlinreg.cluster up`: a minimal `hadoop` command for mrjob.
set -euo pipefail
export JAVA_HOME=${{JAVA_HOME_OVERRIDE:-{java_home}}}
export HADOOP_HOME={hadoop_home}
export HADOOP_CONF_DIR=${{HADOOP_CONF_DIR:-{conf}}}
CLASSPATH_ALL="$HADOOP_CONF_DIR:{lib}/*"
JAVA_OPTS=(-Xmx${{HADOOP_CLIENT_HEAP:-512m}} -XX:+UseSerialGC -XX:TieredStopAtLevel=1 {opens}
  -Dhadoop.home.dir="$HADOOP_HOME" -Dhadoop.log.dir={logs} -Dhadoop.root.logger=${{HADOOP_ROOT_LOGGER:-WARN,console}})
run() {{ exec "$JAVA_HOME/bin/java" "${{JAVA_OPTS[@]}}" -cp "$CLASSPATH_ALL" "$@"; }}
command="${{1:-}}"
[ $# -gt 0 ] && shift
case "$command" in
  version)   run org.apache.hadoop.util.VersionInfo "$@" ;;
  fs|dfs)    run org.apache.hadoop.fs.FsShell "$@" ;;
  jar)       run org.apache.hadoop.util.RunJar "$@" ;;
  classpath) echo "$CLASSPATH_ALL" ;;
  application|node|logs) run org.apache.hadoop.yarn.client.cli.$( \\
      case "$command" in application) echo ApplicationCLI;; node) echo NodeCLI;; logs) echo LogsCLI;; esac) "$@" ;;
  *) echo "usage: hadoop version | fs ARGS | jar JAR [MAIN] ARGS | classpath | application|node|logs ARGS" >&2
     exit 1 ;;
esac
"""

#: Connection settings, named as mrlinreg.config reads them (MRLINREG_<SECTION>_<KEY>)
#: so the project's clients and the integration tests agree; MRLINREG_CLUSTER_* are
#: extra facts about this cluster that no [section] of conf/mrlinreg.ini holds.
CLIENT_PORTS = {
    "MRLINREG_HDFS_URL": "http://127.0.0.1:9870",
    "MRLINREG_HIVE_HOST": "127.0.0.1",
    "MRLINREG_HIVE_PORT": "10000",
    "MRLINREG_HBASE_HOST": "127.0.0.1",
    "MRLINREG_HBASE_PORT": "9090",
    "MRLINREG_ZOOKEEPER_HOSTS": "127.0.0.1:2181",
    "MRLINREG_CLUSTER_FS": "hdfs://127.0.0.1:8020",
    "MRLINREG_CLUSTER_YARN_URL": "http://127.0.0.1:8088",
}


def streaming_jar(paths: ClusterPaths) -> Path:
    return next((paths.hadoop_home / "share" / "hadoop" / "tools" / "lib").glob(
        "hadoop-streaming-*.jar"))


WEBAPPS = ("hdfs", "datanode", "secondary", "journal")
EMPTY_WEB_XML = ('<?xml version="1.0"?>\n<web-app xmlns="http://java.sun.com/xml/ns/javaee" '
                 'version="2.5"/>\n')


def webapps_root(paths: ClusterPaths) -> Path:
    """Directory to put on the HDFS daemons' classpath: it holds ``webapps/<name>``."""
    return paths.hadoop_home / "share" / "hadoop" / "hdfs"


def write_webapps(paths: ClusterPaths) -> None:
    """The NameNode and DataNode HTTP servers (WebHDFS) look up ``webapps/<name>`` on
    the classpath. The tarball ships those folders; the Maven jars do not. WebHDFS
    itself is registered in code, so empty web apps are enough."""
    for name in WEBAPPS:
        web_inf = webapps_root(paths) / "webapps" / name / "WEB-INF"
        web_inf.mkdir(parents=True, exist_ok=True)
        (web_inf / "web.xml").write_text(EMPTY_WEB_XML)


def write_hadoop_home(paths: ClusterPaths, java_home: Path, hadoop_lib: Path) -> Path:
    """Lay out ``<home>/hadoop``: ``bin/hadoop``, the streaming jar, empty web apps."""
    write_webapps(paths)
    tools = paths.hadoop_home / "share" / "hadoop" / "tools" / "lib"
    tools.mkdir(parents=True, exist_ok=True)
    for old in tools.glob("hadoop-streaming-*.jar"):
        old.unlink()
    for jar in hadoop_lib.glob("hadoop-streaming-*.jar"):
        shutil.copy2(jar, tools / jar.name)
    script = SCRIPT.format(
        java_home=shlex.quote(str(java_home)), hadoop_home=shlex.quote(str(paths.hadoop_home)),
        conf=shlex.quote(str(paths.conf / "hadoop")), lib=shlex.quote(str(hadoop_lib)),
        logs=shlex.quote(str(paths.logs)), opens=" ".join(map(shlex.quote, JAVA17_OPTIONS)))
    paths.hadoop_bin.parent.mkdir(parents=True, exist_ok=True)
    paths.hadoop_bin.write_text(script)
    paths.hadoop_bin.chmod(0o755)
    return paths.hadoop_bin


def write_mrjob_conf(paths: ClusterPaths, python: str = sys.executable) -> Path:
    """mrjob config for ``-r hadoop``: our launcher, the streaming jar, this Python.

    Tasks run on this machine's NodeManager, so they can use the interpreter that ran
    ``up`` (the project's venv, which has mrjob and numpy).
    """
    conf = {
        "runners": {
            "hadoop": {
                "hadoop_bin": str(paths.hadoop_bin),
                "hadoop_streaming_jar": str(streaming_jar(paths)),
                "python_bin": python,
                "hadoop_tmp_dir": "hdfs:///user/mrjob/tmp",
                "cmdenv": {"PYTHONIOENCODING": "utf-8", "LC_ALL": "C.UTF-8"},
            }
        }
    }
    # JSON is valid YAML, and mrjob reads both.
    paths.mrjob_conf.write_text(json.dumps(conf, indent=2) + "\n")
    return paths.mrjob_conf


def environment(paths: ClusterPaths, java_home: Path | None) -> dict[str, str]:
    env = {
        "MRLINREG_CLUSTER_HOME": str(paths.home),
        "HADOOP_HOME": str(paths.hadoop_home),
        "HADOOP_CONF_DIR": str(paths.conf / "hadoop"),
        "MRJOB_CONF": str(paths.mrjob_conf),
        **CLIENT_PORTS,
    }
    if java_home:
        env["JAVA_HOME"] = str(java_home)
    return env


def export_lines(paths: ClusterPaths, java_home: Path | None) -> list[str]:
    """``export`` lines for ``eval "$(python -m mrlinreg.cluster env)"``."""
    lines = [f"export {key}={shlex.quote(value)}"
             for key, value in environment(paths, java_home).items()]
    lines.append(f'export PATH={shlex.quote(str(paths.hadoop_bin.parent))}:"$PATH"')
    return lines
