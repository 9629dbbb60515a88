"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay (PyTorch's)."""

import numpy as np

from ..nn.parameter import Parameter
from .optimizer import Optimizer, check_hyperparameter

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent: exactly PyTorch's update, or the course's velocity form.

    For each parameter w with gradient ∇L, learning rate η (``lr``), momentum μ, dampening τ,
    weight decay λ, one ``step()`` does::

        g ← ∇L + λ·w                               (L2 weight decay, added to the gradient)
        b ← g  on the first step,  else  b ← μ·b + (1 − τ)·g      (only if μ > 0)
        g ← g + μ·b  if nesterov,  else  g ← b                    (only if μ > 0)
        w ← w − η·g

    ``form="lecture"`` runs the course's velocity form instead, for any schedule::

        v ← α·v − β·ε·w − ε·∇L,     w ← w + v          (v = 0 before the first step)

    with α = momentum, ε = the group's lr at this step, β = weight_decay.

    Where the two forms agree and where they part. Put v = −ε·b. With a constant ε and τ = 0,
    b ← μ·b + ∇L + λ·w becomes, times −ε, v ← μ·v − ελ·w − ε·∇L, and w ← w − ε·b = w + v: the
    lecture's update with α = μ, β = λ (on the first step b ← g agrees with b ← μ·0 + g). So
    under a constant lr both forms give the same weights. Once the lr changes, from ε to ε' say,
    they part: PyTorch's b holds no lr, so the new ε' scales the whole step at once,
    w ← w − ε'·(μ·b + g); the lecture's v still carries the old ε in its memory,
    w ← w + μ·v − ε'·g = w − μ·ε·b − ε'·g. After a StepLR drop the lecture's momentum keeps
    moving at the old speed for a while; PyTorch's slows down at once.

    ``nesterov=True`` with ``form="lecture"`` uses Sutskever et al.'s (2013) method in the form
    of Bengio et al. (2013), which needs only the gradient at w (not at the look-ahead w + α·v)::

        v ← α·v − β·ε·w − ε·∇L,     w ← w + α·v − β·ε·w − ε·∇L   (the new v, then the step again)

    which, with v = −ε·b and a constant lr, is PyTorch's Nesterov step w ← w − ε·(g + μ·b).
    ``dampening`` is not part of the lecture's form; ``form="lecture"`` refuses τ ≠ 0.

    Args:
        params: ``model.parameters()``, or a list of parameter-group dicts (see ``Optimizer``).
        lr: learning rate η >= 0 (default 1e-3, as PyTorch; 0 freezes every step).
        momentum: μ >= 0 (0 is plain SGD; 0.9 is usual).
        dampening: τ in [0, 1], scales the new gradient's share in the buffer.
        weight_decay: λ >= 0, the L2 penalty's coefficient: the loss gains λ/2·‖w‖².
        nesterov: Nesterov's momentum (look ahead along the buffer); needs μ > 0 and τ = 0.
        form: ``"pytorch"`` (the buffer b, default) or ``"lecture"`` (the velocity v). One form
            for the whole optimizer; it is not a group hyperparameter, so the state dict's groups
            keep PyTorch's keys.

    State per parameter, only when μ > 0: ``'momentum_buffer'`` (b, PyTorch's key), or with
    ``form="lecture"`` ``'velocity'`` (v); loading one form's state into the other is refused.
    """

    FORMS = ("pytorch", "lecture")

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, form: str = "pytorch"):
        if form not in self.FORMS:
            raise ValueError(f"SGD: expected form 'pytorch' or 'lecture', got {form!r}")
        self.form = form
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
        if self.form == "lecture" and group["dampening"] != 0:
            raise ValueError(f"{where}: form='lecture' has no dampening, got "
                             f"dampening={group['dampening']}; use form='pytorch'")

    def _update(self, param: Parameter, group: dict, state: dict) -> None:
        # float() keeps NumPy scalars (say an lr set by hand) from upcasting float32 arrays
        lr, momentum = float(group["lr"]), float(group["momentum"])
        dampening, weight_decay = float(group["dampening"]), float(group["weight_decay"])

        if self.form == "lecture":
            self._lecture_update(param, group, state)
            return
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

    def _lecture_update(self, param: Parameter, group: dict, state: dict) -> None:
        """v ← α·v − β·ε·w − ε·∇L;  w ← w + v  (Nesterov: w ← w + α·v − β·ε·w − ε·∇L)."""
        epsilon, alpha = float(group["lr"]), float(group["momentum"])
        beta = float(group["weight_decay"])
        step = -epsilon * param.grad
        if beta:
            step -= beta * epsilon * param.data
        if not alpha:
            param.data += step
            return
        velocity = state.setdefault("velocity", np.zeros_like(param.data))
        velocity *= alpha
        velocity += step
        param.data += alpha * velocity + step if group["nesterov"] else velocity

    def load_state_dict(self, state_dict) -> None:
        """As ``Optimizer.load_state_dict``; also refuses the state of the other ``form``."""
        key, other = ("velocity", "momentum_buffer") if self.form == "lecture" else \
            ("momentum_buffer", "velocity")
        for index, entries in dict(state_dict.get("state", {})).items():
            if other in entries:
                raise ValueError(f"SGD.load_state_dict: parameter {index} has a {other!r} (a "
                                 f"state of SGD(form={self.FORMS[key == 'momentum_buffer']!r})"
                                 f"), this SGD(form={self.form!r}) keeps {key!r}")
        super().load_state_dict(state_dict)

    def __repr__(self) -> str:
        text = super().__repr__()
        return text if self.form == "pytorch" else text.replace("SGD(", "SGD(form='lecture',", 1)
