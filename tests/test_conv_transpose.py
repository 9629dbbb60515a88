"""ConvTranspose2d and F.conv_transpose2d_forward/backward.

What is checked:
- the dot-product identity ⟨conv2d(x; w), y⟩ = ⟨x, conv_transpose2d(y; w)⟩ (the transposed
  convolution is the adjoint of the convolution) for strides 1/2/3, padding, output_padding,
  groups and dilation, against a convolution written as loops by its definition;
- forward against the scatter formula written as plain loops;
- dx, dw, db against float64 central differences (``check_module``);
- PyTorch's output size, weight shape (C, O/groups, kh, kw) and default init bound
  1/√((O/groups)·kh·kw); float32 in → float32 out;
- errors: channels not divisible by groups, output_padding not below stride or dilation,
  wrong input channels, wrong rank, an output_size out of range.
"""

import numpy as np
import pytest

from minicnn import nn
from minicnn.gradcheck import check_module

from engine_under_test import F

pytestmark = pytest.mark.usefixtures("each_engine")

CASES = [  # stride, padding, output_padding, groups, dilation
    (1, 0, 0, 1, 1), (2, 0, 0, 1, 1), (2, 1, 1, 1, 1), (3, 1, 2, 1, 1),
    (2, 1, 0, 2, 1), (1, 1, 1, 1, 2), ((2, 1), (1, 0), (1, 0), 2, (1, 2)),
]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def scatter_by_loops(x, w, b, stride, padding, output_padding, groups, dilation):
    """out[n, o, i·s − p + u·d, j·s − p + v·d] += x[n, c, i, j]·w[c, o', u, v], by loops."""
    (sh, sw), (ph, pw), (oh, ow), (dh, dw) = map(_pair, (stride, padding, output_padding,
                                                         dilation))
    n, c_in, h, wd = x.shape
    _, o_per, kh, kw = w.shape
    out_h = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oh + 1
    out_w = (wd - 1) * sw - 2 * pw + dw * (kw - 1) + ow + 1
    out = np.zeros((n, o_per * groups, out_h, out_w)) + (0 if b is None else b[:, None, None])
    c_per = c_in // groups
    for s in range(n):
        for c in range(c_in):
            g = c // c_per
            for o in range(o_per):
                for i in range(h):
                    for j in range(wd):
                        for u in range(kh):
                            for v in range(kw):
                                y, xx = i * sh - ph + u * dh, j * sw - pw + v * dw
                                if 0 <= y < out_h and 0 <= xx < out_w:
                                    out[s, g * o_per + o, y, xx] += x[s, c, i, j] * w[c, o, u, v]
    return out


def conv_by_loops(z, w, stride, padding, groups, dilation, in_size):
    """The convolution conv_transpose2d transposes: (N, O, Ho, Wo) → (N, C, H, W), weight read
    as (C, O/g, kh, kw): x[n, c, i, j] = Σ z_pad[n, o, i·s + u·d, j·s + v·d]·w[c, o', u, v]."""
    (sh, sw), (ph, pw), (dh, dw) = map(_pair, (stride, padding, dilation))
    n = z.shape[0]
    c_in, o_per, kh, kw = w.shape
    z_pad = np.pad(z, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((n, c_in, *in_size))
    c_per = c_in // groups
    for c in range(c_in):
        g = c // c_per
        for i in range(in_size[0]):
            for j in range(in_size[1]):
                for u in range(kh):
                    for v in range(kw):
                        patch = z_pad[:, g * o_per:(g + 1) * o_per, i * sh + u * dh,
                                      j * sw + v * dw]
                        out[:, c, i, j] += patch @ w[c, :, u, v]
    return out


def _arrays(case, c_in=4, c_out=6, kernel=(3, 2), size=(4, 5), seed=0):
    groups = case[3]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, c_in, *size))
    w = rng.standard_normal((c_in, c_out // groups, *kernel))
    b = rng.standard_normal(c_out)
    return x, w, b


@pytest.mark.parametrize("case", CASES)
def test_forward_is_the_scatter_formula(case):
    x, w, b = _arrays(case)
    out, _ = F.conv_transpose2d_forward(x, w, b, *case)
    np.testing.assert_allclose(out, scatter_by_loops(x, w, b, *case), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_it_is_the_adjoint_of_the_convolution(case):
    stride, padding, _, groups, dilation = case
    x, w, _ = _arrays(case)
    out, _ = F.conv_transpose2d_forward(x, w, None, *case)
    y = np.random.default_rng(1).standard_normal(out.shape)
    conv_of_y = conv_by_loops(y, w, stride, padding, groups, dilation, x.shape[2:])
    np.testing.assert_allclose(np.sum(out * y), np.sum(x * conv_of_y), rtol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_backward_against_loops_and_central_differences(case):
    stride, padding, output_padding, groups, dilation = case
    layer = nn.ConvTranspose2d(4, 6, (3, 2), stride, padding, output_padding, groups,
                               dilation=dilation)
    x = np.random.default_rng(2).standard_normal((2, 4, 3, 4))
    report = check_module(layer, x)
    assert report.ok(1e-6), report
    assert set(report.errors) == {"input", "weight", "bias"}
    # dx is the convolution of dout (by loops)
    x64, w, b = _arrays(case)
    out, cache = F.conv_transpose2d_forward(x64, w, b, *case)
    dout = np.random.default_rng(3).standard_normal(out.shape)
    dx, _, db = F.conv_transpose2d_backward(dout, cache)
    np.testing.assert_allclose(dx, conv_by_loops(dout, w, stride, padding, groups, dilation,
                                                 x64.shape[2:]), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(db, dout.sum(axis=(0, 2, 3)), rtol=1e-12)


def test_shapes_init_and_dtype_as_pytorch():
    layer = nn.ConvTranspose2d(64, 32, 2, stride=2, groups=4)
    assert {k: v.shape for k, v in layer.state_dict().items()} == {
        "weight": (64, 8, 2, 2), "bias": (32,)}
    bound = 1 / np.sqrt(8 * 2 * 2)   # fan_in from weight.shape[1]·kh·kw
    for p in (layer.weight.data, layer.bias.data):
        assert p.dtype == np.float32 and np.abs(p).max() <= bound
        assert np.abs(p).max() > 0.8 * bound
    x = np.ones((1, 64, 5, 7), np.float32)
    out = layer(x)
    assert out.shape == (1, 32, 10, 14) and out.dtype == np.float32
    assert layer.backward(np.ones_like(out)).dtype == np.float32
    assert nn.ConvTranspose2d(3, 2, 3, bias=False).bias is None


def test_output_size_chooses_the_output_padding():
    layer = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    x = np.ones((1, 2, 4, 4), np.float32)
    assert layer(x).shape == (1, 3, 7, 7)
    assert layer(x, output_size=(8, 7)).shape == (1, 3, 8, 7)
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(2, 3\): requested an output size"
                                         r" of \(9, 9\), but valid sizes .* from 7 to 8"):
        layer(x, output_size=(9, 9))


def test_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(4, 6\): expected in_channels and "
                                         r"out_channels divisible by groups=4"):
        nn.ConvTranspose2d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match="output padding must be smaller than either stride "
                                         "or dilation"):
        nn.ConvTranspose2d(4, 6, 3, stride=2, output_padding=2)
    layer = nn.ConvTranspose2d(3, 2, 3)
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(3, 2\): expected input with 3 "
                                         r"channels \(N, 3, H, W\), got shape \(1, 2, 4, 4\)"):
        layer(np.ones((1, 2, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"expected input of rank 4 \(N, 3, H, W\), got shape"
                                         r" \(3, 4, 4\)"):
        layer(np.ones((3, 4, 4), np.float32))
    with pytest.raises(TypeError, match="dtype float32"):
        layer(np.ones((1, 3, 4, 4)))
    with pytest.raises(ValueError, match="empty output"):
        F.conv_transpose2d_forward(np.ones((1, 3, 1, 1)), np.ones((3, 2, 1, 1)), padding=1)
    with pytest.raises(ValueError, match="divisible by groups=2"):
        F.conv_transpose2d_forward(np.ones((1, 3, 2, 2)), np.ones((3, 2, 1, 1)), groups=2)


def test_repr():
    assert repr(nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2,
                                   bias=False)) == (
        "ConvTranspose2d(4, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), "
        "output_padding=(1, 1), groups=2, bias=False)")
