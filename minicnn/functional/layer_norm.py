"""Layer normalisation (Ba et al. 2016) and group normalisation (Wu and He 2018).

Both normalise each sample on its own, unlike batch norm, so they act the same in training and
evaluation and keep no running statistics. They differ in which values share a mean:

    layer norm: the last D axes (``normalized_shape``) of each sample, e.g. all C·H·W values of
                an image, or the features of one position of a sequence;
    group norm: each group of C/G consecutive channels of a sample, with all their positions
                (G = 1 is a layer norm over (C, H, W); G = C is instance norm).

Per set of M values that share the statistics (biased variance, as PyTorch)::

    μ = (1/M) Σ x        σ² = (1/M) Σ (x − μ)²        x̂ = (x − μ) / √(σ² + ε)

then layer norm scales and shifts element-wise over ``normalized_shape``, group norm per
channel: ``y = γ · x̂ + β``.

Backward: with ``dx̂ = γ · dout`` and sums over the M values of each set, the chain rule
through μ and σ gives (as for batch norm, with the set in place of the channel)::

    dx = (1/σ) · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂))
    dγ = Σ dout · x̂        dβ = Σ dout      (summed over everything γ is shared across)
"""

import math

import numpy as np

from .._validation import check_float_array

__all__ = ["group_norm_backward", "group_norm_forward", "layer_norm_backward",
           "layer_norm_forward"]


# -- the part both share: normalise each row of an (R, M) array ---------------------------------
def normalize_rows(rows: np.ndarray, eps: float):
    """``(x̂, 1/σ)`` for each row of ``rows`` (R, M): x̂ (R, M), 1/σ (R, 1)."""
    mean = rows.mean(axis=1, keepdims=True)
    var = ((rows - mean) ** 2).mean(axis=1, keepdims=True)
    inv_std = 1 / np.sqrt(var + rows.dtype.type(eps))
    return (rows - mean) * inv_std, inv_std


def normalize_rows_backward(dx_hat: np.ndarray, x_hat: np.ndarray, inv_std: np.ndarray):
    """``dx = (1/σ) · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂))`` per row, all (R, M)."""
    return inv_std * (dx_hat - dx_hat.mean(axis=1, keepdims=True)
                      - x_hat * (dx_hat * x_hat).mean(axis=1, keepdims=True))


def _check_param(where: str, name: str, value, shape: tuple) -> None:
    if value is not None and np.shape(value) != shape:
        raise ValueError(f"{where}: expected {name} of shape {shape}, got shape "
                         f"{np.shape(value)}")


# -- layer norm --------------------------------------------------------------------------------
def check_layer_norm_input(where: str, x, normalized_shape: tuple) -> None:
    """TypeError unless a float ndarray; ValueError unless x ends in ``normalized_shape``."""
    check_float_array(where, x)
    d = len(normalized_shape)
    if x.ndim < d or x.shape[x.ndim - d:] != tuple(normalized_shape):
        layout = ", ".join(["*", *map(str, normalized_shape)])
        raise ValueError(f"{where}: expected input of shape ({layout}) (ending in "
                         f"normalized_shape={tuple(normalized_shape)}), got shape {x.shape}")


def layer_norm_forward(x: np.ndarray, normalized_shape, gamma: np.ndarray | None = None,
                       beta: np.ndarray | None = None, eps: float = 1e-5, *,
                       where: str = "layer_norm_forward"):
    """Normalise over the last ``len(normalized_shape)`` axes of x, then ``y = γ · x̂ + β``.

    Shapes:
        x: (*, *normalized_shape)  →  y: the shape of x
        gamma, beta: normalized_shape, or None (γ = 1, β = 0)

    Returns ``(y, cache)``, ``cache = (x̂ as (R, M), 1/σ (R, 1), γ, has β, normalized_shape)``
    with R the number of normalised sets and M = prod(normalized_shape).
    """
    normalized_shape = tuple(normalized_shape)
    check_layer_norm_input(where, x, normalized_shape)
    _check_param(where, "weight", gamma, normalized_shape)
    _check_param(where, "bias", beta, normalized_shape)
    m = math.prod(normalized_shape)
    x_hat, inv_std = normalize_rows(x.reshape(-1, m), eps)
    y = x_hat.reshape(x.shape)
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    return y, (x_hat, inv_std, gamma, beta is not None, normalized_shape)


def layer_norm_backward(dout: np.ndarray, cache, need_dx: bool = True, need_dgamma: bool = True,
                        need_dbeta: bool = True):
    """Gradients ``(dx, dγ, dβ)`` of layer norm; dγ, dβ have the shape ``normalized_shape``
    (None where the forward had no γ/β or the flag says not needed), dx the shape of x."""
    x_hat, inv_std, gamma, has_beta, normalized_shape = cache
    rows = dout.reshape(x_hat.shape)
    dgamma = dbeta = dx = None
    if gamma is not None and need_dgamma:
        dgamma = (rows * x_hat).sum(axis=0).reshape(normalized_shape)
    if has_beta and need_dbeta:
        dbeta = rows.sum(axis=0).reshape(normalized_shape)
    if need_dx:
        dx_hat = rows if gamma is None else rows * gamma.reshape(1, -1)
        dx = normalize_rows_backward(dx_hat, x_hat, inv_std).reshape(dout.shape)
    return dx, dgamma, dbeta


# -- group norm --------------------------------------------------------------------------------
def check_group_norm_input(where: str, x, num_groups: int) -> None:
    """TypeError unless a float ndarray; ValueError unless (N, C, *) with C divisible by G."""
    check_float_array(where, x)
    if x.ndim < 2:
        raise ValueError(f"{where}: expected input of rank 2 or more, (N, C, *), got shape "
                         f"{x.shape}")
    if x.shape[1] % num_groups:
        raise ValueError(f"{where}: expected input channels divisible by num_groups="
                         f"{num_groups}, got shape {x.shape}")


def group_norm_forward(x: np.ndarray, num_groups: int, gamma: np.ndarray | None = None,
                       beta: np.ndarray | None = None, eps: float = 1e-5, *,
                       where: str = "group_norm_forward"):
    """Normalise each group of C/G channels of each sample, then ``y = γ_c · x̂ + β_c``.

    x is viewed as (N·G, C/G · positions): one row per sample and group.

    Shapes:
        x: (N, C, *)  →  y: the shape of x
        gamma, beta: (C,), or None (γ = 1, β = 0)

    Returns ``(y, cache)``, ``cache = (x̂ as (N·G, M), 1/σ (N·G, 1), γ, has β, G)``.
    """
    check_group_norm_input(where, x, num_groups)
    channels = x.shape[1]
    _check_param(where, "weight", gamma, (channels,))
    _check_param(where, "bias", beta, (channels,))
    x_hat, inv_std = normalize_rows(x.reshape(x.shape[0] * num_groups, -1), eps)
    y = x_hat.reshape(x.shape)
    per_channel = (1, channels) + (1,) * (x.ndim - 2)
    if gamma is not None:
        y = y * gamma.reshape(per_channel)
    if beta is not None:
        y = y + beta.reshape(per_channel)
    return y, (x_hat, inv_std, gamma, beta is not None, num_groups)


def group_norm_backward(dout: np.ndarray, cache, need_dx: bool = True, need_dgamma: bool = True,
                        need_dbeta: bool = True):
    """Gradients ``(dx, dγ, dβ)`` of group norm; dγ, dβ (C,) summed over the batch and the
    positions (None where absent or not needed), dx the shape of x."""
    x_hat, inv_std, gamma, has_beta, _ = cache  # the last entry is G
    channels = dout.shape[1]
    axes = (0, *range(2, dout.ndim))
    x_hat_full = x_hat.reshape(dout.shape)
    dgamma = (dout * x_hat_full).sum(axis=axes) if gamma is not None and need_dgamma else None
    dbeta = dout.sum(axis=axes) if has_beta and need_dbeta else None
    dx = None
    if need_dx:
        per_channel = (1, channels) + (1,) * (dout.ndim - 2)
        dx_hat = dout if gamma is None else dout * gamma.reshape(per_channel)
        dx = normalize_rows_backward(dx_hat.reshape(x_hat.shape), x_hat,
                                     inv_std).reshape(dout.shape)
    return dx, dgamma, dbeta
