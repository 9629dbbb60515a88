"""Every layer's backward checks its upstream gradient first (``Module._pop_cache(dout)``).

``dout`` must be an ndarray with the shape and dtype of the last forward output; otherwise a
ValueError (shape) or TypeError (dtype, not an array) that names the layer, raised before any
work, and the cache is kept so that a corrected call still works. A loss's upstream gradient
``dloss`` is one real number.
"""

import re

import numpy as np
import pytest

from minicnn import nn
from minicnn.nn.loss import _Loss
from minicnn.nn.module import Module

pytestmark = pytest.mark.usefixtures("each_engine")

class MaxUnpool2dOfFixedIndices(nn.MaxUnpool2d):
    """MaxUnpool2d(2) with fixed indices (the top-left pixel of each 2×2 window), so that it
    takes one input as the other layers here; its name starts with MaxUnpool2d."""

    def forward(self, x):
        rows, cols = np.meshgrid(np.arange(x.shape[2]), np.arange(x.shape[3]), indexing="ij")
        indices = np.broadcast_to(2 * rows * 2 * x.shape[3] + 2 * cols, x.shape).copy()
        return super().forward(x, indices)


# Every layer with a backward, built small, with the input shape it takes.
LAYERS = {
    "ReLU": (lambda: nn.ReLU(), (4, 5)),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.1), (4, 5)),
    "PReLU": (lambda: nn.PReLU(3), (2, 3, 4)),
    "Tanh": (lambda: nn.Tanh(), (4, 5)),
    "Sigmoid": (lambda: nn.Sigmoid(), (4, 5)),
    "Softmax": (lambda: nn.Softmax(dim=1), (4, 5)),
    "Linear": (lambda: nn.Linear(5, 3), (4, 5)),
    "Flatten": (lambda: nn.Flatten(), (2, 3, 4, 4)),
    "Conv2d": (lambda: nn.Conv2d(3, 4, 3, padding=1), (2, 3, 6, 6)),
    "MaxPool2d": (lambda: nn.MaxPool2d(2), (2, 3, 6, 6)),
    "AvgPool2d": (lambda: nn.AvgPool2d(3, stride=1, padding=1), (2, 3, 6, 6)),
    "GlobalAvgPool2d": (lambda: nn.GlobalAvgPool2d(), (2, 3, 6, 6)),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d((2, 3)), (2, 3, 6, 6)),
    # pooling (issue 16)
    "AdaptiveMaxPool2d": (lambda: nn.AdaptiveMaxPool2d((2, 3)), (2, 3, 6, 6)),
    "MaxUnpool2d": (lambda: MaxUnpool2dOfFixedIndices(2), (2, 3, 3, 3)),
    "LPPool2d": (lambda: nn.LPPool2d(2, 2, ceil_mode=True), (2, 3, 5, 5)),
    "MinPool2d": (lambda: nn.MinPool2d(3, 2, 1), (2, 3, 6, 6)),
    "MedianPool2d": (lambda: nn.MedianPool2d(3, 1, 1), (2, 3, 6, 6)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(3), (4, 3)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3), (2, 3, 4, 4)),
    "SyncBatchNorm": (lambda: nn.SyncBatchNorm(3), (2, 3, 4, 4)),
    "Dropout": (lambda: nn.Dropout(0.5), (4, 5)),
    "ZeroPadShortcut": (lambda: nn.ZeroPadShortcut(3, 6, stride=2), (2, 3, 6, 6)),
    "BasicBlock": (lambda: nn.BasicBlock(3, 3), (2, 3, 6, 6)),
    "Bottleneck": (lambda: nn.Bottleneck(4, 2, stride=2), (2, 4, 6, 6)),
    "Concat": (lambda: nn.Concat(nn.Conv2d(3, 2, 1), nn.Identity()), (2, 3, 6, 6)),
    "Inception": (lambda: nn.Inception(3, 2, 2, 2, 2, 2, 2), (2, 3, 6, 6)),
    # DenseNet (issue 17)
    "DenseLayer": (lambda: nn.DenseLayer(3, growth_rate=2, bn_size=2), (2, 3, 6, 6)),
    "DenseBlock": (lambda: nn.DenseBlock(2, 3, bn_size=2, growth_rate=2), (2, 3, 6, 6)),
    "Transition": (lambda: nn.Transition(3, 2), (2, 3, 6, 6)),
    "Sequential": (lambda: nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU(), nn.Flatten(),
                                         nn.Linear(32, 4)), (2, 3, 6, 6)),
    "Identity": (lambda: nn.Identity(), (4, 5)),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1), (2, 3, 4, 4)),
    "Upsample": (lambda: nn.Upsample(scale_factor=2, mode="bilinear"), (2, 3, 4, 4)),
    "UpsamplingNearest2d": (lambda: nn.UpsamplingNearest2d(scale_factor=2), (2, 3, 4, 4)),
    "UpsamplingBilinear2d": (lambda: nn.UpsamplingBilinear2d(size=(7, 5)), (2, 3, 4, 4)),
    # activations (issue 16)
    "ELU": (lambda: nn.ELU(alpha=0.5), (4, 5)),
    "SELU": (lambda: nn.SELU(), (4, 5)),
    "GELU": (lambda: nn.GELU(approximate="tanh"), (4, 5)),
    "SiLU": (lambda: nn.SiLU(), (4, 5)),
    "Softplus": (lambda: nn.Softplus(beta=2, threshold=1), (4, 5)),
    "LogSoftmax": (lambda: nn.LogSoftmax(dim=1), (4, 5)),
    "Maxout": (lambda: nn.Maxout(3), (2, 6, 3, 3)),
    "Dropout2d": (lambda: nn.Dropout2d(0.5), (2, 3, 4, 4)),
    # normalisation (issue 16)
    "LocalResponseNorm": (lambda: nn.LocalResponseNorm(3), (2, 4, 3, 3)),
    "LayerNorm": (lambda: nn.LayerNorm((3, 4)), (2, 5, 3, 4)),
    "GroupNorm": (lambda: nn.GroupNorm(2, 4), (2, 4, 3, 3)),
    # U-Net's skip (issue 17); Cat's backward gives one gradient per input, here one input
    "CenterCrop2d": (lambda: nn.CenterCrop2d((4, 3)), (2, 3, 6, 6)),
    "Cat": (lambda: nn.Cat(dim=1), (2, 3, 6, 6)),
}

# Every loss, with logits and targets it accepts.
_rng = np.random.default_rng(0)
_LOGITS = _rng.standard_normal((4, 3))
LOSSES = {
    "CrossEntropyLoss": (lambda: nn.CrossEntropyLoss(), _LOGITS, np.array([0, 2, 1, 0])),
    "BCEWithLogitsLoss": (lambda: nn.BCEWithLogitsLoss(), _LOGITS, np.full((4, 3), 0.25)),
    "MSELoss": (lambda: nn.MSELoss(), _LOGITS, np.zeros((4, 3))),
    "L1Loss": (lambda: nn.L1Loss(), _LOGITS, np.full((4, 3), 0.1)),
    "HingeLoss": (lambda: nn.HingeLoss(multiclass=True), _LOGITS, np.array([0, 2, 1, 0])),
    # one array: the main output alone (GoogLeNet in eval mode); tuples in test_googlenet.py
    "MultiOutputLoss": (lambda: nn.MultiOutputLoss(), _LOGITS, np.array([0, 2, 1, 0])),
    # losses, target shapes (issue 16)
    "NLLLoss": (lambda: nn.NLLLoss(), -np.abs(_LOGITS), np.array([0, 2, 1, 0])),
    "BCELoss": (lambda: nn.BCELoss(), np.full((4, 3), 0.5), np.full((4, 3), 0.25)),
    "HuberLoss": (lambda: nn.HuberLoss(), _LOGITS, np.zeros((4, 3))),
    "SmoothL1Loss": (lambda: nn.SmoothL1Loss(), _LOGITS, np.zeros((4, 3))),
}


def _classes_with_a_backward():
    return {obj for obj in vars(nn).values()
            if isinstance(obj, type) and issubclass(obj, Module)
            and obj.backward is not Module.backward}


def test_every_layer_and_loss_is_covered():
    """A new layer with a backward must join LAYERS (or LOSSES) to be tested here."""
    classes = _classes_with_a_backward()
    assert {c.__name__ for c in classes if not issubclass(c, _Loss)} == set(LAYERS)
    assert {c.__name__ for c in classes if issubclass(c, _Loss)} == set(LOSSES)


def _input_gradient(grads):
    """The gradient of the one input; a layer of several inputs (Cat) returns a tuple."""
    if isinstance(grads, tuple):
        (grads,) = grads
    return grads


def _forward(name):
    factory, shape = LAYERS[name]
    layer = factory()
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    return layer, x, layer(x)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_backward_checks_the_gradient(name):
    layer, x, out = _forward(name)
    where = re.escape(layer._name())
    assert layer._name().startswith(name)

    wrong_shape = np.ones((*out.shape[:-1], out.shape[-1] + 1), out.dtype)
    with pytest.raises(ValueError, match=rf"^{where}: expected a gradient of shape "
                                         rf"{re.escape(str(out.shape))} \(the shape of the "
                                         rf"last forward output\), got "
                                         rf"{re.escape(str(wrong_shape.shape))}$"):
        layer.backward(wrong_shape)
    with pytest.raises(ValueError, match=rf"^{where}: expected a gradient of shape"):
        layer.backward(np.ones(out.shape[:-1], out.dtype))  # one axis short: would broadcast
    with pytest.raises(TypeError, match=rf"^{where}: expected a gradient of dtype float32 "
                                        rf"\(the dtype of the last forward output\), "
                                        rf"got float64$"):
        layer.backward(np.ones(out.shape, np.float64))
    with pytest.raises(TypeError, match=rf"^{where}: expected a gradient of dtype float32"):
        layer.backward(np.ones(out.shape, np.int64))
    with pytest.raises(TypeError, match=rf"^{where}: expected a gradient as a numpy.ndarray, "
                                        rf"got list$"):
        layer.backward(np.ones_like(out).tolist())
    with pytest.raises(TypeError, match=rf"^{where}: expected a gradient as a numpy.ndarray, "
                                        rf"got float$"):
        layer.backward(1.0)

    # The failed calls kept the cache: the right gradient still gets its backward, once.
    dx = _input_gradient(layer.backward(np.ones_like(out)))
    assert dx.shape == x.shape and dx.dtype == x.dtype
    with pytest.raises(RuntimeError, match="needs a forward"):
        layer.backward(np.ones_like(out))


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_the_gradient_follows_the_last_forward(name):
    """In float64 the gradient must be float64; a second forward sets the expected output."""
    layer, x, _ = _forward(name)
    layer.astype(np.float64)
    out = layer(x.astype(np.float64))
    with pytest.raises(TypeError, match="expected a gradient of dtype float64"):
        layer.backward(np.ones(out.shape, np.float32))
    assert _input_gradient(layer.backward(np.ones_like(out))).dtype == np.float64


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_backward_checks_dloss(name):
    factory, logits, target = LOSSES[name]
    loss_fn = factory()
    loss_fn(logits, target)
    where = re.escape(loss_fn._name())
    with pytest.raises(ValueError, match=rf"^{where}: expected dloss as a scalar \(the loss is "
                                         rf"a single number\), got an array of shape \(4, 3\)$"):
        loss_fn.backward(np.ones_like(logits))
    with pytest.raises(TypeError, match=rf"^{where}: expected dloss as a real number, "
                                        rf"got dtype complex128$"):
        loss_fn.backward(np.array(1 + 0j))
    for not_a_number in ("1.0", None, [1.0], True):
        with pytest.raises(TypeError, match=rf"^{where}: expected dloss as a real number, got "):
            loss_fn.backward(not_a_number)
    # The cache survived; any real scalar is accepted and scales the gradient.
    once = loss_fn.backward()
    for dloss in (2, np.float32(2.0), np.array(2.0), np.int64(2)):
        loss_fn(logits, target)
        np.testing.assert_allclose(loss_fn.backward(dloss), 2 * once, rtol=1e-15)
