"""DenseNet: the concatenation pair, DenseLayer, DenseBlock, Transition and the builders.

Checked: ``cat_forward`` against a loop by definition and its backward (the split) against
central differences; float64 central-difference checks (input and every parameter, training
mode) of a dense layer (with and without dropout), a dense block, a transition and a tiny
``densenet_bc``; that a dense layer's output starts with its input, unchanged; forward and
backward shapes of the builders on small inputs; parameter counts against torchvision's
published numbers and against a count by hand (a formula per layer); state-dict keys against
torchvision's layout written out by hand, and a torchvision-shaped state dict loading with
``strict=True``; torchvision's initialisation; where dropout goes. Errors expected: a
ValueError naming the block, what it expected and what came (``DenseBlock(6 layers, 64 → 256
channels): expected input with 64 channels (N, 64, H, W), got shape (2, 3, 8, 8)``), and
ValueErrors naming the builder for bad depth, compression, stem, drop_rate or drop_after.
Every test runs under both engines.
"""

import re

import numpy as np
import pytest

import minicnn
from minicnn import models, nn
from minicnn.gradcheck import check_module, numerical_gradient_array
from minicnn.models.transfer import find_head
from tests.engine_under_test import F

pytestmark = pytest.mark.usefixtures("each_engine")

# As in test_blocks.py: BatchNorm over few values makes some gradient entries nearly cancel.
TOL = 1e-5
BN_KEYS = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]


@pytest.fixture(autouse=True)
def seeded():
    minicnn.manual_seed(0)


def batch(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def assert_gradients_ok(module, x, max_entries=30):
    report = check_module(module.train(), x, max_entries=max_entries, h=1e-6)
    assert report.ok(TOL), report
    return report


# -- the concatenation pair ------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dim", [1, 0, -1])
def test_cat_forward_by_definition_and_backward_splits(dtype, dim):
    shapes = {1: [(2, 3, 4), (2, 1, 4), (2, 2, 4)], 0: [(1, 3, 4), (2, 3, 4)],
              -1: [(2, 3, 1), (2, 3, 5)]}[dim]
    xs = [batch(shape, seed, dtype) for seed, shape in enumerate(shapes)]
    out, cache = F.cat_forward(xs, dim=dim)
    axis = dim % 3
    assert out.dtype == dtype and out.shape[axis] == sum(s[axis] for s in shapes)
    # By definition: output position p along the axis is position p − offset of input k.
    offset = 0
    for x in xs:
        for p in range(x.shape[axis]):
            np.testing.assert_array_equal(np.take(out, offset + p, axis), np.take(x, p, axis))
        offset += x.shape[axis]
    dout = batch(out.shape, seed=9, dtype=np.float64)
    grads = F.cat_backward(dout, cache)
    for k in range(len(xs)):
        def joined(xk, k=k):
            parts = [xk if j == k else x64 for j, x64 in enumerate(xs)]
            return F.cat_forward([p.astype(np.float64) for p in parts], dim=dim)[0]
        numeric = numerical_gradient_array(joined, xs[k].astype(np.float64), dout)
        np.testing.assert_allclose(grads[k], numeric, rtol=1e-7, atol=1e-9)


def test_cat_forward_errors():
    with pytest.raises(ValueError, match=r"^cat_forward: expected at least one input"):
        F.cat_forward([], dim=1)
    with pytest.raises(ValueError, match=r"^cat_forward: expected inputs of the same rank with "
                                         r"an axis 3"):
        F.cat_forward([np.zeros((1, 2, 3))], dim=3)
    with pytest.raises(ValueError, match=r"^cat_forward: inputs must agree in every axis but 1, "
                                         r"got shapes \[\(1, 2, 3\), \(1, 3, 4\)\]"):
        F.cat_forward([np.zeros((1, 2, 3)), np.zeros((1, 3, 4))], dim=1)
    with pytest.raises(TypeError, match=r"expected inputs of one dtype, got float64 \(input 0\) "
                                        r"and float32 \(input 1\)"):
        F.cat_forward([np.zeros((1, 2, 3)), np.zeros((1, 2, 3), np.float32)], dim=1)


# -- DenseLayer ------------------------------------------------------------------------------
def dense_layer_params(c, k, bn_size):
    """By hand: norm1 (2c), conv1 (c·bn·k), norm2 (2·bn·k), conv2 (bn·k·k·3·3)."""
    return 2 * c + c * bn_size * k + 2 * bn_size * k + bn_size * k * k * 9


def test_dense_layer_keeps_its_input_and_adds_growth_rate_channels():
    layer = nn.DenseLayer(5, growth_rate=3, bn_size=2)
    x = batch((2, 5, 6, 7))
    out = layer(x)
    assert out.shape == (2, 8, 6, 7) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, :5], x)  # the concatenation copies x unchanged
    assert [name for name, _ in layer.named_children()] == [
        "norm1", "relu1", "conv1", "norm2", "relu2", "conv2"]
    assert layer.conv1.weight.shape == (6, 5, 1, 1) and layer.conv1.bias is None
    assert layer.conv2.weight.shape == (3, 6, 3, 3) and layer.conv2.bias is None
    assert layer.num_parameters() == dense_layer_params(5, 3, 2)


def test_dense_layer_gradcheck():
    report = assert_gradients_ok(nn.DenseLayer(4, growth_rate=3, bn_size=2), batch((2, 4, 5, 5)))
    assert set(report.errors) == {"input", "norm1.weight", "norm1.bias", "conv1.weight",
                                  "norm2.weight", "norm2.bias", "conv2.weight"}


def test_dense_layer_input_gradient_is_the_straight_part_plus_the_branch():
    # dL/dx = dout[:, :c] + ∂H/∂x · dout[:, c:]: with dout zero on the new channels only the
    # straight part is left; with dout zero on the old channels only the branch.
    layer = nn.DenseLayer(3, growth_rate=2, bn_size=2).astype(np.float64)
    x = batch((2, 3, 4, 4), dtype=np.float64)
    dout = batch((2, 5, 4, 4), seed=1, dtype=np.float64)
    straight, branch = dout.copy(), dout.copy()
    straight[:, 3:] = 0
    branch[:, :3] = 0
    layer(x)
    np.testing.assert_array_equal(layer.backward(straight), dout[:, :3])
    layer(x)
    through_branch = layer.backward(branch)
    layer(x)
    np.testing.assert_allclose(layer.backward(dout), dout[:, :3] + through_branch, rtol=1e-12)


@pytest.mark.parametrize(("drop_after", "names"), [("layer", ["dropout"]),
                                                   ("each_conv", ["dropout1", "dropout2"])])
def test_dense_layer_dropout_placement_and_gradcheck(drop_after, names):
    layer = nn.DenseLayer(4, growth_rate=3, bn_size=2, drop_rate=0.3, drop_after=drop_after)
    children = [name for name, _ in layer.named_children()]
    assert [name for name in children if name.startswith("dropout")] == names
    assert children.index(names[-1]) == children.index("conv2") + 1
    if drop_after == "each_conv":
        assert children.index("dropout1") == children.index("conv1") + 1
    assert_gradients_ok(layer, batch((2, 4, 5, 5)))
    assert layer.eval()(batch((2, 4, 5, 5))).shape == (2, 7, 5, 5)


# -- DenseBlock and Transition ---------------------------------------------------------------
def test_dense_block_shapes_names_and_gradcheck():
    block = nn.DenseBlock(3, 4, bn_size=2, growth_rate=2)
    assert [name for name, _ in block.named_children()] == [
        "denselayer1", "denselayer2", "denselayer3"]
    assert [layer.num_input_features for layer in block] == [4, 6, 8]
    x = batch((2, 4, 5, 5))
    out = block(x)
    assert out.shape == (2, 10, 5, 5) and block.num_output_features == 10
    np.testing.assert_array_equal(out[:, :4], x)
    assert block.num_parameters() == sum(dense_layer_params(4 + 2 * i, 2, 2) for i in range(3))
    assert_gradients_ok(block, x)


@pytest.mark.parametrize("size", [6, 5])
def test_transition_shapes_and_gradcheck(size):
    transition = nn.Transition(6, 3)
    assert [name for name, _ in transition.named_children()] == ["norm", "relu", "conv", "pool"]
    assert transition.num_parameters() == 2 * 6 + 6 * 3
    x = batch((2, 6, size, size))
    assert transition(x).shape == (2, 3, size // 2, size // 2)  # 2×2 average pool, floor
    assert_gradients_ok(transition, x)


def test_transition_dropout_sits_between_conv_and_pool():
    transition = nn.Transition(6, 3, drop_rate=0.2)
    assert [name for name, _ in transition.named_children()] == [
        "norm", "relu", "conv", "dropout", "pool"]
    assert_gradients_ok(transition, batch((2, 6, 4, 4)))


def test_wrong_channels_name_the_block():
    with pytest.raises(ValueError, match=re.escape(
            "DenseBlock(6 layers, 64 → 256 channels): expected input with 64 channels "
            "(N, 64, H, W), got shape (2, 3, 8, 8)")):
        nn.DenseBlock(6, 64, growth_rate=32)(batch((2, 3, 8, 8)))
    with pytest.raises(ValueError, match=re.escape(
            "DenseLayer(5, growth_rate=3): expected input with 5 channels (N, 5, H, W), got "
            "shape (2, 4, 6, 6)")):
        nn.DenseLayer(5, 3)(batch((2, 4, 6, 6)))
    with pytest.raises(ValueError, match=re.escape(
            "Transition(6 → 3 channels): expected input with 6 channels (N, 6, H, W), got "
            "shape (2, 7, 4, 4)")):
        nn.Transition(6, 3)(batch((2, 7, 4, 4)))
    with pytest.raises(ValueError, match=r"^DenseLayer\(5, growth_rate=3\): expected input of "
                                         r"rank 4 \(N, C, H, W\), got shape \(2, 5\)"):
        nn.DenseLayer(5, 3)(batch((2, 5)))
    with pytest.raises(TypeError, match=r"^DenseLayer\(5, growth_rate=3\): expected input of "
                                        r"dtype float32 or float64, got int64"):
        nn.DenseLayer(5, 3)(np.zeros((2, 5, 4, 4), np.int64))


def test_bad_block_arguments():
    with pytest.raises(ValueError, match=r"DenseLayer\(4, growth_rate=2\): expected drop_rate "
                                         r"in \[0, 1\), got 1"):
        nn.DenseLayer(4, 2, drop_rate=1)
    with pytest.raises(ValueError, match=r"expected drop_after in \('layer', 'each_conv'\), "
                                         r"got 'conv'"):
        nn.DenseLayer(4, 2, drop_rate=0.1, drop_after="conv")
    with pytest.raises(ValueError, match=r"^DenseBlock: expected num_layers"):
        nn.DenseBlock(0, 4)
    with pytest.raises((TypeError, ValueError), match=r"^Transition: expected num_output_"):
        nn.Transition(4, 0)


# -- the builders ----------------------------------------------------------------------------
def densenet_params(k, block_config, init, in_channels=3, num_classes=1000, stem_kernel=7,
                    stem_norm=True, compression=0.5):
    """The parameter count by hand, layer by layer (no bias on any convolution)."""
    total = in_channels * init * stem_kernel ** 2 + (2 * init if stem_norm else 0)
    c = init
    for index, num_layers in enumerate(block_config):
        total += sum(dense_layer_params(c + i * k, k, 4) for i in range(num_layers))
        c += num_layers * k
        if index < len(block_config) - 1:
            out = int(compression * c)
            total += 2 * c + c * out  # transition: norm, 1×1 conv
            c = out
    return total + 2 * c + c * num_classes + num_classes  # norm5, classifier


TORCHVISION_COUNTS = [  # torchvision's densenetXXX() at 1000 classes, from its model table
    ("densenet121", 32, (6, 12, 24, 16), 64, 7_978_856),
    ("densenet161", 48, (6, 12, 36, 24), 96, 28_681_000),
    ("densenet169", 32, (6, 12, 32, 32), 64, 14_149_480),
    ("densenet201", 32, (6, 12, 48, 32), 64, 20_013_928),
]


@pytest.mark.parametrize(("arch", "k", "config", "init", "expected"), TORCHVISION_COUNTS,
                         ids=[case[0] for case in TORCHVISION_COUNTS])
def test_imagenet_parameter_counts(arch, k, config, init, expected):
    assert densenet_params(k, config, init) == expected  # the formula agrees with torchvision
    model = getattr(models, arch)()
    assert model.num_parameters() == expected and model.arch == arch
    assert model.config["block_config"] == config and model.config["growth_rate"] == k


def test_small_input_densenet121_count():
    model = models.densenet121(10, input_size=32)
    assert "pool0" not in dict(model.features.named_children())
    assert model.features.conv0.weight.shape == (64, 3, 3, 3)
    assert model.num_parameters() == densenet_params(32, (6, 12, 24, 16), 64, num_classes=10,
                                                     stem_kernel=3) == 6_956_426


def test_densenet_bc_count_is_the_papers_08m():
    model = models.densenet_bc()  # depth 100, k = 12: n = 16 layers per block
    n, k = 16, 12
    assert model.num_parameters() == densenet_params(k, (n, n, n), 2 * k, num_classes=10,
                                                     stem_kernel=3, stem_norm=False) == 769_162
    assert model.classifier.in_features == 342
    assert [name for name, _ in model.features.named_children()] == [
        "conv0", "denseblock1", "transition1", "denseblock2", "transition2", "denseblock3",
        "norm4"]


def test_densenet_bc_options_change_the_count_as_the_formula_does():
    model = models.densenet_bc(depth=40, growth_rate=24, num_classes=100, compression=1.0)
    assert model.num_parameters() == densenet_params(24, (6, 6, 6), 48, num_classes=100,
                                                     stem_kernel=3, stem_norm=False,
                                                     compression=1.0)


def torchvision_densenet121_keys():
    """torchvision's densenet121().state_dict() keys in order, written out from its layout."""
    def bn(prefix):
        return [f"{prefix}.{name}" for name in BN_KEYS]

    keys = ["features.conv0.weight", *bn("features.norm0")]
    for block, num_layers in enumerate((6, 12, 24, 16), start=1):
        for layer in range(1, num_layers + 1):
            prefix = f"features.denseblock{block}.denselayer{layer}"
            keys += [*bn(f"{prefix}.norm1"), f"{prefix}.conv1.weight",
                     *bn(f"{prefix}.norm2"), f"{prefix}.conv2.weight"]
        if block < 4:
            keys += [*bn(f"features.transition{block}.norm"),
                     f"features.transition{block}.conv.weight"]
    return [*keys, *bn("features.norm5"), "classifier.weight", "classifier.bias"]


# A sample of torchvision's densenet121 shapes, read off its layout (not from minicnn).
TORCHVISION_121_SHAPES = {
    "features.conv0.weight": (64, 3, 7, 7),
    "features.norm0.running_var": (64,),
    "features.denseblock1.denselayer1.norm1.weight": (64,),
    "features.denseblock1.denselayer1.conv1.weight": (128, 64, 1, 1),
    "features.denseblock1.denselayer1.conv2.weight": (32, 128, 3, 3),
    "features.denseblock1.denselayer6.conv1.weight": (128, 224, 1, 1),
    "features.transition1.norm.running_mean": (256,),
    "features.transition1.conv.weight": (128, 256, 1, 1),
    "features.denseblock2.denselayer12.norm1.bias": (480,),
    "features.transition3.conv.weight": (512, 1024, 1, 1),
    "features.denseblock4.denselayer16.conv1.weight": (128, 992, 1, 1),
    "features.norm5.weight": (1024,),
    "classifier.weight": (1000, 1024),
    "classifier.bias": (1000,),
}


def test_densenet121_keys_match_torchvision_and_load_strictly():
    model = models.densenet121()
    state = model.state_dict()
    expected = torchvision_densenet121_keys()
    # 6 (stem) + 58 layers × 12 + 3 transitions × 6 + 5 (norm5) + 2 (classifier)
    assert len(expected) == 6 + 58 * 12 + 3 * 6 + 5 + 2 == 727
    assert list(state) == expected
    for key, shape in TORCHVISION_121_SHAPES.items():
        assert state[key].shape == shape, key
    # A torchvision-shaped state dict (fresh values) loads with strict=True, every value lands.
    rng = np.random.default_rng(3)
    incoming = {key: (np.array(7, np.int64) if key.endswith("num_batches_tracked")
                      else rng.standard_normal(value.shape).astype(np.float32))
                for key, value in state.items()}
    assert model.load_state_dict(incoming, strict=True) == ([], [])
    loaded = model.state_dict()
    for key in ("features.denseblock3.denselayer24.conv2.weight", "features.norm5.running_var",
                "classifier.bias", "features.transition2.norm.num_batches_tracked"):
        np.testing.assert_array_equal(loaded[key], incoming[key])
    missing = dict(incoming)
    del missing["features.denseblock4.denselayer16.norm2.weight"]
    with pytest.raises(ValueError,
                       match=r"missing key: features\.denseblock4\.denselayer16\.norm2"):
        model.load_state_dict(missing, strict=True)


def test_dropout_modules_add_no_keys():
    keys = list(models.densenet121().state_dict())
    with_dropout = models.densenet121(drop_rate=0.2)
    assert list(with_dropout.state_dict()) == keys
    layer = with_dropout.features.denseblock1.denselayer1
    assert isinstance(layer.dropout, nn.Dropout) and not hasattr(layer, "dropout1")
    assert not any(isinstance(m, nn.Dropout) for m in with_dropout.features.transition1.modules())
    bc = models.densenet_bc(depth=10, growth_rate=4, drop_rate=0.2)  # the paper: every conv
    assert isinstance(bc.features.denseblock1.denselayer1.dropout1, nn.Dropout)
    assert isinstance(bc.features.denseblock1.denselayer1.dropout2, nn.Dropout)
    assert isinstance(bc.features.transition1.dropout, nn.Dropout)
    assert not models.densenet_bc(depth=10, growth_rate=4).features.transition1.drop_rate


def test_initialisation_is_torchvisions():
    model = models.densenet121(10, input_size=32)
    conv = model.features.denseblock3.denselayer1.conv1.weight.data  # fan_in 256
    assert conv.std() == pytest.approx(np.sqrt(2 / 256), rel=0.02)
    conv2 = model.features.denseblock4.denselayer1.conv2.weight.data  # fan_in 128·9
    assert conv2.std() == pytest.approx(np.sqrt(2 / (128 * 9)), rel=0.02)
    norm = model.features.transition2.norm
    assert (norm.weight.data == 1).all() and not norm.bias.data.any()
    assert not model.classifier.bias.data.any()
    bound = 1 / np.sqrt(1024)  # PyTorch's default Linear weight: U(−1/√in, 1/√in)
    weight = model.classifier.weight.data
    assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.9 * bound


@pytest.mark.parametrize(("make", "shape"), [
    (lambda: models.densenet121(), (2, 3, 32, 32)),  # ImageNet stem: 32 → 8 → 4 → 2 → 1
    # the small stem keeps the full map; 8 px (8 → 4 → 2 → 1) keeps the test short
    (lambda: models.densenet121(10, in_channels=1, input_size=28), (2, 1, 8, 8)),
    (lambda: models.densenet_bc(depth=16, growth_rate=6), (2, 3, 32, 32)),
], ids=["densenet121-32px", "densenet121-small-stem-gray", "densenet_bc-16"])
def test_forward_backward_shapes(make, shape):
    model = make().train()
    x = batch(shape)
    logits = model(x)
    assert logits.shape == (2, model.classifier.out_features) and logits.dtype == np.float32
    model.zero_grad()
    dx = model.backward(batch(logits.shape, seed=1))
    assert dx.shape == x.shape and dx.dtype == np.float32 and np.isfinite(dx).all()
    for name, param in model.named_parameters():
        assert param.grad.shape == param.shape and np.isfinite(param.grad).all(), name
        assert param.grad.any(), f"{name} got no gradient"


def test_tiny_densenet_bc_gradcheck():
    model = models.densenet_bc(depth=10, growth_rate=4, num_classes=3)
    report = assert_gradients_ok(model, batch((2, 3, 8, 8)), max_entries=12)
    assert "features.denseblock2.denselayer1.conv2.weight" in report.errors


def test_backward_params_gives_the_same_parameter_gradients():
    model = models.densenet_bc(depth=10, growth_rate=4).astype(np.float64)
    x = batch((2, 3, 8, 8), dtype=np.float64)
    dout = batch((2, 10), seed=1, dtype=np.float64)
    model.zero_grad()
    model(x)
    model.backward(dout)
    full = {name: p.grad.copy() for name, p in model.named_parameters()}
    model.zero_grad()
    model(x)
    assert model.backward_params(dout) is None
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, full[name], rtol=1e-12, atol=1e-15, err_msg=name)


def test_summary_head_and_repr():
    model = models.densenet_bc(depth=10, growth_rate=4)
    table = minicnn.summary(model, (3, 32, 32))
    assert table.total_params == model.num_parameters()
    assert "features.denseblock1.denselayer1.conv2 (Conv2d)" in str(table)
    assert find_head(models.densenet121()) == "classifier"
    assert "DenseLayer(8, growth_rate=4" in repr(model)


def test_builders_reject_bad_arguments():
    with pytest.raises(ValueError, match=r"^densenet_bc: expected depth = 6n \+ 4 with n ≥ 1 "
                                         r"\(40, 100, 190, \.\.\.\), got 50$"):
        models.densenet_bc(depth=50)
    with pytest.raises(ValueError, match=r"expected compression in \(0, 1\], got 0"):
        models.densenet_bc(depth=10, compression=0)
    with pytest.raises(ValueError, match=r"^densenet: expected stem in"):
        models.DenseNet(stem="tiny")
    with pytest.raises((TypeError, ValueError), match=r"^densenet121: expected num_classes"):
        models.densenet121(num_classes=0)
    with pytest.raises(ValueError, match=r"expected drop_rate in \[0, 1\)"):
        models.densenet121(drop_rate=-0.1)
