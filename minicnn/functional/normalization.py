"""Batch normalisation (Ioffe and Szegedy, 2015), as a forward/backward pair.

One mean and one variance per channel (axis 1), taken over every other axis: over the batch for
(N, C) input, over the batch and the positions for (N, C, L) and (N, C, H, W) input. So each
channel is normalised with ``m = N`` (or ``N·L``, or ``N·H·W``) values. The code below is the
formulas of the docstrings, one array operation each.
"""

import numpy as np

__all__ = ["batch_norm_backward", "batch_norm_forward", "batch_norm_inference"]


def _reduction_axes(ndim: int) -> tuple[int, ...]:
    """Every axis but the channel axis 1: (0,) for (N, C), (0, 2, 3) for (N, C, H, W)."""
    return (0, *range(2, ndim))


def _per_channel(values: np.ndarray, ndim: int) -> np.ndarray:
    """A (C,) vector reshaped to broadcast along axis 1: (1, C) or (1, C, 1, 1)."""
    return values.reshape((1, -1) + (1,) * (ndim - 2))


def check_batch_norm_arguments(where: str, x, **per_channel) -> None:
    """ValueError unless x is (N, C, ...) and every given (C,) array has C entries.

    ``per_channel`` names the arrays (gamma, beta, running_mean, running_var); None is skipped.
    """
    if not isinstance(x, np.ndarray) or x.ndim < 2:
        raise ValueError(f"{where}: expected x of rank 2 to 4, (N, C, ...), got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    channels = x.shape[1]
    for name, values in per_channel.items():
        if values is not None and np.shape(values) != (channels,):
            raise ValueError(f"{where}: expected {name} of shape ({channels},) for x of shape "
                             f"{x.shape}, got shape {np.shape(values)}")


def update_running_stats(running_mean, running_var, mean, var, m: int, momentum) -> None:
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
        gamma, beta, running_mean, running_var: (C,) or None (γ = 1 and β = 0 when None)

    Returns ``(y, cache)`` with ``cache = (x̂, γ, has β, 1/√(σ² + ε), used batch statistics)``.
    """
    where = "batch_norm_forward"
    check_batch_norm_arguments(where, x, gamma=gamma, beta=beta, running_mean=running_mean,
                               running_var=running_var)
    axes = _reduction_axes(x.ndim)
    use_batch_stats = training or running_mean is None
    if use_batch_stats:
        m = x.size // x.shape[1]
        if m < 2:
            raise ValueError(f"{where}: expected more than 1 value per channel when using "
                             f"batch statistics, got input of shape {x.shape}")
        mean = x.mean(axis=axes)
        var = ((x - _per_channel(mean, x.ndim)) ** 2).mean(axis=axes)
        if training and running_mean is not None:
            update_running_stats(running_mean, running_var, mean, var, m, momentum)
    else:
        mean, var = running_mean.astype(x.dtype), running_var.astype(x.dtype)
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = (x - _per_channel(mean, x.ndim)) * _per_channel(inv_std, x.ndim)
    y = scale_and_shift(x_hat, gamma, beta)
    return y, (x_hat, gamma, beta is not None, inv_std, use_batch_stats)


def scale_and_shift(x_hat: np.ndarray, gamma, beta) -> np.ndarray:
    """``y = γ · x̂ + β`` per channel; γ = 1 and β = 0 where None (then y is x̂ itself)."""
    y = x_hat
    if gamma is not None:
        y = y * _per_channel(gamma, x_hat.ndim)
    if beta is not None:
        y = y + _per_channel(beta, x_hat.ndim)
    return y


def batch_norm_inference(x: np.ndarray, gamma: np.ndarray | None, beta: np.ndarray | None,
                         running_mean: np.ndarray, running_var: np.ndarray,
                         eps: float = 1e-5) -> np.ndarray:
    """``batch_norm_forward(..., training=False)`` when no backward pass follows.

    With fixed statistics the layer is an affine map per channel, so it is folded into one
    scale and one shift (as inference engines do)::

        y = γ · (x − μ) / √(σ² + ε) + β  =  x · s + t,
        s = γ / √(σ² + ε),   t = β − μ · s

    Two passes over x instead of four, and nothing kept for a backward pass. Equal to the
    unfolded formula up to rounding (a few units in the last place).

    Shapes: x (N, C), (N, C, L) or (N, C, H, W) → y, the shape of x; the others (C,) or None.
    """
    check_batch_norm_arguments("batch_norm_inference", x, gamma=gamma, beta=beta,
                               running_mean=running_mean, running_var=running_var)
    scale = 1 / np.sqrt(running_var + eps)
    if gamma is not None:
        scale = scale * gamma
    shift = -running_mean * scale
    if beta is not None:
        shift = shift + beta
    y = x * _per_channel(scale.astype(x.dtype, copy=False), x.ndim)
    y += _per_channel(shift.astype(x.dtype, copy=False), x.ndim)
    return y


def batch_norm_backward(dout: np.ndarray, cache, need_dx: bool = True, need_dgamma: bool = True,
                        need_dbeta: bool = True):
    """Gradients of batch normalisation given ``dout = dL/dy``.

    Formulas, per channel, with sums over the channel's m values and ``σ = √(σ² + ε)``::

        dβ = Σ dout                 dγ = Σ dout · x̂                 dx̂ = γ · dout

    With batch statistics, μ and σ depend on every x of the channel, and the chain rule through
    them collapses to the compact form

        dx = (1/m) · (γ/σ) · (m·dx̂ − Σ dx̂ − x̂ · Σ(dx̂ · x̂))
           = (γ/σ) · (dout − dβ/m − x̂ · dγ/m)

    With running statistics (evaluation) μ and σ are constants and ``dx = (γ/σ) · dout``.

    ``need_dx`` / ``need_dgamma`` / ``need_dbeta`` = False skip that gradient and return None
    in its place; dγ (dβ) is also None when the forward pass had no γ (β).

    Shapes: dout: the shape of x → dx: the shape of x; dγ, dβ: (C,).
    Returns ``(dx, dgamma, dbeta)``.
    """
    x_hat, gamma, has_beta, inv_std, used_batch_stats = cache
    axes, ndim = _reduction_axes(x_hat.ndim), x_hat.ndim
    scale = inv_std if gamma is None else gamma * inv_std  # γ/σ, per channel
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * x_hat).sum(axis=axes)
    dx = None
    if need_dx and used_batch_stats:
        m = x_hat.size // x_hat.shape[1]
        dx = _per_channel(scale, ndim) * (dout - _per_channel(dbeta / m, ndim)
                                          - x_hat * _per_channel(dgamma / m, ndim))
    elif need_dx:
        dx = dout * _per_channel(scale, ndim)
    return (dx, dgamma if gamma is not None and need_dgamma else None,
            dbeta if has_beta and need_dbeta else None)
