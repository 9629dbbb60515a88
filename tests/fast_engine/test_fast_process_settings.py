"""``minicnn.fast.configure_process``: freed memory stays in the process when asked for, never
otherwise; the user's own settings win."""

import os
import subprocess
import sys

import pytest

from minicnn.fast.allocator import keep_freed_memory

# Allocate and free 64 MB, then print how much the resident set grew (MB).
SCRIPT = """
import sys
import numpy as np
import minicnn
from minicnn import models
if sys.argv[1] == "configure":
    minicnn.fast.configure_process()
else:  # the fast engine at work, without the opt-in
    models.lenet5()(np.zeros((2, 1, 28, 28), np.float32))
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20
before = rss()
a = np.ones(16 * 2**20, np.float32)
del a
print(rss() - before)
"""



def _is_glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (ValueError, OSError, AttributeError):  # not glibc, or not Unix
        return False


linux_glibc = pytest.mark.skipif(not (sys.platform.startswith("linux") and _is_glibc()),
                                 reason="mallopt is glibc's (Linux)")


def kept_mb(how="configure", **env) -> float:
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                                "MINICNN_KEEP_FREED_MEMORY")}
    environment.update(env)
    out = subprocess.run([sys.executable, "-c", SCRIPT, how], env=environment, text=True,
                         capture_output=True, check=True).stdout
    return float(out)


@linux_glibc
def test_configure_process_keeps_freed_memory():
    assert kept_mb() > 60  # the 64 MB stayed, ready for the next batch


@linux_glibc
def test_the_fast_engine_alone_leaves_the_allocator_as_it_was():
    assert kept_mb("run") < 4  # importing or running minicnn changes no allocator setting


@linux_glibc
def test_the_user_can_turn_it_off():
    assert kept_mb(MINICNN_KEEP_FREED_MEMORY="0") < 4
    assert kept_mb(MALLOC_TRIM_THRESHOLD_="131072") < 4  # the user's own setting wins


def test_keep_freed_memory_respects_the_opt_out(monkeypatch):
    monkeypatch.setenv("MINICNN_KEEP_FREED_MEMORY", "0")
    assert keep_freed_memory() is False
    monkeypatch.delenv("MINICNN_KEEP_FREED_MEMORY")
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    assert keep_freed_memory() is False
