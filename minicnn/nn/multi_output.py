"""``MultiOutputLoss``: one loss over the several outputs of a model, weighted and summed.

GoogLeNet (Szegedy et al. 2015, section 5) trains with two auxiliary classifiers whose losses
are "added to the total loss of the network with a discount weight (the losses of the
auxiliary classifiers were weighted by 0.3)"::

    L = w_0 · loss(out_0, y) + w_1 · loss(out_1, y) + ...        weights (1.0, 0.3, 0.3)

    dL/dout_k = w_k · ∂loss(out_k, y)/∂out_k

so ``backward()`` returns a tuple of gradients, one per output, in the outputs' order (and the
outputs' own tuple type: a ``GoogLeNetOutputs`` of gradients for a ``GoogLeNetOutputs``), which
is what the model's ``backward`` takes. Each term's gradient is computed by the wrapped loss
right after its forward (one loss object serves every output), and kept until ``backward``.

Given a single array (GoogLeNet in eval mode gives its main output only), the loss is the
wrapped loss of that array alone, unweighted, and ``backward`` returns one array: ``evaluate``
reports the main classifier's loss, as torchvision's reference scripts do.
"""

import math
from numbers import Real

import numpy as np

from .._grad_mode import is_grad_enabled
from .._validation import check_scalar_gradient
from .loss import CrossEntropyLoss, _Loss

__all__ = ["MultiOutputLoss"]


class MultiOutputLoss(_Loss):
    """``Σ_k weights[k] · loss(outputs[k], target)`` for a model with several outputs.

    Args:
        loss: the loss of each output (default ``CrossEntropyLoss()``), reducing to one number
            (``reduction`` "mean" or "sum").
        weights: one weight per output, the main output first: (1.0, 0.3, 0.3) is the paper's
            GoogLeNet. The outputs' order is the model's (torchvision's GoogLeNet: logits,
            aux_logits2, aux_logits1; the two 0.3s make the order of the heads immaterial).

    ``forward(outputs, target)``: a tuple (or list) of ``len(weights)`` arrays, or one array
    (scored by ``loss`` alone). Returns a Python float; ``last_losses`` holds the unweighted
    terms of the last call. ``backward(dloss=1.0)``: the tuple of gradients (one array for one
    array).
    """

    def __init__(self, loss: _Loss | None = None, weights=(1.0, 0.3, 0.3)):
        loss = CrossEntropyLoss() if loss is None else loss
        if not isinstance(loss, _Loss):
            raise TypeError(f"MultiOutputLoss: expected loss as a minicnn loss module such as "
                            f"nn.CrossEntropyLoss(), got {type(loss).__name__}")
        if loss.reduction == "none":
            raise ValueError(f"MultiOutputLoss: expected a loss that reduces to one number "
                             f"(reduction 'mean' or 'sum'), got {loss!r}")
        weights = tuple(weights) if isinstance(weights, (tuple, list)) else None
        if not weights or not all(isinstance(w, Real) and not isinstance(w, bool)
                                  and math.isfinite(w) for w in weights):
            raise ValueError(f"MultiOutputLoss: expected weights as a non-empty tuple of finite "
                             f"numbers, one per output, got {weights!r}")
        super().__init__(loss.reduction)
        self.loss = loss
        self.weights = tuple(float(w) for w in weights)
        self.last_losses = ()

    def _name(self) -> str:
        return f"MultiOutputLoss({self.loss._name()}, weights={self.weights})"

    def extra_repr(self) -> str:
        return f"weights={self.weights}"

    def forward(self, outputs, target):
        if isinstance(outputs, np.ndarray):
            value = self.loss(outputs, target)
            grads = self.loss.backward() if is_grad_enabled() else None
            self.last_losses = (value,)
            self._save_for_backward((None, grads))
            return value
        self._check_outputs(outputs)
        terms, grads = [], []
        for weight, output in zip(self.weights, outputs, strict=True):
            terms.append(self.loss(output, target))
            if is_grad_enabled():
                grads.append(self.loss.backward(weight))
        self.last_losses = tuple(terms)
        self._save_for_backward((type(outputs), grads))
        return float(sum(w * t for w, t in zip(self.weights, terms, strict=True)))

    def _check_outputs(self, outputs) -> None:
        if not isinstance(outputs, (tuple, list)):
            raise TypeError(f"{self._name()}: expected the model's outputs as a tuple of "
                            f"{len(self.weights)} arrays (or one array), got "
                            f"{type(outputs).__name__}")
        if len(outputs) != len(self.weights):
            raise ValueError(f"{self._name()}: expected {len(self.weights)} outputs, one per "
                             f"weight, got a {type(outputs).__name__} of {len(outputs)}")
        for index, output in enumerate(outputs):
            if not isinstance(output, np.ndarray):
                raise TypeError(f"{self._name()}: expected output {index} as a numpy.ndarray, "
                                f"got {type(output).__name__}")

    def backward(self, dloss=1.0):
        dloss = check_scalar_gradient(self._name(), dloss)
        kind, grads = self._pop_cache()
        if kind is None:
            return grads if dloss == 1.0 else grads * grads.dtype.type(dloss)
        if dloss != 1.0:
            grads = [g * g.dtype.type(dloss) for g in grads]
        return kind(*grads) if hasattr(kind, "_fields") else tuple(grads)
