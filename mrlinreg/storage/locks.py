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

A flock belongs to the file, not to its name: if the state dir is removed under a
running trainer, a second trainer would create a new file and lock that.  So on
Linux the local lock also binds an abstract Unix socket named after the lock
file's absolute path (``\0mrlinreg-lock-<hash>``): a name the kernel owns, that no
file operation can remove, released when the process exits, exactly like the flock.
"""

from __future__ import annotations

import errno
import fcntl
import getpass
import hashlib
import logging
import os
import socket
import sys
import threading
import time
from pathlib import Path

from mrlinreg.schema import validate_key_name
from mrlinreg.storage.errors import LockLostError, ModelLockedError
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
        self._sock = None

    def kernel_name(self) -> bytes:
        """The abstract socket name of this lock (same path, same name, even after the
        folder was removed and made again)."""
        digest = hashlib.sha256(os.path.abspath(self.path).encode("utf-8")).hexdigest()
        return b"\0mrlinreg-lock-" + digest[:40].encode()

    def _bind(self):
        """Bind the lock's abstract socket; None when another process has it."""
        if not sys.platform.startswith("linux"):
            return True  # no abstract sockets: the flock alone
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(self.kernel_name())
        except OSError as e:
            sock.close()
            if e.errno == errno.EADDRINUSE:
                return None
            raise
        return sock

    def _holder(self):
        try:
            return self.path.read_text().strip() or None
        except OSError:
            return None

    def acquire(self):
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            held = self._try_acquire()
            if held:
                return self
            if not self.wait:
                raise ModelLockedError(self.model_name, self._holder())
            if deadline is not None and time.monotonic() >= deadline:
                raise ModelLockedError(self.model_name, self._holder(), waited=self.timeout)
            time.sleep(self.poll_s)

    def _try_acquire(self) -> bool:
        """Take the kernel name, then the flock (both, or neither)."""
        sock = self._bind()
        if sock is None:
            return False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                self._close(sock)
                return False
        except BaseException:
            self._close(sock)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, holder_identifier().encode())
        self._fd, self._sock = fd, sock
        return True

    @staticmethod
    def _close(sock):
        if sock is not True:
            sock.close()

    def ensure_held(self):
        """A kernel lock held by this process cannot be lost: nothing to check."""

    def release(self):
        fd, self._fd = self._fd, None
        sock, self._sock = self._sock, None
        if fd is not None:
            os.ftruncate(fd, 0)  # no stale holder name for the next reader
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        if sock is not None:
            self._close(sock)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()
        return False


#: reconnection attempts of the lock's client: at most this far apart (kazoo's default
#: backoff grows to an hour, which would let a live session expire after a restart)
RECONNECT_MAX_DELAY_S = 1.0


def _kazoo_client(hosts, timeout):
    from kazoo.client import KazooClient
    return KazooClient(hosts=hosts, timeout=timeout,
                       connection_retry=dict(max_tries=-1, delay=0.1, backoff=2,
                                             max_delay=RECONNECT_MAX_DELAY_S))


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
    on_lost : callable, optional
        ``f(LockLostError)``, called from a background thread the moment the lock is
        given up (the driver stops its running work with it).

    While held, the lock watches its ZooKeeper session (a kazoo state listener):

    * SUSPENDED (the connection dropped): :meth:`ensure_held`, which the driver calls
      before it starts new work, waits for the connection to come back;
    * CONNECTED again with the same session: the lock node is still ours (checked
      once), work goes on;
    * LOST (the session expired), or still SUSPENDED after ``grace_s`` (half the
      session timeout): the lock is given up.  ZooKeeper expires a session no sooner
      than one session timeout after it last heard from the client (a restarted
      server gives every restored session a whole timeout to reconnect), so a
      trainer that stops within half of it never overlaps the next holder.  It is
      never re-acquired: another trainer may have had it in between.
    """

    service = "ZooKeeper"

    def __init__(self, model_name, *, hosts="127.0.0.1:2181", lock_root="/mrlinreg/locks",
                 wait=False, timeout=None, connect_timeout_s=10.0, retry=None,
                 client_factory=_kazoo_client, on_lost=None, grace_s=None):
        self.model_name = validate_key_name(model_name, "model name")
        self.hosts, self.path = hosts, f"{lock_root.rstrip('/')}/{model_name}"
        self.wait, self.timeout = wait, timeout
        self.connect_timeout_s = connect_timeout_s
        self.grace_s = connect_timeout_s / 2 if grace_s is None else grace_s
        self.retry = dict(retry or {})
        self._factory = client_factory
        self._client = None
        self._lock = None
        self.on_lost = on_lost
        self._changed = threading.Condition()
        self._suspended_at = None  # monotonic time the connection dropped, while it is down
        self._epoch = 0            # counts suspensions (a timer acts on its own only)
        self._recheck = False      # reconnected: verify the lock node once
        self._lost = None          # LockLostError once the lock is given up
        self._releasing = False    # release() closes the session: its LOST is no loss

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
        self._client.add_listener(self._on_state)
        return self

    # --- watching the session -------------------------------------------

    def _on_state(self, state):
        """kazoo's listener (its own thread: must not block)."""
        with self._changed:
            if self._lost is not None or self._releasing:
                return True  # given up, or our own release closes the session: stop listening
            if state == "SUSPENDED":
                self._epoch += 1
                self._suspended_at = time.monotonic()
                log.warning("ZooKeeper connection of the lock of %r lost; no new work "
                            "starts until it is back (at most %.3g s)", self.model_name,
                            self.grace_s)
                timer = threading.Timer(self.grace_s, self._give_up_if_suspended,
                                        args=(self._epoch,))
                timer.daemon = True
                timer.start()
            elif state == "CONNECTED":
                if self._suspended_at is not None:
                    self._recheck = True
                self._suspended_at = None
            elif state == "LOST":
                self._give_up("its ZooKeeper session expired")
            self._changed.notify_all()
        return self._lost is not None

    def _give_up_if_suspended(self, epoch):
        with self._changed:
            if self._lost is None and self._suspended_at is not None and epoch == self._epoch:
                self._give_up(f"ZooKeeper at {self.hosts} was unreachable for "
                              f"{self.grace_s:.3g} s (half the session timeout), after "
                              "which the lock may expire and pass to another trainer")
                self._changed.notify_all()

    def _give_up(self, reason):
        """Mark the lock lost (called holding ``_changed``) and tell ``on_lost``."""
        self._lost = LockLostError(self.model_name, reason)
        log.warning("giving up the lock of model %r: %s", self.model_name, reason)
        if self.on_lost is not None:
            threading.Thread(target=self.on_lost, args=(self._lost,), daemon=True).start()

    def ensure_held(self):
        """Return while the lock is ours; raise :class:`LockLostError` once it is not.

        While the connection is down this waits for it (at most until the grace
        period ends).  After a reconnection it checks once that the lock node exists.
        """
        with self._changed:
            while self._lost is None and self._suspended_at is not None:
                left = self._suspended_at + self.grace_s - time.monotonic()
                if left <= 0:
                    self._give_up_if_suspended(self._epoch)
                    break
                self._changed.wait(left)
            if self._lost is not None:
                raise self._lost
            recheck, self._recheck = self._recheck, False
        if recheck:
            try:
                node = getattr(self._lock, "node", None)
                ours = node is None or self._client.exists(f"{self.path}/{node}") is not None
            except Exception as exc:  # noqa: BLE001 - cannot tell: not safe to go on
                ours, why = False, f"its node could not be read after a reconnection ({exc})"
            else:
                why = "its node is gone after a reconnection"
            if not ours:
                with self._changed:
                    if self._lost is None:
                        self._give_up(why)
                    raise self._lost

    def release(self):
        with self._changed:
            self._releasing = True
        if self._client is not None:
            self._client.remove_listener(self._on_state)
        if self._lost is not None or self._suspended_at is not None:
            # nothing to delete (the session is gone), or no server to delete it on:
            # closing the session removes the node; never wait on a retry loop here
            self._stop()
            return
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
