"""DenseNet (Huang, Liu, van der Maaten and Weinberger 2017, "Densely Connected Convolutional
Networks"): DenseNet-121/161/169/201 for ImageNet as torchvision builds them, and the paper's
DenseNet-BC for CIFAR (``densenet_bc``). The blocks are in ``minicnn.nn.dense``."""

import math
from collections import OrderedDict
from numbers import Real

from .. import nn
from ._common import SMALL_INPUT_MAX, check_builder_args, normal_

__all__ = ["DenseNet", "densenet121", "densenet161", "densenet169", "densenet201", "densenet_bc"]

STEMS = ("imagenet", "small", "cifar")


def _stem(stem: str, in_channels: int, num_init_features: int) -> "OrderedDict[str, nn.Module]":
    """The layers before the first dense block (torchvision's names)."""
    if stem == "imagenet":  # 7×7/2 conv and 3×3/2 max-pool: 224 → 56
        return OrderedDict(
            conv0=nn.Conv2d(in_channels, num_init_features, kernel_size=7, stride=2, padding=3,
                            bias=False),
            norm0=nn.BatchNorm2d(num_init_features), relu0=nn.ReLU(),
            pool0=nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    conv0 = nn.Conv2d(in_channels, num_init_features, kernel_size=3, padding=1, bias=False)
    if stem == "small":  # the ImageNet stem's layers, at stride 1 and without the pool
        return OrderedDict(conv0=conv0, norm0=nn.BatchNorm2d(num_init_features), relu0=nn.ReLU())
    return OrderedDict(conv0=conv0)  # "cifar": the paper's single 3×3 convolution


def init_densenet_(model: nn.Module) -> None:
    """torchvision's DenseNet initialisation ("official init from torch repo").

    Conv2d: ``kaiming_normal_`` with its defaults, N(0, 2 / fan_in), fan_in = in·kH·kW.
    BatchNorm2d: weight 1, bias 0. Linear: PyTorch's default weight, bias 0.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            normal_(module.weight, math.sqrt(2.0 / math.prod(module.weight.shape[1:])))
        elif isinstance(module, nn.BatchNorm2d):
            module.weight.data.fill(1)
            module.bias.data.fill(0)
        elif isinstance(module, nn.Linear):
            module.bias.data.fill(0)


class DenseNet(nn.Sequential):
    """A stem, dense blocks joined by transitions, BN-ReLU, global average pooling, Linear.

    Children, named as torchvision's so that state-dict keys match: ``features`` (``conv0``,
    ``norm0``, ``relu0``, ``pool0``, ``denseblock1``, ``transition1``, …, ``denseblockB``,
    ``normB+1``: ``norm5`` after four blocks), then ``relu``, ``avgpool``, ``flatten`` and
    ``classifier`` (torchvision applies those three as functions; they hold no parameters).

    Args:
        growth_rate: k, channels each dense layer adds.
        block_config: dense layers per block, e.g. (6, 12, 24, 16) for DenseNet-121.
        num_init_features: channels of conv0.
        bn_size: a dense layer's bottleneck has bn_size·k channels.
        drop_rate, drop_after: dropout, see ``nn.DenseLayer``; with drop_after="each_conv"
            the transitions also drop out after their conv.
        num_classes, in_channels: sizes of the output and the input.
        stem: "imagenet" (7×7/2 conv, BN, ReLU, 3×3/2 max-pool), "small" (3×3/1 conv, BN,
            ReLU: for 28- and 32-pixel images) or "cifar" (one 3×3 conv, the paper's CIFAR net).
        compression: θ, a transition maps c channels to ⌊θ·c⌋ (0.5: torchvision, DenseNet-BC).

    Initialisation as torchvision's (``init_densenet_``).
    """

    def __init__(self, growth_rate: int = 32, block_config=(6, 12, 24, 16),
                 num_init_features: int = 64, bn_size: int = 4, drop_rate: float = 0.0,
                 num_classes: int = 1000, in_channels: int = 3, stem: str = "imagenet",
                 compression: float = 0.5, drop_after: str = "layer", arch: str = "densenet"):
        check_builder_args(arch, num_classes, in_channels)
        if stem not in STEMS:
            raise ValueError(f"{arch}: expected stem in {STEMS}, got {stem!r}")
        if (isinstance(compression, bool) or not isinstance(compression, Real)
                or not 0 < compression <= 1):
            raise ValueError(f"{arch}: expected compression in (0, 1], got {compression!r}")
        block_config = tuple(block_config)
        if not block_config:
            raise ValueError(f"{arch}: expected at least one dense block, got block_config=()")
        features = _stem(stem, in_channels, num_init_features)
        transition_drop = drop_rate if drop_after == "each_conv" else 0.0
        channels = num_init_features
        for index, num_layers in enumerate(block_config, start=1):
            block = nn.DenseBlock(num_layers, channels, bn_size, growth_rate, drop_rate,
                                  drop_after)
            features[f"denseblock{index}"] = block
            channels = block.num_output_features
            if index < len(block_config):
                reduced = math.floor(compression * channels)
                features[f"transition{index}"] = nn.Transition(channels, reduced,
                                                               transition_drop)
                channels = reduced
        features[f"norm{len(block_config) + 1}"] = nn.BatchNorm2d(channels)
        super().__init__(OrderedDict(
            features=nn.Sequential(features), relu=nn.ReLU(),
            avgpool=nn.AdaptiveAvgPool2d((1, 1)), flatten=nn.Flatten(),
            classifier=nn.Linear(channels, num_classes)))
        init_densenet_(self)
        self.arch = arch
        self.config = dict(growth_rate=growth_rate, block_config=block_config,
                           num_init_features=num_init_features, num_classes=num_classes,
                           in_channels=in_channels, stem=stem)

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self.config.items())


def _imagenet_densenet(arch, growth_rate, block_config, num_init_features, num_classes,
                       in_channels, input_size, drop_rate) -> DenseNet:
    check_builder_args(arch, num_classes, in_channels, input_size)
    stem = "small" if input_size <= SMALL_INPUT_MAX else "imagenet"
    model = DenseNet(growth_rate, block_config, num_init_features, drop_rate=drop_rate,
                     num_classes=num_classes, in_channels=in_channels, stem=stem, arch=arch)
    model.config["input_size"] = input_size
    return model


def densenet121(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
                drop_rate: float = 0.0) -> DenseNet:
    """DenseNet-121 (Huang et al. 2017, Table 1): k = 32, blocks (6, 12, 24, 16), 7,978,856
    parameters.

    ===============  ======================================  ============  ===========
    module           layer                                   224 px        32 px
    ===============  ======================================  ============  ===========
    conv0 … pool0    7×7 conv, 64, stride 2; 3×3 max-pool,   64×56×56      64×32×32
                     stride 2 (32 px: 3×3 conv, stride 1,
                     no pool)
    denseblock1      [1×1 conv, 128; 3×3 conv, 32] × 6       256×56×56     256×32×32
    transition1      1×1 conv, 128; 2×2 avg-pool, stride 2   128×28×28     128×16×16
    denseblock2      [1×1 conv, 128; 3×3 conv, 32] × 12      512×28×28     512×16×16
    transition2      1×1 conv, 256; 2×2 avg-pool             256×14×14     256×8×8
    denseblock3      [1×1 conv, 128; 3×3 conv, 32] × 24      1024×14×14    1024×8×8
    transition3      1×1 conv, 512; 2×2 avg-pool             512×7×7       512×4×4
    denseblock4      [1×1 conv, 128; 3×3 conv, 32] × 16      1024×7×7      1024×4×4
    norm5, relu      BatchNorm, ReLU                         1024×7×7      1024×4×4
    avgpool          global average pool                     1024×1×1      1024×1×1
    classifier       Linear(1024, num_classes)               1000          10
    ===============  ======================================  ============  ===========

    Every convolution is preceded by BatchNorm and ReLU (pre-activation) and has no bias.
    121 = conv0 + 2·(6 + 12 + 24 + 16) dense-layer convs + 3 transition convs + classifier.
    input_size ≤ 32 selects the small stem (6,956,426 parameters with 3 channels and 10
    classes). ``drop_rate`` as torchvision: dropout after each dense layer.
    """
    return _imagenet_densenet("densenet121", 32, (6, 12, 24, 16), 64, num_classes, in_channels,
                              input_size, drop_rate)


def densenet161(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
                drop_rate: float = 0.0) -> DenseNet:
    """DenseNet-161 (Huang et al. 2017, Table 1): k = 48, blocks (6, 12, 36, 24), 96 channels in
    conv0, 28,681,000 parameters. The layout of ``densenet121`` (bottlenecks of 4k = 192
    channels), ending in 2208 channels."""
    return _imagenet_densenet("densenet161", 48, (6, 12, 36, 24), 96, num_classes, in_channels,
                              input_size, drop_rate)


def densenet169(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
                drop_rate: float = 0.0) -> DenseNet:
    """DenseNet-169 (Huang et al. 2017, Table 1): k = 32, blocks (6, 12, 32, 32), 14,149,480
    parameters. The layout of ``densenet121``, ending in 1664 channels."""
    return _imagenet_densenet("densenet169", 32, (6, 12, 32, 32), 64, num_classes, in_channels,
                              input_size, drop_rate)


def densenet201(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
                drop_rate: float = 0.0) -> DenseNet:
    """DenseNet-201 (Huang et al. 2017, Table 1): k = 32, blocks (6, 12, 48, 32), 20,013,928
    parameters. The layout of ``densenet121``, ending in 1920 channels."""
    return _imagenet_densenet("densenet201", 32, (6, 12, 48, 32), 64, num_classes, in_channels,
                              input_size, drop_rate)


def densenet_bc(depth: int = 100, growth_rate: int = 12, num_classes: int = 10,
                in_channels: int = 3, compression: float = 0.5,
                drop_rate: float = 0.0) -> DenseNet:
    """The paper's DenseNet-BC for 32×32 images (Huang et al. 2017, Sec. 3 and Table 2).

    n = (depth − 4) / 6 bottleneck layers per block; depth counts conv0, the 2n convolutions
    of each of the three blocks, the two transitions' convolutions and the classifier. With
    the defaults (depth 100, k = 12, n = 16; 3 channels, 10 classes): **769,162 parameters**
    (Table 2: 0.8M), 342 channels before the classifier.

    ===============  ======================================  ==============
    module           layer                                   output (32 px)
    ===============  ======================================  ==============
    conv0            3×3 conv, 2k = 24, stride 1             24×32×32
    denseblock1      [1×1 conv, 4k; 3×3 conv, k] × n         216×32×32
    transition1      BN-ReLU, 1×1 conv, θ·c = 108;           108×16×16
                     2×2 avg-pool, stride 2
    denseblock2      [1×1 conv, 4k; 3×3 conv, k] × n         300×16×16
    transition2      1×1 conv, 150; 2×2 avg-pool             150×8×8
    denseblock3      [1×1 conv, 4k; 3×3 conv, k] × n         342×8×8
    norm4, relu      BatchNorm, ReLU                         342×8×8
    avgpool          global average pool (8×8)               342×1×1
    classifier       Linear(342, num_classes)                10
    ===============  ======================================  ==============

    (Channels for the defaults.) Any input of at least 4×4 pixels works (the average pool is
    global). ``compression`` is θ; 1 gives DenseNet-B. ``drop_rate > 0`` puts dropout after
    every convolution but conv0, as the paper (which used 0.2 without data augmentation):
    after both convolutions of each dense layer and after each transition's convolution —
    not only after each dense layer, as torchvision's ``drop_rate`` does.
    Initialisation as torchvision's DenseNets.
    """
    arch = f"densenet_bc_{depth}_{growth_rate}"
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
        raise ValueError(f"densenet_bc: expected depth = 6n + 4 with n ≥ 1 (40, 100, 190, ...), "
                         f"got {depth!r}")
    n = (depth - 4) // 6
    return DenseNet(growth_rate, (n, n, n), 2 * growth_rate, bn_size=4, drop_rate=drop_rate,
                    num_classes=num_classes, in_channels=in_channels, stem="cifar",
                    compression=compression, drop_after="each_conv", arch=arch)
