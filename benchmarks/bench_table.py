"""The exact fit side by side, in one run: numpy, Spark MLlib and mrlinreg, as a markdown table.

    python benchmarks/bench_table.py [--repeat 3] [--growth-repeat 1] [--grid cross|full]
                                     [--no-spark] [--no-growth] [--data-dir data/bench]

Data: ``n`` rows of ``d`` standard-normal features and a linear label with noise,
written with 10 significant digits and a header line (1M x 20 is 276 MB).  Every
figure is the wall time of a whole fresh process (start-up included), the
median of ``--repeat`` runs, and its ratio to numpy's in the same run:

* numpy: ``pyarrow.csv.read_csv`` + ``numpy.linalg.lstsq`` in memory (the reference);
* Spark MLlib 4.3 ``LinearRegression`` (``solver="normal"`` and ``"l-bfgs"``, local[2]):
  whole process, and the ``fit`` call alone (CSV read and ``VectorAssembler`` outside it);
* mrlinreg ``jobs/linreg.py --solver qr`` on ``-r inline``, ``-r local`` and (main table,
  with pyspark as ``cluster up`` fetches it) ``-r spark`` on a local master, and one
  MapReduce pass on ``-r local`` (job start to merged partials, in the driver process);
* the peak RSS of one map task (run by hand over n/10 rows and over n rows: it must not grow).

Cost growth (``--growth-repeat`` runs each): with ``--grid cross`` (default) n = 0.25M,
1M, 4M at d = 20 and d = 20, 100, 500 at n = 0.25M; ``--grid full`` is the whole
3 x 3 grid (4M x 500 is a 34 GB CSV).  numpy only where its matrix fits in ~8 GB.
Figures, not assertions: the machine may be shared, so read medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINREG = os.path.join(ROOT, "jobs", "linreg.py")
NUMPY_MAX_BYTES = 8 << 30

NUMPY_CODE = """
import sys, numpy as np, pyarrow.csv as pc
t = pc.read_csv(sys.argv[1])
M = np.column_stack([c.to_numpy() for c in t.columns]); del t
A = np.column_stack([M[:, :-1], np.ones(len(M))])
w = np.linalg.lstsq(A, M[:, -1], rcond=None)[0]
print(w[0])
"""

SPARK_CODE = """
import json, sys, time
from pyspark.sql import SparkSession
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.regression import LinearRegression
path, solver = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
spark = (SparkSession.builder.master("local[2]").appName("bench")
         .config("spark.driver.memory", "6g").config("spark.ui.enabled", "false")
         .getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
t1 = time.perf_counter()
df = spark.read.csv(path, header=True, inferSchema=False)
cols = df.columns
df = df.select(*[df[c].cast("double").alias(c) for c in cols])
data = VectorAssembler(inputCols=cols[:-1], outputCol="features").transform(df) \\
    .select("features", cols[-1]).cache()
data.count()
t2 = time.perf_counter()
model = LinearRegression(featuresCol="features", labelCol=cols[-1], solver=solver,
                         regParam=0.0, elasticNetParam=0.0, maxIter=100, tol=1e-10,
                         standardization=False).fit(data)
t3 = time.perf_counter()
print(json.dumps({"session": t1 - t0, "read": t2 - t1, "fit": t3 - t2,
                  "coef0": float(model.coefficients[0])}))
spark.stop()
"""

PASS_CODE = """
import json, sys, tempfile, time
sys.path.insert(0, sys.argv[2])
from mrlinreg.driver.inputs import resolve_format
from mrlinreg.driver.passes import PassRunner
from mrlinreg.fs import FileSystem
path = sys.argv[1]
fmt, feats, _ = resolve_format([path], FileSystem())
with tempfile.TemporaryDirectory() as w:
    passes = PassRunner(["-r", "local", path], w, say=lambda line: None)
    t = time.perf_counter()
    res = passes.run({"pass": "moments", "format": fmt.to_dict()})
    print(json.dumps({"pass": time.perf_counter() - t, "n": res.acc.n}))
"""


def make_data(path, n, d, seed=1):
    """``n`` rows of ``d`` standard-normal features and a label, 10 significant digits."""
    if os.path.exists(path):
        return
    import numpy as np

    rng = np.random.default_rng(seed)
    beta = rng.standard_normal(d)
    tmp = path + ".tmp"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(tmp, "w") as f:
        f.write(",".join([f"x{j}" for j in range(d)] + ["y"]) + "\n")
        step = max(1, 2_000_000 // d)
        for s in range(0, n, step):
            m = min(step, n - s)
            X = rng.standard_normal((m, d))
            y = X @ beta + 0.5 + 0.1 * rng.standard_normal(m)
            np.savetxt(f, np.column_stack([X, y]), delimiter=",", fmt="%.10g")
    os.replace(tmp, path)


def timed(cmd, env=None, timeout=7200):
    """Wall seconds of a whole process and its stdout (raises if it fails)."""
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed: {p.stderr[-2000:]}")
    return dt, p.stdout


def spark_env():
    from mrlinreg.cluster.paths import default_cache

    site = default_cache() / "pyspark-4.3.0"
    home = site / "pyspark"
    py4j = sorted((home / "python" / "lib").glob("py4j-*-src.zip"))
    if not home.exists():
        return None
    return dict(os.environ, SPARK_HOME=str(home), PYSPARK_PYTHON=sys.executable,
                PYTHONPATH=os.pathsep.join([str(site), *map(str, py4j[-1:])]))


def mapper_peak_rss_mb(path, rows):
    """Peak RSS of one map task run by hand over the first ``rows`` data lines."""
    sys.path.insert(0, ROOT)
    from mrlinreg.driver.inputs import resolve_format
    from mrlinreg.fs import FileSystem

    fmt, _, _ = resolve_format([path], FileSystem())
    with tempfile.TemporaryDirectory() as work:
        pfile = os.path.join(work, "params.json")
        with open(pfile, "w") as f:
            json.dump({"pass": "moments", "format": fmt.to_dict()}, f)
        head = subprocess.Popen(["head", "-n", str(rows + 1), path], stdout=subprocess.PIPE)
        task = subprocess.Popen([sys.executable, os.path.join(ROOT, "mrlinreg", "jobs",
                                                              "linreg_pass.py"),
                                 "--step-num=0", "--mapper", "--params", pfile],
                                stdin=head.stdout, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        head.stdout.close()
        _, status, usage = os.wait4(task.pid, 0)
        head.wait()
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError("mapper task failed")
        return usage.ru_maxrss / 1024


def measure(path, n, d, repeat, spark, ours=("inline", "local"), one_pass=True):
    """{label: [seconds, ...]} for one data file."""
    runs = {}

    def add(label, seconds):
        runs.setdefault(label, []).append(seconds)

    numpy_fits = n * (d + 2) * 8 * 2 <= NUMPY_MAX_BYTES  # the matrix and its copy
    for _ in range(repeat):
        if numpy_fits:
            add("numpy read_csv + lstsq", timed([sys.executable, "-c", NUMPY_CODE, path])[0])
        for runner in (r for r in ours if r != "spark"):
            add(f"mrlinreg qr, -r {runner}",
                timed([sys.executable, LINREG, "-r", runner, "--solver", "qr", "--quiet",
                       path])[0])
        if spark is not None and "spark" in ours:
            env = dict(spark, PYTHONPATH=os.pathsep.join([spark["PYTHONPATH"], ROOT]))
            add("mrlinreg qr, -r spark (local master)",
                timed([sys.executable, LINREG, "-r", "spark", "--no-conf", "--python-bin",
                       sys.executable, "--solver", "qr", "--quiet", path], env=env)[0])
        if one_pass:
            _, out = timed([sys.executable, "-c", PASS_CODE, path, ROOT])
            add("mrlinreg one pass, -r local (in driver)", json.loads(out)["pass"])
        if spark is not None:
            for solver in ("normal", "l-bfgs"):
                dt, out = timed([sys.executable, "-c", SPARK_CODE, path, solver], env=spark)
                rec = json.loads(out.strip().splitlines()[-1])
                add(f"Spark MLlib {solver}, local[2]: whole process", dt)
                add(f"Spark MLlib {solver}: fit() alone", rec["fit"])
    return runs


def table(title, runs, ref="numpy read_csv + lstsq"):
    ref_s = statistics.median(runs[ref]) if ref in runs else None
    lines = [f"**{title}**", "", "| what | median s | runs | × numpy |", "|---|---:|---:|---:|"]
    for label, secs in runs.items():
        med = statistics.median(secs)
        ratio = f"{med / ref_s:.2f}" if ref_s else "–"
        lines.append(f"| {label} | {med:.2f} | {len(secs)} | {ratio} |")
    return "\n".join(lines)


def machine():
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()[0]
    return (f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
            f"{mem:.0f} GB RAM, Python {platform.python_version()}, load average at start "
            f"{load:.1f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--growth-repeat", type=int, default=1)
    ap.add_argument("--grid", choices=["cross", "full"], default="cross")
    ap.add_argument("--no-spark", action="store_true")
    ap.add_argument("--no-growth", action="store_true")
    ap.add_argument("--no-main", action="store_true", help="only the cost-growth table")
    ap.add_argument("--data-dir", default=os.path.join(ROOT, "data", "bench"))
    a = ap.parse_args()
    spark = None if a.no_spark else spark_env()

    def data(n, d):
        path = os.path.join(a.data_dir, f"table-{n}x{d}.csv")
        make_data(path, n, d)
        return path

    print(f"machine: {machine()}\n", flush=True)
    main_path = data(1_000_000, 20)
    runs = {}
    if not a.no_main:
        size = os.path.getsize(main_path) / 1e6
        runs = measure(main_path, 1_000_000, 20, a.repeat, spark,
                       ours=("inline", "local", "spark"))
        print(table(f"1,000,000 rows × 20 features ({size:.0f} MB CSV), {a.repeat} runs", runs))
        rss = {rows: mapper_peak_rss_mb(main_path, rows) for rows in (100_000, 1_000_000)}
        print("\none map task's peak RSS: " + ", ".join(
            f"{rows:,} rows {mb:.0f} MB" for rows, mb in rss.items()) + "\n", flush=True)

    if a.no_growth:
        return
    ns, ds = (250_000, 1_000_000, 4_000_000), (20, 100, 500)
    cells = ([(n, d) for n in ns for d in ds] if a.grid == "full" else
             [(n, 20) for n in ns] + [(250_000, d) for d in ds[1:]])
    rows = ["| n | d | CSV MB | numpy s | Spark normal s | Spark l-bfgs s | ours inline s "
            "| ours local s | local × numpy |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n, d in cells:
        path = data(n, d)
        r = runs if runs and (n, d) == (1_000_000, 20) else \
            measure(path, n, d, a.growth_repeat, spark, one_pass=False)

        def med(label):
            return statistics.median(r[label]) if label in r else None

        def fmt(x):
            return "–" if x is None else f"{x:.1f}"

        ref, local = med("numpy read_csv + lstsq"), med("mrlinreg qr, -r local")
        rows.append(f"| {n:,} | {d} | {os.path.getsize(path) / 1e6:.0f} | {fmt(ref)} | "
                    f"{fmt(med('Spark MLlib normal, local[2]: whole process'))} | "
                    f"{fmt(med('Spark MLlib l-bfgs, local[2]: whole process'))} | "
                    f"{fmt(med('mrlinreg qr, -r inline'))} | {fmt(local)} | "
                    f"{'–' if not ref else f'{local / ref:.2f}'} |")
        print(rows[-1], flush=True)
    print(f"\n**Cost growth** (whole processes, {a.growth_repeat} run(s) each)\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
