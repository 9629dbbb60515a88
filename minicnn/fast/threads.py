"""How many threads minicnn's kernels and the BLAS matrix products use.

The kernels (im2col, pooling, ...) split their work over the calling thread and a small pool
of minicnn's own (``parallel.py``); matrix products run on the BLAS library's threads. The two
take turns: a kernel, then a matmul, then a kernel. Both use every core by default
(``NUMBA_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` or ``set_num_threads`` choose others).

A pool whose idle threads keep spinning, waiting for more work, steals the core the other
needs next. OpenBLAS's idle threads spin for 2**28 cycles after each product, long enough to
span the kernel that follows, so ``minicnn.fast.configure_process()`` shortens that to 2**16
(``shorten_blas_spin``, unless you set ``OPENBLAS_THREAD_TIMEOUT``); importing minicnn leaves
it alone. minicnn's own threads sleep as soon as they have nothing to do.
``bench_train.py --threading`` measures the settings against each other (figures:
benchmarks/README.md, "Threads").
"""

import ctypes
import os

import numpy as np
from threadpoolctl import ThreadpoolController

from .parallel import get_kernel_threads, set_kernel_threads
from .tuning import BLAS_SPIN_EXPONENT

__all__ = ["get_num_threads", "set_num_threads"]



def set_num_threads(n: int, blas: int | None = None) -> None:
    """Use ``n`` threads for minicnn's kernels and ``blas`` (default ``n``) for matmuls."""
    for value in (n, blas if blas is not None else n):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"set_num_threads: expected a positive integer, got {value!r}")
    set_kernel_threads(int(n))
    ThreadpoolController().limit(limits=int(blas or n), user_api="blas")


def get_num_threads() -> dict:
    """``{"kernels": n, "blas": m}``: the threads each pool uses now.

    ``blas`` is that of the BLAS library NumPy's matmul calls. Other copies may be loaded too
    (compiling a Numba function loads SciPy's own OpenBLAS) but do none of minicnn's work.
    """
    libraries = ThreadpoolController().select(user_api="blas").info()
    numpy_own = [info for info in libraries if "numpy" in info["filepath"]]  # numpy.libs/...
    blas = max((info["num_threads"] for info in numpy_own or libraries), default=None)
    return {"kernels": get_kernel_threads(), "blas": blas}


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
    for 2**28 cycles by default. A training step alternates products with minicnn's kernels,
    so for most of the step a spinning BLAS thread shares a core with the kernels' second
    thread, and the kernel waits for it. 2**16 cycles still bridges the products that follow
    each other closely. (figures: benchmarks/README.md, "Threads")

    OpenBLAS reads ``OPENBLAS_THREAD_TIMEOUT`` (the exponent) only when its threads start,
    which happened when NumPy was imported. So this sets the variable, has OpenBLAS re-read its
    environment (``openblas_read_env``), stops its threads and starts them again
    (``blas_thread_shutdown_``, ``blas_thread_init``, exported by OpenBLAS but not part of
    its documented API), then restores the environment. ``minicnn.fast.configure_process()``
    calls it, once, at the start of a script: no matrix product may be running in another
    thread at that moment.

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
