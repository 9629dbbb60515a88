"""Batch normalisation in training mode, forward and backward, as fused loops over channel groups.

Layout. The input is viewed as (N, C, L): (N, C, H, W) as (N, C, H·W), (N, C) as (N, C, 1).
Channel c is then N runs of L consecutive values, run n starting at flat offset (n·C + c)·L,
and each of its statistics is a sum over its m = N·L values.

Why fused. The reference (``minicnn/functional/normalization.py``) makes one pass over the
whole array per formula: about 6 forward and 5 backward, each reading (and often writing)
every value from main memory. Here a small group of channels is done from start to finish before
the next: the first pass brings the group's values into the CPU's caches (512 KB for two
channels of a (64, 64, 32, 32) float32 batch), and the passes after it read them from there.

Sample by sample. Each pass walks its group sample by sample, and a sample's channels of the
group lie next to each other: one contiguous run of about ``GROUP_VALUES`` values. Walking one
channel at a time instead reads runs of L values that lie C·L apart, a power of two in nearly
every CNN, and such runs compete for the same few cache sets, so the time depended on where
the arrays happened to land. Sample by sample gives the same sums in the same order, so the
same bits, and is much faster on the many-channel shapes of a ResNet's last stages (figures:
benchmarks/README.md, "Batch norm").

    forward, per channel     pass 1  μ  = (1/m) Σ x
                             pass 2  σ² = (1/m) Σ (x − μ)²          (from cache)
                             pass 3  x̂ = (x − μ)/√(σ² + ε),  y = γ·x̂ + β   (from cache)
    backward, per channel    pass 1  dβ = Σ dout,  dγ = Σ dout·x̂
                             pass 2  dx = (γ/σ)·(dout − dβ/m − x̂·dγ/m)     (from cache)

Accuracy. Every sum is accumulated in float64, also for float32 input, one run at a time (a
run's partial sum is added to the channel's total). The variance takes two passes, mean
first, because the one-pass formula σ² = (1/m)Σx² − μ² subtracts two nearly equal numbers when
|μ| ≫ σ: for x = 1000 + randn in float32, Σx²/m ≈ 10⁶ and σ² ≈ 1, so float32 sums would lose
every digit of σ² (and float64 ones 6 of their 16).

The passes that write an array (x̂ and y; dx) compute in x's own dtype: in float32 a SIMD
instruction handles twice as many values as in float64 and no conversions are needed. The
per-channel constants are rounded to that dtype once, except μ: rounded to float32, μ = 1000
is off by up to 3·10⁻⁵, an error every x̂ would inherit. So μ is split into μ_hi (μ rounded)
plus μ_lo (the small remainder, rounded) and ``x − μ = (x − μ_hi) − μ_lo``: the first
difference is exact when x is near μ, and x̂ is then accurate to a few float32 roundings.

Vectorising sums. A loop ``s += a[j]`` vectorises only if the compiler may add the values in a
different order (several partial sums, one per SIMD lane, added up at the end), which changes
the rounding slightly. ``fastmath={"reassoc", "contract"}`` allows exactly that and fused
multiply-adds, and nothing else: NaN and infinity still propagate as in NumPy. Offsets are
unsigned, as in ``_runs.py``, so that no negative-index test blocks the vectorisation.

Short runs. The loops stream memory when runs are long. With L = 1 ((N, C) input) a channel's
values lie C apart, each on its own cache line, and the loops are far slower than NumPy's
column sums; ``minicnn.fast.normalization`` sends such input to the reference instead. Runs
of a few dozen values or more are faster than NumPy's passes (figures: benchmarks/README.md,
"Batch norm").

Parallel over channel groups (``parallel.py``): a group's passes read and write only its own
channels, and the sums run in the same order whatever the number of threads.
Arrays must be C-contiguous, float32 or float64, one dtype for x, γ, β, x̂, y, dout and dx; the
per-channel vectors are float64. The caller allocates every output; the kernels fill them.
"""

import numpy as np
from numba import njit

from ..parallel import run_tasks
from ..tuning import BATCH_NORM_GROUP_VALUES as GROUP_VALUES

__all__ = ["batch_norm_train_backward_kernel", "batch_norm_train_forward_kernel"]

_REASSOC = {"reassoc", "contract"}  # see "Vectorising sums" above



def _channels_per_task(channels: int, length: int) -> int:
    """Channels per task: about ``GROUP_VALUES / L``, but at most a quarter of the channels,
    so that there are tasks for every thread."""
    return max(1, min(-(-GROUP_VALUES // max(length, 1)), -(-channels // 4)))


@njit(cache=True, inline="always", fastmath=_REASSOC)
def _run_sum(a, start, length, shift):
    """``Σ (a − shift)`` over one run of a flat array, in float64."""
    first = np.uint64(start)
    total = 0.0
    for j in range(np.uint64(length)):
        total += a[first + j] - shift
    return total


@njit(cache=True, inline="always", fastmath=_REASSOC)
def _run_sum_of_squares(a, start, length, shift):
    """``Σ (a − shift)²`` over one run of a flat array, in float64."""
    first = np.uint64(start)
    total = 0.0
    for j in range(np.uint64(length)):
        d = a[first + j] - shift
        total += d * d
    return total


def batch_norm_train_forward_kernel(x, gamma, beta, eps, x_hat, y, mean, var, inv_std):
    """Normalise x with its own per-channel statistics; fill x_hat, y, mean, var, inv_std.

    ``mean = μ``, ``var = σ²`` (biased) and ``inv_std = 1/√(σ² + ε)`` are per channel, in
    float64; ``x_hat = (x − μ)·inv_std`` and ``y = γ·x̂ + β`` are computed in x's dtype (see
    "Accuracy" above). ``gamma=None`` (then beta and y are None too) skips y: the caller uses
    x_hat as y.

    Shapes: x, x_hat, y (N, C, L); gamma, beta, mean, var, inv_std (C,). Needs N·L ≥ 1.
    """
    group = _channels_per_task(x.shape[1], x.shape[2])
    run_tasks(_forward_groups, -(-x.shape[1] // group), 3 * x.size,
              x, gamma, beta, eps, x_hat, y, mean, var, inv_std, group)
    return x_hat, y


def batch_norm_train_backward_kernel(dout, x_hat, scale, dx, dgamma, dbeta):
    """Fill ``dx``, ``dgamma = Σ dout·x̂`` and ``dbeta = Σ dout`` (per channel, float64).

    ``dx = scale·(dout − dβ/m − x̂·dγ/m)`` with ``scale = γ/σ`` (``1/σ`` without γ), the
    gradient through the batch statistics (see ``functional.batch_norm_backward``).

    Shapes: dout, x_hat, dx (N, C, L); scale, dgamma, dbeta (C,).
    """
    group = _channels_per_task(dout.shape[1], dout.shape[2])
    run_tasks(_backward_groups, -(-dout.shape[1] // group), 3 * dout.size,
              dout, x_hat, scale, dx, dgamma, dbeta, group)
    return dx, dgamma, dbeta


@njit(cache=True, nogil=True, fastmath=_REASSOC)
def _forward_groups(x, gamma, beta, eps, x_hat, y, mean, var, inv_std, group, first, last):
    """``batch_norm_train_forward_kernel`` for channel groups ``first`` to ``last − 1``."""
    n_samples, channels, length = x.shape
    m = n_samples * length
    x_flat = x.reshape(x.size)
    x_hat_flat = x_hat.reshape(x_hat.size)
    real = x.dtype.type  # float32 or float64: rounds a float64 to x's dtype
    for task in range(first, last):
        c0, c1 = task * group, min((task + 1) * group, channels)
        mean[c0:c1] = 0.0
        var[c0:c1] = 0.0
        for n in range(n_samples):  # pass 1: μ
            for c in range(c0, c1):
                mean[c] += _run_sum(x_flat, (n * channels + c) * length, length, 0.0)
        for c in range(c0, c1):
            mean[c] /= m
        for n in range(n_samples):  # pass 2: σ² (from cache)
            for c in range(c0, c1):
                var[c] += _run_sum_of_squares(x_flat, (n * channels + c) * length, length,
                                              mean[c])
        for c in range(c0, c1):
            var[c] /= m
            inv_std[c] = 1.0 / np.sqrt(var[c] + eps)
        for n in range(n_samples):  # pass 3: x̂ and y (from cache)
            for c in range(c0, c1):
                mu_hi = real(mean[c])
                mu_lo = real(mean[c] - mu_hi)  # 0 in float64
                scale = real(inv_std[c])
                start = np.uint64((n * channels + c) * length)
                if gamma is None:  # decided when compiling: one machine-code version per case
                    for j in range(np.uint64(length)):
                        x_hat_flat[start + j] = ((x_flat[start + j] - mu_hi) - mu_lo) * scale
                else:
                    y_flat = y.reshape(y.size)
                    g = gamma[c]
                    b = beta[c]
                    for j in range(np.uint64(length)):
                        normalised = ((x_flat[start + j] - mu_hi) - mu_lo) * scale
                        x_hat_flat[start + j] = normalised
                        y_flat[start + j] = g * normalised + b


@njit(cache=True, nogil=True, fastmath=_REASSOC)
def _backward_groups(dout, x_hat, scale, dx, dgamma, dbeta, group, first, last):
    """``batch_norm_train_backward_kernel`` for channel groups ``first`` to ``last − 1``."""
    n_samples, channels, length = dout.shape
    m = n_samples * length
    dout_flat = dout.reshape(dout.size)
    x_hat_flat = x_hat.reshape(x_hat.size)
    dx_flat = dx.reshape(dx.size)
    real = dout.dtype.type
    for task in range(first, last):
        c0, c1 = task * group, min((task + 1) * group, channels)
        dbeta[c0:c1] = 0.0
        dgamma[c0:c1] = 0.0
        for n in range(n_samples):  # pass 1: dβ = Σ dout, dγ = Σ dout·x̂
            for c in range(c0, c1):
                start = np.uint64((n * channels + c) * length)
                run_dout = 0.0
                run_dout_x_hat = 0.0
                for j in range(np.uint64(length)):
                    d = np.float64(dout_flat[start + j])
                    run_dout += d
                    run_dout_x_hat += d * x_hat_flat[start + j]
                dbeta[c] += run_dout
                dgamma[c] += run_dout_x_hat
        for n in range(n_samples):  # pass 2: dx (from cache)
            for c in range(c0, c1):
                # dx = a·dout + k·x̂ + b: the per-channel constants folded, two multiply-adds
                # a value, in dout's dtype (see "Accuracy" above).
                a = real(scale[c])
                k = real(-scale[c] * dgamma[c] / m)
                b = real(-scale[c] * dbeta[c] / m)
                start = np.uint64((n * channels + c) * length)
                for j in range(np.uint64(length)):
                    dx_flat[start + j] = a * dout_flat[start + j] + (k * x_hat_flat[start + j] + b)
