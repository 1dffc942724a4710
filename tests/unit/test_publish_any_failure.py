"""Issue 9, case 3: a publish failure that is not a StorageError still keeps the run."""

import json

from mrlinreg.config import Config
from mrlinreg.driver.publish import pending_runs, publish_pending, publish_run
from tests.unit.test_storage_results import sample_record


class _Refusing:
    """A results store whose publish fails the way a read-only warehouse does."""

    def __init__(self, exc):
        self.exc, self.published = exc, []

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def publish(self, record):
        if self.exc is not None:
            raise self.exc
        self.published.append(record.run_id)


def test_a_permission_error_puts_the_run_in_the_outbox_and_publish_pushes_it(tmp_path):
    config = Config(mode="local", state_dir=tmp_path / "state")
    record = sample_record()
    outcome = publish_run(record, config, store=_Refusing(PermissionError(13, "denied")))
    assert not outcome.published
    assert "PermissionError" in outcome.message and "mrlinreg publish" in outcome.message
    (path,) = pending_runs(config)
    assert json.loads(path.read_text()) == record.to_json()
    store = _Refusing(None)
    report = publish_pending(config, store=store)
    assert report.published == [record.run_id] and store.published == [record.run_id]
    assert pending_runs(config) == []
