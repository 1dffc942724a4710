"""Every non-integration test gets its own local state directory (warehouse, snapshots,
locks, outbox), so tests never touch ./var or one another's models, and no MRLINREG_*
setting from the shell (e.g. mode=cluster) leaks in: the source tree's conf/mrlinreg.ini
(mode = local) applies unless a test says otherwise."""

import os

import pytest


@pytest.fixture(autouse=True)
def _local_state(request, tmp_path, monkeypatch):
    if request.node.get_closest_marker("integration") is None:
        for name in list(os.environ):
            if name.startswith("MRLINREG_"):
                monkeypatch.delenv(name)
        monkeypatch.setenv("MRLINREG_STATE_DIR", str(tmp_path / "state"))
    yield
