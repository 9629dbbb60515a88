"""Weight initialisation (``minicnn.nn.init``) against PyTorch's formulas.

What is checked:
- fan-in and fan-out of Linear (out, in) and Conv2d (out, in, kH, kW) weights;
- the gains of ``calculate_gain``: 1 (linear, conv, sigmoid), 5/3 (tanh), √2 (relu),
  √(2/(1 + a²)) (leaky_relu, a = 0.01 by default), 3/4 (selu);
- each random initialiser's bound or standard deviation, measured on ~300k draws: uniform draws
  stay inside ±bound and come within 0.1% of it, and the sample standard deviation (bound/√3 for
  a uniform) is within 1% of the formula (its statistical error is about 0.2%);
- the filling is in place, keeps float32, works on a ``Parameter``, and repeats exactly under
  ``minicnn.manual_seed`` or an explicit ``generator``; bad arguments are clear errors.
"""

import math

import numpy as np
import pytest

import minicnn
from minicnn.nn import Parameter, init

CONV_SHAPE = (256, 128, 3, 3)  # fan_in = 128·9 = 1152, fan_out = 256·9 = 2304
FAN_IN, FAN_OUT = 1152, 2304


def _weight(shape=CONV_SHAPE):
    return np.empty(shape, dtype=np.float32)


def test_fan_in_and_fan_out():
    assert init.fan_in_and_fan_out((120, 400)) == (400, 120)
    assert init.fan_in_and_fan_out(CONV_SHAPE) == (FAN_IN, FAN_OUT)
    assert init.fan_in_and_fan_out((6, 1, 5, 5)) == (25, 150)
    with pytest.raises(ValueError, match="rank >= 2"):
        init.fan_in_and_fan_out((10,))


@pytest.mark.parametrize("nonlinearity, param, gain", [
    ("linear", None, 1.0), ("conv2d", None, 1.0), ("sigmoid", None, 1.0),
    ("tanh", None, 5 / 3), ("relu", None, math.sqrt(2)), ("selu", None, 0.75),
    ("leaky_relu", None, math.sqrt(2 / (1 + 0.01**2))),
    ("leaky_relu", 0, math.sqrt(2)),
    ("leaky_relu", math.sqrt(5), math.sqrt(1 / 3)),
])
def test_calculate_gain_matches_pytorch(nonlinearity, param, gain):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(gain, rel=1e-15)


def test_calculate_gain_rejects_an_unknown_nonlinearity():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


def _assert_uniform(values, bound):
    assert np.abs(values).max() <= bound
    assert np.abs(values).max() > 0.999 * bound
    assert values.std() == pytest.approx(bound / math.sqrt(3), rel=1e-2)
    assert abs(values.mean()) < 0.01 * bound


def _assert_normal(values, std):
    assert values.std() == pytest.approx(std, rel=1e-2)
    assert abs(values.mean()) < 0.01 * std


@pytest.mark.parametrize("a, mode, nonlinearity, fan", [
    (0, "fan_in", "leaky_relu", FAN_IN),
    (math.sqrt(5), "fan_in", "leaky_relu", FAN_IN),  # PyTorch's default for Conv2d/Linear
    (0, "fan_out", "relu", FAN_OUT),
])
def test_kaiming_uniform_bound_is_gain_times_sqrt_3_over_fan(a, mode, nonlinearity, fan):
    minicnn.manual_seed(0)
    w = init.kaiming_uniform_(_weight(), a=a, mode=mode, nonlinearity=nonlinearity)
    gain = init.calculate_gain(nonlinearity, a)
    _assert_uniform(w, gain * math.sqrt(3 / fan))


def test_kaiming_uniform_with_a_sqrt5_is_one_over_sqrt_fan_in():
    minicnn.manual_seed(0)
    w = init.kaiming_uniform_(_weight(), a=math.sqrt(5))
    _assert_uniform(w, 1 / math.sqrt(FAN_IN))


@pytest.mark.parametrize("mode, fan", [("fan_in", FAN_IN), ("fan_out", FAN_OUT)])
def test_kaiming_normal_std_is_gain_over_sqrt_fan(mode, fan):
    minicnn.manual_seed(0)
    w = init.kaiming_normal_(_weight(), mode=mode, nonlinearity="relu")
    _assert_normal(w, math.sqrt(2) / math.sqrt(fan))


@pytest.mark.parametrize("gain", [1.0, 5 / 3])
def test_xavier_formulas(gain):
    minicnn.manual_seed(0)
    _assert_uniform(init.xavier_uniform_(_weight(), gain=gain),
                    gain * math.sqrt(6 / (FAN_IN + FAN_OUT)))
    _assert_normal(init.xavier_normal_(_weight(), gain=gain),
                   gain * math.sqrt(2 / (FAN_IN + FAN_OUT)))


def test_uniform_normal_and_constants():
    minicnn.manual_seed(0)
    u = init.uniform_(_weight(), -2.0, 3.0)
    assert u.min() >= -2 and u.max() < 3 and u.mean() == pytest.approx(0.5, abs=0.02)
    n = init.normal_(_weight(), mean=1.0, std=0.5)
    assert n.mean() == pytest.approx(1.0, abs=0.01) and n.std() == pytest.approx(0.5, rel=1e-2)
    np.testing.assert_array_equal(init.constant_(_weight((2, 3)), 0.25), np.full((2, 3), 0.25))
    np.testing.assert_array_equal(init.zeros_(_weight((2, 3))), np.zeros((2, 3)))
    np.testing.assert_array_equal(init.ones_(_weight((2, 3))), np.ones((2, 3)))


def test_fills_in_place_keep_float32_and_accept_a_parameter():
    w = _weight((4, 3))
    assert init.kaiming_uniform_(w) is w and w.dtype == np.float32
    param = Parameter(np.zeros((4, 3), dtype=np.float32))
    data = param.data
    assert init.xavier_normal_(param) is param
    assert param.data is data and param.dtype == np.float32 and param.data.any()


def test_manual_seed_and_generator_make_draws_repeatable():
    minicnn.manual_seed(5)
    first = init.kaiming_normal_(_weight((8, 8)))
    minicnn.manual_seed(5)
    second = init.kaiming_normal_(_weight((8, 8)))
    third = init.kaiming_normal_(_weight((8, 8)))
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(second, third)
    a = init.uniform_(_weight((8, 8)), generator=np.random.default_rng(1))
    minicnn.manual_seed(99)  # the default generator does not matter when one is given
    b = init.uniform_(_weight((8, 8)), generator=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out', got 'fan_avg'"):
        init.kaiming_uniform_(_weight((3, 3)), mode="fan_avg")
    with pytest.raises(TypeError, match="expected a float32/float64 ndarray or a Parameter"):
        init.uniform_(np.zeros((3, 3), dtype=np.int64))
    with pytest.raises(TypeError, match="expected a float32/float64 ndarray or a Parameter"):
        init.normal_([[0.0, 1.0]])
