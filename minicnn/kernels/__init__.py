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
that spinning steals the cores from the BLAS threads that run next (and from other programs):
on this project's 2-core machine a 3×3 convolution layer's forward and backward took 470 ms
instead of 170 ms, and a LeNet-5 layer 16 ms instead of 2 ms. So, unless you chose otherwise,
idle OpenMP threads sleep at once (``OMP_WAIT_POLICY=PASSIVE``); waking them costs a few
microseconds per loop. OpenMP reads the setting once, when it loads (at Numba's first parallel
loop), so it is made here, on import.
"""

import os

# Before Numba (and with it the OpenMP library) loads. An OpenMP library loaded earlier by
# another package (PyTorch, for one) has already read its setting, and keeps spinning.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Numba's own thread pool sleeps when idle whatever OpenMP library another package loaded
# first; it measured as fast as OpenMP here (see threads.py).
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

from .im2col import *
from .pooling import *
from .threads import default_blas_threads, get_num_threads, set_num_threads

default_blas_threads()
