"""Inputs in HDFS read through WebHDFS: hidden files skipped, compressed heads decompressed,
many part files with their columns in different orders read by name."""

import bz2
import gzip
import uuid

import numpy as np
import pytest

from mrlinreg.driver.train import open_dataset
from mrlinreg.fs import FileSystem
from mrlinreg.options import TrainOptions

pytestmark = pytest.mark.integration


def _csv(names, rows):
    return (",".join(names) + "\n" + "".join(",".join(repr(v) for v in r) + "\n"
                                             for r in rows)).encode()


@pytest.fixture
def folder(webhdfs, cluster_info):
    path = f"/user/mrlinreg/it-inputs-{uuid.uuid4().hex[:8]}"
    yield path, f"{cluster_info.default_fs}{path}"
    webhdfs.delete(path, recursive=True)


def test_parts_hidden_files_and_compression_over_webhdfs(webhdfs, folder):
    path, uri = folder
    rng = np.random.default_rng(3)
    orders = [["a", "b", "y"], ["y", "a", "b"], ["b", "y", "a"]]
    for i in range(30):
        rows = rng.standard_normal((5, 3))
        data = _csv(orders[i % 3], rows)
        name = f"part-{i:05d}"
        if i % 10 == 1:
            data, name = gzip.compress(data), name + ".gz"
        elif i % 10 == 2:
            data, name = bz2.compress(data), name + ".bz2"
        webhdfs.write(f"{path}/{name}", data=data)
    webhdfs.write(f"{path}/_SUCCESS", data=b"")
    webhdfs.write(f"{path}/.part-00000.crc", data=b"\x00crc,1,2")
    webhdfs.write(f"{path}/_logs/history", data=b"job,x,y\n")
    fs = FileSystem(webhdfs=webhdfs)
    files = fs.list_inputs(uri)
    assert len(files) == 30 and all("/_" not in f and "/." not in f for f in files)
    assert fs.head(f"{uri}/part-00001.gz").startswith(b"y,a,b\n")
    assert fs.head(f"{uri}/part-00002.bz2").startswith(b"b,y,a\n")
    data = open_dataset([uri], fs, TrainOptions(label="y"))
    assert list(data.features) == ["a", "b"] and data.label == "y"
