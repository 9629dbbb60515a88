"""``ReduceLROnPlateau``: cut the lr when a monitored metric stops improving."""

import math
from numbers import Real

from .lr_scheduler import LRScheduler, _check_int
from .optimizer import Optimizer, check_hyperparameter

__all__ = ["ReduceLROnPlateau"]


class ReduceLROnPlateau(LRScheduler):
    """Multiply every group's lr by ``factor`` once the metric has not improved for more than
    ``patience`` epochs, exactly as PyTorch; ``step(metric)`` once an epoch, e.g. with the
    validation loss::

        sched = optim.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=2)
        for epoch in range(epochs):
            train_one_epoch(...)
            sched.step(evaluate(model, val_loader, loss_fn).loss)

    (``minicnn.fit`` does this itself: it passes the validation loss, or the training loss when
    there is no ``val_loader``.)

    "Improved" (mode="min"; "max" mirrors it), against the best value so far:
    ``threshold_mode="rel"``: metric < best·(1 − threshold);  ``"abs"``: metric < best − threshold.
    After each reduction ``cooldown`` epochs pass in which bad epochs are not counted. A group's
    lr never goes below its ``min_lr`` (a number, or a list with one per group), and a change
    smaller than ``eps`` is not made.

    Not a closed form: the lr depends on the metrics seen, so ``step()`` needs one.
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr=0.0, eps: float = 1e-8):
        where = "ReduceLROnPlateau"
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{where}: expected an optimizer, got {type(optimizer).__name__}")
        self.factor = check_hyperparameter(where, "factor", factor, 0.0, 1.0)
        groups = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != groups:
                raise ValueError(f"{where}: expected min_lr as a number or a list of {groups}, "
                                 f"got {len(min_lr)} values")
            self.default_min_lr = None
            self.min_lrs = [check_hyperparameter(where, "min_lr", m, 0.0) for m in min_lr]
        else:
            self.default_min_lr = check_hyperparameter(where, "min_lr", min_lr, 0.0)
            self.min_lrs = [self.default_min_lr] * groups
        self.patience = _check_int(where, "patience", patience, 0)
        self.cooldown = _check_int(where, "cooldown", cooldown, 0)
        self.eps = check_hyperparameter(where, "eps", eps, 0.0)
        if mode not in ("min", "max"):
            raise ValueError(f"{where}: expected mode 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{where}: expected threshold_mode 'rel' or 'abs', got "
                             f"{threshold_mode!r}")
        self.mode, self.threshold_mode = mode, threshold_mode
        self.threshold = check_hyperparameter(where, "threshold", threshold, 0.0)
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.optimizer = optimizer
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]
        self.best, self.cooldown_counter, self.num_bad_epochs = self.mode_worse, 0, 0

    def is_better(self, metric: float, best: float) -> bool:
        if self.mode == "min":
            return metric < (best * (1 - self.threshold) if self.threshold_mode == "rel"
                             else best - self.threshold)
        return metric > (best * (1 + self.threshold) if self.threshold_mode == "rel"
                         else best + self.threshold)

    def step(self, metrics) -> None:
        """Record one epoch's metric; reduce the lr if it has stalled for too long."""
        if isinstance(metrics, bool) or not isinstance(metrics, Real):
            try:
                metrics = float(metrics)  # a 0-d array, say
            except (TypeError, ValueError):
                raise TypeError(f"ReduceLROnPlateau.step: expected the metric as a number, "
                                f"got {metrics!r}") from None
        current = float(metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:  # bad epochs right after a reduction do not count
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs, strict=True):
                old_lr = float(group["lr"])
                new_lr = max(old_lr * self.factor, min_lr)
                if old_lr - new_lr > self.eps:
                    group["lr"] = new_lr
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_lr(self) -> list[float]:
        return self.get_last_lr()

    def extra_repr(self) -> str:
        return (f"mode={self.mode!r}, factor={self.factor}, patience={self.patience}, "
                f"best={self.best}")
