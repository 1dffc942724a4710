"""One lock per model name, so two trainings never write the same model.

Both locks are context managers with the same semantics::

    with ZooKeeperModelLock("demo", hosts="127.0.0.1:2181"):   # or LocalModelLock
        ...train and snapshot...

* ``wait=False`` (default): if another process holds the lock, raise
  :class:`ModelLockedError` at once, naming the holder (``user@host:pid``).
* ``wait=True``: block until the lock is free; with ``timeout`` (seconds) give
  up after that long with :class:`ModelLockedError`.

``ZooKeeperModelLock`` uses a kazoo ``Lock`` recipe at
``<lock_root>/<model_name>`` (ephemeral sequential nodes: a holder that dies
releases the lock when its session expires).  ``LocalModelLock`` uses
``fcntl.flock`` on ``<state_dir>/locks/<model_name>.lock`` (released by the
kernel when the process exits); it only excludes processes on this machine.
"""

from __future__ import annotations

import fcntl
import getpass
import logging
import os
import socket
import time
from pathlib import Path

from mrlinreg.schema import validate_key_name
from mrlinreg.storage.errors import ModelLockedError
from mrlinreg.storage.retry import with_retries

log = logging.getLogger(__name__)


def holder_identifier():
    """``user@host:pid`` of this process."""
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}:{os.getpid()}"


class LocalModelLock:
    """``fcntl.flock`` on a file under ``lock_dir``.

    Parameters
    ----------
    model_name : str
    lock_dir : str or Path
        The config's ``<state_dir>/locks``.
    wait : bool
    timeout : float, optional
        Seconds to wait when ``wait`` (None: forever).
    poll_s : float
        Interval between tries while waiting with a timeout.
    """

    def __init__(self, model_name, *, lock_dir, wait=False, timeout=None, poll_s=0.05):
        self.model_name = validate_key_name(model_name, "model name")
        self.path = Path(lock_dir) / f"{model_name}.lock"
        self.wait, self.timeout, self.poll_s = wait, timeout, poll_s
        self._fd = None

    def _holder(self):
        try:
            return self.path.read_text().strip() or None
        except OSError:
            return None

    def acquire(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            self._lock(fd)
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, holder_identifier().encode())
        self._fd = fd
        return self

    def _lock(self, fd):
        if self.wait and self.timeout is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return
        deadline = time.monotonic() + (self.timeout or 0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if not self.wait:
                    raise ModelLockedError(self.model_name, self._holder()) from None
                if time.monotonic() >= deadline:
                    raise ModelLockedError(self.model_name, self._holder(),
                                           waited=self.timeout) from None
                time.sleep(self.poll_s)

    def release(self):
        fd, self._fd = self._fd, None
        if fd is not None:
            os.ftruncate(fd, 0)  # no stale holder name for the next reader
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()
        return False


def _kazoo_client(hosts, timeout):
    from kazoo.client import KazooClient
    return KazooClient(hosts=hosts, timeout=timeout)


class ZooKeeperModelLock:
    """A kazoo ``Lock`` at ``<lock_root>/<model_name>``.

    Parameters
    ----------
    model_name : str
    hosts : str
        ZooKeeper connect string, ``host:port[,host:port...]``.
    lock_root : str
    wait, timeout : as :class:`LocalModelLock`
    connect_timeout_s : float
        Per connection attempt; attempts follow ``retry``.
    retry : dict, optional
        attempts, base_delay_s, max_delay_s for ``with_retries``.
    client_factory : callable, optional
        ``(hosts, timeout) -> KazooClient`` (tests).
    """

    service = "ZooKeeper"

    def __init__(self, model_name, *, hosts="127.0.0.1:2181", lock_root="/mrlinreg/locks",
                 wait=False, timeout=None, connect_timeout_s=10.0, retry=None,
                 client_factory=_kazoo_client):
        self.model_name = validate_key_name(model_name, "model name")
        self.hosts, self.path = hosts, f"{lock_root.rstrip('/')}/{model_name}"
        self.wait, self.timeout = wait, timeout
        self.connect_timeout_s = connect_timeout_s
        self.retry = dict(retry or {})
        self._factory = client_factory
        self._client = None
        self._lock = None

    def _start(self):
        client = self._factory(self.hosts, self.connect_timeout_s)
        try:
            client.start(timeout=self.connect_timeout_s)
        except BaseException:
            client.close()
            raise
        return client

    def _holder(self):
        try:
            contenders = self._lock.contenders()
        except Exception:
            return None
        return contenders[0] if contenders else None

    def acquire(self):
        from kazoo.exceptions import LockTimeout
        self._client = with_retries(self._start, service=self.service, address=self.hosts,
                                    **self.retry)
        self._lock = self._client.Lock(self.path, identifier=holder_identifier())
        try:
            if not self.wait:
                if not self._lock.acquire(blocking=False):
                    raise ModelLockedError(self.model_name, self._holder())
            else:
                try:
                    self._lock.acquire(blocking=True, timeout=self.timeout)
                except LockTimeout:
                    raise ModelLockedError(self.model_name, self._holder(),
                                           waited=self.timeout) from None
        except BaseException:
            self._stop()
            raise
        return self

    def release(self):
        try:
            if self._lock is not None:
                self._lock.release()
        except Exception as exc:  # closing the session below removes our node anyway
            log.warning("releasing the ZooKeeper lock of %r failed (%s); closing the "
                        "session releases it", self.model_name, exc)
        finally:
            self._stop()

    def _stop(self):
        client, self._client, self._lock = self._client, None, None
        if client is not None:
            try:
                client.stop()
            finally:
                client.close()

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()
        return False
