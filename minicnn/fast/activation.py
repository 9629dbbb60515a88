"""The fast engine's ReLU: ``minicnn.functional.relu_forward/backward`` in one pass each way."""

import numpy as np

from .._grad_mode import is_grad_enabled
from .._validation import FLOAT_DTYPES
from ..functional import activation as reference
from . import kernels

__all__ = ["relu_backward", "relu_forward"]


def relu_forward(x: np.ndarray):
    """Replaces ``minicnn.functional.relu_forward``: ``(max(x, 0), (x > 0,))``.

    One pass of ``kernels.relu_forward_kernel`` writes both; under ``minicnn.no_grad()`` the
    mask is skipped (no backward follows) and the cache is None. Non-float arrays take the
    reference.
    """
    if not _is_float_array(x):
        return reference.relu_forward(x)
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    mask = np.empty(x.shape, np.bool_) if is_grad_enabled() else None
    kernels.relu_forward_kernel(x.reshape(-1), out.reshape(-1),
                                None if mask is None else mask.reshape(-1))
    return out, (None if mask is None else (mask,))


def relu_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Replaces ``minicnn.functional.relu_backward``: ``dout`` where active, else 0 (a select)."""
    (active,) = cache
    if not _is_float_array(dout) or dout.shape != active.shape:
        return reference.relu_backward(dout, cache)
    dout = np.ascontiguousarray(dout)
    dx = np.empty_like(dout)
    kernels.relu_backward_kernel(dout.reshape(-1), active.reshape(-1), dx.reshape(-1))
    return dx


def _is_float_array(x) -> bool:
    return isinstance(x, np.ndarray) and x.dtype in FLOAT_DTYPES
