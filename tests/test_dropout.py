"""Inverted dropout: ``dropout_forward/backward`` and the ``Dropout`` layer; channel dropout:
``dropout2d_forward/backward`` and the ``Dropout2d`` layer (the last section).

What is checked:
- statistics over a million entries: the fraction kept is 1 − p to within 0.005 (the binomial
  standard deviation is about 0.0005), the mean of the output equals the mean of the input to
  within 1%, and survivors are exactly x/(1 − p);
- evaluation mode and p = 0 are the identity; p = 1 gives zeros;
- the same seed (``minicnn.manual_seed``, read at call time, or the layer's own ``generator``)
  gives the same mask; the backward pass applies the forward pass's mask, so the float64
  central-difference check agrees to a relative error of about 1e-9 (the tests allow 1e-6);
- float32 in → float32 out and a float32 mask; clear errors; the repr;
- Dropout2d: each (sample, channel) plane is either all zero or all x/(1 − p), planes are kept
  with probability 1 − p (over 100,000 planes, to within 0.01), eval and p = 0 are the
  identity, p = 1 is x·0 (NaN stays NaN, as PyTorch), manual_seed repeats the mask, backward
  applies it (central differences), ``inplace`` is accepted and ignored; a ValueError naming
  the layer for p outside [0, 1] and for any input rank but 4 (PyTorch warns for rank 3 and
  reads it as (N, C, L), where an unbatched (C, H, W) image was likely meant; minicnn refuses).
"""

import re

import numpy as np
import pytest

import minicnn
from minicnn import nn
from minicnn.gradcheck import check_module

from engine_under_test import F

pytestmark = pytest.mark.usefixtures("each_engine")

TOL = 1e-6  # typical errors are 1e-11 to 1e-8: dropout is linear in x for a fixed mask


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_fraction_kept_and_expected_value(p):
    x = np.random.default_rng(0).uniform(0.5, 1.5, size=(1000, 1000))
    y, (mask,) = F.dropout_forward(x, p, training=True, rng=np.random.default_rng(1))
    kept = y != 0
    assert kept.mean() == pytest.approx(1 - p, abs=5e-3)
    assert y.mean() == pytest.approx(x.mean(), rel=1e-2)
    np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=1e-15)
    assert set(np.unique(mask)) == {0, 1 / (1 - p)}


def test_evaluation_and_p_zero_are_the_identity_and_p_one_gives_zeros():
    x = np.random.default_rng(0).standard_normal((4, 5))
    rng = np.random.default_rng(1)
    for p, training in ((0.5, False), (0.0, True)):
        y, cache = F.dropout_forward(x, p, training, rng)
        assert y is x
        dout = np.ones_like(x)
        assert F.dropout_backward(dout, cache) is dout
    y, cache = F.dropout_forward(x, 1.0, True, rng)
    assert not y.any() and not F.dropout_backward(np.ones_like(x), cache).any()


def test_backward_uses_the_forward_mask():
    x = np.random.default_rng(0).standard_normal((50, 40))
    y, cache = F.dropout_forward(x, 0.3, True, np.random.default_rng(1))
    dx = F.dropout_backward(np.ones_like(x), cache)
    np.testing.assert_array_equal(dx == 0, y == 0)
    np.testing.assert_allclose(dx[dx != 0], 1 / 0.7, rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_for_output_mask_and_gradient(dtype):
    x = np.ones((3, 4), dtype=dtype)
    y, (mask,) = F.dropout_forward(x, 0.5, True, np.random.default_rng(0))
    assert y.dtype == mask.dtype == dtype
    assert F.dropout_backward(np.ones_like(y), (mask,)).dtype == dtype
    layer = nn.Dropout(0.5)
    assert layer(x).dtype == dtype and layer.backward(np.ones_like(x)).dtype == dtype


# -- the layer ----------------------------------------------------------------------------------
def test_layer_masks_repeat_under_manual_seed_even_if_set_after_construction():
    layer = nn.Dropout(0.5)
    x = np.ones((20, 30), dtype=np.float32)
    minicnn.manual_seed(3)
    first = layer(x)
    minicnn.manual_seed(3)
    second = layer(x)
    third = layer(x)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(second, third)  # a fresh mask at every forward pass


def test_layer_with_its_own_generator_ignores_the_default_one():
    x = np.ones((20, 30), dtype=np.float32)
    a = nn.Dropout(0.5, generator=np.random.default_rng(7))
    b = nn.Dropout(0.5, generator=np.random.default_rng(7))
    minicnn.manual_seed(0)
    out_a = a(x)
    minicnn.manual_seed(1)
    np.testing.assert_array_equal(out_a, b(x))


def test_layer_gradient_matches_central_differences_with_the_mask_replayed():
    x = np.random.default_rng(0).standard_normal((4, 3, 5))
    minicnn.manual_seed(0)
    report = check_module(nn.Dropout(0.4), x)
    assert report.ok(TOL), report
    seeded = nn.Dropout(0.4, generator=np.random.default_rng(2))
    assert check_module(seeded, x).ok(TOL)


def test_layer_backward_applies_the_mask_of_its_forward_pass():
    layer = nn.Dropout(0.5)
    x = np.ones((10, 10), dtype=np.float32)
    out = layer(x)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), out)


def test_layer_in_eval_mode_is_the_identity():
    layer = nn.Dropout(0.9).eval()
    x = np.random.default_rng(0).standard_normal((5, 5)).astype(np.float32)
    assert layer(x) is x
    dout = np.ones_like(x)
    assert layer.backward(dout) is dout


def test_layer_has_no_parameters_and_reads_like_pytorch():
    layer = nn.Dropout()
    assert repr(layer) == "Dropout(p=0.5)" and layer._name() == "Dropout(p=0.5)"
    assert list(layer.parameters()) == [] and list(layer.state_dict()) == []
    assert repr(nn.Dropout(0.25)) == "Dropout(p=0.25)"


@pytest.mark.parametrize("kwargs, error, match", [
    ({"p": -0.1}, ValueError, r"Dropout: expected p in \[0, 1\], got -0.1"),
    ({"p": 1.5}, ValueError, r"Dropout: expected p in \[0, 1\], got 1.5"),
    ({"p": True}, TypeError, "Dropout: expected p as a number"),
    ({"p": "0.5"}, TypeError, "Dropout: expected p as a number"),
    ({"generator": 42}, TypeError, "Dropout: expected generator as a numpy.random.Generator"),
])
def test_bad_constructor_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        nn.Dropout(**kwargs)


@pytest.mark.parametrize("dtype", [np.int64, np.bool_, object])
def test_layer_rejects_non_float_input(dtype):
    with pytest.raises(TypeError, match=r"Dropout\(p=0.5\): expected input of dtype float32 or "
                                        r"float64"):
        nn.Dropout()(np.zeros((2, 3), dtype=dtype))


def test_layer_accepts_inplace_as_pytorch_and_ignores_it():
    layer = nn.Dropout(0.5, True)
    assert layer.inplace and repr(layer) == "Dropout(p=0.5, inplace=True)"
    x = np.ones((4, 5))
    y = layer(x)
    assert y is not x and (x == 1).all()


# -- Dropout2d: whole channels ------------------------------------------------------------------
def _planes_are_whole(y, x, p):
    """Every (n, c) plane of y is all zero or exactly x/(1 − p); returns the kept (N, C) mask."""
    kept = (y != 0).any(axis=(2, 3))
    np.testing.assert_array_equal((y != 0).all(axis=(2, 3)), kept)
    np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=1e-6 if x.dtype == np.float32
                               else 1e-15)
    return kept


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout2d_drops_whole_channels_and_scales_the_rest(p):
    x = np.random.default_rng(0).uniform(0.5, 1.5, size=(500, 200, 2, 3))
    y, (mask,) = F.dropout2d_forward(x, p, training=True, rng=np.random.default_rng(1))
    kept = _planes_are_whole(y, x, p)
    assert kept.mean() == pytest.approx(1 - p, abs=1e-2)  # binomial sd about 0.0016
    assert mask.shape == (500, 200, 1, 1)
    assert set(np.unique(mask)) == {0, 1 / (1 - p)}


def test_dropout2d_loop_reference():
    x = np.random.default_rng(0).standard_normal((3, 4, 2, 2))
    y, (mask,) = F.dropout2d_forward(x, 0.5, True, np.random.default_rng(3))
    expected = np.empty_like(x)
    for n, c in np.ndindex(x.shape[:2]):
        expected[n, c] = x[n, c] * mask[n, c, 0, 0]
    np.testing.assert_array_equal(y, expected)
    assert 0 < (mask == 0).sum() < mask.size  # this seed drops some channels, not all


def test_dropout2d_eval_and_p_zero_are_the_identity_and_p_one_is_x_times_zero():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    for p, training in ((0.5, False), (0.0, True)):
        y, cache = F.dropout2d_forward(x, p, training, np.random.default_rng(1))
        assert y is x
        dout = np.ones_like(x)
        assert F.dropout2d_backward(dout, cache) is dout
    x[0, 0, 0, 0] = np.nan
    y, cache = F.dropout2d_forward(x, 1.0, True, np.random.default_rng(1))
    assert np.isnan(y[0, 0, 0, 0]) and not np.nan_to_num(y).any()  # PyTorch: input * 0
    assert not F.dropout2d_backward(np.ones_like(x), cache).any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout2d_keeps_the_dtype(dtype):
    x = np.ones((4, 3, 2, 2), dtype=dtype)
    y, (mask,) = F.dropout2d_forward(x, 0.5, True, np.random.default_rng(0))
    assert y.dtype == mask.dtype == dtype
    assert F.dropout2d_backward(np.ones_like(y), (mask,)).dtype == dtype
    layer = nn.Dropout2d(0.3)
    out = layer(x)
    _planes_are_whole(out, x, 0.3)
    assert out.dtype == dtype and layer.backward(np.ones_like(x)).dtype == dtype


def test_dropout2d_layer_masks_repeat_under_manual_seed():
    layer = nn.Dropout2d(0.5)
    x = np.ones((8, 6, 3, 3), dtype=np.float32)
    minicnn.manual_seed(3)
    first = layer(x)
    minicnn.manual_seed(3)
    second = layer(x)
    third = layer(x)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(second, third)
    own = [nn.Dropout2d(0.5, generator=np.random.default_rng(7)) for _ in range(2)]
    minicnn.manual_seed(0)
    out_a = own[0](x)
    minicnn.manual_seed(1)
    np.testing.assert_array_equal(out_a, own[1](x))


def test_dropout2d_layer_gradient_is_the_forward_mask():
    x = np.random.default_rng(0).standard_normal((3, 4, 3, 3))
    minicnn.manual_seed(0)
    report = check_module(nn.Dropout2d(0.4), x)
    assert report.ok(TOL), report
    layer = nn.Dropout2d(0.5)
    ones = np.ones((4, 5, 2, 2), np.float32)
    out = layer(ones)
    np.testing.assert_array_equal(layer.backward(np.ones_like(ones)), out)


def test_dropout2d_layer_in_eval_mode_is_the_identity():
    layer = nn.Dropout2d(0.9).eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32)
    assert layer(x) is x
    dout = np.ones_like(x)
    assert layer.backward(dout) is dout


def test_dropout2d_reads_like_pytorch():
    layer = nn.Dropout2d()
    assert repr(layer) == "Dropout2d(p=0.5)" and layer._name() == "Dropout2d(p=0.5)"
    assert repr(nn.Dropout2d(0.1, inplace=True)) == "Dropout2d(p=0.1, inplace=True)"
    assert list(layer.parameters()) == [] and list(layer.state_dict()) == []
    x = np.ones((2, 3, 2, 2))
    assert nn.Dropout2d(0.5, inplace=True)(x) is not x and (x == 1).all()


@pytest.mark.parametrize("kwargs, error, match", [
    ({"p": -0.1}, ValueError, r"^Dropout2d: expected p in \[0, 1\], got -0.1$"),
    ({"p": 1.5}, ValueError, r"^Dropout2d: expected p in \[0, 1\], got 1.5$"),
    ({"p": None}, TypeError, r"^Dropout2d: expected p as a number"),
    ({"generator": 1}, TypeError, r"^Dropout2d: expected generator as a numpy.random.Generator"),
])
def test_dropout2d_bad_constructor_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        nn.Dropout2d(**kwargs)


@pytest.mark.parametrize("shape", [(6,), (2, 3), (3, 4, 4), (2, 3, 4, 4, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_dropout2d_refuses_any_rank_but_4(shape, training):
    layer = nn.Dropout2d(0.5).train(training)
    with pytest.raises(ValueError, match=rf"^Dropout2d\(p=0.5\): expected input of rank 4 "
                                         rf"\(N, C, H, W\), got shape "
                                         rf"{re.escape(str(shape))}$"):
        layer(np.zeros(shape))


def test_dropout2d_rejects_non_float_input():
    with pytest.raises(TypeError, match=r"^Dropout2d\(p=0.5\): expected input of dtype float32 "
                                        r"or float64"):
        nn.Dropout2d()(np.zeros((2, 3, 2, 2), dtype=np.int64))
