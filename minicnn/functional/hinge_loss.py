"""Hinge losses (support vector machines) as forward/backward pairs: binary and multi-class.

Reductions as in ``loss.py``: ``"mean"`` (over all elements for the binary loss, over the N
samples for the multi-class one), ``"sum"``, or ``"none"`` (the per-item values; the backward
then takes a ``dout`` of their shape).
"""

from numbers import Real

import numpy as np

from .._validation import check_labels, check_rank
from .loss import _check_logits, _check_targets, _reduce, _upstream, check_reduction

__all__ = [
    "hinge_loss_backward", "hinge_loss_forward",
    "multiclass_hinge_loss_backward", "multiclass_hinge_loss_forward",
]


def check_margin(where: str, margin) -> float:
    """ValueError unless the hinge margin is a finite number > 0."""
    if not (isinstance(margin, Real) and np.isfinite(margin) and margin > 0):
        raise ValueError(f"{where}: expected a finite margin > 0, got {margin!r}")
    return float(margin)


def _check_plus_minus_one(where: str, scores: np.ndarray, labels) -> np.ndarray:
    """Labels of the scores' shape, each −1 or +1; returned in the scores' dtype."""
    checked = _check_targets(where, scores, labels, "labels")
    if not np.all((checked == 1) | (checked == -1)):
        found = np.unique(np.asarray(labels))[:5]  # as given, before the dtype conversion
        raise ValueError(f"{where}: expected labels in {{-1, +1}}, got values {found.tolist()}"
                         f" (0/1 labels y convert with 2*y - 1)")
    return checked


def hinge_loss_forward(scores, labels, margin: float = 1.0, reduction: str = "mean", *,
                       where: str = "hinge_loss"):
    """Binary hinge loss (the linear SVM's), ℓ = max(0, Δ − y·s) per element.

    Shapes: scores s and labels y of the same shape (any, usually (N,)); labels are −1 or +1
    (ints or floats). Δ = margin, 1 in the course. A sample costs nothing once it is on the
    right side by at least the margin (y·s ≥ Δ). Returns ``(loss, cache)``.
    """
    _check_logits(where, scores, "scores")
    labels = _check_plus_minus_one(where, scores, labels)
    margin = check_margin(where, margin)
    check_reduction(where, reduction)
    slack = margin - labels * scores
    loss = _reduce(np.maximum(slack, 0), reduction, scores.size)
    return loss, (labels, slack > 0, reduction)


def hinge_loss_backward(dout, cache) -> np.ndarray:
    """dℓ/ds = −y·[Δ − y·s > 0]; 0 at the kink Δ = y·s (a valid subgradient)."""
    labels, active, reduction = cache
    return -labels * active * _upstream(dout, reduction, labels.size, labels.shape,
                                        labels.dtype)


def multiclass_hinge_loss_forward(scores, labels, margin: float = 1.0, reduction: str = "mean",
                                  *, where: str = "multiclass_hinge_loss"):
    """Multi-class SVM loss (Weston–Watkins, as in cs231n), one value per sample.

    Shapes: scores s (N, C) float; labels y (N,) integers in [0, C). Δ = margin (1 by default):

        ℓ_i = Σ_{j ≠ y_i} max(0, s_ij − s_{i,y_i} + Δ),    L = (1/N) Σ_i ℓ_i for the mean.

    Normalisation: the sum over wrong classes is *not* divided by C. PyTorch's MultiMarginLoss
    divides it by C, so its value is ours / C. We keep the course's (and cs231n's) form so that
    the loss and its gradient keep their size when the number of classes changes, and the hand
    computations in the lecture notes give the same numbers. Returns ``(loss, cache)``.
    """
    _check_logits(where, scores, "scores")
    check_rank(where, scores, 2, "(N, C)", "scores")
    labels = check_labels(where, labels, num_classes=scores.shape[1], n=scores.shape[0])
    margin = check_margin(where, margin)
    check_reduction(where, reduction)
    n = scores.shape[0]
    correct = scores[np.arange(n), labels][:, None]
    margins = scores - correct + margin
    margins[np.arange(n), labels] = 0  # j = y_i is left out of the sum
    active = margins > 0
    loss = _reduce(np.maximum(margins, 0).sum(axis=1), reduction, n)
    return loss, (labels, active, reduction, scores.dtype)


def multiclass_hinge_loss_backward(dout, cache) -> np.ndarray:
    """dℓ_i/ds, shape (N, C): for j ≠ y_i, [margin_ij > 0]; for j = y_i, minus the count of
    active margins in row i (the correct score appears in every margin of its row)."""
    labels, active, reduction, dtype = cache
    dscores = active.astype(dtype)
    dscores[np.arange(len(labels)), labels] = -active.sum(axis=1)
    upstream = _upstream(dout, reduction, len(labels), labels.shape, dtype)
    dscores *= np.reshape(upstream, (-1, 1)) if reduction == "none" else upstream
    return dscores
