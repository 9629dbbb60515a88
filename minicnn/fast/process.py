"""Process-wide settings that make the fast engine faster, applied only when asked.

Two settings outside minicnn pay off in training, and both change the whole process, so
minicnn never applies them by itself (importing it changes nothing):

* ``blas_spin``: NumPy's OpenBLAS threads stop spinning after 2**16 idle cycles instead of
  2**28 (``threads.shorten_blas_spin``), so that they do not hold a core that minicnn's kernel
  threads need between two matrix products. It restarts OpenBLAS's thread pool, which is
  unsafe while another thread is inside a NumPy matrix product: call ``configure_process``
  at the start of a script, before starting threads. ``OPENBLAS_THREAD_TIMEOUT`` set by you
  wins.
* ``keep_freed_memory``: glibc keeps up to 256 MB of freed memory for reuse
  (``allocator.keep_freed_memory``), so that each batch's large arrays are not page-faulted in
  again. ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` set by you win.

    import minicnn
    minicnn.fast.configure_process()      # first thing in a training script

The figures with and without them are in ``benchmarks/README.md`` ("Process settings"). The
benchmarks and the example training scripts call it; a library that embeds minicnn need not.
"""

__all__ = ["configure_process"]


def configure_process(blas_spin: bool = True, keep_freed_memory: bool = True) -> dict:
    """Apply the chosen settings; returns ``{"blas_spin": bool, "keep_freed_memory": bool}``,
    True for each one now in force (False where it was not asked for, the user's environment
    variable won, or the platform lacks it)."""
    from .allocator import keep_freed_memory as keep
    from .threads import shorten_blas_spin

    return {"blas_spin": bool(blas_spin) and shorten_blas_spin(),
            "keep_freed_memory": bool(keep_freed_memory) and keep()}
