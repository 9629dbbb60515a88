"""Resize and CenterCrop: exact answers, a loop-by-definition bilinear reference, errors.

Resize: a constant image stays constant, the identity size returns the batch, the int form
resizes the smaller edge (torchvision's truncation), values equal a per-pixel half-pixel
bilinear loop; float32 stays float32. CenterCrop: torchvision's offsets with Python's round
(halves to even). Errors: ValueError/TypeError naming the transform.
"""

import math

import numpy as np
import pytest

from minicnn.data import CenterCrop, RandomResizedCrop, Resize


def batch(n=2, c=3, h=7, w=9, dtype=np.float32):
    return np.random.default_rng(0).random((n, c, h, w)).astype(dtype)


def bilinear_reference(image, out_h, out_w):
    """Each output pixel from its four neighbours, align_corners=False, edges clamped."""
    h, w = image.shape
    out = np.empty((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            y = min(max((i + 0.5) * h / out_h - 0.5, 0), h - 1)
            x = min(max((j + 0.5) * w / out_w - 0.5, 0), w - 1)
            y0, x0 = math.floor(y), math.floor(x)
            y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            dy, dx = y - y0, x - x0
            out[i, j] = ((1 - dy) * (1 - dx) * image[y0, x0] + (1 - dy) * dx * image[y0, x1]
                         + dy * (1 - dx) * image[y1, x0] + dy * dx * image[y1, x1])
    return out


@pytest.mark.parametrize("size", [(5, 4), (11, 13), (7, 3), (1, 1)])
def test_resize_matches_the_loop(size):
    x = batch(dtype=np.float64)
    out = Resize(size)(x)
    assert out.shape == (2, 3, *size)
    np.testing.assert_allclose(out[1, 2], bilinear_reference(x[1, 2], *size), atol=1e-12)


def test_resize_constant_identity_dtype_and_int_size():
    constant = np.full((1, 3, 5, 8), 0.25, dtype=np.float32)
    out = Resize((9, 3))(constant)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, 0.25, rtol=1e-6)
    x = batch()
    assert Resize((7, 9))(x) is x
    assert Resize(4)(x).shape == (2, 3, 4, int(4 * 9 / 7))       # smaller edge H → 4, W = 5
    assert Resize(4)(batch(h=9, w=7)).shape == (2, 3, int(4 * 9 / 7), 4)


@pytest.mark.parametrize(("h", "w", "crop", "top", "left"), [
    (8, 10, (5, 7), 2, 2),     # 1.5 → 2
    (7, 7, (2, 4), 2, 2),      # 2.5 → 2 (half to even), 1.5 → 2
    (9, 6, (4, 1), 2, 2),      # 2.5 → 2, 2.5 → 2
    (6, 6, (6, 6), 0, 0),
])
def test_center_crop_offsets(h, w, crop, top, left):
    x = batch(h=h, w=w)
    out = CenterCrop(crop)(x)
    np.testing.assert_array_equal(out, x[:, :, top:top + crop[0], left:left + crop[1]])


def test_errors():
    with pytest.raises(ValueError, match=r"Resize: expected size >= 1"):
        Resize(0)
    with pytest.raises(TypeError, match=r"Resize: expected size"):
        Resize((2.5, 3))
    with pytest.raises(ValueError, match=r"CenterCrop: crop size 8×3 is larger than "
                       r"the images, 7×9"):
        CenterCrop((8, 3))(batch())
    with pytest.raises(ValueError, match=r"Resize: expected input of rank 4"):
        Resize(3)(np.zeros((4, 4), dtype=np.float32))


def test_one_image_is_a_batch_of_one():
    x = batch()
    for transform in (Resize((4, 5)), CenterCrop(3), RandomResizedCrop(4)):
        np.testing.assert_array_equal(transform(x[0], np.random.default_rng(1)),
                                      transform(x[:1], np.random.default_rng(1))[0])


def test_random_resized_crop_boxes_inside_and_areas_in_scale():
    crop = RandomResizedCrop(4, scale=(0.2, 0.6), ratio=(0.5, 2.0))
    generator = np.random.default_rng(1)
    for _ in range(200):
        top, left, h, w = crop.box(20, 30, generator)
        assert 0 <= top and top + h <= 20 and 0 <= left and left + w <= 30
        # rounding each side by up to 1/2 pixel moves the area by at most (h + w)/2 + 1/4
        assert 0.2 * 600 - (h + w) / 2 - 1 <= h * w <= 0.6 * 600 + (h + w) / 2 + 1
        assert 0.5 - 0.1 <= w / h <= 2.0 + 0.2


def test_random_resized_crop_fallback_is_the_clamped_centre():
    # a box of scale 1 with ratio 4 never fits a 10x10 image: the fallback is 10 wide,
    # round(10 / 4) = 2 high (in_ratio 1 < ratio[0] = 4), centred
    crop = RandomResizedCrop(3, scale=(1.0, 1.0), ratio=(4.0, 5.0))
    assert crop.box(10, 10, np.random.default_rng(0)) == (4, 0, 2, 10)


def test_random_resized_crop_full_box_is_resize_and_seeded():
    x = batch(dtype=np.float64)
    full = RandomResizedCrop((5, 4), scale=(1.0, 1.0), ratio=(9 / 7, 9 / 7))
    np.testing.assert_allclose(full(x, np.random.default_rng(0)), Resize((5, 4))(x))
    crop = RandomResizedCrop((5, 4))
    first = crop(batch(), np.random.default_rng(3))
    assert first.dtype == np.float32 and first.shape == (2, 3, 5, 4)
    np.testing.assert_array_equal(first, crop(batch(), np.random.default_rng(3)))
    with pytest.raises(ValueError, match=r"RandomResizedCrop: expected 0 < scale\[0\]"):
        RandomResizedCrop(4, scale=(0.5, 0.1))
