"""2-D convolution: the functional pair ``conv2d_forward``/``conv2d_backward``, padding modes,
and the ``Conv2d`` layer.

What is checked:
- forward AND backward against the definitions written as plain nested loops, on small shapes:
  ``out[n, o, i, j] = b[o] + Σ_c Σ_u Σ_v w[o, c, u, v] · x_pad[n, c, i·sh + u, j·sw + v]``,
  and the backward formulas of the ``conv2d_backward`` docstring;
- the flip: cross-correlation with ``np.flip(w)`` is the textbook convolution (scipy's);
- every gradient (input, weight, bias) against float64 central differences over a grid of
  shapes: stride 1/2/3, padding 0/1/2/"same"/"valid", rectangular kernels and strides,
  non-square inputs, batch 1, one and several channels, every padding mode, no bias. With the
  usual step h = 1e-5 a correct backward agrees to a relative error of about 1e-8, but an
  entry that happens to be near zero can reach 1e-6 from rounding alone (the error of f,
  ~1e-16·|f|, divided by 2h). A convolution is linear in x and in w, so the central
  difference has no truncation error whatever h is: the tests take h = 1e-3, which divides
  the rounding error by 100, and a correct backward then agrees to 1e-12 to 1e-8 (the tests
  allow 1e-6). A wrong one is off by 1e-2 or more;
- the padding modes (zeros, reflect, replicate, circular) on a hand example, and their backward;
- ``need_dx``/``need_dw`` skip work; stacked layers do not disturb each other's caches;
- every test runs under both engines (``conftest.each_engine``); the fast engine's three
  methods are checked against the reference in ``fast_engine/test_fast_conv_methods.py``;
- float32 in → float32 out; PyTorch's default init bounds; state-dict keys and shapes; frozen
  weights; gradients accumulate with ``+=``; reprs; a clear error for every bad input.
"""

import math

import numpy as np
import pytest
from scipy.signal import convolve2d

import minicnn
from minicnn import nn
from minicnn.gradcheck import check_module, numerical_gradient_array, relative_error

from engine_under_test import F

pytestmark = pytest.mark.usefixtures("each_engine")

TOL = 1e-6  # typical errors are 1e-12 to 1e-8
H = 1e-3  # the central-difference step; exact for a linear map, so only rounding remains


def _rng(seed=0):
    return np.random.default_rng(seed)


def _pairs(padding):
    if isinstance(padding, int):
        return ((padding, padding), (padding, padding))
    return padding


# -- references by the definition ---------------------------------------------------------------
def conv_by_loops(x, w, b, stride, padding):
    """The definition, one multiply-add at a time."""
    (top, bottom), (left, right) = _pairs(padding)
    x_pad = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    n_samples, channels = x.shape[:2]
    out_channels, _, kh, kw = w.shape
    out_h = (x_pad.shape[2] - kh) // stride[0] + 1
    out_w = (x_pad.shape[3] - kw) // stride[1] + 1
    out = np.zeros((n_samples, out_channels, out_h, out_w))
    for n in range(n_samples):
        for o in range(out_channels):
            for i in range(out_h):
                for j in range(out_w):
                    total = 0.0 if b is None else b[o]
                    for c in range(channels):
                        for u in range(kh):
                            for v in range(kw):
                                total += w[o, c, u, v] * x_pad[n, c, i * stride[0] + u,
                                                                j * stride[1] + v]
                    out[n, o, i, j] = total
    return out


def conv_backward_by_loops(dout, x, w, stride, padding):
    """Each output entry sends dout·w to the pixel it read and dout·x to the weight it used."""
    (top, bottom), (left, right) = _pairs(padding)
    x_pad = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    n_samples, out_channels, out_h, out_w = dout.shape
    _, channels, kh, kw = w.shape
    for n in range(n_samples):
        for o in range(out_channels):
            for i in range(out_h):
                for j in range(out_w):
                    for c in range(channels):
                        for u in range(kh):
                            for v in range(kw):
                                y, z = i * stride[0] + u, j * stride[1] + v
                                dx_pad[n, c, y, z] += dout[n, o, i, j] * w[o, c, u, v]
                                dw[o, c, u, v] += dout[n, o, i, j] * x_pad[n, c, y, z]
    dx = dx_pad[:, :, top:top + x.shape[2], left:left + x.shape[3]]
    db = dout.sum(axis=(0, 2, 3))
    return dx, dw, db


LOOP_CASES = [  # x shape, w shape, stride, padding
    ((2, 3, 5, 5), (4, 3, 3, 3), (1, 1), 1),
    ((1, 2, 7, 6), (3, 2, 3, 2), (2, 3), 0),          # rectangular kernel and stride
    ((2, 1, 6, 5), (2, 1, 4, 3), (3, 2), 2),          # strides that do not tile the input
    ((1, 2, 5, 6), (2, 2, 2, 4), (1, 1), ((0, 1), (1, 2))),  # asymmetric padding
]


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", LOOP_CASES)
def test_conv2d_forward_matches_the_definition(x_shape, w_shape, stride, padding):
    rng = _rng()
    x, w, b = (rng.standard_normal(x_shape), rng.standard_normal(w_shape),
               rng.standard_normal(w_shape[0]))
    out, _ = F.conv2d_forward(x, w, b, stride, padding)
    np.testing.assert_allclose(out, conv_by_loops(x, w, b, stride, padding), rtol=1e-12,
                               atol=1e-12)
    out_no_bias, _ = F.conv2d_forward(x, w, None, stride, padding)
    np.testing.assert_allclose(out_no_bias, conv_by_loops(x, w, None, stride, padding),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", LOOP_CASES)
def test_conv2d_backward_matches_the_definition(x_shape, w_shape, stride, padding):
    rng = _rng(1)
    x, w, b = (rng.standard_normal(x_shape), rng.standard_normal(w_shape),
               rng.standard_normal(w_shape[0]))
    out, cache = F.conv2d_forward(x, w, b, stride, padding)
    dout = rng.standard_normal(out.shape)
    for got, expected in zip(F.conv2d_backward(dout, cache),
                             conv_backward_by_loops(dout, x, w, stride, padding), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_cross_correlation_with_a_flipped_kernel_is_the_textbook_convolution():
    rng = _rng(2)
    image, kernel = rng.standard_normal((6, 7)), rng.standard_normal((3, 2))
    out, _ = F.conv2d_forward(image[None, None], np.flip(kernel, (0, 1))[None, None])
    np.testing.assert_allclose(out[0, 0], convolve2d(image, kernel, mode="valid"), rtol=1e-12)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", [
    ((2, 3, 5, 5), (2, 3, 3, 3), 1, 0),
    ((1, 1, 6, 6), (2, 1, 3, 3), 2, 1),
    ((2, 2, 7, 5), (3, 2, 2, 3), (3, 1), (2, 1)),
    ((1, 2, 4, 6), (2, 2, 1, 1), 2, 0),  # 1×1 kernel with stride: pixels skipped entirely
])
def test_conv2d_gradients_match_central_differences(x_shape, w_shape, stride, padding):
    rng = _rng(3)
    x, w, b = (rng.standard_normal(x_shape), rng.standard_normal(w_shape),
               rng.standard_normal(w_shape[0]))
    out, cache = F.conv2d_forward(x, w, b, stride, padding)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = F.conv2d_backward(dout, cache)
    for analytic, (array, f) in zip((dx, dw, db), (
            (x, lambda z: F.conv2d_forward(z, w, b, stride, padding)[0]),
            (w, lambda z: F.conv2d_forward(x, z, b, stride, padding)[0]),
            (b, lambda z: F.conv2d_forward(x, w, z, stride, padding)[0])), strict=True):
        assert relative_error(analytic, numerical_gradient_array(f, array, dout, H)) < TOL


def test_conv2d_backward_skips_what_it_is_told_not_to_compute():
    rng = _rng()
    x, w = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))
    out, cache = F.conv2d_forward(x, w, None)
    dx, dw, db = F.conv2d_backward(np.ones_like(out), cache, need_dw=False)
    assert dw is None and db is None and dx.shape == x.shape
    dx, dw, db = F.conv2d_backward(np.ones_like(out), cache, need_dx=False)
    assert dx is None and dw.shape == w.shape


def test_an_empty_batch_gives_empty_outputs_and_zero_parameter_gradients():
    x, w, b = np.zeros((0, 2, 5, 5)), np.ones((3, 2, 3, 3)), np.ones(3)
    out, cache = F.conv2d_forward(x, w, b, 1, 1)
    dx, dw, db = F.conv2d_backward(out, cache)
    assert out.shape == (0, 3, 5, 5) and dx.shape == x.shape
    np.testing.assert_array_equal(dw, np.zeros_like(w))
    np.testing.assert_array_equal(db, np.zeros(3))


def test_output_size_formula_and_same_padding():
    assert F.conv_output_size(28, 5, 1, 2) == 28
    assert F.conv_output_size(32, 3, 2, 1) == 16
    assert F.conv_output_size(7, 3, 2, 0) == 3  # floor((7 − 3) / 2) + 1
    assert F.conv_output_size(6, 2, 1, (0, 1)) == 6
    assert F.same_padding(3) == (1, 1)
    assert F.same_padding(4) == (1, 2)  # the odd extra goes after, as in PyTorch


# -- padding modes --------------------------------------------------------------------------
@pytest.mark.parametrize("mode, expected", [
    ("zeros", [0, 0, 1, 2, 3, 4, 0, 0]),
    ("reflect", [3, 2, 1, 2, 3, 4, 3, 2]),
    ("replicate", [1, 1, 1, 2, 3, 4, 4, 4]),
    ("circular", [3, 4, 1, 2, 3, 4, 1, 2]),
])
def test_pad2d_on_a_hand_example(mode, expected):
    x = np.array([1.0, 2, 3, 4]).reshape(1, 1, 1, 4)
    padded, _ = F.pad2d(x, ((0, 0), (2, 2)), mode)
    np.testing.assert_array_equal(padded[0, 0, 0], expected)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [1, ((2, 0), (1, 3))])
def test_pad2d_backward_folds_the_border_back(mode, padding):
    rng = _rng(5)
    x = rng.standard_normal((2, 2, 4, 5))
    padded, cache = F.pad2d(x, padding, mode)
    dout = rng.standard_normal(padded.shape)
    numeric = numerical_gradient_array(lambda z: F.pad2d(z, padding, mode)[0], x, dout, H)
    assert relative_error(F.pad2d_backward(dout, cache), numeric) < TOL


def test_pad2d_refuses_what_pytorch_refuses():
    x = np.zeros((1, 1, 3, 3))
    with pytest.raises(ValueError, match="reflect padding 3 must be smaller than the input "
                                         "size 3"):
        F.pad2d(x, 3, "reflect")
    with pytest.raises(ValueError, match="circular padding 4 must not exceed"):
        F.pad2d(x, 4, "circular")
    with pytest.raises(ValueError, match="unknown padding mode 'mirror'"):
        F.pad2d(x, 1, "mirror")


# -- the layer -----------------------------------------------------------------------------
@pytest.mark.parametrize("args, kwargs, x_shape", [
    ((2, 3, 3), {}, (2, 2, 5, 5)),
    ((1, 2, 3), dict(stride=2, padding=1), (1, 1, 6, 7)),
    ((2, 2, (3, 2)), dict(stride=(3, 2), padding=(2, 1)), (2, 2, 7, 6)),
    ((3, 2, 3), dict(padding="same"), (1, 3, 4, 5)),
    ((2, 2, (2, 4)), dict(padding="same", bias=False), (2, 2, 5, 4)),  # asymmetric split
    ((2, 1, 2), dict(padding="valid"), (1, 2, 4, 3)),
    ((2, 2, 3), dict(padding=2, padding_mode="reflect"), (1, 2, 5, 4)),
    ((2, 2, 3), dict(padding=(1, 2), padding_mode="replicate"), (2, 2, 4, 4)),
    ((2, 3, (2, 3)), dict(padding="same", padding_mode="circular"), (1, 2, 4, 5)),
    ((2, 2, 3), dict(stride=2, padding=1, padding_mode="reflect"), (1, 2, 5, 5)),
])
def test_conv2d_layer_gradients_match_central_differences(args, kwargs, x_shape):
    minicnn.manual_seed(0)
    layer = nn.Conv2d(*args, **kwargs)
    x = _rng(7).standard_normal(x_shape)
    report = check_module(layer, x, h=H)
    assert report.ok(TOL), report
    expected = {"input", "weight"} | ({"bias"} if layer.bias is not None else set())
    assert set(report.errors) == expected


@pytest.mark.parametrize("kwargs", [
    dict(padding=1),
    dict(padding="same", bias=False),
    dict(padding=2, padding_mode="reflect"),  # padded first, then convolved without padding
])
@pytest.mark.parametrize("method", ["direct", "batch_last"])
def test_conv2d_layer_with_a_direct_method_checks_out(kwargs, method):
    minicnn.manual_seed(0)
    layer = nn.Conv2d(2, 3, 3, method=method, **kwargs).astype(np.float64)
    report = check_module(layer, _rng(9).standard_normal((2, 2, 5, 6)), h=H)
    assert report.ok(TOL), report
    layer.method = "im2col"  # the attribute can be switched; the result does not change
    x = _rng(10).standard_normal((2, 2, 5, 6))
    by_im2col = layer(x)
    layer.method = method
    np.testing.assert_allclose(layer(x), by_im2col, rtol=1e-12, atol=1e-12)
    assert f"method={method!r}" in repr(layer)


def test_conv2d_layer_refuses_a_method_it_cannot_use():
    with pytest.raises(ValueError, match=r"Conv2d\(2, 3\): method='direct' needs stride 1"):
        nn.Conv2d(2, 3, 3, stride=2, method="direct")
    with pytest.raises(ValueError, match=r"Conv2d\(2, 3\): unknown method 'fft'"):
        nn.Conv2d(2, 3, 3, method="fft")
    layer = nn.Conv2d(2, 3, 3, stride=2)
    layer.method = "direct"  # changed after construction: refused at the next forward
    with pytest.raises(ValueError, match="needs stride 1"):
        layer(np.zeros((1, 2, 5, 5), np.float32))


def test_stacked_layers_check_out():
    # A stack of two runs forward, forward, backward, backward: each layer keeps its own cache
    # (the fast engine's layers even share scratch buffers for their columns).
    minicnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Conv2d(3, 2, (2, 3), stride=2))
    report = check_module(model, _rng(8).standard_normal((2, 2, 6, 7)), h=H)
    assert report.ok(TOL), report
    assert set(report.errors) == {"input", "0.weight", "0.bias", "1.weight", "1.bias"}


@pytest.mark.parametrize("kernel", [1, 2, 3, 4, 5, (2, 5)])
def test_same_padding_keeps_the_size_and_matches_explicit_padding(kernel):
    layer = nn.Conv2d(2, 3, kernel, padding="same").astype(np.float64)
    x = _rng(7).standard_normal((1, 2, 6, 7))
    out = layer(x)
    assert out.shape == (1, 3, 6, 7)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    explicit = (F.same_padding(kh), F.same_padding(kw))
    expected, _ = F.conv2d_forward(x, layer.weight.data, layer.bias.data, 1, explicit)
    np.testing.assert_allclose(out, expected, rtol=1e-12)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_float32_in_float32_out(mode):
    layer = nn.Conv2d(2, 4, 3, padding=1, padding_mode=mode)
    x = _rng().standard_normal((2, 2, 5, 5)).astype(np.float32)
    out = layer(x)
    assert out.dtype == np.float32
    dx = layer.backward(np.ones_like(out))
    assert dx.dtype == np.float32
    assert layer.weight.grad.dtype == np.float32 and layer.bias.grad.dtype == np.float32


def test_float64_layer_stays_float64():
    layer = nn.Conv2d(1, 2, 3).astype(np.float64)
    out = layer(np.zeros((1, 1, 4, 4)))
    assert out.dtype == np.float64 and layer.backward(out).dtype == np.float64


def test_default_init_is_pytorchs_uniform_bound():
    minicnn.manual_seed(0)
    layer = nn.Conv2d(16, 32, 3)
    bound = 1 / math.sqrt(16 * 3 * 3)
    for p in (layer.weight.data, layer.bias.data):
        assert p.dtype == np.float32
        assert np.abs(p).max() <= bound
    assert np.abs(layer.weight.data).max() > 0.95 * bound  # spread over the whole interval
    assert abs(layer.weight.data.std() - bound / math.sqrt(3)) < 0.05 * bound
    minicnn.manual_seed(0)
    np.testing.assert_array_equal(nn.Conv2d(16, 32, 3).weight.data, layer.weight.data)


def test_state_dict_keys_and_shapes():
    state = nn.Conv2d(3, 8, (5, 3)).state_dict()
    assert list(state) == ["weight", "bias"]
    assert state["weight"].shape == (8, 3, 5, 3) and state["bias"].shape == (8,)
    assert list(nn.Conv2d(3, 8, 3, bias=False).state_dict()) == ["weight"]


def test_gradients_accumulate_and_frozen_weights_are_skipped():
    layer = nn.Conv2d(1, 2, 3)
    x = _rng().standard_normal((2, 1, 5, 5)).astype(np.float32)
    layer.backward(np.ones_like(layer(x)))
    first = layer.weight.grad.copy(), layer.bias.grad.copy()
    layer.backward(np.ones_like(layer(x)))
    np.testing.assert_allclose(layer.weight.grad, 2 * first[0], rtol=1e-6)
    np.testing.assert_allclose(layer.bias.grad, 2 * first[1], rtol=1e-6)

    layer.zero_grad()
    layer.weight.requires_grad = False
    dx = layer.backward(np.ones_like(layer(x)))
    assert not layer.weight.grad.any()
    np.testing.assert_allclose(layer.bias.grad, first[1], rtol=1e-6)
    assert dx.shape == x.shape


def test_repr_like_pytorch():
    assert repr(nn.Conv2d(1, 6, 5, padding=2)) == (
        "Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))")
    assert repr(nn.Conv2d(16, 32, (3, 1), stride=2, bias=False)) == (
        "Conv2d(16, 32, kernel_size=(3, 1), stride=(2, 2), bias=False)")
    assert repr(nn.Conv2d(3, 3, 3, padding="same", padding_mode="reflect")) == (
        "Conv2d(3, 3, kernel_size=(3, 3), stride=(1, 1), padding=same, padding_mode=reflect)")


# -- errors ---------------------------------------------------------------------------------
def test_wrong_channel_count_names_layer_expected_and_got():
    layer = nn.Conv2d(3, 16, 3)
    with pytest.raises(ValueError, match=r"^Conv2d\(3, 16\): expected input with 3 channels "
                                         r"\(N, 3, H, W\), got shape \(8, 1, 28, 28\)$"):
        layer(np.zeros((8, 1, 28, 28), np.float32))


def test_wrong_rank():
    with pytest.raises(ValueError, match=r"Conv2d\(1, 6\): expected input of rank 4 "
                                         r"\(N, 1, H, W\), got shape \(28, 28\)"):
        nn.Conv2d(1, 6, 5)(np.zeros((28, 28), np.float32))


@pytest.mark.parametrize("x", [np.zeros((1, 1, 5, 5), np.int64), np.zeros((1, 1, 5, 5), bool),
                               np.zeros((1, 1, 5, 5), object), [[[[0.0]]]]])
def test_non_float_input_is_a_type_error(x):
    with pytest.raises(TypeError, match=r"Conv2d\(1, 2\): expected input"):
        nn.Conv2d(1, 2, 1)(x)


def test_dtype_different_from_the_weights_is_a_type_error():
    with pytest.raises(TypeError, match=r"Conv2d\(1, 2\): expected input of dtype float32 .*"
                                        r"got float64"):
        nn.Conv2d(1, 2, 3)(np.zeros((1, 1, 5, 5)))


def test_kernel_larger_than_the_padded_input():
    with pytest.raises(ValueError, match=r"Conv2d\(1, 2\): kernel \(5, 5\) is larger than the "
                                         r"padded input \(5, 3\)"):
        nn.Conv2d(1, 2, 5, padding=1)(np.zeros((1, 1, 3, 1), np.float32))


def test_reflect_padding_larger_than_the_input():
    with pytest.raises(ValueError, match=r"Conv2d\(1, 2\): reflect padding 2 must be smaller"):
        nn.Conv2d(1, 2, 3, padding=2, padding_mode="reflect")(np.zeros((1, 1, 2, 5),
                                                                       np.float32))


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(stride=0), ValueError, r"Conv2d\(1, 2\): expected stride >= 1, got 0"),
    (dict(stride=(1, -1)), ValueError, r"expected stride >= 1"),
    (dict(padding=-1), ValueError, r"Conv2d\(1, 2\): expected padding >= 0, got -1"),
    (dict(padding="half"), ValueError, r"expected padding as an int, a pair, or one of "
                                       r"\('valid', 'same', 'full'\), got 'half'"),
    (dict(padding="same", stride=2), ValueError, r"padding='same' needs stride 1"),
    (dict(padding_mode="mirror"), ValueError, r"unknown padding_mode 'mirror'"),
    (dict(kernel_size=0), ValueError, r"expected kernel_size >= 1"),
    (dict(kernel_size=2.5), TypeError, r"expected kernel_size as an int or a pair of ints"),
])
def test_bad_constructor_arguments(kwargs, error, message):
    kwargs = {"kernel_size": 3, **kwargs}
    with pytest.raises(error, match=message):
        nn.Conv2d(1, 2, **kwargs)


@pytest.mark.parametrize("channels, error", [(0, ValueError), (2.0, TypeError),
                                             (True, TypeError)])
def test_bad_channel_counts(channels, error):
    with pytest.raises(error, match="Conv2d: expected in_channels"):
        nn.Conv2d(channels, 2, 3)


def test_backward_checks_the_gradient_shape():
    layer = nn.Conv2d(1, 2, 3)
    layer(np.zeros((1, 1, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"Conv2d\(1, 2\): expected a gradient of shape "
                                         r"\(1, 2, 3, 3\)"):
        layer.backward(np.zeros((1, 2, 5, 5), np.float32))
