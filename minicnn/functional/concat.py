"""Concatenation along one axis (``torch.cat``), as a forward/backward pair.

Forward stacks the inputs one after another along ``dim``::

    out = [x_0, x_1, ..., x_{K-1}]          sizes c_0, ..., c_{K-1} along dim, Σ c_k in all

Every output element is a copy of exactly one input element, so the Jacobian is a permutation
of the identity, and the backward pass *splits* the upstream gradient where forward joined::

    dx_k = dout[..., s_k : s_k + c_k, ...]   along dim, with s_k = c_0 + ... + c_{k-1}

Shapes: the inputs agree on every axis but ``dim``; out has their shape with Σ c_k on ``dim``.
The gradients are views into ``dout`` (no copy): the caller adds them where it needs them.
"""

from itertools import pairwise

import numpy as np

from .._validation import check_float_array

__all__ = ["cat_backward", "cat_forward"]


def cat_forward(xs, dim: int = 0, *, where: str = "cat_forward"):
    """``out = np.concatenate(xs, axis=dim)``; ``cache = (dim, (c_0, ..., c_{K-1}))``.

    ``xs`` is a sequence of float arrays of one dtype and rank that agree on every axis but
    ``dim`` (torch.cat's rule; a negative ``dim`` counts from the end). ValueError for an empty
    sequence, another rank, an axis out of range or a disagreeing shape; TypeError for
    another dtype.
    """
    xs = list(xs)
    if not xs:
        raise ValueError(f"{where}: expected at least one input to concatenate, got none")
    first = xs[0]
    for index, x in enumerate(xs):
        check_float_array(where, x, f"input {index}")
        if x.ndim != first.ndim or not -first.ndim <= dim < first.ndim:
            raise ValueError(f"{where}: expected inputs of the same rank with an axis {dim}, got "
                             f"shapes {[t.shape for t in xs]}")
        if x.dtype != first.dtype:
            raise TypeError(f"{where}: expected inputs of one dtype, got {first.dtype} (input 0) "
                            f"and {x.dtype} (input {index})")
    axis = dim % first.ndim
    for index, x in enumerate(xs):
        if x.shape[:axis] + x.shape[axis + 1:] != first.shape[:axis] + first.shape[axis + 1:]:
            raise ValueError(f"{where}: inputs must agree in every axis but {axis}, got shapes "
                             f"{[t.shape for t in xs]} (input {index} differs from input 0)")
    sizes = tuple(x.shape[axis] for x in xs)
    return np.concatenate(xs, axis=axis), (axis, sizes)


def cat_backward(dout: np.ndarray, cache) -> tuple:
    """``(dx_0, ..., dx_{K-1})``: ``dout`` cut along ``dim`` into the inputs' sizes (views)."""
    axis, sizes = cache
    bounds = np.cumsum((0, *sizes))
    index = [slice(None)] * dout.ndim
    grads = []
    for start, stop in pairwise(bounds):
        index[axis] = slice(int(start), int(stop))
        grads.append(dout[tuple(index)])
    return tuple(grads)
