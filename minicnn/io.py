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
"""

import json
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
# Tags for what JSON cannot say by itself (see the module docstring).
_ARRAY, _INT_KEYS, _TUPLE = "__array__", "__int_keys__", "__tuple__"


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


def _read_npz(path, where: str):
    """(OrderedDict of every array member but the metadata, metadata record) of an npz file."""
    path = _existing_path(path, where)
    with open(path, "rb") as file:  # open() here, so a PermissionError is reported as one
        is_zip = zipfile.is_zipfile(file)
    if not is_zip:
        raise ValueError(f"{where}: '{path}' is not an .npz archive (not a zip file, or a "
                         f"truncated one); expected a file written by minicnn.save or np.savez")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = OrderedDict((key, archive[key]) for key in archive.files)
    except ValueError as error:
        if "allow_pickle" in str(error):  # NumPy's message for an object array
            raise ValueError(f"{where}: '{path}' contains an object array, which could only be "
                             f"read by unpickling it, and unpickling can run arbitrary code; "
                             f"minicnn refuses (allow_pickle=False)") from error
        raise ValueError(f"{where}: '{path}' is corrupt: {error}") from error
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise ValueError(f"{where}: '{path}' is corrupt: {error}") from error
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray):  # np.load gives the bytes of a non-.npy member
            raise ValueError(f"{where}: member {key!r} of '{path}' is not a .npy array; expected "
                             f"a file written by minicnn.save or np.savez")
    return arrays, _parse_metadata(arrays.pop(METADATA_KEY, None), path, where)


def _parse_metadata(member, path, where: str) -> dict:
    if member is None:  # an .npz written by np.savez
        return {}
    try:
        return json.loads(str(member))
    except ValueError as error:
        raise ValueError(f"{where}: the metadata of '{path}' is corrupt: {error}") from error


def load(path, with_metadata: bool = False):
    """The state dict saved at ``path``: an OrderedDict name → ndarray, in the saved order.

    Reads with ``allow_pickle=False``. Any ``.npz`` of arrays loads (e.g. one written with
    ``np.savez``); for a checkpoint written by ``save_checkpoint`` this is the model's state
    dict. ``with_metadata=True`` returns ``(state_dict, metadata)``; see ``load_metadata``.

    Raises FileNotFoundError for a missing file and ValueError for a file that is not an
    ``.npz`` archive, is corrupt or holds object arrays.
    """
    arrays, record = _read_npz(path, "minicnn.load")
    if record.get("kind") == "checkpoint":
        state = OrderedDict(_rebuild(record["checkpoint"]["model"], arrays))
    else:
        state = arrays
    return (state, _public(record)) if with_metadata else state


def load_metadata(path) -> dict:
    """The metadata record of a file: ``minicnn_version``, ``format_version``, ``kind``
    (``"state_dict"`` or ``"checkpoint"``), ``arch`` and the entries you saved.

    ``{}`` for an ``.npz`` written without minicnn.
    """
    return _public(_read_npz(path, "minicnn.io.load_metadata")[1])


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


def _rebuild(value, arrays: Mapping):
    """The inverse of ``_split``: put the arrays back and undo the tags."""
    if isinstance(value, dict):
        if set(value) == {_ARRAY}:
            return arrays[value[_ARRAY]]
        if set(value) == {_INT_KEYS}:
            return {int(key): _rebuild(item, arrays) for key, item in value[_INT_KEYS].items()}
        if set(value) == {_TUPLE}:
            return tuple(_rebuild(item, arrays) for item in value[_TUPLE])
        return {key: _rebuild(item, arrays) for key, item in value.items()}
    if isinstance(value, list):
        return [_rebuild(item, arrays) for item in value]
    return value


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
                    restore_rng: bool = True) -> dict:
    """Restore a checkpoint written by ``save_checkpoint`` into the given objects.

    Loads the model's state dict (strictly: the architecture must match), then the optimizer's,
    scheduler's and loader's state when they are given, and (``restore_rng=True``) minicnn's
    default random generator. Objects passed here must have been saved; saved ones not passed
    are ignored. Returns ``{"epoch": ..., "extra": ..., "metadata": record}``.

    All or nothing: if any part does not fit (an SGD checkpoint given an Adam optimizer, another
    architecture, a bad random-generator state), ValueError says which, and the model,
    optimizer, scheduler, loader and generator are all left exactly as they were.
    """
    from ._random import generator_from_state, set_rng_state

    where = "minicnn.load_checkpoint"
    arrays, record = _read_npz(path, where)
    if record.get("kind") != "checkpoint":
        raise ValueError(f"{where}: '{path}' is not a checkpoint (kind {record.get('kind')!r}); "
                         f"load model weights with model.load_state_dict(minicnn.load(path))")
    contents = _rebuild(record["checkpoint"], arrays)
    parts = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "loader": loader}
    parts = {name: obj for name, obj in parts.items() if obj is not None}
    missing = [name for name in parts if contents[name] is None]
    if missing:  # checked before anything is changed
        raise ValueError(f"{where}: '{path}' holds no {' or '.join(missing)} state")
    if restore_rng:
        try:  # checked now, set last: building a generator from the state changes nothing
            generator_from_state(contents["rng_state"])
        except ValueError as error:
            raise ValueError(f"{where}: the field 'rng_state' of '{path}' is not a random "
                             f"generator state: {error}; nothing was changed") from None

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
        if isinstance(error, (TypeError, ValueError)):
            raise ValueError(f"{where}: the {name} state in '{path}' does not fit the {name} "
                             f"given; nothing was changed. {error}") from error
        raise
