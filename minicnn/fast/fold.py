"""Conv2d followed by BatchNorm2d, in inference, as one convolution: the folded weights.

In eval mode batch norm uses fixed statistics, so per output channel o it is an affine map of
the convolution's output z: ``y[o] = s[o]·z[o] + t[o]`` with ``s = γ/√(σ² + ε)`` and
``t = β − μ·s``. The convolution is affine in its weights, ``z[o] = Σ W[o]·x + b[o]``, so

    y[o] = Σ (s[o]·W[o])·x + s[o]·(b[o] − μ[o]) + β[o]:

one convolution with ``W' = W·s`` (each filter scaled) and ``b' = (b − μ)·s + β``. A ReLU right
after it is applied to that convolution's output in place. The derivation, step by step, is
the lab ``docs/inference.md``.

This is the fast engine's only (``minicnn/nn/_fold.py`` finds the pattern and calls these
functions); the reference engine computes layer by layer, as a student reads. Off switch:
``minicnn.fast.tuning.FOLD_BATCH_NORM = False``.
"""

import numpy as np

from . import tuning

__all__ = ["fold_conv_bn", "fold_pays", "relu_in_place"]


def fold_conv_bn(weight: np.ndarray, bias: np.ndarray | None, gamma: np.ndarray | None,
                 beta: np.ndarray | None, running_mean: np.ndarray, running_var: np.ndarray,
                 eps: float) -> tuple[np.ndarray, np.ndarray]:
    """The weight and bias of the one convolution that computes conv → batch norm (eval).

    ``s = γ / √(σ² + ε)``,  ``W'[o] = W[o] · s[o]``,  ``b' = (b − μ) · s + β``, with γ = 1,
    β = 0 for a norm without affine parameters and b = 0 for a convolution without bias.
    The per-channel factors are computed in float64; W' and b' come back in W's dtype.

    Shapes: weight (O, C/groups, kh, kw); bias, gamma, beta, running_mean, running_var (O,)
    or None (not the statistics) → (W' like weight, b' (O,)). New arrays: nothing is kept.
    """
    scale = 1.0 / np.sqrt(running_var.astype(np.float64) + eps)
    if gamma is not None:
        scale = scale * gamma
    shift = -running_mean * scale
    if bias is not None:
        shift = shift + bias * scale
    if beta is not None:
        shift = shift + beta
    dtype = weight.dtype
    folded_weight = weight * scale.astype(dtype).reshape(-1, 1, 1, 1)
    return folded_weight, shift.astype(dtype)


def fold_pays(output_shape, weight_shape) -> bool:
    """Whether folding saves more than it costs for a convolution of these shapes.

    Folding reads and writes every weight once; it saves batch norm's passes over the output
    (and ReLU's). So it pays where each filter produces many more values than it has weights
    (large batches, large maps), not for a batch of one through VGG's last 512-channel layers.
    Shapes: output (N, O, Ho, Wo), weight (O, C/groups, kh, kw).
    """
    n_samples, _, out_h, out_w = output_shape
    taps = weight_shape[1] * weight_shape[2] * weight_shape[3]
    return n_samples * out_h * out_w >= tuning.FOLD_MIN_OUTPUTS_PER_WEIGHT * taps


def relu_in_place(out: np.ndarray) -> np.ndarray:
    """``out = max(out, 0)`` written over ``out`` (NaN stays NaN, as ``relu_forward``)."""
    return np.maximum(out, 0, out=out)
