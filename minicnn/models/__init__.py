"""Model builders: LeNet-5, AlexNet, VGG, GoogLeNet, ResNet, DenseNet, U-Net; transfer learning.

Every builder takes ``num_classes`` and ``in_channels``; the ImageNet architectures also take
``input_size`` (224 by default; 28 or 32 gives the small-image variant described in each
docstring). Module names, and so state-dict keys, follow torchvision's::

    from minicnn import models
    model = models.resnet20()                       # CIFAR-10 ResNet-20, 269,722 parameters
    model = models.vgg16(num_classes=10, input_size=32, batch_norm=True)
    model = models.lenet5(input_size=32, activation="tanh", pooling="avg")   # LeCun et al. 1998

Each model records its name in ``model.arch`` (e.g. "resnet20"), saved with its weights.
"""

from .alexnet import AlexNet, AlexNet2012, alexnet
from .cifar_resnet import cifar_resnet, resnet20, resnet32, resnet44, resnet56
from .densenet import DenseNet, densenet121, densenet161, densenet169, densenet201, densenet_bc
from .features import Features, extract_features
from .googlenet import GoogLeNet, GoogLeNetOutputs, googlenet, googlenet_small
from .lenet import LeNet5, lenet5
from .pretrained import PretrainedWeights, available_weights, pretrained_weights
from .resnet import ResNet, resnet18, resnet34, resnet50
from .transfer import BackboneReport, find_head, freeze, load_backbone, replace_head, unfreeze
from .unet import UNet, unet, unet_output_size, unet_valid_size
from .vgg import VGG, vgg11, vgg13, vgg16, vgg19

__all__ = [
    "VGG", "AlexNet", "AlexNet2012", "BackboneReport", "DenseNet", "Features", "GoogLeNet",
    "GoogLeNetOutputs", "LeNet5", "PretrainedWeights", "ResNet", "UNet", "alexnet",
    "available_weights", "cifar_resnet", "densenet121", "densenet161", "densenet169",
    "densenet201", "densenet_bc", "extract_features", "find_head", "freeze", "googlenet",
    "googlenet_small", "lenet5", "load_backbone", "pretrained_weights",
    "replace_head", "resnet18", "resnet20", "resnet32", "resnet34", "resnet44", "resnet50",
    "resnet56", "unet", "unet_output_size", "unet_valid_size", "unfreeze", "vgg11", "vgg13",
    "vgg16", "vgg19",
]
