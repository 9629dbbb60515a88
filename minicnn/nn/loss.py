"""Loss modules: a loss function that remembers what its backward pass needs.

    loss_fn = nn.CrossEntropyLoss()
    loss = loss_fn(logits, y)             # a Python float; the cache is kept
    model.backward(loss_fn.backward())    # dL/dlogits, same shape and dtype as logits

Losses have no parameters; a class weight is a buffer (``weight``, PyTorch's state-dict key).
The math, with formulas and shapes, is in ``minicnn.functional`` (``loss.py``,
``regression_loss.py``, ``hinge_loss.py``); these classes hold the settings (reduction, label
smoothing, margin...) and the cache, and name themselves in error messages. Under
``minicnn.no_grad()`` the forward keeps no cache, which is what an evaluation loop wants.

``reduction="none"`` returns the per-item losses as an array (input dtype); ``backward`` then
needs ``dloss``, an array of that shape (as PyTorch's ``loss.backward(gradient)``), e.g.
``loss_fn.backward(np.ones_like(losses))``.
"""

import numpy as np

from .. import engines
from .._validation import check_scalar_gradient
from ..functional.hinge_loss import check_margin
from ..functional.loss import check_ignore_index, check_label_smoothing, check_reduction
from ..functional.regression_loss import check_delta
from .module import Module

__all__ = ["BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "HingeLoss", "HuberLoss",
           "L1Loss", "MSELoss", "NLLLoss", "SmoothL1Loss"]


class _Loss(Module):
    """Shared plumbing: ``forward(input, target)`` and ``backward(dloss=1.0)``.

    A subclass implements ``_forward(F, input, target) -> (loss, cache)`` and
    ``_backward(F, dloss, cache) -> dinput`` by calling the functional pair of engine ``F``.
    """

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = check_reduction(type(self).__name__, reduction)

    def forward(self, input, target):
        """The loss of ``input`` (the network's output) against ``target``: a Python float, or
        for ``reduction="none"`` the per-item losses, an array in the input's dtype."""
        engine = engines.get_engine()
        F = engines.functions(engine)
        loss, cache = self._forward(F, input, target)
        # for "none", out=loss lets _pop_cache check dloss against the per-item shape and dtype
        out = loss if self.reduction == "none" else None
        self._save_for_backward((engine, cache), out=out,
                                inputs={"input": input, "target": target})
        return loss

    def backward(self, dloss=1.0):
        """dL/dinput for the last forward, times ``dloss``. Same shape and dtype as the input.

        For ``"mean"``/``"sum"`` the loss is one number, so ``dloss`` is one real number (1
        unless this loss is one term of a weighted sum). For ``"none"`` it is dL_total/dℓ for
        each item: an ndarray of the per-item loss's shape and dtype (no default, as in
        PyTorch, where a non-scalar needs its gradient).
        """
        if self.reduction == "none":
            engine, cache = self._pop_cache(dloss)
        else:
            dloss = check_scalar_gradient(self._name(), dloss)
            engine, cache = self._pop_cache()
        F = engines.functions(engine)
        return self._backward(F, dloss, cache)

    def _forward(self, F, input, target):
        raise NotImplementedError

    def _backward(self, F, dloss, cache):
        raise NotImplementedError

    def _name(self) -> str:
        settings = self.extra_repr()
        return f"{type(self).__name__}({settings})" if settings else type(self).__name__

    def extra_repr(self) -> str:
        # only what differs from the defaults, so a plain loss reads CrossEntropyLoss()
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


def _join(*settings: str) -> str:
    return ", ".join(s for s in settings if s)


def _weight_repr(name: str, weight) -> str:
    if weight is None:
        return ""
    if np.ndim(weight) == 0:
        return f"{name}={float(weight)}"
    return f"{name}=<array of shape {np.shape(weight)}>"  # an array's repr would flood messages


def _set_weight(loss: Module, weight) -> None:
    """``loss.weight``: a buffer (state-dict key ``weight``, as PyTorch), or None and no key."""
    if weight is None:
        loss.weight = None
    else:
        loss.register_buffer("weight", weight)


def _class_weight_buffer(where: str, weight):
    """None, or the class weights as a float 1-d array (checked against C at forward)."""
    if weight is None:
        return None
    array = np.asarray(weight)
    if array.dtype not in (np.float32, np.float64) and not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{where}: expected weight as a float array (C,), got dtype {array.dtype}")
    if array.ndim != 1:
        raise ValueError(f"{where}: expected weight of shape (C,), one per class, "
                         f"got shape {array.shape}")
    return array if array.dtype in (np.float32, np.float64) else array.astype(np.float64)


class CrossEntropyLoss(_Loss):
    """Softmax + cross-entropy, fused and stable, as ``torch.nn.CrossEntropyLoss``.

    Input logits (N, C) or (N, C, d1, ...) (a class per pixel: (N, C, H, W)); target integer
    labels (N,) or (N, d1, ...), or class probabilities, floats of the logits' shape.
    ℓ = −Σ_c w_c·q_c·log softmax(z)_c with q the one-hot label (or the given probabilities)
    smoothed to (1 − ε)·q + ε/C; ``weight`` w (C,) per class (a buffer, key ``weight``),
    ``ignore_index`` labels cost nothing and are left out of the mean, which with labels is
    Σ ℓ / Σ w_y (PyTorch's weighted mean). See ``F.cross_entropy_forward``.
    """

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__(reduction)
        name = type(self).__name__
        _set_weight(self, _class_weight_buffer(name, weight))
        self.ignore_index = check_ignore_index(name, ignore_index)
        self.label_smoothing = check_label_smoothing(name, label_smoothing)

    def _forward(self, F, logits, target):
        return F.cross_entropy_forward(logits, target, self.weight, self.ignore_index,
                                       self.reduction, self.label_smoothing, where=self._name())

    def _backward(self, F, dloss, cache):
        return F.cross_entropy_backward(dloss, cache)

    def extra_repr(self) -> str:
        ignore = f"ignore_index={self.ignore_index}" if self.ignore_index != -100 else ""
        smoothing = f"label_smoothing={self.label_smoothing}" if self.label_smoothing else ""
        return _join(_weight_repr("weight", self.weight), ignore, super().extra_repr(),
                     smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities (the output of a log-softmax), as
    ``torch.nn.NLLLoss``: ℓ = −w_y·s_y, mean Σ ℓ / Σ w_y over the labels not ignored.

    Input (N, C) or (N, C, d1, ...); integer labels (N,) or (N, d1, ...). See
    ``F.nll_loss_forward``.
    """

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(reduction)
        name = type(self).__name__
        _set_weight(self, _class_weight_buffer(name, weight))
        self.ignore_index = check_ignore_index(name, ignore_index)

    def _forward(self, F, log_probs, labels):
        return F.nll_loss_forward(log_probs, labels, self.weight, self.ignore_index,
                                  self.reduction, where=self._name())

    def _backward(self, F, dloss, cache):
        return F.nll_loss_backward(dloss, cache)

    def extra_repr(self) -> str:
        ignore = f"ignore_index={self.ignore_index}" if self.ignore_index != -100 else ""
        return _join(_weight_repr("weight", self.weight), ignore, super().extra_repr())


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy, fused and stable: input logits and target probabilities in
    [0, 1] of the same shape; reduced over all elements. PyTorch's arguments and buffers.

    ℓ = w·[q·y·softplus(−z) + (1 − y)·softplus(z)], which for w = q = 1 is
    max(z, 0) − z·y + log(1 + e^{−|z|}), with dℓ/dz = σ(z) − y. ``weight`` w (a number or an
    array broadcastable to the input) rescales each element; ``pos_weight`` q (a number or a
    per-output array, e.g. (K,)) weights the positive term. Both are buffers (state-dict keys
    ``weight`` and ``pos_weight`` when given, as PyTorch). Not PyTorch (which raises): targets
    (N,) are accepted for logits (N, 1) and viewed as (N, 1), a convenience for a classifier
    with one output logit. See ``F.binary_cross_entropy_with_logits_forward``.
    """

    def __init__(self, weight=None, reduction: str = "mean", pos_weight=None):
        super().__init__(reduction)
        _set_weight(self, None if weight is None else np.asarray(weight))
        if pos_weight is None:
            self.pos_weight = None
        else:
            self.register_buffer("pos_weight", np.asarray(pos_weight))

    def _forward(self, F, logits, targets):
        return F.binary_cross_entropy_with_logits_forward(
            logits, targets, self.weight, self.reduction, self.pos_weight, where=self._name())

    def _backward(self, F, dloss, cache):
        return F.binary_cross_entropy_with_logits_backward(dloss, cache)

    def extra_repr(self) -> str:
        return _join(_weight_repr("weight", self.weight),
                     _weight_repr("pos_weight", self.pos_weight), super().extra_repr())


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities p in [0, 1] (after a sigmoid), as
    ``torch.nn.BCELoss``: ℓ = −w·[y·log p + (1 − y)·log(1 − p)], each log clamped at −100.

    ``weight`` (a number or an array broadcastable to the input, a buffer) rescales each
    element. Targets (N,) for input (N, 1) are viewed as (N, 1) (not PyTorch, which raises: a
    convenience for a single-output classifier). ``BCEWithLogitsLoss`` on the logits is the
    stable choice; see ``F.binary_cross_entropy_forward`` for the gradient at p = 0 or 1.
    """

    def __init__(self, weight=None, reduction: str = "mean"):
        super().__init__(reduction)
        _set_weight(self, None if weight is None else np.asarray(weight))

    def _forward(self, F, probs, targets):
        return F.binary_cross_entropy_forward(probs, targets, self.weight, self.reduction,
                                              where=self._name())

    def _backward(self, F, dloss, cache):
        return F.binary_cross_entropy_backward(dloss, cache)

    def extra_repr(self) -> str:
        return _join(_weight_repr("weight", self.weight), super().extra_repr())


class MSELoss(_Loss):
    """Squared error per element, ℓ = (ŷ − y)²; the mean is the MSE; dℓ/dŷ = 2(ŷ − y)."""

    def _forward(self, F, input, target):
        return F.mse_loss_forward(input, target, self.reduction, where=self._name())

    def _backward(self, F, dloss, cache):
        return F.mse_loss_backward(dloss, cache)


class L1Loss(_Loss):
    """Absolute error per element, ℓ = |ŷ − y|; the mean is the MAE; dℓ/dŷ = sign(ŷ − y)."""

    def _forward(self, F, input, target):
        return F.l1_loss_forward(input, target, self.reduction, where=self._name())

    def _backward(self, F, dloss, cache):
        return F.l1_loss_backward(dloss, cache)


class HuberLoss(_Loss):
    """Huber loss, as ``torch.nn.HuberLoss``: ½d² for |d| < δ, δ(|d| − ½δ) beyond, d = ŷ − y.

    ``HuberLoss(delta=β)`` = β · ``SmoothL1Loss(beta=β)``: the same curve, Huber's slope grows
    to δ while smooth L1's stays 1. See ``F.huber_loss_forward``.
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction)
        self.delta = check_delta(type(self).__name__, "delta", delta, allow_zero=False)

    def _forward(self, F, input, target):
        return F.huber_loss_forward(input, target, self.reduction, self.delta,
                                    where=self._name())

    def _backward(self, F, dloss, cache):
        return F.huber_loss_backward(dloss, cache)

    def extra_repr(self) -> str:
        delta = f"delta={self.delta}" if self.delta != 1.0 else ""
        return _join(super().extra_repr(), delta)


class SmoothL1Loss(_Loss):
    """Smooth L1 loss, as ``torch.nn.SmoothL1Loss``: ½d²/β for |d| < β, |d| − ½β beyond;
    β = 0 is L1. See ``HuberLoss`` for how the two differ and ``F.smooth_l1_loss_forward``.
    """

    def __init__(self, reduction: str = "mean", beta: float = 1.0):
        super().__init__(reduction)
        self.beta = check_delta(type(self).__name__, "beta", beta, allow_zero=True)

    def _forward(self, F, input, target):
        return F.smooth_l1_loss_forward(input, target, self.reduction, self.beta,
                                        where=self._name())

    def _backward(self, F, dloss, cache):
        return F.smooth_l1_loss_backward(dloss, cache)

    def extra_repr(self) -> str:
        beta = f"beta={self.beta}" if self.beta != 1.0 else ""
        return _join(super().extra_repr(), beta)


class HingeLoss(_Loss):
    """The SVM's hinge loss, binary by default.

    ``HingeLoss()``: scores s and labels y ∈ {−1, +1} of the same shape (usually (N,)),
    ℓ = max(0, Δ − y·s) with Δ = ``margin`` = 1, as in the course.

    ``HingeLoss(multiclass=True)``: scores (N, C) and integer labels (N,) in [0, C), the
    Weston–Watkins / cs231n multi-class SVM loss
    ℓ_i = Σ_{j ≠ y_i} max(0, s_ij − s_{i,y_i} + Δ), *not* divided by C (PyTorch's
    MultiMarginLoss is this divided by C). See ``F.multiclass_hinge_loss_forward``.
    """

    def __init__(self, multiclass: bool = False, margin: float = 1.0, reduction: str = "mean"):
        super().__init__(reduction)
        if not isinstance(multiclass, bool):
            raise TypeError(f"HingeLoss: expected multiclass True or False, got {multiclass!r}")
        self.multiclass = multiclass
        self.margin = check_margin("HingeLoss", margin)

    def _forward(self, F, scores, labels):
        forward = F.multiclass_hinge_loss_forward if self.multiclass else F.hinge_loss_forward
        return forward(scores, labels, self.margin, self.reduction, where=self._name())

    def _backward(self, F, dloss, cache):
        if self.multiclass:
            return F.multiclass_hinge_loss_backward(dloss, cache)
        return F.hinge_loss_backward(dloss, cache)

    def extra_repr(self) -> str:
        multiclass = "multiclass=True" if self.multiclass else ""
        margin = f"margin={self.margin}" if self.margin != 1.0 else ""
        return _join(multiclass, margin, super().extra_repr())
