"""RandomRotation, RandomAffine and the warp under them (minicnn/data/warp.py).

Checked: a 90° (180°, −90°) turn with nearest sampling is exactly ``np.rot90``, also with
``expand=True`` on a non-square image; identity parameters give the input back (both
interpolations); fixed parameters match a loop-by-definition reference that builds the forward
map from its elementary matrices, inverts it with ``np.linalg.inv`` and samples pixel by pixel
(bilinear with the outside equal to ``fill``); a translation moves a pixel by whole pixels;
the drawn angle, translation, scale and shear stay in their ranges and cover them; the same
generator (or ``minicnn.manual_seed``) repeats the result; a batch equals its images one at a
time with the same generator (and a DataLoader repeats its epochs); float32 and float64 are
kept and the input is untouched; a few values against torch's ``grid_sample`` computed by
hand. Errors: ValueError/TypeError naming the transform, what it expected and what came.
"""

import math

import numpy as np
import pytest

import minicnn
from minicnn.data import ColorJitter, Compose, DataLoader, RandomAffine, RandomRotation, warp


def images(n=3, c=2, h=6, w=6, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).random((n, c, h, w)).astype(dtype)


def rng(seed=0):
    return np.random.default_rng(seed)


@pytest.mark.parametrize(("angle", "k"), [(90, 1), (-90, -1), (180, 2), (270, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_quarter_turns_are_rot90(angle, k, dtype):
    x = images(h=6, w=6, dtype=dtype)
    out = RandomRotation((angle, angle))(x, rng())
    np.testing.assert_array_equal(out, np.rot90(x, k, axes=(2, 3)))
    assert out.dtype == dtype
    np.testing.assert_array_equal(RandomRotation((angle, angle))(x[1], rng()),
                                  np.rot90(x[1], k, axes=(1, 2)))   # one image (C, H, W)


def test_affine_angles_turn_clockwise_as_torchvision():
    x = images(h=6, w=6)
    np.testing.assert_array_equal(RandomAffine((90, 90))(x, rng()), np.rot90(x, -1, axes=(2, 3)))


def test_quarter_turn_with_expand_on_a_non_square_image():
    x = images(n=1, h=5, w=8)
    out = RandomRotation((90, 90), expand=True)(x, rng())
    assert out.shape == (1, 2, 8, 5)
    np.testing.assert_array_equal(out, np.rot90(x, 1, axes=(2, 3)))
    np.testing.assert_array_equal(RandomRotation((180, 180))(x, rng()),
                                  np.rot90(x, 2, axes=(2, 3)))      # 180° fits without expand


def test_expand_sizes_follow_the_turned_corners():
    x = images(n=1, h=5, w=8)
    for angle in (30.0, 45.0, -73.0):
        a = math.radians(angle)
        width = math.ceil(8 * abs(math.cos(a)) + 5 * abs(math.sin(a)) - 1e-9)
        height = math.ceil(8 * abs(math.sin(a)) + 5 * abs(math.cos(a)) - 1e-9)
        out = RandomRotation((angle, angle), expand=True)(x, rng())
        assert out.shape[2:] == (height, width), angle


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_identity_parameters_give_the_input_back(interpolation):
    x = images(h=5, w=7)
    for transform in (RandomRotation(0, interpolation=interpolation),
                      RandomAffine(0, interpolation=interpolation),
                      RandomAffine(0, translate=(0, 0), scale=(1, 1), shear=0,
                                   interpolation=interpolation)):
        np.testing.assert_array_equal(transform(x, rng()), x)


def forward_matrix_by_definition(center, angle, translate, scale, shear):
    """T · C · R · S · SHy · SHx · C⁻¹ from the elementary 3×3 matrices (y runs down)."""
    def matrix(a, b, c, d, e=0.0, f=0.0):
        return np.array([[a, b, e], [c, d, f], [0, 0, 1.0]])
    a, sx, sy = (math.radians(v) for v in (angle, *shear))
    return (matrix(1, 0, 0, 1, *translate) @ matrix(1, 0, 0, 1, *center)
            @ matrix(math.cos(a), -math.sin(a), math.sin(a), math.cos(a))
            @ matrix(scale, 0, 0, scale) @ matrix(1, 0, -math.tan(sy), 1)
            @ matrix(1, -math.tan(sx), 0, 1) @ matrix(1, 0, 0, 1, -center[0], -center[1]))


def warp_by_definition(image, forward, fill, interpolation):
    """Each output pixel centre, mapped back through inv(forward), sampled by a loop."""
    channels, h, w = image.shape
    inverse = np.linalg.inv(forward)
    out = np.empty_like(image)
    for i in range(h):
        for j in range(w):
            x, y, _ = inverse @ [j + 0.5 - w / 2, i + 0.5 - h / 2, 1.0]
            col, row = x + w / 2 - 0.5, y + h / 2 - 0.5       # fractional pixel indices

            def at(r, c):
                inside = 0 <= r < h and 0 <= c < w
                return image[:, r, c] if inside else np.full(channels, fill)
            if interpolation == "nearest":
                out[:, i, j] = at(round(row), round(col))
                continue
            r0, c0 = math.floor(row), math.floor(col)
            dr, dc = row - r0, col - c0
            out[:, i, j] = ((1 - dr) * (1 - dc) * at(r0, c0) + (1 - dr) * dc * at(r0, c0 + 1)
                            + dr * (1 - dc) * at(r0 + 1, c0) + dr * dc * at(r0 + 1, c0 + 1))
    return out


@pytest.mark.parametrize("params", [
    ((0.0, 0.0), 30.0, (0, 0), 1.0, (0.0, 0.0)),
    ((1.5, -1.0), -17.0, (2, -1), 1.3, (10.0, -5.0)),
    ((0.0, 0.0), 0.0, (0, 0), 0.7, (25.0, 0.0)),
    ((-0.5, 2.0), 111.0, (-3, 2), 0.8, (0.0, 20.0)),
])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_known_affine_map_matches_the_loop(params, interpolation):
    x = images(n=2, c=2, h=7, w=9)
    center, angle, translate, scale, shear = params
    corner_center = (center[0] + 9 / 2, center[1] + 7 / 2)   # (x, y) from the top-left corner
    out = warp.affine(x, angle, translate, scale, shear, interpolation, fill=0.3,
                      center=corner_center)
    forward = forward_matrix_by_definition(center, angle, translate, scale, shear)
    for n in range(2):
        expected = warp_by_definition(x[n], forward, 0.3, interpolation)
        np.testing.assert_allclose(out[n], expected, atol=1e-12)


def test_inverse_matrix_inverts_the_forward_matrix():
    params = ((1.0, -2.0), 23.0, (3, 1), 1.2, (12.0, -7.0))
    product = np.vstack([warp.inverse_affine_matrix(*params), [0, 0, 1]]) \
        @ warp.forward_affine_matrix(*params)
    np.testing.assert_allclose(product, np.eye(3), atol=1e-12)


def test_translation_moves_pixels_by_whole_pixels_and_fills_the_rest():
    x = np.zeros((1, 1, 5, 6))
    x[0, 0, 1, 2] = 1.0
    out = warp.affine(x, 0.0, (2, 1), 1.0, (0.0, 0.0), fill=0.5)   # 2 right, 1 down
    assert out[0, 0, 2, 4] == 1.0
    assert np.all(out[0, 0, 0, :] == 0.5) and np.all(out[0, 0, :, :2] == 0.5)
    assert np.count_nonzero(out == 0.0) == 5 * 6 - (6 + 2 * 4) - 1


def test_per_channel_fill():
    x = images(n=1, c=3, h=4, w=4)
    out = RandomAffine((0, 0), translate=(0.5, 0.5), fill=(0.1, 0.2, 0.3))(x, rng(1))
    outside = out == np.array([0.1, 0.2, 0.3])[None, :, None, None]
    assert outside.all(axis=1).any()  # some pixel came from outside: it has the fill colour


def test_drawn_parameters_stay_in_their_ranges_and_cover_them():
    transform = RandomAffine((-10, 25), translate=(0.2, 0.1), scale=(0.8, 1.25),
                             shear=(-5, 5, 2, 8))
    draws = [transform.get_params(20, 30, rng(seed)) for seed in range(400)]
    angles = np.array([d[0] for d in draws])
    tx, ty = np.array([d[1] for d in draws]).T
    scales = np.array([d[2] for d in draws])
    shear_x, shear_y = np.array([d[3] for d in draws]).T
    assert angles.min() >= -10 and angles.max() <= 25 and np.ptp(angles) > 30
    assert tx.dtype.kind == "i" and ty.dtype.kind == "i"              # whole pixels
    assert np.abs(tx).max() == 6 and np.abs(ty).max() == 2            # 0.2·30, 0.1·20
    assert set(np.unique(ty)) == {-2, -1, 0, 1, 2}
    assert scales.min() >= 0.8 and scales.max() <= 1.25 and np.ptp(scales) > 0.4
    assert shear_x.min() >= -5 and shear_x.max() <= 5
    assert shear_y.min() >= 2 and shear_y.max() <= 8
    one_shear = [RandomAffine(0, shear=15).get_params(8, 8, rng(s))[3] for s in range(50)]
    assert all(-15 <= sx <= 15 and sy == 0 for sx, sy in one_shear)   # a number shears x only
    untouched = RandomAffine(0).get_params(8, 8, rng())
    assert untouched == (0.0, (0, 0), 1.0, (0.0, 0.0))


def test_rotation_angle_range():
    angles = np.array([RandomRotation(20).get_params(rng(s)) for s in range(300)])
    assert angles.min() >= -20 and angles.max() <= 20 and np.ptp(angles) > 35
    angles = np.array([RandomRotation((5, 7)).get_params(rng(s)) for s in range(50)])
    assert angles.min() >= 5 and angles.max() <= 7


TRANSFORMS = [
    RandomRotation(30),
    RandomRotation(45, interpolation="bilinear", center=(1, 2), fill=0.5),
    RandomAffine(20, translate=(0.2, 0.2), scale=(0.8, 1.2), shear=(-10, 10, -5, 5)),
    RandomAffine(10, scale=(0.9, 1.1), interpolation="bilinear", fill=(0.0, 1.0)),
]


@pytest.mark.parametrize("transform", TRANSFORMS, ids=repr)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_seeded_dtype_kept_input_untouched(transform, dtype):
    x = images(n=5, c=2, h=8, w=9, dtype=dtype)
    before = x.copy()
    out = transform(x, rng(4))
    assert out.dtype == dtype and out.shape == x.shape
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(transform(x, rng(4)), out)
    minicnn.manual_seed(11)
    first = transform(x)
    minicnn.manual_seed(11)
    np.testing.assert_array_equal(transform(x), first)
    assert not np.array_equal(out[0], out[1])   # each image its own parameters


@pytest.mark.parametrize("transform", TRANSFORMS, ids=repr)
def test_a_batch_equals_its_images_one_at_a_time(transform):
    x = images(n=4, c=2, h=8, w=9)
    batch_out = transform(x, rng(7))
    generator = rng(7)
    one_by_one = np.stack([transform(image, generator) for image in x])
    np.testing.assert_array_equal(batch_out, one_by_one)


def test_in_a_data_loader_the_epochs_repeat_with_the_seed():
    x, y = images(n=10, c=3, h=8, w=8, dtype=np.float32), np.arange(10)
    augment = Compose([RandomAffine(15, translate=(0.1, 0.1), scale=(0.9, 1.1)),
                       ColorJitter(0.2, 0.2, 0.2, 0.05)])
    first = [xb for xb, _ in DataLoader((x, y), batch_size=4, seed=3, transform=augment)]
    again = [xb for xb, _ in DataLoader((x, y), batch_size=4, seed=3, transform=augment)]
    for a, b in zip(first, again, strict=True):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)


def test_bilinear_values_against_torch_grid_sample():
    # Computed by hand with torch 2.13: torchvision's tensor path for F.rotate(img, 30,
    # BILINEAR) (its affine grid, grid_sample(align_corners=False)) on this 4×4 image; the
    # centre pixels, where the whole bilinear footprint is inside the image.
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4) / 15
    out = warp.rotate(x, 30.0, interpolation="bilinear")
    torch_centre = np.array([[0.3056624327, 0.4967307930], [0.5032692070, 0.6943375673]])
    np.testing.assert_allclose(out[0, 0, 1:3, 1:3], torch_centre, atol=1e-9)


def test_errors_name_the_transform_and_what_came():
    with pytest.raises(ValueError, match=r"RandomRotation: expected degrees >= 0 when it is a "
                       r"single number, got -5"):
        RandomRotation(-5)
    with pytest.raises(TypeError, match=r"RandomRotation: expected degrees as a pair of numbers "
                       r"\(min, max\), got 'x'"):
        RandomRotation("x")
    with pytest.raises(ValueError, match=r"RandomAffine: expected degrees \(min, max\) with "
                       r"min <= max, got \(10, 5\)"):
        RandomAffine((10, 5))
    with pytest.raises(ValueError, match=r"RandomRotation: expected interpolation 'nearest' or "
                       r"'bilinear', got 'bicubic'"):
        RandomRotation(10, interpolation="bicubic")
    with pytest.raises(ValueError, match=r"RandomAffine: expected translate values in \[0, 1\], "
                       r"got \(0.5, 1.5\)"):
        RandomAffine(0, translate=(0.5, 1.5))
    with pytest.raises(TypeError, match=r"RandomAffine: expected translate as a pair of "
                       r"fractions \(a, b\), got 0.1"):
        RandomAffine(0, translate=0.1)
    with pytest.raises(ValueError, match=r"RandomAffine: expected scale values > 0.0, "
                       r"got \(0, 1\)"):
        RandomAffine(0, scale=(0, 1))
    with pytest.raises(TypeError, match=r"RandomAffine: expected shear as a number, \(min, max\) "
                       r"or \(xmin, xmax, ymin, ymax\), got \(1, 2, 3\)"):
        RandomAffine(0, shear=(1, 2, 3))
    with pytest.raises(ValueError, match=r"RandomAffine: expected shear >= 0"):
        RandomAffine(0, shear=-3)
    with pytest.raises(TypeError, match=r"RandomRotation: expected center as \(x, y\) in pixels, "
                       r"got 3"):
        RandomRotation(10, center=3)
    with pytest.raises(TypeError, match=r"RandomAffine: expected fill as a number or one number "
                       r"per channel, got 'white'"):
        RandomAffine(0, fill="white")
    with pytest.raises(ValueError, match=r"RandomRotation: expected fill with one value per "
                       r"channel \(2\), got 3 values"):
        RandomRotation(10, fill=(0, 0, 0))(images(c=2), rng())
    with pytest.raises(ValueError, match=r"RandomRotation: expand=True gives every angle its own "
                       r"output size; expected one image \(C, H, W\) or a batch of one, got "
                       r"shape \(3, 2, 6, 6\)"):
        RandomRotation(10, expand=True)(images(), rng())
    with pytest.raises(ValueError, match=r"RandomAffine: expected input of rank 4 \(N, C, H, W\) "
                       r"or rank 3 \(C, H, W\), got shape \(6, 6\)"):
        RandomAffine(10)(np.zeros((6, 6)), rng())
    with pytest.raises(TypeError, match=r"RandomRotation: expected input of dtype float32 or "
                       r"float64, got uint8"):
        RandomRotation(10)(np.zeros((1, 1, 4, 4), np.uint8), rng())
