"""Geometric batch transforms: ``Resize`` and ``CenterCrop`` (torchvision's names and rules).

Part of the public namespace ``minicnn.data.transforms``; the protocol (``t(x, rng)`` on a
float (N, C, H, W) batch, dtype kept) is described there.
"""

from numbers import Integral

import numpy as np

from .._validation import as_pair
from .transforms import Transform


class Resize(Transform):
    """Resize every image to ``size`` by bilinear interpolation.

    ``size`` (H, W) gives the output size; an int resizes the *smaller* edge to it and keeps
    the aspect ratio, the longer edge becoming ``int(size * long / short)`` (torchvision's
    rule, which truncates). Sampling follows PyTorch's ``interpolate(mode="bilinear",
    align_corners=False, antialias=False)``: output pixel i reads the source at
    ``(i + 0.5) * in / out - 0.5``, clamped to the image. It is separable, so the batch is
    multiplied by one (out_h, H) matrix on the left and one (W, out_w) on the right.

    Choice: no antialiasing. torchvision (and Pillow) widen the filter when shrinking, which
    averages over all the source pixels an output pixel covers; here a strong downscale
    reads only the 2×2 nearest pixels and can alias. Upscaling is identical.
    """

    def __init__(self, size):
        if isinstance(size, Integral) and not isinstance(size, bool):
            if size < 1:
                raise ValueError(f"Resize: expected size >= 1, got {size!r}")
            self.size = int(size)
        else:
            self.size = as_pair("Resize", "size", size, minimum=1)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        if isinstance(self.size, tuple):
            return self.size
        if height <= width:
            return self.size, int(self.size * width / height)
        return int(self.size * height / width), self.size

    def apply(self, x, rng):
        out_h, out_w = self.output_size(*x.shape[2:])
        if (out_h, out_w) == x.shape[2:]:
            return x
        rows = linear_interpolation_matrix(x.shape[2], out_h).astype(x.dtype)
        cols = linear_interpolation_matrix(x.shape[3], out_w).astype(x.dtype)
        return rows @ x @ cols.T


def linear_interpolation_matrix(size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in) matrix M with ``M @ signal`` the half-pixel linear resampling."""
    source = (np.arange(size_out) + 0.5) * (size_in / size_out) - 0.5
    source = np.clip(source, 0, size_in - 1)
    left = np.floor(source).astype(np.intp)
    right = np.minimum(left + 1, size_in - 1)
    weight = source - left
    matrix = np.zeros((size_out, size_in))
    np.add.at(matrix, (np.arange(size_out), left), 1 - weight)
    np.add.at(matrix, (np.arange(size_out), right), weight)
    return matrix


class CenterCrop(Transform):
    """Cut the central ``size`` window (an int or (H, W)) from every image.

    Offsets as torchvision: ``top = round((H - crop_h) / 2)``, ``left = round((W - crop_w) / 2)``
    with Python's ``round`` (halves to even). Choice: a crop larger than the image is a
    ValueError here; torchvision pads it with zeros.
    """

    def __init__(self, size):
        self.size = as_pair("CenterCrop", "size", size, minimum=1)

    def apply(self, x, rng):
        height, width = x.shape[2:]
        crop_h, crop_w = self.size
        if crop_h > height or crop_w > width:
            raise ValueError(f"CenterCrop: crop size {crop_h}×{crop_w} is larger than the "
                             f"images, {height}×{width}")
        top = round((height - crop_h) / 2.0)
        left = round((width - crop_w) / 2.0)
        # A copy, not a view, so the result never aliases the caller's array.
        return x[:, :, top:top + crop_h, left:left + crop_w].copy()
