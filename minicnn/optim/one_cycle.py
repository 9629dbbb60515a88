"""``OneCycleLR``: Smith's 1cycle policy, stepped once per batch."""

import math
from numbers import Real

from .lr_scheduler import LRScheduler, _check_int
from .optimizer import Optimizer, check_hyperparameter

__all__ = ["OneCycleLR"]


def _anneal(strategy: str, start: float, end: float, pct: float) -> float:
    if strategy == "cos":  # from start (pct = 0) to end (pct = 1) along half a cosine
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin, 2018), exactly as PyTorch: the lr rises from
    max_lr/div_factor to ``max_lr`` over the first ``pct_start`` of the steps, then falls to
    max_lr/(div_factor·final_div_factor); momentum (or Adam's β₁) moves the other way, from
    ``max_momentum`` down to ``base_momentum`` and back.

    With T = ``total_steps`` (or ``epochs · steps_per_epoch``) and step t, the phases are::

        t in [0, pct_start·T − 1]:      lr: initial → max_lr,   momentum: max → base
        t in [.., T − 1]:               lr: max_lr → min_lr,    momentum: base → max

    each annealed with ``cos`` (f = end + (start − end)·(1 + cos(π·p))/2, p the fraction of the
    phase done) or ``linear``. ``three_phase=True``: up over pct_start·T, back down to the
    initial lr over the next pct_start·T, then to min_lr.

    Stepped per batch: call ``step()`` after every ``optimizer.step()``, T times in all; the
    T + 1-th call raises a ValueError (as PyTorch). ``minicnn.fit`` steps its scheduler once an
    epoch, so use OneCycleLR with your own loop::

        sched = optim.OneCycleLR(opt, max_lr=0.1, epochs=epochs, steps_per_epoch=len(loader))
        for epoch in range(epochs):
            for x, y in loader:
                opt.zero_grad(); model.backward(loss_fn.backward(loss_fn(model(x), y)))
                opt.step(); sched.step()

    Like PyTorch it writes ``initial_lr``, ``max_lr``, ``min_lr`` (and with cycle_momentum
    ``max_momentum``, ``base_momentum``) into each parameter group, and sets the group's
    ``momentum``, or ``betas[0]`` for an optimizer with betas (Adam, AdamW), at every step.
    """

    def __init__(self, optimizer: Optimizer, max_lr, total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum=0.85, max_momentum=0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False, last_epoch: int = -1):
        where = "OneCycleLR"
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{where}: expected an optimizer, got {type(optimizer).__name__}")
        if total_steps is not None:
            self.total_steps = _check_int(where, "total_steps", total_steps, 1)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = (_check_int(where, "epochs", epochs, 1) *
                                _check_int(where, "steps_per_epoch", steps_per_epoch, 1))
        else:
            raise ValueError(f"{where}: expected total_steps, or epochs and steps_per_epoch")
        pct_start = check_hyperparameter(where, "pct_start", pct_start, 0.0, 1.0,
                                         high_open=False)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{where}: expected anneal_strategy 'cos' or 'linear', got "
                             f"{anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        T = self.total_steps
        if three_phase:
            self._schedule_phases = [
                _phase(float(pct_start * T) - 1, "initial_lr", "max_lr", "max_momentum",
                       "base_momentum"),
                _phase(float(2 * pct_start * T) - 2, "max_lr", "initial_lr", "base_momentum",
                       "max_momentum"),
                _phase(T - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        else:
            self._schedule_phases = [
                _phase(float(pct_start * T) - 1, "initial_lr", "max_lr", "max_momentum",
                       "base_momentum"),
                _phase(T - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]

        groups = optimizer.param_groups
        max_lrs = _per_group(where, "max_lr", max_lr, len(groups))
        div_factor = check_hyperparameter(where, "div_factor", div_factor, 0.0, low_open=True)
        final_div_factor = check_hyperparameter(where, "final_div_factor", final_div_factor,
                                                0.0, low_open=True)
        self.cycle_momentum = bool(cycle_momentum)
        self.use_beta1 = "betas" in optimizer.defaults
        if self.cycle_momentum and not (self.use_beta1 or "momentum" in optimizer.defaults):
            raise ValueError(f"{where}: cycle_momentum=True needs an optimizer with momentum "
                             f"or betas, got {type(optimizer).__name__}; pass "
                             f"cycle_momentum=False")
        if last_epoch == -1:
            base_ms = _per_group(where, "base_momentum", base_momentum, len(groups))
            max_ms = _per_group(where, "max_momentum", max_momentum, len(groups))
            for group, top, base_m, max_m in zip(groups, max_lrs, base_ms, max_ms, strict=True):
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor
                if self.cycle_momentum:
                    group["max_momentum"], group["base_momentum"] = max_m, base_m
                    self._set_momentum(group, max_m)
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group: dict, momentum: float) -> None:
        if self.use_beta1:
            group["betas"] = (momentum, *group["betas"][1:])
        else:
            group["momentum"] = momentum

    def step(self) -> None:
        """Advance one batch; a ValueError past ``total_steps`` (nothing changes then)."""
        if self.last_epoch + 1 > self.total_steps:
            raise ValueError(f"OneCycleLR: tried to step {self.last_epoch + 2} times; "
                             f"total_steps is {self.total_steps}")
        super().step()

    def get_lr(self) -> list[float]:
        t = self.last_epoch
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end = phase["end_step"]
                if t <= end or i == len(self._schedule_phases) - 1:
                    pct = (t - start) / (end - start)
                    lrs.append(_anneal(self.anneal_strategy, group[phase["start_lr"]],
                                       group[phase["end_lr"]], pct))
                    if self.cycle_momentum:
                        self._set_momentum(group, _anneal(
                            self.anneal_strategy, group[phase["start_momentum"]],
                            group[phase["end_momentum"]], pct))
                    break
                start = end
        return lrs

    def extra_repr(self) -> str:
        return f"total_steps={self.total_steps}, anneal_strategy={self.anneal_strategy!r}"


def _phase(end_step, start_lr, end_lr, start_momentum, end_momentum) -> dict:
    """One phase, PyTorch's ``_schedule_phases`` entry: group keys to anneal between."""
    return dict(end_step=end_step, start_lr=start_lr, end_lr=end_lr,
                start_momentum=start_momentum, end_momentum=end_momentum)


def _per_group(where: str, name: str, value, groups: int) -> list[float]:
    """A number for every group, or a list with one per group."""
    values = list(value) if isinstance(value, (list, tuple)) else [value] * groups
    if len(values) != groups:
        raise ValueError(f"{where}: expected {name} as a number or a list of {groups}, got "
                         f"{len(values)} values")
    if not all(isinstance(v, Real) and not isinstance(v, bool) for v in values):
        raise TypeError(f"{where}: expected {name} as a number, got {value!r}")
    return [check_hyperparameter(where, name, v, 0.0) for v in values]
