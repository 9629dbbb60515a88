"""Direct convolution at stride 1 with the batch as the last axis: long runs for small images.

Why a second direct layout. ``direct_conv.py`` sums shifted rows of one image plane; its runs are
one output row long plus wrap-around garbage, so on LeNet-5's second layer (14×14 input, 10×10
output) a run is 10 useful values of 14. Put the batch last instead, as cuda-convnet did::

    x_t[c, y, x, n] = x_pad[n, c, y, x]             x_t: (C, Hp, Wp, N)

Then, for one tap (c, u, v), the inputs of a whole output row i, all columns j and all samples n,
are one contiguous run: ``x_t[c, i + u, v + j, n]`` for (j, n) in order is the run of
``Wo·N`` values that starts at ``((c·Hp + i + u)·Wp + v)·N``. So, with ``t`` numbering the taps
(c, u, v) of ``w.reshape(O, C·kh·kw)`` and ``offset[t]`` that start for row 0::

    acc[o, q] = bias[o] + Σ_t  w[o, t] · x_t[offset[t] + i·Wp·N + q],    q = j·N + n

is output row i of filter o, with no garbage: 640 useful values per run on LeNet-5's second layer
at batch 64, against 10. The same runs give the weight gradient as dot products, and the input
gradient as the forward sum run backwards (each output row scattered onto the input rows it
read), with dout_t[o, i, q] = dout[n, o, i, j] in the same layout::

    dw[o, t]                          = Σ_i Σ_q  dout_t[o, i, q] · x_t[offset[t] + i·Wp·N + q]
    dx_t[offset[t] + i·Wp·N + q]     += Σ_o  w[o, t] · dout_t[o, i, q]

Three taps at a time, two filters at once, as in ``direct_conv.py``: 3 loads of x feed 6
multiply-adds and 2 read-modify-writes of the sums. The caller pads the taps to a multiple of 3
(zero weights, offset 0) and the filters to an even number (a zero filter).

Its price: x, out, dout and dx each change layout once per step. Where the arithmetic per value
is small (3×3 kernels) and the direct method's rows are long anyway (a CIFAR 32×32 layer), or
the batch is small (short runs), that costs more than it saves;
``minicnn.fast.methods.batch_last_is_faster`` says where it was measured faster (figures:
benchmarks/README.md, "The batch_last method").

The caller builds x_t and dout_t with NumPy (``minicnn.fast.conv._batch_last``): its copy of a
transposed view was quicker than a compiled loop on LeNet-5's arrays, and whole LeNet-5 steps
took the same time either way.

Shapes (flat arrays carry their shape in the arguments):
    x_t       (C·Hp·Wp·N,)   the padded input, batch last, flattened
    w_taps    (O2, T3)       O2 even, T3 = C·kh·kw rounded up to a multiple of 3
    offsets   (T3,) uint64   where tap t's run starts for output row 0
    dout_t    (O2, Ho, Wo·N) dout with the batch last, a zero filter if O is odd
    out       (N, O, Ho, Wo)
"""

import numpy as np
from numba import njit

from ..parallel import run_tasks
from ._runs import dot_runs_2x3

__all__ = ["batch_last_conv2d_forward_kernel", "batch_last_conv2d_input_grad_kernel",
           "batch_last_conv2d_weight_grad_kernel"]

# As in direct_conv.py: reassociation lets the dot products run in SIMD lanes; contraction makes
# a·b + c one fused multiply-add. Not Numba's full fastmath, which also assumes no NaNs.
_FAST = {"reassoc", "contract"}


def batch_last_conv2d_forward_kernel(x_t, w_taps, offsets, bias, out, row_stride):
    """``out[n, o, i, j] = bias[o] + Σ_t w_taps[o, t] · x_t[offsets[t] + i·row_stride + j·N + n]``.

    ``row_stride`` is Wp·N, the distance between two rows of ``x_t``. Parallel over the output
    rows i; a task sums one row of every filter into a private buffer (O2 × Wo·N), then writes
    it into ``out`` with the batch back in front.
    """
    n_samples, _, out_h, out_w = out.shape
    multiply_adds = w_taps.size * out_h * out_w * n_samples
    run_tasks(_forward_tasks, out_h, multiply_adds, x_t, w_taps, offsets, bias, out, row_stride)
    return out


@njit(cache=True, nogil=True, fastmath=_FAST)
def _forward_tasks(x_t, w_taps, offsets, bias, out, row_stride, first, last):
    """``batch_last_conv2d_forward_kernel`` for output rows ``first`` to ``last − 1``."""
    n_samples, out_channels, _, out_w = out.shape
    filters, taps = w_taps.shape
    span = np.uint64(out_w * n_samples)
    acc = np.empty((filters, out_w * n_samples), out.dtype)
    for i in range(first, last):
        for o in range(filters):
            acc[o, :] = bias[o]
        row = np.uint64(i * row_stride)
        for t in range(0, taps, 3):
            s0, s1, s2 = row + offsets[t], row + offsets[t + 1], row + offsets[t + 2]
            for o in range(0, filters, 2):
                a0, a1, a2 = w_taps[o, t], w_taps[o, t + 1], w_taps[o, t + 2]
                b0, b1, b2 = w_taps[o + 1, t], w_taps[o + 1, t + 1], w_taps[o + 1, t + 2]
                for q in range(span):
                    x0, x1, x2 = x_t[s0 + q], x_t[s1 + q], x_t[s2 + q]
                    acc[o, q] += a0 * x0 + a1 * x1 + a2 * x2
                    acc[o + 1, q] += b0 * x0 + b1 * x1 + b2 * x2
        for n in range(n_samples):
            for o in range(out_channels):
                for j in range(out_w):
                    out[n, o, i, j] = acc[o, j * n_samples + n]


def batch_last_conv2d_weight_grad_kernel(x_t, dout_t, offsets, dw_taps, row_stride):
    """Overwrite ``dw_taps[o, t] = Σ_i Σ_q dout_t[o, i, q] · x_t[offsets[t] + i·row_stride + q]``.

    Shapes: dout_t (O2, Ho, Wo·N), dout with the batch last; dw_taps (O2, T3). Parallel over
    the triples of taps, one task writing each.
    """
    multiply_adds = dw_taps.size * dout_t.shape[1] * dout_t.shape[2]
    run_tasks(_weight_grad_tasks, offsets.size // 3, multiply_adds, x_t, dout_t, offsets,
              dw_taps, row_stride)
    return dw_taps


@njit(cache=True, nogil=True, fastmath=_FAST)
def _weight_grad_tasks(x_t, dout_t, offsets, dw_taps, row_stride, first, last):
    """``batch_last_conv2d_weight_grad_kernel`` for tap triples ``first`` to ``last − 1``."""
    filters, out_h, run = dout_t.shape
    d_flat = dout_t.reshape(dout_t.size)
    span = np.uint64(run)
    zero = np.zeros(1, dw_taps.dtype)[0]
    for task in range(first, last):
        t = 3 * task
        for o in range(filters):
            dw_taps[o, t] = dw_taps[o, t + 1] = dw_taps[o, t + 2] = zero
        # Row by row, so that the three runs of x stay in cache while every filter uses them.
        for i in range(out_h):
            row = np.uint64(i * row_stride)
            s0, s1, s2 = row + offsets[t], row + offsets[t + 1], row + offsets[t + 2]
            for o in range(0, filters, 2):
                d0 = np.uint64((o * out_h + i) * run)  # dout_t[o, i, 0] and dout_t[o + 1, i, 0]
                d1 = d0 + np.uint64(out_h * run)
                a0, a1, a2, b0, b1, b2 = dot_runs_2x3(d_flat, d0, d1, x_t, s0, s1, s2, span,
                                                      zero)
                dw_taps[o, t] += a0
                dw_taps[o, t + 1] += a1
                dw_taps[o, t + 2] += a2
                dw_taps[o + 1, t] += b0
                dw_taps[o + 1, t + 1] += b1
                dw_taps[o + 1, t + 2] += b2


def batch_last_conv2d_input_grad_kernel(dout_t, w, dx, top, left, width_p):
    """The input gradient, scattered: for every output row i and tap (u, v) of channel c,
    ``dx_t[c, i + u, v + j, n] += Σ_o w[o, c, u, v] · dout_t[o, i, j, n]``, a run of Wo·N values
    (dx_t is dx padded to Hp × Wp with the batch last); then ``dx[n, c, y, x] =
    dx_t[c, top + y, left + x, n]``.

    Shapes: dout_t (O2, Ho, Wo·N) with O2 ≥ O, w (O, C, kh, kw), dx (N, C, H, W). Parallel over
    the channels c, so that a task owns dx[:, c].
    Every multiply-add is of a real output pixel, where the full convolution of dout (the
    forward kernel on dout padded by kernel − 1) would also multiply the padding's zeros.
    """
    channels = w.shape[1]
    multiply_adds = w.size * dout_t.shape[1] * dout_t.shape[2]
    run_tasks(_input_grad_tasks, channels, multiply_adds, dout_t, w, dx, top, left, width_p)
    return dx


@njit(cache=True, nogil=True, fastmath=_FAST)
def _input_grad_tasks(dout_t, w, dx, top, left, width_p, first, last):
    """``batch_last_conv2d_input_grad_kernel`` for channels ``first`` to ``last − 1``."""
    n_samples, _, height, width = dx.shape
    out_channels, _, kh, kw = w.shape
    _, out_h, run = dout_t.shape
    span = np.uint64(run)
    fours = out_channels - out_channels % 4
    row = np.empty(width_p * n_samples, dx.dtype)
    for c in range(first, last):
        # Row y of the padded dx_t gathers from the output rows i = y − u; summing one row at a
        # time keeps it in the core's fastest cache while every tap and filter adds to it.
        for y in range(top, top + height):
            row[:] = 0
            for u in range(max(0, y - out_h + 1), min(kh, y + 1)):
                i = y - u
                for v in range(kw):
                    dst = np.uint64(v * n_samples)
                    # Four filters per pass: 4 loads of dout and one read-modify-write of dx.
                    for o in range(0, fours, 4):
                        w0, w1 = w[o, c, u, v], w[o + 1, c, u, v]
                        w2, w3 = w[o + 2, c, u, v], w[o + 3, c, u, v]
                        for q in range(span):
                            row[dst + q] += (w0 * dout_t[o, i, q] + w1 * dout_t[o + 1, i, q]
                                             + w2 * dout_t[o + 2, i, q]
                                             + w3 * dout_t[o + 3, i, q])
                    for o in range(fours, out_channels):
                        w0 = w[o, c, u, v]
                        for q in range(span):
                            row[dst + q] += w0 * dout_t[o, i, q]
            for n in range(n_samples):
                for x in range(width):
                    dx[n, c, y - top, x] = row[(left + x) * n_samples + n]
