"""Tests of ``SGD(form=...)``: PyTorch's buffer form and the course's velocity form.

* under a constant lr the two forms give the same weights step after step (with momentum, weight
  decay, Nesterov), as the algebra v = −ε·b in ``SGD``'s docstring says;
* under a StepLR they differ, and each matches its own loop reference: PyTorch's
  b ← μb + g; w ← w − ε_t·b, and the lecture's v ← αv − βε_t·w − ε_t·∇L; w ← w + v;
* the lecture form's state dict carries the velocity and a round trip continues exactly;
  loading the other form's state, dampening with form="lecture" and an unknown form raise a
  ValueError saying what was expected.
"""

import numpy as np
import pytest
from test_optim import CENTRE, CURVATURE, START, make_param, quadratic_grad, run

from minicnn import optim


@pytest.mark.parametrize(("momentum", "weight_decay", "nesterov"), [
    (0.0, 0.0, False), (0.9, 0.0, False), (0.9, 0.05, False), (0.5, 0.1, True)])
def test_forms_agree_under_constant_lr(momentum, weight_decay, nesterov):
    p, q = make_param(), make_param()
    kwargs = dict(lr=0.1, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
    run(optim.SGD([p], **kwargs), [p], steps=10)
    run(optim.SGD([q], form="lecture", **kwargs), [q], steps=10)
    np.testing.assert_allclose(q.data, p.data, rtol=1e-13, atol=1e-15)


def lrs_of_step_lr(lr, step_size, gamma, steps):
    return [lr * gamma ** (t // step_size) for t in range(steps)]


def pytorch_reference(lrs, mu, lam):
    w, b = START.copy(), None
    for eps in lrs:
        g = quadratic_grad(w) + lam * w
        b = g.copy() if b is None else mu * b + g
        w = w - eps * b
    return w


def lecture_reference(lrs, alpha, beta):
    w, v = START.copy(), np.zeros_like(START)
    for eps in lrs:
        v = alpha * v - beta * eps * w - eps * CURVATURE * (w - CENTRE)
        w = w + v
    return w


def test_forms_part_under_step_lr_each_matching_its_reference():
    steps, mu, lam = 9, 0.9, 0.05
    lrs = lrs_of_step_lr(0.1, 3, 0.3, steps)
    results = {}
    for form in ("pytorch", "lecture"):
        p = make_param()
        opt = optim.SGD([p], lr=0.1, momentum=mu, weight_decay=lam, form=form)
        sched = optim.StepLR(opt, step_size=3, gamma=0.3)
        for _ in range(steps):
            run(opt, [p], steps=1)
            sched.step()
        results[form] = p.data
    np.testing.assert_allclose(results["pytorch"], pytorch_reference(lrs, mu, lam), rtol=1e-13)
    np.testing.assert_allclose(results["lecture"], lecture_reference(lrs, mu, lam), rtol=1e-13)
    assert np.abs(results["pytorch"] - results["lecture"]).max() > 1e-3


def test_lecture_state_dict_carries_velocity_and_round_trips():
    p = make_param()
    opt = optim.SGD([p], lr=0.1, momentum=0.9, form="lecture")
    run(opt, [p], steps=1)
    sd = opt.state_dict()
    assert set(sd["state"][0]) == {"velocity"}
    np.testing.assert_allclose(sd["state"][0]["velocity"], -0.1 * quadratic_grad(START))
    assert "form" not in sd["param_groups"][0]  # PyTorch's group keys
    q = make_param(p.data)
    fresh = optim.SGD([q], lr=0.1, momentum=0.9, form="lecture")
    fresh.load_state_dict(sd)
    run(opt, [p], steps=3)
    run(fresh, [q], steps=3)
    np.testing.assert_array_equal(p.data, q.data)


def test_loading_the_other_forms_state_is_refused():
    p = make_param()
    lecture = optim.SGD([p], lr=0.1, momentum=0.9, form="lecture")
    run(lecture, [p], steps=1)
    with pytest.raises(ValueError, match=r"SGD.load_state_dict: parameter 0 has a 'velocity' "
                                         r"\(a state of SGD\(form='lecture'\)\)"):
        optim.SGD([make_param()], lr=0.1, momentum=0.9).load_state_dict(lecture.state_dict())
    pytorch = optim.SGD([p], lr=0.1, momentum=0.9)
    run(pytorch, [p], steps=1)
    with pytest.raises(ValueError, match=r"keeps 'velocity'"):
        optim.SGD([make_param()], lr=0.1, momentum=0.9,
                  form="lecture").load_state_dict(pytorch.state_dict())


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(form="course"), r"SGD: expected form 'pytorch' or 'lecture', got 'course'"),
    (dict(form="lecture", momentum=0.9, dampening=0.1),
     r"form='lecture' has no dampening, got dampening=0.1"),
])
def test_form_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        optim.SGD([make_param()], lr=0.1, **kwargs)


def test_lecture_form_keeps_float32_and_repr():
    p = make_param(dtype=np.float32)
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01, form="lecture")
    run(opt, [p], steps=3)
    assert p.data.dtype == np.float32 and opt.state[p]["velocity"].dtype == np.float32
    assert repr(opt).startswith("SGD(form='lecture',")
