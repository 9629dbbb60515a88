"""Solutions of the lab sheet docs/labs/lab_backprop.ipynb — for teachers; students, try first.

Each function has the signature the sheet and ``minicnn.labs`` expect. Plain NumPy, written
to be read: loops where the formula is a loop, one matrix product where im2col makes it one.
"""

import numpy as np


# -- convolution by loops -------------------------------------------------------------------------
def conv_forward_loops(x, w, b, stride, padding):
    """out[n, o, i, j] = b[o] + Σ_c Σ_u Σ_v w[o, c, u, v] · x_pad[n, c, i·s + u, j·s + v]."""
    N, _, H, W = x.shape
    O, _, kh, kw = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out_h = (H + 2 * padding - kh) // stride + 1
    out_w = (W + 2 * padding - kw) // stride + 1
    out = np.zeros((N, O, out_h, out_w))
    for n in range(N):
        for o in range(O):
            for i in range(out_h):
                for j in range(out_w):
                    window = x_pad[n, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
                    out[n, o, i, j] = np.sum(window * w[o]) + b[o]
    return out


def conv_backward_loops(dout, x, w, b, stride, padding):
    """Each output adds dout · (its window) to dw[o], dout · w[o] to its window of dx_pad."""
    N, _, H, W = x.shape
    O, _, kh, kw = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dx_pad, dw = np.zeros_like(x_pad), np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for n in range(N):
        for o in range(O):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    rows = slice(i * stride, i * stride + kh)
                    cols = slice(j * stride, j * stride + kw)
                    dw[o] += dout[n, o, i, j] * x_pad[n, :, rows, cols]
                    dx_pad[n, :, rows, cols] += dout[n, o, i, j] * w[o]
    dx = dx_pad[:, :, padding:padding + H, padding:padding + W]  # the padding gets no gradient
    return dx, dw, db


# -- convolution by im2col: one matrix product ----------------------------------------------
def im2col(x_pad, kh, kw, stride):
    """(N, C, Hp, Wp) → (N·out_h·out_w, C·kh·kw): one row per window."""
    N, C, Hp, Wp = x_pad.shape
    out_h, out_w = (Hp - kh) // stride + 1, (Wp - kw) // stride + 1
    cols = np.empty((N, out_h, out_w, C, kh, kw))
    for i in range(out_h):
        for j in range(out_w):
            cols[:, i, j] = x_pad[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
    return cols.reshape(N * out_h * out_w, C * kh * kw), out_h, out_w


def conv_forward_im2col(x, w, b, stride, padding):
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    O, _, kh, kw = w.shape
    cols, out_h, out_w = im2col(x_pad, kh, kw, stride)
    out = cols @ w.reshape(O, -1).T + b                           # (N·out_h·out_w, O)
    return out.reshape(len(x), out_h, out_w, O).transpose(0, 3, 1, 2)


def conv_backward_im2col(dout, x, w, b, stride, padding):
    N, C, H, W = x.shape
    O, _, kh, kw = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols, out_h, out_w = im2col(x_pad, kh, kw, stride)
    dout_rows = dout.transpose(0, 2, 3, 1).reshape(-1, O)         # (N·out_h·out_w, O)
    dw = (dout_rows.T @ cols).reshape(w.shape)
    db = dout_rows.sum(axis=0)
    dcols = (dout_rows @ w.reshape(O, -1)).reshape(N, out_h, out_w, C, kh, kw)
    dx_pad = np.zeros_like(x_pad)
    for i in range(out_h):                                         # col2im: windows add up
        for j in range(out_w):
            dx_pad[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += dcols[:, i, j]
    return dx_pad[:, :, padding:padding + H, padding:padding + W], dw, db


# -- max pooling -------------------------------------------------------------------------------
def max_pool_forward(x, size, stride):
    N, C, H, W = x.shape
    out_h, out_w = (H - size) // stride + 1, (W - size) // stride + 1
    out = np.empty((N, C, out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, :, i * stride:i * stride + size, j * stride:j * stride + size]
            out[:, :, i, j] = window.max(axis=(2, 3))
    return out


def max_pool_backward(dout, x, size, stride):
    """The gradient of each window goes to its maximum; overlapping windows add."""
    dx = np.zeros_like(x)
    N, C = x.shape[:2]
    for n in range(N):
        for c in range(C):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    window = x[n, c, i * stride:i * stride + size, j * stride:j * stride + size]
                    u, v = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * stride + u, j * stride + v] += dout[n, c, i, j]
    return dx


# -- batch normalisation (training mode) ---------------------------------------------------------
def _channel_axes(x):
    return (0,) if x.ndim == 2 else (0, 2, 3)


def _per_channel(v, x):
    return v if x.ndim == 2 else v[None, :, None, None]


def batchnorm_forward(x, gamma, beta, eps):
    axes = _channel_axes(x)
    mu, var = x.mean(axis=axes), x.var(axis=axes)
    x_hat = (x - _per_channel(mu, x)) / np.sqrt(_per_channel(var, x) + eps)
    return _per_channel(gamma, x) * x_hat + _per_channel(beta, x)


def batchnorm_backward(dout, x, gamma, beta, eps):
    """dx = γ/(m·σ) · (m·dout − Σ dout − x̂ · Σ dout·x̂), the sums per channel."""
    axes = _channel_axes(x)
    m = x.size // x.shape[1]
    mu, var = x.mean(axis=axes), x.var(axis=axes)
    sigma = np.sqrt(_per_channel(var, x) + eps)
    x_hat = (x - _per_channel(mu, x)) / sigma
    dbeta, dgamma = dout.sum(axis=axes), (dout * x_hat).sum(axis=axes)
    dx = _per_channel(gamma, x) / (m * sigma) * (
        m * dout - _per_channel(dbeta, x) - x_hat * _per_channel(dgamma, x))
    return dx, dgamma, dbeta


# -- a residual block's backward ----------------------------------------------------------------
def residual_backward(dout, x, w1, w2):
    """y = relu(r + x), r = conv(a, w2), a = relu(h), h = conv(x, w1): the identity adds dL/ds
    to dx, where s = r + x is the last ReLU's input."""
    zero = np.zeros(w1.shape[0])
    h = conv_forward_im2col(x, w1, zero, 1, 1)
    a = np.maximum(h, 0)
    s = conv_forward_im2col(a, w2, zero, 1, 1) + x
    ds = dout * (s > 0)
    da, dw2, _ = conv_backward_im2col(ds, a, w2, zero, 1, 1)
    dx_branch, dw1, _ = conv_backward_im2col(da * (h > 0), x, w1, zero, 1, 1)
    return dx_branch + ds, dw1, dw2
