"""RMSprop: divide each weight's step by a running root-mean-square of its gradients."""

import numpy as np

from ..nn.parameter import Parameter
from .optimizer import Optimizer, check_hyperparameter

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e, 2012), with exactly PyTorch's update.

    For each parameter w with gradient ∇L, one ``step()`` does::

        g ← ∇L + λ·w                                   (L2 weight decay, added to the gradient)
        s ← α·s + (1 − α)·g²                           (running mean of g², s starts at 0)
        d ← √s + ε,  or with centered=True:
            m ← α·m + (1 − α)·g,   d ← √(s − m²) + ε   (running variance instead of mean square)
        b ← μ·b + g / d,   w ← w − η·b                  (if μ > 0; b starts at 0)
        w ← w − η·g / d                                 (if μ = 0)

    ε is added outside the square root, as PyTorch does (Keras and TensorFlow add it inside).

    Args:
        params: ``model.parameters()``, or a list of parameter-group dicts (see ``Optimizer``).
        lr: η >= 0.   alpha: α >= 0, the smoothing constant.   eps: ε >= 0.
        weight_decay: λ >= 0.   momentum: μ >= 0.   centered: normalise by the variance estimate.

    State per parameter: ``'step'`` (an int), ``'square_avg'`` (s), ``'momentum_buffer'`` (b, if
    μ > 0) and ``'grad_avg'`` (m, if centered), PyTorch's keys.
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False):
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _check_group(self, group: dict, where: str) -> None:
        for name in ("lr", "momentum", "alpha", "eps", "weight_decay"):
            group[name] = check_hyperparameter(where, name, group[name], 0.0)
        if not isinstance(group["centered"], bool):
            raise TypeError(f"{where}: expected centered True or False, got {group['centered']!r}")

    def _update(self, param: Parameter, group: dict, state: dict) -> None:
        # float() keeps NumPy scalars (say an lr set by hand) from upcasting float32 arrays
        lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
        momentum, weight_decay = float(group["momentum"]), float(group["weight_decay"])

        grad = param.grad
        if weight_decay:
            grad = grad + weight_decay * param.data  # a new array: p.grad itself is left alone
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(param.data)
        state["step"] += 1

        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1.0 - alpha) * grad * grad
        if group["centered"]:
            grad_avg = state.setdefault("grad_avg", np.zeros_like(param.data))
            grad_avg *= alpha
            grad_avg += (1.0 - alpha) * grad
            denominator = np.sqrt(square_avg - grad_avg * grad_avg) + eps
        else:
            denominator = np.sqrt(square_avg) + eps
        if momentum:
            buf = state.setdefault("momentum_buffer", np.zeros_like(param.data))
            buf *= momentum
            buf += grad / denominator
            param.data -= lr * buf
        else:
            param.data -= lr * grad / denominator
