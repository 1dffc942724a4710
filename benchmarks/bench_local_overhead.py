"""Where a small ``-r local`` fit spends its time, end to end.

    python benchmarks/bench_local_overhead.py [--rows 1000] [--features 5] [--repeat 5]
        [--root before=/path/to/old/checkout --root after=.]

Writes a CSV of ROWS rows, then runs ``jobs/linreg.py -r local --solver qr`` on it
REPEAT times per source tree (runs alternate between trees, so both see the same
load), each a new process, and prints the medians of: wall time; interpreter start and
imports; the driver before the job (reading the header, planning, mrjob's set-up);
the map phase (task processes: count); sort; the reduce phase (count); after the job
(merge, solve, output, exit).  The phases are timed by a probe (``--probe``: this file
as the fit's interpreter) around mrjob's simulated runner's methods.
Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def probe(log_path, root, argv):
    events = {"probe_start": time.time(), "phases": []}
    import atexit

    def dump():
        events["exit"] = time.time()
        with open(log_path, "w") as f:
            json.dump(events, f)

    atexit.register(dump)
    sys.path.insert(0, root)
    import mrlinreg.cli.main  # noqa: F401

    events["imported"] = time.time()
    events["package"] = os.path.dirname(mrlinreg.cli.main.__file__)
    from mrjob import sim

    def timed(name, fn, count=None):
        def wrapper(self, *args):
            t = time.time()
            try:
                return fn(self, *args)
            finally:
                n = count(args) if count else None
                events["phases"].append([name, t, time.time(), n])
        return wrapper

    S = sim.SimMRJobRunner
    S._run = timed("job", S._run)
    S._run_mappers_and_combiners = timed("map", S._run_mappers_and_combiners,
                                         lambda a: len(a[1]))
    S._sort_reducer_input = timed("sort", S._sort_reducer_input)
    S._run_reducers = timed("reduce", S._run_reducers, lambda a: a[1])
    linreg = os.path.join(root, "jobs", "linreg.py")
    sys.argv = [linreg] + argv
    import runpy

    runpy.run_path(linreg, run_name="__main__")


def one_run(root, data, tmp):
    log = os.path.join(tmp, "probe.json")
    cmd = [sys.executable, os.path.abspath(__file__), "--probe", log, root, "--",
           "-r", "local", "--solver", "qr", "--quiet", data]
    load = os.getloadavg()[0]
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
    t1 = time.time()
    if p.returncode:
        sys.exit(p.stderr[-3000:])
    ev = json.load(open(log))
    assert ev["package"].startswith(os.path.abspath(root)), (ev["package"], root)
    ph = {}
    counts = {}
    for name, s, e, n in ev["phases"]:
        ph[name] = ph.get(name, 0.0) + e - s
        if n is not None:
            counts[name] = counts.get(name, 0) + n
    job = [(s, e) for name, s, e, _ in ev["phases"] if name == "job"]
    return {"wall": t1 - t0, "load": load, "python": ev["imported"] - t0,
            "before_job": job[0][0] - ev["imported"], "map": ph.get("map", 0),
            "sort": ph.get("sort", 0), "reduce": ph.get("reduce", 0),
            "job_other": ph["job"] - ph.get("map", 0) - ph.get("sort", 0) - ph.get("reduce", 0),
            "after_job": t1 - job[-1][1], "map_tasks": counts.get("map", 0),
            "reduce_tasks": counts.get("reduce", 0)}


KEYS = [("wall", "wall time"), ("python", "interpreter start + imports"),
        ("before_job", "driver before the job (header, planning)"),
        ("job_other", "mrjob set-up in the job (splits, dist cache, counters)"),
        ("map", "map phase"), ("sort", "sort"), ("reduce", "reduce phase"),
        ("after_job", "after the job (merge, solve, output, exit)")]


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--probe":
        return probe(sys.argv[2], sys.argv[3], sys.argv[5:])
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--features", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--root", action="append", metavar="LABEL=DIR")
    a = ap.parse_args()
    import numpy as np

    roots = [r.split("=", 1) for r in (a.root or [f"this={ROOT}"])]
    tmp = tempfile.mkdtemp(prefix="bench-local-")
    data = os.path.join(tmp, "data.csv")
    rng = np.random.default_rng(3)
    X = rng.standard_normal((a.rows, a.features))
    y = X @ rng.standard_normal(a.features) + 0.1 * rng.standard_normal(a.rows)
    np.savetxt(data, np.column_stack([X, y]), delimiter=",", fmt="%.10g",
               header=",".join([f"x{i}" for i in range(a.features)] + ["y"]), comments="")
    results = {label: [] for label, _ in roots}
    for i in range(a.repeat):
        for label, root in roots:
            r = one_run(os.path.abspath(root), data, tmp)
            results[label].append(r)
            print(f"run {i + 1} {label}: wall {r['wall']:.1f} s, {r['map_tasks']} map + "
                  f"{r['reduce_tasks']} reduce tasks, load {r['load']:.1f}", flush=True)
    print(f"\n{a.rows} x {a.features}, -r local --solver qr, {os.cpu_count()} cores; medians "
          f"of {a.repeat} runs (s)\n")
    print("| | " + " | ".join(label for label, _ in roots) + " |")
    print("|---|" + "---:|" * len(roots))
    for key, text in KEYS:
        print(f"| {text} | " + " | ".join(
            f"{statistics.median(r[key] for r in results[label]):.2f}"
            for label, _ in roots) + " |")
    print("| task processes (map + reduce) | " + " | ".join(
        f"{results[label][0]['map_tasks']} + {results[label][0]['reduce_tasks']}"
        for label, _ in roots) + " |")
    loads = [r["load"] for rs in results.values() for r in rs]
    print(f"\nload average during the runs: {min(loads):.1f}-{max(loads):.1f}")


if __name__ == "__main__":
    main()
