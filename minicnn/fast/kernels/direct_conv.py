"""Direct convolution at stride 1: every output row a sum of shifted input rows, no im2col.

Why another algorithm: im2col copies each pixel kh·kw times, and BLAS then copies that matrix
again (it packs its operands into cache-sized panels). With many channels the product is so
large that the copies do not matter; with few (a LeNet, the first stage of a CIFAR ResNet) the
product is small and the copies are most of the time. These loops read the input in place.

The "wide row" layout. Zero-pad each image plane to Hp×Wp and read it as one flat row. At stride
1, output pixel (i, j) reads ``x_pad[i + u, j + v]``, which in the flat row is position
``q + u·Wp + v`` with ``q = i·Wp + j``. So compute the output at *every* q in 0 … Ho·Wp − 1,
Ho rows of Wp values whose last Wp − Wo values are wrap-around garbage, dropped at the end::

    wide[o, q] = Σ_c Σ_u Σ_v  w[o, c, u, v] · plane_c[q + u·Wp + v]

For one tap (c, u, v) that is a multiply-add of one long contiguous run, which the compiler turns
into SIMD instructions. The garbage columns of the last rows read up to kw − 1 values past the
last plane, so the input carries a tail of zeros after its N·C planes.

Three taps at a time. The inner loop adds three neighbouring taps of a kernel row (v, v + 1,
v + 2) for two filters at once: 3 loads of x feed 6 multiply-adds and 2 read-modify-writes of the
output, where one tap at a time would store once per multiply-add (figures: benchmarks/README.md,
"The convolution methods"). A kernel width that is not a multiple of 3 is padded with zero taps
by the caller; an odd number of filters with a zero filter.

Shapes (flat arrays carry their shape in the arguments; "3k" is the padded kernel width):
    x_wide   (N·C·Hp·Wp + 3k − 1,)  the padded planes, then zeros
    w        (O2, C, kh, 3k)        O2 even
    bias     (O2,)
    out      (N, O, Ho, Wo)         O ≤ O2, Ho = Hp − kh + 1, Wo ≤ Wp − kw + 1
"""

import numpy as np
from numba import njit

from ..parallel import run_tasks
from ._runs import dot_runs_2x3

__all__ = ["direct_conv2d_forward_kernel", "direct_conv2d_weight_grad_kernel"]

# Reassociation lets the weight-gradient sums run in SIMD lanes; contraction makes a·b + c one
# fused multiply-add. Not Numba's full fastmath, which also assumes there are no NaNs.
_FAST = {"reassoc", "contract"}
# Offsets are unsigned (see _runs.py: no negative-index test in the loops), and in Numba an
# unsigned plus a signed integer is a float, so even the constants must be unsigned.
_ONE, _TWO = np.uint64(1), np.uint64(2)


def direct_conv2d_forward_kernel(x_wide, w, bias, out, height_p, width_p, rows_per_task):
    """``out[n, o, i, j] = bias[o] + Σ_c Σ_u Σ_v w[o, c, u, v] · x_pad[n, c, i + u, j + v]``.

    Parallel over tasks of ``rows_per_task`` output rows of one sample; a task sums into a
    private wide buffer (O2 × rows·Wp) that stays in cache, then copies the Wo valid columns of
    each row into ``out``, adding the bias.
    """
    n_samples, _, out_h, _ = out.shape
    tasks = n_samples * ((out_h + rows_per_task - 1) // rows_per_task)
    multiply_adds = x_wide.size * w.shape[0] * w.shape[2] * w.shape[3]
    run_tasks(_forward_tasks, tasks, multiply_adds,
              x_wide, w, bias, out, height_p, width_p, rows_per_task)
    return out


@njit(cache=True, nogil=True, fastmath=_FAST)
def _forward_tasks(x_wide, w, bias, out, height_p, width_p, rows_per_task, first, last):
    """``direct_conv2d_forward_kernel`` for tasks ``first`` to ``last − 1``."""
    _, out_channels, out_h, out_w = out.shape
    filters, channels, kh, kw = w.shape
    plane = height_p * width_p
    blocks = (out_h + rows_per_task - 1) // rows_per_task
    for task in range(first, last):
        n = task // blocks
        row0 = (task % blocks) * rows_per_task
        rows = min(rows_per_task, out_h - row0)
        length = np.uint64(rows * width_p)
        wide = np.zeros(filters * rows * width_p, out.dtype)
        for c in range(channels):
            for u in range(kh):
                src = np.uint64((n * channels + c) * plane + (row0 + u) * width_p)
                for v in range(0, kw, 3):
                    for o in range(0, filters, 2):
                        a0, a1, a2 = w[o, c, u, v], w[o, c, u, v + 1], w[o, c, u, v + 2]
                        b0, b1, b2 = (w[o + 1, c, u, v], w[o + 1, c, u, v + 1],
                                      w[o + 1, c, u, v + 2])
                        first = np.uint64(o) * length
                        second = first + length
                        start = src + np.uint64(v)
                        for q in range(length):
                            at = start + q
                            x0, x1, x2 = x_wide[at], x_wide[at + _ONE], x_wide[at + _TWO]
                            wide[first + q] += a0 * x0 + a1 * x1 + a2 * x2
                            wide[second + q] += b0 * x0 + b1 * x1 + b2 * x2
        for o in range(out_channels):
            for r in range(rows):
                row = o * rows * width_p + r * width_p
                for j in range(out_w):
                    out[n, o, row0 + r, j] = wide[row + j] + bias[o]


def direct_conv2d_weight_grad_kernel(x_wide, dout_wide, dw, height_p, width_p):
    """Overwrite ``dw[o, c, u, v] = Σ_n Σ_q dout_wide[n, o, q] · plane_{n,c}[q + u·Wp + v]``.

    ``dout_wide`` (N, O2, Ho·Wp) is dout in the wide layout with zeros in the garbage columns
    (and in a padding filter), so the sum over all q is the sum over the real output pixels:
    ``dw[o, c, u, v] = Σ_n Σ_i Σ_j dout[n, o, i, j] · x_pad[n, c, i + u, j + v]``.
    Shapes: dw (O2, C, kh, 3k). Parallel over the C·kh kernel rows, which are written by one
    task each; a task reuses each input run for all filters while it is in cache.
    """
    _, channels, kh, kw = dw.shape
    run_tasks(_weight_grad_tasks, channels * kh, dout_wide.size * channels * kh * kw,
              x_wide, dout_wide, dw, height_p, width_p)
    return dw


@njit(cache=True, nogil=True, fastmath=_FAST)
def _weight_grad_tasks(x_wide, dout_wide, dw, height_p, width_p, first, last):
    """``direct_conv2d_weight_grad_kernel`` for tasks ``first`` to ``last − 1``."""
    n_samples, filters, length = dout_wide.shape
    _, channels, kh, kw = dw.shape
    plane = height_p * width_p
    d_flat = dout_wide.reshape(dout_wide.size)
    span = np.uint64(length)
    zero = np.zeros(1, dw.dtype)[0]
    for task in range(first, last):
        c, u = task // kh, task % kh
        dw[:, c, u, :] = 0
        for n in range(n_samples):
            src = np.uint64((n * channels + c) * plane + u * width_p)
            for v in range(0, kw, 3):
                start = src + np.uint64(v)
                for o in range(0, filters, 2):
                    first = np.uint64((n * filters + o) * length)
                    second = first + span
                    a0, a1, a2, b0, b1, b2 = dot_runs_2x3(d_flat, first, second, x_wide, start,
                                                          start + _ONE, start + _TWO, span, zero)
                    dw[o, c, u, v] += a0
                    dw[o, c, u, v + 1] += a1
                    dw[o, c, u, v + 2] += a2
                    dw[o + 1, c, u, v] += b0
                    dw[o + 1, c, u, v + 1] += b1
                    dw[o + 1, c, u, v + 2] += b2
