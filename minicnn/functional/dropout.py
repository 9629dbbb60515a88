"""Inverted dropout (Srivastava et al., 2014), of entries or of whole channels, as forward/backward
pairs."""

import numpy as np

__all__ = ["dropout2d_backward", "dropout2d_forward", "dropout_backward", "dropout_forward"]


def dropout_forward(x: np.ndarray, p: float, training: bool, rng: np.random.Generator):
    """Zero each entry with probability ``p`` and scale the survivors by ``1/(1 − p)``.

    Formula::

        mask = [u ≥ p] / (1 − p),   u ~ U[0, 1) independently per entry
        y    = x · mask

    Each entry survives with probability 1 − p, so ``E[y] = x``: the scaling happens during
    training ("inverted" dropout), and evaluation is the plain identity, ``y = x``.
    Special cases: not training or ``p == 0`` → y is x itself (no copy); ``p == 1`` → zeros.

    ``rng`` is a ``numpy.random.Generator``; the uniforms are drawn in x's dtype, so a float32
    input costs float32 draws and gets a float32 mask.

    Shapes: any; y and mask have the shape of x.
    Returns ``(y, cache)`` with ``cache = (mask,)``; mask is None for the identity.
    """
    if not training or p == 0:
        return x, (None,)
    if p == 1:
        mask = np.zeros_like(x)
        return mask.copy(), (mask,)
    mask = rng.random(x.shape, dtype=x.dtype)
    keep = mask >= p
    np.multiply(keep, x.dtype.type(1 / (1 - p)), out=mask)  # reuse the uniforms' memory
    return x * mask, (mask,)


def dropout_backward(dout: np.ndarray, cache) -> np.ndarray:
    """``dx = dout · mask``: the same entries are dropped and the same scale applied.

    The identity (evaluation, or p = 0) passes ``dout`` through unchanged.
    """
    (mask,) = cache
    return dout if mask is None else dout * mask


def dropout2d_forward(x: np.ndarray, p: float, training: bool, rng: np.random.Generator):
    """Channel dropout (Tompson et al. 2015): zero whole channels with probability ``p``.

    Formula, for x of shape (N, C, H, W)::

        mask[n, c] = [u[n, c] ≥ p] / (1 − p),   u ~ U[0, 1) independently per (sample, channel)
        y[n, c, h, w] = x[n, c, h, w] · mask[n, c]

    Neighbouring pixels of a feature map are strongly correlated, so dropping single entries
    (``dropout_forward``) barely regularises a convolution; dropping a whole map does. As there,
    evaluation (or p = 0) is the identity (y is x itself); p = 1 is ``x · 0``, as PyTorch's
    (zeros, but a NaN or inf in x gives NaN).

    Shapes: x (N, C, H, W); y the same; mask (N, C, 1, 1), broadcast over H and W, in x's dtype.
    Returns ``(y, cache)`` with ``cache = (mask,)``; mask is None for the identity.
    """
    if not training or p == 0:
        return x, (None,)
    mask_shape = x.shape[:2] + (1,) * (x.ndim - 2)
    if p == 1:
        mask = np.zeros(mask_shape, dtype=x.dtype)
        return x * mask, (mask,)
    mask = rng.random(mask_shape, dtype=x.dtype)
    keep = mask >= p
    np.multiply(keep, x.dtype.type(1 / (1 - p)), out=mask)
    return x * mask, (mask,)


def dropout2d_backward(dout: np.ndarray, cache) -> np.ndarray:
    """``dx = dout · mask``, the mask broadcast over each channel's H × W plane."""
    return dropout_backward(dout, cache)
