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
    "elu_backward", "elu_forward", "gelu_backward", "gelu_forward", "leaky_relu_backward",
    "leaky_relu_forward", "log_softmax_backward", "log_softmax_forward", "maxout_backward",
    "maxout_forward", "prelu_backward", "prelu_forward", "relu_backward", "relu_forward",
    "selu_backward", "selu_forward", "sigmoid_backward", "sigmoid_forward", "silu_backward",
    "silu_forward", "softmax_backward", "softmax_forward", "softplus_backward",
    "softplus_forward", "tanh_backward", "tanh_forward",
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


# -- exponential linear units -------------------------------------------------------------------
def elu_forward(x: np.ndarray, alpha: float = 1.0):
    """Exponential linear unit (Clevert et al. 2015), element-wise.

    Formula: ``y = x if x > 0 else α·(e^x − 1)``;  ``dy/dx = 1 if x > 0 else α·e^x``.

    ``e^x − 1`` is taken as ``expm1`` of ``min(x, 0)``: exact for small |x| (where ``e^x − 1``
    loses digits to cancellation), and it never sees a large positive x, which would overflow.
    The derivative ``α·e^x`` is computed as such, not as ``y + α`` from the output: for x ≪ 0
    that sum cancels to rounding noise (about 1e-16 where the true value is e^x, e.g. 1e-26).

    Shapes: any; y has the shape of x. Returns ``(y, cache)`` with ``cache = (dy/dx,)``.
    """
    alpha = x.dtype.type(alpha)
    positive = x > 0
    negative_x = np.minimum(x, 0)
    y = np.where(positive, x, np.expm1(negative_x) * alpha)  # α·(e^x − 1) where x ≤ 0
    slopes = np.where(positive, x.dtype.type(1), np.exp(negative_x) * alpha)
    return y, (slopes,)


def elu_backward(dout: np.ndarray, cache) -> np.ndarray:
    """``dx = dout · dy/dx``: ``dout`` where x > 0, ``dout · α·e^x`` elsewhere."""
    (slopes,) = cache
    return dout * slopes


# PyTorch's constants (torch/csrc, from Klambauer et al. 2017): the fixed point of mean 0 and
# variance 1 for the activations of a self-normalising network.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def selu_forward(x: np.ndarray):
    """Scaled ELU (Klambauer et al. 2017), element-wise, with PyTorch's fixed α and λ.

    Formula: ``y = λ·(x if x > 0 else α·(e^x − 1))``;  ``dy/dx = λ if x > 0 else λ·α·e^x``,
    with ``α = 1.6732632423543772848…`` and ``λ = 1.0507009873554804934…``.

    Shapes: any. Returns ``(y, cache)`` with ``cache = (dy/dx,)``, as ``elu_forward``.
    """
    y, (slopes,) = elu_forward(x, SELU_ALPHA)
    scale = x.dtype.type(SELU_SCALE)
    y *= scale
    slopes *= scale
    return y, (slopes,)


def selu_backward(dout: np.ndarray, cache) -> np.ndarray:
    """``dx = dout · dy/dx``."""
    return elu_backward(dout, cache)


# -- smooth ReLUs ---------------------------------------------------------------------------------
def _sigmoid_with_exact_tails(x: np.ndarray) -> np.ndarray:
    """``σ(x) = 1/(1 + e^(−x))`` for x ≥ 0 and ``e^x/(1 + e^x)`` for x < 0, from ``e = e^(−|x|)``.

    Never overflows (the exponent is ≤ 0) and keeps the relative precision of the tail, which
    ``sigmoid_forward``'s ``½·(1 + tanh(x/2))`` loses to cancellation: σ(−60) ≈ 8.8e-27 here,
    0 there. SiLU and Softplus multiply the tail by x or return it as a gradient, so it shows.
    """
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1, e) / (1 + e)


def gelu_forward(x: np.ndarray, approximate: str = "none"):
    """Gaussian error linear unit (Hendrycks & Gimpel 2016), element-wise.

    Exact form (``approximate="none"``), with Φ and φ the standard normal CDF and density::

        y     = x · Φ(x),              Φ(x) = ½·(1 + erf(x/√2))
        dy/dx = Φ(x) + x · φ(x),       φ(x) = e^(−x²/2) / √(2π)

    ``erf`` is ``scipy.special.erf``, a NumPy ufunc that keeps float32 as float32 (imported on
    the first call: importing scipy.special takes longer than importing minicnn).

    Tanh form (``approximate="tanh"``), with ``u = √(2/π)·(x + 0.044715·x³)`` and ``t = tanh(u)``::

        y     = ½·x·(1 + t)
        dy/dx = ½·(1 + t) + ½·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²)

    Both saturate to y = x (x ≫ 0) and y = 0 (x ≪ 0) with no overflow: erf and tanh are bounded
    and e^(−x²/2) only underflows to 0 (x = ±1000 is fine; |x| above ~1e19 in float32 would
    overflow x²).

    Shapes: any. Returns ``(y, cache)`` with ``cache = (dy/dx,)``.
    """
    if approximate == "none":
        from scipy.special import erf

        cdf = erf(x * (1 / math.sqrt(2)))
        cdf += 1
        cdf *= 0.5
        density = np.exp(x * x * -0.5)
        density *= 1 / math.sqrt(2 * math.pi)
        y = x * cdf
        slopes = x * density
        slopes += cdf
        return y, (slopes,)
    if approximate == "tanh":
        c = math.sqrt(2 / math.pi)
        x_squared = x * x
        t = np.tanh(c * x * (1 + 0.044715 * x_squared))
        y = 0.5 * x * (1 + t)
        slopes = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x_squared)
        return y, (slopes,)
    raise ValueError(f"gelu_forward: expected approximate 'none' or 'tanh', got {approximate!r}")


def gelu_backward(dout: np.ndarray, cache) -> np.ndarray:
    """``dx = dout · dy/dx``."""
    (slopes,) = cache
    return dout * slopes


def silu_forward(x: np.ndarray):
    """Sigmoid linear unit, also called swish (Elfwing et al. 2017; Ramachandran et al. 2017).

    Formula: ``y = x · σ(x)``;  ``dy/dx = σ(x) · (1 + x·(1 − σ(x)))``.

    σ is ``_sigmoid_with_exact_tails``, which neither overflows (y is 1000 and −0 at ±1000) nor
    loses relative precision in the tail: ``sigmoid_forward``'s ``½·(1 + tanh(x/2))`` gives 0
    for x < −37, where x·σ(x) is still about −1e-15.

    Shapes: any. Returns ``(y, cache)`` with ``cache = (dy/dx,)``.
    """
    s = _sigmoid_with_exact_tails(x)
    y = x * s
    slopes = 1 - s
    slopes *= x
    slopes += 1
    slopes *= s
    return y, (slopes,)


def silu_backward(dout: np.ndarray, cache) -> np.ndarray:
    """``dx = dout · dy/dx``."""
    (slopes,) = cache
    return dout * slopes


def softplus_forward(x: np.ndarray, beta: float = 1.0, threshold: float = 20.0):
    """Softplus, a smooth ReLU, element-wise, linear above a threshold as in PyTorch.

    Formula, with ``z = β·x``::

        y     = log(1 + e^z) / β   if z ≤ threshold,   else x
        dy/dx = σ(z)               if z ≤ threshold,   else 1

    Above the threshold ``log(1 + e^z)/β`` equals x to within e^(−threshold)/β (2e-9 for the
    default 20), so PyTorch returns x there. Below it, ``log(1 + e^z)`` is computed as
    ``max(z, 0) + log1p(e^(−|z|))``, which never overflows, whatever the threshold, and σ is
    ``_sigmoid_with_exact_tails``, as for ``silu_forward``. β may be negative (as
    in PyTorch: β = −b gives −softplus_b(−x)); it must not be 0.

    Shapes: any. Returns ``(y, cache)`` with ``cache = (dy/dx,)``.
    """
    beta = x.dtype.type(beta)
    z = x * beta
    smooth = np.log1p(np.exp(-np.abs(z)))
    smooth += np.maximum(z, 0)
    smooth /= beta
    linear = z > threshold
    y = np.where(linear, x, smooth)
    slopes = np.where(linear, x.dtype.type(1), _sigmoid_with_exact_tails(z))
    return y, (slopes,)


def softplus_backward(dout: np.ndarray, cache) -> np.ndarray:
    """``dx = dout · dy/dx``."""
    (slopes,) = cache
    return dout * slopes


# -- maxout -------------------------------------------------------------------------------------
def maxout_forward(x: np.ndarray, pieces: int):
    """Maxout (Goodfellow et al. 2013): the maximum over groups of ``pieces`` consecutive channels.

    Formula, with ``k = pieces`` and G = C / k groups::

        y[n, g, ...] = max_{j < k} x[n, g·k + j, ...]
        dy/dx[n, c, ...] = 1 for the first c of its group that attains the max, else 0

    A tie sends the whole gradient to the first maximum (as max pooling does), so the gradient
    of a group sums to that of its output.

    Shapes: x (N, C, ...) with C divisible by k: (N, F) after a Linear, (N, C, H, W) after a
    Conv2d; y (N, C/k, ...). Returns ``(y, cache)`` with ``cache = (argmax, x.shape)``, where
    ``argmax`` (N, G, 1, ...) holds the winning position j within each group.
    """
    n, c = x.shape[:2]
    grouped = x.reshape(n, c // pieces, pieces, *x.shape[2:])
    argmax = grouped.argmax(axis=2)[:, :, np.newaxis]  # argmax returns the first maximum
    y = np.take_along_axis(grouped, argmax, axis=2)[:, :, 0]
    return y, (argmax, x.shape)


def maxout_backward(dout: np.ndarray, cache) -> np.ndarray:
    """``dx`` is zero except at each group's winner, which receives ``dout`` of its group."""
    argmax, x_shape = cache
    n, c = x_shape[:2]
    pieces = c // dout.shape[1]
    dx = np.zeros((n, c // pieces, pieces, *x_shape[2:]), dtype=dout.dtype)
    np.put_along_axis(dx, argmax, dout[:, :, np.newaxis], axis=2)
    return dx.reshape(x_shape)
