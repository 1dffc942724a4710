"""ZooKeeperModelLock against the ZooKeeper of `python -m mrlinreg.cluster up`.

Fails (never skips) when ZooKeeper cannot be reached.
"""

import threading
import time
import uuid

import pytest

from mrlinreg.config import load_config
from mrlinreg.storage.errors import ModelLockedError
from mrlinreg.storage.locks import ZooKeeperModelLock, holder_identifier

pytestmark = pytest.mark.integration


@pytest.fixture
def lock_factory():
    zk = load_config().zookeeper
    model = f"it-{uuid.uuid4().hex[:10]}"

    def make(**kw):
        return ZooKeeperModelLock(model, hosts=zk.hosts, lock_root=zk.lock_root,
                                  connect_timeout_s=5, retry={"attempts": 2,
                                                              "base_delay_s": 1}, **kw)
    return make


def test_second_lock_is_refused_naming_the_holder(lock_factory):
    with lock_factory():
        with pytest.raises(ModelLockedError) as err:
            with lock_factory():
                pass
        assert err.value.holder == holder_identifier()
    with lock_factory():  # released on exit
        pass


def test_wait_gets_the_lock_after_release(lock_factory):
    first = lock_factory().acquire()
    got = []

    def second():
        with lock_factory(wait=True, timeout=30):
            got.append(time.monotonic())

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(1.0)
    assert not got  # still waiting
    released = time.monotonic()
    first.release()
    thread.join(timeout=30)
    assert got and got[0] >= released


def test_wait_with_timeout_gives_up(lock_factory):
    with lock_factory():
        with pytest.raises(ModelLockedError, match="after waiting 0.5 s"):
            with lock_factory(wait=True, timeout=0.5):
                pass
