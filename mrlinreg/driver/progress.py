"""Progress lines while a MapReduce pass runs: map %, reduce %, rows read, YARN application.

mrjob's ``runner.run()`` blocks until the job ends.  :class:`PassProgress` is a
daemon thread that, every ``every`` seconds while it runs, says one line such as::

    pass 2 (mrlinreg m1 tsqr): map 45% reduce 0%, rows read 452,112, 11 s  [application_1_0003
    http://rm:8088/proxy/application_1_0003/]      (one line)

Where the figures come from:

* ``-r hadoop``: the ``hadoop jar`` output that mrjob logs (logger
  ``mrjob.logs.step``: ``map 45% reduce 0%``, ``Submitted application ...``,
  ``The url to track the job: ...``), captured by :class:`StreamingLogCapture`; rows
  read from the running job's counters (the MapReduce application master's REST
  API behind the tracking URL), when it answers within a second.
* ``-r local`` / ``-r inline``: the tasks' own counters (``reporter:counter:`` lines
  in their stderr files, which mrjob's simulated runners keep under the runner's
  temp dir): bytes read over the bytes of all map splits, and rows read.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import threading
import time
import urllib.request

MAP_REDUCE_RE = re.compile(r"map\s+(\d+)%\s+reduce\s+(\d+)%")
APP_RE = re.compile(r"(application_\d+_\d+)")
JOB_RE = re.compile(r"Running job: (job_\d+_\d+)")
URL_RE = re.compile(r"The url to track the job: (\S+)")
COUNTER_RE = re.compile(rb"reporter:counter:mrlinreg,(bytes read|rows read),(\d+)")


class StreamingLogCapture(logging.Handler):
    """Keeps the latest state from the ``hadoop jar`` lines mrjob logs at INFO.

    While installed, INFO records of ``mrjob.logs.step`` stop here (the CLI keeps
    mrjob quiet); warnings and errors still go on to the usual handlers.
    """

    LOGGER = "mrjob.logs.step"

    def __init__(self):
        super().__init__(logging.INFO)
        self.state = {}

    def emit(self, record):
        msg = record.getMessage()
        if m := MAP_REDUCE_RE.search(msg):
            self.state["map"], self.state["reduce"] = int(m.group(1)), int(m.group(2))
        if (m := APP_RE.search(msg)) and "application" not in self.state:
            self.state["application"] = m.group(1)
        if m := JOB_RE.search(msg):
            self.state["job"] = m.group(1)
        if m := URL_RE.search(msg):
            self.state["url"] = m.group(1)
        if record.levelno >= logging.WARNING:
            logging.getLogger("mrjob.logs").handle(record)

    def __enter__(self):
        log = logging.getLogger(self.LOGGER)
        self._saved = log.level, log.propagate
        log.setLevel(logging.INFO)
        log.propagate = False
        log.addHandler(self)
        return self

    def __exit__(self, *exc):
        log = logging.getLogger(self.LOGGER)
        log.removeHandler(self)
        log.setLevel(self._saved[0])
        log.propagate = self._saved[1]


def sim_task_state(runner, step_num: int = 0) -> dict:
    """Map %, reduce % and rows read of a local/inline runner's running step, from the
    split files and the tasks' counter lines."""
    try:
        step_dir = runner._step_dir(step_num)
    except Exception:  # no temp dir yet
        return {}
    splits = glob.glob(os.path.join(step_dir, "mapper", "*", "input"))
    total = sum(_size(p) for p in splits)
    done = {"bytes read": 0, "rows read": 0}
    for path in glob.glob(os.path.join(step_dir, "mapper", "*", "stderr")):
        try:
            with open(path, "rb") as f:
                text = f.read()
        except OSError:
            continue
        for name, value in COUNTER_RE.findall(text):
            done[name.decode()] += int(value)
    state = {"rows": done["rows read"]}
    if total:
        state["map"] = min(100, int(100 * done["bytes read"] / total))
    outputs = glob.glob(os.path.join(runner._output_dir or "", "part-*"))
    state["reduce"] = 100 if any(_size(p) for p in outputs) else 0
    return state


def _size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def yarn_rows_read(url: str, job_id: str, timeout: float = 1.0):
    """Rows read so far by a running MapReduce job, from its application master's counters
    (``<tracking url>ws/v1/mapreduce/jobs/<job>/counters``); None when it does not answer."""
    if not url or not job_id:
        return None
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/ws/v1/mapreduce/jobs/{job_id}/counters",
                                    timeout=timeout) as r:
            body = json.load(r)
    except Exception:  # not running yet, finished, or the proxy refuses: no figure
        return None
    for group in body.get("jobCounters", {}).get("counterGroup", []):
        if group.get("counterGroupName") == "mrlinreg":
            for c in group.get("counter", []):
                if c.get("name") == "rows read":
                    return int(c.get("totalCounterValue") or c.get("mapCounterValue") or 0)
    return None


def progress_line(label: str, state: dict, elapsed: float) -> str:
    """One progress line from a state dict (keys map, reduce, rows, application, url)."""
    if "map" in state:
        parts = [f"map {state['map']}% reduce {state.get('reduce', 0)}%"]
    else:  # YARN has the application but the job client has not reported a percentage yet
        parts = ["waiting for YARN, map 0% reduce 0%" if state.get("application") else "starting"]
    if state.get("rows") is not None:
        parts.append(f"rows read {state['rows']:,}")
    parts.append(f"{elapsed:.0f} s")
    line = f"{label}: " + ", ".join(parts)
    if state.get("application"):
        url = f" {state['url']}" if state.get("url") else ""
        line += f"  [{state['application']}{url}]"
    return line


class PassProgress:
    """Says a progress line every ``every`` seconds while a pass's runner runs."""

    def __init__(self, runner, label: str, say, every: float = 3.0,
                 capture: StreamingLogCapture | None = None):
        self.runner, self.label, self.say, self.every = runner, label, say, every
        self.capture = capture
        self.sim = hasattr(runner, "_task_stderr_paths_glob")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pass-progress", daemon=True)
        self.t0 = time.monotonic()
        self.lines = 0

    def state(self) -> dict:
        if self.sim:
            return sim_task_state(self.runner)
        state = dict(self.capture.state) if self.capture else {}
        rows = yarn_rows_read(state.get("url"), state.get("job"))
        if rows is not None:
            state["rows"] = rows
        return state

    def _loop(self):
        while not self._stop.wait(self.every):
            try:
                line = progress_line(self.label, self.state(), time.monotonic() - self.t0)
            except Exception:  # progress must never break a pass
                continue
            self.say(line)
            self.lines += 1

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
