"""Classical segmentation baselines: threshold_otsu, otsu_segmentation, sobel_magnitude,
kmeans_colors.

What is checked:
- Otsu's threshold maximises the between-class variance ω0·ω1·(μ0 − μ1)²: compared with a brute
  force over every threshold, computed from the pixels themselves (integer images, exact; float
  images over the bin centres); it splits a two-level image between its levels;
- Sobel magnitude against the cross-correlation written as loops over the 3×3 window with the
  border repeated; zero on a constant image, 4·step on a vertical step edge;
- k-means: at the end every pixel is labelled with its nearest centre and every centre is the
  mean of its pixels (Lloyd's fixed point); three well-separated colours are found exactly;
- errors: wrong rank, k out of range.
"""

import numpy as np
import pytest

from minicnn import segmentation_baselines as sb


def _sigma_b(pixels, t):
    low, high = pixels[pixels <= t], pixels[pixels > t]
    if len(low) == 0 or len(high) == 0:
        return 0.0
    w0, w1 = len(low) / pixels.size, len(high) / pixels.size
    return w0 * w1 * (low.mean() - high.mean()) ** 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_otsu_maximises_between_class_variance_integer_images(seed):
    rng = np.random.default_rng(seed)
    image = np.concatenate([rng.normal(60, 15, 300), rng.normal(170, 25, 200)])
    image = np.clip(image, 0, 255).astype(np.uint8).reshape(20, 25)
    t = sb.threshold_otsu(image)
    pixels = image.ravel().astype(np.float64)
    brute = [_sigma_b(pixels, candidate) for candidate in range(256)]
    assert _sigma_b(pixels, t) == pytest.approx(max(brute), rel=1e-12)
    assert int(np.argmax(brute)) <= t < 256  # ties: the first level reaching the maximum
    np.testing.assert_array_equal(sb.otsu_segmentation(image), image > t)


def test_otsu_on_float_images_over_the_bin_centres():
    rng = np.random.default_rng(3)
    image = np.concatenate([rng.normal(0.2, 0.05, 400), rng.normal(0.7, 0.1, 400)]).reshape(20, 40)
    t = sb.threshold_otsu(image, nbins=64)
    _, edges = np.histogram(image, bins=64)
    centres = (edges[:-1] + edges[1:]) / 2
    # by the histogram (pixels counted in their bins, each at its bin centre)
    binned = centres[np.clip(np.digitize(image.ravel(), edges[1:-1]), 0, 63)]
    brute = [_sigma_b(binned, c) for c in centres]
    assert t == centres[int(np.argmax(brute))]
    assert 0.3 < t < 0.55


def test_otsu_two_levels_and_constant():
    image = np.array([[10, 10, 200], [200, 10, 200]], dtype=np.uint8)
    assert 10 <= sb.threshold_otsu(image) < 200
    assert sb.threshold_otsu(np.full((3, 3), 7.5)) == 7.5


def test_sobel_by_loops():
    rng = np.random.default_rng(4)
    image = rng.standard_normal((6, 7))
    padded = np.pad(image, 1, mode="edge")
    expected = np.zeros_like(image)
    for i in range(6):
        for j in range(7):
            window = padded[i:i + 3, j:j + 3]
            gx = np.sum(window * np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]))
            gy = np.sum(window * np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]))
            expected[i, j] = np.sqrt(gx ** 2 + gy ** 2)
    np.testing.assert_allclose(sb.sobel_magnitude(image), expected, rtol=1e-12)


def test_sobel_on_a_step_edge_and_a_constant():
    step = np.zeros((5, 6))
    step[:, 3:] = 2.0
    magnitude = sb.sobel_magnitude(step)
    np.testing.assert_allclose(magnitude[:, 2:4], 4 * 2.0)  # (1 + 2 + 1) · step, both sides
    np.testing.assert_allclose(magnitude[:, [0, 1, 4, 5]], 0.0)
    np.testing.assert_array_equal(sb.sobel_magnitude(np.full((4, 4), 3.0)), 0.0)


def test_kmeans_reaches_lloyds_fixed_point():
    rng = np.random.default_rng(5)
    image = rng.random((12, 10, 3))
    labels, centers = sb.kmeans_colors(image, 4, iters=200, seed=1)
    pixels = image.reshape(-1, 3)
    distances = ((pixels[:, None] - centers[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(labels.ravel(), distances.argmin(axis=1))
    for c in range(4):
        np.testing.assert_allclose(centers[c], pixels[labels.ravel() == c].mean(axis=0))


def test_kmeans_finds_separated_colours():
    colours = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    truth = np.random.default_rng(6).integers(0, 3, (8, 9))
    image = colours[truth] + np.random.default_rng(7).normal(0, 0.02, (8, 9, 3))
    labels, _ = sb.kmeans_colors(image, 3)
    # the same partition up to a renaming of the clusters
    mapping = {int(t): int(lab) for t, lab in zip(truth.ravel(), labels.ravel(), strict=True)}
    assert len(set(mapping.values())) == 3
    np.testing.assert_array_equal(np.vectorize(mapping.get)(truth), labels)
    grey_labels, _ = sb.kmeans_colors(np.array([[0.0, 0.1], [0.9, 1.0]]), 2)
    assert grey_labels[0, 0] == grey_labels[0, 1] != grey_labels[1, 0] == grey_labels[1, 1]


def test_errors():
    with pytest.raises(ValueError, match=r"^threshold_otsu: expected an image \(H, W\), got "
                                         r"shape \(2, 3, 3\)"):
        sb.threshold_otsu(np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match=r"^sobel_magnitude: expected an image \(H, W\)"):
        sb.sobel_magnitude(np.zeros(5))
    with pytest.raises(ValueError, match=r"^kmeans_colors: expected k between 1 and the 2 "
                                         r"distinct colours of the image, got 3"):
        sb.kmeans_colors(np.array([[0.0, 1.0]]), 3)
