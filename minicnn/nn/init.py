"""Weight initialisation, with PyTorch's formulas and names.

Each function fills an array (or a ``Parameter``'s data) in place and returns it. Random ones draw
from ``generator`` if given, else from the library's default generator (``minicnn.manual_seed``).

Fan-in and fan-out of a weight of shape (out, in, *kernel): ``fan_in = in · prod(kernel)``,
``fan_out = out · prod(kernel)``; for a Linear weight (out, in) the kernel is empty.

PyTorch's default for Conv2d and Linear, reproduced by those layers, is
``kaiming_uniform_(w, a=√5)``, i.e. w ~ U(−1/√fan_in, 1/√fan_in), and b ~ U(−1/√fan_in, 1/√fan_in).
"""

import math

import numpy as np

from .._random import get_rng
from .parameter import Parameter

__all__ = [
    "calculate_gain", "constant_", "fan_in_and_fan_out", "kaiming_normal_", "kaiming_uniform_",
    "normal_", "ones_", "uniform_", "xavier_normal_", "xavier_uniform_", "zeros_",
]


def _array(tensor) -> np.ndarray:
    array = tensor.data if isinstance(tensor, Parameter) else tensor
    if not isinstance(array, np.ndarray) or array.dtype not in (np.float32, np.float64):
        raise TypeError(
            f"nn.init: expected a float32/float64 ndarray or a Parameter, got {tensor!r}")
    return array


def fan_in_and_fan_out(shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of shape (out, in, *kernel); needs at least 2 axes."""
    if len(shape) < 2:
        raise ValueError(f"nn.init: fan in and fan out need a weight of rank >= 2, got {shape}")
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The gain that keeps activations' variance: 1 (linear, sigmoid), 5/3 (tanh), √2 (relu),
    √(2 / (1 + a²)) (leaky_relu with slope a, default 0.01), 3/4 (selu)."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"nn.init.calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _fill(tensor, values: np.ndarray):
    array = _array(tensor)
    array[...] = values
    return tensor


def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None):
    """Fill with draws from U(a, b)."""
    array = _array(tensor)
    # Drawn straight into the array in its own dtype: no float64 temporary the size of the
    # weight (784 MiB for VGG-16's first Linear layer).
    (generator or get_rng()).random(out=array, dtype=array.dtype)
    array *= b - a
    array += a
    return tensor


def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None):
    """Fill with draws from N(mean, std²)."""
    array = _array(tensor)
    (generator or get_rng()).standard_normal(out=array, dtype=array.dtype)
    array *= std
    array += mean
    return tensor


def constant_(tensor, value: float):
    return _fill(tensor, value)


def zeros_(tensor):
    return _fill(tensor, 0.0)


def ones_(tensor):
    return _fill(tensor, 1.0)


def _fan(shape, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"nn.init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fan_in_and_fan_out(shape)
    return fan_in if mode == "fan_in" else fan_out


def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator=None):
    """He et al. 2015: U(−bound, bound) with ``bound = gain · √(3 / fan)``."""
    shape = _array(tensor).shape
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(shape, mode))
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator=None):
    """He et al. 2015: N(0, std²) with ``std = gain / √fan``."""
    shape = _array(tensor).shape
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(shape, mode))
    return normal_(tensor, 0.0, std, generator)


def xavier_uniform_(tensor, gain: float = 1.0, generator=None):
    """Glorot and Bengio 2010: U(−bound, bound), ``bound = gain · √(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = fan_in_and_fan_out(_array(tensor).shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain: float = 1.0, generator=None):
    """Glorot and Bengio 2010: N(0, std²) with ``std = gain · √(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = fan_in_and_fan_out(_array(tensor).shape)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)
