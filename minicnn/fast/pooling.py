"""The fast engine's max and average pooling: one Numba loop per direction, parallel over planes.

The reference (``minicnn/functional/pooling.py``) pools through windowed views of a padded
copy; these kernels read each window in place, clipped to the image (``kernels/pooling.py``).
"""

from dataclasses import dataclass

import numpy as np

from ..functional import pooling as reference
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


@dataclass(frozen=True)
class ReferenceCache:
    """The cache of a case the kernels do not cover (dilation, ceil mode, a divisor override),
    which the forward handed to the reference engine; backward hands it back there."""
    cache: tuple

    ARRAY_FIELDS = ("cache",)  # where the in-place guard looks for arrays (nn/_kept_arrays.py)


def _is_one(value) -> bool:
    return value == 1 or value == (1, 1)


def max_pool2d_forward(x: np.ndarray, kernel_size, stride=None, padding=0, dilation=1,
                       ceil_mode: bool = False, return_indices: bool = False, *,
                       where: str = "max_pool2d_forward"):
    """Replaces ``minicnn.functional.max_pool2d_forward``: the same output.

    The kernels cover dilation 1 in floor mode; other settings run the reference's code. The
    cache holds the flat position ``y·W + x`` of each window's first maximum (int32), which is
    also the ``indices`` PyTorch returns (as int64).
    """
    if ceil_mode or not _is_one(dilation):
        out, cache = reference.max_pool2d_forward(x, kernel_size, stride, padding, dilation,
                                                  ceil_mode, return_indices, where=where)
        return out, ReferenceCache(cache)
    check_pool_input(where, x)
    kernel, stride, padding = pool_params(where, kernel_size, stride, padding)
    out_shape = pool_output_shape(where, x.shape, kernel, stride, padding)
    out = np.empty(out_shape, x.dtype)
    argmax = np.empty(out_shape, np.int32)
    kernels.max_pool2d_forward_kernel(np.ascontiguousarray(x), *kernel, *stride, *padding,
                                      out, argmax)
    if return_indices:
        return (out, argmax.astype(np.int64)), MaxPoolCache(x.shape, argmax)
    return out, MaxPoolCache(x.shape, argmax)


def max_pool2d_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Replaces ``minicnn.functional.max_pool2d_backward``: dout added at each first maximum."""
    if isinstance(cache, ReferenceCache):
        return reference.max_pool2d_backward(dout, cache.cache)
    check_cache("max_pool2d_backward", cache, MaxPoolCache)
    dx = np.empty(cache.input_shape, dout.dtype)
    kernels.max_pool2d_backward_kernel(np.ascontiguousarray(dout), cache.argmax, dx)
    return dx


def avg_pool2d_forward(x: np.ndarray, kernel_size, stride=None, padding=0,
                       ceil_mode: bool = False, count_include_pad: bool = True,
                       divisor_override=None, *, where: str = "avg_pool2d_forward"):
    """Replaces ``minicnn.functional.avg_pool2d_forward``: the same output.

    The kernels cover floor mode without a divisor override; other settings run the
    reference's code.
    """
    if ceil_mode or divisor_override is not None:
        out, cache = reference.avg_pool2d_forward(x, kernel_size, stride, padding, ceil_mode,
                                                  count_include_pad, divisor_override,
                                                  where=where)
        return out, ReferenceCache(cache)
    check_pool_input(where, x)
    kernel, stride, padding = pool_params(where, kernel_size, stride, padding)
    out = np.empty(pool_output_shape(where, x.shape, kernel, stride, padding), x.dtype)
    kernels.avg_pool2d_forward_kernel(np.ascontiguousarray(x), *kernel, *stride, *padding,
                                      bool(count_include_pad), out)
    return out, AvgPoolCache(x.shape, kernel, stride, padding, bool(count_include_pad))


def avg_pool2d_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Replaces ``minicnn.functional.avg_pool2d_backward``: each window's share to its pixels."""
    if isinstance(cache, ReferenceCache):
        return reference.avg_pool2d_backward(dout, cache.cache)
    check_cache("avg_pool2d_backward", cache, AvgPoolCache)
    dx = np.empty(cache.input_shape, dout.dtype)
    kernels.avg_pool2d_backward_kernel(np.ascontiguousarray(dout), *cache.kernel, *cache.stride,
                                       *cache.padding, cache.count_include_pad, dx)
    return dx
