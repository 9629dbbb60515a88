"""Stateless forward/backward pairs, one pair per operation, in the style of a lab sheet.

Every forward returns ``(out, cache)``; the matching backward takes ``(dout, cache)`` and returns
the gradients of its inputs. The formula and the array shapes are in each docstring.

    out, cache = F.conv2d_forward(x, w, b, stride=1, padding=0)
    dx, dw, db = F.conv2d_backward(dout, cache)
"""

from . import activation, conv, dropout, linear, loss, normalization, pooling, pooling_order
from .activation import *
from .conv import *
from .dropout import *
from .linear import *
from .loss import *
from .normalization import *
from .pooling import *
from .pooling_order import *

__all__ = sorted(name for module in (activation, conv, dropout, linear, loss, normalization,
                                     pooling, pooling_order) for name in module.__all__)
