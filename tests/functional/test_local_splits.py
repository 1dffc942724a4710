"""Issue 10: the local runner's byte-copy splitting makes mrjob's own splits, faster."""

import gzip
import os

import pytest
from mrjob.local import LocalMRJobRunner

from mrlinreg.driver.runners import ChunkSplitInlineRunner, ChunkSplitLocalRunner, make_runner
from mrlinreg.jobs.linreg_pass import MRLinRegPass


class MrjobSplitsAtOurSize(LocalMRJobRunner):
    """mrjob's own line-by-line splitting, at the split size our runner picks."""

    def _pick_mapper_split_size(self, input_paths, step_num):
        size = super()._pick_mapper_split_size(input_paths, step_num)
        return size * 2 if size else size


def _splits(cls, paths, tmp_path, num_cores):
    job = MRLinRegPass(["-r", "local", "--num-cores", str(num_cores), *map(str, paths)])
    with cls(**job._runner_kwargs()) as runner:
        runner._create_dist_cache_dir = lambda *a: None
        out = runner._split_mapper_input([str(p) for p in paths], 0)
        contents = []
        for i in range(len(out)):
            with open(runner._task_input_path("mapper", 0, i), "rb") as f:
                contents.append(f.read())
    return out, contents


@pytest.mark.parametrize("num_cores", [1, 2, 7])
@pytest.mark.parametrize("text", [b"", b"a\n", b"1,2\n3,4\n5,6", b"x" * 50 + b"\n" * 30,
                                  b"".join(b"%d,%d\r\n" % (i, i * i) for i in range(500))])
def test_same_splits_as_mrjob(tmp_path, text, num_cores):
    paths = [tmp_path / "a.csv", tmp_path / "b.csv.gz"]
    paths[0].write_bytes(text)
    with gzip.open(paths[1], "wb") as f:
        f.write(text + b"9,9\n")
    mine = _splits(ChunkSplitLocalRunner, paths, tmp_path, num_cores)
    theirs = _splits(MrjobSplitsAtOurSize, paths, tmp_path, num_cores)
    assert mine == theirs
    assert len(mine[0]) <= max(num_cores, 1) + 2  # about one split per core, not two


def test_make_runner_picks_the_fast_local_runner_only_for_local(tmp_path):
    assert type(make_runner(MRLinRegPass(["-r", "local", os.devnull]))) is ChunkSplitLocalRunner
    assert type(make_runner(MRLinRegPass(["-r", "inline", os.devnull]))) is \
        ChunkSplitInlineRunner
