"""GoogLeNet (Szegedy et al. 2015, "Going Deeper with Convolutions"), torchvision's layout.

Module names, and so state-dict keys, are torchvision's (``conv1.conv.weight``,
``conv1.bn.running_mean``, ``inception3a.branch2.1.conv.weight``, ``aux1.conv.conv.weight``,
``aux1.fc1.weight``, ``fc.bias``), so a torchvision state dict loads with ``strict=True``.

A model with several outputs: in training mode with ``aux_logits=True`` the forward returns
``GoogLeNetOutputs(logits, aux_logits2, aux_logits1)`` (torchvision's namedtuple and order: the
main classifier, the head after inception4d, the head after inception4a); in eval mode, or
without the heads, the logits only. ``backward`` takes what the forward returned, in gradients:
a ``GoogLeNetOutputs`` (or any tuple of 3, ``None`` for an output that is not used) or one
array. ``nn.MultiOutputLoss()`` (weights 1.0, 0.3, 0.3, the paper's) gives that tuple.
"""

from collections import OrderedDict, namedtuple

import numpy as np

from .. import nn
from .._validation import check_dim, check_float_array, check_gradient, check_rank
from ._common import SMALL_INPUT_MAX, check_builder_args, normal_

__all__ = ["BasicConv2d", "GoogLeNet", "GoogLeNetOutputs", "Inception", "InceptionAux",
           "googlenet", "googlenet_small"]

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])

# (in, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj) of each block (the paper's Table 1)
INCEPTION_SIZES = OrderedDict(
    inception3a=(192, 64, 96, 128, 16, 32, 32),
    inception3b=(256, 128, 128, 192, 32, 96, 64),
    inception4a=(480, 192, 96, 208, 16, 48, 64),
    inception4b=(512, 160, 112, 224, 24, 64, 64),
    inception4c=(512, 128, 128, 256, 24, 64, 64),
    inception4d=(512, 112, 144, 288, 32, 64, 64),
    inception4e=(528, 256, 160, 320, 32, 128, 128),
    inception5a=(832, 256, 160, 320, 32, 128, 128),
    inception5b=(832, 384, 192, 384, 48, 128, 128),
)
AUX_TAPS = {"inception4a": "aux1", "inception4d": "aux2"}  # the heads read these outputs

# transform_input: torchvision's pretrained weights expect inputs normalised with mean 0.5 and
# std 0.5; this maps ImageNet-normalised input to that, per channel: x·(std/0.5) + (mean−0.5)/0.5
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class BasicConv2d(nn.Sequential):
    """torchvision's convolution unit: Conv2d without bias → BatchNorm2d(eps=0.001) → ReLU.

    Children ``conv``, ``bn`` (keys ``conv.weight``, ``bn.weight``, ``bn.running_mean`` ...)
    and ``relu`` (no parameters). ``kwargs`` go to ``Conv2d`` (kernel_size, stride, padding).
    """

    def __init__(self, in_channels: int, out_channels: int, **kwargs):
        super().__init__(OrderedDict(
            conv=nn.Conv2d(in_channels, out_channels, bias=False, **kwargs),
            bn=nn.BatchNorm2d(out_channels, eps=0.001),
            relu=nn.ReLU()))


class Inception(nn.Concat):
    """torchvision's Inception block: four branches of ``BasicConv2d``, stacked along channels.

    ========  ======================================================  ===============
    name      layers                                                  output channels
    ========  ======================================================  ===============
    branch1   BasicConv2d 1×1                                         ch1x1
    branch2   BasicConv2d 1×1 (reduce) → BasicConv2d 3×3, pad 1       ch3x3
    branch3   BasicConv2d 1×1 (reduce) → BasicConv2d **3×3**, pad 1   ch5x5
    branch4   MaxPool2d(3, 1, 1, ceil_mode=True) → BasicConv2d 1×1    pool_proj
    ========  ======================================================  ===============

    Branch 3 has a 3×3 convolution where the paper has a 5×5: torchvision's known deviation
    (pytorch/vision issue 906), kept here so that keys, shapes and the parameter count match
    torchvision's weights. ``nn.Inception`` is the block as published (5×5, bias, no BN).
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int,
                 ch5x5: int, pool_proj: int):
        super().__init__(OrderedDict(
            branch1=BasicConv2d(in_channels, ch1x1, kernel_size=1),
            branch2=nn.Sequential(BasicConv2d(in_channels, ch3x3red, kernel_size=1),
                                  BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1)),
            branch3=nn.Sequential(BasicConv2d(in_channels, ch5x5red, kernel_size=1),
                                  BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1)),
            branch4=nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                  BasicConv2d(in_channels, pool_proj, kernel_size=1)),
        ))
        self.in_channels = in_channels
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def _name(self) -> str:
        return f"Inception({self.in_channels} → {self.out_channels})"

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, out_channels={self.out_channels}"

    def forward(self, x):
        _check_images(self._name(), x, self.in_channels)
        return super().forward(x)


class InceptionAux(nn.Sequential):
    """An auxiliary classifier (the paper's section 5, torchvision's layout).

    =======  ==================================  ===========================
    name     layer                               output (input N×C×14×14)
    =======  ==================================  ===========================
    avgpool  AdaptiveAvgPool2d((4, 4))           N×C×4×4
    conv     BasicConv2d(C, 128, 1)              N×128×4×4
    flatten  Flatten                             N×2048
    fc1      Linear(2048, 1024); relu            N×1024
    dropout  Dropout(dropout), 0.7 by default    N×1024
    fc2      Linear(1024, num_classes)           N×num_classes
    =======  ==================================  ===========================

    The paper pools 5×5 with stride 3 (14 → 4); adaptive pooling gives 4×4 from any size.
    ``conv_channels`` and ``hidden`` (128 and 1024) shrink with GoogLeNet's ``width_mult``.
    """

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7,
                 conv_channels: int = 128, hidden: int = 1024):
        super().__init__(OrderedDict(
            avgpool=nn.AdaptiveAvgPool2d((4, 4)),
            conv=BasicConv2d(in_channels, conv_channels, kernel_size=1),
            flatten=nn.Flatten(),
            fc1=nn.Linear(conv_channels * 16, hidden),
            relu=nn.ReLU(),
            dropout=nn.Dropout(dropout),
            fc2=nn.Linear(hidden, num_classes)))
        self.in_channels = in_channels

    def _name(self) -> str:
        return f"InceptionAux({self.in_channels})"

    def forward(self, x):
        _check_images(self._name(), x, self.in_channels)
        return super().forward(x)


def _check_images(where: str, x, channels: int) -> None:
    check_float_array(where, x)
    check_rank(where, x, 4, "(N, C, H, W)")
    check_dim(where, x, 1, channels, "channels", f"(N, {channels}, H, W)")


def _scaled(channels: int, width_mult: float) -> int:
    return max(1, round(channels * width_mult))


class GoogLeNet(nn.Module):
    """GoogLeNet: a stem, nine Inception blocks, global average pooling, dropout, one Linear;
    two auxiliary classifiers in training (see ``googlenet`` for the table).

    Args:
        num_classes, aux_logits, transform_input, init_weights, dropout, dropout_aux:
            torchvision's (see ``googlenet``).
        in_channels: input channels (3; torchvision has no such argument).
        stem: "imagenet" (7×7/2 conv, 3×3/2 max-pool, 224 → 56) or "small" (3×3/1 conv and no
            max-pool, for 28- and 32-pixel images).
        width_mult: every channel count times this (rounded, at least 1); 1.0 is GoogLeNet.
        arch: the name recorded in ``model.arch``.
    """

    def __init__(self, num_classes: int = 1000, aux_logits: bool = True,
                 transform_input: bool = False, init_weights: bool = True,
                 dropout: float = 0.2, dropout_aux: float = 0.7, in_channels: int = 3,
                 stem: str = "imagenet", width_mult: float = 1.0, arch: str = "googlenet"):
        super().__init__()
        check_builder_args(arch, num_classes, in_channels)
        if stem not in ("imagenet", "small"):
            raise ValueError(f"{arch}: expected stem 'imagenet' or 'small', got {stem!r}")
        if not isinstance(width_mult, (int, float)) or not width_mult > 0:
            raise ValueError(f"{arch}: expected width_mult > 0, got {width_mult!r}")
        if transform_input and in_channels != 3:
            raise ValueError(f"{arch}: transform_input=True re-normalises 3 RGB channels, got "
                             f"in_channels={in_channels}")

        def w(channels: int) -> int:
            return _scaled(channels, width_mult)

        self.aux_logits = bool(aux_logits)
        self.transform_input = bool(transform_input)
        self.in_channels = in_channels
        self.arch = arch

        if stem == "imagenet":
            self.conv1 = BasicConv2d(in_channels, w(64), kernel_size=7, stride=2, padding=3)
            self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        else:
            self.conv1 = BasicConv2d(in_channels, w(64), kernel_size=3, padding=1)
        self.conv2 = BasicConv2d(w(64), w(64), kernel_size=1)
        self.conv3 = BasicConv2d(w(64), w(192), kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        channels = w(192)
        for name, (_, *sizes) in INCEPTION_SIZES.items():
            # each block reads what the one before gives (scaled widths need not add up)
            setattr(self, name, Inception(channels, *(w(c) for c in sizes)))
            channels = getattr(self, name).out_channels
            if name == "inception3b":
                self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
            elif name == "inception4e":
                self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        if self.aux_logits:
            for tap, head in AUX_TAPS.items():
                setattr(self, head, InceptionAux(getattr(self, tap).out_channels, num_classes,
                                                 dropout_aux, w(128), w(1024)))
        else:
            self.aux1 = None
            self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.inception5b.out_channels, num_classes)
        # the main path in forward order; the heads are not on it
        object.__setattr__(self, "_trunk", [name for name in self._modules
                                            if name not in ("aux1", "aux2")])
        if init_weights:
            self._initialize_weights()
        self.config = dict(num_classes=num_classes, aux_logits=self.aux_logits,
                           transform_input=self.transform_input, in_channels=in_channels,
                           stem=stem, width_mult=width_mult)

    def _initialize_weights(self) -> None:
        """torchvision's: every Conv2d and Linear weight from N(0, 0.01²) truncated to [−2, 2]
        (bounds 200 standard deviations out, so a plain normal draw); BatchNorm weight 1,
        bias 0; Linear biases keep PyTorch's default."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                normal_(module.weight, 0.01)
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.data.fill(1)
                module.bias.data.fill(0)

    def _name(self) -> str:
        return self.arch

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self.config.items())

    # -- forward ---------------------------------------------------------------------------
    def _transform(self, x):
        scale = np.array([s / 0.5 for s in _IMAGENET_STD], x.dtype).reshape(1, 3, 1, 1)
        shift = np.array([(m - 0.5) / 0.5 for m in _IMAGENET_MEAN], x.dtype).reshape(1, 3, 1, 1)
        return x * scale + shift, scale

    def forward(self, x):
        """``GoogLeNetOutputs(logits, aux_logits2, aux_logits1)`` in training mode with the
        heads; the logits (N, num_classes) otherwise."""
        _check_images(self._name(), x, self.in_channels)
        input_shape = x.shape
        if self.transform_input:
            x, _ = self._transform(x)
        with_heads = self.training and self.aux_logits
        head_outputs = {}
        for name in self._trunk:
            x = getattr(self, name)(x)
            if with_heads and name in AUX_TAPS:
                head = AUX_TAPS[name]
                head_outputs[head] = getattr(self, head)(x)
        if not with_heads:
            self._save_for_backward((False, None, input_shape), x)
            return x
        outputs = GoogLeNetOutputs(x, head_outputs["aux2"], head_outputs["aux1"])
        expected = [(out.shape, out.dtype) for out in outputs]
        self._save_for_backward((True, expected, input_shape))
        return outputs

    # -- backward --------------------------------------------------------------------------
    def backward(self, grads):
        """dL/dx from the gradients of what forward returned (see the module docstring)."""
        return self._backward(grads, params_only=False)

    def backward_params(self, grads) -> None:
        """``backward`` without the input gradient (the first convolution skips it)."""
        self._backward(grads, params_only=True)

    def _backward(self, grads, params_only: bool):
        if self._cache is None:
            self._pop_cache()  # the usual error: backward needs a forward first
        with_heads, expected, input_shape = self._cache[0]
        if with_heads:
            grads = self._check_output_grads(grads, expected)
            self._pop_cache()
        else:
            if isinstance(grads, (tuple, list)):
                raise TypeError(
                    f"{self._name()}: the last forward returned the logits only (eval mode or "
                    f"aux_logits=False), so backward expects one gradient array, got a "
                    f"{type(grads).__name__} of {len(grads)}")
            self._pop_cache(grads)
            grads = (grads, None, None)
        d, head_grads = grads[0], {"aux2": grads[1], "aux1": grads[2]}
        for index in reversed(range(len(self._trunk))):
            name = self._trunk[index]
            head = AUX_TAPS.get(name)
            if head is not None and head_grads[head] is not None:
                # the head read this block's output: its gradient joins the main path's
                d_head = getattr(self, head).backward(head_grads[head])
                d = d_head if d is None else d + d_head
            if d is None:
                continue  # no gradient reaches this block yet
            module = getattr(self, name)
            if index == 0 and params_only:
                module.backward_params(d)
                return None
            d = module.backward(d)
        if params_only:
            return None
        if d is None:  # every gradient was None
            return np.zeros(input_shape, expected[0][1])
        if self.transform_input:
            d = d * self._transform(d)[1]
        return d

    def _check_output_grads(self, grads, expected):
        fields = ", ".join(GoogLeNetOutputs._fields)
        if not isinstance(grads, (tuple, list)):
            raise TypeError(
                f"{self._name()}: the last forward (training mode, aux_logits=True) returned 3 "
                f"outputs GoogLeNetOutputs({fields}), so backward expects a tuple of 3 "
                f"gradients (None for an output that is not used), got {type(grads).__name__}; "
                f"nn.MultiOutputLoss gives that tuple, and model.eval() returns the logits only")
        if len(grads) != 3:
            raise ValueError(
                f"{self._name()}: expected 3 gradients for the outputs ({fields}), got a "
                f"{type(grads).__name__} of {len(grads)}")
        for field, grad, (shape, dtype) in zip(GoogLeNetOutputs._fields, grads, expected,
                                               strict=True):
            if grad is not None:
                check_gradient(f"{self._name()} ({field})", grad, shape, dtype)
        return tuple(grads)


def googlenet(num_classes: int = 1000, aux_logits: bool = True, transform_input: bool = False,
              init_weights: bool = True, dropout: float = 0.2, dropout_aux: float = 0.7, *,
              in_channels: int = 3, input_size: int = 224) -> GoogLeNet:
    """GoogLeNet (Szegedy et al. 2015, Table 1) as torchvision builds it; 13,004,888 parameters
    with the auxiliary heads, 6,624,904 without (1000 classes).

    ===========  ===============================================  ============  =========
    module       layer                                            224 px        32 px
    ===========  ===============================================  ============  =========
    conv1        BasicConv2d 7×7, 64, stride 2, pad 3             64×112×112    64×32×32
                 (32 px: 3×3, stride 1, pad 1)
    maxpool1     3×3, stride 2, ceil (32 px: none)                64×56×56      —
    conv2        BasicConv2d 1×1, 64                              64×56×56      64×32×32
    conv3        BasicConv2d 3×3, 192, pad 1                      192×56×56     192×32×32
    maxpool2     3×3, stride 2, ceil                              192×28×28     192×16×16
    inception3a  Inception(192, 64, 96, 128, 16, 32, 32)          256×28×28     256×16×16
    inception3b  Inception(256, 128, 128, 192, 32, 96, 64)        480×28×28     480×16×16
    maxpool3     3×3, stride 2, ceil                              480×14×14     480×8×8
    inception4a  Inception(480, 192, 96, 208, 16, 48, 64)         512×14×14     512×8×8
    aux1         InceptionAux(512) on inception4a's output        num_classes
    inception4b  Inception(512, 160, 112, 224, 24, 64, 64)        512×14×14     512×8×8
    inception4c  Inception(512, 128, 128, 256, 24, 64, 64)        512×14×14     512×8×8
    inception4d  Inception(512, 112, 144, 288, 32, 64, 64)        528×14×14     528×8×8
    aux2         InceptionAux(528) on inception4d's output        num_classes
    inception4e  Inception(528, 256, 160, 320, 32, 128, 128)      832×14×14     832×8×8
    maxpool4     2×2, stride 2, ceil                              832×7×7       832×4×4
    inception5a  Inception(832, 256, 160, 320, 32, 128, 128)      832×7×7       832×4×4
    inception5b  Inception(832, 384, 192, 384, 48, 128, 128)      1024×7×7      1024×4×4
    avgpool      global average pool; flatten                     1024          1024
    dropout      Dropout(dropout), 0.2                            1024          1024
    fc           Linear(1024, num_classes)                        num_classes
    ===========  ===============================================  ============  =========

    At 28 px the maps are 28, 14, 7 and 4. Inception(in, ch1x1, ch3x3red, ch3x3, ch5x5red,
    ch5x5, pool_proj); the "5×5" branch is a 3×3 convolution, as in torchvision (see
    ``Inception``). Every convolution is a ``BasicConv2d`` (no bias, BatchNorm eps 0.001,
    ReLU): torchvision's, where the paper (2014, before BatchNorm) had biases.

    Args:
        num_classes: outputs of ``fc`` and of the heads' ``fc2``.
        aux_logits: build the two auxiliary classifiers (aux1, aux2), used in training mode.
        transform_input: re-normalise ImageNet-normalised RGB input as torchvision's
            pretrained weights expect (mean 0.5, std 0.5 per channel).
        init_weights: torchvision's initialisation (N(0, 0.01²) for Conv2d and Linear weights);
            False keeps PyTorch's defaults.
        dropout, dropout_aux: before ``fc`` and inside each head (0.2 and 0.7, torchvision's).
        in_channels: input channels (keyword only; torchvision has 3).
        input_size: ≤ 32 selects the small stem (``googlenet_small``); only ``conv1``'s
            parameters change (3×3 instead of 7×7).

    In training mode with the heads, the forward returns ``GoogLeNetOutputs(logits,
    aux_logits2, aux_logits1)``; in eval mode the logits. Train it with
    ``nn.MultiOutputLoss()`` (the paper's weights 1.0, 0.3, 0.3).
    """
    check_builder_args("googlenet", num_classes, in_channels, input_size)
    stem = "small" if input_size <= SMALL_INPUT_MAX else "imagenet"
    model = GoogLeNet(num_classes, aux_logits, transform_input, init_weights, dropout,
                      dropout_aux, in_channels=in_channels, stem=stem)
    model.config["input_size"] = input_size
    return model


def googlenet_small(num_classes: int = 10, in_channels: int = 1, aux_logits: bool = True,
                    width_mult: float = 1.0, init_weights: bool = True, dropout: float = 0.2,
                    dropout_aux: float = 0.7) -> GoogLeNet:
    """GoogLeNet for 28×28 (MNIST) and 32×32 (CIFAR) images: the small stem, the rest as
    ``googlenet`` (see its table, column 32 px).

    ``conv1`` is a 3×3 stride-1 convolution and ``maxpool1`` is gone, so inception3 sees
    16×16 (14×14 at 28 px) instead of 28×28 and the heads read 8×8 (7×7) maps, pooled to 4×4
    as in the full net. Parameters: 9,951,806 with the heads and 5,601,322 without (1 input
    channel, 10 classes; 3 channels: 9,952,958 and 5,602,474). ``width_mult`` scales every
    channel count, the heads' 128 and 1024 included: ``width_mult=0.125`` gives 160,822
    parameters with the heads (1 channel, 10 classes), a net small enough to train on MNIST
    with NumPy.
    """
    return GoogLeNet(num_classes, aux_logits, False, init_weights, dropout, dropout_aux,
                     in_channels=in_channels, stem="small", width_mult=width_mult,
                     arch="googlenet_small")
