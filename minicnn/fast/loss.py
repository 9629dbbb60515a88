"""The fast engine's cross-entropy: the common case of a training step without the dense target.

The reference (``minicnn/functional/loss.py``) builds the coefficients a (M, C) of every
target form (labels, probabilities, class weights, ignored labels) and sums a·log p; for plain
labels (N,) of (N, C) logits, no class weight and no ignored label, a row of a holds one
(1 − ε) and ε/C elsewhere, so the loss is the label's log-probability picked by index and the
gradient p − q is p with (1 − ε) subtracted at the label ("Loss" in ``benchmarks/README.md``).
Every other case runs the reference.
"""

from dataclasses import dataclass

import numpy as np

from ..functional import loss as reference
from .caches import check_cache

__all__ = ["cross_entropy_backward", "cross_entropy_forward"]


@dataclass(frozen=True)
class CrossEntropyCache:
    """What ``cross_entropy_backward`` needs: the softmax, the labels and the settings."""

    probs: np.ndarray       # softmax(z), (N, C)
    labels: np.ndarray      # (N,) int64
    label_smoothing: float
    reduction: str
    divisor: float          # N, the mean's divisor

    ARRAY_FIELDS = ("probs", "labels")  # where the in-place guard looks (nn/_kept_arrays.py)


@dataclass(frozen=True)
class ReferenceLossCache:
    """The reference's cache, for the cases this engine hands to it."""

    cache: tuple

    ARRAY_FIELDS = ("cache",)


def cross_entropy_forward(logits, target, weight=None, ignore_index: int = -100,
                          reduction: str = "mean", label_smoothing: float = 0.0, *,
                          where: str = "cross_entropy"):
    """Replaces ``minicnn.functional.cross_entropy_forward``: the same arguments and loss."""
    if not _plain_labels(logits, target, weight):
        return _reference_forward(logits, target, weight, ignore_index, reduction,
                                  label_smoothing, where)
    reference._check_class_input(where, logits, "logits")
    reference.check_reduction(where, reduction)
    smoothing = reference.check_label_smoothing(where, label_smoothing)
    ignore_index = reference.check_ignore_index(where, ignore_index)
    labels = reference._check_class_labels(where, logits, target, ignore_index)
    if (labels == ignore_index).any():
        return _reference_forward(logits, target, weight, ignore_index, reduction,
                                  label_smoothing, where)
    n, num_classes = logits.shape
    log_probs = reference._log_softmax(logits)
    per_item = -(1.0 - smoothing) * log_probs[np.arange(n), labels]
    if smoothing:
        per_item -= (smoothing / num_classes) * log_probs.sum(axis=1)
    loss = reference._reduce(per_item, reduction, n)
    return loss, CrossEntropyCache(np.exp(log_probs), labels, smoothing, reduction, float(n))


def cross_entropy_backward(dout, cache) -> np.ndarray:
    """Replaces ``minicnn.functional.cross_entropy_backward``: (p − q)·dL/dℓ."""
    if isinstance(cache, ReferenceLossCache):
        return reference.cross_entropy_backward(dout, cache.cache)
    check_cache("cross_entropy_backward", cache, CrossEntropyCache)
    n, num_classes = cache.probs.shape
    upstream = reference._upstream(dout, cache.reduction, cache.divisor, (n,), cache.probs.dtype)
    dlogits = cache.probs.copy()
    if cache.label_smoothing:
        dlogits -= cache.label_smoothing / num_classes
    dlogits[np.arange(n), cache.labels] -= 1.0 - cache.label_smoothing
    dlogits *= upstream[:, None] if cache.reduction == "none" else upstream
    return dlogits


def _plain_labels(logits, target, weight) -> bool:
    """(N, C) float logits, integer labels (N,), no class weight: the case this engine takes."""
    return (weight is None and isinstance(logits, np.ndarray) and logits.ndim == 2
            and isinstance(target, np.ndarray) and target.ndim == 1
            and np.issubdtype(target.dtype, np.integer))


def _reference_forward(logits, target, weight, ignore_index, reduction, label_smoothing, where):
    loss, cache = reference.cross_entropy_forward(logits, target, weight, ignore_index,
                                                  reduction, label_smoothing, where=where)
    return loss, ReferenceLossCache(cache)
