"""Render the shared service templates under ``conf/`` for one deployment profile.

Templates hold ``${UPPER_CASE}`` placeholders for what differs between deployments
(host names, directories, classpaths). Lower-case ``${...}`` belong to Hadoop and log4j
and are kept. Two profiles exist: ``local`` (the Docker-less cluster, everything on
127.0.0.1) and ``docker`` (docker-compose service names). Both render every template
with the same keys, so the two setups cannot drift apart (tests/unit/test_cluster_config.py).
"""
from __future__ import annotations

import configparser
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Mapping

from mrlinreg.cluster.paths import TEMPLATE_DIR, ClusterPaths

PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")

#: Host-name placeholders, one per service.
HOST_KEYS = (
    "NAMENODE_HOST", "DATANODE_HOST", "RESOURCEMANAGER_HOST", "NODEMANAGER_HOST",
    "HISTORYSERVER_HOST", "ZOOKEEPER_HOST", "HBASE_MASTER_HOST",
    "HBASE_REGIONSERVER_HOST", "METASTORE_HOST", "HIVESERVER2_HOST",
)


#: Sub-folders of ``conf/`` that hold service templates (``conf/mrlinreg.ini`` is the
#: project's own client settings, not a template).
SERVICE_DIRS = ("hadoop", "hbase", "zookeeper", "hive")


class TemplateError(ValueError):
    """A template names a placeholder the profile does not define."""


def template_files(template_dir: Path = TEMPLATE_DIR) -> list[Path]:
    """Every service template under ``conf/``, relative to it, sorted."""
    return sorted(p.relative_to(template_dir)
                  for name in SERVICE_DIRS for p in (template_dir / name).rglob("*")
                  if p.is_file() and not p.name.startswith("."))


def placeholders(text: str) -> set[str]:
    """Names of the ``${UPPER_CASE}`` placeholders in ``text``."""
    return set(PLACEHOLDER.findall(text))


def substitute(text: str, values: Mapping[str, str], source: str = "template") -> str:
    """Replace every ``${NAME}`` in ``text``; raise TemplateError for unknown names."""
    missing = placeholders(text) - set(values)
    if missing:
        raise TemplateError(f"{source}: no value for {', '.join(sorted(missing))}")
    return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text)


def local_values(paths: ClusterPaths, hadoop_lib: Path) -> dict[str, str]:
    """Placeholder values for the Docker-less cluster: everything on 127.0.0.1."""
    values = {key: "127.0.0.1" for key in HOST_KEYS}
    app_classpath = f"{paths.conf / 'hadoop'},{hadoop_lib}/*"
    values.update(
        DATA_DIR=str(paths.data),
        LOG_DIR=str(paths.logs),
        ZOOKEEPER_BIND="127.0.0.1",
        USE_DATANODE_HOSTNAME="false",
        HADOOP_APP_CLASSPATH=app_classpath,
        HADOOP_MAPRED_HOME=str(paths.hadoop_home),
        # 0 disables HiveServer2's web UI: one port and ~40 MB less on a test machine.
        HIVESERVER2_WEBUI_PORT="0",
        METASTORE_BIND="127.0.0.1",
        METASTORE_DB_DIR=str(paths.data / "hive"),
        HIVE_LOCAL_DIR=str(paths.data / "hive"),
    )
    return values


def docker_values() -> dict[str, str]:
    """Placeholder values for docker/docker-compose.yml (service names as hosts)."""
    hosts = {
        "NAMENODE_HOST": "namenode", "DATANODE_HOST": "datanode",
        "RESOURCEMANAGER_HOST": "resourcemanager", "NODEMANAGER_HOST": "nodemanager",
        "HISTORYSERVER_HOST": "historyserver", "ZOOKEEPER_HOST": "zookeeper",
        "HBASE_MASTER_HOST": "hbase-master", "HBASE_REGIONSERVER_HOST": "hbase-regionserver",
        "METASTORE_HOST": "metastore", "HIVESERVER2_HOST": "0.0.0.0",
    }
    share = "/opt/hadoop/share/hadoop"
    app_classpath = ",".join([
        "/rendered/hadoop",
        f"{share}/common/*", f"{share}/common/lib/*",
        f"{share}/hdfs/*", f"{share}/hdfs/lib/*",
        f"{share}/mapreduce/*", f"{share}/mapreduce/lib/*",
        f"{share}/yarn/*", f"{share}/yarn/lib/*",
    ])
    return dict(
        hosts,
        DATA_DIR="/data",
        LOG_DIR="/data/logs",
        ZOOKEEPER_BIND="0.0.0.0",
        USE_DATANODE_HOSTNAME="true",
        HADOOP_APP_CLASSPATH=app_classpath,
        HADOOP_MAPRED_HOME="/opt/hadoop",
        HIVESERVER2_WEBUI_PORT="10002",
        METASTORE_BIND="0.0.0.0",
        # The apache/hive image's data folder (a volume in docker-compose.yml).
        METASTORE_DB_DIR="/opt/hive/data",
        HIVE_LOCAL_DIR="/tmp/hive-local",
    )


def render(values: Mapping[str, str], out_dir: Path,
           template_dir: Path = TEMPLATE_DIR) -> list[Path]:
    """Write every template, filled in with ``values``, under ``out_dir``.

    Files are written only when their content changes, so rendering again for a
    running cluster is harmless.
    """
    written = []
    for rel in template_files(template_dir):
        text = (template_dir / rel).read_text()
        rendered = substitute(text, values, source=f"conf/{rel}")
        target = out_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text() != rendered:
            target.write_text(rendered)
        written.append(target)
    return written


def configuration_keys(path: Path) -> set[str]:
    """The setting names a rendered file defines (XML property names or ``key=``)."""
    if path.suffix == ".xml":
        root = ET.parse(path).getroot()
        names = {prop.findtext("name") for prop in root.iter("property")}
        # Not a Hadoop-style file (logback.xml): its elements and attributes are its keys.
        return names or {f"{e.tag}{sorted(e.attrib.items())}" for e in root.iter()}
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str
    parser.read_string("[top]\n" + path.read_text())
    return set(parser["top"])
