"""Running layers in order, with Conv2d → BatchNorm2d (→ ReLU) as one convolution in inference.

``run_in_order(modules, x)`` is ``x = module(x)`` for each module in turn: what
``Sequential.forward`` and the residual blocks' branches do. One case is computed differently:
under the fast engine, in eval mode and inside ``minicnn.no_grad()``, a ``Conv2d`` directly
followed by a ``BatchNorm2d`` that normalises with its running statistics is one affine map,
so it runs as one convolution with folded weights (``minicnn.fast.fold``), and a ``ReLU``
directly after the norm is applied to that convolution's output in place. Four passes over
the output and two arrays fewer; equal to the layer-by-layer result up to rounding.

The folded weights are computed from the layers' current parameters and buffers at every call
and kept nowhere, so a stale fold cannot happen: an optimizer step, ``load_state_dict``,
``p.data[...] = ...`` or a training forward's new running statistics are used by the next
inference. A cache would need a fingerprint of the weights to stay fresh, and computing one
reads the weights as folding them does (figures in ``benchmarks/README.md``, "Folding batch
norm into the convolution"). State dict, parameters, buffers and training are untouched.

Computed layer by layer, as usual, are:

* everything under the reference engine (it is the code a student reads), with gradients
  enabled, with the convolution or the norm in training mode, or with
  ``minicnn.fast.tuning.FOLD_BATCH_NORM = False``;
* a layer whose ``forward`` is wrapped (``summary``, ``explain``, ``extract_features`` record
  a layer's output that way): each wrapped layer still sees its input and returns its output;
* subclasses (their forward may differ), a norm without running statistics (it uses the
  batch's in eval mode too), channels, dtypes or inputs that do not fit (the layers then
  raise their own errors), and layers where folding does not pay (``fold.fold_pays``).
"""

import functools

import numpy as np

from .. import engines
from .._grad_mode import is_grad_enabled
from ..fast import fold, tuning
from ..functional.conv import conv_output_size

__all__ = ["run_in_order"]


def run_in_order(modules, x):
    """``x`` through each of ``modules`` in turn (see the module docstring for the fold)."""
    if not _folding_is_on():
        for module in modules:
            x = module.forward(x)
        return x
    modules = tuple(modules)
    conv_type, norm_type, relu_type = _layer_types()
    i = 0
    while i < len(modules):
        module = modules[i]
        following = modules[i + 1] if i + 1 < len(modules) else None
        # Types first, by identity: the scan costs a model without the pattern next to nothing.
        if (type(module) is conv_type and type(following) is norm_type
                and _can_fold(module, following, x)):
            relu = i + 2 < len(modules) and _is_plain(modules[i + 2], relu_type)
            x = _folded_forward(module, following, x, relu)
            i += 3 if relu else 2
        else:
            x = module.forward(x)
            i += 1
    return x


def _folding_is_on() -> bool:
    return (tuning.FOLD_BATCH_NORM and not is_grad_enabled()
            and engines.get_engine() == "fast")


def _is_plain(module, kind) -> bool:
    """Exactly ``kind`` (not a subclass) and its forward not wrapped by a hook."""
    return type(module) is kind and "forward" not in module.__dict__


@functools.cache
def _layer_types() -> tuple:
    """(Conv2d, BatchNorm2d, ReLU), imported on first use: their modules import ``module.py``,
    whose ``Sequential`` imports this one."""
    from .activation import ReLU
    from .conv import Conv2d
    from .normalization import BatchNorm2d
    return Conv2d, BatchNorm2d, ReLU


def _can_fold(conv, norm, x) -> bool:
    conv_type, norm_type, _ = _layer_types()
    if not (_is_plain(conv, conv_type) and _is_plain(norm, norm_type)):
        return False
    if conv.training or norm._uses_batch_stats() or norm.running_var is None:
        return False
    weight = conv.weight.data
    if (norm.num_features != conv.out_channels or not isinstance(x, np.ndarray)
            or x.ndim != 4 or x.dtype != weight.dtype):
        return False
    norm_arrays = (norm.weight, norm.bias, norm.running_mean, norm.running_var)
    if any(a is not None and (a.dtype != weight.dtype or a.shape != (norm.num_features,))
           for a in norm_arrays):
        return False
    (top, bottom), (left, right) = conv._pads
    out_h = conv_output_size(x.shape[2], conv.kernel_size[0], conv.stride[0], (top, bottom),
                             conv.dilation[0])
    out_w = conv_output_size(x.shape[3], conv.kernel_size[1], conv.stride[1], (left, right),
                             conv.dilation[1])
    return fold.fold_pays((x.shape[0], conv.out_channels, out_h, out_w), weight.shape)


def _folded_forward(conv, norm, x, relu: bool):
    """``norm(conv(x))`` (then ReLU) as one convolution by the folded weight and bias."""
    weight, bias = fold.fold_conv_bn(
        conv.weight.data, None if conv.bias is None else conv.bias.data,
        None if norm.weight is None else norm.weight.data,
        None if norm.bias is None else norm.bias.data,
        norm.running_mean, norm.running_var, norm.eps)
    out, _ = conv._convolve(x, weight, bias)  # no_grad: nothing to keep for backward
    return fold.relu_in_place(out) if relu else out

