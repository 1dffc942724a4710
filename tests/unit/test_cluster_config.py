"""The Docker-less cluster and docker-compose render the same conf/ templates.

No services needed: renders both profiles into temporary folders and compares them,
and checks that docker-compose.yml wires every service to the rendered configuration.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from mrlinreg.cluster import config, launcher, process
from mrlinreg.cluster.paths import PROJECT_ROOT, TEMPLATE_DIR, ClusterPaths

COMPOSE = PROJECT_ROOT / "docker" / "docker-compose.yml"
SERVICES_IN_COMPOSE = {
    "namenode", "datanode", "resourcemanager", "nodemanager", "historyserver",
    "zookeeper", "hbase-master", "hbase-regionserver", "hbase-thrift",
    "metastore", "hiveserver2",
}


@pytest.fixture
def cluster_paths(tmp_path):
    return ClusterPaths(home=tmp_path / "home", cache=tmp_path / "cache")


@pytest.fixture
def rendered(tmp_path, cluster_paths):
    local = tmp_path / "local"
    docker = tmp_path / "docker"
    config.render(config.local_values(cluster_paths, tmp_path / "cache" / "hadoop" / "lib"),
                  local)
    config.render(config.docker_values(), docker)
    return local, docker


def test_conf_is_the_package_data_directory():
    """One source of truth: ./conf is a relative symlink to mrlinreg/resources/conf,
    which is where the cluster code (importlib.resources) finds the templates."""
    import importlib.resources
    link = PROJECT_ROOT / "conf"
    assert link.is_symlink()
    assert not Path(link.readlink()).is_absolute()
    package_data = Path(str(importlib.resources.files("mrlinreg") / "resources" / "conf"))
    assert link.resolve() == package_data.resolve() == TEMPLATE_DIR.resolve()
    assert (link / "mrlinreg.ini").is_file()


def test_there_are_templates_for_every_service():
    names = {rel.parts[0] for rel in config.template_files()}
    assert names == set(config.SERVICE_DIRS)
    assert Path("hadoop/yarn-site.xml") in config.template_files()


def test_both_profiles_define_the_same_placeholders():
    used = set().union(*(config.placeholders((TEMPLATE_DIR / rel).read_text())
                         for rel in config.template_files()))
    local = config.local_values(ClusterPaths(Path("/h"), Path("/c")), Path("/c/lib"))
    docker = config.docker_values()
    assert set(local) == set(docker) == used


def test_both_profiles_render_the_same_files_and_keys(rendered):
    local, docker = rendered
    files = [rel for rel in config.template_files()]
    for rel in files:
        local_keys = config.configuration_keys(local / rel)
        assert local_keys, rel
        assert local_keys == config.configuration_keys(docker / rel), rel


def test_nothing_is_left_unrendered(rendered):
    for root in rendered:
        for rel in config.template_files():
            assert not config.placeholders((root / rel).read_text()), rel


def test_local_profile_binds_every_service_to_loopback(cluster_paths):
    values = config.local_values(cluster_paths, Path("/c/lib"))
    assert {values[key] for key in config.HOST_KEYS} == {"127.0.0.1"}
    assert values["ZOOKEEPER_BIND"] == "127.0.0.1"


def test_unknown_placeholder_is_an_error():
    with pytest.raises(config.TemplateError, match="NOPE"):
        config.substitute("a=${NOPE}", {}, source="t")
    assert config.substitute("x=${yarn.nodemanager.hostname}", {}) == \
        "x=${yarn.nodemanager.hostname}"


def test_render_leaves_unchanged_files_alone(tmp_path):
    values = config.docker_values()
    config.render(values, tmp_path)
    target = tmp_path / "hadoop" / "core-site.xml"
    before = target.stat().st_mtime_ns
    config.render(values, tmp_path)
    assert target.stat().st_mtime_ns == before


def _compose():
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_has_every_service_with_a_healthcheck():
    services = _compose()["services"]
    assert SERVICES_IN_COMPOSE <= set(services)
    for name in SERVICES_IN_COMPOSE:
        assert "healthcheck" in services[name], name


def test_compose_renders_conf_with_the_cluster_code():
    services = _compose()["services"]
    render = services["render-conf"]
    assert render["command"][:6] == ["python", "-m", "mrlinreg.cluster", "render",
                                     "--profile", "docker"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in render["volumes"]}
    # the templates travel inside the package (mrlinreg/resources/conf)
    assert mounts["/src/mrlinreg"] == "../mrlinreg"
    for name in SERVICES_IN_COMPOSE:
        assert any(v.startswith("rendered:/rendered") for v in services[name]["volumes"]), name


def test_compose_publishes_only_on_loopback():
    for name, service in _compose()["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)


def test_compose_service_names_match_docker_profile_hosts():
    services = set(_compose()["services"])
    hosts = {value for key, value in config.docker_values().items()
             if key in config.HOST_KEYS and value != "0.0.0.0"}
    assert hosts <= services


def test_hadoop_launcher_prints_its_classpath(cluster_paths, tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "hadoop-streaming-3.4.2.jar").write_bytes(b"")
    script = launcher.write_hadoop_home(cluster_paths, Path("/nonexistent-java"), lib)
    out = subprocess.run([str(script), "classpath"], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == f"{cluster_paths.conf / 'hadoop'}:{lib}/*"
    assert launcher.streaming_jar(cluster_paths).name == "hadoop-streaming-3.4.2.jar"
    bad = subprocess.run([str(script), "frobnicate"], capture_output=True, text=True)
    assert bad.returncode == 1 and "usage" in bad.stderr


def test_stray_search_never_returns_this_process(tmp_path):
    assert process.strays(tmp_path) == []


def _properties(path: Path) -> dict[str, str]:
    import xml.etree.ElementTree as ET
    return {p.findtext("name"): p.findtext("value") or ""
            for p in ET.parse(path).getroot().iter("property")}


#: hive-site.xml settings whose values depend on the profile (hosts, folders).
HIVE_PROFILE_KEYS = {
    "hive.metastore.uris", "metastore.thrift.bind.host", "javax.jdo.option.ConnectionURL",
    "hive.metastore.warehouse.dir", "hive.metastore.warehouse.external.dir",
    "hive.server2.thrift.bind.host", "hive.server2.webui.host", "hive.server2.webui.port",
    "hive.exec.local.scratchdir", "hive.downloaded.resources.dir", "hive.querylog.location",
    "hive.server2.logging.operation.log.location",
}


def test_hive_site_is_the_same_in_both_profiles_but_for_hosts_and_folders(rendered):
    local, docker = (_properties(root / "hive" / "hive-site.xml") for root in rendered)
    assert set(local) == set(docker)
    assert HIVE_PROFILE_KEYS <= set(local)
    for key in set(local) - HIVE_PROFILE_KEYS:
        assert local[key] == docker[key], key


def test_hive_site_settings_that_matter(rendered):
    local, docker = (_properties(root / "hive" / "hive-site.xml") for root in rendered)
    for site in (local, docker):
        assert site["hive.server2.thrift.port"] == "10000"
        assert site["hive.server2.transport.mode"] == "binary"
        assert site["hive.server2.authentication"] == "NONE"
        assert site["hive.server2.enable.doAs"] == "false"
        assert site["hive.server2.max.start.attempts"] == "1"
        assert site["hive.metastore.schema.verification"] == "true"
        assert site["hive.execution.engine"] == "mr"
        assert site["mapreduce.framework.name"] == "local"
        assert site["hive.exec.submit.local.task.via.child"] == "false"
        assert site["hive.exec.submitviachild"] == "false"
        assert site["javax.jdo.option.ConnectionDriverName"] == "org.apache.derby.jdbc.EmbeddedDriver"
    assert local["hive.metastore.uris"] == "thrift://127.0.0.1:9083"
    assert local["metastore.thrift.bind.host"] == "127.0.0.1"
    assert local["hive.server2.thrift.bind.host"] == "127.0.0.1"
    assert local["hive.server2.webui.host"] == "127.0.0.1"
    for key in ("hive.metastore.warehouse.dir", "hive.metastore.warehouse.external.dir"):
        assert local[key].startswith("hdfs://127.0.0.1:8020/"), key
        assert docker[key].startswith("hdfs://namenode:8020/"), key
    assert docker["hive.metastore.uris"] == "thrift://metastore:9083"


def test_compose_runs_hive_4_0_1_from_the_rendered_conf():
    services = _compose()["services"]
    for name in ("metastore", "hiveserver2"):
        service = services[name]
        assert service["image"] == "apache/hive:4.0.1", name
        assert service["environment"]["SERVICE_NAME"] == name
        assert service["environment"]["HIVE_CUSTOM_CONF_DIR"] == "/rendered/hive"
    assert "127.0.0.1:10000:10000" in services["hiveserver2"]["ports"]
