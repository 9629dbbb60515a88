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
    "col2im", "conv2d_backward", "conv2d_forward", "conv_output_size", "convolve2d",
    "convolve2d_backward", "im2col", "pad2d", "pad2d_backward", "same_padding",
]

# The padding modes of Conv2d: PyTorch's four, and the decks' mirror padding "symmetric"
# (the edge repeated: 2 1 | 1 2 3 4 | 4 3, NumPy's "symmetric"), which PyTorch does not have.
PADDING_MODES = ("zeros", "reflect", "replicate", "circular", "symmetric")
# pad2d also takes "constant" (with ``value``), as torch.nn.functional.pad does.
PAD2D_MODES = ("constant", *PADDING_MODES)
_NUMPY_PAD_MODES = {"constant": "constant", "zeros": "constant", "reflect": "reflect",
                    "replicate": "edge", "circular": "wrap", "symmetric": "symmetric"}
# Padding by name: "valid" none, "same" the output size of the input (stride 1), "full" every
# position where the kernel overlaps the input at all (not in PyTorch; scipy's mode "full").
PADDING_NAMES = ("valid", "same", "full")


def conv_output_size(size: int, kernel: int, stride: int = 1, padding=0,
                     dilation: int = 1) -> int:
    """``out = floor((size + pad_before + pad_after − dilation·(kernel − 1) − 1) / stride) + 1``.

    ``padding`` is an int (the same on both sides) or a pair ``(before, after)``. A dilated
    kernel spans ``dilation·(kernel − 1) + 1`` pixels.
    """
    before, after = (padding, padding) if isinstance(padding, Integral) else padding
    return (size + before + after - dilation * (kernel - 1) - 1) // stride + 1


def same_padding(kernel: int, dilation: int = 1) -> tuple[int, int]:
    """Padding ``(before, after)`` that keeps the size at stride 1, split as PyTorch does.

    The total is ``dilation·(kernel − 1)``; when it is odd, the extra row/column goes after
    (bottom/right): kernel 4 → (1, 2).
    """
    total = dilation * (kernel - 1)
    return total // 2, total - total // 2


def named_padding(where: str, name: str, kernel_size, dilation, stride):
    """``"valid"``, ``"same"`` or ``"full"`` as ``((top, bottom), (left, right))``.

    valid: none. same: ``same_padding`` per axis (output size = input size); like PyTorch,
    refused at a stride above 1, where no padding keeps the size. full: ``d·(k − 1)`` on each
    side, so the output has ``H + d·(kh − 1)`` rows (not in PyTorch).
    """
    if name not in PADDING_NAMES:
        raise ValueError(f"{where}: expected padding as an int, a pair, or one of "
                         f"{PADDING_NAMES}, got {name!r}")
    if name == "valid":
        return (0, 0), (0, 0)
    if name == "same":
        if tuple(stride) != (1, 1):
            raise ValueError(f"{where}: padding='same' needs stride 1 (as in PyTorch), got "
                             f"stride {tuple(stride)}")
        return tuple(same_padding(k, d) for k, d in zip(kernel_size, dilation, strict=True))
    return tuple((d * (k - 1),) * 2 for k, d in zip(kernel_size, dilation, strict=True))


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


def conv2d_options(where: str, w, stride, padding, dilation, groups):
    """The convolution's arguments in one form: ``(stride, pads, dilation, groups)`` with
    ``stride`` and ``dilation`` as pairs, ``pads`` as ``((top, bottom), (left, right))``
    (a padding name resolved for ``w``'s kernel), ``groups`` an int. Both engines call it."""
    stride, dilation = stride_pair(stride), stride_pair(dilation)
    if isinstance(groups, bool) or not isinstance(groups, Integral) or groups < 1:
        raise ValueError(f"{where}: expected groups as an int >= 1, got {groups!r}")
    if min(dilation) < 1:
        raise ValueError(f"{where}: expected dilation >= 1, got {dilation}")
    if isinstance(padding, str):
        if not isinstance(w, np.ndarray) or w.ndim != 4:
            raise ValueError(f"{where}: expected a weight (O, C/groups, kh, kw), got "
                             f"{getattr(w, 'shape', type(w).__name__)}")
        pads = named_padding(where, padding, w.shape[2:], dilation, stride)
    else:
        pads = padding_pairs(padding)
    return stride, pads, dilation, int(groups)


def check_conv2d_arguments(where: str, x, w, b, stride, pads, dilation=(1, 1),
                           groups: int = 1) -> None:
    """TypeError/ValueError, naming ``where``, for arrays that cannot be convolved. Both engines
    call it, once per forward, so both refuse the same input with the same message; a layer
    passes its own name."""
    if not isinstance(w, np.ndarray) or w.ndim != 4:
        raise ValueError(f"{where}: expected a weight (O, C/groups, kh, kw), got "
                         f"{getattr(w, 'shape', type(w).__name__)}")
    if w.shape[0] % groups:
        raise ValueError(f"{where}: expected a number of filters divisible by groups={groups}, "
                         f"got weight shape {w.shape}")
    channels = w.shape[1] * groups
    layout = f"(N, {channels}, H, W)"
    check_float_array(where, x)
    check_rank(where, x, 4, layout)
    check_dim(where, x, 1, channels, "channels", layout)
    check_dtype_matches(where, x, w.dtype)
    if b is not None and (b.dtype != w.dtype or b.shape != (w.shape[0],)):
        raise ValueError(f"{where}: expected a bias of shape ({w.shape[0]},) and dtype "
                         f"{w.dtype}, got {b.shape} and {b.dtype}")
    if min(stride) < 1 or min(min(pads[0]), min(pads[1])) < 0:
        raise ValueError(f"{where}: expected stride >= 1 and padding >= 0, got stride {stride}"
                         f" and padding {pads}")
    span = tuple(d * (k - 1) + 1 for k, d in zip(w.shape[2:], dilation, strict=True))
    padded = (x.shape[2] + sum(pads[0]), x.shape[3] + sum(pads[1]))
    if padded[0] < span[0] or padded[1] < span[1]:
        dilated = "" if tuple(dilation) == (1, 1) else f" (dilated by {tuple(dilation)}: {span})"
        raise ValueError(f"{where}: kernel {w.shape[2:]}{dilated} is larger than the padded "
                         f"input {padded} (input shape {x.shape}, padding {pads})")


def im2col(x_pad: np.ndarray, kh: int, kw: int, stride, dilation=(1, 1)) -> np.ndarray:
    """Every kh×kw receptive field of ``x_pad`` as one column of a matrix.

    Formula (d = dilation: the taps of a dilated kernel are d pixels apart)::

        cols[(c, u, v), (n, i, j)] = x_pad[n, c, i·sh + u·dh, j·sw + v·dw]

    For one kernel offset (u, v), the entries of all receptive fields form one strided slice of
    the input (rows u·dh, u·dh + sh, u·dh + 2·sh, ...), so kh·kw slice copies fill the matrix.

    Shapes: x_pad (N, C, Hp, Wp) → cols (C·kh·kw, N·Ho·Wo),
    Ho = floor((Hp − dh·(kh − 1) − 1) / sh) + 1.
    """
    n_samples, channels, height_p, width_p = x_pad.shape
    (sh, sw), (dh, dw) = stride, dilation
    out_h = conv_output_size(height_p, kh, sh, 0, dh)
    out_w = conv_output_size(width_p, kw, sw, 0, dw)
    cols = np.empty((channels, kh, kw, n_samples, out_h, out_w), x_pad.dtype)
    for u in range(kh):
        for v in range(kw):
            top, left = u * dh, v * dw
            # (N, C, Ho, Wo)
            field = x_pad[:, :, top:top + sh * out_h:sh, left:left + sw * out_w:sw]
            cols[:, u, v] = field.transpose(1, 0, 2, 3)
    return cols.reshape(channels * kh * kw, n_samples * out_h * out_w)


def col2im(cols: np.ndarray, x_pad_shape, kh: int, kw: int, stride,
           dilation=(1, 1)) -> np.ndarray:
    """The transpose of ``im2col``: each entry of ``cols`` is added back where it was copied from.

    Formula::

        x_pad[n, c, i·sh + u·dh, j·sw + v·dw] += cols[(c, u, v), (n, i, j)]   for every entry

    Receptive fields that overlap (stride < kernel) add up, which is why the input gradient of
    a convolution is ``col2im`` of the columns' gradient.

    Shapes: cols (C·kh·kw, N·Ho·Wo) → x_pad (N, C, Hp, Wp).
    """
    n_samples, channels, height_p, width_p = x_pad_shape
    (sh, sw), (dh, dw) = stride, dilation
    out_h = conv_output_size(height_p, kh, sh, 0, dh)
    out_w = conv_output_size(width_p, kw, sw, 0, dw)
    cols = cols.reshape(channels, kh, kw, n_samples, out_h, out_w)
    x_pad = np.zeros(x_pad_shape, cols.dtype)
    for u in range(kh):
        for v in range(kw):
            top, left = u * dh, v * dw
            x_pad[:, :, top:top + sh * out_h:sh, left:left + sw * out_w:sw] += (
                cols[:, u, v].transpose(1, 0, 2, 3))
    return x_pad


def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride=1,
                   padding=0, dilation=1, groups: int = 1, *, where: str = "conv2d_forward"):
    """2-D cross-correlation with zero padding, dilation and groups (PyTorch's F.conv2d).

    Formula (x_pad = x with zero padding, s = stride, d = dilation; G groups of Cg = C/G input
    and Og = O/G output channels, filter o reading the channels of its group g = o // Og)::

        out[n, o, i, j] = b[o] + Σ_c<Cg Σ_u Σ_v  w[o, c, u, v]
                                       · x_pad[n, g·Cg + c, i·sh + u·dh, j·sw + v·dw]
        Ho = floor((H + top + bottom − dh·(kh − 1) − 1) / sh) + 1    (likewise Wo)

    As matrix products, one per group: ``out_g = w_g.reshape(Og, Cg·kh·kw) @ cols_g``, where
    ``cols_g`` are the rows of ``im2col(x_pad)`` that come from the group's channels.

    Shapes:
        x: (N, C, H, W)   w: (O, C/G, kh, kw)   b: (O,) or None   →   out: (N, O, Ho, Wo)

    Args:
        stride, dilation: int or pair.
        padding: int, (ph, pw), ((top, bottom), (left, right)), or a name: ``"valid"`` (none),
            ``"same"`` (output size = input size; stride 1 only, an odd total's extra at the
            bottom/right, as PyTorch), ``"full"`` (``d·(k − 1)`` on each side; not in PyTorch).
        groups: G; C and O must be divisible by it (G = C is a depthwise convolution).
        where: the name error messages give (a layer passes its own).

    Returns ``(out, cache)`` for ``conv2d_backward``. ``out`` has x's dtype.
    """
    stride, pads, dilation, groups = conv2d_options(where, w, stride, padding, dilation, groups)
    check_conv2d_arguments(where, x, w, b, stride, pads, dilation, groups)
    out_channels, _, kh, kw = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), *pads))
    cols = im2col(x_pad, kh, kw, stride, dilation)           # (C·kh·kw, N·Ho·Wo)
    # Rows of cols are ordered (c, u, v), so each group's rows are one block: G products.
    w_groups = w.reshape(groups, out_channels // groups, -1)   # (G, Og, Cg·kh·kw)
    out = w_groups @ cols.reshape(groups, w_groups.shape[2], cols.shape[1])  # (G, Og, N·Ho·Wo)
    out_h = conv_output_size(x.shape[2], kh, stride[0], pads[0], dilation[0])
    out_w = conv_output_size(x.shape[3], kw, stride[1], pads[1], dilation[1])
    out = out.reshape(out_channels, x.shape[0], out_h, out_w).transpose(1, 0, 2, 3)
    if b is not None:
        out = out + b.reshape(1, -1, 1, 1)
    cache = (cols, w, b is not None, x.shape, x_pad.shape, stride, pads, dilation, groups)
    return np.ascontiguousarray(out), cache


def conv2d_backward(dout: np.ndarray, cache, need_dx: bool = True, need_dw: bool = True,
                    need_db: bool = True):
    """Gradients of the 2-D cross-correlation given ``dout = dL/dout``.

    Formulas (cols = im2col(x_pad) as a (C·kh·kw, N·Ho·Wo) matrix, dout as (O, N·Ho·Wo); with
    groups, each group's block of rows and filters on its own)::

        db[o]          = Σ_n Σ_i Σ_j dout[n, o, i, j]
        dw[o, c, u, v] = Σ_n Σ_i Σ_j dout[n, o, i, j]
                                     · x_pad[n, g·Cg + c, i·sh + u·dh, j·sw + v·dw]
                       i.e. dw_g = dout_g @ cols_gᵀ
        dx_pad[n, g·Cg + c, y, x] = Σ_o∈g Σ_u Σ_v dout[n, o, i, j] · w[o, c, u, v]
                             over (i, j) with i·sh + u·dh = y and j·sw + v·dw = x
                       i.e. dx = col2im(w_gᵀ @ dout_g for each g), dropping the padded border

    At stride 1 (no dilation, one group) the last sum is a *full* cross-correlation of dout
    with the flipped kernel, in and out channels swapped: the identity of the lecture.

    Shapes: dout (N, O, Ho, Wo) → dx (N, C, H, W), dw (O, C/G, kh, kw), db (O,).

    ``need_dx`` / ``need_dw`` / ``need_db`` = False skip that gradient (a first layer needs no
    dx; a frozen layer no dw) and return None in its place; db is also None without a bias.

    Returns ``(dx, dw, db)``, each of x's dtype.
    """
    cols, w, has_bias, x_shape, x_pad_shape, stride, pads, dilation, groups = cache
    out_channels, _, kh, kw = w.shape
    positions = cols.shape[1]                                 # N·Ho·Wo
    dout_groups = dout.transpose(1, 0, 2, 3).reshape(groups, out_channels // groups, positions)
    cols_groups = cols.reshape(groups, cols.shape[0] // groups, positions)  # (G, Cg·kh·kw, ·)
    db = dout.sum(axis=(0, 2, 3)) if (has_bias and need_db) else None
    dw = (dout_groups @ cols_groups.transpose(0, 2, 1)).reshape(w.shape) if need_dw else None
    dx = None
    if need_dx:
        w_groups = w.reshape(groups, out_channels // groups, -1)
        dcols = (w_groups.transpose(0, 2, 1) @ dout_groups).reshape(cols.shape)
        dx_pad = col2im(dcols, x_pad_shape, kh, kw, stride, dilation)
        (top, _), (left, _) = pads
        dx = dx_pad[:, :, top:top + x_shape[2], left:left + x_shape[3]].copy()
    return dx, dw, db


# -- the textbook convolution -------------------------------------------------------------------

def convolve2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride=1, padding=0,
               *, where: str = "convolve2d"):
    """The textbook 2-D convolution: the kernel flipped in both spatial axes.

    Formula (x_pad as in ``conv2d_forward``; kh, kw the kernel size)::

        out[n, o, i, j] = b[o] + Σ_c Σ_u Σ_v  w[o, c, kh − 1 − u, kw − 1 − v]
                                             · x_pad[n, c, i·sh + u, j·sw + v]

    i.e. ``conv2d_forward(x, np.flip(w, (2, 3)), b, stride, padding)``. At stride 1, channel
    by channel, this is ``scipy.signal.convolve2d(x[n, c], w[o, c], mode)`` summed over c for
    padding "valid" and "full", and for "same" with an odd kernel (with an even one, scipy
    puts the extra row/column of padding at the top/left, PyTorch's split at the bottom/right).

    Shapes: x (N, C, H, W), w (O, C, kh, kw), b (O,) or None → out (N, O, Ho, Wo).
    The forward of the pair ``convolve2d`` / ``convolve2d_backward``: returns ``(out, cache)``.
    """
    return conv2d_forward(x, np.flip(w, (2, 3)), b, stride, padding, where=where)


def convolve2d_backward(dout: np.ndarray, cache, need_dx: bool = True, need_dw: bool = True,
                        need_db: bool = True):
    """Gradients of ``convolve2d``: those of the cross-correlation, with dw flipped back
    (the flip is a permutation of the weights, so its gradient is the same permutation).

    Returns ``(dx, dw, db)``; shapes as ``conv2d_backward``.
    """
    dx, dw_flipped, db = conv2d_backward(dout, cache, need_dx, need_dw, need_db)
    dw = None if dw_flipped is None else np.ascontiguousarray(np.flip(dw_flipped, (2, 3)))
    return dx, dw, db


# -- padding with a mode --------------------------------------------------------------------

def _source_index(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """For each row (or column) of the padded axis, the input row it copies; −1 for a zero.

    With ``k`` the position in the unpadded coordinates (``k = p − before``)::

        zeros      k inside [0, size), else −1
        replicate  clip(k, 0, size − 1)                 ...a a | a b c d | d d...
        reflect    mirror at the edges, edge not repeated  ...c b | a b c d | c b...
        symmetric  mirror at the edges, edge repeated   ...b a | a b c d | d c...
        circular   k mod size                           ...c d | a b c d | a b...
    """
    k = np.arange(-before, size + after)
    if mode in ("zeros", "constant"):
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
    if mode == "symmetric":  # period 2·size: a b c d d c b a
        k = k % (2 * size)
        return np.where(k < size, k, 2 * size - 1 - k)
    raise ValueError(f"pad2d: unknown mode {mode!r}; expected one of {PADDING_MODES}")


def check_padding(where: str, shape, pads, mode: str) -> None:
    """ValueError for an unknown mode or a padding the mode cannot make from an input of shape."""
    if mode not in PAD2D_MODES:
        raise ValueError(f"{where}: unknown padding mode {mode!r}; expected one of "
                         f"{PAD2D_MODES}")
    for axis, (before, after) in zip((2, 3), pads, strict=True):
        size = shape[axis]
        if min(before, after) < 0:
            raise ValueError(f"{where}: expected padding >= 0, got {pads}")
        # PyTorch's limits: a reflection cannot reach past the far edge, a wrap past the input.
        if mode == "reflect" and max(before, after) >= size:
            raise ValueError(f"{where}: reflect padding {max(before, after)} must be smaller "
                             f"than the input size {size} (input shape {tuple(shape)})")
        # Our choice for symmetric (not in PyTorch): one mirror image at most, as for circular.
        if mode in ("circular", "symmetric") and max(before, after) > size:
            raise ValueError(f"{where}: {mode} padding {max(before, after)} must not exceed "
                             f"the input size {size} (input shape {tuple(shape)})")
        if mode == "replicate" and size == 0:
            raise ValueError(f"{where}: cannot replicate the edge of an empty axis")


def pad2d(x: np.ndarray, padding, mode: str = "constant", value=None, *, where: str = "pad2d"):
    """Pad the last two axes of ``x`` (N, C, H, W) by ``padding`` in the given ``mode``.

    ``padding``: int, (ph, pw) or ((top, bottom), (left, right)). Modes, for a row a b c d
    padded by 2: constant ``v v a b c d v v`` (``value``, default 0; "zeros" is constant 0);
    reflect ``c b a b c d c b``; symmetric ``b a a b c d d c`` (the edge repeated: NumPy's
    "symmetric", the decks' mirror padding; not in PyTorch); replicate ``a a a b c d d d``;
    circular ``c d a b c d a b``. Every output pixel is a copy of one input pixel (or the
    constant): ``x_pad[n, c, p, q] = x[n, c, src_h[p], src_w[q]]``. As in PyTorch's F.pad,
    ``value`` is refused with any mode but constant.

    Shapes: x (N, C, H, W) → x_pad (N, C, H + top + bottom, W + left + right).
    Returns ``(x_pad, cache)`` for ``pad2d_backward``.
    """
    pads = padding_pairs(padding)
    check_float_array(where, x)
    check_rank(where, x, 4, "(N, C, H, W)")
    check_padding(where, x.shape, pads, mode)
    if mode == "constant":
        padded = np.pad(x, ((0, 0), (0, 0), *pads), constant_values=0 if value is None else value)
    elif value is not None:
        raise ValueError(f"{where}: padding mode {mode!r} takes no value (only 'constant' does), "
                         f"got value={value!r}")
    else:
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
    is folded back onto the rows/columns it was copied from (constant padding drops its border).
    Done one axis at a time, since the copy map is separable.

    Shapes: dout (N, C, H + top + bottom, W + left + right) → dx (N, C, H, W).
    """
    (_, _, height, width), ((top, bottom), (left, right)), mode = cache
    rows = _fold_axis(dout, 2, _source_index(height, top, bottom, mode), top, height)
    return _fold_axis(rows, 3, _source_index(width, left, right, mode), left, width)
