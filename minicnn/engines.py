"""Which engine computes the layers: the reference (``minicnn.functional``) or the fast one.

Every operation exists in the **reference** engine, ``minicnn.functional``: the formula of its
docstring in plain NumPy, the code a lab sheet points at. The **fast** engine, ``minicnn.fast``,
computes the same numbers by Numba loops, threads and cache-sized chunks, for the operations
where a benchmark showed that it matters, and takes the reference's for the rest. Layers never
know which one runs::

    minicnn.set_engine("reference")         # from now on, process-wide
    with minicnn.engine("reference"):       # inside the block only
        logits = model(x)
    minicnn.get_engine()                    # "fast", the default

``MINICNN_ENGINE=reference`` in the environment sets the default. The setting is process-wide
(all threads), like ``set_num_threads``; a layer's backward always runs the engine its forward
ran, so switching in between is safe. Under "reference" nothing imports Numba.
"""

import contextlib
import importlib
import os
import threading

__all__ = ["ENGINES", "engine", "functions", "get_engine", "set_engine"]

ENGINES = ("reference", "fast")
_MODULES = {"reference": "minicnn.functional", "fast": "minicnn.fast.ops"}

_lock = threading.Lock()
_active: str | None = None  # read from MINICNN_ENGINE on first use
_loaded: dict = {}  # engine name -> its namespace, once imported


def _check(name, where: str) -> str:
    if name not in ENGINES:
        raise ValueError(f"{where}: expected an engine name in {ENGINES}, got {name!r}")
    return name


def get_engine() -> str:
    """The engine layers use now: "fast" (the default) or "reference"."""
    global _active
    if _active is None:
        with _lock:
            if _active is None:
                chosen = os.environ.get("MINICNN_ENGINE", "fast")
                _active = _check(chosen, "MINICNN_ENGINE")
    return _active


def set_engine(name: str) -> None:
    """Make ``name`` ("reference" or "fast") the engine every layer uses from now on."""
    global _active
    _check(name, "set_engine")
    with _lock:
        _active = name


@contextlib.contextmanager
def engine(name: str):
    """Context manager: use engine ``name`` inside the block, the previous one after it."""
    _check(name, "engine")
    previous = get_engine()
    set_engine(name)
    try:
        yield
    finally:
        set_engine(previous)


def functions(name: str | None = None):
    """The namespace of engine ``name`` (default: the active one), a module with every
    functional operation: ``minicnn.functional`` or ``minicnn.fast.ops``."""
    name = get_engine() if name is None else name
    namespace = _loaded.get(name)  # every layer call asks: a dict lookup, not an import
    if namespace is None:
        namespace = _loaded[_check(name, "functions")] = importlib.import_module(_MODULES[name])
    return namespace
