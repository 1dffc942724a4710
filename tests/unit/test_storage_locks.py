"""LocalModelLock excludes across processes; ModelLockedError names the holder."""

import subprocess
import sys
import textwrap
import time

import pytest

from mrlinreg.config import Config
from mrlinreg.storage.errors import ModelLockedError
from mrlinreg.storage.factory import model_lock
from mrlinreg.storage.locks import LocalModelLock, holder_identifier

HOLDER = textwrap.dedent("""
    import sys
    from mrlinreg.storage.locks import LocalModelLock
    with LocalModelLock(sys.argv[1], lock_dir=sys.argv[2]):
        print("locked", flush=True)
        sys.stdin.read()          # hold until the parent closes our stdin
""")


@pytest.fixture
def other_process(tmp_path):
    """Start a process holding the lock on "demo"; yield it; stop it."""
    procs = []

    def start(model="demo"):
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, model, str(tmp_path)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "locked"
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.stdin.close()
            proc.wait(timeout=10)


def release(proc):
    proc.stdin.close()
    proc.wait(timeout=10)


def test_second_process_is_refused_with_the_holder_named(tmp_path, other_process):
    proc = other_process()
    with pytest.raises(ModelLockedError) as err:
        with LocalModelLock("demo", lock_dir=tmp_path):
            pass
    assert err.value.model_name == "demo"
    assert err.value.holder.endswith(f":{proc.pid}")
    assert "'demo' is locked by" in str(err.value) and "wait" in str(err.value)


def test_other_models_are_not_blocked(tmp_path, other_process):
    other_process("demo")
    with LocalModelLock("other", lock_dir=tmp_path):
        pass


def test_wait_with_timeout_gives_up(tmp_path, other_process):
    other_process()
    start = time.monotonic()
    with pytest.raises(ModelLockedError, match="after waiting 0.3 s"):
        with LocalModelLock("demo", lock_dir=tmp_path, wait=True, timeout=0.3):
            pass
    assert 0.25 <= time.monotonic() - start < 5


def test_wait_gets_the_lock_after_release(tmp_path, other_process):
    proc = other_process()
    # release from another thread shortly after we start waiting
    import threading
    threading.Timer(0.3, release, args=(proc,)).start()
    start = time.monotonic()
    with LocalModelLock("demo", lock_dir=tmp_path, wait=True) as lock:
        assert time.monotonic() - start >= 0.25  # it did wait for the holder
        assert lock.path.read_text() == holder_identifier()
    proc.wait(timeout=10)


def test_lock_is_released_on_exit_and_on_error(tmp_path):
    with pytest.raises(RuntimeError):
        with LocalModelLock("demo", lock_dir=tmp_path):
            raise RuntimeError("training failed")
    with LocalModelLock("demo", lock_dir=tmp_path):
        pass


def test_factory_gives_a_local_lock_in_local_mode(tmp_path):
    lock = model_lock(Config(state_dir=tmp_path), "demo", wait=True)
    assert isinstance(lock, LocalModelLock) and lock.path == tmp_path / "locks" / "demo.lock"


def test_bad_model_name_is_refused(tmp_path):
    with pytest.raises(ValueError, match="invalid model name"):
        LocalModelLock("../demo", lock_dir=tmp_path)


def test_the_lock_stays_exclusive_when_its_folder_is_removed(tmp_path, other_process):
    """``rm -rf var/`` under a running trainer: a second trainer must still be refused
    (before: it made a new lock file and flocked that)."""
    import shutil

    other_process("demo")
    shutil.rmtree(tmp_path)
    assert not tmp_path.exists()
    with pytest.raises(ModelLockedError):
        LocalModelLock("demo", lock_dir=tmp_path).acquire()
    with pytest.raises(ModelLockedError):
        LocalModelLock("demo", lock_dir=tmp_path, wait=True, timeout=0.2).acquire()
    with LocalModelLock("other", lock_dir=tmp_path):  # other models are not affected
        pass


def test_the_lock_is_free_again_when_its_holder_exits(tmp_path, other_process):
    import shutil

    proc = other_process("demo")
    shutil.rmtree(tmp_path)
    proc.stdin.close()
    proc.wait(timeout=10)
    with LocalModelLock("demo", lock_dir=tmp_path, wait=True, timeout=5):
        pass
