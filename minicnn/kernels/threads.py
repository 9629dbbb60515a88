"""How many threads Numba's loops and the BLAS matrix products use, and which thread pool runs
Numba's loops.

The two pools take turns: a kernel loop, then a matmul, then a loop. A pool whose idle threads
keep spinning, waiting for more work, steals the cores the other pool needs next. The matrix
products do most of the arithmetic and scale with cores; the loops (im2col, col2im, pooling)
are memory-bound copies that a second core hardly speeds up on a 2-core machine. Measured on
this project's 2-core machine (training images/s, median step, ``bench_train.py --threading``,
two interleaved rounds on a shared machine; Numba threads / BLAS threads):

    ======================================  ===========  ==============
    Numba's layer, threads                  LeNet-5, 64  ResNet-20, 128
    ======================================  ===========  ==============
    OpenMP, 1 / 2 (the default here)             13,963             287
    OpenMP, 2 / 2                                13,339             281
    OpenMP, 2 / 1                                13,045             222
    workqueue, 1 / 2                             10,306             228
    workqueue, 2 / 2                              8,964             253
    workqueue, 2 / 1                             11,047             202
    OpenMP, 2 / 2, ``OMP_WAIT_POLICY=ACTIVE``     1,149              46
    ======================================  ===========  ==============

Hence the defaults, each of which you override by setting the variable yourself:

* ``OMP_WAIT_POLICY=PASSIVE`` (set in ``kernels/__init__.py``): OpenMP's idle threads sleep.
* Numba's OpenMP layer when available (``choose_threading_layer``): a one-thread loop runs on
  the calling thread, where Numba's own ``workqueue`` pool hands every loop to a worker thread
  and back. Two exceptions: if an OpenMP library was already loaded when minicnn's kernels were
  first imported (PyTorch imported first, say), it read ``OMP_WAIT_POLICY`` before minicnn could
  set it and may spin, so minicnn takes ``workqueue``; and GNU OpenMP is not safe across
  ``fork``: a child process made by ``multiprocessing``'s "fork" start method after minicnn has
  run a loop must not run minicnn's loops (use the "spawn" start method, or set
  ``NUMBA_THREADING_LAYER=workqueue``).
* On machines with at most 2 cores, Numba's loops get one thread (``default_threads``) and BLAS
  keeps all cores.
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


def default_threads() -> None:
    """Numba's loops on one thread on machines with at most 2 cores, unless the user chose.

    BLAS is left as it is: all cores, or what ``OPENBLAS_NUM_THREADS`` (or
    ``OMP_NUM_THREADS``) says.
    """
    if (os.cpu_count() or 1) <= 2 and "NUMBA_NUM_THREADS" not in os.environ:
        numba.set_num_threads(1)
