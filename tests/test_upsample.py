"""Upsample (nearest, bilinear), UpsamplingNearest2d/UpsamplingBilinear2d, F.interpolate_*.

What is checked:
- forward against PyTorch's index rules written as loops per output pixel: nearest reads
  floor(i·scale) (float32 arithmetic, as PyTorch), bilinear with align_corners False
  (half-pixel centres, clamped at 0) and True, for sizes and scale factors (a number, a pair,
  below 1), and recompute_scale_factor;
- backward against the same loops run backwards (each output gradient added to its sources
  with its weights), and against float64 central differences;
- float32 in → float32 out; reprs as PyTorch's; errors for exactly-one-of size/scale_factor,
  align_corners with nearest, a bad mode, rank and size length.
"""

import math

import numpy as np
import pytest

from minicnn import nn
from minicnn.gradcheck import check_module

from engine_under_test import F

pytestmark = pytest.mark.usefixtures("each_engine")


def sources_by_definition(mode, n_in, n_out, scale_factor, align_corners):
    """[(pixel, weight), ...] read by each output index i along one axis."""
    reads = []
    for i in range(n_out):
        scale = 1 / scale_factor if scale_factor else n_in / n_out
        if mode == "nearest":
            reads.append([(min(math.floor(np.float32(i) * np.float32(scale)), n_in - 1), 1.0)])
            continue
        if align_corners:
            src = i * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        else:
            src = max((i + 0.5) * scale - 0.5, 0.0)
        i0 = math.floor(src)
        lam = src - i0
        reads.append([(i0, 1 - lam), (min(i0 + 1, n_in - 1), lam)])
    return reads


def by_loops(x, dout, out_size, mode, scale_factor, align_corners):
    """Forward and backward, one output pixel at a time."""
    (h, w), (oh, ow) = x.shape[2:], out_size
    f_h, f_w = scale_factor if scale_factor else (None, None)
    rows = sources_by_definition(mode, h, oh, f_h, align_corners)
    cols = sources_by_definition(mode, w, ow, f_w, align_corners)
    out = np.zeros((*x.shape[:2], oh, ow))
    dx = np.zeros(x.shape)
    for i in range(oh):
        for j in range(ow):
            for r, wr in rows[i]:
                for c, wc in cols[j]:
                    out[:, :, i, j] += wr * wc * x[:, :, r, c]
                    dx[:, :, r, c] += wr * wc * dout[:, :, i, j]
    return out, dx


SETTINGS = [  # mode, align_corners, keyword arguments
    ("nearest", None, {"scale_factor": 2}),
    ("nearest", None, {"size": (7, 11)}),
    ("nearest", None, {"size": (20, 3)}),
    ("nearest", None, {"scale_factor": (1.5, 0.5)}),
    ("bilinear", None, {"scale_factor": 2}),
    ("bilinear", False, {"size": (9, 4)}),
    ("bilinear", True, {"size": (9, 4)}),
    ("bilinear", True, {"size": (1, 6)}),
    ("bilinear", False, {"scale_factor": (1.7, 2.5)}),
    ("bilinear", False, {"scale_factor": 1.7, "recompute_scale_factor": True}),
]


@pytest.mark.parametrize(("mode", "align_corners", "kwargs"), SETTINGS)
def test_forward_and_backward_against_loops(mode, align_corners, kwargs):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 14, 5))
    out, cache = F.interpolate_forward(x, mode=mode, align_corners=align_corners, **kwargs)
    dout = rng.standard_normal(out.shape)
    factor = kwargs.get("scale_factor")
    if kwargs.get("recompute_scale_factor") or factor is None:
        factor = None
    elif not isinstance(factor, tuple):
        factor = (factor, factor)
    expected_size = kwargs.get("size") or tuple(
        math.floor(n * f) for n, f in zip(x.shape[2:], factor or (kwargs["scale_factor"],) * 2,
                                          strict=True))
    assert out.shape == (2, 3, *expected_size)
    want_out, want_dx = by_loops(x, dout, expected_size, mode, factor, align_corners)
    np.testing.assert_allclose(out, want_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(F.interpolate_backward(dout, cache), want_dx, rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("layer", [nn.Upsample(scale_factor=2),
                                   nn.Upsample(size=(5, 7), mode="bilinear"),
                                   nn.UpsamplingBilinear2d(scale_factor=2),
                                   nn.UpsamplingNearest2d(size=6)])
def test_central_differences_and_float32(layer):
    x = np.random.default_rng(1).standard_normal((2, 2, 3, 4))
    assert check_module(layer, x, h=1.0).ok(1e-10)  # linear: any step is exact
    out = layer(x.astype(np.float32))
    assert out.dtype == np.float32
    assert layer.backward(np.ones_like(out)).dtype == np.float32


def test_reprs_as_pytorch():
    assert repr(nn.Upsample(scale_factor=2)) == "Upsample(scale_factor=2.0, mode='nearest')"
    assert repr(nn.Upsample(size=(3, 4), mode="bilinear")) == (
        "Upsample(size=(3, 4), mode='bilinear')")
    assert repr(nn.UpsamplingBilinear2d(scale_factor=2)) == (
        "UpsamplingBilinear2d(scale_factor=2.0, mode='bilinear')")
    assert nn.UpsamplingBilinear2d(size=3).align_corners is True


def test_errors():
    with pytest.raises(ValueError, match="Upsample: either size or scale_factor should be"):
        nn.Upsample()
    with pytest.raises(ValueError, match="only one of size or scale_factor should be"):
        nn.Upsample(size=2, scale_factor=2)
    with pytest.raises(ValueError, match="align_corners option can only be set with the "
                                         "interpolating modes"):
        nn.Upsample(scale_factor=2, align_corners=True)
    with pytest.raises(ValueError, match="unknown mode 'bicubic'"):
        nn.Upsample(scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match="same number of spatial dimensions"):
        nn.Upsample(size=(2, 3, 4))
    with pytest.raises(ValueError, match="recompute_scale_factor is not meaningful"):
        nn.Upsample(size=2, recompute_scale_factor=True)
    layer = nn.Upsample(scale_factor=0.5)
    with pytest.raises(ValueError, match=r"Upsample\(scale_factor=0.5, mode='nearest'\): "
                                         r"expected input of rank 4"):
        layer(np.ones((3, 4, 4)))
    with pytest.raises(ValueError, match="empty output"):
        layer(np.ones((1, 1, 1, 4)))
    with pytest.raises(TypeError, match="dtype float32 or float64"):
        layer(np.ones((1, 1, 4, 4), np.int64))
