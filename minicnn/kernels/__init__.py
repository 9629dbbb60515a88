"""Floor 1: Numba-jitted loops on plain arrays, and the only place that imports Numba.

    im2col, col2im                      convolution as one matrix product (see ``im2col.py``)
    max_pool2d_forward_kernel, ...      pooling forward/backward (see ``pooling.py``)

Each function is compiled on its first call (``@njit(cache=True)`` also keeps the machine code
on disk for the next session), so importing this package compiles nothing. Arrays go in and
out; the caller allocates outputs and checks shapes.

If you edit ``_runs.py``, delete ``minicnn/kernels/__pycache__``: Numba's cache notices edits
to a kernel's own file but not to the helpers it calls from another file.

Threads. The loops run in parallel over channel planes (``prange``) on Numba's threads, and
they alternate with matrix products that run on the BLAS library's own threads. By default
Numba's OpenMP threads keep spinning for a while after each loop, waiting for more work, and
that spinning steals the cores from the BLAS threads that run next (and from any other program).
On a 2-core machine that made a convolution 2-10× slower, and under load up to 100×. So, unless
you chose otherwise, idle OpenMP threads sleep at once (``OMP_WAIT_POLICY=PASSIVE``); waking
them costs a few microseconds per loop. The setting must be made before Numba starts its
threads, which it does at the first parallel call, so it is made here, on import.
"""

import os

from .im2col import *
from .pooling import *

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
