"""More activations: ELU, SELU, GELU (exact and tanh), SiLU, Softplus, LogSoftmax and Maxout.

What is checked:
- values against PyTorch 2.13: float64 numbers computed by hand with torch (never imported
  here) at x = (−2, −0.5, 0.5, 2), outputs and gradients, hard-coded with that comment; and
  against the textbook formulas evaluated one element at a time with Python's ``math``
  (GELU with ``math.erf``, Softplus with its threshold, SELU's constants);
- every backward (functional pair and layer) against float64 central differences, for several
  shapes including a batch of 1, inputs with |x| ≥ 0.1 (ELU with α ≠ 1 has a kink at 0) and
  away from Softplus's threshold (where the value jumps by up to e^(−threshold)/β). Correct
  backwards agree to 1e-11 to 1e-8; the tests allow 1e-6, a wrong one (GELU without its
  x·φ(x) term) is off by more than 1e-2;
- stability: at |x| = 1000 every function and gradient is finite, with no NumPy warning, and
  equals its limit; tails keep their relative precision (SiLU at −60, ELU's gradient at −60);
- float32 stays float32 and float64 stays float64, through forward and backward;
- Maxout: a loop reference over groups of ``pieces`` consecutive channels (rank 2 and 4), the
  first maximum of a tie takes the whole gradient, it works after a Linear and after a Conv2d;
- ``from minicnn import nn`` does not import scipy.special (GELU imports it at its first call);
- clear errors naming the layer: TypeError for a non-number alpha/beta/threshold, a non-int
  pieces or dim, or non-float input; ValueError for NaN/inf alpha, beta = 0, NaN threshold,
  an unknown GELU approximation, pieces < 1, channels not divisible by pieces, a missing axis.
"""

import math
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

from minicnn import nn
from minicnn.gradcheck import check_module, numerical_gradient_array, relative_error

from engine_under_test import F

pytestmark = pytest.mark.usefixtures("each_engine")

TOL = 1e-6  # typical errors are 1e-11 to 1e-8; see the module docstring

SHAPES = [(1, 4), (3, 5), (2, 3, 4, 4)]

X_TORCH = np.array([-2.0, -0.5, 0.5, 2.0])

# Computed by hand with torch 2.13 (float64, torch.nn.functional), at X_TORCH: the outputs and
# the gradient of their sum. Never copied from this library.
TORCH_VALUES = {
    "gelu": (
        [-0.04550026389635842, -0.15426876936299344, 0.34573123063700656, 1.9544997361036416],
        [-0.08523180107819692, 0.13250487534383712, 0.8674951246561629, 1.085231801078197]),
    "gelu_tanh": (
        [-0.04540230591222494, -0.15428599017485606, 0.34571400982514394, 1.954597694087775],
        [-0.0860992566236183, 0.13263009646535764, 0.8673699035346424, 1.0860992566236183]),
    "selu": (
        [-1.5201664685956948, -0.6917581878028713, 0.5253504936777402, 2.101401974710961],
        [0.2379328722516818, 1.0663411530445053, 1.0507009873554805, 1.0507009873554805]),
    "softplus_beta2_threshold1": (
        [0.009074963958904869, 0.15663084375911143, 0.6566308437591114, 2.0],
        [0.017986209962091555, 0.2689414213699951, 0.7310585786300049, 1.0]),
    "elu_alpha0.7": (
        [-0.6052653017343711, -0.2754285382011566, 0.5, 2.0],
        [0.09473469826562889, 0.42457146179884336, 1.0, 1.0]),
    "silu": (
        [-0.2384058440442351, -0.1887703343990727, 0.3112296656009273, 1.7615941559557646],
        [-0.09078424878489547, 0.2600388126973482, 0.7399611873026519, 1.0907842487848955]),
    # log_softmax of the row X_TORCH (shape (1, 4), dim=1)
    "log_softmax": (
        [-4.2803030122753025, -2.780303012275302, -1.780303012275302, -0.2803030122753021],
        [0.9446461270985111, 0.7519211528165147, 0.32565177767606357, -2.0222190575910894]),
}

PAIRS = {
    "gelu": (lambda x: F.gelu_forward(x), lambda d, c: F.gelu_backward(d, c)),
    "gelu_tanh": (lambda x: F.gelu_forward(x, "tanh"), lambda d, c: F.gelu_backward(d, c)),
    "selu": (lambda x: F.selu_forward(x), lambda d, c: F.selu_backward(d, c)),
    "softplus_beta2_threshold1": (lambda x: F.softplus_forward(x, 2.0, 1.0),
                                  lambda d, c: F.softplus_backward(d, c)),
    "elu_alpha0.7": (lambda x: F.elu_forward(x, 0.7), lambda d, c: F.elu_backward(d, c)),
    "silu": (lambda x: F.silu_forward(x), lambda d, c: F.silu_backward(d, c)),
    "log_softmax": (lambda x: F.log_softmax_forward(x, axis=-1),
                    lambda d, c: F.log_softmax_backward(d, c)),
}

MORE_PAIRS = {  # gradient checks only
    **PAIRS,
    "elu": (lambda x: F.elu_forward(x), lambda d, c: F.elu_backward(d, c)),
    "elu_alpha-0.5": (lambda x: F.elu_forward(x, -0.5), lambda d, c: F.elu_backward(d, c)),
    "softplus": (lambda x: F.softplus_forward(x), lambda d, c: F.softplus_backward(d, c)),
    "softplus_beta-1.5": (lambda x: F.softplus_forward(x, -1.5, 2.0),
                          lambda d, c: F.softplus_backward(d, c)),
    "log_softmax_axis1": (lambda x: F.log_softmax_forward(x, axis=1),
                          lambda d, c: F.log_softmax_backward(d, c)),
    "log_softmax_axis0": (lambda x: F.log_softmax_forward(x, axis=0),
                          lambda d, c: F.log_softmax_backward(d, c)),
    "maxout_1": (lambda x: F.maxout_forward(x, 1), lambda d, c: F.maxout_backward(d, c)),
}


def _away_from_zero(shape, seed=0):
    """Random signs and |x| in [0.1, 2.5), none within 0.05 of |x| = 0.5 or 4/3, where the
    Softplus cases turn linear (β·x = threshold: 2·0.5 = 1, and −1.5·(−4/3) = 2)."""
    rng = np.random.default_rng(seed)
    x = rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, 2.5, size=shape)
    for edge in (0.5, 4 / 3):
        near = np.abs(np.abs(x) - edge) < 0.05
        x[near] += np.sign(x[near]) * 0.1
    return x


def _check_pair(forward, backward, x, seed=1):
    y, cache = forward(x)
    dout = _away_from_zero(y.shape, seed)
    numeric = numerical_gradient_array(lambda z: forward(z)[0], x, dout)
    return relative_error(backward(dout, cache), numeric)


# -- values ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PAIRS)
def test_values_and_gradients_equal_pytorchs(name):
    forward, backward = PAIRS[name]
    x = X_TORCH.reshape(1, 4)
    y, cache = forward(x)
    dx = backward(np.ones_like(y), cache)
    expected_y, expected_dx = TORCH_VALUES[name]
    np.testing.assert_allclose(y.ravel(), expected_y, rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(dx.ravel(), expected_dx, rtol=1e-13, atol=1e-16)


def _phi(v):
    return 0.5 * (1 + math.erf(v / math.sqrt(2)))


def _by_element(f, x):
    return np.array([f(float(v)) for v in x.ravel()]).reshape(x.shape)


SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946

FORMULAS = {  # name: (forward, y(x) for one Python float)
    "elu alpha=1.3": (lambda x: F.elu_forward(x, 1.3),
                      lambda v: v if v > 0 else 1.3 * (math.exp(v) - 1)),
    "selu": (F.selu_forward,
             lambda v: SELU_SCALE * (v if v > 0 else SELU_ALPHA * (math.exp(v) - 1))),
    "gelu": (F.gelu_forward, lambda v: v * _phi(v)),
    "gelu tanh": (lambda x: F.gelu_forward(x, "tanh"),
                  lambda v: 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi)
                                                     * (v + 0.044715 * v ** 3)))),
    "silu": (F.silu_forward, lambda v: v / (1 + math.exp(-v))),
    "softplus": (F.softplus_forward, lambda v: v if v > 20 else math.log(1 + math.exp(v))),
    "softplus beta=0.5 threshold=3": (
        lambda x: F.softplus_forward(x, 0.5, 3.0),
        lambda v: v if 0.5 * v > 3 else math.log(1 + math.exp(0.5 * v)) / 0.5),
}


@pytest.mark.parametrize("name", FORMULAS)
def test_values_follow_the_formula_element_by_element(name):
    forward, formula = FORMULAS[name]
    x = np.linspace(-9, 30, 157).reshape(1, -1)  # crosses Softplus's thresholds
    np.testing.assert_allclose(forward(x)[0], _by_element(formula, x), rtol=1e-12, atol=1e-15)


def test_softplus_is_linear_strictly_above_the_threshold_as_pytorch():
    # PyTorch: (x·β) > threshold ? x : log1p(exp(x·β))/β. At z = threshold the smooth form.
    y, cache = F.softplus_forward(np.array([0.5, 0.5000001, 0.6]), beta=2.0, threshold=1.0)
    np.testing.assert_allclose(y, [math.log1p(math.e) / 2, 0.5000001, 0.6], rtol=1e-15)
    np.testing.assert_allclose(F.softplus_backward(np.ones(3), cache),
                               [1 / (1 + math.exp(-1)), 1, 1], rtol=1e-15)


def test_log_softmax_is_the_log_of_the_softmax():
    x = np.random.default_rng(0).standard_normal((4, 6))
    log_y, _ = F.log_softmax_forward(x)
    expected = np.log(np.exp(x) / np.exp(x).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(log_y, expected, rtol=1e-13)
    np.testing.assert_allclose(np.exp(log_y).sum(axis=1), 1, rtol=1e-14)


# -- gradients ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", MORE_PAIRS)
@pytest.mark.parametrize("shape", SHAPES)
def test_backward_matches_central_differences(name, shape):
    forward, backward = MORE_PAIRS[name]
    assert _check_pair(forward, backward, _away_from_zero(shape)) < TOL


def test_elu_with_alpha_one_and_selu_derivatives_at_zero_are_pytorchs():
    # PyTorch's elu_backward takes the exponential branch for x <= 0: α·e^0 = α (λα for SELU).
    _, cache = F.elu_forward(np.array([0.0]), 1.7)
    assert F.elu_backward(np.ones(1), cache)[0] == pytest.approx(1.7, rel=1e-15)
    _, cache = F.selu_forward(np.array([0.0]))
    assert F.selu_backward(np.ones(1), cache)[0] == pytest.approx(SELU_SCALE * SELU_ALPHA,
                                                                  rel=1e-15)


def test_a_wrong_gelu_backward_fails_the_check():
    """The check can fail: Φ(x) alone, without the x·φ(x) term, is not GELU's derivative."""

    x = _away_from_zero((3, 5))

    def cdf_only(dout, cache):
        return dout * _by_element(_phi, x)

    assert _check_pair(F.gelu_forward, cdf_only, x) > 1e-2


LAYERS = {
    "ELU": lambda: nn.ELU(),
    "ELU alpha=0.3": lambda: nn.ELU(alpha=0.3),
    "SELU": lambda: nn.SELU(),
    "GELU": lambda: nn.GELU(),
    "GELU tanh": lambda: nn.GELU(approximate="tanh"),
    "SiLU": lambda: nn.SiLU(),
    "Softplus": lambda: nn.Softplus(),
    "Softplus beta=2 threshold=1": lambda: nn.Softplus(beta=2, threshold=1),
    "LogSoftmax": lambda: nn.LogSoftmax(dim=1),
    "LogSoftmax dim=-1": lambda: nn.LogSoftmax(dim=-1),
}


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("shape", SHAPES)
def test_layer_gradients_match_central_differences(name, shape):
    report = check_module(LAYERS[name](), _away_from_zero(shape))
    assert report.ok(TOL), report


def test_layers_compute_their_functional_pair():
    x = _away_from_zero((3, 4))
    pairs = [(nn.ELU(0.7), F.elu_forward(x, 0.7)), (nn.SELU(), F.selu_forward(x)),
             (nn.GELU("tanh"), F.gelu_forward(x, "tanh")), (nn.SiLU(), F.silu_forward(x)),
             (nn.Softplus(2, 1), F.softplus_forward(x, 2, 1)),
             (nn.LogSoftmax(1), F.log_softmax_forward(x, 1)),
             (nn.Maxout(2), F.maxout_forward(x, 2))]
    for layer, (expected, _) in pairs:
        np.testing.assert_array_equal(layer(x), expected)


# -- stability ------------------------------------------------------------------------------------
STABLE = {  # name: (forward, backward, expected y at (1000, −1000, 0), expected dy/dx there)
    "elu": (lambda x: F.elu_forward(x, 1.5), F.elu_backward, [1000, -1.5, 0], [1, 0, 1.5]),
    "selu": (F.selu_forward, F.selu_backward,
             [1000 * SELU_SCALE, -SELU_SCALE * SELU_ALPHA, 0],
             [SELU_SCALE, 0, SELU_SCALE * SELU_ALPHA]),
    "gelu": (F.gelu_forward, F.gelu_backward, [1000, 0, 0], [1, 0, 0.5]),
    "gelu_tanh": (lambda x: F.gelu_forward(x, "tanh"), F.gelu_backward, [1000, 0, 0], [1, 0, 0.5]),
    "silu": (F.silu_forward, F.silu_backward, [1000, 0, 0], [1, 0, 0.5]),
    "softplus": (F.softplus_forward, F.softplus_backward, [1000, 0, math.log(2)], [1, 0, 0.5]),
    "softplus_no_threshold": (lambda x: F.softplus_forward(x, 1.0, math.inf),
                              F.softplus_backward, [1000, 0, math.log(2)], [1, 0, 0.5]),
    "softplus_beta-1": (lambda x: F.softplus_forward(x, -1.0), F.softplus_backward,
                        [0, -1000, -math.log(2)], [0, 1, 0.5]),
}


@pytest.mark.parametrize("name", STABLE)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_values_and_gradients_at_plus_minus_1000_are_finite_limits(name, dtype):
    forward, backward, expected_y, expected_dx = STABLE[name]
    x = np.array([[1000.0, -1000.0, 0.0]], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        y, cache = forward(x)
        dx = backward(np.ones_like(y), cache)
    assert y.dtype == dx.dtype == dtype
    rtol = 1e-6 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(y[0], expected_y, rtol=rtol, atol=0)
    np.testing.assert_allclose(dx[0], expected_dx, rtol=rtol, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_softmax_at_plus_minus_1000(dtype):
    x = np.array([[1000.0, -1000.0, 0.0]], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        y, cache = F.log_softmax_forward(x)
        dx = F.log_softmax_backward(np.array([[1.0, 2.0, 3.0]], dtype), cache)
    np.testing.assert_array_equal(y, [[0, -2000, -1000]])
    np.testing.assert_array_equal(dx, [[1 - 6, 2, 3]])  # dout − softmax · Σ dout
    assert y.dtype == dx.dtype == dtype


def test_tails_keep_their_relative_precision():
    """x·σ(x) and α·e^x at x = −60 are tiny but not zero; computing them from 1 + tanh or from
    y + α would give 0 or rounding noise."""
    x = np.array([-60.0])
    y, cache = F.silu_forward(x)
    assert y[0] == pytest.approx(-60 / (1 + math.exp(60)), rel=1e-14)
    _, cache = F.elu_forward(x, 2.0)
    assert F.elu_backward(np.ones(1), cache)[0] == pytest.approx(2 * math.exp(-60), rel=1e-14)
    _, cache = F.softplus_forward(x)
    assert F.softplus_backward(np.ones(1), cache)[0] == pytest.approx(math.exp(-60), rel=1e-14)


# -- dtype ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_functional_pairs_keep_the_dtype(dtype):
    x = _away_from_zero((2, 4)).astype(dtype)
    for name, (forward, backward) in MORE_PAIRS.items():
        y, cache = forward(x)
        dx = backward(np.ones_like(y), cache)
        assert y.dtype == dx.dtype == dtype, name


@pytest.mark.parametrize("name", [*LAYERS, "Maxout"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layers_keep_the_dtype(name, dtype):
    layer = nn.Maxout(3) if name == "Maxout" else LAYERS[name]()
    x = _away_from_zero((2, 3, 2, 2)).astype(dtype)
    out = layer(x)
    assert out.dtype == dtype and layer.backward(np.ones_like(out)).dtype == dtype
    assert list(layer.parameters()) == [] and list(layer.state_dict()) == []


def test_float32_values_agree_with_float64():
    x = _away_from_zero((4, 6))
    for name, (forward, _) in MORE_PAIRS.items():
        np.testing.assert_allclose(forward(x.astype(np.float32))[0], forward(x)[0],
                                   rtol=2e-6, atol=2e-6, err_msg=name)


# -- Maxout ---------------------------------------------------------------------------------------
def _maxout_loop(x, pieces):
    n, c = x.shape[:2]
    y = np.empty((n, c // pieces, *x.shape[2:]), x.dtype)
    for i in range(n):
        for g in range(c // pieces):
            for rest in np.ndindex(x.shape[2:]):
                y[(i, g, *rest)] = max(x[(i, g * pieces + j, *rest)] for j in range(pieces))
    return y


@pytest.mark.parametrize("shape, pieces", [((3, 6), 2), ((3, 6), 3), ((2, 6, 3, 4), 3),
                                           ((2, 4, 3, 3), 4), ((1, 5, 2, 2), 1)])
def test_maxout_is_the_max_over_consecutive_channels_like_a_loop(shape, pieces):
    x = np.random.default_rng(0).standard_normal(shape)
    y, _ = F.maxout_forward(x, pieces)
    np.testing.assert_array_equal(y, _maxout_loop(x, pieces))
    assert _check_pair(lambda z: F.maxout_forward(z, pieces), F.maxout_backward, x) < TOL


def test_maxout_gradient_goes_to_the_first_maximum_of_a_tie():
    x = np.array([[1.0, 3.0, 3.0, 2.0, 2.0, 2.0]])  # groups of 3: (1, 3, 3) and (2, 2, 2)
    y, cache = F.maxout_forward(x, 3)
    np.testing.assert_array_equal(y, [[3, 2]])
    np.testing.assert_array_equal(F.maxout_backward(np.array([[5.0, 7.0]]), cache),
                                  [[0, 5, 0, 7, 0, 0]])


@pytest.mark.parametrize("shape", [(4, 6), (2, 6, 3, 3)])
def test_maxout_layer_gradient_matches_central_differences(shape):
    report = check_module(nn.Maxout(3), np.random.default_rng(0).standard_normal(shape))
    assert report.ok(TOL), report


def test_maxout_after_a_linear_and_after_a_conv2d():
    linear = nn.Sequential(nn.Linear(5, 6), nn.Maxout(3), nn.Linear(2, 3))
    x = np.random.default_rng(0).standard_normal((4, 5))
    assert linear(x.astype(np.float32)).shape == (4, 3)
    report = check_module(linear, x)
    assert report.ok(TOL), report

    conv = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.Maxout(2))
    image = np.random.default_rng(1).standard_normal((2, 2, 5, 5))
    out = conv(image.astype(np.float32))
    assert out.shape == (2, 3, 5, 5)
    features = conv[0](image.astype(np.float32))
    np.testing.assert_array_equal(out, np.maximum(features[:, 0::2], features[:, 1::2]))
    report = check_module(conv, image)
    assert report.ok(TOL), report


def test_maxout_refuses_channels_not_divisible_by_pieces():
    with pytest.raises(ValueError, match=r"^Maxout\(3\): expected input \(N, C, \.\.\.\) with C "
                                         r"divisible by 3, got shape \(2, 5\)$"):
        nn.Maxout(3)(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"^Maxout\(2\): expected input \(N, C, \.\.\.\) with C "
                                         r"divisible by 2, got shape \(2, 3, 4, 4\)$"):
        nn.Maxout(2)(np.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"^Maxout\(2\): .*got shape \(6,\)$"):
        nn.Maxout(2)(np.zeros(6))


# -- arguments, errors, reprs ---------------------------------------------------------------------
@pytest.mark.parametrize("make, error, match", [
    (lambda: nn.ELU(alpha="1"), TypeError, r"^ELU: expected alpha as a number, got '1'$"),
    (lambda: nn.ELU(alpha=True), TypeError, r"^ELU: expected alpha as a number, got True$"),
    (lambda: nn.ELU(alpha=math.nan), ValueError, r"^ELU: expected alpha as a finite number, "
                                                 r"got nan$"),
    (lambda: nn.ELU(alpha=math.inf), ValueError, r"^ELU: expected alpha as a finite number, "
                                                 r"got inf$"),
    (lambda: nn.Softplus(beta=0), ValueError, r"^Softplus: expected a non-zero beta, got 0.0$"),
    (lambda: nn.Softplus(beta=None), TypeError, r"^Softplus: expected beta as a number, "
                                                r"got None$"),
    (lambda: nn.Softplus(beta=-math.inf), ValueError, r"^Softplus: expected beta as a finite "
                                                      r"number, got -inf$"),
    (lambda: nn.Softplus(threshold=math.nan), ValueError, r"^Softplus: expected threshold as a "
                                                          r"number, got nan$"),
    (lambda: nn.Softplus(threshold="20"), TypeError, r"^Softplus: expected threshold as a "
                                                     r"number, got '20'$"),
    (lambda: nn.GELU(approximate="erf"), ValueError, r"^GELU: expected approximate 'none' or "
                                                     r"'tanh', got 'erf'$"),
    (lambda: nn.GELU(approximate=None), ValueError, r"^GELU: expected approximate 'none' or "
                                                    r"'tanh', got None$"),
    (lambda: nn.LogSoftmax(dim=1.0), TypeError, r"^LogSoftmax: expected dim as an int, "
                                                r"got 1.0$"),
    (lambda: nn.LogSoftmax(dim=None), TypeError, r"^LogSoftmax: expected dim as an int"),
    (lambda: nn.Maxout(0), ValueError, r"^Maxout: expected pieces >= 1, got 0$"),
    (lambda: nn.Maxout(-2), ValueError, r"^Maxout: expected pieces >= 1, got -2$"),
    (lambda: nn.Maxout(1.5), TypeError, r"^Maxout: expected pieces as an int, got 1.5$"),
    (lambda: nn.Maxout(True), TypeError, r"^Maxout: expected pieces as an int, got True$"),
])
def test_bad_constructor_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_gelu_functional_refuses_an_unknown_approximation():
    with pytest.raises(ValueError, match=r"^gelu_forward: expected approximate 'none' or 'tanh', "
                                         r"got 'fast'$"):
        F.gelu_forward(np.zeros(3), "fast")


@pytest.mark.parametrize("dim", [2, -3])
def test_log_softmax_refuses_a_missing_axis(dim):
    with pytest.raises(ValueError, match=rf"^LogSoftmax\(dim={dim}\): expected input with an "
                                         rf"axis {dim}, got shape \(3, 4\)$"):
        nn.LogSoftmax(dim=dim)(np.zeros((3, 4)))


@pytest.mark.parametrize("name", [*LAYERS, "Maxout"])
@pytest.mark.parametrize("bad", [np.zeros((2, 3), np.int64), [[0.0, 1.0, 2.0]]])
def test_layers_reject_non_float_input_naming_the_layer(name, bad):
    layer = nn.Maxout(3) if name == "Maxout" else LAYERS[name]()
    with pytest.raises(TypeError, match=rf"^{re.escape(layer._name())}: expected input "):
        layer(bad)


def test_reprs_match_pytorch():
    # torch 2.13's reprs, printed by hand
    assert repr(nn.ELU()) == "ELU(alpha=1.0)"
    assert repr(nn.ELU(0.5, inplace=True)) == "ELU(alpha=0.5, inplace=True)"
    assert repr(nn.SELU()) == "SELU()" and repr(nn.SELU(inplace=True)) == "SELU(inplace=True)"
    assert repr(nn.GELU()) == "GELU(approximate='none')"
    assert repr(nn.GELU("tanh")) == "GELU(approximate='tanh')"
    assert repr(nn.SiLU()) == "SiLU()" and repr(nn.SiLU(inplace=True)) == "SiLU(inplace=True)"
    assert repr(nn.Softplus()) == "Softplus(beta=1.0, threshold=20.0)"
    assert repr(nn.LogSoftmax(dim=1)) == "LogSoftmax(dim=1)"
    assert repr(nn.Maxout(4)) == "Maxout(pieces=4)"  # not in PyTorch


def test_inplace_is_accepted_but_leaves_the_input_unchanged():
    x = np.array([[-1.0, 2.0]])
    for layer in (nn.ELU(inplace=True), nn.SELU(inplace=True), nn.SiLU(inplace=True)):
        y = layer(x)
        np.testing.assert_array_equal(x, [[-1.0, 2.0]])
        assert y is not x


def test_scipy_special_is_imported_by_the_first_exact_gelu_not_by_minicnn_nn():
    code = ("import sys, numpy as np; from minicnn import nn; "
            "before = 'scipy.special' in sys.modules; nn.SiLU()(np.ones(2)); "
            "nn.GELU('tanh')(np.ones(2)); middle = 'scipy.special' in sys.modules; "
            "nn.GELU()(np.ones(2)); print(before, middle, 'scipy.special' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False", "True"]
