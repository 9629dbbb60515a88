"""Tests of ExponentialLR, LambdaLR, LinearLR, SequentialLR, OneCycleLR, ReduceLROnPlateau.

Each schedule's lr sequence over many steps against a reference written from PyTorch's
published formulas (its recursive forms where PyTorch uses them: ExponentialLR, LinearLR), to
1e-12; OneCycleLR's momentum / Adam β₁ cycle; ReduceLROnPlateau's patience, cooldown, min_lr on a
hand-traced metric sequence; state-dict round trips continue identically; bad arguments and
stepping OneCycleLR past total_steps raise a ValueError naming the schedule; fit() steps a
ReduceLROnPlateau with the validation loss.
"""

import math

import numpy as np
import pytest
from test_optim import lr_sequence, make_param, two_group_sgd

from minicnn import optim

BASES = np.array([0.1, 1.0])  # two_group_sgd()'s two learning rates


def test_exponential_lr_matches_pytorchs_recursion():
    sched = optim.ExponentialLR(two_group_sgd(), gamma=0.9)
    expected, lr = [], BASES.copy()
    for _ in range(30):
        expected.append(lr.copy())
        lr = lr * 0.9
    np.testing.assert_allclose(lr_sequence(sched, 30), expected, rtol=1e-12)


def test_lambda_lr_one_function_or_one_per_group():
    sched = optim.LambdaLR(two_group_sgd(), lambda t: 1 / (t + 1))
    t = np.arange(10)[:, None]
    np.testing.assert_allclose(lr_sequence(sched, 10), BASES / (t + 1), rtol=1e-15)
    sched = optim.LambdaLR(two_group_sgd(), [lambda t: 0.5, lambda t: 0.9**t])
    expected = np.column_stack([0.05 * np.ones(10), 0.9 ** np.arange(10)])
    np.testing.assert_allclose(lr_sequence(sched, 10), expected, rtol=1e-12)


@pytest.mark.parametrize(("start", "end", "total"), [(1 / 3, 1.0, 5), (0.1, 0.5, 7)])
def test_linear_lr_matches_pytorchs_recursion(start, end, total):
    sched = optim.LinearLR(two_group_sgd(), start_factor=start, end_factor=end,
                           total_iters=total)
    lr, expected = BASES * start, []
    for t in range(30):
        if 0 < t <= total:
            lr = lr * (1 + (end - start) / (total * start + (t - 1) * (end - start)))
        expected.append(lr.copy())
    np.testing.assert_allclose(lr_sequence(sched, 30), expected, rtol=1e-12)


def test_sequential_warmup_then_cosine():
    opt = two_group_sgd()
    warmup = optim.LinearLR(opt, start_factor=0.1, total_iters=5)
    cosine = optim.CosineAnnealingLR(opt, T_max=20)
    sched = optim.SequentialLR(opt, [warmup, cosine], milestones=[5])
    expected = [BASES * (0.1 + 0.9 * min(t, 5) / 5) if t < 5 else
                BASES * (1 + math.cos(math.pi * (t - 5) / 20)) / 2 for t in range(25)]
    np.testing.assert_allclose(lr_sequence(sched, 25), expected, rtol=1e-12)


def one_cycle_reference(max_lr, T, pct, div, final_div, three_phase, strategy):
    def anneal(a, b, p):
        return b + (a - b) / 2 * (math.cos(math.pi * p) + 1) if strategy == "cos" else \
            a + (b - a) * p
    initial, low = max_lr / div, max_lr / div / final_div
    if three_phase:
        phases = [(pct * T - 1, initial, max_lr, 0.95, 0.85),
                  (2 * pct * T - 2, max_lr, initial, 0.85, 0.95), (T - 1, initial, low, .95, .95)]
    else:
        phases = [(pct * T - 1, initial, max_lr, 0.95, 0.85), (T - 1, max_lr, low, 0.85, 0.95)]
    out = []
    for t in range(T):
        start = 0
        for end, a, b, ma, mb in phases:
            if t <= end or end == phases[-1][0]:
                p = (t - start) / (end - start)
                out.append((anneal(a, b, p), anneal(ma, mb, p)))
                break
            start = end
    return np.array(out)


@pytest.mark.parametrize(("three_phase", "strategy", "pct"), [
    (False, "cos", 0.3), (True, "cos", 0.3), (False, "linear", 0.25)])
def test_one_cycle_lr_and_momentum(three_phase, strategy, pct):
    T = 30
    expected = one_cycle_reference(1.0, T, pct, 25.0, 1e4, three_phase, strategy)
    for make, key in ((lambda p: optim.SGD(p, lr=0.1, momentum=0.9), "momentum"),
                      (lambda p: optim.AdamW(p), "betas")):
        opt = make([make_param()])
        sched = optim.OneCycleLR(opt, max_lr=1.0, total_steps=T, pct_start=pct,
                                 anneal_strategy=strategy, three_phase=three_phase)
        got = []
        for _ in range(T):
            group = opt.param_groups[0]
            got.append((group["lr"], group[key][0] if key == "betas" else group[key]))
            sched.step()
        np.testing.assert_allclose(got, expected, rtol=1e-12)
        assert opt.param_groups[0]["betas" if key == "betas" else "lr"] is not None


def test_one_cycle_refuses_stepping_past_total_steps():
    sched = optim.OneCycleLR(optim.SGD([make_param()], lr=0.1, momentum=0.9), max_lr=1.0,
                             epochs=2, steps_per_epoch=3)
    for _ in range(6):
        sched.step()
    with pytest.raises(ValueError, match=r"OneCycleLR: tried to step 8 times; total_steps is 6"):
        sched.step()
    assert sched.last_epoch == 6  # unchanged by the refused step


def plateau_lrs(sched, metrics):
    out = []
    for m in metrics:
        sched.step(m)
        out.append(sched.get_last_lr()[0])
    return out


def test_reduce_on_plateau_patience_cooldown_min_lr():
    opt = optim.SGD([make_param()], lr=0.1)
    sched = optim.ReduceLROnPlateau(opt, factor=0.5, patience=2)
    metrics = [1, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85, 0.85]
    assert plateau_lrs(sched, metrics) == pytest.approx(
        [0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025], rel=1e-15)
    opt = optim.SGD([make_param()], lr=0.1)
    sched = optim.ReduceLROnPlateau(opt, factor=0.1, patience=0, cooldown=2, min_lr=0.002)
    assert plateau_lrs(sched, [1.0] * 6) == pytest.approx(
        [0.1, 0.01, 0.01, 0.01, 0.002, 0.002], rel=1e-12)
    opt = optim.SGD([make_param()], lr=0.1)
    sched = optim.ReduceLROnPlateau(opt, mode="max", patience=0, threshold=0.1,
                                    threshold_mode="abs")
    assert plateau_lrs(sched, [1.0, 1.05, 1.2]) == pytest.approx([0.1, 0.01, 0.01])


@pytest.mark.parametrize("make", [
    lambda o: optim.ExponentialLR(o, gamma=0.8),
    lambda o: optim.LambdaLR(o, lambda t: 0.9**t),
    lambda o: optim.LinearLR(o, total_iters=4),
    lambda o: optim.SequentialLR(o, [optim.LinearLR(o, total_iters=2),
                                     optim.ExponentialLR(o, 0.5)], [2]),
    lambda o: optim.OneCycleLR(o, max_lr=[1.0, 2.0], total_steps=12),
])
def test_state_dict_round_trip(make):
    opt = two_group_sgd()
    sched = make(opt)
    for _ in range(3):
        sched.step()
    opt2 = two_group_sgd()
    sched2 = make(opt2)
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(sched.state_dict())
    np.testing.assert_array_equal(lr_sequence(sched2, 6), lr_sequence(sched, 6))


def test_lambda_and_plateau_state_dicts():
    sched = optim.LambdaLR(two_group_sgd(), lambda t: 0.5)
    assert sched.state_dict()["lr_lambdas"] == [None, None]
    opt = optim.SGD([make_param()], lr=0.1)
    sched = optim.ReduceLROnPlateau(opt, patience=1)
    plateau_lrs(sched, [1.0, 2.0])
    sched2 = optim.ReduceLROnPlateau(optim.SGD([make_param()], lr=0.1), patience=1)
    sched2.load_state_dict(sched.state_dict())
    assert sched2.best == 1.0 and sched2.num_bad_epochs == 1
    assert plateau_lrs(sched2, [2.0]) == pytest.approx([0.01])


@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda o: optim.ExponentialLR(o, gamma=0), ValueError, r"ExponentialLR: expected gamma > 0"),
    (lambda o: optim.LambdaLR(o, [lambda t: 1]), ValueError,
     r"LambdaLR: expected 2 lr_lambda\(s\), one per parameter group, got 1"),
    (lambda o: optim.LambdaLR(o, 0.5), TypeError, r"LambdaLR: expected lr_lambda as a function"),
    (lambda o: optim.LinearLR(o, start_factor=0), ValueError,
     r"LinearLR: expected start_factor in \(0.0, 1.0\]"),
    (lambda o: optim.ReduceLROnPlateau(o, factor=1.0), ValueError,
     r"ReduceLROnPlateau: expected factor in \[0.0, 1.0\), got 1.0"),
    (lambda o: optim.ReduceLROnPlateau(o, mode="lowest"), ValueError,
     r"ReduceLROnPlateau: expected mode 'min' or 'max', got 'lowest'"),
    (lambda o: optim.ReduceLROnPlateau(o, threshold_mode="pct"), ValueError,
     r"expected threshold_mode 'rel' or 'abs'"),
    (lambda o: optim.OneCycleLR(o, max_lr=1.0), ValueError,
     r"OneCycleLR: expected total_steps, or epochs and steps_per_epoch"),
    (lambda o: optim.OneCycleLR(o, max_lr=1.0, total_steps=0), ValueError,
     r"OneCycleLR: expected total_steps as an int >= 1, got 0"),
    (lambda o: optim.OneCycleLR(o, max_lr=1.0, total_steps=5, anneal_strategy="cosine"),
     ValueError, r"expected anneal_strategy 'cos' or 'linear'"),
    (lambda o: optim.OneCycleLR(optim.Adagrad([make_param()]), max_lr=1.0, total_steps=5),
     ValueError, r"OneCycleLR: cycle_momentum=True needs an optimizer with momentum or betas"),
    (lambda o: optim.SequentialLR(o, [optim.LinearLR(o), optim.StepLR(o, 2)], [2, 4]),
     ValueError, r"SequentialLR: expected 1 increasing milestone\(s\) for 2 schedulers"),
])
def test_errors(make, error, message):
    with pytest.raises(error, match=message):
        make(two_group_sgd())


def test_plateau_step_needs_a_metric():
    sched = optim.ReduceLROnPlateau(two_group_sgd())
    with pytest.raises(TypeError, match=r"ReduceLROnPlateau.step: expected the metric as a "
                                        r"number, got 'low'"):
        sched.step("low")


def test_fit_steps_plateau_with_the_validation_loss():
    from test_train import batches, blobs, mlp

    from minicnn import nn
    from minicnn.train import fit

    x, y = blobs(64)
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = optim.ReduceLROnPlateau(opt, mode="max", patience=0)  # loss never "rises": cut
    history = fit(model, nn.CrossEntropyLoss(), opt, batches(x, y), epochs=3,
                  val_loader=batches(x, y), scheduler=sched, verbose=False)
    assert sched.best == history.val_loss[0]
    assert history.lr == pytest.approx([0.1, 0.1, 0.01])
