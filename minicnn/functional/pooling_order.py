"""Poolings by order and by norm: min, median and power-average (Lp) pooling.

The windows are those of ``max_pool2d_forward`` (``pooling.Windows``). Min and median pooling
pick one pixel of each window, so their gradient goes to that pixel alone, as max pooling's;
``MinPool2d`` and ``MedianPool2d`` are not in PyTorch (they are the course's: a median filter is
the classic denoiser of image processing). LP pooling is PyTorch's ``LPPool2d``.
"""

from numbers import Real

import numpy as np

from .pooling import (
    Windows,
    check_pool_input,
    first_extreme,
    flat_windows,
    real_taps,
    scatter_to_indices,
    select_in_windows,
)

__all__ = ["lp_pool2d_backward", "lp_pool2d_forward", "median_pool2d_backward",
           "median_pool2d_forward", "min_pool2d_backward", "min_pool2d_forward"]


def min_pool2d_forward(x: np.ndarray, kernel_size, stride=None, padding=0, *,
                       where: str = "min_pool2d_forward"):
    """Min pooling: the smallest value of each window (not in PyTorch; ``−max_pool(−x)``).

    Formula::

        out[n, c, i, j] = min over (u, v) of x_pad[n, c, i·sh + u, j·sw + v],
                          with x_pad = +inf in the padding (padding never wins)

    A NaN counts as the minimum (as NaN counts as the maximum in max pooling).

    Shapes: x (N, C, H, W) → out (N, C, Ho, Wo), same dtype. Returns ``(out, cache)``; the
    cache holds the input-plane index ``y·W + x`` of each window's *first* minimum in
    row-major order, which backward routes the gradient to.
    """
    check_pool_input(where, x)
    windows = Windows.of(where, x.shape, kernel_size, stride, padding)
    taps = windows.view(windows.pad(x, np.inf))                     # (N, C, Ho, Wo, kh, kw)
    first_min = first_extreme(windows, flat_windows(taps), np.argmin)  # NaN counts as a min
    return select_in_windows(taps, first_min), (x.shape, windows.flat_index(first_min))


def min_pool2d_backward(dout: np.ndarray, cache) -> np.ndarray:
    """``dx[n, c].flat[indices[n, c, i, j]] += dout[n, c, i, j]``: each window's gradient to its
    first minimum. Shapes: dout (N, C, Ho, Wo) → dx (N, C, H, W)."""
    input_shape, indices = cache
    return scatter_to_indices(dout, indices, input_shape)


def median_pool2d_forward(x: np.ndarray, kernel_size, stride=None, padding=0, *,
                          where: str = "median_pool2d_forward"):
    """Median pooling: the median of the real pixels of each window (not in PyTorch).

    Formula, with the m real (unpadded) pixels of window (i, j) sorted as
    ``v_0 <= v_1 <= ... <= v_{m−1}``::

        out[n, c, i, j] = v_{(m − 1) // 2}

    That is the *lower* median when m is even: always one pixel of the window, never the mean
    of the two middle ones (``numpy.median`` would average them), so the gradient goes to
    exactly one pixel. Padding is left out of the count (a zero padding would pull the median
    of border windows towards 0). Ties are broken by position: the sort is stable, so among
    equal values the first in row-major order is chosen. NaN sorts after every number.

    Shapes: x (N, C, H, W) → out (N, C, Ho, Wo), same dtype. Returns ``(out, cache)``; the
    cache holds the input-plane index ``y·W + x`` of the chosen pixel.
    """
    check_pool_input(where, x)
    windows = Windows.of(where, x.shape, kernel_size, stride, padding)
    taps = windows.view(windows.pad(x, 0))
    taps = flat_windows(taps)                                       # (N, C, Ho, Wo, kh·kw)
    is_real = real_taps(windows)                                    # (1, 1, Ho, Wo, kh·kw)
    # Real pixels first, in order of value (stable: ties keep row-major order), padding last.
    order = np.lexsort((taps, ~np.broadcast_to(is_real, taps.shape)), axis=-1)
    rank = (is_real.sum(axis=-1) - 1) // 2                          # (1, 1, Ho, Wo)
    chosen = np.take_along_axis(order, np.broadcast_to(rank, taps.shape[:4])[..., None],
                                axis=-1)[..., 0]
    out = np.take_along_axis(taps, chosen[..., None], axis=-1)[..., 0]
    return out, (x.shape, windows.flat_index(chosen))


def median_pool2d_backward(dout: np.ndarray, cache) -> np.ndarray:
    """``dx[n, c].flat[indices[n, c, i, j]] += dout[n, c, i, j]``: each window's gradient to the
    pixel chosen as its median. Shapes: dout (N, C, Ho, Wo) → dx (N, C, H, W)."""
    input_shape, indices = cache
    return scatter_to_indices(dout, indices, input_shape)


def check_norm_type(where: str, norm_type) -> None:
    """ValueError unless ``norm_type`` is a finite real number above 0."""
    if (isinstance(norm_type, bool) or not isinstance(norm_type, Real)
            or not 0 < norm_type < np.inf):
        raise ValueError(f"{where}: expected norm_type as a finite number above 0, got "
                         f"{norm_type!r}")


def lp_pool2d_forward(x: np.ndarray, norm_type, kernel_size, stride=None,
                      ceil_mode: bool = False, *, where: str = "lp_pool2d_forward"):
    """Power-average pooling, PyTorch's ``LPPool2d``: the p-norm of each window, without abs.

    Formula, with ``S(i, j) = Σ_u Σ_v x[n, c, i·sh + u, j·sw + v] ** p``::

        out[n, c, i, j] = (scale(i, j) · S(i, j)) ** (1 / p)

    ``scale`` is 1, except with ``ceil_mode`` for a window that runs past the input: its sum
    is scaled by ``kh·kw / (its pixels inside the input)``, as PyTorch computes it
    (``avg_pool2d(x ** p) · kh·kw``). No absolute value is taken (as PyTorch): a negative x
    with a fractional p, or a negative sum with an odd p, gives NaN. p = 1 is sum pooling,
    large p tends to max pooling (p = inf, PyTorch's max pooling of |x|, is refused here:
    use ``max_pool2d_forward(np.abs(x), ...)``). No padding.

    Shapes: x (N, C, H, W) → out (N, C, Ho, Wo), same dtype. Returns ``(out, cache)``.
    """
    check_pool_input(where, x)
    check_norm_type(where, norm_type)
    windows = Windows.of(where, x.shape, kernel_size, stride, 0, 1, ceil_mode)
    p = x.dtype.type(norm_type)
    with np.errstate(invalid="ignore"):  # NaN as documented, as PyTorch
        sums = windows.view(windows.pad(x ** p, 0)).sum(axis=(-2, -1))
        inside = windows.view(windows.pad(np.ones((1, 1, *x.shape[2:]), x.dtype), 0))
        scale = (np.prod(windows.kernel) / inside.sum(axis=(-2, -1))[0, 0]).astype(x.dtype)
        out = (sums * scale) ** (1 / p)
    return out, (windows, x, p, scale, out)


def lp_pool2d_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Gradient of LP pooling, by the chain rule through ``S ** (1/p)`` and each ``x ** p``::

        dx[n, c, y, x] = Σ dout[n, c, i, j] · scale(i, j) · out[n, c, i, j] ** (1 − p)
                                             · x[n, c, y, x] ** (p − 1)
                         over the windows (i, j) that contain (y, x)

    Where a window's sum is 0 its gradient is set to 0, PyTorch's documented rule (the
    derivative of ``S ** (1/p)`` is infinite there for p > 1). Its pixels then get nothing
    from it, never NaN, for every p — also for p = 1, where the true derivative of the sum
    would be ``dout · scale`` (PyTorch gives 0 there too), and for p < 1, where PyTorch's
    ``0 · 0 ** (p − 1)`` gives NaN. For p < 1 a zero pixel in a window of nonzero sum gets
    an infinite gradient (the true one-sided slope of ``x ** p`` at 0), as in PyTorch.

    Shapes: dout (N, C, Ho, Wo) → dx (N, C, H, W).
    """
    windows, x, p, scale, out = cache
    with np.errstate(divide="ignore", invalid="ignore"):
        per_window = np.where(out == 0, 0, dout * scale * out ** (1 - p)).astype(dout.dtype)
        spread = windows.add_back(np.broadcast_to(per_window[..., None, None],
                                                  (*per_window.shape, *windows.kernel)))
        dx = np.where(spread == 0, 0, spread * x ** (p - 1))
    return dx.astype(dout.dtype, copy=False)
