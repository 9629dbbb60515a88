"""``minicnn.sanity``: the initial-loss and overfit-one-batch checks of a first training run.

Checked: a fresh LeNet-5 starts at ≈ ln 10 and passes; the same net with its head's weights
scaled up 100× fails; LeNet-5 fits 20 images perfectly; a model whose backward loses the
weight gradients (so nothing learns) fails; the model given is unchanged; bad shapes and too
large a batch are errors naming the check.
"""

import math

import numpy as np
import pytest

import minicnn
from minicnn import models, nn, sanity

pytestmark = pytest.mark.usefixtures("each_engine")


def batch(n=20, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 28, 28)).astype(np.float32), np.arange(n) % 10


def test_a_fresh_lenet_starts_near_ln_10():
    minicnn.manual_seed(0)
    x, y = batch(64)
    check = sanity.check_initial_loss(models.lenet5(), x, y)
    assert check.expected == pytest.approx(math.log(10))
    assert check.ok and abs(check.loss - math.log(10)) < 0.25 * math.log(10)
    assert "expected ln C = 2.303: ok" in str(check)


def test_an_oversized_initialisation_fails():
    minicnn.manual_seed(0)
    model = models.lenet5()
    model.classifier[4].weight.data *= 100
    check = sanity.check_initial_loss(model, *batch(64))
    assert not check.ok and check.loss > 2 * math.log(10)


def test_lenet_overfits_twenty_images_and_the_original_is_untouched():
    minicnn.manual_seed(0)
    model = models.lenet5()
    before = model.features[0].weight.data.copy()
    check = sanity.overfit_small_batch(model, *batch(20), steps=60, lr=3e-3)
    assert check.ok and check.accuracy == 1.0 and len(check.losses) == 60
    np.testing.assert_array_equal(model.features[0].weight.data, before)


class LostGradients(nn.Sequential):
    """A backward that forgets to pass the weight gradients on: nothing learns."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.zero_grad()
        return dx


def test_a_model_that_cannot_learn_fails_the_overfit_check():
    minicnn.manual_seed(0)
    model = LostGradients(nn.Flatten(), nn.Linear(784, 10))
    check = sanity.overfit_small_batch(model, *batch(20), steps=30, lr=3e-3)
    assert not check.ok and "cannot fit them" in str(check)


def test_errors_name_the_check():
    with pytest.raises(ValueError, match="overfit_small_batch: expected a small batch"):
        sanity.overfit_small_batch(models.lenet5(), *batch(101))
    with pytest.raises(ValueError, match=r"check_initial_loss: expected class scores \(N, C\)"):
        sanity.check_initial_loss(nn.Sequential(nn.Flatten(), nn.Linear(784, 1)), *batch(4))
