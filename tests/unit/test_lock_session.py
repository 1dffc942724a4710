"""The ZooKeeper lock watches its session (issue 9: a ZooKeeper restart never lets a
second trainer run beside the first): a dropped connection holds new work back, a
reconnection within the grace period goes on, an expiry or a longer outage gives the
lock up (LockLostError, ``on_lost`` told once) and nothing is released on a dead session.

A fake kazoo client stands in for the connection; the real ZooKeeper restart is
``tests/integration/test_faults_cluster.py``.
"""

import subprocess
import sys
import textwrap
import threading
import time

import pytest

from mrlinreg.storage.errors import LockLostError, StorageError
from mrlinreg.storage.locks import ZooKeeperModelLock


class FakeLock:
    def __init__(self, client, path):
        self.client, self.path, self.node = client, path, "__lock__0000000001"
        self.released = False

    def acquire(self, blocking=True, timeout=None):
        self.client.nodes.add(f"{self.path}/{self.node}")
        return True

    def release(self):
        self.released = True

    def contenders(self):
        return []


class FakeClient:
    def __init__(self):
        self.listeners, self.nodes, self.stopped = [], set(), False
        self.lock = None

    def start(self, timeout=None):
        pass

    def Lock(self, path, identifier=None):
        self.lock = FakeLock(self, path)
        return self.lock

    def add_listener(self, listener):
        self.listeners.append(listener)

    def remove_listener(self, listener):
        self.listeners.remove(listener) if listener in self.listeners else None

    def state(self, state):
        self.listeners = [f for f in self.listeners if not f(state)]

    def exists(self, path):
        return {"version": 0} if path in self.nodes else None

    def stop(self):
        self.stopped = True
        self.state("LOST")  # kazoo: closing the session is a LOST state change

    def close(self):
        pass


def held(grace_s=0.3):
    client, lost = FakeClient(), []
    lock = ZooKeeperModelLock("m", client_factory=lambda hosts, timeout: client,
                              on_lost=lost.append, grace_s=grace_s).acquire()
    return lock, client, lost


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_reconnection_within_the_grace_period_keeps_the_lock():
    lock, client, lost = held(grace_s=5)
    client.state("SUSPENDED")
    threading.Timer(0.2, client.state, args=("CONNECTED",)).start()
    t0 = time.monotonic()
    lock.ensure_held()  # waits for the connection, then finds its node
    assert 0.1 < time.monotonic() - t0 < 4
    assert lost == []
    lock.release()
    assert client.lock.released and client.stopped


def test_an_outage_longer_than_the_grace_period_gives_the_lock_up_once():
    lock, client, lost = held(grace_s=0.3)
    client.state("SUSPENDED")
    wait_for(lambda: lost)  # the timer gives it up without any call from the driver
    time.sleep(0.1)
    assert len(lost) == 1 and isinstance(lost[0], LockLostError)
    assert isinstance(lost[0], StorageError)  # exit status 1
    assert "unreachable for 0.3 s" in str(lost[0]) and "resume" in str(lost[0])
    with pytest.raises(LockLostError):
        lock.ensure_held()
    client.state("CONNECTED")  # too late: never trusted again
    with pytest.raises(LockLostError):
        lock.ensure_held()
    lock.release()
    assert not client.lock.released and client.stopped  # no retry loop on a dead session


def test_an_expired_session_gives_the_lock_up():
    lock, client, lost = held(grace_s=5)
    client.state("SUSPENDED")
    client.state("LOST")
    wait_for(lambda: lost)
    with pytest.raises(LockLostError) as e:
        lock.ensure_held()
    assert "session expired" in str(e.value)
    assert len(lost) == 1


def test_ensure_held_gives_up_by_itself_when_the_grace_period_ends():
    lock, client, lost = held(grace_s=0.3)
    client.listeners.clear()  # no timer: only the driver's own check
    lock._on_state("SUSPENDED")
    t0 = time.monotonic()
    with pytest.raises(LockLostError):
        lock.ensure_held()
    assert time.monotonic() - t0 < 5


def test_a_node_gone_after_a_reconnection_is_a_lost_lock():
    lock, client, lost = held(grace_s=5)
    client.state("SUSPENDED")
    client.nodes.clear()
    client.state("CONNECTED")
    with pytest.raises(LockLostError) as e:
        lock.ensure_held()
    assert "node is gone" in str(e.value)


def test_a_healthy_session_costs_no_request():
    lock, client, lost = held()
    client.exists = None  # would fail if called
    for _ in range(3):
        lock.ensure_held()
    assert lost == []


ABORT = textwrap.dedent("""
    import sys, threading, time
    from mrlinreg.driver.interrupt import Aborted, abort, handling_signals
    from mrlinreg.storage.errors import LockLostError
    try:
        with handling_signals():
            threading.Timer(0.2, abort, args=(LockLostError("m", "gone"),)).start()
            time.sleep(30)
    except Aborted as e:
        print("aborted:", e.error)
        sys.exit(0)
    sys.exit(3)
""")


def test_abort_stops_the_main_thread_with_the_error():
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-c", ABORT], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    assert "aborted: lost the lock of model 'm': gone" in p.stdout
    assert time.monotonic() - t0 < 25


def test_abort_outside_the_signal_handling_does_nothing():
    from mrlinreg.driver.interrupt import abort

    assert abort(LockLostError("m", "gone")) is False


def test_our_own_release_is_no_loss():
    lock, client, lost = held()
    lock.release()
    time.sleep(0.1)
    assert lost == [] and client.stopped
