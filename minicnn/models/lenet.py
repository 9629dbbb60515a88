"""LeNet-5 (LeCun, Bottou, Bengio and Haffner 1998, "Gradient-Based Learning Applied to Document
Recognition"), the first network of the course."""

from collections import OrderedDict

from .. import nn
from ._common import check_builder_args
from .pretrained import builder_kwargs, load_pretrained, pretrained_weights

__all__ = ["LeNet5", "lenet5"]

ACTIVATIONS = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid"}
POOLINGS = {"max": "MaxPool2d", "avg": "AvgPool2d"}


def _layer(kind: str, table: dict, value: str):
    if value not in table:
        raise ValueError(f"lenet5: expected {kind} in {sorted(table)}, got {value!r}")
    return getattr(nn, table[value])


class LeNet5(nn.Sequential):
    """LeNet-5: two convolution/subsampling stages and three fully connected layers.

    Children: ``features`` (convolutions and pooling), ``flatten``, ``classifier`` (Linear
    layers), so the state-dict keys are ``features.0.weight``, ``features.3.weight``,
    ``classifier.0.weight``, ``classifier.2.weight``, ``classifier.4.weight`` (and the biases)
    whatever the activation and pooling.

    ==========  ===================================  ============  ===========  ==========
    paper       layer                                module        output       parameters
    ==========  ===================================  ============  ===========  ==========
    input                                                          1×32×32
    C1          conv 5×5, 6 maps                     features.0    6×28×28      156
    S2          pool 2×2, stride 2                   features.2    6×14×14      0
    C3          conv 5×5, 16 maps                    features.3    16×10×10     2,416
    S4          pool 2×2, stride 2                   features.5    16×5×5       0
    C5          5×5 conv on a 5×5 map = Linear(400)  classifier.0  120          48,120
    F6          Linear                               classifier.2  84           10,164
    output      Linear                               classifier.4  10           850
    ==========  ===================================  ============  ===========  ==========

    61,706 parameters in all (with 10 classes and one input channel). A 28×28 input (MNIST as
    distributed) is padded by 2 in C1, which gives the same 6×28×28 maps and every later size.

    Differences from the paper, as in most modern re-implementations: C3 connects every input
    map to every output map (the paper's connection table used 60 of the 96 pairs), S2/S4 are
    plain pooling layers (the paper's had a trainable coefficient and bias per map, followed by a
    sigmoid), and the output is a Linear layer rather than Euclidean RBF units.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 28,
                 activation: str = "relu", pooling: str = "max"):
        check_builder_args("lenet5", num_classes, in_channels, input_size)
        if input_size not in (28, 32):
            raise ValueError(f"lenet5: expected input_size 28 or 32, got {input_size!r}")
        act = _layer("activation", ACTIVATIONS, activation)
        pool = _layer("pooling", POOLINGS, pooling)
        padding = (32 - input_size) // 2  # 28×28 input, padded to 32×32 inside C1
        features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=padding), act(), pool(2),  # C1, S2
            nn.Conv2d(6, 16, kernel_size=5), act(), pool(2),                            # C3, S4
        )
        classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120), act(),  # C5
            nn.Linear(120, 84), act(),          # F6
            nn.Linear(84, num_classes),         # output
        )
        super().__init__(OrderedDict(features=features, flatten=nn.Flatten(),
                                     classifier=classifier))
        self.arch = "lenet5"
        self.config = dict(num_classes=num_classes, in_channels=in_channels,
                           input_size=input_size, activation=activation, pooling=pooling)

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self.config.items())


def lenet5(num_classes: int = 10, in_channels: int = 1, input_size: int = 28,
           activation: str = "relu", pooling: str = "max", *,
           weights: str | None = None) -> LeNet5:
    """LeNet-5 (LeCun et al. 1998); see ``LeNet5`` for the layer table.

    ``lenet5(input_size=32, activation="tanh", pooling="avg")`` has the paper's sizes
    (6@28×28 → 6@14×14 → 16@10×10 → 16@5×5 → 120 → 84 → 10) and 61,706 parameters; the default
    is the modern variant (ReLU, max-pooling) on 28×28 MNIST digits. Layers keep PyTorch's
    default initialisation.

    ``weights="mnist"`` loads the shipped weights of ``examples/train_mnist_lenet.py`` (the
    default variant; see ``models.pretrained_weights("lenet5", "mnist")`` for its test
    accuracy and the normalisation its inputs need); other arguments must then fit them.
    """
    if weights is None:
        return LeNet5(num_classes, in_channels, input_size, activation, pooling)
    info = pretrained_weights("lenet5", weights)
    given = {"num_classes": num_classes, "in_channels": in_channels, "input_size": input_size,
             "activation": activation, "pooling": pooling}
    kwargs = builder_kwargs(info, given, dict(zip(given, (10, 1, 28, "relu", "max"),
                                                       strict=True)))
    return load_pretrained(LeNet5(**kwargs), "lenet5", weights)
