"""The fully connected layer ``Linear`` and ``Flatten``, functional pairs and layers.

What is checked:
- ``linear_forward`` against a plain triple loop, y[n, j] = Σ_i x[n, i]·w[j, i] + b[j];
- every gradient (input, weight, bias) against float64 central differences, for several shapes
  including a batch of 1. A correct backward agrees to a relative error of 1e-11 to 1e-9 (the
  tests allow 1e-6, a margin for other BLAS builds); a wrong one is off by 1e-2 or more;
- PyTorch's default initialisation U(±1/√in_features) and its reproducibility under
  ``minicnn.manual_seed``; frozen parameters; accumulation into ``.grad``;
- dtype preservation (float32 in → float32 out), clear errors, reprs and state-dict keys.
"""

import numpy as np
import pytest

import minicnn
from minicnn import nn
from minicnn.gradcheck import check_module, numerical_gradient_array, relative_error

from engine_under_test import F

pytestmark = pytest.mark.usefixtures("each_engine")

TOL = 1e-6  # typical errors are 1e-11 to 1e-9


def _rng(seed=0):
    return np.random.default_rng(seed)


# -- functional ---------------------------------------------------------------------------------
def test_linear_forward_matches_a_plain_loop():
    rng = _rng()
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((2, 4)), rng.standard_normal(2)
    y, _ = F.linear_forward(x, w, b)
    expected = np.zeros((3, 2))
    for n in range(3):
        for j in range(2):
            expected[n, j] = b[j]
            for i in range(4):
                expected[n, j] += x[n, i] * w[j, i]
    np.testing.assert_allclose(y, expected, rtol=1e-12)


@pytest.mark.parametrize("n, n_in, n_out", [(1, 3, 2), (4, 5, 3), (7, 1, 6)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_backward_matches_central_differences(n, n_in, n_out, with_bias):
    rng = _rng(n * 100 + n_in)
    x, w = rng.standard_normal((n, n_in)), rng.standard_normal((n_out, n_in))
    b = rng.standard_normal(n_out) if with_bias else None
    y, cache = F.linear_forward(x, w, b)
    dout = rng.standard_normal(y.shape)
    dx, dw, db = F.linear_backward(dout, cache)

    assert relative_error(dx, numerical_gradient_array(
        lambda z: F.linear_forward(z, w, b)[0], x, dout)) < TOL
    assert relative_error(dw, numerical_gradient_array(
        lambda z: F.linear_forward(x, z, b)[0], w, dout)) < TOL
    if with_bias:
        assert relative_error(db, numerical_gradient_array(
            lambda z: F.linear_forward(x, w, z)[0], b, dout)) < TOL
    else:
        assert db is None


def test_linear_backward_skips_the_parameter_gradients_it_is_told_not_to_compute():
    rng = _rng()
    x, w, b = rng.standard_normal((2, 3)), rng.standard_normal((4, 3)), rng.standard_normal(4)
    y, cache = F.linear_forward(x, w, b)
    dx, dw, db = F.linear_backward(np.ones_like(y), cache, need_dw=False, need_db=False)
    assert dw is None and db is None
    np.testing.assert_allclose(dx, np.ones((2, 4)) @ w)


def test_flatten_forward_is_a_view_and_backward_restores_the_shape():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    y, cache = F.flatten_forward(x)
    assert y.shape == (2, 60) and np.shares_memory(x, y)
    np.testing.assert_array_equal(y[1], x[1].ravel())
    assert F.flatten_backward(y, cache).shape == x.shape
    assert F.flatten_forward(x, start_dim=1, end_dim=2)[0].shape == (2, 12, 5)
    assert F.flatten_forward(x, start_dim=0)[0].shape == (120,)
    assert F.flatten_forward(x, start_dim=-2, end_dim=-1)[0].shape == (2, 3, 20)


def test_flatten_forward_rejects_dims_out_of_order_or_range():
    x = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match="comes after"):
        F.flatten_forward(x, start_dim=2, end_dim=1)
    with pytest.raises(ValueError, match="rank 3"):
        F.flatten_forward(x, start_dim=3)


# -- the Linear layer ---------------------------------------------------------------------------
@pytest.mark.parametrize("n, n_in, n_out", [(1, 4, 3), (5, 6, 2)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_layer_gradients_match_central_differences(n, n_in, n_out, bias):
    minicnn.manual_seed(n + n_in)
    layer = nn.Linear(n_in, n_out, bias=bias)
    report = check_module(layer, _rng(1).standard_normal((n, n_in)))
    assert set(report.errors) == ({"input", "weight", "bias"} if bias else {"input", "weight"})
    assert report.ok(TOL), report


def test_linear_layer_catches_a_wrong_backward():
    """The check above can fail: a layer whose weight gradient is doubled does not pass."""

    class WrongLinear(nn.Linear):
        def backward(self, dout):
            dx = super().backward(dout)
            self.weight.grad *= 2
            return dx

    report = check_module(WrongLinear(3, 2), _rng().standard_normal((4, 3)))
    assert report["input"] < TOL and report["weight"] > 0.1


def test_linear_default_init_is_pytorch_uniform_bound_one_over_sqrt_fan_in():
    minicnn.manual_seed(0)
    layer = nn.Linear(400, 120)
    bound = 1 / np.sqrt(400)
    for values in (layer.weight.data, layer.bias.data):
        assert values.dtype == np.float32
        assert np.abs(values).max() <= bound
        assert np.abs(values).max() > 0.95 * bound  # the bound is reached, not just respected
    assert layer.weight.shape == (120, 400) and layer.bias.shape == (120,)
    # U(−a, a) has standard deviation a/√3
    assert layer.weight.data.std() == pytest.approx(bound / np.sqrt(3), rel=0.02)


def test_linear_init_is_reproducible_under_manual_seed():
    minicnn.manual_seed(7)
    first = nn.Linear(5, 3)
    minicnn.manual_seed(7)
    second = nn.Linear(5, 3)
    third = nn.Linear(5, 3)
    np.testing.assert_array_equal(first.weight.data, second.weight.data)
    np.testing.assert_array_equal(first.bias.data, second.bias.data)
    assert not np.array_equal(second.weight.data, third.weight.data)


def test_linear_backward_adds_into_grad():
    layer = nn.Linear(3, 2)
    x = _rng().standard_normal((4, 3)).astype(np.float32)
    dout = np.ones((4, 2), dtype=np.float32)
    layer(x)
    layer.backward(dout)
    once = layer.weight.grad.copy()
    layer(x)
    layer.backward(dout)
    np.testing.assert_allclose(layer.weight.grad, 2 * once, rtol=1e-6)
    np.testing.assert_allclose(layer.bias.grad, [8, 8])


def test_frozen_linear_parameters_get_no_gradient_but_the_input_does():
    layer = nn.Linear(3, 2)
    layer.requires_grad_(False)
    x = _rng().standard_normal((4, 3)).astype(np.float32)
    layer(x)
    dx = layer.backward(np.ones((4, 2), dtype=np.float32))
    assert not layer.weight.grad.any() and not layer.bias.grad.any()
    np.testing.assert_allclose(dx, np.ones((4, 2)) @ layer.weight.data, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_and_flatten_keep_the_dtype(dtype):
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 4)).astype(dtype)
    x = _rng().standard_normal((2, 3, 2, 2)).astype(dtype)
    out = model(x)
    assert out.dtype == dtype
    assert model.backward(np.ones_like(out)).dtype == dtype
    assert model[1].weight.grad.dtype == dtype


def test_linear_repr_name_and_state_dict():
    layer = nn.Linear(400, 120)
    assert repr(layer) == "Linear(in_features=400, out_features=120, bias=True)"
    assert layer._name() == "Linear(400, 120)"
    assert list(layer.state_dict()) == ["weight", "bias"]
    no_bias = nn.Linear(4, 2, bias=False)
    assert repr(no_bias) == "Linear(in_features=4, out_features=2, bias=False)"
    assert list(no_bias.state_dict()) == ["weight"] and no_bias.bias is None
    assert list(no_bias.parameters()) == [no_bias.weight]


def test_linear_state_dict_round_trip():
    source, target = nn.Linear(3, 2), nn.Linear(3, 2)
    target.load_state_dict(source.state_dict())
    x = _rng().standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_array_equal(source(x), target(x))


# -- errors -------------------------------------------------------------------------------------
def test_linear_rejects_bad_inputs_naming_the_layer_and_the_shapes():
    layer = nn.Linear(400, 120)
    with pytest.raises(ValueError, match=r"Linear\(400, 120\): expected input of rank 2 "
                                         r"\(N, 400\), got shape \(8, 16, 5, 5\); put nn.Flatten"):
        layer(np.zeros((8, 16, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"Linear\(400, 120\): expected input with 400 features "
                                         r"\(N, 400\), got shape \(8, 300\)"):
        layer(np.zeros((8, 300), np.float32))
    with pytest.raises(ValueError, match=r"rank 2 \(N, 400\), got shape \(400,\)"):
        layer(np.zeros(400, np.float32))
    with pytest.raises(TypeError, match=r"Linear\(400, 120\): expected input of dtype float32 or "
                                        r"float64, got int64"):
        layer(np.zeros((8, 400), np.int64))
    with pytest.raises(TypeError, match=r"Linear\(400, 120\).*got bool"):
        layer(np.zeros((8, 400), bool))
    with pytest.raises(TypeError, match=r"Linear\(400, 120\).*got object"):
        layer(np.zeros((8, 400), object))
    with pytest.raises(TypeError, match=r"Linear\(400, 120\): expected input of dtype float32 "
                                        r"\(the layer's parameters\), got float64"):
        layer(np.zeros((8, 400), np.float64))
    with pytest.raises(TypeError, match=r"Linear\(400, 120\): expected input as a numpy.ndarray"):
        layer([[0.0] * 400])


@pytest.mark.parametrize("args, error", [
    ((0, 3), ValueError), ((3, -1), ValueError), ((2.5, 3), TypeError), ((True, 3), TypeError),
])
def test_linear_rejects_bad_constructor_arguments(args, error):
    with pytest.raises(error, match=r"Linear: expected (in|out)_features"):
        nn.Linear(*args)


def test_backward_before_forward_names_the_layer():
    with pytest.raises(RuntimeError, match=r"Linear\(3, 2\): backward\(\) needs a forward\(\)"):
        nn.Linear(3, 2).backward(np.zeros((1, 2), np.float32))


# -- the Flatten layer --------------------------------------------------------------------------
def test_flatten_layer_round_trip_gradient_and_repr():
    layer = nn.Flatten()
    x = _rng().standard_normal((2, 3, 4, 4))
    out = layer(x)
    assert out.shape == (2, 48)
    dx = layer.backward(out * 2)
    np.testing.assert_array_equal(dx, 2 * x)
    assert check_module(nn.Flatten(1, 2), x).ok(TOL)
    assert repr(layer) == "Flatten(start_dim=1, end_dim=-1)"
    assert list(layer.parameters()) == []


def test_flatten_layer_rejects_inputs_without_the_axes_and_bad_arguments():
    with pytest.raises(ValueError, match=r"Flatten\(start_dim=1, end_dim=-1\): expected input in "
                                         r"which start_dim=1 and end_dim=-1 are axes.*\(5,\)"):
        nn.Flatten()(np.zeros(5, np.float32))
    with pytest.raises(ValueError, match=r"got shape \(2, 3\)"):
        nn.Flatten(start_dim=1, end_dim=0)(np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match=r"Flatten.*got int32"):
        nn.Flatten()(np.zeros((2, 3), np.int32))
    with pytest.raises(TypeError, match="Flatten: expected start_dim as an int"):
        nn.Flatten(start_dim=1.0)
