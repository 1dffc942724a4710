"""How long the driver takes to list and sniff many part files in HDFS (before any pass).

    eval "$(python -m mrlinreg.cluster env)"
    python benchmarks/bench_many_parts.py [--parts 5000]

Writes PARTS small CSV files (headers in three column orders) into HDFS over WebHDFS,
then times ``open_dataset`` (listing, every file's first bytes, the per-file layouts)
through WebHDFS and, for a sample, through mrjob's ``hadoop fs`` (a JVM per call).
Prints figures; not a test.
"""

import argparse
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from hdfs import InsecureClient  # noqa: E402

from mrlinreg.config import load_config  # noqa: E402
from mrlinreg.driver.train import open_dataset  # noqa: E402
from mrlinreg.fs import FileSystem  # noqa: E402
from mrlinreg.options import TrainOptions  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", type=int, default=5000)
    ap.add_argument("--sample", type=int, default=20, help="files timed via hadoop fs")
    a = ap.parse_args()
    config = load_config()
    client = InsecureClient(config.hdfs.url, user=config.hdfs.user)
    path = f"/user/mrlinreg/bench-parts-{uuid.uuid4().hex[:8]}"
    orders = ["a,b,y", "y,a,b", "b,y,a"]
    t = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: client.write(f"{path}/part-{i:05d}",
                                             data=f"{orders[i % 3]}\n1,2,3\n4,5,6\n".encode()),
                      range(a.parts)))
    print(f"wrote {a.parts} part files in {time.perf_counter() - t:.1f} s")
    uri = f"hdfs://127.0.0.1:8020{path}"
    try:
        t = time.perf_counter()
        data = open_dataset([uri], FileSystem(webhdfs=client), TrainOptions(label="y"))
        web = time.perf_counter() - t
        print(f"WebHDFS: listed and sniffed {a.parts} files in {web:.1f} s "
              f"(features {list(data.features)})")
        from mrjob.hadoop import HadoopJobRunner

        fs = FileSystem(HadoopJobRunner(conf_paths=[]).fs)
        t = time.perf_counter()
        for i in range(a.sample):
            fs.head(f"{uri}/part-{i:05d}")
        per = (time.perf_counter() - t) / a.sample
        print(f"hadoop fs -cat: {per:.2f} s per file, one at a time "
              f"(about {per * a.parts / 16:.0f} s for {a.parts} files on 16 threads)")
    finally:
        client.delete(path, recursive=True)


if __name__ == "__main__":
    main()
