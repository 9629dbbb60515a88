"""``DataLoader``: mini-batches from in-memory arrays, reproducible and resumable.

Reproducibility. Everything random about epoch ``e`` (the shuffle order and the augmentation
draws) comes from one generator, ``np.random.default_rng([seed, e])`` (with several ranks,
each rank's augmentation from a child of it: "Augmentation per rank" below). So a batch depends only
on ``(seed, epoch)``, not on how many epochs ran before in this process. With ``seed=None`` the
loader draws its seed once, at construction, from minicnn's default generator, so that
``minicnn.manual_seed(s)`` earlier in the script makes the whole run repeatable.

Resumability. The loader counts epochs: ``loader.epoch`` is the epoch the next ``for`` loop
will produce; it advances when the last batch of an epoch is handed out. ``state_dict()``
returns ``{"seed": ..., "epoch": ...}``; saved in a checkpoint after an epoch and given to
``load_state_dict`` in a fresh process, it makes the resumed run see exactly the batches the
uninterrupted run would have seen. (A checkpoint taken in the middle of an epoch resumes at
the start of that epoch.) ``set_epoch(e)`` jumps to epoch ``e``.

Sharding (data-parallel training). ``shard=(rank, world_size)`` gives this process its own
part of each epoch, with PyTorch's ``DistributedSampler`` semantics: every process draws the
same epoch order (so every process must use the same ``seed``; ``minicnn.manual_seed`` before
building the loader, or an explicit seed, or ``minicnn.distributed.shard_loader``, which
broadcasts rank 0's), the order is padded by repeating its first indices up to a multiple of
``world_size`` (or, with ``drop_last=True``, cut down to one), and process ``rank`` takes every
``world_size``-th index from position ``rank``. So every process gets the same number of
samples and of batches. The loader takes plain integers: it knows nothing of MPI.

Augmentation per rank. The shuffle order must be the same on every process, the augmentation
draws must not: ranks that crop and flip their shards with one shared stream would draw
correlated augmentations (rank 0's first image and rank 1's first image cut the same window).
So with ``world_size > 1`` the transforms of process ``rank`` draw from a stream of their own,
``np.random.default_rng(SeedSequence([seed, e], spawn_key=(rank,)))``: the ``rank``-th child
of epoch ``e``'s seed, as ``SeedSequence([seed, e]).spawn(world_size)[rank]`` gives it;
distinct on every rank, and reproducible from ``(seed, epoch, rank)``. Without ``shard`` (or
with ``world_size == 1``) the transforms continue the epoch's generator after the shuffle, as
they always have.
"""

import math
from numbers import Integral

import numpy as np

from .._random import get_rng
from .dataset import check_data_and_targets


class DataLoader:
    """Iterate over ``(x_batch, y_batch)`` NumPy batches of a dataset.

    ``dataset`` is either a tuple ``(X, y)`` of arrays with the same first dimension, or an
    object with ``.data`` and ``.targets`` arrays (``MNIST``, ``CIFAR10``, ``ArrayDataset``...);
    ``y`` may have any shape (N, ...) and numeric dtype (labels, regression values, masks);
    its ``.transform``, if any, is applied to each batch before the loader's own ``transform``.
    Transforms follow the protocol of ``minicnn.data.transforms``: ``t(x, rng)``.

    Each batch is gathered with one fancy index, ``X[indices]``, so it is a fresh array that
    the training loop may modify freely. ``len(loader)`` is the number of batches per epoch;
    the last one is smaller unless ``drop_last=True`` drops it.

    ``shard=(rank, world_size)`` iterates over this process's shard only (module docstring);
    ``drop_last`` then also cuts the epoch to a multiple of ``world_size`` instead of padding.
    """

    def __init__(self, dataset, batch_size: int = 64, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None, transform=None,
                 shard: tuple[int, int] | None = None):
        self.dataset = dataset
        self.data, self.targets, dataset_transform = _unpack(dataset)
        if isinstance(batch_size, bool) or not isinstance(batch_size, Integral) or batch_size < 1:
            raise ValueError(f"DataLoader: expected batch_size >= 1, got {batch_size!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader: expected transform as a callable t(x, rng), "
                            f"got {transform!r}")
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.transform = transform
        self.shard = _check_shard(shard)
        self._transforms = [t for t in (dataset_transform, transform) if t is not None]
        # One draw from the default generator, whether or not it is needed: a simple rule.
        self.seed = int(get_rng().integers(2**63)) if seed is None else _check_seed(seed)
        self._epoch = 0

    def __len__(self) -> int:
        """Batches per epoch (of this process's shard, with ``shard``)."""
        samples = self.num_samples()
        if self.drop_last:
            return samples // self.batch_size
        return math.ceil(samples / self.batch_size)

    def num_samples(self) -> int:
        """Samples per epoch: the dataset's, or with ``shard`` each process's (the same on all)."""
        n = len(self.data)
        if self.shard is None:
            return n
        world_size = self.shard[1]
        return n // world_size if self.drop_last else math.ceil(n / world_size)

    def _shard_order(self, order: np.ndarray) -> np.ndarray:
        """This process's indices of the epoch order: padded (or cut) to a multiple of the
        world size, then every world_size-th from position rank (DistributedSampler)."""
        rank, world_size = self.shard
        total = self.num_samples() * world_size
        if total > len(order):  # pad by repeating the order's start, as often as needed
            order = np.resize(order, total)
        return order[:total][rank::world_size]

    @property
    def epoch(self) -> int:
        """The epoch the next iteration produces (0 for a fresh loader)."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration produce epoch ``epoch``."""
        self._epoch = _check_non_negative("epoch", epoch)

    def epoch_rng(self, epoch: int) -> np.random.Generator:
        """The generator behind epoch ``epoch``: shuffle order first, then augmentation (on
        one process; with several, ``augmentation_rng`` draws the augmentation)."""
        return np.random.default_rng([self.seed, epoch])

    def augmentation_rng(self, epoch: int) -> np.random.Generator | None:
        """With ``shard=(rank, world_size > 1)``: this rank's own generator of epoch ``epoch``'s
        augmentation draws, the ``rank``-th spawned child of ``[seed, epoch]`` (module
        docstring). None otherwise: the transforms then continue ``epoch_rng(epoch)``."""
        if self.shard is None or self.shard[1] == 1:
            return None
        rank = self.shard[0]
        return np.random.default_rng(np.random.SeedSequence([self.seed, epoch],
                                                            spawn_key=(rank,)))

    def state_dict(self) -> dict:
        """``{"seed": ..., "epoch": ...}``: all it takes to replay the coming epochs."""
        return {"seed": self.seed, "epoch": self._epoch}

    def load_state_dict(self, state: dict) -> None:
        """Restore a ``state_dict()``: the next iteration repeats the saved run's next epoch."""
        if not isinstance(state, dict) or set(state) != {"seed", "epoch"}:
            raise ValueError(f"DataLoader.load_state_dict: expected a dict with keys 'seed' and "
                             f"'epoch', got {state!r}")
        seed, epoch = _check_seed(state["seed"]), _check_non_negative("epoch", state["epoch"])
        self.seed, self._epoch = seed, epoch  # both checked first: a bad epoch changes nothing

    def __iter__(self):
        epoch = self._epoch
        rng = self.epoch_rng(epoch)
        n = len(self.data)
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        if self.shard is not None:
            order = self._shard_order(order)
        own = self.augmentation_rng(epoch)
        if own is not None:  # several ranks: each augments its shard with its own stream
            rng = own
        batches = len(self)
        if batches == 0:
            self._epoch = epoch + 1
        for b in range(batches):
            indices = order[b * self.batch_size:(b + 1) * self.batch_size]
            x, y = self.data[indices], self.targets[indices]
            for transform in self._transforms:
                x = transform(x, rng)
            if b == batches - 1:
                # The epoch is served once its last batch is handed out; advancing here (not
                # after the loop) also counts epochs consumed by zip() or islice().
                self._epoch = epoch + 1
            yield x, y

    def __repr__(self) -> str:
        shard = "" if self.shard is None else f", shard={self.shard}"
        return (f"DataLoader({len(self.data)} samples, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, seed={self.seed}, "
                f"epoch={self._epoch}{shard})")


def _unpack(dataset):
    """(X, y, dataset transform or None) from a tuple (X, y) or a dataset with .data/.targets."""
    if isinstance(dataset, (tuple, list)):
        if len(dataset) != 2:
            raise TypeError(f"DataLoader: expected a pair (X, y), got a sequence of "
                            f"{len(dataset)} items")
        data, targets = dataset
        transform = None
    elif hasattr(dataset, "data") and hasattr(dataset, "targets"):
        data, targets = dataset.data, dataset.targets
        transform = getattr(dataset, "transform", None)
    else:
        raise TypeError(f"DataLoader: expected a dataset with .data and .targets arrays or a "
                        f"pair (X, y) of arrays, got {type(dataset).__name__}")
    data, targets = check_data_and_targets("DataLoader", data, targets)
    return data, targets, transform


def _check_non_negative(name, value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise ValueError(f"DataLoader: expected {name} as a non-negative integer, got {value!r}")
    return int(value)


def _check_shard(shard) -> tuple[int, int] | None:
    """(rank, world_size) as ints with 0 <= rank < world_size, or None."""
    if shard is None:
        return None
    ok = (isinstance(shard, (tuple, list)) and len(shard) == 2
          and all(isinstance(v, Integral) and not isinstance(v, bool) for v in shard)
          and 0 <= shard[0] < shard[1])
    if not ok:
        raise ValueError(f"DataLoader: expected shard=(rank, world_size) with integers "
                         f"0 <= rank < world_size, got {shard!r}")
    return int(shard[0]), int(shard[1])


def _check_seed(seed) -> int:
    return _check_non_negative("seed", seed)
