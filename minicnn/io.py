"""Saving and loading weights and training checkpoints as ``.npz`` files, without pickle.

An ``.npz`` file is a zip archive of ``.npy`` arrays, one per state-dict key, so any NumPy can
read it (``np.load("model.npz")["0.weight"]``) and it can hold nothing but arrays: loading it
runs no code, unlike a pickle. One extra member, ``__metadata__``, holds a JSON text (as a 0-d
unicode array) with the minicnn version, the architecture name and your own metadata.

    minicnn.save(model, "lenet.npz", metadata={"val_acc": 0.991})
    model.load_state_dict(minicnn.load("lenet.npz"))
    minicnn.io.load_metadata("lenet.npz")   # {'minicnn_version': '0.1.0', ..., 'val_acc': 0.991}

    minicnn.save_checkpoint("ckpt.npz", model, optimizer, epoch=5, scheduler=scheduler)
    info = minicnn.load_checkpoint("ckpt.npz", model, optimizer, scheduler=scheduler)
    start_epoch = info["epoch"] + 1

Files are written atomically: into a temporary file in the same folder, then renamed over the
target with ``os.replace``. A crash or an error mid-write leaves the old file intact and no
half-written one; the temporary file of a save that was killed is deleted by the next save of
the same file. Paths without the ``.npz`` suffix get it, as with ``np.savez``. Your own
files can be written the same way with ``minicnn.io.atomic_write``::

    with minicnn.io.atomic_write("results.json", "w", encoding="utf-8") as f:
        json.dump(results, f)

A checkpoint stores nested dicts and lists (the optimizer's ``{"state": {0: {...}},
"param_groups": [...]}``, the scheduler's and data loader's state dicts, the random generator's
state) by splitting them: every ndarray becomes an archive member named by its path
(``optimizer/state/3/momentum_buffer``), everything else (numbers, strings, lists) stays in the
JSON, where the array is replaced by ``{"__array__": "optimizer/state/3/momentum_buffer"}``.
Integer dict keys and tuples, which JSON lacks, are tagged the same way, so that loading gives
back exactly the structure that was saved (NumPy scalars come back as Python numbers).

Reading trusts nothing the file declares. Before any array is allocated, each member's ``.npy``
header must agree with the member's size in the zip directory, and the arrays together may
take at most ``max_bytes`` (``MAX_BYTES``, 2 GiB, unless you pass ``max_bytes=`` to ``load``,
``load_metadata`` or ``load_checkpoint``): a 252-byte file cannot make us allocate 4 TiB, nor a
4 MB compressed member inflate to 4 GiB. Metadata that ``save``/``save_checkpoint`` cannot have
written (a wrong format_version or kind, a tag naming a missing member, ...) is a ValueError
naming the file and the field.
"""

import json
import math
import os
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ._atomic import atomic_write

__all__ = ["atomic_write", "load", "load_checkpoint", "load_metadata", "save", "save_checkpoint"]

METADATA_KEY = "__metadata__"
FORMAT_VERSION = 1
# Metadata keys that minicnn writes; user metadata may not replace them ("arch" it may).
_RESERVED = ("minicnn_version", "format_version", "kind", "checkpoint")
_KINDS = ("state_dict", "checkpoint")
# What a checkpoint holds, each part named as in save_checkpoint's arguments.
_CHECKPOINT_PARTS = ("model", "optimizer", "scheduler", "loader", "epoch", "extra", "rng_state")
# Tags for what JSON cannot say by itself (see the module docstring).
_ARRAY, _INT_KEYS, _TUPLE = "__array__", "__int_keys__", "__tuple__"
# The most bytes a file's arrays may take once read, unless the caller passes max_bytes=.
MAX_BYTES = 2**31


# -- paths and the atomic writer -------------------------------------------------------------------
def _npz_path(path) -> Path:
    """``path`` with the ``.npz`` suffix that ``np.savez`` would add."""
    path = Path(os.fspath(path))
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def _path_to_write(path, where: str) -> Path:
    path = _npz_path(path)
    if not path.parent.is_dir():  # say so, rather than fail on the temporary file's name
        raise FileNotFoundError(f"{where}: the folder '{path.parent}' does not exist")
    return path


def _existing_path(path, where: str) -> Path:
    """The file to read: ``path`` as given if it exists, else with ``.npz`` appended."""
    given = Path(os.fspath(path))
    for candidate in (given, _npz_path(given)):
        if candidate.is_file():
            return candidate
    tried = " or ".join(sorted({f"'{given}'", f"'{_npz_path(given)}'"}))
    raise FileNotFoundError(f"{where}: no such file: {tried}")


def _write_npz_atomically(path: Path, arrays: "OrderedDict[str, np.ndarray]") -> None:
    """Write ``arrays`` as an uncompressed ``.npz`` at ``path``, all or nothing.

    Written member by member with ``np.lib.format.write_array(allow_pickle=False)``, as
    ``np.savez`` does, but without its keyword arguments (a key named ``file`` would clash).
    """
    with atomic_write(path) as file, zipfile.ZipFile(
            file, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, array in arrays.items():
            with archive.open(key + ".npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


# -- checking what is saved ------------------------------------------------------------------------
def _check_array(value, key: str, where: str) -> np.ndarray:
    """``value`` if it is an ndarray that can be saved without pickle; TypeError otherwise."""
    if not isinstance(value, np.ndarray):
        hint = " (pass its .data)" if type(value).__name__ == "Parameter" else ""
        raise TypeError(f"{where}: expected numpy arrays as state-dict values, got "
                        f"{type(value).__name__} for {key!r}{hint}")
    if value.dtype.hasobject:
        raise TypeError(f"{where}: {key!r} is an object array (dtype {value.dtype}), which only "
                        f"pickle could store; minicnn files hold numeric arrays only")
    return value


def _state_dict_of(model_or_state_dict, where: str):
    """(state dict, architecture name or None) from a model or a state dict."""
    if callable(getattr(model_or_state_dict, "state_dict", None)):
        model = model_or_state_dict
        arch = getattr(model, "arch", None) or type(model).__name__
        return model.state_dict(), str(arch)
    if isinstance(model_or_state_dict, Mapping):
        return model_or_state_dict, None
    raise TypeError(f"{where}: expected a Module or a state dict (a mapping of names to arrays), "
                    f"got {type(model_or_state_dict).__name__}")


def _to_json(value, where: str) -> str:
    def numpy_scalars(obj):  # json.dumps calls this for what it cannot encode itself
        if isinstance(obj, np.generic):
            return obj.item()
        raise TypeError(f"{where}: metadata must be JSON-serialisable (numbers, strings, lists, "
                        f"dicts with string keys), got {type(obj).__name__}")
    return json.dumps(value, default=numpy_scalars)


def _metadata_record(arch, kind: str, metadata, where: str) -> dict:
    from . import __version__

    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, Mapping):
        raise TypeError(f"{where}: expected metadata as a dict, got {type(metadata).__name__}")
    clashes = [key for key in metadata if key in _RESERVED]
    if clashes:
        raise ValueError(f"{where}: metadata keys {clashes} are reserved for minicnn's own use")
    record = {"minicnn_version": __version__, "format_version": FORMAT_VERSION, "kind": kind,
              "arch": arch}
    record.update(metadata)  # a user "arch" names a bare state dict's architecture
    return record


def _archive(state_arrays: Mapping, record: dict, where: str) -> "OrderedDict[str, np.ndarray]":
    """The members of the file: the arrays in their order, then the metadata JSON."""
    arrays = OrderedDict()
    for key, value in state_arrays.items():
        if not isinstance(key, str):
            raise TypeError(f"{where}: state-dict keys must be strings, got {key!r}")
        if key == METADATA_KEY:
            raise ValueError(f"{where}: the key {METADATA_KEY!r} is reserved for the metadata")
        arrays[key] = _check_array(value, key, where)
    arrays[METADATA_KEY] = np.array(_to_json(record, where))  # a 0-d '<U' array, not an object
    return arrays


# -- save and load ---------------------------------------------------------------------------------
def save(model_or_state_dict, path, metadata: dict | None = None) -> Path:
    """Save a model's state dict (or a state dict) to ``path`` (``.npz`` added if missing).

    The metadata record holds ``minicnn_version``, ``arch`` (the model's ``arch`` attribute,
    else its class name; None for a bare state dict unless ``metadata["arch"]`` names it) and
    the entries of ``metadata`` (JSON-serialisable). Returns the path written.

    Raises TypeError for a value that is not an ndarray, or is an object array, before
    anything is written.
    """
    where = "minicnn.save"
    state, arch = _state_dict_of(model_or_state_dict, where)
    record = _metadata_record(arch, "state_dict", metadata, where)
    path = _path_to_write(path, where)
    _write_npz_atomically(path, _archive(state, record, where))
    return path


def _read_npz(path, where: str, max_bytes: int):
    """(OrderedDict of every array member but the metadata, metadata record) of an npz file."""
    path = _existing_path(path, where)
    with open(path, "rb") as file:  # open() here, so a PermissionError is reported as one
        is_zip = zipfile.is_zipfile(file)
    if not is_zip:
        raise ValueError(f"{where}: '{path}' is not an .npz archive (not a zip file, or a "
                         f"truncated one); expected a file written by minicnn.save or np.savez")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            _check_members(archive, members, path, where, max_bytes)  # before any allocation
            arrays = OrderedDict((_key_of(info), _read_member(archive, info, path, where))
                                 for info in members)
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise ValueError(f"{where}: '{path}' is corrupt: {error}") from error
    return arrays, _parse_metadata(arrays.pop(METADATA_KEY, None), path, where)


def _key_of(info: zipfile.ZipInfo) -> str:
    """The state-dict key of a member, as ``np.load`` names it: without ``.npy``."""
    return info.filename.removesuffix(".npy")


def _read_member(archive, info, path, where: str) -> np.ndarray:
    with archive.open(info) as member:
        try:
            return np.lib.format.read_array(member, allow_pickle=False)
        except ValueError as error:  # e.g. fewer bytes of data than the header declares
            raise ValueError(f"{where}: member {_key_of(info)!r} of '{path}' is corrupt: "
                             f"{error}") from error


def _check_members(archive, members, path, where: str, max_bytes: int) -> None:
    """Refuse a member whose ``.npy`` header disagrees with its size in the zip directory, and
    a file whose arrays take more than ``max_bytes``, reading only the headers.

    A header can claim any shape: trusted, ``read_array`` would allocate 2**40 elements for a
    252-byte file. A deflated member's size in the directory can claim anything too, but the
    zip reader stops inflating there, so once it agrees with the header and fits under the
    cap, so does the array. A stored (not deflated) member must be as long as it claims.
    """
    if len({info.filename for info in members}) != len(members):
        raise ValueError(f"{where}: '{path}' is corrupt: two members have the same name")
    total = 0
    for info in members:
        name = _key_of(info)
        header_size, shape, dtype = _npy_header(archive, info, path, where)
        data_size = math.prod(shape) * dtype.itemsize
        if header_size + data_size != info.file_size:
            raise ValueError(
                f"{where}: member {name!r} of '{path}' is corrupt: its .npy header declares "
                f"shape {shape} of {dtype} ({data_size:,} bytes), but the zip directory gives "
                f"it {info.file_size - header_size:,} bytes of data")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise ValueError(
                f"{where}: member {name!r} of '{path}' is corrupt: stored uncompressed, it "
                f"claims {info.file_size:,} bytes but occupies {info.compress_size:,}")
        total += info.file_size
    if total > max_bytes:
        raise ValueError(
            f"{where}: '{path}' holds {total:,} bytes of arrays, more than max_bytes="
            f"{max_bytes:,}; if you trust the file, pass a larger max_bytes")


def _npy_header(archive, info, path, where: str):
    """(header size in bytes, shape, dtype) from the ``.npy`` header of one member."""
    name = _key_of(info)
    with archive.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
        except ValueError:  # another kind of file, or shorter than the magic string
            raise ValueError(f"{where}: member {name!r} of '{path}' is not a .npy array; "
                             f"expected a file written by minicnn.save or np.savez") from None
        if version not in _HEADER_READERS:
            raise ValueError(f"{where}: member {name!r} of '{path}' is a .npy file of version "
                             f"{version[0]}.{version[1]}; expected 1.0 or 2.0")
        try:
            shape, _, dtype = _HEADER_READERS[version](member)
        except ValueError as error:
            raise ValueError(f"{where}: member {name!r} of '{path}' is corrupt: {error}") from None
        if dtype.hasobject:
            raise ValueError(f"{where}: '{path}' contains an object array ({name!r}), which "
                             f"could only be read by unpickling it, and unpickling can run "
                             f"arbitrary code; minicnn refuses (allow_pickle=False)")
        return member.tell(), shape, dtype


_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}


def _corrupt(where: str, path, field: str, problem: str) -> ValueError:
    return ValueError(f"{where}: the metadata of '{path}' is corrupt: the field {field!r} "
                      f"{problem}")


def _parse_metadata(member, path, where: str) -> dict:
    """The metadata record, checked: a JSON object with a known format_version and kind."""
    if member is None:  # an .npz written by np.savez
        return {}
    if member.ndim != 0 or member.dtype.kind != "U":
        raise _corrupt(where, path, METADATA_KEY, f"is a {member.dtype} array of shape "
                       f"{member.shape}; expected a 0-d unicode array holding a JSON text")
    try:
        record = json.loads(str(member))
    except (ValueError, RecursionError) as error:
        raise ValueError(f"{where}: the metadata of '{path}' is corrupt: {error}") from error
    if not isinstance(record, dict):
        raise _corrupt(where, path, METADATA_KEY,
                       f"holds a JSON {type(record).__name__}; expected a JSON object")
    version = record.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise _corrupt(where, path, "format_version", f"is {version!r}; expected an integer")
    if version != FORMAT_VERSION:
        raise _corrupt(where, path, "format_version", f"is {version}; this minicnn reads "
                       f"format {FORMAT_VERSION} (was the file written by a newer minicnn?)")
    if record.get("kind") not in _KINDS:
        raise _corrupt(where, path, "kind",
                       f"is {record.get('kind')!r}; expected one of {list(_KINDS)}")
    return record


def load(path, with_metadata: bool = False, max_bytes: int = MAX_BYTES):
    """The state dict saved at ``path``: an OrderedDict name → ndarray, in the saved order.

    Reads with ``allow_pickle=False``. Any ``.npz`` of arrays loads (e.g. one written with
    ``np.savez``); for a checkpoint written by ``save_checkpoint`` this is the model's state
    dict. ``with_metadata=True`` returns ``(state_dict, metadata)``; see ``load_metadata``.
    A file whose arrays would take more than ``max_bytes`` (2 GiB by default) is refused before
    anything is allocated; pass a larger value for a bigger file you trust.

    Raises FileNotFoundError for a missing file and ValueError for a file that is not an
    ``.npz`` archive, is corrupt (sizes, metadata), holds object arrays or exceeds max_bytes.
    """
    where = "minicnn.load"
    arrays, record = _read_npz(path, where, max_bytes)
    if record.get("kind") == "checkpoint":
        state = OrderedDict(_checkpoint_contents(record, arrays, path, where)["model"])
    else:
        state = arrays
    return (state, _public(record)) if with_metadata else state


def load_metadata(path, max_bytes: int = MAX_BYTES) -> dict:
    """The metadata record of a file: ``minicnn_version``, ``format_version``, ``kind``
    (``"state_dict"`` or ``"checkpoint"``), ``arch`` and the entries you saved.

    ``{}`` for an ``.npz`` written without minicnn. ``max_bytes`` as for ``load``.
    """
    return _public(_read_npz(path, "minicnn.io.load_metadata", max_bytes)[1])


def _public(record: dict) -> dict:
    """The record without a checkpoint's contents, which only ``load_checkpoint`` unpacks."""
    return {key: value for key, value in record.items() if key != "checkpoint"}


# -- checkpoints -----------------------------------------------------------------------------------
def _split(value, path: str, arrays: dict, where: str):
    """A JSON-able copy of ``value`` with every ndarray moved into ``arrays[path]``."""
    if isinstance(value, np.ndarray):
        if path in arrays:
            raise ValueError(f"{where}: two entries of the checkpoint share the name {path!r}")
        arrays[path] = _check_array(value, path, where)
        return {_ARRAY: path}
    if isinstance(value, Mapping):
        keys = list(value)
        if all(isinstance(key, str) for key in keys):
            if any(key in (_ARRAY, _INT_KEYS, _TUPLE) for key in keys):
                raise ValueError(f"{where}: the keys {_ARRAY}, {_INT_KEYS} and {_TUPLE} are "
                                 f"reserved (found at {path!r})")
            return {key: _split(item, f"{path}/{key}", arrays, where)
                    for key, item in value.items()}
        if all(isinstance(key, (int, np.integer)) and not isinstance(key, bool) for key in keys):
            return {_INT_KEYS: {str(int(key)): _split(item, f"{path}/{int(key)}", arrays, where)
                                for key, item in value.items()}}
        raise TypeError(f"{where}: dict keys must be all strings or all integers, got "
                        f"{keys!r} at {path!r}")
    if isinstance(value, (list, tuple)):
        items = [_split(item, f"{path}/{i}", arrays, where) for i, item in enumerate(value)]
        return {_TUPLE: items} if isinstance(value, tuple) else items
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"{where}: cannot store a {type(value).__name__} (at {path!r}); expected "
                    f"arrays, numbers, strings, None, and lists, tuples or dicts of them")


class _BadField(ValueError):
    """``(field, problem)``: a tag of the metadata that ``_split`` cannot have written."""


def _rebuild(value, arrays: Mapping, field: str):
    """The inverse of ``_split``: put the arrays back and undo the tags.

    ``field`` is where ``value`` sits (``checkpoint/optimizer/state``), for the error a tag
    that is not well-formed raises (crafted or damaged metadata): ``_BadField``.
    """
    if isinstance(value, list):
        return [_rebuild(item, arrays, f"{field}/{i}") for i, item in enumerate(value)]
    if not isinstance(value, dict):
        return value
    tags = [key for key in (_ARRAY, _INT_KEYS, _TUPLE) if key in value]
    if not tags:
        return {key: _rebuild(item, arrays, f"{field}/{key}") for key, item in value.items()}
    if len(value) != 1:
        raise _BadField(field, f"mixes the tag {tags[0]!r} with other keys: {sorted(value)}")
    tag, item = tags[0], value[tags[0]]
    if tag == _ARRAY:
        if not isinstance(item, str) or item not in arrays:
            raise _BadField(field, f"names the array {item!r:.60}, which is not in the file")
        return arrays[item]
    if tag == _INT_KEYS:
        if not isinstance(item, dict) or not all(map(_is_int_text, item)):
            raise _BadField(field, f"is tagged {_INT_KEYS!r} but holds {item!r:.60}; expected a "
                                   f"JSON object whose keys are integers")
        return {int(key): _rebuild(entry, arrays, f"{field}/{key}") for key, entry in item.items()}
    if not isinstance(item, list):
        raise _BadField(field, f"is tagged {_TUPLE!r} but holds {item!r:.60}; expected a list")
    return tuple(_rebuild(entry, arrays, f"{field}/{i}") for i, entry in enumerate(item))


def _is_int_text(key: str) -> bool:
    """Whether ``key`` is an integer as ``str(int)`` writes it ("3", "-1"; not "03" or "٣")."""
    try:
        return str(int(key)) == key
    except ValueError:
        return False


def _checkpoint_contents(record: dict, arrays: Mapping, path, where: str) -> dict:
    """The parts of a checkpoint (``_CHECKPOINT_PARTS``), rebuilt; ValueError naming the field
    if the metadata is not what ``save_checkpoint`` writes."""
    saved = record.get("checkpoint")
    if not isinstance(saved, dict):
        raise _corrupt(where, path, "checkpoint", f"is {saved!r:.60}; expected a JSON object")
    if missing := [part for part in _CHECKPOINT_PARTS if part not in saved]:
        raise _corrupt(where, path, "checkpoint", f"lacks the parts {missing}")
    try:
        contents = {part: _rebuild(saved[part], arrays, f"checkpoint/{part}")
                    for part in _CHECKPOINT_PARTS}
    except _BadField as error:
        raise _corrupt(where, path, *error.args) from None
    except RecursionError:
        raise _corrupt(where, path, "checkpoint", "is nested too deeply") from None
    model = contents["model"]
    if not (isinstance(model, dict) and all(isinstance(key, str) and isinstance(value, np.ndarray)
                                            for key, value in model.items())):
        raise _corrupt(where, path, "checkpoint/model", "is not a state dict (a JSON object "
                       "of arrays named by strings)")
    epoch = contents["epoch"]
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int)):
        raise _corrupt(where, path, "checkpoint/epoch", f"is {epoch!r}; expected an integer "
                       f"or null")
    return contents


def save_checkpoint(path, model, optimizer=None, epoch: int | None = None, scheduler=None,
                    loader=None, extra=None) -> Path:
    """Save everything needed to resume training: the model, optimizer, epoch, RNG state, ...

    Stored: ``model.state_dict()``; ``optimizer.state_dict()`` (PyTorch's layout
    ``{"state": {index: {name: array or number}}, "param_groups": [{..., "params": [index]}]}``);
    ``scheduler.state_dict()`` and ``loader.state_dict()`` when given; ``epoch``; ``extra``
    (anything built of arrays, numbers, strings, lists and dicts, e.g. the history so far); and
    the state of minicnn's default random generator, so that the shuffling, dropout masks and
    augmentations after resuming are those an uninterrupted run would have drawn.

    Returns the path written (``.npz`` added if missing). ``minicnn.load`` on a checkpoint
    returns the model's state dict.
    """
    from ._random import get_rng_state

    where = "minicnn.save_checkpoint"
    _, arch = _state_dict_of(model, where)
    contents = {
        "model": model.state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "loader": None if loader is None else loader.state_dict(),
        "epoch": epoch,
        "extra": extra,
        "rng_state": get_rng_state(),
    }
    arrays = OrderedDict()
    record = _metadata_record(arch, "checkpoint", None, where)
    record["checkpoint"] = {name: _split(value, name, arrays, where)
                            for name, value in contents.items()}
    path = _path_to_write(path, where)
    _write_npz_atomically(path, _archive(arrays, record, where))
    return path


def load_checkpoint(path, model, optimizer=None, scheduler=None, loader=None,
                    restore_rng: bool = True, max_bytes: int = MAX_BYTES) -> dict:
    """Restore a checkpoint written by ``save_checkpoint`` into the given objects.

    Loads the model's state dict (strictly: the architecture must match), then the optimizer's,
    scheduler's and loader's state when they are given, and (``restore_rng=True``) minicnn's
    default random generator. Objects passed here must have been saved; saved ones not passed
    are ignored. Returns ``{"epoch": ..., "extra": ..., "metadata": record}``. ``max_bytes`` as
    for ``load``.

    All or nothing: if any part does not fit (an SGD checkpoint given an Adam optimizer, another
    architecture, a bad random-generator state), ValueError says which, and the model,
    optimizer, scheduler, loader and generator are all left exactly as they were.
    """
    from ._random import generator_from_state, set_rng_state

    where = "minicnn.load_checkpoint"
    arrays, record = _read_npz(path, where, max_bytes)
    if record.get("kind") != "checkpoint":
        raise ValueError(f"{where}: '{path}' is not a checkpoint (kind {record.get('kind')!r}); "
                         f"load model weights with model.load_state_dict(minicnn.load(path))")
    contents = _checkpoint_contents(record, arrays, path, where)
    parts = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "loader": loader}
    parts = {name: obj for name, obj in parts.items() if obj is not None}
    missing = [name for name in parts if contents[name] is None]
    if missing:  # checked before anything is changed
        raise ValueError(f"{where}: '{path}' holds no {' or '.join(missing)} state")
    if restore_rng:
        try:  # checked now, set last: building a generator from the state changes nothing
            generator_from_state(contents["rng_state"])
        except ValueError as error:
            raise _corrupt(where, path, "checkpoint/rng_state", f"is not a random generator "
                           f"state ({error}); nothing was changed") from None

    _load_all_or_nothing(parts, contents, path, where)
    if restore_rng:
        set_rng_state(contents["rng_state"])
    return {"epoch": contents["epoch"], "extra": contents["extra"], "metadata": _public(record)}


def _load_all_or_nothing(parts: dict, contents: dict, path, where: str) -> None:
    """``obj.load_state_dict(contents[name])`` for each part; if one fails, every part is put
    back as it was and ValueError names the part that did not fit.

    Why snapshots and not checks first: the checks live in each class's ``load_state_dict``
    (Module, Optimizer, LRScheduler, DataLoader, or a user's own class); copying them here would
    drift from them, and a user's class has no check-only method. ``state_dict()`` returns
    copies, and an object's own state always fits it, so putting it back cannot fail.
    """
    snapshots = {name: obj.state_dict() for name, obj in parts.items()}
    try:
        for name, obj in parts.items():
            state = contents[name]
            obj.load_state_dict(OrderedDict(state) if name == "model" else state)
    except BaseException as error:
        # In reverse order, so the optimizer, restored after the scheduler (whose
        # load_state_dict sets each group's lr), gets back its own lr exactly.
        for part, obj in reversed(parts.items()):
            obj.load_state_dict(snapshots[part])
        # KeyError and the like: a crafted state the object's own checks did not foresee.
        if isinstance(error, (AttributeError, IndexError, KeyError, TypeError, ValueError)):
            raise ValueError(f"{where}: the {name} state in '{path}' (field 'checkpoint/{name}') "
                             f"does not fit the {name} given; nothing was changed. "
                             f"{type(error).__name__}: {error}") from error
        raise
