"""Center crop of feature maps as a forward/backward pair (the "crop" of U-Net's "copy and
crop" skip connections; the copy is ``cat_forward`` of ``functional/concat.py``).

Center crop, (N, C, H, W) → (N, C, h, w) with h ≤ H, w ≤ W: the window starts at
``top = (H − h) // 2``, ``left = (W − w) // 2`` (when H − h is odd, one more row is cut from the
bottom than from the top; in U-Net the difference is always even)::

    out[n, c, i, j] = x[n, c, top + i, left + j]
    dx = zeros(N, C, H, W);  dx[:, :, top:top + h, left:left + w] = dout

The pixels outside the window did not reach the output, so their gradient is zero: the backward
of a crop pads ``dout`` with zeros back to the input's size.
"""

import numpy as np

from .._validation import check_float_array, check_rank

__all__ = ["center_crop_backward", "center_crop_forward"]


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
