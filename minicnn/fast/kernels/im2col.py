"""im2col and col2im: the gather and scatter that turn a convolution into one matrix product.

Notation: N samples, C channels, H×W images, a kh×kw kernel, stride (sh, sw), and ph rows and
pw columns of zero padding on the top and left. The bottom and right padding are implied by the
output size Ho×Wo, so asymmetric padding ("same" with an even kernel) needs nothing extra::

    x     (N, C, H, W)
    cols  (C, kh, kw, N, Ho, Wo)
    cols[c, u, v, n, i, j] = x_pad[n, c, i·sh + u, j·sw + v]
                           = x[n, c, i·sh + u − ph, j·sw + v − pw], or 0 outside the image

Row (c, u, v) of cols, seen as a (C·kh·kw, N·Ho·Wo) matrix, lines up with column (c, u, v) of a
weight reshaped to (O, C·kh·kw), so a whole convolution is one matrix product::

    out (O, N·Ho·Wo) = w.reshape(O, C·kh·kw) @ cols.reshape(C·kh·kw, N·Ho·Wo)

col2im is the adjoint (the transpose) of im2col: each entry of cols is added back into the
pixel it was copied from, and entries that came from padding are dropped. Hence
``<col2im(g), x> = <g, im2col(x)>`` for all g and x, which is exactly why ``col2im(dcols)`` is
the input gradient of a convolution. Overlapping patches (stride < kernel) add up.

The caller allocates the outputs (their shapes carry kh, kw, Ho, Wo); both functions fill them
completely and return them. Arrays must be C-contiguous, float32 or float64, one dtype.
"""

from numba import njit

from ..parallel import run_tasks
from ._runs import add_run, copy_run, valid_range, zero_run

__all__ = ["col2im", "im2col"]


def im2col(x, sh, sw, ph, pw, cols):
    """Fill ``cols`` (C, kh, kw, N, Ho, Wo) with the patches of ``x`` (N, C, H, W); return it.

    ``cols[c, u, v, n, i, j] = x[n, c, i·sh + u − ph, j·sw + v − pw]`` (0 in the padding).
    Parallel over the C channels. The loops run in the order of cols's axes, so cols is
    written front to back in one stream; the few input planes of a channel stay in cache.
    (Walking the input plane by plane instead scatters the writes over kh·kw far-apart blocks,
    much slower on small images: 8×8 float32 blocks are only 256 bytes. Figures:
    benchmarks/README.md, "The kernels' inner loops".)
    """
    run_tasks(_im2col_channels, x.shape[1], cols.size, x, sh, sw, ph, pw, cols)
    return cols


@njit(cache=True, nogil=True)
def _im2col_channels(x, sh, sw, ph, pw, cols, first, last):
    """``im2col`` for channels ``first`` to ``last − 1``."""
    n_samples, channels, height, width = x.shape
    _, kh, kw, _, out_h, out_w = cols.shape
    x_flat = x.reshape(x.size)
    cols_flat = cols.reshape(cols.size)
    # With stride 1 and "same" width (Wo = W), consecutive output rows read consecutive input
    # rows, so a whole block is one long shifted copy of the image, instead of Ho short ones.
    one_run_per_block = sh == 1 and sw == 1 and out_w == width
    for c in range(first, last):
        for u in range(kh):
            # Output rows i whose input row i·sh + u − ph lies inside the image.
            i_lo, i_hi = valid_range(u - ph, sh, height, out_h)
            for v in range(kw):
                j_lo, j_hi = valid_range(v - pw, sw, width, out_w)
                for n in range(n_samples):
                    block = (((c * kh + u) * kw + v) * n_samples + n) * out_h * out_w
                    plane_start = (n * channels + c) * height * width
                    # Rows of the block that fall in the top and bottom padding.
                    zero_run(cols_flat, block, i_lo * out_w)
                    zero_run(cols_flat, block + i_hi * out_w, (out_h - i_hi) * out_w)
                    if one_run_per_block and i_lo < i_hi and j_lo < j_hi:
                        first = i_lo * out_w + j_lo
                        last = (i_hi - 1) * out_w + j_hi
                        shift = (u - ph) * width + v - pw  # from position in block to pixel
                        copy_run(cols_flat, block + first, x_flat, plane_start + first + shift,
                                 1, last - first)
                        # The run also copied pixels across the left/right edges: zero them.
                        if j_lo > 0 or j_hi < out_w:
                            for i in range(i_lo, i_hi):
                                zero_run(cols_flat, block + i * out_w, j_lo)
                                zero_run(cols_flat, block + i * out_w + j_hi, out_w - j_hi)
                        continue
                    for i in range(i_lo, i_hi):
                        dst = block + i * out_w
                        src = plane_start + (i * sh + u - ph) * width + j_lo * sw + v - pw
                        zero_run(cols_flat, dst, j_lo)
                        copy_run(cols_flat, dst + j_lo, x_flat, src, sw, j_hi - j_lo)
                        zero_run(cols_flat, dst + j_hi, out_w - j_hi)


def col2im(cols, sh, sw, ph, pw, dx):
    """Overwrite ``dx`` (N, C, H, W) with the sum of ``cols`` (C, kh, kw, N, Ho, Wo); return it.

    ``dx[n, c, y, x] = Σ cols[c, u, v, n, i, j]`` over all (u, v, i, j) with
    ``i·sh + u − ph = y`` and ``j·sw + v − pw = x``. Parallel over the C channels, so no two
    threads ever add into the same pixel. As in ``im2col``, cols is read front to back, and the
    N planes of one channel that receive the sums stay in cache.
    """
    run_tasks(_col2im_channels, dx.shape[1], cols.size, cols, sh, sw, ph, pw, dx)
    return dx


@njit(cache=True, nogil=True)
def _col2im_channels(cols, sh, sw, ph, pw, dx, first, last):
    """``col2im`` for channels ``first`` to ``last − 1``."""
    n_samples, channels, height, width = dx.shape
    _, kh, kw, _, out_h, out_w = cols.shape
    dx_flat = dx.reshape(dx.size)
    cols_flat = cols.reshape(cols.size)
    for c in range(first, last):
        for n in range(n_samples):
            zero_run(dx_flat, (n * channels + c) * height * width, height * width)
        for u in range(kh):
            i_lo, i_hi = valid_range(u - ph, sh, height, out_h)
            for v in range(kw):
                j_lo, j_hi = valid_range(v - pw, sw, width, out_w)
                for n in range(n_samples):
                    block = (((c * kh + u) * kw + v) * n_samples + n) * out_h * out_w
                    plane_start = (n * channels + c) * height * width
                    for i in range(i_lo, i_hi):  # rows from the padding pass no gradient
                        dst = plane_start + (i * sh + u - ph) * width + j_lo * sw + v - pw
                        add_run(dx_flat, dst, sw, cols_flat, block + i * out_w + j_lo,
                                j_hi - j_lo)
