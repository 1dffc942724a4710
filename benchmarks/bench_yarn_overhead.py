"""Where a small ``-r hadoop`` fit spends its time outside the YARN application.

    eval "$(python -m mrlinreg.cluster env)"
    flock -s /work/cluster.lock python benchmarks/bench_yarn_overhead.py [--repeat 3]
        [--rows 20000] [--features 10] [--variant qr --variant summary] [--json FILE]
        [--root before=/path/to/old/checkout --root after=.]

Writes one small CSV into HDFS (over WebHDFS), then runs ``jobs/linreg.py -r hadoop
--solver qr`` (variant ``qr``) and ``... --summary`` (variant ``summary``) on it REPEAT
times each, every run a new process started the way a user starts it, and prints, per
variant, the median and the range of:

* the run's wall time, from just before the process is started to its exit;
* ``python``: interpreter start and the imports up to the driver's first line (the probe
  records when ``mrlinreg.cli.main`` is imported), with the heaviest packages from
  ``-X importtime``;
* each ``hadoop`` CLI call (a logging wrapper given as ``--hadoop-bin``), by subcommand;
* WebHDFS requests (count and time; uploads separately), the package zip;
* for each YARN application (found through the ResourceManager REST API by the run's
  unique model name in the job name): client JVM start and submission (``hadoop jar``
  start to the application's ``startedTime``), the application itself (``startedTime`` to
  ``finishedTime``; ``launchTime`` of the AM inside), and after (``finishedTime`` to the
  client's exit);
* the rest of the driver's Python (sniffing, planning, output), and **outside YARN**:
  wall time minus the applications' own time.

The load average is printed with each run: the machine is shared, so read ratios.
The probe (``--probe``) is this file run as the fit's interpreter: it patches timing
wrappers around the ``hdfs`` client and the package zip, then runs ``jobs/linreg.py``.
Prints figures; not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINREG = os.path.join(ROOT, "jobs", "linreg.py")
HEAVY = ("numpy", "scipy", "pyarrow", "pandas", "mrjob", "hdfs", "requests", "kazoo",
         "happybase", "thriftpy2", "yaml", "matplotlib", "pyspark", "setuptools",
         "pkg_resources", "mrlinreg")

WRAPPER = """#!/usr/bin/env bash
start=$(date +%s.%N)
"{real}" "$@"
rc=$?
printf '%s %s %s %s\\n' "$start" "$(date +%s.%N)" "$rc" "$1" >> "{log}"
exit $rc
"""


# --- the probe: runs inside the fit's process --------------------------------------------

def probe(log_path, root, argv):
    t_probe = time.time()
    events = {"probe_start": t_probe, "webhdfs": [], "uploads": [], "zips": []}
    linreg = os.path.join(root, "jobs", "linreg.py")

    import atexit

    def dump():
        events["exit"] = time.time()
        with open(log_path, "w") as f:
            json.dump(events, f)

    atexit.register(dump)
    sys.path.insert(0, root)
    import mrlinreg.cli.main  # noqa: F401  (the driver's own imports)

    events["imported"] = time.time()
    events["package"] = os.path.dirname(mrlinreg.cli.main.__file__)
    import hdfs.client

    def timed(name, fn, into):
        def wrapper(*args, **kwargs):
            t = time.time()
            try:
                return fn(*args, **kwargs)
            finally:
                into.append([name, t, time.time()])
        return wrapper

    orig_request = hdfs.client.Client._request

    def request(self, method, url, **kwargs):
        t = time.time()
        try:
            return orig_request(self, method, url, **kwargs)
        finally:
            op = (kwargs.get("params") or {}).get("op", method)
            events["webhdfs"].append([op, t, time.time()])

    hdfs.client.Client._request = request
    hdfs.client.Client.upload = timed("upload", hdfs.client.Client.upload, events["uploads"])
    import mrjob.hadoop

    events["jar_lines"] = []
    orig_record = mrjob.hadoop._log_record_from_hadoop

    def record(rec):  # each log line of `hadoop jar`, when the driver read it
        events["jar_lines"].append([time.time(), str(rec.get("message", ""))[:160]])
        return orig_record(rec)

    mrjob.hadoop._log_record_from_hadoop = record
    from mrlinreg.driver import passes

    passes.build_package_zip = timed("zip", passes.build_package_zip, events["zips"])
    sys.argv = [linreg] + argv
    import runpy

    try:
        runpy.run_path(linreg, run_name="__main__")
    except SystemExit as e:
        events["status"] = e.code
        raise


# --- the parent ----------------------------------------------------------------------------

def _get_json(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


def yarn_apps(yarn_url, marker, since_ms):
    data = _get_json(f"{yarn_url}/ws/v1/cluster/apps?startedTimeBegin={since_ms}")
    apps = (data.get("apps") or {}).get("app") or []
    return sorted((a for a in apps if marker in a.get("name", "")),
                  key=lambda a: a["startedTime"])


def importtime_summary(stderr_text):
    """Total import time and the heaviest top-level packages, in s, from -X importtime."""
    per = {}
    total = 0.0
    for line in stderr_text.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if not m:
            continue
        self_us, depth, name = int(m.group(1)), len(m.group(3)), m.group(4)
        total += self_us / 1e6
        top = name.split(".")[0]
        per[top] = per.get(top, 0.0) + self_us / 1e6
        del depth
    heavy = sorted(((k, v) for k, v in per.items() if v >= 0.05), key=lambda kv: -kv[1])
    return total, heavy


def one_run(args, root, variant, input_uri, yarn_url, hadoop_real, tmp, importtime):
    marker = f"speedbench{uuid.uuid4().hex[:8]}"
    hlog = os.path.join(tmp, f"{marker}.hadoop.log")
    wrapper = os.path.join(tmp, f"{marker}.hadoop")
    with open(wrapper, "w") as f:
        f.write(WRAPPER.format(real=hadoop_real, log=hlog))
    os.chmod(wrapper, 0o755)
    plog = os.path.join(tmp, f"{marker}.probe.json")
    fit_args = ["-r", "hadoop", "--hadoop-bin", wrapper, "--solver", "qr",
                "--model-name", marker, "--label", "y", "--quiet"]
    if variant == "summary":
        fit_args.append("--summary")
    fit_args += list(args.fit_arg or []) + [input_uri]
    cmd = [sys.executable] + (["-X", "importtime"] if importtime else []) + \
        [os.path.abspath(__file__), "--probe", plog, root, "--"] + fit_args
    load0 = os.getloadavg()[0]
    since = int(time.time() * 1000) - 1000
    t0 = time.time()
    env = dict(os.environ, MRLINREG_STATE_DIR=os.path.join(tmp, "state"))
    if args.cluster_mode:  # the run's lock in ZooKeeper, its snapshots in HBase
        env["MRLINREG_MODE"] = "cluster"
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, env=env)
    t_end = time.time()
    if p.returncode != 0:
        sys.exit(f"fit failed ({p.returncode}):\n{p.stderr[-3000:]}")
    ev = json.load(open(plog))
    assert ev["package"].startswith(os.path.abspath(root)), (ev["package"], root)
    calls = []
    if os.path.exists(hlog):
        for line in open(hlog):
            s, e, rc, sub = line.split()[:4]
            calls.append((sub, float(s), float(e)))
    apps = yarn_apps(yarn_url, marker, since)
    r = {"wall": t_end - t0, "load": load0,
         "python": ev["imported"] - t0, "interp": ev["probe_start"] - t0,
         "webhdfs_n": len(ev["webhdfs"]),
         "webhdfs": sum(e - s for _, s, e in ev["webhdfs"]),
         "uploads_n": len(ev["uploads"]),
         "uploads": sum(e - s for _, s, e in ev["uploads"]),
         "zip": sum(e - s for _, s, e in ev["zips"]),
         "hadoop_calls": [c[0] for c in calls], "apps": len(apps)}
    other_hadoop = [c for c in calls if c[0] != "jar"]
    r["hadoop_other"] = sum(e - s for _, s, e in other_hadoop)
    jars = [c for c in calls if c[0] == "jar"]
    r["jar"] = sum(e - s for _, s, e in jars)
    inside = before = after = am_wait = 0.0
    for (sub, s, e), app in zip(jars, apps):
        started, finished = app["startedTime"] / 1000, app["finishedTime"] / 1000
        launch = (app.get("launchTime") or app["startedTime"]) / 1000
        before += started - s
        inside += finished - started
        am_wait += launch - started
        after += e - finished
    r.update(jar_before=before, yarn=inside, am_launch=am_wait, jar_after=after)
    # inside the client's "before": JVM start to its first log line, then to the
    # "Submitted application" line (staging files, job submission)
    lines = ev.get("jar_lines", [])
    first = lines[0][0] if lines else None
    submitted = next((t for t, m in lines if "Submitted application" in m), None)
    r["jar_first_line"] = sum(first - s for _, s, _ in jars[:1]) if first else 0.0
    r["jar_submitted"] = sum(submitted - s for _, s, _ in jars[:1]) if submitted else 0.0
    # the driver's own Python after the imports: everything not in a hadoop call, a
    # WebHDFS request or the zip (WebHDFS requests inside an upload counted once)
    upload_reqs = sum(e - s for op, s, e in ev["webhdfs"] if op in ("CREATE", "PUT"))
    r["driver_rest"] = (ev["exit"] - ev["imported"]) - r["jar"] - r["hadoop_other"] - \
        r["zip"] - (r["webhdfs"] - upload_reqs) - r["uploads"]
    r["exit_after_probe"] = t_end - ev["exit"]
    r["outside"] = r["wall"] - inside
    if importtime:
        r["import_total"], r["import_heavy"] = importtime_summary(p.stderr)
    return r


ROWS = [
    ("wall", "wall time of the run"),
    ("outside", "outside YARN applications"),
    ("interp", "interpreter start (to the probe's first line)"),
    ("python", "interpreter start + imports (to mrlinreg.cli.main imported)"),
    ("zip", "package zip"),
    ("uploads", "WebHDFS uploads"),
    ("webhdfs", "all WebHDFS requests"),
    ("hadoop_other", "hadoop CLI calls other than jar"),
    ("jar", "hadoop jar (client JVM + application)"),
    ("jar_before", "  jar start -> application started (JVM, submission)"),
    ("jar_first_line", "    jar start -> its first log line (JVM start, config)"),
    ("jar_submitted", "    jar start -> 'Submitted application' line"),
    ("am_launch", "  application started -> AM launched"),
    ("yarn", "  inside YARN (RM start -> finish)"),
    ("jar_after", "  application finished -> jar client exit"),
    ("driver_rest", "driver Python after imports, not in the above"),
]


def report(variant, runs):
    med = lambda k: statistics.median(r[k] for r in runs)  # noqa: E731
    print(f"\n### {variant}: {len(runs)} runs, load average "
          f"{min(r['load'] for r in runs):.1f}-{max(r['load'] for r in runs):.1f}")
    print(f"YARN applications per run: {sorted({r['apps'] for r in runs})}; hadoop calls: "
          f"{runs[0]['hadoop_calls']}; WebHDFS requests {med('webhdfs_n'):.0f}, "
          f"uploads {med('uploads_n'):.0f}")
    print("| | median s | min-max |\n|---|---:|---:|")
    for key, label in ROWS:
        vals = [r[key] for r in runs]
        print(f"| {label} | {med(key):.1f} | {min(vals):.1f}-{max(vals):.1f} |")
    if "import_total" in runs[0]:
        heavy = runs[-1]["import_heavy"]
        print("imports (-X importtime, last run, self time by top-level package): total "
              f"{runs[-1]['import_total']:.2f} s; " +
              ", ".join(f"{k} {v:.2f}" for k, v in heavy[:10]))


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--probe":
        return probe(sys.argv[2], sys.argv[3], sys.argv[5:])
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--features", type=int, default=10)
    ap.add_argument("--variant", action="append", choices=["qr", "summary"])
    ap.add_argument("--no-importtime", action="store_true")
    ap.add_argument("--cluster-mode", action="store_true",
                    help="MRLINREG_MODE=cluster: ZooKeeper lock, HBase snapshots")
    ap.add_argument("--fit-arg", action="append", help="more fit arguments (repeatable)")
    ap.add_argument("--json", help="write every run's figures here")
    ap.add_argument("--root", action="append", metavar="LABEL=DIR",
                    help="a source tree to run (repeatable: runs alternate between trees, "
                    "e.g. before=/tmp/old after=.); default: this checkout")
    a = ap.parse_args()
    variants = a.variant or ["qr", "summary"]
    roots = [(label, os.path.abspath(d)) for label, d in
             (r.split("=", 1) for r in (a.root or [f"this={ROOT}"]))]
    sys.path.insert(0, ROOT)
    import numpy as np
    from hdfs import InsecureClient

    from mrlinreg.config import load_config

    cfg = load_config()
    client = InsecureClient(cfg.hdfs.url, user=cfg.hdfs.user)
    yarn_url = os.environ.get("MRLINREG_CLUSTER_YARN_URL", "http://127.0.0.1:8088")
    fs_url = os.environ.get("MRLINREG_CLUSTER_FS", "hdfs://127.0.0.1:8020")
    hadoop_real = os.path.join(os.environ["HADOOP_HOME"], "bin", "hadoop")
    rng = np.random.default_rng(7)
    X = rng.standard_normal((a.rows, a.features))
    y = X @ rng.standard_normal(a.features) + 0.1 * rng.standard_normal(a.rows)
    tmp = tempfile.mkdtemp(prefix="speed-bench-")
    local = os.path.join(tmp, "data.csv")
    header = ",".join([f"x{i}" for i in range(a.features)] + ["y"])
    np.savetxt(local, np.column_stack([X, y]), delimiter=",", header=header, comments="",
               fmt="%.10g")
    base = f"/tmp/speed-bench-{uuid.uuid4().hex[:8]}"
    client.upload(f"{base}/data.csv", local)
    print(f"input: {a.rows} x {a.features} ({os.path.getsize(local) / 1e6:.1f} MB) at {base}; "
          f"{os.cpu_count()} cores")
    results = {}
    try:
        for i in range(a.repeat):
            for v in variants:
                for label, root in roots:
                    r = one_run(a, root, v, f"{fs_url}{base}/data.csv", yarn_url, hadoop_real,
                                tmp, importtime=not a.no_importtime)
                    results.setdefault(f"{label} {v}", []).append(r)
                    print(f"run {i + 1} {label} {v}: wall {r['wall']:.1f} s, outside YARN "
                          f"{r['outside']:.1f} s, {r['apps']} application(s), hadoop calls "
                          f"{r['hadoop_calls']}, load {r['load']:.1f}", flush=True)
    finally:
        client.delete(base, recursive=True)
    for v, runs in results.items():
        report(v, runs)
    if len(roots) == 2:
        print("\n### ratios of medians (first tree / second tree)")
        for v in variants:
            a_runs, b_runs = (results[f"{label} {v}"] for label, _ in roots)
            for key in ("wall", "outside", "python", "jar", "driver_rest"):
                ma = statistics.median(r[key] for r in a_runs)
                mb = statistics.median(r[key] for r in b_runs)
                print(f"{v} {key}: {ma:.1f} s / {mb:.1f} s = {ma / mb if mb else float('inf'):.2f}x")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
