"""Pooling layers: max, average, min, median, LP, global and adaptive pooling, and max unpooling.

They have no parameters. The math is in ``minicnn.functional.pooling`` and ``pooling_order``,
whose forwards also check the input (in the layer's name, passed as ``where``); these classes
hold the settings and keep the cache between forward and backward. Each works in float32 and
float64 and returns the input's dtype.
"""

import numpy as np

from .. import engines
from .._validation import as_pair
from ..functional.pooling import adaptive_output_size, check_divisor_override, pool_params
from ..functional.pooling_order import check_norm_type
from .module import Module

__all__ = ["AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "AvgPool2d", "GlobalAvgPool2d",
           "LPPool2d", "MaxPool2d", "MaxUnpool2d", "MedianPool2d", "MinPool2d"]


class _Pool2d(Module):
    """What the pooling layers share: the engine's call, the cache, and the backward call."""

    def _forward(self, x: np.ndarray, operation: str, *args, inputs=None):
        """``out, cache = F.<operation>_forward(x, *args)`` by the chosen engine F.

        ``out`` may be a pair ``(out, indices)`` (``return_indices``); the indices are the
        caller's own copy, and dout is checked against the pooled output alone.
        """
        engine = engines.get_engine()
        F = engines.functions(engine)
        # The operation checks the input, in this layer's name.
        out, cache = getattr(F, f"{operation}_forward")(x, *args, where=self._name())
        pooled = out[0] if isinstance(out, tuple) else out
        self._save_for_backward((engine, operation, cache), pooled,
                                inputs={"input": x, **(inputs or {})})
        return out

    def _backward(self, dout: np.ndarray) -> np.ndarray:
        """``F.<operation>_backward(dout, cache)`` by the engine that ran the forward pass."""
        engine, operation, cache = self._pop_cache(dout)
        F = engines.functions(engine)
        return getattr(F, f"{operation}_backward")(dout, cache)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return self._backward(dout)

    def _name(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class _WindowPool2d(_Pool2d):
    """A k×k window sliding with a stride over a padded input."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        # Kept as given, for the repr; checked (and turned into pairs) right away.
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self._pairs = pool_params(type(self).__name__, kernel_size, stride, padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_WindowPool2d):
    """Max pooling: each output is the largest value in its window.

    Args:
        kernel_size: int or (kh, kw).
        stride: int or (sh, sw); default the kernel size (non-overlapping windows).
        padding: int or (ph, pw), at most half the kernel; padding never wins the max.
        dilation: int or (dh, dw), the spacing of the window's taps (1: adjacent pixels).
        return_indices: forward returns ``(out, indices)``, indices (N, C, Ho, Wo) int64 the
            flat position ``y·W + x`` of each maximum in its input plane (for ``MaxUnpool2d``).
        ceil_mode: round the output size up; a last window is kept only if it starts inside
            the input or the left padding (PyTorch's rule).

    Shapes: (N, C, H, W) → (N, C, Ho, Wo), ``Ho = floor((H + 2·ph − dh·(kh − 1) − 1) / sh) + 1``
    (ceil in ceil mode). Backward takes dout alone and sends each window's gradient to its
    first maximum; overlapping windows add.
    """

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False):
        super().__init__(kernel_size, stride, padding)
        as_pair("MaxPool2d", "dilation", dilation, minimum=1)  # check it now
        self.dilation = dilation
        self.return_indices = bool(return_indices)
        self.ceil_mode = bool(ceil_mode)

    def forward(self, x: np.ndarray):
        return self._forward(x, "max_pool2d", *self._pairs, self.dilation, self.ceil_mode,
                             self.return_indices)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, dilation={self.dilation}, "
                f"ceil_mode={self.ceil_mode}")  # PyTorch's repr

    def _name(self) -> str:
        """The short form in error messages: dilation and ceil_mode only when not the default."""
        extras = "".join(f", {name}={value}" for name, value, default in (
            ("dilation", self.dilation, 1), ("ceil_mode", self.ceil_mode, False))
            if value != default)
        return f"MaxPool2d({_WindowPool2d.extra_repr(self)}{extras})"


class AvgPool2d(_WindowPool2d):
    """Average pooling: each output is the mean of its window.

    Args:
        kernel_size, stride, padding: as for ``MaxPool2d``.
        ceil_mode: round the output size up, as for ``MaxPool2d``.
        count_include_pad: divide by the window's pixels inside the padded input (True, the
            default, as PyTorch: kh·kw except for ceil-mode windows past the padding), or
            only by its real pixels (False).
        divisor_override: a nonzero int to divide every window sum by instead.

    Shapes: (N, C, H, W) → (N, C, Ho, Wo). Backward shares each window's gradient equally
    among the pixels it averaged.
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override=None):
        super().__init__(kernel_size, stride, padding)
        self.ceil_mode = bool(ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        check_divisor_override("AvgPool2d", divisor_override)  # check it now
        self.divisor_override = divisor_override

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._forward(x, "avg_pool2d", *self._pairs, self.ceil_mode,
                             self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        for name, default in (("ceil_mode", False), ("count_include_pad", True),
                              ("divisor_override", None)):
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        return text


class MinPool2d(_WindowPool2d):
    """Min pooling: each output is the smallest value in its window. Not in PyTorch (there it
    is ``-F.max_pool2d(-x)``); the same arguments as ``MaxPool2d`` without its extras.

    Padding never wins (it is +inf); backward sends each window's gradient to its first
    minimum in row-major order.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._forward(x, "min_pool2d", *self._pairs)


class MedianPool2d(_WindowPool2d):
    """Median pooling, a median filter: each output is the median of its window's real pixels.
    Not in PyTorch; kernel_size, stride and padding as for ``MaxPool2d``.

    For an even count of pixels the *lower* median is taken, ``v_{(m−1)//2}`` of the sorted
    values: one pixel of the window, never the mean of two, so backward sends the gradient to
    exactly that pixel. Padding is not counted; ties go to the first pixel in row-major order.
    With ``stride=1, padding=k//2`` it keeps the image size (the denoiser of image processing).
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._forward(x, "median_pool2d", *self._pairs)


class LPPool2d(_Pool2d):
    """Power-average pooling, as PyTorch: ``out = (Σ_window x^p)^(1/p)``, no abs, no padding.

    Args:
        norm_type: p > 0 (p = 1: sum pooling; large p: near max pooling).
        kernel_size: int or (kh, kw); stride as for ``MaxPool2d``; ceil_mode as there (PyTorch
            scales the sum of a window that runs past the input by kh·kw / its inside pixels).

    For odd p a window with a negative sum gives NaN (PyTorch takes no abs). Where a window's
    sum is 0 its gradient is 0 for every p, PyTorch's documented rule (never NaN; for p = 1
    this departs from the slope of the sum, as PyTorch's does). p = inf is refused (PyTorch's
    max pooling of |x|: use ``MaxPool2d`` on ``np.abs(x)``).
    """

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode: bool = False):
        super().__init__()
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = bool(ceil_mode)
        pool_params("LPPool2d", kernel_size, stride, 0)
        check_norm_type("LPPool2d", norm_type)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._forward(x, "lp_pool2d", self.norm_type, self.kernel_size, self.stride,
                             self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


class MaxUnpool2d(_Pool2d):
    """The partial inverse of ``MaxPool2d``: puts each value back at the position its
    ``indices`` name, zeros elsewhere.

    Args:
        kernel_size, stride (default the kernel size), padding: those of the ``MaxPool2d``.

    ``forward(x, indices, output_size=None)``: x and indices (N, C, H, W), indices from
    ``MaxPool2d(..., return_indices=True)``; output (N, C, Ho, Wo) with
    ``Ho = (H − 1)·sh − 2·ph + kh``, or ``output_size`` ((Ho, Wo) or (N, C, Ho, Wo), within one
    stride of it) when the pooled input's size was not that. Backward gathers:
    ``dx[n, c, i, j] = dout[n, c].flat[indices[n, c, i, j]]``.
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = as_pair("MaxUnpool2d", "kernel_size", kernel_size, minimum=1)
        self.stride = (self.kernel_size if stride is None
                       else as_pair("MaxUnpool2d", "stride", stride, minimum=1))
        self.padding = as_pair("MaxUnpool2d", "padding", padding, minimum=0)

    def forward(self, x: np.ndarray, indices: np.ndarray, output_size=None) -> np.ndarray:
        return self._forward(x, "max_unpool2d", indices, self.kernel_size, self.stride,
                             self.padding, output_size, inputs={"indices": indices})

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class GlobalAvgPool2d(_Pool2d):
    """Mean of each channel plane: (N, C, H, W) → (N, C, 1, 1), as ``AdaptiveAvgPool2d(1)``.

    The head of ResNet-style networks; follow it with ``Flatten`` for a (N, C) vector.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._forward(x, "global_avg_pool2d")


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

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(_Pool2d):
    """Max pooling to a fixed output size, with ``AdaptiveAvgPool2d``'s windows.

    Args:
        output_size: int or (Ho, Wo); None in the pair keeps that input size.
        return_indices: forward returns ``(out, indices)``, as ``MaxPool2d``.

    Backward sends each window's gradient to its first maximum. Shapes: (N, C, H, W) →
    (N, C, Ho, Wo).
    """

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__()
        adaptive_output_size("AdaptiveMaxPool2d", output_size)  # check it now
        self.output_size = output_size
        self.return_indices = bool(return_indices)

    def forward(self, x: np.ndarray):
        return self._forward(x, "adaptive_max_pool2d", self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
