"""Crafted .npz files: bad metadata and lying sizes are refused with ValueError naming the file
and the field or member, before anything is allocated or changed.

Each crafted checkpoint starts from a real one (``save_checkpoint``), whose metadata JSON is
edited and written back with the same arrays.
"""

import json
import struct
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest

import minicnn
from minicnn import data, io, optim
from minicnn.nn.module import Module, Sequential
from minicnn.nn.parameter import Parameter


@pytest.fixture(autouse=True)
def keep_the_default_generator(monkeypatch):
    monkeypatch.setattr(minicnn._random, "_rng", minicnn.get_rng())


class Affine(Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = Parameter(np.ones((n_out, n_in), np.float32))
        self.bias = Parameter(np.zeros(n_out, np.float32))

    def forward(self, x):
        return x @ self.weight.data.T + self.bias.data


def make_parts():
    model = Sequential(Affine(4, 3))
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = optim.StepLR(optimizer, step_size=2)
    loader = data.DataLoader((np.zeros((6, 4)), np.zeros(6)), batch_size=2, seed=0)
    return {"model": model, "optimizer": optimizer, "scheduler": scheduler, "loader": loader}


@pytest.fixture
def checkpoint(tmp_path):
    """(arrays, metadata record) of a real checkpoint, with optimizer state and a tuple."""
    parts = make_parts()
    for p in parts["model"].parameters():
        p.grad[...] = 1.0
    parts["optimizer"].step()  # momentum buffers: state under integer keys
    path = minicnn.save_checkpoint(tmp_path / "real.npz", parts.pop("model"), epoch=3,
                                   extra={"shape": (3, 4)}, **parts)
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    return arrays, json.loads(str(arrays.pop("__metadata__")))


def write_crafted(path, arrays, metadata):
    """The arrays and ``metadata`` (a JSON-able value, or an ndarray used as is)."""
    member = metadata if isinstance(metadata, np.ndarray) else np.array(json.dumps(metadata))
    np.savez(path, __metadata__=member, **arrays)
    return path


def nested(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


def edit(change):
    """A case: ``change(record)`` edits the record in place."""
    def apply(record):
        change(record)
        return record
    return apply


def replace_with(make):
    """A case: the metadata is ``make(record)`` instead of the record."""
    return make


def deep_json(record):
    """The record's JSON with a list nested 100,000 deep, which json.dumps cannot write."""
    return np.array(json.dumps(record)[:-1] + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}")


C = "checkpoint"
CRAFTED = {  # case: (edit, field the message must name)
    "not JSON": (replace_with(lambda r: np.array("{not json")), "metadata of"),
    "a JSON list": (replace_with(lambda r: [1, 2]), "__metadata__"),
    "a JSON string": (replace_with(lambda r: "checkpoint"), "__metadata__"),
    "a numeric member": (replace_with(lambda r: np.arange(3)), "__metadata__"),
    "a 1-d text member": (replace_with(lambda r: np.array(["{}", "{}"])), "__metadata__"),
    "a bytes member": (replace_with(lambda r: np.array(json.dumps(r).encode())),
                       "__metadata__"),
    "format_version missing": (edit(lambda r: r.pop("format_version")), "format_version"),
    "format_version a string": (edit(lambda r: r.update(format_version="1")), "format_version"),
    "format_version true": (edit(lambda r: r.update(format_version=True)), "format_version"),
    "format_version 2": (edit(lambda r: r.update(format_version=2)), "format_version"),
    "kind missing": (edit(lambda r: r.pop("kind")), "kind"),
    "kind unknown": (edit(lambda r: r.update(kind="banana")), "kind"),
    "kind a list": (edit(lambda r: r.update(kind=["checkpoint"])), "kind"),
    "checkpoint missing": (edit(lambda r: r.pop(C)), C),
    "checkpoint a list": (edit(lambda r: r.update(checkpoint=[1])), C),
    "checkpoint lacks model": (edit(lambda r: r[C].pop("model")), C),
    "checkpoint lacks rng_state": (edit(lambda r: r[C].pop("rng_state")), C),
    "model a list": (edit(lambda r: r[C].update(model=[])), "checkpoint/model"),
    "model entry a number": (edit(lambda r: r[C]["model"].update({"0.weight": 5})),
                             "checkpoint/model"),
    "__array__ names no member": (edit(lambda r: r[C]["model"].update(
        {"0.weight": {"__array__": "model/nothing"}})), "checkpoint/model/0.weight"),
    "__array__ a list": (edit(lambda r: r[C]["model"].update({"0.weight": {"__array__": []}})),
                         "checkpoint/model/0.weight"),
    "__array__ the metadata": (edit(lambda r: r[C]["model"].update(
        {"0.weight": {"__array__": "__metadata__"}})), "checkpoint/model/0.weight"),
    "__array__ and other keys": (edit(lambda r: r[C]["model"]["0.weight"].update(x=1)),
                                 "checkpoint/model/0.weight"),
    "int keys not ints": (edit(lambda r: r[C]["optimizer"]["state"].update(
        __int_keys__={"a": {}})), "checkpoint/optimizer/state"),
    "int keys '01'": (edit(lambda r: r[C]["optimizer"]["state"].update(
        __int_keys__={"01": {}})), "checkpoint/optimizer/state"),
    "int keys a list": (edit(lambda r: r[C]["optimizer"]["state"].update(__int_keys__=[0])),
                        "checkpoint/optimizer/state"),
    "tuple a number": (edit(lambda r: r[C]["extra"]["shape"].update(__tuple__=3)),
                       "checkpoint/extra/shape"),
    "optimizer state a list": (edit(lambda r: r[C]["optimizer"].update(state=[1])),
                               "checkpoint/optimizer"),
    "param group without params": (edit(lambda r: r[C]["optimizer"]["param_groups"][0].pop(
        "params")), "checkpoint/optimizer"),
    "scheduler state a string": (edit(lambda r: r[C].update(scheduler="x")),
                                 "checkpoint/scheduler"),
    "loader state a list": (edit(lambda r: r[C].update(loader=[0, 1])), "checkpoint/loader"),
    "epoch a string": (edit(lambda r: r[C].update(epoch="3")), "checkpoint/epoch"),
    "rng_state a list": (edit(lambda r: r[C].update(rng_state=[])), "checkpoint/rng_state"),
    "rng_state names np.random.seed": (edit(lambda r: r[C]["rng_state"].update(
        bit_generator="seed")), "checkpoint/rng_state"),
    "nested too deeply for JSON": (replace_with(deep_json), "metadata of"),
    "nested too deeply to rebuild": (edit(lambda r: r[C].update(extra=nested(900))),
                                     "checkpoint"),
}


@pytest.mark.parametrize("case", CRAFTED)
def test_crafted_metadata_raises_value_error_naming_file_and_field(tmp_path, checkpoint, case):
    arrays, record = checkpoint
    change, field = CRAFTED[case]
    metadata = change(record)
    path = write_crafted(tmp_path / "crafted.npz", arrays, metadata)
    parts = make_parts()
    before = {name: obj.state_dict() for name, obj in parts.items() if name != "model"}
    weights = parts["model"].state_dict()
    with pytest.raises(ValueError) as caught:
        minicnn.load_checkpoint(path, **parts)
    message = str(caught.value)
    assert str(path) in message and repr(field).strip("'") in message, message
    for key, array in weights.items():  # nothing was changed
        np.testing.assert_array_equal(parts["model"].state_dict()[key], array)
    assert parts["loader"].state_dict() == before["loader"]
    assert parts["scheduler"].state_dict() == before["scheduler"]
    for call in (minicnn.load, io.load_metadata):  # a ValueError or a result, nothing else
        try:
            call(path)
        except ValueError:
            pass


def test_the_real_checkpoint_still_loads(tmp_path, checkpoint):
    arrays, record = checkpoint
    path = write_crafted(tmp_path / "same.npz", arrays, record)
    info = minicnn.load_checkpoint(path, **make_parts())
    assert info["epoch"] == 3 and info["extra"] == {"shape": (3, 4)}


# -- declared sizes ------------------------------------------------------------------------------
def npy_bytes(shape, dtype="<f4", data=b""):
    """A version 1.0 .npy file: its header declares ``shape``; ``data`` follows."""
    header = repr({"descr": dtype, "fortran_order": False, "shape": tuple(shape)}).encode()
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


def test_a_header_claiming_2_to_the_40_elements_is_refused_before_allocation(tmp_path):
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("w.npy", npy_bytes((2**40,), data=bytes(16)))
    assert path.stat().st_size < 300
    for call in (minicnn.load, io.load_metadata):
        with pytest.raises(ValueError, match=r"member 'w' of .*liar.npz' is corrupt: its .npy "
                                             r"header declares shape \(1099511627776,\)"):
            call(path)


def patch_sizes(path, size, crc=None):
    """Rewrite the uncompressed size (and CRC-32) of the only member, in both zip headers."""
    raw = bytearray(path.read_bytes())
    central = raw.find(b"PK\x01\x02")
    for crc_at, size_at in ((14, 22), (central + 16, central + 24)):  # local, central header
        struct.pack_into("<I", raw, size_at, size)
        if crc is not None:
            struct.pack_into("<I", raw, crc_at, crc)
    path.write_bytes(bytes(raw))


def test_a_stored_member_must_be_as_long_as_it_claims(tmp_path):
    path = tmp_path / "short.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("w.npy", npy_bytes((2**24,), "|u1", bytes(8)))  # 8 bytes stored
    patch_sizes(path, len(npy_bytes((2**24,), "|u1", bytes(2**24))))  # claims 16 MiB
    with pytest.raises(ValueError, match=r"member 'w' of .*short.npz' is corrupt: stored "
                                         r"uncompressed, it claims 16,777,[0-9]{3} bytes but "
                                         r"occupies"):
        minicnn.load(path)


def test_a_deflated_member_is_inflated_within_max_bytes(tmp_path):
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, w=np.zeros(2**21, np.float32))  # 8 MiB of zeros, ~8 KB on disk
    assert path.stat().st_size < 100_000
    with pytest.raises(ValueError, match=r"bomb.npz' holds 8,388,[0-9]{3} bytes of arrays, more "
                                         r"than max_bytes=1,048,576; if you trust the file, "
                                         r"pass a larger max_bytes"):
        minicnn.load(path, max_bytes=2**20)
    assert minicnn.load(path)["w"].shape == (2**21,)  # the default cap, 2 GiB, lets it through
    with pytest.raises(ValueError, match="max_bytes"):
        io.load_metadata(path, max_bytes=1000)


def test_a_deflated_member_is_inflated_no_further_than_its_declared_size(tmp_path):
    # The deflate stream holds 64 MiB; the directory and the header say 16 bytes of data.
    path = tmp_path / "long.npz"
    declared = npy_bytes((4,), "<f4", bytes(16))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("w.npy", npy_bytes((4,), "<f4", bytes(2**26)), zipfile.ZIP_DEFLATED)
    patch_sizes(path, len(declared), zlib.crc32(declared))
    tracemalloc.start()
    try:
        loaded = minicnn.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(loaded["w"], np.zeros(4, np.float32))
    assert peak < 2**22  # a few buffers, not 64 MiB


# -- pickle is refused on every path -------------------------------------------------------------
@pytest.mark.parametrize("dtype", [object, [("a", "f4"), ("b", object)]], ids=["O", "struct"])
@pytest.mark.parametrize("call", ["load", "load_metadata", "load_checkpoint"])
def test_object_arrays_are_refused_by_every_reader(tmp_path, checkpoint, call, dtype):
    arrays, record = checkpoint
    arrays["extra/names"] = np.zeros(2, dtype=dtype)  # np.savez pickles it
    path = write_crafted(tmp_path / "pickled.npz", arrays, record)
    readers = {"load": minicnn.load, "load_metadata": io.load_metadata,
               "load_checkpoint": lambda p: minicnn.load_checkpoint(p, **make_parts())}
    with pytest.raises(ValueError, match=r"object array .*'extra/names'.*allow_pickle=False"):
        readers[call](path)
