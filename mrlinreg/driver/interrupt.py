"""SIGINT and SIGTERM stop a driver's work, not only the driver.

mrjob's runners leave work behind when their driver is stopped: the local runner's
task processes are children of its process-pool workers (killing the pool orphans
them), and ``-r hadoop`` submits the job to YARN through a ``hadoop jar`` client
whose death does not stop the application.  Within :func:`handling_signals`:

* the first SIGINT or SIGTERM stops every process the driver started (pool workers,
  task processes, ``hadoop`` clients: its descendants, SIGTERM and after a grace
  period SIGKILL), then raises :class:`Interrupted` in the main thread; context
  managers on the way out release the model's lock and close the stores, and the
  snapshots written so far stay resumable;
* :func:`kill_yarn_applications` (called by the pass and scoring drivers for
  ``-r hadoop``) asks the ResourceManager to kill the applications tagged with the
  pass's :func:`new_job_tag` (``PUT /ws/v1/cluster/apps/<id>/state``);
* further signals are ignored while that clean-up runs: one message, no traceback.

A forked child of the driver (a process-pool worker) inherits the handler: there
SIGINT (a terminal sends it to the whole process group) is left to the driver, and
SIGTERM (the pool's ``terminate()``) just exits.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from contextlib import contextmanager

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: seconds a descendant gets between SIGTERM and SIGKILL
GRACE_S = 2.0
#: YARN application states in which an application still holds or wants containers
ACTIVE_STATES = "NEW,NEW_SAVING,SUBMITTED,ACCEPTED,RUNNING"
#: where ``mrlinreg.cluster env`` says the ResourceManager answers
YARN_URL_ENV = "MRLINREG_CLUSTER_YARN_URL"


class Interrupted(BaseException):
    """The driver received SIGINT or SIGTERM (a ``BaseException``, like
    ``KeyboardInterrupt``: ``except Exception`` clean-up code does not swallow it)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_status(self) -> int:
        """128 + the signal's number, as a shell reports a process killed by it."""
        return 128 + self.signum


class Aborted(Interrupted):
    """The driver stops itself at once, for ``error`` (the model's lock was lost): its
    work is stopped as for SIGTERM, and the command reports ``error`` with its exit
    status (:mod:`mrlinreg.cli.errors`) instead of an interruption."""

    def __init__(self, error: BaseException):
        super().__init__(signal.SIGTERM)
        self.error = error


def _children_map():
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(pid: int | None = None) -> list[int]:
    """Every process below ``pid`` (default: this one), parents before children."""
    if not os.path.isdir("/proc"):
        return []
    children = _children_map()
    out, todo = [], [pid or os.getpid()]
    while todo:
        for child in children.get(todo.pop(), ()):
            out.append(child)
            todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except (ChildProcessError, OSError):
        pass


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def stop_descendants(grace_s: float = GRACE_S) -> list[int]:
    """SIGTERM every descendant, SIGKILL those still running after ``grace_s``.

    Forked copies of this process (multiprocessing pool workers: same command line)
    are left to the pool's own ``terminate()``, which mrjob calls as the interrupt
    unwinds: a worker killed while it holds the pool's queue lock would hang it.
    Returns the pids signalled.
    """
    own = _cmdline(os.getpid())
    pids = [pid for pid in descendants() if _cmdline(pid) != own]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        for pid in pids:
            _reap(pid)
        if not any(_alive(pid) for pid in pids):
            return pids
        time.sleep(0.05)
    for pid in [p for p in descendants() if _cmdline(p) != own] + pids:  # and new ones
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in pids:
        _reap(pid)
    return pids


_main_pid = None
_abort_reason = None  # set by abort(): the SIGTERM it sends raises Aborted


def _handler(signum, frame):
    if os.getpid() != _main_pid:  # a forked pool worker
        if signum == signal.SIGTERM:  # the pool's terminate(): leave quietly
            os._exit(128 + signum)
        return  # a terminal's SIGINT reaches it too: the driver decides
    for sig in SIGNALS:  # the clean-up below, and on the way out, is not interrupted
        signal.signal(sig, signal.SIG_IGN)
    stop_descendants()
    if _abort_reason is not None:
        raise Aborted(_abort_reason)
    raise Interrupted(signum)


def abort(error: BaseException) -> bool:
    """From any thread: stop the driver's work now and make it fail with ``error``.

    Within :func:`handling_signals` this sends the process SIGTERM, whose handler stops
    the work (task processes, the YARN application) and raises :class:`Aborted` in the
    main thread.  Elsewhere (a library caller) it does nothing and returns False: the
    caller's next check raises ``error`` instead.
    """
    global _abort_reason
    if _main_pid != os.getpid() or signal.getsignal(signal.SIGTERM) is not _handler:
        return False
    _abort_reason = error
    os.kill(os.getpid(), signal.SIGTERM)
    return True


PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def _subreaper(on: bool) -> bool:
    """Make orphaned descendants this process's children (Linux), so that a task a
    dying pool worker leaves behind is still found by :func:`descendants`."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, int(on),
                                                       0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


@contextmanager
def handling_signals():
    """Install the SIGINT/SIGTERM handler for the block; restore the previous ones."""
    global _main_pid, _abort_reason
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    _main_pid, _abort_reason = os.getpid(), None
    for sig in SIGNALS:
        signal.signal(sig, _handler)
    reaping = _subreaper(True)
    try:
        yield
    except Interrupted:
        # the pool may have started a task between the handler and its terminate():
        # orphaned, it is our child now (subreaper)
        stop_descendants()
        raise
    finally:
        if reaping:
            _subreaper(False)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def new_job_tag() -> str:
    """A YARN application tag naming one job of this driver (YARN lower-cases tags)."""
    return f"mrlinreg-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def yarn_url() -> str:
    """The ResourceManager's web address: ``$MRLINREG_CLUSTER_YARN_URL``, else
    ``yarn.resourcemanager.webapp.address`` of ``$HADOOP_CONF_DIR/yarn-site.xml``,
    else ``http://localhost:8088``."""
    if os.environ.get(YARN_URL_ENV):
        return os.environ[YARN_URL_ENV].rstrip("/")
    conf = os.environ.get("HADOOP_CONF_DIR")
    if conf:
        import xml.etree.ElementTree as ET

        try:
            root = ET.parse(os.path.join(conf, "yarn-site.xml")).getroot()
            for prop in root.iter("property"):
                if prop.findtext("name") == "yarn.resourcemanager.webapp.address":
                    return "http://" + prop.findtext("value").strip()
        except (OSError, ET.ParseError, AttributeError):
            pass
    return "http://localhost:8088"


def _http(method, url, body=None, timeout=10.0):
    data = None if body is None else json.dumps(body).encode("utf-8")
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json",
                                          "Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        text = resp.read().decode("utf-8")
    return json.loads(text) if text.strip() else {}


def active_applications(tag: str, base_url: str | None = None) -> list[str]:
    """Ids of the not yet finished YARN applications tagged ``tag``."""
    base = base_url or yarn_url()
    query = urllib.parse.urlencode({"applicationTags": tag.lower(), "states": ACTIVE_STATES})
    apps = (_http("GET", f"{base}/ws/v1/cluster/apps?{query}").get("apps") or {}).get("app")
    return sorted(a["id"] for a in apps or () if tag.lower() in (a.get("applicationTags")
                                                                   or "").split(","))


def kill_yarn_applications(tag: str, base_url: str | None = None, user: str | None = None,
                           settle_s: float = 1.0) -> list[str]:
    """Kill the running YARN applications tagged ``tag``; returns their ids.

    The ``hadoop jar`` client is stopped before this is called, so nothing is
    submitted afterwards; one more look after ``settle_s`` catches a submission that
    was under way.  Failures are logged, never raised (the driver is stopping anyway).
    """
    base = base_url or yarn_url()
    user = user or os.environ.get("HADOOP_USER_NAME") or os.environ.get("USER") or "root"
    killed = []
    for attempt in range(2):
        try:
            ids = [i for i in active_applications(tag, base) if i not in killed]
            for app_id in ids:
                _http("PUT", f"{base}/ws/v1/cluster/apps/{app_id}/state?"
                      + urllib.parse.urlencode({"user.name": user}), {"state": "KILLED"})
                killed.append(app_id)
                log.warning("killed YARN application %s", app_id)
        except (OSError, urllib.error.URLError, ValueError) as e:
            log.warning("could not kill the YARN application of job tag %s at %s (%s); "
                        "`yarn application -list` shows it", tag, base, e)
            break
        if attempt == 0:
            time.sleep(settle_s)
    return killed


@contextmanager
def stopping_job(runner_name: str, tag: str):
    """Around one mrjob run: on :class:`Interrupted`, kill its YARN application."""
    try:
        yield
    except Interrupted:
        if runner_name == "hadoop":
            kill_yarn_applications(tag)
        raise
