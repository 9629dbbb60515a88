"""``Conv2d``, the convolutional layer.

The math is in ``minicnn.functional.conv`` (``conv2d_forward`` / ``conv2d_backward``, and
``pad2d`` for the reflect/replicate/circular padding modes), whose forwards check the input once,
in this layer's name; this class holds the parameters, calls the chosen engine and keeps the
cache between forward and backward.
"""

import math

import numpy as np

from .. import engines
from .._validation import as_pair, check_positive_int
from ..fast.methods import check_method
from ..functional.conv import PADDING_MODES, named_padding
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["Conv2d"]


class Conv2d(Module):
    """2-D convolution (cross-correlation, as in every framework) over a batch of images.

    ``out[n, o, i, j] = bias[o] + Σ_c Σ_u Σ_v weight[o, c, u, v] · x_pad[n, c, i·sh + u, j·sw + v]``
    (see ``minicnn.functional.conv2d_forward``).

    Args:
        in_channels, out_channels: channels C of the input and O of the output.
        kernel_size: int or (kh, kw).
        stride: int or (sh, sw), default 1.
        padding: int, (ph, pw), ``"valid"`` (no padding), ``"same"`` (output size = input
            size; stride 1 only, as in PyTorch; an odd total ``d·(k − 1)`` puts the extra
            row/column at the bottom/right, as PyTorch does) or ``"full"`` (``d·(k − 1)`` on
            each side: every position where the kernel touches the input; not in PyTorch).
        dilation: int or (dh, dw), default 1: the kernel's taps are d pixels apart.
        groups: default 1; C and O must be divisible by it; each group of C/groups input
            channels has its own O/groups filters (groups = C: depthwise).
        bias: learn an additive bias per output channel (default True).
        padding_mode: what the padding holds: ``"zeros"`` (default), ``"reflect"``,
            ``"replicate"``, ``"circular"``, or ``"symmetric"`` (the edge repeated, the decks'
            mirror padding: 2 1 | 1 2 3 4 | 4 3; not in PyTorch).
        method: how the fast engine computes it: ``"auto"`` (default: the faster for the
            shape), ``"im2col"`` (matrix products), ``"direct"`` or ``"batch_last"`` (stride 1
            and no dilation only, else a ValueError; see ``minicnn.fast.conv``). All give the
            same result up to rounding; the attribute can be changed at any time, e.g. to
            compare them in a lab. The
            reference engine has one method, im2col, and ignores this.

    Shapes: input (N, C, H, W) → output (N, O, Ho, Wo) with
    ``Ho = floor((H + top + bottom − dh·(kh − 1) − 1) / sh) + 1`` (likewise Wo).
    Parameters: ``weight`` (O, C/groups, kh, kw) and ``bias`` (O,), both drawn from
    U(−1/√fan_in, 1/√fan_in) with fan_in = (C/groups)·kh·kw, PyTorch's default; float32.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 method: str = "auto"):
        super().__init__()
        self.in_channels = check_positive_int("Conv2d", "in_channels", in_channels)
        self.out_channels = check_positive_int("Conv2d", "out_channels", out_channels)
        where = self._name()
        self.kernel_size = as_pair(where, "kernel_size", kernel_size, minimum=1)
        self.stride = as_pair(where, "stride", stride, minimum=1)
        self.dilation = as_pair(where, "dilation", dilation, minimum=1)
        self.groups = check_positive_int(where, "groups", groups)
        for name, channels in (("in_channels", in_channels), ("out_channels", out_channels)):
            if channels % self.groups:
                raise ValueError(f"{where}: expected {name} divisible by groups, got "
                                 f"{name}={channels} and groups={self.groups}")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"{where}: unknown padding_mode {padding_mode!r}; expected one of "
                             f"{PADDING_MODES}")
        self.padding_mode = padding_mode
        self.padding = self._parse_padding(padding)
        # The padding on each side, ((top, bottom), (left, right)): "same" may be asymmetric.
        if isinstance(self.padding, str):
            self._pads = named_padding(where, self.padding, self.kernel_size, self.dilation,
                                       self.stride)
        else:
            self._pads = ((self.padding[0],) * 2, (self.padding[1],) * 2)

        self.method = self._check_method(method)

        kh, kw = self.kernel_size
        self.weight = Parameter(np.empty(
            (self.out_channels, self.in_channels // self.groups, kh, kw), np.float32))
        if bias:
            self.bias = Parameter(np.empty(self.out_channels, np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def _parse_padding(self, padding):
        """A padding name (``"valid"``, ``"same"``, ``"full"``; kept as PyTorch keeps it), or
        the padding as a (ph, pw) pair."""
        if isinstance(padding, str):
            return padding  # checked by named_padding
        return as_pair(self._name(), "padding", padding, minimum=0)

    def _check_method(self, method: str) -> str:
        # A padding mode other than zeros is applied before the convolution, which then has none.
        pads = self._pads if self.padding_mode == "zeros" else ((0, 0), (0, 0))
        check_method(self._name(), method, self.kernel_size, self.stride, pads, self.dilation)
        return method

    def reset_parameters(self) -> None:
        """Draw weight and bias from U(−1/√fan_in, 1/√fan_in), fan_in = (C/groups)·kh·kw
        (PyTorch's, computed from the weight's shape)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.data.shape[1] * self.kernel_size[0] * self.kernel_size[1]
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: np.ndarray) -> np.ndarray:
        bias = None if self.bias is None else self.bias.data
        out, cache = self._convolve(x, self.weight.data, bias)
        self._save_for_backward(cache, out, inputs={"input": x})
        return out

    def _convolve(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None):
        """This layer's convolution of ``x`` by ``weight`` and ``bias`` (its own, or the folded
        ones of ``nn._fold``): its stride, padding, padding mode, dilation, groups and method,
        by the active engine. Returns ``(out, cache)``, the cache as ``backward`` reads it."""
        # The operations check the input (once, in this layer's name): pad2d, then conv2d.
        where = self._name()
        engine = engines.get_engine()
        F = engines.functions(engine)
        pad_cache = None
        padding = self._pads
        if self.padding_mode != "zeros":  # pad explicitly, then convolve without padding
            x, pad_cache = F.pad2d(x, self._pads, self.padding_mode, where=where)
            padding = 0
        method = self._check_method(self.method)  # refused under either engine alike
        options = {"method": method} if engine == "fast" else {}  # the reference has one
        out, conv_cache = F.conv2d_forward(x, weight, bias, self.stride, padding,
                                           self.dilation, self.groups, where=where, **options)
        return out, (engine, conv_cache, pad_cache)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return self._backward(dout, need_dx=True)

    def backward_params(self, dout: np.ndarray) -> None:
        """``backward`` without computing dx (see ``Module.backward_params``)."""
        self._backward(dout, need_dx=False)

    def _backward(self, dout: np.ndarray, need_dx: bool):
        engine, conv_cache, pad_cache = self._pop_cache(dout)  # checks dout's shape and dtype
        F = engines.functions(engine)
        train_bias = self.bias is not None and self.bias.requires_grad
        dx, dw, db = F.conv2d_backward(dout, conv_cache, need_dx=need_dx,
                                       need_dw=self.weight.requires_grad, need_db=train_bias)
        if dw is not None:
            self.weight.grad += dw
        if db is not None:
            self.bias.grad += db
        if pad_cache is not None and dx is not None:
            dx = F.pad2d_backward(dx, pad_cache)
        return dx

    def _name(self) -> str:
        return f"Conv2d({self.in_channels}, {self.out_channels})"

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        if self.method != "auto":
            text += f", method={self.method!r}"
        return text
