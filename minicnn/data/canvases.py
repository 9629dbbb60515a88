"""``MNISTCanvases``: a segmentation dataset made of real MNIST digits, needing no download
beyond MNIST itself.

Each sample is a square canvas (64×64 by default) with 2 to 4 MNIST digits pasted at random
places, their tight bounding boxes (the rows and columns holding ink) not overlapping, and a
mask of the same size that labels every pixel::

    0                   background (and the faint edge of a stroke, below ``threshold``)
    1 + d               a pixel of digit d whose intensity is above ``threshold``

so 11 classes (``classes[k]`` names label k); ``binary=True`` gives two, background and digit.
A network must tell digits apart *and* find their outline, which is semantic segmentation in
miniature. The digits of the training canvases come from MNIST's training set, those of the
test canvases from its test set, so no test digit is seen in training. Everything is drawn from
``numpy.random.default_rng(seed)``: the same arguments give the same canvases.
"""

import os

import numpy as np

from .dataset import ArrayDataset
from .mnist import MNIST

__all__ = ["MNISTCanvases"]


def _ink_box(image: np.ndarray) -> tuple[slice, slice]:
    """The rows and columns of a 28×28 digit that hold ink (any pixel > 0)."""
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _overlaps(box, boxes) -> bool:
    top, left, h, w = box
    return any(top < t + hh and t < top + h and left < ll + ww and ll < left + w
               for t, ll, hh, ww in boxes)


class MNISTCanvases(ArrayDataset):
    """Canvases of several MNIST digits with a per-pixel class mask.

    Args:
        root: where MNIST lives (see ``data.MNIST``); ``download`` as there.
        train: digits from MNIST's training set (True) or its test set (False).
        n: the number of canvases.
        size: the side of a canvas in pixels (at least 28).
        digits: ``(fewest, most)`` digits per canvas, inclusive; fewer are placed if no free
            place is found in 100 tries (a warning-free best effort on crowded canvases).
        threshold: intensities above it (in [0, 1]) are the digit's pixels; the rest background.
        binary: two classes (background, digit) instead of 11.
        seed: the seed of the draws.

    After construction: ``data`` float32 (n, 1, size, size) in [0, 1], ``targets`` int64
    (n, size, size), ``classes`` the label names, ``digit_labels`` a list with the digits of
    each canvas, ``placements`` with ``(MNIST index, top, left)`` of each digit's ink box (the
    index into ``data.MNIST(train=train)``). The targets suit ``nn.CrossEntropyLoss`` on
    (N, num_classes, H, W) logits directly.
    """

    def __init__(self, root: str | os.PathLike | None = None, train: bool = True, n: int = 1000,
                 size: int = 64, digits: tuple[int, int] = (2, 4), threshold: float = 0.5,
                 binary: bool = False, seed: int = 0, download: bool = True, transform=None):
        where = "MNISTCanvases"
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"{where}: expected n as an int >= 1, got {n!r}")
        if isinstance(size, bool) or not isinstance(size, int) or size < 28:
            raise ValueError(f"{where}: expected size as an int >= 28 (an MNIST digit is 28×28), "
                             f"got {size!r}")
        fewest, most = digits
        if not 1 <= fewest <= most:
            raise ValueError(f"{where}: expected digits as (fewest, most) with "
                             f"1 <= fewest <= most, got {digits!r}")
        if not 0 <= threshold < 1:
            raise ValueError(f"{where}: expected threshold in [0, 1), got {threshold!r}")
        mnist = MNIST(root, train=train, download=download)
        rng = np.random.default_rng(seed)
        images = np.zeros((n, 1, size, size), np.float32)
        masks = np.zeros((n, size, size), np.int64)
        self.digit_labels, self.placements = [], []
        for k in range(n):
            boxes, labels, placed = [], [], []
            for _ in range(rng.integers(fewest, most + 1)):
                index = int(rng.integers(len(mnist)))
                digit = mnist.data[index, 0]
                rows, cols = _ink_box(digit)
                ink = digit[rows, cols]
                h, w = ink.shape
                for _try in range(100):
                    top, left = rng.integers(size - h + 1), rng.integers(size - w + 1)
                    if not _overlaps((top, left, h, w), boxes):
                        break
                else:
                    continue  # no room left on this canvas
                boxes.append((top, left, h, w))
                label = int(mnist.targets[index])
                labels.append(label)
                placed.append((index, int(top), int(left)))
                images[k, 0, top:top + h, left:left + w] = ink
                masks[k, top:top + h, left:left + w][ink > threshold] = 1 if binary else 1 + label
            self.digit_labels.append(labels)
            self.placements.append(placed)
        classes = ["background", "digit"] if binary else ["background", *mnist.classes]
        super().__init__(images, masks, transform=transform, classes=classes)
        self.train, self.size, self.binary, self.seed = train, size, binary, seed

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return (f"MNISTCanvases({split}, {len(self)} canvases of {self.size}×{self.size}, "
                f"{self.num_classes} classes, seed={self.seed})")
