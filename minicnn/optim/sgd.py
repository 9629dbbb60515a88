"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay (PyTorch's)."""

from ..nn.parameter import Parameter
from .optimizer import Optimizer, check_hyperparameter

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent, with exactly PyTorch's update.

    For each parameter w with gradient ∇L, learning rate η (``lr``), momentum μ, dampening τ,
    weight decay λ, one ``step()`` does::

        g ← ∇L + λ·w                               (L2 weight decay, added to the gradient)
        b ← g  on the first step,  else  b ← μ·b + (1 − τ)·g      (only if μ > 0)
        g ← g + μ·b  if nesterov,  else  g ← b                    (only if μ > 0)
        w ← w − η·g

    The course's form is the same method. With a constant η and τ = 0, put v = −η·b. Then
    b ← μ·b + ∇L + λ·w becomes, times −η,

        v ← μ·v − ηλ·w − η·∇L,        and   w ← w − η·b = w + v,

    which is the lecture's ``v ← αv − βεw − ε∇L; w ← w + v`` with α = μ, ε = η, β = λ (and
    v = 0 before the first step, where b ← g agrees with b ← μ·0 + g). The two differ only when
    η changes during training: PyTorch's buffer b holds no η, so a new learning rate applies at
    once to the whole step, while the course's v still carries the old η in its memory.

    Args:
        params: ``model.parameters()``, or a list of parameter-group dicts (see ``Optimizer``).
        lr: learning rate η >= 0 (default 1e-3, as PyTorch; 0 freezes every step).
        momentum: μ >= 0 (0 is plain SGD; 0.9 is usual).
        dampening: τ in [0, 1], scales the new gradient's share in the buffer.
        weight_decay: λ >= 0, the L2 penalty's coefficient: the loss gains λ/2·‖w‖².
        nesterov: Nesterov's momentum (look ahead along the buffer); needs μ > 0 and τ = 0.

    State per parameter: ``'momentum_buffer'`` (b), only when μ > 0.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    def _check_group(self, group: dict, where: str) -> None:
        group["lr"] = check_hyperparameter(where, "lr", group["lr"], 0.0)  # 0 allowed: PyTorch
        group["momentum"] = check_hyperparameter(where, "momentum", group["momentum"], 0.0)
        group["dampening"] = check_hyperparameter(where, "dampening", group["dampening"], 0.0,
                                                  1.0, high_open=False)
        group["weight_decay"] = check_hyperparameter(where, "weight_decay",
                                                     group["weight_decay"], 0.0)
        if not isinstance(group["nesterov"], bool):
            raise TypeError(f"{where}: expected nesterov True or False, got {group['nesterov']!r}")
        if group["nesterov"] and (group["momentum"] == 0 or group["dampening"] != 0):
            raise ValueError(f"{where}: nesterov=True needs momentum > 0 and dampening = 0, got "
                             f"momentum={group['momentum']}, dampening={group['dampening']}")

    def _update(self, param: Parameter, group: dict, state: dict) -> None:
        # float() keeps NumPy scalars (say an lr set by hand) from upcasting float32 arrays
        lr, momentum = float(group["lr"]), float(group["momentum"])
        dampening, weight_decay = float(group["dampening"]), float(group["weight_decay"])

        grad = param.grad
        if weight_decay:
            grad = grad + weight_decay * param.data  # a new array: p.grad itself is left alone
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.copy()
            else:
                buf *= momentum
                buf += (1.0 - dampening) * grad
            grad = grad + momentum * buf if group["nesterov"] else buf
        param.data -= lr * grad
