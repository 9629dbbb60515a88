"""Learning-rate schedules: set each parameter group's ``lr`` as a function of the epoch.

Used as in PyTorch: build the schedule after the optimizer, call ``scheduler.step()`` once per
epoch, after that epoch's ``optimizer.step()`` calls::

    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = optim.StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(90):
        train_one_epoch(model, opt)       # lr 0.1 for epochs 0-29, 0.01 for 30-59, 0.001 after
        sched.step()

Each schedule here computes the learning rate of epoch t in closed form, lr_t = f(base_lr, t),
from the group's ``initial_lr`` (its lr when the first schedule was attached). ``last_epoch`` is
t, the epoch whose lr is now set; building the schedule sets epoch 0's lr (t = 0).
"""

import copy
import math
from bisect import bisect_right
from collections.abc import Mapping
from numbers import Integral

from .optimizer import Optimizer, check_hyperparameter

__all__ = [
    "CosineAnnealingLR", "ExponentialLR", "LRScheduler", "LambdaLR", "LinearLR", "MultiStepLR",
    "OneCycleLR", "ReduceLROnPlateau", "SequentialLR", "StepLR",
]


def _check_int(where: str, name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{where}: expected {name} as an int >= {minimum}, got {value!r}")
    return int(value)


class LRScheduler:
    """Base class: subclasses give the closed form ``lr_at(base_lr, epoch)``.

    Attributes:
        optimizer: the optimizer whose groups' ``lr`` is set.
        base_lrs: each group's starting lr (its ``'initial_lr'``).
        last_epoch: the epoch t whose lr is in the groups now (0 after construction).
    """

    _not_saved = ("optimizer",)  # attributes state_dict() leaves out

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: expected an optimizer, got {type(optimizer).__name__}")
        if last_epoch == -1:
            # setdefault: a second schedule on the same optimizer starts from the same base lr
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:  # resuming at a given epoch needs the base lrs a first schedule recorded
            _check_int(name, "last_epoch", last_epoch, -1)
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise ValueError(f"{name}: last_epoch={last_epoch} resumes a schedule, but "
                                     f"parameter group {i} has no 'initial_lr'")
        self.optimizer = optimizer
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """The learning rate of ``epoch`` for a group that started at ``base_lr``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement lr_at()")

    def get_lr(self) -> list[float]:
        """The learning rate of each group at epoch ``last_epoch``."""
        return [self.lr_at(base_lr, self.last_epoch) for base_lr in self.base_lrs]

    def get_last_lr(self) -> list[float]:
        """The learning rates the last ``step()`` set, one per parameter group."""
        return list(self._last_lr)

    def step(self) -> None:
        """Advance one epoch and set every group's lr for it."""
        self.last_epoch += 1
        self._last_lr = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, self._last_lr, strict=True):
            group["lr"] = lr

    def state_dict(self) -> dict:
        """Every attribute but the optimizer (saved separately), as PyTorch does."""
        return {key: copy.deepcopy(value) for key, value in self.__dict__.items()
                if key not in self._not_saved}

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Restore a state from ``state_dict()`` of the same kind of schedule.

        The groups' lr are set to the restored ``get_last_lr()``. PyTorch leaves them to
        ``optimizer.load_state_dict``, which gives the same values when the optimizer's state is
        loaded after the schedule is built; setting them here also covers the other order, where
        building the schedule would reset the lr to epoch 0's.
        """
        where = f"{type(self).__name__}.load_state_dict"
        expected = set(self.state_dict())
        if not isinstance(state_dict, Mapping) or set(state_dict) != expected:
            got = sorted(state_dict) if isinstance(state_dict, Mapping) else type(state_dict)
            raise ValueError(f"{where}: expected a state dict with keys {sorted(expected)}, "
                             f"got {got}")
        if len(state_dict["_last_lr"]) != len(self.optimizer.param_groups):
            raise ValueError(f"{where}: expected the lr of {len(self.optimizer.param_groups)} "
                             f"parameter group(s), got {len(state_dict['_last_lr'])}")
        self._load(copy.deepcopy(dict(state_dict)))
        for group, lr in zip(self.optimizer.param_groups, self._last_lr, strict=True):
            group["lr"] = lr

    def _load(self, state: dict) -> None:
        """Take a checked state dict's entries; LambdaLR keeps its functions."""
        self.__dict__.update(state)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        settings = ", ".join(s for s in (self.extra_repr(), f"last_epoch={self.last_epoch}") if s)
        return f"{type(self).__name__}({settings})"


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs:

        lr_t = base_lr · γ^⌊t / step_size⌋.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1):
        self.step_size = _check_int("StepLR", "step_size", step_size, 1)
        self.gamma = check_hyperparameter("StepLR", "gamma", gamma, 0.0, low_open=True)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)

    def extra_repr(self) -> str:
        return f"step_size={self.step_size}, gamma={self.gamma}"


class MultiStepLR(LRScheduler):
    """Multiply the lr by ``gamma`` at each milestone epoch:

        lr_t = base_lr · γ^(number of milestones ≤ t).

    ``MultiStepLR(opt, milestones=[30, 80])``: base_lr until epoch 29, base_lr·γ from 30,
    base_lr·γ² from 80. Milestones are sorted; one listed twice counts twice, as in PyTorch.
    """

    def __init__(self, optimizer: Optimizer, milestones, gamma: float = 0.1,
                 last_epoch: int = -1):
        self.milestones = sorted(_check_int("MultiStepLR", "each milestone", m, 1)
                                 for m in milestones)
        self.gamma = check_hyperparameter("MultiStepLR", "gamma", gamma, 0.0, low_open=True)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** bisect_right(self.milestones, epoch)

    def extra_repr(self) -> str:
        return f"milestones={self.milestones}, gamma={self.gamma}"


class CosineAnnealingLR(LRScheduler):
    """Anneal the lr from base_lr down to ``eta_min`` along half a cosine over ``T_max`` epochs:

        lr_t = η_min + (base_lr − η_min) · (1 + cos(π·t / T_max)) / 2,

    so lr_0 = base_lr, lr_{T_max/2} is halfway, lr_{T_max} = η_min. Past T_max the cosine
    climbs back up (the formula has period 2·T_max), so choose T_max = the number of epochs.

    PyTorch computes the same values with a recursion that updates the current lr,
    η_{t+1} = η_min + (η_t − η_min) · (1 + cos(π(t+1)/T_max)) / (1 + cos(π·t/T_max)) (with a
    special case where the denominator is 0), so that it composes with other changes to the lr.
    When this schedule alone sets the lr, the recursion telescopes to the closed form above;
    here the closed form is used, so each ``step()`` overwrites any lr set by hand.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1):
        self.T_max = _check_int("CosineAnnealingLR", "T_max", T_max, 1)
        self.eta_min = check_hyperparameter("CosineAnnealingLR", "eta_min", eta_min, 0.0)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch /
                                                                       self.T_max)) / 2

    def extra_repr(self) -> str:
        return f"T_max={self.T_max}, eta_min={self.eta_min}"


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every epoch:  lr_t = base_lr · γᵗ.

    PyTorch multiplies the current lr by γ at each step; the closed form used here gives the
    same values up to rounding (relative 1e-15 a step) and overwrites any lr set by hand.
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = check_hyperparameter("ExponentialLR", "gamma", gamma, 0.0, low_open=True)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma**epoch

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}"


class LambdaLR(LRScheduler):
    """lr_t = base_lr · λ(t), with λ = ``lr_lambda``, a function of the epoch t (or a list of
    functions, one per parameter group)::

        optim.LambdaLR(opt, lambda epoch: 0.95 ** epoch)

    State dict: PyTorch saves ``lr_lambdas`` only when they are callable objects (pickling
    their ``__dict__``) and None for plain functions; minicnn pickles nothing, so it saves
    ``'lr_lambdas': [None, ...]`` always and ``load_state_dict`` keeps this schedule's own
    functions: build the schedule with the same functions before loading.
    """

    def __init__(self, optimizer: Optimizer, lr_lambda, last_epoch: int = -1):
        groups = len(optimizer.param_groups) if isinstance(optimizer, Optimizer) else 0
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else \
            [lr_lambda] * groups
        if len(lambdas) != groups:
            raise ValueError(f"LambdaLR: expected {groups} lr_lambda(s), one per parameter "
                             f"group, got {len(lambdas)}")
        if not all(callable(f) for f in lambdas):
            raise TypeError(f"LambdaLR: expected lr_lambda as a function of the epoch (or a "
                            f"list of them), got {lr_lambda!r}")
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base_lr * f(self.last_epoch)
                for base_lr, f in zip(self.base_lrs, self.lr_lambdas, strict=True)]

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["lr_lambdas"] = [None] * len(self.lr_lambdas)
        return state

    def _load(self, state: dict) -> None:
        state.pop("lr_lambdas")
        self.__dict__.update(state)


class LinearLR(LRScheduler):
    """Linear warm-up: the lr factor goes from ``start_factor`` to ``end_factor`` over
    ``total_iters`` epochs, then stays::

        lr_t = base_lr · (s + (e − s) · min(t, total_iters) / total_iters).

    Defaults (PyTorch's): a third of the lr at epoch 0, the full lr from epoch 5. PyTorch steps
    a recursion whose closed form is this one (its ``_get_closed_form_lr``).
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1):
        self.start_factor = check_hyperparameter("LinearLR", "start_factor", start_factor, 0.0,
                                                 1.0, low_open=True, high_open=False)
        self.end_factor = check_hyperparameter("LinearLR", "end_factor", end_factor, 0.0, 1.0,
                                               high_open=False)
        self.total_iters = _check_int("LinearLR", "total_iters", total_iters, 1)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        progress = min(epoch, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)

    def extra_repr(self) -> str:
        return (f"start_factor={self.start_factor}, end_factor={self.end_factor}, "
                f"total_iters={self.total_iters}")


class SequentialLR(LRScheduler):
    """Run ``schedulers`` one after another, switching at the ``milestones`` epochs.

    Warm-up then cosine, the common use (5 warm-up epochs, then 95 of cosine)::

        warmup = optim.LinearLR(opt, start_factor=0.1, total_iters=5)
        cosine = optim.CosineAnnealingLR(opt, T_max=95)
        sched = optim.SequentialLR(opt, [warmup, cosine], milestones=[5])

    At epoch t, with m₀ = 0 < m₁ < ... the milestones and i the number of them ≤ t, the lr is
    scheduler i's at its own epoch t − mᵢ (each restarts from 0 at its milestone, as PyTorch's
    ``scheduler.step(0)``). The schedulers here are closed forms, so this is exact; it is not
    for ReduceLROnPlateau or OneCycleLR (refused, as in PyTorch for the first).
    """

    _not_saved = ("optimizer", "_schedulers")

    def __init__(self, optimizer: Optimizer, schedulers, milestones, last_epoch: int = -1):
        schedulers = list(schedulers)
        if not schedulers or not all(isinstance(s, LRScheduler) and
                                     not isinstance(s, (ReduceLROnPlateau, OneCycleLR))
                                     for s in schedulers):
            raise TypeError(f"SequentialLR: expected a list of epoch schedules (StepLR, "
                            f"LinearLR, ...), got {schedulers!r}")
        if any(s.optimizer is not optimizer for s in schedulers):
            raise ValueError("SequentialLR: every scheduler must drive the optimizer given to "
                             "SequentialLR")
        milestones = [_check_int("SequentialLR", "each milestone", m, 1) for m in milestones]
        if len(milestones) != len(schedulers) - 1 or milestones != sorted(set(milestones)):
            raise ValueError(f"SequentialLR: expected {len(schedulers) - 1} increasing "
                             f"milestone(s) for {len(schedulers)} schedulers, got {milestones}")
        self._schedulers = schedulers  # saved through their own state dicts
        self.milestones = milestones
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        i = bisect_right(self.milestones, self.last_epoch)
        start = self.milestones[i - 1] if i else 0
        scheduler = self._schedulers[i]
        scheduler.last_epoch = self.last_epoch - start
        scheduler._last_lr = scheduler.get_lr()
        return scheduler.get_last_lr()

    def state_dict(self) -> dict:
        """PyTorch's layout: the schedulers' own state dicts under ``'_schedulers'``."""
        state = super().state_dict()
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def _load(self, state: dict) -> None:
        saved = state.pop("_schedulers")
        if len(saved) != len(self._schedulers):
            raise ValueError(f"SequentialLR.load_state_dict: expected {len(self._schedulers)} "
                             f"schedulers, got {len(saved)}")
        self.__dict__.update(state)
        for scheduler, sub in zip(self._schedulers, saved, strict=True):
            scheduler.load_state_dict(sub)

    def extra_repr(self) -> str:
        names = ", ".join(type(s).__name__ for s in self._schedulers)
        return f"[{names}], milestones={self.milestones}"


# PyTorch's torch.optim.lr_scheduler holds these too; they have their own modules (at the end
# of this one, as they subclass LRScheduler).
from .one_cycle import OneCycleLR  # noqa: E402
from .plateau import ReduceLROnPlateau  # noqa: E402
