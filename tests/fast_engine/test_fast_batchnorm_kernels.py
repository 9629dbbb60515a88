"""The fused batch-norm kernels (``minicnn/fast/kernels/batchnorm.py``) against the definition.

What is checked:
- forward (μ, σ², 1/σ, x̂, y) and backward (dx, dγ, dβ) of the kernels, called directly on
  (N, C, L) views of 2-D, 3-D and 4-D inputs, odd sizes, a batch of 1 with H·W > 1, channel
  groups that do not divide the channels, with and without γ, against a plain NumPy
  reference in float64 written from the definition: the
  variance as the mean squared deviation, and dx by the long chain rule through σ² and μ
  (not the compact formula the kernel uses). float64 agrees to ~1e-15 relative (tolerance
  1e-12), float32 to a few roundings (tolerance 1e-5, against the float64 reference of the
  same float32 values);
- ``batch_norm_forward/backward`` take the kernels for 3-D and 4-D C-contiguous input in
  training and NumPy otherwise, and return the same values, dtypes and cache layout either way;
- float32 data with a large mean, x = 1000 + randn: the kernels keep σ² to ~1e-7 and x̂ to
  ~2e-7, where NumPy's float32 mean leaves x̂ off by ~1e-4 and the one-pass variance
  Σx²/m − μ² in float32 is off by ~10%. The test shows both of those would fail it;
- a NaN in one channel makes that channel NaN and leaves the others alone (the kernels'
  fastmath flags allow reordering sums, not ignoring NaN).
No timing here: speed is measured in the benchmarks.
"""

import numpy as np
import pytest

import minicnn.fast.normalization as normalization
from minicnn.fast import kernels
from minicnn.fast import ops as F

EPS = 1e-5
# (shape, as the functional API sees it). 2-D runs are a single value (L = 1). The kernels take
# channels in groups (a quarter of them per task at most): (7, 5) and (4, 10, 8, 8) end with a
# shorter group.
SHAPES = [(7, 5), (6, 3, 1), (3, 4, 5), (2, 3, 5, 7), (1, 3, 4, 5), (5, 3, 3, 7), (4, 2, 1, 1),
          (4, 10, 8, 8)]


def _data(shape, seed=0, dtype=np.float64, mean=0.0):
    """x with a different offset and scale per channel, and a random upstream gradient."""
    rng = np.random.default_rng(seed)
    c = shape[1]
    per_channel = (1, c) + (1,) * (len(shape) - 2)
    offset = 3.0 * np.arange(c).reshape(per_channel)
    scale = (1.0 + np.arange(c)).reshape(per_channel)
    x = mean + offset + scale * rng.standard_normal(shape)
    dout = rng.standard_normal(shape) + 0.5
    gamma = rng.uniform(0.5, 2.0, c) * rng.choice([-1, 1], c)
    beta = rng.standard_normal(c)
    return (x.astype(dtype), dout.astype(dtype), gamma.astype(dtype), beta.astype(dtype))


def _reference(x, dout, gamma, beta, eps=EPS):
    """Batch norm by its definition, in float64, one channel at a time.

    Backward by the long chain rule, as derived before simplifying:
        dx̂ = γ·dout
        dσ² = Σ dx̂·(x − μ) · (−½)(σ² + ε)^(−3/2)
        dμ = −Σ dx̂ / √(σ² + ε) + dσ² · (−2/m) Σ (x − μ)
        dx = dx̂ / √(σ² + ε) + dσ² · 2(x − μ)/m + dμ/m
    """
    x, dout = x.astype(np.float64), dout.astype(np.float64)
    g = np.ones(x.shape[1]) if gamma is None else gamma.astype(np.float64)
    b = np.zeros(x.shape[1]) if beta is None else beta.astype(np.float64)
    out = {name: np.empty(x.shape) for name in ("x_hat", "y", "dx")}
    for name in ("mean", "var", "inv_std", "dgamma", "dbeta"):
        out[name] = np.empty(x.shape[1])
    for c in range(x.shape[1]):
        values, grads = x[:, c], dout[:, c]
        m = values.size
        mu = values.sum() / m
        var = ((values - mu) ** 2).sum() / m
        std = np.sqrt(var + eps)
        x_hat = (values - mu) / std
        dx_hat = g[c] * grads
        dvar = (dx_hat * (values - mu)).sum() * -0.5 * std ** -3
        dmu = -dx_hat.sum() / std + dvar * (-2.0 / m) * (values - mu).sum()
        out["mean"][c], out["var"][c], out["inv_std"][c] = mu, var, 1 / std
        out["x_hat"][:, c] = x_hat
        out["y"][:, c] = g[c] * x_hat + b[c]
        out["dx"][:, c] = dx_hat / std + dvar * 2 * (values - mu) / m + dmu / m
        out["dgamma"][c] = (grads * x_hat).sum()
        out["dbeta"][c] = grads.sum()
    return out


def _run_kernels(x, dout, gamma, beta):
    """Both kernels on the (N, C, L) views, outputs allocated here as the functional API does."""
    n, c = x.shape[:2]
    x3, dout3 = x.reshape(n, c, -1), dout.reshape(n, c, -1)
    x_hat = np.empty_like(x3)
    y = None if gamma is None else np.empty_like(x3)
    mean, var, inv_std = np.empty((3, c))
    kernels.batch_norm_train_forward_kernel(x3, gamma, beta, EPS, x_hat, y, mean, var, inv_std)
    scale = inv_std * (1.0 if gamma is None else gamma.astype(np.float64))
    dx = np.empty_like(dout3)
    dgamma, dbeta = np.empty((2, c))
    kernels.batch_norm_train_backward_kernel(dout3, x_hat, scale, dx, dgamma, dbeta)
    out = {"mean": mean, "var": var, "inv_std": inv_std, "x_hat": x_hat.reshape(x.shape),
           "dx": dx.reshape(x.shape), "dgamma": dgamma, "dbeta": dbeta}
    if y is not None:
        out["y"] = y.reshape(x.shape)
    return out


def _assert_close(got, expected, rtol):
    """Each array within rtol of the reference, relative to the reference's largest entry."""
    for name, value in got.items():
        reference = expected[name]
        error = np.abs(value.astype(np.float64) - reference).max()
        assert error <= rtol * max(np.abs(reference).max(), 1.0), (name, error)


# -- the kernels against the definition ---------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)],
                         ids=["float64", "float32"])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "no-gamma"])
def test_kernels_match_the_definition(shape, dtype, rtol, affine):
    x, dout, gamma, beta = _data(shape, dtype=dtype)
    if not affine:
        gamma = beta = None
    got = _run_kernels(x, dout, gamma, beta)
    assert all(got[name].dtype == dtype for name in ("x_hat", "dx"))
    _assert_close(got, _reference(x, dout, gamma, beta), rtol)


def test_the_comparison_can_fail():
    """A kernel that forgot the chain rule through μ and σ (dx = dout·γ/σ) is caught."""
    x, dout, gamma, beta = _data((2, 3, 5, 7))
    got = _run_kernels(x, dout, gamma, beta)
    got["dx"] = dout * (gamma * got["inv_std"]).reshape(1, 3, 1, 1)
    with pytest.raises(AssertionError, match="dx"):
        _assert_close(got, _reference(x, dout, gamma, beta), 1e-5)


# -- the functional API: which path, same results -----------------------------------------------
@pytest.fixture
def kernel_calls(monkeypatch):
    """Counts the calls of each fused kernel made through the fast engine."""
    calls = {"forward": 0, "backward": 0}

    class Spy:
        def __getattr__(self, name):
            return getattr(kernels, name)

        def batch_norm_train_forward_kernel(self, *args):
            calls["forward"] += 1
            return kernels.batch_norm_train_forward_kernel(*args)

        def batch_norm_train_backward_kernel(self, *args):
            calls["backward"] += 1
            return kernels.batch_norm_train_backward_kernel(*args)

    monkeypatch.setattr(normalization, "kernels", Spy())
    return calls


def _forward_backward(x, dout, gamma, beta):
    running_mean = np.zeros(x.shape[1], x.dtype)
    running_var = np.ones(x.shape[1], x.dtype)
    y, cache = F.batch_norm_forward(x, gamma, beta, running_mean, running_var, training=True)
    dx, dgamma, dbeta = F.batch_norm_backward(dout, cache)
    return y, cache, dx, dgamma, dbeta, running_mean, running_var


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_functional_gives_the_same_results_on_both_paths(shape, dtype, kernel_calls,
                                                        monkeypatch):
    x, dout, gamma, beta = _data(shape, dtype=dtype)
    run_length = x.size // (x.shape[0] * x.shape[1])
    fused = _forward_backward(x, dout, gamma, beta)
    assert kernel_calls == ({"forward": 1, "backward": 1} if run_length >= 2 else
                            {"forward": 0, "backward": 0})
    monkeypatch.setattr(normalization, "_use_fused_kernels", lambda *arrays: False)
    plain = _forward_backward(x, dout, gamma, beta)
    def flat(result):  # y, x̂, γ, 1/σ, dx, dγ, dβ, running
        y, (x_hat, gamma, _, inv_std, _), *rest = result
        return [y, x_hat, gamma, inv_std, *rest]

    fused_flat, plain_flat = flat(fused), flat(plain)
    assert fused[1][4] is plain[1][4] is True  # used batch statistics
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    for got, expected in zip(fused_flat, plain_flat, strict=True):
        assert type(got) is type(expected) and got.shape == expected.shape
        assert got.dtype == expected.dtype == dtype
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol)


def test_functional_without_gamma_returns_x_hat_as_y_and_no_parameter_gradients(kernel_calls):
    x, dout, _, _ = _data((3, 4, 5))
    y, cache = F.batch_norm_forward(x, None, None, None, None, training=True)
    assert y is cache[0] and cache[1] is None
    dx, dgamma, dbeta = F.batch_norm_backward(dout, cache)
    assert dgamma is None and dbeta is None
    assert kernel_calls == {"forward": 1, "backward": 1}
    np.testing.assert_allclose(dx, _reference(x, dout, None, None)["dx"], rtol=1e-12,
                               atol=1e-12)


def test_strided_input_and_evaluation_take_the_numpy_path(kernel_calls):
    x, dout, gamma, beta = _data((4, 3, 6, 5))
    strided = x[:, :, ::2]
    y, cache = F.batch_norm_forward(strided, gamma, beta, None, None, training=True)
    F.batch_norm_forward(x, gamma, beta, np.zeros(3), np.ones(3), training=False)
    assert kernel_calls["forward"] == 0
    np.testing.assert_allclose(y, _reference(strided, dout[:, :, ::2], gamma, beta)["y"],
                               rtol=1e-12, atol=1e-12)
    dx, _, _ = F.batch_norm_backward(dout[:, :, ::2], cache)  # a strided gradient: NumPy too
    assert kernel_calls["backward"] == 0
    np.testing.assert_allclose(dx, _reference(strided, dout[:, :, ::2], gamma, beta)["dx"],
                               rtol=1e-12, atol=1e-12)


# -- accuracy on hard data ----------------------------------------------------------------------
def test_float32_with_a_large_mean_keeps_the_variance_and_x_hat_accurate():
    x, dout, gamma, beta = _data((8, 3, 5, 7), dtype=np.float32, mean=1000.0)
    reference = _reference(x, dout, gamma, beta)  # float64, from the same float32 values
    got = _run_kernels(x, dout, gamma, beta)
    var_error = np.abs(got["var"] / reference["var"] - 1).max()
    x_hat_error = np.abs(got["x_hat"] - reference["x_hat"]).max()
    assert var_error < 1e-6 and x_hat_error < 2e-6, (var_error, x_hat_error)  # ~1e-8, ~2e-7

    # What the test guards against: x − μ with μ rounded to float32, as NumPy's float32 path
    # computes it, and the one-pass variance in float32.
    mean32 = x.mean(axis=(0, 2, 3), dtype=np.float32).reshape(1, 3, 1, 1)
    naive_x_hat = (x - mean32) * got["inv_std"].astype(np.float32).reshape(1, 3, 1, 1)
    assert np.abs(naive_x_hat - reference["x_hat"]).max() > 20 * 2e-6
    one_pass_var = (x * x).mean(axis=(0, 2, 3), dtype=np.float32) - mean32.ravel() ** 2
    assert np.abs(one_pass_var / reference["var"] - 1).max() > 1e-2


def test_functional_float32_large_mean_is_accurate_through_the_layer_api():
    x, dout, gamma, beta = _data((8, 3, 5, 7), dtype=np.float32, mean=1000.0)
    y, cache = F.batch_norm_forward(x, gamma, beta, None, None, training=True)
    reference = _reference(x, dout, gamma, beta)
    assert np.abs(cache[0] - reference["x_hat"]).max() < 2e-6
    dx, dgamma, dbeta = F.batch_norm_backward(dout, cache)
    _assert_close({"y": y, "dx": dx, "dgamma": dgamma, "dbeta": dbeta}, reference, 1e-5)


def test_a_nan_spoils_its_own_channel_only():
    x, dout, gamma, beta = _data((3, 3, 4, 4), dtype=np.float32)
    x[1, 1, 2, 3] = np.nan
    got = _run_kernels(x, dout, gamma, beta)
    assert np.isnan(got["y"][:, 1]).all() and np.isnan(got["dx"][:, 1]).all()
    assert np.isnan(got["mean"][1]) and np.isnan(got["dgamma"][1])
    for c in (0, 2):
        assert np.isfinite(got["y"][:, c]).all() and np.isfinite(got["dx"][:, c]).all()
