"""Callbacks for ``fit(..., callbacks=[...])``: early stopping and keeping the best weights.

A callback is any object with some of these methods (``Callback`` has them all, doing nothing):

* ``on_train_begin(model, history)``: before the first epoch;
* ``on_epoch_end(epoch, history, model)``: after each epoch, once its results are in
  ``history`` (``epoch`` counts from 0, as ``fit``'s ``initial_epoch`` does, so
  ``history.epoch[-1] == epoch + 1``). Returning True, or raising ``StopTraining``, ends the
  run after this epoch;
* ``on_train_end(model, history)``: once at the end, also when training stopped early or was
  interrupted (Ctrl-C), but not when an error ends it; ``EarlyStopping`` restores the best
  weights here.

The names (``monitor``, ``patience``, ``min_delta``, ``mode``, ``restore_best_weights``,
``save_best_only``) and defaults are Keras's. ``monitor`` names a per-epoch series of
``History``: "val_loss", "val_acc", "train_loss", "train_acc" (Keras's "loss", "accuracy",
"val_accuracy" mean the same).
"""

import math

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "StopTraining"]

_ALIASES = {"loss": "train_loss", "acc": "train_acc", "accuracy": "train_acc",
            "val_accuracy": "val_acc"}
_MONITORED = ("val_loss", "val_acc", "train_loss", "train_acc")


class StopTraining(Exception):  # a signal, as StopIteration is, not an error
    """Raised by a callback's ``on_epoch_end`` to end ``fit`` after this epoch; its message
    says why and ``fit`` prints it."""


class Callback:
    """The hooks ``fit`` calls; subclass and override the ones you need."""

    def on_train_begin(self, model, history) -> None:
        pass

    def on_epoch_end(self, epoch: int, history, model) -> "bool | None":
        return None

    def on_train_end(self, model, history) -> None:
        pass


class _Monitor:
    """The best value so far of one History series, and whether a new value improves on it."""

    def __init__(self, owner: str, monitor: str, mode: str, min_delta: float):
        key = _ALIASES.get(monitor, monitor)
        if key not in _MONITORED:
            raise ValueError(f"{owner}: expected monitor to be one of {list(_MONITORED)}, "
                             f"got {monitor!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{owner}: expected mode 'auto', 'min' or 'max', got {mode!r}")
        if not (isinstance(min_delta, (int, float)) and min_delta >= 0):
            raise ValueError(f"{owner}: expected min_delta >= 0, got {min_delta!r}")
        self.owner, self.monitor, self.key = owner, monitor, key
        self.maximize = mode == "max" or (mode == "auto" and key.endswith("_acc"))
        self.min_delta = float(min_delta)
        self.best, self.best_epoch = (-math.inf if self.maximize else math.inf), None

    def value(self, history) -> float:
        value = float(history[self.key][-1])
        if math.isnan(value):
            hint = " (fit was given no val_loader)" if self.key.startswith("val_") else ""
            raise ValueError(f"{self.owner}: the monitored '{self.monitor}' is NaN at epoch "
                             f"{history.epoch[-1]}{hint}")
        return value

    def improves(self, value: float) -> bool:
        """Better than the best by more than ``min_delta`` (Keras's rule)."""
        if self.maximize:
            return value - self.min_delta > self.best
        return value + self.min_delta < self.best

    def record(self, value: float, epoch_number: int) -> None:
        self.best, self.best_epoch = value, epoch_number


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs in a row (``patience=0``: at the first epoch without improvement), as Keras does.

    ``restore_best_weights=True``: keep a copy of the model's state dict at the best epoch and
    load it back when training ends (stopped, finished or interrupted), as CS231n's ``Solver``
    swaps in its best validation parameters; otherwise (Keras's default) the model keeps the
    weights of its last epoch. ``mode``: "min", "max", or "auto" (max for accuracies).
    After the run, ``best``, ``best_epoch`` (counted from 1, as ``History.epoch``) and
    ``stopped_epoch`` (0 if it never stopped the run) say what happened.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", restore_best_weights: bool = False):
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: expected patience >= 0, got {patience!r}")
        self._monitor = _Monitor("EarlyStopping", monitor, mode, min_delta)
        self.monitor, self.min_delta, self.patience = monitor, float(min_delta), patience
        self.verbose, self.mode, self.restore_best_weights = verbose, mode, restore_best_weights
        self.on_train_begin(None, None)

    def on_train_begin(self, model, history) -> None:
        self._monitor.best = -math.inf if self._monitor.maximize else math.inf
        self._monitor.best_epoch = None
        self.wait, self.stopped_epoch, self.best_weights = 0, 0, None

    @property
    def best(self) -> float:
        return self._monitor.best

    @property
    def best_epoch(self) -> "int | None":
        return self._monitor.best_epoch

    def on_epoch_end(self, epoch: int, history, model) -> None:
        value = self._monitor.value(history)
        if self._monitor.improves(value):
            self._monitor.record(value, history.epoch[-1])
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = model.state_dict()  # copies
            return
        self.wait += 1
        if self.wait >= self.patience:  # Keras: stop after `patience` epochs without one
            self.stopped_epoch = history.epoch[-1]
            then = " (restored at the end)" if self.restore_best_weights else ""
            raise StopTraining(
                f"EarlyStopping: {self.monitor} has not improved by more than {self.min_delta:g}"
                f" for {self.wait} epoch{'s' if self.wait != 1 else ''}; best {self.best:.4g} "
                f"at epoch {self.best_epoch}{then}")

    def on_train_end(self, model, history) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            model.load_state_dict(self.best_weights)
            if self.verbose:
                print(f"EarlyStopping: restored the weights of epoch {self.best_epoch} "
                      f"({self.monitor} {self.best:.4g})")


class ModelCheckpoint(Callback):
    """Save the model's state dict (``minicnn.save``) after each epoch, or with
    ``save_best_only=True`` only when ``monitor`` improved.

    ``filepath`` may hold ``{epoch}`` (counted from 1) and the History's series names, e.g.
    ``"lenet-{epoch:02d}-{val_loss:.3f}.npz"``. ``best``/``best_epoch`` and ``last_saved``
    (the path written last) say what was kept.
    """

    def __init__(self, filepath, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, mode: str = "auto"):
        self._monitor = _Monitor("ModelCheckpoint", monitor, mode, 0.0)
        self.filepath, self.monitor, self.verbose = str(filepath), monitor, verbose
        self.save_best_only, self.mode, self.last_saved = save_best_only, mode, None

    @property
    def best(self) -> float:
        return self._monitor.best

    @property
    def best_epoch(self) -> "int | None":
        return self._monitor.best_epoch

    def on_epoch_end(self, epoch: int, history, model) -> None:
        from .io import save

        if self.save_best_only:
            value = self._monitor.value(history)
            if not self._monitor.improves(value):
                return
            self._monitor.record(value, history.epoch[-1])
        fields = {key: history[key][-1] for key in _MONITORED}
        path = self.filepath.format(epoch=history.epoch[-1], **fields)
        self.last_saved = save(model, path, metadata={"epoch": history.epoch[-1]})
        if self.verbose:
            print(f"ModelCheckpoint: saved epoch {history.epoch[-1]} to {self.last_saved}")
