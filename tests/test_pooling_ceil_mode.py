"""``MaxPool2d(..., ceil_mode=True)``: PyTorch's rounded-up output size (GoogLeNet's pools).

What is checked:
- output sizes equal PyTorch's (numbers computed by hand with torch 2.x, ``torch.nn.MaxPool2d(
  k, s, p, ceil_mode=True)`` on zeros), including the rule that drops a last window starting
  beyond the input and the left padding;
- forward and backward against the definition written as loops over the windows, each window
  clipped to the input (a partial window takes the max of the pixels it covers);
- the input gradient against float64 central differences (a large step is exact: max pooling is
  piecewise linear and the inputs have no ties), float32 and float64;
- ``ceil_mode=False`` (the default) changes nothing; the repr shows the option; a bad input
  is still a ValueError naming the layer.
"""

import numpy as np
import pytest

from minicnn import nn
from minicnn.gradcheck import check_module

pytestmark = pytest.mark.usefixtures("each_engine")

# (H, W), kernel, stride, padding, PyTorch's output (H, W), computed with torch by hand.
TORCH_SIZES = [
    ((112, 112), 3, 2, 0, (56, 56)),  # GoogLeNet's maxpool1 (floor would give 55)
    ((5, 6), 2, 2, 0, (3, 3)),
    ((6, 7), 3, 2, 1, (4, 4)),
    ((14, 14), 2, 2, 0, (7, 7)),  # GoogLeNet's maxpool4
    ((7, 7), 3, 1, 1, (7, 7)),    # the pool branch of Inception
    ((5, 5), 2, 2, 1, (3, 3)),    # a 4th window would start in the right padding: dropped
    ((3, 3), 2, 2, 1, (2, 2)),
    ((8, 9), (3, 2), (2, 3), (1, 1), (5, 4)),
]


def _pair(v):
    return (v, v) if isinstance(v, int) else v


def max_pool_ceil_by_loops(x, dout, kernel, stride, padding):
    """Each output (i, j) is the max of rows i·s − p … i·s − p + k − 1 clipped to the input;
    the gradient goes to the first maximum of each window (row-major order)."""
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel), _pair(stride), _pair(padding)
    n, c, h, w = x.shape
    out = np.empty(dout.shape, x.dtype)
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        rows = range(max(i * sh - ph, 0), min(i * sh - ph + kh, h))
        for j in range(dout.shape[3]):
            cols = range(max(j * sw - pw, 0), min(j * sw - pw + kw, w))
            for a in range(n):
                for b in range(c):
                    plane = x[a, b]
                    best = max(((r, q) for r in rows for q in cols), key=lambda rq: plane[rq])
                    out[a, b, i, j] = plane[best]
                    dx[a, b][best] += dout[a, b, i, j]
    return out, dx


def distinct_values(shape, seed=0):
    size = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(size).reshape(shape) / 100.0


@pytest.mark.parametrize("hw, kernel, stride, padding, expected", TORCH_SIZES)
def test_output_size_is_pytorchs(hw, kernel, stride, padding, expected):
    out = nn.MaxPool2d(kernel, stride, padding, ceil_mode=True)(np.zeros((1, 1, *hw), np.float32))
    assert out.shape[2:] == expected


@pytest.mark.parametrize("hw, kernel, stride, padding, expected", TORCH_SIZES[1:])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_and_backward_match_the_definition(hw, kernel, stride, padding, expected, dtype):
    x = distinct_values((2, 2, *hw)).astype(dtype)
    layer = nn.MaxPool2d(kernel, stride, padding, ceil_mode=True)
    out = layer(x)
    dout = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    dx = layer.backward(dout)
    expected_out, expected_dx = max_pool_ceil_by_loops(x, dout, kernel, stride, padding)
    assert out.dtype == dtype and dx.dtype == dtype and dx.shape == x.shape
    np.testing.assert_array_equal(out, expected_out)
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-6)


def test_a_hand_example_computed_with_torch():
    # torch.nn.MaxPool2d(2, 2, 1, ceil_mode=True)(-torch.arange(25.).reshape(1, 1, 5, 5))
    x = -np.arange(25.0).reshape(1, 1, 5, 5)
    out = nn.MaxPool2d(2, 2, 1, ceil_mode=True)(x)
    np.testing.assert_array_equal(out[0, 0], [[0, -1, -3], [-5, -6, -8], [-15, -16, -18]])


@pytest.mark.parametrize("hw, kernel, stride, padding, expected", TORCH_SIZES[1:])
def test_gradient_against_central_differences(hw, kernel, stride, padding, expected):
    layer = nn.MaxPool2d(kernel, stride, padding, ceil_mode=True)
    report = check_module(layer, distinct_values((1, 2, *hw)), h=1e-3)
    assert report.ok(1e-9), report


def test_default_is_floor_and_repr_shows_the_option():
    x = distinct_values((1, 1, 5, 5))
    assert nn.MaxPool2d(2)(x).shape[2:] == (2, 2)
    assert nn.MaxPool2d(2, ceil_mode=True)(x).shape[2:] == (3, 3)
    assert repr(nn.MaxPool2d(3, 2, ceil_mode=True)) == \
        "MaxPool2d(kernel_size=3, stride=2, padding=0, ceil_mode=True)"
    assert repr(nn.MaxPool2d(3, 2)) == "MaxPool2d(kernel_size=3, stride=2, padding=0)"


def test_bad_input_names_the_layer():
    with pytest.raises(ValueError, match=r"MaxPool2d\(kernel_size=2, stride=2, padding=0, "
                                         r"ceil_mode=True\): expected input of rank 4"):
        nn.MaxPool2d(2, ceil_mode=True)(np.zeros((3, 4), np.float32))
