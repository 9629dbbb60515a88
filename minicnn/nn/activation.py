"""Activation layers: ``ReLU``, ``LeakyReLU``, ``PReLU``, ``Tanh``, ``Sigmoid``, ``Softmax``.

The math is in ``minicnn.functional.activation``. Only ``PReLU`` has a parameter; the others
work in whatever float dtype comes in (float32 or float64) and return that dtype.
"""

from numbers import Real

import numpy as np

from .. import engines
from .._validation import (
    check_dim,
    check_dtype_matches,
    check_float_array,
    check_int,
    check_positive_int,
)
from .module import Module
from .parameter import Parameter

__all__ = ["LeakyReLU", "PReLU", "ReLU", "Sigmoid", "Softmax", "Tanh"]


class ReLU(Module):
    """``y = max(x, 0)``, element-wise. Any input shape.

    ``inplace`` is accepted for PyTorch compatibility (torchvision's models pass it) and shown in
    the repr, but the output is always a new array: overwriting the input could corrupt an array
    that another layer keeps for its backward pass.
    """

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = bool(inplace)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float_array(self._name(), x)
        engine = engines.get_engine()
        F = engines.functions(engine)
        out, cache = F.relu_forward(x)
        self._save_for_backward((engine, cache), out, inputs={"input": x})
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        engine, cache = self._pop_cache(dout)
        F = engines.functions(engine)
        return F.relu_backward(dout, cache)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """``y = x if x > 0 else negative_slope · x``, element-wise. Any input shape.

    ``inplace`` is accepted for PyTorch compatibility (torchvision's models pass it) and shown in
    the repr, but the output is always a new array: overwriting the input could corrupt an array
    that another layer keeps for its backward pass.
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, Real):
            raise TypeError(f"LeakyReLU: expected negative_slope as a number, "
                            f"got {negative_slope!r}")
        self.negative_slope = float(negative_slope)
        self.inplace = bool(inplace)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float_array(self._name(), x)
        engine = engines.get_engine()
        F = engines.functions(engine)
        out, cache = F.leaky_relu_forward(x, self.negative_slope)
        self._save_for_backward((engine, cache), out, inputs={"input": x})
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        engine, cache = self._pop_cache(dout)
        F = engines.functions(engine)
        return F.leaky_relu_backward(dout, cache)

    def _name(self) -> str:
        return f"LeakyReLU({self.negative_slope})"

    def extra_repr(self) -> str:
        inplace = ", inplace=True" if self.inplace else ""
        return f"negative_slope={self.negative_slope}{inplace}"


class PReLU(Module):
    """Parametric ReLU: ``y = x if x > 0 else a · x`` with a learned slope ``a`` (He et al. 2015).

    Args:
        num_parameters: 1 (one slope shared by every channel) or the number of channels C
            (one slope per channel, axis 1 of the input).
        init: the initial slope (default 0.25, as PyTorch).

    Shapes: input (N, C, ...) with C = num_parameters when that is above 1; any shape when 1.
    Parameter: ``weight`` (num_parameters,), PyTorch's name.
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25):
        super().__init__()
        self.num_parameters = check_positive_int("PReLU", "num_parameters", num_parameters)
        if isinstance(init, bool) or not isinstance(init, Real):
            raise TypeError(f"PReLU: expected init as a number, got {init!r}")
        self.weight = Parameter(np.full(self.num_parameters, init, dtype=np.float32))

    def _check_input(self, x) -> None:
        where = self._name()
        check_float_array(where, x)
        if self.num_parameters > 1:
            layout = f"(N, {self.num_parameters}, ...)"
            if x.ndim < 2:
                raise ValueError(f"{where}: expected input of rank >= 2 {layout}, "
                                 f"got shape {x.shape}")
            check_dim(where, x, 1, self.num_parameters, "channels", layout)
        check_dtype_matches(where, x, self.weight.dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        engine = engines.get_engine()
        F = engines.functions(engine)
        out, cache = F.prelu_forward(x, self.weight.data)
        self._save_for_backward((engine, cache), out, inputs={"input": x})
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        engine, cache = self._pop_cache(dout)
        F = engines.functions(engine)
        dx, dw = F.prelu_backward(dout, cache, need_dw=self.weight.requires_grad)
        if dw is not None:
            self.weight.grad += dw
        return dx

    def _name(self) -> str:
        return f"PReLU({self.num_parameters})"

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class Tanh(Module):
    """``y = tanh(x)``, element-wise. Any input shape."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float_array(self._name(), x)
        engine = engines.get_engine()
        F = engines.functions(engine)
        out, cache = F.tanh_forward(x)
        self._save_for_backward((engine, cache), out, inputs={"input": x})
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        engine, cache = self._pop_cache(dout)
        F = engines.functions(engine)
        return F.tanh_backward(dout, cache)


class Sigmoid(Module):
    """``y = 1 / (1 + e^(−x))``, element-wise, without overflow for any x. Any input shape."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float_array(self._name(), x)
        engine = engines.get_engine()
        F = engines.functions(engine)
        out, cache = F.sigmoid_forward(x)
        self._save_for_backward((engine, cache), out, inputs={"input": x})
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        engine, cache = self._pop_cache(dout)
        F = engines.functions(engine)
        return F.sigmoid_backward(dout, cache)


class Softmax(Module):
    """Softmax along ``dim``: ``y_i = e^(x_i) / Σ_j e^(x_j)``, computed stably.

    Shapes: input (N, K) with the default dim=1 (class scores → probabilities); any rank in
    which ``dim`` is an axis. For training a classifier use ``CrossEntropyLoss`` on the raw
    scores instead: it fuses softmax and the loss, which is faster and more accurate.
    """

    def __init__(self, dim: int = 1):
        super().__init__()
        self.dim = check_int("Softmax", "dim", dim)

    def _check_input(self, x) -> None:
        where = self._name()
        check_float_array(where, x)
        if not -x.ndim <= self.dim < x.ndim:
            raise ValueError(f"{where}: expected input with an axis {self.dim}, "
                             f"got shape {x.shape}")

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        engine = engines.get_engine()
        F = engines.functions(engine)
        out, cache = F.softmax_forward(x, axis=self.dim)
        self._save_for_backward((engine, cache), out, inputs={"input": x})
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        engine, cache = self._pop_cache(dout)
        F = engines.functions(engine)
        return F.softmax_backward(dout, cache)

    def _name(self) -> str:
        return f"Softmax(dim={self.dim})"

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
