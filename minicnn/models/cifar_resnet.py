"""The CIFAR-10 ResNets of He et al. 2016, Section 4.2: ResNet-20, 32, 44, 56 (and any 6n+2)."""

from .. import nn
from ._common import check_builder_args
from .pretrained import builder_kwargs, load_pretrained, pretrained_weights
from .resnet import ResNet

__all__ = ["cifar_resnet", "resnet20", "resnet32", "resnet44", "resnet56"]


def cifar_resnet(depth: int, num_classes: int = 10, in_channels: int = 3, input_size: int = 32,
                 plain: bool = False, shortcut: str = "A") -> ResNet:
    """A CIFAR ResNet of ``depth = 6n + 2`` layers (He et al. 2016, Sec. 4.2 and Table 6).

    ==========  ===================================  ==============  ==============
    module      layer                                output (32 px)  output (28 px)
    ==========  ===================================  ==============  ==============
    conv1, bn1  3×3 conv, 16, stride 1               16×32×32        16×28×28
    layer1      n BasicBlocks, 16 channels           16×32×32        16×28×28
    layer2      n BasicBlocks, 32, first stride 2    32×16×16        32×14×14
    layer3      n BasicBlocks, 64, first stride 2    64×8×8          64×7×7
    avgpool     global average pool                  64×1×1          64×1×1
    fc          Linear(64, num_classes)              10              10
    ==========  ===================================  ==============  ==============

    1 + 6n + 1 weighted layers: the first convolution, 2n in each stage, and ``fc``. The
    global average pool makes the same network work at 28 and 32 pixels (any size, in fact).

    Shortcuts are the paper's option A ("A"): identity, and where a stage halves the map and
    doubles the channels, every second pixel with zero channels appended. They hold no
    parameters, so ``plain=True`` (no shortcuts: the paper's plain-20 … plain-56 of Fig. 6)
    has exactly as many parameters. ``shortcut="B"`` puts 1×1 projections there instead.

    With 3 input channels and 10 classes, ``97,216·n − 21,926`` parameters: ResNet-20 269,722,
    ResNet-32 464,154, ResNet-44 658,586, ResNet-56 853,018, ResNet-110 1,727,962 (Table 6:
    0.27M, 0.46M, 0.66M, 0.85M, 1.7M).
    Initialisation as the ImageNet ResNets' (convolutions kaiming_normal_, fan_out).
    """
    arch = f"resnet{depth}_plain" if plain else f"resnet{depth}"
    check_builder_args(arch, num_classes, in_channels, input_size)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"cifar_resnet: expected depth = 6n + 2 (20, 32, 44, 56, 110, ...), "
                         f"got {depth!r}")
    n = (depth - 2) // 6
    model = ResNet(nn.BasicBlock, [n, n, n], num_classes, in_channels, widths=(16, 32, 64),
                   stem="small", shortcut=shortcut, plain=plain, arch=arch)
    model.config["input_size"] = input_size
    return model


def resnet20(num_classes: int = 10, in_channels: int = 3, input_size: int = 32,
             plain: bool = False, *, weights: str | None = None) -> ResNet:
    """ResNet-20 for CIFAR (He et al. 2016, Sec. 4.2): n = 3, 269,722 parameters (3 channels,
    10 classes). See ``cifar_resnet`` for the layer table; ``plain=True`` is plain-20.

    ``weights="fashion-mnist"`` loads the shipped weights of ``examples/train_fashion_resnet.py``
    (1 channel, 28×28, 10 classes; the arguments left at their defaults take these values; see
    ``models.pretrained_weights("resnet20", "fashion-mnist")`` for its test accuracy and the
    normalisation its inputs need)."""
    if weights is None:
        return cifar_resnet(20, num_classes, in_channels, input_size, plain)
    info = pretrained_weights("resnet20", weights)
    kwargs = builder_kwargs(info, {"num_classes": num_classes, "in_channels": in_channels,
                                   "input_size": input_size, "plain": plain},
                            {"num_classes": 10, "in_channels": 3, "input_size": 32,
                             "plain": False})
    return load_pretrained(cifar_resnet(20, **kwargs), "resnet20", weights)


def resnet32(num_classes: int = 10, in_channels: int = 3, input_size: int = 32,
             plain: bool = False) -> ResNet:
    """ResNet-32 for CIFAR (He et al. 2016, Sec. 4.2): n = 5, 464,154 parameters (3 channels,
    10 classes). See ``cifar_resnet`` for the layer table; ``plain=True`` is plain-32."""
    return cifar_resnet(32, num_classes, in_channels, input_size, plain)


def resnet44(num_classes: int = 10, in_channels: int = 3, input_size: int = 32,
             plain: bool = False) -> ResNet:
    """ResNet-44 for CIFAR (He et al. 2016, Sec. 4.2): n = 7, 658,586 parameters (3 channels,
    10 classes). See ``cifar_resnet`` for the layer table; ``plain=True`` is plain-44."""
    return cifar_resnet(44, num_classes, in_channels, input_size, plain)


def resnet56(num_classes: int = 10, in_channels: int = 3, input_size: int = 32,
             plain: bool = False) -> ResNet:
    """ResNet-56 for CIFAR (He et al. 2016, Sec. 4.2): n = 9, 853,018 parameters (3 channels,
    10 classes). See ``cifar_resnet`` for the layer table; ``plain=True`` is plain-56."""
    return cifar_resnet(56, num_classes, in_channels, input_size, plain)
