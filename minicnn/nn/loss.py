"""Loss modules: a loss function that remembers what its backward pass needs.

    loss_fn = nn.CrossEntropyLoss()
    loss = loss_fn(logits, y)             # a Python float; the cache is kept
    model.backward(loss_fn.backward())    # dL/dlogits, same shape and dtype as logits

Losses have no parameters. The math, with formulas and shapes, is in ``minicnn.functional.loss``;
these classes hold the settings (reduction, label smoothing, margin) and the cache, and name
themselves in error messages. Under ``minicnn.no_grad()`` the forward keeps no cache, which is
what an evaluation loop wants.
"""

import numpy as np

from .. import engines
from .._validation import check_scalar_gradient
from ..functional.loss import check_label_smoothing, check_margin, check_reduction
from .module import Module

__all__ = ["BCEWithLogitsLoss", "CrossEntropyLoss", "HingeLoss", "L1Loss", "MSELoss"]


class _Loss(Module):
    """Shared plumbing: ``forward(input, target) -> float`` and ``backward(dloss=1.0)``.

    A subclass implements ``_forward(F, input, target) -> (loss, cache)`` and
    ``_backward(F, dloss, cache) -> dinput`` by calling the functional pair of engine ``F``.
    """

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = check_reduction(type(self).__name__, reduction)

    def forward(self, input, target) -> float:
        """The loss of ``input`` (the network's raw output) against ``target``, a Python float."""
        engine = engines.get_engine()
        F = engines.functions(engine)
        loss, cache = self._forward(F, input, target)
        self._save_for_backward((engine, cache), inputs={"input": input, "target": target})
        return loss

    def backward(self, dloss: float = 1.0):
        """dL/dinput for the last forward, times ``dloss`` (1 unless this loss is one term of a
        weighted sum). Same shape and dtype as the input.

        The loss is one number, so its upstream gradient ``dloss`` is one real number too (a
        Python or NumPy number, or a 0-d array), whatever the input's dtype.
        """
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


class CrossEntropyLoss(_Loss):
    """Softmax + cross-entropy, fused and stable: input logits (N, C), target labels (N,) int.

    L = (1/N) Σ_i −log softmax(z_i)[y_i]; with ``label_smoothing`` ε the one-hot target becomes
    (1 − ε)·onehot + ε/C (PyTorch's definition). dL/dz = (softmax(z) − target) / N.
    See ``F.cross_entropy_forward``.
    """

    def __init__(self, label_smoothing: float = 0.0, reduction: str = "mean"):
        super().__init__(reduction)
        self.label_smoothing = check_label_smoothing("CrossEntropyLoss", label_smoothing)

    def _forward(self, F, logits, labels):
        return F.cross_entropy_forward(logits, labels, self.label_smoothing, self.reduction,
                                       where=self._name())

    def _backward(self, F, dloss, cache):
        return F.cross_entropy_backward(dloss, cache)

    def extra_repr(self) -> str:
        smoothing = f"label_smoothing={self.label_smoothing}" if self.label_smoothing else ""
        return _join(smoothing, super().extra_repr())


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross-entropy, fused and stable: input logits and target probabilities in
    [0, 1] of the same shape; mean over all elements.

    ℓ = max(z, 0) − z·y + log(1 + e^{−|z|}); dL/dz = (σ(z) − y) / M. ``pos_weight`` (a number or
    a per-output array, as in PyTorch) weights the positive term. See
    ``F.binary_cross_entropy_with_logits_forward``.
    """

    def __init__(self, pos_weight=None, reduction: str = "mean"):
        super().__init__(reduction)
        self.pos_weight = pos_weight

    def _forward(self, F, logits, targets):
        return F.binary_cross_entropy_with_logits_forward(
            logits, targets, self.pos_weight, self.reduction, where=self._name())

    def _backward(self, F, dloss, cache):
        return F.binary_cross_entropy_with_logits_backward(dloss, cache)

    def extra_repr(self) -> str:
        if self.pos_weight is None:
            weight = ""
        elif np.ndim(self.pos_weight) == 0:
            weight = f"pos_weight={float(self.pos_weight)}"
        else:  # an array's repr would flood error messages
            weight = f"pos_weight=<array of shape {np.shape(self.pos_weight)}>"
        return _join(weight, super().extra_repr())


class MSELoss(_Loss):
    """Mean squared error over all elements: L = mean((ŷ − y)²); dL/dŷ = 2(ŷ − y)/M."""

    def _forward(self, F, input, target):
        return F.mse_loss_forward(input, target, self.reduction, where=self._name())

    def _backward(self, F, dloss, cache):
        return F.mse_loss_backward(dloss, cache)


class L1Loss(_Loss):
    """Mean absolute error over all elements: L = mean(|ŷ − y|); dL/dŷ = sign(ŷ − y)/M."""

    def _forward(self, F, input, target):
        return F.l1_loss_forward(input, target, self.reduction, where=self._name())

    def _backward(self, F, dloss, cache):
        return F.l1_loss_backward(dloss, cache)


class HingeLoss(_Loss):
    """The SVM's hinge loss, binary by default.

    ``HingeLoss()``: scores s and labels y ∈ {−1, +1} of the same shape (usually (N,)),
    L = mean(max(0, Δ − y·s)) with Δ = ``margin`` = 1, as in the course.

    ``HingeLoss(multiclass=True)``: scores (N, C) and integer labels (N,) in [0, C), the
    Weston–Watkins / cs231n multi-class SVM loss
    L = (1/N) Σ_i Σ_{j ≠ y_i} max(0, s_ij − s_{i,y_i} + Δ), *not* divided by C (PyTorch's
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
