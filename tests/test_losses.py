"""Tests of the losses (``minicnn.functional.loss`` and ``minicnn.nn.loss``).

What is checked, and how:

* gradients: ``backward()`` against float64 central differences (``minicnn.gradcheck``), for every
  loss, several shapes, batch size 1, label smoothing, pos_weight, and the 'sum' reduction;
* values: cross-entropy and the multi-class hinge loss against plain loops written from their
  definitions, and a few numbers worked by hand (the cs231n SVM example);
* stability: logits of ±1000 give finite losses and gradients and no warnings;
* dtypes: float32 logits give a float32 gradient, and the loss is always a Python float;
* errors: each bad input raises a ValueError/TypeError naming the loss, what it expected and
  what it got, before any computation.
"""

import math
import warnings

import numpy as np
import pytest

import minicnn
from minicnn import nn
from minicnn.gradcheck import check_loss

from engine_under_test import F

pytestmark = pytest.mark.usefixtures("each_engine")

RNG = np.random.default_rng(0)
TOL = 1e-7  # a correct backward agrees with central differences to ~1e-9 in float64


# -- inputs ---------------------------------------------------------------------------------------
def class_problem(n, c, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, c)), rng.integers(0, c, size=n)


def probability_targets(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape) * 2, rng.uniform(0, 1, size=shape)


def regression_problem(shape, seed=0):
    """Inputs and targets at least 0.1 apart, so L1's kink at ŷ = y is out of reach of h."""
    rng = np.random.default_rng(seed)
    target = rng.standard_normal(shape)
    gap = rng.uniform(0.1, 1.0, size=shape) * rng.choice([-1, 1], size=shape)
    return target + gap, target


def binary_hinge_problem(shape, seed=0):
    """Scores with y·s at least 0.1 away from the margin 1, so no finite difference straddles
    the kink."""
    rng = np.random.default_rng(seed)
    labels = rng.choice([-1.0, 1.0], size=shape)
    distance = rng.uniform(0.1, 1.5, size=shape) * rng.choice([-1, 1], size=shape)
    return labels * (1 + distance), labels


def multiclass_hinge_problem(n, c, seed=0):
    """Scores whose margins s_j − s_y + 1 are never within 0.05 of the kink at 0."""
    rng = np.random.default_rng(seed)
    while True:
        scores = rng.standard_normal((n, c)) * 2
        labels = rng.integers(0, c, size=n)
        margins = scores - scores[np.arange(n), labels][:, None] + 1
        margins[np.arange(n), labels] = 1
        if np.abs(margins).min() > 0.05:
            return scores, labels


# -- gradient checks --------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, 3), (4, 5), (7, 2), (3, 10)])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 0.4])
def test_cross_entropy_gradient(shape, label_smoothing):
    """CrossEntropyLoss.backward() = central differences, with and without label smoothing."""
    logits, labels = class_problem(*shape)
    report = check_loss(nn.CrossEntropyLoss(label_smoothing=label_smoothing), logits, labels)
    assert report.ok(TOL), report


@pytest.mark.parametrize("shape", [(1,), (5,), (3, 4), (2, 3, 4)])
@pytest.mark.parametrize("pos_weight", [None, 3.0, "per-output"])
def test_bce_with_logits_gradient(shape, pos_weight):
    """BCEWithLogitsLoss.backward() = central differences; pos_weight as a number or (K,)."""
    logits, targets = probability_targets(shape)
    if pos_weight == "per-output":
        pos_weight = np.linspace(0.5, 2.0, shape[-1])
    report = check_loss(nn.BCEWithLogitsLoss(pos_weight=pos_weight), logits, targets)
    assert report.ok(TOL), report


@pytest.mark.parametrize("loss_cls", [nn.MSELoss, nn.L1Loss])
@pytest.mark.parametrize("shape", [(1,), (6,), (4, 3), (2, 3, 2, 2)])
def test_regression_loss_gradient(loss_cls, shape):
    """MSELoss and L1Loss backward() = central differences (L1 away from its kink)."""
    prediction, target = regression_problem(shape)
    report = check_loss(loss_cls(), prediction, target)
    assert report.ok(TOL), report


@pytest.mark.parametrize("shape", [(1,), (8,), (4, 2)])
@pytest.mark.parametrize("margin", [1.0, 2.5])
def test_binary_hinge_gradient(shape, margin):
    """HingeLoss() backward = central differences (away from the kink y·s = margin)."""
    scores, labels = binary_hinge_problem(shape)
    scores = scores * margin  # keeps y·s away from the kink at the scaled margin
    report = check_loss(nn.HingeLoss(margin=margin), scores, labels)
    assert report.ok(TOL), report


@pytest.mark.parametrize("shape", [(1, 3), (5, 4), (6, 10)])
def test_multiclass_hinge_gradient(shape):
    """HingeLoss(multiclass=True) backward = central differences."""
    scores, labels = multiclass_hinge_problem(*shape)
    report = check_loss(nn.HingeLoss(multiclass=True), scores, labels)
    assert report.ok(TOL), report


@pytest.mark.parametrize(("make_loss", "x", "target", "count"), [
    (lambda r: nn.CrossEntropyLoss(label_smoothing=0.2, reduction=r), *class_problem(4, 3), 4),
    (lambda r: nn.BCEWithLogitsLoss(reduction=r), *probability_targets((3, 2)), 6),
    (lambda r: nn.MSELoss(reduction=r), *regression_problem((3, 2)), 6),
    (lambda r: nn.L1Loss(reduction=r), *regression_problem((3, 2)), 6),
    (lambda r: nn.HingeLoss(reduction=r), *binary_hinge_problem((5,)), 5),
    (lambda r: nn.HingeLoss(multiclass=True, reduction=r), *multiclass_hinge_problem(4, 3), 4),
], ids=["ce", "bce", "mse", "l1", "hinge", "multiclass-hinge"])
def test_sum_reduction(make_loss, x, target, count):
    """reduction='sum' passes the gradient check, and its loss and gradient are the mean's times
    the count the mean divides by (N for the row-wise losses, every element for the others)."""
    sum_fn, mean_fn = make_loss("sum"), make_loss("mean")
    assert check_loss(sum_fn, x, target).ok(TOL)
    assert sum_fn(x, target) == pytest.approx(count * mean_fn(x, target), rel=1e-12)
    np.testing.assert_allclose(sum_fn.backward(), count * mean_fn.backward(), rtol=1e-12)


def test_backward_scales_by_dloss():
    """backward(dloss) = dloss · backward(): the loss as one term of a weighted sum."""
    logits, labels = class_problem(3, 4)
    loss_fn = nn.CrossEntropyLoss()
    loss_fn(logits, labels)
    once = loss_fn.backward()
    loss_fn(logits, labels)
    np.testing.assert_allclose(loss_fn.backward(0.5), 0.5 * once, rtol=1e-15)


# -- values by definition -----------------------------------------------------------------------
def cross_entropy_by_definition(logits, labels, eps=0.0):
    """Loops over samples and classes: q = (1 − ε)·onehot + ε/C, L = mean_i Σ_c −q_ic log p_ic,
    dL/dz = (p − q)/N. Fine for small logits only (no max subtraction)."""
    n, c = logits.shape
    loss, grad = 0.0, np.zeros((n, c))
    for i in range(n):
        denominator = sum(math.exp(logits[i, k]) for k in range(c))
        for k in range(c):
            p = math.exp(logits[i, k]) / denominator
            q = (1 - eps) * (k == labels[i]) + eps / c
            loss -= q * math.log(p) / n
            grad[i, k] = (p - q) / n
    return loss, grad


def multiclass_hinge_by_definition(scores, labels, margin=1.0):
    """L = (1/N) Σ_i Σ_{j ≠ y_i} max(0, s_ij − s_iy + Δ), with its subgradient, by loops."""
    n, c = scores.shape
    loss, grad = 0.0, np.zeros((n, c))
    for i in range(n):
        y = labels[i]
        for j in range(c):
            if j == y:
                continue
            margin_ij = scores[i, j] - scores[i, y] + margin
            if margin_ij > 0:
                loss += margin_ij / n
                grad[i, j] += 1 / n
                grad[i, y] -= 1 / n
    return loss, grad


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("shape", [(1, 4), (6, 3)])
def test_cross_entropy_matches_definition(shape, label_smoothing):
    """Loss and gradient equal the loop-by-definition reference."""
    logits, labels = class_problem(*shape, seed=3)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    expected_loss, expected_grad = cross_entropy_by_definition(logits, labels, label_smoothing)
    assert loss_fn(logits, labels) == pytest.approx(expected_loss, rel=1e-12)
    np.testing.assert_allclose(loss_fn.backward(), expected_grad, rtol=1e-10, atol=1e-15)


def test_cross_entropy_of_uniform_logits_is_log_c():
    """Equal logits: p = 1/C for every class, so L = log C (2.302... for 10 classes), with or
    without smoothing (q sums to 1)."""
    logits = np.zeros((4, 10))
    labels = np.array([0, 3, 9, 9])
    assert nn.CrossEntropyLoss()(logits, labels) == pytest.approx(math.log(10), rel=1e-14)
    assert nn.CrossEntropyLoss(label_smoothing=0.3)(logits, labels) == pytest.approx(
        math.log(10), rel=1e-14)


@pytest.mark.parametrize("margin", [1.0, 0.5])
@pytest.mark.parametrize("shape", [(1, 5), (8, 4)])
def test_multiclass_hinge_matches_definition(shape, margin):
    """Loss and subgradient equal the loop-by-definition reference."""
    scores, labels = multiclass_hinge_problem(*shape, seed=5)
    loss_fn = nn.HingeLoss(multiclass=True, margin=margin)
    expected_loss, expected_grad = multiclass_hinge_by_definition(scores, labels, margin)
    assert loss_fn(scores, labels) == pytest.approx(expected_loss, rel=1e-12)
    np.testing.assert_allclose(loss_fn.backward(), expected_grad, rtol=1e-12, atol=1e-15)


def test_multiclass_hinge_cs231n_example():
    """The cs231n SVM example: three images (cat, car, frog), losses 2.9, 0 and 12.9, mean 5.27.

    PyTorch's MultiMarginLoss divides each sample's sum by C = 3, so it would give 5.27 / 3.
    """
    scores = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    labels = np.array([0, 1, 2])
    assert nn.HingeLoss(multiclass=True)(scores, labels) == pytest.approx(
        (2.9 + 0 + 12.9) / 3, rel=1e-12)


def test_binary_hinge_by_hand():
    """max(0, 1 − y·s) for y·s = 2, 0.5, −1, 1: costs 0, 0.5, 2, 0 (mean 2.5/4); gradient −y/4
    where the cost is positive, 0 beyond the margin and 0 exactly at the kink y·s = 1."""
    loss_fn = nn.HingeLoss()
    scores, labels = np.array([2.0, 0.5, 1.0, 1.0]), np.array([1, 1, -1, 1])
    assert loss_fn(scores, labels) == pytest.approx(2.5 / 4)
    np.testing.assert_array_equal(loss_fn.backward(), [0.0, -1 / 4, 1 / 4, 0.0])


def test_multiclass_hinge_kink_has_zero_subgradient():
    """A margin of exactly 0 (s_j = s_y − 1) costs nothing and contributes no gradient."""
    loss_fn = nn.HingeLoss(multiclass=True)
    assert loss_fn(np.array([[2.0, 1.0, 0.0]]), np.array([0])) == 0.0
    np.testing.assert_array_equal(loss_fn.backward(), [[0.0, 0.0, 0.0]])


def test_bce_matches_definition_with_pos_weight():
    """ℓ = −[w·y·log σ(z) + (1 − y)·log(1 − σ(z))] written naively, for moderate logits."""
    logits, targets = probability_targets((4, 3), seed=7)
    weight = np.array([1.0, 2.0, 0.5])
    sig = 1 / (1 + np.exp(-logits))
    expected = np.mean(-(weight * targets * np.log(sig) + (1 - targets) * np.log(1 - sig)))
    assert nn.BCEWithLogitsLoss(pos_weight=weight)(logits, targets) == pytest.approx(
        expected, rel=1e-12)
    plain = np.mean(-(targets * np.log(sig) + (1 - targets) * np.log(1 - sig)))
    assert nn.BCEWithLogitsLoss()(logits, targets) == pytest.approx(plain, rel=1e-12)


def test_bce_with_logits_weight_matches_definition_and_gradient():
    """weight w rescales each element, pos_weight q the positive term (PyTorch's order:
    weight, reduction, pos_weight): ℓ = −w·[q·y·log σ(z) + (1 − y)·log(1 − σ(z))], the mean
    over all elements (not divided by Σw); central differences agree."""
    logits, targets = probability_targets((4, 3), seed=3)
    w = np.array([[0.5], [1.0], [2.0], [0.0]])  # one weight per sample, broadcast over outputs
    q = np.array([1.0, 2.0, 0.5])
    sig = 1 / (1 + np.exp(-logits))
    per_element = -w * (q * targets * np.log(sig) + (1 - targets) * np.log(1 - sig))
    for reduction, expected in (("mean", per_element.mean()), ("sum", per_element.sum())):
        loss_fn = nn.BCEWithLogitsLoss(w, reduction, q)
        assert loss_fn(logits, targets) == pytest.approx(expected, rel=1e-12)
        assert check_loss(loss_fn, logits, targets).ok(TOL)
    none = nn.BCEWithLogitsLoss(weight=w, reduction="none")(logits, targets)
    np.testing.assert_allclose(
        none, -w * (targets * np.log(sig) + (1 - targets) * np.log(1 - sig)), rtol=1e-12)


def test_bce_with_logits_weights_are_buffers_with_pytorchs_keys():
    """weight and pos_weight are saved and loaded as buffers, keys only when given."""
    assert nn.BCEWithLogitsLoss().state_dict() == {}
    loss_fn = nn.BCEWithLogitsLoss(weight=np.array([1.0, 2.0]), pos_weight=np.array([3.0, 4.0]))
    state = loss_fn.state_dict()
    assert sorted(state) == ["pos_weight", "weight"]
    np.testing.assert_array_equal(state["pos_weight"], [3.0, 4.0])
    assert repr(loss_fn) == ("BCEWithLogitsLoss(weight=<array of shape (2,)>, "
                             "pos_weight=<array of shape (2,)>)")
    with pytest.raises(ValueError, match=r"BCEWithLogitsLoss\(weight=<array of shape \(2,\)>"
                       r".*expected weight broadcastable to the input shape \(2, 3\)"):
        loss_fn(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"BCEWithLogitsLoss\(weight=-1.0\): expected weight >= 0"):
        nn.BCEWithLogitsLoss(weight=-1.0)(np.zeros(2), np.zeros(2))


def test_mse_and_l1_by_hand():
    """ŷ − y = (1, −2, 0): MSE = 5/3 with gradient 2(ŷ − y)/3; L1 = 1 with gradient
    sign(ŷ − y)/3, and 0 where ŷ = y (the subgradient chosen at the kink)."""
    prediction, target = np.array([1.0, 0.0, 3.0]), np.array([0.0, 2.0, 3.0])
    mse, l1 = nn.MSELoss(), nn.L1Loss()
    assert mse(prediction, target) == pytest.approx(5 / 3)
    np.testing.assert_allclose(mse.backward(), [2 / 3, -4 / 3, 0.0])
    assert l1(prediction, target) == pytest.approx(1.0)
    np.testing.assert_array_equal(l1.backward(), [1 / 3, -1 / 3, 0.0])


def test_functional_pair_matches_module():
    """F.cross_entropy_forward/backward is the lab-sheet form of nn.CrossEntropyLoss."""
    logits, labels = class_problem(5, 4)
    loss, cache = F.cross_entropy_forward(logits, labels, label_smoothing=0.1)
    module = nn.CrossEntropyLoss(label_smoothing=0.1)
    assert isinstance(loss, float)
    assert loss == module(logits, labels)
    np.testing.assert_array_equal(F.cross_entropy_backward(1.0, cache), module.backward())


# -- stability and dtypes -----------------------------------------------------------------------
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_cross_entropy_is_stable_for_huge_logits(label_smoothing):
    """Logits ±1000: exp would overflow without the max subtraction; here the loss is exact."""
    logits = np.array([[1000.0, -1000.0], [1000.0, -1000.0]])
    labels = np.array([0, 1])
    loss_fn = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        loss = loss_fn(logits, labels)
        grad = loss_fn.backward()
    eps = label_smoothing
    # sample 0: log p = (0, −2000); sample 1: the same, but the label is the −2000 one
    expected = ((eps / 2) * 2000 + (1 - eps / 2) * 2000) / 2
    assert loss == pytest.approx(expected, rel=1e-12)
    assert np.isfinite(grad).all()
    np.testing.assert_allclose(grad, [[eps / 4, -eps / 4], [(1 - eps / 2) / 2,
                                                            -(1 - eps / 2) / 2]], atol=1e-15)


def test_bce_is_stable_for_huge_logits():
    """z = ±1000: log σ(z) and log(1 − σ(z)) would be log 0 if computed naively."""
    logits = np.array([1000.0, -1000.0, 1000.0, -1000.0])
    targets = np.array([1.0, 0.0, 0.0, 1.0])
    for pos_weight in (None, 2.0):
        loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise",
                                                    divide="raise"):
            warnings.simplefilter("error")
            loss = loss_fn(logits, targets)
            grad = loss_fn.backward()
        w = 1.0 if pos_weight is None else pos_weight
        assert loss == pytest.approx((1000 + 1000 * w) / 4, rel=1e-12)
        np.testing.assert_allclose(grad, [0, 0, 0.25, -0.25 * w], atol=1e-15)


@pytest.mark.parametrize("make", [
    lambda: (nn.CrossEntropyLoss(), np.array([[1000.0, -1000.0, 0.0]]), np.array([2])),
    lambda: (nn.HingeLoss(multiclass=True), np.array([[1000.0, -1000.0]]), np.array([1])),
    lambda: (nn.HingeLoss(), np.array([1000.0, -1000.0]), np.array([-1, -1])),
    lambda: (nn.MSELoss(), np.array([1000.0, -1000.0]), np.array([0.0, 0.0])),
    lambda: (nn.L1Loss(), np.array([1000.0, -1000.0]), np.array([0.0, 0.0])),
], ids=["ce", "multiclass-hinge", "hinge", "mse", "l1"])
def test_other_losses_finite_for_huge_logits(make):
    """Every loss stays finite, without warnings, for logits of ±1000."""
    loss_fn, x, target = make()
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        assert math.isfinite(loss_fn(x, target))
        assert np.isfinite(loss_fn.backward()).all()


ALL_LOSSES = [
    ("CrossEntropyLoss", lambda: nn.CrossEntropyLoss(label_smoothing=0.1),
     lambda: class_problem(4, 3)),
    ("BCEWithLogitsLoss", lambda: nn.BCEWithLogitsLoss(pos_weight=np.array([1.0, 2.0, 3.0])),
     lambda: probability_targets((4, 3))),
    ("MSELoss", nn.MSELoss, lambda: regression_problem((4, 3))),
    ("L1Loss", nn.L1Loss, lambda: regression_problem((4, 3))),
    ("HingeLoss", nn.HingeLoss, lambda: binary_hinge_problem((4, 3))),
    ("HingeLoss(multiclass=True)", lambda: nn.HingeLoss(multiclass=True),
     lambda: multiclass_hinge_problem(4, 3)),
]
LOSS_IDS = [name for name, _, _ in ALL_LOSSES]


@pytest.mark.parametrize(("name", "make_loss", "make_data"), ALL_LOSSES, ids=LOSS_IDS)
def test_float32_in_float32_gradient_out(name, make_loss, make_data):
    """float32 logits → float32 gradient (the dtype never changes silently); the loss is a
    Python float, whatever the dtype, and agrees with the float64 loss to float32 precision.
    Targets in float64 do not promote the gradient."""
    x, target = make_data()
    loss_fn = make_loss()
    loss32 = loss_fn(x.astype(np.float32), target)
    grad32 = loss_fn.backward()
    loss64 = loss_fn(x, target)
    grad64 = loss_fn.backward()
    assert type(loss32) is float and type(loss64) is float
    assert grad32.dtype == np.float32 and grad32.shape == x.shape
    assert grad64.dtype == np.float64
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    np.testing.assert_allclose(grad32, grad64, rtol=1e-4, atol=1e-6)


# -- the module contract ------------------------------------------------------------------------
def test_backward_needs_a_forward_each_time():
    """backward() before forward(), or twice after one forward, is a RuntimeError."""
    loss_fn = nn.MSELoss()
    with pytest.raises(RuntimeError, match=r"MSELoss: backward\(\) needs a forward\(\) first"):
        loss_fn.backward()
    loss_fn(np.ones(3), np.zeros(3))
    loss_fn.backward()
    with pytest.raises(RuntimeError, match="needs a forward"):
        loss_fn.backward()


def test_no_grad_keeps_no_cache():
    """Under minicnn.no_grad() (evaluation) the loss is computed but nothing is cached."""
    logits, labels = class_problem(3, 4)
    loss_fn = nn.CrossEntropyLoss()
    with minicnn.no_grad():
        loss = loss_fn(logits, labels)
    assert loss == pytest.approx(cross_entropy_by_definition(logits, labels)[0])
    with pytest.raises(RuntimeError, match="needs a forward"):
        loss_fn.backward()
    loss_fn(logits, labels)
    with minicnn.no_grad():  # an evaluation in between leaves the training forward's cache
        loss_fn(logits[::-1], labels[::-1])
    np.testing.assert_array_equal(loss_fn.backward(),
                                  F.cross_entropy_backward(1.0, F.cross_entropy_forward(
                                      logits, labels)[1]))


def test_losses_are_parameterless_modules_with_reprs():
    """Losses are Modules without parameters; the repr shows the settings that differ from the
    defaults, like PyTorch's."""
    assert isinstance(nn.CrossEntropyLoss(), nn.Module)
    assert list(nn.HingeLoss(multiclass=True).parameters()) == []
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"
    assert repr(nn.CrossEntropyLoss(label_smoothing=0.1)) == (
        "CrossEntropyLoss(label_smoothing=0.1)")
    assert repr(nn.MSELoss(reduction="sum")) == "MSELoss(reduction='sum')"
    assert repr(nn.HingeLoss()) == "HingeLoss()"
    assert repr(nn.HingeLoss(multiclass=True, margin=2)) == "HingeLoss(multiclass=True, margin=2.0)"
    assert repr(nn.BCEWithLogitsLoss(pos_weight=3)) == "BCEWithLogitsLoss(pos_weight=3.0)"


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("loss_fn", "logits", "labels", "error", "message"), [
    (nn.CrossEntropyLoss(), np.zeros(4), np.zeros(4, int), ValueError,
     r"CrossEntropyLoss: expected logits of shape \(N, C\) or \(N, C, d1, ...\), "
     r"got shape \(4,\)"),
    (nn.CrossEntropyLoss(), np.zeros((2, 3, 4)), np.zeros(2, int), ValueError,
     r"CrossEntropyLoss: expected labels of shape \(2, 4\) \(N, d1, ...\) for input of shape "
     r"\(2, 3, 4\), got shape \(2,\)"),
    (nn.CrossEntropyLoss(), np.zeros((4, 3)), np.zeros(3, int), ValueError,
     r"CrossEntropyLoss: expected labels of shape \(4,\) .*, got shape \(3,\)"),
    (nn.CrossEntropyLoss(), np.zeros((4, 3)), np.zeros((4, 1), int), ValueError,
     r"CrossEntropyLoss: expected labels of shape \(4,\) .*, got shape \(4, 1\)"),
    (nn.CrossEntropyLoss(), np.zeros((4, 3)), np.zeros(4), ValueError,
     r"CrossEntropyLoss: expected class probabilities of the input's shape \(4, 3\) \(or "
     r"integer labels\), got shape \(4,\)"),
    (nn.CrossEntropyLoss(), np.zeros((4, 3)), np.array(["a"] * 4), TypeError,
     r"CrossEntropyLoss: expected integer class labels or float class probabilities, "
     r"got dtype <U1"),
    (nn.CrossEntropyLoss(), np.zeros((4, 3)), np.array([0, 1, 2, 3]), ValueError,
     r"CrossEntropyLoss: expected labels in \[0, 2\] for 3 classes \(or ignore_index=-100\), "
     r"got 3"),
    (nn.CrossEntropyLoss(label_smoothing=0.1), np.zeros((2, 3)), np.array([-1, 0]), ValueError,
     r"CrossEntropyLoss\(label_smoothing=0.1\): expected labels in \[0, 2\] .*, got -1"),
    (nn.CrossEntropyLoss(), np.zeros((4, 3), np.int64), np.zeros(4, int), TypeError,
     r"CrossEntropyLoss: expected logits of dtype float32 or float64, got int64"),
    (nn.CrossEntropyLoss(), np.zeros((0, 3)), np.zeros(0, int), ValueError,
     r"CrossEntropyLoss: expected logits with at least one element, got shape \(0, 3\)"),
    (nn.HingeLoss(multiclass=True), np.zeros(4), np.zeros(4, int), ValueError,
     r"HingeLoss\(multiclass=True\): expected scores of rank 2 \(N, C\), got shape \(4,\)"),
    (nn.HingeLoss(multiclass=True), np.zeros((2, 3)), np.array([0, 3]), ValueError,
     r"HingeLoss\(multiclass=True\): expected labels in \[0, 2\] .* from 0 to 3"),
    (nn.HingeLoss(), np.zeros(3), np.array([0, 1, 1]), ValueError,
     r"HingeLoss: expected labels in \{-1, \+1\}, got values \[0, 1\] .*2\*y - 1"),
    (nn.HingeLoss(), np.zeros((4, 1)), np.ones(4), ValueError,
     r"HingeLoss: expected labels of the same shape as the input \(4, 1\), got shape \(4,\)"),
    (nn.MSELoss(), np.zeros((4, 1)), np.zeros(4), ValueError,
     r"MSELoss: expected target of the same shape as the input \(4, 1\), got shape \(4,\)"),
    (nn.L1Loss(), np.zeros(4), np.zeros((4, 1)), ValueError,
     r"L1Loss: expected target of the same shape as the input \(4,\), got shape \(4, 1\)"),
    (nn.MSELoss(), np.zeros(3, np.int32), np.zeros(3), TypeError,
     r"MSELoss: expected input of dtype float32 or float64, got int32"),
    (nn.MSELoss(), [0.0, 1.0], np.zeros(2), TypeError,
     r"MSELoss: expected input as a numpy.ndarray, got list"),
    (nn.BCEWithLogitsLoss(), np.zeros((2, 3)), np.zeros((3, 2)), ValueError,
     r"BCEWithLogitsLoss: expected targets of the same shape as the input \(2, 3\), "
     r"got shape \(3, 2\)"),
    (nn.BCEWithLogitsLoss(), np.zeros(3), np.array([0.0, 1.0, 2.0]), ValueError,
     r"BCEWithLogitsLoss: expected targets in \[0, 1\], got values from 0.0 to 2.0"),
    (nn.BCEWithLogitsLoss(pos_weight=np.ones(4)), np.zeros((2, 3)), np.zeros((2, 3)), ValueError,
     r"BCEWithLogitsLoss\(pos_weight=<array of shape \(4,\)>\): expected pos_weight "
     r"broadcastable to the input shape \(2, 3\), got shape \(4,\)"),
])
def test_bad_inputs_raise_clear_errors(loss_fn, logits, labels, error, message):
    """Each mistake raises before any work, naming the loss, what it expected and what came."""
    with pytest.raises(error, match=message):
        loss_fn(logits, labels)


@pytest.mark.parametrize(("name", "make_loss", "make_data"), ALL_LOSSES, ids=LOSS_IDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_logits_raise(name, make_loss, make_data, bad):
    """A NaN loss must not pass silently: NaN/inf in the logits is a ValueError."""
    x, target = make_data()
    x[0, 1] = bad
    with pytest.raises(ValueError, match=r"expected finite (logits|input|scores), got 1 NaN/inf"
                                         r" value\(s\) in an array of shape \(4, 3\)") as info:
        make_loss()(x, target)
    assert str(info.value).startswith(name)


@pytest.mark.parametrize("loss_fn", [nn.MSELoss(), nn.L1Loss(), nn.BCEWithLogitsLoss()])
def test_nan_targets_raise(loss_fn):
    """NaN in float targets is caught too (it would make the loss NaN)."""
    target = np.array([0.0, np.nan, 1.0])
    with pytest.raises(ValueError, match=rf"{type(loss_fn).__name__}: expected finite "
                                         r"targets?, got 1 NaN/inf value"):
        loss_fn(np.zeros(3), target)


@pytest.mark.parametrize(("make", "message"), [
    (lambda: nn.CrossEntropyLoss(label_smoothing=1.5),
     r"CrossEntropyLoss: expected label_smoothing in \[0, 1\], got 1.5"),
    (lambda: nn.CrossEntropyLoss(label_smoothing=-0.1),
     r"CrossEntropyLoss: expected label_smoothing in \[0, 1\], got -0.1"),
    (lambda: nn.MSELoss(reduction="average"),
     r"MSELoss: expected reduction 'mean', 'sum' or 'none', got 'average'"),
    (lambda: nn.HingeLoss(margin=0),
     r"HingeLoss: expected a finite margin > 0, got 0"),
])
def test_bad_settings_raise_at_construction(make, message):
    """Settings are checked when the loss is built, not at the first batch."""
    with pytest.raises(ValueError, match=message):
        make()


def test_functional_errors_name_the_function():
    """Called directly, the functional losses name themselves in their messages."""
    with pytest.raises(ValueError, match=r"cross_entropy: expected logits of shape \(N, C\)"):
        F.cross_entropy_forward(np.zeros(3), np.zeros(3, int))
    with pytest.raises(ValueError, match=r"multiclass_hinge_loss: expected labels in \[0, 1\]"):
        F.multiclass_hinge_loss_forward(np.zeros((2, 2)), np.array([0, 5]))
