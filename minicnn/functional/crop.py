"""Center crop of feature maps, and channel concatenation, as forward/backward pairs (U-Net's
"copy and crop" skip connections).

Center crop, (N, C, H, W) → (N, C, h, w) with h ≤ H, w ≤ W: the window starts at
``top = (H − h) // 2``, ``left = (W − w) // 2`` (when H − h is odd, one more row is cut from the
bottom than from the top; in U-Net the difference is always even)::

    out[n, c, i, j] = x[n, c, top + i, left + j]
    dx = zeros(N, C, H, W);  dx[:, :, top:top + h, left:left + w] = dout

The pixels outside the window did not reach the output, so their gradient is zero: the backward
of a crop pads ``dout`` with zeros back to the input's size.

Concatenation along ``dim`` (``torch.cat``): the inputs must agree in every other axis; the
output's ``dim`` axis is the sum of theirs. Backward cuts ``dout`` into the same pieces::

    out = [x_0 | x_1 | … ]  along dim        dx_k = dout[…, offset_k : offset_k + size_k, …]
"""

import itertools

import numpy as np

from .._validation import check_float_array, check_rank

__all__ = ["cat_backward", "cat_forward", "center_crop_backward", "center_crop_forward"]


def center_crop_window(where: str, in_size: tuple, size: tuple) -> tuple[int, int]:
    """``(top, left)`` of the centred ``size`` window of an ``in_size`` map; ValueError if it
    does not fit."""
    (H, W), (h, w) = in_size, size
    if not (1 <= h <= H and 1 <= w <= W):
        raise ValueError(f"{where}: cannot crop an input of spatial size {(H, W)} to {(h, w)}; "
                         f"expected a size between (1, 1) and {(H, W)}")
    return (H - h) // 2, (W - w) // 2


def center_crop_forward(x: np.ndarray, size, where: str = "center_crop"):
    """The centred (h, w) window of each map of x (N, C, H, W); returns ``(out, cache)``."""
    check_float_array(where, x)
    check_rank(where, x, 4, "(N, C, H, W)")
    h, w = (int(s) for s in size)
    top, left = center_crop_window(where, x.shape[2:], (h, w))
    out = x[:, :, top:top + h, left:left + w].copy()
    return out, (x.shape, top, left)


def center_crop_backward(dout: np.ndarray, cache) -> np.ndarray:
    """dx (N, C, H, W): ``dout`` in the window, zero elsewhere."""
    x_shape, top, left = cache
    h, w = dout.shape[2:]
    dx = np.zeros(x_shape, dtype=dout.dtype)
    dx[:, :, top:top + h, left:left + w] = dout
    return dx


def cat_forward(tensors, dim: int = 1, where: str = "cat"):
    """``np.concatenate(tensors, axis=dim)`` with checks; returns ``(out, cache)``."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{where}: expected at least one input to concatenate, got none")
    first = tensors[0]
    for index, x in enumerate(tensors):
        name = f"input {index}"
        check_float_array(where, x, name)
        if x.ndim != first.ndim or not -first.ndim <= dim < first.ndim:
            raise ValueError(f"{where}: expected inputs of the same rank with an axis {dim}, got "
                             f"shapes {[t.shape for t in tensors]}")
        if x.dtype != first.dtype:
            raise TypeError(f"{where}: expected inputs of one dtype, got {first.dtype} (input 0) "
                            f"and {x.dtype} ({name})")
    axis = dim % first.ndim
    for index, x in enumerate(tensors):
        if x.shape[:axis] + x.shape[axis + 1:] != first.shape[:axis] + first.shape[axis + 1:]:
            raise ValueError(f"{where}: inputs must agree in every axis but {axis}, got shapes "
                             f"{[t.shape for t in tensors]} (input {index} differs from input 0)")
    out = np.concatenate(tensors, axis=axis)
    return out, (axis, [x.shape[axis] for x in tensors])


def cat_backward(dout: np.ndarray, cache) -> tuple:
    """One gradient per input: its slice of ``dout`` along the concatenated axis."""
    axis, sizes = cache
    bounds = np.cumsum([0, *sizes])
    index = [slice(None)] * dout.ndim
    grads = []
    for start, stop in itertools.pairwise(bounds):
        index[axis] = slice(start, stop)
        grads.append(dout[tuple(index)].copy())
    return tuple(grads)
