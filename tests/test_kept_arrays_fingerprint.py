"""The in-place guard's fingerprint (minicnn/nn/_kept_arrays.py): which changes it must see."""

import numpy as np
import pytest

from minicnn.nn._kept_arrays import ROW, SMALL_BYTES, fingerprint


def _changed(a, b):
    return fingerprint(a) != fingerprint(b)


# Small arrays (up to SMALL_BYTES) are compared by their bytes, larger ones by the sums; the
# large shapes here leave words that do not fill a row, and bytes that do not fill a word.
SHAPES = [((3, 8), np.float32), ((5,), np.float32), ((2, 3, 7), np.float64), ((13,), np.uint8),
          ((ROW * 20 + 5,), np.float32), ((20, ROW), np.float64), ((SMALL_BYTES + 3,), np.uint8)]


def test_the_shapes_cover_both_ways():
    sizes = [np.dtype(dtype).itemsize * np.prod(shape) for shape, dtype in SHAPES]
    assert min(sizes) <= SMALL_BYTES < max(sizes)


@pytest.mark.parametrize("shape, dtype", SHAPES)
def test_every_single_change_anywhere_is_seen(shape, dtype):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal(shape) * 100).astype(dtype)
    original = fingerprint(a)
    flat = a.reshape(-1)
    for i in range(flat.size):
        saved = flat[i].copy()
        flat[i] = saved ^ 1 if dtype == np.uint8 else np.nextafter(saved, np.inf, dtype=dtype)
        assert fingerprint(a) != original, i
        flat[i] = saved
    assert fingerprint(a) == original


def test_zeroing_equal_words_is_seen():
    # The issue's case: an xor of the 12 equal words of ones((3, 8)) float32 is 0, as is zeros'.
    assert _changed(np.ones((3, 8), np.float32), np.zeros((3, 8), np.float32))


def test_swaps_and_shuffles_are_seen():
    rng = np.random.default_rng(1)
    for size in (6, ROW, 4 * ROW, 64 * ROW + 3):
        a = rng.standard_normal(size)
        for i, j in ((0, 1), (0, size - 1), (1, size // 2)):
            b = a.copy()
            b[[i, j]] = b[[j, i]]
            assert _changed(a, b), (size, i, j)
        assert _changed(a, a[::-1].copy())
        assert _changed(a, rng.permutation(a))
    # Two samples of a batch swapped, each a whole number of rows: same column sums.
    batch = rng.standard_normal((8, 2 * ROW))
    swapped = batch.copy()
    swapped[[2, 5]] = swapped[[5, 2]]
    assert _changed(batch, swapped)


@pytest.mark.parametrize("rows", [6, 6000])
def test_views_that_are_not_contiguous(rows):
    a = np.arange(rows * 10, dtype=np.float32).reshape(rows, 10)
    view = a[::2, 1:7]
    before = fingerprint(view)
    a[1, 1] = -1  # outside the view
    assert fingerprint(view) == before
    a[2, 3] = -1  # inside it
    assert fingerprint(view) != before


@pytest.mark.parametrize("size", [10, 100_000])
def test_nan_is_the_same_nan(size):
    a = np.full(size, np.nan, np.float32)
    assert fingerprint(a) == fingerprint(a)
    a[size // 2] = np.inf
    assert fingerprint(a) != fingerprint(np.full(size, np.nan, np.float32))


def test_odd_sizes():
    assert fingerprint(np.zeros(0)) == fingerprint(np.zeros(0))


def test_the_same_bits_give_the_same_fingerprint():
    a = np.random.default_rng(2).standard_normal((64, 3, 32, 32)).astype(np.float32)
    assert fingerprint(a) == fingerprint(a.copy())


def test_the_fast_caches_name_every_field_that_can_hold_an_array():
    # The guard looks for arrays only in ARRAY_FIELDS: a new array field left out of it would
    # go unguarded.
    import dataclasses

    from minicnn.fast.conv import ConvCache
    from minicnn.fast.pooling import AvgPoolCache, MaxPoolCache

    for cache_class in (ConvCache, MaxPoolCache, AvgPoolCache):
        holding = {f.name for f in dataclasses.fields(cache_class) if "ndarray" in str(f.type)}
        assert holding == set(cache_class.ARRAY_FIELDS), cache_class


def test_the_fast_fingerprint_gives_the_same_bytes():
    from minicnn.fast.guard import fingerprint as fast_fingerprint

    rng = np.random.default_rng(3)
    for size in (0, 7, 1000, SMALL_BYTES // 8 + 1, 300_001):
        a = rng.standard_normal(size).astype(np.float32)
        assert fast_fingerprint(a) == fingerprint(a)
        assert fast_fingerprint(a[::3]) == fingerprint(a[::3])
