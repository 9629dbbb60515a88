"""Arrays changed in place between forward and backward: a clear error, never a wrong gradient.

For every layer and loss (and every convolution method, with the im2col path both keeping and
rebuilding its columns), each way of changing what the caller holds after forward — the input
(zeroed, one element nudged, two samples swapped), the output, the weights (one element, an
optimizer step), a loss's target — must either raise a RuntimeError that names the layer and
the array, or leave the gradient exactly what the unchanged forward gives (the layer copied
what it keeps). Then the cases that keep a reference must raise: those are the ones the issue
found silently wrong.
"""

import numpy as np
import pytest

import minicnn
from minicnn import nn, optim
from minicnn.fast import tuning

pytestmark = pytest.mark.usefixtures("each_engine")


def _image(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


class MaxUnpool2dOfFixedIndices(nn.MaxUnpool2d):
    """MaxUnpool2d(2) with fixed indices (the bottom-right pixel of each 2×2 window), so that
    it takes one input as the other layers here."""

    def forward(self, x):
        rows, cols = np.meshgrid(np.arange(x.shape[2]), np.arange(x.shape[3]), indexing="ij")
        indices = (2 * rows + 1) * 2 * x.shape[3] + 2 * cols + 1
        return super().forward(x, np.broadcast_to(indices, x.shape).copy())


# name -> (make the layer in float64, input shape)
LAYERS = {
    "Linear": (lambda: nn.Linear(8, 4), (3, 8)),
    "Linear no bias": (lambda: nn.Linear(8, 4, bias=False), (3, 8)),
    "Conv2d auto": (lambda: nn.Conv2d(3, 4, 3), (2, 3, 7, 7)),
    "Conv2d im2col": (lambda: nn.Conv2d(3, 4, 3, method="im2col"), (2, 3, 7, 7)),
    "Conv2d im2col padded": (lambda: nn.Conv2d(3, 4, 3, padding=1, method="im2col"), (2, 3, 7, 7)),
    "Conv2d im2col stride 2": (lambda: nn.Conv2d(3, 4, 3, stride=2, method="im2col"), (2, 3, 9, 9)),
    "Conv2d direct": (lambda: nn.Conv2d(3, 4, 3, padding=1, method="direct"), (2, 3, 7, 7)),
    "Conv2d batch_last": (lambda: nn.Conv2d(3, 4, 5, method="batch_last"), (2, 3, 9, 9)),
    "Conv2d reflect": (lambda: nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), (2, 3, 7, 7)),
    "MaxPool2d": (lambda: nn.MaxPool2d(2), (2, 3, 6, 6)),
    "MaxPool2d 3/2 padded": (lambda: nn.MaxPool2d(3, 2, padding=1), (2, 3, 7, 7)),
    "AvgPool2d": (lambda: nn.AvgPool2d(2), (2, 3, 6, 6)),
    "GlobalAvgPool2d": (lambda: nn.GlobalAvgPool2d(), (2, 3, 6, 6)),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d(3), (2, 3, 7, 7)),
    "ReLU": (lambda: nn.ReLU(), (2, 3, 4, 4)),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.1), (2, 3, 4, 4)),
    "PReLU": (lambda: nn.PReLU(3), (2, 3, 4, 4)),
    "Sigmoid": (lambda: nn.Sigmoid(), (2, 3, 4, 4)),
    "Tanh": (lambda: nn.Tanh(), (2, 3, 4, 4)),
    "Softmax": (lambda: nn.Softmax(dim=1), (3, 5)),
    "Dropout": (lambda: nn.Dropout(0.5), (4, 6)),
    "Flatten": (lambda: nn.Flatten(), (2, 3, 4, 4)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(4), (5, 4)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3), (2, 3, 4, 4)),
    "BatchNorm2d eval": (lambda: nn.BatchNorm2d(3).eval(), (2, 3, 4, 4)),
    "SyncBatchNorm": (lambda: nn.SyncBatchNorm(3), (2, 3, 4, 4)),
    "BasicBlock": (lambda: nn.BasicBlock(3, 3), (2, 3, 6, 6)),
    "Sequential": (lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(),
                                         nn.Linear(4 * 5 * 5, 2)), (2, 3, 7, 7)),
    # convolution options (issue 16): groups run per group, dilation by the reference
    "Conv2d groups": (lambda: nn.Conv2d(4, 6, 3, groups=2), (2, 4, 7, 7)),
    "Conv2d groups direct": (lambda: nn.Conv2d(4, 4, 3, padding=1, groups=2, method="direct"),
                             (2, 4, 7, 7)),
    "Conv2d depthwise": (lambda: nn.Conv2d(3, 3, 3, groups=3, method="im2col"), (2, 3, 7, 7)),
    "Conv2d dilation": (lambda: nn.Conv2d(3, 4, 3, dilation=2), (2, 3, 9, 9)),
    "Conv2d dilation groups": (lambda: nn.Conv2d(4, 4, 3, dilation=2, groups=2, stride=2),
                               (2, 4, 9, 9)),
    "Conv2d symmetric": (lambda: nn.Conv2d(3, 4, 3, padding=1, padding_mode="symmetric"),
                         (2, 3, 7, 7)),
    # pooling options and poolings (issue 16): the new settings run by the reference
    "MaxPool2d dilation ceil": (lambda: nn.MaxPool2d(3, 2, 1, dilation=2, ceil_mode=True),
                                (2, 3, 8, 8)),
    "AvgPool2d ceil divisor": (lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True,
                                                    divisor_override=4), (2, 3, 8, 8)),
    "AvgPool2d ceil no pad count": (lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True,
                                                         count_include_pad=False), (2, 3, 8, 8)),
    "AdaptiveMaxPool2d": (lambda: nn.AdaptiveMaxPool2d((3, 2)), (2, 3, 7, 5)),
    "MaxUnpool2d": (lambda: MaxUnpool2dOfFixedIndices(2), (2, 3, 3, 3)),
    "LPPool2d": (lambda: nn.LPPool2d(2, 2), (2, 3, 6, 6)),
    "LPPool2d p=3 ceil": (lambda: nn.LPPool2d(3, 3, 2, ceil_mode=True), (2, 3, 6, 6)),
    "MinPool2d": (lambda: nn.MinPool2d(3, 2, 1), (2, 3, 7, 7)),
    "MedianPool2d": (lambda: nn.MedianPool2d(3, 1, 1), (2, 3, 6, 6)),
    # transposed convolution and upsampling (issue 16)
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(3, 4, 2, stride=2), (2, 3, 4, 4)),
    "ConvTranspose2d padded groups": (lambda: nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1,
                                                                  output_padding=1, groups=2),
                                      (2, 4, 4, 4)),
    "Upsample nearest": (lambda: nn.Upsample(scale_factor=2), (2, 3, 4, 4)),
    "Upsample bilinear": (lambda: nn.Upsample(scale_factor=2, mode="bilinear"), (2, 3, 4, 4)),
    # DenseNet (issue 17): the concatenation keeps only split sizes; its layers keep the rest
    "DenseLayer": (lambda: nn.DenseLayer(3, growth_rate=2, bn_size=2), (2, 3, 5, 5)),
    "DenseLayer dropout each conv": (lambda: nn.DenseLayer(3, 2, 2, drop_rate=0.3,
                                                           drop_after="each_conv"), (2, 3, 5, 5)),
    "DenseBlock": (lambda: nn.DenseBlock(2, 3, bn_size=2, growth_rate=2), (2, 3, 5, 5)),
    "Transition": (lambda: nn.Transition(3, 2, drop_rate=0.2), (2, 3, 6, 6)),
    # activations (issue 16): LogSoftmax's backward reads its output, the others keep copies
    "ELU": (lambda: nn.ELU(alpha=0.5), (2, 3, 4, 4)),
    "SELU": (lambda: nn.SELU(), (2, 3, 4, 4)),
    "GELU": (lambda: nn.GELU(), (2, 3, 4, 4)),
    "GELU tanh": (lambda: nn.GELU(approximate="tanh"), (2, 3, 4, 4)),
    "SiLU": (lambda: nn.SiLU(), (2, 3, 4, 4)),
    "Softplus": (lambda: nn.Softplus(beta=2, threshold=1), (2, 3, 4, 4)),
    "LogSoftmax": (lambda: nn.LogSoftmax(dim=1), (3, 5)),
    "Maxout": (lambda: nn.Maxout(3), (2, 6, 3, 3)),
    "Maxout after Linear": (lambda: nn.Sequential(nn.Linear(4, 6), nn.Maxout(2)), (3, 4)),
    "Dropout2d": (lambda: nn.Dropout2d(0.5), (2, 3, 4, 4)),
    "CenterCrop2d": (lambda: nn.CenterCrop2d((3, 2)), (2, 3, 5, 4)),
    # normalisation (issue 16)
    "LocalResponseNorm": (lambda: nn.LocalResponseNorm(3, alpha=0.5), (2, 4, 3, 3)),
    "LayerNorm": (lambda: nn.LayerNorm((3, 4)), (2, 5, 3, 4)),
    "LayerNorm no bias": (lambda: nn.LayerNorm(4, bias=False), (3, 5, 4)),
    "GroupNorm": (lambda: nn.GroupNorm(2, 4), (2, 4, 3, 3)),
    "GroupNorm no affine": (lambda: nn.GroupNorm(4, 4, affine=False), (2, 4, 3, 3)),
    "BatchNorm2d no affine": (lambda: nn.BatchNorm2d(3, affine=False), (2, 3, 4, 4)),
    "BatchNorm1d untracked eval": (lambda: nn.BatchNorm1d(4, track_running_stats=False).eval(),
                                   (5, 4)),
}


def _make(name, seed=0):
    make, shape = LAYERS[name]
    minicnn.manual_seed(seed)
    layer = make().astype(np.float64)
    return layer, _image(shape, seed)


def _gradients(layer, x, dout, seed):
    """(dx, {parameter name: grad}) of a fresh forward and backward."""
    layer.zero_grad()
    minicnn.manual_seed(seed)  # the same dropout mask every time
    layer(x.copy())
    dx = layer.backward(dout)
    return dx, {name: p.grad.copy() for name, p in layer.named_parameters()}


def _change_input_zero(x, out, layer):
    x *= 0


def _change_input_one_element(x, out, layer):
    x.reshape(-1)[x.size // 2] += 0.5


def _change_input_swap_samples(x, out, layer):
    x[[0, 1]] = x[[1, 0]]


def _change_output(x, out, layer):
    out *= 2


def _change_weight_one_element(x, out, layer):
    next(layer.parameters()).data.reshape(-1)[0] += 0.25


def _change_weights_by_an_optimizer_step(x, out, layer):
    params = list(layer.parameters())
    for p in params:
        p.grad[...] = 1.0
    optim.SGD(params, lr=0.1).step()
    for p in params:
        p.grad[...] = 0.0  # as after zero_grad: backward's sums are compared below


CHANGES = {
    "input zeroed": _change_input_zero,
    "input one element": _change_input_one_element,
    "input samples swapped": _change_input_swap_samples,
    "output": _change_output,
    "weight one element": _change_weight_one_element,
    "optimizer step": _change_weights_by_an_optimizer_step,
}


def _cases():
    """(layer, change, rebuild columns) for every change that applies to the layer. The fast
    im2col path keeps small layers' columns; with KEEP_COLS_BYTES=0 it rebuilds them from the
    input in backward, as it does for large batches: layers with a convolution get both."""
    for name, (make, _) in LAYERS.items():
        layer = make()
        has_parameters = any(True for _ in layer.parameters())
        has_conv = any(isinstance(m, nn.Conv2d) for m in layer.modules())
        for change in CHANGES:
            if change in ("weight one element", "optimizer step") and not has_parameters:
                continue
            for rebuild in ((False, True) if has_conv else (False,)):
                yield pytest.param(name, change, rebuild,
                                   id=f"{name}-{change}{'-rebuilt columns' if rebuild else ''}")


@pytest.mark.parametrize("name, change, rebuild_columns", list(_cases()))
def test_a_change_after_forward_raises_or_does_not_matter(name, change, rebuild_columns,
                                                          monkeypatch):
    if rebuild_columns:
        monkeypatch.setattr(tuning, "KEEP_COLS_BYTES", 0)
    layer, x = _make(name)
    seed = 1
    minicnn.manual_seed(seed)
    out = layer(x.copy())
    dout = _image(out.shape, seed=2)
    expected_dx, expected_grads = _gradients(layer, x, dout, seed)

    layer.zero_grad()
    minicnn.manual_seed(seed)
    held = x.copy()  # the caller's array, the one that gets changed
    out = layer(held)
    before = held.copy()
    CHANGES[change](held, out, layer)
    assert not change.startswith("input") or not np.array_equal(held, before)
    try:
        dx = layer.backward(dout)
    except RuntimeError as error:
        message = str(error)
        # Named by the layer that kept the array: this one, or one inside a block.
        assert any(message.startswith(f"{m._name()}: backward(): its ") for m in layer.modules())
        assert "was changed in place" in message and "forward()" in message
        return
    # No error: then the layer did not depend on what changed. The gradient is that of the
    # forward pass that ran, exactly as if nothing had been touched.
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-12, atol=1e-12)
    for p_name, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, expected_grads[p_name], rtol=1e-12, atol=1e-12)


# -- the cases that keep a reference must raise (the silent wrong results) ---------------

def test_linear_input_zeroed_is_an_error_naming_the_layer_and_the_array():
    layer = nn.Linear(8, 4)
    x = np.ones((3, 8), np.float32)
    y = layer(x)
    x *= 0
    with pytest.raises(RuntimeError, match=r"^Linear\(8, 4\): backward\(\): its input "
                                           r"\(shape \(3, 8\), float32\).*changed in place"):
        layer.backward(np.ones_like(y))
    # The cache is spent: the next step starts with a new forward, which works.
    with pytest.raises(RuntimeError, match="needs a forward"):
        layer.backward(np.ones_like(y))
    layer.zero_grad()
    layer.backward(np.ones_like(layer(np.ones((3, 8), np.float32))))
    np.testing.assert_array_equal(layer.weight.grad, np.full((4, 8), 3, np.float32))


@pytest.mark.parametrize("method", ["auto", "im2col", "direct", "batch_last"])
def test_an_optimizer_step_between_forward_and_backward_is_an_error(method):
    for layer, shape in ((nn.Linear(8, 4), (3, 8)),
                         (nn.Conv2d(3, 4, 5, padding=2, method=method), (4, 3, 8, 8))):
        optimizer = optim.SGD(layer.parameters(), lr=0.1)
        x = _image(shape).astype(np.float32)
        out = layer(x)
        layer.backward(np.ones_like(out))
        out = layer(x)
        optimizer.step()  # should come after backward
        with pytest.raises(RuntimeError, match=r"its weight .*changed in place"):
            layer.backward(np.ones_like(out))


def test_conv_rebuilding_its_columns_from_a_changed_input_is_an_error(monkeypatch):
    monkeypatch.setattr(tuning, "KEEP_COLS_BYTES", 0)
    layer = nn.Conv2d(3, 4, 3, method="im2col")
    x = _image((8, 3, 10, 10)).astype(np.float32)
    out = layer(x)
    x[3] = 0
    if minicnn.get_engine() == "reference":
        layer.backward(np.ones_like(out))  # the reference keeps its columns: a copy
        return
    with pytest.raises(RuntimeError, match=r"^Conv2d\(3, 4.*its input .*changed in place"):
        layer.backward(np.ones_like(out))


@pytest.mark.parametrize("make", [nn.Sigmoid, nn.Tanh, lambda: nn.Softmax(dim=1),
                                  lambda: nn.LogSoftmax(dim=1)])
def test_an_activation_whose_backward_reads_its_output_guards_it(make):
    layer = make()
    out = layer(_image((3, 5)))
    out += 1
    with pytest.raises(RuntimeError, match=r"its output .*changed in place"):
        layer.backward(np.ones_like(out))


@pytest.mark.parametrize("make, target", [
    (nn.BCEWithLogitsLoss, lambda: np.linspace(0, 1, 12).reshape(4, 3)),
    # CrossEntropyLoss keeps coefficients built from its target, not the target itself
    (lambda: nn.HingeLoss(multiclass=True), lambda: np.array([0, 2, 1, 2])),
])
def test_a_loss_that_keeps_its_target_guards_it(make, target):
    loss, target = make(), target()
    value = loss(_image((4, 3)), target)
    assert np.isfinite(value)
    target[...] = target[::-1]
    with pytest.raises(RuntimeError, match=r"its target .*changed in place"):
        loss.backward()


LOSSES = {
    "MSELoss": (nn.MSELoss, lambda: np.abs(_image((4, 3), 5)) % 1),
    "L1Loss": (nn.L1Loss, lambda: np.abs(_image((4, 3), 5)) % 1),
    "BCEWithLogitsLoss": (nn.BCEWithLogitsLoss, lambda: np.abs(_image((4, 3), 5)) % 1),
    "CrossEntropyLoss": (nn.CrossEntropyLoss, lambda: np.array([0, 2, 1, 2])),
    "HingeLoss": (nn.HingeLoss, lambda: np.sign(_image((4, 3), 5))),
    "HingeLoss multiclass": (lambda: nn.HingeLoss(multiclass=True), lambda: np.array([0, 2, 1, 2])),
    # losses, target shapes (issue 16)
    "CrossEntropyLoss weight ignore_index": (
        lambda: nn.CrossEntropyLoss(weight=np.array([1.0, 2.0, 0.5]), label_smoothing=0.1),
        lambda: np.array([0, -100, 1, 2])),
    "CrossEntropyLoss probabilities": (nn.CrossEntropyLoss,
                                       lambda: np.abs(_image((4, 3), 5)) / 4),
    "CrossEntropyLoss none": (lambda: nn.CrossEntropyLoss(reduction="none"),
                              lambda: np.array([0, 2, 1, 2])),
    "NLLLoss": (lambda: nn.NLLLoss(weight=np.array([1.0, 2.0, 0.5])),
                lambda: np.array([0, 2, 1, 2])),
    "BCELoss": (lambda: _OnProbabilities(nn.BCELoss()), lambda: np.abs(_image((4, 3), 5)) % 1),
    "HuberLoss": (lambda: nn.HuberLoss(delta=0.5), lambda: _image((4, 3), 5)),
    "SmoothL1Loss": (lambda: nn.SmoothL1Loss(beta=0.5), lambda: _image((4, 3), 5)),
    # computes its gradients at forward, so a later change cannot matter
    "MultiOutputLoss": (lambda: nn.MultiOutputLoss(nn.MSELoss(), weights=(0.5,)),
                        lambda: np.abs(_image((4, 3), 5)) % 1),
}


class _OnProbabilities:
    """A probability loss (BCELoss) fed σ(scores), so that any scores make a valid input."""

    def __init__(self, loss):
        self.loss = loss

    def __call__(self, scores, target):
        self._probs = 1 / (1 + np.exp(-scores))
        return self.loss(self._probs, target)

    def backward(self, dloss=None):
        args = () if dloss is None else (dloss,)
        return self.loss.backward(*args) * self._probs * (1 - self._probs)


@pytest.mark.parametrize("name", LOSSES)
def test_every_loss_raises_or_is_right_when_its_arguments_change(name):
    make, make_target = LOSSES[name]
    loss = make()
    scores, target = _image((4, 3)), make_target()
    losses = loss(scores.copy(), target.copy())
    dloss = (np.ones_like(losses),) if isinstance(losses, np.ndarray) else ()
    expected = loss.backward(*dloss)
    for change in ("input", "target"):
        held_scores, held_target = scores.copy(), target.copy()
        loss(held_scores, held_target)
        if change == "input":
            held_scores *= 3
        else:
            held_target[...] = held_target[::-1]
        try:
            got = loss.backward(*dloss)
        except RuntimeError as error:
            assert f"its {change}" in str(error)
            continue
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_a_change_that_restores_the_values_is_not_an_error():
    layer = nn.Linear(8, 4)
    x = _image((3, 8)).astype(np.float32)
    out = layer(x)
    saved = x.copy()
    x *= 0
    x[...] = saved  # the same bits again: the gradient is right, so no error
    layer.backward(np.ones_like(out))


def test_inference_keeps_nothing_and_fingerprints_nothing():
    layer = nn.Linear(8, 4)
    x = _image((3, 8)).astype(np.float32)
    with minicnn.no_grad():
        layer(x)
    assert layer._cache is None
