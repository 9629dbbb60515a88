"""Adam: momentum plus a per-weight step size from a running mean of squared gradients."""

from collections.abc import Sequence

import numpy as np

from ..nn.parameter import Parameter
from .optimizer import Optimizer, check_hyperparameter

__all__ = ["Adam"]


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), with exactly PyTorch's update.

    For each parameter w with gradient ∇L, at step t = 1, 2, ...::

        g ← ∇L + λ·w                                 (L2 weight decay, added to the gradient)
        m ← β₁·m + (1 − β₁)·g                        (first moment: a running mean of g)
        v ← β₂·v + (1 − β₂)·g²                       (second moment: a running mean of g²)
        m̂ ← m / (1 − β₁ᵗ),   v̂ ← v / (1 − β₂ᵗ)        (bias correction: m, v start at 0)
        w ← w − η · m̂ / (√v̂ + ε)

    With ``amsgrad=True`` the v in v̂ is replaced by the largest v seen so far, so the step size
    of a weight never grows (Reddi et al., 2018).

    PyTorch computes the same quantity as (η / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε), which
    is algebraically identical; the last bits of float rounding may differ.

    The decay here is L2 regularisation, as in PyTorch's Adam; decoupled weight decay
    (AdamW, w ← w − ηλ·w outside the adaptive step) is a different method.

    Args:
        params: ``model.parameters()``, or a list of parameter-group dicts (see ``Optimizer``).
        lr: η >= 0.  betas: (β₁, β₂), each in [0, 1).   eps: ε >= 0, keeps the division finite.
        weight_decay: λ >= 0.   amsgrad: use the running maximum of v.

    State per parameter: ``'step'`` (t, an int), ``'exp_avg'`` (m), ``'exp_avg_sq'`` (v), and
    ``'max_exp_avg_sq'`` with amsgrad.
    """

    _decoupled_weight_decay = False  # AdamW sets it: decay w directly, not through g

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
        super().__init__(params, defaults)

    def _check_group(self, group: dict, where: str) -> None:
        group["lr"] = check_hyperparameter(where, "lr", group["lr"], 0.0)  # 0 allowed: PyTorch
        betas = group["betas"]
        if not (isinstance(betas, Sequence) and len(betas) == 2):
            raise TypeError(f"{where}: expected betas as a pair (beta1, beta2), got {betas!r}")
        group["betas"] = tuple(
            check_hyperparameter(where, f"betas[{i}]", beta, 0.0, 1.0)
            for i, beta in enumerate(betas))
        group["eps"] = check_hyperparameter(where, "eps", group["eps"], 0.0)
        group["weight_decay"] = check_hyperparameter(where, "weight_decay",
                                                     group["weight_decay"], 0.0)
        if not isinstance(group["amsgrad"], bool):
            raise TypeError(f"{where}: expected amsgrad True or False, got {group['amsgrad']!r}")

    def _update(self, param: Parameter, group: dict, state: dict) -> None:
        # float() keeps NumPy scalars (say an lr set by hand) from upcasting float32 arrays
        lr, eps = float(group["lr"]), float(group["eps"])
        weight_decay = float(group["weight_decay"])
        beta1, beta2 = (float(beta) for beta in group["betas"])

        grad = param.grad
        if weight_decay and self._decoupled_weight_decay:
            param.data *= 1.0 - lr * weight_decay  # AdamW: shrink w itself, before the step
        elif weight_decay:
            grad = grad + weight_decay * param.data  # a new array: p.grad itself is left alone
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(param.data)
            state["exp_avg_sq"] = np.zeros_like(param.data)
        state["step"] += 1
        t = state["step"]

        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg *= beta1
        exp_avg += (1.0 - beta1) * grad
        exp_avg_sq *= beta2
        exp_avg_sq += (1.0 - beta2) * grad * grad
        if group["amsgrad"]:
            max_sq = state.setdefault("max_exp_avg_sq", np.zeros_like(param.data))
            np.maximum(max_sq, exp_avg_sq, out=max_sq)
            exp_avg_sq = max_sq

        m_hat = exp_avg / (1.0 - beta1**t)
        v_hat = exp_avg_sq / (1.0 - beta2**t)
        param.data -= lr * m_hat / (np.sqrt(v_hat) + eps)
