"""Colour augmentation: ``ColorJitter`` (torchvision's, with hue) and AlexNet's PCA lighting.

Part of the public namespace ``minicnn.data.transforms``; the protocol (``t(x, rng)`` on a
float (N, C, H, W) batch or one (C, H, W) image, dtype kept) is described there. Every image
draws its own parameters, image after image from the one generator, so a batch gives exactly
what its images give one at a time with the same generator.
"""

from numbers import Real

import numpy as np

from .color import adjust_hue
from .transforms import Transform

# ITU-R 601-2 luma weights (PIL's "L" conversion), used by ColorJitter's grayscale.
GRAYSCALE_WEIGHTS = (0.299, 0.587, 0.114)

BRIGHTNESS, CONTRAST, SATURATION, HUE = range(4)


class ColorJitter(Transform):
    """Random brightness, contrast, saturation and hue changes, with torchvision's definitions.

    ``brightness``, ``contrast``, ``saturation``: a number ``v >= 0`` (factor drawn uniformly
    from ``[max(0, 1-v), 1+v]``) or a range ``(low, high)`` with ``0 <= low <= high``.
    ``hue``: a number ``0 <= h <= 0.5`` (shift drawn from ``[-h, h]``) or a range within
    [-0.5, 0.5]. 0 (or a range of only 1, resp. 0) switches that change off. Per image:

    * brightness ``f``: ``x * f``;
    * contrast ``f``: blend with the image's mean gray level, ``f * x + (1 - f) * mean(gray)``;
    * saturation ``f``: blend with the grayscale image, ``f * x + (1 - f) * gray``;
    * hue ``h``: in HSV, ``H -> (H + h) mod 1`` (a turn of the colour wheel; 0.5 takes red to
      cyan), S and V kept (see ``minicnn.data.color``);

    with ``gray = 0.299 R + 0.587 G + 0.114 B`` and a clip to [0, 1] after each step. As
    torchvision, the four are applied in a random order, drawn for each image (a permutation,
    then the factors in the order brightness, contrast, saturation, hue). Expects images in
    [0, 1] with 3 (RGB) or 1 channel(s); for 1 channel, gray is the image itself, and
    saturation and hue change nothing.
    """

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0):
        self.brightness = _factor_range("brightness", brightness)
        self.contrast = _factor_range("contrast", contrast)
        self.saturation = _factor_range("saturation", saturation)
        self.hue = _hue_range(hue)

    def get_params(self, rng):
        """``(order, factors)`` of one image: a permutation of the four changes, then a factor
        for each change that is on (None for the others), drawn in the order b, c, s, h."""
        order = rng.permutation(4)
        ranges = (self.brightness, self.contrast, self.saturation, self.hue)
        return order, [None if r is None else float(rng.uniform(*r)) for r in ranges]

    def apply(self, x, rng):
        if x.shape[1] not in (1, 3):
            raise ValueError(f"ColorJitter: expected RGB (N, 3, H, W) or grayscale (N, 1, H, W) "
                             f"images, got shape {x.shape}")
        if all(r is None for r in (self.brightness, self.contrast, self.saturation, self.hue)):
            return x
        params = [self.get_params(rng) for _ in range(len(x))]
        orders = np.array([order for order, _ in params])                 # (N, 4)
        out = x.copy()
        # Step k applies each image's k-th change: the images that share a change go together.
        for step in range(4):
            for change in (BRIGHTNESS, CONTRAST, SATURATION, HUE):
                chosen = np.flatnonzero(orders[:, step] == change)
                if chosen.size == 0 or params[chosen[0]][1][change] is None:
                    continue
                factor = np.array([params[i][1][change] for i in chosen],
                                  dtype=x.dtype).reshape(-1, 1, 1, 1)
                out[chosen] = _CHANGES[change](out[chosen], factor)
        return out


def adjust_brightness(x, factor):
    return _blend(x, 0, factor)


def adjust_contrast(x, factor):
    return _blend(x, _grayscale(x).mean(axis=(1, 2, 3), keepdims=True), factor)


def adjust_saturation(x, factor):
    return _blend(x, _grayscale(x), factor)


def _adjust_hue(x, factor):
    return np.clip(adjust_hue(x, factor[:, :, 0]), 0, 1)


_CHANGES = {BRIGHTNESS: adjust_brightness, CONTRAST: adjust_contrast,
            SATURATION: adjust_saturation, HUE: _adjust_hue}


def _blend(image, other, factor):
    """``factor * image + (1 - factor) * other``, clipped to [0, 1] (torchvision's _blend)."""
    return np.clip(factor * image + (1 - factor) * other, 0, 1).astype(image.dtype, copy=False)


def _grayscale(x):
    """Luma (N, 1, H, W) of RGB images (N, 3, H, W); a 1-channel batch is its own gray."""
    if x.shape[1] == 1:
        return x
    red, green, blue = (np.asarray(w, dtype=x.dtype) for w in GRAYSCALE_WEIGHTS)
    return red * x[:, 0:1] + green * x[:, 1:2] + blue * x[:, 2:3]


def _factor_range(name, value):
    """torchvision's rule: ``v`` -> (max(0, 1-v), 1+v); ``(low, high)`` as is; None if off."""
    if isinstance(value, Real) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"ColorJitter: expected {name} >= 0, got {value}")
        low, high = max(0.0, 1.0 - value), 1.0 + value
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        low, high = float(value[0]), float(value[1])
        if not 0 <= low <= high:
            raise ValueError(f"ColorJitter: expected a {name} range 0 <= low <= high, "
                             f"got {value}")
    else:
        raise TypeError(f"ColorJitter: expected {name} as a number or a (low, high) pair, "
                        f"got {value!r}")
    return None if low == high == 1.0 else (low, high)


def _hue_range(value):
    """torchvision's rule for hue: ``h`` -> (-h, h) with 0 <= h <= 0.5; a range within
    [-0.5, 0.5]; None if (0, 0)."""
    if isinstance(value, Real) and not isinstance(value, bool):
        if not 0 <= value <= 0.5:
            raise ValueError(f"ColorJitter: expected 0 <= hue <= 0.5, got {value}")
        low, high = -float(value), float(value)
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        low, high = float(value[0]), float(value[1])
        if not -0.5 <= low <= high <= 0.5:
            raise ValueError(f"ColorJitter: expected a hue range -0.5 <= low <= high <= 0.5, "
                             f"got {value}")
    else:
        raise TypeError(f"ColorJitter: expected hue as a number or a (low, high) pair, "
                        f"got {value!r}")
    return None if low == high == 0.0 else (low, high)


class PCAColorAugmentation(Transform):
    """AlexNet's "fancy PCA" lighting noise (Krizhevsky, Sutskever, Hinton 2012, section 4.1).

    Not in torchvision. Every pixel of an image gets the same RGB offset

        x[:, y, x] += [p1, p2, p3] @ [a1 λ1, a2 λ2, a3 λ3]ᵀ,   a_i ~ N(0, std²), per image,

    where ``p_i`` (the columns of ``eigenvectors``, 3×3) and ``λ_i`` (``eigenvalues``, 3) are
    the principal components of the training set's RGB pixel covariance: the directions in
    which natural colours vary. The noise changes the intensity and colour of the lighting,
    not the object, so the network learns to ignore it. ``std=0.1`` as the paper. Get the
    components with ``rgb_principal_components(train_images)`` (or ``from_data``). No clip:
    the paper adds the offset to mean-subtracted pixels; put ``Normalize`` after it or
    before, as your pipeline expects. Expects RGB (N, 3, H, W).
    """

    def __init__(self, eigenvalues, eigenvectors, std: float = 0.1):
        self.eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
        self.eigenvectors = np.asarray(eigenvectors, dtype=np.float64)
        if self.eigenvalues.shape != (3,):
            raise ValueError(f"PCAColorAugmentation: expected 3 eigenvalues (one per RGB "
                             f"component), got shape {self.eigenvalues.shape}")
        if self.eigenvectors.shape != (3, 3):
            raise ValueError(f"PCAColorAugmentation: expected eigenvectors as a 3×3 matrix "
                             f"(one column per component), got shape {self.eigenvectors.shape}")
        if not (isinstance(std, Real) and not isinstance(std, bool)) or std < 0:
            raise ValueError(f"PCAColorAugmentation: expected std >= 0, got {std!r}")
        self.std = float(std)

    @classmethod
    def from_data(cls, images, std: float = 0.1):
        """The transform for a training set ``images`` (N, 3, H, W)."""
        return cls(*rgb_principal_components(images), std=std)

    def get_params(self, rng) -> np.ndarray:
        """The three ``a_i`` of one image."""
        return rng.normal(0.0, self.std, size=3)

    def apply(self, x, rng):
        if x.shape[1] != 3:
            raise ValueError(f"PCAColorAugmentation: expected RGB images (N, 3, H, W), "
                             f"got shape {x.shape}")
        alphas = np.array([self.get_params(rng) for _ in range(len(x))]).reshape(-1, 3)
        weights = alphas * self.eigenvalues                               # (N, 3): a_i λ_i
        offsets = sum(weights[:, i:i + 1] * self.eigenvectors[:, i] for i in range(3))  # Σ ... p_i
        return x + offsets[:, :, None, None].astype(x.dtype)

    def __repr__(self) -> str:
        return (f"PCAColorAugmentation(eigenvalues={np.round(self.eigenvalues, 6).tolist()}, "
                f"std={self.std})")


def rgb_principal_components(images, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (3,) and eigenvectors (3, 3, one per column) of the RGB pixel covariance.

    Every pixel of every image of ``images`` (N, 3, H, W) is one sample of a 3-vector; the
    covariance is ``np.cov``'s (divided by count − 1). Components are sorted by decreasing
    eigenvalue, each eigenvector signed so that its largest entry is positive. ``images`` is
    read ``chunk`` images at a time, in two passes (the mean, then the centred products), so
    a large float32 training set is never copied whole into float64.
    """
    if not isinstance(images, np.ndarray) or images.ndim != 4 or images.shape[1] != 3:
        shape = getattr(images, "shape", type(images).__name__)
        raise ValueError(f"rgb_principal_components: expected RGB images as an array "
                         f"(N, 3, H, W), got {shape}")
    count = images.shape[0] * images.shape[2] * images.shape[3]
    if count < 2:
        raise ValueError(f"rgb_principal_components: expected at least 2 pixels, got {count}")
    total = np.zeros(3)
    for start in range(0, len(images), chunk):
        total += images[start:start + chunk].sum(axis=(0, 2, 3), dtype=np.float64)
    mean = total / count
    products = np.zeros((3, 3))
    for start in range(0, len(images), chunk):
        pixels = images[start:start + chunk].astype(np.float64)
        centred = pixels.transpose(1, 0, 2, 3).reshape(3, -1) - mean[:, None]
        products += centred @ centred.T
    eigenvalues, eigenvectors = np.linalg.eigh(products / (count - 1))
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, eigenvectors = eigenvalues[order], eigenvectors[:, order]
    signs = np.sign(eigenvectors[np.abs(eigenvectors).argmax(axis=0), range(3)])
    return eigenvalues, eigenvectors * np.where(signs == 0, 1, signs)
