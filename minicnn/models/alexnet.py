"""AlexNet (Krizhevsky, Sutskever and Hinton 2012, "ImageNet Classification with Deep
Convolutional Neural Networks"), in torchvision's single-tower version."""

from collections import OrderedDict

from .. import nn
from ._common import SMALL_INPUT_MAX, check_builder_args, conv_output_size

__all__ = ["AlexNet", "alexnet"]


class AlexNet(nn.Sequential):
    """AlexNet: five convolutions, three max-pools, three fully connected layers with dropout.

    Children ``features``, ``avgpool``, ``flatten``, ``classifier``, numbered as in torchvision
    (``features.0.weight`` … ``features.10.weight``, ``classifier.1/4/6.weight``), so a
    torchvision state dict loads as is.

    ImageNet layout (input_size > 32; 224 gives torchvision's 61,100,840 parameters):

    ============  =====================================  ============  ============
    module        layer                                  output (224)  parameters
    ============  =====================================  ============  ============
    features.0    Conv2d(C, 64, 11, stride 4, pad 2)     64×55×55      23,296
    features.2    MaxPool2d(3, stride 2)                 64×27×27
    features.3    Conv2d(64, 192, 5, pad 2)              192×27×27     307,392
    features.5    MaxPool2d(3, stride 2)                 192×13×13
    features.6    Conv2d(192, 384, 3, pad 1)             384×13×13     663,936
    features.8    Conv2d(384, 256, 3, pad 1)             256×13×13     884,992
    features.10   Conv2d(256, 256, 3, pad 1)             256×13×13     590,080
    features.12   MaxPool2d(3, stride 2)                 256×6×6
    avgpool       AdaptiveAvgPool2d((6, 6))              256×6×6
    classifier    Dropout, Linear(9216, 4096), ReLU,     4096          37,752,832
                  Dropout, Linear(4096, 4096), ReLU,     4096          16,781,312
                  Linear(4096, num_classes)              1000          4,097,000
    ============  =====================================  ============  ============

    (each convolution and each hidden Linear is followed by a ReLU). The ImageNet layout needs
    input_size ≥ 63, the smallest image that survives the three pools.

    Small-image layout (input_size ≤ 32: CIFAR 32×32, MNIST 28×28). An 11×11 stride-4 filter
    would shrink a 32-pixel image to 7 pixels at once, so, keeping every module in its place
    (same indices, same channel widths):

    - features.0 is Conv2d(C, 64, 3, stride 1, pad 1);
    - the three max-pools are 2×2 with stride 2: 32 → 16 → 8 → 4 (28 → 14 → 7 → 3);
    - avgpool is AdaptiveAvgPool2d((1, 1)), a global average of the last 256 maps;
    - the classifier is 256 → 512 → 512 → num_classes (dropout kept): 4096-wide layers on 256
      features would hold about 7× the parameters of all the convolutions, for ten classes.

    That is 2,847,562 parameters with 3 input channels and 10 classes, at 28 and 32 pixels alike.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
                 dropout: float = 0.5):
        check_builder_args("alexnet", num_classes, in_channels, input_size)
        small = input_size <= SMALL_INPUT_MAX
        if small:
            conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, padding=1)
            pool_kernel, pool_stride, pooled, hidden = 2, 2, (1, 1), 512
        else:
            conv1 = nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2)
            pool_kernel, pool_stride, pooled, hidden = 3, 2, (6, 6), 4096
            _check_imagenet_input_size(input_size)
        features = nn.Sequential(
            conv1, nn.ReLU(), nn.MaxPool2d(pool_kernel, pool_stride),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(),
            nn.MaxPool2d(pool_kernel, pool_stride),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(),
            nn.MaxPool2d(pool_kernel, pool_stride),
        )
        classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(256 * pooled[0] * pooled[1], hidden), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )
        super().__init__(OrderedDict(features=features, avgpool=nn.AdaptiveAvgPool2d(pooled),
                                     flatten=nn.Flatten(), classifier=classifier))
        self.arch = "alexnet"
        self.config = dict(num_classes=num_classes, in_channels=in_channels,
                           input_size=input_size)

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self.config.items())


def _check_imagenet_input_size(input_size: int) -> None:
    size = conv_output_size(input_size, 11, stride=4, padding=2)
    for _ in range(3):  # three 3×3 stride-2 pools; the 3×3 convolutions between keep the size
        size = conv_output_size(size, 3, stride=2)
    if size < 1:
        raise ValueError(
            f"alexnet: input_size={input_size} is too small for the ImageNet layout (the third "
            f"max-pool would get an empty map; it needs input_size >= 63); input_size <= "
            f"{SMALL_INPUT_MAX} selects the small-image layout")


def alexnet(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
            dropout: float = 0.5) -> AlexNet:
    """AlexNet (Krizhevsky et al. 2012) as in torchvision; see ``AlexNet`` for the layer table.

    ``alexnet()`` has 61,100,840 parameters, exactly torchvision's ``alexnet()``; the state-dict
    keys are torchvision's. ``alexnet(10, input_size=32)`` is the small-image variant (2,847,562
    parameters). Layers keep PyTorch's default initialisation, as torchvision's AlexNet does.
    """
    return AlexNet(num_classes, in_channels, input_size, dropout)
