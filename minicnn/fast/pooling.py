"""The fast engine's max and average pooling: one Numba loop per direction, parallel over planes.

The reference (``minicnn/functional/pooling.py``) pools through windowed views of a padded
copy; these kernels read each window in place, clipped to the image (``kernels/pooling.py``).
"""

from dataclasses import dataclass

import numpy as np

from ..functional.pooling import check_pool_input, pool_output_shape, pool_params
from . import kernels
from .caches import check_cache

__all__ = ["avg_pool2d_backward", "avg_pool2d_forward", "max_pool2d_backward",
           "max_pool2d_forward"]


@dataclass(frozen=True)
class MaxPoolCache:
    input_shape: tuple
    argmax: np.ndarray  # (N, C, Ho, Wo) int32: y·W + x of each window's first maximum

    ARRAY_FIELDS = ("argmax",)  # where the in-place guard looks for arrays (nn/_kept_arrays.py)


@dataclass(frozen=True)
class AvgPoolCache:
    input_shape: tuple
    kernel: tuple
    stride: tuple
    padding: tuple
    count_include_pad: bool

    ARRAY_FIELDS = ()  # where the in-place guard looks for arrays (nn/_kept_arrays.py)


def max_pool2d_forward(x: np.ndarray, kernel_size, stride=None, padding=0, *,
                       where: str = "max_pool2d_forward"):
    """Replaces ``minicnn.functional.max_pool2d_forward``: the same output.

    The cache holds the flat position ``y·W + x`` of each window's first maximum (int32).
    """
    check_pool_input(where, x)
    kernel, stride, padding = pool_params(where, kernel_size, stride, padding)
    out_shape = pool_output_shape(where, x.shape, kernel, stride, padding)
    out = np.empty(out_shape, x.dtype)
    argmax = np.empty(out_shape, np.int32)
    kernels.max_pool2d_forward_kernel(np.ascontiguousarray(x), *kernel, *stride, *padding,
                                      out, argmax)
    return out, MaxPoolCache(x.shape, argmax)


def max_pool2d_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Replaces ``minicnn.functional.max_pool2d_backward``: dout added at each first maximum."""
    check_cache("max_pool2d_backward", cache, MaxPoolCache)
    dx = np.empty(cache.input_shape, dout.dtype)
    kernels.max_pool2d_backward_kernel(np.ascontiguousarray(dout), cache.argmax, dx)
    return dx


def avg_pool2d_forward(x: np.ndarray, kernel_size, stride=None, padding=0,
                       count_include_pad: bool = True, *, where: str = "avg_pool2d_forward"):
    """Replaces ``minicnn.functional.avg_pool2d_forward``: the same output."""
    check_pool_input(where, x)
    kernel, stride, padding = pool_params(where, kernel_size, stride, padding)
    out = np.empty(pool_output_shape(where, x.shape, kernel, stride, padding), x.dtype)
    kernels.avg_pool2d_forward_kernel(np.ascontiguousarray(x), *kernel, *stride, *padding,
                                      bool(count_include_pad), out)
    return out, AvgPoolCache(x.shape, kernel, stride, padding, bool(count_include_pad))


def avg_pool2d_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Replaces ``minicnn.functional.avg_pool2d_backward``: each window's share to its pixels."""
    check_cache("avg_pool2d_backward", cache, AvgPoolCache)
    dx = np.empty(cache.input_shape, dout.dtype)
    kernels.avg_pool2d_backward_kernel(np.ascontiguousarray(dout), *cache.kernel, *cache.stride,
                                       *cache.padding, cache.count_include_pad, dx)
    return dx
