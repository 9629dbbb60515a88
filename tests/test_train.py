"""The training loop: fit, evaluate, predict, History, and the errors that stop a bad run.

These use a small multilayer perceptron on synthetic, linearly separable data, so they run in
well under a second and depend on nothing but the dense layers, the loss and SGD.
"""

import math

import numpy as np
import pytest

import minicnn
from minicnn import nn, optim
from minicnn.train import History, evaluate, fit, predict

pytestmark = pytest.mark.usefixtures("each_engine")


def blobs(n=256, seed=0):
    """Three Gaussian clusters in 2-D, one per class: easy to separate."""
    rng = np.random.default_rng(seed)
    centres = np.array([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
    y = rng.integers(0, 3, n)
    x = (centres[y] + rng.standard_normal((n, 2))).astype(np.float32)
    return x, y


def batches(x, y, size=32):
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(x), size)]


def mlp(p_drop=0.0):
    minicnn.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(p_drop), nn.Linear(16, 3))


def test_fit_learns_separable_data_and_records_history():
    x, y = blobs()
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = optim.StepLR(opt, step_size=2, gamma=0.5)
    history = fit(model, nn.CrossEntropyLoss(), opt, batches(x, y), epochs=4,
                  val_loader=batches(*blobs(seed=1)), scheduler=sched, verbose=False)
    assert len(history) == 4 and history.epoch == [1, 2, 3, 4]
    assert history.lr == [0.1, 0.1, 0.05, 0.05]
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.val_acc[-1] > 0.95
    assert all(s > 0 for s in history.seconds)
    assert model.training


def test_fit_without_validation_records_nan():
    x, y = blobs(64)
    model = mlp()
    history = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
                  batches(x, y), epochs=1, verbose=False)
    with pytest.raises(ValueError, match=r"^evaluate: expected a loss that reduces"):
        evaluate(model, batches(x, y), nn.MSELoss(reduction="none"))
    assert math.isnan(history.val_loss[0]) and math.isnan(history.val_acc[0])


def test_fit_verbose_prints_one_line_per_epoch(capsys):
    x, y = blobs(64)
    model = mlp()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), batches(x, y),
        epochs=2, verbose=True)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 2
    assert "train loss" in lines[0] and "img/s" in lines[0] and lines[1].startswith("epoch   2/2")


def test_fit_quiet_prints_nothing(capsys):
    x, y = blobs(64)
    model = mlp()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), batches(x, y),
        epochs=1, verbose=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_a_diverging_run_stops_with_the_epoch_and_batch():
    x, y = blobs(128)
    x[40] = np.nan  # the second batch of 32 holds a NaN
    model = mlp()
    with pytest.raises(FloatingPointError, match="epoch 1, batch 2"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
            batches(x, y), epochs=1, verbose=False)
    with pytest.raises(ValueError, match=r"^evaluate: expected a loss that reduces"):
        evaluate(model, batches(x, y), nn.MSELoss(reduction="none"))


def test_weights_diverging_in_the_epochs_last_step_are_named_by_fit():
    """The last optimizer step of an epoch can make the weights NaN; training sees no batch
    after it, so the validation pass is where it shows: a FloatingPointError naming the epoch,
    not the loss's complaint about its input."""
    x, y = blobs(64)
    model = mlp()

    class PoisonLastStep(optim.SGD):
        steps = 0

        def step(self):
            super().step()
            self.steps += 1
            if self.steps == 2:  # the second and last batch of 32
                next(iter(model.parameters())).data[...] = np.nan

    with pytest.raises(FloatingPointError,
                       match=r"^fit: evaluate: the model's output is NaN/inf on batch 1 after "
                             r"epoch 1's training; try a lower learning rate \(now 0.1\)"):
        fit(model, nn.CrossEntropyLoss(), PoisonLastStep(model.parameters(), lr=0.1),
            batches(x, y), epochs=1, val_loader=batches(x, y), verbose=False)
    with pytest.raises(FloatingPointError, match=r"^evaluate: the model's output is NaN/inf on "
                                                 r"batch 1$"):
        evaluate(model, batches(x, y))  # without a loss too: an accuracy of NaNs means nothing


def test_fit_rejects_bad_epoch_counts_and_empty_loaders():
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="expected epochs >= 1, got 0"):
        fit(model, nn.CrossEntropyLoss(), opt, [], epochs=0)
    with pytest.raises(ValueError, match="yielded no batches"):
        fit(model, nn.CrossEntropyLoss(), opt, [], epochs=1, verbose=False)


def test_evaluate_uses_eval_mode_and_restores_the_mode():
    x, y = blobs(200)
    model = mlp(p_drop=0.5)
    first = evaluate(model, batches(x, y), nn.CrossEntropyLoss())
    second = evaluate(model, batches(x, y), nn.CrossEntropyLoss())
    assert first == second  # dropout is off in eval mode, so the result is deterministic
    assert model.training
    model.eval()
    evaluate(model, batches(x, y))
    assert not model.training
    assert math.isnan(evaluate(model, batches(x, y)).loss)


def test_evaluate_matches_a_direct_computation():
    x, y = blobs(100)
    model = mlp().eval()
    result = evaluate(model, batches(x, y, 7), nn.CrossEntropyLoss())
    logits = model(x)
    assert result.accuracy == pytest.approx(np.mean(logits.argmax(1) == y))
    assert result.loss == pytest.approx(nn.CrossEntropyLoss()(logits, y), rel=1e-5)


def test_predict_is_batch_size_independent_and_keeps_no_cache():
    x, _ = blobs(50)
    model = mlp(p_drop=0.5)
    a = predict(model, x, batch_size=7)
    b = predict(model, x, batch_size=50)
    np.testing.assert_allclose(a, b, rtol=1e-6)
    assert a.shape == (50, 3) and a.dtype == np.float32
    with pytest.raises(RuntimeError, match="needs a forward"):
        model.backward(np.ones((50, 3), dtype=np.float32))


def test_history_json_round_trip(tmp_path):
    history = History(epoch=[1], train_loss=[0.5], train_acc=[0.9], val_loss=[float("nan")],
                      val_acc=[float("nan")], lr=[0.1], seconds=[1.5])
    path = tmp_path / "history.json"
    history.save_json(path)
    loaded = History.load_json(path)
    assert loaded.train_loss == [0.5] and math.isnan(loaded.val_loss[0])
    assert [p.name for p in tmp_path.iterdir()] == ["history.json"]


# -- accuracy for every kind of output (issue 16) --------------------------------------------
def binary_blobs(n=128, seed=1):
    """Two separable clusters, labels 0/1 as floats (N,)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = (np.where(y[:, None] == 1, 2.5, -2.5) + rng.standard_normal((n, 2))).astype(np.float32)
    return x, y.astype(np.float32)


@pytest.mark.parametrize("target_shape", ["(N,)", "(N, 1)"])
def test_single_logit_binary_classifier_reports_its_true_accuracy(target_shape):
    """Issue 16: a one-logit classifier trained through fit reported accuracy 0.000 while its
    true accuracy was 0.97. The reported accuracy must equal (logit > 0) == y computed by hand
    from the model's predictions."""
    x, y = binary_blobs()
    if target_shape == "(N, 1)":
        y = y[:, None]
    minicnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    opt = optim.SGD(model.parameters(), lr=0.1)
    history = fit(model, nn.BCEWithLogitsLoss(), opt, batches(x, y), epochs=3,
                  val_loader=batches(x, y), verbose=False)
    by_hand = np.mean((predict(model, x)[:, 0] > 0) == (y.reshape(-1) == 1))
    assert by_hand > 0.9
    assert history.val_acc[-1] == pytest.approx(by_hand, abs=1e-12)
    assert evaluate(model, batches(x, y)).accuracy == pytest.approx(by_hand, abs=1e-12)
    assert history.train_acc[-1] > 0.9


def test_bce_on_probabilities_thresholds_at_one_half():
    """BCELoss takes probabilities: the predicted class is p > 0.5."""
    x, y = binary_blobs(64)
    model = nn.Sequential(nn.Linear(2, 1), nn.Sigmoid())
    probs = predict(model, x)[:, 0]
    result = evaluate(model, batches(x, y), nn.BCELoss())
    assert result.accuracy == pytest.approx(np.mean((probs > 0.5) == (y == 1)), abs=1e-12)


def test_per_pixel_accuracy_skips_ignore_index():
    """(N, C, H, W) scores against (N, H, W) labels: the fraction of pixels whose argmax is the
    label, over the pixels whose label is not the loss's ignore_index."""
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((3, 4, 5, 6))
    labels = rng.integers(0, 4, (3, 5, 6))
    labels[0, :2] = 255
    identity = nn.Sequential()
    loss_fn = nn.CrossEntropyLoss(ignore_index=255)
    kept = labels != 255
    by_hand = np.count_nonzero((scores.argmax(1) == labels) & kept) / np.count_nonzero(kept)
    result = evaluate(identity, [(scores[:2], labels[:2]), (scores[2:], labels[2:])], loss_fn)
    assert result.accuracy == pytest.approx(by_hand, abs=1e-12)


def test_class_probability_targets_compare_argmaxes():
    rng = np.random.default_rng(1)
    scores, probabilities = rng.standard_normal((20, 3)), rng.dirichlet(np.ones(3), 20)
    result = evaluate(nn.Sequential(), [(scores, probabilities)], nn.CrossEntropyLoss())
    assert result.accuracy == pytest.approx(
        np.mean(scores.argmax(1) == probabilities.argmax(1)), abs=1e-12)


@pytest.mark.parametrize("make_loss", [nn.MSELoss, nn.L1Loss, nn.HuberLoss, nn.SmoothL1Loss])
def test_regression_has_no_accuracy_and_fit_says_so_once(make_loss):
    """Float targets with a regression loss: accuracy NaN, one warning per fit (not per epoch),
    and the epoch line prints 'acc n/a'."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 2)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0]], np.float32) > 0).astype(np.float32)  # 0/1, still regression
    minicnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 1))
    opt = optim.SGD(model.parameters(), lr=0.05)
    with pytest.warns(UserWarning, match=r"^fit: accuracy has no meaning") as caught:
        history = fit(model, make_loss(), opt, batches(x, y), epochs=3,
                      val_loader=batches(x, y), verbose=False)
    assert len([w for w in caught if "accuracy has no meaning" in str(w.message)]) == 1
    assert all(math.isnan(a) for a in history.train_acc + history.val_acc)
    assert all(math.isfinite(loss) for loss in history.train_loss)
    from minicnn.train import _epoch_line
    assert "acc n/a" in _epoch_line(history, 3, 64)


def test_binary_hinge_accuracy_is_the_sign_of_the_score():
    rng = np.random.default_rng(3)
    scores, labels = rng.standard_normal(30), rng.choice([-1.0, 1.0], 30)
    result = evaluate(nn.Sequential(), [(scores, labels)], nn.HingeLoss())
    assert result.accuracy == pytest.approx(np.mean(np.sign(scores) == labels), abs=1e-12)


def test_unclassifiable_shapes_without_a_loss_give_nan():
    """Without a loss, shapes decide: (N, 3) outputs against (N, 3) float targets could be
    regression or soft labels, so there is no accuracy."""
    rng = np.random.default_rng(4)
    result = evaluate(nn.Sequential(), [(rng.standard_normal((5, 3)), rng.random((5, 3)))])
    assert math.isnan(result.accuracy)


def test_fit_refuses_a_loss_that_does_not_reduce():
    x, y = blobs(32)
    model = mlp()
    with pytest.raises(ValueError, match=r"^fit: expected a loss that reduces to one number "
                                         r"\(reduction 'mean' or 'sum'\), got "
                                         r"CrossEntropyLoss\(reduction='none'\)"):
        fit(model, nn.CrossEntropyLoss(reduction="none"), optim.SGD(model.parameters(), lr=0.1),
            batches(x, y), epochs=1, verbose=False)
    with pytest.raises(ValueError, match=r"^evaluate: expected a loss that reduces"):
        evaluate(model, batches(x, y), nn.MSELoss(reduction="none"))
