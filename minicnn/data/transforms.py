"""Batch transforms for preprocessing and data augmentation.

The protocol
------------
A transform is any callable ``t(x, rng) -> x_new`` where

* ``x`` is a whole batch, float32 or float64, shaped (N, C, H, W), or one image (C, H, W),
  which is treated as a batch of one (the result is again (C, H, W));
* ``rng`` is a ``numpy.random.Generator``: every random choice is drawn from it, so the same
  generator state gives the same result. ``DataLoader`` passes its per-epoch generator;
  called by hand, ``rng`` may be omitted and minicnn's default generator is used;
* the result is a new batch of the same dtype (float32 stays float32). The input is never
  modified in place (a transform that changes nothing may return it as it is).

Working on the whole batch at once is what makes augmentation cheap in NumPy: one vectorised
operation per batch instead of a Python loop over images. Random transforms still choose
*per image* (each image gets its own crop offset, flip, jitter factors).

A plain function is a valid transform::

    def add_noise(x, rng):
        return x + rng.normal(0, 0.05, size=x.shape).astype(x.dtype)

    train_loader = DataLoader(train_set, batch_size=128, shuffle=True,
                              transform=Compose([RandomCrop(32, padding=4),
                                                 RandomHorizontalFlip(), add_noise]))

The classes below follow torchvision's names, arguments and definitions, applied per image.
Order matters as in torchvision: ``ColorJitter`` expects values in [0, 1], so it comes before
``Normalize``.
"""

from numbers import Integral

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .._random import get_rng
from .._validation import as_pair, check_float_array


class Transform:
    """Base class: checks the batch, supplies the default generator, then calls ``apply``.

    Subclasses implement ``apply(x, rng)`` on a validated (N, C, H, W) float batch.
    """

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        where = type(self).__name__
        check_float_array(where, x)
        rng = get_rng() if rng is None else rng
        if x.ndim == 3:  # one image (C, H, W): a batch of one, as torchvision's (..., C, H, W)
            return self.apply(x[None], rng)[0]
        if x.ndim != 4:
            raise ValueError(f"{where}: expected input of rank 4 (N, C, H, W) or rank 3 "
                             f"(C, H, W), got shape {x.shape}")
        return self.apply(x, rng)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={value!r}" for key, value in vars(self).items())
        return f"{type(self).__name__}({arguments})"


class Compose(Transform):
    """Apply ``transforms`` one after the other, all drawing from the same generator."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for transform in self.transforms:
            if not callable(transform):
                raise TypeError(f"Compose: expected callables t(x, rng), got {transform!r}")

    def apply(self, x, rng):
        for transform in self.transforms:
            x = transform(x, rng)
        return x

    def __repr__(self) -> str:
        inner = "".join(f"\n    {transform!r}," for transform in self.transforms)
        return f"Compose([{inner}\n])"


class Normalize(Transform):
    """Per-channel standardisation: ``(x[:, c] - mean[c]) / std[c]``.

    ``mean`` and ``std`` are numbers or sequences with one entry per channel, e.g. MNIST's
    ``Normalize(0.1307, 0.3081)`` or CIFAR-10's ``Normalize((0.4914, 0.4822, 0.4465),
    (0.2470, 0.2435, 0.2616))``.
    """

    def __init__(self, mean, std):
        self.mean = tuple(float(m) for m in np.atleast_1d(mean))
        self.std = tuple(float(s) for s in np.atleast_1d(std))
        if len(self.mean) != len(self.std) and 1 not in (len(self.mean), len(self.std)):
            raise ValueError(f"Normalize: mean and std must have the same number of channels, "
                             f"got {len(self.mean)} and {len(self.std)}")
        if min(self.std) <= 0:
            raise ValueError(f"Normalize: expected every std > 0, got {self.std}")

    def apply(self, x, rng):
        channels = max(len(self.mean), len(self.std))
        if channels != 1 and x.shape[1] != channels:
            raise ValueError(f"Normalize: expected input with {channels} channels "
                             f"(N, {channels}, H, W), got shape {x.shape}")
        mean = np.asarray(self.mean, dtype=x.dtype).reshape(1, -1, 1, 1)
        std = np.asarray(self.std, dtype=x.dtype).reshape(1, -1, 1, 1)
        return (x - mean) / std


class Pad(Transform):
    """Pad every image with the constant ``fill``.

    ``padding`` as in torchvision: an int (all four sides), a pair ``(left/right, top/bottom)``
    or a quadruple ``(left, top, right, bottom)``.
    """

    def __init__(self, padding, fill: float = 0):
        self.padding = _four_sides("Pad", padding)
        self.fill = float(fill)

    def apply(self, x, rng):
        left, top, right, bottom = self.padding
        return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)),
                      constant_values=x.dtype.type(self.fill))


class RandomCrop(Transform):
    """Cut a ``size`` window at a random position from each image (after optional padding).

    ``size`` is an int or ``(height, width)``; ``padding`` (as for ``Pad``) is applied first,
    with ``fill``. ``RandomCrop(32, padding=4)`` is the classic CIFAR-10 augmentation: each
    image moves by up to 4 pixels in each direction.
    """

    def __init__(self, size, padding=None, fill: float = 0):
        self.size = as_pair("RandomCrop", "size", size, minimum=1)
        self.padding = None if padding is None else _four_sides("RandomCrop", padding)
        self.fill = float(fill)

    def apply(self, x, rng):
        if self.padding is not None:
            x = Pad(self.padding, self.fill).apply(x, rng)
        n, _, height, width = x.shape
        crop_h, crop_w = self.size
        if crop_h > height or crop_w > width:
            raise ValueError(f"RandomCrop: crop size {crop_h}×{crop_w} is larger than the "
                             f"{'padded ' if self.padding else ''}images, {height}×{width}")
        tops = rng.integers(0, height - crop_h + 1, size=n)
        lefts = rng.integers(0, width - crop_w + 1, size=n)
        # windows[i, c, t, l] is the crop_h×crop_w window of image i, channel c, whose top-left
        # corner is (t, l): a view, nothing is copied. Picking one (t, l) per image copies only
        # the chosen windows; the result has shape (N, C, crop_h, crop_w).
        windows = sliding_window_view(x, (crop_h, crop_w), axis=(2, 3))
        return windows[np.arange(n), :, tops, lefts]


class RandomHorizontalFlip(Transform):
    """Mirror each image left-right with probability ``p``."""

    def __init__(self, p: float = 0.5):
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: expected 0 <= p <= 1, got {p}")
        self.p = float(p)

    def apply(self, x, rng):
        flip = rng.random(len(x)) < self.p
        return np.where(flip[:, None, None, None], x[..., ::-1], x)


def _four_sides(where, padding):
    """torchvision's padding forms -> (left, top, right, bottom), all non-negative ints."""
    if isinstance(padding, Integral) and not isinstance(padding, bool):
        sides = (padding,) * 4
    elif isinstance(padding, (tuple, list)) and len(padding) == 2:
        sides = (padding[0], padding[1], padding[0], padding[1])
    elif isinstance(padding, (tuple, list)) and len(padding) == 4:
        sides = tuple(padding)
    else:
        raise TypeError(f"{where}: expected padding as an int, (left/right, top/bottom) or "
                        f"(left, top, right, bottom), got {padding!r}")
    if not all(isinstance(s, Integral) and not isinstance(s, bool) and s >= 0 for s in sides):
        raise ValueError(f"{where}: expected non-negative integer padding, got {padding!r}")
    return tuple(int(s) for s in sides)


# The geometric and colour transforms live in their own modules; this stays the public namespace.
from .transforms_affine import RandomAffine, RandomRotation  # noqa: E402, F401
from .transforms_color import (  # noqa: E402, F401
    ColorJitter,
    PCAColorAugmentation,
    rgb_principal_components,
)
from .transforms_geometric import CenterCrop, RandomResizedCrop, Resize  # noqa: E402, F401
