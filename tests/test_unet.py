"""models.unet (Ronneberger et al. 2015), models.unet_valid_size and models.unet_output_size.

What is checked:
- forward shapes for padding "valid" and "same", upsampling "transpose" and "bilinear", with
  and without BatchNorm; the paper's 572 → 388 through every level (a base-1 net, so that it
  runs in a second); output sizes against the layer-by-layer arithmetic;
- the parameter count of the paper's net (base 64, depth 4, 1 → 2 classes), computed by hand
  as a sum over its layers;
- module names (state-dict keys) in the order of the forward pass;
- a tiny U-Net (base 2, depth 2) in float64: input and parameter gradients against central
  differences, for every padding and upsampling; float32 in → float32 out;
- which input sizes fit: unet_valid_size against the definition (every map entering a pool even
  and no map vanishing) and against an actual forward pass;
- errors naming the model: an input size that does not fit (with the nearest valid size), the
  wrong number of channels, bad padding/upsampling/depth/base_channels.
"""

import numpy as np
import pytest

import minicnn
from minicnn import models, nn
from minicnn.gradcheck import numerical_gradient

pytestmark = pytest.mark.usefixtures("each_engine")


def conv3x3(c_in, c_out):
    return 9 * c_in * c_out + c_out


def test_paper_parameter_count_by_hand():
    encoder = (conv3x3(1, 64) + conv3x3(64, 64) + conv3x3(64, 128) + conv3x3(128, 128)
               + conv3x3(128, 256) + conv3x3(256, 256) + conv3x3(256, 512) + conv3x3(512, 512))
    bottleneck = conv3x3(512, 1024) + conv3x3(1024, 1024)
    up_convs = sum(2 * 2 * c * (c // 2) + c // 2 for c in (1024, 512, 256, 128))
    decoder = (conv3x3(1024, 512) + conv3x3(512, 512) + conv3x3(512, 256) + conv3x3(256, 256)
               + conv3x3(256, 128) + conv3x3(128, 128) + conv3x3(128, 64) + conv3x3(64, 64))
    head = 64 * 2 + 2
    expected = encoder + bottleneck + up_convs + decoder + head
    assert expected == 31_030_658  # the figure in the docstring
    assert models.unet().num_parameters() == expected


def test_bilinear_and_batch_norm_counts():
    # bilinear: each 2×2 up-conv becomes a 1×1 conv c → c/2
    transpose = models.unet(base_channels=8, depth=3).num_parameters()
    bilinear = models.unet(base_channels=8, depth=3, upsampling="bilinear").num_parameters()
    assert transpose - bilinear == sum(3 * c * (c // 2) for c in (64, 32, 16))
    # BatchNorm: the 3×3 convolutions lose their bias (c) and gain weight and bias (2c)
    plain = models.unet(base_channels=4, depth=2).num_parameters()
    with_bn = models.unet(base_channels=4, depth=2, batch_norm=True).num_parameters()
    assert with_bn - plain == (2 - 1) * sum((4, 4, 8, 8, 16, 16, 8, 8, 4, 4))


def test_names_follow_the_forward_pass():
    model = models.unet(base_channels=2, depth=2)
    assert [name for name, _ in model.named_children()] == [
        "enc1", "pool1", "enc2", "pool2", "bottleneck", "up2", "crop2", "cat2", "dec2",
        "up1", "crop1", "cat1", "dec1", "head"]
    keys = list(model.state_dict())
    assert keys[:2] == ["enc1.0.weight", "enc1.0.bias"] and keys[-2:] == ["head.weight",
                                                                         "head.bias"]
    assert "up2.weight" in keys and "dec1.2.bias" in keys
    assert "up2.1.weight" in models.unet(base_channels=2, depth=2,
                                         upsampling="bilinear").state_dict()


def test_paper_sizes_572_to_388():
    assert models.unet_output_size(572) == 388
    model = models.unet(base_channels=1)
    x = np.random.default_rng(0).standard_normal((1, 1, 572, 572)).astype(np.float32)
    assert model(x).shape == (1, 2, 388, 388)


@pytest.mark.parametrize("padding, size, out_size", [("valid", 44, 4), ("valid", 52, 12),
                                                     ("same", 8, 8), ("same", 12, 12)])
@pytest.mark.parametrize("upsampling", ["transpose", "bilinear"])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_forward_backward_shapes(padding, size, out_size, upsampling, batch_norm):
    model = models.unet(in_channels=3, num_classes=4, base_channels=2, depth=2, padding=padding,
                        upsampling=upsampling, batch_norm=batch_norm)
    x = np.random.default_rng(1).standard_normal((2, 3, size, size + 4 * (padding == "same")))
    x = x.astype(np.float32)
    out = model(x)
    width = out_size + 4 * (padding == "same")
    assert out.shape == (2, 4, out_size, width) and out.dtype == np.float32
    assert models.unet_output_size(size, depth=2, padding=padding) == out_size
    dx = model.backward(np.ones_like(out))
    assert dx.shape == x.shape and dx.dtype == np.float32


def _sample(array, count, rng):
    flat = rng.choice(array.size, size=min(count, array.size), replace=False)
    return [np.unravel_index(i, array.shape) for i in flat]


@pytest.mark.parametrize("padding, size", [("valid", 44), ("same", 8)])
@pytest.mark.parametrize("upsampling", ["transpose", "bilinear"])
def test_tiny_unet_gradcheck_float64(padding, size, upsampling):
    """Input and parameter gradients against central differences at 20 entries of each.

    The tolerance is relative to each array's largest gradient: with "valid" padding the border
    pixels lie outside the receptive field of the cropped output (true gradient 0, backward
    gives rounding noise of 1e-11 there), and some weights of this 2-channel net have gradients
    near the rounding noise of the central difference; a wrong gradient is off by O(1). Seed 2:
    with 2 channels a whole level's ReLUs can be dead for some draws (a zero gradient there).
    """
    minicnn.manual_seed(2)
    model = models.unet(base_channels=2, depth=2, padding=padding, upsampling=upsampling)
    model.astype(np.float64)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 1, size, size))
    out = model(x)
    dout = rng.standard_normal(out.shape)
    model.zero_grad()
    dx = model.backward(dout)

    def loss(_):
        with minicnn.no_grad():
            return np.sum(model(x) * dout)

    arrays = {"input": (x, dx)} | {name: (p.data, p.grad) for name, p in model.named_parameters()}
    for name, (value, analytic) in arrays.items():
        picked = _sample(value, 20, rng)
        numeric = numerical_gradient(loss, value, indices=picked)
        scale = np.abs(analytic).max()
        assert scale > 0, name  # not vacuous: the gradient reaches every array
        for i in picked:
            assert abs(numeric[i] - analytic[i]) <= 1e-5 * abs(analytic[i]) + 1e-4 * scale, name


def _fits_by_definition(size, depth, padding):
    shrink = 4 if padding == "valid" else 0
    for _ in range(depth):
        size -= shrink
        if size < 2 or size % 2:
            return False
        size //= 2
    size -= shrink
    for _ in range(depth + 1):
        if size < 1:
            return False
        size = 2 * size - shrink
    return True


@pytest.mark.parametrize("depth", [1, 2, 4])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_valid_sizes_by_definition(depth, padding):
    fitting = [s for s in range(1, 800) if _fits_by_definition(s, depth, padding)]
    for size in range(1, 600):
        nearest = models.unet_valid_size(size, depth, padding)
        best = min(abs(s - size) for s in fitting)
        assert abs(nearest - size) == best and nearest in fitting
        if size + best in fitting:
            assert nearest == size + best  # ties go to the larger size
    if padding == "valid":  # the closed form of the docstring
        least = 11 if depth == 1 else 12
        assert fitting == [s for s in range(1, 800)
                           if (s + 4) % 2 ** depth == 0 and (s + 4) // 2 ** depth >= least]
    else:
        assert fitting == [s for s in range(1, 800) if s % 2 ** depth == 0]


@pytest.mark.parametrize("size", [40, 43, 44, 45, 48])
def test_a_forward_pass_agrees_with_unet_valid_size(size):
    model = models.unet(base_channels=1, depth=2)
    x = np.zeros((1, 1, size, 44), np.float32)
    if models.unet_valid_size(size, depth=2) == size:
        assert model(x).shape[2] == models.unet_output_size(size, depth=2)
    else:
        with pytest.raises(ValueError, match=r"^UNet\(.*depth=2, padding='valid'.*\): input "
                                             r"height: an input size of \d+ does not fit"):
            model(x)


def test_errors_name_the_model():
    model = models.unet(base_channels=2, depth=2)
    with pytest.raises(ValueError, match=r"^UNet\(in_channels=1, num_classes=2, base_channels=2, "
                                         r"depth=2, padding='valid', upsampling='transpose'\): "
                                         r"input width: an input size of 46 does not fit a U-Net "
                                         r"of depth 2 with padding='valid' \(the map entering "
                                         r"pool2 would be 17 pixels.*the nearest valid size is "
                                         r"48 \(models.unet_valid_size\)$"):
        model(np.zeros((1, 1, 44, 46), np.float32))
    with pytest.raises(ValueError, match=r"^UNet\(.*\): expected input with 1 channel "
                                         r"\(N, 1, H, W\), got shape \(1, 3, 44, 44\)"):
        model(np.zeros((1, 3, 44, 44), np.float32))
    with pytest.raises(ValueError, match=r"^UNet\(.*\): expected input of rank 4"):
        model(np.zeros((1, 44, 44), np.float32))
    with pytest.raises(ValueError, match=r"^unet: expected padding in \('valid', 'same'\), "
                                         r"got 'full'"):
        models.unet(padding="full")
    with pytest.raises(ValueError, match=r"^unet: expected upsampling in \('transpose', "
                                         r"'bilinear'\), got 'nearest'"):
        models.unet(upsampling="nearest")
    with pytest.raises(ValueError, match=r"^unet: expected depth as an int >= 1, got 0"):
        models.unet(depth=0)
    with pytest.raises(ValueError, match=r"^unet: expected base_channels >= 1, got 0"):
        models.unet(base_channels=0)
    with pytest.raises(ValueError, match=r"^unet_output_size: an input size of 570 does not fit"
                                         r".*nearest valid size is 572"):
        models.unet_output_size(570)
    with pytest.raises(ValueError, match=r"^unet_valid_size: expected size as an int >= 1"):
        models.unet_valid_size(0)


def test_trains_through_fit_with_per_pixel_labels():
    """One step of per-pixel cross-entropy lowers the loss (U-Net's loss, as in the paper)."""
    minicnn.manual_seed(0)
    model = models.unet(base_channels=2, depth=1, padding="same")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 1, 8, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    loss_fn = nn.CrossEntropyLoss()
    opt = minicnn.optim.SGD(model.parameters(), lr=0.5)
    losses = []
    for _ in range(5):
        losses.append(loss_fn(model(x), y))
        opt.zero_grad()
        model.backward(loss_fn.backward())
        opt.step()
    assert losses[-1] < losses[0]
