"""Every non-integration test gets its own local state directory (warehouse, snapshots,
locks, outbox), so tests never touch ./var or one another's models."""

import pytest


@pytest.fixture(autouse=True)
def _local_state(request, tmp_path, monkeypatch):
    if request.node.get_closest_marker("integration") is None:
        monkeypatch.setenv("MRLINREG_MODE", "local")
        monkeypatch.setenv("MRLINREG_STATE_DIR", str(tmp_path / "state"))
    yield
