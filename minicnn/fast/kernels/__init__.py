"""The fast engine's Numba kernels: the only modules of minicnn that import Numba.

    im2col, col2im                      convolution as one matrix product (``im2col.py``)
    direct_conv2d_forward_kernel,       convolution at stride 1 without im2col, for few
    direct_conv2d_weight_grad_kernel    channels (``direct_conv.py``)
    batch_last_conv2d_forward_kernel,   the same with the batch as the last axis, for small
    ..._input_grad_kernel, ...          images (``batch_last_conv.py``)
    max_pool2d_forward_kernel, ...      pooling forward/backward (``pooling.py``)
    batch_norm_train_forward_kernel,    batch normalisation with batch statistics, fused per
    batch_norm_train_backward_kernel    channel (``batchnorm.py``)
    relu_forward_kernel, ...            ReLU in one pass each way (``elementwise.py``)
    row_and_column_sums                 the in-place guard's fingerprint (``fingerprint.py``)
    winograd_input, winograd_output,    the transforms of Winograd's F(2×2, 3×3) (``winograd.py``)
    winograd_dout, ..._input_adjoint

Each function is compiled on its first call (``@njit(cache=True)`` also keeps the machine code
on disk for the next session), so importing this package compiles nothing and changes nothing
in the process. Arrays go in and out; the caller allocates outputs and checks shapes. Each
kernel is a serial loop over independent tasks, split over threads by ``../parallel.py``.

If you edit ``_runs.py``, delete ``minicnn/fast/kernels/__pycache__``: Numba's cache notices
edits to a kernel's own file but not to the helpers it calls from another file.
"""

from .batch_last_conv import *
from .batchnorm import *
from .direct_conv import *
from .elementwise import *
from .fingerprint import *
from .im2col import *
from .pooling import *
from .winograd import *
