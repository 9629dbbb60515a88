"""Upsampling layers: ``Upsample``, ``UpsamplingNearest2d``, ``UpsamplingBilinear2d``.

They have no parameters. The math is in ``minicnn.functional.upsample`` (``interpolate_forward``
/ ``interpolate_backward``), whose forward checks the input in the layer's name; these classes
hold the settings and keep the cache between forward and backward.
"""

import numpy as np

from .. import engines
from ..functional.upsample import interpolate_params
from .module import Module

__all__ = ["Upsample", "UpsamplingBilinear2d", "UpsamplingNearest2d"]


class Upsample(Module):
    """Resize images by nearest neighbour or bilinear interpolation, PyTorch's ``nn.Upsample``.

    Args:
        size: the output (Ho, Wo), or one int for both; or
        scale_factor: a number or a pair (sh, sw), ``Ho = floor(H · sh)``; exactly one of the two.
        mode: ``"nearest"`` (default: output i copies input ``floor(i · scale)``) or
            ``"bilinear"``.
        align_corners: bilinear only: False (default, half-pixel centres: the image is
            stretched as a grid of pixel squares) or True (the corner pixels' centres are kept).
        recompute_scale_factor: True uses ``n_in / n_out`` in the index rule instead of
            ``1 / scale_factor`` (they differ when ``H · scale_factor`` is not an integer).

    Shapes: (N, C, H, W) → (N, C, Ho, Wo), same dtype. Backward sends each output gradient
    back to the pixels it was read from, with the same weights.
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        interpolate_params(type(self).__name__, size, scale_factor, mode, align_corners,
                           recompute_scale_factor)  # check them now
        self.size = size
        # As PyTorch: a number becomes a float, a pair a tuple of floats.
        self.scale_factor = (None if scale_factor is None else
                             tuple(float(f) for f in scale_factor)
                             if isinstance(scale_factor, (tuple, list)) else float(scale_factor))
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, x: np.ndarray) -> np.ndarray:
        F = engines.functions(engine := engines.get_engine())
        out, cache = F.interpolate_forward(x, self.size, self.scale_factor, self.mode,
                                           self.align_corners, self.recompute_scale_factor,
                                           where=self._name())
        self._save_for_backward((engine, cache), out, inputs={"input": x})
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        engine, cache = self._pop_cache(dout)
        return engines.functions(engine).interpolate_backward(dout, cache)

    def _name(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def extra_repr(self) -> str:
        text = (f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None
                else f"size={self.size!r}")
        return text + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """``Upsample(size, scale_factor, mode="nearest")``, PyTorch's older name for it."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample(size, scale_factor, mode="bilinear", align_corners=True)``: note the corners
    aligned, unlike ``Upsample``'s default (PyTorch's older name, kept for that behaviour)."""

    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
