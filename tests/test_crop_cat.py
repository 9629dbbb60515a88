"""CenterCrop2d and Cat (U-Net's copy-and-crop skip), and F.center_crop_* / F.cat_*.

What is checked:
- forward against loops by definition: the crop reads x[top + i, left + j] with
  top = (H − h) // 2 (odd differences cut one more row at the bottom), the concatenation puts
  each input's entries at its offset along ``dim`` (channels, and another axis);
- backward: the crop's gradient is dout inside the window and zero outside (a loop), the
  concatenation's is one slice per input; both against float64 central differences;
- float32 in → float32 out, float64 → float64; the size given at construction or per call;
- errors naming the layer: a window larger than the map or no size at all, inputs that differ
  in an axis other than ``dim``, mixed dtypes, wrong rank, no inputs.
"""

import numpy as np
import pytest

from minicnn import nn
from minicnn.gradcheck import check_module, numerical_gradient_array

from engine_under_test import F

pytestmark = pytest.mark.usefixtures("each_engine")


def crop_by_loops(x, h, w):
    top, left = (x.shape[2] - h) // 2, (x.shape[3] - w) // 2
    out = np.zeros((*x.shape[:2], h, w), x.dtype)
    for i in range(h):
        for j in range(w):
            out[:, :, i, j] = x[:, :, top + i, left + j]
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("in_size, size", [((7, 8), (3, 4)), ((6, 6), (6, 6)), ((5, 9), (2, 1))])
def test_center_crop_forward_and_backward_by_loops(dtype, in_size, size):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, *in_size)).astype(dtype)
    crop = nn.CenterCrop2d(size)
    out = crop(x)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, crop_by_loops(x, *size))
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = crop.backward(dout)
    expected = np.zeros_like(x)
    top, left = (in_size[0] - size[0]) // 2, (in_size[1] - size[1]) // 2
    for i in range(size[0]):
        for j in range(size[1]):
            expected[:, :, top + i, left + j] = dout[:, :, i, j]
    assert dx.dtype == dtype
    np.testing.assert_array_equal(dx, expected)


def test_an_odd_difference_cuts_one_more_row_at_the_bottom():
    x = np.arange(5, dtype=np.float64).reshape(1, 1, 5, 1)
    out, _ = F.center_crop_forward(x, (2, 1))
    assert out.ravel().tolist() == [1.0, 2.0]  # rows 0 (one) and 3, 4 (two) are cut


def test_center_crop_size_per_call_and_gradcheck():
    x = np.random.default_rng(1).standard_normal((2, 2, 6, 7))
    crop = nn.CenterCrop2d()
    assert crop(x, size=(4, 3)).shape == (2, 2, 4, 3)
    assert nn.CenterCrop2d(4)(x).shape == (2, 2, 4, 4)
    assert check_module(nn.CenterCrop2d((3, 5)), x).ok(1e-6)


def test_cat_forward_and_backward_by_definition():
    rng = np.random.default_rng(2)
    a, b, c = (rng.standard_normal((2, k, 3, 4)) for k in (1, 3, 2))
    cat = nn.Cat()
    out = cat(a, b, c)
    assert out.shape == (2, 6, 3, 4)
    for channel, (source, k) in enumerate([(a, 0), (b, 0), (b, 1), (b, 2), (c, 0), (c, 1)]):
        np.testing.assert_array_equal(out[:, channel], source[:, k])
    dout = rng.standard_normal(out.shape)
    da, db, dc = cat.backward(dout)
    np.testing.assert_array_equal(da[:, 0], dout[:, 0])
    np.testing.assert_array_equal(db, dout[:, 1:4])
    np.testing.assert_array_equal(dc, dout[:, 4:])


@pytest.mark.parametrize("dim", [1, 2, -1])
def test_cat_backward_by_central_differences(dim):
    rng = np.random.default_rng(3)
    shapes = {1: [(2, 2, 3, 3), (2, 1, 3, 3)], 2: [(1, 2, 2, 3), (1, 2, 4, 3)],
              -1: [(1, 2, 3, 1), (1, 2, 3, 2)]}[dim]
    a, b = (rng.standard_normal(s) for s in shapes)
    cat = nn.Cat(dim=dim)
    out = cat(a, b)
    dout = rng.standard_normal(out.shape)
    da, db = cat.backward(dout)
    np.testing.assert_allclose(da, numerical_gradient_array(lambda z: F.cat_forward([z, b], dim)[0],
                                                            a, dout), atol=1e-8)
    np.testing.assert_allclose(db, numerical_gradient_array(lambda z: F.cat_forward([a, z], dim)[0],
                                                            b, dout), atol=1e-8)


def test_cat_keeps_float32():
    a = np.ones((1, 2, 2, 2), np.float32)
    out = nn.Cat()(a, a)
    assert out.dtype == np.float32
    cat = nn.Cat()
    out = cat(a, a)
    assert all(g.dtype == np.float32 for g in cat.backward(out))


def test_crop_errors_name_the_layer():
    x = np.zeros((1, 1, 4, 4), np.float32)
    with pytest.raises(ValueError, match=r"^CenterCrop2d\(size=\(5, 2\)\): cannot crop an input "
                                         r"of spatial size \(4, 4\) to \(5, 2\)"):
        nn.CenterCrop2d((5, 2))(x)
    with pytest.raises(ValueError, match=r"^CenterCrop2d\(size=None\): expected a size"):
        nn.CenterCrop2d()(x)
    with pytest.raises(ValueError, match=r"^CenterCrop2d.*expected input of rank 4"):
        nn.CenterCrop2d(2)(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match=r"^CenterCrop2d: expected size >= 1, got 0"):
        nn.CenterCrop2d(0)


def test_cat_errors_name_the_layer():
    a = np.zeros((1, 2, 4, 4), np.float32)
    with pytest.raises(ValueError, match=r"^Cat\(dim=1\): inputs must agree in every axis but 1, "
                                         r"got shapes \[\(1, 2, 4, 4\), \(1, 2, 3, 4\)\]"):
        nn.Cat()(a, np.zeros((1, 2, 3, 4), np.float32))
    with pytest.raises(TypeError, match=r"^Cat\(dim=1\): expected inputs of one dtype, got "
                                        r"float32 \(input 0\) and float64 \(input 1\)"):
        nn.Cat()(a, a.astype(np.float64))
    with pytest.raises(ValueError, match=r"^Cat\(dim=1\): expected inputs of the same rank"):
        nn.Cat()(a, np.zeros((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"^Cat\(dim=4\): expected inputs of the same rank with "
                                         r"an axis 4"):
        nn.Cat(dim=4)(a, a)
    with pytest.raises(ValueError, match=r"^Cat\(dim=1\): expected at least one input"):
        nn.Cat()()
    with pytest.raises(TypeError, match=r"^Cat: expected dim as an int, got 1.0"):
        nn.Cat(dim=1.0)
