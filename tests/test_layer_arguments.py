"""Counts (channels, features, strides) go through one check, ``check_positive_int``.

Each layer's message names the layer and the argument: ``Linear: expected in_features >= 1,
got 0`` (ValueError) or ``Linear: expected in_features as an int, got 2.0`` (TypeError; a bool is
not a count either).
"""

import numpy as np
import pytest

from minicnn import models, nn
from minicnn._validation import check_int, check_positive_int

pytestmark = pytest.mark.usefixtures("each_engine")

# (what the message names, argument name, a builder taking that argument's value)
COUNTS = [
    ("Conv2d", "in_channels", lambda v: nn.Conv2d(v, 2, 3)),
    ("Conv2d", "out_channels", lambda v: nn.Conv2d(2, v, 3)),
    ("Linear", "in_features", lambda v: nn.Linear(v, 2)),
    ("Linear", "out_features", lambda v: nn.Linear(2, v)),
    ("PReLU", "num_parameters", lambda v: nn.PReLU(v)),
    ("Maxout", "pieces", lambda v: nn.Maxout(v)),
    ("BatchNorm1d", "num_features", lambda v: nn.BatchNorm1d(v)),
    ("BatchNorm2d", "num_features", lambda v: nn.BatchNorm2d(v)),
    ("ZeroPadShortcut", "stride", lambda v: nn.ZeroPadShortcut(2, 4, v)),
    ("BasicBlock", "planes", lambda v: nn.BasicBlock(2, v)),
    ("Bottleneck", "in_planes", lambda v: nn.Bottleneck(v, 2)),
    ("Inception", "pool_proj", lambda v: nn.Inception(3, 2, 2, 2, 2, 2, v)),
    ("lenet5", "num_classes", lambda v: models.lenet5(num_classes=v)),
]


@pytest.mark.parametrize("where, name, build", COUNTS, ids=[f"{w}.{n}" for w, n, _ in COUNTS])
def test_counts_must_be_positive_ints(where, name, build):
    for bad in (0, -1):
        with pytest.raises(ValueError, match=rf"^{where}: expected {name} >= 1, got {bad}$"):
            build(bad)
    for bad in (2.0, True, "3", None):
        with pytest.raises(TypeError, match=rf"^{where}: expected {name} as an int, "
                                            rf"got {bad!r}$"):
            build(bad)
    build(np.int64(3))  # any integral type is a count


def test_check_positive_int_returns_a_python_int():
    value = check_positive_int("Here", "n", np.int64(3))
    assert value == 3 and type(value) is int
    assert type(check_int("Here", "dim", np.int32(-1))) is int
    assert type(nn.Linear(np.int64(3), 2).in_features) is int
