"""Plots: training curves, confusion matrices, first-layer filters, feature maps, image grids.

Every function builds a new matplotlib figure and returns it, never calls ``plt.show()`` and
closes nothing: in a script, ``fig.savefig("curves.png")`` or ``plt.show()``; in a notebook the
figure appears once below the cell, whether the call is the cell's last line, is assigned
(``fig = ...``) or ends with ``;`` — as a pyplot figure does. matplotlib is imported inside the
functions, so ``import minicnn.viz`` stays fast; without a display matplotlib draws into memory
by itself (its Agg backend), so there is nothing to select.

    fig = viz.plot_history(history)                      # loss and accuracy per epoch
    fig = viz.plot_confusion_matrix(cm, class_names, normalize=True)
    fig = viz.show_filters(model)                        # the first conv layer's kernels
    fig = viz.show_feature_maps(model, x_test[0], "features.3")
    fig = viz.show_images(x[:32], labels=y[:32], predictions=y_pred[:32], class_names=names)
    fig = viz.misclassified(x_test, y_test, y_pred, class_names=names)
    fig = viz.plot_saliency(x[0], explain.saliency(model, x[0]))      # minicnn.explain's maps
    fig = viz.plot_occlusion(x[0], explain.occlusion(model, x[0], patch=6, stride=2), 6, 2)
    fig = viz.plot_activation_maximization(explain.activation_maximization(...))
    fig = viz.show_patches(explain.top_patches(model, x_test, "features.3", unit=5))
    fig = viz.plot_gradient_flow(history)               # fit(..., record_gradient_flow=True)
"""

import math
from collections.abc import Mapping

import numpy as np

from ._grad_mode import no_grad
from .summary import forward_hooks, preserved_state

__all__ = ["misclassified", "plot_activation_maximization", "plot_confusion_matrix",
           "plot_gradient_flow", "plot_history", "plot_occlusion", "plot_saliency",
           "show_feature_maps", "show_filters", "show_images", "show_patches",
           "show_visited_locations"]

HISTORY_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")
BATCH_KEYS = ("batch_epoch", "batch_loss", "batch_acc")
FEW_EPOCHS = 3  # below this many epochs, plot_history draws the training curves per batch
# Keras's names for the same series, so that a Keras history dict plots as well.
_ALIASES = {"loss": "train_loss", "acc": "train_acc", "accuracy": "train_acc",
            "val_accuracy": "val_acc", "learning_rate": "lr"}


def _pyplot():
    import matplotlib.pyplot as plt  # here, not at module level: see the module docstring

    return plt


_FIGURE_CLASS = None


def _figure_class():
    """A matplotlib Figure that a notebook shows once (made on first use: lazy matplotlib).

    In Jupyter's inline backend every open pyplot figure is drawn when the cell ends, and a
    Figure that is also the cell's value is drawn once more by IPython. IPython prefers an
    object's ``_ipython_display_`` to its formatters, and the inline backend draws through
    ``display`` too: here it draws the figure and closes it in pyplot, so that whichever comes
    first draws it and the other finds nothing left to draw.
    """
    global _FIGURE_CLASS
    if _FIGURE_CLASS is None:
        import io

        from matplotlib.figure import Figure

        class VizFigure(Figure):
            def _ipython_display_(self):
                from IPython.display import display

                buffer = io.BytesIO()
                self.savefig(buffer, format="png", bbox_inches="tight")
                display({"image/png": buffer.getvalue()}, raw=True)
                plt = _pyplot()
                if "inline" in plt.get_backend():  # drawn for good: not again at the cell's end
                    plt.close(self)

        _FIGURE_CLASS = VizFigure
    return _FIGURE_CLASS


def _figure(**kwargs):
    """``plt.figure(...)``, of the class that shows once in a notebook."""
    return _pyplot().figure(FigureClass=_figure_class(), **kwargs)


def _subplots(*args, **kwargs):
    """``plt.subplots(...)``, of the class that shows once in a notebook."""
    return _pyplot().subplots(*args, FigureClass=_figure_class(), **kwargs)


def _grid(n: int, ncols: int, tile: float = 1.4, title: str | None = None):
    """A figure with ``n`` axes in rows of ``ncols``, frames off; returns (figure, axes)."""
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    figure = _figure(figsize=(ncols * tile, nrows * tile + (0.4 if title else 0)),
                        layout="constrained")
    axes = [figure.add_subplot(nrows, ncols, i + 1) for i in range(n)]
    for ax in axes:
        ax.set_axis_off()
    if title:
        figure.suptitle(title)
    return figure, axes


# -- training curves -------------------------------------------------------------------------------
def _history_source(history) -> Mapping:
    """The dict of lists behind a History, a dict, a Keras History or a look-alike object."""
    if isinstance(history, Mapping):
        return history
    if callable(getattr(history, "to_dict", None)):
        return history.to_dict()
    if isinstance(getattr(history, "history", None), Mapping):
        return history.history
    return {key: getattr(history, key) for key in (*HISTORY_KEYS, "epoch", *BATCH_KEYS)
            if hasattr(history, key)}


def _batch_series(history):
    """(x, loss, accuracy) per batch, x in epochs (batch k of n in epoch e at e - 1 + k/n), or
    None when the history has no per-batch records (``History.batch_loss``)."""
    source = _history_source(history)
    if not all(source.get(key) for key in BATCH_KEYS):
        return None
    epochs = np.asarray(source["batch_epoch"], dtype=np.float64)
    loss = np.array([np.nan if v is None else v for v in source["batch_loss"]], dtype=np.float64)
    acc = np.array([np.nan if v is None else v for v in source["batch_acc"]], dtype=np.float64)
    if not len(epochs) == len(loss) == len(acc):
        raise ValueError(f"plot_history: batch_epoch, batch_loss and batch_acc differ in length "
                         f"({len(epochs)}, {len(loss)}, {len(acc)})")
    x = np.empty_like(epochs)
    for epoch in np.unique(epochs):
        where = np.flatnonzero(epochs == epoch)
        x[where] = epoch - 1 + np.arange(1, len(where) + 1) / len(where)
    return x, loss, acc


def _history_series(history) -> dict:
    """The per-epoch series of a History object or a dict of lists, as float arrays.

    Accepts ``minicnn.train.History`` (via ``to_dict``), a dict, a Keras ``History`` (its
    ``.history`` dict) or any object with attributes named like ``HISTORY_KEYS``. Missing
    values (None) become NaN; series that are empty or all NaN are left out.
    """
    series = {}
    for key, values in _history_source(history).items():
        key = _ALIASES.get(key, key)
        if key not in (*HISTORY_KEYS, "epoch") or values is None:
            continue
        array = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        if array.size and not np.isnan(array).all():
            series[key] = array
    return series


def plot_history(history):
    """Loss and accuracy per epoch, training and validation; learning rate when recorded.

    ``history``: a ``History`` from ``minicnn.fit`` or a dict of per-epoch lists with the keys
    'train_loss', 'train_acc', 'val_loss', 'val_acc', 'lr' (any may be missing). One panel
    for the losses, one for the accuracies (if any), one for the learning rate (if any, on a
    log scale when positive). A widening gap between the training and validation curves is
    overfitting. With fewer than ``FEW_EPOCHS`` (3) epochs and per-batch records
    ('batch_epoch', 'batch_loss', 'batch_acc', as ``History`` keeps them) the training curves
    are drawn per batch, so that one epoch is a curve rather than one dot; the x axis stays in
    epochs (batch k of n in epoch e at e - 1 + k/n). Returns the Figure.
    """
    series = _history_series(history)
    batches = _batch_series(history)
    epochs = series.get("epoch")
    n_epochs = len(epochs) if epochs is not None else max((len(v) for v in series.values()),
                                                         default=0)
    per_batch = batches is not None and n_epochs < FEW_EPOCHS
    if per_batch:
        x, loss, acc = batches
        series["train_loss"] = (x, loss)
        if not np.isnan(acc).all():
            series["train_acc"] = (x, acc)
    panels = [(title, [(label, series[key]) for label, key in lines if key in series])
              for title, lines in (
                  ("loss", (("train", "train_loss"), ("validation", "val_loss"))),
                  ("accuracy", (("train", "train_acc"), ("validation", "val_acc"))),
                  ("learning rate", (("lr", "lr"),)))]
    panels = [(title, lines) for title, lines in panels if lines]
    if not panels:
        raise ValueError(f"plot_history: found none of the series {list(HISTORY_KEYS[:5])} "
                         f"in the history")
    figure = _figure(figsize=(4.5 * len(panels), 3.5), layout="constrained")
    for i, (title, lines) in enumerate(panels):
        ax = figure.add_subplot(1, len(panels), i + 1)
        for label, values in lines:
            if isinstance(values, tuple):  # per batch: a line, no markers
                ax.plot(*values, linewidth=1, label=f"{label} (per batch)")
                continue
            x = epochs
            if x is None or len(x) != len(values):
                x = np.arange(1, len(values) + 1)
            ax.plot(x, values, marker="o" if len(values) <= 30 else None, markersize=3,
                    label=label)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if title == "learning rate":
            if all((values > 0).all() for _, values in lines):
                ax.set_yscale("log")
        else:
            ax.legend()
    return figure


# -- confusion matrix ------------------------------------------------------------------------------
def plot_confusion_matrix(cm, class_names=None, normalize=False, cmap: str = "Blues",
                          annotate: bool | None = None):
    """The confusion matrix as a heat map: rows true classes, columns predicted classes.

    ``normalize``: False (counts), True or "true" (each row divided by its sum, so the diagonal
    is each class's recall), "pred" (columns: the diagonal is the precision) or "all".
    ``annotate``: write the value in each cell; by default only up to 20 classes, where the
    numbers stay legible. Returns the Figure (two axes: the matrix and its colour bar).
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.dtype.kind not in "biuf":
        raise ValueError(f"plot_confusion_matrix: expected a square numeric matrix, got shape "
                         f"{cm.shape} and dtype {cm.dtype}")
    k = cm.shape[0]
    names = [str(i) for i in range(k)] if class_names is None else [str(n) for n in class_names]
    if len(names) != k:
        raise ValueError(f"plot_confusion_matrix: {len(names)} class names for a {k}×{k} matrix")
    values = _normalized(cm, normalize)
    number_format = "d" if values.dtype.kind in "biu" else ".2f"

    size = max(4.0, 0.45 * k + 2)
    figure = _figure(figsize=(size + 1, size), layout="constrained")
    ax = figure.add_subplot()
    image = ax.imshow(values, cmap=cmap, vmin=0, interpolation="nearest")
    figure.colorbar(image, ax=ax)
    rotate = max(map(len, names)) > 2  # long names would overlap under the columns
    ax.set_xticks(range(k), names, rotation=45 if rotate else 0, ha="right" if rotate else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    ax.set_title("confusion matrix" + (" (normalised)" if normalize else ""))
    if annotate or (annotate is None and k <= 20):
        threshold = values.max() / 2  # dark cells get white text
        for i in range(k):
            for j in range(k):
                ax.text(j, i, format(values[i, j], number_format), ha="center", va="center",
                        fontsize=8, color="white" if values[i, j] > threshold else "black")
    return figure


def _normalized(cm: np.ndarray, normalize) -> np.ndarray:
    if normalize in (False, None):
        return cm
    axis = {True: 1, "true": 1, "pred": 0, "all": None}.get(normalize, "bad")
    if axis == "bad":
        raise ValueError(f"plot_confusion_matrix: normalize must be False, True, 'true', 'pred' "
                         f"or 'all', got {normalize!r}")
    total = cm.sum(axis=axis, keepdims=axis is not None).astype(np.float64)
    return np.divide(cm, total, out=np.zeros(cm.shape), where=total != 0)


# -- filters and feature maps ----------------------------------------------------------------------
def _first_conv_weight(model_or_weight):
    """(name, weight array (out, in, kH, kW)) of a weight, a Parameter or a model's first conv."""
    if isinstance(model_or_weight, np.ndarray):
        name, weight = "weight", model_or_weight
    elif isinstance(getattr(model_or_weight, "data", None), np.ndarray):  # a Parameter
        name, weight = "weight", model_or_weight.data
    elif callable(getattr(model_or_weight, "named_parameters", None)):
        found = [(n, p.data) for n, p in model_or_weight.named_parameters() if p.data.ndim == 4]
        if not found:
            raise ValueError(f"show_filters: {type(model_or_weight).__name__} has no 4-D "
                             f"(convolution) weight")
        name, weight = found[0]
    else:
        raise TypeError(f"show_filters: expected a model, a Parameter or an array, got "
                        f"{type(model_or_weight).__name__}")
    if weight.ndim != 4:
        raise ValueError(f"show_filters: expected a 4-D convolution weight (out_channels, "
                         f"in_channels, kH, kW), got shape {weight.shape}")
    return name, weight


def _min_max(array: np.ndarray) -> np.ndarray:
    """Scaled to [0, 1]; a constant array becomes mid-grey."""
    low, high = float(array.min()), float(array.max())
    if high == low:
        return np.full(array.shape, 0.5)
    return (array - low) / (high - low)


def show_filters(model_or_weight, ncols: int | None = None, max_filters: int | None = None):
    """The kernels of the first convolution layer as a grid of images, as in AlexNet's Figure 3.

    ``model_or_weight``: a model (its first 4-D weight is used), a Parameter or an array of shape
    (out_channels, in_channels, kH, kW). Each filter is min-max scaled to [0, 1] on its own, so
    the pictures show the pattern each filter looks for, not the relative magnitudes.

    With 3 input channels each filter is one RGB image (``ncols`` default 8). Otherwise each
    channel of each filter is a grey image, one row per filter and one column per input channel
    (one input channel: rows of ``ncols``, default 8). Returns the Figure.
    """
    name, weight = _first_conv_weight(model_or_weight)
    weight = weight[:max_filters] if max_filters else weight
    out_channels, in_channels = weight.shape[:2]
    filters = [_min_max(f.astype(np.float64)) for f in weight]  # each (in, kH, kW)
    title = f"{name}: {out_channels} filters of shape {weight.shape[1:]}"
    if in_channels == 3:
        tiles = [f.transpose(1, 2, 0) for f in filters]  # (kH, kW, RGB)
        ncols = ncols or 8
    else:
        tiles = [channel for f in filters for channel in f]
        ncols = ncols or (in_channels if in_channels > 1 else 8)
    figure, axes = _grid(len(tiles), ncols, tile=0.9, title=title)
    for ax, tile in zip(axes, tiles, strict=True):
        ax.imshow(tile, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    return figure


def _find_layer(model, layer):
    """(dotted name, module) for a module of ``model`` or its dotted name."""
    named = list(model.named_modules())
    if isinstance(layer, str):
        for name, module in named:
            if name == layer:
                return name, module
        names = [name for name, _ in named if name]
        raise ValueError(f"show_feature_maps: the model has no layer named {layer!r}; its layers "
                         f"are {names[:40]}")
    for name, module in named:
        if module is layer:
            return name, module
    raise ValueError(f"show_feature_maps: {type(layer).__name__} is not a layer of this model")


def show_feature_maps(model, x, layer, ncols: int = 8, max_channels: int = 64,
                      cmap: str = "viridis"):
    """The output channels of ``layer`` when the model sees the image ``x``, as a grid.

    ``x``: one image (C, H, W), or a batch of one (1, C, H, W). ``layer``: a module of the model
    or its dotted name (``"features.3"``, see ``model.named_modules()``). The model runs in
    eval mode under ``no_grad``, with the layer's ``forward`` wrapped to keep its output (the
    technique of ``minicnn.summary``); the model is left exactly as it was. Each channel is
    shown on its own colour scale. Returns the Figure.
    """
    name, module = _find_layer(model, layer)
    x = np.asarray(x)
    batch = x[None] if x.ndim == 3 else x
    if batch.ndim != 4 or len(batch) != 1:
        raise ValueError(f"show_feature_maps: expected one image (C, H, W) or (1, C, H, W), "
                         f"got shape {x.shape}")
    outputs = []
    with preserved_state(model), no_grad(), \
            forward_hooks([(name, module)], lambda _, __, out: outputs.append(out)):
        model.eval()
        model(batch)
    if not outputs:
        raise ValueError(f"show_feature_maps: layer {name!r} was not used by the forward pass")
    maps = outputs[0]
    if not isinstance(maps, np.ndarray) or maps.ndim != 4:
        shape = getattr(maps, "shape", type(maps).__name__)
        raise ValueError(f"show_feature_maps: layer {name!r} ({type(module).__name__}) gives "
                         f"{shape}, not feature maps (1, C, H, W)")
    channels = maps[0, :max_channels]
    title = f"{name} ({type(module).__name__}): {maps.shape[1]} channels of {maps.shape[2:]}"
    figure, axes = _grid(len(channels), ncols, tile=1.2, title=title)
    for c, (ax, channel) in enumerate(zip(axes, channels, strict=True)):
        ax.imshow(channel, cmap=cmap, interpolation="nearest")
        ax.set_title(str(c), fontsize=7)
    return figure


# -- where a kernel goes ---------------------------------------------------------------------------
def show_visited_locations(input_size, kernel_size, stride=1, padding=0, dilation=1):
    """The positions a kernel visits on a (padded) input, one small panel per output pixel.

    ``input_size``, ``kernel_size``, ``stride``, ``padding``, ``dilation``: ints or (h, w)
    pairs, as ``Conv2d`` takes them. The input is drawn grey, its padding white with a dashed
    border; panel (i, j) shades the pixels that output (i, j) reads (the dilated kernel's
    taps), so the output-size formula can be counted off:
    ``out = floor((in + 2·padding − dilation·(kernel − 1) − 1) / stride) + 1``. Pixels of
    the input that no window reads (a stride that does not fit) are marked with a cross in the
    first panel. Returns the Figure.
    """
    def pair(value, name):
        value = (value, value) if np.ndim(value) == 0 else tuple(value)
        if len(value) != 2 or any(isinstance(v, bool) or int(v) != v for v in value):
            raise ValueError(f"show_visited_locations: expected {name} as an int or a pair of "
                             f"ints, got {value!r}")
        return int(value[0]), int(value[1])

    (h, w), (kh, kw) = pair(input_size, "input_size"), pair(kernel_size, "kernel_size")
    (sh, sw), (ph, pw) = pair(stride, "stride"), pair(padding, "padding")
    dh, dw = pair(dilation, "dilation")
    if min(h, w, kh, kw, sh, sw, dh, dw) < 1 or min(ph, pw) < 0:
        raise ValueError("show_visited_locations: expected sizes, strides and dilations >= 1 "
                         "and padding >= 0")
    out_h = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    out_w = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if out_h < 1 or out_w < 1:
        raise ValueError(f"show_visited_locations: the dilated kernel "
                         f"({dh * (kh - 1) + 1}×{dw * (kw - 1) + 1}) does not fit the padded "
                         f"input ({h + 2 * ph}×{w + 2 * pw})")
    ph_total, pw_total = h + 2 * ph, w + 2 * pw
    read = np.zeros((ph_total, pw_total), dtype=bool)
    plt = _pyplot()
    tile = 1.6 if max(ph_total, pw_total) <= 8 else 2.2
    figure, axes = _subplots(out_h, out_w, figsize=(out_w * tile, out_h * tile + 0.5),
                                squeeze=False, layout="constrained")
    for i in range(out_h):
        for j in range(out_w):
            image = np.where(_inside(ph_total, pw_total, ph, pw, h, w), 0.75, 1.0)
            rows = i * sh + dh * np.arange(kh)
            cols = j * sw + dw * np.arange(kw)
            image[np.ix_(rows, cols)] = 0.25
            read[np.ix_(rows, cols)] = True
            ax = axes[i, j]
            ax.imshow(image, cmap="gray", vmin=0, vmax=1)
            ax.add_patch(plt.Rectangle((pw - 0.5, ph - 0.5), w, h, fill=False, lw=1.2,
                                       linestyle="--" if ph or pw else "-"))
            ax.set_xticks(np.arange(-0.5, pw_total), minor=True)
            ax.set_yticks(np.arange(-0.5, ph_total), minor=True)
            ax.grid(which="minor", color="white", linewidth=0.6)
            ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
            ax.set_title(f"out[{i}, {j}]", fontsize=8)
    unread = _inside(ph_total, pw_total, ph, pw, h, w) & ~read
    ys, xs = np.nonzero(unread)
    axes[0, 0].plot(xs, ys, "rx", markersize=5)
    figure.suptitle(f"input {h}×{w}, kernel {kh}×{kw}, stride {(sh, sw)}, padding {(ph, pw)}"
                    f"{f', dilation {(dh, dw)}' if (dh, dw) != (1, 1) else ''} → output "
                    f"{out_h}×{out_w}", fontsize=9)
    figure.visited = read  # which pixels of the padded input some window reads
    return figure


def _inside(total_h, total_w, ph, pw, h, w) -> np.ndarray:
    """True on the pixels of the padded grid that belong to the input itself."""
    mask = np.zeros((total_h, total_w), dtype=bool)
    mask[ph:ph + h, pw:pw + w] = True
    return mask


# -- image grids -----------------------------------------------------------------------------------
def _images_hwc(images) -> np.ndarray:
    """A batch as (N, H, W) grey or (N, H, W, 3) RGB, from (N, H, W), NCHW or NHWC."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] in (1, 3):  # NCHW, the library's layout
        images = images.transpose(0, 2, 3, 1)
    if images.ndim == 4 and images.shape[-1] in (1, 3):
        return images[..., 0] if images.shape[-1] == 1 else images
    if images.ndim == 3:
        return images
    raise ValueError(f"show_images: expected images (N, C, H, W) with 1 or 3 channels, "
                     f"(N, H, W, C) or (N, H, W), got shape {images.shape}")


def _displayable(image: np.ndarray) -> np.ndarray:
    """Values in [0, 1]: 8-bit images divided by 255, floats in [0, 1] as they are, others
    (normalised with a mean and standard deviation) min-max scaled."""
    if image.dtype == np.uint8:
        return image / 255.0
    image = image.astype(np.float64)
    if image.min() >= 0 and image.max() <= 1:
        return image
    return _min_max(image)


def _name(label, class_names) -> str:
    return str(class_names[int(label)]) if class_names is not None else str(label)


def show_images(images, labels=None, predictions=None, class_names=None, ncols: int = 8,
                only_errors: bool = False, max_images: int = 64):
    """A grid of images, titled with their labels and predictions; wrong predictions in red.

    ``images``: (N, C, H, W) as the model sees them (1 or 3 channels), (N, H, W, C) or
    (N, H, W); uint8, floats in [0, 1], or normalised floats (min-max scaled per image for
    display). ``labels``/``predictions``: class indices, shown through ``class_names`` when
    given. ``only_errors=True`` keeps the misclassified images. At most ``max_images`` are
    shown. Returns the Figure (one axes per image shown).
    """
    images = _images_hwc(images)
    n = len(images)
    for what, values in (("labels", labels), ("predictions", predictions)):
        if values is not None and len(values) != n:
            raise ValueError(f"show_images: {n} images but {len(values)} {what}")
    index = np.arange(n)
    if only_errors:
        if labels is None or predictions is None:
            raise ValueError("show_images: only_errors=True needs labels and predictions")
        index = np.flatnonzero(np.asarray(labels) != np.asarray(predictions))
    index = index[:max_images]
    if len(index) == 0:
        figure = _figure(figsize=(4, 1))
        figure.text(0.5, 0.5, "no images to show", ha="center", va="center")
        return figure

    figure, axes = _grid(len(index), ncols, tile=1.4)
    for ax, i in zip(axes, index, strict=True):
        ax.imshow(_displayable(images[i]), cmap="gray", vmin=0, vmax=1)
        title, color = _caption(i, labels, predictions, class_names)
        if title:
            ax.set_title(title, fontsize=8, color=color)
    return figure


def _caption(i, labels, predictions, class_names):
    """(title, colour) of image i: its label, its prediction, or both (red when they differ)."""
    if predictions is None:
        return (None if labels is None else _name(labels[i], class_names)), "black"
    predicted = _name(predictions[i], class_names)
    if labels is None:
        return f"pred: {predicted}", "black"
    color = "red" if labels[i] != predictions[i] else "black"
    return f"true: {_name(labels[i], class_names)}\npred: {predicted}", color


def misclassified(images, y_true, y_pred, class_names=None, ncols: int = 8,
                  max_images: int = 32):
    """The images the model got wrong, titled with true and predicted class (in red).

    Short for ``show_images(images, y_true, y_pred, class_names, only_errors=True)``.
    """
    return show_images(images, labels=y_true, predictions=y_pred, class_names=class_names,
                       ncols=ncols, only_errors=True, max_images=max_images)


# -- explaining a net (minicnn.explain) ------------------------------------------------------------
def _grey_unless_rgb(images: np.ndarray, channel_axis: int) -> np.ndarray:
    """Channels other than 1 (grey) or 3 (RGB) shown as their mean, a grey image."""
    if images.shape[channel_axis] in (1, 3):
        return images
    return images.mean(axis=channel_axis, keepdims=True)


def _image_hwc(image, where: str) -> np.ndarray:
    """One image (C, H, W) or (H, W) as displayable (H, W[, 3]); C other than 1 or 3: the
    channels' mean."""
    image = np.asarray(image)
    if image.ndim == 4 and len(image) == 1:
        image = image[0]
    if image.ndim == 3:
        image = _grey_unless_rgb(image, 0)
        image = image.transpose(1, 2, 0)
        image = image[..., 0] if image.shape[-1] == 1 else image
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] != 3):
        raise ValueError(f"{where}: expected one image (C, H, W) or (H, W), got shape "
                         f"{image.shape}")
    return _displayable(image)


def plot_saliency(image, saliency_map, cmap: str = "hot", alpha: float = 0.5):
    """The image, its saliency map (``explain.saliency``) and the map laid over the image.

    ``image``: (C, H, W) or (H, W); ``saliency_map``: (H, W). Returns the Figure (3 axes).
    """
    shown = _image_hwc(image, "plot_saliency")
    saliency_map = np.asarray(saliency_map, dtype=np.float64)
    if saliency_map.shape != shown.shape[:2]:
        raise ValueError(f"plot_saliency: expected a map of the image's size {shown.shape[:2]}, "
                         f"got shape {saliency_map.shape}")
    figure, axes = _grid(3, 3, tile=2.6)
    axes[0].imshow(shown, cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("image")
    axes[1].imshow(saliency_map, cmap=cmap)
    axes[1].set_title("saliency |∂score/∂x|")
    axes[2].imshow(shown, cmap="gray", vmin=0, vmax=1)
    axes[2].imshow(saliency_map, cmap=cmap, alpha=alpha)
    axes[2].set_title("overlay")
    return figure


def plot_occlusion(image, occlusion_map, patch, stride, cmap: str = "coolwarm"):
    """The image and the drop in class probability per occluded patch (``explain.occlusion``).

    Each value of the map is drawn over the centre of its patch (``patch`` and ``stride`` as
    given to ``occlusion``); red: hiding the patch lowers the probability, blue: raises it
    (the colour scale is symmetric about 0). Returns the Figure (image, map, colour bar).
    """
    shown = _image_hwc(image, "plot_occlusion")
    drop = np.asarray(occlusion_map, dtype=np.float64)
    if drop.ndim != 2:
        raise ValueError(f"plot_occlusion: expected a map (rows, columns) of patch positions, "
                         f"got shape {drop.shape}")
    (ph, pw), (sh, sw) = [(v, v) if np.ndim(v) == 0 else tuple(v) for v in (patch, stride)]
    # the centres of the first and last patch, and half a step around them
    extent = (pw / 2 - 0.5 - sw / 2, pw / 2 - 0.5 + (drop.shape[1] - 0.5) * sw,
              ph / 2 - 0.5 + (drop.shape[0] - 0.5) * sh, ph / 2 - 0.5 - sh / 2)
    limit = max(float(np.abs(drop).max()), 1e-12)
    figure, axes = _grid(2, 2, tile=3.0)
    axes[0].imshow(shown, cmap="gray", vmin=0, vmax=1)
    axes[0].set_title("image")
    axes[1].imshow(shown, cmap="gray", vmin=0, vmax=1)
    heat = axes[1].imshow(drop, cmap=cmap, vmin=-limit, vmax=limit, alpha=0.6, extent=extent,
                          interpolation="nearest")
    axes[1].set_xlim(-0.5, shown.shape[1] - 0.5)
    axes[1].set_ylim(shown.shape[0] - 0.5, -0.5)
    axes[1].set_title(f"probability drop ({ph}×{pw} patch, stride {sh})")
    figure.colorbar(heat, ax=axes[1], shrink=0.8)
    return figure


def plot_activation_maximization(result, title: str | None = None):
    """The image ``explain.activation_maximization`` found and the unit's activation per step.

    ``result``: its return value (``image``, ``activations``). Returns the Figure (2 axes).
    """
    image, activations = result
    figure = _figure(figsize=(7, 3), layout="constrained")
    ax = figure.add_subplot(1, 2, 1)
    ax.imshow(_image_hwc(_min_max(np.asarray(image, dtype=np.float64)),
                         "plot_activation_maximization"), cmap="gray", vmin=0, vmax=1)
    ax.set_axis_off()
    ax.set_title(title or "input that excites the unit")
    ax = figure.add_subplot(1, 2, 2)
    ax.plot(np.arange(len(activations)), activations)
    ax.set_xlabel("step")
    ax.set_ylabel("activation")
    ax.grid(alpha=0.3)
    return figure


def show_patches(patches, values=None, ncols: int = 8, title: str | None = None):
    """The input patches that excite a unit most (``explain.top_patches``), best first.

    ``patches``: the result of ``top_patches`` (its values become the titles) or an array
    (k, C, h, w). All patches share one colour scale, so that they compare. Returns the Figure
    (one axes per patch).
    """
    if hasattr(patches, "patches"):
        patches, values = patches.patches, patches.values if values is None else values
    patches = np.asarray(patches, dtype=np.float64)
    if patches.ndim != 4:
        raise ValueError(f"show_patches: expected patches (k, C, h, w), got shape "
                         f"{patches.shape}")
    tiles = _images_hwc(_min_max(_grey_unless_rgb(patches, 1)))
    figure, axes = _grid(len(tiles), ncols, tile=1.2, title=title)
    for i, (ax, tile) in enumerate(zip(axes, tiles, strict=True)):
        ax.imshow(tile, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        if values is not None:
            ax.set_title(f"{values[i]:.3g}", fontsize=7)
    return figure


def plot_gradient_flow(history, log: bool = True, weights_only: bool = True):
    """Each parameter's gradient norm, layer by layer from input to output, one line per epoch.

    ``history``: a ``History`` from ``fit(..., record_gradient_flow=True)``, or a dict with its
    ``"grad_norm"`` ({parameter name: [norm per epoch]}). Norms that fall towards the input
    are vanishing gradients; norms that grow are exploding ones. ``weights_only`` (the default)
    leaves the biases out; ``weights_only=False`` shows every parameter. Returns the Figure.
    """
    norms = history["grad_norm"] if isinstance(history, Mapping) else \
        getattr(history, "grad_norm", None)
    if weights_only and norms:
        norms = {name: v for name, v in norms.items() if not name.endswith("bias")}
    if not norms:
        raise ValueError("plot_gradient_flow: the history has no gradient norms; train with "
                         "fit(..., record_gradient_flow=True)")
    names = list(norms)
    table = np.array([norms[name] for name in names], dtype=np.float64)  # (parameters, epochs)
    plt = _pyplot()
    figure = _figure(figsize=(max(5.0, 0.35 * len(names) + 2), 4), layout="constrained")
    ax = figure.add_subplot()
    colours = plt.get_cmap("viridis")(np.linspace(0, 1, table.shape[1]))
    for epoch, colour in enumerate(colours):
        ax.plot(range(len(names)), table[:, epoch], marker="o", markersize=3, color=colour,
                label=f"epoch {epoch + 1}")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    if log and (table > 0).all():
        ax.set_yscale("log")
    ax.set_ylabel("gradient L2 norm (mean over batches)")
    ax.set_title("gradient flow, input → output")
    ax.grid(alpha=0.3)
    if table.shape[1] <= 12:
        ax.legend(fontsize=7)
    return figure
