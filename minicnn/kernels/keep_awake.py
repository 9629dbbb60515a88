"""Keep the CPUs awake between kernel calls, as OpenMP's waiting threads do, at the lowest priority.

On a virtual machine an idle virtual CPU is halted, and waking it again goes through the
hypervisor: on this project's 2-core machine it costs 70-330 µs, and the host's accounting
shows it as "steal" (time the guest wanted to run but did not). A training step of a small
network hands work to a second thread (minicnn's pool, OpenBLAS's) dozens of times, so it pays
that wake-up dozens of times. PyTorch does not: its OpenMP threads spin while they wait for the
next parallel region, so its CPUs never halt during training.

So while kernels are being called, one "keep-awake" thread per core spins in a compiled loop
under Linux's ``SCHED_IDLE`` policy: it runs only on a CPU that would otherwise be idle, and
any other thread that wakes up takes the CPU from it at once. It keeps spinning until about
``KEEP_AWAKE_SECONDS`` after the last kernel call, then sleeps until the next one, so a
notebook that stops training stops spinning a moment later (OpenBLAS's own threads spin 0.1 s
after each product by default, OpenMP's up to 0.2 s). The spinning loop never holds Python's
GIL: a thread of the lowest priority holding it could keep the main thread waiting. It watches
a counter of kernel calls instead of the clock, and calls ``sched_yield`` between two looks, an
opaque call after which the compiled loop must read the counter again.

Measured on LeNet-5, batches of 64, means over blocks of 200 steps alternated in one process:
9.03 ms per step without against 7.54 ms with (6.72 against 7.54 ms in another run), the
host's steal during the blocks 3-11% against 1-3%; ResNet-20 and VGG-11-BN the same within
the noise (680 against 685 ms, 647 against 662 ms). Another process spinning at idle priority
had shown the same before (8.76 against 7.72 ms).

Only on Linux (``SCHED_IDLE``); ``MINICNN_KEEP_AWAKE=0`` turns it off, and one kernel thread
(``minicnn.set_num_threads(1)``) needs none.
"""

import ctypes
import os
import sys
import threading
import time

import numpy as np
from numba import njit

__all__ = ["keep_awake_active", "touch"]

# How long the threads keep spinning after the last kernel call.
KEEP_AWAKE_SECONDS = 0.1
# Each spin is this long (about), between two looks at the call counter.
_SPIN_SECONDS = 0.0005

_lock = threading.Lock()
_wanted = threading.Event()
_calls = np.zeros(1, np.int64)  # kernel calls so far; the spinning threads watch it
_state = {"threads": 0, "iterations": 0}

# An opaque call between two looks at ``_calls``: the compiler must read the counter again
# after it (it cannot know what the call changed), and the scheduler may run another idle thread.
_libc = ctypes.CDLL(None) if sys.platform.startswith("linux") else None
if _libc is not None:
    _sched_yield = _libc.sched_yield
    _sched_yield.argtypes = []
    _sched_yield.restype = ctypes.c_int


def _enabled() -> bool:
    return (_libc is not None and os.environ.get("MINICNN_KEEP_AWAKE", "1") != "0"
            and hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"))


@njit(cache=True, nogil=True)
def _spin(iterations):
    """A dependent chain of ``iterations`` multiply-adds: busy, touching no memory."""
    value = 1.0
    for _ in range(iterations):
        value = value * 0.9999999 + 1e-7
    return value


def _calibrate() -> int:
    """Iterations of ``_spin`` in about ``_SPIN_SECONDS``."""
    _spin(10)  # compiles (or loads from the cache)
    iterations = 10_000
    while True:
        start = time.perf_counter()
        _spin(iterations)
        elapsed = time.perf_counter() - start
        if elapsed > 2e-4 or iterations > 10**9:
            return max(1000, int(iterations * _SPIN_SECONDS / max(elapsed, 1e-9)))
        iterations *= 4


def _make_spin_while_calls():
    yield_ = _sched_yield

    @njit(nogil=True)  # not cached: it holds the address of a C function
    def spin_while_calls(calls, iterations, quiet_spins):
        """Spin until ``calls[0]`` has not changed for ``quiet_spins`` spins, without the GIL."""
        seen = calls[0]
        quiet = 0
        while quiet < quiet_spins:
            _spin(iterations)
            yield_()
            now = calls[0]
            if now != seen:
                seen = now
                quiet = 0
            else:
                quiet += 1

    return spin_while_calls


def _keep_awake_loop(spin_while_calls) -> None:
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # this thread only
    except OSError:
        return  # not allowed here: then no spinning at all
    quiet_spins = max(1, round(KEEP_AWAKE_SECONDS / _SPIN_SECONDS))
    while True:
        _wanted.wait()
        _wanted.clear()
        # The GIL is taken only here, between active periods: a thread of the lowest priority
        # holding it while training runs could keep the main thread waiting.
        spin_while_calls(_calls, _state["iterations"], quiet_spins)


def _start_threads(threads: int) -> None:
    if _state["iterations"] == 0:
        _state["iterations"] = _calibrate()
        _state["spin_while_calls"] = _make_spin_while_calls()
        _state["spin_while_calls"](np.zeros(1, np.int64), 1, 1)  # compile it here, once
    for _ in range(threads - _state["threads"]):
        threading.Thread(target=_keep_awake_loop, args=(_state["spin_while_calls"],),
                         name="minicnn-keep-awake", daemon=True).start()
    _state["threads"] = max(threads, _state["threads"])


def _forget_threads_after_fork() -> None:
    # A forked child has none of the parent's threads, and its copy of the event may be in
    # any state: start afresh.
    global _wanted
    _wanted = threading.Event()
    _state["threads"] = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_threads_after_fork)


def touch(threads: int) -> None:
    """Note a kernel call now: ``threads`` keep-awake threads spin until about
    ``KEEP_AWAKE_SECONDS`` after the last call (started on first use)."""
    if threads <= 1 or not _enabled():
        return
    _calls[0] += 1
    if _state["threads"] < threads:
        with _lock:
            if _state["threads"] < threads:
                _start_threads(threads)
    _wanted.set()


def keep_awake_active() -> bool:
    """True if keep-awake threads have been started in this process."""
    return _state["threads"] > 0
