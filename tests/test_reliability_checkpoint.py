"""load_checkpoint is all or nothing: a part that does not fit leaves every part as it was.

Each test saves a checkpoint that fits all but one part (model, optimizer, scheduler, loader,
random generator), moves a second set of objects on, tries the load, and checks that the
weights, the optimizer's state, the scheduler, the loader and the default generator are
bit-identical to what they were before.
"""

from itertools import pairwise

import numpy as np
import pytest

import minicnn
from minicnn import data, optim
from minicnn.nn.module import Module, Sequential
from minicnn.nn.parameter import Parameter


@pytest.fixture(autouse=True)
def keep_the_default_generator(monkeypatch):
    """Give the default generator back after each test (other tests' RNG stays as it was)."""
    monkeypatch.setattr(minicnn._random, "_rng", minicnn.get_rng())


class Affine(Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        rng = minicnn.get_rng()
        self.weight = Parameter(rng.standard_normal((n_out, n_in)).astype(np.float32))
        self.bias = Parameter(rng.standard_normal(n_out).astype(np.float32))

    def forward(self, x):
        return x @ self.weight.data.T + self.bias.data


def make_parts(seed, optimizer="SGD", scheduler="StepLR", widths=(4, 3, 2)):
    """A model, optimizer, scheduler and loader, moved on ``seed + 1`` steps."""
    minicnn.manual_seed(seed)
    model = Sequential(*(Affine(a, b) for a, b in pairwise(widths)))
    opt = (optim.SGD(model.parameters(), lr=0.1, momentum=0.9) if optimizer == "SGD"
           else optim.Adam(model.parameters(), lr=0.01))
    sched = (optim.StepLR(opt, step_size=1, gamma=0.5) if scheduler == "StepLR"
             else optim.CosineAnnealingLR(opt, T_max=10))
    loader = data.DataLoader((np.arange(10.0)[:, None], np.arange(10)), batch_size=4,
                             shuffle=True)
    for _ in range(seed + 1):
        for p in model.parameters():
            p.grad[...] = minicnn.get_rng().standard_normal(p.shape)
        opt.step()
        sched.step()
        list(loader)
    return {"model": model, "optimizer": opt, "scheduler": sched, "loader": loader}


def snapshot(parts):
    state = {name: obj.state_dict() for name, obj in parts.items()}
    state["rng"] = minicnn.get_rng_state()
    state["rng object"] = id(minicnn.get_rng())
    state["lr"] = [group["lr"] for group in parts["optimizer"].param_groups]
    return state


def assert_bit_identical(before, after, where="state"):
    assert type(before) is type(after), where
    if isinstance(before, np.ndarray):
        assert before.dtype == after.dtype and before.shape == after.shape, where
        assert before.tobytes() == after.tobytes(), where
    elif isinstance(before, dict):
        assert list(before) == list(after), where
        for key in before:
            assert_bit_identical(before[key], after[key], f"{where}/{key}")
    elif isinstance(before, (list, tuple)):
        assert len(before) == len(after), where
        for i, (a, b) in enumerate(zip(before, after, strict=True)):
            assert_bit_identical(a, b, f"{where}/{i}")
    else:
        assert before == after, where


def try_load(path, parts, match):
    before = snapshot(parts)
    with pytest.raises(ValueError, match=match):
        minicnn.load_checkpoint(path, **parts)
    assert_bit_identical(before, snapshot(parts))


def save(path, parts, **replace):
    parts = {**parts, **replace}
    return minicnn.save_checkpoint(path, parts.pop("model"), epoch=1, **parts)


def test_a_model_of_another_architecture_changes_nothing(tmp_path):
    path = save(tmp_path / "c.npz", make_parts(0, widths=(4, 3, 5)))
    try_load(path, make_parts(1), r"the model state .* does not fit")


def test_an_sgd_checkpoint_given_an_adam_optimizer_leaves_the_weights(tmp_path):
    path = save(tmp_path / "c.npz", make_parts(0, optimizer="SGD"))
    try_load(path, make_parts(1, optimizer="Adam"), r"the optimizer state .* does not fit")


def test_a_scheduler_of_another_kind_leaves_the_optimizer_and_weights(tmp_path):
    # The model and optimizer load first; the scheduler's keys then do not fit.
    path = save(tmp_path / "c.npz", make_parts(0, scheduler="StepLR"))
    try_load(path, make_parts(1, scheduler="Cosine"), r"the scheduler state .* does not fit")


class LoaderStateStandIn:
    def state_dict(self):
        return {"seed": 7, "epoch": -1}  # a good seed, then a bad epoch


def test_a_bad_loader_state_changes_neither_the_loader_nor_the_rest(tmp_path):
    path = save(tmp_path / "c.npz", make_parts(0), loader=LoaderStateStandIn())
    try_load(path, make_parts(1), r"the loader state .* does not fit.*epoch")


@pytest.mark.parametrize("rng_state", [
    {"bit_generator": "PCG64", "state": {"state": -1, "inc": 1}, "has_uint32": 0, "uinteger": 0},
    {"bit_generator": "seed", "state": {}},  # a name of np.random that is no bit generator
], ids=["bad PCG64 state", "not an allowed bit generator"])
def test_a_bad_generator_state_changes_nothing(tmp_path, monkeypatch, rng_state):
    with monkeypatch.context() as patch:
        patch.setattr(minicnn._random, "get_rng_state", lambda: rng_state)
        path = save(tmp_path / "c.npz", make_parts(0))
    try_load(path, make_parts(1), r"'checkpoint/rng_state' is not a random generator state")


def test_a_fitting_checkpoint_still_loads_every_part(tmp_path):
    saved = make_parts(0)
    expected = snapshot(saved)
    path = save(tmp_path / "c.npz", saved)
    target = make_parts(1)
    minicnn.load_checkpoint(path, **target)
    restored = snapshot(target)
    for name in ("model", "optimizer", "scheduler", "loader", "rng", "lr"):
        assert_bit_identical(expected[name], restored[name], name)


# -- the generator's state: an allow-list of bit generators ----------------------------------------
@pytest.mark.parametrize("name", ["PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"])
def test_every_allowed_bit_generator_round_trips(name):
    state = getattr(np.random, name)(5).state
    minicnn.set_rng_state(state)
    expected = np.random.Generator(getattr(np.random, name)(5)).random(3)
    np.testing.assert_array_equal(minicnn.get_rng().random(3), expected)


@pytest.mark.parametrize("state", [
    {"bit_generator": "seed"}, {"bit_generator": "default_rng"}, {"bit_generator": "RandomState"},
    {"bit_generator": ["PCG64"]}, {}, "PCG64", None,
])
def test_set_rng_state_refuses_names_outside_the_allow_list(monkeypatch, state):
    called = []
    monkeypatch.setattr(np.random, "seed", lambda *args: called.append(args))
    before = minicnn.get_rng()
    with pytest.raises(ValueError, match="set_rng_state: expected a state dict whose "
                                         "'bit_generator' is one of PCG64, PCG64DXSM"):
        minicnn.set_rng_state(state)
    assert minicnn.get_rng() is before and called == []
