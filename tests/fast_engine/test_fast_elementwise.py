"""The fast engine's ReLU (``minicnn/fast/kernels/elementwise.py``): one pass each way, the
same bits as NumPy's expressions (the reference), on one thread or split over several."""

import numpy as np
import pytest

import minicnn
from minicnn.fast import ops as F
from minicnn.fast import tuning


# -- ReLU's one-pass kernels against NumPy's expressions ------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7,), (3, 5, 11, 13), (5, 2**16 + 3)])  # 1 to 6 blocks
@pytest.mark.parametrize("split", [False, True])
def test_relu_kernels_match_numpy_exactly(dtype, shape, split, monkeypatch):
    if split:  # every call over all threads, however small
        monkeypatch.setattr(tuning, "MIN_PARALLEL_WORK", 0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[:4] = [0.0, -0.0, np.inf, -np.inf]
    dout = rng.standard_normal(shape).astype(dtype)
    y, (mask,) = F.relu_forward(x)
    assert y.dtype == x.dtype and mask.dtype == np.bool_
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    np.testing.assert_array_equal(mask, x > 0)
    dx = F.relu_backward(dout, (mask,))
    assert dx.dtype == dout.dtype
    np.testing.assert_array_equal(dx, dout * (x > 0))
    with minicnn.no_grad():  # no backward follows: no mask
        assert F.relu_forward(x)[1] is None
