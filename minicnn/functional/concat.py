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

__all__ = ["cat_backward", "cat_forward"]


def cat_forward(xs, dim: int = 0):
    """``out = np.concatenate(xs, axis=dim)``; ``cache = (dim, (c_0, ..., c_{K-1}))``.

    ``xs`` is a sequence of arrays of one dtype and rank that agree on every axis but ``dim``
    (torch.cat's rule; a negative ``dim`` counts from the end). ValueError otherwise.
    """
    xs = list(xs)
    if not xs:
        raise ValueError("cat_forward: expected a non-empty sequence of arrays, got none")
    first = xs[0]
    axis = dim + first.ndim if dim < 0 else dim
    if not 0 <= axis < first.ndim:
        raise ValueError(f"cat_forward: dim {dim} is out of range for arrays of rank {first.ndim}")
    for index, x in enumerate(xs):
        if x.ndim != first.ndim or x.dtype != first.dtype or any(
                x.shape[a] != first.shape[a] for a in range(first.ndim) if a != axis):
            raise ValueError(
                f"cat_forward: input {index} has shape {x.shape} and dtype {x.dtype}, which "
                f"cannot be joined along dim {dim} with input 0's {first.shape} {first.dtype} "
                f"(every other axis and the dtype must agree)")
    sizes = tuple(x.shape[axis] for x in xs)
    return np.concatenate(xs, axis=axis), (axis, sizes)


def cat_backward(dout: np.ndarray, cache) -> list:
    """``[dx_0, ..., dx_{K-1}]``: ``dout`` cut along ``dim`` into the inputs' sizes (views)."""
    axis, sizes = cache
    bounds = np.cumsum((0, *sizes))
    index = [slice(None)] * dout.ndim
    grads = []
    for start, stop in pairwise(bounds):
        index[axis] = slice(int(start), int(stop))
        grads.append(dout[tuple(index)])
    return grads
