"""``ConvTranspose2d``, the learned upsampling layer (the adjoint of ``Conv2d``).

The math is in ``minicnn.functional.conv_transpose``, whose forward checks the input once, in
this layer's name; this class holds the parameters, calls the chosen engine and keeps the cache
between forward and backward.
"""

import math

import numpy as np

from .. import engines
from .._validation import as_pair, check_positive_int
from ..functional.conv_transpose import conv_transpose2d_output_size, conv_transpose2d_params
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["ConvTranspose2d"]


class ConvTranspose2d(Module):
    """2-D transposed convolution: the input-gradient of a ``Conv2d`` with the same weight.

    ``out[n, o, i·s − p + u·d, j·s − p + v·d] += x[n, c, i, j] · weight[c, o, u, v]``, plus
    ``bias[o]`` (see ``minicnn.functional.conv_transpose``). With kernel 2 and stride 2 (a
    U-Net's decoder) each input pixel becomes a 2×2 block of outputs.

    Args:
        in_channels, out_channels: channels C of the input and O of the output.
        kernel_size: int or (kh, kw).
        stride, padding, dilation: int or pair, those of the convolution it transposes (so
            ``padding`` *crops* the output). Defaults 1, 0, 1.
        output_padding: int or pair, extra rows/columns at the bottom/right, smaller than the
            stride or the dilation (PyTorch's rule); default 0.
        groups: C and O split into this many independent groups; both must divide by it.
        bias: learn an additive bias per output channel (default True).

    Shapes: input (N, C, H, W) → output (N, O, Ho, Wo) with
    ``Ho = (H − 1)·sh − 2·ph + dh·(kh − 1) + output_padding_h + 1`` (likewise Wo).
    Parameters: ``weight`` (C, O/groups, kh, kw) and ``bias`` (O,), float32, both drawn from
    U(−1/√fan_in, 1/√fan_in) with PyTorch's fan_in = weight.shape[1]·kh·kw = (O/groups)·kh·kw
    (PyTorch computes the fan from the weight's shape as for Conv2d, so for a transposed
    convolution it is the *output* channels').
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1):
        super().__init__()
        self.in_channels = check_positive_int("ConvTranspose2d", "in_channels", in_channels)
        self.out_channels = check_positive_int("ConvTranspose2d", "out_channels", out_channels)
        where = self._name()
        self.kernel_size = as_pair(where, "kernel_size", kernel_size, minimum=1)
        self.stride, self.padding, self.output_padding, self.dilation, self.groups = \
            conv_transpose2d_params(where, stride, padding, output_padding, dilation, groups)
        if in_channels % self.groups or out_channels % self.groups:
            raise ValueError(f"{where}: expected in_channels and out_channels divisible by "
                             f"groups={self.groups}, got {in_channels} and {out_channels}")
        kh, kw = self.kernel_size
        self.weight = Parameter(np.empty((in_channels, out_channels // self.groups, kh, kw),
                                         np.float32))
        if bias:
            self.bias = Parameter(np.empty(out_channels, np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weight and bias from U(−1/√fan_in, 1/√fan_in), fan_in = (O/groups)·kh·kw (PyTorch)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # its fan_in: weight.shape[1]·kh·kw
        if self.bias is not None:
            fan_in = self.weight.data.shape[1] * self.kernel_size[0] * self.kernel_size[1]
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: np.ndarray, output_size=None) -> np.ndarray:
        """``output_size`` (optional, as PyTorch): the wanted (Ho, Wo), or a longer sequence
        ending in them; it chooses the output padding for this call, in place of
        ``self.output_padding``, and must lie within ``stride − 1`` of the smallest size."""
        where = self._name()
        output_padding = self.output_padding
        if output_size is not None:
            output_padding = self._output_padding(x, output_size)
        F = engines.functions(engine := engines.get_engine())
        bias = None if self.bias is None else self.bias.data
        out, cache = F.conv_transpose2d_forward(
            x, self.weight.data, bias, self.stride, self.padding, output_padding, self.groups,
            self.dilation, where=where)
        self._save_for_backward((engine, cache), out, inputs={"input": x})
        return out

    def _output_padding(self, x, output_size) -> tuple[int, int]:
        """The output padding that gives ``output_size``; ValueError if none does (PyTorch)."""
        where = self._name()
        shape = getattr(x, "shape", ())
        wanted = tuple(output_size)[-2:]
        if len(wanted) != 2 or len(shape) != 4:
            raise ValueError(f"{where}: expected output_size (Ho, Wo) for an input (N, C, H, W),"
                             f" got output_size {output_size!r} and input shape {shape}")
        padding = []
        for axis, (size, want) in enumerate(zip(shape[2:], wanted, strict=True)):
            smallest = conv_transpose2d_output_size(size, self.kernel_size[axis],
                                                    self.stride[axis], self.padding[axis], 0,
                                                    self.dilation[axis])
            largest = smallest + self.stride[axis] - 1
            if not smallest <= want <= largest:
                raise ValueError(f"{where}: requested an output size of {tuple(wanted)}, but "
                                 f"valid sizes along axis {axis + 2} range from {smallest} to "
                                 f"{largest} (for an input of shape {shape})")
            padding.append(want - smallest)
        return tuple(padding)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        engine, cache = self._pop_cache(dout)  # checks dout's shape and dtype
        dx, dw, db = engines.functions(engine).conv_transpose2d_backward(dout, cache)
        if self.weight.requires_grad:
            self.weight.grad += dw
        if db is not None and self.bias.requires_grad:
            self.bias.grad += db
        return dx

    def _name(self) -> str:
        return f"ConvTranspose2d({self.in_channels}, {self.out_channels})"

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        for name, default in (("padding", (0, 0)), ("output_padding", (0, 0)),
                              ("dilation", (1, 1)), ("groups", 1)):
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        if self.bias is None:
            text += ", bias=False"
        return text
