"""Whether layers keep what their backward pass needs.

A layer's forward pass stores a cache (its input, an im2col matrix, a dropout mask ...) for the
backward pass. Inside ``with minicnn.no_grad():`` it stores nothing, which is what inference
wants: less memory, and no stale caches.
"""

import contextlib
import threading


class _GradMode(threading.local):
    enabled = True  # each thread starts with gradients on (a class attribute: no lookup miss)


_state = _GradMode()


def is_grad_enabled() -> bool:
    """True unless inside a ``no_grad()`` block (of this thread)."""
    return _state.enabled


@contextlib.contextmanager
def _grad_mode(enabled: bool):
    previous = is_grad_enabled()
    _state.enabled = enabled
    try:
        yield
    finally:
        _state.enabled = previous


def no_grad():
    """Context manager: layers keep no cache for backward (inference, evaluation)."""
    return _grad_mode(False)


def enable_grad():
    """Context manager: layers keep their caches again (inside a ``no_grad`` block)."""
    return _grad_mode(True)
