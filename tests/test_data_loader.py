"""DataLoader (batches, shuffling, reproducibility, resuming) and train_val_split."""

import numpy as np
import pytest

import minicnn
from minicnn.data import ArrayDataset, DataLoader, RandomHorizontalFlip, train_val_split


def make_arrays(n=23):
    # Each sample carries its own index in every pixel, so batches can be traced back.
    x = np.repeat(np.arange(n, dtype=np.float32), 2 * 3 * 3).reshape(n, 2, 3, 3)
    y = np.arange(n, dtype=np.int64)
    return x, y


def epoch_indices(loader):
    return [y.tolist() for _, y in loader]


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
def test_each_sample_exactly_once_per_epoch(shuffle, drop_last):
    x, y = make_arrays(23)
    loader = DataLoader((x, y), batch_size=5, shuffle=shuffle, drop_last=drop_last, seed=0)
    assert len(loader) == (4 if drop_last else 5)
    batches = list(loader)
    assert len(batches) == len(loader)
    sizes = [len(yb) for _, yb in batches]
    assert sizes == ([5] * 4 if drop_last else [5, 5, 5, 5, 3])
    seen = np.concatenate([yb for _, yb in batches])
    assert len(set(seen.tolist())) == len(seen)  # never twice
    if drop_last:
        assert len(seen) == 20
    else:
        assert sorted(seen.tolist()) == list(range(23))  # every sample
    if not shuffle:
        assert seen.tolist() == list(range(len(seen)))
    for xb, yb in batches:  # x and y stay paired
        assert xb.dtype == np.float32 and xb.shape[1:] == (2, 3, 3)
        np.testing.assert_array_equal(xb[:, 0, 0, 0], yb)


def test_batches_are_copies():
    x, y = make_arrays()
    xb, _ = next(iter(DataLoader((x, y), batch_size=4)))
    xb[...] = -1
    assert x.min() == 0


def test_seeded_shuffles_repeat_and_epochs_differ():
    x, y = make_arrays(50)
    first = DataLoader((x, y), batch_size=8, shuffle=True, seed=3)
    second = DataLoader((x, y), batch_size=8, shuffle=True, seed=3)
    epoch0, epoch1 = epoch_indices(first), epoch_indices(first)
    assert epoch0 == epoch_indices(second)
    assert epoch1 == epoch_indices(second)
    assert epoch0 != epoch1
    assert epoch_indices(DataLoader((x, y), batch_size=8, shuffle=True, seed=4)) != epoch0


def test_epoch_counter_and_set_epoch():
    x, y = make_arrays()
    loader = DataLoader((x, y), batch_size=10, shuffle=True, seed=1)
    assert loader.epoch == 0
    epochs = [epoch_indices(loader) for _ in range(3)]
    assert loader.epoch == 3
    loader.set_epoch(1)
    assert epoch_indices(loader) == epochs[1]
    # An epoch read through zip()/islice up to its last batch counts as served.
    loader.set_epoch(0)
    for _ in zip(range(len(loader)), loader, strict=False):  # zip stops before the loader does
        pass
    assert loader.epoch == 1


def test_state_dict_resume_gives_identical_batches():
    x, y = make_arrays(40)
    flip = RandomHorizontalFlip(0.5)
    minicnn.manual_seed(123)
    original = DataLoader((x, y), batch_size=6, shuffle=True, transform=flip)  # seed drawn
    for _ in range(2):
        list(original)
    checkpoint = original.state_dict()
    assert checkpoint == {"seed": original.seed, "epoch": 2}
    expected = [(xb.copy(), yb.copy()) for _ in range(2) for xb, yb in original]

    resumed = DataLoader((x, y), batch_size=6, shuffle=True, transform=flip, seed=999)
    resumed.load_state_dict(checkpoint)
    got = [(xb, yb) for _ in range(2) for xb, yb in resumed]
    assert len(got) == len(expected)
    for (xa, ya), (xb, yb) in zip(expected, got, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_manual_seed_makes_the_drawn_seed_repeatable():
    x, y = make_arrays()
    minicnn.manual_seed(7)
    a = DataLoader((x, y), shuffle=True).seed
    minicnn.manual_seed(7)
    assert DataLoader((x, y), shuffle=True).seed == a


def test_augmentation_is_seeded_per_epoch():
    x = np.random.default_rng(0).random((32, 1, 4, 4)).astype(np.float32)
    y = np.arange(32)
    make = lambda: DataLoader((x, y), batch_size=32, seed=5, transform=RandomHorizontalFlip())  # noqa: E731
    a, b = make(), make()
    xa0, xa1 = next(iter(a))[0], next(xb for xb, _ in a)
    np.testing.assert_array_equal(xa0, next(iter(b))[0])
    assert not np.array_equal(xa0, xa1)  # epoch 1 flips other images


def test_dataset_objects_and_their_transform():
    x, y = make_arrays(10)
    dataset = ArrayDataset(x, y, transform=lambda batch, rng: batch + 100)
    loader = DataLoader(dataset, batch_size=4, transform=lambda batch, rng: batch * 2)
    xb, _ = next(iter(loader))
    np.testing.assert_array_equal(xb, (x[:4] + 100) * 2)  # dataset's first, then the loader's
    assert loader.dataset is dataset


def test_empty_epoch_with_drop_last():
    x, y = make_arrays(3)
    loader = DataLoader((x, y), batch_size=5, drop_last=True)
    assert len(loader) == 0 and list(loader) == [] and loader.epoch == 1


def test_clear_errors():
    x, y = make_arrays(10)
    with pytest.raises(ValueError, match=r"same number of samples.*\(10 samples\).*\(9 samples\)"):
        DataLoader((x, y[:9]))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size >= 1"):
            DataLoader((x, y), batch_size=bad)
    with pytest.raises(TypeError, match=r"\.data and \.targets"):
        DataLoader(x)
    with pytest.raises(ValueError, match="seed"):
        DataLoader((x, y), seed=-1)
    loader = DataLoader((x, y))
    with pytest.raises(ValueError, match="'seed' and 'epoch'"):
        loader.load_state_dict({"epoch": 1})
    with pytest.raises(ValueError, match="epoch"):
        loader.set_epoch(-2)


def test_a_bad_state_changes_nothing():
    x, y = make_arrays(10)
    loader = DataLoader((x, y), seed=3)
    with pytest.raises(ValueError, match="epoch"):
        loader.load_state_dict({"seed": 7, "epoch": -1})  # a good seed, a bad epoch
    assert loader.state_dict() == {"seed": 3, "epoch": 0}


# --- train_val_split ------------------------------------------------------------------------


def test_split_of_arrays_is_disjoint_covering_and_seeded():
    x, y = make_arrays(50)
    (_, y_train), (x_val, y_val) = train_val_split((x, y), val_fraction=0.2, seed=1)
    assert len(y_val) == 10 and len(y_train) == 40
    assert sorted([*y_train.tolist(), *y_val.tolist()]) == list(range(50))
    np.testing.assert_array_equal(x_val[:, 0, 0, 0], y_val)  # pairs kept together
    assert np.all(np.diff(y_train) > 0)  # original order kept inside each part
    again = train_val_split((x, y), val_fraction=0.2, seed=1)[1][1]
    np.testing.assert_array_equal(again, y_val)
    assert not np.array_equal(train_val_split((x, y), val_fraction=0.2, seed=2)[1][1], y_val)


def test_split_of_a_dataset_gives_datasets_for_the_loader():
    x, y = make_arrays(30)
    dataset = ArrayDataset(x, y, classes=["a", "b"])
    train, val = train_val_split(dataset, val_size=7)
    assert isinstance(train, ArrayDataset) and len(train) == 23 and len(val) == 7
    assert train.classes == ["a", "b"]
    assert sum(len(yb) for _, yb in DataLoader(val, batch_size=3)) == 7
    assert train_val_split(dataset)[1].targets.size == 3  # default: 10 %


def test_split_errors():
    x, y = make_arrays(10)
    with pytest.raises(ValueError, match="not both"):
        train_val_split((x, y), val_fraction=0.1, val_size=1)
    with pytest.raises(ValueError, match="0 < val_fraction < 1"):
        train_val_split((x, y), val_fraction=1.0)
    with pytest.raises(ValueError, match=r"1 <= val_size <= 9"):
        train_val_split((x, y), val_size=10)


# -- targets of any shape and numeric dtype (issue 16) ---------------------------------------
@pytest.mark.parametrize("targets", [
    np.linspace(-1, 1, 10),                                       # regression values (N,)
    np.arange(10, dtype=np.float32).reshape(10, 1) % 2,           # binary 0/1, (N, 1)
    np.arange(10 * 3 * 4).reshape(10, 3, 4) % 5,                  # segmentation masks (N, H, W)
    np.full((10, 4), 0.25),                                       # class probabilities (N, C)
    np.arange(10) % 2 == 0,                                       # booleans
], ids=["float-N", "binary-N1", "masks-NHW", "probabilities-NC", "bool"])
def test_targets_of_any_shape_and_numeric_dtype_pass_through(targets):
    """Each batch's targets are exactly targets[indices]: shape (B, ...) and dtype kept."""
    x = np.arange(10 * 2, dtype=np.float32).reshape(10, 2)
    dataset = ArrayDataset(x, targets)
    loader = DataLoader(dataset, batch_size=4, shuffle=True, seed=1)
    rows = []
    for xb, yb in loader:
        assert yb.dtype == targets.dtype and yb.shape[1:] == targets.shape[1:]
        indices = (xb[:, 0] / 2).astype(int)  # x[i, 0] = 2 i names the row
        np.testing.assert_array_equal(yb, targets[indices])
        rows.extend(indices)
    assert sorted(rows) == list(range(10))
    _, target = dataset[3]
    if targets.ndim == 1:
        assert target == targets[3] and isinstance(target, (int, float, bool))
    else:
        np.testing.assert_array_equal(target, targets[3])


@pytest.mark.parametrize("make", [lambda x, y: ArrayDataset(x, y), lambda x, y: DataLoader((x, y))])
def test_targets_errors_name_the_class(make):
    x = np.zeros((6, 2), np.float32)
    name = "ArrayDataset" if isinstance(make(x, np.zeros(6)), ArrayDataset) else "DataLoader"
    with pytest.raises(ValueError, match=rf"^{name}: data and targets must have the same number "
                                         r"of samples, got data \(6, 2\) \(6 samples\) and "
                                         r"targets \(5, 3\) \(5 samples\)"):
        make(x, np.zeros((5, 3)))
    with pytest.raises(TypeError, match=rf"^{name}: expected numeric targets .*got dtype <U3"):
        make(x, np.array(["cat"] * 6))
    with pytest.raises(TypeError, match=rf"^{name}: expected numeric targets .*got dtype object"):
        make(x, np.array([None] * 6))
    with pytest.raises(ValueError, match=rf"^{name}: expected data and targets with a sample "
                                         r"axis first, got shapes \(6, 2\) and \(\)"):
        make(x, np.float64(1.0))


# -- shard=(rank, world_size): PyTorch's DistributedSampler semantics ---------------------------
def distributed_sampler_indices(order, rank, world_size, drop_last):
    """DistributedSampler by its definition, written as a loop: pad by repeating the order
    from its start (or cut it) to a multiple of world_size, then take every world_size-th.
    (Checked by hand against torch.utils.data.DistributedSampler(shuffle=False) for n in
    0..23, world sizes 1..8.)"""
    order = list(order)
    n = len(order)
    per_rank = n // world_size if drop_last else -(-n // world_size)
    total = per_rank * world_size
    padded = order[:total]
    while len(padded) < total:
        padded.append(order[len(padded) % n])
    return [padded[i] for i in range(rank, total, world_size)]


@pytest.mark.parametrize("n, world_size", [(23, 3), (12, 2), (5, 3), (1, 4), (2, 3)])
@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("shuffle", [False, True])
def test_shard_follows_distributed_sampler(n, world_size, drop_last, shuffle):
    x, y = make_arrays(n)
    whole = DataLoader((x, y), batch_size=n + 1, shuffle=shuffle, seed=3)
    order = np.concatenate([yb for _, yb in whole]) if n else []
    lengths = set()
    for rank in range(world_size):
        loader = DataLoader((x, y), batch_size=2, shuffle=shuffle, drop_last=drop_last,
                            seed=3, shard=(rank, world_size))
        batches = [yb.tolist() for _, yb in loader]
        served = [i for batch in batches for i in batch]
        expected = distributed_sampler_indices(order, rank, world_size, drop_last)
        if drop_last:  # the loader's own drop_last also drops an incomplete last batch
            expected = expected[:len(expected) // 2 * 2]
        assert served == expected
        assert len(batches) == len(loader)
        lengths.add(len(loader))
    assert len(lengths) == 1  # the same number of batches on every rank


def test_shards_partition_the_epoch_and_change_with_it():
    x, y = make_arrays(12)
    shards = [DataLoader((x, y), batch_size=4, shuffle=True, seed=1, shard=(r, 3))
              for r in range(3)]
    first = [epoch_indices(loader) for loader in shards]
    seen = sorted(i for batches in first for batch in batches for i in batch)
    assert seen == list(range(12))  # 12 = 3 * 4: no padding, each sample on one rank once
    second = [epoch_indices(loader) for loader in shards]
    assert second != first  # a new permutation each epoch, the same on every rank
    again = DataLoader((x, y), batch_size=4, shuffle=True, seed=1, shard=(0, 3))
    again.set_epoch(1)
    assert epoch_indices(again) == second[0]  # seeded by (seed, epoch) alone


@pytest.mark.parametrize("shard", [(2, 2), (-1, 2), (0, 0), (0,), (0.0, 2), (True, 2), "0/2"])
def test_bad_shard_raises(shard):
    x, y = make_arrays(4)
    with pytest.raises(ValueError, match=r"DataLoader: expected shard=\(rank, world_size\)"):
        DataLoader((x, y), shard=shard)


# -- augmentation per rank: each rank its own stream, one process as always ---------------------
def draws(batch, rng):
    """A transform that shows its generator: every pixel becomes one uniform draw."""
    return rng.random(batch.shape).astype(batch.dtype)


def epoch_images(loader):
    return np.concatenate([xb for xb, _ in loader])


def test_one_process_augments_with_the_epoch_generator_after_the_shuffle():
    # The stream written out by hand: default_rng([seed, epoch]), the permutation, then the
    # batches' draws in order. Unchanged by the per-rank streams (bit-identical).
    x, y = make_arrays(10)
    for shard in (None, (0, 1)):
        loader = DataLoader((x, y), batch_size=4, shuffle=True, seed=5, transform=draws,
                            shard=shard)
        for epoch in range(2):
            rng = np.random.default_rng([5, epoch])
            rng.permutation(10)
            expected = np.concatenate([rng.random((k, 2, 3, 3)).astype(np.float32)
                                       for k in (4, 4, 2)])
            np.testing.assert_array_equal(epoch_images(loader), expected)


def test_ranks_augment_with_distinct_reproducible_streams():
    x, y = make_arrays(12)

    def two_ranks():
        return [DataLoader((x, y), batch_size=3, shuffle=True, seed=7, transform=draws,
                           shard=(rank, 2)) for rank in range(2)]

    first, again = two_ranks(), two_ranks()
    for epoch in range(2):
        images = [epoch_images(loader) for loader in first]
        assert not np.any(images[0] == images[1])  # no draw shared between the two ranks
        for rank, loader in enumerate(again):  # a second run draws the same, rank by rank
            np.testing.assert_array_equal(epoch_images(loader), images[rank])
        # the rank-th spawned child of [seed, epoch], as SeedSequence.spawn gives it
        child = np.random.SeedSequence([7, epoch]).spawn(2)[1]
        expected = np.random.default_rng(child).random((3, 2, 3, 3)).astype(np.float32)
        np.testing.assert_array_equal(images[1][:3], expected)
    # the shuffle order stays common: the two shards still partition the epoch
    served = sorted(int(v) for loader in two_ranks() for _, yb in loader for v in yb)
    assert served == list(range(12))


def test_ranks_flip_independently():
    # A real augmentation: with one shared stream rank 0's and rank 1's k-th images would
    # flip together; with their own streams the flip decisions differ.
    x = np.zeros((400, 1, 1, 2), np.float32)
    x[..., 1] = 1
    y = np.arange(400)
    flips = []
    for rank in range(2):
        loader = DataLoader((x, y), batch_size=200, seed=0, shard=(rank, 2),
                            transform=RandomHorizontalFlip())
        flips.append(epoch_images(loader)[:, 0, 0, 0] == 1)
    agree = np.mean(flips[0] == flips[1])
    assert 0.35 < agree < 0.65  # independent coins agree half the time (200 pairs)
