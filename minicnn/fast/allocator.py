"""Let the C allocator keep freed memory, so large arrays are not page-faulted in at every batch.

A training step allocates and frees the same large arrays again and again: every layer's output
and gradient, a few MB each. glibc's ``malloc`` hands blocks above a threshold (128 KB, raised
on the fly up to 32 MB) straight to and from the operating system (``mmap``/``munmap``), and
returns free memory at the top of its heap beyond another threshold. Memory fresh from the
operating system costs a page fault on the first write of every 4 KB page, and on a virtual
machine the faults of a layer's output can take longer than the layer that writes it. Raising
both thresholds to ``tuning.KEEP_FREED_BYTES`` (256 MB) keeps freed blocks in the process for
the next batch, and training steps get faster (figures: benchmarks/README.md, "Allocator").
The price: up to 256 MB of freed memory stays in the process instead of going back to the
system. PyTorch users get the same effect from jemalloc or tcmalloc; this needs no extra
library. ``minicnn.fast.configure_process()`` applies it; importing minicnn does not.

Only on Linux with glibc, and only if you have not set ``MALLOC_MMAP_THRESHOLD_`` or
``MALLOC_TRIM_THRESHOLD_`` yourself; ``MINICNN_KEEP_FREED_MEMORY=0`` turns it off.
"""

import ctypes
import os
import sys

from .tuning import KEEP_FREED_BYTES

# mallopt's parameter numbers, from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def keep_freed_memory(limit_bytes: int = KEEP_FREED_BYTES) -> bool:
    """Ask glibc to keep up to ``limit_bytes`` of freed memory; True if it now does.

    False (and nothing changed) elsewhere than Linux with glibc, when the user set the
    thresholds through the environment, or with ``MINICNN_KEEP_FREED_MEMORY=0``.
    """
    if os.environ.get("MINICNN_KEEP_FREED_MEMORY", "1") == "0":
        return False
    if not sys.platform.startswith("linux") or any(name in os.environ
                                                   for name in _USER_SETTINGS):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
        if not hasattr(libc, "gnu_get_libc_version"):  # musl: its mallopt does nothing
            return False
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    limit = int(min(limit_bytes, 2**31 - 1))
    return bool(mallopt(_M_MMAP_THRESHOLD, limit)) and bool(mallopt(_M_TRIM_THRESHOLD, limit))
