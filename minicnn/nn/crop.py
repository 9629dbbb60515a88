"""The two halves of U-Net's skip connection as layers: ``CenterCrop2d`` and ``Cat``.

PyTorch has neither as a module (``torchvision.transforms.CenterCrop`` is a data transform,
``torch.cat`` a function, both differentiated by autograd); here each keeps what its backward
needs. The math is in ``minicnn.functional.crop``.
"""

import numpy as np

from .. import engines
from .._validation import as_pair
from .module import Module

__all__ = ["Cat", "CenterCrop2d"]


class CenterCrop2d(Module):
    """Keep the centred (h, w) window of every map: (N, C, H, W) → (N, C, h, w).

    Args:
        size: the window (h, w), or one int for both; ``None`` means it is given at each call,
            ``crop(x, size=(h, w))`` (U-Net crops an encoder map to the size of the decoder map
            it joins, which depends on the input).

    The window starts at ``((H − h) // 2, (W − w) // 2)``.
    Backward pads the gradient with zeros to (N, C, H, W): the cut pixels got no gradient.
    """

    def __init__(self, size=None):
        super().__init__()
        self.size = None if size is None else as_pair("CenterCrop2d", "size", size, minimum=1)

    def forward(self, x: np.ndarray, size=None) -> np.ndarray:
        size = self.size if size is None else as_pair(self._name(), "size", tuple(size), 1)
        if size is None:
            raise ValueError(f"{self._name()}: expected a size, at construction or as "
                             f"crop(x, size=(h, w)), got none")
        F = engines.functions(engine := engines.get_engine())
        out, cache = F.center_crop_forward(x, size, where=self._name())
        self._save_for_backward((engine, cache), out)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        engine, cache = self._pop_cache(dout)
        return engines.functions(engine).center_crop_backward(dout, cache)

    def _name(self) -> str:
        return f"CenterCrop2d({self.extra_repr()})"

    def extra_repr(self) -> str:
        return f"size={self.size!r}"


class Cat(Module):
    """Concatenate the inputs along ``dim`` (``torch.cat`` as a layer): ``cat(a, b, ...)``.

    Args:
        dim: the axis to join along; 1 (the channels of (N, C, H, W) maps) by default.

    The inputs must agree in every other axis. Backward returns a tuple with one gradient per
    input, each its slice of ``dout``: ``da, db = cat.backward(dout)``.
    """

    def __init__(self, dim: int = 1):
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise TypeError(f"Cat: expected dim as an int, got {dim!r}")
        self.dim = dim

    def forward(self, *tensors: np.ndarray) -> np.ndarray:
        F = engines.functions(engine := engines.get_engine())
        out, cache = F.cat_forward(tensors, self.dim, where=self._name())
        self._save_for_backward((engine, cache), out)
        return out

    def backward(self, dout: np.ndarray) -> tuple:
        engine, cache = self._pop_cache(dout)
        return engines.functions(engine).cat_backward(dout, cache)

    def _name(self) -> str:
        return f"Cat({self.extra_repr()})"

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
