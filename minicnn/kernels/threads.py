"""How many threads Numba's loops and the BLAS matrix products use, and which thread pool runs
Numba's loops.

The two pools take turns: a kernel loop, then a matmul, then a loop. A pool whose idle threads
keep spinning, waiting for more work, steals the cores the other pool needs next. Measured on
this project's 2-core machine, idle (training images/s, median step, ``bench_train.py
--threading``, three interleaved rounds; Numba threads / BLAS threads):

    ======================================  ===========  ==============
    Numba's layer, threads                  LeNet-5, 64  ResNet-20, 128
    ======================================  ===========  ==============
    OpenMP, 2 / 2 (the default here)              9,341             216
    OpenMP, 1 / 2                                 9,021             231
    OpenMP, 2 / 1                                 7,654             189
    workqueue, 1 / 2                              9,924             215
    workqueue, 2 / 2                              8,997             222
    workqueue, 2 / 1                              6,045             155
    OpenMP, 2 / 2, ``OMP_WAIT_POLICY=ACTIVE``       870              48
    ======================================  ===========  ==============

Rounds differ by up to 10% (the virtual machine's speed drifts), so a whole training step does
not care whether the loops get one thread or two, nor which layer runs them (the matmuls
dominate and BLAS's idle threads spin for a while after each one, holding the second core), but
single layers do: BatchNorm2d forward+backward on (64, 64, 32, 32) takes 7.7 ms on two Numba
threads and 12.9 ms on one, MaxPool2d 3×3/2 16.2 ms and 21.0 ms. So every pool keeps Numba's and
OpenBLAS's own default, all cores.

Hence the defaults, each of which you override by setting the variable yourself:

* ``OMP_WAIT_POLICY=PASSIVE`` (set in ``kernels/__init__.py``): OpenMP's idle threads sleep.
* Numba's OpenMP layer when available (``choose_threading_layer``): as fast as Numba's own
  ``workqueue`` pool here, and safe to call from several Python threads at once (two threads
  running kernels together on ``workqueue`` abort the process). Two exceptions: if an OpenMP
  library was already loaded when minicnn's kernels were first imported (PyTorch imported
  first, say), it read ``OMP_WAIT_POLICY`` before minicnn could set it and may spin, so
  minicnn takes ``workqueue``; and GNU OpenMP is not safe across ``fork``: a child process
  made by ``multiprocessing``'s "fork" start method after minicnn has run a loop must not run
  minicnn's loops (use the "spawn" start method, or set ``NUMBA_THREADING_LAYER=workqueue``).
* Thread counts are left to Numba and OpenBLAS (all cores; ``NUMBA_NUM_THREADS``,
  ``OPENBLAS_NUM_THREADS`` or ``set_num_threads`` choose others).
"""

import os

import numba
import numpy as np
from threadpoolctl import ThreadpoolController

__all__ = ["get_num_threads", "set_num_threads"]


def set_num_threads(n: int, blas: int | None = None) -> None:
    """Use ``n`` threads for Numba's parallel loops and ``blas`` (default ``n``) for matmuls."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive integer, got {n!r}")
    numba.set_num_threads(min(int(n), numba.config.NUMBA_NUM_THREADS))
    ThreadpoolController().limit(limits=int(blas or n), user_api="blas")


def get_num_threads() -> dict:
    """``{"numba": n, "blas": m}``: the threads each pool uses now.

    ``blas`` is that of the BLAS library NumPy's matmul calls. Other copies may be loaded too
    (compiling a Numba function loads SciPy's own OpenBLAS) but do none of minicnn's work.
    """
    libraries = ThreadpoolController().select(user_api="blas").info()
    numpy_own = [info for info in libraries if "numpy" in info["filepath"]]  # numpy.libs/...
    blas = max((info["num_threads"] for info in numpy_own or libraries), default=None)
    return {"numba": numba.get_num_threads(), "blas": blas}


def _openmp_already_loaded() -> bool:
    """True if an OpenMP runtime is already mapped into this process (Linux; else False)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            return any("libgomp" in line or "libomp" in line or "libiomp" in line
                       for line in maps)
    except OSError:
        return False


def choose_threading_layer() -> None:
    """Prefer Numba's OpenMP layer, unless the user chose or an OpenMP library came first.

    Numba picks its layer when it first runs a parallel loop, from ``numba.config`` (set from
    ``NUMBA_THREADING_LAYER`` and ``NUMBA_THREADING_LAYER_PRIORITY`` when Numba is imported), so
    setting the config here works even if the user imported Numba before minicnn. If OpenMP is
    not installed, Numba falls back to the next layer in the list.
    """
    if any(name in os.environ for name in ("NUMBA_THREADING_LAYER",
                                           "NUMBA_THREADING_LAYER_PRIORITY")):
        return
    if _openmp_already_loaded():
        numba.config.THREADING_LAYER = "workqueue"
    else:
        numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]
