"""2-D convolution and padding, as forward/backward pairs (a lab sheet in code).

Convolution as every framework computes it is *cross-correlation*: the kernel slides over the
input without being flipped::

    out[n, o, i, j] = b[o] + Σ_c Σ_u Σ_v  w[o, c, u, v] · x_pad[n, c, i·sh + u, j·sw + v]

The textbook convolution flips the kernel; it is the same operation with the flipped weight,
``conv2d_forward(x, np.flip(w, (2, 3)), b)``. Since the weights are learned, the flip makes no
difference to what a network can learn, and frameworks skip it.

How it is computed: ``minicnn.kernels.im2col`` copies every receptive field into a column of a
matrix ``cols`` (C·kh·kw, N·Ho·Wo), so that the whole layer is one matrix product
``w.reshape(O, C·kh·kw) @ cols``, done by BLAS. The batch is processed in chunks of samples
whose ``cols`` fits in the CPU cache (a few MB): the matrix is written, multiplied and forgotten
while still in cache, instead of making a trip through main memory of ~9× the input's size. The
chunk's matrices live in scratch buffers that every call reuses (see ``_scratch_array``).

A second method, ``method="direct"``, skips im2col at stride 1: each output row is a sum of
shifted input rows, summed in place by ``minicnn.kernels.direct_conv`` (its docstring has the
layout). Its input gradient is the classic identity of the lecture: at stride 1 the gradient
with respect to the input is a *full* convolution of dout with the kernel flipped and its
in/out channels swapped, so the same loop computes it. ``method="auto"`` (the default) picks
direct where it was measured faster: few channels (see ``direct_is_faster``).

A third method, ``method="batch_last"``, is the direct method with the batch moved to the last
axis, ``x_t[c, y, x, n]`` (``minicnn.kernels.batch_last_conv``): a tap's inputs for a whole
output row of every sample are then one run of Wo·N values, which suits small images (LeNet-5's
10×10 outputs) where the direct method's runs are short. "auto" takes it where
``batch_last_is_faster``.
"""

import math
import threading
from numbers import Integral
from typing import NamedTuple

import numpy as np

from .. import kernels
from .._grad_mode import is_grad_enabled
from .._validation import FLOAT_DTYPES

__all__ = [
    "ConvCache", "batch_last_is_faster", "check_method", "conv2d_backward", "conv2d_forward",
    "conv_output_size", "direct_is_faster", "direct_is_possible", "pad2d", "pad2d_backward",
    "same_padding",
]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
METHODS = ("auto", "im2col", "direct", "batch_last")
_NUMPY_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge",
                    "circular": "wrap"}

# Size of the column matrix of one chunk of samples: small enough to stay in the CPU's cache
# between im2col and the matrix product, large enough for an efficient product. Measured on a
# 3×3 layer with 64 inputs of 64×32×32 (150 MB of columns in all): chunks of 2-8 MB are equally
# fast, 16 MB is 15% slower, and the whole matrix at once 1.3-3.5× slower.
CHUNK_BYTES = 8 * 2**20

# A layer whose whole column matrix fits in one chunk keeps it for the backward pass, which then
# need not rebuild it (LeNet-5's second layer: 3.8 MB, one im2col of about 0.3 ms per step).
# Bigger layers rebuild their columns chunk by chunk: keeping them would cost kh·kw times the
# memory of their input.
KEEP_COLS_BYTES = CHUNK_BYTES

# The direct method: "auto" takes it up to this many input and output channels (see
# ``direct_is_faster``), and a parallel task sums into about this many values (128 KB in float32).
DIRECT_MAX_CHANNELS = 32
DIRECT_TASK_VALUES = 32 * 1024

# The batch_last method: "auto" takes it for at most DIRECT_MAX_CHANNELS channels, runs (Wo·N
# values) at least BATCH_LAST_MIN_RUN long, and kernels of BATCH_LAST_MIN_TAPS taps or output
# rows shorter than BATCH_LAST_SHORT_ROW; see ``batch_last_is_faster``.
BATCH_LAST_MIN_RUN = 256
BATCH_LAST_MIN_TAPS = 25
BATCH_LAST_SHORT_ROW = 16


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


def _padding_pairs(padding) -> tuple[tuple[int, int], tuple[int, int]]:
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


def _stride_pair(stride) -> tuple[int, int]:
    return (int(stride), int(stride)) if isinstance(stride, Integral) else tuple(map(int, stride))


def _check_shapes(x, w, b, stride, pads) -> None:
    """ValueError for shapes that cannot be convolved (the layers check earlier, by name)."""
    where = "conv2d_forward"
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"{where}: expected x (N, C, H, W) and w (O, C, kh, kw), got shapes "
                         f"{x.shape} and {w.shape}")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"{where}: x has {x.shape[1]} channels but w expects {w.shape[1]} "
                         f"(shapes {x.shape} and {w.shape})")
    if x.dtype not in FLOAT_DTYPES or w.dtype != x.dtype or (b is not None and b.dtype != x.dtype):
        raise TypeError(f"{where}: expected x, w and b of one dtype, float32 or float64, got "
                        f"{x.dtype}, {w.dtype} and {None if b is None else b.dtype}")
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"{where}: expected b of shape ({w.shape[0]},), got {b.shape}")
    if min(stride) < 1 or min(min(pads[0]), min(pads[1])) < 0:
        raise ValueError(f"{where}: expected stride >= 1 and padding >= 0, got stride {stride}"
                         f" and padding {pads}")
    padded = (x.shape[2] + sum(pads[0]), x.shape[3] + sum(pads[1]))
    if padded[0] < w.shape[2] or padded[1] < w.shape[3]:
        raise ValueError(f"{where}: kernel {w.shape[2:]} is larger than the padded input "
                         f"{padded}")


def _chunks(n_samples: int, bytes_per_sample: int):
    """Slices that cut the batch into chunks of about ``CHUNK_BYTES`` of columns each."""
    if n_samples == 0:
        return [slice(0, 0)]
    per_chunk = max(1, min(n_samples, CHUNK_BYTES // max(bytes_per_sample, 1)))
    n_chunks = math.ceil(n_samples / per_chunk)
    per_chunk = math.ceil(n_samples / n_chunks)  # even chunks: no tiny last one
    return [slice(start, min(start + per_chunk, n_samples))
            for start in range(0, n_samples, per_chunk)]


_scratch = threading.local()


def _scratch_array(name: str, shape, dtype) -> np.ndarray:
    """A C-contiguous array of ``shape`` in a buffer reused from call to call (per thread).

    A fresh multi-megabyte array is memory the operating system has not handed out yet: the
    first write to each 4 KB page stops the program (a page fault), and on this project's
    virtual machine the ~2000 faults of 8 MB cost ~4 ms, more than the im2col that fills it.
    Reusing one buffer per role keeps the pages. The contents are garbage until written. A
    buffer grows to the largest chunk asked for (about ``CHUNK_BYTES``, more when one sample's
    columns are bigger) and lives as long as the thread.
    """
    buffers = _scratch.__dict__.setdefault("buffers", {})
    size = math.prod(shape)
    buffer = buffers.get((name, np.dtype(dtype)))
    if buffer is None or buffer.size < size:
        buffer = buffers[(name, np.dtype(dtype))] = np.empty(size, dtype)
    return buffer[:size].reshape(shape)


class ConvCache(NamedTuple):
    """What ``conv2d_backward`` needs from the forward pass."""

    x: np.ndarray          # the input (N, C, H, W), C-contiguous
    w: np.ndarray          # the weight (O, C, kh, kw)
    has_bias: bool
    stride: tuple          # (sh, sw)
    pads: tuple            # ((top, bottom), (left, right))
    method: str            # "im2col", "direct" or "batch_last", the one the forward used
    x_wide: np.ndarray | None = None  # direct: the padded input in the wide layout
    cols: np.ndarray | None = None    # im2col: the forward's columns, if small (KEEP_COLS_BYTES)
    x_t: np.ndarray | None = None     # batch_last: the padded input (C, Hp, Wp, N)


def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride=1,
                   padding=0, method: str = "auto"):
    """2-D cross-correlation with zero padding.

    Formula (x_pad = x with zero padding, s = stride)::

        out[n, o, i, j] = b[o] + Σ_c Σ_u Σ_v  w[o, c, u, v] · x_pad[n, c, i·sh + u, j·sw + v]
        Ho = floor((H + 2·ph − kh) / sh) + 1,   Wo = floor((W + 2·pw − kw) / sw) + 1

    This is cross-correlation, as in every framework; the textbook convolution (kernel flipped)
    is ``conv2d_forward(x, np.flip(w, (2, 3)), b, ...)``.

    Shapes:
        x: (N, C, H, W)   w: (O, C, kh, kw)   b: (O,) or None   →   out: (N, O, Ho, Wo)

    Args:
        stride: int or (sh, sw).
        padding: int, (ph, pw), or ((top, bottom), (left, right)) for asymmetric padding.
        method: ``"im2col"`` (``w.reshape(O, C·kh·kw) @ im2col(x)`` on chunks of the batch),
            ``"direct"`` (shifted rows summed in place; stride 1 and padding < kernel only),
            ``"batch_last"`` (the same with the batch as the last axis; the same limits), or
            ``"auto"`` (default): batch_last where ``batch_last_is_faster``, else direct where
            ``direct_is_faster``, else im2col. All give the same result up to rounding.

    Returns ``(out, cache)`` for ``conv2d_backward``. ``out`` has x's dtype.
    """
    stride = _stride_pair(stride)
    pads = _padding_pairs(padding)
    _check_shapes(x, w, b, stride, pads)
    method = _choose_method(method, x.shape, w.shape, stride, pads)
    x = np.ascontiguousarray(x)
    if method == "direct":
        out, x_wide = _direct_forward(x, w, b, pads)
        return out, ConvCache(x, w, b is not None, stride, pads, method, x_wide)
    if method == "batch_last":
        out, x_t = _batch_last_forward(x, w, b, pads)
        return out, ConvCache(x, w, b is not None, stride, pads, method, x_t=x_t)
    out, cols = _im2col_forward(x, w, b, stride, pads, keep_cols=is_grad_enabled())
    return out, ConvCache(x, w, b is not None, stride, pads, method, cols=cols)


def conv2d_backward(dout: np.ndarray, cache: ConvCache, need_dx: bool = True,
                    need_dw: bool = True, need_db: bool = True):
    """Gradients of the 2-D cross-correlation given ``dout = dL/dout``.

    Formulas (cols = im2col(x) as a (C·kh·kw, N·Ho·Wo) matrix, dout as (O, N·Ho·Wo))::

        db[o]          = Σ_n Σ_i Σ_j dout[n, o, i, j]
        dw[o, c, u, v] = Σ_n Σ_i Σ_j dout[n, o, i, j] · x_pad[n, c, i·sh + u, j·sw + v]
                       i.e. dw = dout @ colsᵀ
        dx_pad[n, c, y, x] = Σ_o Σ_u Σ_v dout[n, o, i, j] · w[o, c, u, v]
                             over (i, j) with i·sh + u = y and j·sw + v = x
                       i.e. dx = col2im(wᵀ @ dout), dropping the padded border

    At stride 1 the last sum is a full cross-correlation of dout (padded by kh − 1 − ph) with
    the flipped kernel, in/out channels swapped: ``w_flip[c, o, u, v] = w[o, c, kh−1−u,
    kw−1−v]``; the direct method computes it so. The batch_last method computes the same sums
    in the order of the middle formula: each row of dout scattered onto the input rows it read.

    Shapes: dout (N, O, Ho, Wo) → dx (N, C, H, W), dw (O, C, kh, kw), db (O,).

    ``need_dx`` / ``need_dw`` / ``need_db`` = False skip that work (a first layer needs no dx;
    a frozen layer no dw) and return None in its place; db is also None without a bias.

    Returns ``(dx, dw, db)``, each of x's dtype, by the method the forward pass used.
    """
    need_db = need_db and cache.has_bias
    db = dout.sum(axis=(0, 2, 3)).astype(cache.x.dtype, copy=False) if need_db else None
    if cache.method == "direct":
        dx, dw = _direct_backward(dout, cache, need_dx, need_dw)
    elif cache.method == "batch_last":
        dx, dw = _batch_last_backward(dout, cache, need_dx, need_dw)
    else:
        dx, dw = _im2col_backward(dout, cache, need_dx, need_dw)
    return dx, dw, db


def _choose_method(method: str, x_shape, w_shape, stride, pads) -> str:
    """``method`` checked (``check_method``), with "auto" resolved to the method it takes."""
    check_method("conv2d_forward", method, w_shape[2:], stride, pads)
    if method != "auto":
        return method
    if not direct_is_possible(w_shape[2:], stride, pads):
        return "im2col"
    if batch_last_is_faster(x_shape, w_shape, pads):
        return "batch_last"
    return "direct" if direct_is_faster(x_shape, w_shape, pads) else "im2col"


def check_method(where: str, method: str, kernel_size, stride, pads) -> None:
    """ValueError naming ``where`` for an unknown method, or a direct one where it cannot run."""
    if method not in METHODS:
        raise ValueError(f"{where}: unknown method {method!r}; expected one of {METHODS}")
    if method in ("direct", "batch_last") and not direct_is_possible(kernel_size, stride, pads):
        raise ValueError(f"{where}: method={method!r} needs stride 1 and padding smaller than the "
                         f"kernel, got stride {tuple(stride)}, padding {pads} and kernel "
                         f"{tuple(kernel_size)}")


def direct_is_possible(kernel_size, stride, pads) -> bool:
    """Stride 1, and each padding below the kernel size (so that the input gradient is a full
    convolution of dout, padded by ``kernel − 1 − padding`` ≥ 0). ``kernel_size`` is (kh, kw)."""
    kh, kw = kernel_size
    (top, bottom), (left, right) = pads
    return tuple(stride) == (1, 1) and max(top, bottom) < kh and max(left, right) < kw


def direct_is_faster(x_shape, w_shape, pads) -> bool:
    """Where ``"auto"`` takes the direct method (measured in ``benchmarks/``).

    The direct loops do the multiply-adds at a fixed, modest speed; BLAS gets faster the more
    channels there are to multiply, and im2col's copies matter less. Direct wins when both
    C and O are at most 32 and the wide layout wastes little (Wp / Wo ≤ 1.3: the garbage
    columns are computed too).
    """
    channels, (out_channels, _, _, kw) = x_shape[1], w_shape
    width_p = x_shape[3] + pads[1][0] + pads[1][1]
    out_w = width_p - kw + 1
    return max(channels, out_channels) <= DIRECT_MAX_CHANNELS and width_p <= 1.3 * out_w


def batch_last_is_faster(x_shape, w_shape, pads) -> bool:
    """Where ``"auto"`` takes the batch_last method (measured in ``benchmarks/``).

    Its price is four transposes (x, out, dout and dx each change layout once); its gain, runs
    of Wo·N values where the direct method's are Wp long. It wins when both C and O are at
    most 32, the runs are long (Wo·N ≥ 256: not for a handful of images) and either the kernel
    has at least 25 taps (5×5: much arithmetic per transposed value) or the output rows are
    shorter than 16 (the direct method's runs short). Fwd+bwd, ms, im2col / direct /
    batch_last (one run of ``benchmarks/bench_layers.py --methods``): at batch 64, LeNet-5's
    6→16, 5×5 on 14×14: 4.7 / 4.8 / 3.2; 32→32, 3×3 on 7×7: 4.3 / 6.1 / 3.4; but 8→8, 3×3 on
    28×28: 8.4 / 3.8 / 4.9, and 6→16, 5×5 at batch 8: 1.1 / 1.5 / 1.4.
    """
    n_samples, channels, _, width = x_shape
    out_channels, _, kh, kw = w_shape
    out_w = conv_output_size(width, kw, 1, pads[1])
    return (max(channels, out_channels) <= DIRECT_MAX_CHANNELS
            and out_w * n_samples >= BATCH_LAST_MIN_RUN
            and (kh * kw >= BATCH_LAST_MIN_TAPS or out_w < BATCH_LAST_SHORT_ROW))


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
    keep = keep_cols and len(chunks) == 1 and n_samples * bytes_per_sample <= KEEP_COLS_BYTES
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
    x, w = cache.x, cache.w
    n_samples, channels = x.shape[:2]
    out_channels, _, kh, kw = w.shape
    out_h, out_w = dout.shape[2], dout.shape[3]
    patch = channels * kh * kw
    w_matrix = w.reshape(out_channels, patch)
    steps = (cache.stride[0], cache.stride[1], cache.pads[0][0], cache.pads[1][0])

    dx = np.empty_like(x) if need_dx else None
    dw_t = np.zeros((patch, out_channels), x.dtype) if need_dw else None
    kept = cache.cols is not None  # then the batch is one chunk (same shapes, same chunks)
    for chunk in _chunks(n_samples, patch * out_h * out_w * x.itemsize):
        m = chunk.stop - chunk.start
        # dout of the chunk as a (O, m·Ho·Wo) matrix, to match the column layout.
        dout_matrix = _scratch_array("product", (out_channels, m * out_h * out_w), x.dtype)
        np.copyto(dout_matrix.reshape(out_channels, m, out_h, out_w),
                  dout[chunk].transpose(1, 0, 2, 3))
        shape = (channels, kh, kw, m, out_h, out_w)
        cols = cache.cols if kept else _scratch_array("cols", shape, x.dtype)
        if need_dw:
            if not kept:
                # Big layers rebuild their columns rather than keep them from the forward
                # pass: a batch of them takes kh·kw times the memory of x; rebuilding is a copy.
                kernels.im2col(x[chunk], *steps, cols)
            # dwᵀ = cols @ doutᵀ: the same product as dout @ colsᵀ, but OpenBLAS shares this
            # orientation better between its threads (the other took up to 100× longer on a
            # busy 2-core machine, e.g. for LeNet-5's (6, 50176) @ (50176, 25)).
            dw_t += cols.reshape(patch, -1) @ dout_matrix.T
        if need_dx:
            # The scratch columns are used up: their memory takes wᵀ @ dout. Kept ones stay
            # intact, so that a second backward pass from the same cache still finds them.
            dcols = _scratch_array("cols", shape, x.dtype) if kept else cols
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
    rows = max(1, min(out_h, DIRECT_TASK_VALUES // max(filters * width_p, 1)))
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
    x, w = cache.x, cache.w
    out_channels, channels, kh, kw = w.shape
    dout = np.ascontiguousarray(dout, dtype=x.dtype)
    dw = dx = None
    if need_dw:
        n_samples, _, out_h, out_w = dout.shape
        height_p = out_h + kh - 1
        width_p = x.shape[3] + sum(cache.pads[1])
        # dout in the wide layout: each row Wp long, zeros in the garbage columns (and filter).
        dout_wide = np.zeros((n_samples, out_channels + out_channels % 2, out_h, width_p),
                             x.dtype)
        dout_wide[:, :out_channels, :, :out_w] = dout
        dw3 = np.empty((dout_wide.shape[1], channels, kh, 3 * math.ceil(kw / 3)), x.dtype)
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
    x, w, x_t = cache.x, cache.w, cache.x_t
    out_channels, channels, kh, kw = w.shape
    n_samples, _, out_h, out_w = dout.shape
    filters = out_channels + out_channels % 2  # a zero filter makes the number even
    dout_t = _batch_last(dout.astype(x.dtype, copy=False), ((0, 0), (0, 0)), filters)
    dout_t = dout_t.reshape(filters, out_h, out_w * n_samples)
    dw = dx = None
    if need_dw:
        offsets = _taps(channels, kh, kw, *x_t.shape[1:])
        dw_taps = np.empty((filters, offsets.size), x.dtype)
        kernels.batch_last_conv2d_weight_grad_kernel(x_t.reshape(-1), dout_t, offsets, dw_taps,
                                                     x_t.shape[2] * n_samples)
        dw = np.ascontiguousarray(dw_taps[:out_channels, :channels * kh * kw]).reshape(w.shape)
    if need_dx:
        dx = np.empty_like(x)
        kernels.batch_last_conv2d_input_grad_kernel(dout_t, w, dx, cache.pads[0][0],
                                                    cache.pads[1][0], x_t.shape[2])
    return dx, dw


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


def pad2d(x: np.ndarray, padding, mode: str = "zeros"):
    """Pad the last two axes of ``x`` (N, C, H, W) by ``padding`` in the given ``mode``.

    ``padding``: int, (ph, pw) or ((top, bottom), (left, right)). Modes, for a row a b c d
    padded by 2: zeros ``0 0 a b c d 0 0``; reflect ``c b a b c d c b``; replicate
    ``a a a b c d d d``; circular ``c d a b c d a b``. Every output pixel is a copy of one
    input pixel (or a zero): ``x_pad[n, c, p, q] = x[n, c, src_h[p], src_w[q]]``.

    Shapes: x (N, C, H, W) → x_pad (N, C, H + top + bottom, W + left + right).
    Returns ``(x_pad, cache)`` for ``pad2d_backward``.
    """
    pads = _padding_pairs(padding)
    check_padding("pad2d", x.shape, pads, mode)
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
