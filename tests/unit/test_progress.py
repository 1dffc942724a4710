"""Issue 10: what the progress lines say, from mrjob's Hadoop log lines and task counters."""

import logging

from mrlinreg.driver.passes import job_name
from mrlinreg.driver.progress import StreamingLogCapture, progress_line, sim_task_state

# as mrjob 0.7.4 logs the `hadoop jar` client's log4j records (mrjob.logs.step, INFO)
HADOOP_LINES = [
    "  Submitted application application_1796024500524_0022",
    "  The url to track the job: http://localhost:8088/proxy/application_1796024500524_0022/",
    "  Running job: job_1796024500524_0022",
    "   map 0% reduce 0%",
    "   map 50% reduce 0%",
    "   map 100% reduce 17%",
]


def test_capture_keeps_the_latest_state_and_swallows_info():
    seen = []
    root = logging.getLogger()
    handler = logging.Handler()
    handler.emit = seen.append
    root.addHandler(handler)
    try:
        with StreamingLogCapture() as capture:
            for line in HADOOP_LINES:
                logging.getLogger("mrjob.logs.step").info(line)
            logging.getLogger("mrjob.logs.step").warning("  a real warning")
    finally:
        root.removeHandler(handler)
    assert capture.state == {
        "application": "application_1796024500524_0022",
        "url": "http://localhost:8088/proxy/application_1796024500524_0022/",
        "job": "job_1796024500524_0022", "map": 100, "reduce": 17}
    assert [r.getMessage() for r in seen] == ["  a real warning"]
    assert logging.getLogger("mrjob.logs.step").propagate  # restored


def test_progress_line():
    line = progress_line("pass 2 (mrlinreg m tsqr)", {
        "map": 45, "reduce": 0, "rows": 452112, "application": "application_1_3",
        "url": "http://rm:8088/proxy/application_1_3/"}, 11.4)
    assert line == ("pass 2 (mrlinreg m tsqr): map 45% reduce 0%, rows read 452,112, 11 s  "
                    "[application_1_3 http://rm:8088/proxy/application_1_3/]")
    assert progress_line("p", {}, 1).startswith("p: starting")
    assert "waiting for YARN" in progress_line("p", {"application": "application_1_3"}, 1)


def test_job_names():
    assert job_name("m1", "tsqr") == "mrlinreg m1 tsqr"
    assert job_name(None, "moments") == "mrlinreg moments"


def test_sim_state_from_counter_lines(tmp_path):
    class Runner:
        _output_dir = str(tmp_path / "out")

        def _step_dir(self, step_num):
            return str(tmp_path / "step")

    for i, (size, lines) in enumerate([(1000, [(600, 10), (100, 2)]), (1000, [])]):
        d = tmp_path / "step" / "mapper" / f"{i:05d}"
        d.mkdir(parents=True)
        (d / "input").write_bytes(b"x" * size)
        (d / "stderr").write_bytes(b"".join(
            b"reporter:counter:mrlinreg,bytes read,%d\nreporter:counter:mrlinreg,rows read,%d\n"
            % pair for pair in lines))
    assert sim_task_state(Runner()) == {"map": 35, "rows": 12, "reduce": 0}
