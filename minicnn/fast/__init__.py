"""The fast engine: the reference's operations computed by Numba loops, threads and chunks.

``minicnn.functional`` is the reference engine, the code a student reads. This package computes
the same numbers faster, for the operations where a benchmark showed that it matters:

    conv.py            conv2d: four methods (im2col in chunks, direct, batch_last, winograd)
    winograd.py        conv2d by Winograd's F(2×2, 3×3) for 3×3 at stride 1 (kernels/winograd.py)
    methods.py         the one function that chooses among them
    pooling.py         max and average pooling by Numba loops
    activation.py      ReLU in one pass each way
    normalization.py   batch norm with batch statistics, fused per channel
    fold.py            inference: Conv2d → BatchNorm2d (→ ReLU) as one convolution (folded weights)
    kernels/           the Numba loops (the only modules that import Numba)
    parallel.py        splitting a kernel call over threads
    threads.py         set_num_threads / get_num_threads
    tuning.py          every tuning knob, each citing its benchmark
    process.py         configure_process: process-wide settings, only when asked
    ops.py             the engine's namespace: these operations, the reference's for the rest

Layers reach it through ``minicnn.engines`` (``minicnn.set_engine("fast")``, the default).
Importing this package loads nothing heavy: Numba comes with ``ops.py``, when the engine is
first used.
"""

import importlib

__all__ = ["configure_process", "get_num_threads", "set_num_threads"]

_LAZY = {"configure_process": "process", "get_num_threads": "threads",
         "set_num_threads": "threads"}


def __getattr__(name):
    # PEP 562: the functions load their module on first use (threadpoolctl, Numba stay unloaded).
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'minicnn.fast' has no attribute {name!r}")
