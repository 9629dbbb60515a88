"""Pooling as forward/backward pairs: max, average, global average and adaptive average.

Window (i, j) of a k×k pooling with stride s and padding p covers the input rows
``i·sh − ph ... i·sh − ph + kh − 1`` and the columns ``j·sw − pw ... j·sw − pw + kw − 1``;
the output size is, as for a convolution::

    Ho = floor((H + 2·ph − kh) / sh) + 1,   Wo = floor((W + 2·pw − kw) / sw) + 1

The stride defaults to the kernel size (non-overlapping windows), and the padding may be at
most half the kernel (as in PyTorch), so that every window holds at least one real pixel.
Pooling has no parameters; each channel is pooled on its own. Each forward checks its input
once; ``where=`` only changes the name its error messages give (a layer passes its own).
"""

from numbers import Integral

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .._validation import as_pair, check_float_array

__all__ = [
    "adaptive_avg_pool2d_backward", "adaptive_avg_pool2d_forward", "avg_pool2d_backward",
    "avg_pool2d_forward", "global_avg_pool2d_backward", "global_avg_pool2d_forward",
    "max_pool2d_backward", "max_pool2d_forward",
]


def pool_params(where: str, kernel_size, stride, padding):
    """``(kernel, stride, padding)`` as pairs of ints, checked as PyTorch checks them.

    ``stride=None`` means the kernel size. ValueError for a kernel or stride below 1, a
    negative padding, or a padding above half the kernel.
    """
    kernel = as_pair(where, "kernel_size", kernel_size, minimum=1)
    stride = kernel if stride is None else as_pair(where, "stride", stride, minimum=1)
    padding = as_pair(where, "padding", padding, minimum=0)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{where}: expected padding at most half the kernel size "
                         f"{kernel}, got padding {padding}")
    return kernel, stride, padding


def pool_output_shape(where: str, shape, kernel, stride, padding) -> tuple[int, int, int, int]:
    """``(N, C, Ho, Wo)`` for an input of ``shape``; ValueError if the window does not fit."""
    n_samples, channels, height, width = shape
    padded = (height + 2 * padding[0], width + 2 * padding[1])
    if padded[0] < kernel[0] or padded[1] < kernel[1]:
        raise ValueError(f"{where}: kernel {kernel} is larger than the padded input {padded} "
                         f"(input shape {tuple(shape)}, padding {padding})")
    out_h = (padded[0] - kernel[0]) // stride[0] + 1
    out_w = (padded[1] - kernel[1]) // stride[1] + 1
    return n_samples, channels, out_h, out_w


def check_pool_input(where: str, x) -> None:
    """TypeError unless x is a float array; ValueError unless it is (N, C, H, W) with C, H and W
    above 0 (N may be 0), as PyTorch."""
    check_float_array(where, x)
    if x.ndim != 4:
        shape = getattr(x, "shape", type(x).__name__)
        raise ValueError(f"{where}: expected input of rank 4 (N, C, H, W), got shape {shape}")
    if 0 in x.shape[1:]:
        raise ValueError(f"{where}: expected input (N, C, H, W) with C, H and W above 0, got "
                         f"shape {x.shape}")


def _windows(x_pad: np.ndarray, kernel, stride) -> np.ndarray:
    """Every pooling window of ``x_pad`` as a view (no copy):
    ``windows[n, c, i, j, u, v] = x_pad[n, c, i·sh + u, j·sw + v]``, shape (N, C, Ho, Wo, kh, kw).
    """
    every_position = sliding_window_view(x_pad, kernel, axis=(2, 3))
    return every_position[:, :, ::stride[0], ::stride[1]]


def _pad(x: np.ndarray, padding, value) -> np.ndarray:
    """x with ``padding = (ph, pw)`` rows and columns of ``value`` on every side."""
    (ph, pw) = padding
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _add_windows(dwindows: np.ndarray, padded_shape, kernel, stride, padding) -> np.ndarray:
    """The transpose of ``_windows``, cropped: each window's gradient added back onto the
    pixels it covered (overlapping windows add), the padding dropped.

    Shapes: dwindows (N, C, Ho, Wo, kh, kw) → dx (N, C, H, W).
    """
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    out_h, out_w = dwindows.shape[2:4]
    dx_pad = np.zeros(padded_shape, dwindows.dtype)
    for u in range(kh):
        for v in range(kw):
            dx_pad[:, :, u:u + sh * out_h:sh, v:v + sw * out_w:sw] += dwindows[..., u, v]
    return dx_pad[:, :, ph:padded_shape[2] - ph, pw:padded_shape[3] - pw]


def max_pool2d_forward(x: np.ndarray, kernel_size, stride=None, padding=0, *,
                       where: str = "max_pool2d_forward"):
    """Max pooling: the largest value of each window.

    Formula::

        out[n, c, i, j] = max over (u, v) of x_pad[n, c, i·sh + u, j·sw + v],
                          0 <= u < kh, 0 <= v < kw, with x_pad = −inf in the padding

    A NaN in a window counts as its maximum, so it shows in the output (as in PyTorch).

    Shapes: x (N, C, H, W) → out (N, C, Ho, Wo), same dtype.

    Returns ``(out, cache)``; the cache holds, for each window, the position ``u·kw + v`` of
    its *first* maximum in row-major order, which backward routes the gradient to.
    """
    check_pool_input(where, x)
    kernel, stride, padding = pool_params(where, kernel_size, stride, padding)
    pool_output_shape(where, x.shape, kernel, stride, padding)
    x_pad = _pad(x, padding, -np.inf)
    windows = _windows(x_pad, kernel, stride)                       # (N, C, Ho, Wo, kh, kw)
    windows = windows.reshape(*windows.shape[:4], kernel[0] * kernel[1])  # (N, C, Ho, Wo, kh·kw)
    first_max = windows.argmax(axis=-1)                             # NaN counts as a maximum
    out = np.take_along_axis(windows, first_max[..., None], axis=-1)[..., 0]
    return out, (x_pad.shape, kernel, stride, padding, first_max)


def max_pool2d_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Gradient of max pooling: each window's gradient goes to its first maximum.

    Formula::

        dx[n, c, y, x] = Σ dout[n, c, i, j] over the windows (i, j) whose first maximum is
                         at (y, x)        (overlapping windows add; other pixels get 0)

    Shapes: dout (N, C, Ho, Wo) → dx (N, C, H, W).
    """
    padded_shape, (kh, kw), stride, padding, first_max = cache
    positions = np.arange(kh * kw).reshape(kh, kw)
    is_first_max = first_max[..., None, None] == positions         # (N, C, Ho, Wo, kh, kw)
    dwindows = np.where(is_first_max, dout[..., None, None], 0).astype(dout.dtype, copy=False)
    return _add_windows(dwindows, padded_shape, (kh, kw), stride, padding)


def avg_pool2d_forward(x: np.ndarray, kernel_size, stride=None, padding=0,
                       count_include_pad: bool = True, *, where: str = "avg_pool2d_forward"):
    """Average pooling: the mean of each window.

    Formula (padding counts as zeros in the sum)::

        out[n, c, i, j] = (Σ_u Σ_v x_pad[n, c, i·sh + u, j·sw + v]) / divisor(i, j)

        divisor = kh·kw                                 if count_include_pad (the default)
                = number of real (unpadded) pixels      otherwise

    PyTorch's divisor with count_include_pad is the window clipped to the padded input; with
    these floor-mode output sizes no window reaches past the padding, so it is always kh·kw.

    Shapes: x (N, C, H, W) → out (N, C, Ho, Wo), same dtype.
    Returns ``(out, cache)``.
    """
    check_pool_input(where, x)
    kernel, stride, padding = pool_params(where, kernel_size, stride, padding)
    pool_output_shape(where, x.shape, kernel, stride, padding)
    x_pad = _pad(x, padding, 0)
    sums = _windows(x_pad, kernel, stride).sum(axis=(-2, -1))
    divisor = _divisor(x.shape[2:], kernel, stride, padding, count_include_pad, x.dtype)
    return sums / divisor, (x_pad.shape, kernel, stride, padding, divisor)


def _divisor(image_size, kernel, stride, padding, count_include_pad: bool, dtype):
    """kh·kw, or per window the number of real pixels in it: the window sums of an image of
    ones padded with zeros. Shape (Ho, Wo), or a scalar."""
    if count_include_pad:
        return dtype.type(kernel[0] * kernel[1])
    ones = _pad(np.ones((1, 1, *image_size), dtype), padding, 0)
    return _windows(ones, kernel, stride).sum(axis=(-2, -1))[0, 0]


def avg_pool2d_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Gradient of average pooling: each window shares its gradient equally among its pixels.

    Formula::

        dx[n, c, y, x] = Σ dout[n, c, i, j] / divisor(i, j) over the windows (i, j)
                         that contain the pixel (y, x)

    Shapes: dout (N, C, Ho, Wo) → dx (N, C, H, W).
    """
    padded_shape, (kh, kw), stride, padding, divisor = cache
    share = (dout / divisor).astype(dout.dtype, copy=False)        # (N, C, Ho, Wo)
    dwindows = np.broadcast_to(share[..., None, None], (*share.shape, kh, kw))
    return _add_windows(dwindows, padded_shape, (kh, kw), stride, padding)


def global_avg_pool2d_forward(x: np.ndarray, *, where: str = "global_avg_pool2d_forward"):
    """Mean of each channel plane, kept as a 1×1 image (as ``AdaptiveAvgPool2d(1)``).

    Formula: ``out[n, c, 0, 0] = (1 / (H·W)) Σ_y Σ_x x[n, c, y, x]``.

    Shapes: x (N, C, H, W) → out (N, C, 1, 1); follow with ``Flatten`` for a (N, C) vector.
    Returns ``(out, cache)``.
    """
    check_pool_input(where, x)
    return x.mean(axis=(2, 3), keepdims=True, dtype=x.dtype), (x.shape,)


def global_avg_pool2d_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Every pixel of a plane gets an equal share: ``dx[n, c, y, x] = dout[n, c, 0, 0] / (H·W)``.

    Shapes: dout (N, C, 1, 1) → dx (N, C, H, W).
    """
    (input_shape,) = cache
    dx = np.empty(input_shape, dout.dtype)
    dx[...] = dout / (input_shape[2] * input_shape[3])
    return dx


def adaptive_pool_ranges(in_size: int, out_size: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive windows: output i averages ``[floor(i·in/out), ceil((i+1)·in/out))``.

    When ``in`` is a multiple of ``out`` these are the plain non-overlapping windows of size
    ``in/out``; otherwise neighbouring windows may overlap by one.
    """
    return [((i * in_size) // out_size, -((-(i + 1) * in_size) // out_size))
            for i in range(out_size)]


def _averaging_matrix(in_size: int, out_size: int, dtype) -> np.ndarray:
    """(out_size, in_size) matrix whose row i averages window i of ``adaptive_pool_ranges``."""
    matrix = np.zeros((out_size, in_size), dtype)
    for i, (start, end) in enumerate(adaptive_pool_ranges(in_size, out_size)):
        matrix[i, start:end] = 1 / (end - start)
    return matrix


def adaptive_output_size(where: str, output_size, input_hw=None):
    """``output_size`` as a pair; an int n means (n, n), and None in a pair keeps that input size.

    Without ``input_hw`` (in a constructor) a None is kept as None after checking the rest.
    """
    pair = (output_size, output_size) if isinstance(output_size, Integral) else output_size
    if (not isinstance(pair, (tuple, list)) or len(pair) != 2
            or not all(v is None or (isinstance(v, Integral) and not isinstance(v, bool))
                       for v in pair)):
        raise TypeError(f"{where}: expected output_size as an int or a pair of ints (or None), "
                        f"got {output_size!r}")
    if any(v is not None and v < 1 for v in pair):
        raise ValueError(f"{where}: expected output_size >= 1, got {output_size!r}")
    if input_hw is None:
        return tuple(None if v is None else int(v) for v in pair)
    return tuple(int(size if v is None else v) for v, size in zip(pair, input_hw, strict=True))


def adaptive_avg_pool2d_forward(x: np.ndarray, output_size, *,
                                where: str = "adaptive_avg_pool2d_forward"):
    """Average pooling to a fixed output size, whatever the input size (PyTorch's rule).

    Formula, with the windows of ``adaptive_pool_ranges`` along each axis::

        out[n, c, i, j] = mean of x[n, c, h0(i):h1(i), w0(j):w1(j)]

    The windows of rows and of columns are independent, so the pooling is two matrix
    products: ``out = A_h @ x @ A_wᵀ`` with A_h (Ho, H) and A_w (Wo, W) averaging matrices
    (row i of A holds 1/(end − start) on window i).

    Shapes: x (N, C, H, W) → out (N, C, Ho, Wo). ``output_size`` is an int or a pair (None
    keeps that input size). Returns ``(out, cache)``.
    """
    check_pool_input(where, x)
    out_h, out_w = adaptive_output_size(where, output_size, x.shape[2:])
    rows = _averaging_matrix(x.shape[2], out_h, x.dtype)
    cols = _averaging_matrix(x.shape[3], out_w, x.dtype)
    return rows @ x @ cols.T, (rows, cols)


def adaptive_avg_pool2d_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Gradient of ``out = A_h @ x @ A_wᵀ``: ``dx = A_hᵀ @ dout @ A_w``.

    Each pixel receives, from every window that contains it, that window's gradient divided by
    the window's size. Shapes: dout (N, C, Ho, Wo) → dx (N, C, H, W).
    """
    rows, cols = cache
    return rows.T @ dout @ cols
