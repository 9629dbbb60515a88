"""Pooling: max, average, global average and adaptive average, functional pairs and layers.

What is checked:
- forward AND backward against the definitions written as plain loops over windows, on small
  shapes with overlapping windows, padding, rectangular kernels and strides;
- max pooling: the gradient goes to the *first* maximum of a window (a hand example with ties),
  padding never wins, overlapping windows add, NaN propagates;
- average pooling: ``count_include_pad`` both ways (divide by kh·kw, or by the real pixels);
- adaptive average pooling: PyTorch's window rule, divisible and not;
- every input gradient against float64 central differences. Pooling is piecewise linear, and
  for a linear map the central difference is exact for *any* step h; only rounding remains.
  So the checks use a large step (h = 1e-3 for max pooling, below half the gap between input
  values so no window changes its winner; h = 1 for the averages), and a correct backward
  agrees to about 1e-12 (1e-15 to 1e-11; the tests allow 1e-9). Inputs are a random
  permutation of distinct values, so no window has a tie;
- float32 in → float32 out; no parameters; reprs; a clear error for every bad input.
"""

import numpy as np
import pytest

from minicnn import nn
from minicnn.functional import pooling
from minicnn.gradcheck import check_module

from engine_under_test import F

pytestmark = pytest.mark.usefixtures("each_engine")

TOL = 1e-9  # typical errors are 1e-15 to 1e-11
H_MAX = 1e-3  # central-difference step for max pooling; input values are 1e-2 apart
H_LINEAR = 1.0  # step for the average poolings, which are linear: any step is exact


def distinct_values(shape, seed=0):
    """A random permutation of 0, 0.01, 0.02, ...: no ties, and a gap of 0.01 everywhere."""
    size = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(size).reshape(shape) / 100.0


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _windows(x_shape, kernel, stride, padding):
    """Yield (i, j, rows, cols) of each window, rows/cols as ranges of padded coordinates."""
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel), _pair(stride), _pair(padding)
    out_h = (x_shape[2] + 2 * ph - kh) // sh + 1
    out_w = (x_shape[3] + 2 * pw - kw) // sw + 1
    for i in range(out_h):
        for j in range(out_w):
            yield i, j, range(i * sh, i * sh + kh), range(j * sw, j * sw + kw)


def max_pool_by_loops(x, dout, kernel, stride, padding):
    """Forward and backward by the definition; padding is −inf, ties go to the first max, and
    a NaN beats any number (the first NaN wins), as in PyTorch."""
    ph, pw = _pair(padding)
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    out = np.zeros(dout.shape)
    dx_pad = np.zeros(x_pad.shape)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i, j, rows, cols in _windows(x.shape, kernel, stride, padding):
                best, at = -np.inf, None
                for y in rows:
                    for z in cols:
                        value = x_pad[n, c, y, z]
                        if at is None or value > best or (np.isnan(value) and not np.isnan(best)):
                            best, at = x_pad[n, c, y, z], (y, z)
                out[n, c, i, j] = best
                dx_pad[n, c, at[0], at[1]] += dout[n, c, i, j]
    return out, dx_pad[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]]


def avg_pool_by_loops(x, dout, kernel, stride, padding, count_include_pad):
    ph, pw = _pair(padding)
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    inside = np.pad(np.ones(x.shape[2:]), ((ph, ph), (pw, pw)))  # 1 on real pixels
    out = np.zeros(dout.shape)
    dx_pad = np.zeros(x_pad.shape)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i, j, rows, cols in _windows(x.shape, kernel, stride, padding):
                window = np.ix_(rows, cols)
                divisor = len(rows) * len(cols) if count_include_pad else inside[window].sum()
                out[n, c, i, j] = x_pad[n, c][window].sum() / divisor
                dx_pad[n, c][window] += dout[n, c, i, j] / divisor
    return out, dx_pad[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]]


WINDOW_CASES = [  # x shape, kernel, stride, padding
    ((2, 3, 4, 6), 2, None, 0),             # the classic 2×2 / 2
    ((1, 2, 7, 7), 3, 2, 1),                # overlapping windows with padding (ResNet's stem)
    ((2, 1, 6, 5), (3, 2), (1, 2), (1, 1)),  # rectangular kernel and stride
    ((1, 1, 5, 8), 3, 1, 0),                # stride 1: every pixel in up to 9 windows
    ((1, 2, 7, 5), (2, 3), 3, (1, 0)),      # stride larger than the kernel: pixels skipped
    ((1, 1, 1, 1), 1, 1, 0),
]


# -- max pooling ----------------------------------------------------------------------------
@pytest.mark.parametrize("x_shape, kernel, stride, padding", WINDOW_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_matches_the_definition(x_shape, kernel, stride, padding, dtype):
    x = distinct_values(x_shape).astype(dtype)
    out, cache = F.max_pool2d_forward(x, kernel, stride, padding)
    dout = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    dx = F.max_pool2d_backward(dout, cache)
    expected_out, expected_dx = max_pool_by_loops(x, dout, kernel,
                                                  kernel if stride is None else stride, padding)
    assert out.dtype == dtype and dx.dtype == dtype
    np.testing.assert_array_equal(out, expected_out)
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-6 if dtype == np.float32 else 1e-15)


def test_max_pool_sends_the_gradient_to_the_first_maximum_of_a_tie():
    x = np.array([[5.0, 5.0, 1.0, 2.0],
                  [5.0, 0.0, 2.0, 2.0],
                  [0.0, 3.0, 7.0, 6.0],
                  [3.0, 3.0, 7.0, 7.0]]).reshape(1, 1, 4, 4)
    out, cache = F.max_pool2d_forward(x, 2)
    np.testing.assert_array_equal(out[0, 0], [[5, 2], [3, 7]])
    dx = F.max_pool2d_backward(np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2), cache)
    # Row-major order within each window: the top-left 5, the first 2, the 3 below-left...
    np.testing.assert_array_equal(dx[0, 0], [[1, 0, 0, 2],
                                             [0, 0, 0, 0],
                                             [0, 3, 4, 0],
                                             [0, 0, 0, 0]])


def test_max_pool_overlapping_windows_add_and_padding_never_wins():
    x = -np.ones((1, 1, 3, 3))  # all negative: a zero padding would win, −inf padding cannot
    x[0, 0, 1, 1] = 0.5
    out, cache = F.max_pool2d_forward(x, 3, stride=1, padding=1)
    np.testing.assert_array_equal(out[0, 0], np.full((3, 3), 0.5))  # every window sees the centre
    dx = F.max_pool2d_backward(np.ones((1, 1, 3, 3)), cache)
    assert dx[0, 0, 1, 1] == 9 and dx.sum() == 9


def test_max_pool_propagates_nan():
    x = np.zeros((1, 1, 2, 4), np.float32)
    x[0, 0, 1, 0] = np.nan
    out, _ = F.max_pool2d_forward(x, 2)
    assert np.isnan(out[0, 0, 0, 0]) and out[0, 0, 0, 1] == 0



@pytest.mark.parametrize("x_shape, kernel, stride, padding", WINDOW_CASES)
def test_max_pool_ties_go_to_the_first_maximum_with_any_window(x_shape, kernel, stride, padding):
    # Few distinct values, so most windows hold a tie; larger planes than WINDOW_CASES's, so
    # the general kernel has windows inside the image as well as windows clipped by padding.
    shape = (*x_shape[:2], x_shape[2] + 6, x_shape[3] + 7)
    x = np.random.default_rng(2).integers(0, 3, shape).astype(np.float64)
    out, cache = F.max_pool2d_forward(x, kernel, stride, padding)
    dout = np.random.default_rng(3).standard_normal(out.shape)
    expected_out, expected_dx = max_pool_by_loops(x, dout, kernel,
                                                  kernel if stride is None else stride, padding)
    np.testing.assert_array_equal(out, expected_out)
    np.testing.assert_allclose(dx := F.max_pool2d_backward(dout, cache), expected_dx,
                               rtol=1e-15, atol=1e-15)
    assert dx.shape == x.shape


@pytest.mark.parametrize("x_shape, kernel, stride, padding", WINDOW_CASES)
def test_max_pool_with_scattered_nans_matches_the_definition(x_shape, kernel, stride, padding):
    shape = (*x_shape[:2], x_shape[2] + 6, x_shape[3] + 7)
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape).astype(np.float32)
    x[rng.random(shape) < 0.05] = np.nan  # some windows hold one, a few two
    out, cache = F.max_pool2d_forward(x, kernel, stride, padding)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    expected_out, expected_dx = max_pool_by_loops(x, dout, kernel,
                                                  kernel if stride is None else stride, padding)
    np.testing.assert_array_equal(out, expected_out)  # NaN where expected, and only there
    np.testing.assert_allclose(F.max_pool2d_backward(dout, cache), expected_dx, rtol=1e-5,
                               atol=1e-6)  # sums of float32 gradients against float64


def test_max_pool_propagates_nan_with_overlapping_windows():
    x = np.zeros((1, 1, 7, 7))
    x[0, 0, 3, 3] = x[0, 0, 3, 4] = np.nan  # inside: windows (1, 1), (1, 2), (2, 1), (2, 2)
    x[0, 0, 0, 6] = np.nan                  # a corner: window (0, 3), clipped by the padding
    out, cache = F.max_pool2d_forward(x, 3, stride=2, padding=1)
    expected = np.zeros((4, 4), bool)
    expected[1:3, 1:3] = expected[0, 3] = True
    np.testing.assert_array_equal(np.isnan(out[0, 0]), expected)
    dx = F.max_pool2d_backward(np.ones_like(out), cache)
    # Each NaN window sends its gradient to its first NaN: (3, 4) only shares windows with
    # (3, 3), which comes first in them.
    assert dx[0, 0, 3, 3] == 4 and dx[0, 0, 0, 6] == 1 and dx[0, 0, 3, 4] == 0

# -- average pooling ------------------------------------------------------------------------
@pytest.mark.parametrize("x_shape, kernel, stride, padding", WINDOW_CASES)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool_matches_the_definition(x_shape, kernel, stride, padding, count_include_pad):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(x_shape)
    out, cache = F.avg_pool2d_forward(x, kernel, stride, padding,
                                       count_include_pad=count_include_pad)
    dout = rng.standard_normal(out.shape)
    expected_out, expected_dx = avg_pool_by_loops(
        x, dout, kernel, kernel if stride is None else stride, padding, count_include_pad)
    np.testing.assert_allclose(out, expected_out, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(F.avg_pool2d_backward(dout, cache), expected_dx, rtol=1e-13,
                               atol=1e-15)


def test_count_include_pad_on_a_hand_example():
    x = np.ones((1, 1, 2, 2))
    # 3×3 windows with padding 1 on a 2×2 image: each window holds 4 real pixels of 9.
    with_pad, _ = F.avg_pool2d_forward(x, 3, stride=1, padding=1, count_include_pad=True)
    without, _ = F.avg_pool2d_forward(x, 3, stride=1, padding=1, count_include_pad=False)
    np.testing.assert_allclose(with_pad[0, 0], np.full((2, 2), 4 / 9))
    np.testing.assert_allclose(without[0, 0], np.ones((2, 2)))


# -- global and adaptive average pooling ----------------------------------------------------
def test_global_avg_pool_is_the_mean_of_each_plane():
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 5))
    out, cache = F.global_avg_pool2d_forward(x)
    assert out.shape == (2, 3, 1, 1)
    np.testing.assert_allclose(out[..., 0, 0], x.mean(axis=(2, 3)), rtol=1e-13)
    dx = F.global_avg_pool2d_backward(np.ones((2, 3, 1, 1)), cache)
    np.testing.assert_allclose(dx, np.full(x.shape, 1 / 20))


def adaptive_by_loops(x, out_h, out_w):
    """PyTorch's rule: window i spans floor(i·in/out) .. ceil((i+1)·in/out) − 1."""
    height, width = x.shape[2:]
    out = np.zeros((*x.shape[:2], out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            rows = slice(i * height // out_h, -(-(i + 1) * height // out_h))
            cols = slice(j * width // out_w, -(-(j + 1) * width // out_w))
            out[:, :, i, j] = x[:, :, rows, cols].mean(axis=(2, 3))
    return out


@pytest.mark.parametrize("x_shape, output_size, expected_hw", [
    ((2, 3, 8, 6), (4, 3), (4, 3)),      # divisible: plain 2×2 windows
    ((1, 2, 7, 9), (3, 4), (3, 4)),      # not divisible: windows of varying size, overlapping
    ((1, 2, 5, 5), 7, (7, 7)),           # larger than the input: windows repeat pixels
    ((2, 2, 6, 5), (None, 2), (6, 2)),   # None keeps the input size
    ((2, 2, 6, 5), 1, (1, 1)),           # = global average pooling
])
def test_adaptive_avg_pool_matches_pytorchs_rule(x_shape, output_size, expected_hw):
    x = np.random.default_rng(4).standard_normal(x_shape)
    out, _ = F.adaptive_avg_pool2d_forward(x, output_size)
    assert out.shape == (*x_shape[:2], *expected_hw)
    np.testing.assert_allclose(out, adaptive_by_loops(x, *expected_hw), rtol=1e-12)


def test_adaptive_pool_ranges():
    assert pooling.adaptive_pool_ranges(6, 3) == [(0, 2), (2, 4), (4, 6)]
    assert pooling.adaptive_pool_ranges(5, 3) == [(0, 2), (1, 4), (3, 5)]


# -- gradient checks on the layers ------------------------------------------------------------
@pytest.mark.parametrize("x_shape, kernel, stride, padding", WINDOW_CASES)
def test_max_pool_layer_gradient(x_shape, kernel, stride, padding):
    report = check_module(nn.MaxPool2d(kernel, stride, padding), distinct_values(x_shape),
                          h=H_MAX)
    assert report.ok(TOL), report


@pytest.mark.parametrize("x_shape, kernel, stride, padding", WINDOW_CASES)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool_layer_gradient(x_shape, kernel, stride, padding, count_include_pad):
    layer = nn.AvgPool2d(kernel, stride, padding, count_include_pad=count_include_pad)
    report = check_module(layer, distinct_values(x_shape), h=H_LINEAR)
    assert report.ok(TOL), report


@pytest.mark.parametrize("layer, x_shape", [
    (nn.GlobalAvgPool2d(), (2, 3, 4, 5)),
    (nn.GlobalAvgPool2d(), (1, 1, 1, 1)),
    (nn.AdaptiveAvgPool2d((2, 2)), (2, 2, 6, 4)),
    (nn.AdaptiveAvgPool2d((3, 4)), (1, 2, 7, 9)),
    (nn.AdaptiveAvgPool2d(1), (2, 2, 3, 5)),
])
def test_global_and_adaptive_layer_gradients(layer, x_shape):
    report = check_module(layer, distinct_values(x_shape), h=H_LINEAR)
    assert report.ok(TOL), report


# -- the layers -----------------------------------------------------------------------------
@pytest.mark.parametrize("layer", [nn.MaxPool2d(2), nn.AvgPool2d(3, 2, 1), nn.GlobalAvgPool2d(),
                                   nn.AdaptiveAvgPool2d((2, 3))])
def test_float32_in_float32_out_and_no_parameters(layer):
    x = distinct_values((2, 3, 8, 8)).astype(np.float32)
    out = layer(x)
    assert out.dtype == np.float32
    assert layer.backward(np.ones_like(out)).dtype == np.float32
    assert list(layer.parameters()) == [] and layer.state_dict() == {}


def test_output_shapes():
    x = np.zeros((2, 3, 32, 32), np.float32)
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 16, 16)
    assert nn.MaxPool2d(3, 2, 1)(x).shape == (2, 3, 16, 16)
    assert nn.AvgPool2d((2, 4))(x).shape == (2, 3, 16, 8)
    assert nn.GlobalAvgPool2d()(x).shape == (2, 3, 1, 1)
    assert nn.AdaptiveAvgPool2d((7, 7))(x).shape == (2, 3, 7, 7)


def test_reprs():
    # PyTorch's: MaxPool2d always shows dilation and ceil_mode.
    assert repr(nn.MaxPool2d(2)) == (
        "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)")
    assert repr(nn.MaxPool2d(3, 2, 1)) == (
        "MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)")
    assert repr(nn.AvgPool2d(2, count_include_pad=False)) == (
        "AvgPool2d(kernel_size=2, stride=2, padding=0, count_include_pad=False)")
    assert repr(nn.GlobalAvgPool2d()) == "GlobalAvgPool2d()"
    assert repr(nn.AdaptiveAvgPool2d((7, 7))) == "AdaptiveAvgPool2d(output_size=(7, 7))"


@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.MaxPool2d(0), ValueError, r"MaxPool2d: expected kernel_size >= 1, got 0"),
    (lambda: nn.MaxPool2d(2, stride=0), ValueError, r"MaxPool2d: expected stride >= 1"),
    (lambda: nn.MaxPool2d(2, stride=-1), ValueError, r"expected stride >= 1"),
    (lambda: nn.AvgPool2d(2, padding=-1), ValueError, r"AvgPool2d: expected padding >= 0"),
    (lambda: nn.MaxPool2d(3, padding=2), ValueError,
     r"MaxPool2d: expected padding at most half the kernel size \(3, 3\), got padding \(2, 2\)"),
    (lambda: nn.AvgPool2d((2, 4), padding=(1, 3)), ValueError, r"at most half the kernel"),
    (lambda: nn.MaxPool2d(2.0), TypeError, r"expected kernel_size as an int or a pair"),
    (lambda: nn.AdaptiveAvgPool2d(0), ValueError, r"expected output_size >= 1"),
    (lambda: nn.AdaptiveAvgPool2d("7"), TypeError, r"expected output_size as an int"),
])
def test_bad_constructor_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize("layer", [nn.MaxPool2d(2), nn.AvgPool2d(2), nn.GlobalAvgPool2d(),
                                   nn.AdaptiveAvgPool2d(2)])
def test_bad_inputs(layer):
    name = type(layer).__name__
    with pytest.raises(ValueError, match=rf"^{name}\(.*\): expected input of rank 4 "
                                         r"\(N, C, H, W\), got shape \(4, 4\)$"):
        layer(np.zeros((4, 4), np.float32))
    for bad in (np.zeros((1, 1, 4, 4), np.int32), np.zeros((1, 1, 4, 4), bool),
                np.zeros((1, 1, 4, 4), object)):
        with pytest.raises(TypeError, match=rf"^{name}\(.*\): expected input of dtype float32 "
                                            r"or float64"):
            layer(bad)


def test_window_larger_than_the_padded_input():
    with pytest.raises(ValueError, match=r"MaxPool2d\(kernel_size=3, stride=3, padding=0\): "
                                         r"kernel \(3, 3\) is larger than the padded input "
                                         r"\(1, 2\)"):
        nn.MaxPool2d(3)(np.zeros((1, 1, 1, 2), np.float32))
    with pytest.raises(ValueError, match=r"kernel \(5, 5\) is larger than the padded input "
                                         r"\(4, 4\)"):
        nn.AvgPool2d(5)(np.zeros((1, 1, 4, 4), np.float32))


def test_backward_checks_the_gradient_shape():
    layer = nn.MaxPool2d(2)
    layer(np.zeros((1, 1, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"MaxPool2d\(kernel_size=2, stride=2, padding=0\): "
                                         r"expected a gradient of shape \(1, 1, 2, 2\)"):
        layer.backward(np.zeros((1, 1, 4, 4), np.float32))
