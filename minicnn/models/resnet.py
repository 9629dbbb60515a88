"""ResNet (He, Zhang, Ren and Sun 2016, "Deep Residual Learning for Image Recognition"):
ResNet-18/34/50 for ImageNet, and the ``ResNet`` class the CIFAR ResNets share."""

from collections import OrderedDict

from .. import nn
from ._common import SMALL_INPUT_MAX, check_builder_args, init_conv_bn_linear

__all__ = ["ResNet", "resnet18", "resnet34", "resnet50"]


def make_stage(block, in_planes: int, planes: int, num_blocks: int, stride: int,
               shortcut: str, plain: bool) -> nn.Sequential:
    """``num_blocks`` blocks; the first one changes the stride and the channels, if anything does.

    torchvision's ``_make_layer``: a projection (``downsample``) only on that first block.
    """
    blocks = [block(in_planes, planes, stride, shortcut=shortcut, plain=plain)]
    for _ in range(1, num_blocks):
        blocks.append(block(planes * block.expansion, planes, shortcut=shortcut, plain=plain))
    return nn.Sequential(*blocks)


class ResNet(nn.Sequential):
    """A stem, stages of residual blocks, global average pooling and one Linear layer.

    Children, named as in torchvision so that state-dict keys match (``conv1.weight``,
    ``bn1.running_mean``, ``layer1.0.conv1.weight``, ``layer2.0.downsample.0.weight``,
    ``fc.weight``): ``conv1``, ``bn1``, ``relu``, ``maxpool`` (ImageNet stem only),
    ``layer1`` … ``layerK``, ``avgpool``, ``flatten``, ``fc``.

    Args:
        block: ``nn.BasicBlock`` or ``nn.Bottleneck``.
        layers: blocks per stage, e.g. [2, 2, 2, 2] for ResNet-18.
        widths: ``planes`` of each stage; stage k > 1 starts with stride 2. The last stage
            outputs ``widths[-1] * block.expansion`` channels, the input of ``fc``.
        stem: "imagenet" (7×7 conv, stride 2, then a 3×3 stride-2 max-pool: 224 → 56) or
            "small" (3×3 conv, stride 1, no max-pool: for 28- and 32-pixel images).
        shortcut: "A", "B" or "C" (see ``nn.BasicBlock``); plain: no shortcuts at all.
        zero_init_residual: start each block's last BatchNorm weight at 0, so every block
            begins as the identity (Goyal et al. 2017); torchvision's option.

    Initialisation as torchvision's: convolutions kaiming_normal_(mode="fan_out",
    nonlinearity="relu"), BatchNorm weight 1 and bias 0, ``fc`` PyTorch's default.
    """

    def __init__(self, block, layers, num_classes: int = 1000, in_channels: int = 3,
                 widths=(64, 128, 256, 512), stem: str = "imagenet", shortcut: str = "B",
                 plain: bool = False, zero_init_residual: bool = False, arch: str = "resnet"):
        check_builder_args(arch, num_classes, in_channels)
        if len(layers) != len(widths):
            raise ValueError(f"{arch}: expected one width per stage, got layers={list(layers)} "
                             f"and widths={list(widths)}")
        if stem not in ("imagenet", "small"):
            raise ValueError(f"{arch}: expected stem 'imagenet' or 'small', got {stem!r}")
        children = OrderedDict()
        if stem == "imagenet":
            children["conv1"] = nn.Conv2d(in_channels, widths[0], kernel_size=7, stride=2,
                                          padding=3, bias=False)
        else:
            children["conv1"] = nn.Conv2d(in_channels, widths[0], kernel_size=3, padding=1,
                                          bias=False)
        children["bn1"] = nn.BatchNorm2d(widths[0])
        children["relu"] = nn.ReLU()
        if stem == "imagenet":
            children["maxpool"] = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_planes = widths[0]
        for index, (planes, num_blocks) in enumerate(zip(widths, layers, strict=True)):
            stride = 1 if index == 0 else 2
            children[f"layer{index + 1}"] = make_stage(block, in_planes, planes, num_blocks,
                                                       stride, shortcut, plain)
            in_planes = planes * block.expansion
        children["avgpool"] = nn.AdaptiveAvgPool2d((1, 1))
        children["flatten"] = nn.Flatten()
        children["fc"] = nn.Linear(in_planes, num_classes)
        super().__init__(children)

        init_conv_bn_linear(self, linear_std=None)
        if zero_init_residual:
            for module in self.modules():
                if isinstance(module, nn.Bottleneck):
                    module.bn3.weight.data.fill(0)
                elif isinstance(module, nn.BasicBlock):
                    module.bn2.weight.data.fill(0)
        self.arch = arch
        self.config = dict(num_classes=num_classes, in_channels=in_channels, stem=stem,
                           shortcut=shortcut, plain=plain)

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self.config.items())


def _imagenet_resnet(arch: str, block, layers, num_classes, in_channels, input_size, plain,
                     zero_init_residual) -> ResNet:
    check_builder_args(arch, num_classes, in_channels, input_size)
    stem = "small" if input_size <= SMALL_INPUT_MAX else "imagenet"
    model = ResNet(block, layers, num_classes, in_channels, stem=stem, plain=plain,
                   zero_init_residual=zero_init_residual,
                   arch=arch + "_plain" if plain else arch)
    model.config["input_size"] = input_size
    return model


def resnet18(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
             plain: bool = False, zero_init_residual: bool = False) -> ResNet:
    """ResNet-18 (He et al. 2016, Table 1): BasicBlocks [2, 2, 2, 2], 11,689,512 parameters.

    ==========  ===========================  ===========  ===========
    module      layer                        224 px       32 px
    ==========  ===========================  ===========  ===========
    conv1, bn1  7×7, 64, stride 2 (32 px:    64×112×112   64×32×32
                3×3, 64, stride 1)
    maxpool     3×3, stride 2 (32 px: none)  64×56×56     —
    layer1      [3×3, 64; 3×3, 64] × 2       64×56×56     64×32×32
    layer2      [3×3, 128; 3×3, 128] × 2     128×28×28    128×16×16
    layer3      [3×3, 256; 3×3, 256] × 2     256×14×14    256×8×8
    layer4      [3×3, 512; 3×3, 512] × 2     512×7×7      512×4×4
    avgpool     global average pool          512×1×1      512×1×1
    fc          Linear(512, num_classes)     1000         10
    ==========  ===========================  ===========  ===========

    input_size ≤ 32 selects the small stem (3×3 stride-1 conv, no max-pool), which keeps the
    whole 32×32 image for layer1 instead of shrinking it to 8×8; the parameter count changes
    only in conv1 (11,173,962 with 3 channels and 10 classes). Projection shortcuts ("B") where
    the shape changes, as torchvision; ``plain=True`` is the paper's plain-18.
    """
    return _imagenet_resnet("resnet18", nn.BasicBlock, [2, 2, 2, 2], num_classes, in_channels,
                            input_size, plain, zero_init_residual)


def resnet34(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
             plain: bool = False, zero_init_residual: bool = False) -> ResNet:
    """ResNet-34 (He et al. 2016, Table 1): BasicBlocks [3, 4, 6, 3], 21,797,672 parameters.

    The layout of ``resnet18`` with 3, 4, 6 and 3 blocks in layer1 … layer4 (same widths and
    output sizes; small stem at input_size ≤ 32). ``plain=True`` is the paper's plain-34, the
    deeper plain net of the degradation experiment (Fig. 4).
    """
    return _imagenet_resnet("resnet34", nn.BasicBlock, [3, 4, 6, 3], num_classes, in_channels,
                            input_size, plain, zero_init_residual)


def resnet50(num_classes: int = 1000, in_channels: int = 3, input_size: int = 224,
             plain: bool = False, zero_init_residual: bool = False) -> ResNet:
    """ResNet-50 (He et al. 2016, Table 1): Bottlenecks [3, 4, 6, 3], 25,557,032 parameters.

    ==========  =====================================  ===========  ===========
    module      layer                                  224 px       32 px
    ==========  =====================================  ===========  ===========
    conv1 …     stem as ``resnet18``                   64×56×56     64×32×32
    layer1      [1×1, 64; 3×3, 64; 1×1, 256] × 3       256×56×56    256×32×32
    layer2      [1×1, 128; 3×3, 128; 1×1, 512] × 4     512×28×28    512×16×16
    layer3      [1×1, 256; 3×3, 256; 1×1, 1024] × 6    1024×14×14   1024×8×8
    layer4      [1×1, 512; 3×3, 512; 1×1, 2048] × 3    2048×7×7     2048×4×4
    avgpool     global average pool                    2048×1×1     2048×1×1
    fc          Linear(2048, num_classes)              1000         10
    ==========  =====================================  ===========  ===========

    The stride-2 blocks put the stride on the 3×3 convolution, as torchvision does. Every
    stage's first block has a projection shortcut (layer1's too: 64 → 256 channels).
    """
    return _imagenet_resnet("resnet50", nn.Bottleneck, [3, 4, 6, 3], num_classes, in_channels,
                            input_size, plain, zero_init_residual)
