"""Split a kernel's independent tasks over a few threads: the calling thread and a small pool.

Every kernel in this package is a loop over independent tasks (channels, channel planes, rows
of a sample) that write disjoint parts of the output. Each is compiled as a *serial* Numba
function over a task range ``[first, last)`` with ``nogil=True``, and ``run_tasks`` cuts
``range(tasks)`` into one contiguous slice per thread: the calling thread runs the first slice
itself while the pool's threads run the others, all without Python's GIL.

Why not Numba's own ``prange``:

* compiling: a ``parallel=True`` loop takes several times as long to compile as the same loop
  compiled serially, because Numba turns the loop body into a separate "gufunc" that LLVM
  optimises and generates machine code for more than once, and a fresh process with an empty
  cache spends most of its first training step compiling;
* running: the serial loop split over Python threads ran im2col faster than the ``prange``
  loop, and whole training steps about as fast;
* and no threading layer to choose: Numba's ``workqueue`` pool aborts when two Python threads
  run kernels at once, and OpenMP's idle threads can spin against BLAS's.

Small calls run on the calling thread alone. Handing a slice to a sleeping thread and waiting
for it costs about as much as a small kernel call (mostly waking the thread), so a call is
split only when it has more than ``tuning.MIN_PARALLEL_WORK`` element operations: a small max
pool of a LeNet-5 step is slower split in two, its first convolution faster.

Where the line lies depends on what ran just before. Right after a matrix product the other
core is awake (OpenBLAS's threads are still spinning) and a split is cheap; after a stretch of
Python the other virtual CPU sleeps, waking it costs more, and Linux often wakes the thread on
the caller's own CPU, where the two slices take turns. A higher threshold made a LeNet-5 step
a little faster but the 3×3 layers of 64 to 256 channels slower, whose im2col chunks follow
matrix products; so it stays where it is.

(figures: benchmarks/README.md, "Threads")
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

from . import tuning

__all__ = ["get_kernel_threads", "run_tasks", "set_kernel_threads"]


_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_threads: int | None = None


def _default_threads() -> int:
    """The usable cores, or ``NUMBA_NUM_THREADS`` if set (the kernels are Numba's)."""
    chosen = os.environ.get("NUMBA_NUM_THREADS")
    if chosen and chosen.strip().isdigit() and int(chosen) > 0:
        return int(chosen)
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return max(os.cpu_count() or 1, 1)


def get_kernel_threads() -> int:
    """How many threads (the caller's included) a kernel call may use."""
    global _threads
    if _threads is None:
        _threads = _default_threads()
    return _threads


def set_kernel_threads(n: int) -> None:
    """Let kernel calls use ``n`` threads, the caller's included (``n >= 1``)."""
    global _pool, _threads
    with _lock:
        _threads = int(n)
        # The next call starts a pool of the new size. The old one is only dropped, not shut
        # down: a call running in another Python thread may still be submitting to it, and its
        # idle threads exit once it is garbage.
        _pool = None


def _get_pool() -> ThreadPoolExecutor:
    """The pool of ``get_kernel_threads() − 1`` threads, started on first use (they sleep while
    there is no work)."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(get_kernel_threads() - 1, 1),
                                       thread_name_prefix="minicnn-kernel")
        return _pool


def _forget_pool_after_fork() -> None:
    # A forked child has the pool object but not its threads: work sent to it would never run.
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def run_tasks(kernel, tasks: int, work: int, *args) -> None:
    """Call ``kernel(*args, first, last)`` on slices of ``range(tasks)``, one per thread.

    ``work`` is a rough count of the whole call's element operations (array elements read and
    written, or multiply-adds), to keep small calls on one thread. The slices are contiguous
    and as equal as can be; the calling thread runs the first one. Returns when every slice
    is done; an exception in any slice is raised here.
    """
    threads = min(get_kernel_threads(), tasks)
    if threads <= 1 or work < tuning.MIN_PARALLEL_WORK:
        kernel(*args, 0, tasks)
        return
    bounds = [tasks * t // threads for t in range(threads + 1)]
    pool = _get_pool()
    others = [pool.submit(kernel, *args, bounds[t], bounds[t + 1]) for t in range(1, threads)]
    try:
        kernel(*args, bounds[0], bounds[1])
    finally:  # wait for every slice, even if ours failed: they write into the caller's arrays
        errors = [future.exception() for future in others]
    for error in errors:
        if error is not None:
            raise error
