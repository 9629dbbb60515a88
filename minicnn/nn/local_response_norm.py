"""``LocalResponseNorm``: AlexNet's normalisation across neighbouring channels.

The math is in ``minicnn.functional.local_response_norm``; the layer has no parameters.
"""

from numbers import Real

import numpy as np

from .. import engines
from .._validation import check_positive_int
from .module import Module

__all__ = ["LocalResponseNorm"]


class LocalResponseNorm(Module):
    """Local response normalisation, PyTorch's ``nn.LocalResponseNorm``::

        b_c = a_c / (k + α/size · Σ_{c' = c − size//2}^{c + (size − 1)//2} a_{c'}²)^β

    (channels outside 0..C−1 count as 0). Note α/size, as PyTorch and Caffe: the 2012 paper's
    ``k + α · Σ a²`` with α = 1e-4 and 5 channels is ``alpha=5e-4`` here.

    Args:
        size: the number of channels in each window.
        alpha, beta, k: the constants of the formula; PyTorch's defaults 1e-4, 0.75, 1.0
            (the 2012 AlexNet uses k = 2).

    Shapes: (N, C, *) of rank ≥ 3, e.g. (N, C, H, W) → the same shape and dtype.
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        where = "LocalResponseNorm"
        self.size = check_positive_int(where, "size", size)
        for name, value in (("alpha", alpha), ("beta", beta), ("k", k)):
            if isinstance(value, bool) or not isinstance(value, Real):
                raise TypeError(f"{where}: expected {name} as a number, got {value!r}")
        self.alpha, self.beta, self.k = float(alpha), float(beta), float(k)

    def forward(self, x: np.ndarray) -> np.ndarray:
        F = engines.functions(engine := engines.get_engine())
        out, cache = F.local_response_norm_forward(x, self.size, self.alpha, self.beta, self.k,
                                                   where=self._name())
        self._save_for_backward((engine, cache), out, inputs={"input": x})
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        engine, cache = self._pop_cache(dout)
        return engines.functions(engine).local_response_norm_backward(dout, cache)

    def _name(self) -> str:
        return f"LocalResponseNorm({self.size})"

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
