"""``Dropout`` and ``Dropout2d``: inverted dropout of entries or of whole channels, in training
mode only.

The math is in ``minicnn.functional.dropout``.
"""

from numbers import Real

import numpy as np

from .. import engines
from .._random import get_rng
from .._validation import check_float_array, check_rank
from .module import Module

__all__ = ["Dropout", "Dropout2d"]


class Dropout(Module):
    """Zero each input entry with probability ``p`` during training; scale the rest by 1/(1−p).

    Args:
        p: probability of dropping an entry, in [0, 1] (default 0.5).
        inplace: accepted for PyTorch compatibility (torchvision's models pass it) and shown in
            the repr, but ignored as for ``ReLU``: the output is a new array, because
            overwriting the input could corrupt an array another layer keeps for backward.
        generator: a ``numpy.random.Generator`` for the masks. Without one, each forward pass
            draws from minicnn's default generator *as it is at that moment*, so
            ``minicnn.manual_seed`` (even one called after the layer was built) makes the
            masks repeatable.

    In evaluation mode (``eval()``) the layer is the identity. Any input shape.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, *,
                 generator: np.random.Generator | None = None):
        super().__init__()
        where = type(self).__name__
        if isinstance(p, bool) or not isinstance(p, Real):
            raise TypeError(f"{where}: expected p as a number in [0, 1], got {p!r}")
        if not 0 <= p <= 1:
            raise ValueError(f"{where}: expected p in [0, 1], got {p}")
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise TypeError(f"{where}: expected generator as a numpy.random.Generator or None, "
                            f"got {type(generator).__name__}")
        self.p = float(p)
        self.inplace = bool(inplace)
        self.generator = generator

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float_array(self._name(), x)
        rng = self.generator if self.generator is not None else get_rng()
        engine = engines.get_engine()
        F = engines.functions(engine)
        out, cache = F.dropout_forward(x, self.p, self.training, rng)
        self._save_for_backward((engine, cache), out, inputs={"input": x})
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        engine, cache = self._pop_cache(dout)
        F = engines.functions(engine)
        return F.dropout_backward(dout, cache)

    def _name(self) -> str:
        return f"Dropout(p={self.p})"

    def extra_repr(self) -> str:
        return f"p={self.p}" + (", inplace=True" if self.inplace else "")


class Dropout2d(Dropout):
    """Zero each channel of each sample with probability ``p`` during training; scale the rest
    by 1/(1−p). A dropped channel is zero over its whole H × W plane (Tompson et al. 2015).

    Args: ``p``, ``inplace`` (ignored) and ``generator`` as for ``Dropout``. Identity in
    evaluation mode and for p = 0; p = 1 multiplies by zero (NaN stays NaN, as PyTorch).

    Shapes: input (N, C, H, W) only, else a ValueError. PyTorch warns and goes on for other
    ranks: a 3-D input it reads as (N, C, L), dropping rows, although an unbatched image
    (C, H, W) is what that shape usually is, and it says the behaviour will change; ranks 2
    and 5 it calls deprecated. Rather than guess, minicnn refuses them: ``x[None]`` makes an
    unbatched image a batch of one, ``Dropout`` drops single entries.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        where = self._name()
        check_float_array(where, x)
        check_rank(where, x, 4, "(N, C, H, W)")
        rng = self.generator if self.generator is not None else get_rng()
        engine = engines.get_engine()
        F = engines.functions(engine)
        out, cache = F.dropout2d_forward(x, self.p, self.training, rng)
        self._save_for_backward((engine, cache), out, inputs={"input": x})
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        engine, cache = self._pop_cache(dout)
        F = engines.functions(engine)
        return F.dropout2d_backward(dout, cache)

    def _name(self) -> str:
        return f"Dropout2d(p={self.p})"
