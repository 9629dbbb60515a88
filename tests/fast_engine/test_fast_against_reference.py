"""Every operation of the fast engine against the reference it replaces.

``minicnn.fast.ops`` holds every name of ``minicnn.functional``; the twelve it computes its own way
(``FAST_OPERATIONS``) give the reference's forward and backward on a grid of shapes: float64 to
1e-12 relative, float32 to 1e-5, same dtypes and shapes. A cache handed to the other engine's
backward is an error, not a wrong gradient.
"""

import numpy as np
import pytest

import minicnn
from minicnn import functional as R
from minicnn.fast import ops as F

TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}


def _rng(seed=0):
    return np.random.default_rng(seed)


def _assert_same(fast, reference, dtype):
    fast = fast if isinstance(fast, tuple) else (fast,)
    reference = reference if isinstance(reference, tuple) else (reference,)
    assert len(fast) == len(reference)
    for got, expected in zip(fast, reference, strict=True):
        if expected is None:
            assert got is None
            continue
        assert got.dtype == expected.dtype == dtype and got.shape == expected.shape
        scale = max(np.abs(expected).max(initial=0.0), 1.0)
        tol = TOLERANCE[dtype]
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol * scale)


def _compare(forward, backward, args, kwargs, dtype, seed=0):
    """Forward by both engines, then backward of the same random dout by both."""
    out_fast, cache_fast = getattr(F, forward)(*args, **kwargs)
    out_ref, cache_ref = getattr(R, forward)(*args, **kwargs)
    _assert_same(out_fast, out_ref, dtype)
    dout = _rng(seed).standard_normal(out_ref.shape).astype(dtype)
    _assert_same(getattr(F, backward)(dout, cache_fast), getattr(R, backward)(dout, cache_ref),
                 dtype)


def test_the_fast_namespace_has_every_reference_operation():
    assert set(R.__all__) <= set(dir(F))
    for name in R.__all__:
        if name not in F.FAST_OPERATIONS:
            assert getattr(F, name) is getattr(R, name)
    for name in F.FAST_OPERATIONS:
        assert getattr(F, name) is not getattr(R, name)
        assert f"minicnn.functional.{name}" in getattr(F, name).__doc__  # says what it replaces


CONV_CASES = [  # x shape, w shape, stride, padding, method
    ((2, 3, 7, 6), (4, 3, 3, 3), 1, 1, "auto"),
    ((3, 2, 9, 8), (5, 2, 3, 2), (2, 3), ((1, 0), (2, 1)), "im2col"),
    ((2, 2, 6, 7), (3, 2, 3, 3), 1, ((0, 1), (1, 2)), "direct"),
    ((4, 1, 10, 10), (6, 1, 5, 5), 1, 2, "batch_last"),
    ((2, 20, 5, 5), (40, 20, 1, 1), 1, 0, "auto"),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x_shape, w_shape, stride, padding, method", CONV_CASES)
def test_conv2d(x_shape, w_shape, stride, padding, method, dtype):
    rng = _rng(1)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    out_fast, cache_fast = F.conv2d_forward(x, w, b, stride, padding, method=method)
    out_ref, cache_ref = R.conv2d_forward(x, w, b, stride, padding)
    _assert_same(out_fast, out_ref, dtype)
    dout = rng.standard_normal(out_ref.shape).astype(dtype)
    _assert_same(F.conv2d_backward(dout, cache_fast), R.conv2d_backward(dout, cache_ref), dtype)
    _assert_same(F.conv2d_backward(dout, cache_fast, need_dx=False, need_db=False),
                 R.conv2d_backward(dout, cache_ref, need_dx=False, need_db=False), dtype)


POOL_CASES = [  # x shape, kernel, stride, padding
    ((2, 3, 8, 8), 2, None, 0),
    ((2, 2, 9, 7), 3, 2, 1),
    ((1, 2, 7, 8), (2, 3), (1, 2), (1, 1)),
    ((2, 1, 6, 6), 3, 1, 0),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x_shape, kernel, stride, padding", POOL_CASES)
def test_max_pool2d(x_shape, kernel, stride, padding, dtype):
    x = _rng(2).standard_normal(x_shape).astype(dtype)
    x[0, 0, :2, :2] = x[0, 0, 0, 0]  # ties: both route to the first maximum
    _compare("max_pool2d_forward", "max_pool2d_backward", (x, kernel, stride, padding), {},
             dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("x_shape, kernel, stride, padding", POOL_CASES)
def test_avg_pool2d(x_shape, kernel, stride, padding, count_include_pad, dtype):
    x = _rng(3).standard_normal(x_shape).astype(dtype)
    _compare("avg_pool2d_forward", "avg_pool2d_backward", (x, kernel, stride, padding,
                                                             count_include_pad), {}, dtype)


def test_max_pool2d_with_nan_agrees():
    x = _rng(4).standard_normal((1, 2, 6, 6))
    x[0, 0, 1, 1] = x[0, 1, 4, 5] = np.nan
    out_fast, _ = F.max_pool2d_forward(x, 2)
    out_ref, _ = R.max_pool2d_forward(x, 2)
    np.testing.assert_array_equal(out_fast, out_ref)  # NaN where a window holds one
    assert np.isnan(out_ref).sum() == 2


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(7, 5), (3, 4, 5), (2, 3, 5, 7), (16, 6, 4, 4)])
def test_relu(shape, dtype):
    x = _rng(5).standard_normal(shape).astype(dtype)
    x.flat[:3] = [0.0, -0.0, np.nan]
    out_fast, cache_fast = F.relu_forward(x)
    out_ref, cache_ref = R.relu_forward(x)
    np.testing.assert_array_equal(out_fast, out_ref)
    dout = _rng(6).standard_normal(shape).astype(dtype)
    dout.flat[3] = np.nan  # on an active or inactive unit: both engines select
    np.testing.assert_array_equal(F.relu_backward(dout, cache_fast),
                                  R.relu_backward(dout, cache_ref))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(7, 5), (3, 4, 5), (2, 3, 5, 7), (4, 10, 8, 8)])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm(shape, affine, training, dtype):
    rng = _rng(7)
    c = shape[1]
    x = (3 + 2 * rng.standard_normal(shape)).astype(dtype)
    gamma, beta = ((rng.uniform(0.5, 2, c).astype(dtype), rng.standard_normal(c).astype(dtype))
                   if affine else (None, None))
    running = (rng.standard_normal(c).astype(dtype), rng.uniform(0.5, 2, c).astype(dtype))
    dout = rng.standard_normal(shape).astype(dtype)
    stats = {}
    for engine, ops in (("fast", F), ("reference", R)):
        mean, var = running[0].copy(), running[1].copy()  # updated in place in training
        out, cache = ops.batch_norm_forward(x, gamma, beta, mean, var, training=training)
        stats[engine] = [mean, var, out, *ops.batch_norm_backward(dout, cache)]
    for got, expected in zip(stats["fast"], stats["reference"], strict=True):
        _assert_same(got, expected, dtype)


CROSS_ENTROPY_CASES = [  # label smoothing, reduction, ignored labels: the fast path and the rest
    (0.0, "mean", False), (0.1, "mean", False), (0.0, "sum", False), (0.25, "none", False),
    (0.0, "mean", True), (0.1, "none", True),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("label_smoothing, reduction, some_ignored", CROSS_ENTROPY_CASES)
def test_cross_entropy(label_smoothing, reduction, some_ignored, dtype):
    rng = _rng(8)
    logits = (4 * rng.standard_normal((9, 5))).astype(dtype)
    labels = rng.integers(0, 5, 9)
    if some_ignored:
        labels[[2, 7]] = -100  # PyTorch's default ignore_index: the reference's case
    kwargs = {"reduction": reduction, "label_smoothing": label_smoothing}
    loss_fast, cache_fast = F.cross_entropy_forward(logits, labels, **kwargs)
    loss_ref, cache_ref = R.cross_entropy_forward(logits, labels, **kwargs)
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(loss_fast, loss_ref, rtol=tol)
    dout = rng.standard_normal(9).astype(dtype) if reduction == "none" else 0.7
    _assert_same(F.cross_entropy_backward(dout, cache_fast),
                 R.cross_entropy_backward(dout, cache_ref), dtype)
    from minicnn.fast import loss as fast_loss
    expected = fast_loss.ReferenceLossCache if some_ignored else fast_loss.CrossEntropyCache
    assert type(cache_fast) is expected  # plain labels take the short path


def test_cross_entropy_hands_other_targets_to_the_reference():
    rng = _rng(9)
    logits = rng.standard_normal((4, 3, 2, 2))  # a class per pixel
    labels = rng.integers(0, 3, (4, 2, 2))
    probabilities = rng.dirichlet(np.ones(3), 4)
    weight = np.array([1.0, 2.0, 0.5])
    for args, kwargs in (((logits, labels), {}), ((logits[:, :, 0, 0], probabilities), {}),
                         ((logits[:, :, 0, 0], labels[:, 0, 0]), {"weight": weight})):
        loss_fast, cache_fast = F.cross_entropy_forward(*args, **kwargs)
        loss_ref, cache_ref = R.cross_entropy_forward(*args, **kwargs)
        assert loss_fast == loss_ref
        np.testing.assert_array_equal(F.cross_entropy_backward(1.0, cache_fast),
                                      R.cross_entropy_backward(1.0, cache_ref))


def test_cross_entropy_errors_are_the_references():
    logits = np.zeros((3, 4))
    for labels, match in ((np.array([0, 4, 1]), "expected labels in"),
                          (np.array([0, 1]), "expected labels of shape")):
        for ops in (F, R):
            with pytest.raises(ValueError, match=match):
                ops.cross_entropy_forward(logits, labels)
    with pytest.raises(ValueError, match="finite"):
        F.cross_entropy_forward(np.array([[0.0, np.inf]]), np.array([0]))


@pytest.mark.parametrize("forward, backward, args", [
    ("conv2d_forward", "conv2d_backward", (np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)))),
    ("max_pool2d_forward", "max_pool2d_backward", (np.ones((1, 1, 4, 4)), 2)),
    ("avg_pool2d_forward", "avg_pool2d_backward", (np.ones((1, 1, 4, 4)), 2)),
    ("cross_entropy_forward", "cross_entropy_backward", (np.ones((3, 4)), np.arange(3))),
])
def test_a_cache_works_only_with_the_engine_that_made_it(forward, backward, args):
    out, fast_cache = getattr(F, forward)(*args)
    _, reference_cache = getattr(R, forward)(*args)
    with pytest.raises(TypeError, match="a cache works only with the engine that made it"):
        getattr(F, backward)(np.ones_like(out), reference_cache)
    with pytest.raises(TypeError):  # the reference cannot unpack the fast engine's record
        getattr(R, backward)(np.ones_like(out), fast_cache)


def test_layers_agree_between_engines_under_no_grad():
    minicnn.manual_seed(0)
    model = minicnn.models.lenet5()
    x = _rng(9).standard_normal((8, 1, 28, 28)).astype(np.float32)
    with minicnn.no_grad():
        fast = model(x)
        with minicnn.engine("reference"):
            reference = model(x)
    _assert_same(fast, reference, np.float32)


OPTION_CASES = [  # x shape, w shape, stride, padding, dilation, groups, method
    ((2, 4, 7, 6), (6, 2, 3, 3), 1, 1, 1, 2, "auto"),
    ((2, 4, 7, 6), (6, 2, 3, 3), 2, 1, 1, 2, "im2col"),
    ((2, 4, 7, 6), (4, 2, 3, 2), 1, "same", 1, 2, "direct"),
    ((3, 6, 8, 8), (6, 1, 3, 3), 1, 1, 1, 6, "batch_last"),     # depthwise
    ((2, 4, 9, 8), (6, 2, 3, 2), (2, 1), "full", (2, 3), 2, "auto"),
    ((2, 3, 9, 9), (4, 3, 3, 3), 1, "same", 2, 1, "im2col"),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x_shape, w_shape, stride, padding, dilation, groups, method",
                         OPTION_CASES)
def test_conv2d_with_dilation_and_groups(x_shape, w_shape, stride, padding, dilation, groups,
                                         method, dtype):
    rng = _rng(2)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    out_fast, cache_fast = F.conv2d_forward(x, w, b, stride, padding, dilation, groups,
                                            method=method)
    out_ref, cache_ref = R.conv2d_forward(x, w, b, stride, padding, dilation, groups)
    _assert_same(out_fast, out_ref, dtype)
    dout = rng.standard_normal(out_ref.shape).astype(dtype)
    _assert_same(F.conv2d_backward(dout, cache_fast), R.conv2d_backward(dout, cache_ref), dtype)
    _assert_same(F.conv2d_backward(dout, cache_fast, need_dx=False, need_db=False),
                 R.conv2d_backward(dout, cache_ref, need_dx=False, need_db=False), dtype)
