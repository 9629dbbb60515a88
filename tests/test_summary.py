"""minicnn.summary: rows, shapes and counts; the model left exactly as it was; clear errors."""

import numpy as np
import pytest

import minicnn
from minicnn import nn
from minicnn.nn.module import Module, Sequential
from minicnn.nn.parameter import Parameter
from minicnn.summary import ModelSummary

pytestmark = pytest.mark.usefixtures("each_engine")


# Hand-written layers, so that these tests check summary() and not the library's layers.
class PointwiseConv(Module):
    """A 1×1 convolution: (N, C_in, H, W) → (N, C_out, H, W); C_out·C_in + C_out parameters."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.weight = Parameter(np.full((c_out, c_in, 1, 1), 0.1, dtype=np.float32))
        self.bias = Parameter(np.zeros(c_out, dtype=np.float32))

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.weight.shape[1]:
            raise ValueError(f"PointwiseConv: expected input (N, {self.weight.shape[1]}, H, W), "
                             f"got shape {x.shape}")
        self._save_for_backward(x)
        out = np.einsum("nchw,oc->nohw", x, self.weight.data[:, :, 0, 0])
        return out + self.bias.data[:, None, None]


class RunningNorm(Module):
    """BatchNorm-like: updates its running statistics in training mode only."""

    def __init__(self, c):
        super().__init__()
        self.weight = Parameter(np.ones(c, dtype=np.float32))
        self.bias = Parameter(np.zeros(c, dtype=np.float32))
        self.register_buffer("running_mean", np.zeros(c, dtype=np.float32))
        self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))

    def forward(self, x):
        if self.training:
            self.running_mean = 0.9 * self.running_mean + 0.1 * x.mean(axis=(0, 2, 3))
            self.num_batches_tracked = self.num_batches_tracked + 1
        self._save_for_backward(x)
        return x * self.weight.data[:, None, None] + self.bias.data[:, None, None]


class Relu(Module):
    def forward(self, x):
        self._save_for_backward(x)
        return np.maximum(x, 0)


class Pool2(Module):
    def forward(self, x):
        n, c, h, w = x.shape
        return x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


class Flatten(Module):
    def forward(self, x):
        return x.reshape(len(x), -1)


class Dense(Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = Parameter(np.full((n_out, n_in), 0.01, dtype=np.float32))
        self.bias = Parameter(np.zeros(n_out, dtype=np.float32))

    def forward(self, x):
        return x @ self.weight.data.T + self.bias.data


class Mischief(Module):
    """Misbehaves in eval mode too: changes its buffer in place and draws random numbers."""

    def __init__(self):
        super().__init__()
        self.register_buffer("counter", np.zeros(2, dtype=np.float64))

    def forward(self, x):
        self.counter += 1
        minicnn.get_rng().random(3)
        return x


class TinyNet(Module):
    def __init__(self):
        super().__init__()
        self.features = Sequential(PointwiseConv(3, 8), RunningNorm(8), Relu(), Pool2())
        self.head = Sequential(Flatten(), Dense(8 * 4 * 4, 10))

    def forward(self, x):
        return self.head(self.features(x))


TINY_ROWS = [  # (name, type, output shape, parameters)
    ("features.0", "PointwiseConv", (1, 8, 8, 8), 8 * 3 + 8),
    ("features.1", "RunningNorm", (1, 8, 8, 8), 16),
    ("features.2", "Relu", (1, 8, 8, 8), 0),
    ("features.3", "Pool2", (1, 8, 4, 4), 0),
    ("head.0", "Flatten", (1, 128), 0),
    ("head.1", "Dense", (1, 10), 128 * 10 + 10),
]


def rows_of(result: ModelSummary):
    return [(r.name, r.type_name, r.output_shape, r.num_params) for r in result.rows]


def test_one_row_per_leaf_layer_with_output_shape_and_parameter_count():
    result = minicnn.summary(TinyNet(), (3, 8, 8))
    assert rows_of(result) == TINY_ROWS
    assert result.total_params == result.trainable_params == 32 + 16 + 1290
    assert result.non_trainable_params == 0
    assert result.param_bytes == 4 * 1338
    assert result.buffer_values == 9
    assert result.input_shape == (1, 3, 8, 8) and result.input_bytes == 3 * 8 * 8 * 4
    # outputs of the leaves: 3 maps of 8·8·8, one of 8·4·4, 128 and 10 values, float32
    assert result.activation_bytes == 4 * (3 * 512 + 128 + 128 + 10)


def test_the_table_is_the_str_and_repr():
    text = str(minicnn.summary(TinyNet(), (3, 8, 8)))
    assert repr(minicnn.summary(TinyNet(), (3, 8, 8))) == text
    lines = text.splitlines()
    assert lines[0] == "Model: TinyNet, input (1, 3, 8, 8) float32"
    assert lines[2].split() == ["Layer", "(type)", "Output", "shape", "Param", "#"]
    assert lines[4].split() == ["features.0", "(PointwiseConv)", "(1,", "8,", "8,", "8)", "32"]
    assert lines[9].split() == ["head.1", "(Dense)", "(1,", "10)", "1,290"]
    assert "Total params: 1,338" in lines
    assert "Trainable params: 1,338" in lines and "Non-trainable params: 0" in lines
    assert "Params size (MB): 0.01" in lines
    assert len({len(line) for line in lines[1:4]}) == 1  # rules as wide as the header


def test_frozen_parameters_are_counted_as_non_trainable():
    model = TinyNet()
    model.features.requires_grad_(False)
    result = minicnn.summary(model, (3, 8, 8))
    assert result.total_params == 1338
    assert result.trainable_params == 1290 and result.non_trainable_params == 48
    assert "Non-trainable params: 48" in str(result)


def test_summary_leaves_modes_buffers_caches_and_rng_exactly_as_they_were():
    minicnn.manual_seed(0)
    model = TinyNet()
    model.head.append(Mischief())
    model.train()
    model(np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32))
    model.features[2].eval()  # a mixed state, which summary must not flatten
    modes = {name: m.training for name, m in model.named_modules()}
    caches = {name: m._cache for name, m in model.named_modules()}
    buffers = {name: (b, b.tobytes()) for name, b in model.named_buffers()}
    state = {key: value.tobytes() for key, value in model.state_dict().items()}
    rng_state = minicnn.get_rng_state()

    result = minicnn.summary(model, (3, 8, 8))

    assert result.rows[-1].type_name == "Mischief"
    assert {name: m.training for name, m in model.named_modules()} == modes
    assert all(m._cache is caches[name] for name, m in model.named_modules())
    assert caches["features.0"] is not None  # a pending backward still has its cache
    for name, buffer in model.named_buffers():
        assert buffer is buffers[name][0] and buffer.tobytes() == buffers[name][1]
    assert {key: value.tobytes() for key, value in model.state_dict().items()} == state
    assert minicnn.get_rng_state() == rng_state
    assert not any("forward" in m.__dict__ for m in model.modules())  # wrappers removed


def test_a_failing_forward_names_the_layer_and_shape_and_removes_the_wrappers():
    model = TinyNet()
    model.train()
    with pytest.raises(ValueError, match=r"failed in layer 'features.0' \(PointwiseConv\) on an "
                                         r"input of shape \(1, 1, 8, 8\).*got shape"):
        minicnn.summary(model, (1, 8, 8))
    assert not any("forward" in m.__dict__ for m in model.modules())
    assert all(m.training for m in model.modules())


def test_input_shape_batch_size_and_four_tuples():
    assert minicnn.summary(TinyNet(), (3, 8, 8), batch_size=5).rows[-1].output_shape == (5, 10)
    assert minicnn.summary(TinyNet(), (2, 3, 8, 8)).input_shape == (2, 3, 8, 8)
    with pytest.raises(ValueError, match="read as \\(N, C, H, W\\)"):
        minicnn.summary(TinyNet(), (2, 3, 8, 8), batch_size=4)
    with pytest.raises(ValueError, match="tuple of positive ints"):
        minicnn.summary(TinyNet(), (3, 0, 8))
    with pytest.raises(TypeError, match="expected a minicnn Module, got function"):
        minicnn.summary(lambda x: x, (3, 8, 8))


def test_float64_models_and_inputs():
    model = TinyNet().astype(np.float64)
    result = minicnn.summary(model, (3, 8, 8), dtype=np.float64)
    assert result.param_bytes == 8 * 1338 and "float64" in str(result).splitlines()[0]


def test_blocks_option_adds_container_rows_with_their_total_in_parentheses():
    result = minicnn.summary(TinyNet(), (3, 8, 8), blocks=True)
    names = [row.name for row in result.rows]
    assert names[0] == "features" and names[5] == "head"
    assert result.rows[0].output_shape == (1, 8, 4, 4)
    assert "features (Sequential)" in str(result) and "(48)" in str(result)
    assert result.total_params == 1338  # the block rows are not added again


def test_a_shared_layer_is_listed_once_with_each_output_shape():
    relu = Relu()
    model = Sequential(PointwiseConv(3, 4), relu, Pool2(), relu, Flatten())
    result = minicnn.summary(model, (3, 4, 4))
    relu_rows = [row for row in result.rows if row.type_name == "Relu"]
    assert len(relu_rows) == 1
    assert relu_rows[0].output_shapes == [(1, 4, 4, 4), (1, 4, 2, 2)]
    assert "(1, 4, 4, 4) | (1, 4, 2, 2)" in str(result)


def test_minicnn_summary_is_callable_even_after_the_submodule_is_imported():
    import minicnn.summary as module

    assert isinstance(module(TinyNet(), (3, 8, 8)), ModelSummary)
    assert isinstance(minicnn.summary(TinyNet(), (3, 8, 8)), ModelSummary)


def test_lenet5_parameter_counts_and_shapes():
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10))
    result = minicnn.summary(model, (1, 28, 28))
    assert result.total_params == 61_706
    shapes = [row.output_shape[1:] for row in result.rows]
    assert shapes == [(6, 28, 28), (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 10, 10),
                      (16, 5, 5), (400,), (120,), (120,), (84,), (84,), (10,)]
    assert [row.num_params for row in result.rows] == [156, 0, 0, 2416, 0, 0, 0, 48120, 0,
                                                       10164, 0, 850]
    assert "Total params: 61,706" in str(result)


def test_real_batchnorm_and_dropout_layers_are_left_exactly_as_they_were():
    minicnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Dropout(0.5), nn.Flatten(), nn.Linear(64, 2))
    model.train()
    model(np.random.default_rng(0).standard_normal((8, 3, 4, 4)).astype(np.float32))
    state = {key: value.tobytes() for key, value in model.state_dict().items()}
    rng_state = minicnn.get_rng_state()
    result = minicnn.summary(model, (3, 4, 4), batch_size=2)
    assert [row.output_shape for row in result.rows][-1] == (2, 2)
    assert result.buffer_values >= 8  # running_mean and running_var of 4 channels
    assert {key: value.tobytes() for key, value in model.state_dict().items()} == state
    assert all(m.training for m in model.modules())
    assert minicnn.get_rng_state() == rng_state


# -- receptive field and multiply-add columns ------------------------------------------------------
def test_mult_adds_and_receptive_fields_of_lenet5_by_hand():
    """Conv: outputs × (C/groups)·kh·kw; Linear: outputs × in_features; the receptive field
    grows k − 1 per convolution, and pooling doubles the step (LeNet-5: 5, 6, 14, 16)."""
    from minicnn import models

    result = minicnn.summary(models.lenet5(), (1, 28, 28), receptive_field=True, flops=True)
    rows = {row.name: row for row in result.rows}
    assert rows["features.0"].mult_adds == 6 * 28 * 28 * (1 * 5 * 5)
    assert rows["features.3"].mult_adds == 16 * 10 * 10 * (6 * 5 * 5)
    assert rows["classifier.0"].mult_adds == 120 * 400
    assert rows["features.1"].mult_adds == 0
    assert result.total_mult_adds == 117_600 + 240_000 + 48_000 + 10_080 + 840
    assert [rows[f"features.{i}"].receptive_field for i in range(6)] == [
        (5, 5), (5, 5), (6, 6), (14, 14), (14, 14), (16, 16)]
    assert rows["classifier.0"].receptive_field is None
    text = str(result)
    assert "Receptive field" in text and "Mult-adds" in text
    assert "Total mult-adds: 416,520 (0.42 M)" in text
    assert "Receptive field" not in str(minicnn.summary(models.lenet5(), (1, 28, 28)))


def test_mult_adds_of_grouped_transposed_and_batched_layers():
    """groups divide the work; a transposed convolution counts per *input* value; the batch
    multiplies everything."""
    model = nn.Sequential(nn.Conv2d(4, 6, 3, padding=1, groups=2),
                          nn.ConvTranspose2d(6, 2, 2, stride=2))
    result = minicnn.summary(model, (4, 5, 5), batch_size=3, flops=True)
    conv, transposed = result.rows
    assert conv.mult_adds == 3 * 6 * 5 * 5 * (2 * 3 * 3)
    assert transposed.mult_adds == 3 * 6 * 5 * 5 * (2 * 2 * 2)
