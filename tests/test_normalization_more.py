"""Local response, layer and group normalisation: ``F.local_response_norm_*``,
``F.layer_norm_*``, ``F.group_norm_*`` and ``nn.LocalResponseNorm``, ``nn.LayerNorm``,
``nn.GroupNorm``.

What is checked, under both engines:
- the forward pass against plain loops written from the definitions (LRN: one channel window
  at a time; layer norm: one row at a time; group norm: one sample and group at a time), in
  float64 and float32, for odd and even LRN sizes, windows wider than C, sizes 1, 1-D, 2-D and
  3-D positions, G = 1, G = C; and one LRN value computed by hand with PyTorch (α/size);
- every gradient (input, weight, bias) against float64 central differences, at the functional
  level and through the layers (``check_module``); a correct backward agrees to about 1e-9,
  the tests allow 1e-6; an LRN backward without its cross-channel term fails the check;
- state-dict keys as PyTorch's for each of ``bias=False``, ``elementwise_affine=False``,
  ``affine=False``; the same output in train() and eval(); dtypes kept; reprs;
- errors naming the layer: LRN on input of rank < 3 (ValueError "expected input of rank 3 or
  more"), an input not ending in ``normalized_shape``, channels not divisible by groups (at
  construction: "expected num_channels divisible by num_groups"), wrong channels, wrong
  dtype (TypeError), bad constructor arguments.
"""

import math

import numpy as np
import pytest

from minicnn import nn
from minicnn.gradcheck import check_module, numerical_gradient_array, relative_error

from engine_under_test import F

pytestmark = pytest.mark.usefixtures("each_engine")

TOL = 1e-6


def _x(shape, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * 1.5 + 0.3).astype(dtype)


# -- loop references -----------------------------------------------------------------------
def _loop_lrn(x, size, alpha, beta, k):
    """b[n, c, p] = a[n, c, p] / (k + α/size · Σ_{c' in window} a[n, c', p]²)^β, one by one."""
    n_, c_ = x.shape[:2]
    flat = x.reshape(n_, c_, -1)
    out = np.empty_like(flat)
    for n in range(n_):
        for c in range(c_):
            for p in range(flat.shape[2]):
                total = 0.0
                for other in range(c - size // 2, c + (size - 1) // 2 + 1):
                    if 0 <= other < c_:
                        total += float(flat[n, other, p]) ** 2
                out[n, c, p] = flat[n, c, p] / (k + alpha / size * total) ** beta
    return out.reshape(x.shape)


def _normalise(values, eps):
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / len(values)
    return [(v - mean) / math.sqrt(var + eps) for v in values]


def _loop_layer_norm(x, d, gamma, beta, eps=1e-5):
    """Each row of the last d axes normalised with plain sums, then γ·x̂ + β element-wise."""
    rows = x.reshape(-1, math.prod(x.shape[x.ndim - d:]))
    out = np.array([_normalise(list(row), eps) for row in rows]).reshape(x.shape)
    return out * gamma + beta


def _loop_group_norm(x, groups, gamma, beta, eps=1e-5):
    out = np.empty_like(x)
    per = x.shape[1] // groups
    for n in range(x.shape[0]):
        for g in range(groups):
            block = x[n, g * per:(g + 1) * per]
            out[n, g * per:(g + 1) * per] = np.array(
                _normalise(list(block.reshape(-1)), eps)).reshape(block.shape)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return out * gamma.reshape(shape) + beta.reshape(shape)


# -- local response norm: values ------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("shape", [(2, 6, 3, 4), (2, 4, 5), (1, 3, 2, 2, 2)])
def test_lrn_forward_matches_the_loop(size, shape):
    x = _x(shape)
    out, _ = F.local_response_norm_forward(x, size, alpha=0.3, beta=0.8, k=1.5)
    np.testing.assert_allclose(out, _loop_lrn(x, size, 0.3, 0.8, 1.5), rtol=1e-13, atol=1e-13)


def test_lrn_divides_alpha_by_size_as_pytorch():
    # Computed by hand with torch.nn.LocalResponseNorm(2, alpha=1., beta=1., k=1.) on
    # [[[1], [2], [3]]] in float64: the window of channel c is [c − 1, c], and α/size = 1/2.
    x = np.array([[[1.0], [2.0], [3.0]]])
    out = nn.LocalResponseNorm(2, alpha=1.0, beta=1.0, k=1.0)(x.astype(np.float32))
    np.testing.assert_allclose(out.reshape(-1), [0.6666666666666666, 0.5714285714285714, 0.4],
                               rtol=1e-6)


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-13)])
def test_lrn_layer_keeps_the_dtype_and_matches_the_loop(dtype, rtol):
    x = _x((2, 5, 3, 3), dtype=dtype)
    out = nn.LocalResponseNorm(3, alpha=0.5, beta=0.75, k=2.0)(x)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, _loop_lrn(x.astype(np.float64), 3, 0.5, 0.75, 2.0),
                               rtol=rtol, atol=rtol)
    assert nn.LocalResponseNorm(5)(np.zeros((0, 3, 2, 2), dtype)).shape == (0, 3, 2, 2)


# -- local response norm: gradients ---------------------------------------------------------
@pytest.mark.parametrize("size", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("shape", [(2, 5, 3, 2), (2, 4, 3)])
def test_lrn_backward_matches_central_differences(size, shape):
    x = _x(shape, seed=1)
    params = dict(size=size, alpha=0.9, beta=0.7, k=1.2)  # α large: the cross term matters
    out, cache = F.local_response_norm_forward(x, **params)
    dout = _x(out.shape, seed=2)
    dx = F.local_response_norm_backward(dout, cache)
    numeric = numerical_gradient_array(lambda z: F.local_response_norm_forward(z, **params)[0],
                                       x, dout)
    assert relative_error(dx, numeric) < TOL


def test_lrn_backward_without_the_cross_channel_term_fails_the_check():
    x = _x((2, 5, 3, 2), seed=1)
    out, cache = F.local_response_norm_forward(x, 3, 0.9, 0.7, 1.2)
    dout = _x(out.shape, seed=2)
    denominator = cache[1]
    naive_dx = dout * denominator ** -0.7  # treats D as a constant
    numeric = numerical_gradient_array(
        lambda z: F.local_response_norm_forward(z, 3, 0.9, 0.7, 1.2)[0], x, dout)
    assert relative_error(naive_dx, numeric) > 1e-2


def test_lrn_layer_gradient_check():
    layer = nn.LocalResponseNorm(5, alpha=0.5, beta=0.75, k=2.0)
    report = check_module(layer, _x((2, 7, 3, 3), seed=3))
    assert set(report.errors) == {"input"} and report.ok(TOL), report


# -- layer norm ----------------------------------------------------------------------------
@pytest.mark.parametrize("shape, normalized_shape", [
    ((4, 5), 5), ((2, 3, 4), (4,)), ((2, 5, 3, 4), (3, 4)), ((2, 3, 2, 2), (3, 2, 2)),
    ((3, 1), 1)])
@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_layer_norm_forward_matches_the_loop(shape, normalized_shape, dtype, rtol):
    layer = nn.LayerNorm(normalized_shape).astype(dtype)
    rng = np.random.default_rng(4)
    layer.weight.data[...] = rng.uniform(0.5, 1.5, layer.weight.shape)
    layer.bias.data[...] = rng.standard_normal(layer.bias.shape)
    x = _x(shape, dtype=dtype)
    out = layer(x)
    assert out.dtype == dtype
    expected = _loop_layer_norm(x.astype(np.float64), len(layer.normalized_shape),
                                layer.weight.data.astype(np.float64),
                                layer.bias.data.astype(np.float64))
    np.testing.assert_allclose(out, expected, rtol=rtol, atol=rtol)
    np.testing.assert_array_equal(layer.eval()(x), out)  # no running statistics


@pytest.mark.parametrize("kwargs, keys", [
    ({}, ["weight", "bias"]), ({"bias": False}, ["weight"]),
    ({"elementwise_affine": False}, []), ({"elementwise_affine": False, "bias": False}, [])])
def test_layer_norm_state_dict_keys_and_gradients(kwargs, keys):
    layer = nn.LayerNorm((3, 4), **kwargs)
    assert list(layer.state_dict()) == keys
    assert all(layer.state_dict()[key].shape == (3, 4) for key in keys)
    if "weight" in keys:
        np.testing.assert_array_equal(layer.weight.data, np.ones((3, 4), np.float32))
        layer.weight.data[...] = np.random.default_rng(5).uniform(0.5, 1.5, (3, 4))
    if "bias" in keys:
        np.testing.assert_array_equal(layer.bias.data, np.zeros((3, 4), np.float32))
    report = check_module(layer, _x((2, 2, 3, 4), seed=6))
    assert set(report.errors) == {"input", *keys} and report.ok(TOL), report


def test_layer_norm_functional_gradients_match_central_differences():
    x, shape = _x((3, 2, 5), seed=7), (2, 5)
    gamma, beta = _x(shape, seed=8), _x(shape, seed=9)
    out, cache = F.layer_norm_forward(x, shape, gamma, beta)
    dout = _x(out.shape, seed=10)
    dx, dgamma, dbeta = F.layer_norm_backward(dout, cache)

    def forward(x=x, gamma=gamma, beta=beta):
        return F.layer_norm_forward(x, shape, gamma, beta)[0]
    assert relative_error(dx, numerical_gradient_array(lambda z: forward(x=z), x, dout)) < TOL
    assert relative_error(dgamma, numerical_gradient_array(
        lambda z: forward(gamma=z), gamma.copy(), dout)) < TOL
    assert relative_error(dbeta, numerical_gradient_array(
        lambda z: forward(beta=z), beta.copy(), dout)) < TOL
    assert F.layer_norm_backward(dout, cache, need_dgamma=False, need_dbeta=False)[1:] == (
        None, None)


def test_layer_norm_errors_name_the_layer():
    layer = nn.LayerNorm((3, 4))
    with pytest.raises(ValueError, match=r"^LayerNorm\(\(3, 4\)\): expected input of shape "
                                         r"\(\*, 3, 4\) .*got shape \(2, 4, 3\)$"):
        layer(np.zeros((2, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"^LayerNorm\(\(3, 4\)\): expected input of shape"):
        layer(np.zeros(4, np.float32))
    with pytest.raises(TypeError, match=r"^LayerNorm\(\(3, 4\)\): expected input of dtype "
                                        r"float32 \(the layer's parameters\), got float64"):
        layer(np.zeros((2, 3, 4)))
    with pytest.raises(TypeError, match=r"^LayerNorm\(\(3, 4\)\): expected input of dtype "
                                        r"float32 or float64, got int64"):
        layer(np.zeros((2, 3, 4), np.int64))
    with pytest.raises(TypeError, match=r"^LayerNorm: expected normalized_shape as an int or "
                                        r"a non-empty tuple of ints, got 2.0"):
        nn.LayerNorm(2.0)
    with pytest.raises(TypeError, match="non-empty tuple"):
        nn.LayerNorm(())
    with pytest.raises(ValueError, match=r"^LayerNorm: expected normalized_shape of sizes >= 1"):
        nn.LayerNorm((3, 0))
    with pytest.raises(ValueError, match=r"^LayerNorm: expected eps > 0, got 0"):
        nn.LayerNorm(3, eps=0)


# -- group norm ----------------------------------------------------------------------------
@pytest.mark.parametrize("groups", [1, 2, 3, 6])
@pytest.mark.parametrize("shape", [(3, 6, 2, 3), (2, 6), (2, 6, 5)])
@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_group_norm_forward_matches_the_loop(groups, shape, dtype, rtol):
    layer = nn.GroupNorm(groups, 6).astype(dtype)
    rng = np.random.default_rng(11)
    layer.weight.data[...] = rng.uniform(0.5, 1.5, 6)
    layer.bias.data[...] = rng.standard_normal(6)
    x = _x(shape, dtype=dtype)
    out = layer(x)
    assert out.dtype == dtype
    expected = _loop_group_norm(x.astype(np.float64), groups,
                                layer.weight.data.astype(np.float64),
                                layer.bias.data.astype(np.float64))
    np.testing.assert_allclose(out, expected, rtol=rtol, atol=rtol)
    np.testing.assert_array_equal(layer.eval()(x), out)


@pytest.mark.parametrize("groups", [1, 2, 4])
@pytest.mark.parametrize("kwargs, keys", [
    ({}, ["weight", "bias"]), ({"bias": False}, ["weight"]), ({"affine": False}, [])])
def test_group_norm_state_dict_keys_and_gradients(groups, kwargs, keys):
    layer = nn.GroupNorm(groups, 4, **kwargs)
    assert list(layer.state_dict()) == keys
    assert all(layer.state_dict()[key].shape == (4,) for key in keys)
    if "weight" in keys:
        layer.weight.data[...] = np.random.default_rng(12).uniform(0.5, 1.5, 4)
    report = check_module(layer, _x((2, 4, 3, 2), seed=13))
    assert set(report.errors) == {"input", *keys} and report.ok(TOL), report


def test_group_norm_functional_gradients_match_central_differences():
    x = _x((2, 6, 2, 3), seed=14)
    gamma, beta = _x((6,), seed=15), _x((6,), seed=16)
    out, cache = F.group_norm_forward(x, 3, gamma, beta)
    dout = _x(out.shape, seed=17)
    dx, dgamma, dbeta = F.group_norm_backward(dout, cache)

    def forward(x=x, gamma=gamma, beta=beta):
        return F.group_norm_forward(x, 3, gamma, beta)[0]
    assert relative_error(dx, numerical_gradient_array(lambda z: forward(x=z), x, dout)) < TOL
    assert relative_error(dgamma, numerical_gradient_array(
        lambda z: forward(gamma=z), gamma.copy(), dout)) < TOL
    assert relative_error(dbeta, numerical_gradient_array(
        lambda z: forward(beta=z), beta.copy(), dout)) < TOL


def test_group_norm_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"^GroupNorm: expected num_channels divisible by "
                                         r"num_groups, got num_channels=4 and num_groups=3$"):
        nn.GroupNorm(3, 4)
    with pytest.raises(ValueError, match=r"^GroupNorm: expected num_groups >= 1, got 0"):
        nn.GroupNorm(0, 4)
    with pytest.raises(TypeError, match=r"^GroupNorm: expected num_channels as an int"):
        nn.GroupNorm(2, 4.0)
    layer = nn.GroupNorm(2, 4)
    with pytest.raises(ValueError, match=r"^GroupNorm\(2, 4\): expected input with 4 channels "
                                         r"\(N, 4, \*\), got shape \(2, 6, 3\)$"):
        layer(np.zeros((2, 6, 3), np.float32))
    with pytest.raises(ValueError, match=r"^GroupNorm\(2, 4\): expected input of rank 2 or "
                                         r"more, \(N, 4, \*\), got shape \(4,\)$"):
        layer(np.zeros(4, np.float32))
    with pytest.raises(TypeError, match=r"^GroupNorm\(2, 4\): expected input of dtype float32 "
                                        r"\(the layer's parameters\)"):
        layer(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"^group_norm_forward: expected input channels "
                                         r"divisible by num_groups=4, got shape \(2, 6\)$"):
        F.group_norm_forward(np.zeros((2, 6)), 4)


# -- LRN errors and reprs ------------------------------------------------------------------
def test_lrn_errors_name_the_layer():
    layer = nn.LocalResponseNorm(5)
    with pytest.raises(ValueError, match=r"^LocalResponseNorm\(5\): expected input of rank 3 "
                                         r"or more, .*got shape \(2, 3\)$"):
        layer(np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match=r"^LocalResponseNorm\(5\): expected input as a "
                                        r"numpy.ndarray, got list"):
        layer([[[1.0]]])
    with pytest.raises(ValueError, match=r"^LocalResponseNorm: expected size >= 1, got 0"):
        nn.LocalResponseNorm(0)
    with pytest.raises(TypeError, match=r"^LocalResponseNorm: expected beta as a number, "
                                        r"got '1'"):
        nn.LocalResponseNorm(3, beta="1")


def test_reprs_are_pytorch_s():
    assert repr(nn.LocalResponseNorm(5)) == "LocalResponseNorm(5, alpha=0.0001, beta=0.75, k=1.0)"
    assert repr(nn.LayerNorm(4)) == ("LayerNorm((4,), eps=1e-05, elementwise_affine=True, "
                                     "bias=True)")
    assert repr(nn.GroupNorm(2, 4)) == "GroupNorm(2, 4, eps=1e-05, affine=True, bias=True)"
