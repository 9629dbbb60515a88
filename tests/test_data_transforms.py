"""Batch transforms: shapes, dtypes, the exact numbers, and determinism under a seed."""

import numpy as np
import pytest

import minicnn
from minicnn.data import (
    ColorJitter,
    Compose,
    Normalize,
    Pad,
    RandomCrop,
    RandomHorizontalFlip,
)


def batch(n=6, c=3, h=8, w=10, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).random((n, c, h, w)).astype(dtype)


def rng(seed=0):
    return np.random.default_rng(seed)


ALL = [
    Normalize((0.5, 0.4, 0.3), (0.2, 0.3, 0.4)),
    Pad(2),
    RandomCrop((6, 7), padding=1),
    RandomHorizontalFlip(),
    ColorJitter(0.4, 0.4, 0.4),
    Compose([RandomCrop(8, padding=2), RandomHorizontalFlip(), ColorJitter(brightness=0.3)]),
]


@pytest.mark.parametrize("transform", ALL, ids=lambda t: type(t).__name__)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved_input_untouched_and_seeded(transform, dtype):
    x = batch(dtype=dtype)
    before = x.copy()
    out = transform(x, rng(5))
    assert out.dtype == dtype and out.ndim == 4 and len(out) == len(x)
    np.testing.assert_array_equal(x, before)  # never modified in place
    np.testing.assert_array_equal(transform(x, rng(5)), out)  # same generator state, same result


@pytest.mark.parametrize("transform", ALL, ids=lambda t: type(t).__name__)
def test_one_image_is_a_batch_of_one(transform):
    x = batch(n=1)
    out = transform(x[0], rng(5))
    assert out.shape == transform(x, rng(5)).shape[1:]
    np.testing.assert_array_equal(out, transform(x, rng(5))[0])


def test_default_generator_when_rng_is_omitted():
    x = batch(n=64)
    minicnn.manual_seed(3)
    a = RandomHorizontalFlip()(x)
    minicnn.manual_seed(3)
    np.testing.assert_array_equal(RandomHorizontalFlip()(x), a)


def test_plain_functions_compose():
    def add_one(x, rng):
        return x + 1

    out = Compose([add_one, Normalize(1.0, 2.0)])(np.zeros((1, 1, 2, 2), np.float32), rng())
    np.testing.assert_array_equal(out, np.zeros((1, 1, 2, 2)))


def test_normalize_numbers():
    x = np.stack([np.full((2, 2), 0.5), np.full((2, 2), 1.0)])[None].astype(np.float32)
    out = Normalize((0.5, 0.2), (0.25, 0.4))(x, rng())
    np.testing.assert_allclose(out[0, 0], 0.0)
    np.testing.assert_allclose(out[0, 1], 2.0, rtol=1e-6)
    np.testing.assert_allclose(Normalize(0.1307, 0.3081)(x[:, :1], rng()), (0.5 - 0.1307) / 0.3081,
                               rtol=1e-6)


def test_normalize_errors():
    with pytest.raises(ValueError, match="std > 0"):
        Normalize(0, 0)
    with pytest.raises(ValueError, match=r"3 channels \(N, 3, H, W\), got shape \(6, 1, 8, 10\)"):
        Normalize((0, 0, 0), (1, 1, 1))(batch(c=1), rng())
    with pytest.raises(TypeError, match="float32 or float64"):
        Normalize(0, 1)(np.zeros((1, 1, 2, 2), np.uint8), rng())
    with pytest.raises(ValueError, match=r"rank 4 \(N, C, H, W\)"):
        Normalize(0, 1)(np.zeros((2, 2), np.float32), rng())


def test_pad_forms():
    x = np.ones((2, 1, 3, 4), np.float32)
    assert Pad(2)(x, rng()).shape == (2, 1, 7, 8)
    assert Pad((1, 2))(x, rng()).shape == (2, 1, 7, 6)           # (left/right, top/bottom)
    out = Pad((1, 2, 3, 4), fill=0.5)(x, rng())                   # (left, top, right, bottom)
    assert out.shape == (2, 1, 9, 8)
    np.testing.assert_array_equal(out[:, :, 2:5, 1:5], x)
    assert out[0, 0, 0, 0] == 0.5 and out.sum() == x.sum() + 0.5 * (out.size - x.size)
    with pytest.raises(ValueError, match="non-negative"):
        Pad(-1)


def test_random_crop_is_a_crop_of_the_padded_image():
    x = batch(n=20, h=8, w=8)
    out = RandomCrop(8, padding=3)(x, rng(1))
    assert out.shape == x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (3, 3), (3, 3)))
    offsets = set()
    for i in range(len(x)):
        matches = [(t, l) for t in range(7) for l in range(7)
                   if np.array_equal(out[i], padded[i, :, t:t + 8, l:l + 8])]
        assert matches, f"sample {i} is not a crop of its padded image"
        offsets.add(matches[0])
    assert len(offsets) > 1  # offsets differ from image to image


def test_random_crop_without_padding_and_errors():
    x = batch(h=8, w=10)
    out = RandomCrop((8, 10))(x, rng())
    np.testing.assert_array_equal(out, x)  # the only possible crop
    assert RandomCrop((5, 3))(x, rng()).shape == (6, 3, 5, 3)
    with pytest.raises(ValueError, match=r"crop size 9×9 is larger than the images, 8×10"):
        RandomCrop(9)(x, rng())


def test_flip_is_a_flip():
    x = batch(n=200)
    out = RandomHorizontalFlip(0.5)(x, rng(2))
    flipped = np.array([np.array_equal(o, xi[..., ::-1]) for o, xi in zip(out, x, strict=True)])
    kept = np.array([np.array_equal(o, xi) for o, xi in zip(out, x, strict=True)])
    assert np.all(flipped ^ kept)
    assert 70 < flipped.sum() < 130
    np.testing.assert_array_equal(RandomHorizontalFlip(1.0)(x, rng()), x[..., ::-1])
    np.testing.assert_array_equal(RandomHorizontalFlip(0.0)(x, rng()), x)


def test_color_jitter_identity_when_factors_are_zero():
    x = batch() * 3 - 1  # even out-of-range values are left alone: nothing is applied
    np.testing.assert_array_equal(ColorJitter()(x, rng()), x)
    np.testing.assert_array_equal(ColorJitter(0, 0, 0)(x, rng()), x)


def test_color_jitter_stays_in_unit_range():
    x = batch(n=50)
    out = ColorJitter(brightness=0.9, contrast=0.9, saturation=0.9)(x, rng(4))
    assert out.min() >= 0 and out.max() <= 1
    assert not np.allclose(out, x)


def test_color_jitter_matches_torchvision_definitions():
    # Per image, as torchvision per call: a permutation of (brightness, contrast, saturation,
    # hue), then the factors b, c, s (hue is off here); the changes run in the drawn order.
    x = batch(n=6)
    generator = rng(9)
    gray = lambda im: 0.299 * im[:1] + 0.587 * im[1:2] + 0.114 * im[2:]  # noqa: E731
    changes = [lambda im, f: np.clip(im * f, 0, 1),
               lambda im, f: np.clip(f * im + (1 - f) * gray(im).mean(), 0, 1),
               lambda im, f: np.clip(f * im + (1 - f) * gray(im), 0, 1)]
    expected, orders = [], set()
    for image in x:
        order = generator.permutation(4)
        factors = np.float32(generator.uniform(0.5, 1.5, size=3))
        for change in order[order < 3]:
            image = changes[change](image, factors[change])
        expected.append(image)
        orders.add(tuple(order[order < 3]))
    out = ColorJitter(0.5, 0.5, 0.5)(x, rng(9))
    np.testing.assert_allclose(out, np.stack(expected), rtol=1e-5, atol=1e-6)
    assert len(orders) > 1  # the order differs from image to image


def test_color_jitter_zero_saturation_gives_gray():
    x = batch(n=3)
    out = ColorJitter(saturation=(0, 0))(x, rng())
    np.testing.assert_allclose(out[:, 0], out[:, 1], atol=1e-6)
    np.testing.assert_allclose(out[:, 1], out[:, 2], atol=1e-6)


def test_color_jitter_errors():
    with pytest.raises(ValueError, match="brightness >= 0"):
        ColorJitter(brightness=-0.1)
    with pytest.raises(ValueError, match=r"RGB \(N, 3, H, W\) or grayscale"):
        ColorJitter(0.2)(batch(c=2), rng())
    assert ColorJitter(0.3, 0.3, 0.3)(batch(c=1), rng()).shape == (6, 1, 8, 10)
