"""Local response normalisation across channels (Krizhevsky et al. 2012), PyTorch's semantics.

Each activation is divided by a power of the energy of its neighbours along the channel axis
(axis 1), at the same sample and position::

    S_c = Σ_{c' = c − size//2}^{c + (size − 1)//2}  a_{c'}²        (channels outside 0..C−1 are 0)
    D_c = k + (α / size) · S_c
    b_c = a_c · D_c^(−β)

As PyTorch's ``local_response_norm`` (and Caffe), α is divided by ``size``; the 2012 paper
writes ``k + α · Σ a²``, so its α = 1e-4 is PyTorch's α = 5e-4 with size 5. For an even
``size`` the window holds ``size//2`` channels before c and ``size//2 − 1`` after.

Backward, with ``dout = dL/db``: a_j appears in its own b_j, and squared in S_c of every c
whose window holds j, i.e. ``c ∈ [j − (size − 1)//2, j + size//2]`` (the mirrored window)::

    dL/da_j = dout_j · D_j^(−β)  −  (2αβ / size) · a_j · Σ_c dout_c · a_c · D_c^(−β − 1)

(the sum over the c whose window holds j).

Shapes: a (N, C, *) with at least one axis after C, e.g. (N, C, L) or (N, C, H, W) → b, the
same shape and dtype.
"""

import numpy as np

from .._validation import check_float_array

__all__ = ["local_response_norm_backward", "local_response_norm_forward"]


def channel_window_sum(v: np.ndarray, before: int, after: int) -> np.ndarray:
    """``out_c = Σ_{c' = c − before}^{c + after} v_{c'}`` along axis 1, zeros outside the channels.

    The channel axis is zero-padded by ``before`` and ``after``, and the ``before + after + 1``
    shifted copies are added up.
    """
    channels = v.shape[1]
    pad = [(0, 0)] * v.ndim
    pad[1] = (before, after)
    padded = np.pad(v, pad)
    out = np.zeros_like(v)
    for offset in range(before + after + 1):
        out += padded[:, offset:offset + channels]
    return out


def check_local_response_norm_input(where: str, x) -> None:
    """TypeError unless a float ndarray; ValueError unless of rank 3 or more, (N, C, *)."""
    check_float_array(where, x)
    if x.ndim < 3:
        raise ValueError(f"{where}: expected input of rank 3 or more, (N, C, L), (N, C, H, W) "
                         f"or (N, C, *), got shape {x.shape}")


def local_response_norm_forward(x: np.ndarray, size: int, alpha: float = 1e-4,
                                beta: float = 0.75, k: float = 1.0, *,
                                where: str = "local_response_norm_forward"):
    """``b_c = a_c / (k + α/size · Σ_window a_c'²)^β`` (module docstring), PyTorch's
    ``F.local_response_norm(x, size, alpha, beta, k)``.

    Shapes: x (N, C, *) of rank ≥ 3 → out, the same shape and dtype.
    Returns ``(out, cache)`` with ``cache = (x, D, size, α, β)``.
    """
    check_local_response_norm_input(where, x)
    dtype = x.dtype.type
    squares_sum = channel_window_sum(x * x, size // 2, (size - 1) // 2)   # S
    denominator = dtype(k) + dtype(alpha / size) * squares_sum             # D
    out = x * denominator ** dtype(-beta)
    return out, (x, denominator, size, alpha, beta)


def local_response_norm_backward(dout: np.ndarray, cache) -> np.ndarray:
    """dL/da of local response normalisation (module docstring's formula).

    Shapes: dout, the shape of x → dx, the shape of x.
    """
    x, denominator, size, alpha, beta = cache
    dtype = x.dtype.type
    direct = dout * denominator ** dtype(-beta)
    through_d = dout * x * denominator ** dtype(-beta - 1)  # dout_c · a_c · D_c^(−β−1)
    gathered = channel_window_sum(through_d, (size - 1) // 2, size // 2)  # the mirrored window
    return direct - dtype(2 * alpha * beta / size) * x * gathered
