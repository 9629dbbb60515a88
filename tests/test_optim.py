"""Tests of ``minicnn.optim``: SGD, Adam, parameter groups, state dicts, learning-rate schedules.

The optimizers are checked on tiny hand-made Parameters and a quadratic objective
L(w) = ½·Σ a·(w − c)², whose gradient a·(w − c) is written into ``p.grad`` before each step:

* SGD against the course's update ``v ← αv − βεw − ε∇L; w ← w + v`` over several steps, and
  against PyTorch's recurrence (dampening, Nesterov) written out in the test;
* Adam against a loop-by-definition reference over several steps (also with amsgrad);
* a frozen parameter stays bit-identical; groups get their own lr; float32 stays float32;
* ``state_dict``/``load_state_dict``: a fresh optimizer loaded with the state continues exactly
  like the original; mismatched states raise a ValueError saying what differs;
* the schedules' lr sequences against their closed forms (and PyTorch's recursive cosine).
"""

import math

import numpy as np
import pytest

from minicnn import optim
from minicnn.nn import Parameter
from minicnn.optim.lr_scheduler import CosineAnnealingLR, MultiStepLR, StepLR

CURVATURE = np.array([1.0, 2.0, 0.5, 3.0])
CENTRE = np.array([1.0, -1.0, 2.0, 0.5])
START = np.array([0.5, 0.3, -0.4, 2.0])


def quadratic_grad(w):
    """∇L for L(w) = ½·Σ a·(w − c)²."""
    return CURVATURE * (w - CENTRE)


def make_param(values=START, dtype=np.float64, requires_grad=True):
    return Parameter(np.array(values, dtype=dtype), requires_grad=requires_grad)


def run(optimizer, params, steps):
    """``steps`` iterations of: zero_grad, gradient of the quadratic into p.grad, step."""
    for _ in range(steps):
        optimizer.zero_grad()
        for p in params:
            p.grad += quadratic_grad(p.data)
        optimizer.step()


# -- SGD ---------------------------------------------------------------------------------------
def test_plain_sgd_step():
    """Without momentum or decay one step is w ← w − η·∇L."""
    p = make_param()
    run(optim.SGD([p], lr=0.1), [p], steps=1)
    np.testing.assert_allclose(p.data, START - 0.1 * quadratic_grad(START), rtol=1e-15)


@pytest.mark.parametrize(("momentum", "weight_decay"), [(0.0, 0.0), (0.9, 0.0), (0.9, 0.01),
                                                        (0.5, 0.1)])
def test_sgd_matches_the_course_formula(momentum, weight_decay):
    """With constant lr and dampening 0, SGD is the course's v ← αv − βεw − ε∇L; w ← w + v
    (α = momentum, ε = lr, β = weight_decay), step after step."""
    alpha, epsilon, beta = momentum, 0.1, weight_decay
    p = make_param()
    opt = optim.SGD([p], lr=epsilon, momentum=alpha, weight_decay=beta)
    w, v = START.copy(), np.zeros_like(START)
    for _ in range(6):
        v = alpha * v - beta * epsilon * w - epsilon * quadratic_grad(w)
        w = w + v
        run(opt, [p], steps=1)
        np.testing.assert_allclose(p.data, w, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(("momentum", "dampening", "weight_decay", "nesterov"), [
    (0.9, 0.0, 0.0, False), (0.9, 0.5, 0.01, False), (0.9, 0.0, 0.01, True),
    (0.5, 0.0, 0.0, True), (0.0, 0.0, 0.1, False),
])
def test_sgd_matches_pytorch_recurrence(momentum, dampening, weight_decay, nesterov):
    """PyTorch's SGD, written out: g = ∇L + λw; b = g first, then b = μb + (1 − τ)g;
    g = g + μb (Nesterov) or b; w = w − ηg."""
    lr = 0.05
    p = make_param()
    opt = optim.SGD([p], lr=lr, momentum=momentum, dampening=dampening,
                    weight_decay=weight_decay, nesterov=nesterov)
    w, buf = START.copy(), None
    for _ in range(6):
        g = quadratic_grad(w) + weight_decay * w
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        w = w - lr * g
        run(opt, [p], steps=1)
        np.testing.assert_allclose(p.data, w, rtol=1e-13, atol=1e-15)


def test_sgd_converges_on_the_quadratic():
    """Momentum SGD finds the minimum c of the quadratic (a sanity check of the sign)."""
    p = make_param()
    run(optim.SGD([p], lr=0.1, momentum=0.9), [p], steps=300)
    np.testing.assert_allclose(p.data, CENTRE, atol=1e-6)


def test_sgd_leaves_grad_alone_and_state_only_with_momentum():
    """step() reads p.grad but never writes it; plain SGD keeps no state."""
    p = make_param()
    opt = optim.SGD([p], lr=0.1, weight_decay=0.1)
    p.grad += quadratic_grad(p.data)
    grad_before = p.grad.copy()
    opt.step()
    np.testing.assert_array_equal(p.grad, grad_before)
    assert opt.state_dict()["state"] == {}
    with_momentum = optim.SGD([p], lr=0.1, momentum=0.9)
    with_momentum.step()
    assert set(with_momentum.state[p]) == {"momentum_buffer"}


# -- Adam ----------------------------------------------------------------------------------------
def adam_by_definition(w0, steps, lr, beta1, beta2, eps, weight_decay=0.0, amsgrad=False):
    """Adam element by element, straight from the paper (plus PyTorch's L2 decay and amsgrad)."""
    w = [float(x) for x in w0]
    m, v, v_max = [0.0] * len(w), [0.0] * len(w), [0.0] * len(w)
    history = []
    for t in range(1, steps + 1):
        grad = quadratic_grad(np.array(w))
        for i in range(len(w)):
            g = grad[i] + weight_decay * w[i]
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            v_max[i] = max(v_max[i], v[i])
            m_hat = m[i] / (1 - beta1**t)
            v_hat = (v_max[i] if amsgrad else v[i]) / (1 - beta2**t)
            w[i] -= lr * m_hat / (math.sqrt(v_hat) + eps)
        history.append(list(w))
    return np.array(history)


@pytest.mark.parametrize(("betas", "weight_decay", "amsgrad"), [
    ((0.9, 0.999), 0.0, False), ((0.8, 0.9), 0.05, False), ((0.9, 0.99), 0.0, True),
])
def test_adam_matches_definition(betas, weight_decay, amsgrad):
    """Each of 8 Adam steps equals the loop-by-definition reference."""
    lr, eps = 0.1, 1e-8
    p = make_param()
    opt = optim.Adam([p], lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                     amsgrad=amsgrad)
    expected = adam_by_definition(START, 8, lr, *betas, eps, weight_decay, amsgrad)
    for t in range(8):
        run(opt, [p], steps=1)
        np.testing.assert_allclose(p.data, expected[t], rtol=1e-12, atol=1e-14)
    assert opt.state[p]["step"] == 8
    assert set(opt.state[p]) >= {"step", "exp_avg", "exp_avg_sq"}


def test_adam_first_step_is_lr_times_sign():
    """Bias correction makes the first step −η·g/(|g| + ε) ≈ −η·sign(g), whatever |g| is."""
    p = make_param()
    run(optim.Adam([p], lr=0.01), [p], steps=1)
    np.testing.assert_allclose(p.data, START - 0.01 * np.sign(quadratic_grad(START)), rtol=1e-6)


# -- behaviour shared by every optimizer --------------------------------------------------------
OPTIMIZERS = [
    ("SGD", lambda params: optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("SGD-nesterov", lambda params: optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True)),
    ("Adam", lambda params: optim.Adam(params, lr=0.1, weight_decay=0.01)),
    ("Adam-amsgrad", lambda params: optim.Adam(params, lr=0.1, amsgrad=True)),
    ("RMSprop", lambda params: optim.RMSprop(params, lr=0.1, momentum=0.5, centered=True,
                                             weight_decay=0.01)),
    ("AdamW", lambda params: optim.AdamW(params, lr=0.1, amsgrad=True)),
    ("Adagrad", lambda params: optim.Adagrad(params, lr=0.1, lr_decay=0.01, weight_decay=0.01,
                                             initial_accumulator_value=0.1)),
]
IDS = [name for name, _ in OPTIMIZERS]


@pytest.mark.parametrize(("name", "make"), OPTIMIZERS, ids=IDS)
def test_frozen_parameter_is_untouched(name, make):
    """requires_grad=False: bit-identical after steps (even with weight decay and a gradient
    present), and no state is kept for it."""
    trained, frozen = make_param(), make_param(requires_grad=False)
    before = frozen.data.copy()
    opt = make([trained, frozen])
    run(opt, [trained, frozen], steps=3)
    assert np.array_equal(frozen.data, before)
    assert frozen not in opt.state
    assert not np.array_equal(trained.data, START)


@pytest.mark.parametrize(("name", "make"), OPTIMIZERS, ids=IDS)
def test_float32_parameters_stay_float32(name, make):
    """dtype preserved: data, grad and state stay float32, even with an lr set by hand as a
    NumPy float64 scalar; the result agrees with float64 to float32 precision."""
    p32, p64 = make_param(dtype=np.float32), make_param()
    opt32, opt64 = make([p32]), make([p64])
    opt32.param_groups[0]["lr"] = np.float64(0.1)
    run(opt32, [p32], steps=4)
    run(opt64, [p64], steps=4)
    assert p32.data.dtype == np.float32 and p32.grad.dtype == np.float32
    assert all(v.dtype == np.float32 for v in opt32.state[p32].values()
               if isinstance(v, np.ndarray))
    np.testing.assert_allclose(p32.data, p64.data, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("name", "make"), OPTIMIZERS, ids=IDS)
def test_updates_are_in_place(name, make):
    """step() writes into the existing p.data array (layers may hold a reference to it)."""
    p = make_param()
    data = p.data
    run(make([p]), [p], steps=1)
    assert p.data is data


def test_zero_grad_zeroes_every_gradient():
    """zero_grad() resets every parameter's gradient, frozen ones included."""
    params = [make_param(), make_param(requires_grad=False), make_param()]
    opt = optim.SGD([{"params": params[:2]}, {"params": params[2:]}], lr=0.1)
    for p in params:
        p.grad += 1.0
    opt.zero_grad()
    assert all(not p.grad.any() for p in params)


def test_param_groups_with_different_lr():
    """A group's own lr overrides the default, the other settings come from the constructor;
    with the same gradient the steps scale with the lr."""
    body, head = make_param(), make_param()
    opt = optim.SGD([{"params": [body]}, {"params": [head], "lr": 0.5}], lr=0.01, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.01, 0.5]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.9]
    body.grad += 1.0
    head.grad += 1.0
    opt.step()
    np.testing.assert_allclose(START - body.data, 0.01)
    np.testing.assert_allclose(START - head.data, 0.5)


def test_add_param_group_and_generators():
    """model.parameters() may be a generator; add_param_group adds a group later (unfreezing)."""
    a, b = make_param(), make_param()
    opt = optim.Adam(p for p in [a])
    opt.add_param_group({"params": b, "lr": 0.5})
    assert opt.param_groups[1]["params"] == [b]
    assert opt.param_groups[1]["betas"] == (0.9, 0.999)
    assert "group 1: 1 parameter, lr=0.5" in repr(opt)


# -- state dicts ----------------------------------------------------------------------------------
def three_params(dtype=np.float64):
    return [make_param(START * k, dtype=dtype) for k in (1.0, -0.5, 2.0)]


def grouped(make, params):
    return make([{"params": params[:2]}, {"params": params[2:], "lr": 0.05}])


@pytest.mark.parametrize(("name", "make"), OPTIMIZERS, ids=IDS)
def test_state_dict_round_trip_continues_exactly(name, make):
    """Train 3 steps, save; a fresh optimizer on copies of the parameters, loaded with the saved
    state, then makes the same next 3 steps bit for bit."""
    original = three_params()
    opt = grouped(make, original)
    run(opt, original, steps=3)
    saved = opt.state_dict()

    copies = [make_param(p.data.copy()) for p in original]
    fresh = grouped(make, copies)
    fresh.param_groups[1]["lr"] = 123.0  # overwritten by the loaded hyperparameters
    fresh.load_state_dict(saved)
    run(opt, original, steps=3)
    run(fresh, copies, steps=3)
    for p, q in zip(original, copies, strict=True):
        assert np.array_equal(p.data, q.data)
    assert fresh.param_groups[1]["lr"] == 0.05


def test_state_dict_layout_is_pytorchs():
    """{'state': {index: {...}}, 'param_groups': [{hyperparameters, 'params': [indices]}]},
    the indices counting parameters across groups in order; arrays are copies."""
    params = three_params()
    opt = grouped(lambda groups: optim.SGD(groups, lr=0.1, momentum=0.9), params)
    run(opt, params, steps=1)
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1] == {"lr": 0.05, "momentum": 0.9, "dampening": 0.0,
                                     "weight_decay": 0.0, "nesterov": False, "params": [2]}
    assert sorted(sd["state"]) == [0, 1, 2]
    buffer = sd["state"][2]["momentum_buffer"]
    np.testing.assert_array_equal(buffer, opt.state[params[2]]["momentum_buffer"])
    run(opt, params, steps=1)
    assert not np.array_equal(buffer, opt.state[params[2]]["momentum_buffer"])


def test_load_state_dict_casts_to_parameter_dtype():
    """A float64 state loaded into an optimizer of float32 parameters becomes float32."""
    p64, p32 = make_param(), make_param(dtype=np.float32)
    opt64 = optim.Adam([p64])
    run(opt64, [p64], steps=2)
    opt32 = optim.Adam([p32])
    opt32.load_state_dict(opt64.state_dict())
    assert opt32.state[p32]["exp_avg"].dtype == np.float32
    assert opt32.state[p32]["step"] == 2


@pytest.mark.parametrize(("mutate", "error", "message"), [
    (lambda sd: sd["param_groups"].pop(), ValueError,
     r"SGD.load_state_dict: expected 2 parameter group\(s\), got 1"),
    (lambda sd: sd["param_groups"][0]["params"].pop(), ValueError,
     r"SGD.load_state_dict: parameter group 0: expected 2 parameters, got 1"),
    (lambda sd: sd["state"][1].update(momentum_buffer=np.zeros(3)), ValueError,
     r"SGD.load_state_dict: state 'momentum_buffer' of parameter 1: expected shape \(4,\), "
     r"got \(3,\)"),
    (lambda sd: sd["param_groups"][1].pop("momentum"), ValueError,
     r"SGD.load_state_dict: parameter group 1: expected the hyperparameters .*, missing "
     r"\['momentum'\]"),
    (lambda sd: sd["state"].update({7: {}}), ValueError,
     r"SGD.load_state_dict: state for parameter 7, which no group lists"),
    (lambda sd: sd.pop("state"), TypeError,
     r"SGD.load_state_dict: expected a dict with 'state' and 'param_groups'"),
])
def test_load_state_dict_errors_change_nothing(mutate, error, message):
    """A state dict that does not fit raises a clear error, and the optimizer is unchanged."""
    params = three_params()
    opt = grouped(lambda groups: optim.SGD(groups, lr=0.1, momentum=0.9), params)
    run(opt, params, steps=2)
    before = opt.state_dict()
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = 99.0
    mutate(sd)
    with pytest.raises(error, match=message):
        opt.load_state_dict(sd)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    for index, entries in before["state"].items():
        np.testing.assert_array_equal(after["state"][index]["momentum_buffer"],
                                      entries["momentum_buffer"])


def test_loading_another_optimizers_state_fails():
    """An SGD state into Adam: the hyperparameters do not match, and the message says so."""
    p = make_param()
    sgd = optim.SGD([p], lr=0.1, momentum=0.9)
    run(sgd, [p], steps=1)
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: .* missing \['amsgrad', "
                                         r"'betas', 'eps'\] \(is this the state of another"):
        optim.Adam([p]).load_state_dict(sgd.state_dict())


# -- constructor errors ---------------------------------------------------------------------------
@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda p: optim.SGD([p], lr=-0.1), ValueError, r"SGD: expected lr >= 0.0, got -0.1"),
    (lambda p: optim.SGD([p], lr=float("nan")), ValueError, r"SGD: expected lr >= 0.0, got nan"),
    (lambda p: optim.SGD([p], lr="0.1"), TypeError, r"SGD: expected lr as a number, got '0.1'"),
    (lambda p: optim.SGD([p], lr=0.1, momentum=-0.9), ValueError,
     r"SGD: expected momentum >= 0.0, got -0.9"),
    (lambda p: optim.SGD([p], lr=0.1, weight_decay=-1), ValueError,
     r"SGD: expected weight_decay >= 0.0, got -1"),
    (lambda p: optim.SGD([p], lr=0.1, dampening=1.5), ValueError,
     r"SGD: expected dampening in \[0.0, 1.0\], got 1.5"),
    (lambda p: optim.SGD([p], lr=0.1, nesterov=True), ValueError,
     r"SGD: nesterov=True needs momentum > 0 and dampening = 0, got momentum=0.0, dampening=0.0"),
    (lambda p: optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError,
     r"SGD: nesterov=True needs .*, got momentum=0.9, dampening=0.1"),
    (lambda p: optim.SGD([{"params": [p], "lr": -1.0}], lr=0.1), ValueError,
     r"SGD \(parameter group 0\): expected lr >= 0.0, got -1.0"),
    (lambda p: optim.SGD([{"params": [p], "learning_rate": 1.0}], lr=0.1), ValueError,
     r"SGD \(parameter group 0\): unknown hyperparameter\(s\) \['learning_rate'\]"),
    (lambda p: optim.Adam([p], betas=(0.9, 1.0)), ValueError,
     r"Adam: expected betas\[1\] in \[0.0, 1.0\), got 1.0"),
    (lambda p: optim.Adam([p], betas=0.9), TypeError,
     r"Adam: expected betas as a pair \(beta1, beta2\), got 0.9"),
    (lambda p: optim.Adam([p], eps=-1e-8), ValueError, r"Adam: expected eps >= 0.0, got -1e-08"),
    (lambda p: optim.SGD([], lr=0.1), ValueError, r"SGD: got an empty parameter list"),
    (lambda p: optim.SGD(p, lr=0.1), TypeError,
     r"SGD: expected an iterable of Parameters or of dicts, got a single Parameter"),
    (lambda p: optim.SGD([p.data], lr=0.1), TypeError,
     r"SGD: expected Parameters, got ndarray \(pass model.parameters\(\)"),
    (lambda p: optim.SGD([p, p], lr=0.1), ValueError,
     r"SGD: a parameter appears more than once in the group"),
    (lambda p: optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1), ValueError,
     r"SGD \(parameter group 1\): some parameters are already in another parameter group"),
])
def test_bad_optimizer_arguments(make, error, message):
    """Every bad hyperparameter or parameter list raises at construction, saying what it
    expected and what it got (and in which group)."""
    with pytest.raises(error, match=message):
        make(make_param())


# -- learning-rate schedules -------------------------------------------------------------------
def lr_sequence(scheduler, epochs):
    """The lr of each group in epochs 0 .. epochs−1, read from the optimizer as training would."""
    sequence = []
    for _ in range(epochs):
        sequence.append([g["lr"] for g in scheduler.optimizer.param_groups])
        assert scheduler.get_last_lr() == sequence[-1]
        scheduler.step()
    return np.array(sequence)


def two_group_sgd():
    return optim.SGD([{"params": [make_param()]}, {"params": [make_param()], "lr": 1.0}],
                     lr=0.1, momentum=0.9)


def test_step_lr_sequence():
    """StepLR(step_size=3, gamma=0.5): lr_t = base·0.5^⌊t/3⌋, for each group's own base."""
    sched = StepLR(two_group_sgd(), step_size=3, gamma=0.5)
    t = np.arange(10)[:, None]
    np.testing.assert_allclose(lr_sequence(sched, 10),
                               np.array([[0.1, 1.0]]) * 0.5 ** (t // 3), rtol=1e-15)
    assert sched.last_epoch == 10 and sched.base_lrs == [0.1, 1.0]


def test_multistep_lr_sequence():
    """MultiStepLR([2, 5]): base until epoch 1, base·γ for 2–4, base·γ² from 5; unsorted
    milestones are sorted."""
    sched = MultiStepLR(two_group_sgd(), milestones=[5, 2], gamma=0.1)
    expected = [0.1 * 0.1 ** k for k in (0, 0, 1, 1, 1, 2, 2, 2)]
    np.testing.assert_allclose(lr_sequence(sched, 8)[:, 0], expected, rtol=1e-14)
    assert sched.milestones == [2, 5]


def test_cosine_lr_sequence_and_end_points():
    """lr_t = η_min + (base − η_min)(1 + cos(πt/T))/2: base at 0, the mean at T/2, η_min at T."""
    opt = two_group_sgd()
    sched = CosineAnnealingLR(opt, T_max=8, eta_min=0.01)
    lrs = lr_sequence(sched, 9)
    t = np.arange(9)
    np.testing.assert_allclose(lrs[:, 0], 0.01 + 0.09 * (1 + np.cos(np.pi * t / 8)) / 2,
                               rtol=1e-14)
    assert lrs[0].tolist() == [0.1, 1.0]
    assert lrs[4, 1] == pytest.approx((1.0 + 0.01) / 2, rel=1e-14)
    assert lrs[8, 0] == pytest.approx(0.01, rel=1e-14)


def test_cosine_closed_form_equals_pytorch_recursion():
    """PyTorch's recursive CosineAnnealingLR (its special case included), written out, gives
    the closed form over two periods, as the docstring claims."""
    base, eta_min, T = 0.1, 0.001, 5
    sched = CosineAnnealingLR(optim.SGD([make_param()], lr=base), T_max=T, eta_min=eta_min)
    closed = lr_sequence(sched, 2 * T + 3)[:, 0]
    recursive = [base]
    for t in range(1, 2 * T + 3):
        lr = recursive[-1]
        if (t - 1 - T) % (2 * T) == 0:
            lr = lr + (base - eta_min) * (1 - math.cos(math.pi / T)) / 2
        else:
            lr = (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T)) * (
                lr - eta_min) + eta_min
        recursive.append(lr)
    np.testing.assert_allclose(closed, recursive, rtol=1e-12)


def test_scheduler_drives_the_optimizer():
    """The lr a schedule sets is the lr the next optimizer.step() uses."""
    p = make_param()
    opt = optim.SGD([p], lr=1.0)
    sched = StepLR(opt, step_size=1, gamma=0.1)
    sched.step()  # epoch 1: lr = 0.1
    p.grad += 1.0
    opt.step()
    np.testing.assert_allclose(START - p.data, 0.1, rtol=1e-15)


@pytest.mark.parametrize("optimizer_first", [False, True])
def test_scheduler_state_dict_round_trip(optimizer_first):
    """A new schedule on a new optimizer, loaded with both states, continues identically:
    whether the optimizer state is loaded after building the schedule (PyTorch's recommended
    order) or before (building a schedule resets the lr; loading its state sets it back)."""
    opt = two_group_sgd()
    sched = MultiStepLR(opt, milestones=[2, 4], gamma=0.5)
    for _ in range(3):
        sched.step()
    opt2 = two_group_sgd()
    if optimizer_first:
        opt2.load_state_dict(opt.state_dict())
    sched2 = MultiStepLR(opt2, milestones=[1], gamma=0.9)
    if not optimizer_first:
        opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(sched.state_dict())
    assert sched2.last_epoch == 3 and sched2.milestones == [2, 4]
    np.testing.assert_array_equal(lr_sequence(sched2, 4), lr_sequence(sched, 4))


def test_scheduler_errors():
    """Bad schedule arguments and mismatched states raise, naming the schedule."""
    opt = two_group_sgd()
    with pytest.raises(ValueError, match=r"StepLR: expected step_size as an int >= 1, got 0"):
        StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match=r"StepLR: expected gamma > 0.0, got -0.1"):
        StepLR(opt, step_size=2, gamma=-0.1)
    with pytest.raises(ValueError, match=r"CosineAnnealingLR: expected T_max as an int >= 1, "
                                         r"got 2.5"):
        CosineAnnealingLR(opt, T_max=2.5)
    with pytest.raises(TypeError, match=r"StepLR: expected an optimizer, got list"):
        StepLR([], step_size=2)
    with pytest.raises(ValueError, match=r"StepLR: last_epoch=4 resumes a schedule, but "
                                         r"parameter group 0 has no 'initial_lr'"):
        StepLR(two_group_sgd(), step_size=2, last_epoch=4)
    cosine = CosineAnnealingLR(opt, T_max=4)
    with pytest.raises(ValueError, match=r"StepLR.load_state_dict: expected a state dict with "
                                         r"keys \[.*'step_size'\], got \[.*'T_max'"):
        StepLR(opt, step_size=2).load_state_dict(cosine.state_dict())


def test_scheduler_repr_and_exports():
    """Schedules are at optim's top level and in optim.lr_scheduler, as in PyTorch."""
    assert optim.StepLR is optim.lr_scheduler.StepLR
    assert optim.CosineAnnealingLR is CosineAnnealingLR
    sched = optim.StepLR(two_group_sgd(), step_size=30)
    assert repr(sched) == "StepLR(step_size=30, gamma=0.1, last_epoch=0)"
