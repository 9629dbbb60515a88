"""ReLU forward and backward as single passes over flat arrays.

NumPy computes a ReLU layer in separate passes, each a trip through memory with a temporary:
``np.maximum(x, 0)`` and the mask ``x > 0`` forward, ``dout * mask`` backward (which also
converts the boolean mask to floats on the way). These loops do each direction in one pass,
one block of ``BLOCK`` elements per task, on the threads of ``parallel.py``: fewer trips
through memory, no temporaries (figures: benchmarks/README.md, "ReLU").

    forward   out[i] = x[i] if x[i] > 0 else 0      mask[i] = x[i] > 0
    backward  dx[i] = dout[i] if mask[i] else 0

NaN. ``np.maximum`` passes a NaN on, and so does the forward loop (a NaN in means a bug
upstream, which should show). Its mask is False, so backward sends 0 there, and also sends 0
(not NaN) where dout is NaN on an inactive unit: a select, as PyTorch's ``threshold_backward``,
where ``dout * mask`` would give NaN · 0 = NaN.

Arrays are flat (``reshape(-1)`` of C-contiguous arrays), of one float dtype; the mask is
``np.bool_``. The caller allocates the outputs.
"""

import numpy as np
from numba import njit

from ..parallel import run_tasks
from ..tuning import ELEMENTWISE_BLOCK

__all__ = ["relu_backward_kernel", "relu_forward_kernel"]

BLOCK = ELEMENTWISE_BLOCK  # elements per task; a compile-time constant of the loops


def _run_blocks(kernel, size: int, *args) -> None:
    """``kernel(*args, first, last)`` over blocks ``[first, last)`` of ``size`` elements."""
    run_tasks(kernel, max(1, -(-size // BLOCK)), size, *args)


@njit(cache=True, inline="always")
def _elements(first, last, size):
    """The element range of blocks ``first`` to ``last − 1``, as unsigned bounds."""
    return np.uint64(first * BLOCK), np.uint64(min(last * BLOCK, size))


def relu_forward_kernel(x, out, mask=None):
    """Fill ``out = max(x, 0)`` (NaN stays NaN) and, unless None, ``mask = x > 0``."""
    _run_blocks(_relu_forward_blocks, x.size, x, out, mask)
    return out


@njit(cache=True, nogil=True)
def _relu_forward_blocks(x, out, mask, first, last):
    """``relu_forward_kernel`` for blocks ``first`` to ``last − 1``."""
    zero = np.zeros(1, x.dtype)[0]
    start, stop = _elements(first, last, x.size)
    for i in range(start, stop):
        value = x[i]
        # "not value <= 0" rather than "value > 0": True for NaN, which passes through.
        out[i] = value if not value <= zero else zero
        if mask is not None:  # decided when compiling: one machine-code version per case
            mask[i] = value > zero


def relu_backward_kernel(dout, mask, dx):
    """Fill ``dx = dout`` where ``mask``, else 0."""
    _run_blocks(_relu_backward_blocks, dout.size, dout, mask, dx)
    return dx


@njit(cache=True, nogil=True)
def _relu_backward_blocks(dout, mask, dx, first, last):
    """``relu_backward_kernel`` for blocks ``first`` to ``last − 1``."""
    zero = np.zeros(1, dx.dtype)[0]  # of dx's dtype: no conversion from a Python int per value
    start, stop = _elements(first, last, dout.size)
    for i in range(start, stop):
        dx[i] = dout[i] if mask[i] else zero
