"""Batch normalisation: ``batch_norm_forward/backward``, ``BatchNorm1d`` and ``BatchNorm2d``.

What is checked:
- the forward pass against a plain per-channel loop (mean, biased variance, normalise, scale,
  shift), for (N, C) and (N, C, H, W) input;
- every gradient (input, γ, β), in training mode (batch statistics, the full chain rule through
  μ and σ) and in evaluation mode (running statistics, constants), against float64 central
  differences, for several shapes including a batch of 1 in 4-D. A correct backward agrees to a
  relative error of 1e-10 to 1e-8 (up to about 5e-8 for the larger inputs, whose loss carries
  more rounding); the tests allow 1e-6, while a wrong backward is off by 1e-2 or more. Each
  channel needs m ≥ 3 values for a meaningful check (see the m = 2 test);
- running statistics after several steps against a hand computation with PyTorch's rule
  (unbiased variance, ``running = (1 − momentum)·running + momentum·batch``), the cumulative
  average of ``momentum=None``, ``num_batches_tracked``; train vs eval;
- state-dict keys equal to PyTorch's and a round trip; ``affine=False`` and
  ``track_running_stats=False``; frozen γ and β; dtypes; clear errors; reprs.
"""

import numpy as np
import pytest

import minicnn
from minicnn import nn
from minicnn.gradcheck import check_module, numerical_gradient_array, relative_error

from engine_under_test import F

pytestmark = pytest.mark.usefixtures("each_engine")

TOL = 1e-6  # typical errors are 1e-10 to 5e-8; see the module docstring
EPS = 1e-5


def _input(shape, seed=10, dtype=np.float64):
    """Inputs with a channel-dependent offset and scale, so normalising changes something.

    The default seed differs from gradcheck's (0) on purpose: with the same seed the random
    upstream gradient would be an affine function of x per channel, a direction in which the
    gradient of batch norm is exactly zero, and the check would compare rounding noise.
    """
    rng = np.random.default_rng(seed)
    c = shape[1]
    offset = np.arange(c).reshape((1, c) + (1,) * (len(shape) - 2))
    return (rng.standard_normal(shape) * (1 + offset) + 3 * offset).astype(dtype)


def _loop_batch_norm(x, gamma, beta, eps=EPS):
    """The lab-sheet reference: one channel at a time, with plain sums."""
    out = np.empty_like(x)
    for c in range(x.shape[1]):
        values = x[:, c]
        m = values.size
        mean = values.sum() / m
        var = ((values - mean) ** 2).sum() / m
        out[:, c] = gamma[c] * (values - mean) / np.sqrt(var + eps) + beta[c]
    return out


# -- functional: values -----------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5, 5)])
def test_training_forward_matches_a_plain_loop(shape):
    x = _input(shape)
    gamma, beta = np.array([1.0, 2.0, -0.5]), np.array([0.0, 1.0, 3.0])
    y, _ = F.batch_norm_forward(x, gamma, beta, None, None, training=True)
    np.testing.assert_allclose(y, _loop_batch_norm(x, gamma, beta), rtol=1e-12, atol=1e-12)


def test_training_output_has_zero_mean_and_unit_variance_per_channel():
    x = _input((8, 4, 3, 3))
    y, _ = F.batch_norm_forward(x, None, None, None, None, training=True)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-4)  # ε keeps it just below 1


def test_evaluation_forward_uses_the_running_statistics():
    x = _input((5, 2, 3, 3))
    mean, var = np.array([1.0, -2.0]), np.array([4.0, 0.25])
    gamma, beta = np.array([2.0, 1.0]), np.array([0.5, 0.0])
    y, _ = F.batch_norm_forward(x, gamma, beta, mean.copy(), var.copy(), training=False)
    shape = (1, 2, 1, 1)
    expected = (gamma.reshape(shape) * (x - mean.reshape(shape))
                / np.sqrt(var.reshape(shape) + EPS) + beta.reshape(shape))
    np.testing.assert_allclose(y, expected, rtol=1e-13)


@pytest.mark.parametrize("shape", [(5, 2), (5, 2, 7), (5, 2, 3, 3)])
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-13), (np.float32, 2e-6)])
@pytest.mark.parametrize("affine", [True, False])
def test_inference_fold_equals_the_evaluation_forward(shape, dtype, rtol, affine):
    x = _input(shape, dtype=dtype)
    mean, var = np.array([1.0, -2.0], dtype), np.array([4.0, 0.25], dtype)
    gamma, beta = (np.array([2.0, -1.0], dtype), np.array([0.5, 3.0], dtype)) if affine \
        else (None, None)
    expected, _ = F.batch_norm_forward(x, gamma, beta, mean.copy(), var.copy(), training=False)
    y = F.batch_norm_inference(x, gamma, beta, mean, var)
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_allclose(y, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


def test_layer_in_eval_under_no_grad_gives_the_same_output_and_keeps_no_cache():
    layer = nn.BatchNorm2d(2)
    for _ in range(3):  # some running statistics and parameters that are not 0 and 1
        layer(_input((5, 2, 3, 3)).astype(np.float32))
    layer.weight.data[:] = [2.0, -1.0]
    layer.bias.data[:] = [0.5, 3.0]
    layer.eval()
    x = _input((4, 2, 3, 3), seed=11).astype(np.float32)
    expected = layer(x)
    layer.backward(np.ones_like(expected))
    with minicnn.no_grad():
        y = layer(x)
    np.testing.assert_allclose(y, expected, rtol=2e-6, atol=1e-6)
    with pytest.raises(RuntimeError, match="needs a forward"):
        layer.backward(np.ones_like(y))  # nothing was kept for a backward pass


def test_running_statistics_follow_pytorch_with_the_unbiased_variance():
    x_batches = [_input((4, 3, 2, 2), seed=s) for s in range(3)]
    running_mean, running_var = np.zeros(3), np.ones(3)
    expected_mean, expected_var = np.zeros(3), np.ones(3)
    momentum = 0.1
    for x in x_batches:
        F.batch_norm_forward(x, None, None, running_mean, running_var, training=True,
                             momentum=momentum)
        m = 4 * 2 * 2
        batch_mean = x.mean(axis=(0, 2, 3))
        unbiased_var = ((x - batch_mean.reshape(1, 3, 1, 1)) ** 2).sum(axis=(0, 2, 3)) / (m - 1)
        expected_mean = (1 - momentum) * expected_mean + momentum * batch_mean
        expected_var = (1 - momentum) * expected_var + momentum * unbiased_var
    np.testing.assert_allclose(running_mean, expected_mean, rtol=1e-13)
    np.testing.assert_allclose(running_var, expected_var, rtol=1e-13)


def test_batch_statistics_need_more_than_one_value_per_channel():
    with pytest.raises(ValueError, match=r"more than 1 value per channel.*\(1, 3\)"):
        F.batch_norm_forward(np.ones((1, 3)), None, None, None, None, training=True)


# -- functional: gradients ----------------------------------------------------------------------
SHAPES = [(3, 3), (7, 3), (1, 3, 3, 3), (3, 3, 4, 2), (2, 3, 5)]


def _forward_fn(x, gamma, beta, training):
    """Forward as a function of one array at a time, with fresh running statistics each call."""
    running_mean, running_var = np.array([0.5, -1.0, 2.0]), np.array([1.5, 0.5, 4.0])

    def forward(x=x, gamma=gamma, beta=beta):
        return F.batch_norm_forward(x, gamma, beta, running_mean.copy(), running_var.copy(),
                                    training=training)[0]
    return forward


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_backward_matches_central_differences(shape, training):
    x = _input(shape)
    gamma, beta = np.array([1.5, -0.7, 0.3]), np.array([0.1, 0.2, -0.3])
    forward = _forward_fn(x, gamma, beta, training)
    y, cache = F.batch_norm_forward(x, gamma, beta, np.array([0.5, -1.0, 2.0]),
                                    np.array([1.5, 0.5, 4.0]), training=training)
    dout = np.random.default_rng(1).standard_normal(y.shape)
    dx, dgamma, dbeta = F.batch_norm_backward(dout, cache)
    assert relative_error(dx, numerical_gradient_array(
        lambda z: forward(x=z), x, dout)) < TOL
    assert relative_error(dgamma, numerical_gradient_array(
        lambda z: forward(gamma=z), gamma.copy(), dout)) < TOL
    assert relative_error(dbeta, numerical_gradient_array(
        lambda z: forward(beta=z), beta.copy(), dout)) < TOL


def test_two_values_per_channel_normalise_to_plus_minus_one_whatever_x():
    """Why the gradient checks use m ≥ 3: with m = 2, x̂ = ±1 (up to ε), so dx is ~0."""
    x = _input((2, 3))
    y, cache = F.batch_norm_forward(x, None, None, None, None, training=True)
    np.testing.assert_allclose(np.abs(y), 1, rtol=1e-4)
    dx, _, _ = F.batch_norm_backward(np.random.default_rng(1).standard_normal(y.shape), cache)
    assert np.abs(dx).max() < 1e-4  # ~3e-5 here, from ε; a generic dx entry is ~1


def test_backward_without_gamma_and_without_parameter_gradients():
    x = _input((4, 3, 2, 2))
    y, cache = F.batch_norm_forward(x, None, None, None, None, training=True)
    dout = np.random.default_rng(1).standard_normal(y.shape)
    dx, dgamma, dbeta = F.batch_norm_backward(dout, cache)
    assert dgamma is None and dbeta is None
    numeric = numerical_gradient_array(
        lambda z: F.batch_norm_forward(z, None, None, None, None, training=True)[0], x, dout)
    assert relative_error(dx, numeric) < TOL
    gamma, beta = np.ones(3), np.zeros(3)
    y, cache = F.batch_norm_forward(x, gamma, beta, np.zeros(3), np.ones(3), training=False)
    assert F.batch_norm_backward(dout, cache, need_dgamma=False, need_dbeta=False)[1:] == (
        None, None)


def test_a_backward_that_ignores_the_batch_statistics_fails_the_check():
    """The check can fail: in training, treating μ and σ as constants gives a wrong dx."""
    x = _input((4, 3))
    y, cache = F.batch_norm_forward(x, None, None, None, None, training=True)
    dout = np.random.default_rng(1).standard_normal(y.shape)
    _, _, _, inv_std, _ = cache  # (x̂, γ, has β, 1/σ, used batch statistics)
    naive_dx = dout * inv_std
    numeric = numerical_gradient_array(
        lambda z: F.batch_norm_forward(z, None, None, None, None, training=True)[0], x, dout)
    assert relative_error(naive_dx, numeric) > 1e-2


# -- layers ---------------------------------------------------------------------------------
def _layer_with_stats(layer):
    """Non-trivial γ, β and running statistics, so the checks exercise every term."""
    rng = np.random.default_rng(3)
    c = layer.num_features
    layer.weight.data[:] = rng.uniform(0.5, 1.5, c)
    layer.bias.data[:] = rng.standard_normal(c)
    layer.running_mean[:] = rng.standard_normal(c)
    layer.running_var[:] = rng.uniform(0.5, 2, c)
    return layer


@pytest.mark.parametrize("make, shape", [
    (lambda: nn.BatchNorm1d(4), (3, 4)),
    (lambda: nn.BatchNorm1d(4), (6, 4)),
    (lambda: nn.BatchNorm1d(4), (3, 4, 5)),
    (lambda: nn.BatchNorm2d(3), (1, 3, 3, 3)),
    (lambda: nn.BatchNorm2d(3), (4, 3, 4, 4)),
])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_layer_gradients_match_central_differences(make, shape, mode):
    layer = _layer_with_stats(make())
    layer.train(mode == "train")
    report = check_module(layer, _input(shape))
    assert set(report.errors) == {"input", "weight", "bias"}
    assert report.ok(TOL), report


def test_train_and_eval_give_different_outputs_and_eval_changes_no_statistics():
    layer = nn.BatchNorm2d(3)
    x = _input((4, 3, 2, 2), dtype=np.float32)
    train_out = layer(x)
    stats = (layer.running_mean.copy(), layer.running_var.copy())
    layer.eval()
    eval_out = layer(x)
    assert not np.allclose(train_out, eval_out)
    np.testing.assert_array_equal(layer.running_mean, stats[0])
    np.testing.assert_array_equal(layer.running_var, stats[1])
    assert layer.num_batches_tracked == 1


def test_layer_running_statistics_and_batch_count_after_several_steps():
    layer = nn.BatchNorm1d(3, momentum=0.2)
    expected_mean, expected_var = np.zeros(3), np.ones(3)
    for step in range(4):
        x = _input((5, 3), seed=step, dtype=np.float32)
        layer(x)
        x64 = x.astype(np.float64)
        expected_mean = 0.8 * expected_mean + 0.2 * x64.mean(axis=0)
        expected_var = 0.8 * expected_var + 0.2 * x64.var(axis=0, ddof=1)
    np.testing.assert_allclose(layer.running_mean, expected_mean, rtol=1e-5)
    np.testing.assert_allclose(layer.running_var, expected_var, rtol=1e-5)
    assert layer.num_batches_tracked.dtype == np.int64 and layer.num_batches_tracked == 4
    assert layer.running_mean.dtype == np.float32
    layer.reset_running_stats()
    np.testing.assert_array_equal(layer.running_mean, 0)
    np.testing.assert_array_equal(layer.running_var, 1)
    assert layer.num_batches_tracked == 0


def test_momentum_none_keeps_the_cumulative_average():
    layer = nn.BatchNorm1d(2, momentum=None)
    batches = [_input((4, 2), seed=s).astype(np.float32) for s in range(3)]
    for x in batches:
        layer(x)
    means = np.mean([x.mean(axis=0) for x in batches], axis=0)
    variances = np.mean([x.var(axis=0, ddof=1) for x in batches], axis=0)
    np.testing.assert_allclose(layer.running_mean, means, rtol=1e-5)
    np.testing.assert_allclose(layer.running_var, variances, rtol=1e-5)


def test_state_dict_keys_are_pytorch_s_and_round_trip():
    layer = nn.BatchNorm2d(16)
    assert list(layer.state_dict()) == [
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    _layer_with_stats(layer)(_input((2, 16, 3, 3), dtype=np.float32))
    copy = nn.BatchNorm2d(16)
    copy.load_state_dict(layer.state_dict())
    assert copy.num_batches_tracked == 1 and copy.num_batches_tracked.dtype == np.int64
    x = _input((2, 16, 3, 3), seed=5, dtype=np.float32)
    np.testing.assert_array_equal(layer.eval()(x), copy.eval()(x))


def test_affine_false_and_no_running_statistics():
    plain = nn.BatchNorm2d(3, affine=False)
    assert list(plain.parameters()) == [] and plain.weight is None
    assert list(plain.state_dict()) == ["running_mean", "running_var", "num_batches_tracked"]
    assert check_module(plain, _input((2, 3, 2, 2))).ok(TOL)

    untracked = nn.BatchNorm1d(3, track_running_stats=False)
    assert list(untracked.state_dict()) == ["weight", "bias"] and untracked.running_mean is None
    x = _input((6, 3), dtype=np.float32)
    np.testing.assert_array_equal(untracked(x), untracked.eval()(x))  # batch stats in eval too
    assert check_module(untracked, _input((6, 3))).ok(TOL)


def test_frozen_gamma_and_beta_get_no_gradient_and_dx_is_unchanged():
    x = _input((4, 3, 2, 2), dtype=np.float32)
    dout = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    trainable, frozen = nn.BatchNorm2d(3), nn.BatchNorm2d(3).requires_grad_(False)
    for mode in (True, False):
        dx = []
        for layer in (trainable, frozen):
            layer.train(mode)(x)
            dx.append(layer.backward(dout))
        np.testing.assert_array_equal(dx[0], dx[1])
    assert trainable.weight.grad.any()
    assert not frozen.weight.grad.any() and not frozen.bias.grad.any()
    for frozen_name, learning_name in (("weight", "bias"), ("bias", "weight")):
        half_frozen = nn.BatchNorm2d(3)
        getattr(half_frozen, frozen_name).requires_grad = False
        half_frozen(x)
        half_frozen.backward(dout)
        assert not getattr(half_frozen, frozen_name).grad.any()
        assert getattr(half_frozen, learning_name).grad.any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", [True, False])
def test_layers_keep_the_dtype(dtype, mode):
    for layer, shape in ((nn.BatchNorm1d(3), (4, 3)), (nn.BatchNorm2d(3), (4, 3, 2, 2))):
        layer.astype(dtype).train(mode)
        out = layer(_input(shape, dtype=dtype))
        assert out.dtype == dtype
        assert layer.backward(np.ones_like(out)).dtype == dtype
        assert layer.weight.grad.dtype == layer.running_var.dtype == dtype
        assert layer.num_batches_tracked.dtype == np.int64


def test_reprs_and_names():
    assert repr(nn.BatchNorm2d(16)) == (
        "BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)")
    assert repr(nn.BatchNorm1d(8, momentum=None, affine=False)) == (
        "BatchNorm1d(8, eps=1e-05, momentum=None, affine=False, track_running_stats=True)")
    assert nn.BatchNorm2d(16)._name() == "BatchNorm2d(16)"


# -- errors -------------------------------------------------------------------------------------
def test_layers_reject_bad_inputs_naming_the_layer_and_the_shapes():
    bn2 = nn.BatchNorm2d(16)
    with pytest.raises(ValueError, match=r"BatchNorm2d\(16\): expected input of rank 4 "
                                         r"\(N, 16, H, W\), got shape \(8, 16\)"):
        bn2(np.zeros((8, 16), np.float32))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(16\): expected input with 16 channels "
                                         r"\(N, 16, H, W\), got shape \(8, 3, 4, 4\)"):
        bn2(np.zeros((8, 3, 4, 4), np.float32))
    with pytest.raises(TypeError, match=r"BatchNorm2d\(16\): expected input of dtype float32 "
                                        r"or float64, got uint8"):
        bn2(np.zeros((8, 16, 4, 4), np.uint8))
    with pytest.raises(TypeError, match=r"BatchNorm2d\(16\): expected input of dtype float32 "
                                        r"\(the layer's parameters\), got float64"):
        bn2(np.zeros((8, 16, 4, 4), np.float64))
    bn1 = nn.BatchNorm1d(4)
    with pytest.raises(ValueError, match=r"BatchNorm1d\(4\): expected input of rank 2 \(N, 4\) "
                                         r"or 3 \(N, 4, L\), got shape \(2, 4, 3, 3\)"):
        bn1(np.zeros((2, 4, 3, 3), np.float32))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(4\): expected input with 4 features "
                                         r"\(N, 4\), got shape \(2, 5\)"):
        bn1(np.zeros((2, 5), np.float32))


def test_training_with_one_value_per_channel_is_an_error_but_evaluation_is_not():
    layer = nn.BatchNorm1d(4)
    with pytest.raises(ValueError, match=r"BatchNorm1d\(4\): expected more than 1 value per "
                                         r"channel when training.*got input of shape \(1, 4\)"):
        layer(np.zeros((1, 4), np.float32))
    assert layer.num_batches_tracked == 0  # nothing happened before the error
    assert layer.eval()(np.zeros((1, 4), np.float32)).shape == (1, 4)
    untracked = nn.BatchNorm1d(4, track_running_stats=False).eval()
    with pytest.raises(ValueError, match=r"in eval\(\) without running statistics"):
        untracked(np.zeros((1, 4), np.float32))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"num_features": 0}, ValueError, "num_features >= 1"),
    ({"num_features": 2.0}, TypeError, "num_features as an int"),
    ({"num_features": 3, "eps": 0}, ValueError, "eps > 0"),
    ({"num_features": 3, "momentum": 1.5}, ValueError, r"momentum in \[0, 1\] or None"),
])
def test_bad_constructor_arguments(kwargs, error, match):
    with pytest.raises(error, match=f"BatchNorm2d: expected {match}"):
        nn.BatchNorm2d(**kwargs)
