"""Batch normalisation (Ioffe and Szegedy, 2015), as a forward/backward pair.

One mean and one variance per channel (axis 1), taken over every other axis: over the batch for
(N, C) input, over the batch and the positions for (N, C, L) and (N, C, H, W) input. So each
channel is normalised with ``m = N`` (or ``N·L``, or ``N·H·W``) values.
"""

import numpy as np

__all__ = ["batch_norm_backward", "batch_norm_forward"]


def _reduction_axes(ndim: int) -> tuple[int, ...]:
    """Every axis but the channel axis 1: (0,) for (N, C), (0, 2, 3) for (N, C, H, W)."""
    return (0, *range(2, ndim))


def _per_channel(values: np.ndarray, ndim: int) -> np.ndarray:
    """A (C,) vector reshaped to broadcast along axis 1: (1, C) or (1, C, 1, 1)."""
    return values.reshape((1, -1) + (1,) * (ndim - 2))


def _dot_per_channel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``Σ a·b`` over every axis but 1, → (C,), without materialising the product a·b."""
    n, c = a.shape[:2]
    return np.einsum("ncl,ncl->c", a.reshape(n, c, -1), b.reshape(n, c, -1))


def _update_running_stats(running_mean, running_var, mean, var, m: int, momentum) -> None:
    """``running = (1 − momentum)·running + momentum·batch``, in place, as PyTorch.

    ``running_var`` tracks the *unbiased* variance ``var · m / (m − 1)``: at evaluation time it
    estimates the population variance, for which the biased batch variance is too small.
    """
    running_mean *= 1 - momentum
    running_mean += momentum * mean
    running_var *= 1 - momentum
    running_var += (momentum * m / (m - 1)) * var


def batch_norm_forward(x: np.ndarray, gamma: np.ndarray | None, beta: np.ndarray | None,
                       running_mean: np.ndarray | None, running_var: np.ndarray | None,
                       training: bool, momentum: float = 0.1, eps: float = 1e-5):
    """Normalise each channel, then scale and shift it.

    Formulas, per channel c, over the m values of that channel::

        μ  = (1/m) Σ x                     σ² = (1/m) Σ (x − μ)²      (biased variance)
        x̂  = (x − μ) / √(σ² + ε)
        y  = γ · x̂ + β

    ``training=True``: μ and σ² are the batch's; if running statistics are given they are
    updated in place, ``running_mean ← (1 − momentum)·running_mean + momentum·μ`` and
    ``running_var ← (1 − momentum)·running_var + momentum·σ²·m/(m − 1)`` (the unbiased
    variance, as PyTorch). ``training=False``: μ and σ² are the running statistics.
    Without running statistics (None) the batch's are used in both modes. ``momentum`` is
    only read when running statistics are updated.

    Shapes:
        x: (N, C), (N, C, L) or (N, C, H, W)   →   y: the shape of x
        gamma, beta, running_mean, running_var: (C,) or None (gamma=None means γ = 1, β = 0)

    Returns ``(y, cache)`` with ``cache = (x̂, γ, 1/√(σ² + ε), used_batch_stats)``.
    """
    axes = _reduction_axes(x.ndim)
    use_batch_stats = training or running_mean is None
    if use_batch_stats:
        m = x.size // x.shape[1]
        if m < 2:
            raise ValueError(f"batch_norm_forward: expected more than 1 value per channel when "
                             f"using batch statistics, got input of shape {x.shape}")
        mean = x.mean(axis=axes)
        centered = x - _per_channel(mean, x.ndim)
        var = _dot_per_channel(centered, centered) / m
        if training and running_mean is not None:
            _update_running_stats(running_mean, running_var, mean, var, m, momentum)
    else:
        centered = x - _per_channel(running_mean, x.ndim)
        var = running_var
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = centered
    x_hat *= _per_channel(inv_std, x.ndim)  # centered is ours, so normalise it in place
    if gamma is None:
        y = x_hat
    else:
        y = x_hat * _per_channel(gamma, x.ndim)
        y += _per_channel(beta, x.ndim)
    return y, (x_hat, gamma, inv_std, use_batch_stats)


def batch_norm_backward(dout: np.ndarray, cache, need_param_grads: bool = True):
    """Gradients of batch normalisation given ``dout = dL/dy``.

    Formulas, per channel, with sums over the channel's m values and ``σ = √(σ² + ε)``::

        dβ = Σ dout                 dγ = Σ dout · x̂                 dx̂ = γ · dout

    With batch statistics, μ and σ depend on every x of the channel, and the chain rule through
    them collapses to the compact form

        dx = (1/m) · (γ/σ) · (m·dx̂ − Σ dx̂ − x̂ · Σ(dx̂ · x̂))
           = (γ/σ) · (dout − dβ/m − x̂ · dγ/m)

    With running statistics (evaluation) μ and σ are constants and ``dx = (γ/σ) · dout``.

    ``need_param_grads=False`` (frozen γ and β) skips dγ and dβ where dx does not need them and
    returns None for both; they are None too when the forward pass had no γ.

    Shapes: dout: the shape of x → dx: the shape of x; dγ, dβ: (C,).
    Returns ``(dx, dgamma, dbeta)``.
    """
    x_hat, gamma, inv_std, used_batch_stats = cache
    ndim = x_hat.ndim
    scale = inv_std if gamma is None else gamma * inv_std  # γ/σ, per channel
    dgamma = dbeta = None
    if used_batch_stats:
        m = x_hat.size // x_hat.shape[1]
        dbeta = dout.sum(axis=_reduction_axes(ndim))
        dgamma = _dot_per_channel(dout, x_hat)
        dx = x_hat * _per_channel(dgamma / m, ndim)
        dx += _per_channel(dbeta / m, ndim)
        np.subtract(dout, dx, out=dx)
        dx *= _per_channel(scale, ndim)
    else:
        dx = dout * _per_channel(scale, ndim)
        if gamma is not None and need_param_grads:
            dbeta = dout.sum(axis=_reduction_axes(ndim))
            dgamma = _dot_per_channel(dout, x_hat)
    if gamma is None or not need_param_grads:
        return dx, None, None
    return dx, dgamma, dbeta
