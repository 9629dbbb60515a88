"""The fast engine's batch norm with batch statistics: each channel group done in one sweep.

The reference (``minicnn/functional/normalization.py``) makes about 6 passes over the whole
array forward and 5 backward, one per formula. The fused loops of ``kernels/batchnorm.py`` do
a group of channels from start to finish while its values are in the CPU's cache (3 passes
forward, 2 backward), accumulating the sums in float64. Evaluation (running statistics), (N, C)
input and anything the kernels do not take go to the reference, which makes the same cache.
"""

import numpy as np

from ..functional import normalization as reference
from . import kernels

__all__ = ["batch_norm_backward", "batch_norm_forward"]


def _use_fused_kernels(x: np.ndarray, *others) -> bool:
    """True if the fused kernels take x and the other arrays, and are faster than NumPy.

    They take C-contiguous arrays of one dtype, float32 or float64 (None is skipped), and are
    faster only when each channel comes in runs of L ≥ 2 values: for (N, C) input their
    channel-by-channel walk reads one value per cache line ("Batch norm" in
    ``benchmarks/README.md``).
    """
    if x.size // max(x.shape[0] * x.shape[1], 1) < 2:  # L, the run length
        return False
    present = [a for a in (x, *others) if a is not None]
    return x.dtype in (np.float32, np.float64) and all(
        isinstance(a, np.ndarray) and a.dtype == x.dtype and a.flags.c_contiguous
        for a in present)


def _as_channel_runs(a: np.ndarray) -> np.ndarray:
    """(N, C, ...) → the (N, C, L) view the kernels take."""
    return a.reshape(a.shape[0], a.shape[1], -1)


def batch_norm_forward(x, gamma, beta, running_mean, running_var, training: bool,
                       momentum: float = 0.1, eps: float = 1e-5):
    """Replaces ``minicnn.functional.batch_norm_forward``: the same arguments, result and cache.

    The kernel returns μ, σ² and 1/σ in float64; they are rounded to x's dtype, the dtype the
    reference gives them.
    """
    use_batch_stats = training or running_mean is None
    if (not use_batch_stats or (gamma is None) != (beta is None)
            or not _use_fused_kernels(x, gamma, beta) or x.size // x.shape[1] < 2):
        return reference.batch_norm_forward(x, gamma, beta, running_mean, running_var,
                                            training, momentum, eps)
    reference.check_batch_norm_arguments("batch_norm_forward", x, gamma=gamma, beta=beta,
                                         running_mean=running_mean, running_var=running_var)
    x_hat = np.empty_like(x)
    y = None if gamma is None else np.empty_like(x)
    mean, var, inv_std = np.empty((3, x.shape[1]))
    kernels.batch_norm_train_forward_kernel(
        _as_channel_runs(x), gamma, beta, float(eps), _as_channel_runs(x_hat),
        None if y is None else _as_channel_runs(y), mean, var, inv_std)
    if training and running_mean is not None:
        reference.update_running_stats(running_mean, running_var, mean.astype(x.dtype),
                                       var.astype(x.dtype), x.size // x.shape[1], momentum)
    cache = (x_hat, gamma, beta is not None, inv_std.astype(x.dtype), True)
    return (x_hat if y is None else y), cache


def batch_norm_backward(dout, cache, need_dx: bool = True, need_dgamma: bool = True,
                        need_dbeta: bool = True):
    """Replaces ``minicnn.functional.batch_norm_backward``: dx, dγ and dβ with batch statistics
    in one fused kernel; dγ and dβ come back in float64 and are rounded to x̂'s dtype."""
    x_hat, gamma, has_beta, inv_std, used_batch_stats = cache
    scale = inv_std if gamma is None else gamma * inv_std  # γ/σ, per channel
    if not (used_batch_stats and need_dx and _use_fused_kernels(x_hat, dout, scale)):
        return reference.batch_norm_backward(dout, cache, need_dx, need_dgamma, need_dbeta)
    dx = np.empty_like(dout)
    dgamma, dbeta = np.empty((2, x_hat.shape[1]))
    kernels.batch_norm_train_backward_kernel(
        _as_channel_runs(dout), _as_channel_runs(x_hat), scale.astype(np.float64),
        _as_channel_runs(dx), dgamma, dbeta)
    dtype = x_hat.dtype
    return (dx, dgamma.astype(dtype) if gamma is not None and need_dgamma else None,
            dbeta.astype(dtype) if has_beta and need_dbeta else None)
