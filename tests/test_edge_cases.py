"""Edge cases of the functional API, as PyTorch handles them (or a clear error where it raises).

Batch norm with γ or β absent (None means γ = 1, β = 0, each on its own), wrong-sized
per-channel arrays, an empty batch in evaluation mode; pooling of inputs without channels or
pixels; ``SGD(lr=0)``.
"""

import numpy as np
import pytest

from minicnn import nn, optim

from engine_under_test import F

pytestmark = pytest.mark.usefixtures("each_engine")


def _x(shape=(4, 3, 2, 2), seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_with_beta_but_no_gamma_adds_beta(training):
    x, beta = _x(), np.array([1.0, -2.0, 3.0])
    stats = (np.zeros(3), np.ones(3))
    plain, _ = F.batch_norm_forward(x, None, None, *stats, training=training)
    shifted, cache = F.batch_norm_forward(x, None, beta, *stats, training=training)
    np.testing.assert_allclose(shifted, plain + beta.reshape(1, 3, 1, 1), rtol=1e-12)
    _, dgamma, dbeta = F.batch_norm_backward(np.ones_like(x), cache)
    assert dgamma is None and dbeta.shape == (3,)
    np.testing.assert_allclose(dbeta, np.full(3, 16.0))  # Σ dout over N·H·W = 16 values
    if not training:  # the same as batch_norm_inference, which always added β
        np.testing.assert_allclose(shifted, F.batch_norm_inference(x, None, beta, *stats),
                                   rtol=1e-12)


def test_batch_norm_with_gamma_but_no_beta_scales_only():
    x, gamma = _x(), np.array([2.0, 0.5, -1.0])
    plain, _ = F.batch_norm_forward(x, None, None, None, None, training=True)
    scaled, cache = F.batch_norm_forward(x, gamma, None, None, None, training=True)
    np.testing.assert_allclose(scaled, plain * gamma.reshape(1, 3, 1, 1), rtol=1e-12)
    _, dgamma, dbeta = F.batch_norm_backward(np.ones_like(x), cache)
    assert dgamma.shape == (3,) and dbeta is None


@pytest.mark.parametrize("name", ["gamma", "beta", "running_mean", "running_var"])
def test_batch_norm_refuses_a_wrong_sized_per_channel_array(name):
    arrays = dict(gamma=np.ones(3), beta=np.zeros(3), running_mean=np.zeros(3),
                  running_var=np.ones(3))
    arrays[name] = np.ones(4)
    with pytest.raises(ValueError, match=rf"batch_norm_forward: expected {name} of shape \(3,\) "
                                         r"for x of shape \(4, 3, 2, 2\), got shape \(4,\)"):
        F.batch_norm_forward(_x(), training=False, **arrays)


def test_batch_norm_in_evaluation_takes_an_empty_batch_both_ways():
    layer = nn.BatchNorm2d(3).astype(np.float64).eval()
    x = np.zeros((0, 3, 4, 4))
    out = layer(x)
    dx = layer.backward(np.zeros_like(out))
    assert out.shape == dx.shape == x.shape
    np.testing.assert_array_equal(layer.weight.grad, np.zeros(3))


@pytest.mark.parametrize("shape", [(2, 0, 4, 4), (2, 3, 0, 4), (2, 3, 4, 0)])
@pytest.mark.parametrize("layer", [nn.MaxPool2d(2), nn.AvgPool2d(2), nn.GlobalAvgPool2d(),
                                   nn.AdaptiveAvgPool2d(1)])
def test_pooling_refuses_inputs_without_channels_or_pixels(shape, layer):
    with pytest.raises(ValueError, match=r"expected input \(N, C, H, W\) with C, H and W above 0"):
        layer(np.zeros(shape, np.float32))
    with pytest.raises(ValueError, match="with C, H and W above 0"):
        F.max_pool2d_forward(np.zeros(shape), 2)


def test_pooling_takes_an_empty_batch():
    out, cache = F.max_pool2d_forward(np.zeros((0, 3, 4, 4)), 2)
    assert out.shape == (0, 3, 2, 2)
    assert F.max_pool2d_backward(out, cache).shape == (0, 3, 4, 4)


@pytest.mark.parametrize("make", [lambda p: optim.SGD(p, lr=0), lambda p: optim.Adam(p, lr=0)])
def test_a_learning_rate_of_zero_is_allowed_and_changes_nothing(make):
    layer = nn.Linear(3, 2)
    before = layer.weight.data.copy()
    opt = make(layer.parameters())
    layer.weight.grad[...] = 1.0
    opt.step()
    np.testing.assert_array_equal(layer.weight.data, before)
    with pytest.raises(ValueError, match=r"expected lr >= 0\.0, got -0\.1"):
        optim.SGD(layer.parameters(), lr=-0.1)


def test_sgd_has_pytorchs_default_learning_rate():
    assert optim.SGD(nn.Linear(2, 2).parameters()).param_groups[0]["lr"] == 1e-3
