"""Pooling as forward/backward pairs: max (and its unpooling), average, global average, and
adaptive average and max.

Window (i, j) of a k×k pooling with stride s, padding p and dilation d reads the input rows
``i·sh − ph + u·dh`` for u = 0 … kh − 1, and likewise the columns; the output size is, as for
a convolution::

    Ho = floor((H + 2·ph − dh·(kh − 1) − 1) / sh) + 1         (ceil in ceil mode)

The stride defaults to the kernel size (non-overlapping windows), and the padding may be at
most half the kernel (as in PyTorch), so that every window holds at least one real pixel;
the one exception, a dilated window stepping over the whole input, is refused.
Pooling has no parameters; each channel is pooled on its own. Each forward checks its input
once; ``where=`` only changes the name its error messages give (a layer passes its own).
"""

from dataclasses import dataclass
from numbers import Integral

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .._validation import as_pair, check_float_array, check_int

__all__ = [
    "adaptive_avg_pool2d_backward", "adaptive_avg_pool2d_forward",
    "adaptive_max_pool2d_backward", "adaptive_max_pool2d_forward", "avg_pool2d_backward",
    "avg_pool2d_forward", "global_avg_pool2d_backward", "global_avg_pool2d_forward",
    "max_pool2d_backward", "max_pool2d_forward", "max_unpool2d_backward",
    "max_unpool2d_forward",
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


def pooled_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1,
                ceil_mode: bool = False) -> int:
    """PyTorch's output length along one axis (0 or less: the window does not fit).

    ``floor`` (or ``ceil``) of ``(size + 2·p − d·(k − 1) − 1) / s``, plus 1, rounding towards
    −∞ as PyTorch; in ceil mode the last window is dropped unless it starts inside the input
    or the left padding. So in ceil mode with a stride above 1 a window larger than the padded
    input still gives one output (it runs past the bottom or right edge), as in PyTorch.
    """
    reach = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (reach + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def pool_output_shape(where: str, shape, kernel, stride, padding, dilation=(1, 1),
                      ceil_mode: bool = False) -> tuple[int, int, int, int]:
    """``(N, C, Ho, Wo)`` for an input of ``shape``; ValueError if the window does not fit."""
    n_samples, channels, height, width = shape
    out_h, out_w = (pooled_size(size, k, s, p, d, ceil_mode) for size, k, s, p, d in
                    zip((height, width), kernel, stride, padding, dilation, strict=True))
    if out_h < 1 or out_w < 1:
        span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
        dilated = "" if span == tuple(kernel) else f" (spanning {span} with dilation {dilation})"
        padded = (height + 2 * padding[0], width + 2 * padding[1])
        raise ValueError(f"{where}: kernel {kernel}{dilated} is larger than the padded input "
                         f"{padded} (input shape {tuple(shape)}, padding {padding})")
    for axis, size, k, s, p, d, out in zip(("height", "width"), (height, width), kernel,
                                           stride, padding, dilation, (out_h, out_w),
                                           strict=True):
        _check_every_window_reads_the_input(where, axis, size, k, s, p, d, out)
    return n_samples, channels, out_h, out_w


def _check_every_window_reads_the_input(where, axis, size, kernel, stride, padding, dilation,
                                        out):
    """ValueError if some window's taps along ``axis`` all fall in the padding.

    With padding at most half the kernel this happens only for a dilated 2-tap window that
    steps over the whole input (kernel 2, padding 1, dilation = size + 1); PyTorch then reads
    and writes out of bounds (its backward corrupts memory), so it is refused here.
    """
    if dilation == 1 or padding == 0:  # the first or the last tap of each window is inside
        return
    for i in range(out):
        taps = [i * stride - padding + u * dilation for u in range(kernel)]
        if not any(0 <= t < size for t in taps):
            raise ValueError(f"{where}: window {i} along the {axis} reads only padding (input "
                             f"{axis} {size}, taps at {taps}); use a smaller dilation or "
                             f"no padding")


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


@dataclass(frozen=True)
class Windows:
    """Where the windows of one pooling lie: the settings as pairs and the output size.

    ``extra`` is the number of rows and columns that ceil-mode windows run past the padded
    input (on the bottom and the right); forwards pad them too so that every window is whole.
    """
    input_shape: tuple
    kernel: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    out_hw: tuple

    @classmethod
    def of(cls, where, x_shape, kernel_size, stride, padding, dilation=1, ceil_mode=False):
        kernel, stride, padding = pool_params(where, kernel_size, stride, padding)
        dilation = as_pair(where, "dilation", dilation, minimum=1)
        out_shape = pool_output_shape(where, x_shape, kernel, stride, padding, dilation,
                                      bool(ceil_mode))
        return cls(tuple(x_shape), kernel, stride, padding, dilation, out_shape[2:])

    @property
    def extra(self) -> tuple[int, int]:
        return tuple(max(0, (out - 1) * s + d * (k - 1) + 1 - (size + 2 * p))
                     for out, s, d, k, size, p in zip(self.out_hw, self.stride, self.dilation,
                                                      self.kernel, self.input_shape[2:],
                                                      self.padding, strict=True))

    def pad(self, x: np.ndarray, value, beyond=None) -> np.ndarray:
        """x padded with ``value`` (and the ceil-mode ``extra`` with ``beyond``, default
        ``value``)."""
        (ph, pw), (eh, ew) = self.padding, self.extra
        x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)
        beyond = value if beyond is None else beyond
        return np.pad(x_pad, ((0, 0), (0, 0), (0, eh), (0, ew)), constant_values=beyond)

    def view(self, x_pad: np.ndarray) -> np.ndarray:
        """Every window of ``x_pad`` as a view (no copy), shape (N, C, Ho, Wo, kh, kw):
        ``windows[n, c, i, j, u, v] = x_pad[n, c, i·sh + u·dh, j·sw + v·dw]``."""
        (kh, kw), (sh, sw), (dh, dw), (out_h, out_w) = (self.kernel, self.stride,
                                                        self.dilation, self.out_hw)
        spans = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
        every_position = sliding_window_view(x_pad, spans, axis=(2, 3))
        return every_position[:, :, :sh * (out_h - 1) + 1:sh, :sw * (out_w - 1) + 1:sw,
                              ::dh, ::dw]

    def add_back(self, dwindows: np.ndarray) -> np.ndarray:
        """The transpose of ``view``, cropped: each window's gradient added back onto the
        pixels it covered (overlapping windows add), the padding dropped.

        Shapes: dwindows (N, C, Ho, Wo, kh, kw) → dx (N, C, H, W).
        """
        (kh, kw), (sh, sw), (dh, dw), (out_h, out_w) = (self.kernel, self.stride,
                                                        self.dilation, self.out_hw)
        (n, c, height, width), (ph, pw), (eh, ew) = self.input_shape, self.padding, self.extra
        dx_pad = np.zeros((n, c, height + 2 * ph + eh, width + 2 * pw + ew), dwindows.dtype)
        for u in range(kh):
            for v in range(kw):
                rows = slice(u * dh, u * dh + sh * (out_h - 1) + 1, sh)
                cols = slice(v * dw, v * dw + sw * (out_w - 1) + 1, sw)
                dx_pad[:, :, rows, cols] += dwindows[..., u, v]
        return dx_pad[:, :, ph:ph + height, pw:pw + width]

    def flat_index(self, position: np.ndarray) -> np.ndarray:
        """The input-plane index ``y·W + x`` of the pixel at ``position = u·kw + v`` in each
        window, (N, C, Ho, Wo) → (N, C, Ho, Wo) int64. ``y = i·sh − ph + u·dh``, likewise x."""
        u, v = np.divmod(position.astype(np.int64), self.kernel[1])
        i = np.arange(self.out_hw[0]).reshape(-1, 1)
        j = np.arange(self.out_hw[1])
        y = i * self.stride[0] - self.padding[0] + u * self.dilation[0]
        x = j * self.stride[1] - self.padding[1] + v * self.dilation[1]
        return y * self.input_shape[3] + x


def real_taps(windows: Windows) -> np.ndarray:
    """(1, 1, Ho, Wo, kh·kw) bool: which taps of each window are input pixels, not padding."""
    ones = np.ones((1, 1, *windows.input_shape[2:]), bool)
    return flat_windows(windows.view(windows.pad(ones, False)))


def first_extreme(windows: Windows, taps: np.ndarray, pick) -> np.ndarray:
    """``pick(taps)`` (argmax or argmin over each window, (N, C, Ho, Wo, kh·kw) → (N, C, Ho,
    Wo)), moved to the window's first input pixel where it landed on the padding.

    That happens only where every input pixel of the window equals the padding's ±inf; the
    output is then that ±inf either way, and the gradient must go to a pixel of the input.
    PyTorch's kernel starts its search at that first input pixel, so its index is the same.
    """
    position = pick(taps, axis=-1)
    if windows.padding == (0, 0) and windows.extra == (0, 0):
        return position
    is_real = real_taps(windows)
    on_padding = ~np.take_along_axis(np.broadcast_to(is_real, taps.shape), position[..., None],
                                     axis=-1)[..., 0]
    first_real = np.broadcast_to(is_real.argmax(axis=-1), position.shape)
    return np.where(on_padding, first_real, position)


def flat_windows(windows: np.ndarray) -> np.ndarray:
    """(N, C, Ho, Wo, kh, kw) → (N, C, Ho, Wo, kh·kw): position ``u·kw + v`` in each window."""
    return windows.reshape(*windows.shape[:4], windows.shape[4] * windows.shape[5])


def select_in_windows(windows: np.ndarray, position: np.ndarray) -> np.ndarray:
    """``out[n, c, i, j] = windows[n, c, i, j].flat[position[n, c, i, j]]``."""
    return np.take_along_axis(flat_windows(windows), position[..., None], axis=-1)[..., 0]


def scatter_to_indices(dout: np.ndarray, indices: np.ndarray, input_shape) -> np.ndarray:
    """The backward of a pooling that picks one pixel per window (max, min, median):

        dx[n, c].flat[indices[n, c, i, j]] += dout[n, c, i, j]     (repeated picks add)

    Shapes: dout, indices (N, C, Ho, Wo) → dx ``input_shape`` (N, C, H, W).
    """
    n, c, height, width = input_shape
    dx = np.zeros((n * c, height * width), dout.dtype)
    planes = np.arange(n * c)[:, None]
    np.add.at(dx, (planes, indices.reshape(n * c, indices[0, 0].size if n * c else 0)),
              dout.reshape(n * c, dout[0, 0].size if n * c else 0))
    return dx.reshape(input_shape)


def max_pool2d_forward(x: np.ndarray, kernel_size, stride=None, padding=0, dilation=1,
                       ceil_mode: bool = False, return_indices: bool = False, *,
                       where: str = "max_pool2d_forward"):
    """Max pooling: the largest value of each window.

    Formula::

        out[n, c, i, j] = max over (u, v) of x_pad[n, c, i·sh + u·dh, j·sw + v·dw],
                          0 <= u < kh, 0 <= v < kw, with x_pad = −inf in the padding

    A NaN in a window counts as its maximum, so it shows in the output (as in PyTorch).
    ``dilation`` spaces the window's taps; ``ceil_mode`` rounds the output size up (PyTorch's
    rule: a last window is kept if it starts inside the input or the left padding).

    Shapes: x (N, C, H, W) → out (N, C, Ho, Wo), same dtype, with
    ``Ho = floor_or_ceil((H + 2·ph − dh·(kh − 1) − 1) / sh) + 1``.

    Returns ``(out, cache)``, or ``((out, indices), cache)`` with ``return_indices``: indices
    (N, C, Ho, Wo) int64 is the flat position ``y·W + x`` in the input plane of each window's
    *first* maximum in row-major order, as PyTorch's; backward routes the gradient there.
    """
    check_pool_input(where, x)
    windows = Windows.of(where, x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    taps = windows.view(windows.pad(x, -np.inf))                    # (N, C, Ho, Wo, kh, kw)
    first_max = first_extreme(windows, flat_windows(taps), np.argmax)  # NaN counts as a max
    out = select_in_windows(taps, first_max)
    indices = windows.flat_index(first_max)
    cache = (x.shape, indices)
    return ((out, indices.copy()) if return_indices else out), cache


def max_pool2d_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Gradient of max pooling: each window's gradient goes to its first maximum.

    Formula::

        dx[n, c].flat[indices[n, c, i, j]] += dout[n, c, i, j]
                         (overlapping windows add; other pixels get 0)

    Shapes: dout (N, C, Ho, Wo) → dx (N, C, H, W).
    """
    input_shape, indices = cache
    return scatter_to_indices(dout, indices, input_shape)


def check_divisor_override(where: str, divisor_override):
    """None, or ``divisor_override`` as a nonzero int (TypeError, ValueError otherwise)."""
    if divisor_override is None:
        return None
    divisor_override = check_int(where, "divisor_override", divisor_override)
    if divisor_override == 0:
        raise ValueError(f"{where}: expected divisor_override to be nonzero, got 0")
    return divisor_override


def avg_pool2d_forward(x: np.ndarray, kernel_size, stride=None, padding=0,
                       ceil_mode: bool = False, count_include_pad: bool = True,
                       divisor_override=None, *, where: str = "avg_pool2d_forward"):
    """Average pooling: the mean of each window.

    Formula (padding counts as zeros in the sum)::

        out[n, c, i, j] = (Σ_u Σ_v x_pad[n, c, i·sh + u, j·sw + v]) / divisor(i, j)

        divisor = divisor_override                        if given (a nonzero int)
                = pixels of the window inside the padded input   if count_include_pad
                = pixels of the window inside the input          otherwise

    As in PyTorch: with count_include_pad the divisor is kh·kw except for the ceil-mode
    windows that run past the padded input, which count only their part inside it.

    Shapes: x (N, C, H, W) → out (N, C, Ho, Wo), same dtype (``Ho`` as for max pooling).
    Returns ``(out, cache)``.
    """
    check_pool_input(where, x)
    divisor_override = check_divisor_override(where, divisor_override)
    windows = Windows.of(where, x.shape, kernel_size, stride, padding, 1, ceil_mode)
    sums = windows.view(windows.pad(x, 0)).sum(axis=(-2, -1))
    divisor = _divisor(windows, count_include_pad, divisor_override, x.dtype)
    return sums / divisor, (windows, divisor)


def _divisor(windows: Windows, count_include_pad: bool, divisor_override, dtype):
    """``divisor_override``, or per window the pixels it counts: the window sums of an image of
    ones, its padding ones too if ``count_include_pad`` (else zeros), the ceil-mode extra zeros.
    Shape (Ho, Wo), or a scalar."""
    if divisor_override is not None:
        return dtype.type(divisor_override)
    ones = np.ones((1, 1, *windows.input_shape[2:]), dtype)
    counted = windows.pad(ones, 1 if count_include_pad else 0, beyond=0)
    return windows.view(counted).sum(axis=(-2, -1))[0, 0]


def avg_pool2d_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Gradient of average pooling: each window shares its gradient equally among its pixels.

    Formula::

        dx[n, c, y, x] = Σ dout[n, c, i, j] / divisor(i, j) over the windows (i, j)
                         that contain the pixel (y, x)

    Shapes: dout (N, C, Ho, Wo) → dx (N, C, H, W).
    """
    windows, divisor = cache
    share = (dout / divisor).astype(dout.dtype, copy=False)        # (N, C, Ho, Wo)
    return windows.add_back(np.broadcast_to(share[..., None, None], (*share.shape,
                                                                     *windows.kernel)))


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


def adaptive_max_pool2d_forward(x: np.ndarray, output_size, return_indices: bool = False, *,
                                where: str = "adaptive_max_pool2d_forward"):
    """Max pooling to a fixed output size, with the windows of ``adaptive_pool_ranges``::

        out[n, c, i, j] = max of x[n, c, h0(i):h1(i), w0(j):w1(j)]

    NaN counts as a maximum and ties go to the first maximum in row-major order, as in
    ``max_pool2d_forward``.

    Shapes: x (N, C, H, W) → out (N, C, Ho, Wo). Returns ``(out, cache)``, or
    ``((out, indices), cache)`` with ``return_indices`` (flat ``y·W + x``, int64, as PyTorch).
    """
    check_pool_input(where, x)
    out_h, out_w = adaptive_output_size(where, output_size, x.shape[2:])
    n, c, _, width = x.shape
    out = np.empty((n, c, out_h, out_w), x.dtype)
    indices = np.empty((n, c, out_h, out_w), np.int64)
    for i, (h0, h1) in enumerate(adaptive_pool_ranges(x.shape[2], out_h)):
        for j, (w0, w1) in enumerate(adaptive_pool_ranges(width, out_w)):
            window = x[:, :, h0:h1, w0:w1].reshape(n, c, (h1 - h0) * (w1 - w0))
            first_max = window.argmax(axis=-1)                     # NaN counts as a maximum
            out[:, :, i, j] = np.take_along_axis(window, first_max[..., None], axis=-1)[..., 0]
            rows, cols = np.divmod(first_max, w1 - w0)
            indices[:, :, i, j] = (h0 + rows) * width + (w0 + cols)
    cache = (x.shape, indices)
    return ((out, indices.copy()) if return_indices else out), cache


def adaptive_max_pool2d_backward(dout: np.ndarray, cache) -> np.ndarray:
    """``dx[n, c].flat[indices[n, c, i, j]] += dout[n, c, i, j]``: each window's gradient to
    its first maximum. Shapes: dout (N, C, Ho, Wo) → dx (N, C, H, W)."""
    input_shape, indices = cache
    return scatter_to_indices(dout, indices, input_shape)


def unpool_output_hw(where: str, input_hw, kernel, stride, padding, output_size=None):
    """PyTorch's MaxUnpool2d output size: by default ``(H − 1)·s − 2·p + k`` per axis; an
    ``output_size`` ((Ho, Wo), or (N, C, Ho, Wo)) must lie strictly within one stride of it."""
    default = tuple((size - 1) * s - 2 * p + k
                    for size, k, s, p in zip(input_hw, kernel, stride, padding, strict=True))
    if output_size is None:
        return default
    size = tuple(output_size)[-2:]
    if len(tuple(output_size)) not in (2, 4) or not all(
            isinstance(v, Integral) and not isinstance(v, bool) for v in size):
        raise TypeError(f"{where}: expected output_size as (Ho, Wo) or (N, C, Ho, Wo) ints, "
                        f"got {output_size!r}")
    for v, d, s in zip(size, default, stride, strict=True):
        if not d - s < v < d + s:
            raise ValueError(f"{where}: expected output_size between {d - s + 1} and "
                             f"{d + s - 1} on each axis (default {default}), got {output_size!r}")
    return tuple(int(v) for v in size)


def max_unpool2d_forward(x: np.ndarray, indices: np.ndarray, kernel_size, stride=None,
                         padding=0, output_size=None, *, where: str = "max_unpool2d_forward"):
    """The partial inverse of max pooling: each value goes back where its maximum came from.

    Formula (all other outputs are 0)::

        out[n, c].flat[indices[n, c, i, j]] = x[n, c, i, j]

    If two values share an index, the later one in row-major order is kept (PyTorch leaves it
    unspecified). ``indices`` is what ``max_pool2d_forward(..., return_indices=True)`` gives.

    Shapes: x, indices (N, C, H, W) → out (N, C, Ho, Wo), ``Ho = (H − 1)·sh − 2·ph + kh``
    unless ``output_size`` says otherwise. Returns ``(out, cache)``.
    """
    check_pool_input(where, x)
    kernel = as_pair(where, "kernel_size", kernel_size, minimum=1)
    stride = kernel if stride is None else as_pair(where, "stride", stride, minimum=1)
    padding = as_pair(where, "padding", padding, minimum=0)
    if not isinstance(indices, np.ndarray) or indices.dtype.kind not in "iu":
        raise TypeError(f"{where}: expected indices as an integer array, got "
                        f"{getattr(indices, 'dtype', type(indices).__name__)}")
    if indices.shape != x.shape:
        raise ValueError(f"{where}: expected indices of the input's shape {x.shape}, got "
                         f"{indices.shape}")
    out_h, out_w = unpool_output_hw(where, x.shape[2:], kernel, stride, padding, output_size)
    n, c = x.shape[:2]
    flat = indices.reshape(n * c, x.shape[2] * x.shape[3])
    if flat.size and (flat.min() < 0 or flat.max() >= out_h * out_w):
        raise ValueError(f"{where}: expected indices in [0, {out_h * out_w}) for an output "
                         f"plane of {out_h}×{out_w}, got values from {flat.min()} to {flat.max()}")
    out = np.zeros((n * c, out_h * out_w), x.dtype)
    planes = np.arange(n * c)[:, None]
    out[planes, flat] = x.reshape(n * c, -1)
    return out.reshape(n, c, out_h, out_w), (flat.copy(), x.shape)


def max_unpool2d_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Gradient of unpooling: each input reads the gradient at the place it was put (a gather)::

        dx[n, c, i, j] = dout[n, c].flat[indices[n, c, i, j]]

    Shapes: dout (N, C, Ho, Wo) → dx (N, C, H, W).
    """
    flat, input_shape = cache
    planes = np.arange(flat.shape[0])[:, None]
    return dout.reshape(flat.shape[0], dout.shape[2] * dout.shape[3])[planes, flat].reshape(
        input_shape)
