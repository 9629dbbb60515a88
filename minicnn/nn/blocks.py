"""Blocks built from layers: the residual blocks of ResNet and the Inception block of GoogLeNet.

Residual blocks (He et al. 2016, "Deep Residual Learning for Image Recognition")::

    x ──► F(x) ─────────────► (+) ──► ReLU ──► out        out = relu(F(x) + shortcut(x))
     └──────── shortcut(x) ────┘

    BasicBlock (ResNet-18/34, CIFAR ResNets), expansion 1:
        F = conv3×3(stride) → BN → ReLU → conv3×3 → BN                      planes → planes
    Bottleneck (ResNet-50/101/152), expansion 4:
        F = conv1×1 → BN → ReLU → conv3×3(stride) → BN → ReLU → conv1×1 → BN   → 4·planes

The shortcut is the identity when F keeps the shape. When F changes it (stride 2, more channels),
He et al. compare three shortcuts, chosen here with ``shortcut=``:

    "A"  parameter-free: take every stride-th pixel, append zero channels (the CIFAR ResNets);
    "B"  projection where the shape changes: 1×1 conv (stride s, no bias) + BN, as torchvision;
    "C"  projection on every block, even where the identity would fit.

``plain=True`` removes the shortcut (out = relu(F(x))): the "plain" network of the degradation
experiment, identical otherwise.

Attribute names follow torchvision (conv1, bn1, relu, conv2, bn2, conv3, bn3, downsample), so
state-dict keys match: ``layer2.0.downsample.0.weight``, ``layer2.0.downsample.1.running_mean``.
torchvision reuses one ``relu`` module several times; here each ReLU caches its own mask for
backward, so a block has one ReLU per use: ``relu`` (after bn1), ``relu2`` (after bn2 in the
bottleneck) and ``relu_out`` (after the sum). ReLUs hold no parameters, so the keys are unchanged.

``Concat`` runs branches on the same input and stacks their outputs along the channels;
``Inception`` is GoogLeNet's block (Szegedy et al. 2015, "Going Deeper with Convolutions") built
on it.
"""

from collections import OrderedDict

import numpy as np

from .._validation import check_dim, check_float_array, check_positive_int, check_rank
from ._fold import run_in_order
from .activation import ReLU
from .conv import Conv2d
from .module import Module, Sequential
from .normalization import BatchNorm2d
from .pooling import MaxPool2d

__all__ = ["BasicBlock", "Bottleneck", "Concat", "Inception", "ZeroPadShortcut"]

SHORTCUT_OPTIONS = ("A", "B", "C")


def _check_image_batch(where: str, x, channels: int) -> None:
    """The checks at a block boundary: a float (N, channels, H, W) array."""
    check_float_array(where, x)
    check_rank(where, x, 4, "(N, C, H, W)")
    check_dim(where, x, 1, channels, "channels", f"(N, {channels}, H, W)")


class ZeroPadShortcut(Module):
    """He et al.'s parameter-free shortcut "option A": subsample by ``stride``, pad channels.

    (N, in_channels, H, W) → (N, out_channels, ⌈H/s⌉, ⌈W/s⌉): pixel (i, j) of the output is pixel
    (s·i, s·j) of the input (the same grid a 3×3 convolution with stride s and padding 1 centres
    its windows on), and channels in_channels … out_channels−1 are zero.

    Backward: the gradient of the kept pixels and channels flows back unchanged; the skipped
    pixels and the padded channels received nothing, so their gradient is zero.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        where = "ZeroPadShortcut"
        self.in_channels = check_positive_int(where, "in_channels", in_channels)
        self.out_channels = check_positive_int(where, "out_channels", out_channels)
        self.stride = check_positive_int(where, "stride", stride)
        if out_channels < in_channels:
            raise ValueError(
                f"ZeroPadShortcut: zero-padding cannot reduce channels, got in_channels="
                f"{in_channels} > out_channels={out_channels}; use a projection shortcut "
                f"(shortcut='B')")

    def _name(self) -> str:
        return f"ZeroPadShortcut({self.in_channels}, {self.out_channels}, stride={self.stride})"

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"

    def forward(self, x):
        _check_image_batch(self._name(), x, self.in_channels)
        s = self.stride
        kept = x[:, :, ::s, ::s]
        n, c, h, w = kept.shape
        out = np.zeros((n, self.out_channels, h, w), dtype=x.dtype)
        out[:, :c] = kept
        self._save_for_backward(x.shape, out)
        return out

    def backward(self, dout):
        x_shape = self._pop_cache(dout)  # checks dout's shape and dtype
        s = self.stride
        dx = np.zeros(x_shape, dtype=dout.dtype)
        dx[:, :, ::s, ::s] = dout[:, :self.in_channels]
        return dx


class _ResidualBlock(Module):
    """What BasicBlock and Bottleneck share: the shortcut, the sum, and the boundary checks.

    A subclass registers its layers, then calls ``_init_shortcut``, and implements
    ``_residual_forward(x)`` and ``_residual_backward(dout)`` for the branch F.
    """

    expansion = 1

    def _check_args(self, in_planes, planes, stride, shortcut) -> None:
        where = type(self).__name__
        for name, value in (("in_planes", in_planes), ("planes", planes), ("stride", stride)):
            check_positive_int(where, name, value)
        if shortcut not in SHORTCUT_OPTIONS:
            raise ValueError(f"{where}: expected shortcut in {SHORTCUT_OPTIONS}, got {shortcut!r}")

    def _init_shortcut(self, in_planes, planes, stride, shortcut, downsample, plain) -> None:
        self.in_planes = in_planes
        self.planes = planes
        self.out_planes = planes * self.expansion
        self.stride = stride
        self.shortcut = shortcut
        self.plain = bool(plain)
        if plain and downsample is not None:
            raise ValueError(f"{self._name()}: a plain block has no shortcut, got a downsample")
        shape_changes = stride != 1 or in_planes != self.out_planes
        if downsample is None and not plain:
            if shortcut == "C" or (shortcut == "B" and shape_changes):
                downsample = Sequential(
                    Conv2d(in_planes, self.out_planes, kernel_size=1, stride=stride, bias=False),
                    BatchNorm2d(self.out_planes))
            elif shortcut == "A" and shape_changes:
                downsample = ZeroPadShortcut(in_planes, self.out_planes, stride)
        # None means the identity shortcut (or none at all if plain); None registers nothing.
        self.downsample = downsample
        self.relu_out = ReLU()

    def _name(self) -> str:
        return f"{type(self).__name__}({self.in_planes}, {self.planes}, stride={self.stride})"

    def extra_repr(self) -> str:
        text = f"{self.in_planes}, {self.planes}, stride={self.stride}"
        if self.plain:
            return text + ", plain=True"
        if self.shortcut != "B":
            text += f", shortcut={self.shortcut!r}"
        return text

    def forward(self, x):
        _check_image_batch(self._name(), x, self.in_planes)
        out = self._residual_forward(x)
        if not self.plain:
            identity = x if self.downsample is None else self.downsample(x)
            if identity.shape != out.shape:
                raise ValueError(
                    f"{self._name()}: the shortcut gives shape {identity.shape} but the residual "
                    f"branch F(x) gives {out.shape}; they must match to be added (pass a "
                    f"downsample that maps {self.in_planes} to {self.out_planes} channels with "
                    f"stride {self.stride})")
            out = out + identity
        out = self.relu_out(out)
        self._save_for_backward(None, out)  # the children keep the caches; this only the shape
        return out

    def backward(self, dout):
        self._pop_cache(dout)  # a wrong gradient is reported as the block's
        dsum = self.relu_out.backward(dout)
        dx = self._residual_backward(dsum)
        if self.plain:
            return dx
        # y = F(x) + x, so dy/dx = ∂F/∂x + 1: the upstream gradient reaches x twice, once through
        # F and once unchanged through the shortcut, and the two are added. The "+ 1" path is
        # why very deep residual networks still train: even where ∂F/∂x is tiny, the gradient
        # passes through the block undiminished.
        if self.downsample is None:
            return dx + dsum
        return dx + self.downsample.backward(dsum)


class BasicBlock(_ResidualBlock):
    """Two 3×3 convolutions with a shortcut (ResNet-18/34 and the CIFAR ResNets); expansion 1.

    ======  =========================================  =========================
    name    layer                                      output (input N×in×H×W)
    ======  =========================================  =========================
    conv1   Conv2d(in, planes, 3, stride, pad 1, no b)  N×planes×H/s×W/s
    bn1     BatchNorm2d(planes); relu
    conv2   Conv2d(planes, planes, 3, pad 1, no bias)  N×planes×H/s×W/s
    bn2     BatchNorm2d(planes)
    (+)     + downsample(x) or x; relu_out             N×planes×H/s×W/s
    ======  =========================================  =========================

    Args:
        in_planes: input channels.
        planes: output channels.
        stride: stride of conv1 (and of the shortcut); 2 halves the map.
        shortcut: "A" (zero-pad), "B" (projection where needed, the default) or "C" (always).
        downsample: a module for the shortcut, overriding ``shortcut`` (torchvision's argument).
        plain: no shortcut at all, out = relu(F(x)).
    """

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1, shortcut: str = "B",
                 downsample: Module | None = None, plain: bool = False):
        super().__init__()
        self._check_args(in_planes, planes, stride, shortcut)
        self.conv1 = Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = BatchNorm2d(planes)
        self.relu = ReLU()
        self.conv2 = Conv2d(planes, planes, kernel_size=3, padding=1, bias=False)
        self.bn2 = BatchNorm2d(planes)
        self._init_shortcut(in_planes, planes, stride, shortcut, downsample, plain)

    def _residual_forward(self, x):
        # self.relu(self.bn1(self.conv1(x))), then self.bn2(self.conv2(out)); run_in_order
        # folds each norm into its convolution in fast-engine inference (nn/_fold.py).
        out = run_in_order((self.conv1, self.bn1, self.relu), x)
        return run_in_order((self.conv2, self.bn2), out)

    def _residual_backward(self, dout):
        d = self.conv2.backward(self.bn2.backward(dout))
        return self.conv1.backward(self.bn1.backward(self.relu.backward(d)))


class Bottleneck(_ResidualBlock):
    """1×1 reduce, 3×3, 1×1 expand, with a shortcut (ResNet-50/101/152); expansion 4.

    The stride sits on the 3×3 convolution, as in torchvision ("ResNet v1.5"; the paper put it
    on the first 1×1, which skips three quarters of the pixels). Parameter counts are the same.

    ======  ============================================  ===================
    name    layer                                         output
    ======  ============================================  ===================
    conv1   Conv2d(in, planes, 1, no bias); bn1; relu     N×planes×H×W
    conv2   Conv2d(planes, planes, 3, stride, pad 1, nb)  N×planes×H/s×W/s
            bn2; relu2
    conv3   Conv2d(planes, 4·planes, 1, no bias); bn3     N×4·planes×H/s×W/s
    (+)     + downsample(x) or x; relu_out                N×4·planes×H/s×W/s
    ======  ============================================  ===================

    Arguments as for ``BasicBlock``; the block outputs ``4 * planes`` channels.
    """

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1, shortcut: str = "B",
                 downsample: Module | None = None, plain: bool = False):
        super().__init__()
        self._check_args(in_planes, planes, stride, shortcut)
        out_planes = planes * self.expansion
        self.conv1 = Conv2d(in_planes, planes, kernel_size=1, bias=False)
        self.bn1 = BatchNorm2d(planes)
        self.relu = ReLU()
        self.conv2 = Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = BatchNorm2d(planes)
        self.relu2 = ReLU()
        self.conv3 = Conv2d(planes, out_planes, kernel_size=1, bias=False)
        self.bn3 = BatchNorm2d(out_planes)
        self._init_shortcut(in_planes, planes, stride, shortcut, downsample, plain)

    def _residual_forward(self, x):
        # relu(bn1(conv1(x))), relu2(bn2(conv2(out))), bn3(conv3(out)); see BasicBlock.
        out = run_in_order((self.conv1, self.bn1, self.relu), x)
        out = run_in_order((self.conv2, self.bn2, self.relu2), out)
        return run_in_order((self.conv3, self.bn3), out)

    def _residual_backward(self, dout):
        d = self.conv3.backward(self.bn3.backward(dout))
        d = self.conv2.backward(self.bn2.backward(self.relu2.backward(d)))
        return self.conv1.backward(self.bn1.backward(self.relu.backward(d)))


class Concat(Module):
    """Run every branch on the same input and concatenate the outputs along the channels.

    ``Concat(b0, b1, ...)`` names the branches "0", "1", ...; ``Concat(OrderedDict(a=..., b=...))``
    keeps the names. Outputs (N, C_k, H, W) must agree in N, H and W; the result is
    (N, C_0 + C_1 + ..., H, W).

    Backward: each branch gets its own slice of ``dout`` (its channels), and since all branches
    read the same x, their input gradients add up: dL/dx = Σ_k ∂branch_k/∂x · dout_k.
    """

    def __init__(self, *branches):
        super().__init__()
        named = (branches[0].items() if len(branches) == 1 and isinstance(branches[0], dict)
                 else ((str(i), b) for i, b in enumerate(branches)))
        for name, branch in named:
            if not isinstance(branch, Module):
                raise TypeError(f"{type(self).__name__}: expected Module branches, got "
                                f"{type(branch).__name__} for branch {name!r}")
            self.add_module(name, branch)
        if not self._modules:
            raise ValueError(f"{type(self).__name__}: expected at least one branch")

    def forward(self, x):
        outputs = [branch(x) for branch in self._modules.values()]
        first_name, first = next(iter(self._modules)), outputs[0]
        for name, out in zip(self._modules, outputs, strict=True):
            if out.ndim != 4 or out.shape[0] != first.shape[0] or out.shape[2:] != first.shape[2:]:
                raise ValueError(
                    f"{self._name()}: branch {name!r} gives shape {out.shape}, which cannot be "
                    f"stacked along the channels with branch {first_name!r}'s {first.shape} "
                    f"(N, H and W must agree)")
        out = np.concatenate(outputs, axis=1)
        self._save_for_backward([branch_out.shape[1] for branch_out in outputs], out)
        return out

    def backward(self, dout):
        channels = self._pop_cache(dout)  # checked before it is cut into the branches' slices
        bounds = np.cumsum([0, *channels])
        dx = None
        for branch, start, stop in zip(self._modules.values(), bounds[:-1], bounds[1:],
                                       strict=True):
            d = branch.backward(dout[:, start:stop])
            dx = d if dx is None else dx + d
        return dx


def _conv_relu(in_channels: int, out_channels: int, kernel_size: int) -> list[Module]:
    """A 'same'-padded convolution and its ReLU (odd kernel sizes)."""
    return [Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2), ReLU()]


class Inception(Concat):
    """GoogLeNet's Inception block: four branches on the same input, stacked along the channels.

    ========  ==============================================  ===============
    name      layers (each conv followed by a ReLU)           output channels
    ========  ==============================================  ===============
    branch1   1×1 conv                                        ch1x1
    branch2   1×1 conv (reduce) → 3×3 conv, pad 1             ch3x3
    branch3   1×1 conv (reduce) → 5×5 conv, pad 2             ch5x5
    branch4   3×3 max-pool, stride 1, pad 1 → 1×1 conv        pool_proj
    ========  ==============================================  ===============

    Every branch keeps H×W, so the output is (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W). The
    1×1 "reduce" convolutions shrink the channels before the costly 3×3 and 5×5 ones. E.g.
    inception (3a) is ``Inception(192, 64, 96, 128, 16, 32, 32)``: 192 → 256 channels.

    Arguments are torchvision's; unlike torchvision (which adds BatchNorm and uses a 3×3 where
    the paper has the 5×5), this is the block as published: convolutions with bias, then ReLU.
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int,
                 ch5x5: int, pool_proj: int):
        sizes = (("in_channels", in_channels), ("ch1x1", ch1x1), ("ch3x3red", ch3x3red),
                 ("ch3x3", ch3x3), ("ch5x5red", ch5x5red), ("ch5x5", ch5x5),
                 ("pool_proj", pool_proj))
        for name, value in sizes:
            check_positive_int("Inception", name, value)
        super().__init__(OrderedDict(
            branch1=Sequential(*_conv_relu(in_channels, ch1x1, 1)),
            branch2=Sequential(*_conv_relu(in_channels, ch3x3red, 1),
                               *_conv_relu(ch3x3red, ch3x3, 3)),
            branch3=Sequential(*_conv_relu(in_channels, ch5x5red, 1),
                               *_conv_relu(ch5x5red, ch5x5, 5)),
            branch4=Sequential(MaxPool2d(3, stride=1, padding=1),
                               *_conv_relu(in_channels, pool_proj, 1)),
        ))
        self.in_channels = in_channels
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def _name(self) -> str:
        return f"Inception({self.in_channels} → {self.out_channels})"

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, out_channels={self.out_channels}"

    def forward(self, x):
        _check_image_batch(self._name(), x, self.in_channels)
        return super().forward(x)
