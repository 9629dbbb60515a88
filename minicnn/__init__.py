"""minicnn: convolutional neural networks from scratch in NumPy, written to be read.

Every layer has an explicit ``forward`` and a hand-derived ``backward``; there is no autograd.

    import minicnn
    from minicnn import nn, optim, models, data, functional as F

Two engines compute the layers (``minicnn.engines``): the reference, ``minicnn.functional``,
is the plain NumPy a student reads; the fast one, ``minicnn.fast`` (the default), gives the same
numbers faster. ``minicnn.set_engine("reference")`` or ``with minicnn.engine("reference"):``
switches.

Submodules load on first use, and importing changes nothing in the process: no thread, no
compilation, no BLAS or allocator setting. Numba is imported when the fast engine first runs,
matplotlib when a plot is drawn.
"""

import importlib

from ._grad_mode import enable_grad, is_grad_enabled, no_grad
from ._random import get_rng, get_rng_state, manual_seed, set_rng_state
from .engines import engine, get_engine, set_engine

# Imported eagerly (it needs only NumPy) because the function shares the submodule's name:
# a lazy import would let the submodule shadow the function once anything imported it.
from .summary import summary

__version__ = "0.1.0"

_SUBMODULES = (
    "callbacks", "data", "distributed", "engines", "explain", "fast", "functional", "gradcheck",
    "io", "labs", "metrics", "models", "nn", "optim", "sanity", "segmentation_baselines",
    "train", "viz",
)
# Functions (and History, what fit returns) re-exported at the top level, by their submodule.
_FUNCTIONS = {
    "History": "train",
    "save": "io",
    "load": "io",
    "save_checkpoint": "io",
    "load_checkpoint": "io",
    "fit": "train",
    "set_num_threads": "fast.threads",
    "get_num_threads": "fast.threads",
    "evaluate": "train",
    "predict": "train",
}

__all__ = [
    "__version__", "enable_grad", "engine", "get_engine", "get_rng", "get_rng_state",
    "is_grad_enabled", "manual_seed", "no_grad", "set_engine", "set_rng_state", "summary",
    *_SUBMODULES, *_FUNCTIONS,
]


def __getattr__(name):
    # PEP 562: import submodules lazily, on first attribute access.
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(f".{_FUNCTIONS[name]}", __name__), name)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'minicnn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES) | set(_FUNCTIONS))
