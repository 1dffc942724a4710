"""publish_run / publish_pending: outbox when the store is unreachable, nothing lost."""

import json
import socket

import pytest

from mrlinreg.config import Config, HiveConfig, RetryConfig
from mrlinreg.storage.errors import InvalidRecordError
from mrlinreg.storage.factory import open_results_store
from mrlinreg.storage.hive_results import HiveResultsStore
from mrlinreg.storage.local_results import LocalResultsStore
from mrlinreg.cli.main import main as cli_main
from mrlinreg.driver.publish import pending_runs, publish_pending, publish_run
from tests.unit.test_storage_results import sample_record


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def down_config(tmp_path):
    """Cluster mode with Hive on a closed local port and 2 fast attempts."""
    return Config(mode="cluster", state_dir=tmp_path / "state",
                  hive=HiveConfig(port=closed_port(), auth="LDAP", password="hunter2"),
                  retry=RetryConfig(attempts=2, base_delay_s=0.01, max_delay_s=0.01))


def test_factory_picks_hive_in_cluster_mode(down_config):
    assert isinstance(open_results_store(down_config), HiveResultsStore)
    assert isinstance(open_results_store(down_config.replace(mode="local")), LocalResultsStore)


def test_unreachable_store_queues_the_run_in_the_outbox(down_config):
    record = sample_record()
    outcome = publish_run(record, down_config)
    assert not outcome.published
    path = down_config.state_dir / "outbox" / f"{record.run_id}.json"
    assert outcome.outbox_path == path and json.loads(path.read_text()) == record.to_json()
    assert f"127.0.0.1:{down_config.hive.port}" in outcome.message
    assert "after 2 attempts" in outcome.message
    assert "mrlinreg publish" in outcome.message
    assert "hunter2" not in outcome.message


def test_pending_runs_are_pushed_later_and_only_then_deleted(down_config, tmp_path):
    publish_run(sample_record("run-a"), down_config)
    publish_run(sample_record("run-b"), down_config)
    report = publish_pending(down_config)  # still down: everything stays
    assert report.published == [] and [r for r, _ in report.remaining] == ["run-a", "run-b"]
    assert len(pending_runs(down_config)) == 2

    local = LocalResultsStore(tmp_path / "wh")
    report = publish_pending(down_config, store=local)
    assert report.ok and report.published == ["run-a", "run-b"]
    assert pending_runs(down_config) == []
    assert local.read_table("models").column("run_id").to_pylist() == ["run-a", "run-b"]


def test_a_rejected_record_stays_and_the_others_go_on(down_config, tmp_path):
    publish_run(sample_record("run-a"), down_config)
    bad = down_config.state_dir / "outbox" / "run-0.json"
    bad.write_text("{not json")
    report = publish_pending(down_config, store=LocalResultsStore(tmp_path / "wh"))
    assert report.published == ["run-a"]
    assert [r for r, _ in report.remaining] == ["run-0"] and bad.exists()


def test_success_removes_an_older_outbox_copy(down_config, tmp_path):
    publish_run(sample_record("run-a"), down_config)
    outcome = publish_run(sample_record("run-a"), down_config,
                          store=LocalResultsStore(tmp_path / "wh"))
    assert outcome.published and pending_runs(down_config) == []


def test_invalid_record_is_refused_not_queued(down_config):
    record = sample_record()
    record.loss = float("nan")
    with pytest.raises(InvalidRecordError, match="not finite"):
        publish_run(record, down_config)
    assert pending_runs(down_config) == []


def test_local_mode_publishes_to_parquet(tmp_path):
    config = Config(state_dir=tmp_path)
    assert publish_run(sample_record(), config).published
    assert (tmp_path / "warehouse" / "linreg.db" / "models").is_dir()


def main(argv):
    return cli_main(["publish", *argv])


def test_cli_reports_without_traceback(down_config, tmp_path, monkeypatch, capsys):
    for var in ("MRLINREG_MODE", "MRLINREG_STATE_DIR", "MRLINREG_CONFIG"):
        monkeypatch.delenv(var, raising=False)  # the file below must decide
    ini = tmp_path / "c.ini"
    ini.write_text(f"[mrlinreg]\nmode = cluster\nstate_dir = {down_config.state_dir}\n"
                   f"[hive]\nport = {down_config.hive.port}\n"
                   f"[retry]\nattempts = 1\nbase_delay_s = 0\n")
    assert main(["--config", str(ini)]) == 0
    assert "nothing to publish" in capsys.readouterr().out
    publish_run(sample_record("run-a"), down_config)
    assert main(["--config", str(ini), "--list"]) == 0
    assert capsys.readouterr().out.strip() == "run-a"
    assert main(["--config", str(ini)]) == 1
    err = capsys.readouterr().err
    assert "not published run-a: Hive at 127.0.0.1" in err and "Traceback" not in err
    assert "run `mrlinreg publish` again" in err
    assert main(["--config", str(tmp_path / "missing.ini")]) == 2
    assert "cannot read config file" in capsys.readouterr().err


def test_a_server_that_never_answers_times_out(tmp_path):
    """Accepts the TCP connection, then stays silent: bounded by [hive] timeout_s."""
    import time

    from mrlinreg.storage.errors import StorageUnavailableError
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(5)
        store = HiveResultsStore(port=server.getsockname()[1], timeout_s=0.3,
                                 retry={"attempts": 2, "base_delay_s": 0.01})
        start = time.monotonic()
        with pytest.raises(StorageUnavailableError, match="after 2 attempts"):
            store.publish(sample_record())
        assert time.monotonic() - start < 5
