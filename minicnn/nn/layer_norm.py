"""Per-sample normalisation layers: ``LayerNorm`` and ``GroupNorm``.

The math is in ``minicnn.functional.layer_norm``. Neither keeps running statistics: training
and evaluation compute the same thing. Parameters have PyTorch's names, so the state dict is
``weight, bias`` (shape ``normalized_shape`` for LayerNorm, (C,) for GroupNorm), or less when
they are switched off.
"""

from numbers import Integral, Real

import numpy as np

from .. import engines
from .._validation import check_dim, check_dtype_matches, check_float_array, check_positive_int
from .module import Module
from .parameter import Parameter

__all__ = ["GroupNorm", "LayerNorm"]


def _check_eps(where: str, eps) -> float:
    if isinstance(eps, bool) or not isinstance(eps, Real) or not eps > 0:
        raise ValueError(f"{where}: expected eps > 0, got {eps!r}")
    return float(eps)


class _AffineNorm(Module):
    """What both layers share: optional γ (ones) and β (zeros), the backward that adds into
    their gradients, and the dtype check of the input."""

    def _make_parameters(self, shape: tuple, weight: bool, bias: bool) -> None:
        if weight:
            self.weight = Parameter(np.ones(shape, dtype=np.float32))
        else:
            self.register_parameter("weight", None)
        if bias:
            self.bias = Parameter(np.zeros(shape, dtype=np.float32))
        else:
            self.register_parameter("bias", None)

    def _check_dtype(self, x) -> None:
        check_float_array(self._name(), x)
        for param in (self.weight, self.bias):
            if param is not None:
                check_dtype_matches(self._name(), x, param.dtype)
                return

    def _gamma_beta(self):
        return (None if self.weight is None else self.weight.data,
                None if self.bias is None else self.bias.data)

    def _backward_with(self, backward, dout):
        engine, cache = self._pop_cache(dout)  # checks dout's shape and dtype
        dx, dgamma, dbeta = backward(engine)(
            dout, cache, need_dgamma=self.weight is not None and self.weight.requires_grad,
            need_dbeta=self.bias is not None and self.bias.requires_grad)
        if dgamma is not None:
            self.weight.grad += dgamma
        if dbeta is not None:
            self.bias.grad += dbeta
        return dx


class LayerNorm(_AffineNorm):
    """Layer normalisation (Ba et al. 2016), PyTorch's ``nn.LayerNorm``.

    Each sample is normalised over its last D axes, ``normalized_shape`` (for an image
    (N, C, H, W) and ``normalized_shape=(C, H, W)``: all of it; for a sequence (N, L, E) and
    ``normalized_shape=E``: each position's features), with the biased variance::

        y = (x − E[x]) / √(Var[x] + ε) · γ + β       γ, β of shape normalized_shape

    Args:
        normalized_shape: an int or a tuple, the trailing shape of the input to normalise over.
        eps: added to the variance before the square root.
        elementwise_affine: learn γ (``weight``, ones) and β (``bias``, zeros).
        bias: with ``elementwise_affine``, False drops β (then the state dict has ``weight``).

    Shapes: (*, *normalized_shape) → the same. The same computation in train() and eval().
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True):
        super().__init__()
        where = "LayerNorm"
        shape = (normalized_shape,) if isinstance(normalized_shape, Integral) else normalized_shape
        if (not isinstance(shape, (tuple, list)) or not shape
                or not all(isinstance(n, Integral) and not isinstance(n, bool) for n in shape)):
            raise TypeError(f"{where}: expected normalized_shape as an int or a non-empty tuple "
                            f"of ints, got {normalized_shape!r}")
        if min(shape) < 1:
            raise ValueError(f"{where}: expected normalized_shape of sizes >= 1, got "
                             f"{tuple(shape)}")
        self.normalized_shape = tuple(int(n) for n in shape)
        self.eps = _check_eps(where, eps)
        self.elementwise_affine = bool(elementwise_affine)
        self._make_parameters(self.normalized_shape, self.elementwise_affine,
                              self.elementwise_affine and bool(bias))

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_dtype(x)
        F = engines.functions(engine := engines.get_engine())
        out, cache = F.layer_norm_forward(x, self.normalized_shape, *self._gamma_beta(),
                                          eps=self.eps, where=self._name())
        self._save_for_backward((engine, cache), out, inputs={"input": x})
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return self._backward_with(lambda engine: engines.functions(engine).layer_norm_backward,
                                   dout)

    def _name(self) -> str:
        return f"LayerNorm({self.normalized_shape})"

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class GroupNorm(_AffineNorm):
    """Group normalisation (Wu and He 2018), PyTorch's ``nn.GroupNorm``.

    The C channels of each sample are split into ``num_groups`` groups of C/G consecutive
    channels; each group is normalised over its channels and positions (biased variance), then
    each channel is scaled and shifted::

        y = (x − E_group[x]) / √(Var_group[x] + ε) · γ_c + β_c

    G = 1 normalises each sample over (C, H, W); G = C is instance normalisation.

    Args:
        num_groups: G; ``num_channels`` must be divisible by it.
        num_channels: C, the channels of the input (axis 1).
        eps: added to the variance before the square root.
        affine: learn γ (``weight``, ones) and β (``bias``, zeros), each (C,).
        bias: keyword only, as in PyTorch 2.x: with ``affine``, False drops β.

    Shapes: (N, C, *) → the same. The same computation in train() and eval().
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, *, bias: bool = True):
        super().__init__()
        where = "GroupNorm"
        self.num_groups = check_positive_int(where, "num_groups", num_groups)
        self.num_channels = check_positive_int(where, "num_channels", num_channels)
        if self.num_channels % self.num_groups:
            raise ValueError(f"{where}: expected num_channels divisible by num_groups, got "
                             f"num_channels={self.num_channels} and num_groups={self.num_groups}")
        self.eps = _check_eps(where, eps)
        self.affine = bool(affine)
        self._make_parameters((self.num_channels,), self.affine, self.affine and bool(bias))

    def forward(self, x: np.ndarray) -> np.ndarray:
        where = self._name()
        self._check_dtype(x)
        if x.ndim < 2:
            raise ValueError(f"{where}: expected input of rank 2 or more, (N, "
                             f"{self.num_channels}, *), got shape {x.shape}")
        check_dim(where, x, 1, self.num_channels, "channels", f"(N, {self.num_channels}, *)")
        F = engines.functions(engine := engines.get_engine())
        out, cache = F.group_norm_forward(x, self.num_groups, *self._gamma_beta(), eps=self.eps,
                                          where=where)
        self._save_for_backward((engine, cache), out, inputs={"input": x})
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return self._backward_with(lambda engine: engines.functions(engine).group_norm_backward,
                                   dout)

    def _name(self) -> str:
        return f"GroupNorm({self.num_groups}, {self.num_channels})"

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")
