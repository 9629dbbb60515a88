"""The fast engine's method "winograd": Winograd's F(2×2, 3×3) for 3×3 convolutions at stride 1.

A 2×2 block of outputs reads a 4×4 tile d of the padded input. Written in the transformed
basis,

    Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A        (g: a 3×3 kernel, Y: the 2×2 outputs)

the 36 multiplications of the direct sum become 16 (2.25× fewer). Summed over the input
channels, the 16 element-wise products are 16 matrix products, one per entry k of the 4×4
transform:

    M[k] = V[k] @ U[k],   V = Bᵀ d B  (16, tiles, C),   U = G g Gᵀ  (16, C, O),

and the output transform ``Aᵀ M A`` gives each tile's 2×2 outputs. Tiles start every 2 pixels
(neighbours overlap by 2); an odd output size gets a last tile that reaches past the input
(read as zeros) whose extra outputs are cropped.

The backward pass is the adjoint of the same linear map, so it needs no other transform:
``dM = A dY Aᵀ``; the weight gradient is ``Gᵀ (Vᵀ @ dM) G``, the input gradient
``B (dM @ Uᵀ) Bᵀ`` added back onto the overlapping tiles (which makes it the full correlation
of dout with the rotated kernel).

The data transforms are Numba loops (``kernels/winograd.py``); the kernel transform is an
``einsum`` on the small weight. The lab version, tile by tile in NumPy, is
``docs/winograd.md``.
"""

import numpy as np

from ..functional.conv import conv_output_size
from . import kernels

__all__ = ["winograd_backward", "winograd_forward"]

# F(2, 3)'s kernel transform (4×3); the data transforms Bᵀ and Aᵀ are written out as the
# additions they stand for in kernels/winograd.py.
G = np.array([[1.0, 0.0, 0.0],
              [0.5, 0.5, 0.5],
              [0.5, -0.5, 0.5],
              [0.0, 0.0, 1.0]])


def _tiles(x_shape, pads):
    """(Ho, Wo, TH, TW): the output size and the number of 2×2 output tiles down and across."""
    out_h = conv_output_size(x_shape[2], 3, 1, pads[0])
    out_w = conv_output_size(x_shape[3], 3, 1, pads[1])
    return out_h, out_w, -(-out_h // 2), -(-out_w // 2)


def _transform_kernel(w) -> np.ndarray:
    """U (16, C, O): ``G g Gᵀ`` of every 3×3 kernel g = w[o, c], C-contiguous."""
    g = G.astype(w.dtype)
    return np.ascontiguousarray(np.einsum("ku,ocuv,lv->klco", g, w, g).reshape(16, *w.shape[1::-1]))


def _kernel_adjoint(du) -> np.ndarray:
    """dw (O, C, 3, 3) from dU (16, C, O): ``Gᵀ dU G``."""
    g = G.astype(du.dtype)
    return np.einsum("ku,klco,lv->ocuv", g, du.reshape(4, 4, *du.shape[1:]), g)


def _transform_input(x, pads, th: int, tw: int) -> np.ndarray:
    """V (16, N·TH·TW, C): ``Bᵀ d B`` of every tile of x padded."""
    v = np.empty((16, x.shape[0] * th * tw, x.shape[1]), x.dtype)
    return kernels.winograd_input(x, pads[0][0], pads[1][0], th, tw, v)


def winograd_forward(x, w, b, pads) -> np.ndarray:
    """``out = conv2d(x, w, b, stride=1, padding=pads)`` for a 3×3 w, by F(2×2, 3×3).

    Shapes: x (N, C, H, W) C-contiguous, w (O, C, 3, 3), b (O,) or None → out (N, O, Ho, Wo).
    """
    n_samples, out_channels = x.shape[0], w.shape[0]
    out_h, out_w, th, tw = _tiles(x.shape, pads)
    out = np.empty((n_samples, out_channels, out_h, out_w), x.dtype)
    if out.size == 0:
        return out
    m = np.matmul(_transform_input(x, pads, th, tw), _transform_kernel(w))  # 16 products
    bias = np.zeros(out_channels, x.dtype) if b is None else np.asarray(b, x.dtype)
    return kernels.winograd_output(m, bias, out, th, tw)


def winograd_backward(dout, x, w, pads, need_dx: bool, need_dw: bool):
    """``(dx, dw)`` of ``winograd_forward`` (either None if not needed), its adjoint:
    dM = A dY Aᵀ; dw = Gᵀ (Vᵀ @ dM) G; dx = B (dM @ Uᵀ) Bᵀ added over the overlapping tiles."""
    dtype = x.dtype
    _, _, th, tw = _tiles(x.shape, pads)
    dout = np.ascontiguousarray(dout, dtype=dtype)
    dm = np.empty((16, dout.shape[0] * th * tw, dout.shape[1]), dtype)
    kernels.winograd_dout(dout, th, tw, dm)
    dx = dw = None
    if need_dw:
        # Vᵀ (16, C, T) written directly: a C-contiguous left factor keeps np.matmul on its
        # BLAS path (a transposed view of V measured 1.6× slower in this product).
        v_t = np.empty((16, x.shape[1], dm.shape[1]), dtype)
        kernels.winograd_input(x, pads[0][0], pads[1][0], th, tw, v_t.transpose(0, 2, 1))
        dw = _kernel_adjoint(np.matmul(v_t, dm)).astype(dtype, copy=False)
    if need_dx:
        dv = np.matmul(dm, _transform_kernel(w).transpose(0, 2, 1))
        dx = np.empty(x.shape, dtype)
        kernels.winograd_input_adjoint(dv, pads[0][0], pads[1][0], th, tw, dx)
    return dx, dw
