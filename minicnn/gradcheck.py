"""Numerical gradient checking: is a hand-written backward pass right?

The analytic gradient from ``backward`` is compared with central differences,

    df/dx_i ≈ (f(x + h·e_i) − f(x − h·e_i)) / (2h),

whose error is O(h²). In float64 with h = 1e-5 a correct backward agrees to a relative error
(element-wise ``|a − b| / max(|a| + |b|, 1e-8)``, maximum over the array) of about 1e-8 or
better; an error near 1e-2 or larger means a bug. Run checks in float64: in float32 the
rounding error of f, about 1e-7·|f|, divided by 2h swamps the derivative.

Kinks break the premise: keep inputs away from ReLU's 0 and from ties inside a max-pool window.
"""

import copy
from dataclasses import dataclass, field

import numpy as np

from ._grad_mode import no_grad
from ._random import get_rng_state, set_rng_state

__all__ = [
    "GradCheckReport", "check_loss", "check_module", "numerical_gradient",
    "numerical_gradient_array", "relative_error",
]


def relative_error(a, b) -> float:
    """``max(|a − b| / max(|a| + |b|, 1e-8))`` over all elements (0.0 for empty arrays)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"relative_error: shapes differ, {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8)))


def _indices(x: np.ndarray, max_entries, rng):
    """All multi-indices of ``x``, or a random sample of ``max_entries`` of them."""
    if max_entries is None or x.size <= max_entries:
        return list(np.ndindex(x.shape))
    flat = rng.choice(x.size, size=max_entries, replace=False)
    return [np.unravel_index(i, x.shape) for i in flat]


def numerical_gradient(f, x: np.ndarray, h: float = 1e-5, indices=None) -> np.ndarray:
    """Central-difference gradient of a scalar function ``f(x)``.

    ``x`` is perturbed in place, one element at a time, and restored. Entries not in ``indices``
    (when given) are left at zero.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    for i in (np.ndindex(x.shape) if indices is None else indices):
        old = x[i]
        x[i] = old + h
        f_plus = float(f(x))
        x[i] = old - h
        f_minus = float(f(x))
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def numerical_gradient_array(f, x: np.ndarray, dout: np.ndarray, h: float = 1e-5,
                             indices=None) -> np.ndarray:
    """Central-difference gradient of ``L = sum(f(x) * dout)`` for an array-valued ``f``.

    This is the gradient a backward pass returns when handed ``dout = dL/df``.
    """
    return numerical_gradient(lambda z: np.sum(f(z) * dout), x, h, indices)


@dataclass
class GradCheckReport:
    """Maximum relative error of the input gradient and of each parameter gradient.

    ``report.ok(1e-6)`` is True when every error is below the tolerance; ``report["input"]``
    and ``report["weight"]`` give single entries.
    """

    errors: dict = field(default_factory=dict)

    @property
    def max_error(self) -> float:
        return max(self.errors.values(), default=0.0)

    def ok(self, tol: float = 1e-6) -> bool:
        return self.max_error < tol

    def __getitem__(self, name: str) -> float:
        return self.errors[name]

    def __repr__(self) -> str:
        width = max((len(name) for name in self.errors), default=5)
        rows = [f"  {name:<{width}}  {err:.3e}" for name, err in self.errors.items()]
        return "GradCheckReport(max relative error per gradient)\n" + "\n".join(rows)


class _FrozenRandomness:
    """Replays the same random draws (dropout masks) at every forward pass of a check."""

    def __init__(self, module):
        self.global_state = get_rng_state()
        self.generators = [
            (gen, copy.deepcopy(gen.bit_generator.state))
            for m in module.modules() for gen in vars(m).values()
            if isinstance(gen, np.random.Generator)
        ]

    def reset(self):
        set_rng_state(self.global_state)
        for gen, state in self.generators:
            gen.bit_generator.state = copy.deepcopy(state)


def check_module(module, x, dout=None, h: float = 1e-5, seed: int = 0,
                 max_entries: int | None = None) -> GradCheckReport:
    """Check ``module.backward`` against central differences, in float64.

    The module is copied and converted to float64 (the original is untouched); its mode
    (train/eval) is kept. Dropout masks are the same in every forward pass. ``dout`` (the
    upstream gradient) defaults to a random normal array, or a tuple of them for a module
    whose forward returns a tuple (such as GoogLeNet in training mode; a ``None`` in a given
    tuple leaves that output out of the loss). ``max_entries`` checks a random
    sample of that many entries per array instead of all, for large modules.

    Returns a ``GradCheckReport`` with an entry ``"input"`` and one per trainable parameter.
    """
    module = copy.deepcopy(module).astype(np.float64)
    x = np.array(x, dtype=np.float64)
    # A stream of its own: with default_rng(seed), dout would equal an x drawn the same way,
    # a direction in which some layers' gradients (BatchNorm's) vanish.
    rng = np.random.default_rng([seed, 1])
    frozen = _FrozenRandomness(module)

    frozen.reset()
    module.zero_grad()
    out = module.forward(x)
    if dout is None:
        dout = _map_outputs(out, lambda o: rng.standard_normal(o.shape))
    dout = _map_outputs(dout, lambda d: np.asarray(d, dtype=np.float64))
    dx = module.backward(dout)

    def loss_at(_):
        frozen.reset()
        with no_grad():
            return _weighted_sum(module.forward(x), dout)

    report = GradCheckReport()
    report.errors["input"] = _compare(dx, loss_at, x, h, max_entries, rng)
    for name, param in module.named_parameters():
        if param.requires_grad:
            report.errors[name] = _compare(param.grad, loss_at, param.data, h, max_entries, rng)
    return report


def _map_outputs(outputs, f):
    """``f`` of an output, or of each output of a tuple (None stays None; a namedtuple stays
    one): modules with several outputs return a tuple and take a tuple of gradients."""
    if isinstance(outputs, (tuple, list)):
        items = [None if o is None else f(o) for o in outputs]
        return type(outputs)(*items) if hasattr(outputs, "_fields") else tuple(items)
    return f(outputs)


def _weighted_sum(outputs, dout) -> float:
    """``Σ out · dout``, summed over every output that has a gradient."""
    if isinstance(outputs, (tuple, list)):
        return sum(float(np.sum(o * d)) for o, d in zip(outputs, dout, strict=True)
                   if d is not None)
    return float(np.sum(outputs * dout))


def check_loss(loss_fn, logits, target, h: float = 1e-5, max_entries: int | None = None,
               seed: int = 0) -> GradCheckReport:
    """Check a loss's ``backward()`` (dL/dlogits) against central differences, in float64."""
    loss_fn = copy.deepcopy(loss_fn)
    logits = np.array(logits, dtype=np.float64)
    loss_fn(logits, target)
    analytic = loss_fn.backward()
    report = GradCheckReport()
    report.errors["input"] = _compare(analytic, lambda z: loss_fn(z, target), logits, h,
                                      max_entries, np.random.default_rng(seed))
    return report


def _compare(analytic, f, x, h, max_entries, rng) -> float:
    indices = _indices(x, max_entries, rng)
    if not indices:
        return 0.0
    numeric = numerical_gradient(f, x, h, indices)
    picked = tuple(np.array(axis) for axis in zip(*indices, strict=True))
    return relative_error(np.asarray(analytic)[picked], numeric[picked])
