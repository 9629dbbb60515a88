"""minicnn.io: exact round trips, atomic writes, no pickle, metadata, errors, checkpoints."""

import json
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import minicnn
from minicnn import data, io, optim
from minicnn.nn.module import Module, Sequential
from minicnn.nn.parameter import Parameter


class Affine(Module):
    """y = x @ weight.T + bias, with an int64 counter buffer; a layer made for these tests."""

    def __init__(self, n_in, n_out, dtype=np.float32):
        super().__init__()
        rng = minicnn.get_rng()
        self.weight = Parameter(rng.standard_normal((n_out, n_in)).astype(dtype))
        self.bias = Parameter(rng.standard_normal(n_out).astype(dtype))
        self.register_buffer("steps", np.array(3, dtype=np.int64))

    def forward(self, x):
        return x @ self.weight.data.T + self.bias.data


def make_model():
    model = Sequential(Affine(4, 3), Affine(3, 2, dtype=np.float64))
    model.arch = "tiny-affine"
    return model


def files_in(folder):
    return sorted(path.name for path in folder.iterdir())


# -- save and load ---------------------------------------------------------------------------------
def test_round_trip_is_exact_in_values_dtypes_and_key_order(tmp_path):
    model = make_model()
    path = minicnn.save(model, tmp_path / "model.npz")
    loaded = minicnn.load(path)
    expected = model.state_dict()
    assert isinstance(loaded, OrderedDict)
    assert list(loaded) == list(expected) == ["0.weight", "0.bias", "0.steps", "1.weight",
                                              "1.bias", "1.steps"]
    for key, array in expected.items():
        assert loaded[key].dtype == array.dtype
        assert loaded[key].shape == array.shape
        np.testing.assert_array_equal(loaded[key], array)
    fresh = make_model()
    fresh.load_state_dict(loaded)
    np.testing.assert_array_equal(fresh[1].weight.data, model[1].weight.data)


def test_the_npz_suffix_is_added_as_numpy_does_and_found_on_load(tmp_path):
    path = minicnn.save(make_model(), tmp_path / "weights")
    assert path == tmp_path / "weights.npz"
    assert files_in(tmp_path) == ["weights.npz"]
    assert list(minicnn.load(tmp_path / "weights")) == list(minicnn.load(path))
    assert list(minicnn.load(str(path))) == list(minicnn.load(path))


def test_a_plain_state_dict_saves_and_any_key_name_works(tmp_path):
    # "file" and "allow_pickle" would clash with np.savez's own keyword arguments.
    state = OrderedDict([("file", np.arange(3)), ("allow_pickle", np.ones((2, 2), np.float32)),
                         ("a/b.c", np.array(True))])
    path = minicnn.save(state, tmp_path / "sd.npz", metadata={"arch": "hand-made"})
    loaded = minicnn.load(path)
    assert list(loaded) == list(state)
    for key in state:
        np.testing.assert_array_equal(loaded[key], state[key])
        assert loaded[key].dtype == state[key].dtype
    assert io.load_metadata(path)["arch"] == "hand-made"


def test_metadata_records_version_architecture_and_user_entries(tmp_path):
    path = minicnn.save(make_model(), tmp_path / "m.npz",
                        metadata={"epochs": 3, "val_acc": np.float32(0.5), "note": "first try"})
    metadata = io.load_metadata(path)
    assert metadata == {"minicnn_version": minicnn.__version__, "format_version": 1,
                        "kind": "state_dict", "arch": "tiny-affine", "epochs": 3,
                        "val_acc": 0.5, "note": "first try"}
    state, same = minicnn.load(path, with_metadata=True)
    assert same == metadata and "__metadata__" not in state
    plain = Sequential(Affine(2, 2))
    assert io.load_metadata(minicnn.save(plain, tmp_path / "p.npz"))["arch"] == "Sequential"


def test_metadata_is_a_0d_unicode_array_readable_without_pickle(tmp_path):
    path = minicnn.save(make_model(), tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as archive:
        member = archive["__metadata__"]
        assert member.ndim == 0 and member.dtype.kind == "U"
        assert json.loads(str(member))["arch"] == "tiny-affine"
        assert all(archive[key].dtype != object for key in archive.files)


def test_reserved_and_unserialisable_metadata_is_refused(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        minicnn.save(make_model(), tmp_path / "m.npz", metadata={"kind": "mine"})
    with pytest.raises(TypeError, match="JSON-serialisable"):
        minicnn.save(make_model(), tmp_path / "m.npz", metadata={"f": object()})
    assert files_in(tmp_path) == []


# -- atomic writes ---------------------------------------------------------------------------------
def test_an_object_array_is_refused_before_anything_is_written(tmp_path):
    good = minicnn.save(make_model(), tmp_path / "m.npz")
    before = good.read_bytes()
    state = {"w": np.ones(2), "names": np.array(["a", None], dtype=object)}
    with pytest.raises(TypeError, match="'names' is an object array"):
        minicnn.save(state, good)
    assert files_in(tmp_path) == ["m.npz"]          # no temporary file left behind
    assert good.read_bytes() == before              # the good file is untouched


def test_a_failure_mid_write_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    good = minicnn.save(make_model(), tmp_path / "m.npz")
    before = good.read_bytes()
    real_write = np.lib.format.write_array
    calls = []

    def fail_on_third_member(file, array, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full (simulated)")
        real_write(file, array, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", fail_on_third_member)
    with pytest.raises(OSError, match="disk full"):
        minicnn.save(make_model(), good)
    with pytest.raises(OSError, match="disk full"):
        calls.clear()
        minicnn.save(make_model(), tmp_path / "new.npz")
    assert files_in(tmp_path) == ["m.npz"]
    assert good.read_bytes() == before


def test_non_array_values_are_refused_clearly(tmp_path):
    model = make_model()
    with pytest.raises(TypeError, match=r"got Parameter for '0.weight' \(pass its .data\)"):
        minicnn.save(dict(model.named_parameters()), tmp_path / "m.npz")
    with pytest.raises(TypeError, match="got list for 'w'"):
        minicnn.save({"w": [1.0, 2.0]}, tmp_path / "m.npz")
    with pytest.raises(TypeError, match="expected a Module or a state dict"):
        minicnn.save([np.ones(2)], tmp_path / "m.npz")
    assert files_in(tmp_path) == []


# -- reading bad files -----------------------------------------------------------------------------
def test_a_missing_file_or_folder_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        minicnn.load(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match=r"the folder .* does not exist"):
        minicnn.save(make_model(), tmp_path / "no" / "m.npz")


def test_an_npz_with_an_object_array_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, w=np.ones(2), names=np.array([{"a": 1}], dtype=object))  # pickles `names`
    with pytest.raises(ValueError, match=r"object array.*allow_pickle=False"):
        minicnn.load(path)


@pytest.mark.parametrize("damage", ["text", "truncated", "flipped byte", "not npy"])
def test_files_that_are_not_npz_or_are_corrupt_raise_value_error(tmp_path, damage):
    path = minicnn.save(make_model(), tmp_path / "m.npz")
    data = path.read_bytes()
    if damage == "text":
        path.write_text("these are not weights")
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flipped byte":  # the last byte of the first member: a CRC mismatch
        with zipfile.ZipFile(path) as archive:
            info = archive.infolist()[0]
        # A local file header is 30 bytes, then the file name and the extra field.
        start = info.header_offset
        name_length, extra_length = np.frombuffer(data[start + 26:start + 30], dtype="<u2")
        position = start + 30 + int(name_length) + int(extra_length) + info.file_size - 1
        path.write_bytes(data[:position] + bytes([data[position] ^ 0xFF]) + data[position + 1:])
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("readme.txt", "hello")
    expected = {"text": "not an .npz archive", "truncated": "not an .npz archive",
                "flipped byte": "corrupt: Bad CRC-32", "not npy": "not a .npy array"}[damage]
    with pytest.raises(ValueError, match=expected):
        minicnn.load(path)


def test_an_npz_written_by_numpy_loads_with_empty_metadata(tmp_path):
    np.savez(tmp_path / "plain.npz", w=np.arange(4.0), b=np.zeros(2, np.float32))
    state, metadata = minicnn.load(tmp_path / "plain.npz", with_metadata=True)
    assert list(state) == ["w", "b"] and metadata == {}


# -- checkpoints -----------------------------------------------------------------------------------
def train_one_step(model, optimizer):
    for p in model.parameters():
        p.grad[...] = 0.1
    optimizer.step()


def test_checkpoint_round_trip_restores_model_optimizer_scheduler_loader_epoch_and_rng(tmp_path):
    minicnn.manual_seed(0)
    model = make_model()
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    scheduler = optim.StepLR(optimizer, step_size=2, gamma=0.5)
    loader = data.DataLoader((np.arange(20.0)[:, None], np.arange(20)), batch_size=8,
                             shuffle=True)
    list(loader)  # one epoch served
    train_one_step(model, optimizer)
    scheduler.step()
    extra = {"history": {"train_loss": [2.3, 1.1]}, "best": np.array([0.25, 0.5]),
             "shape": (3, 4)}
    saved = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "loader": loader.state_dict()}
    path = minicnn.save_checkpoint(tmp_path / "ckpt", model, optimizer, epoch=1,
                                   scheduler=scheduler, loader=loader, extra=extra)
    assert path == tmp_path / "ckpt.npz"
    draws_after_save = minicnn.get_rng().random(5)
    next_epoch_after_save = [y.tolist() for _, y in loader]

    # Move everything on, then restore into the same objects.
    for _ in range(3):
        list(loader)
        train_one_step(model, optimizer)
        scheduler.step()
    minicnn.manual_seed(123)
    info = minicnn.load_checkpoint(path, model, optimizer, scheduler=scheduler, loader=loader)

    np.testing.assert_array_equal(minicnn.get_rng().random(5), draws_after_save)
    assert [y.tolist() for _, y in loader] == next_epoch_after_save
    assert info["epoch"] == 1
    assert info["extra"]["history"] == extra["history"] and info["extra"]["shape"] == (3, 4)
    np.testing.assert_array_equal(info["extra"]["best"], extra["best"])
    assert info["metadata"]["kind"] == "checkpoint" and info["metadata"]["arch"] == "tiny-affine"
    for key, array in saved["model"].items():
        np.testing.assert_array_equal(model.state_dict()[key], array)
    restored = optimizer.state_dict()
    assert restored["param_groups"] == saved["optimizer"]["param_groups"]
    assert set(restored["state"]) == set(saved["optimizer"]["state"]) == {0, 1, 2, 3}
    for index, state in saved["optimizer"]["state"].items():
        for name, value in state.items():
            np.testing.assert_array_equal(restored["state"][index][name], value)
            assert np.asarray(restored["state"][index][name]).dtype == np.asarray(value).dtype
    assert scheduler.state_dict() == saved["scheduler"]


@pytest.mark.parametrize("make_optimizer", [
    lambda params: optim.SGD(params, lr=0.05, momentum=0.9),
    lambda params: optim.Adam(params, lr=0.01, betas=(0.8, 0.99)),
], ids=["SGD", "Adam"])
def test_resumed_training_continues_exactly_as_uninterrupted_training(tmp_path, make_optimizer):
    def run(steps, model, optimizer):
        for _ in range(steps):
            train_one_step(model, optimizer)
            for p in model.parameters():  # a draw from the global generator, as dropout would
                p.data += minicnn.get_rng().standard_normal(p.shape).astype(p.dtype) * 1e-3

    minicnn.manual_seed(5)
    model = make_model()
    optimizer = make_optimizer(model.parameters())
    run(2, model, optimizer)
    minicnn.save_checkpoint(tmp_path / "c.npz", model, optimizer, epoch=2)
    run(2, model, optimizer)
    uninterrupted = model.state_dict()

    minicnn.manual_seed(99)
    resumed = make_model()
    resumed_optimizer = make_optimizer(resumed.parameters())
    minicnn.load_checkpoint(tmp_path / "c.npz", resumed, resumed_optimizer)
    run(2, resumed, resumed_optimizer)
    for key, array in uninterrupted.items():
        np.testing.assert_array_equal(resumed.state_dict()[key], array)


class OptimizerStandIn:
    """PyTorch's optimizer state layout, with the awkward cases: int keys, numbers, tuples."""

    def __init__(self):
        self.loaded = None

    def state_dict(self):
        return {"state": {0: {"step": 7, "exp_avg": np.full(3, 0.5, np.float32)},
                          3: {"step": np.int64(7), "momentum_buffer": np.arange(4.0)}},
                "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1, 2, 3]}]}

    def load_state_dict(self, state):
        self.loaded = state


def test_checkpoint_flattens_optimizer_arrays_into_npz_keys_and_rebuilds_the_layout(tmp_path):
    model, optimizer = make_model(), OptimizerStandIn()
    path = minicnn.save_checkpoint(tmp_path / "c.npz", model, optimizer, epoch=0)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    assert "optimizer/state/0/exp_avg.npy" in names
    assert "optimizer/state/3/momentum_buffer.npy" in names
    assert "model/0.weight.npy" in names
    minicnn.load_checkpoint(path, model, optimizer)
    loaded = optimizer.loaded
    assert list(loaded["state"]) == [0, 3]  # int keys, as saved
    assert loaded["state"][0]["step"] == 7 and loaded["state"][3]["step"] == 7
    np.testing.assert_array_equal(loaded["state"][0]["exp_avg"], np.full(3, 0.5, np.float32))
    assert loaded["state"][0]["exp_avg"].dtype == np.float32
    assert loaded["param_groups"] == [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1, 2, 3]}]


def test_load_on_a_checkpoint_gives_the_model_state_dict(tmp_path):
    model = make_model()
    path = minicnn.save_checkpoint(tmp_path / "c.npz", model, OptimizerStandIn(), epoch=3)
    state = minicnn.load(path)
    assert list(state) == list(model.state_dict())
    assert "checkpoint" not in io.load_metadata(path)


def test_checkpoint_errors_are_clear_and_change_nothing(tmp_path):
    model = make_model()
    weights = minicnn.save(model, tmp_path / "weights.npz")
    with pytest.raises(ValueError, match="not a checkpoint"):
        minicnn.load_checkpoint(weights, model)
    path = minicnn.save_checkpoint(tmp_path / "c.npz", model, epoch=1)
    other = make_model()
    before = other.state_dict()
    with pytest.raises(ValueError, match="holds no optimizer state"):
        minicnn.load_checkpoint(path, other, OptimizerStandIn())
    for key, array in before.items():
        np.testing.assert_array_equal(other.state_dict()[key], array)
    with pytest.raises(TypeError, match=r"cannot store a function \(at 'extra/f'\)"):
        minicnn.save_checkpoint(tmp_path / "bad.npz", model, extra={"f": lambda: 0})
    assert not (tmp_path / "bad.npz").exists()


def test_atomic_write_is_public_and_leaves_the_old_file_on_error(tmp_path):
    target = tmp_path / "results.json"
    with minicnn.io.atomic_write(target, "w", encoding="utf-8") as f:
        f.write('{"acc": 0.9}')
    assert target.read_text() == '{"acc": 0.9}'
    with pytest.raises(RuntimeError), minicnn.io.atomic_write(target, "w") as f:
        f.write('{"acc": ')
        raise RuntimeError("crash mid-write")
    assert target.read_text() == '{"acc": 0.9}'
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary left
