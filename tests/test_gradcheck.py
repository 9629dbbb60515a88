"""The gradient checker itself: it must pass a correct backward and catch a wrong one.

A checker that cannot fail proves nothing, so each check here is run against a deliberately
broken backward too.
"""

import numpy as np
import pytest

import minicnn
from minicnn.gradcheck import (
    check_loss,
    check_module,
    numerical_gradient,
    numerical_gradient_array,
    relative_error,
)
from minicnn.nn.module import Module
from minicnn.nn.parameter import Parameter

pytestmark = pytest.mark.usefixtures("each_engine")


class Affine(Module):
    """y = x wᵀ + b with x (N, in), w (out, in); ``wrong=True`` forgets the transpose in dx."""

    def __init__(self, n_in, n_out, wrong=False):
        super().__init__()
        rng = np.random.default_rng(0)
        self.weight = Parameter(rng.standard_normal((n_out, n_in)).astype(np.float32))
        self.bias = Parameter(rng.standard_normal(n_out).astype(np.float32))
        self.wrong = wrong

    def forward(self, x):
        self._save_for_backward(x)
        return x @ self.weight.data.T + self.bias.data

    def backward(self, dout):
        x = self._pop_cache()
        self.weight.grad += dout.T @ x
        self.bias.grad += dout.sum(axis=0)
        w = self.weight.data
        return dout @ (w[::-1] if self.wrong else w)


class RandomMask(Module):
    """y = x · m with a fresh random 0/1 mask from minicnn's generator at every forward."""

    def forward(self, x):
        mask = minicnn.get_rng().random(x.shape) < 0.5
        self._save_for_backward(mask)
        return x * mask

    def backward(self, dout):
        return dout * self._pop_cache()


class HalfSquaredNorm(Module):
    """L = ½ Σ (z − t)² / N, a loss with the minicnn loss protocol."""

    def __init__(self, wrong=False):
        super().__init__()
        self.wrong = wrong

    def forward(self, z, t):
        self._save_for_backward((z, t))
        return float(0.5 * np.sum((z - t) ** 2) / len(z))

    def backward(self):
        z, t = self._pop_cache()
        return (z - t) / (1 if self.wrong else len(z))


def test_relative_error_is_the_elementwise_maximum():
    a = np.array([1.0, 0.0, 2.0])
    b = np.array([1.0, 0.0, 1.0])
    assert relative_error(a, b) == pytest.approx(1 / 3)
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    with pytest.raises(ValueError, match="shapes differ"):
        relative_error(np.zeros(2), np.zeros(3))


def test_numerical_gradient_of_a_cubic_has_second_order_error():
    x = np.linspace(-2, 2, 7)
    grad = numerical_gradient(lambda z: np.sum(z**3), x)
    # central differences of x³ are exact up to h² = 1e-10
    np.testing.assert_allclose(grad, 3 * x**2, atol=1e-8)
    np.testing.assert_array_equal(x, np.linspace(-2, 2, 7))  # restored after perturbing


def test_numerical_gradient_array_is_the_vector_jacobian_product():
    rng = np.random.default_rng(1)
    x, dout = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    grad = numerical_gradient_array(np.sin, x, dout)
    assert relative_error(grad, np.cos(x) * dout) < 1e-8


def test_check_module_passes_a_correct_backward_in_float64():
    x = np.random.default_rng(2).standard_normal((5, 4)).astype(np.float32)
    report = check_module(Affine(4, 4), x)
    assert set(report.errors) == {"input", "weight", "bias"}
    assert report.ok(1e-8), report
    assert "weight" in repr(report) and report["input"] < 1e-8


def test_check_module_catches_a_wrong_backward():
    x = np.random.default_rng(2).standard_normal((5, 4))
    report = check_module(Affine(4, 4, wrong=True), x)
    assert report["input"] > 1e-2
    assert not report.ok(1e-6)


def test_check_module_leaves_the_original_module_untouched():
    module = Affine(3, 2)
    check_module(module, np.ones((2, 3)))
    assert module.weight.dtype == np.float32
    assert np.all(module.weight.grad == 0)


def test_check_module_replays_the_same_random_mask():
    minicnn.manual_seed(0)
    report = check_module(RandomMask(), np.random.default_rng(3).standard_normal((4, 6)))
    assert report["input"] < 1e-8  # a different mask would give errors near 1


def test_check_module_skips_frozen_parameters_and_samples_entries():
    module = Affine(6, 5)
    module.weight.requires_grad = False
    report = check_module(module, np.ones((2, 6)), max_entries=3)
    assert set(report.errors) == {"input", "bias"}
    assert report.ok(1e-8)


def test_check_loss_passes_a_correct_loss_and_catches_a_wrong_one():
    rng = np.random.default_rng(4)
    z, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    assert check_loss(HalfSquaredNorm(), z, t).ok(1e-8)
    assert not check_loss(HalfSquaredNorm(wrong=True), z, t).ok(1e-2)


# -- a verdict a first lab can trust ------------------------------------------------------------
class OverwritingAffine(Affine):
    """A correct gradient, but assigned (``p.grad = ...``) instead of added: accumulation breaks."""

    def backward(self, dout):
        x = self._pop_cache()
        self.weight.grad = dout.T @ x
        self.bias.grad += dout.sum(axis=0)
        return dout @ self.weight.data


class PaddingBug(Module):
    """A 3×3 box filter with zero padding 1 whose backward forgets the border's gradient."""

    def forward(self, x):
        self._save_for_backward(x.shape)
        padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        return sum(padded[:, :, u:u + x.shape[2], v:v + x.shape[3]]
                   for u in range(3) for v in range(3))

    def backward(self, dout):
        shape = self._pop_cache()
        padded = np.pad(dout, ((0, 0), (0, 0), (1, 1), (1, 1)))
        dx = sum(padded[:, :, u:u + shape[2], v:v + shape[3]] for u in range(3) for v in range(3))
        dx[:, :, 0, :] = dx[:, :, 1, :]  # the bug: the top row copies its neighbour
        return dx


def test_a_true_gradient_of_zero_is_not_called_a_bug():
    """Conv2d's bias before BatchNorm: its true gradient is 0 and both gradients are round-off;
    the elementwise relative error of round-off is large, the verdict's error is not."""
    model = minicnn.nn.Sequential(minicnn.nn.Conv2d(2, 3, 3, padding=1),
                                  minicnn.nn.BatchNorm2d(3))
    report = check_module(model, np.random.default_rng(0).standard_normal((2, 2, 5, 5)))
    bias = report.entries["0.bias"]
    assert bias.relative > 1e-3  # what the plain relative error said: "bug"
    assert bias.error < 1e-7 and bias.verdict == "ok" and "true gradient ≈ 0" in bias.hints()
    assert report.ok(1e-7) and report.verdict == "ok"


def test_leaky_relu_scores_ok_not_look_closer():
    for seed in range(5):
        x = np.random.default_rng(seed).standard_normal((4, 5))
        assert check_module(minicnn.nn.LeakyReLU(0.01), x).entries["input"].verdict == "ok"


def test_a_backward_that_assigns_grad_instead_of_adding_fails():
    x = np.random.default_rng(0).standard_normal((3, 4))
    good, bad = check_module(Affine(4, 2), x), check_module(OverwritingAffine(4, 2), x)
    assert good.accumulates is True and good.ok(1e-7)
    assert bad.accumulates is False and bad.overwritten == ["weight"]
    assert bad["weight"] < 1e-7  # the gradient itself is right: only the += check catches it
    assert not bad.ok() and bad.verdict == "bug"
    assert "NO, overwritten by backward: weight (use +=)" in repr(bad)


def test_a_kink_is_named():
    report = check_module(minicnn.nn.ReLU(), np.array([[-1.0, 0.0, 2.0]]))
    assert report.entries["input"].kink and "kink" in repr(report)
    smooth = check_module(minicnn.nn.Tanh(), np.array([[-1.0, 0.3, 2.0]]))
    assert not smooth.entries["input"].kink


def test_a_padding_bug_shows_on_the_border_not_the_interior():
    report = check_module(PaddingBug(), np.random.default_rng(1).standard_normal((1, 1, 6, 6)))
    entry = report.entries["input"]
    assert entry.verdict == "bug"
    assert entry.interior < 1e-7 < entry.border
    assert "worst on the border: padding?" in entry.hints()
    assert np.nanmax(entry.error_map[0, 0, 1:-1, 1:-1]) < 1e-8 < entry.error_map[0, 0, 0].max()


@pytest.mark.parametrize("error, verdict", [
    (1e-9, "ok"), (1e-5, "ok for a function with kinks, else look closer"),
    (1e-3, "look closer"), (0.5, "bug")])
def test_verdict_bands_are_cs231ns(error, verdict):
    from minicnn.gradcheck import verdict_of

    assert verdict_of(error) == verdict
