"""The fast engine's max and average pooling: one Numba loop per direction, parallel over planes.

The reference (``minicnn/functional/pooling.py``) pools through windowed views of a padded
copy; these kernels read each window in place, clipped to the image (``kernels/pooling.py``).
"""

import numpy as np

from ..functional.pooling import check_pool_input, pool_output_shape, pool_params
from . import kernels

__all__ = ["avg_pool2d_backward", "avg_pool2d_forward", "max_pool2d_backward",
           "max_pool2d_forward"]


def max_pool2d_forward(x: np.ndarray, kernel_size, stride=None, padding=0):
    """Replaces ``minicnn.functional.max_pool2d_forward``: the same output.

    The cache holds the flat position ``y·W + x`` of each window's first maximum (int32).
    """
    where = "max_pool2d_forward"
    check_pool_input(where, x)
    kernel, stride, padding = pool_params(where, kernel_size, stride, padding)
    out_shape = pool_output_shape(where, x.shape, kernel, stride, padding)
    out = np.empty(out_shape, x.dtype)
    argmax = np.empty(out_shape, np.int32)
    kernels.max_pool2d_forward_kernel(np.ascontiguousarray(x), *kernel, *stride, *padding,
                                      out, argmax)
    return out, (x.shape, argmax)


def max_pool2d_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Replaces ``minicnn.functional.max_pool2d_backward``: dout added at each first maximum."""
    input_shape, argmax = cache
    dx = np.empty(input_shape, dout.dtype)
    kernels.max_pool2d_backward_kernel(np.ascontiguousarray(dout), argmax, dx)
    return dx


def avg_pool2d_forward(x: np.ndarray, kernel_size, stride=None, padding=0,
                       count_include_pad: bool = True):
    """Replaces ``minicnn.functional.avg_pool2d_forward``: the same output."""
    where = "avg_pool2d_forward"
    check_pool_input(where, x)
    kernel, stride, padding = pool_params(where, kernel_size, stride, padding)
    out = np.empty(pool_output_shape(where, x.shape, kernel, stride, padding), x.dtype)
    kernels.avg_pool2d_forward_kernel(np.ascontiguousarray(x), *kernel, *stride, *padding,
                                      bool(count_include_pad), out)
    return out, (x.shape, kernel, stride, padding, bool(count_include_pad))


def avg_pool2d_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Replaces ``minicnn.functional.avg_pool2d_backward``: each window's share to its pixels."""
    input_shape, kernel, stride, padding, count_include_pad = cache
    dx = np.empty(input_shape, dout.dtype)
    kernels.avg_pool2d_backward_kernel(np.ascontiguousarray(dout), *kernel, *stride, *padding,
                                       count_include_pad, dx)
    return dx
