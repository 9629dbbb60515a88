"""2-D convolution and padding, as forward/backward pairs: the lab sheet of a convolution layer.

Convolution as every framework computes it is *cross-correlation*: the kernel slides over the
input without being flipped::

    out[n, o, i, j] = b[o] + Σ_c Σ_u Σ_v  w[o, c, u, v] · x_pad[n, c, i·sh + u, j·sw + v]

The textbook convolution flips the kernel; it is the same operation with the flipped weight,
``conv2d_forward(x, np.flip(w, (2, 3)), b)``. Since the weights are learned, the flip makes no
difference to what a network can learn, and frameworks skip it.

How it is computed here: ``im2col`` copies every receptive field into a column of a matrix
``cols`` (C·kh·kw, N·Ho·Wo), so that the whole layer is one matrix product
``w.reshape(O, C·kh·kw) @ cols``. The backward pass is two more products and ``col2im``, the
transpose of ``im2col``. This is the reference engine: the fast engine (``minicnn.fast``)
computes the same numbers by other means.
"""

from numbers import Integral

import numpy as np

from .._validation import check_dim, check_dtype_matches, check_float_array, check_rank

__all__ = [
    "col2im", "conv2d_backward", "conv2d_forward", "conv_output_size", "im2col", "pad2d",
    "pad2d_backward", "same_padding",
]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
_NUMPY_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge",
                    "circular": "wrap"}


def conv_output_size(size: int, kernel: int, stride: int = 1, padding=0) -> int:
    """``out = floor((size + pad_before + pad_after − kernel) / stride) + 1``.

    ``padding`` is an int (the same on both sides, so ``floor((in + 2·pad − kernel) / stride)
    + 1``) or a pair ``(before, after)``.
    """
    before, after = (padding, padding) if isinstance(padding, Integral) else padding
    return (size + before + after - kernel) // stride + 1


def same_padding(kernel: int, dilation: int = 1) -> tuple[int, int]:
    """Padding ``(before, after)`` that keeps the size at stride 1, split as PyTorch does.

    The total is ``dilation·(kernel − 1)``; when it is odd, the extra row/column goes after
    (bottom/right): kernel 4 → (1, 2).
    """
    total = dilation * (kernel - 1)
    return total // 2, total - total // 2


def padding_pairs(padding) -> tuple[tuple[int, int], tuple[int, int]]:
    """``padding`` as ``((top, bottom), (left, right))``.

    Accepts an int p → ((p, p), (p, p)); a pair (ph, pw) → ((ph, ph), (pw, pw)); or the pairs
    themselves, as ``np.pad`` takes them.
    """
    if isinstance(padding, Integral):
        return (int(padding),) * 2, (int(padding),) * 2
    rows, cols = padding
    rows = (int(rows), int(rows)) if isinstance(rows, Integral) else (int(rows[0]), int(rows[1]))
    cols = (int(cols), int(cols)) if isinstance(cols, Integral) else (int(cols[0]), int(cols[1]))
    return rows, cols


def stride_pair(stride) -> tuple[int, int]:
    """``stride`` as ``(sh, sw)``: an int s → (s, s)."""
    return (int(stride), int(stride)) if isinstance(stride, Integral) else tuple(map(int, stride))


def check_conv2d_arguments(where: str, x, w, b, stride, pads) -> None:
    """TypeError/ValueError, naming ``where``, for arrays that cannot be convolved. Both engines
    call it, once per forward, so both refuse the same input with the same message; a layer
    passes its own name."""
    if not isinstance(w, np.ndarray) or w.ndim != 4:
        raise ValueError(f"{where}: expected a weight (O, C, kh, kw), got "
                         f"{getattr(w, 'shape', type(w).__name__)}")
    layout = f"(N, {w.shape[1]}, H, W)"
    check_float_array(where, x)
    check_rank(where, x, 4, layout)
    check_dim(where, x, 1, w.shape[1], "channels", layout)
    check_dtype_matches(where, x, w.dtype)
    if b is not None and (b.dtype != w.dtype or b.shape != (w.shape[0],)):
        raise ValueError(f"{where}: expected a bias of shape ({w.shape[0]},) and dtype "
                         f"{w.dtype}, got {b.shape} and {b.dtype}")
    if min(stride) < 1 or min(min(pads[0]), min(pads[1])) < 0:
        raise ValueError(f"{where}: expected stride >= 1 and padding >= 0, got stride {stride}"
                         f" and padding {pads}")
    padded = (x.shape[2] + sum(pads[0]), x.shape[3] + sum(pads[1]))
    if padded[0] < w.shape[2] or padded[1] < w.shape[3]:
        raise ValueError(f"{where}: kernel {w.shape[2:]} is larger than the padded input "
                         f"{padded} (input shape {x.shape}, padding {pads})")


def im2col(x_pad: np.ndarray, kh: int, kw: int, stride) -> np.ndarray:
    """Every kh×kw receptive field of ``x_pad`` as one column of a matrix.

    Formula::

        cols[(c, u, v), (n, i, j)] = x_pad[n, c, i·sh + u, j·sw + v]

    For one kernel offset (u, v), the entries of all receptive fields form one strided slice of
    the input (rows u, u + sh, u + 2·sh, ...), so kh·kw slice copies fill the whole matrix.

    Shapes: x_pad (N, C, Hp, Wp) → cols (C·kh·kw, N·Ho·Wo), Ho = floor((Hp − kh) / sh) + 1.
    """
    n_samples, channels, height_p, width_p = x_pad.shape
    sh, sw = stride
    out_h, out_w = (height_p - kh) // sh + 1, (width_p - kw) // sw + 1
    cols = np.empty((channels, kh, kw, n_samples, out_h, out_w), x_pad.dtype)
    for u in range(kh):
        for v in range(kw):
            field = x_pad[:, :, u:u + sh * out_h:sh, v:v + sw * out_w:sw]  # (N, C, Ho, Wo)
            cols[:, u, v] = field.transpose(1, 0, 2, 3)
    return cols.reshape(channels * kh * kw, n_samples * out_h * out_w)


def col2im(cols: np.ndarray, x_pad_shape, kh: int, kw: int, stride) -> np.ndarray:
    """The transpose of ``im2col``: each entry of ``cols`` is added back where it was copied from.

    Formula::

        x_pad[n, c, i·sh + u, j·sw + v] += cols[(c, u, v), (n, i, j)]   for every entry

    Receptive fields that overlap (stride < kernel) add up, which is why the input gradient of
    a convolution is ``col2im`` of the columns' gradient.

    Shapes: cols (C·kh·kw, N·Ho·Wo) → x_pad (N, C, Hp, Wp).
    """
    n_samples, channels, height_p, width_p = x_pad_shape
    sh, sw = stride
    out_h, out_w = (height_p - kh) // sh + 1, (width_p - kw) // sw + 1
    cols = cols.reshape(channels, kh, kw, n_samples, out_h, out_w)
    x_pad = np.zeros(x_pad_shape, cols.dtype)
    for u in range(kh):
        for v in range(kw):
            x_pad[:, :, u:u + sh * out_h:sh, v:v + sw * out_w:sw] += cols[:, u, v].transpose(
                1, 0, 2, 3)
    return x_pad


def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride=1,
                   padding=0, *, where: str = "conv2d_forward"):
    """2-D cross-correlation with zero padding.

    Formula (x_pad = x with zero padding, s = stride)::

        out[n, o, i, j] = b[o] + Σ_c Σ_u Σ_v  w[o, c, u, v] · x_pad[n, c, i·sh + u, j·sw + v]
        Ho = floor((H + 2·ph − kh) / sh) + 1,   Wo = floor((W + 2·pw − kw) / sw) + 1

    As one matrix product: ``out = w.reshape(O, C·kh·kw) @ im2col(x_pad)`` (+ b), whose
    (O, N·Ho·Wo) result is reshaped to (N, O, Ho, Wo).

    Shapes:
        x: (N, C, H, W)   w: (O, C, kh, kw)   b: (O,) or None   →   out: (N, O, Ho, Wo)

    Args:
        stride: int or (sh, sw).
        padding: int, (ph, pw), or ((top, bottom), (left, right)) for asymmetric padding.
        where: the name error messages give (a layer passes its own).

    Returns ``(out, cache)`` for ``conv2d_backward``. ``out`` has x's dtype.
    """
    stride, pads = stride_pair(stride), padding_pairs(padding)
    check_conv2d_arguments(where, x, w, b, stride, pads)
    out_channels, _, kh, kw = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), *pads))
    cols = im2col(x_pad, kh, kw, stride)                     # (C·kh·kw, N·Ho·Wo)
    out = w.reshape(out_channels, -1) @ cols                 # (O, N·Ho·Wo)
    out_h = conv_output_size(x.shape[2], kh, stride[0], pads[0])
    out_w = conv_output_size(x.shape[3], kw, stride[1], pads[1])
    out = out.reshape(out_channels, x.shape[0], out_h, out_w).transpose(1, 0, 2, 3)
    if b is not None:
        out = out + b.reshape(1, -1, 1, 1)
    cache = (cols, w, b is not None, x.shape, x_pad.shape, stride, pads)
    return np.ascontiguousarray(out), cache


def conv2d_backward(dout: np.ndarray, cache, need_dx: bool = True, need_dw: bool = True,
                    need_db: bool = True):
    """Gradients of the 2-D cross-correlation given ``dout = dL/dout``.

    Formulas (cols = im2col(x_pad) as a (C·kh·kw, N·Ho·Wo) matrix, dout as (O, N·Ho·Wo))::

        db[o]          = Σ_n Σ_i Σ_j dout[n, o, i, j]
        dw[o, c, u, v] = Σ_n Σ_i Σ_j dout[n, o, i, j] · x_pad[n, c, i·sh + u, j·sw + v]
                       i.e. dw = dout @ colsᵀ
        dx_pad[n, c, y, x] = Σ_o Σ_u Σ_v dout[n, o, i, j] · w[o, c, u, v]
                             over (i, j) with i·sh + u = y and j·sw + v = x
                       i.e. dx = col2im(wᵀ @ dout), dropping the padded border

    At stride 1 the last sum is a *full* cross-correlation of dout with the flipped kernel, in
    and out channels swapped: the identity of the lecture.

    Shapes: dout (N, O, Ho, Wo) → dx (N, C, H, W), dw (O, C, kh, kw), db (O,).

    ``need_dx`` / ``need_dw`` / ``need_db`` = False skip that gradient (a first layer needs no
    dx; a frozen layer no dw) and return None in its place; db is also None without a bias.

    Returns ``(dx, dw, db)``, each of x's dtype.
    """
    cols, w, has_bias, x_shape, x_pad_shape, stride, pads = cache
    out_channels, _, kh, kw = w.shape
    dout_matrix = dout.transpose(1, 0, 2, 3).reshape(out_channels, -1)   # (O, N·Ho·Wo)
    db = dout.sum(axis=(0, 2, 3)) if (has_bias and need_db) else None
    dw = (dout_matrix @ cols.T).reshape(w.shape) if need_dw else None
    dx = None
    if need_dx:
        dx_pad = col2im(w.reshape(out_channels, -1).T @ dout_matrix, x_pad_shape, kh, kw, stride)
        (top, _), (left, _) = pads
        dx = dx_pad[:, :, top:top + x_shape[2], left:left + x_shape[3]].copy()
    return dx, dw, db


# -- padding with a mode --------------------------------------------------------------------

def _source_index(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """For each row (or column) of the padded axis, the input row it copies; −1 for a zero.

    With ``k`` the position in the unpadded coordinates (``k = p − before``)::

        zeros      k inside [0, size), else −1
        replicate  clip(k, 0, size − 1)                 ...a a | a b c d | d d...
        reflect    mirror at the edges, edge not repeated  ...c b | a b c d | c b...
        circular   k mod size                           ...c d | a b c d | a b...
    """
    k = np.arange(-before, size + after)
    if mode == "zeros":
        return np.where((k >= 0) & (k < size), k, -1)
    if mode == "replicate":
        return np.clip(k, 0, size - 1)
    if mode == "circular":
        return k % size
    if mode == "reflect":
        if size == 1:
            return np.zeros_like(k)
        period = 2 * (size - 1)
        k = np.abs(k) % period
        return np.where(k < size, k, period - k)
    raise ValueError(f"pad2d: unknown mode {mode!r}; expected one of {PADDING_MODES}")


def check_padding(where: str, shape, pads, mode: str) -> None:
    """ValueError for an unknown mode or a padding the mode cannot make from an input of shape."""
    if mode not in PADDING_MODES:
        raise ValueError(f"{where}: unknown padding mode {mode!r}; expected one of "
                         f"{PADDING_MODES}")
    for axis, (before, after) in zip((2, 3), pads, strict=True):
        size = shape[axis]
        if min(before, after) < 0:
            raise ValueError(f"{where}: expected padding >= 0, got {pads}")
        # PyTorch's limits: a reflection cannot reach past the far edge, a wrap past the input.
        if mode == "reflect" and max(before, after) >= size:
            raise ValueError(f"{where}: reflect padding {max(before, after)} must be smaller "
                             f"than the input size {size} (input shape {tuple(shape)})")
        if mode == "circular" and max(before, after) > size:
            raise ValueError(f"{where}: circular padding {max(before, after)} must not exceed "
                             f"the input size {size} (input shape {tuple(shape)})")
        if mode == "replicate" and size == 0:
            raise ValueError(f"{where}: cannot replicate the edge of an empty axis")


def pad2d(x: np.ndarray, padding, mode: str = "zeros", *, where: str = "pad2d"):
    """Pad the last two axes of ``x`` (N, C, H, W) by ``padding`` in the given ``mode``.

    ``padding``: int, (ph, pw) or ((top, bottom), (left, right)). Modes, for a row a b c d
    padded by 2: zeros ``0 0 a b c d 0 0``; reflect ``c b a b c d c b``; replicate
    ``a a a b c d d d``; circular ``c d a b c d a b``. Every output pixel is a copy of one
    input pixel (or a zero): ``x_pad[n, c, p, q] = x[n, c, src_h[p], src_w[q]]``.

    Shapes: x (N, C, H, W) → x_pad (N, C, H + top + bottom, W + left + right).
    Returns ``(x_pad, cache)`` for ``pad2d_backward``.
    """
    pads = padding_pairs(padding)
    check_float_array(where, x)
    check_rank(where, x, 4, "(N, C, H, W)")
    check_padding(where, x.shape, pads, mode)
    padded = np.pad(x, ((0, 0), (0, 0), *pads), mode=_NUMPY_PAD_MODES[mode])
    return padded, (x.shape, pads, mode)


def _fold_axis(grad: np.ndarray, axis: int, source: np.ndarray, before: int,
               size: int) -> np.ndarray:
    """Fold the padded rows (axis 2) or columns (axis 3) of ``grad`` back onto their sources.

    The interior ``before .. before + size − 1`` passes through; the gradient at each padded
    position p is added to position ``source[p]`` of the interior (nothing when −1: a zero).
    """
    def along(index):
        return (slice(None),) * axis + (index,)

    folded = grad[along(slice(before, before + size))].copy()
    for p, src in enumerate(source):
        is_border = p < before or p >= before + size
        if is_border and src >= 0:
            folded[along(src)] += grad[along(p)]
    return folded


def pad2d_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Gradient of ``pad2d``: each padded pixel's gradient goes back to the pixel it copied.

    Formula: ``dx[n, c, y, x] = Σ dout[n, c, p, q]`` over all (p, q) with
    ``src_h[p] = y`` and ``src_w[q] = x``: the interior passes straight through and the border
    is folded back onto the rows/columns it was copied from (zero padding drops its border).
    Done one axis at a time, since the copy map is separable.

    Shapes: dout (N, C, H + top + bottom, W + left + right) → dx (N, C, H, W).
    """
    (_, _, height, width), ((top, bottom), (left, right)), mode = cache
    rows = _fold_axis(dout, 2, _source_index(height, top, bottom, mode), top, height)
    return _fold_axis(rows, 3, _source_index(width, left, right, mode), left, width)
