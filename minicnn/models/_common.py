"""What the builders share: argument checks, output-size arithmetic and weight initialisation.

The initialisers draw straight into each parameter's array, in its own dtype
(``Generator.standard_normal(out=...)``), so initialising a 400 MB float32 weight never makes an
800 MB float64 temporary of it; they draw from the library's generator (``minicnn.manual_seed``).
"""

import math

from .. import nn
from .._random import get_rng
from .._validation import check_positive_int

# Inputs of at most this many pixels (MNIST 28, CIFAR 32) get the small-image variant of the
# ImageNet architectures; larger ones get the published ImageNet layout.
SMALL_INPUT_MAX = 32


def check_builder_args(arch: str, num_classes, in_channels, input_size=None) -> None:
    """TypeError/ValueError naming the builder unless the sizes are positive integers."""
    sizes = [("num_classes", num_classes), ("in_channels", in_channels)]
    if input_size is not None:
        sizes.append(("input_size", input_size))
    for name, value in sizes:
        check_positive_int(arch, name, value)


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """``floor((size + 2·padding − kernel_size) / stride) + 1``, for convolution and pooling."""
    return (size + 2 * padding - kernel_size) // stride + 1


# -- initialisation (torchvision's schemes, drawn in the parameter's dtype) ----------------------
def normal_(param: nn.Parameter, std: float) -> None:
    """Fill with N(0, std²), drawn directly in the parameter's dtype (no float64 copy)."""
    get_rng().standard_normal(out=param.data, dtype=param.data.dtype)
    param.data *= std


def kaiming_normal_fan_out_(param: nn.Parameter) -> None:
    """He et al. 2015 for ReLU nets, mode "fan_out": N(0, 2 / (out_channels · kH · kW))."""
    fan_out = param.shape[0] * math.prod(param.shape[2:])
    normal_(param, math.sqrt(2.0 / fan_out))


def init_conv_bn_linear(model: nn.Module, linear_std: float | None) -> None:
    """torchvision's VGG/ResNet initialisation of every layer of ``model``.

    Conv2d: kaiming_normal_(mode="fan_out", nonlinearity="relu"), bias 0. BatchNorm2d: weight 1,
    bias 0. Linear: N(0, linear_std²) and bias 0 (VGG: 0.01); ``linear_std=None`` keeps the
    layer's default (ResNet keeps PyTorch's default for fc).
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            kaiming_normal_fan_out_(module.weight)
            if module.bias is not None:
                module.bias.data.fill(0)
        elif isinstance(module, nn.BatchNorm2d) and module.weight is not None:
            module.weight.data.fill(1)
            module.bias.data.fill(0)
        elif isinstance(module, nn.Linear) and linear_std is not None:
            normal_(module.weight, linear_std)
            if module.bias is not None:
                module.bias.data.fill(0)
