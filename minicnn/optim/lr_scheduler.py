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

__all__ = ["CosineAnnealingLR", "LRScheduler", "MultiStepLR", "StepLR"]


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
                if key != "optimizer"}

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
        if len(state_dict["base_lrs"]) != len(self.optimizer.param_groups):
            raise ValueError(f"{where}: expected base_lrs for {len(self.optimizer.param_groups)} "
                             f"parameter group(s), got {len(state_dict['base_lrs'])}")
        self.__dict__.update(copy.deepcopy(dict(state_dict)))
        for group, lr in zip(self.optimizer.param_groups, self._last_lr, strict=True):
            group["lr"] = lr

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
