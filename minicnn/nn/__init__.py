"""Layers with parameters, caches and hand-written backward passes (see ``Module``)."""

from . import init
from .activation import *
from .blocks import *
from .conv import *
from .conv_transpose import *
from .crop import *
from .dense import *
from .dropout import *
from .layer_norm import *
from .linear import *
from .local_response_norm import *
from .loss import *
from .module import Identity, Module, Sequential
from .multi_output import *
from .normalization import *
from .parameter import Parameter
from .pooling import *
from .sync_batchnorm import *
from .upsample import *
