"""Loss functions as forward/backward pairs: the last link of the chain rule.

Each forward takes the network's output (raw ``logits`` or ``scores``, before any softmax or
sigmoid, except ``nll_loss`` and ``binary_cross_entropy``, which take log-probabilities and
probabilities) and the targets, and returns ``(loss, cache)``. Each backward takes ``dout``, the
upstream gradient of the loss, and the cache, and returns ``dL/dinput``, an array of the input's
shape and dtype, ready to be passed to ``model.backward``: the ``op_backward(dout, cache)``
contract of every operation::

    loss, cache = F.cross_entropy_forward(logits, y)
    dlogits = F.cross_entropy_backward(1.0, cache)

Reductions, as PyTorch's. Each loss first computes one value ℓ per item: per sample (and per
pixel) for the losses that score a row of classes (cross-entropy, NLL, multi-class hinge), per
element for the element-wise ones (MSE, L1, Huber, binary cross-entropy, binary hinge).

* ``reduction="mean"`` (the default): the average of ℓ, a Python float. The divisor is the
  number of items, except for class weights, where it is Σ of the weights of the items' labels
  (PyTorch's weighted mean; see ``cross_entropy_forward``);
* ``reduction="sum"``: the sum of ℓ, a Python float;
* ``reduction="none"``: ℓ itself, an array in the input's dtype; the backward then takes a
  ``dout`` of that array's shape (dL_total/dℓ for each item), as PyTorch's autograd does.

Every forward validates its inputs first and raises a ``TypeError``/``ValueError`` that names the
loss, what it expected and what it got; NaN or infinity in the inputs or targets is an error, not
a NaN loss. ``where=`` only changes the name used in those messages (``nn.CrossEntropyLoss``
passes its own). The regression losses are in ``regression_loss.py``, the hinge losses in
``hinge_loss.py``; this module holds the classification losses and the shared plumbing.
"""

from numbers import Integral, Real

import numpy as np

from .._validation import check_finite, check_float_array

__all__ = [
    "binary_cross_entropy_backward", "binary_cross_entropy_forward",
    "binary_cross_entropy_with_logits_backward", "binary_cross_entropy_with_logits_forward",
    "cross_entropy_backward", "cross_entropy_forward",
    "nll_loss_backward", "nll_loss_forward",
]

REDUCTIONS = ("mean", "sum", "none")


# -- settings shared by the losses -------------------------------------------------------------
def check_reduction(where: str, reduction) -> str:
    """ValueError unless ``reduction`` is ``"mean"``, ``"sum"`` or ``"none"``."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"{where}: expected reduction 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def check_label_smoothing(where: str, label_smoothing) -> float:
    """ValueError unless 0 <= label_smoothing <= 1, PyTorch's range (1 makes the targets
    uniform: the labels are then ignored)."""
    if not (isinstance(label_smoothing, Real) and 0.0 <= label_smoothing <= 1.0):
        raise ValueError(f"{where}: expected label_smoothing in [0, 1], got {label_smoothing!r}")
    return float(label_smoothing)


def check_ignore_index(where: str, ignore_index) -> int:
    """The label value to skip: any int (PyTorch's default −100 is no class)."""
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, Integral):
        raise TypeError(f"{where}: expected ignore_index as an int, got {ignore_index!r}")
    return int(ignore_index)


# -- reduction: forward and backward -----------------------------------------------------------
def _reduce(per_item: np.ndarray, reduction: str, count) -> "float | np.ndarray":
    """The loss from the per-item values: their sum divided by ``count`` (mean), their sum, or
    the values themselves (none). Sums accumulate in float64: the loss is a Python float, and a
    float32 sum drifts on big batches. A mean over nothing (count 0) is NaN, as in PyTorch."""
    if reduction == "none":
        return per_item
    total = float(np.sum(per_item, dtype=np.float64))
    if reduction == "sum":
        return total
    return total / count if count else float("nan")


def _upstream(dout, reduction: str, count, shape: tuple, dtype) -> "float | np.ndarray":
    """dL_total/dℓ for each item: a number for mean (dout/count) and sum (dout), an array of
    the per-item shape for none; multiply it into dℓ/dinput."""
    if reduction == "none":
        dout = np.asarray(dout)
        if dout.shape != shape:
            raise ValueError(f"loss backward: expected dout of the per-item loss's shape {shape} "
                             f"(reduction='none'), got shape {dout.shape}")
        return dout.astype(dtype, copy=False)
    if reduction == "sum":
        return float(dout)
    return float(dout) / count if count else 0.0  # nothing counted: no gradient


# -- input checks --------------------------------------------------------------------------------
def _check_logits(where: str, logits, name: str = "logits") -> None:
    check_float_array(where, logits, name)
    if logits.size == 0:
        raise ValueError(f"{where}: expected {name} with at least one element, "
                         f"got shape {logits.shape}")
    check_finite(where, logits, name)


def _check_targets(where: str, logits: np.ndarray, targets, name: str = "targets",
                   single_output: bool = False) -> np.ndarray:
    """Real-valued targets of exactly the logits' shape; returned in the logits' dtype.

    Shapes must match exactly: (N, 1) against (N,) would broadcast to (N, N), a silent bug.
    With ``single_output``, targets (N,) against logits (N, 1) are viewed as (N, 1) instead.
    """
    if not isinstance(targets, np.ndarray):
        targets = np.asarray(targets)
    if not (np.issubdtype(targets.dtype, np.floating) or np.issubdtype(targets.dtype, np.integer)
            or targets.dtype == np.bool_):
        raise TypeError(f"{where}: expected real-valued {name}, got dtype {targets.dtype}")
    if single_output and logits.ndim == 2 and logits.shape[1] == 1 \
            and targets.shape == logits.shape[:1]:
        targets = targets[:, None]
    if targets.shape != logits.shape:
        also = (f" (or ({logits.shape[0]},) for one output per sample)"
                if single_output and logits.ndim == 2 and logits.shape[1] == 1 else "")
        raise ValueError(f"{where}: expected {name} of the same shape as the input "
                         f"{logits.shape}{also}, got shape {targets.shape}")
    check_finite(where, targets, name)
    return targets.astype(logits.dtype, copy=False)


def _check_in_unit_interval(where: str, x: np.ndarray, name: str) -> None:
    if x.min() < 0 or x.max() > 1:
        raise ValueError(f"{where}: expected {name} in [0, 1], got values from "
                         f"{x.min()} to {x.max()}")


def _check_class_input(where: str, x, name: str) -> int:
    """Scores of shape (N, C) or (N, C, d1, ...); returns C."""
    _check_logits(where, x, name)
    if x.ndim < 2:
        raise ValueError(f"{where}: expected {name} of shape (N, C) or (N, C, d1, ...), "
                         f"got shape {x.shape}")
    return x.shape[1]


def _check_class_labels(where: str, x: np.ndarray, labels, ignore_index: int) -> np.ndarray:
    """Integer labels of shape (N, d1, ...) for scores (N, C, d1, ...), each in [0, C) or equal
    to ``ignore_index``; returned as int64."""
    num_classes = x.shape[1]
    expected = x.shape[:1] + x.shape[2:]
    if labels.shape != expected:
        layout = "(N,)" if x.ndim == 2 else "(N, d1, ...)"
        raise ValueError(f"{where}: expected labels of shape {expected} {layout} for input of "
                         f"shape {x.shape}, got shape {labels.shape}")
    valid = labels[labels != ignore_index]
    if valid.size and (valid.min() < 0 or valid.max() >= num_classes):
        bad = valid[(valid < 0) | (valid >= num_classes)]
        raise ValueError(f"{where}: expected labels in [0, {num_classes - 1}] for {num_classes} "
                         f"classes (or ignore_index={ignore_index}), got {bad[0]}")
    return labels.astype(np.int64, copy=False)


def _check_class_weight(where: str, weight, num_classes: int, dtype) -> np.ndarray:
    """The per-class weights w (C,) in the input's dtype, or ones when ``weight`` is None."""
    if weight is None:
        return np.ones(num_classes, dtype=dtype)
    weight = np.asarray(weight)
    if not (np.issubdtype(weight.dtype, np.floating) or np.issubdtype(weight.dtype, np.integer)):
        raise TypeError(f"{where}: expected weight as a float array of shape ({num_classes},), "
                        f"got dtype {weight.dtype}")
    if weight.shape != (num_classes,):
        raise ValueError(f"{where}: expected weight of shape ({num_classes},), one per class, "
                         f"got shape {weight.shape}")
    check_finite(where, weight, "weight")
    return weight.astype(dtype, copy=False)


def _classes_last(x: np.ndarray) -> np.ndarray:
    """(N, C, d1, ...) → (M, C) with M = N·d1·..., one row per sample and position."""
    return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _classes_back(rows: np.ndarray, shape: tuple) -> np.ndarray:
    """The inverse of ``_classes_last``: (M, C) → ``shape`` (N, C, d1, ...)."""
    moved = shape[:1] + shape[2:] + shape[1:2]
    return np.moveaxis(rows.reshape(moved), -1, 1)


def _label_target_weights(where, x, target, weight, ignore_index, label_smoothing):
    """The coefficients a (M, C) with ℓ_m = −Σ_c a_mc·s_mc (s the log-probabilities), and the
    mean's divisor.

    Labels y: a_mc = w_c·[(1 − ε)·[c = y_m] + ε/C] (PyTorch's weighted smoothing), a row of
    zeros where y_m = ignore_index; divisor Σ_m w_{y_m} over the labels kept.
    Probabilities q (float targets of the input's shape): a_mc = w_c·[(1 − ε)·q_mc + ε/C];
    divisor M, as PyTorch (the weights do not enter it).
    """
    num_classes = x.shape[1]
    w = _check_class_weight(where, weight, num_classes, x.dtype)
    target = target if isinstance(target, np.ndarray) else np.asarray(target)
    if np.issubdtype(target.dtype, np.floating):
        if target.shape != x.shape:
            raise ValueError(f"{where}: expected class probabilities of the input's shape "
                             f"{x.shape} (or integer labels), got shape {target.shape}")
        check_finite(where, target, "target probabilities")
        q = _classes_last(target.astype(x.dtype, copy=False))
        coef = w * ((1 - label_smoothing) * q + label_smoothing / num_classes)
        return coef, q.shape[0], None
    if not (np.issubdtype(target.dtype, np.integer) or target.dtype == np.bool_):
        raise TypeError(f"{where}: expected integer class labels or float class probabilities, "
                        f"got dtype {target.dtype}")
    labels = _check_class_labels(where, x, target, ignore_index).reshape(-1)
    kept = labels != ignore_index
    rows = np.flatnonzero(kept)
    coef = np.zeros((labels.size, num_classes), dtype=x.dtype)
    coef[rows] = w * (label_smoothing / num_classes)
    coef[rows, labels[rows]] += w[labels[rows]] * (1 - label_smoothing)
    divisor = float(np.sum(w[labels[rows]], dtype=np.float64))
    return coef, divisor, kept


# -- softmax cross-entropy ---------------------------------------------------------------------
def _log_softmax(z: np.ndarray) -> np.ndarray:
    """log softmax along axis 1, stable: z − max − log Σ exp(z − max), never exp of a big number."""
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def cross_entropy_forward(logits, target, weight=None, ignore_index: int = -100,
                          reduction: str = "mean", label_smoothing: float = 0.0, *,
                          where: str = "cross_entropy"):
    """Softmax cross-entropy from raw logits, as PyTorch's ``F.cross_entropy``.

    Shapes: logits z (N, C) or (N, C, d1, ...) (e.g. (N, C, H, W) for a class per pixel),
    float32/float64; target either integer labels y (N,) or (N, d1, ...) in [0, C), or class
    probabilities q, floats of the logits' shape. ``weight`` w (C,) weights each class (ones
    if None). One item m is a sample (and position d1, ...); with s = log softmax(z) over C:

        ℓ_m = −Σ_c a_mc · s_mc,
        labels:        a_mc = w_c·[(1 − ε)·[c = y_m] + ε/C],   a_m = 0 if y_m = ignore_index,
        probabilities: a_mc = w_c·[(1 − ε)·q_mc + ε/C],

    ε = ``label_smoothing`` ∈ [0, 1]. ``"mean"`` with labels is Σ_m ℓ_m / Σ_m w_{y_m} over
    the items not ignored (the smoothing term is divided by that same sum; PyTorch's rule, and
    with w = 1 the plain mean over kept items; NaN if every label is ignored); with
    probabilities it is Σ_m ℓ_m / M. ``ignore_index`` applies to labels only. ``"none"``
    returns ℓ of shape (N,) or (N, d1, ...), 0 where ignored.

    s is computed as z − logsumexp(z) with the maximum subtracted first, so logits of ±1000
    give a finite loss. Returns ``(loss, cache)``.
    """
    _check_class_input(where, logits, "logits")
    check_reduction(where, reduction)
    label_smoothing = check_label_smoothing(where, label_smoothing)
    ignore_index = check_ignore_index(where, ignore_index)
    coef, divisor, _ = _label_target_weights(where, logits, target, weight, ignore_index,
                                             label_smoothing)
    log_probs = _log_softmax(_classes_last(logits))
    per_item = -(coef * log_probs).sum(axis=1)
    item_shape = logits.shape[:1] + logits.shape[2:]
    loss = _reduce(per_item.reshape(item_shape), reduction, divisor)
    return loss, (np.exp(log_probs), coef, divisor, reduction, logits.shape)


def cross_entropy_backward(dout, cache) -> np.ndarray:
    """dL/dz_mc = (p_mc·Σ_k a_mk − a_mc) · dL/dℓ_m, with p = softmax(z); the logits' shape.

    The softmax Jacobian and the log's 1/p cancel, which is why softmax and cross-entropy are
    fused; for an unweighted one-hot target Σ_k a_mk = 1 and this is the familiar p − onehot.
    dL/dℓ_m is 1/divisor for the mean, 1 for the sum, and ``dout`` itself for none (times
    ``dout`` for the first two).
    """
    probs, coef, divisor, reduction, shape = cache
    item_shape = shape[:1] + shape[2:]
    upstream = _upstream(dout, reduction, divisor, item_shape, probs.dtype)
    drows = probs * coef.sum(axis=1, keepdims=True) - coef
    drows *= np.reshape(upstream, (-1, 1)) if reduction == "none" else upstream
    return _classes_back(drows, shape)


# -- negative log-likelihood ---------------------------------------------------------------------
def nll_loss_forward(log_probs, target, weight=None, ignore_index: int = -100,
                     reduction: str = "mean", *, where: str = "nll_loss"):
    """Negative log-likelihood of log-probabilities, as PyTorch's ``F.nll_loss``.

    Shapes: log_probs s (N, C) or (N, C, d1, ...) (the output of a log-softmax, not checked);
    integer labels y (N,) or (N, d1, ...) in [0, C). With class weights w (ones if None),

        ℓ_m = −w_{y_m} · s_{m, y_m}   (0 where y_m = ignore_index),

    ``"mean"`` = Σ_m ℓ_m / Σ_m w_{y_m} over the kept items. ``nll_loss(log_softmax(z), y)`` is
    ``cross_entropy(z, y)``. Returns ``(loss, cache)``.
    """
    _check_class_input(where, log_probs, "log-probabilities")
    check_reduction(where, reduction)
    ignore_index = check_ignore_index(where, ignore_index)
    target = target if isinstance(target, np.ndarray) else np.asarray(target)
    if not (np.issubdtype(target.dtype, np.integer) or target.dtype == np.bool_):
        raise TypeError(f"{where}: expected integer class labels, got dtype {target.dtype}")
    coef, divisor, _ = _label_target_weights(where, log_probs, target, weight, ignore_index, 0.0)
    per_item = -(coef * _classes_last(log_probs)).sum(axis=1)
    item_shape = log_probs.shape[:1] + log_probs.shape[2:]
    loss = _reduce(per_item.reshape(item_shape), reduction, divisor)
    return loss, (coef, divisor, reduction, log_probs.shape)


def nll_loss_backward(dout, cache) -> np.ndarray:
    """dL/ds_mc = −w_{y_m}·[c = y_m] · dL/dℓ_m; the input's shape."""
    coef, divisor, reduction, shape = cache
    upstream = _upstream(dout, reduction, divisor, shape[:1] + shape[2:], coef.dtype)
    drows = -coef * (np.reshape(upstream, (-1, 1)) if reduction == "none" else upstream)
    return _classes_back(drows, shape)


# -- binary cross-entropy with logits ------------------------------------------------------------
def _softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + e^z), stable: max(z, 0) + log(1 + e^{−|z|})."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) = 1/(1 + e^{−z}), stable: only e^{−|z|} ≤ 1 is ever computed."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _check_broadcast_weight(where: str, weight, logits: np.ndarray, name: str):
    """None, or ``weight`` as a non-negative array of the logits' dtype broadcasting to them."""
    if weight is None:
        return None
    weight = np.asarray(weight)
    if not (np.issubdtype(weight.dtype, np.floating) or np.issubdtype(weight.dtype, np.integer)):
        raise TypeError(f"{where}: expected {name} as a number or a float array, "
                        f"got dtype {weight.dtype}")
    try:
        if np.broadcast_shapes(weight.shape, logits.shape) != logits.shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"{where}: expected {name} broadcastable to the input shape "
                         f"{logits.shape}, got shape {weight.shape}") from None
    check_finite(where, weight, name)
    if weight.min() < 0:
        raise ValueError(f"{where}: expected {name} >= 0, got a minimum of {weight.min()}")
    return weight.astype(logits.dtype)


def binary_cross_entropy_with_logits_forward(logits, targets, weight=None, reduction: str = "mean",
                                             pos_weight=None, *,
                                             where: str = "binary_cross_entropy_with_logits"):
    """Sigmoid + binary cross-entropy, fused and stable (PyTorch's argument order).

    Shapes: logits z and targets y of the same shape (any, e.g. (N,) or (N, K) for K independent
    yes/no outputs); targets are probabilities in [0, 1] (usually 0 or 1). Also, unlike PyTorch
    (which raises): targets (N,) for logits (N, 1), viewed as (N, 1), a convenience for a
    classifier with a single output logit; the per-item loss of ``"none"`` is then (N, 1).

    With σ the sigmoid, w = weight (1 if None; a number or an array broadcastable to the logits,
    rescaling each element) and q = pos_weight (1 if None; broadcastable to the logits, e.g. (K,)
    for K outputs, weighting the positive term as in PyTorch),

        ℓ = −w·[q·y·log σ(z) + (1 − y)·log(1 − σ(z))]
          = w·[q·y·softplus(−z) + (1 − y)·softplus(z)],      softplus(t) = log(1 + e^t),

    which for w = q = 1 is the stable form ℓ = max(z, 0) − z·y + log(1 + e^{−|z|}).
    Reduced over all elements (the mean divides by their number, not by Σw, as PyTorch).
    Returns ``(loss, cache)``.
    """
    _check_logits(where, logits)
    targets = _check_targets(where, logits, targets, single_output=True)
    check_reduction(where, reduction)
    _check_in_unit_interval(where, targets, "targets")
    w = _check_broadcast_weight(where, weight, logits, "weight")
    q = _check_broadcast_weight(where, pos_weight, logits, "pos_weight")
    if q is None:
        per_element = np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
    else:
        per_element = q * targets * _softplus(-logits) + (1 - targets) * _softplus(logits)
    if w is not None:
        per_element = w * per_element
    loss = _reduce(per_element, reduction, logits.size)
    return loss, (logits, targets, w, q, reduction)


def binary_cross_entropy_with_logits_backward(dout, cache) -> np.ndarray:
    """dL/dz = w·(σ(z) − y)·dL/dℓ for q = 1, and w·(σ(z)·(q·y + 1 − y) − q·y)·dL/dℓ in general.

    dL/dℓ is 1/M for the mean over M elements, 1 for the sum, ``dout`` for none. Same shape and
    dtype as z. Derivation: d softplus(z)/dz = σ(z) and d softplus(−z)/dz = σ(z) − 1.
    """
    logits, targets, w, q, reduction = cache
    sig = _sigmoid(logits)
    if q is None:
        dlogits = sig - targets
    else:
        dlogits = sig * (q * targets + 1 - targets) - q * targets
    if w is not None:
        dlogits = w * dlogits
    dlogits *= _upstream(dout, reduction, logits.size, logits.shape, logits.dtype)
    return dlogits


# -- binary cross-entropy of probabilities -------------------------------------------------------
LOG_FLOOR = -100.0  # PyTorch clamps each log at −100, so p = 0 or 1 gives a finite loss
GRAD_EPS = 1e-12    # and divides the gradient by max(p(1 − p), 1e-12), as PyTorch's backward


def binary_cross_entropy_forward(probs, targets, weight=None, reduction: str = "mean", *,
                                 where: str = "binary_cross_entropy"):
    """Binary cross-entropy of probabilities (the output of a sigmoid), as PyTorch's BCELoss.

    Shapes: probabilities p and targets y in [0, 1] of the same shape (any), or targets (N,)
    for p (N, 1), viewed as (N, 1) (not PyTorch, which raises: a convenience for a classifier
    with a single output). ``weight`` (None, a number or an array broadcastable to p) rescales
    each element. With each log clamped at −100 (PyTorch's rule),

        ℓ = −w·[y·max(log p, −100) + (1 − y)·max(log(1 − p), −100)],

    so p = 0 or 1 gives at most 100·w, never inf. Reduced over all elements. Prefer
    ``binary_cross_entropy_with_logits``: from the logits it is exact where σ saturates.
    Returns ``(loss, cache)``.
    """
    _check_logits(where, probs, "probabilities")
    targets = _check_targets(where, probs, targets, single_output=True)
    check_reduction(where, reduction)
    _check_in_unit_interval(where, probs, "probabilities")
    _check_in_unit_interval(where, targets, "targets")
    w = _check_broadcast_weight(where, weight, probs, "weight")
    w = np.ones((), dtype=probs.dtype) if w is None else w
    with np.errstate(divide="ignore"):  # log 0 = −inf, clamped on the next line
        log_p = np.maximum(np.log(probs), LOG_FLOOR)
        log_not_p = np.maximum(np.log1p(-probs), LOG_FLOOR)
    per_element = -w * (targets * log_p + (1 - targets) * log_not_p)
    loss = _reduce(per_element.astype(probs.dtype, copy=False), reduction, probs.size)
    return loss, (probs, targets, w, reduction)


def binary_cross_entropy_backward(dout, cache) -> np.ndarray:
    """dL/dp = w·(p − y) / max(p·(1 − p), 10⁻¹²) · dL/dℓ, PyTorch's gradient; p's shape.

    For p(1 − p) > 10⁻¹² this is exactly −w·[y/p − (1 − y)/(1 − p)], the derivative of ℓ.
    At p = 0 or 1 (and within ~10⁻¹² of them) the floor keeps it finite: p = 0 with y = 1
    gives −10¹²·w, p = 1 with y = 0 gives +10¹²·w, and p = y gives 0; there the clamped loss
    itself is flat (its derivative would be 0), so this is a steep finite push towards y, as
    PyTorch's, rather than the derivative of the clamp. After a sigmoid's backward
    (σ' = p(1 − p) = 0 at a saturated p) either way gives 0.
    """
    probs, targets, w, reduction = cache
    dprobs = w * (probs - targets) / np.maximum(probs * (1 - probs), GRAD_EPS)
    dprobs = dprobs.astype(probs.dtype, copy=False)
    dprobs *= _upstream(dout, reduction, probs.size, probs.shape, probs.dtype)
    return dprobs
