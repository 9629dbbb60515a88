"""How many threads Numba's loops and the BLAS matrix products use, and which thread pool runs
Numba's loops.

The two pools take turns: a kernel loop, then a matmul, then a loop. A pool whose idle threads
keep spinning, waiting for more work, steals the cores the other pool needs next. Measured on
this project's 2-core machine, idle (training images/s, median step, ``bench_train.py
--threading``, three interleaved rounds, on the Intel machine of an earlier session, before
OpenBLAS's spin was shortened; Numba threads / BLAS threads):

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
* OpenBLAS's idle threads spin 2**16 cycles (about 20 µs) instead of 2**28 (about 0.1 s)
  (``shorten_blas_spin``, unless ``OPENBLAS_THREAD_TIMEOUT`` is set): the spinning BLAS thread
  no longer holds the second core through the loops that follow a product. With it, and
  with the direct convolutions, the whole-step table above changes: on the AMD machine of
  benchmarks/README.md the defaults train ResNet-20 at 257 images/s against 199 with
  OpenBLAS's own spin.
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

import ctypes
import os

import numba
import numpy as np
from threadpoolctl import ThreadpoolController

__all__ = ["get_num_threads", "set_num_threads"]

# OpenBLAS's idle threads spin for 2**28 CPU cycles (about 0.1 s) before they sleep; minicnn
# makes it 2**16 (about 20 µs). See ``shorten_blas_spin``.
BLAS_SPIN_EXPONENT = 16


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


def _numpy_openblas():
    """NumPy's own OpenBLAS as a ``ctypes.CDLL``, if it is OpenBLAS on pthreads; else None."""
    libraries = ThreadpoolController().select(user_api="blas").info()
    for info in libraries:
        if ("numpy" in info["filepath"] and info["internal_api"] == "openblas"
                and info.get("threading_layer") == "pthreads"):
            return ctypes.CDLL(info["filepath"])
    return None


def shorten_blas_spin(exponent: int = BLAS_SPIN_EXPONENT) -> bool:
    """Make NumPy's OpenBLAS threads sleep after 2**exponent idle cycles; True if done.

    Why: after each matrix product OpenBLAS's worker threads spin, waiting for the next one,
    for 2**28 cycles (about 0.1 s) by default. A training step alternates products with
    Numba's loops, so for most of the step a spinning BLAS thread shares a core with Numba's
    second thread, and the loop waits for it. 2**16 cycles (about 20 µs) still bridges the
    products that follow each other closely. Measured on the 2-core machine (training images/s,
    median step; each setting in a fresh process, 5 interleaved rounds, medians):

        ========================  ===========  ==============
        OpenBLAS spin, cycles     LeNet-5, 64  ResNet-20, 128
        ========================  ===========  ==============
        2**28 (OpenBLAS default)        7,185             178
        2**12                           8,951             224
        2**14                           7,771             213
        2**16 (minicnn)                 9,281             229
        2**18                           9,028             221
        ========================  ===========  ==============

    OpenBLAS reads ``OPENBLAS_THREAD_TIMEOUT`` (the exponent) only when its threads start,
    which happened when NumPy was imported. So this sets the variable, has OpenBLAS re-read its
    environment (``openblas_read_env``), stops its threads and starts them again
    (``blas_thread_shutdown_``, ``blas_thread_init``, exported by OpenBLAS but not part of
    its documented API), then restores the environment. Done once, when minicnn's kernels
    are imported; no matrix product may be running in another thread at that moment.

    Nothing changes (False) if you set ``OPENBLAS_THREAD_TIMEOUT`` yourself (``28`` restores
    OpenBLAS's default), or if NumPy's BLAS is not OpenBLAS on pthreads or lacks the functions.
    """
    if "OPENBLAS_THREAD_TIMEOUT" in os.environ:
        return False
    try:
        library = _numpy_openblas()
        if library is None:
            return False
        read_env = library.openblas_read_env
        shutdown, start = library.blas_thread_shutdown_, library.blas_thread_init
    except (AttributeError, OSError):  # the library cannot be loaded or lacks a function
        return False
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = str(int(exponent))
    try:
        read_env()
    finally:
        del os.environ["OPENBLAS_THREAD_TIMEOUT"]
    shutdown()
    start()
    return True


def blas_spin_exponent() -> int | None:
    """The exponent NumPy's OpenBLAS last read for its spin time (0: its default, 2**28
    cycles); None if that BLAS is not OpenBLAS on pthreads."""
    try:
        library = _numpy_openblas()
        return None if library is None else int(library.openblas_thread_timeout())
    except (AttributeError, OSError):
        return None
