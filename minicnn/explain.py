"""Explaining a trained net: saliency maps, activation maximisation, occlusion, top patches.

Every method here is a forward pass and, where a gradient is needed, the layers' own
``backward`` to the input: there is no autograd. Each function runs the model in eval mode
(dropout off, BatchNorm on its running statistics) and leaves it exactly as it was: training
flags, buffers, a training forward's pending cache, the default random generator and every
parameter's ``grad`` (the backward passes here add into them; the values are put back).

    grad = explain.input_gradient(model, x, target)      # d logit_target / d x, (N, C, H, W)
    smap = explain.saliency(model, x, target)            # |grad| max over channels, (N, H, W)
    result = explain.activation_maximization(model, "features.3", unit=5, input_shape=(1, 28, 28))
    drop = explain.occlusion(model, x[0], target=7, patch=6, stride=2)
    best = explain.top_patches(model, x_test, "features.3", unit=5, k=16)

Layers are named as in ``model.named_modules()`` and the state dict (``"features.3"``). A unit
is a channel of a layer's output (its mean over the positions is the unit's activation), a
feature of a (N, F) output, or one neuron given as ``(channel, i, j)``.

How the gradient at an inner layer reaches the input (``unit_gradient``): the whole model runs
forward, the layer's output is recorded on the way, and backward starts from zeros at the
model's output; the layer's ``backward`` is wrapped to add d(activation)/d(layer output) to the
(zero) gradient arriving from above. In eval mode every backward is linear in its upstream
gradient, so what reaches the input is exactly d(activation)/dx, for any architecture (a layer
inside a residual block included).
"""

import contextlib
import math
import warnings
from collections import namedtuple

import numpy as np

from ._grad_mode import enable_grad, no_grad
from ._validation import as_pair
from .functional.pooling import pool_params
from .nn.conv import Conv2d
from .nn.module import Sequential
from .nn.pooling import LPPool2d, _WindowPool2d
from .summary import forward_hooks, preserved_state

__all__ = ["ActivationMaximization", "ReceptiveField", "TopPatches", "activation_maximization",
           "input_gradient", "layer_output", "occlusion", "receptive_field", "saliency",
           "top_patches", "unit_activation", "unit_gradient"]


# -- the model as it was -------------------------------------------------------------------------
@contextlib.contextmanager
def _explaining(model, gradients: bool):
    """Eval mode inside; afterwards the model as it was (``preserved_state``) and, if the block
    runs backward passes (``gradients``), every parameter's ``grad`` with its old values."""
    saved_grads = [(p, p.grad, p.grad.copy()) for p in model.parameters()] if gradients else []
    mode = enable_grad() if gradients else no_grad()
    try:
        with preserved_state(model), mode:
            model.eval()
            yield
    finally:
        for param, grad, values in saved_grads:
            param.grad = grad  # the same array object an optimiser may hold, with its old values
            np.copyto(grad, values)


def _find_layer(where: str, model, layer):
    """(dotted name, module) of ``layer``: a dotted name ('' is the model) or a module of it."""
    named = list(model.named_modules())
    for name, module in named:
        if (isinstance(layer, str) and name == layer) or module is layer:
            return name, module
    if isinstance(layer, str):
        names = [name for name, _ in named if name]
        raise ValueError(f"{where}: the model has no layer named {layer!r}; its layers are "
                         f"{names[:40]}")
    raise ValueError(f"{where}: {type(layer).__name__} is not a layer of this model")


def _check_images(where: str, x) -> np.ndarray:
    """A float batch (N, C, H, W); one image (C, H, W) becomes a batch of one."""
    if not isinstance(x, np.ndarray) or x.dtype not in (np.float32, np.float64):
        what = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"{where}: expected a float32 or float64 array, got {what}")
    if x.ndim not in (3, 4):
        raise ValueError(f"{where}: expected one image (C, H, W) or a batch (N, C, H, W), got "
                         f"shape {x.shape}")
    return x[None] if x.ndim == 3 else x


def _main_output(output):
    """The model's output, or the first of several (the main head of a multi-output model)."""
    return output[0] if isinstance(output, tuple) else output


def _zeros_like_output(output):
    if isinstance(output, tuple):
        return tuple(np.zeros_like(o) for o in output)
    return np.zeros_like(output)


class _StopForward(Exception):
    """Raised by the hook once the layer's output is recorded: the rest of the net is not run."""


def _layer_output(model, batch: np.ndarray, module):
    """The output of ``module`` when the model sees ``batch`` (no gradients, stops there)."""
    outputs = []

    def record(_, __, out):
        outputs.append(out)
        raise _StopForward

    with forward_hooks([("layer", module)], record), contextlib.suppress(_StopForward):
        model(batch)
    if not outputs:
        raise ValueError(f"{type(module).__name__}: the layer was not used by the model's "
                         f"forward pass")
    return outputs[0]


# -- units -----------------------------------------------------------------------------------------
def _unit_selector(where: str, name: str, activation: np.ndarray, unit):
    """(values (N,), d sum(values) / d activation) for ``unit`` of a layer's output."""
    if not isinstance(activation, np.ndarray) or activation.ndim < 2:
        shape = getattr(activation, "shape", type(activation).__name__)
        raise ValueError(f"{where}: layer {name!r} gives {shape}, not (N, C, ...) activations")
    spatial = activation.shape[2:]
    position = tuple(unit) if isinstance(unit, (tuple, list)) else (unit,)
    if len(position) not in (1, 1 + len(spatial)) or not all(
            isinstance(i, (int, np.integer)) for i in position):
        raise ValueError(f"{where}: expected unit to be a channel index or (channel, "
                         f"{', '.join('ijk'[:len(spatial)])}) for layer {name!r} with output "
                         f"{activation.shape}, got {unit!r}")
    bounds = activation.shape[1:1 + len(position)]
    if not all(0 <= i < n for i, n in zip(position, bounds, strict=True)):
        raise ValueError(f"{where}: unit {unit!r} is outside layer {name!r}'s output "
                         f"{activation.shape} (channels, positions: {bounds})")
    grad = np.zeros_like(activation)
    if len(position) == 1 and spatial:  # a channel: the mean over its positions
        values = activation[:, position[0]].reshape(len(activation), -1).mean(axis=1)
        grad[:, position[0]] = 1.0 / math.prod(spatial)
    else:
        index = (slice(None), *position)
        values = activation[index]
        grad[index] = 1.0
    return values, grad


def layer_output(model, x: np.ndarray, layer):
    """What ``layer`` gives when the model sees ``x`` (one image or a batch): its feature maps.

    The forward pass stops at the layer, in eval mode, under ``no_grad``; the model is left as
    it was.
    """
    batch = _check_images("layer_output", x)
    _, module = _find_layer("layer_output", model, layer)
    with _explaining(model, gradients=False):
        return _layer_output(model, batch, module)


def unit_activation(model, x: np.ndarray, layer, unit) -> np.ndarray:
    """The activation of ``unit`` of ``layer`` for each image of ``x``, shape (N,).

    A channel's activation is its mean over the positions; ``(c, i, j)`` is one neuron. The
    forward pass stops at the layer, in eval mode, under ``no_grad``.
    """
    where = "unit_activation"
    batch = _check_images(where, x)
    name, module = _find_layer(where, model, layer)
    with _explaining(model, gradients=False):
        activation = _layer_output(model, batch, module)
    return _unit_selector(where, name, activation, unit)[0]


def _backward_to_input(model, batch: np.ndarray, module, objective):
    """(objective values, d objective / d batch): see the module docstring.

    ``objective(output of module) -> (values (N,), d values.sum() / d output)``. To be called
    inside ``_explaining(model, gradients=True)``.
    """
    outputs = []
    with forward_hooks([("layer", module)], lambda _, __, out: outputs.append(out)):
        output = model(batch)
    if len(outputs) != 1:
        raise ValueError(f"{type(module).__name__}: the layer ran {len(outputs)} times in one "
                         f"forward pass; expected once")
    values, injected = objective(outputs[0])
    original = module.__dict__.get("backward")
    layer_backward = module.backward

    def backward_with_injection(dout):
        if isinstance(dout, tuple):  # a multi-output model: the objective is of the main one
            return layer_backward((dout[0] + injected, *dout[1:]))
        return layer_backward(dout + injected)

    object.__setattr__(module, "backward", backward_with_injection)
    try:
        dx = model.backward(_zeros_like_output(output))
    finally:
        if original is None:
            object.__delattr__(module, "backward")
        else:
            object.__setattr__(module, "backward", original)
    return values, dx


def unit_gradient(model, x: np.ndarray, layer, unit):
    """(activation (N,), d activation / d x (N, C, H, W)) of ``unit`` of ``layer``.

    By the layers' backward passes (see the module docstring), in eval mode; the model, its
    parameters' gradients included, is left as it was.
    """
    where = "unit_gradient"
    batch = _check_images(where, x)
    name, module = _find_layer(where, model, layer)
    with _explaining(model, gradients=True):
        values, dx = _backward_to_input(
            model, batch, module, lambda out: _unit_selector(where, name, out, unit))
    return values, dx.reshape(x.shape)


# -- saliency (Simonyan, Vedaldi & Zisserman 2014) -----------------------------------------------
def _targets(where: str, target, scores: np.ndarray) -> np.ndarray:
    """One class index per sample: ``target`` (an int or N ints), or the predicted class."""
    if not isinstance(scores, np.ndarray) or scores.ndim != 2:
        shape = getattr(scores, "shape", type(scores).__name__)
        raise ValueError(f"{where}: expected the model to give class scores (N, K), got {shape}")
    n, k = scores.shape
    if target is None:
        return scores.argmax(axis=1)
    target = np.broadcast_to(np.asarray(target), (n,)) if np.ndim(target) == 0 else \
        np.asarray(target)
    if target.shape != (n,) or not np.issubdtype(target.dtype, np.integer):
        raise ValueError(f"{where}: expected target to be a class index or {n} class indices, "
                         f"got {target!r}")
    if target.min() < 0 or target.max() >= k:
        raise ValueError(f"{where}: expected target classes in [0, {k}), got {target.tolist()}")
    return target


def input_gradient(model, x: np.ndarray, target=None) -> np.ndarray:
    """The gradient of the class score (the logit, before any softmax) w.r.t. the image.

    ``x``: one image (C, H, W) or a batch (N, C, H, W); ``target``: a class index, one per
    image, or None for the predicted class. Returns an array of ``x``'s shape:
    ``d logits[n, target[n]] / d x[n]``. Eval mode; the model is left as it was.
    """
    where = "input_gradient"
    batch = _check_images(where, x)
    chosen = {}

    def class_score(logits):
        logits = _main_output(logits)
        chosen["target"] = _targets(where, target, logits)
        rows = np.arange(len(logits))
        grad = np.zeros_like(logits)
        grad[rows, chosen["target"]] = 1.0
        return logits[rows, chosen["target"]], grad

    with _explaining(model, gradients=True):
        _, dx = _backward_to_input(model, batch, model, class_score)
    return dx.reshape(x.shape)


def saliency(model, x: np.ndarray, target=None) -> np.ndarray:
    """The saliency map of Simonyan et al. (2014): ``max over channels |d score / d x|``.

    Which pixels would change the class score most if they changed a little. ``x``: one image
    (C, H, W) → a map (H, W), or a batch (N, C, H, W) → (N, H, W); ``target`` as for
    ``input_gradient`` (None: the predicted class). Eval mode; the model is left as it was.
    """
    return np.abs(input_gradient(model, x, target)).max(axis=-3)


# -- activation maximisation (Erhan et al. 2009; Simonyan et al. 2014; Yosinski et al. 2015) ------
ActivationMaximization = namedtuple("ActivationMaximization", ["image", "activations"])
ActivationMaximization.__doc__ = """``image`` (C, H, W): the input found; ``activations``
(steps + 1,): the unit's activation at each step's (jittered) input, then at ``image``."""


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter  # here: scipy is needed only by this function

    return gaussian_filter(image, sigma=(0, 0, sigma, sigma), mode="nearest").astype(image.dtype)


def activation_maximization(model, layer, unit, input_shape, steps: int = 200, lr: float = 0.1,
                            jitter: int = 1, blur_every: int = 4, blur_sigma: float = 0.5,
                            l2: float = 1e-2, seed: int = 0, x0=None,
                            dtype=None) -> ActivationMaximization:
    """The input that excites ``unit`` of ``layer`` most, by gradient ascent on the image.

    From noise N(0, 0.1²) (or ``x0``), each step: shift the image by a random offset of up to
    ``jitter`` pixels (``np.roll``); compute ``g = ∇a`` there, a the unit's activation, by the
    layers' backward passes; move ``x ← x + lr · g / rms(g)`` (a normalised step, so that
    ``lr`` is in units of the image's values whatever the scale of the activation) and shift
    back; then decay ``x ← (1 − l2) · x`` (the L2 regulariser of Yosinski et al.: small
    images); every ``blur_every`` steps smooth the image with a Gaussian of ``blur_sigma``
    pixels (0 turns any of them off). The regularisers keep out the high-frequency patterns
    that excite a unit without looking like anything (Yosinski et al. 2015, "Understanding
    neural networks through deep visualization"). ``input_shape``: (C, H, W), of ``dtype``
    (default: the parameters'); ``seed`` seeds the start and the jitter, so a run is
    reproducible. Eval mode; the model is left as it was.
    """
    where = "activation_maximization"
    name, module = _find_layer(where, model, layer)
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"{where}: expected steps >= 0, got {steps!r}")
    for what, value in (("lr", lr), ("jitter", jitter), ("blur_every", blur_every),
                        ("blur_sigma", blur_sigma), ("l2", l2)):
        if not value >= 0:
            raise ValueError(f"{where}: expected {what} >= 0, got {value!r}")
    rng = np.random.default_rng(seed)
    if dtype is None:
        dtype = next((p.dtype for p in model.parameters()), np.float32)
    if x0 is None:
        if len(tuple(input_shape)) != 3:
            raise ValueError(f"{where}: expected input_shape (C, H, W), got {input_shape!r}")
        x = (0.1 * rng.standard_normal((1, *input_shape))).astype(dtype)
    else:
        x = _check_images(where, np.array(x0, copy=True))[:1].copy()

    def objective(out):
        return _unit_selector(where, name, out, unit)

    activations = []
    with _explaining(model, gradients=True):
        for step in range(steps):
            shift = tuple(rng.integers(-jitter, jitter + 1, size=2)) if jitter else (0, 0)
            shifted = np.roll(x, shift, axis=(2, 3))
            values, grad = _backward_to_input(model, shifted, module, objective)
            activations.append(float(values[0]))
            rms = float(np.sqrt(np.mean(grad.astype(np.float64) ** 2)))
            if rms == 0 and step == 0:
                warnings.warn(f"{where}: the gradient of unit {unit!r} of {name!r} is zero at "
                              f"the start image (the unit, or the ReLUs before it, are inactive "
                              f"there), so the image does not move; pass another x0 or seed",
                              stacklevel=2)
            if rms > 0:
                shifted = shifted + (lr / rms) * grad
            x = np.roll(shifted, (-shift[0], -shift[1]), axis=(2, 3)) * (1 - l2)
            if blur_every and blur_sigma and (step + 1) % blur_every == 0:
                x = _blur(x, blur_sigma)
        activations.append(float(_unit_selector(where, name, _layer_output(model, x, module),
                                                unit)[0][0]))
    return ActivationMaximization(x[0], np.array(activations))


# -- occlusion (Zeiler & Fergus 2014) ------------------------------------------------------------
def _pair(where: str, what: str, value) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in pair):
        raise ValueError(f"{where}: expected {what} to be a positive int or a pair of them, "
                         f"got {value!r}")
    return int(pair[0]), int(pair[1])


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def occlusion(model, x: np.ndarray, target=None, patch=8, stride=4, fill=0.0,
              batch_size: int = 64) -> np.ndarray:
    """How much the probability of the class drops when a square of the image is hidden.

    ``drop[n, a, b] = p(target | x[n]) − p(target | x[n] with the patch at (a·sh, b·sw) set to
    fill)``, the probability by a softmax of the model's scores; the patch is ``patch`` pixels
    (int or (ph, pw)) moved by ``stride``, over every position where it lies inside the image:
    ``(H − ph) // sh + 1`` rows of positions (likewise columns). ``fill``: a number, or
    ``"mean"`` for each image's channel means (Zeiler & Fergus's grey square). Large values
    mark the regions the decision rests on. ``x``: (C, H, W) → (Ha, Wb), or (N, C, H, W) →
    (N, Ha, Wb); ``target`` as for ``input_gradient`` (None: the predicted class). Eval mode,
    ``no_grad``; the model is left as it was.
    """
    where = "occlusion"
    batch = _check_images(where, x)
    (ph, pw), (sh, sw) = _pair(where, "patch", patch), _pair(where, "stride", stride)
    height, width = batch.shape[2:]
    if ph > height or pw > width:
        raise ValueError(f"{where}: patch {(ph, pw)} is larger than the image {(height, width)}")
    if not (fill == "mean" or isinstance(fill, (int, float, np.number))):
        raise ValueError(f"{where}: expected fill to be a number or 'mean', got {fill!r}")
    if batch_size < 1:
        raise ValueError(f"{where}: expected batch_size >= 1, got {batch_size}")
    rows, cols = range(0, height - ph + 1, sh), range(0, width - pw + 1, sw)
    drops = np.zeros((len(batch), len(rows), len(cols)))
    with _explaining(model, gradients=False):
        probabilities = _softmax(_main_output(model(batch)).astype(np.float64))
        targets = _targets(where, target, probabilities)
        for n, image in enumerate(batch):
            value = image.mean(axis=(1, 2), keepdims=True) if fill == "mean" else fill
            occluded = []
            for top in rows:
                for left in cols:
                    hidden = image.copy()
                    hidden[:, top:top + ph, left:left + pw] = value
                    occluded.append(hidden)
            occluded = np.stack(occluded)
            p = np.concatenate([
                _softmax(_main_output(model(occluded[i:i + batch_size])).astype(np.float64))
                for i in range(0, len(occluded), batch_size)])[:, targets[n]]
            drops[n] = (probabilities[n, targets[n]] - p).reshape(len(rows), len(cols))
    return drops[0] if x.ndim == 3 else drops


# -- receptive fields and the top patches ("best neurons", Girshick et al. 2014) -----------------
class ReceptiveField(namedtuple("ReceptiveField", ["size", "jump", "start"])):
    """Which input pixels a position of a layer's output sees, per axis (rows, columns).

    Output position ``i`` sees input rows ``start[0] + i·jump[0]`` up to (not including)
    ``… + size[0]``; ``start`` is negative where the window reaches into the padding. With
    ``k`` the (dilated) kernel, ``s`` the stride and ``p`` the padding before, each layer
    updates ``start += −p·jump``, ``size += (k − 1)·jump``, ``jump *= s``.
    """

    def box(self, i: int, j: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right), bottom and right excluded, of output position (i, j)."""
        top, left = self.start[0] + i * self.jump[0], self.start[1] + j * self.jump[1]
        return top, left, top + self.size[0], left + self.size[1]


# Layers that act on each position separately (or across channels only): the field stays.
_POINTWISE = {"ReLU", "LeakyReLU", "PReLU", "Tanh", "Sigmoid", "ELU", "GELU", "SiLU", "ReLU6",
              "Hardtanh", "Softplus", "BatchNorm2d", "Dropout", "Dropout2d", "Identity",
              "LocalResponseNorm"}


def _window(module):
    """(kernel, stride, padding before) per axis of a windowed layer, or None if pointwise."""
    if isinstance(module, Conv2d):
        kernel = tuple(d * (k - 1) + 1 for d, k in zip(module.dilation, module.kernel_size,
                                                        strict=True))
        return kernel, module.stride, (module._pads[0][0], module._pads[1][0])
    if isinstance(module, _WindowPool2d):  # max, average, min, median pooling
        kernel, stride, padding = module._pairs
        dilation = as_pair("receptive_field", "dilation", getattr(module, "dilation", 1))
        kernel = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel, strict=True))
        return kernel, stride, padding
    if isinstance(module, LPPool2d):  # no padding
        kernel, stride, _ = pool_params("LPPool2d", module.kernel_size, module.stride, 0)
        return kernel, stride, (0, 0)
    if type(module).__name__ in _POINTWISE:
        return None
    raise ValueError(f"receptive_field: cannot follow the receptive field through "
                     f"{type(module).__name__}; known are Conv2d, the window poolings (max, "
                     f"average, min, median, LP) and "
                     f"pointwise layers ({', '.join(sorted(_POINTWISE))}), inside Sequential")


def _leaves(module):
    if isinstance(module, Sequential):
        for child in module.children():
            yield from _leaves(child)
    else:
        yield module


def _layers_up_to(model, name: str) -> list:
    """The layers the input passes through up to and including ``name``, along Sequentials."""
    chain, container, path = [], model, []
    for part in name.split(".") if name else []:
        if not isinstance(container, Sequential):
            raise ValueError(f"receptive_field: {'.'.join(path) or 'the model'} is a "
                             f"{type(container).__name__}; the field is followed through "
                             f"Sequential containers only")
        children = list(container.named_children())
        index = [child for child, _ in children].index(part)
        chain += [module for _, module in children[:index]]
        container = children[index][1]
        path.append(part)
    return [leaf for module in [*chain, container] for leaf in _leaves(module)]


def receptive_field(model, layer) -> ReceptiveField:
    """The receptive field of ``layer``'s output positions, from the kernels, strides and
    paddings of the layers before it (``model`` and the containers on the way: Sequential)."""
    name, _ = _find_layer("receptive_field", model, layer)
    size, jump, start = [1, 1], [1, 1], [0, 0]
    for module in _layers_up_to(model, name):
        window = _window(module)
        if window is None:
            continue
        for axis, (kernel, stride, pad) in enumerate(zip(*window, strict=True)):
            start[axis] -= pad * jump[axis]
            size[axis] += (kernel - 1) * jump[axis]
            jump[axis] *= stride
    return ReceptiveField(tuple(size), tuple(jump), tuple(start))


TopPatches = namedtuple("TopPatches", ["patches", "values", "index", "position", "boxes"])
TopPatches.__doc__ = """The k strongest activations of a unit and the input patches they see.

``patches`` (k, C, size_h, size_w): the receptive field cut from each image, zeros where it
reaches past the border (as the zero padding); ``values`` (k,): the activations, largest
first; ``index`` (k,): the image's index in the data; ``position`` (k, 2): (i, j) in the
layer's output; ``boxes`` (k, 4): (top, left, bottom, right) in the image, bottom and right
excluded, not clipped to the image."""


def _batches(where: str, data, batch_size: int):
    """The images of an array (N, C, H, W), or of a loader yielding (x, y) or x."""
    if isinstance(data, np.ndarray):
        for i in range(0, len(data), batch_size):
            yield data[i:i + batch_size]
        return
    for item in data:
        yield item[0] if isinstance(item, (tuple, list)) else item


def _cut(image: np.ndarray, box) -> np.ndarray:
    """The box of ``image`` (C, H, W), zeros outside the image."""
    top, left, bottom, right = box
    patch = np.zeros((image.shape[0], bottom - top, right - left), dtype=image.dtype)
    t, b = max(top, 0), min(bottom, image.shape[1])
    lft, r = max(left, 0), min(right, image.shape[2])
    if t < b and lft < r:
        patch[:, t - top:b - top, lft - left:r - left] = image[:, t:b, lft:r]
    return patch


def top_patches(model, data, layer, unit: int, k: int = 9, batch_size: int = 256) -> TopPatches:
    """The ``k`` input patches that excite channel ``unit`` of ``layer`` most.

    Every position of the channel over every image of ``data`` (an array (N, C, H, W) or a
    loader) is ranked by its activation (ties: the earlier image, then row, then column);
    each of the ``k`` best comes with its receptive field (``receptive_field``) cut from its
    image: the "best neuron" pictures of Girshick et al. (2014). Eval mode, ``no_grad``, the
    forward pass stopping at the layer; the model is left as it was.
    """
    where = "top_patches"
    name, module = _find_layer(where, model, layer)
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{where}: expected k >= 1, got {k!r}")
    field = receptive_field(model, name)
    values, index, position, patches = np.empty(0), [], [], []
    seen = 0
    with _explaining(model, gradients=False):
        for batch in _batches(where, data, batch_size):
            batch = _check_images(where, np.asarray(batch))
            maps = _layer_output(model, batch, module)
            if not isinstance(maps, np.ndarray) or maps.ndim != 4:
                raise ValueError(f"{where}: layer {name!r} gives "
                                 f"{getattr(maps, 'shape', type(maps).__name__)}, not feature "
                                 f"maps (N, C, H, W)")
            if not 0 <= unit < maps.shape[1]:
                raise ValueError(f"{where}: unit {unit} is outside layer {name!r}'s "
                                 f"{maps.shape[1]} channels")
            channel = maps[:, unit].astype(np.float64)
            best = np.argsort(-channel.ravel(), kind="stable")[:k]  # this batch's best k
            n, i, j = np.unravel_index(best, channel.shape)
            values = np.concatenate([values, channel.ravel()[best]])
            index += (n + seen).tolist()
            position += list(zip(i.tolist(), j.tolist(), strict=True))
            patches += [_cut(batch[a], field.box(b, c)) for a, b, c in zip(n, i, j, strict=True)]
            keep = np.argsort(-values, kind="stable")[:k]  # earlier candidates first on ties
            values = values[keep]
            index, position = [index[a] for a in keep], [position[a] for a in keep]
            patches = [patches[a] for a in keep]
            seen += len(batch)
    if len(values) < k:
        raise ValueError(f"{where}: asked for k={k} patches, but the data has only "
                         f"{len(values)} positions")
    boxes = np.array([field.box(i, j) for i, j in position])
    return TopPatches(np.stack(patches), values, np.array(index), np.array(position), boxes)
