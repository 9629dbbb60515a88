"""VGG (Simonyan and Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale Image
Recognition"): stacks of 3×3 convolutions, configurations A, B, D and E of the paper's Table 1."""

from collections import OrderedDict

from .. import nn
from ._common import SMALL_INPUT_MAX, check_builder_args, init_conv_bn_linear

__all__ = ["VGG", "vgg11", "vgg13", "vgg16", "vgg19"]

# The paper's Table 1: a number is a 3×3 convolution (padding 1) with that many output channels,
# each followed by ReLU (and BatchNorm before it in the _bn variants); "M" is a 2×2 max-pool.
CONFIGS = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],            # A
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],   # B
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",         # D
              512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",  # E
              512, 512, 512, 512, "M"],
}


def make_features(config: list, in_channels: int, batch_norm: bool,
                  input_size: int) -> nn.Sequential:
    """The convolutional part from a config list, numbered as torchvision numbers it.

    A max-pool is left out where the map is already 1×1 (only the last one at 28 pixels:
    28 → 14 → 7 → 3 → 1); it is the tail of the Sequential, so no index after it moves.
    """
    layers, channels, size = [], in_channels, input_size
    for item in config:
        if item == "M":
            if size >= 2:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                size //= 2
            continue
        layers.append(nn.Conv2d(channels, item, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(item))
        layers.append(nn.ReLU())
        channels = item
    return nn.Sequential(*layers)


class VGG(nn.Sequential):
    """VGG: ``features`` (3×3 convolutions and max-pools), ``avgpool``, ``flatten``,
    ``classifier``, numbered as in torchvision (``features.0.weight``, ``classifier.6.bias``).

    ImageNet layout (input_size > 32; 224 gives torchvision's counts), VGG-16 for example:

    ==========================  ==================  ===========  ============
    stage                       layers              output       parameters
    ==========================  ==================  ===========  ============
    input                                           3×224×224
    1                           2 × conv 64, pool   64×112×112   38,720
    2                           2 × conv 128, pool  128×56×56    221,440
    3                           3 × conv 256, pool  256×28×28    1,475,328
    4                           3 × conv 512, pool  512×14×14    5,899,776
    5                           3 × conv 512, pool  512×7×7      7,079,424
    avgpool                     adaptive (7, 7)     512×7×7
    classifier.0 / .3 / .6      Linear              4096 / 4096 / 1000
                                (each hidden one followed by ReLU, Dropout)   123,642,856
    ==========================  ==================  ===========  ============

    138,357,544 in all; VGG-11/13/19 differ in the number of convolutions per stage (Table 1:
    1-1-2-2-2, 2-2-2-2-2, 2-2-3-3-3, 2-2-4-4-4). Three quarters of the parameters sit in the
    first Linear layer, 25,088 × 4,096.

    Small-image layout (input_size ≤ 32): the five stages shrink a 32×32 image to 512×1×1
    (a 28×28 one too, with the fifth max-pool left out: 28 → 14 → 7 → 3 → 1), so ``avgpool`` is
    AdaptiveAvgPool2d((1, 1)) and the classifier is 512 → 512 → 512 → num_classes (ReLU and
    Dropout kept, indices unchanged), the head of the usual CIFAR VGGs. A 4096-wide head on 512
    features would add 19M parameters, more than all the convolutions, without information to
    use them on. VGG-16 then has 15,245,130 parameters (3 channels, 10 classes).

    Initialisation as torchvision's: convolutions kaiming_normal_(mode="fan_out",
    nonlinearity="relu") with bias 0, BatchNorm weight 1 and bias 0, Linear N(0, 0.01²) with
    bias 0.
    """

    def __init__(self, config: list, num_classes: int = 1000, in_channels: int = 3,
                 input_size: int = 224, batch_norm: bool = False, dropout: float = 0.5,
                 arch: str = "vgg"):
        check_builder_args(arch, num_classes, in_channels, input_size)
        small = input_size <= SMALL_INPUT_MAX
        pooled, hidden = ((1, 1), 512) if small else ((7, 7), 4096)
        features = make_features(config, in_channels, batch_norm, input_size)
        width = [item for item in config if item != "M"][-1]
        classifier = nn.Sequential(
            nn.Linear(width * pooled[0] * pooled[1], hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        super().__init__(OrderedDict(features=features, avgpool=nn.AdaptiveAvgPool2d(pooled),
                                     flatten=nn.Flatten(), classifier=classifier))
        init_conv_bn_linear(self, linear_std=0.01)
        self.arch = arch
        self.config = dict(num_classes=num_classes, in_channels=in_channels,
                           input_size=input_size, batch_norm=batch_norm)

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self.config.items())


def _vgg(name: str, num_classes, in_channels, input_size, batch_norm, dropout) -> VGG:
    arch = name + "_bn" if batch_norm else name
    return VGG(CONFIGS[name], num_classes, in_channels, input_size, batch_norm, dropout, arch)


def vgg11(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
          batch_norm: bool = False, dropout: float = 0.5) -> VGG:
    """VGG-11, configuration A: 8 convolutions + 3 Linear. See ``VGG`` for the layout.

    Parameters at 224 px, 1000 classes: 132,863,336 (torchvision's ``vgg11``); with
    ``batch_norm=True`` 132,868,840 (``vgg11_bn``).
    """
    return _vgg("vgg11", num_classes, in_channels, input_size, batch_norm, dropout)


def vgg13(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
          batch_norm: bool = False, dropout: float = 0.5) -> VGG:
    """VGG-13, configuration B: 10 convolutions + 3 Linear. See ``VGG`` for the layout.

    Parameters at 224 px, 1000 classes: 133,047,848 (torchvision's ``vgg13``); with
    ``batch_norm=True`` 133,053,736 (``vgg13_bn``).
    """
    return _vgg("vgg13", num_classes, in_channels, input_size, batch_norm, dropout)


def vgg16(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
          batch_norm: bool = False, dropout: float = 0.5) -> VGG:
    """VGG-16, configuration D: 13 convolutions + 3 Linear. See ``VGG`` for the layout.

    Parameters at 224 px, 1000 classes: 138,357,544 (torchvision's ``vgg16``); with
    ``batch_norm=True`` 138,365,992 (``vgg16_bn``).
    """
    return _vgg("vgg16", num_classes, in_channels, input_size, batch_norm, dropout)


def vgg19(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
          batch_norm: bool = False, dropout: float = 0.5) -> VGG:
    """VGG-19, configuration E: 16 convolutions + 3 Linear. See ``VGG`` for the layout.

    Parameters at 224 px, 1000 classes: 143,667,240 (torchvision's ``vgg19``); with
    ``batch_norm=True`` 143,678,248 (``vgg19_bn``).
    """
    return _vgg("vgg19", num_classes, in_channels, input_size, batch_norm, dropout)
