"""Tests of the loss options and target shapes of issue 16 (PyTorch's semantics as the spec).

What is checked, and how:

* values: every loss (CrossEntropyLoss with weight / ignore_index / label smoothing / class
  probabilities / per-pixel logits, NLLLoss, BCELoss, BCEWithLogitsLoss, HuberLoss,
  SmoothL1Loss, and the older ones) against a plain Python loop over the samples written from
  the definition in PyTorch's documentation, under the three reductions: ``"none"`` is the
  per-item array, ``"sum"`` its sum, ``"mean"`` PyTorch's divisor (Σ w_y over the kept labels
  for class weights, the item count otherwise);
* gradients: ``backward(dout)`` against float64 central differences of Σ dout·loss, for every
  loss and option, with a random ``dout`` of the per-item shape for ``"none"``;
* edge cases: every label ignored (mean NaN, gradient 0), BCELoss at p = 0 or 1 (loss 100,
  gradient ±10¹² as PyTorch), Huber = β·SmoothL1, SmoothL1 with β = 0 is L1, (N,) targets for
  (N, 1) logits in the BCE losses;
* dtypes: float32 in gives a float32 per-item loss and gradient;
* errors: a ValueError/TypeError naming the loss for a label out of range, a target of the
  wrong shape or dtype, probabilities not matching the logits' shape, a wrong class-weight
  shape, a bad reduction, a negative delta/beta, and a dout of the wrong shape for "none".
"""

import math

import numpy as np
import pytest

from minicnn import nn

pytestmark = pytest.mark.usefixtures("each_engine")

REDUCTIONS = ("mean", "sum", "none")
TOL = 1e-7


# -- references: loops over samples, from the definitions ------------------------------------
def log_softmax_row(z):
    top = max(z)
    total = sum(math.exp(v - top) for v in z)
    return [v - top - math.log(total) for v in z]


def cross_entropy_reference(logits, target, weight=None, ignore_index=-100, eps=0.0):
    """Per-item losses (one per sample and position) and the mean's divisor, PyTorch's rules.

    Labels: ℓ = (1 − ε)·(−w_y·s_y) + (ε/C)·(−Σ_c w_c·s_c), 0 if ignored; divisor Σ w_y (kept).
    Probabilities q: ℓ = −Σ_c w_c·((1 − ε)·q_c + ε/C)·s_c; divisor the item count.
    """
    c = logits.shape[1]
    w = np.ones(c) if weight is None else weight
    z = np.moveaxis(logits, 1, -1)            # (N, d1, ..., C)
    probabilities = np.issubdtype(np.asarray(target).dtype, np.floating)
    q = np.moveaxis(target, 1, -1) if probabilities else None
    per_item, divisor = np.zeros(z.shape[:-1]), 0.0
    for index in np.ndindex(*z.shape[:-1]):
        s = log_softmax_row(list(z[index]))
        if probabilities:
            per_item[index] = -sum(w[k] * ((1 - eps) * q[index][k] + eps / c) * s[k]
                                   for k in range(c))
            divisor += 1
            continue
        y = target[index]
        if y == ignore_index:
            continue
        per_item[index] = ((1 - eps) * -w[y] * s[y]
                           + eps / c * -sum(w[k] * s[k] for k in range(c)))
        divisor += w[y]
    return per_item, divisor


def nll_reference(log_probs, labels, weight=None, ignore_index=-100):
    w = np.ones(log_probs.shape[1]) if weight is None else weight
    per_item, divisor = np.zeros(len(labels)), 0.0
    for i, y in enumerate(labels):
        if y != ignore_index:
            per_item[i] = -w[y] * log_probs[i, y]
            divisor += w[y]
    return per_item, divisor


def elementwise_reference(function, *arrays):
    """One Python call per element; the divisor is the element count."""
    flat = [np.broadcast_to(a, arrays[0].shape).reshape(-1) for a in arrays]
    values = [function(*(float(a[i]) for a in flat)) for i in range(flat[0].size)]
    return np.array(values).reshape(arrays[0].shape), arrays[0].size


def bce(p, y, w=1.0):
    return -w * (y * max(math.log(p) if p > 0 else -math.inf, -100)
                 + (1 - y) * max(math.log(1 - p) if p < 1 else -math.inf, -100))


def bce_with_logits(z, y):
    sigma = 1 / (1 + math.exp(-z))
    return -(y * math.log(sigma) + (1 - y) * math.log(1 - sigma))


def huber(d, delta):
    return 0.5 * d * d if abs(d) < delta else delta * (abs(d) - 0.5 * delta)


def smooth_l1(d, beta):
    return 0.5 * d * d / beta if abs(d) < beta else abs(d) - 0.5 * beta


# -- cases: (id, make(reduction), input, target, reference() -> (per-item, divisor)) ---------
RNG = np.random.default_rng(7)
LOGITS = RNG.standard_normal((5, 4))
LABELS = np.array([0, 3, -100, 2, 1])
PIXEL_LOGITS = RNG.standard_normal((2, 3, 2, 3))
PIXEL_LABELS = RNG.integers(0, 3, size=(2, 2, 3))
PIXEL_LABELS[0, 1, 1] = 255
CLASS_WEIGHT = np.array([1.0, 2.0, 0.5, 3.0])
PROBABILITIES = RNG.dirichlet(np.ones(4), size=5)
PIXEL_PROBABILITIES = np.moveaxis(RNG.dirichlet(np.ones(3), size=(2, 2, 3)), -1, 1)
PROBS = RNG.uniform(0.05, 0.95, size=(4, 3))
BINARY = RNG.uniform(0, 1, size=(4, 3))
ELEMENT_WEIGHT = RNG.uniform(0.5, 2.0, size=3)
SCORES = RNG.standard_normal((4, 3)) * 2
# regression inputs whose differences stay at least 0.1 from 0 and from the thresholds ±0.5, ±1
DIFF = np.array([[-2.3, -0.8, -0.3], [0.2, 0.7, 1.6], [-1.4, 0.35, 2.2], [0.15, -0.65, -0.12]])
REG_TARGET = RNG.standard_normal((4, 3))

CASES = [
    ("ce", lambda r: nn.CrossEntropyLoss(reduction=r), LOGITS, np.abs(LABELS) % 4,
     lambda: cross_entropy_reference(LOGITS, np.abs(LABELS) % 4)),
    ("ce-weight-ignore", lambda r: nn.CrossEntropyLoss(weight=CLASS_WEIGHT, reduction=r),
     LOGITS, LABELS, lambda: cross_entropy_reference(LOGITS, LABELS, CLASS_WEIGHT)),
    ("ce-ignore-smoothing", lambda r: nn.CrossEntropyLoss(label_smoothing=0.3, reduction=r),
     LOGITS, LABELS, lambda: cross_entropy_reference(LOGITS, LABELS, eps=0.3)),
    ("ce-weight-ignore-smoothing",
     lambda r: nn.CrossEntropyLoss(weight=CLASS_WEIGHT, label_smoothing=0.2, reduction=r),
     LOGITS, LABELS, lambda: cross_entropy_reference(LOGITS, LABELS, CLASS_WEIGHT, eps=0.2)),
    ("ce-ignore-index-1", lambda r: nn.CrossEntropyLoss(ignore_index=1, reduction=r),
     LOGITS, np.abs(LABELS) % 4, lambda: cross_entropy_reference(LOGITS, np.abs(LABELS) % 4,
                                                                 ignore_index=1)),
    ("ce-probabilities-weight-smoothing",
     lambda r: nn.CrossEntropyLoss(weight=CLASS_WEIGHT, label_smoothing=0.1, reduction=r),
     LOGITS, PROBABILITIES,
     lambda: cross_entropy_reference(LOGITS, PROBABILITIES, CLASS_WEIGHT, eps=0.1)),
    ("ce-per-pixel-ignore-smoothing",
     lambda r: nn.CrossEntropyLoss(ignore_index=255, label_smoothing=0.1, reduction=r),
     PIXEL_LOGITS, PIXEL_LABELS,
     lambda: cross_entropy_reference(PIXEL_LOGITS, PIXEL_LABELS, ignore_index=255, eps=0.1)),
    ("ce-per-pixel-probabilities", lambda r: nn.CrossEntropyLoss(reduction=r), PIXEL_LOGITS,
     PIXEL_PROBABILITIES, lambda: cross_entropy_reference(PIXEL_LOGITS, PIXEL_PROBABILITIES)),
    ("nll-weight-ignore", lambda r: nn.NLLLoss(weight=CLASS_WEIGHT, reduction=r),
     np.log(PROBABILITIES), LABELS, lambda: nll_reference(np.log(PROBABILITIES), LABELS,
                                                          CLASS_WEIGHT)),
    ("bce", lambda r: nn.BCELoss(reduction=r), PROBS, BINARY,
     lambda: elementwise_reference(bce, PROBS, BINARY)),
    ("bce-weight", lambda r: nn.BCELoss(weight=ELEMENT_WEIGHT, reduction=r), PROBS, BINARY,
     lambda: elementwise_reference(bce, PROBS, BINARY, ELEMENT_WEIGHT)),
    ("bce-with-logits", lambda r: nn.BCEWithLogitsLoss(reduction=r), SCORES, BINARY,
     lambda: elementwise_reference(bce_with_logits, SCORES, BINARY)),
    ("huber", lambda r: nn.HuberLoss(reduction=r), REG_TARGET + DIFF, REG_TARGET,
     lambda: elementwise_reference(lambda d: huber(d, 1.0), DIFF)),
    ("huber-delta-0.5", lambda r: nn.HuberLoss(reduction=r, delta=0.5), REG_TARGET + DIFF,
     REG_TARGET, lambda: elementwise_reference(lambda d: huber(d, 0.5), DIFF)),
    ("smooth-l1-beta-0.5", lambda r: nn.SmoothL1Loss(reduction=r, beta=0.5), REG_TARGET + DIFF,
     REG_TARGET, lambda: elementwise_reference(lambda d: smooth_l1(d, 0.5), DIFF)),
    ("smooth-l1-beta-0", lambda r: nn.SmoothL1Loss(reduction=r, beta=0.0), REG_TARGET + DIFF,
     REG_TARGET, lambda: elementwise_reference(abs, DIFF)),
    ("mse", lambda r: nn.MSELoss(reduction=r), REG_TARGET + DIFF, REG_TARGET,
     lambda: elementwise_reference(lambda d: d * d, DIFF)),
    ("l1", lambda r: nn.L1Loss(reduction=r), REG_TARGET + DIFF, REG_TARGET,
     lambda: elementwise_reference(abs, DIFF)),
    ("hinge", lambda r: nn.HingeLoss(reduction=r), DIFF, np.where(DIFF > 0, 1.0, -1.0) * -1,
     lambda: elementwise_reference(lambda s, y: max(0.0, 1 - y * s), DIFF,
                                   np.where(DIFF > 0, 1.0, -1.0) * -1)),
]
CASE_IDS = [case[0] for case in CASES]


def reduced(per_item, divisor, reduction):
    if reduction == "none":
        return per_item
    total = per_item.sum()
    return total if reduction == "sum" else total / divisor


def numerical_gradient(loss_fn, x, target, dout, h=1e-6):
    """d(Σ dout·loss)/dx by central differences, every element (the shapes are small)."""
    grad = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        shifted = x.copy()
        shifted[index] += h
        up = np.sum(dout * loss_fn(shifted, target))
        shifted[index] -= 2 * h
        down = np.sum(dout * loss_fn(shifted, target))
        grad[index] = (up - down) / (2 * h)
    return grad


def upstream(loss):
    """A random dout of the loss's per-item shape for "none", a number otherwise."""
    if isinstance(loss, np.ndarray):
        return np.random.default_rng(3).standard_normal(loss.shape)
    return 0.7


# -- values and gradients ------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("case", "make", "x", "target", "reference"), CASES, ids=CASE_IDS)
def test_loss_matches_loop_by_definition(case, make, x, target, reference, reduction):
    """forward = the loop over samples from the definition, under each reduction."""
    loss = make(reduction)(x, target)
    expected = reduced(*reference(), reduction)
    if reduction == "none":
        assert isinstance(loss, np.ndarray) and loss.dtype == np.float64
        assert loss.shape == np.shape(expected)
        np.testing.assert_allclose(loss, expected, rtol=1e-12, atol=1e-14)
    else:
        assert isinstance(loss, float)
        assert loss == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("case", "make", "x", "target", "reference"), CASES, ids=CASE_IDS)
def test_backward_matches_central_differences(case, make, x, target, reference, reduction):
    """backward(dout) = d(Σ dout·loss)/dinput by central differences, float64."""
    loss_fn = make(reduction)
    dout = upstream(loss_fn(x, target))
    analytic = loss_fn.backward(dout)
    assert analytic.shape == x.shape and analytic.dtype == np.float64
    numeric = numerical_gradient(loss_fn, x, target, dout)
    np.testing.assert_allclose(analytic, numeric, rtol=TOL, atol=TOL)


@pytest.mark.parametrize(("case", "make", "x", "target", "reference"), CASES, ids=CASE_IDS)
def test_float32_in_float32_out(case, make, x, target, reference):
    """float32 input: the per-item loss and the gradient stay float32, close to float64's."""
    loss_fn = make("none")
    if np.issubdtype(np.asarray(target).dtype, np.floating):
        target = target.astype(np.float32)
    loss = loss_fn(x.astype(np.float32), target)
    assert loss.dtype == np.float32
    grad = loss_fn.backward(np.ones_like(loss))
    assert grad.dtype == np.float32
    loss_fn64 = make("none")
    loss_fn64(x, target)
    np.testing.assert_allclose(grad, loss_fn64.backward(np.ones(loss.shape)), rtol=1e-4,
                               atol=1e-5)
    assert isinstance(make("mean")(x.astype(np.float32), target), float)


# -- edge cases ------------------------------------------------------------------------------------
def test_every_label_ignored_gives_nan_mean_and_zero_gradient():
    """PyTorch: the mean over no kept label is 0/0 = NaN; the sum is 0; nothing to learn."""
    labels = np.full(5, -100)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    assert math.isnan(loss_fn(LOGITS, labels))
    np.testing.assert_array_equal(loss_fn.backward(), np.zeros_like(LOGITS))
    assert nn.CrossEntropyLoss(reduction="sum")(LOGITS, labels) == 0.0


def test_ignored_labels_get_no_gradient():
    loss_fn = nn.CrossEntropyLoss(weight=CLASS_WEIGHT, label_smoothing=0.2)
    loss_fn(LOGITS, LABELS)
    grad = loss_fn.backward()
    np.testing.assert_array_equal(grad[2], 0.0)
    assert np.all(grad[[0, 1, 3, 4]] != 0)


def test_bce_at_zero_and_one_is_clamped_like_pytorch():
    """log clamped at −100: a confident wrong p costs 100; the gradient w(p − y)/max(p(1 − p),
    1e-12) is −1e12 at (p = 0, y = 1), +1e12 at (p = 1, y = 0) and 0 where p = y."""
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.5])
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    loss_fn = nn.BCELoss(reduction="none")
    np.testing.assert_allclose(loss_fn(p, y), [100.0, 100.0, 0.0, 0.0, math.log(2)])
    np.testing.assert_allclose(loss_fn.backward(np.ones(5)), [-1e12, 1e12, 0.0, 0.0, -2.0])


def test_huber_is_beta_times_smooth_l1():
    """HuberLoss(delta=β) = β · SmoothL1Loss(beta=β), values and gradients."""
    x, target = REG_TARGET + DIFF, REG_TARGET
    for beta in (0.5, 1.0, 2.0):
        huber_fn, smooth_fn = nn.HuberLoss(delta=beta), nn.SmoothL1Loss(beta=beta)
        assert huber_fn(x, target) == pytest.approx(beta * smooth_fn(x, target), rel=1e-12)
        np.testing.assert_allclose(huber_fn.backward(), beta * smooth_fn.backward(), rtol=1e-12)


@pytest.mark.parametrize("make", [nn.BCEWithLogitsLoss, nn.BCELoss])
def test_single_logit_targets_of_shape_n(make):
    """Not PyTorch: (N,) targets for (N, 1) outputs are viewed as (N, 1); same loss, gradient
    of the outputs' shape."""
    x = PROBS[:, :1]
    y = BINARY[:, 0]
    flat_fn, column_fn = make(), make()
    assert flat_fn(x, y) == column_fn(x, y[:, None])
    grad = flat_fn.backward()
    assert grad.shape == (4, 1)
    np.testing.assert_array_equal(grad, column_fn.backward())
    assert make(reduction="none")(x, y).shape == (4, 1)


def test_class_weight_is_a_buffer_with_pytorchs_key():
    loss_fn = nn.CrossEntropyLoss(weight=CLASS_WEIGHT)
    assert list(loss_fn.state_dict()) == ["weight"]
    assert list(nn.CrossEntropyLoss().state_dict()) == []
    assert repr(loss_fn) == "CrossEntropyLoss(weight=<array of shape (4,)>)"
    assert repr(nn.NLLLoss(ignore_index=0, reduction="sum")) == \
        "NLLLoss(ignore_index=0, reduction='sum')"
    assert repr(nn.HuberLoss(delta=2.0)) == "HuberLoss(delta=2.0)"
    assert repr(nn.SmoothL1Loss(beta=0.0)) == "SmoothL1Loss(beta=0.0)"


def test_nll_of_log_softmax_is_cross_entropy():
    """NLLLoss(log softmax(z)) = CrossEntropyLoss(z), with weights and an ignored label."""
    log_probs = LOGITS - np.log(np.exp(LOGITS).sum(axis=1, keepdims=True))
    nll = nn.NLLLoss(weight=CLASS_WEIGHT)(log_probs, LABELS)
    assert nll == pytest.approx(nn.CrossEntropyLoss(weight=CLASS_WEIGHT)(LOGITS, LABELS),
                                rel=1e-12)


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("loss_fn", "x", "target", "error", "message"), [
    (nn.CrossEntropyLoss(), LOGITS, np.array([0, 1, 4, 2, 1]), ValueError,
     r"^CrossEntropyLoss: expected labels in \[0, 3\] for 4 classes \(or ignore_index=-100\), "
     r"got 4"),
    (nn.CrossEntropyLoss(ignore_index=255), PIXEL_LOGITS, np.full((2, 2, 3), -100), ValueError,
     r"^CrossEntropyLoss\(ignore_index=255\): expected labels in \[0, 2\] .*got -100"),
    (nn.CrossEntropyLoss(), PIXEL_LOGITS, np.zeros((2, 3, 2), int), ValueError,
     r"^CrossEntropyLoss: expected labels of shape \(2, 2, 3\) \(N, d1, ...\) for input of "
     r"shape \(2, 3, 2, 3\), got shape \(2, 3, 2\)"),
    (nn.CrossEntropyLoss(), LOGITS, PROBABILITIES[:, :3], ValueError,
     r"^CrossEntropyLoss: expected class probabilities of the input's shape \(5, 4\)"),
    (nn.CrossEntropyLoss(), LOGITS, np.zeros(5, complex), TypeError,
     r"^CrossEntropyLoss: expected integer class labels or float class probabilities, "
     r"got dtype complex128"),
    (nn.CrossEntropyLoss(weight=np.ones(3)), LOGITS, np.zeros(5, int), ValueError,
     r"^CrossEntropyLoss\(weight=<array of shape \(3,\)>\): expected weight of shape \(4,\), "
     r"one per class, got shape \(3,\)"),
    (nn.NLLLoss(), np.log(PROBABILITIES), PROBABILITIES, TypeError,
     r"^NLLLoss: expected integer class labels, got dtype float64"),
    (nn.NLLLoss(), np.log(PROBABILITIES), np.array([0, 1, 2, 3, 9]), ValueError,
     r"^NLLLoss: expected labels in \[0, 3\] .*got 9"),
    (nn.BCELoss(), PROBS + 1, BINARY, ValueError,
     r"^BCELoss: expected probabilities in \[0, 1\], got values from"),
    (nn.BCELoss(), PROBS, BINARY[:, :2], ValueError,
     r"^BCELoss: expected targets of the same shape as the input \(4, 3\), got shape \(4, 2\)"),
    (nn.BCELoss(), PROBS[:, :1], BINARY[:3, 0], ValueError,
     r"^BCELoss: expected targets of the same shape as the input \(4, 1\) \(or \(4,\) for one "
     r"output per sample\), got shape \(3,\)"),
    (nn.BCELoss(weight=np.ones(4)), PROBS, BINARY, ValueError,
     r"^BCELoss\(weight=<array of shape \(4,\)>\): expected weight broadcastable"),
    (nn.BCELoss(weight=-np.ones(3)), PROBS, BINARY, ValueError,
     r"^BCELoss\(weight=<array of shape \(3,\)>\): expected weight >= 0, got a minimum of -1"),
    (nn.BCEWithLogitsLoss(), SCORES, BINARY.astype(str), TypeError,
     r"^BCEWithLogitsLoss: expected real-valued targets, got dtype <U"),
    (nn.HuberLoss(), SCORES, SCORES[:2], ValueError,
     r"^HuberLoss: expected target of the same shape as the input \(4, 3\), got shape \(2, 3\)"),
])
def test_bad_targets_raise_naming_the_loss(loss_fn, x, target, error, message):
    with pytest.raises(error, match=message):
        loss_fn(x, target)


@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda: nn.HuberLoss(delta=-1.0), ValueError,
     r"^HuberLoss: expected a finite delta > 0, got -1.0"),
    (lambda: nn.HuberLoss(delta=0.0), ValueError, r"^HuberLoss: expected a finite delta > 0"),
    (lambda: nn.SmoothL1Loss(beta=-0.5), ValueError,
     r"^SmoothL1Loss: expected a finite beta >= 0, got -0.5"),
    (lambda: nn.NLLLoss(reduction="avg"), ValueError,
     r"^NLLLoss: expected reduction 'mean', 'sum' or 'none', got 'avg'"),
    (lambda: nn.BCELoss(reduction=None), ValueError,
     r"^BCELoss: expected reduction 'mean', 'sum' or 'none', got None"),
    (lambda: nn.CrossEntropyLoss(ignore_index=1.5), TypeError,
     r"^CrossEntropyLoss: expected ignore_index as an int, got 1.5"),
    (lambda: nn.CrossEntropyLoss(weight=np.ones((2, 2))), ValueError,
     r"^CrossEntropyLoss: expected weight of shape \(C,\), one per class, got shape \(2, 2\)"),
])
def test_bad_settings_raise_at_construction(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_none_reduction_backward_needs_dout_of_the_loss_shape():
    """"none": dout is dL/dℓ per item, an array of the loss's shape and dtype (PyTorch needs a
    gradient for a non-scalar too); the cache survives the mistake."""
    loss_fn = nn.CrossEntropyLoss(reduction="none")
    loss = loss_fn(LOGITS, np.abs(LABELS) % 4)
    with pytest.raises(TypeError, match=r"^CrossEntropyLoss\(reduction='none'\): expected a "
                                        r"gradient as a numpy.ndarray, got float"):
        loss_fn.backward()
    with pytest.raises(ValueError, match=r"expected a gradient of shape \(5,\)"):
        loss_fn.backward(np.ones(4))
    assert loss_fn.backward(np.ones_like(loss)).shape == LOGITS.shape
