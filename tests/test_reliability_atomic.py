"""atomic_write: a killed save tears nothing and its temporary file is removed by the next save;
a live writer's temporary file is kept; the folder is flushed after the rename.

The writers here are real processes (``python -c``), killed with SIGKILL once their temporary
file exists and holds some bytes.
"""

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minicnn

REPO = Path(__file__).resolve().parents[1]
# Opens atomic_write on argv[1], writes a little, says so, then blocks until killed.
WRITER = """
import sys, time
from minicnn._atomic import atomic_write
with atomic_write(sys.argv[1]) as f:
    f.write(b"half of a new file")
    f.flush()
    print("writing", flush=True)
    time.sleep(60)
"""

pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs flock (POSIX)")


@pytest.fixture
def start_writer():
    """start_writer(target) -> a process blocked inside atomic_write(target); killed at the end."""
    processes = []

    def start(target):
        environment = {**os.environ, "PYTHONPATH": str(REPO)}
        process = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], cwd=REPO,
                                   env=environment, stdout=subprocess.PIPE, text=True)
        processes.append(process)
        assert process.stdout.readline() == "writing\n"
        return process

    yield start
    for process in processes:
        process.kill()
        process.wait()
        process.stdout.close()


def temporaries(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def weights():
    return {"w": np.arange(6.0).reshape(2, 3)}


def test_a_killed_save_tears_nothing_and_the_next_save_removes_its_temporary(tmp_path,
                                                                            start_writer):
    target = minicnn.save(weights(), tmp_path / "m.npz")
    before = target.read_bytes()
    writer = start_writer(target)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert target.read_bytes() == before           # the old file, whole
    assert len(temporaries(tmp_path)) == 1         # the killed writer's orphan
    minicnn.save(weights(), target)
    assert temporaries(tmp_path) == []
    np.testing.assert_array_equal(minicnn.load(target)["w"], weights()["w"])


def test_a_live_writers_temporary_file_is_kept(tmp_path, start_writer):
    target = tmp_path / "m.npz"
    start_writer(target)
    (live,) = temporaries(tmp_path)
    minicnn.save(weights(), target)                # a concurrent save of the same file
    assert temporaries(tmp_path) == [live]
    np.testing.assert_array_equal(minicnn.load(target)["w"], weights()["w"])


def test_only_the_same_targets_unlocked_temporaries_are_removed(tmp_path):
    orphan = tmp_path / ".m.npz.0123abcd.part"     # e.g. left by an older minicnn
    others = [".m.npz.old.0123abcd.part",           # another target's temporary file
              ".m.npz.0123abcd.part.keep", "m.npz.0123abcd.part", ".m.npz.xyz.part"]
    for name in [orphan.name, *others]:
        (tmp_path / name).write_bytes(b"x")
    minicnn.save(weights(), tmp_path / "m.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m.npz", *others])


def test_the_folder_is_flushed_after_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file",
                       os.fstat(fd)))
        real_fsync(fd)

    def replace(source, destination):
        events.append(("replace", None))
        real_replace(source, destination)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    minicnn.save(weights(), tmp_path / "m.npz")
    assert [name for name, _ in events] == ["fsync file", "replace", "fsync folder"]
    assert os.path.samestat(events[-1][1], os.stat(tmp_path))
