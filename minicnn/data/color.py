"""RGB <-> HSV for batches of images (N, 3, H, W) in [0, 1], and torchvision's hue shift.

HSV describes a colour by its hue H (the angle on the colour wheel, as a fraction of a turn:
red 0, yellow 1/6, green 1/3, cyan 1/2, blue 2/3, magenta 5/6), its saturation S (0 for gray)
and its value V (the largest of R, G, B). The formulas are the textbook (and torchvision's,
and Python's ``colorsys``) hexcone model:

    V = max(R, G, B),  C = V - min(R, G, B),  S = C / V  (0 where V = 0)
    H = (G - B) / C / 6          where V = R   (taken mod 1)
        (2 + (B - R) / C) / 6    where V = G (and not R)
        (4 + (R - G) / C) / 6    where V = B (and neither)
        0                        where C = 0 (gray: no hue)

and back: with ``i = floor(6 H) mod 6``, ``f = 6 H - floor(6 H)``, ``p = V (1 - S)``,
``q = V (1 - S f)``, ``t = V (1 - S (1 - f))``, (R, G, B) is (V, t, p), (q, V, p), (p, V, t),
(p, q, V), (t, p, V), (V, p, q) for i = 0 … 5.
"""

import numpy as np


def rgb_to_hsv(x: np.ndarray) -> np.ndarray:
    """(N, 3, H, W) RGB in [0, 1] -> (N, 3, H, W) HSV, each channel in [0, 1]; dtype kept."""
    red, green, blue = x[:, 0], x[:, 1], x[:, 2]
    value = x.max(axis=1)
    chroma = value - x.min(axis=1)
    gray = chroma == 0
    safe_value = np.where(value == 0, 1, value)     # S = 0 there: chroma is 0 too
    saturation = chroma / safe_value
    safe_chroma = np.where(gray, 1, chroma)         # H = 0 there, whatever the division says
    hue = np.where(value == red, (green - blue) / safe_chroma,
                   np.where(value == green, 2 + (blue - red) / safe_chroma,
                            4 + (red - green) / safe_chroma))
    hue = np.where(gray, 0, hue / 6) % 1.0
    return np.stack([hue, saturation, value], axis=1).astype(x.dtype, copy=False)


def hsv_to_rgb(x: np.ndarray) -> np.ndarray:
    """(N, 3, H, W) HSV in [0, 1] -> (N, 3, H, W) RGB in [0, 1]; dtype kept."""
    hue, saturation, value = x[:, 0], x[:, 1], x[:, 2]
    sector = np.floor(hue * 6)
    f = hue * 6 - sector
    sector = sector.astype(np.intp) % 6
    p = np.clip(value * (1 - saturation), 0, 1)
    q = np.clip(value * (1 - saturation * f), 0, 1)
    t = np.clip(value * (1 - saturation * (1 - f)), 0, 1)
    # For each sector 0..5, which of (v, p, q, t) is R, G and B.
    red = np.choose(sector, [value, q, p, p, t, value])
    green = np.choose(sector, [t, value, value, q, p, p])
    blue = np.choose(sector, [p, p, t, value, value, q])
    return np.stack([red, green, blue], axis=1).astype(x.dtype, copy=False)


def adjust_hue(x: np.ndarray, hue_factor) -> np.ndarray:
    """Turn the hue of RGB images (N, 3, H, W) by ``hue_factor`` (a fraction of a turn, in
    [-0.5, 0.5]; a number or one per image, shaped (N, 1, 1)): H -> (H + factor) mod 1, S and
    V kept. 0.5 gives the complementary colour (red -> cyan). A one-channel batch is returned
    as it is (gray has no hue), as torchvision."""
    if x.shape[1] == 1:
        return x
    hsv = rgb_to_hsv(x)
    hsv[:, 0] = (hsv[:, 0] + np.asarray(hue_factor, dtype=x.dtype)) % 1.0
    return hsv_to_rgb(hsv)
