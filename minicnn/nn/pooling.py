"""Pooling layers: ``MaxPool2d``, ``AvgPool2d``, ``GlobalAvgPool2d``, ``AdaptiveAvgPool2d``.

They have no parameters. The math is in ``minicnn.functional.pooling``, whose forwards also check
the input (in the layer's name, passed as ``where``); these classes hold the settings and keep
the cache between forward and backward. Each works in float32 and float64 and returns the
input's dtype.
"""

import numpy as np

from .. import engines
from ..functional.pooling import adaptive_output_size, check_pool_input, pool_params
from .module import Module

__all__ = ["AdaptiveAvgPool2d", "AvgPool2d", "GlobalAvgPool2d", "MaxPool2d"]


class _Pool2d(Module):
    """What the pooling layers share: the engine's call, the cache, and the backward call."""

    def _forward(self, x: np.ndarray, operation: str, *args, crop=None) -> np.ndarray:
        """``out, cache = F.<operation>_forward(x, *args)`` by the chosen engine F.

        ``crop`` (H, W), when given, is the size of the caller's input that ``x`` extends; the
        backward cuts the gradient back to it.
        """
        engine = engines.get_engine()
        F = engines.functions(engine)
        # The operation checks the input, in this layer's name.
        out, cache = getattr(F, f"{operation}_forward")(x, *args, where=self._name())
        self._save_for_backward((engine, operation, cache, crop), out, inputs={"input": x})
        return out

    def _backward(self, dout: np.ndarray) -> np.ndarray:
        """``F.<operation>_backward(dout, cache)`` by the engine that ran the forward pass."""
        engine, operation, cache, crop = self._pop_cache(dout)
        F = engines.functions(engine)
        dx = getattr(F, f"{operation}_backward")(dout, cache)
        return dx if crop is None else np.ascontiguousarray(dx[:, :, :crop[0], :crop[1]])

    def _name(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class _WindowPool2d(_Pool2d):
    """A k×k window sliding with a stride over a padded input (max and average pooling)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        # Kept as given, for the repr; checked (and turned into pairs) right away.
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self._pairs = pool_params(type(self).__name__, kernel_size, stride, padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def ceil_mode_extra(size: int, kernel: int, stride: int, padding: int) -> int:
    """Rows (or columns) of −inf to add after the end so that the floor formula counts
    PyTorch's ceil_mode windows: ``ceil((size + 2p − k) / s) + 1``, less one if that last
    window would start beyond the input and the left padding (PyTorch's rule)."""
    padded = size + 2 * padding
    if padded < kernel:
        return 0  # the window does not fit at all: the engine's check says so
    count = -(-(padded - kernel) // stride) + 1
    if (count - 1) * stride >= size + padding:
        count -= 1
    return max(0, (count - 1) * stride + kernel - padded)


class MaxPool2d(_WindowPool2d):
    """Max pooling: each output is the largest value in its window.

    Args:
        kernel_size: int or (kh, kw).
        stride: int or (sh, sw); default the kernel size (non-overlapping windows).
        padding: int or (ph, pw), at most half the kernel; padding never wins the max.
        ceil_mode: round the output size up, as PyTorch (keyword only here): a last, partial
            window at the bottom and right, as long as it starts inside the input or the left
            padding. GoogLeNet's pools use it (112 → 56 where floor gives 55).

    Shapes: (N, C, H, W) → (N, C, Ho, Wo), ``Ho = floor((H + 2·ph − kh) / sh) + 1``
    (``ceil`` with ``ceil_mode=True``). Backward sends each window's gradient to its first
    maximum; overlapping windows add.

    ``ceil_mode`` is done here, not in the engines: the input gets the missing rows and
    columns of −inf at the bottom and right (they never win the max), the engine pools that
    with the floor formula, and backward cuts the gradient back to the input's size.
    """

    def __init__(self, kernel_size, stride=None, padding=0, *, ceil_mode: bool = False):
        super().__init__(kernel_size, stride, padding)
        self.ceil_mode = bool(ceil_mode)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.ceil_mode:
            return self._forward(x, "max_pool2d", *self._pairs)
        check_pool_input(self._name(), x)
        kernel, stride, padding = self._pairs
        extra = [ceil_mode_extra(x.shape[2 + axis], kernel[axis], stride[axis], padding[axis])
                 for axis in (0, 1)]
        if extra == [0, 0]:
            return self._forward(x, "max_pool2d", *self._pairs)
        extended = np.pad(x, ((0, 0), (0, 0), (0, extra[0]), (0, extra[1])),
                          constant_values=-np.inf)
        return self._forward(extended, "max_pool2d", *self._pairs, crop=x.shape[2:])

    def extra_repr(self) -> str:
        return super().extra_repr() + (", ceil_mode=True" if self.ceil_mode else "")

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return self._backward(dout)


class AvgPool2d(_WindowPool2d):
    """Average pooling: each output is the mean of its window.

    Args:
        kernel_size, stride, padding: as for ``MaxPool2d``.
        count_include_pad: divide by kh·kw, padding included (True, the default, as PyTorch),
            or only by the number of real pixels in the window (False).

    Shapes: (N, C, H, W) → (N, C, Ho, Wo). Backward shares each window's gradient equally
    among the pixels it averaged.
    """

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad: bool = True):
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._forward(x, "avg_pool2d", *self._pairs, self.count_include_pad)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return self._backward(dout)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text if self.count_include_pad else text + ", count_include_pad=False"


class GlobalAvgPool2d(_Pool2d):
    """Mean of each channel plane: (N, C, H, W) → (N, C, 1, 1), as ``AdaptiveAvgPool2d(1)``.

    The head of ResNet-style networks; follow it with ``Flatten`` for a (N, C) vector.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._forward(x, "global_avg_pool2d")

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return self._backward(dout)


class AdaptiveAvgPool2d(_Pool2d):
    """Average pooling to a fixed output size, whatever the input size.

    Args:
        output_size: int or (Ho, Wo); None in the pair keeps that input size.

    Output i along an axis averages the inputs ``floor(i·in/out) .. ceil((i+1)·in/out) − 1``,
    PyTorch's rule: plain non-overlapping windows when ``in`` is a multiple of ``out``.
    torchvision's VGG uses ``AdaptiveAvgPool2d((7, 7))``, its ResNet ``AdaptiveAvgPool2d((1, 1))``.

    Shapes: (N, C, H, W) → (N, C, Ho, Wo).
    """

    def __init__(self, output_size):
        super().__init__()
        adaptive_output_size("AdaptiveAvgPool2d", output_size)  # check it now
        self.output_size = output_size

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._forward(x, "adaptive_avg_pool2d", self.output_size)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return self._backward(dout)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
