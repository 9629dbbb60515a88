"""Colour: RGB <-> HSV, ColorJitter's hue and order, and AlexNet's PCA colour augmentation.

Checked: ``rgb_to_hsv`` and ``hsv_to_rgb`` against Python's ``colorsys`` pixel by pixel (the
loop-by-definition reference); RGB -> HSV -> RGB returns the image to 1e-6 (float32 and
float64); a hue shift of 0 is the identity and 0.5 takes pure red to cyan (green to magenta,
blue to yellow); ColorJitter's hue equals colorsys's shift per image with the drawn factor,
a gray image keeps its colour, a 1-channel image is untouched; a batch equals its images one
at a time with the same generator; seeding repeats. ``rgb_principal_components`` equals the
eigen-decomposition of ``np.cov`` over all pixels (also when read in chunks), sorted by
decreasing eigenvalue; ``PCAColorAugmentation`` adds ``Σ a_i λ_i p_i`` with ``a ~ N(0, std²)``
per image, the same offset on every pixel, std=0 changes nothing. Errors: ValueError/TypeError
naming the transform, what it expected and what came.
"""

import colorsys

import numpy as np
import pytest

import minicnn
from minicnn.data import ColorJitter, PCAColorAugmentation, rgb_principal_components
from minicnn.data.color import adjust_hue, hsv_to_rgb, rgb_to_hsv


def images(n=4, c=3, h=5, w=6, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).random((n, c, h, w)).astype(dtype)


def rng(seed=0):
    return np.random.default_rng(seed)


def with_special_colours(x):
    """Add pure, gray, black and white pixels (the branches of the hue formula)."""
    x = x.copy()
    specials = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (0, 1, 1), (1, 0, 1), (0.5, 0.5, 0.5),
                (0, 0, 0), (1, 1, 1), (0.2, 0.2, 0.7)]
    for k, colour in enumerate(specials):
        x[0, :, k // x.shape[3], k % x.shape[3]] = colour
    return x


def per_pixel(x, function):
    out = np.empty_like(x)
    for n in range(x.shape[0]):
        for i in range(x.shape[2]):
            for j in range(x.shape[3]):
                out[n, :, i, j] = function(*x[n, :, i, j])
    return out


def test_rgb_to_hsv_and_back_match_colorsys():
    x = with_special_colours(images())
    hsv = rgb_to_hsv(x)
    np.testing.assert_allclose(hsv, per_pixel(x, colorsys.rgb_to_hsv), atol=1e-12)
    np.testing.assert_allclose(hsv_to_rgb(hsv), per_pixel(hsv, colorsys.hsv_to_rgb), atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_and_zero_shift_are_the_identity(dtype):
    x = with_special_colours(images(n=8, h=16, w=16, dtype=dtype))
    assert rgb_to_hsv(x).dtype == dtype and hsv_to_rgb(rgb_to_hsv(x)).dtype == dtype
    np.testing.assert_allclose(hsv_to_rgb(rgb_to_hsv(x)), x, atol=1e-6, rtol=0)
    np.testing.assert_allclose(adjust_hue(x, 0.0), x, atol=1e-6, rtol=0)
    np.testing.assert_allclose(ColorJitter(hue=(0.0, 1e-12))(x, rng()), x, atol=1e-6, rtol=0)


def test_half_a_turn_gives_the_complementary_colour():
    pure = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32).reshape(3, 3, 1, 1)
    shifted = adjust_hue(pure, 0.5)[:, :, 0, 0]
    np.testing.assert_allclose(shifted, [[0, 1, 1], [1, 0, 1], [1, 1, 0]], atol=1e-6)
    red = pure[:1]
    np.testing.assert_allclose(adjust_hue(red, -0.5)[0, :, 0, 0], [0, 1, 1], atol=1e-6)
    np.testing.assert_allclose(ColorJitter(hue=(0.5, 0.5))(red[0], rng())[:, 0, 0], [0, 1, 1],
                               atol=1e-6)


def test_color_jitter_hue_is_a_shift_of_h_per_image():
    x = images(n=5)
    out = ColorJitter(hue=0.3)(x, rng(3))
    generator = rng(3)
    for n in range(len(x)):
        generator.permutation(4)
        shift = generator.uniform(-0.3, 0.3)

        def shifted(r, g, b, shift=shift):
            h, s, v = colorsys.rgb_to_hsv(r, g, b)
            return colorsys.hsv_to_rgb((h + shift) % 1.0, s, v)
        np.testing.assert_allclose(out[n], per_pixel(x[n:n + 1], shifted)[0], atol=1e-12)


def test_hue_leaves_gray_and_one_channel_images_alone():
    gray = np.full((2, 3, 4, 4), 0.4)
    np.testing.assert_allclose(ColorJitter(hue=0.5)(gray, rng()), gray, atol=1e-12)
    one_channel = images(c=1)
    np.testing.assert_array_equal(ColorJitter(hue=0.5)(one_channel, rng()), one_channel)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_jitter_batch_equals_images_one_at_a_time_and_is_seeded(dtype):
    x = images(n=6, dtype=dtype)
    before = x.copy()
    transform = ColorJitter(0.4, 0.4, 0.4, 0.2)
    out = transform(x, rng(5))
    assert out.dtype == dtype and out.min() >= 0 and out.max() <= 1
    np.testing.assert_array_equal(x, before)
    generator = rng(5)
    np.testing.assert_array_equal(out, np.stack([transform(image, generator) for image in x]))
    minicnn.manual_seed(2)
    first = transform(x)
    minicnn.manual_seed(2)
    np.testing.assert_array_equal(transform(x), first)


def test_jitter_hue_errors():
    with pytest.raises(ValueError, match=r"ColorJitter: expected 0 <= hue <= 0.5, got 0.6"):
        ColorJitter(hue=0.6)
    with pytest.raises(ValueError, match=r"ColorJitter: expected a hue range -0.5 <= low <= "
                       r"high <= 0.5, got \(-0.7, 0.1\)"):
        ColorJitter(hue=(-0.7, 0.1))
    with pytest.raises(TypeError, match=r"ColorJitter: expected hue as a number or a "
                       r"\(low, high\) pair, got 'red'"):
        ColorJitter(hue="red")


def test_principal_components_match_np_cov():
    x = images(n=3, h=4, w=5)
    x[:, 1] = 0.6 * x[:, 0] + 0.4 * x[:, 1]   # correlated channels, as in photographs
    eigenvalues, eigenvectors = rgb_principal_components(x)
    covariance = np.cov(x.transpose(1, 0, 2, 3).reshape(3, -1))
    reference_values, reference_vectors = np.linalg.eigh(covariance)
    np.testing.assert_allclose(eigenvalues, reference_values[::-1], rtol=1e-12)
    assert np.all(np.diff(eigenvalues) <= 0)
    # Each eigenvector up to its sign: |<p_i, q_i>| = 1, and C p = λ p.
    np.testing.assert_allclose(np.abs(np.sum(eigenvectors * reference_vectors[:, ::-1], axis=0)),
                               1, rtol=1e-10)
    np.testing.assert_allclose(covariance @ eigenvectors, eigenvectors * eigenvalues, atol=1e-14)
    chunked = rgb_principal_components(x.astype(np.float32), chunk=2)
    np.testing.assert_allclose(chunked[0], eigenvalues, rtol=1e-5)
    np.testing.assert_allclose(chunked[1], eigenvectors, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pca_augmentation_adds_the_drawn_combination_of_components(dtype):
    x = images(n=5, dtype=dtype)
    eigenvalues, eigenvectors = np.array([0.2, 0.02, 0.004]), np.linalg.qr(
        rng(1).normal(size=(3, 3)))[0]
    transform = PCAColorAugmentation(eigenvalues, eigenvectors, std=0.1)
    out = transform(x, rng(8))
    assert out.dtype == dtype and out.shape == x.shape
    generator = rng(8)
    for n in range(len(x)):
        alpha = generator.normal(0, 0.1, size=3)
        offset = sum(alpha[i] * eigenvalues[i] * eigenvectors[:, i] for i in range(3))
        np.testing.assert_allclose(out[n] - x[n], np.broadcast_to(offset[:, None, None],
                                                                   x[n].shape), atol=1e-6)
    one_by_one = np.stack([transform(image, g) for g in [rng(8)] for image in x])
    np.testing.assert_array_equal(out, one_by_one)
    np.testing.assert_array_equal(PCAColorAugmentation(eigenvalues, eigenvectors, std=0)(x, rng()),
                                  x)


def test_pca_alphas_have_the_given_spread():
    x = np.zeros((4000, 3, 1, 1))
    eigenvalues, eigenvectors = np.array([1.0, 0.5, 0.25]), np.eye(3)
    offsets = PCAColorAugmentation(eigenvalues, eigenvectors)(x, rng(0))[:, :, 0, 0]
    alphas = offsets / eigenvalues
    np.testing.assert_allclose(alphas.std(axis=0), 0.1, rtol=0.05)
    np.testing.assert_allclose(alphas.mean(axis=0), 0, atol=0.01)


def test_from_data_uses_the_data_components():
    x = images(n=4)
    transform = PCAColorAugmentation.from_data(x, std=0.2)
    np.testing.assert_allclose(transform.eigenvalues, rgb_principal_components(x)[0])
    assert transform.std == 0.2


def test_pca_errors():
    vectors = np.eye(3)
    with pytest.raises(ValueError, match=r"PCAColorAugmentation: expected 3 eigenvalues \(one "
                       r"per RGB component\), got shape \(2,\)"):
        PCAColorAugmentation([1, 2], vectors)
    with pytest.raises(ValueError, match=r"PCAColorAugmentation: expected eigenvectors as a 3×3 "
                       r"matrix \(one column per component\), got shape \(3,\)"):
        PCAColorAugmentation([1, 2, 3], [1, 2, 3])
    with pytest.raises(ValueError, match=r"PCAColorAugmentation: expected std >= 0, got -0.1"):
        PCAColorAugmentation([1, 2, 3], vectors, std=-0.1)
    with pytest.raises(ValueError, match=r"PCAColorAugmentation: expected RGB images "
                       r"\(N, 3, H, W\), got shape \(4, 1, 5, 6\)"):
        PCAColorAugmentation([1, 2, 3], vectors)(images(c=1), rng())
    with pytest.raises(ValueError, match=r"rgb_principal_components: expected RGB images as an "
                       r"array \(N, 3, H, W\), got \(4, 1, 5, 6\)"):
        rgb_principal_components(images(c=1))
    with pytest.raises(ValueError, match=r"rgb_principal_components: expected RGB images as an "
                       r"array \(N, 3, H, W\), got list"):
        rgb_principal_components([1, 2, 3])
