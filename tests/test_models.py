"""Model builders and transfer-learning helpers.

Parameter counts of the ImageNet configurations are torchvision's; the state-dict keys are
torchvision's module names. The big ImageNet models are built one at a time, counted and freed.
"""

import gc

import numpy as np
import pytest

import minicnn
from minicnn import models, nn
from minicnn.gradcheck import check_module

pytestmark = pytest.mark.usefixtures("each_engine")

BN_KEYS = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]


@pytest.fixture(autouse=True)
def seeded():
    """The same initial weights whatever the test order."""
    minicnn.manual_seed(0)


def batch(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def count(model):
    return sum(p.size for p in model.parameters())


def build_count_free(builder, **kwargs):
    model = builder(**kwargs)
    dtypes = {p.dtype for p in model.parameters()}
    n, arch = count(model), model.arch
    del model
    gc.collect()
    return n, arch, dtypes


# -- parameter counts --------------------------------------------------------------------------
IMAGENET_COUNTS = [  # torchvision's models at 1000 classes, 3×224×224 input
    (models.alexnet, {}, 61_100_840, "alexnet"),
    (models.resnet18, {}, 11_689_512, "resnet18"),
    (models.resnet34, {}, 21_797_672, "resnet34"),
    (models.resnet50, {}, 25_557_032, "resnet50"),
    (models.vgg11, {}, 132_863_336, "vgg11"),
    (models.vgg13, {}, 133_047_848, "vgg13"),
    (models.vgg19, {}, 143_667_240, "vgg19"),
    (models.vgg16, {"batch_norm": True}, 138_365_992, "vgg16_bn"),
]
HEAVY = {"vgg11", "vgg13", "vgg19", "vgg16_bn"}  # ~133–144M parameters each


@pytest.mark.parametrize(
    ("builder", "kwargs", "expected", "arch"),
    [pytest.param(*case, marks=pytest.mark.slow) if case[3] in HEAVY else case
     for case in IMAGENET_COUNTS],
    ids=[case[3] for case in IMAGENET_COUNTS])
def test_imagenet_parameter_counts_match_torchvision(builder, kwargs, expected, arch):
    n, built_arch, dtypes = build_count_free(builder, **kwargs)
    assert n == expected
    assert built_arch == arch
    assert dtypes == {np.dtype(np.float32)}


CIFAR_COUNTS = [  # He et al. 2016, Table 6: 0.27M, 0.46M, 0.66M, 0.85M
    (models.resnet20, 269_722), (models.resnet32, 464_154),
    (models.resnet44, 658_586), (models.resnet56, 853_018),
]


@pytest.mark.parametrize(("builder", "expected"), CIFAR_COUNTS)
def test_cifar_resnet_parameter_counts(builder, expected):
    assert count(builder()) == expected
    assert count(builder(input_size=28)) == expected
    assert count(builder(in_channels=1)) == expected - 2 * 16 * 9  # conv1 sees one channel
    assert count(builder(plain=True)) == expected  # option-A shortcuts hold no parameters
    assert count(builder(num_classes=100)) == expected + 90 * 65


def test_cifar_resnet_general_depth():
    assert count(models.cifar_resnet(110)) == 1_727_962
    with pytest.raises(ValueError, match="6n"):
        models.cifar_resnet(21)


SMALL_COUNTS = [  # 3 input channels, 10 classes, as stated in the docstrings
    (models.alexnet, 2_847_562), (models.vgg16, 15_245_130), (models.resnet18, 11_173_962),
]


@pytest.mark.parametrize(("builder", "expected"), SMALL_COUNTS)
def test_small_input_parameter_counts(builder, expected):
    assert count(builder(num_classes=10, input_size=32)) == expected
    assert count(builder(num_classes=10, input_size=28)) == expected


# -- LeNet-5 -----------------------------------------------------------------------------------
def test_lenet5_as_in_lecun_1998():
    model = models.lenet5(input_size=32, activation="tanh", pooling="avg")
    assert count(model) == 61_706
    assert model.arch == "lenet5"
    x = batch((2, 1, 32, 32))
    shapes = []
    for layer in model.features:
        x = layer(x)
        shapes.append(x.shape[1:])
    assert shapes == [(6, 28, 28), (6, 28, 28), (6, 14, 14),
                      (16, 10, 10), (16, 10, 10), (16, 5, 5)]
    x = model.flatten(x)
    sizes = []
    for layer in model.classifier:
        x = layer(x)
        sizes.append(x.shape[1])
    assert sizes == [120, 120, 84, 84, 10]
    assert isinstance(model.features[1], nn.Tanh) and isinstance(model.features[2], nn.AvgPool2d)


def test_lenet5_on_28_pixels_pads_the_first_convolution():
    model = models.lenet5()  # ReLU, max-pooling, 28×28
    assert count(model) == 61_706
    assert model.features[0](batch((2, 1, 28, 28))).shape == (2, 6, 28, 28)
    assert isinstance(model.features[1], nn.ReLU) and isinstance(model.features[2], nn.MaxPool2d)
    assert list(model.state_dict()) == [
        "features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias",
        "classifier.0.weight", "classifier.0.bias", "classifier.2.weight", "classifier.2.bias",
        "classifier.4.weight", "classifier.4.bias"]


def test_lenet5_rejects_unknown_options():
    with pytest.raises(ValueError, match="activation"):
        models.lenet5(activation="swish")
    with pytest.raises(ValueError, match="pooling"):
        models.lenet5(pooling="median")
    with pytest.raises(ValueError, match="input_size"):
        models.lenet5(input_size=64)


def test_lenet5_gradcheck():
    model = models.lenet5(input_size=32, activation="tanh", pooling="avg")
    report = check_module(model, batch((2, 1, 32, 32)), max_entries=8)
    assert report.ok(1e-5), report


# -- forward and backward on small inputs ------------------------------------------------------
SMALL_MODELS = [
    ("lenet5-28", lambda: models.lenet5(), (1, 28)),
    ("lenet5-32-tanh-avg", lambda: models.lenet5(input_size=32, activation="tanh",
                                                 pooling="avg"), (1, 32)),
    ("lenet5-rgb", lambda: models.lenet5(in_channels=3, input_size=32), (3, 32)),
    ("alexnet-32", lambda: models.alexnet(10, input_size=32), (3, 32)),
    ("alexnet-28-gray", lambda: models.alexnet(10, in_channels=1, input_size=28), (1, 28)),
    ("vgg11-bn-32", lambda: models.vgg11(10, input_size=32, batch_norm=True), (3, 32)),
    ("vgg16-28-gray", lambda: models.vgg16(10, in_channels=1, input_size=28), (1, 28)),
    ("resnet18-32", lambda: models.resnet18(10, input_size=32), (3, 32)),
    ("resnet18-28-gray", lambda: models.resnet18(10, in_channels=1, input_size=28), (1, 28)),
    ("resnet18-64-imagenet-stem", lambda: models.resnet18(10, input_size=64), (3, 64)),
    ("resnet50-32", lambda: models.resnet50(10, input_size=32), (3, 32)),
    ("resnet20-32", lambda: models.resnet20(), (3, 32)),
    ("resnet20-28-gray", lambda: models.resnet20(in_channels=1, input_size=28), (1, 28)),
    ("resnet20-plain", lambda: models.resnet20(plain=True), (3, 32)),
    ("resnet56-28", lambda: models.resnet56(input_size=28), (3, 28)),
]


@pytest.mark.parametrize(("make", "input_shape"), [case[1:] for case in SMALL_MODELS],
                         ids=[case[0] for case in SMALL_MODELS])
def test_forward_backward_shapes_and_finite_gradients(make, input_shape):
    minicnn.manual_seed(0)
    model = make().train()
    channels, size = input_shape
    x = batch((2, channels, size, size))
    logits = model(x)
    assert logits.shape == (2, 10) and logits.dtype == np.float32
    assert np.isfinite(logits).all()
    model.zero_grad()
    dx = model.backward(batch(logits.shape, seed=1))
    assert dx.shape == x.shape and dx.dtype == np.float32 and np.isfinite(dx).all()
    for name, param in model.named_parameters():
        assert param.grad.shape == param.shape, name
        assert np.isfinite(param.grad).all(), name
        assert param.grad.any(), f"{name} got no gradient"


def test_tiny_resnet_end_to_end_gradcheck():
    # Stem, an option-A stage change, global pooling and fc, all in one check.
    model = models.ResNet(nn.BasicBlock, [1, 1], num_classes=3, in_channels=2, widths=(2, 4),
                          stem="small", shortcut="A")
    report = check_module(model.train(), batch((2, 2, 6, 6)), max_entries=12)
    assert report.ok(1e-5), report


# -- torchvision's state-dict keys -------------------------------------------------------------
def torchvision_resnet18_keys():
    """The keys of torchvision's resnet18().state_dict(), in order, written out by hand."""
    def bn(prefix):
        return [f"{prefix}.{name}" for name in BN_KEYS]

    keys = ["conv1.weight", *bn("bn1")]
    for layer in range(1, 5):
        for index in range(2):
            block = f"layer{layer}.{index}"
            keys += [f"{block}.conv1.weight", *bn(f"{block}.bn1"),
                     f"{block}.conv2.weight", *bn(f"{block}.bn2")]
            if layer > 1 and index == 0:  # stride 2 and more channels: projection shortcut
                keys += [f"{block}.downsample.0.weight", *bn(f"{block}.downsample.1")]
    return [*keys, "fc.weight", "fc.bias"]


def test_resnet18_state_dict_matches_torchvision():
    model = models.resnet18()
    state = model.state_dict()
    expected = torchvision_resnet18_keys()
    # 6 (stem) + 8 blocks × 12 + 3 projections × 6 + 2 (fc) = 122, num_batches_tracked included
    assert len(expected) == 122
    assert list(state) == expected
    shapes = {"conv1.weight": (64, 3, 7, 7), "bn1.running_mean": (64,),
              "layer1.0.conv1.weight": (64, 64, 3, 3),
              "layer2.0.downsample.0.weight": (128, 64, 1, 1),
              "layer2.0.downsample.1.running_mean": (128,),
              "layer4.1.conv2.weight": (512, 512, 3, 3),
              "fc.weight": (1000, 512), "fc.bias": (1000,)}
    for key, shape in shapes.items():
        assert state[key].shape == shape, key
    assert isinstance(model.maxpool, nn.MaxPool2d)
    assert isinstance(model.avgpool, nn.AdaptiveAvgPool2d)


def test_resnet_small_stem_has_the_same_keys():
    model = models.resnet18(10, input_size=32)
    assert list(model.state_dict()) == torchvision_resnet18_keys()
    assert model.conv1.weight.shape == (64, 3, 3, 3)
    assert "maxpool" not in dict(model.named_children())


def test_resnet50_keys():
    keys = list(models.resnet50(10, input_size=32).state_dict())
    assert len(keys) == 320  # torchvision's resnet50().state_dict() has 320 entries
    assert "layer1.0.downsample.0.weight" in keys and "layer1.1.downsample.0.weight" not in keys
    assert "layer4.2.conv3.weight" in keys and "layer4.2.bn3.num_batches_tracked" in keys


VGG16_CONVS = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]


def vgg16_parameter_names():
    names = [f"features.{i}.{p}" for i in VGG16_CONVS for p in ("weight", "bias")]
    return names + [f"classifier.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias")]


def test_vgg16_count_and_keys_match_torchvision():
    model = models.vgg16()  # built once for both: 138M parameters take a few seconds
    assert count(model) == 138_357_544
    assert model.arch == "vgg16"
    assert {p.dtype for p in model.parameters()} == {np.dtype(np.float32)}
    names = [name for name, _ in model.named_parameters()]  # no copy of the 553 MB of weights
    assert names == vgg16_parameter_names() and len(names) == 32
    params = dict(model.named_parameters())
    assert params["features.0.weight"].shape == (64, 3, 3, 3)
    assert params["features.28.weight"].shape == (512, 512, 3, 3)
    assert params["classifier.0.weight"].shape == (4096, 512 * 7 * 7)
    assert params["classifier.6.weight"].shape == (1000, 4096)
    assert isinstance(model.avgpool, nn.AdaptiveAvgPool2d)
    expected_types = [nn.Linear, nn.ReLU, nn.Dropout] * 2 + [nn.Linear]
    assert [type(m) for m in model.classifier] == expected_types
    del model, params
    gc.collect()


def test_small_vgg16_keys_and_head():
    model = models.vgg16(10, input_size=32)
    assert list(model.state_dict()) == vgg16_parameter_names()
    assert model.classifier[0].weight.shape == (512, 512)
    # At 28 pixels the map is 1×1 after four pools: the fifth is left out, no key moves.
    at_28 = models.vgg16(10, input_size=28)
    assert list(at_28.state_dict()) == vgg16_parameter_names()
    assert len(at_28.features) == len(model.features) - 1


def test_vgg16_bn_keys():
    keys = list(models.vgg16(10, input_size=32, batch_norm=True).state_dict())
    assert len(keys) == 13 * 2 + 13 * 5 + 6
    assert keys[:7] == ["features.0.weight", "features.0.bias"] + [
        f"features.1.{name}" for name in BN_KEYS]
    assert "features.40.weight" in keys and "features.41.running_var" in keys


def test_alexnet_keys_match_torchvision():
    keys = list(models.alexnet(10, input_size=32).state_dict())
    assert keys == [f"{part}.{i}.{p}" for part, indices in (("features", (0, 3, 6, 8, 10)),
                                                          ("classifier", (1, 4, 6)))
                    for i in indices for p in ("weight", "bias")]


def test_alexnet_imagenet_layout_needs_63_pixels():
    with pytest.raises(ValueError, match="63"):
        models.alexnet(input_size=48)


# -- initialisation ----------------------------------------------------------------------------
def test_vgg_initialisation_is_torchvisions():
    minicnn.manual_seed(0)
    model = models.vgg11(10, input_size=32, batch_norm=True)
    conv = model.features[0].weight.data
    assert conv.std() == pytest.approx(np.sqrt(2 / (64 * 9)), rel=0.1)  # kaiming, fan_out
    assert model.classifier[0].weight.data.std() == pytest.approx(0.01, rel=0.05)
    assert not model.features[0].bias.data.any() and not model.classifier[0].bias.data.any()
    assert (model.features[1].weight.data == 1).all() and not model.features[1].bias.data.any()


def test_resnet_initialisation_and_zero_init_residual():
    model = models.resnet20()
    conv = model.layer3[0].conv2.weight.data
    assert conv.std() == pytest.approx(np.sqrt(2 / (64 * 9)), rel=0.05)
    assert (model.layer1[0].bn2.weight.data == 1).all()
    zero = models.ResNet(nn.BasicBlock, [1, 1], num_classes=3, widths=(4, 8), stem="small",
                         zero_init_residual=True)
    assert not zero.layer1[0].bn2.weight.data.any() and zero.layer1[0].bn1.weight.data.all()


def test_builders_are_repeatable_with_manual_seed():
    minicnn.manual_seed(3)
    first = models.resnet20().state_dict()
    minicnn.manual_seed(3)
    second = models.resnet20().state_dict()
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])


def test_arch_names_and_reprs():
    assert models.resnet20(plain=True).arch == "resnet20_plain"
    assert models.vgg11(10, input_size=32, batch_norm=True).arch == "vgg11_bn"
    assert models.alexnet(10, input_size=32).arch == "alexnet"
    text = repr(models.resnet20())
    assert text.splitlines()[0] == ("ResNet(num_classes=10, in_channels=3, stem='small', "
                                    "shortcut='A', plain=False, input_size=32")
    assert "(downsample): ZeroPadShortcut(16, 32, stride=2)" in text


def test_builders_reject_bad_sizes():
    with pytest.raises(ValueError, match="num_classes"):
        models.resnet20(num_classes=0)
    with pytest.raises(ValueError, match="in_channels"):
        models.vgg11(in_channels=-1, input_size=32)


# -- plain versus residual ---------------------------------------------------------------------
def test_plain_and_residual_differ_only_by_shortcuts():
    residual, plain = models.resnet20(), models.resnet20(plain=True)
    assert list(residual.state_dict()) == list(plain.state_dict())
    plain.load_state_dict(residual.state_dict())
    x = batch((2, 3, 32, 32))
    assert not np.allclose(residual(x), plain(x))
    assert all(block.downsample is None for block in plain.modules()
               if isinstance(block, nn.BasicBlock))
    shortcuts = [type(block.downsample).__name__ for block in residual.modules()
                 if isinstance(block, nn.BasicBlock)]
    assert shortcuts == ["NoneType"] * 3 + (["ZeroPadShortcut"] + ["NoneType"] * 2) * 2


# -- transfer learning -------------------------------------------------------------------------
@pytest.mark.parametrize(("make", "head"), [
    (lambda: models.resnet20(), "fc"),
    (lambda: models.vgg11(10, input_size=32), "classifier.6"),
    (lambda: models.alexnet(10, input_size=32), "classifier.6"),
    (lambda: models.lenet5(), "classifier.4"),
])
def test_replace_head(make, head):
    model = make()
    keys = list(model.state_dict())
    assert models.find_head(model) == head
    old = dict(model.named_modules())[head]
    assert models.replace_head(model, 5) is model
    new = dict(model.named_modules())[head]
    assert new is not old and isinstance(new, nn.Linear)
    assert new.weight.shape == (5, old.weight.shape[1])
    assert list(model.state_dict()) == keys  # same names, same places
    size = 28 if model.arch == "lenet5" else 32
    channels = 1 if model.arch == "lenet5" else 3
    assert model(batch((2, channels, size, size))).shape == (2, 5)


def test_replace_head_keeps_dtype():
    model = models.resnet20().astype(np.float64)
    models.replace_head(model, 4)
    assert model.fc.weight.dtype == np.float64
    assert model(batch((1, 3, 8, 8)).astype(np.float64)).dtype == np.float64


def test_load_backbone_skips_the_head():
    minicnn.manual_seed(0)
    source = models.resnet20(num_classes=10)
    target = models.resnet20(num_classes=5)
    fc_before = target.fc.weight.data.copy()
    report = models.load_backbone(target, source.state_dict())
    assert report.excluded == ["fc.weight", "fc.bias"]
    assert report.missing == ["fc.weight", "fc.bias"]
    assert report.mismatched == [] and report.unexpected == []
    assert len(report.loaded) == len(source.state_dict()) - 2
    np.testing.assert_array_equal(target.conv1.weight.data, source.conv1.weight.data)
    np.testing.assert_array_equal(target.layer3[2].bn2.running_var,
                                  source.layer3[2].bn2.running_var)
    np.testing.assert_array_equal(target.fc.weight.data, fc_before)


def test_load_backbone_reports_mismatched_and_unexpected_keys():
    source = models.resnet20(num_classes=10).state_dict()
    source["extra.weight"] = np.zeros(3, np.float32)
    target = models.resnet20(num_classes=5, in_channels=1)
    report = models.load_backbone(target, source, exclude=[])
    assert report.excluded == []
    assert report.mismatched == ["conv1.weight", "fc.weight", "fc.bias"]
    assert report.unexpected == ["extra.weight"]
    assert report.missing == ["conv1.weight", "fc.weight", "fc.bias"]


def test_load_backbone_from_a_file(tmp_path):
    source = models.lenet5()
    path = minicnn.save(source, tmp_path / "lenet.npz")
    target = models.lenet5(num_classes=3)
    report = models.load_backbone(target, path, exclude="classifier.4")
    assert report.excluded == ["classifier.4.weight", "classifier.4.bias"]
    np.testing.assert_array_equal(target.features[0].weight.data,
                                  source.features[0].weight.data)


def test_frozen_backbone_is_unchanged_by_an_sgd_step():
    from minicnn import optim

    model = models.resnet20()
    models.replace_head(model, 3)
    models.freeze(model)
    models.unfreeze(model.fc)
    assert model.num_parameters(trainable_only=True) == 64 * 3 + 3
    before = {name: p.data.copy() for name, p in model.named_parameters()}
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    model.train()
    logits = model(batch((2, 3, 32, 32)))
    opt.zero_grad()
    model.backward(batch(logits.shape, seed=1))
    opt.step()
    for name, param in model.named_parameters():
        if name.startswith("fc."):
            assert not np.array_equal(param.data, before[name]), name
        else:
            np.testing.assert_array_equal(param.data, before[name], err_msg=name)
