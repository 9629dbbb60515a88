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


class RandomResizedCrop(Transform):
    """Cut a random box from each image and resize it to ``size`` (an int or (H, W)).

    torchvision's sampling, per image: the box's area is ``uniform(*scale)`` times the
    image's and its aspect ratio w/h is ``exp(uniform(log ratio[0], log ratio[1]))``;
    ``w = round(sqrt(area * ratio))``, ``h = round(sqrt(area / ratio))``. Up to 10 draws
    are tried until the box fits, then its top-left corner is uniform. If none fit, the
    fallback is the central crop of the whole image clamped to the ratio range. The box is
    resized with ``Resize``'s bilinear rule. Defaults as torchvision: ``scale=(0.08, 1.0)``,
    ``ratio=(3/4, 4/3)`` — the Inception / ImageNet augmentation.
    """

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
        self.size = as_pair("RandomResizedCrop", "size", size, minimum=1)
        self.scale = _increasing_pair("scale", scale, upper=1.0)
        self.ratio = _increasing_pair("ratio", ratio)

    def box(self, height: int, width: int, rng) -> tuple[int, int, int, int]:
        """``(top, left, h, w)`` of one crop, drawn as torchvision's ``get_params``."""
        area = height * width
        log_ratio = np.log(self.ratio)
        for _ in range(10):
            target_area = area * rng.uniform(*self.scale)
            aspect = np.exp(rng.uniform(*log_ratio))
            w = round(float(np.sqrt(target_area * aspect)))
            h = round(float(np.sqrt(target_area / aspect)))
            if 0 < w <= width and 0 < h <= height:
                top = int(rng.integers(0, height - h + 1))
                return top, int(rng.integers(0, width - w + 1)), h, w
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            w, h = width, round(width / self.ratio[0])
        elif in_ratio > self.ratio[1]:
            h, w = height, round(height * self.ratio[1])
        else:
            h, w = height, width
        return (height - h) // 2, (width - w) // 2, h, w

    def apply(self, x, rng):
        resize = Resize(self.size)
        out = np.empty((*x.shape[:2], *self.size), dtype=x.dtype)
        for i, image in enumerate(x):
            top, left, h, w = self.box(*x.shape[2:], rng)
            out[i] = resize.apply(image[None, :, top:top + h, left:left + w], rng)[0]
        return out


def _increasing_pair(name, value, upper=None):
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"RandomResizedCrop: expected {name} as a pair (min, max), "
                        f"got {value!r}") from None
    if not 0 < low <= high or (upper is not None and high > upper):
        bound = f" <= {upper}" if upper is not None else ""
        raise ValueError(f"RandomResizedCrop: expected 0 < {name}[0] <= {name}[1]{bound}, "
                         f"got {value!r}")
    return low, high
