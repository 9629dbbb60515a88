"""Residual blocks, the option-A shortcut, Concat and Inception: gradients, shapes, keys, errors.

Gradient checks run in float64 (``check_module`` converts a copy) in training mode, so the
BatchNorm layers normalise with batch statistics, as they do while learning.
"""

from collections import OrderedDict

import numpy as np
import pytest

import minicnn
from minicnn import nn
from minicnn.gradcheck import check_module

pytestmark = pytest.mark.usefixtures("each_engine")

# A correct backward agrees to ~1e-8 almost everywhere; BatchNorm over a handful of values makes
# some input-gradient entries nearly cancel, where the relative error reaches ~1e-6.
TOL = 1e-5
BN_KEYS = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]


@pytest.fixture(autouse=True)
def seeded():
    """The same initial weights whatever the test order (a ReLU input within h of 0 would
    make a central difference meaningless)."""
    minicnn.manual_seed(0)


def batch(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def assert_gradients_ok(module, x, max_entries=30):
    # h = 1e-6 rather than 1e-5: a ReLU input within h of 0 breaks a central difference, and
    # the odds of one among the many ReLUs of a block grow with h; float64 keeps the rounding
    # error of the smaller step below ~1e-9.
    report = check_module(module.train(), x, max_entries=max_entries, h=1e-6)
    assert report.ok(TOL), report


def param_count(module):
    return sum(p.size for p in module.parameters())


# -- BasicBlock ------------------------------------------------------------------------------
def test_basic_block_identity_shortcut_gradcheck():
    block = nn.BasicBlock(4, 4)
    assert block.downsample is None
    x = batch((2, 4, 5, 5))
    assert block(x).shape == (2, 4, 5, 5)
    assert_gradients_ok(block, x)


def test_basic_block_projection_shortcut_b_gradcheck():
    block = nn.BasicBlock(4, 8, stride=2)
    conv, bn = block.downsample
    assert isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
    assert conv.weight.shape == (8, 4, 1, 1) and conv.bias is None
    x = batch((2, 4, 6, 6))
    assert block(x).shape == (2, 8, 3, 3)
    assert_gradients_ok(block, x)


def test_basic_block_option_a_shortcut_gradcheck():
    block = nn.BasicBlock(4, 8, stride=2, shortcut="A")
    assert isinstance(block.downsample, nn.ZeroPadShortcut)
    assert param_count(block) == param_count(nn.BasicBlock(4, 8, stride=2, plain=True))
    x = batch((2, 4, 5, 5))  # odd size: ⌈5/2⌉ = 3 pixels, as the stride-2 convolution gives
    assert block(x).shape == (2, 8, 3, 3)
    assert_gradients_ok(block, x)


def test_basic_block_plain_gradcheck():
    block = nn.BasicBlock(4, 8, stride=2, plain=True)
    assert block.downsample is None
    x = batch((2, 4, 6, 6))
    assert block(x).shape == (2, 8, 3, 3)
    assert_gradients_ok(block, x)


def test_basic_block_option_c_projects_even_when_shapes_match():
    block = nn.BasicBlock(4, 4, shortcut="C")
    assert isinstance(block.downsample, nn.Sequential)
    assert_gradients_ok(block, batch((2, 4, 4, 4)))


def test_basic_block_custom_downsample_is_used():
    downsample = nn.Sequential(nn.Conv2d(4, 8, 1, stride=2, bias=False), nn.BatchNorm2d(8))
    block = nn.BasicBlock(4, 8, stride=2, downsample=downsample)
    assert block.downsample is downsample
    assert_gradients_ok(block, batch((2, 4, 4, 4)))


def test_residual_gradient_is_branch_plus_identity():
    # dL/dx = dL/dy·∂F/∂x + dL/dy (through relu_out): with F's weights zeroed (BN gamma = 0),
    # F(x) = 0 and ∂F/∂x = 0, so the block is relu(x) and its gradient the identity's alone.
    block = nn.BasicBlock(3, 3).train()
    block.bn2.weight.data[:] = 0
    block.bn2.bias.data[:] = 0
    x = batch((2, 3, 4, 4))
    dout = batch((2, 3, 4, 4), seed=1)
    np.testing.assert_array_equal(block(x), np.maximum(x, 0))
    np.testing.assert_allclose(block.backward(dout), dout * (x > 0), atol=1e-6)


def test_basic_block_state_dict_keys_follow_torchvision():
    keys = list(nn.BasicBlock(4, 8, stride=2).state_dict())
    expected = (["conv1.weight"] + [f"bn1.{k}" for k in BN_KEYS]
                + ["conv2.weight"] + [f"bn2.{k}" for k in BN_KEYS]
                + ["downsample.0.weight"] + [f"downsample.1.{k}" for k in BN_KEYS])
    assert keys == expected
    assert list(nn.BasicBlock(8, 8).state_dict()) == expected[:12]
    assert list(nn.BasicBlock(4, 8, stride=2, shortcut="A").state_dict()) == expected[:12]


def test_block_keeps_float32_and_works_in_eval_mode():
    block = nn.BasicBlock(4, 8, stride=2)
    x = batch((2, 4, 6, 6))
    block.train()(x)
    out = block.eval()(x)
    assert out.dtype == np.float32 and out.shape == (2, 8, 3, 3)


# -- Bottleneck ------------------------------------------------------------------------------
def test_bottleneck_identity_gradcheck():
    block = nn.Bottleneck(8, 2)
    assert block.expansion == 4 and block.downsample is None
    x = batch((2, 8, 4, 4))
    assert block(x).shape == (2, 8, 4, 4)
    assert_gradients_ok(block, x)


def test_bottleneck_projection_gradcheck():
    block = nn.Bottleneck(4, 2, stride=2)
    assert block.conv2.stride in (2, (2, 2))  # the stride sits on the 3×3 (torchvision)
    x = batch((2, 4, 6, 6))
    assert block(x).shape == (2, 8, 3, 3)
    assert_gradients_ok(block, x)


def test_bottleneck_option_a_and_plain_gradcheck():
    assert_gradients_ok(nn.Bottleneck(4, 2, stride=2, shortcut="A"), batch((2, 4, 4, 4)))
    assert_gradients_ok(nn.Bottleneck(4, 2, plain=True), batch((2, 4, 4, 4)))


def test_bottleneck_state_dict_keys_follow_torchvision():
    keys = list(nn.Bottleneck(64, 64).state_dict())
    assert keys[:6] == ["conv1.weight"] + [f"bn1.{k}" for k in BN_KEYS]
    assert "conv3.weight" in keys and "bn3.running_var" in keys
    assert keys[-6:] == ["downsample.0.weight"] + [f"downsample.1.{k}" for k in BN_KEYS]
    assert len(keys) == 24


# -- the option-A shortcut on its own --------------------------------------------------------
def test_zero_pad_shortcut_forward_values():
    x = batch((2, 3, 5, 5))
    out = nn.ZeroPadShortcut(3, 5, stride=2)(x)
    assert out.shape == (2, 5, 3, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, :3], x[:, :, ::2, ::2])
    assert not out[:, 3:].any()
    assert list(nn.ZeroPadShortcut(3, 5).parameters()) == []


def test_zero_pad_shortcut_gradcheck():
    report = check_module(nn.ZeroPadShortcut(3, 5, stride=2), batch((2, 3, 5, 5)))
    assert report.ok(TOL), report


# -- errors and reprs -------------------------------------------------------------------------
@pytest.mark.parametrize("block", [nn.BasicBlock(4, 8), nn.Bottleneck(4, 2),
                                   nn.Inception(4, 1, 1, 1, 1, 1, 1)])
def test_channel_mismatch_is_reported_at_the_block(block):
    with pytest.raises(ValueError, match=r"expected input with 4 channels.*\(2, 3, 5, 5\)"):
        block(batch((2, 3, 5, 5)))


def test_basic_block_error_names_the_block():
    with pytest.raises(ValueError, match=r"BasicBlock\(4, 8, stride=2\)"):
        nn.BasicBlock(4, 8, stride=2)(batch((2, 3, 6, 6)))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="shortcut"):
        nn.BasicBlock(4, 8, shortcut="D")
    with pytest.raises(ValueError, match="cannot reduce channels"):
        nn.BasicBlock(8, 4, shortcut="A")
    with pytest.raises(ValueError, match="planes"):
        nn.BasicBlock(4, 0)
    with pytest.raises(ValueError, match="plain block has no shortcut"):
        nn.BasicBlock(4, 8, plain=True, downsample=nn.Identity())


def test_shortcut_of_the_wrong_shape_is_reported_before_the_sum():
    block = nn.BasicBlock(4, 8, stride=2, downsample=nn.Identity())
    with pytest.raises(ValueError, match=r"shortcut gives shape \(2, 4, 6, 6\).*\(2, 8, 3, 3\)"):
        block(batch((2, 4, 6, 6)))


def test_backward_needs_a_forward():
    with pytest.raises(RuntimeError, match="forward"):
        nn.BasicBlock(4, 4).backward(batch((2, 4, 3, 3)))


def test_reprs_are_readable():
    text = repr(nn.BasicBlock(16, 32, stride=2, shortcut="A"))
    assert text.splitlines()[0] == "BasicBlock(16, 32, stride=2, shortcut='A'"
    assert "(downsample): ZeroPadShortcut(16, 32, stride=2)" in text
    assert "(conv1): Conv2d" in text and "(relu_out): ReLU" in text
    plain = repr(nn.BasicBlock(4, 4, plain=True))
    assert plain.splitlines()[0] == "BasicBlock(4, 4, stride=1, plain=True"
    assert repr(nn.Bottleneck(64, 64)).splitlines()[0] == "Bottleneck(64, 64, stride=1"
    text = repr(nn.Inception(192, 64, 96, 128, 16, 32, 32))
    assert text.splitlines()[0] == "Inception(in_channels=192, out_channels=256"
    assert "(branch4): Sequential" in text


# -- Concat and Inception --------------------------------------------------------------------
def test_concat_stacks_channels_and_sums_input_gradients():
    concat = nn.Concat(nn.Conv2d(3, 2, 1),
                       nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Tanh()),
                       nn.Identity())
    x = batch((2, 3, 4, 4))
    out = concat(x)
    assert out.shape == (2, 9, 4, 4)
    np.testing.assert_array_equal(out[:, 6:], x)  # the Identity branch's channels come last
    report = check_module(concat, x, max_entries=40)
    assert report.ok(TOL), report


def test_concat_keeps_names_and_reports_shape_mismatch():
    concat = nn.Concat(OrderedDict(a=nn.Conv2d(3, 2, 1), b=nn.Conv2d(3, 2, 3)))
    assert [name for name, _ in concat.named_children()] == ["a", "b"]
    with pytest.raises(ValueError, match=r"branch 'b' gives shape \(2, 2, 3, 3\)"):
        concat(batch((2, 3, 5, 5)))
    with pytest.raises(TypeError, match="Module"):
        nn.Concat(nn.ReLU(), "relu")


def test_inception_gradcheck_and_shape():
    block = nn.Inception(3, 2, 2, 3, 2, 2, 2)
    x = batch((2, 3, 5, 5))
    assert block(x).shape == (2, 2 + 3 + 2 + 2, 5, 5)
    assert_gradients_ok(block, x, max_entries=25)


def test_inception_3a_layout_and_parameters():
    block = nn.Inception(192, 64, 96, 128, 16, 32, 32)   # GoogLeNet's inception (3a)
    assert block.out_channels == 256
    shapes = {key: value.shape for key, value in block.state_dict().items()}
    assert shapes == {
        "branch1.0.weight": (64, 192, 1, 1), "branch1.0.bias": (64,),
        "branch2.0.weight": (96, 192, 1, 1), "branch2.0.bias": (96,),
        "branch2.2.weight": (128, 96, 3, 3), "branch2.2.bias": (128,),
        "branch3.0.weight": (16, 192, 1, 1), "branch3.0.bias": (16,),
        "branch3.2.weight": (32, 16, 5, 5), "branch3.2.bias": (32,),
        "branch4.1.weight": (32, 192, 1, 1), "branch4.1.bias": (32,),
    }
    # GoogLeNet's Table 1 lists 159K: the 163,328 weights (biases aside) / 1024.
    assert param_count(block) == 163_696
