"""What publishing predictions adds to a predict job on the cluster.

    eval "$(python -m mrlinreg.cluster env)"
    python benchmarks/bench_publish.py [--rows 1000 100000 1000000] [--repeat 3]

For each size: a generated CSV in HDFS, a model trained on it once, then
``jobs/predict.py -r hadoop`` alone (its output is not read) and with ``--publish`` in cluster mode (the job writes into the predictions table's
folder, the driver registers the partition).  Prints the medians and the difference.
Not a test: figures, not assertions.  Needs the cluster (``mrlinreg.cluster up``).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from mrlinreg.datagen import make_regression, write_csv  # noqa: E402


def run(cmd, env):
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if p.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{p.stderr[-3000:]}")
    return time.perf_counter() - t, p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[1000, 100_000, 1_000_000])
    ap.add_argument("--features", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--hdfs-dir", default="hdfs:///user/mrlinreg/bench-publish")
    a = ap.parse_args()
    env = dict(os.environ, MRLINREG_MODE="cluster")
    hadoop = os.path.join(os.environ["HADOOP_HOME"], "bin", "hadoop")
    work = tempfile.mkdtemp(prefix="bench-publish-")
    print(f"{'rows':>9}  {'job alone (s)':>20}  {'job + publish (s)':>18}  "
          f"{'publish adds (s)':>16}")
    for n in a.rows:
        X, y, _, _ = make_regression(n, a.features, seed=3)
        local = os.path.join(work, f"d{n}.csv")
        write_csv(local, X, y)
        remote = f"{a.hdfs_dir}/d{n}.csv"
        subprocess.run([hadoop, "fs", "-mkdir", "-p", a.hdfs_dir], check=True)
        subprocess.run([hadoop, "fs", "-put", "-f", local, remote], check=True)
        model = os.path.join(work, f"m{n}.json")
        _, p = run([sys.executable, "jobs/linreg.py", "--solver", "qr", "--quiet",
                    "--model-name", "benchpublish", "--output-model", model, local], env)
        rec = json.loads(p.stdout)
        plain, published = [], []
        for _ in range(a.repeat):
            t, _ = run([sys.executable, "jobs/predict.py", "-r", "hadoop", "--model", model,
                        remote], env)  # the job alone: its output is not read
            plain.append(t)
            t, _ = run([sys.executable, "jobs/predict.py", "-r", "hadoop", "--model", model,
                        "--publish", remote], env)
            published.append(t)
        mp, mq = statistics.median(plain), statistics.median(published)
        print(f"{n:>9}  {mp:>20.1f}  {mq:>18.1f}  {mq - mp:>16.1f}   run {rec['run_id']}",
              flush=True)


if __name__ == "__main__":
    main()
