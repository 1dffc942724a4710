"""A pass that fails as an uber job is run once more as a normal job (issue 9: a killed
map attempt).  Hadoop gives an uber job's tasks one attempt each, so without the rerun one
killed task fails the run; the real kill is ``tests/integration/test_faults.py``."""

import contextlib

import pytest
from mrjob.step import StepFailedException

from mrlinreg.driver import passes


class FakeRunner:
    def __init__(self, outcomes, uberized):
        self.outcomes, self.uberized = outcomes, uberized

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def run(self):
        outcome = self.outcomes.pop(0)
        if outcome == "fail":
            raise StepFailedException(step_num=0, num_steps=1)

    def cat_output(self):
        return [b"out"]


class FakeJob:
    def __init__(self, args):
        self.args = args
        self.options = type("O", (), {"runner": "hadoop"})()

    def parse_output(self, chunks):
        return [("partial", "x")]


@pytest.fixture
def runs(monkeypatch):
    made = []

    def make(outcomes, uberized):
        def make_runner(job):
            made.append(job.args)
            return FakeRunner(outcomes, uberized and "mapreduce.job.ubertask.enable=false"
                              not in job.args)
        monkeypatch.setattr(passes, "make_runner", make_runner)
        monkeypatch.setattr(passes, "MRLinRegPass", FakeJob)
        monkeypatch.setattr(passes, "PassProgress", lambda *a, **k: contextlib.nullcontext())
        monkeypatch.setattr(passes, "StreamingLogCapture", contextlib.nullcontext)
        return made
    return make


def _pass_runner():
    pr = passes.PassRunner.__new__(passes.PassRunner)
    pr.passes, pr.progress_every, pr.said = 1, 3.0, []
    pr.say = pr.said.append
    return pr


def test_a_failed_uber_job_runs_again_as_a_normal_job(runs):
    made = runs(["fail", "ok"], uberized=True)
    pr = _pass_runner()
    out = pr._run_job(FakeJob(["a"]), ["a"], "mrlinreg m fused", "tag")
    assert out == [("partial", "x")]
    assert made == [["a"], ["a", "--jobconf", "mapreduce.job.ubertask.enable=false"]]
    assert "failed as an uber job" in pr.said[0]


def test_a_failed_normal_job_is_not_run_again(runs):
    made = runs(["fail", "ok"], uberized=False)
    with pytest.raises(StepFailedException):
        _pass_runner()._run_job(FakeJob(["a"]), ["a"], "n", "tag")
    assert len(made) == 1


def test_the_rerun_fails_for_good(runs):
    made = runs(["fail", "fail"], uberized=True)
    with pytest.raises(StepFailedException):
        _pass_runner()._run_job(FakeJob(["a"]), ["a"], "n", "tag")
    assert len(made) == 2
