"""Convolution options: dilation, groups, padding "same"/"valid"/"full", padding_mode
"symmetric", ``F.pad2d``'s constant mode, and the textbook ``F.convolve2d``.

What is checked (each test under both engines, ``conftest.each_engine``):
- a dilated, grouped, strided convolution against its definition written as plain loops,
  forward and backward (dx, dw, db):
  ``out[n, o, i, j] = b[o] + Σ_c<Cg Σ_u Σ_v w[o, c, u, v]
  · x_pad[n, g·Cg + c, i·sh + u·dh, j·sw + v·dw]`` with ``g = o // (O/G)``;
- every gradient against float64 central differences (step 1e-3: the map is linear, so only
  rounding remains) for dilation 2, groups 2, depthwise (groups = C), stride 2 with dilation,
  padding "same" and "full" with dilation, and padding_mode "symmetric";
- PyTorch's shape rules: ``Ho = floor((H + top + bottom − d·(k − 1) − 1)/s) + 1``; "same"
  keeps the size, an odd total ``d·(k − 1)`` putting the extra row at the bottom; "full" adds
  ``d·(k − 1)`` on each side; weight shape (O, C/groups, kh, kw) in the state dict and
  PyTorch's init bound 1/√(C/groups·kh·kw); float32 stays float32;
- symmetric padding on a hand example (2 1 | 1 2 3 4 | 4 3) and its folded-back gradient;
  pad2d "constant" with a value, refused with another mode;
- ``F.convolve2d`` equals ``scipy.signal.convolve2d`` per channel summed over channels for
  "valid", "full" and "same" (odd kernels), and its gradients pass central differences;
- errors (ValueError naming the layer): groups not dividing the channels, "same" with stride
  2, dilation 0, a dilated kernel larger than the padded input, direct methods with dilation.
"""

import math

import numpy as np
import pytest
from scipy.signal import convolve2d as scipy_convolve2d

import minicnn
from minicnn import nn
from minicnn.gradcheck import check_module, numerical_gradient_array, relative_error

from engine_under_test import F

pytestmark = pytest.mark.usefixtures("each_engine")

TOL = 1e-6
H = 1e-3  # exact for a linear map, so only rounding remains


def _rng(seed=0):
    return np.random.default_rng(seed)


def conv_by_loops(x, w, b, stride, pads, dilation, groups):
    """The definition, one multiply-add at a time; returns out and a function of dout giving
    (dx, dw, db) by sending dout·w to each pixel read and dout·x to each weight used."""
    (top, bottom), (left, right) = pads
    x_pad = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    n_samples = x.shape[0]
    out_channels, in_per_group, kh, kw = w.shape
    out_per_group = out_channels // groups
    (sh, sw), (dh, dw_) = stride, dilation
    out_h = (x_pad.shape[2] - dh * (kh - 1) - 1) // sh + 1
    out_w = (x_pad.shape[3] - dw_ * (kw - 1) - 1) // sw + 1
    taps = [(n, o, i, j, c, u, v) for n in range(n_samples) for o in range(out_channels)
            for i in range(out_h) for j in range(out_w) for c in range(in_per_group)
            for u in range(kh) for v in range(kw)]

    def pixel(o, i, j, c, u, v):
        return (o // out_per_group * in_per_group + c, i * sh + u * dh, j * sw + v * dw_)

    out = np.zeros((n_samples, out_channels, out_h, out_w)) + (0 if b is None else
                                                                b.reshape(1, -1, 1, 1))
    for n, o, i, j, c, u, v in taps:
        out[n, o, i, j] += w[o, c, u, v] * x_pad[(n, *pixel(o, i, j, c, u, v))]

    def backward(dout):
        dx_pad, dw = np.zeros_like(x_pad), np.zeros_like(w)
        for n, o, i, j, c, u, v in taps:
            where = (n, *pixel(o, i, j, c, u, v))
            dx_pad[where] += dout[n, o, i, j] * w[o, c, u, v]
            dw[o, c, u, v] += dout[n, o, i, j] * x_pad[where]
        dx = dx_pad[:, :, top:top + x.shape[2], left:left + x.shape[3]]
        return dx, dw, dout.sum(axis=(0, 2, 3))

    return out, backward


LOOP_CASES = [  # x shape, w shape, stride, pads, dilation, groups
    ((2, 4, 7, 6), (6, 2, 3, 2), (1, 1), ((1, 1), (0, 0)), (2, 1), 2),
    ((1, 3, 9, 8), (3, 1, 2, 3), (2, 1), ((0, 1), (2, 1)), (3, 2), 3),   # depthwise
    ((2, 2, 6, 7), (4, 1, 3, 3), (2, 2), ((2, 2), (1, 1)), (2, 2), 2),   # stride and dilation
    ((1, 2, 5, 5), (2, 2, 2, 2), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),   # neither
]


@pytest.mark.parametrize("x_shape, w_shape, stride, pads, dilation, groups", LOOP_CASES)
def test_dilated_grouped_convolution_matches_the_definition(x_shape, w_shape, stride, pads,
                                                            dilation, groups):
    rng = _rng(1)
    x, w, b = (rng.standard_normal(x_shape), rng.standard_normal(w_shape),
               rng.standard_normal(w_shape[0]))
    out, cache = F.conv2d_forward(x, w, b, stride, pads, dilation=dilation, groups=groups)
    expected, backward = conv_by_loops(x, w, b, stride, pads, dilation, groups)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    for got, want in zip(F.conv2d_backward(dout, cache), backward(dout), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs, x_shape", [
    (dict(in_channels=2, out_channels=2, kernel_size=3, dilation=2), (2, 2, 7, 8)),
    (dict(in_channels=4, out_channels=6, kernel_size=3, groups=2, padding=1), (2, 4, 5, 5)),
    (dict(in_channels=3, out_channels=3, kernel_size=3, groups=3), (2, 3, 5, 6)),  # depthwise
    (dict(in_channels=2, out_channels=4, kernel_size=(3, 2), groups=2, stride=2,
          dilation=(2, 3), padding=1), (1, 2, 9, 9)),
    (dict(in_channels=2, out_channels=3, kernel_size=(2, 3), padding="same", dilation=3),
     (1, 2, 6, 7)),
    (dict(in_channels=2, out_channels=2, kernel_size=3, padding="full", dilation=2,
          bias=False), (1, 2, 4, 5)),
    (dict(in_channels=2, out_channels=2, kernel_size=3, padding=2, padding_mode="symmetric"),
     (2, 2, 3, 4)),
    (dict(in_channels=4, out_channels=4, kernel_size=3, padding="same", groups=2,
          padding_mode="symmetric"), (1, 4, 4, 5)),
])
def test_layer_gradients_match_central_differences(kwargs, x_shape):
    minicnn.manual_seed(0)
    layer = nn.Conv2d(**kwargs)
    report = check_module(layer, _rng(2).standard_normal(x_shape), h=H)
    assert report.ok(TOL), report
    expected = {"input", "weight"} | ({"bias"} if layer.bias is not None else set())
    assert set(report.errors) == expected


@pytest.mark.parametrize("kernel, dilation, size, pads", [
    (3, 1, 7, (1, 1)), (3, 2, 7, (2, 2)), (4, 1, 7, (1, 2)), (2, 3, 7, (1, 2)),
    (2, 1, 6, (0, 1)), (5, 2, 9, (4, 4)),
])
def test_same_padding_keeps_the_size_with_pytorchs_split(kernel, dilation, size, pads):
    layer = nn.Conv2d(1, 1, kernel, padding="same", dilation=dilation, bias=False)
    layer = layer.astype(np.float64)
    x = _rng(3).standard_normal((1, 1, size, size))
    out = layer(x)
    assert out.shape == x.shape
    explicit, _ = F.conv2d_forward(x, layer.weight.data, None, 1, (pads, pads),
                                   dilation=dilation)
    np.testing.assert_allclose(out, explicit, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs, x_hw, out_hw", [
    (dict(kernel_size=3, dilation=2), (9, 8), (5, 4)),             # 9 − 2·2 = 5
    (dict(kernel_size=3, dilation=2, stride=2, padding=1), (9, 8), (4, 3)),  # 6 // 2 + 1
    (dict(kernel_size=(3, 2), padding="full"), (4, 5), (6, 6)),    # H + k − 1
    (dict(kernel_size=3, padding="full", dilation=2, stride=2), (5, 5), (5, 5)),
    (dict(kernel_size=3, padding="valid", dilation=(1, 2)), (5, 6), (3, 2)),
])
def test_output_size_is_pytorchs_formula(kwargs, x_hw, out_hw):
    layer = nn.Conv2d(2, 4, groups=2, **kwargs)
    assert layer(np.zeros((1, 2, *x_hw), np.float32)).shape == (1, 4, *out_hw)
    assert F.conv_output_size(9, 3, 2, 1, 2) == 4


def test_grouped_weight_shape_state_dict_and_init():
    minicnn.manual_seed(0)
    layer = nn.Conv2d(8, 12, (3, 2), groups=4)
    state = layer.state_dict()
    assert state["weight"].shape == (12, 2, 3, 2) and state["bias"].shape == (12,)
    bound = 1 / math.sqrt(2 * 3 * 2)  # fan_in = C/groups·kh·kw
    for p in (layer.weight.data, layer.bias.data):
        assert p.dtype == np.float32 and np.abs(p).max() <= bound
    assert np.abs(layer.weight.data).max() > 0.9 * bound
    assert nn.Conv2d(4, 4, 3, groups=4).weight.data.shape == (4, 1, 3, 3)


def test_float32_stays_float32_and_repr_names_the_options():
    layer = nn.Conv2d(4, 4, 3, padding="full", dilation=2, groups=2,
                      padding_mode="symmetric")
    out = layer(_rng().standard_normal((1, 4, 5, 5)).astype(np.float32))
    assert out.dtype == np.float32 and layer.backward(np.ones_like(out)).dtype == np.float32
    assert repr(layer) == ("Conv2d(4, 4, kernel_size=(3, 3), stride=(1, 1), padding=full, "
                           "dilation=(2, 2), groups=2, padding_mode=symmetric)")


def test_groups_are_independent():
    # The second group's filters see only the second half of the channels.
    layer = nn.Conv2d(4, 2, 1, groups=2, bias=False).astype(np.float64)
    x = _rng(4).standard_normal((1, 4, 3, 3))
    changed = x.copy()
    changed[:, 2:] += 1
    out, out_changed = layer(x), layer(changed)
    np.testing.assert_array_equal(out[:, 0], out_changed[:, 0])
    assert not np.allclose(out[:, 1], out_changed[:, 1])


# -- padding modes ---------------------------------------------------------------------------
def test_symmetric_padding_on_a_hand_example():
    x = np.array([1.0, 2, 3, 4]).reshape(1, 1, 1, 4)
    padded, _ = F.pad2d(x, ((1, 1), (2, 2)), "symmetric")
    np.testing.assert_array_equal(padded[0, 0, 0], [2, 1, 1, 2, 3, 4, 4, 3])
    assert padded.shape == (1, 1, 3, 8) and (padded[0, 0] == padded[0, 0, 0]).all()
    np.testing.assert_array_equal(padded, np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 2)),
                                                 mode="symmetric"))


@pytest.mark.parametrize("padding", [1, ((2, 0), (1, 3)), ((4, 4), (5, 5))])
def test_symmetric_padding_backward_folds_the_border_back(padding):
    rng = _rng(5)
    x = rng.standard_normal((2, 2, 4, 5))
    padded, cache = F.pad2d(x, padding, "symmetric")
    dout = rng.standard_normal(padded.shape)
    numeric = numerical_gradient_array(lambda z: F.pad2d(z, padding, "symmetric")[0], x, dout, H)
    assert relative_error(F.pad2d_backward(dout, cache), numeric) < TOL


def test_pad2d_constant_with_a_value():
    x = np.array([1.0, 2]).reshape(1, 1, 1, 2)
    padded, cache = F.pad2d(x, ((0, 0), (1, 2)), "constant", value=-3.0)
    np.testing.assert_array_equal(padded[0, 0, 0], [-3, 1, 2, -3, -3])
    np.testing.assert_array_equal(F.pad2d(x, 1)[0], F.pad2d(x, 1, "zeros")[0])  # default 0
    np.testing.assert_array_equal(F.pad2d_backward(np.ones_like(padded), cache), np.ones_like(x))
    with pytest.raises(ValueError, match=r"pad2d: padding mode 'reflect' takes no value"):
        F.pad2d(np.zeros((1, 1, 3, 3)), 1, "reflect", value=1.0)
    with pytest.raises(ValueError, match=r"symmetric padding 4 must not exceed the input size 3"):
        F.pad2d(np.zeros((1, 1, 3, 3)), 4, "symmetric")


# -- the textbook convolution ------------------------------------------------------------------
@pytest.mark.parametrize("mode, kernel", [("valid", (3, 2)), ("full", (3, 2)), ("same", (3, 3)),
                                          ("same", (1, 5))])
def test_convolve2d_is_scipys_per_channel_summed(mode, kernel):
    rng = _rng(6)
    x, w, b = (rng.standard_normal((2, 3, 6, 7)), rng.standard_normal((2, 3, *kernel)),
               rng.standard_normal(2))
    out, _ = F.convolve2d(x, w, b, padding=mode)
    expected = np.array([[b[o] + sum(scipy_convolve2d(x[n, c], w[o, c], mode=mode)
                                     for c in range(3)) for o in range(2)] for n in range(2)])
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (1, "full")])
def test_convolve2d_gradients_match_central_differences(stride, padding):
    rng = _rng(7)
    x, w, b = (rng.standard_normal((2, 2, 5, 6)), rng.standard_normal((3, 2, 3, 2)),
               rng.standard_normal(3))
    out, cache = F.convolve2d(x, w, b, stride, padding)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = F.convolve2d_backward(dout, cache)
    for analytic, (array, f) in zip((dx, dw, db), (
            (x, lambda z: F.convolve2d(z, w, b, stride, padding)[0]),
            (w, lambda z: F.convolve2d(x, z, b, stride, padding)[0]),
            (b, lambda z: F.convolve2d(x, w, z, stride, padding)[0])), strict=True):
        assert relative_error(analytic, numerical_gradient_array(f, array, dout, H)) < TOL


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    (dict(in_channels=3, out_channels=4, groups=2),
     r"Conv2d\(3, 4\): expected in_channels divisible by groups, got in_channels=3 and groups=2"),
    (dict(in_channels=4, out_channels=6, groups=4),
     r"expected out_channels divisible by groups, got out_channels=6 and groups=4"),
    (dict(groups=0), r"Conv2d\(2, 2\): expected groups >= 1, got 0"),
    (dict(dilation=0), r"Conv2d\(2, 2\): expected dilation >= 1, got 0"),
    (dict(dilation=(1, -1)), r"expected dilation >= 1"),
    (dict(padding="same", stride=2), r"Conv2d\(2, 2\): padding='same' needs stride 1"),
    (dict(dilation=2, method="direct"), r"method='direct' does not do dilation"),
    (dict(dilation=2, method="batch_last"), r"method='batch_last' does not do dilation"),
])
def test_bad_constructor_arguments(kwargs, message):
    kwargs = {"in_channels": 2, "out_channels": 2, "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        nn.Conv2d(**kwargs)


def test_bad_input_and_functional_arguments():
    with pytest.raises(ValueError, match=r"Conv2d\(4, 2\): expected input with 4 channels "
                                         r"\(N, 4, H, W\), got shape \(1, 2, 5, 5\)"):
        nn.Conv2d(4, 2, 3, groups=2)(np.zeros((1, 2, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"Conv2d\(1, 1\): kernel \(3, 3\) \(dilated by \(3, 3\):"
                                         r" \(7, 7\)\) is larger than the padded input \(6, 6\)"):
        nn.Conv2d(1, 1, 3, dilation=3, padding=1)(np.zeros((1, 1, 4, 4), np.float32))
    x, w = np.zeros((1, 4, 5, 5)), np.zeros((3, 2, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d_forward: expected a number of filters "
                                         r"divisible by groups=2"):
        F.conv2d_forward(x, w, groups=2)
    with pytest.raises(ValueError, match=r"conv2d_forward: padding='same' needs stride 1"):
        F.conv2d_forward(x, np.zeros((2, 4, 3, 3)), stride=2, padding="same")
    with pytest.raises(ValueError, match=r"conv2d_forward: expected dilation >= 1"):
        F.conv2d_forward(x, np.zeros((2, 4, 3, 3)), dilation=0)
    with pytest.raises(ValueError, match=r"conv2d_forward: expected groups as an int >= 1"):
        F.conv2d_forward(x, np.zeros((2, 4, 3, 3)), groups=0)
