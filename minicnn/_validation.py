"""Checks shared by every layer: fail at the layer boundary, with a message a student can act on.

Each message names the layer (``where``), what it expected and what came, e.g.
``Conv2d(3, 16): expected input with 3 channels (N, 3, H, W), got shape (8, 1, 28, 28)``.
"""

from numbers import Integral, Real

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_float_array(where: str, x, name: str = "input") -> None:
    """TypeError unless ``x`` is a float32 or float64 ndarray."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{where}: expected {name} as a numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        hint = ""
        if np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_:
            hint = " (convert it first, e.g. x.astype(np.float32) / 255 for 8-bit images)"
        raise TypeError(
            f"{where}: expected {name} of dtype float32 or float64, got {x.dtype}{hint}")


def check_rank(where: str, x: np.ndarray, ndim: int, layout: str, name: str = "input") -> None:
    """ValueError unless ``x.ndim == ndim``; ``layout`` reads like ``"(N, C, H, W)"``."""
    if x.ndim != ndim:
        raise ValueError(f"{where}: expected {name} of rank {ndim} {layout}, got shape {x.shape}")


def check_dim(where: str, x: np.ndarray, axis: int, size: int, what: str, layout: str,
              name: str = "input") -> None:
    """ValueError unless ``x.shape[axis] == size``; e.g. ``what="channels"``."""
    if x.shape[axis] != size:
        noun = what[:-1] if size == 1 and what.endswith("s") else what  # "1 channel"
        raise ValueError(
            f"{where}: expected {name} with {size} {noun} {layout}, got shape {x.shape}")


def check_dtype_matches(where: str, x: np.ndarray, dtype: np.dtype, name: str = "input") -> None:
    """TypeError unless ``x`` has the layer's dtype: layers never silently change dtype."""
    if x.dtype != dtype:
        raise TypeError(
            f"{where}: expected {name} of dtype {np.dtype(dtype)} (the layer's parameters), got "
            f"{x.dtype}; convert the input with x.astype(np.{np.dtype(dtype)}) or the model with "
            f"model.astype(np.{x.dtype})")


def check_finite(where: str, x: np.ndarray, name: str = "input") -> None:
    """ValueError if ``x`` holds NaN or infinity."""
    if not np.isfinite(x).all():
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise ValueError(f"{where}: expected finite {name}, got {bad} NaN/inf value(s) "
                         f"in an array of shape {x.shape}")


def check_int(where: str, name: str, value) -> int:
    """``value`` as an int, else TypeError; ``True`` is refused (a bool is not a count)."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{where}: expected {name} as an int, got {value!r}")
    return int(value)


def check_positive_int(where: str, name: str, value) -> int:
    """``value`` as an int >= 1 (a number of channels, features, a stride), else TypeError or
    ValueError: ``Linear: expected in_features >= 1, got 0``."""
    value = check_int(where, name, value)
    if value < 1:
        raise ValueError(f"{where}: expected {name} >= 1, got {value}")
    return value


def check_gradient(where: str, dout, shape: tuple, dtype: np.dtype) -> None:
    """The upstream gradient dL/dout of a backward pass: an ndarray with exactly the shape and
    dtype of the forward output it belongs to.

    Exactly, because a wrong shape would otherwise surface as a NumPy broadcasting error deep in
    the backward math, or worse, broadcast silently into a wrong gradient. Only the shape and
    dtype are compared (O(1), no pass over the data): this runs in every backward pass.
    """
    if not isinstance(dout, np.ndarray):
        raise TypeError(f"{where}: expected a gradient as a numpy.ndarray, "
                        f"got {type(dout).__name__}")
    if dout.shape != shape:
        raise ValueError(f"{where}: expected a gradient of shape {shape} (the shape of the last "
                         f"forward output), got {dout.shape}")
    if dout.dtype != dtype:
        raise TypeError(f"{where}: expected a gradient of dtype {dtype} (the dtype of the last "
                        f"forward output), got {dout.dtype}")


def check_scalar_gradient(where: str, dloss) -> float:
    """The upstream gradient of a loss, dL_total/dL: one real number (the loss is one number).

    A Python or NumPy number, or a 0-d array of one; returned as a float. An array with more
    than one element is a ValueError, anything else (a string, a bool, a complex) a TypeError.
    """
    if isinstance(dloss, np.ndarray):
        if dloss.ndim != 0:
            raise ValueError(f"{where}: expected dloss as a scalar (the loss is a single "
                             f"number), got an array of shape {dloss.shape}")
        if not (np.issubdtype(dloss.dtype, np.floating)
                or np.issubdtype(dloss.dtype, np.integer)):
            raise TypeError(f"{where}: expected dloss as a real number, got dtype {dloss.dtype}")
        return float(dloss)
    if isinstance(dloss, bool) or not isinstance(dloss, Real):
        raise TypeError(f"{where}: expected dloss as a real number, got {type(dloss).__name__}")
    return float(dloss)


def as_pair(where: str, name: str, value, minimum: int = 0) -> tuple[int, int]:
    """An int or a pair of ints, as PyTorch accepts for kernel_size, stride and padding.

    Returns ``(value_h, value_w)``; ValueError if either is below ``minimum``.
    """
    pair = (value, value) if isinstance(value, Integral) else value
    if (not isinstance(pair, (tuple, list)) or len(pair) != 2
            or not all(isinstance(v, Integral) and not isinstance(v, bool) for v in pair)):
        raise TypeError(f"{where}: expected {name} as an int or a pair of ints, got {value!r}")
    pair = (int(pair[0]), int(pair[1]))
    if min(pair) < minimum:
        raise ValueError(f"{where}: expected {name} >= {minimum}, got {value!r}")
    return pair


def check_labels(where: str, y, num_classes: int, n: int) -> np.ndarray:
    """Integer class labels of shape (n,) with values in [0, num_classes); returned as int64."""
    if not isinstance(y, np.ndarray):
        y = np.asarray(y)
    if not (np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_):
        raise TypeError(f"{where}: expected integer class labels, got dtype {y.dtype}")
    if y.shape != (n,):
        raise ValueError(f"{where}: expected labels of shape ({n},) to match the {n} inputs, "
                         f"got shape {y.shape}")
    if n and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"{where}: expected labels in [0, {num_classes - 1}] for {num_classes} "
                         f"classes, got values from {y.min()} to {y.max()}")
    return y.astype(np.int64, copy=False)
