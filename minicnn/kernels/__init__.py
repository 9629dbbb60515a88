"""Floor 1: Numba-jitted loops on plain arrays, and the only place that imports Numba.

    im2col, col2im                      convolution as one matrix product (see ``im2col.py``)
    max_pool2d_forward_kernel, ...      pooling forward/backward (see ``pooling.py``)

Each function is compiled on its first call (``@njit(cache=True)`` also keeps the machine code
on disk for the next session), so importing this package compiles nothing. Arrays go in and
out; the caller allocates outputs and checks shapes.

If you edit ``_runs.py``, delete ``minicnn/kernels/__pycache__``: Numba's cache notices edits
to a kernel's own file but not to the helpers it calls from another file.

Threads. The loops run in parallel over channels (``prange``) on Numba's threads, and they
alternate with matrix products that run on the BLAS library's own threads. A pool that keeps
spinning after its work is done, waiting for more, steals the cores the other pool needs next:
on this project's 2-core machine, with Numba's OpenMP threads spinning, a 3×3 convolution
layer's forward and backward took 470 ms instead of 170 ms. So, unless you set these yourself,
minicnn uses Numba's own ``workqueue`` thread pool (its threads sleep when idle, whatever OpenMP
library another package loaded first), tells OpenMP to sleep at once too
(``OMP_WAIT_POLICY=PASSIVE``) in case you pick it, and on machines with at most 2 cores runs
the loops on one thread and gives BLAS both cores (see ``threads.py``). One limit of
``workqueue``: two Python threads must not run parallel kernels at the same time (Numba stops
the program); choose ``NUMBA_THREADING_LAYER=omp`` for that.

Memory. Importing this package also asks glibc to keep freed memory for reuse rather than give
it back to the system after every batch (``minicnn/_allocator.py``; ``MINICNN_KEEP_FREED_MEMORY=0``
turns it off).
"""

import os

# Before Numba (and with it the OpenMP library) loads. An OpenMP library loaded earlier by
# another package (PyTorch, for one) has already read its setting, and keeps spinning.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Numba's own thread pool sleeps when idle whatever OpenMP library another package loaded
# first; it measured as fast as OpenMP here (see threads.py).
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

from .._allocator import keep_freed_memory
from .im2col import *
from .pooling import *
from .threads import default_threads, get_num_threads, set_num_threads

default_threads()
keep_freed_memory()  # see minicnn/_allocator.py: no page faults on every batch's arrays
