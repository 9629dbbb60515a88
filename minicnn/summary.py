"""``summary(model, input_shape)``: each layer's output shape and parameter count, Keras-style.

    >>> print(minicnn.summary(models.lenet5(), (1, 28, 28)))
    Model: lenet5, input (1, 1, 28, 28) float32
    ==================================================
    Layer (type)             Output shape      Param #
    ==================================================
    features.0 (Conv2d)      (1, 6, 28, 28)        156
    features.1 (ReLU)        (1, 6, 28, 28)          0
    features.2 (MaxPool2d)   (1, 6, 14, 14)          0
    ...
    classifier.4 (Linear)    (1, 10)               850
    ==================================================
    Total params: 61,706
    Trainable params: 61,706
    Non-trainable params: 0
    --------------------------------------------------
    Input size (MB): 0.00
    Forward pass size (MB): 0.06
    Params size (MB): 0.24
    ==================================================

How the output shapes are found: one forward pass on zeros of shape (batch_size, *input_shape),
in eval mode (training mode with ``training=True``) and under ``minicnn.no_grad()``, with each
module's ``forward`` temporarily replaced by an *instance attribute* that calls the real one
and records the shape of what it returns. ``Module.__call__`` and the containers call
``self.forward``, and Python looks up instance attributes before class attributes, so the
wrapper runs; deleting the attribute afterwards makes the class's method visible again. The
same technique, in ``forward_hooks``, lets ``minicnn.viz.show_feature_maps`` capture one
layer's output.

The model is left exactly as it was: each module's train/eval mode, its buffers (BatchNorm's
running statistics) bit for bit, the caches a pending backward pass needs, and minicnn's
random generator.
"""

import html
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ._grad_mode import no_grad
from ._random import get_rng_state, set_rng_state

__all__ = ["LayerRow", "ModelSummary", "forward_hooks", "preserved_state", "summary"]

MB = 2 ** 20  # bytes; the unit of download sizes ("VGG-16: 528 MB")


# -- leaving the model as it was -------------------------------------------------------------------
def _unique_named_modules(model) -> list:
    """(dotted name, module) for each module once, root first; a shared module keeps its first
    name (``named_modules`` lists it once per place it appears)."""
    seen, unique = set(), []
    for name, module in model.named_modules():
        if id(module) not in seen:
            seen.add(id(module))
            unique.append((name, module))
    return unique


@contextmanager
def preserved_state(model) -> Iterator[None]:
    """Run the ``with`` block on ``model``, then restore what a forward pass may change.

    Restored: every module's ``training`` flag, its backward cache, its buffers (the same array
    objects, with their original bytes) and minicnn's default random generator.
    """
    modules = [module for _, module in _unique_named_modules(model)]
    modes = [(module, module.training) for module in modules]
    caches = [(module, module.__dict__.get("_cache")) for module in modules]
    buffers = [(module, name, buffer, buffer.copy())
               for module in modules for name, buffer in module._buffers.items()]
    rng_state = get_rng_state()
    try:
        yield
    finally:
        for module, training in modes:
            object.__setattr__(module, "training", training)
        for module, cache in caches:
            object.__setattr__(module, "_cache", cache)
        for module, name, original, saved in buffers:
            if module._buffers.get(name) is not original:  # replaced: put the original back
                setattr(module, name, original)
            if original.tobytes() != saved.tobytes():  # changed in place: copy the bytes back
                np.copyto(original, saved)
        if get_rng_state() != rng_state:
            set_rng_state(rng_state)


_ABSENT = object()


@contextmanager
def forward_hooks(named_modules, on_output: Callable, on_input: Callable | None = None
                  ) -> Iterator[list]:
    """Temporarily wrap the ``forward`` of each ``(name, module)`` to report its output.

    Inside the ``with`` block, each call of a wrapped module's forward calls
    ``on_output(name, module, output)`` after computing the output (and, if given,
    ``on_input(name, module, args)`` before). The block receives a list
    that collects, innermost first, the names of modules whose forward raised. The wrappers
    are removed on exit, also when the block raises.
    """
    failed_in = []
    wrapped = []
    try:
        for name, module in named_modules:
            # An instance attribute "forward" may exist already (another wrapper): keep it.
            wrapped.append((module, module.__dict__.get("forward", _ABSENT)))
            recording = _recording_forward(name, module, module.forward, on_output, failed_in,
                                           on_input)
            object.__setattr__(module, "forward", recording)
        yield failed_in
    finally:
        for module, previous in reversed(wrapped):
            if previous is _ABSENT:
                object.__delattr__(module, "forward")  # the class's forward is visible again
            else:
                object.__setattr__(module, "forward", previous)


def _recording_forward(name, module, forward, on_output, failed_in, on_input=None):
    def forward_and_report(*args, **kwargs):
        if on_input is not None:
            on_input(name, module, args)
        try:
            output = forward(*args, **kwargs)
        except Exception:
            failed_in.append(name)
            raise
        on_output(name, module, output)
        return output
    return forward_and_report


# -- the table -------------------------------------------------------------------------------------
@dataclass
class LayerRow:
    """One row of the summary: a layer, the shapes of its outputs and its parameter count."""

    name: str               # dotted name, as in the state dict ("features.0")
    type_name: str          # class name ("Conv2d")
    output_shapes: list     # one shape per call (a shared layer is called more than once)
    num_params: int         # scalars in the layer's own parameters; for a block, in all of
    is_block: bool = False  # its descendants' (shown in parentheses, not added to the total)
    receptive_field: tuple | None = None  # (rows, columns) of input one output pixel sees
    mult_adds: int | None = None          # multiply-adds of the layer's calls in the pass

    def rf_text(self) -> str:
        if self.receptive_field is None:
            return "--"
        h, w = self.receptive_field
        return f"{h}×{w}"

    def mult_adds_text(self) -> str:
        return "--" if self.mult_adds is None else f"{self.mult_adds:,}"

    @property
    def output_shape(self):
        """The shape of the output (of the first call); None if the layer was not called."""
        return self.output_shapes[0] if self.output_shapes else None

    def label(self) -> str:
        return f"{self.name} ({self.type_name})" if self.name else f"({self.type_name})"

    def params_text(self) -> str:
        return f"({self.num_params:,})" if self.is_block else f"{self.num_params:,}"

    def shape_text(self) -> str:
        if not self.output_shapes:
            return "--"  # not used by forward
        distinct = list(dict.fromkeys(map(str, self.output_shapes)))
        return " | ".join(distinct)


@dataclass
class ModelSummary:
    """What ``summary`` found; ``str()`` and ``repr()`` are the table."""

    model_name: str
    input_shape: tuple      # with the batch dimension
    dtype: np.dtype
    rows: list              # LayerRow, in the order of named_modules
    total_params: int
    trainable_params: int
    buffer_values: int      # scalars in buffers (running statistics): state, not parameters
    param_bytes: int
    activation_bytes: int   # the outputs of the leaf layers in one forward pass
    input_bytes: int
    show_receptive_field: bool = False
    show_mult_adds: bool = False

    @property
    def total_mult_adds(self) -> int:
        return sum(row.mult_adds or 0 for row in self.rows if not row.is_block)

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    def __str__(self) -> str:
        header = ["Layer (type)", "Output shape", "Param #"]
        columns = [lambda row: row.label(), lambda row: row.shape_text(),
                   lambda row: row.params_text()]
        if self.show_receptive_field:
            header.append("Receptive field")
            columns.append(lambda row: row.rf_text())
        if self.show_mult_adds:
            header.append("Mult-adds")
            columns.append(lambda row: row.mult_adds_text())
        cells = [tuple(column(row) for column in columns) for row in self.rows]
        widths = [max(len(text) for text in column) for column in zip(header, *cells, strict=True)]

        def line(*texts):
            first = [f"{texts[0]:<{widths[0]}}", f"{texts[1]:<{widths[1]}}"]
            return "   ".join(first + [f"{t:>{w}}" for t, w in zip(texts[2:], widths[2:],
                                                                    strict=True)])

        width = len(line(*header))
        thick, thin = "=" * width, "-" * width
        lines = [f"Model: {self.model_name}, input {self.input_shape} {self.dtype}",
                 thick, line(*header), thick, *(line(*cell) for cell in cells), thick,
                 f"Total params: {self.total_params:,}",
                 f"Trainable params: {self.trainable_params:,}",
                 f"Non-trainable params: {self.non_trainable_params:,}"]
        if self.buffer_values:
            lines.append(f"Buffers (running statistics, not learned): {self.buffer_values:,}")
        if self.show_mult_adds:
            lines.append(f"Total mult-adds: {self.total_mult_adds:,} "
                         f"({self.total_mult_adds / 1e6:.2f} M)")
        lines += [thin,
                  f"Input size (MB): {self.input_bytes / MB:.2f}",
                  f"Forward pass size (MB): {self.activation_bytes / MB:.2f}",
                  f"Params size (MB): {self.param_bytes / MB:.2f}",
                  thick]
        return "\n".join(lines)

    __repr__ = __str__  # a notebook cell ending in summary(...) shows the table

    def _repr_html_(self) -> str:
        """The same table as HTML, which a notebook shows in place of the text."""
        def cells(tag, texts):
            return "".join(f"<{tag}>{html.escape(text)}</{tag}>" for text in texts)

        rows = "".join(f"<tr>{cells('td', (row.label(), row.shape_text(), row.params_text()))}"
                       f"</tr>" for row in self.rows)
        totals = [f"Total params: {self.total_params:,}",
                  f"Trainable params: {self.trainable_params:,}",
                  f"Non-trainable params: {self.non_trainable_params:,}"]
        if self.buffer_values:
            totals.append(f"Buffers (running statistics, not learned): {self.buffer_values:,}")
        totals += [f"Input size (MB): {self.input_bytes / MB:.2f}",
                   f"Forward pass size (MB): {self.activation_bytes / MB:.2f}",
                   f"Params size (MB): {self.param_bytes / MB:.2f}"]
        caption = f"Model: {self.model_name}, input {self.input_shape} {self.dtype}"
        return (f"<table><caption>{html.escape(caption)}</caption>"
                f"<thead><tr>{cells('th', ('Layer (type)', 'Output shape', 'Param #'))}</tr>"
                f"</thead><tbody>{rows}</tbody></table>"
                f"<p>{'<br>'.join(html.escape(line) for line in totals)}</p>")


def _shape_of(output):
    """The shape of an array output; a list of shapes for a tuple or list of arrays."""
    if isinstance(output, np.ndarray):
        return output.shape
    if isinstance(output, (tuple, list)):
        return [_shape_of(item) for item in output]
    return type(output).__name__


def _nbytes(output) -> int:
    if isinstance(output, np.ndarray):
        return output.nbytes
    if isinstance(output, (tuple, list)):
        return sum(_nbytes(item) for item in output)
    return 0


def _batch_shape(input_shape, batch_size) -> tuple:
    """(batch_size, *input_shape); a 4-tuple is taken as (N, C, H, W), batch included."""
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else (input_shape,)
    if not shape or not all(isinstance(n, (int, np.integer)) and n > 0 for n in shape):
        raise ValueError(f"summary: expected input_shape as a tuple of positive ints, such as "
                         f"(1, 28, 28), got {input_shape!r}")
    if len(shape) == 4:
        if batch_size is not None and batch_size != shape[0]:
            raise ValueError(f"summary: input_shape {shape} has 4 entries and is read as "
                             f"(N, C, H, W), but batch_size={batch_size} disagrees with N")
        return tuple(int(n) for n in shape)
    batch_size = 1 if batch_size is None else batch_size
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"summary: expected a positive batch_size, got {batch_size!r}")
    return (int(batch_size), *(int(n) for n in shape))


def _forward_error(error, failed_in, names, shape, dtype):
    """The error to raise when the probing forward pass fails: the original, with context."""
    where = ""
    if failed_in:
        name = failed_in[0]
        where = f" in layer '{name}' ({type(names[name]).__name__})" if name else ""
    message = (f"summary: the model's forward pass failed{where} on an input of shape {shape} "
               f"and dtype {np.dtype(dtype)} (input_shape is one sample's shape, without the "
               f"batch dimension, e.g. (1, 28, 28)): {type(error).__name__}: {error}")
    kind = type(error) if isinstance(error, (ValueError, TypeError)) else RuntimeError
    try:
        return kind(message)
    except TypeError:  # an exception class with a different constructor
        return RuntimeError(message)


def summary(model, input_shape, dtype=np.float32, batch_size: int | None = None, *,
            blocks: bool = False, training: bool = False, receptive_field: bool = False,
            flops: bool = False) -> ModelSummary:
    """A table of the model's layers: name and type, output shape, number of parameters.

    Args:
        model: a Module.
        input_shape: the shape of one sample, without the batch dimension: (C, H, W) for images,
            (features,) for a multilayer perceptron. A 4-tuple is read as (N, C, H, W), batch
            included, as in torchinfo; otherwise the batch size is ``batch_size`` (default 1).
        dtype: the input's dtype (float32; float64 for a model converted with ``astype``).
        blocks: also give a row to containers and blocks (Sequential, residual blocks), with
            their output shape and, in parentheses, the parameters of all their layers (which
            their layers' rows count again).
        training: probe in training mode instead of eval mode, so that layers used only in
            training get their output shapes (GoogLeNet's auxiliary heads, shown with "--"
            otherwise). BatchNorm then normalises by the batch's statistics, which needs more
            than one value per channel: a larger ``batch_size`` if the maps shrink to 1×1.
        receptive_field: add a column with the rows × columns of input pixels that one output
            pixel of the layer sees (``explain.receptive_field``; "--" where it cannot be
            followed, e.g. past a residual block or a Linear layer).
        flops: add a column with each layer's multiply-adds in the pass, and their total:
            a convolution does (C/groups)·kh·kw per output value, a transposed one
            (O/groups)·kh·kw per input value, a Linear layer in_features per output value; the
            other layers are counted as 0 (their work is a few operations per value).

    Rows are the leaf layers (and any module with parameters of its own), in the order of
    ``model.named_modules()``. The totals count every parameter once; frozen ones
    (``requires_grad=False``) are the non-trainable parameters. Buffers such as BatchNorm's
    running statistics are state, not parameters (as in PyTorch), and are counted apart.
    Sizes are in MB of 2**20 bytes, with the parameters' own dtype (4 bytes for float32).

    Returns a ``ModelSummary``, whose ``str`` and ``repr`` are the table: a notebook cell
    ending in ``minicnn.summary(...)`` shows it; in a script, ``print`` it. The model is left
    unchanged (see the module docstring). A forward pass that fails on this input shape raises
    its error again, naming the layer and the shape.
    """
    if not callable(getattr(model, "named_modules", None)):
        raise TypeError(f"summary: expected a minicnn Module, got {type(model).__name__}")
    shape = _batch_shape(input_shape, batch_size)
    named = _unique_named_modules(model)
    modules_by_name = dict(named)
    outputs = {name: [] for name, _ in named}
    inputs = {name: [] for name, _ in named}
    nbytes = {name: 0 for name, _ in named}

    def record(name, module, output):
        outputs[name].append(_shape_of(output))
        nbytes[name] += _nbytes(output)

    def record_input(name, module, args):
        inputs[name].append(args[0].shape if args and isinstance(args[0], np.ndarray) else None)

    x = np.zeros(shape, dtype=dtype)
    with preserved_state(model), no_grad(), \
            forward_hooks(named, record, record_input if flops else None) as failed_in:
        model.train(bool(training))
        try:
            model(x)
        except Exception as error:
            raise _forward_error(error, failed_in, modules_by_name, shape, dtype) from error

    rows, activation_bytes = [], 0
    for name, module in named:
        is_leaf = not module._modules
        if is_leaf or module._parameters:
            num_params = sum(p.size for p in module._parameters.values())
            row = LayerRow(name, type(module).__name__, outputs[name], num_params)
            if flops:
                row.mult_adds = _mult_adds(module, inputs[name], outputs[name])
            if receptive_field:
                row.receptive_field = _receptive_field(model, name)
            rows.append(row)
        elif blocks and name:
            num_params = sum(p.size for p in module.parameters())
            rows.append(LayerRow(name, type(module).__name__, outputs[name], num_params,
                                 is_block=True))
        if is_leaf:
            activation_bytes += nbytes[name]
    parameters = list(model.parameters())
    return ModelSummary(
        model_name=str(getattr(model, "arch", None) or type(model).__name__),
        input_shape=shape, dtype=np.dtype(dtype), rows=rows,
        total_params=sum(p.size for p in parameters),
        trainable_params=sum(p.size for p in parameters if p.requires_grad),
        buffer_values=sum(buffer.size for _, module in named
                          for buffer in module._buffers.values()),
        param_bytes=sum(p.data.nbytes for p in parameters),
        activation_bytes=activation_bytes, input_bytes=x.nbytes,
        show_receptive_field=receptive_field, show_mult_adds=flops)


def _size(shape) -> int:
    return int(np.prod(shape)) if isinstance(shape, tuple) else 0


def _mult_adds(module, input_shapes, output_shapes) -> int:
    """Multiply-adds of every call of ``module`` in the pass (0 for the pointwise layers)."""
    kind = type(module).__name__
    weight = getattr(module, "weight", None)
    if kind == "Conv2d":  # weight (O, C/groups, kh, kw): one dot product per output value
        return sum(_size(out) for out in output_shapes) * int(np.prod(weight.shape[1:]))
    if kind == "ConvTranspose2d":  # weight (C, O/groups, kh, kw): scattered per input value
        return sum(_size(inp) for inp in input_shapes) * int(np.prod(weight.shape[1:]))
    if kind == "Linear":
        return sum(_size(out) for out in output_shapes) * int(weight.shape[1])
    return 0


def _receptive_field(model, name):
    """(rows, columns) of input one output pixel of layer ``name`` sees, or None."""
    from .explain import receptive_field  # imported here: explain imports this module

    try:
        return tuple(receptive_field(model, name).size)
    except (ValueError, TypeError, KeyError):
        return None
