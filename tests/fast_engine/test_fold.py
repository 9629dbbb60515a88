"""Inference with Conv2d → BatchNorm2d (→ ReLU) folded into one convolution (``nn/_fold.py``,
``minicnn/fast/fold.py``).

What is checked (each test under both engines; the reference engine never folds):
- ``fold_conv_bn`` against its definition written as a loop over the output channels,
  ``W'[o] = W[o]·γ[o]/√(σ²[o] + ε)``, ``b'[o] = (b[o] − μ[o])·γ[o]/√(σ²[o] + ε) + β[o]``, with
  and without conv bias and norm affine parameters;
- folded == layer by layer (the reference engine's result) for Sequential conv-bn and
  conv-bn-relu, BN without affine, conv without bias, groups, stride, padding ("same",
  reflect), dilation, 1×1 kernels, batch 1: float64 to 1e-12 of the largest value, float32
  to 1e-5 (against the fast engine unfolded: the fold alone); a spy counts the folds, so a
  test that folds nothing fails;
- whole models in eval mode: ResNet-20 (and its shortcut "B" projections), VGG-11-BN at
  32 px, a Bottleneck block, batch 1 and 3, float64 and float32; ``predict`` and
  ``evaluate`` fold;
- nothing folds in training mode, with gradients enabled, with the conv or the norm alone in
  training mode, with the switch ``tuning.FOLD_BATCH_NORM`` off, for a norm without running
  statistics, for subclasses, or where ``fold_pays`` says no (checked by result and by spy);
- no stale fold: an optimizer step, ``load_state_dict``, an in-place change of a weight or a
  running statistic, and a training forward (new running statistics) between two
  evaluations each give the new layer-by-layer result;
- hooks (``summary``, ``forward_hooks``, ``extract_features``) see every layer's own output;
- the state dict (keys and values), parameters and buffers are unchanged, and the modules
  gain no attributes; two threads inferring at once get the same result;
- bad input gives the layers' own errors (a ValueError naming Conv2d or BatchNorm2d, the
  message the same as unfolded).
"""

import copy
import math
import threading

import numpy as np
import pytest

import minicnn
from minicnn import models, nn, no_grad, optim
from minicnn.fast import fold, tuning
from minicnn.models import extract_features
from minicnn.summary import forward_hooks

pytestmark = pytest.mark.usefixtures("each_engine")

TOL = {np.float64: 1e-12, np.float32: 1e-5}


@pytest.fixture
def fold_calls(monkeypatch):
    """A list that gets one entry per call of ``fold.fold_conv_bn`` (the spy)."""
    calls, original = [], fold.fold_conv_bn

    def counting(*arguments):
        calls.append(arguments)
        return original(*arguments)
    monkeypatch.setattr(fold, "fold_conv_bn", counting)
    return calls


def _folds(expected_under_fast: int) -> int:
    """How many folds a pass makes under the active engine: none under the reference."""
    return expected_under_fast if minicnn.get_engine() == "fast" else 0


def _randomise_norms(model, seed=0):
    """Running statistics, γ and β away from 0 and 1, so that folding has work to do."""
    rng = np.random.default_rng(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            c = module.num_features
            if module.running_mean is not None:
                module.running_mean[...] = rng.normal(0, 0.5, c)
                module.running_var[...] = rng.uniform(0.3, 2.0, c)
            if module.weight is not None:
                module.weight.data[...] = rng.uniform(0.5, 1.5, c)
                module.bias.data[...] = rng.normal(0, 0.3, c)
    return model


def _relative(got, expected) -> float:
    return float(np.abs(got - expected).max() / np.abs(expected).max())


def _infer(model, x):
    with no_grad():
        return model(x)


def _unfolded(model, x, engine=None):
    """The layer-by-layer result: the reference engine's (float64), or the active engine's
    with folding switched off (float32: the fold's own rounding, not the engines')."""
    previous = tuning.FOLD_BATCH_NORM
    tuning.FOLD_BATCH_NORM = False
    try:
        with minicnn.engine(engine or minicnn.get_engine()):
            return _infer(model, x)
    finally:
        tuning.FOLD_BATCH_NORM = previous


def _check_folded(model, x, fold_calls, folds: int):
    dtype = x.dtype.type
    got = _infer(model, x)
    assert len(fold_calls) == _folds(folds)
    expected = _unfolded(model, x, "reference" if dtype is np.float64 else None)
    assert got.dtype == x.dtype and got.shape == expected.shape
    assert _relative(got, expected) <= TOL[dtype]
    return got


def _x(shape, dtype=np.float64, seed=1):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# -- the folded weights ------------------------------------------------------------------------

def fold_by_definition(w, b, gamma, beta, mean, var, eps):
    """One output channel at a time, the formula as written."""
    w_folded, b_folded = np.empty_like(w), np.empty(w.shape[0], w.dtype)
    for o in range(w.shape[0]):
        s = (1.0 if gamma is None else gamma[o]) / math.sqrt(var[o] + eps)
        w_folded[o] = w[o] * s
        b_folded[o] = ((0.0 if b is None else b[o]) - mean[o]) * s + (
            0.0 if beta is None else beta[o])
    return w_folded, b_folded


@pytest.mark.parametrize("has_bias", [True, False])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fold_conv_bn_matches_its_definition(has_bias, affine, dtype):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3, 3, 2)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype) if has_bias else None
    gamma, beta = (rng.uniform(0.5, 2, 4).astype(dtype), rng.standard_normal(4).astype(dtype)
                   ) if affine else (None, None)
    mean, var = rng.standard_normal(4).astype(dtype), rng.uniform(0.1, 3, 4).astype(dtype)
    got_w, got_b = fold.fold_conv_bn(w, b, gamma, beta, mean, var, 1e-3)
    want_w, want_b = fold_by_definition(w, b, gamma, beta, mean, var, 1e-3)
    assert got_w.dtype == got_b.dtype == dtype and got_w.shape == w.shape
    tol = TOL[dtype]
    np.testing.assert_allclose(got_w, want_w, rtol=tol, atol=0)
    np.testing.assert_allclose(got_b, want_b, rtol=tol, atol=tol)


# -- Sequential: folded == layer by layer ------------------------------------------------------

CONV_CASES = [  # Conv2d keyword arguments, input shape
    (dict(kernel_size=3, padding=1), (2, 3, 7, 6)),
    (dict(kernel_size=3, padding=1, bias=False), (1, 3, 6, 6)),            # no bias, batch 1
    (dict(kernel_size=3, stride=2, padding=2), (2, 3, 9, 8)),
    (dict(kernel_size=3, dilation=2, padding=2), (2, 3, 8, 8)),
    (dict(kernel_size=3, groups=3, padding=1), (2, 3, 6, 5)),               # depthwise-like
    (dict(kernel_size=(1, 1)), (2, 3, 5, 5)),
    (dict(kernel_size=3, padding="same", padding_mode="reflect"), (1, 3, 6, 7)),
    (dict(kernel_size=5, padding=2, method="im2col"), (3, 3, 8, 8)),
]


@pytest.mark.parametrize("conv_args, x_shape", CONV_CASES)
@pytest.mark.parametrize("with_relu", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sequential_conv_bn_is_folded(conv_args, x_shape, with_relu, dtype, fold_calls,
                                      fold_everywhere):
    layers = [nn.Conv2d(3, 6, **conv_args), nn.BatchNorm2d(6)] + ([nn.ReLU()] if with_relu else [])
    model = _randomise_norms(nn.Sequential(*layers)).astype(dtype).eval()
    out = _check_folded(model, _x(x_shape, dtype), fold_calls, folds=1)
    if with_relu:
        assert out.min() == 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_norm_without_affine_and_conv_without_bias(dtype, fold_calls):
    model = nn.Sequential(nn.Conv2d(2, 4, 3, bias=False), nn.BatchNorm2d(4, affine=False),
                          nn.ReLU(), nn.Conv2d(4, 3, 1), nn.BatchNorm2d(3, affine=False))
    model = _randomise_norms(model).astype(dtype).eval()
    _check_folded(model, _x((4, 2, 9, 9), dtype), fold_calls, folds=2)


def test_patterns_inside_a_longer_sequential(fold_calls):
    """conv-bn-relu-pool-conv-bn-conv: two folds, the lone conv and pool computed as usual."""
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4),
                          nn.Conv2d(4, 2, 1), nn.ReLU(), nn.BatchNorm2d(2))
    model = _randomise_norms(model).astype(np.float64).eval()
    _check_folded(model, _x((3, 1, 12, 12)), fold_calls, folds=2)


# -- whole models --------------------------------------------------------------------------------

def _eval_model(builder, dtype, seed=0):
    minicnn.manual_seed(seed)
    return _randomise_norms(builder(), seed).astype(dtype).eval()


@pytest.fixture
def fold_everywhere(monkeypatch):
    """Fold every pair, also where ``fold_pays`` says it does not pay (small test shapes)."""
    monkeypatch.setattr(tuning, "FOLD_MIN_OUTPUTS_PER_WEIGHT", 0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch", [1, 3])
def test_resnet20_eval_output(dtype, batch, fold_calls, fold_everywhere):
    model = _eval_model(models.resnet20, dtype)
    _check_folded(model, _x((batch, 3, 32, 32), dtype), fold_calls, folds=19)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_resnet20_projection_shortcuts_fold(dtype, fold_calls, fold_everywhere):
    model = _eval_model(lambda: models.cifar_resnet(20, shortcut="B"), dtype)
    _check_folded(model, _x((2, 3, 16, 16), dtype), fold_calls, folds=21)  # + 2 downsamples


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("batch", [1, 2])
def test_vgg11_bn_eval_output(dtype, batch, fold_calls, fold_everywhere):
    model = _eval_model(lambda: models.vgg11(num_classes=10, input_size=32, batch_norm=True),
                        dtype)
    _check_folded(model, _x((batch, 3, 32, 32), dtype), fold_calls, folds=8)


def test_where_folding_pays_at_batch_1(fold_calls, monkeypatch):
    """With one output value per weight needed (N·Ho·Wo ≥ (C/groups)·kh·kw), ResNet-20 at
    batch 1 folds the stem (32² ≥ 3·9), layer1's six (32² ≥ 16·9) and layer2's first
    (16² ≥ 16·9), not layer2's others (16² < 32·9) nor layer3's (8² < 32·9); VGG-11 only its
    first (the second has 16² < 64·9). The result is right either way."""
    monkeypatch.setattr(tuning, "FOLD_MIN_OUTPUTS_PER_WEIGHT", 1)
    _check_folded(_eval_model(models.resnet20, np.float64), _x((1, 3, 32, 32)), fold_calls,
                  folds=8)
    fold_calls.clear()
    vgg = _eval_model(lambda: models.vgg11(num_classes=10, input_size=32, batch_norm=True),
                      np.float64)
    _check_folded(vgg, _x((1, 3, 32, 32)), fold_calls, folds=1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bottleneck_block(dtype, fold_calls, fold_everywhere):
    block = _eval_model(lambda: nn.Bottleneck(8, 4, stride=2), dtype)
    _check_folded(block, _x((2, 8, 9, 9), dtype), fold_calls, folds=4)  # 3 + downsample


def test_predict_and_evaluate_fold(fold_calls, fold_everywhere):
    model = _eval_model(models.resnet20, np.float64).train()
    x, y = _x((4, 3, 32, 32)), np.array([0, 1, 2, 3])
    got = minicnn.predict(model, x, batch_size=2)
    assert len(fold_calls) == _folds(2 * 19)  # two batches of 2
    assert model.training  # put back
    expected = _unfolded(model.eval(), x, "reference")
    assert _relative(got, expected) <= 1e-12
    result = minicnn.evaluate(model, [(x, y)], nn.CrossEntropyLoss())
    assert len(fold_calls) == _folds(3 * 19)
    assert math.isclose(result.loss, nn.CrossEntropyLoss()(expected, y), rel_tol=1e-12)


# -- when nothing is folded ------------------------------------------------------------------------

def _small_model(dtype=np.float64):
    minicnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4))
    return _randomise_norms(model).astype(dtype)


def test_training_mode_is_not_folded(fold_calls):
    model, x = _small_model(), _x((3, 2, 6, 6))
    reference = copy.deepcopy(model)
    with no_grad():
        got = model.train()(x)  # batch statistics, and the running ones are updated
    with minicnn.engine("reference"), no_grad():
        expected = reference.train()(x)
    assert not fold_calls
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    for a, b in zip(model.state_dict().values(), reference.state_dict().values(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_grad_mode_is_not_folded_and_backward_works(fold_calls):
    model, x = _small_model().eval(), _x((3, 2, 6, 6))
    out = model(x)  # eval mode, gradients enabled: layer by layer, caches kept
    assert not fold_calls
    assert _relative(out, _unfolded(model, x, "reference")) <= 1e-12
    dx = model.backward(np.ones_like(out))
    assert dx.shape == x.shape and np.abs(model[0].weight.grad).sum() > 0


@pytest.mark.parametrize("which", ["conv", "norm"])
def test_one_layer_in_training_mode_is_not_folded(which, fold_calls):
    model, x = _small_model().eval(), _x((3, 2, 6, 6))
    (model[0] if which == "conv" else model[1]).train()
    reference = copy.deepcopy(model)
    got = _infer(model, x)
    assert len(fold_calls) == _folds(1)  # only the second pair
    with minicnn.engine("reference"):
        assert _relative(got, _infer(reference, x)) <= 1e-12


def test_the_off_switch(fold_calls, monkeypatch):
    monkeypatch.setattr(tuning, "FOLD_BATCH_NORM", False)
    model, x = _small_model().eval(), _x((3, 2, 6, 6))
    got = _infer(model, x)
    assert not fold_calls
    assert _relative(got, _unfolded(model, x, "reference")) <= 1e-12


def test_norm_without_running_statistics_is_not_folded(fold_calls):
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4, track_running_stats=False))
    model = model.astype(np.float64).eval()  # eval mode with batch statistics
    x = _x((3, 2, 6, 6))
    got = _infer(model, x)
    assert not fold_calls
    assert _relative(got, _unfolded(model, x, "reference")) <= 1e-12


def test_subclasses_are_not_folded(fold_calls):
    class ShiftedNorm(nn.BatchNorm2d):
        def forward(self, x):
            return super().forward(x) + 1.0

    model = nn.Sequential(nn.Conv2d(2, 4, 3), ShiftedNorm(4)).astype(np.float64).eval()
    x = _x((2, 2, 5, 5))
    got = _infer(model, x)
    assert not fold_calls
    assert _relative(got, _unfolded(model, x, "reference")) <= 1e-12


def test_fold_pays_only_for_many_outputs_per_weight():
    assert fold.fold_pays((64, 64, 32, 32), (64, 64, 3, 3))        # 65,536 outputs per 576
    assert not fold.fold_pays((1, 512, 2, 2), (512, 512, 3, 3))    # 4 outputs per 4,608
    assert fold.fold_pays((1, 6, 2, 2), (6, 1, 2, 2))              # 4 per 4: the boundary


# -- no stale fold ---------------------------------------------------------------------------------

def _assert_fresh(model, x):
    """The folded result now equals the layer-by-layer result now."""
    assert _relative(_infer(model, x), _unfolded(model, x, "reference")) <= 1e-12


def test_optimizer_step_between_evaluations(fold_calls):
    model, x = _small_model(), _x((3, 2, 6, 6))
    before = _infer(model.eval(), x)
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    loss_fn(model(x).mean(axis=(2, 3)), np.array([0, 1, 2]))
    model.backward(loss_fn.backward().reshape(3, 4, 1, 1) * np.ones((1, 1, 6, 6)) / 36)
    optim.SGD(model.parameters(), lr=0.5).step()
    model.eval()
    after = _infer(model, x)
    assert _relative(after, before) > 1e-3
    _assert_fresh(model, x)
    assert len(fold_calls) == _folds(6)  # two pairs in each of three evaluations


def test_load_state_dict_between_evaluations(fold_calls):
    model, x = _small_model().eval(), _x((3, 2, 6, 6))
    other = _randomise_norms(_small_model(), seed=5)
    other[0].weight.data *= -2
    _infer(model, x)
    model.load_state_dict(other.state_dict())
    _assert_fresh(model, x)
    assert _relative(_infer(model, x), _unfolded(other.eval(), x, "reference")) <= 1e-12


@pytest.mark.parametrize("change", ["conv weight", "conv bias", "gamma", "beta",
                                    "running_mean", "running_var", "eps", "new array"])
def test_in_place_changes_between_evaluations(change, fold_calls):
    model, x = _small_model().eval(), _x((3, 2, 6, 6))
    before = _infer(model, x)
    conv, norm = model[0], model[1]
    if change == "conv weight":
        conv.weight.data[1, 0, 2, 2] += 0.5
    elif change == "conv bias":
        conv.bias.data[...] = 3.0
    elif change == "gamma":
        norm.weight.data[2] *= -1
    elif change == "beta":
        norm.bias.data += 1
    elif change == "running_mean":
        norm.running_mean[0] = 7.0
    elif change == "running_var":
        norm.running_var[3] = 9.0
    elif change == "eps":
        norm.eps = 0.5
    else:
        conv.weight.data = conv.weight.data * 0.5
    assert _relative(_infer(model, x), before) > 1e-6
    _assert_fresh(model, x)


def test_training_forward_between_evaluations(fold_calls):
    """The running statistics a training forward updates are used by the next evaluation."""
    model, x = _small_model(), _x((3, 2, 6, 6))
    before = _infer(model.eval(), x)
    with no_grad():
        model.train()(x * 3 + 1)
    assert int(model[1].num_batches_tracked) == 1
    model.eval()
    assert _relative(_infer(model, x), before) > 1e-3
    _assert_fresh(model, x)


# -- hooks, state ----------------------------------------------------------------------------------

def _layer_by_layer_outputs(model, x):
    outputs = []
    with minicnn.engine("reference"), no_grad():
        for layer in model:
            x = layer(x)
            outputs.append(x)
    return outputs


def test_hooks_see_every_layer(fold_calls):
    model, x = _small_model().eval(), _x((2, 2, 6, 6))
    seen = {}
    named = [(str(i), layer) for i, layer in enumerate(model)]
    with forward_hooks(named, lambda name, _, out: seen.setdefault(name, out)), no_grad():
        model(x)
    assert not fold_calls and sorted(seen) == ["0", "1", "2", "3", "4"]
    for i, expected in enumerate(_layer_by_layer_outputs(model, x)):
        assert _relative(seen[str(i)], expected) <= 1e-12


def test_a_hook_on_the_relu_only_keeps_its_output(fold_calls):
    model, x = _small_model().eval(), _x((2, 2, 6, 6))
    seen = []
    with forward_hooks([("relu", model[2])], lambda _, __, out: seen.append(out)), no_grad():
        model(x)
    assert len(fold_calls) == _folds(2)  # conv-bn folded, the ReLU run on its own
    assert _relative(seen[0], _layer_by_layer_outputs(model, x)[2]) <= 1e-12


def test_summary_and_extract_features_see_the_norm(fold_calls):
    model, x = _small_model().eval(), _x((2, 2, 6, 6))
    table = minicnn.summary(model, (2, 6, 6), dtype=np.float64)
    assert [row.name for row in table.rows][:5] == ["0", "1", "2", "3", "4"]
    features = extract_features(model, x, "1", flatten=False).features
    assert _relative(features, _layer_by_layer_outputs(model, x)[1]) <= 1e-12


def test_state_dict_parameters_and_attributes_unchanged(fold_calls, fold_everywhere):
    model = _eval_model(models.resnet20, np.float32)
    state = model.state_dict()
    attributes = {name: set(module.__dict__) for name, module in model.named_modules()}
    _infer(model, _x((2, 3, 32, 32), np.float32))
    assert len(fold_calls) == _folds(19)
    after = model.state_dict()
    assert list(after) == list(state)
    for key, value in state.items():
        assert after[key].dtype == value.dtype and after[key].tobytes() == value.tobytes(), key
    assert {name: set(module.__dict__) for name, module in model.named_modules()} == attributes


# -- errors: the layers' own ---------------------------------------------------------------------

def test_wrong_channels_name_the_conv(fold_calls):
    model = _small_model().eval()
    with pytest.raises(ValueError, match=r"Conv2d\(2, 4\): expected input with 2 channels"):
        _infer(model, _x((1, 3, 6, 6)))


def test_wrong_dtype_names_the_conv(fold_calls):
    model = _small_model(np.float32).eval()
    with pytest.raises((TypeError, ValueError), match=r"Conv2d\(2, 4\).*float32"):
        _infer(model, _x((1, 2, 6, 6), np.float64))


def test_norm_of_the_wrong_width_names_the_norm(fold_calls):
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(5)).eval()
    with pytest.raises(ValueError, match=r"BatchNorm2d\(5\): expected .*5 channels"):
        _infer(model, _x((1, 2, 6, 6), np.float32))
    assert not fold_calls


def test_inference_from_two_threads_at_once(fold_calls, fold_everywhere):
    """Nothing is stored, so threads folding the same layers at once get the same result."""
    model, x = _small_model().eval(), _x((2, 2, 6, 6))
    expected = _unfolded(model, x, "reference")
    results = []

    def infer():
        results.extend(_infer(model, x) for _ in range(5))
    threads = [threading.Thread(target=infer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 10 and len(fold_calls) == _folds(20)
    assert max(_relative(got, expected) for got in results) <= 1e-12
