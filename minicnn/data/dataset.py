"""``ArrayDataset``: a dataset that is two arrays, the form every minicnn dataset takes.

A dataset here is small enough to sit in memory, so it is simply

* ``data``: the inputs, one per row, e.g. images float32 (N, C, H, W) in [0, 1];
* ``targets``: one target per row, any numeric dtype and shape (N, ...): int64 labels (N,) for
  classification, floats (N,) or (N, K) for regression, 0/1 (N, 1) for a single-logit binary
  classifier, (N, H, W) masks for segmentation, (N, C) class probabilities;
* ``transform``: an optional batch transform (see ``minicnn.data.transforms``);
* ``classes``: the class names, ``classes[k]`` naming label ``k``.

``DataLoader`` slices the two arrays with one fancy index per batch; ``dataset[i]`` returns one
``(image, target)`` pair, as in PyTorch, for looking at samples.
"""

from numbers import Integral

import numpy as np

from .._random import get_rng


class ArrayDataset:
    """A dataset held in memory as ``data`` (N, ...) and ``targets`` (N, ...), numeric.

    ``transform``, if given, is applied to every sample ``dataset[i]`` and, batch-wise, to every
    batch a ``DataLoader`` draws from this dataset. Use it for fixed preprocessing such as
    ``Normalize``; pass random augmentation to the training ``DataLoader`` instead, so that a
    validation split taken from the same dataset is not augmented.
    """

    def __init__(self, data: np.ndarray, targets: np.ndarray, transform=None,
                 classes: list[str] | None = None):
        data, targets = check_data_and_targets(type(self).__name__, data, targets)
        self.data = data
        self.targets = targets
        self.transform = transform
        self.classes = list(classes) if classes is not None else None

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple:
        """``(image, target)``: ``data[index]`` (transformed, drawing from minicnn's default
        generator) and ``targets[index]``: a Python int or float for one number per sample (a
        label), else an array (a mask, a vector of probabilities)."""
        if not isinstance(index, Integral):
            raise TypeError(f"{type(self).__name__}: expected an integer index, got "
                            f"{type(index).__name__}; for batches use a DataLoader")
        if not -len(self) <= index < len(self):
            raise IndexError(f"{type(self).__name__}: index {index} out of range for "
                             f"{len(self)} samples")
        sample = self.data[index]
        if self.transform is not None:
            # Transforms work on batches: make a batch of one, then take it apart again.
            sample = self.transform(sample[None], get_rng())[0]
        target = self.targets[index]
        return sample, (target.item() if target.ndim == 0 else target)

    def __repr__(self) -> str:
        classes = f", {len(self.classes)} classes" if self.classes is not None else ""
        transform = f", transform={self.transform!r}" if self.transform is not None else ""
        return (f"{type(self).__name__}({len(self)} samples of shape {self.data.shape[1:]}, "
                f"{self.data.dtype}{classes}{transform})")


def check_data_and_targets(where: str, data, targets) -> tuple[np.ndarray, np.ndarray]:
    """``data`` (N, ...) and ``targets`` (N, ...) as arrays with the same N, targets numeric
    (integer, float or bool): a ValueError for a length mismatch, a TypeError for a string or
    object dtype (the loss could not use it)."""
    data, targets = np.asarray(data), np.asarray(targets)
    if data.ndim == 0 or targets.ndim == 0:
        raise ValueError(f"{where}: expected data and targets with a sample axis first, "
                         f"got shapes {data.shape} and {targets.shape}")
    if len(data) != len(targets):
        raise ValueError(f"{where}: data and targets must have the same number of samples, got "
                         f"data {data.shape} ({len(data)} samples) and targets {targets.shape} "
                         f"({len(targets)} samples)")
    if not (np.issubdtype(targets.dtype, np.number) or targets.dtype == np.bool_) \
            or np.issubdtype(targets.dtype, np.complexfloating):
        raise TypeError(f"{where}: expected numeric targets (integer labels, float values), got "
                        f"dtype {targets.dtype}; map class names to integers first")
    return data, targets


def bytes_to_unit_float(pixels: np.ndarray) -> np.ndarray:
    """8-bit pixels (0..255) as float32 in [0, 1]: ``pixels / 255``, computed in one pass."""
    return np.divide(pixels, np.float32(255), dtype=np.float32)
