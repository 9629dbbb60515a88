"""The blocks of DenseNet (Huang, Liu, van der Maaten and Weinberger 2017, "Densely Connected
Convolutional Networks"): ``DenseLayer``, ``DenseBlock`` and ``Transition``.

Inside a dense block every layer sees the feature maps of *all* the layers before it, joined
along the channels, and adds ``growth_rate`` (k) maps of its own::

    x_l = [x_0, H_1(x_0), H_2([x_0, x_1]), ..., H_l([x_0, ..., x_{l-1}])]

so a block of L layers on c channels outputs c + L·k channels. ``DenseLayer`` is one step of
this: ``x → [x, H(x)]``, with the bottleneck H = BN-ReLU-conv1×1(bn_size·k)-BN-ReLU-conv3×3(k)
("DenseNet-B"). Between blocks a ``Transition`` (BN-ReLU-conv1×1-avgpool 2×2) shrinks the
channels by the compression factor ("-C") and halves the map.

Backward through ``[x, H(x)]``: the concatenation's gradient is split (``functional.cat``),
the first c channels of ``dout`` go straight to x, the last k through H's backward, and both
reach x, so they add::

    dL/dx = dout[:, :c] + ∂H/∂x · dout[:, c:]

Like the "+ 1" of a residual block, the straight part means every layer gets the gradient of
the block's output directly, not only through the layers after it (the paper's "implicit deep
supervision").

Memory. Each layer copies its whole input into its output (the concatenation), and its first
BatchNorm keeps that input for backward: a block of L layers keeps arrays of c, c + k, …,
c + (L−1)·k channels, O(L²·k) in all, where the maps themselves hold only c + L·k. This is the
plain reference, as torchvision's default; the shared-memory and recompute tricks of Pleiss et
al. 2017 ("Memory-Efficient Implementation of DenseNets", torchvision's
``memory_efficient=True``) are not here.

Names follow torchvision, so state-dict keys match: ``denselayer3.norm1.running_mean``,
``denselayer3.conv2.weight``; a Transition's ``norm``, ``relu``, ``conv``, ``pool``. Unlike
torchvision's ``_DenseLayer`` (which returns H(x) only, and leaves the joining to the block), a
``DenseLayer`` here returns ``[x, H(x)]``, so a block is a plain sequence of them.

Dropout (``drop_rate > 0``): torchvision drops out H(x) once, after the layer
(``drop_after="layer"``, the default); the paper puts dropout after every convolution but the
network's first (``drop_after="each_conv"``: after conv1 and conv2 here, and after a
transition's conv).
"""

from collections import OrderedDict
from numbers import Real

from .. import engines
from .._validation import check_positive_int
from .activation import ReLU
from .blocks import _check_image_batch
from .conv import Conv2d
from .dropout import Dropout
from .module import Module, Sequential
from .normalization import BatchNorm2d
from .pooling import AvgPool2d

__all__ = ["DenseBlock", "DenseLayer", "Transition"]

DROP_AFTER = ("layer", "each_conv")


def _check_dropout(where: str, drop_rate, drop_after) -> float:
    if isinstance(drop_rate, bool) or not isinstance(drop_rate, Real) or not 0 <= drop_rate < 1:
        raise ValueError(f"{where}: expected drop_rate in [0, 1), got {drop_rate!r}")
    if drop_after not in DROP_AFTER:
        raise ValueError(f"{where}: expected drop_after in {DROP_AFTER}, got {drop_after!r}")
    return float(drop_rate)


class DenseLayer(Module):
    """One layer of a dense block: ``x → [x, H(x)]``, adding ``growth_rate`` channels.

    =========  ================================================  ======================
    name       layer                                             output (input N×c×H×W)
    =========  ================================================  ======================
    norm1      BatchNorm2d(c); relu1                             N×c×H×W
    conv1      Conv2d(c, bn_size·k, 1, no bias)                  N×bn_size·k×H×W
    norm2      BatchNorm2d(bn_size·k); relu2
    conv2      Conv2d(bn_size·k, k, 3, padding 1, no bias)       N×k×H×W
    (cat)      [x, conv2's output] along the channels            N×(c + k)×H×W
    =========  ================================================  ======================

    Args:
        num_input_features: c, the input channels.
        growth_rate: k, the channels this layer adds.
        bn_size: the bottleneck holds bn_size·k channels (4 in the paper and torchvision).
        drop_rate: dropout probability; 0 (the default) adds no Dropout module.
        drop_after: "layer" (torchvision: ``dropout`` after conv2) or "each_conv" (the paper:
            ``dropout1`` after conv1 and ``dropout2`` after conv2).

    Parameters: 2c + c·bn_size·k + 2·bn_size·k + 9·bn_size·k² (BatchNorm weight and bias).
    """

    def __init__(self, num_input_features: int, growth_rate: int, bn_size: int = 4,
                 drop_rate: float = 0.0, drop_after: str = "layer"):
        super().__init__()
        for name, value in (("num_input_features", num_input_features),
                            ("growth_rate", growth_rate), ("bn_size", bn_size)):
            check_positive_int("DenseLayer", name, value)
        self.num_input_features = num_input_features
        self.growth_rate = growth_rate
        self.drop_rate = _check_dropout(self._name(), drop_rate, drop_after)
        self.drop_after = drop_after
        width = bn_size * growth_rate
        self.norm1 = BatchNorm2d(num_input_features)
        self.relu1 = ReLU()
        self.conv1 = Conv2d(num_input_features, width, kernel_size=1, bias=False)
        if self.drop_rate and drop_after == "each_conv":
            self.dropout1 = Dropout(self.drop_rate)
        self.norm2 = BatchNorm2d(width)
        self.relu2 = ReLU()
        self.conv2 = Conv2d(width, growth_rate, kernel_size=3, padding=1, bias=False)
        if self.drop_rate:
            name = "dropout2" if drop_after == "each_conv" else "dropout"
            setattr(self, name, Dropout(self.drop_rate))

    def _name(self) -> str:
        return f"DenseLayer({self.num_input_features}, growth_rate={self.growth_rate})"

    def extra_repr(self) -> str:
        text = f"{self.num_input_features}, growth_rate={self.growth_rate}"
        if self.drop_rate:
            text += f", drop_rate={self.drop_rate}, drop_after={self.drop_after!r}"
        return text

    def forward(self, x):
        _check_image_batch(self._name(), x, self.num_input_features)
        new_features = x
        for layer in self._modules.values():  # H: the children in the order of the table
            new_features = layer(new_features)
        engine = engines.get_engine()
        out, cache = engines.functions(engine).cat_forward([x, new_features], dim=1)
        self._save_for_backward((engine, cache), out)  # the cache holds the split sizes only
        return out

    def backward(self, dout):
        engine, cache = self._pop_cache(dout)
        dx_direct, d_new = engines.functions(engine).cat_backward(dout, cache)
        for layer in reversed(self._modules.values()):
            d_new = layer.backward(d_new)
        return dx_direct + d_new  # x reached the output twice: straight, and through H


class DenseBlock(Sequential):
    """``num_layers`` DenseLayers in a row: c → c + num_layers·k channels, the same H×W.

    Children ``denselayer1`` … ``denselayerL``; layer i (from 1) takes c + (i−1)·k channels.
    Arguments in torchvision's order (``_DenseBlock``); ``drop_after`` as for ``DenseLayer``.
    Backward is ``Sequential``'s: each layer splits its gradient as ``DenseLayer`` explains.
    """

    def __init__(self, num_layers: int, num_input_features: int, bn_size: int = 4,
                 growth_rate: int = 32, drop_rate: float = 0.0, drop_after: str = "layer"):
        for name, value in (("num_layers", num_layers),
                            ("num_input_features", num_input_features),
                            ("growth_rate", growth_rate), ("bn_size", bn_size)):
            check_positive_int("DenseBlock", name, value)
        super().__init__(OrderedDict(
            (f"denselayer{i + 1}", DenseLayer(num_input_features + i * growth_rate, growth_rate,
                                              bn_size, drop_rate, drop_after))
            for i in range(num_layers)))
        self.num_layers = num_layers
        self.num_input_features = num_input_features
        self.growth_rate = growth_rate
        self.num_output_features = num_input_features + num_layers * growth_rate

    def _name(self) -> str:
        return (f"DenseBlock({self.num_layers} layers, {self.num_input_features} → "
                f"{self.num_output_features} channels)")

    def extra_repr(self) -> str:
        return (f"num_layers={self.num_layers}, num_input_features={self.num_input_features}, "
                f"growth_rate={self.growth_rate}")

    def forward(self, x):
        _check_image_batch(self._name(), x, self.num_input_features)
        return super().forward(x)


class Transition(Sequential):
    """Between dense blocks: BN-ReLU-conv1×1 to fewer channels, then 2×2 average pooling.

    ==========  ============================================  ========================
    name        layer                                         output (input N×c×H×W)
    ==========  ============================================  ========================
    norm, relu  BatchNorm2d(c), ReLU                          N×c×H×W
    conv        Conv2d(c, c_out, 1, no bias)                  N×c_out×H×W
    pool        AvgPool2d(2, stride 2)                        N×c_out×⌊H/2⌋×⌊W/2⌋
    ==========  ============================================  ========================

    c_out = ⌊θ·c⌋ with the compression θ (0.5 in DenseNet-BC and torchvision). Parameters
    2c + c·c_out. ``drop_rate > 0`` puts a ``dropout`` between conv and pool (the paper's
    "after each convolution"; torchvision's transitions have none).
    """

    def __init__(self, num_input_features: int, num_output_features: int,
                 drop_rate: float = 0.0):
        for name, value in (("num_input_features", num_input_features),
                            ("num_output_features", num_output_features)):
            check_positive_int("Transition", name, value)
        where = f"Transition({num_input_features} → {num_output_features} channels)"
        drop_rate = _check_dropout(where, drop_rate, "layer")
        layers = OrderedDict(
            norm=BatchNorm2d(num_input_features), relu=ReLU(),
            conv=Conv2d(num_input_features, num_output_features, kernel_size=1, bias=False))
        if drop_rate:
            layers["dropout"] = Dropout(drop_rate)
        layers["pool"] = AvgPool2d(kernel_size=2, stride=2)
        super().__init__(layers)
        self.num_input_features = num_input_features
        self.num_output_features = num_output_features
        self.drop_rate = drop_rate

    def _name(self) -> str:
        return f"Transition({self.num_input_features} → {self.num_output_features} channels)"

    def extra_repr(self) -> str:
        return f"{self.num_input_features}, {self.num_output_features}"

    def forward(self, x):
        _check_image_batch(self._name(), x, self.num_input_features)
        return super().forward(x)
