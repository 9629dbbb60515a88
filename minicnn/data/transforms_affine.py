"""``RandomRotation`` and ``RandomAffine``: torchvision's arguments, the warp of ``warp.py``.

Part of the public namespace ``minicnn.data.transforms``; the protocol (``t(x, rng)`` on a
float (N, C, H, W) batch or one (C, H, W) image, dtype kept) is described there. Every image
of a batch draws its own parameters, image after image from the one generator, so a batch
gives exactly what the images give one at a time with the same generator.
"""

from numbers import Real

import numpy as np

from .transforms import Transform
from .warp import INTERPOLATIONS, centred, expanded_size, inverse_affine_matrix, warp_affine


class RandomRotation(Transform):
    """Turn each image by a random angle, counter-clockwise for a positive angle (torchvision).

    ``degrees``: a number ``d >= 0`` draws the angle uniformly from (-d, d), a pair (min, max)
    from (min, max). The image turns about ``center`` ((x, y) in pixels from the top-left
    corner; default the image centre). ``interpolation`` is ``"nearest"`` (default, as
    torchvision) or ``"bilinear"``; corners that come from outside the image get ``fill`` (a
    number or one per channel). ``expand=True`` makes the output large enough to hold the
    whole turned image (its size then depends on the angle, so a batch must hold one image).
    A turn by 90° with nearest sampling is exactly ``np.rot90``.
    """

    def __init__(self, degrees, interpolation="nearest", expand=False, center=None, fill=0):
        self.degrees = _range("RandomRotation", "degrees", degrees)
        self.interpolation = _interpolation("RandomRotation", interpolation)
        self.expand = bool(expand)
        self.center = _center("RandomRotation", center)
        self.fill = _fill("RandomRotation", fill)

    def get_params(self, rng) -> float:
        """The angle of one image, in degrees."""
        return float(rng.uniform(*self.degrees))

    def apply(self, x, rng):
        _check_fill_channels("RandomRotation", self.fill, x)
        height, width = x.shape[2:]
        center = centred(self.center, height, width)
        # rotate's angle is counter-clockwise; the affine matrix's is clockwise (torchvision).
        inverses = np.stack([inverse_affine_matrix(center, -self.get_params(rng), (0.0, 0.0),
                                                   1.0, (0.0, 0.0)) for _ in range(len(x))])
        size = (height, width)
        if self.expand:
            if len(x) != 1:
                raise ValueError(f"RandomRotation: expand=True gives every angle its own "
                                 f"output size; expected one image (C, H, W) or a batch of "
                                 f"one, got shape {x.shape}")
            size = expanded_size(inverses[0], height, width)
        return warp_affine(x, inverses, size, self.interpolation, self.fill)


class RandomAffine(Transform):
    """A random rotation, translation, scale and shear of each image, about its centre.

    torchvision's arguments and draws, per image:

    * ``degrees``: number ``d`` -> angle uniform in (-d, d), or a range (min, max); the angle
      is *clockwise* on screen for a positive value, as torchvision's ``F.affine`` (0 turns
      nothing);
    * ``translate`` (a, b), fractions in [0, 1]: shifts ``tx = round(uniform(-a W, a W))``
      and ``ty = round(uniform(-b H, b H))``, whole pixels; None: no shift;
    * ``scale`` (min, max): factor uniform in the range; None: 1;
    * ``shear``: number ``s`` -> x-shear uniform in (-s, s) degrees; (min, max) -> x-shear in
      that range; (xmin, xmax, ymin, ymax) -> an x-shear and a y-shear; None: no shear.

    The map is ``T · C · R · S · SHy · SHx · C⁻¹`` about ``center`` (default the image centre),
    sampled as ``RandomRotation`` (``interpolation``, ``fill``); the output has the input's
    size. ``RandomAffine(0)`` returns every image as it was.
    """

    def __init__(self, degrees, translate=None, scale=None, shear=None,
                 interpolation="nearest", fill=0, center=None):
        where = "RandomAffine"
        self.degrees = _range(where, "degrees", degrees)
        self.translate = None if translate is None else _fractions(translate)
        self.scale = None if scale is None else _pair(where, "scale", scale, low=0.0, strict=True)
        self.shear = None if shear is None else _shear(shear)
        self.interpolation = _interpolation(where, interpolation)
        self.fill = _fill(where, fill)
        self.center = _center(where, center)

    def get_params(self, height: int, width: int, rng):
        """``(angle, (tx, ty), scale, (shear_x, shear_y))`` of one image, drawn in that order."""
        angle = float(rng.uniform(*self.degrees))
        if self.translate is not None:
            max_dx, max_dy = self.translate[0] * width, self.translate[1] * height
            translate = (round(float(rng.uniform(-max_dx, max_dx))),
                         round(float(rng.uniform(-max_dy, max_dy))))
        else:
            translate = (0, 0)
        scale = 1.0 if self.scale is None else float(rng.uniform(*self.scale))
        shear_x = shear_y = 0.0
        if self.shear is not None:
            shear_x = float(rng.uniform(*self.shear[:2]))
            if len(self.shear) == 4:
                shear_y = float(rng.uniform(*self.shear[2:]))
        return angle, translate, scale, (shear_x, shear_y)

    def apply(self, x, rng):
        _check_fill_channels("RandomAffine", self.fill, x)
        height, width = x.shape[2:]
        center = centred(self.center, height, width)
        inverses = np.stack([inverse_affine_matrix(center, *self.get_params(height, width, rng))
                             for _ in range(len(x))])
        return warp_affine(x, inverses, (height, width), self.interpolation, self.fill)


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _range(where, name, value):
    """torchvision's degrees: ``d >= 0`` -> (-d, d); a pair (min, max) with min <= max."""
    if _is_number(value):
        if value < 0:
            raise ValueError(f"{where}: expected {name} >= 0 when it is a single number, "
                             f"got {value!r}")
        return -float(value), float(value)
    return _pair(where, name, value)


def _pair(where, name, value, low=None, strict=False):
    """A (min, max) pair of numbers with min <= max, min >= low (> low if ``strict``)."""
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(_is_number(v) for v in value)):
        raise TypeError(f"{where}: expected {name} as a pair of numbers (min, max), "
                        f"got {value!r}")
    first, second = float(value[0]), float(value[1])
    if first > second:
        raise ValueError(f"{where}: expected {name} (min, max) with min <= max, got {value!r}")
    if low is not None and (first <= low if strict else first < low):
        raise ValueError(f"{where}: expected {name} values {'>' if strict else '>='} {low}, "
                         f"got {value!r}")
    return first, second


def _fractions(value):
    """torchvision's translate: (a, b), the largest shifts as fractions of W and H."""
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(_is_number(v) for v in value)):
        raise TypeError(f"RandomAffine: expected translate as a pair of fractions (a, b), "
                        f"got {value!r}")
    if not all(0 <= v <= 1 for v in value):
        raise ValueError(f"RandomAffine: expected translate values in [0, 1], got {value!r}")
    return float(value[0]), float(value[1])


def _shear(value):
    """torchvision's shear: s -> (-s, s) on x; (min, max) on x; (xmin, xmax, ymin, ymax)."""
    if _is_number(value):
        return _range("RandomAffine", "shear", value)
    if isinstance(value, (tuple, list)) and len(value) == 4:
        return (*_pair("RandomAffine", "shear", value[:2]),
                *_pair("RandomAffine", "shear", value[2:]))
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return _pair("RandomAffine", "shear", value)
    raise TypeError(f"RandomAffine: expected shear as a number, (min, max) or "
                    f"(xmin, xmax, ymin, ymax), got {value!r}")


def _interpolation(where, value):
    if value not in INTERPOLATIONS:
        raise ValueError(f"{where}: expected interpolation 'nearest' or 'bilinear', "
                         f"got {value!r}")
    return value


def _center(where, value):
    if value is None:
        return None
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(_is_number(v) for v in value)):
        raise TypeError(f"{where}: expected center as (x, y) in pixels, got {value!r}")
    return float(value[0]), float(value[1])


def _fill(where, value):
    """A number, or a sequence of numbers (one per channel)."""
    if _is_number(value):
        return float(value)
    if (isinstance(value, (tuple, list)) and len(value) > 0
            and all(_is_number(v) for v in value)):
        return tuple(float(v) for v in value)
    raise TypeError(f"{where}: expected fill as a number or one number per channel, "
                    f"got {value!r}")


def _check_fill_channels(where, fill, x):
    if isinstance(fill, tuple) and len(fill) not in (1, x.shape[1]):
        raise ValueError(f"{where}: expected fill with one value per channel ({x.shape[1]}), "
                         f"got {len(fill)} values {fill} for input of shape {x.shape}")
