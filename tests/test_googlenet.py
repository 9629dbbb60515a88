"""GoogLeNet (torchvision's layout) and models with several outputs.

What is checked:
- parameter counts: 13,004,888 with the auxiliary heads and 6,624,904 without (torchvision's
  documented numbers); the small variant's counts, derived from those by hand arithmetic;
- state-dict keys and shapes: a state dict written from torchvision's layout (the key list is
  generated here from the block table re-typed from torchvision's googlenet.py, and a few
  blocks' keys are hard-coded from reading that source) loads with ``strict=True`` and in the
  same key order; the values arrive;
- training mode returns ``GoogLeNetOutputs(logits, aux_logits2, aux_logits1)``, eval mode (or
  aux_logits=False) the logits only;
- float64 central differences: the whole small GoogLeNet's input gradient (training mode with
  the tuple, with a None gradient, eval mode, transform_input), and every parameter of an
  Inception and an InceptionAux block; backward_params gives backward's parameter gradients;
- ``nn.MultiOutputLoss``: the weighted sum of the wrapped loss, its tuple of gradients against
  central differences, the single-array (eval) case;
- ``fit`` for two tiny epochs with the multi-output loss, ``evaluate`` and ``predict`` on the
  main output, ``summary`` showing the heads (training=True) and "--" in eval mode;
- errors naming the model: backward given one array where a tuple is expected (TypeError), a
  wrong tuple length (ValueError), a tuple where one array is expected (TypeError), a wrong
  gradient shape (ValueError naming the output); bad MultiOutputLoss arguments and outputs.
Every test runs under both engines.
"""

import numpy as np
import pytest

import minicnn
from minicnn import models, nn
from minicnn.gradcheck import check_module, numerical_gradient, relative_error
from minicnn.models.googlenet import GoogLeNet, GoogLeNetOutputs, Inception, InceptionAux
from minicnn.train import evaluate, fit, predict

pytestmark = pytest.mark.usefixtures("each_engine")

TOL = 1e-6


def tiny(**kwargs):
    """A small-stem GoogLeNet with 1/16 of the channels: fast enough for gradient checks.
    Seeded, so that every engine checks the same weights (a ReLU kink within h of some unit
    would show as an error near 1e-5 for one draw of weights in a few)."""
    minicnn.manual_seed(0)
    kwargs.setdefault("num_classes", 5)
    kwargs.setdefault("in_channels", 2)
    return GoogLeNet(stem="small", width_mult=1 / 16, arch="tiny_googlenet", **kwargs)


def images(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# -- counts and keys ------------------------------------------------------------------------
def test_parameter_counts_are_torchvisions():
    assert models.googlenet(init_weights=False).num_parameters() == 13_004_888
    assert models.googlenet(aux_logits=False, init_weights=False).num_parameters() == 6_624_904


def test_small_variant_counts_by_hand():
    full = 13_004_888
    conv1_small = full - 3 * 64 * 7 * 7 + 3 * 64 * 3 * 3  # only conv1's kernel changes
    assert models.googlenet(input_size=32, init_weights=False).num_parameters() == conv1_small
    # 10 classes: fc and both heads' fc2 lose 990 rows of 1024 weights and a bias
    ten = conv1_small - 3 * 990 * 1025
    assert models.googlenet_small(in_channels=3, init_weights=False).num_parameters() == ten
    one_channel = ten - 2 * 64 * 9
    assert models.googlenet_small(init_weights=False).num_parameters() == one_channel == 9_951_806
    # each head: 1×1 conv to 128 (no bias), BatchNorm (2·128), fc1 2048→1024, fc2 1024→10
    heads = (512 + 528) * 128 + 2 * (2 * 128 + 2048 * 1024 + 1024 + 1024 * 10 + 10)
    assert models.googlenet_small(aux_logits=False, init_weights=False).num_parameters() == \
        one_channel - heads == 5_601_322


# torchvision's layout, re-typed from torchvision/models/googlenet.py
TV_INCEPTIONS = [
    ("inception3a", 192, 64, 96, 128, 16, 32, 32),
    ("inception3b", 256, 128, 128, 192, 32, 96, 64),
    ("inception4a", 480, 192, 96, 208, 16, 48, 64),
    ("inception4b", 512, 160, 112, 224, 24, 64, 64),
    ("inception4c", 512, 128, 128, 256, 24, 64, 64),
    ("inception4d", 512, 112, 144, 288, 32, 64, 64),
    ("inception4e", 528, 256, 160, 320, 32, 128, 128),
    ("inception5a", 832, 256, 160, 320, 32, 128, 128),
    ("inception5b", 832, 384, 192, 384, 48, 128, 128),
]


def tv_basic_conv(prefix, cin, cout, k):
    return [(f"{prefix}.conv.weight", (cout, cin, k, k)), (f"{prefix}.bn.weight", (cout,)),
            (f"{prefix}.bn.bias", (cout,)), (f"{prefix}.bn.running_mean", (cout,)),
            (f"{prefix}.bn.running_var", (cout,)), (f"{prefix}.bn.num_batches_tracked", ())]


def tv_googlenet_layout(num_classes=1000, aux_logits=True):
    keys = tv_basic_conv("conv1", 3, 64, 7) + tv_basic_conv("conv2", 64, 64, 1) + \
        tv_basic_conv("conv3", 64, 192, 3)
    for name, cin, c1, c3r, c3, c5r, c5, pp in TV_INCEPTIONS:
        keys += tv_basic_conv(f"{name}.branch1", cin, c1, 1)
        keys += tv_basic_conv(f"{name}.branch2.0", cin, c3r, 1)
        keys += tv_basic_conv(f"{name}.branch2.1", c3r, c3, 3)
        keys += tv_basic_conv(f"{name}.branch3.0", cin, c5r, 1)
        keys += tv_basic_conv(f"{name}.branch3.1", c5r, c5, 3)  # torchvision's 3×3
        keys += tv_basic_conv(f"{name}.branch4.1", cin, pp, 1)
    if aux_logits:
        for head, cin in (("aux1", 512), ("aux2", 528)):
            keys += tv_basic_conv(f"{head}.conv", cin, 128, 1)
            keys += [(f"{head}.fc1.weight", (1024, 2048)), (f"{head}.fc1.bias", (1024,)),
                     (f"{head}.fc2.weight", (num_classes, 1024)), (f"{head}.fc2.bias",
                                                                   (num_classes,))]
    return [*keys, ("fc.weight", (num_classes, 1024)), ("fc.bias", (num_classes,))]


def test_hand_written_keys_of_a_few_blocks():
    keys = models.googlenet(init_weights=False).state_dict()
    for key, shape in [("conv1.conv.weight", (64, 3, 7, 7)), ("conv1.bn.running_var", (64,)),
                       ("inception3a.branch3.1.conv.weight", (32, 16, 3, 3)),
                       ("inception3a.branch4.1.conv.weight", (32, 192, 1, 1)),
                       ("inception5b.branch2.1.bn.bias", (384,)),
                       ("aux1.conv.conv.weight", (128, 512, 1, 1)),
                       ("aux2.conv.bn.num_batches_tracked", ()),
                       ("aux2.fc1.weight", (1024, 2048)), ("aux1.fc2.bias", (1000,)),
                       ("fc.weight", (1000, 1024))]:
        assert keys[key].shape == shape, key
    assert not any("maxpool" in key or "relu" in key or "dropout" in key for key in keys)


@pytest.mark.parametrize("aux_logits", [True, False])
def test_a_torchvision_shaped_state_dict_loads_strictly(aux_logits):
    layout = tv_googlenet_layout(aux_logits=aux_logits)
    model = models.googlenet(aux_logits=aux_logits, init_weights=False)
    assert [(k, v.shape) for k, v in model.state_dict().items()] == layout  # order too
    rng = np.random.default_rng(0)
    state = {key: (np.array(7, np.int64) if key.endswith("num_batches_tracked")
                   else rng.standard_normal(shape).astype(np.float32)) for key, shape in layout}
    result = model.load_state_dict(state, strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(model.inception4e.branch3[1].conv.weight.data,
                                  state["inception4e.branch3.1.conv.weight"])
    np.testing.assert_array_equal(model.fc.bias.data, state["fc.bias"])


def test_init_is_torchvisions():
    minicnn.manual_seed(0)
    model = models.googlenet(num_classes=10, init_weights=True)
    w = model.inception4c.branch2[1].conv.weight.data
    assert abs(w.std() - 0.01) < 5e-4 and abs(w.mean()) < 5e-4
    assert np.all(model.conv1.bn.weight.data == 1) and np.all(model.conv1.bn.bias.data == 0)


# -- outputs by mode ------------------------------------------------------------------------
def test_training_mode_returns_three_outputs_and_eval_mode_the_logits():
    model = tiny()
    x = images((2, 2, 16, 16), dtype=np.float32)
    out = model(x)
    assert isinstance(out, GoogLeNetOutputs)
    assert out._fields == ("logits", "aux_logits2", "aux_logits1")
    assert all(o.shape == (2, 5) and o.dtype == np.float32 for o in out)
    model.eval()
    logits = model(x)
    assert isinstance(logits, np.ndarray) and logits.shape == (2, 5)
    no_heads = tiny(aux_logits=False)
    assert isinstance(no_heads(x), np.ndarray)
    assert no_heads.aux1 is None and no_heads.aux2 is None


@pytest.mark.parametrize("size, maps", [(28, (28, 14, 7, 4)), (32, (32, 16, 8, 4))])
def test_small_variant_map_sizes(size, maps):
    model = models.googlenet_small(width_mult=1 / 16, in_channels=1)
    sizes = {}
    from minicnn.summary import forward_hooks
    named = [(n, getattr(model, n)) for n in ("conv3", "inception3b", "inception4e",
                                               "inception5b")]
    with forward_hooks(named, lambda name, m, out: sizes.setdefault(name, out.shape[-1])):
        out = model(images((2, 1, size, size), dtype=np.float32))
    assert tuple(sizes.values()) == maps
    assert out.logits.shape == (2, 10)


def test_imagenet_stem_map_sizes_use_ceil_mode():
    model = GoogLeNet(num_classes=3, width_mult=1 / 32, init_weights=False).eval()
    sizes = {}
    from minicnn.summary import forward_hooks
    named = [(n, getattr(model, n)) for n in ("maxpool1", "maxpool2", "maxpool3", "maxpool4")]
    with forward_hooks(named, lambda name, m, out: sizes.setdefault(name, out.shape[-1])):
        model(images((1, 3, 224, 224), dtype=np.float32))
    assert tuple(sizes.values()) == (56, 28, 14, 7)  # torchvision's comments in its forward


# -- gradients ------------------------------------------------------------------------------
def frozen(model):
    """Only the input gradient is checked for the whole net: its parameters are frozen."""
    return model.requires_grad_(False)


def test_whole_net_input_gradient_training_mode():
    model = frozen(tiny())
    report = check_module(model, images((2, 2, 12, 12)), max_entries=12)
    assert report.ok(TOL), report


def test_whole_net_input_gradient_with_an_unused_output():
    model = frozen(tiny())
    x = images((2, 2, 12, 12), seed=1)
    dout = GoogLeNetOutputs(images((2, 5), 2), None, images((2, 5), 3))
    report = check_module(model, x, dout=dout, max_entries=12)
    assert report.ok(TOL), report


def test_whole_net_input_gradient_eval_mode_and_transform_input():
    model = frozen(tiny(in_channels=3, transform_input=True))
    # running statistics away from 0/1, so that eval mode differs from training mode
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean[...] = 0.1
            m.running_var[...] = 2.0
    report = check_module(model.eval(), images((2, 3, 12, 12), seed=4), max_entries=12)
    assert report.ok(TOL), report


def test_transform_input_is_torchvisions_formula():
    model = tiny(in_channels=3, transform_input=True).eval()
    plain = tiny(in_channels=3).eval()
    plain.load_state_dict(model.state_dict())
    x = images((2, 3, 12, 12))
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    by_hand = x * (std / 0.5)[None, :, None, None] + ((mean - 0.5) / 0.5)[None, :, None, None]
    np.testing.assert_allclose(model.astype(np.float64)(x),
                               plain.astype(np.float64)(by_hand), rtol=1e-12, atol=1e-14)


def test_inception_block_parameters():
    minicnn.manual_seed(0)
    report = check_module(Inception(3, 2, 2, 3, 1, 2, 2), images((2, 3, 5, 5)))
    assert report.ok(TOL), report
    assert len(report.errors) == 1 + 6 * 3  # the input, and six BasicConv2d of 3 parameters


def test_inception_aux_block_parameters():
    # Seeded: with 6 hidden ReLUs, one weight draw in ten puts a unit within h of its kink
    # (errors up to 1e-5 then); typical errors are 1e-8 to 5e-7, the input's being the
    # largest (BatchNorm's batch statistics make its entries small).
    minicnn.manual_seed(0)
    head = InceptionAux(3, 4, dropout=0.5, conv_channels=2, hidden=6)  # dropout frozen
    report = check_module(head, images((3, 3, 6, 6)))
    assert report.ok(TOL), report
    assert set(report.errors) == {"input", "conv.conv.weight", "conv.bn.weight", "conv.bn.bias",
                                  "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_params_gives_backwards_parameter_gradients(dtype):
    model = tiny().astype(dtype)
    x = images((2, 2, 12, 12), dtype=dtype)
    state = minicnn.get_rng_state()
    dout = tuple(images((2, 5), seed, dtype) for seed in (5, 6, 7))
    model(x)
    dx = model.backward(dout)
    assert dx.shape == x.shape and dx.dtype == dtype
    full = {name: p.grad.copy() for name, p in model.named_parameters()}
    model.zero_grad()
    minicnn.set_rng_state(state)  # the same dropout masks
    model(x)
    assert model.backward_params(dout) is None
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, full[name], rtol=1e-5, atol=1e-7, err_msg=name)


def test_all_gradients_none_gives_a_zero_input_gradient():
    model = tiny()
    x = images((2, 2, 12, 12), dtype=np.float32)
    model(x)
    dx = model.backward((None, None, None))
    assert dx.shape == x.shape and dx.dtype == np.float32 and not dx.any()


# -- the loss -------------------------------------------------------------------------------
def test_multi_output_loss_is_the_weighted_sum_and_its_gradients():
    outputs = GoogLeNetOutputs(images((4, 3), 1), images((4, 3), 2), images((4, 3), 3))
    y = np.array([0, 2, 1, 1])
    loss = nn.MultiOutputLoss()
    value = loss(outputs, y)
    grads = loss.backward()
    assert isinstance(grads, GoogLeNetOutputs)
    ce = nn.CrossEntropyLoss()
    terms = []
    for weight, out, grad in zip((1.0, 0.3, 0.3), outputs, grads, strict=True):
        terms.append(ce(out, y))
        np.testing.assert_allclose(grad, weight * ce.backward(), rtol=1e-12)
    assert value == pytest.approx(terms[0] + 0.3 * terms[1] + 0.3 * terms[2], rel=1e-12)
    assert loss.last_losses == pytest.approx(terms, rel=1e-12)
    # each gradient against central differences of the total, in float64
    for k in range(3):
        def total_of_k(z, k=k):
            items = list(outputs)
            items[k] = z
            with minicnn.no_grad():
                return loss(tuple(items), y)
        numeric = numerical_gradient(total_of_k, outputs[k].copy())
        assert relative_error(grads[k], numeric) < TOL
    assert isinstance(loss(list(outputs), y) and loss.backward(2.0), tuple)


def test_multi_output_loss_of_one_array_is_the_plain_loss():
    logits, y = images((4, 3), 1), np.array([0, 2, 1, 1])
    loss, ce = nn.MultiOutputLoss(nn.CrossEntropyLoss(label_smoothing=0.1)), \
        nn.CrossEntropyLoss(label_smoothing=0.1)
    assert loss(logits, y) == pytest.approx(ce(logits, y), rel=1e-15)
    np.testing.assert_allclose(loss.backward(), ce.backward(), rtol=1e-15)
    with minicnn.no_grad():
        loss(logits, y)  # keeps nothing


def test_multi_output_loss_errors():
    with pytest.raises(TypeError, match=r"MultiOutputLoss: expected loss as a minicnn loss"):
        nn.MultiOutputLoss(nn.ReLU())
    with pytest.raises(ValueError, match=r"MultiOutputLoss: expected a loss that reduces"):
        nn.MultiOutputLoss(nn.CrossEntropyLoss(reduction="none"))
    with pytest.raises(ValueError, match=r"MultiOutputLoss: expected weights as a non-empty"):
        nn.MultiOutputLoss(weights=())
    loss = nn.MultiOutputLoss()
    two = (images((4, 3)), images((4, 3)))
    with pytest.raises(ValueError, match=r"MultiOutputLoss\(CrossEntropyLoss, weights=\(1.0, "
                                         r"0.3, 0.3\)\): expected 3 outputs, one per weight, "
                                         r"got a tuple of 2"):
        loss(two, np.zeros(4, int))
    with pytest.raises(TypeError, match=r"expected the model's outputs as a tuple of 3"):
        loss({"a": 1}, np.zeros(4, int))


# -- errors of backward ---------------------------------------------------------------------
def test_backward_given_one_array_after_a_three_output_forward():
    model = tiny()
    out = model(images((2, 2, 12, 12), dtype=np.float32))
    with pytest.raises(TypeError, match=r"^tiny_googlenet: the last forward \(training mode, "
                                        r"aux_logits=True\) returned 3 outputs GoogLeNetOutputs"
                                        r"\(logits, aux_logits2, aux_logits1\), so backward "
                                        r"expects a tuple of 3 gradients .*got ndarray"):
        model.backward(np.ones_like(out.logits))
    with pytest.raises(ValueError, match=r"^tiny_googlenet: expected 3 gradients for the outputs "
                                         r"\(logits, aux_logits2, aux_logits1\), got a tuple of 2"):
        model.backward((np.ones_like(out.logits), np.ones_like(out.logits)))
    with pytest.raises(ValueError, match=r"^tiny_googlenet \(aux_logits1\): expected a gradient "
                                         r"of shape \(2, 5\)"):
        model.backward((np.ones_like(out.logits), None, np.ones((2, 4), np.float32)))
    assert model.backward(tuple(np.ones_like(o) for o in out)).shape == (2, 2, 12, 12)  # kept


def test_backward_given_a_tuple_after_a_logits_only_forward():
    model = tiny().eval()
    with minicnn.engine(minicnn.get_engine()):
        logits = model(images((2, 2, 12, 12), dtype=np.float32))
    with pytest.raises(TypeError, match=r"^tiny_googlenet: the last forward returned the logits "
                                        r"only \(eval mode or aux_logits=False\), so backward "
                                        r"expects one gradient array, got a tuple of 3"):
        model.backward((logits, logits, logits))
    with pytest.raises(ValueError, match=r"^tiny_googlenet: expected a gradient of shape \(2, 5\)"):
        model.backward(np.ones((2, 6), np.float32))
    assert model.backward(np.ones_like(logits)).shape == (2, 2, 12, 12)


def test_bad_builder_arguments_and_input():
    with pytest.raises(ValueError, match=r"googlenet: expected num_classes"):
        models.googlenet(num_classes=0)
    with pytest.raises(ValueError, match=r"googlenet_small: transform_input=True re-normalises"):
        GoogLeNet(in_channels=1, transform_input=True, arch="googlenet_small")
    with pytest.raises(ValueError, match=r"tiny_googlenet: expected input with 2 channels"):
        tiny()(np.zeros((1, 3, 12, 12), np.float32))


# -- training -------------------------------------------------------------------------------
def test_fit_evaluate_predict_and_summary_with_several_outputs():
    minicnn.manual_seed(0)
    model = models.googlenet_small(num_classes=3, in_channels=1, width_mult=1 / 16)
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((4, 1, 16, 16)).astype(np.float32),
                rng.integers(0, 3, 4)) for _ in range(3)]
    opt = minicnn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    history = fit(model, nn.MultiOutputLoss(), opt, batches, epochs=2, val_loader=batches[:1],
                  verbose=False)
    assert len(history) == 2
    assert all(np.isfinite(history.train_loss)) and all(0 <= a <= 1 for a in history.train_acc)
    assert all(0 <= a <= 1 for a in history.val_acc)
    result = evaluate(model, batches, nn.MultiOutputLoss())
    assert np.isfinite(result.loss) and 0 <= result.accuracy <= 1
    x = np.concatenate([b[0] for b in batches])
    logits = predict(model, x, batch_size=5)
    assert logits.shape == (12, 3) and model.training
    y = np.concatenate([b[1] for b in batches])
    assert result.accuracy == pytest.approx(np.mean(logits.argmax(1) == y))

    shown = minicnn.summary(model, (1, 16, 16), batch_size=2, training=True)
    rows = {row.name: row for row in shown.rows}
    assert rows["aux1.fc2"].output_shape == (2, 3) and rows["aux2.conv.conv"].output_shape
    assert shown.total_params == model.num_parameters()
    assert "aux1.fc2 (Linear)" in str(shown)
    eval_rows = {row.name: row for row in minicnn.summary(model, (1, 16, 16)).rows}
    assert eval_rows["aux1.fc2"].shape_text() == "--" and eval_rows["fc"].output_shape == (1, 3)
    assert model.training  # summary left the mode alone
