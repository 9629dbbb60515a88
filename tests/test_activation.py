"""Activations: ReLU, LeakyReLU, PReLU, Tanh, Sigmoid, Softmax and log-softmax.

What is checked:
- forward values against the textbook formulas (and a per-channel loop for PReLU);
- every backward pass (functional pair and layer) against float64 central differences, for
  several shapes including a batch of 1. Inputs are drawn with |x| ≥ 0.1, away from the kink of
  the ReLU family at 0, where the derivative jumps and central differences are meaningless.
  A correct backward agrees to a relative error of 1e-11 to 1e-8, up to 1e-7 for entries whose
  gradient is tiny (rounding in the loss, about 1e-16·|L|/h, is then a larger fraction); the
  tests allow 1e-6, while a wrong backward is off by 1e-2 or more;
- stability: sigmoid, softmax and log-softmax of ±1000 give exact limits with no warnings;
- dtype preservation (float32 in → float32 out, float64 too), frozen PReLU slopes, clear
  errors naming the layer, reprs.
"""

import warnings

import numpy as np
import pytest

import minicnn
from minicnn import nn
from minicnn.gradcheck import check_module, numerical_gradient_array, relative_error

from engine_under_test import F

pytestmark = pytest.mark.usefixtures("each_engine")

TOL = 1e-6  # typical errors are 1e-11 to 1e-8; see the module docstring

SHAPES = [(1, 4), (3, 5), (2, 3, 4, 4)]


def _away_from_zero(shape, seed=0):
    """Normal-ish values with random signs and |x| in [0.1, 2.5): no entry near the kink."""
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 2.5, size=shape)


def _check_pair(forward, backward, x, seed=1):
    """Relative error of ``backward``'s dx against central differences of ``forward``."""
    y, cache = forward(x)
    dout = _away_from_zero(y.shape, seed)
    numeric = numerical_gradient_array(lambda z: forward(z)[0], x, dout)
    return relative_error(backward(dout, cache), numeric)


# -- functional pairs: values ----------------------------------------------------------------
def test_relu_leaky_relu_and_prelu_values():
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0]])
    np.testing.assert_array_equal(F.relu_forward(x)[0], [[0, 0, 0, 0.5, 3]])
    np.testing.assert_allclose(F.leaky_relu_forward(x, 0.1)[0], [[-0.2, -0.05, 0, 0.5, 3]])
    np.testing.assert_allclose(F.prelu_forward(x, np.array([0.25]))[0],
                               [[-0.5, -0.125, 0, 0.5, 3]])


def test_prelu_applies_one_slope_per_channel_like_a_loop():
    x = _away_from_zero((2, 3, 2, 2))
    weight = np.array([0.1, -0.5, 2.0])
    y, _ = F.prelu_forward(x, weight)
    expected = x.copy()
    for n, c, h, w in np.ndindex(x.shape):
        if x[n, c, h, w] <= 0:
            expected[n, c, h, w] = weight[c] * x[n, c, h, w]
    np.testing.assert_allclose(y, expected, rtol=1e-15)


def test_relu_gradient_at_the_kink_is_zero_as_in_pytorch():
    _, cache = F.relu_forward(np.array([0.0, 1.0]))
    np.testing.assert_array_equal(F.relu_backward(np.ones(2), cache), [0, 1])


def test_tanh_and_sigmoid_values():
    x = np.linspace(-6, 6, 25)
    np.testing.assert_allclose(F.tanh_forward(x)[0], np.tanh(x), rtol=1e-15)
    np.testing.assert_allclose(F.sigmoid_forward(x)[0], 1 / (1 + np.exp(-x)), rtol=1e-13)


def test_softmax_rows_are_probabilities_and_log_softmax_is_their_log():
    x = np.random.default_rng(0).standard_normal((4, 6))
    p, _ = F.softmax_forward(x)
    expected = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(p, expected, rtol=1e-14)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-15)
    np.testing.assert_allclose(F.log_softmax_forward(x)[0], np.log(expected), rtol=1e-13)


def test_softmax_along_another_axis():
    x = np.random.default_rng(0).standard_normal((3, 4, 5))
    p, _ = F.softmax_forward(x, axis=-1)
    np.testing.assert_allclose(p.sum(axis=-1), 1, rtol=1e-15)
    np.testing.assert_allclose(np.exp(F.log_softmax_forward(x, axis=0)[0]).sum(axis=0), 1,
                               rtol=1e-14)


# -- functional pairs: gradients -------------------------------------------------------------
ELEMENTWISE_PAIRS = {
    "relu": (F.relu_forward, F.relu_backward),
    "leaky_relu": (F.leaky_relu_forward, F.leaky_relu_backward),
    "leaky_relu_slope_0.2": (lambda x: F.leaky_relu_forward(x, 0.2), F.leaky_relu_backward),
    "tanh": (F.tanh_forward, F.tanh_backward),
    "sigmoid": (F.sigmoid_forward, F.sigmoid_backward),
    "softmax": (F.softmax_forward, F.softmax_backward),
    "softmax_last_axis": (lambda x: F.softmax_forward(x, axis=-1), F.softmax_backward),
    "log_softmax": (F.log_softmax_forward, F.log_softmax_backward),
    "log_softmax_axis_0": (lambda x: F.log_softmax_forward(x, axis=0), F.log_softmax_backward),
}


@pytest.mark.parametrize("name", ELEMENTWISE_PAIRS)
@pytest.mark.parametrize("shape", SHAPES)
def test_backward_matches_central_differences(name, shape):
    forward, backward = ELEMENTWISE_PAIRS[name]
    assert _check_pair(forward, backward, _away_from_zero(shape)) < TOL


@pytest.mark.parametrize("shape, weight", [
    ((1, 4), np.array([0.25])),
    ((3, 5), np.array([0.1, 0.2, 0.3, -0.4, 1.5])),
    ((2, 3, 4, 4), np.array([0.25])),
    ((2, 3, 4, 4), np.array([0.1, -0.3, 0.7])),
])
def test_prelu_backward_matches_central_differences_for_input_and_weight(shape, weight):
    x = _away_from_zero(shape)
    assert _check_pair(lambda z: F.prelu_forward(z, weight),
                       lambda d, c: F.prelu_backward(d, c)[0], x) < TOL
    y, cache = F.prelu_forward(x, weight)
    dout = _away_from_zero(y.shape, seed=2)
    _, dweight = F.prelu_backward(dout, cache)
    assert dweight.shape == weight.shape
    numeric = numerical_gradient_array(lambda w: F.prelu_forward(x, w)[0], weight.copy(), dout)
    assert relative_error(dweight, numeric) < TOL


def test_a_wrong_softmax_backward_fails_the_check():
    """The gradient check can fail: the diagonal-only 'Jacobian' y(1 − y) is wrong for softmax."""

    def diagonal_only(dout, cache):
        y, _ = cache
        return dout * y * (1 - y)

    assert _check_pair(F.softmax_forward, diagonal_only, _away_from_zero((3, 5))) > 1e-2


# -- stability --------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_softmax_and_log_softmax_are_stable_at_plus_minus_1000(dtype):
    x = np.array([[1000.0, -1000.0, 0.0]], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        sig, sig_cache = F.sigmoid_forward(x)
        soft, soft_cache = F.softmax_forward(x)
        log_soft, log_cache = F.log_softmax_forward(x)
        grads = [F.sigmoid_backward(np.ones_like(x), sig_cache),
                 F.softmax_backward(np.ones_like(x), soft_cache),
                 F.log_softmax_backward(np.ones_like(x), log_cache)]
    np.testing.assert_array_equal(sig, [[1, 0, 0.5]])
    np.testing.assert_array_equal(soft, [[1, 0, 0]])
    np.testing.assert_array_equal(log_soft, [[0, -2000, -1000]])
    for array in (sig, soft, log_soft, *grads):
        assert array.dtype == dtype and np.isfinite(array).all()


# -- layers -------------------------------------------------------------------------------------
LAYERS = {
    "ReLU": lambda: nn.ReLU(),
    "LeakyReLU": lambda: nn.LeakyReLU(0.1),
    "PReLU": lambda: nn.PReLU(),
    "Tanh": lambda: nn.Tanh(),
    "Sigmoid": lambda: nn.Sigmoid(),
    "Softmax": lambda: nn.Softmax(dim=1),
}


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("shape", SHAPES)
def test_layer_gradients_match_central_differences(name, shape):
    report = check_module(LAYERS[name](), _away_from_zero(shape))
    assert report.ok(TOL), report


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4, 4)])
def test_prelu_layer_with_one_slope_per_channel(shape):
    layer = nn.PReLU(num_parameters=3, init=0.1)
    layer.weight.data[:] = [0.1, -0.2, 0.6]
    report = check_module(layer, _away_from_zero(shape))
    assert set(report.errors) == {"input", "weight"} and report.ok(TOL), report


def test_only_prelu_has_parameters():
    for name, make in LAYERS.items():
        params = [p_name for p_name, _ in make().named_parameters()]
        assert params == (["weight"] if name == "PReLU" else []), name
    prelu = nn.PReLU(4, init=0.3)
    np.testing.assert_array_equal(prelu.weight.data, np.full(4, 0.3, np.float32))
    assert prelu.weight.dtype == np.float32


def test_frozen_prelu_slope_gets_no_gradient():
    layer = nn.PReLU()
    layer.weight.requires_grad = False
    x = _away_from_zero((2, 3)).astype(np.float32)
    layer(x)
    dx = layer.backward(np.ones_like(x))
    assert not layer.weight.grad.any()
    np.testing.assert_allclose(dx, np.where(x > 0, 1, 0.25))


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layers_keep_the_dtype(name, dtype):
    layer = LAYERS[name]().astype(dtype)
    x = _away_from_zero((2, 3, 2, 2)).astype(dtype)
    out = layer(x)
    assert out.dtype == dtype
    assert layer.backward(np.ones_like(out)).dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_functional_pairs_keep_the_dtype(dtype):
    x = _away_from_zero((2, 3)).astype(dtype)
    for forward, backward in ELEMENTWISE_PAIRS.values():
        y, cache = forward(x)
        assert y.dtype == dtype and backward(np.ones_like(y), cache).dtype == dtype
    y, cache = F.prelu_forward(x, np.full(3, 0.25, dtype))
    dx, dweight = F.prelu_backward(np.ones_like(y), cache)
    assert y.dtype == dx.dtype == dweight.dtype == dtype


def test_reprs_match_pytorch():
    assert repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.ReLU(inplace=True)) == "ReLU(inplace=True)"
    assert repr(nn.LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"
    assert repr(nn.PReLU()) == "PReLU(num_parameters=1)"
    assert repr(nn.Tanh()) == "Tanh()"
    assert repr(nn.Sigmoid()) == "Sigmoid()"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_under_no_grad_gives_the_same_output_and_keeps_no_cache(dtype):
    x = _away_from_zero((2, 3, 4)).astype(dtype)
    layer = nn.ReLU()
    expected = layer(x)
    with minicnn.no_grad():
        y = layer(-x)  # another input: the training forward's cache must survive it
        assert y.dtype == dtype
        np.testing.assert_array_equal(y, np.maximum(-x, 0))
    np.testing.assert_array_equal(layer.backward(np.ones_like(y)), expected > 0)
    with minicnn.no_grad():
        layer(x)
    with pytest.raises(RuntimeError, match="needs a forward"):
        layer.backward(np.ones_like(y))  # nothing was kept for a backward pass


def test_inplace_relu_still_leaves_its_input_unchanged():
    x = _away_from_zero((2, 3)).astype(np.float32)
    before = x.copy()
    nn.ReLU(inplace=True)(x)
    np.testing.assert_array_equal(x, before)


# -- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("dtype", [np.int64, np.bool_, object])
def test_layers_reject_non_float_input_naming_the_layer(name, dtype):
    layer = LAYERS[name]()
    with pytest.raises(TypeError, match=rf"{name}.*expected input of dtype float32 or float64"):
        layer(np.zeros((2, 3), dtype=dtype))


def test_prelu_rejects_a_wrong_channel_count_rank_or_dtype():
    layer = nn.PReLU(3)
    with pytest.raises(ValueError, match=r"PReLU\(3\): expected input with 3 channels "
                                         r"\(N, 3, \.\.\.\), got shape \(2, 4, 5, 5\)"):
        layer(np.zeros((2, 4, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"PReLU\(3\): expected input of rank >= 2.*\(3,\)"):
        layer(np.zeros(3, np.float32))
    with pytest.raises(TypeError, match=r"PReLU\(3\): expected input of dtype float32"):
        layer(np.zeros((2, 3), np.float64))


def test_softmax_rejects_a_missing_axis():
    with pytest.raises(ValueError, match=r"Softmax\(dim=2\): expected input with an axis 2, "
                                         r"got shape \(4, 10\)"):
        nn.Softmax(dim=2)(np.zeros((4, 10), np.float32))


@pytest.mark.parametrize("make, error, match", [
    (lambda: nn.PReLU(0), ValueError, "PReLU: expected num_parameters >= 1"),
    (lambda: nn.PReLU(2.0), TypeError, "PReLU: expected num_parameters as an int"),
    (lambda: nn.PReLU(init="0.25"), TypeError, "PReLU: expected init as a number"),
    (lambda: nn.LeakyReLU("0.1"), TypeError, "LeakyReLU: expected negative_slope"),
    (lambda: nn.Softmax(dim=None), TypeError, "Softmax: expected dim as an int"),
])
def test_bad_constructor_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_relu_passes_nan_forward_and_stops_gradients_at_inactive_units():
    x = np.array([np.nan, -1.0, 2.0], np.float32)
    y, cache = F.relu_forward(x)
    np.testing.assert_array_equal(y, [np.nan, 0, 2])  # a NaN upstream stays visible
    dx = F.relu_backward(np.array([1.0, np.nan, 3.0], np.float32), cache)
    np.testing.assert_array_equal(dx, [0, 0, 3])  # a select, as PyTorch: no NaN · 0


def test_relu_takes_views_and_other_dtypes():
    x = np.arange(-12.0, 12.0).reshape(4, 6)[:, ::2]  # not contiguous
    y, cache = F.relu_forward(x)
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    np.testing.assert_array_equal(F.relu_backward(np.ones((4, 3))[:, ::-1], cache), x > 0)
    ints = np.array([-3, 0, 5])
    np.testing.assert_array_equal(F.relu_forward(ints)[0], [0, 0, 5])  # NumPy's way
