"""``train_val_split``: hold out a random validation set, the same one every time.

The split is a seeded permutation of the sample indices: the first ``val_size`` go to
validation, the rest to training. Each part keeps the original order of its samples. The two
parts are disjoint and together cover the dataset.
"""

from numbers import Integral, Real

import numpy as np

from .dataset import ArrayDataset


def train_val_split(dataset, val_fraction: float | None = None, val_size: int | None = None,
                    seed: int = 0):
    """Split ``dataset`` into ``(train_part, val_part)``.

    ``dataset`` is a pair ``(X, y)`` (the parts are pairs of arrays too) or a dataset with
    ``.data``/``.targets`` (the parts are ``ArrayDataset``s keeping its ``transform`` and
    ``classes``). Give ``val_fraction`` (default 0.1) or ``val_size``, not both. The same
    ``seed`` gives the same split, so a validation set stays the same across runs.
    """
    if isinstance(dataset, (tuple, list)) and len(dataset) == 2:
        data, targets = np.asarray(dataset[0]), np.asarray(dataset[1])
    elif hasattr(dataset, "data") and hasattr(dataset, "targets"):
        data, targets = dataset.data, dataset.targets
    else:
        raise TypeError(f"train_val_split: expected a pair (X, y) or a dataset with .data and "
                        f".targets, got {type(dataset).__name__}")
    n = len(data)
    if len(targets) != n:
        raise ValueError(f"train_val_split: X has {n} samples but y has {len(targets)}")
    val_size = _validation_size(n, val_fraction, val_size)

    order = np.random.default_rng(seed).permutation(n)
    val_indices, train_indices = np.sort(order[:val_size]), np.sort(order[val_size:])

    if isinstance(dataset, (tuple, list)):
        return ((data[train_indices], targets[train_indices]),
                (data[val_indices], targets[val_indices]))
    transform, classes = getattr(dataset, "transform", None), getattr(dataset, "classes", None)
    return (ArrayDataset(data[train_indices], targets[train_indices], transform, classes),
            ArrayDataset(data[val_indices], targets[val_indices], transform, classes))


def _validation_size(n: int, val_fraction, val_size) -> int:
    """The number of validation samples: at least 1, and at least 1 left for training."""
    if val_fraction is not None and val_size is not None:
        raise ValueError("train_val_split: give val_fraction or val_size, not both")
    if val_size is None:
        if val_fraction is None:
            val_fraction = 0.1
        if not isinstance(val_fraction, Real) or not 0 < val_fraction < 1:
            raise ValueError(f"train_val_split: expected 0 < val_fraction < 1, "
                             f"got {val_fraction!r}")
        val_size = max(1, round(n * val_fraction))
    if isinstance(val_size, bool) or not isinstance(val_size, Integral):
        raise TypeError(f"train_val_split: expected an integer val_size, got {val_size!r}")
    if not 1 <= val_size <= n - 1:
        raise ValueError(f"train_val_split: expected 1 <= val_size <= {n - 1} for {n} samples "
                         f"(both parts non-empty), got {val_size}")
    return int(val_size)
