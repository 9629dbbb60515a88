"""minicnn.explain and the gradient-flow record of fit, under both engines.

Checked: the input gradient (saliency) against central differences of the logit in float64,
for a net with BatchNorm and Dropout (so eval mode must be used), and a unit's gradient at an
inner layer of a residual net; the model is left as it was (training flags, parameter grads,
buffers, a pending training forward); activation maximisation raises the unit's activation and
is reproducible from its seed; occlusion against a hand-made net whose score is one pixel, and
against a loop over patch positions; receptive fields against a loop that perturbs each input
pixel; top_patches against a loop over all positions; the gradient-flow record against norms
computed by hand; the viz functions return Figures. Bad arguments raise a ValueError or
TypeError naming the function, what it expected and what came.
"""

import copy
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")  # no display: draw into memory only
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

import minicnn
from minicnn import explain, nn, optim, viz
from minicnn.gradcheck import numerical_gradient
from minicnn.train import History, fit

pytestmark = pytest.mark.usefixtures("each_engine")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def small_net(dtype=np.float64, channels=2):
    """conv → BN → ReLU → max pool → dropout → linear: 3 classes from (channels, 6, 6)."""
    minicnn.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(channels, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.5), nn.Flatten(), nn.Linear(27, 3)).astype(dtype)
    bn = model[1]  # running statistics that differ from a batch's, so that eval mode shows
    bn.running_mean = np.linspace(-0.2, 0.3, 3).astype(dtype)
    bn.running_var = np.linspace(0.5, 2.0, 3).astype(dtype)
    return model


def eval_logits(model, x):
    was = model.training
    model.eval()
    with minicnn.no_grad():
        out = model(x)
    model.train(was)
    return out


def images(n=2, c=2, h=6, w=6, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal((n, c, h, w)).astype(dtype)


# -- input gradient and saliency -------------------------------------------------------------------
def test_input_gradient_equals_central_differences_of_the_logit():
    model, x = small_net(), images()
    target = np.array([0, 2])
    grad = explain.input_gradient(model, x, target)
    assert grad.shape == x.shape and grad.dtype == np.float64
    for n in range(len(x)):
        expected = numerical_gradient(lambda z, n=n: eval_logits(model, z)[n, target[n]], x)
        assert np.abs(grad[n] - expected[n]).max() < 1e-8
    # each image's score depends on that image only
    assert np.abs(grad).sum() > 0


def test_saliency_is_the_max_over_channels_of_the_absolute_gradient():
    model, x = small_net(channels=3), images(c=3)
    grad = explain.input_gradient(model, x, 1)
    smap = explain.saliency(model, x, 1)
    assert smap.shape == (2, 6, 6)
    np.testing.assert_array_equal(smap, np.abs(grad).max(axis=1))
    one = explain.saliency(model, x[1], 1)  # one image (C, H, W) gives one map (H, W)
    assert one.shape == (6, 6)
    np.testing.assert_allclose(one, smap[1], rtol=1e-12, atol=1e-14)


def test_saliency_of_the_predicted_class_by_default():
    model, x = small_net(), images(n=4)
    predicted = eval_logits(model, x).argmax(axis=1)
    np.testing.assert_array_equal(explain.saliency(model, x), explain.saliency(model, x, predicted))


def test_explaining_leaves_the_model_as_it_was():
    model, x = small_net(), images()
    rng = np.random.default_rng(1)
    for p in model.parameters():
        p.grad[...] = rng.standard_normal(p.grad.shape)
    grads = [(p.grad, p.grad.copy()) for p in model.parameters()]
    twin = copy.deepcopy(model)
    minicnn.manual_seed(7)
    out = model(x)  # a training forward whose backward is still to come
    minicnn.manual_seed(7)
    np.testing.assert_array_equal(out, twin(x))  # the same dropout mask
    buffers = {name: b.copy() for name, b in model.named_buffers()}
    explain.saliency(model, x, 0)
    explain.unit_gradient(model, x, "0", 1)
    explain.occlusion(model, x[0], 0, patch=2, stride=2)
    explain.top_patches(model, x, "2", 0, k=2)
    explain.activation_maximization(model, "0", 0, (2, 6, 6), steps=2)
    assert model.training and all(m.training for m in model.modules())
    for (grad_array, values), p in zip(grads, model.parameters(), strict=True):
        assert p.grad is grad_array
        np.testing.assert_array_equal(p.grad, values)
    buffers_now = dict(model.named_buffers())
    for name, value in buffers.items():
        np.testing.assert_array_equal(buffers_now[name], value)
    dout = np.ones_like(out)
    model.zero_grad()
    twin.zero_grad()
    np.testing.assert_array_equal(model.backward(dout), twin.backward(dout))  # the pending one


def test_saliency_refuses_bad_targets_and_inputs():
    model, x = small_net(), images()
    with pytest.raises(ValueError, match=r"input_gradient: expected target classes in \[0, 3\)"):
        explain.saliency(model, x, 3)
    with pytest.raises(ValueError, match=r"input_gradient: expected target to be a class index "
                                         r"or 2 class indices"):
        explain.saliency(model, x, [0, 1, 2])
    with pytest.raises(ValueError, match=r"input_gradient: expected one image \(C, H, W\) or a "
                                         r"batch \(N, C, H, W\), got shape \(6, 6\)"):
        explain.saliency(model, x[0, 0], 0)
    with pytest.raises(TypeError, match=r"input_gradient: expected a float32 or float64 array, "
                                        r"got int64"):
        explain.saliency(model, np.zeros((1, 2, 6, 6), dtype=np.int64), 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saliency_keeps_the_dtype(dtype):
    model, x = small_net(dtype), images(dtype=dtype)
    assert explain.saliency(model, x, 0).dtype == dtype


class TwoHeads(nn.Module):
    """A model with two outputs, (logits, 2·logits), as a multi-output model returns them."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(8, 3)).astype(np.float64)

    def forward(self, x):
        out = self.body(x)
        return out, 2 * out

    def backward(self, douts):
        return self.body.backward(douts[0] + 2 * douts[1])


def test_saliency_of_a_multi_output_model_uses_the_main_output():
    minicnn.manual_seed(0)
    model, x = TwoHeads(), images(n=2, c=2, h=2, w=2)
    grad = explain.input_gradient(model, x, [2, 0])
    weight = model.body[1].weight.data
    np.testing.assert_allclose(grad.reshape(2, 8), weight[[2, 0]], rtol=1e-12)


def test_importing_explain_imports_neither_matplotlib_nor_scipy():
    code = ("import sys, minicnn.explain; "
            "print([m for m in ('matplotlib', 'scipy.ndimage') if m in sys.modules])")
    root = Path(minicnn.__file__).parent.parent
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=root).stdout.strip()
    assert out == "[]"


# -- a unit's gradient at an inner layer -----------------------------------------------------------
def residual_net():
    minicnn.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.BasicBlock(4, 4),
                         nn.GlobalAvgPool2d(), nn.Flatten(), nn.Linear(4, 2)).astype(np.float64)


@pytest.mark.parametrize("layer, unit", [("2.conv1", 1), ("2.conv2", (3, 2, 1)), ("0", 0),
                                         ("5", 1)])
def test_unit_gradient_equals_central_differences(layer, unit):
    model, x = residual_net(), images(n=2, c=1, h=5, w=5)
    values, grad = explain.unit_gradient(model, x, layer, unit)
    np.testing.assert_allclose(values, explain.unit_activation(model, x, layer, unit),
                               rtol=1e-12)
    expected = numerical_gradient(
        lambda z: explain.unit_activation(model, z, layer, unit).sum(), x)
    assert np.abs(grad - expected).max() < 1e-8


def test_layer_output_is_what_the_layer_gives():
    model, x = residual_net(), images(n=3, c=1, h=5, w=5)
    with minicnn.no_grad():
        model.eval()
        expected = model[1](model[0](x))
    model.train()
    np.testing.assert_array_equal(explain.layer_output(model, x, "1"), expected)
    np.testing.assert_array_equal(explain.layer_output(model, x[0], model[1]), expected[:1])
    with pytest.raises(ValueError, match=r"layer_output: Conv2d is not a layer of this model"):
        explain.layer_output(model, x, nn.Conv2d(1, 1, 1))


def test_unit_activation_of_a_channel_is_its_mean():
    model, x = residual_net(), images(n=3, c=1, h=5, w=5)
    with minicnn.no_grad():
        model.eval()
        conv_out = model[0](x)
    model.train()
    np.testing.assert_allclose(explain.unit_activation(model, x, "0", 2),
                               conv_out[:, 2].mean(axis=(1, 2)), rtol=1e-12)
    np.testing.assert_allclose(explain.unit_activation(model, x, "0", (2, 4, 0)),
                               conv_out[:, 2, 4, 0], rtol=1e-12)


def test_units_and_layers_are_checked():
    model, x = residual_net(), images(n=1, c=1, h=5, w=5)
    with pytest.raises(ValueError, match=r"unit_activation: the model has no layer named "
                                         r"'features.3'; its layers are \['0', '1', '2'"):
        explain.unit_activation(model, x, "features.3", 0)
    with pytest.raises(ValueError, match=r"unit_activation: unit 4 is outside layer '0'"):
        explain.unit_activation(model, x, "0", 4)
    with pytest.raises(ValueError, match=r"unit_gradient: expected unit to be a channel index "
                                         r"or \(channel, i, j\)"):
        explain.unit_gradient(model, x, "0", (1, 2))


# -- activation maximisation -----------------------------------------------------------------------
def conv_net(dtype=np.float32):
    minicnn.manual_seed(3)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(6 * 5 * 5, 3)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_maximization_raises_the_activation_and_is_reproducible(dtype):
    model = conv_net(dtype)
    kwargs = dict(steps=30, lr=0.05, jitter=1, blur_every=3, blur_sigma=0.5, l2=1e-3, seed=4,
                  dtype=dtype)
    result = explain.activation_maximization(model, "3", 2, (1, 10, 10), **kwargs)
    assert result.image.shape == (1, 10, 10) and result.image.dtype == dtype
    assert result.activations.shape == (31,)
    final = explain.unit_activation(model, result.image, "3", 2)[0]
    np.testing.assert_allclose(result.activations[-1], final, rtol=1e-5)
    start = explain.unit_activation(model, (np.random.default_rng(4).standard_normal(
        (1, 1, 10, 10)) * 0.1).astype(dtype), "3", 2)[0]
    assert final > 2 * start > 0
    # ... and more than random images of the same norm
    noise = np.random.default_rng(9).standard_normal((50, 1, 10, 10))
    noise *= np.linalg.norm(result.image) / np.sqrt((noise ** 2).sum(axis=(1, 2, 3), keepdims=True))
    assert final > explain.unit_activation(model, noise.astype(dtype), "3", 2).max()
    again = explain.activation_maximization(model, "3", 2, (1, 10, 10), **kwargs)
    np.testing.assert_array_equal(again.image, result.image)
    other = explain.activation_maximization(model, "3", 2, (1, 10, 10), **{**kwargs, "seed": 5})
    assert not np.array_equal(other.image, result.image)


def test_activation_maximization_of_a_class_score_and_from_a_start_image():
    model = conv_net()
    x0 = np.zeros((1, 10, 10), np.float32)
    result = explain.activation_maximization(model, "6", 1, None, steps=20, lr=0.05, x0=x0,
                                             jitter=0, blur_every=0)
    assert result.activations[-1] > result.activations[0]
    assert np.all(np.diff(result.activations) > 0)  # plain ascent: every step goes up
    assert np.array_equal(x0, np.zeros((1, 10, 10)))  # the start image is not changed


def test_activation_maximization_warns_when_the_unit_is_dead_at_the_start():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 1, 1))
    model[0].bias.data[...] = -100.0  # every ReLU is off
    with pytest.warns(UserWarning, match=r"activation_maximization: the gradient of unit 0 of "
                                         r"'2' is zero at the start image"):
        result = explain.activation_maximization(model, "2", 0, (1, 5, 5), steps=2)
    assert result.activations[0] == result.activations[-1]


def test_activation_maximization_refuses_bad_arguments():
    model = conv_net()
    with pytest.raises(ValueError, match=r"activation_maximization: expected input_shape "
                                         r"\(C, H, W\), got \(10, 10\)"):
        explain.activation_maximization(model, "3", 0, (10, 10))
    with pytest.raises(ValueError, match=r"activation_maximization: expected lr >= 0, got -1"):
        explain.activation_maximization(model, "3", 0, (1, 10, 10), lr=-1)


# -- occlusion -------------------------------------------------------------------------------------
def one_pixel_net(pixel=(3, 5), size=8):
    """Logit 0 = 4 · x[pixel], logit 1 = 0: the decision rests on one pixel."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(size * size, 2)).astype(np.float64)
    model[1].weight.data[...] = 0
    model[1].bias.data[...] = 0
    model[1].weight.data[0, pixel[0] * size + pixel[1]] = 4.0
    return model


def test_occlusion_is_large_exactly_where_the_pixel_is():
    model, x = one_pixel_net(), np.ones((1, 8, 8))
    drop = explain.occlusion(model, x, target=0, patch=3, stride=1)
    assert drop.shape == (6, 6)
    covers = np.zeros((6, 6), bool)
    for a in range(6):
        for b in range(6):
            covers[a, b] = a <= 3 < a + 3 and b <= 5 < b + 3
    p = 1 / (1 + np.exp(-4.0))
    np.testing.assert_allclose(drop[covers], p - 0.5, rtol=1e-12)
    np.testing.assert_array_equal(drop[~covers], 0.0)
    # stride 2 and a rectangular patch: positions (8 − 2) // 2 + 1 by (8 − 4) // 2 + 1
    drop = explain.occlusion(model, x, 0, patch=(2, 4), stride=2)
    assert drop.shape == (4, 3)
    assert set(zip(*np.nonzero(drop), strict=True)) == {(1, 1), (1, 2)}


def test_occlusion_equals_a_loop_over_patch_positions():
    model, x = small_net(), images(n=2)
    drop = explain.occlusion(model, x, target=[1, 2], patch=(2, 3), stride=(2, 1), fill="mean",
                             batch_size=5)
    assert drop.shape == (2, 3, 4)
    softmax = lambda z: np.exp(z) / np.exp(z).sum()  # noqa: E731
    for n, t in enumerate([1, 2]):
        p = softmax(eval_logits(model, x[n:n + 1])[0])[t]
        for a in range(3):
            for b in range(4):
                hidden = x[n].copy()
                hidden[:, 2 * a:2 * a + 2, b:b + 3] = x[n].mean(axis=(1, 2))[:, None, None]
                q = softmax(eval_logits(model, hidden[None])[0])[t]
                assert abs(drop[n, a, b] - (p - q)) < 1e-12


def test_occlusion_refuses_a_patch_larger_than_the_image():
    model = one_pixel_net()
    with pytest.raises(ValueError, match=r"occlusion: patch \(9, 9\) is larger than the image"):
        explain.occlusion(model, np.ones((1, 8, 8)), 0, patch=9)
    with pytest.raises(ValueError, match=r"occlusion: expected stride to be a positive int"):
        explain.occlusion(model, np.ones((1, 8, 8)), 0, stride=0)


# -- receptive fields and top patches --------------------------------------------------------------
def stack(pool, dilation=1):
    """conv 3×3/1 pad 1 → pool 2 → conv 3×3/2 pad (1, 2) → sigmoid → pool 3/1 pad 1, positive
    weights: every pixel of a receptive field changes the output (under average pooling and
    without dilation, which leaves holes)."""
    minicnn.manual_seed(1)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), pool(2, 2),
        nn.Conv2d(2, 2, 3, stride=2, dilation=dilation, padding=(1, 2)), nn.Sigmoid(),
        pool(3, 1, 1)).astype(np.float64)
    for p in model.parameters():
        p.data[...] = np.abs(p.data) + 0.1
    return model


def dependence(model, x, layer: int):
    """For each position (i, j) of channel 0 of layer ``layer``'s output, the input pixels that
    change it: a loop perturbing each pixel in turn."""
    prefix = model[:layer + 1]
    reference = eval_logits(prefix, x)[0, 0]
    changed = {}
    for r, c in np.ndindex(x.shape[2:]):
        z = x.copy()
        z[0, 0, r, c] += 1.0
        changed[r, c] = eval_logits(prefix, z)[0, 0] != reference
    return {(i, j): {rc for rc, change in changed.items() if change[i, j]}
            for i, j in np.ndindex(reference.shape)}


def box_pixels(box, size):
    top, left, bottom, right = box
    return {(r, c) for r in range(max(top, 0), min(bottom, size))
            for c in range(max(left, 0), min(right, size))}


def test_receptive_field_equals_the_pixels_that_change_the_output():
    model = stack(nn.AvgPool2d)
    field = explain.receptive_field(model, "4")
    # by hand: size 1 +2 (conv 3) +1 (pool 2) +2·2 (conv 3 at jump 2) +2·4 (pool 3 at jump 4);
    # start −1 (pad 1) then −1·2 rows, −2·2 columns (pad (1, 2) at jump 2), then −1·4 (pad 1)
    assert field.size == (16, 16) and field.jump == (4, 4) and field.start == (-7, -9)
    x = images(n=1, c=1, h=12, w=12, seed=3)
    for (i, j), pixels in dependence(model, x, 4).items():
        assert pixels == box_pixels(field.box(i, j), 12), (i, j)


@pytest.mark.parametrize("pool", [nn.MaxPool2d, nn.AvgPool2d])
def test_receptive_field_with_dilation_and_max_pooling_holds_the_pixels_that_matter(pool):
    """Dilation leaves holes in the field, and a non-maximum does not change a max: the pixels
    that change an output lie inside its field, which they fill to within a dilation gap."""
    model = stack(pool, dilation=2)
    field = explain.receptive_field(model, "4")
    assert field.size == (20, 20) and field.start == (-7, -9)  # the dilated kernel spans 5
    x = images(n=1, c=1, h=12, w=12, seed=3)
    for (i, j), pixels in dependence(model, x, 4).items():
        assert pixels and pixels <= box_pixels(field.box(i, j), 12), (i, j)


def test_receptive_field_through_nested_sequentials_and_its_errors():
    minicnn.manual_seed(0)
    model = nn.Sequential(nn.Sequential(nn.Conv2d(1, 2, 5), nn.ReLU()),
                          nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(2, 2, 3)))
    assert explain.receptive_field(model, "0") == ((5, 5), (1, 1), (0, 0))
    assert explain.receptive_field(model, "1.0") == ((6, 6), (2, 2), (0, 0))
    assert explain.receptive_field(model, "1") == ((10, 10), (2, 2), (0, 0))
    # the poolings of every kind, a dilated max pooling spanning d·(k − 1) + 1 = 5
    model = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, dilation=2), nn.MinPool2d(2),
                          nn.LPPool2d(2, 3, stride=2), nn.MedianPool2d(3, stride=1, padding=1))
    assert explain.receptive_field(model, "0") == ((5, 5), (1, 1), (-1, -1))
    assert explain.receptive_field(model, "1") == ((6, 6), (2, 2), (-1, -1))
    assert explain.receptive_field(model, "3") == ((18, 18), (4, 4), (-5, -5))
    with pytest.raises(ValueError, match=r"receptive_field: cannot follow the receptive field "
                                         r"through Flatten"):
        explain.receptive_field(conv_net(), "6")
    with pytest.raises(ValueError, match=r"receptive_field: 2 is a BasicBlock; the field is "
                                         r"followed through Sequential containers only"):
        explain.receptive_field(residual_net(), "2.conv1")


def test_receptive_field_of_alexnets_first_stages():
    """The 2012 AlexNet's first two stages (conv 11/4, ReLU, LRN, pool 3/2, conv 5 pad 2, ...),
    with few channels: the fields of pool1 and pool2 are the published 19 and 67 pixels."""
    model = nn.Sequential(nn.Conv2d(3, 4, 11, stride=4), nn.ReLU(), nn.LocalResponseNorm(5),
                          nn.MaxPool2d(3, 2), nn.Conv2d(4, 4, 5, padding=2), nn.ReLU(),
                          nn.LocalResponseNorm(5), nn.MaxPool2d(3, 2))
    assert explain.receptive_field(model, "3") == ((19, 19), (8, 8), (0, 0))
    assert explain.receptive_field(model, "7") == ((67, 67), (16, 16), (-16, -16))


def test_top_patches_equal_a_loop_over_all_positions():
    model = nn.Sequential(*stack(nn.MaxPool2d, dilation=2), nn.ReLU())
    x = images(n=7, c=1, h=12, w=12, seed=5)
    field = explain.receptive_field(model, "4")
    with minicnn.no_grad():
        model.eval()
        maps = model[:5](x)[:, 1]
    model.train()
    ranked = sorted(((maps[n, i, j], n, i, j) for n in range(7) for i in range(maps.shape[1])
                     for j in range(maps.shape[2])), key=lambda t: -t[0])[:10]
    padded = np.pad(x, ((0, 0), (0, 0), (20, 20), (20, 20)))
    for data in (x, [(x[:3], None), (x[3:], None)]):  # an array, and a loader of two batches
        best = explain.top_patches(model, data, "4", unit=1, k=10, batch_size=2)
        assert best.patches.shape == (10, 1, 20, 20)
        np.testing.assert_array_equal(best.values, [t[0] for t in ranked])
        np.testing.assert_array_equal(best.index, [t[1] for t in ranked])
        np.testing.assert_array_equal(best.position, [t[2:] for t in ranked])
        for patch, box, (_, n, i, j) in zip(best.patches, best.boxes, ranked, strict=True):
            assert tuple(box) == field.box(i, j)
            top, left, bottom, right = box
            np.testing.assert_array_equal(patch, padded[n, :, top + 20:bottom + 20,
                                                        left + 20:right + 20])


def test_top_patches_refuses_bad_arguments():
    model, x = stack(nn.MaxPool2d), images(n=1, c=1, h=12, w=12)
    with pytest.raises(ValueError, match=r"top_patches: unit 2 is outside layer '4''s 2 channels"):
        explain.top_patches(model, x, "4", 2)
    with pytest.raises(ValueError, match=r"top_patches: asked for k=100 patches, but the data "
                                         r"has only 12 positions"):
        explain.top_patches(model, x, "4", 0, k=100)
    with pytest.raises(ValueError, match=r"top_patches: expected k >= 1, got 0"):
        explain.top_patches(model, x, "4", 0, k=0)


# -- the gradient-flow record of fit ---------------------------------------------------------------
def test_gradient_flow_norms_equal_the_norms_of_the_gradients_by_hand():
    minicnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    model[0].bias.requires_grad = False  # frozen: not recorded
    x = images(n=8, c=1, dtype=np.float32)
    y = np.arange(8) % 3
    loader = [(x[:4], y[:4]), (x[4:], y[4:])]
    twin = copy.deepcopy(model)
    loss_fn = nn.CrossEntropyLoss()
    history = fit(model, loss_fn, optim.SGD(model.parameters(), lr=0.1), loader, epochs=2,
                  verbose=False, record_gradient_flow=True)
    opt = optim.SGD(twin.parameters(), lr=0.1)
    by_hand = {name: [] for name, p in twin.named_parameters() if p.requires_grad}
    for _ in range(2):
        norms = {name: [] for name in by_hand}
        for xb, yb in loader:
            loss_fn(twin(xb), yb)
            opt.zero_grad()
            twin.backward(loss_fn.backward())
            for name, p in twin.named_parameters():
                if name in norms:
                    norms[name].append(np.linalg.norm(p.grad))
            opt.step()
        for name, values in norms.items():
            by_hand[name].append(np.mean(values))
    assert list(history.grad_norm) == ["0.weight", "3.weight", "3.bias"]
    for name, values in by_hand.items():
        np.testing.assert_allclose(history.grad_norm[name], values, rtol=1e-5)


def test_gradient_flow_is_empty_when_off_and_survives_json(tmp_path):
    minicnn.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 3))
    loader = [(images(n=4, c=1, dtype=np.float32), np.arange(4) % 3)]
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), loader,
                  epochs=1, verbose=False)
    assert history.grad_norm == {}
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), loader,
                  epochs=2, verbose=False, record_gradient_flow=True)
    history.save_json(tmp_path / "h.json")
    loaded = History.load_json(tmp_path / "h.json")
    assert loaded.grad_norm == history.grad_norm and len(loaded.grad_norm["1.weight"]) == 2


# -- plots -----------------------------------------------------------------------------------------
def test_viz_functions_return_figures():
    model, x = small_net(), images(n=1)
    smap = explain.saliency(model, x[0], 0)
    assert isinstance(viz.plot_saliency(x[0], smap), Figure)
    drop = explain.occlusion(model, x[0], 0, patch=2, stride=2)
    figure = viz.plot_occlusion(x[0], drop, patch=2, stride=2)
    assert isinstance(figure, Figure) and len([a for a in figure.axes if a.images]) == 2
    result = explain.activation_maximization(model, "0", 1, (2, 6, 6), steps=3)
    assert isinstance(viz.plot_activation_maximization(result), Figure)
    best = explain.top_patches(model, images(n=3), "3", 0, k=5)
    figure = viz.show_patches(best)
    assert isinstance(figure, Figure) and len([a for a in figure.axes if a.images]) == 5
    history = {"grad_norm": {"0.weight": [1.0, 0.5, 0.2], "0.bias": [0.1, 0.1, 0.1],
                             "6.weight": [0.1, 0.01, 0.02]}}
    figure = viz.plot_gradient_flow(history)  # one line per epoch, one point per weight
    assert isinstance(figure, Figure) and len(figure.axes[0].lines) == 3
    np.testing.assert_array_equal(figure.axes[0].lines[1].get_ydata(), [0.5, 0.01])
    figure = viz.plot_gradient_flow(history, weights_only=False)
    np.testing.assert_array_equal(figure.axes[0].lines[1].get_ydata(), [0.5, 0.1, 0.01])
    # every one of them of the class that shows once in a notebook
    assert all(type(f) is viz._figure_class() for f in map(plt.figure, plt.get_fignums()))
    with pytest.raises(ValueError, match=r"plot_gradient_flow: the history has no gradient "
                                         r"norms; train with fit\(\.\.\., record_gradient_flow"):
        viz.plot_gradient_flow(History())
