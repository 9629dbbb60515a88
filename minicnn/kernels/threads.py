"""How many threads Numba's loops and the BLAS matrix products use.

The two pools take turns: a kernel loop, then a matmul, then a loop. Each keeps spinning for a
while after its work is done, waiting for more, and on a small machine that spinning steals the
cores the other pool needs next. Measured on this project's 2-core machine (LeNet-5 training,
batch 64, median images/s of three alternated runs on a busy machine): both pools at 2 threads
642; OpenBLAS at 1 thread 3,466; OpenBLAS at 1 thread and Numba's workqueue layer 3,225 (and
the fastest 3×3 convolution). So on machines with at most two cores minicnn gives BLAS one
thread (through threadpoolctl, which works even when NumPy was imported first) unless you set
``OPENBLAS_NUM_THREADS`` or ``OMP_NUM_THREADS``, or call ``set_num_threads``, yourself.
"""

import os

import numba
import numpy as np
from threadpoolctl import ThreadpoolController

__all__ = ["get_num_threads", "set_num_threads"]

_BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def set_num_threads(n: int, blas: int | None = None) -> None:
    """Use ``n`` threads for Numba's parallel loops and ``blas`` (default ``n``) for matmuls."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive integer, got {n!r}")
    numba.set_num_threads(min(int(n), numba.config.NUMBA_NUM_THREADS))
    ThreadpoolController().limit(limits=int(blas or n), user_api="blas")


def get_num_threads() -> dict:
    """``{"numba": n, "blas": m}``: the threads each pool uses now."""
    infos = ThreadpoolController().select(user_api="blas").info()
    blas = max((info["num_threads"] for info in infos), default=None)
    return {"numba": numba.get_num_threads(), "blas": blas}


def default_blas_threads() -> None:
    """One BLAS thread on machines with at most 2 cores, unless the user chose a number."""
    if (os.cpu_count() or 1) <= 2 and not any(name in os.environ for name in _BLAS_ENV):
        ThreadpoolController().limit(limits=1, user_api="blas")
