"""The fast engine as a namespace: every operation of ``minicnn.functional``, with the fast
versions where this package has one.

``minicnn.engines.functions("fast")`` returns this module, so a layer calls
``F.conv2d_forward(...)`` the same way under either engine. Importing it imports Numba (the
kernels compile on their first call, not here).
"""

from ..functional import *  # noqa: F403  (the reference's operations, replaced below)
from ..functional import __all__  # noqa: F401  (the same names, exported)
from . import activation, conv, loss, normalization, pooling

# The operations this engine computes its own way; each is tested against the reference.
conv2d_forward = conv.conv2d_forward
conv2d_backward = conv.conv2d_backward
relu_forward = activation.relu_forward
relu_backward = activation.relu_backward
max_pool2d_forward = pooling.max_pool2d_forward
max_pool2d_backward = pooling.max_pool2d_backward
avg_pool2d_forward = pooling.avg_pool2d_forward
avg_pool2d_backward = pooling.avg_pool2d_backward
batch_norm_forward = normalization.batch_norm_forward
batch_norm_backward = normalization.batch_norm_backward
cross_entropy_forward = loss.cross_entropy_forward
cross_entropy_backward = loss.cross_entropy_backward

FAST_OPERATIONS = (
    "avg_pool2d_backward", "avg_pool2d_forward", "batch_norm_backward", "batch_norm_forward",
    "conv2d_backward", "conv2d_forward", "cross_entropy_backward", "cross_entropy_forward",
    "max_pool2d_backward", "max_pool2d_forward", "relu_backward", "relu_forward",
)
