"""Tests of RMSprop, AdamW and Adagrad against loop-by-definition references.

Each optimizer runs several steps on the quadratic L(w) = ½·Σ a·(w − c)² of ``test_optim`` (its
gradient written into ``p.grad`` before each step) and is compared with PyTorch's published
update written out element by element in plain Python floats, with weight decay, momentum,
centering, amsgrad and lr decay. Also: AdamW's decay is decoupled (it differs from Adam's L2 and
shrinks w by exactly (1 − ηλ) when the gradient is zero); PyTorch's defaults and state-dict
keys; bad hyperparameters raise a ValueError naming the optimizer, the argument and the range.
(The shared checks -- frozen parameters, float32, in-place updates, state-dict round trips --
run on these optimizers through ``OPTIMIZERS`` in ``test_optim.py``.)
"""

import math

import numpy as np
import pytest
from test_optim import CENTRE, CURVATURE, START, make_param, run

from minicnn import optim

STEPS = 6


def grad_at(i, w):
    return CURVATURE[i] * (w - CENTRE[i])


def reference(update, steps=STEPS):
    """Run ``update(w, g, state, t) -> w`` on each coordinate alone, in Python floats."""
    out = []
    for i, w in enumerate(START.tolist()):
        state = {}
        for t in range(1, steps + 1):
            w = update(w, grad_at(i, w), state, t)
        out.append(w)
    return np.array(out)


# -- RMSprop --------------------------------------------------------------------------------
@pytest.mark.parametrize(("alpha", "weight_decay", "momentum", "centered"), [
    (0.99, 0.0, 0.0, False), (0.9, 0.1, 0.0, False), (0.9, 0.0, 0.8, False),
    (0.8, 0.05, 0.9, True), (0.9, 0.0, 0.0, True)])
def test_rmsprop_matches_definition(alpha, weight_decay, momentum, centered):
    lr, eps = 0.01, 1e-8

    def update(w, g, s, t):
        g = g + weight_decay * w
        s["sq"] = alpha * s.get("sq", 0.0) + (1 - alpha) * g * g
        if centered:
            s["m"] = alpha * s.get("m", 0.0) + (1 - alpha) * g
            d = math.sqrt(s["sq"] - s["m"] ** 2) + eps
        else:
            d = math.sqrt(s["sq"]) + eps
        if momentum:
            s["b"] = momentum * s.get("b", 0.0) + g / d
            return w - lr * s["b"]
        return w - lr * g / d

    p = make_param()
    opt = optim.RMSprop([p], lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered)
    run(opt, [p], STEPS)
    np.testing.assert_allclose(p.data, reference(update), rtol=1e-13, atol=1e-15)
    keys = {"step", "square_avg"} | ({"momentum_buffer"} if momentum else set()) | \
        ({"grad_avg"} if centered else set())
    assert set(opt.state[p]) == keys and opt.state[p]["step"] == STEPS


# -- AdamW ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("weight_decay", "amsgrad"), [(1e-2, False), (0.3, False), (0.3, True),
                                                       (0.0, False)])
def test_adamw_matches_definition(weight_decay, amsgrad):
    lr, (b1, b2), eps = 0.1, (0.8, 0.9), 1e-8

    def update(w, g, s, t):
        w = w - lr * weight_decay * w  # decoupled, with the gradient taken before the decay
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
        s["vmax"] = max(s.get("vmax", 0.0), s["v"])
        v = s["vmax"] if amsgrad else s["v"]
        return w - lr * (s["m"] / (1 - b1**t)) / (math.sqrt(v / (1 - b2**t)) + eps)

    p = make_param()
    run(optim.AdamW([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=weight_decay,
                    amsgrad=amsgrad), [p], STEPS)
    np.testing.assert_allclose(p.data, reference(update), rtol=1e-13, atol=1e-15)


def test_adamw_decay_is_decoupled_and_not_adams():
    """With zero gradient, AdamW shrinks w by exactly (1 − ηλ) a step and Adam's L2 term does
    something else (it goes through the 1/√v̂ normalisation); with λ = 0 the two are equal."""
    p = make_param()
    opt = optim.AdamW([p], lr=0.1, weight_decay=0.5)
    for _ in range(3):
        opt.zero_grad()
        opt.step()
    np.testing.assert_allclose(p.data, START * (1 - 0.1 * 0.5) ** 3, rtol=1e-14)

    p, q = make_param(), make_param()
    run(optim.AdamW([p], lr=0.1, weight_decay=0.5), [p], 3)
    run(optim.Adam([q], lr=0.1, weight_decay=0.5), [q], 3)
    assert not np.allclose(p.data, q.data)
    p, q = make_param(), make_param()
    run(optim.AdamW([p], lr=0.1, weight_decay=0.0), [p], 3)
    run(optim.Adam([q], lr=0.1), [q], 3)
    np.testing.assert_array_equal(p.data, q.data)


# -- Adagrad --------------------------------------------------------------------------------
@pytest.mark.parametrize(("lr_decay", "weight_decay", "initial"), [
    (0.0, 0.0, 0.0), (0.1, 0.0, 0.0), (0.05, 0.1, 0.5)])
def test_adagrad_matches_definition(lr_decay, weight_decay, initial):
    lr, eps = 0.1, 1e-10

    def update(w, g, s, t):
        g = g + weight_decay * w
        s["sum"] = s.get("sum", initial) + g * g
        return w - lr / (1 + (t - 1) * lr_decay) * g / (math.sqrt(s["sum"]) + eps)

    p = make_param()
    opt = optim.Adagrad([p], lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial, eps=eps)
    run(opt, [p], STEPS)
    np.testing.assert_allclose(p.data, reference(update), rtol=1e-13, atol=1e-15)
    assert set(opt.state[p]) == {"step", "sum"}


# -- defaults, layout, errors ---------------------------------------------------------------
def test_pytorch_defaults_and_group_keys():
    p = make_param()
    assert optim.RMSprop([p]).state_dict()["param_groups"][0] == {
        "lr": 0.01, "momentum": 0.0, "alpha": 0.99, "eps": 1e-8, "centered": False,
        "weight_decay": 0.0, "params": [0]}
    assert optim.AdamW([p]).state_dict()["param_groups"][0] == {
        "lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2,
        "amsgrad": False, "params": [0]}
    assert optim.Adagrad([p]).state_dict()["param_groups"][0] == {
        "lr": 0.01, "lr_decay": 0.0, "eps": 1e-10, "weight_decay": 0.0,
        "initial_accumulator_value": 0.0, "params": [0]}


@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda p: optim.RMSprop(p, lr=-1), ValueError, r"RMSprop: expected lr >= 0.0, got -1"),
    (lambda p: optim.RMSprop(p, alpha=-0.1), ValueError, r"RMSprop: expected alpha >= 0.0"),
    (lambda p: optim.RMSprop(p, momentum=-1), ValueError, r"RMSprop: expected momentum >= 0"),
    (lambda p: optim.RMSprop(p, centered=1), TypeError,
     r"RMSprop: expected centered True or False, got 1"),
    (lambda p: optim.AdamW(p, betas=(0.9, 1.0)), ValueError,
     r"AdamW: expected betas\[1\] in \[0.0, 1.0\), got 1.0"),
    (lambda p: optim.AdamW(p, weight_decay=-1e-2), ValueError,
     r"AdamW: expected weight_decay >= 0.0"),
    (lambda p: optim.Adagrad(p, lr_decay=-1), ValueError, r"Adagrad: expected lr_decay >= 0"),
    (lambda p: optim.Adagrad(p, initial_accumulator_value=-0.5), ValueError,
     r"Adagrad: expected initial_accumulator_value >= 0.0, got -0.5"),
    (lambda p: optim.Adagrad(p, eps="small"), TypeError, r"Adagrad: expected eps as a number"),
])
def test_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make([make_param()])


def test_loading_adam_state_into_adagrad_fails():
    p = make_param()
    adam = optim.Adam([p])
    run(adam, [p], 1)
    with pytest.raises(ValueError, match=r"Adagrad.load_state_dict: parameter group 0: "
                                         r"expected the hyperparameters"):
        optim.Adagrad([make_param()]).load_state_dict(adam.state_dict())
