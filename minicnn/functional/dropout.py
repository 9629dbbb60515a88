"""Inverted dropout (Srivastava et al., 2014), as a forward/backward pair."""

import numpy as np

__all__ = ["dropout_backward", "dropout_forward"]


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
