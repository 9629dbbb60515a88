"""BatchNorm1d/2d with ``affine=False``, ``track_running_stats=False``, and flags or arrays
changed after construction, as PyTorch's ``_BatchNorm.forward`` decides.

PyTorch's rule (checked by hand against torch 2.13 for every case below, outputs, input
gradients and buffers equal to 1.3e-15 in float64, both engines):
- batch statistics when training, or when ``running_mean`` is None;
- the running statistics are passed (and so used in eval(), updated in train()) unless
  training with ``track_running_stats=False``;
- ``num_batches_tracked`` grows only when training with ``track_running_stats`` and if it is
  not None; ``momentum=None`` weighs batch k by 1/k, and by 0 when there is no count;
- γ and β are used if ``weight`` and ``bias`` exist, whatever ``affine`` says;
- the state dict holds exactly the arrays that exist.
Here each case is compared with the formulas computed by hand in the test (the batch's mean
and biased variance, the running update with the unbiased variance), under both engines, with
gradients against float64 central differences. The error for a single value per channel
without running statistics in eval() says so ("in eval() without running statistics").
"""

import numpy as np
import pytest

from minicnn import nn
from minicnn.gradcheck import check_module

pytestmark = pytest.mark.usefixtures("each_engine")

EPS = 1e-5
TOL = 1e-6


def _x(shape=(4, 3, 2, 2), seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape) * 2 + np.arange(shape[1]).reshape(
        (1, -1) + (1,) * (len(shape) - 2))


def _axes(x):
    return (0, *range(2, x.ndim))


def _per_channel(v, x):
    return np.reshape(v, (1, -1) + (1,) * (x.ndim - 2))


def _normalised(x, mean, var, gamma=None, beta=None):
    y = (x - _per_channel(mean, x)) / np.sqrt(_per_channel(var, x) + EPS)
    if gamma is not None:
        y = y * _per_channel(gamma, x)
    if beta is not None:
        y = y + _per_channel(beta, x)
    return y


def _with_batch_stats(x, gamma=None, beta=None):
    return _normalised(x, x.mean(axis=_axes(x)), x.var(axis=_axes(x)), gamma, beta)


def _running_update(running_mean, running_var, x, momentum):
    m = x.size // x.shape[1]
    return ((1 - momentum) * running_mean + momentum * x.mean(axis=_axes(x)),
            (1 - momentum) * running_var + momentum * x.var(axis=_axes(x)) * m / (m - 1))


def _layer(cls=nn.BatchNorm2d, **kwargs):
    layer = cls(3, **kwargs).astype(np.float64)
    rng = np.random.default_rng(1)
    if layer.weight is not None:
        layer.weight.data[:] = rng.uniform(0.5, 1.5, 3)
        layer.bias.data[:] = rng.standard_normal(3)
    if layer.running_mean is not None:
        layer.running_mean[:] = rng.standard_normal(3)
        layer.running_var[:] = rng.uniform(0.5, 2.0, 3)
    return layer


# -- state dicts ---------------------------------------------------------------------------
@pytest.mark.parametrize("affine, track, keys", [
    (True, True, ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]),
    (False, True, ["running_mean", "running_var", "num_batches_tracked"]),
    (True, False, ["weight", "bias"]),
    (False, False, []),
])
@pytest.mark.parametrize("cls", [nn.BatchNorm1d, nn.BatchNorm2d])
def test_state_dict_keys_are_pytorch_s_for_each_setting(cls, affine, track, keys):
    layer = cls(3, affine=affine, track_running_stats=track)
    assert list(layer.state_dict()) == keys
    assert [name for name, _ in layer.named_parameters()] == keys[:2 if affine else 0]
    fresh = cls(3, affine=affine, track_running_stats=track)
    fresh.load_state_dict(layer.state_dict(), strict=True)
    if not track:
        assert layer.running_mean is None and layer.running_var is None
        assert layer.num_batches_tracked is None


# -- the constructor's flags ---------------------------------------------------------------
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_affine_false_normalises_without_gamma_and_beta(mode):
    layer = _layer(affine=False).train(mode == "train")
    x = _x()
    mean, var = layer.running_mean.copy(), layer.running_var.copy()
    y = layer(x)
    expected = _with_batch_stats(x) if mode == "train" else _normalised(x, mean, var)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    layer.backward(np.ones_like(y))  # no parameters to add into
    report = check_module(layer, _x(seed=2))
    assert set(report.errors) == {"input"} and report.ok(TOL), report


@pytest.mark.parametrize("affine", [True, False])
def test_track_running_stats_false_uses_batch_statistics_in_both_modes(affine):
    layer = _layer(nn.BatchNorm1d, affine=affine, track_running_stats=False)
    x = _x((6, 3))
    gamma_beta = (layer.weight.data, layer.bias.data) if affine else (None, None)
    expected = _with_batch_stats(x, *gamma_beta)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-12, atol=1e-12)
    layer.backward(np.ones_like(x))
    np.testing.assert_allclose(layer.eval()(x), expected, rtol=1e-12, atol=1e-12)
    assert layer.running_mean is None and layer.num_batches_tracked is None
    for mode in (True, False):  # the full chain rule through μ and σ in eval() too
        assert check_module(layer.train(mode), _x((6, 3), seed=3)).ok(TOL)


def test_one_value_per_channel_without_running_statistics_is_an_error_in_eval():
    layer = nn.BatchNorm1d(3, track_running_stats=False).eval()
    with pytest.raises(ValueError, match=r"^BatchNorm1d\(3\): expected more than 1 value per "
                                         r"channel in eval\(\) without running statistics"):
        layer(np.zeros((1, 3), np.float32))


# -- flags and arrays changed after construction -------------------------------------------
def test_tracking_switched_off_later_freezes_the_buffers_but_eval_still_uses_them():
    layer = _layer()
    mean, var = layer.running_mean.copy(), layer.running_var.copy()
    layer.track_running_stats = False
    x = _x()
    y = layer(x)
    np.testing.assert_allclose(y, _with_batch_stats(x, layer.weight.data, layer.bias.data),
                               rtol=1e-12, atol=1e-12)
    layer.backward(np.ones_like(y))
    np.testing.assert_array_equal(layer.running_mean, mean)
    np.testing.assert_array_equal(layer.running_var, var)
    assert layer.num_batches_tracked == 0
    layer.eval()
    np.testing.assert_allclose(layer(x), _normalised(x, mean, var, layer.weight.data,
                                                     layer.bias.data), rtol=1e-12, atol=1e-12)
    report = check_module(layer, _x(seed=4))  # eval: μ, σ constants
    assert report.ok(TOL), report
    assert list(layer.state_dict())[2:] == ["running_mean", "running_var", "num_batches_tracked"]


def test_tracking_switched_on_later_has_nothing_to_track_into():
    layer = _layer(track_running_stats=False)
    layer.track_running_stats = True
    x = _x()
    expected = _with_batch_stats(x, layer.weight.data, layer.bias.data)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-12, atol=1e-12)
    layer.backward(np.ones_like(x))
    assert layer.running_mean is None and layer.num_batches_tracked is None
    np.testing.assert_allclose(layer.eval()(x), expected, rtol=1e-12, atol=1e-12)
    assert list(layer.state_dict()) == ["weight", "bias"]


@pytest.mark.parametrize("momentum", [0.3, None])
def test_without_a_batch_count_the_count_stays_none(momentum):
    layer = _layer(momentum=momentum)
    layer.num_batches_tracked = None
    assert list(layer.state_dict()) == ["weight", "bias", "running_mean", "running_var"]
    mean, var = layer.running_mean.copy(), layer.running_var.copy()
    for seed in (5, 6):
        x = _x(seed=seed)
        layer(x)
        layer.backward(np.ones_like(x))
        # momentum=None is a cumulative average over the counted batches: with no count, the
        # batch weighs 0 and the statistics stay.
        mean, var = _running_update(mean, var, x, 0.0 if momentum is None else momentum)
        np.testing.assert_allclose(layer.running_mean, mean, rtol=1e-12)
        np.testing.assert_allclose(layer.running_var, var, rtol=1e-12)
    assert layer.num_batches_tracked is None


def test_momentum_none_with_a_count_is_the_cumulative_average():
    layer = _layer(momentum=None)
    batches = [_x(seed=seed) for seed in (7, 8, 9)]
    for x in batches:
        layer(x)
        layer.backward(np.ones_like(x))
    stacked_means = [x.mean(axis=(0, 2, 3)) for x in batches]
    np.testing.assert_allclose(layer.running_mean, np.mean(stacked_means, axis=0), rtol=1e-12)
    assert layer.num_batches_tracked == 3


def test_a_removed_weight_is_not_used_and_not_saved():
    layer = _layer()
    beta = layer.bias.data.copy()
    layer.weight = None
    x = _x()
    y = layer(x)
    np.testing.assert_allclose(y, _with_batch_stats(x, None, beta), rtol=1e-12, atol=1e-12)
    layer.backward(np.ones_like(y))
    assert list(layer.state_dict()) == ["bias", "running_mean", "running_var",
                                        "num_batches_tracked"]
    report = check_module(layer, _x(seed=10))
    assert set(report.errors) == {"input", "bias"} and report.ok(TOL), report


def test_removed_running_statistics_mean_batch_statistics_in_eval():
    layer = _layer().eval()
    layer.running_mean = layer.running_var = None
    x = _x()
    np.testing.assert_allclose(layer(x), _with_batch_stats(x, layer.weight.data,
                                                           layer.bias.data),
                               rtol=1e-12, atol=1e-12)
    assert check_module(layer, _x(seed=11)).ok(TOL)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_flags_keep_the_dtype(dtype):
    for kwargs in ({"affine": False}, {"track_running_stats": False},
                   {"affine": False, "track_running_stats": False}):
        layer = nn.BatchNorm2d(3, **kwargs).astype(dtype)
        x = _x().astype(dtype)
        for mode in (True, False):
            y = layer.train(mode)(x)
            assert y.dtype == dtype and layer.backward(np.ones_like(y)).dtype == dtype
