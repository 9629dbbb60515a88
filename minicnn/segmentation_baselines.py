"""Classical segmentation without learning, in a few lines of NumPy each: the baselines a CNN
has to beat.

* ``threshold_otsu``: the grey level that splits the histogram into two classes with the
  largest between-class variance (Otsu 1979); ``image > t`` is the foreground.
* ``sobel_magnitude``: the gradient magnitude sqrt(Gx² + Gy²) of the Sobel filters, large on
  edges; thresholded, an edge map.
* ``kmeans_colors``: k-means clustering of the pixels' colours (Lloyd's algorithm): each pixel
  gets the label of its nearest of ``k`` mean colours.

Names as scikit-image's where it has the thing (``skimage.filters.threshold_otsu``); none of
them knows what an object is, which is what a U-Net learns.
"""

import numpy as np

__all__ = ["kmeans_colors", "otsu_segmentation", "sobel_magnitude", "threshold_otsu"]

SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)  # d/dx, smoothed in y
SOBEL_Y = SOBEL_X.T


def _check_image(where: str, image, channels_allowed: bool = False) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 2 and not (channels_allowed and image.ndim == 3):
        layout = "(H, W) or (H, W, C)" if channels_allowed else "(H, W)"
        raise ValueError(f"{where}: expected an image {layout}, got shape {image.shape}")
    if image.size == 0 or not (np.issubdtype(image.dtype, np.number) or image.dtype == bool):
        raise ValueError(f"{where}: expected a non-empty numeric image, got {image.dtype} "
                         f"{image.shape}")
    return image


def between_class_variance(counts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """σ_b²(k) = ω0·ω1·(μ0 − μ1)² for every split "values[:k+1] | values[k+1:]" of a histogram.

    ω0, ω1 are the fractions of pixels below and above the split, μ0, μ1 their mean values.
    Equivalent to minimising the within-class variance, since the two add up to the total.
    """
    p = counts / counts.sum()
    omega0 = np.cumsum(p)[:-1]
    omega1 = 1 - omega0
    mass0 = np.cumsum(p * values)[:-1]  # ω0·μ0
    mu_total = np.sum(p * values)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu0, mu1 = mass0 / omega0, (mu_total - mass0) / omega1
        return np.nan_to_num(omega0 * omega1 * (mu0 - mu1) ** 2)


def threshold_otsu(image, nbins: int = 256) -> float:
    """Otsu's threshold: ``t`` maximising the between-class variance of {≤ t} and {> t}.

    Integer images use one histogram bin per grey level (exact); float images ``nbins`` bins
    between their minimum and maximum, ``t`` a bin centre (scikit-image's convention). A
    constant image has no split: its value is returned.
    """
    image = _check_image("threshold_otsu", image)
    if image.min() == image.max():
        return float(image.min())
    if np.issubdtype(image.dtype, np.integer) or image.dtype == bool:
        values, counts = np.unique(image, return_counts=True)
    else:
        counts, edges = np.histogram(image, bins=nbins)
        values = (edges[:-1] + edges[1:]) / 2
    return float(values[np.argmax(between_class_variance(counts, values.astype(np.float64)))])


def otsu_segmentation(image) -> np.ndarray:
    """The foreground mask ``image > threshold_otsu(image)``, as bool."""
    return np.asarray(image) > threshold_otsu(image)


def sobel_magnitude(image) -> np.ndarray:
    """sqrt(Gx² + Gy²), Gx and Gy the cross-correlations of the image with the Sobel filters::

        SOBEL_X = [[-1, 0, 1],      SOBEL_Y = SOBEL_X.T
                   [-2, 0, 2],
                   [-1, 0, 1]]

    The border is repeated outwards by one pixel (no edge appears at the frame). Not divided
    by 4 (scikit-image's ``sobel`` is). Returns float64 (H, W).
    """
    image = _check_image("sobel_magnitude", image).astype(np.float64)
    padded = np.pad(image, 1, mode="edge")
    h, w = image.shape
    gx, gy = np.zeros((h, w)), np.zeros((h, w))
    for u in range(3):
        for v in range(3):
            window = padded[u:u + h, v:v + w]
            gx += SOBEL_X[u, v] * window
            gy += SOBEL_Y[u, v] * window
    return np.hypot(gx, gy)


def kmeans_colors(image, k: int, iters: int = 50, seed: int = 0):
    """k-means of the pixels' colours; returns ``(labels (H, W) int64, centers (k, C))``.

    Lloyd's algorithm: start from ``k`` distinct pixel colours drawn with ``seed``; then
    alternate (1) give each pixel the label of its nearest centre (squared Euclidean
    distance) and (2) move each centre to the mean colour of its pixels, until the labels stop
    changing or ``iters`` rounds. A grey image (H, W) is one channel. A centre left without
    pixels stays where it was.
    """
    image = _check_image("kmeans_colors", image, channels_allowed=True)
    pixels = image.reshape(-1, 1 if image.ndim == 2 else image.shape[2]).astype(np.float64)
    distinct = np.unique(pixels, axis=0)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(distinct):
        raise ValueError(f"kmeans_colors: expected k between 1 and the {len(distinct)} distinct "
                         f"colours of the image, got {k!r}")
    rng = np.random.default_rng(seed)
    centers = distinct[rng.choice(len(distinct), size=k, replace=False)]
    labels = None
    for _ in range(iters):
        distances = ((pixels[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
        new_labels = distances.argmin(axis=1)
        if labels is not None and np.array_equal(new_labels, labels):
            break
        labels = new_labels
        for c in range(k):
            members = pixels[labels == c]
            if len(members):
                centers[c] = members.mean(axis=0)
    return labels.reshape(image.shape[:2]).astype(np.int64), centers
