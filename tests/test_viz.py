"""minicnn.viz under the Agg backend: each function returns a Figure with the expected panels."""

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
from minicnn import viz
from minicnn.nn.module import Module, Sequential
from minicnn.nn.parameter import Parameter


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def image_axes(figure):
    """The axes that show an image (a colour bar's axes shows none)."""
    return [ax for ax in figure.axes if ax.images]


def test_importing_viz_does_not_import_matplotlib():
    code = "import sys, minicnn.viz; print('matplotlib' in sys.modules)"
    root = Path(minicnn.__file__).parent.parent
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=root).stdout.strip()
    assert out == "False"


# -- training curves -------------------------------------------------------------------------------
class HistoryStandIn:
    """Shaped like minicnn.train.History: per-epoch list attributes and to_dict()."""

    def __init__(self):
        self.epoch = [1, 2, 3]
        self.train_loss, self.val_loss = [2.0, 1.0, 0.5], [2.1, 1.3, 0.9]
        self.train_acc, self.val_acc = [0.3, 0.6, 0.8], [0.3, 0.5, 0.7]
        self.lr, self.seconds = [0.1, 0.1, 0.01], [1.0, 1.1, 1.0]

    def to_dict(self):
        return dict(vars(self))


def test_plot_history_draws_loss_accuracy_and_lr_panels_from_a_history_object():
    figure = viz.plot_history(HistoryStandIn())
    assert isinstance(figure, Figure)
    loss, accuracy, lr = figure.axes
    assert [ax.get_title() for ax in figure.axes] == ["loss", "accuracy", "learning rate"]
    assert len(loss.lines) == 2 and len(accuracy.lines) == 2 and len(lr.lines) == 1
    np.testing.assert_array_equal(loss.lines[1].get_ydata(), [2.1, 1.3, 0.9])
    np.testing.assert_array_equal(loss.lines[0].get_xdata(), [1, 2, 3])
    assert lr.get_yscale() == "log"


def test_plot_history_of_fit_leaves_out_validation_curves_that_are_all_nan():
    from minicnn.train import History

    nan = float("nan")
    history = History(epoch=[1, 2], train_loss=[1.0, 0.5], train_acc=[0.5, 0.7],
                      val_loss=[nan, nan], val_acc=[nan, nan], lr=[0.1, 0.1], seconds=[1, 1])
    figure = viz.plot_history(history)
    assert [(ax.get_title(), len(ax.lines)) for ax in figure.axes] == [
        ("loss", 1), ("accuracy", 1), ("learning rate", 1)]


def test_plot_history_accepts_a_dict_and_skips_missing_or_empty_series():
    figure = viz.plot_history({"train_loss": [1.0, 0.5], "val_loss": [float("nan")] * 2,
                               "train_acc": [], "lr": []})
    assert len(figure.axes) == 1 and len(figure.axes[0].lines) == 1
    keras_like = type("KerasHistory", (), {"history": {"loss": [1, 0.5], "accuracy": [0.5, 0.7],
                                                       "val_accuracy": [0.4, 0.6]}})()
    figure = viz.plot_history(keras_like)
    assert [len(ax.lines) for ax in figure.axes] == [1, 2]
    with pytest.raises(ValueError, match="found none of the series"):
        viz.plot_history({"something": [1, 2]})


# -- confusion matrix ------------------------------------------------------------------------------
def test_plot_confusion_matrix_shows_counts_with_names_and_a_colour_bar():
    cm = np.array([[5, 1, 0], [2, 3, 1], [0, 0, 4]])
    figure = viz.plot_confusion_matrix(cm, class_names=["cat", "dog", "bird"])
    assert isinstance(figure, Figure) and len(figure.axes) == 2  # the matrix and its colour bar
    (ax,) = image_axes(figure)
    np.testing.assert_array_equal(ax.images[0].get_array(), cm)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "bird"]
    assert sorted(t.get_text() for t in ax.texts) == sorted(str(v) for v in cm.ravel())
    assert ax.get_ylabel() == "true label" and ax.get_xlabel() == "predicted label"


def test_plot_confusion_matrix_normalizes_rows_and_handles_empty_rows():
    cm = np.array([[3, 1], [0, 0]])
    figure = viz.plot_confusion_matrix(cm, normalize=True)
    (ax,) = image_axes(figure)
    np.testing.assert_allclose(ax.images[0].get_array(), [[0.75, 0.25], [0.0, 0.0]])
    assert "0.75" in [t.get_text() for t in ax.texts]
    with pytest.raises(ValueError, match="2 class names for a 3×3 matrix"):
        viz.plot_confusion_matrix(np.eye(3), class_names=["a", "b"])
    with pytest.raises(ValueError, match="square"):
        viz.plot_confusion_matrix(np.ones((2, 3)))


# -- filters and feature maps ----------------------------------------------------------------------
class ConvLike(Module):
    """Holds a convolution weight; forward is a 1×1 mix of channels (enough for these tests)."""

    def __init__(self, c_out, c_in, k):
        super().__init__()
        rng = np.random.default_rng(c_out)
        self.weight = Parameter(rng.standard_normal((c_out, c_in, k, k)).astype(np.float32))

    def forward(self, x):
        self._save_for_backward(x)
        return np.einsum("nchw,oc->nohw", x, self.weight.data.sum(axis=(2, 3)))


class Flatten(Module):
    def forward(self, x):
        return x.reshape(len(x), -1)


def test_show_filters_draws_rgb_filters_scaled_to_unit_range():
    model = Sequential(ConvLike(6, 3, 5), ConvLike(4, 6, 3))
    figure = viz.show_filters(model)
    axes = image_axes(figure)
    assert len(axes) == 6  # the first conv layer's 6 filters, one RGB image each
    for ax in axes:
        tile = np.asarray(ax.images[0].get_array())
        assert tile.shape == (5, 5, 3)
        assert tile.min() == pytest.approx(0) and tile.max() == pytest.approx(1)
    assert "0.weight" in figure.get_suptitle()


def test_show_filters_draws_one_grey_tile_per_filter_and_channel_otherwise():
    weight = np.random.default_rng(0).standard_normal((4, 2, 3, 3))
    figure = viz.show_filters(weight)
    tiles = [np.asarray(ax.images[0].get_array()) for ax in image_axes(figure)]
    assert len(tiles) == 8 and all(tile.shape == (3, 3) for tile in tiles)
    assert len(image_axes(viz.show_filters(weight, max_filters=2))) == 4
    assert len(image_axes(viz.show_filters(ConvLike(5, 1, 3).weight))) == 5
    with pytest.raises(ValueError, match="no 4-D"):
        viz.show_filters(Sequential(Flatten()))


def test_show_feature_maps_captures_a_layer_by_name_or_module_and_leaves_the_model_alone():
    model = Sequential(ConvLike(6, 3, 3), ConvLike(5, 6, 3), Flatten())
    model.train()
    x = np.random.default_rng(1).standard_normal((3, 7, 7)).astype(np.float32)
    figure = viz.show_feature_maps(model, x, "1")
    axes = image_axes(figure)
    assert len(axes) == 5 and np.asarray(axes[0].images[0].get_array()).shape == (7, 7)
    expected = model[1].forward(model[0].forward(x[None]))[0, 2]
    np.testing.assert_allclose(axes[2].images[0].get_array(), expected, rtol=1e-6)
    assert len(image_axes(viz.show_feature_maps(model, x[None], model[0], max_channels=4))) == 4
    assert all(m.training for m in model.modules())
    assert not any("forward" in m.__dict__ for m in model.modules())


def test_show_feature_maps_errors_name_the_layer():
    model = Sequential(ConvLike(2, 3, 3), Flatten())
    x = np.zeros((3, 4, 4), np.float32)
    with pytest.raises(ValueError, match=r"no layer named 'conv1'; its layers are \['0', '1'\]"):
        viz.show_feature_maps(model, x, "conv1")
    with pytest.raises(ValueError, match=r"layer '1' \(Flatten\) gives \(1, 32\)"):
        viz.show_feature_maps(model, x, "1")
    with pytest.raises(ValueError, match="not a layer of this model"):
        viz.show_feature_maps(model, x, Flatten())
    assert not any("forward" in m.__dict__ for m in model.modules())


# -- image grids -----------------------------------------------------------------------------------
def test_show_images_titles_labels_and_predictions_with_errors_in_red():
    images = np.random.default_rng(0).standard_normal((10, 1, 8, 8)).astype(np.float32)
    labels = np.arange(10) % 3
    predictions = labels.copy()
    predictions[[2, 7]] = 0 if labels[2] else 1
    names = ["zero", "one", "two"]
    figure = viz.show_images(images, labels, predictions, class_names=names, ncols=4)
    axes = image_axes(figure)
    assert len(axes) == 10
    assert axes[0].get_title() == "true: zero\npred: zero"
    colors = [axes[i].title.get_color() for i in range(10)]
    assert [i for i, c in enumerate(colors) if c == "red"] == [2, 7]
    tile = np.asarray(axes[0].images[0].get_array())
    assert tile.shape == (8, 8) and tile.min() == 0 and tile.max() == 1  # min-max scaled


def test_show_images_options_and_layouts():
    rgb_uint8 = np.random.default_rng(0).integers(0, 256, (5, 6, 6, 3), dtype=np.uint8)
    figure = viz.show_images(rgb_uint8, labels=[0, 1, 2, 3, 4])
    assert len(image_axes(figure)) == 5
    assert np.asarray(image_axes(figure)[0].images[0].get_array()).shape == (6, 6, 3)
    assert image_axes(figure)[1].get_title() == "1"
    nchw_rgb = np.random.default_rng(1).random((70, 3, 4, 4))
    assert len(image_axes(viz.show_images(nchw_rgb))) == 64  # max_images
    only = viz.show_images(nchw_rgb[:6], labels=[0, 1, 2, 0, 1, 2],
                           predictions=[0, 1, 1, 0, 2, 2], only_errors=True)
    assert [ax.get_title() for ax in image_axes(only)] == ["true: 2\npred: 1", "true: 1\npred: 2"]
    with pytest.raises(ValueError, match="5 images but 4 labels"):
        viz.show_images(rgb_uint8, labels=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="expected images"):
        viz.show_images(np.zeros((2, 5, 4, 4)))


def test_misclassified_shows_only_the_errors():
    images = np.random.default_rng(2).random((8, 1, 5, 5))
    y_true = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    y_pred = np.array([0, 1, 0, 3, 0, 2, 2, 3])
    figure = viz.misclassified(images, y_true, y_pred, class_names=["a", "b", "c", "d"])
    assert [ax.get_title() for ax in image_axes(figure)] == ["true: c\npred: a",
                                                            "true: b\npred: c"]
    assert image_axes(viz.misclassified(images, y_true, y_true)) == []  # nothing to show


# -- show_visited_locations ----------------------------------------------------------------------
@pytest.mark.parametrize("size, kernel, stride, padding, dilation", [
    (5, 3, 1, 0, 1), (7, 3, 2, 1, 1), (6, 3, 2, 0, 1), ((5, 7), (3, 2), (1, 2), (1, 0), 1),
    (7, 3, 1, 0, 2),
])
def test_visited_locations_has_one_panel_per_output_and_marks_the_windows(size, kernel, stride,
                                                                          padding, dilation):
    """Panels = the output size of conv2d_output_size; the pixels read are those a loop over the
    windows reads (a stride that does not fit leaves the last rows or columns unread)."""
    from minicnn.functional import conv_output_size

    figure = viz.show_visited_locations(size, kernel, stride, padding, dilation)
    h, w = (size, size) if np.ndim(size) == 0 else size
    kh, kw = (kernel, kernel) if np.ndim(kernel) == 0 else kernel
    sh, sw = (stride, stride) if np.ndim(stride) == 0 else stride
    ph, pw = (padding, padding) if np.ndim(padding) == 0 else padding
    out_h = conv_output_size(h, kh, sh, ph, dilation)
    out_w = conv_output_size(w, kw, sw, pw, dilation)
    assert len(figure.axes) == out_h * out_w
    expected = np.zeros((h + 2 * ph, w + 2 * pw), dtype=bool)
    for i in range(out_h):
        for j in range(out_w):
            for u in range(kh):
                for v in range(kw):
                    expected[i * sh + u * dilation, j * sw + v * dilation] = True
    np.testing.assert_array_equal(figure.visited, expected)
    assert f"output {out_h}×{out_w}" in figure._suptitle.get_text()


def test_visited_locations_refuses_a_kernel_that_does_not_fit():
    with pytest.raises(ValueError, match=r"show_visited_locations: the dilated kernel \(5×5\) "
                                         r"does not fit the padded input \(4×4\)"):
        viz.show_visited_locations(4, 3, dilation=2)
    with pytest.raises(ValueError, match="expected kernel_size as an int or a pair of ints"):
        viz.show_visited_locations(4, 2.5)
