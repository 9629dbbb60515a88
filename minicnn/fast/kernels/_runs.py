"""Copy, add and zero *runs* of consecutive elements of flat arrays: the inner loops of the kernels.

Every kernel in this package walks an image row by row, and a row of a window or a patch is a
run of elements ``start, start + step, start + 2·step, ...`` in a flattened array. These helpers
do one run each.

Why a helper for a one-line loop: offsets here are *unsigned*. With a signed index Numba must
allow Python's negative indexing (``a[-1]`` is the last element), which costs a test on every
access and stops LLVM from vectorising the loop; unsigned offsets cannot be negative, so the
loop compiles to plain SIMD loads and stores. Callers must pass non-negative offsets and
counts, which they do by clipping the run to the image first.

``inline="always"`` pastes each helper into its caller before compilation, so a run costs no
call, which matters on the 10-30 element rows of small images. (figures: benchmarks/README.md,
"The kernels' inner loops")
"""

import numpy as np
from numba import njit

__all__: list[str] = []


@njit(cache=True, inline="always")
def copy_run(dst, dst_start, src, src_start, src_step, count):
    """``dst[dst_start + j] = src[src_start + j·src_step]`` for j in 0..count-1 (a gather)."""
    d = np.uint64(dst_start)
    s = np.uint64(src_start)
    n = np.uint64(max(count, 0))
    if src_step == 1:  # the common case gets its own loop: contiguous, so it vectorises
        for j in range(n):
            dst[d + j] = src[s + j]
    else:
        step = np.uint64(src_step)
        for j in range(n):
            dst[d + j] = src[s + j * step]


@njit(cache=True, inline="always")
def add_run(dst, dst_start, dst_step, src, src_start, count):
    """``dst[dst_start + j·dst_step] += src[src_start + j]`` for j in 0..count-1 (a scatter)."""
    d = np.uint64(dst_start)
    s = np.uint64(src_start)
    n = np.uint64(max(count, 0))
    if dst_step == 1:
        for j in range(n):
            dst[d + j] += src[s + j]
    else:
        step = np.uint64(dst_step)
        for j in range(n):
            dst[d + j * step] += src[s + j]


@njit(cache=True, inline="always")
def dot_runs_2x3(d, d_first, d_second, x, x_first, x_second, x_third, count, zero):
    """Six dot products of runs, each value loaded once: two runs of ``d`` (rows of dout for
    two filters) against three runs of ``x`` (the input under three kernel taps)::

        a_k = Σ_q d[d_first + q] · x[x_k + q]      b_k = Σ_q d[d_second + q] · x[x_k + q]

    for k = first, second, third and q in 0..count-1; returns ``(a0, a1, a2, b0, b1, b2)``,
    each starting from ``zero`` (of the result's dtype). The weight-gradient loop of both direct
    convolutions; the sums run in SIMD lanes where the caller allows reassociation (fastmath).
    """
    a0 = a1 = a2 = b0 = b1 = b2 = zero
    for q in range(np.uint64(max(count, 0))):
        x0, x1, x2 = x[x_first + q], x[x_second + q], x[x_third + q]
        g, h = d[d_first + q], d[d_second + q]
        a0 += g * x0
        a1 += g * x1
        a2 += g * x2
        b0 += h * x0
        b1 += h * x1
        b2 += h * x2
    return a0, a1, a2, b0, b1, b2


@njit(cache=True, inline="always")
def zero_run(dst, dst_start, count):
    """``dst[dst_start + j] = 0`` for j in 0..count-1."""
    d = np.uint64(dst_start)
    for j in range(np.uint64(max(count, 0))):
        dst[d + j] = 0


@njit(cache=True, inline="always")
def ceil_div(a, b):
    """⌈a / b⌉ for integers, b > 0 (Python's ``//`` floors, also for negative a)."""
    return -((-a) // b)


@njit(cache=True, inline="always")
def valid_range(offset, step, size, count):
    """The indices j in [0, count) with ``0 <= j·step + offset < size``, as ``(lo, hi)``.

    A window or patch at output position j reads input position ``j·step + offset`` (offset
    = kernel tap − padding); positions outside [0, size) are padding. The valid j form one
    interval because the position grows with j.
    """
    lo = min(max(ceil_div(-offset, step), 0), count)
    hi = max(min(ceil_div(size - offset, step), count), lo)
    return lo, hi
