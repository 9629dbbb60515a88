"""The fast engine's method "winograd" (``minicnn/fast/winograd.py``, F(2×2, 3×3)).

What is checked:
- forward, input gradient and weight gradient against the reference engine's
  ``conv2d_forward/backward`` in float64 to 1e-10, on odd and even sizes, batch 1, padding 0,
  1, asymmetric and wider than the kernel, outputs of one pixel;
- float32 against the float64 reference: the error relative to the largest value
  (``max|got − ref| / max|ref|``) below 2e-6. Measured at C = O = 64, 128, 256 (16, 8, 4
  pixels): at most 5.4e-7 forward, 6.1e-7 dx, 8.6e-7 dw; im2col on the same inputs 6.2e-7,
  3.3e-7, 5.3e-7;
- the gradients against central differences (float64); ``need_dx``/``need_dw``; an empty batch;
- the chooser: "auto" never takes winograd where it does not apply (kernel not 3×3, stride,
  dilation), whatever the tuning constants say, and asking for it there is a ValueError naming
  the layer; nn.Conv2d(method="winograd") under both engines gives the reference's numbers;
- inference: under ``no_grad`` "auto" takes winograd from ``WINOGRAD_INFERENCE_MIN_CHANNELS``
  (a spy on the winograd forward), a training forward of the same layer does not, and both
  give the reference's numbers.
"""

import numpy as np
import pytest

import minicnn
from minicnn import functional as R
from minicnn import nn
from minicnn.fast import ops as F
from minicnn.fast import tuning
from minicnn.fast.methods import choose_method
from minicnn.gradcheck import numerical_gradient_array, relative_error

CASES = [  # x shape, out channels, padding; kernel 3×3, stride 1
    ((2, 3, 5, 5), 4, 1),                    # odd output: a cropped last tile
    ((1, 2, 7, 6), 3, 0),                    # batch 1, odd height, even width
    ((2, 3, 4, 9), 2, ((2, 0), (3, 1))),     # asymmetric padding, some wider than 2
    ((1, 1, 3, 3), 1, 0),                    # a single output pixel
    ((1, 2, 1, 1), 2, 1),                    # 1×1 input, padded to a 1×1 output
    ((1, 4, 8, 8), 5, 1),                    # even output: whole tiles
    ((2, 2, 6, 5), 3, 4),                    # padding wider than the kernel
]


def _inputs(x_shape, out_channels, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((out_channels, x_shape[1], 3, 3)).astype(dtype)
    b = rng.standard_normal(out_channels).astype(dtype)
    return x, w, b


def _normwise(got, expected) -> float:
    return float(np.abs(got - expected).max() / np.abs(expected).max())


@pytest.mark.parametrize("x_shape, out_channels, padding", CASES)
def test_winograd_matches_the_reference_in_float64(x_shape, out_channels, padding):
    x, w, b = _inputs(x_shape, out_channels)
    out, cache = F.conv2d_forward(x, w, b, 1, padding, method="winograd")
    assert cache.method == "winograd"
    expected, reference_cache = R.conv2d_forward(x, w, b, 1, padding)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    for got, wanted in zip(F.conv2d_backward(dout, cache),
                           R.conv2d_backward(dout, reference_cache), strict=True):
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, wanted, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("channels, pixels", [(64, 16), (128, 8), (256, 4), (3, 7)])
def test_winograd_in_float32_is_within_2e_6_of_the_float64_reference(channels, pixels):
    x, w, b = _inputs((2, channels, pixels, pixels), channels)
    w /= np.sqrt(9 * channels)  # the default init's scale
    expected, reference_cache = R.conv2d_forward(x, w, b, 1, 1)
    dout = np.random.default_rng(1).standard_normal(expected.shape)
    expected_grads = R.conv2d_backward(dout, reference_cache)
    out, cache = F.conv2d_forward(*(a.astype(np.float32) for a in (x, w, b)), 1, 1,
                                  method="winograd")
    assert out.dtype == np.float32
    assert _normwise(out, expected) < 2e-6
    grads = F.conv2d_backward(dout.astype(np.float32), cache)
    for got, wanted in zip(grads, expected_grads, strict=True):
        assert got.dtype == np.float32
        assert _normwise(got, wanted) < 2e-6


@pytest.mark.parametrize("x_shape, out_channels, padding", [CASES[0], CASES[2]])
def test_winograd_gradients_pass_central_differences(x_shape, out_channels, padding):
    x, w, b = _inputs(x_shape, out_channels, seed=3)
    out, cache = F.conv2d_forward(x, w, b, 1, padding, method="winograd")
    dout = np.random.default_rng(4).standard_normal(out.shape)
    dx, dw, db = F.conv2d_backward(dout, cache)

    def forward(x=x, w=w, b=b):
        return F.conv2d_forward(x, w, b, 1, padding, method="winograd")[0]

    h = 1e-3  # the map is linear in each argument: only rounding remains
    assert relative_error(dx, numerical_gradient_array(lambda z: forward(x=z), x, dout, h)) < 1e-8
    assert relative_error(dw, numerical_gradient_array(lambda z: forward(w=z), w, dout, h)) < 1e-8
    assert relative_error(db, numerical_gradient_array(lambda z: forward(b=z), b, dout, h)) < 1e-8


def test_winograd_skips_the_gradients_not_asked_for_and_runs_an_empty_batch():
    x, w, b = _inputs((2, 3, 5, 5), 4)
    out, cache = F.conv2d_forward(x, w, b, 1, 1, method="winograd")
    dx, dw, db = F.conv2d_backward(out, cache, need_dx=False)
    assert dx is None and dw.shape == w.shape and db.shape == b.shape
    dx, dw, _ = F.conv2d_backward(out, cache, need_dw=False)
    assert dx.shape == x.shape and dw is None
    out, cache = F.conv2d_forward(np.zeros((0, 3, 5, 5)), w, b, 1, 1, method="winograd")
    dx, dw, db = F.conv2d_backward(out, cache)
    assert out.shape == (0, 4, 5, 5) and dx.shape == (0, 3, 5, 5)
    np.testing.assert_array_equal(dw, np.zeros_like(w))
    np.testing.assert_array_equal(db, np.zeros(4))


NOT_WINOGRAD = [  # w shape, stride, dilation: "auto" must not take winograd
    ((64, 64, 5, 5), (1, 1), (1, 1)),
    ((64, 64, 3, 3), (2, 2), (1, 1)),
    ((64, 64, 3, 3), (1, 1), (2, 2)),
    ((64, 64, 1, 1), (1, 1), (1, 1)),
    ((64, 64, 3, 1), (1, 1), (1, 1)),
]


@pytest.mark.parametrize("least", [None, 1, 64])
@pytest.mark.parametrize("w_shape, stride, dilation", NOT_WINOGRAD)
def test_auto_never_takes_winograd_where_it_does_not_apply(monkeypatch, least, w_shape, stride,
                                                           dilation):
    monkeypatch.setattr(tuning, "WINOGRAD_MIN_CHANNELS", least)
    monkeypatch.setattr(tuning, "WINOGRAD_INFERENCE_MIN_CHANNELS", least)
    pads = ((1, 1), (1, 1))
    for inference in (False, True):
        chosen = choose_method("conv", "auto", (8, 64, 16, 16), w_shape, stride, pads, dilation,
                               inference=inference)
        assert chosen != "winograd"


def test_auto_takes_winograd_only_from_the_tuned_number_of_channels(monkeypatch):
    pads = ((1, 1), (1, 1))
    monkeypatch.setattr(tuning, "WINOGRAD_MIN_CHANNELS", None)  # never
    assert choose_method("conv", "auto", (8, 256, 8, 8), (256, 256, 3, 3), (1, 1),
                         pads) != "winograd"
    monkeypatch.setattr(tuning, "WINOGRAD_MIN_CHANNELS", 64)
    assert choose_method("conv", "auto", (8, 64, 8, 8), (64, 64, 3, 3), (1, 1),
                         pads) == "winograd"
    assert choose_method("conv", "auto", (8, 63, 8, 8), (64, 63, 3, 3), (1, 1),
                         pads) != "winograd"
    assert choose_method("conv", "auto", (8, 64, 8, 8), (32, 64, 3, 3), (1, 1),
                         pads) != "winograd"


def test_inference_has_its_own_threshold(monkeypatch):
    pads = ((1, 1), (1, 1))
    monkeypatch.setattr(tuning, "WINOGRAD_MIN_CHANNELS", None)
    monkeypatch.setattr(tuning, "WINOGRAD_INFERENCE_MIN_CHANNELS", 64)
    shapes = ((8, 64, 8, 8), (64, 64, 3, 3), (1, 1), pads)
    assert choose_method("conv", "auto", *shapes, inference=True) == "winograd"
    assert choose_method("conv", "auto", *shapes, inference=False) != "winograd"
    assert choose_method("conv", "auto", (8, 32, 8, 8), (64, 32, 3, 3), (1, 1), pads,
                         inference=True) != "winograd"
    monkeypatch.setattr(tuning, "WINOGRAD_INFERENCE_MIN_CHANNELS", None)  # never
    assert choose_method("conv", "auto", *shapes, inference=True) != "winograd"


def test_a_conv2d_under_no_grad_runs_winograd_and_trains_without_it(monkeypatch):
    from minicnn.fast import conv as fast_conv

    monkeypatch.setattr(tuning, "WINOGRAD_MIN_CHANNELS", None)
    monkeypatch.setattr(tuning, "WINOGRAD_INFERENCE_MIN_CHANNELS", 8)
    calls = []

    def spy(*args, **kwargs):
        calls.append(args[0].shape)
        return winograd_forward(*args, **kwargs)

    winograd_forward = fast_conv.winograd_forward
    monkeypatch.setattr(fast_conv, "winograd_forward", spy)
    minicnn.manual_seed(0)
    layer = nn.Conv2d(8, 8, 3, padding=1).astype(np.float64)
    x = np.random.default_rng(0).standard_normal((2, 8, 7, 7))
    with minicnn.engine("reference"):
        expected = layer(x)
    with minicnn.engine("fast"):
        with minicnn.no_grad():
            inferred = layer(x)
        assert calls == [x.shape]
        trained = layer(x)
        assert calls == [x.shape]  # the training forward chose another method
        layer.backward(np.ones_like(trained))
    np.testing.assert_allclose(inferred, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(trained, expected, rtol=1e-10, atol=1e-10)


def test_winograd_is_refused_where_it_does_not_apply():
    x = np.zeros((1, 2, 9, 9))
    with pytest.raises(ValueError, match=r"conv2d_forward: method='winograd' needs a 3x3 "
                                         r"kernel.*got kernel \(5, 5\)"):
        F.conv2d_forward(x, np.zeros((2, 2, 5, 5)), method="winograd")
    with pytest.raises(ValueError, match=r"method='winograd' needs .*stride \(2, 2\)"):
        F.conv2d_forward(x, np.zeros((2, 2, 3, 3)), stride=2, method="winograd")
    with pytest.raises(ValueError, match=r"method='winograd' needs .*dilation \(2, 2\)"):
        F.conv2d_forward(x, np.zeros((2, 2, 3, 3)), dilation=2, method="winograd")
    with pytest.raises(ValueError, match=r"Conv2d.*method='winograd' needs a 3x3 kernel"):
        nn.Conv2d(2, 2, 5, method="winograd")


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_conv2d_layer_with_method_winograd_gives_the_reference_numbers(engine):
    x, w, b = _inputs((2, 4, 7, 7), 6, seed=5)
    dout = np.random.default_rng(6).standard_normal((2, 6, 7, 7))
    layer = nn.Conv2d(4, 6, 3, padding=1, groups=2, method="winograd").astype(np.float64)
    layer.weight.data[...] = w[:, :2]
    layer.bias.data[...] = b
    expected, reference_cache = R.conv2d_forward(x, w[:, :2], b, 1, 1, groups=2)
    expected_dx, expected_dw, expected_db = R.conv2d_backward(dout, reference_cache)
    with minicnn.engine(engine):
        out = layer(x)
        dx = layer.backward(dout)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(layer.weight.grad, expected_dw, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(layer.bias.grad, expected_db, rtol=1e-10, atol=1e-10)
