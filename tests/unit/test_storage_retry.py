"""with_retries: backoff, what is retried, messages without secrets."""

import pytest

from mrlinreg.storage.errors import StorageUnavailableError
from mrlinreg.storage.retry import with_retries


def test_retries_with_exponential_backoff_then_succeeds():
    calls, sleeps = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionRefusedError("refused")
        return "ok"

    assert with_retries(flaky, service="Hive", address="h:1", attempts=5, base_delay_s=0.5,
                        max_delay_s=0.8, sleep=sleeps.append) == "ok"
    assert sleeps == [0.5, 0.8]


def test_gives_up_with_a_clear_message_without_secrets():
    def down():
        raise ConnectionRefusedError("connect to user:hunter2@h failed")

    sleeps = []
    with pytest.raises(StorageUnavailableError) as err:
        with_retries(down, service="HBase", address="127.0.0.1:9090", attempts=3,
                     base_delay_s=0.1, secrets=("hunter2",), sleep=sleeps.append)
    message = str(err.value)
    assert "HBase at 127.0.0.1:9090 could not be reached after 3 attempts" in message
    assert "hunter2" not in message and "***" in message
    assert err.value.service == "HBase" and len(sleeps) == 2


def test_other_errors_are_not_retried():
    calls = []

    def wrong():
        calls.append(1)
        raise KeyError("bad query")

    with pytest.raises(KeyError):
        with_retries(wrong, service="Hive", address="h:1", attempts=5, sleep=lambda s: None)
    assert len(calls) == 1
