"""How many threads Numba's loops and the BLAS matrix products use.

The two pools take turns: a kernel loop, then a matmul, then a loop. Each keeps its idle
threads spinning for a while, waiting for more work, and on a small machine that spinning steals
the cores the other pool needs next. The matrix products do most of the arithmetic and scale
with cores; the loops (im2col, col2im, pooling) are memory-bound copies that a second core on a
2-core machine hardly speeds up. So on machines with at most 2 cores minicnn runs Numba's loops
on one thread, the calling one, and leaves BLAS all the cores: nothing spins against the loops,
and the matrix products keep both cores. Measured on this project's idle 2-core machine
(training images/s, median step; numba threads / BLAS threads):

    ==============  =======  =======  =======  =======
                      1 / 1    2 / 1    1 / 2    2 / 2
    LeNet-5, b. 64    7,295    7,255    8,778    7,536
    ResNet-20, 128      169      172      243      218
    ==============  =======  =======  =======  =======

Set ``NUMBA_NUM_THREADS`` yourself, or call ``set_num_threads``, to choose otherwise.
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
    """``{"numba": n, "blas": m}``: the threads each pool uses now."""
    infos = ThreadpoolController().select(user_api="blas").info()
    blas = max((info["num_threads"] for info in infos), default=None)
    return {"numba": numba.get_num_threads(), "blas": blas}


def default_threads() -> None:
    """Numba's loops on one thread on machines with at most 2 cores, unless the user chose.

    BLAS is left as it is: all cores, or what ``OPENBLAS_NUM_THREADS`` (or
    ``OMP_NUM_THREADS``) says.
    """
    if (os.cpu_count() or 1) <= 2 and "NUMBA_NUM_THREADS" not in os.environ:
        numba.set_num_threads(1)
