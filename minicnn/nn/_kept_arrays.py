"""The in-place guard: an array a layer keeps for backward must not change before backward.

A layer's backward reads what its forward kept: ``Linear`` keeps its input x for dW = doutᵀ·x,
and its weight for dx = dout·W. NumPy arrays are mutable, and a layer keeps a reference, not a
copy, wherever a copy would cost time. So ``x *= 0`` after forward, or an ``opt.step()``
between forward and backward, would make backward compute the gradient of a forward that never
happened, silently. PyTorch raises "modified by an inplace operation" there; so do we.

How. When a layer saves its cache (``Module._save_for_backward``), every array it was given or
holds (its inputs, its output, its parameters and buffers) that some array in the cache shares
memory with is *kept*: we record a fingerprint of it. ``Module._pop_cache`` recomputes the
fingerprints before backward runs and raises a RuntimeError naming the layer and the array if
one changed. An array the layer copied (a padded input, im2col's columns, ReLU's mask) shares
no memory with anything the caller holds and is not fingerprinted: nothing outside can change it.

The fingerprint of a small array (at most ``SMALL_BYTES``) is its bytes: compared exactly. That
of a larger one, viewed as 64-bit words laid out as a table of ``ROW`` columns, is the sum of
every column and the sum of every row, modulo 2⁶⁴ (and the bytes that do not fill a row).
Changing any one word changes its row's sum, so any single change is caught, whatever its
size; swapping two different words changes two row sums (different rows) or two column sums
(same row); a shuffled batch changes its rows' sums. Two NumPy sums read the array at memory
speed, with no temporary array as large as it. What it costs a training step:
``benchmarks/bench_inplace_guard.py`` (figures: benchmarks/README.md, "The in-place guard").
"""

import numpy as np

ROW = 1024  # words per row of the table
SMALL_BYTES = 1 << 16  # arrays up to this size are fingerprinted by a copy of their bytes


def column_and_row_sums(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sums of each column and each row of the uint64 ``table``, modulo 2⁶⁴."""
    return table.sum(axis=0, dtype=np.uint64), table.sum(axis=1, dtype=np.uint64)


def fingerprint(array: np.ndarray, sums=column_and_row_sums) -> bytes:
    """Bytes that change whenever ``array``'s contents change (see the module docstring).

    ``sums`` computes ``column_and_row_sums``; the fast engine passes its one-pass loop.
    """
    if array.nbytes <= SMALL_BYTES:
        return array.tobytes()
    data = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    full = data.size // 8 // ROW * ROW
    columns, rows = sums(data[: full * 8].view(np.uint64).reshape(-1, ROW))
    return b"".join((columns.tobytes(), rows.tobytes(), data[full * 8:].tobytes()))


_FAST = []  # the fast engine's fingerprint, once imported


def fingerprint_function(engine: str):
    """The engine's way to compute ``fingerprint``: the same bytes either way. The fast
    engine reads the array once instead of twice (``minicnn/fast/guard.py``)."""
    if engine != "fast":
        return fingerprint
    if not _FAST:
        from ..fast.guard import fingerprint as fast_fingerprint
        _FAST.append(fast_fingerprint)
    return _FAST[0]


def keep(cache, inputs: dict | None, out, parameters: dict, buffers: dict,
         fingerprint_of=fingerprint) -> tuple:
    """``(name, array, fingerprint, fingerprint_of)`` for each of the arrays a layer was given
    or holds (``inputs`` by name, its output ``out``, its ``parameters`` and ``buffers``) that
    an array in ``cache`` shares memory with."""
    cached = _arrays_in(cache)
    if not cached:
        return ()
    # Arrays that share memory have one owner (views of one array, or of one buffer). Most
    # caches hold only copies (a mask, im2col's columns): no owner in common, nothing to keep,
    # and this layer's guard costs no more than these few lookups (it runs at every forward).
    owners = {id(_owner(a)) for a in cached}
    candidates = [*(inputs.items() if inputs else ()), ("output", out)]
    if parameters:
        candidates += [(name, p.data) for name, p in parameters.items()]
    if buffers:
        candidates += buffers.items()
    candidates = [(name, array) for name, array in candidates
                  if isinstance(array, np.ndarray) and id(_owner(array)) in owners and array.size]
    if not candidates:
        return ()
    # Most caches keep the caller's arrays themselves (Linear's x and W): found by identity.
    # The rest of the cache (views such as x.reshape(...)) is compared by memory.
    same = {id(a) for a in cached}
    kept, seen = [], set()
    for name, array in candidates:
        if id(array) in same and id(array) not in seen:
            seen.add(id(array))
            kept.append((name, array, fingerprint_of(array), fingerprint_of))
    others = [a for a in cached if id(a) not in seen]
    for name, array in candidates:
        if id(array) not in seen and any(np.may_share_memory(array, a) for a in others):
            seen.add(id(array))  # one array under two names is kept once
            kept.append((name, array, fingerprint_of(array), fingerprint_of))
    return tuple(kept)


def check_unchanged(where: str, kept: tuple) -> None:
    """RuntimeError naming layer ``where`` and the array if a kept array changed since."""
    for name, array, print_, fingerprint_of in kept:
        if fingerprint_of(array) != print_:
            raise RuntimeError(
                f"{where}: backward(): its {name} (shape {array.shape}, {array.dtype}), kept "
                f"by forward() for backward(), was changed in place since; the gradient would be "
                f"that of a forward pass that never happened. Change a copy instead (x = x * 2, "
                f"not x *= 2), and run optimizer.step() after backward(), not between "
                f"forward() and backward(); then run forward() again")


def _owner(array: np.ndarray):
    """The object that owns ``array``'s memory: views of one array share their owner."""
    base = array.base
    while base is not None and type(base) is np.ndarray:
        array, base = base, base.base
    return array if base is None else base


def _arrays_in(cache) -> list:
    """Every non-empty ndarray in ``cache``: nested tuples, lists, dicts and dataclasses.

    Written for speed (it runs at every layer's forward): the scalars are recognised by their
    type, and a dataclass with an ``ARRAY_FIELDS`` attribute is searched in those fields only.
    """
    found, pending = [], [cache]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is np.ndarray:
            if item.size:
                found.append(item)
        elif kind is tuple or kind is list:
            pending.extend(item)
        elif kind in _SCALARS or item is None or isinstance(item, np.dtype):
            continue
        elif isinstance(item, np.ndarray):  # a subclass
            if item.size:
                found.append(item)
        elif isinstance(item, (tuple, list)):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item.values())
        elif hasattr(item, "__dataclass_fields__") and not isinstance(item, type):
            # A cache class may name the fields that can hold arrays (the fast engine's do).
            names = getattr(item, "ARRAY_FIELDS", item.__dataclass_fields__)
            pending.extend([getattr(item, name) for name in names])
    return found


_SCALARS = {int, float, bool, str, bytes, np.float32, np.float64, np.int64, np.bool_}
