"""The training loop: ``fit``, ``evaluate`` and ``predict``.

One optimisation step is the five lines every course shows::

    logits = model(x)                       # forward, layers keep their caches
    loss = loss_fn(logits, y)               # a Python float
    optimizer.zero_grad()
    model.backward(loss_fn.backward())      # dL/dlogits flows back; layers add into p.grad
    optimizer.step()

``fit`` runs that over a loader for some epochs, with a progress bar, validation after each
epoch, a learning-rate schedule, optional checkpoints, and a ``History`` of what happened. It
calls ``model.backward_params`` instead of ``model.backward``: the same parameter gradients,
without the gradient for the input images that nothing uses (LeNet-5's step: 7-10% faster).

Models with several outputs (GoogLeNet in training mode) return a tuple whose first item is the
main output; ``loss_fn`` then takes the tuple (``nn.MultiOutputLoss``) and its backward gives
the tuple of gradients the model's backward takes. Accuracy and ``predict`` use the main
output (docs/architectures.md, "Models with several outputs").
"""

import html
import json
import math
import signal
import threading
import time
import warnings
from collections import namedtuple
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np

from ._atomic import atomic_write
from ._grad_mode import no_grad
from .nn import loss as losses
from .nn.multi_output import MultiOutputLoss
from .optim.plateau import ReduceLROnPlateau

__all__ = ["EpochResult", "EvalResult", "History", "evaluate", "fit", "predict", "train_one_epoch"]

EvalResult = namedtuple("EvalResult", ["loss", "accuracy"])
EpochResult = namedtuple("EpochResult", ["loss", "accuracy", "seconds", "images"])


@dataclass
class History:
    """Per-epoch records of a ``fit`` run; each attribute is a list with one entry per epoch.

    ``val_loss``/``val_acc`` hold NaN when there was no validation loader; accuracies are
    fractions in [0, 1]; ``seconds`` is the wall time of the training part of each epoch.
    ``grad_norm`` (with ``fit(..., record_gradient_flow=True)``, else empty): for each trainable
    parameter, by its state-dict name, the mean over the epoch's batches of the L2 norm of its
    gradient, one entry per epoch: the gradient flow (``viz.plot_gradient_flow``).

    Per batch, one entry per optimizer step: ``batch_loss``, ``batch_acc`` (the batch's own
    accuracy, NaN where it has no meaning) and ``batch_epoch``, the epoch (counted from 1, as
    ``epoch``) each belongs to; ``viz.plot_history`` draws these when there are few epochs.
    In a notebook the History shows as a table of its epochs (``_repr_html_``).
    """

    epoch: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    grad_norm: dict = field(default_factory=dict)
    batch_epoch: list = field(default_factory=list)
    batch_loss: list = field(default_factory=list)
    batch_acc: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.epoch)

    def __getitem__(self, key: str) -> list:
        return getattr(self, key)

    def to_dict(self) -> dict:
        return asdict(self)

    def save_json(self, path) -> None:
        """Write the history as JSON, atomically (a temporary file, then a rename)."""
        with atomic_write(path, "w", encoding="utf-8") as f:
            f.write(json.dumps(self.to_dict(), indent=2, allow_nan=True))

    @classmethod
    def load_json(cls, path) -> "History":
        """Read a History written by ``save_json`` (one saved before the per-batch series
        existed loads with those empty)."""
        with open(path, encoding="utf-8") as f:
            return cls(**json.load(f))

    def _repr_html_(self) -> str:
        """A table with one row per epoch; validation columns only when there were any."""
        columns = [("epoch", "epoch", "{}"), ("train_loss", "train loss", "{:.4f}"),
                   ("train_acc", "train acc", "{:.2%}"), ("val_loss", "val loss", "{:.4f}"),
                   ("val_acc", "val acc", "{:.2%}"), ("lr", "lr", "{:.3g}"),
                   ("seconds", "seconds", "{:.1f}")]
        columns = [column for column in columns
                   if not all(_is_nan(v) for v in self[column[0]]) or not self[column[0]]]
        head = "".join(f"<th>{html.escape(title)}</th>" for _, title, _ in columns)
        rows = "".join(
            "<tr>" + "".join(f"<td>{_html_number(self[key][i], fmt)}</td>"
                             for key, _, fmt in columns) + "</tr>"
            for i in range(len(self)))
        caption = (f"History: {len(self)} epoch{'s' if len(self) != 1 else ''}, "
                   f"{len(self.batch_loss)} batches")
        return (f"<table><caption>{caption}</caption><thead><tr>{head}</tr></thead>"
                f"<tbody>{rows}</tbody></table>")


def _is_nan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _html_number(value, fmt: str) -> str:
    return "n/a" if _is_nan(value) else html.escape(fmt.format(value))


# -- accuracy -------------------------------------------------------------------------------------
_REGRESSION_LOSSES = (losses.MSELoss, losses.L1Loss, losses.HuberLoss, losses.SmoothL1Loss)
NO_ACCURACY = ("accuracy has no meaning for these outputs and targets (regression, or shapes "
               "that are not one of: (N, C) scores with integer labels (N,); one logit per "
               "sample (N,) or (N, 1) with 0/1 targets; (N, C, H, W) scores with labels "
               "(N, H, W)); it is reported as NaN")


def _correct(outputs: np.ndarray, y, loss_fn=None) -> "tuple[int, int] | None":
    """(correct predictions, predictions counted) for one batch, or None where accuracy has
    no meaning. The predicted class, by the outputs' and targets' shapes:

    * scores (N, C) or (N, C, d1, ...) and integer labels (N,) or (N, d1, ...): the argmax over
      C, per sample or per pixel (pixel accuracy); labels equal to the loss's ``ignore_index``
      (−100 without a loss) or outside [0, C) are not counted;
    * scores (N, C) and class probabilities (N, C) (``CrossEntropyLoss`` only): argmax against
      the target's argmax;
    * one output per sample (N,) or (N, 1), or K independent ones (N, K) under a BCE loss,
      against 0/1 targets of that shape (or (N,) for (N, 1)): output > 0 for logits, > 0.5
      for ``BCELoss``'s probabilities; against ±1 targets under the binary ``HingeLoss``, the
      sign of the score;
    * anything else, and every regression loss (MSE, L1, Huber, smooth L1): None.
    """
    if isinstance(loss_fn, _REGRESSION_LOSSES):
        return None
    y = np.asarray(y)
    if not (np.issubdtype(y.dtype, np.number) or y.dtype == np.bool_) or outputs.ndim == 0:
        return None
    per_item_shape = outputs.shape[:1] + outputs.shape[2:]
    integer_labels = np.issubdtype(y.dtype, np.integer) and not isinstance(
        loss_fn, (losses.BCEWithLogitsLoss, losses.BCELoss))
    if outputs.ndim >= 2 and outputs.shape[1] > 1 and integer_labels and y.shape == per_item_shape:
        ignore_index = getattr(loss_fn, "ignore_index", -100)
        counted = (y != ignore_index) & (y >= 0) & (y < outputs.shape[1])
        hits = (outputs.argmax(axis=1) == y) & counted
        return int(np.count_nonzero(hits)), int(np.count_nonzero(counted))
    if isinstance(loss_fn, losses.CrossEntropyLoss) and outputs.ndim == 2 \
            and y.shape == outputs.shape:
        return int(np.count_nonzero(outputs.argmax(axis=1) == y.argmax(axis=1))), len(y)
    return _binary_correct(outputs, y, loss_fn)


def _binary_correct(outputs: np.ndarray, y: np.ndarray, loss_fn):
    """Yes/no outputs against 0/1 (or ±1 for the binary hinge loss) targets; see ``_correct``."""
    if outputs.ndim == 2 and outputs.shape[1] == 1 and y.shape == outputs.shape[:1]:
        y = y[:, None]
    one_per_sample = outputs.ndim == 1 or (outputs.ndim == 2 and outputs.shape[1] == 1)
    bce = isinstance(loss_fn, (losses.BCEWithLogitsLoss, losses.BCELoss))
    if y.shape != outputs.shape or not (one_per_sample or bce):
        return None
    if isinstance(loss_fn, losses.HingeLoss) and not loss_fn.multiclass:
        if not np.all((y == 1) | (y == -1)):
            return None
        hits = np.where(outputs > 0, 1, -1) == y
    else:
        if not np.all((y == 0) | (y == 1)):
            return None
        threshold = 0.5 if isinstance(loss_fn, losses.BCELoss) else 0.0
        hits = (outputs > threshold) == (y == 1)
    return int(np.count_nonzero(hits)), hits.size


class _AccuracyCounter:
    """Adds up ``_correct`` over batches; the accuracy is NaN once any batch had no meaning."""

    def __init__(self):
        self.correct, self.counted, self.meaningful = 0, 0, True

    def add(self, outputs, y, loss_fn) -> float:
        """Count one batch; returns that batch's own accuracy (NaN where it has no meaning)."""
        result = _correct(outputs, y, loss_fn)
        if result is None:
            self.meaningful = False
            return float("nan")
        self.correct += result[0]
        self.counted += result[1]
        return result[0] / result[1] if result[1] else float("nan")

    @property
    def accuracy(self) -> float:
        if not self.meaningful or self.counted == 0:
            return float("nan")
        return self.correct / self.counted


def main_output(outputs):
    """The main output of a model: the output itself, or the first item of a tuple of them."""
    return outputs[0] if isinstance(outputs, (tuple, list)) else outputs


def _all_finite(outputs) -> bool:
    items = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    return all(item is None or np.isfinite(item).all() for item in items)


def _accuracy_loss(loss_fn):
    """The loss that decides how accuracy reads the main output (a MultiOutputLoss's own)."""
    return loss_fn.loss if isinstance(loss_fn, MultiOutputLoss) else loss_fn


def _current_lr(optimizer) -> float:
    groups = getattr(optimizer, "param_groups", None)
    return float(groups[0]["lr"]) if groups else float("nan")


def _progress(iterable, total, desc, enabled):
    if not enabled:
        return iterable
    from ._progress import progress_bar  # a tqdm bar, or one text line in a notebook

    return progress_bar(iterable, total, desc)


class GradientNorms:
    """Adds up, batch by batch, the L2 norm of each trainable parameter's gradient."""

    def __init__(self, model):
        self.parameters = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        self.reset()

    def reset(self) -> None:
        self.sums, self.batches = dict.fromkeys((name for name, _ in self.parameters), 0.0), 0

    def add(self) -> None:
        """Called after the backward pass, before the optimiser's step."""
        for name, param in self.parameters:
            self.sums[name] += float(np.linalg.norm(param.grad))
        self.batches += 1

    def means(self) -> dict:
        return {name: total / max(self.batches, 1) for name, total in self.sums.items()}


def train_one_epoch(model, loss_fn, optimizer, loader, epoch: int = 0, verbose: bool = True,
                    desc: str = "train", gradient_norms: GradientNorms | None = None,
                    on_batch=None) -> EpochResult:
    """One pass over ``loader``; returns (mean loss, accuracy, seconds, images seen).

    ``gradient_norms``: a ``GradientNorms`` that records each batch's gradient norms.
    ``on_batch(batch, loss, accuracy)``: called after each optimizer step, with the batch's
    number (from 1), its loss and its accuracy (NaN where accuracy has no meaning).

    Raises ``FloatingPointError`` naming the epoch (counted from 1) and the batch when the
    logits or the loss stop being finite (the usual sign of a learning rate that is too high).
    """
    model.train()
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch)
    total_loss, seen, accuracy = 0.0, 0, _AccuracyCounter()
    start = time.perf_counter()
    bar = _progress(loader, _safe_len(loader), desc, verbose)
    try:
        for batch, (x, y) in enumerate(bar, start=1):
            logits = model(x)  # or a tuple of outputs, the main one first
            if not _all_finite(logits):
                raise FloatingPointError(
                    f"fit: the model's output became NaN/inf at epoch {epoch + 1}, batch "
                    f"{batch}; try a lower learning rate (now {_current_lr(optimizer):g})")
            loss = loss_fn(logits, y)
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"fit: the loss became {loss} at epoch {epoch + 1}, batch {batch}; "
                    f"try a lower learning rate (now {_current_lr(optimizer):g})")
            optimizer.zero_grad()
            model.backward_params(loss_fn.backward())  # backward() without dL/dx of the images
            if gradient_norms is not None:
                gradient_norms.add()
            with _steps_finish_before_interrupt():  # the step and its records, whole or not at all
                optimizer.step()
                n = len(x)
                seen += n
                total_loss += loss * n
                batch_accuracy = accuracy.add(main_output(logits), y, _accuracy_loss(loss_fn))
                if on_batch is not None:
                    on_batch(batch, loss, batch_accuracy)
            if verbose and (batch % 10 == 0 or batch == getattr(bar, "total", None)):
                elapsed = time.perf_counter() - start
                bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=_percent(accuracy.accuracy),
                                img_s=f"{seen / elapsed:,.0f}", refresh=False)
    finally:
        if verbose:
            bar.close()
    total_loss, seen = _sum_over_ranks(model, total_loss, seen, accuracy)
    if seen == 0:
        raise ValueError("fit: the training loader yielded no batches")
    return EpochResult(total_loss / seen, accuracy.accuracy, time.perf_counter() - start, seen)


def _sum_over_ranks(model, total_loss: float, seen: int, accuracy: _AccuracyCounter):
    """For a ``distributed.DistributedDataParallel`` model, the loss sum, sample count and
    accuracy counts summed over all ranks (``accuracy`` in place): the metrics of all ranks'
    samples. Returns ``(total_loss, seen)``, unchanged for any other model."""
    sum_over_ranks = getattr(model, "sum_over_ranks", None)
    if sum_over_ranks is None:
        return total_loss, seen
    total_loss, seen, correct, counted, meaningless = sum_over_ranks(
        [total_loss, seen, accuracy.correct, accuracy.counted, not accuracy.meaningful])
    accuracy.correct, accuracy.counted = int(correct), int(counted)
    accuracy.meaningful = not meaningless
    return float(total_loss), int(seen)


def _percent(fraction: float) -> str:
    return "n/a" if math.isnan(fraction) else f"{fraction:.2%}"


def _safe_len(loader):
    try:
        return len(loader)
    except TypeError:
        return None


def _check_reduces(where: str, loss_fn) -> None:
    if getattr(loss_fn, "reduction", "mean") == "none":
        raise ValueError(f"{where}: expected a loss that reduces to one number (reduction "
                         f"'mean' or 'sum'), got {loss_fn!r}")


def fit(model, loss_fn, optimizer, train_loader, epochs: int, val_loader=None, scheduler=None,
        verbose: bool = True, initial_epoch: int = 0, checkpoint_path=None,
        history: History | None = None, record_gradient_flow: bool = False,
        callbacks=None) -> History:
    """Train ``model`` for ``epochs`` epochs; returns the ``History``.

    Each epoch: the model in train mode, one pass over ``train_loader`` (a progress bar with
    running loss, accuracy and images/s unless ``verbose=False``), then ``evaluate`` on
    ``val_loader`` if given, then ``scheduler.step()`` if given (a ``ReduceLROnPlateau`` gets
    the validation loss, or the training loss without ``val_loader``). With ``checkpoint_path`` a
    checkpoint (model, optimizer, scheduler, loader position, RNG state, epoch) is written after
    every epoch; to resume, ``epoch = minicnn.load_checkpoint(...)["epoch"]`` and call ``fit``
    again with ``initial_epoch=epoch``, which runs epochs ``initial_epoch .. epochs-1``.
    ``record_gradient_flow=True`` fills ``history.grad_norm`` (see ``History``).

    ``callbacks``: objects with ``on_train_begin``/``on_epoch_end``/``on_train_end`` hooks
    (``minicnn.callbacks``: ``EarlyStopping``, ``ModelCheckpoint``); ``on_epoch_end`` returning
    True or raising ``callbacks.StopTraining`` ends the run after that epoch.

    Ctrl-C (KeyboardInterrupt; a notebook's "interrupt the kernel") ends the run cleanly: ``fit``
    prints one line saying so and returns the History, whose per-epoch lists hold the finished
    epochs and whose per-batch lists also hold the finished batches of the interrupted one.
    The model keeps the weights of its last finished optimizer step (an interrupt that arrives
    during a step takes effect once the step is done), unless a callback such as
    ``EarlyStopping(restore_best_weights=True)`` loads others in ``on_train_end``.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"fit: expected epochs >= 1, got {epochs!r}")
    if not 0 <= initial_epoch <= epochs:
        raise ValueError(f"fit: expected 0 <= initial_epoch <= epochs ({epochs}), "
                         f"got {initial_epoch}")
    _check_reduces("fit", loss_fn)
    main = getattr(model, "is_main", True)  # a distributed model prints and writes on rank 0
    verbose = verbose and main
    callbacks = _checked_callbacks(callbacks)
    history = history if history is not None else History()
    gradient_norms = GradientNorms(model) if record_gradient_flow else None
    last_step = {"epoch": None, "batch": 0}  # where the last finished optimizer step was

    def record_batch(epoch_number, batch, loss, accuracy):
        history.batch_epoch.append(epoch_number)
        history.batch_loss.append(loss)
        history.batch_acc.append(accuracy)
        last_step.update(epoch=epoch_number, batch=batch)

    for callback in callbacks:
        _hook(callback, "on_train_begin")(model, history)
    epoch = initial_epoch
    try:
        warned = False
        for epoch in range(initial_epoch, epochs):
            warned = _run_epoch(model, loss_fn, optimizer, train_loader, epoch, epochs, val_loader,
                                scheduler, verbose, history, gradient_norms, record_batch, warned)
            if checkpoint_path is not None and main:
                from .io import save_checkpoint

                save_checkpoint(checkpoint_path, model, optimizer, epoch=epoch + 1,
                                scheduler=scheduler, loader=train_loader)
            if _stop_requested(callbacks, epoch, history, model, verbose):
                break
    except KeyboardInterrupt:
        print(_interrupted_line(history, epoch, last_step))
    # not after other errors: a restore there would hide what the model was when it failed
    for callback in callbacks:
        _hook(callback, "on_train_end")(model, history)
    return history


def _run_epoch(model, loss_fn, optimizer, train_loader, epoch, epochs, val_loader, scheduler,
               verbose, history, gradient_norms, record_batch, warned) -> bool:
    """One epoch of ``fit``: train, validate, step the schedule, append to ``history``.
    Returns whether the no-accuracy warning has been given (once per fit, not per epoch)."""
    lr = _current_lr(optimizer)
    result = train_one_epoch(model, loss_fn, optimizer, train_loader, epoch, verbose,
                             desc=f"Epoch {epoch + 1}/{epochs}", gradient_norms=gradient_norms,
                             on_batch=lambda *args: record_batch(epoch + 1, *args))
    if gradient_norms is not None:
        for name, norm in gradient_norms.means().items():
            history.grad_norm.setdefault(name, []).append(norm)
        gradient_norms.reset()
    try:
        val = evaluate(model, val_loader, loss_fn) if val_loader is not None else \
            EvalResult(float("nan"), float("nan"))
    except FloatingPointError as error:  # the epoch's last steps diverged: say it as fit does
        raise FloatingPointError(
            f"fit: {error} after epoch {epoch + 1}'s training; try a lower learning rate "
            f"(now {_current_lr(optimizer):g})") from error
    model.train()
    if math.isnan(result.accuracy) and not warned:
        warnings.warn(f"fit: {NO_ACCURACY} (train_acc and val_acc)", stacklevel=3)
        warned = True
    if isinstance(scheduler, ReduceLROnPlateau):  # it needs the metric it watches
        scheduler.step(val.loss if val_loader is not None else result.loss)
    elif scheduler is not None:
        scheduler.step()
    for key, value in zip(("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr",
                           "seconds"), (epoch + 1, result.loss, result.accuracy, val.loss,
                                        val.accuracy, lr, result.seconds), strict=True):
        history[key].append(value)
    if verbose:
        print(_epoch_line(history, epochs, result.images))
    return warned


# -- callbacks and Ctrl-C -------------------------------------------------------------------------
_HOOKS = ("on_train_begin", "on_epoch_end", "on_train_end")


def _checked_callbacks(callbacks) -> list:
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"fit: expected callbacks as a list, got {type(callbacks).__name__}")
    for callback in callbacks:
        if not any(callable(getattr(callback, hook, None)) for hook in _HOOKS):
            raise TypeError(f"fit: expected each callback to have one of the methods "
                            f"{', '.join(_HOOKS)}; {type(callback).__name__} has none")
    return list(callbacks)


def _hook(callback, name):
    return getattr(callback, name, None) or (lambda *args: None)


def _stop_requested(callbacks, epoch, history, model, verbose) -> bool:
    """Run each callback's epoch-end hook; True when one of them asks to stop."""
    from .callbacks import StopTraining

    reasons = []
    for callback in callbacks:  # every callback sees the epoch, even after one asked to stop
        try:
            if _hook(callback, "on_epoch_end")(epoch, history, model) is True:
                reasons.append(f"{type(callback).__name__} asked to stop")
        except StopTraining as stop:
            reasons.append(str(stop) or f"{type(callback).__name__} asked to stop")
    if reasons and verbose:
        print(f"fit: stopped after epoch {epoch + 1}: " + "; ".join(reasons))
    return bool(reasons)


def _interrupted_line(history, epoch, last_step) -> str:
    done = len(history)
    where = "no optimizer step had finished" if last_step["epoch"] is None else \
        f"epoch {last_step['epoch']}, batch {last_step['batch']}"
    return (f"fit: interrupted (KeyboardInterrupt) in epoch {epoch + 1}; the History holds "
            f"{done} finished epoch{'s' if done != 1 else ''}; the model keeps the weights of "
            f"its last finished optimizer step ({where})")


@contextmanager
def _steps_finish_before_interrupt():
    """Hold Ctrl-C back while the block runs, so that no optimizer step is left half done.

    Only in the main thread and where Ctrl-C raises KeyboardInterrupt (Python's default handler,
    which IPython kernels install while a cell runs); anywhere else, nothing changes.
    """
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    received = []
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if received:
        raise KeyboardInterrupt


def _epoch_line(history: History, epochs: int, images: int) -> str:
    i = -1
    line = (f"epoch {history.epoch[i]:>3}/{epochs}  train loss {history.train_loss[i]:.4f} "
            f"acc {_percent(history.train_acc[i])}")
    if not math.isnan(history.val_loss[i]):
        line += f"  val loss {history.val_loss[i]:.4f} acc {_percent(history.val_acc[i])}"
    seconds = history.seconds[i]
    return line + f"  lr {history.lr[i]:.3g}  {seconds:.1f} s ({images / seconds:,.0f} img/s)"


def evaluate(model, loader, loss_fn=None) -> EvalResult:
    """Mean loss (NaN without ``loss_fn``) and accuracy of ``model`` over ``loader``.

    Accuracy as ``_correct`` defines it, from the outputs' and targets' shapes and the loss:
    argmax for class scores (per pixel for (N, C, H, W), skipping ``ignore_index``), output > 0
    for one logit per sample against 0/1 targets; NaN where it has no meaning (regression).
    Runs in eval mode (dropout off, BatchNorm on running statistics) under ``no_grad`` and puts
    the model back in the mode it was in. Raises ``FloatingPointError`` naming the batch when
    the model's output is not finite.
    """
    _check_reduces("evaluate", loss_fn)
    was_training = model.training
    model.eval()
    total_loss, seen, accuracy = 0.0, 0, _AccuracyCounter()
    try:
        with no_grad():
            for batch, (x, y) in enumerate(loader, start=1):
                logits = model(x)
                if not _all_finite(logits):  # neither a loss nor an accuracy would mean anything
                    raise FloatingPointError(
                        f"evaluate: the model's output is NaN/inf on batch {batch}")
                if loss_fn is not None:
                    total_loss += loss_fn(logits, y) * len(x)
                accuracy.add(main_output(logits), y, _accuracy_loss(loss_fn))
                seen += len(x)
    finally:
        model.train(was_training)
    total_loss, seen = _sum_over_ranks(model, total_loss, seen, accuracy)
    if seen == 0:
        raise ValueError("evaluate: the loader yielded no batches")
    loss = total_loss / seen if loss_fn is not None else float("nan")
    return EvalResult(loss, accuracy.accuracy)


def predict(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The model's outputs (logits) for every row of ``x``, computed in eval mode in batches
    (the main output of a model that returns several).

    ``predict(model, x).argmax(axis=1)`` gives the predicted classes.
    """
    if batch_size < 1:
        raise ValueError(f"predict: expected batch_size >= 1, got {batch_size}")
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            outputs = [main_output(model(x[i:i + batch_size]))
                       for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    if not outputs:
        raise ValueError("predict: expected at least one input, got an empty array")
    return np.concatenate(outputs)
