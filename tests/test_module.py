"""The Module contract of DESIGN.md: registration, traversal, state dicts, modes, dtypes, repr.

These tests use tiny hand-written modules so that they check the base class alone.
"""

import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest

import minicnn
from minicnn.nn.module import Identity, Module, Sequential
from minicnn.nn.parameter import Parameter

pytestmark = pytest.mark.usefixtures("each_engine")


class Scale(Module):
    """y = x · w + b, element-wise over the last axis; a minimal layer with a buffer."""

    def __init__(self, n):
        super().__init__()
        self.weight = Parameter(np.ones(n, dtype=np.float32))
        self.bias = Parameter(np.zeros(n, dtype=np.float32))
        self.register_buffer("calls", np.zeros((), dtype=np.int64))

    def forward(self, x):
        self.calls = self.calls + 1
        self._save_for_backward(x)
        return x * self.weight.data + self.bias.data

    def backward(self, dout):
        x = self._pop_cache()
        if self.weight.requires_grad:
            self.weight.grad += (dout * x).reshape(-1, x.shape[-1]).sum(axis=0)
            self.bias.grad += dout.reshape(-1, x.shape[-1]).sum(axis=0)
        return dout * self.weight.data

    def extra_repr(self):
        return str(self.weight.shape[0])


class Net(Module):
    def __init__(self):
        super().__init__()
        self.body = Sequential(Scale(3), Identity(), Scale(3))
        self.head = Scale(3)

    def forward(self, x):
        return self.head(self.body(x))

    def backward(self, dout):
        return self.body.backward(self.head.backward(dout))


def test_state_dict_keys_follow_pytorch_dotted_names_in_registration_order():
    keys = list(Net().state_dict())
    assert keys == ["body.0.weight", "body.0.bias", "body.0.calls", "body.2.weight",
                    "body.2.bias", "body.2.calls", "head.weight", "head.bias", "head.calls"]


def test_parameters_and_named_parameters_agree_and_skip_buffers():
    net = Net()
    names = [name for name, _ in net.named_parameters()]
    assert names == ["body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias",
                     "head.weight", "head.bias"]
    assert [id(p) for p in net.parameters()] == [id(p) for _, p in net.named_parameters()]
    assert net.num_parameters() == 18


def test_children_and_modules_traverse_depth_first():
    net = Net()
    assert [type(m).__name__ for m in net.children()] == ["Sequential", "Scale"]
    assert [name for name, _ in net.named_modules()] == ["", "body", "body.0", "body.1",
                                                         "body.2", "head"]


def test_state_dict_returns_copies():
    net = Net()
    state = net.state_dict()
    state["head.weight"][:] = 7
    assert np.all(net.head.weight.data == 1)


def test_load_state_dict_round_trip_and_dtype_kept():
    source, target = Net(), Net()
    for i, param in enumerate(source.parameters()):
        param.data[:] = i + np.arange(3)
    target.load_state_dict(source.state_dict())
    for (name, a), b in zip(source.state_dict().items(), target.state_dict().values(),
                            strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert target.head.weight.dtype == np.float32
    # float64 values are cast to the parameter's dtype
    state = {k: v.astype(np.float64) if v.dtype == np.float32 else v
             for k, v in source.state_dict().items()}
    target.load_state_dict(state)
    assert target.head.weight.dtype == np.float32


def test_load_state_dict_strict_lists_missing_unexpected_and_misshaped_keys():
    net = Net()
    state = net.state_dict()
    del state["head.bias"]
    state["head.extra"] = np.zeros(3)
    state["body.0.weight"] = np.zeros(4, dtype=np.float32)
    before = net.state_dict()
    with pytest.raises(ValueError) as info:
        net.load_state_dict(state)
    message = str(info.value)
    assert "missing key: head.bias" in message
    assert "unexpected key: head.extra" in message
    assert "body.0.weight: expected shape (3,), got (4,)" in message
    assert "Net.load_state_dict" in message
    # nothing was changed by the failed load
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_load_state_dict_non_strict_returns_missing_and_unexpected():
    net = Net()
    state = net.state_dict()
    del state["head.bias"]
    state["fc.weight"] = np.zeros(3)
    state["body.0.weight"] = np.full(3, 5, dtype=np.float32)
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert missing == ["head.bias"]
    assert unexpected == ["fc.weight"]
    assert np.all(net.body[0].weight.data == 5)


def test_load_state_dict_rejects_shape_mismatch_even_when_not_strict():
    net = Net()
    with pytest.raises(ValueError, match=r"head.weight: expected shape \(3,\), got \(2,\)"):
        net.load_state_dict({"head.weight": np.zeros(2)}, strict=False)


def test_load_state_dict_rejects_a_non_mapping():
    with pytest.raises(TypeError, match="expected a mapping"):
        Net().load_state_dict([1, 2, 3])


def test_train_and_eval_set_every_module():
    net = Net()
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_astype_converts_parameters_gradients_and_float_buffers_only():
    net = Net()
    assert net.astype(np.float64) is net
    for param in net.parameters():
        assert param.data.dtype == np.float64 and param.grad.dtype == np.float64
    assert net.head.calls.dtype == np.int64
    with pytest.raises(TypeError, match="expected float32 or float64, got int32"):
        net.astype(np.int32)


def test_backward_accumulates_into_grad_and_zero_grad_resets():
    net = Net()
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    for _ in range(2):
        net(x)
        net.backward(np.ones((2, 3), dtype=np.float32))
    np.testing.assert_array_equal(net.head.bias.grad, [4, 4, 4])
    net.zero_grad()
    assert all(np.all(p.grad == 0) for p in net.parameters())


def test_frozen_parameters_get_no_gradient():
    net = Net()
    net.head.requires_grad_(False)
    net(np.ones((2, 3), dtype=np.float32))
    net.backward(np.ones((2, 3), dtype=np.float32))
    assert np.all(net.head.weight.grad == 0)
    assert np.any(net.body[0].weight.grad != 0)
    assert net.num_parameters(trainable_only=True) == 12


def test_backward_without_forward_names_the_layer():
    with pytest.raises(RuntimeError, match=r"Scale: backward\(\) needs a forward\(\) first"):
        Scale(3).backward(np.ones(3, dtype=np.float32))


def test_no_grad_keeps_no_cache():
    layer = Scale(3)
    with minicnn.no_grad():
        assert not minicnn.is_grad_enabled()
        layer(np.ones((1, 3), dtype=np.float32))
        with minicnn.enable_grad():
            assert minicnn.is_grad_enabled()
    assert minicnn.is_grad_enabled()
    with pytest.raises(RuntimeError, match="no_grad"):
        layer.backward(np.ones((1, 3), dtype=np.float32))


def test_sequential_indexing_len_iter_append_and_named_children():
    seq = Sequential(Scale(2), Identity())
    assert len(seq) == 2 and isinstance(seq[0], Scale) and isinstance(seq[-1], Identity)
    assert [type(m) for m in seq] == [Scale, Identity]
    seq.append(Scale(2))
    assert list(seq.state_dict())[-3:] == ["2.weight", "2.bias", "2.calls"]
    assert isinstance(seq[1:], Sequential) and len(seq[1:]) == 2
    named = Sequential(OrderedDict(conv=Scale(2), act=Identity()))
    assert list(named.state_dict()) == ["conv.weight", "conv.bias", "conv.calls"]
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    with pytest.raises(TypeError, match="expected Module instances, got int"):
        Sequential(Scale(2), 3)


def test_sequential_setitem_keeps_the_key_order():
    seq = Sequential(Scale(2), Scale(2), Scale(2))
    seq[1] = Identity()
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "0.calls",
                                      "2.weight", "2.bias", "2.calls"]
    assert isinstance(seq[1], Identity)


def test_reassigning_an_attribute_moves_it_between_registries():
    layer = Scale(3)
    layer.bias = None
    assert list(layer.state_dict()) == ["weight", "calls"]
    assert layer.bias is None


def test_repr_is_nested_and_readable():
    text = repr(Net())
    assert text.splitlines()[0] == "Net("
    assert "  (body): Sequential(" in text
    assert "    (0): Scale(3)" in text
    assert "    (1): Identity()" in text
    assert text.endswith("  (head): Scale(3)\n)")


def test_parameter_rejects_integer_data_and_has_readable_repr():
    with pytest.raises(TypeError, match="expected float32 or float64 data, got int64"):
        Parameter(np.arange(3))
    param = Parameter(np.zeros((2, 3), dtype=np.float32), requires_grad=False)
    assert repr(param) == "Parameter(shape=(2, 3), dtype=float32, requires_grad=False)"


def test_forgetting_super_init_is_a_clear_error():
    class Broken(Module):
        def __init__(self):
            self.weight = Parameter(np.zeros(1, dtype=np.float32))

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\)"):
        Broken()


def test_manual_seed_repeats_draws_and_validates():
    minicnn.manual_seed(3)
    first = minicnn.get_rng().standard_normal(4)
    minicnn.manual_seed(3)
    np.testing.assert_array_equal(first, minicnn.get_rng().standard_normal(4))
    with pytest.raises(ValueError, match="non-negative integer"):
        minicnn.manual_seed(-1)


def test_rng_state_round_trip():
    minicnn.manual_seed(5)
    state = minicnn.get_rng_state()
    expected = minicnn.get_rng().random(3)
    minicnn.set_rng_state(state)
    np.testing.assert_array_equal(minicnn.get_rng().random(3), expected)


def test_import_minicnn_imports_neither_numba_nor_matplotlib():
    code = ("import sys, minicnn; "
            "print('numba' in sys.modules, 'matplotlib' in sys.modules, minicnn.__version__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False", "0.1.0"]


def test_unknown_top_level_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        minicnn.nonexistent


# -- backward_params: the training step's backward, without dL/dx of the input -----------------

def _grads(model):
    return {name: p.grad.copy() for name, p in model.named_parameters()}


def _both_backwards(make_model, x_shape, seed=0):
    """Parameter gradients from backward and from backward_params on twin models."""
    x = np.random.default_rng(seed).standard_normal(x_shape)
    results = []
    for method in ("backward", "backward_params"):
        minicnn.manual_seed(seed)
        model = make_model().astype(np.float64)
        out = model(x)
        returned = getattr(model, method)(np.cos(out))
        results.append((returned, _grads(model)))
    return results


@pytest.mark.parametrize("make_model, x_shape", [
    (minicnn.models.lenet5, (3, 1, 28, 28)),  # Conv2d first, inside a nested Sequential
    (lambda: Sequential(minicnn.nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"),
                        minicnn.nn.ReLU(), minicnn.nn.Flatten(),
                        minicnn.nn.Linear(48, 4)), (2, 2, 4, 4)),
    (lambda: Sequential(minicnn.nn.Linear(5, 4), minicnn.nn.Tanh()), (3, 5)),
    (lambda: Sequential(Scale(5), minicnn.nn.Linear(5, 2)), (3, 5)),  # only backward: default
    (lambda: Sequential(), (2, 3)),
])
def test_backward_params_gives_backwards_parameter_gradients_and_no_input_gradient(
        make_model, x_shape):
    (dx, full), (nothing, params_only) = _both_backwards(make_model, x_shape)
    assert nothing is None and dx.shape == x_shape
    assert full.keys() == params_only.keys()
    for name, grad in full.items():
        np.testing.assert_array_equal(params_only[name], grad, err_msg=name)


def test_backward_params_skips_the_first_layers_input_gradient(monkeypatch):
    F = minicnn.engines.functions()  # the namespace the layers call under this engine
    asked = []
    conv_backward = F.conv2d_backward

    def spy(dout, cache, need_dx=True, need_dw=True, need_db=True):
        asked.append(need_dx)
        return conv_backward(dout, cache, need_dx, need_dw, need_db)

    monkeypatch.setattr(F, "conv2d_backward", spy)
    model = minicnn.models.lenet5()
    out = model(np.zeros((2, 1, 28, 28), np.float32))
    model.backward_params(np.ones_like(out))
    assert asked == [True, False]  # the second convolution's dx, then none for the first
    with pytest.raises(RuntimeError, match="needs a forward"):  # the caches were used up
        model.backward(np.ones_like(out))


def test_a_sequential_with_its_own_backward_keeps_it_in_backward_params():
    calls = []

    class Logged(Sequential):
        def backward(self, dout):
            calls.append("backward")
            return super().backward(dout)

    model = Logged(minicnn.nn.Linear(3, 2))
    out = model(np.ones((4, 3), np.float32))
    model.backward_params(np.ones_like(out))
    assert calls == ["backward"]
    assert np.abs(model[0].weight.grad).sum() > 0


def test_fit_uses_backward_params():
    calls = []

    class Spy(Scale):
        def backward_params(self, dout):
            calls.append(dout.shape)
            super().backward_params(dout)

    minicnn.manual_seed(0)
    model = Sequential(Spy(2), minicnn.nn.Linear(2, 3))
    x = np.random.default_rng(0).standard_normal((8, 2)).astype(np.float32)
    opt = minicnn.optim.SGD(model.parameters(), lr=0.1)
    minicnn.train.fit(model, minicnn.nn.CrossEntropyLoss(), opt, [(x, np.arange(8) % 3)],
                      epochs=1, verbose=False)
    assert calls == [(8, 2)]
