"""The 2012 paper's AlexNet, ``models.alexnet(variant="2012")``.

What is checked:
- the parameter count against a count by hand, written out below as the sum over the layers
  (60,965,224 at 3 channels and 1000 classes);
- the layers in the paper's order: LRN (5, 1e-4, 0.75, k = 2) after the ReLUs of conv1 and
  conv2, groups = 2 in conv2, conv4, conv5, overlapping 3×3/2 pools, dropout 0.5 after the
  first two fully connected layers; the state-dict keys and the grouped weights' shapes;
- the default ``alexnet()`` is still torchvision's variant;
- forward and backward on the smallest input the builder accepts (67×67), under both engines:
  the feature-map sizes, finite gradients reaching every parameter; a float64 gradient check of
  the new block (grouped convolution, ReLU, LRN, overlapping pool) on small shapes;
- errors: an input too small for the third pool ("needs input_size >= 67") and an unknown
  variant, both naming ``alexnet``.
"""

import gc

import numpy as np
import pytest

import minicnn
from minicnn import models, nn
from minicnn.gradcheck import check_module

pytestmark = pytest.mark.usefixtures("each_engine")


def _conv(out_channels, in_channels, kernel, groups=1):
    return out_channels * (in_channels // groups) * kernel * kernel + out_channels


def _linear(in_features, out_features):
    return in_features * out_features + out_features


def hand_count(in_channels=3, num_classes=1000):
    """The paper's layers, one term each (weights + biases)."""
    return (_conv(96, in_channels, 11)          # conv1:     34,944 at 3 channels
            + _conv(256, 96, 5, groups=2)       # conv2:    307,456
            + _conv(384, 256, 3)                # conv3:    885,120
            + _conv(384, 384, 3, groups=2)      # conv4:    663,936
            + _conv(256, 384, 3, groups=2)      # conv5:    442,624
            + _linear(256 * 6 * 6, 4096)        # fc6:   37,752,832
            + _linear(4096, 4096)               # fc7:   16,781,312
            + _linear(4096, num_classes))       # fc8:    4,097,000 at 1000 classes


def _count(model):
    return sum(p.size for p in model.parameters())


def test_parameter_count_equals_the_hand_count():
    assert hand_count() == 34_944 + 307_456 + 885_120 + 663_936 + 442_624 + 37_752_832 \
        + 16_781_312 + 4_097_000 == 60_965_224
    model = models.alexnet(variant="2012")
    assert _count(model) == hand_count()
    assert isinstance(model, models.AlexNet2012) and model.config["input_size"] == 227
    keys = list(model.state_dict())
    assert keys == [f"{part}.{i}.{p}" for part, indices in (("features", (0, 4, 8, 10, 12)),
                                                          ("classifier", (0, 3, 6)))
                    for i in indices for p in ("weight", "bias")]
    shapes = {key: value.shape for key, value in model.state_dict().items()}
    assert shapes["features.4.weight"] == (256, 48, 5, 5)    # each group sees 96 / 2 maps
    assert shapes["features.10.weight"] == (384, 192, 3, 3)
    assert shapes["features.12.weight"] == (256, 192, 3, 3)
    del model
    gc.collect()


def test_the_layers_are_the_paper_s():
    model = models.alexnet(variant="2012")
    kinds = [type(layer).__name__ for layer in model.features]
    assert kinds == ["Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d",
                     "Conv2d", "ReLU", "LocalResponseNorm", "MaxPool2d",
                     "Conv2d", "ReLU", "Conv2d", "ReLU", "Conv2d", "ReLU", "MaxPool2d"]
    for index in (2, 6):
        lrn = model.features[index]
        assert (lrn.size, lrn.alpha, lrn.beta, lrn.k) == (5, 1e-4, 0.75, 2.0)
    convs = [model.features[i] for i in (0, 4, 8, 10, 12)]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]
    assert [(c.out_channels, c.kernel_size, c.stride, c.padding) for c in convs] == [
        (96, (11, 11), (4, 4), (0, 0)), (256, (5, 5), (1, 1), (2, 2)),
        (384, (3, 3), (1, 1), (1, 1)), (384, (3, 3), (1, 1), (1, 1)),
        (256, (3, 3), (1, 1), (1, 1))]
    for index in (3, 7, 14):
        assert (model.features[index].kernel_size, model.features[index].stride) == (3, 2)
    assert [type(layer).__name__ for layer in model.classifier] == [
        "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert model.classifier[2].p == model.classifier[5].p == 0.5


def test_the_default_is_still_torchvision_s():
    model = models.alexnet(10, input_size=32)
    assert type(model) is models.AlexNet and "variant" not in model.config
    assert type(models.alexnet(10, input_size=32, variant="torchvision")) is models.AlexNet


def test_forward_and_backward_on_the_smallest_input():
    minicnn.manual_seed(0)
    model = models.alexnet(10, in_channels=3, variant="2012", input_size=67).train()
    assert _count(model) == hand_count(3, 10)
    x = np.random.default_rng(0).standard_normal((2, 3, 67, 67)).astype(np.float32)
    sizes, h = [], x
    for layer in model.features:
        h = layer(h)
        sizes.append(h.shape[1:])
    # 67 → (67 − 11)/4 + 1 = 15 → pool 7 → conv2 7 → pool 3 → conv3..5 3 → pool 1
    assert sizes[0] == (96, 15, 15) and sizes[3] == (96, 7, 7)
    assert sizes[7] == (256, 3, 3) and sizes[14] == (256, 1, 1)
    logits = model(x)
    assert logits.shape == (2, 10) and logits.dtype == np.float32 and np.isfinite(logits).all()
    model.zero_grad()
    dx = model.backward(np.random.default_rng(1).standard_normal(logits.shape)
                        .astype(np.float32))
    assert dx.shape == x.shape and np.isfinite(dx).all()
    for name, param in model.named_parameters():
        assert np.isfinite(param.grad).all() and param.grad.any(), name
    del model
    gc.collect()


def test_the_new_block_passes_a_gradient_check():
    """conv (groups 2) → ReLU → LRN (k = 2, α large enough to matter) → 3×3/2 pool."""
    minicnn.manual_seed(0)
    block = nn.Sequential(nn.Conv2d(4, 6, 3, padding=1, groups=2), nn.ReLU(),
                          nn.LocalResponseNorm(5, alpha=0.5, beta=0.75, k=2.0),
                          nn.MaxPool2d(3, 2))
    x = np.random.default_rng(2).standard_normal((2, 4, 7, 7))
    report = check_module(block, x)
    assert report.ok(1e-6), report


def test_errors_name_the_builder():
    with pytest.raises(ValueError, match=r"^alexnet\(variant='2012'\): input_size=66 is too "
                                         r"small .*needs input_size >= 67"):
        models.alexnet(variant="2012", input_size=66)
    with pytest.raises(ValueError, match=r"^alexnet: expected variant in \('torchvision', "
                                         r"'2012'\), got '2014'$"):
        models.alexnet(variant="2014")
