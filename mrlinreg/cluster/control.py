"""Stop and start one service of a running cluster (fault-injection tests).

    stop("hiveserver2")            # SIGTERM its process group, SIGKILL after ``timeout``
    start("hiveserver2")           # launch it again and wait until it answers
    with stopped("hbase-regionserver"): ...   # started again (and answering) on the way out

Only services this cluster started are touched (pid file plus the home's marker
option).  ``start`` launches the service the way ``up`` does (same command, log,
pid file and environment) without fetching or re-rendering anything.
"""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path

from mrlinreg.cluster import fetch, process, probes
from mrlinreg.cluster.paths import ClusterPaths, resolve


def _runtime(paths: ClusterPaths):
    from mrlinreg.cluster.services import Runtime

    java_home = Path(json.loads(paths.env_file.read_text())["java_home"])
    libs = {name: fetch.maven_lib_dir(paths.cache, name) for name in fetch.MAVEN_RUNTIMES}
    return Runtime(paths=paths, java_home=java_home, libs=libs)


def _service(name: str):
    from mrlinreg.cluster.services import BY_NAME

    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown service {name!r} (one of {', '.join(BY_NAME)})") from None


def pid(name: str, home=None) -> int | None:
    """The running service's pid, or None."""
    paths = resolve(home)
    return process.running_pid(paths.pid_file(name), f"-Dmrlinreg.cluster.home={paths.home}")


def answers(name: str) -> bool:
    try:
        _service(name).probe()
        return True
    except probes.NotReady:
        return False


def stop(name: str, home=None, timeout: float = 30.0) -> bool:
    """Stop ``name`` (SIGTERM, SIGKILL after ``timeout``); False if it was not running."""
    _service(name)
    running = pid(name, home)
    if running is None:
        return False
    process.stop_all([running], timeout=timeout)
    return True


def wait_until_answers(name: str, timeout: float | None = None) -> float:
    """Block until ``name`` answers its probe; the seconds waited."""
    service = _service(name)
    limit = service.timeout if timeout is None else timeout
    t0 = time.monotonic()
    while True:
        try:
            service.probe()
            return time.monotonic() - t0
        except probes.NotReady as exc:
            if time.monotonic() - t0 > limit:
                raise TimeoutError(f"{name} does not answer after {limit:.0f} s: {exc}") \
                    from None
        time.sleep(0.5)


def start(name: str, home=None, wait: bool = True, timeout: float | None = None) -> float:
    """Launch ``name`` unless it runs, then (``wait``) until it answers; seconds taken."""
    service = _service(name)
    paths = resolve(home)
    t0 = time.monotonic()
    if pid(name, home) is None:
        rt = _runtime(paths)
        env = service.env(rt) if service.env else rt.env()
        process.launch(service.command(rt), paths.log_file(name), paths.pid_file(name), env,
                       service.cwd(rt))
    if wait:
        wait_until_answers(name, timeout)
    return time.monotonic() - t0


@contextmanager
def stopped(name: str, home=None, timeout: float | None = None):
    """``name`` is stopped in the block and running (answering) after it, whatever happens."""
    stop(name, home)
    try:
        yield
    finally:
        start(name, home, timeout=timeout)
