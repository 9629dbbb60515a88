"""Activation functions, as forward/backward pairs.

Element-wise activations have a diagonal Jacobian, so each backward pass is ``dx = dout · f'(x)``
with ``f'`` read from the cache. Softmax couples the entries along one axis; its backward pass is
the Jacobian-vector product given in its docstring, never the Jacobian itself.

Every function keeps the input's dtype (float32 stays float32): Python scalars such as ``0.5``
adapt to the array's dtype, but NumPy float64 scalars would upcast, so slopes are converted with
``x.dtype.type(...)`` first.
"""

import math

import numpy as np

__all__ = [
    "leaky_relu_backward", "leaky_relu_forward", "log_softmax_backward", "log_softmax_forward",
    "prelu_backward", "prelu_forward", "relu_backward", "relu_forward", "sigmoid_backward",
    "sigmoid_forward", "softmax_backward", "softmax_forward", "tanh_backward", "tanh_forward",
]


# -- ReLU family ------------------------------------------------------------------------------
def relu_forward(x: np.ndarray):
    """Rectified linear unit, element-wise.

    Formula: ``y = max(x, 0)``;  ``dy/dx = 1 if x > 0 else 0`` (0 at the kink x = 0, as PyTorch).

    Shapes: any; y has the shape of x. Returns ``(y, cache)`` with ``cache = (x > 0,)``, a boolean
    mask (one byte per entry, a quarter of a float32 copy).
    """
    return np.maximum(x, 0), (x > 0,)


def relu_backward(dout: np.ndarray, cache) -> np.ndarray:
    """``dx = dout · [x > 0]``: the gradient passes where the unit was active, else stops.

    Computed as a select (``dout`` where active, else 0, as PyTorch does), so that a NaN in
    dout stops at an inactive unit too, where ``dout * mask`` would give NaN · 0 = NaN.
    """
    (active,) = cache
    return np.where(active, dout, 0).astype(dout.dtype, copy=False)


def _slopes(x: np.ndarray, negative_slope) -> np.ndarray:
    """The local derivative of a leaky ReLU: 1 where x > 0, else ``negative_slope``.

    Built as ``a + (1 − a)·[x > 0]`` by arithmetic rather than ``np.where``, whose data-dependent
    branch is several times slower on random signs. ``negative_slope`` broadcasts against x.
    """
    slopes = (x > 0).astype(x.dtype)
    slopes *= 1 - negative_slope
    slopes += negative_slope
    return slopes


def leaky_relu_forward(x: np.ndarray, negative_slope: float = 0.01):
    """Leaky ReLU, element-wise.

    Formula: ``y = x if x > 0 else a·x`` with ``a = negative_slope``;
    ``dy/dx = 1 if x > 0 else a``.

    Shapes: any; y has the shape of x. Returns ``(y, cache)`` with ``cache = (dy/dx,)``.
    """
    slopes = _slopes(x, x.dtype.type(negative_slope))
    return x * slopes, (slopes,)


def leaky_relu_backward(dout: np.ndarray, cache) -> np.ndarray:
    """``dx = dout · dy/dx``, i.e. ``dout`` where x > 0 and ``a · dout`` elsewhere."""
    (slopes,) = cache
    return dout * slopes


def _channel_view(weight: np.ndarray, ndim: int) -> np.ndarray:
    """A (C,) weight reshaped to broadcast over axis 1 of a rank-``ndim`` array: (1, C, 1, 1)."""
    if weight.size == 1:
        return weight.reshape(())
    return weight.reshape((1, -1) + (1,) * (ndim - 2))


def prelu_forward(x: np.ndarray, weight: np.ndarray):
    """Parametric ReLU: a leaky ReLU whose negative slope is learned, one per channel.

    Formula: ``y[n, c, ...] = x if x > 0 else a[c]·x``, with ``a = weight``.

    Shapes: x: (N, C, ...) (any rank when weight has a single entry); weight: (1,) shared by
    all channels, or (C,) for axis 1 of x, as PyTorch. y has the shape of x.
    Returns ``(y, cache)`` with ``cache = (x, dy/dx, weight.shape)``.
    """
    slopes = _slopes(x, _channel_view(weight, x.ndim))
    return x * slopes, (x, slopes, weight.shape)


def prelu_backward(dout: np.ndarray, cache, need_dx: bool = True, need_dw: bool = True):
    """Gradients of the parametric ReLU.

    Formulas::

        dx    = dout · dy/dx                           (shape of x)
        dw[c] = Σ_{n, ...} dout · min(x, 0)            over every axis but 1   → (C,)
                (a single weight sums over everything → (1,))

    since ``dy/da = x`` where x ≤ 0 and 0 elsewhere, i.e. ``min(x, 0)``.
    ``need_dx`` / ``need_dw`` = False skip that gradient and return None in its place.

    Returns ``(dx, dw)``.
    """
    x, slopes, weight_shape = cache
    dx = dout * slopes if need_dx else None
    if not need_dw:
        return dx, None
    contributions = np.minimum(x, 0)
    contributions *= dout
    if math.prod(weight_shape) == 1:
        dw = contributions.sum().reshape(weight_shape)
    else:
        dw = contributions.sum(axis=(0, *range(2, x.ndim)))
    return dx, dw


# -- saturating activations -------------------------------------------------------------------
def tanh_forward(x: np.ndarray):
    """Hyperbolic tangent, element-wise.

    Formula: ``y = tanh(x)``;  ``dy/dx = 1 − y²`` (read from the output, so the cache is y).

    Shapes: any. Returns ``(y, cache)`` with ``cache = (y,)``.
    """
    y = np.tanh(x)
    return y, (y,)


def tanh_backward(dout: np.ndarray, cache) -> np.ndarray:
    """``dx = dout · (1 − y²)``."""
    (y,) = cache
    dx = y * y
    np.subtract(1, dx, out=dx)
    dx *= dout
    return dx


def sigmoid_forward(x: np.ndarray):
    """Logistic sigmoid, element-wise, without overflow for any x.

    Formula: ``y = σ(x) = 1 / (1 + e^(−x))``;  ``dy/dx = y · (1 − y)``.

    The textbook form overflows: ``e^(−x)`` is inf for x < −710 in float64 (x < −89 in float32)
    and NumPy warns. The identity ``σ(x) = ½ · (1 + tanh(x/2))`` gives the same values with a
    function that saturates instead of overflowing, in one transcendental call (about ten times
    faster than branching on the sign of x). Its only loss is relative precision for outputs
    below the float spacing near 1 (about 1e-16 in float64), which come out as 0.

    Shapes: any. Returns ``(y, cache)`` with ``cache = (y,)``.
    """
    y = x * 0.5
    np.tanh(y, out=y)
    y += 1
    y *= 0.5
    return y, (y,)


def sigmoid_backward(dout: np.ndarray, cache) -> np.ndarray:
    """``dx = dout · y · (1 − y)``."""
    (y,) = cache
    dx = 1 - y
    dx *= y
    dx *= dout
    return dx


# -- softmax -------------------------------------------------------------------------------
def softmax_forward(x: np.ndarray, axis: int = 1):
    """Softmax along ``axis``: turns scores into probabilities that sum to 1.

    Formula: ``y_i = e^(x_i − m) / Σ_j e^(x_j − m)`` with ``m = max_j x_j``.

    Subtracting the maximum changes nothing mathematically (it cancels between numerator and
    denominator) but keeps every exponent ≤ 0, so nothing overflows even for scores of ±1000.

    Shapes: x: (N, K) with the default axis=1 (any rank works); y has the shape of x.
    Returns ``(y, cache)`` with ``cache = (y, axis)``.
    """
    y = x - x.max(axis=axis, keepdims=True)
    np.exp(y, out=y)
    y /= y.sum(axis=axis, keepdims=True)
    return y, (y, axis)


def softmax_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Jacobian-vector product of the softmax.

    The Jacobian is ``dy_i/dx_j = y_i · (δ_ij − y_j)``, so along ``axis``::

        dx_j = Σ_i dout_i · y_i · (δ_ij − y_j) = y_j · (dout_j − Σ_i dout_i · y_i)

    which costs O(K) per row instead of the O(K²) of building the Jacobian.
    """
    y, axis = cache
    dx = dout * y
    weighted_sum = dx.sum(axis=axis, keepdims=True)
    dx -= y * weighted_sum
    return dx


def log_softmax_forward(x: np.ndarray, axis: int = 1):
    """Logarithm of the softmax along ``axis``, computed without forming the softmax.

    Formula: ``y_i = (x_i − m) − log Σ_j e^(x_j − m)`` with ``m = max_j x_j``.

    ``log(softmax(x))`` would give log(0) = −inf when a probability underflows; this form stays
    finite (for x = (0, −1000) it gives (0, −1000)).

    Shapes: x: (N, K) with the default axis=1 (any rank works); y has the shape of x.
    Returns ``(y, cache)`` with ``cache = (y, axis)``.
    """
    y = x - x.max(axis=axis, keepdims=True)
    log_sum_exp = np.log(np.exp(y).sum(axis=axis, keepdims=True))
    y -= log_sum_exp
    return y, (y, axis)


def log_softmax_backward(dout: np.ndarray, cache) -> np.ndarray:
    """Jacobian-vector product of the log-softmax.

    The Jacobian is ``dy_i/dx_j = δ_ij − softmax_j``, so along ``axis``::

        dx_j = dout_j − softmax_j · Σ_i dout_i,     softmax = e^y
    """
    y, axis = cache
    dx = np.exp(y)
    dx *= -dout.sum(axis=axis, keepdims=True)
    dx += dout
    return dx
