"""Transposed convolution ("deconvolution", fractionally strided convolution) as a forward/backward
pair: the upsampling layer of U-Nets, autoencoder decoders and GAN generators.

It is the *adjoint* (transpose) of ``conv2d``: for a weight ``w``, the transposed convolution of
``y`` is the gradient with respect to the input of a convolution with the same ``w``, stride,
padding and dilation, so that for every x and y::

    ⟨conv2d(x; w), y⟩ = ⟨x, conv_transpose2d(y; w)⟩

Where a convolution gathers a window of inputs into one output, its transpose scatters each
input pixel, weighted by the kernel, onto a window of outputs::

    out[n, o, i·s − p + u·d, j·s − p + v·d] += x[n, c, i, j] · w[c, o, u, v]

    for every n, c, i, j and every tap (u, v) of the kernel, then out[n, o] += b[o];
    entries that land outside the output (the padding p cropped from each side) are dropped.

Shapes: x (N, C, H, W), w (C, O/g, kh, kw) (the weight of the convolution it transposes,
(O → C), read the other way round), b (O,) → out (N, O, Ho, Wo) with::

    Ho = (H − 1)·sh − 2·ph + dh·(kh − 1) + output_padding_h + 1      (likewise Wo)

``output_padding`` adds rows/columns at the bottom/right only: a stride-s convolution maps
s neighbouring input sizes to the same output size, and it picks which one to go back to.
With groups g, input channels c of group k = c // (C/g) reach only the outputs of that group.
"""

import numpy as np

from .._validation import as_pair, check_dim, check_dtype_matches, check_float_array, check_rank

__all__ = ["conv_transpose2d_backward", "conv_transpose2d_forward", "conv_transpose2d_output_size"]


def conv_transpose2d_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                                 output_padding: int = 0, dilation: int = 1) -> int:
    """``(size − 1)·stride − 2·padding + dilation·(kernel − 1) + output_padding + 1``."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def conv_transpose2d_params(where: str, stride, padding, output_padding, dilation, groups):
    """The settings as pairs of ints, checked as PyTorch checks them: stride and dilation
    >= 1, padding and output_padding >= 0, groups >= 1, and on each axis output_padding smaller
    than the stride or the dilation (else the extra rows could not come from any convolution)."""
    stride = as_pair(where, "stride", stride, minimum=1)
    padding = as_pair(where, "padding", padding, minimum=0)
    output_padding = as_pair(where, "output_padding", output_padding, minimum=0)
    dilation = as_pair(where, "dilation", dilation, minimum=1)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{where}: expected groups as an int >= 1, got {groups!r}")
    for axis in range(2):
        if output_padding[axis] >= max(stride[axis], dilation[axis]):
            raise ValueError(f"{where}: output padding must be smaller than either stride or "
                             f"dilation, got output_padding {output_padding}, stride {stride}"
                             f" and dilation {dilation}")
    return stride, padding, output_padding, dilation, int(groups)


def _check_arrays(where: str, x, w, b, groups: int) -> None:
    if not isinstance(w, np.ndarray) or w.ndim != 4:
        raise ValueError(f"{where}: expected a weight (C, O/groups, kh, kw), got "
                         f"{getattr(w, 'shape', type(w).__name__)}")
    if w.shape[0] % groups:
        raise ValueError(f"{where}: expected input channels divisible by groups={groups}, got "
                         f"a weight of shape {w.shape}")
    layout = f"(N, {w.shape[0]}, H, W)"
    check_float_array(where, x)
    check_rank(where, x, 4, layout)
    check_dim(where, x, 1, w.shape[0], "channels", layout)
    check_dtype_matches(where, x, w.dtype)
    out_channels = w.shape[1] * groups
    if b is not None and (not isinstance(b, np.ndarray) or b.dtype != w.dtype
                          or b.shape != (out_channels,)):
        raise ValueError(f"{where}: expected a bias of shape ({out_channels},) and dtype "
                         f"{w.dtype}, got {getattr(b, 'shape', type(b).__name__)} and "
                         f"{getattr(b, 'dtype', None)}")


def _taps(kernel, stride, dilation, in_size):
    """For each tap (u, v), the strided slices of the uncropped output it scatters onto: rows
    ``u·dh, u·dh + sh, ..., u·dh + (H − 1)·sh`` (likewise columns)."""
    (kh, kw), (sh, sw), (dh, dw), (height, width) = kernel, stride, dilation, in_size
    for u in range(kh):
        for v in range(kw):
            rows = slice(u * dh, u * dh + (height - 1) * sh + 1, sh)
            cols = slice(v * dw, v * dw + (width - 1) * sw + 1, sw)
            yield u, v, rows, cols


def conv_transpose2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None,
                             stride=1, padding=0, output_padding=0, groups: int = 1,
                             dilation=1, *, where: str = "conv_transpose2d_forward"):
    """Transposed convolution (see the module docstring for the formula and the shapes).

    Computed as the formula reads: for each tap (u, v), every input pixel times w[:, :, u, v]
    is added onto a strided slice of an uncropped output of size
    ``(H − 1)·sh + dh·(kh − 1) + 1 + output_padding_h``; then ``padding`` is cropped off each
    side. ValueError if the output would be empty (PyTorch's rule).

    Returns ``(out, cache)``, out of x's dtype.
    """
    stride, padding, output_padding, dilation, groups = conv_transpose2d_params(
        where, stride, padding, output_padding, dilation, groups)
    _check_arrays(where, x, w, b, groups)
    n_samples, channels, height, width = x.shape
    kernel = w.shape[2:]
    out_h = conv_transpose2d_output_size(height, kernel[0], stride[0], padding[0],
                                         output_padding[0], dilation[0])
    out_w = conv_transpose2d_output_size(width, kernel[1], stride[1], padding[1],
                                         output_padding[1], dilation[1])
    if out_h < 1 or out_w < 1:
        raise ValueError(f"{where}: input shape {x.shape} gives an empty output "
                         f"({out_h}, {out_w}); reduce the padding {padding}")
    (ph, pw) = padding
    full = np.zeros((n_samples, groups, w.shape[1], out_h + 2 * ph, out_w + 2 * pw), x.dtype)
    x_groups = x.reshape(n_samples, groups, channels // groups, height, width)
    w_groups = w.reshape(groups, channels // groups, *w.shape[1:])   # (g, C/g, O/g, kh, kw)
    for u, v, rows, cols in _taps(kernel, stride, dilation, (height, width)):
        full[..., rows, cols] += np.einsum("ngchw,gco->ngohw", x_groups, w_groups[..., u, v])
    out = full.reshape(n_samples, -1, *full.shape[3:])[:, :, ph:ph + out_h, pw:pw + out_w]
    out = np.ascontiguousarray(out)
    if b is not None:
        out += b[:, None, None]
    cache = (x, w, b is not None, stride, padding, dilation, groups)
    return out, cache


def conv_transpose2d_backward(dout: np.ndarray, cache):
    """Gradients of the transposed convolution: ``(dx, dw, db)``, db None without a bias.

    Formula (each scatter of the forward read backwards, as a gather)::

        dx[n, c, i, j]  = Σ_o Σ_u Σ_v dout[n, o, i·s − p + u·d, j·s − p + v·d] · w[c, o, u, v]
        dw[c, o, u, v]  = Σ_n Σ_i Σ_j dout[n, o, i·s − p + u·d, j·s − p + v·d] · x[n, c, i, j]
        db[o]           = Σ_n Σ_y Σ_x dout[n, o, y, x]

    (o within c's group; dout is 0 outside the output, i.e. in the cropped padding). dx is a
    plain convolution of dout with w: the transpose of the transpose.

    Shapes: dout (N, O, Ho, Wo) → dx (N, C, H, W), dw (C, O/g, kh, kw), db (O,).
    """
    x, w, has_bias, stride, (ph, pw), dilation, groups = cache
    n_samples, channels, height, width = x.shape
    out_h, out_w = dout.shape[2:]
    full = np.zeros((n_samples, dout.shape[1], out_h + 2 * ph, out_w + 2 * pw), dout.dtype)
    full[:, :, ph:ph + out_h, pw:pw + out_w] = dout
    full = full.reshape(n_samples, groups, w.shape[1], *full.shape[2:])
    x_groups = x.reshape(n_samples, groups, channels // groups, height, width)
    w_groups = w.reshape(groups, channels // groups, *w.shape[1:])
    dx = np.zeros_like(x_groups)
    dw = np.zeros_like(w_groups)
    for u, v, rows, cols in _taps(w.shape[2:], stride, dilation, (height, width)):
        dout_tap = full[..., rows, cols]                               # (N, g, O/g, H, W)
        dx += np.einsum("ngohw,gco->ngchw", dout_tap, w_groups[..., u, v])
        dw[..., u, v] = np.einsum("ngohw,ngchw->gco", dout_tap, x_groups)
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return dx.reshape(x.shape), dw.reshape(w.shape), db
