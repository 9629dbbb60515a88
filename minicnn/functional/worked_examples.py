"""Worked examples to print: one output of a convolution or a pooling, computed in front of you.

    F.explain_conv(x, w, b, at=(0, 0, 0, 0), padding=1)   # window, products, channel sums
    F.explain_pool(x, 2, at=(0, 0, 1, 1))                  # the window and its maximum

Each prints the window of the (padded) input that the output reads, the arithmetic, and the
result, and returns the numbers, so a lab sheet can check them. Nothing here is used by the
layers: it is the formula of ``conv2d_forward`` and ``max_pool2d_forward`` at one position.
"""

import sys
from typing import NamedTuple

import numpy as np

from .conv import pad2d

__all__ = ["ConvExplanation", "PoolExplanation", "explain_conv", "explain_pool"]


class ConvExplanation(NamedTuple):
    """One output of a convolution: its windows, their products with the kernel, the sums."""

    windows: np.ndarray       # (C, kh, kw): the padded input under the kernel
    products: np.ndarray      # (C, kh, kw): windows * w[o]
    channel_sums: np.ndarray  # (C,): the sum of each channel's products
    bias: float
    value: float              # Σ channel_sums + bias, equal to out[n, o, i, j]


class PoolExplanation(NamedTuple):
    """One output of a pooling: its window and the value it gives."""

    window: np.ndarray  # (kh, kw)
    value: float
    argmax: "tuple[int, int] | None"  # (row, col) in the window, for max pooling


def _pair(value) -> tuple[int, int]:
    return (value, value) if np.ndim(value) == 0 else tuple(value)


def _number(v) -> str:
    v = float(v)
    return str(int(v)) if v.is_integer() else f"{v:.4g}"


def _matrix_rows(a: np.ndarray) -> list[str]:
    cells = [[_number(v) for v in row] for row in a]
    width = max(len(c) for row in cells for c in row)
    return [" ".join(c.rjust(width) for c in row) for row in cells]


def _check_position(where: str, at, shape: tuple, names: str) -> tuple:
    if len(at) != 4 or any(not 0 <= a < s for a, s in zip(at, shape, strict=True)):
        raise ValueError(f"{where}: expected at = ({names}) inside the output of shape {shape}, "
                         f"got {tuple(at)}")
    return tuple(int(a) for a in at)


def explain_conv(x, w, b=None, at=(0, 0, 0, 0), stride=1, padding=0, *, file=None):
    """Print how ``out[n, o, i, j]`` of ``conv2d_forward(x, w, b, stride, padding)`` is made.

        out[n, o, i, j] = b[o] + Σ_c Σ_u Σ_v  w[o, c, u, v] · x_pad[n, c, i·s + u, j·s + v]

    Shapes: x (N, C, H, W), w (O, C, kh, kw), b (O,) or None; ``at = (n, o, i, j)``. For each
    channel c it prints the window of x_pad, the kernel w[o, c], their elementwise products and
    the channel's sum; then the sum over channels plus the bias. Returns a ``ConvExplanation``.
    """
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1]:
        raise ValueError(f"explain_conv: expected x (N, C, H, W) and w (O, C, kh, kw) with the "
                         f"same C, got shapes {x.shape} and {w.shape}")
    (sh, sw), (kh, kw) = _pair(stride), w.shape[2:]
    x_pad, _ = pad2d(x, padding)
    out_shape = (x.shape[0], w.shape[0], (x_pad.shape[2] - kh) // sh + 1,
                 (x_pad.shape[3] - kw) // sw + 1)
    n, o, i, j = _check_position("explain_conv", at, out_shape, "n, o, i, j")
    rows, cols = slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)
    windows = x_pad[n, :, rows, cols]
    products = windows * w[o]
    channel_sums = products.sum(axis=(1, 2))
    bias = 0.0 if b is None else float(np.asarray(b)[o])
    value = float(channel_sums.sum() + bias)

    file = sys.stdout if file is None else file
    print(f"out[{n}, {o}, {i}, {j}] = b[{o}] + Σ_c Σ_u Σ_v w[{o}, c, u, v] · "
          f"x_pad[{n}, c, {i}·{sh} + u, {j}·{sw} + v]", file=file)
    for c in range(x.shape[1]):
        print(f"channel {c}: rows {rows.start}..{rows.stop - 1}, columns {cols.start}.."
              f"{cols.stop - 1} of the padded input", file=file)
        blocks = [_matrix_rows(windows[c]), _matrix_rows(w[o, c]), _matrix_rows(products[c])]
        widths = [len(block[0]) for block in blocks]
        print("    " + "   ".join(t.ljust(wd) for t, wd in
                                  zip(("window", "kernel", "products"), widths, strict=True)),
              file=file)
        for r in range(kh):
            line = "   ".join(block[r].ljust(wd) for block, wd in zip(blocks, widths,
                                                                       strict=True))
            tail = f"   sum {_number(channel_sums[c])}" if r == kh - 1 else ""
            print("    " + line + tail, file=file)
    terms = " ".join(("" if k == 0 else ("− " if s < 0 else "+ ")) +
                     (_number(s) if k == 0 else _number(abs(s)))
                     for k, s in enumerate([*channel_sums, bias]))
    print(f"out[{n}, {o}, {i}, {j}] = {terms} = {_number(value)}   "
          f"(the channel sums, then the bias)", file=file)
    return ConvExplanation(windows, products, channel_sums, bias, value)


def explain_pool(x, kernel_size, stride=None, at=(0, 0, 0, 0), padding=0, mode: str = "max",
                 *, file=None):
    """Print how ``out[n, c, i, j]`` of max (or average) pooling is made.

        max:  out[n, c, i, j] = max_{u, v} x_pad[n, c, i·s + u, j·s + v]   (padding with −∞)
        avg:  out[n, c, i, j] = mean_{u, v} x_pad[n, c, i·s + u, j·s + v]  (padding with 0)

    Shapes: x (N, C, H, W); ``at = (n, c, i, j)``; stride defaults to the kernel size. Prints the
    window, marks the maximum (the element that receives the gradient: the first one in
    row-major order on ties) or shows the sum and count. Returns a ``PoolExplanation``.
    """
    if mode not in ("max", "avg"):
        raise ValueError(f"explain_pool: expected mode 'max' or 'avg', got {mode!r}")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4:
        raise ValueError(f"explain_pool: expected x (N, C, H, W), got shape {x.shape}")
    (kh, kw) = _pair(kernel_size)
    (sh, sw) = _pair(kernel_size if stride is None else stride)
    x_pad, _ = pad2d(x, padding, value=-np.inf if mode == "max" else 0.0)
    out_shape = (*x.shape[:2], (x_pad.shape[2] - kh) // sh + 1, (x_pad.shape[3] - kw) // sw + 1)
    n, c, i, j = _check_position("explain_pool", at, out_shape, "n, c, i, j")
    window = x_pad[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw]
    file = sys.stdout if file is None else file
    print(f"out[{n}, {c}, {i}, {j}] = {mode} of x_pad[{n}, {c}, {i * sh}..{i * sh + kh - 1}, "
          f"{j * sw}..{j * sw + kw - 1}]:", file=file)
    argmax = None
    if mode == "max":
        argmax = tuple(int(k) for k in np.unravel_index(np.argmax(window), window.shape))
        value = float(window[argmax])
        for r, row in enumerate(window):
            print("    " + " ".join((f"[{_number(v)}]" if (r, q) == argmax else
                                     f" {_number(v)} ").rjust(7) for q, v in enumerate(row)),
                  file=file)
        print(f"  = {_number(value)}, at row {argmax[0]}, column {argmax[1]} of the window "
              f"(its gradient goes there)", file=file)
    else:
        value = float(window.mean())
        for row in _matrix_rows(window):
            print("    " + row, file=file)
        print(f"  = {_number(window.sum())} / {window.size} = {_number(value)}", file=file)
    return PoolExplanation(window, value, argmax)
