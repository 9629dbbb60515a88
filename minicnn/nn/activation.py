"""Activation layers: ``ReLU``, ``LeakyReLU``, ``PReLU``, ``ELU``, ``SELU``, ``GELU``, ``SiLU``,
``Softplus``, ``Tanh``, ``Sigmoid``, ``Softmax``, ``LogSoftmax`` and ``Maxout``.

The math is in ``minicnn.functional.activation``. Only ``PReLU`` has a parameter; the others
work in whatever float dtype comes in (float32 or float64) and return that dtype.
"""

import math
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

__all__ = [
    "ELU", "GELU", "SELU", "LeakyReLU", "LogSoftmax", "Maxout", "PReLU", "ReLU", "SiLU",
    "Sigmoid", "Softmax", "Softplus", "Tanh",
]


def _number(where: str, name: str, value, allow_infinite: bool = False) -> float:
    """``value`` as a float: TypeError naming the layer unless it is a real number (not a
    bool), ValueError if it is NaN (or infinite, unless ``allow_infinite``), which would make
    every output NaN instead of failing here."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{where}: expected {name} as a number, got {value!r}")
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and not allow_infinite):
        kind = "a number" if allow_infinite else "a finite number"
        raise ValueError(f"{where}: expected {name} as {kind}, got {value}")
    return value


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


class _Elementwise(Module):
    """An activation applied entry by entry, any input shape: ``forward`` calls
    ``F.<op>_forward(x, *self._arguments())`` and ``backward`` calls ``F.<op>_backward``."""

    _op = ""

    def _arguments(self) -> tuple:
        return ()

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float_array(self._name(), x)
        engine = engines.get_engine()
        F = engines.functions(engine)
        out, cache = getattr(F, f"{self._op}_forward")(x, *self._arguments())
        self._save_for_backward((engine, cache), out, inputs={"input": x})
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        engine, cache = self._pop_cache(dout)
        F = engines.functions(engine)
        return getattr(F, f"{self._op}_backward")(dout, cache)


class ELU(_Elementwise):
    """``y = x if x > 0 else alpha · (e^x − 1)``, element-wise (Clevert et al. 2015).

    Args: ``alpha`` (default 1.0), a finite number: ``y`` tends to ``−alpha`` as x → −∞
    (a negative alpha is allowed, as in PyTorch). ``inplace`` is accepted and shown in the
    repr but ignored, as for ``ReLU``.
    """

    _op = "elu"

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = _number("ELU", "alpha", alpha)
        self.inplace = bool(inplace)

    def _arguments(self) -> tuple:
        return (self.alpha,)

    def _name(self) -> str:
        return f"ELU(alpha={self.alpha})"

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class SELU(_Elementwise):
    """``y = λ · ELU(x, α)`` with PyTorch's fixed ``α ≈ 1.6733`` and ``λ ≈ 1.0507`` (Klambauer
    et al. 2017), element-wise. ``inplace`` is accepted and shown but ignored, as for ``ReLU``."""

    _op = "selu"

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = bool(inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class GELU(_Elementwise):
    """``y = x · Φ(x)``, Φ the standard normal CDF (Hendrycks & Gimpel 2016), element-wise.

    Args: ``approximate``: ``"none"`` (default, the exact erf form) or ``"tanh"`` (the tanh
    approximation of GPT-2 and BERT), as PyTorch.
    """

    _op = "gelu"

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: expected approximate 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def _arguments(self) -> tuple:
        return (self.approximate,)

    def _name(self) -> str:
        return f"GELU(approximate={self.approximate!r})"

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(_Elementwise):
    """``y = x · σ(x)`` (also called swish), element-wise. ``inplace`` is accepted and shown
    but ignored, as for ``ReLU``."""

    _op = "silu"

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = bool(inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Softplus(_Elementwise):
    """``y = log(1 + e^(beta·x)) / beta``, and ``y = x`` where ``beta·x > threshold``, as PyTorch.

    Args: ``beta`` (default 1.0), finite and non-zero, sharpens the corner at 0 (negative
    values are allowed, as in PyTorch); ``threshold`` (default 20.0, not NaN; ``inf`` turns
    the linear part off) is where the layer turns linear, because the two agree there to
    within e^(−threshold)/beta.
    """

    _op = "softplus"

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta = _number("Softplus", "beta", beta)
        if self.beta == 0:
            raise ValueError("Softplus: expected a non-zero beta, got 0.0")
        self.threshold = _number("Softplus", "threshold", threshold, allow_infinite=True)

    def _arguments(self) -> tuple:
        return (self.beta, self.threshold)

    def _name(self) -> str:
        return f"Softplus(beta={self.beta}, threshold={self.threshold})"

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class LogSoftmax(Module):
    """``y_i = log(e^(x_i) / Σ_j e^(x_j))`` along ``dim``, computed without forming the softmax.

    ``dim`` defaults to 1, as our ``Softmax`` (PyTorch's ``dim=None`` guesses an axis from the
    rank and warns; we do not guess). Shapes: input (N, K) with dim=1; any rank with that axis.
    With ``NLLLoss`` this is a classifier's loss; ``CrossEntropyLoss`` fuses the two.
    """

    def __init__(self, dim: int = 1):
        super().__init__()
        self.dim = check_int("LogSoftmax", "dim", dim)

    _check_input = Softmax._check_input
    extra_repr = Softmax.extra_repr

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        engine = engines.get_engine()
        F = engines.functions(engine)
        out, cache = F.log_softmax_forward(x, axis=self.dim)
        self._save_for_backward((engine, cache), out, inputs={"input": x})
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        engine, cache = self._pop_cache(dout)
        F = engines.functions(engine)
        return F.log_softmax_backward(dout, cache)

    def _name(self) -> str:
        return f"LogSoftmax(dim={self.dim})"


class Maxout(Module):
    """The maximum over groups of ``pieces`` consecutive channels (Goodfellow et al. 2013).

    Not in PyTorch (there it is a ``view`` and a ``max``); this is the paper's unit with the
    affine map left to the Linear or Conv2d before it: ``Linear(F, k·G)`` then ``Maxout(k)``
    gives G maxout units of k pieces each.

    Shapes: input (N, C, ...) with C divisible by ``pieces`` — (N, F) after a Linear,
    (N, C, H, W) after a Conv2d; output (N, C / pieces, ...). A tie within a group sends the
    gradient to its first maximum, as ``MaxPool2d`` does.
    """

    def __init__(self, pieces: int):
        super().__init__()
        self.pieces = check_positive_int("Maxout", "pieces", pieces)

    def _check_input(self, x) -> None:
        where = self._name()
        check_float_array(where, x)
        layout = f"(N, C, ...) with C divisible by {self.pieces}"
        if x.ndim < 2 or x.shape[1] % self.pieces:
            raise ValueError(f"{where}: expected input {layout}, got shape {x.shape}")

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        engine = engines.get_engine()
        F = engines.functions(engine)
        out, cache = F.maxout_forward(x, self.pieces)
        self._save_for_backward((engine, cache), out, inputs={"input": x})
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        engine, cache = self._pop_cache(dout)
        F = engines.functions(engine)
        return F.maxout_backward(dout, cache)

    def _name(self) -> str:
        return f"Maxout({self.pieces})"

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}"
