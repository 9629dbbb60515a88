"""The fast engine's convolution: ``minicnn.functional.conv2d_forward/backward``, four ways.

The reference (``minicnn/functional/conv.py``) builds the whole im2col matrix and does one
matrix product. The fast engine computes the same sums by one of four methods, chosen per call
by ``methods.choose_method``:

* ``"im2col"``: the reference's product, on chunks of the batch whose columns fit in the CPU's
  cache (``tuning.CHUNK_BYTES``), in scratch buffers reused from call to call, with im2col and
  col2im as Numba loops (``kernels/im2col.py``);
* ``"direct"``: at stride 1, each output row as a sum of shifted input rows, summed in place
  (``kernels/direct_conv.py``); its input gradient is the full convolution of dout with the
  flipped kernel, so the same loop computes it;
* ``"batch_last"``: the direct method with the batch moved to the last axis,
  ``x_t[c, y, x, n]``, so that a tap's inputs for a whole output row of every sample are one
  run of Wo·N values (``kernels/batch_last_conv.py``);
* ``"winograd"``: for 3×3 kernels at stride 1, Winograd's F(2×2, 3×3): 16 matrix products over
  the channels of transformed 4×4 tiles, 2.25× fewer multiplications (``winograd.py``).

All four give the reference's numbers up to rounding; ``tests/fast_engine/`` checks them
against it.

Groups run the chosen method once per group (``_grouped_forward``), each group's channels
copied out of x, as AlexNet's groups=2 needs. A dilated convolution runs the reference's
dilated im2col (``_dilated_forward``): no fast method handles dilation yet, and asking for one
is an error.
"""

import math
import threading
from dataclasses import dataclass

import numpy as np

from .._grad_mode import is_grad_enabled
from ..functional import conv as reference
from ..functional.conv import check_conv2d_arguments, conv2d_options, conv_output_size
from . import kernels, tuning
from .caches import check_cache
from .methods import choose_method
from .winograd import winograd_backward, winograd_forward

__all__ = ["ConvCache", "conv2d_backward", "conv2d_forward"]


def _chunks(n_samples: int, bytes_per_sample: int):
    """Slices that cut the batch into chunks of about ``tuning.CHUNK_BYTES`` of columns each."""
    if n_samples == 0:
        return [slice(0, 0)]
    per_chunk = max(1, min(n_samples, tuning.CHUNK_BYTES // max(bytes_per_sample, 1)))
    n_chunks = math.ceil(n_samples / per_chunk)
    per_chunk = math.ceil(n_samples / n_chunks)  # even chunks: no tiny last one
    return [slice(start, min(start + per_chunk, n_samples))
            for start in range(0, n_samples, per_chunk)]


_scratch = threading.local()


def _scratch_array(name: str, shape, dtype) -> np.ndarray:
    """A C-contiguous array of ``shape`` in a buffer reused from call to call (per thread).

    A fresh multi-megabyte array is memory the operating system has not handed out yet: the
    first write to each 4 KB page stops the program (a page fault), and on a virtual machine
    the 2,048 faults of an 8 MB buffer cost more than the im2col that fills it (figures:
    benchmarks/README.md, "Chunking"). Reusing one buffer per role keeps the pages. The
    contents are garbage until written. A buffer grows to the largest chunk asked for (about
    ``CHUNK_BYTES``, more when one sample's columns are bigger) and lives as long as the
    thread.
    """
    buffers = _scratch.__dict__.setdefault("buffers", {})
    size = math.prod(shape)
    buffer = buffers.get((name, np.dtype(dtype)))
    if buffer is None or buffer.size < size:
        buffer = buffers[(name, np.dtype(dtype))] = np.empty(size, dtype)
    return buffer[:size].reshape(shape)


@dataclass(frozen=True)
class ConvCache:
    """What ``conv2d_backward`` needs from the forward pass."""

    x_shape: tuple         # the input's (N, C, H, W)
    dtype: np.dtype        # and its dtype
    w: np.ndarray          # the weight (O, C, kh, kw)
    has_bias: bool
    stride: tuple          # (sh, sw)
    pads: tuple            # ((top, bottom), (left, right))
    method: str            # "im2col", "direct", "batch_last" or "winograd": the forward's
    # Only what the method's backward reads: every other array is None, so that the cache
    # holds no reference to the caller's input it does not need (the in-place guard
    # fingerprints what a cache refers to: minicnn/nn/_kept_arrays.py).
    x: np.ndarray | None = None       # im2col without kept columns, winograd: the input
    x_wide: np.ndarray | None = None  # direct: the padded input in the wide layout
    cols: np.ndarray | None = None    # im2col: the forward's columns, if small (KEEP_COLS_BYTES)
    x_t: np.ndarray | None = None     # batch_last: the padded input (C, Hp, Wp, N)

    # Where the in-place guard looks for arrays (minicnn/nn/_kept_arrays.py).
    ARRAY_FIELDS = ("w", "x", "x_wide", "cols", "x_t")


@dataclass(frozen=True)
class GroupedConvCache:
    """The caches of a grouped convolution's groups, one ``ConvCache`` each."""

    groups: tuple
    ARRAY_FIELDS = ("groups",)


@dataclass(frozen=True)
class DilatedConvCache:
    """A dilated convolution's cache: the reference's (it computed the forward)."""

    reference: tuple
    ARRAY_FIELDS = ("reference",)


def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride=1,
                   padding=0, dilation=1, groups: int = 1, method: str = "auto", *,
                   where: str = "conv2d_forward"):
    """Replaces ``minicnn.functional.conv2d_forward``: the same arguments, formula and result.

    ``method``: ``"im2col"``, ``"direct"``, ``"batch_last"`` (these two at stride 1 with
    padding below the kernel size and no dilation only), ``"winograd"`` (3×3 kernels at stride
    1, no dilation, any padding), or ``"auto"`` (default): the one
    ``methods.choose_method`` picks for the shape (of one group). Returns ``(out, cache)``.
    """
    stride, pads, dilation, groups = conv2d_options(where, w, stride, padding, dilation, groups)
    check_conv2d_arguments(where, x, w, b, stride, pads, dilation, groups)
    if dilation != (1, 1):
        choose_method(where, method, x.shape, w.shape, stride, pads, dilation)  # refuses direct
        out, cache = reference.conv2d_forward(x, w, b, stride, pads, dilation, groups,
                                              where=where)
        return out, DilatedConvCache(cache)
    if groups != 1:
        return _grouped_forward(x, w, b, stride, pads, groups, method, where)
    method = choose_method(where, method, x.shape, w.shape, stride, pads,
                           inference=not is_grad_enabled())
    x = np.ascontiguousarray(x)
    if method == "direct":
        out, x_wide = _direct_forward(x, w, b, pads)
        return out, ConvCache(x.shape, x.dtype, w, b is not None, stride, pads, method,
                              x_wide=x_wide)
    if method == "winograd":
        out = winograd_forward(x, w, b, pads)
        return out, ConvCache(x.shape, x.dtype, w, b is not None, stride, pads, method, x=x)
    if method == "batch_last":
        out, x_t = _batch_last_forward(x, w, b, pads)
        return out, ConvCache(x.shape, x.dtype, w, b is not None, stride, pads, method,
                              x_t=x_t)
    out, cols = _im2col_forward(x, w, b, stride, pads, keep_cols=is_grad_enabled())
    return out, ConvCache(x.shape, x.dtype, w, b is not None, stride, pads, method,
                          x=x if cols is None else None, cols=cols)


def conv2d_backward(dout: np.ndarray, cache: ConvCache, need_dx: bool = True,
                    need_dw: bool = True, need_db: bool = True):
    """Replaces ``minicnn.functional.conv2d_backward``: ``(dx, dw, db)`` by the forward's method.

    im2col: ``dw = dout @ colsᵀ`` and ``dx = col2im(wᵀ @ dout)``, chunk by chunk. direct: dw
    by the direct loops; dx as the full cross-correlation of dout (padded by kh − 1 − ph) with
    the flipped kernel, ``w_flip[c, o, u, v] = w[o, c, kh−1−u, kw−1−v]``. batch_last: each row
    of dout scattered onto the input rows it read. winograd: the adjoint of its transforms.
    """
    if isinstance(cache, DilatedConvCache):
        return reference.conv2d_backward(dout, cache.reference, need_dx, need_dw, need_db)
    if isinstance(cache, GroupedConvCache):
        return _grouped_backward(dout, cache, need_dx, need_dw, need_db)
    check_cache("conv2d_backward", cache, ConvCache)
    need_db = need_db and cache.has_bias
    db = dout.sum(axis=(0, 2, 3)).astype(cache.dtype, copy=False) if need_db else None
    if cache.method == "direct":
        dx, dw = _direct_backward(dout, cache, need_dx, need_dw)
    elif cache.method == "batch_last":
        dx, dw = _batch_last_backward(dout, cache, need_dx, need_dw)
    elif cache.method == "winograd":
        dx, dw = winograd_backward(dout, cache.x, cache.w, cache.pads, need_dx, need_dw)
    else:
        dx, dw = _im2col_backward(dout, cache, need_dx, need_dw)
    return dx, dw, db


# -- groups: one convolution per group ------------------------------------------------------------

def _grouped_forward(x, w, b, stride, pads, groups: int, method: str, where: str):
    """``out[:, group g's filters] = conv(x[:, group g's channels], w[g's filters])``, each by
    the method chosen for one group's shapes."""
    in_per_group, out_per_group = w.shape[1], w.shape[0] // groups
    outs, caches = [], []
    for g in range(groups):
        channels = slice(g * in_per_group, (g + 1) * in_per_group)
        filters = slice(g * out_per_group, (g + 1) * out_per_group)
        out, cache = conv2d_forward(np.ascontiguousarray(x[:, channels]), w[filters],
                                    None if b is None else b[filters], stride, pads,
                                    method=method, where=where)
        outs.append(out)
        caches.append(cache)
    return np.concatenate(outs, axis=1), GroupedConvCache(tuple(caches))


def _grouped_backward(dout, cache: GroupedConvCache, need_dx, need_dw, need_db):
    """Each group's gradients from its own slice of dout, put side by side."""
    out_per_group = dout.shape[1] // len(cache.groups)
    grads = []
    for g, group_cache in enumerate(cache.groups):
        dout_g = np.ascontiguousarray(dout[:, g * out_per_group:(g + 1) * out_per_group])
        grads.append(conv2d_backward(dout_g, group_cache, need_dx, need_dw, need_db))
    dx, dw, db = (None if parts[0] is None else np.concatenate(parts, axis=axis)
                  for parts, axis in zip(zip(*grads, strict=True), (1, 0, 0), strict=True))
    return dx, dw, db


# -- method "im2col" -----------------------------------------------------------------------------

def _im2col_forward(x, w, b, stride, pads, keep_cols: bool):
    """``out = w.reshape(O, C·kh·kw) @ im2col(x)``, chunk by chunk of the batch.

    Returns ``(out, cols)``: ``cols`` is the column matrix if ``keep_cols`` and it fits in one
    chunk of at most ``KEEP_COLS_BYTES``, for the backward pass; else None.
    """
    n_samples, channels, height, width = x.shape
    out_channels, _, kh, kw = w.shape
    out_h = conv_output_size(height, kh, stride[0], pads[0])
    out_w = conv_output_size(width, kw, stride[1], pads[1])
    patch = channels * kh * kw  # rows of cols: one per weight of a filter
    w_matrix = w.reshape(out_channels, patch)
    steps = (stride[0], stride[1], pads[0][0], pads[1][0])  # what im2col needs besides shapes
    out = np.empty((n_samples, out_channels, out_h, out_w), x.dtype)
    bytes_per_sample = patch * out_h * out_w * x.itemsize
    chunks = _chunks(n_samples, bytes_per_sample)
    keep = keep_cols and len(chunks) == 1 and n_samples * bytes_per_sample <= tuning.KEEP_COLS_BYTES
    for chunk in chunks:
        m = chunk.stop - chunk.start
        shape = (channels, kh, kw, m, out_h, out_w)
        cols = np.empty(shape, x.dtype) if keep else _scratch_array("cols", shape, x.dtype)
        kernels.im2col(x[chunk], *steps, cols)
        product = _scratch_array("product", (out_channels, m * out_h * out_w), x.dtype)
        np.matmul(w_matrix, cols.reshape(patch, -1), out=product)
        # (O, m, Ho, Wo) → (m, O, Ho, Wo), adding the bias on the way: one pass, no temporary.
        product = product.reshape(out_channels, m, out_h, out_w).transpose(1, 0, 2, 3)
        if b is None:
            np.copyto(out[chunk], product)
        else:
            np.add(product, b.reshape(-1, 1, 1), out=out[chunk])
    return out, (cols if keep else None)


def _im2col_backward(dout, cache: ConvCache, need_dx: bool, need_dw: bool):
    """dw = dout @ colsᵀ and dx = col2im(wᵀ @ dout), chunk by chunk of the batch."""
    x, w, dtype = cache.x, cache.w, cache.dtype  # x is None if the columns were kept
    n_samples, channels = cache.x_shape[:2]
    out_channels, _, kh, kw = w.shape
    out_h, out_w = dout.shape[2], dout.shape[3]
    patch = channels * kh * kw
    w_matrix = w.reshape(out_channels, patch)
    steps = (cache.stride[0], cache.stride[1], cache.pads[0][0], cache.pads[1][0])

    dx = np.empty(cache.x_shape, dtype) if need_dx else None
    dw_t = np.zeros((patch, out_channels), dtype) if need_dw else None
    kept = cache.cols is not None  # then the batch is one chunk (same shapes, same chunks)
    for chunk in _chunks(n_samples, patch * out_h * out_w * dtype.itemsize):
        m = chunk.stop - chunk.start
        # dout of the chunk as a (O, m·Ho·Wo) matrix, to match the column layout.
        dout_matrix = _scratch_array("product", (out_channels, m * out_h * out_w), dtype)
        np.copyto(dout_matrix.reshape(out_channels, m, out_h, out_w),
                  dout[chunk].transpose(1, 0, 2, 3))
        shape = (channels, kh, kw, m, out_h, out_w)
        cols = cache.cols if kept else _scratch_array("cols", shape, dtype)
        if need_dw:
            if not kept:
                # Big layers rebuild their columns rather than keep them from the forward
                # pass: a batch of them takes kh·kw times the memory of x; rebuilding is a copy.
                kernels.im2col(x[chunk], *steps, cols)
            # dwᵀ = cols @ doutᵀ: the same product as dout @ colsᵀ, but OpenBLAS shares this
            # orientation better between its threads; the other, e.g. LeNet-5's
            # (6, 50176) @ (50176, 25), could stall on a busy machine (benchmarks/README.md,
            # "Chunking").
            dw_t += cols.reshape(patch, -1) @ dout_matrix.T
        if need_dx:
            # The scratch columns are used up: their memory takes wᵀ @ dout. Kept ones stay
            # intact, so that a second backward pass from the same cache still finds them.
            dcols = _scratch_array("cols", shape, dtype) if kept else cols
            np.matmul(w_matrix.T, dout_matrix, out=dcols.reshape(patch, -1))
            kernels.col2im(dcols, *steps, dx[chunk])
    dw = None if dw_t is None else np.ascontiguousarray(dw_t.T).reshape(w.shape)
    return dx, dw


# -- method "direct" -----------------------------------------------------------------------------

def _taps_in_threes(w: np.ndarray) -> np.ndarray:
    """w (O, C, kh, kw) padded with zeros to an even number of filters and a kernel width that
    is a multiple of 3, the shapes the direct loops take (they do 2 filters × 3 taps at once)."""
    out_channels, channels, kh, kw = w.shape
    padded = np.zeros((out_channels + out_channels % 2, channels, kh, 3 * math.ceil(kw / 3)),
                      w.dtype)
    padded[:out_channels, :, :, :kw] = w
    return padded


def _widen(x: np.ndarray, pads, tail: int):
    """x (N, C, H, W) zero-padded by ``pads`` and flattened, then ``tail`` zeros: the wide
    layout of ``kernels.direct_conv``. Returns ``(x_wide, Hp, Wp)``."""
    (top, bottom), (left, right) = pads
    n_samples, channels, height, width = x.shape
    height_p, width_p = height + top + bottom, width + left + right
    size = n_samples * channels * height_p * width_p
    x_wide = np.zeros(size + tail, x.dtype)
    planes = x_wide[:size].reshape(n_samples, channels, height_p, width_p)
    planes[:, :, top:top + height, left:left + width] = x
    return x_wide, height_p, width_p


def _rows_per_task(n_samples: int, out_h: int, filters: int, width_p: int) -> int:
    """Output rows per parallel task: its wide sums (filters × rows·Wp) about 128 KB, within
    the core's L2 cache, and at least 8 tasks in all so that both cores get work."""
    rows = max(1, min(out_h, tuning.DIRECT_TASK_VALUES // max(filters * width_p, 1)))
    return max(1, min(rows, n_samples * out_h // 8))


def _direct_forward(x, w, b, pads):
    """The direct method's forward; returns ``(out, x_wide)``."""
    n_samples = x.shape[0]
    out_channels, _, kh, kw = w.shape
    w3 = _taps_in_threes(w)
    x_wide, height_p, width_p = _widen(x, pads, tail=w3.shape[3] - 1)
    out_h, out_w = height_p - kh + 1, width_p - kw + 1
    bias = np.zeros(w3.shape[0], x.dtype)
    if b is not None:
        bias[:out_channels] = b
    out = np.empty((n_samples, out_channels, out_h, out_w), x.dtype)
    rows = _rows_per_task(n_samples, out_h, w3.shape[0], width_p)
    kernels.direct_conv2d_forward_kernel(x_wide, w3, bias, out, height_p, width_p, rows)
    return out, x_wide


def _direct_backward(dout, cache: ConvCache, need_dx: bool, need_dw: bool):
    """dw by ``kernels.direct_conv2d_weight_grad_kernel``; dx as a full convolution of dout."""
    w, dtype = cache.w, cache.dtype
    out_channels, channels, kh, kw = w.shape
    dout = np.ascontiguousarray(dout, dtype=dtype)
    dw = dx = None
    if need_dw:
        n_samples, _, out_h, out_w = dout.shape
        height_p = out_h + kh - 1
        width_p = cache.x_shape[3] + sum(cache.pads[1])
        # dout in the wide layout: each row Wp long, zeros in the garbage columns (and filter).
        dout_wide = np.zeros((n_samples, out_channels + out_channels % 2, out_h, width_p),
                             dtype)
        dout_wide[:, :out_channels, :, :out_w] = dout
        dw3 = np.empty((dout_wide.shape[1], channels, kh, 3 * math.ceil(kw / 3)), dtype)
        kernels.direct_conv2d_weight_grad_kernel(
            cache.x_wide, dout_wide.reshape(n_samples, dout_wide.shape[1], out_h * width_p),
            dw3, height_p, width_p)
        dw = np.ascontiguousarray(dw3[:out_channels, :, :, :kw])
    if need_dx:
        (top, bottom), (left, right) = cache.pads
        full = ((kh - 1 - top, kh - 1 - bottom), (kw - 1 - left, kw - 1 - right))
        w_flip = np.ascontiguousarray(np.flip(w, (2, 3)).transpose(1, 0, 2, 3))
        dx, _ = _direct_forward(dout, w_flip, None, full)
    return dx, dw


# -- method "batch_last" -------------------------------------------------------------------------

def _taps(channels: int, kh: int, kw: int, height_p: int, width_p: int, n_samples: int):
    """Where each tap (c, u, v)'s run starts in ``x_t`` (C, Hp, Wp, N) for output row 0:
    ``((c·Hp + u)·Wp + v)·N``, in the order of ``w.reshape(O, C·kh·kw)``, padded with zeros to a
    multiple of 3 taps (the kernels do three at a time)."""
    c, u, v = np.unravel_index(np.arange(channels * kh * kw), (channels, kh, kw))
    offsets = np.zeros(3 * math.ceil(channels * kh * kw / 3), np.uint64)
    offsets[:c.size] = ((c * height_p + u) * width_p + v) * n_samples
    return offsets


def _batch_last_sum(x_t, w, b, out_h: int, out_w: int):
    """``out[n, o, i, j] = b[o] + Σ_c Σ_u Σ_v w[o, c, u, v] · x_t[c, i + u, j + v, n]``.

    Shapes: x_t (C, Hp, Wp, N), w (O, C, kh, kw) → out (N, O, Ho, Wo).
    """
    channels, height_p, width_p, n_samples = x_t.shape
    out_channels, _, kh, kw = w.shape
    offsets = _taps(channels, kh, kw, height_p, width_p, n_samples)
    filters = out_channels + out_channels % 2  # an even number, as the kernel takes them
    w_taps = np.zeros((filters, offsets.size), x_t.dtype)
    w_taps[:out_channels, :channels * kh * kw] = w.reshape(out_channels, -1)
    bias = np.zeros(filters, x_t.dtype)
    if b is not None:
        bias[:out_channels] = b
    out = np.empty((n_samples, out_channels, out_h, out_w), x_t.dtype)
    kernels.batch_last_conv2d_forward_kernel(x_t.reshape(-1), w_taps, offsets, bias, out,
                                             width_p * n_samples)
    return out


def _batch_last(x, pads, channels: int | None = None):
    """``x_t[c, top + y, left + x, n] = x[n, c, y, x]``, zeros in the border (and in channels
    beyond x's, up to ``channels``). Shapes: x (N, C, H, W) → x_t (C', Hp, Wp, N)."""
    (top, bottom), (left, right) = pads
    n_samples, in_channels, height, width = x.shape
    channels = in_channels if channels is None else channels
    x_t = np.empty((channels, height + top + bottom, width + left + right, n_samples), x.dtype)
    x_t[:, :top] = 0
    x_t[:, top + height:] = 0
    x_t[:, :, :left] = 0
    x_t[:, :, left + width:] = 0
    x_t[in_channels:] = 0
    x_t[:in_channels, top:top + height, left:left + width] = x.transpose(1, 2, 3, 0)
    return x_t


def _batch_last_forward(x, w, b, pads):
    """The batch_last method's forward; returns ``(out, x_t)``."""
    _, _, kh, kw = w.shape
    x_t = _batch_last(x, pads)
    out = _batch_last_sum(x_t, w, b, x_t.shape[1] - kh + 1, x_t.shape[2] - kw + 1)
    return out, x_t


def _batch_last_backward(dout, cache: ConvCache, need_dx: bool, need_dw: bool):
    """dw and dx by the batch_last kernels, from one copy of dout with the batch last."""
    w, x_t, dtype = cache.w, cache.x_t, cache.dtype
    out_channels, channels, kh, kw = w.shape
    n_samples, _, out_h, out_w = dout.shape
    filters = out_channels + out_channels % 2  # a zero filter makes the number even
    dout_t = _batch_last(dout.astype(dtype, copy=False), ((0, 0), (0, 0)), filters)
    dout_t = dout_t.reshape(filters, out_h, out_w * n_samples)
    dw = dx = None
    if need_dw:
        offsets = _taps(channels, kh, kw, *x_t.shape[1:])
        dw_taps = np.empty((filters, offsets.size), dtype)
        kernels.batch_last_conv2d_weight_grad_kernel(x_t.reshape(-1), dout_t, offsets, dw_taps,
                                                     x_t.shape[2] * n_samples)
        dw = np.ascontiguousarray(dw_taps[:out_channels, :channels * kh * kw]).reshape(w.shape)
    if need_dx:
        dx = np.empty(cache.x_shape, dtype)
        kernels.batch_last_conv2d_input_grad_kernel(dout_t, w, dx, cache.pads[0][0],
                                                    cache.pads[1][0], x_t.shape[2])
    return dx, dw
