"""Training that behaves well in a notebook: Ctrl-C, per-batch records, callbacks, HTML tables.

Checked: ``fit`` stopped by KeyboardInterrupt (raised by the loader, or a real SIGINT arriving
during an optimizer step) returns the History of the finished epochs, prints one line saying
so, and leaves the model with exactly the weights of its last finished step (compared with a
run that takes just those steps); ``History`` keeps loss and accuracy per batch, consistent with
the per-epoch means, through its JSON methods; ``viz.plot_history`` draws one epoch as a curve;
``EarlyStopping`` and ``ModelCheckpoint`` against the epochs they should pick, and the errors
for bad arguments (each names the callback or ``fit``, what was expected and what came);
``_repr_html_`` of ``History`` and of ``summary``, parsed back into table rows.

The training loop's bookkeeping does not depend on the engine, so these run under the default
engine only, on the small multilayer perceptron and blobs of tests/test_train.py.
"""

import json
import math
import os
import signal
from html.parser import HTMLParser

import numpy as np
import pytest

import minicnn
from minicnn import callbacks, nn, optim, viz
from minicnn.train import History, fit
from tests.test_train import batches, blobs, mlp

N_BATCHES = 4  # blobs(128) in batches of 32


def data(seed=0):
    return batches(*blobs(128, seed=seed), size=32)


def sgd(model):
    return optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


class InterruptingLoader:
    """The batches of ``data()``; raises KeyboardInterrupt at batch ``at_batch`` (from 1) of
    epoch ``at_epoch`` (from 1), as Ctrl-C would while the loader works."""

    def __init__(self, at_epoch, at_batch):
        self.batches, self.at_epoch, self.at_batch, self.epoch = data(), at_epoch, at_batch, 0

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        self.epoch += 1
        for i, batch in enumerate(self.batches, start=1):
            if (self.epoch, i) == (self.at_epoch, self.at_batch):
                raise KeyboardInterrupt
            yield batch


def weights_after_steps(n_steps):
    """A fresh model after exactly ``n_steps`` SGD steps over data() (epoch after epoch)."""
    model = mlp()
    opt, loss_fn, done = sgd(model), nn.CrossEntropyLoss(), 0
    while done < n_steps:
        for x, y in data()[:n_steps - done]:
            loss_fn(model(x), y)
            opt.zero_grad()
            model.backward_params(loss_fn.backward())
            opt.step()
            done += 1
    return model.state_dict()


def assert_same_weights(state, expected):
    assert state.keys() == expected.keys()
    for key in state:
        np.testing.assert_array_equal(state[key], expected[key], err_msg=key)


# -- Ctrl-C ---------------------------------------------------------------------------------------
def test_interrupt_in_the_third_batch_of_epoch_two_returns_the_finished_epoch(capsys):
    model = mlp()
    history = fit(model, nn.CrossEntropyLoss(), sgd(model), InterruptingLoader(2, 3), epochs=5,
                  val_loader=data(seed=1), verbose=False)
    assert len(history) == 1 and history.epoch == [1]
    assert len(history.val_loss) == len(history.lr) == len(history.seconds) == 1
    assert history.batch_epoch == [1] * N_BATCHES + [2, 2]  # epoch 2's two finished batches
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert lines[0] == ("fit: interrupted (KeyboardInterrupt) in epoch 2; the History holds 1 "
                        "finished epoch; the model keeps the weights of its last finished "
                        "optimizer step (epoch 2, batch 2)")
    assert_same_weights(model.state_dict(), weights_after_steps(N_BATCHES + 2))
    assert model.training


def test_interrupt_before_any_step_says_so(capsys):
    model = mlp()
    before = model.state_dict()
    history = fit(model, nn.CrossEntropyLoss(), sgd(model), InterruptingLoader(1, 1), epochs=2,
                  verbose=True)
    assert len(history) == 0 and history.batch_loss == []
    out = capsys.readouterr().out
    assert "in epoch 1; the History holds 0 finished epochs" in out
    assert "(no optimizer step had finished)" in out
    assert_same_weights(model.state_dict(), before)


class SignallingSGD(optim.SGD):
    """Sends the process SIGINT (what Ctrl-C and a notebook's interrupt do) halfway through its
    ``signal_at``-th step: between updating the first parameter and the rest."""

    def __init__(self, params, signal_at, **kwargs):
        super().__init__(params, **kwargs)
        self.signal_at, self.steps = signal_at, 0

    def step(self):
        self.steps += 1
        if self.steps == self.signal_at:
            os.kill(os.getpid(), signal.SIGINT)
        super().step()


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name == "nt", reason="POSIX signals")
def test_a_sigint_during_an_optimizer_step_lets_the_step_finish(capsys):
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT does not raise KeyboardInterrupt under this runner")
    model = mlp()
    opt = SignallingSGD(model.parameters(), signal_at=N_BATCHES + 3, lr=0.1, momentum=0.9)
    history = fit(model, nn.CrossEntropyLoss(), opt, data(), epochs=3, verbose=False)
    assert len(history) == 1 and len(history.batch_loss) == N_BATCHES + 3
    assert "(epoch 2, batch 3)" in capsys.readouterr().out
    assert_same_weights(model.state_dict(), weights_after_steps(N_BATCHES + 3))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


def test_interrupt_during_validation_keeps_the_trained_epoch_out_of_the_epoch_lists(capsys):
    class InterruptingValidation:
        def __iter__(self):
            raise KeyboardInterrupt
            yield

    model = mlp()
    history = fit(model, nn.CrossEntropyLoss(), sgd(model), data(), epochs=2,
                  val_loader=InterruptingValidation(), verbose=False)
    assert len(history) == 0 and len(history.batch_loss) == N_BATCHES
    assert "(epoch 1, batch 4)" in capsys.readouterr().out
    assert model.training  # evaluate put train mode back


# -- per-batch records ----------------------------------------------------------------------------
def test_history_records_each_batch_consistently_with_the_epoch_means(tmp_path):
    x, y = blobs(120)
    loader = batches(x, y, size=32)  # 32, 32, 32, 24: the means must weight by batch size
    model = mlp()
    history = fit(model, nn.CrossEntropyLoss(), sgd(model), loader, epochs=2, verbose=False)
    assert history.batch_epoch == [1, 1, 1, 1, 2, 2, 2, 2]
    sizes = np.array([32, 32, 32, 24] * 2)
    for epoch in (1, 2):
        where = np.array(history.batch_epoch) == epoch
        loss = np.average(np.array(history.batch_loss)[where], weights=sizes[where])
        acc = np.average(np.array(history.batch_acc)[where], weights=sizes[where])
        assert loss == pytest.approx(history.train_loss[epoch - 1], rel=1e-12)
        assert acc == pytest.approx(history.train_acc[epoch - 1], rel=1e-12)
    # the first batch's loss is that of the untrained model on it
    fresh = mlp()
    assert history.batch_loss[0] == pytest.approx(nn.CrossEntropyLoss()(fresh(x[:32]), y[:32]))

    history.save_json(tmp_path / "h.json")
    loaded = History.load_json(tmp_path / "h.json")
    assert loaded.batch_epoch == history.batch_epoch
    assert loaded.batch_loss == history.batch_loss and loaded.batch_acc == history.batch_acc


def test_a_history_saved_before_per_batch_records_still_loads(tmp_path):
    old = {"epoch": [1], "train_loss": [0.5], "train_acc": [0.8], "val_loss": [0.6],
           "val_acc": [0.7], "lr": [0.1], "seconds": [1.0], "grad_norm": {}}
    (tmp_path / "old.json").write_text(json.dumps(old))
    loaded = History.load_json(tmp_path / "old.json")
    assert loaded.train_loss == [0.5] and loaded.batch_loss == [] and loaded.batch_epoch == []


def test_batch_accuracy_is_nan_where_accuracy_has_no_meaning():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 2)).astype(np.float32)
    loader = batches(x, rng.standard_normal((64, 3)).astype(np.float32))
    model = mlp()
    with pytest.warns(UserWarning, match="accuracy has no meaning"):
        history = fit(model, nn.MSELoss(), sgd(model), loader, epochs=1, verbose=False)
    assert len(history.batch_acc) == 2 and all(math.isnan(a) for a in history.batch_acc)


def test_plot_history_draws_one_epoch_as_a_curve_per_batch():
    model = mlp()
    history = fit(model, nn.CrossEntropyLoss(), sgd(model), data(), epochs=1,
                  val_loader=data(seed=1), verbose=False)
    loss, accuracy, _ = viz.plot_history(history).axes
    train, validation = loss.lines
    np.testing.assert_array_equal(train.get_ydata(), history.batch_loss)
    np.testing.assert_allclose(train.get_xdata(), [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_array_equal(validation.get_xdata(), [1])
    np.testing.assert_array_equal(accuracy.lines[0].get_ydata(), history.batch_acc)
    assert "per batch" in train.get_label()


def test_plot_history_uses_the_epochs_once_there_are_enough():
    model = mlp()
    history = fit(model, nn.CrossEntropyLoss(), sgd(model), data(), epochs=3, verbose=False)
    loss = viz.plot_history(history).axes[0]
    np.testing.assert_array_equal(loss.lines[0].get_ydata(), history.train_loss)


# -- callbacks ------------------------------------------------------------------------------------
class WeightsRecorder(callbacks.Callback):
    """Keeps the model's state dict at the end of every epoch, by epoch number."""

    def __init__(self):
        self.states, self.calls = {}, []

    def on_train_begin(self, model, history):
        self.calls.append("begin")

    def on_epoch_end(self, epoch, history, model):
        self.calls.append(epoch)
        self.states[history.epoch[-1]] = model.state_dict()

    def on_train_end(self, model, history):
        self.calls.append("end")


def test_a_callback_sees_every_epoch_and_can_stop_the_run(capsys):
    class StopAtSecond:
        def on_epoch_end(self, epoch, history, model):
            return epoch == 1

    recorder, model = WeightsRecorder(), mlp()
    history = fit(model, nn.CrossEntropyLoss(), sgd(model), data(), epochs=5, verbose=True,
                  callbacks=[StopAtSecond(), recorder])
    assert len(history) == 2 and recorder.calls == ["begin", 0, 1, "end"]
    assert "fit: stopped after epoch 2: StopAtSecond asked to stop" in capsys.readouterr().out


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    # min_delta larger than any change: only the first epoch counts as an improvement
    stopper = callbacks.EarlyStopping(monitor="val_loss", patience=2, min_delta=1e9,
                                      restore_best_weights=True)
    recorder, model = WeightsRecorder(), mlp()
    history = fit(model, nn.CrossEntropyLoss(), sgd(model), data(), epochs=10,
                  val_loader=data(seed=1), verbose=False, callbacks=[recorder, stopper])
    assert len(history) == 3 and stopper.stopped_epoch == 3
    assert stopper.best_epoch == 1 and stopper.best == history.val_loss[0]
    assert_same_weights(model.state_dict(), recorder.states[1])


def test_early_stopping_follows_the_best_epoch_of_a_given_series():
    model = mlp()
    stopper = callbacks.EarlyStopping(monitor="val_accuracy", patience=2)  # Keras's name: max
    history = History()
    stopper.on_train_begin(model, history)
    for epoch, acc in enumerate([0.5, 0.7, 0.6, 0.7]):
        for key, value in (("epoch", epoch + 1), ("val_loss", 1.0), ("val_acc", acc)):
            history[key].append(value)
        if epoch < 3:
            stopper.on_epoch_end(epoch, history, model)
    # as in Keras: an equal value is no improvement, and `patience` such epochs stop the run
    with pytest.raises(callbacks.StopTraining, match=r"val_accuracy has not improved .* for 2 "
                                                     r"epochs; best 0.7 at epoch 2$"):
        stopper.on_epoch_end(3, history, model)
    assert stopper.stopped_epoch == 4
    assert not stopper.restore_best_weights  # Keras's default


def test_early_stopping_without_restore_keeps_the_last_weights():
    stopper = callbacks.EarlyStopping(monitor="train_loss", patience=0, min_delta=1e9)
    model = mlp()
    history = fit(model, nn.CrossEntropyLoss(), sgd(model), data(), epochs=5, verbose=False,
                  callbacks=[stopper])
    assert len(history) == 2
    assert_same_weights(model.state_dict(), weights_after_steps(2 * N_BATCHES))


def test_an_interrupted_run_still_restores_the_best_weights(capsys):
    stopper = callbacks.EarlyStopping(monitor="train_loss", patience=5, min_delta=1e9,
                                      restore_best_weights=True, verbose=1)
    model = mlp()
    fit(model, nn.CrossEntropyLoss(), sgd(model), InterruptingLoader(3, 2), epochs=5,
        verbose=False, callbacks=[stopper])
    assert_same_weights(model.state_dict(), weights_after_steps(N_BATCHES))
    out = capsys.readouterr().out
    assert "interrupted" in out and "EarlyStopping: restored the weights of epoch 1" in out


def test_model_checkpoint_keeps_the_best_epochs_on_disk(tmp_path):
    keeper = callbacks.ModelCheckpoint(tmp_path / "best-{epoch}.npz", monitor="train_loss",
                                       save_best_only=True)
    recorder, model = WeightsRecorder(), mlp()
    history = fit(model, nn.CrossEntropyLoss(), sgd(model), data(), epochs=3, verbose=False,
                  callbacks=[recorder, keeper])
    best = int(np.argmin(history.train_loss)) + 1
    assert keeper.best_epoch == best and keeper.last_saved == tmp_path / f"best-{best}.npz"
    assert_same_weights(minicnn.load(keeper.last_saved), recorder.states[best])
    improved = [e for e in (1, 2, 3) if history.train_loss[e - 1] == min(history.train_loss[:e])]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"best-{e}.npz" for e in improved)


def test_model_checkpoint_saves_every_epoch_by_default(tmp_path):
    keeper = callbacks.ModelCheckpoint(str(tmp_path / "e{epoch:02d}-{train_loss:.2f}.npz"))
    model = mlp()
    history = fit(model, nn.CrossEntropyLoss(), sgd(model), data(), epochs=2, verbose=False,
                  callbacks=[keeper])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"e{e:02d}-{loss:.2f}.npz" for e, loss in zip((1, 2), history.train_loss,
                                                                    strict=True)]


def test_bad_callbacks_and_arguments_raise_clear_errors():
    model = mlp()
    args = (model, nn.CrossEntropyLoss(), sgd(model), data())
    with pytest.raises(TypeError, match=r"^fit: expected callbacks as a list, got EarlyStopping"):
        fit(*args, epochs=1, verbose=False, callbacks=callbacks.EarlyStopping())
    with pytest.raises(TypeError, match=r"^fit: expected each callback to have one of the "
                                        r"methods on_train_begin.*; int has none"):
        fit(*args, epochs=1, verbose=False, callbacks=[3])
    with pytest.raises(ValueError, match=r"^EarlyStopping: expected monitor to be one of "
                                         r"\['val_loss'.*got 'val_f1'"):
        callbacks.EarlyStopping(monitor="val_f1")
    with pytest.raises(ValueError, match=r"^EarlyStopping: expected patience >= 0, got -1"):
        callbacks.EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match=r"^EarlyStopping: expected min_delta >= 0, got -0.1"):
        callbacks.EarlyStopping(min_delta=-0.1)
    with pytest.raises(ValueError, match=r"^ModelCheckpoint: expected mode 'auto', 'min' or "
                                         r"'max', got 'up'"):
        callbacks.ModelCheckpoint("x.npz", mode="up")
    with pytest.raises(ValueError, match=r"^EarlyStopping: the monitored 'val_loss' is NaN at "
                                         r"epoch 1 \(fit was given no val_loader\)"):
        fit(*args, epochs=2, verbose=False, callbacks=[callbacks.EarlyStopping()])


# -- HTML tables ----------------------------------------------------------------------------------
class TableRows(HTMLParser):
    """The text of each cell, row by row, of the tables in an HTML fragment."""

    def __init__(self, fragment):
        super().__init__()
        self.rows, self.tables, self._cell = [], 0, None
        self.feed(fragment)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables += 1
        elif tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.rows[-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def test_history_html_is_a_table_of_its_epochs():
    model = mlp()
    history = fit(model, nn.CrossEntropyLoss(), sgd(model), data(), epochs=3,
                  val_loader=data(seed=1), verbose=False)
    table = TableRows(history._repr_html_())
    assert table.tables == 1
    header, *rows = table.rows
    assert header == ["epoch", "train loss", "train acc", "val loss", "val acc", "lr", "seconds"]
    assert [row[0] for row in rows] == ["1", "2", "3"]
    assert [float(row[1]) for row in rows] == pytest.approx(history.train_loss, abs=5e-5)
    assert [float(row[4].rstrip("%")) / 100 for row in rows] == pytest.approx(history.val_acc,
                                                                              abs=5e-5)


def test_history_html_leaves_out_validation_without_a_val_loader():
    model = mlp()
    history = fit(model, nn.CrossEntropyLoss(), sgd(model), data(), epochs=1, verbose=False)
    header, row = TableRows(history._repr_html_()).rows
    assert header == ["epoch", "train loss", "train acc", "lr", "seconds"] and len(row) == 5
    assert TableRows(History()._repr_html_()).rows[0][0] == "epoch"  # empty: header only


def test_summary_html_has_one_row_per_layer_and_the_text_is_unchanged():
    model = minicnn.models.lenet5()
    result = minicnn.summary(model, (1, 28, 28))
    table = TableRows(result._repr_html_())
    header, *rows = table.rows
    assert table.tables == 1 and header == ["Layer (type)", "Output shape", "Param #"]
    assert rows == [[row.label(), row.shape_text(), row.params_text()] for row in result.rows]
    text_rows = [line for line in str(result).splitlines() if line.startswith(rows[0][0])]
    assert len(text_rows) == 1  # str() is still the text table, one line per layer
    assert repr(result) == str(result)
    assert f"Total params: {result.total_params:,}" in result._repr_html_()


def test_an_error_in_training_propagates_without_ending_the_callbacks():
    class BrokenLoader:
        def __iter__(self):
            raise OSError("disk gone")
            yield

    recorder, model = WeightsRecorder(), mlp()
    with pytest.raises(OSError, match="disk gone"):
        fit(model, nn.CrossEntropyLoss(), sgd(model), BrokenLoader(), epochs=2, verbose=False,
            callbacks=[recorder])
    assert recorder.calls == ["begin"]
