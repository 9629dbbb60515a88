"""The Numba kernels im2col and col2im (floor 1), checked against their definitions.

What is checked:
- ``im2col`` on a hand-worked 3×3 example, and against the definition written as plain loops,
  ``cols[c, u, v, n, i, j] = x_pad[n, c, i·sh + u, j·sw + v]``, for strides that do not tile the
  input, rectangular kernels and strides, and asymmetric padding;
- ``col2im`` on a hand example (the count of patches covering each pixel) and as the adjoint of
  im2col: ``<col2im(g), x> = <g, im2col(x)>`` for random g and x, to a relative error of ~1e-15
  in float64 (the two sides add the same products in a different order);
- both dtypes stay themselves (float32 in → float32 out);
- importing the fast engine (``minicnn.fast.ops``) compiles nothing.
These are exact copies and sums, so the comparisons are exact or at rounding level.
"""

import subprocess
import sys

import numpy as np
import pytest

from minicnn.fast.kernels import col2im, im2col


def _out_size(size, kernel, stride, before, after):
    return (size + before + after - kernel) // stride + 1


def _columns_shape(x_shape, kernel, stride, pads):
    n, c, h, w = x_shape
    (top, bottom), (left, right) = pads
    return (c, *kernel, n, _out_size(h, kernel[0], stride[0], top, bottom),
            _out_size(w, kernel[1], stride[1], left, right))


def _im2col_by_definition(x, kernel, stride, pads):
    """The definition, loop by loop: each column entry is one pixel of the padded input."""
    x_pad = np.pad(x, ((0, 0), (0, 0), *pads))
    cols = np.zeros(_columns_shape(x.shape, kernel, stride, pads), x.dtype)
    channels, kh, kw, n_samples, out_h, out_w = cols.shape
    for c in range(channels):
        for u in range(kh):
            for v in range(kw):
                for n in range(n_samples):
                    for i in range(out_h):
                        for j in range(out_w):
                            cols[c, u, v, n, i, j] = x_pad[n, c, i * stride[0] + u,
                                                           j * stride[1] + v]
    return cols


def _im2col(x, kernel, stride, pads):
    cols = np.empty(_columns_shape(x.shape, kernel, stride, pads), x.dtype)
    return im2col(x, stride[0], stride[1], pads[0][0], pads[1][0], cols)


def _col2im(cols, x_shape, stride, pads):
    dx = np.empty(x_shape, cols.dtype)
    return col2im(cols, stride[0], stride[1], pads[0][0], pads[1][0], dx)


CASES = [  # x shape, kernel, stride, ((top, bottom), (left, right))
    ((1, 1, 3, 3), (2, 2), (1, 1), ((0, 0), (0, 0))),
    ((2, 3, 5, 4), (3, 3), (1, 1), ((1, 1), (1, 1))),
    ((2, 2, 7, 6), (3, 2), (2, 3), ((1, 1), (0, 0))),  # strides that do not tile the input
    ((1, 2, 6, 7), (2, 4), (3, 1), ((2, 2), (1, 2))),  # asymmetric ("same"-like) padding
    ((3, 1, 4, 4), (1, 1), (2, 2), ((0, 0), (0, 0))),
    ((1, 2, 2, 3), (5, 5), (1, 1), ((2, 2), (2, 2))),  # kernel larger than the input itself
    ((2, 1, 2, 2), (5, 5), (1, 1), ((2, 2), (2, 2))),  # some taps see only padding
    ((2, 3, 6, 6), (3, 3), (1, 1), ((1, 1), (1, 1))),  # "same": one copy per (Ho, Wo) block
]


def test_im2col_on_a_hand_example():
    # A 3×3 image, 2×2 kernel, stride 1: four patches, read row by row.
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # 1 2 3 / 4 5 6 / 7 8 9
    cols = _im2col(x, (2, 2), (1, 1), ((0, 0), (0, 0)))
    as_matrix = cols.reshape(4, 4)  # rows (u, v), columns (i, j)
    expected = np.array([[1, 2, 4, 5],    # tap (0, 0) of the patches at (0,0) (0,1) (1,0) (1,1)
                         [2, 3, 5, 6],    # tap (0, 1)
                         [4, 5, 7, 8],    # tap (1, 0)
                         [5, 6, 8, 9]])   # tap (1, 1)
    np.testing.assert_array_equal(as_matrix, expected)


def test_im2col_pads_with_zeros():
    x = np.ones((1, 1, 2, 2))
    cols = _im2col(x, (3, 3), (1, 1), ((1, 1), (1, 1)))  # 2×2 output, each patch sees 4 ones
    assert cols.shape == (1, 3, 3, 1, 2, 2)
    np.testing.assert_array_equal(cols.sum(axis=(0, 1, 2, 3)), np.full((2, 2), 4.0))


@pytest.mark.parametrize("x_shape, kernel, stride, pads", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_im2col_matches_the_definition(x_shape, kernel, stride, pads, dtype):
    x = np.random.default_rng(0).standard_normal(x_shape).astype(dtype)
    cols = _im2col(x, kernel, stride, pads)
    assert cols.dtype == dtype
    np.testing.assert_array_equal(cols, _im2col_by_definition(x, kernel, stride, pads))


def test_col2im_counts_the_patches_that_cover_each_pixel():
    # Scattering ones back: each pixel receives one 1 per patch that contains it.
    cols = np.ones((1, 2, 2, 1, 2, 2))  # 3×3 image, 2×2 kernel, stride 1
    dx = _col2im(cols, (1, 1, 3, 3), (1, 1), ((0, 0), (0, 0)))
    np.testing.assert_array_equal(dx[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


@pytest.mark.parametrize("x_shape, kernel, stride, pads", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_col2im_is_the_adjoint_of_im2col(x_shape, kernel, stride, pads, dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(x_shape).astype(dtype)
    g = rng.standard_normal(_columns_shape(x_shape, kernel, stride, pads)).astype(dtype)
    dx = _col2im(g, x_shape, stride, pads)
    assert dx.dtype == dtype
    lhs = np.vdot(dx.astype(np.float64), x)
    rhs = np.vdot(g.astype(np.float64), _im2col(x, kernel, stride, pads))
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert abs(lhs - rhs) <= rtol * (abs(lhs) + abs(rhs))


def test_col2im_overwrites_its_output():
    dx = np.full((1, 1, 3, 3), 7.0)  # stale values from a previous use must not survive
    col2im(np.zeros((1, 2, 2, 1, 2, 2)), 1, 1, 0, 0, dx)
    np.testing.assert_array_equal(dx, np.zeros((1, 1, 3, 3)))


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=120)
    return result.stdout.strip()


def test_importing_the_fast_engine_compiles_nothing():
    # Every compiled loop of every kernel module: how many it has, and how many are compiled.
    counts = _run("import minicnn.fast.ops, numba, sys;"
                  "jitted = [f for name, m in list(sys.modules.items())"
                  " if name.startswith('minicnn.fast.kernels') for f in vars(m).values()"
                  " if isinstance(f, numba.core.registry.CPUDispatcher)];"
                  "print(len(set(map(id, jitted))), sum(len(f.signatures) for f in jitted))")
    loops, compiled = map(int, counts.split())
    assert loops >= 15  # im2col, col2im, 4 pooling, 2 batch norm, 5 direct conv, helpers
    assert compiled == 0
