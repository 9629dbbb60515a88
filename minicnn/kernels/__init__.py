"""Floor 1: Numba-jitted loops on plain arrays, and the only place that imports Numba.

    im2col, col2im                      convolution as one matrix product (see ``im2col.py``)
    direct_conv2d_forward_kernel,       convolution at stride 1 without im2col, for few
    direct_conv2d_weight_grad_kernel    channels (see ``direct_conv.py``)
    batch_last_conv2d_forward_kernel,   the same with the batch as the last axis, for small
    ..._input_grad_kernel, ...          images (see ``batch_last_conv.py``)
    max_pool2d_forward_kernel, ...      pooling forward/backward (see ``pooling.py``)
    batch_norm_train_forward_kernel,    batch normalisation with batch statistics, fused per
    batch_norm_train_backward_kernel    channel (see ``batchnorm.py``)
    relu_forward_kernel, ...            ReLU in one pass each way (see ``elementwise.py``)

Each function is compiled on its first call (``@njit(cache=True)`` also keeps the machine code
on disk for the next session), so importing this package compiles nothing. Arrays go in and
out; the caller allocates outputs and checks shapes.

If you edit ``_runs.py``, delete ``minicnn/kernels/__pycache__``: Numba's cache notices edits
to a kernel's own file but not to the helpers it calls from another file.

Threads. Each kernel is a serial Numba loop over independent tasks (channels, planes, rows),
run on a slice of the tasks per thread by ``parallel.py``; the matrix products between kernels
run on the BLAS library's own threads. Both use every core. So that an idle BLAS thread does not
hold a core through the kernel that follows a product, minicnn shortens OpenBLAS's spinning
from about 0.1 s to 20 µs (``threads.py``, unless you set ``OPENBLAS_THREAD_TIMEOUT``).

Memory. Importing this package also asks glibc to keep freed memory for reuse rather than give
it back to the system after every batch (``minicnn/_allocator.py``; ``MINICNN_KEEP_FREED_MEMORY=0``
turns it off).
"""

from .._allocator import keep_freed_memory
from .batch_last_conv import *
from .batchnorm import *
from .direct_conv import *
from .elementwise import *
from .im2col import *
from .pooling import *
from .threads import get_num_threads, set_num_threads, shorten_blas_spin

shorten_blas_spin()  # see threads.py: BLAS's idle threads stop holding a core after 20 µs
keep_freed_memory()  # see minicnn/_allocator.py: no page faults on every batch's arrays
