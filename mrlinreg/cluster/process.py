"""Start, find and stop the cluster's daemons: pid files, process groups, no orphans.

Every daemon is started in a session of its own (so a signal reaches its children too)
and carries the cluster home in its command line, which lets ``down`` find anything a
lost pid file would hide.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterable, Mapping, Sequence


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def alive(pid: int | None) -> bool:
    """True when ``pid`` runs and is not a zombie."""
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def running_pid(pid_file: Path, marker: str) -> int | None:
    """The pid in ``pid_file`` if that process still runs and is ours (has ``marker``)."""
    pid = read_pid(pid_file)
    if alive(pid) and f"{marker} " in cmdline(pid) + " ":
        return pid
    return None


def launch(command: Sequence[str], log_file: Path, pid_file: Path,
           env: Mapping[str, str], cwd: Path) -> int:
    """Start ``command`` detached in its own session; output appended to ``log_file``."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    cwd.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: "
                  f"{' '.join(command)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            list(command), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=dict(env), cwd=cwd, start_new_session=True)
    pid_file.write_text(f"{process.pid}\n")
    # Forget the Popen object on purpose: the daemon outlives this process.
    process.returncode = 0
    return process.pid


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # session leader: its pid is the group id
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is our own child (started by this same process)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop_all(pids: Iterable[int], timeout: float) -> list[int]:
    """SIGTERM each process group, SIGKILL what is left after ``timeout`` seconds.

    Returns the pids that needed SIGKILL.
    """
    pids = [pid for pid in pids if alive(pid)]
    for pid in pids:
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in pids:
            _reap(pid)
        if not any(alive(pid) for pid in pids):
            return []
        time.sleep(0.3)
    killed = [pid for pid in pids if alive(pid)]
    for pid in killed:
        _signal_group(pid, signal.SIGKILL)
    for _ in range(50):
        for pid in killed:
            _reap(pid)
        if not any(alive(pid) for pid in killed):
            break
        time.sleep(0.1)
    return killed


def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def strays(home: Path) -> list[int]:
    """Processes left from this cluster: YARN containers, daemons whose pid file was lost.

    Only what is unmistakably ours: a daemon carrying this home's marker option, or a
    YARN container (its command line names this home's NodeManager directories).
    Anything else that merely mentions the home (a ``tail -f`` of a log, a ``hadoop``
    client) is left alone.
    """
    needles = (f"-Dmrlinreg.cluster.home={home} ", f"{home}/data/yarn/",
               f"{home}/logs/userlogs/")
    mine, found = _ancestors(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        line = cmdline(pid) + " "
        if pid not in mine and any(n in line for n in needles) and alive(pid):
            found.append(pid)
    return found


def kill_strays(pids: Sequence[int], timeout: float = 10.0) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.2)
    for pid in pids:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` in KiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
