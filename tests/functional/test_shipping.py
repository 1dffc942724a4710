"""Issue 10 (YARN overhead): what passes ship to their tasks is built once, the same bytes
for the same sources; the Hadoop version needs no JVM; the setup wrapper starts one
Python per task."""

import hashlib
import os
import subprocess
import sys
import zipfile

import pytest

from mrlinreg.driver import passes, runners, shipping
from mrlinreg.jobs.linreg_pass import MRLinRegPass


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "mrlinreg"


def _sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_package_zip_built_once_same_bytes_for_same_sources(tmp_path, cache_home):
    first = passes.build_package_zip(str(tmp_path))
    assert first.startswith(str(cache_home))  # in the cache, not the run's folder
    mtime = os.stat(first).st_mtime_ns
    assert passes.build_package_zip(str(tmp_path / "elsewhere")) == first  # not rebuilt
    assert os.stat(first).st_mtime_ns == mtime
    # rebuilt from scratch (another machine, another checkout): the same bytes
    digest = _sha(first)
    os.unlink(first)
    again = passes.build_package_zip(str(tmp_path))
    assert again == first and _sha(again) == digest
    with zipfile.ZipFile(again) as zf:
        names = zf.namelist()
        assert names == sorted(names)
        assert "mrlinreg/jobs/linreg_pass.py" in names
        assert not [n for n in names if "/cluster/" in n or "__pycache__" in n]
        assert {i.date_time for i in zf.infolist()} == {shipping.ZIP_DATE}
    # the zip imports: the tasks' PYTHONPATH entry
    out = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]);"
                          "import mrlinreg.jobs.linreg_pass as m; print(m.__file__)", again],
                         capture_output=True, text=True, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(again)


def test_cached_zip_follows_the_content(tmp_path, cache_home):
    src = tmp_path / "pkg"
    (src / "sub").mkdir(parents=True)
    (src / "__init__.py").write_text("x = 1\n")
    (src / "sub" / "a.py").write_text("y = 2\n")
    (src / "data.txt").write_text("not shipped\n")
    a = shipping.cached_zip(str(src), "pkg", "pkg.zip", str(tmp_path))
    os.utime(src / "sub" / "a.py", (1, 1))  # a new time alone: the same zip
    assert shipping.cached_zip(str(src), "pkg", "pkg.zip", str(tmp_path)) == a
    (src / "sub" / "a.py").write_text("y = 3\n")
    b = shipping.cached_zip(str(src), "pkg", "pkg.zip", str(tmp_path))
    assert b != a and _sha(b) != _sha(a)
    with zipfile.ZipFile(b) as zf:
        assert zf.namelist() == ["pkg/__init__.py", "pkg/sub/a.py"]
        assert zf.read("pkg/sub/a.py") == b"y = 3\n"


def test_cached_zip_without_a_writable_cache(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # a file: no folder under it
    src = tmp_path / "pkg"
    src.mkdir()
    (src / "__init__.py").write_text("")
    out = tmp_path / "run"
    out.mkdir()
    assert shipping.cached_zip(str(src), "pkg", "pkg.zip", str(out)) == str(out / "pkg.zip")


@pytest.mark.parametrize("jar, version", [
    ("/opt/hadoop/share/hadoop/tools/lib/hadoop-streaming-3.4.2.jar", "3.4.2"),
    ("/usr/lib/hadoop-mapreduce/hadoop-streaming-2.8.5-amzn-1.jar", "2.8.5"),
    ("/x/hadoop-streaming-3.3.6-SNAPSHOT.jar", "3.3.6"),
    ("/x/hadoop-streaming.jar", None), ("/x/my-streaming-3.4.2.jar", None), (None, None)])
def test_version_from_the_streaming_jar_name(jar, version):
    assert runners._version_from_jar(jar) == version


def test_hadoop_version_asked_once_per_binary(tmp_path, cache_home):
    hadoop = tmp_path / "hadoop"
    hadoop.write_text("#!/bin/sh\necho 'Hadoop 3.9.1'\n")
    hadoop.chmod(0o755)
    asked = []

    def ask():
        asked.append(1)
        return "3.9.1"

    assert runners.cached_hadoop_version([str(hadoop)], ask) == "3.9.1"
    assert runners.cached_hadoop_version([str(hadoop)], ask) == "3.9.1"
    assert len(asked) == 1  # the second answer came from the cache file
    hadoop.write_text("#!/bin/sh\necho 'Hadoop 3.9.2'\n")  # a changed binary: asked again
    assert runners.cached_hadoop_version([str(hadoop)], lambda: "3.9.2") == "3.9.2"


def test_hadoop_runner_needs_no_hadoop_version_jvm(tmp_path, cache_home):
    """With a streaming jar named with its version, ``hadoop version`` never runs (the
    binary here fails if it does)."""
    hadoop = tmp_path / "hadoop"
    hadoop.write_text("#!/bin/sh\necho called >> %s\nexit 1\n" % (tmp_path / "calls"))
    hadoop.chmod(0o755)
    job = MRLinRegPass(["-r", "hadoop", "--hadoop-bin", str(hadoop), "--hadoop-streaming-jar",
                        str(tmp_path / "hadoop-streaming-3.4.2.jar"), "hdfs:///in/x.csv"])
    with runners.WebHDFSHadoopRunner(**job._runner_kwargs()) as runner:
        assert runner.get_hadoop_version() == "3.4.2"
        assert runner.fs.hadoop.get_hadoop_version() == "3.4.2"  # mrjob's hadoop fs too
    assert not (tmp_path / "calls").exists()


@pytest.mark.parametrize("cls", [runners.ChunkSplitLocalRunner, runners.WebHDFSHadoopRunner])
def test_setup_wrapper_starts_one_python(tmp_path, cache_home, cls):
    zip_path = passes.build_package_zip(str(tmp_path))
    job = MRLinRegPass(["-r", "hadoop" if cls is runners.WebHDFSHadoopRunner else "local",
                        "--py-files", zip_path, os.devnull])
    with cls(**job._runner_kwargs()) as runner:
        runner._create_setup_wrapper_scripts()
        text = open(runner._setup_wrapper_script_path).read()
        assert "flock" not in text and runner._job_key not in text  # the same for every job
        assert "export PYTHONPATH=$__mrjob_PWD/mrlinreg.zip:$PYTHONPATH" in text
        assert runner._create_mrjob_zip().startswith(str(cache_home))
    # a user's own setup commands keep mrjob's lock
    job = MRLinRegPass(["-r", "local", "--setup", "true", os.devnull])
    with runners.ChunkSplitLocalRunner(**job._runner_kwargs()) as runner:
        runner._create_setup_wrapper_scripts()
        assert "flock" in open(runner._setup_wrapper_script_path).read()
