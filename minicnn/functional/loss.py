"""Loss functions as forward/backward pairs: the last link of the chain rule.

Each forward takes the network's raw output (``logits`` or ``scores``, before any softmax or
sigmoid) and the targets, and returns ``(loss, cache)``: the loss as a Python float and what the
backward needs. Each backward takes ``dout``, the upstream gradient of the loss (a number: 1.0
when the loss is the objective itself, its weight when it is one term of a sum), and the cache,
and returns ``dL/dlogits``, an array of the same shape and dtype as the logits, ready to be
passed to ``model.backward``: the ``op_backward(dout, cache)`` contract of every operation::

    loss, cache = F.cross_entropy_forward(logits, y)
    dlogits = F.cross_entropy_backward(1.0, cache)

Reductions. ``reduction="mean"`` (the default) divides by the batch size N for the losses that
score a whole row per sample (cross-entropy, multi-class hinge), and by the number of elements
for the element-wise losses (MSE, L1, binary cross-entropy, binary hinge), as PyTorch does;
``reduction="sum"`` divides by nothing. The backward of ``sum`` is the backward of ``mean``
without that division.

Every forward validates its inputs first and raises a ``TypeError``/``ValueError`` that names the
loss, what it expected and what it got; NaN or infinity in the logits or targets is an error, not
a NaN loss. ``where=`` only changes the name used in those messages (``nn.CrossEntropyLoss``
passes its own).
"""

from numbers import Real

import numpy as np

from .._validation import check_finite, check_float_array, check_labels, check_rank

__all__ = [
    "binary_cross_entropy_with_logits_backward", "binary_cross_entropy_with_logits_forward",
    "cross_entropy_backward", "cross_entropy_forward",
    "hinge_loss_backward", "hinge_loss_forward",
    "l1_loss_backward", "l1_loss_forward",
    "mse_loss_backward", "mse_loss_forward",
    "multiclass_hinge_loss_backward", "multiclass_hinge_loss_forward",
]

REDUCTIONS = ("mean", "sum")


# -- validation shared by the losses ---------------------------------------------------------
def check_reduction(where: str, reduction) -> str:
    """ValueError unless ``reduction`` is ``"mean"`` or ``"sum"``."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"{where}: expected reduction 'mean' or 'sum', got {reduction!r}")
    return reduction


def check_label_smoothing(where: str, label_smoothing) -> float:
    """ValueError unless 0 <= label_smoothing < 1 (1 would ignore the labels altogether)."""
    if not (isinstance(label_smoothing, Real) and 0.0 <= label_smoothing < 1.0):
        raise ValueError(f"{where}: expected label_smoothing in [0, 1), got {label_smoothing!r}")
    return float(label_smoothing)


def check_margin(where: str, margin) -> float:
    """ValueError unless the hinge margin is a finite number > 0."""
    if not (isinstance(margin, Real) and np.isfinite(margin) and margin > 0):
        raise ValueError(f"{where}: expected a finite margin > 0, got {margin!r}")
    return float(margin)


def _check_logits(where: str, logits, name: str = "logits") -> None:
    check_float_array(where, logits, name)
    if logits.size == 0:
        raise ValueError(f"{where}: expected {name} with at least one element, "
                         f"got shape {logits.shape}")
    check_finite(where, logits, name)


def _check_class_scores(where: str, logits, labels, name: str = "logits") -> np.ndarray:
    """Logits (N, C) and integer labels (N,) in [0, C); returns the labels as int64."""
    _check_logits(where, logits, name)
    check_rank(where, logits, 2, "(N, C)", name)
    return check_labels(where, labels, num_classes=logits.shape[1], n=logits.shape[0])


def _check_targets(where: str, logits: np.ndarray, targets, name: str = "targets") -> np.ndarray:
    """Real-valued targets of exactly the logits' shape; returned in the logits' dtype.

    Shapes must match exactly: (N, 1) against (N,) would broadcast to (N, N), a silent bug.
    """
    if not isinstance(targets, np.ndarray):
        targets = np.asarray(targets)
    if not (np.issubdtype(targets.dtype, np.floating) or np.issubdtype(targets.dtype, np.integer)
            or targets.dtype == np.bool_):
        raise TypeError(f"{where}: expected real-valued {name}, got dtype {targets.dtype}")
    if targets.shape != logits.shape:
        raise ValueError(f"{where}: expected {name} of the same shape as the input "
                         f"{logits.shape}, got shape {targets.shape}")
    check_finite(where, targets, name)
    return targets.astype(logits.dtype, copy=False)


def _reduction_scale(reduction: str, count: int) -> float:
    """The factor d(reduced loss)/d(summed loss): 1/count for the mean, 1 for the sum."""
    return 1.0 / count if reduction == "mean" else 1.0


def _reduce(per_item: np.ndarray, scale: float) -> float:
    # accumulate in float64: the loss is a Python float, and a float32 sum drifts on big batches
    return float(np.sum(per_item, dtype=np.float64) * scale)


# -- softmax cross-entropy ---------------------------------------------------------------------
def _log_softmax(z: np.ndarray) -> np.ndarray:
    """log softmax along axis 1, stable: z − max − log Σ exp(z − max), never exp of a big number."""
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def cross_entropy_forward(logits, labels, label_smoothing: float = 0.0, reduction: str = "mean",
                          *, where: str = "cross_entropy"):
    """Softmax cross-entropy from raw logits, with optional label smoothing (PyTorch's).

    Shapes: logits z (N, C) float32/float64; labels y (N,) integers in [0, C).

    With p = softmax(z) row-wise and the smoothed one-hot target
    q_ic = (1 − ε)·[c = y_i] + ε/C   (ε = label_smoothing in [0, 1); ε = 0 is the plain one-hot),

        L = (1/N) Σ_i Σ_c −q_ic · log p_ic
          = (1/N) Σ_i [ −(1 − ε)·log p_{i,y_i} − (ε/C)·Σ_c log p_ic ].

    log p is computed as z − logsumexp(z) with the row maximum subtracted first, so logits of
    ±1000 give a finite loss. Returns ``(loss, cache)``; ``loss`` is a Python float.
    """
    labels = _check_class_scores(where, logits, labels)
    check_reduction(where, reduction)
    label_smoothing = check_label_smoothing(where, label_smoothing)
    n, num_classes = logits.shape
    log_probs = _log_softmax(logits)
    picked = log_probs[np.arange(n), labels]
    per_sample = -(1.0 - label_smoothing) * picked
    if label_smoothing:
        per_sample -= (label_smoothing / num_classes) * log_probs.sum(axis=1)
    scale = _reduction_scale(reduction, n)
    cache = (np.exp(log_probs), labels, label_smoothing, scale)
    return _reduce(per_sample, scale), cache


def cross_entropy_backward(dout, cache) -> np.ndarray:
    """dL/dz = (p − q) / N for the mean (p − q for the sum), shape (N, C), the logits' dtype.

    The softmax Jacobian and the log's 1/p cancel, which is why softmax and cross-entropy are
    fused: dL/dz_ic = p_ic − q_ic. ``dout`` (dL_total/dL, a number) scales the result.
    """
    probs, labels, label_smoothing, scale = cache
    dlogits = probs.copy()
    # subtract q without building it: ε/C everywhere, and 1 − ε more at each label
    if label_smoothing:
        dlogits -= label_smoothing / probs.shape[1]
    dlogits[np.arange(len(labels)), labels] -= 1.0 - label_smoothing
    dlogits *= scale * float(dout)
    return dlogits


# -- binary cross-entropy with logits ------------------------------------------------------------
def _softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + e^z), stable: max(z, 0) + log(1 + e^{−|z|})."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) = 1/(1 + e^{−z}), stable: only e^{−|z|} ≤ 1 is ever computed."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def binary_cross_entropy_with_logits_forward(logits, targets, pos_weight=None,
                                             reduction: str = "mean", *,
                                             where: str = "binary_cross_entropy_with_logits"):
    """Sigmoid + binary cross-entropy, fused and stable.

    Shapes: logits z and targets y of the same shape (any, e.g. (N,) or (N, K) for K independent
    yes/no outputs); targets are probabilities in [0, 1] (usually 0 or 1).

    With σ the sigmoid and w = pos_weight (1 if None; a number or an array broadcastable to the
    logits, e.g. (K,), weighting the positive term as in PyTorch),

        ℓ = −[w·y·log σ(z) + (1 − y)·log(1 − σ(z))]
          = w·y·softplus(−z) + (1 − y)·softplus(z),      softplus(t) = log(1 + e^t),

    which for w = 1 is the stable form ℓ = max(z, 0) − z·y + log(1 + e^{−|z|}).
    L = mean of ℓ over all elements (``"mean"``) or their sum (``"sum"``).
    Returns ``(loss, cache)``; ``loss`` is a Python float.
    """
    _check_logits(where, logits)
    targets = _check_targets(where, logits, targets)
    check_reduction(where, reduction)
    if targets.min() < 0 or targets.max() > 1:
        raise ValueError(f"{where}: expected targets in [0, 1], got values from "
                         f"{targets.min()} to {targets.max()}")
    weight = _check_pos_weight(where, pos_weight, logits)
    if weight is None:
        per_element = np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
    else:
        per_element = weight * targets * _softplus(-logits) + (1 - targets) * _softplus(logits)
    scale = _reduction_scale(reduction, logits.size)
    return _reduce(per_element, scale), (logits, targets, weight, scale)


def _check_pos_weight(where: str, pos_weight, logits: np.ndarray):
    """None, or pos_weight as an array of the logits' dtype that broadcasts to their shape."""
    if pos_weight is None:
        return None
    weight = np.asarray(pos_weight)
    if not (np.issubdtype(weight.dtype, np.floating) or np.issubdtype(weight.dtype, np.integer)):
        raise TypeError(f"{where}: expected pos_weight as a number or a float array, "
                        f"got dtype {weight.dtype}")
    try:
        if np.broadcast_shapes(weight.shape, logits.shape) != logits.shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"{where}: expected pos_weight broadcastable to the input shape "
                         f"{logits.shape}, got shape {weight.shape}") from None
    check_finite(where, weight, "pos_weight")
    if weight.min() < 0:
        raise ValueError(f"{where}: expected pos_weight >= 0, got a minimum of {weight.min()}")
    return weight.astype(logits.dtype)


def binary_cross_entropy_with_logits_backward(dout, cache) -> np.ndarray:
    """dL/dz = (σ(z) − y)/M for w = 1, and (σ(z)·(w·y + 1 − y) − w·y)/M in general.

    M is the number of elements for the mean (1 for the sum). Same shape and dtype as z.
    Derivation: d softplus(z)/dz = σ(z) and d softplus(−z)/dz = σ(z) − 1.
    """
    logits, targets, weight, scale = cache
    sig = _sigmoid(logits)
    if weight is None:
        dlogits = sig - targets
    else:
        dlogits = sig * (weight * targets + 1 - targets) - weight * targets
    dlogits *= scale * float(dout)
    return dlogits


# -- regression losses ---------------------------------------------------------------------------
def mse_loss_forward(input, target, reduction: str = "mean", *, where: str = "mse_loss"):
    """Mean squared error, L = (1/M) Σ (ŷ − y)², over all M elements.

    Shapes: input ŷ and target y of the same shape (any). Returns ``(loss, cache)``.
    """
    _check_logits(where, input, "input")
    target = _check_targets(where, input, target, "target")
    check_reduction(where, reduction)
    diff = input - target
    scale = _reduction_scale(reduction, input.size)
    return _reduce(diff * diff, scale), (diff, scale)


def mse_loss_backward(dout, cache) -> np.ndarray:
    """dL/dŷ = 2(ŷ − y)/M (2(ŷ − y) for the sum); same shape and dtype as ŷ."""
    diff, scale = cache
    return diff * (2.0 * scale * float(dout))


def l1_loss_forward(input, target, reduction: str = "mean", *, where: str = "l1_loss"):
    """Mean absolute error, L = (1/M) Σ |ŷ − y|, over all M elements.

    Shapes: input ŷ and target y of the same shape (any). Returns ``(loss, cache)``.
    """
    _check_logits(where, input, "input")
    target = _check_targets(where, input, target, "target")
    check_reduction(where, reduction)
    diff = input - target
    scale = _reduction_scale(reduction, input.size)
    return _reduce(np.abs(diff), scale), (diff, scale)


def l1_loss_backward(dout, cache) -> np.ndarray:
    """dL/dŷ = sign(ŷ − y)/M; same shape and dtype as ŷ.

    |t| has no derivative at t = 0; any value in [−1, 1] is a subgradient and, like PyTorch, we
    take sign(0) = 0.
    """
    diff, scale = cache
    return np.sign(diff) * (scale * float(dout))


# -- hinge losses (support vector machines) ----------------------------------------------------
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
    """Binary hinge loss (the linear SVM's), L = (1/M) Σ max(0, Δ − y·s), over all M elements.

    Shapes: scores s and labels y of the same shape (any, usually (N,)); labels are −1 or +1
    (ints or floats). Δ = margin, 1 in the course. A sample costs nothing once it is on the
    right side by at least the margin (y·s ≥ Δ). Returns ``(loss, cache)``.
    """
    _check_logits(where, scores, "scores")
    labels = _check_plus_minus_one(where, scores, labels)
    margin = check_margin(where, margin)
    check_reduction(where, reduction)
    slack = margin - labels * scores
    scale = _reduction_scale(reduction, scores.size)
    return _reduce(np.maximum(slack, 0), scale), (labels, slack > 0, scale)


def hinge_loss_backward(dout, cache) -> np.ndarray:
    """dL/ds = −y·[Δ − y·s > 0] / M; 0 at the kink Δ = y·s (a valid subgradient)."""
    labels, active, scale = cache
    return -labels * active * (scale * float(dout))


def multiclass_hinge_loss_forward(scores, labels, margin: float = 1.0, reduction: str = "mean",
                                  *, where: str = "multiclass_hinge_loss"):
    """Multi-class SVM loss (Weston–Watkins, as in cs231n), averaged over the batch.

    Shapes: scores s (N, C) float; labels y (N,) integers in [0, C). Δ = margin (1 by default):

        L = (1/N) Σ_i Σ_{j ≠ y_i} max(0, s_ij − s_{i,y_i} + Δ).

    Normalisation: the sum over wrong classes is *not* divided by C. PyTorch's MultiMarginLoss
    divides it by C, so its value is ours / C. We keep the course's (and cs231n's) form so that
    the loss and its gradient keep their size when the number of classes changes, and the hand
    computations in the lecture notes give the same numbers. Returns ``(loss, cache)``.
    """
    labels = _check_class_scores(where, scores, labels, "scores")
    margin = check_margin(where, margin)
    check_reduction(where, reduction)
    n = scores.shape[0]
    correct = scores[np.arange(n), labels][:, None]
    margins = scores - correct + margin
    margins[np.arange(n), labels] = 0  # j = y_i is left out of the sum
    active = margins > 0
    scale = _reduction_scale(reduction, n)
    return _reduce(np.maximum(margins, 0), scale), (labels, active, scale, scores.dtype)


def multiclass_hinge_loss_backward(dout, cache) -> np.ndarray:
    """dL/ds, shape (N, C): for j ≠ y_i, [margin_ij > 0]/N; for j = y_i, minus the count of
    active margins in row i, over N (the correct score appears in every margin of its row)."""
    labels, active, scale, dtype = cache
    dscores = active.astype(dtype)
    dscores[np.arange(len(labels)), labels] = -active.sum(axis=1)
    dscores *= scale * float(dout)
    return dscores
