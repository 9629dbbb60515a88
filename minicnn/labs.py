"""Lab checkers: your forward and backward against the reference engine, with a verdict.

The lab sheets (``docs/labs/``) ask you to write, with the shapes and conventions of
``minicnn.functional``,

    conv_forward(x, w, b, stride, padding) -> out          conv_backward(dout, x, w, b, stride,
                                                                          padding) -> dx, dw, db
    max_pool_forward(x, size, stride) -> out               max_pool_backward(dout, x, size,
                                                                             stride) -> dx
    batchnorm_forward(x, gamma, beta, eps) -> out          batchnorm_backward(dout, x, gamma,
                                                                              beta, eps)
                                                                              -> dx, dgamma, dbeta
    residual_backward(dout, x, w1, w2) -> dx, dw1, dw2     (y = relu(conv(relu(conv(x, w1)), w2)
                                                            + x), 3×3 convolutions, padding 1)

(the backward functions take the forward's inputs and recompute what they need: no cache to
design). Each checker runs yours on several cases (odd sizes, stride, padding, a batch of
one), prints CS231n's relative error ``max |a − b| / max(|a| + |b|, 1e-8)`` of every output
with CS231n's reading of it, says where the worst difference sits (which case, which entry,
on the border or inside), and returns a ``LabResult``. In float64, a right answer scores about
1e-10 or less; CS231n: above 1e-2 it is probably wrong, below 1e-7 you should be happy.
"""

import sys
from typing import NamedTuple

import numpy as np

from . import functional as F
from .gradcheck import relative_error

__all__ = ["LabResult", "check_batchnorm", "check_conv", "check_max_pool", "check_residual"]

PASS = 1e-7  # CS231n: "less than 1e-7 and you should be happy"


def reading(error: float) -> str:
    """CS231n's notes on what a relative error means."""
    if error < 1e-7:
        return "ok, you should be happy"
    if error < 1e-4:
        return "probably fine if the function has kinks, else check"
    if error < 1e-2:
        return "uncomfortable: look closer"
    return "probably wrong"


class LabResult(NamedTuple):
    """Every compared output's worst relative error over the cases, and the verdict."""

    errors: dict  # name -> max relative error over the cases
    ok: bool      # every error below 1e-7 and nothing raised
    where: str    # where the worst difference sits ("" when ok)


def _where(name: str, case: str, got: np.ndarray, expected: np.ndarray) -> str:
    diff = np.abs(np.asarray(got, np.float64) - expected) / np.maximum(
        np.abs(got) + np.abs(expected), 1e-8)
    index = np.unravel_index(int(np.argmax(diff)), diff.shape)
    place = ""
    if diff.ndim == 4:
        h, w = diff.shape[2:]
        on_border = index[2] in (0, h - 1) or index[3] in (0, w - 1)
        place = " (on the border: padding?)" if on_border else " (inside)"
    return (f"{name} differs most at index {tuple(int(i) for i in index)}{place} in case "
            f"{case}: yours {float(np.asarray(got)[index]):.6g}, expected "
            f"{float(expected[index]):.6g}")


def _run(title: str, cases: list, compute_yours, compute_expected, file) -> LabResult:
    """Compare every named output of every case; print a table and the verdict."""
    file = sys.stdout if file is None else file
    errors, worst = {}, (0.0, "")
    for case, arrays in cases:
        try:
            yours = compute_yours(**arrays)
        except NotImplementedError:
            print(f"{title}: not written yet (NotImplementedError)", file=file)
            return LabResult({}, False, "not written yet")
        expected = compute_expected(**arrays)
        for name, value in expected.items():
            got = yours[name]
            if np.shape(got) != value.shape:
                where = (f"{name} has shape {np.shape(got)}, expected {value.shape} in case "
                         f"{case}")
                print(f"{title}: {where}", file=file)
                return LabResult(errors, False, where)
            error = relative_error(got, value)
            errors[name] = max(errors.get(name, 0.0), error)
            if error > worst[0]:
                worst = (error, _where(name, case, got, value))
    ok = all(e < PASS for e in errors.values())
    print(f"{title}: {'passed' if ok else 'FAILED'}", file=file)
    for name, error in errors.items():
        print(f"  {name:<7} relative error {error:.2e}  {reading(error)}", file=file)
    if not ok:
        print("  " + worst[1], file=file)
    return LabResult(errors, ok, "" if ok else worst[1])


def _rng():
    return np.random.default_rng(231)


def _conv_cases():
    rng = _rng()
    settings = [("3×3, stride 1, padding 1", (2, 3, 5, 6), (4, 3, 3, 3), 1, 1),
                ("3×3, stride 2, padding 1", (2, 2, 7, 7), (3, 2, 3, 3), 2, 1),
                ("2×4 kernel, no padding, batch of one", (1, 3, 6, 7), (2, 3, 2, 4), 1, 0),
                ("5×5, stride 3, padding 2", (2, 1, 9, 8), (2, 1, 5, 5), 3, 2)]
    cases = []
    for name, x_shape, w_shape, stride, padding in settings:
        x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        b = rng.standard_normal(w_shape[0])
        out, _ = F.conv2d_forward(x, w, b, stride, padding)
        cases.append((name, dict(x=x, w=w, b=b, stride=stride, padding=padding,
                                 dout=rng.standard_normal(out.shape))))
    return cases


def check_conv(conv_forward, conv_backward=None, file=None) -> LabResult:
    """Check ``conv_forward(x, w, b, stride, padding)`` (and ``conv_backward``, if given)."""
    def yours(x, w, b, stride, padding, dout):
        got = {"out": conv_forward(x, w, b, stride, padding)}
        if conv_backward is not None:
            got["dx"], got["dw"], got["db"] = conv_backward(dout, x, w, b, stride, padding)
        return got

    def expected(x, w, b, stride, padding, dout):
        out, cache = F.conv2d_forward(x, w, b, stride, padding)
        want = {"out": out}
        if conv_backward is not None:
            want["dx"], want["dw"], want["db"] = F.conv2d_backward(dout, cache)
        return want

    return _run("convolution", _conv_cases(), yours, expected, file)


def check_max_pool(max_pool_forward, max_pool_backward=None, file=None) -> LabResult:
    """Check ``max_pool_forward(x, size, stride)`` (and the backward); inputs without ties."""
    rng = _rng()
    cases = []
    for name, shape, size, stride in [("2×2, stride 2", (2, 3, 6, 6), 2, 2),
                                      ("3×3, stride 2 (overlapping)", (1, 2, 7, 7), 3, 2),
                                      ("2×2, stride 1", (2, 1, 5, 4), 2, 1)]:
        x = rng.permutation(int(np.prod(shape))).reshape(shape) / 10.0  # distinct: no ties
        out, _ = F.max_pool2d_forward(x, size, stride)
        cases.append((name, dict(x=x, size=size, stride=stride,
                                 dout=rng.standard_normal(out.shape))))

    def yours(x, size, stride, dout):
        got = {"out": max_pool_forward(x, size, stride)}
        if max_pool_backward is not None:
            got["dx"] = max_pool_backward(dout, x, size, stride)
        return got

    def expected(x, size, stride, dout):
        out, cache = F.max_pool2d_forward(x, size, stride)
        return {"out": out, **({"dx": F.max_pool2d_backward(dout, cache)}
                               if max_pool_backward is not None else {})}

    return _run("max pooling", cases, yours, expected, file)


def check_batchnorm(batchnorm_forward, batchnorm_backward=None, eps: float = 1e-5,
                    file=None) -> LabResult:
    """Check training-mode batch norm over (N, C, H, W) or (N, D) (statistics per channel)."""
    rng = _rng()
    cases = []
    for name, shape in [("(N, C, H, W) = (4, 3, 5, 5)", (4, 3, 5, 5)),
                        ("(N, D) = (8, 5)", (8, 5)), ("(N, C, H, W) = (2, 2, 3, 4)", (2, 2, 3, 4))]:
        channels = shape[1]
        x = 3 * rng.standard_normal(shape) + 1
        cases.append((name, dict(x=x, gamma=rng.standard_normal(channels),
                                 beta=rng.standard_normal(channels),
                                 dout=rng.standard_normal(shape))))

    def yours(x, gamma, beta, dout):
        got = {"out": batchnorm_forward(x, gamma, beta, eps)}
        if batchnorm_backward is not None:
            got["dx"], got["dgamma"], got["dbeta"] = batchnorm_backward(dout, x, gamma, beta,
                                                                        eps)
        return got

    def expected(x, gamma, beta, dout):
        out, cache = F.batch_norm_forward(x, gamma, beta, None, None, True, eps=eps)
        want = {"out": out}
        if batchnorm_backward is not None:
            want["dx"], want["dgamma"], want["dbeta"] = F.batch_norm_backward(dout, cache)
        return want

    return _run("batch normalisation", cases, yours, expected, file)


def residual_forward(x, w1, w2):
    """The lab's residual block: y = relu(conv(relu(conv(x, w1)), w2) + x), 3×3, padding 1."""
    h, _ = F.conv2d_forward(x, w1, None, 1, 1)
    a, _ = F.relu_forward(h)
    r, _ = F.conv2d_forward(a, w2, None, 1, 1)
    y, _ = F.relu_forward(r + x)
    return y


def check_residual(residual_backward, file=None) -> LabResult:
    """Check ``residual_backward(dout, x, w1, w2) -> (dx, dw1, dw2)`` of ``residual_forward``."""
    rng = _rng()
    cases = []
    for name, shape in [("(2, 3, 5, 5)", (2, 3, 5, 5)), ("(1, 2, 4, 6)", (1, 2, 4, 6))]:
        channels = shape[1]
        cases.append((name, dict(x=rng.standard_normal(shape),
                                 w1=rng.standard_normal((channels, channels, 3, 3)) / 3,
                                 w2=rng.standard_normal((channels, channels, 3, 3)) / 3,
                                 dout=rng.standard_normal(shape))))

    def yours(x, w1, w2, dout):
        dx, dw1, dw2 = residual_backward(dout, x, w1, w2)
        return {"dx": dx, "dw1": dw1, "dw2": dw2}

    def expected(x, w1, w2, dout):
        h, conv1 = F.conv2d_forward(x, w1, None, 1, 1)
        a, relu1 = F.relu_forward(h)
        r, conv2 = F.conv2d_forward(a, w2, None, 1, 1)
        _, relu2 = F.relu_forward(r + x)
        ds = F.relu_backward(dout, relu2)               # through the last ReLU
        da, dw2, _ = F.conv2d_backward(ds, conv2)       # the residual branch ...
        dx_branch, dw1, _ = F.conv2d_backward(F.relu_backward(da, relu1), conv1)
        return {"dx": dx_branch + ds, "dw1": dw1, "dw2": dw2}  # ... plus the identity

    return _run("residual block backward", cases, yours, expected, file)
