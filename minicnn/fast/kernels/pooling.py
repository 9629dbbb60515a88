"""Max and average pooling, forward and backward, on (N, C, H, W) arrays.

Window (i, j) of a channel plane covers the input rows ``i·sh − ph ... i·sh − ph + kh − 1`` and
columns ``j·sw − pw ... j·sw − pw + kw − 1``; the parts outside the image are padding. Every
kernel is parallel over the N·C channel planes (``parallel.py``): a plane's windows read and
write only that plane, so threads never touch the same element.

Max pooling ignores the padding (it acts as −inf, as in PyTorch) and records the *first*
maximum of each window in row-major order, as a flat index ``y·W + x`` into the input plane;
backward adds each output gradient into that one pixel, so overlapping windows add. A NaN
counts as a maximum, so NaNs propagate as in PyTorch instead of hiding.

The caller allocates the outputs; every function fills them completely and returns them.
Arrays must be C-contiguous.
"""

import numpy as np
from numba import njit

from ..parallel import run_tasks
from ._runs import zero_run

__all__ = [
    "avg_pool2d_backward_kernel", "avg_pool2d_forward_kernel", "max_pool2d_backward_kernel",
    "max_pool2d_forward_kernel",
]


@njit(cache=True, inline="always")
def _window(i, stride, pad, kernel, size):
    """Input rows (or columns) ``[lo, hi)`` of window i, clipped to the image."""
    start = i * stride - pad
    return max(start, 0), min(start + kernel, size)


def max_pool2d_forward_kernel(x, kh, kw, sh, sw, ph, pw, out, argmax):
    """``out[n, c, i, j]`` = max of window (i, j); ``argmax`` (int32) = y·W + x of its first max.

    Shapes: x (N, C, H, W) → out (N, C, Ho, Wo) of x's dtype, argmax (N, C, Ho, Wo) int32.
    Needs ``ph <= kh // 2`` and ``pw <= kw // 2`` so that every window holds a pixel.

    A plain Python function that picks one of two compiled loops: the classic 2×2 window with
    stride 2 and no padding gets its own, unrolled one (faster; figures: benchmarks/README.md,
    "Max pooling"), and a network that only uses that one never waits for the general one to
    compile.
    """
    planes, work = x.shape[0] * x.shape[1], out.size * (kh * kw + 2)  # reads, 2 writes
    if (kh, kw, sh, sw, ph, pw) == (2, 2, 2, 2, 0, 0):
        run_tasks(_max_pool_2x2, planes, work, x, out, argmax)
    else:
        run_tasks(_max_pool_any, planes, work, x, kh, kw, sh, sw, ph, pw, out, argmax)
    return out, argmax


@njit(cache=True, inline="always")
def _first_max(x_flat, plane_start, width, y_lo, y_hi, x_lo, x_hi, nan_aware):
    """``(max, y·W + x of its first occurrence, whether a NaN was seen)`` over rows
    ``[y_lo, y_hi)`` and columns ``[x_lo, x_hi)`` of the plane starting at ``plane_start``.

    Strictly greater keeps the first maximum on ties; written as selects, not an if, since a
    branch on random data is mispredicted half the time. With ``nan_aware`` a NaN also wins
    (the first NaN); without, NaNs never win and are only noted, which is much faster: the
    NaN test inside the chain of selects costs more than the comparison itself.
    """
    best_at = y_lo * width + x_lo
    best = x_flat[np.uint64(plane_start + best_at)]
    nan_seen = False
    for y in range(y_lo, y_hi):
        for xx in range(x_lo, x_hi):
            at = y * width + xx
            value = x_flat[np.uint64(plane_start + at)]
            if nan_aware:
                take = (value > best) | (np.isnan(value) & ~np.isnan(best))
            else:
                take = value > best
                nan_seen |= value != value  # only a NaN differs from itself
            best = value if take else best
            best_at = at if take else best_at
    return best, best_at, nan_seen


@njit(cache=True, nogil=True)
def _max_pool_any(x, kh, kw, sh, sw, ph, pw, out, argmax, first, last):
    """Any window, stride and padding, planes ``first`` to ``last − 1`` of the N·C.

    Each window is searched with plain comparisons; the rare window that holds a NaN is
    searched again with the NaN-aware ones (figures: benchmarks/README.md, "Max pooling").
    """
    height, width = x.shape[2], x.shape[3]
    out_h, out_w = out.shape[2], out.shape[3]
    x_flat = x.reshape(x.size)
    out_flat = out.reshape(out.size)
    argmax_flat = argmax.reshape(argmax.size)
    for plane in range(first, last):
        plane_start = plane * height * width
        for i in range(out_h):
            y_lo, y_hi = _window(i, sh, ph, kh, height)
            for j in range(out_w):
                x_lo, x_hi = _window(j, sw, pw, kw, width)
                best, best_at, nan_seen = _first_max(x_flat, plane_start, width, y_lo, y_hi,
                                                     x_lo, x_hi, False)
                if nan_seen:
                    best, best_at, _ = _first_max(x_flat, plane_start, width, y_lo, y_hi,
                                                  x_lo, x_hi, True)
                k = np.uint64((plane * out_h + i) * out_w + j)
                out_flat[k] = best
                argmax_flat[k] = best_at


@njit(cache=True, nogil=True)
def _max_pool_2x2(x, out, argmax, first, last):
    """The 2×2 window with stride 2 and no padding, planes ``first`` to ``last − 1``."""
    height, width = x.shape[2], x.shape[3]
    out_h, out_w = out.shape[2], out.shape[3]
    x_flat = x.reshape(x.size)
    out_flat = out.reshape(out.size)
    argmax_flat = argmax.reshape(argmax.size)
    for plane in range(first, last):
        plane_start = plane * height * width
        for i in range(out_h):
            for j in range(out_w):
                top_left = 2 * i * width + 2 * j
                best_at = top_left
                best = x_flat[np.uint64(plane_start + top_left)]
                # The other three pixels in row-major order: right, below, below-right.
                for offset in (1, width, width + 1):
                    at = top_left + offset
                    value = x_flat[np.uint64(plane_start + at)]
                    take = (value > best) | (np.isnan(value) & ~np.isnan(best))
                    best = value if take else best
                    best_at = at if take else best_at
                k = np.uint64((plane * out_h + i) * out_w + j)
                out_flat[k] = best
                argmax_flat[k] = best_at


def max_pool2d_backward_kernel(dout, argmax, dx):
    """Overwrite ``dx`` with ``dx[n, c].flat[argmax[n, c, i, j]] += dout[n, c, i, j]``.

    Shapes: dout, argmax (N, C, Ho, Wo) → dx (N, C, H, W).
    """
    run_tasks(_max_pool_backward_planes, dx.shape[0] * dx.shape[1], dx.size + 2 * dout.size,
              dout, argmax, dx)
    return dx


@njit(cache=True, nogil=True)
def _max_pool_backward_planes(dout, argmax, dx, first, last):
    """``max_pool2d_backward_kernel`` for planes ``first`` to ``last − 1`` of the N·C."""
    channels, height, width = dx.shape[1:]
    out_h, out_w = dout.shape[2], dout.shape[3]
    dx_flat = dx.reshape(dx.size)
    for plane in range(first, last):
        n = plane // channels
        c = plane - n * channels
        plane_start = plane * height * width
        zero_run(dx_flat, plane_start, height * width)
        for i in range(out_h):
            for j in range(out_w):
                dx_flat[plane_start + argmax[n, c, i, j]] += dout[n, c, i, j]


@njit(cache=True, inline="always")
def _divisor(y_lo, y_hi, x_lo, x_hi, kh, kw, count_include_pad):
    """What a window's sum is divided by: kh·kw, or only the number of pixels inside the image.

    PyTorch counts the padded window clipped to the padded border; with floor-mode output sizes
    no window reaches past that border, so counting the padding always gives kh·kw.
    """
    if count_include_pad:
        return kh * kw
    return (y_hi - y_lo) * (x_hi - x_lo)


def avg_pool2d_forward_kernel(x, kh, kw, sh, sw, ph, pw, count_include_pad, out):
    """``out[n, c, i, j]`` = (sum of the pixels of window (i, j)) / divisor (see ``_divisor``).

    Shapes: x (N, C, H, W) → out (N, C, Ho, Wo). Padding contributes zeros to the sum.
    """
    run_tasks(_avg_pool_planes, x.shape[0] * x.shape[1], out.size * (kh * kw + 1),
              x, kh, kw, sh, sw, ph, pw, count_include_pad, out)
    return out


@njit(cache=True, nogil=True)
def _avg_pool_planes(x, kh, kw, sh, sw, ph, pw, count_include_pad, out, first, last):
    """``avg_pool2d_forward_kernel`` for planes ``first`` to ``last − 1`` of the N·C."""
    channels, height, width = x.shape[1:]
    out_h, out_w = out.shape[2], out.shape[3]
    for plane in range(first, last):
        n = plane // channels
        c = plane - n * channels
        image = x[n, c]
        for i in range(out_h):
            y_lo, y_hi = _window(i, sh, ph, kh, height)
            for j in range(out_w):
                x_lo, x_hi = _window(j, sw, pw, kw, width)
                total = 0.0  # summed in float64, rounded once to x's dtype when stored
                for y in range(y_lo, y_hi):
                    for xx in range(x_lo, x_hi):
                        total += image[y, xx]
                out[n, c, i, j] = total / _divisor(y_lo, y_hi, x_lo, x_hi, kh, kw,
                                                   count_include_pad)


def avg_pool2d_backward_kernel(dout, kh, kw, sh, sw, ph, pw, count_include_pad, dx):
    """Overwrite ``dx``: every pixel of window (i, j) receives ``dout[n, c, i, j] / divisor``.

    Shapes: dout (N, C, Ho, Wo) → dx (N, C, H, W). Overlapping windows add.
    """
    run_tasks(_avg_pool_backward_planes, dx.shape[0] * dx.shape[1],
              dx.size + dout.size * kh * kw,
              dout, kh, kw, sh, sw, ph, pw, count_include_pad, dx)
    return dx


@njit(cache=True, nogil=True)
def _avg_pool_backward_planes(dout, kh, kw, sh, sw, ph, pw, count_include_pad, dx, first, last):
    """``avg_pool2d_backward_kernel`` for planes ``first`` to ``last − 1`` of the N·C."""
    channels, height, width = dx.shape[1:]
    out_h, out_w = dout.shape[2], dout.shape[3]
    dx_flat = dx.reshape(dx.size)
    for plane in range(first, last):
        n = plane // channels
        c = plane - n * channels
        zero_run(dx_flat, plane * height * width, height * width)
        image_grad = dx[n, c]
        for i in range(out_h):
            y_lo, y_hi = _window(i, sh, ph, kh, height)
            for j in range(out_w):
                x_lo, x_hi = _window(j, sw, pw, kw, width)
                share = dout[n, c, i, j] / _divisor(y_lo, y_hi, x_lo, x_hi, kh, kw,
                                                    count_include_pad)
                for y in range(y_lo, y_hi):
                    for xx in range(x_lo, x_hi):
                        image_grad[y, xx] += share
