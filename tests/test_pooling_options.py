"""Pooling options and the other poolings (issue 16): MaxPool2d's dilation, ceil_mode and
return_indices; AvgPool2d's ceil_mode, count_include_pad and divisor_override; MaxUnpool2d,
AdaptiveMaxPool2d, LPPool2d, and the course's MinPool2d and MedianPool2d.

What is checked (each test under both engines, ``conftest.each_engine``; the fast engine hands
every new setting to the reference, so both must give the loops' numbers):
- every pooling, forward and backward, against its definition written as plain loops over the
  taps of each window, in float32 and float64, with PyTorch's window rules written out:
  ``Ho = floor_or_ceil((H + 2·p − d·(k − 1) − 1) / s) + 1`` (rounding towards −∞), a ceil-mode
  window dropped if it starts past the input and the left padding; tap u of window i at row
  ``i·s − p + u·d``; the average's divisor ``(min(start + k, H + p) − start)`` per axis with
  count_include_pad (the part of the window inside input + padding), the real pixels without,
  or ``divisor_override``; LP pooling ``(kh·kw / inside · Σ x^p)^(1/p)``; adaptive windows
  ``[floor(i·in/out), ceil((i+1)·in/out))``;
- every backward against float64 central differences (``check_module``): the piecewise linear
  poolings with a step of 1e-3 on distinct values 1e-2 apart (no window changes its winner, so
  only rounding remains, tolerance 1e-9), LP pooling with a step of 1e-6 on positive inputs;
- PyTorch's edge cases, with numbers computed with torch 2.13 by hand where said: ceil-mode
  windows that would start in the right padding are dropped, the ceil-mode divisor with
  count_include_pad, divisor_override, dilation with padding and its indices, return_indices
  as the flat index ``y·W + x`` per (n, c), MaxUnpool2d with output_size (and back), adaptive
  max pooling with non-divisible sizes and its indices, a window whose pixels are all −inf
  (index and gradient at its first input pixel, as PyTorch), LP pooling with p = 1 (sum
  pooling) and its zero gradient at windows of zero sum (never NaN, for p = 1, 2, 3, 0.5);
- the min/median tie rule (first in row-major order; the lower median of an even count;
  padding not counted) and that the gradient goes to the chosen element;
- errors, each naming the layer: padding above half the kernel, kernel/stride/dilation below
  1 or not ints, input not of rank 4, a dilated window that reads only padding (PyTorch reads
  out of bounds there), a bad norm_type or divisor_override, bad unpooling indices or
  output_size (ValueError or TypeError as said in each case).
"""

import numpy as np
import pytest

import minicnn
from minicnn import nn
from minicnn.gradcheck import check_module

from engine_under_test import F

pytestmark = pytest.mark.usefixtures("each_engine")

TOL = 1e-9
H_PIECEWISE = 1e-3  # below half the 1e-2 gap between input values


def distinct_values(shape, seed=0):
    """A random permutation of 0, 0.01, 0.02, ...: no ties, a gap of 0.01 everywhere."""
    size = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(size).reshape(shape) / 100.0


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# -- PyTorch's window rules, written out ------------------------------------------------------
def out_length(size, k, s, p, d, ceil_mode):
    """PyTorch's pooling_output_shape, with Python's floor division (towards −∞)."""
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1  # the last window would start in the right padding
    return out


def windows(x_shape, kernel, stride, padding, dilation=1, ceil_mode=False):
    """Yield (i, j, taps): taps the (row, col) of each tap of window (i, j) in row-major
    order, input coordinates (negative or >= size: padding)."""
    (kh, kw), (ph, pw), (dh, dw) = _pair(kernel), _pair(padding), _pair(dilation)
    sh, sw = _pair(kernel) if stride is None else _pair(stride)
    height, width = x_shape[2:]
    for i in range(out_length(height, kh, sh, ph, dh, ceil_mode)):
        for j in range(out_length(width, kw, sw, pw, dw, ceil_mode)):
            yield i, j, [(i * sh - ph + u * dh, j * sw - pw + v * dw)
                         for u in range(kh) for v in range(kw)]


def _output_shape(x, kernel, stride, padding, dilation=1, ceil_mode=False):
    cells = list(windows(x.shape, kernel, stride, padding, dilation, ceil_mode))
    return (*x.shape[:2], cells[-1][0] + 1, cells[-1][1] + 1), cells


def _real(taps, x_shape):
    return [(y, z) for y, z in taps if 0 <= y < x_shape[2] and 0 <= z < x_shape[3]]


def pick_by_loops(x, dout, cells, choose):
    """Forward and backward of a pooling that picks one real pixel of each window:
    ``choose(values) -> position in the list``; the gradient goes to that pixel."""
    out = np.zeros(dout.shape)
    dx = np.zeros(x.shape)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i, j, taps in cells:
                real = _real(taps, x.shape)
                y, z = real[choose([x[n, c, y, z] for y, z in real])]
                out[n, c, i, j] = x[n, c, y, z]
                dx[n, c, y, z] += dout[n, c, i, j]
    return out, dx


def first_max(values):
    """Strictly greater wins, so ties keep the first; a NaN beats any number (PyTorch)."""
    at = 0
    for k, value in enumerate(values):
        if value > values[at] or (np.isnan(value) and not np.isnan(values[at])):
            at = k
    return at


def first_min(values):
    at = 0
    for k, value in enumerate(values):
        if value < values[at] or (np.isnan(value) and not np.isnan(values[at])):
            at = k
    return at


def lower_median(values):
    """The ((m − 1) // 2)-th of the values sorted stably (ties keep row-major order)."""
    order = sorted(range(len(values)), key=lambda k: values[k])
    return order[(len(values) - 1) // 2]


def avg_by_loops(x, dout, cells, kernel, padding, count_include_pad, divisor_override):
    (kh, kw), (ph, pw) = _pair(kernel), _pair(padding)
    height, width = x.shape[2:]
    out = np.zeros(dout.shape)
    dx = np.zeros(x.shape)
    for i, j, taps in cells:
        y0, z0 = taps[0]
        real = _real(taps, x.shape)
        if divisor_override is not None:
            divisor = divisor_override
        elif count_include_pad:  # PyTorch: the window clipped to input + padding
            divisor = (min(y0 + kh, height + ph) - y0) * (min(z0 + kw, width + pw) - z0)
        else:
            divisor = len(real)
        for y, z in real:
            out[:, :, i, j] += x[:, :, y, z] / divisor
            dx[:, :, y, z] += dout[:, :, i, j] / divisor
    return out, dx


def lp_by_loops(x, dout, cells, p, kernel):
    kh, kw = _pair(kernel)
    out = np.zeros(dout.shape)
    dx = np.zeros(x.shape)
    for i, j, taps in cells:
        real = _real(taps, x.shape)
        scale = kh * kw / len(real)
        total = sum(x[:, :, y, z] ** p for y, z in real)
        out[:, :, i, j] = (scale * total) ** (1 / p)
        for y, z in real:  # d/dx of (scale·S)^(1/p) = scale·(scale·S)^(1/p − 1)·x^(p − 1)
            dx[:, :, y, z] += (dout[:, :, i, j] * scale * out[:, :, i, j] ** (1 - p)
                               * x[:, :, y, z] ** (p - 1))
    return out, dx


def _tolerance(dtype):
    return {"rtol": 2e-6, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12,
                                                                     "atol": 1e-14}


# x shape, kernel, stride, padding, dilation, ceil_mode
MAX_CASES = [
    ((2, 2, 5, 5), 2, None, 0, 1, True),         # ceil: a last, clipped window each way
    ((1, 2, 7, 6), 3, 2, 1, 1, True),            # ceil with padding (the first rule)
    ((1, 1, 5, 5), 2, 2, 1, 1, True),            # ceil: the window in the padding dropped
    ((2, 1, 7, 8), 3, 1, 1, 2, False),           # dilation with padding
    ((1, 2, 9, 7), (3, 2), (2, 1), (1, 1), (2, 3), True),  # all of them, rectangular
    ((1, 1, 1, 3), 2, 2, 0, 1, True),            # ceil: a window taller than the input
    ((1, 1, 6, 6), 3, 2, 1, 2, False),           # torch's hand example below
]
AVG_CASES = [  # x shape, kernel, stride, padding, ceil_mode
    ((2, 2, 5, 5), 2, None, 0, True),
    ((1, 2, 4, 4), 3, 2, 1, True),               # torch's hand example below
    ((1, 1, 7, 6), (3, 2), (2, 3), (1, 1), True),
    ((2, 1, 6, 7), 3, 2, 1, False),
    ((1, 1, 1, 3), 2, 2, 0, True),
]


# -- max pooling: dilation, ceil_mode, return_indices ----------------------------------------
@pytest.mark.parametrize("x_shape, kernel, stride, padding, dilation, ceil_mode", MAX_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_options_match_the_definition(x_shape, kernel, stride, padding, dilation,
                                               ceil_mode, dtype):
    x = distinct_values(x_shape).astype(dtype)
    (out, indices), cache = F.max_pool2d_forward(x, kernel, stride, padding, dilation,
                                                 ceil_mode, True)
    shape, cells = _output_shape(x, kernel, stride, padding, dilation, ceil_mode)
    dout = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    expected_out, expected_dx = pick_by_loops(x, dout, cells, first_max)
    assert out.dtype == dtype and indices.dtype == np.int64
    np.testing.assert_array_equal(out, expected_out)
    dx = F.max_pool2d_backward(dout, cache)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, expected_dx, **_tolerance(dtype))
    # indices: the flat y·W + x of each maximum in its own (n, c) plane
    planes = x.reshape(*x.shape[:2], -1)
    np.testing.assert_array_equal(np.take_along_axis(planes, indices.reshape(
        *indices.shape[:2], -1), axis=-1).reshape(out.shape), out)


def test_dilation_with_padding_and_its_indices_as_torch():
    x = np.random.default_rng(5).permutation(36).reshape(1, 1, 6, 6) / 1.0
    (out, indices), _ = F.max_pool2d_forward(x, 3, 2, 1, dilation=2, return_indices=True)
    # torch.nn.functional.max_pool2d(x, 3, 2, 1, dilation=2, return_indices=True), by hand
    np.testing.assert_array_equal(out[0, 0], [[29, 31], [29, 31]])
    np.testing.assert_array_equal(indices[0, 0], [[21, 11], [21, 11]])


def test_return_indices_are_flat_per_plane_and_the_layer_returns_both():
    x = distinct_values((2, 3, 4, 6))
    out, indices = nn.MaxPool2d(2, return_indices=True)(x)
    assert out.shape == indices.shape == (2, 3, 2, 3)
    assert indices.min() >= 0 and indices.max() < 4 * 6  # within one plane, not the batch
    for n in range(2):
        for c in range(3):
            np.testing.assert_array_equal(x[n, c].flat[indices[n, c]], out[n, c])


def test_ceil_mode_drops_a_window_that_would_start_in_the_padding():
    x = np.zeros((1, 1, 5, 5))
    # (5 + 2 − 1 − 1 + 1) // 2 + 1 = 4 windows, but the 4th would start at padded row 6, in
    # the right padding: dropped. torch.nn.functional.max_pool2d(x, 2, 2, 1, ceil_mode=True)
    # gives (1, 1, 3, 3) (by hand).
    out, _ = F.max_pool2d_forward(x, 2, 2, 1, ceil_mode=True)
    assert out.shape == (1, 1, 3, 3)
    out, _ = F.max_pool2d_forward(np.zeros((1, 1, 5, 5)), 2, 2, 0, ceil_mode=True)
    assert out.shape == (1, 1, 3, 3)  # without padding the clipped 3rd window is kept
    out, _ = F.max_pool2d_forward(np.zeros((1, 1, 5, 5)), 2, 2, 0, ceil_mode=False)
    assert out.shape == (1, 1, 2, 2)


def test_a_window_of_minus_infinity_points_at_its_first_input_pixel():
    x = np.full((1, 1, 4, 5), -np.inf)
    x[0, 0, 3, 4] = 1.0
    (out, indices), cache = F.max_pool2d_forward(x, 3, 2, 1, return_indices=True)
    # The padding (−inf) ties with the pixels: the index must still be a pixel of the input,
    # the first one of the window, as torch gives (checked by hand).
    np.testing.assert_array_equal(out[0, 0], [[-np.inf, -np.inf, -np.inf],
                                              [-np.inf, -np.inf, 1.0]])
    np.testing.assert_array_equal(indices[0, 0], [[0, 1, 3], [5, 6, 19]])
    dx = F.max_pool2d_backward(np.ones_like(out), cache)
    np.testing.assert_array_equal(dx.flat[[0, 1, 3, 5, 6, 19]], [1, 1, 1, 1, 1, 1])
    assert dx.sum() == 6
    out, cache = F.min_pool2d_forward(-x, 3, 2, 1)  # the same for +inf and the minimum
    np.testing.assert_array_equal(F.min_pool2d_backward(np.ones_like(out), cache), dx)


def test_a_dilated_window_reading_only_padding_is_refused():
    # kernel 2, padding 1, dilation 2 on 1 row: taps at rows −1 and 1, both padding. PyTorch
    # writes out of bounds here (its backward crashed with "munmap_chunk(): invalid pointer").
    with pytest.raises(ValueError, match=r"^MaxPool2d\(kernel_size=2, stride=2, padding=1, "
                                         r"dilation=2\): window 0 along the height reads only "
                                         r"padding \(input height 1, taps at \[-1, 1\]\)"):
        nn.MaxPool2d(2, padding=1, dilation=2)(np.zeros((1, 1, 1, 4), np.float32))
    out = nn.MaxPool2d(2, padding=1, dilation=2)(np.zeros((1, 1, 2, 4), np.float32))
    assert out.shape == (1, 1, 1, 2)  # one row more: tap 1 is a pixel


@pytest.mark.parametrize("x_shape, kernel, stride, padding, dilation, ceil_mode", MAX_CASES)
def test_max_pool_options_gradient(x_shape, kernel, stride, padding, dilation, ceil_mode):
    layer = nn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=ceil_mode)
    report = check_module(layer, distinct_values(x_shape), h=H_PIECEWISE)
    assert report.ok(TOL), report


def test_max_pool_with_indices_has_the_same_gradient():
    x = distinct_values((1, 2, 7, 6))
    report = check_module(nn.MaxPool2d(3, 2, 1, return_indices=False, ceil_mode=True), x,
                          h=H_PIECEWISE)
    assert report.ok(TOL), report
    layer = nn.MaxPool2d(3, 2, 1, return_indices=True, ceil_mode=True)
    out, _ = layer(x)
    plain = nn.MaxPool2d(3, 2, 1, ceil_mode=True)
    plain(x)
    dout = np.random.default_rng(0).standard_normal(out.shape)
    np.testing.assert_array_equal(layer.backward(dout), plain.backward(dout))


# -- average pooling: ceil_mode, count_include_pad, divisor_override ---------------------------
@pytest.mark.parametrize("x_shape, kernel, stride, padding, ceil_mode", AVG_CASES)
@pytest.mark.parametrize("count_include_pad, divisor_override", [
    (True, None), (False, None), (True, 3), (False, -2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_avg_pool_options_match_the_definition(x_shape, kernel, stride, padding, ceil_mode,
                                               count_include_pad, divisor_override, dtype):
    x = np.random.default_rng(2).standard_normal(x_shape).astype(dtype)
    out, cache = F.avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad,
                                      divisor_override)
    shape, cells = _output_shape(x, kernel, stride, padding, 1, ceil_mode)
    dout = np.random.default_rng(3).standard_normal(shape).astype(dtype)
    expected_out, expected_dx = avg_by_loops(x, dout, cells, kernel, padding,
                                             count_include_pad, divisor_override)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, expected_out, **_tolerance(dtype))
    dx = F.avg_pool2d_backward(dout, cache)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, expected_dx, **_tolerance(dtype))


def test_ceil_mode_divisor_with_count_include_pad_as_torch():
    x = np.ones((1, 1, 4, 4))
    # torch.nn.functional.avg_pool2d(ones(1, 1, 4, 4), 3, 2, 1, ceil_mode=True), by hand: the
    # last row and column of windows run past the padding and count only rows/columns 3..4.
    with_pad, _ = F.avg_pool2d_forward(x, 3, 2, 1, ceil_mode=True, count_include_pad=True)
    np.testing.assert_allclose(with_pad[0, 0], [[4 / 9, 6 / 9, 2 / 6],
                                                [6 / 9, 1, 3 / 6],
                                                [2 / 6, 3 / 6, 1 / 4]], rtol=1e-15)
    without, _ = F.avg_pool2d_forward(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)
    np.testing.assert_array_equal(without[0, 0], np.ones((3, 3)))


def test_divisor_override_as_torch():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    out, cache = F.avg_pool2d_forward(x, 2, divisor_override=3)
    # torch: [[3.3333, 6.0], [14.0, 16.6667]] (by hand), the window sums / 3
    np.testing.assert_allclose(out[0, 0], [[10 / 3, 6], [14, 50 / 3]], rtol=1e-15)
    np.testing.assert_allclose(F.avg_pool2d_backward(np.ones_like(out), cache),
                               np.full(x.shape, 1 / 3), rtol=1e-15)


@pytest.mark.parametrize("x_shape, kernel, stride, padding, ceil_mode", AVG_CASES)
@pytest.mark.parametrize("count_include_pad, divisor_override", [
    (True, None), (False, None), (False, 5)])
def test_avg_pool_options_gradient(x_shape, kernel, stride, padding, ceil_mode,
                                   count_include_pad, divisor_override):
    layer = nn.AvgPool2d(kernel, stride, padding, ceil_mode, count_include_pad,
                         divisor_override)
    report = check_module(layer, distinct_values(x_shape), h=1.0)  # linear: any step
    assert report.ok(TOL), report


# -- min and median pooling ----------------------------------------------------------------
WINDOW_CASES = [  # x shape, kernel, stride, padding
    ((2, 2, 4, 6), 2, None, 0),
    ((1, 2, 7, 7), 3, 2, 1),
    ((2, 1, 6, 5), (3, 2), (1, 2), (1, 1)),
    ((1, 1, 5, 6), 4, 1, 2),                    # even windows: the lower median
]


@pytest.mark.parametrize("operation, choose", [("min_pool2d", first_min),
                                               ("median_pool2d", lower_median)])
@pytest.mark.parametrize("x_shape, kernel, stride, padding", WINDOW_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_min_and_median_match_the_definition(operation, choose, x_shape, kernel, stride,
                                             padding, dtype):
    x = distinct_values(x_shape).astype(dtype)
    out, cache = getattr(F, f"{operation}_forward")(x, kernel, stride, padding)
    shape, cells = _output_shape(x, kernel, stride, padding)
    dout = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    expected_out, expected_dx = pick_by_loops(x, dout, cells, choose)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, expected_out)
    np.testing.assert_allclose(getattr(F, f"{operation}_backward")(dout, cache), expected_dx,
                               **_tolerance(dtype))


@pytest.mark.parametrize("operation, choose", [("min_pool2d", first_min),
                                               ("median_pool2d", lower_median)])
@pytest.mark.parametrize("x_shape, kernel, stride, padding", WINDOW_CASES)
def test_min_and_median_ties_match_the_definition(operation, choose, x_shape, kernel, stride,
                                                  padding):
    x = np.random.default_rng(7).integers(0, 3, x_shape).astype(np.float64)  # many ties
    out, cache = getattr(F, f"{operation}_forward")(x, kernel, stride, padding)
    shape, cells = _output_shape(x, kernel, stride, padding)
    dout = np.random.default_rng(8).standard_normal(shape)
    expected_out, expected_dx = pick_by_loops(x, dout, cells, choose)
    np.testing.assert_array_equal(out, expected_out)
    np.testing.assert_allclose(getattr(F, f"{operation}_backward")(dout, cache), expected_dx,
                               rtol=1e-15, atol=1e-15)


def test_min_and_median_ties_on_a_hand_example():
    x = np.array([[4.0, 1.0, 2.0, 2.0],
                  [1.0, 3.0, 2.0, 2.0]]).reshape(1, 1, 2, 4)
    out, cache = F.min_pool2d_forward(x, 2)
    np.testing.assert_array_equal(out[0, 0], [[1, 2]])
    dx = F.min_pool2d_backward(np.array([[[[1.0, 2.0]]]]), cache)
    # the first 1 (top row) and the first 2 (top-left of the right window)
    np.testing.assert_array_equal(dx[0, 0], [[0, 1, 2, 0], [0, 0, 0, 0]])

    out, cache = F.median_pool2d_forward(x, 2)
    # left window sorted 1 (0, 1), 1 (1, 0), 3, 4: the lower median is the 2nd, the 1 at
    # (1, 0); right window all 2: the 2nd of them in row-major order, (0, 3)
    np.testing.assert_array_equal(out[0, 0], [[1, 2]])
    dx = F.median_pool2d_backward(np.array([[[[1.0, 2.0]]]]), cache)
    np.testing.assert_array_equal(dx[0, 0], [[0, 0, 0, 2], [1, 0, 0, 0]])


def test_median_leaves_the_padding_out():
    x = np.full((1, 1, 3, 3), 5.0)
    out, _ = F.median_pool2d_forward(x, 3, stride=1, padding=1)
    np.testing.assert_array_equal(out[0, 0], np.full((3, 3), 5.0))  # zeros would pull to 0
    out, _ = F.min_pool2d_forward(x, 3, stride=1, padding=1)
    np.testing.assert_array_equal(out[0, 0], np.full((3, 3), 5.0))  # padding never wins


@pytest.mark.parametrize("make", [nn.MinPool2d, nn.MedianPool2d])
@pytest.mark.parametrize("x_shape, kernel, stride, padding", WINDOW_CASES)
def test_min_and_median_gradient(make, x_shape, kernel, stride, padding):
    report = check_module(make(kernel, stride, padding), distinct_values(x_shape),
                          h=H_PIECEWISE)
    assert report.ok(TOL), report


# -- adaptive max pooling ------------------------------------------------------------------
def adaptive_cells(x_shape, out_h, out_w):
    height, width = x_shape[2:]
    for i in range(out_h):
        for j in range(out_w):
            rows = range(i * height // out_h, -(-(i + 1) * height // out_h))
            cols = range(j * width // out_w, -(-(j + 1) * width // out_w))
            yield i, j, [(y, z) for y in rows for z in cols]


@pytest.mark.parametrize("x_shape, output_size, out_hw", [
    ((2, 2, 8, 6), (4, 3), (4, 3)),     # divisible
    ((1, 2, 7, 9), (3, 4), (3, 4)),     # not divisible: windows of 3 or 4, overlapping
    ((1, 1, 5, 5), 7, (7, 7)),          # larger than the input
    ((2, 1, 6, 5), (None, 2), (6, 2)),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adaptive_max_pool_matches_the_definition(x_shape, output_size, out_hw, dtype):
    x = distinct_values(x_shape).astype(dtype)
    (out, indices), cache = F.adaptive_max_pool2d_forward(x, output_size, True)
    dout = np.random.default_rng(1).standard_normal((*x_shape[:2], *out_hw)).astype(dtype)
    expected_out, expected_dx = pick_by_loops(x, dout, list(adaptive_cells(x_shape, *out_hw)),
                                              first_max)
    np.testing.assert_array_equal(out, expected_out)
    np.testing.assert_allclose(F.adaptive_max_pool2d_backward(dout, cache), expected_dx,
                               **_tolerance(dtype))
    planes = x.reshape(*x_shape[:2], -1)
    np.testing.assert_array_equal(np.take_along_axis(
        planes, indices.reshape(*x_shape[:2], -1), axis=-1).reshape(out.shape), out)


def test_adaptive_max_pool_as_torch():
    x = np.random.default_rng(5).permutation(36).reshape(1, 1, 6, 6)[..., :5] / 1.0
    out, indices = nn.AdaptiveMaxPool2d((4, 3), return_indices=True)(x)
    # torch.nn.functional.adaptive_max_pool2d(x, (4, 3), return_indices=True), by hand
    np.testing.assert_array_equal(out[0, 0], [[26, 26, 34], [26, 35, 35], [25, 32, 29],
                                              [18, 32, 21]])
    np.testing.assert_array_equal(indices[0, 0], [[6, 6, 9], [6, 13, 13], [16, 22, 18],
                                                  [25, 22, 24]])


@pytest.mark.parametrize("output_size, x_shape", [((3, 4), (1, 2, 7, 9)), (2, (2, 1, 5, 4)),
                                                  (6, (1, 1, 4, 4))])
def test_adaptive_max_pool_gradient(output_size, x_shape):
    report = check_module(nn.AdaptiveMaxPool2d(output_size), distinct_values(x_shape),
                          h=H_PIECEWISE)
    assert report.ok(TOL), report


# -- max unpooling -------------------------------------------------------------------------
def unpool_by_loops(x, indices, out_hw, dout):
    out = np.zeros((*x.shape[:2], *out_hw))
    dx = np.zeros(x.shape)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(x.shape[2]):
                for j in range(x.shape[3]):
                    y, z = divmod(int(indices[n, c, i, j]), out_hw[1])
                    out[n, c, y, z] = x[n, c, i, j]
                    dx[n, c, i, j] = dout[n, c, y, z]
    return out, dx


@pytest.mark.parametrize("x_shape, kernel, stride, padding, output_size", [
    ((2, 2, 4, 6), 2, None, 0, None),
    ((1, 2, 5, 7), 2, 2, 0, (5, 7)),            # odd sizes: output_size brings them back
    ((1, 1, 7, 7), 3, 2, 1, (1, 1, 7, 7)),      # (N, C, H, W) form, padding
    ((1, 1, 6, 6), 3, 2, 1, None),              # default 5×5 < 6×6: indices past it refused
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_unpool_matches_the_definition(x_shape, kernel, stride, padding, output_size,
                                           dtype):
    x = distinct_values(x_shape).astype(dtype)
    (pooled, indices), _ = F.max_pool2d_forward(x, kernel, stride, padding,
                                                return_indices=True)
    out_hw = (x_shape[2:] if output_size is not None else
              tuple((s - 1) * _pair(stride or kernel)[a] - 2 * _pair(padding)[a]
                    + _pair(kernel)[a] for a, s in enumerate(pooled.shape[2:])))
    if output_size is None and indices.max() >= out_hw[0] * out_hw[1]:
        # PyTorch: "Found an invalid max index" when the default size is too small
        with pytest.raises(ValueError, match=r"^max_unpool2d_forward: expected indices in "):
            F.max_unpool2d_forward(pooled, indices, kernel, stride, padding)
        return
    out, cache = F.max_unpool2d_forward(pooled, indices, kernel, stride, padding, output_size)
    assert out.shape == (*x_shape[:2], *out_hw) and out.dtype == dtype
    dout = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    expected_out, expected_dx = unpool_by_loops(pooled, indices, out_hw, dout)
    np.testing.assert_array_equal(out, expected_out)
    np.testing.assert_array_equal(F.max_unpool2d_backward(dout, cache), expected_dx)
    if output_size is not None:  # each maximum back in its place, zeros elsewhere
        kept = out != 0
        np.testing.assert_array_equal(out[kept], x[kept])


def test_max_unpool_layer_round_trip_and_gradient():
    x = distinct_values((2, 3, 5, 7)) + 1  # no zero, so every kept value shows
    pooled, indices = nn.MaxPool2d(2, return_indices=True)(x)

    class Unpool(nn.MaxUnpool2d):  # a one-input module for check_module
        def forward(self, v):
            return super().forward(v, indices, output_size=x.shape)

    layer = Unpool(2)
    out = layer(pooled)
    assert out.shape == x.shape and np.count_nonzero(out) == pooled.size
    np.testing.assert_array_equal(nn.MaxPool2d(2)(out), pooled)
    report = check_module(layer, pooled, h=1.0)  # linear
    assert report.ok(TOL), report


@pytest.mark.parametrize("call, error, message", [
    (lambda x, i: nn.MaxUnpool2d(2)(x, i.astype(np.float64)), TypeError,
     r"^MaxUnpool2d\(.*\): expected indices as an integer array, got float64"),
    (lambda x, i: nn.MaxUnpool2d(2)(x, i[:, :, :1]), ValueError,
     r"^MaxUnpool2d\(.*\): expected indices of the input's shape \(1, 1, 2, 3\)"),
    (lambda x, i: nn.MaxUnpool2d(2)(x, i + 100), ValueError,
     r"^MaxUnpool2d\(.*\): expected indices in \[0, 24\) for an output plane of 4×6"),
    (lambda x, i: nn.MaxUnpool2d(2)(x, i, output_size=(6, 6)), ValueError,
     r"^MaxUnpool2d\(.*\): expected output_size between 3 and 5 on each axis \(default "
     r"\(4, 6\)\), got \(6, 6\)"),
    (lambda x, i: nn.MaxUnpool2d(2)(x, i, output_size=(4.0, 6)), TypeError,
     r"expected output_size as \(Ho, Wo\) or \(N, C, Ho, Wo\) ints"),
    (lambda x, i: nn.MaxUnpool2d(2)(x[0], i[0]), ValueError,
     r"^MaxUnpool2d\(.*\): expected input of rank 4"),
])
def test_max_unpool_errors(call, error, message):
    x = distinct_values((1, 1, 4, 6))
    pooled, indices = nn.MaxPool2d(2, return_indices=True)(x)
    with pytest.raises(error, match=message):
        call(pooled, indices)


# -- LP pooling ----------------------------------------------------------------------------
LP_CASES = [  # x shape, kernel, stride, ceil_mode
    ((2, 2, 4, 6), 2, None, False),
    ((1, 2, 5, 5), 2, None, True),              # ceil: clipped windows scaled by k·k/inside
    ((1, 1, 7, 6), (3, 2), (2, 3), True),
    ((2, 1, 5, 6), 3, 1, False),
]


@pytest.mark.parametrize("x_shape, kernel, stride, ceil_mode", LP_CASES)
@pytest.mark.parametrize("p", [1, 2, 3, 1.5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lp_pool_matches_the_definition(x_shape, kernel, stride, ceil_mode, p, dtype):
    x = (distinct_values(x_shape) + 0.05).astype(dtype)  # positive: no NaN from x^1.5
    out, cache = F.lp_pool2d_forward(x, p, kernel, stride, ceil_mode)
    shape, cells = _output_shape(x, kernel, stride, 0, 1, ceil_mode)
    dout = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    expected_out, expected_dx = lp_by_loops(x.astype(np.float64), dout, cells, p, kernel)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, expected_out, **_tolerance(dtype))
    dx = F.lp_pool2d_backward(dout, cache)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, expected_dx, **_tolerance(dtype))


def test_lp_pool_with_p_1_is_sum_pooling_and_p_2_the_euclidean_norm():
    x = np.random.default_rng(3).standard_normal((2, 3, 6, 4))
    out, _ = F.lp_pool2d_forward(x, 1, 2)
    np.testing.assert_allclose(out, 4 * F.avg_pool2d_forward(x, 2)[0], rtol=1e-13)
    out, _ = F.lp_pool2d_forward(x, 2, 2)
    np.testing.assert_allclose(out, np.sqrt(4 * F.avg_pool2d_forward(x * x, 2)[0]),
                               rtol=1e-13)


@pytest.mark.parametrize("p", [1, 2, 3, 0.5])
def test_lp_pool_gradient_is_zero_at_a_window_of_zero_sum(p):
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, :2, :2] = [[1.0, 0.25], [2.0, 0.0]]  # one nonzero window; the rest sum to 0
    out, cache = F.lp_pool2d_forward(x, p, 2)
    dx = F.lp_pool2d_backward(np.ones_like(out), cache)
    assert not np.isnan(dx).any()
    # PyTorch's documented rule: a zero sum gets a zero gradient (torch gives NaN for p < 1)
    np.testing.assert_array_equal(dx[0, 0, 2:], 0)
    np.testing.assert_array_equal(dx[0, 0, :, 2:], 0)
    expected = (x[0, 0, :2, :2] ** (p - 1) * out[0, 0, 0, 0] ** (1 - p) if p >= 1 else None)
    if expected is not None:
        np.testing.assert_allclose(dx[0, 0, :2, :2], expected, rtol=1e-13)
    else:  # p < 1: the zero pixel of a nonzero window has an infinite slope, as in torch
        assert dx[0, 0, 1, 1] == np.inf and np.isfinite(dx[0, 0, :2, :2].ravel()[:3]).all()


def test_lp_pool_zero_sum_of_signed_values_with_p_1_follows_pytorch():
    x = np.array([[1.0, -1.0], [0.5, -0.5]]).reshape(1, 1, 2, 2)
    out, cache = F.lp_pool2d_forward(x, 1, 2)
    assert out[0, 0, 0, 0] == 0
    # the sum's slope would be 1 everywhere; torch (and so minicnn) says 0 (checked by hand)
    np.testing.assert_array_equal(F.lp_pool2d_backward(np.ones_like(out), cache), 0)


@pytest.mark.parametrize("x_shape, kernel, stride, ceil_mode", LP_CASES)
@pytest.mark.parametrize("p", [1, 2, 3, 1.5])
def test_lp_pool_gradient(x_shape, kernel, stride, ceil_mode, p):
    x = distinct_values(x_shape) + 0.1
    report = check_module(nn.LPPool2d(p, kernel, stride, ceil_mode), x, h=1e-6)
    assert report.ok(1e-6), report


# -- the fast engine hands the new settings to the reference -------------------------------
@pytest.mark.parametrize("make", [
    lambda: nn.MaxPool2d(3, 2, 1, dilation=2),
    lambda: nn.MaxPool2d(3, 2, 1, ceil_mode=True),
    lambda: nn.MaxPool2d(2, return_indices=True),
    lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True),
    lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
    lambda: nn.AvgPool2d(2, divisor_override=3),
])
def test_both_engines_give_the_same_numbers(make):
    x = np.random.default_rng(4).standard_normal((2, 3, 9, 8)).astype(np.float32)
    results = []
    for engine in ("reference", "fast"):
        with minicnn.engine(engine):
            layer = make()
            out = layer(x)
            pooled = out[0] if isinstance(out, tuple) else out
            results.append((out, layer.backward(np.ones_like(pooled))))
    (out_ref, dx_ref), (out_fast, dx_fast) = results
    for a, b in zip(out_ref if isinstance(out_ref, tuple) else (out_ref,),
                    out_fast if isinstance(out_fast, tuple) else (out_fast,), strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    np.testing.assert_array_equal(dx_ref, dx_fast)


# -- the layers: reprs, dtypes, errors -----------------------------------------------------
def test_reprs():
    assert repr(nn.MaxPool2d(3, 2, 1, 2, ceil_mode=True)) == (
        "MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True)")
    assert repr(nn.AvgPool2d(2, ceil_mode=True, divisor_override=3)) == (
        "AvgPool2d(kernel_size=2, stride=2, padding=0, ceil_mode=True, divisor_override=3)")
    assert repr(nn.MaxUnpool2d(2)) == (
        "MaxUnpool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))")  # as PyTorch
    assert repr(nn.AdaptiveMaxPool2d((3, None))) == "AdaptiveMaxPool2d(output_size=(3, None))"
    assert repr(nn.LPPool2d(2, 3)) == (
        "LPPool2d(norm_type=2, kernel_size=3, stride=None, ceil_mode=False)")  # as PyTorch
    assert repr(nn.MinPool2d(2)) == "MinPool2d(kernel_size=2, stride=2, padding=0)"
    assert repr(nn.MedianPool2d(3, 1, 1)) == "MedianPool2d(kernel_size=3, stride=1, padding=1)"


@pytest.mark.parametrize("layer", [
    nn.MaxPool2d(3, 2, 1, 2, ceil_mode=True), nn.AvgPool2d(3, 2, 1, ceil_mode=True),
    nn.MinPool2d(2), nn.MedianPool2d(3, 1, 1), nn.LPPool2d(2, 2), nn.AdaptiveMaxPool2d(3)])
def test_float32_in_float32_out_and_no_parameters(layer):
    x = distinct_values((2, 3, 8, 8)).astype(np.float32) + 0.1
    out = layer(x)
    assert out.dtype == np.float32
    assert layer.backward(np.ones_like(out)).dtype == np.float32
    assert list(layer.parameters()) == [] and layer.state_dict() == {}


@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.MaxPool2d(2, dilation=0), ValueError, r"^MaxPool2d: expected dilation >= 1"),
    (lambda: nn.MaxPool2d(2, dilation=1.5), TypeError,
     r"^MaxPool2d: expected dilation as an int or a pair"),
    (lambda: nn.MaxPool2d(3, padding=2, dilation=2), ValueError,
     r"^MaxPool2d: expected padding at most half the kernel size \(3, 3\), got padding"),
    (lambda: nn.AvgPool2d(3, padding=2, ceil_mode=True), ValueError,
     r"^AvgPool2d: expected padding at most half the kernel size"),
    (lambda: nn.MinPool2d(2, padding=2), ValueError,
     r"^MinPool2d: expected padding at most half the kernel size \(2, 2\)"),
    (lambda: nn.MedianPool2d((3, 1), padding=(1, 1)), ValueError,
     r"^MedianPool2d: expected padding at most half the kernel size \(3, 1\), got padding "
     r"\(1, 1\)"),
    (lambda: nn.MinPool2d(0), ValueError, r"^MinPool2d: expected kernel_size >= 1, got 0"),
    (lambda: nn.MedianPool2d(2, stride=0), ValueError, r"^MedianPool2d: expected stride >= 1"),
    (lambda: nn.LPPool2d(2, 0), ValueError, r"^LPPool2d: expected kernel_size >= 1"),
    (lambda: nn.LPPool2d(2, 2, stride=(1, 0)), ValueError, r"^LPPool2d: expected stride >= 1"),
    (lambda: nn.LPPool2d(0, 2), ValueError,
     r"^LPPool2d: expected norm_type as a finite number above 0, got 0"),
    (lambda: nn.LPPool2d(float("inf"), 2), ValueError,
     r"^LPPool2d: expected norm_type as a finite number above 0, got inf"),
    (lambda: nn.LPPool2d("2", 2), ValueError, r"^LPPool2d: expected norm_type as a finite"),
    (lambda: nn.AvgPool2d(2, divisor_override=0), ValueError,
     r"^AvgPool2d: expected divisor_override to be nonzero, got 0"),
    (lambda: nn.AvgPool2d(2, divisor_override=1.5), TypeError,
     r"^AvgPool2d: expected divisor_override"),
    (lambda: nn.MaxUnpool2d(0), ValueError, r"^MaxUnpool2d: expected kernel_size >= 1"),
    (lambda: nn.AdaptiveMaxPool2d((2, 0)), ValueError,
     r"^AdaptiveMaxPool2d: expected output_size >= 1"),
    (lambda: nn.AdaptiveMaxPool2d(2.5), TypeError,
     r"^AdaptiveMaxPool2d: expected output_size as an int or a pair"),
])
def test_bad_constructor_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize("layer", [
    nn.MaxPool2d(2, dilation=2), nn.AvgPool2d(2, ceil_mode=True), nn.MinPool2d(2),
    nn.MedianPool2d(2), nn.LPPool2d(2, 2), nn.AdaptiveMaxPool2d(2)])
def test_bad_inputs_name_the_layer(layer):
    name = type(layer).__name__
    with pytest.raises(ValueError, match=rf"^{name}\(.*\): expected input of rank 4 "
                                         r"\(N, C, H, W\), got shape \(4, 4\)$"):
        layer(np.zeros((4, 4), np.float32))
    with pytest.raises(TypeError, match=rf"^{name}\(.*\): expected input of dtype float32 "
                                        r"or float64"):
        layer(np.zeros((1, 1, 4, 4), np.int64))


def test_a_window_larger_than_the_input_names_the_layer():
    with pytest.raises(ValueError, match=r"^MedianPool2d\(kernel_size=3, stride=3, padding=0\): "
                                         r"kernel \(3, 3\) is larger than the padded input"):
        nn.MedianPool2d(3)(np.zeros((1, 1, 2, 5), np.float32))
    with pytest.raises(ValueError, match=r"spanning \(5, 5\) with dilation \(2, 2\)"):
        nn.MaxPool2d(3, stride=1, dilation=2)(np.zeros((1, 1, 4, 5), np.float32))
