"""Adagrad: each weight's step shrinks with the sum of its squared gradients so far."""

import numpy as np

from ..nn.parameter import Parameter
from .optimizer import Optimizer, check_hyperparameter

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad (Duchi, Hazan & Singer, 2011), with exactly PyTorch's update.

    For each parameter w with gradient ∇L, at step t = 1, 2, ...::

        g ← ∇L + λ·w                          (L2 weight decay, added to the gradient)
        η_t ← η / (1 + (t − 1)·lr_decay)      (an optional decay of the global rate)
        s ← s + g²                            (s starts at initial_accumulator_value)
        w ← w − η_t · g / (√s + ε)

    Args:
        params: ``model.parameters()``, or a list of parameter-group dicts (see ``Optimizer``).
        lr: η >= 0.   lr_decay: >= 0.   weight_decay: λ >= 0.
        initial_accumulator_value: s before the first step, >= 0.   eps: ε >= 0.

    State per parameter: ``'step'`` (t, an int) and ``'sum'`` (s), PyTorch's keys. PyTorch
    creates the state when the optimizer is built; here it is created at the first step (as for
    SGD and Adam), so a state dict saved before any step is empty.
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10):
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value)
        super().__init__(params, defaults)

    def _check_group(self, group: dict, where: str) -> None:
        for name in ("lr", "lr_decay", "eps", "weight_decay", "initial_accumulator_value"):
            group[name] = check_hyperparameter(where, name, group[name], 0.0)

    def _update(self, param: Parameter, group: dict, state: dict) -> None:
        # float() keeps NumPy scalars (say an lr set by hand) from upcasting float32 arrays
        lr, lr_decay, eps = float(group["lr"]), float(group["lr_decay"]), float(group["eps"])
        weight_decay = float(group["weight_decay"])

        grad = param.grad
        if weight_decay:
            grad = grad + weight_decay * param.data  # a new array: p.grad itself is left alone
        if not state:
            state["step"] = 0
            state["sum"] = np.full_like(param.data, float(group["initial_accumulator_value"]))
        state["step"] += 1
        decayed_lr = lr / (1.0 + (state["step"] - 1) * lr_decay)

        state["sum"] += grad * grad
        param.data -= decayed_lr * grad / (np.sqrt(state["sum"]) + eps)
