"""Synchronised batch normalisation: one batch spread over several processes (ranks).

With data-parallel training each rank holds a shard of the batch. ``batch_norm_forward`` on a
shard would normalise with the shard's statistics; these functions normalise with those of
the whole batch, which no rank holds. Each rank reduces its shard to a few sums per channel,
and one all-reduce (an element-wise sum over the ranks) adds them up, in the forward pass and
again in the backward pass. On one rank (``all_reduce_sum`` the identity) they compute batch
normalisation's formulas.

``all_reduce_sum(array) -> array`` is the communication, given by the caller (the layer passes
``minicnn.distributed.all_reduce_sum``); this module is plain NumPy and knows nothing of MPI.
Every rank must call it the same number of times, in the same order.
"""

import numpy as np

from .normalization import (
    _per_channel,
    _reduction_axes,
    check_batch_norm_arguments,
    scale_and_shift,
    update_running_stats,
)

__all__ = ["sync_batch_norm_backward", "sync_batch_norm_forward"]


def sync_batch_norm_forward(x: np.ndarray, gamma: np.ndarray | None, beta: np.ndarray | None,
                            running_mean: np.ndarray | None, running_var: np.ndarray | None,
                            momentum: float = 0.1, eps: float = 1e-5, *, all_reduce_sum):
    """Batch normalisation in training mode with the statistics of every rank's values.

    Formulas, per channel c; rank r holds m_r of the channel's values, M = Σ_r m_r in all::

        one all-reduce of [Σ x, Σ x², m_r]  →  S₁ = Σ_r Σ x,  S₂ = Σ_r Σ x²,  M
        μ  = S₁ / M                 σ² = S₂ / M − μ²          (biased variance, as BatchNorm)
        x̂  = (x − μ) / √(σ² + ε)    y  = γ · x̂ + β

    The sums are taken in float64 (σ² as a difference of two sums loses digits otherwise) and
    μ, σ² are then cast to x's dtype. The running statistics, if given, are updated in place
    with the whole batch's μ and unbiased variance σ²·M/(M − 1), as PyTorch's SyncBatchNorm.

    Shapes:
        x: (N, C, ...) with N ≥ 1, this rank's shard   →   y: the shape of x
        gamma, beta, running_mean, running_var: (C,) or None (γ = 1 and β = 0 when None)

    Returns ``(y, cache)``, ``cache = (x̂, γ, has β, 1/√(σ² + ε), m_r, M, all_reduce_sum)``.
    ``all_reduce_sum(array) -> float64 array``: the element-wise sum over the ranks (module
    docstring). ValueError, on every rank alike, when the ranks together hold fewer than 2
    values of a channel.
    """
    where = "sync_batch_norm_forward"
    check_batch_norm_arguments(where, x, gamma=gamma, beta=beta, running_mean=running_mean,
                               running_var=running_var)
    axes, channels = _reduction_axes(x.ndim), x.shape[1]
    m = x.size // channels
    wide = x.astype(np.float64, copy=False)
    local = np.concatenate([wide.sum(axis=axes), (wide ** 2).sum(axis=axes), [m]])
    total = all_reduce_sum(local)
    sum_x, sum_x2, count = total[:channels], total[channels:2 * channels], int(total[-1])
    if count < 2:
        raise ValueError(f"{where}: expected more than 1 value per channel over all ranks "
                         f"when training, got {count} (this rank's input has shape {x.shape})")
    mean = sum_x / count
    var = np.maximum(sum_x2 / count - mean ** 2, 0)  # rounding must not make it negative
    mean, var = mean.astype(x.dtype), var.astype(x.dtype)
    if running_mean is not None:
        update_running_stats(running_mean, running_var, mean, var, count, momentum)
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = (x - _per_channel(mean, x.ndim)) * _per_channel(inv_std, x.ndim)
    y = scale_and_shift(x_hat, gamma, beta)
    return y, (x_hat, gamma, beta is not None, inv_std, m, count, all_reduce_sum)


def sync_batch_norm_backward(dout: np.ndarray, cache, need_dgamma: bool = True,
                             need_dbeta: bool = True):
    """Gradients of ``sync_batch_norm_forward`` given this rank's ``dout``.

    Each rank's ``dout`` is taken as the gradient of *its own* mean loss, and the ranks' losses
    weigh by their shares m_r / M of the values, as ``DistributedDataParallel`` weighs their
    gradients by their sample counts; so the result, averaged as that does, is exactly the
    gradient of one process on the whole batch (also for uneven shards). Per channel, sums
    over this rank's m_r values, σ = √(σ² + ε)::

        dβ_r = Σ dout           dγ_r = Σ dout · x̂              (this rank's share: returned)
        one all-reduce of [m_r · dβ_r, m_r · dγ_r]  →  B = Σ_r m_r dβ_r,  G = Σ_r m_r dγ_r
        dx = (γ/σ) · (dout − B / (m_r M) − x̂ · G / (m_r M))

    On one rank (m_r = M) that is batch normalisation's ``(γ/σ)(dout − dβ/m − x̂ dγ/m)``; with
    equal shards, B / (m_r M) = Σ_r dβ_r / M, PyTorch's SyncBatchNorm.

    ``need_dgamma`` / ``need_dbeta`` = False return None in that place (also without γ / β).
    Shapes: dout: the shape of x → dx: the shape of x; dγ_r, dβ_r: (C,).
    Returns ``(dx, dgamma, dbeta)``.
    """
    x_hat, gamma, has_beta, inv_std, m, count, all_reduce_sum = cache
    axes, ndim, channels = _reduction_axes(x_hat.ndim), x_hat.ndim, x_hat.shape[1]
    scale = inv_std if gamma is None else gamma * inv_std  # γ/σ, per channel
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * x_hat).sum(axis=axes)
    total = all_reduce_sum(np.concatenate([m * dbeta, m * dgamma]))
    weight = m * count
    mean_dbeta = (total[:channels] / weight).astype(dout.dtype)
    mean_dgamma = (total[channels:] / weight).astype(dout.dtype)
    dx = _per_channel(scale, ndim) * (dout - _per_channel(mean_dbeta, ndim)
                                      - x_hat * _per_channel(mean_dgamma, ndim))
    return (dx, dgamma if gamma is not None and need_dgamma else None,
            dbeta if has_beta and need_dbeta else None)
