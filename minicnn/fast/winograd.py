"""The fast engine's method "winograd": Winograd's F(2×2, 3×3) for 3×3 convolutions at stride 1.

A 2×2 block of outputs reads a 4×4 tile of the padded input. Written in the transformed basis,

    Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d Bᵀᵀ) ] A        (d: 4×4 tile, g: 3×3 kernel, Y: 2×2 outputs)

the 36 multiplications of the direct sum become 16 (2.25× fewer). Summed over the input
channels, the 16 element-wise products are 16 matrix products:

    M[k] = U[k] @ V[k],   U = G g Gᵀ  (16, O, C),   V = Bᵀ d B  (16, C, tiles),

and the output transform ``Aᵀ M A`` gives each tile's 2×2 outputs. Tiles start every 2 pixels
(neighbours overlap by 2); an odd output size gets a last tile that reaches past the input (read
as zeros) whose extra outputs are cropped.

The backward pass is the adjoint of the same linear map, so it needs no other transform:
``dM = A dY Aᵀ``; the weight gradient is ``G ᵀ (dM @ Vᵀ) G``, the input gradient ``B (Uᵀ @ dM) Bᵀ``
scattered back onto the overlapping tiles. This is the same sum as the full correlation of
dout with the rotated kernel, tile by tile.

The transforms are additions and subtractions of strided views of whole arrays (no loops over
tiles); the lab version, one tile at a time, is in ``docs/winograd.md``.
"""

import numpy as np

from ..functional.conv import conv_output_size

__all__ = ["winograd_backward", "winograd_forward"]

# F(2, 3): Bᵀ (4×4) transforms a 4-tap input run, G (4×3) a 3-tap kernel, Aᵀ (2×4) the product
# back to 2 outputs. Only G is used as a matrix (on the small kernel); the data transforms are
# written out as the additions these matrices stand for.
G = np.array([[1.0, 0.0, 0.0],
              [0.5, 0.5, 0.5],
              [0.5, -0.5, 0.5],
              [0.0, 0.0, 1.0]])


def _tiles(x_shape, pads):
    """(Ho, Wo, TH, TW): the output size and the number of 2×2 output tiles down and across."""
    out_h = conv_output_size(x_shape[2], 3, 1, pads[0])
    out_w = conv_output_size(x_shape[3], 3, 1, pads[1])
    return out_h, out_w, -(-out_h // 2), -(-out_w // 2)


# -- the one-dimensional transforms, on four arrays at a time ------------------------------------

def _input_1d(d0, d1, d2, d3):
    """Bᵀ d: (d0 − d2, d1 + d2, d2 − d1, d1 − d3)."""
    return d0 - d2, d1 + d2, d2 - d1, d1 - d3


def _input_1d_adjoint(v0, v1, v2, v3):
    """B v, the adjoint of ``_input_1d``: (v0, v1 − v2 + v3, v1 + v2 − v0, −v3)."""
    return v0, v1 - v2 + v3, v1 + v2 - v0, -v3


def _output_1d(m0, m1, m2, m3):
    """Aᵀ m: (m0 + m1 + m2, m1 − m2 − m3)."""
    return m0 + m1 + m2, m1 - m2 - m3


def _output_1d_adjoint(y0, y1):
    """A y, the adjoint of ``_output_1d``: (y0, y0 + y1, y0 − y1, −y1)."""
    return y0, y0 + y1, y0 - y1, -y1


# -- transforms of whole arrays ------------------------------------------------------------------

def _transform_input(x, pads, th: int, tw: int) -> np.ndarray:
    """V (16, C, N·TH·TW): ``Bᵀ d B`` of every 4×4 tile d of x padded by ``pads`` (and by
    zeros up to the last tile). Channels first, so that ``U @ V`` is 16 products over C."""
    (top, _), (left, _) = pads
    n_samples, channels, height, width = x.shape
    # Channels first from the start: every array below is then laid out as V needs.
    padded = np.zeros((channels, n_samples, 2 * th + 2, 2 * tw + 2), x.dtype)
    padded[:, :, top:top + height, left:left + width] = x.transpose(1, 0, 2, 3)
    rows = _input_1d(*(padded[:, :, r:r + 2 * th:2] for r in range(4)))
    v = np.empty((4, 4, channels, n_samples, th, tw), x.dtype)
    for i, row in enumerate(rows):
        v[i] = _input_1d(*(row[..., s:s + 2 * tw:2] for s in range(4)))
    return v.reshape(16, channels, n_samples * th * tw)


def _scatter_input_adjoint(dv, x_shape, pads, th: int, tw: int) -> np.ndarray:
    """dx (N, C, H, W) from dV (16, C, N·TH·TW): ``B dV Bᵀ`` per tile, added onto the pixels
    the tile read (neighbouring tiles overlap by 2), cropped to the unpadded input."""
    (top, _), (left, _) = pads
    n_samples, channels, height, width = x_shape
    dv = dv.reshape(4, 4, channels, n_samples, th, tw)
    d_padded = np.zeros((channels, n_samples, 2 * th + 2, 2 * tw + 2), dv.dtype)
    d_rows = [np.zeros((channels, n_samples, th, 2 * tw + 2), dv.dtype) for _ in range(4)]
    for i in range(4):
        for s, column in enumerate(_input_1d_adjoint(*dv[i])):
            d_rows[i][..., s:s + 2 * tw:2] += column
    for r, row in enumerate(_input_1d_adjoint(*d_rows)):
        d_padded[:, :, r:r + 2 * th:2] += row
    dx = d_padded[:, :, top:top + height, left:left + width].transpose(1, 0, 2, 3)
    return np.ascontiguousarray(dx)


def _transform_kernel(w) -> np.ndarray:
    """U (16, O, C): ``G g Gᵀ`` of every 3×3 kernel g = w[o, c]."""
    g = G.astype(w.dtype)
    return np.einsum("ku,ocuv,lv->kloc", g, w, g).reshape(16, *w.shape[:2])


def _kernel_adjoint(du) -> np.ndarray:
    """dw (O, C, 3, 3) from dU (16, O, C): ``Gᵀ dU G``."""
    g = G.astype(du.dtype)
    return np.einsum("ku,kloc,lv->ocuv", g, du.reshape(4, 4, *du.shape[1:]), g)


def _transform_output(m, out, b, th: int, tw: int) -> None:
    """``out[n, o, 2·ti + a, 2·tj + b] = (Aᵀ m A)[a, b] (+ bias)`` from M (16, O, N·TH·TW),
    cropped to out's size."""
    n_samples, out_channels, out_h, out_w = out.shape
    m = m.reshape(4, 4, out_channels, n_samples, th, tw)
    full = out
    if (out_h, out_w) != (2 * th, 2 * tw):  # an odd size: compute whole tiles, then crop
        full = np.empty((n_samples, out_channels, 2 * th, 2 * tw), out.dtype)
    blocks = full.reshape(n_samples, out_channels, th, 2, tw, 2)
    for a, row in enumerate(_output_1d(*m)):         # Aᵀ over the tile's rows
        for c, y in enumerate(_output_1d(*row)):     # then over its columns
            y = y.transpose(1, 0, 2, 3)              # (O, N, ..) → (N, O, ..)
            if b is None:
                blocks[:, :, :, a, :, c] = y
            else:
                np.add(y, b.reshape(-1, 1, 1), out=blocks[:, :, :, a, :, c])
    if full is not out:
        out[...] = full[:, :, :out_h, :out_w]


def _transform_dout(dout, th: int, tw: int) -> np.ndarray:
    """dM (16, O, N·TH·TW): ``A dY Aᵀ`` of every 2×2 tile of dout (zeros past its edge: the
    cropped outputs had no gradient)."""
    n_samples, out_channels, out_h, out_w = dout.shape
    padded = np.zeros((out_channels, n_samples, 2 * th, 2 * tw), dout.dtype)
    padded[:, :, :out_h, :out_w] = dout.transpose(1, 0, 2, 3)
    rows = _output_1d_adjoint(padded[:, :, 0::2], padded[:, :, 1::2])
    dm = np.empty((4, 4, out_channels, n_samples, th, tw), dout.dtype)
    for i, row in enumerate(rows):
        dm[i] = _output_1d_adjoint(row[..., 0::2], row[..., 1::2])
    return dm.reshape(16, out_channels, n_samples * th * tw)


# -- the method ----------------------------------------------------------------------------------

def winograd_forward(x, w, b, pads) -> np.ndarray:
    """``out = conv2d(x, w, b, stride=1, padding=pads)`` for a 3×3 w, by F(2×2, 3×3).

    Shapes: x (N, C, H, W), w (O, C, 3, 3), b (O,) or None → out (N, O, Ho, Wo).
    """
    n_samples = x.shape[0]
    out_h, out_w, th, tw = _tiles(x.shape, pads)
    out = np.empty((n_samples, w.shape[0], out_h, out_w), x.dtype)
    if out.size == 0:
        return out
    m = np.matmul(_transform_kernel(w), _transform_input(x, pads, th, tw))
    _transform_output(m, out, b, th, tw)
    return out


def winograd_backward(dout, x, w, pads, need_dx: bool, need_dw: bool):
    """``(dx, dw)`` of ``winograd_forward`` (either None if not needed), its adjoint:
    dM = A dY Aᵀ; dw = Gᵀ (dM @ Vᵀ) G; dx = B (Uᵀ @ dM) Bᵀ added over the overlapping tiles."""
    dtype = x.dtype
    _, _, th, tw = _tiles(x.shape, pads)
    dm = _transform_dout(dout.astype(dtype, copy=False), th, tw)
    dx = dw = None
    if need_dw:
        v = _transform_input(x, pads, th, tw)
        dw = _kernel_adjoint(np.matmul(dm, v.transpose(0, 2, 1))).astype(dtype, copy=False)
    if need_dx:
        dv = np.matmul(_transform_kernel(w).transpose(0, 2, 1), dm)
        dx = _scatter_input_adjoint(dv, x.shape, pads, th, tw).astype(dtype, copy=False)
    return dx, dw
