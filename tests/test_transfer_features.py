"""``models.extract_features``: the output of a named layer, as a fixed feature extractor.

Checked: the features equal the named sub-network applied by hand (for arrays and for loaders,
flattened or not), the loader's targets come back in order, the model's training flag is
restored and nothing is kept for backward, and a linear SVM (``Linear`` + the multi-class hinge
loss) trained on the features learns a separable task. Errors: an unknown layer name (the
message lists the valid ones), a bad batch size, a loader that does not give pairs.
"""

import numpy as np
import pytest

import minicnn
from minicnn import data, models, nn, optim

pytestmark = pytest.mark.usefixtures("each_engine")


def small_lenet():
    minicnn.manual_seed(0)
    return models.lenet5()


def digits(n=10, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 1, 28, 28)).astype(np.float32)


def close(got, expected):
    """float32 and batches of other sizes (other BLAS blockings): equal to rounding."""
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def by_hand(model, x, upto_classifier):
    """features → flatten → classifier[:upto_classifier], written out."""
    with minicnn.no_grad():
        out = model.flatten(model.features(x))
        for layer in list(model.classifier)[:upto_classifier]:
            out = layer(out)
    return out


def test_features_of_an_array_equal_the_sub_network_by_hand():
    model, x = small_lenet(), digits(10)
    model.eval()
    got = models.extract_features(model, x, layer="classifier.3", batch_size=3)
    assert got.targets is None
    close(got.features, by_hand(model, x, 4))
    assert got.features.shape == (10, 84) and got.features.dtype == np.float32


def test_unflattened_features_keep_the_layer_output_shape():
    model, x = small_lenet(), digits(4)
    got = models.extract_features(model, x, layer="features.5", flatten=False)
    model.eval()
    with minicnn.no_grad():
        close(got.features, model.features(x))
    assert got.features.shape == (4, 16, 5, 5)


def test_a_loader_gives_features_and_targets_in_order():
    model, x = small_lenet(), digits(7)
    y = np.arange(7) % 3
    loader = data.DataLoader(data.ArrayDataset(x, y), batch_size=3)
    got = models.extract_features(model, loader, layer="classifier.1")
    np.testing.assert_array_equal(got.targets, y)
    model.eval()
    close(got.features, by_hand(model, x, 2))


def test_training_flag_is_restored_and_nothing_is_kept():
    model = small_lenet()
    model.train()
    models.extract_features(model, digits(2), layer="features.0")
    assert model.training and all(m.training for m in model.modules())
    assert "forward" not in vars(model.features[0])  # the capture is undone
    with pytest.raises(RuntimeError, match="forward"):
        model.features[0].backward(np.ones((2, 6, 28, 28), np.float32))


def test_a_linear_svm_on_the_features_learns_a_separable_task():
    """Two classes told apart by the sign of the mean pixel: linearly separable in features of
    the first convolution (its bias-free mean is linear in the input)."""
    model, rng = small_lenet(), np.random.default_rng(1)
    y = rng.integers(0, 2, 64)
    x = (rng.standard_normal((64, 1, 28, 28)) * 0.1 + np.where(y, 1.0, -1.0)[:, None, None,
                                                                             None])
    feats = models.extract_features(model, x.astype(np.float32), layer="features.0")
    svm = nn.Linear(feats.features.shape[1], 2)
    loader = data.DataLoader(data.ArrayDataset(feats.features, y), batch_size=16, shuffle=True,
                             seed=0)
    history = minicnn.fit(svm, nn.HingeLoss(multiclass=True),
                          optim.SGD(svm.parameters(), lr=1e-3), loader, epochs=5, verbose=False)
    assert history.train_acc[-1] == 1.0


@pytest.mark.parametrize("layer, message", [
    ("features.9", r"expected layer as the name of one of LeNet5's layers \('features', "
                   r"'features.0', .*'classifier.4'\), got 'features.9'"),
    ("", r"got ''"),
    (3, r"got 3"),
])
def test_an_unknown_layer_is_an_error_listing_the_names(layer, message):
    with pytest.raises(ValueError, match=message):
        models.extract_features(small_lenet(), digits(2), layer=layer)


def test_bad_batch_size_and_bad_loader_are_errors():
    with pytest.raises(ValueError, match="expected batch_size as a positive integer, got 0"):
        models.extract_features(small_lenet(), digits(2), "features.0", batch_size=0)
    with pytest.raises(ValueError, match=r"expected the loader to give \(inputs, targets\) "
                                         r"pairs, got ndarray"):
        models.extract_features(small_lenet(), [digits(2)], "features.0")
