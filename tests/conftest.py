"""Every non-integration test gets its own local state directory (warehouse, snapshots,
locks, outbox), so tests never touch ./var or one another's models, and no MRLINREG_*
setting from the shell (e.g. mode=cluster) nor the cluster's HADOOP_*/MRJOB_CONF leaks in: the source tree's conf/mrlinreg.ini
(mode = local) applies unless a test says otherwise."""

import os

import pytest

# what `python -m mrlinreg.cluster env` exports; only integration tests may see it
CLUSTER_ENV = ("HADOOP_HOME", "HADOOP_CONF_DIR", "MRJOB_CONF")


@pytest.fixture(autouse=True)
def _local_state(request, tmp_path, monkeypatch):
    if request.node.get_closest_marker("integration") is None:
        for name in list(os.environ):
            if name.startswith("MRLINREG_") or name in CLUSTER_ENV:
                monkeypatch.delenv(name)
        monkeypatch.setenv("MRLINREG_STATE_DIR", str(tmp_path / "state"))
    yield
