"""Stateless forward/backward pairs, one pair per operation, in the style of a lab sheet.

Every forward returns ``(out, cache)``; the matching backward takes ``(dout, cache)`` and returns
the gradients of its inputs. The formula and the array shapes are in each docstring.

    out, cache = F.conv2d_forward(x, w, b, stride=1, padding=0)
    dx, dw, db = F.conv2d_backward(dout, cache)
"""

from . import (
    activation,
    concat,
    conv,
    conv_transpose,
    crop,
    dropout,
    hinge_loss,
    layer_norm,
    linear,
    local_response_norm,
    loss,
    normalization,
    pooling,
    pooling_order,
    regression_loss,
    sync_batch_norm,
    upsample,
    worked_examples,
)
from .activation import *
from .concat import *
from .conv import *
from .conv_transpose import *
from .crop import *
from .dropout import *
from .hinge_loss import *
from .layer_norm import *
from .linear import *
from .local_response_norm import *
from .loss import *
from .normalization import *
from .pooling import *
from .pooling_order import *
from .regression_loss import *
from .sync_batch_norm import *
from .upsample import *
from .worked_examples import *

__all__ = sorted(name for module in (activation, concat, conv, conv_transpose, crop, dropout,
                                     hinge_loss, layer_norm, linear, local_response_norm, loss,
                                     normalization, pooling, pooling_order, regression_loss,
                                     sync_batch_norm, upsample, worked_examples)
                 for name in module.__all__)
