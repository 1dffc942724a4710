"""Issue 10: the local runner's byte-copy splitting makes mrjob's own splits, faster."""

import gzip
import os

import pytest
from mrjob.local import LocalMRJobRunner

from mrlinreg.driver import runners
from mrlinreg.driver.runners import (ChunkSplitInlineRunner, ChunkSplitLocalRunner, local_split_size,
                                     make_runner)
from mrlinreg.jobs.linreg_pass import MRLinRegPass


class MrjobSplitsAtOurSize(LocalMRJobRunner):
    """mrjob's own line-by-line splitting, at the split size our runner picks."""

    def _pick_mapper_split_size(self, input_paths, step_num):
        return local_split_size(super()._pick_mapper_split_size(input_paths, step_num))


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


@pytest.fixture(params=["min_split", "no_min_split"])
def min_split(request, monkeypatch):
    """The local runner as it is (small files: one split), and with no minimum split size
    (so these small texts are cut the way large files are)."""
    if request.param == "no_min_split":
        monkeypatch.setattr(runners, "MIN_SPLIT_BYTES", 1)
    return runners.MIN_SPLIT_BYTES


@pytest.mark.parametrize("num_cores", [1, 2, 7])
@pytest.mark.parametrize("text", [b"", b"a\n", b"1,2\n3,4\n5,6", b"x" * 50 + b"\n" * 30,
                                  b"".join(b"%d,%d\r\n" % (i, i * i) for i in range(500))])
def test_same_splits_as_mrjob(tmp_path, text, num_cores, min_split):
    paths = [tmp_path / "a.csv", tmp_path / "b.csv.gz"]
    paths[0].write_bytes(text)
    with gzip.open(paths[1], "wb") as f:
        f.write(text + b"9,9\n")
    mine = _splits(ChunkSplitLocalRunner, paths, tmp_path, num_cores)
    theirs = _splits(MrjobSplitsAtOurSize, paths, tmp_path, num_cores)
    assert mine == theirs
    assert len(mine[0]) <= max(num_cores, 1) + 2  # about one split per core, not two
    if min_split > len(text):  # a small file is one task (and the .gz one)
        assert len(mine[0]) == 2


def test_as_many_reduce_tasks_as_the_job_asks_for(tmp_path):
    """mrjob's local runner makes two reduce tasks per core whatever the job says; ours
    splits the sorted map output (at key changes) into mapreduce.job.reduces parts."""
    sorted_input = b"".join(b"%05d\t%d\n" % (k, v) for k in range(40) for v in range(3))
    counts = {}
    for reduces in (None, "1", "3"):
        args = ["-r", "local", "--num-cores", "2", os.devnull] + \
            (["--jobconf", f"mapreduce.job.reduces={reduces}"] if reduces else [])
        job = MRLinRegPass(args)
        with ChunkSplitLocalRunner(**job._runner_kwargs()) as runner:
            path = runner._sorted_reducer_input_path(0)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(sorted_input)
            counts[reduces] = n = runner._split_reducer_input(0)
            parts = [open(runner._task_input_path("reducer", 0, i), "rb").read()
                     for i in range(n)]
        assert b"".join(parts) == sorted_input  # in order, nothing lost
        keys = [{line.split(b"\t")[0] for line in p.splitlines()} for p in parts]
        assert all(not (a & b) for i, a in enumerate(keys) for b in keys[i + 1:])
    # the job's own JOBCONF says 1 reducer; --jobconf overrides it
    assert counts == {None: 1, "1": 1, "3": 3}


def test_make_runner_picks_the_fast_local_runner_only_for_local(tmp_path):
    assert type(make_runner(MRLinRegPass(["-r", "local", os.devnull]))) is ChunkSplitLocalRunner
    assert type(make_runner(MRLinRegPass(["-r", "inline", os.devnull]))) is \
        ChunkSplitInlineRunner
