"""Inverted dropout: ``dropout_forward/backward`` and the ``Dropout`` layer.

What is checked:
- statistics over a million entries: the fraction kept is 1 − p to within 0.005 (the binomial
  standard deviation is about 0.0005), the mean of the output equals the mean of the input to
  within 1%, and survivors are exactly x/(1 − p);
- evaluation mode and p = 0 are the identity; p = 1 gives zeros;
- the same seed (``minicnn.manual_seed``, read at call time, or the layer's own ``generator``)
  gives the same mask; the backward pass applies the forward pass's mask, so the float64
  central-difference check agrees to a relative error of about 1e-9 (the tests allow 1e-6);
- float32 in → float32 out and a float32 mask; clear errors; the repr.
"""

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
