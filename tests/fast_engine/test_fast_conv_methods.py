"""The fast engine's convolution (``minicnn/fast/conv.py``): its three methods against the
reference engine, and its machinery.

What is checked:
- "im2col" (chunked), "direct" and "batch_last" give the reference's forward and backward to
  1e-12 in float64, and agree with each other in float32; their gradients pass central
  differences; ``need_dx``/``need_dw`` skip work; an empty batch works;
- chunking the batch and keeping or rebuilding the columns change nothing;
- the batch_last layout; what "auto" chooses; the errors for a method that cannot run.
"""

import numpy as np
import pytest

import minicnn
from minicnn import functional as R
from minicnn.fast import conv as conv_module
from minicnn.fast import ops as F
from minicnn.fast import tuning
from minicnn.gradcheck import numerical_gradient_array, relative_error

TOL = 1e-6
H = 1e-3  # exact for a linear map, so only rounding remains


def _rng(seed=0):
    return np.random.default_rng(seed)


def test_chunking_the_batch_gives_the_same_result(monkeypatch):
    rng = _rng(4)
    x, w, b = (rng.standard_normal((5, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3)),
               rng.standard_normal(3))
    out, cache = F.conv2d_forward(x, w, b, 1, 1)
    dout = rng.standard_normal(out.shape)
    whole = F.conv2d_backward(dout, cache)
    monkeypatch.setattr(tuning, "CHUNK_BYTES", 1)  # one sample per chunk
    out_chunked, cache = F.conv2d_forward(x, w, b, 1, 1)
    np.testing.assert_allclose(out_chunked, out, rtol=1e-13, atol=1e-13)
    for got, expected in zip(F.conv2d_backward(dout, cache), whole, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_small_layers_keep_their_columns_for_backward_and_big_ones_rebuild(monkeypatch):
    rng = _rng(5)
    x, w, b = (rng.standard_normal((3, 2, 6, 6)), rng.standard_normal((4, 2, 3, 3)),
               rng.standard_normal(4))
    out, cache = F.conv2d_forward(x, w, b, 1, 1, method="im2col")
    assert cache.cols is not None and cache.cols.shape == (2, 3, 3, 3, 6, 6)
    dout = rng.standard_normal(out.shape)
    first = F.conv2d_backward(dout, cache)
    second = F.conv2d_backward(dout, cache)  # the kept columns survive a backward pass
    with minicnn.no_grad():  # inference keeps nothing
        assert F.conv2d_forward(x, w, b, 1, 1, method="im2col")[1].cols is None
    monkeypatch.setattr(tuning, "KEEP_COLS_BYTES", 3 * 2 * 9 * 36 * 8 - 1)  # 1 B too few
    out_rebuilt, cache = F.conv2d_forward(x, w, b, 1, 1, method="im2col")
    assert cache.cols is None
    rebuilt = F.conv2d_backward(dout, cache)
    np.testing.assert_array_equal(out_rebuilt, out)
    for kept, again, built in zip(first, second, rebuilt, strict=True):
        np.testing.assert_array_equal(again, kept)
        np.testing.assert_array_equal(built, kept)


# -- the direct methods (stride 1, no im2col): "direct" and "batch_last" --------------------------
DIRECT_METHODS = ["direct", "batch_last"]
DIRECT_CASES = [  # x shape, w shape, padding; stride 1
    ((2, 3, 5, 5), (4, 3, 3, 3), 1),
    ((2, 1, 7, 6), (3, 1, 5, 5), 2),                   # LeNet's first layer, small; odd filters
    ((1, 2, 6, 7), (2, 2, 2, 4), ((0, 1), (1, 2))),    # even kernel, asymmetric padding
    ((2, 2, 4, 4), (1, 2, 1, 1), 0),                   # 1×1: two zero taps per three
    ((1, 2, 9, 8), (2, 2, 3, 7), ((2, 0), (6, 0))),    # wide kernel, padding up to kernel − 1
    ((3, 3, 6, 5), (5, 3, 3, 2), ((1, 0), (0, 1))),    # 5 filters: a group of four and one
]


@pytest.mark.parametrize("method", DIRECT_METHODS)
@pytest.mark.parametrize("x_shape, w_shape, padding", DIRECT_CASES)
def test_direct_methods_match_the_definition(x_shape, w_shape, padding, method):
    rng = _rng(11)
    x, w, b = (rng.standard_normal(x_shape), rng.standard_normal(w_shape),
               rng.standard_normal(w_shape[0]))
    out, cache = F.conv2d_forward(x, w, b, 1, padding, method=method)
    assert cache.method == method
    np.testing.assert_allclose(out, R.conv2d_forward(x, w, b, 1, padding)[0], rtol=1e-12,
                               atol=1e-12)
    dout = rng.standard_normal(out.shape)
    reference_cache = R.conv2d_forward(x, w, b, 1, padding)[1]
    for got, expected in zip(F.conv2d_backward(dout, cache),
                             R.conv2d_backward(dout, reference_cache), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", DIRECT_METHODS)
@pytest.mark.parametrize("x_shape, w_shape, padding", DIRECT_CASES[:3] + DIRECT_CASES[5:])
def test_direct_methods_gradients_match_central_differences(x_shape, w_shape, padding, method):
    rng = _rng(12)
    x, w, b = (rng.standard_normal(x_shape), rng.standard_normal(w_shape),
               rng.standard_normal(w_shape[0]))

    def forward(x=x, w=w, b=b):
        return F.conv2d_forward(x, w, b, 1, padding, method=method)[0]

    out, cache = F.conv2d_forward(x, w, b, 1, padding, method=method)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = F.conv2d_backward(dout, cache)
    assert relative_error(dx, numerical_gradient_array(lambda z: forward(x=z), x, dout, H)) < TOL
    assert relative_error(dw, numerical_gradient_array(lambda z: forward(w=z), w, dout, H)) < TOL
    assert relative_error(db, numerical_gradient_array(lambda z: forward(b=z), b, dout, H)) < TOL


@pytest.mark.parametrize("method", DIRECT_METHODS)
@pytest.mark.parametrize("shape", [(8, 16, 16, 32, 32, 3), (4, 1, 6, 28, 28, 3),
                                   (3, 5, 3, 9, 6, 3), (16, 6, 16, 14, 14, 5)])
def test_direct_methods_and_im2col_agree_in_float32(shape, method):
    n, c, o, h, w_, k = shape
    rng = _rng(13)
    x = rng.standard_normal((n, c, h, w_), dtype=np.float32)
    w = rng.standard_normal((o, c, k, k), dtype=np.float32) / k
    b = rng.standard_normal(o, dtype=np.float32)
    results = []
    for each in ("im2col", method):
        out, cache = F.conv2d_forward(x, w, b, 1, 1, method=each)
        dout = np.cos(out)  # the same upstream gradient for both
        results.append((out, *F.conv2d_backward(dout, cache)))
    for direct, im2col in zip(results[1], results[0], strict=True):
        assert direct.dtype == np.float32
        np.testing.assert_allclose(direct, im2col, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("method", DIRECT_METHODS)
def test_direct_methods_skip_what_they_are_told_not_to_compute(method):
    rng = _rng(14)
    x, w = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))
    out, cache = F.conv2d_forward(x, w, None, 1, 1, method=method)
    dx, dw, db = F.conv2d_backward(np.ones_like(out), cache, need_dw=False)
    assert dw is None and db is None and dx.shape == x.shape
    dx, dw, db = F.conv2d_backward(np.ones_like(out), cache, need_dx=False)
    assert dx is None and dw.shape == w.shape


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_batch_last_layout_is_the_padded_input_with_the_batch_last(dtype, monkeypatch):
    x = _rng(15).standard_normal((3, 2, 4, 5)).astype(dtype)
    expected = np.pad(x, ((0, 0), (0, 1), (2, 1), (1, 2))).transpose(1, 2, 3, 0)
    full = np.full  # fresh memory is often zero already: make "empty" memory hold NaNs
    monkeypatch.setattr(conv_module.np, "empty", lambda shape, dtype: full(shape, np.nan, dtype))
    x_t = conv_module._batch_last(x, ((2, 1), (1, 2)), channels=3)  # one zero channel more
    monkeypatch.undo()
    assert x_t.dtype == dtype
    np.testing.assert_array_equal(x_t, expected)




def test_auto_takes_a_direct_method_for_few_channels_and_im2col_for_many():
    def method(x_shape, w_shape, stride=1, padding=1):
        x, w = np.zeros(x_shape, np.float32), np.zeros(w_shape, np.float32)
        return F.conv2d_forward(x, w, None, stride, padding)[1].method

    assert method((2, 16, 32, 32), (16, 16, 3, 3)) == "direct"      # a CIFAR ResNet's first stage
    assert method((2, 1, 28, 28), (6, 1, 5, 5), padding=2) == "direct"  # LeNet-5's first layer
    assert method((2, 64, 8, 8), (64, 64, 3, 3)) == "im2col"       # many channels: BLAS wins
    assert method((2, 16, 32, 32), (16, 16, 3, 3), stride=2) == "im2col"  # direct: stride 1 only
    assert method((2, 6, 14, 14), (16, 6, 5, 5), padding=0) == "im2col"   # Wp / Wo = 14 / 10
    # Batch last where the runs Wo·N are long and the kernel big or the rows short:
    assert method((64, 6, 14, 14), (16, 6, 5, 5), padding=0) == "batch_last"  # LeNet-5's second
    assert method((64, 1, 28, 28), (6, 1, 5, 5), padding=2) == "batch_last"   # and first layer
    assert method((64, 32, 7, 7), (32, 32, 3, 3)) == "batch_last"              # short rows
    assert method((8, 6, 14, 14), (16, 6, 5, 5), padding=0) == "im2col"        # Wo·N = 80
    assert method((64, 8, 28, 28), (8, 8, 3, 3)) == "direct"                   # 3×3, long rows


def test_method_errors_name_what_is_wrong():
    x, w = np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3))
    with pytest.raises(ValueError, match="unknown method 'fft'"):
        F.conv2d_forward(x, w, method="fft")
    with pytest.raises(ValueError, match=r"method='direct' needs stride 1 .* stride \(2, 2\)"):
        F.conv2d_forward(x, w, stride=2, method="direct")
    with pytest.raises(ValueError, match=r"method='batch_last' needs stride 1"):
        F.conv2d_forward(x, w, stride=2, method="batch_last")
    with pytest.raises(ValueError, match="padding smaller than the kernel"):
        F.conv2d_forward(x, w, padding=3, method="direct")


@pytest.mark.parametrize("method", ["im2col", *DIRECT_METHODS])
def test_an_empty_batch_gives_empty_outputs_and_zero_parameter_gradients(method):
    x, w, b = np.zeros((0, 2, 5, 5)), np.ones((3, 2, 3, 3)), np.ones(3)
    out, cache = F.conv2d_forward(x, w, b, 1, 1, method=method)
    dx, dw, db = F.conv2d_backward(out, cache)
    assert out.shape == (0, 3, 5, 5) and dx.shape == x.shape
    np.testing.assert_array_equal(dw, np.zeros_like(w))
    np.testing.assert_array_equal(db, np.zeros(3))


def test_groups_and_dilation_choose_and_refuse_methods():
    x = np.zeros((2, 4, 9, 9))
    # Groups: the method is chosen for one group's shapes, and each group keeps its own cache.
    _, cache = F.conv2d_forward(x, np.zeros((4, 2, 3, 3)), None, 1, 1, groups=2)
    assert [c.method for c in cache.groups] == ["direct", "direct"]
    _, cache = F.conv2d_forward(x, np.zeros((4, 2, 3, 3)), None, 2, 1, groups=2)
    assert [c.method for c in cache.groups] == ["im2col", "im2col"]
    # Dilation: the reference's dilated im2col; a direct method is refused, never swapped.
    _, cache = F.conv2d_forward(x, np.zeros((4, 4, 3, 3)), None, 1, 2, dilation=2)
    assert isinstance(cache, conv_module.DilatedConvCache)
    for method in DIRECT_METHODS:
        with pytest.raises(ValueError, match=rf"method='{method}' does not do dilation"):
            F.conv2d_forward(x, np.zeros((4, 4, 3, 3)), dilation=2, method=method)
