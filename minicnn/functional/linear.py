"""Fully connected (affine) layer and flattening, as forward/backward pairs.

Shapes follow PyTorch: the weight of a layer with ``in`` inputs and ``out`` outputs has shape
(out, in), so a forward pass is ``y = x wᵀ + b``.
"""

import math

import numpy as np

__all__ = ["flatten_backward", "flatten_forward", "linear_backward", "linear_forward"]


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None):
    """Affine map of a batch of vectors.

    Formula::

        y[n, j] = Σ_i x[n, i] · w[j, i] + b[j]        i.e.  y = x wᵀ + b

    Shapes:
        x: (N, in)   w: (out, in)   b: (out,) or None   →   y: (N, out)

    Returns ``(y, cache)`` with ``cache = (x, w, has_bias)`` for ``linear_backward``.
    """
    y = x @ w.T
    if b is not None:
        y += b  # y is a fresh array, so adding in place saves one (N, out) temporary
    return y, (x, w, b is not None)


def linear_backward(dout: np.ndarray, cache, need_dx: bool = True, need_dw: bool = True,
                    need_db: bool = True):
    """Gradients of ``y = x wᵀ + b`` given ``dout = dL/dy``.

    Formulas::

        dx = dout · w          (N, out) @ (out, in)  → (N, in)
        dw = doutᵀ · x         (out, N) @ (N, in)    → (out, in)
        db = Σ_n dout[n, :]                          → (out,)

    ``need_dx`` / ``need_dw`` / ``need_db`` = False skip that work (a first layer needs no dx,
    a frozen layer no dw) and return None in its place; ``db`` is also None when the forward
    pass had no bias.

    Returns ``(dx, dw, db)``.
    """
    x, w, has_bias = cache
    dx = dout @ w if need_dx else None
    dw = dout.T @ x if need_dw else None
    db = dout.sum(axis=0) if (has_bias and need_db) else None
    return dx, dw, db


def _normalize_dims(ndim: int, start_dim: int, end_dim: int) -> tuple[int, int]:
    """``start_dim`` and ``end_dim`` as non-negative axes; ValueError if out of range."""
    start = start_dim + ndim if start_dim < 0 else start_dim
    end = end_dim + ndim if end_dim < 0 else end_dim
    if not (0 <= start < ndim and 0 <= end < ndim):
        raise ValueError(f"flatten: start_dim={start_dim} and end_dim={end_dim} must be axes of "
                         f"an array of rank {ndim}")
    if start > end:
        raise ValueError(f"flatten: start_dim={start_dim} comes after end_dim={end_dim} "
                         f"for an array of rank {ndim}")
    return start, end


def flatten_forward(x: np.ndarray, start_dim: int = 1, end_dim: int = -1):
    """Merge the axes ``start_dim..end_dim`` (inclusive) into one.

    Shapes (defaults): x: (N, C, H, W) → y: (N, C·H·W), which is what a Linear layer after the
    convolutional part of a CNN takes. No values move: for a contiguous input, y is a view.

    Returns ``(y, cache)`` with ``cache = (x.shape,)``.
    """
    start, end = _normalize_dims(x.ndim, start_dim, end_dim)
    merged = math.prod(x.shape[start:end + 1])
    y = x.reshape((*x.shape[:start], merged, *x.shape[end + 1:]))
    return y, (x.shape,)


def flatten_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Flattening only rearranges values, so the gradient is ``dout`` in the input's shape.

    Shapes: dout: (N, C·H·W) → dx: (N, C, H, W).
    """
    (input_shape,) = cache
    return dout.reshape(input_shape)
