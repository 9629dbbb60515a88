"""AlexNet (Krizhevsky, Sutskever and Hinton 2012, "ImageNet Classification with Deep
Convolutional Neural Networks"): torchvision's single-tower version (the default) and the
paper's own net with local response normalisation and two groups (``variant="2012"``)."""

from collections import OrderedDict

from .. import nn
from ._common import SMALL_INPUT_MAX, check_builder_args, conv_output_size

__all__ = ["AlexNet", "AlexNet2012", "alexnet"]

VARIANTS = ("torchvision", "2012")
MIN_INPUT_2012 = 67  # the smallest image whose third pool is not empty (see AlexNet2012)


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


class AlexNet2012(nn.Sequential):
    """The 2012 paper's AlexNet: the two-GPU net written as one, with ``groups=2`` where the
    GPUs did not talk to each other, and local response normalisation.

    Children ``features``, ``avgpool``, ``flatten``, ``classifier``, as in ``AlexNet``:

    ============  ==============================================  =========  ===========
    module        layer                                           output     parameters
    ============  ==============================================  =========  ===========
    features.0    Conv2d(3, 96, 11, stride 4) + ReLU              96×55×55       34,944
    features.2    LocalResponseNorm(5, 1e-4, 0.75, k=2)           96×55×55
    features.3    MaxPool2d(3, stride 2)                          96×27×27
    features.4    Conv2d(96, 256, 5, pad 2, groups 2) + ReLU      256×27×27     307,456
    features.6    LocalResponseNorm(5, 1e-4, 0.75, k=2)           256×27×27
    features.7    MaxPool2d(3, stride 2)                          256×13×13
    features.8    Conv2d(256, 384, 3, pad 1) + ReLU               384×13×13     885,120
    features.10   Conv2d(384, 384, 3, pad 1, groups 2) + ReLU     384×13×13     663,936
    features.12   Conv2d(384, 256, 3, pad 1, groups 2) + ReLU     256×13×13     442,624
    features.14   MaxPool2d(3, stride 2)                          256×6×6
    avgpool       AdaptiveAvgPool2d((6, 6)) (identity at 227)     256×6×6
    classifier.0  Linear(9216, 4096) + ReLU + Dropout(0.5)        4096       37,752,832
    classifier.3  Linear(4096, 4096) + ReLU + Dropout(0.5)        4096       16,781,312
    classifier.6  Linear(4096, 1000)                              1000        4,097,000
    ============  ==============================================  =========  ===========

    60,965,224 parameters with 3 input channels and 1000 classes (the figure of Caffe's
    reference AlexNet, which has the same layers); torchvision's variant has 61,100,840.

    Choices, and why:

    - **Input 227×227, no padding.** The paper says 224, but an unpadded 11×11 stride-4
      convolution then gives (224 − 11)/4 + 1 = 54.25, not the 55 of its figure; 227 gives 55
      exactly, then 27, 13 and 6 (Caffe's choice). torchvision keeps 224 and pads by 2 instead.
      Other sizes from 67 up work: ``avgpool`` brings the last maps to 6×6, as in torchvision.
    - **groups=2** in conv2, conv4 and conv5: there each GPU's kernels saw only the maps of
      their own GPU (conv3 and the fully connected layers saw both). One grouped convolution
      is the two halves side by side: the same weights, the same numbers.
    - **LRN after the ReLU** of conv1 and conv2, before their pools, as in the paper's section
      3.3 and 3.5. Its constants are n = 5, α = 1e-4, β = 0.75, k = 2 in PyTorch's (and Caffe's)
      form, which divides α by n; the paper's formula does not, so the paper read literally is
      ``LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2)`` (pass ``lrn_alpha=5e-4``).
    - **Dropout on the outputs** of the first two fully connected layers ("we use dropout in
      the first two fully-connected layers", as Caffe's reference places it); torchvision drops
      their inputs instead.
    - PyTorch's default initialisation, as the other builders; the paper's N(0, 0.01) weights
      with biases of 1 in conv2, conv4, conv5 and the hidden fully connected layers are not
      applied.
    """

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, input_size: int = 227,
                 dropout: float = 0.5, lrn_alpha: float = 1e-4):
        check_builder_args("alexnet", num_classes, in_channels, input_size)
        _check_2012_input_size(input_size)

        def lrn():
            return nn.LocalResponseNorm(5, alpha=lrn_alpha, beta=0.75, k=2.0)

        features = nn.Sequential(
            nn.Conv2d(in_channels, 96, kernel_size=11, stride=4), nn.ReLU(), lrn(),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=2), nn.ReLU(), lrn(),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(256, 384, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=2), nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=2), nn.ReLU(),
            nn.MaxPool2d(3, 2),
        )
        classifier = nn.Sequential(
            nn.Linear(256 * 6 * 6, 4096), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(4096, num_classes),
        )
        super().__init__(OrderedDict(features=features, avgpool=nn.AdaptiveAvgPool2d((6, 6)),
                                     flatten=nn.Flatten(), classifier=classifier))
        self.arch = "alexnet"
        self.config = dict(num_classes=num_classes, in_channels=in_channels,
                           input_size=input_size, variant="2012")

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self.config.items())


def _check_2012_input_size(input_size: int) -> None:
    size = conv_output_size(input_size, 11, stride=4)
    for _ in range(3):  # three 3×3 stride-2 pools; the convolutions between keep the size
        size = conv_output_size(size, 3, stride=2)
    if size < 1:
        raise ValueError(
            f"alexnet(variant='2012'): input_size={input_size} is too small (the third "
            f"max-pool would get an empty map); it needs input_size >= {MIN_INPUT_2012}, and "
            f"the paper's is 227")


def alexnet(num_classes: int = 1000, in_channels: int = 3, input_size: int | None = None,
            dropout: float = 0.5, variant: str = "torchvision"):
    """AlexNet (Krizhevsky et al. 2012).

    ``variant="torchvision"`` (the default): torchvision's single-tower net, see ``AlexNet``
    for the layer table. ``alexnet()`` has 61,100,840 parameters, exactly torchvision's
    ``alexnet()``; the state-dict keys are torchvision's. ``alexnet(10, input_size=32)`` is
    the small-image variant (2,847,562 parameters). ``input_size`` defaults to 224.

    ``variant="2012"``: the paper's net, with local response normalisation after the first two
    convolutions, ``groups=2`` where the paper split over two GPUs, overlapping 3×3/2 pools and
    dropout 0.5, on 227×227 input by default (≥ 67 accepted): 60,965,224 parameters at 1000
    classes. See ``AlexNet2012`` for the layer table and why 227.

    Layers keep PyTorch's default initialisation, as torchvision's AlexNet does.
    """
    if variant not in VARIANTS:
        raise ValueError(f"alexnet: expected variant in {VARIANTS}, got {variant!r}")
    if variant == "2012":
        return AlexNet2012(num_classes, in_channels, 227 if input_size is None else input_size,
                           dropout)
    return AlexNet(num_classes, in_channels, 224 if input_size is None else input_size, dropout)
