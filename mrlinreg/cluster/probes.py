"""Readiness probes: each asks its service a real question, not just "is the port open".

A probe returns None when the service answers and raises NotReady otherwise. Client
libraries (happybase, PyHive) are imported lazily: they are project dependencies, but
``render`` must work without them.
"""
from __future__ import annotations

import json
import socket
import struct
import urllib.error
import urllib.request

HOST = "127.0.0.1"


class NotReady(Exception):
    """The service does not answer (yet)."""


def port_open(port: int, host: str = HOST, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_port(port: int, host: str = HOST) -> None:
    if not port_open(port, host):
        raise NotReady(f"nothing listens on {host}:{port}")


def http_json(url: str, timeout: float = 3.0) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise NotReady(f"{url}: {exc}") from None


def zookeeper() -> None:
    """ZooKeeper answers the four-letter word ``ruok`` with ``imok``."""
    try:
        with socket.create_connection((HOST, 2181), timeout=2) as sock:
            sock.sendall(b"ruok")
            answer = sock.recv(16)
    except OSError as exc:
        raise NotReady(f"zookeeper: {exc}") from None
    if answer != b"imok":
        raise NotReady(f"zookeeper answered {answer!r} to ruok")


def _namenode_bean(name: str) -> dict:
    beans = http_json(f"http://{HOST}:9870/jmx?qry=Hadoop:service=NameNode,name={name}")
    if not beans.get("beans"):
        raise NotReady(f"namenode has no {name} bean yet")
    return beans["beans"][0]


def namenode() -> None:
    if _namenode_bean("NameNodeStatus").get("State") != "active":
        raise NotReady("namenode is not active yet")


def datanode() -> None:
    """HDFS is writable: a live DataNode and safe mode off."""
    require_port(9864)
    if _namenode_bean("FSNamesystemState").get("NumLiveDataNodes", 0) < 1:
        raise NotReady("no live datanode registered with the namenode")
    if _namenode_bean("NameNodeInfo").get("Safemode"):
        raise NotReady("namenode still in safe mode")


def resourcemanager() -> None:
    info = http_json(f"http://{HOST}:8088/ws/v1/cluster/info").get("clusterInfo", {})
    if info.get("state") != "STARTED":
        raise NotReady(f"resourcemanager state {info.get('state')}")


def nodemanager() -> None:
    """A RUNNING node with memory to give, as the ResourceManager sees it."""
    nodes = http_json(f"http://{HOST}:8088/ws/v1/cluster/nodes").get("nodes") or {}
    running = [n for n in nodes.get("node", []) if n.get("state") == "RUNNING"]
    if not running:
        raise NotReady("no RUNNING nodemanager registered with the resourcemanager")


def historyserver() -> None:
    http_json(f"http://{HOST}:19888/ws/v1/history/info")


def hbase_master() -> None:
    require_port(16000)


def hbase_regionserver() -> None:
    require_port(16020)


def hbase_thrift() -> None:
    """The Thrift gateway lists tables: needs master, regionserver and hbase:meta up."""
    require_port(9090)
    try:
        import happybase
    except ImportError:
        return
    try:
        connection = happybase.Connection(HOST, port=9090, timeout=10000)
        try:
            connection.tables()
        finally:
            connection.close()
    except Exception as exc:  # thrift raises many unrelated types
        raise NotReady(f"hbase thrift: {type(exc).__name__}: {exc}") from None


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise OSError("connection closed by the metastore")
        data += chunk
    return data


def metastore_databases(port: int = 9083, host: str = HOST, timeout: float = 10.0) -> list[str]:
    """The metastore's ``get_all_databases()``, spoken in Thrift's binary protocol on a
    plain socket (the metastore's default, unframed transport). Standard library only:
    ``status`` and ``up`` need no metastore client package."""
    name = b"get_all_databases"
    # strict message header: version 1 | CALL (1), method name, sequence id; empty args
    request = struct.pack(">iI", -2147418111, len(name)) + name + struct.pack(">i", 1) + b"\0"
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request)
        version_type, length = struct.unpack(">iI", _read_exact(sock, 8))
        _read_exact(sock, length + 4)  # method name, sequence id
        if version_type & 0xFF != 2:  # 2 REPLY, 3 EXCEPTION
            raise NotReady(f"metastore answered get_all_databases with message type "
                           f"{version_type & 0xFF}")
        field_type, field_id = struct.unpack(">bh", _read_exact(sock, 3))
        if field_type != 15 or field_id != 0:  # 0 success: list<string>
            raise NotReady(f"metastore raised an exception (field {field_id})")
        _, size = struct.unpack(">bi", _read_exact(sock, 5))
        names = []
        for _ in range(size):
            (n,) = struct.unpack(">I", _read_exact(sock, 4))
            names.append(_read_exact(sock, n).decode())
        return names


def metastore() -> None:
    """The metastore lists its databases (it needs its Derby schema for that)."""
    require_port(9083)
    try:
        names = metastore_databases()
    except OSError as exc:
        raise NotReady(f"metastore: {exc}") from None
    if "default" not in names:
        raise NotReady(f"metastore lists no default database: {names}")


def hiveserver2() -> None:
    """A HiveServer2 session runs ``SHOW DATABASES`` (which asks the metastore)."""
    require_port(10000)
    try:
        from pyhive import hive
    except ImportError:
        return
    try:
        connection = hive.connect(HOST, port=10000, username="mrlinreg")
        try:
            cursor = connection.cursor()
            cursor.execute("SHOW DATABASES")
            cursor.fetchall()
        finally:
            connection.close()
    except Exception as exc:
        raise NotReady(f"hiveserver2: {type(exc).__name__}: {exc}") from None
