"""Numerical gradient checking: is a hand-written backward pass right?

The analytic gradient from ``backward`` is compared with central differences,

    df/dx_i ≈ (f(x + h·e_i) − f(x − h·e_i)) / (2h),

whose error is O(h²) plus the rounding of f, about ε·|f|/h (ε = 2.2e-16 in float64). Run
checks in float64: in float32 that rounding, 1e-7·|f|/h, swamps the derivative.

Each gradient gets three numbers side by side (``report.entries[name]``):

* ``absolute``: max |a − n| (a analytic, n numerical);
* ``relative``: max |a − n| / max(|a| + |n|, 1e-8) elementwise, CS231n's measure;
* ``error``: max |a − n| / max(scale, floor), the one the verdict reads: the gradient's scale
  (its largest entry) floored at 10⁸ times the rounding of the differences, so a true
  gradient of zero (a bias before BatchNorm) scores about 1e-8, not the relative error of two
  round-off values, and an entry that is small only beside its neighbours (LeakyReLU's slope)
  is judged against the array, not against itself.

Verdicts, in CS231n's bands: error < 1e-7 "ok"; < 1e-4 "ok for a function with kinks, else
look closer"; < 1e-2 "look closer"; otherwise "bug". Kinks break the premise (ReLU at 0, ties
inside a max-pool window): when the worst entry's left and right slopes differ, the report says
so. ``check_module`` also checks that parameter gradients accumulate (``p.grad += ...``,
not ``=``), and for image-shaped arrays reports the error on the border against the interior,
where padding bugs show.
"""

import copy
from dataclasses import dataclass, field

import numpy as np

from ._grad_mode import no_grad
from ._random import get_rng_state, set_rng_state

__all__ = [
    "GradCheckReport", "GradientCheck", "check_loss", "check_module", "numerical_gradient",
    "numerical_gradient_array", "relative_error", "verdict_of",
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


def _central_differences(f, x: np.ndarray, h: float, indices) -> tuple[np.ndarray, float]:
    """(the central-difference gradient, the largest |f| seen): see ``numerical_gradient``."""
    grad = np.zeros_like(x, dtype=np.float64)
    largest = 0.0
    for i in (np.ndindex(x.shape) if indices is None else indices):
        old = x[i]
        x[i] = old + h
        f_plus = float(f(x))
        x[i] = old - h
        f_minus = float(f(x))
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
        largest = max(largest, abs(f_plus), abs(f_minus))
    return grad, largest


def numerical_gradient(f, x: np.ndarray, h: float = 1e-5, indices=None) -> np.ndarray:
    """Central-difference gradient of a scalar function ``f(x)``.

    ``x`` is perturbed in place, one element at a time, and restored. Entries not in ``indices``
    (when given) are left at zero.
    """
    return _central_differences(f, x, h, indices)[0]


def numerical_gradient_array(f, x: np.ndarray, dout: np.ndarray, h: float = 1e-5,
                             indices=None) -> np.ndarray:
    """Central-difference gradient of ``L = sum(f(x) * dout)`` for an array-valued ``f``.

    This is the gradient a backward pass returns when handed ``dout = dL/df``.
    """
    return numerical_gradient(lambda z: np.sum(f(z) * dout), x, h, indices)


# -- the verdict ------------------------------------------------------------------------------
EPS = float(np.finfo(np.float64).eps)
FLOOR_FACTOR = 1e8  # the scale floor, in units of the differences' rounding error ε·|f|/h
BANDS = ((1e-7, "ok"), (1e-4, "ok for a function with kinks, else look closer"),
         (1e-2, "look closer"))  # CS231n's; above the last: "bug"


def verdict_of(error: float) -> str:
    """CS231n's reading of an error: ok, ok with kinks, look closer, or bug."""
    for bound, verdict in BANDS:
        if error < bound:
            return verdict
    return "bug"


@dataclass
class GradientCheck:
    """One gradient compared: its errors, scale, verdict and where the worst error sits."""

    absolute: float   # max |a − n|
    relative: float   # max |a − n| / max(|a| + |n|, 1e-8), elementwise (CS231n)
    scale: float      # max(|a|, |n|)
    floor: float      # the smallest scale central differences resolve here
    error: float      # absolute / max(scale, floor): what the verdict reads
    border: float | None = None    # ``error`` on the outer ring of the last two axes ...
    interior: float | None = None  # ... and inside it (arrays with H, W >= 3)
    kink: bool = False             # the worst entry's one-sided slopes disagree
    error_map: np.ndarray | None = field(default=None, repr=False)  # |a − n| (NaN: unchecked)

    @property
    def verdict(self) -> str:
        return verdict_of(self.error)

    def hints(self) -> list[str]:
        notes = []
        if self.scale < self.floor:
            notes.append("true gradient ≈ 0")
        if self.kink:
            notes.append("kink at the worst entry: its left and right slopes differ")
        if self.border is not None and self.error >= 1e-7 and self.border > 100 * self.interior:
            notes.append("worst on the border: padding?")
        return notes


def _compare(analytic, f, x, h, max_entries, rng) -> GradientCheck:
    analytic = np.asarray(analytic, dtype=np.float64)
    indices = _indices(x, max_entries, rng)
    if not indices:
        return GradientCheck(0.0, 0.0, 0.0, 0.0, 0.0)
    numeric, largest_f = _central_differences(f, x, h, indices)
    picked = tuple(np.array(axis) for axis in zip(*indices, strict=True))
    a, n = analytic[picked], numeric[picked]
    diff = np.abs(a - n)
    scale = float(max(np.abs(a).max(), np.abs(n).max()))
    floor = FLOOR_FACTOR * EPS * max(largest_f, 1.0) / h
    denominator = max(scale, floor)
    error_map = np.full(x.shape, np.nan)
    error_map[picked] = diff
    check = GradientCheck(float(diff.max()), relative_error(a, n), scale, floor,
                          float(diff.max()) / denominator, error_map=error_map)
    if x.ndim >= 2 and min(x.shape[-2:]) >= 3:
        ring = np.ones(x.shape[-2:], dtype=bool)
        ring[1:-1, 1:-1] = False
        ring = np.broadcast_to(ring, x.shape)
        check.border = float(np.nanmax(np.where(ring, error_map, np.nan), initial=0.0)
                             ) / denominator
        check.interior = float(np.nanmax(np.where(~ring, error_map, np.nan), initial=0.0)
                               ) / denominator
    if check.error >= 1e-7:
        check.kink = _is_kink(f, x, h, indices[int(np.argmax(diff))], floor)
    return check


def _is_kink(f, x: np.ndarray, h: float, i, floor: float) -> bool:
    """Do the one-sided slopes at entry ``i`` disagree? For a smooth f they differ by about
    h·f'' (nothing at h = 1e-5); across ReLU's 0 or a max-pool tie they differ by O(1)."""
    old = x[i]
    f_mid = float(f(x))
    x[i] = old + h
    right = (float(f(x)) - f_mid) / h
    x[i] = old - h
    left = (f_mid - float(f(x))) / h
    x[i] = old
    return abs(right - left) > 1e-3 * max(abs(right), abs(left), floor)


@dataclass
class GradCheckReport:
    """The check of the input gradient and of each parameter gradient.

    ``report.entries[name]`` is a ``GradientCheck``; ``report["input"]`` and ``report.errors``
    give the verdict's error (see the module docstring); ``report.ok(1e-7)`` is True when every
    error is below the tolerance and the parameter gradients accumulate. ``accumulates`` is
    False when a backward assigned ``p.grad = ...`` instead of adding into it (None: not run).
    """

    entries: dict = field(default_factory=dict)
    accumulates: bool | None = None
    overwritten: list = field(default_factory=list)

    @property
    def errors(self) -> dict:
        return {name: entry.error for name, entry in self.entries.items()}

    @property
    def max_error(self) -> float:
        return max(self.errors.values(), default=0.0)

    @property
    def verdict(self) -> str:
        if self.accumulates is False:
            return "bug"
        return verdict_of(self.max_error)

    def ok(self, tol: float = 1e-6) -> bool:
        return self.max_error < tol and self.accumulates is not False

    def __getitem__(self, name: str) -> float:
        return self.entries[name].error

    def __repr__(self) -> str:
        width = max([len(name) for name in self.entries] + [8])
        lines = [f"GradCheckReport: {self.verdict}",
                 f"  {'gradient':<{width}}  {'max |a−n|':>9}  {'max rel':>8}  {'scale':>8}  "
                 f"{'error':>8}  verdict"]
        for name, e in self.entries.items():
            notes = "; ".join(e.hints())
            lines.append(f"  {name:<{width}}  {e.absolute:9.1e}  {e.relative:8.1e}  "
                         f"{e.scale:8.1e}  {e.error:8.1e}  {e.verdict}"
                         + (f" ({notes})" if notes else ""))
            if e.border is not None and "padding" in notes:
                lines.append(f"  {'':<{width}}  border {e.border:.1e} against interior "
                             f"{e.interior:.1e}")
        if self.accumulates is not None:
            lines.append("  parameter gradients accumulate (+=): " + (
                "yes" if self.accumulates else
                f"NO, overwritten by backward: {', '.join(self.overwritten)} (use +=)"))
        return "\n".join(lines)


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


def _overwritten_gradients(module, x, dout, frozen, rng) -> list[str]:
    """Names of the parameters whose backward replaced ``.grad`` instead of adding into it.

    Runs forward and backward twice, the second time with every ``.grad`` pre-filled with
    random values G: then ``.grad − G`` must equal the first run's gradient.
    """
    params = [(name, p) for name, p in module.named_parameters() if p.requires_grad]
    first = {name: p.grad.copy() for name, p in params}
    prefilled = {name: rng.standard_normal(p.grad.shape) for name, p in params}
    for name, p in params:
        p.grad[...] = prefilled[name]
    frozen.reset()
    module.forward(x)
    module.backward(dout)
    overwritten = []
    for name, p in params:
        added = p.grad - prefilled[name]
        tolerance = 1e-9 * (1.0 + np.abs(first[name]).max(initial=0.0) +
                            np.abs(prefilled[name]).max(initial=0.0))
        if not np.allclose(added, first[name], rtol=0, atol=tolerance):
            overwritten.append(name)
    return overwritten


def check_module(module, x, dout=None, h: float = 1e-5, seed: int = 0,
                 max_entries: int | None = None) -> GradCheckReport:
    """Check ``module.backward`` against central differences, in float64.

    The module is copied and converted to float64 (the original is untouched); its mode
    (train/eval) is kept. Dropout masks are the same in every forward pass. ``dout`` (the
    upstream gradient) defaults to a random normal array. ``max_entries`` checks a random
    sample of that many entries per array instead of all, for large modules. A second
    forward/backward with the parameter gradients pre-filled checks that they accumulate.

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
        dout = rng.standard_normal(out.shape)
    dout = np.asarray(dout, dtype=np.float64)
    dx = module.backward(dout)
    analytic = {name: p.grad.copy() for name, p in module.named_parameters() if p.requires_grad}

    def loss_at(_):
        frozen.reset()
        with no_grad():
            return np.sum(module.forward(x) * dout)

    report = GradCheckReport()
    report.entries["input"] = _compare(dx, loss_at, x, h, max_entries, rng)
    for name, param in module.named_parameters():
        if param.requires_grad:
            report.entries[name] = _compare(analytic[name], loss_at, param.data, h,
                                            max_entries, rng)
    if analytic:
        report.overwritten = _overwritten_gradients(module, x, dout, frozen, rng)
        report.accumulates = not report.overwritten
    return report


def check_loss(loss_fn, logits, target, h: float = 1e-5, max_entries: int | None = None,
               seed: int = 0) -> GradCheckReport:
    """Check a loss's ``backward()`` (dL/dlogits) against central differences, in float64."""
    loss_fn = copy.deepcopy(loss_fn)
    logits = np.array(logits, dtype=np.float64)
    loss_fn(logits, target)
    analytic = loss_fn.backward()
    report = GradCheckReport()
    report.entries["input"] = _compare(analytic, lambda z: loss_fn(z, target), logits, h,
                                       max_entries, np.random.default_rng(seed))
    return report
