"""Regression losses as forward/backward pairs: MSE, L1, Huber and smooth L1.

All four are element-wise: input ŷ and target y of the same shape (any), d = ŷ − y, one value
ℓ per element, reduced as in ``loss.py`` (``"mean"`` over all M elements, ``"sum"``, or
``"none"``: ℓ itself, and the backward takes a ``dout`` of its shape). Each returns
``(loss, cache)``; each backward returns dL/dŷ in ŷ's shape and dtype.

Huber and smooth L1 are the same curve at two scales: quadratic near 0, linear beyond a
threshold, with a continuous slope. ``huber(d; δ) = β·smooth_l1(d; β)`` for δ = β: Huber keeps
the quadratic ½d² and lets the slope grow to δ, smooth L1 keeps slope 1 and shrinks the
quadratic to ½d²/β. PyTorch's names and defaults (δ = β = 1, where the two coincide).
"""

from numbers import Real

import numpy as np

from .loss import _check_logits, _check_targets, _reduce, _upstream, check_reduction

__all__ = [
    "huber_loss_backward", "huber_loss_forward",
    "l1_loss_backward", "l1_loss_forward",
    "mse_loss_backward", "mse_loss_forward",
    "smooth_l1_loss_backward", "smooth_l1_loss_forward",
]


def _difference(where: str, input, target, reduction: str) -> np.ndarray:
    """d = ŷ − y after the shared checks."""
    _check_logits(where, input, "input")
    target = _check_targets(where, input, target, "target")
    check_reduction(where, reduction)
    return input - target


def check_delta(where: str, name: str, value, allow_zero: bool) -> float:
    """ValueError unless the threshold is a finite number > 0 (>= 0 with ``allow_zero``)."""
    number = isinstance(value, Real) and not isinstance(value, bool) and np.isfinite(value)
    if not (number and (value >= 0 if allow_zero else value > 0)):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{where}: expected a finite {name} {bound}, got {value!r}")
    return float(value)


def mse_loss_forward(input, target, reduction: str = "mean", *, where: str = "mse_loss"):
    """Squared error ℓ = (ŷ − y)²; the mean over all M elements is the MSE."""
    diff = _difference(where, input, target, reduction)
    return _reduce(diff * diff, reduction, input.size), (diff, reduction)


def mse_loss_backward(dout, cache) -> np.ndarray:
    """dℓ/dŷ = 2(ŷ − y); times 1/M for the mean, ``dout`` for none."""
    diff, reduction = cache
    return 2 * diff * _upstream(dout, reduction, diff.size, diff.shape, diff.dtype)


def l1_loss_forward(input, target, reduction: str = "mean", *, where: str = "l1_loss"):
    """Absolute error ℓ = |ŷ − y|; the mean over all M elements is the MAE."""
    diff = _difference(where, input, target, reduction)
    return _reduce(np.abs(diff), reduction, input.size), (diff, reduction)


def l1_loss_backward(dout, cache) -> np.ndarray:
    """dℓ/dŷ = sign(ŷ − y).

    |t| has no derivative at t = 0; any value in [−1, 1] is a subgradient and, like PyTorch, we
    take sign(0) = 0.
    """
    diff, reduction = cache
    return np.sign(diff) * _upstream(dout, reduction, diff.size, diff.shape, diff.dtype)


def huber_loss_forward(input, target, reduction: str = "mean", delta: float = 1.0, *,
                       where: str = "huber_loss"):
    """Huber loss, PyTorch's ``F.huber_loss``; δ = ``delta`` > 0, d = ŷ − y:

        ℓ = ½·d²             if |d| < δ,
            δ·(|d| − ½·δ)    otherwise.
    """
    delta = check_delta(where, "delta", delta, allow_zero=False)
    diff = _difference(where, input, target, reduction)
    size = np.abs(diff)
    per_element = np.where(size < delta, 0.5 * diff * diff, delta * (size - 0.5 * delta))
    return _reduce(per_element, reduction, input.size), (diff, delta, reduction)


def huber_loss_backward(dout, cache) -> np.ndarray:
    """dℓ/dŷ = d inside |d| < δ, δ·sign(d) outside: d clipped to [−δ, δ]."""
    diff, delta, reduction = cache
    return np.clip(diff, -delta, delta) * _upstream(dout, reduction, diff.size, diff.shape,
                                                    diff.dtype)


def smooth_l1_loss_forward(input, target, reduction: str = "mean", beta: float = 1.0, *,
                           where: str = "smooth_l1_loss"):
    """Smooth L1 loss, PyTorch's ``F.smooth_l1_loss``; β = ``beta`` >= 0, d = ŷ − y:

        ℓ = ½·d²/β           if |d| < β,
            |d| − ½·β        otherwise;

    β = 0 is the L1 loss (PyTorch's rule).
    """
    beta = check_delta(where, "beta", beta, allow_zero=True)
    diff = _difference(where, input, target, reduction)
    size = np.abs(diff)
    if beta == 0:
        per_element = size
    else:
        per_element = np.where(size < beta, 0.5 * diff * diff / beta, size - 0.5 * beta)
    return _reduce(per_element, reduction, input.size), (diff, beta, reduction)


def smooth_l1_loss_backward(dout, cache) -> np.ndarray:
    """dℓ/dŷ = d/β inside |d| < β, sign(d) outside (sign(d) everywhere for β = 0)."""
    diff, beta, reduction = cache
    slope = np.sign(diff) if beta == 0 else np.clip(diff / beta, -1, 1)
    return slope * _upstream(dout, reduction, diff.size, diff.shape, diff.dtype)
