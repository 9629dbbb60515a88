"""``Linear`` (fully connected) and ``Flatten``, the head of every classic CNN.

The math is in ``minicnn.functional.linear``; these classes hold the parameters, check inputs
and keep the cache between forward and backward.
"""

import math

import numpy as np

from .. import engines
from .._validation import (
    check_dim,
    check_dtype_matches,
    check_float_array,
    check_int,
    check_positive_int,
)
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["Flatten", "Linear"]


class Linear(Module):
    """Fully connected layer, ``y = x wᵀ + b``.

    Args:
        in_features: size of each input vector.
        out_features: size of each output vector.
        bias: learn an additive bias (default True).

    Shapes: input (N, in_features) → output (N, out_features).
    Parameters: ``weight`` (out_features, in_features), PyTorch's layout; ``bias``
    (out_features,). Both start as U(−1/√in_features, 1/√in_features), PyTorch's default
    (``kaiming_uniform_`` with a = √5), drawn from minicnn's default generator.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features = check_positive_int("Linear", "in_features", in_features)
        self.out_features = check_positive_int("Linear", "out_features", out_features)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), np.float32))
        if bias:
            self.bias = Parameter(np.empty(self.out_features, np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw fresh weights and bias from U(−1/√in_features, 1/√in_features)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def _check_input(self, x) -> None:
        where = self._name()
        layout = f"(N, {self.in_features})"
        check_float_array(where, x)
        if x.ndim != 2:
            hint = ""
            if x.ndim > 2 and math.prod(x.shape[1:]) == self.in_features:
                hint = "; put nn.Flatten() before this layer"
            raise ValueError(
                f"{where}: expected input of rank 2 {layout}, got shape {x.shape}{hint}")
        check_dim(where, x, 1, self.in_features, "features", layout)
        check_dtype_matches(where, x, self.weight.dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        bias = None if self.bias is None else self.bias.data
        engine = engines.get_engine()
        F = engines.functions(engine)
        out, cache = F.linear_forward(x, self.weight.data, bias)
        self._save_for_backward((engine, cache), out, inputs={"input": x})
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return self._backward(dout, need_dx=True)

    def backward_params(self, dout: np.ndarray) -> None:
        """``backward`` without computing dx (see ``Module.backward_params``)."""
        self._backward(dout, need_dx=False)

    def _backward(self, dout: np.ndarray, need_dx: bool):
        engine, cache = self._pop_cache(dout)  # checks dout's shape and dtype
        F = engines.functions(engine)
        train_bias = self.bias is not None and self.bias.requires_grad
        dx, dw, db = F.linear_backward(dout, cache, need_dx=need_dx,
                                       need_dw=self.weight.requires_grad, need_db=train_bias)
        if dw is not None:
            self.weight.grad += dw
        if db is not None:
            self.bias.grad += db
        return dx

    def _name(self) -> str:
        return f"Linear({self.in_features}, {self.out_features})"

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """Merge the axes ``start_dim..end_dim`` into one: (N, C, H, W) → (N, C·H·W) by default.

    The bridge between the convolutional part of a network and its Linear head. No parameters;
    backward reshapes the gradient back to the input's shape.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = check_int("Flatten", "start_dim", start_dim)
        self.end_dim = check_int("Flatten", "end_dim", end_dim)

    def _check_input(self, x) -> None:
        where = self._name()
        check_float_array(where, x)
        rank = x.ndim
        start, end = (dim + rank if dim < 0 else dim for dim in (self.start_dim, self.end_dim))
        if not 0 <= start <= end < rank:
            raise ValueError(
                f"{where}: expected input in which start_dim={self.start_dim} and "
                f"end_dim={self.end_dim} are axes, in that order, got shape {x.shape}")

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        engine = engines.get_engine()
        F = engines.functions(engine)
        out, cache = F.flatten_forward(x, self.start_dim, self.end_dim)
        self._save_for_backward((engine, cache), out, inputs={"input": x})
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        engine, cache = self._pop_cache(dout)
        F = engines.functions(engine)
        return F.flatten_backward(dout, cache)

    def _name(self) -> str:
        return f"Flatten({self.extra_repr()})"

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
