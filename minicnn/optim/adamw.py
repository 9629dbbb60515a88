"""AdamW: Adam with decoupled weight decay (the decay shrinks w, it is not added to ∇L)."""

from .adam import Adam

__all__ = ["AdamW"]


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter, 2019), with exactly PyTorch's update.

    For each parameter w with gradient ∇L, at step t = 1, 2, ...::

        w ← w − η·λ·w                                (decoupled decay, before the Adam step)
        m ← β₁·m + (1 − β₁)·∇L,   v ← β₂·v + (1 − β₂)·∇L²
        m̂ ← m / (1 − β₁ᵗ),   v̂ ← v / (1 − β₂ᵗ)
        w ← w − η · m̂ / (√v̂ + ε)                     (amsgrad: v̂ from the running max of v)

    Why decoupled: in Adam the L2 term λ·w goes through the division by √v̂, so weights with
    large gradients are barely decayed; here every weight shrinks by the same factor (1 − ηλ).
    The decay is multiplied by the current η, as in PyTorch (the paper's schedule multiplier).

    Args: as ``Adam``, but ``weight_decay`` defaults to 1e-2 (PyTorch's default).

    State per parameter: as ``Adam``. PyTorch's param groups also carry
    ``'decoupled_weight_decay': True`` (its Adam takes that flag); here the class says it.
    """

    _decoupled_weight_decay = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad)
