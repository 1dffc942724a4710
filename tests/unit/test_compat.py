"""mrlinreg.compat: mrjob 0.7.4 imports and runs on Python 3.11, 3.12 and 3.13.

Import checks run in a fresh interpreter each, so that they see what a task or driver
sees (compat first, then mrjob), not what this test process imported before."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import mrlinreg.compat as compat
from mrlinreg.compat import LooseVersion, find_executable

HERE = Path(__file__).resolve().parent
JOB = HERE.parent / "integration" / "jobs_for_tests" / "mr_word_count.py"
TEXT = "the cat\nThe dog and the cat\n"
COUNTS = {"the": 3, "cat": 2, "dog": 1, "and": 1}


def _python(code, **env):
    """Run ``code`` in a fresh interpreter (this one, so the same venv); its stdout."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("module", ["mrjob.job", "mrjob.runner", "mrjob.local",
                                    "mrjob.inline", "mrjob.hadoop", "mrjob.spark.runner",
                                    "mrjob.util", "mrjob.bin", "mrjob.compat",
                                    "mrjob.fs.hadoop", "mrjob.fs.local"])
def test_mrjob_modules_import_after_compat(module):
    assert _python(f"import mrlinreg.compat; import {module}; print('ok')") == "ok\n"


def test_spark_harness_imports_as_far_as_pyspark():
    # the harness needs pyspark (not a dependency); what must not fail is mrjob.util
    # and mrjob.parse above it
    out = _python("""
        import mrlinreg.compat
        try:
            import mrjob.spark.harness
        except ModuleNotFoundError as e:
            if e.name != 'pyspark' and not e.name.startswith('pyspark.'):
                raise
            print('ok (no pyspark)')
        else:
            print('ok')
        """)
    assert out.startswith("ok")


def test_shims_only_where_the_real_modules_are_missing():
    out = _python("""
        import json, sys
        import mrlinreg.compat as c
        import pipes, distutils.spawn, distutils.version
        print(json.dumps([c.SHIMMED, [name for name in sorted(sys.modules)
                                      if getattr(sys.modules[name], '__mrlinreg_shim__', 0)]]))
        """)
    shimmed, marked = json.loads(out)
    assert sorted(shimmed) == marked
    # pipes is in the standard library up to 3.12, and only shimmed from 3.13 on
    assert ("pipes" in shimmed) == (sys.version_info >= (3, 13))
    # distutils (the standard library's to 3.11, else setuptools' copy where installed)
    # is only shimmed where there is none, and then its two modules with it
    assert set(shimmed) - {"pipes"} in (set(), {"distutils", "distutils.spawn",
                                                 "distutils.version"})
    if sys.version_info < (3, 12):
        assert shimmed == []


@pytest.mark.skipif(sys.version_info < (3, 12), reason="3.11 has its own distutils")
def test_without_setuptools_distutils_the_shims_stand_in():
    # setuptools' distutils-precedence hook off: as in a venv without setuptools
    out = _python("""
        import mrlinreg.compat as c, mrjob.job, mrjob.compat
        print(sorted(c.SHIMMED), mrjob.compat.version_gte('3.10.1', '3.4.2'))
        """, SETUPTOOLS_USE_DISTUTILS="stdlib")
    names = ["distutils", "distutils.spawn", "distutils.version"]
    if sys.version_info >= (3, 13):
        names.append("pipes")
    assert out == f"{names} True\n"


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.11 only")
def test_nothing_is_shimmed_on_311():
    import pipes
    assert compat.SHIMMED == []
    assert not hasattr(pipes, "__mrlinreg_shim__")
    assert pipes.__file__ and Path(pipes.__file__).name == "pipes.py"


def test_pipes_quote_as_mrjob_uses_it():
    import shlex

    from mrjob.util import cmd_line  # ' '.join(pipes.quote(x) ...)
    assert cmd_line(["python", "a b", "it's"]) == "python 'a b' 'it'\"'\"'s'"
    assert sys.modules["pipes"].quote("a b") == shlex.quote("a b")


@pytest.mark.parametrize("a, b, expected", [
    ("3.4.2", "3.10.1", "<"),       # numbers compare as numbers, not text
    ("2.0", "2.0.0", "<"),          # a longer version is newer
    ("3.3.6", "3.3.6", "=="),
    ("2.8.5-amzn-1", "2.8.5", ">"),  # vendor suffixes are accepted
    ("2.7.1", "1.0", ">"),
    ("0.20.203", "0.20", ">"),
])
def test_loose_version_orders_as_distutils(a, b, expected):
    A, B = LooseVersion(a), LooseVersion(b)
    assert (A < B, A == B, A > B) == (expected == "<", expected == "==", expected == ">")
    assert A >= b if expected != "<" else A < b  # strings on the right, as mrjob passes
    assert str(A) == a


def test_loose_version_agrees_with_the_real_one_where_it_exists():
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from distutils.version import LooseVersion as Real
            versions = ["1.0", "2.0", "0.20.203", "2.7.1", "3.3.6", "3.10.1", "3.4.2",
                        "2.8.5-amzn-1", "2.6.0-cdh5.4.0", "3.1.1.3.1.0.0-78", "3.5.0-SNAPSHOT"]
            assert [Real(v).version for v in versions] == \
                [LooseVersion(v).version for v in versions]
            assert sorted(versions, key=Real) == sorted(versions, key=LooseVersion)
    except ImportError:
        pytest.skip("no distutils on this Python")


def test_mrjob_version_helpers():
    from mrjob.compat import map_version, translate_jobconf, version_gte
    assert version_gte("3.10.1", "3.4.2") and not version_gte("3.4.2", "3.10.1")
    assert map_version("2.7.1", {"1.0": "old", "2.0": "new"}) == "new"
    assert map_version("0.20", {"1.0": "old", "2.0": "new"}) == "old"
    assert translate_jobconf("mapred.job.name", "3.3.6") == "mapreduce.job.name"


def test_find_executable(tmp_path):
    tool = tmp_path / "sometool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    assert find_executable("sometool", path=str(tmp_path)) == str(tool)
    assert find_executable("no-such-tool-here", path=str(tmp_path)) is None
    from mrjob.util import which
    assert which("sometool", path=str(tmp_path)) == str(tool)


def _counts(runner, job):
    return dict(job.parse_output(runner.cat_output()))


def _run(tmp_path, runner_alias):
    import importlib.util
    spec = importlib.util.spec_from_file_location("mr_word_count", JOB)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # mrjob finds the job's file through its module
    spec.loader.exec_module(module)
    src = tmp_path / "words.txt"
    src.write_text(TEXT)
    job = module.MRWordCount(["-r", runner_alias, "--no-conf", str(src)])
    with job.make_runner() as runner:
        runner.run()
        return _counts(runner, job)


def test_word_count_inline(tmp_path):
    assert _run(tmp_path, "inline") == COUNTS


def test_word_count_local_tasks_are_new_interpreters(tmp_path, monkeypatch):
    # -r local runs `python mr_word_count.py --mapper ...` per task: the job
    # file's own `import mrlinreg.compat` is what lets those import mrjob on 3.12+
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(HERE.parents[1]), os.environ.get("PYTHONPATH")) if p))
    assert _run(tmp_path, "local") == COUNTS


# -r spark: mrjob's harness imports mrjob.util before the job module, in processes that
# spark-submit starts; mrlinreg.sparkboot's sitecustomize loads the compat layer first

def test_sparkboot_sitecustomize_loads_compat_at_startup():
    from mrlinreg.sparkboot import BOOT_DIR
    out = _python("""
        import sys
        print('mrlinreg.compat' in sys.modules)
        import mrjob.util
        """, PYTHONPATH=BOOT_DIR)
    assert out == "True\n"


def test_sparkboot_mrjob_args():
    from mrlinreg.sparkboot import BOOT_DIR, mrjob_args
    assert mrjob_args(environ={}) == ["--cmdenv", f"PYTHONPATH={BOOT_DIR}"]
    assert mrjob_args("local[2]", {"PYTHONPATH": "/x"}) == [
        "--cmdenv", f"PYTHONPATH={BOOT_DIR}{os.pathsep}/x"]
    yarn = mrjob_args("yarn", {})
    assert yarn[:2] == ["--cmdenv", f"PYTHONPATH={BOOT_DIR}"]
    assert yarn[2:] == ["--setup", f"export PYTHONPATH={BOOT_DIR}/#:$PYTHONPATH"]


def _cached_pyspark():
    """pyspark as ``cluster up`` fetches it (``pip install --target`` into the cluster
    cache): ``PYTHONPATH`` entries for it and its py4j. Not a dependency of the project."""
    from mrlinreg.cluster.fetch import COMPLETE, PYSPARK_VERSION
    from mrlinreg.cluster.paths import default_cache

    target = default_cache() / f"pyspark-{PYSPARK_VERSION}"
    if not (target / COMPLETE).exists():
        pytest.fail(f"pyspark {PYSPARK_VERSION} is not in {target}: run "
                    "`python -m mrlinreg.cluster up` once (it fetches it)", pytrace=False)
    return [str(target), *map(str, (target / "pyspark" / "python" / "lib").glob("py4j-*.zip"))]


@pytest.mark.spark
def test_word_count_on_spark_local(tmp_path):
    """``-r spark`` on every supported Python: the harness imports ``mrjob.util`` before
    any project code, so ``mrlinreg.sparkboot`` must load the compat layer first."""
    from mrlinreg.sparkboot import mrjob_args
    path = os.pathsep.join(_cached_pyspark() + [os.environ.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    src = tmp_path / "words.txt"
    src.write_text(TEXT)
    env = dict(os.environ, PYTHONPATH=path)
    done = subprocess.run(
        [sys.executable, str(JOB), "-r", "spark", "--no-conf", "--python-bin",
         sys.executable, *mrjob_args(environ=env), str(src)],
        capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    counts = {}
    for line in done.stdout.splitlines():
        word, n = line.split("\t")
        counts[json.loads(word)] = int(n)
    assert counts == COUNTS
