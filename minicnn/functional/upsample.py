"""Upsampling (resizing) of images as a forward/backward pair, PyTorch's ``interpolate``.

Resizing is *separable*: each output row is made from input rows, then each output column from
those columns. Along one axis of input size ``n_in`` and output size ``n_out``, output index
``i`` reads a source position ``src(i)``:

    nearest:                       src(i) = min(floor(i · scale), n_in − 1)
    bilinear, align_corners=False: src(i) = max((i + 0.5) · scale − 0.5, 0)   (half-pixel centres)
    bilinear, align_corners=True:  src(i) = i · (n_in − 1) / (n_out − 1)      (0 if n_out = 1)

where ``scale = 1 / scale_factor`` when a scale factor is given (PyTorch's rule, unless
``recompute_scale_factor=True``) and ``n_in / n_out`` when a size is. Nearest copies the pixel
``src(i)``; bilinear mixes its two neighbours ``i0 = floor(src)`` and ``i1 = min(i0 + 1,
n_in − 1)`` with weights ``1 − λ`` and ``λ = src − i0``. Written as a matrix ``A`` (n_out, n_in)
per axis, holding those weights, the whole operation and its gradient are::

    out = A_h · x · A_wᵀ            dx = A_hᵀ · dout · A_w        (for each image and channel)

so the backward pass gives each output gradient back to the pixels it was read from, with the
same weights. As PyTorch does, nearest computes ``i · scale`` in float32 and bilinear in the
dtype of the input, so that the same pixels are picked where the rounding decides.

Shapes: x (N, C, H, W) → out (N, C, Ho, Wo), with ``(Ho, Wo) = size`` or
``Ho = floor(H · scale_factor_h)``; same dtype. Modes "nearest" and "bilinear" only, on 4-D
input only (PyTorch also has linear, bicubic, trilinear, area and nearest-exact).
"""

import math
from numbers import Integral, Real

import numpy as np

from .._validation import check_float_array, check_rank

__all__ = ["interpolate_backward", "interpolate_forward"]

MODES = ("nearest", "bilinear")


def _pair_of(where: str, name: str, value, kind, text: str) -> tuple:
    """``value`` (a single ``kind`` or a pair of them) as a pair; ValueError/TypeError else."""
    if isinstance(value, kind) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{where}: input and output must have the same number of spatial "
                             f"dimensions, got an input (N, C, H, W) with 2 and {name} "
                             f"{value!r}")
        if all(isinstance(v, kind) and not isinstance(v, bool) for v in value):
            return tuple(value)
    raise TypeError(f"{where}: expected {name} as {text} or a pair of them, got {value!r}")


def interpolate_params(where: str, size, scale_factor, mode: str, align_corners,
                       recompute_scale_factor=None):
    """The arguments checked as ``torch.nn.functional.interpolate`` checks them; returns
    ``(size pair or None, scale_factor pair of floats or None, align_corners as a bool)``."""
    if mode not in MODES:
        raise ValueError(f"{where}: unknown mode {mode!r}; expected one of {MODES}")
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{where}: " + ("only one of size or scale_factor should be defined"
                                         if size is not None else
                                         "either size or scale_factor should be defined"))
    if align_corners is not None and mode == "nearest":
        raise ValueError(f"{where}: align_corners option can only be set with the "
                         f"interpolating modes (bilinear here), got mode {mode!r}")
    if recompute_scale_factor and size is not None:
        raise ValueError(f"{where}: recompute_scale_factor is not meaningful with an explicit "
                         f"size")
    if size is not None:
        size = tuple(int(s) for s in _pair_of(where, "size", size, Integral, "an int"))
        if min(size) < 1:
            raise ValueError(f"{where}: expected output sizes greater than 0, got size {size}")
    else:
        scale_factor = tuple(float(f) for f in _pair_of(where, "scale_factor", scale_factor,
                                                        Real, "a number"))
        if not all(math.isfinite(f) and f > 0 for f in scale_factor):
            raise ValueError(f"{where}: expected scale_factor > 0, got {scale_factor}")
    return size, scale_factor, bool(align_corners)


def _source_positions(mode: str, n_in: int, n_out: int, scale_factor, align_corners: bool,
                      dtype) -> np.ndarray:
    """``src(i)`` for i = 0 .. n_out − 1 (module docstring): ints for nearest, else floats."""
    i = np.arange(n_out)
    if mode == "nearest":
        scale = np.float32(1 / scale_factor if scale_factor else n_in / n_out)
        return np.minimum(np.floor(i.astype(np.float32) * scale).astype(np.int64), n_in - 1)
    if align_corners:
        scale = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        return i.astype(dtype) * dtype.type(scale)
    scale = dtype.type(1 / scale_factor if scale_factor else n_in / n_out)
    return np.maximum((i.astype(dtype) + dtype.type(0.5)) * scale - dtype.type(0.5), 0)


def _neighbours(src: np.ndarray, n_in: int):
    """``(i0, i1, λ)`` of the module docstring: the two pixels around each source position
    and the weight of the second."""
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (src - i0).astype(src.dtype)


def _weight_matrix(mode: str, src: np.ndarray, n_in: int, dtype) -> np.ndarray:
    """``A`` (n_out, n_in): row i holds the weights with which output i reads the input."""
    matrix = np.zeros((len(src), n_in), dtype)
    rows = np.arange(len(src))
    if mode == "nearest":
        matrix[rows, src] = 1
    else:
        i0, i1, weight = _neighbours(src, n_in)
        np.add.at(matrix, (rows, i0), 1 - weight)  # add: i0 == i1 at the last pixel
        np.add.at(matrix, (rows, i1), weight)
    return matrix


def _resize_axis(x: np.ndarray, axis: int, mode: str, src: np.ndarray) -> np.ndarray:
    """x read at the source positions along ``axis``: copied (nearest) or mixed (bilinear).
    A gather rather than the matrix product, so that an inf stays where PyTorch keeps it."""
    if mode == "nearest":
        return np.take(x, src, axis=axis)
    i0, i1, weight = _neighbours(src, x.shape[axis])
    shape = [1] * x.ndim
    shape[axis] = -1
    weight = weight.reshape(shape)
    return np.take(x, i0, axis=axis) * (1 - weight) + np.take(x, i1, axis=axis) * weight


def interpolate_forward(x: np.ndarray, size=None, scale_factor=None, mode: str = "nearest",
                        align_corners=None, recompute_scale_factor=None, *,
                        where: str = "interpolate_forward"):
    """Resize x to ``size`` (Ho, Wo) or by ``scale_factor`` (a number or a pair); exactly one
    of them. See the module docstring for the formulas; ``align_corners`` (bilinear only)
    defaults to False, as PyTorch's, which no longer warns about it.

    Returns ``(out, cache)``; the cache holds the two weight matrices A_h and A_w.
    """
    size, scale_factor, align_corners = interpolate_params(
        where, size, scale_factor, mode, align_corners, recompute_scale_factor)
    check_float_array(where, x)
    check_rank(where, x, 4, "(N, C, H, W)")
    in_size = x.shape[2:]
    if size is None:
        size = tuple(math.floor(n * f) for n, f in zip(in_size, scale_factor, strict=True))
        if min(size) < 1:
            raise ValueError(f"{where}: input shape {x.shape} and scale_factor {scale_factor} "
                             f"give an empty output {size}")
    if scale_factor is None or recompute_scale_factor:
        scale_factor = (None, None)  # src(i) then uses n_in / n_out; else 1 / scale_factor
    if min(in_size) < 1:
        raise ValueError(f"{where}: expected input (N, C, H, W) with H and W above 0, got "
                         f"shape {x.shape}")
    src_h, src_w = (_source_positions(mode, n_in, n_out, f, align_corners, x.dtype)
                    for n_in, n_out, f in zip(in_size, size, scale_factor, strict=True))
    out = _resize_axis(_resize_axis(x, 2, mode, src_h), 3, mode, src_w)
    cache = (_weight_matrix(mode, src_h, in_size[0], x.dtype),
             _weight_matrix(mode, src_w, in_size[1], x.dtype))
    return out, cache


def interpolate_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Gradient of ``interpolate``: ``dx = A_hᵀ · dout · A_w`` for each image and channel, i.e.
    each output gradient added back to the input pixels it was read from, with the weights it
    was read with (nearest: all of it to its one source pixel).

    Shapes: dout (N, C, Ho, Wo) → dx (N, C, H, W).
    """
    a_h, a_w = cache
    return a_h.T @ dout @ a_w
