"""The affine warp behind ``RandomRotation`` and ``RandomAffine``: inverse mapping, then sampling.

Coordinates. Pixel (row i, column j) is the unit square whose centre is (x, y) = (j + 0.5,
i + 0.5); x runs right, y runs *down*. The matrices below work in coordinates relative to the
image centre (W/2, H/2), as torchvision's tensor path does.

The warp. Every output pixel asks where it comes from: its centre ``p`` goes through the
*inverse* map, ``q = M⁻¹ p``, and the input is sampled at ``q`` — nearest neighbour (the pixel
whose centre is closest; halves to even, as ``grid_sample``) or bilinear (the four pixels
around ``q``, weighted by the areas of the opposite rectangles). Pixels of the input that
``q`` needs but that lie outside the image have the value ``fill``: for bilinear,
``out = Σ_inside w_k x_k + (1 − Σ_inside w_k) · fill``. Mapping forwards instead (each input
pixel to where it lands) would leave holes; the inverse map gives every output pixel a value.

Choice, at the border: torchvision multiplies the sample by the in-image weight once more
(``out = m · Σ_inside w_k x_k + (1 − m) · fill`` with ``m = Σ_inside w_k``), which darkens the
outermost ring of a bilinear warp; here the outside is simply the colour ``fill``. Inside the
image (m = 1) and for nearest sampling the two agree.

The forward map is torchvision's ``M = T · C · R(a) · S(s) · SHy(sy) · SHx(sx) · C⁻¹``:
shear along x, shear along y, scale, rotate by ``a`` (clockwise on screen, since y runs down),
all about the centre ``C``, then translate by ``T``.
"""

import math

import numpy as np

INTERPOLATIONS = ("nearest", "bilinear")


def _translation(tx: float, ty: float) -> np.ndarray:
    return np.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


def _linear(a: float, b: float, c: float, d: float) -> np.ndarray:
    return np.array([[a, b, 0.0], [c, d, 0.0], [0.0, 0.0, 1.0]])


def forward_affine_matrix(center, angle, translate, scale, shear) -> np.ndarray:
    """3×3 matrix of the forward map ``T · C · R · S · SHy · SHx · C⁻¹`` (centred coordinates).

    ``center`` (cx, cy) and ``translate`` (tx, ty) in pixels relative to the image centre,
    ``angle`` in degrees (clockwise on screen), ``scale`` > 0, ``shear`` (sx, sy) in degrees.
    """
    a = math.radians(angle)
    sx, sy = (math.radians(s) for s in shear)
    rotate = _linear(math.cos(a), -math.sin(a), math.sin(a), math.cos(a))
    shear_y = _linear(1.0, 0.0, -math.tan(sy), 1.0)
    shear_x = _linear(1.0, -math.tan(sx), 0.0, 1.0)
    about_center = _translation(*center)
    return (_translation(*translate) @ about_center @ rotate @ _linear(scale, 0.0, 0.0, scale)
            @ shear_y @ shear_x @ np.linalg.inv(about_center))


def inverse_affine_matrix(center, angle, translate, scale, shear) -> np.ndarray:
    """2×3 matrix of the inverse map (output pixel -> where it is read in the input).

    Each factor of the forward map inverted in reverse order, ``C · SHx⁻¹ · SHy⁻¹ · S⁻¹ ·
    R⁻¹ · C⁻¹ · T⁻¹``: the inverse of a rotation is the opposite rotation, of a shear the
    opposite shear, of a scale its reciprocal, of a translation the opposite translation.
    """
    a = math.radians(angle)
    sx, sy = (math.radians(s) for s in shear)
    unrotate = _linear(math.cos(a), math.sin(a), -math.sin(a), math.cos(a))
    unshear_y = _linear(1.0, 0.0, math.tan(sy), 1.0)
    unshear_x = _linear(1.0, math.tan(sx), 0.0, 1.0)
    cx, cy = center
    tx, ty = translate
    unscale = _linear(1 / scale, 0.0, 0.0, 1 / scale)
    inverse = (_translation(cx, cy) @ unshear_x @ unshear_y @ unscale @ unrotate
               @ _translation(-cx, -cy) @ _translation(-tx, -ty))
    return inverse[:2]


def expanded_size(inverse: np.ndarray, height: int, width: int) -> tuple[int, int]:
    """(H, W) of the smallest whole-pixel canvas holding the whole warped image (``expand``).

    The four corners go through the matrix; the extent is rounded to 1e-4 before rounding up,
    so that a corner at 5 + 1e-15 (a 90° turn in floating point) does not add a pixel.
    Choice: torchvision (and PIL) round each side outwards after shifting by the *input's*
    half-size, which adds a row or column of ``fill`` when H and W differ by an odd number
    (a 90° turn of a 5×8 image becomes 9×6 there, and 8×5 — exactly ``np.rot90`` — here).
    """
    corners = np.array([[-width / 2, -height / 2, 1.0], [-width / 2, height / 2, 1.0],
                        [width / 2, height / 2, 1.0], [width / 2, -height / 2, 1.0]])
    moved = corners @ inverse.T
    new_width, new_height = np.ceil(np.round(moved.max(axis=0) - moved.min(axis=0), 4))
    return int(new_height), int(new_width)


def warp_affine(x: np.ndarray, inverses: np.ndarray, out_size: tuple[int, int],
                interpolation: str = "nearest", fill=0.0) -> np.ndarray:
    """Warp each image of ``x`` (N, C, H, W) by its own inverse map ``inverses[i]`` (N, 2, 3).

    Returns (N, C, out_h, out_w) in the dtype of ``x``; the output is centred on the input's
    centre. ``fill`` is a number or one value per channel.
    """
    n, channels, height, width = x.shape
    out_h, out_w = out_size
    # Output pixel centres, relative to the output's centre, as homogeneous columns (3, P).
    ys, xs = np.meshgrid(np.arange(out_h) + 0.5 - out_h / 2, np.arange(out_w) + 0.5 - out_w / 2,
                         indexing="ij")
    points = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
    source = inverses @ points                      # (N, 2, P): where each pixel is read
    column = source[:, 0] + width / 2 - 0.5         # as (fractional) pixel indices
    row = source[:, 1] + height / 2 - 0.5
    flat = x.reshape(n, channels, height * width)
    fill = np.broadcast_to(np.asarray(fill, dtype=x.dtype).reshape(1, -1, 1), (1, channels, 1))

    def pixels(r, c):
        """x at integer indices (r, c) of shape (N, P) -> (N, C, P), and which are inside."""
        inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        index = np.where(inside, r * width + c, 0).astype(np.intp)
        return np.take_along_axis(flat, index[:, None, :], axis=2), inside[:, None, :]

    if interpolation == "nearest":
        values, inside = pixels(np.rint(row), np.rint(column))
        out = np.where(inside, values, fill)
    else:
        top, left = np.floor(row), np.floor(column)
        down, right = (row - top).astype(x.dtype), (column - left).astype(x.dtype)
        out = np.zeros((n, channels, out_h * out_w), dtype=x.dtype)
        inside_weight = np.zeros((n, 1, out_h * out_w), dtype=x.dtype)
        for dr, wr in ((0, 1 - down), (1, down)):
            for dc, wc in ((0, 1 - right), (1, right)):
                values, inside = pixels(top + dr, left + dc)
                weight = (wr * wc)[:, None, :] * inside
                out += weight * np.where(inside, values, 0)
                inside_weight += weight
        out += (1 - inside_weight) * fill
    return out.reshape(n, channels, out_h, out_w).astype(x.dtype, copy=False)


def affine(x, angle, translate, scale, shear, interpolation="nearest", fill=0.0, center=None):
    """One affine map applied to every image of ``x`` (N, C, H, W): torchvision's F.affine.

    ``angle`` degrees clockwise, ``translate`` (tx, ty) pixels, ``scale``, ``shear`` (sx, sy)
    degrees, ``center`` (x, y) pixels from the top-left corner (default: the image centre).
    """
    height, width = x.shape[2:]
    inverse = inverse_affine_matrix(centred(center, height, width), angle, translate, scale,
                                    shear)
    return warp_affine(x, np.broadcast_to(inverse, (len(x), 2, 3)), (height, width),
                       interpolation, fill)


def rotate(x, angle, interpolation="nearest", expand=False, center=None, fill=0.0):
    """Every image of ``x`` turned ``angle`` degrees counter-clockwise: torchvision's F.rotate.

    ``expand=True`` enlarges the output to hold the whole turned image.
    """
    height, width = x.shape[2:]
    inverse = inverse_affine_matrix(centred(center, height, width), -angle, (0.0, 0.0), 1.0,
                                    (0.0, 0.0))
    size = expanded_size(inverse, height, width) if expand else (height, width)
    return warp_affine(x, np.broadcast_to(inverse, (len(x), 2, 3)), size, interpolation, fill)


def centred(center, height, width) -> tuple[float, float]:
    """(x, y) from the top-left corner -> relative to the image centre; None is the centre."""
    if center is None:
        return 0.0, 0.0
    return float(center[0]) - width / 2, float(center[1]) - height / 2
