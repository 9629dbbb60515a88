"""The sanity checks of a first training run, before spending an hour on it (CS231n's advice).

    minicnn.sanity.check_initial_loss(model, x, y)       # ≈ ln C for a fresh classifier
    minicnn.sanity.overfit_small_batch(model, x[:20], y[:20])   # must reach 100% on 20 images

1. **The initial loss.** With small random weights the logits are near 0, the softmax near
   uniform, and the cross-entropy near −ln(1/C) = ln C (2.303 for 10 classes). Far above it:
   the initialisation is too large (or the labels are off); far below it: the task leaks.
2. **Overfit a tiny batch.** A network that can learn at all fits 20 images perfectly within
   a few hundred steps. If it cannot, the bug is in the model, the loss or the update, not in
   the amount of data or the learning-rate schedule.

Both work on a copy: the model passed in is not changed.
"""

import copy
import math
from typing import NamedTuple

import numpy as np

from . import nn, optim
from ._grad_mode import no_grad

__all__ = ["InitialLossCheck", "OverfitCheck", "check_initial_loss", "overfit_small_batch"]


class InitialLossCheck(NamedTuple):
    loss: float       # the cross-entropy of the untrained model on the batch
    expected: float   # ln C
    ok: bool          # within ``tolerance`` (relative) of ln C

    def __str__(self) -> str:
        verdict = "ok" if self.ok else "far from it: check the initialisation and the labels"
        return f"initial loss {self.loss:.3f}, expected ln C = {self.expected:.3f}: {verdict}"


class OverfitCheck(NamedTuple):
    losses: list      # the loss at every step
    accuracy: float   # on the batch, after the last step
    ok: bool          # every image right and the loss down to a tenth of where it started

    def __str__(self) -> str:
        verdict = "ok" if self.ok else "it cannot fit them: a bug in the model, loss or update"
        return (f"overfit {len(self.losses)} steps: loss {self.losses[0]:.3f} → "
                f"{self.losses[-1]:.4f}, accuracy {self.accuracy:.0%}: {verdict}")


def _classes(logits: np.ndarray, where: str) -> int:
    if logits.ndim != 2 or logits.shape[1] < 2:
        raise ValueError(f"{where}: expected class scores (N, C) with C >= 2 from the model, "
                         f"got shape {logits.shape}")
    return logits.shape[1]


def check_initial_loss(model, x, y, tolerance: float = 0.25) -> InitialLossCheck:
    """The untrained model's cross-entropy on (x, y) against ln C, in eval mode (no dropout).

    ``tolerance`` is relative: ok when |loss − ln C| ≤ tolerance · ln C.
    """
    model = copy.deepcopy(model)
    model.eval()
    with no_grad():
        logits = model(x)
    expected = math.log(_classes(logits, "check_initial_loss"))
    loss = nn.CrossEntropyLoss()(logits, y)
    return InitialLossCheck(loss, expected, abs(loss - expected) <= tolerance * expected)


def overfit_small_batch(model, x, y, steps: int = 200, lr: float = 1e-3,
                        loss_fn=None) -> OverfitCheck:
    """Train a copy of ``model`` on the one batch (x, y) with Adam(lr) for ``steps`` steps.

    ``loss_fn`` defaults to ``nn.CrossEntropyLoss()``. Returns the losses per step and the
    accuracy on the batch at the end; ok when it is 100% and the loss fell below a tenth.
    """
    if len(x) > 100:
        raise ValueError(f"overfit_small_batch: expected a small batch (at most 100 images, "
                         f"20 is typical), got {len(x)}")
    model = copy.deepcopy(model)
    model.train()
    loss_fn = nn.CrossEntropyLoss() if loss_fn is None else copy.deepcopy(loss_fn)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        model.backward(loss_fn.backward())
        optimizer.step()
        losses.append(loss)
    model.eval()
    with no_grad():
        logits = model(x)
    _classes(logits, "overfit_small_batch")
    accuracy = float(np.mean(logits.argmax(axis=1) == np.asarray(y)))
    return OverfitCheck(losses, accuracy, accuracy == 1.0 and losses[-1] < 0.1 * losses[0])
