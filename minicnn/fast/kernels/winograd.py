"""The transforms of Winograd's F(2×2, 3×3) (``../winograd.py``), each one pass over memory.

Notation: x (N, C, H, W) with ``top`` rows and ``left`` columns of zero padding; the output
(N, O, Ho, Wo) in TH×TW tiles of 2×2 (T = N·TH·TW tiles, numbered (n, ti, tj) row-major);
transformed arrays (16, T, channels), entry k = 4·i + j of each tile's 4×4 transform::

    winograd_input     V[k, t, c]  = (Bᵀ d B)[i, j],   d = x_pad[n, c, 2ti:2ti+4, 2tj:2tj+4]
    winograd_output    out[n, o, 2ti + a, 2tj + b] = (Aᵀ M[:, t, o] A)[a, b] + bias[o]
    winograd_dout      dM[k, t, o] = (A dY Aᵀ)[i, j],  dY = dout[n, o, 2ti:2ti+2, 2tj:2tj+2]
    winograd_input_adjoint  dx[n, c] = Σ_tiles (B dV[:, t, c] Bᵀ) added at the tile's pixels

Pixels outside the image read as zero and are not written (the padding, and the cropped half
of a last tile at an odd size). ``winograd_input_adjoint`` is the adjoint of
``winograd_input``, ``winograd_dout`` of ``winograd_output``. Each is parallel over the
samples, so that no two threads write the same element; the channels are the innermost loop,
so that the transformed arrays are written in runs.
"""

import numpy as np
from numba import njit

from ..parallel import run_tasks

__all__ = ["winograd_dout", "winograd_input", "winograd_input_adjoint", "winograd_output"]


def winograd_input(x, top, left, th, tw, v):
    """Fill ``v`` (16, N·TH·TW, C) with ``Bᵀ d B`` of every tile of x padded; return it."""
    run_tasks(_input_samples, x.shape[0], 2 * v.size, x, top, left, th, tw, v)
    return v


def winograd_output(m, bias, out, th, tw):
    """Fill ``out`` (N, O, Ho, Wo) with ``Aᵀ M A + bias`` of every tile; return it."""
    run_tasks(_output_samples, out.shape[0], 2 * m.size, m, bias, out, th, tw)
    return out


def winograd_dout(dout, th, tw, dm):
    """Fill ``dm`` (16, N·TH·TW, O) with ``A dY Aᵀ`` of every 2×2 block of dout; return it."""
    run_tasks(_dout_samples, dout.shape[0], 2 * dm.size, dout, th, tw, dm)
    return dm


def winograd_input_adjoint(dv, top, left, th, tw, dx):
    """Fill ``dx`` (N, C, H, W) with ``B dV Bᵀ`` of every tile added onto its pixels; return
    it."""
    run_tasks(_input_adjoint_samples, dx.shape[0], 2 * dv.size, dv, top, left, th, tw, dx)
    return dx


@njit(cache=True, nogil=True)
def _input_samples(x, top, left, th, tw, v, first, last):
    _, channels, height, width = x.shape
    d = np.empty((4, 4), x.dtype)
    rows = np.empty((4, 4), x.dtype)
    for n in range(first, last):
        for ti in range(th):
            for tj in range(tw):
                t = (n * th + ti) * tw + tj
                for c in range(channels):
                    for r in range(4):
                        y = 2 * ti + r - top
                        for s in range(4):
                            xx = 2 * tj + s - left
                            inside = 0 <= y < height and 0 <= xx < width
                            d[r, s] = x[n, c, y, xx] if inside else 0
                    for s in range(4):  # Bᵀ d: over the rows
                        rows[0, s] = d[0, s] - d[2, s]
                        rows[1, s] = d[1, s] + d[2, s]
                        rows[2, s] = d[2, s] - d[1, s]
                        rows[3, s] = d[1, s] - d[3, s]
                    for i in range(4):  # (Bᵀ d) B: over the columns
                        v[4 * i, t, c] = rows[i, 0] - rows[i, 2]
                        v[4 * i + 1, t, c] = rows[i, 1] + rows[i, 2]
                        v[4 * i + 2, t, c] = rows[i, 2] - rows[i, 1]
                        v[4 * i + 3, t, c] = rows[i, 1] - rows[i, 3]


@njit(cache=True, nogil=True)
def _output_samples(m, bias, out, th, tw, first, last):
    _, out_channels, out_h, out_w = out.shape
    rows = np.empty((2, 4), m.dtype)
    for n in range(first, last):
        for ti in range(th):
            for tj in range(tw):
                t = (n * th + ti) * tw + tj
                for o in range(out_channels):
                    for j in range(4):  # Aᵀ M: over the rows
                        m0, m1 = m[j, t, o], m[4 + j, t, o]
                        m2, m3 = m[8 + j, t, o], m[12 + j, t, o]
                        rows[0, j] = m0 + m1 + m2
                        rows[1, j] = m1 - m2 - m3
                    for a in range(2):  # (Aᵀ M) A: over the columns
                        y = 2 * ti + a
                        if y < out_h:
                            out[n, o, y, 2 * tj] = (rows[a, 0] + rows[a, 1] + rows[a, 2]
                                                    + bias[o])
                            if 2 * tj + 1 < out_w:
                                out[n, o, y, 2 * tj + 1] = (rows[a, 1] - rows[a, 2]
                                                            - rows[a, 3] + bias[o])


@njit(cache=True, nogil=True)
def _dout_samples(dout, th, tw, dm, first, last):
    _, out_channels, out_h, out_w = dout.shape
    dy = np.empty((2, 2), dout.dtype)
    cols = np.empty((2, 4), dout.dtype)
    for n in range(first, last):
        for ti in range(th):
            for tj in range(tw):
                t = (n * th + ti) * tw + tj
                for o in range(out_channels):
                    for a in range(2):
                        for b in range(2):
                            y, xx = 2 * ti + a, 2 * tj + b
                            dy[a, b] = dout[n, o, y, xx] if y < out_h and xx < out_w else 0
                    for a in range(2):  # dY Aᵀ: over the columns
                        cols[a, 0] = dy[a, 0]
                        cols[a, 1] = dy[a, 0] + dy[a, 1]
                        cols[a, 2] = dy[a, 0] - dy[a, 1]
                        cols[a, 3] = -dy[a, 1]
                    for j in range(4):  # A (dY Aᵀ): over the rows
                        dm[j, t, o] = cols[0, j]
                        dm[4 + j, t, o] = cols[0, j] + cols[1, j]
                        dm[8 + j, t, o] = cols[0, j] - cols[1, j]
                        dm[12 + j, t, o] = -cols[1, j]


@njit(cache=True, nogil=True)
def _input_adjoint_samples(dv, top, left, th, tw, dx, first, last):
    _, channels, height, width = dx.shape
    rows = np.empty((4, 4), dv.dtype)
    dd = np.empty((4, 4), dv.dtype)
    for n in range(first, last):
        dx[n] = 0
        for ti in range(th):
            for tj in range(tw):
                t = (n * th + ti) * tw + tj
                for c in range(channels):
                    for s in range(4):  # B dV: over the rows
                        v0, v1 = dv[s, t, c], dv[4 + s, t, c]
                        v2, v3 = dv[8 + s, t, c], dv[12 + s, t, c]
                        rows[0, s] = v0
                        rows[1, s] = v1 - v2 + v3
                        rows[2, s] = v1 + v2 - v0
                        rows[3, s] = -v3
                    for r in range(4):  # (B dV) Bᵀ: over the columns
                        dd[r, 0] = rows[r, 0]
                        dd[r, 1] = rows[r, 1] - rows[r, 2] + rows[r, 3]
                        dd[r, 2] = rows[r, 1] + rows[r, 2] - rows[r, 0]
                        dd[r, 3] = -rows[r, 3]
                    for r in range(4):
                        y = 2 * ti + r - top
                        if 0 <= y < height:
                            for s in range(4):
                                xx = 2 * tj + s - left
                                if 0 <= xx < width:
                                    dx[n, c, y, xx] += dd[r, s]
